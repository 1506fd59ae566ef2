/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>

#include "bus-errors.h"
#include "errors.h"

const sd_bus_error_map pm_bus_error_map[] = {
    SD_BUS_ERROR_MAP(PM_BUS_ERROR_PREFIX "NoSuchProvider", ENOENT),
    SD_BUS_ERROR_MAP(PM_BUS_ERROR_PREFIX "NoSuchMapping", ENOENT),
    SD_BUS_ERROR_MAP(PM_BUS_ERROR_PREFIX "AlreadyMapped", EEXIST),
    SD_BUS_ERROR_MAP(PM_BUS_ERROR_PREFIX "PortUnavailable", EADDRINUSE),
    SD_BUS_ERROR_MAP(PM_BUS_ERROR_PREFIX "GatewayUnreachable", EHOSTUNREACH),
    SD_BUS_ERROR_MAP(PM_BUS_ERROR_PREFIX "Refused", ECONNREFUSED),
    SD_BUS_ERROR_MAP(PM_BUS_ERROR_PREFIX "NotSupported", EOPNOTSUPP),
    SD_BUS_ERROR_MAP(PM_BUS_ERROR_PREFIX "InvalidConfiguration", EINVAL),
    SD_BUS_ERROR_MAP_END,
};

int
pm_bus_error_from_gerror(sd_bus_error *ret, const GError *error)
{
	g_autofree char *name = NULL;

	if (error->domain != PM_ERROR)
		return sd_bus_error_set(ret, SD_BUS_ERROR_FAILED, error->message);
	switch ((PmError)error->code) {
	case PM_ERROR_INVALID_ARGS:
		return sd_bus_error_set(ret, SD_BUS_ERROR_INVALID_ARGS, error->message);
	case PM_ERROR_ACCESS_DENIED:
		return sd_bus_error_set(ret, SD_BUS_ERROR_ACCESS_DENIED, error->message);
	case PM_ERROR_FAILED:
		return sd_bus_error_set(ret, SD_BUS_ERROR_FAILED, error->message);
	default:
		break;
	}
	name = g_strconcat(PM_BUS_ERROR_PREFIX, pm_error_short_name(error->code), NULL);
	return sd_bus_error_set(ret, name, error->message);
}
