/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <gio/gio.h>
#include <string.h>

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
