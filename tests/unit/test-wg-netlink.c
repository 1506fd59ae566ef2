/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The kernel WireGuard's generic netlink messages (daemon/proto/wg-netlink.c), byte for
 * byte. The expected requests are written out here from the documented layout, not made
 * by the builders: struct nlmsghdr (16 bytes: len, type, flags, seq, pid), struct
 * genlmsghdr (4 bytes: cmd, version, reserved), then attributes of a 4-byte header (len,
 * type) and a payload padded to 4 bytes, NLA_F_NESTED (0x8000) on WGDEVICE_A_PEERS and on
 * each peer (linux/netlink.h, linux/genetlink.h, linux/wireguard.h). The replies are
 * made here the same way, shaped as drivers/net/wireguard/netlink.c sends them.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/genetlink.h>
#include <linux/netlink.h>
#include <netinet/in.h>
#include <string.h>

#include "proto/wg-netlink.h"

/* the fields netlink carries in host byte order, and those in network byte order */
#if G_BYTE_ORDER == G_LITTLE_ENDIAN
#define H16(v) (guint8)((v)&0xff), (guint8)(((v) >> 8) & 0xff)
#define H32(v)                                                                               \
	(guint8)((v)&0xff), (guint8)(((v) >> 8) & 0xff), (guint8)(((v) >> 16) & 0xff),     \
	    (guint8)(((v) >> 24) & 0xff)
#else
#define H16(v) (guint8)(((v) >> 8) & 0xff), (guint8)((v)&0xff)
#define H32(v)                                                                               \
	(guint8)(((v) >> 24) & 0xff), (guint8)(((v) >> 16) & 0xff),                         \
	    (guint8)(((v) >> 8) & 0xff), (guint8)((v)&0xff)
#endif
#define N16(v) (guint8)(((v) >> 8) & 0xff), (guint8)((v)&0xff)

/* the numbers of linux/netlink.h, genetlink.h and socket.h, spelled out */
#define T_GENL_ID_CTRL 0x10
#define T_NLMSG_ERROR 2
#define T_NLMSG_DONE 3
#define F_REQUEST 0x01
#define F_MULTI 0x02
#define F_ACK 0x04
#define F_DUMP 0x300
#define F_DUMP_INTR 0x10
#define NESTED 0x8000
#define T_AF_INET 2
#define T_AF_INET6 10

#define FAMILY 0x1b
#define SEQ 0x01020304

#define KEY_A                                                                                \
	0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xab, 0xac, 0xad,    \
	    0xae, 0xaf, 0xb0, 0xb1, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba, 0xbb, \
	    0xbc, 0xbd, 0xbe, 0xbf
static const guint8 key_a[32] = {KEY_A};

static void
test_get_family(void)
{
	static const guint8 expected[] = {
	    /* nlmsghdr: 36 bytes to GENL_ID_CTRL, NLM_F_REQUEST | NLM_F_ACK, port 0 */
	    H32(36), H16(T_GENL_ID_CTRL), H16(F_REQUEST | F_ACK), H32(SEQ), H32(0),
	    /* genlmsghdr: CTRL_CMD_GETFAMILY (3), version 1 */
	    3, 1, 0, 0,
	    /* CTRL_ATTR_FAMILY_NAME (2): "wireguard" and its NUL, 14 bytes padded to 16 */
	    H16(14), H16(2), 'w', 'i', 'r', 'e', 'g', 'u', 'a', 'r', 'd', 0, 0, 0,
	};
	guint8 buf[PM_WG_NL_REQUEST_MAX];
	gsize len;

	memset(buf, 0xee, sizeof(buf));
	len = pm_wg_nl_build_get_family(buf, sizeof(buf), SEQ);
	g_assert_cmpmem(buf, len, expected, sizeof(expected));
	/* no room: nothing */
	g_assert_cmpuint(pm_wg_nl_build_get_family(buf, sizeof(expected) - 1, SEQ), ==, 0);
	g_assert_cmpuint(pm_wg_nl_build_get_family(buf, sizeof(expected), SEQ), ==,
			 sizeof(expected));
}

static void
test_get_device(void)
{
	static const guint8 expected[] = {
	    /* nlmsghdr: NLM_F_REQUEST | NLM_F_ACK | NLM_F_DUMP */
	    H32(28), H16(FAMILY), H16(F_REQUEST | F_ACK | F_DUMP), H32(7), H32(0),
	    /* WG_CMD_GET_DEVICE (0), WG_GENL_VERSION 1 */
	    0, 1, 0, 0,
	    /* WGDEVICE_A_IFNAME (2): "wg0\0" */
	    H16(8), H16(2), 'w', 'g', '0', 0,
	};
	static const guint8 expected_long[] = {
	    H32(40), H16(FAMILY), H16(F_REQUEST | F_ACK | F_DUMP), H32(8), H32(0),
	    0, 1, 0, 0,
	    /* 15 characters and the NUL: 20 bytes, no padding */
	    H16(20), H16(2), 'w', 'i', 'r', 'e', 'g', 'u', 'a', 'r', 'd', '-', 'h', 'o', 'm', 'e',
	    '1', 0,
	};
	guint8 buf[PM_WG_NL_REQUEST_MAX];
	gsize len;

	len = pm_wg_nl_build_get_device(buf, sizeof(buf), 7, FAMILY, "wg0");
	g_assert_cmpmem(buf, len, expected, sizeof(expected));
	len = pm_wg_nl_build_get_device(buf, sizeof(buf), 8, FAMILY, "wireguard-home1");
	g_assert_cmpmem(buf, len, expected_long, sizeof(expected_long));
	g_assert_cmpuint(pm_wg_nl_build_get_device(buf, sizeof(buf), 7, FAMILY, "wg/0"), ==, 0);
	g_assert_cmpuint(pm_wg_nl_build_get_device(buf, sizeof(buf), 7, FAMILY, ""), ==, 0);
	g_assert_cmpuint(pm_wg_nl_build_get_device(buf, 27, 7, FAMILY, "wg0"), ==, 0);
}

static void
test_set_endpoint(void)
{
	static const guint8 expected_v4[] = {
	    /* nlmsghdr: NLM_F_REQUEST | NLM_F_ACK */
	    H32(100), H16(FAMILY), H16(F_REQUEST | F_ACK), H32(9), H32(0),
	    /* WG_CMD_SET_DEVICE (1), version 1 */
	    1, 1, 0, 0,
	    /* WGDEVICE_A_IFNAME */
	    H16(8), H16(2), 'w', 'g', '0', 0,
	    /* WGDEVICE_A_PEERS (8) | NLA_F_NESTED: 4 + 68 */
	    H16(72), H16(8 | NESTED),
	    /* the peer: attribute 0 | NLA_F_NESTED: 4 + 36 + 8 + 20 */
	    H16(68), H16(0 | NESTED),
	    /* WGPEER_A_PUBLIC_KEY (1): 32 bytes */
	    H16(36), H16(1), KEY_A,
	    /* WGPEER_A_FLAGS (3): WGPEER_F_UPDATE_ONLY (1 << 2) */
	    H16(8), H16(3), H32(4),
	    /* WGPEER_A_ENDPOINT (4): struct sockaddr_in, 16 bytes: family, port (network
	     * order), address, 8 zero bytes */
	    H16(20), H16(4), H16(T_AF_INET), N16(51820), 198, 51, 100, 7, 0, 0, 0, 0, 0, 0, 0, 0,
	};
	static const guint8 expected_v6[] = {
	    H32(112), H16(FAMILY), H16(F_REQUEST | F_ACK), H32(10), H32(0),
	    1, 1, 0, 0,
	    H16(8), H16(2), 'w', 'g', '0', 0,
	    H16(84), H16(8 | NESTED),
	    H16(80), H16(0 | NESTED),
	    H16(36), H16(1), KEY_A,
	    H16(8), H16(3), H32(4),
	    /* struct sockaddr_in6, 28 bytes: family, port, flowinfo 0, address, scope 0 */
	    H16(32), H16(4), H16(T_AF_INET6), N16(443), 0, 0, 0, 0,
	    0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01,
	    0, 0, 0, 0,
	};
	guint8 buf[PM_WG_NL_REQUEST_MAX];
	PmWgEndpoint ep;
	gsize len;

	g_assert_true(pm_wg_endpoint_parse("198.51.100.7:51820", &ep, NULL));
	len = pm_wg_nl_build_set_endpoint(buf, sizeof(buf), 9, FAMILY, "wg0", key_a, &ep);
	g_assert_cmpmem(buf, len, expected_v4, sizeof(expected_v4));
	g_assert_cmpuint(pm_wg_nl_build_set_endpoint(buf, sizeof(expected_v4) - 1, 9, FAMILY,
						     "wg0", key_a, &ep),
			 ==, 0);

	g_assert_true(pm_wg_endpoint_parse("[2001:db8::1]:443", &ep, NULL));
	len = pm_wg_nl_build_set_endpoint(buf, sizeof(buf), 10, FAMILY, "wg0", key_a, &ep);
	g_assert_cmpmem(buf, len, expected_v6, sizeof(expected_v6));

	/* the largest request fits the buffer the header promises */
	len = pm_wg_nl_build_set_endpoint(buf, sizeof(buf), 10, FAMILY, "wireguard-home1",
					  key_a, &ep);
	g_assert_cmpuint(len, ==, 124);
	g_assert_cmpuint(len, <=, PM_WG_NL_REQUEST_MAX);
	g_assert_cmpuint(pm_wg_nl_build_set_endpoint(buf, sizeof(buf), 10, FAMILY, "wg:0", key_a,
						     &ep),
			 ==, 0);
}

/* replies, made by hand as the kernel makes them */
typedef struct {
	GByteArray *buf;
	gsize message; /* the offset of the open message */
	gsize nests[4];
	guint depth;
} Msg;

static void
msg_put(Msg *m, const void *data, gsize len)
{
	g_byte_array_append(m->buf, data, (guint)len);
}

static void
msg_pad(Msg *m)
{
	static const guint8 zero[4] = {0};
	msg_put(m, zero, NLA_ALIGN(m->buf->len) - m->buf->len);
}

static void
msg_begin(Msg *m, guint16 type, guint16 flags, guint32 seq)
{
	struct nlmsghdr hdr = {0, type, flags, seq, 4242};
	m->message = m->buf->len;
	msg_put(m, &hdr, sizeof(hdr));
}

static void
msg_genl(Msg *m, guint8 cmd)
{
	struct genlmsghdr genl = {cmd, 1, 0};
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
	msg_put(m, &attr, sizeof(attr));
	msg_put(m, data, len);
	msg_pad(m);
}

static void
msg_u16(Msg *m, guint16 type, guint16 value)
{
	msg_attr(m, type, &value, sizeof(value));
}

static void
msg_u32(Msg *m, guint16 type, guint32 value)
{
	msg_attr(m, type, &value, sizeof(value));
}

static void
msg_nest(Msg *m, guint16 type)
{
	struct nlattr attr = {0, type | NESTED};
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
msg_error(Msg *m, guint32 seq, int errnum)
{
	struct nlmsgerr err = {.error = -errnum};
	msg_begin(m, T_NLMSG_ERROR, 0, seq);
	msg_put(m, &err, sizeof(err));
	msg_end(m);
}

static void
msg_done(Msg *m, guint32 seq, int errnum)
{
	gint32 code = -errnum;
	msg_begin(m, T_NLMSG_DONE, F_MULTI, seq);
	msg_put(m, &code, sizeof(code));
	msg_end(m);
}

static void
msg_family(Msg *m, guint32 seq, guint16 id, const char *name)
{
	msg_begin(m, T_GENL_ID_CTRL, 0, seq);
	msg_genl(m, 1 /* CTRL_CMD_NEWFAMILY */);
	msg_attr(m, 2 /* CTRL_ATTR_FAMILY_NAME */, name, strlen(name) + 1);
	msg_u16(m, 1 /* CTRL_ATTR_FAMILY_ID */, id);
	msg_u32(m, 3 /* CTRL_ATTR_VERSION */, 1);
	msg_u32(m, 4 /* CTRL_ATTR_HDRSIZE */, 0);
	msg_u32(m, 5 /* CTRL_ATTR_MAXATTR */, 8);
	msg_nest(m, 6 /* CTRL_ATTR_OPS */);
	msg_nest(m, 1);
	msg_u32(m, 1 /* CTRL_ATTR_OP_ID */, 0);
	msg_nest_end(m);
	msg_nest_end(m);
	msg_end(m);
}

static Msg
msg_new(void)
{
	return (Msg){g_byte_array_new(), 0, {0}, 0};
}

static void
test_parse_family(void)
{
	g_autoptr(GError) error = NULL;

	/* the family, then the acknowledgement: one datagram each, as the kernel sends */
	{
		Msg reply = msg_new();
		Msg ack = msg_new();
		PmWgNlStatus status = {0};
		guint16 id = 0;

		msg_family(&reply, SEQ, 0x1b, "wireguard");
		msg_error(&ack, SEQ, 0);
		g_assert_true(pm_wg_nl_parse_family(reply.buf->data, reply.buf->len, SEQ, &id,
						    &status, &error));
		g_assert_no_error(error);
		g_assert_false(status.done);
		g_assert_cmpuint(id, ==, 0x1b);
		g_assert_true(pm_wg_nl_parse_family(ack.buf->data, ack.buf->len, SEQ, &id, &status,
						    &error));
		g_assert_true(status.done);
		g_assert_cmpint(status.errnum, ==, 0);
		g_byte_array_unref(reply.buf);
		g_byte_array_unref(ack.buf);
	}
	/* both in one datagram, after a stray answer to another request */
	{
		Msg m = msg_new();
		PmWgNlStatus status = {0};
		guint16 id = 0;

		msg_error(&m, SEQ - 1, EINVAL);
		msg_family(&m, SEQ - 1, 0x33, "wireguard");
		msg_family(&m, SEQ, 0x1c, "wireguard");
		msg_error(&m, SEQ, 0);
		g_assert_true(pm_wg_nl_parse_family(m.buf->data, m.buf->len, SEQ, &id, &status,
						    &error));
		g_assert_true(status.done);
		g_assert_cmpint(status.errnum, ==, 0);
		g_assert_cmpuint(id, ==, 0x1c);
		g_byte_array_unref(m.buf);
	}
	/* no WireGuard in this kernel */
	{
		Msg m = msg_new();
		PmWgNlStatus status = {0};
		guint16 id = 0;

		msg_error(&m, SEQ, ENOENT);
		g_assert_true(pm_wg_nl_parse_family(m.buf->data, m.buf->len, SEQ, &id, &status,
						    &error));
		g_assert_true(status.done);
		g_assert_cmpint(status.errnum, ==, ENOENT);
		g_byte_array_unref(m.buf);
	}
	/* malformed: an acknowledgement alone, another family, a truncated message */
	{
		Msg ack = msg_new();
		Msg other = msg_new();
		PmWgNlStatus status = {0};
		guint16 id = 0;

		msg_error(&ack, SEQ, 0);
		g_assert_false(pm_wg_nl_parse_family(ack.buf->data, ack.buf->len, SEQ, &id, &status,
						     &error));
		g_assert_error(error, PM_WG_CODEC_ERROR, PM_WG_CODEC_ERROR_MALFORMED);
		g_clear_error(&error);
		msg_family(&other, SEQ, 0x1d, "nl80211");
		status = (PmWgNlStatus){0};
		g_assert_false(pm_wg_nl_parse_family(other.buf->data, other.buf->len, SEQ, &id,
						     &status, &error));
		g_assert_error(error, PM_WG_CODEC_ERROR, PM_WG_CODEC_ERROR_MALFORMED);
		g_clear_error(&error);
		g_assert_false(pm_wg_nl_parse_family(other.buf->data, other.buf->len - 1, SEQ, &id,
						     &status, &error));
		g_assert_error(error, PM_WG_CODEC_ERROR, PM_WG_CODEC_ERROR_MALFORMED);
		g_byte_array_unref(ack.buf);
		g_byte_array_unref(other.buf);
	}
}

#define PRIVATE_BYTE 0x5a
#define PSK_BYTE 0x6b

static void
key_of(guint8 *key, guint8 seed)
{
	for (guint i = 0; i < 32; i++)
		key[i] = (guint8)(seed + i);
}

static void
msg_sockaddr_in(Msg *m, const char *addr, guint16 port)
{
	struct sockaddr_in sin = {0};
	sin.sin_family = AF_INET;
	sin.sin_port = htons(port);
	g_assert_cmpint(inet_pton(AF_INET, addr, &sin.sin_addr), ==, 1);
	msg_attr(m, 4 /* WGPEER_A_ENDPOINT */, &sin, sizeof(sin));
}

static void
msg_sockaddr_in6(Msg *m, const char *addr, guint16 port, guint32 scope)
{
	struct sockaddr_in6 sin6 = {0};
	sin6.sin6_family = AF_INET6;
	sin6.sin6_port = htons(port);
	sin6.sin6_scope_id = scope;
	g_assert_cmpint(inet_pton(AF_INET6, addr, &sin6.sin6_addr), ==, 1);
	msg_attr(m, 4 /* WGPEER_A_ENDPOINT */, &sin6, sizeof(sin6));
}

static void
msg_allowed_ips(Msg *m, guint n)
{
	msg_nest(m, 9 /* WGPEER_A_ALLOWEDIPS */);
	for (guint i = 0; i < n; i++) {
		guint8 ip[4] = {10, 0, 0, (guint8)i};
		guint8 cidr = 32;
		msg_nest(m, 0);
		msg_attr(m, 3 /* WGALLOWEDIP_A_CIDR_MASK */, &cidr, 1);
		msg_u16(m, 1 /* WGALLOWEDIP_A_FAMILY */, AF_INET);
		msg_attr(m, 2 /* WGALLOWEDIP_A_IPADDR */, ip, 4);
		msg_nest_end(m);
	}
	msg_nest_end(m);
}

/* a full peer, as the first message that has it */
static void
msg_peer(Msg *m, guint8 seed, const char *endpoint_kind)
{
	guint8 key[32];
	guint8 psk[32];
	guint8 timespec[16] = {0};
	guint64 bytes = 1000;

	key_of(key, seed);
	memset(psk, PSK_BYTE, sizeof(psk));
	msg_nest(m, 0);
	msg_attr(m, 1 /* WGPEER_A_PUBLIC_KEY */, key, 32);
	msg_attr(m, 2 /* WGPEER_A_PRESHARED_KEY */, psk, 32);
	msg_attr(m, 6 /* WGPEER_A_LAST_HANDSHAKE_TIME */, timespec, sizeof(timespec));
	msg_u16(m, 5 /* WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL */, 25);
	msg_attr(m, 8 /* WGPEER_A_TX_BYTES */, &bytes, 8);
	msg_attr(m, 7 /* WGPEER_A_RX_BYTES */, &bytes, 8);
	msg_u32(m, 10 /* WGPEER_A_PROTOCOL_VERSION */, 1);
	if (g_strcmp0(endpoint_kind, "v4") == 0)
		msg_sockaddr_in(m, "198.51.100.7", 51820);
	else if (g_strcmp0(endpoint_kind, "v6") == 0)
		msg_sockaddr_in6(m, "2001:db8::7", 51821, 0);
	else if (g_strcmp0(endpoint_kind, "link-local") == 0)
		msg_sockaddr_in6(m, "fe80::1", 51822, 2);
	msg_allowed_ips(m, 2);
	msg_nest_end(m);
}

/* a peer continued from the message before: its key and more allowed IPs */
static void
msg_peer_continued(Msg *m, guint8 seed)
{
	guint8 key[32];

	key_of(key, seed);
	msg_nest(m, 0);
	msg_attr(m, 1, key, 32);
	msg_allowed_ips(m, 3);
	msg_nest_end(m);
}

/* the first message of a dump: the device's attributes, the private key among them */
static void
msg_device_begin(Msg *m, guint32 seq, guint16 flags)
{
	guint8 private_key[32];
	guint8 public_key[32];

	memset(private_key, PRIVATE_BYTE, sizeof(private_key));
	key_of(public_key, 0xe0);
	msg_begin(m, FAMILY, F_MULTI | flags, seq);
	msg_genl(m, 0 /* WG_CMD_GET_DEVICE */);
	msg_u16(m, 6 /* WGDEVICE_A_LISTEN_PORT */, 51820);
	msg_u32(m, 7 /* WGDEVICE_A_FWMARK */, 0);
	msg_u32(m, 1 /* WGDEVICE_A_IFINDEX */, 5);
	msg_attr(m, 2 /* WGDEVICE_A_IFNAME */, "wg0", 4);
	msg_attr(m, 3 /* WGDEVICE_A_PRIVATE_KEY */, private_key, 32);
	msg_attr(m, 4 /* WGDEVICE_A_PUBLIC_KEY */, public_key, 32);
	msg_nest(m, 8 /* WGDEVICE_A_PEERS */);
}

/* a following message: the interface's name and more peers only */
static void
msg_device_more(Msg *m, guint32 seq)
{
	msg_begin(m, FAMILY, F_MULTI, seq);
	msg_genl(m, 0);
	msg_attr(m, 2, "wg0", 4);
	msg_nest(m, 8);
}

static void
msg_device_end(Msg *m)
{
	msg_nest_end(m);
	msg_end(m);
}

static void
assert_peer(PmWgDevice *device, guint index, guint8 seed, const char *endpoint)
{
	guint8 key[32];
	PmWgPeer *peer = pm_wg_device_get_peer(device, index);

	key_of(key, seed);
	g_assert_cmpmem(peer->public_key, 32, key, 32);
	g_assert_cmpstr(peer->endpoint, ==, endpoint);
}

static void
test_parse_device(void)
{
	Msg first = msg_new();
	Msg second = msg_new();
	Msg done = msg_new();
	g_autoptr(PmWgDevice) device = pm_wg_device_new();
	g_autoptr(GError) error = NULL;
	PmWgNlStatus status = {0};

	/* peer 0x20 is cut after its first part and continued in the next message */
	msg_device_begin(&first, SEQ, 0);
	msg_peer(&first, 0x10, "v4");
	msg_peer(&first, 0x20, "v6");
	msg_device_end(&first);
	msg_device_more(&second, SEQ);
	msg_peer_continued(&second, 0x20);
	msg_peer_continued(&second, 0x20);
	msg_peer(&second, 0x30, NULL);
	msg_peer(&second, 0x40, "link-local");
	msg_device_end(&second);
	msg_done(&done, SEQ, 0);

	g_assert_true(pm_wg_nl_parse_device(first.buf->data, first.buf->len, SEQ, FAMILY, device,
					    &status, &error));
	g_assert_no_error(error);
	g_assert_false(status.done);
	g_assert_true(pm_wg_nl_parse_device(second.buf->data, second.buf->len, SEQ, FAMILY,
					    device, &status, &error));
	g_assert_false(status.done);
	g_assert_true(pm_wg_nl_parse_device(done.buf->data, done.buf->len, SEQ, FAMILY, device,
					    &status, &error));
	g_assert_true(status.done);
	g_assert_cmpint(status.errnum, ==, 0);

	g_assert_cmpuint(pm_wg_device_get_n_peers(device), ==, 4);
	assert_peer(device, 0, 0x10, "198.51.100.7:51820");
	assert_peer(device, 1, 0x20, "[2001:db8::7]:51821");
	assert_peer(device, 2, 0x30, NULL);
	assert_peer(device, 3, 0x40, "[fe80::1%2]:51822");

	/* the same three datagrams as one */
	{
		g_autoptr(PmWgDevice) again = pm_wg_device_new();
		g_autoptr(GByteArray) all = g_byte_array_new();

		g_byte_array_append(all, first.buf->data, first.buf->len);
		g_byte_array_append(all, second.buf->data, second.buf->len);
		g_byte_array_append(all, done.buf->data, done.buf->len);
		status = (PmWgNlStatus){0};
		g_assert_true(pm_wg_nl_parse_device(all->data, all->len, SEQ, FAMILY, again,
						    &status, &error));
		g_assert_true(status.done);
		g_assert_cmpuint(pm_wg_device_get_n_peers(again), ==, 4);
	}
	g_byte_array_unref(first.buf);
	g_byte_array_unref(second.buf);
	g_byte_array_unref(done.buf);
}

static void
test_parse_device_errors(void)
{
	g_autoptr(GError) error = NULL;

	/* the dump could not start: no such interface */
	{
		Msg m = msg_new();
		g_autoptr(PmWgDevice) device = pm_wg_device_new();
		PmWgNlStatus status = {0};

		msg_error(&m, SEQ, ENODEV);
		g_assert_true(pm_wg_nl_parse_device(m.buf->data, m.buf->len, SEQ, FAMILY, device,
						    &status, &error));
		g_assert_true(status.done);
		g_assert_cmpint(status.errnum, ==, ENODEV);
		g_byte_array_unref(m.buf);
	}
	/* an error in NLMSG_DONE */
	{
		Msg m = msg_new();
		g_autoptr(PmWgDevice) device = pm_wg_device_new();
		PmWgNlStatus status = {0};

		msg_done(&m, SEQ, EPERM);
		g_assert_true(pm_wg_nl_parse_device(m.buf->data, m.buf->len, SEQ, FAMILY, device,
						    &status, &error));
		g_assert_true(status.done);
		g_assert_cmpint(status.errnum, ==, EPERM);
		g_byte_array_unref(m.buf);
	}
	/* interrupted: the device changed during the dump */
	{
		Msg m = msg_new();
		g_autoptr(PmWgDevice) device = pm_wg_device_new();
		PmWgNlStatus status = {0};

		msg_device_begin(&m, SEQ, F_DUMP_INTR);
		msg_peer(&m, 0x10, "v4");
		msg_device_end(&m);
		g_assert_false(pm_wg_nl_parse_device(m.buf->data, m.buf->len, SEQ, FAMILY, device,
						     &status, &error));
		g_assert_error(error, PM_WG_CODEC_ERROR, PM_WG_CODEC_ERROR_MALFORMED);
		g_clear_error(&error);
		g_byte_array_unref(m.buf);
	}
	/* a peer listed twice apart; a good datagram then a bad one leaves the good one's
	 * peers only */
	{
		Msg good = msg_new();
		Msg bad = msg_new();
		g_autoptr(PmWgDevice) device = pm_wg_device_new();
		PmWgNlStatus status = {0};

		msg_device_begin(&good, SEQ, 0);
		msg_peer(&good, 0x10, "v4");
		msg_peer(&good, 0x20, "v4");
		msg_device_end(&good);
		msg_device_more(&bad, SEQ);
		msg_peer(&bad, 0x30, "v4");
		msg_peer(&bad, 0x10, "v4");
		msg_device_end(&bad);
		g_assert_true(pm_wg_nl_parse_device(good.buf->data, good.buf->len, SEQ, FAMILY,
						    device, &status, &error));
		g_assert_false(pm_wg_nl_parse_device(bad.buf->data, bad.buf->len, SEQ, FAMILY,
						     device, &status, &error));
		g_assert_error(error, PM_WG_CODEC_ERROR, PM_WG_CODEC_ERROR_MALFORMED);
		g_clear_error(&error);
		g_assert_cmpuint(pm_wg_device_get_n_peers(device), ==, 2);
		g_assert_false(status.done);
		g_byte_array_unref(good.buf);
		g_byte_array_unref(bad.buf);
	}
	/* a short public key; an endpoint of no sockaddr's size */
	{
		Msg m = msg_new();
		g_autoptr(PmWgDevice) device = pm_wg_device_new();
		PmWgNlStatus status = {0};
		guint8 short_key[31] = {0};
		guint8 key[32];
		guint8 odd[20] = {0};

		msg_device_begin(&m, SEQ, 0);
		msg_nest(&m, 0);
		msg_attr(&m, 1, short_key, sizeof(short_key));
		msg_nest_end(&m);
		msg_device_end(&m);
		g_assert_false(pm_wg_nl_parse_device(m.buf->data, m.buf->len, SEQ, FAMILY, device,
						     &status, &error));
		g_assert_error(error, PM_WG_CODEC_ERROR, PM_WG_CODEC_ERROR_MALFORMED);
		g_clear_error(&error);

		g_byte_array_set_size(m.buf, 0);
		key_of(key, 0x10);
		memcpy(odd, (guint16[]){AF_INET}, sizeof(guint16));
		msg_device_begin(&m, SEQ, 0);
		msg_nest(&m, 0);
		msg_attr(&m, 1, key, sizeof(key));
		msg_attr(&m, 4, odd, sizeof(odd));
		msg_nest_end(&m);
		msg_device_end(&m);
		g_assert_false(pm_wg_nl_parse_device(m.buf->data, m.buf->len, SEQ, FAMILY, device,
						     &status, &error));
		g_assert_error(error, PM_WG_CODEC_ERROR, PM_WG_CODEC_ERROR_MALFORMED);
		g_clear_error(&error);
		g_assert_cmpuint(pm_wg_device_get_n_peers(device), ==, 0);
		g_byte_array_unref(m.buf);
	}
	/* every truncation of a datagram */
	{
		Msg m = msg_new();

		msg_device_begin(&m, SEQ, 0);
		msg_peer(&m, 0x10, "v6");
		msg_device_end(&m);
		for (guint len = 1; len < m.buf->len; len++) {
			g_autoptr(PmWgDevice) device = pm_wg_device_new();
			PmWgNlStatus status = {0};
			if (pm_wg_nl_parse_device(m.buf->data, len, SEQ, FAMILY, device, &status,
						  &error))
				g_error("accepted a dump cut at %u", len);
			g_assert_error(error, PM_WG_CODEC_ERROR, PM_WG_CODEC_ERROR_MALFORMED);
			g_clear_error(&error);
			g_assert_cmpuint(pm_wg_device_get_n_peers(device), ==, 0);
		}
		g_byte_array_unref(m.buf);
	}
}

static void
test_parse_ack(void)
{
	g_autoptr(GError) error = NULL;
	Msg m = msg_new();
	PmWgNlStatus status = {0};

	/* an answer to an earlier request is skipped */
	msg_error(&m, SEQ - 1, 0);
	g_assert_true(pm_wg_nl_parse_ack(m.buf->data, m.buf->len, SEQ, &status, &error));
	g_assert_false(status.done);
	msg_error(&m, SEQ, EINVAL);
	g_assert_true(pm_wg_nl_parse_ack(m.buf->data, m.buf->len, SEQ, &status, &error));
	g_assert_true(status.done);
	g_assert_cmpint(status.errnum, ==, EINVAL);

	g_byte_array_set_size(m.buf, 0);
	status = (PmWgNlStatus){0};
	msg_error(&m, SEQ, 0);
	g_assert_true(pm_wg_nl_parse_ack(m.buf->data, m.buf->len, SEQ, &status, &error));
	g_assert_true(status.done);
	g_assert_cmpint(status.errnum, ==, 0);

	/* truncated */
	status = (PmWgNlStatus){0};
	g_assert_false(pm_wg_nl_parse_ack(m.buf->data, m.buf->len - 1, SEQ, &status, &error));
	g_assert_error(error, PM_WG_CODEC_ERROR, PM_WG_CODEC_ERROR_MALFORMED);
	g_clear_error(&error);
	/* an NLMSG_ERROR too short for its errno */
	g_byte_array_set_size(m.buf, 0);
	msg_begin(&m, T_NLMSG_ERROR, 0, SEQ);
	msg_put(&m, "\0\0", 2);
	msg_end(&m);
	g_assert_false(pm_wg_nl_parse_ack(m.buf->data, m.buf->len, SEQ, &status, &error));
	g_assert_error(error, PM_WG_CODEC_ERROR, PM_WG_CODEC_ERROR_MALFORMED);
	g_byte_array_unref(m.buf);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/wg-netlink/get-family", test_get_family);
	g_test_add_func("/wg-netlink/get-device", test_get_device);
	g_test_add_func("/wg-netlink/set-endpoint", test_set_endpoint);
	g_test_add_func("/wg-netlink/parse-family", test_parse_family);
	g_test_add_func("/wg-netlink/parse-device", test_parse_device);
	g_test_add_func("/wg-netlink/parse-device-errors", test_parse_device_errors);
	g_test_add_func("/wg-netlink/parse-ack", test_parse_ack);
	return g_test_run();
}
