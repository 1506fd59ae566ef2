/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "natpmp-provider.h"
#include "provider.h"

/* every provider class: a new one is its own file and one line here */
static const PmProviderClass *const pm_provider_classes[] = {
    &pm_natpmp_provider_class,
};

/* Type= values of the configuration language (design §6) with no class yet: refused as
 * not supported by this version, not as unknown */
static const char *const pm_provider_planned_types[] = {"natpmp-http", "pia"};

/* classes that only tests define (tests/unit/fake-provider.c) */
static const PmProviderClass *pm_provider_test_classes[4];

const PmProviderClass *
pm_provider_class_lookup(const char *type)
{
	for (guint i = 0; i < G_N_ELEMENTS(pm_provider_classes); i++) {
		if (g_strcmp0(pm_provider_classes[i]->type, type) == 0)
			return pm_provider_classes[i];
	}
	for (guint i = 0; i < G_N_ELEMENTS(pm_provider_test_classes); i++) {
		if (pm_provider_test_classes[i] != NULL &&
		    g_strcmp0(pm_provider_test_classes[i]->type, type) == 0)
			return pm_provider_test_classes[i];
	}
	return NULL;
}

char *
pm_provider_class_list_types(const char *separator, gboolean planned)
{
	g_autoptr(GPtrArray) types = g_ptr_array_new();

	for (guint i = 0; i < G_N_ELEMENTS(pm_provider_classes); i++)
		g_ptr_array_add(types, (gpointer)pm_provider_classes[i]->type);
	for (guint i = 0; i < G_N_ELEMENTS(pm_provider_test_classes); i++) {
		if (pm_provider_test_classes[i] != NULL)
			g_ptr_array_add(types, (gpointer)pm_provider_test_classes[i]->type);
	}
	for (guint i = 0; planned && i < G_N_ELEMENTS(pm_provider_planned_types); i++) {
		if (pm_provider_class_lookup(pm_provider_planned_types[i]) == NULL)
			g_ptr_array_add(types, (gpointer)pm_provider_planned_types[i]);
	}
	g_ptr_array_add(types, NULL);
	return g_strjoinv(separator, (char **)types->pdata);
}

gboolean
pm_provider_type_is_planned(const char *type)
{
	for (guint i = 0; i < G_N_ELEMENTS(pm_provider_planned_types); i++) {
		if (g_strcmp0(pm_provider_planned_types[i], type) == 0)
			return TRUE;
	}
	return FALSE;
}

void
pm_provider_registry_add_for_tests(const PmProviderClass *klass)
{
	g_return_if_fail(pm_provider_class_lookup(klass->type) == NULL);
	for (guint i = 0; i < G_N_ELEMENTS(pm_provider_test_classes); i++) {
		if (pm_provider_test_classes[i] == NULL) {
			pm_provider_test_classes[i] = klass;
			return;
		}
	}
	g_return_if_reached();
}
