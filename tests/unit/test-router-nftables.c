/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Router=nftables against the kernel's nftables, in a network namespace of the test's own:
 * run through test_router_nftables_netns.py, which re-executes this under `unshare --net`
 * (as root), so that flushing the ruleset here touches nothing outside. The ruleset is
 * checked with the nft tool, as an administrator would look at it.
 */
#include <arpa/inet.h>
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "errors.h"
#include "router-nftables.h"
#include "router.h"
#include "test-log.h"

#define UNSHARED_ENV "ROUTER_NFT_UNSHARED"

typedef struct {
	PmScheduler *scheduler;
} Fixture;

/* ---- the nft tool ---- */

static char *
nft_tool(const char *const *args, gboolean must_succeed)
{
	g_autoptr(GPtrArray) argv = g_ptr_array_new();
	g_autoptr(GError) error = NULL;
	g_autofree char *err = NULL;
	char *out = NULL;
	gint status;

	g_ptr_array_add(argv, (gpointer) "nft");
	for (guint i = 0; args[i] != NULL; i++)
		g_ptr_array_add(argv, (gpointer)args[i]);
	g_ptr_array_add(argv, NULL);
	g_spawn_sync(NULL, (char **)argv->pdata, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, &out,
		     &err, &status, &error);
	g_assert_no_error(error);
	if (must_succeed && !g_spawn_check_wait_status(status, NULL))
		g_error("nft %s: %s", args[0], err);
	return out;
}

/* one command, as `nft 'CMD'` */
static void
nft_cmd(const char *cmd)
{
	const char *args[] = {cmd, NULL};
	g_free(nft_tool(args, TRUE));
}

/* a ruleset file, as `nft -f` */
static void
nft_load(const char *ruleset)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *path = NULL;
	int fd = g_file_open_tmp("test-router-nft-XXXXXX", &path, &error);
	const char *args[] = {"-f", NULL, NULL};

	g_assert_no_error(error);
	close(fd);
	g_file_set_contents(path, ruleset, -1, &error);
	g_assert_no_error(error);
	args[1] = path;
	g_free(nft_tool(args, TRUE));
	g_unlink(path);
}

/* the rules of a chain as `nft -j list chain` shows them; NULL if the chain is missing */
static GPtrArray *
nft_chain_rules(const char *table, const char *chain_name, JsonObject **chain)
{
	const char *args[] = {"-j", "list", "chain", "ip", table, chain_name, NULL};
	g_autofree char *out = nft_tool(args, FALSE);
	g_autoptr(JsonParser) parser = json_parser_new();
	g_autoptr(GError) error = NULL;
	GPtrArray *rules;
	JsonArray *items;

	if (out == NULL || out[0] == '\0')
		return NULL;
	json_parser_load_from_data(parser, out, -1, &error);
	g_assert_no_error(error);
	items = json_object_get_array_member(json_node_get_object(json_parser_get_root(parser)),
					     "nftables");
	rules = g_ptr_array_new_with_free_func((GDestroyNotify)json_object_unref);
	for (guint i = 0; i < json_array_get_length(items); i++) {
		JsonObject *item = json_array_get_object_element(items, i);
		if (json_object_has_member(item, "rule"))
			g_ptr_array_add(rules,
					json_object_ref(json_object_get_object_member(item, "rule")));
		else if (json_object_has_member(item, "chain") && chain != NULL)
			*chain = json_object_ref(json_object_get_object_member(item, "chain"));
	}
	return rules;
}

static guint
nft_count_rules(const char *table)
{
	g_autoptr(GPtrArray) rules = nft_chain_rules(table, "prerouting", NULL);
	g_assert_nonnull(rules);
	return rules->len;
}

static gboolean
nft_has_comment(const char *table, const char *comment)
{
	g_autoptr(GPtrArray) rules = nft_chain_rules(table, "prerouting", NULL);

	for (guint i = 0; rules != NULL && i < rules->len; i++) {
		if (g_strcmp0(json_object_get_string_member_with_default(rules->pdata[i],
									 "comment", NULL),
			      comment) == 0)
			return TRUE;
	}
	return FALSE;
}

/* ---- the router, driven to completion ---- */

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

typedef struct {
	gboolean called;
	guint n_calls;
	GError *error;
	GArray *rules;
	PmRouter *router;
	/* when set, freed from inside the callback */
	PmRouter **free_in_callback;
} Result;

static void
result_clear(Result *r)
{
	g_clear_error(&r->error);
	g_clear_pointer(&r->rules, g_array_unref);
	memset(r, 0, sizeof(*r));
}

static void
on_done(PmRouter *router, const GError *error, gpointer user_data)
{
	Result *r = user_data;

	r->called = TRUE;
	r->n_calls++;
	r->router = router;
	r->error = error != NULL ? g_error_copy(error) : NULL;
	if (r->free_in_callback != NULL)
		g_clear_pointer(r->free_in_callback, pm_router_free);
}

static void
on_list(PmRouter *router, GArray *rules, const GError *error, gpointer user_data)
{
	Result *r = user_data;

	r->called = TRUE;
	r->n_calls++;
	r->router = router;
	r->error = error != NULL ? g_error_copy(error) : NULL;
	g_assert_true((rules == NULL) == (error != NULL));
	if (rules != NULL) {
		/* borrowed: copied */
		r->rules = g_array_sized_new(FALSE, FALSE, sizeof(PmRouterRule), rules->len);
		g_array_append_vals(r->rules, rules->data, rules->len);
	}
}

static gboolean
on_timeout(gpointer user_data)
{
	g_error("no answer from the router within 10 s");
	return G_SOURCE_REMOVE;
}

static void
wait_for(Result *r)
{
	guint timeout = g_timeout_add_seconds(10, on_timeout, NULL);

	while (!r->called)
		g_main_context_iteration(NULL, TRUE);
	g_source_remove(timeout);
}

static PmRouter *
router_new_full(Fixture *f, const char *instance, const char *in_interface, const char *table,
		GError **error)
{
	PmRouterSetup setup = {
	    .instance = instance,
	    .in_interface = in_interface,
	    .nft_table = table,
	};
	return pm_router_new(&pm_router_nftables_class, f->scheduler, &setup, error);
}

static PmRouter *
router_new(Fixture *f, const char *instance)
{
	g_autoptr(GError) error = NULL;
	PmRouter *router = router_new_full(f, instance, "wg0", NULL, &error);

	g_assert_no_error(error);
	g_assert_nonnull(router);
	return router;
}

/* every operation: the callback never runs inside the call */
static void
add_rule(PmRouter *router, const PmRouterRule *rule, GError **error)
{
	Result r = {0};

	pm_router_add_rule(router, rule, on_done, &r);
	g_assert_false(r.called);
	wait_for(&r);
	g_assert_cmpuint(r.n_calls, ==, 1);
	g_assert_true(r.router == router);
	if (r.error != NULL)
		g_propagate_error(error, g_steal_pointer(&r.error));
	result_clear(&r);
}

static void
remove_rule(PmRouter *router, const PmRouterRule *rule, GError **error)
{
	Result r = {0};

	pm_router_remove_rule(router, rule, on_done, &r);
	g_assert_false(r.called);
	wait_for(&r);
	g_assert_cmpuint(r.n_calls, ==, 1);
	if (r.error != NULL)
		g_propagate_error(error, g_steal_pointer(&r.error));
	result_clear(&r);
}

static GArray *
list_rules(PmRouter *router)
{
	Result r = {0};
	GArray *rules;

	pm_router_list_rules(router, on_list, &r);
	g_assert_false(r.called);
	wait_for(&r);
	g_assert_cmpuint(r.n_calls, ==, 1);
	g_assert_no_error(r.error);
	rules = g_steal_pointer(&r.rules);
	result_clear(&r);
	return rules;
}

static gboolean
rules_contain(GArray *rules, const PmRouterRule *rule)
{
	for (guint i = 0; i < rules->len; i++) {
		if (pm_router_rule_equal(&g_array_index(rules, PmRouterRule, i), rule))
			return TRUE;
	}
	return FALSE;
}

/* ---- fixture ---- */

static void
fixture_setup(Fixture *f, gconstpointer data)
{
	nft_cmd("flush ruleset");
	pm_test_log_clear();
	f->scheduler = pm_scheduler_new();
}

static void
fixture_teardown(Fixture *f, gconstpointer data)
{
	/* the router's timer is gone: nothing left armed */
	g_assert_cmpuint(pm_scheduler_get_n_armed(f->scheduler), ==, 0);
	pm_scheduler_free(f->scheduler);
	pm_test_assert_no_warnings();
}

/* ---- tests ---- */

static void
test_init_creates_chain(Fixture *f, gconstpointer data)
{
	g_autoptr(PmRouter) router = NULL;
	g_autoptr(GPtrArray) rules = NULL;
	g_autoptr(JsonObject) chain = NULL;

	g_assert_null(nft_chain_rules("portmap", "prerouting", NULL));
	router = router_new(f, "router1");
	rules = nft_chain_rules("portmap", "prerouting", &chain);
	g_assert_nonnull(rules);
	g_assert_cmpuint(rules->len, ==, 0);
	g_assert_nonnull(chain);
	g_assert_cmpstr(json_object_get_string_member(chain, "type"), ==, "nat");
	g_assert_cmpstr(json_object_get_string_member(chain, "hook"), ==, "prerouting");
	g_assert_cmpint(json_object_get_int_member(chain, "prio"), ==, -100); /* dstnat */
	g_assert_cmpstr(json_object_get_string_member(chain, "policy"), ==, "accept");
}

static void
test_init_keeps_rules(Fixture *f, gconstpointer data)
{
	PmRouterRule rule = make_rule(PM_PROTOCOL_TCP, 6881, "192.168.77.2", 6881);
	g_autoptr(PmRouter) second = NULL;
	g_autoptr(GArray) rules = NULL;
	g_autoptr(GError) error = NULL;
	PmRouter *first = router_new(f, "router1");

	add_rule(first, &rule, &error);
	g_assert_no_error(error);
	/* a restart, and another instance sharing the table: nothing flushed */
	pm_router_free(first);
	first = router_new(f, "router1");
	second = router_new(f, "router2");
	g_assert_cmpuint(nft_count_rules("portmap"), ==, 1);
	rules = list_rules(first);
	g_assert_cmpuint(rules->len, ==, 1);
	g_assert_true(rules_contain(rules, &rule));
	pm_router_free(first);
}

/* the rule's match and target as nft shows them */
static void
assert_rule_expr(JsonObject *rule, const char *iifname, const char *protocol, guint port,
		 const char *addr, guint client_port, const char *comment)
{
	JsonArray *expr = json_object_get_array_member(rule, "expr");
	JsonObject *m0, *m1, *dnat;

	g_assert_cmpstr(json_object_get_string_member(rule, "comment"), ==, comment);
	g_assert_cmpuint(json_array_get_length(expr), ==, 3);
	m0 = json_object_get_object_member(json_array_get_object_element(expr, 0), "match");
	g_assert_cmpstr(json_object_get_string_member(m0, "op"), ==, "==");
	g_assert_cmpstr(json_object_get_string_member(
			    json_object_get_object_member(json_object_get_object_member(m0, "left"),
							  "meta"),
			    "key"),
			==, "iifname");
	g_assert_cmpstr(json_object_get_string_member(m0, "right"), ==, iifname);

	m1 = json_object_get_object_member(json_array_get_object_element(expr, 1), "match");
	g_assert_cmpstr(json_object_get_string_member(m1, "op"), ==, "==");
	{
		JsonObject *payload = json_object_get_object_member(
		    json_object_get_object_member(m1, "left"), "payload");
		g_assert_cmpstr(json_object_get_string_member(payload, "protocol"), ==, protocol);
		g_assert_cmpstr(json_object_get_string_member(payload, "field"), ==, "dport");
	}
	g_assert_cmpint(json_object_get_int_member(m1, "right"), ==, port);

	dnat = json_object_get_object_member(json_array_get_object_element(expr, 2), "dnat");
	g_assert_nonnull(dnat);
	g_assert_cmpstr(json_object_get_string_member(dnat, "addr"), ==, addr);
	g_assert_cmpint(json_object_get_int_member(dnat, "port"), ==, client_port);
}

static void
test_add_rules(Fixture *f, gconstpointer data)
{
	PmRouterRule tcp = make_rule(PM_PROTOCOL_TCP, 6881, "192.168.77.2", 6881);
	PmRouterRule udp = make_rule(PM_PROTOCOL_UDP, 40000, "192.168.77.3", 51413);
	g_autoptr(PmRouter) router = NULL;
	g_autoptr(GPtrArray) rules = NULL;
	g_autoptr(GError) error = NULL;
	PmRouterSetup setup = {.instance = "router1", .in_interface = "wg-vpn.1"};

	router = pm_router_new(&pm_router_nftables_class, f->scheduler, &setup, &error);
	g_assert_no_error(error);
	add_rule(router, &tcp, &error);
	g_assert_no_error(error);
	add_rule(router, &udp, &error);
	g_assert_no_error(error);

	rules = nft_chain_rules("portmap", "prerouting", NULL);
	g_assert_cmpuint(rules->len, ==, 2);
	assert_rule_expr(rules->pdata[0], "wg-vpn.1", "tcp", 6881, "192.168.77.2", 6881,
			 "portmap:router1:tcp:6881:192.168.77.2:6881");
	assert_rule_expr(rules->pdata[1], "wg-vpn.1", "udp", 40000, "192.168.77.3", 51413,
			 "portmap:router1:udp:40000:192.168.77.3:51413");
}

static void
test_add_twice(Fixture *f, gconstpointer data)
{
	PmRouterRule rule = make_rule(PM_PROTOCOL_TCP, 6881, "192.168.77.2", 6881);
	g_autoptr(PmRouter) router = router_new(f, "router1");
	g_autoptr(GError) error = NULL;

	for (guint i = 0; i < 3; i++) {
		add_rule(router, &rule, &error);
		g_assert_no_error(error);
	}
	g_assert_cmpuint(nft_count_rules("portmap"), ==, 1);
}

static void
test_list_only_ours(Fixture *f, gconstpointer data)
{
	PmRouterRule a = make_rule(PM_PROTOCOL_TCP, 6881, "192.168.77.2", 6881);
	PmRouterRule b = make_rule(PM_PROTOCOL_UDP, 6881, "192.168.77.2", 6881);
	PmRouterRule c = make_rule(PM_PROTOCOL_TCP, 1024, "10.0.0.9", 22);
	g_autoptr(PmRouter) router = router_new(f, "router1");
	g_autoptr(PmRouter) other = router_new(f, "router1.lan");
	g_autoptr(GArray) rules = NULL;
	g_autoptr(GError) error = NULL;

	add_rule(router, &a, &error);
	g_assert_no_error(error);
	add_rule(router, &b, &error);
	g_assert_no_error(error);
	add_rule(other, &c, &error);
	g_assert_no_error(error);
	/* someone else's rules in our table: none is ours */
	nft_cmd("add rule ip portmap prerouting iifname \"wg0\" tcp dport 7000 "
		"dnat to 192.168.77.9:7000");
	nft_cmd("add rule ip portmap prerouting iifname \"wg0\" tcp dport 7001 "
		"dnat to 192.168.77.9:7001 comment \"portmap torrent\"");
	nft_cmd("add rule ip portmap prerouting iifname \"wg0\" tcp dport 7002 "
		"dnat to 192.168.77.9:7002 comment \"portmap:router1:tcp:7002:192.168.77.9:07002\"");
	nft_cmd("add rule ip portmap prerouting iifname \"wg0\" tcp dport 7003 "
		"dnat to 192.168.77.9:7003 comment \"portmap:router1:tcp:7003:192.168.77.9:7003:x\"");
	g_assert_cmpuint(nft_count_rules("portmap"), ==, 7);

	rules = list_rules(router);
	g_assert_cmpuint(rules->len, ==, 2);
	g_assert_true(rules_contain(rules, &a));
	g_assert_true(rules_contain(rules, &b));
	g_clear_pointer(&rules, g_array_unref);

	rules = list_rules(other);
	g_assert_cmpuint(rules->len, ==, 1);
	g_assert_true(rules_contain(rules, &c));
}

static void
test_other_instance_untouched(Fixture *f, gconstpointer data)
{
	PmRouterRule rule = make_rule(PM_PROTOCOL_TCP, 6881, "192.168.77.2", 6881);
	const char *theirs = "portmap:router2:tcp:6881:192.168.77.2:6881";
	g_autoptr(PmRouter) router = router_new(f, "router1");
	g_autoptr(GArray) rules = NULL;
	g_autoptr(GError) error = NULL;

	/* the same mapping, held by another instance (added with the nft tool) */
	nft_cmd("add rule ip portmap prerouting iifname \"wg0\" tcp dport 6881 "
		"dnat to 192.168.77.2:6881 comment \"portmap:router2:tcp:6881:192.168.77.2:6881\"");
	rules = list_rules(router);
	g_assert_cmpuint(rules->len, ==, 0);
	remove_rule(router, &rule, &error);
	g_assert_no_error(error);
	g_assert_true(nft_has_comment("portmap", theirs));

	add_rule(router, &rule, &error);
	g_assert_no_error(error);
	g_assert_cmpuint(nft_count_rules("portmap"), ==, 2);
	remove_rule(router, &rule, &error);
	g_assert_no_error(error);
	g_assert_cmpuint(nft_count_rules("portmap"), ==, 1);
	g_assert_true(nft_has_comment("portmap", theirs));
}

static void
test_remove(Fixture *f, gconstpointer data)
{
	PmRouterRule a = make_rule(PM_PROTOCOL_TCP, 6881, "192.168.77.2", 6881);
	PmRouterRule b = make_rule(PM_PROTOCOL_UDP, 6881, "192.168.77.2", 6881);
	g_autoptr(PmRouter) router = router_new(f, "router1");
	g_autoptr(GArray) rules = NULL;
	g_autoptr(GError) error = NULL;

	add_rule(router, &a, &error);
	g_assert_no_error(error);
	add_rule(router, &b, &error);
	g_assert_no_error(error);
	/* a copy added by hand goes too */
	nft_cmd("add rule ip portmap prerouting iifname \"wg0\" tcp dport 6881 "
		"dnat to 192.168.77.2:6881 comment \"portmap:router1:tcp:6881:192.168.77.2:6881\"");
	remove_rule(router, &a, &error);
	g_assert_no_error(error);
	g_assert_false(nft_has_comment("portmap", "portmap:router1:tcp:6881:192.168.77.2:6881"));
	rules = list_rules(router);
	g_assert_cmpuint(rules->len, ==, 1);
	g_assert_true(rules_contain(rules, &b));

	/* absent: success, twice; with the whole chain gone too */
	remove_rule(router, &a, &error);
	g_assert_no_error(error);
	nft_cmd("flush ruleset");
	remove_rule(router, &b, &error);
	g_assert_no_error(error);
}

static void
test_custom_table(Fixture *f, gconstpointer data)
{
	PmRouterRule rule = make_rule(PM_PROTOCOL_UDP, 5000, "10.9.8.7", 5001);
	g_autoptr(PmRouter) router = NULL;
	g_autoptr(GArray) rules = NULL;
	g_autoptr(GError) error = NULL;

	router = router_new_full(f, "router1", "wg0", "pm_gw-2", &error);
	g_assert_no_error(error);
	add_rule(router, &rule, &error);
	g_assert_no_error(error);
	g_assert_cmpuint(nft_count_rules("pm_gw-2"), ==, 1);
	g_assert_true(nft_has_comment("pm_gw-2", "portmap:router1:udp:5000:10.9.8.7:5001"));
	/* the default table is not created */
	g_assert_null(nft_chain_rules("portmap", "prerouting", NULL));
	rules = list_rules(router);
	g_assert_cmpuint(rules->len, ==, 1);
}

static void
test_recreate(Fixture *f, gconstpointer data)
{
	PmRouterRule a = make_rule(PM_PROTOCOL_TCP, 6881, "192.168.77.2", 6881);
	PmRouterRule b = make_rule(PM_PROTOCOL_TCP, 6882, "192.168.77.2", 6882);
	g_autoptr(PmRouter) router = router_new(f, "router1");
	g_autoptr(GArray) rules = NULL;
	g_autoptr(GError) error = NULL;

	add_rule(router, &a, &error);
	g_assert_no_error(error);
	/* the chain deleted behind our back: listed as empty, re-created on the next add */
	nft_cmd("delete chain ip portmap prerouting");
	rules = list_rules(router);
	g_assert_cmpuint(rules->len, ==, 0);
	g_clear_pointer(&rules, g_array_unref);
	add_rule(router, &b, &error);
	g_assert_no_error(error);
	g_assert_cmpuint(nft_count_rules("portmap"), ==, 1);

	/* and the whole ruleset */
	nft_cmd("flush ruleset");
	add_rule(router, &a, &error);
	g_assert_no_error(error);
	rules = list_rules(router);
	g_assert_cmpuint(rules->len, ==, 1);
	g_assert_true(rules_contain(rules, &a));
}

static const char forward_drop[] = "table inet filter {\n"
				   "  chain forward {\n"
				   "    type filter hook forward priority 0; policy drop;\n"
				   "    ct state established,related accept\n"
				   "  }\n"
				   "}\n";

static void
test_forward_warning(Fixture *f, gconstpointer data)
{
	g_autoptr(PmRouter) router = NULL;

	nft_load(forward_drop);
	router = router_new(f, "router1");
	pm_test_assert_warning("inet filter forward");
	/* one warning, that says what to add */
	pm_test_assert_no_warnings();
	g_clear_pointer(&router, pm_router_free);

	nft_load(forward_drop);
	router = router_new(f, "router1");
	pm_test_assert_warning("ct status dnat accept");
}

static void
test_forward_no_warning(Fixture *f, gconstpointer data)
{
	const char *const rulesets[] = {
	    /* the rule itself */
	    "table inet filter {\n"
	    "  chain forward {\n"
	    "    type filter hook forward priority 0; policy drop;\n"
	    "    ct status dnat accept\n"
	    "  }\n"
	    "}\n",
	    /* with a counter, among others */
	    "table ip fw {\n"
	    "  chain main_forward {\n"
	    "    type filter hook forward priority 0; policy drop;\n"
	    "    ct state established,related accept\n"
	    "    ct status dnat,snat counter accept\n"
	    "  }\n"
	    "}\n",
	    /* OpenWrt's fw4: in a chain the forward chain jumps to */
	    "table inet fw4 {\n"
	    "  chain forward_wan {\n"
	    "    ct status dnat accept comment \"!fw4: Accept port forwards\"\n"
	    "  }\n"
	    "  chain forward {\n"
	    "    type filter hook forward priority filter; policy drop;\n"
	    "    iifname \"wan\" jump forward_wan\n"
	    "  }\n"
	    "}\n",
	    /* no drop policy */
	    "table inet filter {\n"
	    "  chain forward {\n"
	    "    type filter hook forward priority 0; policy accept;\n"
	    "  }\n"
	    "}\n",
	    /* no forward chain at all */
	    "table inet filter {\n"
	    "  chain input {\n"
	    "    type filter hook input priority 0; policy drop;\n"
	    "  }\n"
	    "}\n",
	};

	for (gsize i = 0; i < G_N_ELEMENTS(rulesets); i++) {
		g_autoptr(PmRouter) router = NULL;

		nft_cmd("flush ruleset");
		nft_load(rulesets[i]);
		router = router_new(f, "router1");
		pm_test_assert_no_warnings();
	}
	/* and the negation is not an accept */
	{
		g_autoptr(PmRouter) router = NULL;

		nft_cmd("flush ruleset");
		nft_load("table inet filter {\n"
			 "  chain forward {\n"
			 "    type filter hook forward priority 0; policy drop;\n"
			 "    ct status != dnat accept\n"
			 "  }\n"
			 "}\n");
		router = router_new(f, "router1");
		pm_test_assert_warning("inet filter forward");
	}
}

static void
test_queued_in_order(Fixture *f, gconstpointer data)
{
	PmRouterRule rule = make_rule(PM_PROTOCOL_TCP, 6881, "192.168.77.2", 6881);
	g_autoptr(PmRouter) router = router_new(f, "router1");
	Result added = {0}, listed = {0}, removed = {0}, listed_after = {0};

	/* in one go: none answered inside the call, all in call order */
	pm_router_add_rule(router, &rule, on_done, &added);
	pm_router_list_rules(router, on_list, &listed);
	pm_router_remove_rule(router, &rule, on_done, &removed);
	pm_router_list_rules(router, on_list, &listed_after);
	g_assert_false(added.called || listed.called || removed.called || listed_after.called);
	wait_for(&listed_after);
	g_assert_true(added.called && listed.called && removed.called);
	g_assert_no_error(added.error);
	g_assert_no_error(removed.error);
	g_assert_cmpuint(listed.rules->len, ==, 1);
	g_assert_cmpuint(listed_after.rules->len, ==, 0);
	result_clear(&added);
	result_clear(&listed);
	result_clear(&removed);
	result_clear(&listed_after);
}

/* adds queued together go in one transaction; each still gets its own answer, in order:
 * a bad rule its error, a duplicate in the batch one rule only, and a batch that the kernel
 * refuses (the chain went behind our back) is done add by add */
static void
test_add_batch(Fixture *f, gconstpointer data)
{
	g_autoptr(PmRouter) router = router_new(f, "router1");
	Result results[12] = {{0}};
	PmRouterRule bad = make_rule(PM_PROTOCOL_TCP, 0, "192.168.77.2", 7000);
	PmRouterRule twice = make_rule(PM_PROTOCOL_UDP, 7010, "192.168.77.3", 7010);

	for (guint i = 0; i < 9; i++) {
		PmRouterRule rule = make_rule(i % 2 ? PM_PROTOCOL_UDP : PM_PROTOCOL_TCP,
					      (guint16)(7000 + i), "192.168.77.2", (guint16)(7000 + i));
		pm_router_add_rule(router, &rule, on_done, &results[i]);
	}
	pm_router_add_rule(router, &bad, on_done, &results[9]);
	pm_router_add_rule(router, &twice, on_done, &results[10]);
	pm_router_add_rule(router, &twice, on_done, &results[11]);
	wait_for(&results[11]);
	for (guint i = 0; i < G_N_ELEMENTS(results); i++) {
		g_assert_cmpuint(results[i].n_calls, ==, 1);
		if (i == 9)
			g_assert_error(results[i].error, PM_ERROR, PM_ERROR_INVALID_ARGS);
		else
			g_assert_no_error(results[i].error);
	}
	g_assert_cmpuint(nft_count_rules("portmap"), ==, 10);
	for (guint i = 0; i < G_N_ELEMENTS(results); i++)
		result_clear(&results[i]);

	/* the chain deleted behind our back: the batch fails, each add re-creates or finds it */
	g_free(nft_tool((const char *const[]){"delete", "chain", "ip", "portmap", "prerouting",
					       NULL},
			TRUE));
	for (guint i = 0; i < 3; i++) {
		PmRouterRule rule = make_rule(PM_PROTOCOL_TCP, (guint16)(8000 + i), "192.168.77.2",
					      (guint16)(8000 + i));
		pm_router_add_rule(router, &rule, on_done, &results[i]);
	}
	wait_for(&results[2]);
	for (guint i = 0; i < 3; i++) {
		g_assert_no_error(results[i].error);
		result_clear(&results[i]);
	}
	g_assert_cmpuint(nft_count_rules("portmap"), ==, 3);
}

static void
test_free_pending(Fixture *f, gconstpointer data)
{
	PmRouterRule rule = make_rule(PM_PROTOCOL_TCP, 6881, "192.168.77.2", 6881);
	PmRouter *router = router_new(f, "router1");
	Result added = {0}, listed = {0};

	pm_router_add_rule(router, &rule, on_done, &added);
	pm_router_list_rules(router, on_list, &listed);
	g_assert_false(added.called || listed.called);
	pm_router_free(router);
	/* answered by the free, and nothing done */
	g_assert_true(added.called && listed.called);
	g_assert_error(added.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
	g_assert_error(listed.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
	g_assert_null(listed.rules);
	g_assert_cmpuint(nft_count_rules("portmap"), ==, 0);
	/* and never again */
	g_main_context_iteration(NULL, FALSE);
	g_assert_cmpuint(added.n_calls, ==, 1);
	g_assert_cmpuint(listed.n_calls, ==, 1);
	result_clear(&added);
	result_clear(&listed);
}

static void
test_free_in_callback(Fixture *f, gconstpointer data)
{
	PmRouterRule a = make_rule(PM_PROTOCOL_TCP, 6881, "192.168.77.2", 6881);
	PmRouterRule b = make_rule(PM_PROTOCOL_TCP, 6882, "192.168.77.2", 6882);
	PmRouter *router = router_new(f, "router1");
	Result first = {0}, second = {0};

	first.free_in_callback = &router;
	pm_router_add_rule(router, &a, on_done, &first);
	pm_router_add_rule(router, &b, on_done, &second);
	wait_for(&first);
	g_assert_null(router);
	g_assert_no_error(first.error);
	/* the two adds went in one transaction: the second is answered with its result */
	g_assert_true(second.called);
	g_assert_no_error(second.error);
	g_assert_true(nft_has_comment("portmap", "portmap:router1:tcp:6881:192.168.77.2:6881"));
	g_assert_true(nft_has_comment("portmap", "portmap:router1:tcp:6882:192.168.77.2:6882"));
	g_assert_cmpuint(nft_count_rules("portmap"), ==, 2);
	result_clear(&first);
	result_clear(&second);
}

static void
test_invalid_setup(Fixture *f, gconstpointer data)
{
	const struct {
		const char *in_interface;
		const char *table;
		const char *what;
	} cases[] = {
	    {NULL, NULL, "interface"},
	    {"", NULL, "interface"},
	    {"wg0\" accept", NULL, "interface"},
	    {"wg0;", NULL, "interface"},
	    {"wg*", NULL, "interface"},
	    {"abcdefghijklmnop", NULL, "interface"}, /* 16: longer than IFNAMSIZ - 1 */
	    {"wg0", "bad table", "NftTable="},
	    {"wg0", "1table", "NftTable="},
	    {"wg0", "t;flush ruleset", "NftTable="},
	};

	for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autoptr(GError) error = NULL;
		g_autoptr(PmRouter) router =
		    router_new_full(f, "router1", cases[i].in_interface, cases[i].table, &error);

		g_assert_null(router);
		g_assert_error(error, PM_ERROR, PM_ERROR_INVALID_CONFIGURATION);
		g_assert_nonnull(strstr(error->message, cases[i].what));
	}
	/* a keyword of nft's as the table: nft refuses it, and the error says where */
	{
		g_autoptr(GError) error = NULL;
		g_autoptr(PmRouter) router = router_new_full(f, "router1", "wg0", "tcp", &error);

		g_assert_null(router);
		g_assert_error(error, PM_ERROR, PM_ERROR_FAILED);
		g_assert_true(g_str_has_prefix(error->message,
					       "cannot create the chain ip tcp prerouting: "
					       "nftables: Error: syntax error"));
	}
	/* nothing was created */
	g_assert_null(nft_chain_rules("portmap", "prerouting", NULL));
	{
		g_autoptr(GError) error = NULL;
		g_autoptr(PmRouter) router =
		    router_new_full(f, "router1", "abcdefghijklmno", NULL, &error);
		g_assert_no_error(error);
		g_assert_nonnull(router);
	}
}

static void
test_invalid_rule(Fixture *f, gconstpointer data)
{
	g_autoptr(PmRouter) router = router_new(f, "router1");
	PmRouterRule rules[] = {
	    make_rule(PM_PROTOCOL_TCP, 0, "192.168.77.2", 6881),
	    make_rule(PM_PROTOCOL_TCP, 6881, "192.168.77.2", 0),
	    make_rule(PM_PROTOCOL_TCP, 6881, "0.0.0.0", 6881),
	    make_rule(PM_PROTOCOL_TCP | PM_PROTOCOL_UDP, 6881, "192.168.77.2", 6881),
	};

	for (gsize i = 0; i < G_N_ELEMENTS(rules); i++) {
		g_autoptr(GError) error = NULL;
		add_rule(router, &rules[i], &error);
		g_assert_error(error, PM_ERROR, PM_ERROR_INVALID_ARGS);
	}
	g_assert_cmpuint(nft_count_rules("portmap"), ==, 0);
}

/* without CAP_NET_ADMIN (as nobody, in a subprocess): the error says what is missing */
static void
test_permission_denied(Fixture *f, gconstpointer data)
{
	if (g_test_subprocess()) {
		g_autoptr(GError) error = NULL;
		g_autoptr(PmRouter) router = NULL;

		g_assert_cmpint(setresgid(65534, 65534, 65534), ==, 0);
		g_assert_cmpint(setresuid(65534, 65534, 65534), ==, 0);
		router = router_new_full(f, "router1", "wg0", NULL, &error);
		g_assert_null(router);
		g_assert_error(error, PM_ERROR, PM_ERROR_ACCESS_DENIED);
		g_assert_true(g_str_has_prefix(error->message,
					       "nftables: permission denied: portmapd needs "
					       "CAP_NET_ADMIN for Router=nftables"));
		g_test_message("%s", error->message);
		g_assert_nonnull(strstr(error->message, "Operation not permitted"));
		return;
	}
	g_test_trap_subprocess(NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
	g_test_trap_assert_passed();
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	pm_test_log_init();

	/* the tests flush the ruleset: never in the host's namespace */
	if (g_strcmp0(g_getenv(UNSHARED_ENV), "1") != 0) {
		g_printerr("run through test_router_nftables_netns.py (unshare --net)\n");
		return 1;
	}

#define ADD(path, func)                                                                     \
	g_test_add("/router-nftables/" path, Fixture, NULL, fixture_setup, func,            \
		   fixture_teardown)
	ADD("init-creates-chain", test_init_creates_chain);
	ADD("init-keeps-rules", test_init_keeps_rules);
	ADD("add-rules", test_add_rules);
	ADD("add-twice", test_add_twice);
	ADD("list-only-ours", test_list_only_ours);
	ADD("other-instance-untouched", test_other_instance_untouched);
	ADD("remove", test_remove);
	ADD("custom-table", test_custom_table);
	ADD("recreate", test_recreate);
	ADD("forward-warning", test_forward_warning);
	ADD("forward-no-warning", test_forward_no_warning);
	ADD("queued-in-order", test_queued_in_order);
	ADD("add-batch", test_add_batch);
	ADD("free-pending", test_free_pending);
	ADD("free-in-callback", test_free_in_callback);
	ADD("invalid-setup", test_invalid_setup);
	ADD("invalid-rule", test_invalid_rule);
	ADD("permission-denied", test_permission_denied);
#undef ADD
	return g_test_run();
}
