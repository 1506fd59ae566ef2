/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <arpa/inet.h>
#include <gio/gio.h>
#include <string.h>

#include "config.h"
#include "errors.h"
#include "router-nftables.h"
#include "router.h"

static PmRouterRule
make_rule(guint8 protocol, guint16 tunnel_port, const char *client, guint16 client_port)
{
	PmRouterRule rule = {0};
	struct in_addr in;

	g_assert_cmpint(inet_pton(AF_INET, client, &in), ==, 1);
	rule.protocol = protocol;
	rule.tunnel_port = tunnel_port;
	rule.client_address = in.s_addr;
	rule.client_port = client_port;
	return rule;
}

static void
test_comment_format(void)
{
	PmRouterRule rule = make_rule(PM_PROTOCOL_TCP, 6881, "192.168.77.2", 6881);
	g_autofree char *tcp = pm_router_rule_comment("router1", &rule);
	g_autofree char *udp = NULL;

	g_assert_cmpstr(tcp, ==, "portmap:router1:tcp:6881:192.168.77.2:6881");
	rule = make_rule(PM_PROTOCOL_UDP, 1, "10.0.0.1", 65535);
	udp = pm_router_rule_comment("gw.lan", &rule);
	g_assert_cmpstr(udp, ==, "portmap:gw.lan:udp:1:10.0.0.1:65535");
}

static void
test_comment_round_trip(void)
{
	g_autofree char *long_instance = g_strnfill(64, 'x');
	const struct {
		const char *instance;
		PmRouterRule rule;
	} cases[] = {
	    {"router1", make_rule(PM_PROTOCOL_TCP, 6881, "192.168.77.2", 6881)},
	    {"router1", make_rule(PM_PROTOCOL_UDP, 6881, "192.168.77.2", 6881)},
	    {"my-host.example_1", make_rule(PM_PROTOCOL_TCP, 1024, "10.1.2.3", 80)},
	    {"a", make_rule(PM_PROTOCOL_UDP, 65535, "255.255.255.255", 1)},
	    {"h", make_rule(PM_PROTOCOL_TCP, 40000, "0.0.0.1", 40001)},
	    {long_instance, make_rule(PM_PROTOCOL_TCP, 5000, "172.16.0.10", 5001)},
	};

	for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autofree char *comment = pm_router_rule_comment(cases[i].instance, &cases[i].rule);
		g_autofree char *instance = NULL;
		PmRouterRule parsed;

		g_assert_nonnull(comment);
		g_assert_true(pm_router_rule_parse_comment(comment, &instance, &parsed));
		g_assert_cmpstr(instance, ==, cases[i].instance);
		g_assert_true(pm_router_rule_equal(&parsed, &cases[i].rule));
		g_assert_cmpuint(parsed.protocol, ==, cases[i].rule.protocol);
		g_assert_cmpuint(parsed.tunnel_port, ==, cases[i].rule.tunnel_port);
		g_assert_cmpuint(parsed.client_address, ==, cases[i].rule.client_address);
		g_assert_cmpuint(parsed.client_port, ==, cases[i].rule.client_port);
		/* both out-parameters are optional */
		g_assert_true(pm_router_rule_parse_comment(comment, NULL, NULL));
	}
}

static void
test_comment_malformed(void)
{
	g_autofree char *long_instance = g_strnfill(65, 'x');
	g_autofree char *too_long = g_strdup_printf("portmap:%s:tcp:1:10.0.0.1:1", long_instance);
	const char *const cases[] = {
	    "",
	    "portmap",
	    "portmap:",
	    "portmap torrent",					 /* the nft hook's comments */
	    "Portmap:r1:tcp:6881:192.168.77.2:6881",		 /* prefix is case sensitive */
	    "portmap::tcp:6881:192.168.77.2:6881",		 /* empty instance */
	    "portmap:r 1:tcp:6881:192.168.77.2:6881",		 /* space in instance */
	    "portmap:r/1:tcp:6881:192.168.77.2:6881",		 /* slash in instance */
	    "portmap:r\"1:tcp:6881:192.168.77.2:6881",		 /* quote in instance */
	    "portmap:r1:TCP:6881:192.168.77.2:6881",		 /* protocol case */
	    "portmap:r1:sctp:6881:192.168.77.2:6881",		 /* protocol */
	    "portmap:r1::6881:192.168.77.2:6881",		 /* no protocol */
	    "portmap:r1:tcp:0:192.168.77.2:6881",		 /* tunnel port 0 */
	    "portmap:r1:tcp:65536:192.168.77.2:6881",		 /* out of range */
	    "portmap:r1:tcp:99999:192.168.77.2:6881",		 /* out of range */
	    "portmap:r1:tcp:100000:192.168.77.2:6881",		 /* too many digits */
	    "portmap:r1:tcp:06881:192.168.77.2:6881",		 /* leading zero */
	    "portmap:r1:tcp:+6881:192.168.77.2:6881",		 /* sign */
	    "portmap:r1:tcp:-1:192.168.77.2:6881",		 /* negative */
	    "portmap:r1:tcp: 6881:192.168.77.2:6881",		 /* space */
	    "portmap:r1:tcp:0x1ae1:192.168.77.2:6881",		 /* hex */
	    "portmap:r1:tcp::192.168.77.2:6881",		 /* empty port */
	    "portmap:r1:tcp:6881:192.168.77.2:0",		 /* client port 0 */
	    "portmap:r1:tcp:6881:192.168.77.2:65536",		 /* out of range */
	    "portmap:r1:tcp:6881:192.168.77.2:",		 /* empty port */
	    "portmap:r1:tcp:6881:192.168.77.2:6881:",		 /* extra field */
	    "portmap:r1:tcp:6881:192.168.77.2:6881:x",		 /* extra field */
	    "portmap:r1:tcp:6881:192.168.77.2",			 /* missing field */
	    "portmap:r1:tcp:6881:192.168.77.2:6881 ",		 /* trailing space */
	    " portmap:r1:tcp:6881:192.168.77.2:6881",		 /* leading space */
	    "portmap:r1:tcp:6881:192.168.77.256:6881",		 /* octet range */
	    "portmap:r1:tcp:6881:192.168.077.2:6881",		 /* octet leading zero */
	    "portmap:r1:tcp:6881:192.168.77:6881",		 /* three octets */
	    "portmap:r1:tcp:6881:192.168.77.2.1:6881",		 /* five octets */
	    "portmap:r1:tcp:6881:192.168..2:6881",		 /* empty octet */
	    "portmap:r1:tcp:6881:0.0.0.0:6881",			 /* no client */
	    "portmap:r1:tcp:6881:host.lan:6881",		 /* a name */
	    "portmap:r1:tcp:6881:fe80::1:6881",			 /* IPv6 */
	    "portmap:r1:tcp:6881:3232255746:6881",		 /* one number */
	    "portmap:r:1:tcp:6881:192.168.77.2:6881",		 /* ':' in instance */
	    too_long,
	};

	for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autofree char *instance = NULL;
		PmRouterRule rule = {.protocol = 0xff};

		if (pm_router_rule_parse_comment(cases[i], &instance, &rule))
			g_error("accepted a malformed comment: \"%s\"", cases[i]);
		/* nothing written on failure */
		g_assert_null(instance);
		g_assert_cmpuint(rule.protocol, ==, 0xff);
	}
	g_assert_false(pm_router_rule_parse_comment(NULL, NULL, NULL));
}

static void
test_rule_equal(void)
{
	PmRouterRule a = make_rule(PM_PROTOCOL_TCP, 6881, "192.168.77.2", 6881);
	PmRouterRule b = a;

	g_assert_true(pm_router_rule_equal(&a, &b));
	b.protocol = PM_PROTOCOL_UDP;
	g_assert_false(pm_router_rule_equal(&a, &b));
	b = a;
	b.tunnel_port++;
	g_assert_false(pm_router_rule_equal(&a, &b));
	b = a;
	b.client_port++;
	g_assert_false(pm_router_rule_equal(&a, &b));
	b = make_rule(PM_PROTOCOL_TCP, 6881, "192.168.77.3", 6881);
	g_assert_false(pm_router_rule_equal(&a, &b));
}

static void
test_instance_names(void)
{
	g_autofree char *max = g_strnfill(64, 'a');
	g_autofree char *over = g_strnfill(65, 'a');

	g_assert_true(pm_router_instance_is_valid("router1"));
	g_assert_true(pm_router_instance_is_valid("gw.example-lan_2"));
	g_assert_true(pm_router_instance_is_valid(max));
	g_assert_false(pm_router_instance_is_valid(over));
	g_assert_false(pm_router_instance_is_valid(""));
	g_assert_false(pm_router_instance_is_valid(NULL));
	g_assert_false(pm_router_instance_is_valid("a:b"));
	g_assert_false(pm_router_instance_is_valid("a b"));
	g_assert_false(pm_router_instance_is_valid("é"));
}

static void
test_class_table(void)
{
	g_autofree char *types = pm_router_class_list_types(", ");

	g_assert_true(pm_router_class_lookup("nftables") == &pm_router_nftables_class);
	g_assert_null(pm_router_class_lookup("mikrotik"));
	g_assert_null(pm_router_class_lookup("iptables"));
	g_assert_null(pm_router_class_lookup(NULL));
	g_assert_cmpstr(types, ==, "nftables");
}

/* refused before the backend runs: no nftables needed */
static void
test_new_invalid_instance(void)
{
	g_autoptr(PmScheduler) scheduler = pm_scheduler_new_manual(0, 0, 1);
	const char *const instances[] = {NULL, "", "a:b", "a\"b", "a b"};

	for (gsize i = 0; i < G_N_ELEMENTS(instances); i++) {
		PmRouterSetup setup = {.instance = instances[i], .in_interface = "wg0"};
		g_autoptr(GError) error = NULL;
		g_autoptr(PmRouter) router =
		    pm_router_new(&pm_router_nftables_class, scheduler, &setup, &error);

		g_assert_null(router);
		g_assert_error(error, PM_ERROR, PM_ERROR_INVALID_CONFIGURATION);
		g_assert_nonnull(strstr(error->message, "InstanceName="));
	}
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/router/comment/format", test_comment_format);
	g_test_add_func("/router/comment/round-trip", test_comment_round_trip);
	g_test_add_func("/router/comment/malformed", test_comment_malformed);
	g_test_add_func("/router/rule-equal", test_rule_equal);
	g_test_add_func("/router/instance-names", test_instance_names);
	g_test_add_func("/router/class-table", test_class_table);
	g_test_add_func("/router/new-invalid-instance", test_new_invalid_instance);
	return g_test_run();
}
