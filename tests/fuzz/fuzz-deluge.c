/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Deluge's JSON-RPC codec on any status and body: the HTTP status is the first two bytes
 * (big-endian), the body the rest, read as the reply to request 7. A reply is either
 * accepted with a result, or refused with a printable message; an accepted result goes
 * through every reader of a result, each of which accepts it or says why not.
 */
#include <string.h>

#include "fuzz.h"
#include "proto/deluge.h"

#define REQUEST_ID 7

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
}

static void
pm_fuzz_results(JsonNode *result)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GError) ports_error = NULL;
	g_autoptr(GError) host_error = NULL;
	g_autofree char *host = NULL;
	g_autofree char *host_id = NULL;
	PmDelugePorts ports = {0};
	gboolean value;

	if (!pm_deluge_result_get_boolean(result, &value, &error))
		pm_fuzz_check_message(error->message);
	if (pm_deluge_result_get_ports(result, &ports, &ports_error)) {
		g_autofree char *seen = pm_deluge_ports_to_string(&ports);
		pm_fuzz_check_message(seen);
	} else {
		pm_fuzz_check_message(ports_error->message);
	}
	host_id = pm_deluge_result_first_host(result, &host, &host_error);
	if (host_id != NULL) {
		PM_FUZZ_CHECK(host_error == NULL && host_id[0] != '\0');
		pm_fuzz_check_message(host);
	} else if (host_error != NULL) {
		PM_FUZZ_CHECK(host == NULL);
		pm_fuzz_check_message(host_error->message);
	} else {
		PM_FUZZ_CHECK(host == NULL);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	g_autoptr(JsonParser) parser = NULL;
	g_autoptr(GError) error = NULL;
	JsonNode *result = NULL;
	gint64 code = 0;
	guint status;

	if (size < 2)
		return 0;
	status = (guint)data[0] << 8 | data[1];
	if (pm_deluge_parse_reply(status, data + 2, size - 2, REQUEST_ID, &parser, &result,
				  &code, &error)) {
		PM_FUZZ_CHECK(status == 200 && error == NULL && parser != NULL && result != NULL);
		PM_FUZZ_CHECK(code == -1);
		pm_fuzz_results(result);
	} else {
		PM_FUZZ_CHECK(parser == NULL && result == NULL && error != NULL);
		PM_FUZZ_CHECK(error->domain == PM_DELUGE_CODEC_ERROR);
		if (error->code != PM_DELUGE_CODEC_ERROR_RPC)
			PM_FUZZ_CHECK(code == -1);
		pm_fuzz_check_message(error->message);
	}
	return 0;
}
