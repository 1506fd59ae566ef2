/* SPDX-License-Identifier: GPL-2.0-or-later */

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "errors.h"
#include "secrets.h"

void
pm_secret_free(char *secret)
{
	if (secret == NULL)
		return;
	explicit_bzero(secret, strlen(secret));
	g_free(secret);
}

static int
open_secret(const char *path, GError **error)
{
	/* O_NONBLOCK: a FIFO put there must not hang the daemon; it is refused below */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		int saved_errno = errno;
		if (saved_errno == EACCES)
			g_set_error(error, PM_ERROR, PM_ERROR_INVALID_CONFIGURATION,
				    "cannot read the secret file %s: %s: portmapd runs as user %s; "
				    "chown %s %s && chmod 600 %s",
				    path, g_strerror(saved_errno), g_get_user_name(),
				    g_get_user_name(), path, path);
		else
			g_set_error(error, PM_ERROR, PM_ERROR_INVALID_CONFIGURATION,
				    "cannot open the secret file %s: %s", path,
				    g_strerror(saved_errno));
	}
	return fd;
}

static gboolean
check_regular(const struct stat *st, const char *path, GError **error)
{
	if (S_ISREG(st->st_mode))
		return TRUE;
	g_set_error(error, PM_ERROR, PM_ERROR_INVALID_CONFIGURATION,
		    "the secret file %s is %s, not a regular file: point the key at the file "
		    "that holds the secret",
		    path, S_ISDIR(st->st_mode) ? "a directory" : "a special file");
	return FALSE;
}

/* owner and mode of a *File=; lenient accepts what it can read, with one warning */
static gboolean
check_protected(const struct stat *st, const char *path, gboolean lenient, GError **error)
{
	uid_t euid = geteuid();
	mode_t mode = st->st_mode & 07777;
	const char *user = g_get_user_name();
	gboolean bad_owner = st->st_uid != 0 && st->st_uid != euid;
	gboolean bad_mode = (mode & (S_IWGRP | S_IWOTH | S_IROTH)) != 0;
	g_autoptr(GString) problems = g_string_new(NULL);
	g_autofree char *fix = NULL;

	if (!bad_owner && !bad_mode)
		return TRUE;
	if (bad_owner && euid == 0)
		g_string_append_printf(problems, "it is owned by uid %u, not by root",
				       (guint)st->st_uid);
	else if (bad_owner)
		g_string_append_printf(problems, "it is owned by uid %u, not by root or by %s (uid %u)",
				       (guint)st->st_uid, user, (guint)euid);
	if (mode & (S_IWGRP | S_IWOTH))
		g_string_append_printf(problems, "%sit is writable by %s", problems->len > 0 ? "; " : "",
				       (mode & S_IWOTH) ? "others" : "its group");
	if (mode & S_IROTH)
		g_string_append_printf(problems, "%sit is readable by others",
				       problems->len > 0 ? "; " : "");
	g_string_append_printf(problems, " (mode %04o)", (guint)mode);

	/* what makes the daemon the only reader (root's group may lend it read access) */
	if (bad_owner)
		fix = g_strdup_printf("chown %s %s && chmod 600 %s", user, path, path);
	else if (st->st_uid == euid)
		fix = g_strdup_printf("chmod 600 %s", path);
	else if ((mode & S_IRGRP) != 0 && (mode & S_IROTH) == 0)
		fix = g_strdup_printf("chmod 640 %s", path);
	else
		fix = g_strdup_printf("chown %s %s && chmod 600 %s", user, path, path);

	if (!lenient) {
		g_set_error(error, PM_ERROR, PM_ERROR_INVALID_CONFIGURATION,
			    "refusing the secret file %s: %s; protect it with: %s", path,
			    problems->str, fix);
		return FALSE;
	}
	g_warning("the secret file %s is not protected: %s; accepted because portmapd runs "
		  "without the bus (container secrets are mounted so); protect it with: %s",
		  path, problems->str, fix);
	return TRUE;
}

/* the whole file, one trailing newline stripped; every buffer that held it is wiped */
static char *
read_secret(int fd, const char *path, GError **error)
{
	const gsize size = PM_SECRET_MAX_SIZE + 1;
	char *buf = g_malloc(size);
	char *secret = NULL;
	gsize len = 0;
	int read_errno = 0;

	while (len < size) {
		ssize_t n = read(fd, buf + len, size - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			read_errno = errno;
			break;
		}
		if (n == 0)
			break;
		len += (gsize)n;
	}
	if (read_errno != 0) {
		g_set_error(error, PM_ERROR, PM_ERROR_INVALID_CONFIGURATION,
			    "cannot read the secret file %s: %s", path, g_strerror(read_errno));
	} else if (len > PM_SECRET_MAX_SIZE) {
		g_set_error(error, PM_ERROR, PM_ERROR_INVALID_CONFIGURATION,
			    "the secret file %s is larger than %u bytes: it must hold the secret "
			    "only",
			    path, (guint)PM_SECRET_MAX_SIZE);
	} else if (memchr(buf, '\0', len) != NULL) {
		g_set_error(error, PM_ERROR, PM_ERROR_INVALID_CONFIGURATION,
			    "the secret file %s holds a NUL byte: it must hold the secret as text",
			    path);
	} else {
		if (len > 0 && buf[len - 1] == '\n')
			len--;
		if (len == 0) {
			g_set_error(error, PM_ERROR, PM_ERROR_INVALID_CONFIGURATION,
				    "the secret file %s is empty: write the secret into it", path);
		} else {
			secret = g_malloc(len + 1);
			memcpy(secret, buf, len);
			secret[len] = '\0';
		}
	}
	explicit_bzero(buf, size);
	g_free(buf);
	return secret;
}

/* name -> value (wiped by pm_secret_free()); NULL until something is imported */
static GHashTable *imported_credentials;

void
pm_secret_import_credential(const char *name, const char *value)
{
	g_return_if_fail(name != NULL && *name != '\0');
	g_return_if_fail(value != NULL);

	if (imported_credentials == NULL)
		imported_credentials = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
							     (GDestroyNotify)pm_secret_free);
	g_hash_table_replace(imported_credentials, g_strdup(name), g_strdup(value));
}

gboolean
pm_secret_has_imported_credential(const char *name)
{
	return imported_credentials != NULL && g_hash_table_contains(imported_credentials, name);
}

void
pm_secret_clear_imported_credentials(void)
{
	g_clear_pointer(&imported_credentials, g_hash_table_unref);
}

char **
pm_secret_unset_environment_variables(void)
{
	g_autoptr(GStrvBuilder) removed = g_strv_builder_new();

	for (guint i = 0; pm_secret_environment_variables[i] != NULL; i++) {
		char *value = getenv(pm_secret_environment_variables[i]);

		if (value == NULL)
			continue;
		/* the strings of the initial environment stay in memory (and in
		 * /proc/PID/environ) after unsetenv(): blank the value first */
		explicit_bzero(value, strlen(value));
		g_unsetenv(pm_secret_environment_variables[i]);
		g_strv_builder_add(removed, pm_secret_environment_variables[i]);
	}
	return g_strv_builder_end(removed);
}

static char *
load_credential(const char *name, GError **error)
{
	const char *dir = g_getenv("CREDENTIALS_DIRECTORY");
	g_autofree char *path = NULL;
	struct stat st;
	char *secret;
	int fd;

	if (*name == '\0' || strchr(name, '/') != NULL || g_strcmp0(name, ".") == 0 ||
	    g_strcmp0(name, "..") == 0) {
		g_set_error(error, PM_ERROR, PM_ERROR_INVALID_CONFIGURATION,
			    "'%s' is not a credential name: use the NAME of LoadCredential=NAME:PATH",
			    name);
		return NULL;
	}
	/* imported from the environment: in memory only */
	if (pm_secret_has_imported_credential(name)) {
		g_debug("the credential %s was imported from the environment", name);
		return g_strdup(g_hash_table_lookup(imported_credentials, name));
	}
	if (dir == NULL || *dir == '\0') {
		g_set_error(error, PM_ERROR, PM_ERROR_INVALID_CONFIGURATION,
			    "cannot read the credential %s: $CREDENTIALS_DIRECTORY is not set; "
			    "pass it with LoadCredential=%s:/path/to/file in portmapd.service, or "
			    "use the matching *File= key",
			    name, name);
		return NULL;
	}
	path = g_build_filename(dir, name, NULL);
	g_debug("reading the credential %s from %s", name, path);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		int saved_errno = errno;
		g_set_error(error, PM_ERROR, PM_ERROR_INVALID_CONFIGURATION,
			    "cannot read the credential %s from $CREDENTIALS_DIRECTORY (%s): %s; "
			    "check LoadCredential=%s:/path/to/file in portmapd.service",
			    name, path, g_strerror(saved_errno), name);
		return NULL;
	}
	if (fstat(fd, &st) < 0) {
		int saved_errno = errno;
		g_set_error(error, PM_ERROR, PM_ERROR_INVALID_CONFIGURATION,
			    "cannot read the credential %s (%s): %s", name, path,
			    g_strerror(saved_errno));
		close(fd);
		return NULL;
	}
	/* systemd made the file and decides who reads it: its mode is not ours to judge */
	secret = check_regular(&st, path, error) ? read_secret(fd, path, error) : NULL;
	close(fd);
	return secret;
}

static char *
load_file(const char *path, gboolean lenient, GError **error)
{
	struct stat st;
	char *secret = NULL;
	int fd;

	g_debug("reading a secret from %s", path);
	/* symlinks are followed (Kubernetes secret volumes are links): what is judged is the
	 * file that was opened */
	fd = open_secret(path, error);
	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) < 0) {
		int saved_errno = errno;
		g_set_error(error, PM_ERROR, PM_ERROR_INVALID_CONFIGURATION,
			    "cannot read the secret file %s: %s", path, g_strerror(saved_errno));
	} else if (check_regular(&st, path, error) &&
		   check_protected(&st, path, lenient, error)) {
		secret = read_secret(fd, path, error);
	}
	close(fd);
	return secret;
}

char *
pm_secret_load(const char *credential_name, const char *file_path, gboolean lenient,
	       GError **error)
{
	g_return_val_if_fail((credential_name == NULL) != (file_path == NULL), NULL);
	g_return_val_if_fail(error == NULL || *error == NULL, NULL);

	if (credential_name != NULL)
		return load_credential(credential_name, error);
	return load_file(file_path, lenient, error);
}

const char *const pm_secret_environment_variables[] = {
	"API_TOKEN",			/* natpmp-http-api client */
	"PIA_PASS",			/* PIA port-forwarding manager */
	"QBITTORRENT_PASS",
	"PIA_TOKEN",			/* pia-foss/manual-connections */
	"PAYLOAD_AND_SIGNATURE",
	"VPN_PORT_FORWARDING_PASSWORD", /* gluetun */
	"OPENVPN_PASSWORD",
	"MIKROTIK_API_PASSWORD",	/* mikrotik-double-natpmp */
	NULL,
};

gboolean
pm_secret_is_environment_variable(const char *name)
{
	return g_strv_contains((const char *const *)pm_secret_environment_variables, name);
}
