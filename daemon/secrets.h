/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <glib.h>

/*
 * Secrets of providers and consumers (design §6): a *Credential=NAME key reads
 * $CREDENTIALS_DIRECTORY/NAME (systemd's LoadCredential=), a *File=PATH key reads a regular
 * file owned by root or by portmapd's own user, writable by no one else and not readable by
 * others. Containers (--no-bus) mount secrets 0444 or 0644: @lenient accepts a readable file
 * with one warning. The value is never logged, nor put in an error message.
 */

/* the largest secret read: a password or a token, not a file of them */
#define PM_SECRET_MAX_SIZE (64 * 1024)

/* exactly one of @credential_name and @file_path; a credential imported from the environment
 * (below) is found before $CREDENTIALS_DIRECTORY; one trailing newline is stripped; errors
 * are PM_ERROR_INVALID_CONFIGURATION naming the file and the fix; free with pm_secret_free() */
char *pm_secret_load(const char *credential_name, const char *file_path, gboolean lenient,
		     GError **error);
/* wipes the value, then frees it */
void pm_secret_free(char *secret);

typedef char PmSecret;
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PmSecret, pm_secret_free)

/*
 * The environment variables of the replaced tools that hold secrets (design §6,
 * environment import): --config-from-env removes them from portmapd's environment once it
 * has read them, and exec hooks never inherit them whatever started portmapd.
 * NULL-terminated.
 */
extern const char *const pm_secret_environment_variables[];
/* whether @name (a variable's name) is one of them */
gboolean pm_secret_is_environment_variable(const char *name);

/*
 * Credentials imported from the environment (--config-from-env, config-env.h): the
 * generated configuration names them in *Credential=NAME keys, and pm_secret_load() finds
 * them here before $CREDENTIALS_DIRECTORY, so that an imported secret is never written to
 * a file. The table holds a copy; a replaced or cleared value is wiped.
 */
void pm_secret_import_credential(const char *name, const char *value);
gboolean pm_secret_has_imported_credential(const char *name);
/* wipes and forgets every imported credential (exit, tests) */
void pm_secret_clear_imported_credentials(void);

/* unsets every variable of pm_secret_environment_variables that is set, so that nothing
 * started later inherits it; returns their names (never their values), empty if none */
char **pm_secret_unset_environment_variables(void);
