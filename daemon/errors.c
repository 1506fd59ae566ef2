/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "errors.h"

G_DEFINE_QUARK(pm-error-quark, pm_error)

const char *
pm_error_short_name(gint code)
{
	switch ((PmError)code) {
	case PM_ERROR_INVALID_ARGS:
		return "InvalidArgs";
	case PM_ERROR_ACCESS_DENIED:
		return "AccessDenied";
	case PM_ERROR_NO_SUCH_PROVIDER:
		return "NoSuchProvider";
	case PM_ERROR_NO_SUCH_MAPPING:
		return "NoSuchMapping";
	case PM_ERROR_ALREADY_MAPPED:
		return "AlreadyMapped";
	case PM_ERROR_PORT_UNAVAILABLE:
		return "PortUnavailable";
	case PM_ERROR_GATEWAY_UNREACHABLE:
		return "GatewayUnreachable";
	case PM_ERROR_REFUSED:
		return "Refused";
	case PM_ERROR_NOT_SUPPORTED:
		return "NotSupported";
	case PM_ERROR_INVALID_CONFIGURATION:
		return "InvalidConfiguration";
	case PM_ERROR_FAILED:
		break;
	}
	return "Failed";
}
