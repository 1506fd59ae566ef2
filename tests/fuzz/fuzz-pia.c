/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * PIA's codec on any status and body: the HTTP status is the first two bytes
 * (big-endian), the body the rest. The token, getSignature and bindPort parsers classify
 * every reply with a printable message that never holds the request's secrets; the body
 * as text goes through the payload decoder.
 */
#include <string.h>

#include "fuzz.h"
#include "pia.h"

/* what the fuzzer's bodies are told to redact */
#define SECRET_A "c2ln"
#define SECRET_B "TOKEN"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	pm_fuzz_init();
	return 0;
}

static void
pm_fuzz_check_message(const char *text)
{
	PM_FUZZ_CHECK(text != NULL && text[0] != '\0');
	PM_FUZZ_CHECK(g_utf8_validate(text, -1, NULL));
	for (const char *p = text; *p != '\0'; p = g_utf8_next_char(p))
		PM_FUZZ_CHECK(!g_unichar_iscntrl(g_utf8_get_char(p)));
	PM_FUZZ_CHECK(strstr(text, SECRET_A) == NULL);
	PM_FUZZ_CHECK(strstr(text, SECRET_B) == NULL);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *const secrets[] = {SECRET_A, SECRET_B, NULL};
	g_autoptr(GError) error = NULL;
	g_autofree char *token = NULL;
	g_autofree char *payload = NULL;
	g_autofree char *signature = NULL;
	g_autofree char *message = NULL;
	g_autofree char *text = NULL;
	PmPiaBindKind kind;
	PmPiaPayload decoded;
	const guint8 *body;
	gsize len;
	guint status;

	if (size < 2)
		return 0;
	status = (guint)data[0] << 8 | data[1];
	body = data + 2;
	len = size - 2;

	token = pm_pia_parse_token_reply(status, body, len, &error);
	if (token != NULL) {
		PM_FUZZ_CHECK(status == 200 && error == NULL && token[0] != '\0');
	} else {
		PM_FUZZ_CHECK(error != NULL && error->domain == PM_PIA_CODEC_ERROR);
		PM_FUZZ_CHECK(g_utf8_validate(error->message, -1, NULL));
		/* a 200 is never quoted: it may hold a token */
		if (status == 200)
			PM_FUZZ_CHECK(error->code == PM_PIA_CODEC_ERROR_INVALID);
	}
	g_clear_error(&error);

	if (pm_pia_parse_signature_reply(status, body, len, secrets, &payload, &signature,
					 &error)) {
		PM_FUZZ_CHECK(status == 200 && error == NULL);
		PM_FUZZ_CHECK(payload[0] != '\0' && signature[0] != '\0');
	} else {
		PM_FUZZ_CHECK(error != NULL && payload == NULL && signature == NULL);
		pm_fuzz_check_message(error->message);
	}
	g_clear_error(&error);

	kind = pm_pia_parse_bind_reply(status, body, len, secrets, &message);
	PM_FUZZ_CHECK(kind <= PM_PIA_BIND_FAILED);
	PM_FUZZ_CHECK(message != NULL);
	if (kind == PM_PIA_BIND_OK) {
		PM_FUZZ_CHECK(status == 200 && message[0] == '\0');
	} else {
		pm_fuzz_check_message(message);
		PM_FUZZ_CHECK(kind != PM_PIA_BIND_UNAUTHORIZED || status == 401);
	}

	text = g_strndup((const char *)body, len);
	if (pm_pia_decode_payload(text, &decoded, &error)) {
		PM_FUZZ_CHECK(error == NULL && decoded.port != 0);
	} else {
		PM_FUZZ_CHECK(error != NULL && error->domain == PM_PIA_CODEC_ERROR);
		PM_FUZZ_CHECK(g_utf8_validate(error->message, -1, NULL));
	}
	return 0;
}
