/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <glib.h>
#include <sys/types.h>
#include <systemd/sd-bus.h>

#include "pending-call.h"

/*
 * Authorization of bus callers with polkit, without blocking the main loop (design §4).
 * Root and portmapd's own uid are allowed without asking; everyone else is checked with
 * org.freedesktop.PolicyKit1.Authority.CheckAuthorization, asynchronously.
 */

#define PM_POLKIT_ACTION_ADD_MAPPING "org.portmap.add-mapping"
#define PM_POLKIT_ACTION_REFRESH "org.portmap.refresh"
#define PM_POLKIT_ACTION_MANAGE "org.portmap.manage"

typedef struct _PmPolkit PmPolkit;

/* checks wait in @calls, which must outlive the PmPolkit */
PmPolkit *pm_polkit_new(sd_bus *bus, PmPendingCalls *calls, uid_t daemon_uid);
void pm_polkit_free(PmPolkit *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PmPolkit, pm_polkit_free)

/* TRUE for callers that are never asked: euid 0 and portmapd's own uid */
gboolean pm_polkit_is_privileged(PmPolkit *self, uid_t euid);

/*
 * May the sender of @m (whose effective uid is @euid) do @action?
 *
 * Returns 1 when it may: the handler goes on. Returns a negative errno with @ret_error set
 * (AccessDenied, InteractiveAuthorizationRequired) when it may not: the handler returns that.
 * Returns 0 when polkit has been asked: the handler returns 1 without replying, and once polkit
 * answers @handler runs again for @m with @userdata, and this call then returns the answer.
 *
 * So a handler validates its input, decides which action it needs, calls this, and does its
 * work after a 1; everything before the call runs again for a caller polkit had to be asked
 * about, against the state of that moment (pending-call.h).
 */
int pm_polkit_check(PmPolkit *self, sd_bus_message *m, uid_t euid, const char *action,
		    sd_bus_message_handler_t handler, void *userdata, sd_bus_error *ret_error);
