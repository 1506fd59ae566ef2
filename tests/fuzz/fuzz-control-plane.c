/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The control plane's reply to PUT /v1/nodes/ID/endpoint on any status and body: the HTTP
 * status is the first two bytes (big-endian), the body the rest; the reason phrase is the
 * body's first line, NUL-terminated. Read as if the bearer token "c2ln" had been sent (and
 * once without one): peers only from a 2xx, each with a valid WireGuard key and IP:port
 * endpoint, no peer twice; every other outcome a PM_ERROR whose message is one line of
 * printable UTF-8, without the token, not much longer than its quotes allow.
 */
#include <string.h>

#include "control-plane-api.h"
#include "errors.h"
#include "fuzz.h"

#define TOKEN "c2ln"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	pm_fuzz_init();
	return 0;
}

static void
check_printable(const char *text)
{
	PM_FUZZ_CHECK(text != NULL && text[0] != '\0');
	PM_FUZZ_CHECK(g_utf8_validate(text, -1, NULL));
	for (const char *p = text; *p != '\0'; p = g_utf8_next_char(p))
		PM_FUZZ_CHECK(!g_unichar_iscntrl(g_utf8_get_char(p)));
}

static void
check(guint status, const char *reason, const guint8 *body, gsize len, const char *token)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(PmPeerEndpoints) peers = NULL;
	g_autoptr(PmPeerEndpoints) copy = NULL;

	peers = pm_control_plane_parse_reply(status, reason, body, len, token, &error);
	if (peers == NULL) {
		PM_FUZZ_CHECK(error != NULL && error->domain == PM_ERROR);
		PM_FUZZ_CHECK(error->code == PM_ERROR_REFUSED || error->code == PM_ERROR_FAILED);
		PM_FUZZ_CHECK(error->code != PM_ERROR_REFUSED || (status >= 400 && status <= 499));
		check_printable(error->message);
		if (token != NULL)
			PM_FUZZ_CHECK(strstr(error->message, token) == NULL);
		/* the quotes are bounded: a body's, a reason's, a value's and json-glib's */
		PM_FUZZ_CHECK(g_utf8_strlen(error->message, -1) < 600);
		return;
	}
	PM_FUZZ_CHECK(error == NULL);
	PM_FUZZ_CHECK(status >= 200 && status <= 299);
	PM_FUZZ_CHECK((peers->n_peers == 0) == (peers->peers == NULL));
	for (guint i = 0; i < peers->n_peers; i++) {
		PM_FUZZ_CHECK(pm_wireguard_key_is_valid(peers->peers[i].peer_id));
		PM_FUZZ_CHECK(pm_peer_endpoint_is_valid(peers->peers[i].endpoint));
		for (guint j = 0; j < i; j++)
			PM_FUZZ_CHECK(strcmp(peers->peers[i].peer_id, peers->peers[j].peer_id) != 0);
	}
	copy = pm_peer_endpoints_copy(peers);
	PM_FUZZ_CHECK(pm_peer_endpoints_equal(peers, copy));
	PM_FUZZ_CHECK(copy->n_skipped == peers->n_skipped);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	g_autofree char *reason = NULL;
	const guint8 *body;
	const guint8 *newline;
	gsize len;
	guint status;

	if (size < 2)
		return 0;
	status = (guint)data[0] << 8 | data[1];
	body = data + 2;
	len = size - 2;
	newline = memchr(body, '\n', len);
	reason = g_strndup((const char *)body, newline != NULL ? (gsize)(newline - body) : 0);

	check(status, reason, body, len, TOKEN);
	check(status, NULL, body, len, NULL);
	return 0;
}
