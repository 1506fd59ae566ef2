/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <glib.h>

/*
 * Log capture for unit tests of code that warns: warnings are recorded for the test to
 * check, nothing is printed unless --verbose, criticals stay fatal.
 */

/* once, from main() after g_test_init() */
void pm_test_log_init(void);
/* forget what was recorded (at the start of a test) */
void pm_test_log_clear(void);
/* no warning was recorded */
void pm_test_assert_no_warnings(void);
/* the first recorded warning contains @substr; it is consumed */
void pm_test_assert_warning(const char *substr);
