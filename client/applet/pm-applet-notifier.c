/* SPDX-License-Identifier: GPL-2.0-or-later */
#define G_LOG_DOMAIN "portmap-applet"
#include "pm-applet-notifier.h"

#include <glib/gi18n.h>

typedef enum {
	EVENT_PORT_CHANGED,
	EVENT_FAILED,
} EventKind;

typedef struct {
	EventKind kind;
	char *name;
	char *old_address; /* port changes: the address when it came */
	guint16 old_port;
	guint16 new_port;
	char *error; /* failures: the mapping's LastError */
} Event;

struct _PmAppletNotifier {
	GObject parent_instance;
	GApplication *application;
	PmAppletModel *model;
	GPtrArray *events;  /* of Event, gathered, in order */
	gint64 first_event; /* g_get_monotonic_time() of the batch's first */
	guint timeout_id;
};

G_DEFINE_TYPE(PmAppletNotifier, pm_applet_notifier, G_TYPE_OBJECT)

enum { SIGNAL_SENT, SIGNAL_LAST };
static guint signals[SIGNAL_LAST] = {0};

static void
event_free(Event *event)
{
	g_free(event->name);
	g_free(event->old_address);
	g_free(event->error);
	g_free(event);
}

static Event *
find_event(PmAppletNotifier *self, EventKind kind, const char *name)
{
	for (guint i = 0; i < self->events->len; i++) {
		Event *event = g_ptr_array_index(self->events, i);
		if (event->kind == kind && g_strcmp0(event->name, name) == 0)
			return event;
	}
	return NULL;
}

/* the external address a mapping has now, for the new half of "ADDR:OLD → ADDR:NEW" */
static const char *
current_address(PmAppletNotifier *self, const Event *event)
{
	GPtrArray *mappings = pm_applet_model_get_mappings(self->model);
	for (guint i = 0; i < mappings->len; i++) {
		PmAppletMapping *m = g_ptr_array_index(mappings, i);
		if (g_strcmp0(m->name, event->name) == 0 && m->external_address[0] != '\0')
			return m->external_address;
	}
	return event->old_address;
}

static char *
port_change_text(PmAppletNotifier *self, const Event *event)
{
	g_autofree char *before =
	    pm_applet_format_address_port(event->old_address, event->old_port);
	g_autofree char *after =
	    pm_applet_format_address_port(current_address(self, event), event->new_port);
	/* TRANSLATORS: an external port change: old address:port → new address:port */
	return g_strdup_printf(_("%s → %s"), before, after);
}

static const char *
failure_text(const Event *event)
{
	if (event->error != NULL && event->error[0] != '\0')
		return event->error;
	return _("portmapd gave no reason.");
}

static void
send_notification(PmAppletNotifier *self, const char *id, const char *title, const char *body,
		  GNotificationPriority priority, const char *icon_name)
{
	g_autoptr(GNotification) notification = NULL;
	g_autoptr(GIcon) icon = NULL;

	/* without a session bus GIO has nowhere to send it (and would complain) */
	if (g_application_get_dbus_connection(self->application) == NULL) {
		g_debug("no session bus: not sending \"%s\"", title);
		return;
	}
	notification = g_notification_new(title);
	g_notification_set_body(notification, body);
	g_notification_set_priority(notification, priority);
	icon = g_themed_icon_new(icon_name);
	g_notification_set_icon(notification, icon);
	g_application_send_notification(self->application, id, notification);
	g_signal_emit(self, signals[SIGNAL_SENT], 0, id, title, body);
}

static void
flush(PmAppletNotifier *self)
{
	g_autoptr(GPtrArray) events = g_steal_pointer(&self->events);

	self->events = g_ptr_array_new_with_free_func((GDestroyNotify)event_free);
	/* a port that came back where it was is no change */
	for (guint i = events->len; i > 0; i--) {
		Event *event = g_ptr_array_index(events, i - 1);
		if (event->kind == EVENT_PORT_CHANGED && event->old_port == event->new_port)
			g_ptr_array_remove_index(events, i - 1);
	}
	if (events->len == 0)
		return;

	if (events->len == 1) {
		Event *event = g_ptr_array_index(events, 0);
		g_autofree char *id = g_strconcat("mapping-", event->name, NULL);
		g_autofree char *title = NULL;

		if (event->kind == EVENT_PORT_CHANGED) {
			g_autofree char *body = port_change_text(self, event);
			/* TRANSLATORS: a notification's title; the body says
			 * "203.0.113.5:40001 → 203.0.113.5:40017" */
			title = g_strdup_printf(_("Port of %s changed"), event->name);
			send_notification(self, id, title, body, G_NOTIFICATION_PRIORITY_NORMAL,
					  "portmap-ok");
		} else {
			/* TRANSLATORS: a notification's title; the body is portmapd's error */
			title = g_strdup_printf(_("Mapping %s failed"), event->name);
			send_notification(self, id, title, failure_text(event),
					  G_NOTIFICATION_PRIORITY_HIGH, "portmap-warning");
		}
		return;
	}

	{
		g_autoptr(GString) body = g_string_new(NULL);
		g_autofree char *title = NULL;
		gboolean any_failed = FALSE;
		guint shown = MIN(events->len, (guint)PM_APPLET_NOTIFIER_SUMMARY_LINES);

		for (guint i = 0; i < events->len; i++) {
			Event *event = g_ptr_array_index(events, i);
			if (event->kind == EVENT_FAILED)
				any_failed = TRUE;
			if (i >= shown)
				continue;
			if (body->len > 0)
				g_string_append_c(body, '\n');
			if (event->kind == EVENT_PORT_CHANGED) {
				g_autofree char *change = port_change_text(self, event);
				/* TRANSLATORS: a line of a summary notification: the
				 * mapping's name, then "ADDR:OLD → ADDR:NEW" */
				g_string_append_printf(body, _("%s: %s"), event->name, change);
			} else {
				/* TRANSLATORS: a line of a summary notification: the
				 * mapping's name, then portmapd's error */
				g_string_append_printf(body, _("%s failed: %s"), event->name,
						       failure_text(event));
			}
		}
		if (events->len > shown) {
			guint more = events->len - shown;
			g_string_append_c(body, '\n');
			g_string_append_printf(body, ngettext("…and %u more", "…and %u more", more),
					       more);
		}
		title = g_strdup_printf(
		    ngettext("%u port mapping changed", "%u port mappings changed", events->len),
		    events->len);
		send_notification(self, "summary", title, body->str,
				  any_failed ? G_NOTIFICATION_PRIORITY_HIGH
					     : G_NOTIFICATION_PRIORITY_NORMAL,
				  any_failed ? "portmap-warning" : "portmap-ok");
	}
}

static gboolean
timeout_cb(gpointer user_data)
{
	PmAppletNotifier *self = user_data;
	self->timeout_id = 0;
	flush(self);
	return G_SOURCE_REMOVE;
}

/* waits for a quiet moment, but not forever */
static void
gathered(PmAppletNotifier *self)
{
	gint64 now = g_get_monotonic_time();
	gint64 deadline;

	if (self->timeout_id == 0)
		self->first_event = now;
	g_clear_handle_id(&self->timeout_id, g_source_remove);
	deadline =
	    MIN(now + PM_APPLET_NOTIFIER_QUIET_MSEC * G_TIME_SPAN_MILLISECOND,
		self->first_event + PM_APPLET_NOTIFIER_MAX_WAIT_MSEC * G_TIME_SPAN_MILLISECOND);
	self->timeout_id = g_timeout_add((guint)(MAX(deadline - now, 0) / G_TIME_SPAN_MILLISECOND),
					 timeout_cb, self);
}

static void
port_changed_cb(PmAppletModel *model, const char *name, const char *address, guint old_port,
		guint new_port, gpointer user_data)
{
	PmAppletNotifier *self = user_data;
	Event *event = find_event(self, EVENT_PORT_CHANGED, name);

	if (event != NULL) {
		/* the first old port, the last new one */
		event->new_port = (guint16)new_port;
	} else {
		event = g_new0(Event, 1);
		event->kind = EVENT_PORT_CHANGED;
		event->name = g_strdup(name);
		event->old_address = g_strdup(address);
		event->old_port = (guint16)old_port;
		event->new_port = (guint16)new_port;
		g_ptr_array_add(self->events, event);
	}
	gathered(self);
}

static void
mapping_failed_cb(PmAppletModel *model, const char *name, const char *last_error,
		  gpointer user_data)
{
	PmAppletNotifier *self = user_data;
	Event *event = find_event(self, EVENT_FAILED, name);

	if (event == NULL) {
		event = g_new0(Event, 1);
		event->kind = EVENT_FAILED;
		event->name = g_strdup(name);
		g_ptr_array_add(self->events, event);
	}
	g_free(event->error);
	event->error = g_strdup(last_error);
	gathered(self);
}

static void
pm_applet_notifier_init(PmAppletNotifier *self)
{
	self->events = g_ptr_array_new_with_free_func((GDestroyNotify)event_free);
}

static void
pm_applet_notifier_dispose(GObject *object)
{
	PmAppletNotifier *self = PM_APPLET_NOTIFIER(object);

	g_clear_handle_id(&self->timeout_id, g_source_remove);
	if (self->model != NULL)
		g_signal_handlers_disconnect_by_data(self->model, self);
	g_clear_object(&self->model);
	g_clear_object(&self->application);
	G_OBJECT_CLASS(pm_applet_notifier_parent_class)->dispose(object);
}

static void
pm_applet_notifier_finalize(GObject *object)
{
	PmAppletNotifier *self = PM_APPLET_NOTIFIER(object);
	g_ptr_array_unref(self->events);
	G_OBJECT_CLASS(pm_applet_notifier_parent_class)->finalize(object);
}

static void
pm_applet_notifier_class_init(PmAppletNotifierClass *klass)
{
	GObjectClass *object_class = G_OBJECT_CLASS(klass);

	object_class->dispose = pm_applet_notifier_dispose;
	object_class->finalize = pm_applet_notifier_finalize;
	signals[SIGNAL_SENT] =
	    g_signal_new("sent", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
			 G_TYPE_NONE, 3, G_TYPE_STRING, G_TYPE_STRING, G_TYPE_STRING);
}

PmAppletNotifier *
pm_applet_notifier_new(GApplication *application, PmAppletModel *model)
{
	PmAppletNotifier *self;

	g_return_val_if_fail(G_IS_APPLICATION(application), NULL);
	g_return_val_if_fail(PM_IS_APPLET_MODEL(model), NULL);
	self = g_object_new(PM_TYPE_APPLET_NOTIFIER, NULL);
	self->application = g_object_ref(application);
	self->model = g_object_ref(model);
	g_signal_connect(model, "port-changed", G_CALLBACK(port_changed_cb), self);
	g_signal_connect(model, "mapping-failed", G_CALLBACK(mapping_failed_cb), self);
	return self;
}
