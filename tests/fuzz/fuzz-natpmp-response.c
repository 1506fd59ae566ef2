/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * pm_natpmp_decode_response on any bytes: an error names the codec's domain, or the
 * response re-encodes to the bytes it came from (the parts the decoder keeps) and decodes
 * again to the same fields. The epoch it carries goes through the epoch check, against a
 * last epoch and an elapsed time taken from the trailing bytes (which the decoder ignores).
 */
#include "fuzz-natpmp.h"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	pm_fuzz_init();
	return 0;
}

static gsize
pm_fuzz_response_size(guint8 opcode)
{
	return opcode == PM_NATPMP_OP_PUBLIC_ADDRESS ? PM_NATPMP_PUBLIC_ADDRESS_RESPONSE_SIZE
						     : PM_NATPMP_MAP_RESPONSE_SIZE;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	g_autoptr(GError) error = NULL;
	PmNatpmpResponse resp;
	PmNatpmpResponse again;
	guint8 buf[PM_NATPMP_MAX_PACKET_SIZE];
	const char *name;
	gsize len;

	if (!pm_natpmp_decode_response(data, size, &resp, &error)) {
		PM_FUZZ_CHECK(error != NULL && error->domain == PM_NATPMP_CODEC_ERROR);
		PM_FUZZ_CHECK(g_utf8_validate(error->message, -1, NULL));
		return 0;
	}
	PM_FUZZ_CHECK(error == NULL);
	PM_FUZZ_CHECK(resp.opcode <= PM_NATPMP_OP_MAP_TCP);
	PM_FUZZ_CHECK(size >= PM_NATPMP_ERROR_RESPONSE_SIZE);
	/* only a failure may come without its body, and then it has none */
	if (size < pm_fuzz_response_size(resp.opcode)) {
		PM_FUZZ_CHECK(resp.result != PM_NATPMP_RESULT_SUCCESS);
		PM_FUZZ_CHECK(resp.public_address == 0 && resp.internal_port == 0 &&
			      resp.external_port == 0 && resp.lifetime == 0);
	}
	/* RFC 6886 §3.2: the address of a failed public-address request is ignored */
	if (resp.result != PM_NATPMP_RESULT_SUCCESS)
		PM_FUZZ_CHECK(resp.public_address == 0);

	/* a bare Unsupported Version answer, and only that, is marked as one */
	PM_FUZZ_CHECK(resp.unsupported_version ==
		      (size < pm_fuzz_response_size(resp.opcode) &&
		       resp.result == PM_NATPMP_RESULT_UNSUPPORTED_VERSION));
	/* a failure without its body, and only that, is marked bare (no internal port) */
	PM_FUZZ_CHECK(resp.bare == (size < pm_fuzz_response_size(resp.opcode)));
	/* opcode 0 without the response bit: only the pre-errata Unsupported Version */
	if ((data[1] & PM_NATPMP_OP_RESPONSE) == 0)
		PM_FUZZ_CHECK(resp.unsupported_version && size == PM_NATPMP_ERROR_RESPONSE_SIZE &&
			      data[1] == 0);

	memset(buf, 0xaa, sizeof(buf));
	len = pm_natpmp_encode_response(&resp, buf);
	PM_FUZZ_CHECK(len == pm_fuzz_response_size(resp.opcode));
	/* version, opcode, result and epoch are always kept (the opcode as errata 3618 has
	 * it: with the response bit) */
	PM_FUZZ_CHECK(buf[0] == data[0] && buf[1] == (data[1] | PM_NATPMP_OP_RESPONSE));
	PM_FUZZ_CHECK(memcmp(buf + 2, data + 2, PM_NATPMP_ERROR_RESPONSE_SIZE - 2) == 0);
	/* and the body too when there was one, except a failure's address */
	if (size >= len &&
	    !(resp.opcode == PM_NATPMP_OP_PUBLIC_ADDRESS && resp.result != PM_NATPMP_RESULT_SUCCESS))
		PM_FUZZ_CHECK(memcmp(buf, data, len) == 0);

	if (!pm_natpmp_decode_response(buf, len, &again, &error)) {
		fprintf(stderr, "re-encoded response does not decode: %s\n", error->message);
		abort();
	}
	PM_FUZZ_CHECK(again.opcode == resp.opcode);
	PM_FUZZ_CHECK(again.result == resp.result);
	PM_FUZZ_CHECK(again.epoch == resp.epoch);
	PM_FUZZ_CHECK(again.public_address == resp.public_address);
	PM_FUZZ_CHECK(again.internal_port == resp.internal_port);
	PM_FUZZ_CHECK(again.external_port == resp.external_port);
	PM_FUZZ_CHECK(again.lifetime == resp.lifetime);

	name = pm_natpmp_result_to_string(resp.result);
	PM_FUZZ_CHECK((name != NULL) == (resp.result <= PM_NATPMP_RESULT_UNSUPPORTED_OPCODE));

	/* after the packet: last epoch (4 bytes), elapsed µs (8 bytes), zero when absent */
	len = pm_fuzz_response_size(resp.opcode);
	pm_fuzz_check_epoch((guint32)pm_fuzz_read_be(data, size, len, 4),
			    resp.epoch,
			    pm_fuzz_read_be(data, size, len + 4, 8));
	return 0;
}
