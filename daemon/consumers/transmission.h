/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include "consumer.h"

/* [Consumer NAME] Type=transmission (design §6): Transmission's peer-port through its RPC */
extern const PmConsumerClass pm_transmission_consumer_class;

#define PM_TRANSMISSION_DEFAULT_URL "http://127.0.0.1:9091/transmission/rpc"
