/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include "router.h"

/*
 * Router=NAME of a [MikroTik NAME]: one dst-nat rule per LAN mapping in the router's
 * `/ip/firewall/nat` (chain dstnat, in-interface toward the VPN), added, listed and removed
 * through the RouterOS API (routeros-client.h). The in-interface is InInterface=, else the
 * router's own answer to `/ip/route/check` toward the upstream gateway; when neither gives
 * one, every rule fails with an error that says so (never a guess such as "bridge", which
 * would forward the LAN side).
 *
 * A rule's .id is remembered from its add's "=ret=" and from every listing; a rule whose id
 * is not known is found by its exact comment. An add whose outcome is unknown (the
 * connection dropped, the router did not answer in time) removes whatever rule carries its
 * comment before it reports the failure, so that no layer is left behind.
 */

extern const PmRouterClass pm_router_mikrotik_class;
