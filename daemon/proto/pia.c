/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <json-glib/json-glib.h>
#include <string.h>

#include "natpmp-http.h"
#include "pia.h"

/* a payload is ~150 bytes of base64; anything far larger is not PIA's */
#define MAX_PAYLOAD_LEN 4096

G_DEFINE_QUARK(pm-pia-codec-error-quark, pm_pia_codec_error)

/* every @secret in @text replaced; memmem, not strstr: a body may hold NUL bytes, and
 * what follows one is quoted too */
static void
redact(GString *text, const char *secret)
{
	gsize secret_len = strlen(secret);
	gsize pos = 0;

	while (pos + secret_len <= text->len) {
		const char *found = memmem(text->str + pos, text->len - pos, secret, secret_len);
		gsize at;
		if (found == NULL)
			break;
		at = (gsize)(found - text->str);
		g_string_erase(text, (gssize)at, (gssize)secret_len);
		g_string_insert(text, (gssize)at, "[redacted]");
		pos = at + strlen("[redacted]");
	}
}

char *
pm_pia_quote_redacted(const guint8 *body, gsize len, const char *const *secrets,
		      gsize max_chars)
{
	g_autoptr(GString) text = NULL;

	if (body == NULL)
		len = 0;
	text = g_string_new_len((const char *)body, (gssize)len);
	/* before quoting: a cut could otherwise leave part of a secret */
	for (gsize i = 0; secrets != NULL && secrets[i] != NULL; i++) {
		if (secrets[i][0] != '\0')
			redact(text, secrets[i]);
	}
	return pm_natpmp_http_quote_body((const guint8 *)text->str, text->len, max_chars);
}

/* a string member, or NULL if absent or not a string */
static const char *
get_string(JsonObject *object, const char *member)
{
	JsonNode *node = json_object_get_member(object, member);
	if (node == NULL || !JSON_NODE_HOLDS_VALUE(node) ||
	    json_node_get_value_type(node) != G_TYPE_STRING)
		return NULL;
	return json_node_get_string(node);
}

/* the reply's "message" member quoted, else the whole body */
static char *
reply_message(const guint8 *body, gsize len, const char *const *secrets)
{
	g_autoptr(JsonParser) parser = NULL;
	JsonObject *object = pm_natpmp_http_parse_object(body, len, &parser, NULL);
	const char *message = object != NULL ? get_string(object, "message") : NULL;

	if (message != NULL && message[0] != '\0')
		return pm_pia_quote_redacted((const guint8 *)message, strlen(message), secrets,
					     PM_PIA_QUOTE_MAX);
	return pm_pia_quote_redacted(body, len, secrets, PM_PIA_QUOTE_MAX);
}

char *
pm_pia_parse_token_reply(guint status, const guint8 *body, gsize len, GError **error)
{
	g_autoptr(JsonParser) parser = NULL;
	JsonObject *object;
	const char *token;

	if (body == NULL)
		len = 0;
	if (status != 200) {
		g_autofree char *message = reply_message(body, len, NULL);
		g_set_error(error, PM_PIA_CODEC_ERROR, PM_PIA_CODEC_ERROR_STATUS, "HTTP %u: %s",
			    status, message);
		return NULL;
	}
	/* a 200 may hold a token: neither its body nor the parser's message about it
	 * (which may quote it) is shown */
	object = pm_natpmp_http_parse_object(body, len, &parser, NULL);
	if (object == NULL) {
		g_set_error_literal(error, PM_PIA_CODEC_ERROR, PM_PIA_CODEC_ERROR_INVALID,
				    "not a token reply: the body is not a JSON object");
		return NULL;
	}
	token = get_string(object, "token");
	if (token == NULL || token[0] == '\0') {
		g_set_error_literal(error, PM_PIA_CODEC_ERROR, PM_PIA_CODEC_ERROR_INVALID,
				    "not a token reply: no non-empty \"token\" string");
		return NULL;
	}
	return g_strdup(token);
}

gboolean
pm_pia_parse_signature_reply(guint status, const guint8 *body, gsize len,
			     const char *const *secrets, char **payload, char **signature,
			     GError **error)
{
	g_autoptr(JsonParser) parser = NULL;
	g_autoptr(GError) local_error = NULL;
	JsonObject *object;
	const char *value;

	*payload = NULL;
	*signature = NULL;
	if (body == NULL)
		len = 0;
	if (status != 200) {
		g_autofree char *message = reply_message(body, len, secrets);
		g_set_error(error, PM_PIA_CODEC_ERROR, PM_PIA_CODEC_ERROR_STATUS, "HTTP %u: %s",
			    status, message);
		return FALSE;
	}
	object = pm_natpmp_http_parse_object(body, len, &parser, &local_error);
	if (object == NULL) {
		/* the parser's message may quote the body */
		g_autofree char *why = pm_pia_quote_redacted((const guint8 *)local_error->message,
							     strlen(local_error->message), secrets,
							     PM_PIA_QUOTE_MAX);
		g_set_error(error, PM_PIA_CODEC_ERROR, PM_PIA_CODEC_ERROR_INVALID,
			    "not a getSignature reply: %s", why);
		return FALSE;
	}
	value = get_string(object, "status");
	if (g_strcmp0(value, "OK") != 0) {
		/* a refusal carries no payload: its message may be quoted */
		g_autofree char *message = reply_message(body, len, secrets);
		g_set_error(error, PM_PIA_CODEC_ERROR, PM_PIA_CODEC_ERROR_STATUS,
			    "getSignature refused: %s", message);
		return FALSE;
	}
	value = get_string(object, "payload");
	if (value == NULL || value[0] == '\0') {
		g_set_error_literal(error, PM_PIA_CODEC_ERROR, PM_PIA_CODEC_ERROR_INVALID,
				    "not a getSignature reply: no non-empty \"payload\" string");
		return FALSE;
	}
	*payload = g_strdup(value);
	value = get_string(object, "signature");
	if (value == NULL || value[0] == '\0') {
		g_clear_pointer(payload, g_free);
		g_set_error_literal(error, PM_PIA_CODEC_ERROR, PM_PIA_CODEC_ERROR_INVALID,
				    "not a getSignature reply: no non-empty \"signature\" string");
		return FALSE;
	}
	*signature = g_strdup(value);
	return TRUE;
}

/* PIA's "Port 51813 is busy. Please use another server" in any case (gluetun's
 * case-sensitive match misses it) */
static gboolean
says_port_busy(const char *message)
{
	g_autofree char *lower = g_ascii_strdown(message, -1);
	const char *port = strstr(lower, "port");
	return port != NULL && strstr(port, "is busy") != NULL;
}

PmPiaBindKind
pm_pia_parse_bind_reply(guint status, const guint8 *body, gsize len, const char *const *secrets,
			char **message)
{
	g_autoptr(JsonParser) parser = NULL;
	g_autofree char *said = NULL;
	JsonObject *object;
	PmPiaBindKind kind;

	if (body == NULL)
		len = 0;
	object = pm_natpmp_http_parse_object(body, len, &parser, NULL);
	said = reply_message(body, len, secrets);
	if (status == 200 && object != NULL && g_strcmp0(get_string(object, "status"), "OK") == 0) {
		if (message != NULL)
			*message = g_strdup("");
		return PM_PIA_BIND_OK;
	}
	if (status == 409 || says_port_busy(said))
		kind = PM_PIA_BIND_PORT_BUSY;
	else if (status == 401)
		kind = PM_PIA_BIND_UNAUTHORIZED;
	else
		kind = PM_PIA_BIND_FAILED;
	if (message != NULL) {
		if (status == 200 && object == NULL)
			*message = g_strdup_printf("not a bindPort reply: %s", said);
		else
			*message = g_steal_pointer(&said);
	}
	return kind;
}

const char *
pm_pia_bind_kind_to_string(PmPiaBindKind kind)
{
	static const char *const names[] = {"ok", "port-busy", "unauthorized", "failed"};
	if ((guint)kind >= G_N_ELEMENTS(names))
		return "unknown";
	return names[kind];
}

/* g_base64_decode() skips what is not base64: check the whole text is, padded */
static gboolean
is_base64(const char *text, gsize len)
{
	gsize padding = 0;

	if (len == 0 || len % 4 != 0)
		return FALSE;
	for (gsize i = 0; i < len; i++) {
		char c = text[i];
		if (c == '=') {
			padding++;
			continue;
		}
		if (padding > 0)
			return FALSE;
		if (!g_ascii_isalnum(c) && c != '+' && c != '/')
			return FALSE;
	}
	return padding <= 2;
}

gboolean
pm_pia_decode_payload(const char *payload, PmPiaPayload *out, GError **error)
{
	g_autoptr(JsonParser) parser = NULL;
	g_autoptr(GDateTime) expires = NULL;
	g_autoptr(GTimeZone) utc = NULL;
	g_autofree guint8 *json = NULL;
	gsize payload_len = strlen(payload);
	gsize json_len = 0;
	JsonObject *object;
	JsonNode *node;
	const char *value;
	gint64 port;

	memset(out, 0, sizeof(*out));
	if (payload_len > MAX_PAYLOAD_LEN || !is_base64(payload, payload_len)) {
		g_set_error_literal(error, PM_PIA_CODEC_ERROR, PM_PIA_CODEC_ERROR_INVALID,
				    "the payload is not padded standard base64");
		return FALSE;
	}
	json = g_base64_decode(payload, &json_len);
	/* it holds the token: the parser's message, which may quote it, is not shown */
	object = pm_natpmp_http_parse_object(json, json_len, &parser, NULL);
	if (object == NULL) {
		g_set_error_literal(error, PM_PIA_CODEC_ERROR, PM_PIA_CODEC_ERROR_INVALID,
				    "the payload is not a JSON object");
		return FALSE;
	}
	value = get_string(object, "token");
	if (value == NULL || value[0] == '\0') {
		g_set_error_literal(error, PM_PIA_CODEC_ERROR, PM_PIA_CODEC_ERROR_INVALID,
				    "the payload has no non-empty \"token\" string");
		return FALSE;
	}
	node = json_object_get_member(object, "port");
	if (node == NULL || !JSON_NODE_HOLDS_VALUE(node) ||
	    json_node_get_value_type(node) != G_TYPE_INT64 ||
	    (port = json_node_get_int(node)) < 1 || port > G_MAXUINT16) {
		g_set_error_literal(error, PM_PIA_CODEC_ERROR, PM_PIA_CODEC_ERROR_INVALID,
				    "the payload's \"port\" is not an integer from 1 to 65535");
		return FALSE;
	}
	value = get_string(object, "expires_at");
	utc = g_time_zone_new_utc();
	/* RFC 3339 has a zone and a 'T' (GLib also reads other ISO 8601 forms) */
	if (value != NULL && strchr(value, 'T') != NULL && strlen(value) <= 64)
		expires = g_date_time_new_from_iso8601(value, utc);
	if (expires == NULL) {
		g_autofree char *quoted =
		    value != NULL ? pm_natpmp_http_quote_body((const guint8 *)value, strlen(value),
							      64)
				  : g_strdup("missing or not a string");
		g_set_error(error, PM_PIA_CODEC_ERROR, PM_PIA_CODEC_ERROR_INVALID,
			    "the payload's \"expires_at\" is not an RFC 3339 time: %s", quoted);
		return FALSE;
	}
	out->port = (guint16)port;
	out->expires_at =
	    g_date_time_to_unix(expires) * G_USEC_PER_SEC + g_date_time_get_microsecond(expires);
	return TRUE;
}

static char *
escape(const char *value)
{
	return g_uri_escape_string(value, NULL, FALSE);
}

char *
pm_pia_build_signature_query(const char *token)
{
	g_autofree char *t = escape(token);
	return g_strconcat("token=", t, NULL);
}

char *
pm_pia_build_bind_query(const char *payload, const char *signature)
{
	g_autofree char *p = escape(payload);
	g_autofree char *s = escape(signature);
	return g_strconcat("payload=", p, "&signature=", s, NULL);
}

char *
pm_pia_build_token_form(const char *username, const char *password)
{
	g_autofree char *u = escape(username);
	g_autofree char *p = escape(password);
	char *form = g_strconcat("username=", u, "&password=", p, NULL);
	/* the escaped copy of the password is wiped as the caller wipes the form */
	memset(p, 0, strlen(p));
	return form;
}

static guint
add_candidate(guint32 *out, guint n, guint32 address)
{
	for (guint i = 0; i < n; i++) {
		if (out[i] == address)
			return n;
	}
	out[n] = address;
	return n + 1;
}

guint
pm_pia_gateway_candidates(guint32 route_gateway, guint32 out[PM_PIA_MAX_GATEWAY_CANDIDATES])
{
	guint32 host = g_ntohl(route_gateway);
	guint n = 0;

	if (route_gateway == 0)
		return 0;
	n = add_candidate(out, n, route_gateway);
	n = add_candidate(out, n, g_htonl((host & 0xffff0000u) | 0x00008001u));
	n = add_candidate(out, n, g_htonl((host & 0xffff0000u) | 0x00000001u));
	return n;
}
