/* SPDX-License-Identifier: GPL-2.0-or-later */

#include <arpa/inet.h>
#include <gio/gio.h>
#include <string.h>
#include <unistd.h>

#include "build-info.h"
#include "default-route.h"
#include "errors.h"
#include "http-call.h"
#include "log.h"
#include "pia-provider.h"
#include "pia.h"
#include "secrets.h"

/* PIA's scripts and gluetun give the gateway 5 s */
#define GATEWAY_TIMEOUT_MSEC 5000
#define TOKEN_TIMEOUT_MSEC 10000
/* a candidate gateway that does not answer soon is not the one */
#define PROBE_TIMEOUT_MSEC 3000

typedef struct {
	PmProvider parent;
	GTlsDatabase *ca;       /* CAFile= */
	GTlsDatabase *token_ca; /* TokenCAFile=, NULL: the system's roots */
	PmMapping *mapping;     /* the one mapping it carries, NULL: none */
	PmHttpCall *call;       /* in flight */
	PmTimer timer;          /* the next bind, or the next try */
	PmTimer degraded_timer; /* the mapping's (pm_provider_set_mapping_state()) */
	GArray *waiters;        /* pm_provider_waiters_add(), while some wait for the run */
	char *token;            /* this run's, a secret */
	/* the signed port, kept in state.json: payload verbatim, secrets both */
	char *payload;
	char *signature;
	guint16 port;
	gint64 expires_at; /* CLOCK_REALTIME µs */
	char *stored_gateway;
	char *stored_hostname;
	/* where this run talks to */
	char *gateway;     /* "IP:PORT" */
	guint32 detected;  /* without Gateway=: the candidate that answered, 0: none yet */
	guint32 candidates[PM_PIA_MAX_GATEWAY_CANDIDATES];
	guint n_candidates;
	guint probe_index;
	GString *probe_errors; /* "IP: why; ..." of the candidates tried */
	guint backoff;
	gboolean running;
	gboolean retried; /* this run discarded the stored signature once */
	gboolean warned_unverified_name;
} PmPiaProvider;

static void fetch_token(PmPiaProvider *self);
static void run_start(PmPiaProvider *self);

static PmPiaProvider *
pia_provider(PmProvider *provider)
{
	return (PmPiaProvider *)provider;
}

static const PmPiaConfig *
provider_config(PmPiaProvider *self)
{
	return self->parent.config->data;
}

static const char *
pname(PmPiaProvider *self)
{
	return self->parent.name;
}

static void
notify_waiters(PmPiaProvider *self)
{
	pm_provider_waiters_notify(&self->waiters);
}

static void
add_waiter(PmPiaProvider *self, PmProviderDoneFunc done, gpointer user_data)
{
	pm_provider_waiters_add(&self->waiters, done, user_data);
}

static gint64
realtime_now(PmPiaProvider *self)
{
	PmScheduler *scheduler = self->parent.scheduler;
	return (gint64)pm_scheduler_to_realtime(scheduler, pm_scheduler_now(scheduler));
}

static void
clear_token(PmPiaProvider *self)
{
	g_clear_pointer(&self->token, pm_secret_free);
}

/* the stored signature is stale: forgotten here and in state.json */
static void
clear_stored(PmPiaProvider *self)
{
	if (self->payload == NULL)
		return;
	g_clear_pointer(&self->payload, pm_secret_free);
	g_clear_pointer(&self->signature, pm_secret_free);
	g_clear_pointer(&self->stored_gateway, g_free);
	g_clear_pointer(&self->stored_hostname, g_free);
	self->port = 0;
	self->expires_at = 0;
	pm_provider_state_changed(&self->parent);
}

static gboolean
has_lease(PmPiaProvider *self)
{
	return self->mapping != NULL &&
	       pm_mapping_get_expires(self->mapping) > pm_scheduler_now(self->parent.scheduler);
}

static void
set_state(PmPiaProvider *self, PmMappingState state)
{
	pm_provider_set_mapping_state(self->parent.scheduler, &self->degraded_timer, self->mapping,
				      state);
}

/* ---- ends of a run ---- */

/* the port on TCP and UDP, I := E, until the payload expires; a new port is a port
 * change, which the manager tells the consumers of */
static void
publish(PmPiaProvider *self)
{
	PmMapping *m = self->mapping;
	guint64 now = pm_scheduler_now(self->parent.scheduler);
	gint64 left = self->expires_at - realtime_now(self);
	guint16 old_external = pm_mapping_get_external_port(m);
	guint64 old_expires = pm_mapping_get_expires(m);
	guint32 old_lifetime = pm_mapping_get_lifetime(m);
	guint props = 0;

	left = MAX(left, (gint64)G_USEC_PER_SEC);
	for (guint p = 0; p < PM_PROTO_INDEX_COUNT; p++) {
		if (m->ports[p].external_port != self->port)
			props |= PM_MAPPING_PROP_PORTS;
		m->ports[p].internal_port = self->port;
		m->ports[p].external_port = self->port;
		m->ports[p].lifetime = (guint32)MIN(left / G_USEC_PER_SEC, (gint64)G_MAXUINT32);
		m->ports[p].expires = now + (guint64)left;
	}
	if (old_external != 0 && old_external != self->port)
		pm_log_mapping(G_LOG_LEVEL_MESSAGE, m->name, pname(self),
			       "mapping %s: PIA's port changed from %u to %u", m->name,
			       old_external, self->port);
	if (pm_mapping_get_external_port(m) != old_external)
		props |= PM_MAPPING_PROP_EXTERNAL_PORT;
	if (pm_mapping_get_lifetime(m) != old_lifetime)
		props |= PM_MAPPING_PROP_LIFETIME;
	if (pm_mapping_get_expires(m) != old_expires)
		props |= PM_MAPPING_PROP_EXPIRES_AT;
	m->suggested_external_port = self->port;
	if (props != 0)
		pm_mapping_changed(m, props);
}

static void
run_succeeded(PmPiaProvider *self)
{
	PmScheduler *scheduler = self->parent.scheduler;

	self->running = FALSE;
	self->backoff = 0;
	clear_token(self);
	publish(self);
	pm_mapping_set_last_error(self->mapping, NULL);
	set_state(self, PM_MAPPING_STATE_ACTIVE);
	pm_provider_set_state(&self->parent, PM_PROVIDER_STATE_READY, NULL);
	pm_log_mapping(G_LOG_LEVEL_DEBUG, self->mapping->name, pname(self),
		       "mapping %s bound: port %u", self->mapping->name, self->port);
	pm_scheduler_arm(scheduler, &self->timer,
			 pm_scheduler_now(scheduler) +
			     provider_config(self)->refresh_interval_usec);
	notify_waiters(self);
}

/* what asking again cannot fix (a certificate refused): nothing more until Refresh(),
 * RefreshAll, a resume or a Reload */
static void
run_blocked(PmPiaProvider *self, const GError *error)
{
	self->running = FALSE;
	clear_token(self);
	pm_scheduler_disarm(self->parent.scheduler, &self->timer);
	pm_log_provider(G_LOG_LEVEL_WARNING, pname(self), "provider %s: %s", pname(self),
			error->message);
	pm_provider_set_state(&self->parent, PM_PROVIDER_STATE_FAILED, error->message);
	if (self->mapping != NULL) {
		pm_mapping_set_error(self->mapping, error);
		set_state(self, PM_MAPPING_STATE_FAILED);
	}
	notify_waiters(self);
}

/* again with backoff and jitter, for ever; the port stays while its payload lasts */
static void
run_retry(PmPiaProvider *self, const GError *error)
{
	PmScheduler *scheduler = self->parent.scheduler;
	guint64 wait = PM_PIA_BACKOFF_FIRST_USEC << MIN(self->backoff, 8u);

	self->running = FALSE;
	clear_token(self);
	/* the tunnel may have moved: the next try looks for the gateway again */
	self->detected = 0;
	wait = MIN(wait, PM_PIA_BACKOFF_MAX_USEC);
	wait += pm_scheduler_random_range(scheduler, 0, (guint32)(wait / 4) + 1);
	self->backoff++;
	pm_log_provider(G_LOG_LEVEL_INFO, pname(self),
			"provider %s: %s; trying again in %" G_GUINT64_FORMAT " ms", pname(self),
			error->message, wait / 1000);
	pm_provider_set_state(&self->parent, PM_PROVIDER_STATE_DEGRADED, error->message);
	if (self->mapping != NULL) {
		pm_mapping_set_error(self->mapping, error);
		set_state(self, has_lease(self) ? PM_MAPPING_STATE_RENEWING
						: PM_MAPPING_STATE_RETRYING);
	}
	pm_scheduler_arm(scheduler, &self->timer, pm_scheduler_now(scheduler) + wait);
	notify_waiters(self);
}

/* a gateway call that failed: a refused certificate blocks, the rest is retried */
static void
gateway_failed(PmPiaProvider *self, PmHttpCall *call, const GError *error)
{
	const PmPiaConfig *config = provider_config(self);
	GTlsCertificateFlags faults = pm_http_call_get_tls_errors(call);
	g_autoptr(GError) e = NULL;

	if (faults == 0) {
		run_retry(self, error);
		return;
	}
	if (faults == G_TLS_CERTIFICATE_BAD_IDENTITY)
		e = g_error_new(PM_ERROR, PM_ERROR_REFUSED,
				"the certificate of PIA's gateway %s is not for Hostname=%s: set "
				"Hostname= to the server's name (its CN) (%s)",
				self->gateway, config->hostname, error->message);
	else
		e = g_error_new(PM_ERROR, PM_ERROR_REFUSED,
				"the certificate of PIA's gateway %s is not verified by CAFile=%s "
				"(TLS faults 0x%x): is %s PIA's gateway? (%s)",
				self->gateway, config->ca_file, faults, self->gateway,
				error->message);
	run_blocked(self, e);
}

/* without Hostname=, a certificate of PIA's CA for any name was accepted: say which */
static void
check_unverified_name(PmPiaProvider *self, PmHttpCall *call)
{
	const char *name = pm_http_call_get_unverified_name(call);

	if (name == NULL || self->warned_unverified_name)
		return;
	self->warned_unverified_name = TRUE;
	pm_log_provider(G_LOG_LEVEL_WARNING, pname(self),
			"provider %s: the gateway %s presented a certificate of PIA's CA for "
			"\"%s\", whose name was not checked: set Hostname= to the server's name",
			pname(self), self->gateway, name);
}

/* a gateway request with PIA's TLS rules: CAFile= only, the name of Hostname= */
static PmHttpCall *
gateway_call(PmPiaProvider *self, const char *path, const char *query, GError **error)
{
	const PmPiaConfig *config = provider_config(self);
	g_autofree char *url = g_strdup_printf("https://%s%s%s%s", self->gateway, path,
					       query != NULL ? "?" : "", query != NULL ? query : "");
	PmHttpCall *call = pm_http_call_new(self->parent.context, "GET", url, error);

	memset(url, 0, strlen(url));
	if (call == NULL)
		return NULL;
	pm_http_call_set_tls(call, self->ca, config->hostname,
			     PM_HTTP_TLS_FLAGS_ALLOW_BAD_IDENTITY);
	pm_http_call_set_timeout(call, GATEWAY_TIMEOUT_MSEC);
	return call;
}

/* ---- bindPort ---- */

static void
bind_cb(PmHttpCall *call, const GError *error, gpointer user_data)
{
	PmPiaProvider *self = user_data;
	const char *const secrets[] = {self->payload, self->signature, NULL};
	g_autofree char *message = NULL;
	g_autoptr(GError) e = NULL;
	PmPiaBindKind kind;
	GBytes *body;

	self->call = NULL;
	if (error != NULL) {
		gateway_failed(self, call, error);
		return;
	}
	check_unverified_name(self, call);
	body = pm_http_call_get_body(call);
	kind = pm_pia_parse_bind_reply(pm_http_call_get_status(call),
				       g_bytes_get_data(body, NULL), g_bytes_get_size(body),
				       secrets, &message);
	if (kind == PM_PIA_BIND_OK) {
		run_succeeded(self);
		return;
	}
	e = g_error_new(PM_ERROR, PM_ERROR_PORT_UNAVAILABLE, "%s answered HTTP %u (%s): %s",
			pm_http_call_describe(call), pm_http_call_get_status(call),
			pm_pia_bind_kind_to_string(kind), message);
	/* PIA's desktop app and thrnz: a stored signature refused is stale (another server,
	 * an expired token): one retry with a new one, then backoff */
	if ((kind == PM_PIA_BIND_PORT_BUSY || kind == PM_PIA_BIND_UNAUTHORIZED) &&
	    !self->retried) {
		self->retried = TRUE;
		pm_log_provider(G_LOG_LEVEL_MESSAGE, pname(self),
				"provider %s: %s; asking for a new signature", pname(self),
				e->message);
		clear_stored(self);
		clear_token(self);
		fetch_token(self);
		return;
	}
	run_retry(self, e);
}

static void
bind_port(PmPiaProvider *self)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *query = pm_pia_build_bind_query(self->payload, self->signature);

	self->call = gateway_call(self, "/bindPort", query, &error);
	memset(query, 0, strlen(query));
	if (self->call == NULL) {
		run_blocked(self, error);
		return;
	}
	pm_http_call_send(self->call, bind_cb, self);
}

/* ---- getSignature ---- */

static void
signature_cb(PmHttpCall *call, const GError *error, gpointer user_data)
{
	PmPiaProvider *self = user_data;
	const PmPiaConfig *config = provider_config(self);
	const char *const secrets[] = {self->token, NULL};
	g_autoptr(GError) local_error = NULL;
	g_autoptr(GError) e = NULL;
	g_autofree char *payload = NULL;
	g_autofree char *signature = NULL;
	PmPiaPayload decoded;
	GBytes *body;

	self->call = NULL;
	if (error != NULL) {
		gateway_failed(self, call, error);
		return;
	}
	check_unverified_name(self, call);
	body = pm_http_call_get_body(call);
	if (!pm_pia_parse_signature_reply(pm_http_call_get_status(call),
					  g_bytes_get_data(body, NULL), g_bytes_get_size(body),
					  secrets, &payload, &signature, &local_error) ||
	    !pm_pia_decode_payload(payload, &decoded, &local_error)) {
		if (payload != NULL)
			memset(payload, 0, strlen(payload));
		e = g_error_new(PM_ERROR, PM_ERROR_FAILED, "%s: %s",
				pm_http_call_describe(call), local_error->message);
		run_retry(self, e);
		return;
	}
	clear_token(self);
	g_clear_pointer(&self->payload, pm_secret_free);
	g_clear_pointer(&self->signature, pm_secret_free);
	self->payload = g_steal_pointer(&payload);
	self->signature = g_steal_pointer(&signature);
	self->port = decoded.port;
	self->expires_at = decoded.expires_at;
	g_free(self->stored_gateway);
	self->stored_gateway = g_strdup(self->gateway);
	g_free(self->stored_hostname);
	self->stored_hostname = g_strdup(config->hostname);
	pm_provider_state_changed(&self->parent);
	pm_log_provider(G_LOG_LEVEL_INFO, pname(self),
			"provider %s: PIA signed port %u, valid for %" G_GINT64_FORMAT " days",
			pname(self), self->port,
			(self->expires_at - realtime_now(self)) / G_TIME_SPAN_DAY);
	bind_port(self);
}

static void
get_signature(PmPiaProvider *self)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *query = pm_pia_build_signature_query(self->token);

	self->call = gateway_call(self, "/getSignature", query, &error);
	memset(query, 0, strlen(query));
	if (self->call == NULL) {
		run_blocked(self, error);
		return;
	}
	pm_http_call_send(self->call, signature_cb, self);
}

/* ---- the token ---- */

static void
token_cb(PmHttpCall *call, const GError *error, gpointer user_data)
{
	PmPiaProvider *self = user_data;
	g_autoptr(GError) local_error = NULL;
	g_autoptr(GError) e = NULL;
	GBytes *body;

	self->call = NULL;
	if (error != NULL) {
		if (pm_http_call_get_tls_errors(call) != 0) {
			e = g_error_new(PM_ERROR, PM_ERROR_REFUSED,
					"the token server's certificate was refused (TLS faults "
					"0x%x): check TokenURL= and TokenCAFile= (%s)",
					pm_http_call_get_tls_errors(call), error->message);
			run_blocked(self, e);
			return;
		}
		run_retry(self, error);
		return;
	}
	body = pm_http_call_get_body(call);
	self->token = pm_pia_parse_token_reply(pm_http_call_get_status(call),
					       g_bytes_get_data(body, NULL),
					       g_bytes_get_size(body), &local_error);
	if (self->token == NULL) {
		/* a wrong password is retried too: PIA's API may be what fails */
		e = g_error_new(PM_ERROR, PM_ERROR_REFUSED,
				"no token from %s: %s (check Username= and the password)",
				pm_http_call_describe(call), local_error->message);
		run_retry(self, e);
		return;
	}
	get_signature(self);
}

/* a token for getSignature: TokenCredential= as is, else POST TokenURL= */
static void
fetch_token(PmPiaProvider *self)
{
	const PmPiaConfig *config = provider_config(self);
	g_autoptr(GError) error = NULL;
	g_autoptr(GBytes) form = NULL;
	g_autofree char *password = NULL;
	char *text;

	if (config->token_credential != NULL) {
		self->token = pm_context_load_secret(self->parent.context, config->token_credential,
						     NULL, &error);
		if (self->token == NULL) {
			run_retry(self, error);
			return;
		}
		get_signature(self);
		return;
	}
	password = pm_context_load_secret(self->parent.context, config->password_credential,
					  config->password_file, &error);
	if (password == NULL) {
		run_retry(self, error);
		return;
	}
	self->call = pm_http_call_new(self->parent.context, "POST", config->token_url, &error);
	if (self->call == NULL) {
		memset(password, 0, strlen(password));
		run_blocked(self, error);
		return;
	}
	text = pm_pia_build_token_form(config->username, password);
	memset(password, 0, strlen(password));
	form = g_bytes_new_with_free_func(text, strlen(text), (GDestroyNotify)pm_secret_free, text);
	pm_http_call_set_body(self->call, "application/x-www-form-urlencoded", form);
	if (self->token_ca != NULL)
		pm_http_call_set_tls(self->call, self->token_ca, NULL, PM_HTTP_TLS_FLAGS_NONE);
	pm_http_call_set_timeout(self->call, TOKEN_TIMEOUT_MSEC);
	pm_http_call_send(self->call, token_cb, self);
}

/* ---- runs ---- */

static void
set_gateway(PmPiaProvider *self, guint32 address)
{
	char text[INET_ADDRSTRLEN];

	inet_ntop(AF_INET, &address, text, sizeof(text));
	g_free(self->gateway);
	self->gateway = g_strdup_printf("%s:%u", text, provider_config(self)->gateway_port);
	pm_provider_set_peer_address(&self->parent, address);
}

static gboolean
stored_usable(PmPiaProvider *self)
{
	return self->payload != NULL &&
	       self->expires_at - realtime_now(self) >= (gint64)PM_PIA_REUSE_MIN_USEC;
}

/* the gateway is known: bind the stored signature, or get a new one */
static void
run_continue(PmPiaProvider *self)
{
	if (stored_usable(self)) {
		bind_port(self);
		return;
	}
	if (self->payload != NULL)
		pm_log_provider(G_LOG_LEVEL_INFO, pname(self),
				"provider %s: the stored signature for port %u expires in less "
				"than 7 days: asking for a new one",
				pname(self), self->port);
	fetch_token(self);
}

static void probe_next(PmPiaProvider *self);

static void
probe_cb(PmHttpCall *call, const GError *error, gpointer user_data)
{
	PmPiaProvider *self = user_data;

	self->call = NULL;
	if (error == NULL) {
		self->detected = self->candidates[self->probe_index];
		pm_log_provider(G_LOG_LEVEL_INFO, pname(self),
				"provider %s: PIA's gateway is %s", pname(self), self->gateway);
		run_continue(self);
		return;
	}
	g_string_append_printf(self->probe_errors, "%s%s (%s)",
			       self->probe_errors->len > 0 ? ", " : "", self->gateway,
			       error->message);
	self->probe_index++;
	probe_next(self);
}

/* GET https://CANDIDATE:19999/ping, one after the other: the first that answers over
 * PIA's TLS is the gateway */
static void
probe_next(PmPiaProvider *self)
{
	g_autoptr(GError) error = NULL;

	if (self->probe_index == self->n_candidates) {
		error = g_error_new(PM_ERROR, PM_ERROR_GATEWAY_UNREACHABLE,
				    "no PIA gateway answered: tried %s; set Gateway=",
				    self->probe_errors->str);
		run_retry(self, error);
		return;
	}
	set_gateway(self, self->candidates[self->probe_index]);
	self->call = gateway_call(self, "/ping", NULL, &error);
	if (self->call == NULL) {
		run_blocked(self, error);
		return;
	}
	pm_http_call_set_timeout(self->call, PROBE_TIMEOUT_MSEC);
	pm_http_call_send(self->call, probe_cb, self);
}

/* Gateway=, the gateway found before, else the candidates from the default route's
 * gateway (pia-and-torrent-clients.md §1.5) */
static void
find_gateway(PmPiaProvider *self)
{
	const PmPiaConfig *config = provider_config(self);
	g_autoptr(GError) error = NULL;
	guint32 route_gateway = 0;

	if (config->gateway_address != 0 || self->detected != 0) {
		set_gateway(self, config->gateway_address != 0 ? config->gateway_address
							       : self->detected);
		run_continue(self);
		return;
	}
	if (!pm_default_route_find_gateway(getuid(), &route_gateway, &error)) {
		g_autoptr(GError) e = g_error_new(PM_ERROR, PM_ERROR_GATEWAY_UNREACHABLE,
						  "no gateway for PIA: %s; set Gateway=",
						  error->message);
		run_retry(self, e);
		return;
	}
	self->n_candidates = pm_pia_gateway_candidates(route_gateway, self->candidates);
	self->probe_index = 0;
	g_string_truncate(self->probe_errors, 0);
	probe_next(self);
}

static void
run_start(PmPiaProvider *self)
{
	if (self->running)
		return;
	pm_scheduler_disarm(self->parent.scheduler, &self->timer);
	if (self->mapping == NULL) {
		notify_waiters(self);
		return;
	}
	self->running = TRUE;
	self->retried = FALSE;
	if (self->mapping->state == PM_MAPPING_STATE_FAILED)
		set_state(self, has_lease(self) ? PM_MAPPING_STATE_RENEWING
						: PM_MAPPING_STATE_REQUESTING);
	find_gateway(self);
}

static void
timer_cb(PmTimer *timer, gpointer user_data)
{
	run_start(user_data);
}

/* ---- the class ---- */

static gboolean
pia_check_mapping(const PmProviderConfig *config, const PmMapping *mapping, GPtrArray *others,
		  const PmMapping **blocker, GError **error)
{
	if (others->len == 0)
		return TRUE;
	if (blocker != NULL)
		*blocker = g_ptr_array_index(others, 0);
	g_set_error(error, PM_ERROR, PM_ERROR_ALREADY_MAPPED,
		    "provider %s (Type=pia) forwards one port, which mapping %s has",
		    config->name, ((const PmMapping *)g_ptr_array_index(others, 0))->name);
	return FALSE;
}

static void
pia_start(PmProvider *provider, PmMapping *mapping)
{
	PmPiaProvider *self = pia_provider(provider);

	if (self->mapping != NULL) {
		g_autoptr(GError) error =
		    g_error_new(PM_ERROR, PM_ERROR_ALREADY_MAPPED,
				"provider %s (Type=pia) forwards one port, which mapping %s has",
				pname(self), self->mapping->name);
		pm_mapping_set_error(mapping, error);
		pm_mapping_set_state(mapping, PM_MAPPING_STATE_FAILED);
		return;
	}
	self->mapping = mapping;
	mapping->provider_data = self;
	pm_provider_degraded_timer_init(&self->degraded_timer, mapping);
	set_state(self, PM_MAPPING_STATE_REQUESTING);
	run_start(self);
}

/* PIA has no delete: the port lapses 15 min after the last bind */
static void
pia_stop(PmProvider *provider, PmMapping *mapping, gboolean release, PmProviderDoneFunc done,
	 gpointer user_data)
{
	PmPiaProvider *self = pia_provider(provider);

	if (self->mapping == mapping) {
		if (self->call != NULL)
			pm_http_call_cancel(g_steal_pointer(&self->call));
		self->running = FALSE;
		clear_token(self);
		pm_scheduler_disarm(provider->scheduler, &self->timer);
		pm_scheduler_disarm(provider->scheduler, &self->degraded_timer);
		mapping->provider_data = NULL;
		self->mapping = NULL;
		notify_waiters(self);
	}
	if (done != NULL)
		done(user_data);
}

static void
pia_refresh(PmProvider *provider, PmMapping *mapping, PmProviderDoneFunc done,
	    gpointer user_data)
{
	PmPiaProvider *self = pia_provider(provider);

	if (self->mapping == NULL || self->mapping != mapping) {
		done(user_data);
		return;
	}
	add_waiter(self, done, user_data);
	run_start(self);
}

static void
pia_refresh_all(PmProvider *provider, PmProviderDoneFunc done, gpointer user_data)
{
	PmPiaProvider *self = pia_provider(provider);

	if (self->mapping == NULL) {
		done(user_data);
		return;
	}
	add_waiter(self, done, user_data);
	run_start(self);
}

/* the bind may have lapsed during the sleep: at once */
static void
pia_resumed(PmProvider *provider)
{
	run_start(pia_provider(provider));
}

static char *
realtime_to_string(gint64 usec)
{
	g_autoptr(GDateTime) dt = g_date_time_new_from_unix_utc(usec / G_USEC_PER_SEC);
	return dt != NULL ? g_date_time_format_iso8601(dt) : g_strdup("");
}

static void
pia_describe(PmProvider *provider, PmJsonWriter *writer)
{
	PmPiaProvider *self = pia_provider(provider);
	const PmPiaConfig *config = provider_config(self);
	g_autofree char *refresh = pm_duration_to_string(config->refresh_interval_usec);
	g_autofree char *expires = realtime_to_string(self->expires_at);

	/* never the token, the password, the payload or the signature */
	pm_json_member_string(writer, "Gateway",
			      self->gateway != NULL ? self->gateway
						    : (config->gateway != NULL ? config->gateway
									       : ""));
	pm_json_member_string(writer, "Hostname", config->hostname != NULL ? config->hostname : "");
	pm_json_member_uint(writer, "Port", self->port);
	pm_json_member_string(writer, "PortExpiresAt", self->payload != NULL ? expires : "");
	pm_json_member_string(writer, "RefreshInterval", refresh);
}

static void
pia_state_save(PmProvider *provider, PmJsonWriter *writer)
{
	PmPiaProvider *self = pia_provider(provider);

	if (self->payload == NULL)
		return;
	/* state.json is 0600: the payload is kept verbatim (PIA checks its signature) */
	pm_json_member_string(writer, "Payload", self->payload);
	pm_json_member_string(writer, "Signature", self->signature);
	pm_json_member_uint(writer, "Port", self->port);
	pm_json_member_int(writer, "ExpiresAt", self->expires_at);
	pm_json_member_string(writer, "Gateway", self->stored_gateway != NULL ? self->stored_gateway : "");
	pm_json_member_string(writer, "Hostname",
			      self->stored_hostname != NULL ? self->stored_hostname : "");
}

static const char *
member_string(JsonObject *object, const char *member)
{
	JsonNode *node = json_object_get_member(object, member);
	if (node == NULL || !JSON_NODE_HOLDS_VALUE(node) ||
	    json_node_get_value_type(node) != G_TYPE_STRING)
		return NULL;
	return json_node_get_string(node);
}

/* a section that does not hold together is dropped: a new signature is asked */
static void
pia_state_load(PmProvider *provider, JsonObject *section)
{
	PmPiaProvider *self = pia_provider(provider);
	const char *payload = member_string(section, "Payload");
	const char *signature = member_string(section, "Signature");
	PmPiaPayload decoded;

	if (payload == NULL || signature == NULL || signature[0] == '\0' ||
	    !pm_pia_decode_payload(payload, &decoded, NULL)) {
		if (json_object_has_member(section, "Payload"))
			pm_log_provider(G_LOG_LEVEL_WARNING, pname(self),
					"provider %s: the stored PIA signature is not valid: "
					"asking for a new one",
					pname(self));
		return;
	}
	g_clear_pointer(&self->payload, pm_secret_free);
	g_clear_pointer(&self->signature, pm_secret_free);
	self->payload = g_strdup(payload);
	self->signature = g_strdup(signature);
	/* the payload says it: what it signs wins over the copies beside it */
	self->port = decoded.port;
	self->expires_at = decoded.expires_at;
	g_free(self->stored_gateway);
	self->stored_gateway = g_strdup(member_string(section, "Gateway"));
	g_free(self->stored_hostname);
	self->stored_hostname = g_strdup(member_string(section, "Hostname"));
}

static void
pia_finalize(PmProvider *provider)
{
	PmPiaProvider *self = pia_provider(provider);

	if (self->call != NULL)
		pm_http_call_cancel(g_steal_pointer(&self->call));
	pm_scheduler_disarm(provider->scheduler, &self->timer);
	pm_scheduler_disarm(provider->scheduler, &self->degraded_timer);
	if (self->mapping != NULL)
		self->mapping->provider_data = NULL;
	self->mapping = NULL;
	notify_waiters(self);
	clear_token(self);
	g_clear_pointer(&self->payload, pm_secret_free);
	g_clear_pointer(&self->signature, pm_secret_free);
	g_clear_pointer(&self->stored_gateway, g_free);
	g_clear_pointer(&self->stored_hostname, g_free);
	g_clear_pointer(&self->gateway, g_free);
	if (self->probe_errors != NULL)
		g_string_free(g_steal_pointer(&self->probe_errors), TRUE);
	g_clear_object(&self->ca);
	g_clear_object(&self->token_ca);
}

static GTlsDatabase *
load_database(const char *key, const char *path, GError **error)
{
	g_autoptr(GError) local_error = NULL;
	GTlsDatabase *database = g_tls_file_database_new(path, &local_error);

	if (database == NULL)
		g_set_error(error, PM_ERROR, PM_ERROR_INVALID_CONFIGURATION,
			    "cannot read %s=%s: %s", key, path, local_error->message);
	return database;
}

/* PayloadAndSignature*=: a signed port saved by manual-connections, bound as if it were
 * stored until state.json (read after this) has one of portmapd's own */
static gboolean
load_payload_and_signature(PmPiaProvider *self, GError **error)
{
	const PmPiaConfig *config = provider_config(self);
	g_autoptr(GError) local_error = NULL;
	g_autoptr(PmSecret) saved = NULL;
	g_autoptr(PmSecret) payload = NULL;
	g_autoptr(PmSecret) signature = NULL;
	PmPiaPayload decoded;

	saved = pm_context_load_secret(self->parent.context, config->payload_credential,
				       config->payload_file, error);
	if (saved == NULL)
		return FALSE;
	if (!pm_pia_parse_signature_reply(200, (const guint8 *)saved, strlen(saved), NULL,
					  &payload, &signature, &local_error) ||
	    !pm_pia_decode_payload(payload, &decoded, &local_error)) {
		g_set_error(error, PM_ERROR, PM_ERROR_INVALID_CONFIGURATION,
			    "provider %s: the saved payload and signature (PayloadAndSignature"
			    "Credential=/File=, manual-connections' PAYLOAD_AND_SIGNATURE) are not "
			    "a getSignature reply: %s",
			    pname(self), local_error->message);
		return FALSE;
	}
	self->payload = g_steal_pointer(&payload);
	self->signature = g_steal_pointer(&signature);
	self->port = decoded.port;
	self->expires_at = decoded.expires_at;
	return TRUE;
}

static gboolean
pia_init(PmProvider *provider, GError **error)
{
	PmPiaProvider *self = pia_provider(provider);
	const PmPiaConfig *config = provider_config(self);
	g_autoptr(GError) local_error = NULL;

	pm_timer_init(&self->timer, timer_cb, self);
	self->probe_errors = g_string_new(NULL);
	self->ca = load_database("CAFile", config->ca_file, &local_error);
	if (self->ca != NULL && config->token_ca_file != NULL)
		self->token_ca = load_database("TokenCAFile", config->token_ca_file, &local_error);
	if (local_error != NULL) {
		g_set_error(error, local_error->domain, local_error->code, "provider %s: %s",
			    provider->name, local_error->message);
		return FALSE;
	}
	if (config->gateway_address != 0)
		pm_provider_set_peer_address(provider, config->gateway_address);
	if ((config->payload_credential != NULL || config->payload_file != NULL) &&
	    !load_payload_and_signature(self, error))
		return FALSE;
	return TRUE;
}

/* ---- configuration: [Provider NAME] Type=pia ---- */

static void
pia_config_free(PmPiaConfig *config)
{
	g_free(config->gateway);
	g_free(config->hostname);
	g_free(config->ca_file);
	g_free(config->username);
	g_free(config->password_credential);
	g_free(config->password_file);
	g_free(config->token_credential);
	g_free(config->token_url);
	g_free(config->token_ca_file);
	g_free(config->payload_credential);
	g_free(config->payload_file);
	g_free(config);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(PmPiaConfig, pia_config_free)

#define GATEWAY_ACCEPTED "an IPv4 address, optionally with :PORT (default 19999), such as 10.13.128.1"

/* Gateway=IPv4[:PORT] */
static gboolean
parse_gateway(PmConfigSection *section, const PmConfigEntry *entry, gpointer field,
	      GError **error)
{
	PmPiaConfig *config = (PmPiaConfig *)((char *)field - G_STRUCT_OFFSET(PmPiaConfig, gateway));
	g_auto(GStrv) parts = g_strsplit(entry->value, ":", 2);
	guint32 address = 0;
	guint64 port = PM_PIA_API_PORT;

	if (inet_pton(AF_INET, parts[0], &address) != 1 || address == 0 ||
	    (parts[1] != NULL &&
	     (!g_ascii_string_to_unsigned(parts[1], 10, 1, G_MAXUINT16, &port, NULL)))) {
		pm_config_section_set_error(section, entry, "not an IPv4 gateway",
					    GATEWAY_ACCEPTED, error);
		return FALSE;
	}
	g_free(config->gateway);
	config->gateway = g_strdup(entry->value);
	config->gateway_address = address;
	config->gateway_port = (guint16)port;
	return TRUE;
}

static gboolean
parse_refresh_interval(PmConfigSection *section, const PmConfigEntry *entry, gpointer field,
		       GError **error)
{
	guint64 *usec = field;

	if (!pm_config_section_get_duration(section, entry, G_USEC_PER_SEC, usec, error))
		return FALSE;
	/* PIA drops a port not bound for 15 min */
	if (*usec > PM_PIA_MAX_REFRESH_USEC) {
		pm_config_section_set_error(section, entry,
					    "longer than 900 s: PIA deletes a port not bound "
					    "for 15 min",
					    "from 1s to 900s (15min)", error);
		return FALSE;
	}
	return TRUE;
}

static const PmConfigKey pia_config_keys[] = {
    {"RefreshInterval", parse_refresh_interval,
     G_STRUCT_OFFSET(PmPiaConfig, refresh_interval_usec)},
    {"Gateway", parse_gateway, G_STRUCT_OFFSET(PmPiaConfig, gateway)},
    {"Hostname", pm_config_parse_nonempty, G_STRUCT_OFFSET(PmPiaConfig, hostname)},
    {"CAFile", pm_config_parse_nonempty, G_STRUCT_OFFSET(PmPiaConfig, ca_file)},
    {"Username", pm_config_parse_nonempty, G_STRUCT_OFFSET(PmPiaConfig, username)},
    {"PasswordCredential", pm_config_parse_nonempty, G_STRUCT_OFFSET(PmPiaConfig, password_credential)},
    {"PasswordFile", pm_config_parse_nonempty, G_STRUCT_OFFSET(PmPiaConfig, password_file)},
    {"TokenCredential", pm_config_parse_nonempty, G_STRUCT_OFFSET(PmPiaConfig, token_credential)},
    {"TokenURL", pm_config_parse_nonempty, G_STRUCT_OFFSET(PmPiaConfig, token_url)},
    {"TokenCAFile", pm_config_parse_nonempty, G_STRUCT_OFFSET(PmPiaConfig, token_ca_file)},
    {"PayloadAndSignatureCredential", pm_config_parse_nonempty,
     G_STRUCT_OFFSET(PmPiaConfig, payload_credential)},
    {"PayloadAndSignatureFile", pm_config_parse_nonempty, G_STRUCT_OFFSET(PmPiaConfig, payload_file)},
    {NULL},
};

static gpointer
pia_config_parse(PmConfigSection *section, GError **error)
{
	g_autoptr(PmPiaConfig) config = g_new0(PmPiaConfig, 1);

	if (!pm_config_section_parse_keys(section, pia_config_keys, config, error))
		return NULL;
	return g_steal_pointer(&config);
}

static gboolean
pia_config_verify(gpointer data, PmConfigSection *section, GError **error)
{
	PmPiaConfig *config = data;
	gboolean has_password = config->password_credential != NULL || config->password_file != NULL;

	if (!pm_config_section_check_secret_keys(section, "PayloadAndSignature",
						 config->payload_credential, config->payload_file,
						 error) ||
	    !pm_config_section_check_secret_keys(section, "Password", config->password_credential,
						 config->password_file, error))
		return FALSE;
	if (config->token_credential == NULL) {
		if (config->username == NULL) {
			pm_config_section_set_missing_error(
			    section, "Username",
			    "set PIA's Username= with PasswordCredential= or PasswordFile=, or "
			    "TokenCredential=",
			    error);
			return FALSE;
		}
		if (!has_password) {
			pm_config_section_set_missing_error(
			    section, "PasswordCredential",
			    "set PasswordCredential= or PasswordFile= with Username=", error);
			return FALSE;
		}
	}
	if (config->token_url != NULL) {
		g_autoptr(GUri) uri = g_uri_parse(config->token_url, G_URI_FLAGS_ENCODED, NULL);
		if (uri == NULL || g_ascii_strcasecmp(g_uri_get_scheme(uri), "https") != 0 ||
		    g_uri_get_host(uri) == NULL || g_uri_get_userinfo(uri) != NULL) {
			pm_config_section_set_error(section,
						    pm_config_section_lookup(section, "TokenURL"),
						    "not an https:// URL with a host",
						    "an https:// URL without credentials, such as "
						    PM_PIA_DEFAULT_TOKEN_URL,
						    error);
			return FALSE;
		}
	} else {
		config->token_url = g_strdup(PM_PIA_DEFAULT_TOKEN_URL);
	}
	if (config->refresh_interval_usec == 0)
		config->refresh_interval_usec = PM_PIA_DEFAULT_REFRESH_USEC;
	if (config->ca_file == NULL)
		config->ca_file = g_strdup(PM_PIA_CA_FILE);
	if (config->gateway_port == 0)
		config->gateway_port = PM_PIA_API_PORT;
	return TRUE;
}

static gboolean
pia_config_equal(gconstpointer a, gconstpointer b)
{
	const PmPiaConfig *x = a;
	const PmPiaConfig *y = b;

	return x->refresh_interval_usec == y->refresh_interval_usec &&
	       g_strcmp0(x->gateway, y->gateway) == 0 && g_strcmp0(x->hostname, y->hostname) == 0 &&
	       g_strcmp0(x->ca_file, y->ca_file) == 0 && g_strcmp0(x->username, y->username) == 0 &&
	       g_strcmp0(x->password_credential, y->password_credential) == 0 &&
	       g_strcmp0(x->password_file, y->password_file) == 0 &&
	       g_strcmp0(x->token_credential, y->token_credential) == 0 &&
	       g_strcmp0(x->token_url, y->token_url) == 0 &&
	       g_strcmp0(x->token_ca_file, y->token_ca_file) == 0 &&
	       g_strcmp0(x->payload_credential, y->payload_credential) == 0 &&
	       g_strcmp0(x->payload_file, y->payload_file) == 0;
}

static void
print_optional(GString *out, const char *key, const char *value)
{
	if (value != NULL)
		pm_config_print_string(out, key, value);
}

static void
pia_config_print(gconstpointer data, GString *out)
{
	const PmPiaConfig *config = data;
	g_autofree char *refresh = pm_duration_to_string(config->refresh_interval_usec);

	g_string_append_printf(out, "RefreshInterval=%s\n", refresh);
	print_optional(out, "Gateway", config->gateway);
	print_optional(out, "Hostname", config->hostname);
	pm_config_print_string(out, "CAFile", config->ca_file);
	print_optional(out, "Username", config->username);
	/* where the secrets are, never the secrets */
	print_optional(out, "PasswordCredential", config->password_credential);
	print_optional(out, "PasswordFile", config->password_file);
	print_optional(out, "TokenCredential", config->token_credential);
	pm_config_print_string(out, "TokenURL", config->token_url);
	print_optional(out, "TokenCAFile", config->token_ca_file);
	print_optional(out, "PayloadAndSignatureCredential", config->payload_credential);
	print_optional(out, "PayloadAndSignatureFile", config->payload_file);
}

/* PIA forwards E to E on TCP and UDP: nothing of the port can be asked */
static gboolean
pia_config_check_mapping(const PmProviderConfig *provider, PmMappingConfig *mapping,
			 PmConfigSection *section, GError **error)
{
	static const char *const refused[] = {"InternalPort", "ExternalPort", "Lifetime", NULL};
	const PmConfigEntry *protocols = pm_config_section_lookup(section, "Protocols");

	for (guint i = 0; refused[i] != NULL; i++) {
		const PmConfigEntry *entry = pm_config_section_lookup(section, refused[i]);
		g_autofree char *what = NULL;
		if (entry == NULL)
			continue;
		what = g_strdup_printf("not supported by provider %s (Type=pia): PIA picks the "
				       "port, forwards it to the same port, and keeps it while it "
				       "is bound",
				       provider->name);
		pm_config_section_set_error(section, entry, what,
					    "none: a PIA mapping takes only Provider= and "
					    "Consumers=",
					    error);
		return FALSE;
	}
	if (protocols != NULL && mapping->protocols != (PM_PROTOCOL_TCP | PM_PROTOCOL_UDP)) {
		g_autofree char *what = g_strdup_printf(
		    "not supported by provider %s (Type=pia): PIA forwards TCP and UDP together",
		    provider->name);
		pm_config_section_set_error(section, protocols, what,
					    "tcp udp (the default), or no Protocols=", error);
		return FALSE;
	}
	mapping->protocols = PM_PROTOCOL_TCP | PM_PROTOCOL_UDP;
	mapping->internal_port = 0;
	return TRUE;
}

/* PIA gives one port per token */
static gboolean
pia_config_check_mappings(const PmProviderConfig *provider, GPtrArray *mappings,
			  GPtrArray *sections, GError **error)
{
	g_autofree char *what = NULL;
	g_autofree char *first = NULL;

	if (mappings->len <= 1)
		return TRUE;
	first = pm_config_section_locate(g_ptr_array_index(sections, 0), "Provider");
	what = g_strdup_printf("provider %s (Type=pia) forwards one port, which [%s] (%s) has",
			       provider->name,
			       pm_config_section_get_header(g_ptr_array_index(sections, 0)), first);
	pm_config_section_set_key_error(g_ptr_array_index(sections, 1), "Provider", "", what,
					"another provider for this mapping", error);
	return FALSE;
}

const PmProviderClass pm_pia_provider_class = {
    .type = "pia",
    .object_size = sizeof(PmPiaProvider),
    .config_parse = pia_config_parse,
    .config_verify = pia_config_verify,
    .config_equal = pia_config_equal,
    .config_print = pia_config_print,
    .config_free = (GDestroyNotify)pia_config_free,
    .config_check_mapping = pia_config_check_mapping,
    .config_check_mappings = pia_config_check_mappings,
    .init = pia_init,
    .finalize = pia_finalize,
    .check_mapping = pia_check_mapping,
    .start = pia_start,
    .stop = pia_stop,
    .refresh = pia_refresh,
    .refresh_all = pia_refresh_all,
    .resumed = pia_resumed,
    .describe = pia_describe,
    .state_save = pia_state_save,
    .state_load = pia_state_load,
};

const PmPiaConfig *
pm_pia_config(const PmProviderConfig *config)
{
	if (config == NULL || config->klass != &pm_pia_provider_class)
		return NULL;
	return config->data;
}
