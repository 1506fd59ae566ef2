/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "class-table.h"

/* the first member of every class */
static const char *
pm_class_type(const void *klass)
{
	return *(const char *const *)klass;
}

/* the built-in classes, then those of the tests, each once; NULL past the last */
static const void *
pm_class_table_nth(const PmClassTable *table, guint i)
{
	for (guint j = 0; table->classes[j] != NULL; j++, i--) {
		if (i == 0)
			return table->classes[j];
	}
	for (guint j = 0; j < table->n_test_classes; j++) {
		if (table->test_classes[j] == NULL)
			continue;
		if (i-- == 0)
			return table->test_classes[j];
	}
	return NULL;
}

const void *
pm_class_table_lookup(const PmClassTable *table, const char *type)
{
	const void *klass;

	for (guint i = 0; (klass = pm_class_table_nth(table, i)) != NULL; i++) {
		if (g_strcmp0(pm_class_type(klass), type) == 0)
			return klass;
	}
	return NULL;
}

gboolean
pm_class_table_is_planned(const PmClassTable *table, const char *type)
{
	return type != NULL && g_strv_contains(table->planned, type);
}

char *
pm_class_table_list_types(const PmClassTable *table, const char *separator, gboolean planned)
{
	g_autoptr(GPtrArray) types = g_ptr_array_new();
	const void *klass;

	for (guint i = 0; (klass = pm_class_table_nth(table, i)) != NULL; i++)
		g_ptr_array_add(types, (gpointer)pm_class_type(klass));
	for (guint i = 0; planned && table->planned[i] != NULL; i++) {
		if (pm_class_table_lookup(table, table->planned[i]) == NULL)
			g_ptr_array_add(types, (gpointer)table->planned[i]);
	}
	g_ptr_array_add(types, NULL);
	return g_strjoinv(separator, (char **)types->pdata);
}

void
pm_class_table_add_for_tests(const PmClassTable *table, const void *klass)
{
	g_return_if_fail(pm_class_table_lookup(table, pm_class_type(klass)) == NULL);
	for (guint i = 0; i < table->n_test_classes; i++) {
		if (table->test_classes[i] == NULL) {
			table->test_classes[i] = klass;
			return;
		}
	}
	g_return_if_reached();
}
