/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <glib.h>

/*
 * The LAN NAT-PMP server's transport: one UDP socket per listen address, bound to
 * ADDRESS:port (so packets to other addresses, the external one included, never reach
 * it: RFC 6886 §3.3), nonblocking, each in a GSource on the thread-default main context.
 *
 * A wake-up reads up to PM_LAN_SOCKET_BATCH datagrams with one recvmmsg(), calls the
 * receive function once per datagram, and sends every reply it made meanwhile from that
 * socket with one sendmmsg() at the end: a busy server costs two system calls per batch,
 * not two per packet. A send outside a batch (an announcement, a later map answer) goes
 * out at once.
 *
 * Multicast sends (the 224.0.0.1:5350 announcements) leave by the interface of the
 * listen address (IP_MULTICAST_IF), TTL 1. Send errors (EAGAIN on a full buffer, an ICMP
 * error reported on the socket) lose that datagram and are counted; NAT-PMP clients
 * retransmit.
 */

#define PM_LAN_SOCKET_BATCH 64

typedef struct _PmLanSocket PmLanSocket;

/* a datagram of @len bytes from @source:@source_port to listen address @local (addresses
 * in network byte order, ports in host order); @buf is valid during the call only. It may
 * call pm_lan_socket_send(), not pm_lan_socket_free(). */
typedef void (*PmLanSocketReceiveFunc)(guint32 local, guint32 source, guint16 source_port,
				       const guint8 *buf, gsize len, gpointer user_data);

/* @port 0: an ephemeral port chosen for the first address and used for the others
 * (tests); see pm_lan_socket_get_port(). The error names the address that failed:
 * "cannot listen on 192.168.1.1:5351: Address already in use" (G_IO_ERROR). */
PmLanSocket *pm_lan_socket_new(const guint32 *listen, guint n_listen, guint16 port,
			       PmLanSocketReceiveFunc func, gpointer user_data, GError **error);
void pm_lan_socket_free(PmLanSocket *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PmLanSocket, pm_lan_socket_free)

guint16 pm_lan_socket_get_port(PmLanSocket *self);

/* from the socket of listen address @local (FALSE when there is none, or the send failed
 * at once); queued until the end of the batch when called from the receive function for
 * that socket */
gboolean pm_lan_socket_send(PmLanSocket *self, guint32 local, guint32 address, guint16 port,
			    const guint8 *buf, gsize len);

typedef struct {
	guint64 received;    /* datagrams */
	guint64 sent;        /* datagrams */
	guint64 send_errors; /* datagrams lost on send */
	guint64 receive_batches; /* recvmmsg() calls that returned datagrams */
	guint64 send_batches;    /* sendmmsg() calls */
} PmLanSocketStats;
void pm_lan_socket_get_stats(PmLanSocket *self, PmLanSocketStats *out);
