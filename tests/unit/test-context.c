/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The daemon context every provider class gets: a SoupSession made on first use (an idle
 * daemon loads neither it nor TLS), the secret policy, and the NAT-PMP client registry
 * (one client per gateway and port, gone with its last user).
 */
#include <arpa/inet.h>
#include <glib/gstdio.h>
#include <libsoup/soup.h>

#include "context.h"
#include "errors.h"
#include "natpmp-socket.h"
#include "secrets.h"
#include "test-log.h"

static void
test_soup_session_lazy(void)
{
	g_autoptr(PmScheduler) scheduler = pm_scheduler_new_manual(0, 0, 1);
	g_autoptr(PmContext) context = pm_context_new(scheduler, PM_SECRET_POLICY_STRICT);
	g_autoptr(GError) error = NULL;
	SoupSession *session;

	g_assert_false(pm_context_has_soup_session(context));
	session = pm_context_get_soup_session(context, &error);
	g_assert_no_error(error);
	g_assert_true(SOUP_IS_SESSION(session));
	g_assert_true(pm_context_has_soup_session(context));
	/* one session for every HTTP user */
	g_assert_true(pm_context_get_soup_session(context, NULL) == session);
	g_assert_true(g_str_has_prefix(soup_session_get_user_agent(session), "portmapd/"));
	/* a session loads TLS (glib-networking's module) at its first HTTPS request, not
	 * when it is made */
	g_assert_cmpuint(g_type_from_name("GTlsBackendGnutls"), ==, 0);
	g_assert_cmpuint(g_type_from_name("GTlsBackendOpenssl"), ==, 0);
	/* what the checks above would have seen, had it been loaded */
	if (g_tls_backend_supports_tls(g_tls_backend_get_default())) {
		g_assert_true(g_type_from_name("GTlsBackendGnutls") != 0 ||
			      g_type_from_name("GTlsBackendOpenssl") != 0);
	}
}

/* the --no-bus leniency: a secret file readable by others is refused, or taken with a
 * warning (containers mount secrets 0444 or 0644) */
static void
test_secret_policy(void)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *dir = g_dir_make_tmp("portmap-context-XXXXXX", &error);
	g_autofree char *path = g_build_filename(dir, "token", NULL);
	g_autoptr(PmScheduler) scheduler = pm_scheduler_new_manual(0, 0, 1);
	g_autoptr(PmContext) strict = pm_context_new(scheduler, PM_SECRET_POLICY_STRICT);
	g_autoptr(PmContext) lenient = pm_context_new(scheduler, PM_SECRET_POLICY_LENIENT);
	g_autoptr(PmSecret) secret = NULL;

	g_assert_no_error(error);
	g_assert_true(g_file_set_contents(path, "s3cret\n", -1, &error));
	g_assert_cmpint(g_chmod(path, 0644), ==, 0);
	pm_test_log_clear();

	g_assert_cmpint(pm_context_get_secret_policy(strict), ==, PM_SECRET_POLICY_STRICT);
	secret = pm_context_load_secret(strict, NULL, path, &error);
	g_assert_null(secret);
	g_assert_error(error, PM_ERROR, PM_ERROR_INVALID_CONFIGURATION);
	g_assert_null(strstr(error->message, "s3cret"));
	g_clear_error(&error);
	pm_test_assert_no_warnings();

	secret = pm_context_load_secret(lenient, NULL, path, &error);
	g_assert_no_error(error);
	g_assert_cmpstr(secret, ==, "s3cret");
	pm_test_assert_warning(path);

	g_unlink(path);
	g_rmdir(dir);
}

static guint32
ipv4(const char *text)
{
	guint32 address = 0;
	g_assert_cmpint(inet_pton(AF_INET, text, &address), ==, 1);
	return address;
}

/* one client per (gateway, port), shared by its users; the last unref takes it out */
static void
test_natpmp_registry(void)
{
	g_autoptr(PmScheduler) scheduler = pm_scheduler_new_manual(0, 0, 1);
	g_autoptr(PmContext) context = pm_context_new(scheduler, PM_SECRET_POLICY_STRICT);
	g_autoptr(GError) error = NULL;
	PmNatpmpClient *a;
	PmNatpmpClient *b;
	PmNatpmpClient *c;

	a = pm_natpmp_socket_client_get(context, ipv4("127.0.0.1"), 15351, &error);
	g_assert_no_error(error);
	b = pm_natpmp_socket_client_get(context, ipv4("127.0.0.1"), 15351, &error);
	g_assert_no_error(error);
	c = pm_natpmp_socket_client_get(context, ipv4("127.0.0.1"), 15352, &error);
	g_assert_no_error(error);
	g_assert_true(a == b);
	g_assert_true(a != c);
	g_assert_cmpuint(pm_context_get_n_natpmp_clients(context), ==, 2);
	g_assert_true(pm_context_lookup_natpmp_client(context, ipv4("127.0.0.1"), 15352) == c);

	pm_natpmp_client_unref(a);
	g_assert_cmpuint(pm_context_get_n_natpmp_clients(context), ==, 2);
	pm_natpmp_client_unref(b);
	g_assert_cmpuint(pm_context_get_n_natpmp_clients(context), ==, 1);
	g_assert_null(pm_context_lookup_natpmp_client(context, ipv4("127.0.0.1"), 15351));
	pm_natpmp_client_unref(c);
	g_assert_cmpuint(pm_context_get_n_natpmp_clients(context), ==, 0);
	/* the announcement socket may be refused here: that is only a warning */
	pm_test_log_clear();
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	pm_test_log_init();
	g_test_add_func("/context/soup-session/lazy", test_soup_session_lazy);
	g_test_add_func("/context/secret-policy", test_secret_policy);
	g_test_add_func("/context/natpmp-registry", test_natpmp_registry);
	return g_test_run();
}
