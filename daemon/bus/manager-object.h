/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include "bus-service.h"

/*
 * org.portmap.Manager on /org/portmap/Manager (dbus/org.portmap.Manager.xml): the core's
 * members in one static vtable, and the extensions' Manager properties (manager.h) in a
 * vtable each, made at start and served by one generic getter.
 */

/* every vtable of the interface, before the name is requested */
int pm_manager_object_add(PmBusService *service);
/* PropertiesChanged for the PmManagerProp bits @props */
void pm_manager_object_emit_changed(PmBusService *service, guint props);
/* PropertiesChanged for extension properties */
void pm_manager_object_emit_names_changed(PmBusService *service, const char *const *names);
