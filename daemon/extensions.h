/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include "manager.h"

/*
 * The Manager's parts of subsystems that are not there yet, through the extension point
 * their real implementations will use (manager.h): the bus contract has every member from
 * the first release (design §4), and a feature that is not configured answers plainly.
 * When STUN or the LAN gateway lands, its extension replaces the one here, serving the
 * same properties, Describe() members and state.json sections.
 */

/* STUN: PublicEndpoint "" (no discovery), NATType, MappingBehavior and FilteringBehavior
 * "unknown", in Describe() too */
extern const PmManagerExtension pm_stun_unconfigured_extension;
/* the LAN gateway: GatewayMappings 0, in Describe() too; state.json's LANServer (epoch 0,
 * no mappings) and RouterRules (none) */
extern const PmManagerExtension pm_gateway_unconfigured_extension;
