/* SPDX-License-Identifier: GPL-2.0-or-later */

#include <errno.h>
#include <gio/gio.h>
#include <string.h>
#include <unistd.h>

#include "bus-errors.h"
#include "bus-service.h"
#include "bus-source.h"
#include "errors.h"
#include "manager-object.h"
#include "mapping-object.h"

/* ---- client-scope owners ---- */

/*
 * A client-scope mapping lives while its owner's connection does. Each owner is followed by
 * a match on its departure (dbus-daemon sends only that owner's NameOwnerChanged) and, once
 * the match is in place, by one GetNameOwner: an owner that left before the match was
 * installed is caught by that answer, one leaving after by the signal. Neither waits:
 * sd_bus_track would ask the bus synchronously whether the name exists.
 */
typedef struct {
	PmBusService *service;
	char *name;
	sd_bus_slot *match_slot; /* its NameOwnerChanged */
	sd_bus_slot *check_slot; /* GetNameOwner in flight */
} PmBusOwner;

static void
pm_bus_owner_free(PmBusOwner *owner)
{
	sd_bus_slot_unref(owner->check_slot);
	sd_bus_slot_unref(owner->match_slot);
	g_free(owner->name);
	g_free(owner);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(PmBusOwner, pm_bus_owner_free)

static void
pm_bus_owner_left(PmBusOwner *owner)
{
	PmBusService *self = owner->service;
	g_info("bus client %s disconnected", owner->name);
	pm_manager_remove_owner(self->manager, owner->name);
	/* frees @owner */
	g_hash_table_remove(self->owners, owner->name);
}

/* nobody would remove them when the owner leaves: they go now */
static void
pm_bus_owner_unfollowed(PmBusOwner *owner, const char *why)
{
	PmBusService *self = owner->service;
	g_warning("cannot follow %s on the bus, removing its client-scope mappings: %s",
		  owner->name, why);
	pm_manager_remove_owner(self->manager, owner->name);
	g_hash_table_remove(self->owners, owner->name);
}

static int
owner_changed_cb(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
	PmBusOwner *owner = userdata;
	const char *name = NULL;
	const char *old_owner = NULL;
	const char *new_owner = NULL;

	if (sd_bus_message_read(m, "sss", &name, &old_owner, &new_owner) < 0)
		return 0;
	if (new_owner[0] == '\0')
		pm_bus_owner_left(owner);
	return 0;
}

static int
owner_checked_cb(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
	PmBusOwner *owner = userdata;
	const sd_bus_error *e = sd_bus_message_get_error(m);

	/* sd-bus holds the slot for the duration of this callback */
	owner->check_slot = sd_bus_slot_unref(owner->check_slot);
	if (e == NULL)
		return 0;
	/* it left before the match was in place: no signal will tell */
	if (sd_bus_error_has_name(e, SD_BUS_ERROR_NAME_HAS_NO_OWNER)) {
		pm_bus_owner_left(owner);
		return 0;
	}
	/* the match still catches a departure from now on */
	g_warning("cannot check whether %s is still on the bus, ignoring: %s", owner->name,
		  e->message);
	return 0;
}

static int
owner_match_installed_cb(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
	PmBusOwner *owner = userdata;
	PmBusService *self = owner->service;
	const sd_bus_error *e = sd_bus_message_get_error(m);
	int r;

	/* refused (a limit of matches per connection): without this callback sd-bus would
	 * close the whole connection */
	if (e != NULL) {
		pm_bus_owner_unfollowed(owner, e->message);
		return 0;
	}
	r = sd_bus_call_method_async(self->bus, &owner->check_slot, "org.freedesktop.DBus",
				     "/org/freedesktop/DBus", "org.freedesktop.DBus",
				     "GetNameOwner", owner_checked_cb, owner, "s", owner->name);
	if (r < 0)
		pm_bus_owner_unfollowed(owner, g_strerror(-r));
	return 0;
}

int
pm_bus_service_follow_owner(PmBusService *self, const char *name)
{
	g_autoptr(PmBusOwner) owner = NULL;
	char *key;
	int r;

	if (g_hash_table_contains(self->owners, name))
		return 0;
	owner = g_new0(PmBusOwner, 1);
	owner->service = self;
	owner->name = key = g_strdup(name);
	r = pm_bus_watch_name_owner(self->bus, &owner->match_slot, name, TRUE, owner_changed_cb,
				    owner_match_installed_cb, owner);
	if (r < 0)
		return r;
	g_hash_table_insert(self->owners, key, g_steal_pointer(&owner));
	return 0;
}

/* ---- the caller's credentials ---- */

/* UnixUserID of a GetConnectionCredentials reply */
static int
read_unix_user_id(sd_bus_message *reply, guint32 *ret_uid)
{
	gboolean found = FALSE;
	int r;

	r = sd_bus_message_enter_container(reply, 'a', "{sv}");
	if (r < 0)
		return r;
	while ((r = sd_bus_message_enter_container(reply, 'e', "sv")) > 0) {
		const char *key = NULL;
		r = sd_bus_message_read(reply, "s", &key);
		if (r < 0)
			return r;
		if (g_strcmp0(key, "UnixUserID") == 0) {
			r = sd_bus_message_read(reply, "v", "u", ret_uid);
			found = TRUE;
		} else {
			r = sd_bus_message_skip(reply, "v");
		}
		if (r < 0)
			return r;
		r = sd_bus_message_exit_container(reply);
		if (r < 0)
			return r;
	}
	if (r < 0)
		return r;
	return found ? 0 : -ENODATA;
}

static int
creds_answer(PmPendingCall *call, sd_bus_message *answer, sd_bus_error *ret_error)
{
	sd_bus_message *m = pm_pending_call_get_message(call);
	const sd_bus_error *e = sd_bus_message_get_error(answer);
	guint32 uid = 0;
	int r;

	if (e != NULL) {
		/* unique names are never reused: it is gone for good, and nothing is done for it */
		if (sd_bus_error_has_name(e, SD_BUS_ERROR_NAME_HAS_NO_OWNER)) {
			g_debug("%s left the bus before its credentials came: forgetting its "
				"call of %s()",
				sd_bus_message_get_sender(m), sd_bus_message_get_member(m));
			return -ENOTCONN;
		}
		g_warning("cannot get the credentials of %s calling %s(): %s",
			  sd_bus_message_get_sender(m), sd_bus_message_get_member(m), e->message);
		return sd_bus_error_setf(ret_error, SD_BUS_ERROR_ACCESS_DENIED,
					 "cannot determine the caller's credentials: %s; try again",
					 e->message);
	}
	r = read_unix_user_id(answer, &uid);
	if (r < 0) {
		g_warning("the bus sent no user of %s calling %s(): %s",
			  sd_bus_message_get_sender(m), sd_bus_message_get_member(m),
			  g_strerror(-r));
		return sd_bus_error_setf(ret_error, SD_BUS_ERROR_ACCESS_DENIED,
					 "cannot determine the caller's credentials: the bus did "
					 "not tell its user id");
	}
	/* dbus-daemon's UnixUserID is the peer's effective uid when it connected */
	pm_pending_call_set_euid(call, uid);
	return 0;
}

static const PmPendingCallClass creds_class = {
    .name = "credentials",
    .answer = creds_answer,
};

/* asks the bus driver for the credentials of the caller of @m; @handler runs again with them */
static int
creds_ask(PmBusService *self, sd_bus_message *m, sd_bus_message_handler_t handler)
{
	g_autoptr(sd_bus_message) question = NULL;
	const char *sender = sd_bus_message_get_sender(m);
	int r;

	if (sender == NULL)
		return -EBADMSG;
	r = sd_bus_message_new_method_call(self->bus, &question, "org.freedesktop.DBus",
					   "/org/freedesktop/DBus", "org.freedesktop.DBus",
					   "GetConnectionCredentials");
	if (r < 0)
		return r;
	r = sd_bus_message_append(question, "s", sender);
	if (r < 0)
		return r;
	/* no watch of the caller meanwhile: the bus driver answers at once, and if the caller
	 * has left by then the answer says so */
	return pm_pending_calls_start(self->calls, &creds_class, NULL, m, question, 0, handler,
				      self);
}

int
pm_bus_service_get_sender_euid(PmBusService *self, sd_bus_message *m,
			       sd_bus_message_handler_t handler, uid_t *ret_euid,
			       sd_bus_error *ret_error)
{
	PmPendingCall *current = pm_pending_calls_get_current(self->calls, m);
	int r;

	/* a run after an answer: asked already */
	if (current != NULL && pm_pending_call_get_euid(current, ret_euid))
		return 1;
	/* dbus-daemon attaches no credentials to messages: they are asked for */
	r = creds_ask(self, m, handler);
	if (r < 0) {
		g_warning("cannot ask for the credentials of %s calling %s(): %s",
			  sd_bus_message_get_sender(m), sd_bus_message_get_member(m),
			  g_strerror(-r));
		return sd_bus_error_setf(ret_error, SD_BUS_ERROR_ACCESS_DENIED,
					 "cannot determine the caller's credentials: %s; try again",
					 g_strerror(-r));
	}
	return 0;
}

int
pm_bus_service_authorize(PmBusService *self, sd_bus_message *m, uid_t euid, const char *action,
			 sd_bus_message_handler_t handler, sd_bus_error *ret_error)
{
	/* every handler of both vtables has the service as its userdata */
	return pm_polkit_check(self->polkit, m, euid, action, handler, self, ret_error);
}

/* ---- what both objects use ---- */

PmMapping *
pm_bus_service_lookup_mapping(PmBusService *self, const char *path)
{
	const char *tail;
	guint64 id;
	if (!g_str_has_prefix(path, PM_MAPPING_PATH_PREFIX "/"))
		return NULL;
	tail = path + strlen(PM_MAPPING_PATH_PREFIX "/");
	if (!g_ascii_string_to_unsigned(tail, 10, 1, G_MAXUINT64, &id, NULL))
		return NULL;
	return pm_manager_lookup_id(self->manager, id);
}

gboolean
pm_bus_service_mapping_is_owned_by(const PmMapping *mapping, uid_t euid)
{
	return mapping->origin == PM_ORIGIN_BUS && mapping->owner_uid == (guint32)euid;
}

int
pm_bus_service_remove_mapping(PmBusService *self, sd_bus_message *m, PmMapping *mapping,
			      sd_bus_message_handler_t handler, sd_bus_error *ret_error)
{
	g_autoptr(GError) error = NULL;
	gboolean persistent = mapping->scope == PM_SCOPE_PERSISTENT;
	uid_t euid = (uid_t)-1;
	int r;

	/* refused whoever asks: before authorization, so nobody authenticates for nothing */
	if (mapping->origin == PM_ORIGIN_CONFIG)
		return sd_bus_error_setf(ret_error, PM_BUS_ERROR_PREFIX "NotSupported",
					 "mapping %s comes from the configuration: remove its "
					 "[Mapping %s] section and Reload()",
					 mapping->name, mapping->name);
	r = pm_bus_service_get_sender_euid(self, m, handler, &euid, ret_error);
	if (r < 0)
		return r;
	if (r == 0)
		return 1; /* the bus driver was asked: @handler runs again with its answer */
	/* its owner removes it without polkit; anyone else's needs manage */
	if (!pm_bus_service_mapping_is_owned_by(mapping, euid)) {
		r = pm_bus_service_authorize(self, m, euid, PM_POLKIT_ACTION_MANAGE, handler,
					     ret_error);
		if (r < 0)
			return r;
		if (r == 0)
			return 1;
	}
	pm_manager_remove_mapping(self->manager, mapping);
	if (persistent && !pm_manager_flush_state(self->manager, &error))
		g_warning("failed to write the state file: %s", error->message);
	return sd_bus_reply_method_return(m, NULL);
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
	pm_manager_object_emit_changed(user_data, props);
}

static void
on_extension_changed(const PmManagerExtension *extension, const char *const *names,
		     gpointer user_data)
{
	pm_manager_object_emit_names_changed(user_data, names);
}

static void
on_endpoint_changed(const char *endpoint, const char *nat_type, gpointer user_data)
{
	PmBusService *self = user_data;
	if (!self->name_acquired)
		return;
	(void)sd_bus_emit_signal(self->bus, PM_BUS_MANAGER_PATH, PM_BUS_MANAGER_INTERFACE,
				 "EndpointChanged", "ss", endpoint, nat_type);
}

static const PmManagerListener bus_listener = {
    .mapping_added = on_mapping_added,
    .mapping_removed = on_mapping_removed,
    .mapping_changed = on_mapping_changed,
    .port_changed = on_port_changed,
    .manager_changed = on_manager_changed,
    .extension_changed = on_extension_changed,
    .endpoint_changed = on_endpoint_changed,
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
	/* keyed by the owner's own copy of its name */
	self->owners = g_hash_table_new_full(g_str_hash, g_str_equal, NULL,
					     (GDestroyNotify)pm_bus_owner_free);
	self->deferred_changes = g_hash_table_new(g_direct_hash, g_direct_equal);
	self->vtables = g_ptr_array_new_with_free_func(g_free);

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
	r = pm_manager_object_add(self);
	if (r >= 0)
		r = pm_mapping_object_add(self);
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
	self->listener_id = pm_manager_add_listener(manager, &bus_listener, self);
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
	if (self->listener_id != 0)
		pm_manager_remove_listener(self->manager, self->listener_id);
	if (self->source != NULL) {
		g_source_destroy(self->source);
		g_source_unref(self->source);
	}
	/* what is still held for callers (tests check it is nothing once they have gone) */
	if (self->calls != NULL)
		g_debug("stopping: dropping %u calls waiting for an answer and %u followed bus "
			"clients",
			pm_pending_calls_get_n_pending(self->calls),
			g_hash_table_size(self->owners));
	g_hash_table_unref(self->owners);
	g_clear_handle_id(&self->deferred_source_id, g_source_remove);
	g_hash_table_unref(self->deferred_changes);
	/* pending calls hold messages and slots of the bus; they get no reply */
	g_clear_pointer(&self->polkit, pm_polkit_free);
	g_clear_pointer(&self->calls, pm_pending_calls_free);
	if (self->bus != NULL)
		sd_bus_flush_close_unref(self->bus);
	g_ptr_array_unref(self->vtables);
	g_free(self);
}
