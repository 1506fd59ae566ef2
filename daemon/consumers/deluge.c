/* SPDX-License-Identifier: GPL-2.0-or-later */

#include <string.h>

#include "deluge.h"
#include "errors.h"
#include "http-call.h"
#include "port-setter.h"
#include "proto/deluge.h"
#include "secrets.h"

/*
 * Type=deluge (design §6): Deluge's listening port through deluge-web's JSON-RPC
 * (pia-and-torrent-clients.md §3), with the port-setter engine (port-setter.h) deciding
 * what to do and when.
 *
 * Each operation goes: auth.login if there is no session yet, web.connected, and when
 * deluge-web is not attached to deluged, web.get_hosts and web.connect to its first host;
 * then the operation's own call: core.get_config_values (check) or core.set_config
 * (set). Deluge ignores listen_ports while random_port is true, so both are set together
 * and both are read back. The session cookie (_session_id) is kept across operations; an
 * RPC "Not authenticated" (it expired: an hour by default, or deluge-web restarted) is
 * answered with one login within the operation, never two: a refused password ends it
 * as AUTH_FAILED, and the engine then sends nothing until Reload() or Refresh().
 */

#define PM_DELUGE_DEFAULT_URL "http://127.0.0.1:8112/json"
/* web.connect answers once deluged is attached, in 2.0.3; later versions may not wait */
#define PM_DELUGE_CONNECT_POLL_USEC (G_USEC_PER_SEC / 2)
#define PM_DELUGE_CONNECT_POLLS 10

typedef struct {
	PmPortSetterConfig parent;
} PmDelugeConfig;

typedef enum {
	STEP_LOGIN,
	STEP_CONNECTED,
	STEP_GET_HOSTS,
	STEP_CONNECT,
	STEP_CALL, /* core.get_config_values or core.set_config */
} PmDelugeStep;

typedef struct {
	PmPortSetter parent;
	char *cookie; /* "_session_id=…": a secret, NULL without a session */
	guint next_id;
	/* the operation in flight */
	gboolean setting; /* set(), else check() */
	guint16 port;
	PmDelugeStep step;
	const char *method; /* of the request on the wire */
	guint request_id;
	gboolean logged_in; /* in this operation: never a second login */
	gboolean connected; /* web.connect sent in this operation */
	guint polls;
	char *host; /* "HOST:PORT" of the daemon web.connect was given */
	PmHttpCall *call;
	PmTimer poll_timer;
} PmDeluge;

static void pm_deluge_send_connected(PmDeluge *self);

static const char *
pm_deluge_url(PmDeluge *self)
{
	return pm_port_setter_get_config(&self->parent)->url;
}

/* the end of the operation: exactly one report to the engine, which may start the next
 * operation or drop the last reference, so nothing of @self is touched after */
static void
pm_deluge_end(PmDeluge *self, PmPortSetterOutcome outcome, gboolean matches, const char *seen,
	      const char *message)
{
	g_clear_pointer(&self->host, g_free);
	if (outcome == PM_PORT_SETTER_AUTH_FAILED)
		g_clear_pointer(&self->cookie, pm_secret_free);
	if (self->setting)
		pm_port_setter_set_done(&self->parent, outcome, message);
	else
		pm_port_setter_checked(&self->parent, outcome, matches, seen, message);
}

/* what deluge-web said, as the codec quoted it, without the password: a peer that echoes
 * a request puts none in a log */
static char *
pm_deluge_redact(PmDeluge *self, const char *text)
{
	const char *password = self->parent.password;
	GString *out = g_string_new(text);

	if (password != NULL && password[0] != '\0')
		g_string_replace(out, password, "(password)", 0);
	return g_string_free(out, FALSE);
}

static void pm_deluge_done_cb(PmHttpCall *call, const GError *error, gpointer user_data);

/* @body: taken, wiped after (auth.login's holds the password) */
static void
pm_deluge_send(PmDeluge *self, PmDelugeStep step, const char *method, char *body)
{
	const PmPortSetterConfig *config = pm_port_setter_get_config(&self->parent);
	g_autoptr(GError) error = NULL;
	g_autoptr(GBytes) bytes = NULL;
	PmHttpCall *call;

	g_return_if_fail(self->call == NULL);
	bytes = g_bytes_new_with_free_func(body, strlen(body), (GDestroyNotify)pm_secret_free,
					   body);
	call = pm_http_call_new(self->parent.parent.context, "POST", config->url, &error);
	if (call == NULL) {
		/* libsoup cannot be loaded: nothing a retry changes */
		pm_deluge_end(self, PM_PORT_SETTER_FAILED, FALSE, NULL, error->message);
		return;
	}
	self->step = step;
	self->method = method;
	pm_http_call_set_body(call, "application/json", bytes);
	if (self->cookie != NULL)
		pm_http_call_set_cookie(call, self->cookie);
	pm_http_call_set_timeout(call, (guint)(config->timeout_usec / 1000));
	self->call = call;
	g_debug("%s: %s", self->parent.parent.name, method);
	pm_http_call_send(call, pm_deluge_done_cb, self);
}

static guint
pm_deluge_next_id(PmDeluge *self)
{
	/* 0 is avoided: a reply's "id" is compared with it */
	if (++self->next_id == 0)
		self->next_id = 1;
	self->request_id = self->next_id;
	return self->request_id;
}

static void
pm_deluge_send_login(PmDeluge *self)
{
	if (self->parent.password == NULL) {
		/* config_verify requires one: only a class bug gets here */
		pm_deluge_end(self, PM_PORT_SETTER_FAILED, FALSE, NULL,
			      "no password: set PasswordCredential= or PasswordFile=");
		return;
	}
	g_clear_pointer(&self->cookie, pm_secret_free);
	self->logged_in = TRUE;
	pm_deluge_send(self, STEP_LOGIN, "auth.login",
		       pm_deluge_build_login(self->parent.password, pm_deluge_next_id(self)));
}

static void
pm_deluge_send_connected(PmDeluge *self)
{
	pm_deluge_send(self, STEP_CONNECTED, "web.connected",
		       pm_deluge_build_call("web.connected", pm_deluge_next_id(self)));
}

static void
pm_deluge_send_call(PmDeluge *self)
{
	if (self->setting)
		pm_deluge_send(self, STEP_CALL, "core.set_config",
			       pm_deluge_build_set_port(self->port, pm_deluge_next_id(self)));
	else
		pm_deluge_send(self, STEP_CALL, "core.get_config_values",
			       pm_deluge_build_get_ports(pm_deluge_next_id(self)));
}

static void
pm_deluge_poll_cb(PmTimer *timer, gpointer user_data)
{
	pm_deluge_send_connected(user_data);
}

/* web.connected said false */
static void
pm_deluge_not_connected(PmDeluge *self)
{
	g_autofree char *message = NULL;

	if (!self->connected) {
		pm_deluge_send(self, STEP_GET_HOSTS, "web.get_hosts",
			       pm_deluge_build_call("web.get_hosts", pm_deluge_next_id(self)));
		return;
	}
	if (self->polls++ < PM_DELUGE_CONNECT_POLLS) {
		PmScheduler *scheduler = self->parent.parent.scheduler;
		pm_scheduler_arm(scheduler, &self->poll_timer,
				 pm_scheduler_now(scheduler) + PM_DELUGE_CONNECT_POLL_USEC);
		return;
	}
	message = g_strdup_printf("deluge-web at %s did not connect to deluged at %s: is "
				  "deluged running?",
				  pm_deluge_url(self), self->host);
	pm_deluge_end(self, PM_PORT_SETTER_RETRY, FALSE, NULL, message);
}

/* a reply with "error" set */
static void
pm_deluge_rpc_error(PmDeluge *self, gint64 code, const char *what)
{
	g_autofree char *message = NULL;

	if (code == PM_DELUGE_RPC_NOT_AUTHENTICATED && self->step != STEP_LOGIN &&
	    !self->logged_in) {
		/* the session expired, or deluge-web restarted: one login, then again */
		g_message("%s: deluge-web's session ended: logging in again",
			  self->parent.parent.name);
		pm_deluge_send_login(self);
		return;
	}
	if (code == PM_DELUGE_RPC_NOT_AUTHENTICATED) {
		message = g_strdup_printf("%s at %s: %s, right after a login: is another client "
					  "logging deluge-web out?",
					  self->method, pm_deluge_url(self), what);
		pm_deluge_end(self, PM_PORT_SETTER_RETRY, FALSE, NULL, message);
	} else if (code == PM_DELUGE_RPC_UNKNOWN_METHOD && self->step == STEP_CALL) {
		/* deluge-web only knows core.* while it is attached to deluged */
		message = g_strdup_printf("%s at %s: %s: deluge-web lost its daemon", self->method,
					  pm_deluge_url(self), what);
		pm_deluge_end(self, PM_PORT_SETTER_RETRY, FALSE, NULL, message);
	} else if (self->step == STEP_CALL) {
		/* Deluge refused the request itself */
		message = g_strdup_printf("%s at %s failed: %s", self->method, pm_deluge_url(self),
					  what);
		pm_deluge_end(self, PM_PORT_SETTER_FAILED, FALSE, NULL, message);
	} else {
		/* web.connect to a daemon that is not up, and the like: it may come */
		message = g_strdup_printf("%s at %s failed: %s", self->method, pm_deluge_url(self),
					  what);
		pm_deluge_end(self, PM_PORT_SETTER_RETRY, FALSE, NULL, message);
	}
}

static void
pm_deluge_step_done(PmDeluge *self, PmHttpCall *call, JsonNode *result)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *message = NULL;
	gboolean value = FALSE;

	switch (self->step) {
	case STEP_LOGIN:
		if (!pm_deluge_result_get_boolean(result, &value, &error))
			break;
		if (!value) {
			message = g_strdup_printf("deluge-web at %s refused the password "
						  "(auth.login returned false): set its web UI "
						  "password in PasswordCredential= or PasswordFile=",
						  pm_deluge_url(self));
			pm_deluge_end(self, PM_PORT_SETTER_AUTH_FAILED, FALSE, NULL, message);
			return;
		}
		self->cookie = pm_http_call_get_cookie(call, "_session_id");
		if (self->cookie == NULL) {
			g_set_error_literal(&error, PM_DELUGE_CODEC_ERROR,
					    PM_DELUGE_CODEC_ERROR_INVALID,
					    "the login succeeded but set no _session_id cookie");
			break;
		}
		pm_deluge_send_connected(self);
		return;
	case STEP_CONNECTED:
		if (!pm_deluge_result_get_boolean(result, &value, &error))
			break;
		if (value)
			pm_deluge_send_call(self);
		else
			pm_deluge_not_connected(self);
		return;
	case STEP_GET_HOSTS: {
		g_autofree char *host_id = pm_deluge_result_first_host(result, &self->host, &error);
		if (error != NULL)
			break;
		if (host_id == NULL) {
			message = g_strdup_printf("deluge-web at %s has no daemon to connect to: "
						  "add one in its connection manager",
						  pm_deluge_url(self));
			pm_deluge_end(self, PM_PORT_SETTER_FAILED, FALSE, NULL, message);
			return;
		}
		g_message("%s: deluge-web is not connected: connecting it to deluged at %s",
			  self->parent.parent.name, self->host);
		pm_deluge_send(self, STEP_CONNECT, "web.connect",
			       pm_deluge_build_connect(host_id, pm_deluge_next_id(self)));
		return;
	}
	case STEP_CONNECT:
		/* its result is deluged's list of methods, or null: web.connected says */
		self->connected = TRUE;
		pm_deluge_send_connected(self);
		return;
	case STEP_CALL:
		if (self->setting) {
			pm_deluge_end(self, PM_PORT_SETTER_OK, FALSE, NULL, NULL);
		} else {
			PmDelugePorts ports;
			g_autofree char *seen = NULL;
			gboolean matches;

			if (!pm_deluge_result_get_ports(result, &ports, &error))
				break;
			seen = pm_deluge_ports_to_string(&ports);
			matches = ports.low == self->port && ports.high == self->port &&
				  !ports.random_port;
			pm_deluge_end(self, PM_PORT_SETTER_OK, matches, seen, NULL);
		}
		return;
	}
	message = g_strdup_printf("%s at %s: unexpected reply: %s", self->method,
				  pm_deluge_url(self), error->message);
	pm_deluge_end(self, PM_PORT_SETTER_RETRY, FALSE, NULL, message);
}

static void
pm_deluge_done_cb(PmHttpCall *call, const GError *error, gpointer user_data)
{
	PmDeluge *self = user_data;
	g_autoptr(JsonParser) parser = NULL;
	g_autoptr(GError) local_error = NULL;
	g_autofree char *message = NULL;
	JsonNode *result = NULL;
	GBytes *body;
	gint64 code = -1;

	self->call = NULL;
	if (error != NULL) {
		/* the error names the request and its URL */
		message = g_strdup_printf("%s: %s", self->method, error->message);
		pm_deluge_end(self, PM_PORT_SETTER_RETRY, FALSE, NULL, message);
		return;
	}
	body = pm_http_call_get_body(call);
	if (pm_deluge_parse_reply(pm_http_call_get_status(call),
				  g_bytes_get_data(body, NULL), g_bytes_get_size(body),
				  self->request_id, &parser, &result, &code, &local_error)) {
		pm_deluge_step_done(self, call, result);
	} else if (g_error_matches(local_error, PM_DELUGE_CODEC_ERROR,
				   PM_DELUGE_CODEC_ERROR_RPC)) {
		g_autofree char *what = pm_deluge_redact(self, local_error->message);
		pm_deluge_rpc_error(self, code, what);
	} else {
		g_autofree char *what = pm_deluge_redact(self, local_error->message);
		message = g_strdup_printf("%s at %s: %s", self->method, pm_deluge_url(self),
					  what);
		pm_deluge_end(self, PM_PORT_SETTER_RETRY, FALSE, NULL, message);
	}
}

/* an operation: log in if needed, attach deluge-web to deluged if needed, then the call */
static void
pm_deluge_start(PmDeluge *self, gboolean setting, const PmPortSetterTarget *target)
{
	self->setting = setting;
	self->port = target->listen_port;
	self->logged_in = FALSE;
	self->connected = FALSE;
	self->polls = 0;
	if (self->cookie == NULL)
		pm_deluge_send_login(self);
	else
		pm_deluge_send_connected(self);
}

static void
pm_deluge_check(PmPortSetter *setter, const PmPortSetterTarget *target)
{
	pm_deluge_start((PmDeluge *)setter, FALSE, target);
}

static void
pm_deluge_set(PmPortSetter *setter, const PmPortSetterTarget *target)
{
	/* Deluge has no announce port: trackers are told the listening port */
	pm_deluge_start((PmDeluge *)setter, TRUE, target);
}

static const PmPortSetterOps pm_deluge_ops = {
    .check = pm_deluge_check,
    .set = pm_deluge_set,
};

static gboolean
pm_deluge_init(PmConsumer *consumer, GError **error)
{
	PmDeluge *self = (PmDeluge *)consumer;

	if (!pm_port_setter_init(&self->parent, &pm_deluge_ops, error))
		return FALSE;
	pm_timer_init(&self->poll_timer, pm_deluge_poll_cb, self);
	return TRUE;
}

static void
pm_deluge_finalize(PmConsumer *consumer)
{
	PmDeluge *self = (PmDeluge *)consumer;

	/* an operation in flight holds a reference: neither a call nor a poll is left */
	g_warn_if_fail(self->call == NULL);
	pm_scheduler_disarm(consumer->scheduler, &self->poll_timer);
	pm_secret_free(self->cookie);
	g_free(self->host);
	pm_port_setter_finalize(&self->parent);
}

/* configuration */

static const PmConfigKey pm_deluge_keys[] = {
    PM_PORT_SETTER_CONFIG_KEYS,
    {NULL},
};

static gboolean
pm_deluge_config_verify(PmConsumerConfig *consumer, PmConfigSection *section, GError **error)
{
	PmPortSetterConfig *config = (PmPortSetterConfig *)consumer;

	if (!pm_port_setter_config_verify(config, section, PM_DELUGE_DEFAULT_URL, error))
		return FALSE;
	if (config->username != NULL) {
		pm_config_section_set_error(section, pm_config_section_lookup(section, "Username"),
					    "deluge-web has no user name, only a password",
					    "none: remove Username=", error);
		return FALSE;
	}
	/* Deluge's default password "deluge" is not assumed: a web UI left with it is
	 * better refused by the admin than silently used */
	if (config->password_credential == NULL && config->password_file == NULL) {
		pm_config_section_set_missing_error(
			section, "PasswordCredential",
			"set PasswordCredential= or PasswordFile= to deluge-web's password",
			error);
		return FALSE;
	}
	return TRUE;
}

const PmConsumerClass pm_deluge_consumer_class = {
    .type = "deluge",
    .config_size = sizeof(PmDelugeConfig),
    .object_size = sizeof(PmDeluge),
    .single_mapping = TRUE,
    .config_keys = pm_deluge_keys,
    .config_verify = pm_deluge_config_verify,
    .config_equal = pm_port_setter_config_equal,
    .config_print = pm_port_setter_config_print,
    .config_free = pm_port_setter_config_free,
    .init = pm_deluge_init,
    .finalize = pm_deluge_finalize,
    .mapping_up = pm_port_setter_mapping_up,
    .mapping_changed = pm_port_setter_mapping_changed,
    .mapping_down = pm_port_setter_mapping_down,
    .describe = pm_port_setter_describe,
};
