/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <glib.h>
#include <linux/netlink.h>

/*
 * Walking the messages of one netlink datagram the kernel sent (rtnetlink, sock_diag):
 * pure, no I/O, never reads outside the buffer.
 */

/* the message at *@offset: TRUE with its header copied out (the buffer need not be aligned
 * for the kernel's structures), its payload and *@offset moved past it; FALSE at the end
 * (@error unset) or for a malformed message (@error set, G_IO_ERROR_INVALID_DATA) */
gboolean pm_netlink_next_message(const guint8 *buf, gsize len, gsize *offset,
				 struct nlmsghdr *hdr, const guint8 **payload, gsize *payload_len,
				 GError **error);

/* one datagram from the kernel on the netlink socket @fd into @buf (@size bytes): its
 * length, or -1 with @error (a receive timeout set on @fd is G_IO_ERROR_TIMED_OUT; a
 * datagram larger than @buf is an error, never half-read). Datagrams from anyone but the
 * kernel are skipped, a few at most. @what names what was asked, for the messages. */
gssize pm_netlink_receive(int fd, guint8 *buf, gsize size, const char *what, GError **error);

/* the error code of an NLMSG_ERROR message's payload: TRUE with *@errnum (0 for an
 * acknowledgement, else a positive errno), FALSE with @error if it is truncated or holds no
 * errno at all */
gboolean pm_netlink_error_code(const guint8 *payload, gsize payload_len, int *errnum,
			       GError **error);
