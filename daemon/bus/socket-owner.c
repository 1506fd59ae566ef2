/* SPDX-License-Identifier: GPL-2.0-or-later */

#include <errno.h>
#include <gio/gio.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config.h"
#include "netlink.h"
#include "socket-owner.h"

/*
 * Synchronous on purpose: the dump is answered by the kernel of this host from its socket
 * tables while we read it, nothing on the network is waited for and nothing can stall it,
 * and it is bounded: the request names the port (the kernel skips other ports where it
 * filters on it) and at worst it lists the host's listening TCP or UDP sockets once, a
 * matter of milliseconds. It runs only for an AddMapping of a caller polkit will be asked
 * about, not for root.
 */

/* larger than any datagram of a dump (the kernel fills about a page per datagram) */
#define PM_SOCKET_DUMP_BUFFER_SIZE (64 * 1024)
/* NLM_F_DUMP_INTR: the socket tables changed during the dump, ask again this often */
#define PM_SOCKET_DUMP_ATTEMPTS 4

static void
pm_socket_dump_add_uid(PmSocketDump *dump, guint32 uid)
{
	for (guint i = 0; i < dump->uids->len; i++) {
		if (g_array_index(dump->uids, guint32, i) == uid)
			return;
	}
	g_array_append_val(dump->uids, uid);
}

gboolean
pm_socket_dump_parse(PmSocketDump *dump, const guint8 *buf, gsize len, GError **error)
{
	gsize offset = 0;
	struct nlmsghdr hdr;
	const guint8 *payload;
	gsize payload_len;
	GError *local_error = NULL;

	while (!dump->done && pm_netlink_next_message(buf, len, &offset, &hdr, &payload,
						      &payload_len, &local_error)) {
		if (hdr.nlmsg_seq != dump->seq)
			continue;
		if (hdr.nlmsg_flags & NLM_F_DUMP_INTR)
			dump->interrupted = TRUE;

		if (hdr.nlmsg_type == NLMSG_DONE) {
			dump->done = TRUE;
		} else if (hdr.nlmsg_type == NLMSG_ERROR) {
			int errnum;
			if (!pm_netlink_error_code(payload, payload_len, &errnum, error))
				return FALSE;
			/* 0 is an acknowledgement, which a dump does not send: ignore it */
			if (errnum == 0)
				continue;
			g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errnum),
				    "the kernel refused the socket dump: %s", g_strerror(errnum));
			return FALSE;
		} else if (hdr.nlmsg_type == SOCK_DIAG_BY_FAMILY) {
			struct inet_diag_msg msg;
			if (payload_len < sizeof(msg)) {
				g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
						    "truncated inet_diag message");
				return FALSE;
			}
			memcpy(&msg, payload, sizeof(msg));
			if (ntohs(msg.id.idiag_sport) == dump->port)
				pm_socket_dump_add_uid(dump, msg.idiag_uid);
		}
		/* NLMSG_NOOP and anything else carry no socket */
	}
	if (local_error != NULL) {
		g_propagate_error(error, local_error);
		return FALSE;
	}
	return TRUE;
}

/* one dump of one family and protocol, its owners added to @uids; FALSE with @error set if the
 * dump failed, TRUE with *@interrupted when it has to be asked again */
static gboolean
pm_socket_owner_dump(int fd, guint32 seq, guint8 family, guint8 protocol, guint16 port,
		     GArray *uids, gboolean *interrupted, GError **error)
{
	struct {
		struct nlmsghdr hdr;
		struct inet_diag_req_v2 req;
	} request = {
	    .hdr =
		{
		    .nlmsg_len = sizeof(request),
		    .nlmsg_type = SOCK_DIAG_BY_FAMILY,
		    .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP,
		    .nlmsg_seq = seq,
		},
	    .req =
		{
		    .sdiag_family = family,
		    .sdiag_protocol = protocol,
		    /* TCP: listeners only (a connection's local port is not a service);
		     * UDP: every state (bound and connected sockets) */
		    .idiag_states = protocol == IPPROTO_TCP ? 1u << TCP_LISTEN : ~0u,
		    /* the kernel skips other ports itself (the parser checks again) */
		    .id = {.idiag_sport = htons(port),
			   .idiag_cookie = {INET_DIAG_NOCOOKIE, INET_DIAG_NOCOOKIE}},
		},
	};
	struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
	g_autofree guint8 *buf = g_malloc(PM_SOCKET_DUMP_BUFFER_SIZE);
	PmSocketDump dump = {.seq = seq, .port = port, .uids = uids};

	if (sendto(fd, &request, sizeof(request), 0, (struct sockaddr *)&kernel,
		   sizeof(kernel)) < 0) {
		int errsv = errno;
		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errsv),
			    "cannot ask the kernel for its sockets: %s", g_strerror(errsv));
		return FALSE;
	}
	while (!dump.done) {
		gssize n = pm_netlink_receive(fd, buf, PM_SOCKET_DUMP_BUFFER_SIZE,
					      "socket dump", error);
		if (n < 0)
			return FALSE;
		if (!pm_socket_dump_parse(&dump, buf, (gsize)n, error))
			return FALSE;
	}
	*interrupted = dump.interrupted;
	return TRUE;
}

GArray *
pm_socket_owner_query(guint16 port, guint protocols, GError **error)
{
	static const guint8 families[] = {AF_INET, AF_INET6};
	g_autoptr(GArray) uids = NULL;
	guint32 seq = 0;
	int fd;

	fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	if (fd < 0) {
		int errsv = errno;
		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errsv),
			    "cannot open a NETLINK_SOCK_DIAG socket: %s", g_strerror(errsv));
		return NULL;
	}
	for (guint attempt = 0; attempt < PM_SOCKET_DUMP_ATTEMPTS; attempt++) {
		gboolean interrupted = FALSE;
		uids = g_array_new(FALSE, FALSE, sizeof(guint32));
		for (guint f = 0; f < G_N_ELEMENTS(families); f++) {
			for (guint p = 0; p < 2; p++) {
				guint8 protocol = p == 0 ? IPPROTO_TCP : IPPROTO_UDP;
				gboolean intr = FALSE;
				if ((protocols & (p == 0 ? PM_PROTOCOL_TCP : PM_PROTOCOL_UDP)) == 0)
					continue;
				if (!pm_socket_owner_dump(fd, ++seq, families[f], protocol, port,
							  uids, &intr, error)) {
					close(fd);
					return NULL;
				}
				interrupted |= intr;
			}
		}
		if (!interrupted) {
			close(fd);
			return g_steal_pointer(&uids);
		}
		g_clear_pointer(&uids, g_array_unref);
	}
	close(fd);
	g_set_error(error, G_IO_ERROR, G_IO_ERROR_BUSY,
		    "the sockets on port %u kept changing while they were listed", port);
	return NULL;
}
