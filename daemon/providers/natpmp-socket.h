/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include "context.h"
#include "natpmp-client.h"

/*
 * The UDP transport of NAT-PMP clients: a socket connected to the gateway's port (so the
 * kernel drops packets from anyone else and reports ICMP refusals as ECONNREFUSED) and a
 * socket bound to 224.0.0.1:5350 with SO_REUSEPORT for announcements. Clients are shared
 * through the context's registry: asking twice for the same gateway and port returns the
 * same client, and the last user's unref closes its sockets.
 */
PmNatpmpClient *pm_natpmp_socket_client_get(PmContext *context, guint32 gateway, guint16 port,
					    GError **error);

/* the gateway of the IPv4 default route the kernel would give portmapd's sockets (see
 * default-route.h): an error asking for Gateway= if there is none, or if the route has no
 * gateway (a point-to-point VPN) */
gboolean pm_natpmp_default_gateway(guint32 *gateway, GError **error);
