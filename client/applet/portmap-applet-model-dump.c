/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * portmap-applet-model-dump: the applet without GTK, for tests and benchmarks. A
 * GApplication (non-unique, so several may run) with the applet's model and notifier that
 * prints one JSON object per line on stdout, flushed:
 *
 *   {"event": "changed", "icon": "ok"|"warning"|"absent", "icon_name": "portmap-ok",
 *    "present": bool, "title": "...", "mappings": [...], "providers": [...],
 *    "public_endpoint": "", "nat_type": "", "menu": [...]}      after each "changed"
 *   {"event": "notification", "id": "...", "title": "...", "body": "..."}  each one sent
 *   {"event": "about", "text": "..."}   with --describe, each time portmapd has appeared
 *   {"event": "about-error", "message": "..."}                  ... if Describe() failed
 *   {"event": "reply", "command": "...", "ok": bool, "result": ..., "error": ...}
 *
 * It reads commands on stdin, one per line, and calls the model as the applet's menu
 * does, then prints a "reply" (result: the new mapping's path for add, else null; error:
 * the message shown in the applet's error dialog, else null):
 *
 *   refresh                          RefreshAll
 *   add tcp|udp|both PORT [persistent]  AddMapping (scope client unless persistent)
 *   remove NAME                      RemoveMapping of the mapping of that name
 *   describe                         prints "about" (or "about-error") too
 *
 * Mappings carry path, name, provider, protocols, internal_port, external_address,
 * external_port, state, last_error, scope, origin, label, error_label (null if none) and
 * copy_text (null before a grant); providers name, type, state, external_address,
 * last_error and label; menu items kind ("text", "action", "separator", "submenu"), label,
 * action ("copy", "refresh", "add", "remove", "about", "quit"; null), target, sensitive
 * and, for a submenu, children. It exits 0 on SIGTERM or SIGINT.
 */
#define G_LOG_DOMAIN "portmap-applet"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include <gio/gunixinputstream.h>
#include <glib-unix.h>
#include <json-glib/json-glib.h>

#include "build-info.h"
#include "pm-applet-describe.h"
#include "pm-i18n.h"
#include "pm-applet-model.h"
#include "pm-applet-notifier.h"

typedef struct {
	gboolean describe;
	gboolean was_present;
	PmAppletModel *model;
	PmAppletNotifier *notifier;
	GDataInputStream *input;
	GCancellable *cancellable;
} Dump;

static void
print_node(JsonNode *root)
{
	g_autoptr(JsonGenerator) generator = json_generator_new();
	g_autofree char *text = NULL;

	json_generator_set_root(generator, root);
	text = json_generator_to_data(generator, NULL);
	/* bytes as they are (UTF-8): g_print() would convert to the locale's charset */
	fputs(text, stdout);
	fputc('\n', stdout);
	fflush(stdout);
}

static void
add_string_or_null(JsonBuilder *builder, const char *name, const char *value)
{
	json_builder_set_member_name(builder, name);
	if (value != NULL)
		json_builder_add_string_value(builder, value);
	else
		json_builder_add_null_value(builder);
}

static const char *
item_kind_name(PmAppletItemKind kind)
{
	switch (kind) {
	case PM_APPLET_ITEM_TEXT:
		return "text";
	case PM_APPLET_ITEM_ACTION:
		return "action";
	case PM_APPLET_ITEM_SEPARATOR:
		return "separator";
	case PM_APPLET_ITEM_SUBMENU:
	default:
		return "submenu";
	}
}

static const char *
action_name(PmAppletAction action)
{
	switch (action) {
	case PM_APPLET_ACTION_COPY:
		return "copy";
	case PM_APPLET_ACTION_REFRESH:
		return "refresh";
	case PM_APPLET_ACTION_ADD:
		return "add";
	case PM_APPLET_ACTION_REMOVE:
		return "remove";
	case PM_APPLET_ACTION_ABOUT:
		return "about";
	case PM_APPLET_ACTION_QUIT:
		return "quit";
	case PM_APPLET_ACTION_NONE:
	default:
		return NULL;
	}
}

static void
add_items(JsonBuilder *builder, GPtrArray *items)
{
	json_builder_begin_array(builder);
	for (guint i = 0; i < items->len; i++) {
		PmAppletItem *item = g_ptr_array_index(items, i);
		json_builder_begin_object(builder);
		add_string_or_null(builder, "kind", item_kind_name(item->kind));
		add_string_or_null(builder, "label", item->label);
		add_string_or_null(builder, "action", action_name(item->action));
		add_string_or_null(builder, "target", item->target);
		json_builder_set_member_name(builder, "sensitive");
		json_builder_add_boolean_value(builder, item->sensitive);
		if (item->children != NULL) {
			json_builder_set_member_name(builder, "children");
			add_items(builder, item->children);
		}
		json_builder_end_object(builder);
	}
	json_builder_end_array(builder);
}

static void
add_mappings(JsonBuilder *builder, GPtrArray *mappings)
{
	json_builder_begin_array(builder);
	for (guint i = 0; i < mappings->len; i++) {
		PmAppletMapping *m = g_ptr_array_index(mappings, i);
		json_builder_begin_object(builder);
		add_string_or_null(builder, "path", m->path);
		add_string_or_null(builder, "name", m->name);
		add_string_or_null(builder, "provider", m->provider);
		json_builder_set_member_name(builder, "protocols");
		json_builder_begin_array(builder);
		for (guint j = 0; m->protocols != NULL && m->protocols[j] != NULL; j++)
			json_builder_add_string_value(builder, m->protocols[j]);
		json_builder_end_array(builder);
		json_builder_set_member_name(builder, "internal_port");
		json_builder_add_int_value(builder, m->internal_port);
		add_string_or_null(builder, "external_address", m->external_address);
		json_builder_set_member_name(builder, "external_port");
		json_builder_add_int_value(builder, m->external_port);
		add_string_or_null(builder, "state", m->state);
		add_string_or_null(builder, "last_error", m->last_error);
		add_string_or_null(builder, "scope", m->scope);
		add_string_or_null(builder, "origin", m->origin);
		add_string_or_null(builder, "label", m->label);
		add_string_or_null(builder, "error_label", m->error_label);
		add_string_or_null(builder, "copy_text", m->copy_text);
		json_builder_end_object(builder);
	}
	json_builder_end_array(builder);
}

static void
add_providers(JsonBuilder *builder, GPtrArray *providers)
{
	json_builder_begin_array(builder);
	for (guint i = 0; i < providers->len; i++) {
		PmAppletProvider *p = g_ptr_array_index(providers, i);
		json_builder_begin_object(builder);
		add_string_or_null(builder, "name", p->name);
		add_string_or_null(builder, "type", p->type);
		add_string_or_null(builder, "state", p->state);
		add_string_or_null(builder, "external_address", p->external_address);
		add_string_or_null(builder, "last_error", p->last_error);
		add_string_or_null(builder, "label", p->label);
		json_builder_end_object(builder);
	}
	json_builder_end_array(builder);
}

static void print_event(const char *event, ...) G_GNUC_NULL_TERMINATED;

/* {"event": @event, NAME: VALUE...} of string pairs */
static void
print_event(const char *event, ...)
{
	g_autoptr(JsonBuilder) builder = json_builder_new();
	g_autoptr(JsonNode) root = NULL;
	const char *name;
	va_list args;

	json_builder_begin_object(builder);
	add_string_or_null(builder, "event", event);
	va_start(args, event);
	while ((name = va_arg(args, const char *)) != NULL)
		add_string_or_null(builder, name, va_arg(args, const char *));
	va_end(args);
	json_builder_end_object(builder);
	root = json_builder_get_root(builder);
	print_node(root);
}

static void
print_reply(const char *command, const char *result, const GError *error)
{
	g_autoptr(JsonBuilder) builder = json_builder_new();
	g_autoptr(JsonNode) root = NULL;

	json_builder_begin_object(builder);
	add_string_or_null(builder, "event", "reply");
	add_string_or_null(builder, "command", command);
	json_builder_set_member_name(builder, "ok");
	json_builder_add_boolean_value(builder, error == NULL);
	add_string_or_null(builder, "result", result);
	add_string_or_null(builder, "error", error != NULL ? error->message : NULL);
	json_builder_end_object(builder);
	root = json_builder_get_root(builder);
	print_node(root);
}

static void
describe_done_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *json = NULL;
	g_autofree char *text = NULL;

	json = pm_applet_model_describe_finish(PM_APPLET_MODEL(source), result, &error);
	if (json != NULL)
		text = pm_applet_describe_format(json, &error);
	if (text == NULL) {
		print_event("about-error", "message", error->message, NULL);
		return;
	}
	print_event("about", "text", text, NULL);
}

static void
changed_cb(PmAppletModel *model, gpointer user_data)
{
	Dump *dump = user_data;
	g_autoptr(JsonBuilder) builder = json_builder_new();
	g_autoptr(JsonNode) root = NULL;
	gboolean present = pm_applet_model_get_present(model);

	json_builder_begin_object(builder);
	add_string_or_null(builder, "event", "changed");
	add_string_or_null(
	    builder, "icon",
	    pm_applet_model_icon_state_to_string(pm_applet_model_get_icon_state(model)));
	add_string_or_null(builder, "icon_name", pm_applet_model_get_icon_name(model));
	json_builder_set_member_name(builder, "present");
	json_builder_add_boolean_value(builder, present);
	add_string_or_null(builder, "title", pm_applet_model_get_title(model));
	json_builder_set_member_name(builder, "mappings");
	add_mappings(builder, pm_applet_model_get_mappings(model));
	json_builder_set_member_name(builder, "providers");
	add_providers(builder, pm_applet_model_get_providers(model));
	add_string_or_null(builder, "public_endpoint", pm_applet_model_get_public_endpoint(model));
	add_string_or_null(builder, "nat_type", pm_applet_model_get_nat_type(model));
	json_builder_set_member_name(builder, "menu");
	add_items(builder, pm_applet_model_get_menu(model));
	json_builder_end_object(builder);
	root = json_builder_get_root(builder);
	print_node(root);

	if (dump->describe && present && !dump->was_present)
		pm_applet_model_describe(model, NULL, describe_done_cb, dump);
	dump->was_present = present;
}

static void
sent_cb(PmAppletNotifier *notifier, const char *id, const char *title, const char *body,
	gpointer user_data)
{
	print_event("notification", "id", id, "title", title, "body", body, NULL);
}

static void
refresh_done_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
	g_autofree char *command = user_data;
	g_autoptr(GError) error = NULL;

	(void)pm_applet_model_refresh_all_finish(PM_APPLET_MODEL(source), result, &error);
	print_reply(command, NULL, error);
}

static void
add_done_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
	g_autofree char *command = user_data;
	g_autoptr(GError) error = NULL;
	g_autofree char *path =
	    pm_applet_model_add_mapping_finish(PM_APPLET_MODEL(source), result, &error);

	print_reply(command, path, error);
}

static void
remove_done_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
	g_autofree char *command = user_data;
	g_autoptr(GError) error = NULL;

	(void)pm_applet_model_remove_mapping_finish(PM_APPLET_MODEL(source), result, &error);
	print_reply(command, NULL, error);
}

/* @line is stripped in place */
static void
run_command(Dump *dump, char *line)
{
	g_auto(GStrv) words = g_strsplit_set(g_strstrip(line), " \t", -1);
	g_autoptr(GError) error = NULL;
	guint n = g_strv_length(words);

	if (n == 0 || words[0][0] == '\0')
		return;
	if (g_str_equal(words[0], "refresh") && n == 1) {
		pm_applet_model_refresh_all(dump->model, dump->cancellable, refresh_done_cb,
					    g_strdup(line));
		return;
	}
	if (g_str_equal(words[0], "describe") && n == 1) {
		pm_applet_model_describe(dump->model, dump->cancellable, describe_done_cb, dump);
		return;
	}
	if (g_str_equal(words[0], "add") && (n == 3 || n == 4)) {
		const char *both[] = {"tcp", "udp", NULL};
		const char *one[] = {words[1], NULL};
		guint64 port = 0;

		if (!g_str_equal(words[1], "tcp") && !g_str_equal(words[1], "udp") &&
		    !g_str_equal(words[1], "both")) {
			g_set_error(&error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
				    "unknown protocol \"%s\": tcp, udp or both", words[1]);
		} else if (!g_ascii_string_to_unsigned(words[2], 10, 1, 65535, &port, &error)) {
			g_prefix_error(&error, "internal port: ");
		} else if (n == 4 && !g_str_equal(words[3], "persistent")) {
			g_set_error(&error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
				    "unknown word \"%s\": persistent or nothing", words[3]);
		}
		if (error != NULL) {
			print_reply(line, NULL, error);
			return;
		}
		pm_applet_model_add_mapping(dump->model, g_str_equal(words[1], "both") ? both : one,
					    (guint16)port, n == 4, dump->cancellable, add_done_cb,
					    g_strdup(line));
		return;
	}
	if (g_str_equal(words[0], "remove") && n == 2) {
		GPtrArray *mappings = pm_applet_model_get_mappings(dump->model);
		for (guint i = 0; i < mappings->len; i++) {
			PmAppletMapping *m = g_ptr_array_index(mappings, i);
			if (g_str_equal(m->name, words[1])) {
				pm_applet_model_remove_mapping(dump->model, m->path,
							       dump->cancellable, remove_done_cb,
							       g_strdup(line));
				return;
			}
		}
		g_set_error(&error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "no mapping \"%s\"",
			    words[1]);
		print_reply(line, NULL, error);
		return;
	}
	g_set_error(&error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
		    "unknown command \"%s\": refresh, add, remove or describe", line);
	print_reply(line, NULL, error);
}

static void
read_line_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *line = g_data_input_stream_read_line_finish_utf8(
	    G_DATA_INPUT_STREAM(source), result, NULL, &error);
	Dump *dump = user_data;

	if (line == NULL) {
		/* end of input (or it is not readable): commands are over, the output goes on */
		if (error != NULL && !g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
			g_warning("stdin: %s", error->message);
		return;
	}
	run_command(dump, line);
	g_data_input_stream_read_line_async(dump->input, G_PRIORITY_DEFAULT, dump->cancellable,
					    read_line_cb, dump);
}

static gboolean
quit_cb(gpointer user_data)
{
	g_application_quit(G_APPLICATION(user_data));
	return G_SOURCE_CONTINUE;
}

static int
handle_local_options_cb(GApplication *application, GVariantDict *options, gpointer user_data)
{
	Dump *dump = user_data;

	if (g_variant_dict_contains(options, "version")) {
		printf("portmap-applet-model-dump %s\n", PACKAGE_VERSION);
		return EXIT_SUCCESS;
	}
	dump->describe = g_variant_dict_contains(options, "describe");
	return -1;
}

static void
startup_cb(GApplication *application, gpointer user_data)
{
	Dump *dump = user_data;
	g_autoptr(GInputStream) stdin_stream = NULL;

	g_application_hold(application);
	dump->model = pm_applet_model_new();
	dump->notifier = pm_applet_notifier_new(application, dump->model);
	g_signal_connect(dump->model, "changed", G_CALLBACK(changed_cb), dump);
	g_signal_connect(dump->notifier, "sent", G_CALLBACK(sent_cb), dump);
	dump->cancellable = g_cancellable_new();
	stdin_stream = g_unix_input_stream_new(0, FALSE);
	dump->input = g_data_input_stream_new(stdin_stream);
	g_data_input_stream_read_line_async(dump->input, G_PRIORITY_DEFAULT, dump->cancellable,
					    read_line_cb, dump);
	g_unix_signal_add(SIGTERM, quit_cb, application);
	g_unix_signal_add(SIGINT, quit_cb, application);
}

static void
activate_cb(GApplication *application, gpointer user_data)
{
}

static void
shutdown_cb(GApplication *application, gpointer user_data)
{
	Dump *dump = user_data;

	g_cancellable_cancel(dump->cancellable);
	g_clear_object(&dump->cancellable);
	g_clear_object(&dump->input);
	g_clear_object(&dump->notifier);
	g_clear_object(&dump->model);
}

int
main(int argc, char *argv[])
{
	g_autoptr(GApplication) application = NULL;
	Dump dump = {0};
	const GOptionEntry options[] = {
	    {"version", 0, G_OPTION_FLAG_NONE, G_OPTION_ARG_NONE, NULL,
	     "Print the version and exit", NULL},
	    {"describe", 0, G_OPTION_FLAG_NONE, G_OPTION_ARG_NONE, NULL,
	     "Also print the About text each time portmapd appears", NULL},
	    {NULL},
	};

	pm_i18n_init();
	application = g_application_new("org.portmap.AppletModelDump", G_APPLICATION_NON_UNIQUE);
	g_application_add_main_option_entries(application, options);
	g_application_set_option_context_summary(
	    application, "Prints what portmap-applet would show, one JSON object per line.");
	g_signal_connect(application, "handle-local-options", G_CALLBACK(handle_local_options_cb),
			 &dump);
	g_signal_connect(application, "startup", G_CALLBACK(startup_cb), &dump);
	g_signal_connect(application, "activate", G_CALLBACK(activate_cb), &dump);
	g_signal_connect(application, "shutdown", G_CALLBACK(shutdown_cb), &dump);
	return g_application_run(application, argc, argv);
}
