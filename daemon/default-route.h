/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <glib.h>

/*
 * The IPv4 default route, as the kernel itself would choose it for a packet of portmapd's
 * toward the internet: an rtnetlink RTM_GETROUTE query, so that route metrics, policy
 * routing (ip rule: uid ranges, wg-quick's and Tailscale's tables) and multipath are what
 * the kernel makes of them, not what a reading of the main table guesses. Nothing is sent.
 *
 * The reply's parsing is apart from the socket I/O so that it can be tested, and fuzzed,
 * with hand-made datagrams.
 */

/* the destination of the query: 1.1.1.1 (the same in either byte order), standing for "the
 * internet": any global unicast address takes the default route unless a more specific
 * route says otherwise. Nothing is sent to it: the kernel only resolves the route */
#define PM_DEFAULT_ROUTE_DESTINATION ((guint32)0x01010101u)

/* the kernel's answer; addresses in network byte order, 0 when absent */
typedef struct {
	guint32 gateway;	/* RTA_GATEWAY: 0 for a route without one (point-to-point) */
	gboolean ipv6_gateway;	/* RTA_VIA: the route's gateway is an IPv6 address */
	guint32 ifindex;	/* RTA_OIF: the outgoing interface */
	guint32 prefsrc;	/* RTA_PREFSRC: the local address packets would leave from */
	guint32 table;		/* RTA_TABLE: the routing table the route came from */
} PmDefaultRoute;

/* writes the request (numbered @seq, for a socket of @uid, with no mark) into @buf, which
 * has room for @size bytes; returns its length, or 0 if it does not fit */
gsize pm_default_route_request(guint8 *buf, gsize size, guint32 seq, guint32 uid);

/*
 * Reads the kernel's reply to the request numbered @seq from one datagram: TRUE with
 * *@route filled, whether or not the route has a gateway. FALSE with @error if the kernel
 * answered with an error (ENETUNREACH: there is no default route) or the datagram is not a
 * well-formed reply to the request; no input makes it read outside @buf.
 */
gboolean pm_default_route_parse(const guint8 *buf, gsize len, guint32 seq,
				PmDefaultRoute *route, GError **error);

/*
 * The NAT-PMP gateway of @route: TRUE with *@gateway set, or FALSE with an error asking for
 * Gateway= if the route has no IPv4 gateway (a point-to-point VPN such as wg-quick's);
 * @ifname (may be NULL) names the route's interface in that message.
 */
gboolean pm_default_route_gateway(const PmDefaultRoute *route, const char *ifname,
				  guint32 *gateway, GError **error);

/* the same toward @destination (network byte order) */
gsize pm_route_request(guint8 *buf, gsize size, guint32 seq, guint32 uid, guint32 destination);

/* asks the kernel for the route a socket of @uid would take to the internet; synchronous,
 * bounded by a 1 s receive timeout */
gboolean pm_default_route_query(guint32 uid, PmDefaultRoute *route, GError **error);

/* the same toward @destination (network byte order), whatever the route's type (a local
 * destination's goes through lo): exec hooks' PORTMAP_INTERFACE, the interface toward a
 * provider's peer */
gboolean pm_route_query(guint32 destination, guint32 uid, PmDefaultRoute *route,
			GError **error);

/* pm_default_route_query() then pm_default_route_gateway(): the default route's gateway
 * for a socket of @uid (portmapd passes getuid()) */
gboolean pm_default_route_find_gateway(guint32 uid, guint32 *gateway, GError **error);
