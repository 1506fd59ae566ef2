/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <arpa/inet.h>
#include <json-glib/json-glib.h>
#include <string.h>

#include "control-plane-api.h"
#include "wg-uapi.h"
#include "errors.h"
#include "json-body.h"
#include "json-writer.h"
#include "natpmp-http.h"

/* {"peer_endpoints": [{...}]} is three deep; room for members a newer control plane adds */
#define MAX_NESTING 8
/* the reason phrase and the values are the server's text too */
#define SHORT_QUOTE_MAX 60

GBytes *
pm_control_plane_build_report(const char *public_endpoint, const char *nat_type)
{
	PmJsonWriter writer;
	char *text;

	g_return_val_if_fail(public_endpoint != NULL && nat_type != NULL, NULL);
	pm_json_writer_init(&writer, 96, FALSE);
	pm_json_begin_object(&writer);
	pm_json_member_string(&writer, "public_endpoint", public_endpoint);
	pm_json_member_string(&writer, "nat_type", nat_type);
	pm_json_end_object(&writer);
	text = pm_json_writer_finish(&writer);
	return g_bytes_new_take(text, strlen(text));
}

char *
pm_control_plane_quote(const guint8 *text, gsize len, const char *secret, gsize max_chars)
{
	g_autoptr(GString) copy = NULL;
	gsize secret_len = secret != NULL ? strlen(secret) : 0;
	gsize pos = 0;

	if (text == NULL)
		len = 0;
	copy = g_string_new_len((const char *)text, (gssize)len);
	/* memmem, not strstr: a body may hold NUL bytes, and what follows one is quoted too;
	 * before the cut, which could otherwise leave a part of the secret */
	while (secret_len > 0 && pos + secret_len <= copy->len) {
		const char *found = memmem(copy->str + pos, copy->len - pos, secret, secret_len);
		gsize at;

		if (found == NULL)
			break;
		at = (gsize)(found - copy->str);
		g_string_erase(copy, (gssize)at, (gssize)secret_len);
		g_string_insert(copy, (gssize)at, "[redacted]");
		pos = at + strlen("[redacted]");
	}
	return pm_natpmp_http_quote_body((const guint8 *)copy->str, copy->len, max_chars);
}

/* peers */

PmPeerEndpoints *
pm_peer_endpoints_new(void)
{
	return g_new0(PmPeerEndpoints, 1);
}

void
pm_peer_endpoints_free(PmPeerEndpoints *self)
{
	if (self == NULL)
		return;
	for (guint i = 0; i < self->n_peers; i++) {
		g_free(self->peers[i].peer_id);
		g_free(self->peers[i].endpoint);
	}
	g_free(self->peers);
	g_strfreev(self->rejected);
	g_free(self);
}

PmPeerEndpoints *
pm_peer_endpoints_copy(const PmPeerEndpoints *self)
{
	PmPeerEndpoints *copy = pm_peer_endpoints_new();

	g_return_val_if_fail(self != NULL, copy);
	copy->n_skipped = self->n_skipped;
	copy->rejected = g_strdupv(self->rejected);
	copy->n_peers = self->n_peers;
	if (self->n_peers > 0)
		copy->peers = g_new0(PmPeerEndpoint, self->n_peers);
	for (guint i = 0; i < self->n_peers; i++) {
		copy->peers[i].peer_id = g_strdup(self->peers[i].peer_id);
		copy->peers[i].endpoint = g_strdup(self->peers[i].endpoint);
	}
	return copy;
}

gboolean
pm_peer_endpoints_equal(const PmPeerEndpoints *a, const PmPeerEndpoints *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	if (a->n_peers != b->n_peers)
		return FALSE;
	for (guint i = 0; i < a->n_peers; i++) {
		if (g_strcmp0(a->peers[i].peer_id, b->peers[i].peer_id) != 0 ||
		    g_strcmp0(a->peers[i].endpoint, b->peers[i].endpoint) != 0)
			return FALSE;
	}
	return TRUE;
}

/* values */

/* WireGuard's own rules (proto/wg-uapi.c): what the updater will accept */
gboolean
pm_wireguard_key_is_valid(const char *base64)
{
	guint8 key[PM_WG_KEY_LEN];

	return base64 != NULL && pm_wg_key_from_base64(base64, key, NULL);
}

gboolean
pm_peer_endpoint_is_valid(const char *endpoint)
{
	PmWgEndpoint parsed;

	return endpoint != NULL && pm_wg_endpoint_parse(endpoint, &parsed, NULL);
}

/* the reply */

static void G_GNUC_PRINTF(6, 7)
set_reply_error(GError **error, gint code, const guint8 *body, gsize len, const char *token,
		const char *format, ...)
{
	g_autofree char *what = NULL;
	g_autofree char *quote = NULL;
	va_list args;

	va_start(args, format);
	what = g_strdup_vprintf(format, args);
	va_end(args);
	/* an empty body says nothing */
	if (len == 0) {
		g_set_error_literal(error, PM_ERROR, code, what);
		return;
	}
	quote = pm_control_plane_quote(body, len, token, PM_CONTROL_PLANE_QUOTE_MAX);
	g_set_error(error, PM_ERROR, code, "%s: %s", what, quote);
}

/* "peer_endpoints[I].MEMBER" as a string: "" for null when @null_ok; else NULL with why */
static const char *
entry_string(JsonObject *entry, guint index, const char *member, gboolean null_ok, char **why)
{
	JsonNode *node = json_object_get_member(entry, member);

	if (node == NULL) {
		*why = g_strdup_printf("peer_endpoints[%u] has no \"%s\"", index, member);
		return NULL;
	}
	if (JSON_NODE_HOLDS_NULL(node) && null_ok)
		return "";
	if (!JSON_NODE_HOLDS_VALUE(node) || json_node_get_value_type(node) != G_TYPE_STRING) {
		*why = g_strdup_printf("peer_endpoints[%u].%s is not a string", index, member);
		return NULL;
	}
	return json_node_get_string(node);
}

/* a string of the reply, in a message: printable, short, without the token */
static char *
quote_value(const char *value, const char *token)
{
	return pm_control_plane_quote((const guint8 *)value, strlen(value), token,
				      SHORT_QUOTE_MAX);
}

/* the peers of a 2xx's body, else NULL with why (to be followed by the body) */
static PmPeerEndpoints *
parse_peers(const guint8 *body, gsize len, const char *token, char **why)
{
	g_autoptr(JsonParser) parser = NULL;
	g_autoptr(GError) local_error = NULL;
	g_autoptr(PmPeerEndpoints) peers = pm_peer_endpoints_new();
	g_autoptr(GArray) kept = NULL;
	g_autoptr(GHashTable) seen = NULL;
	g_autoptr(GPtrArray) rejected = NULL;
	const char *shape;
	JsonObject *object;
	JsonNode *root;
	JsonNode *list;
	JsonArray *array;
	guint n;

	if (len > PM_CONTROL_PLANE_MAX_REPLY) {
		*why = g_strdup_printf("the body is too large (%" G_GSIZE_FORMAT " bytes)", len);
		return NULL;
	}
	/* json-glib must see neither NUL bytes nor invalid UTF-8 */
	if (!g_utf8_validate((const char *)body, (gssize)len, NULL)) {
		*why = g_strdup("the body is not UTF-8 text");
		return NULL;
	}
	shape = pm_json_body_check_shape(body, len, MAX_NESTING);
	if (shape != NULL) {
		*why = g_strdup_printf("the body is %s", shape);
		return NULL;
	}
	/* json-glib ends a string at an escaped NUL: a key that is not the one sent */
	if (g_strstr_len((const char *)body, (gssize)len, "\\u0000") != NULL) {
		*why = g_strdup("the body has an escaped NUL character (\\u0000)");
		return NULL;
	}
	parser = json_parser_new_immutable();
	if (!json_parser_load_from_data(parser, (const char *)body, (gssize)len, &local_error)) {
		/* json-glib quotes the offending text as it is */
		g_autofree char *quoted = quote_value(local_error->message, token);
		*why = g_strdup_printf("the body is not JSON: %s", quoted);
		return NULL;
	}
	root = json_parser_get_root(parser);
	if (root == NULL || !JSON_NODE_HOLDS_OBJECT(root)) {
		*why = g_strdup("the body is not a JSON object");
		return NULL;
	}
	object = json_node_get_object(root);
	list = json_object_get_member(object, "peer_endpoints");
	if (list == NULL || JSON_NODE_HOLDS_NULL(list))
		return g_steal_pointer(&peers);
	if (!JSON_NODE_HOLDS_ARRAY(list)) {
		*why = g_strdup("\"peer_endpoints\" is not an array");
		return NULL;
	}
	array = json_node_get_array(list);
	n = json_array_get_length(array);
	kept = g_array_new(FALSE, TRUE, sizeof(PmPeerEndpoint));
	seen = g_hash_table_new(g_str_hash, g_str_equal);
	rejected = g_ptr_array_new_with_free_func(g_free);
	for (guint i = 0; i < n; i++) {
		JsonNode *node = json_array_get_element(array, i);
		const char *peer_id, *endpoint;
		PmPeerEndpoint peer;
		JsonObject *entry;

		if (!JSON_NODE_HOLDS_OBJECT(node)) {
			*why = g_strdup_printf("peer_endpoints[%u] is not an object", i);
			break;
		}
		entry = json_node_get_object(node);
		peer_id = entry_string(entry, i, "peer_id", FALSE, why);
		if (peer_id == NULL)
			break;
		/* null: not discovered yet, as Go's decoder reads it into "" */
		endpoint = entry_string(entry, i, "endpoint", TRUE, why);
		if (endpoint == NULL)
			break;
		if (peer_id[0] == '\0') {
			*why = g_strdup_printf("peer_endpoints[%u].peer_id is empty", i);
			break;
		}
		/* one bad entry is logged and skipped; the others are applied (issue 15) */
		if (!pm_wireguard_key_is_valid(peer_id)) {
			g_autofree char *quoted = quote_value(peer_id, token);
			g_ptr_array_add(rejected,
					g_strdup_printf("peer_endpoints[%u].peer_id \"%s\" is not a "
							"WireGuard public key (44 characters of "
							"base64): skipped",
							i, quoted));
			continue;
		}
		if (endpoint[0] == '\0') {
			peers->n_skipped++;
			continue;
		}
		if (!pm_peer_endpoint_is_valid(endpoint)) {
			g_autofree char *quoted = quote_value(endpoint, token);
			g_ptr_array_add(rejected,
					g_strdup_printf("peer_endpoints[%u].endpoint \"%s\" is not "
							"IPv4:PORT or [IPv6]:PORT: skipped",
							i, quoted));
			continue;
		}
		if (g_hash_table_contains(seen, peer_id)) {
			g_autofree char *quoted = quote_value(peer_id, token);
			g_ptr_array_add(rejected,
					g_strdup_printf("peer_endpoints[%u].peer_id \"%s\" is listed "
							"twice: the first is kept",
							i, quoted));
			continue;
		}
		g_hash_table_add(seen, (gpointer)peer_id);
		peer.peer_id = g_strdup(peer_id);
		peer.endpoint = g_strdup(endpoint);
		g_array_append_val(kept, peer);
	}
	if (*why != NULL) {
		for (guint i = 0; i < kept->len; i++) {
			PmPeerEndpoint *peer = &g_array_index(kept, PmPeerEndpoint, i);
			g_free(peer->peer_id);
			g_free(peer->endpoint);
		}
		return NULL;
	}
	if (rejected->len > 0) {
		g_ptr_array_add(rejected, NULL);
		peers->rejected = (char **)g_ptr_array_free(g_steal_pointer(&rejected), FALSE);
	}
	peers->n_peers = kept->len;
	peers->peers = kept->len > 0 ? (PmPeerEndpoint *)g_array_free(g_steal_pointer(&kept), FALSE)
				     : NULL;
	return g_steal_pointer(&peers);
}

PmPeerEndpoints *
pm_control_plane_parse_reply(guint status, const char *reason, const guint8 *body, gsize len,
			     const char *token, GError **error)
{
	g_autofree char *why = NULL;
	g_autofree char *phrase = NULL;
	PmPeerEndpoints *peers;

	if (body == NULL)
		len = 0;
	/* " Not Found", or nothing */
	if (reason != NULL && reason[0] != '\0') {
		g_autofree char *quoted = quote_value(reason, token);
		phrase = g_strconcat(" ", quoted, NULL);
	} else {
		phrase = g_strdup("");
	}

	/* No Content: nothing to say, no peers */
	if (status == 204)
		return pm_peer_endpoints_new();
	if (status >= 200 && status <= 299) {
		if (len == 0) {
			set_reply_error(error, PM_ERROR_FAILED, body, len, token,
					"HTTP %u%s but not a control plane reply: the body is empty",
					status, phrase);
			return NULL;
		}
		peers = parse_peers(body, len, token, &why);
		if (peers == NULL)
			set_reply_error(error, PM_ERROR_FAILED, body, len, token,
					"HTTP %u%s but not a control plane reply: %s", status,
					phrase, why);
		return peers;
	}
	if (status == 401 || status == 403) {
		set_reply_error(error, PM_ERROR_REFUSED, body, len, token, "HTTP %u%s: %s", status,
				phrase,
				token != NULL ? "the control plane refused the token (check "
					     "TokenCredential= or TokenFile=)"
					   : "the control plane wants a token (set "
					     "TokenCredential= or TokenFile=)");
	} else if (status == 404) {
		set_reply_error(error, PM_ERROR_REFUSED, body, len, token,
				"HTTP %u%s: the control plane does not know this node (check "
				"NodeID=) or URL= is not its base URL",
				status, phrase);
	} else if (status >= 400 && status <= 499) {
		set_reply_error(error, PM_ERROR_REFUSED, body, len, token, "HTTP %u%s", status,
				phrase);
	} else {
		set_reply_error(error, PM_ERROR_FAILED, body, len, token, "HTTP %u%s", status,
				phrase);
	}
	return NULL;
}
