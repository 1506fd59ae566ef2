/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The About text from canned Describe() documents (no bus, no daemon): the configuration
 * files as a daemon with ConfigFiles reports them, and as one without it does not; the
 * sections; what is not JSON.
 */
#include <locale.h>
#include <string.h>

#include <gio/gio.h>

#include "pm-applet-describe.h"
#include "pm-applet-model.h"

#define DESCRIBE_HEAD                                                                              \
	"\"Version\": \"0.1.0\", \"State\": \"degraded\", \"DefaultProvider\": \"vpn\", "          \
	"\"ExternalAddress\": \"203.0.113.5\", \"PublicEndpoint\": \"\", \"NATType\": "            \
	"\"unknown\", \"MappingBehavior\": \"unknown\", \"FilteringBehavior\": \"unknown\", "      \
	"\"GatewayMappings\": 0, \"Consumers\": [], "

#define PROVIDERS                                                                                  \
	"\"Providers\": [{\"Name\": \"vpn\", \"Type\": \"natpmp\", \"State\": \"degraded\", "      \
	"\"Gateway\": \"10.2.0.1\", \"ExternalAddress\": \"203.0.113.5\", "                        \
	"\"LastError\": \"GatewayUnreachable: no answer\"}], "

#define MAPPINGS                                                                                   \
	"\"Mappings\": [{\"Name\": \"web\", \"Provider\": \"vpn\", \"State\": \"active\", "        \
	"\"Protocols\": [\"tcp\", \"udp\"], \"Scope\": \"persistent\", \"Origin\": "               \
	"\"config\", \"InternalPort\": 8080, \"ExternalAddress\": \"203.0.113.5\", "               \
	"\"ExternalPort\": 40001, \"Description\": \"\", \"LastError\": \"\", \"Consumers\": "     \
	"[{\"Name\": \"qbt\", \"State\": \"failed\", \"LastError\": \"Refused: login\"}]}, "       \
	"{\"Name\": \"game\", \"Provider\": \"vpn\", \"State\": \"retrying\", \"Protocols\": "     \
	"[\"udp\"], \"Scope\": \"client\", \"Origin\": \"bus\", \"InternalPort\": 27015, "         \
	"\"ExternalAddress\": \"\", \"ExternalPort\": 0, \"Description\": \"a game\", "            \
	"\"LastError\": \"\", \"Consumers\": []}]"

static char *
format_ok(const char *json)
{
	g_autoptr(GError) error = NULL;
	char *text = pm_applet_describe_format(json, &error);
	g_assert_no_error(error);
	g_assert_nonnull(text);
	return text;
}

static void
test_config_files(void)
{
	g_autofree char *text =
	    format_ok("{" DESCRIBE_HEAD "\"ConfigFiles\": [\"<environment>\", "
		      "\"/etc/portmap/portmapd.conf\", "
		      "\"/etc/portmap/portmapd.conf.d/10-vpn.conf\"], " PROVIDERS MAPPINGS "}");
	g_assert_true(g_str_has_prefix(text, "Configuration files\n"
					     "  <environment>\n"
					     "  /etc/portmap/portmapd.conf\n"
					     "  /etc/portmap/portmapd.conf.d/10-vpn.conf\n"
					     "\n"
					     "portmapd\n"));
	g_assert_null(strstr(text, "not reported"));
}

static void
test_config_files_not_reported(void)
{
	g_autofree char *text = format_ok("{" DESCRIBE_HEAD PROVIDERS MAPPINGS "}");
	g_assert_true(g_str_has_prefix(text, "Configuration files\n"
					     "  (not reported by this portmapd)\n\n"));
}

static void
test_config_files_none(void)
{
	g_autofree char *text =
	    format_ok("{" DESCRIBE_HEAD "\"ConfigFiles\": [], " PROVIDERS MAPPINGS "}");
	g_assert_true(g_str_has_prefix(text, "Configuration files\n"
					     "  (none: portmapd runs on its built-in defaults)\n"));
}

static void
test_sections(void)
{
	g_autofree char *text = format_ok("{" DESCRIBE_HEAD PROVIDERS MAPPINGS "}");
	g_assert_nonnull(strstr(text, "portmapd\n"
				      "  version 0.1.0, state degraded\n"
				      "  default provider: vpn\n"));
	g_assert_nonnull(strstr(text, "Providers\n"
				      "  vpn (natpmp): degraded\n"
				      "    gateway 10.2.0.1\n"
				      "    external address 203.0.113.5\n"
				      "    last error: GatewayUnreachable: no answer\n"));
	g_assert_nonnull(strstr(text, "Mappings\n"
				      "  web: tcp+udp 8080 → 203.0.113.5:40001, active\n"
				      "    provider vpn, scope persistent, from the configuration\n"
				      "    consumer qbt: failed\n"
				      "      last error: Refused: login\n"
				      "  game: udp 27015, retrying\n"
				      "    provider vpn, scope client, added on the bus\n"
				      "    a game\n"));
	g_assert_nonnull(strstr(text, "Gateway for the LAN\n  not configured\n"));
	g_assert_true(g_str_has_suffix(text, "STUN\n  not configured\n"));
}

static void
test_missing_and_mistyped_members(void)
{
	/* an older or newer daemon: nothing is guessed, nothing crashes */
	g_autofree char *text =
	    format_ok("{\"Version\": 1, \"Providers\": {}, \"Mappings\": [3, {\"Name\": \"x\"}]}");
	g_assert_nonnull(strstr(text, "  version , state \n"));
	g_assert_nonnull(strstr(text, "Providers\n  (none)\n"));
	g_assert_nonnull(strstr(text, "  x: ? 0, \n"));
}

static void
test_not_json(void)
{
	const char *bad[] = {"", "not json", "[1, 2]", "\"a string\"", "{\"Version\": "};

	for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
		g_autoptr(GError) error = NULL;
		g_autofree char *text = pm_applet_describe_format(bad[i], &error);
		g_assert_null(text);
		g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
		g_assert_true(g_str_has_prefix(error->message, "portmapd's description is not"));
	}
}

static void
test_address_port(void)
{
	g_autofree char *v4 = pm_applet_format_address_port("203.0.113.5", 40001);
	g_autofree char *v6 = pm_applet_format_address_port("2001:db8::1", 443);
	g_autofree char *none = pm_applet_format_address_port("", 80);
	g_autofree char *null = pm_applet_format_address_port(NULL, 80);

	g_assert_cmpstr(v4, ==, "203.0.113.5:40001");
	g_assert_cmpstr(v6, ==, "[2001:db8::1]:443");
	g_assert_cmpstr(none, ==, "80");
	g_assert_cmpstr(null, ==, "80");
}

static void
test_words(void)
{
	g_assert_cmpstr(pm_applet_mapping_state_to_label("retrying"), ==, "retrying");
	g_assert_cmpstr(pm_applet_provider_state_to_label("ready"), ==, "ready");
	g_assert_cmpstr(pm_applet_nat_type_to_label("full_cone"), ==, "full cone");
	g_assert_cmpstr(pm_applet_nat_type_to_label("none"), ==, "no NAT");
	/* a word of a newer portmapd is shown as it is */
	g_assert_cmpstr(pm_applet_mapping_state_to_label("paused"), ==, "paused");
	g_assert_cmpstr(pm_applet_mapping_state_to_label(NULL), ==, "");
}

int
main(int argc, char **argv)
{
	setlocale(LC_ALL, "C.UTF-8");
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/applet/describe/config-files", test_config_files);
	g_test_add_func("/applet/describe/config-files-not-reported",
			test_config_files_not_reported);
	g_test_add_func("/applet/describe/config-files-none", test_config_files_none);
	g_test_add_func("/applet/describe/sections", test_sections);
	g_test_add_func("/applet/describe/missing-and-mistyped", test_missing_and_mistyped_members);
	g_test_add_func("/applet/describe/not-json", test_not_json);
	g_test_add_func("/applet/labels/address-port", test_address_port);
	g_test_add_func("/applet/labels/words", test_words);
	return g_test_run();
}
