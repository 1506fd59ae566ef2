/* SPDX-License-Identifier: GPL-2.0-or-later */
#define G_LOG_DOMAIN "portmap-applet"
#include "pm-applet-describe.h"

#include <stdarg.h>

#include <gio/gio.h>
#include <glib/gi18n.h>
#include <json-glib/json-glib.h>

#include "pm-applet-model.h"

/* a member of @object: "" (or 0, NULL) when it is missing or of another type */
static const char *
member_string(JsonObject *object, const char *name)
{
	JsonNode *node = object != NULL ? json_object_get_member(object, name) : NULL;
	if (node == NULL || !JSON_NODE_HOLDS_VALUE(node) ||
	    json_node_get_value_type(node) != G_TYPE_STRING)
		return "";
	return json_node_get_string(node);
}

static gint64
member_int(JsonObject *object, const char *name)
{
	JsonNode *node = object != NULL ? json_object_get_member(object, name) : NULL;
	if (node == NULL || !JSON_NODE_HOLDS_VALUE(node) ||
	    json_node_get_value_type(node) != G_TYPE_INT64)
		return 0;
	return json_node_get_int(node);
}

static JsonArray *
member_array(JsonObject *object, const char *name)
{
	JsonNode *node = object != NULL ? json_object_get_member(object, name) : NULL;
	if (node == NULL || !JSON_NODE_HOLDS_ARRAY(node))
		return NULL;
	return json_node_get_array(node);
}

static JsonObject *
member_object(JsonObject *object, const char *name)
{
	JsonNode *node = object != NULL ? json_object_get_member(object, name) : NULL;
	if (node == NULL || !JSON_NODE_HOLDS_OBJECT(node))
		return NULL;
	return json_node_get_object(node);
}

static JsonObject *
element_object(JsonArray *array, guint index)
{
	JsonNode *node = json_array_get_element(array, index);
	return JSON_NODE_HOLDS_OBJECT(node) ? json_node_get_object(node) : NULL;
}

/* "tcp+udp" from ["tcp", "udp"] */
static char *
protocols_text(JsonArray *protocols)
{
	g_autoptr(GString) out = g_string_new(NULL);
	for (guint i = 0; protocols != NULL && i < json_array_get_length(protocols); i++) {
		JsonNode *node = json_array_get_element(protocols, i);
		if (!JSON_NODE_HOLDS_VALUE(node) || json_node_get_value_type(node) != G_TYPE_STRING)
			continue;
		if (out->len > 0)
			g_string_append_c(out, '+');
		g_string_append(out, json_node_get_string(node));
	}
	if (out->len == 0)
		g_string_append_c(out, '?');
	return g_string_free(g_steal_pointer(&out), FALSE);
}

static void line(GString *out, guint indent, const char *format, ...) G_GNUC_PRINTF(3, 4);

/* one line of text, indented by @indent spaces */
static void
line(GString *out, guint indent, const char *format, ...)
{
	va_list args;

	for (guint i = 0; i < indent; i++)
		g_string_append_c(out, ' ');
	va_start(args, format);
	g_string_append_vprintf(out, format, args);
	va_end(args);
	g_string_append_c(out, '\n');
}

static void
heading(GString *out, const char *title)
{
	if (out->len > 0)
		g_string_append_c(out, '\n');
	g_string_append_printf(out, "%s\n", title);
}

static void
add_error(GString *out, guint indent, const char *error)
{
	if (error[0] != '\0')
		/* TRANSLATORS: in the About window, under a provider, mapping, gateway... */
		line(out, indent, _("last error: %s"), error);
}

static void
format_config_files(GString *out, JsonObject *root)
{
	JsonNode *node = json_object_get_member(root, "ConfigFiles");

	heading(out, _("Configuration files"));
	if (node == NULL || !JSON_NODE_HOLDS_ARRAY(node)) {
		line(out, 2, "%s", _("(not reported by this portmapd)"));
		return;
	}
	if (json_array_get_length(json_node_get_array(node)) == 0) {
		line(out, 2, "%s", _("(none: portmapd runs on its built-in defaults)"));
		return;
	}
	for (guint i = 0; i < json_array_get_length(json_node_get_array(node)); i++) {
		JsonNode *file = json_array_get_element(json_node_get_array(node), i);
		if (JSON_NODE_HOLDS_VALUE(file) && json_node_get_value_type(file) == G_TYPE_STRING)
			line(out, 2, "%s", json_node_get_string(file));
	}
}

static void
format_daemon(GString *out, JsonObject *root)
{
	heading(out, "portmapd");
	/* TRANSLATORS: in the About window: portmapd's version and overall state ("ok",
	 * "degraded", "failed" or "idle") */
	line(out, 2, _("version %s, state %s"), member_string(root, "Version"),
	     member_string(root, "State"));
	if (member_string(root, "DefaultProvider")[0] != '\0')
		line(out, 2, _("default provider: %s"), member_string(root, "DefaultProvider"));
}

static void
format_providers(GString *out, JsonObject *root)
{
	JsonArray *providers = member_array(root, "Providers");
	guint n = providers != NULL ? json_array_get_length(providers) : 0;

	heading(out, _("Providers"));
	if (n == 0)
		line(out, 2, "%s", _("(none)"));
	for (guint i = 0; i < n; i++) {
		JsonObject *p = element_object(providers, i);
		if (p == NULL)
			continue;
		line(out, 2, "%s (%s): %s", member_string(p, "Name"), member_string(p, "Type"),
		     pm_applet_provider_state_to_label(member_string(p, "State")));
		if (member_string(p, "Gateway")[0] != '\0')
			line(out, 4, _("gateway %s"), member_string(p, "Gateway"));
		if (member_string(p, "ExternalAddress")[0] != '\0')
			line(out, 4, _("external address %s"), member_string(p, "ExternalAddress"));
		add_error(out, 4, member_string(p, "LastError"));
	}
}

static const char *
origin_text(const char *origin)
{
	if (g_strcmp0(origin, "config") == 0)
		return _("from the configuration");
	if (g_strcmp0(origin, "bus") == 0)
		return _("added on the bus");
	if (g_strcmp0(origin, "gateway") == 0)
		return _("for a LAN client of the gateway");
	return origin;
}

static void
format_mappings(GString *out, JsonObject *root)
{
	JsonArray *mappings = member_array(root, "Mappings");
	guint n = mappings != NULL ? json_array_get_length(mappings) : 0;

	heading(out, _("Mappings"));
	if (n == 0)
		line(out, 2, "%s", _("(none)"));
	for (guint i = 0; i < n; i++) {
		JsonObject *m = element_object(mappings, i);
		JsonArray *consumers;
		g_autofree char *protocols = NULL;
		const char *state;

		if (m == NULL)
			continue;
		protocols = protocols_text(member_array(m, "Protocols"));
		state = pm_applet_mapping_state_to_label(member_string(m, "State"));
		if (member_int(m, "ExternalPort") > 0) {
			g_autofree char *external =
			    pm_applet_format_address_port(member_string(m, "ExternalAddress"),
							  (guint16)member_int(m, "ExternalPort"));
			line(out, 2, "%s: %s %u → %s, %s", member_string(m, "Name"), protocols,
			     (guint)member_int(m, "InternalPort"), external, state);
		} else {
			line(out, 2, "%s: %s %u, %s", member_string(m, "Name"), protocols,
			     (guint)member_int(m, "InternalPort"), state);
		}
		/* TRANSLATORS: in the About window, under a mapping: its provider, scope
		 * ("client", "runtime" or "persistent") and origin ("from the configuration",
		 * "added on the bus"...) */
		line(out, 4, _("provider %s, scope %s, %s"), member_string(m, "Provider"),
		     member_string(m, "Scope"), origin_text(member_string(m, "Origin")));
		if (member_string(m, "Description")[0] != '\0')
			line(out, 4, "%s", member_string(m, "Description"));
		add_error(out, 4, member_string(m, "LastError"));
		consumers = member_array(m, "Consumers");
		for (guint j = 0; consumers != NULL && j < json_array_get_length(consumers); j++) {
			JsonObject *c = element_object(consumers, j);
			if (c == NULL)
				continue;
			/* TRANSLATORS: in the About window, under a mapping: a consumer's name
			 * and state ("ok", "pending" or "failed") */
			line(out, 4, _("consumer %s: %s"), member_string(c, "Name"),
			     member_string(c, "State"));
			add_error(out, 6, member_string(c, "LastError"));
		}
	}
}

static void
format_gateway(GString *out, JsonObject *root)
{
	JsonObject *gateway = member_object(root, "Gateway");
	JsonArray *listen;
	g_autoptr(GString) addresses = g_string_new(NULL);

	heading(out, _("Gateway for the LAN"));
	if (gateway == NULL) {
		line(out, 2, "%s", _("not configured"));
		return;
	}
	listen = member_array(gateway, "Listen");
	for (guint i = 0; listen != NULL && i < json_array_get_length(listen); i++) {
		JsonNode *node = json_array_get_element(listen, i);
		if (!JSON_NODE_HOLDS_VALUE(node) || json_node_get_value_type(node) != G_TYPE_STRING)
			continue;
		if (addresses->len > 0)
			g_string_append(addresses, ", ");
		g_string_append(addresses, json_node_get_string(node));
	}
	/* TRANSLATORS: in the About window: the addresses the LAN gateway answers on, its
	 * upstream provider and its router backend ("nftables" or a MikroTik's name) */
	line(out, 2, _("listening on %s, upstream %s, router %s"), addresses->str,
	     member_string(gateway, "Upstream"), member_string(gateway, "Router"));
	line(out, 2,
	     ngettext("%u mapping for LAN clients", "%u mappings for LAN clients",
		      (gulong)member_int(root, "GatewayMappings")),
	     (guint)member_int(root, "GatewayMappings"));
	if (member_string(gateway, "RouterError")[0] != '\0')
		line(out, 2, _("router error: %s"), member_string(gateway, "RouterError"));
}

static void
format_stun(GString *out, JsonObject *root)
{
	JsonObject *stun = member_object(root, "STUN");
	JsonArray *servers;

	heading(out, "STUN");
	if (stun == NULL) {
		line(out, 2, "%s", _("not configured"));
		return;
	}
	if (member_string(root, "PublicEndpoint")[0] != '\0') {
		/* TRANSLATORS: in the About window: the public endpoint STUN found, the NAT
		 * type, and the RFC 4787 mapping and filtering behaviours */
		line(out, 2, _("public endpoint %s, NAT type %s"),
		     member_string(root, "PublicEndpoint"),
		     pm_applet_nat_type_to_label(member_string(root, "NATType")));
		line(out, 2, _("mapping %s, filtering %s"), member_string(root, "MappingBehavior"),
		     member_string(root, "FilteringBehavior"));
	} else {
		line(out, 2, "%s", _("no public endpoint found yet"));
	}
	servers = member_array(stun, "Servers");
	for (guint i = 0; servers != NULL && i < json_array_get_length(servers); i++) {
		JsonObject *s = element_object(servers, i);
		if (s == NULL)
			continue;
		/* TRANSLATORS: in the About window: a STUN server and how it did in the last
		 * run ("answered", "silent", "failed" or "not-asked") */
		line(out, 2, _("server %s: %s"), member_string(s, "Server"),
		     member_string(s, "State"));
		add_error(out, 4, member_string(s, "LastError"));
	}
	add_error(out, 2, member_string(stun, "LastError"));
}

char *
pm_applet_describe_format(const char *json, GError **error)
{
	g_autoptr(JsonParser) parser = json_parser_new();
	g_autoptr(GError) parse_error = NULL;
	g_autoptr(GString) out = g_string_new(NULL);
	JsonNode *root;

	if (!json_parser_load_from_data(parser, json, -1, &parse_error)) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
			    _("portmapd's description is not valid JSON: %s"),
			    parse_error->message);
		return NULL;
	}
	root = json_parser_get_root(parser);
	if (root == NULL || !JSON_NODE_HOLDS_OBJECT(root)) {
		g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
				    _("portmapd's description is not a JSON object"));
		return NULL;
	}
	format_config_files(out, json_node_get_object(root));
	format_daemon(out, json_node_get_object(root));
	format_providers(out, json_node_get_object(root));
	format_mappings(out, json_node_get_object(root));
	format_gateway(out, json_node_get_object(root));
	format_stun(out, json_node_get_object(root));
	return g_string_free(g_steal_pointer(&out), FALSE);
}
