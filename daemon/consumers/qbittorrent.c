/* SPDX-License-Identifier: GPL-2.0-or-later */

#include <string.h>

#include "errors.h"
#include "http-call.h"
#include "port-setter.h"
#include "qbittorrent.h"
#include "proto/qbittorrent.h"
#include "secrets.h"

/*
 * Type=qbittorrent (design §6, pia-and-torrent-clients.md §2): the port-setter engine's
 * check and set through the Web API v2. check() reads GET /api/v2/app/preferences; set()
 * sends POST /api/v2/app/setPreferences with listen_port, random_port and upnp off, and
 * announce_port where the last preferences read had it (5.1+: check always comes first).
 *
 * Authentication: with APIKeyCredential= (5.2+) a bearer key on every call and no login;
 * else, with a password, POST /api/v2/auth/login when there is no session yet, and once
 * more in the same operation when a call says the session is gone (403). The session is
 * the cookie the login sets, whatever its name (SID, QBT_SID_<port> on 5.2, or the one
 * configured). Without either, calls go without credentials (qBittorrent's "bypass
 * authentication" for localhost or a subnet). A refused login blocks the consumer
 * (the engine's AUTH_FAILED): qBittorrent bans an address after 5 failures, for an hour.
 * No Origin or Referer is sent: qBittorrent's CSRF check refuses those that do not match.
 */

#define PM_QBITTORRENT_DEFAULT_URL "http://127.0.0.1:8080"
#define PM_QBITTORRENT_DEFAULT_USERNAME "admin"

typedef struct {
	PmPortSetterConfig parent;
	char *api_key_credential;
} PmQbittorrentConfig;

typedef enum {
	OP_CHECK,
	OP_SET,
} PmQbittorrentOp;

typedef struct {
	PmPortSetter parent;
	char *api_key; /* a secret, NULL if none is configured; wiped */
	char *cookie;  /* the session, "NAME=VALUE": a secret; NULL when none */
	/* the last preferences read had announce_port (5.1+) */
	gboolean has_announce_port;
	/* the operation in flight: the engine holds a reference on us meanwhile */
	PmQbittorrentOp op;
	PmPortSetterTarget target;
	gboolean logged_in; /* in this operation: a 403 now is not a lost session */
} PmQbittorrent;

static void pm_qbittorrent_send(PmQbittorrent *self);

static const PmQbittorrentConfig *
pm_qbittorrent_get_config(PmQbittorrent *self)
{
	return (const PmQbittorrentConfig *)self->parent.parent.config;
}

static const char *
pm_qbittorrent_name(PmQbittorrent *self)
{
	return self->parent.parent.name;
}

/* URL= and an API path, without a doubled slash (URL= may have a path: a reverse proxy) */
static char *
pm_qbittorrent_url(PmQbittorrent *self, const char *path)
{
	const char *base = pm_qbittorrent_get_config(self)->parent.url;
	gsize len = strlen(base);

	while (len > 0 && base[len - 1] == '/')
		len--;
	return g_strdup_printf("%.*s%s", (int)len, base, path);
}

/* the end of the operation, whichever it is */
static void
pm_qbittorrent_finish(PmQbittorrent *self, PmPortSetterOutcome outcome, gboolean matches,
		      const char *seen, const char *message)
{
	if (self->op == OP_CHECK)
		pm_port_setter_checked(&self->parent, outcome, matches, seen, message);
	else
		pm_port_setter_set_done(&self->parent, outcome, message);
}

static void
pm_qbittorrent_fail(PmQbittorrent *self, PmPortSetterOutcome outcome, const char *message)
{
	pm_qbittorrent_finish(self, outcome, FALSE, NULL, message);
}

/* "GET URL: HTTP 502 Bad Gateway (body)" */
static char *
pm_qbittorrent_describe_reply(PmQbittorrent *self, PmHttpCall *call, const char *hint)
{
	GBytes *body = pm_http_call_get_body(call);
	gsize len = 0;
	const guint8 *data = g_bytes_get_data(body, &len);
	g_autofree char *quote =
	    pm_qbittorrent_quote_body(data, len, self->parent.password, PM_QBITTORRENT_QUOTE_MAX);

	return g_strdup_printf("%s: HTTP %u %s (%s)%s%s", pm_http_call_describe(call),
			       pm_http_call_get_status(call), pm_http_call_get_reason(call), quote,
			       hint != NULL ? ": " : "", hint != NULL ? hint : "");
}

static PmHttpCall *
pm_qbittorrent_new_call(PmQbittorrent *self, const char *method, const char *path)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *url = pm_qbittorrent_url(self, path);
	PmHttpCall *call = pm_http_call_new(self->parent.parent.context, method, url, &error);

	if (call == NULL) {
		/* libsoup cannot be loaded: nothing to retry until the next push */
		pm_qbittorrent_fail(self, PM_PORT_SETTER_FAILED, error->message);
		return NULL;
	}
	pm_http_call_set_timeout(call,
				 (guint)(pm_qbittorrent_get_config(self)->parent.timeout_usec / 1000));
	return call;
}

static void
pm_qbittorrent_login_done_cb(PmHttpCall *call, const GError *error, gpointer user_data)
{
	PmQbittorrent *self = user_data;
	g_autofree char *message = NULL;
	GBytes *body;
	const guint8 *data;
	gsize len = 0;

	if (error != NULL) {
		g_autofree char *full =
		    g_strdup_printf("%s: %s", pm_http_call_describe(call), error->message);
		pm_qbittorrent_fail(self, PM_PORT_SETTER_RETRY, full);
		return;
	}
	body = pm_http_call_get_body(call);
	data = g_bytes_get_data(body, &len);
	switch (pm_qbittorrent_parse_login_reply(pm_http_call_get_status(call), data, len,
						 self->parent.password, &message)) {
	case PM_QBITTORRENT_LOGIN_OK: {
		g_clear_pointer(&self->cookie, pm_secret_free);
		/* none with "bypass authentication": calls then go without */
		self->cookie = pm_http_call_get_cookie(call, "");
		g_debug("%s: logged in (%s)", pm_qbittorrent_name(self),
			self->cookie != NULL ? "a session cookie" : "no cookie");
		pm_qbittorrent_send(self);
		break;
	}
	case PM_QBITTORRENT_LOGIN_REFUSED:
	case PM_QBITTORRENT_LOGIN_FORBIDDEN: {
		g_autofree char *full =
		    g_strdup_printf("%s: %s", pm_http_call_describe(call), message);
		pm_qbittorrent_fail(self, PM_PORT_SETTER_AUTH_FAILED, full);
		break;
	}
	case PM_QBITTORRENT_LOGIN_UNEXPECTED: {
		g_autofree char *full =
		    g_strdup_printf("%s: %s", pm_http_call_describe(call), message);
		pm_qbittorrent_fail(self, PM_PORT_SETTER_RETRY, full);
		break;
	}
	}
}

/* the password read again before each login (pm_port_setter_reload_password()); a file
 * gone or unsafe: nothing to try until the next push */
static gboolean
pm_qbittorrent_reload_password(PmQbittorrent *self)
{
	g_autoptr(GError) error = NULL;

	if (pm_port_setter_reload_password(&self->parent, &error))
		return TRUE;
	pm_qbittorrent_fail(self, PM_PORT_SETTER_FAILED, error->message);
	return FALSE;
}

static void
pm_qbittorrent_login(PmQbittorrent *self)
{
	const PmQbittorrentConfig *config = pm_qbittorrent_get_config(self);
	g_autoptr(GBytes) form = NULL;
	PmHttpCall *call;
	char *text;

	g_clear_pointer(&self->cookie, pm_secret_free);
	self->logged_in = TRUE;
	if (!pm_qbittorrent_reload_password(self))
		return;
	call = pm_qbittorrent_new_call(self, "POST", "/api/v2/auth/login");
	if (call == NULL)
		return;
	text = pm_qbittorrent_build_login_form(config->parent.username, self->parent.password);
	form = g_bytes_new_with_free_func(text, strlen(text), (GDestroyNotify)pm_secret_free, text);
	pm_http_call_set_body(call, "application/x-www-form-urlencoded", form);
	g_debug("%s: logging in as %s", pm_qbittorrent_name(self), config->parent.username);
	pm_http_call_send(call, pm_qbittorrent_login_done_cb, self);
}

/* a preferences reply: compared with the target */
static void
pm_qbittorrent_checked(PmQbittorrent *self, PmHttpCall *call)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *seen = NULL;
	PmQbittorrentPreferences prefs;
	GBytes *body = pm_http_call_get_body(call);
	gsize len = 0;
	const guint8 *data = g_bytes_get_data(body, &len);
	gboolean matches;

	if (!pm_qbittorrent_parse_preferences(data, len, &prefs, &error)) {
		g_autofree char *message = g_strdup_printf(
		    "%s: HTTP %u, but %s", pm_http_call_describe(call),
		    pm_http_call_get_status(call), error->message);
		pm_qbittorrent_fail(self, PM_PORT_SETTER_RETRY, message);
		return;
	}
	self->has_announce_port = prefs.has_announce_port;
	matches = pm_qbittorrent_preferences_match(&prefs, self->target.listen_port,
						   self->target.announce_port, &seen);
	pm_qbittorrent_finish(self, PM_PORT_SETTER_OK, matches, seen, NULL);
}

static void
pm_qbittorrent_api_done_cb(PmHttpCall *call, const GError *error, gpointer user_data)
{
	PmQbittorrent *self = user_data;
	guint status;

	if (error != NULL) {
		g_autofree char *message =
		    g_strdup_printf("%s: %s", pm_http_call_describe(call), error->message);
		pm_qbittorrent_fail(self, PM_PORT_SETTER_RETRY, message);
		return;
	}
	status = pm_http_call_get_status(call);
	if (status == 403 && self->api_key == NULL && self->parent.password != NULL &&
	    !self->logged_in) {
		/* the session expired (WebUI\SessionTimeout) or qBittorrent restarted */
		g_debug("%s: the session is gone; logging in again", pm_qbittorrent_name(self));
		pm_qbittorrent_login(self);
	} else if (status == 403) {
		const char *hint;
		PmPortSetterOutcome outcome = PM_PORT_SETTER_FAILED;
		g_autofree char *message = NULL;

		if (self->api_key != NULL) {
			hint = "qBittorrent refused the API key: check APIKeyCredential= "
			       "(its WebUI\\APIKey)";
			outcome = PM_PORT_SETTER_AUTH_FAILED;
		} else if (self->parent.password == NULL) {
			hint = "qBittorrent wants a login: set PasswordCredential= or "
			       "PasswordFile= (or APIKeyCredential= on 5.2+)";
		} else {
			hint = "qBittorrent refused the session it had just opened";
		}
		message = pm_qbittorrent_describe_reply(self, call, hint);
		pm_qbittorrent_fail(self, outcome, message);
	} else if (status >= 500 || status < 200 || (status >= 300 && status < 400)) {
		g_autofree char *message = pm_qbittorrent_describe_reply(self, call, NULL);
		pm_qbittorrent_fail(self, PM_PORT_SETTER_RETRY, message);
	} else if (status >= 400) {
		const char *hint = NULL;
		g_autofree char *message = NULL;

		if (status == 401)
			hint = "qBittorrent refused the request's Host header or origin: set "
			       "URL= to the address and port it listens on";
		message = pm_qbittorrent_describe_reply(self, call, hint);
		pm_qbittorrent_fail(self, PM_PORT_SETTER_FAILED, message);
	} else if (self->op == OP_CHECK) {
		pm_qbittorrent_checked(self, call);
	} else {
		g_debug("%s: setPreferences: HTTP %u", pm_qbittorrent_name(self), status);
		pm_qbittorrent_finish(self, PM_PORT_SETTER_OK, FALSE, NULL, NULL);
	}
}

/* the operation's API call, with the credentials there are */
static void
pm_qbittorrent_send(PmQbittorrent *self)
{
	PmHttpCall *call;

	if (self->op == OP_CHECK) {
		call = pm_qbittorrent_new_call(self, "GET", "/api/v2/app/preferences");
		if (call == NULL)
			return;
	} else {
		g_autofree char *text = pm_qbittorrent_build_preferences_form(
		    self->target.listen_port, self->has_announce_port, self->target.announce_port);
		gsize len = strlen(text);
		g_autoptr(GBytes) form = g_bytes_new_take(g_steal_pointer(&text), len);

		call = pm_qbittorrent_new_call(self, "POST", "/api/v2/app/setPreferences");
		if (call == NULL)
			return;
		pm_http_call_set_body(call, "application/x-www-form-urlencoded", form);
	}
	if (self->api_key != NULL)
		pm_http_call_set_bearer_token(call, self->api_key);
	else if (self->cookie != NULL)
		pm_http_call_set_cookie(call, self->cookie);
	pm_http_call_send(call, pm_qbittorrent_api_done_cb, self);
}

static void
pm_qbittorrent_begin(PmQbittorrent *self, PmQbittorrentOp op, const PmPortSetterTarget *target)
{
	self->op = op;
	self->target = *target;
	self->logged_in = FALSE;
	if (self->api_key == NULL && self->parent.password != NULL && self->cookie == NULL)
		pm_qbittorrent_login(self);
	else
		pm_qbittorrent_send(self);
}

static void
pm_qbittorrent_check(PmPortSetter *setter, const PmPortSetterTarget *target)
{
	pm_qbittorrent_begin((PmQbittorrent *)setter, OP_CHECK, target);
}

static void
pm_qbittorrent_set(PmPortSetter *setter, const PmPortSetterTarget *target)
{
	pm_qbittorrent_begin((PmQbittorrent *)setter, OP_SET, target);
}

static const PmPortSetterOps pm_qbittorrent_ops = {
    .check = pm_qbittorrent_check,
    .set = pm_qbittorrent_set,
};

static gboolean
pm_qbittorrent_init(PmConsumer *consumer, GError **error)
{
	PmQbittorrent *self = (PmQbittorrent *)consumer;
	const PmQbittorrentConfig *config = pm_qbittorrent_get_config(self);

	if (!pm_port_setter_init(&self->parent, &pm_qbittorrent_ops, error))
		return FALSE;
	if (config->api_key_credential != NULL) {
		self->api_key = pm_context_load_secret(consumer->context,
						       config->api_key_credential, NULL, error);
		if (self->api_key == NULL) {
			/* a failed init undoes itself: finalize is not called */
			pm_port_setter_finalize(&self->parent);
			return FALSE;
		}
	}
	return TRUE;
}

static void
pm_qbittorrent_finalize(PmConsumer *consumer)
{
	PmQbittorrent *self = (PmQbittorrent *)consumer;

	pm_secret_free(self->api_key);
	pm_secret_free(self->cookie);
	pm_port_setter_finalize(&self->parent);
}

static void
pm_qbittorrent_describe(PmConsumer *consumer, PmJsonWriter *writer)
{
	PmQbittorrent *self = (PmQbittorrent *)consumer;

	pm_port_setter_describe(consumer, writer);
	pm_json_member_bool(writer, "APIKey", self->api_key != NULL);
}

/* configuration */

static const PmConfigKey pm_qbittorrent_keys[] = {
    PM_PORT_SETTER_CONFIG_KEYS,
    {"APIKeyCredential", pm_config_parse_string,
     G_STRUCT_OFFSET(PmQbittorrentConfig, api_key_credential)},
    {NULL},
};

static gboolean
pm_qbittorrent_config_verify(PmConsumerConfig *consumer, PmConfigSection *section,
			     GError **error)
{
	PmQbittorrentConfig *config = (PmQbittorrentConfig *)consumer;

	if (!pm_port_setter_config_verify(&config->parent, section, PM_QBITTORRENT_DEFAULT_URL,
					  error))
		return FALSE;
	if (config->api_key_credential != NULL &&
	    (config->parent.password_credential != NULL || config->parent.password_file != NULL)) {
		/* an API key needs no login: a password as well would never be used */
		pm_config_section_set_error(section,
					    pm_config_section_lookup(section, "APIKeyCredential"),
					    "a password is set as well",
					    "APIKeyCredential= (qBittorrent 5.2+) or "
					    "PasswordCredential=/PasswordFile=, not both",
					    error);
		return FALSE;
	}
	if (config->parent.username == NULL)
		config->parent.username = g_strdup(PM_QBITTORRENT_DEFAULT_USERNAME);
	return TRUE;
}

static gboolean
pm_qbittorrent_config_equal(const PmConsumerConfig *a, const PmConsumerConfig *b)
{
	const PmQbittorrentConfig *qa = (const PmQbittorrentConfig *)a;
	const PmQbittorrentConfig *qb = (const PmQbittorrentConfig *)b;

	return pm_port_setter_config_equal(a, b) &&
	       g_strcmp0(qa->api_key_credential, qb->api_key_credential) == 0;
}

static void
pm_qbittorrent_config_print(const PmConsumerConfig *consumer, GString *out)
{
	const PmQbittorrentConfig *config = (const PmQbittorrentConfig *)consumer;

	pm_port_setter_config_print(consumer, out);
	/* where the key is, never the key */
	if (config->api_key_credential != NULL)
		pm_config_print_string(out, "APIKeyCredential", config->api_key_credential);
}

static void
pm_qbittorrent_config_free(PmConsumerConfig *consumer)
{
	PmQbittorrentConfig *config = (PmQbittorrentConfig *)consumer;

	pm_port_setter_config_free(consumer);
	g_free(config->api_key_credential);
}

const PmConsumerClass pm_qbittorrent_consumer_class = {
    .type = "qbittorrent",
    .config_size = sizeof(PmQbittorrentConfig),
    .object_size = sizeof(PmQbittorrent),
    .single_mapping = TRUE,
    .config_keys = pm_qbittorrent_keys,
    .config_verify = pm_qbittorrent_config_verify,
    .config_equal = pm_qbittorrent_config_equal,
    .config_print = pm_qbittorrent_config_print,
    .config_free = pm_qbittorrent_config_free,
    .init = pm_qbittorrent_init,
    .finalize = pm_qbittorrent_finalize,
    .mapping_up = pm_port_setter_mapping_up,
    .mapping_changed = pm_port_setter_mapping_changed,
    .mapping_down = pm_port_setter_mapping_down,
    .describe = pm_qbittorrent_describe,
};
