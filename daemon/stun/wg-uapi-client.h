/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <glib.h>

#include "proto/wg-uapi.h"

/*
 * One transaction on a userspace WireGuard's UAPI socket (/var/run/wireguard/IFACE.sock):
 * connect, write the request, read the reply to its final blank line, close. One
 * connection per transaction: boringtun answers one command per connection, and
 * wireguard-go closes a connection after a refused set (it reads the rest of the
 * transaction as commands). Asynchronous on the thread-default main context (GIO), bounded
 * by a timeout; the read buffer is wiped after every read (a get reply begins with the
 * private key).
 */

typedef struct _PmWgUapiCall PmWgUapiCall;

/* the drop-in that runs portmapd as root for a userspace WireGuard */
#define PM_WG_USERSPACE_DROPIN "portmapd-wireguard-userspace.conf"

/*
 * @device (transfer full): the reply's peers (none for a set), with its errno= in
 * @errnum (0: done; else the positive errno); NULL when there is no complete reply, with
 * @error: the connection refused or not permitted (pm_wg_uapi_connect_error()), a timeout
 * (G_IO_ERROR_TIMED_OUT), the socket closed mid-reply, a malformed reply. Called once,
 * from the main loop; the callback may free the call.
 */
typedef void (*PmWgUapiCallFunc)(PmWgUapiCall *call, PmWgDevice *device, int errnum,
				 const GError *error, gpointer user_data);

PmWgUapiCall *pm_wg_uapi_call_new(const char *socket_path, const char *request,
				  guint timeout_msec, PmWgUapiCallFunc done,
				  gpointer user_data);
/* cancels it: a freed call never calls back */
void pm_wg_uapi_call_free(PmWgUapiCall *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PmWgUapiCall, pm_wg_uapi_call_free)

/*
 * The error for a connection to @socket_path that failed with @error. EACCES and EPERM
 * (G_IO_ERROR_PERMISSION_DENIED): PM_ERROR_ACCESS_DENIED naming the fix (wireguard-go
 * makes its socket 0700 and root's, and connect() needs write permission on it); a
 * refused connection: nothing listens there any more; else @error's message with the
 * path (PM_ERROR_FAILED).
 */
GError *pm_wg_uapi_connect_error(const char *socket_path, const GError *error);
