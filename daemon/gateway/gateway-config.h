/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <glib.h>

#include "config.h"
#include "lan-server.h"

/*
 * [Gateway] (design §6): the LAN NAT-PMP server in front of an upstream NAT-PMP provider,
 * with a router backend. Shared: the running gateway keeps a reference after a reload
 * has freed the configuration it came from.
 */

#define PM_GATEWAY_DEFAULT_NFT_TABLE "portmap"
#define PM_GATEWAY_DEFAULT_RECONCILE_USEC (10 * 60 * G_USEC_PER_SEC)
#define PM_GATEWAY_DEFAULT_MIN_LIFETIME 60
#define PM_GATEWAY_DEFAULT_MAX_LIFETIME 86400
#define PM_GATEWAY_DEFAULT_MAX_MAPPINGS_PER_CLIENT 64
#define PM_GATEWAY_DEFAULT_RATE_LIMIT 200

struct _PmGatewayConfig {
	GArray *listen;	 /* of guint32, network byte order */
	GArray *allowed; /* of PmIpv4Network */
	char *upstream;	 /* the [Provider NAME] of Type=natpmp */
	char *router;	 /* Router=: "nftables", or the NAME of a [MikroTik NAME] */
	PmMikrotikConfig *mikrotik; /* that [MikroTik NAME], NULL for a router class */
	guint16 tunnel_first, tunnel_last; /* TunnelPorts=, default 1024-65535 */
	char *instance_name;		   /* NULL: the host name */
	char *nft_table;
	guint64 reconcile_interval_usec;
	guint32 min_lifetime, max_lifetime;
	guint max_mappings_per_client;
	guint rate_limit;
	/*< private >*/
	gint ref_count;
};

/* [Gateway] of a configuration being read: @config has its providers already (Upstream=
 * must name a Type=natpmp one) */
PmGatewayConfig *pm_gateway_config_parse(PmConfigSection *section, const PmConfig *config,
					 GError **error);
PmGatewayConfig *pm_gateway_config_ref(PmGatewayConfig *self);
void pm_gateway_config_unref(PmGatewayConfig *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PmGatewayConfig, pm_gateway_config_unref)
gboolean pm_gateway_config_equal(const PmGatewayConfig *a, const PmGatewayConfig *b);
/* "[Gateway]\nListen=…\n…" for --print-config */
void pm_gateway_config_print(const PmGatewayConfig *self, GString *out);
/* InstanceName=, else the host name (as the kernel has it) */
char *pm_gateway_config_get_instance(const PmGatewayConfig *self);
