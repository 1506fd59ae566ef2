/* SPDX-License-Identifier: GPL-2.0-or-later */

#include <arpa/inet.h>
#include <gio/gio.h>
#include <string.h>

#include "errors.h"
#include "http-call.h"
#include "log.h"
#include "natpmp-http-provider.h"
#include "natpmp-http.h"
#include "secrets.h"

/* the service waits 250 ms for its gateway and answers; a hung one must not hold a run */
#define CALL_TIMEOUT_MSEC 10000
/* after failures, /health is asked at most this often: many mappings failing together
 * ask once */
#define HEALTH_MIN_INTERVAL_USEC (5 * G_TIME_SPAN_SECOND)

typedef struct {
	PmProvider parent;
	char *forward_url;
	char *health_url;
	char *token; /* the bearer token, wiped; NULL: none */
	PmHttpCall *health_call;
	guint64 health_failure_asked_at; /* the last check after a failure, 0: none */
	GQueue data; /* every MapData, linked through MapData.link */
} PmNatpmpHttpProvider;

/* one per mapping */
typedef struct {
	PmNatpmpHttpProvider *provider;
	GList link; /* in provider->data */
	PmScheduler *scheduler;
	PmMapping *mapping;
	PmHttpCall *call;       /* in flight, NULL between requests */
	PmTimer timer;          /* the next refresh, or the next try after a failure */
	PmTimer degraded_timer; /* no lease for two minutes */
	PmMappingPort pending[PM_PROTO_INDEX_COUNT]; /* this run's grants */
	GArray *waiters; /* pm_provider_waiters_add(), only while some wait */
	guint64 run_granted_at;                      /* the first grant of this run */
	guint backoff;
	guint proto_index : 2; /* the protocol being asked for */
	guint running : 1;
	/* 401 or a request the service cannot read: nothing more until Refresh() */
	guint blocked : 1;
} MapData;

static void run_next(MapData *d);

static PmNatpmpHttpProvider *
natpmp_http_provider(PmProvider *provider)
{
	return (PmNatpmpHttpProvider *)provider;
}

static const PmNatpmpHttpConfig *
provider_config(PmNatpmpHttpProvider *self)
{
	return self->parent.config->data;
}

static guint32
requested_lifetime(MapData *d)
{
	if (d->mapping->lifetime != 0)
		return d->mapping->lifetime;
	return provider_config(d->provider)->lifetime;
}

/* RefreshInterval=, or sooner for a mapping whose own Lifetime= is shorter */
static guint64
refresh_interval(MapData *d)
{
	guint64 refresh = provider_config(d->provider)->refresh_interval_usec;
	guint64 lifetime = (guint64)requested_lifetime(d) * G_USEC_PER_SEC;
	return MIN(refresh, lifetime * 3 / 4);
}

static gboolean
has_proto(MapData *d, guint proto_index)
{
	guint bit = proto_index == PM_PROTO_INDEX_TCP ? PM_PROTOCOL_TCP : PM_PROTOCOL_UDP;
	return (d->mapping->protocols & bit) != 0;
}

static PmProtocols
proto_bit(guint proto_index)
{
	return proto_index == PM_PROTO_INDEX_TCP ? PM_PROTOCOL_TCP : PM_PROTOCOL_UDP;
}

/* the first protocol from @from on that the mapping has, or PM_PROTO_INDEX_COUNT */
static guint
next_proto(MapData *d, guint from)
{
	for (guint p = from; p < PM_PROTO_INDEX_COUNT; p++) {
		if (has_proto(d, p))
			return p;
	}
	return PM_PROTO_INDEX_COUNT;
}

static gboolean
has_lease(MapData *d)
{
	return pm_mapping_get_expires(d->mapping) > pm_scheduler_now(d->scheduler);
}

static void
notify_waiters(MapData *d)
{
	pm_provider_waiters_notify(&d->waiters);
}

static void
set_state(MapData *d, PmMappingState state)
{
	pm_provider_set_mapping_state(d->scheduler, &d->degraded_timer, d->mapping, state);
}

/* ---- the service's health: the provider's state ---- */

static void
health_cb(PmHttpCall *call, const GError *error, gpointer user_data)
{
	PmNatpmpHttpProvider *self = user_data;
	PmProvider *provider = &self->parent;
	g_autoptr(GError) local_error = NULL;
	GBytes *body;

	self->health_call = NULL;
	if (error != NULL) {
		pm_provider_set_state(provider, PM_PROVIDER_STATE_DEGRADED, error->message);
		return;
	}
	body = pm_http_call_get_body(call);
	if (!pm_natpmp_http_parse_health(pm_http_call_get_status(call),
					 g_bytes_get_data(body, NULL), g_bytes_get_size(body),
					 NULL, &local_error)) {
		g_autofree char *msg = g_strdup_printf("%s: %s", pm_http_call_describe(call),
						       local_error->message);
		pm_log_provider(G_LOG_LEVEL_INFO, provider->name, "provider %s: %s",
				provider->name, msg);
		pm_provider_set_state(provider, PM_PROVIDER_STATE_DEGRADED, msg);
		return;
	}
	pm_provider_set_state(provider, PM_PROVIDER_STATE_READY, NULL);
}

/* GET {URL}/health, unless one is on its way: at start, after a forward failed on the
 * service's side or on the way to it (@after_failure), and on RefreshAll; not on every
 * renewal: a grant says enough */
static void
check_health(PmNatpmpHttpProvider *self, gboolean after_failure)
{
	g_autoptr(GError) error = NULL;
	guint64 now = pm_scheduler_now(self->parent.scheduler);

	if (self->health_call != NULL)
		return;
	if (after_failure) {
		if (self->health_failure_asked_at != 0 &&
		    now < self->health_failure_asked_at + HEALTH_MIN_INTERVAL_USEC)
			return;
		self->health_failure_asked_at = now;
	}
	self->health_call =
	    pm_http_call_new(self->parent.context, "GET", self->health_url, &error);
	if (self->health_call == NULL) {
		pm_provider_set_state(&self->parent, PM_PROVIDER_STATE_FAILED, error->message);
		return;
	}
	pm_http_call_set_timeout(self->health_call, CALL_TIMEOUT_MSEC);
	pm_http_call_send(self->health_call, health_cb, self);
}

/* ---- one mapping's runs: POST /forward for each protocol, TCP first ---- */

/* this run's grants on the mapping, in one change; a new external port is a port change,
 * which the manager tells the consumers of */
static void
publish(MapData *d)
{
	PmMapping *m = d->mapping;
	guint props = 0;
	guint16 old_external = pm_mapping_get_external_port(m);
	guint32 old_lifetime = pm_mapping_get_lifetime(m);
	guint64 old_expires = pm_mapping_get_expires(m);

	for (guint p = 0; p < PM_PROTO_INDEX_COUNT; p++) {
		if (!has_proto(d, p) || d->pending[p].expires == 0)
			continue;
		if (m->ports[p].external_port != 0 &&
		    m->ports[p].external_port != d->pending[p].external_port)
			pm_log_mapping(G_LOG_LEVEL_MESSAGE, m->name, d->provider->parent.name,
				       "mapping %s: the service's %s port changed from %u to %u",
				       m->name, pm_protocol_to_string(proto_bit(p)),
				       m->ports[p].external_port, d->pending[p].external_port);
		if (m->ports[p].internal_port != d->pending[p].internal_port ||
		    m->ports[p].external_port != d->pending[p].external_port)
			props |= PM_MAPPING_PROP_PORTS;
		m->ports[p] = d->pending[p];
		d->pending[p].expires = 0;
	}
	if (pm_mapping_get_external_port(m) != old_external)
		props |= PM_MAPPING_PROP_EXTERNAL_PORT;
	if (pm_mapping_get_lifetime(m) != old_lifetime)
		props |= PM_MAPPING_PROP_LIFETIME;
	if (pm_mapping_get_expires(m) != old_expires)
		props |= PM_MAPPING_PROP_EXPIRES_AT;
	if (pm_mapping_get_external_port(m) != 0)
		m->suggested_external_port = pm_mapping_get_external_port(m);
	if (props != 0)
		pm_mapping_changed(m, props);
}

static void
run_succeeded(MapData *d)
{
	PmMapping *m = d->mapping;

	d->running = FALSE;
	d->backoff = 0;
	publish(d);
	pm_mapping_set_last_error(m, NULL);
	set_state(d, PM_MAPPING_STATE_ACTIVE);
	pm_log_mapping(G_LOG_LEVEL_DEBUG, m->name, d->provider->parent.name,
		       "mapping %s active: external port %u", m->name,
		       pm_mapping_get_external_port(m));
	/* never by the reply's "duration": it echoes what was asked (natpmp.md §2.5) */
	pm_scheduler_arm(d->scheduler, &d->timer, d->run_granted_at + refresh_interval(d));
	notify_waiters(d);
}

/* nothing more is asked until Refresh(), RefreshAll or a Reload: asking again would get
 * the same answer */
static void
run_blocked(MapData *d, const GError *error)
{
	d->running = FALSE;
	d->blocked = TRUE;
	publish(d);
	pm_scheduler_disarm(d->scheduler, &d->timer);
	pm_log_mapping(G_LOG_LEVEL_WARNING, d->mapping->name, d->provider->parent.name,
		       "mapping %s failed: %s", d->mapping->name, error->message);
	pm_mapping_set_error(d->mapping, error);
	set_state(d, PM_MAPPING_STATE_FAILED);
	notify_waiters(d);
}

/* the service or the way to it failed: try again with backoff, for ever, keeping the
 * ports while their lease lasts */
static void
run_retry(MapData *d, const GError *error)
{
	guint64 now = pm_scheduler_now(d->scheduler);
	guint64 wait = PM_NATPMP_HTTP_BACKOFF_FIRST_USEC << MIN(d->backoff, 8u);
	guint64 at;

	d->running = FALSE;
	publish(d);
	wait = MIN(wait, PM_NATPMP_HTTP_BACKOFF_MAX_USEC);
	wait += pm_scheduler_random_range(d->scheduler, 0, (guint32)(wait / 4) + 1);
	d->backoff++;
	at = now + wait;
	pm_log_mapping(G_LOG_LEVEL_INFO, d->mapping->name, d->provider->parent.name,
		       "mapping %s: %s; trying again in %" G_GUINT64_FORMAT " ms",
		       d->mapping->name, error->message, wait / 1000);
	pm_mapping_set_error(d->mapping, error);
	if (has_lease(d)) {
		/* one more try as the lease ends, where the mapping shows it has none */
		at = MIN(at, pm_mapping_get_expires(d->mapping));
		set_state(d, PM_MAPPING_STATE_RENEWING);
	} else {
		set_state(d, PM_MAPPING_STATE_RETRYING);
	}
	pm_scheduler_arm(d->scheduler, &d->timer, at);
	check_health(d->provider, TRUE);
	notify_waiters(d);
}

static void
forward_cb(PmHttpCall *call, const GError *error, gpointer user_data)
{
	MapData *d = user_data;
	PmNatpmpHttpProvider *self = d->provider;
	PmProvider *provider = &self->parent;
	PmProtocols asked = proto_bit(d->proto_index);
	g_auto(PmNatpmpHttpReply) reply = {0};
	g_autoptr(GError) e = NULL;
	GBytes *body;

	d->call = NULL;
	if (error != NULL) {
		run_retry(d, error);
		return;
	}
	body = pm_http_call_get_body(call);
	pm_natpmp_http_parse_forward_reply(pm_http_call_get_status(call),
					   g_bytes_get_data(body, NULL), g_bytes_get_size(body),
					   &reply);
	switch (reply.kind) {
	case PM_NATPMP_HTTP_REPLY_GRANTED:
		if (reply.protocol != asked || reply.internal_port != d->mapping->internal_port) {
			e = g_error_new(PM_ERROR, PM_ERROR_FAILED,
					"%s answered for %s port %u, not %s port %u as asked",
					pm_http_call_describe(call),
					pm_protocol_to_string(reply.protocol), reply.internal_port,
					pm_protocol_to_string(asked), d->mapping->internal_port);
			run_retry(d, e);
			return;
		}
		pm_provider_set_state(provider, PM_PROVIDER_STATE_READY, NULL);
		{
			PmMappingPort *port = &d->pending[d->proto_index];
			guint64 now = pm_scheduler_now(d->scheduler);
			port->internal_port = reply.internal_port;
			port->external_port = reply.external_port;
			port->lifetime = requested_lifetime(d);
			port->expires = now + (guint64)port->lifetime * G_USEC_PER_SEC;
			if (d->run_granted_at == 0)
				d->run_granted_at = now;
		}
		d->proto_index = next_proto(d, d->proto_index + 1);
		if (d->proto_index == PM_PROTO_INDEX_COUNT) {
			run_succeeded(d);
			return;
		}
		run_next(d);
		return;
	case PM_NATPMP_HTTP_REPLY_UNAUTHORIZED:
		e = g_error_new(PM_ERROR, PM_ERROR_REFUSED,
				"the token was refused: set TokenCredential= or TokenFile= (%s "
				"answered HTTP 401: %s)",
				pm_http_call_describe(call), reply.message);
		run_blocked(d, e);
		return;
	case PM_NATPMP_HTTP_REPLY_CLIENT_BUG:
		e = g_error_new(PM_ERROR, PM_ERROR_FAILED,
				"%s answered HTTP %u: %s: the service cannot read portmapd's "
				"request, a bug in portmapd; please report it",
				pm_http_call_describe(call), reply.status, reply.message);
		run_blocked(d, e);
		return;
	case PM_NATPMP_HTTP_REPLY_SERVICE_ERROR:
		e = g_error_new(PM_ERROR, PM_ERROR_GATEWAY_UNREACHABLE,
				"%s answered HTTP %u: %s", pm_http_call_describe(call),
				reply.status, reply.message);
		run_retry(d, e);
		return;
	case PM_NATPMP_HTTP_REPLY_UNEXPECTED:
		/* a proxy in the way, or another service at that URL: it may come back */
		e = g_error_new(PM_ERROR, PM_ERROR_FAILED,
				"%s answered HTTP %u, which the natpmp-http service does not "
				"send: %s",
				pm_http_call_describe(call), reply.status, reply.message);
		pm_log_mapping(G_LOG_LEVEL_WARNING, d->mapping->name, provider->name,
			       "mapping %s: %s", d->mapping->name, e->message);
		run_retry(d, e);
		return;
	}
	g_assert_not_reached();
}

/* POST {URL}/forward for d->proto_index; one after the other, so a mapping's requests
 * share one kept-alive connection */
static void
run_next(MapData *d)
{
	PmNatpmpHttpProvider *self = d->provider;
	g_autoptr(GError) error = NULL;
	g_autoptr(GBytes) body = NULL;

	d->call = pm_http_call_new(self->parent.context, "POST", self->forward_url, &error);
	if (d->call == NULL) {
		/* libsoup cannot be loaded: nothing to retry until it is installed */
		run_blocked(d, error);
		return;
	}
	body = pm_natpmp_http_build_forward_request(d->mapping->internal_port,
						    proto_bit(d->proto_index),
						    requested_lifetime(d));
	pm_http_call_set_body(d->call, "application/json", body);
	/* asking again is a renewal: TCP then UDP, and each refresh, share one connection */
	pm_http_call_set_idempotent(d->call);
	if (self->token != NULL)
		pm_http_call_set_bearer_token(d->call, self->token);
	pm_http_call_set_timeout(d->call, CALL_TIMEOUT_MSEC);
	pm_http_call_send(d->call, forward_cb, d);
}

static void
run_start(MapData *d)
{
	if (d->running)
		return;
	pm_scheduler_disarm(d->scheduler, &d->timer);
	d->running = TRUE;
	d->blocked = FALSE;
	d->run_granted_at = 0;
	memset(d->pending, 0, sizeof(d->pending));
	d->proto_index = next_proto(d, 0);
	if (d->mapping->state == PM_MAPPING_STATE_FAILED)
		set_state(d, has_lease(d) ? PM_MAPPING_STATE_RENEWING
					  : PM_MAPPING_STATE_REQUESTING);
	run_next(d);
}

static void
timer_cb(PmTimer *timer, gpointer user_data)
{
	MapData *d = user_data;
	run_start(d);
}

static MapData *
map_data_new(PmNatpmpHttpProvider *provider, PmMapping *mapping)
{
	MapData *d = g_new0(MapData, 1);
	d->provider = provider;
	d->scheduler = provider->parent.scheduler;
	d->mapping = mapping;
	pm_timer_init(&d->timer, timer_cb, d);
	pm_provider_degraded_timer_init(&d->degraded_timer, d->mapping);
	d->link.data = d;
	g_queue_push_tail_link(&provider->data, &d->link);
	return d;
}

/* cancels what is in flight (its callback never runs) and answers every waiter */
static void
map_data_free(MapData *d)
{
	if (d->call != NULL)
		pm_http_call_cancel(g_steal_pointer(&d->call));
	pm_scheduler_disarm(d->scheduler, &d->timer);
	pm_scheduler_disarm(d->scheduler, &d->degraded_timer);
	if (d->mapping->provider_data == d)
		d->mapping->provider_data = NULL;
	g_queue_unlink(&d->provider->data, &d->link);
	notify_waiters(d);
	g_free(d);
}

/* the service's host, when URL= names it by an IPv4 address; else 0 */
static guint32
url_host_ipv4(const char *url)
{
	g_autoptr(GUri) uri = g_uri_parse(url, G_URI_FLAGS_ENCODED, NULL);
	guint32 address = 0;

	if (uri == NULL || g_uri_get_host(uri) == NULL ||
	    inet_pton(AF_INET, g_uri_get_host(uri), &address) != 1)
		return 0;
	return address;
}

/* what the service cannot do fails the mapping for good (a bus mapping that must have its
 * external port, or one without an internal port) */
static gboolean
can_carry(MapData *d)
{
	g_autoptr(GError) error = NULL;
	const char *name = d->provider->parent.name;

	if (d->mapping->internal_port == 0)
		error = g_error_new(PM_ERROR, PM_ERROR_NOT_SUPPORTED,
				    "provider %s (Type=natpmp-http) needs an internal port", name);
	else if (d->mapping->require_external_port)
		error = g_error_new(PM_ERROR, PM_ERROR_NOT_SUPPORTED,
				    "provider %s (Type=natpmp-http) cannot ask for an external "
				    "port: the service takes none",
				    name);
	if (error == NULL)
		return TRUE;
	run_blocked(d, error);
	return FALSE;
}

static void
natpmp_http_start(PmProvider *provider, PmMapping *mapping)
{
	PmNatpmpHttpProvider *self = natpmp_http_provider(provider);
	MapData *d = map_data_new(self, mapping);
	guint32 host = url_host_ipv4(provider_config(self)->url);

	mapping->provider_data = d;
	/* the service maps ports to its own host: that is where the port arrives */
	if (mapping->internal_address != host) {
		mapping->internal_address = host;
		pm_mapping_changed(mapping, PM_MAPPING_PROP_INTERNAL_ADDRESS);
	}
	if (!can_carry(d))
		return;
	set_state(d, PM_MAPPING_STATE_REQUESTING);
	run_start(d);
}

/* no delete exists (the lease ends by itself): forget the mapping at once */
static void
natpmp_http_stop(PmProvider *provider, PmMapping *mapping, gboolean release,
		 PmProviderDoneFunc done, gpointer user_data)
{
	MapData *d = mapping->provider_data;

	if (d != NULL)
		map_data_free(d);
	if (done != NULL)
		done(user_data);
}

/* the token from TokenCredential=/TokenFile=, read again: an operator who fixed it after
 * a 401 says so with Refresh() or RefreshAll */
static gboolean
load_token(PmNatpmpHttpProvider *self, GError **error)
{
	const PmNatpmpHttpConfig *config = provider_config(self);
	char *token;

	if (config->token_credential == NULL && config->token_file == NULL)
		return TRUE;
	token = pm_context_load_secret(self->parent.context, config->token_credential,
				       config->token_file, error);
	if (token == NULL)
		return FALSE;
	g_clear_pointer(&self->token, pm_secret_free);
	self->token = token;
	return TRUE;
}

static void
natpmp_http_refresh(PmProvider *provider, PmMapping *mapping, PmProviderDoneFunc done,
		    gpointer user_data)
{
	PmNatpmpHttpProvider *self = natpmp_http_provider(provider);
	MapData *d = mapping->provider_data;

	if (d == NULL) {
		done(user_data);
		return;
	}
	if (!d->running && !can_carry(d)) {
		done(user_data);
		return;
	}
	if (d->blocked) {
		g_autoptr(GError) error = NULL;
		if (!load_token(self, &error)) {
			run_blocked(d, error);
			done(user_data);
			return;
		}
	}
	pm_provider_waiters_add(&d->waiters, done, user_data);
	run_start(d);
}

static void
natpmp_http_refresh_all(PmProvider *provider, PmProviderDoneFunc done, gpointer user_data)
{
	PmNatpmpHttpProvider *self = natpmp_http_provider(provider);
	g_autoptr(GError) error = NULL;

	if (!load_token(self, &error))
		pm_log_provider(G_LOG_LEVEL_WARNING, provider->name,
				"provider %s: keeping the token read before: %s", provider->name,
				error->message);
	check_health(self, FALSE);
	pm_provider_refresh_each(provider, done, user_data);
}

static void
natpmp_http_describe(PmProvider *provider, PmJsonWriter *writer)
{
	PmNatpmpHttpProvider *self = natpmp_http_provider(provider);
	const PmNatpmpHttpConfig *config = provider_config(self);
	g_autofree char *refresh = pm_duration_to_string(config->refresh_interval_usec);

	/* URL= has no credentials (config_parse refuses them); the token is never shown */
	pm_json_member_string(writer, "Gateway", config->url);
	pm_json_member_string(writer, "Authorization", self->token != NULL ? "bearer" : "none");
	pm_json_member_uint(writer, "Lifetime", config->lifetime);
	pm_json_member_string(writer, "RefreshInterval", refresh);
}

static void
natpmp_http_finalize(PmProvider *provider)
{
	PmNatpmpHttpProvider *self = natpmp_http_provider(provider);
	GList *link;

	if (self->health_call != NULL)
		pm_http_call_cancel(g_steal_pointer(&self->health_call));
	while ((link = self->data.head) != NULL)
		map_data_free(link->data);
	g_clear_pointer(&self->token, pm_secret_free);
	g_free(self->forward_url);
	g_free(self->health_url);
}

static gboolean
natpmp_http_init(PmProvider *provider, GError **error)
{
	PmNatpmpHttpProvider *self = natpmp_http_provider(provider);
	const PmNatpmpHttpConfig *config = provider_config(self);
	g_autoptr(GError) local_error = NULL;

	self->forward_url = g_strconcat(config->url, "/forward", NULL);
	self->health_url = g_strconcat(config->url, "/health", NULL);
	pm_provider_set_peer_address(provider, url_host_ipv4(config->url));
	if (!load_token(self, &local_error)) {
		g_set_error(error, local_error->domain, local_error->code, "provider %s: %s",
			    provider->name, local_error->message);
		return FALSE;
	}
	check_health(self, FALSE);
	return TRUE;
}

/* ---- configuration: [Provider NAME] Type=natpmp-http ---- */

static void
natpmp_http_config_free(PmNatpmpHttpConfig *config)
{
	g_free(config->url);
	g_free(config->token_credential);
	g_free(config->token_file);
	g_free(config);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(PmNatpmpHttpConfig, natpmp_http_config_free)

#define URL_ACCEPTED                                                                             \
	"the service's http:// or https:// base URL, such as http://127.0.0.1:8080, without "   \
	"credentials, query or fragment"

/* URL=: http(s)://host[:port][/path], trailing slashes dropped */
static gboolean
parse_url(PmConfigSection *section, const PmConfigEntry *entry, gpointer field, GError **error)
{
	char **url = field;
	g_autoptr(GUri) uri = NULL;
	g_autofree char *value = g_strdup(entry->value);
	const char *scheme;
	gsize len = strlen(value);

	while (len > 0 && value[len - 1] == '/')
		value[--len] = '\0';
	uri = g_uri_parse(value, G_URI_FLAGS_ENCODED, NULL);
	if (uri == NULL) {
		pm_config_section_set_error(section, entry, "not a URL", URL_ACCEPTED, error);
		return FALSE;
	}
	scheme = g_uri_get_scheme(uri);
	if ((g_ascii_strcasecmp(scheme, "http") != 0 && g_ascii_strcasecmp(scheme, "https") != 0) ||
	    g_uri_get_host(uri) == NULL || g_uri_get_host(uri)[0] == '\0') {
		pm_config_section_set_error(section, entry, "not an http:// or https:// URL with a host",
					    URL_ACCEPTED, error);
		return FALSE;
	}
	/* Describe() shows the URL: a secret belongs in TokenCredential=/TokenFile= */
	if (g_uri_get_userinfo(uri) != NULL) {
		pm_config_section_set_error(section, entry,
					    "credentials in the URL; set TokenCredential= or "
					    "TokenFile= instead",
					    URL_ACCEPTED, error);
		return FALSE;
	}
	if (g_uri_get_query(uri) != NULL || g_uri_get_fragment(uri) != NULL) {
		pm_config_section_set_error(section, entry,
					    "a base URL has no query or fragment: portmapd adds "
					    "/forward and /health to it",
					    URL_ACCEPTED, error);
		return FALSE;
	}
	g_free(*url);
	*url = g_steal_pointer(&value);
	return TRUE;
}

static gboolean
parse_refresh_interval(PmConfigSection *section, const PmConfigEntry *entry, gpointer field,
		       GError **error)
{
	return pm_config_section_get_duration(section, entry, G_USEC_PER_SEC, field, error);
}

static const PmConfigKey natpmp_http_config_keys[] = {
    {"URL", parse_url, G_STRUCT_OFFSET(PmNatpmpHttpConfig, url)},
    {"TokenCredential", pm_config_parse_string,
     G_STRUCT_OFFSET(PmNatpmpHttpConfig, token_credential)},
    {"TokenFile", pm_config_parse_string, G_STRUCT_OFFSET(PmNatpmpHttpConfig, token_file)},
    /* the "duration" asked, whole seconds */
    {"Lifetime", pm_config_parse_lifetime, G_STRUCT_OFFSET(PmNatpmpHttpConfig, lifetime)},
    {"RefreshInterval", parse_refresh_interval,
     G_STRUCT_OFFSET(PmNatpmpHttpConfig, refresh_interval_usec)},
    {NULL},
};

static gpointer
natpmp_http_config_parse(PmConfigSection *section, GError **error)
{
	g_autoptr(PmNatpmpHttpConfig) config = g_new0(PmNatpmpHttpConfig, 1);

	if (!pm_config_section_parse_keys(section, natpmp_http_config_keys, config, error))
		return NULL;
	return g_steal_pointer(&config);
}

static gboolean
natpmp_http_config_verify(gpointer data, PmConfigSection *section, GError **error)
{
	PmNatpmpHttpConfig *config = data;
	gboolean refresh_set = config->refresh_interval_usec != 0;

	if (config->url == NULL) {
		pm_config_section_set_missing_error(section, "URL",
						    "set the natpmp-http service's base URL, such "
						    "as http://127.0.0.1:8080",
						    error);
		return FALSE;
	}
	if (!pm_config_section_check_secret_keys(section, "Token", config->token_credential,
						 config->token_file, error))
		return FALSE;
	if (config->lifetime == 0)
		config->lifetime = PM_NATPMP_HTTP_DEFAULT_LIFETIME;
	if (!refresh_set)
		config->refresh_interval_usec = PM_NATPMP_HTTP_DEFAULT_REFRESH_USEC;
	/* a refresh at or after the end of the lease lets the port lapse every time */
	if (config->refresh_interval_usec >= (guint64)config->lifetime * G_USEC_PER_SEC) {
		g_autofree char *what = g_strdup_printf(
		    "not shorter than Lifetime=%u: the port would lapse before each refresh",
		    config->lifetime);
		g_autofree char *accepted =
		    g_strdup_printf("from 1s to less than %us (Lifetime=)", config->lifetime);
		pm_config_section_set_key_error(section, "RefreshInterval", "45s (the default)",
						what, accepted, error);
		return FALSE;
	}
	return TRUE;
}

static gboolean
natpmp_http_config_equal(gconstpointer a, gconstpointer b)
{
	const PmNatpmpHttpConfig *x = a;
	const PmNatpmpHttpConfig *y = b;

	return g_strcmp0(x->url, y->url) == 0 &&
	       g_strcmp0(x->token_credential, y->token_credential) == 0 &&
	       g_strcmp0(x->token_file, y->token_file) == 0 && x->lifetime == y->lifetime &&
	       x->refresh_interval_usec == y->refresh_interval_usec;
}

static void
natpmp_http_config_print(gconstpointer data, GString *out)
{
	const PmNatpmpHttpConfig *config = data;
	g_autofree char *refresh = pm_duration_to_string(config->refresh_interval_usec);

	pm_config_print_string(out, "URL", config->url);
	/* where the token is, never the token */
	if (config->token_credential != NULL)
		pm_config_print_string(out, "TokenCredential", config->token_credential);
	if (config->token_file != NULL)
		pm_config_print_string(out, "TokenFile", config->token_file);
	g_string_append_printf(out, "Lifetime=%u\n", config->lifetime);
	g_string_append_printf(out, "RefreshInterval=%s\n", refresh);
}

/* the service maps the internal port it is given, and takes no suggestion */
static gboolean
natpmp_http_config_check_mapping(const PmProviderConfig *provider, PmMappingConfig *mapping,
				 PmConfigSection *section, GError **error)
{
	const PmConfigEntry *external = pm_config_section_lookup(section, "ExternalPort");

	if (external != NULL) {
		g_autofree char *what = g_strdup_printf(
		    "not supported by provider %s (Type=natpmp-http): the service cannot be "
		    "asked for an external port",
		    provider->name);
		pm_config_section_set_error(section, external, what,
					    "none: remove ExternalPort=", error);
		return FALSE;
	}
	if (pm_config_section_lookup(section, "InternalPort") == NULL) {
		g_autofree char *what = g_strdup_printf(
		    "set the port the application listens on (provider %s is Type=natpmp-http)",
		    provider->name);
		pm_config_section_set_missing_error(section, "InternalPort", what, error);
		return FALSE;
	}
	return TRUE;
}

const PmProviderClass pm_natpmp_http_provider_class = {
    .type = "natpmp-http",
    .object_size = sizeof(PmNatpmpHttpProvider),
    .config_parse = natpmp_http_config_parse,
    .config_verify = natpmp_http_config_verify,
    .config_equal = natpmp_http_config_equal,
    .config_print = natpmp_http_config_print,
    .config_free = (GDestroyNotify)natpmp_http_config_free,
    .config_check_mapping = natpmp_http_config_check_mapping,
    .init = natpmp_http_init,
    .finalize = natpmp_http_finalize,
    .start = natpmp_http_start,
    .stop = natpmp_http_stop,
    .refresh = natpmp_http_refresh,
    .refresh_all = natpmp_http_refresh_all,
    .describe = natpmp_http_describe,
};

const PmNatpmpHttpConfig *
pm_natpmp_http_config(const PmProviderConfig *config)
{
	if (config == NULL || config->klass != &pm_natpmp_http_provider_class)
		return NULL;
	return config->data;
}

PmProviderConfig *
pm_natpmp_http_config_new(const char *name, PmNatpmpHttpConfig *natpmp_http)
{
	return pm_provider_config_new(name, &pm_natpmp_http_provider_class, natpmp_http);
}
