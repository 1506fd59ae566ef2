/* SPDX-License-Identifier: GPL-2.0-or-later */
#define G_LOG_DOMAIN "portmap-applet"
#include "pm-applet-view.h"

#include <glib/gi18n.h>
#include <libayatana-appindicator/app-indicator-enum-types.h>
#include <libayatana-appindicator/app-indicator.h>

#include "pm-applet-describe.h"
#include "pm-applet-dialogs.h"

#define INDICATOR_ID "portmap-applet"

struct _PmAppletView {
	GObject parent_instance;
	GApplication *application;
	PmAppletModel *model;
	AppIndicator *indicator;
	GtkWidget *menu;
	GtkWidget *add_dialog;   /* while open (weak pointer) */
	GtkWidget *about_window; /* while open (weak pointer) */
	GCancellable *cancellable;
};

G_DEFINE_TYPE(PmAppletView, pm_applet_view, G_TYPE_OBJECT)

/* dbusmenu and GTK mnemonics: "_" shown as itself */
static char *
escape_underscores(const char *label)
{
	g_auto(GStrv) parts = g_strsplit(label != NULL ? label : "", "_", -1);
	return g_strjoinv("__", parts);
}

static void
refresh_done_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
	g_autoptr(GError) error = NULL;
	if (!pm_applet_model_refresh_all_finish(PM_APPLET_MODEL(source), result, &error))
		pm_applet_show_error(NULL, _("portmapd could not refresh the mappings"), error);
}

static void
remove_done_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
	g_autoptr(GError) error = NULL;
	if (!pm_applet_model_remove_mapping_finish(PM_APPLET_MODEL(source), result, &error))
		pm_applet_show_error(NULL, _("portmapd did not remove the mapping"), error);
}

static void
describe_done_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *json = NULL;
	g_autofree char *text = NULL;
	PmAppletView *self = user_data; /* alive unless cancelled */

	json = pm_applet_model_describe_finish(PM_APPLET_MODEL(source), result, &error);
	if (json != NULL)
		text = pm_applet_describe_format(json, &error);
	if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
		return;
	if (self->about_window == NULL)
		return;
	if (text == NULL) {
		g_autofree char *message = g_strdup_printf(
		    _("portmapd did not describe its configuration: %s"), error->message);
		pm_applet_about_window_set_text(self->about_window, message);
		return;
	}
	pm_applet_about_window_set_text(self->about_window, text);
}

static void
show_about(PmAppletView *self)
{
	if (self->about_window == NULL) {
		self->about_window = pm_applet_about_window_new();
		g_object_add_weak_pointer(G_OBJECT(self->about_window),
					  (gpointer *)&self->about_window);
	}
	gtk_window_present(GTK_WINDOW(self->about_window));
	/* asked afresh each time it is opened */
	pm_applet_model_describe(self->model, self->cancellable, describe_done_cb, self);
}

static void
show_add_dialog(PmAppletView *self)
{
	if (self->add_dialog == NULL) {
		self->add_dialog = pm_applet_add_dialog_new(self->model);
		g_object_add_weak_pointer(G_OBJECT(self->add_dialog),
					  (gpointer *)&self->add_dialog);
	}
	gtk_window_present(GTK_WINDOW(self->add_dialog));
}

static void
item_activate_cb(GtkMenuItem *widget, gpointer user_data)
{
	PmAppletView *self = user_data;
	PmAppletAction action = GPOINTER_TO_INT(g_object_get_data(G_OBJECT(widget), "pm-action"));
	const char *target = g_object_get_data(G_OBJECT(widget), "pm-target");

	switch (action) {
	case PM_APPLET_ACTION_COPY:
		if (target != NULL)
			gtk_clipboard_set_text(gtk_clipboard_get(GDK_SELECTION_CLIPBOARD), target,
					       -1);
		break;
	case PM_APPLET_ACTION_REFRESH:
		pm_applet_model_refresh_all(self->model, self->cancellable, refresh_done_cb, NULL);
		break;
	case PM_APPLET_ACTION_ADD:
		show_add_dialog(self);
		break;
	case PM_APPLET_ACTION_REMOVE:
		if (target != NULL)
			pm_applet_model_remove_mapping(self->model, target, self->cancellable,
						       remove_done_cb, NULL);
		break;
	case PM_APPLET_ACTION_ABOUT:
		show_about(self);
		break;
	case PM_APPLET_ACTION_QUIT:
		g_application_quit(self->application);
		break;
	case PM_APPLET_ACTION_NONE:
	default:
		break;
	}
}

static void
menu_fill(PmAppletView *self, GtkWidget *menu, GPtrArray *items)
{
	for (guint i = 0; i < items->len; i++) {
		PmAppletItem *item = g_ptr_array_index(items, i);
		GtkWidget *widget;

		if (item->kind == PM_APPLET_ITEM_SEPARATOR) {
			widget = gtk_separator_menu_item_new();
		} else {
			g_autofree char *label = escape_underscores(item->label);
			widget = gtk_menu_item_new_with_mnemonic(label);
			gtk_widget_set_sensitive(widget, item->sensitive);
		}
		if (item->kind == PM_APPLET_ITEM_ACTION) {
			g_object_set_data(G_OBJECT(widget), "pm-action",
					  GINT_TO_POINTER(item->action));
			g_object_set_data_full(G_OBJECT(widget), "pm-target",
					       g_strdup(item->target), g_free);
			g_signal_connect(widget, "activate", G_CALLBACK(item_activate_cb), self);
		} else if (item->kind == PM_APPLET_ITEM_SUBMENU) {
			GtkWidget *submenu = gtk_menu_new();
			if (item->children != NULL)
				menu_fill(self, submenu, item->children);
			gtk_menu_item_set_submenu(GTK_MENU_ITEM(widget), submenu);
		}
		gtk_widget_show(widget);
		gtk_menu_shell_append(GTK_MENU_SHELL(menu), widget);
	}
}

static void
menu_rebuild(PmAppletView *self)
{
	GList *children = gtk_container_get_children(GTK_CONTAINER(self->menu));

	for (GList *l = children; l != NULL; l = l->next)
		gtk_widget_destroy(l->data);
	g_list_free(children);
	menu_fill(self, self->menu, pm_applet_model_get_menu(self->model));
}

static void
show_state(PmAppletView *self)
{
	const char *title = pm_applet_model_get_title(self->model);

	app_indicator_set_title(self->indicator, title);
	app_indicator_set_icon_full(self->indicator, pm_applet_model_get_icon_name(self->model),
				    title);
}

static void
model_changed_cb(PmAppletModel *model, gpointer user_data)
{
	PmAppletView *self = user_data;
	menu_rebuild(self);
	show_state(self);
}

static void
pm_applet_view_init(PmAppletView *self)
{
	self->cancellable = g_cancellable_new();
}

static void
pm_applet_view_dispose(GObject *object)
{
	PmAppletView *self = PM_APPLET_VIEW(object);

	g_cancellable_cancel(self->cancellable);
	if (self->model != NULL)
		g_signal_handlers_disconnect_by_data(self->model, self);
	if (self->add_dialog != NULL)
		gtk_widget_destroy(self->add_dialog);
	if (self->about_window != NULL)
		gtk_widget_destroy(self->about_window);
	g_clear_object(&self->indicator);
	g_clear_object(&self->menu);
	g_clear_object(&self->model);
	g_clear_object(&self->application);
	g_clear_object(&self->cancellable);
	G_OBJECT_CLASS(pm_applet_view_parent_class)->dispose(object);
}

static void
pm_applet_view_class_init(PmAppletViewClass *klass)
{
	G_OBJECT_CLASS(klass)->dispose = pm_applet_view_dispose;
}

PmAppletView *
pm_applet_view_new(GApplication *application, PmAppletModel *model, const char *icon_theme_path)
{
	PmAppletView *self;
	g_autoptr(GEnumClass) categories = g_type_class_ref(APP_INDICATOR_TYPE_INDICATOR_CATEGORY);
	GEnumValue *category = g_enum_get_value(categories, APP_INDICATOR_CATEGORY_SYSTEM_SERVICES);

	g_return_val_if_fail(G_IS_APPLICATION(application), NULL);
	g_return_val_if_fail(PM_IS_APPLET_MODEL(model), NULL);
	self = g_object_new(PM_TYPE_APPLET_VIEW, NULL);
	self->application = g_object_ref(application);
	self->model = g_object_ref(model);

	if (icon_theme_path != NULL) {
		/* the windows' icons; the indicator tells its host in IconThemePath */
		gtk_icon_theme_append_search_path(gtk_icon_theme_get_default(), icon_theme_path);
	}
	gtk_window_set_default_icon_name("portmap-ok");

	/* not app_indicator_new(): it sets the icon at once, and the item registers as soon
	 * as it has an icon and a menu; the menu comes first, complete */
	self->indicator = g_object_new(APP_INDICATOR_TYPE, "id", INDICATOR_ID, "category",
				       category->value_nick, NULL);
	if (icon_theme_path != NULL)
		app_indicator_set_icon_theme_path(self->indicator, icon_theme_path);
	self->menu = g_object_ref_sink(gtk_menu_new());
	menu_fill(self, self->menu, pm_applet_model_get_menu(model));
	app_indicator_set_menu(self->indicator, GTK_MENU(self->menu));
	app_indicator_set_status(self->indicator, APP_INDICATOR_STATUS_ACTIVE);
	show_state(self);
	g_signal_connect(model, "changed", G_CALLBACK(model_changed_cb), self);
	return self;
}
