/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "gateway.h"

#include <arpa/inet.h>
#include <net/if.h>
#include <unistd.h>

#include "address.h"
#include "default-route.h"
#include "errors.h"
#include "lan-server.h"
#include "lan-socket.h"
#include "natpmp-client.h"
#include "natpmp-provider.h"
#include "proto/natpmp.h"
#include "mikrotik-config.h"
#include "router-mikrotik.h"
#include "router.h"
#include "secrets.h"

/* how long a new LAN mapping waits for its upstream grant before the client is told
 * result 3: NAT-PMP clients retransmit at 250 ms doubling, so by then a client has asked
 * four times; the upstream request is withdrawn (rolled back) */
#define UPSTREAM_WAIT_USEC (3 * G_TIME_SPAN_SECOND)
/* design §3: where the gateway's announcements do not arrive (portmapd on a LAN host),
 * the upstream's epoch is checked by a public-address request every minute */
#define EPOCH_CHECK_USEC (60 * G_TIME_SPAN_SECOND)

typedef enum {
	RULE_NONE,
	RULE_ADDING,
	RULE_ADDED,
} RuleState;

typedef struct {
	PmGateway *gateway;
	PmLanMapping *lan;    /* NULL once the LAN side is gone */
	guint64 mapping_id;   /* the manager's Mapping, 0 when none */
	PmRouterRule rule;    /* tunnel_port 0 until known */
	PmTimer *wait_timer;  /* while it waits for the upstream grant: it must come in time */
	/* packed: there may be 10 000 (an entry is reached through its LAN mapping's
	 * backend_data, or, once that is gone, by the router operations it waits for) */
	guint n_ops : 28;     /* router operations in flight that hold the entry */
	guint rule_state : 2; /* RuleState */
	guint answered : 1;   /* map_done() told the client */
	guint same_port : 1;  /* T := E (SamePort upstream) */
} GatewayEntry;

/* a LAN mapping read from state.json, until start */
typedef struct {
	char *name;
	guint32 client;
	guint8 protocol;
	guint16 internal_port;
	guint16 tunnel_port;
	guint16 external_port;
	guint64 expires_realtime;
} RestoredMapping;

struct _PmGateway {
	PmManager *manager;
	PmContext *context;
	PmScheduler *scheduler;
	PmGatewayConfig *config;
	char *instance;
	PmLanServer *server;
	PmLanSocket *socket;
	PmRouter *router;
	guint extension_id;
	guint listener_id;
	guint8 *tunnel_used[2]; /* bit per port, per protocol (TCP, UDP): T's we hold */
	GPtrArray *restored;	/* of RestoredMapping */
	guint64 restored_epoch_origin; /* CLOCK_REALTIME µs, 0: none */
	guint32 public_address;
	guint n_announced;	/* GatewayMappings as last announced */
	PmTimer reconcile_timer;
	PmTimer epoch_timer;
	gboolean started;
	gboolean stopping;
	gboolean releasing; /* stopping, and the rules go */
	guint n_rule_ops;   /* rule additions and removals in flight, of entries */
	PmTimer release_timer;
	PmProviderDoneFunc release_done;
	gpointer release_done_data;
};

static void entry_maybe_free(GatewayEntry *entry);
static void release_maybe_done(PmGateway *self);
static void release_timer_cb(PmTimer *timer, gpointer user_data);

static guint
proto_index(guint8 protocol)
{
	return protocol == PM_PROTOCOL_TCP ? 0 : 1;
}

static void
tunnel_set(PmGateway *self, guint8 protocol, guint16 port, gboolean used)
{
	guint8 *bits = self->tunnel_used[proto_index(protocol)];
	if (used)
		bits[port / 8] |= (guint8)(1u << (port % 8));
	else
		bits[port / 8] &= (guint8) ~(1u << (port % 8));
}

static gboolean
tunnel_is_set(PmGateway *self, guint8 protocol, guint16 port)
{
	return (self->tunnel_used[proto_index(protocol)][port / 8] >> (port % 8)) & 1;
}

static PmProvider *
upstream_provider(PmGateway *self)
{
	GPtrArray *providers = pm_manager_get_providers(self->manager); /* borrowed */
	for (guint i = 0; i < providers->len; i++) {
		PmProvider *p = g_ptr_array_index(providers, i);
		if (g_strcmp0(p->name, self->config->upstream) == 0 &&
		    pm_natpmp_config(p->config) != NULL)
			return p;
	}
	return NULL;
}

static PmNatpmpClient *
upstream_client(PmGateway *self, PmProvider *upstream)
{
	const PmNatpmpConfig *natpmp = pm_natpmp_config(upstream->config);
	if (upstream->peer_address == 0)
		return NULL;
	return pm_context_lookup_natpmp_client(self->context, upstream->peer_address,
					       natpmp->port != 0 ? natpmp->port
								 : PM_NATPMP_SERVER_PORT);
}

/* a mapping of another origin (config, bus) at the same upstream gateway holds @port */
static gboolean
tunnel_taken_upstream(PmGateway *self, PmProvider *upstream, guint8 protocol, guint16 port)
{
	g_autoptr(GPtrArray) mappings = pm_manager_get_mappings(self->manager);
	for (guint i = 0; i < mappings->len; i++) {
		PmMapping *m = g_ptr_array_index(mappings, i);
		if (m->internal_port != port || (m->protocols & protocol) == 0 ||
		    m->provider == NULL)
			continue;
		/* one NAT-PMP client per gateway: providers sharing it share its ports */
		if (m->provider == upstream ||
		    (pm_natpmp_config(m->provider->config) != NULL &&
		     m->provider->peer_address == upstream->peer_address))
			return TRUE;
	}
	return FALSE;
}

/* the client's port when it is free in TunnelPorts=, else the next free one there */
static guint16
tunnel_allocate(PmGateway *self, PmProvider *upstream, guint8 protocol, guint16 wanted)
{
	guint first = self->config->tunnel_first;
	guint last = self->config->tunnel_last;
	guint span = last - first + 1;
	guint start = wanted >= first && wanted <= last ? wanted : first;

	for (guint i = 0; i < span; i++) {
		guint16 port = (guint16)(first + (start - first + i) % span);
		if (!tunnel_is_set(self, protocol, port) &&
		    !tunnel_taken_upstream(self, upstream, protocol, port))
			return port;
	}
	return 0;
}

static char *
lan_mapping_name(guint32 client, guint8 protocol, guint16 port)
{
	const guint8 *a = (const guint8 *)&client;
	return g_strdup_printf("lan-%u-%u-%u-%u-%s-%u", a[0], a[1], a[2], a[3],
			       pm_protocol_to_string(protocol), port);
}

static void
count_changed(PmGateway *self)
{
	guint n = self->server != NULL ? pm_lan_server_get_n_mappings(self->server) : 0;
	const char *names[] = {"GatewayMappings", NULL};

	if (n == self->n_announced)
		return;
	self->n_announced = n;
	pm_manager_extension_changed(self->manager, self->extension_id, names);
}

/* ---- the two layers ---- */

static void
entry_stop_waiting(GatewayEntry *entry)
{
	if (entry->wait_timer == NULL)
		return;
	pm_scheduler_disarm(entry->gateway->scheduler, entry->wait_timer);
	g_clear_pointer(&entry->wait_timer, g_free);
}

static void
rule_removed_cb(PmRouter *router, const GError *error, gpointer user_data)
{
	GatewayEntry *entry = user_data;
	PmGateway *self = entry->gateway;

	if (error != NULL && !g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
		g_warning("gateway: could not remove the router rule for %s port %u: %s",
			  pm_protocol_to_string(entry->rule.protocol), entry->rule.tunnel_port,
			  error->message);
	entry->n_ops--;
	self->n_rule_ops--;
	entry_maybe_free(entry);
	release_maybe_done(self);
}

static void
entry_remove_rule(GatewayEntry *entry)
{
	if (entry->rule_state != RULE_ADDED)
		return;
	entry->rule_state = RULE_NONE;
	entry->n_ops++;
	entry->gateway->n_rule_ops++;
	pm_router_remove_rule(entry->gateway->router, &entry->rule, rule_removed_cb, entry);
}

/* forgets the upstream mapping; @release: delete it upstream (the manager does) */
static void
entry_drop_mapping(GatewayEntry *entry, gboolean release)
{
	PmGateway *self = entry->gateway;
	guint64 id = entry->mapping_id;
	PmMapping *m;

	if (id == 0)
		return;
	/* first: the removal below tells our listener, which must not take it for ours */
	entry->mapping_id = 0;
	m = pm_manager_lookup_id(self->manager, id);
	if (m != NULL && release)
		pm_manager_remove_mapping(self->manager, m);
}

static void
entry_release_tunnel(GatewayEntry *entry)
{
	if (entry->rule.tunnel_port != 0 && !entry->same_port)
		tunnel_set(entry->gateway, entry->rule.protocol, entry->rule.tunnel_port, FALSE);
}

static void
entry_maybe_free(GatewayEntry *entry)
{
	if (entry->lan != NULL || entry->n_ops > 0 || entry->mapping_id != 0)
		return;
	entry_stop_waiting(entry);
	g_free(entry);
}

/* a new mapping that could not be made: roll back what exists and tell the client */
static void
entry_fail(GatewayEntry *entry, guint16 result)
{
	PmGateway *self = entry->gateway;
	PmLanMapping *lan = entry->lan;

	entry_stop_waiting(entry);
	entry_drop_mapping(entry, TRUE);
	entry_release_tunnel(entry);
	entry_remove_rule(entry); /* one being added is removed when that ends */
	entry->lan = NULL;
	if (lan != NULL) {
		lan->backend_data = NULL;
		pm_lan_server_map_done(self->server, lan, result, 0, 0);
	}
	entry_maybe_free(entry);
}

static void
rule_added(GatewayEntry *entry, const GError *error)
{
	PmGateway *self = entry->gateway;
	PmMapping *m;

	entry->n_ops--;
	if (entry->rule_state != RULE_ADDING) {
		entry_maybe_free(entry);
		return;
	}
	if (error != NULL) {
		entry->rule_state = RULE_NONE;
		if (!g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
			g_warning("gateway: could not add the router rule for %s port %u: %s",
				  pm_protocol_to_string(entry->rule.protocol),
				  entry->rule.tunnel_port, error->message);
		if (entry->lan != NULL && !entry->answered)
			entry_fail(entry, PM_NATPMP_RESULT_NETWORK_FAILURE);
		else if (entry->lan != NULL)
			pm_lan_server_remove_mapping(self->server, entry->lan);
		else
			entry_maybe_free(entry);
		return;
	}
	entry->rule_state = RULE_ADDED;
	if (entry->lan == NULL || self->releasing) {
		/* the client went while the rule was being added, or portmapd is stopping */
		entry_remove_rule(entry);
		entry_maybe_free(entry);
		return;
	}
	pm_manager_state_changed(self->manager);
	if (entry->answered)
		return;
	m = pm_manager_lookup_id(self->manager, entry->mapping_id);
	if (m == NULL) {
		entry_fail(entry, PM_NATPMP_RESULT_NETWORK_FAILURE);
		return;
	}
	entry_stop_waiting(entry);
	entry->answered = TRUE;
	pm_lan_server_map_done(self->server, entry->lan, PM_NATPMP_RESULT_SUCCESS,
			       pm_mapping_get_external_port(m), pm_mapping_get_expires(m));
}

static void
rule_added_cb(PmRouter *router, const GError *error, gpointer user_data)
{
	GatewayEntry *entry = user_data;
	PmGateway *self = entry->gateway;

	self->n_rule_ops--;
	rule_added(entry, error);
	release_maybe_done(self);
}

static void
entry_add_rule(GatewayEntry *entry)
{
	/* the upstream has answered: the rule is bounded by the router's own timeout (a
	 * MikroTik's Timeout=), and a slow router's rule is not rolled back half made */
	entry_stop_waiting(entry);
	entry->rule_state = RULE_ADDING;
	entry->n_ops++;
	entry->gateway->n_rule_ops++;
	pm_router_add_rule(entry->gateway->router, &entry->rule, rule_added_cb, entry);
}

static void
wait_timer_cb(PmTimer *timer, gpointer user_data)
{
	GatewayEntry *entry = user_data;

	entry_stop_waiting(entry);
	if (entry->answered || entry->lan == NULL)
		return;
	g_info("gateway: no upstream grant for %s port %u of a LAN client within %u s: "
	       "answering result 3",
	       pm_protocol_to_string(entry->rule.protocol), entry->lan->internal_port,
	       (guint)(UPSTREAM_WAIT_USEC / G_TIME_SPAN_SECOND));
	entry_fail(entry, PM_NATPMP_RESULT_NETWORK_FAILURE);
}

/* the upstream mapping changed: grant, renewal, port change, failure */
static void
entry_mapping_changed(GatewayEntry *entry, PmMapping *m)
{
	PmGateway *self = entry->gateway;
	guint16 external = pm_mapping_get_external_port(m);
	gboolean granted = (m->state == PM_MAPPING_STATE_ACTIVE ||
			    m->state == PM_MAPPING_STATE_RENEWING) &&
			   external != 0;

	/* stopping: no rule is added any more (those in flight go when they end) */
	if (entry->lan == NULL || self->stopping)
		return;
	if (m->state == PM_MAPPING_STATE_FAILED) {
		if (!entry->answered) {
			/* results 2 and 4 upstream are the client's 4: a port or resource
			 * refused; anything else is a network failure */
			gboolean refused = m->last_error != NULL &&
					   (g_str_has_prefix(m->last_error, "PortUnavailable") ||
					    g_str_has_prefix(m->last_error, "Refused"));
			entry_fail(entry, refused ? PM_NATPMP_RESULT_OUT_OF_RESOURCES
						  : PM_NATPMP_RESULT_NETWORK_FAILURE);
		} else {
			g_info("gateway: upstream mapping %s failed (%s): removing the LAN mapping",
			       m->name, m->last_error != NULL ? m->last_error : "");
			pm_lan_server_remove_mapping(self->server, entry->lan);
		}
		return;
	}
	if (!granted)
		return;
	if (entry->same_port && entry->rule.tunnel_port != external) {
		/* a SamePort upstream forwards E to E: the rule follows E */
		entry_remove_rule(entry);
		entry->rule.tunnel_port = external;
		if (entry->rule_state == RULE_NONE)
			entry_add_rule(entry);
	} else if (entry->rule_state == RULE_NONE && !entry->answered) {
		entry_add_rule(entry);
	}
	if (entry->answered)
		pm_lan_server_mapping_update(self->server, entry->lan, external,
					     pm_mapping_get_expires(m));
}

/* ---- the LAN server's backend ---- */

static void
backend_map(PmLanServer *server, PmLanMapping *lan, guint16 suggested, gpointer user_data)
{
	PmGateway *self = user_data;
	PmProvider *upstream = upstream_provider(self);
	g_autoptr(GError) error = NULL;
	g_autofree char *name = NULL;
	GatewayEntry *entry;
	PmMapping *m;
	guint16 tunnel;

	entry = g_new0(GatewayEntry, 1);
	entry->gateway = self;
	entry->lan = lan;
	entry->rule.protocol = lan->protocol;
	entry->rule.client_address = lan->client;
	entry->rule.client_port = lan->internal_port;
	lan->backend_data = entry;

	if (upstream == NULL || self->stopping) {
		entry_fail(entry, PM_NATPMP_RESULT_NETWORK_FAILURE);
		return;
	}
	entry->same_port = pm_natpmp_config(upstream->config)->same_port;
	if (entry->same_port) {
		/* T := E, known at the grant; the request's port is a placeholder */
		tunnel = lan->internal_port;
	} else {
		tunnel = tunnel_allocate(self, upstream, lan->protocol, lan->internal_port);
		if (tunnel == 0) {
			entry_fail(entry, PM_NATPMP_RESULT_OUT_OF_RESOURCES);
			return;
		}
		entry->rule.tunnel_port = tunnel;
		tunnel_set(self, lan->protocol, tunnel, TRUE);
	}
	name = lan_mapping_name(lan->client, lan->protocol, lan->internal_port);
	{
		PmAddRequest request = {
		    .provider = upstream->name,
		    .protocols = lan->protocol,
		    .internal_port = tunnel,
		    .external_port = suggested != 0 ? suggested : tunnel,
		    .scope = PM_SCOPE_RUNTIME,
		    .name = name,
		    .gateway = TRUE,
		    .lan_address = lan->client,
		    .lan_port = lan->internal_port,
		};
		m = pm_manager_add_mapping(self->manager, &request, &error);
	}
	if (m == NULL) {
		/* a SamePort upstream carries one mapping per protocol */
		gboolean full = g_error_matches(error, PM_ERROR, PM_ERROR_ALREADY_MAPPED);
		g_info("gateway: cannot map %s port %u upstream for a LAN client: %s",
		       pm_protocol_to_string(lan->protocol), lan->internal_port, error->message);
		entry_fail(entry, full ? PM_NATPMP_RESULT_OUT_OF_RESOURCES
				       : PM_NATPMP_RESULT_NETWORK_FAILURE);
		return;
	}
	entry->mapping_id = m->id;
	entry->wait_timer = g_new(PmTimer, 1);
	pm_timer_init(entry->wait_timer, wait_timer_cb, entry);
	pm_scheduler_arm(self->scheduler, entry->wait_timer,
			 pm_scheduler_now(self->scheduler) + UPSTREAM_WAIT_USEC);
	/* a grant may already be there (it never is synchronously today, but cheap) */
	entry_mapping_changed(entry, m);
}

static void
backend_unmap(PmLanServer *server, PmLanMapping *lan, gpointer user_data)
{
	GatewayEntry *entry = lan->backend_data;

	if (entry == NULL)
		return;
	lan->backend_data = NULL;
	entry->lan = NULL;
	entry_stop_waiting(entry);
	entry_drop_mapping(entry, TRUE);
	entry_release_tunnel(entry);
	entry_remove_rule(entry);
	pm_manager_state_changed(entry->gateway->manager);
	entry_maybe_free(entry);
}

static void
backend_send(PmLanServer *server, guint32 local, guint32 address, guint16 port,
	     const guint8 *buf, gsize len, gpointer user_data)
{
	PmGateway *self = user_data;
	if (self->socket != NULL)
		pm_lan_socket_send(self->socket, local, address, port, buf, len);
}

static void
backend_changed(PmLanServer *server, gpointer user_data)
{
	PmGateway *self = user_data;
	pm_manager_state_changed(self->manager);
	count_changed(self);
}

static const PmLanServerBackend lan_backend = {
    .map = backend_map,
    .unmap = backend_unmap,
    .send = backend_send,
    .changed = backend_changed,
};

static void
socket_receive(guint32 local, guint32 source, guint16 source_port, const guint8 *buf,
	       gsize len, gpointer user_data)
{
	PmGateway *self = user_data;
	pm_lan_server_receive(self->server, local, source, source_port, buf, len);
}

/* ---- the manager's side ---- */

/* the entry of a gateway Mapping object: through its client's LAN mapping */
static GatewayEntry *
entry_for_mapping(PmGateway *self, PmMapping *mapping)
{
	PmLanMapping *lan;
	GatewayEntry *entry;

	if (mapping->origin != PM_ORIGIN_GATEWAY || self->server == NULL)
		return NULL;
	lan = pm_lan_server_lookup(self->server, mapping->lan_address, mapping->protocols,
				   mapping->lan_port);
	entry = lan != NULL ? lan->backend_data : NULL;
	return entry != NULL && entry->mapping_id == mapping->id ? entry : NULL;
}

static void
on_mapping_changed(PmMapping *mapping, guint props, gpointer user_data)
{
	PmGateway *self = user_data;
	GatewayEntry *entry;

	entry = entry_for_mapping(self, mapping);
	if (entry != NULL)
		entry_mapping_changed(entry, mapping);
}

static void
on_mapping_removed(PmMapping *mapping, gpointer user_data)
{
	PmGateway *self = user_data;
	GatewayEntry *entry;

	entry = entry_for_mapping(self, mapping);
	if (entry == NULL)
		return;
	/* removed by someone else (portmapctl remove, a reload that dropped the provider):
	 * the LAN side goes too */
	entry_drop_mapping(entry, FALSE);
	if (self->stopping)
		return;
	if (entry->lan != NULL && entry->answered)
		pm_lan_server_remove_mapping(self->server, entry->lan);
	else if (entry->lan != NULL)
		entry_fail(entry, PM_NATPMP_RESULT_NETWORK_FAILURE);
}

static void
update_public_address(PmGateway *self)
{
	PmProvider *upstream = upstream_provider(self);
	guint32 address = upstream != NULL ? upstream->external_address : 0;

	if (address == self->public_address)
		return;
	self->public_address = address;
	if (self->server != NULL)
		pm_lan_server_set_public_address(self->server, address);
}

static void
on_manager_changed(guint props, gpointer user_data)
{
	PmGateway *self = user_data;
	if (props & (PM_MANAGER_PROP_PROVIDERS | PM_MANAGER_PROP_EXTERNAL_ADDRESS))
		update_public_address(self);
}

static const PmManagerListener manager_listener = {
    .mapping_changed = on_mapping_changed,
    .mapping_removed = on_mapping_removed,
    .manager_changed = on_manager_changed,
};

/* ---- reconciliation ---- */

static void
rule_orphan_removed_cb(PmRouter *router, const GError *error, gpointer user_data)
{
	if (error != NULL && !g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
		g_warning("gateway: could not remove an orphaned router rule: %s",
			  error->message);
}

/* rules are told apart by everything their comment says */
static char *
rule_key(PmGateway *self, const PmRouterRule *rule)
{
	return pm_router_rule_comment(self->instance, rule);
}

static void
reconcile_listed(PmRouter *router, GArray *rules, const GError *error, gpointer user_data)
{
	PmGateway *self = user_data;
	g_autoptr(GHashTable) ours = NULL;
	g_autoptr(GPtrArray) lans = NULL;

	/* a listing that was in flight at SIGTERM: the stop decides what goes */
	if (self->stopping)
		return;
	if (error != NULL) {
		if (!g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
			g_warning("gateway: cannot list the router's rules to reconcile them: %s",
				  error->message);
		return;
	}
	/* the rules our live mappings hold or are adding (in flight: kept) */
	ours = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	lans = pm_lan_server_get_mappings(self->server);
	for (guint i = 0; i < lans->len; i++) {
		GatewayEntry *entry = ((PmLanMapping *)g_ptr_array_index(lans, i))->backend_data;
		if (entry != NULL && entry->rule_state != RULE_NONE)
			g_hash_table_add(ours, rule_key(self, &entry->rule));
	}
	for (guint i = 0; i < rules->len; i++) {
		const PmRouterRule *rule = &g_array_index(rules, PmRouterRule, i);
		g_autofree char *comment = rule_key(self, rule);

		if (g_hash_table_remove(ours, comment))
			continue;
		g_info("gateway: removing the orphaned router rule \"%s\"", comment);
		pm_router_remove_rule(self->router, rule, rule_orphan_removed_cb, self);
	}
	/* what is left is ours but missing on the router (a flushed ruleset): added again */
	for (guint i = 0; i < lans->len; i++) {
		GatewayEntry *entry = ((PmLanMapping *)g_ptr_array_index(lans, i))->backend_data;
		g_autofree char *comment = NULL;

		if (entry == NULL || entry->rule_state != RULE_ADDED)
			continue;
		comment = rule_key(self, &entry->rule);
		if (g_hash_table_contains(ours, comment)) {
			g_info("gateway: the router lost the rule for %s port %u: adding it again",
			       pm_protocol_to_string(entry->rule.protocol),
			       entry->rule.tunnel_port);
			entry_add_rule(entry);
		}
	}
}

static void
reconcile_timer_cb(PmTimer *timer, gpointer user_data)
{
	PmGateway *self = user_data;
	if (self->stopping)
		return;
	pm_router_list_rules(self->router, reconcile_listed, self);
	pm_scheduler_arm(self->scheduler, &self->reconcile_timer,
			 pm_scheduler_now(self->scheduler) + self->config->reconcile_interval_usec);
}

static void
epoch_timer_cb(PmTimer *timer, gpointer user_data)
{
	PmGateway *self = user_data;
	PmProvider *upstream = upstream_provider(self);
	PmNatpmpClient *client = upstream != NULL ? upstream_client(self, upstream) : NULL;

	if (client != NULL)
		pm_natpmp_client_request_public_address(client);
	pm_scheduler_arm(self->scheduler, &self->epoch_timer,
			 pm_scheduler_now(self->scheduler) + EPOCH_CHECK_USEC);
}

/* ---- the extension ---- */

static GVariant *
get_gateway_mappings(gpointer user_data)
{
	PmGateway *self = user_data;
	return g_variant_new_uint32(self->server != NULL ? pm_lan_server_get_n_mappings(self->server)
							 : 0);
}

static const PmManagerProperty gateway_properties[] = {
    {"GatewayMappings", "u", TRUE, get_gateway_mappings},
    {NULL},
};

static gint
compare_lan(gconstpointer a, gconstpointer b)
{
	const PmLanMapping *x = *(PmLanMapping *const *)a;
	const PmLanMapping *y = *(PmLanMapping *const *)b;
	if (x->client != y->client)
		return ntohl(x->client) < ntohl(y->client) ? -1 : 1;
	if (x->protocol != y->protocol)
		return x->protocol < y->protocol ? -1 : 1;
	return (gint)x->internal_port - (gint)y->internal_port;
}

static void
describe_lan_mapping(PmGateway *self, PmJsonWriter *w, PmLanMapping *lan, gboolean for_state)
{
	GatewayEntry *entry = lan->backend_data;
	g_autofree char *client = pm_ipv4_to_string(lan->client);
	guint64 now = pm_scheduler_now(self->scheduler);

	pm_json_begin_object(w);
	if (!for_state) {
		g_autofree char *name =
		    lan_mapping_name(lan->client, lan->protocol, lan->internal_port);
		pm_json_member_string(w, "Name", name);
		pm_json_member_string(w, "State",
				      lan->state == PM_LAN_MAPPING_ACTIVE ? "active" : "pending");
	}
	pm_json_member_string(w, "Client", client);
	pm_json_member_string(w, "Protocol", pm_protocol_to_string(lan->protocol));
	pm_json_member_uint(w, "InternalPort", lan->internal_port);
	pm_json_member_uint(w, "TunnelPort", entry != NULL ? entry->rule.tunnel_port : 0);
	pm_json_member_uint(w, "ExternalPort", lan->external_port);
	pm_json_member_uint(w, "ExpiresAt",
			    lan->expires > now ? pm_scheduler_to_realtime(self->scheduler,
									  lan->expires)
					       : 0);
	pm_json_end_object(w);
}

static void
gateway_describe(PmJsonWriter *w, gpointer user_data)
{
	PmGateway *self = user_data;
	g_autoptr(GPtrArray) lans = NULL;
	g_autofree char *public_address = pm_ipv4_to_string(self->public_address);
	PmLanServerStats stats = {0};
	const char *router_error;

	pm_json_member_uint(w, "GatewayMappings",
			    self->server != NULL ? pm_lan_server_get_n_mappings(self->server) : 0);
	pm_json_member(w, "Gateway");
	pm_json_begin_object(w);
	pm_json_member(w, "Listen");
	pm_json_begin_array(w);
	for (guint i = 0; i < self->config->listen->len; i++) {
		g_autofree char *a =
		    pm_ipv4_to_string(g_array_index(self->config->listen, guint32, i));
		pm_json_string(w, a);
	}
	pm_json_end_array(w);
	pm_json_member_string(w, "Upstream", self->config->upstream);
	pm_json_member_string(w, "Router", self->config->router);
	pm_json_member(w, "RouterInterface");
	if (self->router != NULL && self->router->in_interface != NULL)
		pm_json_string(w, self->router->in_interface);
	else
		pm_json_null(w);
	pm_json_member(w, "RouterError");
	router_error = self->router != NULL ? pm_router_get_error(self->router) : NULL;
	if (router_error != NULL)
		pm_json_string(w, router_error);
	else
		pm_json_null(w);
	pm_json_member_string(w, "InstanceName", self->instance);
	pm_json_member_string(w, "PublicAddress", public_address);
	pm_json_member_uint(w, "Epoch",
			    self->server != NULL ? pm_lan_server_get_epoch(self->server) : 0);
	if (self->server != NULL)
		pm_lan_server_get_stats(self->server, &stats);
	pm_json_member(w, "Requests");
	pm_json_begin_object(w);
	pm_json_member_uint(w, "Received", stats.received);
	pm_json_member_uint(w, "Answered", stats.answered);
	pm_json_member_uint(w, "NotAllowed", stats.ignored_not_allowed);
	pm_json_member_uint(w, "RateLimited", stats.dropped_rate_limit);
	pm_json_member_uint(w, "Malformed", stats.ignored_malformed);
	pm_json_end_object(w);
	pm_json_member(w, "Mappings");
	pm_json_begin_array(w);
	if (self->server != NULL) {
		lans = pm_lan_server_get_mappings(self->server);
		g_ptr_array_sort(lans, compare_lan);
		for (guint i = 0; i < lans->len; i++)
			describe_lan_mapping(self, w, g_ptr_array_index(lans, i), FALSE);
	}
	pm_json_end_array(w);
	pm_json_end_object(w);
}

static void
gateway_state_save(PmJsonWriter *w, gpointer user_data)
{
	PmGateway *self = user_data;
	g_autoptr(GPtrArray) lans = NULL;
	guint64 origin = 0;

	if (self->server != NULL) {
		origin = pm_scheduler_to_realtime(self->scheduler,
						  pm_lan_server_get_epoch_origin(self->server));
		lans = pm_lan_server_get_mappings(self->server);
		g_ptr_array_sort(lans, compare_lan);
	}
	pm_json_member(w, "LANServer");
	pm_json_begin_object(w);
	pm_json_member_uint(w, "Epoch",
			    self->server != NULL ? pm_lan_server_get_epoch(self->server) : 0);
	pm_json_member_uint(w, "EpochOrigin", origin);
	pm_json_member(w, "Mappings");
	pm_json_begin_object(w);
	for (guint i = 0; lans != NULL && i < lans->len; i++) {
		PmLanMapping *lan = g_ptr_array_index(lans, i);
		g_autofree char *name = NULL;
		if (lan->state != PM_LAN_MAPPING_ACTIVE)
			continue;
		name = lan_mapping_name(lan->client, lan->protocol, lan->internal_port);
		pm_json_member(w, name);
		describe_lan_mapping(self, w, lan, TRUE);
	}
	pm_json_end_object(w);
	pm_json_end_object(w);
	pm_json_member(w, "RouterRules");
	pm_json_begin_array(w);
	for (guint i = 0; lans != NULL && i < lans->len; i++) {
		PmLanMapping *lan = g_ptr_array_index(lans, i);
		GatewayEntry *entry = lan->backend_data;
		g_autofree char *comment = NULL;
		if (entry == NULL || entry->rule_state != RULE_ADDED)
			continue;
		comment = pm_router_rule_comment(self->instance, &entry->rule);
		pm_json_string(w, comment);
	}
	pm_json_end_array(w);
}

static void
restored_mapping_free(gpointer data)
{
	RestoredMapping *r = data;
	g_free(r->name);
	g_free(r);
}

static gboolean
read_uint(JsonObject *o, const char *member, guint64 max, guint64 *out)
{
	JsonNode *node = json_object_get_member(o, member);
	gint64 v;
	if (node == NULL || !JSON_NODE_HOLDS_VALUE(node) ||
	    json_node_get_value_type(node) != G_TYPE_INT64)
		return FALSE;
	v = json_node_get_int(node);
	if (v < 0 || (guint64)v > max)
		return FALSE;
	*out = (guint64)v;
	return TRUE;
}

static void
gateway_state_load(JsonObject *root, gpointer user_data)
{
	PmGateway *self = user_data;
	JsonObject *lan_server;
	JsonObject *mappings;
	g_autoptr(GList) names = NULL;
	guint64 origin = 0;

	if (root == NULL || !json_object_has_member(root, "LANServer"))
		return;
	lan_server = json_object_get_object_member(root, "LANServer");
	if (lan_server == NULL)
		return;
	if (read_uint(lan_server, "EpochOrigin", G_MAXINT64, &origin))
		self->restored_epoch_origin = origin;
	if (!json_object_has_member(lan_server, "Mappings"))
		return;
	mappings = json_object_get_object_member(lan_server, "Mappings");
	if (mappings == NULL)
		return;
	names = json_object_get_members(mappings);
	for (GList *l = names; l != NULL; l = l->next) {
		JsonNode *node = json_object_get_member(mappings, l->data);
		JsonObject *o = JSON_NODE_HOLDS_OBJECT(node) ? json_node_get_object(node) : NULL;
		const char *client;
		const char *proto;
		guint64 iport = 0, tport = 0, eport = 0, expires = 0;
		RestoredMapping *r;
		guint32 address;

		if (o == NULL)
			continue;
		client = json_object_get_string_member_with_default(o, "Client", "");
		proto = json_object_get_string_member_with_default(o, "Protocol", "");
		if (inet_pton(AF_INET, client, &address) != 1 ||
		    (g_strcmp0(proto, "tcp") != 0 && g_strcmp0(proto, "udp") != 0) ||
		    !read_uint(o, "InternalPort", 65535, &iport) || iport == 0 ||
		    !read_uint(o, "TunnelPort", 65535, &tport) ||
		    !read_uint(o, "ExternalPort", 65535, &eport) ||
		    !read_uint(o, "ExpiresAt", G_MAXINT64, &expires)) {
			g_warning("state: ignoring the malformed LAN mapping '%s'",
				  (const char *)l->data);
			continue;
		}
		r = g_new0(RestoredMapping, 1);
		r->name = g_strdup(l->data);
		r->client = address;
		r->protocol = g_strcmp0(proto, "tcp") == 0 ? PM_PROTOCOL_TCP : PM_PROTOCOL_UDP;
		r->internal_port = (guint16)iport;
		r->tunnel_port = (guint16)tport;
		r->external_port = (guint16)eport;
		r->expires_realtime = expires;
		g_ptr_array_add(self->restored, r);
	}
}

static const PmManagerExtension gateway_extension = {
    .name = "gateway",
    .properties = gateway_properties,
    .describe = gateway_describe,
    .state_save = gateway_state_save,
    .state_load = gateway_state_load,
};

const PmManagerExtension *
pm_gateway_get_extension(void)
{
	return &gateway_extension;
}

/* ---- life ---- */

PmGateway *
pm_gateway_new(PmManager *manager, PmContext *context, PmGatewayConfig *config)
{
	PmGateway *self = g_new0(PmGateway, 1);

	self->manager = manager;
	self->context = context;
	self->scheduler = pm_context_get_scheduler(context);
	self->config = pm_gateway_config_ref(config);
	self->instance = pm_gateway_config_get_instance(config);
	self->tunnel_used[0] = g_malloc0(65536 / 8);
	self->tunnel_used[1] = g_malloc0(65536 / 8);
	self->restored = g_ptr_array_new_with_free_func(restored_mapping_free);
	pm_timer_init(&self->reconcile_timer, reconcile_timer_cb, self);
	pm_timer_init(&self->release_timer, release_timer_cb, self);
	pm_timer_init(&self->epoch_timer, epoch_timer_cb, self);
	self->extension_id = pm_manager_add_extension(manager, &gateway_extension, self);
	self->listener_id = pm_manager_add_listener(manager, &manager_listener, self);
	return self;
}

static gboolean
find_in_interface(PmProvider *upstream, char *ifname, GError **error)
{
	PmDefaultRoute route = {0};
	g_autofree char *gateway = pm_ipv4_to_string(upstream->peer_address);

	if (upstream->peer_address == 0) {
		g_set_error(error, PM_ERROR, PM_ERROR_GATEWAY_UNREACHABLE,
			    "[Gateway] Upstream=%s has no gateway address yet: set Gateway= in "
			    "[Provider %s]",
			    upstream->name, upstream->name);
		return FALSE;
	}
	if (!pm_route_query(upstream->peer_address, getuid(), &route, error)) {
		g_prefix_error(error, "cannot find the interface toward the upstream gateway %s: ",
			       gateway);
		return FALSE;
	}
	if (route.ifindex == 0 || if_indextoname(route.ifindex, ifname) == NULL) {
		g_set_error(error, PM_ERROR, PM_ERROR_GATEWAY_UNREACHABLE,
			    "cannot find the interface toward the upstream gateway %s", gateway);
		return FALSE;
	}
	return TRUE;
}

static void
restore_mappings(PmGateway *self, PmProvider *upstream)
{
	guint64 now = pm_scheduler_now(self->scheduler);
	guint64 now_real = pm_scheduler_to_realtime(self->scheduler, now);

	for (guint i = 0; i < self->restored->len; i++) {
		RestoredMapping *r = g_ptr_array_index(self->restored, i);
		g_autoptr(GError) error = NULL;
		PmLanMapping *lan;
		GatewayEntry *entry;
		PmMapping *m;

		if (r->expires_realtime <= now_real || r->tunnel_port == 0)
			continue; /* expired meanwhile: reconciliation removes its rule */
		if (pm_lan_server_lookup(self->server, r->client, r->protocol, r->internal_port))
			continue;
		lan = pm_lan_server_restore_mapping(self->server, r->client, r->protocol,
						    r->internal_port, r->external_port,
						    now + (r->expires_realtime - now_real));
		entry = g_new0(GatewayEntry, 1);
		entry->gateway = self;
		entry->lan = lan;
		entry->answered = TRUE;
		entry->same_port = pm_natpmp_config(upstream->config)->same_port;
		entry->rule.protocol = r->protocol;
		entry->rule.client_address = r->client;
		entry->rule.client_port = r->internal_port;
		entry->rule.tunnel_port = r->tunnel_port;
			lan->backend_data = entry;
		if (!entry->same_port)
			tunnel_set(self, r->protocol, r->tunnel_port, TRUE);
		{
			PmAddRequest request = {
			    .provider = upstream->name,
			    .protocols = r->protocol,
			    .internal_port = r->tunnel_port,
			    .external_port = r->external_port,
			    .scope = PM_SCOPE_RUNTIME,
			    .name = r->name,
			    .gateway = TRUE,
			    .lan_address = r->client,
			    .lan_port = r->internal_port,
			};
			m = pm_manager_add_mapping(self->manager, &request, &error);
		}
		if (m == NULL) {
			g_warning("gateway: cannot restore the LAN mapping %s: %s", r->name,
				  error->message);
			pm_lan_server_remove_mapping(self->server, lan);
			continue;
		}
		entry->mapping_id = m->id;
		/* the rule may have survived (kill -9): adding it again is idempotent */
		entry_add_rule(entry);
		g_info("gateway: restored LAN mapping %s (tunnel port %u, external port %u)",
		       r->name, r->tunnel_port, r->external_port);
	}
	g_ptr_array_set_size(self->restored, 0);
}

gboolean
pm_gateway_start(PmGateway *self, GError **error)
{
	PmProvider *upstream = upstream_provider(self);
	char ifname[IF_NAMESIZE] = "";
	guint64 now = pm_scheduler_now(self->scheduler);
	guint64 epoch_origin = 0;
	const PmMikrotikConfig *mikrotik = self->config->mikrotik;
	const PmRouterClass *klass = mikrotik != NULL ? &pm_router_mikrotik_class
						       : pm_router_class_lookup(self->config->router);
	g_autoptr(PmSecret) password = NULL;

	if (upstream == NULL) {
		g_set_error(error, PM_ERROR, PM_ERROR_INVALID_CONFIGURATION,
			    "[Gateway] Upstream=%s is not a running NAT-PMP provider",
			    self->config->upstream);
		return FALSE;
	}
	if (mikrotik != NULL) {
		/* the router finds its own interface: portmapd may run on a host behind it */
		password = pm_context_load_secret(self->context, mikrotik->password_credential,
						  mikrotik->password_file, error);
		if (password == NULL) {
			g_prefix_error(error, "[MikroTik %s]: ", mikrotik->name);
			return FALSE;
		}
	} else if (!find_in_interface(upstream, ifname, error)) {
		return FALSE;
	}
	{
		PmRouterSetup setup = {
		    .instance = self->instance,
		    .in_interface = ifname,
		    .nft_table = self->config->nft_table,
		    .mikrotik = mikrotik,
		    .password = password,
		    .upstream_gateway = upstream->peer_address,
		};
		self->router = pm_router_new(klass, self->scheduler, &setup, error);
		if (self->router == NULL)
			return FALSE;
	}
	if (self->restored_epoch_origin != 0) {
		guint64 now_real = pm_scheduler_to_realtime(self->scheduler, now);
		guint64 age = now_real > self->restored_epoch_origin
				  ? now_real - self->restored_epoch_origin
				  : 0;
		/* the epoch goes on only with the mappings it numbers (RFC 6886 §3.6) */
		if (self->restored->len > 0 && age < now)
			epoch_origin = now - age;
	}
	{
		PmLanServerConfig config = {
		    .listen = (const guint32 *)self->config->listen->data,
		    .n_listen = self->config->listen->len,
		    .allowed = (const PmIpv4Network *)self->config->allowed->data,
		    .n_allowed = self->config->allowed->len,
		    .min_lifetime = self->config->min_lifetime,
		    .max_lifetime = self->config->max_lifetime,
		    .max_mappings_per_client = self->config->max_mappings_per_client,
		    .rate_limit = self->config->rate_limit,
		};
		self->server =
		    pm_lan_server_new(self->scheduler, &config, &lan_backend, self, epoch_origin);
	}
	self->socket = pm_lan_socket_new((const guint32 *)self->config->listen->data,
					 self->config->listen->len, PM_NATPMP_SERVER_PORT,
					 socket_receive, self, error);
	if (self->socket == NULL)
		return FALSE;
	self->started = TRUE;
	restore_mappings(self, upstream);
	self->public_address = upstream->external_address;
	pm_lan_server_set_public_address(self->server, self->public_address);
	pm_lan_server_announce(self->server);
	g_info("gateway: serving NAT-PMP on %u address(es) for %u network(s), upstream %s, "
	       "router %s (rules on %s, instance %s)",
	       self->config->listen->len, self->config->allowed->len, upstream->name,
	       self->config->router,
	       mikrotik == NULL		       ? ifname
	       : mikrotik->in_interface != NULL ? mikrotik->in_interface
						: "the router's route toward the upstream",
	       self->instance);
	/* reconciliation at start (after the restored rules are re-added), then periodically */
	pm_scheduler_arm(self->scheduler, &self->reconcile_timer, now);
	pm_scheduler_arm(self->scheduler, &self->epoch_timer, now + EPOCH_CHECK_USEC);
	count_changed(self);
	return TRUE;
}

static void
release_finish(PmGateway *self)
{
	PmProviderDoneFunc done = self->release_done;

	pm_scheduler_disarm(self->scheduler, &self->release_timer);
	self->release_done = NULL;
	if (done != NULL)
		done(self->release_done_data);
}

/* the stop waits for every rule removal: leaving the main loop earlier would cancel the
 * router calls in flight and leave their rules behind */
static void
release_maybe_done(PmGateway *self)
{
	if (self->release_done != NULL && self->n_rule_ops == 0)
		release_finish(self);
}

static void
release_timer_cb(PmTimer *timer, gpointer user_data)
{
	PmGateway *self = user_data;

	g_warning("gateway: stopping took too long: exiting with %u router rule operation%s "
		  "still unanswered (reconciliation removes their rules at the next start)",
		  self->n_rule_ops, self->n_rule_ops == 1 ? "" : "s");
	release_finish(self);
}

void
pm_gateway_stop(PmGateway *self, gboolean release, PmProviderDoneFunc done, gpointer user_data)
{
	g_autoptr(GPtrArray) lans = NULL;

	g_return_if_fail(!self->stopping);
	self->stopping = TRUE;
	self->release_done = done;
	self->release_done_data = user_data;
	g_clear_pointer(&self->socket, pm_lan_socket_free);
	pm_scheduler_disarm(self->scheduler, &self->reconcile_timer);
	pm_scheduler_disarm(self->scheduler, &self->epoch_timer);
	if (!release || self->router == NULL || self->server == NULL) {
		release_finish(self);
		return;
	}
	self->releasing = TRUE;
	pm_scheduler_arm(self->scheduler, &self->release_timer,
			 pm_scheduler_now(self->scheduler) + PM_MANAGER_STOP_TIMEOUT_USEC);
	/* a rule is ADDED only while its LAN mapping lives */
	lans = pm_lan_server_get_mappings(self->server);
	for (guint i = 0; i < lans->len; i++) {
		GatewayEntry *entry = ((PmLanMapping *)g_ptr_array_index(lans, i))->backend_data;
		if (entry != NULL)
			entry_remove_rule(entry);
	}
	release_maybe_done(self);
}

void
pm_gateway_reload(PmGateway *self, PmGatewayConfig *config)
{
	if (!pm_gateway_config_equal(self->config, config))
		g_warning("[Gateway] changed: restart portmapd to apply it (LAN mappings are "
			  "kept in state and re-adopted)");
}

void
pm_gateway_free(PmGateway *self)
{
	if (self == NULL)
		return;
	pm_manager_remove_listener(self->manager, self->listener_id);
	g_clear_pointer(&self->socket, pm_lan_socket_free);
	pm_scheduler_disarm(self->scheduler, &self->reconcile_timer);
	pm_scheduler_disarm(self->scheduler, &self->epoch_timer);
	pm_scheduler_disarm(self->scheduler, &self->release_timer);
	/* the LAN server frees its mappings without unmap(): their entries are let go here,
	 * freed now or, when router operations still hold them, by those operations'
	 * cancellation below */
	if (self->server != NULL) {
		g_autoptr(GPtrArray) lans = pm_lan_server_get_mappings(self->server);
		for (guint i = 0; i < lans->len; i++) {
			PmLanMapping *lan = g_ptr_array_index(lans, i);
			GatewayEntry *entry = lan->backend_data;

			if (entry == NULL)
				continue;
			lan->backend_data = NULL;
			entry->lan = NULL;
			entry->mapping_id = 0;
			entry->rule_state = RULE_NONE;
			entry_maybe_free(entry);
		}
	}
	g_clear_pointer(&self->server, pm_lan_server_free);
	g_clear_pointer(&self->router, pm_router_free);
	g_free(self->tunnel_used[0]);
	g_free(self->tunnel_used[1]);
	g_ptr_array_unref(self->restored);
	g_free(self->instance);
	pm_gateway_config_unref(self->config);
	g_free(self);
}
