/* SPDX-License-Identifier: GPL-2.0-or-later */

#include <arpa/inet.h>
#include <errno.h>
#include <gio/gio.h>
#include <glib-unix.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "context.h"
#include "default-route.h"
#include "errors.h"
#include "natpmp-socket.h"

#define ALL_HOSTS_GROUP "224.0.0.1"

typedef struct {
	PmNatpmpClient *client; /* weak: the client owns this transport */
	PmContext *context;     /* its registry lists the client until this is freed */
	guint32 gateway;
	guint16 port;
	int fd;
	guint fd_source;
	int announce_fd;
	guint announce_source;
	guint refused_idle;
	gboolean warned_send;
} Transport;

static void
transport_free(gpointer data)
{
	Transport *t = data;
	if (t->client != NULL)
		pm_context_remove_natpmp_client(t->context, t->gateway, t->port);
	if (t->fd_source != 0)
		g_source_remove(t->fd_source);
	if (t->refused_idle != 0)
		g_source_remove(t->refused_idle);
	if (t->announce_source != 0)
		g_source_remove(t->announce_source);
	if (t->fd >= 0)
		close(t->fd);
	if (t->announce_fd >= 0)
		close(t->announce_fd);
	g_free(t);
}

static gboolean
transport_refused_cb(gpointer user_data)
{
	Transport *t = user_data;
	t->refused_idle = 0;
	pm_natpmp_client_refused(t->client);
	return G_SOURCE_REMOVE;
}

static void
transport_send(const guint8 *buf, gsize len, gpointer user_data)
{
	Transport *t = user_data;
	if (send(t->fd, buf, len, MSG_DONTWAIT) >= 0) {
		t->warned_send = FALSE;
		return;
	}
	if (errno == ECONNREFUSED) {
		/* an earlier ICMP refusal surfaced here; report it from the loop, not from
		 * inside the client's send */
		if (t->refused_idle == 0)
			t->refused_idle = g_idle_add(transport_refused_cb, t);
		return;
	}
	/* no route yet (a VPN coming up): the retransmission schedule tries again */
	if (!t->warned_send)
		g_warning("failed to send a NAT-PMP request: %s", g_strerror(errno));
	t->warned_send = TRUE;
}

static gboolean
transport_readable_cb(gint fd, GIOCondition condition, gpointer user_data)
{
	Transport *t = user_data;
	guint8 buf[PM_NATPMP_MAX_PACKET_SIZE];

	/* one packet per wake-up: with one request outstanding there is rarely a second, and
	 * the level-triggered poll comes back at once if there is (no EAGAIN read per reply) */
	ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
	if (n < 0) {
		if (errno == ECONNREFUSED)
			pm_natpmp_client_refused(t->client);
		else if (errno != EAGAIN && errno != EINTR)
			g_debug("NAT-PMP receive failed: %s", g_strerror(errno));
		return G_SOURCE_CONTINUE;
	}
	pm_natpmp_client_receive(t->client, buf, (gsize)n);
	return G_SOURCE_CONTINUE;
}

static gboolean
announce_readable_cb(gint fd, GIOCondition condition, gpointer user_data)
{
	Transport *t = user_data;
	guint8 buf[PM_NATPMP_MAX_PACKET_SIZE];

	for (guint i = 0; i < 64; i++) {
		struct sockaddr_in from = {0};
		socklen_t fromlen = sizeof(from);
		ssize_t n = recvfrom(fd, buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *)&from,
				     &fromlen);
		if (n < 0)
			break;
		pm_natpmp_client_receive_announcement(t->client, from.sin_addr.s_addr, buf,
						      (gsize)n);
	}
	return G_SOURCE_CONTINUE;
}

/* g_unix_fd_add() without the fd removal and re-adding around each dispatch that a
 * non-recursive source costs (each writes the context's wakeup fd) */
static guint
fd_watch_add(int fd, GUnixFDSourceFunc func, gpointer user_data)
{
	g_autoptr(GSource) source = g_unix_fd_source_new(fd, G_IO_IN);
	g_source_set_callback(source, G_SOURCE_FUNC(func), user_data, NULL);
	g_source_set_can_recurse(source, TRUE);
	return g_source_attach(source, NULL);
}

static int
announce_socket_open(GError **error)
{
	struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(PM_NATPMP_CLIENT_PORT)};
	struct ip_mreq mreq = {0};
	int one = 1;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	if (fd < 0) {
		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno), "socket: %s",
			    g_strerror(errno));
		return -1;
	}
	inet_pton(AF_INET, ALL_HOSTS_GROUP, &addr.sin_addr);
	mreq.imr_multiaddr = addr.sin_addr;
	mreq.imr_interface.s_addr = htonl(INADDR_ANY);
	/* RFC 6886 §3.2.1: bind the group, not 0.0.0.0, and share the port */
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0 ||
	    bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 ||
	    setsockopt(fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &mreq, sizeof(mreq)) < 0) {
		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno),
			    "cannot listen on %s:%u: %s", ALL_HOSTS_GROUP, PM_NATPMP_CLIENT_PORT,
			    g_strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

PmNatpmpClient *
pm_natpmp_socket_client_get(PmContext *context, guint32 gateway, guint16 port, GError **error)
{
	struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(port)};
	g_autoptr(GError) announce_error = NULL;
	PmNatpmpClient *client;
	Transport *t;

	client = pm_context_lookup_natpmp_client(context, gateway, port);
	if (client != NULL)
		return pm_natpmp_client_ref(client);

	t = g_new0(Transport, 1);
	t->context = context;
	t->gateway = gateway;
	t->port = port;
	t->announce_fd = -1;
	t->fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	addr.sin_addr.s_addr = gateway;
	if (t->fd < 0 || connect(t->fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		char buf[INET_ADDRSTRLEN];
		g_set_error(error, PM_ERROR, PM_ERROR_GATEWAY_UNREACHABLE,
			    "cannot open a NAT-PMP socket to %s:%u: %s",
			    inet_ntop(AF_INET, &addr.sin_addr, buf, sizeof(buf)), port,
			    g_strerror(errno));
		transport_free(t);
		return NULL;
	}
	t->fd_source = fd_watch_add(t->fd, transport_readable_cb, t);
	t->announce_fd = announce_socket_open(&announce_error);
	if (t->announce_fd < 0)
		g_warning("gateway announcements will not be heard (mappings are still renewed "
			  "on time): %s",
			  announce_error->message);
	else
		t->announce_source = fd_watch_add(t->announce_fd, announce_readable_cb, t);

	client = pm_natpmp_client_new(pm_context_get_scheduler(context), gateway, port,
				      transport_send, t, transport_free);
	t->client = client;
	{
		/* the route's source address: where the gateway sends mapped traffic */
		struct sockaddr_in local = {0};
		socklen_t len = sizeof(local);
		if (getsockname(t->fd, (struct sockaddr *)&local, &len) == 0)
			pm_natpmp_client_set_local_address(client, local.sin_addr.s_addr);
	}
	pm_context_add_natpmp_client(context, gateway, port, client);
	return client;
}

gboolean
pm_natpmp_default_gateway(guint32 *gateway, GError **error)
{
	/* the uid of portmapd's own sockets, so that uid-based ip rules route this query as
	 * they route the NAT-PMP requests */
	return pm_default_route_find_gateway(getuid(), gateway, error);
}
