/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <arpa/inet.h>
#include <errno.h>
#include <gio/gio.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <string.h>

#include "default-route.h"
#include "errors.h"

/* the kernel's replies, built by hand: nlmsghdr, then rtmsg or nlmsgerr, then attributes */
typedef struct {
	guint8 buf[1024];
	gsize len;	  /* the datagram so far */
	gsize msg_start;  /* where the message being built starts */
} PmTestReply;

static void
pm_test_reply_begin(PmTestReply *r, guint16 type, guint32 seq)
{
	struct nlmsghdr hdr = {.nlmsg_type = type, .nlmsg_seq = seq, .nlmsg_pid = 4242};
	r->len = NLMSG_ALIGN(r->len);
	r->msg_start = r->len;
	memcpy(r->buf + r->len, &hdr, sizeof(hdr));
	r->len += NLMSG_HDRLEN;
}

static void
pm_test_reply_put(PmTestReply *r, const void *data, gsize len)
{
	g_assert_cmpuint(r->len + len, <=, sizeof(r->buf));
	memcpy(r->buf + r->len, data, len);
	r->len += len;
}

static void
pm_test_reply_attr(PmTestReply *r, guint16 type, const void *data, gsize len)
{
	struct rtattr rta = {.rta_len = RTA_LENGTH(len), .rta_type = type};
	guint8 pad[RTA_ALIGNTO] = {0};
	pm_test_reply_put(r, &rta, sizeof(rta));
	pm_test_reply_put(r, data, len);
	pm_test_reply_put(r, pad, RTA_SPACE(len) - RTA_LENGTH(len));
}

static void
pm_test_reply_attr_u32(PmTestReply *r, guint16 type, guint32 value)
{
	pm_test_reply_attr(r, type, &value, sizeof(value));
}

static void
pm_test_reply_end(PmTestReply *r)
{
	guint32 len = r->len - r->msg_start;
	memcpy(r->buf + r->msg_start + G_STRUCT_OFFSET(struct nlmsghdr, nlmsg_len), &len,
	       sizeof(len));
}

static guint32
pm_test_addr(const char *text)
{
	guint32 addr = 0;
	g_assert_cmpint(inet_pton(AF_INET, text, &addr), ==, 1);
	return addr;
}

static void
pm_test_reply_route_begin(PmTestReply *r, guint32 seq, guint8 family, guint8 type)
{
	struct rtmsg rtm = {
	    .rtm_family = family,
	    .rtm_dst_len = 32,
	    .rtm_table = RT_TABLE_MAIN,
	    .rtm_type = type,
	    .rtm_flags = RTM_F_CLONED | RTM_F_LOOKUP_TABLE,
	};
	pm_test_reply_begin(r, RTM_NEWROUTE, seq);
	pm_test_reply_put(r, &rtm, sizeof(rtm));
}

/* what the kernel (6.x) answers to `ip route get 1.1.1.1` with a gateway, attributes in its
 * order, RTA_CACHEINFO included */
static void
pm_test_reply_route_with_gateway(PmTestReply *r, guint32 seq, guint32 table)
{
	struct rta_cacheinfo ci = {.rta_used = 1};
	pm_test_reply_route_begin(r, seq, AF_INET, RTN_UNICAST);
	pm_test_reply_attr_u32(r, RTA_TABLE, table);
	pm_test_reply_attr_u32(r, RTA_DST, pm_test_addr("1.1.1.1"));
	pm_test_reply_attr_u32(r, RTA_OIF, 2);
	pm_test_reply_attr_u32(r, RTA_PREFSRC, pm_test_addr("10.99.2.2"));
	pm_test_reply_attr_u32(r, RTA_GATEWAY, pm_test_addr("10.99.2.1"));
	pm_test_reply_attr_u32(r, RTA_UID, 65534);
	pm_test_reply_attr(r, RTA_CACHEINFO, &ci, sizeof(ci));
	pm_test_reply_end(r);
}

static void
pm_test_reply_error(PmTestReply *r, guint32 seq, int error)
{
	struct nlmsgerr err = {.error = error};
	pm_test_reply_begin(r, NLMSG_ERROR, seq);
	pm_test_reply_put(r, &err, sizeof(err));
	pm_test_reply_end(r);
}

/* parses a copy of exactly @len bytes: AddressSanitizer sees any read past the datagram */
static gboolean
pm_test_parse(const guint8 *buf, gsize len, PmDefaultRoute *route, GError **error)
{
	g_autofree guint8 *copy = g_memdup2(buf, len);
	return pm_default_route_parse(copy, len, 1, route, error);
}

static void
pm_test_default_route_request(void)
{
	guint8 buf[128];
	struct nlmsghdr hdr;
	struct rtmsg rtm;
	gsize len;
	gsize offset;
	gboolean seen_dst = FALSE;
	gboolean seen_uid = FALSE;

	memset(buf, 0xaa, sizeof(buf));
	len = pm_default_route_request(buf, sizeof(buf), 7, 65534);
	g_assert_cmpuint(len, ==, NLMSG_SPACE(sizeof(rtm)) + 2 * RTA_SPACE(4));
	memcpy(&hdr, buf, sizeof(hdr));
	g_assert_cmpuint(hdr.nlmsg_len, ==, len);
	g_assert_cmpuint(hdr.nlmsg_type, ==, RTM_GETROUTE);
	/* one route: no NLM_F_DUMP, no acknowledgement asked */
	g_assert_cmpuint(hdr.nlmsg_flags, ==, NLM_F_REQUEST);
	g_assert_cmpuint(hdr.nlmsg_seq, ==, 7);
	memcpy(&rtm, buf + NLMSG_HDRLEN, sizeof(rtm));
	g_assert_cmpuint(rtm.rtm_family, ==, AF_INET);
	g_assert_cmpuint(rtm.rtm_dst_len, ==, 32);
	g_assert_cmpuint(rtm.rtm_src_len, ==, 0);

	/* exactly RTA_DST (a global address) and RTA_UID: no RTA_MARK, no RTA_IIF */
	for (offset = NLMSG_SPACE(sizeof(rtm)); offset < len;) {
		struct rtattr rta;
		guint32 value;
		memcpy(&rta, buf + offset, sizeof(rta));
		g_assert_cmpuint(rta.rta_len, ==, RTA_LENGTH(4));
		memcpy(&value, buf + offset + RTA_LENGTH(0), sizeof(value));
		if (rta.rta_type == RTA_DST) {
			g_assert_cmpuint(value, ==, pm_test_addr("1.1.1.1"));
			seen_dst = TRUE;
		} else if (rta.rta_type == RTA_UID) {
			g_assert_cmpuint(value, ==, 65534);
			seen_uid = TRUE;
		} else {
			g_assert_not_reached();
		}
		offset += RTA_SPACE(4);
	}
	g_assert_true(seen_dst);
	g_assert_true(seen_uid);

	/* a buffer too small is refused, not overrun */
	g_assert_cmpuint(pm_default_route_request(buf, len - 1, 1, 0), ==, 0);
}

static void
pm_test_default_route_gateway(void)
{
	PmTestReply r = {0};
	PmDefaultRoute route = {0};
	guint32 gateway = 0;
	g_autoptr(GError) error = NULL;

	pm_test_reply_route_with_gateway(&r, 1, 100);
	g_assert_true(pm_test_parse(r.buf, r.len, &route, &error));
	g_assert_no_error(error);
	g_assert_cmpuint(route.gateway, ==, pm_test_addr("10.99.2.1"));
	g_assert_cmpuint(route.ifindex, ==, 2);
	g_assert_cmpuint(route.prefsrc, ==, pm_test_addr("10.99.2.2"));
	g_assert_cmpuint(route.table, ==, 100);
	g_assert_false(route.ipv6_gateway);
	g_assert_true(pm_default_route_gateway(&route, "eth0", &gateway, &error));
	g_assert_no_error(error);
	g_assert_cmpuint(gateway, ==, pm_test_addr("10.99.2.1"));
}

static void
pm_test_default_route_point_to_point(void)
{
	PmTestReply r = {0};
	PmDefaultRoute route = {0};
	guint32 gateway = 0;
	g_autoptr(GError) error = NULL;

	/* wg-quick: "1.1.1.1 dev wg0 table 51820 src 10.2.0.2" */
	pm_test_reply_route_begin(&r, 1, AF_INET, RTN_UNICAST);
	pm_test_reply_attr_u32(&r, RTA_TABLE, 51820);
	pm_test_reply_attr_u32(&r, RTA_DST, pm_test_addr("1.1.1.1"));
	pm_test_reply_attr_u32(&r, RTA_OIF, 5);
	pm_test_reply_attr_u32(&r, RTA_PREFSRC, pm_test_addr("10.2.0.2"));
	pm_test_reply_attr_u32(&r, RTA_UID, 0);
	pm_test_reply_end(&r);
	g_assert_true(pm_test_parse(r.buf, r.len, &route, &error));
	g_assert_no_error(error);
	g_assert_cmpuint(route.gateway, ==, 0);
	g_assert_cmpuint(route.ifindex, ==, 5);
	g_assert_cmpuint(route.table, ==, 51820);

	/* a route, but no gateway to ask: the message names the interface and Gateway= */
	g_assert_false(pm_default_route_gateway(&route, "wg0", &gateway, &error));
	g_assert_error(error, PM_ERROR, PM_ERROR_GATEWAY_UNREACHABLE);
	g_assert_cmpstr(error->message, ==,
			"the default route goes through wg0 without a gateway (a point-to-point "
			"VPN): set Gateway= in the provider's section to the VPN's NAT-PMP "
			"gateway (e.g. 10.2.0.1)");
	g_assert_cmpuint(gateway, ==, 0);
	g_clear_error(&error);

	/* the interface gone meanwhile: its index */
	g_assert_false(pm_default_route_gateway(&route, NULL, &gateway, &error));
	g_assert_error(error, PM_ERROR, PM_ERROR_GATEWAY_UNREACHABLE);
	g_assert_nonnull(strstr(error->message, "through interface 5 without a gateway"));
}

static void
pm_test_default_route_via(void)
{
	PmTestReply r = {0};
	PmDefaultRoute route = {0};
	guint32 gateway = 0;
	g_autoptr(GError) error = NULL;
	guint8 via6[2 + 16] = {0};
	guint8 via4[2 + 4] = {0};
	guint16 family;

	/* "default via inet6 fe80::1 dev eth0" (RFC 5549) */
	family = AF_INET6;
	memcpy(via6, &family, sizeof(family));
	via6[2] = 0xfe;
	via6[3] = 0x80;
	via6[17] = 1;
	pm_test_reply_route_begin(&r, 1, AF_INET, RTN_UNICAST);
	pm_test_reply_attr_u32(&r, RTA_OIF, 3);
	pm_test_reply_attr(&r, RTA_VIA, via6, sizeof(via6));
	pm_test_reply_end(&r);
	g_assert_true(pm_test_parse(r.buf, r.len, &route, &error));
	g_assert_no_error(error);
	g_assert_true(route.ipv6_gateway);
	g_assert_false(pm_default_route_gateway(&route, "eth0", &gateway, &error));
	g_assert_error(error, PM_ERROR, PM_ERROR_GATEWAY_UNREACHABLE);
	g_assert_nonnull(strstr(error->message, "through eth0 to an IPv6 gateway"));
	g_assert_nonnull(strstr(error->message, "set Gateway="));
	g_clear_error(&error);

	/* an IPv4 address in RTA_VIA is a gateway all the same */
	family = AF_INET;
	memcpy(via4, &family, sizeof(family));
	via4[2] = 192;
	via4[3] = 168;
	via4[4] = 1;
	via4[5] = 1;
	memset(&r, 0, sizeof(r));
	pm_test_reply_route_begin(&r, 1, AF_INET, RTN_UNICAST);
	pm_test_reply_attr(&r, RTA_VIA, via4, sizeof(via4));
	pm_test_reply_end(&r);
	g_assert_true(pm_test_parse(r.buf, r.len, &route, &error));
	g_assert_no_error(error);
	g_assert_true(pm_default_route_gateway(&route, NULL, &gateway, &error));
	g_assert_cmpuint(gateway, ==, pm_test_addr("192.168.1.1"));
}

static void
pm_test_default_route_no_route(void)
{
	PmTestReply r = {0};
	PmDefaultRoute route = {0};
	g_autoptr(GError) error = NULL;

	/* `ip route get 1.1.1.1` with no default route: "Network is unreachable" */
	pm_test_reply_error(&r, 1, -ENETUNREACH);
	g_assert_false(pm_test_parse(r.buf, r.len, &route, &error));
	g_assert_error(error, PM_ERROR, PM_ERROR_GATEWAY_UNREACHABLE);
	g_assert_cmpstr(error->message, ==,
			"there is no IPv4 default route to find the NAT-PMP gateway: set Gateway= "
			"in the provider's section");
}

static void
pm_test_default_route_kernel_error(void)
{
	PmTestReply r = {0};
	PmDefaultRoute route = {0};
	g_autoptr(GError) error = NULL;

	/* a "prohibit" route */
	pm_test_reply_error(&r, 1, -EACCES);
	g_assert_false(pm_test_parse(r.buf, r.len, &route, &error));
	g_assert_error(error, PM_ERROR, PM_ERROR_GATEWAY_UNREACHABLE);
	g_assert_nonnull(strstr(error->message, g_strerror(EACCES)));
	g_assert_nonnull(strstr(error->message, "set Gateway="));
	g_clear_error(&error);

	/* no errno at all */
	memset(&r, 0, sizeof(r));
	pm_test_reply_error(&r, 1, G_MININT);
	g_assert_false(pm_test_parse(r.buf, r.len, &route, &error));
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
	g_clear_error(&error);
	memset(&r, 0, sizeof(r));
	pm_test_reply_error(&r, 1, 5);
	g_assert_false(pm_test_parse(r.buf, r.len, &route, &error));
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
	g_clear_error(&error);

	/* a route that is not unicast (the destination a local address) */
	memset(&r, 0, sizeof(r));
	pm_test_reply_route_begin(&r, 1, AF_INET, RTN_LOCAL);
	pm_test_reply_attr_u32(&r, RTA_OIF, 1);
	pm_test_reply_end(&r);
	g_assert_false(pm_test_parse(r.buf, r.len, &route, &error));
	g_assert_error(error, PM_ERROR, PM_ERROR_GATEWAY_UNREACHABLE);
}

static void
pm_test_default_route_other_messages(void)
{
	PmTestReply r = {0};
	PmDefaultRoute route = {0};
	g_autoptr(GError) error = NULL;

	/* another request's answer, an acknowledgement and a no-op come before ours */
	pm_test_reply_route_with_gateway(&r, 7, RT_TABLE_MAIN);
	pm_test_reply_error(&r, 1, 0);
	pm_test_reply_begin(&r, NLMSG_NOOP, 1);
	pm_test_reply_end(&r);
	pm_test_reply_route_begin(&r, 1, AF_INET, RTN_UNICAST);
	pm_test_reply_attr_u32(&r, RTA_GATEWAY, pm_test_addr("10.99.3.1"));
	pm_test_reply_end(&r);
	g_assert_true(pm_test_parse(r.buf, r.len, &route, &error));
	g_assert_no_error(error);
	g_assert_cmpuint(route.gateway, ==, pm_test_addr("10.99.3.1"));
	/* RTA_TABLE absent: rtm_table */
	g_assert_cmpuint(route.table, ==, RT_TABLE_MAIN);

	/* nothing for us */
	memset(&r, 0, sizeof(r));
	pm_test_reply_route_with_gateway(&r, 7, RT_TABLE_MAIN);
	pm_test_reply_begin(&r, NLMSG_DONE, 1);
	pm_test_reply_end(&r);
	g_assert_false(pm_test_parse(r.buf, r.len, &route, &error));
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
	g_clear_error(&error);

	/* an empty datagram */
	g_assert_false(pm_test_parse(r.buf, 0, &route, &error));
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
}

static void
pm_test_expect_invalid(const PmTestReply *r)
{
	PmDefaultRoute route = {0};
	g_autoptr(GError) error = NULL;
	g_assert_false(pm_test_parse(r->buf, r->len, &route, &error));
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
}

static void
pm_test_default_route_malformed(void)
{
	PmTestReply r = {0};
	PmTestReply good = {0};
	guint32 len;
	struct rtattr rta;
	guint8 two[2] = {10, 0};

	pm_test_reply_route_with_gateway(&good, 1, RT_TABLE_MAIN);

	/* a header cut short */
	r = good;
	r.len = NLMSG_HDRLEN - 1;
	pm_test_expect_invalid(&r);

	/* nlmsg_len shorter than a header, longer than the datagram */
	r = good;
	len = NLMSG_HDRLEN - 1;
	memcpy(r.buf, &len, sizeof(len));
	pm_test_expect_invalid(&r);
	r = good;
	len = good.len + 1;
	memcpy(r.buf, &len, sizeof(len));
	pm_test_expect_invalid(&r);

	/* an RTM_NEWROUTE shorter than its rtmsg */
	memset(&r, 0, sizeof(r));
	pm_test_reply_begin(&r, RTM_NEWROUTE, 1);
	pm_test_reply_put(&r, "\x02\x20", 2);
	pm_test_reply_end(&r);
	pm_test_expect_invalid(&r);

	/* an NLMSG_ERROR shorter than its nlmsgerr */
	memset(&r, 0, sizeof(r));
	pm_test_reply_begin(&r, NLMSG_ERROR, 1);
	pm_test_reply_put(&r, "\x9d\xff\xff\xff", 4);
	pm_test_reply_end(&r);
	pm_test_expect_invalid(&r);

	/* a route of another family */
	memset(&r, 0, sizeof(r));
	pm_test_reply_route_begin(&r, 1, AF_INET6, RTN_UNICAST);
	pm_test_reply_end(&r);
	pm_test_expect_invalid(&r);

	/* an attribute shorter than its header, or longer than the message */
	memset(&r, 0, sizeof(r));
	pm_test_reply_route_begin(&r, 1, AF_INET, RTN_UNICAST);
	rta = (struct rtattr){.rta_len = 3, .rta_type = RTA_GATEWAY};
	pm_test_reply_put(&r, &rta, sizeof(rta));
	pm_test_reply_end(&r);
	pm_test_expect_invalid(&r);
	/* (the datagram ends with the message: a read past the attribute is past the end) */
	memset(&r, 0, sizeof(r));
	pm_test_reply_route_begin(&r, 1, AF_INET, RTN_UNICAST);
	rta = (struct rtattr){.rta_len = RTA_LENGTH(4), .rta_type = RTA_GATEWAY};
	pm_test_reply_put(&r, &rta, sizeof(rta));
	pm_test_reply_put(&r, "\x0a\x00", 2);
	pm_test_reply_end(&r);
	pm_test_expect_invalid(&r);

	/* a trailing partial attribute header */
	memset(&r, 0, sizeof(r));
	pm_test_reply_route_begin(&r, 1, AF_INET, RTN_UNICAST);
	pm_test_reply_put(&r, "\x08\x00", 2);
	pm_test_reply_end(&r);
	pm_test_expect_invalid(&r);

	/* a gateway that is not four bytes, an RTA_VIA without its family */
	memset(&r, 0, sizeof(r));
	pm_test_reply_route_begin(&r, 1, AF_INET, RTN_UNICAST);
	pm_test_reply_attr(&r, RTA_GATEWAY, two, sizeof(two));
	pm_test_reply_end(&r);
	pm_test_expect_invalid(&r);
	memset(&r, 0, sizeof(r));
	pm_test_reply_route_begin(&r, 1, AF_INET, RTN_UNICAST);
	pm_test_reply_attr(&r, RTA_VIA, two, 1);
	pm_test_reply_end(&r);
	pm_test_expect_invalid(&r);
}

/* every prefix, every byte changed, and random datagrams: an answer or an error, never a read
 * outside the datagram (AddressSanitizer) nor an undefined operation (UBSan) */
static void
pm_test_default_route_garbage(void)
{
	static const guint8 values[] = {0x00, 0x01, 0x03, 0x04, 0x07, 0x08, 0x0f, 0x10,
					0x7f, 0x80, 0xfe, 0xff};
	PmTestReply good = {0};
	g_autoptr(GRand) rand = g_rand_new_with_seed(8);
	guint8 buf[256];
	gsize first_len;

	/* a route, then an error: the first answer counts */
	pm_test_reply_route_with_gateway(&good, 1, RT_TABLE_MAIN);
	first_len = good.len;
	pm_test_reply_error(&good, 1, -ENETUNREACH);
	g_assert_cmpuint(good.len, <=, sizeof(buf));

	for (gsize len = 0; len < good.len; len++) {
		PmDefaultRoute route = {0};
		g_autoptr(GError) error = NULL;
		/* cut in the first message (whose length then lies): an error; after it: the
		 * route, whatever is left of the second */
		gboolean ok = pm_test_parse(good.buf, len, &route, &error);
		g_assert_true(ok == (error == NULL));
		g_assert_true(ok == (len >= first_len));
	}
	/* cut anywhere with the length saying so: the cut falls inside the rtmsg or an attribute */
	for (gsize len = NLMSG_HDRLEN; len < first_len; len++) {
		PmDefaultRoute route = {0};
		g_autoptr(GError) error = NULL;
		guint32 nlmsg_len = len;
		memcpy(buf, good.buf, len);
		memcpy(buf, &nlmsg_len, sizeof(nlmsg_len));
		g_assert_true(pm_test_parse(buf, len, &route, &error) == (error == NULL));
	}
	for (gsize i = 0; i < good.len; i++) {
		for (guint v = 0; v < G_N_ELEMENTS(values); v++) {
			PmDefaultRoute route = {0};
			g_autoptr(GError) error = NULL;
			memcpy(buf, good.buf, good.len);
			buf[i] = values[v];
			g_assert_true(pm_test_parse(buf, good.len, &route, &error) ==
				      (error == NULL));
		}
	}
	for (guint n = 0; n < 20000; n++) {
		PmDefaultRoute route = {0};
		g_autoptr(GError) error = NULL;
		gsize len = g_rand_int_range(rand, 0, sizeof(buf));
		for (gsize i = 0; i < len; i++)
			buf[i] = g_rand_int_range(rand, 0, 256);
		/* half of them keep a plausible header so that the attributes get read */
		if (n % 2 == 0 && len >= NLMSG_HDRLEN + sizeof(struct rtmsg)) {
			struct nlmsghdr hdr = {.nlmsg_len = g_rand_int_range(rand, 0, len + 1),
					       .nlmsg_type = RTM_NEWROUTE,
					       .nlmsg_seq = 1};
			buf[NLMSG_HDRLEN] = AF_INET;
			buf[NLMSG_HDRLEN + 7] = RTN_UNICAST;
			memcpy(buf, &hdr, sizeof(hdr));
		}
		g_assert_true(pm_test_parse(buf, len, &route, &error) == (error == NULL));
	}
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/default-route/request", pm_test_default_route_request);
	g_test_add_func("/default-route/gateway", pm_test_default_route_gateway);
	g_test_add_func("/default-route/point-to-point", pm_test_default_route_point_to_point);
	g_test_add_func("/default-route/via", pm_test_default_route_via);
	g_test_add_func("/default-route/no-route", pm_test_default_route_no_route);
	g_test_add_func("/default-route/kernel-error", pm_test_default_route_kernel_error);
	g_test_add_func("/default-route/other-messages", pm_test_default_route_other_messages);
	g_test_add_func("/default-route/malformed", pm_test_default_route_malformed);
	g_test_add_func("/default-route/garbage", pm_test_default_route_garbage);
	return g_test_run();
}
