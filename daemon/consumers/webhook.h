/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include "consumer.h"

/* [Consumer NAME] Type=webhook (design §6): a JSON POST for each event */
extern const PmConsumerClass pm_webhook_consumer_class;

/* the first wait before a retry, doubled on each failure up to the last */
#define PM_WEBHOOK_BACKOFF_FIRST_USEC (2 * G_USEC_PER_SEC)
#define PM_WEBHOOK_BACKOFF_MAX_USEC (300 * G_USEC_PER_SEC)
