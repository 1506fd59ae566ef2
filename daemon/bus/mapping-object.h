/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include "bus-service.h"

/*
 * org.portmap.Mapping on /org/portmap/Manager/mapping/N (dbus/org.portmap.Mapping.xml),
 * served by one fallback vtable with a node enumerator.
 */

/* the fallback vtable and its enumerator, before the name is requested */
int pm_mapping_object_add(PmBusService *service);
/* PropertiesChanged of mapping @id for the PmMappingProp bits @props */
void pm_mapping_object_emit_changed(PmBusService *service, guint64 id, guint props);
