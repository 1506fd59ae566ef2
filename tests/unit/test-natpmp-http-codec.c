/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The natpmp-http-api codec: the request body, and a table of replies (the exact bodies
 * of the real service's src/lib.rs and axum 0.8's rejections, then bad ones) with the
 * class and message each must give.
 */
#include <string.h>

#include "natpmp-http.h"

static void
test_request(void)
{
	g_autoptr(GBytes) tcp = pm_natpmp_http_build_forward_request(51413, PM_PROTOCOL_TCP, 60);
	g_autoptr(GBytes) udp = pm_natpmp_http_build_forward_request(1, PM_PROTOCOL_UDP, G_MAXUINT32);
	g_autofree char *tcp_text = g_strndup(g_bytes_get_data(tcp, NULL), g_bytes_get_size(tcp));
	g_autofree char *udp_text = g_strndup(g_bytes_get_data(udp, NULL), g_bytes_get_size(udp));

	g_assert_cmpstr(tcp_text, ==, "{\"internal_port\":51413,\"protocol\":\"tcp\",\"duration\":60}");
	g_assert_cmpstr(udp_text, ==,
			"{\"internal_port\":1,\"protocol\":\"udp\",\"duration\":4294967295}");
}

typedef struct {
	guint status;
	const char *body;
	PmNatpmpHttpReplyKind kind;
	/* GRANTED: the fields; else the message (a prefix when it ends with '*') */
	guint16 internal_port;
	guint16 external_port;
	PmProtocols protocol;
	guint32 duration;
	const char *message;
} ReplyCase;

#define GRANTED(body, i, e, p, d) {200, body, PM_NATPMP_HTTP_REPLY_GRANTED, i, e, p, d, NULL}
#define OTHER(status, body, kind, message) {status, body, kind, 0, 0, 0, 0, message}

static const ReplyCase reply_cases[] = {
    /* the service's own replies */
    GRANTED("{\"internal_port\":51413,\"external_port\":43210,\"protocol\":\"tcp\",\"duration\":60}",
	    51413, 43210, PM_PROTOCOL_TCP, 60),
    GRANTED("{\"internal_port\":8080,\"external_port\":8080,\"protocol\":\"udp\",\"duration\":300}",
	    8080, 8080, PM_PROTOCOL_UDP, 300),
    /* member order and whitespace do not matter, unknown members are ignored */
    GRANTED(" {\"duration\": 0, \"protocol\": \"udp\", \"external_port\": 65535,\n"
	    "  \"internal_port\": 1, \"extra\": [1, {\"a\": null}]}\n",
	    1, 65535, PM_PROTOCOL_UDP, 0),
    GRANTED("{\"internal_port\":2,\"external_port\":3,\"protocol\":\"tcp\",\"duration\":4294967295}",
	    2, 3, PM_PROTOCOL_TCP, G_MAXUINT32),
    OTHER(401, "{\"error\":\"Unauthorized\"}", PM_NATPMP_HTTP_REPLY_UNAUTHORIZED, "Unauthorized"),
    OTHER(401, "", PM_NATPMP_HTTP_REPLY_UNAUTHORIZED, "(empty body)"),
    OTHER(400, "{\"error\":\"protocol must be tcp or udp\"}", PM_NATPMP_HTTP_REPLY_CLIENT_BUG,
	  "protocol must be tcp or udp"),
    /* axum's Json extractor rejections, plain text */
    OTHER(415, "Expected request with `Content-Type: application/json`",
	  PM_NATPMP_HTTP_REPLY_CLIENT_BUG, "Expected request with `Content-Type: application/json`"),
    OTHER(400, "Failed to parse the request body as JSON: expected value at line 1 column 1",
	  PM_NATPMP_HTTP_REPLY_CLIENT_BUG,
	  "Failed to parse the request body as JSON: expected value at line 1 column 1"),
    OTHER(422,
	  "Failed to deserialize the JSON body into the target type: missing field `duration` "
	  "at line 1 column 40",
	  PM_NATPMP_HTTP_REPLY_CLIENT_BUG,
	  "Failed to deserialize the JSON body into the target type: missing field `duration` "
	  "at line 1 column 40"),
    OTHER(500, "{\"error\":\"Failed to request port mapping\"}",
	  PM_NATPMP_HTTP_REPLY_SERVICE_ERROR, "Failed to request port mapping"),
    OTHER(500, "{\"error\":\"Failed to create NAT-PMP client\"}",
	  PM_NATPMP_HTTP_REPLY_SERVICE_ERROR, "Failed to create NAT-PMP client"),
    /* a proxy in front of a service that is down */
    OTHER(502, "<html><body>\r\n<h1>502 Bad Gateway</h1>\r\n</body></html>",
	  PM_NATPMP_HTTP_REPLY_SERVICE_ERROR, "<html><body>  <h1>502 Bad Gateway</h1>  </body></html>"),
    OTHER(503, "", PM_NATPMP_HTTP_REPLY_SERVICE_ERROR, "(empty body)"),
    OTHER(599, "{\"error\":42}", PM_NATPMP_HTTP_REPLY_SERVICE_ERROR, "{\"error\":42}"),
    /* statuses the service never sends */
    OTHER(404, "", PM_NATPMP_HTTP_REPLY_UNEXPECTED, "(empty body)"),
    OTHER(204, "", PM_NATPMP_HTTP_REPLY_UNEXPECTED, "(empty body)"),
    OTHER(302, "   \n", PM_NATPMP_HTTP_REPLY_UNEXPECTED, "(blank body)"),
    OTHER(600, "{\"error\":\"x\"}", PM_NATPMP_HTTP_REPLY_UNEXPECTED, "x"),
    OTHER(0, "", PM_NATPMP_HTTP_REPLY_UNEXPECTED, "(empty body)"),
    /* 200 that is not a mapping */
    OTHER(200, "", PM_NATPMP_HTTP_REPLY_UNEXPECTED, "not a mapping: the body is empty: (empty body)"),
    OTHER(200, "OK", PM_NATPMP_HTTP_REPLY_UNEXPECTED,
	  "not a mapping: the body is not a JSON object: OK"),
    OTHER(200, "{\"internal_port\":1", PM_NATPMP_HTTP_REPLY_UNEXPECTED,
	  "not a mapping: the body is not JSON: *"),
    /* json-glib takes a raw newline in a string; the quote shows it as a blank */
    OTHER(200, "{\"a\":\"x\ny\"}", PM_NATPMP_HTTP_REPLY_UNEXPECTED,
	  "not a mapping: \"internal_port\" is missing: {\"a\":\"x y\"}"),
    /* json-glib's message quotes the bad text: it is made printable too */
    OTHER(200, "{\"status\":\"healthy\",\"timestamT~0:15\n<h1>502 dy>\r\n<h1:30\"}",
	  PM_NATPMP_HTTP_REPLY_UNEXPECTED, "not a mapping: the body is not JSON: *"),
    /* one object and nothing else (json-glib 1.6 leaks on a second value) */
    OTHER(200, "{}{}", PM_NATPMP_HTTP_REPLY_UNEXPECTED,
	  "not a mapping: the body is not JSON: text after the object: {}{}"),
    OTHER(200, "2{\"internal_port\":1}", PM_NATPMP_HTTP_REPLY_UNEXPECTED,
	  "not a mapping: the body is not a JSON object: *"),
    OTHER(200, "[1,2]", PM_NATPMP_HTTP_REPLY_UNEXPECTED,
	  "not a mapping: the body is not a JSON object: [1,2]"),
    OTHER(200, "{\"status\":\"healthy\",\"timestamp\":\"2025-11-03T10:00:00+00:00\"}",
	  PM_NATPMP_HTTP_REPLY_UNEXPECTED, "not a mapping: \"internal_port\" is missing: *"),
    OTHER(200, "{\"internal_port\":0,\"external_port\":1,\"protocol\":\"tcp\",\"duration\":1}",
	  PM_NATPMP_HTTP_REPLY_UNEXPECTED,
	  "not a mapping: \"internal_port\" is 0, not from 1 to 65535: *"),
    OTHER(200, "{\"internal_port\":1,\"external_port\":65536,\"protocol\":\"tcp\",\"duration\":1}",
	  PM_NATPMP_HTTP_REPLY_UNEXPECTED,
	  "not a mapping: \"external_port\" is 65536, not from 1 to 65535: *"),
    OTHER(200, "{\"internal_port\":1,\"external_port\":-5,\"protocol\":\"tcp\",\"duration\":1}",
	  PM_NATPMP_HTTP_REPLY_UNEXPECTED, "not a mapping: \"external_port\" is -5, *"),
    OTHER(200, "{\"internal_port\":1,\"external_port\":2,\"protocol\":\"tcp\",\"duration\":-1}",
	  PM_NATPMP_HTTP_REPLY_UNEXPECTED, "not a mapping: \"duration\" is -1, *"),
    OTHER(200, "{\"internal_port\":1,\"external_port\":2,\"protocol\":\"tcp\",\"duration\":4294967296}",
	  PM_NATPMP_HTTP_REPLY_UNEXPECTED, "not a mapping: \"duration\" is 4294967296, *"),
    OTHER(200, "{\"internal_port\":\"1\",\"external_port\":2,\"protocol\":\"tcp\",\"duration\":1}",
	  PM_NATPMP_HTTP_REPLY_UNEXPECTED, "not a mapping: \"internal_port\" is not an integer: *"),
    OTHER(200, "{\"internal_port\":1.5,\"external_port\":2,\"protocol\":\"tcp\",\"duration\":1}",
	  PM_NATPMP_HTTP_REPLY_UNEXPECTED, "not a mapping: \"internal_port\" is not an integer: *"),
    OTHER(200, "{\"internal_port\":1,\"external_port\":2,\"protocol\":\"TCP\",\"duration\":1}",
	  PM_NATPMP_HTTP_REPLY_UNEXPECTED,
	  "not a mapping: \"protocol\" is not \"tcp\" or \"udp\": *"),
    OTHER(200, "{\"internal_port\":1,\"external_port\":2,\"protocol\":null,\"duration\":1}",
	  PM_NATPMP_HTTP_REPLY_UNEXPECTED,
	  "not a mapping: \"protocol\" is not \"tcp\" or \"udp\": *"),
    OTHER(200, "{\"internal_port\":1,\"external_port\":2,\"duration\":1}",
	  PM_NATPMP_HTTP_REPLY_UNEXPECTED,
	  "not a mapping: \"protocol\" is not \"tcp\" or \"udp\": *"),
    OTHER(200, "{\"a\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
	  PM_NATPMP_HTTP_REPLY_UNEXPECTED, "not a mapping: the body is not JSON: nested too deeply: *"),
    OTHER(200, "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
	  PM_NATPMP_HTTP_REPLY_UNEXPECTED, "not a mapping: the body is not a JSON object: *"),
    /* binary garbage: printable in the message */
    OTHER(500, "\xff\xfe\x01oops\x00\x7f", PM_NATPMP_HTTP_REPLY_SERVICE_ERROR, "*"),
};

static gsize
case_body_len(const ReplyCase *c)
{
	/* the garbage case has a NUL and a byte after it */
	if (c->body[0] == '\xff')
		return 9;
	return strlen(c->body);
}

static void
assert_message(const char *message, const char *expected)
{
	gsize len = strlen(expected);

	g_assert_nonnull(message);
	g_assert_true(g_utf8_validate(message, -1, NULL));
	for (const char *p = message; *p != '\0'; p = g_utf8_next_char(p))
		g_assert_false(g_unichar_iscntrl(g_utf8_get_char(p)));
	if (len > 0 && expected[len - 1] == '*') {
		g_autofree char *prefix = g_strndup(expected, len - 1);
		if (!g_str_has_prefix(message, prefix))
			g_error("\"%s\" does not start with \"%.*s\"", message, (int)len - 1, expected);
		return;
	}
	g_assert_cmpstr(message, ==, expected);
}

static void
test_replies(void)
{
	for (guint i = 0; i < G_N_ELEMENTS(reply_cases); i++) {
		const ReplyCase *c = &reply_cases[i];
		g_auto(PmNatpmpHttpReply) reply = {0};

		g_test_message("reply %u: %u %s", i, c->status, c->body);
		pm_natpmp_http_parse_forward_reply(c->status, (const guint8 *)c->body,
						   case_body_len(c), &reply);
		g_assert_cmpstr(pm_natpmp_http_reply_kind_to_string(reply.kind), ==,
				pm_natpmp_http_reply_kind_to_string(c->kind));
		g_assert_cmpuint(reply.status, ==, c->status);
		if (c->kind == PM_NATPMP_HTTP_REPLY_GRANTED) {
			g_assert_null(reply.message);
			g_assert_cmpuint(reply.internal_port, ==, c->internal_port);
			g_assert_cmpuint(reply.external_port, ==, c->external_port);
			g_assert_cmpuint(reply.protocol, ==, c->protocol);
			g_assert_cmpuint(reply.duration, ==, c->duration);
			continue;
		}
		assert_message(reply.message, c->message);
	}
}

/* a NULL body is an empty one */
static void
test_reply_null_body(void)
{
	g_auto(PmNatpmpHttpReply) reply = {0};

	pm_natpmp_http_parse_forward_reply(200, NULL, 5, &reply);
	g_assert_cmpint(reply.kind, ==, PM_NATPMP_HTTP_REPLY_UNEXPECTED);
	g_assert_cmpstr(reply.message, ==, "not a mapping: the body is empty: (empty body)");
}

/* a long or odd body is cut and made printable */
static void
test_quote(void)
{
	g_autofree char *long_body = g_strnfill(1000, 'x');
	g_autofree char *quoted = NULL;
	g_autofree char *expected = NULL;
	g_autoptr(GString) big = g_string_new(NULL);
	g_auto(PmNatpmpHttpReply) reply = {0};

	quoted = pm_natpmp_http_quote_body((const guint8 *)long_body, 1000, PM_NATPMP_HTTP_QUOTE_MAX);
	expected = g_strconcat(long_body + 800, "…", NULL);
	g_assert_cmpstr(quoted, ==, expected);
	g_clear_pointer(&quoted, g_free);

	quoted = pm_natpmp_http_quote_body((const guint8 *)"a\tb\nc\x01\xc3\xa9\xe2\x82", 10, 100);
	g_assert_cmpstr(quoted, ==, "a b c\xef\xbf\xbd\xc3\xa9\xef\xbf\xbd\xef\xbf\xbd");
	g_clear_pointer(&quoted, g_free);

	/* larger than any reply of the service: not parsed */
	g_string_append(big, "{\"internal_port\":1,\"external_port\":2,\"protocol\":\"tcp\","
			     "\"duration\":1,\"pad\":\"");
	while (big->len < PM_NATPMP_HTTP_MAX_REPLY)
		g_string_append_c(big, ' ');
	g_string_append(big, "\"}");
	pm_natpmp_http_parse_forward_reply(200, (const guint8 *)big->str, big->len, &reply);
	g_assert_cmpint(reply.kind, ==, PM_NATPMP_HTTP_REPLY_UNEXPECTED);
	g_assert_true(g_str_has_prefix(reply.message, "not a mapping: the body is too large"));
	g_assert_cmpuint(g_utf8_strlen(reply.message, -1), <, 300);
}

static void
test_health(void)
{
	static const struct {
		guint status;
		const char *body;
		const char *timestamp; /* on success */
		const char *message;   /* on error */
	} cases[] = {
	    {200, "{\"status\":\"healthy\",\"timestamp\":\"2025-11-03T10:15:30.123456789+00:00\"}",
	     "2025-11-03T10:15:30.123456789+00:00", NULL},
	    {200, "{\"status\":\"healthy\"}", NULL, NULL},
	    {200, "{\"status\":\"starting\",\"timestamp\":\"x\"}", NULL,
	     "the service says its status is \"starting\""},
	    {200, "{\"timestamp\":\"x\"}", NULL, "not a health reply: no \"status\" string"},
	    {200, "healthy", NULL, "not a health reply: the body is not a JSON object: healthy"},
	    {200, "{\"status\":\"healthy\"}{}", NULL,
	     "not a health reply: the body is not JSON: text after the object: *"},
	    {200, "", NULL, "not a health reply: the body is empty: (empty body)"},
	    {404, "", NULL, "HTTP 404: (empty body)"},
	    {503, "{\"error\":\"down\"}", NULL, "HTTP 503: down"},
	};

	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autoptr(GError) error = NULL;
		g_autofree char *timestamp = NULL;
		gboolean ok = pm_natpmp_http_parse_health(cases[i].status,
							  (const guint8 *)cases[i].body,
							  strlen(cases[i].body), &timestamp, &error);
		if (cases[i].message == NULL) {
			g_assert_no_error(error);
			g_assert_true(ok);
			g_assert_cmpstr(timestamp, ==, cases[i].timestamp);
			continue;
		}
		g_assert_false(ok);
		g_assert_nonnull(error);
		g_assert_null(timestamp);
		assert_message(error->message, cases[i].message);
	}
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);

	g_test_add_func("/natpmp-http-codec/request", test_request);
	g_test_add_func("/natpmp-http-codec/replies", test_replies);
	g_test_add_func("/natpmp-http-codec/reply-null-body", test_reply_null_body);
	g_test_add_func("/natpmp-http-codec/quote", test_quote);
	g_test_add_func("/natpmp-http-codec/health", test_health);
	return g_test_run();
}
