/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "wg-uapi-client.h"

#include <gio/gio.h>
#include <gio/gunixsocketaddress.h>
#include <string.h>

#include "errors.h"

/*
 * Each GIO operation in flight holds a reference: its callback comes even after a cancel,
 * and must find the call alive to let go of it.
 */
struct _PmWgUapiCall {
	gint ref;
	gboolean finished; /* done was called, or the call was freed */
	char *path;
	char *request;
	guint timeout_msec;
	PmWgUapiCallFunc done;
	gpointer user_data;
	GSocketClient *client;
	GSocketConnection *connection;
	GCancellable *cancellable;
	guint timeout_id;
	PmWgUapiParser *parser;
	guint8 buf[4096];
};

static PmWgUapiCall *
call_ref(PmWgUapiCall *self)
{
	self->ref++;
	return self;
}

static void
call_unref(PmWgUapiCall *self)
{
	if (--self->ref > 0)
		return;
	g_clear_object(&self->connection);
	g_clear_object(&self->client);
	g_clear_object(&self->cancellable);
	pm_wg_uapi_parser_free(self->parser);
	explicit_bzero(self->buf, sizeof(self->buf));
	g_free(self->request);
	g_free(self->path);
	g_free(self);
}

GError *
pm_wg_uapi_connect_error(const char *socket_path, const GError *error)
{
	if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED))
		return g_error_new(PM_ERROR, PM_ERROR_ACCESS_DENIED,
				   "the userspace WireGuard socket %s is root-only (wireguard-go "
				   "makes it 0700): run portmapd as root for it, with the drop-in "
				   "%s",
				   socket_path, PM_WG_USERSPACE_DROPIN);
	if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED))
		return g_error_new(PM_ERROR, PM_ERROR_FAILED,
				   "nothing listens on the userspace WireGuard socket %s any "
				   "more (its wireguard-go or boringtun is gone)",
				   socket_path);
	return g_error_new(PM_ERROR, PM_ERROR_FAILED, "userspace WireGuard socket %s: %s",
			   socket_path, error->message);
}

/* the one way out: closes the connection and calls back once */
static void
finish(PmWgUapiCall *self, PmWgDevice *device, int errnum, const GError *error)
{
	if (self->finished) {
		pm_wg_device_free(device);
		return;
	}
	self->finished = TRUE;
	g_clear_handle_id(&self->timeout_id, g_source_remove);
	g_cancellable_cancel(self->cancellable);
	/* a Unix socket closes at once; the reply is read whole, so nothing is lost */
	if (self->connection != NULL)
		g_io_stream_close(G_IO_STREAM(self->connection), NULL, NULL);
	explicit_bzero(self->buf, sizeof(self->buf));
	self->done(self, device, errnum, error, self->user_data);
}

static void
fail_with(PmWgUapiCall *self, const char *what, const GError *cause)
{
	g_autoptr(GError) error = g_error_new(PM_ERROR, PM_ERROR_FAILED,
					      "userspace WireGuard socket %s: %s%s%s", self->path,
					      what, cause != NULL ? ": " : "",
					      cause != NULL ? cause->message : "");
	finish(self, NULL, 0, error);
}

static gboolean
timeout_cb(gpointer user_data)
{
	PmWgUapiCall *self = user_data;
	g_autoptr(GError) error = NULL;

	self->timeout_id = 0;
	error = g_error_new(G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
			    "userspace WireGuard socket %s: no answer within %u ms", self->path,
			    self->timeout_msec);
	/* held across the callback, which may free the call */
	call_ref(self);
	finish(self, NULL, 0, error);
	call_unref(self);
	return G_SOURCE_REMOVE;
}

static void read_next(PmWgUapiCall *self);

static void
read_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
	PmWgUapiCall *self = user_data;
	g_autoptr(GError) error = NULL;
	gssize n = g_input_stream_read_finish(G_INPUT_STREAM(source), result, &error);
	gboolean ok;

	if (self->finished) {
		call_unref(self);
		return;
	}
	if (n < 0) {
		fail_with(self, "cannot read the reply", error);
	} else if (n == 0) {
		fail_with(self, "the connection closed before the end of the reply", NULL);
	} else {
		ok = pm_wg_uapi_parser_feed(self->parser, self->buf, (gsize)n, &error);
		/* the private key, if it was in these bytes, leaves no copy here */
		explicit_bzero(self->buf, (gsize)n);
		if (!ok) {
			fail_with(self, "malformed reply", error);
		} else if (pm_wg_uapi_parser_is_done(self->parser)) {
			int errnum = 0;
			PmWgDevice *device =
			    pm_wg_uapi_parser_finish(self->parser, &errnum, &error);
			if (device == NULL)
				fail_with(self, "malformed reply", error);
			else
				finish(self, device, errnum, NULL);
		} else {
			read_next(self);
		}
	}
	call_unref(self);
}

static void
read_next(PmWgUapiCall *self)
{
	GInputStream *in = g_io_stream_get_input_stream(G_IO_STREAM(self->connection));

	g_input_stream_read_async(in, self->buf, sizeof(self->buf), G_PRIORITY_DEFAULT,
				  self->cancellable, read_cb, call_ref(self));
}

static void
write_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
	PmWgUapiCall *self = user_data;
	g_autoptr(GError) error = NULL;

	if (!g_output_stream_write_all_finish(G_OUTPUT_STREAM(source), result, NULL, &error)) {
		if (!self->finished)
			fail_with(self, "cannot send the request", error);
	} else if (!self->finished) {
		read_next(self);
	}
	call_unref(self);
}

static void
connect_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
	PmWgUapiCall *self = user_data;
	g_autoptr(GError) error = NULL;
	GSocketConnection *connection =
	    g_socket_client_connect_finish(G_SOCKET_CLIENT(source), result, &error);

	if (self->finished) {
		g_clear_object(&connection);
	} else if (connection == NULL) {
		g_autoptr(GError) mapped = pm_wg_uapi_connect_error(self->path, error);
		finish(self, NULL, 0, mapped);
	} else {
		GOutputStream *out;

		self->connection = connection;
		out = g_io_stream_get_output_stream(G_IO_STREAM(connection));
		g_output_stream_write_all_async(out, self->request, strlen(self->request),
						G_PRIORITY_DEFAULT, self->cancellable, write_cb,
						call_ref(self));
	}
	call_unref(self);
}

PmWgUapiCall *
pm_wg_uapi_call_new(const char *socket_path, const char *request, guint timeout_msec,
		    PmWgUapiCallFunc done, gpointer user_data)
{
	PmWgUapiCall *self = g_new0(PmWgUapiCall, 1);
	g_autoptr(GSocketAddress) address = g_unix_socket_address_new(socket_path);

	self->ref = 1;
	self->path = g_strdup(socket_path);
	self->request = g_strdup(request);
	self->timeout_msec = timeout_msec;
	self->done = done;
	self->user_data = user_data;
	self->parser = pm_wg_uapi_parser_new();
	self->cancellable = g_cancellable_new();
	self->client = g_socket_client_new();
	g_socket_client_set_enable_proxy(self->client, FALSE);
	self->timeout_id = g_timeout_add(timeout_msec, timeout_cb, self);
	g_socket_client_connect_async(self->client, G_SOCKET_CONNECTABLE(address),
				      self->cancellable, connect_cb, call_ref(self));
	return self;
}

void
pm_wg_uapi_call_free(PmWgUapiCall *self)
{
	if (self == NULL)
		return;
	if (!self->finished) {
		self->finished = TRUE;
		g_clear_handle_id(&self->timeout_id, g_source_remove);
		g_cancellable_cancel(self->cancellable);
	}
	call_unref(self);
}
