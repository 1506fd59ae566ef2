/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The control plane's endpoint API (proto/control-plane-api.c): the PUT's body, replies
 * with peers read strictly (each malformed one refused with what is wrong), the statuses
 * that are not a reply, the bearer token kept out of every message, and the checks of a
 * WireGuard key and of an IP:port endpoint.
 */
#include <string.h>

#include "control-plane-api.h"
#include "errors.h"

/* three keys, as wg(8) prints them: 32 bytes of 1, 2, 3 */
#define KEY1 "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE="
#define KEY2 "AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI="
#define KEY3 "AwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwM="
#define TOKEN "s3cret-token"

static PmPeerEndpoints *
parse(guint status, const char *reason, const char *body, const char *token, GError **error)
{
	return pm_control_plane_parse_reply(status, reason, (const guint8 *)body,
					    body != NULL ? strlen(body) : 0, token, error);
}

/* the reply is refused with exactly @message in @code */
static void
assert_refused(guint status, const char *reason, const char *body, const char *token,
	       gint code, const char *message)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(PmPeerEndpoints) peers = parse(status, reason, body, token, &error);

	g_assert_null(peers);
	g_assert_error(error, PM_ERROR, code);
	g_assert_cmpstr(error->message, ==, message);
}

static void
test_build(void)
{
	g_autoptr(GBytes) body = pm_control_plane_build_report("203.0.113.5:54321", "full_cone");
	g_autoptr(GBytes) v6 = pm_control_plane_build_report("[2001:db8::1]:51820", "none");
	g_autoptr(GBytes) odd = pm_control_plane_build_report("a\"b\\c\n", "unknown");
	const char *expected = "{\"public_endpoint\":\"203.0.113.5:54321\",\"nat_type\":\"full_cone\"}";

	g_assert_cmpmem(g_bytes_get_data(body, NULL), g_bytes_get_size(body), expected,
			strlen(expected));
	expected = "{\"public_endpoint\":\"[2001:db8::1]:51820\",\"nat_type\":\"none\"}";
	g_assert_cmpmem(g_bytes_get_data(v6, NULL), g_bytes_get_size(v6), expected,
			strlen(expected));
	/* whatever the caller passes stays JSON */
	expected = "{\"public_endpoint\":\"a\\\"b\\\\c\\n\",\"nat_type\":\"unknown\"}";
	g_assert_cmpmem(g_bytes_get_data(odd, NULL), g_bytes_get_size(odd), expected,
			strlen(expected));
}

static void
test_peers(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(PmPeerEndpoints) peers = NULL;
	g_autoptr(PmPeerEndpoints) copy = NULL;
	g_autoptr(PmPeerEndpoints) other = NULL;

	peers = parse(200, "OK",
		      "{\"peer_endpoints\": [\n"
		      "  {\"peer_id\": \"" KEY1 "\", \"endpoint\": \"203.0.113.5:54321\"},\n"
		      "  {\"peer_id\": \"" KEY2 "\", \"endpoint\": \"\"},\n"
		      "  {\"peer_id\": \"" KEY3 "\", \"endpoint\": \"[2001:db8::1]:51820\", "
		      "\"since\": 12},\n"
		      "  {\"endpoint\": null, \"peer_id\": \"" KEY1 "\"}\n"
		      "], \"version\": {\"api\": [1]}}",
		      TOKEN, &error);
	g_assert_no_error(error);
	g_assert_nonnull(peers);
	/* in the reply's order; not yet discovered: skipped, however it is said */
	g_assert_cmpuint(peers->n_peers, ==, 2);
	g_assert_cmpuint(peers->n_skipped, ==, 2);
	g_assert_cmpstr(peers->peers[0].peer_id, ==, KEY1);
	g_assert_cmpstr(peers->peers[0].endpoint, ==, "203.0.113.5:54321");
	g_assert_cmpstr(peers->peers[1].peer_id, ==, KEY3);
	g_assert_cmpstr(peers->peers[1].endpoint, ==, "[2001:db8::1]:51820");

	copy = pm_peer_endpoints_copy(peers);
	g_assert_true(pm_peer_endpoints_equal(peers, copy));
	g_assert_cmpuint(copy->n_skipped, ==, 2);
	g_free(copy->peers[1].endpoint);
	copy->peers[1].endpoint = g_strdup("[2001:db8::1]:51821");
	g_assert_false(pm_peer_endpoints_equal(peers, copy));
	g_assert_false(pm_peer_endpoints_equal(peers, NULL));
	g_assert_true(pm_peer_endpoints_equal(NULL, NULL));

	/* any 2xx */
	other = parse(201, NULL,
		      "{\"peer_endpoints\":[{\"peer_id\":\"" KEY2 "\",\"endpoint\":\"1.2.3.4:5\"}]}",
		      NULL, &error);
	g_assert_no_error(error);
	g_assert_cmpuint(other->n_peers, ==, 1);
	g_assert_false(pm_peer_endpoints_equal(peers, other));
}

/* no peers: an empty list, null, no member at all, 204 */
static void
test_no_peers(void)
{
	const char *bodies[] = {"{\"peer_endpoints\": []}", "{\"peer_endpoints\": null}", "{}",
				" {\"other\": 1}\n"};

	for (guint i = 0; i < G_N_ELEMENTS(bodies); i++) {
		g_autoptr(GError) error = NULL;
		g_autoptr(PmPeerEndpoints) peers = parse(200, "OK", bodies[i], TOKEN, &error);

		g_assert_no_error(error);
		g_assert_cmpuint(peers->n_peers, ==, 0);
		g_assert_null(peers->peers);
		g_assert_cmpuint(peers->n_skipped, ==, 0);
	}
	{
		g_autoptr(GError) error = NULL;
		g_autoptr(PmPeerEndpoints) peers = parse(204, "No Content", NULL, NULL, &error);
		g_assert_no_error(error);
		g_assert_cmpuint(peers->n_peers, ==, 0);
	}
}

/* every malformed reply is refused, saying what is wrong, then quoting the body */
static void
test_malformed(void)
{
	static const struct {
		const char *body;
		const char *message;
	} cases[] = {
	    {"", "HTTP 200 OK but not a control plane reply: the body is empty"},
	    {"ok", "HTTP 200 OK but not a control plane reply: the body is not a JSON object: ok"},
	    {"[]", "HTTP 200 OK but not a control plane reply: the body is not a JSON object: []"},
	    {"{\"peer_endpoints\": []}{}",
	     "HTTP 200 OK but not a control plane reply: the body is not JSON: text after the "
	     "object: {\"peer_endpoints\": []}{}"},
	    {"{\"peer_endpoints\": [}",
	     "HTTP 200 OK but not a control plane reply: the body is not JSON: "},
	    {"{\"peer_endpoints\": {}}",
	     "HTTP 200 OK but not a control plane reply: \"peer_endpoints\" is not an array: "
	     "{\"peer_endpoints\": {}}"},
	    {"{\"peer_endpoints\": \"" KEY1 "\"}",
	     "HTTP 200 OK but not a control plane reply: \"peer_endpoints\" is not an array: "},
	    {"{\"peer_endpoints\": [\"" KEY1 "\"]}",
	     "HTTP 200 OK but not a control plane reply: peer_endpoints[0] is not an object: "},
	    {"{\"peer_endpoints\": [{\"endpoint\": \"1.2.3.4:5\"}]}",
	     "HTTP 200 OK but not a control plane reply: peer_endpoints[0] has no \"peer_id\": "},
	    {"{\"peer_endpoints\": [{\"peer_id\": \"" KEY1 "\"}]}",
	     "HTTP 200 OK but not a control plane reply: peer_endpoints[0] has no \"endpoint\": "},
	    {"{\"peer_endpoints\": [{\"peer_id\": \"" KEY1 "\", \"endpoint\": \"1.2.3.4:5\"}, "
	     "{\"peer_id\": 7, \"endpoint\": \"1.2.3.4:5\"}]}",
	     "HTTP 200 OK but not a control plane reply: peer_endpoints[1].peer_id is not a string: "},
	    {"{\"peer_endpoints\": [{\"peer_id\": null, \"endpoint\": \"1.2.3.4:5\"}]}",
	     "HTTP 200 OK but not a control plane reply: peer_endpoints[0].peer_id is not a string: "},
	    {"{\"peer_endpoints\": [{\"peer_id\": \"" KEY1 "\", \"endpoint\": 54321}]}",
	     "HTTP 200 OK but not a control plane reply: peer_endpoints[0].endpoint is not a "
	     "string: "},
	    {"{\"peer_endpoints\": [{\"peer_id\": \"" KEY1 "\", \"endpoint\": [\"1.2.3.4:5\"]}]}",
	     "HTTP 200 OK but not a control plane reply: peer_endpoints[0].endpoint is not a "
	     "string: "},
	    {"{\"peer_endpoints\": [{\"peer_id\": \"\", \"endpoint\": \"1.2.3.4:5\"}]}",
	     "HTTP 200 OK but not a control plane reply: peer_endpoints[0].peer_id is empty: "},
	    /* json-glib would end the key at the NUL: not the key that was sent */
	    {"{\"peer_endpoints\": [{\"peer_id\": \"" KEY1 "\\u0000x\", \"endpoint\": \"1.2.3.4:5\"}]}",
	     "HTTP 200 OK but not a control plane reply: the body has an escaped NUL character "
	     "(\\u0000): "},
	    {"{\"peer_endpoints\": [[[[[[[[[]]]]]]]]]}",
	     "HTTP 200 OK but not a control plane reply: the body is not JSON: nested too deeply: "},
	};

	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autoptr(GError) error = NULL;
		g_autoptr(PmPeerEndpoints) peers = parse(200, "OK", cases[i].body, TOKEN, &error);

		g_assert_null(peers);
		g_assert_error(error, PM_ERROR, PM_ERROR_FAILED);
		if (!g_str_has_prefix(error->message, cases[i].message))
			g_error("case %u: \"%s\" does not start with \"%s\"", i, error->message,
				cases[i].message);
		g_assert_null(strchr(error->message, '\n'));
	}
	/* invalid UTF-8 is not given to json-glib */
	{
		g_autoptr(GError) error = NULL;
		const guint8 body[] = "{\"peer_endpoints\": [\xff]}";
		g_autoptr(PmPeerEndpoints) peers =
		    pm_control_plane_parse_reply(200, "OK", body, sizeof(body) - 1, NULL, &error);
		g_assert_null(peers);
		g_assert_true(g_str_has_prefix(error->message, "HTTP 200 OK but not a control plane "
							       "reply: the body is not UTF-8 text: "));
		g_assert_true(g_utf8_validate(error->message, -1, NULL));
	}
}

static void
test_statuses(void)
{
	assert_refused(401, "Unauthorized", "{\"error\":\"bad token\"}", TOKEN, PM_ERROR_REFUSED,
		       "HTTP 401 Unauthorized: the control plane refused the token (check "
		       "TokenCredential= or TokenFile=): {\"error\":\"bad token\"}");
	assert_refused(401, "Unauthorized", "", NULL, PM_ERROR_REFUSED,
		       "HTTP 401 Unauthorized: the control plane wants a token (set "
		       "TokenCredential= or TokenFile=)");
	assert_refused(403, "Forbidden", "no", TOKEN, PM_ERROR_REFUSED,
		       "HTTP 403 Forbidden: the control plane refused the token (check "
		       "TokenCredential= or TokenFile=): no");
	assert_refused(404, "Not Found", "no such node\n", TOKEN, PM_ERROR_REFUSED,
		       "HTTP 404 Not Found: the control plane does not know this node (check "
		       "NodeID=) or URL= is not its base URL: no such node");
	assert_refused(400, "Bad Request", "{\"error\":\"nat_type\"}", NULL, PM_ERROR_REFUSED,
		       "HTTP 400 Bad Request: {\"error\":\"nat_type\"}");
	assert_refused(500, "Internal Server Error", "try\tlater\r\n", TOKEN, PM_ERROR_FAILED,
		       "HTTP 500 Internal Server Error: try later");
	assert_refused(503, NULL, "   ", TOKEN, PM_ERROR_FAILED, "HTTP 503: (blank body)");
	assert_refused(302, "Found", "", TOKEN, PM_ERROR_FAILED, "HTTP 302 Found");
	/* the reason phrase is the server's text */
	assert_refused(500, "Oops\x01", "", NULL, PM_ERROR_FAILED, "HTTP 500 Oops\xef\xbf\xbd");
}

/* a long body is cut; the token never shows, not even part of it at a cut */
static void
test_quote_and_token(void)
{
	g_autofree char *long_body = g_strnfill(500, 'x');
	g_autofree char *expected = NULL;
	g_autofree char *at_cut = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(PmPeerEndpoints) peers = NULL;
	g_autofree char *quoted = NULL;

	expected = g_strdup_printf("HTTP 500 Error: %.*s…", PM_CONTROL_PLANE_QUOTE_MAX, long_body);
	assert_refused(500, "Error", long_body, TOKEN, PM_ERROR_FAILED, expected);

	/* an echo of the request's header, in the body and the reason phrase */
	assert_refused(401, "Bearer " TOKEN, "Authorization: Bearer " TOKEN, TOKEN,
		       PM_ERROR_REFUSED,
		       "HTTP 401 Bearer [redacted]: the control plane refused the token (check "
		       "TokenCredential= or TokenFile=): Authorization: Bearer [redacted]");
	/* ... in a value that is skipped */
	{
		g_autoptr(GError) skip_error = NULL;
		g_autoptr(PmPeerEndpoints) skip = parse(
		    200, "OK",
		    "{\"peer_endpoints\": [{\"peer_id\": \"" TOKEN "\", \"endpoint\": \"1.2.3.4:5\"}]}",
		    TOKEN, &skip_error);
		g_assert_no_error(skip_error);
		g_assert_cmpuint(skip->n_peers, ==, 0);
		g_assert_cmpstr(skip->rejected[0], ==,
				"peer_endpoints[0].peer_id \"[redacted]\" is not a WireGuard public "
				"key (44 characters of base64): skipped");
	}
	/* ... where the quote is cut: redacted before */
	at_cut = g_strdup_printf("%.*s%s", PM_CONTROL_PLANE_QUOTE_MAX - 4, long_body, TOKEN);
	peers = parse(500, NULL, at_cut, TOKEN, &error);
	g_assert_null(peers);
	g_assert_null(strstr(error->message, "s3cr"));
	g_assert_true(g_str_has_suffix(error->message, "xxxx[red…"));
	/* ... in json-glib's message */
	g_clear_error(&error);
	peers = parse(200, NULL, "{\"peer_endpoints\": " TOKEN "}", TOKEN, &error);
	g_assert_null(peers);
	g_assert_null(strstr(error->message, TOKEN));

	quoted = pm_control_plane_quote((const guint8 *)"a\0s3cret-token", 14, TOKEN, 40);
	g_assert_cmpstr(quoted, ==, "a\xef\xbf\xbd[redacted]");
}

static void
test_key(void)
{
	g_autofree char *short_key = g_strndup(KEY1, 43);
	g_autofree char *noncanonical = g_strdup(KEY1);

	g_assert_true(pm_wireguard_key_is_valid(KEY1));
	g_assert_true(pm_wireguard_key_is_valid("yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk="));
	g_assert_false(pm_wireguard_key_is_valid(NULL));
	g_assert_false(pm_wireguard_key_is_valid(""));
	g_assert_false(pm_wireguard_key_is_valid(short_key));
	g_assert_false(pm_wireguard_key_is_valid(KEY1 "="));
	g_assert_false(pm_wireguard_key_is_valid("AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEB"));
	g_assert_false(pm_wireguard_key_is_valid("AQEBAQEBAQEBAQEBAQEBAQEB AQEBAQEBAQEBAQEBAQE="));
	g_assert_false(pm_wireguard_key_is_valid("AQEBAQEBAQEBAQEBAQEBAQEB-QEBAQEBAQEBAQEBAQE="));
	/* the last character's two unused bits set: wg(8) refuses it */
	noncanonical[42] = 'F';
	g_assert_false(pm_wireguard_key_is_valid(noncanonical));
}

static void
test_endpoint(void)
{
	const char *good[] = {"203.0.113.5:54321", "1.2.3.4:1", "1.2.3.4:65535",
			      "[2001:db8::1]:51820", "[::ffff:1.2.3.4]:5"};
	const char *bad[] = {"", "1.2.3.4", "1.2.3.4:", "1.2.3.4:0", "1.2.3.4:65536",
			     "1.2.3.4:080", "1.2.3.4:+80", "1.2.3.4:8 0", " 1.2.3.4:80",
			     "1.2.3:80", "host:80", "peer.example.net:51820", "2001:db8::1:51820",
			     "[2001:db8::1]", "[2001:db8::1]51820", "[fe80::1%eth0]:51820",
			     "[1.2.3.4]:80", "[2001:db8::1]:", "1.2.3.4:99999999999"};

	for (guint i = 0; i < G_N_ELEMENTS(good); i++)
		g_assert_true(pm_peer_endpoint_is_valid(good[i]));
	for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
		if (pm_peer_endpoint_is_valid(bad[i]))
			g_error("\"%s\" taken for an endpoint", bad[i]);
	}
	g_assert_false(pm_peer_endpoint_is_valid(NULL));
}

/* issue 15: a bad or repeated entry is skipped with a reason, the others kept */
static void
test_skipped_entries(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(PmPeerEndpoints) peers =
	    parse(200, "OK",
		  "{\"peer_endpoints\": [{\"peer_id\": \"node-2\", \"endpoint\": \"1.2.3.4:5\"}, "
		  "{\"peer_id\": \"" KEY1 "\", \"endpoint\": \"peer.example.net:51820\"}, "
		  "{\"peer_id\": \"" KEY1 "\", \"endpoint\": \"1.2.3.4\"}, "
		  "{\"peer_id\": \"" KEY2 "\", \"endpoint\": \"1.2.3.4:6\"}, "
		  "{\"peer_id\": \"" KEY2 "\", \"endpoint\": \"1.2.3.4:7\"}]}",
		  TOKEN, &error);

	g_assert_no_error(error);
	g_assert_cmpuint(peers->n_peers, ==, 1);
	g_assert_cmpstr(peers->peers[0].peer_id, ==, KEY2);
	g_assert_cmpstr(peers->peers[0].endpoint, ==, "1.2.3.4:6");
	g_assert_cmpuint(g_strv_length(peers->rejected), ==, 4);
	g_assert_cmpstr(peers->rejected[0], ==,
			"peer_endpoints[0].peer_id \"node-2\" is not a WireGuard public key (44 "
			"characters of base64): skipped");
	g_assert_cmpstr(peers->rejected[1], ==,
			"peer_endpoints[1].endpoint \"peer.example.net:51820\" is not IPv4:PORT "
			"or [IPv6]:PORT: skipped");
	g_assert_cmpstr(peers->rejected[2], ==,
			"peer_endpoints[2].endpoint \"1.2.3.4\" is not IPv4:PORT or [IPv6]:PORT: "
			"skipped");
	g_assert_cmpstr(peers->rejected[3], ==,
			"peer_endpoints[4].peer_id \"" KEY2 "\" is listed twice: the first is kept");
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/control-plane-codec/build", test_build);
	g_test_add_func("/control-plane-codec/peers", test_peers);
	g_test_add_func("/control-plane-codec/no-peers", test_no_peers);
	g_test_add_func("/control-plane-codec/malformed", test_malformed);
	g_test_add_func("/control-plane-codec/statuses", test_statuses);
	g_test_add_func("/control-plane-codec/quote-and-token", test_quote_and_token);
	g_test_add_func("/control-plane-codec/key", test_key);
	g_test_add_func("/control-plane-codec/endpoint", test_endpoint);
	g_test_add_func("/control-plane-codec/skipped-entries", test_skipped_entries);
	return g_test_run();
}
