/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include "config.h"

/* one configuration text, as the file "test.conf" */
PmConfig *pm_test_config_load(const char *text, GError **error);
/* ... which must load */
PmConfig *pm_test_config_load_ok(const char *text);
/* ... which must fail with exactly @message, so that the "FILE:LINE: [GROUP] KEY=VALUE: ..."
 * shape is pinned */
void pm_test_config_assert_load_error(const char *text, const char *message);
