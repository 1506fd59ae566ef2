/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <glib.h>
#include <systemd/sd-bus.h>

#define PM_BUS_ERROR_PREFIX "org.portmap.Manager.Error."

/* registered with sd_bus_error_add_map() so errno and names round-trip */
extern const sd_bus_error_map pm_bus_error_map[];

/* the one conversion point from GError (PM_ERROR) to a D-Bus error; returns the
 * negative errno that sd-bus handlers return */
int pm_bus_error_from_gerror(sd_bus_error *ret, const GError *error);
