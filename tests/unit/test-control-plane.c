/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The control-plane reporter (stun/control-plane.c) against an in-process HTTP server on
 * 127.0.0.1 (test-http-server.c), on virtual time for its timeout: the PUT's path, body and
 * bearer (present, absent, from a file or a credential, read again after a 401), a reply
 * with peers, malformed replies, 401 and 500, the server down, a token that cannot be read,
 * a report that replaces the one on the wire, the timeout, and what the status getters say.
 * The reporter logs nothing: a warning fails every test.
 */
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "context.h"
#include "control-plane.h"
#include "errors.h"
#include "secrets.h"
#include "test-http-server.h"
#include "test-log.h"

#define SEC(x) ((guint64)(x) * G_USEC_PER_SEC)
/* virtual time: 2023-11-14T22:13:20Z */
#define REALTIME_START SEC(1700000000)
#define TOKEN "s3cret-token"
#define KEY1 "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE="
#define KEY2 "AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI="
#define KEY3 "AwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwM="
#define PEERS_REPLY                                                                              \
	"{\"peer_endpoints\": ["                                                                 \
	"{\"peer_id\": \"" KEY1 "\", \"endpoint\": \"203.0.113.5:54321\"}, "                    \
	"{\"peer_id\": \"" KEY2 "\", \"endpoint\": \"\"}, "                                     \
	"{\"peer_id\": \"" KEY3 "\", \"endpoint\": \"[2001:db8::1]:51820\"}]}"

typedef struct {
	char *method;
	char *path;
	char *authorization;
	char *content_type;
	char *body;
} Seen;

typedef struct {
	PmScheduler *scheduler;
	PmContext *context;
	PmTestHttpServer *server;
	PmControlPlane *cp;
	char *token_path;
	/* what the server does with the next requests */
	guint status;
	const char *reason;
	const char *reply;
	gboolean hold;
	GPtrArray *held; /* of PmTestHttpRequest * */
	GPtrArray *seen; /* of Seen * */
	/* what done saw */
	guint done;
	GError *error;
	PmPeerEndpoints *peers;
	gboolean free_in_done;
} Fixture;

static void
seen_free(Seen *seen)
{
	g_free(seen->method);
	g_free(seen->path);
	g_free(seen->authorization);
	g_free(seen->content_type);
	g_free(seen->body);
	g_free(seen);
}

static void
server_cb(PmTestHttpServer *server, PmTestHttpRequest *request, gpointer user_data)
{
	Fixture *f = user_data;
	Seen *seen = g_new0(Seen, 1);

	seen->method = g_strdup(request->method);
	seen->path = g_strdup(request->path);
	seen->authorization = g_strdup(pm_test_http_request_get_header(request, "Authorization"));
	seen->content_type = g_strdup(pm_test_http_request_get_header(request, "Content-Type"));
	seen->body = g_strndup(g_bytes_get_size(request->body) > 0
				   ? g_bytes_get_data(request->body, NULL)
				   : "",
			       g_bytes_get_size(request->body));
	g_ptr_array_add(f->seen, seen);
	if (f->hold) {
		g_ptr_array_add(f->held, request);
		return;
	}
	pm_test_http_request_respond(request, f->status, f->reason, "application/json", f->reply,
				     NULL);
}

/* a [ControlPlane] as the configuration reader makes it, with @extra keys */
static PmControlPlaneConfig *
load_config(Fixture *f, const char *url, const char *extra)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *text = g_strdup_printf("[STUN]\nServers=127.0.0.1\n[ControlPlane]\n"
						"URL=%s\nNodeID=node-1\n%s",
						url, extra != NULL ? extra : "");
	g_autoptr(PmConfig) config = pm_config_load_from_data(text, strlen(text), "test.conf",
							      &error);

	g_assert_no_error(error);
	return pm_control_plane_config_ref(config->control_plane);
}

static void
reporter_new(Fixture *f, const char *extra)
{
	g_autoptr(PmControlPlaneConfig) config =
	    load_config(f, pm_test_http_server_get_url(f->server), extra);

	g_clear_pointer(&f->cp, pm_control_plane_free);
	f->cp = pm_control_plane_new(f->context, config);
}

static void
fixture_setup(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	int fd;

	pm_test_log_clear();
	f->scheduler = pm_scheduler_new_manual(SEC(1), REALTIME_START, 1);
	f->context = pm_context_new(f->scheduler, PM_SECRET_POLICY_STRICT);
	f->held = g_ptr_array_new();
	f->seen = g_ptr_array_new_with_free_func((GDestroyNotify)seen_free);
	f->status = 200;
	f->reason = "OK";
	f->reply = PEERS_REPLY;
	f->server = pm_test_http_server_new(server_cb, f);
	fd = g_file_open_tmp("portmap-cp-token-XXXXXX", &f->token_path, &error);
	g_assert_no_error(error);
	g_assert_cmpint(fchmod(fd, 0600), ==, 0);
	g_assert_cmpint(write(fd, TOKEN "\n", strlen(TOKEN) + 1), ==, (gssize)strlen(TOKEN) + 1);
	close(fd);
	reporter_new(f, NULL);
}

static void
fixture_teardown(Fixture *f, gconstpointer data)
{
	g_clear_pointer(&f->cp, pm_control_plane_free);
	for (guint i = 0; i < f->held->len; i++)
		pm_test_http_request_respond(g_ptr_array_index(f->held, i), 500, NULL, NULL, NULL,
					     NULL);
	g_ptr_array_unref(f->held);
	pm_test_http_server_free(f->server);
	pm_context_free(f->context);
	pm_scheduler_free(f->scheduler);
	/* what the closed connections left to run */
	while (g_main_context_iteration(NULL, FALSE))
		;
	g_ptr_array_unref(f->seen);
	g_clear_error(&f->error);
	pm_peer_endpoints_free(f->peers);
	g_unlink(f->token_path);
	g_free(f->token_path);
	pm_secret_clear_imported_credentials();
	pm_test_assert_no_warnings();
}

static void
done_cb(const PmPeerEndpoints *peers, const GError *error, gpointer user_data)
{
	Fixture *f = user_data;

	f->done++;
	g_clear_error(&f->error);
	g_clear_pointer(&f->peers, pm_peer_endpoints_free);
	/* one or the other */
	g_assert_true((peers == NULL) != (error == NULL));
	if (error != NULL)
		f->error = g_error_copy(error);
	else
		f->peers = pm_peer_endpoints_copy(peers);
	if (f->free_in_done)
		g_clear_pointer(&f->cp, pm_control_plane_free);
}

/* the main loop until @cond, for at most 5 s */
#define ITERATE_UNTIL(cond)                                                                      \
	do {                                                                                     \
		gint64 give_up = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;                    \
		while (!(cond)) {                                                                \
			g_assert_cmpint(g_get_monotonic_time(), <, give_up);                    \
			g_main_context_iteration(NULL, TRUE);                                    \
		}                                                                                \
	} while (0)

/* a little of the main loop, for what must not happen */
static void
spin(void)
{
	gint64 deadline = g_get_monotonic_time() + 100 * G_TIME_SPAN_MILLISECOND;
	while (g_get_monotonic_time() < deadline)
		g_main_context_iteration(NULL, FALSE);
}

static void
report(Fixture *f)
{
	guint done = f->done;

	pm_control_plane_report(f->cp, "198.51.100.7:51820", "full_cone", done_cb, f);
	/* never from inside the call */
	g_assert_cmpuint(f->done, ==, done);
	g_assert_true(pm_control_plane_is_busy(f->cp));
	ITERATE_UNTIL(f->done > done);
	g_assert_cmpuint(f->done, ==, done + 1);
	g_assert_false(pm_control_plane_is_busy(f->cp));
}

static Seen *
last_seen(Fixture *f)
{
	g_assert_cmpuint(f->seen->len, >, 0);
	return g_ptr_array_index(f->seen, f->seen->len - 1);
}

/* "PUT http://127.0.0.1:PORT/v1/nodes/node-1/endpoint: " */
static char *
request_prefix(Fixture *f)
{
	return g_strdup_printf("PUT %s: ", pm_control_plane_get_url(f->cp));
}

static void
test_put(Fixture *f, gconstpointer data)
{
	g_autofree char *url = g_strdup_printf("%s/v1/nodes/node-1/endpoint",
					       pm_test_http_server_get_url(f->server));
	const PmPeerEndpoints *kept;
	Seen *seen;

	g_assert_cmpstr(pm_control_plane_get_url(f->cp), ==, url);
	/* nothing yet */
	g_assert_cmpuint(pm_control_plane_get_last_report_time(f->cp), ==, 0);
	g_assert_cmpuint(pm_control_plane_get_last_success_time(f->cp), ==, 0);
	g_assert_null(pm_control_plane_get_last_error(f->cp));
	g_assert_cmpuint(pm_control_plane_get_last_status(f->cp), ==, 0);
	g_assert_cmpuint(pm_control_plane_get_n_peers(f->cp), ==, 0);
	g_assert_null(pm_control_plane_get_peers(f->cp));
	g_assert_false(pm_control_plane_is_busy(f->cp));

	report(f);
	seen = last_seen(f);
	g_assert_cmpstr(seen->method, ==, "PUT");
	g_assert_cmpstr(seen->path, ==, "/v1/nodes/node-1/endpoint");
	g_assert_cmpstr(seen->content_type, ==, "application/json");
	g_assert_cmpstr(seen->body, ==,
			"{\"public_endpoint\":\"198.51.100.7:51820\",\"nat_type\":\"full_cone\"}");
	/* no token configured: no header */
	g_assert_null(seen->authorization);

	/* the peers with an endpoint, in order */
	g_assert_no_error(f->error);
	g_assert_cmpuint(f->peers->n_peers, ==, 2);
	g_assert_cmpuint(f->peers->n_skipped, ==, 1);
	g_assert_cmpstr(f->peers->peers[0].peer_id, ==, KEY1);
	g_assert_cmpstr(f->peers->peers[0].endpoint, ==, "203.0.113.5:54321");
	g_assert_cmpstr(f->peers->peers[1].peer_id, ==, KEY3);
	g_assert_cmpstr(f->peers->peers[1].endpoint, ==, "[2001:db8::1]:51820");

	/* Describe()'s status */
	g_assert_cmpuint(pm_control_plane_get_last_report_time(f->cp), ==, REALTIME_START);
	g_assert_cmpuint(pm_control_plane_get_last_success_time(f->cp), ==, REALTIME_START);
	g_assert_null(pm_control_plane_get_last_error(f->cp));
	g_assert_cmpuint(pm_control_plane_get_last_status(f->cp), ==, 200);
	g_assert_cmpuint(pm_control_plane_get_n_peers(f->cp), ==, 2);
	kept = pm_control_plane_get_peers(f->cp);
	g_assert_true(pm_peer_endpoints_equal(kept, f->peers));

	/* a second report, later, on the kept-alive connection */
	pm_scheduler_advance(f->scheduler, SEC(60));
	f->reply = "{\"peer_endpoints\": []}";
	f->status = 201;
	f->reason = "Created";
	report(f);
	g_assert_cmpuint(f->seen->len, ==, 2);
	g_assert_cmpuint(pm_test_http_server_get_n_accepted(f->server), ==, 1);
	g_assert_cmpuint(f->peers->n_peers, ==, 0);
	g_assert_cmpuint(pm_control_plane_get_n_peers(f->cp), ==, 0);
	g_assert_cmpuint(pm_control_plane_get_last_status(f->cp), ==, 201);
	g_assert_cmpuint(pm_control_plane_get_last_report_time(f->cp), ==,
			 REALTIME_START + SEC(60));

	/* 204: no peers either */
	f->reply = NULL;
	f->status = 204;
	f->reason = "No Content";
	report(f);
	g_assert_no_error(f->error);
	g_assert_cmpuint(f->peers->n_peers, ==, 0);
}

/* URL= with a path and a trailing slash: one slash before v1 */
static void
test_url_path(Fixture *f, gconstpointer data)
{
	g_autofree char *base = g_strdup_printf("%s/mesh/api/", pm_test_http_server_get_url(f->server));
	g_autoptr(PmControlPlaneConfig) config = load_config(f, base, NULL);
	g_autoptr(PmControlPlaneConfig) other = load_config(f, base, "NodeID=other.node\n");

	pm_control_plane_free(f->cp);
	f->cp = pm_control_plane_new(f->context, config);
	report(f);
	g_assert_cmpstr(last_seen(f)->path, ==, "/mesh/api/v1/nodes/node-1/endpoint");
	g_assert_no_error(f->error);

	/* a reload's configuration goes for the next report */
	pm_control_plane_set_config(f->cp, other);
	g_assert_true(pm_control_plane_get_config(f->cp) == other);
	report(f);
	g_assert_cmpstr(last_seen(f)->path, ==, "/mesh/api/v1/nodes/other.node/endpoint");
}

/* the bearer token from TokenFile= (read at each report) and from TokenCredential= */
static void
test_bearer(Fixture *f, gconstpointer data)
{
	g_autofree char *extra = g_strdup_printf("TokenFile=%s\n", f->token_path);
	g_autoptr(GError) error = NULL;

	reporter_new(f, extra);
	report(f);
	g_assert_no_error(f->error);
	g_assert_cmpstr(last_seen(f)->authorization, ==, "Bearer " TOKEN);
	g_assert_cmpstr(last_seen(f)->body, ==,
			"{\"public_endpoint\":\"198.51.100.7:51820\",\"nat_type\":\"full_cone\"}");

	/* read once: a token rotated on disk is used once the old one is refused */
	g_file_set_contents(f->token_path, "rotated-token", -1, &error);
	g_assert_no_error(error);
	g_assert_cmpint(g_chmod(f->token_path, 0600), ==, 0);
	report(f);
	g_assert_cmpstr(last_seen(f)->authorization, ==, "Bearer " TOKEN);
	f->status = 401;
	f->reason = "Unauthorized";
	report(f);
	g_assert_error(f->error, PM_ERROR, PM_ERROR_REFUSED);
	g_assert_cmpstr(last_seen(f)->authorization, ==, "Bearer " TOKEN);
	f->status = 200;
	f->reason = "OK";
	report(f);
	g_assert_no_error(f->error);
	g_assert_cmpstr(last_seen(f)->authorization, ==, "Bearer rotated-token");

	pm_secret_import_credential("cp-token", "credential-token");
	reporter_new(f, "TokenCredential=cp-token\n");
	report(f);
	g_assert_no_error(f->error);
	g_assert_cmpstr(last_seen(f)->authorization, ==, "Bearer credential-token");
}

/* a token that cannot be read fails that report, from the main loop, and nothing is sent */
static void
test_token_unreadable(Fixture *f, gconstpointer data)
{
	g_autofree char *prefix = NULL;

	reporter_new(f, "TokenFile=/nonexistent/portmap-cp.token\n");
	prefix = g_strdup_printf("PUT %s: the token could not be read: ",
				 pm_control_plane_get_url(f->cp));
	report(f);
	g_assert_error(f->error, PM_ERROR, PM_ERROR_INVALID_CONFIGURATION);
	g_assert_true(g_str_has_prefix(f->error->message, prefix));
	g_assert_nonnull(strstr(f->error->message, "/nonexistent/portmap-cp.token"));
	g_assert_cmpuint(f->seen->len, ==, 0);
	g_assert_cmpstr(pm_control_plane_get_last_error(f->cp), ==, f->error->message);
	g_assert_cmpuint(pm_control_plane_get_last_status(f->cp), ==, 0);
	g_assert_cmpuint(pm_control_plane_get_last_report_time(f->cp), ==, REALTIME_START);
	g_assert_cmpuint(pm_control_plane_get_last_success_time(f->cp), ==, 0);

	/* ... and a report made then cancelled never runs done */
	pm_control_plane_report(f->cp, "198.51.100.7:51820", "none", done_cb, f);
	pm_control_plane_cancel(f->cp);
	spin();
	g_assert_cmpuint(f->done, ==, 1);
}

/* malformed replies: refused with what is wrong; the peers of the last success are kept */
static void
test_malformed(Fixture *f, gconstpointer data)
{
	g_autofree char *prefix = request_prefix(f);
	static const struct {
		const char *reply;
		const char *message;
	} cases[] = {
	    {"", "HTTP 200 OK but not a control plane reply: the body is empty"},
	    {"<html>", "HTTP 200 OK but not a control plane reply: the body is not a JSON object: "
		       "<html>"},
	    {"{\"peer_endpoints\": {}}",
	     "HTTP 200 OK but not a control plane reply: \"peer_endpoints\" is not an array: "
	     "{\"peer_endpoints\": {}}"},
	    {"{\"peer_endpoints\": [{\"peer_id\": 1, \"endpoint\": \"1.2.3.4:5\"}]}",
	     "HTTP 200 OK but not a control plane reply: peer_endpoints[0].peer_id is not a "
	     "string: "},
	    {"{\"peer_endpoints\": [{\"peer_id\": \"" KEY1 "\", \"endpoint\": false}]}",
	     "HTTP 200 OK but not a control plane reply: peer_endpoints[0].endpoint is not a "
	     "string: "},
	};

	report(f);
	g_assert_cmpuint(pm_control_plane_get_n_peers(f->cp), ==, 2);
	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autofree char *expected = g_strconcat(prefix, cases[i].message, NULL);

		f->reply = cases[i].reply;
		pm_scheduler_advance(f->scheduler, SEC(1));
		report(f);
		g_assert_error(f->error, PM_ERROR, PM_ERROR_FAILED);
		if (!g_str_has_prefix(f->error->message, expected))
			g_error("case %u: \"%s\" does not start with \"%s\"", i, f->error->message,
				expected);
		g_assert_null(f->peers);
		g_assert_cmpstr(pm_control_plane_get_last_error(f->cp), ==, f->error->message);
		g_assert_cmpuint(pm_control_plane_get_last_status(f->cp), ==, 200);
		g_assert_cmpuint(pm_control_plane_get_last_report_time(f->cp), ==,
				 REALTIME_START + SEC(i + 1));
		/* what the last success returned stays */
		g_assert_cmpuint(pm_control_plane_get_last_success_time(f->cp), ==, REALTIME_START);
		g_assert_cmpuint(pm_control_plane_get_n_peers(f->cp), ==, 2);
	}
	/* and a success clears the error */
	f->reply = PEERS_REPLY;
	report(f);
	g_assert_null(pm_control_plane_get_last_error(f->cp));
}

/* 401 says the token was refused, and the token is not in the message even when the server
 * echoes it; without a token, that one is wanted */
static void
test_unauthorized(Fixture *f, gconstpointer data)
{
	g_autofree char *extra = g_strdup_printf("TokenFile=%s\n", f->token_path);
	g_autofree char *prefix = NULL;
	g_autofree char *expected = NULL;

	f->status = 401;
	f->reason = "Unauthorized";
	f->reply = "{\"error\": \"bad token " TOKEN "\"}";
	reporter_new(f, extra);
	prefix = request_prefix(f);
	report(f);
	expected = g_strconcat(prefix, "HTTP 401 Unauthorized: the control plane refused the token "
					"(check TokenCredential= or TokenFile=): {\"error\": \"bad "
					"token [redacted]\"}",
			       NULL);
	g_assert_error(f->error, PM_ERROR, PM_ERROR_REFUSED);
	g_assert_cmpstr(f->error->message, ==, expected);
	g_assert_null(strstr(pm_control_plane_get_last_error(f->cp), TOKEN));
	g_assert_cmpuint(pm_control_plane_get_last_status(f->cp), ==, 401);

	reporter_new(f, NULL);
	f->status = 403;
	f->reason = "Forbidden";
	f->reply = "";
	report(f);
	g_clear_pointer(&expected, g_free);
	expected = g_strconcat(prefix, "HTTP 403 Forbidden: the control plane wants a token (set "
					"TokenCredential= or TokenFile=)",
			       NULL);
	g_assert_error(f->error, PM_ERROR, PM_ERROR_REFUSED);
	g_assert_cmpstr(f->error->message, ==, expected);
}

static void
test_server_error(Fixture *f, gconstpointer data)
{
	g_autofree char *prefix = request_prefix(f);
	g_autofree char *expected = g_strconcat(prefix, "HTTP 500 Internal Server Error: database "
							"is down",
						NULL);

	f->status = 500;
	f->reason = "Internal Server Error";
	f->reply = "database\nis down\n";
	report(f);
	g_assert_error(f->error, PM_ERROR, PM_ERROR_FAILED);
	g_assert_cmpstr(f->error->message, ==, expected);
	g_assert_cmpuint(pm_control_plane_get_last_status(f->cp), ==, 500);

	/* 404: NodeID= or URL= */
	f->status = 404;
	f->reason = "Not Found";
	f->reply = "";
	report(f);
	g_assert_error(f->error, PM_ERROR, PM_ERROR_REFUSED);
	g_assert_true(g_str_has_suffix(f->error->message, "HTTP 404 Not Found: the control plane "
							  "does not know this node (check NodeID=) "
							  "or URL= is not its base URL"));
}

/* the control plane down: an error for that report, and the next one goes when it is back */
static void
test_server_down(Fixture *f, gconstpointer data)
{
	g_autofree char *prefix = request_prefix(f);

	report(f);
	g_assert_no_error(f->error);
	pm_test_http_server_stop(f->server);
	report(f);
	g_assert_error(f->error, PM_ERROR, PM_ERROR_GATEWAY_UNREACHABLE);
	g_assert_true(g_str_has_prefix(f->error->message, prefix));
	g_assert_cmpuint(pm_control_plane_get_last_status(f->cp), ==, 0);
	g_assert_nonnull(pm_control_plane_get_last_error(f->cp));
	/* the peers it last returned stay */
	g_assert_cmpuint(pm_control_plane_get_n_peers(f->cp), ==, 2);

	pm_test_http_server_start(f->server);
	report(f);
	g_assert_no_error(f->error);
	g_assert_null(pm_control_plane_get_last_error(f->cp));
	g_assert_cmpuint(f->seen->len, ==, 2);
}

/* a report while one is on the wire replaces it: the older one's done never runs */
static void
test_replaced(Fixture *f, gconstpointer data)
{
	f->hold = TRUE;
	pm_control_plane_report(f->cp, "198.51.100.7:1111", "symmetric", done_cb, f);
	ITERATE_UNTIL(f->held->len == 1);
	f->hold = FALSE;
	pm_control_plane_report(f->cp, "198.51.100.7:2222", "full_cone", done_cb, f);
	g_assert_true(pm_control_plane_is_busy(f->cp));
	ITERATE_UNTIL(f->done > 0);
	g_assert_cmpuint(f->done, ==, 1);
	g_assert_no_error(f->error);
	g_assert_cmpuint(f->seen->len, ==, 2);
	g_assert_cmpstr(last_seen(f)->body, ==,
			"{\"public_endpoint\":\"198.51.100.7:2222\",\"nat_type\":\"full_cone\"}");
	/* the first one is answered after all: nobody listens */
	pm_test_http_request_respond(g_ptr_array_index(f->held, 0), 500, "Late", NULL, "late",
				     NULL);
	g_ptr_array_set_size(f->held, 0);
	spin();
	g_assert_cmpuint(f->done, ==, 1);
	g_assert_no_error(f->error);
	g_assert_cmpuint(pm_control_plane_get_last_status(f->cp), ==, 200);
}

/* no reply within 10 s: an error, on the scheduler's time */
static void
test_timeout(Fixture *f, gconstpointer data)
{
	f->hold = TRUE;
	pm_control_plane_report(f->cp, "198.51.100.7:51820", "unknown", done_cb, f);
	ITERATE_UNTIL(f->held->len == 1);
	pm_scheduler_advance(f->scheduler, (guint64)PM_CONTROL_PLANE_TIMEOUT_MSEC * 1000 - 1);
	spin();
	g_assert_cmpuint(f->done, ==, 0);
	pm_scheduler_advance(f->scheduler, 1);
	ITERATE_UNTIL(f->done > 0);
	g_assert_error(f->error, PM_ERROR, PM_ERROR_GATEWAY_UNREACHABLE);
	g_assert_true(g_str_has_suffix(f->error->message, "no reply within 10000 ms"));
}

/* freed with a report on the wire: done never runs; freed from done: nothing touched after */
static void
test_free(Fixture *f, gconstpointer data)
{
	f->hold = TRUE;
	pm_control_plane_report(f->cp, "198.51.100.7:51820", "none", done_cb, f);
	ITERATE_UNTIL(f->held->len == 1);
	g_clear_pointer(&f->cp, pm_control_plane_free);
	pm_test_http_request_respond(g_ptr_array_index(f->held, 0), 200, "OK", NULL, PEERS_REPLY,
				     NULL);
	g_ptr_array_set_size(f->held, 0);
	spin();
	g_assert_cmpuint(f->done, ==, 0);

	f->hold = FALSE;
	reporter_new(f, NULL);
	f->free_in_done = TRUE;
	pm_control_plane_report(f->cp, "198.51.100.7:51820", "none", done_cb, f);
	ITERATE_UNTIL(f->done > 0);
	g_assert_null(f->cp);
	g_assert_no_error(f->error);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	pm_test_log_init();

#define ADD(path, func)                                                                          \
	g_test_add("/control-plane/" path, Fixture, NULL, fixture_setup, func, fixture_teardown)
	ADD("put", test_put);
	ADD("url-path", test_url_path);
	ADD("bearer", test_bearer);
	ADD("token-unreadable", test_token_unreadable);
	ADD("malformed", test_malformed);
	ADD("unauthorized", test_unauthorized);
	ADD("server-error", test_server_error);
	ADD("server-down", test_server_down);
	ADD("replaced", test_replaced);
	ADD("timeout", test_timeout);
	ADD("free", test_free);
#undef ADD
	return g_test_run();
}
