/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <gio/gio.h>
#include <string.h>

#include "test-http-server.h"

/* one accepted connection: requests one after the other (no pipelining: libsoup sends the
 * next request on a connection once the reply to the last one is read) */
typedef struct {
	gint ref;
	PmTestHttpServer *server; /* NULL once closed */
	GIOStream *connection; /* the socket's, or a GTlsServerConnection over it */
	GCancellable *cancellable;
	GString *buf;
	guint8 chunk[4096];
	gboolean busy; /* a request is with the handler */
	gboolean closed;
} Conn;

struct _PmTestHttpServer {
	GSocketService *service;
	guint16 port;
	char *url;
	PmTestHttpHandler handler;
	gpointer user_data;
	GPtrArray *conns; /* of Conn *, open ones */
	guint n_accepted;
	guint n_requests;
	GTlsCertificate *certificate; /* HTTPS with it, else HTTP */
};

static void conn_process(Conn *conn);

static Conn *
conn_ref(Conn *conn)
{
	conn->ref++;
	return conn;
}

static void
conn_unref(Conn *conn)
{
	if (--conn->ref > 0)
		return;
	g_object_unref(conn->connection);
	g_object_unref(conn->cancellable);
	g_string_free(conn->buf, TRUE);
	g_free(conn);
}

static void
conn_close(Conn *conn)
{
	if (conn->closed)
		return;
	conn->closed = TRUE;
	g_cancellable_cancel(conn->cancellable);
	g_io_stream_close(G_IO_STREAM(conn->connection), NULL, NULL);
	g_ptr_array_remove(conn->server->conns, conn);
	conn->server = NULL;
	conn_unref(conn);
}

static void
conn_read_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
	Conn *conn = user_data;
	gssize n = g_input_stream_read_finish(G_INPUT_STREAM(source), result, NULL);

	if (!conn->closed) {
		if (n <= 0) {
			conn_close(conn);
		} else {
			g_string_append_len(conn->buf, (const char *)conn->chunk, n);
			conn_process(conn);
		}
	}
	conn_unref(conn);
}

static void
conn_read_more(Conn *conn)
{
	GInputStream *input = g_io_stream_get_input_stream(G_IO_STREAM(conn->connection));
	g_input_stream_read_async(input, conn->chunk, sizeof(conn->chunk), G_PRIORITY_DEFAULT,
				  conn->cancellable, conn_read_cb, conn_ref(conn));
}

/* the next whole request in the buffer to the handler, else read more */
static void
conn_process(Conn *conn)
{
	g_auto(GStrv) lines = NULL;
	g_auto(GStrv) request_line = NULL;
	g_autofree char *head_text = NULL;
	PmTestHttpRequest *request;
	const char *end;
	const char *length;
	gsize head, body_len = 0;

	if (conn->busy || conn->closed)
		return;
	end = strstr(conn->buf->str, "\r\n\r\n");
	if (end == NULL) {
		conn_read_more(conn);
		return;
	}
	head = (gsize)(end - conn->buf->str) + 4;
	head_text = g_strndup(conn->buf->str, head - 4);
	lines = g_strsplit(head_text, "\r\n", -1);
	request = g_new0(PmTestHttpRequest, 1);
	request->headers = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	for (guint i = 1; lines[i] != NULL; i++) {
		char *colon = strchr(lines[i], ':');
		if (colon == NULL)
			continue;
		*colon = '\0';
		g_hash_table_insert(request->headers, g_ascii_strdown(lines[i], -1),
				    g_strdup(g_strstrip(colon + 1)));
	}
	length = g_hash_table_lookup(request->headers, "content-length");
	if (length != NULL)
		body_len = g_ascii_strtoull(length, NULL, 10);
	if (conn->buf->len < head + body_len) {
		g_hash_table_unref(request->headers);
		g_free(request);
		conn_read_more(conn);
		return;
	}
	request_line = g_strsplit(lines[0], " ", 3);
	request->method = g_strdup(request_line[0]);
	request->path = g_strdup(request_line[1] != NULL ? request_line[1] : "");
	request->body = g_bytes_new(conn->buf->str + head, body_len);
	request->conn = conn_ref(conn);
	conn->server->n_requests++;
	g_string_erase(conn->buf, 0, head + body_len);
	conn->busy = TRUE;
	conn->server->handler(conn->server, request, conn->server->user_data);
}

const char *
pm_test_http_request_get_header(PmTestHttpRequest *request, const char *name)
{
	g_autofree char *lower = g_ascii_strdown(name, -1);
	return g_hash_table_lookup(request->headers, lower);
}

void
pm_test_http_request_respond(PmTestHttpRequest *request, guint status, const char *reason,
			     const char *content_type, const char *body,
			     const char *extra_headers)
{
	Conn *conn = request->conn;

	if (!conn->closed) {
		GOutputStream *output = g_io_stream_get_output_stream(G_IO_STREAM(conn->connection));
		g_autofree char *reply = g_strdup_printf(
		    "HTTP/1.1 %u %s\r\nContent-Length: %" G_GSIZE_FORMAT "\r\n%s%s%s%s\r\n%s",
		    status, reason != NULL ? reason : "Status", body != NULL ? strlen(body) : 0,
		    content_type != NULL ? "Content-Type: " : "",
		    content_type != NULL ? content_type : "", content_type != NULL ? "\r\n" : "",
		    extra_headers != NULL ? extra_headers : "", body != NULL ? body : "");
		/* small replies on loopback: written at once */
		if (!g_output_stream_write_all(output, reply, strlen(reply), NULL, NULL, NULL))
			conn_close(conn);
	}
	conn->busy = FALSE;
	g_free(request->method);
	g_free(request->path);
	g_bytes_unref(request->body);
	g_hash_table_unref(request->headers);
	g_free(request);
	conn_process(conn);
	conn_unref(conn);
}

static gboolean
incoming_cb(GSocketService *service, GSocketConnection *connection, GObject *source,
	    gpointer user_data)
{
	PmTestHttpServer *self = user_data;
	Conn *conn = g_new0(Conn, 1);

	self->n_accepted++;
	conn->ref = 1; /* the server's, until closed */
	conn->server = self;
	if (self->certificate != NULL) {
		g_autoptr(GError) error = NULL;
		/* the handshake runs on the first read; a client that refuses the
		 * certificate ends it there, and no request arrives */
		conn->connection = g_tls_server_connection_new(G_IO_STREAM(connection),
							       self->certificate, &error);
		g_assert_no_error(error);
	} else {
		conn->connection = G_IO_STREAM(g_object_ref(connection));
	}
	conn->cancellable = g_cancellable_new();
	conn->buf = g_string_new(NULL);
	g_ptr_array_add(self->conns, conn);
	conn_process(conn);
	return TRUE;
}

/* a closed GSocketListener cannot listen again: each start has a service of its own */
static void
server_listen(PmTestHttpServer *self)
{
	g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
	g_autoptr(GSocketAddress) address = g_inet_socket_address_new(loopback, self->port);
	g_autoptr(GSocketAddress) effective = NULL;
	g_autoptr(GError) error = NULL;

	g_assert_null(self->service);
	self->service = g_socket_service_new();
	g_signal_connect(self->service, "incoming", G_CALLBACK(incoming_cb), self);
	g_socket_listener_add_address(G_SOCKET_LISTENER(self->service), address,
				      G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, NULL, &effective,
				      &error);
	g_assert_no_error(error);
	self->port = g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(effective));
	g_socket_service_start(self->service);
}

PmTestHttpServer *
pm_test_http_server_new(PmTestHttpHandler handler, gpointer user_data)
{
	return pm_test_http_server_new_tls(handler, user_data, NULL);
}

PmTestHttpServer *
pm_test_http_server_new_tls(PmTestHttpHandler handler, gpointer user_data,
			    GTlsCertificate *certificate)
{
	PmTestHttpServer *self = g_new0(PmTestHttpServer, 1);

	self->handler = handler;
	self->user_data = user_data;
	self->conns = g_ptr_array_new();
	if (certificate != NULL)
		self->certificate = g_object_ref(certificate);
	server_listen(self);
	self->url = g_strdup_printf("%s://127.0.0.1:%u", certificate != NULL ? "https" : "http",
				    self->port);
	return self;
}

guint
pm_test_http_server_get_n_requests(PmTestHttpServer *self)
{
	return self->n_requests;
}

GTlsCertificate *
pm_test_tls_certificate(const char *name)
{
	g_autofree char *path = g_test_build_filename(G_TEST_DIST, "tls", name, NULL);
	g_autoptr(GError) error = NULL;
	GTlsCertificate *certificate = g_tls_certificate_new_from_file(path, &error);

	g_assert_no_error(error);
	return certificate;
}

char *
pm_test_tls_path(const char *name)
{
	return g_test_build_filename(G_TEST_DIST, "tls", name, NULL);
}

guint16
pm_test_http_server_get_port(PmTestHttpServer *self)
{
	return self->port;
}

guint
pm_test_http_server_get_n_accepted(PmTestHttpServer *self)
{
	return self->n_accepted;
}

const char *
pm_test_http_server_get_url(PmTestHttpServer *self)
{
	return self->url;
}

void
pm_test_http_server_stop(PmTestHttpServer *self)
{
	if (self->service != NULL) {
		g_socket_service_stop(self->service);
		g_socket_listener_close(G_SOCKET_LISTENER(self->service));
		g_signal_handlers_disconnect_by_data(self->service, self);
		g_clear_object(&self->service);
	}
	while (self->conns->len > 0)
		conn_close(g_ptr_array_index(self->conns, 0));
}

void
pm_test_http_server_start(PmTestHttpServer *self)
{
	server_listen(self);
}

void
pm_test_http_server_free(PmTestHttpServer *self)
{
	pm_test_http_server_stop(self);
	g_ptr_array_unref(self->conns);
	g_clear_object(&self->certificate);
	g_free(self->url);
	g_free(self);
}
