/* SPDX-License-Identifier: GPL-2.0-or-later */
/* the NETLINK_SOCK_DIAG parser of socket-owner.c on hand-made datagrams, and the query on
 * sockets bound by this test (as another uid too, when run as root) */

#include <arpa/inet.h>
#include <gio/gio.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "socket-owner.h"

/* appends one netlink message (header + payload, aligned) to @buf */
static void
append_message(GByteArray *buf, guint16 type, guint16 flags, guint32 seq, const void *payload,
	       gsize payload_len)
{
	struct nlmsghdr hdr = {
	    .nlmsg_len = NLMSG_LENGTH(payload_len),
	    .nlmsg_type = type,
	    .nlmsg_flags = flags,
	    .nlmsg_seq = seq,
	};
	static const guint8 zeros[NLMSG_ALIGNTO] = {0};

	g_byte_array_append(buf, (const guint8 *)&hdr, sizeof(hdr));
	if (payload_len > 0)
		g_byte_array_append(buf, payload, payload_len);
	g_byte_array_append(buf, zeros, NLMSG_ALIGN(hdr.nlmsg_len) - hdr.nlmsg_len);
}

static void
append_socket(GByteArray *buf, guint32 seq, guint8 family, guint16 port, guint32 uid)
{
	struct inet_diag_msg msg = {
	    .idiag_family = family,
	    .idiag_state = 10, /* TCP_LISTEN */
	    .id = {.idiag_sport = htons(port)},
	    .idiag_uid = uid,
	    .idiag_inode = 4242,
	};
	/* attributes follow the message in real dumps: the parser must skip them */
	guint8 payload[sizeof(msg) + 8] = {0};
	memcpy(payload, &msg, sizeof(msg));
	payload[sizeof(msg)] = 8; /* nla_len */
	append_message(buf, SOCK_DIAG_BY_FAMILY, NLM_F_MULTI, seq, payload, sizeof(payload));
}

static PmSocketDump
dump_new(guint32 seq, guint16 port)
{
	PmSocketDump dump = {.seq = seq, .port = port};
	dump.uids = g_array_new(FALSE, FALSE, sizeof(guint32));
	return dump;
}

static void
test_parse_filters_port_and_dedupes(void)
{
	g_autoptr(GByteArray) buf = g_byte_array_new();
	g_autoptr(GError) error = NULL;
	PmSocketDump dump = dump_new(7, 8080);
	gint32 done = 0;

	append_socket(buf, 7, AF_INET, 8080, 1000);
	append_socket(buf, 7, AF_INET6, 8080, 1000); /* the same user twice: listed once */
	append_socket(buf, 7, AF_INET, 8081, 1001);  /* another port */
	append_socket(buf, 6, AF_INET, 8080, 1002);  /* another request */
	append_socket(buf, 7, AF_INET6, 8080, 0);
	g_assert_true(pm_socket_dump_parse(&dump, buf->data, buf->len, &error));
	g_assert_no_error(error);
	g_assert_false(dump.done);
	g_assert_false(dump.interrupted);
	g_assert_cmpuint(dump.uids->len, ==, 2);
	g_assert_cmpuint(g_array_index(dump.uids, guint32, 0), ==, 1000);
	g_assert_cmpuint(g_array_index(dump.uids, guint32, 1), ==, 0);

	/* the next datagram ends the dump; what follows DONE is not read */
	g_byte_array_set_size(buf, 0);
	append_message(buf, NLMSG_DONE, NLM_F_MULTI, 7, &done, sizeof(done));
	append_socket(buf, 7, AF_INET, 8080, 1003);
	g_assert_true(pm_socket_dump_parse(&dump, buf->data, buf->len, &error));
	g_assert_no_error(error);
	g_assert_true(dump.done);
	g_assert_cmpuint(dump.uids->len, ==, 2);
	g_array_unref(dump.uids);
}

static void
test_parse_interrupted(void)
{
	g_autoptr(GByteArray) buf = g_byte_array_new();
	g_autoptr(GError) error = NULL;
	PmSocketDump dump = dump_new(3, 53);
	struct inet_diag_msg msg = {.id = {.idiag_sport = htons(53)}, .idiag_uid = 101};

	append_message(buf, SOCK_DIAG_BY_FAMILY, NLM_F_MULTI | NLM_F_DUMP_INTR, 3, &msg,
		       sizeof(msg));
	append_message(buf, NLMSG_NOOP, 0, 3, NULL, 0);
	g_assert_true(pm_socket_dump_parse(&dump, buf->data, buf->len, &error));
	g_assert_no_error(error);
	g_assert_true(dump.interrupted);
	g_assert_cmpuint(dump.uids->len, ==, 1);
	g_array_unref(dump.uids);
}

static void
test_parse_netlink_error(void)
{
	g_autoptr(GByteArray) buf = g_byte_array_new();
	g_autoptr(GError) error = NULL;
	PmSocketDump dump = dump_new(1, 80);
	struct nlmsgerr err = {.error = -EPERM};

	append_message(buf, NLMSG_ERROR, 0, 1, &err, sizeof(err));
	g_assert_false(pm_socket_dump_parse(&dump, buf->data, buf->len, &error));
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED);
	g_array_unref(dump.uids);
}

static void
test_parse_malformed(void)
{
	g_autoptr(GByteArray) buf = g_byte_array_new();
	struct inet_diag_msg msg = {0};
	struct nlmsghdr *hdr;
	PmSocketDump dump = dump_new(1, 80);

	/* shorter than a header */
	{
		g_autoptr(GError) error = NULL;
		guint8 tiny[8] = {0};
		g_assert_false(pm_socket_dump_parse(&dump, tiny, sizeof(tiny), &error));
		g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
	}
	/* a length beyond the datagram */
	{
		g_autoptr(GError) error = NULL;
		append_message(buf, SOCK_DIAG_BY_FAMILY, 0, 1, &msg, sizeof(msg));
		hdr = (struct nlmsghdr *)buf->data;
		hdr->nlmsg_len = buf->len + 4;
		g_assert_false(pm_socket_dump_parse(&dump, buf->data, buf->len, &error));
		g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
	}
	/* a length below a header's */
	{
		g_autoptr(GError) error = NULL;
		hdr->nlmsg_len = 4;
		g_assert_false(pm_socket_dump_parse(&dump, buf->data, buf->len, &error));
		g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
	}
	/* a socket message too short for an inet_diag_msg */
	{
		g_autoptr(GError) error = NULL;
		g_byte_array_set_size(buf, 0);
		append_message(buf, SOCK_DIAG_BY_FAMILY, 0, 1, &msg, sizeof(msg) - 4);
		g_assert_false(pm_socket_dump_parse(&dump, buf->data, buf->len, &error));
		g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
	}
	/* unaligned input is fine */
	{
		g_autoptr(GError) error = NULL;
		g_autoptr(GByteArray) shifted = g_byte_array_new();
		guint8 pad = 0;
		g_byte_array_set_size(buf, 0);
		append_socket(buf, 1, AF_INET, 80, 33);
		g_byte_array_append(shifted, &pad, 1);
		g_byte_array_append(shifted, buf->data, buf->len);
		g_assert_true(pm_socket_dump_parse(&dump, shifted->data + 1, buf->len, &error));
		g_assert_no_error(error);
		g_assert_cmpuint(dump.uids->len, ==, 1);
		g_assert_cmpuint(g_array_index(dump.uids, guint32, 0), ==, 33);
	}
	g_array_unref(dump.uids);
}

static gboolean
uids_contain(GArray *uids, guint32 uid)
{
	for (guint i = 0; i < uids->len; i++) {
		if (g_array_index(uids, guint32, i) == uid)
			return TRUE;
	}
	return FALSE;
}

/* a socket of @type bound to loopback of @family on a free port; returns the fd */
static int
bind_loopback(int family, int type, guint16 *port)
{
	struct sockaddr_storage ss = {0};
	socklen_t len;
	int fd = socket(family, type | SOCK_CLOEXEC, 0);

	g_assert_cmpint(fd, >=, 0);
	if (family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
		sin->sin_family = AF_INET;
		sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		sin->sin_port = htons(*port);
		len = sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_addr = in6addr_loopback;
		sin6->sin6_port = htons(*port);
		len = sizeof(*sin6);
	}
	g_assert_cmpint(bind(fd, (struct sockaddr *)&ss, len), ==, 0);
	if (type == SOCK_STREAM)
		g_assert_cmpint(listen(fd, 1), ==, 0);
	len = sizeof(ss);
	g_assert_cmpint(getsockname(fd, (struct sockaddr *)&ss, &len), ==, 0);
	*port = ntohs(family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
					: ((struct sockaddr_in6 *)&ss)->sin6_port);
	return fd;
}

static void
test_query_own_sockets(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GArray) uids = NULL;
	guint16 tcp_port = 0;
	guint16 udp_port = 0;
	int tcp = bind_loopback(AF_INET, SOCK_STREAM, &tcp_port);
	int udp = bind_loopback(AF_INET, SOCK_DGRAM, &udp_port);
	int probe = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	uids = pm_socket_owner_query(tcp_port, PM_PROTOCOL_TCP, &error);
	g_assert_no_error(error);
	g_assert_true(uids_contain(uids, getuid()));
	g_clear_pointer(&uids, g_array_unref);

	/* the listener is TCP: a UDP mapping of that port does not expose it */
	uids = pm_socket_owner_query(tcp_port, PM_PROTOCOL_UDP, &error);
	g_assert_no_error(error);
	g_assert_false(uids_contain(uids, getuid()));
	g_clear_pointer(&uids, g_array_unref);

	uids = pm_socket_owner_query(udp_port, PM_PROTOCOL_TCP | PM_PROTOCOL_UDP, &error);
	g_assert_no_error(error);
	g_assert_true(uids_contain(uids, getuid()));
	g_clear_pointer(&uids, g_array_unref);

	/* IPv6 listeners count as well, where the host has IPv6 on loopback */
	if (probe >= 0) {
		struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6, .sin6_addr = in6addr_loopback};
		socklen_t len = sizeof(sin6);
		if (bind(probe, (struct sockaddr *)&sin6, sizeof(sin6)) == 0 &&
		    getsockname(probe, (struct sockaddr *)&sin6, &len) == 0) {
			guint16 port6 = ntohs(sin6.sin6_port);
			uids = pm_socket_owner_query(port6, PM_PROTOCOL_UDP, &error);
			g_assert_no_error(error);
			g_assert_true(uids_contain(uids, getuid()));
			g_clear_pointer(&uids, g_array_unref);
		}
		close(probe);
	}
	close(tcp);
	close(udp);
}

static void
test_query_socket_of_another_uid(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GArray) uids = NULL;
	/* as root the socket belongs to nobody; otherwise to us, which still tests the query */
	guint32 uid = getuid() == 0 ? 65534 : getuid();
	int ready[2];
	int hold[2];
	guint16 port = 0;
	pid_t pid;
	int status = 0;

	g_assert_cmpint(pipe(ready), ==, 0);
	g_assert_cmpint(pipe(hold), ==, 0);
	pid = fork();
	g_assert_cmpint(pid, >=, 0);
	if (pid == 0) {
		guint16 p = 0;
		char c;
		int fd;
		close(ready[0]);
		close(hold[1]);
		if (getuid() == 0 && (setresgid(uid, uid, uid) < 0 || setresuid(uid, uid, uid) < 0))
			_exit(2);
		fd = bind_loopback(AF_INET, SOCK_STREAM, &p);
		if (write(ready[1], &p, sizeof(p)) != sizeof(p))
			_exit(3);
		/* keep the socket until the parent has looked */
		if (read(hold[0], &c, 1) < 0)
			_exit(4);
		close(fd);
		_exit(0);
	}
	close(ready[1]);
	close(hold[0]);
	g_assert_cmpint(read(ready[0], &port, sizeof(port)), ==, sizeof(port));
	uids = pm_socket_owner_query(port, PM_PROTOCOL_TCP, &error);
	g_assert_no_error(error);
	g_assert_cmpuint(uids->len, ==, 1);
	g_assert_cmpuint(g_array_index(uids, guint32, 0), ==, uid);
	close(hold[1]);
	close(ready[0]);
	g_assert_cmpint(waitpid(pid, &status, 0), ==, pid);
	g_assert_true(WIFEXITED(status));
	g_assert_cmpint(WEXITSTATUS(status), ==, 0);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/socket-owner/parse/filters-port-and-dedupes",
			test_parse_filters_port_and_dedupes);
	g_test_add_func("/socket-owner/parse/interrupted", test_parse_interrupted);
	g_test_add_func("/socket-owner/parse/netlink-error", test_parse_netlink_error);
	g_test_add_func("/socket-owner/parse/malformed", test_parse_malformed);
	g_test_add_func("/socket-owner/query/own-sockets", test_query_own_sockets);
	g_test_add_func("/socket-owner/query/another-uid", test_query_socket_of_another_uid);
	return g_test_run();
}
