/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <glib.h>

#include "config.h"

/*
 * [STUN] (design §6): the servers asked for the public endpoint, how often, how long a
 * discovery may take and the local port the probes leave from. The replaced module's rules:
 * with Enabled=no nothing else is validated; enabled, Servers= is required,
 * RefreshInterval= is at least 10 s and Timeout= is positive.
 */

#define PM_STUN_DEFAULT_PORT 3478
#define PM_STUN_DEFAULT_REFRESH_USEC (60 * G_USEC_PER_SEC)
#define PM_STUN_MIN_REFRESH_USEC (10 * G_USEC_PER_SEC)
#define PM_STUN_DEFAULT_TIMEOUT_USEC (5 * G_USEC_PER_SEC)

typedef struct {
	char *text; /* as configured: "stun.example.net:3478", "[2001:db8::1]:3478" */
	char *host; /* "stun.example.net", "2001:db8::1" */
	guint16 port;
} PmStunServerConfig;

struct _PmStunConfig {
	gboolean enabled;
	GPtrArray *servers; /* of PmStunServerConfig, in the order given */
	guint64 refresh_interval_usec;
	guint64 timeout_usec;
	guint16 local_port; /* 0: an ephemeral port */
	/*< private >*/
	gint ref_count;
};

PmStunConfig *pm_stun_config_parse(PmConfigSection *section, GError **error);
PmStunConfig *pm_stun_config_ref(PmStunConfig *self);
void pm_stun_config_unref(PmStunConfig *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PmStunConfig, pm_stun_config_unref)
gboolean pm_stun_config_equal(const PmStunConfig *a, const PmStunConfig *b);
/* "[STUN]\nEnabled=…\n…" for --print-config */
void pm_stun_config_print(const PmStunConfig *self, GString *out);
