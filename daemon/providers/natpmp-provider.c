/* SPDX-License-Identifier: GPL-2.0-or-later */

#include <arpa/inet.h>
#include <gio/gio.h>
#include <string.h>

#include "errors.h"
#include "log.h"
#include "natpmp-provider.h"
#include "natpmp-socket.h"

/* a Refresh() caller is answered at the latest this long after the run it waits for
 * started (the time of 5 unanswered sends): the mapping then shows renewing or retrying,
 * and the run goes on */
#define REFRESH_REPLY_AFTER_USEC (7750 * G_TIME_SPAN_MILLISECOND)
#define DELETE_MAX_SENDS 2
#define DELETE_TIMEOUT_USEC (5 * G_TIME_SPAN_SECOND)
#define BACKOFF_FIRST_USEC (1 * G_TIME_SPAN_SECOND)
/* below this a coarser renewal timer saves nothing worth its delay */
#define RENEWAL_GRANULE_MIN_USEC (G_USEC_PER_SEC / 64)
#define BACKOFF_MAX_USEC (64 * G_TIME_SPAN_SECOND)
#define DEFAULT_PORT PM_NATPMP_SERVER_PORT

/* why one mapping per protocol, for messages */
#define SAME_PORT_WHY                                                                            \
	"has SamePort=yes: every mapping asks the gateway for internal port 0, so only one "    \
	"mapping per protocol can use it"

typedef struct {
	PmProvider parent;
	guint32 gateway;
	PmNatpmpClient *client;
	guint listener_id;
	GError *client_error; /* why there is no client (no default route, socket) */
	GQueue data;          /* every MapData (linked through MapData.link), stopping ones too */
} PmNatpmpProvider;

typedef enum {
	RUN_NONE,
	RUN_ACQUIRE,
	RUN_RENEW,
} RunKind;

typedef enum {
	STEP_MAP_FIRST,      /* TCP, or the only protocol, suggesting P */
	STEP_MAP_UDP,        /* UDP suggesting TCP's port */
	STEP_DELETE_UDP,     /* UDP differed: delete it ... */
	STEP_MAP_UDP_AGAIN,  /* ... and ask once more */
	STEP_DELETE_TCP,     /* still differs: delete TCP ... */
	STEP_MAP_TCP_AGAIN,  /* ... and ask for TCP suggesting UDP's port */
	STEP_REMAP_DELETE,   /* E != I on a mapping with consumers: delete at I, then I := E */
	STEP_REQUIRE_DELETE, /* require-external-port not met: delete what was granted */
	STEP_RENEW,          /* renew proto_index with its current E */
} Step;

/* one per mapping: the small fields are packed, there may be 10 000 of these */
typedef struct {
	PmNatpmpProvider *provider;
	GList link; /* in provider->data */
	/* its own: a reload may free the provider while deletions are still answered */
	PmScheduler *scheduler;
	PmMapping *mapping;
	PmNatpmpCall *call;
	PmTimer timer;          /* between runs: renewal or backoff; in a run: waiters' deadline */
	PmTimer degraded_timer; /* no lease for two minutes */
	PmMappingPort pending[PM_PROTO_INDEX_COUNT]; /* this run's grants */
	GArray *waiters;                              /* of Waiter */
	guint64 run_started;
	/* stop */
	PmProviderDoneFunc stop_done;
	gpointer stop_data;
	guint64 stop_give_up_at;

	guint backoff;
	guint16 suggest;
	guint16 stop_port; /* what to delete: a reload may change the mapping meanwhile */
	guint stop_protocols : 2;
	RunKind run : 8;
	Step step : 8;
	guint proto_index : 2; /* PmProtoIndex */
	guint remapped : 1;
	guint stopping : 1;
} MapData;

typedef struct {
	PmProviderDoneFunc func;
	gpointer user_data;
	guint64 deadline;
} Waiter;

static void run_step(MapData *d);
static void run_step_done(MapData *d);
static void run_acquire(MapData *d, guint16 suggest);

static gboolean
is_delete_step(Step step)
{
	return step == STEP_DELETE_UDP || step == STEP_DELETE_TCP || step == STEP_REMAP_DELETE ||
	       step == STEP_REQUIRE_DELETE;
}

static PmNatpmpProvider *
natpmp_provider(PmProvider *provider)
{
	return (PmNatpmpProvider *)provider;
}

static const PmNatpmpConfig *
natpmp_provider_config(PmNatpmpProvider *self)
{
	return self->parent.config->data;
}

static guint32
requested_lifetime(MapData *d)
{
	if (d->mapping->lifetime != 0)
		return d->mapping->lifetime;
	if (natpmp_provider_config(d->provider)->lifetime != 0)
		return natpmp_provider_config(d->provider)->lifetime;
	return PM_NATPMP_DEFAULT_LIFETIME;
}

static gboolean
same_port(MapData *d)
{
	return natpmp_provider_config(d->provider)->same_port;
}

static guint8
proto_opcode(guint proto_index)
{
	return proto_index == PM_PROTO_INDEX_TCP ? PM_NATPMP_OP_MAP_TCP : PM_NATPMP_OP_MAP_UDP;
}

static const char *
proto_name(guint proto_index)
{
	return proto_index == PM_PROTO_INDEX_TCP ? "tcp" : "udp";
}

static gboolean
has_proto(MapData *d, guint proto_index)
{
	guint bit = proto_index == PM_PROTO_INDEX_TCP ? PM_PROTOCOL_TCP : PM_PROTOCOL_UDP;
	return (d->mapping->protocols & bit) != 0;
}

static guint
first_proto(MapData *d)
{
	return has_proto(d, PM_PROTO_INDEX_TCP) ? PM_PROTO_INDEX_TCP : PM_PROTO_INDEX_UDP;
}

static gboolean
has_lease(MapData *d)
{
	return pm_mapping_get_expires(d->mapping) > pm_scheduler_now(d->scheduler);
}

static void
notify_waiters(MapData *d)
{
	/* allocated only while someone waits: 10 000 idle mappings carry none */
	g_autoptr(GArray) waiters = g_steal_pointer(&d->waiters);
	if (waiters == NULL)
		return;
	for (guint i = 0; i < waiters->len; i++) {
		Waiter *w = &g_array_index(waiters, Waiter, i);
		w->func(w->user_data);
	}
}

/* answer the waiters whose deadline has come; keep the timer for the others */
static void
notify_due_waiters(MapData *d)
{
	guint64 now = pm_scheduler_now(d->scheduler);
	g_autoptr(GArray) due = g_array_new(FALSE, FALSE, sizeof(Waiter));
	guint64 next = G_MAXUINT64;

	for (guint i = 0; d->waiters != NULL && i < d->waiters->len;) {
		Waiter *w = &g_array_index(d->waiters, Waiter, i);
		if (w->deadline <= now) {
			g_array_append_val(due, *w);
			g_array_remove_index(d->waiters, i);
			continue;
		}
		next = MIN(next, w->deadline);
		i++;
	}
	if (d->waiters != NULL && d->waiters->len == 0)
		g_clear_pointer(&d->waiters, g_array_unref);
	if (next != G_MAXUINT64)
		pm_scheduler_arm(d->scheduler, &d->timer, next);
	for (guint i = 0; i < due->len; i++) {
		Waiter *w = &g_array_index(due, Waiter, i);
		w->func(w->user_data);
	}
}

/* in a run, the timer keeps the waiters' deadline */
static void
arm_waiters(MapData *d)
{
	guint64 next = G_MAXUINT64;
	if (d->waiters == NULL || d->run == RUN_NONE)
		return;
	for (guint i = 0; i < d->waiters->len; i++)
		next = MIN(next, g_array_index(d->waiters, Waiter, i).deadline);
	pm_scheduler_arm(d->scheduler, &d->timer, next);
}

static void
set_state(MapData *d, PmMappingState state)
{
	pm_provider_set_mapping_state(d->scheduler, &d->degraded_timer, d->mapping, state);
}

static void issue(MapData *d, const PmNatpmpCallOptions *options);

/*
 * Lease timers may be coarse (design §3 "Clocks"): a renewal is put off to the next multiple
 * of a granule on the clock, so the renewals of many mappings share one wake-up and one
 * timerfd change. The granule is a whole second, or for short leases the largest power-of-two
 * fraction of it within an eighth of the time left to the lease's end, so the delay never
 * eats much of the retransmission time before it.
 */
static guint64
coalesce_renewal(guint64 renew_at, guint64 expires)
{
	guint64 slack = expires > renew_at ? expires - renew_at : 0;
	guint64 granule = G_USEC_PER_SEC;

	while (granule > slack / 8 && granule > RENEWAL_GRANULE_MIN_USEC)
		granule /= 2;
	if (granule > slack / 8)
		return renew_at;
	return (renew_at + granule - 1) / granule * granule;
}

static void
schedule_renewal(MapData *d)
{
	PmScheduler *scheduler = d->scheduler;
	guint64 refresh = natpmp_provider_config(d->provider)->refresh_interval_usec;
	guint64 renew_at = G_MAXUINT64;

	for (guint p = 0; p < PM_PROTO_INDEX_COUNT; p++) {
		PmMappingPort *port = &d->mapping->ports[p];
		guint64 lifetime_usec, granted_at, after;
		if (!has_proto(d, p) || port->expires == 0)
			continue;
		lifetime_usec = (guint64)port->lifetime * G_USEC_PER_SEC;
		granted_at = port->expires - lifetime_usec;
		/* RFC 6886 §3.3: renew from half the lifetime, earlier if asked */
		after = lifetime_usec / 2;
		if (refresh != 0 && refresh < after)
			after = refresh;
		renew_at = MIN(renew_at, granted_at + after);
	}
	if (renew_at == G_MAXUINT64)
		return;
	pm_scheduler_arm(scheduler, &d->timer,
			 coalesce_renewal(renew_at, pm_mapping_get_expires(d->mapping)));
}

static void
schedule_backoff(MapData *d)
{
	PmScheduler *scheduler = d->scheduler;
	guint64 wait = BACKOFF_FIRST_USEC << MIN(d->backoff, 6u);
	wait = MIN(wait, BACKOFF_MAX_USEC);
	wait += pm_scheduler_random_range(scheduler, 0, (guint32)(wait / 4) + 1);
	d->backoff++;
	d->run = RUN_NONE;
	pm_scheduler_arm(scheduler, &d->timer, pm_scheduler_now(scheduler) + wait);
}

/* publish this run's grants on the mapping in one change */
static void
publish(MapData *d)
{
	PmMapping *m = d->mapping;
	guint props = 0;
	guint16 old_internal = m->internal_port;
	guint16 old_external = pm_mapping_get_external_port(m);
	guint32 old_lifetime = pm_mapping_get_lifetime(m);
	guint64 old_expires = pm_mapping_get_expires(m);

	for (guint p = 0; p < PM_PROTO_INDEX_COUNT; p++) {
		if (!has_proto(d, p) || d->pending[p].expires == 0)
			continue;
		if (m->ports[p].internal_port != d->pending[p].internal_port ||
		    m->ports[p].external_port != d->pending[p].external_port)
			props |= PM_MAPPING_PROP_PORTS;
		m->ports[p] = d->pending[p];
	}
	if (same_port(d))
		m->internal_port = m->ports[first_proto(d)].internal_port;
	if (m->internal_port != old_internal)
		props |= PM_MAPPING_PROP_INTERNAL_PORT;
	if (pm_mapping_get_external_port(m) != old_external)
		props |= PM_MAPPING_PROP_EXTERNAL_PORT;
	if (pm_mapping_get_lifetime(m) != old_lifetime)
		props |= PM_MAPPING_PROP_LIFETIME;
	if (pm_mapping_get_expires(m) != old_expires)
		props |= PM_MAPPING_PROP_EXPIRES_AT;
	if (pm_mapping_get_external_port(m) != 0)
		m->suggested_external_port = pm_mapping_get_external_port(m);
	pm_mapping_changed(m, props);
}

static void
run_finished(MapData *d)
{
	PmMapping *m = d->mapping;
	guint16 tcp = d->pending[PM_PROTO_INDEX_TCP].external_port;
	guint16 udp = d->pending[PM_PROTO_INDEX_UDP].external_port;

	d->run = RUN_NONE;
	d->backoff = 0;
	publish(d);
	/* the address is still unknown if the gateway was not up when we first asked */
	if (d->provider->parent.external_address == 0)
		pm_natpmp_client_request_public_address(d->provider->client);
	if (has_proto(d, PM_PROTO_INDEX_TCP) && has_proto(d, PM_PROTO_INDEX_UDP) && tcp != udp) {
		g_autofree char *msg = g_strdup_printf(
		    "PortUnavailable: the gateway gave TCP and UDP different external ports "
		    "(tcp %u, udp %u); both are kept",
		    tcp, udp);
		pm_mapping_set_last_error(m, msg);
	} else {
		pm_mapping_set_last_error(m, NULL);
	}
	set_state(d, PM_MAPPING_STATE_ACTIVE);
	pm_log_mapping(G_LOG_LEVEL_DEBUG, m->name, d->provider->parent.name,
		       "mapping %s active: external port %u", m->name,
		       pm_mapping_get_external_port(m));
	schedule_renewal(d);
	notify_waiters(d);
}

static void
fail_mapping(MapData *d, const GError *error)
{
	PmScheduler *scheduler = d->scheduler;
	pm_log_mapping(G_LOG_LEVEL_WARNING, d->mapping->name, d->provider->parent.name,
		       "mapping %s failed: %s", d->mapping->name, error->message);
	d->run = RUN_NONE;
	pm_scheduler_disarm(scheduler, &d->timer);
	pm_mapping_set_error(d->mapping, error);
	set_state(d, PM_MAPPING_STATE_FAILED);
	notify_waiters(d);
}

/* the gateway did not answer, or answered 3/4: try again later, keeping any lease */
static void
retry_later(MapData *d, const GError *error)
{
	PmScheduler *scheduler = d->scheduler;
	guint64 now = pm_scheduler_now(scheduler);

	pm_mapping_set_error(d->mapping, error);
	if (d->run == RUN_RENEW && has_lease(d)) {
		/* repeat the same renewal until it succeeds or the lease ends, backing off from
		 * 1 s, doubling, up to an eighth of the lease and never past its end; this run
		 * is over, so a Refresh() caller is answered now, not at the lease's end */
		guint64 cap = (guint64)pm_mapping_get_lifetime(d->mapping) * G_USEC_PER_SEC / 8;
		guint64 wait = BACKOFF_FIRST_USEC << MIN(d->backoff, 20u);
		wait = MIN(wait, MAX(cap, BACKOFF_FIRST_USEC));
		d->backoff++;
		set_state(d, PM_MAPPING_STATE_RENEWING);
		d->run = RUN_NONE;
		pm_scheduler_arm(scheduler, &d->timer,
				 MIN(now + wait, pm_mapping_get_expires(d->mapping)));
		notify_waiters(d);
		return;
	}
	set_state(d, PM_MAPPING_STATE_RETRYING);
	notify_waiters(d);
	schedule_backoff(d);
}

static GError *
result_error(MapData *d, guint16 result)
{
	g_autofree char *gateway = pm_ipv4_to_string(d->provider->gateway);
	const char *name = pm_natpmp_result_to_string(result);

	switch (result) {
	case PM_NATPMP_RESULT_UNSUPPORTED_VERSION:
		return g_error_new(PM_ERROR, PM_ERROR_NOT_SUPPORTED,
				   "the gateway %s does not support NAT-PMP version 0 (result 1, "
				   "%s): use a provider type the gateway speaks",
				   gateway, name);
	case PM_NATPMP_RESULT_REFUSED:
		return g_error_new(PM_ERROR, PM_ERROR_REFUSED,
				   "the gateway %s refused the mapping (result 2, %s): allow "
				   "NAT-PMP mappings for this host and port on the gateway",
				   gateway, name);
	case PM_NATPMP_RESULT_NETWORK_FAILURE:
		return g_error_new(PM_ERROR, PM_ERROR_GATEWAY_UNREACHABLE,
				   "the gateway %s has no working external connection (result 3, "
				   "%s); retrying",
				   gateway, name);
	case PM_NATPMP_RESULT_OUT_OF_RESOURCES:
		return g_error_new(PM_ERROR, PM_ERROR_PORT_UNAVAILABLE,
				   "the gateway %s has no free port or mapping left (result 4, "
				   "%s); retrying",
				   gateway, name);
	case PM_NATPMP_RESULT_UNSUPPORTED_OPCODE:
		return g_error_new(PM_ERROR, PM_ERROR_NOT_SUPPORTED,
				   "the gateway %s does not support port mappings (result 5, %s): "
				   "use a provider type the gateway speaks",
				   gateway, name);
	default:
		break;
	}
	return g_error_new(PM_ERROR, PM_ERROR_REFUSED,
			   "the gateway %s answered with the unknown result code %u: check the "
			   "gateway's NAT-PMP implementation",
			   gateway, result);
}

static void
call_cb(PmNatpmpCall *call, const PmNatpmpResponse *response, const GError *error,
	gpointer user_data)
{
	MapData *d = user_data;
	PmScheduler *scheduler = d->scheduler;
	PmProvider *provider = &d->provider->parent;

	if (response == NULL && error == NULL) {
		/* a wait went unanswered */
		if (d->mapping->state == PM_MAPPING_STATE_REQUESTING)
			set_state(d, PM_MAPPING_STATE_RETRYING);
		else if (d->run == RUN_RENEW && d->mapping->state == PM_MAPPING_STATE_ACTIVE)
			set_state(d, PM_MAPPING_STATE_RENEWING);
		return;
	}
	d->call = NULL;

	if (error != NULL) {
		pm_provider_set_state(provider, PM_PROVIDER_STATE_DEGRADED, error->message);
		/* a lost deletion is not worth a retry: the lease ends by itself */
		if (is_delete_step(d->step)) {
			run_step_done(d);
			return;
		}
		retry_later(d, error);
		return;
	}
	pm_provider_set_state(provider, PM_PROVIDER_STATE_READY, NULL);

	if (response->result != PM_NATPMP_RESULT_SUCCESS && !is_delete_step(d->step)) {
		g_autoptr(GError) e = result_error(d, response->result);
		if (response->result == PM_NATPMP_RESULT_NETWORK_FAILURE ||
		    response->result == PM_NATPMP_RESULT_OUT_OF_RESOURCES)
			retry_later(d, e);
		else
			fail_mapping(d, e);
		return;
	}

	switch (d->step) {
	case STEP_MAP_FIRST:
	case STEP_MAP_UDP:
	case STEP_MAP_UDP_AGAIN:
	case STEP_MAP_TCP_AGAIN:
	case STEP_RENEW: {
		PmMappingPort *port = &d->pending[d->proto_index];
		port->internal_port =
		    same_port(d) ? response->external_port : d->mapping->internal_port;
		port->external_port = response->external_port;
		port->lifetime = response->lifetime;
		port->expires = pm_scheduler_now(scheduler) +
				(guint64)response->lifetime * G_USEC_PER_SEC;
		break;
	}
	default:
		break;
	}
	run_step_done(d);
}

static PmNatpmpCallOptions
call_options(guint8 opcode, guint16 internal_port, guint16 suggest, guint32 lifetime,
	     PmNatpmpPriority priority, guint max_sends, guint64 give_up_at)
{
	PmNatpmpCallOptions options = {
	    .request =
		{
		    .opcode = opcode,
		    .internal_port = internal_port,
		    .suggested_external_port = suggest,
		    .lifetime = lifetime,
		},
	    .priority = priority,
	    .max_sends = max_sends,
	    .give_up_at = give_up_at,
	};
	return options;
}

/* RFC 6886 §3.4: lifetime 0 at the mapping's internal port, a few sends */
static PmNatpmpCallOptions
delete_options(guint proto_index, guint16 internal_port, guint64 give_up_at)
{
	return call_options(proto_opcode(proto_index), internal_port, 0, 0,
			    PM_NATPMP_PRIORITY_NORMAL, DELETE_MAX_SENDS, give_up_at);
}

static void
issue(MapData *d, const PmNatpmpCallOptions *options)
{
	d->call = pm_natpmp_client_call(d->provider->client, options, call_cb, d);
}

static guint16
request_internal_port(MapData *d)
{
	/* SamePort gateways forward E to E whatever is asked: ask with internal port 0 */
	return same_port(d) ? 0 : d->mapping->internal_port;
}

static void
issue_map(MapData *d, guint proto_index, guint16 suggest)
{
	guint64 expires = d->mapping->ports[proto_index].expires;
	gboolean leased = expires > pm_scheduler_now(d->scheduler);
	d->proto_index = proto_index;
	/* with a live lease: the RFC schedule, never past the lease; without one: no give-up,
	 * waits capped at 64 s */
	PmNatpmpCallOptions options = call_options(
	    proto_opcode(proto_index), request_internal_port(d), suggest, requested_lifetime(d),
	    d->run == RUN_RENEW ? PM_NATPMP_PRIORITY_RENEWAL : PM_NATPMP_PRIORITY_NORMAL,
	    leased ? PM_NATPMP_RFC_MAX_SENDS : 0, leased ? expires : G_MAXUINT64);

	issue(d, &options);
}

static void
issue_delete(MapData *d, guint proto_index)
{
	PmNatpmpCallOptions options =
	    delete_options(proto_index, d->mapping->internal_port, G_MAXUINT64);

	d->proto_index = proto_index;
	issue(d, &options);
}

static void
run_step(MapData *d)
{
	switch (d->step) {
	case STEP_MAP_FIRST:
		issue_map(d, first_proto(d), d->suggest);
		break;
	case STEP_MAP_UDP:
	case STEP_MAP_UDP_AGAIN:
		issue_map(d, PM_PROTO_INDEX_UDP, d->pending[PM_PROTO_INDEX_TCP].external_port);
		break;
	case STEP_DELETE_UDP:
		issue_delete(d, PM_PROTO_INDEX_UDP);
		break;
	case STEP_DELETE_TCP:
		issue_delete(d, PM_PROTO_INDEX_TCP);
		break;
	case STEP_MAP_TCP_AGAIN:
		issue_map(d, PM_PROTO_INDEX_TCP, d->pending[PM_PROTO_INDEX_UDP].external_port);
		break;
	case STEP_REMAP_DELETE:
	case STEP_REQUIRE_DELETE:
		issue_delete(d, d->proto_index);
		break;
	case STEP_RENEW:
		issue_map(d, d->proto_index, d->mapping->ports[d->proto_index].external_port);
		break;
	}
}

/* the next protocol after @after that the mapping has, or PM_PROTO_INDEX_COUNT */
static guint
next_proto(MapData *d, guint after)
{
	for (guint p = after + 1; p < PM_PROTO_INDEX_COUNT; p++) {
		if (has_proto(d, p))
			return p;
	}
	return PM_PROTO_INDEX_COUNT;
}

static void
finish_acquire(MapData *d)
{
	PmMapping *m = d->mapping;
	guint16 external = d->pending[first_proto(d)].external_port;

	/* design §3 "Ports": a mapping whose consumers tell the application where to listen
	 * asks once more with I = E, so both sides agree on one port */
	if (m->has_consumers && !same_port(d) && m->origin == PM_ORIGIN_CONFIG && !d->remapped &&
	    external != m->internal_port) {
		pm_log_mapping(G_LOG_LEVEL_MESSAGE, m->name, d->provider->parent.name,
			       "mapping %s: gateway gave external port %u for internal port %u; "
			       "re-mapping with internal port %u",
			       m->name, external, m->internal_port, external);
		d->remapped = TRUE;
		d->step = STEP_REMAP_DELETE;
		d->proto_index = first_proto(d);
		d->suggest = external;
		run_step(d);
		return;
	}
	run_finished(d);
}

static void
run_step_done(MapData *d)
{
	PmMapping *m = d->mapping;
	guint16 tcp = d->pending[PM_PROTO_INDEX_TCP].external_port;
	guint16 udp = d->pending[PM_PROTO_INDEX_UDP].external_port;
	guint next;

	switch (d->step) {
	case STEP_MAP_FIRST:
		if (m->require_external_port && d->suggest != 0 &&
		    d->pending[first_proto(d)].external_port != d->suggest) {
			d->step = STEP_REQUIRE_DELETE;
			d->proto_index = first_proto(d);
			run_step(d);
			return;
		}
		if (has_proto(d, PM_PROTO_INDEX_TCP) && has_proto(d, PM_PROTO_INDEX_UDP)) {
			d->step = STEP_MAP_UDP;
			run_step(d);
			return;
		}
		finish_acquire(d);
		return;
	case STEP_MAP_UDP:
		/* SamePort gateways cannot delete one mapping (internal port 0 deletes all) */
		if (udp == tcp || same_port(d)) {
			finish_acquire(d);
			return;
		}
		d->step = STEP_DELETE_UDP;
		run_step(d);
		return;
	case STEP_DELETE_UDP:
		d->step = STEP_MAP_UDP_AGAIN;
		run_step(d);
		return;
	case STEP_MAP_UDP_AGAIN:
		if (udp == tcp) {
			finish_acquire(d);
			return;
		}
		d->step = STEP_DELETE_TCP;
		run_step(d);
		return;
	case STEP_DELETE_TCP:
		d->step = STEP_MAP_TCP_AGAIN;
		run_step(d);
		return;
	case STEP_MAP_TCP_AGAIN:
		finish_acquire(d);
		return;
	case STEP_REMAP_DELETE:
		next = next_proto(d, d->proto_index);
		if (next < PM_PROTO_INDEX_COUNT) {
			d->proto_index = next;
			run_step(d);
			return;
		}
		/* the old leases at the old internal port are gone */
		memset(m->ports, 0, sizeof(m->ports));
		m->internal_port = d->suggest;
		pm_mapping_changed(m, PM_MAPPING_PROP_INTERNAL_PORT | PM_MAPPING_PROP_PORTS);
		run_acquire(d, d->suggest);
		return;
	case STEP_REQUIRE_DELETE:
		next = next_proto(d, d->proto_index);
		if (next < PM_PROTO_INDEX_COUNT && d->pending[next].expires != 0) {
			d->proto_index = next;
			run_step(d);
			return;
		} else {
			g_autoptr(GError) error = g_error_new(
			    PM_ERROR, PM_ERROR_PORT_UNAVAILABLE,
			    "external port %u is not available: the gateway offered %u", d->suggest,
			    d->pending[first_proto(d)].external_port);
			memset(d->pending, 0, sizeof(d->pending));
			fail_mapping(d, error);
		}
		return;
	case STEP_RENEW:
		next = next_proto(d, d->proto_index);
		if (next < PM_PROTO_INDEX_COUNT) {
			d->proto_index = next;
			run_step(d);
			return;
		}
		/* a port change on renewal: align TCP and UDP again, with one re-map allowed */
		if (has_proto(d, PM_PROTO_INDEX_TCP) && has_proto(d, PM_PROTO_INDEX_UDP) &&
		    tcp != udp && !same_port(d) &&
		    (tcp != m->ports[PM_PROTO_INDEX_TCP].external_port ||
		     udp != m->ports[PM_PROTO_INDEX_UDP].external_port)) {
			publish(d);
			d->remapped = FALSE;
			run_acquire(d, tcp);
			return;
		}
		/* E changed on renewal: that allows one more re-map (design §3 "Ports") */
		if (d->pending[first_proto(d)].external_port !=
		    m->ports[first_proto(d)].external_port) {
			d->remapped = FALSE;
			finish_acquire(d);
			return;
		}
		run_finished(d);
		return;
	}
}

/* a run starts, or goes on with other steps (a re-map): its start is what waiters count
 * their deadline from */
static void
run_begin(MapData *d, RunKind run)
{
	pm_natpmp_call_cancel(d->call);
	d->call = NULL;
	pm_scheduler_disarm(d->scheduler, &d->timer);
	if (d->run == RUN_NONE)
		d->run_started = pm_scheduler_now(d->scheduler);
	d->run = run;
	arm_waiters(d);
}

static void
run_acquire(MapData *d, guint16 suggest)
{
	run_begin(d, RUN_ACQUIRE);
	memset(d->pending, 0, sizeof(d->pending));
	d->suggest = suggest;
	d->step = STEP_MAP_FIRST;
	run_step(d);
}

static void
run_renew(MapData *d)
{
	run_begin(d, RUN_RENEW);
	memcpy(d->pending, d->mapping->ports, sizeof(d->pending));
	d->step = STEP_RENEW;
	d->proto_index = first_proto(d);
	/* "renewing" shows once a renewal goes unanswered: a renewal answered at once (the
	 * usual case) changes nothing a client needs to see but the new expiry */
	run_step(d);
}

/* start whatever run brings the mapping back: renew a live lease, else acquire again */
static void
run_again(MapData *d)
{
	if (has_lease(d) && d->mapping->state != PM_MAPPING_STATE_FAILED) {
		run_renew(d);
		return;
	}
	if (d->mapping->state == PM_MAPPING_STATE_FAILED ||
	    d->mapping->state == PM_MAPPING_STATE_ACTIVE)
		set_state(d, PM_MAPPING_STATE_RETRYING);
	run_acquire(d, d->mapping->suggested_external_port);
}

static void
timer_cb(PmTimer *timer, gpointer user_data)
{
	MapData *d = user_data;
	if (d->run != RUN_NONE) {
		notify_due_waiters(d);
		return;
	}
	run_again(d);
}

static MapData *
map_data_new(PmNatpmpProvider *provider, PmMapping *mapping)
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

static void
map_data_free(MapData *d)
{
	PmScheduler *scheduler = d->scheduler;
	pm_natpmp_call_cancel(d->call);
	pm_scheduler_disarm(scheduler, &d->timer);
	pm_scheduler_disarm(scheduler, &d->degraded_timer);
	notify_waiters(d);
	g_queue_unlink(&d->provider->data, &d->link);
	g_free(d);
}

static void
natpmp_start(PmProvider *provider, PmMapping *mapping)
{
	PmNatpmpProvider *self = natpmp_provider(provider);
	MapData *d = map_data_new(self, mapping);

	mapping->provider_data = d;
	if (self->client == NULL) {
		fail_mapping(d, self->client_error);
		return;
	}
	if (pm_natpmp_client_get_local_address(self->client) != mapping->internal_address) {
		mapping->internal_address = pm_natpmp_client_get_local_address(self->client);
		pm_mapping_changed(mapping, PM_MAPPING_PROP_INTERNAL_ADDRESS);
	}
	set_state(d, PM_MAPPING_STATE_REQUESTING);
	run_acquire(d, mapping->suggested_external_port);
}

static void
stop_finish(MapData *d)
{
	PmProviderDoneFunc done = d->stop_done;
	gpointer data = d->stop_data;
	/* the mapping may have been started again meanwhile (Reload): leave that run alone */
	if (d->mapping->provider_data == d)
		d->mapping->provider_data = NULL;
	map_data_free(d);
	if (done != NULL)
		done(data);
}

static void delete_next(MapData *d, guint after);

static void
delete_cb(PmNatpmpCall *call, const PmNatpmpResponse *response, const GError *error,
	  gpointer user_data)
{
	MapData *d = user_data;
	if (response == NULL && error == NULL)
		return;
	d->call = NULL;
	if (error != NULL)
		pm_log_mapping(G_LOG_LEVEL_INFO, d->mapping->name, d->provider->parent.name,
			       "deleting mapping %s upstream: %s", d->mapping->name,
			       error->message);
	delete_next(d, d->proto_index);
}

/* RFC 6886 §3.4: one deletion per protocol, one after the other through d->call, so a
 * stop can always be cut short (a gateway switch, exit) by cancelling that one call */
static void
delete_next(MapData *d, guint after)
{
	PmProvider *provider = &d->provider->parent;
	guint p = after == PM_PROTO_INDEX_COUNT ? 0 : after + 1;
	PmNatpmpCallOptions options;

	while (p < PM_PROTO_INDEX_COUNT && (d->stop_protocols & (1u << p)) == 0)
		p++;
	if (p >= PM_PROTO_INDEX_COUNT || d->provider->client == NULL) {
		stop_finish(d);
		return;
	}
	options = delete_options(p, d->stop_port, d->stop_give_up_at);
	d->proto_index = p;
	pm_log_mapping(G_LOG_LEVEL_DEBUG, d->mapping->name, provider->name,
		       "deleting mapping %s (%s %u) upstream", d->mapping->name, proto_name(p),
		       d->stop_port);
	d->call = pm_natpmp_client_call(d->provider->client, &options, delete_cb, d);
}

static void
natpmp_stop(PmProvider *provider, PmMapping *mapping, gboolean release, PmProviderDoneFunc done,
	    gpointer user_data)
{
	PmNatpmpProvider *self = natpmp_provider(provider);
	PmScheduler *scheduler = provider->scheduler;
	MapData *d = mapping->provider_data;

	if (d == NULL) {
		if (done != NULL)
			done(user_data);
		return;
	}
	pm_natpmp_call_cancel(d->call);
	d->call = NULL;
	d->run = RUN_NONE;
	pm_scheduler_disarm(scheduler, &d->timer);
	pm_scheduler_disarm(scheduler, &d->degraded_timer);
	notify_waiters(d);
	d->stopping = TRUE;
	d->stop_done = done;
	d->stop_data = user_data;
	d->stop_give_up_at = pm_scheduler_now(scheduler) + DELETE_TIMEOUT_USEC;
	d->stop_port = mapping->internal_port;
	for (guint p = 0; p < PM_PROTO_INDEX_COUNT; p++) {
		if (has_proto(d, p))
			d->stop_protocols |= 1u << p;
	}

	/* SamePort mappings (internal port 0) are left to expire, since port 0 with lifetime
	 * 0 deletes all of this host's mappings */
	if (release && self->client != NULL && !same_port(d) && mapping->internal_port != 0)
		delete_next(d, PM_PROTO_INDEX_COUNT);
	else
		stop_finish(d);
}

static void
natpmp_refresh(PmProvider *provider, PmMapping *mapping, PmProviderDoneFunc done,
	       gpointer user_data)
{
	PmNatpmpProvider *self = natpmp_provider(provider);
	MapData *d = mapping->provider_data;
	Waiter w = {done, user_data, 0};

	if (d == NULL || self->client == NULL) {
		if (d != NULL && self->client_error != NULL)
			fail_mapping(d, self->client_error);
		done(user_data);
		return;
	}
	/* counted from the start of the run it waits for: this one, or the one starting */
	w.deadline = (d->run != RUN_NONE ? d->run_started : pm_scheduler_now(d->scheduler)) +
		     REFRESH_REPLY_AFTER_USEC;
	if (d->waiters == NULL)
		d->waiters = g_array_new(FALSE, FALSE, sizeof(Waiter));
	g_array_append_val(d->waiters, w);
	if (d->run != RUN_NONE) {
		arm_waiters(d);
		return;
	}
	run_again(d);
}

static void
on_reset(PmNatpmpClient *client, gpointer user_data)
{
	PmNatpmpProvider *self = user_data;
	GHashTableIter iter;
	gpointer key;

	g_hash_table_iter_init(&iter, self->parent.mappings);
	while (g_hash_table_iter_next(&iter, &key, NULL)) {
		PmMapping *mapping = key;
		MapData *d = mapping->provider_data;
		if (d == NULL || mapping->state == PM_MAPPING_STATE_FAILED)
			continue;
		/* already asking from scratch */
		if (d->run == RUN_ACQUIRE && !has_lease(d))
			continue;
		if (has_lease(d))
			set_state(d, PM_MAPPING_STATE_RENEWING);
		/* each suggests its previous E; the client's FIFO sends them one by one */
		run_acquire(d, mapping->suggested_external_port);
	}
}

static void
on_address(PmNatpmpClient *client, guint32 address, gpointer user_data)
{
	PmNatpmpProvider *self = user_data;
	pm_provider_set_external_address(&self->parent, address);
}

static void
provider_attach_client(PmNatpmpProvider *self, PmNatpmpClient *client)
{
	self->client = client;
	self->gateway = pm_natpmp_client_get_gateway(client);
	pm_provider_set_peer_address(&self->parent, self->gateway);
	self->listener_id = pm_natpmp_client_add_listener(client, on_reset, on_address, self);
	/* a new gateway (RefreshAll re-read the default route) may mean a new local address */
	{
		GHashTableIter iter;
		gpointer key;
		guint32 local = pm_natpmp_client_get_local_address(client);
		g_hash_table_iter_init(&iter, self->parent.mappings);
		while (g_hash_table_iter_next(&iter, &key, NULL)) {
			PmMapping *mapping = key;
			if (mapping->internal_address == local)
				continue;
			mapping->internal_address = local;
			pm_mapping_changed(mapping, PM_MAPPING_PROP_INTERNAL_ADDRESS);
		}
	}
	if (pm_natpmp_client_get_public_address(client) != 0)
		pm_provider_set_external_address(&self->parent,
						 pm_natpmp_client_get_public_address(client));
	pm_natpmp_client_request_public_address(client);
}

static void
provider_detach_client(PmNatpmpProvider *self)
{
	if (self->client == NULL)
		return;
	pm_natpmp_client_remove_listener(self->client, self->listener_id);
	g_clear_pointer(&self->client, pm_natpmp_client_unref);
}

/*
 * The gateway moved (the default route changed): nothing asked of the old one is worth
 * waiting for. Every call on it is cancelled while it is still alive, deletions in progress
 * end there (the old gateway's leases run out by themselves), and every other mapping is
 * requested anew at the new gateway, its waiters still counting from their run's start.
 */
static void
provider_switch_client(PmNatpmpProvider *self, PmNatpmpClient *client)
{
	g_autoptr(GPtrArray) stopping = g_ptr_array_new();
	g_autofree char *gateway = pm_ipv4_to_string(pm_natpmp_client_get_gateway(client));

	if (self->client != NULL)
		pm_log_provider(G_LOG_LEVEL_MESSAGE, self->parent.name,
				"provider %s: the gateway is now %s; requesting its mappings there",
				self->parent.name, gateway);
	for (GList *l = self->data.head; l != NULL; l = l->next) {
		MapData *d = l->data;
		pm_natpmp_call_cancel(d->call);
		d->call = NULL;
		if (d->stopping)
			g_ptr_array_add(stopping, d);
	}
	provider_detach_client(self);
	provider_attach_client(self, client);
	for (guint i = 0; i < stopping->len; i++)
		stop_finish(g_ptr_array_index(stopping, i));
	for (GList *l = self->data.head; l != NULL; l = l->next) {
		MapData *d = l->data;
		PmMapping *m = d->mapping;
		if (m->provider_data != d)
			continue;
		/* leases at the old gateway mean nothing at the new one */
		if (pm_mapping_get_expires(m) != 0) {
			memset(m->ports, 0, sizeof(m->ports));
			pm_mapping_changed(m, PM_MAPPING_PROP_PORTS | PM_MAPPING_PROP_EXTERNAL_PORT |
						  PM_MAPPING_PROP_EXPIRES_AT |
						  PM_MAPPING_PROP_LIFETIME);
		}
		if (m->state != PM_MAPPING_STATE_REQUESTING)
			set_state(d, PM_MAPPING_STATE_RETRYING);
		run_acquire(d, m->suggested_external_port);
	}
}

void
pm_natpmp_provider_switch_client(PmProvider *provider, PmNatpmpClient *client)
{
	provider_switch_client(natpmp_provider(provider), pm_natpmp_client_ref(client));
}

/* find the gateway (Gateway=, or the default route's) and open its client */
static gboolean
provider_open_client(PmNatpmpProvider *self, GError **error)
{
	const PmNatpmpConfig *config = natpmp_provider_config(self);
	guint32 gateway = 0;
	PmNatpmpClient *client;

	if (config->gateway != NULL) {
		if (inet_pton(AF_INET, config->gateway, &gateway) != 1) {
			g_set_error(error, PM_ERROR, PM_ERROR_INVALID_CONFIGURATION,
				    "Gateway=%s is not an IPv4 address", config->gateway);
			return FALSE;
		}
	} else if (!pm_natpmp_default_gateway(&gateway, error)) {
		return FALSE;
	}
	if (self->client != NULL && pm_natpmp_client_get_gateway(self->client) == gateway)
		return TRUE;
	client = pm_natpmp_socket_client_get(self->parent.context, gateway,
					     config->port != 0 ? config->port : DEFAULT_PORT,
					     error);
	if (client == NULL)
		return FALSE;
	provider_switch_client(self, client);
	return TRUE;
}

static void
natpmp_refresh_all(PmProvider *provider, PmProviderDoneFunc done, gpointer user_data)
{
	PmNatpmpProvider *self = natpmp_provider(provider);
	g_autoptr(GError) error = NULL;

	/* re-read the gateway: a default route may have appeared or moved */
	if (!provider_open_client(self, &error)) {
		g_clear_error(&self->client_error);
		self->client_error = g_error_copy(error);
		pm_provider_set_state(provider, PM_PROVIDER_STATE_FAILED, error->message);
	} else {
		g_clear_error(&self->client_error);
		pm_natpmp_client_request_public_address(self->client);
	}
	pm_provider_refresh_each(provider, done, user_data);
}

static void
natpmp_resumed(PmProvider *provider)
{
	PmNatpmpProvider *self = natpmp_provider(provider);
	/* the gateway may have rebooted while we slept: the answer re-checks its epoch */
	if (self->client != NULL)
		pm_natpmp_client_request_public_address(self->client);
}

static void
natpmp_describe(PmProvider *provider, PmJsonWriter *writer)
{
	PmNatpmpProvider *self = natpmp_provider(provider);
	g_autofree char *address = NULL;
	g_autofree char *gateway = NULL;

	/* "" until there is a gateway (Gateway=auto without a default route) */
	if (self->client != NULL) {
		address = pm_ipv4_to_string(self->gateway);
		gateway = g_strdup_printf("%s:%u", address, pm_natpmp_client_get_port(self->client));
	}
	pm_json_member_string(writer, "Gateway", gateway != NULL ? gateway : "");
}

static void
natpmp_finalize(PmProvider *provider)
{
	PmNatpmpProvider *self = natpmp_provider(provider);
	GList *link;

	/* the daemon is exiting: drop every run, deletions in flight included, calling no one */
	while ((link = g_queue_pop_head_link(&self->data)) != NULL) {
		MapData *d = link->data;
		pm_natpmp_call_cancel(d->call);
		pm_scheduler_disarm(d->scheduler, &d->timer);
		pm_scheduler_disarm(d->scheduler, &d->degraded_timer);
		if (d->mapping->provider_data == d)
			d->mapping->provider_data = NULL;
		/* Refresh() callers are answered: each holds a reference to its call */
		notify_waiters(d);
		g_free(d);
	}
	provider_detach_client(self);
	g_clear_error(&self->client_error);
}

static gboolean
natpmp_init(PmProvider *provider, GError **error)
{
	PmNatpmpProvider *self = natpmp_provider(provider);
	g_autoptr(GError) local_error = NULL;

	if (!provider_open_client(self, &local_error)) {
		/* not fatal: mappings fail with this message and RefreshAll tries again */
		pm_log_provider(G_LOG_LEVEL_WARNING, provider->name, "provider %s: %s",
				provider->name, local_error->message);
		pm_provider_set_state(provider, PM_PROVIDER_STATE_FAILED, local_error->message);
		self->client_error = g_steal_pointer(&local_error);
	}
	return TRUE;
}

PmProvider *
pm_natpmp_provider_new_with_client(PmContext *context, const PmProviderConfig *config,
				   PmNatpmpClient *client)
{
	PmProvider *provider = pm_provider_alloc(context, config);

	g_return_val_if_fail(provider->klass == &pm_natpmp_provider_class, provider);
	provider_attach_client(natpmp_provider(provider), pm_natpmp_client_ref(client));
	return provider;
}

/* ---- configuration: [Provider NAME] Type=natpmp ---- */

static void
natpmp_config_free(PmNatpmpConfig *config)
{
	g_free(config->gateway);
	g_free(config);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(PmNatpmpConfig, natpmp_config_free)

/* Gateway=: auto (the default route's gateway, NULL) or a dotted IPv4 address */
static gboolean
parse_gateway(PmConfigSection *section, const PmConfigEntry *entry, gpointer field,
	      GError **error)
{
	char **gateway = field;
	g_autoptr(GInetAddress) address = NULL;

	g_clear_pointer(gateway, g_free);
	if (g_strcmp0(entry->value, "auto") == 0)
		return TRUE;
	address = g_inet_address_new_from_string(entry->value);
	if (address == NULL || g_inet_address_get_family(address) != G_SOCKET_FAMILY_IPV4) {
		pm_config_section_set_error(section,
					    entry,
					    "not an IPv4 address",
					    "auto (the default route's gateway), or a dotted IPv4 "
					    "address such as 10.2.0.1",
					    error);
		return FALSE;
	}
	*gateway = g_inet_address_to_string(address);
	return TRUE;
}

/* RefreshInterval=: 0 keeps the default, renewing at half the granted lifetime */
static gboolean
parse_refresh_interval(PmConfigSection *section, const PmConfigEntry *entry, gpointer field,
		       GError **error)
{
	guint64 usec = 0;

	if (!pm_config_section_get_duration(section, entry, 0, &usec, error))
		return FALSE;
	if (usec > 0 && usec < G_USEC_PER_SEC) {
		pm_config_section_set_error(section,
					    entry,
					    "too short",
					    "0 (renew at half the granted lifetime), or at least 1s",
					    error);
		return FALSE;
	}
	*(guint64 *)field = usec;
	return TRUE;
}

static const PmConfigKey natpmp_config_keys[] = {
    {"Gateway", parse_gateway, G_STRUCT_OFFSET(PmNatpmpConfig, gateway)},
    {"SamePort", pm_config_parse_boolean, G_STRUCT_OFFSET(PmNatpmpConfig, same_port)},
    {"Lifetime", pm_config_parse_lifetime, G_STRUCT_OFFSET(PmNatpmpConfig, lifetime)},
    {"RefreshInterval", parse_refresh_interval,
     G_STRUCT_OFFSET(PmNatpmpConfig, refresh_interval_usec)},
    {"Port", pm_config_parse_port, G_STRUCT_OFFSET(PmNatpmpConfig, port)},
    {NULL},
};

static gpointer
natpmp_config_parse(PmConfigSection *section, GError **error)
{
	g_autoptr(PmNatpmpConfig) config = g_new0(PmNatpmpConfig, 1);

	if (!pm_config_section_parse_keys(section, natpmp_config_keys, config, error))
		return NULL;
	return g_steal_pointer(&config);
}

/* the defaults: no key depends on another */
static gboolean
natpmp_config_verify(gpointer data, PmConfigSection *section, GError **error)
{
	PmNatpmpConfig *config = data;

	if (config->lifetime == 0)
		config->lifetime = PM_NATPMP_DEFAULT_LIFETIME;
	if (config->port == 0)
		config->port = DEFAULT_PORT;
	return TRUE;
}

static gboolean
natpmp_config_equal(gconstpointer a, gconstpointer b)
{
	const PmNatpmpConfig *x = a;
	const PmNatpmpConfig *y = b;

	return g_strcmp0(x->gateway, y->gateway) == 0 && !x->same_port == !y->same_port &&
	       x->lifetime == y->lifetime && x->refresh_interval_usec == y->refresh_interval_usec &&
	       x->port == y->port;
}

static void
natpmp_config_print(gconstpointer data, GString *out)
{
	const PmNatpmpConfig *config = data;

	g_string_append_printf(out, "Gateway=%s\n", config->gateway != NULL ? config->gateway : "auto");
	g_string_append_printf(out, "SamePort=%s\n", config->same_port ? "yes" : "no");
	g_string_append_printf(out, "Lifetime=%u\n", config->lifetime);
	if (config->refresh_interval_usec > 0) {
		g_autofree char *refresh = pm_duration_to_string(config->refresh_interval_usec);
		g_string_append_printf(out, "RefreshInterval=%s\n", refresh);
	}
	if (config->port != DEFAULT_PORT)
		g_string_append_printf(out, "Port=%u\n", config->port);
}

/* with SamePort=yes the gateway forwards E to E: ask for internal port 0, and I := E */
static gboolean
natpmp_config_check_mapping(const PmProviderConfig *provider,
			    PmMappingConfig *mapping,
			    PmConfigSection *section,
			    GError **error)
{
	const PmConfigEntry *internal = pm_config_section_lookup(section, "InternalPort");

	if (pm_natpmp_config(provider)->same_port) {
		if (internal != NULL) {
			g_autofree char *what =
			    g_strdup_printf("ignored: provider %s has SamePort=yes, so the "
					    "internal port is the external port the gateway "
					    "grants; remove InternalPort=",
					    provider->name);
			pm_config_section_add_warning(section, internal, what);
		}
		mapping->internal_port = 0;
		return TRUE;
	}
	if (internal == NULL) {
		g_autofree char *what = g_strdup_printf("set the port the application listens "
							"on (provider %s has SamePort=no)",
							provider->name);
		pm_config_section_set_missing_error(section, "InternalPort", what, error);
		return FALSE;
	}
	return TRUE;
}

/* "tcp", "udp" or "tcp udp" */
static const char *
protocols_to_list(guint protocols)
{
	if (protocols == (PM_PROTOCOL_TCP | PM_PROTOCOL_UDP))
		return "tcp udp";
	return pm_protocol_to_string(protocols);
}

/* the first of @protocols that @other also has */
static PmProtocols
shared_protocol(guint protocols, guint other)
{
	return (protocols & other & PM_PROTOCOL_TCP) != 0 ? PM_PROTOCOL_TCP : PM_PROTOCOL_UDP;
}

/*
 * A SamePort=yes provider is asked for internal port 0 by every mapping, and the gateway
 * keys a mapping by (protocol, internal port): a second mapping of one protocol would be
 * the first one's lease. The message is at the later mapping's Protocols=, and says what
 * the mappings before it left free.
 */
static gboolean
natpmp_config_check_mappings(const PmProviderConfig *provider,
			     GPtrArray *mappings,
			     GPtrArray *sections,
			     GError **error)
{
	guint taken = 0;

	if (!pm_natpmp_config(provider)->same_port)
		return TRUE;
	for (guint i = 0; i < mappings->len; i++) {
		const PmMappingConfig *mapping = g_ptr_array_index(mappings, i);
		PmProtocols protocol;
		guint other = 0;
		g_autofree char *other_location = NULL;
		g_autofree char *what = NULL;
		g_autofree char *accepted = NULL;

		if ((mapping->protocols & taken) == 0) {
			taken |= mapping->protocols;
			continue;
		}
		protocol = shared_protocol(mapping->protocols, taken);
		while ((((const PmMappingConfig *)g_ptr_array_index(mappings, other))->protocols &
			protocol) == 0)
			other++;
		other_location =
		    pm_config_section_locate(g_ptr_array_index(sections, other), "Protocols");
		what = g_strdup_printf("provider %s " SAME_PORT_WHY "; [%s] (%s) already uses %s",
				       provider->name,
				       pm_config_section_get_header(g_ptr_array_index(sections, other)),
				       other_location,
				       pm_protocol_to_string(protocol));
		if (taken != (PM_PROTOCOL_TCP | PM_PROTOCOL_UDP)) {
			accepted = g_strdup_printf("%s (not used by another mapping of provider "
						   "%s), or another provider for this mapping",
						   protocols_to_list((PM_PROTOCOL_TCP | PM_PROTOCOL_UDP) &
								     ~taken),
						   provider->name);
		} else {
			accepted = g_strdup_printf("none at provider %s, whose tcp and udp are "
						   "taken: give this mapping another provider, or "
						   "remove one of the two mappings",
						   provider->name);
		}
		pm_config_section_set_key_error(g_ptr_array_index(sections, i),
						"Protocols",
						"tcp udp (the default)",
						what,
						accepted,
						error);
		return FALSE;
	}
	return TRUE;
}

/* the same rule for mappings at run time: bus mappings, restored ones, and a Reload */
static gboolean
natpmp_check_mapping(const PmProviderConfig *config,
		     const PmMapping *mapping,
		     GPtrArray *others,
		     const PmMapping **blocker,
		     GError **error)
{
	if (!pm_natpmp_config(config)->same_port)
		return TRUE;
	for (guint i = 0; i < others->len; i++) {
		const PmMapping *other = g_ptr_array_index(others, i);
		if ((other->protocols & mapping->protocols) == 0)
			continue;
		*blocker = other;
		g_set_error(error,
			    PM_ERROR,
			    PM_ERROR_ALREADY_MAPPED,
			    "provider %s " SAME_PORT_WHY "; mapping '%s' already uses %s",
			    config->name,
			    other->name,
			    pm_protocol_to_string(shared_protocol(mapping->protocols,
								  other->protocols)));
		return FALSE;
	}
	return TRUE;
}

const PmProviderClass pm_natpmp_provider_class = {
    .type = "natpmp",
    .object_size = sizeof(PmNatpmpProvider),
    .config_parse = natpmp_config_parse,
    .config_verify = natpmp_config_verify,
    .config_equal = natpmp_config_equal,
    .config_print = natpmp_config_print,
    .config_free = (GDestroyNotify)natpmp_config_free,
    .config_check_mapping = natpmp_config_check_mapping,
    .config_check_mappings = natpmp_config_check_mappings,
    .init = natpmp_init,
    .finalize = natpmp_finalize,
    .check_mapping = natpmp_check_mapping,
    .start = natpmp_start,
    .stop = natpmp_stop,
    .refresh = natpmp_refresh,
    .refresh_all = natpmp_refresh_all,
    .resumed = natpmp_resumed,
    .describe = natpmp_describe,
};

const PmNatpmpConfig *
pm_natpmp_config(const PmProviderConfig *config)
{
	if (config == NULL || config->klass != &pm_natpmp_provider_class)
		return NULL;
	return config->data;
}

PmProviderConfig *
pm_natpmp_config_new(const char *name, PmNatpmpConfig *natpmp)
{
	return pm_provider_config_new(name, &pm_natpmp_provider_class, natpmp);
}
