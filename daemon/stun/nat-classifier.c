/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "nat-classifier.h"

#include <string.h>

#define FILTER_WAIT_MIN_USEC (50 * G_TIME_SPAN_MILLISECOND)
#define FILTER_WAIT_RTTS 4

const char *
pm_nat_type_to_string(PmNatType type)
{
	static const char *const names[] = {
	    [PM_NAT_TYPE_UNKNOWN] = "unknown",
	    [PM_NAT_TYPE_NONE] = "none",
	    [PM_NAT_TYPE_FULL_CONE] = "full_cone",
	    [PM_NAT_TYPE_SYMMETRIC] = "symmetric",
	};
	return (guint)type < G_N_ELEMENTS(names) ? names[type] : "unknown";
}

const char *
pm_nat_behavior_to_string(PmNatBehavior behavior)
{
	static const char *const names[] = {
	    [PM_NAT_BEHAVIOR_UNKNOWN] = "unknown",
	    [PM_NAT_BEHAVIOR_NONE] = "none",
	    [PM_NAT_BEHAVIOR_ENDPOINT_INDEPENDENT] = "endpoint-independent",
	    [PM_NAT_BEHAVIOR_ADDRESS_DEPENDENT] = "address-dependent",
	    [PM_NAT_BEHAVIOR_ADDRESS_AND_PORT_DEPENDENT] = "address-and-port-dependent",
	};
	return (guint)behavior < G_N_ELEMENTS(names) ? names[behavior] : "unknown";
}

gboolean
pm_stun_address_same_ip(const PmStunAddress *a, const PmStunAddress *b)
{
	return a->family != 0 && a->family == b->family &&
	       memcmp(a->address, b->address, a->family == 4 ? 4 : 16) == 0;
}

PmNatType
pm_nat_classify_type(const PmStunObservation *observations, guint n, const PmStunAddress *local)
{
	gboolean distinct_ips = FALSE;

	if (n == 0)
		return PM_NAT_TYPE_UNKNOWN;
	if (local != NULL && local->family != 0 &&
	    pm_stun_address_equal(&observations[0].mapped, local))
		return PM_NAT_TYPE_NONE;
	for (guint i = 1; i < n; i++) {
		if (!pm_stun_address_equal(&observations[i].mapped, &observations[0].mapped))
			return PM_NAT_TYPE_SYMMETRIC;
		if (!pm_stun_address_same_ip(&observations[i].destination,
					     &observations[0].destination))
			distinct_ips = TRUE;
	}
	/* the same mapping towards one IP's two ports says nothing of other IPs */
	return distinct_ips ? PM_NAT_TYPE_FULL_CONE : PM_NAT_TYPE_UNKNOWN;
}

PmNatBehavior
pm_nat_classify_mapping(const PmStunAddress *local, const PmStunAddress *x1,
			const PmStunAddress *x2, const PmStunAddress *x3)
{
	if (x1 == NULL)
		return PM_NAT_BEHAVIOR_UNKNOWN;
	if (local != NULL && local->family != 0 && pm_stun_address_equal(x1, local))
		return PM_NAT_BEHAVIOR_NONE;
	if (x2 == NULL)
		return PM_NAT_BEHAVIOR_UNKNOWN;
	if (pm_stun_address_equal(x1, x2))
		return PM_NAT_BEHAVIOR_ENDPOINT_INDEPENDENT;
	if (x3 == NULL)
		return PM_NAT_BEHAVIOR_UNKNOWN;
	return pm_stun_address_equal(x2, x3) ? PM_NAT_BEHAVIOR_ADDRESS_DEPENDENT
					      : PM_NAT_BEHAVIOR_ADDRESS_AND_PORT_DEPENDENT;
}

PmNatBehavior
pm_nat_classify_filtering(gboolean change_ip_port_answered, gboolean change_port_answered,
			  gboolean waited)
{
	if (change_ip_port_answered)
		return PM_NAT_BEHAVIOR_ENDPOINT_INDEPENDENT;
	if (!waited)
		return PM_NAT_BEHAVIOR_UNKNOWN;
	return change_port_answered ? PM_NAT_BEHAVIOR_ADDRESS_DEPENDENT
				    : PM_NAT_BEHAVIOR_ADDRESS_AND_PORT_DEPENDENT;
}

gboolean
pm_nat_other_address_usable(const PmStunAddress *server, const PmStunAddress *other)
{
	return other->family != 0 && other->family == server->family &&
	       !pm_stun_address_same_ip(server, other) && other->port != server->port &&
	       other->port != 0;
}

guint64
pm_nat_filter_wait_usec(guint64 rtt_usec, guint64 max_usec)
{
	guint64 wait = MAX(FILTER_WAIT_RTTS * rtt_usec, FILTER_WAIT_MIN_USEC);

	return MIN(wait, max_usec);
}
