/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include "natpmp-client.h"
#include "provider.h"

/*
 * Type=natpmp: mappings straight from an RFC 6886 gateway (design §3 "NAT-PMP client",
 * "Ports", "Two protocols"). One state machine per mapping drives requests through the
 * gateway's shared PmNatpmpClient.
 */

#define PM_NATPMP_DEFAULT_LIFETIME 7200
#define PM_NATPMP_DEGRADED_AFTER_USEC (120 * G_TIME_SPAN_SECOND)

PmProvider *pm_natpmp_provider_new(const PmProviderConfig *config, PmScheduler *scheduler,
				   GError **error);
/* with a given client (unit tests drive it through a fake transport) */
PmProvider *pm_natpmp_provider_new_with_client(const PmProviderConfig *config,
					       PmScheduler *scheduler, PmNatpmpClient *client);
/* the gateway moved (RefreshAll found another default route): cancel what was asked of
 * the old client, end deletions in progress, and request every mapping at @client
 * (the provider takes a reference) */
void pm_natpmp_provider_switch_client(PmProvider *provider, PmNatpmpClient *client);
