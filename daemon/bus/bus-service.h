/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <glib.h>
#include <systemd/sd-bus.h>

#include "bus-source.h"
#include "manager.h"
#include "pending-call.h"
#include "polkit.h"

/*
 * portmapd on the system bus: the connection (attached to the main loop), the Manager and
 * Mapping objects, the ObjectManager, client-scope owner tracking and authorization. It
 * listens to the manager and turns its events into signals, and knows nothing of
 * protocols.
 *
 * The object files (manager-object.c, mapping-object.c) use what this header offers and
 * never each other: what both need (finding a mapping by path, removing one for a caller)
 * is here. bus-service.c registers the objects (manager-object.h, mapping-object.h).
 */

#define PM_BUS_NAME "org.portmap.Manager"
#define PM_BUS_MANAGER_PATH "/org/portmap/Manager"
#define PM_BUS_MANAGER_INTERFACE "org.portmap.Manager"
#define PM_BUS_MAPPING_INTERFACE "org.portmap.Mapping"

typedef struct _PmBusService PmBusService;

/* Reload(): parse the configuration and apply it; FALSE with PM_ERROR set on failure */
typedef gboolean (*PmBusReloadFunc)(GError **error, gpointer user_data);
/* the bus name is ours: clients can reach portmapd from now on (sd_notify READY=1) */
typedef void (*PmBusNameAcquiredFunc)(gpointer user_data);

struct _PmBusService {
	sd_bus *bus;
	GSource *source;
	PmManager *manager;
	PmBusReloadFunc reload;
	gpointer reload_data;
	GHashTable *owners; /* unique name → PmBusOwner* of client-scope owners */
	uid_t uid;
	PmPendingCalls *calls; /* waiting for the bus driver or polkit */
	PmPolkit *polkit;
	GSourceFunc lost_func; /* the bus went away, or the name could not be had */
	gpointer lost_data;
	PmBusNameAcquiredFunc acquired_func;
	gpointer acquired_data;
	/* before the name is ours no client can match our signals: none are sent, so a start
	 * with 10 000 mappings does not queue 30 000 messages in memory */
	gboolean name_acquired;
	/* mapping id → PmMappingProp bits whose PropertiesChanged waits for the next batch */
	GHashTable *deferred_changes;
	guint deferred_source_id;
	guint listener_id; /* ours at the manager */
	/* vtables made at start for the extensions' Manager properties (manager-object.c);
	 * sd-bus reads them until the connection is closed */
	GPtrArray *vtables;
};

PmBusService *pm_bus_service_new(PmManager *manager, PmBusReloadFunc reload,
				 gpointer reload_data, GSourceFunc lost_func, gpointer lost_data,
				 GError **error);
void pm_bus_service_free(PmBusService *self);
/* called once the name request succeeds; set it before the main loop runs */
void pm_bus_service_set_name_acquired_func(PmBusService *self, PmBusNameAcquiredFunc func,
					   gpointer user_data);
/* announce deferred property changes and send what is queued (before exit) */
void pm_bus_service_flush(PmBusService *self);

/* for the object files */
/*
 * The effective uid of the caller of @m, asked of the bus driver (GetConnectionCredentials)
 * without waiting: 1 with @ret_euid set; 0 when the question is on its way (return 1 from
 * @handler, which runs again with the answer, pending-call.h); < 0 with @ret_error set when
 * it cannot be known (return it). A caller that left before the answer gets no reply and
 * @handler does not run again.
 */
int pm_bus_service_get_sender_euid(PmBusService *self, sd_bus_message *m,
				   sd_bus_message_handler_t handler, uid_t *ret_euid,
				   sd_bus_error *ret_error);
/* may the caller of @m, of effective uid @euid, do @action? pm_polkit_check(): 1 go on, 0 polkit
 * was asked (return 1 from @handler, which runs again with the answer), < 0 refused (return it) */
int pm_bus_service_authorize(PmBusService *self, sd_bus_message *m, uid_t euid,
			     const char *action, sd_bus_message_handler_t handler,
			     sd_bus_error *ret_error);
/* removes @owner's client-scope mappings when it leaves the bus (also if it has left
 * already); < 0 if it cannot be followed */
int pm_bus_service_follow_owner(PmBusService *self, const char *owner);
/* the mapping at PM_MAPPING_PATH_PREFIX "/N", or NULL */
PmMapping *pm_bus_service_lookup_mapping(PmBusService *self, const char *path);
/* a bus mapping of that caller: it may Remove or Refresh it without polkit */
gboolean pm_bus_service_mapping_is_owned_by(const PmMapping *mapping, uid_t euid);
/* Remove() and RemoveMapping(): refuses a config mapping, authorizes (the owner, else
 * org.portmap.manage; @handler runs again once polkit answers), removes it and replies to @m
 * (flushing state first for a persistent one) */
int pm_bus_service_remove_mapping(PmBusService *self, sd_bus_message *m, PmMapping *mapping,
				  sd_bus_message_handler_t handler, sd_bus_error *ret_error);
