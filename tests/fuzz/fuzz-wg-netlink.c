/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The kernel WireGuard's generic netlink answers on any bytes, each read as one datagram
 * of the three exchanges (the family lookup, the device dump, a set's acknowledgement),
 * sequence number 1 and family 0x1b as gen-corpus.py writes them. A dump's datagram adds
 * all of its peers or none; peers are unique; endpoints print as an address and a port;
 * the second half of the input, read as the next datagram of the same dump, keeps the
 * first half's peers.
 */
#include <string.h>

#include "fuzz.h"
#include "proto/wg-netlink.h"

#define SEQ 1
#define FAMILY 0x1b

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	pm_fuzz_init();
	return 0;
}

static void
check_error(gboolean ok, GError *error)
{
	PM_FUZZ_CHECK(ok == (error == NULL));
	if (error != NULL) {
		PM_FUZZ_CHECK(error->domain == PM_WG_CODEC_ERROR);
		PM_FUZZ_CHECK(g_utf8_validate(error->message, -1, NULL));
	}
}

static void
check_device(const PmWgDevice *device)
{
	for (guint i = 0; i < pm_wg_device_get_n_peers(device); i++) {
		const PmWgPeer *peer = pm_wg_device_get_peer(device, i);
		PM_FUZZ_CHECK(pm_wg_device_find_peer(device, peer->public_key) == peer);
		if (peer->endpoint != NULL) {
			PmWgEndpoint ep;
			PM_FUZZ_CHECK(strchr(peer->endpoint, ':') != NULL);
			/* a scope id aside, what the kernel holds prints as an endpoint */
			if (strchr(peer->endpoint, '%') == NULL &&
			    pm_wg_endpoint_parse(peer->endpoint, &ep, NULL)) {
				g_autofree char *again = pm_wg_endpoint_to_string(&ep);
				PM_FUZZ_CHECK(strcmp(again, peer->endpoint) == 0);
			}
		}
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	g_autoptr(GError) error = NULL;
	PmWgNlStatus status = {0};
	guint16 family_id = 0;
	gboolean ok;

	ok = pm_wg_nl_parse_family(data, size, SEQ, &family_id, &status, &error);
	check_error(ok, error);
	if (ok && status.done && status.errnum == 0)
		PM_FUZZ_CHECK(family_id != 0);
	g_clear_error(&error);

	status = (PmWgNlStatus){0};
	ok = pm_wg_nl_parse_ack(data, size, SEQ, &status, &error);
	check_error(ok, error);
	PM_FUZZ_CHECK(status.errnum >= 0 && status.errnum <= 4095);
	g_clear_error(&error);

	{
		g_autoptr(PmWgDevice) device = pm_wg_device_new();
		gsize half = size / 2;
		guint n;

		status = (PmWgNlStatus){0};
		ok = pm_wg_nl_parse_device(data, size, SEQ, FAMILY, device, &status, &error);
		check_error(ok, error);
		if (!ok)
			PM_FUZZ_CHECK(pm_wg_device_get_n_peers(device) == 0);
		check_device(device);
		g_clear_error(&error);

		/* two datagrams: what the first added stays, whatever the second is */
		g_clear_pointer(&device, pm_wg_device_free);
		device = pm_wg_device_new();
		status = (PmWgNlStatus){0};
		ok = pm_wg_nl_parse_device(data, half, SEQ, FAMILY, device, &status, &error);
		check_error(ok, error);
		g_clear_error(&error);
		n = pm_wg_device_get_n_peers(device);
		if (ok && !status.done) {
			ok = pm_wg_nl_parse_device(data + half, size - half, SEQ, FAMILY, device,
						   &status, &error);
			check_error(ok, error);
			g_clear_error(&error);
			PM_FUZZ_CHECK(pm_wg_device_get_n_peers(device) >= n);
			if (!ok)
				PM_FUZZ_CHECK(pm_wg_device_get_n_peers(device) == n);
		}
		check_device(device);
	}
	return 0;
}
