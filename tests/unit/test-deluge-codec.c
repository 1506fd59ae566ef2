/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Deluge's JSON-RPC codec (proto/deluge.c): the request bodies as deluge-web 2.0.3 reads
 * them, its replies as it sends them (taken from a real deluge-web), and every reply that
 * is not one refused with a reason that says which.
 */
#include <string.h>

#include "proto/deluge.h"

static void
test_build(void)
{
	g_autofree char *login = pm_deluge_build_login("pa\"ss\\w\x01rd", 1);
	g_autofree char *connected = pm_deluge_build_call("web.connected", 2);
	g_autofree char *connect = pm_deluge_build_connect("917c4c81a4a8", 3);
	g_autofree char *get = pm_deluge_build_get_ports(4);
	g_autofree char *set = pm_deluge_build_set_port(51413, 4294967295u);

	g_assert_cmpstr(login, ==,
			"{\"method\":\"auth.login\",\"params\":[\"pa\\\"ss\\\\w\\u0001rd\"],"
			"\"id\":1}");
	g_assert_cmpstr(connected, ==, "{\"method\":\"web.connected\",\"params\":[],\"id\":2}");
	g_assert_cmpstr(connect, ==,
			"{\"method\":\"web.connect\",\"params\":[\"917c4c81a4a8\"],\"id\":3}");
	g_assert_cmpstr(get, ==,
			"{\"method\":\"core.get_config_values\",\"params\":[[\"listen_ports\","
			"\"random_port\"]],\"id\":4}");
	g_assert_cmpstr(set, ==,
			"{\"method\":\"core.set_config\",\"params\":[{\"listen_ports\":[51413,"
			"51413],\"random_port\":false}],\"id\":4294967295}");
}

/* @body parsed as the reply to request @id, which must succeed */
static JsonNode *
parse_ok(const char *body, guint id, JsonParser **parser)
{
	g_autoptr(GError) error = NULL;
	JsonNode *result = NULL;
	gint64 code = 0;

	g_assert_true(pm_deluge_parse_reply(200, (const guint8 *)body, strlen(body), id, parser,
					    &result, &code, &error));
	g_assert_no_error(error);
	g_assert_nonnull(result);
	g_assert_cmpint(code, ==, -1);
	return result;
}

static void
test_replies(void)
{
	g_autoptr(JsonParser) parser = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree char *host = NULL;
	g_autofree char *host_id = NULL;
	g_autofree char *seen = NULL;
	PmDelugePorts ports = {0};
	JsonNode *result;
	gboolean value = TRUE;

	result = parse_ok("{\"result\": false, \"error\": null, \"id\": 7}", 7, &parser);
	g_assert_true(pm_deluge_result_get_boolean(result, &value, &error));
	g_assert_false(value);
	g_clear_object(&parser);

	result = parse_ok("{\"result\": [[\"917c4c81a4a8445281d642456f751ba0\", \"127.0.0.1\", "
			  "58846, \"localclient\"], [\"b\", \"10.0.0.2\", 1, \"x\"]], "
			  "\"error\": null, \"id\": 3}",
			  3, &parser);
	host_id = pm_deluge_result_first_host(result, &host, &error);
	g_assert_no_error(error);
	g_assert_cmpstr(host_id, ==, "917c4c81a4a8445281d642456f751ba0");
	g_assert_cmpstr(host, ==, "127.0.0.1:58846");
	g_clear_object(&parser);

	/* no host: neither an id nor an error */
	result = parse_ok("{\"result\": [], \"error\": null, \"id\": 3}", 3, &parser);
	g_clear_pointer(&host_id, g_free);
	g_clear_pointer(&host, g_free);
	host_id = pm_deluge_result_first_host(result, &host, &error);
	g_assert_no_error(error);
	g_assert_null(host_id);
	g_assert_null(host);
	g_clear_object(&parser);

	result = parse_ok("{\"result\": {\"listen_ports\": [6881, 6891], \"random_port\": true}, "
			  "\"error\": null, \"id\": 12}",
			  12, &parser);
	g_assert_true(pm_deluge_result_get_ports(result, &ports, &error));
	g_assert_cmpuint(ports.low, ==, 6881);
	g_assert_cmpuint(ports.high, ==, 6891);
	g_assert_true(ports.random_port);
	seen = pm_deluge_ports_to_string(&ports);
	g_assert_cmpstr(seen, ==, "listen_ports [6881, 6891], random_port true");
	g_clear_object(&parser);

	/* set_config's null is a result */
	result = parse_ok("{\"result\": null, \"error\": null, \"id\": 14}", 14, &parser);
	g_assert_true(JSON_NODE_HOLDS_NULL(result));
}

static void
assert_rpc_error(const char *body, guint id, gint64 expected_code, const char *expected)
{
	g_autoptr(JsonParser) parser = NULL;
	g_autoptr(GError) error = NULL;
	JsonNode *result = NULL;
	gint64 code = 0;

	g_assert_false(pm_deluge_parse_reply(200, (const guint8 *)body, strlen(body), id, &parser,
					     &result, &code, &error));
	g_assert_error(error, PM_DELUGE_CODEC_ERROR, PM_DELUGE_CODEC_ERROR_RPC);
	g_assert_cmpstr(error->message, ==, expected);
	g_assert_cmpint(code, ==, expected_code);
	g_assert_null(parser);
	g_assert_null(result);
}

static void
test_rpc_errors(void)
{
	assert_rpc_error("{\"result\": null, \"error\": {\"message\": \"Not authenticated\", "
			 "\"code\": 1}, \"id\": 4}",
			 4, PM_DELUGE_RPC_NOT_AUTHENTICATED, "Not authenticated (code 1)");
	assert_rpc_error("{\"result\": null, \"error\": {\"message\": \"Unknown method\", "
			 "\"code\": 2}, \"id\": 5}",
			 5, PM_DELUGE_RPC_UNKNOWN_METHOD, "Unknown method (code 2)");
	/* deluged's failures carry a traceback: its last line explains */
	assert_rpc_error("{\"result\": null, \"error\": {\"message\": \"Failure: [Failure "
			 "instance: Traceback (failure with no frames): <class "
			 "'deluge.error.WrappedException'>: 'int' object is not iterable\\n"
			 "Traceback (most recent call last):\\n  File \\\"/x/core.py\\\", line 828, "
			 "in set_config\\nTypeError: 'int' object is not iterable\\n\\n]\", "
			 "\"code\": 4}, \"id\": 18}",
			 18, 4, "TypeError: 'int' object is not iterable (code 4)");
	assert_rpc_error("{\"result\": null, \"error\": {\"code\": \"x\"}, \"id\": 5}", 5, -1,
			 "(no message) (code -1)");
}

static void
assert_invalid(guint status, const char *body, guint id, const char *expected)
{
	g_autoptr(JsonParser) parser = NULL;
	g_autoptr(GError) error = NULL;
	JsonNode *result = NULL;
	gint64 code = 0;

	g_assert_false(pm_deluge_parse_reply(status, (const guint8 *)body, strlen(body), id,
					     &parser, &result, &code, &error));
	g_assert_error(error, PM_DELUGE_CODEC_ERROR, PM_DELUGE_CODEC_ERROR_INVALID);
	/* "…*": json-glib's own words follow, which vary with its version */
	if (g_str_has_suffix(expected, "*"))
		g_assert_true(strncmp(error->message, expected, strlen(expected) - 1) == 0);
	else
		g_assert_cmpstr(error->message, ==, expected);
	g_assert_cmpint(code, ==, -1);
	g_assert_null(parser);
	g_assert_null(result);
}

static void
test_invalid(void)
{
	g_autofree char *deep = NULL;
	g_autofree char *large = NULL;
	g_autoptr(JsonParser) parser = NULL;
	g_autoptr(GError) error = NULL;
	JsonNode *result = NULL;

	assert_invalid(502, "Bad\tGateway", 1, "HTTP 502: Bad Gateway");
	assert_invalid(404, "<html>No Such Resource</html>", 1,
		       "HTTP 404 (is URL= deluge-web's /json?): <html>No Such Resource</html>");
	assert_invalid(200, "", 1, "not a JSON-RPC reply: the body is empty");
	assert_invalid(200, "[1]", 1, "not a JSON-RPC reply: the body is not a JSON object: [1]");
	assert_invalid(200, "{}{}", 1,
		       "not a JSON-RPC reply: the body is not JSON: text after the object: {}{}");
	assert_invalid(200, "{\"result\": tru}", 1,
		       "not a JSON-RPC reply: the body is not JSON: <data>:1:*");
	assert_invalid(200, "{\"result\": true, \"error\": null}", 1,
		       "not a JSON-RPC reply: no integer \"id\"");
	assert_invalid(200, "{\"result\": true, \"error\": null, \"id\": \"1\"}", 1,
		       "not a JSON-RPC reply: no integer \"id\"");
	assert_invalid(200, "{\"result\": true, \"error\": null, \"id\": 2}", 1,
		       "the reply to request 1 has \"id\" 2: another request's reply");
	assert_invalid(200, "{\"result\": true, \"id\": 1}", 1,
		       "not a JSON-RPC reply: no \"error\"");
	assert_invalid(200, "{\"error\": null, \"id\": 1}", 1,
		       "not a JSON-RPC reply: no \"result\"");
	assert_invalid(200, "{\"result\": 1, \"error\": \"bad\", \"id\": 1}", 1,
		       "not a JSON-RPC reply: \"error\" is neither null nor an object");
	/* what deluge-web answers to a body it cannot decode */
	assert_invalid(200,
		       "{\"result\": null, \"id\": null, \"error\": {\"code\": 5, \"message\": "
		       "\"JSONException: JSON not decodable\"}}",
		       9, "deluge-web could not read request 9: JSONException: JSON not decodable");
	assert_invalid(200, "{\"result\": \"\xff\"}", 1,
		       "not a JSON-RPC reply: the body is not UTF-8 text");

	deep = g_strnfill(40, '[');
	{
		g_autofree char *body = g_strdup_printf("{\"result\": %s", deep);
		assert_invalid(200, body, 1, "not a JSON-RPC reply: the body is not JSON: nested "
					     "too deeply: {\"result\": [[[[[[[[[[[[[[[[[[[[[[[[[["
					     "[[[[[[[[[[[[[[");
	}
	large = g_strnfill(PM_DELUGE_MAX_REPLY + 1, ' ');
	assert_invalid(200, large, 1, "not a JSON-RPC reply: the body is too large (131073 bytes)");

	/* a NULL body is an empty one */
	g_assert_false(pm_deluge_parse_reply(200, NULL, 5, 1, &parser, &result, NULL, &error));
	g_assert_error(error, PM_DELUGE_CODEC_ERROR, PM_DELUGE_CODEC_ERROR_INVALID);
}

/* results of the wrong shape: each refused, naming what is wrong */
static void
test_bad_results(void)
{
	static const struct {
		const char *result;
		const char *message;
	} ports_cases[] = {
	    {"[]", "core.get_config_values: the result is not an object"},
	    {"{\"random_port\": false}", "core.get_config_values: \"listen_ports\" is not a list"},
	    {"{\"listen_ports\": [1], \"random_port\": false}",
	     "core.get_config_values: \"listen_ports\" is not [LOW, HIGH] with ports from 0 to "
	     "65535"},
	    {"{\"listen_ports\": [1, 65536], \"random_port\": false}",
	     "core.get_config_values: \"listen_ports\" is not [LOW, HIGH] with ports from 0 to "
	     "65535"},
	    {"{\"listen_ports\": [1, \"2\"], \"random_port\": false}",
	     "core.get_config_values: \"listen_ports\" is not [LOW, HIGH] with ports from 0 to "
	     "65535"},
	    {"{\"listen_ports\": [1, 1]}",
	     "core.get_config_values: \"random_port\" is not true or false"},
	    {"{\"listen_ports\": [1, 1], \"random_port\": 0}",
	     "core.get_config_values: \"random_port\" is not true or false"},
	};
	static const struct {
		const char *result;
		const char *message;
	} host_cases[] = {
	    {"{}", "web.get_hosts: the result is not a list of hosts"},
	    {"[\"a\"]", "web.get_hosts: a host is not a list [id, host, port, user]"},
	    {"[[\"\", \"h\", 1, \"u\"]]", "web.get_hosts: a host is not a list [id, host, port, user]"},
	    {"[[\"a\", \"h\"]]", "web.get_hosts: a host is not a list [id, host, port, user]"},
	    {"[[\"a\", 5, 1]]", "web.get_hosts: a host is not a list [id, host, port, user]"},
	};

	for (guint i = 0; i < G_N_ELEMENTS(ports_cases); i++) {
		g_autofree char *body = g_strdup_printf("{\"result\": %s, \"error\": null, "
							"\"id\": 1}",
							ports_cases[i].result);
		g_autoptr(JsonParser) parser = NULL;
		g_autoptr(GError) error = NULL;
		PmDelugePorts ports = {0};
		JsonNode *result = parse_ok(body, 1, &parser);

		g_assert_false(pm_deluge_result_get_ports(result, &ports, &error));
		g_assert_error(error, PM_DELUGE_CODEC_ERROR, PM_DELUGE_CODEC_ERROR_INVALID);
		g_assert_cmpstr(error->message, ==, ports_cases[i].message);
	}
	for (guint i = 0; i < G_N_ELEMENTS(host_cases); i++) {
		g_autofree char *body = g_strdup_printf("{\"result\": %s, \"error\": null, "
							"\"id\": 1}",
							host_cases[i].result);
		g_autoptr(JsonParser) parser = NULL;
		g_autoptr(GError) error = NULL;
		g_autofree char *host = NULL;
		g_autofree char *host_id = NULL;
		JsonNode *result = parse_ok(body, 1, &parser);

		host_id = pm_deluge_result_first_host(result, &host, &error);
		g_assert_null(host_id);
		g_assert_null(host);
		g_assert_error(error, PM_DELUGE_CODEC_ERROR, PM_DELUGE_CODEC_ERROR_INVALID);
		g_assert_cmpstr(error->message, ==, host_cases[i].message);
	}
	{
		g_autoptr(JsonParser) parser = NULL;
		g_autoptr(GError) error = NULL;
		gboolean value = FALSE;
		JsonNode *result = parse_ok("{\"result\": 1, \"error\": null, \"id\": 1}", 1,
					    &parser);
		g_assert_false(pm_deluge_result_get_boolean(result, &value, &error));
		g_assert_error(error, PM_DELUGE_CODEC_ERROR, PM_DELUGE_CODEC_ERROR_INVALID);
		g_assert_cmpstr(error->message, ==, "the result is not true or false");
	}
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/deluge-codec/build", test_build);
	g_test_add_func("/deluge-codec/replies", test_replies);
	g_test_add_func("/deluge-codec/rpc-errors", test_rpc_errors);
	g_test_add_func("/deluge-codec/invalid", test_invalid);
	g_test_add_func("/deluge-codec/bad-results", test_bad_results);
	return g_test_run();
}
