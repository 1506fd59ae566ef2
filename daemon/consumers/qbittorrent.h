/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include "consumer.h"

/* [Consumer NAME] Type=qbittorrent (design §6): listen_port (and announce_port, 5.1+)
 * through qBittorrent's Web API v2 */
extern const PmConsumerClass pm_qbittorrent_consumer_class;
