/* SPDX-License-Identifier: GPL-2.0-or-later */
#define G_LOG_DOMAIN "portmapd"

#include <errno.h>
#include <gio/gio.h>
#include <unistd.h>

#include "bus-errors.h"
#include "bus-service.h"
#include "bus-source.h"
#include "errors.h"

static void
track_free(gpointer track)
{
	sd_bus_track_unref(track);
}

static int
track_handler(sd_bus_track *track, void *userdata)
{
	PmBusService *self = userdata;
	const char *name = NULL;
	GHashTableIter iter;
	gpointer key, value;

	/* the track is empty now: find which owner it was for */
	g_hash_table_iter_init(&iter, self->tracks);
	while (g_hash_table_iter_next(&iter, &key, &value)) {
		if (value == track) {
			name = key;
			break;
		}
	}
	if (name == NULL)
		return 0;
	g_info("bus client %s disconnected", name);
	pm_manager_remove_owner(self->manager, name);
	g_hash_table_remove(self->tracks, name);
	return 0;
}

int
pm_bus_service_track_owner(PmBusService *self, const char *owner)
{
	sd_bus_track *track = NULL;
	int r;

	if (g_hash_table_contains(self->tracks, owner))
		return 0;
	r = sd_bus_track_new(self->bus, &track, track_handler, self);
	if (r < 0)
		return r;
	r = sd_bus_track_add_name(track, owner);
	if (r < 0) {
		sd_bus_track_unref(track);
		return r;
	}
	g_hash_table_insert(self->tracks, g_strdup(owner), track);
	return 0;
}

int
pm_bus_service_get_sender_euid(sd_bus_message *m, uid_t *ret_euid)
{
	g_autoptr(sd_bus_creds) creds = NULL;
	int r;

	/* dbus-daemon does not attach credentials: this asks it (GetConnectionCredentials), a
	 * quick synchronous round trip to the bus driver that cannot deadlock; the one
	 * synchronous call a handler makes */
	r = sd_bus_query_sender_creds(m, SD_BUS_CREDS_EUID | SD_BUS_CREDS_AUGMENT, &creds);
	if (r >= 0)
		r = sd_bus_creds_get_euid(creds, ret_euid);
	if (r < 0)
		g_debug("cannot get the credentials of %s calling %s: %s",
			sd_bus_message_get_sender(m), sd_bus_message_get_member(m), g_strerror(-r));
	return r;
}

int
pm_bus_service_authorize(PmBusService *self, sd_bus_message *m, uid_t euid, const char *action,
			 sd_bus_message_handler_t handler, sd_bus_error *ret_error)
{
	/* every handler of both vtables has the service as its userdata */
	return pm_polkit_check(self->polkit, m, euid, action, handler, self, ret_error);
}

/* ---- manager events → signals ---- */

static void
on_mapping_added(PmMapping *mapping, gpointer user_data)
{
	PmBusService *self = user_data;
	g_autofree char *path = NULL;
	if (!self->name_acquired)
		return;
	path = pm_mapping_get_path(mapping);
	(void)sd_bus_emit_object_added(self->bus, path);
	(void)sd_bus_emit_signal(self->bus, PM_BUS_MANAGER_PATH, PM_BUS_MANAGER_INTERFACE,
				 "MappingAdded", "o", path);
}

/*
 * A routine renewal changes only ExpiresAt. Those changes are announced in batches, at most
 * PM_BUS_DEFERRED_CHANGES_MSEC late: each PropertiesChanged wakes dbus-daemon, which cost
 * portmapd about 50 µs of CPU per renewal, more than the renewal itself. Any other change of
 * the mapping carries the deferred bits along at once, so a client never sees them out of
 * order; a removed mapping's deferred changes are dropped.
 */
#define PM_BUS_DEFERRED_CHANGES_MSEC 500
#define DEFERRABLE_PROPS ((guint)PM_MAPPING_PROP_EXPIRES_AT)

static guint
take_deferred_changes(PmBusService *self, guint64 id)
{
	gpointer value = NULL;
	if (!g_hash_table_steal_extended(self->deferred_changes, GSIZE_TO_POINTER(id), NULL,
					 &value))
		return 0;
	return GPOINTER_TO_UINT(value);
}

static void
emit_deferred_changes(PmBusService *self)
{
	GHashTableIter iter;
	gpointer key, value;

	g_hash_table_iter_init(&iter, self->deferred_changes);
	while (g_hash_table_iter_next(&iter, &key, &value)) {
		pm_mapping_object_emit_changed(self, GPOINTER_TO_SIZE(key), GPOINTER_TO_UINT(value));
		g_hash_table_iter_remove(&iter);
	}
}

static gboolean
deferred_changes_cb(gpointer user_data)
{
	PmBusService *self = user_data;
	self->deferred_source_id = 0;
	emit_deferred_changes(self);
	return G_SOURCE_REMOVE;
}

static void
defer_changes(PmBusService *self, guint64 id, guint props)
{
	guint pending = take_deferred_changes(self, id);
	g_hash_table_insert(self->deferred_changes, GSIZE_TO_POINTER(id),
			    GUINT_TO_POINTER(pending | props));
	if (self->deferred_source_id == 0)
		self->deferred_source_id =
		    g_timeout_add(PM_BUS_DEFERRED_CHANGES_MSEC, deferred_changes_cb, self);
}

static void
on_mapping_removed(PmMapping *mapping, gpointer user_data)
{
	PmBusService *self = user_data;
	g_autofree char *path = NULL;
	(void)take_deferred_changes(self, mapping->id);
	if (!self->name_acquired)
		return;
	path = pm_mapping_get_path(mapping);
	(void)sd_bus_emit_object_removed(self->bus, path);
	(void)sd_bus_emit_signal(self->bus, PM_BUS_MANAGER_PATH, PM_BUS_MANAGER_INTERFACE,
				 "MappingRemoved", "o", path);
}

static void
on_mapping_changed(PmMapping *mapping, guint props, gpointer user_data)
{
	PmBusService *self = user_data;
	if (!self->name_acquired)
		return;
	if ((props & ~DEFERRABLE_PROPS) == 0) {
		defer_changes(self, mapping->id, props);
		return;
	}
	props |= take_deferred_changes(self, mapping->id);
	pm_mapping_object_emit_changed(self, mapping->id, props);
}

static void
on_port_changed(PmMapping *mapping, guint16 old_port, guint16 new_port, gpointer user_data)
{
	PmBusService *self = user_data;
	g_autofree char *path = NULL;
	if (!self->name_acquired)
		return;
	path = pm_mapping_get_path(mapping);
	(void)sd_bus_emit_signal(self->bus, PM_BUS_MANAGER_PATH, PM_BUS_MANAGER_INTERFACE,
				 "PortChanged", "oqq", path, old_port, new_port);
}

static void
on_manager_changed(guint props, gpointer user_data)
{
	PmBusService *self = user_data;
	const char *names[4];
	guint n = 0;

	if (props & PM_MANAGER_PROP_STATE)
		names[n++] = "State";
	if (props & PM_MANAGER_PROP_PROVIDERS)
		names[n++] = "Providers";
	if (props & PM_MANAGER_PROP_EXTERNAL_ADDRESS)
		names[n++] = "ExternalAddress";
	names[n] = NULL;
	if (n > 0)
		(void)sd_bus_emit_properties_changed_strv(self->bus, PM_BUS_MANAGER_PATH,
							  PM_BUS_MANAGER_INTERFACE,
							  (char **)names);
}

const PmManagerListener pm_bus_service_listener = {
    .mapping_added = on_mapping_added,
    .mapping_removed = on_mapping_removed,
    .mapping_changed = on_mapping_changed,
    .port_changed = on_port_changed,
    .manager_changed = on_manager_changed,
};

/* ---- connection ---- */

static int
request_name_cb(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
	PmBusService *self = userdata;
	const sd_bus_error *e = sd_bus_message_get_error(m);
	guint32 reply = 0;

	if (e != NULL) {
		g_critical("failed to acquire the bus name %s: %s", PM_BUS_NAME, e->message);
		self->lost_func(self->lost_data);
		return 0;
	}
	if (sd_bus_message_read(m, "u", &reply) < 0 || (reply != 1 && reply != 4)) {
		g_critical("the bus name %s is owned by another process: is portmapd running "
			   "already?",
			   PM_BUS_NAME);
		self->lost_func(self->lost_data);
		return 0;
	}
	g_info("acquired %s on the system bus", PM_BUS_NAME);
	self->name_acquired = TRUE;
	if (self->acquired_func != NULL)
		self->acquired_func(self->acquired_data);
	return 0;
}

static void
refresh_noop(gpointer user_data)
{
}

static int
prepare_for_sleep_cb(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
	PmBusService *self = userdata;
	int sleeping = 0;
	if (sd_bus_message_read(m, "b", &sleeping) < 0 || sleeping)
		return 0;
	/* lease deadlines fired at resume through CLOCK_BOOTTIME; re-check the rest */
	g_info("resumed from suspend: re-checking every lease");
	pm_manager_resumed(self->manager);
	pm_manager_refresh_all(self->manager, refresh_noop, NULL);
	return 0;
}

static gboolean
bus_lost_cb(gpointer user_data)
{
	PmBusService *self = user_data;
	g_critical("lost the connection to the system bus");
	return self->lost_func(self->lost_data);
}

PmBusService *
pm_bus_service_new(PmManager *manager, PmBusReloadFunc reload, gpointer reload_data,
		   GSourceFunc lost_func, gpointer lost_data, GError **error)
{
	PmBusService *self = g_new0(PmBusService, 1);
	int r;

	self->manager = manager;
	self->reload = reload;
	self->reload_data = reload_data;
	self->lost_func = lost_func;
	self->lost_data = lost_data;
	self->uid = getuid();
	self->tracks = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
					     track_free);
	self->deferred_changes = g_hash_table_new(g_direct_hash, g_direct_equal);

	/* honours DBUS_SYSTEM_BUS_ADDRESS (tests run a private bus) */
	r = sd_bus_open_system(&self->bus);
	if (r < 0) {
		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(-r),
			    "failed to connect to the system bus: %s", g_strerror(-r));
		pm_bus_service_free(self);
		return NULL;
	}
	(void)sd_bus_error_add_map(pm_bus_error_map);
	self->calls = pm_pending_calls_new(self->bus);
	self->polkit = pm_polkit_new(self->bus, self->calls, self->uid);
	/* objects before the name: an activated first call must find them */
	r = sd_bus_add_object_vtable(self->bus, NULL, PM_BUS_MANAGER_PATH,
				     PM_BUS_MANAGER_INTERFACE, pm_manager_vtable, self);
	if (r >= 0)
		r = sd_bus_add_fallback_vtable(self->bus, NULL, PM_MAPPING_PATH_PREFIX,
					       PM_BUS_MAPPING_INTERFACE, pm_mapping_vtable,
					       pm_mapping_object_find, self);
	if (r >= 0)
		r = sd_bus_add_node_enumerator(self->bus, NULL, PM_MAPPING_PATH_PREFIX,
					       pm_mapping_object_enumerate, self);
	if (r >= 0)
		r = sd_bus_add_object_manager(self->bus, NULL, PM_BUS_MANAGER_PATH);
	if (r >= 0)
		r = sd_bus_match_signal_async(self->bus, NULL, "org.freedesktop.login1",
					      "/org/freedesktop/login1",
					      "org.freedesktop.login1.Manager", "PrepareForSleep",
					      prepare_for_sleep_cb, NULL, self);
	if (r >= 0)
		r = sd_bus_request_name_async(self->bus, NULL, PM_BUS_NAME, 0, request_name_cb,
					      self);
	if (r < 0) {
		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(-r),
			    "failed to publish %s: %s", PM_BUS_NAME, g_strerror(-r));
		pm_bus_service_free(self);
		return NULL;
	}
	self->source = pm_bus_source_new(self->bus);
	g_source_set_callback(self->source, bus_lost_cb, self, NULL);
	g_source_attach(self->source, NULL);
	return self;
}

void
pm_bus_service_set_name_acquired_func(PmBusService *self, PmBusNameAcquiredFunc func,
				       gpointer user_data)
{
	self->acquired_func = func;
	self->acquired_data = user_data;
}

void
pm_bus_service_flush(PmBusService *self)
{
	g_clear_handle_id(&self->deferred_source_id, g_source_remove);
	if (self->bus == NULL)
		return;
	emit_deferred_changes(self);
	(void)sd_bus_flush(self->bus);
}

void
pm_bus_service_free(PmBusService *self)
{
	if (self == NULL)
		return;
	if (self->source != NULL) {
		g_source_destroy(self->source);
		g_source_unref(self->source);
	}
	g_hash_table_unref(self->tracks);
	g_clear_handle_id(&self->deferred_source_id, g_source_remove);
	g_hash_table_unref(self->deferred_changes);
	/* pending calls hold messages and slots of the bus; they get no reply */
	g_clear_pointer(&self->polkit, pm_polkit_free);
	g_clear_pointer(&self->calls, pm_pending_calls_free);
	if (self->bus != NULL)
		sd_bus_flush_close_unref(self->bus);
	g_free(self);
}
