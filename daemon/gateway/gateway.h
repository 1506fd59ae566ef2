/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <glib.h>

#include "context.h"
#include "gateway-config.h"
#include "manager.h"

/*
 * The double-NAT gateway (design §3 "Gateway"): the LAN NAT-PMP server (lan-server.c) in
 * step with the upstream NAT-PMP provider and a router backend (router.h). For each LAN
 * client mapping it keeps two layers: an upstream mapping of a tunnel port T on the
 * router's VPN-side address (a Mapping object of the manager with Origin "gateway", so
 * the upstream provider keeps its lease alive, re-creates it after a gateway reset and the
 * bus shows it), and a router rule forwarding T to the client. Upstream first, then the
 * rule; a failed rule rolls the upstream mapping back and the client is told result 3.
 *
 * It is the manager's "gateway" extension: GatewayMappings, Describe()'s "Gateway", and
 * state.json's LANServer (epoch, mappings) and RouterRules, so a restart re-adopts them.
 */

typedef struct _PmGateway PmGateway;

/* takes a reference to @config; add pm_gateway_get_extension() to the manager before it
 * starts */
PmGateway *pm_gateway_new(PmManager *manager, PmContext *context, PmGatewayConfig *config);
void pm_gateway_free(PmGateway *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PmGateway, pm_gateway_free)

const PmManagerExtension *pm_gateway_get_extension(void);
/* after pm_manager_start(): the router, the restored mappings, the listen sockets, the
 * announcements and the reconciliation; FALSE (nothing listening) if the router or a
 * listen address cannot be opened */
gboolean pm_gateway_start(PmGateway *self, GError **error);
/* SIGTERM, before pm_manager_stop(): stops listening; with @release, removes every router
 * rule (the manager then deletes the upstream mappings, which are transient). @done runs
 * once those removals have ended, or after PM_MANAGER_STOP_TIMEOUT_USEC (logged); at once
 * without @release. */
void pm_gateway_stop(PmGateway *self, gboolean release, PmProviderDoneFunc done,
		     gpointer user_data);
/* a Reload brought @config: [Gateway] changes need a restart (logged) */
void pm_gateway_reload(PmGateway *self, PmGatewayConfig *config);
