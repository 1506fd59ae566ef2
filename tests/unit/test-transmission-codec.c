/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Transmission's RPC codec (pia-and-torrent-clients.md §3): the exact requests, the
 * replies Transmission 3.00 sends, a refusal, and replies that are not its own.
 */
#include <json-glib/json-glib.h>
#include <string.h>

#include "proto/transmission.h"

#define BODY(s) (const guint8 *)(s), strlen(s)

static char *
bytes_text(GBytes *bytes)
{
	gsize len;
	const char *data = g_bytes_get_data(bytes, &len);
	return g_strndup(data, len);
}

static void
test_requests(void)
{
	g_autoptr(GBytes) get = pm_transmission_build_session_get(7);
	g_autoptr(GBytes) set = pm_transmission_build_session_set(51413, 8);
	g_autofree char *get_text = bytes_text(get);
	g_autofree char *set_text = bytes_text(set);
	g_autoptr(JsonParser) parser = json_parser_new();

	g_assert_cmpstr(get_text, ==,
			"{\"method\":\"session-get\",\"arguments\":{\"fields\":[\"peer-port\","
			"\"peer-port-random-on-start\",\"port-forwarding-enabled\","
			"\"rpc-version\"]},\"tag\":7}");
	g_assert_cmpstr(set_text, ==,
			"{\"method\":\"session-set\",\"arguments\":{\"peer-port\":51413,"
			"\"peer-port-random-on-start\":false,\"port-forwarding-enabled\":false},"
			"\"tag\":8}");
	/* both are JSON */
	g_assert_true(json_parser_load_from_data(parser, get_text, -1, NULL));
	g_assert_true(json_parser_load_from_data(parser, set_text, -1, NULL));
}

static void
test_session_get(void)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *seen = NULL;
	PmTransmissionSession session;

	/* as transmission-daemon 3.00 answers */
	g_assert_true(pm_transmission_parse_session_get(
	    BODY("{\"arguments\":{\"peer-port\":51413,\"peer-port-random-on-start\":false,"
		 "\"port-forwarding-enabled\":true,\"rpc-version\":16},\"result\":\"success\","
		 "\"tag\":3}"),
	    3, &session, &error));
	g_assert_no_error(error);
	g_assert_cmpuint(session.peer_port, ==, 51413);
	g_assert_false(session.peer_port_random_on_start);
	g_assert_true(session.port_forwarding_enabled);
	g_assert_cmpuint(session.rpc_version, ==, 16);
	seen = pm_transmission_session_describe(&session);
	g_assert_cmpstr(seen, ==, "peer-port 51413, port-forwarding-enabled true");
	g_clear_pointer(&seen, g_free);

	/* no tag, no rpc-version: still an answer */
	g_assert_true(pm_transmission_parse_session_get(
	    BODY("{\"result\":\"success\",\"arguments\":{\"peer-port\":6000,"
		 "\"peer-port-random-on-start\":true,\"port-forwarding-enabled\":false}}"),
	    4, &session, &error));
	g_assert_cmpuint(session.rpc_version, ==, 0);
	seen = pm_transmission_session_describe(&session);
	g_assert_cmpstr(seen, ==, "peer-port 6000, peer-port-random-on-start true");
}

static void
assert_invalid(const char *body, guint tag, const char *message)
{
	g_autoptr(GError) error = NULL;
	PmTransmissionSession session = {.peer_port = 1};

	g_assert_false(pm_transmission_parse_session_get(BODY(body), tag, &session, &error));
	g_assert_error(error, PM_TRANSMISSION_CODEC_ERROR, PM_TRANSMISSION_CODEC_ERROR_INVALID);
	g_assert_cmpstr(error->message, ==, message);
	/* nothing taken from a bad reply */
	g_assert_cmpuint(session.peer_port, ==, 1);
}

static void
test_invalid(void)
{
	assert_invalid("", 1, "not a Transmission RPC reply: the body is empty");
	assert_invalid("<h1>hi</h1>", 1,
		       "not a Transmission RPC reply: the body is not a JSON object");
	/* json-glib's own words follow */
	{
		g_autoptr(GError) error = NULL;
		PmTransmissionSession session;
		g_assert_false(pm_transmission_parse_session_get(BODY("{\"result\":\"success\",}"),
								 1, &session, &error));
		g_assert_error(error, PM_TRANSMISSION_CODEC_ERROR,
			       PM_TRANSMISSION_CODEC_ERROR_INVALID);
		g_assert_true(g_str_has_prefix(error->message, "not a Transmission RPC reply: the "
							       "body is not JSON: <data>:1:"));
	}
	assert_invalid("{\"arguments\":{}}", 1, "not a Transmission RPC reply: no \"result\" string");
	assert_invalid("{\"result\":\"success\"}", 1,
		       "not a Transmission RPC reply: no \"arguments\" object");
	assert_invalid("{\"result\":\"success\",\"arguments\":[]}", 1,
		       "not a Transmission RPC reply: \"arguments\" is not an object");
	assert_invalid("{\"result\":\"success\",\"arguments\":{\"peer-port\":\"6000\"}}", 1,
		       "not a Transmission RPC reply: no \"peer-port\" integer");
	assert_invalid("{\"result\":\"success\",\"arguments\":{\"peer-port\":65536}}", 1,
		       "not a Transmission RPC reply: \"peer-port\" is 65536, not from 0 to 65535");
	assert_invalid("{\"result\":\"success\",\"arguments\":{\"peer-port\":6000,"
		       "\"peer-port-random-on-start\":0,\"port-forwarding-enabled\":false}}",
		       1, "not a Transmission RPC reply: no \"peer-port-random-on-start\" boolean");
	assert_invalid("{\"result\":\"success\",\"tag\":2,\"arguments\":{\"peer-port\":6000,"
		       "\"peer-port-random-on-start\":false,\"port-forwarding-enabled\":false}}",
		       1, "not a Transmission RPC reply: \"tag\" is not 1, the request's");
	/* bytes that are not text */
	{
		static const guint8 bad[] = {'{', '"', 0xff, '"', ':', '1', '}'};
		g_autoptr(GError) error = NULL;
		PmTransmissionSession session;
		g_assert_false(pm_transmission_parse_session_get(bad, sizeof(bad), 1, &session,
								 &error));
		g_assert_cmpstr(error->message, ==,
				"not a Transmission RPC reply: the body is not UTF-8 text");
	}
}

static void
test_refused(void)
{
	g_autoptr(GError) error = NULL;
	PmTransmissionSession session;

	g_assert_false(pm_transmission_parse_session_get(
	    BODY("{\"arguments\":{},\"result\":\"method name not recognized\",\"tag\":1}"), 1,
	    &session, &error));
	g_assert_error(error, PM_TRANSMISSION_CODEC_ERROR, PM_TRANSMISSION_CODEC_ERROR_REFUSED);
	g_assert_cmpstr(error->message, ==, "Transmission answered \"method name not recognized\"");
	g_clear_error(&error);
	/* printable, on one line */
	g_assert_false(pm_transmission_parse_session_set(
	    BODY("{\"result\":\"no\\nway\\u0001\"}"), 1, &error));
	g_assert_error(error, PM_TRANSMISSION_CODEC_ERROR, PM_TRANSMISSION_CODEC_ERROR_REFUSED);
	g_assert_cmpstr(error->message, ==, "Transmission answered \"no way\xef\xbf\xbd\"");
	g_clear_error(&error);

	g_assert_true(pm_transmission_parse_session_set(
	    BODY("{\"arguments\":{},\"result\":\"success\",\"tag\":9}"), 9, &error));
	g_assert_no_error(error);
	g_assert_false(pm_transmission_parse_session_set(BODY("{\"result\":1}"), 9, &error));
	g_assert_error(error, PM_TRANSMISSION_CODEC_ERROR, PM_TRANSMISSION_CODEC_ERROR_INVALID);
}

static void
test_session_id(void)
{
	g_autofree char *longest = g_strnfill(256, 'a');
	g_autofree char *too_long = g_strnfill(257, 'a');

	g_assert_true(pm_transmission_session_id_is_valid(
	    "Hn9ZJkFVnoMqbRjNdp2fd0dmRrzAZDoJjnxkfI31r6SQupVN"));
	g_assert_true(pm_transmission_session_id_is_valid(longest));
	g_assert_false(pm_transmission_session_id_is_valid(too_long));
	g_assert_false(pm_transmission_session_id_is_valid(NULL));
	g_assert_false(pm_transmission_session_id_is_valid(""));
	g_assert_false(pm_transmission_session_id_is_valid("a b"));
	g_assert_false(pm_transmission_session_id_is_valid("a\r\nX-Evil: 1"));
	g_assert_false(pm_transmission_session_id_is_valid("caf\xc3\xa9"));
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/transmission-codec/requests", test_requests);
	g_test_add_func("/transmission-codec/session-get", test_session_get);
	g_test_add_func("/transmission-codec/invalid", test_invalid);
	g_test_add_func("/transmission-codec/refused", test_refused);
	g_test_add_func("/transmission-codec/session-id", test_session_id);
	return g_test_run();
}
