/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include "natpmp-client.h"
#include "provider.h"

/*
 * Type=natpmp: mappings straight from an RFC 6886 gateway (design §3 "NAT-PMP client",
 * "Ports", "Two protocols"). One state machine per mapping drives requests through the
 * gateway's shared PmNatpmpClient (the context's registry).
 */

#define PM_NATPMP_DEFAULT_LIFETIME 7200

/* its keys of [Provider NAME], defaults filled in */
typedef struct {
	char *gateway;                 /* dotted IPv4, or NULL for the default route's gateway ("auto") */
	gboolean same_port;            /* default FALSE */
	guint32 lifetime;              /* seconds asked on each request; default 7200 */
	guint64 refresh_interval_usec; /* 0 = unset (renew at half the granted lifetime) */
	guint16 port;                  /* gateway's NAT-PMP port: 5351; overridable for tests */
} PmNatpmpConfig;

extern const PmProviderClass pm_natpmp_provider_class;

/* @config's NAT-PMP keys, NULL if it is of another class */
const PmNatpmpConfig *pm_natpmp_config(const PmProviderConfig *config);
/* a [Provider @name] Type=natpmp with these keys (tests); takes @natpmp */
PmProviderConfig *pm_natpmp_config_new(const char *name, PmNatpmpConfig *natpmp);

/* with a given client (unit tests drive it through a fake transport) */
PmProvider *pm_natpmp_provider_new_with_client(PmContext *context, const PmProviderConfig *config,
					       PmNatpmpClient *client);
/* the gateway moved (RefreshAll found another default route): cancel what was asked of
 * the old client, end deletions in progress, and request every mapping at @client
 * (the provider takes a reference) */
void pm_natpmp_provider_switch_client(PmProvider *provider, PmNatpmpClient *client);
