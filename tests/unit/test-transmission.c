/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * [Consumer NAME] Type=transmission (consumers/transmission.c on port-setter.c) against a
 * fake Transmission RPC on 127.0.0.1 (test-http-server.c) that behaves as 3.00 does: Basic
 * auth first (401), then the CSRF session id (409 with a new one), then the method. On
 * virtual time for the engine's backoff. Then its keys and Describe().
 */
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "consumer.h"
#include "consumers/transmission.h"
#include "test-config-load.h"
#include "test-http-server.h"
#include "test-log.h"

#define SEC(x) ((guint64)(x) * G_USEC_PER_SEC)
#define PASSWORD "s3cret pass"

typedef struct {
	char *method;	     /* "session-get"..., or "" if the body is not an RPC */
	char *session_id;    /* the header, or NULL */
	char *authorization; /* the header, or NULL */
	gint64 peer_port;    /* session-set's, else -1 */
	guint status;	     /* the answer */
} Request;

typedef struct {
	PmScheduler *scheduler;
	PmContext *context;
	PmTestHttpServer *server;
	char *url;
	char *password_path;
	GPtrArray *requests; /* of Request */
	GPtrArray *reports;  /* "ID:state:error" */
	PmConsumer *consumer;
	/* the fake's state */
	char *session_id;
	guint n_ids;
	char *authorization; /* required, or NULL */
	gint64 peer_port;
	gboolean random_on_start;
	gboolean port_forwarding;
	gboolean ignore_set;	 /* answers success and changes nothing */
	guint rotate_at;	 /* the request of this number (1-based) finds a new id */
	gboolean always_409;	 /* a new id on every request */
	guint refuse;		 /* 403 (rpc-whitelist) or 421 (rpc-host-whitelist) to all */
	GArray *statuses;	 /* forced answers to the next requests that pass the checks */
	const char *reply;	 /* the body of the next 200, instead of the real one */
} Fixture;

static void
request_free(Request *request)
{
	g_free(request->method);
	g_free(request->session_id);
	g_free(request->authorization);
	g_free(request);
}

static void
rotate_id(Fixture *f)
{
	g_free(f->session_id);
	f->session_id = g_strdup_printf("id%uAbCdEfGhIjKlMnOpQrStUvWxYz0123456789abc", ++f->n_ids);
}

static void
respond(Request *request, PmTestHttpRequest *http, guint status, const char *reason,
	const char *body, const char *headers)
{
	request->status = status;
	pm_test_http_request_respond(http, status, reason,
				     status == 200 ? "application/json" : "text/html; charset=ISO-8859-1",
				     body, headers);
}

/* transmission-daemon 3.00's order: the whitelists, auth, then the session id, then the
 * RPC */
static void
server_cb(PmTestHttpServer *server, PmTestHttpRequest *http, gpointer user_data)
{
	Fixture *f = user_data;
	Request *request = g_new0(Request, 1);
	g_autoptr(JsonParser) parser = json_parser_new();
	gsize len;
	const char *data = g_bytes_get_data(http->body, &len);
	JsonObject *rpc = NULL;
	JsonObject *arguments = NULL;
	g_autofree char *reply = NULL;
	gint64 tag = 0;

	request->session_id =
	    g_strdup(pm_test_http_request_get_header(http, "X-Transmission-Session-Id"));
	request->authorization = g_strdup(pm_test_http_request_get_header(http, "Authorization"));
	request->peer_port = -1;
	g_ptr_array_add(f->requests, request);
	g_assert_cmpstr(http->method, ==, "POST");
	g_assert_cmpstr(http->path, ==, "/transmission/rpc");
	g_assert_cmpstr(pm_test_http_request_get_header(http, "Content-Type"), ==,
			"application/json");
	if (data != NULL && json_parser_load_from_data(parser, data, (gssize)len, NULL) &&
	    JSON_NODE_HOLDS_OBJECT(json_parser_get_root(parser))) {
		rpc = json_node_get_object(json_parser_get_root(parser));
		arguments = json_object_get_object_member(rpc, "arguments");
		tag = json_object_get_int_member(rpc, "tag");
		request->method = g_strdup(json_object_get_string_member(rpc, "method"));
		if (arguments != NULL && json_object_has_member(arguments, "peer-port"))
			request->peer_port = json_object_get_int_member(arguments, "peer-port");
	} else {
		request->method = g_strdup("");
	}

	if (f->refuse != 0) {
		respond(request, http, f->refuse,
			f->refuse == 403 ? "Forbidden" : "Misdirected Request", "<h1>no</h1>", NULL);
		return;
	}
	if (f->authorization != NULL && g_strcmp0(request->authorization, f->authorization) != 0) {
		respond(request, http, 401, "Unauthorized", "<h1>401: Unauthorized</h1>", NULL);
		return;
	}
	if (f->always_409 || f->requests->len == f->rotate_at)
		rotate_id(f);
	if (g_strcmp0(request->session_id, f->session_id) != 0) {
		g_autofree char *header =
		    g_strdup_printf("X-Transmission-Session-Id: %s\r\n", f->session_id);
		respond(request, http, 409, "Conflict", "<h1>409: Conflict</h1>", header);
		return;
	}
	if (f->statuses->len > 0) {
		guint status = g_array_index(f->statuses, guint, 0);
		g_array_remove_index(f->statuses, 0);
		respond(request, http, status, "Oops", "<h1>no</h1>", NULL);
		return;
	}
	if (f->reply != NULL) {
		respond(request, http, 200, "OK", f->reply, NULL);
		f->reply = NULL;
		return;
	}
	if (g_strcmp0(request->method, "session-set") == 0) {
		g_assert_nonnull(arguments);
		g_assert_false(json_object_get_boolean_member(arguments, "peer-port-random-on-start"));
		g_assert_false(json_object_get_boolean_member(arguments, "port-forwarding-enabled"));
		if (!f->ignore_set) {
			f->peer_port = request->peer_port;
			f->random_on_start = FALSE;
			f->port_forwarding = FALSE;
		}
		reply = g_strdup_printf("{\"arguments\":{},\"result\":\"success\","
					"\"tag\":%" G_GINT64_FORMAT "}",
					tag);
	} else if (g_strcmp0(request->method, "session-get") == 0) {
		reply = g_strdup_printf(
		    "{\"arguments\":{\"peer-port\":%" G_GINT64_FORMAT
		    ",\"peer-port-random-on-start\":%s,"
		    "\"port-forwarding-enabled\":%s,\"rpc-version\":16},\"result\":\"success\","
		    "\"tag\":%" G_GINT64_FORMAT "}",
		    f->peer_port, f->random_on_start ? "true" : "false",
		    f->port_forwarding ? "true" : "false", tag);
	} else {
		reply = g_strdup_printf("{\"arguments\":{},\"result\":\"method name not "
					"recognized\",\"tag\":%" G_GINT64_FORMAT "}",
					tag);
	}
	respond(request, http, 200, "OK", reply, NULL);
}

static void
report_cb(PmConsumer *consumer, guint64 mapping_id, PmConsumerState state,
	  const char *last_error, gpointer user_data)
{
	Fixture *f = user_data;
	g_ptr_array_add(f->reports,
			g_strdup_printf("%" G_GUINT64_FORMAT ":%s:%s", mapping_id,
					pm_consumer_state_to_string(state),
					last_error != NULL ? last_error : ""));
}

static void
wait_reports(Fixture *f, guint n)
{
	gint64 deadline = g_get_monotonic_time() + SEC(5);
	while (f->reports->len < n && g_get_monotonic_time() < deadline)
		g_main_context_iteration(NULL, FALSE);
	g_assert_cmpuint(f->reports->len, ==, n);
}

/* a little of the main loop, for what must not happen */
static void
spin(void)
{
	gint64 deadline = g_get_monotonic_time() + 100000;
	while (g_get_monotonic_time() < deadline)
		g_main_context_iteration(NULL, FALSE);
}

static const char *
last_report(Fixture *f)
{
	g_assert_cmpuint(f->reports->len, >, 0);
	return g_ptr_array_index(f->reports, f->reports->len - 1);
}

static Request *
request_at(Fixture *f, guint index)
{
	g_assert_cmpuint(f->requests->len, >, index);
	return g_ptr_array_index(f->requests, index);
}

static void
assert_request(Fixture *f, guint index, const char *method, guint status, const char *session_id)
{
	Request *request = request_at(f, index);
	g_assert_cmpstr(request->method, ==, method);
	g_assert_cmpuint(request->status, ==, status);
	g_assert_cmpstr(request->session_id, ==, session_id);
}

static void
fixture_init(Fixture *f)
{
	g_autoptr(GError) error = NULL;
	int fd;

	f->scheduler = pm_scheduler_new_manual(SEC(1), SEC(1700000000), 1);
	f->context = pm_context_new(f->scheduler, PM_SECRET_POLICY_STRICT);
	f->requests = g_ptr_array_new_with_free_func((GDestroyNotify)request_free);
	f->reports = g_ptr_array_new_with_free_func(g_free);
	f->statuses = g_array_new(FALSE, FALSE, sizeof(guint));
	f->peer_port = 6000;
	rotate_id(f);
	f->server = pm_test_http_server_new(server_cb, f);
	f->url = g_strdup_printf("%s/transmission/rpc", pm_test_http_server_get_url(f->server));
	fd = g_file_open_tmp("portmap-transmission-password-XXXXXX", &f->password_path, &error);
	g_assert_no_error(error);
	g_assert_cmpint(fchmod(fd, 0600), ==, 0);
	g_assert_cmpint(write(fd, PASSWORD "\n", strlen(PASSWORD) + 1), ==, (gssize)strlen(PASSWORD) + 1);
	close(fd);
	pm_test_log_clear();
}

/* a consumer of @keys (after Type=transmission and URL=) */
static void
fixture_consumer(Fixture *f, const char *keys)
{
	g_autofree char *text = g_strdup_printf("[Consumer tr]\nType=transmission\nURL=%s\n%s",
						f->url, keys);
	g_autoptr(PmConfig) config = pm_test_config_load_ok(text);
	g_autoptr(GError) error = NULL;

	f->consumer = pm_consumer_new(f->context, pm_config_find_consumer(config, "tr"), &error);
	g_assert_no_error(error);
	pm_consumer_set_report_func(f->consumer, report_cb, f);
}

static void
fixture_clear(Fixture *f)
{
	if (f->consumer != NULL) {
		pm_consumer_set_report_func(f->consumer, NULL, NULL);
		g_clear_pointer(&f->consumer, pm_consumer_unref);
	}
	spin();
	g_clear_pointer(&f->context, pm_context_free);
	spin();
	pm_test_http_server_free(f->server);
	g_clear_pointer(&f->scheduler, pm_scheduler_free);
	g_ptr_array_unref(f->requests);
	g_ptr_array_unref(f->reports);
	g_array_unref(f->statuses);
	g_unlink(f->password_path);
	g_free(f->password_path);
	g_free(f->url);
	g_free(f->session_id);
	g_free(f->authorization);
}

static void
view_init(PmMappingView *view, guint16 internal_port, guint16 external_port)
{
	memset(view, 0, sizeof(*view));
	view->id = 7;
	view->name = "torrent";
	view->provider = "gw";
	view->ports.n_ports = 2;
	view->ports.ports[0] = (PmPortPair){PM_PROTOCOL_TCP, internal_port, external_port};
	view->ports.ports[1] = (PmPortPair){PM_PROTOCOL_UDP, internal_port, external_port};
}

static void
push_up(Fixture *f, guint16 internal_port, PmConsumerPush push)
{
	PmMappingView view;
	/* E differs: Transmission has no announce port, only I goes */
	view_init(&view, internal_port, 40000);
	pm_consumer_mapping_up(f->consumer, &view, &view.ports, push);
}

static void
push_change(Fixture *f, guint16 old_port, guint16 internal_port)
{
	PmMappingView view;
	PmMappingView previous;
	view_init(&view, internal_port, 40000);
	view_init(&previous, old_port, 40000);
	pm_consumer_mapping_changed(f->consumer, &view, &view.ports, &previous.ports);
}

static guint64
next_wait(Fixture *f)
{
	return pm_scheduler_get_next_deadline(f->scheduler) - pm_scheduler_now(f->scheduler);
}

/* the CSRF dance: the first request gets 409 and the id, and goes again with it; an id
 * that expires between two requests of one delivery costs one 409 more */
static void
test_session_id(void)
{
	Fixture f = {0};
	g_autofree char *first_id = NULL;

	fixture_init(&f);
	fixture_consumer(&f, "");
	first_id = g_strdup(f.session_id);
	push_up(&f, 51413, PM_CONSUMER_PUSH_GRANT);
	g_assert_cmpstr(last_report(&f), ==, "7:pending:");
	wait_reports(&f, 2);
	g_assert_cmpstr(last_report(&f), ==, "7:ok:");
	g_assert_cmpuint(f.requests->len, ==, 4);
	assert_request(&f, 0, "session-get", 409, NULL);
	assert_request(&f, 1, "session-get", 200, first_id);
	assert_request(&f, 2, "session-set", 200, first_id);
	g_assert_cmpint(request_at(&f, 2)->peer_port, ==, 51413);
	assert_request(&f, 3, "session-get", 200, first_id);
	g_assert_cmpint(f.peer_port, ==, 51413);
	/* no auth configured: none sent */
	g_assert_null(request_at(&f, 0)->authorization);

	/* the id changes just before the session-set of the next delivery */
	f.rotate_at = 6;
	push_change(&f, 51413, 51414);
	wait_reports(&f, 4);
	g_assert_cmpstr(last_report(&f), ==, "7:ok:");
	g_assert_cmpuint(f.requests->len, ==, 8);
	assert_request(&f, 4, "session-get", 200, first_id);
	assert_request(&f, 5, "session-set", 409, first_id);
	assert_request(&f, 6, "session-set", 200, f.session_id);
	g_assert_cmpint(request_at(&f, 6)->peer_port, ==, 51414);
	assert_request(&f, 7, "session-get", 200, f.session_id);
	g_assert_cmpstr(f.session_id, !=, first_id);
	g_assert_cmpint(f.peer_port, ==, 51414);
	pm_test_assert_no_warnings();
	fixture_clear(&f);
}

/* a 409 to the resent request as well: pending and retried, not a loop */
static void
test_session_id_loop(void)
{
	Fixture f = {0};
	const char *report;

	fixture_init(&f);
	fixture_consumer(&f, "");
	f.always_409 = TRUE;
	push_up(&f, 51413, PM_CONSUMER_PUSH_GRANT);
	wait_reports(&f, 2);
	spin();
	g_assert_cmpuint(f.requests->len, ==, 2);
	report = last_report(&f);
	g_assert_true(g_str_has_prefix(report, "7:pending:POST http://127.0.0.1:"));
	g_assert_nonnull(strstr(report, "/transmission/rpc: HTTP 409 Conflict again after "
					"sending the session id it gave"));
	/* never the id itself */
	g_assert_null(strstr(report, "AbCdEf"));
	g_assert_cmpuint(pm_scheduler_get_n_armed(f.scheduler), ==, 1);
	f.always_409 = FALSE;
	pm_scheduler_advance(f.scheduler, next_wait(&f));
	wait_reports(&f, 3);
	g_assert_cmpstr(last_report(&f), ==, "7:ok:");
	pm_test_log_clear();
	fixture_clear(&f);
}

/* Basic auth on every request; a port already right costs one session-get */
static void
test_basic_auth_already_right(void)
{
	Fixture f = {0};
	g_autofree char *keys = NULL;
	g_autofree char *encoded = g_base64_encode((const guchar *)"admin:" PASSWORD,
						   strlen("admin:" PASSWORD));
	guint n;

	fixture_init(&f);
	f.authorization = g_strdup_printf("Basic %s", encoded);
	keys = g_strdup_printf("Username=admin\nPasswordFile=%s\n", f.password_path);
	fixture_consumer(&f, keys);
	push_up(&f, 51413, PM_CONSUMER_PUSH_GRANT);
	wait_reports(&f, 2);
	g_assert_cmpstr(last_report(&f), ==, "7:ok:");
	g_assert_cmpuint(f.requests->len, ==, 4);
	for (guint i = 0; i < f.requests->len; i++)
		g_assert_cmpstr(request_at(&f, i)->authorization, ==, f.authorization);

	/* a reconcile push with the port still there: one read, nothing set */
	n = f.requests->len;
	push_up(&f, 51413, PM_CONSUMER_PUSH_RECONCILE);
	wait_reports(&f, 4);
	g_assert_cmpstr(last_report(&f), ==, "7:ok:");
	spin();
	g_assert_cmpuint(f.requests->len, ==, n + 1);
	assert_request(&f, n, "session-get", 200, f.session_id);

	/* a port forwarding of its own (UPnP) is not the target either */
	f.port_forwarding = TRUE;
	push_up(&f, 51413, PM_CONSUMER_PUSH_RECONCILE);
	wait_reports(&f, 6);
	g_assert_cmpstr(last_report(&f), ==, "7:ok:");
	g_assert_cmpuint(f.requests->len, ==, n + 4);
	assert_request(&f, n + 2, "session-set", 200, f.session_id);
	g_assert_false(f.port_forwarding);
	pm_test_assert_no_warnings();
	fixture_clear(&f);
}

/* wrong credentials: one request, answered 401, then nothing until Refresh()/Reload() */
static void
test_wrong_credentials(void)
{
	Fixture f = {0};
	g_autofree char *keys = NULL;
	const char *report;
	guint n;

	fixture_init(&f);
	f.authorization = g_strdup("Basic c29tZW9uZTplbHNl");
	keys = g_strdup_printf("Username=admin\nPasswordFile=%s\n", f.password_path);
	fixture_consumer(&f, keys);
	push_up(&f, 51413, PM_CONSUMER_PUSH_GRANT);
	wait_reports(&f, 2);
	spin();
	g_assert_cmpuint(f.requests->len, ==, 1);
	assert_request(&f, 0, "session-get", 401, NULL);
	report = last_report(&f);
	g_assert_true(g_str_has_prefix(report, "7:failed:POST http://127.0.0.1:"));
	g_assert_nonnull(strstr(report, "HTTP 401 Unauthorized: the RPC username or password was "
					"refused"));
	g_assert_nonnull(strstr(report, "no further login until Reload()"));
	g_assert_null(strstr(report, "s3cret"));
	pm_test_assert_warning("HTTP 401");
	g_assert_cmpuint(pm_scheduler_get_n_armed(f.scheduler), ==, 0);

	/* reconcile pushes and port changes send nothing */
	push_up(&f, 51413, PM_CONSUMER_PUSH_RECONCILE);
	push_change(&f, 51413, 51414);
	pm_scheduler_advance(f.scheduler, SEC(3600));
	spin();
	g_assert_cmpuint(f.requests->len, ==, 1);
	g_assert_true(g_str_has_prefix(last_report(&f), "7:failed:"));

	/* Refresh(): one new attempt, with the latest port */
	n = f.reports->len;
	push_up(&f, 51414, PM_CONSUMER_PUSH_RETRY);
	wait_reports(&f, n + 2);
	spin();
	g_assert_cmpuint(f.requests->len, ==, 2);
	assert_request(&f, 1, "session-get", 401, NULL);
	g_assert_true(g_str_has_prefix(last_report(&f), "7:failed:"));
	pm_test_assert_warning("HTTP 401");

	/* the credentials fixed on Transmission's side: the next Refresh() delivers */
	g_clear_pointer(&f.authorization, g_free);
	n = f.reports->len;
	push_up(&f, 51414, PM_CONSUMER_PUSH_RETRY);
	wait_reports(&f, n + 2);
	g_assert_cmpstr(last_report(&f), ==, "7:ok:");
	g_assert_cmpint(f.peer_port, ==, 51414);
	pm_test_log_clear();
	fixture_clear(&f);
}

/* no login configured and Transmission wants one: said so */
static void
test_login_required(void)
{
	Fixture f = {0};

	fixture_init(&f);
	f.authorization = g_strdup("Basic YWRtaW46eA==");
	fixture_consumer(&f, "");
	push_up(&f, 51413, PM_CONSUMER_PUSH_GRANT);
	wait_reports(&f, 2);
	g_assert_nonnull(strstr(last_report(&f), "Transmission asks for a login: set Username= "
						 "and PasswordCredential= or PasswordFile="));
	g_assert_null(request_at(&f, 0)->authorization);
	g_assert_cmpuint(f.requests->len, ==, 1);
	pm_test_log_clear();
	fixture_clear(&f);
}

/* set, but read back another port: pending, and again after the backoff */
static void
test_read_back_mismatch(void)
{
	Fixture f = {0};
	guint64 wait;

	fixture_init(&f);
	fixture_consumer(&f, "");
	f.ignore_set = TRUE;
	push_up(&f, 51413, PM_CONSUMER_PUSH_GRANT);
	wait_reports(&f, 2);
	g_assert_cmpuint(f.requests->len, ==, 4);
	g_assert_cmpstr(last_report(&f), ==,
			"7:pending:listening port 51413 was set, but the application reads back "
			"peer-port 6000");
	g_assert_cmpuint(pm_scheduler_get_n_armed(f.scheduler), ==, 1);
	wait = next_wait(&f);
	g_assert_cmpuint(wait, >=, SEC(2));
	g_assert_cmpuint(wait, <=, SEC(2) + SEC(2) / 4 + 1000);
	pm_scheduler_advance(f.scheduler, wait - 1);
	spin();
	g_assert_cmpuint(f.requests->len, ==, 4);
	f.ignore_set = FALSE;
	pm_scheduler_advance(f.scheduler, 1);
	wait_reports(&f, 3);
	g_assert_cmpstr(last_report(&f), ==, "7:ok:");
	g_assert_cmpuint(f.requests->len, ==, 7);
	g_assert_cmpint(f.peer_port, ==, 51413);
	pm_test_log_clear();
	fixture_clear(&f);
}

/* a reply that is not Transmission's: pending with what is wrong; a refusal: failed */
static void
test_bad_replies(void)
{
	Fixture f = {0};
	const char *report;

	fixture_init(&f);
	fixture_consumer(&f, "");
	f.reply = "{\"arguments\":{\"peer-port\":";
	push_up(&f, 51413, PM_CONSUMER_PUSH_GRANT);
	wait_reports(&f, 2);
	report = last_report(&f);
	g_assert_true(g_str_has_prefix(report, "7:pending:POST http://127.0.0.1:"));
	g_assert_nonnull(strstr(report, "/transmission/rpc: session-get: not a Transmission RPC "
					"reply: the body is not JSON"));
	g_assert_cmpuint(f.requests->len, ==, 2);
	/* the state is untouched: nothing was set */
	g_assert_cmpint(f.peer_port, ==, 6000);

	f.reply = "{\"arguments\":{},\"result\":\"invalid argument\"}";
	push_up(&f, 51413, PM_CONSUMER_PUSH_RETRY);
	wait_reports(&f, 4);
	report = last_report(&f);
	g_assert_true(g_str_has_prefix(report, "7:failed:"));
	g_assert_true(g_str_has_suffix(report, "session-get: Transmission answered \"invalid "
					       "argument\""));
	pm_test_assert_warning("invalid argument");
	g_assert_cmpuint(pm_scheduler_get_n_armed(f.scheduler), ==, 0);

	/* 5xx: retried */
	g_array_append_val(f.statuses, (guint){503});
	push_up(&f, 51413, PM_CONSUMER_PUSH_RETRY);
	wait_reports(&f, 6);
	g_assert_nonnull(strstr(last_report(&f), "7:pending:"));
	g_assert_nonnull(strstr(last_report(&f), "HTTP 503"));
	g_assert_cmpuint(pm_scheduler_get_n_armed(f.scheduler), ==, 1);
	pm_scheduler_advance(f.scheduler, next_wait(&f));
	wait_reports(&f, 7);
	g_assert_cmpstr(last_report(&f), ==, "7:ok:");
	pm_test_log_clear();
	fixture_clear(&f);
}

/* rpc-whitelist (403) and rpc-host-whitelist (421): failed, naming the setting */
static void
test_whitelists(void)
{
	Fixture f = {0};
	guint n;

	fixture_init(&f);
	fixture_consumer(&f, "");
	f.refuse = 403;
	push_up(&f, 51413, PM_CONSUMER_PUSH_GRANT);
	wait_reports(&f, 2);
	g_assert_nonnull(strstr(last_report(&f), "7:failed:"));
	g_assert_nonnull(strstr(last_report(&f), "HTTP 403 Forbidden: Transmission refuses "
						 "portmapd's address: add it to rpc-whitelist"));
	pm_test_assert_warning("HTTP 403");
	g_assert_cmpuint(pm_scheduler_get_n_armed(f.scheduler), ==, 0);
	pm_scheduler_advance(f.scheduler, SEC(600));
	spin();
	g_assert_cmpuint(f.requests->len, ==, 1);

	/* libsoup itself sends a request answered 421 once more, on a new connection */
	f.refuse = 421;
	n = f.requests->len;
	push_up(&f, 51413, PM_CONSUMER_PUSH_RECONCILE);
	wait_reports(&f, 4);
	g_assert_nonnull(strstr(last_report(&f), "HTTP 421 Misdirected Request: Transmission "
						 "does not know the host name of URL=: add it to "
						 "rpc-host-whitelist"));
	pm_test_assert_warning("HTTP 421");
	spin();
	g_assert_cmpuint(f.requests->len, >=, n + 1);
	g_assert_cmpuint(f.requests->len, <=, n + 2);
	g_assert_cmpuint(pm_scheduler_get_n_armed(f.scheduler), ==, 0);
	pm_test_log_clear();
	fixture_clear(&f);
}

/* nobody there: pending, retried */
static void
test_unreachable(void)
{
	Fixture f = {0};

	fixture_init(&f);
	fixture_consumer(&f, "");
	pm_test_http_server_stop(f.server);
	push_up(&f, 51413, PM_CONSUMER_PUSH_GRANT);
	wait_reports(&f, 2);
	g_assert_true(g_str_has_prefix(last_report(&f), "7:pending:cannot reach Transmission: "));
	g_assert_cmpuint(pm_scheduler_get_n_armed(f.scheduler), ==, 1);
	pm_test_http_server_start(f.server);
	pm_scheduler_advance(f.scheduler, next_wait(&f));
	wait_reports(&f, 3);
	g_assert_cmpstr(last_report(&f), ==, "7:ok:");
	pm_test_log_clear();
	fixture_clear(&f);
}

/* Describe(): the URL without secrets, the port read back, the RPC version */
static void
test_describe(void)
{
	Fixture f = {0};
	PmJsonWriter writer;
	g_autofree char *text = NULL;
	g_autofree char *expected = NULL;

	fixture_init(&f);
	fixture_consumer(&f, "");
	push_up(&f, 51413, PM_CONSUMER_PUSH_GRANT);
	wait_reports(&f, 2);
	pm_json_writer_init(&writer, 256, FALSE);
	pm_consumer_describe(f.consumer, &writer);
	text = pm_json_writer_finish(&writer);
	expected = g_strdup_printf("{\"Name\":\"tr\",\"Type\":\"transmission\",\"URL\":\"%s\","
				   "\"Blocked\":false,\"ListenPort\":51413,\"RPCVersion\":16}",
				   f.url);
	g_assert_cmpstr(text, ==, expected);
	fixture_clear(&f);
}

/* the keys: the common ones, URL= by default Transmission's own; printed back as read */
static void
test_config(void)
{
	g_autoptr(PmConfig) config = NULL;
	g_autoptr(PmConfig) config2 = NULL;
	g_autoptr(GString) printed = g_string_new(NULL);

	pm_test_config_assert_load_error("[Consumer t]\nType=transmission\nURL=ftp://x/y\n",
			  "test.conf:3: [Consumer t] URL=ftp://x/y: not an http or https URL; "
			  "accepted values: http://HOST[:PORT][/PATH] or https://HOST[:PORT][/PATH]");
	pm_test_config_assert_load_error("[Consumer t]\nType=transmission\n"
					 "PasswordCredential=p\nPasswordFile=/etc/p\n",
			  "test.conf:4: [Consumer t] PasswordFile=/etc/p: PasswordCredential= is "
			  "set too; accepted values: one of PasswordCredential= and PasswordFile=");
	pm_test_config_assert_load_error("[Consumer t]\nType=transmission\nAPIKeyCredential=k\n",
			  "test.conf:3: [Consumer t] APIKeyCredential=k: unknown key; accepted keys: "
			  "Type, URL, Username, PasswordCredential, PasswordFile, TimeoutSec");

	config = pm_test_config_load_ok("[Consumer t]\nType=transmission\n");
	pm_consumer_config_print(g_ptr_array_index(config->consumers, 0), printed);
	g_assert_cmpstr(printed->str, ==,
			"[Consumer t]\nType=transmission\n"
			"URL=http://127.0.0.1:9091/transmission/rpc\nTimeoutSec=10s\n");
	g_clear_pointer(&config, pm_config_free);
	g_string_truncate(printed, 0);
	config = pm_test_config_load_ok("[Consumer t]\nType=transmission\n"
					"URL=http://seedbox:9091/transmission/rpc\nUsername=me\n"
					"PasswordCredential=tr-pass\nTimeoutSec=5s\n");
	pm_consumer_config_print(g_ptr_array_index(config->consumers, 0), printed);
	g_assert_cmpstr(printed->str, ==,
			"[Consumer t]\nType=transmission\nURL=http://seedbox:9091/transmission/rpc\n"
			"Username=me\nPasswordCredential=tr-pass\nTimeoutSec=5s\n");
	config2 = pm_test_config_load_ok(printed->str);
	g_assert_true(pm_consumer_config_equal(g_ptr_array_index(config->consumers, 0),
					       g_ptr_array_index(config2->consumers, 0)));
	g_assert_true(pm_consumer_class_find("transmission")->single_mapping);
	g_assert_false(pm_consumer_type_is_planned("transmission"));
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	pm_test_log_init();
	g_test_add_func("/transmission/session-id", test_session_id);
	g_test_add_func("/transmission/session-id-loop", test_session_id_loop);
	g_test_add_func("/transmission/basic-auth-already-right", test_basic_auth_already_right);
	g_test_add_func("/transmission/wrong-credentials", test_wrong_credentials);
	g_test_add_func("/transmission/login-required", test_login_required);
	g_test_add_func("/transmission/read-back-mismatch", test_read_back_mismatch);
	g_test_add_func("/transmission/bad-replies", test_bad_replies);
	g_test_add_func("/transmission/whitelists", test_whitelists);
	g_test_add_func("/transmission/unreachable", test_unreachable);
	g_test_add_func("/transmission/describe", test_describe);
	g_test_add_func("/transmission/config", test_config);
	return g_test_run();
}
