/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * [Consumer NAME] Type=deluge (consumers/deluge.c) against a fake deluge-web on 127.0.0.1
 * (test-http-server.c) that answers as 2.0.3 does (its replies were taken from one), on
 * virtual time for the engine's backoff: the login and its cookie, deluge-web attached to
 * deluged when it is not, a session that expired (one login again), a refused password
 * (one login, then nothing until a retry push), a port already right (no set), a port
 * that does not stick (retried), and replies that are not deluge-web's. Then its keys.
 */
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "consumer.h"
#include "deluge.h"
#include "test-config-load.h"
#include "test-http-server.h"
#include "test-log.h"

#define SEC(x) ((guint64)(x) * G_USEC_PER_SEC)
#define PASSWORD "s3cret \"pw\""

/* the fake deluge-web and deluged behind it */
typedef struct {
	PmTestHttpServer *server;
	char *session;	      /* the one valid _session_id, NULL: none */
	guint n_sessions;
	gboolean web_connected; /* deluge-web attached to deluged */
	gboolean no_hosts;
	guint connect_delay;  /* web.connected says false this many times after web.connect */
	guint16 low, high;
	gboolean random_port;
	gboolean ignore_set;  /* set_config "succeeds" and changes nothing */
	gboolean expire_always; /* every session ends at once */
	GHashTable *replies;  /* method -> a body to send instead, once ("" : HTTP 500) */
	GPtrArray *calls;     /* "method" or "method+cookie" */
	GPtrArray *bodies;
} Fake;

typedef struct {
	PmScheduler *scheduler;
	PmContext *context;
	Fake fake;
	char *password_path;
	GPtrArray *reports; /* "ID:state:error" */
	PmConsumer *consumer;
} Fixture;

static void
reply(PmTestHttpRequest *request, JsonNode *id, const char *result, const char *error)
{
	g_autofree char *id_text = json_to_string(id, FALSE);
	g_autofree char *body = g_strdup_printf("{\"result\": %s, \"error\": %s, \"id\": %s}",
						result, error, id_text);
	pm_test_http_request_respond(request, 200, "OK", "application/json", body, NULL);
}

static void
fake_cb(PmTestHttpServer *server, PmTestHttpRequest *request, gpointer user_data)
{
	Fake *fake = user_data;
	g_autoptr(JsonParser) parser = json_parser_new();
	g_autoptr(GError) error = NULL;
	const char *cookie = pm_test_http_request_get_header(request, "Cookie");
	gboolean authenticated;
	JsonObject *object;
	JsonArray *params;
	JsonNode *id;
	const char *method;
	const char *canned;

	g_assert_cmpstr(request->method, ==, "POST");
	g_assert_cmpstr(request->path, ==, "/json");
	g_assert_cmpstr(pm_test_http_request_get_header(request, "Content-Type"), ==,
			"application/json");
	g_ptr_array_add(fake->bodies, g_strndup(g_bytes_get_data(request->body, NULL),
						g_bytes_get_size(request->body)));
	json_parser_load_from_data(parser, g_bytes_get_data(request->body, NULL),
				   (gssize)g_bytes_get_size(request->body), &error);
	g_assert_no_error(error);
	object = json_node_get_object(json_parser_get_root(parser));
	method = json_object_get_string_member(object, "method");
	params = json_object_get_array_member(object, "params");
	id = json_object_get_member(object, "id");
	g_ptr_array_add(fake->calls,
			g_strdup_printf("%s%s", method, cookie != NULL ? "+cookie" : ""));

	canned = g_hash_table_lookup(fake->replies, method);
	if (canned != NULL) {
		if (canned[0] == '\0')
			pm_test_http_request_respond(request, 500, "Internal Server Error",
						     "text/html", "<h1>oops</h1>", NULL);
		else
			pm_test_http_request_respond(request, 200, "OK", "application/json",
						     canned, NULL);
		g_hash_table_remove(fake->replies, method);
		return;
	}
	if (strcmp(method, "auth.login") == 0) {
		g_autofree char *set_cookie = NULL;
		if (strcmp(json_array_get_string_element(params, 0), PASSWORD) != 0) {
			reply(request, id, "false", "null");
			return;
		}
		g_free(fake->session);
		fake->session = g_strdup_printf("%040u", ++fake->n_sessions);
		set_cookie = g_strdup_printf("Set-Cookie: _session_id=%s; "
					     "Expires=Sun, 06 Dec 2026 10:17:19 GMT; Path=/json\r\n",
					     fake->session);
		{
			g_autofree char *id_text = json_to_string(id, FALSE);
			g_autofree char *body = g_strdup_printf(
				"{\"result\": true, \"error\": null, \"id\": %s}", id_text);
			pm_test_http_request_respond(request, 200, "OK", "application/json",
						     body, set_cookie);
		}
		if (fake->expire_always)
			g_clear_pointer(&fake->session, g_free);
		return;
	}
	authenticated = fake->session != NULL && cookie != NULL &&
			g_str_has_prefix(cookie, "_session_id=") &&
			strcmp(cookie + strlen("_session_id="), fake->session) == 0;
	if (!authenticated) {
		reply(request, id, "null", "{\"message\": \"Not authenticated\", \"code\": 1}");
		return;
	}
	if (strcmp(method, "web.connected") == 0) {
		gboolean connected = fake->web_connected && fake->connect_delay == 0;
		if (fake->web_connected && fake->connect_delay > 0)
			fake->connect_delay--;
		reply(request, id, connected ? "true" : "false", "null");
	} else if (strcmp(method, "web.get_hosts") == 0) {
		reply(request, id,
		      fake->no_hosts ? "[]" :
				       "[[\"917c4c81a4a8445281d642456f751ba0\", \"127.0.0.1\", "
				       "58846, \"localclient\"]]",
		      "null");
	} else if (strcmp(method, "web.connect") == 0) {
		g_assert_cmpstr(json_array_get_string_element(params, 0), ==,
				"917c4c81a4a8445281d642456f751ba0");
		fake->web_connected = TRUE;
		reply(request, id, "[\"core.get_config_values\", \"core.set_config\"]", "null");
	} else if (!fake->web_connected) {
		reply(request, id, "null", "{\"message\": \"Unknown method\", \"code\": 2}");
	} else if (strcmp(method, "core.get_config_values") == 0) {
		g_autofree char *result = g_strdup_printf(
			"{\"listen_ports\": [%u, %u], \"random_port\": %s}", fake->low, fake->high,
			fake->random_port ? "true" : "false");
		reply(request, id, result, "null");
	} else if (strcmp(method, "core.set_config") == 0) {
		JsonObject *config = json_array_get_object_element(params, 0);
		JsonArray *ports = json_object_get_array_member(config, "listen_ports");
		if (!fake->ignore_set) {
			fake->low = (guint16)json_array_get_int_element(ports, 0);
			fake->high = (guint16)json_array_get_int_element(ports, 1);
			fake->random_port = json_object_get_boolean_member(config, "random_port");
		}
		reply(request, id, "null", "null");
	} else {
		reply(request, id, "null", "{\"message\": \"Unknown method\", \"code\": 2}");
	}
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

/* iterate the main loop until the consumer reported @n times, or 5 s passed */
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

/* the calls since the last one, space-separated; forgets them */
static char *
take_calls(Fixture *f)
{
	g_autoptr(GString) out = g_string_new(NULL);

	for (guint i = 0; i < f->fake.calls->len; i++) {
		if (i > 0)
			g_string_append_c(out, ' ');
		g_string_append(out, g_ptr_array_index(f->fake.calls, i));
	}
	g_ptr_array_set_size(f->fake.calls, 0);
	return g_strdup(out->str);
}

#define assert_calls(f, expected)                                                               \
	G_STMT_START                                                                            \
	{                                                                                       \
		g_autofree char *calls_ = take_calls(f);                                        \
		g_assert_cmpstr(calls_, ==, expected);                                          \
	}                                                                                       \
	G_STMT_END

static void
fixture_init(Fixture *f, const char *password)
{
	g_autoptr(GError) error = NULL;
	int fd;

	f->scheduler = pm_scheduler_new_manual(SEC(1), SEC(1700000000), 1);
	f->context = pm_context_new(f->scheduler, PM_SECRET_POLICY_STRICT);
	f->reports = g_ptr_array_new_with_free_func(g_free);
	f->fake.server = pm_test_http_server_new(fake_cb, &f->fake);
	f->fake.replies = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, g_free);
	f->fake.calls = g_ptr_array_new_with_free_func(g_free);
	f->fake.bodies = g_ptr_array_new_with_free_func(g_free);
	f->fake.low = 6881;
	f->fake.high = 6891;
	f->fake.random_port = TRUE;
	fd = g_file_open_tmp("portmap-deluge-password-XXXXXX", &f->password_path, &error);
	g_assert_no_error(error);
	g_assert_cmpint(fchmod(fd, 0600), ==, 0);
	g_assert_cmpint(write(fd, password, strlen(password)), ==, (gssize)strlen(password));
	close(fd);
	pm_test_log_clear();
}

static void
fixture_consumer(Fixture *f)
{
	g_autofree char *text = g_strdup_printf("[Consumer dl]\nType=deluge\nURL=%s/json\n"
						"PasswordFile=%s\n",
						pm_test_http_server_get_url(f->fake.server),
						f->password_path);
	g_autoptr(PmConfig) config = pm_test_config_load_ok(text);
	g_autoptr(GError) error = NULL;

	f->consumer = pm_consumer_new(f->context, pm_config_find_consumer(config, "dl"), &error);
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
	pm_test_http_server_free(f->fake.server);
	g_clear_pointer(&f->scheduler, pm_scheduler_free);
	g_ptr_array_unref(f->reports);
	g_hash_table_unref(f->fake.replies);
	g_ptr_array_unref(f->fake.calls);
	g_ptr_array_unref(f->fake.bodies);
	g_free(f->fake.session);
	g_unlink(f->password_path);
	g_free(f->password_path);
}

static void
push_up(Fixture *f, guint16 internal_port, PmConsumerPush push)
{
	PmMappingView view;

	memset(&view, 0, sizeof(view));
	view.id = 7;
	view.name = "torrent";
	view.provider = "gw";
	g_strlcpy(view.external_address, "203.0.113.5", sizeof(view.external_address));
	view.ports.n_ports = 2;
	view.ports.ports[0] = (PmPortPair){PM_PROTOCOL_TCP, internal_port, 40000};
	view.ports.ports[1] = (PmPortPair){PM_PROTOCOL_UDP, internal_port, 40000};
	pm_consumer_mapping_up(f->consumer, &view, &view.ports, push);
}

static char *
describe(Fixture *f)
{
	PmJsonWriter writer;

	pm_json_writer_init(&writer, 256, FALSE);
	pm_consumer_describe(f->consumer, &writer);
	return pm_json_writer_finish(&writer);
}

/* the first delivery: login, deluge-web attached to deluged, the port set and read back;
 * then a reconcile finds it right and sets nothing */
static void
test_first_delivery(void)
{
	Fixture f = {0};
	g_autofree char *described = NULL;
	g_autofree char *expected = NULL;

	fixture_init(&f, PASSWORD "\n");
	fixture_consumer(&f);

	push_up(&f, 51413, PM_CONSUMER_PUSH_GRANT);
	assert_report(&f, 0, "7:pending:");
	wait_reports(&f, 2);
	assert_report(&f, 1, "7:ok:");
	assert_calls(&f, "auth.login web.connected+cookie web.get_hosts+cookie "
			 "web.connect+cookie web.connected+cookie "
			 "core.get_config_values+cookie web.connected+cookie "
			 "core.set_config+cookie web.connected+cookie "
			 "core.get_config_values+cookie");
	/* the password as a JSON string, the exact set request */
	g_assert_cmpstr(g_ptr_array_index(f.fake.bodies, 0), ==,
			"{\"method\":\"auth.login\",\"params\":[\"s3cret \\\"pw\\\"\"],\"id\":1}");
	g_assert_cmpstr(g_ptr_array_index(f.fake.bodies, 7), ==,
			"{\"method\":\"core.set_config\",\"params\":[{\"listen_ports\":[51413,"
			"51413],\"random_port\":false}],\"id\":8}");
	g_assert_cmpuint(f.fake.low, ==, 51413);
	g_assert_cmpuint(f.fake.high, ==, 51413);
	g_assert_false(f.fake.random_port);
	described = describe(&f);
	expected = g_strdup_printf("{\"Name\":\"dl\",\"Type\":\"deluge\",\"URL\":\"%s/json\","
				   "\"Blocked\":false,\"ListenPort\":51413}",
				   pm_test_http_server_get_url(f.fake.server));
	g_assert_cmpstr(described, ==, expected);

	/* already right: one read, no login, no set */
	push_up(&f, 51413, PM_CONSUMER_PUSH_RECONCILE);
	wait_reports(&f, 4);
	assert_report(&f, 3, "7:ok:");
	assert_calls(&f, "web.connected+cookie core.get_config_values+cookie");
	g_assert_cmpuint(f.fake.n_sessions, ==, 1);
	g_assert_cmpuint(pm_scheduler_get_n_armed(f.scheduler), ==, 0);
	pm_test_assert_no_warnings();
	fixture_clear(&f);
}

/* web.connect that takes a moment: web.connected polled until it says true */
static void
test_connect_delay(void)
{
	Fixture f = {0};

	fixture_init(&f, PASSWORD);
	fixture_consumer(&f);
	f.fake.connect_delay = 2;
	f.fake.low = f.fake.high = 51413;
	f.fake.random_port = FALSE;

	push_up(&f, 51413, PM_CONSUMER_PUSH_GRANT);
	spin();
	assert_calls(&f, "auth.login web.connected+cookie web.get_hosts+cookie "
			 "web.connect+cookie web.connected+cookie");
	g_assert_cmpuint(f.reports->len, ==, 1);
	pm_scheduler_advance(f.scheduler, SEC(1) / 2);
	spin();
	assert_calls(&f, "web.connected+cookie");
	pm_scheduler_advance(f.scheduler, SEC(1) / 2);
	wait_reports(&f, 2);
	assert_report(&f, 1, "7:ok:");
	assert_calls(&f, "web.connected+cookie core.get_config_values+cookie");
	fixture_clear(&f);
}

/* a session that expired: one login again within the operation; a session refused right
 * after a login is not logged in a third time */
static void
test_session_expired(void)
{
	Fixture f = {0};
	g_autofree char *message = NULL;

	fixture_init(&f, PASSWORD);
	fixture_consumer(&f);
	f.fake.web_connected = TRUE;

	push_up(&f, 51413, PM_CONSUMER_PUSH_GRANT);
	wait_reports(&f, 2);
	assert_report(&f, 1, "7:ok:");
	g_ptr_array_set_size(f.fake.calls, 0);

	/* deluge-web restarted: the session is gone */
	g_clear_pointer(&f.fake.session, g_free);
	push_up(&f, 51414, PM_CONSUMER_PUSH_GRANT);
	wait_reports(&f, 4);
	assert_report(&f, 3, "7:ok:");
	assert_calls(&f, "web.connected+cookie auth.login web.connected+cookie "
			 "core.get_config_values+cookie web.connected+cookie "
			 "core.set_config+cookie web.connected+cookie "
			 "core.get_config_values+cookie");
	g_assert_cmpuint(f.fake.n_sessions, ==, 2);
	g_assert_cmpuint(f.fake.low, ==, 51414);

	/* every session ends at once: one login, then pending for a retry */
	g_clear_pointer(&f.fake.session, g_free);
	f.fake.expire_always = TRUE;
	push_up(&f, 51415, PM_CONSUMER_PUSH_GRANT);
	wait_reports(&f, 6);
	message = g_strdup_printf("7:pending:web.connected at %s/json: Not authenticated (code 1), "
				  "right after a login: is another client logging deluge-web "
				  "out?",
				  pm_test_http_server_get_url(f.fake.server));
	assert_calls(&f, "web.connected+cookie auth.login web.connected+cookie");
	g_assert_cmpuint(f.fake.n_sessions, ==, 3);
	g_assert_cmpuint(f.fake.low, ==, 51414);
	assert_report(&f, 5, message);
	fixture_clear(&f);
}

/* a refused password: one login, failed; a reconcile sends nothing; a retry push logs in
 * once more */
static void
test_wrong_password(void)
{
	Fixture f = {0};
	g_autofree char *expected = NULL;
	g_autofree char *described = NULL;

	fixture_init(&f, "deluge\n");
	fixture_consumer(&f);

	push_up(&f, 51413, PM_CONSUMER_PUSH_GRANT);
	wait_reports(&f, 2);
	expected = g_strdup_printf("7:failed:deluge-web at %s/json refused the password "
				   "(auth.login returned false): set its web UI password in "
				   "PasswordCredential= or PasswordFile=; no further login until "
				   "Reload() or the mapping's Refresh()",
				   pm_test_http_server_get_url(f.fake.server));
	assert_report(&f, 1, expected);
	assert_calls(&f, "auth.login");
	pm_test_assert_warning("refused the password");
	described = describe(&f);
	g_assert_nonnull(strstr(described, "\"Blocked\":true,\"ListenPort\":0"));

	push_up(&f, 51413, PM_CONSUMER_PUSH_RECONCILE);
	push_up(&f, 51414, PM_CONSUMER_PUSH_GRANT);
	spin();
	pm_scheduler_advance(f.scheduler, SEC(600));
	spin();
	assert_calls(&f, "");
	g_assert_cmpuint(f.reports->len, ==, 4);
	g_assert_true(g_str_has_prefix(g_ptr_array_index(f.reports, 3), "7:failed:deluge-web at"));

	push_up(&f, 51414, PM_CONSUMER_PUSH_RETRY);
	wait_reports(&f, 6);
	assert_report(&f, 4, "7:pending:");
	g_assert_true(g_str_has_prefix(g_ptr_array_index(f.reports, 5), "7:failed:deluge-web at"));
	assert_calls(&f, "auth.login");
	pm_test_assert_warning("refused the password");
	/* the password is never in a report */
	for (guint i = 0; i < f.reports->len; i++)
		g_assert_null(strstr(g_ptr_array_index(f.reports, i), "deluge\n"));
	g_assert_cmpuint(f.fake.low, ==, 6881);
	fixture_clear(&f);
}

/* the port does not stick: pending with what was read, retried after the backoff */
static void
test_readback_mismatch(void)
{
	Fixture f = {0};

	fixture_init(&f, PASSWORD);
	fixture_consumer(&f);
	f.fake.web_connected = TRUE;
	f.fake.ignore_set = TRUE;

	push_up(&f, 51413, PM_CONSUMER_PUSH_GRANT);
	wait_reports(&f, 2);
	assert_report(&f, 1, "7:pending:listening port 51413 was set, but the application reads "
			     "back listen_ports [6881, 6891], random_port true");
	g_assert_cmpuint(pm_scheduler_get_n_armed(f.scheduler), ==, 1);
	g_ptr_array_set_size(f.fake.calls, 0);

	f.fake.ignore_set = FALSE;
	pm_scheduler_advance(f.scheduler, SEC(3));
	wait_reports(&f, 3);
	assert_report(&f, 2, "7:ok:");
	assert_calls(&f, "web.connected+cookie core.get_config_values+cookie "
			 "web.connected+cookie core.set_config+cookie web.connected+cookie "
			 "core.get_config_values+cookie");
	g_assert_cmpuint(f.fake.n_sessions, ==, 1);
	fixture_clear(&f);
}

/* one reply that is not deluge-web's to @method, with the report it causes: pending, and
 * nothing set */
static void
assert_bad_reply(const char *method, const char *body, const char *expected_tail)
{
	Fixture f = {0};
	g_autofree char *expected = NULL;

	fixture_init(&f, PASSWORD);
	fixture_consumer(&f);
	f.fake.web_connected = TRUE;
	g_hash_table_insert(f.fake.replies, (char *)method, g_strdup(body));

	push_up(&f, 51413, PM_CONSUMER_PUSH_GRANT);
	wait_reports(&f, 2);
	expected = g_strdup_printf("7:pending:%s at %s/json: %s", method,
				   pm_test_http_server_get_url(f.fake.server), expected_tail);
	assert_report(&f, 1, expected);
	g_assert_cmpuint(f.fake.low, ==, 6881);
	g_assert_true(f.fake.random_port);
	/* the next attempt, with a good reply, delivers */
	pm_scheduler_advance(f.scheduler, SEC(3));
	wait_reports(&f, 3);
	assert_report(&f, 2, "7:ok:");
	g_assert_cmpuint(f.fake.low, ==, 51413);
	fixture_clear(&f);
}

static void
test_bad_replies(void)
{
	assert_bad_reply("core.get_config_values", "<html>", "not a JSON-RPC reply: the body is "
							     "not a JSON object: <html>");
	assert_bad_reply("core.get_config_values",
			 "{\"result\": {\"listen_ports\": [1, 1], \"random_port\": false}, "
			 "\"error\": null, \"id\": 99}",
			 "the reply to request 3 has \"id\" 99: another request's reply");
	assert_bad_reply("core.get_config_values",
			 "{\"result\": {\"listen_ports\": 5}, \"error\": null, \"id\": 3}",
			 "unexpected reply: core.get_config_values: \"listen_ports\" is not a list");
	assert_bad_reply("web.connected", "", "HTTP 500: <h1>oops</h1>");
	assert_bad_reply("auth.login", "{\"result\": \"yes\", \"error\": null, \"id\": 1}",
			 "unexpected reply: the result is not true or false");
}

/* deluged refuses the request: failed, not retried until the next push */
static void
test_set_refused(void)
{
	Fixture f = {0};
	g_autofree char *expected = NULL;

	fixture_init(&f, PASSWORD);
	fixture_consumer(&f);
	f.fake.web_connected = TRUE;
	g_hash_table_insert(f.fake.replies, (char *)"core.set_config",
			    g_strdup("{\"result\": null, \"error\": {\"message\": \"Failure: "
				     "Traceback (most recent call last):\\nTypeError: bad\\n]\", "
				     "\"code\": 4}, \"id\": 5}"));
	push_up(&f, 51413, PM_CONSUMER_PUSH_GRANT);
	wait_reports(&f, 2);
	expected = g_strdup_printf("7:failed:core.set_config at %s/json failed: TypeError: bad "
				   "(code 4)",
				   pm_test_http_server_get_url(f.fake.server));
	assert_report(&f, 1, expected);
	pm_test_assert_warning("TypeError: bad");
	g_assert_cmpuint(pm_scheduler_get_n_armed(f.scheduler), ==, 0);
	fixture_clear(&f);
}

/* deluge-web without a daemon to attach to */
static void
test_no_hosts(void)
{
	Fixture f = {0};
	g_autofree char *expected = NULL;

	fixture_init(&f, PASSWORD);
	fixture_consumer(&f);
	f.fake.no_hosts = TRUE;
	push_up(&f, 51413, PM_CONSUMER_PUSH_GRANT);
	wait_reports(&f, 2);
	expected = g_strdup_printf("7:failed:deluge-web at %s/json has no daemon to connect to: "
				   "add one in its connection manager",
				   pm_test_http_server_get_url(f.fake.server));
	assert_report(&f, 1, expected);
	assert_calls(&f, "auth.login web.connected+cookie web.get_hosts+cookie");
	pm_test_assert_warning("no daemon to connect to");
	fixture_clear(&f);
}

/* deluge-web down: pending, retried */
static void
test_unreachable(void)
{
	Fixture f = {0};

	fixture_init(&f, PASSWORD);
	fixture_consumer(&f);
	pm_test_http_server_stop(f.fake.server);
	push_up(&f, 51413, PM_CONSUMER_PUSH_GRANT);
	wait_reports(&f, 2);
	{
		g_autofree char *prefix = g_strdup_printf(
			"7:pending:auth.login: POST %s/json: ", pm_test_http_server_get_url(f.fake.server));
		g_assert_true(g_str_has_prefix(g_ptr_array_index(f.reports, 1), prefix));
	}
	pm_test_http_server_start(f.fake.server);
	f.fake.web_connected = TRUE;
	pm_scheduler_advance(f.scheduler, SEC(3));
	wait_reports(&f, 3);
	assert_report(&f, 2, "7:ok:");
	fixture_clear(&f);
}

/* the keys: the common ones, a password required, no Username= */
static void
test_config(void)
{
	g_autoptr(PmConfig) config = NULL;
	g_autoptr(PmConfig) config2 = NULL;
	g_autoptr(GString) printed = g_string_new(NULL);

	pm_test_config_assert_load_error("[Consumer d]\nType=deluge\n",
			  "test.conf:1: [Consumer d]: PasswordCredential= is required: set "
			  "PasswordCredential= or PasswordFile= to deluge-web's password");
	pm_test_config_assert_load_error("[Consumer d]\nType=deluge\nUsername=admin\n"
					 "PasswordCredential=dl\n",
			  "test.conf:3: [Consumer d] Username=admin: deluge-web has no user name, "
			  "only a password; accepted values: none: remove Username=");
	pm_test_config_assert_load_error("[Consumer d]\nType=deluge\nURL=ftp://h/json\n"
					 "PasswordCredential=dl\n",
			  "test.conf:3: [Consumer d] URL=ftp://h/json: not an http or https URL; "
			  "accepted values: http://HOST[:PORT][/PATH] or https://HOST[:PORT][/PATH]");
	pm_test_config_assert_load_error("[Consumer d]\nType=deluge\nPasswordCredential=dl\n"
					 "Path=/x\n",
			  "test.conf:4: [Consumer d] Path=/x: unknown key; accepted keys: Type, "
			  "URL, Username, PasswordCredential, PasswordFile, TimeoutSec");

	config = pm_test_config_load_ok("[Consumer d]\nType=deluge\nPasswordCredential=dl\n");
	pm_consumer_config_print(g_ptr_array_index(config->consumers, 0), printed);
	g_assert_cmpstr(printed->str, ==,
			"[Consumer d]\nType=deluge\nURL=http://127.0.0.1:8112/json\n"
			"PasswordCredential=dl\nTimeoutSec=10s\n");
	config2 = pm_test_config_load_ok(printed->str);
	g_assert_true(pm_consumer_config_equal(g_ptr_array_index(config->consumers, 0),
					       g_ptr_array_index(config2->consumers, 0)));
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	pm_test_log_init();
	g_test_add_func("/deluge/first-delivery", test_first_delivery);
	g_test_add_func("/deluge/connect-delay", test_connect_delay);
	g_test_add_func("/deluge/session-expired", test_session_expired);
	g_test_add_func("/deluge/wrong-password", test_wrong_password);
	g_test_add_func("/deluge/readback-mismatch", test_readback_mismatch);
	g_test_add_func("/deluge/bad-replies", test_bad_replies);
	g_test_add_func("/deluge/set-refused", test_set_refused);
	g_test_add_func("/deluge/no-hosts", test_no_hosts);
	g_test_add_func("/deluge/unreachable", test_unreachable);
	g_test_add_func("/deluge/config", test_config);
	return g_test_run();
}
