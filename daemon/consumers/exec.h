/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include "consumer.h"

/* [Consumer NAME] Type=exec (design §6, §7): a command for each event */
extern const PmConsumerClass pm_exec_consumer_class;
