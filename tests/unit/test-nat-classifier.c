/* SPDX-License-Identifier: GPL-2.0-or-later */
/* what STUN observations say about the NAT: stun.md §2's table of naive misreadings */
#include <arpa/inet.h>
#include <string.h>

#include "nat-classifier.h"

static PmStunAddress
v4(const char *ip, guint16 port)
{
	PmStunAddress a = {.family = 4, .port = port};
	g_assert_cmpint(inet_pton(AF_INET, ip, a.address), ==, 1);
	return a;
}

static PmStunAddress
v6(const char *ip, guint16 port)
{
	PmStunAddress a = {.family = 6, .port = port};
	g_assert_cmpint(inet_pton(AF_INET6, ip, a.address), ==, 1);
	return a;
}

static void
test_type(void)
{
	PmStunAddress local = v4("192.168.77.2", 40001);
	PmStunObservation masq[] = {
	    /* masquerade keeps the port: not "none" */
	    {v4("11.0.0.3", 3478), v4("11.0.0.2", 40001)},
	    {v4("11.0.0.5", 3478), v4("11.0.0.2", 40001)},
	};
	PmStunObservation random[] = {
	    {v4("11.0.0.3", 3478), v4("11.0.0.2", 40001)},
	    {v4("11.0.0.5", 3478), v4("11.0.0.2", 51646)},
	};
	PmStunObservation pooled[] = {
	    {v4("11.0.0.3", 3478), v4("11.0.0.2", 40001)},
	    {v4("11.0.0.5", 3478), v4("11.0.0.9", 40001)},
	};
	PmStunObservation one_ip[] = {
	    /* two ports of one IP agreeing say nothing of other IPs */
	    {v4("11.0.0.3", 3478), v4("11.0.0.2", 40001)},
	    {v4("11.0.0.3", 3479), v4("11.0.0.2", 40001)},
	};
	PmStunObservation public[] = {
	    {v4("11.0.0.3", 3478), v4("192.168.77.2", 40001)},
	};
	PmStunObservation public_other_port[] = {
	    /* the local address with another port: a NAT that kept the address */
	    {v4("11.0.0.3", 3478), v4("192.168.77.2", 40002)},
	};
	PmStunObservation ipv6[] = {
	    {v6("fd11::3", 3478), v6("fd11::2", 40001)},
	    {v6("fd11::4", 3478), v6("fd11::2", 40001)},
	};

	g_assert_cmpint(pm_nat_classify_type(masq, 0, &local), ==, PM_NAT_TYPE_UNKNOWN);
	g_assert_cmpint(pm_nat_classify_type(masq, 1, &local), ==, PM_NAT_TYPE_UNKNOWN);
	g_assert_cmpint(pm_nat_classify_type(masq, 2, &local), ==, PM_NAT_TYPE_FULL_CONE);
	g_assert_cmpint(pm_nat_classify_type(random, 2, &local), ==, PM_NAT_TYPE_SYMMETRIC);
	g_assert_cmpint(pm_nat_classify_type(pooled, 2, &local), ==, PM_NAT_TYPE_SYMMETRIC);
	g_assert_cmpint(pm_nat_classify_type(one_ip, 2, &local), ==, PM_NAT_TYPE_UNKNOWN);
	g_assert_cmpint(pm_nat_classify_type(public, 1, &local), ==, PM_NAT_TYPE_NONE);
	g_assert_cmpint(pm_nat_classify_type(public_other_port, 1, &local), ==,
			PM_NAT_TYPE_UNKNOWN);
	g_assert_cmpint(pm_nat_classify_type(ipv6, 2, NULL), ==, PM_NAT_TYPE_FULL_CONE);
	g_assert_cmpstr(pm_nat_type_to_string(PM_NAT_TYPE_FULL_CONE), ==, "full_cone");
	g_assert_cmpstr(pm_nat_type_to_string(PM_NAT_TYPE_SYMMETRIC), ==, "symmetric");
	g_assert_cmpstr(pm_nat_type_to_string(PM_NAT_TYPE_NONE), ==, "none");
	g_assert_cmpstr(pm_nat_type_to_string(PM_NAT_TYPE_UNKNOWN), ==, "unknown");
}

static void
test_mapping(void)
{
	PmStunAddress local = v4("192.168.77.2", 40001);
	PmStunAddress x1 = v4("11.0.0.2", 40001);
	PmStunAddress other = v4("11.0.0.2", 50000);
	PmStunAddress third = v4("11.0.0.2", 50001);

	g_assert_cmpint(pm_nat_classify_mapping(&local, NULL, NULL, NULL), ==,
			PM_NAT_BEHAVIOR_UNKNOWN);
	g_assert_cmpint(pm_nat_classify_mapping(&local, &local, NULL, NULL), ==,
			PM_NAT_BEHAVIOR_NONE);
	g_assert_cmpint(pm_nat_classify_mapping(&local, &x1, NULL, NULL), ==,
			PM_NAT_BEHAVIOR_UNKNOWN);
	g_assert_cmpint(pm_nat_classify_mapping(&local, &x1, &x1, NULL), ==,
			PM_NAT_BEHAVIOR_ENDPOINT_INDEPENDENT);
	/* X2 differs: test III decides */
	g_assert_cmpint(pm_nat_classify_mapping(&local, &x1, &other, NULL), ==,
			PM_NAT_BEHAVIOR_UNKNOWN);
	g_assert_cmpint(pm_nat_classify_mapping(&local, &x1, &other, &other), ==,
			PM_NAT_BEHAVIOR_ADDRESS_DEPENDENT);
	g_assert_cmpint(pm_nat_classify_mapping(&local, &x1, &other, &third), ==,
			PM_NAT_BEHAVIOR_ADDRESS_AND_PORT_DEPENDENT);
	g_assert_cmpstr(pm_nat_behavior_to_string(PM_NAT_BEHAVIOR_ADDRESS_AND_PORT_DEPENDENT), ==,
			"address-and-port-dependent");
}

static void
test_filtering(void)
{
	/* an answer from A:a decides at once; otherwise only the end of the wait does */
	g_assert_cmpint(pm_nat_classify_filtering(TRUE, FALSE, FALSE), ==,
			PM_NAT_BEHAVIOR_ENDPOINT_INDEPENDENT);
	g_assert_cmpint(pm_nat_classify_filtering(FALSE, TRUE, FALSE), ==,
			PM_NAT_BEHAVIOR_UNKNOWN);
	g_assert_cmpint(pm_nat_classify_filtering(FALSE, TRUE, TRUE), ==,
			PM_NAT_BEHAVIOR_ADDRESS_DEPENDENT);
	g_assert_cmpint(pm_nat_classify_filtering(FALSE, FALSE, TRUE), ==,
			PM_NAT_BEHAVIOR_ADDRESS_AND_PORT_DEPENDENT);
	g_assert_cmpint(pm_nat_classify_filtering(FALSE, FALSE, FALSE), ==,
			PM_NAT_BEHAVIOR_UNKNOWN);
}

static void
test_other_address(void)
{
	PmStunAddress server = v4("11.0.0.3", 3478);
	PmStunAddress alternate = v4("11.0.0.4", 3479);
	PmStunAddress itself = v4("11.0.0.3", 3479);
	PmStunAddress same_port = v4("11.0.0.4", 3478);
	PmStunAddress none = {0};
	PmStunAddress other_family = v6("fd11::4", 3479);

	g_assert_true(pm_nat_other_address_usable(&server, &alternate));
	/* coturn asked on its second address names that address's own IP */
	g_assert_false(pm_nat_other_address_usable(&server, &itself));
	g_assert_false(pm_nat_other_address_usable(&server, &same_port));
	g_assert_false(pm_nat_other_address_usable(&server, &none));
	g_assert_false(pm_nat_other_address_usable(&server, &other_family));
}

static void
test_filter_wait(void)
{
	/* four round trips, at least 50 ms, at most the budget */
	g_assert_cmpuint(pm_nat_filter_wait_usec(30, 5000000), ==, 50000);
	g_assert_cmpuint(pm_nat_filter_wait_usec(100000, 5000000), ==, 400000);
	g_assert_cmpuint(pm_nat_filter_wait_usec(3000000, 5000000), ==, 5000000);
	g_assert_cmpuint(pm_nat_filter_wait_usec(30, 20000), ==, 20000);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/nat-classifier/type", test_type);
	g_test_add_func("/nat-classifier/mapping", test_mapping);
	g_test_add_func("/nat-classifier/filtering", test_filtering);
	g_test_add_func("/nat-classifier/other-address", test_other_address);
	g_test_add_func("/nat-classifier/filter-wait", test_filter_wait);
	return g_test_run();
}
