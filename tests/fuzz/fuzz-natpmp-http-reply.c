/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The natpmp-http-api reply parsers on any status and body: the HTTP status is the first
 * two bytes (big-endian), the body the rest. Every reply is classified; a grant only comes
 * with 200 and valid fields, every other class with a printable message; /health accepts
 * only 200 and otherwise says why in printable text.
 */
#include <string.h>

#include "fuzz.h"
#include "natpmp-http.h"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	pm_fuzz_init();
	return 0;
}

static void
pm_fuzz_check_printable(const char *text)
{
	PM_FUZZ_CHECK(text != NULL && text[0] != '\0');
	PM_FUZZ_CHECK(g_utf8_validate(text, -1, NULL));
	for (const char *p = text; *p != '\0'; p = g_utf8_next_char(p))
		PM_FUZZ_CHECK(!g_unichar_iscntrl(g_utf8_get_char(p)));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	g_auto(PmNatpmpHttpReply) reply = {0};
	g_autoptr(GError) error = NULL;
	g_autofree char *timestamp = NULL;
	g_autofree char *quoted = NULL;
	const guint8 *body;
	gsize len;
	guint status;
	gboolean healthy;

	if (size < 2)
		return 0;
	status = (guint)data[0] << 8 | data[1];
	body = data + 2;
	len = size - 2;

	pm_natpmp_http_parse_forward_reply(status, body, len, &reply);
	PM_FUZZ_CHECK(reply.status == status);
	PM_FUZZ_CHECK(reply.kind <= PM_NATPMP_HTTP_REPLY_UNEXPECTED);
	if (reply.kind == PM_NATPMP_HTTP_REPLY_GRANTED) {
		PM_FUZZ_CHECK(status == 200);
		PM_FUZZ_CHECK(reply.message == NULL);
		PM_FUZZ_CHECK(reply.internal_port != 0 && reply.external_port != 0);
		PM_FUZZ_CHECK(reply.protocol == PM_PROTOCOL_TCP || reply.protocol == PM_PROTOCOL_UDP);
	} else {
		pm_fuzz_check_printable(reply.message);
		PM_FUZZ_CHECK(reply.kind != PM_NATPMP_HTTP_REPLY_UNAUTHORIZED || status == 401);
		PM_FUZZ_CHECK(reply.kind != PM_NATPMP_HTTP_REPLY_SERVICE_ERROR ||
			      (status >= 500 && status <= 599));
		PM_FUZZ_CHECK(reply.kind != PM_NATPMP_HTTP_REPLY_CLIENT_BUG ||
			      status == 400 || status == 415 || status == 422);
	}

	healthy = pm_natpmp_http_parse_health(status, body, len, &timestamp, &error);
	if (healthy) {
		PM_FUZZ_CHECK(status == 200 && error == NULL);
		if (timestamp != NULL)
			PM_FUZZ_CHECK(g_utf8_validate(timestamp, -1, NULL));
	} else {
		PM_FUZZ_CHECK(error != NULL && error->domain == PM_NATPMP_HTTP_CODEC_ERROR);
		PM_FUZZ_CHECK(timestamp == NULL);
		pm_fuzz_check_printable(error->message);
	}

	/* what a message quotes stays within its bound */
	quoted = pm_natpmp_http_quote_body(body, len, PM_NATPMP_HTTP_QUOTE_MAX);
	pm_fuzz_check_printable(quoted);
	PM_FUZZ_CHECK(g_utf8_strlen(quoted, -1) <= PM_NATPMP_HTTP_QUOTE_MAX + 1);
	return 0;
}
