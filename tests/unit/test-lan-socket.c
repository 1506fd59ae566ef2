/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The LAN server's transport (gateway/lan-socket.c) on real sockets: 127.0.0.1 and
 * 127.0.0.2 (all of 127/8 is local), an ephemeral port. Loopback only.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <gio/gio.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lan-socket.h"

#define BURST 200

typedef struct {
	PmLanSocket *socket;
	guint received;
	guint from_first;
	guint from_second;
	guint32 first;
	guint32 second;
} Echo;

static guint32
ip(const char *text)
{
	guint32 addr = 0;
	g_assert_cmpint(inet_pton(AF_INET, text, &addr), ==, 1);
	return addr;
}

/* echoes each datagram with its first byte | 0x80, from the address it came to */
static void
echo_cb(guint32 local, guint32 source, guint16 source_port, const guint8 *buf, gsize len,
	gpointer user_data)
{
	Echo *echo = user_data;
	guint8 out[64];

	g_assert_cmpuint(len, >, 0);
	g_assert_cmpuint(len, <=, sizeof(out));
	echo->received++;
	if (local == echo->first)
		echo->from_first++;
	else if (local == echo->second)
		echo->from_second++;
	else
		g_assert_not_reached();
	memcpy(out, buf, len);
	out[0] |= 0x80;
	g_assert_true(pm_lan_socket_send(echo->socket, local, source, source_port, out, len));
}

static int
client_socket(void)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int size = 1 << 20;

	g_assert_cmpint(fd, >=, 0);
	/* room for the whole burst of answers (the kernel may cap it: 200 small ones fit
	 * the default too) */
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
	g_assert_cmpint(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), ==, 0);
	return fd;
}

static void
client_send(int fd, guint32 address, guint16 port, guint32 seq)
{
	struct sockaddr_in to = {.sin_family = AF_INET, .sin_addr.s_addr = address,
				 .sin_port = htons(port)};
	guint8 buf[8] = {0x00, 0x00};

	memcpy(buf + 4, &seq, sizeof(seq));
	g_assert_cmpint(sendto(fd, buf, sizeof(buf), 0, (struct sockaddr *)&to, sizeof(to)), ==,
			sizeof(buf));
}

/* one datagram within @timeout_ms while the main context runs, or FALSE */
static gboolean
client_receive(int fd, guint8 *buf, gsize *len, guint32 *from, gint timeout_ms)
{
	gint64 end = g_get_monotonic_time() + (gint64)timeout_ms * 1000;

	while (g_get_monotonic_time() < end) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		struct sockaddr_in sin;
		socklen_t sin_len = sizeof(sin);
		ssize_t n;

		while (g_main_context_iteration(NULL, FALSE))
			;
		if (poll(&pfd, 1, 5) <= 0)
			continue;
		n = recvfrom(fd, buf, *len, 0, (struct sockaddr *)&sin, &sin_len);
		g_assert_cmpint(n, >=, 0);
		*len = (gsize)n;
		*from = sin.sin_addr.s_addr;
		return TRUE;
	}
	return FALSE;
}

static void
test_burst(void)
{
	g_autoptr(GError) error = NULL;
	Echo echo = {.first = ip("127.0.0.1"), .second = ip("127.0.0.2")};
	guint32 listen[] = {echo.first, echo.second};
	gboolean seen[BURST] = {FALSE};
	PmLanSocketStats stats;
	guint16 port;
	int fd;

	echo.socket = pm_lan_socket_new(listen, 2, 0, echo_cb, &echo, &error);
	g_assert_no_error(error);
	port = pm_lan_socket_get_port(echo.socket);
	g_assert_cmpuint(port, !=, 0);

	/* all sent before the loop runs: the server finds them queued, 64 per wake-up */
	fd = client_socket();
	for (guint32 i = 0; i < BURST; i++)
		client_send(fd, i % 2 == 0 ? echo.first : echo.second, port, i);

	for (guint i = 0; i < BURST; i++) {
		guint8 buf[64];
		gsize len = sizeof(buf);
		guint32 from = 0;
		guint32 seq;

		g_assert_true(client_receive(fd, buf, &len, &from, 5000));
		g_assert_cmpuint(len, ==, 8);
		g_assert_cmpuint(buf[0], ==, 0x80);
		memcpy(&seq, buf + 4, sizeof(seq));
		g_assert_cmpuint(seq, <, BURST);
		g_assert_false(seen[seq]);
		seen[seq] = TRUE;
		/* answered from the address it was sent to */
		g_assert_cmpuint(from, ==, seq % 2 == 0 ? echo.first : echo.second);
	}
	g_assert_cmpuint(echo.received, ==, BURST);
	g_assert_cmpuint(echo.from_first, ==, BURST / 2);
	g_assert_cmpuint(echo.from_second, ==, BURST / 2);

	pm_lan_socket_get_stats(echo.socket, &stats);
	g_assert_cmpuint(stats.received, ==, BURST);
	g_assert_cmpuint(stats.sent, ==, BURST);
	g_assert_cmpuint(stats.send_errors, ==, 0);
	/* batched both ways: 100 queued per socket take at least 2 calls, and far fewer
	 * than one per datagram */
	g_assert_cmpuint(stats.receive_batches, >=, 4);
	g_assert_cmpuint(stats.receive_batches, <=, BURST / 4);
	g_assert_cmpuint(stats.send_batches, ==, stats.receive_batches);
	close(fd);
	pm_lan_socket_free(echo.socket);
}

static void
test_send_outside_batch(void)
{
	g_autoptr(GError) error = NULL;
	Echo echo = {.first = ip("127.0.0.1"), .second = ip("127.0.0.2")};
	guint32 listen[] = {echo.second};
	g_autoptr(PmLanSocket) sock = NULL;
	struct sockaddr_in sin;
	socklen_t sin_len = sizeof(sin);
	const guint8 hello[] = {0x00, 0x80, 0x00, 0x00};
	guint8 buf[16];
	PmLanSocketStats stats;
	int fd = client_socket();
	ssize_t n;

	sock = pm_lan_socket_new(listen, 1, 0, echo_cb, &echo, &error);
	g_assert_no_error(error);
	g_assert_cmpint(getsockname(fd, (struct sockaddr *)&sin, &sin_len), ==, 0);

	/* at once: the main loop does not run */
	g_assert_true(pm_lan_socket_send(sock, echo.second, sin.sin_addr.s_addr,
					 ntohs(sin.sin_port), hello, sizeof(hello)));
	n = recvfrom(fd, buf, sizeof(buf), 0, NULL, NULL);
	g_assert_cmpmem(buf, n, hello, sizeof(hello));
	/* not a listen address */
	g_assert_false(pm_lan_socket_send(sock, echo.first, sin.sin_addr.s_addr,
					  ntohs(sin.sin_port), hello, sizeof(hello)));
	pm_lan_socket_get_stats(sock, &stats);
	g_assert_cmpuint(stats.sent, ==, 1);
	g_assert_cmpuint(stats.send_errors, ==, 1);
	g_assert_cmpuint(echo.received, ==, 0);
	close(fd);
}

static void
test_address_in_use(void)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *want = NULL;
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = ip("127.0.0.2")};
	socklen_t sin_len = sizeof(sin);
	guint32 listen[] = {ip("127.0.0.1"), ip("127.0.0.2")};
	Echo echo = {0};
	PmLanSocket *sock;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	guint16 port;

	/* someone else on 127.0.0.2 (without SO_REUSEADDR): the second address fails, the
	 * first one is closed again */
	g_assert_cmpint(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), ==, 0);
	g_assert_cmpint(getsockname(fd, (struct sockaddr *)&sin, &sin_len), ==, 0);
	port = ntohs(sin.sin_port);

	sock = pm_lan_socket_new(listen, 2, port, echo_cb, &echo, &error);
	g_assert_null(sock);
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_ADDRESS_IN_USE);
	want = g_strdup_printf("cannot listen on 127.0.0.2:%u: %s", port, g_strerror(EADDRINUSE));
	g_assert_cmpstr(error->message, ==, want);
	g_clear_error(&error);

	/* the first address was closed again: a socket without SO_REUSEADDR can take it */
	{
		struct sockaddr_in first = {.sin_family = AF_INET,
					    .sin_addr.s_addr = ip("127.0.0.1"),
					    .sin_port = htons(port)};
		int fd2 = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

		g_assert_cmpint(bind(fd2, (struct sockaddr *)&first, sizeof(first)), ==, 0);
		close(fd2);
	}

	/* an address that is not ours */
	listen[0] = ip("192.0.2.1");
	sock = pm_lan_socket_new(listen, 1, port, echo_cb, &echo, &error);
	g_assert_null(sock);
	g_assert_nonnull(error);
	g_assert_true(g_str_has_prefix(error->message, "cannot listen on 192.0.2.1:"));
	close(fd);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);

	g_test_add_func("/lan-socket/burst", test_burst);
	g_test_add_func("/lan-socket/send-outside-batch", test_send_outside_batch);
	g_test_add_func("/lan-socket/address-in-use", test_address_in_use);
	return g_test_run();
}
