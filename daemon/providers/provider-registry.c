/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "class-table.h"
#include "natpmp-http-provider.h"
#include "natpmp-provider.h"
#include "pia-provider.h"
#include "provider.h"

/* every provider class: a new one is its own file and one line here */
static const void *const pm_provider_classes[] = {
    &pm_natpmp_provider_class,
    &pm_natpmp_http_provider_class,
    &pm_pia_provider_class,
    NULL,
};

/* Type= values of the configuration language (design §6) with no class yet: refused as
 * not supported by this version, not as unknown */
static const char *const pm_provider_planned_types[] = {NULL};

/* classes that only tests define (tests/unit/fake-provider.c) */
static const void *pm_provider_test_classes[4];

static const PmClassTable pm_provider_table = {
    .classes = pm_provider_classes,
    .test_classes = pm_provider_test_classes,
    .n_test_classes = G_N_ELEMENTS(pm_provider_test_classes),
    .planned = pm_provider_planned_types,
};

G_STATIC_ASSERT(G_STRUCT_OFFSET(PmProviderClass, type) == 0);

const PmProviderClass *
pm_provider_class_lookup(const char *type)
{
	return pm_class_table_lookup(&pm_provider_table, type);
}

char *
pm_provider_class_list_types(const char *separator, gboolean planned)
{
	return pm_class_table_list_types(&pm_provider_table, separator, planned);
}

gboolean
pm_provider_type_is_planned(const char *type)
{
	return pm_class_table_is_planned(&pm_provider_table, type);
}

void
pm_provider_registry_add_for_tests(const PmProviderClass *klass)
{
	pm_class_table_add_for_tests(&pm_provider_table, klass);
}
