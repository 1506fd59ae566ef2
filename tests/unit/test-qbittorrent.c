/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * [Consumer NAME] Type=qbittorrent (consumers/qbittorrent.c) against a fake qBittorrent
 * Web API on 127.0.0.1 (test-http-server.c) that behaves as 4.5 (login 200 "Ok." or
 * "Fails.", cookie SID) or as 5.2 (login 204 or 401, cookie QBT_SID_<port>, API keys,
 * announce_port), with its session, ban and preferences; on virtual time for the
 * engine's backoff. Then the keys and Describe().
 */
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "consumer.h"
#include "port-setter.h"
#include "test-config-load.h"
#include "test-http-server.h"
#include "test-log.h"

#define SEC(x) ((guint64)(x) * G_USEC_PER_SEC)
#define PASSWORD "pass word+&%=é"
#define API_KEY "qbt_0123456789abcdefABCDEF0123456789"
#define BAN_MESSAGE "Your IP address has been banned after too many failed authentication attempts."

typedef struct {
	/* the fake */
	PmTestHttpServer *server;
	gboolean v52;
	char *password;
	char *api_key;
	char *sid; /* the session it knows, NULL: none */
	guint n_sessions;
	guint n_failures;
	guint16 listen_port;
	gboolean random_port;
	gboolean upnp;
	guint16 announce_port;
	gboolean ignore_set;   /* 200 without applying it (4.5.2 on malformed JSON) */
	gboolean forbid_api;   /* every API call 403, even with a fresh session */
	const char *prefs_body; /* instead of the preferences */
	guint n_login, n_get, n_set, n_origin;
	GPtrArray *log; /* "METHOD PATH auth-or-cookie" */
	char *last_set_body;
	/* the client */
	PmScheduler *scheduler;
	PmContext *context;
	char *dir;
	PmConsumer *consumer;
	GPtrArray *reports; /* "ID:state:error" */
} Fixture;

static char *
cookie_name(Fixture *f)
{
	if (f->v52)
		return g_strdup_printf("QBT_SID_%u", pm_test_http_server_get_port(f->server));
	return g_strdup("SID");
}

static gboolean
authorized(Fixture *f, PmTestHttpRequest *request)
{
	const char *auth = pm_test_http_request_get_header(request, "Authorization");
	const char *cookie = pm_test_http_request_get_header(request, "Cookie");
	g_autofree char *name = cookie_name(f);
	g_autofree char *expected = NULL;

	if (f->forbid_api)
		return FALSE;
	if (f->v52 && f->api_key != NULL && auth != NULL &&
	    g_str_has_prefix(auth, "Bearer ") && strcmp(auth + 7, f->api_key) == 0)
		return TRUE;
	if (f->sid == NULL || cookie == NULL)
		return FALSE;
	expected = g_strdup_printf("%s=%s", name, f->sid);
	return strcmp(cookie, expected) == 0;
}

static void
fake_login(Fixture *f, PmTestHttpRequest *request)
{
	gsize len = 0;
	const char *data = g_bytes_get_data(request->body, &len);
	g_autofree char *text = g_strndup(data, len);
	g_autoptr(GHashTable) params =
	    g_uri_parse_params(text, -1, "&", G_URI_PARAMS_WWW_FORM, NULL);
	const char *username = params != NULL ? g_hash_table_lookup(params, "username") : NULL;
	const char *password = params != NULL ? g_hash_table_lookup(params, "password") : NULL;

	f->n_login++;
	if (f->n_failures >= 5) {
		pm_test_http_request_respond(request, 403, "Forbidden", "text/plain", BAN_MESSAGE,
					     NULL);
		return;
	}
	if (g_strcmp0(username, "admin") == 0 && g_strcmp0(password, f->password) == 0) {
		g_autofree char *name = cookie_name(f);
		g_autofree char *header = NULL;

		f->n_failures = 0;
		g_free(f->sid);
		f->sid = g_strdup_printf("session%u", ++f->n_sessions);
		header = g_strdup_printf("Set-Cookie: %s=%s; HttpOnly; path=/; SameSite=Strict\r\n",
					 name, f->sid);
		if (f->v52)
			pm_test_http_request_respond(request, 204, "No Content", NULL, NULL, header);
		else
			pm_test_http_request_respond(request, 200, "OK", "text/plain", "Ok.", header);
		return;
	}
	f->n_failures++;
	if (f->v52)
		pm_test_http_request_respond(request, 401, "Unauthorized", "text/plain", "", NULL);
	else
		pm_test_http_request_respond(request, 200, "OK", "text/plain", "Fails.", NULL);
}

static void
fake_set(Fixture *f, PmTestHttpRequest *request)
{
	gsize len = 0;
	const char *data = g_bytes_get_data(request->body, &len);
	g_autofree char *text = g_strndup(data, len);
	g_autoptr(GHashTable) params =
	    g_uri_parse_params(text, -1, "&", G_URI_PARAMS_WWW_FORM, NULL);
	const char *json = params != NULL ? g_hash_table_lookup(params, "json") : NULL;
	g_autoptr(JsonParser) parser = json_parser_new();

	f->n_set++;
	g_free(f->last_set_body);
	f->last_set_body = g_strdup(json);
	if (json == NULL) {
		pm_test_http_request_respond(request, 400, "Bad Request", "text/plain",
					     "Missing params", NULL);
		return;
	}
	/* as 4.5.2: malformed JSON is accepted, and nothing changes */
	if (!f->ignore_set && json_parser_load_from_data(parser, json, -1, NULL) &&
	    JSON_NODE_HOLDS_OBJECT(json_parser_get_root(parser))) {
		JsonObject *o = json_node_get_object(json_parser_get_root(parser));
		if (json_object_has_member(o, "listen_port"))
			f->listen_port = (guint16)json_object_get_int_member(o, "listen_port");
		if (json_object_has_member(o, "random_port"))
			f->random_port = json_object_get_boolean_member(o, "random_port");
		if (json_object_has_member(o, "upnp"))
			f->upnp = json_object_get_boolean_member(o, "upnp");
		if (f->v52 && json_object_has_member(o, "announce_port"))
			f->announce_port = (guint16)json_object_get_int_member(o, "announce_port");
	}
	if (f->v52)
		pm_test_http_request_respond(request, 204, "No Content", NULL, NULL, NULL);
	else
		pm_test_http_request_respond(request, 200, "OK", "text/plain", "", NULL);
}

static void
fake_cb(PmTestHttpServer *server, PmTestHttpRequest *request, gpointer user_data)
{
	Fixture *f = user_data;
	const char *auth = pm_test_http_request_get_header(request, "Authorization");
	const char *cookie = pm_test_http_request_get_header(request, "Cookie");

	g_ptr_array_add(f->log, g_strdup_printf("%s %s %s", request->method, request->path,
						 auth != NULL ? auth : cookie != NULL ? cookie : "-"));
	if (pm_test_http_request_get_header(request, "Origin") != NULL ||
	    pm_test_http_request_get_header(request, "Referer") != NULL)
		f->n_origin++;
	if (strcmp(request->path, "/api/v2/auth/login") == 0 &&
	    strcmp(request->method, "POST") == 0) {
		fake_login(f, request);
	} else if (!authorized(f, request)) {
		pm_test_http_request_respond(request, 403, "Forbidden", "text/plain", "Forbidden",
					     NULL);
	} else if (strcmp(request->path, "/api/v2/app/preferences") == 0) {
		g_autofree char *body = NULL;
		f->n_get++;
		if (f->prefs_body != NULL)
			body = g_strdup(f->prefs_body);
		else if (f->v52)
			body = g_strdup_printf("{\"locale\":\"en\",\"listen_port\":%u,"
					       "\"random_port\":%s,\"upnp\":%s,\"announce_port\":%u,"
					       "\"scan_dirs\":{},\"web_ui_port\":8080}",
					       f->listen_port, f->random_port ? "true" : "false",
					       f->upnp ? "true" : "false", f->announce_port);
		else
			body = g_strdup_printf("{\"locale\":\"en\",\"listen_port\":%u,"
					       "\"random_port\":%s,\"upnp\":%s,\"scan_dirs\":{}}",
					       f->listen_port, f->random_port ? "true" : "false",
					       f->upnp ? "true" : "false");
		pm_test_http_request_respond(request, 200, "OK", "application/json", body, NULL);
	} else if (strcmp(request->path, "/api/v2/app/setPreferences") == 0 &&
		   strcmp(request->method, "POST") == 0) {
		fake_set(f, request);
	} else {
		pm_test_http_request_respond(request, 404, "Not Found", "text/plain", "", NULL);
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

static void
write_secret(const char *path, const char *value)
{
	g_autoptr(GError) error = NULL;
	g_file_set_contents_full(path, value, -1, G_FILE_SET_CONTENTS_NONE, 0600, &error);
	g_assert_no_error(error);
}

static void
fixture_init(Fixture *f, gboolean v52)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *pw_path = NULL;
	g_autofree char *key_path = NULL;

	f->v52 = v52;
	f->password = g_strdup(PASSWORD);
	f->listen_port = 6000;
	f->upnp = TRUE;
	f->announce_port = 0;
	f->log = g_ptr_array_new_with_free_func(g_free);
	f->reports = g_ptr_array_new_with_free_func(g_free);
	f->server = pm_test_http_server_new(fake_cb, f);
	f->scheduler = pm_scheduler_new_manual(SEC(1), SEC(1700000000), 1);
	f->context = pm_context_new(f->scheduler, PM_SECRET_POLICY_STRICT);
	f->dir = g_dir_make_tmp("portmap-qbt-XXXXXX", &error);
	g_assert_no_error(error);
	g_assert_cmpint(chmod(f->dir, 0700), ==, 0);
	pw_path = g_build_filename(f->dir, "qbt-password", NULL);
	key_path = g_build_filename(f->dir, "qbt-key", NULL);
	write_secret(pw_path, PASSWORD "\n");
	write_secret(key_path, API_KEY "\n");
	g_setenv("CREDENTIALS_DIRECTORY", f->dir, TRUE);
	pm_test_log_clear();
}

/* a consumer with URL= the fake and @keys */
static void
fixture_consumer(Fixture *f, const char *keys)
{
	g_autofree char *text =
	    g_strdup_printf("[Consumer qbt]\nType=qbittorrent\nURL=%s/\n%s",
			    pm_test_http_server_get_url(f->server), keys);
	g_autoptr(PmConfig) config = pm_test_config_load_ok(text);
	g_autoptr(GError) error = NULL;

	f->consumer = pm_consumer_new(f->context, pm_config_find_consumer(config, "qbt"), &error);
	g_assert_no_error(error);
	pm_consumer_set_report_func(f->consumer, report_cb, f);
}

/* a little of the main loop, for what must not happen */
static void
spin(void)
{
	gint64 deadline = g_get_monotonic_time() + 100000;
	while (g_get_monotonic_time() < deadline)
		g_main_context_iteration(NULL, FALSE);
}

/* until the operation in flight ended */
static void
wait_idle(Fixture *f)
{
	gint64 deadline = g_get_monotonic_time() + SEC(5);
	PmPortSetter *setter = (PmPortSetter *)f->consumer;

	while (setter->phase != 0 && g_get_monotonic_time() < deadline)
		g_main_context_iteration(NULL, FALSE);
	g_assert_cmpuint(setter->phase, ==, 0);
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
	g_ptr_array_unref(f->log);
	g_ptr_array_unref(f->reports);
	g_free(f->password);
	g_free(f->api_key);
	g_free(f->sid);
	g_free(f->last_set_body);
	{
		g_autofree char *a = g_build_filename(f->dir, "qbt-password", NULL);
		g_autofree char *b = g_build_filename(f->dir, "qbt-key", NULL);
		g_unlink(a);
		g_unlink(b);
	}
	g_rmdir(f->dir);
	g_free(f->dir);
	g_unsetenv("CREDENTIALS_DIRECTORY");
}

static void
push(Fixture *f, guint16 internal_port, guint16 external_port, PmConsumerPush kind)
{
	PmMappingView view;

	memset(&view, 0, sizeof(view));
	view.id = 7;
	view.name = "torrent";
	view.provider = "gw";
	g_strlcpy(view.external_address, "203.0.113.5", sizeof(view.external_address));
	view.ports.n_ports = 2;
	view.ports.ports[0] = (PmPortPair){PM_PROTOCOL_TCP, internal_port, external_port};
	view.ports.ports[1] = (PmPortPair){PM_PROTOCOL_UDP, internal_port, external_port};
	pm_consumer_mapping_up(f->consumer, &view, &view.ports, kind);
}

static const char *
last_report(Fixture *f)
{
	g_assert_cmpuint(f->reports->len, >, 0);
	return g_ptr_array_index(f->reports, f->reports->len - 1);
}

static const char *
log_line(Fixture *f, guint i)
{
	g_assert_cmpuint(f->log->len, >, i);
	return g_ptr_array_index(f->log, i);
}

/* 4.5: login, read, set, read back; the SID cookie on every call; no Origin/Referer;
 * then a reconcile push costs one read */
static void
test_flow_45(void)
{
	Fixture f = {0};

	fixture_init(&f, FALSE);
	fixture_consumer(&f, "PasswordCredential=qbt-password\n");
	push(&f, 51413, 51413, PM_CONSUMER_PUSH_GRANT);
	g_assert_cmpstr(last_report(&f), ==, "7:pending:");
	wait_idle(&f);
	g_assert_cmpstr(last_report(&f), ==, "7:ok:");
	g_assert_cmpuint(f.listen_port, ==, 51413);
	g_assert_false(f.random_port);
	g_assert_false(f.upnp);
	g_assert_cmpuint(f.n_login, ==, 1);
	g_assert_cmpuint(f.n_get, ==, 2);
	g_assert_cmpuint(f.n_set, ==, 1);
	g_assert_cmpuint(f.n_origin, ==, 0);
	/* 4.5 has no announce_port: none is sent */
	g_assert_cmpstr(f.last_set_body, ==,
			"{\"listen_port\":51413,\"random_port\":false,\"upnp\":false}");
	g_assert_cmpuint(f.log->len, ==, 4);
	g_assert_cmpstr(log_line(&f, 0), ==, "POST /api/v2/auth/login -");
	g_assert_cmpstr(log_line(&f, 1), ==, "GET /api/v2/app/preferences SID=session1");
	g_assert_cmpstr(log_line(&f, 2), ==, "POST /api/v2/app/setPreferences SID=session1");
	g_assert_cmpstr(log_line(&f, 3), ==, "GET /api/v2/app/preferences SID=session1");

	push(&f, 51413, 51413, PM_CONSUMER_PUSH_RECONCILE);
	wait_idle(&f);
	g_assert_cmpstr(last_report(&f), ==, "7:ok:");
	g_assert_cmpuint(f.log->len, ==, 5);
	g_assert_cmpstr(log_line(&f, 4), ==, "GET /api/v2/app/preferences SID=session1");
	fixture_clear(&f);
}

/* 5.2: 204 login, QBT_SID_<port>, announce_port set to E and read back */
static void
test_flow_52(void)
{
	Fixture f = {0};
	g_autofree char *cookie = NULL;
	g_autofree char *expected = NULL;

	fixture_init(&f, TRUE);
	fixture_consumer(&f, "PasswordCredential=qbt-password\n");
	push(&f, 51413, 40000, PM_CONSUMER_PUSH_GRANT);
	wait_idle(&f);
	g_assert_cmpstr(last_report(&f), ==, "7:ok:");
	g_assert_cmpuint(f.listen_port, ==, 51413);
	g_assert_cmpuint(f.announce_port, ==, 40000);
	g_assert_cmpstr(f.last_set_body, ==,
			"{\"listen_port\":51413,\"random_port\":false,\"upnp\":false,"
			"\"announce_port\":40000}");
	g_assert_cmpuint(f.n_login, ==, 1);
	g_assert_cmpuint(f.n_get, ==, 2);
	g_assert_cmpuint(f.n_set, ==, 1);
	g_assert_cmpuint(f.n_origin, ==, 0);
	cookie = cookie_name(&f);
	expected = g_strdup_printf("GET /api/v2/app/preferences %s=session1", cookie);
	g_assert_cmpstr(log_line(&f, 1), ==, expected);

	/* a new E alone is a change too */
	push(&f, 51413, 40001, PM_CONSUMER_PUSH_GRANT);
	wait_idle(&f);
	g_assert_cmpstr(last_report(&f), ==, "7:ok:");
	g_assert_cmpuint(f.announce_port, ==, 40001);
	g_assert_cmpuint(f.n_set, ==, 2);
	fixture_clear(&f);
}

/* the application already has the target: one read, no write */
static void
test_already_right(void)
{
	Fixture f = {0};

	fixture_init(&f, FALSE);
	f.listen_port = 51413;
	f.upnp = FALSE;
	fixture_consumer(&f, "PasswordCredential=qbt-password\n");
	push(&f, 51413, 51413, PM_CONSUMER_PUSH_GRANT);
	wait_idle(&f);
	g_assert_cmpstr(last_report(&f), ==, "7:ok:");
	g_assert_cmpuint(f.n_login, ==, 1);
	g_assert_cmpuint(f.n_get, ==, 1);
	g_assert_cmpuint(f.n_set, ==, 0);
	/* UPnP on is not the target: it would map a port of its own */
	f.upnp = TRUE;
	push(&f, 51413, 51413, PM_CONSUMER_PUSH_RECONCILE);
	wait_idle(&f);
	g_assert_cmpuint(f.n_set, ==, 1);
	g_assert_false(f.upnp);
	fixture_clear(&f);
}

/* a refused password: one login, failed, then nothing on reconcile pushes, and one new
 * login on a retry push */
static void
test_wrong_password(gconstpointer data)
{
	gboolean v52 = GPOINTER_TO_INT(data);
	Fixture f = {0};
	g_autofree char *pw_path = NULL;
	const char *report;

	fixture_init(&f, v52);
	pw_path = g_build_filename(f.dir, "qbt-password", NULL);
	write_secret(pw_path, "another\n");
	fixture_consumer(&f, "PasswordCredential=qbt-password\n");
	push(&f, 51413, 51413, PM_CONSUMER_PUSH_GRANT);
	wait_idle(&f);
	g_assert_cmpuint(f.n_login, ==, 1);
	g_assert_cmpuint(f.log->len, ==, 1);
	report = last_report(&f);
	g_assert_true(g_str_has_prefix(report, "7:failed:POST http://127.0.0.1:"));
	g_assert_nonnull(strstr(report, v52 ? "HTTP 401 (" : "HTTP 200 (Fails.)"));
	g_assert_nonnull(strstr(report, "refused the username or password"));
	g_assert_nonnull(strstr(report, "no further login until Reload()"));
	/* the password is never quoted */
	g_assert_null(strstr(report, "another"));
	pm_test_assert_warning("refused the username or password");

	for (guint i = 0; i < 3; i++) {
		push(&f, 51413, 51413, PM_CONSUMER_PUSH_RECONCILE);
		spin();
		g_assert_true(g_str_has_prefix(last_report(&f), "7:failed:"));
	}
	pm_scheduler_advance(f.scheduler, SEC(3600));
	spin();
	g_assert_cmpuint(f.log->len, ==, 1);
	g_assert_cmpuint(pm_scheduler_get_n_armed(f.scheduler), ==, 0);

	/* the user fixes the file, then Reload() (the configuration is the same: the object
	 * stays) or Refresh(): one login, with the password read again, which works */
	write_secret(pw_path, PASSWORD "\n");
	push(&f, 51413, 51413, PM_CONSUMER_PUSH_RETRY);
	wait_idle(&f);
	g_assert_cmpuint(f.n_login, ==, 2);
	g_assert_cmpstr(last_report(&f), ==, "7:ok:");
	g_assert_cmpuint(f.listen_port, ==, 51413);
	fixture_clear(&f);
}

/* the password is read again at each login: gone, no login is sent and the state says
 * why; back, the next push logs in */
static void
test_password_gone(void)
{
	Fixture f = {0};
	g_autofree char *pw_path = NULL;

	fixture_init(&f, FALSE);
	pw_path = g_build_filename(f.dir, "qbt-password", NULL);
	fixture_consumer(&f, "PasswordCredential=qbt-password\n");
	g_assert_cmpint(g_unlink(pw_path), ==, 0);
	push(&f, 51413, 51413, PM_CONSUMER_PUSH_GRANT);
	wait_idle(&f);
	g_assert_cmpuint(f.log->len, ==, 0);
	g_assert_true(g_str_has_prefix(last_report(&f), "7:failed:"));
	g_assert_nonnull(strstr(last_report(&f), "qbt-password"));
	pm_test_log_clear();
	write_secret(pw_path, PASSWORD "\n");
	push(&f, 51413, 51413, PM_CONSUMER_PUSH_RECONCILE);
	wait_idle(&f);
	g_assert_cmpstr(last_report(&f), ==, "7:ok:");
	g_assert_cmpuint(f.n_login, ==, 1);
	fixture_clear(&f);
}

/* banned: failed, saying so, and no further login */
static void
test_banned(void)
{
	Fixture f = {0};

	fixture_init(&f, FALSE);
	f.n_failures = 5;
	fixture_consumer(&f, "PasswordCredential=qbt-password\n");
	push(&f, 51413, 51413, PM_CONSUMER_PUSH_GRANT);
	wait_idle(&f);
	g_assert_cmpuint(f.n_login, ==, 1);
	g_assert_nonnull(strstr(last_report(&f), "HTTP 403 (" BAN_MESSAGE ")"));
	g_assert_nonnull(strstr(last_report(&f), "has banned this address"));
	pm_test_assert_warning("has banned this address");
	push(&f, 51413, 51413, PM_CONSUMER_PUSH_RECONCILE);
	spin();
	g_assert_cmpuint(f.log->len, ==, 1);
	fixture_clear(&f);
}

/* the session expires: the 403 costs one login and the call again; a 403 right after a
 * login is not looped on */
static void
test_session_expiry(void)
{
	Fixture f = {0};

	fixture_init(&f, FALSE);
	fixture_consumer(&f, "PasswordCredential=qbt-password\n");
	push(&f, 51413, 51413, PM_CONSUMER_PUSH_GRANT);
	wait_idle(&f);
	g_assert_cmpuint(f.n_login, ==, 1);
	g_clear_pointer(&f.sid, g_free);
	g_ptr_array_set_size(f.log, 0);
	push(&f, 51413, 51413, PM_CONSUMER_PUSH_RECONCILE);
	wait_idle(&f);
	g_assert_cmpstr(last_report(&f), ==, "7:ok:");
	g_assert_cmpuint(f.n_login, ==, 2);
	g_assert_cmpuint(f.log->len, ==, 3);
	g_assert_cmpstr(log_line(&f, 0), ==, "GET /api/v2/app/preferences SID=session1");
	g_assert_cmpstr(log_line(&f, 1), ==, "POST /api/v2/auth/login -");
	g_assert_cmpstr(log_line(&f, 2), ==, "GET /api/v2/app/preferences SID=session2");

	/* forbidden even with a fresh session: once, failed, no loop */
	f.forbid_api = TRUE;
	g_clear_pointer(&f.sid, g_free);
	push(&f, 51413, 51413, PM_CONSUMER_PUSH_RECONCILE);
	wait_idle(&f);
	g_assert_cmpuint(f.n_login, ==, 3);
	g_assert_cmpuint(f.log->len, ==, 6);
	g_assert_nonnull(strstr(last_report(&f), "7:failed:GET http://127.0.0.1:"));
	g_assert_nonnull(strstr(last_report(&f), "HTTP 403 Forbidden (Forbidden)"));
	pm_test_assert_warning("refused the session it had just opened");
	fixture_clear(&f);
}

/* the write is acknowledged but not applied: pending, and tried again after the wait */
static void
test_read_back_mismatch(void)
{
	Fixture f = {0};
	guint64 wait;

	fixture_init(&f, FALSE);
	f.ignore_set = TRUE;
	fixture_consumer(&f, "PasswordCredential=qbt-password\n");
	push(&f, 51413, 51413, PM_CONSUMER_PUSH_GRANT);
	wait_idle(&f);
	g_assert_cmpuint(f.n_set, ==, 1);
	g_assert_cmpuint(f.n_get, ==, 2);
	g_assert_cmpstr(last_report(&f), ==,
			"7:pending:listening port 51413 was set, but the application reads back "
			"listen_port 6000, upnp true");
	g_assert_cmpuint(pm_scheduler_get_n_armed(f.scheduler), ==, 1);
	wait = pm_scheduler_get_next_deadline(f.scheduler) - pm_scheduler_now(f.scheduler);
	g_assert_cmpuint(wait, >=, SEC(2));
	f.ignore_set = FALSE;
	pm_scheduler_advance(f.scheduler, wait);
	wait_idle(&f);
	g_assert_cmpstr(last_report(&f), ==, "7:ok:");
	g_assert_cmpuint(f.n_set, ==, 2);
	g_assert_cmpuint(f.listen_port, ==, 51413);
	g_assert_cmpuint(f.n_login, ==, 1);
	fixture_clear(&f);
}

/* replies that are not the preferences: pending with what was wrong, state unchanged */
static void
test_bad_reply(void)
{
	static const struct {
		const char *body;
		const char *message;
	} cases[] = {
	    {"Forbidden", "the preferences are not a JSON object"},
	    {"{\"listen_port\":\"6000\",\"upnp\":false}",
	     "the preferences' \"listen_port\" is not an integer"},
	    {"{\"listen_port\":70000,\"upnp\":false}", "\"listen_port\" is 70000, not a port"},
	    {"{\"upnp\":false}", "the preferences are without \"listen_port\""},
	    {"{\"listen_port\":6000,\"upnp\":false}{}", "not JSON: text after the object"},
	};

	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		Fixture f = {0};
		const char *report;

		fixture_init(&f, FALSE);
		f.prefs_body = cases[i].body;
		fixture_consumer(&f, "PasswordCredential=qbt-password\n");
		push(&f, 51413, 51413, PM_CONSUMER_PUSH_GRANT);
		wait_idle(&f);
		report = last_report(&f);
		g_assert_true(g_str_has_prefix(report, "7:pending:GET http://127.0.0.1:"));
		g_assert_nonnull(strstr(report, "/api/v2/app/preferences: HTTP 200, but "));
		g_assert_nonnull(strstr(report, cases[i].message));
		g_assert_cmpuint(f.n_set, ==, 0);
		g_assert_cmpuint(f.listen_port, ==, 6000);
		g_assert_cmpuint(((PmPortSetter *)f.consumer)->confirmed_port, ==, 0);
		fixture_clear(&f);
	}
}

/* an API key: a bearer on every call, no login, no cookie; a refused key blocks */
static void
test_api_key(void)
{
	Fixture f = {0};

	fixture_init(&f, TRUE);
	f.api_key = g_strdup(API_KEY);
	fixture_consumer(&f, "APIKeyCredential=qbt-key\n");
	push(&f, 51413, 51413, PM_CONSUMER_PUSH_GRANT);
	wait_idle(&f);
	g_assert_cmpstr(last_report(&f), ==, "7:ok:");
	g_assert_cmpuint(f.n_login, ==, 0);
	g_assert_cmpuint(f.log->len, ==, 3);
	g_assert_cmpstr(log_line(&f, 0), ==, "GET /api/v2/app/preferences Bearer " API_KEY);
	g_assert_cmpstr(log_line(&f, 1), ==, "POST /api/v2/app/setPreferences Bearer " API_KEY);
	g_assert_cmpuint(f.announce_port, ==, 51413);
	g_assert_cmpuint(f.n_origin, ==, 0);

	/* the key changed on qBittorrent's side */
	g_free(f.api_key);
	f.api_key = g_strdup("qbt_another");
	push(&f, 51414, 51414, PM_CONSUMER_PUSH_GRANT);
	wait_idle(&f);
	g_assert_cmpuint(f.n_login, ==, 0);
	g_assert_nonnull(strstr(last_report(&f), "7:failed:"));
	g_assert_nonnull(strstr(last_report(&f), "refused the API key"));
	g_assert_null(strstr(last_report(&f), API_KEY));
	pm_test_assert_warning("refused the API key");
	push(&f, 51414, 51414, PM_CONSUMER_PUSH_RECONCILE);
	spin();
	g_assert_cmpuint(f.log->len, ==, 4);
	fixture_clear(&f);
}

/* no password and no key: calls without credentials (qBittorrent's bypass for
 * localhost); a 403 then says what to set */
static void
test_no_credentials(void)
{
	Fixture f = {0};

	fixture_init(&f, FALSE);
	fixture_consumer(&f, "");
	push(&f, 51413, 51413, PM_CONSUMER_PUSH_GRANT);
	wait_idle(&f);
	g_assert_cmpuint(f.n_login, ==, 0);
	g_assert_cmpuint(f.log->len, ==, 1);
	g_assert_nonnull(strstr(last_report(&f), "7:failed:"));
	g_assert_nonnull(strstr(last_report(&f), "set PasswordCredential= or PasswordFile="));
	pm_test_assert_warning("qBittorrent wants a login");
	fixture_clear(&f);
}

/* Describe(): the engine's members and whether there is a key, never the key */
static void
test_describe(void)
{
	Fixture f = {0};
	g_autofree char *text = NULL;
	PmJsonWriter writer;

	fixture_init(&f, TRUE);
	fixture_consumer(&f, "APIKeyCredential=qbt-key\n");
	pm_json_writer_init(&writer, 256, FALSE);
	pm_consumer_describe(f.consumer, &writer);
	text = pm_json_writer_finish(&writer);
	{
		g_autofree char *expected = g_strdup_printf(
		    "{\"Name\":\"qbt\",\"Type\":\"qbittorrent\",\"URL\":\"%s/\","
		    "\"Blocked\":false,\"ListenPort\":0,\"APIKey\":true}",
		    pm_test_http_server_get_url(f.server));
		g_assert_cmpstr(text, ==, expected);
	}
	fixture_clear(&f);
}

/* the keys: defaults, one credential kind, printed back as read, never a secret */
static void
test_config(void)
{
	g_autoptr(PmConfig) config = NULL;
	g_autoptr(PmConfig) config2 = NULL;
	g_autoptr(GString) printed = g_string_new(NULL);

	pm_test_config_assert_load_error(
	    "[Consumer q]\nType=qbittorrent\nURL=ftp://x/\n",
	    "test.conf:3: [Consumer q] URL=ftp://x/: not an http or https URL; accepted values: "
	    "http://HOST[:PORT][/PATH] or https://HOST[:PORT][/PATH]");
	pm_test_config_assert_load_error(
	    "[Consumer q]\nType=qbittorrent\nPasswordFile=/etc/p\nAPIKeyCredential=k\n",
	    "test.conf:4: [Consumer q] APIKeyCredential=k: a password is set as well; accepted "
	    "values: APIKeyCredential= (qBittorrent 5.2+) or PasswordCredential=/PasswordFile=, "
	    "not both");
	pm_test_config_assert_load_error(
	    "[Consumer q]\nType=qbittorrent\nToken=x\n",
	    "test.conf:3: [Consumer q] Token=x: unknown key; accepted keys: Type, URL, Username, "
	    "PasswordCredential, PasswordFile, TimeoutSec, APIKeyCredential");

	config = pm_test_config_load_ok("[Consumer q]\nType=qbittorrent\n");
	pm_consumer_config_print(g_ptr_array_index(config->consumers, 0), printed);
	g_assert_cmpstr(printed->str, ==,
			"[Consumer q]\nType=qbittorrent\nURL=http://127.0.0.1:8080\n"
			"Username=admin\nTimeoutSec=10s\n");
	g_clear_pointer(&config, pm_config_free);
	g_string_truncate(printed, 0);

	config = pm_test_config_load_ok("[Consumer q]\nType=qbittorrent\nURL=http://nas:8081/qbt\n"
					"APIKeyCredential=qbt-key\nTimeoutSec=5\n");
	pm_consumer_config_print(g_ptr_array_index(config->consumers, 0), printed);
	g_assert_cmpstr(printed->str, ==,
			"[Consumer q]\nType=qbittorrent\nURL=http://nas:8081/qbt\n"
			"Username=admin\nTimeoutSec=5s\nAPIKeyCredential=qbt-key\n");
	config2 = pm_test_config_load_ok(printed->str);
	g_assert_true(pm_consumer_config_equal(g_ptr_array_index(config->consumers, 0),
					       g_ptr_array_index(config2->consumers, 0)));
	g_clear_pointer(&config2, pm_config_free);
	config2 = pm_test_config_load_ok("[Consumer q]\nType=qbittorrent\nURL=http://nas:8081/qbt\n"
					 "APIKeyCredential=other\nTimeoutSec=5\n");
	g_assert_false(pm_consumer_config_equal(g_ptr_array_index(config->consumers, 0),
						g_ptr_array_index(config2->consumers, 0)));
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	pm_test_log_init();
	g_test_add_func("/qbittorrent/flow-4.5", test_flow_45);
	g_test_add_func("/qbittorrent/flow-5.2", test_flow_52);
	g_test_add_func("/qbittorrent/already-right", test_already_right);
	g_test_add_data_func("/qbittorrent/wrong-password-4.5", GINT_TO_POINTER(FALSE),
			     test_wrong_password);
	g_test_add_data_func("/qbittorrent/wrong-password-5.2", GINT_TO_POINTER(TRUE),
			     test_wrong_password);
	g_test_add_func("/qbittorrent/password-gone", test_password_gone);
	g_test_add_func("/qbittorrent/banned", test_banned);
	g_test_add_func("/qbittorrent/session-expiry", test_session_expiry);
	g_test_add_func("/qbittorrent/read-back-mismatch", test_read_back_mismatch);
	g_test_add_func("/qbittorrent/bad-reply", test_bad_reply);
	g_test_add_func("/qbittorrent/api-key", test_api_key);
	g_test_add_func("/qbittorrent/no-credentials", test_no_credentials);
	g_test_add_func("/qbittorrent/describe", test_describe);
	g_test_add_func("/qbittorrent/config", test_config);
	return g_test_run();
}
