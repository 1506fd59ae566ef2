/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <glib.h>

#include "config.h"

/*
 * [MikroTik NAME] (design §6): a RouterOS router that [Gateway] Router=NAME manages
 * through its API. Shared: the running gateway keeps a reference after a reload has freed
 * the configuration it came from. The password stays a credential name or a file path
 * here: it is read when the gateway starts, and never printed.
 */

#define PM_MIKROTIK_DEFAULT_USERNAME "admin"

struct _PmMikrotikConfig {
	char *name;
	char *address;	/* Address= as written (host, host:port, [v6]:port) */
	char *host;	/* its host part */
	guint16 port;	/* its port, else 8728, or 8729 with TLS=yes */
	gboolean tls;
	char *ca_file;
	guint8 fingerprint[32];
	gboolean has_fingerprint;
	char *username;
	char *password_credential;
	char *password_file;
	char *in_interface; /* NULL: /ip/route/check toward the upstream gateway */
	guint pool_size;
	guint64 timeout_usec;
	/*< private >*/
	gint ref_count;
};

/* a [MikroTik NAME] group of a configuration being read */
PmMikrotikConfig *pm_mikrotik_config_parse(PmConfigSection *section, GError **error);
PmMikrotikConfig *pm_mikrotik_config_ref(PmMikrotikConfig *self);
void pm_mikrotik_config_unref(PmMikrotikConfig *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PmMikrotikConfig, pm_mikrotik_config_unref)
gboolean pm_mikrotik_config_equal(const PmMikrotikConfig *a, const PmMikrotikConfig *b);
/* "[MikroTik NAME]\nAddress=…\n…" for --print-config (the secret's source, not its value) */
void pm_mikrotik_config_print(const PmMikrotikConfig *self, GString *out);
