/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <glib.h>

#include "context.h"
#include "control-plane-config.h"
#include "manager.h"
#include "stun-config.h"
#include "wireguard-config.h"

/*
 * The STUN subsystem (design §3, stun.md §6): discovers the public endpoint of LocalPort=
 * (stun-discovery.h) at start, every RefreshInterval=, on DiscoverEndpoint() and on
 * RefreshAll(). It is the manager's "stun" extension: PublicEndpoint (with EndpointChanged
 * as soon as a run's first answer shows a new endpoint), NATType, MappingBehavior and
 * FilteringBehavior (when a run's classification ends), Describe()'s "STUN", and
 * DiscoverEndpoint(). A failed run keeps the previous endpoint and classification.
 */

typedef struct _PmStunService PmStunService;

/* takes a reference to @config (Enabled=yes); adds its extension to @manager, or with
 * @replace_id != 0 (a Reload enabled STUN) takes the place of that extension (the stand-in's) */
PmStunService *pm_stun_service_new(PmManager *manager, PmContext *context, PmStunConfig *config,
				   guint replace_id);
guint pm_stun_service_get_extension_id(PmStunService *self);
/* fails the DiscoverEndpoint() calls still waiting ("stopping") */
void pm_stun_service_free(PmStunService *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PmStunService, pm_stun_service_free)

/* the sockets and the first run */
void pm_stun_service_start(PmStunService *self);
/* SIGTERM, or a Reload that disabled STUN: no more runs; waiting callers are told @why */
void pm_stun_service_stop(PmStunService *self, const char *why);
/* issue 15: each discovery is reported to @control_plane and the peer endpoints it answers
 * are applied to @wireguard's interface (either may be NULL: none); at start and on Reload */
void pm_stun_service_set_reporting(PmStunService *self, PmControlPlaneConfig *control_plane,
				   PmWireguardConfig *wireguard);
/* a Reload brought @config (Enabled=yes): applied, and a new run if anything changed */
void pm_stun_service_reload(PmStunService *self, PmStunConfig *config);
