/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include "consumer.h"

/* [Consumer NAME] Type=deluge (design §6): Deluge's listening port through deluge-web */
extern const PmConsumerClass pm_deluge_consumer_class;
