/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * PIA's codec: the replies PIA sends (pia-and-torrent-clients.md §1.1-1.4, gluetun#1336's
 * 409, gluetun#3446's 401), bad ones, the payload and the query strings; no message may
 * hold a secret of the request.
 */
#include <gio/gio.h>
#include <string.h>

#include "pia.h"

#define BODY(s) (const guint8 *)(s), strlen(s)

static void
test_token(void)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *token = NULL;

	token = pm_pia_parse_token_reply(200, BODY("{\"token\":\"abc+/=\"}"), &error);
	g_assert_no_error(error);
	g_assert_cmpstr(token, ==, "abc+/=");

	g_assert_null(pm_pia_parse_token_reply(200, BODY("{\"token\":\"\"}"), &error));
	g_assert_error(error, PM_PIA_CODEC_ERROR, PM_PIA_CODEC_ERROR_INVALID);
	g_clear_error(&error);
	g_assert_null(pm_pia_parse_token_reply(200, BODY("not json"), &error));
	g_assert_error(error, PM_PIA_CODEC_ERROR, PM_PIA_CODEC_ERROR_INVALID);
	g_clear_error(&error);
	/* a 200 that is not a token reply is never quoted: it may hold one */
	g_assert_null(pm_pia_parse_token_reply(200, BODY("{\"tok\":\"secretvalue\"}"), &error));
	g_assert_null(strstr(error->message, "secretvalue"));
	g_clear_error(&error);
	g_assert_null(pm_pia_parse_token_reply(401, BODY("{\"message\":\"Unauthorized\"}"),
					       &error));
	g_assert_error(error, PM_PIA_CODEC_ERROR, PM_PIA_CODEC_ERROR_STATUS);
	g_assert_cmpstr(error->message, ==, "HTTP 401: Unauthorized");
}

static void
test_signature(void)
{
	const char *const secrets[] = {"TOKEN+/=", NULL};
	g_autoptr(GError) error = NULL;
	g_autofree char *payload = NULL;
	g_autofree char *signature = NULL;

	g_assert_true(pm_pia_parse_signature_reply(
	    200, BODY("{\"status\":\"OK\",\"payload\":\"cGF5\",\"signature\":\"c2ln+/==\"}"),
	    secrets, &payload, &signature, &error));
	g_assert_no_error(error);
	g_assert_cmpstr(payload, ==, "cGF5");
	g_assert_cmpstr(signature, ==, "c2ln+/==");
	g_clear_pointer(&payload, g_free);
	g_clear_pointer(&signature, g_free);

	g_assert_false(pm_pia_parse_signature_reply(
	    200, BODY("{\"status\":\"ERROR\",\"message\":\"token TOKEN+/= expired\"}"), secrets,
	    &payload, &signature, &error));
	g_assert_error(error, PM_PIA_CODEC_ERROR, PM_PIA_CODEC_ERROR_STATUS);
	g_assert_cmpstr(error->message, ==, "getSignature refused: token [redacted] expired");
	g_assert_null(payload);
	g_clear_error(&error);

	g_assert_false(pm_pia_parse_signature_reply(
	    200, BODY("{\"status\":\"OK\",\"payload\":\"cGF5\",\"signature\":\"\"}"), secrets,
	    &payload, &signature, &error));
	g_assert_error(error, PM_PIA_CODEC_ERROR, PM_PIA_CODEC_ERROR_INVALID);
	g_assert_null(payload);
	g_assert_null(signature);
	g_clear_error(&error);

	g_assert_false(pm_pia_parse_signature_reply(
	    200, BODY("{\"status\":\"OK\",\"signature\":\"c2ln\"}"), secrets, &payload,
	    &signature, &error));
	g_assert_error(error, PM_PIA_CODEC_ERROR, PM_PIA_CODEC_ERROR_INVALID);
	g_clear_error(&error);

	g_assert_false(pm_pia_parse_signature_reply(500, BODY("oops TOKEN+/="), secrets,
						    &payload, &signature, &error));
	g_assert_cmpstr(error->message, ==, "HTTP 500: oops [redacted]");
}

typedef struct {
	guint status;
	const char *body;
	PmPiaBindKind kind;
	const char *message;
} BindCase;

static const BindCase bind_cases[] = {
    {200, "{\"status\":\"OK\",\"message\":\"port scheduled for add\"}", PM_PIA_BIND_OK, ""},
    {409, "{\"status\":\"\",\"message\":\"Port 51813 is busy. Please use another server\"}",
     PM_PIA_BIND_PORT_BUSY, "Port 51813 is busy. Please use another server"},
    /* the message alone, in any case */
    {200, "{\"status\":\"\",\"message\":\"PORT 1 IS BUSY\"}", PM_PIA_BIND_PORT_BUSY,
     "PORT 1 IS BUSY"},
    {409, "", PM_PIA_BIND_PORT_BUSY, "(empty body)"},
    {401, "{\"status\":\"\",\"message\":\"bad signature\"}", PM_PIA_BIND_UNAUTHORIZED,
     "bad signature"},
    {200, "{\"status\":\"ERROR\",\"message\":\"nope\"}", PM_PIA_BIND_FAILED, "nope"},
    {200, "<html>", PM_PIA_BIND_FAILED, "not a bindPort reply: <html>"},
    {502, "Bad Gateway\n", PM_PIA_BIND_FAILED, "Bad Gateway"},
    /* the request's payload and signature echoed are redacted */
    {400, "{\"message\":\"bad payload PAYLOAD== sig SIG+/\"}", PM_PIA_BIND_FAILED,
     "bad payload [redacted] sig [redacted]"},
};

static void
test_bind(void)
{
	const char *const secrets[] = {"PAYLOAD==", "SIG+/", NULL};

	for (gsize i = 0; i < G_N_ELEMENTS(bind_cases); i++) {
		const BindCase *c = &bind_cases[i];
		g_autofree char *message = NULL;
		PmPiaBindKind kind =
		    pm_pia_parse_bind_reply(c->status, BODY(c->body), secrets, &message);
		g_test_message("case %" G_GSIZE_FORMAT ": %s", i, c->body);
		g_assert_cmpstr(pm_pia_bind_kind_to_string(kind), ==,
				pm_pia_bind_kind_to_string(c->kind));
		g_assert_cmpstr(message, ==, c->message);
	}
}

static char *
encode(const char *json)
{
	return g_base64_encode((const guchar *)json, strlen(json));
}

static void
test_payload(void)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *good = encode(
	    "{\"token\":\"t\",\"port\":47047,\"expires_at\":\"2020-06-30T22:33:44.114369906Z\"}");
	g_autofree char *no_token = encode("{\"port\":1,\"expires_at\":\"2020-06-30T22:33:44Z\"}");
	g_autofree char *bad_port =
	    encode("{\"token\":\"t\",\"port\":0,\"expires_at\":\"2020-06-30T22:33:44Z\"}");
	g_autofree char *big_port =
	    encode("{\"token\":\"t\",\"port\":65536,\"expires_at\":\"2020-06-30T22:33:44Z\"}");
	g_autofree char *bad_time =
	    encode("{\"token\":\"t\",\"port\":1,\"expires_at\":\"tomorrow\"}");
	g_autofree char *not_json = encode("[1]");
	PmPiaPayload p;

	g_assert_true(pm_pia_decode_payload(good, &p, &error));
	g_assert_no_error(error);
	g_assert_cmpuint(p.port, ==, 47047);
	/* 2020-06-30T22:33:44Z is 1593556424 */
	g_assert_cmpint(p.expires_at, ==, G_GINT64_CONSTANT(1593556424114369));

	g_assert_false(pm_pia_decode_payload(no_token, &p, &error));
	g_assert_error(error, PM_PIA_CODEC_ERROR, PM_PIA_CODEC_ERROR_INVALID);
	g_clear_error(&error);
	g_assert_false(pm_pia_decode_payload(bad_port, &p, &error));
	g_clear_error(&error);
	g_assert_false(pm_pia_decode_payload(big_port, &p, &error));
	g_clear_error(&error);
	g_assert_false(pm_pia_decode_payload(bad_time, &p, &error));
	g_assert_nonnull(strstr(error->message, "tomorrow"));
	g_clear_error(&error);
	g_assert_false(pm_pia_decode_payload(not_json, &p, &error));
	g_clear_error(&error);
	/* not base64, unpadded, padding inside */
	g_assert_false(pm_pia_decode_payload("e30", &p, &error));
	g_clear_error(&error);
	g_assert_false(pm_pia_decode_payload("e3!=", &p, &error));
	g_clear_error(&error);
	g_assert_false(pm_pia_decode_payload("e=0=", &p, &error));
	g_clear_error(&error);
	g_assert_false(pm_pia_decode_payload("", &p, &error));
	g_clear_error(&error);
}

static void
test_queries(void)
{
	g_autofree char *sig = pm_pia_build_signature_query("a+b/c=");
	g_autofree char *bind = pm_pia_build_bind_query("eyJ0+/==", "s+/=&x");
	g_autofree char *form = pm_pia_build_token_form("p1234567", "pa ss&=+");

	g_assert_cmpstr(sig, ==, "token=a%2Bb%2Fc%3D");
	g_assert_cmpstr(bind, ==, "payload=eyJ0%2B%2F%3D%3D&signature=s%2B%2F%3D%26x");
	g_assert_cmpstr(form, ==, "username=p1234567&password=pa%20ss%26%3D%2B");
}

static guint32
ip(const char *text)
{
	g_autoptr(GInetAddress) address = g_inet_address_new_from_string(text);
	guint32 value;
	memcpy(&value, g_inet_address_to_bytes(address), 4);
	return value;
}

static void
test_gateway_candidates(void)
{
	guint32 out[PM_PIA_MAX_GATEWAY_CANDIDATES];

	g_assert_cmpuint(pm_pia_gateway_candidates(ip("10.13.0.7"), out), ==, 3);
	g_assert_cmpuint(out[0], ==, ip("10.13.0.7"));
	g_assert_cmpuint(out[1], ==, ip("10.13.128.1"));
	g_assert_cmpuint(out[2], ==, ip("10.13.0.1"));
	/* each once */
	g_assert_cmpuint(pm_pia_gateway_candidates(ip("10.7.128.1"), out), ==, 2);
	g_assert_cmpuint(out[0], ==, ip("10.7.128.1"));
	g_assert_cmpuint(out[1], ==, ip("10.7.0.1"));
	g_assert_cmpuint(pm_pia_gateway_candidates(0, out), ==, 0);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/pia-codec/token", test_token);
	g_test_add_func("/pia-codec/signature", test_signature);
	g_test_add_func("/pia-codec/bind", test_bind);
	g_test_add_func("/pia-codec/payload", test_payload);
	g_test_add_func("/pia-codec/queries", test_queries);
	g_test_add_func("/pia-codec/gateway-candidates", test_gateway_candidates);
	return g_test_run();
}
