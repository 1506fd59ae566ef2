/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <json-glib/json-glib.h>
#include <string.h>

#include "json-body.h"
#include "deluge.h"
#include "natpmp-http.h"

/* deluge-web's replies nest three deep (web.get_hosts); far more is not its reply, and
 * json-glib's parser recurses */
#define MAX_NESTING 32

G_DEFINE_QUARK(pm-deluge-codec-error-quark, pm_deluge_codec_error)

/* @text as a JSON string literal into @out, which was sized for it: no reallocation
 * leaves a copy of a password behind */
static void
append_json_string(GString *out, const char *text)
{
	g_string_append_c(out, '"');
	for (const char *p = text; *p != '\0'; p++) {
		guchar c = (guchar)*p;
		if (c == '"' || c == '\\')
			g_string_append_printf(out, "\\%c", c);
		else if (c < 0x20)
			g_string_append_printf(out, "\\u%04x", c);
		else
			g_string_append_c(out, (char)c);
	}
	g_string_append_c(out, '"');
}

static char *
build(const char *method, const char *params_prefix, const char *string_param,
      const char *params_suffix, guint id)
{
	/* each byte of the string is at most 6 escaped, and the rest fits in 128 */
	gsize size = 128 + strlen(method) + strlen(params_prefix) + strlen(params_suffix) +
		     (string_param != NULL ? 6 * strlen(string_param) : 0);
	GString *out = g_string_sized_new(size);

	g_string_append(out, "{\"method\":\"");
	g_string_append(out, method);
	g_string_append(out, "\",\"params\":");
	g_string_append(out, params_prefix);
	if (string_param != NULL)
		append_json_string(out, string_param);
	g_string_append(out, params_suffix);
	g_string_append_printf(out, ",\"id\":%u}", id);
	g_warn_if_fail(out->len < size);
	return g_string_free(out, FALSE);
}

char *
pm_deluge_build_login(const char *password, guint id)
{
	return build("auth.login", "[", password, "]", id);
}

char *
pm_deluge_build_call(const char *method, guint id)
{
	return build(method, "[]", NULL, "", id);
}

char *
pm_deluge_build_connect(const char *host_id, guint id)
{
	return build("web.connect", "[", host_id, "]", id);
}

char *
pm_deluge_build_get_ports(guint id)
{
	return build("core.get_config_values", "[[\"listen_ports\",\"random_port\"]]", NULL, "",
		     id);
}

char *
pm_deluge_build_set_port(guint16 port, guint id)
{
	g_autofree char *params = g_strdup_printf(
		"[{\"listen_ports\":[%u,%u],\"random_port\":false}]", port, port);
	return build("core.set_config", params, NULL, "", id);
}

static gboolean
set_invalid(GError **error, const char *format, ...) G_GNUC_PRINTF(2, 3);

static gboolean
set_invalid(GError **error, const char *format, ...)
{
	g_autofree char *message = NULL;
	va_list args;

	va_start(args, format);
	message = g_strdup_vprintf(format, args);
	va_end(args);
	g_set_error_literal(error, PM_DELUGE_CODEC_ERROR, PM_DELUGE_CODEC_ERROR_INVALID, message);
	return FALSE;
}

static char *
quote(const guint8 *text, gsize len)
{
	return pm_natpmp_http_quote_body(text, len, PM_DELUGE_QUOTE_MAX);
}

/* what a failing call's "message" says: Deluge's own failures carry a Python traceback,
 * whose last line is the one that explains ("TypeError: 'int' object is not iterable") */
static char *
rpc_message(const char *message)
{
	g_auto(GStrv) lines = NULL;
	const char *best = NULL;

	if (strstr(message, "Traceback") == NULL)
		return quote((const guint8 *)message, strlen(message));
	lines = g_strsplit(message, "\n", -1);
	for (guint i = 0; lines[i] != NULL; i++) {
		g_strstrip(lines[i]);
		if (lines[i][0] != '\0' && strcmp(lines[i], "]") != 0)
			best = lines[i];
	}
	if (best == NULL)
		best = message;
	return quote((const guint8 *)best, strlen(best));
}

static gboolean
node_get_int(JsonNode *node, gint64 *out)
{
	if (node == NULL || !JSON_NODE_HOLDS_VALUE(node) ||
	    json_node_get_value_type(node) != G_TYPE_INT64)
		return FALSE;
	*out = json_node_get_int(node);
	return TRUE;
}

gboolean
pm_deluge_parse_reply(guint status, const guint8 *body, gsize len, guint id,
		      JsonParser **parser_out, JsonNode **result, gint64 *rpc_code,
		      GError **error)
{
	g_autoptr(JsonParser) parser = NULL;
	g_autoptr(GError) local_error = NULL;
	JsonObject *object;
	JsonNode *root;
	JsonNode *error_node;
	JsonNode *result_node;
	const char *why;
	gint64 reply_id;

	*parser_out = NULL;
	*result = NULL;
	if (rpc_code != NULL)
		*rpc_code = -1;
	if (body == NULL)
		len = 0;
	if (status != 200) {
		g_autofree char *quoted = quote(body, len);
		return set_invalid(error, "HTTP %u%s: %s", status,
				   status == 404 ? " (is URL= deluge-web's /json?)" : "", quoted);
	}
	if (len == 0)
		return set_invalid(error, "not a JSON-RPC reply: the body is empty");
	if (len > PM_DELUGE_MAX_REPLY)
		return set_invalid(error,
				   "not a JSON-RPC reply: the body is too large (%" G_GSIZE_FORMAT
				   " bytes)",
				   len);
	/* json-glib must see neither NUL bytes nor invalid UTF-8 */
	if (!g_utf8_validate((const char *)body, (gssize)len, NULL))
		return set_invalid(error, "not a JSON-RPC reply: the body is not UTF-8 text");
	why = pm_json_body_check_shape(body, len, MAX_NESTING);
	if (why != NULL) {
		g_autofree char *quoted = quote(body, len);
		return set_invalid(error, "not a JSON-RPC reply: the body is %s: %s", why, quoted);
	}
	parser = json_parser_new_immutable();
	if (!json_parser_load_from_data(parser, (const char *)body, (gssize)len, &local_error)) {
		/* json-glib quotes the offending text as it is: a newline, a control byte */
		g_autofree char *quoted = quote((const guint8 *)local_error->message,
						strlen(local_error->message));
		return set_invalid(error, "not a JSON-RPC reply: the body is not JSON: %s",
				   quoted);
	}
	root = json_parser_get_root(parser);
	if (root == NULL || !JSON_NODE_HOLDS_OBJECT(root))
		return set_invalid(error, "not a JSON-RPC reply: the body is not a JSON object");
	object = json_node_get_object(root);
	/* deluge-web answers a request it could not decode with "id": null */
	if (!node_get_int(json_object_get_member(object, "id"), &reply_id)) {
		error_node = json_object_get_member(object, "error");
		if (error_node != NULL && JSON_NODE_HOLDS_OBJECT(error_node)) {
			JsonObject *rpc_error = json_node_get_object(error_node);
			JsonNode *message = json_object_get_member(rpc_error, "message");
			if (message != NULL && JSON_NODE_HOLDS_VALUE(message) &&
			    json_node_get_value_type(message) == G_TYPE_STRING) {
				g_autofree char *quoted =
					rpc_message(json_node_get_string(message));
				return set_invalid(error,
						   "deluge-web could not read request %u: %s", id,
						   quoted);
			}
		}
		return set_invalid(error, "not a JSON-RPC reply: no integer \"id\"");
	}
	if (reply_id != (gint64)id)
		return set_invalid(error,
				   "the reply to request %u has \"id\" %" G_GINT64_FORMAT
				   ": another request's reply",
				   id, reply_id);
	error_node = json_object_get_member(object, "error");
	if (error_node == NULL)
		return set_invalid(error, "not a JSON-RPC reply: no \"error\"");
	if (!JSON_NODE_HOLDS_NULL(error_node)) {
		JsonObject *rpc_error;
		JsonNode *message;
		g_autofree char *quoted = NULL;
		gint64 code = -1;

		if (!JSON_NODE_HOLDS_OBJECT(error_node))
			return set_invalid(error,
					   "not a JSON-RPC reply: \"error\" is neither null nor "
					   "an object");
		rpc_error = json_node_get_object(error_node);
		message = json_object_get_member(rpc_error, "message");
		if (message != NULL && JSON_NODE_HOLDS_VALUE(message) &&
		    json_node_get_value_type(message) == G_TYPE_STRING)
			quoted = rpc_message(json_node_get_string(message));
		else
			quoted = g_strdup("(no message)");
		node_get_int(json_object_get_member(rpc_error, "code"), &code);
		if (rpc_code != NULL)
			*rpc_code = code;
		g_set_error(error, PM_DELUGE_CODEC_ERROR, PM_DELUGE_CODEC_ERROR_RPC,
			    "%s (code %" G_GINT64_FORMAT ")", quoted, code);
		return FALSE;
	}
	result_node = json_object_get_member(object, "result");
	if (result_node == NULL)
		return set_invalid(error, "not a JSON-RPC reply: no \"result\"");
	*result = result_node;
	*parser_out = g_steal_pointer(&parser);
	return TRUE;
}

gboolean
pm_deluge_result_get_boolean(JsonNode *result, gboolean *out, GError **error)
{
	if (!JSON_NODE_HOLDS_VALUE(result) || json_node_get_value_type(result) != G_TYPE_BOOLEAN)
		return set_invalid(error, "the result is not true or false");
	*out = json_node_get_boolean(result);
	return TRUE;
}

static const char *
array_get_string(JsonArray *array, guint index)
{
	JsonNode *node = index < json_array_get_length(array) ?
				 json_array_get_element(array, index) :
				 NULL;
	if (node == NULL || !JSON_NODE_HOLDS_VALUE(node) ||
	    json_node_get_value_type(node) != G_TYPE_STRING)
		return NULL;
	return json_node_get_string(node);
}

char *
pm_deluge_result_first_host(JsonNode *result, char **description, GError **error)
{
	JsonArray *hosts;
	JsonArray *host;
	JsonNode *first;
	const char *host_id;
	const char *address;
	gint64 port = 0;

	*description = NULL;
	if (!JSON_NODE_HOLDS_ARRAY(result)) {
		set_invalid(error, "web.get_hosts: the result is not a list of hosts");
		return NULL;
	}
	hosts = json_node_get_array(result);
	if (json_array_get_length(hosts) == 0)
		return NULL;
	first = json_array_get_element(hosts, 0);
	if (!JSON_NODE_HOLDS_ARRAY(first)) {
		set_invalid(error, "web.get_hosts: a host is not a list [id, host, port, user]");
		return NULL;
	}
	host = json_node_get_array(first);
	host_id = array_get_string(host, 0);
	address = array_get_string(host, 1);
	if (host_id == NULL || host_id[0] == '\0' || address == NULL ||
	    json_array_get_length(host) < 3 ||
	    !node_get_int(json_array_get_element(host, 2), &port)) {
		set_invalid(error, "web.get_hosts: a host is not a list [id, host, port, user]");
		return NULL;
	}
	{
		g_autofree char *where = g_strdup_printf("%s:%" G_GINT64_FORMAT, address, port);
		*description = quote((const guint8 *)where, strlen(where));
	}
	return g_strdup(host_id);
}

static gboolean
get_port(JsonNode *node, guint16 *out)
{
	gint64 value;

	if (!node_get_int(node, &value) || value < 0 || value > G_MAXUINT16)
		return FALSE;
	*out = (guint16)value;
	return TRUE;
}

gboolean
pm_deluge_result_get_ports(JsonNode *result, PmDelugePorts *out, GError **error)
{
	JsonObject *object;
	JsonNode *node;
	JsonArray *range;

	if (!JSON_NODE_HOLDS_OBJECT(result))
		return set_invalid(error, "core.get_config_values: the result is not an object");
	object = json_node_get_object(result);
	node = json_object_get_member(object, "listen_ports");
	if (node == NULL || !JSON_NODE_HOLDS_ARRAY(node))
		return set_invalid(error,
				   "core.get_config_values: \"listen_ports\" is not a list");
	range = json_node_get_array(node);
	if (json_array_get_length(range) != 2 ||
	    !get_port(json_array_get_element(range, 0), &out->low) ||
	    !get_port(json_array_get_element(range, 1), &out->high))
		return set_invalid(error, "core.get_config_values: \"listen_ports\" is not "
					  "[LOW, HIGH] with ports from 0 to 65535");
	node = json_object_get_member(object, "random_port");
	if (node == NULL || !JSON_NODE_HOLDS_VALUE(node) ||
	    json_node_get_value_type(node) != G_TYPE_BOOLEAN)
		return set_invalid(error,
				   "core.get_config_values: \"random_port\" is not true or false");
	out->random_port = json_node_get_boolean(node);
	return TRUE;
}

char *
pm_deluge_ports_to_string(const PmDelugePorts *ports)
{
	return g_strdup_printf("listen_ports [%u, %u], random_port %s", ports->low, ports->high,
			       ports->random_port ? "true" : "false");
}
