/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "stun-socket.h"

#include <errno.h>
#include <gio/gio.h>
#include <glib-unix.h>
#include <netinet/in.h>
#include <string.h>
#include <unistd.h>

struct _PmStunSocket {
	int fd;
	int family;
	guint16 port;
	guint source_id;
	PmStunSocketRecvFunc func;
	gpointer user_data;
};

static gboolean
readable_cb(gint fd, GIOCondition condition, gpointer user_data)
{
	PmStunSocket *self = user_data;

	/* a bounded batch per wake-up: a flood must not starve the rest of the loop */
	for (guint i = 0; i < 64; i++) {
		guint8 buf[1500];
		struct sockaddr_storage from;
		socklen_t from_len = sizeof(from);
		ssize_t n = recvfrom(fd, buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *)&from,
				     &from_len);

		if (n < 0) {
			/* ICMP errors (a refused port) come back as errors here: the probe
			 * retransmits or times out as for silence */
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			continue;
		}
		self->func(self, buf, (gsize)n, (struct sockaddr *)&from, from_len,
			   self->user_data);
	}
	return G_SOURCE_CONTINUE;
}

PmStunSocket *
pm_stun_socket_new(int family, guint16 port, PmStunSocketRecvFunc func, gpointer user_data,
		   GError **error)
{
	g_autofree PmStunSocket *self = g_new0(PmStunSocket, 1);
	struct sockaddr_storage addr = {0};
	socklen_t len;
	int one = 1;
	int saved;

	self->fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_UDP);
	if (self->fd < 0) {
		saved = errno;
		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(saved),
			    "cannot open a UDP socket: %s", g_strerror(saved));
		return NULL;
	}
	self->family = family;
	if (family == AF_INET6)
		(void)setsockopt(self->fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (port != 0) {
		/* shares the port with a WireGuard that allows it (wireguard-go with
		 * SO_REUSEPORT); a kernel WireGuard does not, and the bind fails */
		(void)setsockopt(self->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		(void)setsockopt(self->fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
	}
	if (family == AF_INET6) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&addr;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		len = sizeof(*sin6);
	} else {
		struct sockaddr_in *sin = (struct sockaddr_in *)&addr;
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		len = sizeof(*sin);
	}
	if (bind(self->fd, (struct sockaddr *)&addr, len) < 0) {
		saved = errno;
		close(self->fd);
		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(saved),
			    saved == EADDRINUSE
				? "port %u is in use by a socket without SO_REUSEPORT (a kernel "
				  "WireGuard?)"
				: "cannot bind port %u: %s",
			    port, g_strerror(saved));
		return NULL;
	}
	len = sizeof(addr);
	if (getsockname(self->fd, (struct sockaddr *)&addr, &len) == 0)
		self->port = ntohs(family == AF_INET6 ? ((struct sockaddr_in6 *)&addr)->sin6_port
						      : ((struct sockaddr_in *)&addr)->sin_port);
	self->func = func;
	self->user_data = user_data;
	self->source_id = g_unix_fd_add(self->fd, G_IO_IN, readable_cb, self);
	return g_steal_pointer(&self);
}

void
pm_stun_socket_free(PmStunSocket *self)
{
	if (self == NULL)
		return;
	g_source_remove(self->source_id);
	close(self->fd);
	g_free(self);
}

int
pm_stun_socket_get_family(const PmStunSocket *self)
{
	return self->family;
}

guint16
pm_stun_socket_get_port(const PmStunSocket *self)
{
	return self->port;
}

gboolean
pm_stun_socket_send(PmStunSocket *self, const guint8 *data, gsize len, const struct sockaddr *to,
		    socklen_t to_len, GError **error)
{
	if (sendto(self->fd, data, len, MSG_DONTWAIT, to, to_len) < 0) {
		int saved = errno;
		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(saved), "%s",
			    g_strerror(saved));
		return FALSE;
	}
	return TRUE;
}
