/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include "router.h"

/*
 * Router=nftables: the rules live in the chain `prerouting` (type nat, hook prerouting,
 * priority dstnat) of the table `ip NftTable=` (default "portmap"), written through
 * libnftables in process, never by running nft. The table may be shared by several
 * instances: each touches only the rules whose comment names its InstanceName=.
 */

extern const PmRouterClass pm_router_nftables_class;
