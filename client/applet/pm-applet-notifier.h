/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <gio/gio.h>

#include "pm-applet-model.h"

/*
 * Desktop notifications for the model's events, through the GApplication
 * (g_application_send_notification(): GIO picks org.gtk.Notifications when it is there,
 * else the freedesktop service): "port-changed" ("Port of web changed",
 * "203.0.113.5:40001 → 203.0.113.5:40017") and "mapping-failed" (its LastError).
 *
 * Once per event, never a flood: the model reports neither its initial population nor a
 * restarted daemon's, nor a mapping that stays failed. Events are gathered until
 * PM_APPLET_NOTIFIER_QUIET_MSEC pass without one (at most PM_APPLET_NOTIFIER_MAX_WAIT_MSEC
 * after the first): one event gives a notification of its own, with the id
 * "mapping-NAME", so a newer one for the same mapping replaces the older; several (a VPN
 * reconnect moving every port) give one summary, id "summary". Two port changes of one
 * mapping in one batch are one change (first old port → last new port), none if it ends
 * where it began.
 *
 * Signal "sent" (const char *id, const char *title, const char *body): a notification was
 * handed to GIO (none is when the application has no session bus connection).
 */

#define PM_APPLET_NOTIFIER_QUIET_MSEC    1000
#define PM_APPLET_NOTIFIER_MAX_WAIT_MSEC 5000
/* a summary lists at most this many events, then says how many more there were */
#define PM_APPLET_NOTIFIER_SUMMARY_LINES 10

#define PM_TYPE_APPLET_NOTIFIER (pm_applet_notifier_get_type())
G_DECLARE_FINAL_TYPE(PmAppletNotifier, pm_applet_notifier, PM, APPLET_NOTIFIER, GObject)

/* @application must be registered before the first event; both are referenced */
PmAppletNotifier *pm_applet_notifier_new(GApplication *application, PmAppletModel *model);
