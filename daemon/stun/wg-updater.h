/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <glib.h>

#include "wg-netlink-socket.h"
#include "wg-uapi-client.h"

/*
 * The WireGuard peer-endpoint updater ([WireGuard] Interface=, issue 15): each endpoint the
 * control plane reports is applied to the peer with that public key, on the main loop,
 * never blocking.
 *
 * An apply first reads the interface's peers, then sends one update per peer that needs
 * it, one after the other: through the UAPI socket RUNDIR/IFACE.sock when it exists
 * (wireguard-go, boringtun: "set=1", update_only=true), else through the kernel's generic
 * netlink (WG_CMD_SET_DEVICE, WGPEER_F_UPDATE_ONLY) when the "wireguard" family resolves and
 * IFACE is one of its devices. Peers are never created: update_only makes an unknown key a
 * silent success on either path, so a peer that is not on the interface is skipped (and
 * logged) before anything is sent. An endpoint already in place is not rewritten. One
 * peer's failure is logged and the others are still applied.
 *
 * Permissions: the kernel path needs CAP_NET_ADMIN, to read as well as to write;
 * wireguard-go's socket is root's with mode 0700, so the userspace path needs root: the
 * error says so and names the drop-in.
 *
 * Logs name peers by their base64 public key; nothing from a get reply but the peers'
 * keys and endpoints is ever kept, and the buffers that held the private key are wiped.
 */

#define PM_WG_DEFAULT_RUNDIR "/var/run/wireguard"
/* per transaction (one UAPI connection, or one netlink request and its answer) */
#define PM_WG_DEFAULT_TIMEOUT_MSEC 5000

typedef struct _PmWgUpdater PmWgUpdater;

typedef struct {
	const char *peer_id;  /* the peer's public key, base64 (44 characters) */
	const char *endpoint; /* "a.b.c.d:port" or "[IPv6]:port" */
} PmWgPeerEndpoint;

typedef enum {
	PM_WG_BACKEND_NONE,
	PM_WG_BACKEND_USERSPACE, /* the UAPI socket */
	PM_WG_BACKEND_KERNEL,	 /* generic netlink */
} PmWgBackend;

typedef struct {
	PmWgBackend backend;
	guint applied;	 /* the endpoint was set */
	guint unchanged; /* it was in place already: nothing sent */
	guint skipped;	 /* not on the interface, or a bad key or endpoint (each logged) */
	guint failed;	 /* the implementation refused, or the transaction failed (logged) */
} PmWgApplyResult;

/* @result NULL and @error set when the interface could not be read at all (nothing was
 * applied); G_IO_ERROR_CANCELLED when the updater was freed first */
typedef void (*PmWgApplyFunc)(const PmWgApplyResult *result, const GError *error,
			      gpointer user_data);

PmWgUpdater *pm_wg_updater_new(const char *interface);
/* answers the applies still queued or running with G_IO_ERROR_CANCELLED, from inside */
void pm_wg_updater_free(PmWgUpdater *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PmWgUpdater, pm_wg_updater_free)

/* tests: where the UAPI sockets are (default PM_WG_DEFAULT_RUNDIR) */
void pm_wg_updater_set_rundir(PmWgUpdater *self, const char *rundir);
/* tests: how the kernel is reached (default pm_wg_netlink_open_kernel) */
void pm_wg_updater_set_netlink_open(PmWgUpdater *self, PmWgNetlinkOpenFunc func,
				    gpointer user_data);
void pm_wg_updater_set_timeout(PmWgUpdater *self, guint msec);

/* applies run one at a time, in order; @peers is copied; @done (may be NULL) is called
 * from the main loop, never from inside this call */
void pm_wg_updater_apply(PmWgUpdater *self, const PmWgPeerEndpoint *peers, guint n,
			 PmWgApplyFunc done, gpointer user_data);

/* what an apply found out about the interface, in the order it asks */
typedef struct {
	gboolean socket_exists; /* RUNDIR/IFACE.sock is there (or cannot be looked at) */
	int family_errno;	/* the "wireguard" genl family: 0 resolved, else the errno
				 * (ENOENT: no WireGuard in this kernel) */
	int device_errno;	/* WG_CMD_GET_DEVICE of IFACE: 0, else the errno (ENODEV: no
				 * such interface; EOPNOTSUPP: not a WireGuard one) */
} PmWgProbe;

/*
 * The path for @interface: USERSPACE when its socket exists; else KERNEL when the family
 * resolved and the device was read; else NONE with @error: "no WireGuard interface IFACE:
 * neither a kernel device nor a userspace socket in RUNDIR" (PM_ERROR_FAILED), or, when
 * the kernel refused to answer (EPERM), PM_ERROR_ACCESS_DENIED naming CAP_NET_ADMIN.
 */
PmWgBackend pm_wg_choose_backend(const char *interface, const char *rundir,
				 const PmWgProbe *probe, GError **error);
