/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The RouterOS API client (daemon/gateway/routeros-client.c) against a fake router on
 * 127.0.0.1 written here with the codec: a GSocketService (TLS with the test certificates
 * of tls/ when asked) that answers each command word with a scripted behaviour, and counts
 * connections, logins and commands. Real time: a real PmScheduler and short timeouts.
 */
#include <string.h>

#include "routeros-client.h"
#include "test-log.h"
#include "tls-trust.h"

#define PASSWORD "s3cret-pw"
#define CHALLENGE "ebddd18303a54111e2dea05a92ab46b4"

typedef enum {
	LOGIN_OK,
	LOGIN_LEGACY,
	LOGIN_REFUSE_TRAP,
	LOGIN_REFUSE_FATAL,
} LoginMode;

typedef struct _Fake Fake;

typedef struct {
	Fake *fake;
	GSocketConnection *tcp;
	GIOStream *stream;
	GCancellable *cancellable;
	PmRosParser *parser;
	guint8 buf[4096];
	GQueue out; /* of GBytes */
	gboolean closed;
} FakeConn;

struct _Fake {
	GSocketService *service;
	guint16 port;
	GTlsCertificate *certificate;
	LoginMode login;
	GPtrArray *conns;   /* of FakeConn */
	GArray *timeouts;   /* of guint: delayed replies */
	guint n_connections;
	guint n_login_attempts;
	guint n_commands;
	guint n_probes;
	gboolean garbage; /* answers a connection with bytes that are not TLS, and closes */
	gboolean legacy_response_ok;
	gboolean saw_password_in_legacy;
};

typedef struct {
	FakeConn *conn;
	GBytes *bytes;
	gboolean close_after;
} Delayed;

static void fake_conn_read(FakeConn *fc);

static void
fake_conn_close(FakeConn *fc)
{
	if (fc->closed)
		return;
	fc->closed = TRUE;
	g_cancellable_cancel(fc->cancellable);
	g_io_stream_close(G_IO_STREAM(fc->tcp), NULL, NULL);
}

static void fake_conn_write_next(FakeConn *fc);

static void
fake_conn_write_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
	FakeConn *fc = user_data;
	g_output_stream_write_all_finish(G_OUTPUT_STREAM(source), result, NULL, NULL);
	g_bytes_unref(g_queue_pop_head(&fc->out));
	if (!fc->closed && !g_queue_is_empty(&fc->out))
		fake_conn_write_next(fc);
}

static void
fake_conn_write_next(FakeConn *fc)
{
	gsize len = 0;
	const void *data = g_bytes_get_data(g_queue_peek_head(&fc->out), &len);
	g_output_stream_write_all_async(g_io_stream_get_output_stream(fc->stream), data, len,
					G_PRIORITY_DEFAULT, fc->cancellable, fake_conn_write_cb, fc);
}

static void
fake_conn_send(FakeConn *fc, GBytes *bytes)
{
	if (fc->closed)
		return;
	g_queue_push_tail(&fc->out, g_bytes_ref(bytes));
	if (fc->out.length == 1)
		fake_conn_write_next(fc);
}

static gboolean
delayed_cb(gpointer user_data)
{
	Delayed *d = user_data;
	fake_conn_send(d->conn, d->bytes);
	if (d->close_after)
		fake_conn_close(d->conn);
	return G_SOURCE_REMOVE;
}

static void
delayed_free(gpointer user_data)
{
	Delayed *d = user_data;
	g_bytes_unref(d->bytes);
	g_free(d);
}

/* the sentences of @replies (each NULL-terminated, the list ended by NULL), each with
 * @tag, after @delay_ms */
static void
fake_reply(FakeConn *fc, const char *tag, guint delay_ms, const char *const *const *replies)
{
	g_autoptr(GByteArray) out = g_byte_array_new();
	g_autofree char *tag_word = tag != NULL ? g_strdup_printf(".tag=%s", tag) : NULL;
	g_autoptr(GBytes) bytes = NULL;

	for (guint i = 0; replies[i] != NULL; i++) {
		for (guint w = 0; replies[i][w] != NULL; w++)
			pm_ros_append_word(out, replies[i][w]);
		if (tag_word != NULL)
			pm_ros_append_word(out, tag_word);
		pm_ros_append_length(out, 0);
	}
	bytes = g_byte_array_free_to_bytes(g_steal_pointer(&out));
	if (delay_ms == 0) {
		fake_conn_send(fc, bytes);
	} else {
		Delayed *d = g_new0(Delayed, 1);
		guint id;
		d->conn = fc;
		d->bytes = g_bytes_ref(bytes);
		id = g_timeout_add_full(G_PRIORITY_DEFAULT, delay_ms, delayed_cb, d, delayed_free);
		g_array_append_val(fc->fake->timeouts, id);
	}
}

#define R(...) ((const char *const[]){__VA_ARGS__, NULL})
#define REPLIES(...) ((const char *const *const[]){__VA_ARGS__, NULL})

static void
fake_login(FakeConn *fc, PmRosSentence *s, const char *tag)
{
	Fake *fake = fc->fake;
	const char *name = pm_ros_sentence_get_attribute(s, "name");
	const char *password = pm_ros_sentence_get_attribute(s, "password");
	const char *response = pm_ros_sentence_get_attribute(s, "response");

	fake->n_login_attempts++;
	switch (fake->login) {
	case LOGIN_OK:
		if (g_strcmp0(name, "admin") == 0 && g_strcmp0(password, PASSWORD) == 0)
			fake_reply(fc, tag, 0, REPLIES(R("!done")));
		else
			fake_reply(fc, tag, 0,
				   REPLIES(R("!trap", "=message=invalid user name or password (6)"),
					   R("!done")));
		return;
	case LOGIN_LEGACY:
		if (response == NULL) {
			fake_reply(fc, tag, 0, REPLIES(R("!done", "=ret=" CHALLENGE)));
		} else {
			g_autofree char *expected =
				pm_ros_legacy_login_response(PASSWORD, CHALLENGE, NULL);
			fake->legacy_response_ok = g_strcmp0(response, expected) == 0 &&
						   g_strcmp0(name, "admin") == 0;
			fake->saw_password_in_legacy = password != NULL;
			if (fake->legacy_response_ok)
				fake_reply(fc, tag, 0, REPLIES(R("!done")));
			else
				fake_reply(fc, tag, 0, REPLIES(R("!trap", "=message=bad"), R("!done")));
		}
		return;
	case LOGIN_REFUSE_TRAP:
		fake_reply(fc, tag, 0,
			   REPLIES(R("!trap", "=message=invalid user name or password (6)"),
				   R("!done")));
		return;
	case LOGIN_REFUSE_FATAL:
	default:
		fake_reply(fc, NULL, 0, REPLIES(R("!fatal", "invalid user name or password")));
		fake_conn_close(fc);
		return;
	}
}

static void
fake_command(FakeConn *fc, PmRosSentence *s)
{
	const char *command = pm_ros_sentence_get_command(s);
	const char *tag = pm_ros_sentence_get_tag(s);

	if (strcmp(command, "/login") == 0) {
		fake_login(fc, s, tag);
		return;
	}
	fc->fake->n_commands++;
	if (strcmp(command, "/system/identity/print") == 0) {
		fc->fake->n_probes++;
		fake_reply(fc, tag, 0, REPLIES(R("!re", "=name=MikroTik"), R("!done")));
	} else if (strcmp(command, "/ip/firewall/nat/add") == 0) {
		fake_reply(fc, tag, 0, REPLIES(R("!done", "=ret=*1")));
	} else if (strcmp(command, "/ip/firewall/nat/print") == 0) {
		fake_reply(fc, tag, 0,
			   REPLIES(R("!re", "=.id=*1", "=comment=double-natpmp-tcp-1"),
				   R("!unknown-word", "=x=y"),
				   R("!re", "=.id=*2", "=comment="), R("!done")));
	} else if (strcmp(command, "/empty/print") == 0) {
		fake_reply(fc, tag, 0, REPLIES(R("!empty"), R("!done")));
	} else if (strcmp(command, "/trap") == 0) {
		fake_reply(fc, tag, 0,
			   REPLIES(R("!trap", "=category=1",
				     "=message=input does not match any value of interface"),
				   R("!done")));
	} else if (strcmp(command, "/wrong-tag") == 0) {
		fake_reply(fc, "999", 0, REPLIES(R("!done")));
	} else if (strcmp(command, "/no-tag") == 0) {
		fake_reply(fc, NULL, 0, REPLIES(R("!done")));
	} else if (strcmp(command, "/drop") == 0) {
		fake_conn_close(fc);
	} else if (strcmp(command, "/fatal") == 0) {
		fake_reply(fc, NULL, 0, REPLIES(R("!fatal", "session terminated on request")));
		fake_conn_close(fc);
	} else if (strcmp(command, "/slow") == 0) {
		fake_reply(fc, tag, 1000, REPLIES(R("!done")));
	} else if (strcmp(command, "/delay") == 0) {
		fake_reply(fc, tag, 200, REPLIES(R("!done")));
	} else {
		fake_reply(fc, tag, 0,
			   REPLIES(R("!trap", "=category=0", "=message=no such command"),
				   R("!done")));
	}
}

static void
fake_conn_read_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
	FakeConn *fc = user_data;
	gssize n = g_input_stream_read_finish(G_INPUT_STREAM(source), result, NULL);
	PmRosSentence *s;

	if (fc->closed)
		return;
	if (n <= 0 || !pm_ros_parser_feed(fc->parser, fc->buf, (gsize)n, NULL)) {
		fake_conn_close(fc);
		return;
	}
	while (!fc->closed && (s = pm_ros_parser_pop(fc->parser)) != NULL) {
		fake_command(fc, s);
		pm_ros_sentence_free(s);
	}
	if (!fc->closed)
		fake_conn_read(fc);
}

static void
fake_conn_read(FakeConn *fc)
{
	g_input_stream_read_async(g_io_stream_get_input_stream(fc->stream), fc->buf,
				  sizeof(fc->buf), G_PRIORITY_DEFAULT, fc->cancellable,
				  fake_conn_read_cb, fc);
}

static void
fake_handshake_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
	FakeConn *fc = user_data;
	if (!g_tls_connection_handshake_finish(G_TLS_CONNECTION(source), result, NULL)) {
		fake_conn_close(fc);
		return;
	}
	fake_conn_read(fc);
}

static gboolean
fake_incoming_cb(GSocketService *service, GSocketConnection *connection, GObject *source,
		 gpointer user_data)
{
	Fake *fake = user_data;
	FakeConn *fc = g_new0(FakeConn, 1);

	fc->fake = fake;
	fc->tcp = g_object_ref(connection);
	fc->cancellable = g_cancellable_new();
	fc->parser = pm_ros_parser_new();
	g_queue_init(&fc->out);
	g_ptr_array_add(fake->conns, fc);
	fake->n_connections++;
	if (fake->certificate != NULL) {
		g_autoptr(GError) error = NULL;
		fc->stream = g_tls_server_connection_new(G_IO_STREAM(connection), fake->certificate,
							 &error);
		g_assert_no_error(error);
		g_tls_connection_handshake_async(G_TLS_CONNECTION(fc->stream), G_PRIORITY_DEFAULT,
						 fc->cancellable, fake_handshake_cb, fc);
	} else if (fake->garbage) {
		g_autoptr(GBytes) bytes = g_bytes_new_static("HTTP/1.0 400 Bad Request\r\n\r\n", 28);
		fc->stream = G_IO_STREAM(g_object_ref(connection));
		g_output_stream_write_all(g_io_stream_get_output_stream(fc->stream),
					  g_bytes_get_data(bytes, NULL), 28, NULL, NULL, NULL);
		fake_conn_close(fc);
	} else {
		fc->stream = G_IO_STREAM(g_object_ref(connection));
		fake_conn_read(fc);
	}
	return TRUE;
}

static void
fake_conn_free(gpointer data)
{
	FakeConn *fc = data;
	fake_conn_close(fc);
	g_queue_clear_full(&fc->out, (GDestroyNotify)g_bytes_unref);
	g_object_unref(fc->stream);
	g_object_unref(fc->tcp);
	g_object_unref(fc->cancellable);
	pm_ros_parser_free(fc->parser);
	g_free(fc);
}

static Fake *
fake_new(const char *pem)
{
	Fake *fake = g_new0(Fake, 1);
	g_autoptr(GError) error = NULL;
	g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
	g_autoptr(GSocketAddress) address = g_inet_socket_address_new(loopback, 0);
	g_autoptr(GSocketAddress) bound = NULL;

	if (pem != NULL) {
		g_autofree char *path = g_test_build_filename(G_TEST_DIST, "tls", pem, NULL);
		fake->certificate = g_tls_certificate_new_from_file(path, &error);
		g_assert_no_error(error);
	}
	fake->conns = g_ptr_array_new();
	fake->timeouts = g_array_new(FALSE, FALSE, sizeof(guint));
	fake->service = g_socket_service_new();
	g_socket_listener_add_address(G_SOCKET_LISTENER(fake->service), address,
				      G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, NULL, &bound,
				      &error);
	g_assert_no_error(error);
	fake->port = g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(bound));
	g_signal_connect(fake->service, "incoming", G_CALLBACK(fake_incoming_cb), fake);
	g_socket_service_start(fake->service);
	return fake;
}

static void
fake_free(Fake *fake)
{
	g_socket_service_stop(fake->service);
	g_socket_listener_close(G_SOCKET_LISTENER(fake->service));
	for (guint i = 0; i < fake->timeouts->len; i++) {
		GSource *source = g_main_context_find_source_by_id(
			NULL, g_array_index(fake->timeouts, guint, i));
		if (source != NULL)
			g_source_destroy(source);
	}
	for (guint i = 0; i < fake->conns->len; i++)
		fake_conn_close(g_ptr_array_index(fake->conns, i));
	/* let the cancelled operations call back before their connections go */
	for (guint i = 0; i < 20; i++)
		g_main_context_iteration(NULL, FALSE);
	g_ptr_array_set_free_func(fake->conns, fake_conn_free);
	g_ptr_array_unref(fake->conns);
	g_array_unref(fake->timeouts);
	g_object_unref(fake->service);
	g_clear_object(&fake->certificate);
	g_free(fake);
}

/* ---- the client side ------------------------------------------------------------------ */

typedef struct {
	gboolean done;
	GError *error;
	guint n_rows;
	char *ret;
	char *message;
	char *category;
	char *first_id;
	gint64 at;
} Result;

static gboolean in_call; /* a callback from inside pm_ros_client_call() is a bug */

static void
result_clear(Result *r)
{
	g_clear_error(&r->error);
	g_clear_pointer(&r->ret, g_free);
	g_clear_pointer(&r->message, g_free);
	g_clear_pointer(&r->category, g_free);
	g_clear_pointer(&r->first_id, g_free);
	memset(r, 0, sizeof(*r));
}

static void
call_cb(PmRosClient *client, const PmRosReply *reply, const GError *error, gpointer user_data)
{
	Result *r = user_data;

	g_assert_false(in_call);
	g_assert_false(r->done);
	r->done = TRUE;
	r->at = g_get_monotonic_time();
	if (error != NULL)
		r->error = g_error_copy(error);
	if (reply != NULL) {
		r->n_rows = reply->rows->len;
		if (reply->rows->len > 0)
			r->first_id = g_strdup(pm_ros_sentence_get_attribute(
				g_ptr_array_index(reply->rows, 0), ".id"));
		r->ret = g_strdup(pm_ros_sentence_get_attribute(reply->done, "ret"));
		r->message = g_strdup(pm_ros_reply_get_message(reply));
		r->category = g_strdup(pm_ros_sentence_get_attribute(reply->done, "category"));
	}
}

static void
call(PmRosClient *client, const char *const *words, Result *r)
{
	in_call = TRUE;
	pm_ros_client_call(client, words, call_cb, r);
	in_call = FALSE;
	g_assert_false(r->done);
}

static gboolean
wait_until(gboolean (*cond)(gpointer), gpointer data, guint timeout_ms)
{
	gint64 end = g_get_monotonic_time() + timeout_ms * G_TIME_SPAN_MILLISECOND;
	while (!cond(data)) {
		if (g_get_monotonic_time() > end)
			return FALSE;
		g_main_context_iteration(NULL, FALSE);
		g_usleep(500);
	}
	return TRUE;
}

static gboolean
result_done(gpointer data)
{
	return ((Result *)data)->done;
}

static void
wait_result(Result *r)
{
	g_assert_true(wait_until(result_done, r, 5000));
}

/* keep the loop running for @ms */
static void
spin(guint ms)
{
	gint64 end = g_get_monotonic_time() + ms * G_TIME_SPAN_MILLISECOND;
	while (g_get_monotonic_time() < end) {
		g_main_context_iteration(NULL, FALSE);
		g_usleep(1000);
	}
}

typedef struct {
	PmScheduler *scheduler;
	Fake *fake;
	PmRosClient *client;
	PmRosClientConfig config;
	guint8 fingerprint[32];
} Fixture;

static void
fixture_setup(Fixture *f, gconstpointer data)
{
	pm_test_log_clear();
	f->scheduler = pm_scheduler_new();
	f->fake = fake_new(data);
	f->config = (PmRosClientConfig){
		.host = "127.0.0.1",
		.port = f->fake->port,
		.username = "admin",
		.password = PASSWORD,
		.pool_size = 2,
		.timeout_usec = 2 * G_USEC_PER_SEC,
	};
}

static void
fixture_teardown(Fixture *f, gconstpointer data)
{
	g_clear_pointer(&f->client, pm_ros_client_free);
	spin(20);
	fake_free(f->fake);
	pm_scheduler_free(f->scheduler);
}

static void
start(Fixture *f)
{
	f->client = pm_ros_client_new(f->scheduler, &f->config);
}

static gboolean
client_ready(gpointer data)
{
	Fixture *f = data;
	return pm_ros_client_get_n_ready(f->client) > 0;
}

static void
assert_no_password(const GError *error)
{
	g_assert_null(strstr(error->message, PASSWORD));
}

/* ---- tests ---------------------------------------------------------------------------- */

static void
test_login(Fixture *f, gconstpointer data)
{
	Result r = {0};

	start(f);
	call(f->client, R("/ip/firewall/nat/add", "=chain=dstnat", "=comment="), &r);
	wait_result(&r);
	g_assert_no_error(r.error);
	g_assert_cmpstr(r.ret, ==, "*1");
	g_assert_cmpuint(r.n_rows, ==, 0);
	g_assert_cmpuint(pm_ros_client_get_n_logins(f->client), >=, 1);
	g_assert_cmpuint(f->fake->n_login_attempts, >=, 1);
	g_assert_null(pm_ros_client_get_last_error(f->client));
	result_clear(&r);
	pm_test_assert_no_warnings();
}

static void
test_legacy_login(Fixture *f, gconstpointer data)
{
	Result r = {0};

	f->fake->login = LOGIN_LEGACY;
	f->config.pool_size = 1;
	start(f);
	call(f->client, R("/ip/firewall/nat/add"), &r);
	wait_result(&r);
	g_assert_no_error(r.error);
	g_assert_cmpstr(r.ret, ==, "*1");
	g_assert_true(f->fake->legacy_response_ok);
	g_assert_false(f->fake->saw_password_in_legacy);
	/* the challenge, then the response */
	g_assert_cmpuint(f->fake->n_login_attempts, ==, 2);
	g_assert_cmpuint(pm_ros_client_get_n_logins(f->client), ==, 1);
	result_clear(&r);
}

static void
check_refused(Fixture *f)
{
	Result r[3] = {{0}};
	Result late = {0};
	gint64 before;

	f->config.pool_size = 4;
	start(f);
	for (guint i = 0; i < G_N_ELEMENTS(r); i++)
		call(f->client, R("/ip/firewall/nat/add"), &r[i]);
	wait_result(&r[0]);
	/* all at once, from the same refusal */
	for (guint i = 0; i < G_N_ELEMENTS(r); i++) {
		g_assert_true(r[i].done);
		g_assert_error(r[i].error, PM_ROS_ERROR, PM_ROS_ERROR_LOGIN);
		g_assert_nonnull(strstr(r[i].error->message, "invalid user name or password"));
		g_assert_nonnull(strstr(r[i].error->message, "127.0.0.1:"));
		assert_no_password(r[i].error);
		result_clear(&r[i]);
	}
	g_assert_nonnull(strstr(pm_ros_client_get_last_error(f->client), "refused"));
	/* a new call fails at once too, from the main loop */
	before = g_get_monotonic_time();
	call(f->client, R("/ip/firewall/nat/add"), &late);
	wait_result(&late);
	g_assert_error(late.error, PM_ROS_ERROR, PM_ROS_ERROR_LOGIN);
	g_assert_cmpint(late.at - before, <, 200 * G_TIME_SPAN_MILLISECOND);
	result_clear(&late);
	/* no retry storm: one attempt, not one per pool slot nor per call */
	spin(2500);
	g_assert_cmpuint(f->fake->n_login_attempts, ==, 1);
	g_assert_cmpuint(f->fake->n_connections, ==, 1);
	g_assert_cmpuint(pm_ros_client_get_n_logins(f->client), ==, 0);
	/* logged once */
	pm_test_assert_warning("invalid user name or password");
	pm_test_assert_no_warnings();
}

static void
test_login_refused_trap(Fixture *f, gconstpointer data)
{
	f->fake->login = LOGIN_REFUSE_TRAP;
	check_refused(f);
}

static void
test_login_refused_fatal(Fixture *f, gconstpointer data)
{
	f->fake->login = LOGIN_REFUSE_FATAL;
	check_refused(f);
}

static void
test_print_rows(Fixture *f, gconstpointer data)
{
	Result r = {0};
	Result empty = {0};

	start(f);
	call(f->client, R("/ip/firewall/nat/print", "?chain=dstnat"), &r);
	wait_result(&r);
	g_assert_no_error(r.error);
	/* the unknown reply word between them is ignored */
	g_assert_cmpuint(r.n_rows, ==, 2);
	g_assert_cmpstr(r.first_id, ==, "*1");
	result_clear(&r);

	call(f->client, R("/empty/print"), &empty);
	wait_result(&empty);
	g_assert_no_error(empty.error);
	g_assert_cmpuint(empty.n_rows, ==, 0);
	result_clear(&empty);
}

static void
test_trap(Fixture *f, gconstpointer data)
{
	Result r = {0};
	Result next = {0};

	f->config.pool_size = 1;
	start(f);
	call(f->client, R("/trap"), &r);
	wait_result(&r);
	g_assert_error(r.error, PM_ROS_ERROR, PM_ROS_ERROR_TRAP);
	g_assert_nonnull(strstr(r.error->message, "input does not match any value of interface"));
	g_assert_cmpstr(r.message, ==, "input does not match any value of interface");
	g_assert_cmpstr(r.category, ==, "1");
	result_clear(&r);
	/* the connection stays: the next call goes on it */
	call(f->client, R("/ip/firewall/nat/add"), &next);
	wait_result(&next);
	g_assert_no_error(next.error);
	g_assert_cmpstr(next.ret, ==, "*1");
	g_assert_cmpuint(f->fake->n_connections, ==, 1);
	g_assert_cmpuint(f->fake->n_login_attempts, ==, 1);
	result_clear(&next);
}

static gboolean
two_connections(gpointer data)
{
	Fixture *f = data;
	return f->fake->n_connections >= 2 && pm_ros_client_get_n_ready(f->client) > 0;
}

/* @command breaks the connection: its call fails with @code, and the pool dials again */
static void
check_connection_error(Fixture *f, const char *command, gint code, const char *substr,
		       gint64 max_ms)
{
	Result r = {0};
	Result next = {0};
	gint64 before;

	f->config.pool_size = 1;
	f->config.timeout_usec = 300 * G_TIME_SPAN_MILLISECOND;
	start(f);
	g_assert_true(wait_until(client_ready, f, 2000));
	before = g_get_monotonic_time();
	call(f->client, (const char *const[]){command, NULL}, &r);
	wait_result(&r);
	g_assert_error(r.error, PM_ROS_ERROR, code);
	g_assert_nonnull(strstr(r.error->message, substr));
	g_assert_cmpint(r.at - before, <, max_ms * G_TIME_SPAN_MILLISECOND);
	assert_no_password(r.error);
	g_assert_cmpuint(pm_ros_client_get_n_ready(f->client), ==, 0);
	result_clear(&r);
	/* dialled again, after the backoff (1 s and jitter) */
	g_assert_true(wait_until(two_connections, f, 3000));
	g_assert_cmpuint(pm_ros_client_get_n_logins(f->client), ==, 2);
	f->config.timeout_usec = 2 * G_USEC_PER_SEC;
	call(f->client, R("/ip/firewall/nat/add"), &next);
	wait_result(&next);
	g_assert_no_error(next.error);
	result_clear(&next);
}

static void
test_wrong_tag(Fixture *f, gconstpointer data)
{
	check_connection_error(f, "/wrong-tag", PM_ROS_ERROR_CONNECTION, "tagged 999", 200);
}

static void
test_no_tag(Fixture *f, gconstpointer data)
{
	check_connection_error(f, "/no-tag", PM_ROS_ERROR_CONNECTION, "tagged (none)", 200);
}

static void
test_dropped(Fixture *f, gconstpointer data)
{
	check_connection_error(f, "/drop", PM_ROS_ERROR_CONNECTION, "closed the connection", 200);
}

static void
test_fatal(Fixture *f, gconstpointer data)
{
	check_connection_error(f, "/fatal", PM_ROS_ERROR_CONNECTION,
			       "session terminated on request", 200);
}

static void
test_timeout(Fixture *f, gconstpointer data)
{
	check_connection_error(f, "/slow", PM_ROS_ERROR_TIMEOUT, "no reply from 127.0.0.1", 600);
}

static gboolean
all_done(gpointer data)
{
	Result *r = data;
	for (guint i = 0; i < 8; i++) {
		if (!r[i].done)
			return FALSE;
	}
	return TRUE;
}

static gboolean
pool_ready(gpointer data)
{
	Fixture *f = data;
	return pm_ros_client_get_n_ready(f->client) == f->config.pool_size;
}

static gint64
run_eight(Fixture *f)
{
	Result r[8] = {{0}};
	gint64 before;
	gint64 last = 0;

	start(f);
	g_assert_true(wait_until(pool_ready, f, 3000));
	before = g_get_monotonic_time();
	for (guint i = 0; i < G_N_ELEMENTS(r); i++)
		call(f->client, R("/delay"), &r[i]);
	g_assert_true(wait_until(all_done, r, 5000));
	for (guint i = 0; i < G_N_ELEMENTS(r); i++) {
		g_assert_no_error(r[i].error);
		last = MAX(last, r[i].at);
		result_clear(&r[i]);
	}
	g_assert_cmpuint(f->fake->n_connections, ==, f->config.pool_size);
	return (last - before) / G_TIME_SPAN_MILLISECOND;
}

static void
test_pool_parallel(Fixture *f, gconstpointer data)
{
	gint64 ms;

	f->config.pool_size = 4;
	ms = run_eight(f);
	/* two rounds of 200 ms */
	g_assert_cmpint(ms, >=, 390);
	g_assert_cmpint(ms, <, 750);
}

static void
test_pool_serial(Fixture *f, gconstpointer data)
{
	gint64 ms;

	f->config.pool_size = 1;
	ms = run_eight(f);
	g_assert_cmpint(ms, >=, 1590);
	g_assert_cmpint(ms, <, 2600);
}

static void
test_unreachable(Fixture *f, gconstpointer data)
{
	Result r[2] = {{0}};
	g_autoptr(GSocket) socket = NULL;
	g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
	g_autoptr(GSocketAddress) address = g_inet_socket_address_new(loopback, 0);
	g_autoptr(GSocketAddress) bound = NULL;
	g_autofree char *where = NULL;
	gint64 before;

	/* a port with nothing listening: bound, never listened on */
	socket = g_socket_new(G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP,
			      NULL);
	g_assert_true(g_socket_bind(socket, address, FALSE, NULL));
	bound = g_socket_get_local_address(socket, NULL);
	f->config.port = g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(bound));
	where = g_strdup_printf("127.0.0.1:%u", f->config.port);
	f->config.timeout_usec = 5 * G_USEC_PER_SEC;
	before = g_get_monotonic_time();
	start(f);
	call(f->client, R("/ip/firewall/nat/add"), &r[0]);
	call(f->client, R("/ip/firewall/nat/add"), &r[1]);
	wait_result(&r[0]);
	wait_result(&r[1]);
	for (guint i = 0; i < G_N_ELEMENTS(r); i++) {
		g_assert_error(r[i].error, PM_ROS_ERROR, PM_ROS_ERROR_CONNECTION);
		g_assert_nonnull(strstr(r[i].error->message, where));
		g_assert_cmpint(r[i].at - before, <, 500 * G_TIME_SPAN_MILLISECOND);
		result_clear(&r[i]);
	}
	g_assert_nonnull(strstr(pm_ros_client_get_last_error(f->client), where));
	pm_test_assert_warning(where);
}

static void
test_free_pending(Fixture *f, gconstpointer data)
{
	Result r[3] = {{0}};

	f->config.pool_size = 1;
	start(f);
	g_assert_true(wait_until(client_ready, f, 2000));
	/* one on the wire, two queued */
	for (guint i = 0; i < G_N_ELEMENTS(r); i++)
		call(f->client, R("/slow"), &r[i]);
	spin(50);
	g_clear_pointer(&f->client, pm_ros_client_free);
	for (guint i = 0; i < G_N_ELEMENTS(r); i++) {
		g_assert_true(r[i].done);
		g_assert_error(r[i].error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
		result_clear(&r[i]);
	}
	/* the cancelled operations call back into nothing freed */
	spin(100);
}

static void
test_keepalive(Fixture *f, gconstpointer data)
{
	Result r = {0};

	f->config.pool_size = 1;
	f->config.keepalive_usec = 100 * G_TIME_SPAN_MILLISECOND;
	start(f);
	g_assert_true(wait_until(client_ready, f, 2000));
	spin(450);
	g_assert_cmpuint(f->fake->n_probes, >=, 2);
	call(f->client, R("/ip/firewall/nat/add"), &r);
	wait_result(&r);
	g_assert_no_error(r.error);
	g_assert_cmpuint(f->fake->n_connections, ==, 1);
	result_clear(&r);
}

/* ---- TLS ------------------------------------------------------------------------------ */

static void
der_fingerprint(const char *pem, guint8 *digest)
{
	g_autofree char *path = g_test_build_filename(G_TEST_DIST, "tls", pem, NULL);
	g_autoptr(GTlsCertificate) certificate = g_tls_certificate_new_from_file(path, NULL);
	g_autoptr(GByteArray) der = NULL;
	g_autoptr(GChecksum) sha256 = g_checksum_new(G_CHECKSUM_SHA256);
	gsize len = 32;

	g_assert_nonnull(certificate);
	g_object_get(certificate, "certificate", &der, NULL);
	g_checksum_update(sha256, der->data, der->len);
	g_checksum_get_digest(sha256, digest, &len);
}

static void
tls_call(Fixture *f, Result *r)
{
	f->config.tls = TRUE;
	f->config.pool_size = 1;
	start(f);
	call(f->client, R("/ip/firewall/nat/add"), r);
	wait_result(r);
}

static void
test_tls_ca_file(Fixture *f, gconstpointer data)
{
	Result r = {0};
	g_autofree char *ca = g_test_build_filename(G_TEST_DIST, "tls", "ca.pem", NULL);

	f->config.ca_file = ca;
	tls_call(f, &r);
	g_assert_no_error(r.error);
	g_assert_cmpstr(r.ret, ==, "*1");
	result_clear(&r);
}

static void
test_tls_unknown_ca(Fixture *f, gconstpointer data)
{
	Result r = {0};
	g_autofree char *ca = g_test_build_filename(G_TEST_DIST, "tls", "other-ca.pem", NULL);

	f->config.ca_file = ca;
	tls_call(f, &r);
	g_assert_error(r.error, PM_ROS_ERROR, PM_ROS_ERROR_TLS);
	g_assert_nonnull(strstr(r.error->message, "certificate"));
	g_assert_cmpuint(f->fake->n_login_attempts, ==, 0);
	result_clear(&r);
	pm_test_log_clear();
}

static void
test_tls_pinned(Fixture *f, gconstpointer data)
{
	Result r = {0};

	/* other-server.pem: by a CA the client does not know, for another name */
	der_fingerprint("other-server.pem", f->fingerprint);
	f->config.fingerprint = f->fingerprint;
	tls_call(f, &r);
	g_assert_no_error(r.error);
	g_assert_cmpstr(r.ret, ==, "*1");
	result_clear(&r);
}

static void
test_tls_pinned_mismatch(Fixture *f, gconstpointer data)
{
	Result r = {0};
	g_autofree char *hex = NULL;
	GString *expected = g_string_new(NULL);
	guint8 actual[32];

	der_fingerprint("server.pem", f->fingerprint);
	der_fingerprint("token.pem", actual);
	for (guint i = 0; i < 32; i++)
		g_string_append_printf(expected, "%s%02X", i > 0 ? ":" : "", actual[i]);
	hex = g_string_free(expected, FALSE);
	f->config.fingerprint = f->fingerprint;
	tls_call(f, &r);
	g_assert_error(r.error, PM_ROS_ERROR, PM_ROS_ERROR_TLS);
	g_assert_nonnull(strstr(r.error->message, "SHA-256 fingerprint"));
	g_assert_nonnull(strstr(r.error->message, hex));
	g_assert_nonnull(strstr(r.error->message, "Fingerprint= pins"));
	g_assert_cmpuint(f->fake->n_login_attempts, ==, 0);
	result_clear(&r);
	pm_test_log_clear();
}

/* a peer that does not speak TLS: not a certificate problem */
static void
test_tls_not_tls(Fixture *f, gconstpointer data)
{
	Result r = {0};
	g_autofree char *ca = g_test_build_filename(G_TEST_DIST, "tls", "ca.pem", NULL);

	f->config.ca_file = ca;
	f->fake->garbage = TRUE;
	tls_call(f, &r);
	g_assert_error(r.error, PM_ROS_ERROR, PM_ROS_ERROR_TLS);
	g_assert_nonnull(strstr(r.error->message, "anonymous Diffie-Hellman"));
	result_clear(&r);
	pm_test_log_clear();
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	pm_test_log_init();
	/* as the daemon: the default database trusts nothing */
	pm_tls_trust_install();

#define ADD(path, func, pem)                                                                     \
	g_test_add("/routeros-client/" path, Fixture, pem, fixture_setup, func, fixture_teardown)
	ADD("login", test_login, NULL);
	ADD("legacy-login", test_legacy_login, NULL);
	ADD("login-refused-trap", test_login_refused_trap, NULL);
	ADD("login-refused-fatal", test_login_refused_fatal, NULL);
	ADD("print-rows", test_print_rows, NULL);
	ADD("trap", test_trap, NULL);
	ADD("wrong-tag", test_wrong_tag, NULL);
	ADD("no-tag", test_no_tag, NULL);
	ADD("dropped", test_dropped, NULL);
	ADD("fatal", test_fatal, NULL);
	ADD("timeout", test_timeout, NULL);
	ADD("pool-parallel", test_pool_parallel, NULL);
	ADD("pool-serial", test_pool_serial, NULL);
	ADD("unreachable", test_unreachable, NULL);
	ADD("free-pending", test_free_pending, NULL);
	ADD("keepalive", test_keepalive, NULL);
	ADD("tls/ca-file", test_tls_ca_file, "token.pem");
	ADD("tls/unknown-ca", test_tls_unknown_ca, "token.pem");
	ADD("tls/pinned", test_tls_pinned, "other-server.pem");
	ADD("tls/pinned-mismatch", test_tls_pinned_mismatch, "token.pem");
	ADD("tls/not-tls", test_tls_not_tls, NULL);
	return g_test_run();
}
