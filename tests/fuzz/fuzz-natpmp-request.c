/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * pm_natpmp_decode_request (the LAN server's side) on any bytes: an error names the
 * codec's domain, or the request re-encodes to the bytes it came from (but the reserved
 * field, which senders zero and receivers ignore) and decodes again to the same fields.
 * The first 16 bytes, decoded or not, also go through the epoch check as (last epoch,
 * new epoch, elapsed µs): a request carries no epoch, but the LAN server hands out epochs
 * too, and every input is one more case for the model.
 */
#include "fuzz-natpmp.h"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	pm_fuzz_init();
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	g_autoptr(GError) error = NULL;
	PmNatpmpRequest req;
	PmNatpmpRequest again;
	guint8 buf[PM_NATPMP_MAX_PACKET_SIZE];
	gsize len;

	pm_fuzz_check_epoch((guint32)pm_fuzz_read_be(data, size, 0, 4),
			    (guint32)pm_fuzz_read_be(data, size, 4, 4),
			    pm_fuzz_read_be(data, size, 8, 8));

	if (!pm_natpmp_decode_request(data, size, &req, &error)) {
		PM_FUZZ_CHECK(error != NULL && error->domain == PM_NATPMP_CODEC_ERROR);
		PM_FUZZ_CHECK(g_utf8_validate(error->message, -1, NULL));
		return 0;
	}
	PM_FUZZ_CHECK(error == NULL);
	PM_FUZZ_CHECK(req.opcode <= PM_NATPMP_OP_MAP_TCP);

	memset(buf, 0xaa, sizeof(buf));
	len = pm_natpmp_encode_request(&req, buf);
	if (req.opcode == PM_NATPMP_OP_PUBLIC_ADDRESS) {
		PM_FUZZ_CHECK(len == PM_NATPMP_PUBLIC_ADDRESS_REQUEST_SIZE);
		PM_FUZZ_CHECK(req.internal_port == 0 && req.suggested_external_port == 0 &&
			      req.lifetime == 0);
	} else {
		PM_FUZZ_CHECK(len == PM_NATPMP_MAP_REQUEST_SIZE);
		PM_FUZZ_CHECK(buf[2] == 0 && buf[3] == 0);
		PM_FUZZ_CHECK(memcmp(buf + 4, data + 4, len - 4) == 0);
	}
	PM_FUZZ_CHECK(size >= len);
	PM_FUZZ_CHECK(memcmp(buf, data, 2) == 0);

	if (!pm_natpmp_decode_request(buf, len, &again, &error)) {
		fprintf(stderr, "re-encoded request does not decode: %s\n", error->message);
		abort();
	}
	PM_FUZZ_CHECK(again.opcode == req.opcode);
	PM_FUZZ_CHECK(again.internal_port == req.internal_port);
	PM_FUZZ_CHECK(again.suggested_external_port == req.suggested_external_port);
	PM_FUZZ_CHECK(again.lifetime == req.lifetime);
	return 0;
}
