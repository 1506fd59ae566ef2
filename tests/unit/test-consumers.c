/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The manager and its consumers, with the test-only class of fake-consumer.c: who is told
 * what and when (design §3 "Ports": both the internal port I and the external port E of
 * each protocol), and what the mapping's Consumers show. The provider is the real natpmp
 * one, against the gateway of manager-harness.c, on virtual time.
 */
#include <arpa/inet.h>
#include <string.h>

#include "consumer.h"
#include "fake-consumer.h"
#include "manager-harness.h"
#include "natpmp.h"
#include "test-log.h"

#define SEC(x) ((guint64)(x) * G_USEC_PER_SEC)

/* no reconcile run in the middle of a test unless it asks for one */
#define DAEMON_QUIET "[Daemon]\nReconcileInterval=1h\n"

#define CONFIG_TWO_MAPPINGS                                                                      \
	DAEMON_QUIET PM_TEST_PROVIDER "[Consumer files]\nType=fake\n"                            \
				      "[Mapping torrent]\nInternalPort=51413\nConsumers=files\n" \
				      "[Mapping web]\nInternalPort=8080\nProtocols=tcp\n"

static void
assert_log(const char *expected)
{
	g_autofree char *log = pm_fake_consumer_take_log();
	g_assert_cmpstr(log, ==, expected);
}

static void
count_done(gpointer user_data)
{
	guint *done = user_data;
	(*done)++;
}

/* after the grant, with I and E of each protocol; a mapping without Consumers= is never
 * anyone's business, nor is a bus mapping */
static void
test_grant(void)
{
	g_autoptr(PmTestManager) t = pm_test_manager_new(CONFIG_TWO_MAPPINGS);
	PmAddRequest request = {
	    .protocols = PM_PROTOCOL_TCP,
	    .internal_port = 9000,
	    .scope = PM_SCOPE_RUNTIME,
	};
	g_autoptr(GError) error = NULL;

	assert_log("files up(grant) torrent tcp:51413:51413 udp:51413:51413 @" PM_TEST_PUBLIC_ADDRESS);
	pm_test_manager_assert_consumers(t, "torrent", "files:ok:");
	pm_test_manager_assert_consumers(t, "web", "");
	g_assert_true(pm_manager_lookup_name(t->manager, "torrent")->has_consumers);
	g_assert_false(pm_manager_lookup_name(t->manager, "web")->has_consumers);

	g_assert_nonnull(pm_manager_add_mapping(t->manager, &request, &error));
	g_assert_no_error(error);
	pm_test_manager_advance(t, SEC(1));
	g_assert_cmpstr(pm_manager_lookup_name(t->manager, "bus-3")->last_error, ==, NULL);
	assert_log("");
}

/* design §3 "Ports": a mapping with consumers whose E differs from I asks once more with
 * I = E, and consumers hear of the result only; if it differs again they get both */
static void
test_grant_remapped(void)
{
	const char *config = DAEMON_QUIET PM_TEST_PROVIDER
	    "[Consumer files]\nType=fake\n"
	    "[Mapping a]\nInternalPort=7000\nProtocols=tcp\nConsumers=files\n";
	g_autoptr(PmTestManager) t = pm_test_manager_new_unstarted();
	g_autoptr(PmTestManager) t2 = pm_test_manager_new_unstarted();

	pm_test_manager_grant_next(t, PM_NATPMP_OP_MAP_TCP, 7000, 45000);
	pm_test_manager_start(t, config);
	assert_log("files up(grant) a tcp:45000:45000 @" PM_TEST_PUBLIC_ADDRESS);

	pm_test_manager_grant_next(t2, PM_NATPMP_OP_MAP_TCP, 7000, 45000);
	pm_test_manager_grant_next(t2, PM_NATPMP_OP_MAP_TCP, 45000, 46000);
	pm_test_manager_start(t2, config);
	assert_log("files up(grant) a tcp:45000:46000 @" PM_TEST_PUBLIC_ADDRESS);
}

/* a SamePort=yes gateway forwards E to E: I := E, and consumers are told so */
static void
test_grant_same_port(void)
{
	g_autoptr(PmTestManager) t =
	    pm_test_manager_new(DAEMON_QUIET "[Provider vpn]\nType=natpmp\nGateway=127.0.0.1\n"
					     "Port=1\nSamePort=yes\n"
					     "[Consumer qbt]\nType=fake-single\n"
					     "[Mapping torrent]\nConsumers=qbt\n");

	assert_log("qbt up(grant) torrent tcp:40000:40000 udp:40000:40000 @" PM_TEST_PUBLIC_ADDRESS);
	g_assert_cmpuint(pm_manager_lookup_name(t->manager, "torrent")->internal_port, ==, 40000);
}

/* a new E on renewal is a change, with the ports told before; the one re-map that
 * follows (I = E again) takes the mapping down and up */
static void
test_port_change(void)
{
	g_autoptr(PmTestManager) t =
	    pm_test_manager_new(DAEMON_QUIET PM_TEST_PROVIDER
				"[Consumer files]\nType=fake\n"
				"[Mapping web]\nInternalPort=8080\nProtocols=tcp\nConsumers=files\n");

	assert_log("files up(grant) web tcp:8080:8080 @" PM_TEST_PUBLIC_ADDRESS);
	pm_test_manager_grant_next(t, PM_NATPMP_OP_MAP_TCP, 8080, 41000);
	/* renewal at half the 600 s lease: E changed, so the mapping is deleted and asked
	 * for again with I = E */
	pm_test_manager_advance(t, SEC(301));
	assert_log("files down web tcp:8080:8080; "
		   "files up(grant) web tcp:41000:41000 @" PM_TEST_PUBLIC_ADDRESS);
	pm_test_manager_assert_consumers(t, "web", "files:ok:");

	/* two protocols: the renewal of one publishes its new port before the re-map */
	pm_test_manager_free(g_steal_pointer(&t));
	pm_fake_consumer_clear_log();
	t = pm_test_manager_new(CONFIG_TWO_MAPPINGS);
	pm_fake_consumer_clear_log();
	pm_test_manager_grant_next(t, PM_NATPMP_OP_MAP_TCP, 51413, 41000);
	pm_test_manager_advance(t, SEC(301));
	assert_log("files changed torrent tcp:51413:41000 udp:51413:51413 @" PM_TEST_PUBLIC_ADDRESS
		   " was tcp:51413:51413 udp:51413:51413; "
		   "files down torrent tcp:51413:41000 udp:51413:51413; "
		   "files up(grant) torrent tcp:41000:41000 udp:41000:41000 @" PM_TEST_PUBLIC_ADDRESS);

	/* SamePort=yes: nothing to re-map, the new port is the change (I := E) */
	pm_test_manager_free(g_steal_pointer(&t));
	pm_fake_consumer_clear_log();
	t = pm_test_manager_new(DAEMON_QUIET "[Provider vpn]\nType=natpmp\nGateway=127.0.0.1\n"
					     "Port=1\nSamePort=yes\nLifetime=60\n"
					     "[Consumer qbt]\nType=fake-single\n"
					     "[Mapping torrent]\nProtocols=tcp\nConsumers=qbt\n");
	assert_log("qbt up(grant) torrent tcp:40000:40000 @" PM_TEST_PUBLIC_ADDRESS);
	pm_test_manager_grant_next(t, PM_NATPMP_OP_MAP_TCP, 0, 41000);
	pm_test_manager_advance(t, SEC(31));
	assert_log("qbt changed torrent tcp:41000:41000 @" PM_TEST_PUBLIC_ADDRESS
		   " was tcp:40000:40000");
	pm_test_manager_assert_consumers(t, "torrent", "qbt:ok:");
}

/* the lease runs out with the gateway silent: consumers hear the ports are gone, once,
 * and hear of them again when the gateway is back */
static void
test_lost(void)
{
	g_autoptr(PmTestManager) t = pm_test_manager_new(CONFIG_TWO_MAPPINGS);

	pm_fake_consumer_clear_log();
	pm_test_manager_gateway_down(t);
	pm_test_manager_advance(t, SEC(601));
	g_assert_cmpint(pm_manager_lookup_name(t->manager, "torrent")->state, ==,
			PM_MAPPING_STATE_RETRYING);
	assert_log("files down torrent tcp:51413:51413 udp:51413:51413");
	pm_test_manager_advance(t, SEC(60));
	assert_log("");

	t->silent = FALSE;
	pm_test_manager_advance(t, SEC(70));
	assert_log("files up(grant) torrent tcp:51413:51413 udp:51413:51413 @" PM_TEST_PUBLIC_ADDRESS);
}

/* removed by a reload, or the daemon stops: consumers hear the ports are gone */
static void
test_removed_and_stopped(void)
{
	g_autoptr(PmTestManager) t = pm_test_manager_new(CONFIG_TWO_MAPPINGS
							 "[Mapping ssh]\nInternalPort=22\n"
							 "Protocols=tcp\nConsumers=files\n");
	guint done = 0;

	pm_fake_consumer_clear_log();
	pm_test_manager_reload(t, CONFIG_TWO_MAPPINGS);
	assert_log("files down ssh tcp:22:22; "
		   "files up(retry) torrent tcp:51413:51413 udp:51413:51413 @" PM_TEST_PUBLIC_ADDRESS);

	pm_manager_stop(t->manager, count_done, &done);
	assert_log("files down torrent tcp:51413:51413 udp:51413:51413");
	g_assert_cmpuint(done, ==, 1);
	/* stopped: the reconcile timer is not running anymore */
	pm_test_manager_advance(t, SEC(7200));
	assert_log("");
}

/* Consumers= changed by a reload: a consumer added is told, one removed hears the mapping
 * is gone for it, one that stays is told again (and unblocked) */
static void
test_reload_consumers(void)
{
	const char *before = DAEMON_QUIET PM_TEST_PROVIDER "[Consumer a]\nType=fake\n"
							   "[Consumer b]\nType=fake\n"
							   "[Mapping m]\nInternalPort=7000\n"
							   "Protocols=tcp\nConsumers=a\n";
	const char *after = DAEMON_QUIET PM_TEST_PROVIDER "[Consumer a]\nType=fake\n"
							  "[Consumer b]\nType=fake\n"
							  "[Mapping m]\nInternalPort=7000\n"
							  "Protocols=tcp\nConsumers=b\n";
	const char *changed = DAEMON_QUIET PM_TEST_PROVIDER "[Consumer a]\nType=fake\n"
							    "[Consumer b]\nType=fake\nPath=/x\n"
							    "[Mapping m]\nInternalPort=7000\n"
							    "Protocols=tcp\nConsumers=b a\n";
	g_autoptr(PmTestManager) t = pm_test_manager_new(before);

	assert_log("a up(grant) m tcp:7000:7000 @" PM_TEST_PUBLIC_ADDRESS);
	g_assert_cmpuint(pm_fake_consumer_get_n_objects(), ==, 2);
	pm_test_manager_reload(t, after);
	assert_log("a down m tcp:7000:7000; b up(grant) m tcp:7000:7000 @" PM_TEST_PUBLIC_ADDRESS);
	pm_test_manager_assert_consumers(t, "m", "b:ok:");

	/* b's configuration changed: another object, told as new; the old one hears the
	 * mapping is gone for it, and is freed */
	pm_test_manager_reload(t, changed);
	assert_log("b down m tcp:7000:7000; "
		   "b up(grant) m tcp:7000:7000 @" PM_TEST_PUBLIC_ADDRESS "; "
		   "a up(grant) m tcp:7000:7000 @" PM_TEST_PUBLIC_ADDRESS);
	pm_test_manager_assert_consumers(t, "m", "b:ok: a:ok:");
	g_assert_cmpuint(pm_fake_consumer_get_n_objects(), ==, 2);

	/* the same again: kept objects, told again */
	pm_test_manager_reload(t, changed);
	assert_log("b up(retry) m tcp:7000:7000 @" PM_TEST_PUBLIC_ADDRESS "; "
		   "a up(retry) m tcp:7000:7000 @" PM_TEST_PUBLIC_ADDRESS);
	g_assert_cmpuint(pm_fake_consumer_get_n_objects(), ==, 2);
}

/* a mapping moved by a reload (other protocols) is down, then up with its new ports */
static void
test_reload_moved(void)
{
	g_autoptr(PmTestManager) t =
	    pm_test_manager_new(DAEMON_QUIET PM_TEST_PROVIDER
				"[Consumer files]\nType=fake\n"
				"[Mapping m]\nInternalPort=7000\nProtocols=tcp\nConsumers=files\n");

	pm_fake_consumer_clear_log();
	pm_test_manager_reload(t, DAEMON_QUIET PM_TEST_PROVIDER
			       "[Consumer files]\nType=fake\n"
			       "[Mapping m]\nInternalPort=7000\nProtocols=udp\nConsumers=files\n");
	assert_log("files down m tcp:7000:7000");
	pm_test_manager_advance(t, SEC(1));
	assert_log("files up(grant) m udp:7000:7000 @" PM_TEST_PUBLIC_ADDRESS);
}

/* [Daemon] ReconcileInterval=, RefreshAll() and Refresh() tell the same ports again */
static void
test_repush(void)
{
	g_autoptr(PmTestManager) t =
	    pm_test_manager_new("[Daemon]\nReconcileInterval=1min\n" PM_TEST_PROVIDER
				"[Consumer files]\nType=fake\n"
				"[Mapping m]\nInternalPort=7000\nProtocols=tcp\nConsumers=files\n"
				"[Mapping other]\nInternalPort=7001\nProtocols=tcp\n");
	guint done = 0;

	pm_fake_consumer_clear_log();
	pm_test_manager_advance(t, SEC(60));
	assert_log("files up(reconcile) m tcp:7000:7000 @" PM_TEST_PUBLIC_ADDRESS);
	pm_test_manager_advance(t, SEC(59));
	assert_log("");
	pm_test_manager_advance(t, SEC(1));
	assert_log("files up(reconcile) m tcp:7000:7000 @" PM_TEST_PUBLIC_ADDRESS);

	/* when the run ends, with the ports as they then are */
	pm_manager_refresh_all(t->manager, count_done, &done);
	pm_test_manager_advance(t, SEC(1));
	g_assert_cmpuint(done, ==, 1);
	assert_log("files up(reconcile) m tcp:7000:7000 @" PM_TEST_PUBLIC_ADDRESS);

	pm_manager_refresh_mapping(t->manager, pm_manager_lookup_name(t->manager, "m"),
				   count_done, &done);
	pm_test_manager_advance(t, SEC(1));
	for (guint i = 0; i < 20 && done < 2; i++)
		pm_test_manager_advance(t, SEC(1));
	g_assert_cmpuint(done, ==, 2);
	assert_log("files up(retry) m tcp:7000:7000 @" PM_TEST_PUBLIC_ADDRESS);
	/* of a mapping without consumers: nobody */
	pm_manager_refresh_mapping(t->manager, pm_manager_lookup_name(t->manager, "other"),
				   count_done, &done);
	pm_test_manager_advance(t, SEC(1));
	g_assert_cmpuint(done, ==, 3);
	assert_log("");
}

/* design §3 "Reload": when the provider's external address changes (a VPN reconnect),
 * the mapping keeps its ports and its consumers are told the new address */
static void
test_external_address_change(void)
{
	g_autoptr(PmTestManager) t =
	    pm_test_manager_new(DAEMON_QUIET PM_TEST_PROVIDER
				"[Consumer files]\nType=fake\n"
				"[Mapping web]\nInternalPort=8080\nProtocols=tcp\nConsumers=files\n");
	guint done = 0;

	assert_log("files up(grant) web tcp:8080:8080 @" PM_TEST_PUBLIC_ADDRESS);
	g_assert_cmpint(inet_pton(AF_INET, "198.51.100.7", &t->address), ==, 1);
	pm_manager_refresh_all(t->manager, count_done, &done);
	pm_test_manager_advance(t, SEC(1));
	g_assert_cmpuint(done, ==, 1);
	assert_log("files changed web tcp:8080:8080 @198.51.100.7 was tcp:8080:8080; "
		   "files up(reconcile) web tcp:8080:8080 @198.51.100.7");
	pm_test_manager_assert_consumers(t, "web", "files:ok:");
	/* the same address again (RefreshAll runs at most once per 10 s): nothing changed
	 * to tell, the ports are only pushed again */
	pm_test_manager_advance(t, SEC(10));
	pm_manager_refresh_all(t->manager, count_done, &done);
	pm_test_manager_advance(t, SEC(1));
	g_assert_cmpuint(done, ==, 2);
	assert_log("files up(reconcile) web tcp:8080:8080 @198.51.100.7");
}

typedef struct {
	guint consumers_changed;
} PmTestListener;

static void
count_consumers_changed(PmMapping *mapping, guint props, gpointer user_data)
{
	PmTestListener *l = user_data;
	if (props & PM_MAPPING_PROP_CONSUMERS)
		l->consumers_changed++;
}

static const PmManagerListener consumers_listener = {
    .mapping_changed = count_consumers_changed,
};

/* what a class reports, now or later, is the mapping's Consumers, announced as a change */
static void
test_state(void)
{
	g_autoptr(PmTestManager) t =
	    pm_test_manager_new(DAEMON_QUIET PM_TEST_PROVIDER
				"[Consumer slow]\nType=fake\nDelay=5s\n"
				"[Consumer broken]\nType=fake\nFail=yes\n"
				"[Mapping m]\nInternalPort=7000\nProtocols=tcp\n"
				"Consumers=slow broken\n");
	PmTestListener l = {0};
	g_autofree char *json = NULL;

	pm_test_manager_assert_consumers(t, "m", "slow:pending: broken:failed:Refused: the fake consumer was "
				 "told to fail");
	pm_test_assert_warning("mapping m: consumer broken failed: Refused: the fake consumer "
			       "was told to fail");
	pm_manager_add_listener(t->manager, &consumers_listener, &l);
	pm_test_manager_advance(t, SEC(5));
	pm_test_manager_assert_consumers(t, "m", "slow:ok: broken:failed:Refused: the fake consumer was told "
				 "to fail");
	g_assert_cmpuint(l.consumers_changed, ==, 1);

	/* Describe() (and so status.json) shows the same */
	json = pm_manager_describe(t->manager);
	g_assert_nonnull(strstr(json, "\"Consumers\":[{\"Name\":\"slow\",\"State\":\"ok\","
				      "\"LastError\":\"\"},{\"Name\":\"broken\",\"State\":\"failed\","
				      "\"LastError\":\"Refused: the fake consumer was told to "
				      "fail\"}]"));
	/* and its top-level list of consumers, with each class's own members */
	g_assert_nonnull(strstr(json, "\"Consumers\":[{\"Name\":\"slow\",\"Type\":\"fake\","
				      "\"Path\":\"/run/portmap/slow.fake\"},{\"Name\":\"broken\","
				      "\"Type\":\"fake\",\"Path\":\"/run/portmap/broken.fake\"}]"));

	/* a report for a mapping that is gone goes nowhere */
	pm_test_manager_reload(t, DAEMON_QUIET PM_TEST_PROVIDER
			       "[Consumer slow]\nType=fake\nDelay=5s\n"
			       "[Consumer broken]\nType=fake\nFail=yes\n");
	/* its "down" failed as before: not warned about again */
	pm_test_assert_no_warnings();
	pm_test_manager_advance(t, SEC(10));
	pm_fake_consumer_clear_log();
}

/* a consumer that fails the same way at every reconcile (blocked by a refused password)
 * is warned about once, and again when its error changes or after it worked */
static void
test_failure_warned_once(void)
{
	g_autoptr(PmTestManager) t =
	    pm_test_manager_new("[Daemon]\nReconcileInterval=1min\n" PM_TEST_PROVIDER
				"[Consumer broken]\nType=fake\nFail=yes\n"
				"[Mapping m]\nInternalPort=7000\nProtocols=tcp\nConsumers=broken\n");

	pm_test_manager_advance(t, SEC(1));
	pm_test_assert_warning("mapping m: consumer broken failed");
	pm_test_manager_advance(t, SEC(60 * 3));
	pm_manager_refresh_mapping(t->manager, pm_manager_lookup_name(t->manager, "m"), NULL,
				   NULL);
	pm_test_manager_advance(t, SEC(5));
	pm_test_manager_assert_consumers(t, "m", "broken:failed:Refused: the fake consumer was "
				 "told to fail");
	pm_test_assert_no_warnings();
	pm_fake_consumer_clear_log();
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	pm_fake_consumer_register();
	pm_test_log_init();
	g_test_add_func("/consumers/grant", test_grant);
	g_test_add_func("/consumers/grant/remapped", test_grant_remapped);
	g_test_add_func("/consumers/grant/same-port", test_grant_same_port);
	g_test_add_func("/consumers/port-change", test_port_change);
	g_test_add_func("/consumers/lost", test_lost);
	g_test_add_func("/consumers/removed-and-stopped", test_removed_and_stopped);
	g_test_add_func("/consumers/reload/consumers", test_reload_consumers);
	g_test_add_func("/consumers/reload/moved", test_reload_moved);
	g_test_add_func("/consumers/repush", test_repush);
	g_test_add_func("/consumers/external-address-change", test_external_address_change);
	g_test_add_func("/consumers/state", test_state);
	g_test_add_func("/consumers/failure-warned-once", test_failure_warned_once);
	return g_test_run();
}
