/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "control-plane-config.h"
#include "gateway-config.h"
#include "mikrotik-config.h"
#include "stun-config.h"
#include "wireguard-config.h"
#include "errors.h"
#include "test-config-load.h"
#include "natpmp-provider.h"

#define PROVIDER_RFC                                                                             \
	"[Provider rfc]\n"                                                                       \
	"Type=natpmp\n"

/* only the start of the message: the location and what is wrong */
static void
assert_load_error_prefix(const char *text, const char *prefix)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(PmConfig) config = pm_test_config_load(text, &error);

	g_assert_null(config);
	g_assert_error(error, PM_ERROR, PM_ERROR_INVALID_CONFIGURATION);
	if (!g_str_has_prefix(error->message, prefix))
		g_error("message \"%s\" does not start with \"%s\"", error->message, prefix);
	g_assert_null(strchr(error->message, '\n'));
}

static gboolean
config_equal(const PmConfig *a, const PmConfig *b)
{
	if (g_strcmp0(a->daemon.default_provider, b->daemon.default_provider) != 0 ||
	    a->daemon.release_on_stop != b->daemon.release_on_stop ||
	    a->daemon.max_mappings_per_user != b->daemon.max_mappings_per_user ||
	    a->daemon.reconcile_interval_usec != b->daemon.reconcile_interval_usec)
		return FALSE;
	if (a->providers->len != b->providers->len || a->mappings->len != b->mappings->len)
		return FALSE;
	for (guint i = 0; i < a->providers->len; i++) {
		if (!pm_provider_config_equal(g_ptr_array_index(a->providers, i),
					      g_ptr_array_index(b->providers, i)))
			return FALSE;
	}
	for (guint i = 0; i < a->mappings->len; i++) {
		if (!pm_mapping_config_equal(g_ptr_array_index(a->mappings, i),
					     g_ptr_array_index(b->mappings, i)))
			return FALSE;
	}
	return TRUE;
}

static void
write_file(const char *dir, const char *name, const char *text)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *path = g_build_filename(dir, name, NULL);

	g_file_set_contents(path, text, -1, &error);
	g_assert_no_error(error);
}

/* removes a directory made by a test, two levels deep at most */
static void
remove_tree(const char *path)
{
	g_autoptr(GDir) dir = g_dir_open(path, 0, NULL);
	const char *name;

	if (dir == NULL) {
		g_unlink(path);
		return;
	}
	while ((name = g_dir_read_name(dir)) != NULL) {
		g_autofree char *child = g_build_filename(path, name, NULL);
		if (g_file_test(child, G_FILE_TEST_IS_DIR))
			remove_tree(child);
		else
			g_unlink(child);
	}
	g_rmdir(path);
}

static void
test_parse_boolean(void)
{
	const struct {
		const char *value;
		gboolean valid;
		gboolean result;
	} cases[] = {
	    {"yes", TRUE, TRUE},
	    {"no", TRUE, FALSE},
	    {"true", TRUE, TRUE},
	    {"false", TRUE, FALSE},
	    {"on", TRUE, TRUE},
	    {"off", TRUE, FALSE},
	    {"1", TRUE, TRUE},
	    {"0", TRUE, FALSE},
	    {"YES", TRUE, TRUE},
	    {"False", TRUE, FALSE},
	    {"oN", TRUE, TRUE},
	    {"", FALSE, FALSE},
	    {"y", FALSE, FALSE},
	    {"2", FALSE, FALSE},
	    {"yes ", FALSE, FALSE},
	    {"enable", FALSE, FALSE},
	};

	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		gboolean result = !cases[i].result;
		g_assert_cmpint(pm_parse_boolean(cases[i].value, &result), ==, cases[i].valid);
		if (cases[i].valid)
			g_assert_cmpint(result, ==, cases[i].result);
	}
	g_assert_false(pm_parse_boolean(NULL, NULL));
}

static void
test_parse_duration(void)
{
	const guint64 sec = G_USEC_PER_SEC;
	const struct {
		const char *value;
		gboolean valid;
		guint64 usec;
	} cases[] = {
	    {"0", TRUE, 0},
	    {"45", TRUE, 45 * sec},
	    {"45s", TRUE, 45 * sec},
	    {"45 s", TRUE, 45 * sec},
	    {"45sec", TRUE, 45 * sec},
	    {"15min", TRUE, 15 * 60 * sec},
	    {"15m", TRUE, 15 * 60 * sec},
	    {"1min 30s", TRUE, 90 * sec},
	    {"1min30s", TRUE, 90 * sec},
	    {"2h", TRUE, 7200 * sec},
	    {"1hr 1m 1s", TRUE, 3661 * sec},
	    {"1d", TRUE, 86400 * sec},
	    {"250ms", TRUE, 250000},
	    {"7us", TRUE, 7},
	    {" 10s ", TRUE, 10 * sec},
	    {"18446744073709551615us", TRUE, G_MAXUINT64},
	    {"", FALSE, 0},
	    {"   ", FALSE, 0},
	    {"s", FALSE, 0},
	    {"abc", FALSE, 0},
	    {"-5s", FALSE, 0},
	    {"1.5s", FALSE, 0},
	    {"10 parsecs", FALSE, 0},
	    {"10S", FALSE, 0},
	    {"1min 30", FALSE, 0},
	    {"30 1min", FALSE, 0},
	    {"5s,", FALSE, 0},
	    {"18446744073709551616", FALSE, 0},
	    {"18446744073709551616us", FALSE, 0},
	    {"99999999999999999999999d", FALSE, 0},
	    {"213503982336d", FALSE, 0},
	    {"18446744073709551615us 1us", FALSE, 0},
	};

	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		guint64 usec = 12345;
		gboolean ok = pm_parse_duration_usec(cases[i].value, &usec);

		if (ok != cases[i].valid)
			g_error("\"%s\": expected %s",
				cases[i].value,
				cases[i].valid ? "ok" : "error");
		if (ok)
			g_assert_cmpuint(usec, ==, cases[i].usec);
	}
	g_assert_false(pm_parse_duration_usec(NULL, NULL));
}

static void
test_parse_list(void)
{
	const struct {
		const char *value;
		const char *joined;
	} cases[] = {
	    {"a,b,c", "a|b|c"},
	    {"a b\tc", "a|b|c"},
	    {"a, b ,c  ,, d", "a|b|c|d"},
	    {" , ,, ", ""},
	    {"", ""},
	    {"single", "single"},
	};

	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_auto(GStrv) items = pm_split_list(cases[i].value);
		g_autofree char *joined = g_strjoinv("|", items);
		g_assert_cmpstr(joined, ==, cases[i].joined);
	}
	{
		g_auto(GStrv) items = pm_split_list(NULL);
		g_assert_nonnull(items);
		g_assert_null(items[0]);
	}
}

static void
test_parse_port(void)
{
	const struct {
		const char *value;
		gboolean valid;
		guint16 port;
	} cases[] = {
	    {"1", TRUE, 1},
	    {"5351", TRUE, 5351},
	    {"65535", TRUE, 65535},
	    {"0", FALSE, 0},
	    {"65536", FALSE, 0},
	    {"abc", FALSE, 0},
	    {"", FALSE, 0},
	    {"-1", FALSE, 0},
	    {"80a", FALSE, 0},
	    {"99999999999999999999999", FALSE, 0},
	};

	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		guint16 port = 7;
		g_assert_cmpint(pm_parse_port(cases[i].value, &port), ==, cases[i].valid);
		if (cases[i].valid)
			g_assert_cmpuint(port, ==, cases[i].port);
	}
	g_assert_false(pm_parse_port(NULL, NULL));
}

static void
test_parse_protocols(void)
{
	const guint both = PM_PROTOCOL_TCP | PM_PROTOCOL_UDP;
	const struct {
		const char *value;
		gboolean valid;
		guint protocols;
	} cases[] = {
	    {"tcp", TRUE, PM_PROTOCOL_TCP},
	    {"UDP", TRUE, PM_PROTOCOL_UDP},
	    {"tcp,udp", TRUE, both},
	    {"udp tcp", TRUE, both},
	    {"both", TRUE, both},
	    {"Both", TRUE, both},
	    {"tcp tcp", TRUE, PM_PROTOCOL_TCP},
	    {"", FALSE, 0},
	    {" , ", FALSE, 0},
	    {"sctp", FALSE, 0},
	    {"tcp,icmp", FALSE, 0},
	};

	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		guint protocols = 0;
		g_assert_cmpint(pm_parse_protocols(cases[i].value, &protocols), ==, cases[i].valid);
		if (cases[i].valid)
			g_assert_cmpuint(protocols, ==, cases[i].protocols);
	}
	g_assert_cmpstr(pm_protocol_to_string(PM_PROTOCOL_TCP), ==, "tcp");
	g_assert_cmpstr(pm_protocol_to_string(PM_PROTOCOL_UDP), ==, "udp");
}

static void
test_name_is_valid(void)
{
	g_autofree char *name64 = g_strnfill(64, 'a');
	g_autofree char *name65 = g_strnfill(65, 'a');

	g_assert_true(pm_name_is_valid("torrent"));
	g_assert_true(pm_name_is_valid("a_B-9"));
	g_assert_true(pm_name_is_valid(name64));
	g_assert_false(pm_name_is_valid(name65));
	g_assert_false(pm_name_is_valid(""));
	g_assert_false(pm_name_is_valid(NULL));
	g_assert_false(pm_name_is_valid("bad/name"));
	g_assert_false(pm_name_is_valid("a b"));
	g_assert_false(pm_name_is_valid("é"));
}

static void
test_defaults(void)
{
	g_autoptr(PmConfig) config = pm_test_config_load_ok(PROVIDER_RFC "[Mapping web]\n"
							 "InternalPort=8080\n");
	const PmProviderConfig *provider;
	const PmMappingConfig *mapping;

	g_assert_null(config->daemon.default_provider);
	g_assert_cmpint(config->daemon.release_on_stop, ==, PM_RELEASE_ON_STOP_TRANSIENT);
	g_assert_cmpuint(config->daemon.max_mappings_per_user, ==, 4);
	g_assert_cmpuint(config->daemon.reconcile_interval_usec, ==, 300 * G_USEC_PER_SEC);

	g_assert_cmpuint(config->providers->len, ==, 1);
	provider = g_ptr_array_index(config->providers, 0);
	g_assert_cmpstr(provider->name, ==, "rfc");
	g_assert_true(provider->klass == &pm_natpmp_provider_class);
	g_assert_null(pm_natpmp_config(provider)->gateway);
	g_assert_false(pm_natpmp_config(provider)->same_port);
	g_assert_cmpuint(pm_natpmp_config(provider)->lifetime, ==, 7200);
	g_assert_cmpuint(pm_natpmp_config(provider)->refresh_interval_usec, ==, 0);
	g_assert_cmpuint(pm_natpmp_config(provider)->port, ==, 5351);

	g_assert_cmpuint(config->mappings->len, ==, 1);
	mapping = g_ptr_array_index(config->mappings, 0);
	g_assert_cmpstr(mapping->name, ==, "web");
	g_assert_cmpstr(mapping->provider, ==, "rfc");
	g_assert_cmpuint(mapping->protocols, ==, PM_PROTOCOL_TCP | PM_PROTOCOL_UDP);
	g_assert_cmpuint(mapping->internal_port, ==, 8080);
	g_assert_cmpuint(mapping->external_port, ==, 0);
	g_assert_cmpuint(mapping->lifetime, ==, 0);
	g_assert_null(mapping->consumers);

	g_assert_cmpuint(config->warnings->len, ==, 0);
	g_assert_cmpuint(config->files->len, ==, 1);
	g_assert_cmpstr(g_ptr_array_index(config->files, 0), ==, "test.conf");
}

static void
test_every_key(void)
{
	g_autoptr(PmConfig) config = pm_test_config_load_ok("# comment\n"
					     "[Daemon]\n"
					     "DefaultProvider=vpn\n"
					     "ReleaseOnStop=all\n"
					     "MaxMappingsPerUser = 0\n"
					     "ReconcileInterval=1min 30s\n"
					     "\n"
					     "[Provider vpn]\n"
					     "Type=natpmp\n"
					     "Gateway=10.2.0.1\n"
					     "SamePort=yes\n"
					     "Lifetime=60\n"
					     "RefreshInterval=45s\n"
					     "Port=15351\n"
					     "\n"
					     "[Provider rfc]\n"
					     "Type=natpmp\n"
					     "Gateway=auto\n"
					     "SamePort=off\n"
					     "Lifetime=2h\n"
					     "\n"
					     "[Mapping torrent]\n"
					     "Provider=rfc\n"
					     "Protocols=tcp\n"
					     "InternalPort=51413\n"
					     "ExternalPort=51414\n"
					     "Lifetime=1h\n"
					     "Consumers=\n"
					     "\n"
					     "[Mapping game]\n"
					     "Protocols=udp\n");
	const PmProviderConfig *vpn = pm_config_find_provider(config, "vpn");
	const PmProviderConfig *rfc = pm_config_find_provider(config, "rfc");
	const PmMappingConfig *torrent = pm_config_find_mapping(config, "torrent");
	const PmMappingConfig *game = pm_config_find_mapping(config, "game");

	g_assert_cmpstr(config->daemon.default_provider, ==, "vpn");
	g_assert_cmpint(config->daemon.release_on_stop, ==, PM_RELEASE_ON_STOP_ALL);
	g_assert_cmpuint(config->daemon.max_mappings_per_user, ==, 0);
	g_assert_cmpuint(config->daemon.reconcile_interval_usec, ==, 90 * G_USEC_PER_SEC);

	g_assert_nonnull(vpn);
	g_assert_cmpstr(pm_natpmp_config(vpn)->gateway, ==, "10.2.0.1");
	g_assert_true(pm_natpmp_config(vpn)->same_port);
	g_assert_cmpuint(pm_natpmp_config(vpn)->lifetime, ==, 60);
	g_assert_cmpuint(pm_natpmp_config(vpn)->refresh_interval_usec, ==, 45 * G_USEC_PER_SEC);
	g_assert_cmpuint(pm_natpmp_config(vpn)->port, ==, 15351);
	g_assert_nonnull(rfc);
	g_assert_null(pm_natpmp_config(rfc)->gateway);
	g_assert_false(pm_natpmp_config(rfc)->same_port);
	g_assert_cmpuint(pm_natpmp_config(rfc)->lifetime, ==, 7200);

	g_assert_nonnull(torrent);
	g_assert_cmpstr(torrent->provider, ==, "rfc");
	g_assert_cmpuint(torrent->protocols, ==, PM_PROTOCOL_TCP);
	g_assert_cmpuint(torrent->internal_port, ==, 51413);
	g_assert_cmpuint(torrent->external_port, ==, 51414);
	g_assert_cmpuint(torrent->lifetime, ==, 3600);
	g_assert_null(torrent->consumers);

	/* the default provider has SamePort=yes: no InternalPort= needed */
	g_assert_nonnull(game);
	g_assert_cmpstr(game->provider, ==, "vpn");
	g_assert_cmpuint(game->protocols, ==, PM_PROTOCOL_UDP);
	g_assert_cmpuint(game->internal_port, ==, 0);

	g_assert_null(pm_config_find_provider(config, "nope"));
	g_assert_null(pm_config_find_mapping(config, "nope"));
	g_assert_null(pm_config_find_mapping(config, NULL));
	g_assert_cmpstr(pm_config_get_default_provider(config), ==, "vpn");
	g_assert_cmpuint(config->warnings->len, ==, 0);
}

static void
test_release_on_stop(void)
{
	g_autoptr(PmConfig) config = pm_test_config_load_ok("[Daemon]\nReleaseOnStop=none\n");

	g_assert_cmpint(config->daemon.release_on_stop, ==, PM_RELEASE_ON_STOP_NONE);
	pm_test_config_assert_load_error("[Daemon]\nReleaseOnStop=some\n",
			  "test.conf:2: [Daemon] ReleaseOnStop=some: unknown policy; "
			  "accepted values: transient, all, none");
	assert_load_error_prefix("[Daemon]\nMaxMappingsPerUser=-1\n",
				 "test.conf:2: [Daemon] MaxMappingsPerUser=-1: not a count; "
				 "accepted values: ");
	assert_load_error_prefix("[Daemon]\nReconcileInterval=0\n",
				 "test.conf:2: [Daemon] ReconcileInterval=0: too short; ");
	assert_load_error_prefix("[Daemon]\nReconcileInterval=soon\n",
				 "test.conf:2: [Daemon] ReconcileInterval=soon: not a duration; "
				 "accepted values: ");
}

static void
test_bad_headers(void)
{
	g_autofree char *name65 = g_strnfill(65, 'x');
	g_autofree char *long_text = g_strdup_printf("[Daemon]\n\n[Mapping %s]\n", name65);
	g_autofree char *long_prefix =
	    g_strdup_printf("test.conf:3: [Mapping %s]: the name is 65 bytes long", name65);

	assert_load_error_prefix("[Daemon]\n[Mapping]\n",
				 "test.conf:2: [Mapping]: a name is required: [Mapping NAME]; "
				 "accepted: [Daemon], [Gateway], [STUN]");
	assert_load_error_prefix("# x\n[Mapping  x]\n",
				 "test.conf:2: [Mapping  x]: exactly one space goes between "
				 "Mapping and the name; accepted: ");
	assert_load_error_prefix("\n\n\n[Mapping bad/name]\nInternalPort=1\n",
				 "test.conf:4: [Mapping bad/name]: the name has a character "
				 "other than A-Z a-z 0-9 _ -; accepted: ");
	assert_load_error_prefix("[Foo]\n", "test.conf:1: [Foo]: unknown group; accepted: ");
	assert_load_error_prefix("[daemon]\n", "test.conf:1: [daemon]: unknown group; ");
	assert_load_error_prefix(long_text, long_prefix);
	assert_load_error_prefix("[Mapping x\n", "test.conf:1: [Mapping x: a group header is ");
	assert_load_error_prefix("[]\n", "test.conf:1: []: unknown group; ");
	assert_load_error_prefix("[Mapping x]y\n", "test.conf:1: [Mapping x]y: a group header ");
	pm_test_config_assert_load_error("[Daemon]\n[Foo]\n",
			  "test.conf:2: [Foo]: unknown group; accepted: [Daemon], [Gateway], "
			  "[STUN], [ControlPlane], [WireGuard], [Provider NAME], [Mapping NAME], "
			  "[Consumer NAME], [MikroTik NAME] with NAME of 1 to 64 characters "
			  "A-Z a-z 0-9 _ -");
}

/* every group of design §6 is read (none is left "for later versions"), and what is near
 * one of them without being it is an unknown group */
static void
test_every_group(void)
{
	g_autoptr(PmConfig) config = pm_test_config_load_ok(
	    "[Daemon]\n" PROVIDER_RFC "[Mapping web]\nInternalPort=80\n"
	    "[Consumer file]\nType=portfile\n"
	    "[MikroTik hap]\nAddress=192.168.88.1\nPasswordFile=/etc/portmap/hap.pass\n"
	    "[Gateway]\nListen=192.168.88.2\nAllowedNetworks=192.168.88.0/24\nUpstream=rfc\n"
	    "Router=hap\n"
	    "[STUN]\nServers=stun.example.net\n"
	    "[ControlPlane]\nURL=https://cp.example.net\nNodeID=n1\n"
	    "[WireGuard]\nInterface=wg0\n");

	g_assert_nonnull(config->gateway);
	g_assert_nonnull(config->stun);
	g_assert_nonnull(config->control_plane);
	g_assert_nonnull(config->wireguard);
	pm_test_config_assert_load_error("[Daemon]\n[Wireguard]\n",
			  "test.conf:2: [Wireguard]: unknown group; accepted: [Daemon], [Gateway], "
			  "[STUN], [ControlPlane], [WireGuard], [Provider NAME], [Mapping NAME], "
			  "[Consumer NAME], [MikroTik NAME] with NAME of 1 to 64 characters "
			  "A-Z a-z 0-9 _ -");
	assert_load_error_prefix("[ControlPlane x]\n",
				 "test.conf:1: [ControlPlane x]: unknown group; accepted: ");
	assert_load_error_prefix("[Control Plane]\n", "test.conf:1: [Control Plane]: unknown ");
	assert_load_error_prefix("[STUN]\nServers=a\n[Stun]\n", "test.conf:3: [Stun]: unknown ");
	/* [Consumer NAME] is read, and its types refused one by one (test-config-consumers) */
}

static void
test_syntax(void)
{
	pm_test_config_assert_load_error("[Daemon]\nnonsense\n",
			  "test.conf:2: nonsense: not a [GROUP] header, a KEY=VALUE line or a # "
			  "comment");
	assert_load_error_prefix("ReleaseOnStop=all\n[Daemon]\n",
				 "test.conf:1: ReleaseOnStop=all: outside of any group");
	assert_load_error_prefix("[Daemon]\n; ini comment\n", "test.conf:2: ; ini comment: not");
	assert_load_error_prefix("[Daemon]\nReleaseOnStop[de]=all\n",
				 "test.conf:2: ReleaseOnStop[de]=: localized keys");
	assert_load_error_prefix("[Daemon]\n=all\n", "test.conf:2: =all: not a [GROUP]");
	/* control characters are not echoed raw */
	assert_load_error_prefix("[Daemon]\n\x1b[31mred\n", "test.conf:2: ?[31mred: not");
}

/* the key-file syntax portmapd.conf shares with GKeyFile: whitespace around lines, keys and
 * values; the last assignment of a key wins; a group given twice in one file is one group;
 * '#' only starts a comment at the start of a line */
static void
test_key_file_syntax(void)
{
	g_autoptr(PmConfig) config = pm_test_config_load_ok("  [Provider rfc]  \r\n"
					     "Type = natpmp\n"
					     "\tLifetime\t=\t60   \n"
					     "[Mapping m]\n"
					     "InternalPort=1000\n"
					     "Protocols=tcp\n"
					     "  # a comment\n"
					     "\n"
					     "[Provider rfc]\n"
					     "Lifetime=120\n"
					     "Gateway=10.2.0.1\n"
					     "[Mapping m]\n"
					     "InternalPort=2000\n");
	const PmProviderConfig *provider = pm_config_find_provider(config, "rfc");
	const PmMappingConfig *mapping = pm_config_find_mapping(config, "m");

	g_assert_cmpuint(config->providers->len, ==, 1);
	g_assert_cmpuint(config->mappings->len, ==, 1);
	g_assert_nonnull(provider);
	g_assert_true(provider->klass == &pm_natpmp_provider_class);
	g_assert_cmpuint(pm_natpmp_config(provider)->lifetime, ==, 120);
	g_assert_cmpstr(pm_natpmp_config(provider)->gateway, ==, "10.2.0.1");
	g_assert_nonnull(mapping);
	g_assert_cmpuint(mapping->internal_port, ==, 2000);
	g_assert_cmpuint(mapping->protocols, ==, PM_PROTOCOL_TCP);
	g_assert_null(pm_config_find_mapping(config, "n"));

	/* the value is everything after the '=' and its whitespace: this is not a port */
	assert_load_error_prefix(PROVIDER_RFC "[Mapping m]\nInternalPort=1000\n"
					      "ExternalPort=3000 # not a comment\n",
				 "test.conf:5: [Mapping m] ExternalPort=3000 # not a comment: ");
	/* the line of a message is the assignment that won */
	assert_load_error_prefix(PROVIDER_RFC "Lifetime=60\n[Mapping m]\nInternalPort=1\n"
					      "[Provider rfc]\nLifetime=soon\n",
				 "test.conf:7: [Provider rfc] Lifetime=soon: ");
}

/* GKeyFile's escapes reach the values portmapd parses; spaces around a value do not */
static void
test_key_file_escapes(void)
{
	g_autoptr(PmConfig) config = pm_test_config_load_ok("[Daemon]\n"
					     "ReconcileInterval=\\s1min\\t30s\\n\n"
					     "ReleaseOnStop=  all   \n" PROVIDER_RFC
					     "[Mapping a]\n"
					     "InternalPort=1\n"
					     "Protocols=udp\\ntcp\n"
					     "[Mapping b]\n"
					     "InternalPort=2\n"
					     "Protocols=tcp\\r\\tudp\n");

	/* whitespace escapes, taken by the duration and list parsers as whitespace */
	g_assert_cmpuint(config->daemon.reconcile_interval_usec, ==, 90 * G_USEC_PER_SEC);
	g_assert_cmpuint(pm_config_find_mapping(config, "a")->protocols,
			 ==,
			 PM_PROTOCOL_TCP | PM_PROTOCOL_UDP);
	g_assert_cmpuint(pm_config_find_mapping(config, "b")->protocols,
			 ==,
			 PM_PROTOCOL_TCP | PM_PROTOCOL_UDP);
	/* spaces written as such around the value are not part of it... */
	g_assert_cmpint(config->daemon.release_on_stop, ==, PM_RELEASE_ON_STOP_ALL);
	/* ...and "\s" keeps one, at either end: the policy keyword is then another word */
	pm_test_config_assert_load_error("[Daemon]\nReleaseOnStop=\\sall\n",
			  "test.conf:2: [Daemon] ReleaseOnStop=\\sall: unknown policy; accepted "
			  "values: transient, all, none");
	assert_load_error_prefix("[Daemon]\nReleaseOnStop=all\\s  \n",
				 "test.conf:2: [Daemon] ReleaseOnStop=all\\s: unknown policy; ");
	/* "\\" is one backslash, and what follows it is no escape */
	assert_load_error_prefix(PROVIDER_RFC "[Mapping m]\nInternalPort=1\nConsumers=a\\\\b\n",
				 "test.conf:5: [Mapping m] Consumers=a\\\\b: Consumer a\\b is not "
				 "defined; ");
	assert_load_error_prefix(PROVIDER_RFC "[Mapping m]\nInternalPort=1\nConsumers=\\\\s\n",
				 "test.conf:5: [Mapping m] Consumers=\\\\s: Consumer \\s is not "
				 "defined; ");
	assert_load_error_prefix(PROVIDER_RFC "[Mapping m]\nInternalPort=1\nConsumers=\\sqbt\n",
				 "test.conf:5: [Mapping m] Consumers=\\sqbt: Consumer qbt is not "
				 "defined; ");
}

/*
 * an invalid escape is an error of its value, located at the assignment that won: a value
 * replaced by a later file is never read, like any other replaced value
 */
static void
test_key_file_bad_escapes(void)
{
	pm_test_config_assert_load_error("[Daemon]\n# x\nReleaseOnStop=a\\ll\n",
			  "test.conf:3: [Daemon] ReleaseOnStop=a\\ll: invalid escape sequence; "
			  "accepted values: text in which a backslash starts one of the escapes "
			  "\\s (space), \\n (newline), \\t (tab), \\r (carriage return) or \\\\ "
			  "(backslash)");
	assert_load_error_prefix("[Daemon]\nReleaseOnStop=all\\\n",
				 "test.conf:2: [Daemon] ReleaseOnStop=all\\: invalid escape");
	/* GLib 2.74 warns about its own GError on this one unless it is caught first */
	assert_load_error_prefix("[Daemon]\nReleaseOnStop=a\\x\\\n",
				 "test.conf:2: [Daemon] ReleaseOnStop=a\\x\\: invalid escape");
	assert_load_error_prefix("[Daemon]\nReleaseOnStop=\\\\\\\n",
				 "test.conf:2: [Daemon] ReleaseOnStop=\\\\\\: invalid escape");
	/* "\;" separates GKeyFile lists; portmapd's lists are its own */
	assert_load_error_prefix(PROVIDER_RFC "[Mapping m]\nInternalPort=1\nProtocols=tcp\\;udp\n",
				 "test.conf:5: [Mapping m] Protocols=tcp\\;udp: invalid escape");
	/* even in a key that is otherwise ignored, and in the last of two assignments */
	assert_load_error_prefix("[Provider rfc]\nType=nat\\pmp\n",
				 "test.conf:2: [Provider rfc] Type=nat\\pmp: invalid escape");
	assert_load_error_prefix("[Provider rfc]\nType=natpmp\nLifetime=60\nLifetime=6\\0\n",
				 "test.conf:4: [Provider rfc] Lifetime=6\\0: invalid escape");
	{
		g_autoptr(PmConfig) config = pm_test_config_load_ok("[Provider rfc]\nType=natpmp\n"
						     "Lifetime=6\\0\nLifetime=60\n");
		g_assert_cmpuint(pm_natpmp_config(pm_config_find_provider(config, "rfc"))->lifetime, ==, 60);
	}
}

/*
 * every error names its file and line; those about a value name the group, the key and the
 * value as written; each is one line
 */
static void
test_errors_located(void)
{
	const struct {
		const char *text;
		const char *prefix;
	} cases[] = {
	    /* what GKeyFile refuses */
	    {"# c\n[Daemon]\nnonsense\n", "test.conf:3: nonsense: not a [GROUP] header, a "},
	    {"\n\nKey=1\n[Daemon]\n", "test.conf:3: Key=1: outside of any group"},
	    {"[Daemon]\n\n[Mapping x\n", "test.conf:3: [Mapping x: a group header is "},
	    {"[Daemon]\n[Daemon]x\n", "test.conf:2: [Daemon]x: a group header is "},
	    {"[Daemon]\n\n[Mapping a[b]\n", "test.conf:3: [Mapping a[b]: the name has a "},
	    {"[Daemon]\n[Mapping \x01]\n", "test.conf:2: [Mapping ?]: the name has a "},
	    {"[Daemon]\n[]\n", "test.conf:2: []: unknown group; accepted: [Daemon], "},
	    {"[Daemon]\n\nFoo]=1\n", "test.conf:3: Foo]=1: a key cannot contain [ or ]"},
	    {"[Daemon]\nFoo[de=1\n", "test.conf:2: Foo[de=1: a key cannot contain [ or ]"},
	    {"[Daemon]\n=1\n", "test.conf:2: =1: not a [GROUP] header, a KEY=VALUE line "},
	    {"[Daemon]\n# x\nEncoding=latin1\n", "test.conf:3: Encoding=latin1: "},
	    {"[Daemon]\r\nReleaseOnStop=all\r\nbad\r\n", "test.conf:3: bad: not a [GROUP]"},
	    /* what GKeyFile takes and portmapd does not */
	    {"[Daemon]\n\n[Foo]\n", "test.conf:3: [Foo]: unknown group; accepted: "},
	    {"[Daemon]\n[Provider]\n", "test.conf:2: [Provider]: a name is required"},
	    {"[Daemon]\n[Provider  a]\n", "test.conf:2: [Provider  a]: exactly one space "},
	    {"[Daemon]\n[Wireguard]\n", "test.conf:2: [Wireguard]: unknown group; accepted: "},
	    {"[Daemon]\nA=1\nReleaseOnStop[de]=all\n",
	     "test.conf:3: ReleaseOnStop[de]=: localized keys are not supported"},
	    {"[Daemon]\nEncoding=UTF-8\n", "test.conf:2: [Daemon] Encoding=UTF-8: unknown key; "},
	    {"[Daemon]\nReleaseOnStop=a\\x\n",
	     "test.conf:2: [Daemon] ReleaseOnStop=a\\x: invalid escape sequence; accepted "
	     "values: "},
	    /* values */
	    {"[Daemon]\nReleaseOnStop=some\n", "test.conf:2: [Daemon] ReleaseOnStop=some: "},
	    {"[Daemon]\nMaxMappingsPerUser=x\n", "test.conf:2: [Daemon] MaxMappingsPerUser=x: "},
	    {"[Daemon]\nReconcileInterval=1ms\n", "test.conf:2: [Daemon] ReconcileInterval=1ms: "},
	    {"[Daemon]\nDefaultProvider=x\n", "test.conf:2: [Daemon] DefaultProvider=x: no such "},
	    {"[Daemon]\nX=1\n", "test.conf:2: [Daemon] X=1: unknown key; accepted keys: "},
	    {"\n[Provider a]\n", "test.conf:2: [Provider a]: Type= is required"},
	    {"[Provider a]\nType=upnp\n", "test.conf:2: [Provider a] Type=upnp: unknown "},
	    {"[Provider a]\nType=pia\n", "test.conf:1: [Provider a]: Username= is required"},
	    {PROVIDER_RFC "Gateway=x\n", "test.conf:3: [Provider rfc] Gateway=x: not an IPv4 "},
	    {PROVIDER_RFC "SamePort=2\n", "test.conf:3: [Provider rfc] SamePort=2: not a bool"},
	    {PROVIDER_RFC "Lifetime=0\n", "test.conf:3: [Provider rfc] Lifetime=0: out of "},
	    {PROVIDER_RFC "Lifetime=1ms\n", "test.conf:3: [Provider rfc] Lifetime=1ms: not a "},
	    {PROVIDER_RFC "RefreshInterval=1ms\n",
	     "test.conf:3: [Provider rfc] RefreshInterval=1ms: too short; "},
	    {PROVIDER_RFC "Port=0\n", "test.conf:3: [Provider rfc] Port=0: not a port number"},
	    {PROVIDER_RFC "URL=x\n", "test.conf:3: [Provider rfc] URL=x: unknown key; "},
	    {PROVIDER_RFC "[Mapping m]\n", "test.conf:3: [Mapping m]: InternalPort= is required"},
	    {"[Mapping m]\nInternalPort=1\n", "test.conf:1: [Mapping m]: Provider= is required"},
	    {PROVIDER_RFC "[Mapping m]\nInternalPort=0\n",
	     "test.conf:4: [Mapping m] InternalPort=0: not a port number"},
	    {PROVIDER_RFC "[Mapping m]\nInternalPort=1\nExternalPort=x\n",
	     "test.conf:5: [Mapping m] ExternalPort=x: not a port number"},
	    {PROVIDER_RFC "[Mapping m]\nInternalPort=1\nProtocols=x\n",
	     "test.conf:5: [Mapping m] Protocols=x: not a list of protocols"},
	    {PROVIDER_RFC "[Mapping m]\nInternalPort=1\nLifetime=x\n",
	     "test.conf:5: [Mapping m] Lifetime=x: not a duration"},
	    {PROVIDER_RFC "[Mapping m]\nInternalPort=1\nConsumers=c\n",
	     "test.conf:5: [Mapping m] Consumers=c: Consumer c is not defined"},
	    {PROVIDER_RFC "[Mapping m]\nInternalPort=1\nProvider=x\n",
	     "test.conf:5: [Mapping m] Provider=x: no such provider"},
	    {PROVIDER_RFC "[Mapping m]\nInternalPort=1\nX=\n",
	     "test.conf:5: [Mapping m] X=: unknown key; accepted keys: "},
	    {PROVIDER_RFC "[Mapping a]\nInternalPort=1\n[Mapping b]\nInternalPort=1\n",
	     "test.conf:6: [Mapping b] InternalPort=1: tcp port 1 of provider rfc is already "
	     "mapped by [Mapping a] (test.conf:4)"},
	    {"[Provider vpn]\nType=natpmp\nSamePort=yes\n[Mapping a]\n[Mapping b]\n",
	     "test.conf:5: [Mapping b] Protocols=tcp udp (the default): provider vpn has "
	     "SamePort=yes"},
	};

	for (guint i = 0; i < G_N_ELEMENTS(cases); i++)
		assert_load_error_prefix(cases[i].text, cases[i].prefix);
}

/* the line of a syntax error is exact wherever it is, however long the file */
static void
test_syntax_error_line(void)
{
	const char *bad_lines[] = {"oops", "Key=1", "[Mapping x", "Foo]=1", "[Mapping a[b]"};
	g_autoptr(GString) valid = g_string_new(NULL);
	guint valid_lines;

	for (guint i = 0; i < 40; i++) {
		g_string_append_printf(valid,
				       "# mapping %u\n"
				       "[Mapping m%u]\n"
				       "  InternalPort = %u\n"
				       "\n",
				       i,
				       i,
				       1000 + i);
	}
	valid_lines = 160;

	for (guint b = 0; b < G_N_ELEMENTS(bad_lines); b++) {
		/* "Key=1" is only an error before the first group */
		guint last = g_strcmp0(bad_lines[b], "Key=1") == 0 ? 1 : valid_lines + 1;

		for (guint lineno = 1; lineno <= last; lineno++) {
			g_autoptr(GString) text = g_string_new(PROVIDER_RFC);
			g_auto(GStrv) lines = g_strsplit(valid->str, "\n", -1);
			g_autofree char *prefix = NULL;

			/* the provider is above the mappings; the bad line goes before
			 * everything, or after line @lineno - 1 of the mappings */
			if (lineno == 1)
				g_string_prepend(text, "\n");
			for (guint i = 0; lines[i] != NULL && i < valid_lines; i++) {
				if (i + 1 == lineno && lineno > 1)
					g_string_append_printf(text, "%s\n", bad_lines[b]);
				g_string_append_printf(text, "%s\n", lines[i]);
			}
			if (lineno == valid_lines + 1)
				g_string_append(text, bad_lines[b]);
			if (lineno == 1)
				g_string_prepend(text, bad_lines[b]);
			prefix = g_strdup_printf("test.conf:%u: %s: ",
						 lineno == 1 ? 1 : lineno + 2,
						 bad_lines[b]);
			assert_load_error_prefix(text->str, prefix);
		}
	}
}

/* --print-config prints no escapes: every value it prints is a name, a number, an address
 * or a keyword; a configuration written with escapes prints as one without, equal to it */
static void
test_round_trip_escapes(void)
{
	g_autoptr(PmConfig) config = pm_test_config_load_ok("[Daemon]\n"
					     "ReconcileInterval=\\s2min\\t5s\\n\n"
					     "[Provider rfc]\n"
					     "Type=natpmp\n"
					     "Lifetime=\\t1h \n"
					     "[Mapping m]\n"
					     "InternalPort=1\n"
					     "Protocols=tcp\\nudp\n"
					     "Consumers=\\s\\t\n");
	g_autofree char *data = pm_config_to_data(config);
	g_autoptr(PmConfig) again = pm_test_config_load_ok(data);
	g_autofree char *data2 = pm_config_to_data(again);

	g_assert_null(strchr(data, '\\'));
	g_assert_true(config_equal(config, again));
	g_assert_cmpstr(data, ==, data2);
	g_assert_nonnull(strstr(data, "\nReconcileInterval=125s\n"));
	g_assert_nonnull(strstr(data, "\nLifetime=3600\n"));
	g_assert_nonnull(strstr(data, "\nProtocols=tcp udp\n"));
}

/*
 * how portmapd.conf(5) says an Exec= value will become a command: GKeyFile's unescaping
 * first, then shell-style splitting with g_shell_parse_argv(); the examples of the page
 */
static void
test_exec_unescaping_documented(void)
{
	const struct {
		const char *line;
		const char *argv; /* joined with '|' */
	} cases[] = {
	    {"Exec=/usr/bin/logger -t portmap \"port changed\"",
	     "/usr/bin/logger|-t|portmap|port changed"},
	    {"Exec=/usr/bin/printf '%s\\\\n' \"two words\"", "/usr/bin/printf|%s\\n|two words"},
	    {"Exec=/usr/local/bin/hook C:\\\\\\\\temp it\\\\'s", "/usr/local/bin/hook|C:\\temp|it's"},
	    {"Exec=/usr/local/bin/hook \"a\\sb\" a\\sb", "/usr/local/bin/hook|a b|a|b"},
	};

	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autoptr(GKeyFile) keyfile = g_key_file_new();
		g_autoptr(GError) error = NULL;
		g_autofree char *text = g_strdup_printf("[Consumer x]\n%s\n", cases[i].line);
		g_autofree char *value = NULL;
		g_autofree char *joined = NULL;
		g_auto(GStrv) argv = NULL;

		g_key_file_load_from_data(keyfile, text, -1, G_KEY_FILE_NONE, &error);
		g_assert_no_error(error);
		value = g_key_file_get_string(keyfile, "Consumer x", "Exec", &error);
		g_assert_no_error(error);
		g_shell_parse_argv(value, NULL, &argv, &error);
		g_assert_no_error(error);
		joined = g_strjoinv("|", argv);
		g_assert_cmpstr(joined, ==, cases[i].argv);
	}
}

static void
test_unknown_key(void)
{
	pm_test_config_assert_load_error(PROVIDER_RFC "Foo=bar\n",
			  "test.conf:3: [Provider rfc] Foo=bar: unknown key; accepted keys: "
			  "Type, Gateway, SamePort, Lifetime, RefreshInterval, Port");
	pm_test_config_assert_load_error("[Daemon]\nDefaultprovider=x\n",
			  "test.conf:2: [Daemon] Defaultprovider=x: unknown key; accepted keys: "
			  "DefaultProvider, ReleaseOnStop, MaxMappingsPerUser, ReconcileInterval");
	pm_test_config_assert_load_error(PROVIDER_RFC "[Mapping m]\nInternalPort=1\nURL=http://x\n",
			  "test.conf:5: [Mapping m] URL=http://x: unknown key; accepted keys: "
			  "Provider, Protocols, InternalPort, ExternalPort, Lifetime, Consumers");
}

static void
test_provider_type(void)
{
	pm_test_config_assert_load_error("[Daemon]\n\n[Provider vpn]\nGateway=10.2.0.1\n",
			  "test.conf:3: [Provider vpn]: Type= is required: set Type=natpmp or "
			  "Type=natpmp-http or Type=pia");
	pm_test_config_assert_load_error("[Provider vpn]\nType=upnp\n",
			  "test.conf:2: [Provider vpn] Type=upnp: unknown provider type; "
			  "accepted values: natpmp, natpmp-http, pia");
	pm_test_config_assert_load_error("[Provider vpn]\nType=pia\n",
			  "test.conf:1: [Provider vpn]: Username= is required: set PIA's "
			  "Username= with PasswordCredential= or PasswordFile=, or "
			  "TokenCredential=");
	/* case matters for keywords */
	assert_load_error_prefix("[Provider vpn]\nType=NATPMP\n",
				 "test.conf:2: [Provider vpn] Type=NATPMP: unknown provider type");
}

static void
test_provider_values(void)
{
	pm_test_config_assert_load_error("[Provider vpn]\nType=natpmp\nGateway=fe80::1\n",
			  "test.conf:3: [Provider vpn] Gateway=fe80::1: not an IPv4 address; "
			  "accepted values: auto (the default route's gateway), or a dotted IPv4 "
			  "address such as 10.2.0.1");
	assert_load_error_prefix("[Provider vpn]\nType=natpmp\nGateway=router.lan\n",
				 "test.conf:3: [Provider vpn] Gateway=router.lan: not an IPv4");
	assert_load_error_prefix("[Provider vpn]\nType=natpmp\nGateway=10.2.0\n",
				 "test.conf:3: [Provider vpn] Gateway=10.2.0: not an IPv4");
	assert_load_error_prefix("[Provider vpn]\nType=natpmp\nGateway=\n",
				 "test.conf:3: [Provider vpn] Gateway=: not an IPv4");
	assert_load_error_prefix("[Provider vpn]\nType=natpmp\nSamePort=maybe\n",
				 "test.conf:3: [Provider vpn] SamePort=maybe: not a boolean; "
				 "accepted values: yes, no, true, false, on, off, 1, 0");
	assert_load_error_prefix("[Provider vpn]\nType=natpmp\nLifetime=0\n",
				 "test.conf:3: [Provider vpn] Lifetime=0: out of range; "
				 "accepted values: a whole number of seconds from 1 to 4294967295");
	assert_load_error_prefix("[Provider vpn]\nType=natpmp\nLifetime=4294967296\n",
				 "test.conf:3: [Provider vpn] Lifetime=4294967296: out of range");
	assert_load_error_prefix("[Provider vpn]\nType=natpmp\nLifetime=1500ms\n",
				 "test.conf:3: [Provider vpn] Lifetime=1500ms: not a whole number "
				 "of seconds");
	assert_load_error_prefix("[Provider vpn]\nType=natpmp\nLifetime=long\n",
				 "test.conf:3: [Provider vpn] Lifetime=long: not a duration");
	assert_load_error_prefix("[Provider vpn]\nType=natpmp\nRefreshInterval=10ms\n",
				 "test.conf:3: [Provider vpn] RefreshInterval=10ms: too short");
	assert_load_error_prefix("[Provider vpn]\nType=natpmp\nPort=0\n",
				 "test.conf:3: [Provider vpn] Port=0: not a port number; "
				 "accepted values: 1 to 65535");
	{
		g_autoptr(PmConfig) config = pm_test_config_load_ok("[Provider vpn]\nType=natpmp\n"
						     "Lifetime=4294967295\nRefreshInterval=0\n");
		const PmProviderConfig *vpn = pm_config_find_provider(config, "vpn");
		g_assert_cmpuint(pm_natpmp_config(vpn)->lifetime, ==, G_MAXUINT32);
		g_assert_cmpuint(pm_natpmp_config(vpn)->refresh_interval_usec, ==, 0);
	}
}

static void
test_mapping_values(void)
{
	pm_test_config_assert_load_error(PROVIDER_RFC "[Mapping m]\nInternalPort=0\n",
			  "test.conf:4: [Mapping m] InternalPort=0: not a port number; "
			  "accepted values: 1 to 65535");
	assert_load_error_prefix(PROVIDER_RFC "[Mapping m]\nInternalPort=65536\n",
				 "test.conf:4: [Mapping m] InternalPort=65536: not a port number");
	assert_load_error_prefix(PROVIDER_RFC "[Mapping m]\nInternalPort=abc\n",
				 "test.conf:4: [Mapping m] InternalPort=abc: not a port number");
	assert_load_error_prefix(PROVIDER_RFC "[Mapping m]\nInternalPort=1\nExternalPort=0\n",
				 "test.conf:5: [Mapping m] ExternalPort=0: not a port number");
	pm_test_config_assert_load_error(PROVIDER_RFC "[Mapping m]\nInternalPort=1\nProtocols=\n",
			  "test.conf:5: [Mapping m] Protocols=: empty; accepted values: tcp, "
			  "udp, both, several separated by commas or spaces");
	assert_load_error_prefix(PROVIDER_RFC "[Mapping m]\nInternalPort=1\nProtocols=tcp,sctp\n",
				 "test.conf:5: [Mapping m] Protocols=tcp,sctp: not a list of "
				 "protocols");
	assert_load_error_prefix(PROVIDER_RFC "[Mapping m]\nInternalPort=1\nLifetime=1.5s\n",
				 "test.conf:5: [Mapping m] Lifetime=1.5s: not a duration");
	pm_test_config_assert_load_error(PROVIDER_RFC "[Mapping m]\nInternalPort=1\nConsumers=qbt, portfile\n",
			  "test.conf:5: [Mapping m] Consumers=qbt, portfile: Consumer qbt is not "
			  "defined; accepted values: none: no [Consumer NAME] is defined");
	pm_test_config_assert_load_error("[Provider a]\nType=natpmp\n[Mapping m]\nInternalPort=1\nProvider=b\n",
			  "test.conf:5: [Mapping m] Provider=b: no such provider; accepted "
			  "values: a");
	{
		g_autoptr(PmConfig) config = pm_test_config_load_ok(PROVIDER_RFC "[Mapping m]\nInternalPort=1\n"
								  "Protocols=Both\nLifetime=0\n");
		const PmMappingConfig *m = pm_config_find_mapping(config, "m");
		g_assert_cmpuint(m->protocols, ==, PM_PROTOCOL_TCP | PM_PROTOCOL_UDP);
		g_assert_cmpuint(m->lifetime, ==, 0);
	}
}

static void
test_missing_internal_port(void)
{
	pm_test_config_assert_load_error(PROVIDER_RFC "\n[Mapping web]\nProtocols=tcp\n",
			  "test.conf:4: [Mapping web]: InternalPort= is required: set the port "
			  "the application listens on (provider rfc has SamePort=no)");
}

static void
test_same_port(void)
{
	g_autoptr(PmConfig) config = pm_test_config_load_ok("[Provider proton]\n"
					     "Type=natpmp\n"
					     "Gateway=10.2.0.1\n"
					     "SamePort=yes\n"
					     "[Mapping torrent]\n"
					     "InternalPort=51413\n"
					     "Protocols=udp\n"
					     "[Mapping other]\n"
					     "Protocols=tcp\n");
	const PmMappingConfig *torrent = pm_config_find_mapping(config, "torrent");
	const PmMappingConfig *other = pm_config_find_mapping(config, "other");

	g_assert_cmpuint(torrent->internal_port, ==, 0);
	g_assert_cmpuint(other->internal_port, ==, 0);
	g_assert_cmpuint(config->warnings->len, ==, 1);
	g_assert_cmpstr(g_ptr_array_index(config->warnings, 0),
			==,
			"test.conf:6: [Mapping torrent] InternalPort=51413: ignored: provider "
			"proton has SamePort=yes, so the internal port is the external port the "
			"gateway grants; remove InternalPort=");
	/* internal port 0, but one udp and one tcp: two leases */
	g_assert_cmpuint(config->mappings->len, ==, 2);
}

#define PROVIDER_VPN                                                                             \
	"[Provider vpn]\n"                                                                       \
	"Type=natpmp\n"                                                                          \
	"SamePort=yes\n"

/* at a SamePort=yes provider every mapping asks for internal port 0: one per protocol */
static void
test_same_port_one_per_protocol(void)
{
	/* the whole message: both mappings, the provider, why, and what is left */
	pm_test_config_assert_load_error(PROVIDER_VPN "[Mapping a]\nProvider=vpn\nProtocols=tcp\n"
				       "[Mapping b]\nProvider=vpn\nProtocols=tcp\n",
			  "test.conf:9: [Mapping b] Protocols=tcp: provider vpn has SamePort=yes: "
			  "every mapping asks the gateway for internal port 0, so only one "
			  "mapping per protocol can use it; [Mapping a] (test.conf:6) already "
			  "uses tcp; accepted values: udp (not used by another mapping of "
			  "provider vpn), or another provider for this mapping");
	/* an overlap of one protocol is enough; with both taken nothing is left */
	assert_load_error_prefix(PROVIDER_VPN "[Mapping a]\nProtocols=both\n"
					      "[Mapping b]\nProtocols=udp\n",
				 "test.conf:7: [Mapping b] Protocols=udp: provider vpn has "
				 "SamePort=yes: every mapping asks the gateway for internal port "
				 "0, so only one mapping per protocol can use it; [Mapping a] "
				 "(test.conf:5) already uses udp; accepted values: none at "
				 "provider vpn, whose tcp and udp are taken");
	assert_load_error_prefix(PROVIDER_VPN "[Mapping a]\nProtocols=udp\n"
					      "[Mapping b]\nProtocols=tcp,udp\n",
				 "test.conf:7: [Mapping b] Protocols=tcp,udp: provider vpn has "
				 "SamePort=yes");
	/* without Protocols= (both, the default): the group's header, and the default */
	pm_test_config_assert_load_error(PROVIDER_VPN "\n[Mapping a]\nProtocols=tcp\n\n[Mapping b]\n",
			  "test.conf:8: [Mapping b] Protocols=tcp udp (the default): provider vpn "
			  "has SamePort=yes: every mapping asks the gateway for internal port 0, "
			  "so only one mapping per protocol can use it; [Mapping a] (test.conf:6) "
			  "already uses tcp; accepted values: udp (not used by another mapping of "
			  "provider vpn), or another provider for this mapping");
	assert_load_error_prefix(PROVIDER_VPN "[Mapping a]\n[Mapping b]\nProtocols=udp\n",
				 "test.conf:6: [Mapping b] Protocols=udp: provider vpn has "
				 "SamePort=yes: every mapping asks the gateway for internal port "
				 "0, so only one mapping per protocol can use it; [Mapping a] "
				 "(test.conf:4) already uses udp; accepted values: none");
	/* the provider through [Daemon] DefaultProvider=, for one or both of them */
	assert_load_error_prefix(PROVIDER_RFC PROVIDER_VPN "[Daemon]\nDefaultProvider=vpn\n"
							   "[Mapping a]\nProvider=vpn\n"
							   "Protocols=tcp\n"
							   "[Mapping b]\nProtocols=tcp\n",
				 "test.conf:12: [Mapping b] Protocols=tcp: provider vpn has "
				 "SamePort=yes: every mapping asks the gateway for internal port "
				 "0, so only one mapping per protocol can use it; [Mapping a] "
				 "(test.conf:10) already uses tcp");
	/* a drop-in's mapping against the main file's is reported in the drop-in */
	{
		g_autoptr(GError) error = NULL;
		g_autofree char *dir = g_dir_make_tmp("portmap-config-XXXXXX", &error);
		g_autofree char *main_path = NULL;
		g_autofree char *dropins = NULL;
		g_autofree char *expected = NULL;
		g_autoptr(PmConfig) config = NULL;

		g_assert_no_error(error);
		main_path = g_build_filename(dir, "portmapd.conf", NULL);
		dropins = g_build_filename(dir, "portmapd.conf.d", NULL);
		g_assert_cmpint(g_mkdir(dropins, 0700), ==, 0);
		write_file(dir, "portmapd.conf", PROVIDER_VPN "[Mapping a]\nProtocols=tcp\n");
		write_file(dropins, "50-b.conf", "# b\n[Mapping b]\nProtocols=tcp\n");
		config = pm_config_load(main_path, &error);
		g_assert_null(config);
		g_assert_error(error, PM_ERROR, PM_ERROR_INVALID_CONFIGURATION);
		expected = g_strdup_printf("%s/50-b.conf:3: [Mapping b] Protocols=tcp: provider "
					   "vpn has SamePort=yes: every mapping asks the gateway "
					   "for internal port 0, so only one mapping per protocol "
					   "can use it; [Mapping a] (%s:5) already uses tcp;",
					   dropins,
					   main_path);
		if (!g_str_has_prefix(error->message, expected))
			g_error("message \"%s\" does not start with \"%s\"",
				error->message,
				expected);
		remove_tree(dir);
	}

	/* tcp at one mapping and udp at the other: two leases */
	{
		g_autoptr(PmConfig) config = pm_test_config_load_ok(PROVIDER_VPN "[Mapping a]\nProtocols=tcp\n"
								  "[Mapping b]\nProtocols=udp\n");
		g_assert_cmpuint(config->mappings->len, ==, 2);
		g_assert_cmpuint(config->warnings->len, ==, 0);
	}
	/* the same protocol at two SamePort providers: two gateways */
	{
		g_autoptr(PmConfig) config = pm_test_config_load_ok(PROVIDER_VPN "[Provider vpn2]\nType=natpmp\n"
								  "SamePort=yes\n"
								  "[Mapping a]\nProvider=vpn\n"
								  "[Mapping b]\nProvider=vpn2\n");
		g_assert_cmpuint(config->mappings->len, ==, 2);
	}
	/* a SamePort mapping and an RFC one of the same protocol at different providers */
	{
		g_autoptr(PmConfig) config = pm_test_config_load_ok(PROVIDER_RFC PROVIDER_VPN
						     "[Mapping a]\nProvider=vpn\nProtocols=tcp\n"
						     "[Mapping b]\nProvider=rfc\nProtocols=tcp\n"
						     "InternalPort=80\n");
		g_assert_cmpuint(config->mappings->len, ==, 2);
	}
	/* SamePort=no: the internal ports tell the mappings apart */
	{
		g_autoptr(PmConfig) config = pm_test_config_load_ok("[Provider vpn]\nType=natpmp\nSamePort=no\n"
						     "[Mapping a]\nProtocols=tcp\n"
						     "InternalPort=80\n"
						     "[Mapping b]\nProtocols=tcp\n"
						     "InternalPort=81\n");
		g_assert_cmpuint(config->mappings->len, ==, 2);
	}
}

static void
test_default_provider(void)
{
	/* a single provider is the default */
	{
		g_autoptr(PmConfig) config = pm_test_config_load_ok(PROVIDER_RFC "[Mapping m]\nInternalPort=1\n");
		g_assert_cmpstr(pm_config_get_default_provider(config), ==, "rfc");
		g_assert_cmpstr(pm_config_find_mapping(config, "m")->provider, ==, "rfc");
	}
	/* several, with DefaultProvider= */
	{
		g_autoptr(PmConfig) config = pm_test_config_load_ok("[Provider a]\nType=natpmp\n"
						     "[Provider b]\nType=natpmp\n"
						     "[Mapping m]\nInternalPort=1\n"
						     "[Daemon]\nDefaultProvider=b\n");
		g_assert_cmpstr(pm_config_get_default_provider(config), ==, "b");
		g_assert_cmpstr(pm_config_find_mapping(config, "m")->provider, ==, "b");
	}
	/* several, with Provider= but no default */
	{
		g_autoptr(PmConfig) config = pm_test_config_load_ok("[Provider a]\nType=natpmp\n"
						     "[Provider b]\nType=natpmp\n"
						     "[Mapping m]\nInternalPort=1\nProvider=a\n");
		g_assert_null(pm_config_get_default_provider(config));
	}
	/* several, neither */
	pm_test_config_assert_load_error("[Provider a]\nType=natpmp\n"
			  "[Provider b]\nType=natpmp\n"
			  "[Mapping m]\nInternalPort=1\n",
			  "test.conf:5: [Mapping m]: Provider= is required: several providers "
			  "and no [Daemon] DefaultProvider=: set Provider=");
	/* none at all */
	pm_test_config_assert_load_error("[Mapping m]\nInternalPort=1\n",
			  "test.conf:1: [Mapping m]: Provider= is required: no [Provider NAME] "
			  "is defined: add one");
	/* a default that does not exist */
	pm_test_config_assert_load_error("[Daemon]\nDefaultProvider=c\n"
			  "[Provider a]\nType=natpmp\n"
			  "[Provider b]\nType=natpmp\n",
			  "test.conf:2: [Daemon] DefaultProvider=c: no such provider; accepted "
			  "values: a, b");
	pm_test_config_assert_load_error("[Daemon]\nDefaultProvider=c\n",
			  "test.conf:2: [Daemon] DefaultProvider=c: no such provider; accepted "
			  "values: none: no [Provider NAME] is defined");
	/* no providers and no mappings: fine */
	{
		g_autoptr(PmConfig) config = pm_test_config_load_ok("[Daemon]\n");
		g_assert_null(pm_config_get_default_provider(config));
	}
}

static void
test_conflict(void)
{
	pm_test_config_assert_load_error(PROVIDER_RFC "[Mapping a]\nInternalPort=8080\n"
				       "[Mapping b]\nProtocols=udp tcp\nInternalPort=8080\n",
			  "test.conf:7: [Mapping b] InternalPort=8080: tcp port 8080 of provider "
			  "rfc is already mapped by [Mapping a] (test.conf:4); accepted values: a "
			  "port that no other mapping of provider rfc uses for tcp");
	assert_load_error_prefix(PROVIDER_RFC "[Mapping a]\nProtocols=udp\nInternalPort=53\n"
					      "[Mapping b]\nInternalPort=53\n",
				 "test.conf:7: [Mapping b] InternalPort=53: udp port 53 of "
				 "provider rfc is already mapped by [Mapping a] (test.conf:5)");
	/* different protocols, or different providers, do not conflict */
	{
		g_autoptr(PmConfig) config = pm_test_config_load_ok(PROVIDER_RFC "[Provider vpn]\nType=natpmp\n"
								  "[Mapping a]\nProvider=rfc\n"
								  "Protocols=tcp\nInternalPort=80\n"
								  "[Mapping b]\nProvider=rfc\n"
								  "Protocols=udp\nInternalPort=80\n"
								  "[Mapping c]\nProvider=vpn\n"
								  "InternalPort=80\n");
		g_assert_cmpuint(config->mappings->len, ==, 3);
	}
}

static void
test_dropins(void)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *dir = g_dir_make_tmp("portmap-config-XXXXXX", &error);
	g_autofree char *main_path = NULL;
	g_autofree char *dropin_dir = NULL;
	g_autofree char *path_a = NULL;
	g_autofree char *path_b = NULL;
	g_autofree char *expected = NULL;
	g_autoptr(PmConfig) config = NULL;
	const PmProviderConfig *provider;
	const PmMappingConfig *mapping;

	g_assert_no_error(error);
	main_path = g_build_filename(dir, "portmapd.conf", NULL);
	dropin_dir = g_build_filename(dir, "portmapd.conf.d", NULL);
	path_a = g_build_filename(dropin_dir, "10-a.conf", NULL);
	path_b = g_build_filename(dropin_dir, "20-b.conf", NULL);
	g_assert_cmpint(g_mkdir(dropin_dir, 0700), ==, 0);

	write_file(dir,
		   "portmapd.conf",
		   "[Provider vpn]\n"
		   "Type=natpmp\n"
		   "Gateway=10.2.0.1\n"
		   "Lifetime=60\n"
		   "\n"
		   "[Mapping web]\n"
		   "InternalPort=8080\n");
	/* written first but read second: the order is the name's, not the directory's */
	write_file(dropin_dir,
		   "20-b.conf",
		   "# b wins over a\n"
		   "[Provider vpn]\n"
		   "Lifetime=120\n");
	write_file(dropin_dir,
		   "10-a.conf",
		   "[Provider vpn]\n"
		   "Lifetime=90\n"
		   "RefreshInterval=30s\n"
		   "[Mapping web]\n"
		   "Protocols=tcp\n");
	write_file(dropin_dir, "30-c.conf.disabled", "[Foo]\n");
	write_file(dropin_dir, "README", "not a config file\n");
	write_file(dropin_dir, ".05-hidden.conf", "[Foo]\n");

	config = pm_config_load(main_path, &error);
	g_assert_no_error(error);
	g_assert_nonnull(config);
	provider = pm_config_find_provider(config, "vpn");
	g_assert_cmpstr(pm_natpmp_config(provider)->gateway, ==, "10.2.0.1");
	g_assert_cmpuint(pm_natpmp_config(provider)->lifetime, ==, 120);
	g_assert_cmpuint(pm_natpmp_config(provider)->refresh_interval_usec, ==, 30 * G_USEC_PER_SEC);
	mapping = pm_config_find_mapping(config, "web");
	g_assert_cmpuint(mapping->protocols, ==, PM_PROTOCOL_TCP);
	g_assert_cmpuint(mapping->internal_port, ==, 8080);
	g_assert_cmpuint(config->files->len, ==, 3);
	g_assert_cmpstr(g_ptr_array_index(config->files, 0), ==, main_path);
	g_assert_cmpstr(g_ptr_array_index(config->files, 1), ==, path_a);
	g_assert_cmpstr(g_ptr_array_index(config->files, 2), ==, path_b);
	g_clear_pointer(&config, pm_config_free);

	/* a bad value that won is reported at the drop-in that set it */
	write_file(dropin_dir,
		   "20-b.conf",
		   "# b wins over a\n"
		   "[Provider vpn]\n"
		   "\n"
		   "Lifetime=forever\n");
	config = pm_config_load(main_path, &error);
	g_assert_null(config);
	g_assert_error(error, PM_ERROR, PM_ERROR_INVALID_CONFIGURATION);
	expected =
	    g_strdup_printf("%s:4: [Provider vpn] Lifetime=forever: not a duration;", path_b);
	g_assert_true(g_str_has_prefix(error->message, expected));
	g_clear_error(&error);
	g_clear_pointer(&expected, g_free);

	/* a bad header in a drop-in */
	write_file(dropin_dir, "20-b.conf", "\n[Provider vpn/2]\n");
	config = pm_config_load(main_path, &error);
	g_assert_null(config);
	expected = g_strdup_printf("%s:2: [Provider vpn/2]: ", path_b);
	g_assert_true(g_str_has_prefix(error->message, expected));
	g_clear_error(&error);
	g_clear_pointer(&expected, g_free);

	/* a missing key is reported at the header of the file that first had the group */
	write_file(dropin_dir, "20-b.conf", "[Provider other]\nGateway=10.0.0.1\n");
	config = pm_config_load(main_path, &error);
	g_assert_null(config);
	expected = g_strdup_printf("%s:1: [Provider other]: Type= is required", path_b);
	g_assert_true(g_str_has_prefix(error->message, expected));
	g_clear_error(&error);
	g_clear_pointer(&expected, g_free);

	/* drop-ins without a main file */
	g_assert_cmpint(g_unlink(main_path), ==, 0);
	write_file(dropin_dir, "10-a.conf", "[Provider vpn]\nLifetime=90\n");
	write_file(dropin_dir, "20-b.conf", "[Provider vpn]\nType=natpmp\n");
	config = pm_config_load(main_path, &error);
	g_assert_no_error(error);
	g_assert_cmpuint(config->files->len, ==, 2);
	g_assert_cmpuint(pm_natpmp_config(pm_config_find_provider(config, "vpn"))->lifetime, ==, 90);

	remove_tree(dir);
}

static void
test_missing_main_file(void)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *dir = g_dir_make_tmp("portmap-config-XXXXXX", &error);
	g_autofree char *path = g_build_filename(dir, "portmapd.conf", NULL);
	g_autoptr(PmConfig) config = NULL;
	g_autoptr(PmConfig) empty = pm_config_new_empty();

	g_assert_no_error(error);
	config = pm_config_load(path, &error);
	g_assert_no_error(error);
	g_assert_nonnull(config);
	g_assert_cmpuint(config->files->len, ==, 0);
	g_assert_cmpuint(config->providers->len, ==, 0);
	g_assert_cmpuint(config->mappings->len, ==, 0);
	g_assert_true(config_equal(config, empty));
	g_clear_pointer(&config, pm_config_free);

	/* a main file that cannot be read is an error, not an empty configuration */
	g_assert_cmpint(g_mkdir(path, 0700), ==, 0);
	config = pm_config_load(path, &error);
	g_assert_null(config);
	g_assert_error(error, PM_ERROR, PM_ERROR_INVALID_CONFIGURATION);
	g_clear_error(&error);
	g_rmdir(path);

	if (geteuid() != 0) {
		write_file(dir, "portmapd.conf", "[Daemon]\n");
		g_assert_cmpint(g_chmod(path, 0), ==, 0);
		config = pm_config_load(path, &error);
		g_assert_null(config);
		g_assert_error(error, PM_ERROR, PM_ERROR_INVALID_CONFIGURATION);
		g_clear_error(&error);
	}

	remove_tree(dir);
}

static void
test_round_trip(void)
{
	const char *texts[] = {
	    "",
	    PROVIDER_RFC "[Mapping m]\nInternalPort=1\n",
	    "[Daemon]\n"
	    "DefaultProvider=vpn\n"
	    "ReleaseOnStop=none\n"
	    "MaxMappingsPerUser=17\n"
	    "ReconcileInterval=1min 30s 250ms\n"
	    "[Provider vpn]\n"
	    "Type=natpmp\n"
	    "Gateway=10.2.0.1\n"
	    "SamePort=yes\n"
	    "Lifetime=1d\n"
	    "RefreshInterval=1s 7us\n"
	    "Port=5350\n"
	    "[Provider rfc]\n"
	    "Type=natpmp\n"
	    "RefreshInterval=45s\n"
	    "[Mapping torrent]\n"
	    "InternalPort=51413\n"
	    "[Mapping web]\n"
	    "Provider=rfc\n"
	    "Protocols=tcp\n"
	    "InternalPort=8080\n"
	    "ExternalPort=80\n"
	    "Lifetime=3600\n"
	    "[Mapping dns]\n"
	    "Provider=rfc\n"
	    "Protocols=udp\n"
	    "InternalPort=53\n",
	};

	for (guint i = 0; i < G_N_ELEMENTS(texts); i++) {
		g_autoptr(PmConfig) config = pm_test_config_load_ok(texts[i]);
		g_autofree char *data = pm_config_to_data(config);
		g_autoptr(PmConfig) again = pm_test_config_load_ok(data);
		g_autofree char *data2 = pm_config_to_data(again);

		g_assert_true(config_equal(config, again));
		g_assert_cmpstr(data, ==, data2);
	}
}

static void
test_equal(void)
{
	PmNatpmpConfig natpmp = {g_strdup("10.2.0.1"), TRUE, 60, 0, 5351};
	g_autoptr(PmProviderConfig) a = NULL;
	g_autoptr(PmProviderConfig) b = NULL;
	PmNatpmpConfig *bn = NULL;
	char *no_consumers[] = {NULL};
	char *consumers[] = {"qbt", NULL};
	PmMappingConfig m = {"m", "vpn", PM_PROTOCOL_TCP, 1, 0, 0, NULL};
	PmMappingConfig n = m;

	a = pm_natpmp_config_new("vpn", g_memdup2(&natpmp, sizeof(natpmp)));
	bn = g_memdup2(&natpmp, sizeof(natpmp));
	bn->gateway = g_strdup(natpmp.gateway);
	b = pm_natpmp_config_new("vpn", bn);
	g_assert_true(pm_provider_config_equal(a, b));
	g_clear_pointer(&bn->gateway, g_free);
	g_assert_false(pm_provider_config_equal(a, b));
	bn->gateway = g_strdup(natpmp.gateway);
	bn->refresh_interval_usec = 1;
	g_assert_false(pm_provider_config_equal(a, b));
	bn->refresh_interval_usec = 0;
	bn->port = 1;
	g_assert_false(pm_provider_config_equal(a, b));
	bn->port = 5351;
	g_assert_true(pm_provider_config_equal(a, b));
	g_assert_false(pm_provider_config_equal(a, NULL));
	/* the name is the core's */
	g_clear_pointer(&b->name, g_free);
	b->name = g_strdup("other");
	g_assert_false(pm_provider_config_equal(a, b));

	n.consumers = no_consumers;
	g_assert_true(pm_mapping_config_equal(&m, &n));
	n.consumers = consumers;
	g_assert_false(pm_mapping_config_equal(&m, &n));
	n = m;
	n.protocols |= PM_PROTOCOL_UDP;
	g_assert_false(pm_mapping_config_equal(&m, &n));
	n = m;
	n.external_port = 2;
	g_assert_false(pm_mapping_config_equal(&m, &n));
	n = m;
	n.lifetime = 2;
	g_assert_false(pm_mapping_config_equal(&m, &n));
	n = m;
	n.provider = "other";
	g_assert_false(pm_mapping_config_equal(&m, &n));
}

static void
test_invalid_utf8(void)
{
	const char bad[] = "[Daemon]\nReleaseOnStop=\xff\xfe\n";
	const char nul[] = "[Daemon]\n\nReleaseOnStop=all\0\n";
	g_autoptr(GError) error = NULL;
	g_autoptr(PmConfig) config = NULL;

	config = pm_config_load_from_data(bad, sizeof(bad) - 1, "bad.conf", &error);
	g_assert_null(config);
	g_assert_error(error, PM_ERROR, PM_ERROR_INVALID_CONFIGURATION);
	g_assert_true(g_str_has_prefix(error->message, "bad.conf:2: invalid UTF-8"));
	g_clear_error(&error);

	config = pm_config_load_from_data(nul, sizeof(nul) - 1, "nul.conf", &error);
	g_assert_null(config);
	g_assert_true(g_str_has_prefix(error->message, "nul.conf:3: invalid UTF-8 or a NUL"));
	g_clear_error(&error);

	config = pm_config_load_from_data(NULL, 0, NULL, &error);
	g_assert_no_error(error);
	g_assert_nonnull(config);
}

/* nothing may crash or leak, whatever the bytes; a message is always one line of UTF-8 */
static void
check_arbitrary(const char *data, gsize len)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(PmConfig) config = pm_config_load_from_data(data, len, "fuzz.conf", &error);

	if (config == NULL) {
		g_assert_error(error, PM_ERROR, PM_ERROR_INVALID_CONFIGURATION);
		g_assert_true(g_utf8_validate(error->message, -1, NULL));
		g_assert_null(strchr(error->message, '\n'));
		return;
	}
	g_assert_no_error(error);
	{
		g_autofree char *text = pm_config_to_data(config);
		g_autoptr(PmConfig) again = pm_test_config_load_ok(text);
		g_assert_true(config_equal(config, again));
	}
}

static void
test_garbage(void)
{
	const char *seed_text = "[Daemon]\n"
				"DefaultProvider=vpn\n"
				"ReconcileInterval=1min 30s\n"
				"[Provider vpn]\n"
				"Type=natpmp\n"
				"Gateway=10.2.0.1\n"
				"SamePort=no\n"
				"[Mapping torrent]\n"
				"Protocols=tcp, udp\n"
				"InternalPort=51413\n";
	const char alphabet[] = "[]=#\n \tabcDMPTyesno0123456789,.:/-_é\r\\";
	g_autoptr(GRand) rand = g_rand_new_with_seed(20240601);
	gsize seed_len = strlen(seed_text);

	for (guint i = 0; i < 300; i++) {
		gsize len = (gsize)g_rand_int_range(rand, 0, 200);
		g_autofree char *buf = g_malloc(len + 1);

		/* raw bytes */
		for (gsize j = 0; j < len; j++)
			buf[j] = (char)g_rand_int_range(rand, 0, 256);
		check_arbitrary(buf, len);

		/* text made of the syntax's own characters, more likely to get far */
		for (gsize j = 0; j < len; j++) {
			buf[j] = alphabet[g_rand_int_range(rand, 0, sizeof(alphabet) - 1)];
		}
		check_arbitrary(buf, len);
	}
	for (guint i = 0; i < 300; i++) {
		g_autofree char *buf = g_strdup(seed_text);
		guint flips = (guint)g_rand_int_range(rand, 1, 4);

		/* a valid file with a few bytes changed */
		for (guint j = 0; j < flips; j++) {
			gsize pos = (gsize)g_rand_int_range(rand, 0, (gint32)seed_len);
			buf[pos] = (char)g_rand_int_range(rand, 1, 256);
		}
		check_arbitrary(buf, (gsize)g_rand_int_range(rand, 0, (gint32)seed_len + 1));
	}
}

static void
test_example(void)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *path =
	    g_test_build_filename(G_TEST_DIST, "..", "..", "data", "portmapd.conf.example", NULL);
	g_autoptr(PmConfig) config = NULL;

	if (!g_file_test(path, G_FILE_TEST_EXISTS)) {
		g_test_skip("no example configuration");
		return;
	}
	config = pm_config_load(path, &error);
	g_assert_no_error(error);
	g_assert_nonnull(config);
	g_assert_cmpuint(config->providers->len, ==, 2);
	g_assert_nonnull(pm_config_find_mapping(config, "torrent"));
	g_assert_cmpstr(pm_natpmp_config(pm_config_find_provider(config, "proton"))->gateway, ==, "10.2.0.1");
	g_assert_true(pm_natpmp_config(pm_config_find_provider(config, "proton"))->same_port);
	g_assert_cmpuint(config->warnings->len, ==, 0);
}

#define GATEWAY_UPSTREAM                                                                         \
	"[Provider vpn]\n"                                                                       \
	"Type=natpmp\n"                                                                          \
	"Gateway=10.2.0.1\n"                                                                     \
	"[Gateway]\n"
#define GATEWAY_MINIMAL                                                                          \
	GATEWAY_UPSTREAM "Listen=192.168.1.1\nAllowedNetworks=192.168.1.0/24\nUpstream=vpn\n"   \
			 "Router=nftables\n"

/* [Gateway]: the defaults of design §6, every key read, and each bad value named */
static void
test_gateway(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(PmConfig) minimal = pm_test_config_load(GATEWAY_MINIMAL, &error);
	g_autoptr(PmConfig) full = NULL;
	g_autoptr(PmConfig) again = NULL;
	g_autofree char *text = NULL;
	const PmGatewayConfig *gw;
	const struct {
		const char *text;
		const char *message;
	} bad[] = {
	    {GATEWAY_UPSTREAM "AllowedNetworks=192.168.1.0/24\nUpstream=vpn\nRouter=nftables\n",
	     "test.conf:4: [Gateway] Listen=: required; "},
	    {GATEWAY_UPSTREAM "Listen=192.168.1.1\nUpstream=vpn\nRouter=nftables\n",
	     "test.conf:4: [Gateway] AllowedNetworks=: required; "},
	    {GATEWAY_UPSTREAM "Listen=192.168.1.1\nAllowedNetworks=10.0.0.0/8\nRouter=nftables\n",
	     "test.conf:4: [Gateway] Upstream=: required; "},
	    {GATEWAY_UPSTREAM "Listen=192.168.1.1\nAllowedNetworks=10.0.0.0/8\nUpstream=vpn\n",
	     "test.conf:4: [Gateway] Router=: required; accepted values: nftables, or the NAME of "
	     "a [MikroTik NAME]"},
	    {GATEWAY_MINIMAL "Listen=192.168.1.300\n",
	     "test.conf:9: [Gateway] Listen=192.168.1.300: not a unicast IPv4 address; "},
	    {GATEWAY_MINIMAL "AllowedNetworks=10.0.0.0/33\n",
	     "test.conf:9: [Gateway] AllowedNetworks=10.0.0.0/33: not an IPv4 network; "},
	    {GATEWAY_MINIMAL "Upstream=nope\n",
	     "test.conf:9: [Gateway] Upstream=nope: there is no such provider; "},
	    {GATEWAY_MINIMAL "Router=hex\n", "test.conf:9: [Gateway] Router=hex: no such router; "
	     "accepted values: nftables, or the NAME of a [MikroTik NAME]"},
	    {GATEWAY_MINIMAL "TunnelPorts=2000-1000\n",
	     "test.conf:9: [Gateway] TunnelPorts=2000-1000: not a port range; "},
	    {GATEWAY_MINIMAL "TunnelPorts=0-10\n", "test.conf:9: [Gateway] TunnelPorts=0-10: "},
	    {GATEWAY_MINIMAL "InstanceName=a:b\n",
	     "test.conf:9: [Gateway] InstanceName=a:b: not a valid instance name; "},
	    {GATEWAY_MINIMAL "NftTable=1x\n", "test.conf:9: [Gateway] NftTable=1x: not a valid "},
	    {GATEWAY_MINIMAL "ReconcileInterval=10ms\n",
	     "test.conf:9: [Gateway] ReconcileInterval=10ms: "},
	    {GATEWAY_MINIMAL "MinLifetime=0\n", "test.conf:9: [Gateway] MinLifetime=0: "},
	    {GATEWAY_MINIMAL "MinLifetime=100\nMaxLifetime=50\n",
	     "test.conf:9: [Gateway] MinLifetime=100: MinLifetime= is greater than "},
	    {GATEWAY_MINIMAL "MaxMappingsPerClient=0\n",
	     "test.conf:9: [Gateway] MaxMappingsPerClient=0: not a count; "},
	    {GATEWAY_MINIMAL "RateLimit=fast\n", "test.conf:9: [Gateway] RateLimit=fast: not a "},
	    {GATEWAY_MINIMAL "Foo=1\n", "test.conf:9: [Gateway] Foo=1: unknown key; "},
	    {GATEWAY_MINIMAL "Type=nat\n", "test.conf:9: [Gateway] Type=nat: unknown key; accepted "
				      "keys: Listen, "},
	    {"[Provider web]\nType=natpmp-http\nURL=http://127.0.0.1:8\nTokenFile=/x\n"
	     "[Gateway]\nListen=192.168.1.1\nAllowedNetworks=192.168.1.0/24\nUpstream=web\n"
	     "Router=nftables\n",
	     "test.conf:8: [Gateway] Upstream=web: the provider is not of Type=natpmp; "},
	};

	g_assert_no_error(error);
	gw = minimal->gateway;
	g_assert_nonnull(gw);
	g_assert_cmpuint(gw->listen->len, ==, 1);
	g_assert_cmpuint(gw->allowed->len, ==, 1);
	g_assert_cmpuint(g_array_index(gw->allowed, PmIpv4Network, 0).prefix, ==, 24);
	g_assert_cmpstr(gw->upstream, ==, "vpn");
	g_assert_cmpstr(gw->router, ==, "nftables");
	g_assert_cmpuint(gw->tunnel_first, ==, 1024);
	g_assert_cmpuint(gw->tunnel_last, ==, 65535);
	g_assert_null(gw->instance_name);
	g_assert_cmpstr(gw->nft_table, ==, "portmap");
	g_assert_cmpuint(gw->reconcile_interval_usec, ==, 600 * G_USEC_PER_SEC);
	g_assert_cmpuint(gw->min_lifetime, ==, 60);
	g_assert_cmpuint(gw->max_lifetime, ==, 86400);
	g_assert_cmpuint(gw->max_mappings_per_client, ==, 64);
	g_assert_cmpuint(gw->rate_limit, ==, 200);

	full = pm_test_config_load(GATEWAY_MINIMAL
				   "Listen=192.168.1.1, 192.168.2.1\n"
				   "AllowedNetworks=192.168.1.0/24 192.168.2.7\n"
				   "TunnelPorts=40000-40100\nInstanceName=router.lan\n"
				   "NftTable=pm_test\nReconcileInterval=2s\nMinLifetime=10\n"
				   "MaxLifetime=30\nMaxMappingsPerClient=2\nRateLimit=5\n",
				   &error);
	g_assert_no_error(error);
	gw = full->gateway;
	g_assert_cmpuint(gw->listen->len, ==, 2);
	g_assert_cmpuint(g_array_index(gw->allowed, PmIpv4Network, 1).prefix, ==, 32);
	g_assert_cmpuint(gw->tunnel_first, ==, 40000);
	g_assert_cmpuint(gw->tunnel_last, ==, 40100);
	g_assert_cmpstr(gw->instance_name, ==, "router.lan");
	g_assert_cmpstr(gw->nft_table, ==, "pm_test");
	g_assert_cmpuint(gw->reconcile_interval_usec, ==, 2 * G_USEC_PER_SEC);
	g_assert_cmpuint(gw->min_lifetime, ==, 10);
	g_assert_cmpuint(gw->max_lifetime, ==, 30);
	g_assert_cmpuint(gw->max_mappings_per_client, ==, 2);
	g_assert_cmpuint(gw->rate_limit, ==, 5);
	g_assert_false(pm_gateway_config_equal(minimal->gateway, full->gateway));

	/* --print-config reads back to an equal [Gateway] */
	text = pm_config_to_data(full);
	again = pm_test_config_load(text, &error);
	g_assert_no_error(error);
	g_assert_true(pm_gateway_config_equal(full->gateway, again->gateway));

	for (gsize i = 0; i < G_N_ELEMENTS(bad); i++)
		assert_load_error_prefix(bad[i].text, bad[i].message);
}

#define MIKROTIK_MINIMAL "[MikroTik hap]\nAddress=192.168.88.1\nPasswordFile=/etc/portmap/hap.pass\n"

/* [MikroTik NAME]: defaults, every key, each bad value named, and Router=NAME */
static void
test_mikrotik(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(PmConfig) minimal = NULL;
	g_autoptr(PmConfig) full = NULL;
	g_autoptr(PmConfig) again = NULL;
	g_autofree char *text = NULL;
	const PmMikrotikConfig *mt;
	const guint8 fp[32] = {0x3f, 0x1c, 0x00, 0xff, [31] = 0x9a};
	const struct {
		const char *text;
		const char *message;
	} bad[] = {
	    {"[MikroTik hap]\nPasswordFile=/x\n", "test.conf:1: [MikroTik hap]: Address= is required: the router's API address"},
	    {"[MikroTik hap]\nAddress=192.168.88.1\n",
	     "test.conf:1: [MikroTik hap]: PasswordCredential= is required: set "},
	    {MIKROTIK_MINIMAL "Address=a b:x\n", "test.conf:4: [MikroTik hap] Address=a b:x: not a "
					      "host or host:port; "},
	    {MIKROTIK_MINIMAL "TLS=maybe\n", "test.conf:4: [MikroTik hap] TLS=maybe: "},
	    {MIKROTIK_MINIMAL "CAFile=/ca.pem\n",
	     "test.conf:4: [MikroTik hap] CAFile=/ca.pem: only used with TLS=yes; "},
	    {MIKROTIK_MINIMAL "TLS=yes\nCAFile=/ca.pem\nFingerprint=" "00112233445566778899aabbccddeeff"
	     "00112233445566778899aabbccddeeff\n",
	     "test.conf:6: [MikroTik hap] Fingerprint=0011"},
	    {MIKROTIK_MINIMAL "TLS=yes\nFingerprint=00:11\n",
	     "test.conf:5: [MikroTik hap] Fingerprint=00:11: not a SHA-256 fingerprint; "},
	    {MIKROTIK_MINIMAL "PasswordCredential=x\n",
	     "test.conf:3: [MikroTik hap] PasswordFile=/etc/portmap/hap.pass: PasswordCredential= "
	     "is set too; "},
	    {MIKROTIK_MINIMAL "PoolSize=0\n",
	     "test.conf:4: [MikroTik hap] PoolSize=0: not a connection count; accepted values: 1 "
	     "to 64"},
	    {MIKROTIK_MINIMAL "Timeout=0\n", "test.conf:4: [MikroTik hap] Timeout=0: too short; "},
	    {MIKROTIK_MINIMAL "Secret=1\n", "test.conf:4: [MikroTik hap] Secret=1: unknown key; "},
	    {MIKROTIK_MINIMAL GATEWAY_UPSTREAM
	     "Listen=192.168.1.1\nAllowedNetworks=192.168.1.0/24\nUpstream=vpn\nRouter=hex\n",
	     "test.conf:11: [Gateway] Router=hex: no such router; accepted values: nftables, hap"},
	};

	minimal = pm_test_config_load(MIKROTIK_MINIMAL GATEWAY_UPSTREAM
				      "Listen=192.168.1.1\nAllowedNetworks=192.168.1.0/24\n"
				      "Upstream=vpn\nRouter=hap\n",
				      &error);
	g_assert_no_error(error);
	mt = pm_config_find_mikrotik(minimal, "hap");
	g_assert_nonnull(mt);
	g_assert_true(minimal->gateway->mikrotik == mt);
	g_assert_cmpstr(mt->host, ==, "192.168.88.1");
	g_assert_cmpuint(mt->port, ==, 8728);
	g_assert_false(mt->tls);
	g_assert_false(mt->has_fingerprint);
	g_assert_cmpstr(mt->username, ==, "admin");
	g_assert_cmpstr(mt->password_file, ==, "/etc/portmap/hap.pass");
	g_assert_null(mt->in_interface);
	g_assert_cmpuint(mt->pool_size, ==, 4);
	g_assert_cmpuint(mt->timeout_usec, ==, 10 * G_USEC_PER_SEC);

	full = pm_test_config_load("[MikroTik hap]\nAddress=router.lan\nTLS=yes\n"
				   "Fingerprint=3F:1C:00:FF:0000000000000000000000000000000000000000"
				   "000000000000009a\n"
				   "Username=portmap\nPasswordCredential=hap-pw\nInInterface=wg-vpn\n"
				   "PoolSize=1\nTimeout=2s\n"
				   "[MikroTik other]\nAddress=[fd00::1]:9000\nTLS=yes\n"
				   "CAFile=/etc/portmap/ca.pem\nPasswordCredential=o\n",
				   &error);
	g_assert_no_error(error);
	mt = pm_config_find_mikrotik(full, "hap");
	g_assert_cmpstr(mt->host, ==, "router.lan");
	g_assert_cmpuint(mt->port, ==, 8729);
	g_assert_true(mt->has_fingerprint);
	g_assert_cmpmem(mt->fingerprint, 32, fp, 32);
	g_assert_cmpstr(mt->username, ==, "portmap");
	g_assert_cmpstr(mt->password_credential, ==, "hap-pw");
	g_assert_cmpstr(mt->in_interface, ==, "wg-vpn");
	g_assert_cmpuint(mt->pool_size, ==, 1);
	g_assert_cmpuint(mt->timeout_usec, ==, 2 * G_USEC_PER_SEC);
	mt = pm_config_find_mikrotik(full, "other");
	g_assert_cmpstr(mt->host, ==, "fd00::1");
	g_assert_cmpuint(mt->port, ==, 9000);
	g_assert_cmpstr(mt->ca_file, ==, "/etc/portmap/ca.pem");
	g_assert_null(full->gateway);

	/* --print-config reads back to equal routers, and prints no secret but its source */
	text = pm_config_to_data(full);
	g_assert_nonnull(strstr(text, "PasswordCredential=hap-pw\n"));
	again = pm_test_config_load(text, &error);
	g_assert_no_error(error);
	for (guint i = 0; i < full->mikrotiks->len; i++)
		g_assert_true(pm_mikrotik_config_equal(g_ptr_array_index(full->mikrotiks, i),
						       g_ptr_array_index(again->mikrotiks, i)));
	g_assert_false(pm_mikrotik_config_equal(g_ptr_array_index(full->mikrotiks, 0),
						g_ptr_array_index(full->mikrotiks, 1)));

	for (gsize i = 0; i < G_N_ELEMENTS(bad); i++)
		assert_load_error_prefix(bad[i].text, bad[i].message);
}

/* [STUN]: the replaced module's rules (no servers while enabled, RefreshInterval under
 * 10 s, Timeout not positive), nothing validated when disabled, and --print-config */
static void
test_stun(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(PmConfig) minimal = NULL;
	g_autoptr(PmConfig) full = NULL;
	g_autoptr(PmConfig) disabled = NULL;
	g_autoptr(PmConfig) again = NULL;
	g_autofree char *text = NULL;
	const PmStunServerConfig *server;
	static const struct {
		const char *text;
		const char *message;
	} bad[] = {
	    {"[STUN]\n", "test.conf:1: [STUN]: Servers= is required: Servers must not be empty "
			 "when enabled"},
	    {"[STUN]\nServers=\n", "test.conf:2: [STUN] Servers=: Servers must not be empty "
				   "when enabled"},
	    {"[STUN]\nEnabled=yes\n", "test.conf:1: [STUN]: Servers= is required"},
	    {"[STUN]\nServers=a:1\nRefreshInterval=9s\n",
	     "test.conf:3: [STUN] RefreshInterval=9s: too short"},
	    {"[STUN]\nServers=a:1\nTimeout=0\n", "test.conf:3: [STUN] Timeout=0: too short"},
	    {"[STUN]\nServers=a:1\nTimeout=-1s\n", "test.conf:3: [STUN] Timeout=-1s: "},
	    {"[STUN]\nServers=a:99999\n", "test.conf:2: [STUN] Servers=a:99999: \"a:99999\" is "
					  "not host:port"},
	    {"[STUN]\nServers=a:1,A:1\n", "test.conf:2: [STUN] Servers=a:1,A:1: A:1 is listed "
					  "twice"},
	    {"[STUN]\nServers=a:1\nLocalPort=0\n", "test.conf:3: [STUN] LocalPort=0: "},
	    {"[STUN]\nServers=a:1\nPeers=x\n", "test.conf:3: [STUN] Peers=x: unknown key"},
	    {"[STUN]\nEnabled=no\nPeers=x\n", "test.conf:3: [STUN] Peers=x: unknown key"},
	    /* no class to pick: Type= is a key like any other, and not an accepted one */
	    {"[STUN]\nServers=a:1\nType=x\n", "test.conf:3: [STUN] Type=x: unknown key; accepted "
					      "keys: Enabled, Servers, RefreshInterval, Timeout, "
					      "LocalPort"},
	    {"[STUN]\nEnabled=no\nType=x\n", "test.conf:3: [STUN] Type=x: unknown key"},
	    {"[STUN]\nEnabled=maybe\n", "test.conf:2: [STUN] Enabled=maybe: "},
	};

	minimal = pm_test_config_load("[STUN]\nServers=stun.example.net\n", &error);
	g_assert_no_error(error);
	g_assert_true(minimal->stun->enabled);
	g_assert_cmpuint(minimal->stun->servers->len, ==, 1);
	server = g_ptr_array_index(minimal->stun->servers, 0);
	g_assert_cmpstr(server->host, ==, "stun.example.net");
	g_assert_cmpuint(server->port, ==, 3478);
	g_assert_cmpuint(minimal->stun->refresh_interval_usec, ==, 60 * G_USEC_PER_SEC);
	g_assert_cmpuint(minimal->stun->timeout_usec, ==, 5 * G_USEC_PER_SEC);
	g_assert_cmpuint(minimal->stun->local_port, ==, 0);

	full = pm_test_config_load("[STUN]\nServers=192.0.2.1:3478 [2001:db8::1]:3479,"
				   "stun.example.net:19302\nRefreshInterval=10s\nTimeout=250ms\n"
				   "LocalPort=51820\n",
				   &error);
	g_assert_no_error(error);
	g_assert_cmpuint(full->stun->servers->len, ==, 3);
	server = g_ptr_array_index(full->stun->servers, 1);
	g_assert_cmpstr(server->host, ==, "2001:db8::1");
	g_assert_cmpuint(server->port, ==, 3479);
	g_assert_cmpuint(full->stun->refresh_interval_usec, ==, 10 * G_USEC_PER_SEC);
	g_assert_cmpuint(full->stun->timeout_usec, ==, 250 * G_TIME_SPAN_MILLISECOND);
	g_assert_cmpuint(full->stun->local_port, ==, 51820);
	text = pm_config_to_data(full);
	again = pm_test_config_load(text, &error);
	g_assert_no_error(error);
	g_assert_true(pm_stun_config_equal(full->stun, again->stun));
	g_assert_false(pm_stun_config_equal(full->stun, minimal->stun));

	/* a backslash in a server reads back (fuzz-config's finding) */
	{
		g_autoptr(PmConfig) odd = pm_test_config_load_ok("[STUN]\nServers=a\\\\b:1\n");
		g_autoptr(PmConfig) odd_again = NULL;
		g_autofree char *odd_text = pm_config_to_data(odd);

		g_assert_nonnull(strstr(odd_text, "\nServers=a\\\\b:1\n"));
		odd_again = pm_test_config_load_ok(odd_text);
		g_assert_true(pm_stun_config_equal(odd->stun, odd_again->stun));
	}

	/* disabled: the other values are not read (the replaced module skips validation) */
	disabled = pm_test_config_load("[STUN]\nEnabled=no\nServers=\nRefreshInterval=1s\n"
				       "Timeout=0\n",
				       &error);
	g_assert_no_error(error);
	g_assert_false(disabled->stun->enabled);
	g_assert_null(minimal->gateway);

	for (gsize i = 0; i < G_N_ELEMENTS(bad); i++)
		assert_load_error_prefix(bad[i].text, bad[i].message);
}

#define STUN_MINIMAL "[STUN]\nServers=stun.example.net\n"
/* lines 3 to 5 */
#define CONTROL_PLANE_MINIMAL STUN_MINIMAL "[ControlPlane]\nURL=https://cp.example.net\nNodeID=n1\n"

/* [ControlPlane]: URL= and NodeID= required and checked for what goes into the request's
 * path, at most one token source, an enabled [STUN] needed; --print-config shows where the
 * token is, never a token */
static void
test_control_plane(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(PmConfig) minimal = NULL;
	g_autoptr(PmConfig) slashes = NULL;
	g_autoptr(PmConfig) full = NULL;
	g_autoptr(PmConfig) again = NULL;
	g_autoptr(PmConfig) before_stun = NULL;
	g_autofree char *name129 = g_strnfill(129, 'n');
	g_autofree char *name128 = g_strnfill(128, 'n');
	g_autofree char *long_text = g_strdup_printf(CONTROL_PLANE_MINIMAL "NodeID=%s\n", name129);
	g_autofree char *name120 = g_strnfill(120, 'n');
	/* values are echoed cut at 120 characters */
	g_autofree char *long_prefix =
	    g_strdup_printf("test.conf:6: [ControlPlane] NodeID=%s…: too long; ", name120);
	g_autofree char *max_text = g_strdup_printf(CONTROL_PLANE_MINIMAL "NodeID=%s\n", name128);
	g_autofree char *text = NULL;
	static const struct {
		const char *text;
		const char *message;
	} bad[] = {
	    {STUN_MINIMAL "[ControlPlane]\nNodeID=n1\n",
	     "test.conf:3: [ControlPlane]: URL= is required: set the control plane's http:// or "
	     "https:// base URL"},
	    {STUN_MINIMAL "[ControlPlane]\nURL=https://cp.example.net\n",
	     "test.conf:3: [ControlPlane]: NodeID= is required: set this node's id at the control "
	     "plane"},
	    {CONTROL_PLANE_MINIMAL "URL=ftp://cp.example.net\n",
	     "test.conf:6: [ControlPlane] URL=ftp://cp.example.net: not an http:// or https:// URL "
	     "with a host; accepted values: the control plane's http:// or https:// base URL, such "
	     "as https://cp.example.net or https://example.net/mesh, without credentials, query or "
	     "fragment (portmapd adds /v1/nodes/NODEID/endpoint)"},
	    {CONTROL_PLANE_MINIMAL "URL=cp.example.net\n",
	     "test.conf:6: [ControlPlane] URL=cp.example.net: not a URL; "},
	    {CONTROL_PLANE_MINIMAL "URL=https://\n",
	     "test.conf:6: [ControlPlane] URL=https://: not an http:// or https:// URL with a "
	     "host; "},
	    {CONTROL_PLANE_MINIMAL "URL=https://cp.example.net/a b\n",
	     "test.conf:6: [ControlPlane] URL=https://cp.example.net/a b: not a URL; "},
	    {CONTROL_PLANE_MINIMAL "URL=\n", "test.conf:6: [ControlPlane] URL=: "},
	    {CONTROL_PLANE_MINIMAL "URL=https://cp.example.net/\\tx\n",
	     "test.conf:6: [ControlPlane] URL=https://cp.example.net/\\tx: a control character "},
	    /* what may hold a secret is not echoed */
	    {CONTROL_PLANE_MINIMAL "URL=https://node:s3cret@cp.example.net/mesh\n",
	     "test.conf:6: [ControlPlane] URL=https://…@cp.example.net/mesh: credentials in the URL "
	     "(not shown); set TokenCredential= or TokenFile= instead; accepted values: "},
	    {CONTROL_PLANE_MINIMAL "URL=https://cp.example.net/?token=s3cret\n",
	     "test.conf:6: [ControlPlane] URL=https://cp.example.net/?…: a base URL has no query "
	     "or fragment (not shown): portmapd adds /v1/nodes/NODEID/endpoint to it; "},
	    {CONTROL_PLANE_MINIMAL "URL=http://cp.example.net#x\n",
	     "test.conf:6: [ControlPlane] URL=http://cp.example.net#…: a base URL has no query "},
	    {CONTROL_PLANE_MINIMAL "NodeID=\n",
	     "test.conf:6: [ControlPlane] NodeID=: empty; accepted values: 1 to 128 characters "
	     "A-Z a-z 0-9 . _ - (one segment of the URL's path), not . or .."},
	    {CONTROL_PLANE_MINIMAL "NodeID=a/b\n",
	     "test.conf:6: [ControlPlane] NodeID=a/b: not a node id that can go in the URL's path "
	     "as it is; accepted values: 1 to 128 characters "},
	    {CONTROL_PLANE_MINIMAL "NodeID=a?b\n", "test.conf:6: [ControlPlane] NodeID=a?b: not a "},
	    {CONTROL_PLANE_MINIMAL "NodeID=a#b\n", "test.conf:6: [ControlPlane] NodeID=a#b: not a "},
	    {CONTROL_PLANE_MINIMAL "NodeID=a%2Fb\n", "test.conf:6: [ControlPlane] NodeID=a%2Fb: not "},
	    {CONTROL_PLANE_MINIMAL "NodeID=a b\n", "test.conf:6: [ControlPlane] NodeID=a b: not a "},
	    {CONTROL_PLANE_MINIMAL "NodeID=a\\tb\n", "test.conf:6: [ControlPlane] NodeID=a\\tb: not "},
	    {CONTROL_PLANE_MINIMAL "NodeID=nœud\n", "test.conf:6: [ControlPlane] NodeID=nœud: not "},
	    {CONTROL_PLANE_MINIMAL "NodeID=..\n", "test.conf:6: [ControlPlane] NodeID=..: not a "},
	    {CONTROL_PLANE_MINIMAL "NodeID=.\n", "test.conf:6: [ControlPlane] NodeID=.: not a "},
	    {CONTROL_PLANE_MINIMAL "TokenCredential=cp\nTokenFile=/etc/portmap/cp.token\n",
	     "test.conf:7: [ControlPlane] TokenFile=/etc/portmap/cp.token: TokenCredential= is set "
	     "too; accepted values: one of TokenCredential= and TokenFile="},
	    {CONTROL_PLANE_MINIMAL "TokenCredential=\n",
	     "test.conf:6: [ControlPlane] TokenCredential=: empty; accepted values: the NAME of "
	     "LoadCredential=NAME:PATH"},
	    {CONTROL_PLANE_MINIMAL "TokenFile=\n", "test.conf:6: [ControlPlane] TokenFile=: empty; "},
	    {CONTROL_PLANE_MINIMAL "Token=x\n",
	     "test.conf:6: [ControlPlane] Token=x: unknown key; accepted keys: URL, NodeID, "
	     "TokenCredential, TokenFile"},
	    /* no class to pick: Type= is a key like any other here */
	    {CONTROL_PLANE_MINIMAL "Type=http\n",
	     "test.conf:6: [ControlPlane] Type=http: unknown key; accepted keys: URL, NodeID, "},
	    /* what it reports comes from [STUN] */
	    {"[ControlPlane]\nURL=https://cp.example.net\nNodeID=n1\n",
	     "test.conf:1: [ControlPlane]: [ControlPlane] reports what [STUN] discovers: add "
	     "[STUN]"},
	    {"[STUN]\nEnabled=no\n\n[ControlPlane]\nURL=https://cp.example.net\nNodeID=n1\n",
	     "test.conf:4: [ControlPlane]: [ControlPlane] reports what [STUN] discovers, and "
	     "[STUN] has Enabled=no: enable [STUN] or remove [ControlPlane]"},
	    /* a typo is reported before the missing [STUN] */
	    {"[ControlPlane]\nURL=https://cp.example.net\nNodeID=a/b\n",
	     "test.conf:3: [ControlPlane] NodeID=a/b: not a node id "},
	};

	minimal = pm_test_config_load(CONTROL_PLANE_MINIMAL, &error);
	g_assert_no_error(error);
	g_assert_nonnull(minimal->control_plane);
	g_assert_cmpstr(minimal->control_plane->url, ==, "https://cp.example.net");
	g_assert_cmpstr(minimal->control_plane->node_id, ==, "n1");
	g_assert_null(minimal->control_plane->token_credential);
	g_assert_null(minimal->control_plane->token_file);
	g_assert_null(minimal->wireguard);
	g_assert_cmpuint(minimal->warnings->len, ==, 0);

	/* trailing slashes are dropped: one request path whichever way URL= ends */
	slashes = pm_test_config_load(STUN_MINIMAL "[ControlPlane]\nURL=http://[2001:db8::1]:8080/mesh//\n"
				      "NodeID=node-1.a_B\n",
				      &error);
	g_assert_no_error(error);
	g_assert_cmpstr(slashes->control_plane->url, ==, "http://[2001:db8::1]:8080/mesh");
	g_assert_cmpstr(slashes->control_plane->node_id, ==, "node-1.a_B");
	g_clear_pointer(&minimal, pm_config_free);
	minimal = pm_test_config_load_ok(STUN_MINIMAL "[ControlPlane]\nURL=https://cp.example.net/\n"
					 "NodeID=n1\n");
	g_assert_cmpstr(minimal->control_plane->url, ==, "https://cp.example.net");
	g_clear_pointer(&again, pm_config_free);
	again = pm_test_config_load_ok(max_text);
	g_assert_cmpstr(again->control_plane->node_id, ==, name128);

	/* the group's place in the file does not matter: [STUN] is read first */
	before_stun = pm_test_config_load_ok("[ControlPlane]\nURL=https://cp.example.net\n"
					     "NodeID=n1\n" STUN_MINIMAL);
	g_assert_true(pm_control_plane_config_equal(before_stun->control_plane,
						    minimal->control_plane));

	full = pm_test_config_load(CONTROL_PLANE_MINIMAL "URL=https://cp.example.net/mesh\n"
				   "NodeID=node-7\nTokenFile=/etc/portmap/cp\\stoken\n",
				   &error);
	g_assert_no_error(error);
	g_assert_cmpstr(full->control_plane->url, ==, "https://cp.example.net/mesh");
	g_assert_cmpstr(full->control_plane->token_file, ==, "/etc/portmap/cp token");
	g_assert_false(pm_control_plane_config_equal(full->control_plane, minimal->control_plane));
	g_assert_false(pm_control_plane_config_equal(full->control_plane, NULL));
	g_assert_true(pm_control_plane_config_equal(NULL, NULL));

	/* --print-config reads back to an equal [ControlPlane], with where the token is */
	text = pm_config_to_data(full);
	g_assert_nonnull(strstr(text, "\n[ControlPlane]\nURL=https://cp.example.net/mesh\n"
				      "NodeID=node-7\nTokenFile=/etc/portmap/cp token\n"));
	g_clear_pointer(&again, pm_config_free);
	again = pm_test_config_load(text, &error);
	g_assert_no_error(error);
	g_assert_true(pm_control_plane_config_equal(full->control_plane, again->control_plane));
	g_clear_pointer(&text, g_free);
	g_clear_pointer(&full, pm_config_free);
	full = pm_test_config_load_ok(CONTROL_PLANE_MINIMAL "TokenCredential=cp-token\n");
	text = pm_config_to_data(full);
	g_assert_nonnull(strstr(text, "NodeID=n1\nTokenCredential=cp-token\n"));
	g_assert_null(strstr(text, "TokenFile"));
	g_clear_pointer(&again, pm_config_free);
	again = pm_test_config_load_ok(text);
	g_assert_true(pm_control_plane_config_equal(full->control_plane, again->control_plane));
	g_assert_false(pm_control_plane_config_equal(full->control_plane, minimal->control_plane));

	for (gsize i = 0; i < G_N_ELEMENTS(bad); i++)
		assert_load_error_prefix(bad[i].text, bad[i].message);
	assert_load_error_prefix(long_text, long_prefix);
	/* the credentials of a refused URL= are in no message */
	{
		g_autoptr(PmConfig) none = pm_test_config_load(
		    CONTROL_PLANE_MINIMAL "URL=https://node:s3cret@cp.example.net\n", &error);
		g_assert_null(none);
		g_assert_null(strstr(error->message, "s3cret"));
		g_clear_error(&error);
		none = pm_test_config_load(CONTROL_PLANE_MINIMAL "URL=https://cp.example.net?k=s3cret\n",
					   &error);
		g_assert_null(none);
		g_assert_null(strstr(error->message, "s3cret"));
	}
}

/* [WireGuard]: Interface= a name the kernel takes, [ControlPlane] needed */
static void
test_wireguard(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(PmConfig) minimal = NULL;
	g_autoptr(PmConfig) longest = NULL;
	g_autoptr(PmConfig) backslash = NULL;
	g_autoptr(PmConfig) again = NULL;
	g_autofree char *text = NULL;
	static const struct {
		const char *text;
		const char *message;
	} bad[] = {
	    {CONTROL_PLANE_MINIMAL "[WireGuard]\n",
	     "test.conf:6: [WireGuard]: Interface= is required: set the WireGuard interface whose "
	     "peers get the endpoints, such as wg0"},
	    {CONTROL_PLANE_MINIMAL "[WireGuard]\nInterface=\n",
	     "test.conf:7: [WireGuard] Interface=: empty; accepted values: a network interface name "
	     "(wg0, wg-mesh): 1 to 15 bytes without /, :, spaces or control characters, not . or .."},
	    {CONTROL_PLANE_MINIMAL "[WireGuard]\nInterface=wg-0123456789abc\n",
	     "test.conf:7: [WireGuard] Interface=wg-0123456789abc: longer than 15 bytes; "},
	    {CONTROL_PLANE_MINIMAL "[WireGuard]\nInterface=wg/0\n",
	     "test.conf:7: [WireGuard] Interface=wg/0: not a valid interface name; accepted "},
	    {CONTROL_PLANE_MINIMAL "[WireGuard]\nInterface=wg0:1\n",
	     "test.conf:7: [WireGuard] Interface=wg0:1: not a valid interface name; "},
	    {CONTROL_PLANE_MINIMAL "[WireGuard]\nInterface=wg 0\n",
	     "test.conf:7: [WireGuard] Interface=wg 0: not a valid interface name; "},
	    {CONTROL_PLANE_MINIMAL "[WireGuard]\nInterface=wg\\t0\n",
	     "test.conf:7: [WireGuard] Interface=wg\\t0: not a valid interface name; "},
	    {CONTROL_PLANE_MINIMAL "[WireGuard]\nInterface=..\n",
	     "test.conf:7: [WireGuard] Interface=..: not a valid interface name; "},
	    {CONTROL_PLANE_MINIMAL "[WireGuard]\nInterface=.\n",
	     "test.conf:7: [WireGuard] Interface=.: not a valid interface name; "},
	    {CONTROL_PLANE_MINIMAL "[WireGuard]\nInterface=wg0\nListenPort=51820\n",
	     "test.conf:8: [WireGuard] ListenPort=51820: unknown key; accepted keys: Interface"},
	    {CONTROL_PLANE_MINIMAL "[WireGuard]\nInterface=wg0\nType=kernel\n",
	     "test.conf:8: [WireGuard] Type=kernel: unknown key; accepted keys: Interface"},
	    /* the endpoints come from [ControlPlane] */
	    {STUN_MINIMAL "\n[WireGuard]\nInterface=wg0\n",
	     "test.conf:4: [WireGuard]: [WireGuard] applies the peer endpoints that [ControlPlane] "
	     "returns: add [ControlPlane]"},
	    {"[WireGuard]\nInterface=wg0\n", "test.conf:1: [WireGuard]: [WireGuard] applies "},
	};

	minimal = pm_test_config_load(CONTROL_PLANE_MINIMAL "[WireGuard]\nInterface=wg0\n", &error);
	g_assert_no_error(error);
	g_assert_nonnull(minimal->wireguard);
	g_assert_cmpstr(minimal->wireguard->interface, ==, "wg0");
	g_assert_true(pm_wireguard_interface_name_is_valid("wg0"));
	g_assert_false(pm_wireguard_interface_name_is_valid(""));
	g_assert_false(pm_wireguard_interface_name_is_valid(NULL));

	/* 15 bytes, the kernel's most (IFNAMSIZ with its NUL); any other byte is the kernel's */
	longest = pm_test_config_load_ok(CONTROL_PLANE_MINIMAL "[WireGuard]\nInterface=wg-0123456789ab\n");
	g_assert_cmpstr(longest->wireguard->interface, ==, "wg-0123456789ab");
	g_assert_false(pm_wireguard_config_equal(longest->wireguard, minimal->wireguard));
	g_assert_false(pm_wireguard_config_equal(NULL, minimal->wireguard));

	/* --print-config reads back to an equal [WireGuard], escapes included */
	backslash = pm_test_config_load_ok(CONTROL_PLANE_MINIMAL "[WireGuard]\nInterface=wg\\\\ü\n");
	g_assert_cmpstr(backslash->wireguard->interface, ==, "wg\\ü");
	text = pm_config_to_data(backslash);
	g_assert_nonnull(strstr(text, "\n[WireGuard]\nInterface=wg\\\\ü\n"));
	again = pm_test_config_load(text, &error);
	g_assert_no_error(error);
	g_assert_true(pm_wireguard_config_equal(backslash->wireguard, again->wireguard));
	g_assert_true(pm_control_plane_config_equal(backslash->control_plane, again->control_plane));

	for (gsize i = 0; i < G_N_ELEMENTS(bad); i++)
		assert_load_error_prefix(bad[i].text, bad[i].message);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/config/stun", test_stun);
	g_test_add_func("/config/control-plane", test_control_plane);
	g_test_add_func("/config/wireguard", test_wireguard);
	g_test_add_func("/config/mikrotik", test_mikrotik);
	g_test_add_func("/config/parse/boolean", test_parse_boolean);
	g_test_add_func("/config/parse/duration", test_parse_duration);
	g_test_add_func("/config/parse/list", test_parse_list);
	g_test_add_func("/config/parse/port", test_parse_port);
	g_test_add_func("/config/parse/protocols", test_parse_protocols);
	g_test_add_func("/config/parse/name", test_name_is_valid);
	g_test_add_func("/config/defaults", test_defaults);
	g_test_add_func("/config/every-key", test_every_key);
	g_test_add_func("/config/daemon", test_release_on_stop);
	g_test_add_func("/config/header/bad", test_bad_headers);
	g_test_add_func("/config/header/every-group", test_every_group);
	g_test_add_func("/config/syntax", test_syntax);
	g_test_add_func("/config/key-file-syntax", test_key_file_syntax);
	g_test_add_func("/config/key-file/escapes", test_key_file_escapes);
	g_test_add_func("/config/key-file/bad-escapes", test_key_file_bad_escapes);
	g_test_add_func("/config/key-file/exec-unescaping-documented",
			test_exec_unescaping_documented);
	g_test_add_func("/config/errors/located", test_errors_located);
	g_test_add_func("/config/errors/syntax-error-line", test_syntax_error_line);
	g_test_add_func("/config/unknown-key", test_unknown_key);
	g_test_add_func("/config/provider/type", test_provider_type);
	g_test_add_func("/config/provider/values", test_provider_values);
	g_test_add_func("/config/mapping/values", test_mapping_values);
	g_test_add_func("/config/mapping/missing-internal-port", test_missing_internal_port);
	g_test_add_func("/config/mapping/same-port", test_same_port);
	g_test_add_func("/config/mapping/same-port-one-per-protocol",
			test_same_port_one_per_protocol);
	g_test_add_func("/config/default-provider", test_default_provider);
	g_test_add_func("/config/conflict", test_conflict);
	g_test_add_func("/config/dropins", test_dropins);
	g_test_add_func("/config/missing-main-file", test_missing_main_file);
	g_test_add_func("/config/round-trip", test_round_trip);
	g_test_add_func("/config/round-trip/escapes", test_round_trip_escapes);
	g_test_add_func("/config/equal", test_equal);
	g_test_add_func("/config/invalid-utf8", test_invalid_utf8);
	g_test_add_func("/config/garbage", test_garbage);
	g_test_add_func("/config/example", test_example);
	g_test_add_func("/config/gateway", test_gateway);
	return g_test_run();
}
