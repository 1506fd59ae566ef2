/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <glib.h>

/*
 * A generic netlink socket to the kernel on the main loop, for the WireGuard updater:
 * non-blocking, connected to the kernel (port 0), so a request is one send() and the
 * answers come as datagrams to a callback. Each datagram is wiped once the callback
 * returns: a WG_CMD_GET_DEVICE dump carries the interface's private key.
 *
 * The socket comes from an open function, so that tests can hand in one end of a
 * socketpair and play the kernel.
 */

/* 64 KiB: more than the kernel puts in one dump message (NLMSG_GOODSIZE, at most 32 KiB) */
#define PM_WG_NETLINK_RECV_SIZE 65536

typedef struct _PmWgNetlinkSocket PmWgNetlinkSocket;

/* a connected, non-blocking datagram socket that speaks generic netlink, or -1 with
 * @error */
typedef int (*PmWgNetlinkOpenFunc)(gpointer user_data, GError **error);

/* one datagram, or @data NULL and @error when the socket failed (ENOBUFS: answers were
 * lost; a datagram larger than PM_WG_NETLINK_RECV_SIZE). The callback may free the
 * socket. */
typedef void (*PmWgNetlinkRecvFunc)(PmWgNetlinkSocket *socket, const guint8 *data, gsize len,
				    const GError *error, gpointer user_data);

/* the default: socket(AF_NETLINK, SOCK_RAW, NETLINK_GENERIC), connected to the kernel */
int pm_wg_netlink_open_kernel(gpointer user_data, GError **error);

PmWgNetlinkSocket *pm_wg_netlink_socket_new(PmWgNetlinkOpenFunc open_func, gpointer open_data,
					    PmWgNetlinkRecvFunc func, gpointer user_data,
					    GError **error);
void pm_wg_netlink_socket_free(PmWgNetlinkSocket *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PmWgNetlinkSocket, pm_wg_netlink_socket_free)

/* the kernel takes a request whole or not at all: never a partial send */
gboolean pm_wg_netlink_socket_send(PmWgNetlinkSocket *self, const guint8 *data, gsize len,
				   GError **error);
