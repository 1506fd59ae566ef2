/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <json-glib/json-glib.h>
#include <string.h>

#include "natpmp-http.h"
#include "transmission.h"

#define MAX_SESSION_ID_LEN 256

G_DEFINE_QUARK(pm-transmission-codec-error-quark, pm_transmission_codec_error)

GBytes *
pm_transmission_build_session_get(guint tag)
{
	char *text = g_strdup_printf("{\"method\":\"session-get\",\"arguments\":{\"fields\":["
				     "\"peer-port\",\"peer-port-random-on-start\","
				     "\"port-forwarding-enabled\",\"rpc-version\"]},\"tag\":%u}",
				     tag);
	return g_bytes_new_take(text, strlen(text));
}

GBytes *
pm_transmission_build_session_set(guint16 peer_port, guint tag)
{
	/* a random port at start or UPnP/NAT-PMP of its own would take the port away again */
	char *text = g_strdup_printf("{\"method\":\"session-set\",\"arguments\":{"
				     "\"peer-port\":%u,\"peer-port-random-on-start\":false,"
				     "\"port-forwarding-enabled\":false},\"tag\":%u}",
				     peer_port, tag);
	return g_bytes_new_take(text, strlen(text));
}

static JsonNode *
get_value(JsonObject *object, const char *member, GType type)
{
	JsonNode *node = json_object_get_member(object, member);
	if (node == NULL || !JSON_NODE_HOLDS_VALUE(node) || json_node_get_value_type(node) != type)
		return NULL;
	return node;
}

static gboolean
set_invalid(GError **error, const char *why)
{
	g_set_error(error, PM_TRANSMISSION_CODEC_ERROR, PM_TRANSMISSION_CODEC_ERROR_INVALID,
		    "not a Transmission RPC reply: %s", why);
	return FALSE;
}

/* the envelope: "result" is "success" and "tag" (if any) is ours; its "arguments" object
 * in *@arguments (NULL if absent) */
static JsonObject *
parse_envelope(const guint8 *body, gsize len, guint tag, JsonParser **parser_out,
	       JsonObject **arguments, GError **error)
{
	g_autoptr(JsonParser) parser = NULL;
	g_autoptr(GError) local_error = NULL;
	JsonObject *object;
	JsonNode *node;
	const char *result;

	*arguments = NULL;
	if (body == NULL)
		len = 0;
	object = pm_natpmp_http_parse_object(body, len, &parser, &local_error);
	if (object == NULL) {
		set_invalid(error, local_error->message);
		return NULL;
	}
	node = get_value(object, "result", G_TYPE_STRING);
	if (node == NULL) {
		set_invalid(error, "no \"result\" string");
		return NULL;
	}
	node = json_object_get_member(object, "tag");
	if (node != NULL && (get_value(object, "tag", G_TYPE_INT64) == NULL ||
			     json_node_get_int(node) != (gint64)tag)) {
		g_autofree char *why = g_strdup_printf("\"tag\" is not %u, the request's", tag);
		set_invalid(error, why);
		return NULL;
	}
	result = json_node_get_string(get_value(object, "result", G_TYPE_STRING));
	if (strcmp(result, "success") != 0) {
		g_autofree char *quoted = pm_natpmp_http_quote_body(
		    (const guint8 *)result, strlen(result), PM_TRANSMISSION_QUOTE_MAX);
		g_set_error(error, PM_TRANSMISSION_CODEC_ERROR,
			    PM_TRANSMISSION_CODEC_ERROR_REFUSED, "Transmission answered \"%s\"",
			    quoted);
		return NULL;
	}
	node = json_object_get_member(object, "arguments");
	if (node != NULL) {
		if (!JSON_NODE_HOLDS_OBJECT(node)) {
			set_invalid(error, "\"arguments\" is not an object");
			return NULL;
		}
		*arguments = json_node_get_object(node);
	}
	*parser_out = g_steal_pointer(&parser);
	return object;
}

static gboolean
get_boolean(JsonObject *arguments, const char *member, gboolean *out, GError **error)
{
	JsonNode *node = get_value(arguments, member, G_TYPE_BOOLEAN);

	if (node == NULL) {
		g_autofree char *why = g_strdup_printf("no \"%s\" boolean", member);
		return set_invalid(error, why);
	}
	*out = json_node_get_boolean(node);
	return TRUE;
}

gboolean
pm_transmission_parse_session_get(const guint8 *body, gsize len, guint tag,
				  PmTransmissionSession *out, GError **error)
{
	g_autoptr(JsonParser) parser = NULL;
	PmTransmissionSession session = {0};
	JsonObject *arguments = NULL;
	JsonNode *node;
	gint64 value;

	if (parse_envelope(body, len, tag, &parser, &arguments, error) == NULL)
		return FALSE;
	if (arguments == NULL)
		return set_invalid(error, "no \"arguments\" object");
	node = get_value(arguments, "peer-port", G_TYPE_INT64);
	if (node == NULL)
		return set_invalid(error, "no \"peer-port\" integer");
	value = json_node_get_int(node);
	if (value < 0 || value > G_MAXUINT16) {
		g_autofree char *why = g_strdup_printf(
		    "\"peer-port\" is %" G_GINT64_FORMAT ", not from 0 to 65535", value);
		return set_invalid(error, why);
	}
	session.peer_port = (guint16)value;
	if (!get_boolean(arguments, "peer-port-random-on-start",
			 &session.peer_port_random_on_start, error) ||
	    !get_boolean(arguments, "port-forwarding-enabled", &session.port_forwarding_enabled,
			 error))
		return FALSE;
	/* informative only: a reply without it is still an answer */
	node = get_value(arguments, "rpc-version", G_TYPE_INT64);
	if (node != NULL && json_node_get_int(node) > 0 && json_node_get_int(node) <= G_MAXUINT)
		session.rpc_version = (guint)json_node_get_int(node);
	*out = session;
	return TRUE;
}

gboolean
pm_transmission_parse_session_set(const guint8 *body, gsize len, guint tag, GError **error)
{
	g_autoptr(JsonParser) parser = NULL;
	JsonObject *arguments = NULL;

	return parse_envelope(body, len, tag, &parser, &arguments, error) != NULL;
}

gboolean
pm_transmission_session_id_is_valid(const char *id)
{
	gsize len = id != NULL ? strlen(id) : 0;

	if (len == 0 || len > MAX_SESSION_ID_LEN)
		return FALSE;
	for (gsize i = 0; i < len; i++) {
		if (id[i] <= ' ' || id[i] > '~')
			return FALSE;
	}
	return TRUE;
}

char *
pm_transmission_session_describe(const PmTransmissionSession *session)
{
	return g_strdup_printf("peer-port %u%s%s", session->peer_port,
			       session->peer_port_random_on_start
				   ? ", peer-port-random-on-start true"
				   : "",
			       session->port_forwarding_enabled ? ", port-forwarding-enabled true"
								: "");
}
