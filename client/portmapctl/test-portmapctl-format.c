/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * portmapctl's discover and status output (portmapctl-format.c) from canned Describe() JSON,
 * as design §4 documents its "STUN" object: no bus, no daemon.
 */

#include <glib.h>
#include <json-glib/json-glib.h>

#include "portmapctl.h"

/* two servers, one of them RFC 5780 (OTHER-ADDRESS), the other silent; WireGuard's port */
#define STUN_FULL_CONE                                                                      \
	"{\"Servers\":["                                                                    \
	"{\"Server\":\"11.0.0.3:3478\",\"Address\":\"11.0.0.3:3478\",\"State\":\"answered\"," \
	"\"RoundTripMicroseconds\":312,\"MappedAddress\":\"11.0.0.2:40001\","               \
	"\"OtherAddress\":\"11.0.0.4:3479\",\"LastError\":\"\"},"                           \
	"{\"Server\":\"11.0.0.5:3478\",\"Address\":\"11.0.0.5:3478\",\"State\":\"silent\","  \
	"\"RoundTripMicroseconds\":0,\"MappedAddress\":\"\",\"OtherAddress\":\"\","          \
	"\"LastError\":\"\"}],"                                                             \
	"\"LocalPort\":51820,\"BoundPort\":51820,\"LocalPortError\":\"\","                   \
	"\"Discovering\":false,\"LastDiscovery\":1700000000000000,\"LastError\":\"\","      \
	"\"EndpointMicroseconds\":420,\"DurationMicroseconds\":5001000,"                    \
	"\"RefreshInterval\":60000000}"

#define DESCRIBE_FULL_CONE                                                                  \
	"{\"Version\":\"0.1.0\",\"PublicEndpoint\":\"11.0.0.2:40001\","                      \
	"\"NATType\":\"full_cone\",\"MappingBehavior\":\"endpoint-independent\","           \
	"\"FilteringBehavior\":\"address-and-port-dependent\",\"STUN\":" STUN_FULL_CONE "}"

/* each server maps us elsewhere; LocalPort= taken by a kernel WireGuard */
#define DESCRIBE_SYMMETRIC                                                                  \
	"{\"PublicEndpoint\":\"[2001:db8::2]:40022\",\"NATType\":\"symmetric\","             \
	"\"MappingBehavior\":\"address-and-port-dependent\","                               \
	"\"FilteringBehavior\":\"unknown\",\"STUN\":{\"Servers\":["                         \
	"{\"Server\":\"stun.example.net:3478\",\"Address\":\"[2001:db8::3]:3478\","          \
	"\"State\":\"answered\",\"RoundTripMicroseconds\":12345,"                           \
	"\"MappedAddress\":\"[2001:db8::2]:40022\",\"OtherAddress\":\"\",\"LastError\":\"\"}," \
	"{\"Server\":\"[2001:db8::5]:3478\",\"Address\":\"[2001:db8::5]:3478\","             \
	"\"State\":\"answered\",\"RoundTripMicroseconds\":40,"                              \
	"\"MappedAddress\":\"[2001:db8::2]:40023\",\"OtherAddress\":\"\",\"LastError\":\"\"}," \
	"{\"Server\":\"stun.invalid:3478\",\"Address\":\"\",\"State\":\"failed\","           \
	"\"RoundTripMicroseconds\":0,\"MappedAddress\":\"\",\"OtherAddress\":\"\","          \
	"\"LastError\":\"Name or service not known\"},"                                     \
	"{\"Server\":\"192.0.2.9:3478\",\"Address\":\"192.0.2.9:3478\","                     \
	"\"State\":\"not-asked\",\"RoundTripMicroseconds\":0,\"MappedAddress\":\"\","        \
	"\"OtherAddress\":\"\",\"LastError\":\"\"}],"                                        \
	"\"LocalPort\":51820,\"BoundPort\":40022,\"LocalPortError\":\"port 51820 is in use by " \
	"a socket without SO_REUSEPORT (a kernel WireGuard?)\",\"Discovering\":false,"      \
	"\"LastDiscovery\":1700000000000000,\"LastError\":\"\",\"EndpointMicroseconds\":40," \
	"\"DurationMicroseconds\":13000,\"RefreshInterval\":60000000}}"

/* [STUN] without LocalPort=, before any answer: the last run found every server silent */
#define DESCRIBE_NOT_DISCOVERED                                                             \
	"{\"PublicEndpoint\":\"\",\"NATType\":\"unknown\",\"MappingBehavior\":\"unknown\","  \
	"\"FilteringBehavior\":\"unknown\",\"STUN\":{\"Servers\":["                         \
	"{\"Server\":\"11.0.0.5:3478\",\"Address\":\"11.0.0.5:3478\",\"State\":\"silent\","  \
	"\"RoundTripMicroseconds\":0,\"MappedAddress\":\"\",\"OtherAddress\":\"\","          \
	"\"LastError\":\"no answer within 5 s\"}],"                                         \
	"\"LocalPort\":0,\"BoundPort\":40100,\"LocalPortError\":\"\",\"Discovering\":false," \
	"\"LastDiscovery\":1700000000000000,"                                               \
	"\"LastError\":\"no STUN server answered: 11.0.0.5:3478 was silent\","              \
	"\"EndpointMicroseconds\":0,\"DurationMicroseconds\":5000000,"                      \
	"\"RefreshInterval\":60000000}}"

/* no [STUN]: the daemon's defaults and no "STUN" object */
#define DESCRIBE_NO_STUN                                                                    \
	"{\"PublicEndpoint\":\"\",\"NATType\":\"unknown\",\"MappingBehavior\":\"unknown\","  \
	"\"FilteringBehavior\":\"unknown\",\"Mappings\":[]}"

static JsonNode *parse(const char *text)
{
	g_autoptr(JsonParser) parser = json_parser_new();
	g_autoptr(GError) error = NULL;

	if (!json_parser_load_from_data(parser, text, -1, &error))
		g_error("not JSON (%s): %s", error->message, text);
	return json_parser_steal_root(parser);
}

static char *discover_text(const char *describe, const char *endpoint, const char *nat_type)
{
	g_autoptr(JsonNode) description = parse(describe);
	g_autoptr(GArray) fields = fields_new();

	discover_add_fields(fields, description, endpoint, nat_type);
	return fields_format(fields);
}

static char *discover_json(const char *describe, const char *endpoint, const char *nat_type)
{
	g_autoptr(JsonNode) description = parse(describe);
	g_autoptr(JsonNode) node = discover_to_json(description, endpoint, nat_type);
	g_autoptr(JsonGenerator) generator = json_generator_new();

	json_generator_set_root(generator, node);
	return json_generator_to_data(generator, NULL);
}

/* status' block: two lines of the summary around what STUN adds */
static char *status_text(const char *describe)
{
	g_autoptr(JsonNode) description = parse(describe);
	g_autoptr(GArray) fields = fields_new();

	fields_add(fields, "External address", g_strdup("11.0.0.2"));
	status_add_stun_fields(fields, description);
	fields_add(fields, "Mappings", g_strdup("1 (1 active)"));
	return fields_format(fields);
}

static void test_round_trip(void)
{
	static const struct {
		guint64 usec;
		const char *text;
	} cases[] = {
		{ 0, "<0.1 ms" },
		{ 49, "<0.1 ms" },
		{ 50, "0.1 ms" },
		{ 312, "0.3 ms" },
		{ 1000, "1.0 ms" },
		{ 12345, "12.3 ms" },
		{ 4999999, "5000.0 ms" },
	};

	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autofree char *text = format_round_trip(cases[i].usec);

		g_assert_cmpstr(text, ==, cases[i].text);
	}
}

static void test_discover_text(void)
{
	g_autofree char *text = discover_text(DESCRIBE_FULL_CONE, "11.0.0.2:40001", "full_cone");

	g_assert_cmpstr(text, ==,
			"Public endpoint: 11.0.0.2:40001\n"
			"       NAT type: full_cone\n"
			"        Mapping: endpoint-independent\n"
			"      Filtering: address-and-port-dependent\n"
			"     Local port: 51820\n"
			"        Servers: 11.0.0.3:3478 answered in 0.3 ms (other address 11.0.0.4:3479)\n"
			"                 11.0.0.5:3478 silent\n");
}

/* a host name shows the address asked; a server that mapped us elsewhere says where; the
 * port the probes left from says why it is not LocalPort= */
static void test_discover_text_symmetric(void)
{
	g_autofree char *text = discover_text(DESCRIBE_SYMMETRIC, "[2001:db8::2]:40022",
					      "symmetric");

	g_assert_cmpstr(text, ==,
			"Public endpoint: [2001:db8::2]:40022\n"
			"       NAT type: symmetric\n"
			"        Mapping: address-and-port-dependent\n"
			"      Filtering: unknown\n"
			"     Local port: 40022 (not 51820: port 51820 is in use by a socket without "
			"SO_REUSEPORT (a kernel WireGuard?))\n"
			"        Servers: stun.example.net:3478 ([2001:db8::3]:3478) answered in "
			"12.3 ms\n"
			"                 [2001:db8::5]:3478 answered in <0.1 ms, mapped "
			"[2001:db8::2]:40023\n"
			"                 stun.invalid:3478 failed: Name or service not known\n"
			"                 192.0.2.9:3478 not asked\n");
}

static void test_discover_text_ephemeral_and_last_error(void)
{
	g_autofree char *text = discover_text(DESCRIBE_NOT_DISCOVERED, "", "unknown");

	g_assert_cmpstr(text, ==,
			"Public endpoint: -\n"
			"       NAT type: unknown\n"
			"        Mapping: unknown\n"
			"      Filtering: unknown\n"
			"     Local port: 40100 (ephemeral)\n"
			"        Servers: 11.0.0.5:3478 silent: no answer within 5 s\n"
			"     Last error: no STUN server answered: 11.0.0.5:3478 was silent\n");
}

/* a daemon whose Describe() lacks "STUN" (older than its DiscoverEndpoint()): what the
 * reply says and nothing made up */
static void test_discover_without_stun_object(void)
{
	g_autofree char *text = discover_text(DESCRIBE_NO_STUN, "11.0.0.2:40001", "unknown");
	g_autofree char *json = discover_json(DESCRIBE_NO_STUN, "11.0.0.2:40001", "unknown");

	g_assert_cmpstr(text, ==,
			"Public endpoint: 11.0.0.2:40001\n"
			"       NAT type: unknown\n"
			"        Mapping: unknown\n"
			"      Filtering: unknown\n");
	g_assert_cmpstr(json, ==,
			"{\"PublicEndpoint\":\"11.0.0.2:40001\",\"NATType\":\"unknown\","
			"\"MappingBehavior\":\"unknown\",\"FilteringBehavior\":\"unknown\"}");
}

/* the endpoint and NAT type of the reply, the behaviours, and "STUN" exactly as Describe() */
static void test_discover_json(void)
{
	g_autofree char *json = discover_json(DESCRIBE_FULL_CONE, "11.0.0.2:40001", "full_cone");

	g_assert_cmpstr(json, ==,
			"{\"PublicEndpoint\":\"11.0.0.2:40001\",\"NATType\":\"full_cone\","
			"\"MappingBehavior\":\"endpoint-independent\","
			"\"FilteringBehavior\":\"address-and-port-dependent\","
			"\"STUN\":" STUN_FULL_CONE "}");
}

static void test_status_stun(void)
{
	g_autofree char *discovered = status_text(DESCRIBE_FULL_CONE);
	g_autofree char *symmetric = status_text(DESCRIBE_SYMMETRIC);
	g_autofree char *not_discovered = status_text(DESCRIBE_NOT_DISCOVERED);

	g_assert_cmpstr(discovered, ==,
			"External address: 11.0.0.2\n"
			" Public endpoint: 11.0.0.2:40001 (NAT type full_cone; mapping "
			"endpoint-independent, filtering address-and-port-dependent)\n"
			"        Mappings: 1 (1 active)\n");
	g_assert_cmpstr(symmetric, ==,
			"External address: 11.0.0.2\n"
			" Public endpoint: [2001:db8::2]:40022 (NAT type symmetric; mapping "
			"address-and-port-dependent, filtering unknown)\n"
			"                    local port: 40022 (not 51820: port 51820 is in use by a "
			"socket without SO_REUSEPORT (a kernel WireGuard?))\n"
			"        Mappings: 1 (1 active)\n");
	g_assert_cmpstr(not_discovered, ==,
			"External address: 11.0.0.2\n"
			" Public endpoint: not discovered yet\n"
			"                    last error: no STUN server answered: 11.0.0.5:3478 was "
			"silent\n"
			"        Mappings: 1 (1 active)\n");
}

/* without [STUN], status prints what it printed before STUN existed */
static void test_status_without_stun(void)
{
	g_autofree char *text = status_text(DESCRIBE_NO_STUN);
	g_autoptr(GArray) fields = fields_new();

	g_assert_cmpstr(text, ==,
			"External address: 11.0.0.2\n"
			"        Mappings: 1 (1 active)\n");
	/* nor when Describe() failed */
	status_add_stun_fields(fields, NULL);
	g_assert_cmpuint(fields->len, ==, 0);
}

int main(int argc, char *argv[])
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/portmapctl/round-trip", test_round_trip);
	g_test_add_func("/portmapctl/discover/text", test_discover_text);
	g_test_add_func("/portmapctl/discover/text-symmetric", test_discover_text_symmetric);
	g_test_add_func("/portmapctl/discover/text-ephemeral-last-error",
			test_discover_text_ephemeral_and_last_error);
	g_test_add_func("/portmapctl/discover/without-stun-object",
			test_discover_without_stun_object);
	g_test_add_func("/portmapctl/discover/json", test_discover_json);
	g_test_add_func("/portmapctl/status/stun", test_status_stun);
	g_test_add_func("/portmapctl/status/without-stun", test_status_without_stun);
	return g_test_run();
}
