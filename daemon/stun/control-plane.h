/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <glib.h>

#include "context.h"
#include "control-plane-config.h"
#include "control-plane-api.h"

/*
 * The control-plane reporter (issue 15; the replaced module's EndpointReporter): after a
 * discovery, PUT {URL}/v1/nodes/{NodeID}/endpoint with {"public_endpoint", "nat_type"}
 * (proto/control-plane-api.h), with "Authorization: Bearer TOKEN" when [ControlPlane] names a
 * token, through the context's shared SoupSession (http-call.h), within
 * PM_CONTROL_PLANE_TIMEOUT_MSEC; the reply's peer endpoints, read strictly
 * (proto/control-plane-api.h), go to the caller.
 *
 * The token is read through the context's secret policy (secrets.h) at the first report,
 * and read again after the control plane refused it (401, 403: like natpmp-http's after a
 * refusal, a token fixed on disk needs no reload) or after it could not be read (that
 * report's error; the next report tries again). Kept wiped-on-free, never logged, and
 * redacted from whatever of a reply a message quotes: no message or status holds it.
 *
 * One report at a time: a report made while another is on the wire replaces it; the older
 * one is cancelled and its @done is NEVER called (nor is it after pm_control_plane_cancel()
 * or pm_control_plane_free()). Otherwise @done runs exactly once, always from the main loop,
 * never from inside a call into the reporter; it may make a new report or free the reporter.
 *
 * Nothing here logs: a failed report is @done's error, and the caller warns (the replaced
 * module: "Endpoint report failed", and the loop goes on).
 */

/* the whole exchange, from sending to the end of the reply's body */
#define PM_CONTROL_PLANE_TIMEOUT_MSEC 10000

typedef struct _PmControlPlane PmControlPlane;

/*
 * @peers: on success, the peers whose endpoint is known (entries with an empty endpoint
 * skipped), borrowed: copy what is kept (pm_peer_endpoints_copy()); NULL with @error.
 * @error (PM_ERROR), "PUT https://cp.example.net/v1/nodes/n1/endpoint: ..." with:
 * - PM_ERROR_GATEWAY_UNREACHABLE: no reply (refused connection, timeout, name not
 *   resolved, TLS refused, reply too large);
 * - PM_ERROR_REFUSED: 4xx; 401 and 403 say the token was refused (or that one is needed);
 * - PM_ERROR_FAILED: 5xx, another status, or a 2xx that is not a valid reply (what is
 *   wrong, then an excerpt of the body);
 * - PM_ERROR_INVALID_CONFIGURATION: the token could not be read (the secret loader's
 *   message: the file and the fix);
 * and whatever pm_http_call_new() says when libsoup cannot be loaded.
 */
typedef void (*PmControlPlaneDoneFunc)(const PmPeerEndpoints *peers, const GError *error,
				       gpointer user_data);

/* takes a reference to @config; @context outlives the reporter */
PmControlPlane *pm_control_plane_new(PmContext *context, PmControlPlaneConfig *config);
/* a report on the wire is cancelled: its @done is not called */
void pm_control_plane_free(PmControlPlane *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PmControlPlane, pm_control_plane_free)

/* a Reload: the next report goes by @config (a reference is taken); one on the wire goes on
 * by the old one */
void pm_control_plane_set_config(PmControlPlane *self, PmControlPlaneConfig *config);
PmControlPlaneConfig *pm_control_plane_get_config(PmControlPlane *self);

/* @endpoint: "203.0.113.5:54321" or "[2001:db8::1]:51820" as discovered; @nat_type: "none",
 * "full_cone", "symmetric" or "unknown" (nat-classifier.h); both sent as they are */
void pm_control_plane_report(PmControlPlane *self, const char *endpoint, const char *nat_type,
			     PmControlPlaneDoneFunc done, gpointer user_data);
/* the report on the wire, if any, is dropped: its @done is not called (SIGTERM) */
void pm_control_plane_cancel(PmControlPlane *self);
/* a report is on the wire */
gboolean pm_control_plane_is_busy(PmControlPlane *self);

/* Describe() */
/* "https://cp.example.net/v1/nodes/n1/endpoint": where reports go (a URL= without
 * credentials, query or fragment: config refuses them) */
const char *pm_control_plane_get_url(PmControlPlane *self);
/* CLOCK_REALTIME µs when the last report ended (answered or failed); 0 before any */
guint64 pm_control_plane_get_last_report_time(PmControlPlane *self);
/* ... and when the last one that succeeded ended; 0 before any */
guint64 pm_control_plane_get_last_success_time(PmControlPlane *self);
/* the last report's error message, NULL if it succeeded or before any */
const char *pm_control_plane_get_last_error(PmControlPlane *self);
/* the last report's HTTP status, 0 if it got no reply or before any */
guint pm_control_plane_get_last_status(PmControlPlane *self);
/* the peers the last successful report returned (entries with an empty endpoint not
 * counted); 0 before any */
guint pm_control_plane_get_n_peers(PmControlPlane *self);
/* those peers; NULL before a report succeeded */
const PmPeerEndpoints *pm_control_plane_get_peers(PmControlPlane *self);
