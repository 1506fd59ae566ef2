/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * [Consumer NAME] Type=webhook (consumers/webhook.c) against a SoupServer on 127.0.0.1,
 * on virtual time for its backoff (the HTTP exchange itself runs on the main loop): the
 * exact body of each event, the bearer token, retries after 5xx, no retry after a 4xx,
 * what waits behind a request on the wire, and a consumer removed during one. Then its
 * keys.
 */
#include <libsoup/soup.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "consumer.h"
#include "test-config-load.h"
#include "test-log.h"
#include "webhook.h"

#define SEC(x) ((guint64)(x) * G_USEC_PER_SEC)
/* virtual time: 2023-11-14T22:13:20Z */
#define REALTIME_START SEC(1700000000)

typedef struct {
	char *body;
	char *authorization;
	char *content_type;
} Request;

typedef struct {
	PmScheduler *scheduler;
	PmContext *context;
	SoupServer *server;
	GSocketService *service; /* 127.0.0.1, feeding the server */
	char *url;
	char *token_path;
	GPtrArray *requests;	/* of Request */
	GArray *statuses;	/* to answer, in order; then 200 */
	gboolean hold;		/* keep the next request unanswered */
	SoupServerMessage *held;
	GPtrArray *reports;	/* "ID:state:error" */
	PmConsumer *consumer;
} Fixture;

static void
request_free(Request *request)
{
	g_free(request->body);
	g_free(request->authorization);
	g_free(request->content_type);
	g_free(request);
}

static void
server_cb(SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query,
	  gpointer user_data)
{
	Fixture *f = user_data;
	SoupMessageBody *body = soup_server_message_get_request_body(msg);
	SoupMessageHeaders *headers = soup_server_message_get_request_headers(msg);
	Request *request = g_new0(Request, 1);
	guint status = 200;
	const char *reply = "";

	request->body = g_strndup(body->data, body->length);
	request->authorization = g_strdup(soup_message_headers_get_one(headers, "Authorization"));
	request->content_type = g_strdup(soup_message_headers_get_one(headers, "Content-Type"));
	g_ptr_array_add(f->requests, request);
	if (f->statuses->len > 0) {
		status = g_array_index(f->statuses, guint, 0);
		g_array_remove_index(f->statuses, 0);
	}
	if (status == 404)
		reply = "no such\thook\n";
	else if (status == 401)
		reply = "{\"error\":\"bad token s3cret-token\"}";
	else if (status >= 500)
		reply = "try later";
	soup_server_message_set_status(msg, status, NULL);
	soup_server_message_set_response(msg, "text/plain", SOUP_MEMORY_COPY, reply, strlen(reply));
	if (f->hold) {
		f->hold = FALSE;
		f->held = msg;
		soup_server_message_pause(msg);
	}
}

static gboolean
incoming_cb(GSocketService *service, GSocketConnection *connection, GObject *source,
	    gpointer user_data)
{
	Fixture *f = user_data;
	g_autoptr(GError) error = NULL;
	g_autoptr(GSocketAddress) local = g_socket_connection_get_local_address(connection, &error);
	g_autoptr(GSocketAddress) remote = NULL;

	g_assert_no_error(error);
	remote = g_socket_connection_get_remote_address(connection, &error);
	g_assert_no_error(error);
	soup_server_accept_iostream(f->server, G_IO_STREAM(connection), local, remote, &error);
	g_assert_no_error(error);
	return TRUE;
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

/* iterate the main loop until @n requests arrived and were answered, or 5 s passed */
static void
wait_requests(Fixture *f, guint n)
{
	gint64 deadline = g_get_monotonic_time() + SEC(5);
	while (f->requests->len < n && g_get_monotonic_time() < deadline)
		g_main_context_iteration(NULL, FALSE);
	g_assert_cmpuint(f->requests->len, ==, n);
}

/* and until the consumer reported @n times */
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

static void
assert_report(Fixture *f, guint index, const char *expected)
{
	g_assert_cmpuint(f->reports->len, >, index);
	g_assert_cmpstr(g_ptr_array_index(f->reports, index), ==, expected);
}

static void
stop_server(Fixture *f)
{
	if (f->server == NULL)
		return;
	g_socket_service_stop(f->service);
	g_socket_listener_close(G_SOCKET_LISTENER(f->service));
	g_clear_object(&f->service);
	soup_server_disconnect(f->server);
	g_clear_object(&f->server);
	spin();
}

static void
fixture_init(Fixture *f)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GInetAddress) loopback = NULL;
	g_autoptr(GSocketAddress) address = NULL;
	g_autoptr(GSocketAddress) bound = NULL;
	int fd;

	f->scheduler = pm_scheduler_new_manual(SEC(1), REALTIME_START, 1);
	f->context = pm_context_new(f->scheduler, PM_SECRET_POLICY_STRICT);
	f->requests = g_ptr_array_new_with_free_func((GDestroyNotify)request_free);
	f->statuses = g_array_new(FALSE, FALSE, sizeof(guint));
	f->reports = g_ptr_array_new_with_free_func(g_free);
	f->server = soup_server_new(NULL, NULL);
	soup_server_add_handler(f->server, "/hook", server_cb, f, NULL);
	/* connections are accepted here and handed to the server: with libsoup 3.2 its own
	 * listener leaks each accepted GSocket whose client session has no proxy resolver (as
	 * portmapd's has none), and soup_server_listen_local() leaks its address */
	f->service = g_socket_service_new();
	loopback = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
	address = g_inet_socket_address_new(loopback, 0);
	g_socket_listener_add_address(G_SOCKET_LISTENER(f->service), address,
				      G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, NULL, &bound,
				      &error);
	g_assert_no_error(error);
	g_signal_connect(f->service, "incoming", G_CALLBACK(incoming_cb), f);
	f->url = g_strdup_printf("http://127.0.0.1:%u/hook",
				 g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(bound)));
	fd = g_file_open_tmp("portmap-webhook-token-XXXXXX", &f->token_path, &error);
	g_assert_no_error(error);
	g_assert_cmpint(fchmod(fd, 0600), ==, 0);
	g_assert_cmpint(write(fd, "s3cret-token\n", 13), ==, 13);
	close(fd);
	pm_test_log_clear();
}

/* a consumer of @keys (after Type=webhook and URL=) */
static void
fixture_consumer(Fixture *f, const char *keys)
{
	g_autofree char *text = g_strdup_printf("[Consumer hook]\nType=webhook\nURL=%s\n%s",
						f->url, keys);
	g_autoptr(PmConfig) config = pm_test_config_load_ok(text);
	g_autoptr(GError) error = NULL;

	f->consumer = pm_consumer_new(f->context, pm_config_find_consumer(config, "hook"), &error);
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
	/* the client's connections kept alive close with its session, the server's with them */
	spin();
	g_clear_pointer(&f->context, pm_context_free);
	spin();
	stop_server(f);
	g_clear_pointer(&f->scheduler, pm_scheduler_free);
	g_ptr_array_unref(f->requests);
	g_array_unref(f->statuses);
	g_ptr_array_unref(f->reports);
	g_unlink(f->token_path);
	g_free(f->token_path);
	g_free(f->url);
}

static void
view_init(PmMappingView *view, guint16 internal_port, guint16 external_port)
{
	memset(view, 0, sizeof(*view));
	view->id = 7;
	view->name = "torrent";
	view->provider = "gw";
	g_strlcpy(view->external_address, "203.0.113.5", sizeof(view->external_address));
	view->ports.n_ports = 2;
	view->ports.ports[0] = (PmPortPair){PM_PROTOCOL_TCP, internal_port, external_port};
	view->ports.ports[1] = (PmPortPair){PM_PROTOCOL_UDP, internal_port, external_port};
}

static void
push_up(Fixture *f, guint16 external_port, PmConsumerPush push)
{
	PmMappingView view;
	view_init(&view, 51413, external_port);
	pm_consumer_mapping_up(f->consumer, &view, &view.ports, push);
}

static void
push_change(Fixture *f, guint16 old_port, guint16 external_port)
{
	PmMappingView view;
	PmMappingView previous;
	view_init(&view, 51413, external_port);
	view_init(&previous, 51413, old_port);
	pm_consumer_mapping_changed(f->consumer, &view, &view.ports, &previous.ports);
}

static void
push_down(Fixture *f, guint16 external_port)
{
	PmMappingView view;
	view_init(&view, 51413, external_port);
	pm_consumer_mapping_down(f->consumer, &view, &view.ports);
}

static const char *
request_body(Fixture *f, guint index)
{
	return ((Request *)g_ptr_array_index(f->requests, index))->body;
}

#define BODY(event, port, old)                                                                   \
	"{\"event\":\"" event "\",\"mapping\":\"torrent\",\"provider\":\"gw\","               \
	"\"protocols\":[\"tcp\",\"udp\"],\"internal_port\":51413,\"external_port\":" port     \
	",\"old_port\":" old ",\"external_address\":\"203.0.113.5\",\"ports\":["             \
	"{\"protocol\":\"tcp\",\"internal\":51413,\"external\":" port "},"                    \
	"{\"protocol\":\"udp\",\"internal\":51413,\"external\":" port "}],"                   \
	"\"timestamp\":\"2023-11-14T22:13:20Z\"}"

/* the body of each event, exactly; the token as a bearer; JSON */
static void
test_body(void)
{
	Fixture f = {0};
	Request *request;

	fixture_init(&f);
	{
		g_autofree char *keys = g_strdup_printf("TokenFile=%s\n", f.token_path);
		fixture_consumer(&f, keys);
	}

	push_up(&f, 41000, PM_CONSUMER_PUSH_GRANT);
	assert_report(&f, 0, "7:pending:");
	wait_reports(&f, 2);
	assert_report(&f, 1, "7:ok:");
	request = g_ptr_array_index(f.requests, 0);
	g_assert_cmpstr(request->body, ==, BODY("up", "41000", "null"));
	g_assert_cmpstr(request->authorization, ==, "Bearer s3cret-token");
	g_assert_cmpstr(request->content_type, ==, "application/json");

	push_change(&f, 41000, 41001);
	wait_reports(&f, 4);
	assert_report(&f, 3, "7:ok:");
	g_assert_cmpstr(request_body(&f, 1), ==, BODY("change", "41001", "41000"));

	/* a reconcile push: "up" again, for a receiver that lost its state */
	push_up(&f, 41001, PM_CONSUMER_PUSH_RECONCILE);
	wait_reports(&f, 6);
	g_assert_cmpstr(request_body(&f, 2), ==, BODY("up", "41001", "null"));

	/* the ports last told */
	push_down(&f, 41001);
	wait_reports(&f, 8);
	assert_report(&f, 7, "7:ok:");
	g_assert_cmpstr(request_body(&f, 3), ==, BODY("down", "41001", "null"));
	g_assert_cmpuint(pm_scheduler_get_n_armed(f.scheduler), ==, 0);
	pm_test_assert_no_warnings();
	fixture_clear(&f);
}

static guint64
next_wait(Fixture *f)
{
	return pm_scheduler_get_next_deadline(f->scheduler) - pm_scheduler_now(f->scheduler);
}

/* 5xx, 429 and no answer at all are retried after 2 s, doubling, with up to a quarter
 * more; the event is the same one */
static void
test_retry(void)
{
	Fixture f = {0};
	guint statuses[] = {500, 429};
	guint64 wait;
	const char *report;

	fixture_init(&f);
	fixture_consumer(&f, "");
	g_array_append_vals(f.statuses, statuses, G_N_ELEMENTS(statuses));
	push_up(&f, 41000, PM_CONSUMER_PUSH_GRANT);
	wait_reports(&f, 2);
	report = g_ptr_array_index(f.reports, 1);
	g_assert_true(g_str_has_prefix(report, "7:pending:POST "));
	g_assert_nonnull(strstr(report, "/hook: HTTP 500 Internal Server Error: try later"));
	g_assert_cmpuint(pm_scheduler_get_n_armed(f.scheduler), ==, 1);
	wait = next_wait(&f);
	g_assert_cmpuint(wait, >=, SEC(2));
	g_assert_cmpuint(wait, <=, SEC(2) + SEC(2) / 4 + 1000);
	/* nothing before its time */
	pm_scheduler_advance(f.scheduler, wait - 1);
	spin();
	g_assert_cmpuint(f.requests->len, ==, 1);
	pm_scheduler_advance(f.scheduler, 1);
	wait_reports(&f, 3);
	g_assert_nonnull(strstr(g_ptr_array_index(f.reports, 2), "HTTP 429"));
	wait = next_wait(&f);
	g_assert_cmpuint(wait, >=, SEC(4));
	g_assert_cmpuint(wait, <=, SEC(5) + 1000);
	pm_scheduler_advance(f.scheduler, wait);
	wait_reports(&f, 4);
	assert_report(&f, 3, "7:ok:");
	g_assert_cmpuint(f.requests->len, ==, 3);
	for (guint i = 0; i < 3; i++)
		g_assert_cmpstr(request_body(&f, i), ==, BODY("up", "41000", "null"));
	g_assert_cmpuint(pm_scheduler_get_n_armed(f.scheduler), ==, 0);

	/* a receiver that is not there: a connection error, retried as well */
	stop_server(&f);
	push_change(&f, 41000, 41001);
	wait_reports(&f, 6);
	g_assert_true(g_str_has_prefix(g_ptr_array_index(f.reports, 5), "7:pending:"));
	g_assert_cmpuint(pm_scheduler_get_n_armed(f.scheduler), ==, 1);
	/* Refresh() or Reload() asks for it now, whatever the backoff */
	push_up(&f, 41001, PM_CONSUMER_PUSH_RETRY);
	wait_reports(&f, 8);
	g_assert_true(g_str_has_prefix(g_ptr_array_index(f.reports, 7), "7:pending:"));
	pm_test_log_clear();
	fixture_clear(&f);
}

/* another 4xx is the receiver saying no: failed, no retry until the next event */
static void
test_refused(void)
{
	Fixture f = {0};
	guint statuses[] = {404, 401};
	g_autofree char *keys = NULL;
	const char *report;

	fixture_init(&f);
	keys = g_strdup_printf("TokenFile=%s\n", f.token_path);
	fixture_consumer(&f, keys);
	g_array_append_vals(f.statuses, statuses, G_N_ELEMENTS(statuses));
	push_up(&f, 41000, PM_CONSUMER_PUSH_GRANT);
	wait_reports(&f, 2);
	report = g_ptr_array_index(f.reports, 1);
	g_assert_true(g_str_has_prefix(report, "7:failed:POST http://127.0.0.1:"));
	/* printable, on one line */
	g_assert_true(g_str_has_suffix(report, "/hook: HTTP 404 Not Found: no such hook"));
	pm_test_assert_warning("HTTP 404");
	g_assert_cmpuint(pm_scheduler_get_n_armed(f.scheduler), ==, 0);
	pm_scheduler_advance(f.scheduler, SEC(600));
	spin();
	g_assert_cmpuint(f.requests->len, ==, 1);

	/* the next event is sent; a refused token is named, and never quoted */
	push_change(&f, 41000, 41001);
	wait_reports(&f, 4);
	report = g_ptr_array_index(f.reports, 3);
	g_assert_true(g_str_has_prefix(report, "7:failed:"));
	g_assert_nonnull(strstr(report, "HTTP 401 Unauthorized (the token was refused"));
	g_assert_null(strstr(report, "s3cret"));
	g_assert_nonnull(strstr(report, "bad token (token)"));
	pm_test_assert_warning("HTTP 401");
	g_assert_cmpuint(pm_scheduler_get_n_armed(f.scheduler), ==, 0);
	fixture_clear(&f);
}

/* one request on the wire per mapping; what comes meanwhile waits, the newer replacing the
 * older: two changes are one, with the port the receiver last heard as the old one */
static void
test_coalesce(void)
{
	Fixture f = {0};
	guint statuses[] = {500};

	fixture_init(&f);
	fixture_consumer(&f, "");
	push_up(&f, 41000, PM_CONSUMER_PUSH_GRANT);
	wait_reports(&f, 2);

	f.hold = TRUE;
	push_change(&f, 41000, 41001);
	wait_requests(&f, 2);
	g_assert_nonnull(f.held);
	push_change(&f, 41001, 41002);
	push_change(&f, 41002, 41003);
	spin();
	g_assert_cmpuint(f.requests->len, ==, 2);
	soup_server_message_unpause(g_steal_pointer(&f.held));
	wait_requests(&f, 3);
	g_assert_cmpstr(request_body(&f, 1), ==, BODY("change", "41001", "41000"));
	g_assert_cmpstr(request_body(&f, 2), ==, BODY("change", "41003", "41001"));
	spin();
	g_assert_cmpuint(f.requests->len, ==, 3);
	assert_report(&f, f.reports->len - 1, "7:ok:");

	/* an up that did not arrive, then a change: still an up, with the new ports */
	push_down(&f, 41003);
	wait_requests(&f, 4);
	g_array_append_vals(f.statuses, statuses, G_N_ELEMENTS(statuses));
	push_up(&f, 42000, PM_CONSUMER_PUSH_GRANT);
	wait_requests(&f, 5);
	spin();
	g_assert_cmpuint(pm_scheduler_get_n_armed(f.scheduler), ==, 1);
	push_change(&f, 42000, 42001);
	/* it waits for the backoff's end */
	spin();
	g_assert_cmpuint(f.requests->len, ==, 5);
	pm_scheduler_advance(f.scheduler, next_wait(&f));
	wait_requests(&f, 6);
	g_assert_cmpstr(request_body(&f, 5), ==, BODY("up", "42001", "null"));
	pm_test_log_clear();
	fixture_clear(&f);
}

/* removed by a reload while a request is on the wire: the consumer lives until it ends,
 * the down waiting behind it still goes, once, and nobody hears a report */
static void
test_removed_in_flight(void)
{
	Fixture f = {0};
	guint statuses[] = {200, 500};
	guint n_reports;

	fixture_init(&f);
	fixture_consumer(&f, "");
	g_array_append_vals(f.statuses, statuses, G_N_ELEMENTS(statuses));
	f.hold = TRUE;
	push_up(&f, 41000, PM_CONSUMER_PUSH_GRANT);
	wait_requests(&f, 1);
	push_down(&f, 41000);
	/* what the manager does */
	pm_consumer_set_report_func(f.consumer, NULL, NULL);
	g_clear_pointer(&f.consumer, pm_consumer_unref);
	n_reports = f.reports->len;
	soup_server_message_unpause(g_steal_pointer(&f.held));
	wait_requests(&f, 2);
	g_assert_cmpstr(request_body(&f, 1), ==, BODY("down", "41000", "null"));
	spin();
	/* the 500 is not retried: nothing armed, no request more */
	g_assert_cmpuint(pm_scheduler_get_n_armed(f.scheduler), ==, 0);
	pm_scheduler_advance(f.scheduler, SEC(600));
	spin();
	g_assert_cmpuint(f.requests->len, ==, 2);
	g_assert_cmpuint(f.reports->len, ==, n_reports);
	pm_test_log_clear();
	fixture_clear(&f);
}

/* Describe(): where it posts, never a secret (the token, a URL's password or query) */
static void
test_describe(void)
{
	Fixture f = {0};
	g_autofree char *text = NULL;
	g_autoptr(PmConfig) config = NULL;
	g_autoptr(GError) error = NULL;
	PmJsonWriter writer;

	fixture_init(&f);
	text = g_strdup_printf("[Consumer hook]\nType=webhook\n"
			       "URL=https://user:pw@hooks.example.net:8443/p?key=q\nTokenFile=%s\n",
			       f.token_path);
	config = pm_test_config_load_ok(text);
	f.consumer = pm_consumer_new(f.context, pm_config_find_consumer(config, "hook"), &error);
	g_assert_no_error(error);
	pm_json_writer_init(&writer, 256, FALSE);
	pm_consumer_describe(f.consumer, &writer);
	g_clear_pointer(&text, g_free);
	text = pm_json_writer_finish(&writer);
	g_assert_cmpstr(text, ==,
			"{\"Name\":\"hook\",\"Type\":\"webhook\","
			"\"URL\":\"https://hooks.example.net:8443/p\",\"TimeoutUSec\":10000000,"
			"\"Token\":true}");
	fixture_clear(&f);
}

/* the keys: URL= required, http or https; TimeoutSec= at least 1 s; one token source;
 * printed back as read, never the token */
static void
test_config(void)
{
	g_autoptr(PmConfig) config = NULL;
	g_autoptr(PmConfig) config2 = NULL;
	g_autoptr(GString) printed = g_string_new(NULL);

	pm_test_config_assert_load_error("[Consumer h]\nType=webhook\n",
			  "test.conf:1: [Consumer h]: URL= is required: set the http:// or "
			  "https:// URL to POST to");
	pm_test_config_assert_load_error("[Consumer h]\nType=webhook\nURL=ftp://x/y\n",
			  "test.conf:3: [Consumer h] URL=ftp://x/y: not an http or https URL; "
			  "accepted values: http://HOST[:PORT]/PATH or https://HOST[:PORT]/PATH");
	pm_test_config_assert_load_error("[Consumer h]\nType=webhook\nURL=http:///x\n",
			  "test.conf:3: [Consumer h] URL=http:///x: not an http or https URL; "
			  "accepted values: http://HOST[:PORT]/PATH or https://HOST[:PORT]/PATH");
	pm_test_config_assert_load_error("[Consumer h]\nType=webhook\nURL=http://h/\n"
					 "TimeoutSec=0\n",
			  "test.conf:4: [Consumer h] TimeoutSec=0: too short; accepted values: "
			  "seconds, or a duration such as 45s, 15min or 1min 30s (units us, ms, s, "
			  "sec, m, min, h, hr, d), at least 1s");
	pm_test_config_assert_load_error("[Consumer h]\nType=webhook\nURL=http://h/\n"
					 "TimeoutSec=soon\n",
			  "test.conf:4: [Consumer h] TimeoutSec=soon: not a duration; accepted "
			  "values: seconds, or a duration such as 45s, 15min or 1min 30s (units us, "
			  "ms, s, sec, m, min, h, hr, d)");
	pm_test_config_assert_load_error("[Consumer h]\nType=webhook\nURL=http://h/\n"
					 "TimeoutSec=2h\n",
			  "test.conf:4: [Consumer h] TimeoutSec=2h: too long; accepted values: "
			  "at most 1h");
	pm_test_config_assert_load_error("[Consumer h]\nType=webhook\nURL=http://h/\n"
					 "TokenCredential=t\nTokenFile=/etc/t\n",
			  "test.conf:5: [Consumer h] TokenFile=/etc/t: TokenCredential= is set too; "
			  "accepted values: one of TokenCredential= and TokenFile=");
	pm_test_config_assert_load_error("[Consumer h]\nType=webhook\nURL=http://h/\nPath=/x\n",
			  "test.conf:4: [Consumer h] Path=/x: unknown key; accepted keys: Type, "
			  "URL, TokenCredential, TokenFile, TimeoutSec");

	config = pm_test_config_load_ok("[Consumer h]\nType=webhook\nURL=https://h:8443/p?k=v\n"
					"TokenCredential=hook-token\n");
	pm_consumer_config_print(g_ptr_array_index(config->consumers, 0), printed);
	g_assert_cmpstr(printed->str, ==,
			"[Consumer h]\nType=webhook\nURL=https://h:8443/p?k=v\n"
			"TokenCredential=hook-token\nTimeoutSec=10s\n");
	config2 = pm_test_config_load_ok(printed->str);
	g_assert_true(pm_consumer_config_equal(g_ptr_array_index(config->consumers, 0),
					       g_ptr_array_index(config2->consumers, 0)));
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	pm_test_log_init();
	g_test_add_func("/webhook/body", test_body);
	g_test_add_func("/webhook/retry", test_retry);
	g_test_add_func("/webhook/refused", test_refused);
	g_test_add_func("/webhook/coalesce", test_coalesce);
	g_test_add_func("/webhook/removed-in-flight", test_removed_in_flight);
	g_test_add_func("/webhook/describe", test_describe);
	g_test_add_func("/webhook/config", test_config);
	return g_test_run();
}
