/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include "consumer.h"

/* [Consumer NAME] Type=portfile (design §6) */
extern const PmConsumerClass pm_portfile_consumer_class;
