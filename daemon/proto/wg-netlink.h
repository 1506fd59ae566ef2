/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <glib.h>

#include "wg-uapi.h"

/*
 * The kernel WireGuard's generic netlink messages (linux/wireguard.h): the lookup of the
 * "wireguard" family through the generic netlink controller, the dump of one device's
 * peers, and the setting of one peer's endpoint. Pure: the builders write into a caller's
 * buffer, the parsers read one datagram at a time and never outside it (fuzzed).
 *
 * Every reply message is matched to its request by sequence number: messages with another
 * one are skipped. Host byte order everywhere but in the sockaddr's port and address.
 *
 * Secrets: a WG_CMD_GET_DEVICE dump carries WGDEVICE_A_PRIVATE_KEY and each peer's
 * WGPEER_A_PRESHARED_KEY. The parser never copies them; the caller wipes the datagram.
 *
 * What the kernel does (drivers/net/wireguard/netlink.c), which the updater relies on:
 * both commands need CAP_NET_ADMIN (GENL_UNS_ADMIN_PERM), reading as well as writing;
 * WGPEER_F_UPDATE_ONLY with an unknown key is a silent success; an endpoint whose length
 * is not exactly that of its family's sockaddr is silently ignored; a peer whose allowed
 * IPs do not fit one message is repeated at the start of the next with only its key and
 * more allowed IPs (the reader coalesces them); the dump always ends with NLMSG_DONE,
 * which carries the error if there is one, unless the dump could not start (no such
 * interface: ENODEV; not a WireGuard one: EOPNOTSUPP), which is an NLMSG_ERROR.
 */

/* room for any request below */
#define PM_WG_NL_REQUEST_MAX 128

/* CTRL_CMD_GETFAMILY for "wireguard" (NLM_F_REQUEST | NLM_F_ACK): the message's length, 0
 * if @size is too small */
gsize pm_wg_nl_build_get_family(guint8 *buf, gsize size, guint32 seq);
/* WG_CMD_GET_DEVICE of @ifname (NLM_F_REQUEST | NLM_F_ACK | NLM_F_DUMP); 0 if @size is too
 * small or @ifname is not an interface name */
gsize pm_wg_nl_build_get_device(guint8 *buf, gsize size, guint32 seq, guint16 family_id,
				const char *ifname);
/* WG_CMD_SET_DEVICE (NLM_F_REQUEST | NLM_F_ACK) of @ifname with one peer: its public key,
 * WGPEER_F_UPDATE_ONLY and @endpoint as a struct sockaddr_in or sockaddr_in6 */
gsize pm_wg_nl_build_set_endpoint(guint8 *buf, gsize size, guint32 seq, guint16 family_id,
				  const char *ifname, const guint8 *public_key,
				  const PmWgEndpoint *endpoint);

/* where an exchange stands; zeroed before its first datagram */
typedef struct {
	gboolean done; /* the answer to the request is complete */
	int errnum;    /* the kernel refused the request: its errno (positive), else 0 */
} PmWgNlStatus;

/*
 * One datagram of the answer to pm_wg_nl_build_get_family(numbered @seq): the family's
 * id into *@family_id when it comes; done at the acknowledgement (or the error: ENOENT
 * when the kernel has no WireGuard). FALSE with @error (PM_WG_CODEC_ERROR) for a
 * malformed datagram, or an acknowledgement without an id.
 */
gboolean pm_wg_nl_parse_family(const guint8 *buf, gsize len, guint32 seq, guint16 *family_id,
			       PmWgNlStatus *status, GError **error);

/*
 * One datagram of the dump asked by pm_wg_nl_build_get_device(): its peers are added to
 * @device (public key and endpoint; a peer continued from the previous message is
 * coalesced), all of the datagram's or none. FALSE with @error for a malformed datagram,
 * a peer listed twice apart, or a dump the kernel marked interrupted (NLM_F_DUMP_INTR:
 * the device changed while it was read).
 */
gboolean pm_wg_nl_parse_device(const guint8 *buf, gsize len, guint32 seq, guint16 family_id,
			       PmWgDevice *device, PmWgNlStatus *status, GError **error);

/* the NLMSG_ERROR that answers a request (an acknowledgement when errnum is 0) */
gboolean pm_wg_nl_parse_ack(const guint8 *buf, gsize len, guint32 seq, PmWgNlStatus *status,
			    GError **error);
