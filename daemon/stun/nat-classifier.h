/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <glib.h>

#include "stun.h"

/*
 * What the STUN observations say about the NAT (stun.md §2, §6): pure functions, no I/O.
 *
 * NATType keeps the four names the control plane knows, with pinned meanings: "none" only
 * when the mapped address *and* port are the probing socket's own (Linux masquerade keeps
 * ports, so a port comparison alone is wrong); "full_cone" when two observations from one
 * socket towards different IPs agree (endpoint-independent mapping; it says nothing of
 * filtering); "symmetric" when two observations differ; "unknown" with one.
 *
 * MappingBehavior and FilteringBehavior are RFC 4787's, from RFC 5780's tests against a
 * server with a usable OTHER-ADDRESS.
 */

typedef enum {
	PM_NAT_TYPE_UNKNOWN,
	PM_NAT_TYPE_NONE,
	PM_NAT_TYPE_FULL_CONE,
	PM_NAT_TYPE_SYMMETRIC,
} PmNatType;

typedef enum {
	PM_NAT_BEHAVIOR_UNKNOWN,
	PM_NAT_BEHAVIOR_NONE, /* mapping only: no NAT */
	PM_NAT_BEHAVIOR_ENDPOINT_INDEPENDENT,
	PM_NAT_BEHAVIOR_ADDRESS_DEPENDENT,
	PM_NAT_BEHAVIOR_ADDRESS_AND_PORT_DEPENDENT,
} PmNatBehavior;

/* one Binding answer on the probing socket: where the request went, what it saw */
typedef struct {
	PmStunAddress destination;
	PmStunAddress mapped;
} PmStunObservation;

/* "none", "full_cone", "symmetric", "unknown" */
const char *pm_nat_type_to_string(PmNatType type);
/* "none", "endpoint-independent", "address-dependent", "address-and-port-dependent",
 * "unknown" */
const char *pm_nat_behavior_to_string(PmNatBehavior behavior);

/* @observations of one socket whose own address (as the server's route sees it) is @local */
PmNatType pm_nat_classify_type(const PmStunObservation *observations, guint n,
			       const PmStunAddress *local);

/* RFC 5780 §4.3 on one socket: @x1 from the primary P:p, @x2 from the alternate IP A:p,
 * @x3 from A:a (NULL: no answer, yet or ever): unknown until they decide */
PmNatBehavior pm_nat_classify_mapping(const PmStunAddress *local, const PmStunAddress *x1,
				      const PmStunAddress *x2, const PmStunAddress *x3);

/* RFC 5780 §4.4 on a fresh socket that has sent only to P:p: answers to CHANGE-REQUEST
 * {IP, port} (from A:a) and {port} (from P:a); @waited: the wait is over */
PmNatBehavior pm_nat_classify_filtering(gboolean change_ip_port_answered,
					gboolean change_port_answered, gboolean waited);

/* an OTHER-ADDRESS is usable for RFC 5780's tests if it is of the server's family and
 * differs from the server (@server, where the request went) in IP and in port: coturn
 * names its own address there when asked on its alternate one */
gboolean pm_nat_other_address_usable(const PmStunAddress *server, const PmStunAddress *other);

/* how long a filtering test waits for answers that may never come: four round trips of
 * the path (measured by the fresh socket's first answer), at least 50 ms for a server's
 * scheduling, at most @max_usec */
guint64 pm_nat_filter_wait_usec(guint64 rtt_usec, guint64 max_usec);

/* same IP (family and bytes), port ignored */
gboolean pm_stun_address_same_ip(const PmStunAddress *a, const PmStunAddress *b);
