/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <gtk/gtk.h>

#include "pm-applet-model.h"

/*
 * The applet's windows: every one is non-modal, destroys itself when closed, and talks to
 * the bus only through the model's asynchronous calls.
 */

/* a GtkMessageDialog: @primary, then the error's message (the daemon's, for a D-Bus error);
 * nothing for G_IO_ERROR_CANCELLED. @parent (or NULL): the window it is about, which it
 * stays above and goes with */
void pm_applet_show_error(GtkWindow *parent, const char *primary, const GError *error);

/*
 * "Add mapping": protocol (tcp, udp or both), internal port (checked as it is typed: the
 * Add button stays insensitive, and a line says why, until it is a number from 1 to
 * 65535), and "Keep across restarts" (scope "persistent"; otherwise "client", and the
 * dialog says the mapping then lives as long as the applet runs). Add calls
 * pm_applet_model_add_mapping(); the dialog closes when portmapd accepts, and stays open
 * with an error dialog when it refuses.
 */
GtkWidget *pm_applet_add_dialog_new(PmAppletModel *model);

/* "About this configuration": a read-only text; set with pm_applet_about_window_set_text() */
GtkWidget *pm_applet_about_window_new(void);
void pm_applet_about_window_set_text(GtkWidget *window, const char *text);
