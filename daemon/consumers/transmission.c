/* SPDX-License-Identifier: GPL-2.0-or-later */

#include "http-call.h"
#include "port-setter.h"
#include "proto/transmission.h"
#include "transmission.h"

/*
 * Type=transmission (design §6, pia-and-torrent-clients.md §3): the mapping's internal
 * port I becomes Transmission's peer-port, through port-setter.c's check → set → check.
 * Transmission has no separate announce port: it tells trackers its peer-port, so E is
 * not used.
 *
 * Each RPC is a POST of JSON to URL=, with Basic auth when Username= or a password is set,
 * and X-Transmission-Session-Id once Transmission gave one. That id is CSRF protection
 * and may change at any time (a restart, or Transmission deciding so): a 409 carries the
 * new one and the request is sent again with it, once per request. A 401 is never retried:
 * Transmission 3.00 counts every request without valid credentials and, after 100, refuses
 * RPC to everyone until it restarts, so the engine blocks the consumer at the first.
 */

typedef struct {
	PmPortSetterConfig parent;
} PmTransmissionConfig;

typedef enum {
	OP_CHECK,
	OP_SET,
} PmTransmissionOp;

typedef struct {
	PmPortSetter parent;
	/* the CSRF id Transmission gave last; not a credential, but not logged either */
	char *session_id;
	guint rpc_version; /* the last session-get's, 0 until one was read */
	guint tag;	   /* of the request on the wire: a reply must echo it */
	/* the request on the wire */
	PmTransmissionOp op;
	guint16 port;
	gboolean resent; /* after a 409: another 409 ends the operation */
} PmTransmission;

static void pm_transmission_send(PmTransmission *self);

static const char *
pm_transmission_name(PmTransmission *self)
{
	return self->parent.parent.name;
}

/* the end of the request: to the engine, as the end of check() or set() */
static void
pm_transmission_end(PmTransmission *self, PmPortSetterOutcome outcome, gboolean matches,
		    const char *seen, const char *message)
{
	if (self->op == OP_CHECK)
		pm_port_setter_checked(&self->parent, outcome, matches, seen, message);
	else
		pm_port_setter_set_done(&self->parent, outcome, message);
}

static const char *
pm_transmission_what(PmTransmission *self)
{
	return self->op == OP_CHECK ? "session-get" : "session-set";
}

/* a 200: the reply to the request */
static void
pm_transmission_reply(PmTransmission *self, PmHttpCall *call)
{
	GBytes *body = pm_http_call_get_body(call);
	gsize len = 0;
	const guint8 *data = g_bytes_get_data(body, &len);
	g_autoptr(GError) error = NULL;
	g_autofree char *message = NULL;
	PmTransmissionSession session = {0};
	gboolean ok;

	if (self->op == OP_CHECK)
		ok = pm_transmission_parse_session_get(data, len, self->tag, &session, &error);
	else
		ok = pm_transmission_parse_session_set(data, len, self->tag, &error);
	if (!ok) {
		message = g_strdup_printf("%s: %s: %s", pm_http_call_describe(call),
					  pm_transmission_what(self), error->message);
		/* Transmission said no: it will say so again until something changes; a reply
		 * that is not Transmission's may be a proxy between restarts */
		pm_transmission_end(self,
				    g_error_matches(error, PM_TRANSMISSION_CODEC_ERROR,
						    PM_TRANSMISSION_CODEC_ERROR_REFUSED)
					? PM_PORT_SETTER_FAILED
					: PM_PORT_SETTER_RETRY,
				    FALSE, NULL, message);
		return;
	}
	if (self->op == OP_SET) {
		pm_transmission_end(self, PM_PORT_SETTER_OK, FALSE, NULL, NULL);
		return;
	}
	if (session.rpc_version != self->rpc_version) {
		/* rpc-version 18 (4.1.0) takes snake_case too; 5.0 will take only that */
		g_debug("%s: Transmission's rpc-version is %u", pm_transmission_name(self),
			session.rpc_version);
		self->rpc_version = session.rpc_version;
	}
	{
		g_autofree char *seen = pm_transmission_session_describe(&session);
		gboolean matches = session.peer_port == self->port &&
				   !session.peer_port_random_on_start &&
				   !session.port_forwarding_enabled;
		pm_transmission_end(self, PM_PORT_SETTER_OK, matches, seen, NULL);
	}
}

static void
pm_transmission_done_cb(PmHttpCall *call, const GError *error, gpointer user_data)
{
	PmTransmission *self = user_data;
	const PmPortSetterConfig *config = pm_port_setter_get_config(&self->parent);
	g_autofree char *message = NULL;
	const char *reason;
	guint status;

	if (error != NULL) {
		message = g_strdup_printf("cannot reach Transmission: %s", error->message);
		pm_transmission_end(self, PM_PORT_SETTER_RETRY, FALSE, NULL, message);
		return;
	}
	status = pm_http_call_get_status(call);
	reason = pm_http_call_get_reason(call);
	if (status == 409) {
		const char *id =
		    pm_http_call_get_response_header(call, PM_TRANSMISSION_SESSION_ID_HEADER);
		if (!pm_transmission_session_id_is_valid(id)) {
			message = g_strdup_printf(
			    "%s: HTTP 409 %s without a valid " PM_TRANSMISSION_SESSION_ID_HEADER
			    " header: is URL= Transmission's RPC URL?",
			    pm_http_call_describe(call), reason);
			pm_transmission_end(self, PM_PORT_SETTER_RETRY, FALSE, NULL, message);
			return;
		}
		if (self->resent) {
			message = g_strdup_printf(
			    "%s: HTTP 409 %s again after sending the session id it gave",
			    pm_http_call_describe(call), reason);
			pm_transmission_end(self, PM_PORT_SETTER_RETRY, FALSE, NULL, message);
			return;
		}
		g_free(self->session_id);
		self->session_id = g_strdup(id);
		self->resent = TRUE;
		g_debug("%s: a new session id, %s sent again", pm_transmission_name(self),
			pm_transmission_what(self));
		pm_transmission_send(self);
		return;
	}
	if (status == 200) {
		pm_transmission_reply(self, call);
		return;
	}
	if (status == 401) {
		if (config->username == NULL && self->parent.password == NULL)
			message = g_strdup_printf(
			    "%s: HTTP 401 %s: Transmission asks for a login: set Username= and "
			    "PasswordCredential= or PasswordFile= to its rpc-username and "
			    "rpc-password",
			    pm_http_call_describe(call), reason);
		else
			message = g_strdup_printf(
			    "%s: HTTP 401 %s: the RPC username or password was refused: check "
			    "Username= and the password against Transmission's rpc-username and "
			    "rpc-password",
			    pm_http_call_describe(call), reason);
		pm_transmission_end(self, PM_PORT_SETTER_AUTH_FAILED, FALSE, NULL, message);
	} else if (status == 403) {
		message = g_strdup_printf(
		    "%s: HTTP 403 %s: Transmission refuses portmapd's address: add it to "
		    "rpc-whitelist in its settings.json (or set rpc-whitelist-enabled to false)",
		    pm_http_call_describe(call), reason);
		pm_transmission_end(self, PM_PORT_SETTER_FAILED, FALSE, NULL, message);
	} else if (status == 421) {
		message = g_strdup_printf(
		    "%s: HTTP 421 %s: Transmission does not know the host name of URL=: add it "
		    "to rpc-host-whitelist in its settings.json, or use its IP address in URL=",
		    pm_http_call_describe(call), reason);
		pm_transmission_end(self, PM_PORT_SETTER_FAILED, FALSE, NULL, message);
	} else if (status >= 400 && status < 500) {
		message = g_strdup_printf(
		    "%s: HTTP %u %s: is URL= Transmission's RPC URL "
		    "(http://HOST:9091/transmission/rpc)?",
		    pm_http_call_describe(call), status, reason);
		pm_transmission_end(self, PM_PORT_SETTER_FAILED, FALSE, NULL, message);
	} else {
		message = g_strdup_printf("%s: HTTP %u %s", pm_http_call_describe(call), status,
					  reason);
		pm_transmission_end(self, PM_PORT_SETTER_RETRY, FALSE, NULL, message);
	}
}

static void
pm_transmission_send(PmTransmission *self)
{
	const PmPortSetterConfig *config = pm_port_setter_get_config(&self->parent);
	g_autoptr(GError) error = NULL;
	g_autoptr(GBytes) body = NULL;
	PmHttpCall *call;

	call = pm_http_call_new(self->parent.parent.context, "POST", config->url, &error);
	if (call == NULL) {
		/* libsoup cannot be loaded: nothing to retry until the next push */
		pm_transmission_end(self, PM_PORT_SETTER_FAILED, FALSE, NULL, error->message);
		return;
	}
	/* Transmission echoes the tag: a reply to another request is not taken for this one */
	self->tag = self->tag == G_MAXINT32 ? 1 : self->tag + 1;
	if (self->op == OP_CHECK)
		body = pm_transmission_build_session_get(self->tag);
	else
		body = pm_transmission_build_session_set(self->port, self->tag);
	pm_http_call_set_body(call, "application/json", body);
	if (config->username != NULL || self->parent.password != NULL)
		pm_http_call_set_basic_auth(call, config->username != NULL ? config->username : "",
					    self->parent.password != NULL ? self->parent.password
									  : "");
	if (self->session_id != NULL)
		pm_http_call_add_header(call, PM_TRANSMISSION_SESSION_ID_HEADER, self->session_id);
	pm_http_call_set_timeout(call, (guint)(config->timeout_usec / 1000));
	pm_http_call_send(call, pm_transmission_done_cb, self);
}

static void
pm_transmission_start(PmTransmission *self, PmTransmissionOp op, const PmPortSetterTarget *target)
{
	self->op = op;
	self->port = target->listen_port;
	self->resent = FALSE;
	pm_transmission_send(self);
}

static void
pm_transmission_check(PmPortSetter *setter, const PmPortSetterTarget *target)
{
	pm_transmission_start((PmTransmission *)setter, OP_CHECK, target);
}

static void
pm_transmission_set(PmPortSetter *setter, const PmPortSetterTarget *target)
{
	pm_transmission_start((PmTransmission *)setter, OP_SET, target);
}

static const PmPortSetterOps pm_transmission_ops = {
    .check = pm_transmission_check,
    .set = pm_transmission_set,
};

static gboolean
pm_transmission_init(PmConsumer *consumer, GError **error)
{
	PmTransmission *self = (PmTransmission *)consumer;

	return pm_port_setter_init(&self->parent, &pm_transmission_ops, error);
}

static void
pm_transmission_finalize(PmConsumer *consumer)
{
	PmTransmission *self = (PmTransmission *)consumer;

	/* a request on the wire holds a reference (port-setter.c): none is */
	g_free(self->session_id);
	pm_port_setter_finalize(&self->parent);
}

static void
pm_transmission_describe(PmConsumer *consumer, PmJsonWriter *writer)
{
	PmTransmission *self = (PmTransmission *)consumer;

	pm_port_setter_describe(consumer, writer);
	pm_json_member_uint(writer, "RPCVersion", self->rpc_version);
}

/* configuration */

static const PmConfigKey pm_transmission_keys[] = {
    PM_PORT_SETTER_CONFIG_KEYS,
    {NULL},
};

static gboolean
pm_transmission_config_verify(PmConsumerConfig *consumer, PmConfigSection *section,
			      GError **error)
{
	return pm_port_setter_config_verify((PmPortSetterConfig *)consumer, section,
					    PM_TRANSMISSION_DEFAULT_URL, error);
}

const PmConsumerClass pm_transmission_consumer_class = {
    .type = "transmission",
    .config_size = sizeof(PmTransmissionConfig),
    .object_size = sizeof(PmTransmission),
    .single_mapping = TRUE,
    .config_keys = pm_transmission_keys,
    .config_verify = pm_transmission_config_verify,
    .config_equal = pm_port_setter_config_equal,
    .config_print = pm_port_setter_config_print,
    .config_free = pm_port_setter_config_free,
    .init = pm_transmission_init,
    .finalize = pm_transmission_finalize,
    .mapping_up = pm_port_setter_mapping_up,
    .mapping_changed = pm_port_setter_mapping_changed,
    .mapping_down = pm_port_setter_mapping_down,
    .describe = pm_transmission_describe,
};
