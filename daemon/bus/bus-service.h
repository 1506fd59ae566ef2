/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <glib.h>
#include <systemd/sd-bus.h>

#include "bus-source.h"
#include "manager.h"

G_DEFINE_AUTOPTR_CLEANUP_FUNC(sd_bus_creds, sd_bus_creds_unref)

/*
 * portmapd on the system bus: the connection (attached to the main loop), the Manager and
 * Mapping objects, the ObjectManager, client-scope owner tracking and authorization. It
 * turns manager events into signals and knows nothing of protocols.
 */

#define PM_BUS_NAME "org.portmap.Manager"
#define PM_BUS_MANAGER_PATH "/org/portmap/Manager"
#define PM_BUS_MANAGER_INTERFACE "org.portmap.Manager"
#define PM_BUS_MAPPING_INTERFACE "org.portmap.Mapping"

typedef struct _PmBusService PmBusService;

/* Reload(): parse the configuration and apply it; FALSE with PM_ERROR set on failure */
typedef gboolean (*PmBusReloadFunc)(GError **error, gpointer user_data);

struct _PmBusService {
	sd_bus *bus;
	GSource *source;
	PmManager *manager;
	PmBusReloadFunc reload;
	gpointer reload_data;
	GHashTable *tracks; /* unique name → sd_bus_track* of client-scope owners */
	uid_t uid;
	GSourceFunc lost_func; /* the bus went away, or the name could not be had */
	gpointer lost_data;
};

PmBusService *pm_bus_service_new(PmManager *manager, PmBusReloadFunc reload,
				 gpointer reload_data, GSourceFunc lost_func, gpointer lost_data,
				 GError **error);
void pm_bus_service_free(PmBusService *self);
/* send what is queued (before exit) */
void pm_bus_service_flush(PmBusService *self);

/* the manager's listener: turns its events into signals */
extern const PmManagerListener pm_bus_service_listener;

/* for the object files */
gboolean pm_bus_service_check_privileged(PmBusService *self, sd_bus_message *m,
					 sd_bus_error *ret_error, int *ret);
int pm_bus_service_track_owner(PmBusService *self, const char *owner);
extern const sd_bus_vtable pm_manager_vtable[];
extern const sd_bus_vtable pm_mapping_vtable[];
int pm_mapping_object_find(sd_bus *bus, const char *path, const char *interface,
			   void *userdata, void **found, sd_bus_error *ret_error);
int pm_mapping_object_enumerate(sd_bus *bus, const char *prefix, void *userdata, char ***nodes,
				sd_bus_error *ret_error);
/* removes it and replies to @m (flushing state first for a persistent one) */
int pm_bus_mapping_remove(PmBusService *self, sd_bus_message *m, PmMapping *mapping,
			  sd_bus_error *ret_error);
void pm_mapping_object_emit_changed(PmBusService *self, PmMapping *mapping, guint props);
