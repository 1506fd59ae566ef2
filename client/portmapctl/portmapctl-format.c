/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What portmapctl prints, apart from the bus: the key/value blocks of status and discover,
 * and how the STUN part of Describe() reads in them. Nothing here talks to portmapd, so
 * test-portmapctl-format.c checks the text and JSON against canned Describe() output.
 */

#include "build-info.h"

#include <stdint.h>
#include <stdio.h>

#include <glib.h>
#include <glib/gi18n.h>
#include <json-glib/json-glib.h>

#include "portmapctl.h"

const char *empty_to_dash(const char *s)
{
	return s && *s ? s : "-";
}

gboolean is_empty(const char *s)
{
	return !s || !*s;
}

/* ---- key/value blocks ---- */

typedef struct {
	const char *key;        /* NULL: continues the value above */
	char *value;
} Field;

static void field_clear(Field *f)
{
	g_free(f->value);
}

GArray *fields_new(void)
{
	GArray *fields = g_array_new(FALSE, TRUE, sizeof(Field));

	g_array_set_clear_func(fields, (GDestroyNotify) field_clear);
	return fields;
}

void fields_add(GArray *fields, const char *key, char *value)
{
	Field f = { key, value };

	g_array_append_val(fields, f);
}

/* A key/value block with right-aligned keys, like hostnamectl status. */
char *fields_format(GArray *fields)
{
	GString *text = g_string_new(NULL);
	glong width = 0;

	for (guint i = 0; i < fields->len; i++) {
		const Field *f = &g_array_index(fields, Field, i);

		if (f->key)
			width = MAX(width, g_utf8_strlen(f->key, -1));
	}
	for (guint i = 0; i < fields->len; i++) {
		const Field *f = &g_array_index(fields, Field, i);

		if (f->key)
			g_string_append_printf(text, "%*s%s: %s\n",
					       (int) (width - g_utf8_strlen(f->key, -1)), "",
					       f->key, f->value);
		else
			g_string_append_printf(text, "%*s%s\n", (int) width + 2, "", f->value);
	}
	return g_string_free(text, FALSE);
}

void fields_print(GArray *fields)
{
	g_autofree char *text = fields_format(fields);

	fputs(text, stdout);
}

/* ---- reading Describe() ---- */

/* a JSON string member, or NULL (absent, null, another type) */
const char *json_string_or_null(JsonObject *object, const char *name)
{
	JsonNode *node = json_object_get_member(object, name);

	if (!node || !JSON_NODE_HOLDS_VALUE(node) ||
	    json_node_get_value_type(node) != G_TYPE_STRING)
		return NULL;
	return json_node_get_string(node);
}

/* a JSON whole-number member, or 0 (absent, negative, another type) */
static uint64_t json_uint_or_zero(JsonObject *object, const char *name)
{
	JsonNode *node = json_object_get_member(object, name);
	gint64 v;

	if (!node || !JSON_NODE_HOLDS_VALUE(node) ||
	    json_node_get_value_type(node) != G_TYPE_INT64)
		return 0;
	v = json_node_get_int(node);
	return v < 0 ? 0 : (uint64_t) v;
}

/* Describe()'s "STUN" object: there only when [STUN] is configured */
static JsonObject *stun_object(JsonNode *description)
{
	JsonNode *node;

	if (!description || !JSON_NODE_HOLDS_OBJECT(description))
		return NULL;
	node = json_object_get_member(json_node_get_object(description), "STUN");
	if (!node || !JSON_NODE_HOLDS_OBJECT(node))
		return NULL;
	return json_node_get_object(node);
}

/* a top-level string of Describe() ("MappingBehavior", ...), "unknown" if it has none */
static const char *description_string(JsonNode *description, const char *name)
{
	const char *s = NULL;

	if (description && JSON_NODE_HOLDS_OBJECT(description))
		s = json_string_or_null(json_node_get_object(description), name);
	return is_empty(s) ? "unknown" : s;
}

/* ---- STUN ---- */

/* milliseconds with one decimal, without the locale's decimal separator */
char *format_round_trip(uint64_t usec)
{
	uint64_t tenths = (usec + 50) / 100;

	if (tenths == 0)
		return g_strdup("<0.1 ms");
	return g_strdup_printf("%" G_GUINT64_FORMAT ".%u ms", tenths / 10, (guint) (tenths % 10));
}

/* the port the probes leave from, and why it is not LocalPort= if it is not: the endpoint
 * found belongs to that port, which matters when LocalPort= is WireGuard's */
static char *format_local_port(JsonObject *stun)
{
	guint configured = (guint) MIN(json_uint_or_zero(stun, "LocalPort"), G_MAXUINT16);
	guint bound = (guint) MIN(json_uint_or_zero(stun, "BoundPort"), G_MAXUINT16);
	const char *error = json_string_or_null(stun, "LocalPortError");
	/* TRANSLATORS: no local port (also: no provider, no STUN server) */
	g_autofree char *port = bound ? g_strdup_printf("%u", bound) : g_strdup(_("none"));

	if (configured == 0)
		/* TRANSLATORS: the STUN probes leave from a port the kernel picked */
		return bound ? g_strdup_printf(_("%s (ephemeral)"), port) : g_strdup(_("ephemeral"));
	if (!is_empty(error))
		/* TRANSLATORS: the port bound, not the LocalPort= configured, and why */
		return g_strdup_printf(_("%s (not %u: %s)"), port, configured, error);
	if (bound != configured)
		return g_strdup_printf(_("%s (not %u)"), port, configured);
	return g_steal_pointer(&port);
}

/* one server of STUN.Servers: "ADDRESS answered in 0.3 ms (other address A)", "ADDRESS
 * silent", "ADDRESS failed: why"; the address it mapped us to only if it is not @endpoint
 * (a symmetric NAT: each server sees another one) */
static char *format_server(JsonObject *server, const char *endpoint)
{
	const char *name = json_string_or_null(server, "Server");
	const char *address = json_string_or_null(server, "Address");
	const char *state = json_string_or_null(server, "State");
	const char *mapped = json_string_or_null(server, "MappedAddress");
	const char *other = json_string_or_null(server, "OtherAddress");
	const char *error = json_string_or_null(server, "LastError");
	GString *text = g_string_new(NULL);

	if (is_empty(name))
		name = address;
	g_string_append(text, empty_to_dash(name));
	/* a host name as configured: which of its addresses was asked */
	if (!is_empty(address) && g_strcmp0(address, name) != 0)
		g_string_append_printf(text, " (%s)", address);

	if (g_strcmp0(state, "answered") == 0) {
		g_autofree char *rtt = format_round_trip(json_uint_or_zero(server,
									   "RoundTripMicroseconds"));

		g_string_append_c(text, ' ');
		g_string_append_printf(text, _("answered in %s"), rtt);
		if (!is_empty(mapped) && g_strcmp0(mapped, endpoint) != 0)
			g_string_append_printf(text, _(", mapped %s"), mapped);
		if (!is_empty(other))
			g_string_append_printf(text, _(" (other address %s)"), other);
	} else {
		g_string_append_c(text, ' ');
		if (g_strcmp0(state, "not-asked") == 0)
			/* TRANSLATORS: what a STUN server did in the last discovery */
			g_string_append(text, _("not asked"));
		else if (g_strcmp0(state, "silent") == 0)
			g_string_append(text, _("silent"));
		else if (g_strcmp0(state, "failed") == 0)
			g_string_append(text, _("failed"));
		else
			g_string_append(text, empty_to_dash(state));
		if (!is_empty(error))
			g_string_append_printf(text, ": %s", error);
	}
	return g_string_free(text, FALSE);
}

/* discover's text: the reply of DiscoverEndpoint() (@endpoint, @nat_type) and, from
 * @description (Describe()), the RFC 4787 behaviours, the local port and each server */
void discover_add_fields(GArray *fields, JsonNode *description, const char *endpoint,
			 const char *nat_type)
{
	JsonObject *stun = stun_object(description);
	JsonNode *servers;
	guint n = 0;

	fields_add(fields, _("Public endpoint"), g_strdup(empty_to_dash(endpoint)));
	fields_add(fields, _("NAT type"), g_strdup(empty_to_dash(nat_type)));
	/* TRANSLATORS: the NAT's mapping behaviour (RFC 4787), an untranslated value */
	fields_add(fields, _("Mapping"),
		   g_strdup(description_string(description, "MappingBehavior")));
	/* TRANSLATORS: the NAT's filtering behaviour (RFC 4787), an untranslated value */
	fields_add(fields, _("Filtering"),
		   g_strdup(description_string(description, "FilteringBehavior")));
	if (!stun)
		return;

	fields_add(fields, _("Local port"), format_local_port(stun));
	servers = json_object_get_member(stun, "Servers");
	if (servers && JSON_NODE_HOLDS_ARRAY(servers)) {
		JsonArray *array = json_node_get_array(servers);

		for (guint i = 0; i < json_array_get_length(array); i++) {
			JsonNode *node = json_array_get_element(array, i);

			if (!JSON_NODE_HOLDS_OBJECT(node))
				continue;
			fields_add(fields, n++ == 0 ? _("Servers") : NULL,
				   format_server(json_node_get_object(node), endpoint));
		}
	}
	if (n == 0)
		fields_add(fields, _("Servers"), g_strdup(_("none")));
	if (!is_empty(json_string_or_null(stun, "LastError")))
		fields_add(fields, _("Last error"),
			   g_strdup(json_string_or_null(stun, "LastError")));
}

/* discover's JSON: the reply, the behaviours and Describe()'s "STUN" object as it is */
JsonNode *discover_to_json(JsonNode *description, const char *endpoint, const char *nat_type)
{
	g_autoptr(JsonBuilder) b = json_builder_new();
	JsonNode *stun = NULL;

	if (stun_object(description))
		stun = json_object_get_member(json_node_get_object(description), "STUN");

	json_builder_begin_object(b);
	json_builder_set_member_name(b, "PublicEndpoint");
	json_builder_add_string_value(b, endpoint);
	json_builder_set_member_name(b, "NATType");
	json_builder_add_string_value(b, nat_type);
	json_builder_set_member_name(b, "MappingBehavior");
	json_builder_add_string_value(b, description_string(description, "MappingBehavior"));
	json_builder_set_member_name(b, "FilteringBehavior");
	json_builder_add_string_value(b, description_string(description, "FilteringBehavior"));
	if (stun) {
		json_builder_set_member_name(b, "STUN");
		json_builder_add_value(b, json_node_copy(stun));
	}
	json_builder_end_object(b);
	return json_builder_get_root(b);
}

/* status' STUN line, with why the last run or the local port failed; nothing at all
 * without [STUN] (Describe() has no "STUN" then), so that status stays as it was */
void status_add_stun_fields(GArray *fields, JsonNode *description)
{
	JsonObject *stun = stun_object(description);
	const char *endpoint, *local_port_error, *last_error;

	if (!stun)
		return;

	endpoint = json_string_or_null(json_node_get_object(description), "PublicEndpoint");
	if (is_empty(endpoint))
		fields_add(fields, _("Public endpoint"), g_strdup(_("not discovered yet")));
	else
		fields_add(fields, _("Public endpoint"),
			   /* TRANSLATORS: the endpoint, then untranslated values (RFC 4787) */
			   g_strdup_printf(_("%s (NAT type %s; mapping %s, filtering %s)"),
					   endpoint, description_string(description, "NATType"),
					   description_string(description, "MappingBehavior"),
					   description_string(description, "FilteringBehavior")));

	local_port_error = json_string_or_null(stun, "LocalPortError");
	if (!is_empty(local_port_error)) {
		g_autofree char *port = format_local_port(stun);

		fields_add(fields, NULL, g_strdup_printf(_("  local port: %s"), port));
	}
	last_error = json_string_or_null(stun, "LastError");
	if (!is_empty(last_error))
		fields_add(fields, NULL, g_strdup_printf(_("  last error: %s"), last_error));
}
