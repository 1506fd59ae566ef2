/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <glib.h>
#include <stdint.h>

#include "errors.h"
#include "manager.h"

/*
 * What main.c uses of the bus service and of sd-daemon, in a build without libsystemd
 * (-Dbus=disabled: the container image, where portmapd runs with --no-bus). Without --no-bus
 * the bus service cannot start and says why; there is no service manager to notify.
 */

typedef struct _PmBusService PmBusService;
typedef gboolean (*PmBusReloadFunc)(GError **error, gpointer user_data);
typedef void (*PmBusNameAcquiredFunc)(gpointer user_data);

static inline PmBusService *
pm_bus_service_new(PmManager *manager, PmBusReloadFunc reload, gpointer reload_data,
		   GSourceFunc lost_func, gpointer lost_data, GError **error)
{
	g_set_error_literal(error, PM_ERROR, PM_ERROR_NOT_SUPPORTED,
			    "this portmapd was built without the system bus (-Dbus=disabled): "
			    "run it with --no-bus");
	return NULL;
}

static inline void
pm_bus_service_free(PmBusService *self)
{
}

static inline void
pm_bus_service_set_name_acquired_func(PmBusService *self, PmBusNameAcquiredFunc func,
				      gpointer user_data)
{
}

static inline void
pm_bus_service_flush(PmBusService *self)
{
}

/* a service manager that set NOTIFY_SOCKET hears nothing from this build */
static inline int
sd_notify(int unset_environment, const char *state)
{
	return 0;
}

static inline int G_GNUC_PRINTF(2, 3)
sd_notifyf(int unset_environment, const char *format, ...)
{
	return 0;
}

static inline int
sd_watchdog_enabled(int unset_environment, uint64_t *usec)
{
	return 0;
}
