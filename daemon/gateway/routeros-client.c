/* SPDX-License-Identifier: GPL-2.0-or-later */

#include "routeros-client.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>

#include "tls-trust.h"

/* TCP keepalive on pool sockets (reference §6.5): a dead peer is found in about 90 s */
#define TCP_KEEPALIVE_IDLE_SEC 60
#define TCP_KEEPALIVE_INTERVAL_SEC 10
#define TCP_KEEPALIVE_COUNT 3

#define READ_SIZE 4096

G_DEFINE_QUARK(pm-ros-error-quark, pm_ros_error)

typedef struct _Connection Connection;

typedef struct {
	PmRosClient *client;
	char **words;
	PmRosCallFunc func;
	gpointer user_data;
	guint64 deadline;
	PmTimer timer;	  /* its deadline; at once for a failure known when queued */
	GList link;	  /* in client->queue while queued */
	gboolean queued;
	Connection *conn; /* while on the wire */
	guint tag;
	GPtrArray *rows;     /* of PmRosSentence */
	PmRosSentence *trap; /* the last "!trap", until "!done" */
} Call;

typedef enum {
	CONN_DIALLING,
	CONN_HANDSHAKE,
	CONN_LOGIN,
	CONN_READY,
	CONN_CLOSED,
} ConnState;

typedef struct {
	PmRosClient *client;
	guint index;
	Connection *conn; /* NULL between connections */
	PmTimer dial_timer;
} Slot;

/*
 * Reference-counted: every async operation holds a reference, so its callback finds the
 * connection even after the client closed it (and maybe was freed): ->client is NULL then,
 * and the callback only lets go.
 */
struct _Connection {
	gint ref_count;
	PmRosClient *client; /* NULL once closed */
	Slot *slot;
	guint id;
	ConnState state;
	GCancellable *cancellable;
	GSocketConnection *tcp;
	GIOStream *stream; /* tcp, or the TLS connection over it */
	PmRosParser *parser;
	guint8 read_buf[READ_SIZE];
	GQueue out; /* of GBytes: sentences to send, the first being written (a reply may
		     * be read before its command's write has called back) */
	PmTimer timer; /* dial to login: the timeout; ready: keepalive, then its probe's */
	Call *call;    /* the command on the wire */
	guint tag;     /* of the login or the probe on the wire */
	gboolean legacy_login;
	gboolean probing;
	char *fingerprint_mismatch; /* the peer's fingerprint, when it is not the pinned one */
};

struct _PmRosClient {
	gint ref_count;
	gboolean freed;
	PmScheduler *scheduler;
	char *host;
	guint16 port;
	char *where; /* "host:port", "[v6]:port" */
	gboolean tls;
	gboolean pinned;
	guint8 fingerprint[32];
	GTlsDatabase *database;
	char *username;
	char *password;
	guint pool_size;
	guint64 timeout_usec;
	guint64 keepalive_usec;

	GSocketClient *socket_client;
	GSocketConnectable *address;
	Slot *slots;
	GQueue queue; /* of Call, by their link */
	guint next_tag;
	guint next_conn_id;
	guint n_ready;
	guint n_logins;

	guint64 backoff_usec;  /* 0 after a login */
	guint64 next_dial_at;  /* the backoff's end */
	guint64 refused_until; /* after a refused login: no attempt before */
	GError *down_error;    /* the router cannot be used now: new calls fail at once */
	char *last_error;
	char *last_refusal;    /* the router's message, logged once */
};

static void client_pump(PmRosClient *self);
static void client_fill_pool(PmRosClient *self);
static void conn_close(Connection *conn, const GError *error);
static void conn_read(Connection *conn);

static PmRosClient *
client_ref(PmRosClient *self)
{
	g_atomic_int_inc(&self->ref_count);
	return self;
}

static void
client_unref(PmRosClient *self)
{
	if (!g_atomic_int_dec_and_test(&self->ref_count))
		return;
	g_free(self->host);
	g_free(self->where);
	g_free(self->username);
	if (self->password != NULL)
		memset(self->password, 0, strlen(self->password));
	g_free(self->password);
	g_free(self->slots);
	g_clear_error(&self->down_error);
	g_free(self->last_error);
	g_free(self->last_refusal);
	g_free(self);
}
/* a reference held across callbacks that may free the client (pm_ros_client_free()
 * drops the caller's own) */
typedef PmRosClient ClientRef;
G_DEFINE_AUTOPTR_CLEANUP_FUNC(ClientRef, client_unref)

static Connection *
conn_ref(Connection *conn)
{
	conn->ref_count++;
	return conn;
}

static void
conn_unref(Connection *conn)
{
	if (--conn->ref_count > 0)
		return;
	g_clear_object(&conn->cancellable);
	g_clear_object(&conn->stream);
	g_clear_object(&conn->tcp);
	pm_ros_parser_free(conn->parser);
	g_queue_clear_full(&conn->out, (GDestroyNotify)g_bytes_unref);
	g_free(conn->fingerprint_mismatch);
	g_free(conn);
}

/* ---- calls ---------------------------------------------------------------------------- */

static void
call_free(Call *call)
{
	g_strfreev(call->words);
	g_clear_pointer(&call->rows, g_ptr_array_unref);
	pm_ros_sentence_free(call->trap);
	g_free(call);
}

/* off the queue, its timer and its connection; answered, freed. The callback may free
 * the client: the caller holds a reference and checks ->freed after. */
static void
call_finish(Call *call, const PmRosReply *reply, const GError *error)
{
	PmRosClient *self = call->client;

	if (call->queued) {
		g_queue_unlink(&self->queue, &call->link);
		call->queued = FALSE;
	}
	pm_scheduler_disarm(self->scheduler, &call->timer);
	if (call->conn != NULL) {
		call->conn->call = NULL;
		call->conn = NULL;
	}
	if (call->func != NULL)
		call->func(self, reply, error, call->user_data);
	call_free(call);
}

static void
client_fail_queued(PmRosClient *self, const GError *error)
{
	while (!self->freed && self->queue.head != NULL)
		call_finish(self->queue.head->data, NULL, error);
}

/* the error new calls fail with at once, if any */
static const GError *
client_fail_fast_error(PmRosClient *self)
{
	return self->n_ready == 0 ? self->down_error : NULL;
}

static void
call_timer_cb(PmTimer *timer, gpointer user_data)
{
	Call *call = user_data;
	g_autoptr(ClientRef) self = client_ref(call->client);
	guint64 now = pm_scheduler_now(self->scheduler);
	const GError *fast;

	if (now >= call->deadline) {
		g_autoptr(GError) error = g_error_new(
			PM_ROS_ERROR, PM_ROS_ERROR_TIMEOUT, "no reply from %s within %" G_GUINT64_FORMAT " ms",
			self->where, self->timeout_usec / 1000);
		/* on the wire: a late reply would desynchronise the stream */
		if (call->conn != NULL)
			conn_close(call->conn, error);
		else
			call_finish(call, NULL, error);
		return;
	}
	fast = client_fail_fast_error(self);
	if (call->queued && fast != NULL) {
		g_autoptr(GError) error = g_error_copy(fast);
		call_finish(call, NULL, error);
		return;
	}
	pm_scheduler_arm(self->scheduler, &call->timer, call->deadline);
}

/* ---- connections: writing and reading ------------------------------------------------- */

static void
client_set_last_error(PmRosClient *self, const char *message)
{
	g_free(self->last_error);
	self->last_error = g_strdup(message);
}

static void conn_write_next(Connection *conn);

static void
conn_write_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
	Connection *conn = user_data;
	g_autoptr(GError) error = NULL;
	gboolean ok = g_output_stream_write_all_finish(G_OUTPUT_STREAM(source), result, NULL,
						       &error);

	g_bytes_unref(g_queue_pop_head(&conn->out));
	if (conn->client != NULL && !ok) {
		g_autoptr(ClientRef) client = client_ref(conn->client);
		g_autoptr(GError) failure = g_error_new(PM_ROS_ERROR, PM_ROS_ERROR_CONNECTION,
							"cannot send to %s: %s", client->where,
							error->message);
		conn_close(conn, failure);
	} else if (conn->client != NULL && !g_queue_is_empty(&conn->out)) {
		conn_write_next(conn);
	}
	conn_unref(conn);
}

static void
conn_write_next(Connection *conn)
{
	gsize len = 0;
	const void *data = g_bytes_get_data(g_queue_peek_head(&conn->out), &len);

	g_output_stream_write_all_async(g_io_stream_get_output_stream(conn->stream), data, len,
					G_PRIORITY_DEFAULT, conn->cancellable, conn_write_cb,
					conn_ref(conn));
}

/* @words and a ".tag=N" of its own (returned) */
static guint
conn_send(Connection *conn, const char *const *words)
{
	PmRosClient *self = conn->client;
	g_autoptr(GByteArray) out = g_byte_array_new();
	g_autofree char *tag_word = NULL;
	guint tag = ++self->next_tag;

	tag_word = g_strdup_printf(".tag=%u", tag);
	for (guint i = 0; words[i] != NULL; i++)
		pm_ros_append_word(out, words[i]);
	pm_ros_append_word(out, tag_word);
	pm_ros_append_length(out, 0);
	g_queue_push_tail(&conn->out, g_byte_array_free_to_bytes(g_steal_pointer(&out)));
	if (conn->out.length == 1)
		conn_write_next(conn);
	return tag;
}

static void
conn_arm_keepalive(Connection *conn)
{
	PmRosClient *self = conn->client;
	pm_scheduler_arm(self->scheduler, &conn->timer,
			 pm_scheduler_now(self->scheduler) + self->keepalive_usec);
}

static void
conn_send_call(Connection *conn, Call *call)
{
	PmRosClient *self = conn->client;

	g_queue_unlink(&self->queue, &call->link);
	call->queued = FALSE;
	call->conn = conn;
	conn->call = call;
	/* the call's own deadline covers it now */
	pm_scheduler_disarm(self->scheduler, &conn->timer);
	call->tag = conn_send(conn, (const char *const *)call->words);
}

static gboolean
conn_is_idle(const Connection *conn)
{
	return conn->state == CONN_READY && conn->call == NULL && !conn->probing;
}

static void
client_pump(PmRosClient *self)
{
	if (self->freed)
		return;
	for (guint i = 0; i < self->pool_size && self->queue.head != NULL; i++) {
		Connection *conn = self->slots[i].conn;
		if (conn != NULL && conn_is_idle(conn))
			conn_send_call(conn, self->queue.head->data);
	}
}

static void
conn_login_send(Connection *conn, const char *response)
{
	PmRosClient *self = conn->client;
	g_autofree char *name = g_strconcat("=name=", self->username, NULL);
	g_autofree char *secret = response != NULL
					  ? g_strconcat("=response=", response, NULL)
					  : g_strconcat("=password=", self->password, NULL);
	const char *words[] = {"/login", name, secret, NULL};

	conn->tag = conn_send(conn, words);
	/* the password is in no buffer longer than needed */
	memset(secret, 0, strlen(secret));
}

static void
client_login_succeeded(PmRosClient *self, Connection *conn)
{
	conn->state = CONN_READY;
	self->n_ready++;
	self->n_logins++;
	self->backoff_usec = 0;
	self->next_dial_at = 0;
	self->refused_until = 0;
	g_clear_error(&self->down_error);
	g_clear_pointer(&self->last_error, g_free);
	g_clear_pointer(&self->last_refusal, g_free);
	g_info("routeros: logged in to %s (connection %u)", self->where, conn->id);
	conn_arm_keepalive(conn);
	client_pump(self);
	client_fill_pool(self);
}

/* a refused login: logged once, and no attempt again before PM_ROS_LOGIN_RETRY_USEC (each
 * one is a "login failure" line in the router's log) */
static void
client_login_refused(PmRosClient *self, Connection *conn, const char *message)
{
	g_autoptr(GError) error = NULL;
	guint64 now = pm_scheduler_now(self->scheduler);

	if (message == NULL || message[0] == '\0')
		message = "no reason given";
	error = g_error_new(PM_ROS_ERROR, PM_ROS_ERROR_LOGIN, "login refused by %s: %s",
			    self->where, message);
	if (g_strcmp0(self->last_refusal, message) != 0) {
		g_warning("routeros: %s (user %s); next attempt in %u s", error->message,
			  self->username, (guint)(PM_ROS_LOGIN_RETRY_USEC / G_USEC_PER_SEC));
		g_free(self->last_refusal);
		self->last_refusal = g_strdup(message);
	} else {
		g_debug("routeros: %s again", error->message);
	}
	self->refused_until = now + PM_ROS_LOGIN_RETRY_USEC;
	g_clear_error(&self->down_error);
	self->down_error = g_error_copy(error);
	conn_close(conn, NULL);
	client_set_last_error(self, error->message);
	/* no other connection tries before the retry either */
	for (guint i = 0; i < self->pool_size; i++) {
		Slot *slot = &self->slots[i];
		pm_scheduler_disarm(self->scheduler, &slot->dial_timer);
		if (slot->conn != NULL && slot->conn->state != CONN_READY)
			conn_close(slot->conn, NULL);
	}
	if (self->n_ready == 0)
		client_fail_queued(self, error);
	client_fill_pool(self);
}

static void
conn_protocol_error(Connection *conn, const char *format, ...) G_GNUC_PRINTF(2, 3);

static void
conn_protocol_error(Connection *conn, const char *format, ...)
{
	g_autofree char *what = NULL;
	g_autoptr(GError) error = NULL;
	va_list args;

	va_start(args, format);
	what = g_strdup_vprintf(format, args);
	va_end(args);
	error = g_error_new(PM_ROS_ERROR, PM_ROS_ERROR_CONNECTION, "%s: %s",
			    conn->client->where, what);
	conn_close(conn, error);
}

static void
conn_handle_login(Connection *conn, PmRosSentence *s)
{
	PmRosClient *self = conn->client;
	const char *ret = pm_ros_sentence_get_attribute(s, "ret");
	g_autoptr(GError) error = NULL;
	g_autofree char *response = NULL;
	const char *message;

	switch (pm_ros_sentence_get_reply_type(s)) {
	case PM_ROS_REPLY_DONE:
		if (ret == NULL) {
			client_login_succeeded(self, conn);
			return;
		}
		/* a router before 6.43 answers the new login with a challenge */
		if (conn->legacy_login) {
			client_login_refused(self, conn, "the router asked for a challenge again");
			return;
		}
		response = pm_ros_legacy_login_response(self->password, ret, &error);
		if (response == NULL) {
			conn_protocol_error(conn, "%s", error->message);
			return;
		}
		conn->legacy_login = TRUE;
		conn_login_send(conn, response);
		memset(response, 0, strlen(response));
		return;
	case PM_ROS_REPLY_TRAP:
	case PM_ROS_REPLY_FATAL:
		/* "!trap =message=invalid user name or password (6)" then "!done"; some
		 * versions send "!fatal" and close: no need to wait for either */
		message = pm_ros_sentence_get_attribute(s, "message");
		/* "!fatal" carries its reason as a plain word */
		if (message == NULL && s->words->len > 1)
			message = g_ptr_array_index(s->words, 1);
		client_login_refused(self, conn, message);
		return;
	default:
		return;
	}
}

static void
conn_handle_probe(Connection *conn, PmRosSentence *s)
{
	switch (pm_ros_sentence_get_reply_type(s)) {
	case PM_ROS_REPLY_DONE:
		conn->probing = FALSE;
		conn_arm_keepalive(conn);
		client_pump(conn->client);
		return;
	case PM_ROS_REPLY_TRAP:
		conn_protocol_error(conn, "the keepalive probe failed: %s",
				    pm_ros_sentence_get_attribute(s, "message") ?: "no message");
		return;
	default:
		return;
	}
}

static void
conn_handle_call(Connection *conn, PmRosSentence *s)
{
	Call *call = conn->call;
	PmRosClient *self = conn->client;
	g_autoptr(PmRosSentence) owned = s;
	g_autoptr(GError) error = NULL;
	PmRosReply reply = {call->rows, NULL};

	switch (pm_ros_sentence_get_reply_type(s)) {
	case PM_ROS_REPLY_RE:
		g_ptr_array_add(call->rows, g_steal_pointer(&owned));
		return;
	case PM_ROS_REPLY_TRAP:
		/* "!done" follows: the reply ends there */
		pm_ros_sentence_free(call->trap);
		call->trap = g_steal_pointer(&owned);
		return;
	case PM_ROS_REPLY_DONE:
		if (call->trap != NULL) {
			const char *message = pm_ros_sentence_get_attribute(call->trap, "message");
			error = g_error_new(PM_ROS_ERROR, PM_ROS_ERROR_TRAP, "%s: %s",
					    call->words[0], message != NULL ? message : "failed");
			reply.done = call->trap;
		} else {
			reply.done = s;
		}
		call_finish(call, &reply, error);
		/* the callback may have queued a call that went on this connection already */
		if (!self->freed && conn->client != NULL && conn_is_idle(conn)) {
			conn_arm_keepalive(conn);
			client_pump(self);
		}
		return;
	case PM_ROS_REPLY_EMPTY: /* zero rows; "!done" follows */
	default:
		return;
	}
}

static void
conn_handle_sentence(Connection *conn, PmRosSentence *s)
{
	g_autoptr(PmRosSentence) owned = s;
	PmRosReplyType type = pm_ros_sentence_get_reply_type(s);
	const char *tag = pm_ros_sentence_get_tag(s);
	g_autofree char *expected = NULL;
	gboolean in_flight;

	if (pm_ros_sentence_get_command(s)[0] != '!') {
		conn_protocol_error(conn, "a reply that does not start with a reply word (\"%.40s\")",
				    pm_ros_sentence_get_command(s));
		return;
	}
	if (type == PM_ROS_REPLY_FATAL && conn->state != CONN_LOGIN) {
		const char *message = pm_ros_sentence_get_attribute(s, "message");
		if (message == NULL && s->words->len > 1)
			message = g_ptr_array_index(s->words, 1);
		conn_protocol_error(conn, "the router closed the connection: %s",
				    message != NULL ? message : "!fatal");
		return;
	}
	/* unknown reply words: be lenient (reference §1.4) */
	if (type == PM_ROS_REPLY_OTHER)
		return;

	in_flight = conn->state == CONN_LOGIN || conn->call != NULL || conn->probing;
	if (!in_flight) {
		conn_protocol_error(conn, "a reply (%s) with no command in flight",
				    pm_ros_sentence_get_command(s));
		return;
	}
	expected = g_strdup_printf("%u", conn->call != NULL ? conn->call->tag : conn->tag);
	/* a login reply may come untagged: one sentence on the wire, nothing to confuse */
	if (g_strcmp0(tag, expected) != 0 && !(conn->state == CONN_LOGIN && tag == NULL)) {
		conn_protocol_error(conn, "a reply tagged %s while command %s is in flight",
				    tag != NULL ? tag : "(none)", expected);
		return;
	}
	if (conn->state == CONN_LOGIN)
		conn_handle_login(conn, s);
	else if (conn->call != NULL)
		conn_handle_call(conn, g_steal_pointer(&owned));
	else
		conn_handle_probe(conn, s);
}

static void
conn_read_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
	Connection *conn = user_data;
	g_autoptr(GError) error = NULL;
	g_autoptr(ClientRef) client = NULL;
	gssize n = g_input_stream_read_finish(G_INPUT_STREAM(source), result, &error);
	PmRosSentence *s;

	if (conn->client == NULL) {
		conn_unref(conn);
		return;
	}
	client = client_ref(conn->client);
	if (n < 0) {
		g_autoptr(GError) failure = g_error_new(PM_ROS_ERROR, PM_ROS_ERROR_CONNECTION,
							"connection to %s lost: %s",
							client->where, error->message);
		conn_close(conn, failure);
	} else if (n == 0) {
		g_autoptr(GError) failure = g_error_new(PM_ROS_ERROR, PM_ROS_ERROR_CONNECTION,
							"%s closed the connection", client->where);
		conn_close(conn, failure);
	} else {
		gboolean ok = pm_ros_parser_feed(conn->parser, conn->read_buf, (gsize)n, &error);
		/* the sentences before a codec error are answered before the close */
		while (conn->client != NULL && (s = pm_ros_parser_pop(conn->parser)) != NULL)
			conn_handle_sentence(conn, s);
		if (!ok && conn->client != NULL)
			conn_protocol_error(conn, "%s", error->message);
	}
	if (conn->client != NULL)
		conn_read(conn);
	conn_unref(conn);
}

static void
conn_read(Connection *conn)
{
	g_input_stream_read_async(g_io_stream_get_input_stream(conn->stream), conn->read_buf,
				  sizeof(conn->read_buf), G_PRIORITY_DEFAULT, conn->cancellable,
				  conn_read_cb, conn_ref(conn));
}

/* ---- connections: dial, TLS, login ---------------------------------------------------- */

static void
conn_start_login(Connection *conn)
{
	conn->state = CONN_LOGIN;
	conn->parser = pm_ros_parser_new();
	conn_read(conn);
	conn_login_send(conn, NULL);
}

char *
pm_ros_fingerprint_to_string(const guint8 *fingerprint)
{
	GString *out = g_string_sized_new(96);

	for (guint i = 0; i < 32; i++)
		g_string_append_printf(out, "%s%02X", i > 0 ? ":" : "", fingerprint[i]);
	return g_string_free(out, FALSE);
}

/* pinned: the certificate is accepted iff its DER hashes to the fingerprint, whoever
 * signed it and whatever it names */
static gboolean
conn_accept_certificate_cb(GTlsConnection *tls, GTlsCertificate *peer,
			   GTlsCertificateFlags errors, gpointer user_data)
{
	Connection *conn = user_data;
	g_autoptr(GByteArray) der = NULL;
	g_autoptr(GChecksum) sha256 = g_checksum_new(G_CHECKSUM_SHA256);
	guint8 digest[32];
	gsize digest_len = sizeof(digest);

	if (conn->client == NULL)
		return FALSE;
	g_object_get(peer, "certificate", &der, NULL);
	if (der == NULL)
		return FALSE;
	g_checksum_update(sha256, der->data, der->len);
	g_checksum_get_digest(sha256, digest, &digest_len);
	if (memcmp(digest, conn->client->fingerprint, sizeof(digest)) == 0)
		return TRUE;
	g_free(conn->fingerprint_mismatch);
	conn->fingerprint_mismatch = pm_ros_fingerprint_to_string(digest);
	return FALSE;
}

static char *
describe_certificate_errors(GTlsCertificateFlags flags)
{
	static const struct {
		GTlsCertificateFlags flag;
		const char *text;
	} names[] = {
		{G_TLS_CERTIFICATE_UNKNOWN_CA, "not signed by a trusted certificate authority"},
		{G_TLS_CERTIFICATE_BAD_IDENTITY, "does not name the router's address"},
		{G_TLS_CERTIFICATE_NOT_ACTIVATED, "not valid yet"},
		{G_TLS_CERTIFICATE_EXPIRED, "expired"},
		{G_TLS_CERTIFICATE_REVOKED, "revoked"},
		{G_TLS_CERTIFICATE_INSECURE, "insecure"},
	};
	GString *out = g_string_new(NULL);

	for (guint i = 0; i < G_N_ELEMENTS(names); i++) {
		if (flags & names[i].flag)
			g_string_append_printf(out, "%s%s", out->len > 0 ? ", " : "", names[i].text);
	}
	if (out->len == 0)
		g_string_append(out, "not trusted");
	return g_string_free(out, FALSE);
}

static void
conn_handshake_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
	Connection *conn = user_data;
	g_autoptr(GError) error = NULL;
	g_autoptr(GError) failure = NULL;
	g_autoptr(ClientRef) client = NULL;
	gboolean ok = g_tls_connection_handshake_finish(G_TLS_CONNECTION(source), result, &error);

	if (conn->client == NULL) {
		conn_unref(conn);
		return;
	}
	client = client_ref(conn->client);
	if (ok) {
		conn_start_login(conn);
		conn_unref(conn);
		return;
	}
	if (conn->fingerprint_mismatch != NULL) {
		g_autofree char *pinned = pm_ros_fingerprint_to_string(client->fingerprint);
		failure = g_error_new(PM_ROS_ERROR, PM_ROS_ERROR_TLS,
				      "%s: the router's certificate has SHA-256 fingerprint %s but "
				      "Fingerprint= pins %s",
				      client->where, conn->fingerprint_mismatch, pinned);
	} else if (g_error_matches(error, G_TLS_ERROR, G_TLS_ERROR_BAD_CERTIFICATE)) {
		g_autofree char *why = describe_certificate_errors(
			g_tls_connection_get_peer_certificate_errors(G_TLS_CONNECTION(source)));
		failure = g_error_new(PM_ROS_ERROR, PM_ROS_ERROR_TLS,
				      "%s: the router's TLS certificate is %s (%s)", client->where,
				      why, error->message);
	} else {
		failure = g_error_new(PM_ROS_ERROR, PM_ROS_ERROR_TLS,
				      "TLS handshake with %s failed (%s): the router offered no "
				      "usable certificate; a RouterOS api-ssl service without a "
				      "certificate offers only anonymous Diffie-Hellman, which "
				      "authenticates nothing and is not supported; give the api-ssl "
				      "service a certificate (see portmapd.conf(5))",
				      client->where, error->message);
	}
	conn_close(conn, failure);
	conn_unref(conn);
}

static gboolean
conn_start_tls(Connection *conn, GError **error)
{
	PmRosClient *self = conn->client;
	g_autoptr(GIOStream) tls = g_tls_client_connection_new(G_IO_STREAM(conn->tcp),
							       self->address, error);

	if (tls == NULL)
		return FALSE;
	/* always explicit: the process's default database trusts nothing (tls-trust.h);
	 * pinned, none: accept-certificate decides */
	g_tls_connection_set_database(G_TLS_CONNECTION(tls), self->pinned ? NULL : self->database);
	if (self->pinned)
		g_signal_connect(tls, "accept-certificate", G_CALLBACK(conn_accept_certificate_cb),
				 conn);
	conn->stream = g_object_ref(tls);
	conn->state = CONN_HANDSHAKE;
	g_tls_connection_handshake_async(G_TLS_CONNECTION(tls), G_PRIORITY_DEFAULT,
					 conn->cancellable, conn_handshake_cb, conn_ref(conn));
	return TRUE;
}

static void
set_keepalive(GSocket *socket)
{
	g_autoptr(GError) error = NULL;

	g_socket_set_keepalive(socket, TRUE);
	if (!g_socket_set_option(socket, IPPROTO_TCP, TCP_KEEPIDLE, TCP_KEEPALIVE_IDLE_SEC, &error) ||
	    !g_socket_set_option(socket, IPPROTO_TCP, TCP_KEEPINTVL, TCP_KEEPALIVE_INTERVAL_SEC,
				 &error) ||
	    !g_socket_set_option(socket, IPPROTO_TCP, TCP_KEEPCNT, TCP_KEEPALIVE_COUNT, &error))
		g_debug("routeros: TCP keepalive options: %s", error->message);
}

static void
conn_connect_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
	Connection *conn = user_data;
	g_autoptr(GError) error = NULL;
	g_autoptr(ClientRef) client = NULL;
	g_autoptr(GSocketConnection) tcp =
		g_socket_client_connect_finish(G_SOCKET_CLIENT(source), result, &error);

	if (conn->client == NULL) {
		conn_unref(conn);
		return;
	}
	client = client_ref(conn->client);
	if (tcp == NULL) {
		g_autoptr(GError) failure = g_error_new(PM_ROS_ERROR, PM_ROS_ERROR_CONNECTION,
							"cannot connect to %s: %s", client->where,
							error->message);
		conn_close(conn, failure);
		conn_unref(conn);
		return;
	}
	set_keepalive(g_socket_connection_get_socket(tcp));
	conn->tcp = g_steal_pointer(&tcp);
	if (client->tls) {
		if (!conn_start_tls(conn, &error)) {
			g_autoptr(GError) failure = g_error_new(PM_ROS_ERROR, PM_ROS_ERROR_TLS,
								"TLS with %s: %s", client->where,
								error->message);
			conn_close(conn, failure);
		}
	} else {
		conn->stream = G_IO_STREAM(g_object_ref(conn->tcp));
		conn_start_login(conn);
	}
	conn_unref(conn);
}

static void
conn_timer_cb(PmTimer *timer, gpointer user_data)
{
	Connection *conn = user_data;
	g_autoptr(ClientRef) self = client_ref(conn->client);
	g_autoptr(GError) error = NULL;
	static const char *const probe[] = {"/system/identity/print", NULL};

	switch (conn->state) {
	case CONN_DIALLING:
	case CONN_HANDSHAKE:
	case CONN_LOGIN:
		error = g_error_new(PM_ROS_ERROR, PM_ROS_ERROR_CONNECTION,
				    "cannot connect to %s: %s timed out after %" G_GUINT64_FORMAT " ms",
				    self->where,
				    conn->state == CONN_DIALLING    ? "connecting"
				    : conn->state == CONN_HANDSHAKE ? "the TLS handshake"
								    : "the login",
				    self->timeout_usec / 1000);
		conn_close(conn, error);
		return;
	case CONN_READY:
		if (conn->probing) {
			error = g_error_new(PM_ROS_ERROR, PM_ROS_ERROR_CONNECTION,
					    "%s did not answer the keepalive probe", self->where);
			conn_close(conn, error);
			return;
		}
		if (conn_is_idle(conn)) {
			conn->probing = TRUE;
			conn->tag = conn_send(conn, probe);
			pm_scheduler_arm(self->scheduler, &conn->timer,
					 pm_scheduler_now(self->scheduler) + self->timeout_usec);
		}
		return;
	case CONN_CLOSED:
	default:
		return;
	}
}

static void
slot_dial_cb(PmTimer *timer, gpointer user_data)
{
	Slot *slot = user_data;
	PmRosClient *self = slot->client;
	Connection *conn;

	if (self->freed || slot->conn != NULL)
		return;
	conn = g_new0(Connection, 1);
	conn->ref_count = 1; /* the slot's */
	conn->client = self;
	conn->slot = slot;
	conn->id = ++self->next_conn_id;
	conn->state = CONN_DIALLING;
	conn->cancellable = g_cancellable_new();
	pm_timer_init(&conn->timer, conn_timer_cb, conn);
	slot->conn = conn;
	pm_scheduler_arm(self->scheduler, &conn->timer,
			 pm_scheduler_now(self->scheduler) + self->timeout_usec);
	g_debug("routeros: connecting to %s (connection %u)", self->where, conn->id);
	g_socket_client_connect_async(self->socket_client, self->address, conn->cancellable,
				      conn_connect_cb, conn_ref(conn));
}

/*
 * While no connection is up, one dials (a router that is down or refuses the login sees
 * one attempt, not PoolSize=); once one is logged in, the others follow.
 */
static void
client_fill_pool(PmRosClient *self)
{
	guint64 now;
	guint64 at;

	if (self->freed)
		return;
	now = pm_scheduler_now(self->scheduler);
	at = MAX(self->next_dial_at, now);
	if (self->refused_until > now)
		at = MAX(at, self->refused_until);
	if (self->n_ready == 0) {
		for (guint i = 0; i < self->pool_size; i++) {
			if (self->slots[i].conn != NULL || pm_timer_is_armed(&self->slots[i].dial_timer))
				return;
		}
		pm_scheduler_arm(self->scheduler, &self->slots[0].dial_timer, at);
		return;
	}
	for (guint i = 0; i < self->pool_size; i++) {
		Slot *slot = &self->slots[i];
		if (slot->conn == NULL && !pm_timer_is_armed(&slot->dial_timer))
			pm_scheduler_arm(self->scheduler, &slot->dial_timer, at);
	}
}

/* the next dial waits: 1 s doubling to 60 s, with jitter so pools do not dial in step */
static void
client_back_off(PmRosClient *self)
{
	guint64 now = pm_scheduler_now(self->scheduler);

	self->backoff_usec = self->backoff_usec == 0
				     ? PM_ROS_BACKOFF_MIN_USEC
				     : MIN(self->backoff_usec * 2, PM_ROS_BACKOFF_MAX_USEC);
	self->next_dial_at = now + self->backoff_usec +
			     pm_scheduler_random_range(self->scheduler, 0,
						       (guint32)(self->backoff_usec / 4));
}

/*
 * Closes @conn: cancels its operations (their callbacks only let go), fails its command
 * with @error, and with @error (a failure, not a close by the client itself) backs off
 * and dials again. A failure before any connection is up means the router cannot be used:
 * queued calls fail at once.
 */
static void
conn_close(Connection *conn, const GError *error)
{
	PmRosClient *self = conn->client;
	g_autoptr(ClientRef) hold = NULL;
	gboolean was_ready = conn->state == CONN_READY;
	Call *call = conn->call;
	GSocket *socket;

	if (self == NULL)
		return;
	hold = client_ref(self);
	conn->client = NULL;
	conn->state = CONN_CLOSED;
	g_cancellable_cancel(conn->cancellable);
	pm_scheduler_disarm(self->scheduler, &conn->timer);
	/* the peer sees the end now, whoever still holds the socket */
	if (conn->tcp != NULL) {
		socket = g_socket_connection_get_socket(conn->tcp);
		g_socket_shutdown(socket, TRUE, TRUE, NULL);
	}
	conn->slot->conn = NULL;
	if (was_ready)
		self->n_ready--;

	if (error != NULL) {
		g_debug("routeros: connection %u: %s", conn->id, error->message);
		client_set_last_error(self, error->message);
		client_back_off(self);
	}
	if (call != NULL) {
		g_autoptr(GError) cancelled = NULL;
		if (error == NULL)
			cancelled = g_error_new(G_IO_ERROR, G_IO_ERROR_CANCELLED,
						"the connection to %s was closed", self->where);
		call_finish(call, NULL, error != NULL ? error : cancelled);
	}
	conn_unref(conn);

	if (error != NULL && !was_ready && self->n_ready == 0 && !self->freed) {
		if (self->down_error == NULL)
			g_warning("routeros: %s", error->message);
		g_clear_error(&self->down_error);
		self->down_error = g_error_copy(error);
		client_fail_queued(self, error);
	}
	if (error != NULL)
		client_fill_pool(self);
}

/* ---- the client ----------------------------------------------------------------------- */

PmRosClient *
pm_ros_client_new(PmScheduler *scheduler, const PmRosClientConfig *config)
{
	PmRosClient *self = g_new0(PmRosClient, 1);
	g_autoptr(GError) error = NULL;

	self->ref_count = 1;
	self->scheduler = scheduler;
	self->host = g_strdup(config->host);
	self->port = config->port != 0 ? config->port
		     : config->tls	   ? PM_ROS_DEFAULT_TLS_PORT
					   : PM_ROS_DEFAULT_PORT;
	self->where = strchr(self->host, ':') != NULL
			      ? g_strdup_printf("[%s]:%u", self->host, self->port)
			      : g_strdup_printf("%s:%u", self->host, self->port);
	self->tls = config->tls;
	self->username = g_strdup(config->username != NULL ? config->username : "");
	self->password = g_strdup(config->password != NULL ? config->password : "");
	self->pool_size = CLAMP(config->pool_size != 0 ? config->pool_size
						       : PM_ROS_DEFAULT_POOL_SIZE,
				1, PM_ROS_MAX_POOL_SIZE);
	self->timeout_usec = config->timeout_usec != 0 ? config->timeout_usec
						       : PM_ROS_DEFAULT_TIMEOUT_USEC;
	self->keepalive_usec = config->keepalive_usec != 0 ? config->keepalive_usec
							   : PM_ROS_KEEPALIVE_USEC;
	self->socket_client = g_socket_client_new();
	/* the router is on the LAN: no system proxy (libproxy would also resolve it in a
	 * thread of its own for every dial) */
	g_socket_client_set_enable_proxy(self->socket_client, FALSE);
	self->address = g_network_address_new(self->host, self->port);
	g_queue_init(&self->queue);
	self->slots = g_new0(Slot, self->pool_size);
	for (guint i = 0; i < self->pool_size; i++) {
		self->slots[i].client = self;
		self->slots[i].index = i;
		pm_timer_init(&self->slots[i].dial_timer, slot_dial_cb, &self->slots[i]);
	}

	if (self->tls && config->fingerprint != NULL) {
		self->pinned = TRUE;
		memcpy(self->fingerprint, config->fingerprint, sizeof(self->fingerprint));
	} else if (self->tls && config->ca_file != NULL) {
		self->database = g_tls_file_database_new(config->ca_file, &error);
	} else if (self->tls) {
		self->database = pm_tls_trust_get_system(&error);
	}
	if (error != NULL) {
		/* nothing to verify with: no connection can be trusted, every call fails */
		self->down_error = g_error_new(PM_ROS_ERROR, PM_ROS_ERROR_TLS,
					       "TLS with %s: %s", self->where, error->message);
		g_warning("routeros: %s", self->down_error->message);
		client_set_last_error(self, self->down_error->message);
		return self;
	}
	client_fill_pool(self);
	return self;
}

void
pm_ros_client_free(PmRosClient *self)
{
	g_autoptr(GError) cancelled = NULL;

	if (self == NULL)
		return;
	cancelled = g_error_new(G_IO_ERROR, G_IO_ERROR_CANCELLED, "the RouterOS client of %s is freed",
				self->where);
	self->freed = TRUE;
	/* every pending call is answered from here, those on the wire first */
	for (guint i = 0; i < self->pool_size; i++) {
		Connection *conn = self->slots[i].conn;
		if (conn != NULL && conn->call != NULL)
			call_finish(conn->call, NULL, cancelled);
	}
	while (self->queue.head != NULL)
		call_finish(self->queue.head->data, NULL, cancelled);
	for (guint i = 0; i < self->pool_size; i++) {
		pm_scheduler_disarm(self->scheduler, &self->slots[i].dial_timer);
		if (self->slots[i].conn != NULL)
			conn_close(self->slots[i].conn, NULL);
	}
	g_clear_object(&self->socket_client);
	g_clear_object(&self->address);
	g_clear_object(&self->database);
	client_unref(self);
}

void
pm_ros_client_call(PmRosClient *self, const char *const *words, PmRosCallFunc done,
		   gpointer user_data)
{
	Call *call;

	g_return_if_fail(words != NULL && words[0] != NULL);
	call = g_new0(Call, 1);
	call->client = self;
	call->words = g_strdupv((char **)words);
	call->func = done;
	call->user_data = user_data;
	call->rows = g_ptr_array_new_with_free_func((GDestroyNotify)pm_ros_sentence_free);
	call->deadline = pm_scheduler_now(self->scheduler) + self->timeout_usec;
	pm_timer_init(&call->timer, call_timer_cb, call);
	call->link.data = call;
	if (self->freed) {
		/* from a callback run by pm_ros_client_free(): nothing is left to run it */
		g_autoptr(GError) cancelled = g_error_new(G_IO_ERROR, G_IO_ERROR_CANCELLED,
							  "the RouterOS client of %s is freed",
							  self->where);
		if (done != NULL)
			done(self, NULL, cancelled, user_data);
		call_free(call);
		return;
	}
	g_queue_push_tail_link(&self->queue, &call->link);
	call->queued = TRUE;
	/* a failure known now is answered from the main loop, never from here */
	pm_scheduler_arm(self->scheduler, &call->timer,
			 client_fail_fast_error(self) != NULL ? pm_scheduler_now(self->scheduler)
							      : call->deadline);
	client_pump(self);
}

guint
pm_ros_client_get_n_ready(PmRosClient *self)
{
	return self->n_ready;
}

guint
pm_ros_client_get_n_logins(PmRosClient *self)
{
	return self->n_logins;
}

const char *
pm_ros_client_get_last_error(PmRosClient *self)
{
	return self->last_error;
}

const char *
pm_ros_reply_get_message(const PmRosReply *reply)
{
	if (reply == NULL || reply->done == NULL)
		return NULL;
	return pm_ros_sentence_get_attribute(reply->done, "message");
}
