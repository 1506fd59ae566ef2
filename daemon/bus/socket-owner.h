/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <glib.h>

/*
 * Who has a socket bound to a local port: the uids of listening TCP and of UDP sockets, IPv4
 * and IPv6, from a NETLINK_SOCK_DIAG (inet_diag) dump. AddMapping asks for more than
 * org.portmap.add-mapping when another user's socket is bound to the internal port: a mapping
 * would expose that user's service to the internet.
 *
 * The parsing of the kernel's answer is apart from the socket I/O so that it can be tested
 * with hand-made datagrams.
 */

/* one inet_diag dump being read */
typedef struct {
	guint32 seq;	      /* the request's sequence number: other messages are skipped */
	guint16 port;	      /* the local port looked for, host byte order */
	GArray *uids;	      /* guint32, each uid once */
	gboolean done;	      /* NLMSG_DONE was seen */
	gboolean interrupted; /* NLM_F_DUMP_INTR: the sockets changed meanwhile, ask again */
} PmSocketDump;

/* reads one datagram of the dump: the owner of every socket whose local port is @dump->port is
 * added to @dump->uids; FALSE on a netlink error or a malformed message */
gboolean pm_socket_dump_parse(PmSocketDump *dump, const guint8 *buf, gsize len, GError **error);

/*
 * The uids (guint32, each once) owning a socket bound to local @port: listening TCP sockets if
 * @protocols has PM_PROTOCOL_TCP, UDP sockets if it has PM_PROTOCOL_UDP. Synchronous.
 */
GArray *pm_socket_owner_query(guint16 port, guint protocols, GError **error);
