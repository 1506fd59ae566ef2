/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <gio/gio.h>
#include <string.h>
#include <sys/socket.h>

#include "netlink.h"

gboolean
pm_netlink_next_message(const guint8 *buf, gsize len, gsize *offset, struct nlmsghdr *hdr,
			const guint8 **payload, gsize *payload_len, GError **error)
{
	gsize left;

	if (*offset >= len)
		return FALSE;
	left = len - *offset;
	if (left < sizeof(*hdr)) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
			    "truncated netlink header (%" G_GSIZE_FORMAT " bytes)", left);
		return FALSE;
	}
	memcpy(hdr, buf + *offset, sizeof(*hdr));
	if (hdr->nlmsg_len < sizeof(*hdr) || hdr->nlmsg_len > left) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
			    "netlink message of invalid length %u", hdr->nlmsg_len);
		return FALSE;
	}
	*payload = buf + *offset + NLMSG_HDRLEN;
	*payload_len = hdr->nlmsg_len > NLMSG_HDRLEN ? hdr->nlmsg_len - NLMSG_HDRLEN : 0;
	*offset += MIN((gsize)NLMSG_ALIGN(hdr->nlmsg_len), left);
	return TRUE;
}

/* more than the kernel's answer and a stray datagram or two: someone is flooding us */
#define PM_NETLINK_MAX_FOREIGN 8

gssize
pm_netlink_receive(int fd, guint8 *buf, gsize size, const char *what, GError **error)
{
	for (guint foreign = 0; foreign < PM_NETLINK_MAX_FOREIGN;) {
		struct sockaddr_nl from = {0};
		struct iovec iov = {.iov_base = buf, .iov_len = size};
		struct msghdr mh = {
		    .msg_name = &from,
		    .msg_namelen = sizeof(from),
		    .msg_iov = &iov,
		    .msg_iovlen = 1,
		};
		ssize_t n = recvmsg(fd, &mh, 0);
		if (n < 0) {
			int errsv = errno;
			if (errsv == EINTR)
				continue;
			if (errsv == EAGAIN || errsv == EWOULDBLOCK) {
				g_set_error(error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
					    "the kernel did not answer with %s in time", what);
				return -1;
			}
			g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errsv),
				    "cannot read %s from the kernel: %s", what, g_strerror(errsv));
			return -1;
		}
		if (mh.msg_flags & MSG_TRUNC) {
			g_set_error(error, G_IO_ERROR, G_IO_ERROR_MESSAGE_TOO_LARGE,
				    "the kernel's %s did not fit the buffer", what);
			return -1;
		}
		if (n == 0) {
			g_set_error(error, G_IO_ERROR, G_IO_ERROR_CLOSED,
				    "the kernel's %s ended early", what);
			return -1;
		}
		/* only the kernel speaks for the kernel */
		if (from.nl_pid != 0) {
			foreign++;
			continue;
		}
		return n;
	}
	g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
		    "the kernel did not answer with %s", what);
	return -1;
}

gboolean
pm_netlink_error_code(const guint8 *payload, gsize payload_len, int *errnum, GError **error)
{
	struct nlmsgerr err;

	if (payload_len < sizeof(err)) {
		g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
				    "truncated netlink error message");
		return FALSE;
	}
	memcpy(&err, payload, sizeof(err));
	/* a negative errno or 0; anything else (and -INT_MIN) is no errno at all */
	if (err.error > 0 || err.error < -4095) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
			    "netlink error message with invalid error %d", err.error);
		return FALSE;
	}
	*errnum = -err.error;
	return TRUE;
}
