/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Transmission's RPC codec on any body: the session-get and session-set parsers accept only
 * a reply with result "success" and tag 1 (the request's here), give a port in range, and
 * otherwise a printable one-line message; the body as a 409's session id is checked too.
 */
#include <string.h>

#include "fuzz.h"
#include "proto/transmission.h"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	pm_fuzz_init();
	return 0;
}

static void
pm_fuzz_check_message(const GError *error)
{
	PM_FUZZ_CHECK(error != NULL && error->domain == PM_TRANSMISSION_CODEC_ERROR);
	PM_FUZZ_CHECK(error->message[0] != '\0');
	PM_FUZZ_CHECK(g_utf8_validate(error->message, -1, NULL));
	for (const char *p = error->message; *p != '\0'; p = g_utf8_next_char(p))
		PM_FUZZ_CHECK(!g_unichar_iscntrl(g_utf8_get_char(p)));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *text = NULL;
	PmTransmissionSession session = {0};

	if (pm_transmission_parse_session_get(data, size, 1, &session, &error)) {
		g_autofree char *seen = pm_transmission_session_describe(&session);
		PM_FUZZ_CHECK(error == NULL && g_str_has_prefix(seen, "peer-port "));
	} else {
		pm_fuzz_check_message(error);
	}
	g_clear_error(&error);
	if (!pm_transmission_parse_session_set(data, size, 1, &error))
		pm_fuzz_check_message(error);

	/* a header value never carries a line break or a control character */
	text = g_strndup((const char *)data, size);
	if (pm_transmission_session_id_is_valid(text)) {
		for (const char *p = text; *p != '\0'; p++)
			PM_FUZZ_CHECK(*p > ' ' && *p <= '~');
	}
	return 0;
}
