/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qBittorrent's codec on any status and body: the HTTP status is the first two bytes
 * (big-endian), the body the rest. A login reply (to the one request that carries the
 * password) is classified with a printable message (none for a success) that never holds
 * the password; a preferences reply is read or refused with a printable reason (it may
 * quote the reply, which the password never reaches), and what is read compares without
 * surprise.
 */
#include <string.h>

#include "fuzz.h"
#include "proto/qbittorrent.h"

/* what the fuzzer's bodies are told to redact */
#define PASSWORD "c2ln"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	pm_fuzz_init();
	return 0;
}

static void
pm_fuzz_check_text(const char *text)
{
	PM_FUZZ_CHECK(text != NULL && text[0] != '\0');
	PM_FUZZ_CHECK(g_utf8_validate(text, -1, NULL));
	for (const char *p = text; *p != '\0'; p = g_utf8_next_char(p))
		PM_FUZZ_CHECK(!g_unichar_iscntrl(g_utf8_get_char(p)));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *message = NULL;
	g_autofree char *seen = NULL;
	PmQbittorrentPreferences prefs;
	PmQbittorrentLoginKind kind;
	const guint8 *body;
	gsize len;
	guint status;

	if (size < 2)
		return 0;
	status = (guint)data[0] << 8 | data[1];
	body = data + 2;
	len = size - 2;

	kind = pm_qbittorrent_parse_login_reply(status, body, len, PASSWORD, &message);
	if (kind == PM_QBITTORRENT_LOGIN_OK) {
		PM_FUZZ_CHECK(message == NULL && status >= 200 && status < 300);
	} else {
		pm_fuzz_check_text(message);
		PM_FUZZ_CHECK(strstr(message, PASSWORD) == NULL);
		if (kind == PM_QBITTORRENT_LOGIN_REFUSED)
			PM_FUZZ_CHECK(status == 200 || status == 401);
		if (kind == PM_QBITTORRENT_LOGIN_FORBIDDEN)
			PM_FUZZ_CHECK(status == 403);
	}

	if (pm_qbittorrent_parse_preferences(body, len, &prefs, &error)) {
		gboolean matches;
		PM_FUZZ_CHECK(error == NULL);
		matches = pm_qbittorrent_preferences_match(&prefs, prefs.listen_port,
							   prefs.announce_port, &seen);
		PM_FUZZ_CHECK(matches == (!prefs.random_port && !prefs.upnp));
		pm_fuzz_check_text(seen);
	} else {
		PM_FUZZ_CHECK(error != NULL);
		pm_fuzz_check_text(error->message);
	}
	return 0;
}
