/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <json-glib/json-glib.h>
#include <string.h>

#include "json-body.h"
#include "natpmp-http.h"

/* the service's objects are flat: deeper nesting is not its reply */
#define MAX_NESTING 16

G_DEFINE_QUARK(pm-natpmp-http-codec-error-quark, pm_natpmp_http_codec_error)

GBytes *
pm_natpmp_http_build_forward_request(guint16 internal_port, PmProtocols protocol,
				     guint32 duration)
{
	char *text;

	g_return_val_if_fail(protocol == PM_PROTOCOL_TCP || protocol == PM_PROTOCOL_UDP, NULL);
	text = g_strdup_printf("{\"internal_port\":%u,\"protocol\":\"%s\",\"duration\":%u}",
			       internal_port, protocol == PM_PROTOCOL_TCP ? "tcp" : "udp",
			       duration);
	return g_bytes_new_take(text, strlen(text));
}

char *
pm_natpmp_http_quote_body(const guint8 *body, gsize len, gsize max_chars)
{
	GString *out;
	gsize chars = 0;
	gsize i = 0;

	if (body == NULL || len == 0)
		return g_strdup("(empty body)");
	out = g_string_sized_new(MIN(len, max_chars * 4) + 4);
	while (i < len) {
		const char *p = (const char *)body + i;
		gunichar c = g_utf8_get_char_validated(p, (gssize)(len - i));
		gsize step;

		if (chars == max_chars) {
			g_string_append(out, "…");
			break;
		}
		/* invalid UTF-8 and NUL bytes are one replacement character per byte */
		if (c == (gunichar)-1 || c == (gunichar)-2 || c == 0) {
			c = 0xfffd;
			step = 1;
		} else {
			step = (gsize)(g_utf8_next_char(p) - p);
		}
		if (c == '\n' || c == '\r' || c == '\t')
			g_string_append_c(out, ' ');
		else if (g_unichar_iscntrl(c) || !g_unichar_isdefined(c))
			g_string_append_unichar(out, 0xfffd);
		else
			g_string_append_unichar(out, c);
		chars++;
		i += step;
	}
	/* a body of blanks says nothing: say that it had some */
	if (g_strstrip(out->str)[0] == '\0') {
		g_string_free(out, TRUE);
		return g_strdup("(blank body)");
	}
	g_string_set_size(out, strlen(out->str));
	return g_string_free(out, FALSE);
}

JsonObject *
pm_natpmp_http_parse_object(const guint8 *body, gsize len, JsonParser **parser_out,
			    GError **error)
{
	g_autoptr(JsonParser) parser = NULL;
	g_autoptr(GError) local_error = NULL;
	const char *why;
	JsonNode *root;

	if (len == 0) {
		g_set_error_literal(error, PM_NATPMP_HTTP_CODEC_ERROR,
				    PM_NATPMP_HTTP_CODEC_ERROR_INVALID, "the body is empty");
		return NULL;
	}
	if (len > PM_NATPMP_HTTP_MAX_REPLY) {
		g_set_error(error, PM_NATPMP_HTTP_CODEC_ERROR, PM_NATPMP_HTTP_CODEC_ERROR_INVALID,
			    "the body is too large (%" G_GSIZE_FORMAT " bytes)", len);
		return NULL;
	}
	/* json-glib must see neither NUL bytes nor invalid UTF-8 */
	if (!g_utf8_validate((const char *)body, (gssize)len, NULL)) {
		g_set_error_literal(error, PM_NATPMP_HTTP_CODEC_ERROR,
				    PM_NATPMP_HTTP_CODEC_ERROR_INVALID,
				    "the body is not UTF-8 text");
		return NULL;
	}
	why = pm_json_body_check_shape(body, len, MAX_NESTING);
	if (why != NULL) {
		g_set_error(error, PM_NATPMP_HTTP_CODEC_ERROR, PM_NATPMP_HTTP_CODEC_ERROR_INVALID,
			    "the body is %s", why);
		return NULL;
	}
	parser = json_parser_new_immutable();
	if (!json_parser_load_from_data(parser, (const char *)body, (gssize)len, &local_error)) {
		/* json-glib quotes the offending text as it is: a newline, a control byte */
		g_autofree char *quoted = pm_natpmp_http_quote_body(
		    (const guint8 *)local_error->message, strlen(local_error->message),
		    PM_NATPMP_HTTP_QUOTE_MAX);
		g_set_error(error, PM_NATPMP_HTTP_CODEC_ERROR, PM_NATPMP_HTTP_CODEC_ERROR_INVALID,
			    "the body is not JSON: %s", quoted);
		return NULL;
	}
	root = json_parser_get_root(parser);
	if (root == NULL || !JSON_NODE_HOLDS_OBJECT(root)) {
		g_set_error_literal(error, PM_NATPMP_HTTP_CODEC_ERROR,
				    PM_NATPMP_HTTP_CODEC_ERROR_INVALID,
				    "the body is not a JSON object");
		return NULL;
	}
	*parser_out = g_steal_pointer(&parser);
	return json_node_get_object(root);
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

/* an integer member within [min, max] */
static gboolean
get_integer(JsonObject *object, const char *member, gint64 min, gint64 max, gint64 *out,
	    GError **error)
{
	JsonNode *node = json_object_get_member(object, member);
	gint64 value;

	if (node == NULL) {
		g_set_error(error, PM_NATPMP_HTTP_CODEC_ERROR, PM_NATPMP_HTTP_CODEC_ERROR_INVALID,
			    "\"%s\" is missing", member);
		return FALSE;
	}
	if (!JSON_NODE_HOLDS_VALUE(node) || json_node_get_value_type(node) != G_TYPE_INT64) {
		g_set_error(error, PM_NATPMP_HTTP_CODEC_ERROR, PM_NATPMP_HTTP_CODEC_ERROR_INVALID,
			    "\"%s\" is not an integer", member);
		return FALSE;
	}
	value = json_node_get_int(node);
	if (value < min || value > max) {
		g_set_error(error, PM_NATPMP_HTTP_CODEC_ERROR, PM_NATPMP_HTTP_CODEC_ERROR_INVALID,
			    "\"%s\" is %" G_GINT64_FORMAT ", not from %" G_GINT64_FORMAT
			    " to %" G_GINT64_FORMAT,
			    member, value, min, max);
		return FALSE;
	}
	*out = value;
	return TRUE;
}

/* 200: {"internal_port": u16, "external_port": u16, "protocol": "tcp"|"udp", "duration": u32} */
static gboolean
parse_granted(const guint8 *body, gsize len, PmNatpmpHttpReply *reply, GError **error)
{
	g_autoptr(JsonParser) parser = NULL;
	JsonObject *object = pm_natpmp_http_parse_object(body, len, &parser, error);
	const char *protocol;
	gint64 internal_port, external_port, duration;

	if (object == NULL)
		return FALSE;
	if (!get_integer(object, "internal_port", 1, G_MAXUINT16, &internal_port, error) ||
	    !get_integer(object, "external_port", 1, G_MAXUINT16, &external_port, error) ||
	    !get_integer(object, "duration", 0, G_MAXUINT32, &duration, error))
		return FALSE;
	protocol = get_string(object, "protocol");
	if (g_strcmp0(protocol, "tcp") == 0) {
		reply->protocol = PM_PROTOCOL_TCP;
	} else if (g_strcmp0(protocol, "udp") == 0) {
		reply->protocol = PM_PROTOCOL_UDP;
	} else {
		g_set_error_literal(error, PM_NATPMP_HTTP_CODEC_ERROR,
				    PM_NATPMP_HTTP_CODEC_ERROR_INVALID,
				    "\"protocol\" is not \"tcp\" or \"udp\"");
		return FALSE;
	}
	reply->internal_port = (guint16)internal_port;
	reply->external_port = (guint16)external_port;
	reply->duration = (guint32)duration;
	return TRUE;
}

/* the service's {"error": "..."}, else the body itself */
static char *
error_message(const guint8 *body, gsize len)
{
	g_autoptr(JsonParser) parser = NULL;
	JsonObject *object = pm_natpmp_http_parse_object(body, len, &parser, NULL);
	const char *message = object != NULL ? get_string(object, "error") : NULL;

	if (message != NULL && message[0] != '\0')
		return pm_natpmp_http_quote_body((const guint8 *)message, strlen(message),
						 PM_NATPMP_HTTP_QUOTE_MAX);
	return pm_natpmp_http_quote_body(body, len, PM_NATPMP_HTTP_QUOTE_MAX);
}

void
pm_natpmp_http_parse_forward_reply(guint status, const guint8 *body, gsize len,
				   PmNatpmpHttpReply *reply)
{
	g_autoptr(GError) error = NULL;

	memset(reply, 0, sizeof(*reply));
	reply->status = status;
	if (body == NULL)
		len = 0;
	switch (status) {
	case 200:
		if (parse_granted(body, len, reply, &error)) {
			reply->kind = PM_NATPMP_HTTP_REPLY_GRANTED;
			return;
		}
		reply->kind = PM_NATPMP_HTTP_REPLY_UNEXPECTED;
		{
			g_autofree char *quoted =
			    pm_natpmp_http_quote_body(body, len, PM_NATPMP_HTTP_QUOTE_MAX);
			reply->message = g_strdup_printf("not a mapping: %s: %s", error->message,
							 quoted);
		}
		return;
	case 401:
		reply->kind = PM_NATPMP_HTTP_REPLY_UNAUTHORIZED;
		reply->message = error_message(body, len);
		return;
	case 400:
	case 415:
	case 422:
		reply->kind = PM_NATPMP_HTTP_REPLY_CLIENT_BUG;
		reply->message = error_message(body, len);
		return;
	default:
		break;
	}
	if (status >= 500 && status <= 599)
		reply->kind = PM_NATPMP_HTTP_REPLY_SERVICE_ERROR;
	else
		reply->kind = PM_NATPMP_HTTP_REPLY_UNEXPECTED;
	reply->message = error_message(body, len);
}

void
pm_natpmp_http_reply_clear(PmNatpmpHttpReply *reply)
{
	g_clear_pointer(&reply->message, g_free);
}

const char *
pm_natpmp_http_reply_kind_to_string(PmNatpmpHttpReplyKind kind)
{
	static const char *const names[] = {"granted", "unauthorized", "client-bug",
					    "service-error", "unexpected"};
	if ((guint)kind >= G_N_ELEMENTS(names))
		return "unknown";
	return names[kind];
}

gboolean
pm_natpmp_http_parse_health(guint status, const guint8 *body, gsize len, char **timestamp,
			    GError **error)
{
	g_autoptr(JsonParser) parser = NULL;
	g_autoptr(GError) local_error = NULL;
	JsonObject *object;
	const char *value;

	if (timestamp != NULL)
		*timestamp = NULL;
	if (body == NULL)
		len = 0;
	if (status != 200) {
		g_autofree char *message = error_message(body, len);
		g_set_error(error, PM_NATPMP_HTTP_CODEC_ERROR, PM_NATPMP_HTTP_CODEC_ERROR_STATUS,
			    "HTTP %u: %s", status, message);
		return FALSE;
	}
	object = pm_natpmp_http_parse_object(body, len, &parser, &local_error);
	if (object == NULL) {
		g_autofree char *quoted =
		    pm_natpmp_http_quote_body(body, len, PM_NATPMP_HTTP_QUOTE_MAX);
		g_set_error(error, PM_NATPMP_HTTP_CODEC_ERROR, PM_NATPMP_HTTP_CODEC_ERROR_INVALID,
			    "not a health reply: %s: %s", local_error->message, quoted);
		return FALSE;
	}
	value = get_string(object, "status");
	if (g_strcmp0(value, "healthy") != 0) {
		g_autofree char *quoted = NULL;
		if (value == NULL) {
			g_set_error_literal(error, PM_NATPMP_HTTP_CODEC_ERROR,
					    PM_NATPMP_HTTP_CODEC_ERROR_INVALID,
					    "not a health reply: no \"status\" string");
			return FALSE;
		}
		quoted = pm_natpmp_http_quote_body((const guint8 *)value, strlen(value),
						   PM_NATPMP_HTTP_QUOTE_MAX);
		g_set_error(error, PM_NATPMP_HTTP_CODEC_ERROR, PM_NATPMP_HTTP_CODEC_ERROR_STATUS,
			    "the service says its status is \"%s\"", quoted);
		return FALSE;
	}
	value = get_string(object, "timestamp");
	if (timestamp != NULL && value != NULL)
		*timestamp = pm_natpmp_http_quote_body((const guint8 *)value, strlen(value),
						       PM_NATPMP_HTTP_QUOTE_MAX);
	return TRUE;
}
