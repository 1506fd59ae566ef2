/* SPDX-License-Identifier: GPL-2.0-or-later */

#include <errno.h>
#include <gio/gio.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "address.h"
#include "default-route.h"
#include "errors.h"
#include "netlink.h"

/*
 * Synchronous on the main loop on purpose: one request answered by this host's kernel from
 * its routing tables while we wait, a single local round trip with nothing on the network
 * in between. The receive timeout only makes sure it can never hang.
 */

/* more than any reply (about a hundred bytes: the route and a few attributes) */
#define PM_DEFAULT_ROUTE_BUFFER_SIZE 8192
#define PM_DEFAULT_ROUTE_TIMEOUT_SEC 1
/* the socket is fresh: no other request shares it */
#define PM_DEFAULT_ROUTE_SEQ 1

static gsize
pm_default_route_put_u32(guint8 *buf, gsize offset, guint16 type, guint32 value)
{
	struct rtattr rta = {.rta_len = RTA_LENGTH(sizeof(value)), .rta_type = type};
	memcpy(buf + offset, &rta, sizeof(rta));
	memcpy(buf + offset + RTA_LENGTH(0), &value, sizeof(value));
	return offset + RTA_SPACE(sizeof(value));
}

gsize
pm_default_route_request(guint8 *buf, gsize size, guint32 seq, guint32 uid)
{
	return pm_route_request(buf, size, seq, uid, PM_DEFAULT_ROUTE_DESTINATION);
}

gsize
pm_route_request(guint8 *buf, gsize size, guint32 seq, guint32 uid, guint32 destination)
{
	gsize len = NLMSG_SPACE(sizeof(struct rtmsg)) + 2 * RTA_SPACE(sizeof(guint32));
	struct nlmsghdr hdr = {
	    .nlmsg_len = len,
	    .nlmsg_type = RTM_GETROUTE,
	    /* one route, not a dump of the tables */
	    .nlmsg_flags = NLM_F_REQUEST,
	    .nlmsg_seq = seq,
	};
	struct rtmsg rtm = {
	    .rtm_family = AF_INET,
	    .rtm_dst_len = 32,
	    /* the reply names the table the route came from (policy routing), for the log;
	     * no RTM_F_FIB_MATCH: the resolved route has the one next hop the kernel picked
	     * of a multipath route, the table entry would list them all */
	    .rtm_flags = RTM_F_LOOKUP_TABLE,
	};
	gsize offset = NLMSG_SPACE(sizeof(rtm));

	if (size < len)
		return 0;
	memset(buf, 0, len);
	memcpy(buf, &hdr, sizeof(hdr));
	memcpy(buf + NLMSG_HDRLEN, &rtm, sizeof(rtm));
	/* nothing is ever sent to this address: the kernel only resolves the route a packet to
	 * it would take (see PM_DEFAULT_ROUTE_DESTINATION) */
	offset = pm_default_route_put_u32(buf, offset, RTA_DST, destination);
	/* the uid makes ip rules with uidrange apply as to portmapd's own sockets; there is no
	 * RTA_MARK (mark 0, as on those sockets) so "not fwmark" rules of VPNs such as wg-quick's
	 * send us through the tunnel, and no RTA_IIF: an output route, as for a local packet */
	offset = pm_default_route_put_u32(buf, offset, RTA_UID, uid);
	g_assert(offset == len);
	return len;
}

/* the attributes of an RTM_NEWROUTE, after its struct rtmsg */
static gboolean
pm_default_route_parse_attributes(const guint8 *buf, gsize len, PmDefaultRoute *route,
				  GError **error)
{
	gsize offset = 0;

	while (offset < len) {
		struct rtattr rta;
		const guint8 *data;
		gsize data_len;

		if (len - offset < sizeof(rta)) {
			g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
				    "truncated route attribute (%" G_GSIZE_FORMAT " bytes)",
				    len - offset);
			return FALSE;
		}
		memcpy(&rta, buf + offset, sizeof(rta));
		if (rta.rta_len < sizeof(rta) || rta.rta_len > len - offset) {
			g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
				    "route attribute %u of invalid length %u", rta.rta_type,
				    rta.rta_len);
			return FALSE;
		}
		data = buf + offset + RTA_LENGTH(0);
		data_len = rta.rta_len - RTA_LENGTH(0);
		offset += MIN((gsize)RTA_ALIGN(rta.rta_len), len - offset);

		switch (rta.rta_type) {
		case RTA_GATEWAY:
		case RTA_OIF:
		case RTA_PREFSRC:
		case RTA_TABLE: {
			guint32 value;
			if (data_len != sizeof(value)) {
				g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
					    "route attribute %u of %" G_GSIZE_FORMAT
					    " bytes instead of 4",
					    rta.rta_type, data_len);
				return FALSE;
			}
			memcpy(&value, data, sizeof(value));
			if (rta.rta_type == RTA_GATEWAY)
				route->gateway = value;
			else if (rta.rta_type == RTA_OIF)
				route->ifindex = value;
			else if (rta.rta_type == RTA_PREFSRC)
				route->prefsrc = value;
			else
				route->table = value;
			break;
		}
		case RTA_VIA: {
			/* an IPv4 route through an IPv6 neighbour (RFC 5549): no gateway NAT-PMP
			 * can talk to, unless the kernel gives an IPv4 one this way */
			guint16 family;
			if (data_len < sizeof(family)) {
				g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
						    "truncated route attribute RTA_VIA");
				return FALSE;
			}
			memcpy(&family, data, sizeof(family));
			if (family == AF_INET && data_len == sizeof(family) + sizeof(guint32))
				memcpy(&route->gateway, data + sizeof(family), sizeof(guint32));
			else
				route->ipv6_gateway = TRUE;
			break;
		}
		default:
			/* RTA_DST, RTA_UID, RTA_CACHEINFO, ...: nothing we need */
			break;
		}
	}
	return TRUE;
}

static gboolean
pm_default_route_parse_route(const guint8 *payload, gsize payload_len, gboolean unicast_only,
			     PmDefaultRoute *route, GError **error)
{
	struct rtmsg rtm;
	gsize header = NLMSG_ALIGN(sizeof(rtm));

	if (payload_len < header) {
		g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
				    "truncated route message");
		return FALSE;
	}
	memcpy(&rtm, payload, sizeof(rtm));
	if (rtm.rtm_family != AF_INET) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
			    "the kernel answered with a route of address family %u", rtm.rtm_family);
		return FALSE;
	}
	/* e.g. RTN_LOCAL if the destination were one of this host's addresses */
	if (unicast_only && rtm.rtm_type != RTN_UNICAST) {
		g_set_error(error, PM_ERROR, PM_ERROR_GATEWAY_UNREACHABLE,
			    "the kernel's route toward the internet is not a unicast route (type "
			    "%u): set Gateway= in the provider's section",
			    rtm.rtm_type);
		return FALSE;
	}
	memset(route, 0, sizeof(*route));
	route->table = rtm.rtm_table;
	return pm_default_route_parse_attributes(payload + header, payload_len - header, route,
						 error);
}

/* TRUE for an acknowledgement, FALSE with @error for an error */
static gboolean
pm_default_route_parse_error(const guint8 *payload, gsize payload_len, GError **error)
{
	int errnum;

	if (!pm_netlink_error_code(payload, payload_len, &errnum, error))
		return FALSE;
	/* 0 is an acknowledgement, which was not asked for: not the answer */
	if (errnum == 0)
		return TRUE;
	if (errnum == ENETUNREACH) {
		g_set_error_literal(error, PM_ERROR, PM_ERROR_GATEWAY_UNREACHABLE,
				    "there is no IPv4 default route to find the NAT-PMP gateway: set "
				    "Gateway= in the provider's section");
		return FALSE;
	}
	/* EHOSTUNREACH (an unreachable route), EACCES (prohibit), EINVAL (blackhole), ... */
	g_set_error(error, PM_ERROR, PM_ERROR_GATEWAY_UNREACHABLE,
		    "the kernel has no usable IPv4 route toward the internet to find the NAT-PMP "
		    "gateway (%s): set Gateway= in the provider's section",
		    g_strerror(errnum));
	return FALSE;
}

static gboolean
pm_default_route_parse_full(const guint8 *buf, gsize len, guint32 seq, gboolean unicast_only,
			    PmDefaultRoute *route, GError **error)
{
	gsize offset = 0;
	struct nlmsghdr hdr;
	const guint8 *payload;
	gsize payload_len;
	GError *local_error = NULL;

	while (pm_netlink_next_message(buf, len, &offset, &hdr, &payload, &payload_len,
				       &local_error)) {
		/* not an answer to this request */
		if (hdr.nlmsg_seq != seq)
			continue;
		if (hdr.nlmsg_type == NLMSG_ERROR) {
			if (!pm_default_route_parse_error(payload, payload_len, error))
				return FALSE;
			continue;
		}
		if (hdr.nlmsg_type == RTM_NEWROUTE)
			return pm_default_route_parse_route(payload, payload_len, unicast_only,
							    route, error);
		/* NLMSG_NOOP, NLMSG_DONE and anything else carry no route */
	}
	if (local_error != NULL) {
		g_propagate_error(error, local_error);
		return FALSE;
	}
	g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
			    "the kernel's answer holds no route");
	return FALSE;
}

gboolean
pm_default_route_parse(const guint8 *buf, gsize len, guint32 seq, PmDefaultRoute *route,
		       GError **error)
{
	return pm_default_route_parse_full(buf, len, seq, TRUE, route, error);
}

gboolean
pm_default_route_gateway(const PmDefaultRoute *route, const char *ifname, guint32 *gateway,
			 GError **error)
{
	g_autofree char *interface = NULL;

	if (route->gateway != 0) {
		*gateway = route->gateway;
		return TRUE;
	}
	if (ifname != NULL)
		interface = g_strdup(ifname);
	else if (route->ifindex != 0)
		interface = g_strdup_printf("interface %u", route->ifindex);
	else
		interface = g_strdup("an unnamed interface");
	if (route->ipv6_gateway) {
		g_set_error(error, PM_ERROR, PM_ERROR_GATEWAY_UNREACHABLE,
			    "the default route goes through %s to an IPv6 gateway, and NAT-PMP "
			    "needs IPv4: set Gateway= in the provider's section to the NAT-PMP "
			    "gateway's IPv4 address",
			    interface);
		return FALSE;
	}
	/* wg-quick, OpenVPN's tun and the like: there is no router to ask, only a peer */
	g_set_error(error, PM_ERROR, PM_ERROR_GATEWAY_UNREACHABLE,
		    "the default route goes through %s without a gateway (a point-to-point VPN): "
		    "set Gateway= in the provider's section to the VPN's NAT-PMP gateway (e.g. "
		    "10.2.0.1)",
		    interface);
	return FALSE;
}

/* sends the request on @fd and reads the kernel's answer */
static gboolean
pm_default_route_ask(int fd, guint32 uid, guint32 destination, gboolean unicast_only,
		     PmDefaultRoute *route, GError **error)
{
	struct timeval timeout = {.tv_sec = PM_DEFAULT_ROUTE_TIMEOUT_SEC};
	struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
	guint8 request[64];
	gsize request_len = pm_route_request(request, sizeof(request), PM_DEFAULT_ROUTE_SEQ, uid,
					     destination);
	g_autofree guint8 *buf = g_malloc(PM_DEFAULT_ROUTE_BUFFER_SIZE);
	gssize n;

	g_assert(request_len != 0);
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout)) < 0 ||
	    sendto(fd, request, request_len, 0, (struct sockaddr *)&kernel, sizeof(kernel)) < 0) {
		int errsv = errno;
		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errsv),
			    "cannot ask the kernel for the default route: %s", g_strerror(errsv));
		return FALSE;
	}
	n = pm_netlink_receive(fd, buf, PM_DEFAULT_ROUTE_BUFFER_SIZE, "the default route", error);
	if (n < 0)
		return FALSE;
	return pm_default_route_parse_full(buf, (gsize)n, PM_DEFAULT_ROUTE_SEQ, unicast_only, route,
					   error);
}

static gboolean
pm_default_route_query_full(guint32 uid, guint32 destination, gboolean unicast_only,
			    PmDefaultRoute *route, GError **error)
{
	gboolean ok;
	int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_ROUTE);

	if (fd < 0) {
		int errsv = errno;
		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errsv),
			    "cannot open a NETLINK_ROUTE socket: %s", g_strerror(errsv));
		return FALSE;
	}
	ok = pm_default_route_ask(fd, uid, destination, unicast_only, route, error);
	close(fd);
	return ok;
}

gboolean
pm_default_route_query(guint32 uid, PmDefaultRoute *route, GError **error)
{
	return pm_default_route_query_full(uid, PM_DEFAULT_ROUTE_DESTINATION, TRUE, route, error);
}

gboolean
pm_route_query(guint32 destination, guint32 uid, PmDefaultRoute *route, GError **error)
{
	return pm_default_route_query_full(uid, destination, FALSE, route, error);
}

gboolean
pm_default_route_find_gateway(guint32 uid, guint32 *gateway, GError **error)
{
	PmDefaultRoute route = {0};
	char ifname[IF_NAMESIZE] = "";
	g_autofree char *via = NULL;
	g_autofree char *src = NULL;

	if (!pm_default_route_query(uid, &route, error))
		return FALSE;
	/* for the messages only: the interface may have gone meanwhile */
	if (route.ifindex == 0 || if_indextoname(route.ifindex, ifname) == NULL)
		ifname[0] = '\0';
	via = pm_ipv4_to_string(route.gateway);
	src = pm_ipv4_to_string(route.prefsrc);
	g_debug("default route for uid %u: via %s dev %s src %s table %u", uid,
		route.gateway != 0 ? via : "(none)", ifname[0] != '\0' ? ifname : "?",
		route.prefsrc != 0 ? src : "?", route.table);
	return pm_default_route_gateway(&route, ifname[0] != '\0' ? ifname : NULL, gateway,
					error);
}
