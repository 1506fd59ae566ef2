/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The WireGuard UAPI reply parser on any bytes, as anything listening on
 * /var/run/wireguard/IFACE.sock may send them: the first two bytes choose the cuts the
 * rest is fed in (alternating chunk sizes), and the result must be that of one feed: the
 * same peers and endpoints, the same errno, or an error both times. Every endpoint read
 * is printable; one that parses as an endpoint writes a set transaction of exactly five
 * lines and a blank one. The same bytes as a NUL-terminated string go through the key
 * and endpoint parsers, which must round-trip what they accept.
 */
#include <string.h>

#include "fuzz.h"
#include "proto/wg-uapi.h"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	pm_fuzz_init();
	return 0;
}

/* the peers of @data fed in chunks of @a and @b bytes in turn (0: all at once) */
static PmWgDevice *
parse(const guint8 *data, gsize size, gsize a, gsize b, int *errnum)
{
	g_autoptr(PmWgUapiParser) parser = pm_wg_uapi_parser_new();
	g_autoptr(GError) error = NULL;
	PmWgDevice *device;
	gboolean ok = TRUE;
	gsize at = 0;

	if (a == 0) {
		ok = pm_wg_uapi_parser_feed(parser, data, size, &error);
	} else {
		for (guint turn = 0; ok && at < size; turn++) {
			gsize n = MIN(turn % 2 == 0 ? a : b, size - at);
			ok = pm_wg_uapi_parser_feed(parser, data + at, n, &error);
			at += n;
		}
	}
	if (!ok) {
		PM_FUZZ_CHECK(error != NULL && error->domain == PM_WG_CODEC_ERROR);
		PM_FUZZ_CHECK(g_utf8_validate(error->message, -1, NULL));
		g_clear_error(&error);
	}
	device = pm_wg_uapi_parser_finish(parser, errnum, &error);
	PM_FUZZ_CHECK((device == NULL) == (error != NULL));
	PM_FUZZ_CHECK(ok || device == NULL);
	return device;
}

static void
check_peer(const PmWgDevice *device, const PmWgPeer *peer)
{
	PmWgEndpoint ep;
	g_autofree char *set = NULL;
	guint lines = 0;

	PM_FUZZ_CHECK(pm_wg_device_find_peer(device, peer->public_key) == peer);
	if (peer->endpoint == NULL)
		return;
	PM_FUZZ_CHECK(peer->endpoint[0] != '\0');
	for (const char *p = peer->endpoint; *p != '\0'; p++)
		PM_FUZZ_CHECK(*p > ' ' && *p <= '~');
	if (!pm_wg_endpoint_parse(peer->endpoint, &ep, NULL))
		return;
	PM_FUZZ_CHECK(pm_wg_endpoint_matches(peer->endpoint, &ep));
	set = pm_wg_uapi_build_set(peer->public_key, &ep);
	PM_FUZZ_CHECK(g_str_has_prefix(set, "set=1\npublic_key="));
	PM_FUZZ_CHECK(g_str_has_suffix(set, "\n\n"));
	for (const char *p = set; *p != '\0'; p++)
		lines += *p == '\n';
	PM_FUZZ_CHECK(lines == 5);
}

static void
check_same(const PmWgDevice *a, int errnum_a, const PmWgDevice *b, int errnum_b)
{
	PM_FUZZ_CHECK((a == NULL) == (b == NULL));
	if (a == NULL)
		return;
	PM_FUZZ_CHECK(errnum_a == errnum_b);
	PM_FUZZ_CHECK(pm_wg_device_get_n_peers(a) == pm_wg_device_get_n_peers(b));
	PM_FUZZ_CHECK(pm_wg_device_get_has_own_public_key(a) ==
		      pm_wg_device_get_has_own_public_key(b));
	for (guint i = 0; i < pm_wg_device_get_n_peers(a); i++) {
		const PmWgPeer *pa = pm_wg_device_get_peer(a, i);
		const PmWgPeer *pb = pm_wg_device_get_peer(b, i);
		PM_FUZZ_CHECK(memcmp(pa->public_key, pb->public_key, PM_WG_KEY_LEN) == 0);
		PM_FUZZ_CHECK(g_strcmp0(pa->endpoint, pb->endpoint) == 0);
	}
}

static void
check_strings(const guint8 *data, gsize size)
{
	g_autofree char *text = g_strndup((const char *)data, size);
	guint8 key[PM_WG_KEY_LEN];
	PmWgEndpoint ep;

	if (pm_wg_key_from_base64(text, key, NULL)) {
		g_autofree char *again = pm_wg_key_to_base64(key);
		PM_FUZZ_CHECK(strcmp(again, text) == 0);
	}
	if (pm_wg_key_from_hex(text, key, NULL)) {
		char hex[PM_WG_KEY_HEX_LEN + 1];
		pm_wg_key_to_hex(key, hex);
		PM_FUZZ_CHECK(g_ascii_strcasecmp(hex, text) == 0);
	}
	if (pm_wg_endpoint_parse(text, &ep, NULL)) {
		g_autofree char *again = pm_wg_endpoint_to_string(&ep);
		PmWgEndpoint back;
		PM_FUZZ_CHECK(strlen(again) <= PM_WG_ENDPOINT_MAX_LEN);
		PM_FUZZ_CHECK(strpbrk(again, " \n\r=") == NULL);
		PM_FUZZ_CHECK(pm_wg_endpoint_parse(again, &back, NULL));
		PM_FUZZ_CHECK(pm_wg_endpoint_equal(&ep, &back));
	}
	(void)pm_wg_ifname_is_valid(text);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	g_autoptr(PmWgDevice) whole = NULL;
	g_autoptr(PmWgDevice) cut = NULL;
	int errnum_whole = -1;
	int errnum_cut = -1;
	gsize a = 0;
	gsize b = 0;

	if (size >= 2) {
		a = data[0] % 64 + 1;
		b = data[1] % 64 + 1;
		data += 2;
		size -= 2;
	}
	whole = parse(data, size, 0, 0, &errnum_whole);
	cut = parse(data, size, a, b, &errnum_cut);
	check_same(whole, errnum_whole, cut, errnum_cut);
	if (whole != NULL) {
		PM_FUZZ_CHECK(errnum_whole >= 0);
		for (guint i = 0; i < pm_wg_device_get_n_peers(whole); i++)
			check_peer(whole, pm_wg_device_get_peer(whole, i));
	}
	check_strings(data, size);
	return 0;
}
