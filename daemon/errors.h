/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <glib.h>

/* the daemon's error domain; the bus layer maps each code to a D-Bus error name
 * (bus/bus-errors.c), and later failures put "ShortName: message" in LastError */
#define PM_ERROR (pm_error_quark())

typedef enum {
	PM_ERROR_INVALID_ARGS,
	PM_ERROR_ACCESS_DENIED,
	PM_ERROR_NO_SUCH_PROVIDER,
	PM_ERROR_NO_SUCH_MAPPING,
	PM_ERROR_ALREADY_MAPPED,
	PM_ERROR_PORT_UNAVAILABLE,
	PM_ERROR_GATEWAY_UNREACHABLE,
	PM_ERROR_REFUSED,
	PM_ERROR_NOT_SUPPORTED,
	PM_ERROR_INVALID_CONFIGURATION,
	PM_ERROR_FAILED,
} PmError;

GQuark pm_error_quark(void);

/* "PortUnavailable", "InvalidArgs", ...: the last component of the D-Bus error name */
const char *pm_error_short_name(gint code);
