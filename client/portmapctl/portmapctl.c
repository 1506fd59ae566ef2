/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * portmapctl: the command-line client of portmapd (org.portmap.Manager on the system bus).
 *
 * Laid out like systemd's *ctl tools: arg_* globals, parse_argv(), help(), a verbs table and
 * run(). The verbs here only ask and print, with plain blocking sd_bus_call(); the verbs that
 * wait for signals (add, monitor) run an sd-event loop and live in portmapctl-watch.c.
 */

#include "build-info.h"

#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <glib.h>
#include <glib/gi18n.h>
#include <json-glib/json-glib.h>
#include <systemd/sd-bus.h>

#include "pm-i18n.h"
#include "portmapctl.h"

/* Refresh(), RefreshAll() and DiscoverEndpoint() reply only when their run ends, and NAT-PMP
 * retransmissions alone may take two minutes: sd-bus' default of 25 s is too short */
#define LONG_CALL_TIMEOUT_USEC (300 * USEC_PER_SEC)

JsonMode arg_json = JSON_OFF;
static gboolean arg_legend = TRUE;
static gboolean arg_ask_password = TRUE;
gboolean arg_no_block = FALSE;
guint arg_wait_sec = 30;
const char *arg_provider = NULL;
guint16 arg_external_port = 0;
guint32 arg_lifetime = 0;
const char *arg_name = NULL;
gboolean arg_persist = FALSE;
const char *arg_description = NULL;
gboolean arg_require_external_port = FALSE;
char **arg_command = NULL;

/* opened on first use, so that usage errors are reported without a bus */
static sd_bus *bus_connection = NULL;

static const char *const proto_tcp[] = { "tcp", NULL };
static const char *const proto_udp[] = { "udp", NULL };
static const char *const proto_both[] = { "tcp", "udp", NULL };

static gboolean colors_enabled(void)
{
	const char *e;

	if (getenv("NO_COLOR"))
		return FALSE;
	e = getenv("SYSTEMD_COLORS");
	if (e)
		return !g_str_equal(e, "0") && g_ascii_strcasecmp(e, "false") != 0 &&
		       g_ascii_strcasecmp(e, "no") != 0 && g_ascii_strcasecmp(e, "off") != 0;
	e = getenv("TERM");
	return isatty(STDOUT_FILENO) && !(e && g_str_equal(e, "dumb"));
}

/* ---- parsing of user input ---- */

const char *const *parse_protocol(const char *s)
{
	if (g_ascii_strcasecmp(s, "tcp") == 0)
		return proto_tcp;
	if (g_ascii_strcasecmp(s, "udp") == 0)
		return proto_udp;
	/* "tcp+udp" is how list shows it, so accept it back */
	if (g_ascii_strcasecmp(s, "both") == 0 || g_ascii_strcasecmp(s, "tcp+udp") == 0)
		return proto_both;
	return NULL;
}

static const char *protocols_to_string(const char *const *protocols)
{
	gboolean tcp, udp;

	if (!protocols)
		return "-";
	tcp = g_strv_contains(protocols, "tcp");
	udp = g_strv_contains(protocols, "udp");
	if (tcp && udp)
		return "tcp+udp";
	return tcp ? "tcp" : udp ? "udp" : "-";
}

static gboolean parse_number(const char *s, guint64 min, guint64 max, guint64 *ret)
{
	return s && g_ascii_isdigit(*s) && g_ascii_string_to_unsigned(s, 10, min, max, ret, NULL);
}

gboolean parse_port(const char *s, guint16 min, guint16 *ret)
{
	guint64 v;

	if (!parse_number(s, min, G_MAXUINT16, &v))
		return FALSE;
	*ret = (guint16) v;
	return TRUE;
}

/* a whole number of seconds for option @name, with the error printed */
static gboolean parse_seconds_option(const char *name, const char *value, guint64 *ret)
{
	if (parse_number(value, 0, G_MAXUINT32, ret))
		return TRUE;
	fprintf(stderr, _("Invalid %s= value \"%s\": expected seconds.\n"), name, value);
	return FALSE;
}

/* ---- error reporting ---- */

static const char *error_message(const sd_bus_error *error, int r)
{
	if (sd_bus_error_is_set(error))
		return error->message ? error->message : error->name;
	return g_strerror(r < 0 ? -r : r);
}

/* Prints why a call failed, with the daemon's own message; returns a negative errno. */
int log_call_failed(const char *failure, const sd_bus_error *error, int r)
{
	if (sd_bus_error_has_names(error, SD_BUS_ERROR_SERVICE_UNKNOWN,
				   SD_BUS_ERROR_NAME_HAS_NO_OWNER)) {
		fprintf(stderr, _("portmapd is not running (%s).\n"), error_message(error, r));
		return -ESRCH;
	}

	fprintf(stderr, "%s: %s\n", failure, error_message(error, r));
	if (sd_bus_error_has_name(error, SD_BUS_ERROR_ACCESS_DENIED))
		fprintf(stderr, _("Hint: run as root, for example with sudo.\n"));
	else if (sd_bus_error_has_name(error, SD_BUS_ERROR_INTERACTIVE_AUTHORIZATION_REQUIRED))
		fprintf(stderr, _("Hint: run as root, or without --no-ask-password to "
				  "authenticate.\n"));
	return r < 0 ? r : -EIO;
}

int log_create_error(int r)
{
	fprintf(stderr, _("Failed to create bus message: %s\n"), g_strerror(-r));
	return r;
}

int log_parse_error(int r)
{
	fprintf(stderr, _("Failed to parse the reply from portmapd: %s\n"), g_strerror(-r));
	return r;
}

int acquire_bus(sd_bus **ret)
{
	int r;

	if (!bus_connection) {
		r = sd_bus_open_system(&bus_connection);
		if (r < 0) {
			fprintf(stderr, _("Failed to connect to the system bus: %s\n"),
				g_strerror(-r));
			return r;
		}
		(void) sd_bus_set_allow_interactive_authorization(bus_connection,
								   arg_ask_password);
	}
	*ret = bus_connection;
	return 0;
}

/* ---- output helpers ---- */

static void print_json(JsonNode *node)
{
	g_autoptr(JsonGenerator) generator = json_generator_new();
	g_autofree char *text = NULL;

	json_generator_set_pretty(generator, arg_json == JSON_PRETTY);
	json_generator_set_root(generator, node);
	text = json_generator_to_data(generator, NULL);
	printf("%s\n", text);
	fflush(stdout);
}

void print_json_builder(JsonBuilder *builder)
{
	g_autoptr(JsonNode) node = json_builder_get_root(builder);

	print_json(node);
}

/* rows: GStrv of n_columns cells each; notes: per row, a line printed below it, or NULL */
static void table_print(const char *const *header, guint n_columns, GPtrArray *rows,
			GPtrArray *notes)
{
	g_autofree glong *widths = g_new0(glong, n_columns);

	for (guint c = 0; c < n_columns; c++) {
		if (arg_legend)
			widths[c] = g_utf8_strlen(_(header[c]), -1);
		for (guint i = 0; i < rows->len; i++) {
			char **row = rows->pdata[i];

			widths[c] = MAX(widths[c], g_utf8_strlen(row[c], -1));
		}
	}

	for (gint i = arg_legend ? -1 : 0; i < (gint) rows->len; i++) {
		for (guint c = 0; c < n_columns; c++) {
			const char *cell = i < 0 ? _(header[c]) : ((char **) rows->pdata[i])[c];

			if (c + 1 < n_columns)
				printf("%s%*s ", cell,
				       (int) (widths[c] - g_utf8_strlen(cell, -1)), "");
			else
				printf("%s\n", cell);
		}
		if (i >= 0 && notes && notes->pdata[i])
			printf("    %s\n", (const char *) notes->pdata[i]);
	}
}

static char *format_expires(uint64_t expires_at)
{
	gint64 now = g_get_real_time();
	guint64 s;

	if (expires_at == 0 || expires_at <= (uint64_t) now)
		return g_strdup("-");

	/* rounded down: a one-hour lease just granted shows "in 59min" */
	s = (expires_at - (uint64_t) now) / USEC_PER_SEC;
	if (s < 60)
		/* TRANSLATORS: when a lease expires: in seconds, minutes, hours, days */
		return g_strdup_printf(_("in %us"), (guint) s);
	if (s < 3600)
		return g_strdup_printf(_("in %umin"), (guint) (s / 60));
	if (s < 86400) {
		if ((s % 3600) / 60 == 0)
			return g_strdup_printf(_("in %uh"), (guint) (s / 3600));
		return g_strdup_printf(_("in %uh %umin"), (guint) (s / 3600),
				       (guint) ((s % 3600) / 60));
	}
	if ((s % 86400) / 3600 == 0)
		return g_strdup_printf(_("in %ud"), (guint) (s / 86400));
	return g_strdup_printf(_("in %ud %uh"), (guint) (s / 86400), (guint) ((s % 86400) / 3600));
}

/* ---- ListMappings() ---- */

static void mapping_info_free(MappingInfo *m)
{
	g_free(m->path);
	g_free(m->name);
	g_free(m->provider);
	g_free(m->state);
	g_strfreev(m->protocols);
	g_free(m->scope);
	g_free(m->external_address);
	g_free(m->description);
	g_free(m->last_error);
	g_free(m);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(MappingInfo, mapping_info_free)

static int read_mapping_info(sd_bus_message *reply, MappingInfo **ret)
{
	g_autoptr(MappingInfo) m = g_new0(MappingInfo, 1);
	const char *path, *name, *provider, *state, *scope, *address, *description, *error;
	int r;

	r = sd_bus_message_read(reply, "osss", &path, &name, &provider, &state);
	if (r < 0)
		return r;
	r = sd_bus_message_read_strv(reply, &m->protocols);
	if (r < 0)
		return r;
	r = sd_bus_message_read(reply, "sqqssst", &scope, &m->internal_port, &m->external_port,
				&address, &description, &error, &m->expires_at);
	if (r < 0)
		return r;

	m->path = g_strdup(path);
	m->name = g_strdup(name);
	m->provider = g_strdup(provider);
	m->state = g_strdup(state);
	m->scope = g_strdup(scope);
	m->external_address = g_strdup(address);
	m->description = g_strdup(description);
	m->last_error = g_strdup(error);
	*ret = g_steal_pointer(&m);
	return 0;
}

int list_mappings(sd_bus *bus, GPtrArray **ret)
{
	g_auto(sd_bus_error) error = SD_BUS_ERROR_NULL;
	g_autoptr(sd_bus_message) reply = NULL;
	g_autoptr(GPtrArray) list = NULL;
	int r;

	r = sd_bus_call_method(bus, BUS_NAME, MANAGER_PATH, MANAGER_IFACE, "ListMappings",
			       &error, &reply, NULL);
	if (r < 0)
		return log_call_failed(_("Failed to list mappings"), &error, r);

	list = g_ptr_array_new_with_free_func((GDestroyNotify) mapping_info_free);
	r = sd_bus_message_enter_container(reply, 'a', "(osssassqqssst)");
	if (r < 0)
		return log_parse_error(r);
	while ((r = sd_bus_message_enter_container(reply, 'r', "osssassqqssst")) > 0) {
		MappingInfo *m = NULL;

		r = read_mapping_info(reply, &m);
		if (r < 0)
			return log_parse_error(r);
		g_ptr_array_add(list, m);
		r = sd_bus_message_exit_container(reply);
		if (r < 0)
			return log_parse_error(r);
	}
	if (r < 0)
		return log_parse_error(r);

	*ret = g_steal_pointer(&list);
	return 0;
}

static MappingInfo *find_mapping_by_name(GPtrArray *mappings, const char *name)
{
	for (guint i = 0; i < mappings->len; i++) {
		MappingInfo *m = mappings->pdata[i];

		if (g_strcmp0(m->name, name) == 0)
			return m;
	}
	return NULL;
}

static int lookup_mapping(sd_bus *bus, const char *name, char **ret_path)
{
	g_autoptr(GPtrArray) mappings = NULL;
	MappingInfo *m;
	int r;

	r = list_mappings(bus, &mappings);
	if (r < 0)
		return r;
	m = find_mapping_by_name(mappings, name);
	if (!m) {
		fprintf(stderr, _("No mapping named \"%s\".\n"), name);
		return -ENOENT;
	}
	*ret_path = g_strdup(m->path);
	return 0;
}

static void print_mapping_table(GPtrArray *mappings)
{
	static const char *const header[] = {
		/* TRANSLATORS: the mapping table's header (SCOPE: runtime, persistent...) */
		N_("NAME"), N_("PROVIDER"), N_("PROTO"), N_("INTERNAL"), N_("EXTERNAL"),
		N_("ADDRESS"), N_("STATE"), N_("EXPIRES"), N_("SCOPE"),
	};
	g_autoptr(GPtrArray) rows = g_ptr_array_new_with_free_func((GDestroyNotify) g_strfreev);
	g_autoptr(GPtrArray) notes = g_ptr_array_new();

	for (guint i = 0; i < mappings->len; i++) {
		const MappingInfo *m = mappings->pdata[i];
		char **row = g_new0(char *, G_N_ELEMENTS(header) + 1);

		row[0] = g_strdup(m->name);
		row[1] = g_strdup(empty_to_dash(m->provider));
		row[2] = g_strdup(protocols_to_string((const char *const *) m->protocols));
		row[3] = g_strdup_printf("%u", m->internal_port);
		row[4] = m->external_port ? g_strdup_printf("%u", m->external_port)
					  : g_strdup("-");
		row[5] = g_strdup(empty_to_dash(m->external_address));
		row[6] = g_strdup(m->state);
		row[7] = format_expires(m->expires_at);
		row[8] = g_strdup(m->scope);
		g_ptr_array_add(rows, row);
		/* why a mapping is not working is the first thing one wants to know */
		g_ptr_array_add(notes, is_empty(m->last_error) ? NULL : m->last_error);
	}
	table_print(header, G_N_ELEMENTS(header), rows, notes);
}

/* ---- Describe() ---- */

static int get_description(sd_bus *bus, JsonNode **ret)
{
	g_auto(sd_bus_error) error = SD_BUS_ERROR_NULL;
	g_autoptr(sd_bus_message) reply = NULL;
	g_autoptr(JsonParser) parser = json_parser_new();
	g_autoptr(GError) gerror = NULL;
	const char *text;
	int r;

	r = sd_bus_call_method(bus, BUS_NAME, MANAGER_PATH, MANAGER_IFACE, "Describe", &error,
			       &reply, NULL);
	if (r < 0)
		return log_call_failed(_("Failed to describe portmapd"), &error, r);
	r = sd_bus_message_read(reply, "s", &text);
	if (r < 0)
		return log_parse_error(r);

	if (!json_parser_load_from_data(parser, text, -1, &gerror)) {
		fprintf(stderr, _("Failed to parse the JSON description from portmapd: %s\n"),
			gerror->message);
		return -EBADMSG;
	}
	*ret = json_parser_steal_root(parser);
	if (!*ret || !JSON_NODE_HOLDS_OBJECT(*ret)) {
		g_clear_pointer(ret, json_node_unref);
		fprintf(stderr, _("The JSON description from portmapd is not an object.\n"));
		return -EBADMSG;
	}
	return 0;
}

/* the gateway's router (Describe()'s "Gateway"), with why its rules fail if they do */
static void add_gateway_router_fields(GArray *fields, JsonNode *description)
{
	JsonObject *root = json_node_get_object(description);
	JsonNode *node = json_object_get_member(root, "Gateway");
	JsonObject *gateway;
	const char *router, *iface, *error;

	if (!node || !JSON_NODE_HOLDS_OBJECT(node))
		return;
	gateway = json_node_get_object(node);
	router = json_string_or_null(gateway, "Router");
	iface = json_string_or_null(gateway, "RouterInterface");
	error = json_string_or_null(gateway, "RouterError");
	if (!router)
		return;
	if (iface)
		fields_add(fields, _("Gateway router"),
			   g_strdup_printf(_("%s, rules on %s"), router, iface));
	else
		fields_add(fields, _("Gateway router"), g_strdup(router));
	if (error)
		fields_add(fields, NULL, g_strdup_printf(_("  last error: %s"), error));
}

/* each consumer of each mapping, with its state and why it failed (from Describe(), which
 * carries them in every mapping's "Consumers"): nothing if no mapping has consumers */
static void print_consumer_table(JsonNode *description)
{
	static const char *const header[] = { N_("CONSUMER"), N_("MAPPING"), N_("STATE") };
	g_autoptr(GPtrArray) rows = g_ptr_array_new_with_free_func((GDestroyNotify) g_strfreev);
	g_autoptr(GPtrArray) notes = g_ptr_array_new();
	JsonObject *root = json_node_get_object(description);
	JsonArray *mappings;

	if (!json_object_has_member(root, "Mappings") ||
	    !JSON_NODE_HOLDS_ARRAY(json_object_get_member(root, "Mappings")))
		return;
	mappings = json_object_get_array_member(root, "Mappings");
	for (guint i = 0; i < json_array_get_length(mappings); i++) {
		JsonNode *node = json_array_get_element(mappings, i);
		JsonObject *mapping;
		JsonNode *consumers;

		if (!JSON_NODE_HOLDS_OBJECT(node))
			continue;
		mapping = json_node_get_object(node);
		consumers = json_object_get_member(mapping, "Consumers");
		if (consumers == NULL || !JSON_NODE_HOLDS_ARRAY(consumers))
			continue;
		for (guint j = 0; j < json_array_get_length(json_node_get_array(consumers)); j++) {
			JsonNode *c = json_array_get_element(json_node_get_array(consumers), j);
			JsonObject *consumer;
			const char *last_error;
			char **row;

			if (!JSON_NODE_HOLDS_OBJECT(c))
				continue;
			consumer = json_node_get_object(c);
			row = g_new0(char *, G_N_ELEMENTS(header) + 1);
			row[0] = g_strdup(json_object_get_string_member_with_default(consumer, "Name", "-"));
			row[1] = g_strdup(json_object_get_string_member_with_default(mapping, "Name", "-"));
			row[2] = g_strdup(json_object_get_string_member_with_default(consumer, "State", "-"));
			g_ptr_array_add(rows, row);
			last_error = json_object_get_string_member_with_default(consumer, "LastError", "");
			g_ptr_array_add(notes, is_empty(last_error) ? NULL : (gpointer) last_error);
		}
	}
	if (rows->len == 0)
		return;
	printf("\n");
	table_print(header, G_N_ELEMENTS(header), rows, notes);
}

/* ---- properties ---- */

int read_variant_string(sd_bus_message *m, char **ret)
{
	const char *s;
	int r;

	r = sd_bus_message_read(m, "v", "s", &s);
	if (r < 0)
		return r;
	g_free(*ret);
	*ret = g_strdup(s);
	return 0;
}

typedef struct {
	char *version;
	char *state;
	char *external_address;
	guint32 gateway_mappings;
	GPtrArray *providers;   /* GStrv: name, type, state, external address, last error */
} ManagerInfo;

static void manager_info_clear(ManagerInfo *info)
{
	g_free(info->version);
	g_free(info->state);
	g_free(info->external_address);
	g_clear_pointer(&info->providers, g_ptr_array_unref);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(ManagerInfo, manager_info_clear)

static int read_providers(sd_bus_message *m, GPtrArray *providers)
{
	const char *f[5];
	int r;

	r = sd_bus_message_enter_container(m, 'v', "a(sssss)");
	if (r < 0)
		return r;
	r = sd_bus_message_enter_container(m, 'a', "(sssss)");
	if (r < 0)
		return r;
	while ((r = sd_bus_message_read(m, "(sssss)", &f[0], &f[1], &f[2], &f[3], &f[4])) > 0) {
		char **p = g_new0(char *, 6);

		for (guint i = 0; i < 5; i++)
			p[i] = g_strdup(f[i]);
		g_ptr_array_add(providers, p);
	}
	if (r < 0)
		return r;
	r = sd_bus_message_exit_container(m);
	if (r < 0)
		return r;
	return sd_bus_message_exit_container(m);
}

static int get_manager_info(sd_bus *bus, ManagerInfo *info)
{
	g_auto(sd_bus_error) error = SD_BUS_ERROR_NULL;
	g_autoptr(sd_bus_message) reply = NULL;
	int r;

	r = sd_bus_call_method(bus, BUS_NAME, MANAGER_PATH, PROPERTIES_IFACE, "GetAll", &error,
			       &reply, "s", MANAGER_IFACE);
	if (r < 0)
		return log_call_failed(_("Failed to query portmapd"), &error, r);

	info->providers = g_ptr_array_new_with_free_func((GDestroyNotify) g_strfreev);
	r = sd_bus_message_enter_container(reply, 'a', "{sv}");
	if (r < 0)
		return log_parse_error(r);
	while ((r = sd_bus_message_enter_container(reply, 'e', "sv")) > 0) {
		const char *key;

		r = sd_bus_message_read(reply, "s", &key);
		if (r < 0)
			return log_parse_error(r);

		if (g_str_equal(key, "Version"))
			r = read_variant_string(reply, &info->version);
		else if (g_str_equal(key, "State"))
			r = read_variant_string(reply, &info->state);
		else if (g_str_equal(key, "ExternalAddress"))
			r = read_variant_string(reply, &info->external_address);
		else if (g_str_equal(key, "GatewayMappings"))
			r = sd_bus_message_read(reply, "v", "u", &info->gateway_mappings);
		else if (g_str_equal(key, "Providers"))
			r = read_providers(reply, info->providers);
		else
			r = sd_bus_message_skip(reply, "v");
		if (r < 0)
			return log_parse_error(r);

		r = sd_bus_message_exit_container(reply);
		if (r < 0)
			return log_parse_error(r);
	}
	if (r < 0)
		return log_parse_error(r);
	return 0;
}

/* ---- simple verbs ---- */

/* Calls a method that returns nothing; with --no-block it is only sent. */
static int call_method(sd_bus *bus, const char *path, const char *interface, const char *member,
		       const char *object_arg, uint64_t timeout_usec, const char *failure)
{
	g_auto(sd_bus_error) error = SD_BUS_ERROR_NULL;
	g_autoptr(sd_bus_message) m = NULL;
	int r;

	r = sd_bus_message_new_method_call(bus, &m, BUS_NAME, path, interface, member);
	if (r < 0)
		return log_create_error(r);
	if (object_arg) {
		r = sd_bus_message_append(m, "o", object_arg);
		if (r < 0)
			return log_create_error(r);
	}

	if (arg_no_block) {
		/* the bus sends no error back for a call that expects no reply */
		r = sd_bus_message_set_expect_reply(m, 0);
		if (r < 0)
			return log_create_error(r);
		r = sd_bus_send(bus, m, NULL);
		if (r >= 0)
			r = sd_bus_flush(bus);
		if (r < 0) {
			fprintf(stderr, "%s: %s\n", failure, g_strerror(-r));
			return r;
		}
		/* stay on the bus until portmapd has taken the call: it asks the bus who sent
		 * it, which fails once the sender is gone. A Ping is answered in order, right
		 * after, and takes milliseconds, so the caller still does not wait for the run */
		(void)sd_bus_call_method(bus, BUS_NAME, "/org/portmap/Manager",
					 "org.freedesktop.DBus.Peer", "Ping", NULL, NULL, NULL);
		return 0;
	}

	r = sd_bus_call(bus, m, timeout_usec, &error, NULL);
	if (r < 0)
		return log_call_failed(failure, &error, r);
	return 0;
}

static int verb_status(int argc, char *argv[])
{
	g_auto(ManagerInfo) info = { 0 };
	g_autoptr(GPtrArray) mappings = NULL;
	g_autoptr(GArray) fields = NULL;
	g_autoptr(JsonNode) description = NULL;
	sd_bus *bus;
	guint active = 0;
	int r;

	r = acquire_bus(&bus);
	if (r < 0)
		return r;

	if (arg_json != JSON_OFF) {
		g_autoptr(JsonNode) root = NULL;

		r = get_description(bus, &root);
		if (r < 0)
			return r;
		print_json(root);
		return 0;
	}

	r = get_manager_info(bus, &info);
	if (r < 0)
		return r;
	r = list_mappings(bus, &mappings);
	if (r < 0)
		return r;
	/* for what only it carries (the gateway's router, consumers, STUN): the summary and
	 * the mapping table still print without it */
	(void) get_description(bus, &description);

	fields = fields_new();
	fields_add(fields, _("State"), g_strdup(empty_to_dash(info.state)));
	fields_add(fields, _("Version"), g_strdup(empty_to_dash(info.version)));
	for (guint i = 0; i < info.providers->len; i++) {
		char **p = info.providers->pdata[i];
		const char *key = i == 0 ? _("Providers") : NULL;

		if (is_empty(p[3]))
			fields_add(fields, key, g_strdup_printf("%s (%s): %s", p[0], p[1], p[2]));
		else
			fields_add(fields, key,
				   /* TRANSLATORS: a provider's name, type and state */
				   g_strdup_printf(_("%s (%s): %s, external address %s"),
						   p[0], p[1], p[2], p[3]));
		if (!is_empty(p[4]))
			fields_add(fields, NULL, g_strdup_printf(_("  last error: %s"), p[4]));
	}
	if (info.providers->len == 0)
		fields_add(fields, _("Providers"), g_strdup(_("none")));
	fields_add(fields, _("External address"), g_strdup(empty_to_dash(info.external_address)));
	/* only with [STUN]: Describe() has a "STUN" object then */
	status_add_stun_fields(fields, description);
	if (info.gateway_mappings > 0)
		fields_add(fields, _("Gateway mappings"),
			   g_strdup_printf("%u", info.gateway_mappings));
	/* a router that refuses rules (login, no interface) shows only there and in the log */
	if (description)
		add_gateway_router_fields(fields, description);

	for (guint i = 0; i < mappings->len; i++)
		if (g_strcmp0(((MappingInfo *) mappings->pdata[i])->state, "active") == 0)
			active++;
	fields_add(fields, _("Mappings"),
		   /* TRANSLATORS: the number of mappings, then how many are active */
		   g_strdup_printf(_("%u (%u active)"), mappings->len, active));
	fields_print(fields);

	if (mappings->len > 0) {
		printf("\n");
		print_mapping_table(mappings);
		/* consumers (port files, torrent clients, hooks) fail on their own: show how */
		if (description != NULL)
			print_consumer_table(description);
	}
	return 0;
}

static int verb_list(int argc, char *argv[])
{
	g_autoptr(GPtrArray) mappings = NULL;
	sd_bus *bus;
	int r;

	r = acquire_bus(&bus);
	if (r < 0)
		return r;

	if (arg_json != JSON_OFF) {
		g_autoptr(JsonNode) root = NULL;
		JsonNode *list;

		r = get_description(bus, &root);
		if (r < 0)
			return r;
		list = json_object_get_member(json_node_get_object(root), "Mappings");
		if (!list || !JSON_NODE_HOLDS_ARRAY(list)) {
			fprintf(stderr, _("The JSON description from portmapd has no Mappings "
					  "array.\n"));
			return -EBADMSG;
		}
		print_json(list);
		return 0;
	}

	r = list_mappings(bus, &mappings);
	if (r < 0)
		return r;

	if (mappings->len > 0)
		print_mapping_table(mappings);
	if (arg_legend) {
		if (mappings->len > 0)
			printf("\n");
		if (mappings->len == 0)
			printf(_("No mappings.\n"));
		else
			printf(ngettext("%u mapping listed.\n", "%u mappings listed.\n",
					mappings->len), mappings->len);
	}
	return 0;
}

static int verb_remove(int argc, char *argv[])
{
	g_autoptr(GPtrArray) mappings = NULL;
	const char *const *protocols = NULL;
	const MappingInfo *found = NULL;
	guint16 port = 0;
	sd_bus *bus;
	int r;

	if (argc == 3) {
		protocols = parse_protocol(argv[1]);
		if (!protocols) {
			fprintf(stderr, _("Invalid protocol \"%s\": expected tcp, udp or "
					  "both.\n"), argv[1]);
			return EXIT_USAGE;
		}
		if (!parse_port(argv[2], 1, &port)) {
			fprintf(stderr, _("Invalid port \"%s\": expected 1-65535.\n"), argv[2]);
			return EXIT_USAGE;
		}
	}

	r = acquire_bus(&bus);
	if (r < 0)
		return r;
	r = list_mappings(bus, &mappings);
	if (r < 0)
		return r;

	if (!protocols) {
		found = find_mapping_by_name(mappings, argv[1]);
		if (!found) {
			fprintf(stderr, _("No mapping named \"%s\".\n"), argv[1]);
			return -ENOENT;
		}
	} else {
		const char *want = protocols_to_string(protocols);
		g_autoptr(GPtrArray) names = g_ptr_array_new();

		for (guint i = 0; i < mappings->len; i++) {
			const MappingInfo *m = mappings->pdata[i];

			if (m->internal_port == port &&
			    g_str_equal(protocols_to_string((const char *const *) m->protocols),
					want)) {
				found = m;
				g_ptr_array_add(names, m->name);
			}
		}
		if (!found) {
			fprintf(stderr, _("No mapping for %s port %u.\n"), want, port);
			return -ENOENT;
		}
		/* the same port may be mapped at two providers: never guess which */
		if (names->len > 1) {
			g_autofree char *list = NULL;

			g_ptr_array_add(names, NULL);
			list = g_strjoinv(", ", (char **) names->pdata);
			fprintf(stderr, _("Several mappings match %s port %u (%s): remove one "
					  "by name.\n"), want, port, list);
			return -ENOTUNIQ;
		}
	}

	return call_method(bus, MANAGER_PATH, MANAGER_IFACE, "RemoveMapping", found->path, 0,
			   _("Failed to remove mapping"));
}

static int verb_refresh(int argc, char *argv[])
{
	g_auto(sd_bus_error) error = SD_BUS_ERROR_NULL;
	g_autofree char *path = NULL;
	g_autofree char *state = NULL;
	g_autofree char *last_error = NULL;
	sd_bus *bus;
	int r;

	r = acquire_bus(&bus);
	if (r < 0)
		return r;

	if (argc < 2)
		return call_method(bus, MANAGER_PATH, MANAGER_IFACE, "RefreshAll", NULL,
				   LONG_CALL_TIMEOUT_USEC, _("Failed to refresh"));

	r = lookup_mapping(bus, argv[1], &path);
	if (r < 0)
		return r;
	r = call_method(bus, path, MAPPING_IFACE, "Refresh", NULL, LONG_CALL_TIMEOUT_USEC,
			_("Failed to refresh mapping"));
	if (r < 0 || arg_no_block)
		return r;

	/* Refresh() replies when the run ends: say how it ended, like "systemctl restart" */
	r = sd_bus_get_property_string(bus, BUS_NAME, path, MAPPING_IFACE, "State", &error,
				       &state);
	if (r < 0)
		return log_call_failed(_("Failed to query mapping"), &error, r);
	if (!g_str_equal(state, "failed"))
		return 0;
	(void) sd_bus_get_property_string(bus, BUS_NAME, path, MAPPING_IFACE, "LastError", NULL,
					  &last_error);
	fprintf(stderr, _("Mapping %s failed: %s\n"), argv[1], empty_to_dash(last_error));
	return -EIO;
}

/* renewing still holds its lease, the other states have no usable port */
gboolean mapping_has_port(const char *state, guint16 external_port)
{
	return external_port != 0 &&
	       (g_strcmp0(state, "active") == 0 || g_strcmp0(state, "renewing") == 0);
}

static int verb_port(int argc, char *argv[])
{
	g_autoptr(GPtrArray) mappings = NULL;
	const MappingInfo *m;
	sd_bus *bus;
	int r;

	r = acquire_bus(&bus);
	if (r < 0)
		return r;
	r = list_mappings(bus, &mappings);
	if (r < 0)
		return r;

	if (argc > 1) {
		m = find_mapping_by_name(mappings, argv[1]);
		if (!m) {
			fprintf(stderr, _("No mapping named \"%s\".\n"), argv[1]);
			return -ENOENT;
		}
	} else if (mappings->len == 0) {
		fprintf(stderr, _("No mappings.\n"));
		return -ENOENT;
	} else if (mappings->len > 1) {
		g_autoptr(GPtrArray) names = g_ptr_array_new();
		g_autofree char *list = NULL;

		for (guint i = 0; i < mappings->len; i++)
			g_ptr_array_add(names, ((MappingInfo *) mappings->pdata[i])->name);
		g_ptr_array_add(names, NULL);
		list = g_strjoinv(", ", (char **) names->pdata);
		fprintf(stderr, _("There are %u mappings, name one of: %s\n"), mappings->len,
			list);
		return -ENOTUNIQ;
	} else
		m = mappings->pdata[0];

	if (!mapping_has_port(m->state, m->external_port)) {
		if (is_empty(m->last_error))
			/* TRANSLATORS: a mapping's name and its untranslated state */
			fprintf(stderr, _("Mapping %s is %s.\n"), m->name, m->state);
		else
			fprintf(stderr, _("Mapping %s is %s: %s\n"), m->name, m->state,
				m->last_error);
		return -EAGAIN;
	}

	if (arg_json != JSON_OFF) {
		g_autoptr(JsonBuilder) b = json_builder_new();

		json_builder_begin_object(b);
		json_builder_set_member_name(b, "ExternalPort");
		json_builder_add_int_value(b, m->external_port);
		json_builder_end_object(b);
		print_json_builder(b);
	} else
		printf("%u\n", m->external_port);
	return 0;
}

/* DiscoverEndpoint() replies with the endpoint and NAT type once the run has classified
 * the NAT; the behaviours and what each server answered are in Describe() */
static int verb_discover(int argc, char *argv[])
{
	g_auto(sd_bus_error) error = SD_BUS_ERROR_NULL;
	g_autoptr(sd_bus_message) m = NULL;
	g_autoptr(sd_bus_message) reply = NULL;
	g_autoptr(JsonNode) description = NULL;
	const char *endpoint, *nat_type;
	sd_bus *bus;
	int r;

	r = acquire_bus(&bus);
	if (r < 0)
		return r;
	r = sd_bus_message_new_method_call(bus, &m, BUS_NAME, MANAGER_PATH, MANAGER_IFACE,
					   "DiscoverEndpoint");
	if (r < 0)
		return log_create_error(r);
	r = sd_bus_call(bus, m, LONG_CALL_TIMEOUT_USEC, &error, &reply);
	if (r < 0)
		return log_call_failed(_("Failed to discover endpoint"), &error, r);
	r = sd_bus_message_read(reply, "ss", &endpoint, &nat_type);
	if (r < 0)
		return log_parse_error(r);
	r = get_description(bus, &description);
	if (r < 0)
		return r;

	if (arg_json != JSON_OFF) {
		g_autoptr(JsonNode) node = discover_to_json(description, endpoint, nat_type);

		print_json(node);
	} else {
		g_autoptr(GArray) fields = fields_new();

		discover_add_fields(fields, description, endpoint, nat_type);
		fields_print(fields);
	}
	return 0;
}

static int verb_reload(int argc, char *argv[])
{
	sd_bus *bus;
	int r;

	r = acquire_bus(&bus);
	if (r < 0)
		return r;
	return call_method(bus, MANAGER_PATH, MANAGER_IFACE, "Reload", NULL, 0,
			   _("Failed to reload"));
}

/* ---- command line ---- */

static int verb_help(int argc, char *argv[]);

#define VERB_ANY G_MAXUINT
#define VERB_DEFAULT (1u << 0)

typedef struct {
	const char *name;
	guint min_args;         /* counting the verb itself, like systemd */
	guint max_args;
	guint flags;
	int (*dispatch)(int argc, char *argv[]);
} Verb;

static const Verb verbs[] = {
	{ "status",   VERB_ANY, 1,        VERB_DEFAULT, verb_status   },
	{ "list",     VERB_ANY, 1,        0,            verb_list     },
	{ "add",      3,        3,        0,            verb_add      },
	{ "remove",   2,        3,        0,            verb_remove   },
	{ "refresh",  VERB_ANY, 2,        0,            verb_refresh  },
	{ "port",     VERB_ANY, 2,        0,            verb_port     },
	{ "discover", VERB_ANY, 1,        0,            verb_discover },
	{ "monitor",  VERB_ANY, 1,        0,            verb_monitor  },
	{ "reload",   VERB_ANY, 1,        0,            verb_reload   },
	{ "help",     VERB_ANY, VERB_ANY, 0,            verb_help     },
};

static int help(void)
{
	gboolean colors = colors_enabled();

	/* TRANSLATORS: keep commands and options as they are, descriptions at column 28 */
	printf(_("%s [OPTIONS...] COMMAND ...\n"
		 "\n"
		 "%sQuery and change the port mappings of portmapd.%s\n"
		 "\n"
		 "Commands:\n"
		 "  status                   Show the daemon, its providers and mappings\n"
		 "                           (default)\n"
		 "  list                     List the mappings\n"
		 "  add PROTO PORT [-- COMMAND [ARGUMENT...]]\n"
		 "                           Map an internal port and print the external\n"
		 "                           port; with COMMAND, keep the mapping while\n"
		 "                           COMMAND runs\n"
		 "  remove NAME|PROTO PORT   Remove a mapping\n"
		 "  refresh [NAME]           Renew every mapping, or the named one\n"
		 "  port [NAME]              Print the external port of a mapping\n"
		 "  discover                 Discover the public endpoint and NAT behaviour\n"
		 "                           with STUN (needs a [STUN] section)\n"
		 "  monitor                  Print mapping and endpoint changes as they\n"
		 "                           happen\n"
		 "  reload                   Make portmapd reload its configuration\n"
		 "\n"
		 "Options:\n"
		 "  -h --help                Show this help\n"
		 "     --version             Show package version\n"
		 "     --json=pretty|short|off\n"
		 "                           Generate JSON output\n"
		 "     --no-legend           Do not show the headers and footers\n"
		 "     --no-pager            Accepted for compatibility: output is never paged\n"
		 "     --no-ask-password     Do not prompt for a password\n"
		 "     --no-block            Do not wait until the operation has finished\n"
		 "     --wait=SECONDS        How long add waits for the mapping to become\n"
		 "                           active (default: 30; 0: do not wait)\n"
		 "\n"
		 "Options for add:\n"
		 "     --provider=NAME       Map at this provider (default: the default one)\n"
		 "     --external-port=PORT  Ask for this external port\n"
		 "     --require-external-port\n"
		 "                           Fail unless the external port asked for is granted\n"
		 "     --lifetime=SECONDS    Lease to ask for (default: the provider's)\n"
		 "     --name=NAME           Name of the mapping (default: bus-N)\n"
		 "     --description=TEXT    Description of the mapping\n"
		 "     --persist             Keep the mapping across restarts of portmapd\n"
		 "\n"
		 "PROTO is tcp, udp or both; PORT is the internal port (1-65535); NAME is the\n"
		 "name of a mapping. COMMAND runs with PORTMAP_INTERNAL_PORT,\n"
		 "PORTMAP_EXTERNAL_PORT and PORTMAP_EXTERNAL_ADDRESS set.\n"
		 "\n"
		 "See the portmapctl(1) man page for details.\n"),
	       "portmapctl", colors ? "\033[0;1;39m" : "", colors ? "\033[0m" : "");
	return 0;
}

static int verb_help(int argc, char *argv[])
{
	return help();
}

static int parse_argv(int argc, char *argv[], GPtrArray *args)
{
	enum {
		ARG_VERSION = 0x100,
		ARG_JSON,
		ARG_NO_LEGEND,
		ARG_NO_PAGER,
		ARG_NO_ASK_PASSWORD,
		ARG_NO_BLOCK,
		ARG_WAIT,
		ARG_PROVIDER,
		ARG_EXTERNAL_PORT,
		ARG_REQUIRE_EXTERNAL_PORT,
		ARG_LIFETIME,
		ARG_NAME,
		ARG_DESCRIPTION,
		ARG_PERSIST,
	};
	static const struct option options[] = {
		{ "help",                  no_argument,       NULL, 'h'                       },
		{ "version",               no_argument,       NULL, ARG_VERSION               },
		{ "json",                  required_argument, NULL, ARG_JSON                  },
		{ "no-legend",             no_argument,       NULL, ARG_NO_LEGEND             },
		{ "no-pager",              no_argument,       NULL, ARG_NO_PAGER              },
		{ "no-ask-password",       no_argument,       NULL, ARG_NO_ASK_PASSWORD       },
		{ "no-block",              no_argument,       NULL, ARG_NO_BLOCK              },
		{ "wait",                  required_argument, NULL, ARG_WAIT                  },
		{ "provider",              required_argument, NULL, ARG_PROVIDER              },
		{ "external-port",         required_argument, NULL, ARG_EXTERNAL_PORT         },
		{ "require-external-port", no_argument,       NULL, ARG_REQUIRE_EXTERNAL_PORT },
		{ "lifetime",              required_argument, NULL, ARG_LIFETIME              },
		{ "name",                  required_argument, NULL, ARG_NAME                  },
		{ "description",           required_argument, NULL, ARG_DESCRIPTION           },
		{ "persist",               no_argument,       NULL, ARG_PERSIST               },
		{}
	};
	guint64 v;
	int c;

	/* "-" returns operands in order (as 1) and stops at "--" with optind just past it,
	 * so that add's COMMAND can be told apart from add's own operands */
	while ((c = getopt_long(argc, argv, "-h", options, NULL)) >= 0) {
		switch (c) {
		case 1:
			g_ptr_array_add(args, optarg);
			break;
		case 'h':
			help();
			return 0;
		case ARG_VERSION:
			printf("portmapctl %s\n", PACKAGE_VERSION);
			return 0;
		case ARG_JSON:
			if (g_str_equal(optarg, "pretty"))
				arg_json = JSON_PRETTY;
			else if (g_str_equal(optarg, "short"))
				arg_json = JSON_SHORT;
			else if (g_str_equal(optarg, "off"))
				arg_json = JSON_OFF;
			else if (g_str_equal(optarg, "help")) {
				printf("pretty\nshort\noff\n");
				return 0;
			} else {
				fprintf(stderr, _("Invalid --json= mode \"%s\": expected pretty, "
						  "short or off.\n"), optarg);
				return -EINVAL;
			}
			break;
		case ARG_NO_LEGEND:
			arg_legend = FALSE;
			break;
		case ARG_NO_PAGER:
			/* accepted for systemd users' habits: portmapctl never pages */
			break;
		case ARG_NO_ASK_PASSWORD:
			arg_ask_password = FALSE;
			break;
		case ARG_NO_BLOCK:
			arg_no_block = TRUE;
			break;
		case ARG_WAIT:
			if (!parse_seconds_option("--wait", optarg, &v))
				return -EINVAL;
			arg_wait_sec = (guint) v;
			break;
		case ARG_PROVIDER:
			arg_provider = optarg;
			break;
		case ARG_EXTERNAL_PORT:
			if (!parse_port(optarg, 0, &arg_external_port)) {
				fprintf(stderr, _("Invalid --external-port= value \"%s\": "
						  "expected 0-65535.\n"), optarg);
				return -EINVAL;
			}
			break;
		case ARG_REQUIRE_EXTERNAL_PORT:
			arg_require_external_port = TRUE;
			break;
		case ARG_LIFETIME:
			if (!parse_seconds_option("--lifetime", optarg, &v))
				return -EINVAL;
			arg_lifetime = (guint32) v;
			break;
		case ARG_NAME:
			arg_name = optarg;
			break;
		case ARG_DESCRIPTION:
			arg_description = optarg;
			break;
		case ARG_PERSIST:
			arg_persist = TRUE;
			break;
		case '?':
			return -EINVAL;
		default:
			g_assert_not_reached();
		}
	}

	/* after "--": add's COMMAND, or just more operands for the other verbs */
	if (optind < argc) {
		if (args->len > 0 && g_str_equal(args->pdata[0], "add"))
			arg_command = argv + optind;
		else
			for (int i = optind; i < argc; i++)
				g_ptr_array_add(args, argv[i]);
	}

	if (arg_command) {
		if (arg_persist) {
			fprintf(stderr, _("--persist cannot be used with a COMMAND: the "
					  "mapping lives while COMMAND runs.\n"));
			return -EINVAL;
		}
		if (arg_no_block || arg_wait_sec == 0) {
			fprintf(stderr, _("--no-block and --wait=0 cannot be used with a "
					  "COMMAND: it needs the granted port.\n"));
			return -EINVAL;
		}
	}
	return 1;
}

static int dispatch_verb(int argc, char *argv[])
{
	const Verb *verb = NULL;
	guint n = (guint) argc;

	if (argc == 0) {
		for (guint i = 0; i < G_N_ELEMENTS(verbs); i++)
			if (verbs[i].flags & VERB_DEFAULT)
				verb = &verbs[i];
		n = 1;
	} else {
		for (guint i = 0; i < G_N_ELEMENTS(verbs); i++)
			if (g_str_equal(argv[0], verbs[i].name))
				verb = &verbs[i];
		if (!verb) {
			fprintf(stderr, _("Unknown command verb \"%s\".\n"), argv[0]);
			return EXIT_USAGE;
		}
	}
	g_assert(verb);

	if (verb->min_args != VERB_ANY && n < verb->min_args) {
		fprintf(stderr, _("Too few arguments.\n"));
		return EXIT_USAGE;
	}
	if (verb->max_args != VERB_ANY && n > verb->max_args) {
		fprintf(stderr, _("Too many arguments.\n"));
		return EXIT_USAGE;
	}

	if (argc == 0) {
		static char *default_argv[] = { NULL, NULL };

		default_argv[0] = (char *) verb->name;
		return verb->dispatch(1, default_argv);
	}
	return verb->dispatch(argc, argv);
}

static int run(int argc, char *argv[])
{
	g_autoptr(GPtrArray) args = g_ptr_array_new();
	int r;

	r = parse_argv(argc, argv, args);
	if (r <= 0)
		return r < 0 ? EXIT_USAGE : EXIT_SUCCESS;

	g_ptr_array_add(args, NULL);
	r = dispatch_verb((int) args->len - 1, (char **) args->pdata);

	/* for add -- COMMAND, closing the connection is what releases the client mapping */
	g_clear_pointer(&bus_connection, sd_bus_flush_close_unref);
	return r;
}

int main(int argc, char *argv[])
{
	int r;

	pm_i18n_init();

	r = run(argc, argv);
	return r < 0 ? EXIT_FAILURE : r;
}
