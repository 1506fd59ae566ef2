/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <glib.h>

#include "scheduler.h"

/*
 * What every provider and consumer class gets from the daemon, one per daemon
 * (design §2): the scheduler, one SoupSession shared by every HTTP user, the secret
 * policy, and the NAT-PMP client registry (one client per gateway and port, shared by
 * config, bus and LAN mappings).
 */

typedef struct _PmContext PmContext;
/* natpmp-client.h */
typedef struct _PmNatpmpClient PmNatpmpClient;
/* libsoup-3.0, for its users only: the rest of the daemon need not see its headers */
typedef struct _SoupSession SoupSession;

typedef enum {
	/* a *File= secret must be owned by root or portmapd's user, private to it */
	PM_SECRET_POLICY_STRICT,
	/* containers (--no-bus): Docker secrets are 0444, Kubernetes secret volumes 0644: a
	 * readable file is accepted with a warning */
	PM_SECRET_POLICY_LENIENT,
} PmSecretPolicy;

/* @scheduler is borrowed: it outlives the context */
PmContext *pm_context_new(PmScheduler *scheduler, PmSecretPolicy secret_policy);
/* every NAT-PMP client is gone by then: their users (providers) are freed first */
void pm_context_free(PmContext *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PmContext, pm_context_free)

PmScheduler *pm_context_get_scheduler(PmContext *self);

/* where status.json and the default port files go (--runtime-dir, $RUNTIME_DIRECTORY);
 * PM_CONTEXT_DEFAULT_RUNTIME_DIR until set */
#define PM_CONTEXT_DEFAULT_RUNTIME_DIR "/run/portmap"
const char *pm_context_get_runtime_dir(PmContext *self);
void pm_context_set_runtime_dir(PmContext *self, const char *runtime_dir);

/* created on first use: a daemon with no HTTP user never loads libsoup (it is dlopen()ed
 * then), nor TLS, which the session loads only for its first HTTPS request; NULL with
 * @error if libsoup cannot be loaded */
SoupSession *pm_context_get_soup_session(PmContext *self, GError **error);
/* whether pm_context_get_soup_session() created it yet (tests, memory checks) */
gboolean pm_context_has_soup_session(PmContext *self);

PmSecretPolicy pm_context_get_secret_policy(PmContext *self);
/* pm_secret_load() (secrets.h) with this daemon's policy; free with pm_secret_free() */
char *pm_context_load_secret(PmContext *self, const char *credential_name,
			     const char *file_path, GError **error);

/*
 * The NAT-PMP client registry, one client per (gateway, port): natpmp-socket.c adds a
 * client when it creates one and removes it when its last user drops it. The registry
 * holds no reference: a gateway nobody uses any more has its sockets closed.
 */
PmNatpmpClient *pm_context_lookup_natpmp_client(PmContext *self, guint32 gateway, guint16 port);
void pm_context_add_natpmp_client(PmContext *self, guint32 gateway, guint16 port,
				  PmNatpmpClient *client);
void pm_context_remove_natpmp_client(PmContext *self, guint32 gateway, guint16 port);
guint pm_context_get_n_natpmp_clients(PmContext *self);
