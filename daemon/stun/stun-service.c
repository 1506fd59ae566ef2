/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "stun-service.h"

#include <gio/gio.h>
#include <string.h>
#include <sys/socket.h>

#include "control-plane.h"
#include "errors.h"
#include "log.h"
#include "stun-discovery.h"
#include "stun-socket.h"
#include "wg-updater.h"

typedef struct {
	PmDiscoverEndpointFunc func;
	gpointer data;
} DiscoverWaiter;

typedef struct {
	PmProviderDoneFunc func;
	gpointer data;
} RefreshWaiter;

struct _PmStunService {
	PmManager *manager;
	PmScheduler *scheduler;
	PmStunConfig *config;
	guint extension_id;
	gboolean stopped;

	/* the Binding requests' sockets, kept across runs so the endpoint they probe stays */
	PmStunSocket *socket4, *socket6;
	char *why6; /* no IPv6 socket: why */
	/* LocalPort= could not be bound: why (the probes leave from an ephemeral port) */
	char *local_port_error;

	PmStunDiscovery *run;  /* running */
	PmStunDiscovery *last; /* the last that ended (Describe()) */
	PmTimer refresh_timer;
	GArray *waiters;	 /* of DiscoverWaiter: the running run's */
	GArray *refresh_waiters; /* of RefreshWaiter */
	/* each server's state at the end of the previous run: a change is logged */
	GArray *server_states;	 /* of PmStunServerState */

	/* what the bus shows */
	char *endpoint; /* "" before the first discovery */
	PmNatType nat_type;
	PmNatBehavior mapping, filtering;
	char *last_error;
	guint64 last_discovery; /* CLOCK_REALTIME µs */
	gboolean discovered;	/* a run has found an endpoint */

	/* issue 15: each discovery reported, the peers' endpoints it answers applied */
	PmContext *context;
	PmControlPlane *control_plane; /* NULL without [ControlPlane] */
	PmWgUpdater *wg;	       /* NULL without [WireGuard] */
	char *wg_interface;
	PmWgApplyResult wg_result;     /* of the last apply */
	char *wg_error;		       /* why the last apply failed as a whole, or NULL */
	guint64 wg_applied_at;	       /* CLOCK_REALTIME µs of its end, 0: none yet */
};

/* ---- the journal: the replaced module's keys, upper-cased ---- */

#define log_stun(level, fields, ...) pm_log((level), (fields), __VA_ARGS__)

/* ---- sockets ---- */

static void
socket_recv_cb(PmStunSocket *socket, const guint8 *data, gsize len, const struct sockaddr *from,
	       socklen_t from_len, gpointer user_data)
{
	PmStunService *self = user_data;

	/* between runs nothing is waited for: late answers and strays are dropped */
	if (self->run != NULL)
		pm_stun_discovery_receive(self->run, socket, data, len, from, from_len);
}

/* LocalPort= (or an ephemeral port) for @family; when LocalPort= cannot be bound, an
 * ephemeral port, and why in @why */
static PmStunSocket *
open_socket(PmStunService *self, int family, char **why, GError **error)
{
	g_autoptr(GError) local_error = NULL;
	PmStunSocket *socket;

	socket = pm_stun_socket_new(family, self->config->local_port, socket_recv_cb, self,
				    &local_error);
	if (socket != NULL || self->config->local_port == 0) {
		if (socket == NULL)
			g_propagate_error(error, g_steal_pointer(&local_error));
		return socket;
	}
	*why = g_strdup(local_error->message);
	return pm_stun_socket_new(family, 0, socket_recv_cb, self, error);
}

/* (re)opens what is missing, and retries LocalPort= while it could not be bound (a
 * WireGuard that held it may be gone) */
static void
open_sockets(PmStunService *self)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *why4 = NULL;
	g_autofree char *why6 = NULL;
	gboolean retry = self->local_port_error != NULL;
	PmStunSocket *socket;

	if (self->socket4 == NULL || retry) {
		socket = open_socket(self, AF_INET, &why4, &error);
		if (socket != NULL && (self->socket4 == NULL || why4 == NULL)) {
			g_clear_pointer(&self->socket4, pm_stun_socket_free);
			self->socket4 = socket;
		} else {
			g_clear_pointer(&socket, pm_stun_socket_free);
		}
		if (self->socket4 == NULL)
			g_warning("STUN: no IPv4 socket: %s", error->message);
		g_clear_error(&error);
	}
	if (self->socket6 == NULL || retry) {
		socket = open_socket(self, AF_INET6, &why6, &error);
		if (socket != NULL && (self->socket6 == NULL || why6 == NULL)) {
			g_clear_pointer(&self->socket6, pm_stun_socket_free);
			self->socket6 = socket;
			g_clear_pointer(&self->why6, g_free);
		} else {
			g_clear_pointer(&socket, pm_stun_socket_free);
		}
		if (self->socket6 == NULL && error != NULL) {
			g_free(self->why6);
			self->why6 = g_strdup(error->message);
		}
		g_clear_error(&error);
	}
	if (self->config->local_port == 0)
		return;
	/* the IPv4 socket's story is the one told: the endpoint is usually IPv4 */
	if (why4 != NULL) {
		if (self->local_port_error == NULL)
			g_warning("STUN: cannot probe from LocalPort=%u: %s; probing from port %u "
				  "instead: the endpoint found may not be the WireGuard port's",
				  self->config->local_port, why4,
				  pm_stun_socket_get_port(self->socket4));
		g_free(self->local_port_error);
		self->local_port_error = g_steal_pointer(&why4);
	} else if (self->socket4 != NULL && self->local_port_error != NULL) {
		g_info("STUN: probing from LocalPort=%u again", self->config->local_port);
		g_clear_pointer(&self->local_port_error, g_free);
	}
}

static void
close_sockets(PmStunService *self)
{
	g_clear_pointer(&self->socket4, pm_stun_socket_free);
	g_clear_pointer(&self->socket6, pm_stun_socket_free);
	g_clear_pointer(&self->why6, g_free);
	g_clear_pointer(&self->local_port_error, g_free);
}

/* ---- runs ---- */

static void start_run(PmStunService *self);

static void
notify(PmStunService *self, const char *name)
{
	const char *names[] = {name, NULL};
	pm_manager_extension_changed(self->manager, self->extension_id, names);
}

static void
run_endpoint_cb(PmStunDiscovery *run, const PmStunAddress *endpoint, guint server,
		gpointer user_data)
{
	PmStunService *self = user_data;
	g_autofree char *text = pm_stun_address_to_string(endpoint);
	g_autofree char *old = NULL;
	const char *server_text = pm_stun_discovery_get_server(run, server)->text;

	if (g_strcmp0(text, self->endpoint) == 0)
		return;
	old = g_steal_pointer(&self->endpoint);
	self->endpoint = g_strdup(text);
	if (old[0] != '\0') {
		const char *fields[] = {"OLD_ENDPOINT", old, "NEW_ENDPOINT", text, "STUN_SERVER",
					server_text, NULL};
		log_stun(G_LOG_LEVEL_INFO, fields, "public endpoint changed from %s to %s", old,
			 text);
	}
	notify(self, "PublicEndpoint");
	pm_manager_endpoint_changed(self->manager, text, pm_nat_type_to_string(self->nat_type));
}

/* answers every waiting caller (@error NULL: with the endpoint), taking them first: an
 * answer may start another run */
static void
answer_waiters(PmStunService *self, const GError *error)
{
	g_autoptr(GArray) waiters = self->waiters;
	g_autoptr(GArray) refresh_waiters = self->refresh_waiters;

	self->waiters = g_array_new(FALSE, FALSE, sizeof(DiscoverWaiter));
	self->refresh_waiters = g_array_new(FALSE, FALSE, sizeof(RefreshWaiter));
	for (guint i = 0; i < waiters->len; i++) {
		const DiscoverWaiter *w = &g_array_index(waiters, DiscoverWaiter, i);
		w->func(self->endpoint, pm_nat_type_to_string(self->nat_type), error, w->data);
	}
	for (guint i = 0; i < refresh_waiters->len; i++) {
		const RefreshWaiter *w = &g_array_index(refresh_waiters, RefreshWaiter, i);
		w->func(w->data);
	}
}

static void
log_servers(PmStunService *self, PmStunDiscovery *run)
{
	guint n = pm_stun_discovery_get_n_servers(run);

	if (self->server_states->len != n) {
		g_array_set_size(self->server_states, n);
		for (guint i = 0; i < n; i++)
			g_array_index(self->server_states, PmStunServerState, i) =
			    PM_STUN_SERVER_ANSWERED;
	}
	for (guint i = 0; i < n; i++) {
		const PmStunServerStatus *server = pm_stun_discovery_get_server(run, i);
		PmStunServerState *was = &g_array_index(self->server_states, PmStunServerState, i);
		gboolean bad = server->state == PM_STUN_SERVER_SILENT ||
			       server->state == PM_STUN_SERVER_FAILED;
		const char *fields[] = {"STUN_SERVER", server->text, NULL};

		/* once per change of heart, not every refresh */
		if (bad && *was == PM_STUN_SERVER_ANSWERED)
			log_stun(G_LOG_LEVEL_WARNING, fields, "STUN binding to %s failed: %s",
				 server->text,
				 server->last_error != NULL ? server->last_error : "no answer");
		else if (server->state == PM_STUN_SERVER_ANSWERED && *was != PM_STUN_SERVER_ANSWERED)
			log_stun(G_LOG_LEVEL_INFO, fields, "STUN server %s answers again",
				 server->text);
		if (server->state == PM_STUN_SERVER_ANSWERED || bad)
			*was = server->state;
	}
}

/* ---- the control plane and WireGuard (the replaced module's reportAndApply) ---- */

static const char *
wg_backend_to_string(PmWgBackend backend)
{
	switch (backend) {
	case PM_WG_BACKEND_USERSPACE:
		return "userspace";
	case PM_WG_BACKEND_KERNEL:
		return "kernel";
	case PM_WG_BACKEND_NONE:
	default:
		return "";
	}
}

static void
wg_applied_cb(const PmWgApplyResult *result, const GError *error, gpointer user_data)
{
	PmStunService *self = user_data;
	const char *fields[] = {"WIREGUARD_INTERFACE", NULL, NULL};

	/* the updater is being freed with the service */
	if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
		return;
	fields[1] = self->wg_interface;
	self->wg_applied_at = g_get_real_time();
	g_clear_pointer(&self->wg_error, g_free);
	if (result == NULL) {
		/* the replaced module: a failed update is a warning, and the loop goes on */
		log_stun(G_LOG_LEVEL_WARNING, fields, "WireGuard peer endpoints not applied: %s",
			 error->message);
		self->wg_error = g_strdup(error->message);
		return;
	}
	self->wg_result = *result;
	log_stun(result->applied > 0 || result->failed > 0 ? G_LOG_LEVEL_INFO : G_LOG_LEVEL_DEBUG,
		 fields,
		 "WireGuard %s: %u peer endpoint(s) applied, %u in place, %u skipped, %u failed",
		 self->wg_interface, result->applied, result->unchanged, result->skipped,
		 result->failed);
}

static void
reported_cb(const PmPeerEndpoints *peers, const GError *error, gpointer user_data)
{
	PmStunService *self = user_data;
	g_autofree PmWgPeerEndpoint *apply = NULL;

	if (error != NULL) {
		const char *fields[] = {"ENDPOINT", self->endpoint, NULL};
		log_stun(G_LOG_LEVEL_WARNING, fields, "endpoint report failed: %s", error->message);
		return;
	}
	for (guint i = 0; peers->rejected != NULL && peers->rejected[i] != NULL; i++)
		log_stun(G_LOG_LEVEL_WARNING, NULL, "control plane's answer: %s",
			 peers->rejected[i]);
	if (self->wg == NULL || peers->n_peers == 0)
		return;
	apply = g_new0(PmWgPeerEndpoint, peers->n_peers);
	for (guint i = 0; i < peers->n_peers; i++) {
		apply[i].peer_id = peers->peers[i].peer_id;
		apply[i].endpoint = peers->peers[i].endpoint;
	}
	/* the updater copies what it needs before this returns */
	pm_wg_updater_apply(self->wg, apply, peers->n_peers, wg_applied_cb, self);
}

/* after each discovery that found an endpoint: one report, one apply of its answer */
static void
report(PmStunService *self)
{
	if (self->control_plane == NULL || self->endpoint[0] == '\0' || self->stopped)
		return;
	pm_control_plane_report(self->control_plane, self->endpoint,
				pm_nat_type_to_string(self->nat_type), reported_cb, self);
}

static void
run_done_cb(PmStunDiscovery *run, gpointer user_data)
{
	PmStunService *self = user_data;
	const GError *error = pm_stun_discovery_get_error(run);
	const char *changed[5];
	guint n_changed = 0;

	g_clear_pointer(&self->last, pm_stun_discovery_free);
	self->last = g_steal_pointer(&self->run);
	self->last_discovery = g_get_real_time();
	log_servers(self, run);
	if (error != NULL) {
		const char *fields[] = {"ENDPOINT", self->endpoint, NULL};
		/* the previous endpoint and classification stay */
		if (self->endpoint[0] != '\0')
			log_stun(G_LOG_LEVEL_WARNING, fields,
				 "STUN refresh failed, keeping %s: %s", self->endpoint,
				 error->message);
		else
			log_stun(G_LOG_LEVEL_WARNING, NULL, "STUN discovery failed: %s",
				 error->message);
		g_free(self->last_error);
		self->last_error = g_strdup(error->message);
	} else {
		PmNatType nat_type = pm_stun_discovery_get_nat_type(run);
		PmNatBehavior mapping = pm_stun_discovery_get_mapping(run);
		PmNatBehavior filtering = pm_stun_discovery_get_filtering(run);
		const char *server =
		    pm_stun_discovery_get_server(run, pm_stun_discovery_get_endpoint_server(run))
			->text;
		const char *fields[] = {"ENDPOINT", self->endpoint, "NAT_TYPE",
					pm_nat_type_to_string(nat_type), "STUN_SERVER", server,
					NULL};
		gboolean news = !self->discovered || self->last_error != NULL ||
				nat_type != self->nat_type ||
				mapping != self->mapping || filtering != self->filtering;

		g_clear_pointer(&self->last_error, g_free);
		self->discovered = TRUE;
		if (nat_type != self->nat_type)
			changed[n_changed++] = "NATType";
		if (mapping != self->mapping)
			changed[n_changed++] = "MappingBehavior";
		if (filtering != self->filtering)
			changed[n_changed++] = "FilteringBehavior";
		changed[n_changed] = NULL;
		self->nat_type = nat_type;
		self->mapping = mapping;
		self->filtering = filtering;
		log_stun(news ? G_LOG_LEVEL_INFO : G_LOG_LEVEL_DEBUG, fields,
			 "public endpoint %s (NAT type %s; mapping %s, filtering %s) from %s in "
			 "%.1f ms",
			 self->endpoint, pm_nat_type_to_string(nat_type),
			 pm_nat_behavior_to_string(mapping), pm_nat_behavior_to_string(filtering),
			 server, pm_stun_discovery_get_duration_usec(run) / 1000.0);
		if (nat_type == PM_NAT_TYPE_UNKNOWN && news)
			log_stun(G_LOG_LEVEL_WARNING, fields,
				 "NAT classification incomplete: one observation only (a second "
				 "server, or one with RFC 5780's OTHER-ADDRESS, tells more)");
		if (n_changed > 0)
			pm_manager_extension_changed(self->manager, self->extension_id, changed);
		/* EndpointChanged carries the NAT type: a new one is news too */
		if (changed[0] != NULL && g_strcmp0(changed[0], "NATType") == 0)
			pm_manager_endpoint_changed(self->manager, self->endpoint,
						    pm_nat_type_to_string(nat_type));
		report(self);
	}
	if (!self->stopped)
		pm_scheduler_arm(self->scheduler, &self->refresh_timer,
				 pm_scheduler_now(self->scheduler) +
				     self->config->refresh_interval_usec);
	answer_waiters(self, error);
}

static const PmStunDiscoveryCallbacks run_callbacks = {
    .endpoint = run_endpoint_cb,
    .done = run_done_cb,
};

static void
start_run(PmStunService *self)
{
	if (self->run != NULL || self->stopped)
		return;
	pm_scheduler_disarm(self->scheduler, &self->refresh_timer);
	open_sockets(self);
	self->run = pm_stun_discovery_new(self->scheduler, self->config, &run_callbacks, self);
	pm_stun_discovery_set_socket(self->run, AF_INET, self->socket4, "cannot open one");
	pm_stun_discovery_set_socket(self->run, AF_INET6, self->socket6, self->why6);
	pm_stun_discovery_start(self->run);
}

static void
refresh_timer_cb(PmTimer *timer, gpointer user_data)
{
	start_run(user_data);
}

/* fails every waiting caller with @message */
static void
fail_waiters(PmStunService *self, const char *message)
{
	g_autoptr(GError) error = g_error_new_literal(PM_ERROR, PM_ERROR_FAILED, message);

	answer_waiters(self, error);
}

/* ---- the extension ---- */

static GVariant *
get_public_endpoint(gpointer user_data)
{
	PmStunService *self = user_data;
	return g_variant_new_string(self->endpoint);
}

static GVariant *
get_nat_type(gpointer user_data)
{
	PmStunService *self = user_data;
	return g_variant_new_string(pm_nat_type_to_string(self->nat_type));
}

static GVariant *
get_mapping_behavior(gpointer user_data)
{
	PmStunService *self = user_data;
	return g_variant_new_string(pm_nat_behavior_to_string(self->mapping));
}

static GVariant *
get_filtering_behavior(gpointer user_data)
{
	PmStunService *self = user_data;
	return g_variant_new_string(pm_nat_behavior_to_string(self->filtering));
}

static const PmManagerProperty stun_properties[] = {
    {"PublicEndpoint", "s", TRUE, get_public_endpoint},
    {"NATType", "s", TRUE, get_nat_type},
    {"MappingBehavior", "s", TRUE, get_mapping_behavior},
    {"FilteringBehavior", "s", TRUE, get_filtering_behavior},
    {NULL},
};

static const char *
server_state_to_string(PmStunServerState state)
{
	switch (state) {
	case PM_STUN_SERVER_ANSWERED:
		return "answered";
	case PM_STUN_SERVER_SILENT:
	case PM_STUN_SERVER_ASKED:
		return "silent";
	case PM_STUN_SERVER_FAILED:
		return "failed";
	case PM_STUN_SERVER_NOT_ASKED:
	default:
		return "not-asked";
	}
}

static void
describe_address_member(PmJsonWriter *w, const char *name, const PmStunAddress *address)
{
	g_autofree char *text = address->family != 0 ? pm_stun_address_to_string(address) : NULL;
	pm_json_member_string(w, name, text != NULL ? text : "");
}

static void
stun_describe(PmJsonWriter *w, gpointer user_data)
{
	PmStunService *self = user_data;
	PmStunDiscovery *run = self->last;

	pm_json_member_string(w, "PublicEndpoint", self->endpoint);
	pm_json_member_string(w, "NATType", pm_nat_type_to_string(self->nat_type));
	pm_json_member_string(w, "MappingBehavior", pm_nat_behavior_to_string(self->mapping));
	pm_json_member_string(w, "FilteringBehavior", pm_nat_behavior_to_string(self->filtering));
	pm_json_member(w, "STUN");
	pm_json_begin_object(w);
	pm_json_member(w, "Servers");
	pm_json_begin_array(w);
	for (guint i = 0; i < self->config->servers->len; i++) {
		const PmStunServerConfig *c = g_ptr_array_index(self->config->servers, i);
		const PmStunServerStatus *s =
		    run != NULL && i < pm_stun_discovery_get_n_servers(run)
			? pm_stun_discovery_get_server(run, i)
			: NULL;
		PmStunAddress none = {0};

		pm_json_begin_object(w);
		pm_json_member_string(w, "Server", c->text);
		describe_address_member(w, "Address", s != NULL ? &s->address : &none);
		pm_json_member_string(w, "State", server_state_to_string(
						      s != NULL ? s->state : PM_STUN_SERVER_NOT_ASKED));
		pm_json_member_uint(w, "RoundTripMicroseconds",
				    s != NULL && s->state == PM_STUN_SERVER_ANSWERED ? s->rtt_usec : 0);
		describe_address_member(w, "MappedAddress", s != NULL ? &s->mapped : &none);
		describe_address_member(w, "OtherAddress", s != NULL ? &s->other : &none);
		pm_json_member_string(w, "LastError",
				      s != NULL && s->last_error != NULL ? s->last_error : "");
		pm_json_end_object(w);
	}
	pm_json_end_array(w);
	pm_json_member_uint(w, "LocalPort", self->config->local_port);
	pm_json_member_uint(w, "BoundPort",
			    self->socket4 != NULL ? pm_stun_socket_get_port(self->socket4) : 0);
	pm_json_member_string(w, "LocalPortError",
			      self->local_port_error != NULL ? self->local_port_error : "");
	pm_json_member_bool(w, "Discovering", self->run != NULL);
	pm_json_member_uint(w, "WaitingCallers", self->waiters->len);
	pm_json_member_uint(w, "LastDiscovery", self->last_discovery);
	pm_json_member_string(w, "LastError", self->last_error != NULL ? self->last_error : "");
	pm_json_member_uint(w, "EndpointMicroseconds",
			    run != NULL ? pm_stun_discovery_get_endpoint_usec(run) : 0);
	pm_json_member_uint(w, "DurationMicroseconds",
			    run != NULL ? pm_stun_discovery_get_duration_usec(run) : 0);
	pm_json_member_uint(w, "FilterWaitMicroseconds",
			    run != NULL ? pm_stun_discovery_get_filter_wait_usec(run) : 0);
	pm_json_member_uint(w, "FilterVerdictMicroseconds",
			    run != NULL ? pm_stun_discovery_get_filter_verdict_usec(run) : 0);
	pm_json_member_uint(w, "RefreshInterval", self->config->refresh_interval_usec);
	pm_json_end_object(w);
	if (self->control_plane != NULL) {
		PmControlPlane *cp = self->control_plane;
		pm_json_member(w, "ControlPlane");
		pm_json_begin_object(w);
		pm_json_member_string(w, "URL", pm_control_plane_get_url(cp));
		pm_json_member_uint(w, "LastReport", pm_control_plane_get_last_report_time(cp));
		pm_json_member_uint(w, "LastSuccess", pm_control_plane_get_last_success_time(cp));
		pm_json_member_uint(w, "LastStatus", pm_control_plane_get_last_status(cp));
		pm_json_member_string(w, "LastError", pm_control_plane_get_last_error(cp) != NULL
							  ? pm_control_plane_get_last_error(cp)
							  : "");
		pm_json_member_uint(w, "Peers", pm_control_plane_get_n_peers(cp));
		pm_json_end_object(w);
	}
	if (self->wg != NULL) {
		pm_json_member(w, "WireGuard");
		pm_json_begin_object(w);
		pm_json_member_string(w, "Interface", self->wg_interface);
		pm_json_member_string(w, "Backend", wg_backend_to_string(self->wg_result.backend));
		pm_json_member_uint(w, "LastApply", self->wg_applied_at);
		pm_json_member_uint(w, "Applied", self->wg_result.applied);
		pm_json_member_uint(w, "Unchanged", self->wg_result.unchanged);
		pm_json_member_uint(w, "Skipped", self->wg_result.skipped);
		pm_json_member_uint(w, "Failed", self->wg_result.failed);
		pm_json_member_string(w, "LastError", self->wg_error != NULL ? self->wg_error : "");
		pm_json_end_object(w);
	}
}

static void
stun_discover_endpoint(PmDiscoverEndpointFunc done, gpointer done_data, gpointer user_data)
{
	PmStunService *self = user_data;
	DiscoverWaiter w = {done, done_data};

	if (self->stopped) {
		g_autoptr(GError) error =
		    g_error_new_literal(PM_ERROR, PM_ERROR_FAILED, "portmapd is stopping");
		done(self->endpoint, pm_nat_type_to_string(self->nat_type), error, done_data);
		return;
	}
	/* callers during a run share it */
	g_array_append_val(self->waiters, w);
	start_run(self);
}

static void
stun_refresh(PmProviderDoneFunc done, gpointer done_data, gpointer user_data)
{
	PmStunService *self = user_data;
	RefreshWaiter w = {done, done_data};

	g_array_append_val(self->refresh_waiters, w);
	if (self->stopped) {
		fail_waiters(self, "portmapd is stopping");
		return;
	}
	start_run(self);
}

static const PmManagerExtension stun_extension = {
    .name = "stun",
    .properties = stun_properties,
    .describe = stun_describe,
    .discover_endpoint = stun_discover_endpoint,
    .refresh = stun_refresh,
};

/* ---- life ---- */

PmStunService *
pm_stun_service_new(PmManager *manager, PmContext *context, PmStunConfig *config,
		    guint replace_id)
{
	PmStunService *self = g_new0(PmStunService, 1);

	self->manager = manager;
	self->context = context;
	self->scheduler = pm_context_get_scheduler(context);
	self->config = pm_stun_config_ref(config);
	self->endpoint = g_strdup("");
	self->waiters = g_array_new(FALSE, FALSE, sizeof(DiscoverWaiter));
	self->refresh_waiters = g_array_new(FALSE, FALSE, sizeof(RefreshWaiter));
	self->server_states = g_array_new(FALSE, TRUE, sizeof(PmStunServerState));
	pm_timer_init(&self->refresh_timer, refresh_timer_cb, self);
	if (replace_id != 0) {
		pm_manager_replace_extension(manager, replace_id, &stun_extension, self);
		self->extension_id = replace_id;
	} else {
		self->extension_id = pm_manager_add_extension(manager, &stun_extension, self);
	}
	return self;
}

guint
pm_stun_service_get_extension_id(PmStunService *self)
{
	return self->extension_id;
}

void
pm_stun_service_free(PmStunService *self)
{
	if (self == NULL)
		return;
	pm_stun_service_stop(self, "portmapd is stopping");
	g_clear_pointer(&self->control_plane, pm_control_plane_free);
	g_clear_pointer(&self->wg, pm_wg_updater_free);
	g_free(self->wg_interface);
	g_free(self->wg_error);
	g_array_unref(self->waiters);
	g_array_unref(self->refresh_waiters);
	g_array_unref(self->server_states);
	g_clear_pointer(&self->last, pm_stun_discovery_free);
	close_sockets(self);
	g_free(self->endpoint);
	g_free(self->last_error);
	pm_stun_config_unref(self->config);
	g_free(self);
}

void
pm_stun_service_start(PmStunService *self)
{
	start_run(self);
}

void
pm_stun_service_stop(PmStunService *self, const char *why)
{
	self->stopped = TRUE;
	pm_scheduler_disarm(self->scheduler, &self->refresh_timer);
	g_clear_pointer(&self->run, pm_stun_discovery_free);
	if (self->control_plane != NULL)
		pm_control_plane_cancel(self->control_plane);
	fail_waiters(self, why);
}

void
pm_stun_service_set_reporting(PmStunService *self, PmControlPlaneConfig *control_plane,
			      PmWireguardConfig *wireguard)
{
	if (control_plane == NULL)
		g_clear_pointer(&self->control_plane, pm_control_plane_free);
	else if (self->control_plane == NULL)
		self->control_plane = pm_control_plane_new(self->context, control_plane);
	else
		pm_control_plane_set_config(self->control_plane, control_plane);
	if (wireguard == NULL || g_strcmp0(wireguard->interface, self->wg_interface) != 0) {
		g_clear_pointer(&self->wg, pm_wg_updater_free);
		g_clear_pointer(&self->wg_interface, g_free);
		g_clear_pointer(&self->wg_error, g_free);
		memset(&self->wg_result, 0, sizeof(self->wg_result));
		self->wg_applied_at = 0;
	}
	if (wireguard != NULL && self->wg == NULL) {
		self->wg_interface = g_strdup(wireguard->interface);
		self->wg = pm_wg_updater_new(wireguard->interface);
	}
}

void
pm_stun_service_reload(PmStunService *self, PmStunConfig *config)
{
	gboolean port_changed;

	if (pm_stun_config_equal(self->config, config))
		return;
	port_changed = config->local_port != self->config->local_port;
	pm_stun_config_unref(self->config);
	self->config = pm_stun_config_ref(config);
	g_info("STUN: [STUN] changed: discovering again");
	/* the running run asked the old servers: a new one answers its callers */
	g_clear_pointer(&self->run, pm_stun_discovery_free);
	g_array_set_size(self->server_states, 0);
	if (port_changed)
		close_sockets(self);
	start_run(self);
}
