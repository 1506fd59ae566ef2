/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "errors.h"
#include "secrets.h"

/* what every secret in these tests holds: it must never show up in a log line or an error */
#define MARKER "s3cr3t-MARKER-4f1d9a"

/* every message logged, all fields, debug included */
static GString *captured;
static guint n_warnings;

static GLogWriterOutput
capture_writer(GLogLevelFlags level, const GLogField *fields, gsize n_fields, gpointer user_data)
{
	if (level & G_LOG_LEVEL_WARNING)
		n_warnings++;
	for (gsize i = 0; i < n_fields; i++) {
		g_string_append_printf(captured, "%s=", fields[i].key);
		if (fields[i].length < 0)
			g_string_append(captured, fields[i].value);
		else
			g_string_append_len(captured, fields[i].value, fields[i].length);
		g_string_append_c(captured, ' ');
	}
	g_string_append_c(captured, '\n');
	return G_LOG_WRITER_HANDLED;
}

static void
capture_reset(void)
{
	g_string_truncate(captured, 0);
	n_warnings = 0;
}

static void
assert_no_marker(const char *text)
{
	if (strstr(text, MARKER) != NULL)
		g_error("the secret leaked: %s", text);
}

typedef struct {
	char *dir;
} Fixture;

static void
fixture_setup(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	f->dir = g_dir_make_tmp("test-secrets-XXXXXX", &error);
	g_assert_no_error(error);
	g_unsetenv("CREDENTIALS_DIRECTORY");
	capture_reset();
}

static void
remove_tree(const char *path)
{
	GStatBuf st;

	if (g_lstat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
		g_autoptr(GDir) dir = g_dir_open(path, 0, NULL);
		const char *name;
		while (dir != NULL && (name = g_dir_read_name(dir)) != NULL) {
			g_autofree char *child = g_build_filename(path, name, NULL);
			remove_tree(child);
		}
		g_assert_cmpint(g_rmdir(path), ==, 0);
		return;
	}
	g_assert_cmpint(g_unlink(path), ==, 0);
}

static void
fixture_teardown(Fixture *f, gconstpointer data)
{
	remove_tree(f->dir);
	g_free(f->dir);
	/* nothing any test did put the value in the log */
	assert_no_marker(captured->str);
}

static char *
write_file(Fixture *f, const char *name, const char *contents, gssize len, mode_t mode)
{
	char *path = g_build_filename(f->dir, name, NULL);
	g_autoptr(GError) error = NULL;

	g_file_set_contents(path, contents, len, &error);
	g_assert_no_error(error);
	g_assert_cmpint(chmod(path, mode), ==, 0);
	return path;
}

static gboolean
is_root(void)
{
	if (geteuid() == 0)
		return TRUE;
	g_test_skip("needs root to give a file to another user");
	return FALSE;
}

/* the load fails with PM_ERROR_INVALID_CONFIGURATION naming @path, and @fix, and no value */
static void
assert_refused(const char *path, gboolean lenient, const char *what, const char *fix)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(PmSecret) secret = pm_secret_load(NULL, path, lenient, &error);

	g_assert_null(secret);
	g_assert_error(error, PM_ERROR, PM_ERROR_INVALID_CONFIGURATION);
	g_test_message("%s", error->message);
	g_assert_nonnull(strstr(error->message, path));
	if (what != NULL && strstr(error->message, what) == NULL)
		g_error("\"%s\" does not say \"%s\"", error->message, what);
	if (fix != NULL && strstr(error->message, fix) == NULL)
		g_error("\"%s\" does not give the fix \"%s\"", error->message, fix);
	assert_no_marker(error->message);
}

static void
assert_loaded(const char *path, gboolean lenient, const char *expected)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(PmSecret) secret = pm_secret_load(NULL, path, lenient, &error);

	g_assert_no_error(error);
	g_assert_cmpstr(secret, ==, expected);
}

static void
test_file_protected(Fixture *f, gconstpointer data)
{
	g_autofree char *path = write_file(f, "token", MARKER "\n", -1, 0600);
	g_autofree char *ro = write_file(f, "token-ro", MARKER, -1, 0400);
	g_autofree char *group = write_file(f, "token-group", MARKER "\n", -1, 0640);

	/* one trailing newline goes, nothing else */
	assert_loaded(path, FALSE, MARKER);
	assert_loaded(ro, FALSE, MARKER);
	/* group-readable is allowed: root-owned, group portmap, 0640 */
	assert_loaded(group, FALSE, MARKER);
	g_assert_cmpuint(n_warnings, ==, 0);
}

static void
test_file_one_newline_only(Fixture *f, gconstpointer data)
{
	g_autofree char *path = write_file(f, "token", MARKER "\n\n", -1, 0600);
	g_autofree char *spaces = write_file(f, "spaces", " " MARKER " ", -1, 0600);

	assert_loaded(path, FALSE, MARKER "\n");
	assert_loaded(spaces, FALSE, " " MARKER " ");
}

static void
test_file_group_writable(Fixture *f, gconstpointer data)
{
	g_autofree char *path = write_file(f, "token", MARKER, -1, 0620);
	g_autofree char *fix = g_strdup_printf("chmod 600 %s", path);
	assert_refused(path, FALSE, "writable by its group (mode 0620)", fix);
}

static void
test_file_world_writable(Fixture *f, gconstpointer data)
{
	g_autofree char *path = write_file(f, "token", MARKER, -1, 0602);
	g_autofree char *fix = g_strdup_printf("chmod 600 %s", path);
	assert_refused(path, FALSE, "writable by others", fix);
}

static void
test_file_other_readable(Fixture *f, gconstpointer data)
{
	g_autofree char *path = write_file(f, "token", MARKER, -1, 0644);
	g_autofree char *docker = write_file(f, "docker", MARKER, -1, 0444);
	g_autofree char *fix = g_strdup_printf("chmod 600 %s", path);
	g_autofree char *docker_fix = g_strdup_printf("chmod 600 %s", docker);

	assert_refused(path, FALSE, "readable by others (mode 0644)", fix);
	assert_refused(docker, FALSE, "readable by others (mode 0444)", docker_fix);
	g_assert_cmpuint(n_warnings, ==, 0);
}

static void
test_file_wrong_owner(Fixture *f, gconstpointer data)
{
	g_autofree char *path = write_file(f, "token", MARKER, -1, 0600);
	g_autofree char *fix = NULL;

	if (!is_root())
		return;
	g_assert_cmpint(chown(path, 65534, 65534), ==, 0);
	fix = g_strdup_printf("chown root %s && chmod 600 %s", path, path);
	assert_refused(path, FALSE, "owned by uid 65534", fix);
}

static void
test_lenient_accepts_with_one_warning(Fixture *f, gconstpointer data)
{
	const mode_t modes[] = {0444, 0644, 0666, 0620};

	for (guint i = 0; i < G_N_ELEMENTS(modes); i++) {
		g_autofree char *name = g_strdup_printf("secret-%04o", (guint)modes[i]);
		g_autofree char *path = write_file(f, name, MARKER "\n", -1, modes[i]);
		capture_reset();
		assert_loaded(path, TRUE, MARKER);
		g_assert_cmpuint(n_warnings, ==, 1);
		g_assert_nonnull(strstr(captured->str, path));
		g_assert_nonnull(strstr(captured->str, "chmod 600"));
	}
	if (geteuid() == 0) {
		g_autofree char *path = write_file(f, "kubernetes", MARKER, -1, 0644);
		g_assert_cmpint(chown(path, 65534, 65534), ==, 0);
		capture_reset();
		assert_loaded(path, TRUE, MARKER);
		g_assert_cmpuint(n_warnings, ==, 1);
		g_assert_nonnull(strstr(captured->str, "owned by uid 65534"));
	}
	/* a protected file gives no warning in lenient mode either */
	{
		g_autofree char *path = write_file(f, "fine", MARKER, -1, 0600);
		capture_reset();
		assert_loaded(path, TRUE, MARKER);
		g_assert_cmpuint(n_warnings, ==, 0);
	}
}

static void
test_symlink(Fixture *f, gconstpointer data)
{
	g_autofree char *bad = write_file(f, "bad", MARKER, -1, 0644);
	g_autofree char *good = write_file(f, "good", MARKER, -1, 0600);
	g_autofree char *bad_link = g_build_filename(f->dir, "bad-link", NULL);
	g_autofree char *good_link = g_build_filename(f->dir, "good-link", NULL);
	g_autofree char *dangling = g_build_filename(f->dir, "dangling", NULL);

	/* the target is judged, not the link (links are always 0777) */
	g_assert_cmpint(symlink(bad, bad_link), ==, 0);
	assert_refused(bad_link, FALSE, "readable by others", "chmod 600");
	/* Kubernetes secret volumes are links to the real files */
	g_assert_cmpint(symlink(good, good_link), ==, 0);
	assert_loaded(good_link, FALSE, MARKER);
	g_assert_cmpint(symlink("nowhere", dangling), ==, 0);
	assert_refused(dangling, FALSE, g_strerror(ENOENT), NULL);
}

static void
test_not_a_regular_file(Fixture *f, gconstpointer data)
{
	g_autofree char *dir = g_build_filename(f->dir, "secret.d", NULL);
	g_autofree char *fifo = g_build_filename(f->dir, "fifo", NULL);

	g_assert_cmpint(g_mkdir(dir, 0700), ==, 0);
	assert_refused(dir, FALSE, "is a directory, not a regular file", NULL);
	/* even lenient: there is nothing to read */
	assert_refused(dir, TRUE, "is a directory", NULL);
	/* a FIFO must not hang the daemon */
	g_assert_cmpint(mkfifo(fifo, 0600), ==, 0);
	assert_refused(fifo, FALSE, "a special file", NULL);
}

static void
test_missing_empty_nul_large(Fixture *f, gconstpointer data)
{
	g_autofree char *missing = g_build_filename(f->dir, "missing", NULL);
	g_autofree char *empty = write_file(f, "empty", "\n", -1, 0600);
	g_autofree char *nul = write_file(f, "nul", MARKER "\0" MARKER, sizeof(MARKER) * 2, 0600);
	g_autofree char *large_text = g_strnfill(PM_SECRET_MAX_SIZE + 1, 'x');
	g_autofree char *large = write_file(f, "large", large_text, -1, 0600);
	g_autofree char *max_text = g_strnfill(PM_SECRET_MAX_SIZE, 'x');
	g_autofree char *max = write_file(f, "max", max_text, -1, 0600);

	assert_refused(missing, FALSE, g_strerror(ENOENT), NULL);
	assert_refused(empty, FALSE, "is empty", NULL);
	assert_refused(nul, FALSE, "NUL byte", NULL);
	assert_refused(large, FALSE, "larger than 65536 bytes", NULL);
	assert_loaded(max, FALSE, max_text);
}

static void
test_credential(Fixture *f, gconstpointer data)
{
	g_autofree char *creds = g_build_filename(f->dir, "credentials", NULL);
	g_autofree char *path = g_build_filename(creds, "pia-password", NULL);
	g_autofree char *dir = g_build_filename(creds, "dir", NULL);
	g_autoptr(GError) error = NULL;
	g_autoptr(PmSecret) secret = NULL;

	g_assert_cmpint(g_mkdir(creds, 0700), ==, 0);
	g_file_set_contents(path, MARKER "\n", -1, &error);
	g_assert_no_error(error);
	/* systemd's own files: 0400, but their mode is not judged */
	g_assert_cmpint(chmod(path, 0444), ==, 0);
	g_setenv("CREDENTIALS_DIRECTORY", creds, TRUE);

	secret = pm_secret_load("pia-password", NULL, FALSE, &error);
	g_assert_no_error(error);
	g_assert_cmpstr(secret, ==, MARKER);
	g_assert_cmpuint(n_warnings, ==, 0);

	/* not passed: the error names the credential and LoadCredential= */
	g_clear_pointer(&secret, pm_secret_free);
	secret = pm_secret_load("mikrotik-password", NULL, FALSE, &error);
	g_assert_null(secret);
	g_assert_error(error, PM_ERROR, PM_ERROR_INVALID_CONFIGURATION);
	g_assert_nonnull(strstr(error->message, "mikrotik-password"));
	g_assert_nonnull(strstr(error->message, "LoadCredential=mikrotik-password:"));
	assert_no_marker(error->message);
	g_clear_error(&error);

	/* a name is a name, not a path out of the directory */
	secret = pm_secret_load("../credentials/pia-password", NULL, FALSE, &error);
	g_assert_null(secret);
	g_assert_error(error, PM_ERROR, PM_ERROR_INVALID_CONFIGURATION);
	g_assert_nonnull(strstr(error->message, "not a credential name"));
	g_clear_error(&error);

	/* a directory where the credential should be */
	g_assert_cmpint(g_mkdir(dir, 0700), ==, 0);
	secret = pm_secret_load("dir", NULL, FALSE, &error);
	g_assert_null(secret);
	g_assert_error(error, PM_ERROR, PM_ERROR_INVALID_CONFIGURATION);
	g_assert_nonnull(strstr(error->message, "is a directory"));
}

static void
test_credential_without_directory(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(PmSecret) secret = NULL;

	g_unsetenv("CREDENTIALS_DIRECTORY");
	secret = pm_secret_load("pia-password", NULL, FALSE, &error);
	g_assert_null(secret);
	g_assert_error(error, PM_ERROR, PM_ERROR_INVALID_CONFIGURATION);
	g_test_message("%s", error->message);
	g_assert_nonnull(strstr(error->message, "pia-password"));
	g_assert_nonnull(strstr(error->message, "$CREDENTIALS_DIRECTORY is not set"));
	g_assert_nonnull(strstr(error->message, "LoadCredential=pia-password:"));
	g_clear_error(&error);

	g_setenv("CREDENTIALS_DIRECTORY", "", TRUE);
	secret = pm_secret_load("pia-password", NULL, FALSE, &error);
	g_assert_error(error, PM_ERROR, PM_ERROR_INVALID_CONFIGURATION);
	g_assert_nonnull(strstr(error->message, "CREDENTIALS_DIRECTORY"));
}

/* every path, at debug level: the value is in no log field and no error message */
static void
test_value_never_logged(Fixture *f, gconstpointer data)
{
	const mode_t modes[] = {0600, 0640, 0644, 0444, 0666, 0620, 0602};
	g_autofree char *creds = g_build_filename(f->dir, "credentials", NULL);
	g_autofree char *cred = g_build_filename(creds, "token", NULL);
	g_autoptr(GError) error = NULL;

	g_assert_cmpstr(g_getenv("G_MESSAGES_DEBUG"), ==, "all");
	for (guint i = 0; i < G_N_ELEMENTS(modes); i++) {
		g_autofree char *name = g_strdup_printf("secret-%04o", (guint)modes[i]);
		g_autofree char *path = write_file(f, name, MARKER "\n", -1, modes[i]);
		for (guint lenient = 0; lenient <= 1; lenient++) {
			g_autoptr(PmSecret) secret = pm_secret_load(NULL, path, lenient, &error);
			if (error != NULL) {
				assert_no_marker(error->message);
				g_clear_error(&error);
			} else {
				g_assert_cmpstr(secret, ==, MARKER);
			}
		}
		if (geteuid() == 0) {
			g_autoptr(PmSecret) secret = NULL;
			g_assert_cmpint(chown(path, 65534, 65534), ==, 0);
			secret = pm_secret_load(NULL, path, FALSE, &error);
			g_assert_null(secret);
			assert_no_marker(error->message);
			g_clear_error(&error);
		}
	}
	g_assert_cmpint(g_mkdir(creds, 0700), ==, 0);
	g_file_set_contents(cred, MARKER, -1, &error);
	g_assert_no_error(error);
	g_setenv("CREDENTIALS_DIRECTORY", creds, TRUE);
	{
		g_autoptr(PmSecret) secret = pm_secret_load("token", NULL, FALSE, &error);
		g_assert_no_error(error);
		g_assert_cmpstr(secret, ==, MARKER);
	}

	/* the capture works: the loader's debug lines and warnings are there */
	g_assert_nonnull(strstr(captured->str, "PRIORITY=7"));
	g_assert_nonnull(strstr(captured->str, "reading a secret from"));
	g_assert_nonnull(strstr(captured->str, "reading the credential token"));
	g_assert_cmpuint(n_warnings, >, 0);
	assert_no_marker(captured->str);
}

int
main(int argc, char **argv)
{
	g_setenv("G_MESSAGES_DEBUG", "all", TRUE);
	g_test_init(&argc, &argv, NULL);
	captured = g_string_new(NULL);
	g_log_set_writer_func(capture_writer, NULL, NULL);

#define ADD(name, func)                                                                            \
	g_test_add("/secrets/" name, Fixture, NULL, fixture_setup, func, fixture_teardown)
	ADD("file/protected", test_file_protected);
	ADD("file/one-newline-only", test_file_one_newline_only);
	ADD("file/group-writable", test_file_group_writable);
	ADD("file/world-writable", test_file_world_writable);
	ADD("file/other-readable", test_file_other_readable);
	ADD("file/wrong-owner", test_file_wrong_owner);
	ADD("file/lenient", test_lenient_accepts_with_one_warning);
	ADD("file/symlink", test_symlink);
	ADD("file/not-regular", test_not_a_regular_file);
	ADD("file/missing-empty-nul-large", test_missing_empty_nul_large);
	ADD("credential/read", test_credential);
	ADD("credential/no-directory", test_credential_without_directory);
	ADD("never-logged", test_value_never_logged);
#undef ADD

	{
		int ret = g_test_run();
		g_string_free(captured, TRUE);
		return ret;
	}
}
