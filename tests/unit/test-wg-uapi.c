/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The WireGuard UAPI codec (daemon/proto/wg-uapi.c): keys in base64 and hex, endpoints,
 * interface names, get and set replies as wireguard-go and boringtun write them, and the
 * set transaction.
 */
#include <string.h>
#include <sys/socket.h>

#include "proto/wg-uapi.h"

/* 0x00..0x1f */
#define KEY_SEQ_BASE64 "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
#define KEY_SEQ_HEX "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"

/* a get=1 reply shaped as wireguard-go's IpcGetOperation writes it */
#define PRIVATE_HEX "e84b5a6d2717c1003a13b431570353dbaca9146cf150c5f8575680feba52027a"
#define PSK_HEX "188515093e952f5f22e865cef3012e72f8b5f0b598ac0309d5dacce3b70fcf52"
#define PEER1_HEX "b85996fecc9c7f1fc6d2572a76eda11d59bcd20be8e543b15ce4bd85a8e75a33"
#define PEER2_HEX "58402e695ba1772b1cc9309755f043251ea77fdcf10fbe63989ceb7e19321376"
#define PEER3_HEX "662e14fd594556f522604703340351258903b64f35553763f19426ab2a515c58"

static const char wireguard_go_reply[] =
    "private_key=" PRIVATE_HEX "\n"
    "listen_port=51820\n"
    "fwmark=51820\n"
    "public_key=" PEER1_HEX "\n"
    "preshared_key=" PSK_HEX "\n"
    "protocol_version=1\n"
    "endpoint=198.51.100.7:51820\n"
    "last_handshake_time_sec=1700000000\n"
    "last_handshake_time_nsec=5\n"
    "tx_bytes=100\n"
    "rx_bytes=200\n"
    "persistent_keepalive_interval=25\n"
    "allowed_ip=10.0.0.2/32\n"
    "allowed_ip=fd00::2/128\n"
    "public_key=" PEER2_HEX "\n"
    "preshared_key=0000000000000000000000000000000000000000000000000000000000000000\n"
    "protocol_version=1\n"
    "endpoint=[2001:db8::7]:51821\n"
    "a_key_of_tomorrow=whatever it says\n"
    "public_key=" PEER3_HEX "\n"
    "preshared_key=0000000000000000000000000000000000000000000000000000000000000000\n"
    "protocol_version=1\n"
    "last_handshake_time_sec=0\n"
    "allowed_ip=10.0.0.3/32\n"
    "errno=0\n"
    "\n";

static void
test_keys(void)
{
	guint8 key[PM_WG_KEY_LEN];
	guint8 seq[PM_WG_KEY_LEN];
	char hex[PM_WG_KEY_HEX_LEN + 1];
	g_autofree char *b64 = NULL;
	g_autoptr(GError) error = NULL;
	const char *bad_base64[] = {
	    "",
	    KEY_SEQ_BASE64 "=",
	    "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8",
	    "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8A",
	    /* the last character's two unused bits set: another spelling of the key */
	    "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh9=",
	    /* URL-safe alphabet, a space, a newline */
	    "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdH-8=",
	    "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd Hh8=",
	    "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd\nHh8=",
	    "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh==",
	};
	const char *bad_hex[] = {
	    "",
	    KEY_SEQ_HEX "0",
	    "00010203040506070809",
	    "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1g",
	    "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1 ",
	};

	for (guint i = 0; i < PM_WG_KEY_LEN; i++)
		seq[i] = (guint8)i;
	g_assert_true(pm_wg_key_from_base64(KEY_SEQ_BASE64, key, &error));
	g_assert_no_error(error);
	g_assert_cmpmem(key, sizeof(key), seq, sizeof(seq));
	b64 = pm_wg_key_to_base64(key);
	g_assert_cmpstr(b64, ==, KEY_SEQ_BASE64);
	pm_wg_key_to_hex(key, hex);
	g_assert_cmpstr(hex, ==, KEY_SEQ_HEX);
	memset(key, 0xff, sizeof(key));
	g_assert_true(pm_wg_key_from_hex(KEY_SEQ_HEX, key, &error));
	g_assert_cmpmem(key, sizeof(key), seq, sizeof(seq));
	/* wireguard-go reads either case */
	g_assert_true(pm_wg_key_from_hex(
	    "000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F", key, &error));
	g_assert_cmpmem(key, sizeof(key), seq, sizeof(seq));

	for (guint i = 0; i < G_N_ELEMENTS(bad_base64); i++) {
		g_assert_false(pm_wg_key_from_base64(bad_base64[i], key, &error));
		g_assert_error(error, PM_WG_CODEC_ERROR, PM_WG_CODEC_ERROR_BAD_KEY);
		g_clear_error(&error);
	}
	g_assert_false(pm_wg_key_from_base64(NULL, key, NULL));
	for (guint i = 0; i < G_N_ELEMENTS(bad_hex); i++) {
		g_assert_false(pm_wg_key_from_hex(bad_hex[i], key, &error));
		g_assert_error(error, PM_WG_CODEC_ERROR, PM_WG_CODEC_ERROR_BAD_KEY);
		g_clear_error(&error);
	}
	/* a failed parse leaves the key alone */
	g_assert_cmpmem(key, sizeof(key), seq, sizeof(seq));
}

static void
test_endpoints(void)
{
	const struct {
		const char *text;
		int family;
		guint16 port;
		const char *canonical;
	} good[] = {
	    {"198.51.100.7:51820", AF_INET, 51820, "198.51.100.7:51820"},
	    {"1.2.3.4:1", AF_INET, 1, "1.2.3.4:1"},
	    {"255.255.255.255:65535", AF_INET, 65535, "255.255.255.255:65535"},
	    {"[2001:db8::1]:51820", AF_INET6, 51820, "[2001:db8::1]:51820"},
	    {"[2001:0DB8:0:0::1]:443", AF_INET6, 443, "[2001:db8::1]:443"},
	    {"[::ffff:198.51.100.7]:9", AF_INET6, 9, "[::ffff:198.51.100.7]:9"},
	    {"[ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255]:65535", AF_INET6, 65535,
	     "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535"},
	};
	const char *bad[] = {
	    "",
	    "198.51.100.7",
	    "198.51.100.7:",
	    "198.51.100.7:0",
	    "198.51.100.7:65536",
	    "198.51.100.7:051820",
	    "198.51.100.7:+5",
	    "198.51.100.7:5:6",
	    /* a second key, a newline, spaces */
	    "198.51.100.7:51820\nremove=true",
	    "198.51.100.7:51820\n",
	    "198.51.100.7:51820 ",
	    " 198.51.100.7:51820",
	    "198.51.100.7 :51820",
	    /* not an address literal in the two forms */
	    "vpn.example.com:51820",
	    "198.51.100:51820",
	    "0198.51.100.7:51820",
	    "0x7f.0.0.1:51820",
	    "2001:db8::1:51820",
	    "[2001:db8::1]51820",
	    "[2001:db8::1]:",
	    "[2001:db8::1%eth0]:51820",
	    "[198.51.100.7]:51820",
	    "[[2001:db8::1]]:51820",
	    "[2001:db8::1:51820",
	    "2001:db8::1]:51820",
	    /* the unspecified address is nobody's endpoint */
	    "0.0.0.0:51820",
	    "[::]:51820",
	    "[ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255]:655350",
	};
	g_autoptr(GError) error = NULL;

	for (guint i = 0; i < G_N_ELEMENTS(good); i++) {
		PmWgEndpoint ep;
		PmWgEndpoint again;
		g_autofree char *text = NULL;

		g_assert_true(pm_wg_endpoint_parse(good[i].text, &ep, &error));
		g_assert_no_error(error);
		g_assert_cmpint(ep.family, ==, good[i].family);
		g_assert_cmpuint(ep.port, ==, good[i].port);
		text = pm_wg_endpoint_to_string(&ep);
		g_assert_cmpstr(text, ==, good[i].canonical);
		g_assert_true(pm_wg_endpoint_parse(text, &again, NULL));
		g_assert_true(pm_wg_endpoint_equal(&ep, &again));
		g_assert_true(pm_wg_endpoint_matches(good[i].text, &ep));
	}
	for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
		PmWgEndpoint ep;
		if (pm_wg_endpoint_parse(bad[i], &ep, &error))
			g_error("accepted endpoint \"%s\"", g_strescape(bad[i], NULL));
		g_assert_error(error, PM_WG_CODEC_ERROR, PM_WG_CODEC_ERROR_BAD_ENDPOINT);
		g_clear_error(&error);
	}
	g_assert_false(pm_wg_endpoint_parse(NULL, NULL, NULL));
}

static void
test_endpoint_matches(void)
{
	PmWgEndpoint ep;
	PmWgEndpoint v4;

	g_assert_true(pm_wg_endpoint_parse("[2001:db8::1]:51820", &ep, NULL));
	g_assert_true(pm_wg_endpoint_matches("[2001:db8:0:0:0:0:0:1]:51820", &ep));
	g_assert_false(pm_wg_endpoint_matches("[2001:db8::1]:51821", &ep));
	g_assert_false(pm_wg_endpoint_matches("[2001:db8::2]:51820", &ep));
	/* what wireguard-go prints for a link-local peer, and none */
	g_assert_false(pm_wg_endpoint_matches("[2001:db8::1%eth0]:51820", &ep));
	g_assert_false(pm_wg_endpoint_matches(NULL, &ep));
	g_assert_false(pm_wg_endpoint_matches("garbage", &ep));
	/* an IPv4 endpoint is not its IPv4-mapped IPv6 form */
	g_assert_true(pm_wg_endpoint_parse("198.51.100.7:9", &v4, NULL));
	g_assert_false(pm_wg_endpoint_matches("[::ffff:198.51.100.7]:9", &v4));
	g_assert_true(pm_wg_endpoint_matches("198.51.100.7:9", &v4));
}

static void
test_ifnames(void)
{
	const char *good[] = {"wg0", "a", "wireguard-home1", "wg_0.x", "WG@1"};
	const char *bad[] = {"", ".", "..", "wg/0", "wg:0", "wg 0", "wg\n0", "wg\t",
			     "wireguard-home12", "../etc"};

	for (guint i = 0; i < G_N_ELEMENTS(good); i++)
		g_assert_true(pm_wg_ifname_is_valid(good[i]));
	for (guint i = 0; i < G_N_ELEMENTS(bad); i++)
		g_assert_false(pm_wg_ifname_is_valid(bad[i]));
	g_assert_false(pm_wg_ifname_is_valid(NULL));
}

static void
assert_peer(const PmWgDevice *device, guint index, const char *hex, const char *endpoint)
{
	PmWgPeer *peer = pm_wg_device_get_peer(device, index);
	guint8 key[PM_WG_KEY_LEN];

	g_assert_true(pm_wg_key_from_hex(hex, key, NULL));
	g_assert_cmpmem(peer->public_key, PM_WG_KEY_LEN, key, PM_WG_KEY_LEN);
	g_assert_cmpstr(peer->endpoint, ==, endpoint);
	g_assert_true(pm_wg_device_find_peer(device, key) == peer);
}

static void
assert_wireguard_go_device(const PmWgDevice *device)
{
	guint8 private_key[PM_WG_KEY_LEN];

	g_assert_nonnull(device);
	g_assert_cmpuint(pm_wg_device_get_n_peers(device), ==, 3);
	assert_peer(device, 0, PEER1_HEX, "198.51.100.7:51820");
	assert_peer(device, 1, PEER2_HEX, "[2001:db8::7]:51821");
	assert_peer(device, 2, PEER3_HEX, NULL);
	g_assert_false(pm_wg_device_get_has_own_public_key(device));
	/* the interface's own key is no peer */
	g_assert_true(pm_wg_key_from_hex(PRIVATE_HEX, private_key, NULL));
	g_assert_null(pm_wg_device_find_peer(device, private_key));
}

static void
test_get_reply(void)
{
	g_autoptr(PmWgDevice) device = NULL;
	g_autoptr(GError) error = NULL;
	int errnum = -1;

	device = pm_wg_uapi_parse_get_reply((const guint8 *)wireguard_go_reply,
					    strlen(wireguard_go_reply), &errnum, &error);
	g_assert_no_error(error);
	g_assert_cmpint(errnum, ==, 0);
	assert_wireguard_go_device(device);
}

/* the bytes as a socket may cut them: one at a time, and in two parts at every offset */
static void
test_get_reply_cuts(void)
{
	const guint8 *data = (const guint8 *)wireguard_go_reply;
	gsize len = strlen(wireguard_go_reply);

	{
		g_autoptr(PmWgUapiParser) parser = pm_wg_uapi_parser_new();
		g_autoptr(PmWgDevice) device = NULL;
		int errnum = -1;

		for (gsize i = 0; i < len; i++) {
			g_assert_false(pm_wg_uapi_parser_is_done(parser));
			g_assert_true(pm_wg_uapi_parser_feed(parser, data + i, 1, NULL));
		}
		g_assert_true(pm_wg_uapi_parser_is_done(parser));
		device = pm_wg_uapi_parser_finish(parser, &errnum, NULL);
		g_assert_cmpint(errnum, ==, 0);
		assert_wireguard_go_device(device);
	}
	for (gsize cut = 0; cut <= len; cut++) {
		g_autoptr(PmWgUapiParser) parser = pm_wg_uapi_parser_new();
		g_autoptr(PmWgDevice) device = NULL;
		int errnum = -1;

		g_assert_true(pm_wg_uapi_parser_feed(parser, data, cut, NULL));
		g_assert_true(pm_wg_uapi_parser_feed(parser, data + cut, len - cut, NULL));
		device = pm_wg_uapi_parser_finish(parser, &errnum, NULL);
		g_assert_nonnull(device);
		g_assert_cmpuint(pm_wg_device_get_n_peers(device), ==, 3);
	}
}

static void
test_other_replies(void)
{
	/* boringtun 0.6+: its own public key instead of the private one, a positive errno */
	static const char boringtun[] = "own_public_key=" PEER3_HEX "\n"
					"listen_port=51820\n"
					"public_key=" PEER1_HEX "\n"
					"endpoint=198.51.100.7:51820\n"
					"allowed_ip=10.0.0.2/32\n"
					"rx_bytes=0\n"
					"tx_bytes=0\n"
					"errno=0\n"
					"\n";
	/* an interface without a private key, listen port or peers */
	static const char empty[] = "errno=0\n\n";
	const struct {
		const char *text;
		int errnum;
	} errnos[] = {
	    {"errno=0\n\n", 0},
	    {"errno=-22\n\n", 22},
	    {"errno=22\n\n", 22},
	    {"errno=-55\n\n", 55},
	    {"errno=-2147483647\n\n", G_MAXINT},
	};
	g_autoptr(PmWgDevice) device = NULL;
	g_autoptr(GError) error = NULL;
	int errnum = -1;

	device = pm_wg_uapi_parse_get_reply((const guint8 *)boringtun, strlen(boringtun), &errnum,
					    &error);
	g_assert_no_error(error);
	g_assert_cmpuint(pm_wg_device_get_n_peers(device), ==, 1);
	assert_peer(device, 0, PEER1_HEX, "198.51.100.7:51820");
	g_assert_true(pm_wg_device_get_has_own_public_key(device));
	g_clear_pointer(&device, pm_wg_device_free);

	device = pm_wg_uapi_parse_get_reply((const guint8 *)empty, strlen(empty), &errnum, &error);
	g_assert_no_error(error);
	g_assert_cmpuint(pm_wg_device_get_n_peers(device), ==, 0);

	for (guint i = 0; i < G_N_ELEMENTS(errnos); i++) {
		errnum = -1;
		g_assert_true(pm_wg_uapi_parse_set_reply((const guint8 *)errnos[i].text,
							 strlen(errnos[i].text), &errnum, &error));
		g_assert_no_error(error);
		g_assert_cmpint(errnum, ==, errnos[i].errnum);
	}
}

static void
test_malformed_replies(void)
{
	const char *bad[] = {
	    /* no '=', an empty key, a key that is not one */
	    "private_key\nerrno=0\n\n",
	    "=1\nerrno=0\n\n",
	    "Public_Key=" PEER1_HEX "\nerrno=0\n\n",
	    "public key=" PEER1_HEX "\nerrno=0\n\n",
	    /* peers */
	    "public_key=" PEER1_HEX "0\nerrno=0\n\n",
	    "public_key=zz\nerrno=0\n\n",
	    "endpoint=1.2.3.4:5\npublic_key=" PEER1_HEX "\nerrno=0\n\n",
	    "public_key=" PEER1_HEX "\npublic_key=" PEER2_HEX "\npublic_key=" PEER1_HEX
	    "\nerrno=0\n\n",
	    "public_key=" PEER1_HEX "\nendpoint=1.2.3.4:5\nendpoint=1.2.3.4:6\nerrno=0\n\n",
	    "public_key=" PEER1_HEX "\nendpoint=\nerrno=0\n\n",
	    "public_key=" PEER1_HEX "\nendpoint=1.2.3.4:5 x\nerrno=0\n\n",
	    /* errno */
	    "\n",
	    "listen_port=1\n\n",
	    "errno=\n\n",
	    "errno=-\n\n",
	    "errno=abc\n\n",
	    "errno=2147483648\n\n",
	    "errno=99999999999\n\n",
	    "errno=0\nerrno=0\n\n",
	    "errno=0\npublic_key=" PEER1_HEX "\n\n",
	    /* the end */
	    "errno=0\n\nerrno=0\n\n",
	    "errno=0\n\n\n",
	    "errno=0\r\n\r\n",
	    "errno=0\n",
	    "errno=0",
	    "",
	    /* control characters, a NUL */
	    "listen_port=1\t\nerrno=0\n\n",
	    "private_key=" PRIVATE_HEX "\r\nerrno=0\n\n",
	};
	g_autoptr(GError) error = NULL;
	int errnum = -1;

	for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
		g_autoptr(PmWgDevice) device = pm_wg_uapi_parse_get_reply(
		    (const guint8 *)bad[i], strlen(bad[i]), &errnum, &error);
		if (device != NULL)
			g_error("accepted reply \"%s\"", g_strescape(bad[i], NULL));
		g_assert_error(error, PM_WG_CODEC_ERROR, PM_WG_CODEC_ERROR_MALFORMED);
		/* no message quotes the reply: it may be the private key */
		g_assert_null(strstr(error->message, PRIVATE_HEX));
		g_clear_error(&error);
	}
	{
		static const guint8 nul[] = "errno=0\0\n\n";
		g_autoptr(PmWgDevice) device =
		    pm_wg_uapi_parse_get_reply(nul, sizeof(nul) - 1, &errnum, &error);
		g_assert_null(device);
		g_assert_error(error, PM_WG_CODEC_ERROR, PM_WG_CODEC_ERROR_MALFORMED);
		g_clear_error(&error);
	}
}

static void
test_limits(void)
{
	g_autoptr(GString) text = g_string_new("listen_port=");
	g_autoptr(PmWgUapiParser) parser = pm_wg_uapi_parser_new();
	g_autoptr(PmWgDevice) device = NULL;
	g_autoptr(GError) error = NULL;
	int errnum = 0;

	/* a line one byte longer than a line may be */
	g_string_append_printf(text, "%0*d\nerrno=0\n\n",
			       (int)(PM_WG_UAPI_MAX_LINE - strlen("listen_port=") + 1), 1);
	device = pm_wg_uapi_parse_get_reply((const guint8 *)text->str, text->len, &errnum, &error);
	g_assert_null(device);
	g_assert_error(error, PM_WG_CODEC_ERROR, PM_WG_CODEC_ERROR_TOO_LARGE);
	g_clear_error(&error);
	/* one byte shorter: fine */
	g_string_assign(text, "listen_port=");
	g_string_append_printf(text, "%0*d\nerrno=0\n\n",
			       (int)(PM_WG_UAPI_MAX_LINE - strlen("listen_port=")), 1);
	device = pm_wg_uapi_parse_get_reply((const guint8 *)text->str, text->len, &errnum, &error);
	g_assert_no_error(error);
	g_assert_nonnull(device);

	/* a failed parser stays failed, and finishes with nothing */
	g_assert_false(pm_wg_uapi_parser_feed(parser, (const guint8 *)"x\n", 2, &error));
	g_clear_error(&error);
	g_assert_false(pm_wg_uapi_parser_feed(parser, (const guint8 *)"errno=0\n\n", 9, &error));
	g_clear_error(&error);
	g_assert_null(pm_wg_uapi_parser_finish(parser, &errnum, &error));
	g_assert_error(error, PM_WG_CODEC_ERROR, PM_WG_CODEC_ERROR_MALFORMED);
}

static void
test_build_set(void)
{
	guint8 key[PM_WG_KEY_LEN];
	PmWgEndpoint ep;
	g_autofree char *v4 = NULL;
	g_autofree char *v6 = NULL;

	g_assert_true(pm_wg_key_from_base64(KEY_SEQ_BASE64, key, NULL));
	g_assert_true(pm_wg_endpoint_parse("198.51.100.7:51820", &ep, NULL));
	v4 = pm_wg_uapi_build_set(key, &ep);
	g_assert_cmpstr(v4, ==,
			"set=1\n"
			"public_key=" KEY_SEQ_HEX "\n"
			"update_only=true\n"
			"endpoint=198.51.100.7:51820\n"
			"\n");
	g_assert_true(pm_wg_endpoint_parse("[2001:DB8:0::1]:443", &ep, NULL));
	v6 = pm_wg_uapi_build_set(key, &ep);
	g_assert_cmpstr(v6, ==,
			"set=1\n"
			"public_key=" KEY_SEQ_HEX "\n"
			"update_only=true\n"
			"endpoint=[2001:db8::1]:443\n"
			"\n");
}

static void
test_device(void)
{
	g_autoptr(PmWgDevice) device = pm_wg_device_new();
	guint8 key[PM_WG_KEY_LEN] = {1};
	PmWgPeer *peer = pm_wg_device_add_peer(device, key);

	g_assert_nonnull(peer);
	g_assert_null(peer->endpoint);
	g_assert_null(pm_wg_device_add_peer(device, key));
	g_assert_true(pm_wg_device_find_peer(device, key) == peer);
	key[31] = 1;
	g_assert_null(pm_wg_device_find_peer(device, key));
	g_assert_cmpuint(pm_wg_device_get_n_peers(device), ==, 1);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/wg-uapi/keys", test_keys);
	g_test_add_func("/wg-uapi/endpoints", test_endpoints);
	g_test_add_func("/wg-uapi/endpoint-matches", test_endpoint_matches);
	g_test_add_func("/wg-uapi/ifnames", test_ifnames);
	g_test_add_func("/wg-uapi/get-reply", test_get_reply);
	g_test_add_func("/wg-uapi/get-reply-cuts", test_get_reply_cuts);
	g_test_add_func("/wg-uapi/other-replies", test_other_replies);
	g_test_add_func("/wg-uapi/malformed-replies", test_malformed_replies);
	g_test_add_func("/wg-uapi/limits", test_limits);
	g_test_add_func("/wg-uapi/build-set", test_build_set);
	g_test_add_func("/wg-uapi/device", test_device);
	return g_test_run();
}
