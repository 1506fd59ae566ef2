/* SPDX-License-Identifier: GPL-2.0-or-later */

#include <string.h>

#include "errors.h"
#include "http-call.h"
#include "libsoup-loader.h"
#include "secrets.h"
#include "tls-trust.h"

struct _PmHttpCall {
	PmContext *context;
	const PmLibsoup *libsoup;
	SoupSession *session; /* the context's */
	SoupMessage *message;
	GCancellable *cancellable;
	GBytes *body; /* the reply's */
	/* the request's, set again when libsoup restarts the message: a resend on a new
	 * connection (the kept-alive one was closed) went out with an empty body */
	GBytes *request_body;
	char *request_content_type;
	char *description;
	char *bearer; /* "Bearer TOKEN" or "Basic ...", wiped */
	char *cookie; /* "NAME=VALUE", wiped */
	PmTimer timeout_timer;
	guint timeout_msec;
	gsize max_body;
	PmHttpDoneFunc done;
	gpointer done_data;
	/* pm_http_call_set_tls() */
	GTlsDatabase *tls_database;
	GSocketConnectable *tls_identity;
	PmHttpTlsFlags tls_flags;
	char *unverified_name;
	GTlsCertificateFlags tls_errors; /* of a certificate refused */
	GError *trust_error; /* the system's roots could not be loaded */
	gboolean https;
	gboolean sent;
	gboolean cancelled; /* by the caller: nobody is told */
	gboolean timed_out;
};

static void
pm_http_call_free(PmHttpCall *self)
{
	pm_scheduler_disarm(pm_context_get_scheduler(self->context), &self->timeout_timer);
	pm_secret_free(self->bearer);
	pm_secret_free(self->cookie);
	if (self->message != NULL)
		g_signal_handlers_disconnect_by_data(self->message, self);
	g_clear_object(&self->message);
	g_clear_object(&self->cancellable);
	g_clear_object(&self->tls_database);
	g_clear_object(&self->tls_identity);
	g_clear_error(&self->trust_error);
	g_free(self->unverified_name);
	g_clear_pointer(&self->body, g_bytes_unref);
	g_clear_pointer(&self->request_body, g_bytes_unref);
	g_free(self->request_content_type);
	g_free(self->description);
	g_free(self);
}

PmHttpCall *
pm_http_call_new(PmContext *context, const char *method, const char *url, GError **error)
{
	g_autoptr(GUri) uri = NULL;
	g_autoptr(GError) local_error = NULL;
	const char *scheme;
	SoupSession *session;
	PmHttpCall *self;

	uri = g_uri_parse(url, G_URI_FLAGS_ENCODED, &local_error);
	if (uri == NULL) {
		g_set_error(error, PM_ERROR, PM_ERROR_INVALID_ARGS, "invalid URL: %s",
			    local_error->message);
		return NULL;
	}
	scheme = g_uri_get_scheme(uri);
	if ((g_ascii_strcasecmp(scheme, "http") != 0 && g_ascii_strcasecmp(scheme, "https") != 0) ||
	    g_uri_get_host(uri) == NULL || *g_uri_get_host(uri) == '\0') {
		g_set_error(error, PM_ERROR, PM_ERROR_INVALID_ARGS,
			    "invalid URL: an http:// or https:// URL with a host is needed");
		return NULL;
	}
	session = pm_context_get_soup_session(context, error);
	if (session == NULL)
		return NULL;

	self = g_new0(PmHttpCall, 1);
	self->context = context;
	self->libsoup = pm_libsoup_get(NULL);
	self->session = session;
	self->https = g_ascii_strcasecmp(scheme, "https") == 0;
	if (self->https)
		pm_tls_trust_install(); /* loads the TLS backend: not for http alone */
	self->message = self->libsoup->message_new_from_uri(method, uri);
	self->cancellable = g_cancellable_new();
	self->timeout_msec = PM_HTTP_CALL_DEFAULT_TIMEOUT_MSEC;
	self->max_body = PM_HTTP_CALL_DEFAULT_MAX_BODY;
	/* the query may carry a token (PIA's getSignature?token=): never in a message */
	if (g_uri_get_port(uri) > 0)
		self->description = g_strdup_printf("%s %s://%s:%d%s", method, scheme,
						    g_uri_get_host(uri), g_uri_get_port(uri),
						    g_uri_get_path(uri));
	else
		self->description = g_strdup_printf("%s %s://%s%s", method, scheme,
						    g_uri_get_host(uri), g_uri_get_path(uri));
	pm_timer_init(&self->timeout_timer, NULL, NULL);
	return self;
}

void
pm_http_call_set_bearer_token(PmHttpCall *self, const char *token)
{
	g_return_if_fail(!self->sent);
	self->bearer = g_strconcat("Bearer ", token, NULL);
	self->libsoup->message_headers_replace(
		self->libsoup->message_get_request_headers(self->message), "Authorization",
		self->bearer);
}

void
pm_http_call_set_basic_auth(PmHttpCall *self, const char *username, const char *password)
{
	g_autofree char *pair = g_strconcat(username, ":", password, NULL);
	g_autofree char *encoded = g_base64_encode((const guchar *)pair, strlen(pair));

	g_return_if_fail(!self->sent && self->bearer == NULL);
	self->bearer = g_strconcat("Basic ", encoded, NULL);
	explicit_bzero(pair, strlen(pair));
	explicit_bzero(encoded, strlen(encoded));
	self->libsoup->message_headers_replace(
		self->libsoup->message_get_request_headers(self->message), "Authorization",
		self->bearer);
}

void
pm_http_call_set_cookie(PmHttpCall *self, const char *cookie)
{
	g_return_if_fail(!self->sent && self->cookie == NULL);
	self->cookie = g_strdup(cookie);
	self->libsoup->message_headers_replace(
		self->libsoup->message_get_request_headers(self->message), "Cookie", self->cookie);
}

char *
pm_http_call_get_cookie(PmHttpCall *self, const char *name_prefix)
{
	GSList *cookies = self->libsoup->cookies_from_response(self->message);
	char *found = NULL;

	for (GSList *l = cookies; l != NULL && found == NULL; l = l->next) {
		const char *name = self->libsoup->cookie_get_name(l->data);
		if (name != NULL && name[0] != '\0' && g_str_has_prefix(name, name_prefix))
			found = g_strconcat(name, "=", self->libsoup->cookie_get_value(l->data),
					    NULL);
	}
	self->libsoup->cookies_free(cookies);
	return found;
}

gboolean
pm_http_url_is_valid(const char *url)
{
	g_autoptr(GUri) uri = g_uri_parse(url, G_URI_FLAGS_ENCODED, NULL);
	const char *scheme = uri != NULL ? g_uri_get_scheme(uri) : NULL;

	return uri != NULL &&
	       (g_ascii_strcasecmp(scheme, "http") == 0 || g_ascii_strcasecmp(scheme, "https") == 0) &&
	       g_uri_get_host(uri) != NULL && g_uri_get_host(uri)[0] != '\0';
}

char *
pm_http_url_for_display(const char *url)
{
	g_autoptr(GUri) uri = g_uri_parse(url, G_URI_FLAGS_ENCODED, NULL);
	if (uri == NULL)
		return g_strdup("");
	return g_uri_join(G_URI_FLAGS_ENCODED, g_uri_get_scheme(uri), NULL, g_uri_get_host(uri),
			  g_uri_get_port(uri), g_uri_get_path(uri), NULL, NULL);
}

void
pm_http_call_add_header(PmHttpCall *self, const char *name, const char *value)
{
	g_return_if_fail(!self->sent);
	self->libsoup->message_headers_append(
		self->libsoup->message_get_request_headers(self->message), name, value);
}

static void
pm_http_call_restarted_cb(SoupMessage *message, gpointer user_data)
{
	PmHttpCall *self = user_data;

	self->libsoup->message_set_request_body_from_bytes(message, self->request_content_type,
							   self->request_body);
}

void
pm_http_call_set_body(PmHttpCall *self, const char *content_type, GBytes *body)
{
	g_return_if_fail(!self->sent);
	g_clear_pointer(&self->request_body, g_bytes_unref);
	g_free(self->request_content_type);
	self->request_body = g_bytes_ref(body);
	self->request_content_type = g_strdup(content_type);
	self->libsoup->message_set_request_body_from_bytes(self->message, content_type, body);
	g_signal_handlers_disconnect_by_func(self->message, pm_http_call_restarted_cb, self);
	g_signal_connect(self->message, "restarted", G_CALLBACK(pm_http_call_restarted_cb),
			 self);
}

void
pm_http_call_set_idempotent(PmHttpCall *self)
{
	g_return_if_fail(!self->sent);
	self->libsoup->message_add_flags(self->message, SOUP_MESSAGE_IDEMPOTENT);
}

/* before the handshake of a new connection: libsoup has set the session's database (one
 * that trusts nothing, tls-trust.h) and the URL's host; the call's replace them, the
 * system's roots unless pm_http_call_set_tls() gave others */
static void
pm_http_call_network_event_cb(gpointer message, GSocketClientEvent event, GIOStream *connection,
			      gpointer user_data)
{
	PmHttpCall *self = user_data;

	if (event != G_SOCKET_CLIENT_TLS_HANDSHAKING || !G_IS_TLS_CLIENT_CONNECTION(connection))
		return;
	if (self->tls_database == NULL && self->trust_error == NULL)
		self->tls_database = pm_tls_trust_get_system(&self->trust_error);
	if (self->tls_database == NULL)
		return; /* the handshake fails: nothing is trusted */
	g_tls_connection_set_database(G_TLS_CONNECTION(connection), self->tls_database);
	if (self->tls_identity != NULL)
		g_tls_client_connection_set_server_identity(G_TLS_CLIENT_CONNECTION(connection),
							    self->tls_identity);
}

/* a certificate the database or the name check refused: refused, but for a wrong name
 * alone when the caller allowed it (the chain is verified all the same) */
static gboolean
pm_http_call_accept_certificate_cb(gpointer message, GTlsCertificate *certificate,
				   GTlsCertificateFlags errors, gpointer user_data)
{
	PmHttpCall *self = user_data;
	g_autofree char *subject = NULL;

	if (errors != G_TLS_CERTIFICATE_BAD_IDENTITY || self->tls_identity != NULL ||
	    (self->tls_flags & PM_HTTP_TLS_FLAGS_ALLOW_BAD_IDENTITY) == 0) {
		self->tls_errors = errors;
		return FALSE;
	}
	subject = g_tls_certificate_get_subject_name(certificate);
	g_free(self->unverified_name);
	self->unverified_name = g_strdup(subject != NULL ? subject : "(no subject)");
	return TRUE;
}

void
pm_http_call_set_tls(PmHttpCall *self, GTlsDatabase *database, const char *server_identity,
		     PmHttpTlsFlags flags)
{
	g_return_if_fail(!self->sent);
	g_return_if_fail(G_IS_TLS_DATABASE(database));
	g_return_if_fail(self->tls_database == NULL);

	self->tls_database = g_object_ref(database);
	self->tls_flags = flags;
	if (server_identity != NULL) {
		GUri *uri = self->libsoup->message_get_uri(self->message);
		self->tls_identity = g_network_address_new(server_identity,
							   (guint16)MAX(g_uri_get_port(uri), 0));
	}
	/* the handshake is where the check is: a reused connection would skip it */
	self->libsoup->message_add_flags(self->message, SOUP_MESSAGE_NEW_CONNECTION);
	g_signal_connect(self->message, "network-event",
			 G_CALLBACK(pm_http_call_network_event_cb), self);
	g_signal_connect(self->message, "accept-certificate",
			 G_CALLBACK(pm_http_call_accept_certificate_cb), self);
}

const char *
pm_http_call_get_unverified_name(PmHttpCall *self)
{
	return self->unverified_name;
}

GTlsCertificateFlags
pm_http_call_get_tls_errors(PmHttpCall *self)
{
	return self->tls_errors;
}

void
pm_http_call_set_timeout(PmHttpCall *self, guint msec)
{
	self->timeout_msec = msec;
}

void
pm_http_call_set_max_body(PmHttpCall *self, gsize max_body)
{
	self->max_body = max_body;
}

static void
pm_http_call_timeout_cb(PmTimer *timer, gpointer user_data)
{
	PmHttpCall *self = user_data;

	self->timed_out = TRUE;
	g_cancellable_cancel(self->cancellable);
}

static void
pm_http_call_sent_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
	PmHttpCall *self = user_data;
	g_autoptr(GError) error = NULL;
	g_autoptr(GBytes) body = NULL;

	body = self->libsoup->session_send_and_read_finish((SoupSession *)source, result, &error);
	pm_scheduler_disarm(pm_context_get_scheduler(self->context), &self->timeout_timer);
	if (self->cancelled) {
		pm_http_call_free(self);
		return;
	}
	if (body == NULL) {
		g_autoptr(GError) reported = NULL;
		if (self->trust_error != NULL)
			reported = g_error_new(PM_ERROR, PM_ERROR_FAILED, "%s: %s",
					       self->description, self->trust_error->message);
		else if (self->timed_out)
			reported = g_error_new(PM_ERROR, PM_ERROR_GATEWAY_UNREACHABLE,
					       "%s: no reply within %u ms", self->description,
					       self->timeout_msec);
		else
			reported = g_error_new(PM_ERROR, PM_ERROR_GATEWAY_UNREACHABLE, "%s: %s",
					       self->description, error->message);
		self->done(self, reported, self->done_data);
	} else if (g_bytes_get_size(body) > self->max_body) {
		g_autoptr(GError) reported =
			g_error_new(PM_ERROR, PM_ERROR_GATEWAY_UNREACHABLE,
				    "%s: a reply of %" G_GSIZE_FORMAT " bytes, more than %" G_GSIZE_FORMAT
				    " allowed",
				    self->description, g_bytes_get_size(body), self->max_body);
		self->done(self, reported, self->done_data);
	} else {
		self->body = g_steal_pointer(&body);
		self->done(self, NULL, self->done_data);
	}
	pm_http_call_free(self);
}

void
pm_http_call_send(PmHttpCall *self, PmHttpDoneFunc done, gpointer user_data)
{
	PmScheduler *scheduler = pm_context_get_scheduler(self->context);

	g_return_if_fail(!self->sent);
	self->sent = TRUE;
	self->done = done;
	self->done_data = user_data;
	if (self->https && self->tls_database == NULL)
		g_signal_connect(self->message, "network-event",
				 G_CALLBACK(pm_http_call_network_event_cb), self);
	pm_timer_init(&self->timeout_timer, pm_http_call_timeout_cb, self);
	pm_scheduler_arm(scheduler, &self->timeout_timer,
			 pm_scheduler_now(scheduler) + (guint64)self->timeout_msec * 1000);
	self->libsoup->session_send_and_read_async(self->session, self->message,
						   G_PRIORITY_DEFAULT, self->cancellable,
						   pm_http_call_sent_cb, self);
}

void
pm_http_call_cancel(PmHttpCall *self)
{
	if (!self->sent) {
		pm_http_call_free(self);
		return;
	}
	/* libsoup answers the cancelled read later, on the main loop: the call is freed
	 * there, and the caller's @done is not run */
	self->cancelled = TRUE;
	pm_scheduler_disarm(pm_context_get_scheduler(self->context), &self->timeout_timer);
	g_cancellable_cancel(self->cancellable);
}

guint
pm_http_call_get_status(PmHttpCall *self)
{
	return self->libsoup->message_get_status(self->message);
}

const char *
pm_http_call_get_reason(PmHttpCall *self)
{
	const char *reason = self->libsoup->message_get_reason_phrase(self->message);
	return reason != NULL ? reason : "";
}

GBytes *
pm_http_call_get_body(PmHttpCall *self)
{
	return self->body;
}

const char *
pm_http_call_get_response_header(PmHttpCall *self, const char *name)
{
	return self->libsoup->message_headers_get_list(
		self->libsoup->message_get_response_headers(self->message), name);
}

const char *
pm_http_call_describe(PmHttpCall *self)
{
	return self->description;
}
