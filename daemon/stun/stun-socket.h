/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <glib.h>
#include <sys/socket.h>

/*
 * A UDP socket for STUN probes, on the main loop. Bound to a given port (the WireGuard
 * listen port) with SO_REUSEADDR and SO_REUSEPORT, so the mapping the servers see is that
 * port's; or to an ephemeral port. IPv6 sockets are IPv6-only: each family has its own.
 */

typedef struct _PmStunSocket PmStunSocket;

/* one datagram; @from is the sender */
typedef void (*PmStunSocketRecvFunc)(PmStunSocket *socket, const guint8 *data, gsize len,
				     const struct sockaddr *from, socklen_t from_len,
				     gpointer user_data);

/* @family AF_INET or AF_INET6; @port 0: ephemeral. Fails (G_IO_ERROR) if the port cannot
 * be bound: EADDRINUSE when a socket without SO_REUSEPORT holds it (a kernel WireGuard) */
PmStunSocket *pm_stun_socket_new(int family, guint16 port, PmStunSocketRecvFunc func,
				 gpointer user_data, GError **error);
void pm_stun_socket_free(PmStunSocket *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PmStunSocket, pm_stun_socket_free)

int pm_stun_socket_get_family(const PmStunSocket *self);
/* the port it is bound to */
guint16 pm_stun_socket_get_port(const PmStunSocket *self);
gboolean pm_stun_socket_send(PmStunSocket *self, const guint8 *data, gsize len,
			     const struct sockaddr *to, socklen_t to_len, GError **error);
