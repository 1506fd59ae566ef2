/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <glib.h>

#include "config.h"

/*
 * [ControlPlane] (design §6, issue 15): where the endpoint that [STUN] discovers is
 * reported (PUT URL/v1/nodes/NodeID/endpoint, control-plane.h) and with which bearer token.
 * It needs an enabled [STUN]: it reports what STUN discovers. Shared: the running reporter
 * keeps a reference after a reload has freed the configuration it came from.
 */

/* NodeID= is one segment of the URL's path: this long at most */
#define PM_CONTROL_PLANE_NODE_ID_MAX 128

struct _PmControlPlaneConfig {
	char *url;     /* http(s)://host[:port][/path], without trailing slashes, query,
			* fragment or user information */
	char *node_id; /* [A-Za-z0-9._-]{1,128}, neither "." nor ".." */
	/* where the bearer token is (at most one; neither: no Authorization header), never
	 * the token itself */
	char *token_credential;
	char *token_file;
	/*< private >*/
	gint ref_count;
};

/* [ControlPlane] of a configuration being read: @config has its [STUN] already */
PmControlPlaneConfig *pm_control_plane_config_parse(PmConfigSection *section,
						    const PmConfig *config, GError **error);
PmControlPlaneConfig *pm_control_plane_config_ref(PmControlPlaneConfig *self);
void pm_control_plane_config_unref(PmControlPlaneConfig *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PmControlPlaneConfig, pm_control_plane_config_unref)
/* the same keys (NULL equals only NULL): a reload keeps the reporter as it is */
gboolean pm_control_plane_config_equal(const PmControlPlaneConfig *a,
				       const PmControlPlaneConfig *b);
/* "[ControlPlane]\nURL=…\n…" for --print-config: where the token is, never the token */
void pm_control_plane_config_print(const PmControlPlaneConfig *self, GString *out);
/* "[A-Za-z0-9._-]{1,128}", not "." or ".." */
gboolean pm_control_plane_node_id_is_valid(const char *node_id);
