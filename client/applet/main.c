/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * portmap-applet: portmapd's mappings in the tray. A GtkApplication (one per session: a
 * second start hands over to the first and exits) holding the model, the notifier and
 * the view; everything it asks the bus is asynchronous.
 */
#define G_LOG_DOMAIN "portmap-applet"

#include <stdio.h>
#include <stdlib.h>

#include <glib-unix.h>
#include <glib/gi18n.h>
#include <gtk/gtk.h>

#include "build-info.h"
#include "pm-i18n.h"
#include "pm-applet-model.h"
#include "pm-applet-notifier.h"
#include "pm-applet-view.h"

#define APPLICATION_ID "org.portmap.Applet"
/* the uninstalled icons, as --icon-theme-path gives them */
#define ICON_THEME_PATH_ENV "PORTMAP_APPLET_ICON_THEME_PATH"

typedef struct {
	char *icon_theme_path;
	PmAppletModel *model;
	PmAppletNotifier *notifier;
	PmAppletView *view;
} Applet;

static gboolean
quit_cb(gpointer user_data)
{
	g_application_quit(G_APPLICATION(user_data));
	return G_SOURCE_CONTINUE;
}

static int
handle_local_options_cb(GApplication *application, GVariantDict *options, gpointer user_data)
{
	Applet *applet = user_data;

	if (g_variant_dict_contains(options, "version")) {
		printf("portmap-applet %s\n", PACKAGE_VERSION);
		return EXIT_SUCCESS;
	}
	if (!g_variant_dict_lookup(options, "icon-theme-path", "^ay", &applet->icon_theme_path)) {
		const char *env = g_getenv(ICON_THEME_PATH_ENV);
		if (env != NULL && env[0] != '\0')
			applet->icon_theme_path = g_strdup(env);
	}
	return -1;
}

static void
startup_cb(GApplication *application, gpointer user_data)
{
	Applet *applet = user_data;

	/* no window: the tray item is the application */
	g_application_hold(application);
	applet->model = pm_applet_model_new();
	applet->notifier = pm_applet_notifier_new(application, applet->model);
	applet->view = pm_applet_view_new(application, applet->model, applet->icon_theme_path);
	g_unix_signal_add(SIGTERM, quit_cb, application);
	g_unix_signal_add(SIGINT, quit_cb, application);
}

static void
activate_cb(GApplication *application, gpointer user_data)
{
	/* started again while running: the tray item is already there */
	g_debug("already running");
}

static void
shutdown_cb(GApplication *application, gpointer user_data)
{
	Applet *applet = user_data;

	g_clear_object(&applet->view);
	g_clear_object(&applet->notifier);
	g_clear_object(&applet->model);
}

int
main(int argc, char *argv[])
{
	g_autoptr(GtkApplication) application = NULL;
	Applet applet = {0};
	const GOptionEntry options[] = {
	    {"version", 0, G_OPTION_FLAG_NONE, G_OPTION_ARG_NONE, NULL,
	     N_("Print the version and exit"), NULL},
	    {"icon-theme-path", 0, G_OPTION_FLAG_NONE, G_OPTION_ARG_FILENAME, NULL,
	     /* TRANSLATORS: --icon-theme-path; DIR is the option's argument */
	     N_("Look for the tray icons in DIR too, a directory holding hicolor/ (the source "
		"tree's data/icons when run uninstalled)"),
	     N_("DIR")},
	    {NULL},
	};
	int status;

	pm_i18n_init();
	g_set_application_name(_("Port Mappings"));
	application = gtk_application_new(APPLICATION_ID, G_APPLICATION_DEFAULT_FLAGS);
	g_application_add_main_option_entries(G_APPLICATION(application), options);
	g_application_set_option_context_summary(
	    G_APPLICATION(application),
	    _("Shows portmapd's port mappings in the tray, and lets you add, remove and "
	      "refresh them."));
	g_application_set_option_context_description(
	    G_APPLICATION(application), _("See the portmap-applet(1) man page for details."));
	g_signal_connect(application, "handle-local-options", G_CALLBACK(handle_local_options_cb),
			 &applet);
	g_signal_connect(application, "startup", G_CALLBACK(startup_cb), &applet);
	g_signal_connect(application, "activate", G_CALLBACK(activate_cb), &applet);
	g_signal_connect(application, "shutdown", G_CALLBACK(shutdown_cb), &applet);
	status = g_application_run(G_APPLICATION(application), argc, argv);
	g_free(applet.icon_theme_path);
	return status;
}
