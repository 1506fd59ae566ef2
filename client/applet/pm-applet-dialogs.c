/* SPDX-License-Identifier: GPL-2.0-or-later */
#define G_LOG_DOMAIN "portmap-applet"
#include "pm-applet-dialogs.h"

#include <glib/gi18n.h>

void
pm_applet_show_error(GtkWindow *parent, const char *primary, const GError *error)
{
	GtkWidget *dialog;

	if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
		return;
	/* transient for the Add dialog it answers: without it a window manager may put it
	 * anywhere, under that dialog too */
	dialog = gtk_message_dialog_new(parent, parent != NULL ? GTK_DIALOG_DESTROY_WITH_PARENT : 0,
					GTK_MESSAGE_ERROR, GTK_BUTTONS_CLOSE, "%s", primary);
	gtk_message_dialog_format_secondary_text(GTK_MESSAGE_DIALOG(dialog), "%s", error->message);
	gtk_window_set_title(GTK_WINDOW(dialog), _("Port Mappings"));
	g_signal_connect(dialog, "response", G_CALLBACK(gtk_widget_destroy), NULL);
	gtk_widget_show(dialog);
}

/* ---- Add mapping ---- */

typedef struct {
	PmAppletModel *model;
	GtkWidget *dialog;
	GtkWidget *protocol;
	GtkWidget *port;
	GtkWidget *port_error;
	GtkWidget *persistent;
	GtkWidget *scope_note;
	GCancellable *cancellable;
} AddDialog;

static void
add_dialog_free(AddDialog *d)
{
	g_cancellable_cancel(d->cancellable);
	g_object_unref(d->cancellable);
	g_object_unref(d->model);
	g_free(d);
}

/* the port typed, 0 if it is not one (and *why says so) */
static guint16
add_dialog_port(AddDialog *d, const char **why)
{
	const char *text = gtk_entry_get_text(GTK_ENTRY(d->port));
	guint64 port = 0;

	*why = NULL;
	if (text[0] == '\0') {
		*why = "";
		return 0;
	}
	if (!g_ascii_string_to_unsigned(text, 10, 1, 65535, &port, NULL)) {
		*why = _("The internal port is a number from 1 to 65535.");
		return 0;
	}
	return (guint16)port;
}

static void
add_dialog_update(AddDialog *d)
{
	const char *why;
	guint16 port = add_dialog_port(d, &why);

	gtk_label_set_text(GTK_LABEL(d->port_error), why != NULL ? why : "");
	gtk_dialog_set_response_sensitive(GTK_DIALOG(d->dialog), GTK_RESPONSE_OK, port != 0);
	gtk_label_set_text(
	    GTK_LABEL(d->scope_note),
	    gtk_toggle_button_get_active(GTK_TOGGLE_BUTTON(d->persistent))
		? _("portmapd keeps this mapping, also across restarts, until it is removed.")
		: _("This mapping lives as long as this applet runs: it is removed when you "
		    "quit the applet or log out."));
}

static void
add_dialog_changed_cb(GtkWidget *widget, gpointer user_data)
{
	add_dialog_update(user_data);
}

static void
add_done_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *path = NULL;
	GtkWidget *dialog = user_data; /* a reference */

	path = pm_applet_model_add_mapping_finish(PM_APPLET_MODEL(source), result, &error);
	if (path == NULL) {
		/* kept open: the user may correct the port */
		if (!g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
			gtk_widget_set_sensitive(dialog, TRUE);
			pm_applet_show_error(GTK_WINDOW(dialog),
					     _("portmapd did not add the mapping"), error);
		}
		g_object_unref(dialog);
		return;
	}
	g_debug("added %s", path);
	gtk_widget_destroy(dialog);
	g_object_unref(dialog);
}

static void
add_dialog_response_cb(GtkDialog *dialog, int response, gpointer user_data)
{
	AddDialog *d = user_data;
	const char *why;
	guint16 port;
	const char *protocol;
	const char *both[] = {"tcp", "udp", NULL};
	const char *one[] = {NULL, NULL};

	if (response != GTK_RESPONSE_OK) {
		gtk_widget_destroy(GTK_WIDGET(dialog));
		return;
	}
	port = add_dialog_port(d, &why);
	if (port == 0)
		return;
	protocol = gtk_combo_box_get_active_id(GTK_COMBO_BOX(d->protocol));
	one[0] = protocol;
	/* no second click while portmapd answers */
	gtk_widget_set_sensitive(GTK_WIDGET(dialog), FALSE);
	pm_applet_model_add_mapping(d->model, g_strcmp0(protocol, "both") == 0 ? both : one, port,
				    gtk_toggle_button_get_active(GTK_TOGGLE_BUTTON(d->persistent)),
				    d->cancellable, add_done_cb, g_object_ref(dialog));
}

static GtkWidget *
grid_label(const char *mnemonic, GtkWidget *widget)
{
	GtkWidget *label = gtk_label_new_with_mnemonic(mnemonic);
	gtk_label_set_mnemonic_widget(GTK_LABEL(label), widget);
	gtk_label_set_xalign(GTK_LABEL(label), 1.0);
	return label;
}

GtkWidget *
pm_applet_add_dialog_new(PmAppletModel *model)
{
	AddDialog *d = g_new0(AddDialog, 1);
	GtkWidget *grid;
	GtkWidget *content;

	d->model = g_object_ref(model);
	d->cancellable = g_cancellable_new();
	d->dialog =
	    gtk_dialog_new_with_buttons(_("Add mapping"), NULL, 0, _("_Cancel"),
					GTK_RESPONSE_CANCEL, _("_Add"), GTK_RESPONSE_OK, NULL);
	gtk_dialog_set_default_response(GTK_DIALOG(d->dialog), GTK_RESPONSE_OK);
	gtk_window_set_resizable(GTK_WINDOW(d->dialog), FALSE);

	d->protocol = gtk_combo_box_text_new();
	gtk_combo_box_text_append(GTK_COMBO_BOX_TEXT(d->protocol), "tcp", "TCP");
	gtk_combo_box_text_append(GTK_COMBO_BOX_TEXT(d->protocol), "udp", "UDP");
	/* TRANSLATORS: the protocol choice "TCP and UDP" in the Add mapping dialog */
	gtk_combo_box_text_append(GTK_COMBO_BOX_TEXT(d->protocol), "both", _("TCP and UDP"));
	gtk_combo_box_set_active_id(GTK_COMBO_BOX(d->protocol), "tcp");

	d->port = gtk_entry_new();
	gtk_entry_set_input_purpose(GTK_ENTRY(d->port), GTK_INPUT_PURPOSE_DIGITS);
	gtk_entry_set_max_length(GTK_ENTRY(d->port), 5);
	gtk_entry_set_width_chars(GTK_ENTRY(d->port), 6);
	gtk_entry_set_activates_default(GTK_ENTRY(d->port), TRUE);
	gtk_entry_set_placeholder_text(GTK_ENTRY(d->port), "8080");
	d->port_error = gtk_label_new(NULL);
	gtk_label_set_xalign(GTK_LABEL(d->port_error), 0.0);

	/* TRANSLATORS: checkbox of the Add mapping dialog: scope "persistent" */
	d->persistent = gtk_check_button_new_with_mnemonic(_("_Keep across restarts"));
	d->scope_note = gtk_label_new(NULL);
	gtk_label_set_line_wrap(GTK_LABEL(d->scope_note), TRUE);
	gtk_label_set_max_width_chars(GTK_LABEL(d->scope_note), 48);
	gtk_label_set_xalign(GTK_LABEL(d->scope_note), 0.0);

	grid = gtk_grid_new();
	gtk_grid_set_row_spacing(GTK_GRID(grid), 6);
	gtk_grid_set_column_spacing(GTK_GRID(grid), 12);
	gtk_container_set_border_width(GTK_CONTAINER(grid), 12);
	gtk_grid_attach(GTK_GRID(grid), grid_label(_("_Protocol:"), d->protocol), 0, 0, 1, 1);
	gtk_grid_attach(GTK_GRID(grid), d->protocol, 1, 0, 1, 1);
	gtk_grid_attach(GTK_GRID(grid), grid_label(_("_Internal port:"), d->port), 0, 1, 1, 1);
	gtk_grid_attach(GTK_GRID(grid), d->port, 1, 1, 1, 1);
	gtk_grid_attach(GTK_GRID(grid), d->port_error, 1, 2, 1, 1);
	gtk_grid_attach(GTK_GRID(grid), d->persistent, 1, 3, 1, 1);
	gtk_grid_attach(GTK_GRID(grid), d->scope_note, 1, 4, 1, 1);
	content = gtk_dialog_get_content_area(GTK_DIALOG(d->dialog));
	gtk_container_add(GTK_CONTAINER(content), grid);

	g_signal_connect(d->port, "changed", G_CALLBACK(add_dialog_changed_cb), d);
	g_signal_connect(d->persistent, "toggled", G_CALLBACK(add_dialog_changed_cb), d);
	g_signal_connect(d->dialog, "response", G_CALLBACK(add_dialog_response_cb), d);
	g_object_set_data_full(G_OBJECT(d->dialog), "pm-add-dialog", d,
			       (GDestroyNotify)add_dialog_free);
	add_dialog_update(d);
	gtk_widget_show_all(grid);
	return d->dialog;
}

/* ---- About this configuration ---- */

GtkWidget *
pm_applet_about_window_new(void)
{
	GtkWidget *dialog;
	GtkWidget *scrolled;
	GtkWidget *view;

	dialog = gtk_dialog_new_with_buttons(_("About this configuration"), NULL, 0, _("_Close"),
					     GTK_RESPONSE_CLOSE, NULL);
	gtk_window_set_default_size(GTK_WINDOW(dialog), 640, 480);
	g_signal_connect(dialog, "response", G_CALLBACK(gtk_widget_destroy), NULL);

	view = gtk_text_view_new();
	gtk_text_view_set_editable(GTK_TEXT_VIEW(view), FALSE);
	gtk_text_view_set_cursor_visible(GTK_TEXT_VIEW(view), FALSE);
	gtk_text_view_set_monospace(GTK_TEXT_VIEW(view), TRUE);
	gtk_text_view_set_left_margin(GTK_TEXT_VIEW(view), 6);
	gtk_text_view_set_top_margin(GTK_TEXT_VIEW(view), 6);
	gtk_text_buffer_set_text(gtk_text_view_get_buffer(GTK_TEXT_VIEW(view)),
				 _("Asking portmapd…"), -1);
	scrolled = gtk_scrolled_window_new(NULL, NULL);
	gtk_widget_set_vexpand(scrolled, TRUE);
	gtk_container_add(GTK_CONTAINER(scrolled), view);
	gtk_container_add(GTK_CONTAINER(gtk_dialog_get_content_area(GTK_DIALOG(dialog))), scrolled);
	g_object_set_data(G_OBJECT(dialog), "pm-text-view", view);
	gtk_widget_show_all(scrolled);
	return dialog;
}

void
pm_applet_about_window_set_text(GtkWidget *window, const char *text)
{
	GtkWidget *view = g_object_get_data(G_OBJECT(window), "pm-text-view");

	g_return_if_fail(GTK_IS_TEXT_VIEW(view));
	gtk_text_buffer_set_text(gtk_text_view_get_buffer(GTK_TEXT_VIEW(view)), text, -1);
}
