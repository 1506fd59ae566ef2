/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * pm_stun_parse on any bytes: an error names the codec's domain with a UTF-8 message; a
 * message that parses has a Binding type, addresses of family 4 or 6 that print, an error
 * code in 300..699 with a printable reason, and, if it is a request, the request the
 * encoder writes for its transaction id and CHANGE-REQUEST parses back to the same.
 */
#include <string.h>

#include "fuzz.h"
#include "proto/stun.h"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	pm_fuzz_init();
	return 0;
}

static void
check_address(const PmStunAddress *address)
{
	g_autofree char *text = NULL;

	PM_FUZZ_CHECK(address->family == 0 || address->family == 4 || address->family == 6);
	if (address->family == 0)
		return;
	text = pm_stun_address_to_string(address);
	PM_FUZZ_CHECK(text != NULL && strchr(text, ':') != NULL);
	PM_FUZZ_CHECK(pm_stun_address_equal(address, address));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	g_autoptr(GError) error = NULL;
	PmStunMessage m;

	if (!pm_stun_parse(data, size, &m, &error)) {
		PM_FUZZ_CHECK(error != NULL && error->domain == PM_STUN_CODEC_ERROR);
		PM_FUZZ_CHECK(g_utf8_validate(error->message, -1, NULL));
		return 0;
	}
	PM_FUZZ_CHECK(error == NULL);
	PM_FUZZ_CHECK(m.type == PM_STUN_BINDING_REQUEST || m.type == PM_STUN_BINDING_INDICATION ||
		      m.type == PM_STUN_BINDING_SUCCESS || m.type == PM_STUN_BINDING_ERROR);
	check_address(&m.xor_mapped);
	check_address(&m.mapped);
	check_address(&m.other_address);
	check_address(&m.response_origin);
	PM_FUZZ_CHECK(m.error_code == 0 || (m.error_code >= 300 && m.error_code <= 699));
	for (const char *p = m.error_reason; *p != '\0'; p++)
		PM_FUZZ_CHECK(*p >= 0x20 && *p < 0x7f);
	if (m.type == PM_STUN_BINDING_REQUEST) {
		guint8 buf[PM_STUN_MAX_REQUEST_SIZE];
		PmStunMessage again;
		gsize n = pm_stun_build_binding_request(buf, sizeof(buf), m.transaction_id,
							m.has_change_request, m.change_request);

		PM_FUZZ_CHECK(n > 0);
		PM_FUZZ_CHECK(pm_stun_parse(buf, n, &again, NULL));
		PM_FUZZ_CHECK(memcmp(again.transaction_id, m.transaction_id, 12) == 0);
		PM_FUZZ_CHECK(again.has_change_request == m.has_change_request);
		PM_FUZZ_CHECK(again.change_request == m.change_request);
		PM_FUZZ_CHECK(again.has_fingerprint);
	}
	return 0;
}
