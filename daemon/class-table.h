/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <glib.h>

/*
 * One table of classes, the shape that provider classes (provider-registry.c) and
 * consumer classes (consumers/consumer.c) share: the built-in classes, slots for the
 * classes that only tests define, and the Type= values of the configuration language
 * (design §6) that no class implements yet, refused as "not supported by this version"
 * rather than as unknown. A class is any struct whose first member is its
 * `const char *type`, its Type= value.
 */

typedef struct {
	const void *const *classes;  /* NULL-terminated */
	const void **test_classes;   /* n_test_classes slots, NULL when free */
	guint n_test_classes;
	const char *const *planned;  /* NULL-terminated */
} PmClassTable;

/* the class of Type=@type (built-in first, then the tests'), NULL if there is none */
const void *pm_class_table_lookup(const PmClassTable *table, const char *type);
/* a Type= of the configuration language that this version plans */
gboolean pm_class_table_is_planned(const PmClassTable *table, const char *type);
/* the Type= values of the classes joined by @separator ("" when there are none); with
 * @planned, then the planned ones that no class implements */
char *pm_class_table_list_types(const PmClassTable *table, const char *separator,
				gboolean planned);
/* tests: one more class, found by pm_class_table_lookup() as the built-in ones are */
void pm_class_table_add_for_tests(const PmClassTable *table, const void *klass);
