/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <string.h>

#include "errors.h"
#include "test-config-load.h"

PmConfig *
pm_test_config_load(const char *text, GError **error)
{
	return pm_config_load_from_data(text, strlen(text), "test.conf", error);
}

PmConfig *
pm_test_config_load_ok(const char *text)
{
	g_autoptr(GError) error = NULL;
	PmConfig *config = pm_test_config_load(text, &error);

	g_assert_no_error(error);
	g_assert_nonnull(config);
	return config;
}

void
pm_test_config_assert_load_error(const char *text, const char *message)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(PmConfig) config = pm_test_config_load(text, &error);

	g_assert_null(config);
	g_assert_error(error, PM_ERROR, PM_ERROR_INVALID_CONFIGURATION);
	g_assert_cmpstr(error->message, ==, message);
}
