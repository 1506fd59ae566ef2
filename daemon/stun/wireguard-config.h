/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <glib.h>

#include "config.h"

/*
 * [WireGuard] (design §6, issue 15): the interface whose peers get the endpoints that the
 * control plane returns ([ControlPlane], control-plane.h). It needs [ControlPlane]: the
 * endpoints come from it. Shared: the running updater keeps a reference after a reload
 * has freed the configuration it came from.
 */

struct _PmWireguardConfig {
	char *interface; /* a Linux interface name: 1 to 15 bytes, no '/', ':' or blank */
	/*< private >*/
	gint ref_count;
};

/* [WireGuard] of a configuration being read: @config has its [ControlPlane] already */
PmWireguardConfig *pm_wireguard_config_parse(PmConfigSection *section, const PmConfig *config,
					     GError **error);
PmWireguardConfig *pm_wireguard_config_ref(PmWireguardConfig *self);
void pm_wireguard_config_unref(PmWireguardConfig *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PmWireguardConfig, pm_wireguard_config_unref)
/* the same keys (NULL equals only NULL) */
gboolean pm_wireguard_config_equal(const PmWireguardConfig *a, const PmWireguardConfig *b);
/* "[WireGuard]\nInterface=…\n" for --print-config */
void pm_wireguard_config_print(const PmWireguardConfig *self, GString *out);
/* what the kernel takes as a new interface's name (dev_valid_name()): 1 to 15 bytes, not
 * "." or "..", without '/', ':' or whitespace; portmapd also refuses control characters */
gboolean pm_wireguard_interface_name_is_valid(const char *name);
