/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <gtk/gtk.h>

#include "pm-applet-model.h"

/*
 * The tray item: an AppIndicator (libayatana-appindicator3, id "portmap-applet", category
 * SystemServices) whose icon, title and menu are the model's (pm_applet_model_get_menu()
 * rendered one to one, so what the host's dbusmenu shows is what
 * portmap-applet-model-dump prints). The menu is set before the icon and the status, so
 * the item registers with a complete menu. Menu actions: copy a mapping's "ADDR:PORT" to
 * the clipboard, RefreshAll, the Add mapping dialog, RemoveMapping, the About window,
 * Quit; failed calls show the daemon's message in an error dialog.
 *
 * Labels are set as mnemonics with every "_" doubled, so the menu's dbusmenu labels
 * follow that protocol's escaping ("my__app" for "my_app").
 */

#define PM_TYPE_APPLET_VIEW (pm_applet_view_get_type())
G_DECLARE_FINAL_TYPE(PmAppletView, pm_applet_view, PM, APPLET_VIEW, GObject)

/* @icon_theme_path: a directory holding hicolor/ (the source tree's data/icons when run
 * uninstalled), or NULL for the installed icons */
PmAppletView *pm_applet_view_new(GApplication *application, PmAppletModel *model,
				 const char *icon_theme_path);
