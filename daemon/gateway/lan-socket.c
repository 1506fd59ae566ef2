/* SPDX-License-Identifier: GPL-2.0-or-later */

#include "lan-socket.h"

#include <arpa/inet.h>
#include <errno.h>
#include <gio/gio.h>
#include <glib-unix.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "natpmp.h"

/* NAT-PMP packets are small; a longer datagram is cut (the server ignores or echoes its
 * start), and a reply longer than a slot is sent at once instead of queued */
#define SLOT_SIZE PM_NATPMP_MAX_PACKET_SIZE

typedef struct {
	PmLanSocket *owner;
	gint fd;
	guint32 address;
	GSource *source;
} Listener;

struct _PmLanSocket {
	Listener *listeners;
	guint n_listeners;
	guint16 port;
	PmLanSocketReceiveFunc func;
	gpointer user_data;
	PmLanSocketStats stats;

	/* one dispatch at a time: the receive side is shared by every listener */
	struct mmsghdr rx_msgs[PM_LAN_SOCKET_BATCH];
	struct iovec rx_iov[PM_LAN_SOCKET_BATCH];
	struct sockaddr_in rx_names[PM_LAN_SOCKET_BATCH];
	guint8 rx_bufs[PM_LAN_SOCKET_BATCH][SLOT_SIZE];

	/* the replies of the batch being dispatched, all from @batch's socket */
	Listener *batch;
	guint n_tx;
	struct mmsghdr tx_msgs[PM_LAN_SOCKET_BATCH];
	struct iovec tx_iov[PM_LAN_SOCKET_BATCH];
	struct sockaddr_in tx_names[PM_LAN_SOCKET_BATCH];
	guint8 tx_bufs[PM_LAN_SOCKET_BATCH][SLOT_SIZE];
};

static char *
format_endpoint(guint32 address, guint16 port)
{
	char text[INET_ADDRSTRLEN] = "";

	inet_ntop(AF_INET, &address, text, sizeof(text));
	return g_strdup_printf("%s:%u", text, port);
}

static void
set_sockaddr(struct sockaddr_in *sin, guint32 address, guint16 port)
{
	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = address;
	sin->sin_port = htons(port);
}

/* every queued reply in as few sendmmsg() calls as the kernel allows; a datagram it
 * refuses (EAGAIN: the send buffer is full) is lost and counted, the rest still go */
static void
listener_flush(PmLanSocket *self, Listener *listener)
{
	guint done = 0;

	while (done < self->n_tx) {
		int n = sendmmsg(listener->fd, self->tx_msgs + done, self->n_tx - done,
				 MSG_DONTWAIT);

		self->stats.send_batches++;
		if (n <= 0) {
			/* the first of the rest failed: skip it, so this always ends */
			self->stats.send_errors++;
			done++;
			continue;
		}
		self->stats.sent += (guint)n;
		done += (guint)n;
	}
	self->n_tx = 0;
}

static gboolean
listener_readable_cb(gint fd, GIOCondition condition, gpointer user_data)
{
	Listener *listener = user_data;
	PmLanSocket *self = listener->owner;
	int n;

	for (guint i = 0; i < PM_LAN_SOCKET_BATCH; i++) {
		/* the kernel writes back both lengths */
		self->rx_msgs[i].msg_hdr.msg_namelen = sizeof(self->rx_names[i]);
		self->rx_iov[i].iov_len = SLOT_SIZE;
	}
	/* one batch per wake-up: the other sources of the loop get their turn, and poll()
	 * wakes us again at once while more is queued */
	n = recvmmsg(fd, self->rx_msgs, PM_LAN_SOCKET_BATCH, MSG_DONTWAIT, NULL);
	if (n <= 0) {
		/* EAGAIN (nothing left), EINTR, or an ICMP error reported on the socket:
		 * reading it cleared it */
		return G_SOURCE_CONTINUE;
	}
	self->stats.receive_batches++;
	self->stats.received += (guint)n;

	self->batch = listener;
	for (int i = 0; i < n; i++) {
		const struct sockaddr_in *from = &self->rx_names[i];

		if (self->rx_msgs[i].msg_hdr.msg_namelen < sizeof(*from) ||
		    from->sin_family != AF_INET)
			continue;
		self->func(listener->address,
			   from->sin_addr.s_addr,
			   ntohs(from->sin_port),
			   self->rx_bufs[i],
			   self->rx_msgs[i].msg_len,
			   self->user_data);
	}
	self->batch = NULL;
	listener_flush(self, listener);
	return G_SOURCE_CONTINUE;
}

gboolean
pm_lan_socket_send(PmLanSocket *self, guint32 local, guint32 address, guint16 port,
		   const guint8 *buf, gsize len)
{
	Listener *listener = NULL;
	struct sockaddr_in to;

	g_return_val_if_fail(self != NULL, FALSE);
	g_return_val_if_fail(buf != NULL || len == 0, FALSE);

	for (guint i = 0; i < self->n_listeners; i++) {
		if (self->listeners[i].address == local) {
			listener = &self->listeners[i];
			break;
		}
	}
	if (listener == NULL) {
		self->stats.send_errors++;
		return FALSE;
	}

	if (listener == self->batch && len <= SLOT_SIZE) {
		guint slot;

		if (self->n_tx == PM_LAN_SOCKET_BATCH)
			listener_flush(self, listener);
		slot = self->n_tx++;
		memcpy(self->tx_bufs[slot], buf, len);
		self->tx_iov[slot].iov_len = len;
		set_sockaddr(&self->tx_names[slot], address, port);
		return TRUE;
	}

	set_sockaddr(&to, address, port);
	if (sendto(listener->fd, buf, len, MSG_DONTWAIT, (struct sockaddr *)&to, sizeof(to)) < 0) {
		self->stats.send_errors++;
		return FALSE;
	}
	self->stats.sent++;
	return TRUE;
}

/* errno of the call that just failed, named with the address */
static gboolean
listener_error(const Listener *listener, guint16 port, GError **error)
{
	int errsv = errno;
	g_autofree char *endpoint = format_endpoint(listener->address, port);

	g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errsv), "cannot listen on %s: %s",
		    endpoint, g_strerror(errsv));
	return FALSE;
}

static gboolean
listener_open(Listener *listener, guint16 *port, GError **error)
{
	struct sockaddr_in sin;
	socklen_t sin_len = sizeof(sin);
	struct in_addr multicast_if = {.s_addr = listener->address};
	const int ttl = 1;

	listener->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (listener->fd < 0)
		return listener_error(listener, *port, error);
	/* announcements leave by the LAN interface of this address, one hop only (RFC 6886
	 * §3.2.1; without it 224.0.0.1 follows the routing table: miniupnp#365). No
	 * SO_REUSEADDR: a second server on the address must fail ("Address already in use"),
	 * not share its clients */
	if (setsockopt(listener->fd, IPPROTO_IP, IP_MULTICAST_IF, &multicast_if,
		       sizeof(multicast_if)) < 0 ||
	    setsockopt(listener->fd, IPPROTO_IP, IP_MULTICAST_TTL, &ttl, sizeof(ttl)) < 0)
		return listener_error(listener, *port, error);
	set_sockaddr(&sin, listener->address, *port);
	if (bind(listener->fd, (struct sockaddr *)&sin, sizeof(sin)) < 0)
		return listener_error(listener, *port, error);
	if (*port == 0) {
		if (getsockname(listener->fd, (struct sockaddr *)&sin, &sin_len) < 0)
			return listener_error(listener, *port, error);
		*port = ntohs(sin.sin_port);
	}
	return TRUE;
}

PmLanSocket *
pm_lan_socket_new(const guint32 *listen, guint n_listen, guint16 port,
		  PmLanSocketReceiveFunc func, gpointer user_data, GError **error)
{
	g_autoptr(PmLanSocket) self = NULL;

	g_return_val_if_fail(listen != NULL || n_listen == 0, NULL);
	g_return_val_if_fail(func != NULL, NULL);
	g_return_val_if_fail(error == NULL || *error == NULL, NULL);

	self = g_new0(PmLanSocket, 1);
	self->func = func;
	self->user_data = user_data;
	self->port = port;
	self->listeners = g_new0(Listener, n_listen);
	for (guint i = 0; i < n_listen; i++)
		self->listeners[i].fd = -1;
	self->n_listeners = n_listen;
	for (guint i = 0; i < PM_LAN_SOCKET_BATCH; i++) {
		self->rx_iov[i].iov_base = self->rx_bufs[i];
		self->rx_msgs[i].msg_hdr.msg_iov = &self->rx_iov[i];
		self->rx_msgs[i].msg_hdr.msg_iovlen = 1;
		self->rx_msgs[i].msg_hdr.msg_name = &self->rx_names[i];
		self->tx_iov[i].iov_base = self->tx_bufs[i];
		self->tx_msgs[i].msg_hdr.msg_iov = &self->tx_iov[i];
		self->tx_msgs[i].msg_hdr.msg_iovlen = 1;
		self->tx_msgs[i].msg_hdr.msg_name = &self->tx_names[i];
		self->tx_msgs[i].msg_hdr.msg_namelen = sizeof(self->tx_names[i]);
	}

	for (guint i = 0; i < n_listen; i++) {
		Listener *listener = &self->listeners[i];

		listener->owner = self;
		listener->address = listen[i];
		/* port 0 (tests): the first address picks one, the others take the same */
		if (!listener_open(listener, &self->port, error))
			return NULL;
		listener->source = g_unix_fd_source_new(listener->fd, G_IO_IN);
		g_source_set_callback(listener->source, G_SOURCE_FUNC(listener_readable_cb),
				      listener, NULL);
		/* before the timers and the bus in a busy loop iteration: a client's request
		 * never waits behind more than one piece of other work (a router rule, a
		 * state write), and answering costs microseconds, so nothing else starves */
		g_source_set_priority(listener->source, G_PRIORITY_DEFAULT - 1);
		/* GLib blocks a non-recursive source while it dispatches by taking its fd out of
		 * the poll set and back, each change a write to the context's wakeup fd: three
		 * syscalls more per request at one in flight (measured: 6 per answer, now 3).
		 * Nothing here runs a nested loop */
		g_source_set_can_recurse(listener->source, TRUE);
		g_source_attach(listener->source, g_main_context_get_thread_default());
	}
	return g_steal_pointer(&self);
}

void
pm_lan_socket_free(PmLanSocket *self)
{
	if (self == NULL)
		return;
	for (guint i = 0; i < self->n_listeners; i++) {
		Listener *listener = &self->listeners[i];

		if (listener->source != NULL) {
			g_source_destroy(listener->source);
			g_source_unref(listener->source);
		}
		if (listener->fd >= 0)
			close(listener->fd);
	}
	g_free(self->listeners);
	g_free(self);
}

guint16
pm_lan_socket_get_port(PmLanSocket *self)
{
	g_return_val_if_fail(self != NULL, 0);
	return self->port;
}

void
pm_lan_socket_get_stats(PmLanSocket *self, PmLanSocketStats *out)
{
	g_return_if_fail(self != NULL);
	g_return_if_fail(out != NULL);
	*out = self->stats;
}
