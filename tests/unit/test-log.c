/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <string.h>

#include "test-log.h"

static GPtrArray *pm_test_warnings = NULL;

static GLogWriterOutput
pm_test_log_writer(GLogLevelFlags log_level,
		   const GLogField *fields,
		   gsize n_fields,
		   gpointer user_data)
{
	if (log_level & (G_LOG_LEVEL_WARNING | G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_ERROR)) {
		for (gsize i = 0; i < n_fields; i++) {
			if (g_strcmp0(fields[i].key, "MESSAGE") == 0)
				g_ptr_array_add(pm_test_warnings, g_strdup(fields[i].value));
		}
	}
	/* quiet unless --verbose; criticals always show */
	if (!g_test_verbose() && (log_level & (G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_ERROR)) == 0)
		return G_LOG_WRITER_HANDLED;
	return g_log_writer_standard_streams(log_level, fields, n_fields, user_data);
}

void
pm_test_log_init(void)
{
	/* warnings are checked by the tests; criticals stay fatal */
	g_log_set_always_fatal(G_LOG_FATAL_MASK | G_LOG_LEVEL_CRITICAL);
	g_log_set_writer_func(pm_test_log_writer, NULL, NULL);
	/* lives as long as the process: the writer may run until exit */
	pm_test_warnings = g_ptr_array_new_with_free_func(g_free);
}

void
pm_test_log_clear(void)
{
	g_ptr_array_set_size(pm_test_warnings, 0);
}

void
pm_test_assert_no_warnings(void)
{
	for (guint i = 0; i < pm_test_warnings->len; i++)
		g_printerr("unexpected warning: %s\n", (const char *)pm_test_warnings->pdata[i]);
	g_assert_cmpuint(pm_test_warnings->len, ==, 0);
}

void
pm_test_assert_warning(const char *substr)
{
	g_assert_cmpuint(pm_test_warnings->len, >=, 1);
	g_assert_nonnull(strstr(pm_test_warnings->pdata[0], substr));
	g_ptr_array_remove_index(pm_test_warnings, 0);
}
