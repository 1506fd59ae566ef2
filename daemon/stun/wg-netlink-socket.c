/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "wg-netlink-socket.h"

#include <errno.h>
#include <gio/gio.h>
#include <glib-unix.h>
#include <linux/netlink.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct _PmWgNetlinkSocket {
	int fd;
	guint source_id;
	PmWgNetlinkRecvFunc func;
	gpointer user_data;
	/* set while the callback runs: cleared by a free from inside it */
	gboolean *alive;
	guint8 buf[PM_WG_NETLINK_RECV_SIZE];
};

int
pm_wg_netlink_open_kernel(gpointer user_data, GError **error)
{
	struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_GENERIC);
	int saved;

	if (fd < 0) {
		saved = errno;
		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(saved),
			    "cannot open a generic netlink socket: %s", g_strerror(saved));
		return -1;
	}
	/* binds our port id too; only the kernel's datagrams reach us */
	if (connect(fd, (struct sockaddr *)&kernel, sizeof(kernel)) < 0) {
		saved = errno;
		close(fd);
		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(saved),
			    "cannot connect a generic netlink socket: %s", g_strerror(saved));
		return -1;
	}
	return fd;
}

/* delivers the callback's error; FALSE if the callback freed the socket */
static gboolean
deliver(PmWgNetlinkSocket *self, const guint8 *data, gsize len, const GError *error)
{
	gboolean alive = TRUE;

	self->alive = &alive;
	self->func(self, data, len, error, self->user_data);
	if (!alive)
		return FALSE;
	self->alive = NULL;
	return TRUE;
}

static gboolean
readable_cb(gint fd, GIOCondition condition, gpointer user_data)
{
	PmWgNetlinkSocket *self = user_data;

	/* a bounded batch per wake-up; the rest on the next */
	for (guint i = 0; i < 16; i++) {
		struct sockaddr_nl from = {0};
		struct iovec iov = {.iov_base = self->buf, .iov_len = sizeof(self->buf)};
		struct msghdr mh = {
		    .msg_name = &from,
		    .msg_namelen = sizeof(from),
		    .msg_iov = &iov,
		    .msg_iovlen = 1,
		};
		ssize_t n = recvmsg(fd, &mh, MSG_DONTWAIT);
		gboolean alive;

		if (n < 0) {
			int saved = errno;
			g_autoptr(GError) error = NULL;

			if (saved == EAGAIN || saved == EWOULDBLOCK)
				break;
			if (saved == EINTR)
				continue;
			g_set_error(&error, G_IO_ERROR, g_io_error_from_errno(saved),
				    "cannot read the kernel's answer: %s", g_strerror(saved));
			if (!deliver(self, NULL, 0, error))
				return G_SOURCE_REMOVE;
			continue;
		}
		if (mh.msg_flags & MSG_TRUNC) {
			g_autoptr(GError) error = g_error_new_literal(
			    G_IO_ERROR, G_IO_ERROR_MESSAGE_TOO_LARGE,
			    "the kernel's answer did not fit the buffer");
			explicit_bzero(self->buf, sizeof(self->buf));
			if (!deliver(self, NULL, 0, error))
				return G_SOURCE_REMOVE;
			continue;
		}
		/* only the kernel speaks for the kernel (a test's socketpair has no address) */
		if (mh.msg_namelen >= sizeof(from) && from.nl_family == AF_NETLINK &&
		    from.nl_pid != 0) {
			explicit_bzero(self->buf, (gsize)n);
			continue;
		}
		alive = deliver(self, self->buf, (gsize)n, NULL);
		if (!alive)
			return G_SOURCE_REMOVE;
		explicit_bzero(self->buf, (gsize)n);
	}
	return G_SOURCE_CONTINUE;
}

PmWgNetlinkSocket *
pm_wg_netlink_socket_new(PmWgNetlinkOpenFunc open_func, gpointer open_data,
			 PmWgNetlinkRecvFunc func, gpointer user_data, GError **error)
{
	int fd = open_func(open_data, error);
	PmWgNetlinkSocket *self;

	if (fd < 0)
		return NULL;
	self = g_new0(PmWgNetlinkSocket, 1);
	self->fd = fd;
	self->func = func;
	self->user_data = user_data;
	self->source_id = g_unix_fd_add(fd, G_IO_IN, readable_cb, self);
	return self;
}

void
pm_wg_netlink_socket_free(PmWgNetlinkSocket *self)
{
	if (self == NULL)
		return;
	if (self->alive != NULL)
		*self->alive = FALSE;
	g_source_remove(self->source_id);
	close(self->fd);
	explicit_bzero(self->buf, sizeof(self->buf));
	g_free(self);
}

gboolean
pm_wg_netlink_socket_send(PmWgNetlinkSocket *self, const guint8 *data, gsize len,
			  GError **error)
{
	ssize_t n;

	do {
		n = send(self->fd, data, len, MSG_DONTWAIT);
	} while (n < 0 && errno == EINTR);
	if (n < 0) {
		int saved = errno;
		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(saved),
			    "cannot send to the kernel: %s", g_strerror(saved));
		return FALSE;
	}
	if ((gsize)n != len) {
		g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_FAILED,
				    "the kernel took part of a request");
		return FALSE;
	}
	return TRUE;
}
