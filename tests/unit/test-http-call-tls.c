/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * pm_http_call_set_tls() against an in-process HTTPS server on 127.0.0.1 whose
 * certificate names only server.pia.test (tests/unit/tls, test-only): the chain is
 * verified against the given CA alone and the name against the given identity, not the
 * URL's IP; a refused handshake sends nothing; a wrong name alone passes only when no
 * identity is given and the caller allows it; a connection verified for one identity is
 * not reused for another. Without pm_http_call_set_tls(), the system's roots
 * ($SSL_CERT_FILE here) verify the URL's host; they are loaded for such calls only and
 * let go with them, and the process's default database trusts nothing (tls-trust.h).
 */
#include <gio/gio.h>
#include <string.h>

#include "context.h"
#include "errors.h"
#include "http-call.h"
#include "test-http-server.h"
#include "test-log.h"
#include "tls-trust.h"

typedef struct {
	PmScheduler *scheduler;
	PmContext *context;
	PmTestHttpServer *server;
	GTlsDatabase *ca;
	GTlsDatabase *other_ca;
	/* what the client saw */
	guint done;
	GError *error;
	guint status;
	char *unverified_name;
	GTlsCertificateFlags tls_errors;
} Fixture;

static void
server_cb(PmTestHttpServer *server, PmTestHttpRequest *request, gpointer user_data)
{
	pm_test_http_request_respond(request, 200, "OK", "application/json", "{\"ok\":1}", NULL);
}

static GTlsDatabase *
database_new(const char *name)
{
	g_autofree char *path = pm_test_tls_path(name);
	g_autoptr(GError) error = NULL;
	GTlsDatabase *database = g_tls_file_database_new(path, &error);

	g_assert_no_error(error);
	return database;
}

static void
fixture_setup(Fixture *f, gconstpointer data)
{
	const char *server_pem = data != NULL ? data : "server.pem";
	g_autoptr(GTlsCertificate) certificate = pm_test_tls_certificate(server_pem);

	pm_test_log_clear();
	f->scheduler = pm_scheduler_new();
	f->context = pm_context_new(f->scheduler, PM_SECRET_POLICY_STRICT);
	f->server = pm_test_http_server_new_tls(server_cb, f, certificate);
	f->ca = database_new("ca.pem");
	f->other_ca = database_new("other-ca.pem");
}

static void
fixture_teardown(Fixture *f, gconstpointer data)
{
	pm_test_http_server_free(f->server);
	pm_context_free(f->context);
	pm_scheduler_free(f->scheduler);
	while (g_main_context_iteration(NULL, FALSE))
		;
	g_object_unref(f->ca);
	g_object_unref(f->other_ca);
	g_clear_error(&f->error);
	g_free(f->unverified_name);
	/* the session and its kept-alive connections are gone: so are the system's roots,
	 * once glib-networking's thread has let go of the last connection */
	for (gint64 give_up = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;
	     pm_tls_trust_system_is_loaded();) {
		g_assert_cmpint(g_get_monotonic_time(), <, give_up);
		g_main_context_iteration(NULL, FALSE);
		g_usleep(1000);
	}
	g_unsetenv("SSL_CERT_FILE");
	pm_test_assert_no_warnings();
}

static void
done_cb(PmHttpCall *call, const GError *error, gpointer user_data)
{
	Fixture *f = user_data;

	f->done++;
	g_clear_error(&f->error);
	g_clear_pointer(&f->unverified_name, g_free);
	f->status = 0;
	f->tls_errors = pm_http_call_get_tls_errors(call);
	if (error != NULL) {
		f->error = g_error_copy(error);
		return;
	}
	f->status = pm_http_call_get_status(call);
	f->unverified_name = g_strdup(pm_http_call_get_unverified_name(call));
}

/* one GET /x with @database and @identity (NULL: the system's roots and the URL's host);
 * waits for its end (at most 5 s) */
static void
get(Fixture *f, GTlsDatabase *database, const char *identity, PmHttpTlsFlags flags)
{
	g_autofree char *url = g_strconcat(pm_test_http_server_get_url(f->server), "/x?token=t",
					   NULL);
	g_autoptr(GError) error = NULL;
	guint done = f->done;
	gint64 give_up = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;
	PmHttpCall *call = pm_http_call_new(f->context, "GET", url, &error);

	g_assert_no_error(error);
	if (database != NULL)
		pm_http_call_set_tls(call, database, identity, flags);
	pm_http_call_send(call, done_cb, f);
	while (f->done == done) {
		g_assert_cmpint(g_get_monotonic_time(), <, give_up);
		g_main_context_iteration(NULL, TRUE);
	}
}

static void
test_verified(Fixture *f, gconstpointer data)
{
	get(f, f->ca, "server.pia.test", PM_HTTP_TLS_FLAGS_NONE);
	g_assert_no_error(f->error);
	g_assert_cmpuint(f->status, ==, 200);
	g_assert_null(f->unverified_name);
	g_assert_cmpuint(pm_test_http_server_get_n_requests(f->server), ==, 1);
	/* the flag changes nothing when the name is given and right */
	get(f, f->ca, "server.pia.test", PM_HTTP_TLS_FLAGS_ALLOW_BAD_IDENTITY);
	g_assert_no_error(f->error);
	g_assert_null(f->unverified_name);
}

static void
test_wrong_name(Fixture *f, gconstpointer data)
{
	get(f, f->ca, "other.pia.test", PM_HTTP_TLS_FLAGS_ALLOW_BAD_IDENTITY);
	g_assert_error(f->error, PM_ERROR, PM_ERROR_GATEWAY_UNREACHABLE);
	g_assert_cmpuint(f->tls_errors, ==, G_TLS_CERTIFICATE_BAD_IDENTITY);
	/* the handshake failed: no request reached the server */
	g_assert_cmpuint(pm_test_http_server_get_n_requests(f->server), ==, 0);
	/* the URL's IP is not the certificate's name either */
	get(f, f->ca, NULL, PM_HTTP_TLS_FLAGS_NONE);
	g_assert_error(f->error, PM_ERROR, PM_ERROR_GATEWAY_UNREACHABLE);
	g_assert_cmpuint(pm_test_http_server_get_n_requests(f->server), ==, 0);
}

/* the server's chain is by a CA the client was not given (the system's roots are not
 * asked either) */
static void
test_unknown_ca(Fixture *f, gconstpointer data)
{
	get(f, f->ca, "server.pia.test", PM_HTTP_TLS_FLAGS_NONE);
	g_assert_error(f->error, PM_ERROR, PM_ERROR_GATEWAY_UNREACHABLE);
	g_assert_true(f->tls_errors & G_TLS_CERTIFICATE_UNKNOWN_CA);
	/* a wrong name allowed does not let an unknown CA through */
	get(f, f->ca, NULL, PM_HTTP_TLS_FLAGS_ALLOW_BAD_IDENTITY);
	g_assert_error(f->error, PM_ERROR, PM_ERROR_GATEWAY_UNREACHABLE);
	g_assert_null(f->unverified_name);
	g_assert_cmpuint(pm_test_http_server_get_n_requests(f->server), ==, 0);
}

/* no identity (PIA without Hostname=): the chain verified, the name presented reported */
static void
test_name_unchecked(Fixture *f, gconstpointer data)
{
	get(f, f->ca, NULL, PM_HTTP_TLS_FLAGS_ALLOW_BAD_IDENTITY);
	g_assert_no_error(f->error);
	g_assert_cmpuint(f->status, ==, 200);
	g_assert_nonnull(f->unverified_name);
	g_assert_nonnull(strstr(f->unverified_name, "server.pia.test"));
}

/* a connection verified for one name is not kept alive into a call for another */
static void
test_no_reuse(Fixture *f, gconstpointer data)
{
	get(f, f->ca, "server.pia.test", PM_HTTP_TLS_FLAGS_NONE);
	g_assert_no_error(f->error);
	get(f, f->ca, "other.pia.test", PM_HTTP_TLS_FLAGS_NONE);
	g_assert_error(f->error, PM_ERROR, PM_ERROR_GATEWAY_UNREACHABLE);
	g_assert_cmpuint(pm_test_http_server_get_n_requests(f->server), ==, 1);
	get(f, f->other_ca, "server.pia.test", PM_HTTP_TLS_FLAGS_NONE);
	g_assert_error(f->error, PM_ERROR, PM_ERROR_GATEWAY_UNREACHABLE);
	g_assert_cmpuint(pm_test_http_server_get_n_requests(f->server), ==, 1);
}

/* a pinned call loads no other roots, and the default database trusts nothing */
static void
test_pinned_loads_no_roots(Fixture *f, gconstpointer data)
{
	g_autoptr(GTlsDatabase) fallback = NULL;
	g_autoptr(GTlsCertificate) certificate = pm_test_tls_certificate("server.pem");
	g_autoptr(GSocketConnectable) identity = g_network_address_new("server.pia.test", 443);
	g_autoptr(GError) error = NULL;
	GTlsCertificateFlags flags;

	get(f, f->ca, "server.pia.test", PM_HTTP_TLS_FLAGS_NONE);
	g_assert_no_error(f->error);
	g_assert_false(pm_tls_trust_system_is_loaded());
	/* not glib-networking's own, which would have loaded the system's roots */
	fallback = g_tls_backend_get_default_database(g_tls_backend_get_default());
	g_assert_cmpstr(G_OBJECT_TYPE_NAME(fallback), ==, "PmTlsNoTrust");
	flags = g_tls_database_verify_chain(fallback, certificate,
					    G_TLS_DATABASE_PURPOSE_AUTHENTICATE_SERVER, identity,
					    NULL, G_TLS_DATABASE_VERIFY_NONE, NULL, &error);
	g_assert_no_error(error);
	g_assert_cmpuint(flags, ==, G_TLS_CERTIFICATE_UNKNOWN_CA);
	/* the same chain the CA given verifies */
	flags = g_tls_database_verify_chain(f->ca, certificate,
					    G_TLS_DATABASE_PURPOSE_AUTHENTICATE_SERVER, identity,
					    NULL, G_TLS_DATABASE_VERIFY_NONE, NULL, &error);
	g_assert_no_error(error);
	g_assert_cmpuint(flags, ==, 0);
}

static void
set_system_roots(const char *name)
{
	g_autofree char *path = pm_test_tls_path(name);
	g_setenv("SSL_CERT_FILE", path, TRUE);
}

/* token.pem names 127.0.0.1, by ca.pem */
static void
test_system_roots(Fixture *f, gconstpointer data)
{
	set_system_roots("ca.pem");
	get(f, NULL, NULL, PM_HTTP_TLS_FLAGS_NONE);
	g_assert_no_error(f->error);
	g_assert_cmpuint(f->status, ==, 200);
	/* held by the kept-alive connection, which the next call reuses */
	g_assert_true(pm_tls_trust_system_is_loaded());
	get(f, NULL, NULL, PM_HTTP_TLS_FLAGS_NONE);
	g_assert_no_error(f->error);
	g_assert_cmpuint(pm_test_http_server_get_n_requests(f->server), ==, 2);
}

static void
test_system_roots_unknown_ca(Fixture *f, gconstpointer data)
{
	set_system_roots("other-ca.pem");
	get(f, NULL, NULL, PM_HTTP_TLS_FLAGS_NONE);
	g_assert_error(f->error, PM_ERROR, PM_ERROR_GATEWAY_UNREACHABLE);
	g_assert_cmpuint(pm_test_http_server_get_n_requests(f->server), ==, 0);
}

/* roots that cannot be read: the call fails and says which file, nothing is sent */
static void
test_system_roots_missing(Fixture *f, gconstpointer data)
{
	set_system_roots("no-such-file.pem");
	get(f, NULL, NULL, PM_HTTP_TLS_FLAGS_NONE);
	g_assert_error(f->error, PM_ERROR, PM_ERROR_FAILED);
	g_assert_nonnull(strstr(f->error->message, "certificate authorities"));
	g_assert_nonnull(strstr(f->error->message, "no-such-file.pem"));
	g_assert_false(pm_tls_trust_system_is_loaded());
	g_assert_cmpuint(pm_test_http_server_get_n_requests(f->server), ==, 0);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	pm_test_log_init();

#define ADD(path, func, pem)                                                                     \
	g_test_add("/http-call-tls/" path, Fixture, pem, fixture_setup, func, fixture_teardown)
	ADD("verified", test_verified, NULL);
	ADD("wrong-name", test_wrong_name, NULL);
	ADD("unknown-ca", test_unknown_ca, "other-server.pem");
	ADD("name-unchecked", test_name_unchecked, NULL);
	ADD("no-reuse", test_no_reuse, NULL);
	ADD("pinned-loads-no-roots", test_pinned_loads_no_roots, NULL);
	ADD("system-roots", test_system_roots, "token.pem");
	ADD("system-roots-unknown-ca", test_system_roots_unknown_ca, "token.pem");
	ADD("system-roots-missing", test_system_roots_missing, "token.pem");
#undef ADD
	return g_test_run();
}
