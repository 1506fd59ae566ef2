/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <glib.h>

/*
 * --config-from-env (design §6 "Environment import"): the configuration made from the
 * environment of the tool portmapd replaces, recognised by its own variables. Making it
 * (environment -> portmapd.conf text) is apart from loading it (pm_config_load_over(),
 * config.h), so that the text can be checked whatever classes this version has.
 *
 * Errors are PM_ERROR_INVALID_CONFIGURATION naming the variable, its value (never a
 * secret's) and the accepted values. Secrets are kept out of the text: it names them in
 * *Credential= keys, and pm_config_env_import_secrets() hands their values to secrets.h.
 */

typedef struct _PmConfigEnv PmConfigEnv;

/* @envp: "NAME=VALUE" strings, as g_get_environ() returns them */
PmConfigEnv *pm_config_env_new(const char *const *envp, GError **error);
/* the same from portmapd's own environment; the copy of it is wiped */
PmConfigEnv *pm_config_env_new_from_environ(GError **error);
void pm_config_env_free(PmConfigEnv *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PmConfigEnv, pm_config_env_free)

/* "gluetun", "the natpmp-http-api client" */
const char *pm_config_env_get_tool(const PmConfigEnv *self);
/* the configuration, as portmapd.conf text */
const char *pm_config_env_get_data(const PmConfigEnv *self);
/* LOG_LEVEL as a --log-level name ("warning"), or NULL when unset */
const char *pm_config_env_get_log_level(const PmConfigEnv *self);
/* the credential names the text refers to, in order; NULL-terminated */
char **pm_config_env_get_credentials(const PmConfigEnv *self);

/* logs, as warnings, what the import read otherwise than the replaced tool did (such as
 * the first of gluetun's SERVER_NAMES); once the log is set up */
void pm_config_env_log_warnings(const PmConfigEnv *self);

/*
 * Hands the imported secrets to pm_secret_import_credential() and removes every secret
 * variable of the replaced tools from portmapd's environment, with one warning naming them
 */
void pm_config_env_import_secrets(PmConfigEnv *self);

/* --print-config: @text (portmapd.conf) with a comment before each key naming an imported
 * credential: where it came from, and how to pass it without the environment */
char *pm_config_env_annotate(const PmConfigEnv *self, const char *text);
