/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The WireGuard peer-endpoint updater (daemon/stun/wg-updater.c) on a real main loop:
 *
 * - against a fake userspace WireGuard that this test runs on a Unix socket in a temporary
 *   RUNDIR, behaving as wireguard-go's device/uapi.go does (a get reply that starts with
 *   private_key=, update_only honoured by creating the peer and removing it again, errno=-22
 *   for a bad line and the rest of the transaction read as commands, so the connection
 *   closes), or as boringtun 0.6's api.rs (own_public_key=, positive errnos, update_only
 *   unknown, one command per connection); the socket made 0700 as wireguard-go makes it;
 * - against a fake kernel: one end of a SOCK_SEQPACKET socketpair handed to the updater
 *   in place of its NETLINK_GENERIC socket, the other answered here as
 *   drivers/net/wireguard/netlink.c answers (the family lookup, a dump in two messages
 *   with a peer continued across them, WG_CMD_SET_DEVICE honouring WGPEER_F_UPDATE_ONLY);
 * - against this machine's kernel, for an interface that does not exist.
 *
 * Every log line is captured (all levels): none may carry the private key or a preshared
 * key, in hex or base64.
 */
#include <errno.h>
#include <gio/gio.h>
#include <gio/gunixsocketaddress.h>
#include <glib-unix.h>
#include <glib/gstdio.h>
#include <linux/genetlink.h>
#include <linux/netlink.h>
#include <linux/wireguard.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "errors.h"
#include "netlink.h"
#include "proto/wg-netlink.h"
#include "wg-updater.h"

#define IFACE "wgtest0"
#define FAMILY_ID 0x1b

/* ---- the log, every level ---- */

static GPtrArray *log_lines = NULL; /* of char *: "LEVEL MESSAGE" */

static GLogWriterOutput
log_writer(GLogLevelFlags level, const GLogField *fields, gsize n_fields, gpointer user_data)
{
	for (gsize i = 0; i < n_fields; i++) {
		if (g_strcmp0(fields[i].key, "MESSAGE") == 0)
			g_ptr_array_add(log_lines,
					g_strdup_printf("%s %s",
							(level & G_LOG_LEVEL_WARNING) ? "W"
							: (level & G_LOG_LEVEL_INFO)  ? "I"
										      : "D",
							(const char *)fields[i].value));
	}
	if (!g_test_verbose() && (level & (G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_ERROR)) == 0)
		return G_LOG_WRITER_HANDLED;
	return g_log_writer_standard_streams(level, fields, n_fields, user_data);
}

/* how many lines contain @substr */
static guint
log_count(const char *substr)
{
	guint n = 0;

	for (guint i = 0; i < log_lines->len; i++) {
		if (strstr(g_ptr_array_index(log_lines, i), substr) != NULL)
			n++;
	}
	return n;
}

static void
assert_logged(const char *substr)
{
	if (log_count(substr) == 0) {
		for (guint i = 0; i < log_lines->len; i++)
			g_printerr("log: %s\n", (const char *)g_ptr_array_index(log_lines, i));
		g_error("nothing logged with \"%s\"", substr);
	}
}

/* ---- keys ---- */

static void
key_of(guint8 *key, guint8 seed)
{
	for (guint i = 0; i < 32; i++)
		key[i] = (guint8)(seed * 7 + i * 13);
}

static char *
key_b64(guint8 seed)
{
	guint8 key[32];
	key_of(key, seed);
	return pm_wg_key_to_base64(key);
}

#define PRIVATE_SEED 0x51
#define PSK_SEED 0x62

/* the private and preshared keys appear in no log line, in any spelling */
static void
assert_no_secret_logged(void)
{
	const guint8 seeds[] = {PRIVATE_SEED, PSK_SEED};

	for (guint s = 0; s < G_N_ELEMENTS(seeds); s++) {
		guint8 key[32];
		char hex[65];
		g_autofree char *b64 = NULL;
		g_autofree char *upper = NULL;

		key_of(key, seeds[s]);
		pm_wg_key_to_hex(key, hex);
		b64 = pm_wg_key_to_base64(key);
		upper = g_ascii_strup(hex, -1);
		/* half a key is a leak too */
		hex[32] = '\0';
		b64[22] = '\0';
		upper[32] = '\0';
		g_assert_cmpuint(log_count(hex), ==, 0);
		g_assert_cmpuint(log_count(b64), ==, 0);
		g_assert_cmpuint(log_count(upper), ==, 0);
	}
	g_assert_cmpuint(log_count("private_key"), ==, 0);
	g_assert_cmpuint(log_count("preshared"), ==, 0);
}

/* ---- a peer list both fakes keep ---- */

typedef struct {
	guint8 key[32];
	char *endpoint; /* as a.b.c.d:port / [v6]:port, or NULL */
} FakePeer;

static void
fake_peer_free(gpointer data)
{
	FakePeer *peer = data;
	g_free(peer->endpoint);
	g_free(peer);
}

static GPtrArray *
fake_peers_new(void)
{
	return g_ptr_array_new_with_free_func(fake_peer_free);
}

static FakePeer *
fake_peers_add(GPtrArray *peers, guint8 seed, const char *endpoint)
{
	FakePeer *peer = g_new0(FakePeer, 1);
	key_of(peer->key, seed);
	peer->endpoint = g_strdup(endpoint);
	g_ptr_array_add(peers, peer);
	return peer;
}

static FakePeer *
fake_peers_find(GPtrArray *peers, const guint8 *key)
{
	for (guint i = 0; i < peers->len; i++) {
		FakePeer *peer = g_ptr_array_index(peers, i);
		if (memcmp(peer->key, key, 32) == 0)
			return peer;
	}
	return NULL;
}

static const char *
fake_peers_endpoint(GPtrArray *peers, guint8 seed)
{
	guint8 key[32];
	FakePeer *peer;

	key_of(key, seed);
	peer = fake_peers_find(peers, key);
	g_assert_nonnull(peer);
	return peer->endpoint;
}

/* ---- the fake userspace WireGuard ---- */

typedef enum {
	FLAVOUR_WIREGUARD_GO,
	FLAVOUR_BORINGTUN,
} Flavour;

typedef struct {
	char *dir; /* the RUNDIR */
	char *path;
	GSocketService *service;
	GPtrArray *peers;
	Flavour flavour;
	/* behaviour */
	gboolean drop_get;	 /* close halfway through the get reply */
	gboolean silent;	 /* read, never answer */
	guint8 fail_seed;	 /* errno=-22 at this peer's endpoint line (0: none) */
	guint8 drop_seed;	 /* close without an answer at this peer's endpoint line */
	/* what happened */
	guint n_connections;
	guint n_gets;
	guint n_sets;
	GPtrArray *set_endpoints; /* of char *: "SEED-HEX ENDPOINT" of every set applied */
	guint n_created;
	GPtrArray *conns;
} FakeUapi;

typedef enum {
	MODE_COMMAND,
	MODE_GET_BLANK,
	MODE_SET,
} Mode;

typedef struct {
	FakeUapi *fake;
	GSocketConnection *connection;
	GDataInputStream *in;
	GCancellable *cancellable;
	Mode mode;
	/* the set transaction's peer */
	FakePeer *peer;
	gboolean dummy;
	gboolean created;
	gboolean closed;
} FakeConn;

static void fake_conn_read(FakeConn *fc);

static void
fake_conn_close(FakeConn *fc)
{
	if (fc->closed)
		return;
	fc->closed = TRUE;
	g_cancellable_cancel(fc->cancellable);
	g_io_stream_close(G_IO_STREAM(fc->connection), NULL, NULL);
}

static void
fake_conn_free(gpointer data)
{
	FakeConn *fc = data;
	fake_conn_close(fc);
	g_object_unref(fc->in);
	g_object_unref(fc->connection);
	g_object_unref(fc->cancellable);
	g_free(fc);
}

static void
fake_conn_write(FakeConn *fc, const char *text, gsize len)
{
	GOutputStream *out = g_io_stream_get_output_stream(G_IO_STREAM(fc->connection));
	g_output_stream_write_all(out, text, len, NULL, NULL, NULL);
}

static void
fake_conn_status(FakeConn *fc, int code)
{
	g_autofree char *text = g_strdup_printf("errno=%d\n\n", code);
	fake_conn_write(fc, text, strlen(text));
}

static void
append_key(GString *out, const char *name, guint8 seed)
{
	guint8 key[32];
	char hex[65];

	key_of(key, seed);
	pm_wg_key_to_hex(key, hex);
	g_string_append_printf(out, "%s=%s\n", name, hex);
}

static void
fake_uapi_get(FakeConn *fc)
{
	FakeUapi *fake = fc->fake;
	g_autoptr(GString) out = g_string_new(NULL);

	fake->n_gets++;
	if (fake->silent)
		return;
	if (fake->flavour == FLAVOUR_BORINGTUN)
		append_key(out, "own_public_key", 0x70);
	else
		append_key(out, "private_key", PRIVATE_SEED);
	g_string_append(out, "listen_port=51820\n");
	for (guint i = 0; i < fake->peers->len; i++) {
		FakePeer *peer = g_ptr_array_index(fake->peers, i);
		char hex[65];

		pm_wg_key_to_hex(peer->key, hex);
		g_string_append_printf(out, "public_key=%s\n", hex);
		append_key(out, "preshared_key", PSK_SEED);
		g_string_append(out, "protocol_version=1\n");
		if (peer->endpoint != NULL)
			g_string_append_printf(out, "endpoint=%s\n", peer->endpoint);
		g_string_append(out, "last_handshake_time_sec=0\nlast_handshake_time_nsec=0\n"
				     "tx_bytes=0\nrx_bytes=0\npersistent_keepalive_interval=0\n");
		g_string_append_printf(out, "allowed_ip=10.0.0.%u/32\n", i + 2);
	}
	g_string_append(out, "errno=0\n\n");
	if (fake->drop_get) {
		fake_conn_write(fc, out->str, out->len / 2);
		fake_conn_close(fc);
		return;
	}
	fake_conn_write(fc, out->str, out->len);
	/* boringtun answers one command per connection */
	if (fake->flavour == FLAVOUR_BORINGTUN)
		fake_conn_close(fc);
}

/* a refused set line: wireguard-go answers at once and leaves the rest of the
 * transaction to be read as commands */
static void
fake_set_error(FakeConn *fc)
{
	fake_conn_status(fc, fc->fake->flavour == FLAVOUR_BORINGTUN ? 22 : -22);
	fc->mode = MODE_COMMAND;
	if (fc->fake->flavour == FLAVOUR_BORINGTUN)
		fake_conn_close(fc);
}

static void
fake_set_line(FakeConn *fc, const char *line)
{
	FakeUapi *fake = fc->fake;
	const char *eq = strchr(line, '=');
	g_autofree char *key = eq != NULL ? g_strndup(line, eq - line) : g_strdup(line);
	const char *value = eq != NULL ? eq + 1 : "";

	if (strcmp(key, "public_key") == 0) {
		guint8 pk[32];
		if (!pm_wg_key_from_hex(value, pk, NULL)) {
			fake_set_error(fc);
			return;
		}
		fc->peer = fake_peers_find(fake->peers, pk);
		fc->dummy = FALSE;
		fc->created = fc->peer == NULL;
		/* boringtun adds a peer at the transaction's end, which no test reaches */
		if (fc->created && fake->flavour == FLAVOUR_BORINGTUN) {
			fc->created = FALSE;
			fc->dummy = TRUE;
		} else if (fc->created) {
			/* wireguard-go creates the peer at once */
			fc->peer = g_new0(FakePeer, 1);
			memcpy(fc->peer->key, pk, 32);
			g_ptr_array_add(fake->peers, fc->peer);
			fake->n_created++;
		}
	} else if (strcmp(key, "update_only") == 0 && fake->flavour == FLAVOUR_WIREGUARD_GO) {
		if (strcmp(value, "true") != 0) {
			fake_set_error(fc);
			return;
		}
		if (fc->created && !fc->dummy) {
			g_ptr_array_remove(fake->peers, fc->peer);
			fake->n_created--;
			fc->peer = NULL;
			fc->dummy = TRUE;
		}
	} else if (strcmp(key, "endpoint") == 0 && fc->peer != NULL) {
		PmWgEndpoint ep;
		guint8 fail[32];
		guint8 drop[32];

		key_of(fail, fake->fail_seed);
		key_of(drop, fake->drop_seed);
		if (fake->drop_seed != 0 && memcmp(fc->peer->key, drop, 32) == 0) {
			fake_conn_close(fc);
			return;
		}
		if ((fake->fail_seed != 0 && memcmp(fc->peer->key, fail, 32) == 0) ||
		    !pm_wg_endpoint_parse(value, &ep, NULL)) {
			fake_set_error(fc);
			return;
		}
		g_free(fc->peer->endpoint);
		fc->peer->endpoint = pm_wg_endpoint_to_string(&ep);
		g_ptr_array_add(fake->set_endpoints, g_strdup(value));
	} else if (strcmp(key, "endpoint") == 0 && fc->dummy) {
		/* an unknown peer with update_only: errno=0 all the same */
	} else {
		/* "invalid UAPI peer key" (boringtun: update_only is one) */
		fake_set_error(fc);
	}
}

static void
fake_conn_line(FakeConn *fc, const char *line)
{
	switch (fc->mode) {
	case MODE_COMMAND:
		if (strcmp(line, "get=1") == 0) {
			fc->mode = MODE_GET_BLANK;
		} else if (strcmp(line, "set=1") == 0) {
			fc->fake->n_sets++;
			fc->mode = MODE_SET;
			fc->peer = NULL;
			fc->dummy = FALSE;
			fc->created = FALSE;
		} else {
			/* "invalid UAPI operation": wireguard-go hangs up */
			fake_conn_close(fc);
		}
		break;
	case MODE_GET_BLANK:
		fc->mode = MODE_COMMAND;
		if (line[0] != '\0')
			fake_conn_status(fc, -22);
		else
			fake_uapi_get(fc);
		break;
	case MODE_SET:
		if (line[0] == '\0') {
			fc->mode = MODE_COMMAND;
			if (!fc->fake->silent)
				fake_conn_status(fc, 0);
			if (fc->fake->flavour == FLAVOUR_BORINGTUN)
				fake_conn_close(fc);
		} else {
			fake_set_line(fc, line);
		}
		break;
	}
}

static void
fake_conn_read_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
	FakeConn *fc = user_data;
	gsize len = 0;
	g_autoptr(GError) error = NULL;
	g_autofree char *line =
	    g_data_input_stream_read_line_finish(G_DATA_INPUT_STREAM(source), result, &len, &error);

	/* cancelled: the connection was closed, and may be freed by now */
	if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
		return;
	if (line == NULL || fc->closed) {
		fake_conn_close(fc);
		return;
	}
	fake_conn_line(fc, line);
	if (!fc->closed)
		fake_conn_read(fc);
}

static void
fake_conn_read(FakeConn *fc)
{
	g_data_input_stream_read_line_async(fc->in, G_PRIORITY_DEFAULT, fc->cancellable,
					    fake_conn_read_cb, fc);
}

static gboolean
fake_incoming_cb(GSocketService *service, GSocketConnection *connection, GObject *source,
		 gpointer user_data)
{
	FakeUapi *fake = user_data;
	FakeConn *fc = g_new0(FakeConn, 1);

	fake->n_connections++;
	fc->fake = fake;
	fc->connection = g_object_ref(connection);
	fc->cancellable = g_cancellable_new();
	fc->in = g_data_input_stream_new(g_io_stream_get_input_stream(G_IO_STREAM(connection)));
	g_data_input_stream_set_newline_type(fc->in, G_DATA_STREAM_NEWLINE_TYPE_LF);
	g_ptr_array_add(fake->conns, fc);
	fake_conn_read(fc);
	return TRUE;
}

static char *
make_rundir(void)
{
	g_autoptr(GError) error = NULL;
	char *dir = g_dir_make_tmp("pm-wg-XXXXXX", &error);

	g_assert_no_error(error);
	/* as wireguard-go's MkdirAll(0755): anyone may look, the socket decides */
	g_assert_cmpint(chmod(dir, 0755), ==, 0);
	return dir;
}

static FakeUapi *
fake_uapi_new(Flavour flavour)
{
	FakeUapi *fake = g_new0(FakeUapi, 1);
	g_autoptr(GSocketAddress) address = NULL;
	g_autoptr(GError) error = NULL;

	fake->flavour = flavour;
	fake->dir = make_rundir();
	fake->path = g_build_filename(fake->dir, IFACE ".sock", NULL);
	fake->peers = fake_peers_new();
	fake->set_endpoints = g_ptr_array_new_with_free_func(g_free);
	fake->conns = g_ptr_array_new_with_free_func(fake_conn_free);
	fake->service = g_socket_service_new();
	address = g_unix_socket_address_new(fake->path);
	g_socket_listener_add_address(G_SOCKET_LISTENER(fake->service), address,
				      G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_DEFAULT, NULL, NULL,
				      &error);
	g_assert_no_error(error);
	/* wireguard-go binds it under umask 077 */
	g_assert_cmpint(chmod(fake->path, 0700), ==, 0);
	g_signal_connect(fake->service, "incoming", G_CALLBACK(fake_incoming_cb), fake);
	g_socket_service_start(fake->service);
	return fake;
}

static void
fake_uapi_free(FakeUapi *fake)
{
	g_socket_service_stop(fake->service);
	g_socket_listener_close(G_SOCKET_LISTENER(fake->service));
	g_object_unref(fake->service);
	g_ptr_array_unref(fake->conns);
	g_ptr_array_unref(fake->peers);
	g_ptr_array_unref(fake->set_endpoints);
	g_unlink(fake->path);
	g_rmdir(fake->dir);
	g_free(fake->path);
	g_free(fake->dir);
	g_free(fake);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(FakeUapi, fake_uapi_free)

/* ---- the fake kernel ---- */

typedef struct {
	int fd;	     /* the kernel's end */
	int user_fd; /* the updater's end, until it takes it */
	guint source_id;
	guint n_opens;
	gboolean has_family;
	int device_errno; /* the dump's start: ENODEV, EOPNOTSUPP, EPERM; 0: the device */
	GPtrArray *peers;
	guint8 fail_seed; /* -EINVAL for this peer's set */
	gboolean silent_set; /* never acknowledge a set */
	/* what happened */
	guint n_requests;
	guint n_sets;
	GPtrArray *set_endpoints;
	GPtrArray *set_flags; /* of GUINT_TO_POINTER(WGPEER_A_FLAGS) */
} FakeKernel;

typedef struct {
	GByteArray *buf;
	gsize message;
	gsize nests[4];
	guint depth;
} Msg;

static void
msg_put(Msg *m, const void *data, gsize len)
{
	static const guint8 zero[4] = {0};
	g_byte_array_append(m->buf, data, (guint)len);
	g_byte_array_append(m->buf, zero, NLA_ALIGN(m->buf->len) - m->buf->len);
}

static void
msg_begin(Msg *m, guint16 type, guint16 flags, guint32 seq, guint8 cmd)
{
	struct nlmsghdr hdr = {0, type, flags, seq, 0};
	struct genlmsghdr genl = {cmd, 1, 0};

	m->message = m->buf->len;
	msg_put(m, &hdr, sizeof(hdr));
	if (type != NLMSG_ERROR && type != NLMSG_DONE)
		msg_put(m, &genl, sizeof(genl));
}

static void
msg_end(Msg *m)
{
	guint32 len = m->buf->len - m->message;
	memcpy(m->buf->data + m->message, &len, sizeof(len));
}

static void
msg_attr(Msg *m, guint16 type, const void *data, gsize len)
{
	struct nlattr attr = {(guint16)(NLA_HDRLEN + len), type};
	g_byte_array_append(m->buf, (const guint8 *)&attr, sizeof(attr));
	msg_put(m, data, len);
}

static void
msg_nest(Msg *m, guint16 type)
{
	struct nlattr attr = {0, type | NLA_F_NESTED};
	m->nests[m->depth++] = m->buf->len;
	msg_put(m, &attr, sizeof(attr));
}

static void
msg_nest_end(Msg *m)
{
	gsize at = m->nests[--m->depth];
	guint16 len = (guint16)(m->buf->len - at);
	memcpy(m->buf->data + at, &len, sizeof(len));
}

static void
fake_kernel_send(FakeKernel *fake, Msg *m)
{
	g_assert_cmpint(send(fake->fd, m->buf->data, m->buf->len, 0), ==, (gssize)m->buf->len);
	g_byte_array_set_size(m->buf, 0);
}

static void
fake_kernel_error(FakeKernel *fake, guint32 seq, int errnum)
{
	Msg m = {g_byte_array_new(), 0, {0}, 0};
	struct nlmsgerr err = {.error = -errnum};

	msg_begin(&m, NLMSG_ERROR, 0, seq, 0);
	msg_put(&m, &err, sizeof(err));
	msg_end(&m);
	fake_kernel_send(fake, &m);
	g_byte_array_unref(m.buf);
}

static void
fake_kernel_family(FakeKernel *fake, guint32 seq)
{
	Msg m = {g_byte_array_new(), 0, {0}, 0};
	guint16 id = FAMILY_ID;

	if (!fake->has_family) {
		fake_kernel_error(fake, seq, ENOENT);
		g_byte_array_unref(m.buf);
		return;
	}
	msg_begin(&m, GENL_ID_CTRL, 0, seq, CTRL_CMD_NEWFAMILY);
	msg_attr(&m, CTRL_ATTR_FAMILY_NAME, WG_GENL_NAME, sizeof(WG_GENL_NAME));
	msg_attr(&m, CTRL_ATTR_FAMILY_ID, &id, sizeof(id));
	msg_end(&m);
	fake_kernel_send(fake, &m);
	g_byte_array_unref(m.buf);
	/* the acknowledgement comes as a datagram of its own */
	fake_kernel_error(fake, seq, 0);
}

static void
msg_peer(Msg *m, FakePeer *peer, gboolean first_part)
{
	guint8 psk[32];

	msg_nest(m, 0);
	msg_attr(m, WGPEER_A_PUBLIC_KEY, peer->key, 32);
	if (first_part) {
		key_of(psk, PSK_SEED);
		msg_attr(m, WGPEER_A_PRESHARED_KEY, psk, 32);
		if (peer->endpoint != NULL) {
			PmWgEndpoint ep;
			g_assert_true(pm_wg_endpoint_parse(peer->endpoint, &ep, NULL));
			if (ep.family == AF_INET) {
				struct sockaddr_in sin = {.sin_family = AF_INET,
							  .sin_port = htons(ep.port)};
				memcpy(&sin.sin_addr, ep.address, 4);
				msg_attr(m, WGPEER_A_ENDPOINT, &sin, sizeof(sin));
			} else {
				struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6,
							    .sin6_port = htons(ep.port)};
				memcpy(&sin6.sin6_addr, ep.address, 16);
				msg_attr(m, WGPEER_A_ENDPOINT, &sin6, sizeof(sin6));
			}
		}
	}
	msg_nest(m, WGPEER_A_ALLOWEDIPS);
	msg_nest_end(m);
	msg_nest_end(m);
}

/* the dump in two messages: the last peer of the first is continued in the second */
static void
fake_kernel_dump(FakeKernel *fake, guint32 seq)
{
	Msg m = {g_byte_array_new(), 0, {0}, 0};
	guint8 private_key[32];
	gint32 done = 0;
	guint half = fake->peers->len / 2;

	if (fake->device_errno != 0) {
		fake_kernel_error(fake, seq, fake->device_errno);
		g_byte_array_unref(m.buf);
		return;
	}
	key_of(private_key, PRIVATE_SEED);
	msg_begin(&m, FAMILY_ID, NLM_F_MULTI, seq, WG_CMD_GET_DEVICE);
	msg_attr(&m, WGDEVICE_A_IFNAME, IFACE, sizeof(IFACE));
	msg_attr(&m, WGDEVICE_A_PRIVATE_KEY, private_key, 32);
	msg_nest(&m, WGDEVICE_A_PEERS);
	for (guint i = 0; i <= half && i < fake->peers->len; i++)
		msg_peer(&m, g_ptr_array_index(fake->peers, i), TRUE);
	msg_nest_end(&m);
	msg_end(&m);
	fake_kernel_send(fake, &m);

	msg_begin(&m, FAMILY_ID, NLM_F_MULTI, seq, WG_CMD_GET_DEVICE);
	msg_attr(&m, WGDEVICE_A_IFNAME, IFACE, sizeof(IFACE));
	msg_nest(&m, WGDEVICE_A_PEERS);
	if (half < fake->peers->len)
		msg_peer(&m, g_ptr_array_index(fake->peers, half), FALSE);
	for (guint i = half + 1; i < fake->peers->len; i++)
		msg_peer(&m, g_ptr_array_index(fake->peers, i), TRUE);
	msg_nest_end(&m);
	msg_end(&m);
	fake_kernel_send(fake, &m);

	msg_begin(&m, NLMSG_DONE, NLM_F_MULTI, seq, 0);
	msg_put(&m, &done, sizeof(done));
	msg_end(&m);
	fake_kernel_send(fake, &m);
	g_byte_array_unref(m.buf);
}

/* the attribute of @type in [data, data + len), or NULL */
static const guint8 *
find_attr(const guint8 *data, gsize len, guint16 type, gsize *value_len)
{
	gsize offset = 0;

	while (offset + NLA_HDRLEN <= len) {
		struct nlattr attr;
		memcpy(&attr, data + offset, sizeof(attr));
		g_assert_cmpuint(attr.nla_len, >=, NLA_HDRLEN);
		g_assert_cmpuint(offset + attr.nla_len, <=, len);
		if ((attr.nla_type & NLA_TYPE_MASK) == type) {
			*value_len = attr.nla_len - NLA_HDRLEN;
			return data + offset + NLA_HDRLEN;
		}
		offset += NLA_ALIGN(attr.nla_len);
	}
	return NULL;
}

/* WG_CMD_SET_DEVICE as set_peer() takes it: an unknown key with WGPEER_F_UPDATE_ONLY is a
 * success that does nothing */
static void
fake_kernel_set(FakeKernel *fake, guint32 seq, const guint8 *attrs, gsize len)
{
	const guint8 *value;
	const guint8 *peers;
	const guint8 *peer;
	const guint8 *key;
	const guint8 *flags;
	const guint8 *endpoint;
	gsize n, peers_len, peer_len, flags_len, endpoint_len;
	guint32 flag_value;
	FakePeer *target;
	PmWgEndpoint ep = {0};
	guint8 fail[32];

	fake->n_sets++;
	value = find_attr(attrs, len, WGDEVICE_A_IFNAME, &n);
	g_assert_nonnull(value);
	g_assert_cmpstr((const char *)value, ==, IFACE);
	peers = find_attr(attrs, len, WGDEVICE_A_PEERS, &peers_len);
	g_assert_nonnull(peers);
	peer = find_attr(peers, peers_len, 0, &peer_len);
	g_assert_nonnull(peer);
	key = find_attr(peer, peer_len, WGPEER_A_PUBLIC_KEY, &n);
	g_assert_nonnull(key);
	g_assert_cmpuint(n, ==, 32);
	flags = find_attr(peer, peer_len, WGPEER_A_FLAGS, &flags_len);
	g_assert_nonnull(flags);
	g_assert_cmpuint(flags_len, ==, 4);
	memcpy(&flag_value, flags, 4);
	g_ptr_array_add(fake->set_flags, GUINT_TO_POINTER(flag_value));
	endpoint = find_attr(peer, peer_len, WGPEER_A_ENDPOINT, &endpoint_len);
	g_assert_nonnull(endpoint);
	if (endpoint_len == sizeof(struct sockaddr_in)) {
		struct sockaddr_in sin;
		memcpy(&sin, endpoint, sizeof(sin));
		g_assert_cmpint(sin.sin_family, ==, AF_INET);
		ep.family = AF_INET;
		ep.port = ntohs(sin.sin_port);
		memcpy(ep.address, &sin.sin_addr, 4);
	} else {
		struct sockaddr_in6 sin6;
		g_assert_cmpuint(endpoint_len, ==, sizeof(sin6));
		memcpy(&sin6, endpoint, sizeof(sin6));
		g_assert_cmpint(sin6.sin6_family, ==, AF_INET6);
		ep.family = AF_INET6;
		ep.port = ntohs(sin6.sin6_port);
		memcpy(ep.address, &sin6.sin6_addr, 16);
	}
	if (fake->silent_set)
		return;
	key_of(fail, fake->fail_seed);
	if (fake->fail_seed != 0 && memcmp(key, fail, 32) == 0) {
		fake_kernel_error(fake, seq, EINVAL);
		return;
	}
	target = fake_peers_find(fake->peers, key);
	if (target == NULL) {
		/* not created: WGPEER_F_UPDATE_ONLY, or the test fails here */
		g_assert_true(flag_value & WGPEER_F_UPDATE_ONLY);
	} else {
		g_free(target->endpoint);
		target->endpoint = pm_wg_endpoint_to_string(&ep);
		g_ptr_array_add(fake->set_endpoints, g_strdup(target->endpoint));
	}
	fake_kernel_error(fake, seq, 0);
}

static gboolean
fake_kernel_readable_cb(gint fd, GIOCondition condition, gpointer user_data)
{
	FakeKernel *fake = user_data;
	guint8 buf[4096];
	ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
	gsize offset = 0;
	struct nlmsghdr hdr;
	const guint8 *payload;
	gsize payload_len;

	if (n <= 0) {
		fake->source_id = 0;
		return G_SOURCE_REMOVE;
	}
	while (pm_netlink_next_message(buf, (gsize)n, &offset, &hdr, &payload, &payload_len,
				       NULL)) {
		struct genlmsghdr genl;

		fake->n_requests++;
		g_assert_true(hdr.nlmsg_flags & NLM_F_REQUEST);
		g_assert_true(hdr.nlmsg_flags & NLM_F_ACK);
		g_assert_cmpuint(payload_len, >=, GENL_HDRLEN);
		memcpy(&genl, payload, sizeof(genl));
		if (hdr.nlmsg_type == GENL_ID_CTRL) {
			g_assert_cmpuint(genl.cmd, ==, CTRL_CMD_GETFAMILY);
			fake_kernel_family(fake, hdr.nlmsg_seq);
		} else if (hdr.nlmsg_type == FAMILY_ID && genl.cmd == WG_CMD_GET_DEVICE) {
			g_assert_cmpuint(hdr.nlmsg_flags & NLM_F_DUMP, ==, NLM_F_DUMP);
			fake_kernel_dump(fake, hdr.nlmsg_seq);
		} else if (hdr.nlmsg_type == FAMILY_ID && genl.cmd == WG_CMD_SET_DEVICE) {
			fake_kernel_set(fake, hdr.nlmsg_seq, payload + GENL_HDRLEN,
					payload_len - GENL_HDRLEN);
		} else {
			fake_kernel_error(fake, hdr.nlmsg_seq, EOPNOTSUPP);
		}
	}
	return G_SOURCE_CONTINUE;
}

/* the updater's PmWgNetlinkOpenFunc */
static int
fake_kernel_open(gpointer user_data, GError **error)
{
	FakeKernel *fake = user_data;
	int fd = fake->user_fd;

	fake->n_opens++;
	g_assert_cmpint(fd, >=, 0);
	fake->user_fd = -1;
	return fd;
}

static FakeKernel *
fake_kernel_new(void)
{
	FakeKernel *fake = g_new0(FakeKernel, 1);
	int fds[2];

	g_assert_cmpint(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds),
			==, 0);
	fake->user_fd = fds[0];
	fake->fd = fds[1];
	fake->has_family = TRUE;
	fake->peers = fake_peers_new();
	fake->set_endpoints = g_ptr_array_new_with_free_func(g_free);
	fake->set_flags = g_ptr_array_new();
	fake->source_id = g_unix_fd_add(fake->fd, G_IO_IN, fake_kernel_readable_cb, fake);
	return fake;
}

static void
fake_kernel_free(FakeKernel *fake)
{
	g_clear_handle_id(&fake->source_id, g_source_remove);
	close(fake->fd);
	if (fake->user_fd >= 0)
		close(fake->user_fd);
	g_ptr_array_unref(fake->peers);
	g_ptr_array_unref(fake->set_endpoints);
	g_ptr_array_unref(fake->set_flags);
	g_free(fake);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(FakeKernel, fake_kernel_free)

/* ---- applying ---- */

typedef struct {
	gboolean called;
	gboolean has_result;
	PmWgApplyResult result;
	GError *error;
	guint order; /* when it was called, among all applies */
} Outcome;

static guint outcome_counter = 0;

static void
apply_done_cb(const PmWgApplyResult *result, const GError *error, gpointer user_data)
{
	Outcome *outcome = user_data;

	g_assert_false(outcome->called);
	outcome->called = TRUE;
	outcome->order = ++outcome_counter;
	g_assert_true((result == NULL) != (error == NULL));
	if (result != NULL) {
		outcome->has_result = TRUE;
		outcome->result = *result;
	}
	if (error != NULL)
		outcome->error = g_error_copy(error);
}

static void
outcome_clear(Outcome *outcome)
{
	g_clear_error(&outcome->error);
	memset(outcome, 0, sizeof(*outcome));
}

static gboolean
wait_timeout_cb(gpointer user_data)
{
	g_error("the updater did not call back within 10 s");
	return G_SOURCE_REMOVE;
}

static void
wait_for(Outcome *outcome)
{
	guint id = g_timeout_add_seconds(10, wait_timeout_cb, NULL);

	while (!outcome->called)
		g_main_context_iteration(NULL, TRUE);
	g_source_remove(id);
}

/* the updater with a RUNDIR and the fake kernel (or this machine's when NULL) */
static PmWgUpdater *
updater_new(const char *rundir, FakeKernel *kernel)
{
	PmWgUpdater *updater = pm_wg_updater_new(IFACE);

	pm_wg_updater_set_rundir(updater, rundir);
	if (kernel != NULL)
		pm_wg_updater_set_netlink_open(updater, fake_kernel_open, kernel);
	return updater;
}

static void
apply_and_wait(PmWgUpdater *updater, const PmWgPeerEndpoint *peers, guint n, Outcome *outcome)
{
	pm_wg_updater_apply(updater, peers, n, apply_done_cb, outcome);
	/* never from inside apply */
	g_assert_false(outcome->called);
	wait_for(outcome);
}

/*
 * The peers of both fakes: 0x10 at 198.51.100.10:51820, 0x11 at 198.51.100.11:51820,
 * 0x12 with no endpoint, 0x13 at [2001:db8::13]:51820, 0x14 at 198.51.100.14:51820.
 */
static void
add_standard_peers(GPtrArray *peers)
{
	fake_peers_add(peers, 0x10, "198.51.100.10:51820");
	fake_peers_add(peers, 0x11, "198.51.100.11:51820");
	fake_peers_add(peers, 0x12, NULL);
	fake_peers_add(peers, 0x13, "[2001:db8::13]:51820");
	fake_peers_add(peers, 0x14, "198.51.100.14:51820");
}

typedef struct {
	char *ids[8];
	PmWgPeerEndpoint peers[8];
	guint n;
} Batch;

static void
batch_add(Batch *batch, const char *id, const char *endpoint)
{
	batch->ids[batch->n] = g_strdup(id);
	batch->peers[batch->n] = (PmWgPeerEndpoint){batch->ids[batch->n], endpoint};
	batch->n++;
}

static void
batch_add_seed(Batch *batch, guint8 seed, const char *endpoint)
{
	g_autofree char *id = key_b64(seed);
	batch_add(batch, id, endpoint);
}

static void
batch_clear(Batch *batch)
{
	for (guint i = 0; i < batch->n; i++)
		g_free(batch->ids[i]);
	memset(batch, 0, sizeof(*batch));
}

/*
 * What the control plane reports in the main scenarios: 0x10 moves (applied), 0x11 is in
 * place (unchanged: nothing sent), 0x12 gets its first endpoint, in IPv6 (applied), 0x13
 * is the one the fake refuses (failed, between others), 0x14 moves (applied, after the
 * failure), 0x99 is no peer of the interface (skipped), plus a key that is no key and an
 * endpoint that tries to add a line (skipped).
 */
static void
standard_batch(Batch *batch)
{
	batch_add_seed(batch, 0x10, "203.0.113.10:40001");
	batch_add_seed(batch, 0x11, "198.51.100.11:51820");
	batch_add_seed(batch, 0x12, "[2001:db8::12]:40002");
	batch_add_seed(batch, 0x13, "203.0.113.13:40003");
	batch_add_seed(batch, 0x99, "203.0.113.99:40099");
	batch_add(batch, "not-a-key\nendpoint=1.1.1.1:1", "203.0.113.1:1");
	batch_add_seed(batch, 0x15, "203.0.113.15:1\nremove=true");
	batch_add_seed(batch, 0x14, "203.0.113.14:40004");
}

static void
assert_standard_logs(void)
{
	g_autofree char *absent = key_b64(0x99);
	g_autofree char *failed = key_b64(0x13);
	g_autofree char *applied = key_b64(0x10);

	assert_logged(absent);
	assert_logged("is not on the interface: skipped");
	assert_logged("\"not-a-key\\nendpoint=1.1.1.1:1\": not a WireGuard public key");
	assert_logged("endpoint \"203.0.113.15:1\\nremove=true\" is not a.b.c.d:port");
	assert_logged(failed);
	assert_logged("Invalid argument (errno 22)");
	assert_logged(applied);
	assert_logged("endpoint 203.0.113.10:40001 (was 198.51.100.10:51820)");
	assert_no_secret_logged();
}

static void
test_choose_backend(void)
{
	const struct {
		PmWgProbe probe;
		PmWgBackend backend;
		gint code;
		const char *message;
	} cases[] = {
	    /* the socket wins, whatever the kernel has */
	    {{TRUE, 0, 0}, PM_WG_BACKEND_USERSPACE, 0, NULL},
	    {{TRUE, ENOENT, 0}, PM_WG_BACKEND_USERSPACE, 0, NULL},
	    {{FALSE, 0, 0}, PM_WG_BACKEND_KERNEL, 0, NULL},
	    {{FALSE, ENOENT, 0}, PM_WG_BACKEND_NONE, PM_ERROR_FAILED,
	     "no WireGuard interface wg0: neither a kernel device nor a userspace socket in "
	     "/var/run/wireguard"},
	    {{FALSE, 0, ENODEV}, PM_WG_BACKEND_NONE, PM_ERROR_FAILED,
	     "no WireGuard interface wg0: neither a kernel device nor a userspace socket in "
	     "/var/run/wireguard"},
	    {{FALSE, 0, EOPNOTSUPP}, PM_WG_BACKEND_NONE, PM_ERROR_FAILED,
	     "no WireGuard interface wg0: neither a kernel device nor a userspace socket in "
	     "/var/run/wireguard (it is an interface of another kind)"},
	    {{FALSE, 0, EPERM}, PM_WG_BACKEND_NONE, PM_ERROR_ACCESS_DENIED,
	     "the kernel refused to show WireGuard interface wg0: reading and setting its "
	     "peers needs CAP_NET_ADMIN"},
	    {{FALSE, 0, EIO}, PM_WG_BACKEND_NONE, PM_ERROR_FAILED,
	     "cannot read WireGuard interface wg0 from the kernel: Input/output error"},
	};

	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autoptr(GError) error = NULL;
		PmWgBackend backend =
		    pm_wg_choose_backend("wg0", PM_WG_DEFAULT_RUNDIR, &cases[i].probe, &error);

		g_assert_cmpint(backend, ==, cases[i].backend);
		if (cases[i].message == NULL) {
			g_assert_no_error(error);
		} else {
			g_assert_error(error, PM_ERROR, cases[i].code);
			g_assert_cmpstr(error->message, ==, cases[i].message);
		}
	}
}

static void
test_connect_error(void)
{
	g_autoptr(GError) denied = g_error_new_literal(G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED,
						       "Could not connect: Permission denied");
	g_autoptr(GError) refused = g_error_new_literal(G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED,
							"Could not connect: Connection refused");
	g_autoptr(GError) other = g_error_new_literal(G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
						      "Could not connect: No such file or directory");
	g_autoptr(GError) e1 = pm_wg_uapi_connect_error("/var/run/wireguard/wg0.sock", denied);
	g_autoptr(GError) e2 = pm_wg_uapi_connect_error("/var/run/wireguard/wg0.sock", refused);
	g_autoptr(GError) e3 = pm_wg_uapi_connect_error("/var/run/wireguard/wg0.sock", other);

	g_assert_error(e1, PM_ERROR, PM_ERROR_ACCESS_DENIED);
	g_assert_cmpstr(e1->message, ==,
			"the userspace WireGuard socket /var/run/wireguard/wg0.sock is root-only "
			"(wireguard-go makes it 0700): run portmapd as root for it, with the "
			"drop-in portmapd-wireguard-userspace.conf");
	g_assert_error(e2, PM_ERROR, PM_ERROR_FAILED);
	g_assert_nonnull(strstr(e2->message, "nothing listens on the userspace WireGuard socket "
					     "/var/run/wireguard/wg0.sock"));
	g_assert_error(e3, PM_ERROR, PM_ERROR_FAILED);
	g_assert_cmpstr(e3->message, ==,
			"userspace WireGuard socket /var/run/wireguard/wg0.sock: Could not "
			"connect: No such file or directory");
}

static void
test_userspace_apply(void)
{
	g_autoptr(FakeUapi) fake = fake_uapi_new(FLAVOUR_WIREGUARD_GO);
	/* a kernel that has the device too: the socket must win, the kernel never asked */
	g_autoptr(FakeKernel) kernel = fake_kernel_new();
	g_autoptr(PmWgUpdater) updater = NULL;
	Batch batch = {0};
	Outcome outcome = {0};

	add_standard_peers(fake->peers);
	add_standard_peers(kernel->peers);
	fake->fail_seed = 0x13;
	updater = updater_new(fake->dir, kernel);
	standard_batch(&batch);
	g_ptr_array_set_size(log_lines, 0);
	apply_and_wait(updater, batch.peers, batch.n, &outcome);

	g_assert_no_error(outcome.error);
	g_assert_cmpint(outcome.result.backend, ==, PM_WG_BACKEND_USERSPACE);
	g_assert_cmpuint(outcome.result.applied, ==, 3);
	g_assert_cmpuint(outcome.result.unchanged, ==, 1);
	g_assert_cmpuint(outcome.result.skipped, ==, 3);
	g_assert_cmpuint(outcome.result.failed, ==, 1);
	/* one get, then one connection per set: 0x10, 0x12, 0x13 (refused), 0x14 */
	g_assert_cmpuint(fake->n_gets, ==, 1);
	g_assert_cmpuint(fake->n_sets, ==, 4);
	g_assert_cmpuint(fake->n_connections, ==, 5);
	g_assert_cmpuint(fake->set_endpoints->len, ==, 3);
	g_assert_cmpstr(fake_peers_endpoint(fake->peers, 0x10), ==, "203.0.113.10:40001");
	g_assert_cmpstr(fake_peers_endpoint(fake->peers, 0x11), ==, "198.51.100.11:51820");
	g_assert_cmpstr(fake_peers_endpoint(fake->peers, 0x12), ==, "[2001:db8::12]:40002");
	g_assert_cmpstr(fake_peers_endpoint(fake->peers, 0x13), ==, "[2001:db8::13]:51820");
	g_assert_cmpstr(fake_peers_endpoint(fake->peers, 0x14), ==, "203.0.113.14:40004");
	/* no peer was created, even for a moment */
	g_assert_cmpuint(fake->peers->len, ==, 5);
	g_assert_cmpuint(fake->n_created, ==, 0);
	g_assert_cmpuint(kernel->n_opens, ==, 0);
	g_assert_cmpuint(kernel->n_requests, ==, 0);
	assert_standard_logs();
	assert_logged("refused by the userspace WireGuard");

	/* again: everything is in place now but the refused one */
	outcome_clear(&outcome);
	g_ptr_array_set_size(log_lines, 0);
	fake->n_sets = 0;
	fake->fail_seed = 0;
	apply_and_wait(updater, batch.peers, batch.n, &outcome);
	g_assert_cmpuint(outcome.result.applied, ==, 1);
	g_assert_cmpuint(outcome.result.unchanged, ==, 4);
	g_assert_cmpuint(outcome.result.skipped, ==, 3);
	g_assert_cmpuint(outcome.result.failed, ==, 0);
	g_assert_cmpuint(fake->n_sets, ==, 1);
	assert_no_secret_logged();
	outcome_clear(&outcome);
	batch_clear(&batch);
}

static void
test_userspace_unchanged(void)
{
	g_autoptr(FakeUapi) fake = fake_uapi_new(FLAVOUR_WIREGUARD_GO);
	g_autoptr(PmWgUpdater) updater = NULL;
	Batch batch = {0};
	Outcome outcome = {0};

	add_standard_peers(fake->peers);
	updater = updater_new(fake->dir, NULL);
	batch_add_seed(&batch, 0x10, "198.51.100.10:51820");
	/* the same address, spelled otherwise */
	batch_add_seed(&batch, 0x13, "[2001:db8:0:0::13]:51820");
	apply_and_wait(updater, batch.peers, batch.n, &outcome);
	g_assert_cmpuint(outcome.result.unchanged, ==, 2);
	g_assert_cmpuint(outcome.result.applied + outcome.result.failed + outcome.result.skipped,
			 ==, 0);
	/* the get only: no set written */
	g_assert_cmpuint(fake->n_connections, ==, 1);
	g_assert_cmpuint(fake->n_sets, ==, 0);
	outcome_clear(&outcome);
	batch_clear(&batch);
}

static void
test_userspace_drop_get(void)
{
	g_autoptr(FakeUapi) fake = fake_uapi_new(FLAVOUR_WIREGUARD_GO);
	g_autoptr(PmWgUpdater) updater = NULL;
	Batch batch = {0};
	Outcome outcome = {0};

	add_standard_peers(fake->peers);
	fake->drop_get = TRUE;
	updater = updater_new(fake->dir, NULL);
	standard_batch(&batch);
	g_ptr_array_set_size(log_lines, 0);
	apply_and_wait(updater, batch.peers, batch.n, &outcome);
	g_assert_false(outcome.has_result);
	g_assert_error(outcome.error, PM_ERROR, PM_ERROR_FAILED);
	g_assert_nonnull(strstr(outcome.error->message, "closed before the end of the reply"));
	g_assert_cmpuint(fake->n_sets, ==, 0);
	/* half a reply holds the private key: still never logged */
	assert_no_secret_logged();
	outcome_clear(&outcome);
	batch_clear(&batch);
}

static void
test_userspace_drop_set(void)
{
	g_autoptr(FakeUapi) fake = fake_uapi_new(FLAVOUR_WIREGUARD_GO);
	g_autoptr(PmWgUpdater) updater = NULL;
	Batch batch = {0};
	Outcome outcome = {0};
	g_autofree char *dropped = key_b64(0x10);

	add_standard_peers(fake->peers);
	fake->drop_seed = 0x10;
	updater = updater_new(fake->dir, NULL);
	standard_batch(&batch);
	g_ptr_array_set_size(log_lines, 0);
	apply_and_wait(updater, batch.peers, batch.n, &outcome);
	g_assert_no_error(outcome.error);
	g_assert_cmpuint(outcome.result.applied, ==, 3);
	g_assert_cmpuint(outcome.result.failed, ==, 1);
	g_assert_cmpstr(fake_peers_endpoint(fake->peers, 0x14), ==, "203.0.113.14:40004");
	g_assert_cmpstr(fake_peers_endpoint(fake->peers, 0x13), ==, "203.0.113.13:40003");
	assert_logged(dropped);
	assert_logged("not set: userspace WireGuard socket");
	outcome_clear(&outcome);
	batch_clear(&batch);
}

static void
test_userspace_timeout(void)
{
	g_autoptr(FakeUapi) fake = fake_uapi_new(FLAVOUR_WIREGUARD_GO);
	g_autoptr(PmWgUpdater) updater = NULL;
	Batch batch = {0};
	Outcome outcome = {0};
	gint64 start = g_get_monotonic_time();

	fake->silent = TRUE;
	updater = updater_new(fake->dir, NULL);
	pm_wg_updater_set_timeout(updater, 200);
	batch_add_seed(&batch, 0x10, "203.0.113.10:40001");
	apply_and_wait(updater, batch.peers, batch.n, &outcome);
	g_assert_error(outcome.error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT);
	g_assert_nonnull(strstr(outcome.error->message, "no answer within 200 ms"));
	g_assert_cmpint(g_get_monotonic_time() - start, >=, 190 * 1000);
	outcome_clear(&outcome);
	batch_clear(&batch);
}

static void
test_userspace_eacces(void)
{
	g_autoptr(FakeUapi) fake = fake_uapi_new(FLAVOUR_WIREGUARD_GO);
	g_autoptr(PmWgUpdater) updater = NULL;
	g_autofree char *expected = NULL;
	Batch batch = {0};
	Outcome outcome = {0};
	uid_t euid = geteuid();

	updater = updater_new(fake->dir, NULL);
	batch_add_seed(&batch, 0x10, "203.0.113.10:40001");
	/* root passes any mode: it turns into nobody for the apply, as a portmapd running as
	 * its own user; anyone else meets a socket it may not write to */
	if (euid == 0)
		g_assert_cmpint(seteuid(65534), ==, 0);
	else
		g_assert_cmpint(chmod(fake->path, 0500), ==, 0);
	apply_and_wait(updater, batch.peers, batch.n, &outcome);
	if (euid == 0)
		g_assert_cmpint(seteuid(0), ==, 0);
	expected = g_strdup_printf("the userspace WireGuard socket %s is root-only (wireguard-go "
				   "makes it 0700): run portmapd as root for it, with the drop-in "
				   "portmapd-wireguard-userspace.conf",
				   fake->path);
	g_assert_error(outcome.error, PM_ERROR, PM_ERROR_ACCESS_DENIED);
	g_assert_cmpstr(outcome.error->message, ==, expected);
	g_assert_cmpuint(fake->n_connections, ==, 0);
	outcome_clear(&outcome);
	batch_clear(&batch);
}

static void
test_userspace_stale_socket(void)
{
	g_autofree char *dir = make_rundir();
	g_autofree char *path = g_build_filename(dir, IFACE ".sock", NULL);
	g_autoptr(PmWgUpdater) updater = updater_new(dir, NULL);
	g_autoptr(GSocket) socket = NULL;
	g_autoptr(GSocketAddress) address = g_unix_socket_address_new(path);
	g_autoptr(GError) error = NULL;
	Batch batch = {0};
	Outcome outcome = {0};

	/* the socket of a wireguard-go that died: the file stays, nobody listens */
	socket = g_socket_new(G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_DEFAULT,
			      &error);
	g_assert_no_error(error);
	g_assert_true(g_socket_bind(socket, address, FALSE, &error));
	g_socket_close(socket, NULL);
	batch_add_seed(&batch, 0x10, "203.0.113.10:40001");
	apply_and_wait(updater, batch.peers, batch.n, &outcome);
	g_assert_error(outcome.error, PM_ERROR, PM_ERROR_FAILED);
	g_assert_nonnull(strstr(outcome.error->message, "nothing listens"));
	g_unlink(path);
	g_rmdir(dir);
	outcome_clear(&outcome);
	batch_clear(&batch);
}

static void
test_userspace_boringtun(void)
{
	g_autoptr(FakeUapi) fake = fake_uapi_new(FLAVOUR_BORINGTUN);
	g_autoptr(PmWgUpdater) updater = NULL;
	Batch batch = {0};
	Outcome outcome = {0};

	add_standard_peers(fake->peers);
	updater = updater_new(fake->dir, NULL);
	batch_add_seed(&batch, 0x10, "203.0.113.10:40001");
	batch_add_seed(&batch, 0x11, "198.51.100.11:51820");
	batch_add_seed(&batch, 0x99, "203.0.113.99:40099");
	g_ptr_array_set_size(log_lines, 0);
	apply_and_wait(updater, batch.peers, batch.n, &outcome);
	g_assert_no_error(outcome.error);
	g_assert_cmpuint(outcome.result.unchanged, ==, 1);
	g_assert_cmpuint(outcome.result.skipped, ==, 1);
	g_assert_cmpuint(outcome.result.failed, ==, 1);
	g_assert_cmpuint(outcome.result.applied, ==, 0);
	assert_logged("this looks like boringtun, which refuses update_only=true");
	/* nothing created, nothing moved */
	g_assert_cmpuint(fake->peers->len, ==, 5);
	g_assert_cmpstr(fake_peers_endpoint(fake->peers, 0x10), ==, "198.51.100.10:51820");
	outcome_clear(&outcome);
	batch_clear(&batch);
}

static void
test_kernel_no_family(void)
{
	g_autofree char *dir = make_rundir();
	g_autoptr(FakeKernel) kernel = fake_kernel_new();
	g_autoptr(PmWgUpdater) updater = updater_new(dir, kernel);
	g_autofree char *expected = NULL;
	Batch batch = {0};
	Outcome outcome = {0};

	kernel->has_family = FALSE;
	batch_add_seed(&batch, 0x10, "203.0.113.10:40001");
	apply_and_wait(updater, batch.peers, batch.n, &outcome);
	expected = g_strdup_printf("no WireGuard interface " IFACE ": neither a kernel device "
				   "nor a userspace socket in %s",
				   dir);
	g_assert_error(outcome.error, PM_ERROR, PM_ERROR_FAILED);
	g_assert_cmpstr(outcome.error->message, ==, expected);
	g_assert_cmpuint(kernel->n_requests, ==, 1);
	g_rmdir(dir);
	outcome_clear(&outcome);
	batch_clear(&batch);
}

static void
test_kernel_no_device(void)
{
	const struct {
		int errnum;
		gint code;
		const char *part;
	} cases[] = {
	    {ENODEV, PM_ERROR_FAILED, "neither a kernel device nor a userspace socket in"},
	    {EOPNOTSUPP, PM_ERROR_FAILED, "(it is an interface of another kind)"},
	    {EPERM, PM_ERROR_ACCESS_DENIED, "needs CAP_NET_ADMIN"},
	};
	g_autofree char *dir = make_rundir();

	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autoptr(FakeKernel) kernel = fake_kernel_new();
		g_autoptr(PmWgUpdater) updater = updater_new(dir, kernel);
		Batch batch = {0};
		Outcome outcome = {0};

		kernel->device_errno = cases[i].errnum;
		batch_add_seed(&batch, 0x10, "203.0.113.10:40001");
		apply_and_wait(updater, batch.peers, batch.n, &outcome);
		g_assert_error(outcome.error, PM_ERROR, cases[i].code);
		g_assert_nonnull(strstr(outcome.error->message, cases[i].part));
		g_assert_cmpuint(kernel->n_requests, ==, 2);
		outcome_clear(&outcome);
		batch_clear(&batch);
	}
	g_rmdir(dir);
}

static void
test_kernel_apply(void)
{
	g_autofree char *dir = make_rundir();
	g_autoptr(FakeKernel) kernel = fake_kernel_new();
	g_autoptr(PmWgUpdater) updater = updater_new(dir, kernel);
	Batch batch = {0};
	Outcome outcome = {0};

	add_standard_peers(kernel->peers);
	kernel->fail_seed = 0x13;
	standard_batch(&batch);
	g_ptr_array_set_size(log_lines, 0);
	apply_and_wait(updater, batch.peers, batch.n, &outcome);

	g_assert_no_error(outcome.error);
	g_assert_cmpint(outcome.result.backend, ==, PM_WG_BACKEND_KERNEL);
	g_assert_cmpuint(outcome.result.applied, ==, 3);
	g_assert_cmpuint(outcome.result.unchanged, ==, 1);
	g_assert_cmpuint(outcome.result.skipped, ==, 3);
	g_assert_cmpuint(outcome.result.failed, ==, 1);
	/* the family, the dump, four sets */
	g_assert_cmpuint(kernel->n_requests, ==, 6);
	g_assert_cmpuint(kernel->n_sets, ==, 4);
	for (guint i = 0; i < kernel->set_flags->len; i++)
		g_assert_cmpuint(GPOINTER_TO_UINT(g_ptr_array_index(kernel->set_flags, i)), ==,
				 WGPEER_F_UPDATE_ONLY);
	g_assert_cmpstr(fake_peers_endpoint(kernel->peers, 0x10), ==, "203.0.113.10:40001");
	g_assert_cmpstr(fake_peers_endpoint(kernel->peers, 0x11), ==, "198.51.100.11:51820");
	g_assert_cmpstr(fake_peers_endpoint(kernel->peers, 0x12), ==, "[2001:db8::12]:40002");
	g_assert_cmpstr(fake_peers_endpoint(kernel->peers, 0x13), ==, "[2001:db8::13]:51820");
	g_assert_cmpstr(fake_peers_endpoint(kernel->peers, 0x14), ==, "203.0.113.14:40004");
	g_assert_cmpuint(kernel->peers->len, ==, 5);
	assert_standard_logs();
	assert_logged("refused by the kernel");
	g_rmdir(dir);
	outcome_clear(&outcome);
	batch_clear(&batch);
}

static void
test_kernel_set_timeout(void)
{
	g_autofree char *dir = make_rundir();
	g_autoptr(FakeKernel) kernel = fake_kernel_new();
	g_autoptr(PmWgUpdater) updater = updater_new(dir, kernel);
	Batch batch = {0};
	Outcome outcome = {0};

	add_standard_peers(kernel->peers);
	kernel->silent_set = TRUE;
	pm_wg_updater_set_timeout(updater, 100);
	batch_add_seed(&batch, 0x10, "203.0.113.10:40001");
	batch_add_seed(&batch, 0x14, "203.0.113.14:40004");
	apply_and_wait(updater, batch.peers, batch.n, &outcome);
	g_assert_no_error(outcome.error);
	g_assert_cmpuint(outcome.result.failed, ==, 2);
	g_assert_cmpuint(kernel->n_sets, ==, 2);
	assert_logged("the kernel did not answer within 100 ms");
	g_rmdir(dir);
	outcome_clear(&outcome);
	batch_clear(&batch);
}

/* this machine's kernel, for an interface that is not there: with or without WireGuard in
 * it, the same answer (or, unprivileged with WireGuard loaded, the CAP_NET_ADMIN one) */
static void
test_kernel_real(void)
{
	g_autofree char *dir = make_rundir();
	g_autoptr(PmWgUpdater) updater = pm_wg_updater_new("pmwgnone0");
	g_autofree char *expected = NULL;
	Batch batch = {0};
	Outcome outcome = {0};

	pm_wg_updater_set_rundir(updater, dir);
	batch_add_seed(&batch, 0x10, "203.0.113.10:40001");
	apply_and_wait(updater, batch.peers, batch.n, &outcome);
	expected = g_strdup_printf("no WireGuard interface pmwgnone0: neither a kernel device nor "
				   "a userspace socket in %s",
				   dir);
	if (geteuid() != 0 && g_error_matches(outcome.error, PM_ERROR, PM_ERROR_ACCESS_DENIED)) {
		g_assert_nonnull(strstr(outcome.error->message, "CAP_NET_ADMIN"));
	} else {
		g_assert_error(outcome.error, PM_ERROR, PM_ERROR_FAILED);
		g_assert_cmpstr(outcome.error->message, ==, expected);
	}
	g_rmdir(dir);
	outcome_clear(&outcome);
	batch_clear(&batch);
}

static void
test_queue_and_free(void)
{
	g_autoptr(FakeUapi) fake = fake_uapi_new(FLAVOUR_WIREGUARD_GO);
	PmWgUpdater *updater = NULL;
	Batch first = {0};
	Batch second = {0};
	Outcome a = {0};
	Outcome b = {0};
	Outcome c = {0};

	add_standard_peers(fake->peers);
	updater = updater_new(fake->dir, NULL);
	batch_add_seed(&first, 0x10, "203.0.113.10:40001");
	batch_add_seed(&second, 0x10, "203.0.113.10:40002");
	/* in order: the second sees what the first did */
	pm_wg_updater_apply(updater, first.peers, first.n, apply_done_cb, &a);
	pm_wg_updater_apply(updater, second.peers, second.n, apply_done_cb, &b);
	wait_for(&b);
	g_assert_true(a.called);
	g_assert_cmpuint(a.order, <, b.order);
	g_assert_cmpuint(a.result.applied, ==, 1);
	g_assert_cmpuint(b.result.applied, ==, 1);
	g_assert_cmpstr(fake_peers_endpoint(fake->peers, 0x10), ==, "203.0.113.10:40002");

	/* freed with one running and one waiting: both cancelled, from inside the free */
	outcome_clear(&a);
	outcome_clear(&b);
	pm_wg_updater_apply(updater, first.peers, first.n, apply_done_cb, &a);
	pm_wg_updater_apply(updater, second.peers, second.n, apply_done_cb, &b);
	/* let the first start */
	for (guint i = 0; i < 3; i++)
		g_main_context_iteration(NULL, FALSE);
	pm_wg_updater_free(updater);
	g_assert_error(a.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
	g_assert_error(b.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
	/* and nothing calls back later */
	for (guint i = 0; i < 50; i++)
		g_main_context_iteration(NULL, FALSE);

	/* an interface name that is none */
	updater = pm_wg_updater_new("../wg0");
	pm_wg_updater_apply(updater, first.peers, first.n, apply_done_cb, &c);
	wait_for(&c);
	g_assert_error(c.error, PM_ERROR, PM_ERROR_INVALID_CONFIGURATION);
	pm_wg_updater_free(updater);
	outcome_clear(&a);
	outcome_clear(&b);
	outcome_clear(&c);
	batch_clear(&first);
	batch_clear(&second);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	/* every level is recorded (the private key must be in none); criticals stay fatal */
	log_lines = g_ptr_array_new_with_free_func(g_free);
	g_log_set_always_fatal(G_LOG_FATAL_MASK | G_LOG_LEVEL_CRITICAL);
	g_log_set_writer_func(log_writer, NULL, NULL);

	g_test_add_func("/wg-updater/choose-backend", test_choose_backend);
	g_test_add_func("/wg-updater/connect-error", test_connect_error);
	g_test_add_func("/wg-updater/userspace/apply", test_userspace_apply);
	g_test_add_func("/wg-updater/userspace/unchanged", test_userspace_unchanged);
	g_test_add_func("/wg-updater/userspace/drop-get", test_userspace_drop_get);
	g_test_add_func("/wg-updater/userspace/drop-set", test_userspace_drop_set);
	g_test_add_func("/wg-updater/userspace/timeout", test_userspace_timeout);
	g_test_add_func("/wg-updater/userspace/eacces", test_userspace_eacces);
	g_test_add_func("/wg-updater/userspace/stale-socket", test_userspace_stale_socket);
	g_test_add_func("/wg-updater/userspace/boringtun", test_userspace_boringtun);
	g_test_add_func("/wg-updater/kernel/no-family", test_kernel_no_family);
	g_test_add_func("/wg-updater/kernel/no-device", test_kernel_no_device);
	g_test_add_func("/wg-updater/kernel/apply", test_kernel_apply);
	g_test_add_func("/wg-updater/kernel/set-timeout", test_kernel_set_timeout);
	g_test_add_func("/wg-updater/kernel/real", test_kernel_real);
	g_test_add_func("/wg-updater/queue-and-free", test_queue_and_free);
	return g_test_run();
}
