/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "gateway-config.h"

#include <arpa/inet.h>
#include <unistd.h>

#include "address.h"
#include "errors.h"
#include "mikrotik-config.h"
#include "natpmp-provider.h"
#include "router.h"

static PmGatewayConfig *
gateway_config_new(void)
{
	PmGatewayConfig *self = g_new0(PmGatewayConfig, 1);

	self->ref_count = 1;
	self->listen = g_array_new(FALSE, FALSE, sizeof(guint32));
	self->allowed = g_array_new(FALSE, FALSE, sizeof(PmIpv4Network));
	self->tunnel_first = 1024;
	self->tunnel_last = 65535;
	self->nft_table = g_strdup(PM_GATEWAY_DEFAULT_NFT_TABLE);
	self->reconcile_interval_usec = PM_GATEWAY_DEFAULT_RECONCILE_USEC;
	self->min_lifetime = PM_GATEWAY_DEFAULT_MIN_LIFETIME;
	self->max_lifetime = PM_GATEWAY_DEFAULT_MAX_LIFETIME;
	self->max_mappings_per_client = PM_GATEWAY_DEFAULT_MAX_MAPPINGS_PER_CLIENT;
	self->rate_limit = PM_GATEWAY_DEFAULT_RATE_LIMIT;
	return self;
}

PmGatewayConfig *
pm_gateway_config_ref(PmGatewayConfig *self)
{
	g_atomic_int_inc(&self->ref_count);
	return self;
}

void
pm_gateway_config_unref(PmGatewayConfig *self)
{
	if (self == NULL || !g_atomic_int_dec_and_test(&self->ref_count))
		return;
	g_array_unref(self->listen);
	g_array_unref(self->allowed);
	g_free(self->upstream);
	g_free(self->router);
	g_clear_pointer(&self->mikrotik, pm_mikrotik_config_unref);
	g_free(self->instance_name);
	g_free(self->nft_table);
	g_free(self);
}

char *
pm_gateway_config_get_instance(const PmGatewayConfig *self)
{
	char host[256] = "";

	if (self->instance_name != NULL)
		return g_strdup(self->instance_name);
	if (gethostname(host, sizeof(host) - 1) != 0 || !pm_router_instance_is_valid(host))
		return g_strdup("portmapd");
	return g_strdup(host);
}

/* ---- keys ---- */

static gboolean
parse_listen(PmConfigSection *section, const PmConfigEntry *entry, gpointer field,
	     GError **error)
{
	GArray *listen = *(GArray **)field;
	g_auto(GStrv) items = pm_split_list(entry->value);

	g_array_set_size(listen, 0);
	for (guint i = 0; items[i] != NULL; i++) {
		guint32 address;
		if (inet_pton(AF_INET, items[i], &address) != 1 || address == 0 ||
		    address == htonl(INADDR_BROADCAST)) {
			pm_config_section_set_error(section, entry, "not a unicast IPv4 address",
						    "the router's LAN IPv4 addresses, e.g. "
						    "192.168.1.1, separated by commas or spaces",
						    error);
			return FALSE;
		}
		g_array_append_val(listen, address);
	}
	return TRUE;
}

static gboolean
parse_networks(PmConfigSection *section, const PmConfigEntry *entry, gpointer field,
	       GError **error)
{
	GArray *allowed = *(GArray **)field;
	g_auto(GStrv) items = pm_split_list(entry->value);

	g_array_set_size(allowed, 0);
	for (guint i = 0; items[i] != NULL; i++) {
		PmIpv4Network network;
		if (!pm_ipv4_network_parse(items[i], &network)) {
			pm_config_section_set_error(section, entry, "not an IPv4 network",
						    "networks as ADDRESS/PREFIX (192.168.1.0/24) "
						    "or addresses, separated by commas or spaces",
						    error);
			return FALSE;
		}
		g_array_append_val(allowed, network);
	}
	return TRUE;
}

static gboolean
parse_tunnel_ports(PmConfigSection *section, const PmConfigEntry *entry, gpointer field,
		   GError **error)
{
	PmGatewayConfig *self = field;
	g_auto(GStrv) ends = g_strsplit(entry->value, "-", 3);
	guint16 first = 0;
	guint16 last = 0;

	if (g_strv_length(ends) != 2 || !pm_parse_port(g_strstrip(ends[0]), &first) ||
	    !pm_parse_port(g_strstrip(ends[1]), &last) || first > last) {
		pm_config_section_set_error(section, entry, "not a port range",
					    "FIRST-LAST with 1 <= FIRST <= LAST <= 65535, e.g. "
					    "1024-65535",
					    error);
		return FALSE;
	}
	self->tunnel_first = first;
	self->tunnel_last = last;
	return TRUE;
}

static gboolean
parse_instance(PmConfigSection *section, const PmConfigEntry *entry, gpointer field,
	       GError **error)
{
	if (!pm_router_instance_is_valid(entry->value)) {
		pm_config_section_set_error(section, entry, "not a valid instance name",
					    "1 to 64 characters of A-Z a-z 0-9 _ - .", error);
		return FALSE;
	}
	return pm_config_parse_string(section, entry, field, error);
}

static gboolean
parse_nft_table(PmConfigSection *section, const PmConfigEntry *entry, gpointer field,
		GError **error)
{
	gboolean ok = entry->value[0] != '\0' && strlen(entry->value) <= 64 &&
		      g_ascii_isalpha(entry->value[0]);

	for (const char *p = entry->value; ok && *p != '\0'; p++)
		ok = g_ascii_isalnum(*p) || *p == '_';
	if (!ok) {
		pm_config_section_set_error(section, entry, "not a valid nftables table name",
					    "a letter then letters, digits or _, at most 64", error);
		return FALSE;
	}
	return pm_config_parse_string(section, entry, field, error);
}

static gboolean
parse_count(PmConfigSection *section, const PmConfigEntry *entry, gpointer field,
	    GError **error)
{
	guint64 value = 0;

	if (!g_ascii_string_to_unsigned(entry->value, 10, 1, 1000000000, &value, NULL)) {
		pm_config_section_set_error(section, entry, "not a count",
					    "a whole number from 1 to 1000000000", error);
		return FALSE;
	}
	*(guint *)field = (guint)value;
	return TRUE;
}

static gboolean
parse_reconcile(PmConfigSection *section, const PmConfigEntry *entry, gpointer field,
		GError **error)
{
	return pm_config_section_get_duration(section, entry, G_USEC_PER_SEC, field, error);
}

static const PmConfigKey gateway_keys[] = {
    {"Listen", parse_listen, G_STRUCT_OFFSET(PmGatewayConfig, listen)},
    {"AllowedNetworks", parse_networks, G_STRUCT_OFFSET(PmGatewayConfig, allowed)},
    {"Upstream", pm_config_parse_string, G_STRUCT_OFFSET(PmGatewayConfig, upstream)},
    {"Router", pm_config_parse_string, G_STRUCT_OFFSET(PmGatewayConfig, router)},
    {"TunnelPorts", parse_tunnel_ports, 0},
    {"InstanceName", parse_instance, G_STRUCT_OFFSET(PmGatewayConfig, instance_name)},
    {"NftTable", parse_nft_table, G_STRUCT_OFFSET(PmGatewayConfig, nft_table)},
    {"ReconcileInterval", parse_reconcile,
     G_STRUCT_OFFSET(PmGatewayConfig, reconcile_interval_usec)},
    {"MinLifetime", pm_config_parse_lifetime, G_STRUCT_OFFSET(PmGatewayConfig, min_lifetime)},
    {"MaxLifetime", pm_config_parse_lifetime, G_STRUCT_OFFSET(PmGatewayConfig, max_lifetime)},
    {"MaxMappingsPerClient", parse_count,
     G_STRUCT_OFFSET(PmGatewayConfig, max_mappings_per_client)},
    {"RateLimit", parse_count, G_STRUCT_OFFSET(PmGatewayConfig, rate_limit)},
    {NULL},
};

PmGatewayConfig *
pm_gateway_config_parse(PmConfigSection *section, const PmConfig *config, GError **error)
{
	g_autoptr(PmGatewayConfig) self = gateway_config_new();
	const PmProviderConfig *upstream;
	g_autofree char *routers = NULL;

	if (!pm_config_section_parse_keys(section, gateway_keys, self, error))
		return NULL;
	/* required, no defaults: an open NAT-PMP server on the wrong side would map for
	 * anyone (RFC 6886 §3.3: never on the external interface) */
	if (self->listen->len == 0) {
		pm_config_section_set_key_error(section, "Listen", "", "required",
						"the router's LAN IPv4 addresses", error);
		return NULL;
	}
	if (self->allowed->len == 0) {
		pm_config_section_set_key_error(section, "AllowedNetworks", "", "required",
						"the LAN networks whose clients may map ports, e.g. "
						"192.168.1.0/24",
						error);
		return NULL;
	}
	if (self->upstream == NULL || self->upstream[0] == '\0') {
		pm_config_section_set_key_error(section, "Upstream", "", "required",
						"the name of a [Provider NAME] with Type=natpmp "
						"(the VPN gateway)",
						error);
		return NULL;
	}
	upstream = pm_config_find_provider(config, self->upstream);
	if (upstream == NULL || pm_natpmp_config(upstream) == NULL) {
		pm_config_section_set_error(section, pm_config_section_lookup(section, "Upstream"),
					    upstream == NULL ? "there is no such provider"
							     : "the provider is not of Type=natpmp",
					    "the name of a [Provider NAME] with Type=natpmp", error);
		return NULL;
	}
	{
		g_autofree char *classes = pm_router_class_list_types(", ");
		g_autofree char *mikrotiks = pm_config_mikrotik_names(config);
		/* -Dnftables=disabled: no class, the [MikroTik NAME]s alone */
		gboolean none = classes[0] == '\0';
		routers = mikrotiks != NULL
			      ? g_strdup_printf("%s%s%s", classes, none ? "" : ", ", mikrotiks)
			      : g_strdup_printf("%s%sthe NAME of a [MikroTik NAME]", classes,
						none ? "" : ", or ");
	}
	if (self->router == NULL || self->router[0] == '\0') {
		pm_config_section_set_key_error(section, "Router", "", "required", routers, error);
		return NULL;
	}
	/* a [MikroTik NAME] first: a router named like a class is the one the user wrote */
	self->mikrotik = pm_config_find_mikrotik(config, self->router);
	if (self->mikrotik != NULL)
		pm_mikrotik_config_ref(self->mikrotik);
	else if (pm_router_class_lookup(self->router) == NULL) {
		pm_config_section_set_error(section, pm_config_section_lookup(section, "Router"),
					    pm_router_class_is_left_out(self->router)
						? "this portmapd was built without it "
						  "(-Dnftables=disabled, as the container image is)"
						: "no such router",
					    routers, error);
		return NULL;
	}
	if (self->min_lifetime > self->max_lifetime) {
		pm_config_section_set_error(section,
					    pm_config_section_lookup(section, "MinLifetime"),
					    "MinLifetime= is greater than MaxLifetime=",
					    "a lifetime no greater than MaxLifetime=", error);
		return NULL;
	}
	return g_steal_pointer(&self);
}

static gboolean
arrays_equal(GArray *a, GArray *b, gsize element_size)
{
	return a->len == b->len && memcmp(a->data, b->data, a->len * element_size) == 0;
}

gboolean
pm_gateway_config_equal(const PmGatewayConfig *a, const PmGatewayConfig *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return arrays_equal(a->listen, b->listen, sizeof(guint32)) &&
	       arrays_equal(a->allowed, b->allowed, sizeof(PmIpv4Network)) &&
	       g_strcmp0(a->upstream, b->upstream) == 0 && g_strcmp0(a->router, b->router) == 0 &&
	       pm_mikrotik_config_equal(a->mikrotik, b->mikrotik) &&
	       a->tunnel_first == b->tunnel_first && a->tunnel_last == b->tunnel_last &&
	       g_strcmp0(a->instance_name, b->instance_name) == 0 &&
	       g_strcmp0(a->nft_table, b->nft_table) == 0 &&
	       a->reconcile_interval_usec == b->reconcile_interval_usec &&
	       a->min_lifetime == b->min_lifetime && a->max_lifetime == b->max_lifetime &&
	       a->max_mappings_per_client == b->max_mappings_per_client &&
	       a->rate_limit == b->rate_limit;
}

void
pm_gateway_config_print(const PmGatewayConfig *self, GString *out)
{
	g_autofree char *reconcile = pm_duration_to_string(self->reconcile_interval_usec);

	g_string_append(out, "[Gateway]\nListen=");
	for (guint i = 0; i < self->listen->len; i++) {
		g_autofree char *a = pm_ipv4_to_string(g_array_index(self->listen, guint32, i));
		g_string_append_printf(out, "%s%s", i > 0 ? "," : "", a);
	}
	g_string_append(out, "\nAllowedNetworks=");
	for (guint i = 0; i < self->allowed->len; i++) {
		const PmIpv4Network *n = &g_array_index(self->allowed, PmIpv4Network, i);
		g_autofree char *a = pm_ipv4_to_string(n->address);
		g_string_append_printf(out, "%s%s/%u", i > 0 ? "," : "", a, n->prefix);
	}
	g_string_append_printf(out, "\nUpstream=%s\nRouter=%s\nTunnelPorts=%u-%u\n", self->upstream,
			       self->router, self->tunnel_first, self->tunnel_last);
	if (self->instance_name != NULL)
		g_string_append_printf(out, "InstanceName=%s\n", self->instance_name);
	g_string_append_printf(out,
			       "NftTable=%s\nReconcileInterval=%s\nMinLifetime=%u\n"
			       "MaxLifetime=%u\nMaxMappingsPerClient=%u\nRateLimit=%u\n",
			       self->nft_table, reconcile, self->min_lifetime, self->max_lifetime,
			       self->max_mappings_per_client, self->rate_limit);
}
