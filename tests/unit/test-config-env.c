/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <glib/gstdio.h>
#include <string.h>

#include "config-env.h"
#include "config.h"
#include "consumer.h"
#include "errors.h"
#include "gateway-config.h"
#include "mikrotik-config.h"
#include "provider.h"
#include "secrets.h"
#include "test-log.h"

/*
 * --config-from-env: each replaced tool's documented examples -> the configuration text,
 * and that what it makes loads.
 */

#define HEADER "# made by portmapd --config-from-env from the environment of the replaced tool\n\n"

#define NATPMP_HTTP_QUICK_START                                                                  \
	HEADER "[Provider natpmp-http]\n"                                                        \
	       "Type=natpmp-http\n"                                                              \
	       "URL=http://natpmp-service:8080\n"                                                \
	       "TokenCredential=natpmp-http-token\n"                                             \
	       "Lifetime=60\n"                                                                   \
	       "RefreshInterval=45s\n"                                                           \
	       "\n"                                                                              \
	       "[Mapping forwarded-port]\n"                                                      \
	       "Provider=natpmp-http\n"                                                          \
	       "Protocols=tcp udp\n"                                                             \
	       "InternalPort=6881\n"

#define GLUETUN_PROVIDER                                                                         \
	"[Provider protonvpn]\n"                                                                 \
	"Type=natpmp\n"                                                                          \
	"Gateway=10.2.0.1\n"                                                                     \
	"SamePort=yes\n"                                                                         \
	"Lifetime=60\n"                                                                          \
	"RefreshInterval=45s\n"

#define GLUETUN_STATUS_FILE                                                                      \
	"[Consumer status-file]\n"                                                               \
	"Type=portfile\n"                                                                        \
	"Format=ports\n"                                                                         \
	"Path=/tmp/gluetun/forwarded_port\n"

#define UP_COMMAND   "/bin/sh -c \"curl -s -X POST http://127.0.0.1:8080/port/{{PORTS}}\""
#define DOWN_COMMAND "/gluetun/down.sh {{PORT}} {{VPN_INTERFACE}}"

/* the PIA port-forwarding manager with its defaults: its README's "Standalone" example */
/* its provider and its two port files, as every PIA manager set has them */
#define PIA_MANAGER_HEAD                                                                         \
	HEADER "[Provider pia]\n"                                                                \
	       "Type=pia\n"                                                                      \
	       "Username=p1234567\n"                                                             \
	       "PasswordCredential=pia-password\n"                                               \
	       "RefreshInterval=900s\n"                                                          \
	       "\n"                                                                              \
	       "[Consumer port-file]\n"                                                          \
	       "Type=portfile\n"                                                                 \
	       "Format=ports\n"                                                                  \
	       "Path=/config/pia-port.txt\n"                                                     \
	       "\n"                                                                              \
	       "[Consumer port-data-file]\n"                                                     \
	       "Type=portfile\n"                                                                 \
	       "Format=json\n"                                                                   \
	       "Path=/config/pia-port-data.json\n"                                               \
	       "\n"

#define PIA_MANAGER_STANDALONE                                                                   \
	PIA_MANAGER_HEAD "[Mapping forwarded-port]\n"                                            \
			 "Provider=pia\n"                                                        \
			 "Consumers=port-file port-data-file\n"

/* manual-connections' README: getSignature's answer, which the script saves and reuses */
#define PAYLOAD_AND_SIGNATURE                                                                    \
	"{\n"                                                                                    \
	"    \"status\": \"OK\",\n"                                                              \
	"    \"payload\": "                                                                      \
	"\"eyJ0b2tlbiI6Inh4eHh4eHh4eCIsInBvcnQiOjQ3MDQ3LCJjcmVhdGVkX2F0IjoiMjAyMC0wNC0zMFQyMjoz" \
	"Mzo0NC4xMTQzNjk5MDZaIn0=\",\n"                                                          \
	"    \"signature\": "                                                                    \
	"\"a40Tf4OrVECzEpi5kkr1x5vR0DEimjCYJU9QwREDpLM+cdaJMBUcwFoemSuJlxjksncsrvIgRdZc0te4BUL6B" \
	"A==\"\n"                                                                                \
	"}"

/* the environment of one test: NAME=VALUE strings */
static PmConfigEnv *
env_new(const char *const *envp, GError **error)
{
	return pm_config_env_new(envp, error);
}

static void
assert_text(const char *const *envp, const char *expected)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(PmConfigEnv) env = env_new(envp, &error);

	g_assert_no_error(error);
	g_assert_nonnull(env);
	g_assert_cmpstr(pm_config_env_get_data(env), ==, expected);
}

static void
assert_error(const char *const *envp, const char *expected)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(PmConfigEnv) env = env_new(envp, &error);

	g_assert_null(env);
	g_assert_error(error, PM_ERROR, PM_ERROR_INVALID_CONFIGURATION);
	g_assert_cmpstr(error->message, ==, expected);
}

static PmConfig *
load_env(PmConfigEnv *env, const char *path)
{
	g_autoptr(GError) error = NULL;
	const char *data = pm_config_env_get_data(env);
	PmConfig *config = pm_config_load_over(data, strlen(data), "<environment>", path, &error);

	g_assert_no_error(error);
	g_assert_nonnull(config);
	return config;
}

/* --print-config's text loads back to the same configuration */
static void
assert_round_trip(PmConfigEnv *env, const PmConfig *config)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *text = pm_config_to_data(config);
	g_autofree char *annotated = pm_config_env_annotate(env, text);
	g_autoptr(PmConfig) again =
	    pm_config_load_from_data(annotated, strlen(annotated), "printed.conf", &error);
	g_autofree char *text_again = NULL;

	g_assert_no_error(error);
	g_assert_nonnull(again);
	text_again = pm_config_to_data(again);
	g_assert_cmpstr(text_again, ==, text);
	g_assert_cmpuint(again->providers->len, ==, config->providers->len);
	for (guint i = 0; i < config->providers->len; i++)
		g_assert_true(pm_provider_config_equal(g_ptr_array_index(config->providers, i),
						       g_ptr_array_index(again->providers, i)));
	g_assert_cmpuint(again->mappings->len, ==, config->mappings->len);
	for (guint i = 0; i < config->mappings->len; i++)
		g_assert_true(pm_mapping_config_equal(g_ptr_array_index(config->mappings, i),
						      g_ptr_array_index(again->mappings, i)));
	g_assert_cmpuint(again->consumers->len, ==, config->consumers->len);
}

/* the natpmp-http-api client: its README */

static void
test_natpmp_http_quick_start(void)
{
	/* docker run -e NATPMP_SERVICE=natpmp-service:8080 -e INTERNAL_PORT=6881 -e API_TOKEN=... */
	const char *envp[] = {"PATH=/usr/bin:/bin",
			      "NATPMP_SERVICE=natpmp-service:8080",
			      "INTERNAL_PORT=6881",
			      "API_TOKEN=your-secret-token",
			      NULL};
	g_autoptr(GError) error = NULL;
	g_autoptr(PmConfigEnv) env = env_new(envp, &error);
	g_auto(GStrv) credentials = NULL;

	g_assert_no_error(error);
	g_assert_cmpstr(pm_config_env_get_data(env), ==, NATPMP_HTTP_QUICK_START);
	g_assert_cmpstr(pm_config_env_get_tool(env), ==, "the natpmp-http-api client");
	g_assert_null(pm_config_env_get_log_level(env));
	/* the token is a credential of the daemon's memory, never in the text */
	credentials = pm_config_env_get_credentials(env);
	g_assert_cmpuint(g_strv_length(credentials), ==, 1);
	g_assert_cmpstr(credentials[0], ==, "natpmp-http-token");
	g_assert_null(strstr(pm_config_env_get_data(env), "your-secret-token"));
}

static void
test_natpmp_http_docker_compose(void)
{
	/* the Docker Compose and Kubernetes sidecar examples: the same with both protocols
	 * spelt out */
	const char *envp[] = {"NATPMP_SERVICE=natpmp-service:8080",
			      "INTERNAL_PORT=6881",
			      "API_TOKEN=your-secret-token",
			      "ENABLE_TCP=true",
			      "ENABLE_UDP=true",
			      NULL};

	assert_text(envp, NATPMP_HTTP_QUICK_START);
}

static void
test_natpmp_http_building_locally(void)
{
	/* "Building Locally": no token, another service */
	const char *envp[] = {"NATPMP_SERVICE=localhost:8080", "INTERNAL_PORT=6881", NULL};

	assert_text(envp,
		    HEADER "[Provider natpmp-http]\n"
			   "Type=natpmp-http\n"
			   "URL=http://localhost:8080\n"
			   "Lifetime=60\n"
			   "RefreshInterval=45s\n"
			   "\n"
			   "[Mapping forwarded-port]\n"
			   "Provider=natpmp-http\n"
			   "Protocols=tcp udp\n"
			   "InternalPort=6881\n");
}

static void
test_natpmp_http_short_interval(void)
{
	const char *envp[] = {"NATPMP_SERVICE=10.0.0.5:8080",
			      "INTERNAL_PORT=51413",
			      "DURATION=30",
			      "REFRESH_INTERVAL=20",
			      "ENABLE_UDP=false",
			      NULL};

	assert_text(envp,
		    HEADER "[Provider natpmp-http]\n"
			   "Type=natpmp-http\n"
			   "URL=http://10.0.0.5:8080\n"
			   "Lifetime=30\n"
			   "RefreshInterval=20s\n"
			   "\n"
			   "[Mapping forwarded-port]\n"
			   "Provider=natpmp-http\n"
			   "Protocols=tcp\n"
			   "InternalPort=51413\n");
}

static void
test_natpmp_http_refresh_not_less(void)
{
	const char *equal[] = {"NATPMP_SERVICE=natpmp-service:8080",
			       "INTERNAL_PORT=6881",
			       "REFRESH_INTERVAL=60",
			       NULL};
	/* the default REFRESH_INTERVAL (45) against a shorter DURATION */
	const char *shorter[] = {"NATPMP_SERVICE=natpmp-service:8080",
				 "INTERNAL_PORT=6881",
				 "DURATION=30",
				 NULL};
	const char *zero[] = {"NATPMP_SERVICE=natpmp-service:8080",
			      "INTERNAL_PORT=6881",
			      "DURATION=0",
			      NULL};
	const char *unit[] = {"NATPMP_SERVICE=natpmp-service:8080",
			      "INTERNAL_PORT=6881",
			      "REFRESH_INTERVAL=45s",
			      NULL};

	assert_error(equal,
		     "environment variable REFRESH_INTERVAL=60: not less than DURATION (60 s); "
		     "accepted values: a whole number of seconds from 1 to 59, best about 75 % "
		     "of DURATION");
	assert_error(shorter,
		     "environment variable REFRESH_INTERVAL=45: not less than DURATION (30 s); "
		     "accepted values: a whole number of seconds from 1 to 29, best about 75 % "
		     "of DURATION");
	assert_error(zero,
		     "environment variable DURATION=0: not a positive whole number of seconds; "
		     "accepted values: a whole number of seconds from 1 to 4294967295, without "
		     "a unit");
	assert_error(unit,
		     "environment variable REFRESH_INTERVAL=45s: not a positive whole number of "
		     "seconds; accepted values: a whole number of seconds from 1 to 4294967295, "
		     "without a unit");
}

/* ENABLE_TCP/ENABLE_UDP as refresh.sh's normalize_bool reads them */
static void
test_natpmp_http_booleans(void)
{
	const struct {
		const char *tcp;
		const char *udp;
		const char *protocols; /* NULL: both off */
	} cases[] = {
	    {"ENABLE_TCP=TRUE", "ENABLE_UDP=false", "Protocols=tcp\n"},
	    {"ENABLE_TCP=false", "ENABLE_UDP=True", "Protocols=udp\n"},
	    {"ENABLE_TCP=yes", "ENABLE_UDP=ON", "Protocols=tcp udp\n"},
	    {"ENABLE_TCP=1", "ENABLE_UDP=0", "Protocols=tcp\n"},
	    /* unset and empty are the default, true */
	    {"ENABLE_TCP=", "ENABLE_UDP=no", "Protocols=tcp\n"},
	    /* anything else is false, not an error */
	    {"ENABLE_TCP=enabled", "ENABLE_UDP=y", NULL},
	};

	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		const char *envp[] = {"NATPMP_SERVICE=natpmp-service:8080",
				      "INTERNAL_PORT=6881",
				      cases[i].tcp,
				      cases[i].udp,
				      NULL};
		g_autoptr(GError) error = NULL;
		g_autoptr(PmConfigEnv) env = env_new(envp, &error);

		if (cases[i].protocols == NULL) {
			g_assert_null(env);
			g_assert_cmpstr(error->message,
					==,
					"environment variables ENABLE_TCP=enabled and ENABLE_UDP=y: "
					"both protocols are off, so there is nothing to map; "
					"accepted values: true (the default), 1, yes or on in any "
					"case for at least one of them, as the natpmp-http-api "
					"client reads them");
			continue;
		}
		g_assert_no_error(error);
		g_assert_nonnull(strstr(pm_config_env_get_data(env), cases[i].protocols));
	}
}

static void
test_natpmp_http_internal_port(void)
{
	const char *bad[] = {"0", "65536", "abc", "-1", "+80", "80 ", "99999999999999999999"};
	const char *missing[] = {"NATPMP_SERVICE=natpmp-service:8080", NULL};
	const char *leading_zero[] = {"NATPMP_SERVICE=natpmp-service:8080",
				      "INTERNAL_PORT=06881",
				      NULL};
	g_autoptr(PmConfigEnv) env = NULL;

	assert_error(missing,
		     "environment variable INTERNAL_PORT is not set: the natpmp-http-api "
		     "client's environment (NATPMP_SERVICE) needs it; accepted values: 1 to "
		     "65535, the port the application listens on");
	for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
		g_autofree char *variable = g_strdup_printf("INTERNAL_PORT=%s", bad[i]);
		g_autofree char *message = g_strdup_printf(
		    "environment variable INTERNAL_PORT=%s: not a port number; accepted values: "
		    "1 to 65535, the port the application listens on",
		    bad[i]);
		const char *envp[] = {"NATPMP_SERVICE=natpmp-service:8080", variable, NULL};
		assert_error(envp, message);
	}
	/* the tool's shell reads it as a number */
	env = env_new(leading_zero, NULL);
	g_assert_nonnull(strstr(pm_config_env_get_data(env), "InternalPort=6881\n"));
}

static void
test_natpmp_http_service(void)
{
	const char *bad[] = {"http://natpmp-service:8080", "natpmp-service:8080/forward",
			     "user@natpmp-service:8080", "natpmp service:8080"};

	for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
		g_autofree char *variable = g_strdup_printf("NATPMP_SERVICE=%s", bad[i]);
		g_autofree char *message = g_strdup_printf(
		    "environment variable NATPMP_SERVICE=%s: not HOST:PORT; accepted values: the "
		    "natpmp-http-api service's host name or address and port, such as "
		    "natpmp-service:8080",
		    bad[i]);
		const char *envp[] = {variable, "INTERNAL_PORT=6881", NULL};
		assert_error(envp, message);
	}
}

/* the provider class comes with the natpmp-http branch */
static void
test_natpmp_http_loads(void)
{
	const char *envp[] = {"NATPMP_SERVICE=natpmp-service:8080",
			      "INTERNAL_PORT=6881",
			      "API_TOKEN=your-secret-token",
			      NULL};
	g_autoptr(PmConfigEnv) env = NULL;
	g_autoptr(PmConfig) config = NULL;
	const PmMappingConfig *mapping;

	env = env_new(envp, NULL);
	config = load_env(env, NULL);
	g_assert_cmpuint(config->providers->len, ==, 1);
	mapping = pm_config_find_mapping(config, "forwarded-port");
	g_assert_nonnull(mapping);
	g_assert_cmpstr(mapping->provider, ==, "natpmp-http");
	g_assert_cmpuint(mapping->protocols, ==, PM_PROTOCOL_TCP | PM_PROTOCOL_UDP);
	g_assert_cmpuint(mapping->internal_port, ==, 6881);
	assert_round_trip(env, config);
}

/* gluetun */

static void
test_gluetun_protonvpn(void)
{
	/* gluetun's wiki for ProtonVPN with an up command for qBittorrent, and a down command */
	const char *envp[] = {"VPN_SERVICE_PROVIDER=protonvpn",
			      "VPN_TYPE=wireguard",
			      "VPN_PORT_FORWARDING=on",
			      "VPN_PORT_FORWARDING_UP_COMMAND=" UP_COMMAND,
			      "VPN_PORT_FORWARDING_DOWN_COMMAND=" DOWN_COMMAND,
			      NULL};

	assert_text(envp,
		    HEADER GLUETUN_PROVIDER "\n" GLUETUN_STATUS_FILE "\n"
					    "[Consumer up-down-commands]\n"
					    "Type=exec\n"
					    "ExecUp=" UP_COMMAND "\n"
					    "ExecDown=" DOWN_COMMAND "\n"
					    "\n"
					    "[Mapping forwarded-port]\n"
					    "Provider=protonvpn\n"
					    "Protocols=tcp udp\n"
					    "Consumers=status-file up-down-commands\n");
}

static void
test_gluetun_status_file_and_gateway(void)
{
	const char *envp[] = {"VPN_SERVICE_PROVIDER=ProtonVPN",
			      "VPN_PORT_FORWARDING=ON",
			      "VPN_PORT_FORWARDING_STATUS_FILE=/gluetun/Forwarded Port",
			      "VPN_GATEWAY=10.96.0.1",
			      "LOG_LEVEL=WARN",
			      NULL};
	g_autoptr(PmConfigEnv) env = env_new(envp, NULL);

	g_assert_nonnull(env);
	g_assert_cmpstr(pm_config_env_get_data(env),
			==,
			HEADER "[Provider protonvpn]\n"
			       "Type=natpmp\n"
			       "Gateway=10.96.0.1\n"
			       "SamePort=yes\n"
			       "Lifetime=60\n"
			       "RefreshInterval=45s\n"
			       "\n"
			       "[Consumer status-file]\n"
			       "Type=portfile\n"
			       "Format=ports\n"
			       "Path=/gluetun/Forwarded Port\n"
			       "\n"
			       "[Mapping forwarded-port]\n"
			       "Provider=protonvpn\n"
			       "Protocols=tcp udp\n"
			       "Consumers=status-file\n");
	g_assert_cmpstr(pm_config_env_get_log_level(env), ==, "warning");
}

/* what this version loads: the set without up and down commands */
static void
test_gluetun_loads(void)
{
	const char *envp[] = {"VPN_SERVICE_PROVIDER=protonvpn", "VPN_PORT_FORWARDING=on", NULL};
	g_autoptr(PmConfigEnv) env = env_new(envp, NULL);
	g_autoptr(PmConfig) config = load_env(env, NULL);
	const PmMappingConfig *mapping = pm_config_find_mapping(config, "forwarded-port");

	g_assert_cmpuint(config->providers->len, ==, 1);
	g_assert_nonnull(pm_config_find_provider(config, "protonvpn"));
	g_assert_nonnull(pm_config_find_consumer(config, "status-file"));
	g_assert_nonnull(mapping);
	/* SamePort=yes: internal port 0, I := E */
	g_assert_cmpuint(mapping->internal_port, ==, 0);
	g_assert_cmpuint(mapping->protocols, ==, PM_PROTOCOL_TCP | PM_PROTOCOL_UDP);
	g_assert_cmpuint(g_strv_length(mapping->consumers), ==, 1);
	g_assert_cmpstr(mapping->consumers[0], ==, "status-file");
	g_assert_cmpuint(config->warnings->len, ==, 0);
	assert_round_trip(env, config);
}

/* the exec consumer comes with the exec branch */
static void
test_gluetun_loads_with_commands(void)
{
	const char *envp[] = {"VPN_SERVICE_PROVIDER=protonvpn",
			      "VPN_PORT_FORWARDING=on",
			      "VPN_PORT_FORWARDING_UP_COMMAND=" UP_COMMAND,
			      "VPN_PORT_FORWARDING_DOWN_COMMAND=" DOWN_COMMAND,
			      NULL};
	g_autoptr(PmConfigEnv) env = NULL;
	g_autoptr(PmConfig) config = NULL;
	const PmMappingConfig *mapping;

	env = env_new(envp, NULL);
	config = load_env(env, NULL);
	mapping = pm_config_find_mapping(config, "forwarded-port");
	g_assert_nonnull(mapping);
	/* every imported consumer on every imported mapping */
	g_assert_cmpuint(g_strv_length(mapping->consumers), ==, 2);
	g_assert_nonnull(pm_config_find_consumer(config, "up-down-commands"));
	assert_round_trip(env, config);
}

/* --config FILE with drop-ins, merged over the imported configuration key by key */
static void
test_gluetun_merge_file(void)
{
	const char *envp[] = {"VPN_SERVICE_PROVIDER=protonvpn", "VPN_PORT_FORWARDING=on", NULL};
	g_autoptr(GError) error = NULL;
	g_autofree char *dir = g_dir_make_tmp("test-config-env-XXXXXX", &error);
	g_autofree char *path = g_build_filename(dir, "portmapd.conf", NULL);
	g_autofree char *dropins = g_build_filename(dir, "portmapd.conf.d", NULL);
	g_autofree char *dropin = g_build_filename(dropins, "50-port.conf", NULL);
	g_autoptr(PmConfigEnv) env = env_new(envp, NULL);
	g_autoptr(PmConfig) config = NULL;
	g_autofree char *text = NULL;

	g_assert_no_error(error);
	g_file_set_contents(path,
			    "[Provider protonvpn]\n"
			    "Gateway=10.96.0.1\n"
			    "\n"
			    "[Consumer status-file]\n"
			    "Path=/run/portmap/forwarded_port\n",
			    -1,
			    &error);
	g_assert_no_error(error);
	g_assert_cmpint(g_mkdir(dropins, 0755), ==, 0);
	g_file_set_contents(dropin, "[Provider protonvpn]\nLifetime=120\n", -1, &error);
	g_assert_no_error(error);

	config = load_env(env, path);
	text = pm_config_to_data(config);
	g_assert_nonnull(strstr(text,
				"[Provider protonvpn]\n"
				"Type=natpmp\n"
				"Gateway=10.96.0.1\n"
				"SamePort=yes\n"
				"Lifetime=120\n"
				"RefreshInterval=45s\n"));
	g_assert_nonnull(strstr(text, "Path=/run/portmap/forwarded_port\n"));
	g_assert_cmpuint(config->files->len, ==, 3);
	g_assert_cmpstr(g_ptr_array_index(config->files, 0), ==, "<environment>");
	assert_round_trip(env, config);

	/* an error in the file names the file, not the environment */
	g_file_set_contents(dropin, "[Provider protonvpn]\nLifetime=soon\n", -1, &error);
	g_assert_no_error(error);
	{
		const char *data = pm_config_env_get_data(env);
		g_autoptr(PmConfig) bad =
		    pm_config_load_over(data, strlen(data), "<environment>", path, &error);
		g_assert_null(bad);
		g_assert_error(error, PM_ERROR, PM_ERROR_INVALID_CONFIGURATION);
		g_assert_true(g_str_has_prefix(error->message, dropin));
		g_clear_error(&error);
	}

	g_assert_cmpint(g_unlink(dropin), ==, 0);
	g_assert_cmpint(g_rmdir(dropins), ==, 0);
	g_assert_cmpint(g_unlink(path), ==, 0);
	g_assert_cmpint(g_rmdir(dir), ==, 0);
}

/* VPN_PORT_FORWARDING as gluetun's settings reader (gosettings) reads booleans */
static void
test_gluetun_booleans(void)
{
	const char *on[] = {"on", "ON", "yes", "Enabled", "true", " on ", "\"on\""};
	const char *off[] = {"off", "no", "Disabled", "FALSE"};
	const char *unset[] = {"VPN_SERVICE_PROVIDER=protonvpn",
			       "VPN_PORT_FORWARDING_STATUS_FILE=/tmp/port",
			       NULL};
	const char *bad[] = {"VPN_SERVICE_PROVIDER=protonvpn", "VPN_PORT_FORWARDING=1", NULL};

	for (guint i = 0; i < G_N_ELEMENTS(on); i++) {
		g_autofree char *variable = g_strdup_printf("VPN_PORT_FORWARDING=%s", on[i]);
		const char *envp[] = {"VPN_SERVICE_PROVIDER=protonvpn", variable, NULL};
		g_autoptr(GError) error = NULL;
		g_autoptr(PmConfigEnv) env = env_new(envp, &error);
		g_assert_no_error(error);
		g_assert_nonnull(strstr(pm_config_env_get_data(env), "[Mapping forwarded-port]\n"));
	}
	for (guint i = 0; i < G_N_ELEMENTS(off); i++) {
		g_autofree char *variable = g_strdup_printf("VPN_PORT_FORWARDING=%s", off[i]);
		g_autofree char *message =
		    g_strdup_printf("environment variable VPN_PORT_FORWARDING is off: "
				    "VPN_PORT_FORWARDING=%s: gluetun's port forwarding is off, so "
				    "there is nothing for portmapd to do; set "
				    "VPN_PORT_FORWARDING=on, or do not use --config-from-env",
				    off[i]);
		const char *envp[] = {"VPN_SERVICE_PROVIDER=protonvpn", variable, NULL};
		assert_error(envp, message);
	}
	/* recognised by another VPN_PORT_FORWARDING_* variable; off by default */
	assert_error(unset,
		     "environment variable VPN_PORT_FORWARDING is unset (off): gluetun's port "
		     "forwarding is off, so there is nothing for portmapd to do; set "
		     "VPN_PORT_FORWARDING=on, or do not use --config-from-env");
	assert_error(bad,
		     "environment variable VPN_PORT_FORWARDING=1: not a boolean; accepted "
		     "values: enabled, yes, on, true, disabled, no, off, false (in any case), as "
		     "gluetun reads them");
}

static void
test_gluetun_provider(void)
{
	/* VPN_PORT_FORWARDING_PROVIDER wins over VPN_SERVICE_PROVIDER (a custom provider) */
	const char *custom[] = {"VPN_SERVICE_PROVIDER=custom",
				"VPN_PORT_FORWARDING=on",
				"VPN_PORT_FORWARDING_PROVIDER=protonvpn",
				NULL};
	const char *pia_old[] = {"VPN_SERVICE_PROVIDER=pia",
				 "VPN_PORT_FORWARDING=on",
				 "OPENVPN_USER=p1234567",
				 "OPENVPN_PASSWORD=hunter2",
				 NULL};
	const char *none[] = {"VPN_PORT_FORWARDING=on", NULL};
	const char *other[] = {"VPN_SERVICE_PROVIDER=privatevpn", "VPN_PORT_FORWARDING=on", NULL};
	g_autoptr(PmConfigEnv) env = env_new(custom, NULL);
	g_autoptr(PmConfigEnv) env_pia = env_new(pia_old, NULL);

	g_assert_nonnull(env);
	g_assert_nonnull(strstr(pm_config_env_get_data(env), "Type=natpmp\n"));
	/* gluetun's old name for PIA */
	g_assert_nonnull(env_pia);
	g_assert_nonnull(strstr(pm_config_env_get_data(env_pia), "Type=pia\n"));
	assert_error(none,
		     "environment variables VPN_PORT_FORWARDING_PROVIDER and VPN_SERVICE_PROVIDER "
		     "are unset: gluetun's port forwarding needs the VPN provider; accepted "
		     "values: protonvpn, private internet access (in any case; pia in "
		     "VPN_SERVICE_PROVIDER)");
	assert_error(other,
		     "environment variable VPN_SERVICE_PROVIDER=privatevpn: portmapd does not "
		     "import gluetun's port forwarding for this VPN provider; accepted values: "
		     "protonvpn, private internet access (in any case; pia in "
		     "VPN_SERVICE_PROVIDER)");
}

static void
test_gluetun_unsupported_values(void)
{
	const char *count[] = {"VPN_SERVICE_PROVIDER=protonvpn",
			       "VPN_PORT_FORWARDING=on",
			       "VPN_PORT_FORWARDING_PORTS_COUNT=2",
			       NULL};
	const char *listening[] = {"VPN_SERVICE_PROVIDER=protonvpn",
				   "VPN_PORT_FORWARDING=on",
				   "VPN_PORT_FORWARDING_LISTENING_PORTS=6881",
				   NULL};
	const char *gateway[] = {"VPN_SERVICE_PROVIDER=protonvpn",
				 "VPN_PORT_FORWARDING=on",
				 "VPN_GATEWAY=fd00::1",
				 NULL};
	const char *status[] = {"VPN_SERVICE_PROVIDER=protonvpn",
				"VPN_PORT_FORWARDING=on",
				"VPN_PORT_FORWARDING_STATUS_FILE=forwarded_port",
				NULL};
	const char *command[] = {"VPN_SERVICE_PROVIDER=protonvpn",
				 "VPN_PORT_FORWARDING=on",
				 "VPN_PORT_FORWARDING_UP_COMMAND=echo\x1b[2J {{PORTS}}",
				 NULL};
	const char *log_level[] = {"VPN_SERVICE_PROVIDER=protonvpn",
				   "VPN_PORT_FORWARDING=on",
				   "LOG_LEVEL=loud",
				   NULL};

	assert_error(count,
		     "environment variable VPN_PORT_FORWARDING_PORTS_COUNT=2: portmapd forwards "
		     "one port per VPN connection (ProtonVPN forwards the port it grants to the "
		     "same port); accepted values: 1, or unset");
	assert_error(listening,
		     "environment variable VPN_PORT_FORWARDING_LISTENING_PORTS=6881: portmapd "
		     "redirects no port: the application listens on the forwarded port, which "
		     "the up command gets as {{PORTS}}; accepted values: 0, or unset");
	assert_error(gateway,
		     "environment variable VPN_GATEWAY=fd00::1: not an IPv4 address; accepted "
		     "values: a dotted IPv4 address, such as 10.2.0.1 (ProtonVPN WireGuard, the "
		     "default)");
	assert_error(status,
		     "environment variable VPN_PORT_FORWARDING_STATUS_FILE=forwarded_port: not an "
		     "absolute path to a file; accepted values: a path starting with /, not "
		     "ending with / (default /tmp/gluetun/forwarded_port)");
	assert_error(command,
		     "environment variable VPN_PORT_FORWARDING_UP_COMMAND=echo?[2J {{PORTS}}: a "
		     "control character (a newline, a tab) in the value; accepted values: text "
		     "without control characters");
	assert_error(log_level,
		     "environment variable LOG_LEVEL=loud: unknown log level; accepted values: "
		     "debug, info, notice, warn, warning, error (in any case)");
}

/* the PIA port-forwarding manager: its README */

static void
test_pia_manager_standalone(void)
{
	/* docker run -e PIA_USER=p1234567 -e PIA_PASS=your_password pia-portforward:latest,
	 * and the Compose "Sharing Port with Other Containers" example, which has the same */
	const char *envp[] = {"PATH=/usr/bin:/bin",
			      "PIA_USER=p1234567",
			      "PIA_PASS=your_password",
			      NULL};
	g_autoptr(GError) error = NULL;
	g_autoptr(PmConfigEnv) env = env_new(envp, &error);
	g_auto(GStrv) credentials = NULL;

	g_assert_no_error(error);
	g_assert_cmpstr(pm_config_env_get_data(env), ==, PIA_MANAGER_STANDALONE);
	g_assert_cmpstr(pm_config_env_get_tool(env), ==, "the PIA port-forwarding manager");
	credentials = pm_config_env_get_credentials(env);
	g_assert_cmpstrv(credentials, ((const char *const[]){"pia-password", NULL}));
	g_assert_null(strstr(pm_config_env_get_data(env), "your_password"));
}

static void
test_pia_manager_kubernetes(void)
{
	/* the README's Kubernetes ConfigMap and Secret, without the qBittorrent variables
	 * (see qbittorrent below); QBITTORRENT_USER and QBITTORRENT_PASS alone mean nothing
	 * to the tool, nor here */
	const char *envp[] = {"PIA_USER=p1234567",
			      "PORT_FORWARD_REFRESH_INTERVAL=900",
			      "QBITTORRENT_USER=admin",
			      "PIA_PASS=your_password",
			      "QBITTORRENT_PASS=adminpass",
			      NULL};
	g_autoptr(PmConfigEnv) env = env_new(envp, NULL);
	g_auto(GStrv) credentials = pm_config_env_get_credentials(env);

	assert_text(envp, PIA_MANAGER_STANDALONE);
	g_assert_cmpstrv(credentials, ((const char *const[]){"pia-password", NULL}));
}

static void
test_pia_manager_gateway_and_files(void)
{
	/* its Troubleshooting's manual gateway, with files and an interval of one's own */
	const char *envp[] = {"PIA_USER=p1234567",
			      "PIA_PASS=your_password",
			      "PIA_GATEWAY=10.13.128.1",
			      "PORT_FORWARD_REFRESH_INTERVAL=300",
			      "PORT_FILE=/pia/port",
			      "PORT_DATA_FILE=/pia/port data.json",
			      NULL};
	/* ${VAR:-default}: empty is the default */
	const char *empty[] = {"PIA_USER=p1234567",
			       "PIA_PASS=your_password",
			       "PIA_GATEWAY=",
			       "PORT_FORWARD_REFRESH_INTERVAL=",
			       "PORT_FILE=",
			       "PORT_DATA_FILE=",
			       "QBITTORRENT_HOST=",
			       NULL};

	assert_text(envp,
		    HEADER "[Provider pia]\n"
			   "Type=pia\n"
			   "Gateway=10.13.128.1\n"
			   "Username=p1234567\n"
			   "PasswordCredential=pia-password\n"
			   "RefreshInterval=300s\n"
			   "\n"
			   "[Consumer port-file]\n"
			   "Type=portfile\n"
			   "Format=ports\n"
			   "Path=/pia/port\n"
			   "\n"
			   "[Consumer port-data-file]\n"
			   "Type=portfile\n"
			   "Format=json\n"
			   "Path=/pia/port data.json\n"
			   "\n"
			   "[Mapping forwarded-port]\n"
			   "Provider=pia\n"
			   "Consumers=port-file port-data-file\n");
	assert_text(empty, PIA_MANAGER_STANDALONE);
}

/* PIA deletes a port not bound for 15 minutes: a longer interval is an error */
static void
test_pia_manager_interval(void)
{
	const char *too_long[] = {"901", "1800", "99999999999999999999"};
	const char *bad[] = {"0", "15m", "-60", "900s", " 900", "1e3"};
	const char *accepted =
	    "accepted values: a whole number of seconds from 1 to 900, without a unit "
	    "(default 900)";

	for (guint i = 0; i < G_N_ELEMENTS(too_long); i++) {
		g_autofree char *variable =
		    g_strdup_printf("PORT_FORWARD_REFRESH_INTERVAL=%s", too_long[i]);
		g_autofree char *message = g_strdup_printf(
		    "environment variable PORT_FORWARD_REFRESH_INTERVAL=%s: %s; %s",
		    too_long[i],
		    /* more digits than a number: not a number at all */
		    i < 2 ? "longer than PIA keeps a forwarded port that is not bound again (15 "
			    "minutes)"
			  : "not a positive whole number of seconds",
		    accepted);
		const char *envp[] = {"PIA_USER=p1234567", "PIA_PASS=pw", variable, NULL};
		assert_error(envp, message);
	}
	for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
		g_autofree char *variable =
		    g_strdup_printf("PORT_FORWARD_REFRESH_INTERVAL=%s", bad[i]);
		g_autofree char *message = g_strdup_printf(
		    "environment variable PORT_FORWARD_REFRESH_INTERVAL=%s: not a positive whole "
		    "number of seconds; %s",
		    bad[i],
		    accepted);
		const char *envp[] = {"PIA_USER=p1234567", "PIA_PASS=pw", variable, NULL};
		assert_error(envp, message);
	}
	{
		const char *envp[] = {"PIA_USER=p1234567",
				      "PIA_PASS=pw",
				      "PORT_FORWARD_REFRESH_INTERVAL=1",
				      NULL};
		g_autoptr(PmConfigEnv) env = env_new(envp, NULL);
		g_assert_nonnull(strstr(pm_config_env_get_data(env), "RefreshInterval=1s\n"));
	}
}

/* the text of a PIA manager set with its qBittorrent variables */
#define PIA_MANAGER_QBITTORRENT(url, user, password_line)                                         \
	PIA_MANAGER_HEAD "[Consumer qbittorrent]\n"                                              \
			 "Type=qbittorrent\n"                                                    \
			 "URL=" url "\n"                                                         \
			 "Username=" user "\n" password_line "\n"                               \
			 "[Mapping forwarded-port]\n"                                            \
			 "Provider=pia\n"                                                        \
			 "Consumers=port-file port-data-file qbittorrent\n"

static void
test_pia_manager_qbittorrent(void)
{
	/* the README's "With qBittorrent Integration" (docker run), and its Kubernetes
	 * example; the port reaches qBittorrent as update_qbittorrent did */
	const char *docker_run[] = {"PIA_USER=p1234567",
				    "PIA_PASS=your_password",
				    "QBITTORRENT_HOST=http://localhost:8080",
				    "QBITTORRENT_USER=admin",
				    "QBITTORRENT_PASS=adminpass",
				    NULL};
	const char *kubernetes[] = {"PIA_USER=p1234567",
				    "PORT_FORWARD_REFRESH_INTERVAL=900",
				    "QBITTORRENT_HOST=http://qbittorrent:8080",
				    "QBITTORRENT_USER=admin",
				    "PIA_PASS=your_password",
				    "QBITTORRENT_PASS=adminpass",
				    NULL};
	/* QBITTORRENT_USER defaults to admin; no password: none sent (the Web UI's bypass for
	 * local clients), as the tool */
	const char *no_password[] = {"PIA_USER=p1234567",
				     "PIA_PASS=your_password",
				     "QBITTORRENT_HOST=http://127.0.0.1:8080",
				     NULL};
	const char *bad_url[] = {"PIA_USER=p1234567",
				 "PIA_PASS=your_password",
				 "QBITTORRENT_HOST=qbittorrent:8080",
				 NULL};
	g_autoptr(PmConfigEnv) env = env_new(docker_run, NULL);
	g_auto(GStrv) credentials = pm_config_env_get_credentials(env);
	g_autoptr(PmConfig) config = load_env(env, NULL);

	assert_text(docker_run,
		    PIA_MANAGER_QBITTORRENT("http://localhost:8080", "admin",
					    "PasswordCredential=qbittorrent-password\n"));
	g_assert_cmpstrv(credentials,
			 ((const char *const[]){"pia-password", "qbittorrent-password", NULL}));
	g_assert_null(strstr(pm_config_env_get_data(env), "adminpass"));
	g_assert_nonnull(pm_config_find_consumer(config, "qbittorrent"));
	assert_round_trip(env, config);
	assert_text(kubernetes,
		    PIA_MANAGER_QBITTORRENT("http://qbittorrent:8080", "admin",
					    "PasswordCredential=qbittorrent-password\n"));
	assert_text(no_password, PIA_MANAGER_QBITTORRENT("http://127.0.0.1:8080", "admin", ""));
	assert_error(bad_url, "environment variable QBITTORRENT_HOST=qbittorrent:8080: not an "
			      "http or https URL; accepted values: qBittorrent's Web UI URL, such as "
			      "http://qbittorrent:8080");
}

static void
test_pia_manager_bad_values(void)
{
	const char *no_password[] = {"PIA_USER=p1234567", NULL};
	const char *gateway[] = {"PIA_USER=p1234567",
				 "PIA_PASS=pw",
				 "PIA_GATEWAY=10.x.x.1",
				 NULL};
	const char *relative[] = {"PIA_USER=p1234567",
				  "PIA_PASS=pw",
				  "PORT_FILE=pia-port.txt",
				  NULL};
	const char *directory[] = {"PIA_USER=p1234567",
				   "PIA_PASS=pw",
				   "PORT_DATA_FILE=/config/",
				   NULL};
	const char *same[] = {"PIA_USER=p1234567",
			      "PIA_PASS=pw",
			      "PORT_FILE=/config/port",
			      "PORT_DATA_FILE=/config/port",
			      NULL};
	const char *user[] = {"PIA_USER=p1234567\n", "PIA_PASS=pw", NULL};

	assert_error(no_password,
		     "environment variable PIA_PASS is not set: the environment of the PIA "
		     "port-forwarding manager needs it; accepted values: the password of the PIA "
		     "account PIA_USER");
	assert_error(gateway,
		     "environment variable PIA_GATEWAY=10.x.x.1: not an IPv4 address; accepted "
		     "values: a dotted IPv4 address, such as 10.10.0.1, or unset: portmapd then "
		     "finds PIA's gateway, as the tool did");
	assert_error(relative,
		     "environment variable PORT_FILE=pia-port.txt: not an absolute path to a file; "
		     "accepted values: a path starting with /, not ending with / (default "
		     "/config/pia-port.txt)");
	assert_error(directory,
		     "environment variable PORT_DATA_FILE=/config/: not an absolute path to a "
		     "file; accepted values: a path starting with /, not ending with / (default "
		     "/config/pia-port-data.json)");
	assert_error(same,
		     "environment variable PORT_DATA_FILE=/config/port: the same file as PORT_FILE; "
		     "accepted values: another path (default /config/pia-port-data.json)");
	assert_error(user,
		     "environment variable PIA_USER=p1234567?: a control character (a newline, a "
		     "tab) in the value; accepted values: text without control characters");
}

/* pia-foss/manual-connections: PIA_TOKEN=… PF_GATEWAY=… PF_HOSTNAME=… ./port_forwarding.sh */

static void
test_pia_manual_readme(void)
{
	/* the invocation connect_to_wireguard_with_token.sh prints, with the README's gateway */
	const char *envp[] = {"PIA_TOKEN=tok-MARKER-4f1a",
			      "PF_GATEWAY=10.4.128.1",
			      "PF_HOSTNAME=newjersey419",
			      NULL};
	g_autoptr(GError) error = NULL;
	g_autoptr(PmConfigEnv) env = env_new(envp, &error);
	g_auto(GStrv) credentials = NULL;

	g_assert_no_error(error);
	g_assert_cmpstr(pm_config_env_get_tool(env), ==, "pia-foss/manual-connections");
	/* no port file in the script: one at portmapd's default, RUNTIME_DIR/port-file.port */
	g_assert_cmpstr(pm_config_env_get_data(env),
			==,
			HEADER "[Provider pia]\n"
			       "Type=pia\n"
			       "Gateway=10.4.128.1\n"
			       "Hostname=newjersey419\n"
			       "TokenCredential=pia-token\n"
			       "RefreshInterval=15min\n"
			       "\n"
			       "[Consumer port-file]\n"
			       "Type=portfile\n"
			       "Format=ports\n"
			       "\n"
			       "[Mapping forwarded-port]\n"
			       "Provider=pia\n"
			       "Consumers=port-file\n");
	credentials = pm_config_env_get_credentials(env);
	g_assert_cmpstrv(credentials, ((const char *const[]){"pia-token", NULL}));
	g_assert_null(strstr(pm_config_env_get_data(env), "MARKER"));
}

static void
test_pia_manual_payload_and_signature(void)
{
	/* the README's getSignature answer, saved to keep its port (47047) */
	const char *envp[] = {"PIA_TOKEN=tok-MARKER",
			      "PF_GATEWAY=10.4.128.1",
			      "PF_HOSTNAME=newjersey419",
			      "PAYLOAD_AND_SIGNATURE=" PAYLOAD_AND_SIGNATURE,
			      NULL};
	const char *bad[] = {
	    "not json MARKER",
	    "[\"MARKER\"]",
	    "{\"status\":\"ERROR\",\"payload\":\"MARKER\",\"signature\":\"MARKER\"}",
	    "{\"status\":\"OK\",\"payload\":\"\",\"signature\":\"MARKER\"}",
	    "{\"status\":\"OK\",\"payload\":{\"port\":1},\"signature\":\"MARKER\"}",
	    "{\"status\":\"OK\",\"payload\":\"MARKER\"}",
	};
	const char *what[] = {
	    "not a JSON object",
	    "not a JSON object",
	    "its status is not \"OK\"",
	    "no payload or no signature (non-empty strings)",
	    "no payload or no signature (non-empty strings)",
	    "no payload or no signature (non-empty strings)",
	};
	g_autoptr(GError) error = NULL;
	g_autoptr(PmConfigEnv) env = env_new(envp, &error);
	g_auto(GStrv) credentials = NULL;

	g_assert_no_error(error);
	g_assert_nonnull(strstr(pm_config_env_get_data(env),
				"TokenCredential=pia-token\n"
				"PayloadAndSignatureCredential=pia-payload-and-signature\n"));
	g_assert_null(strstr(pm_config_env_get_data(env), "eyJ0b2tlbi"));
	credentials = pm_config_env_get_credentials(env);
	g_assert_cmpstrv(credentials,
			 ((const char *const[]){"pia-token", "pia-payload-and-signature", NULL}));

	for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
		g_autofree char *variable = g_strdup_printf("PAYLOAD_AND_SIGNATURE=%s", bad[i]);
		g_autofree char *message = g_strdup_printf(
		    "environment variable PAYLOAD_AND_SIGNATURE=(secret, not shown): %s; "
		    "accepted values: the JSON that getSignature answered, "
		    "{\"status\":\"OK\",\"payload\":\"…\",\"signature\":\"…\"}, or unset for a "
		    "new port",
		    what[i]);
		const char *bad_envp[] = {"PIA_TOKEN=tok",
					  "PF_GATEWAY=10.4.128.1",
					  "PF_HOSTNAME=newjersey419",
					  variable,
					  NULL};
		assert_error(bad_envp, message);
	}
}

static void
test_pia_manual_required(void)
{
	/* port_forwarding.sh exits without PF_GATEWAY, PIA_TOKEN and PF_HOSTNAME */
	const char *no_gateway[] = {"PIA_TOKEN=tok", "PF_HOSTNAME=newjersey419", NULL};
	const char *no_hostname[] = {"PIA_TOKEN=tok", "PF_GATEWAY=10.4.128.1", NULL};
	const char *gateway[] = {"PIA_TOKEN=tok",
				 "PF_GATEWAY=newjersey419",
				 "PF_HOSTNAME=newjersey419",
				 NULL};
	const char *hostname[] = {"PIA_TOKEN=tok",
				  "PF_GATEWAY=10.4.128.1",
				  "PF_HOSTNAME=https://newjersey419/",
				  NULL};

	assert_error(no_gateway,
		     "environment variable PF_GATEWAY is not set: the environment of "
		     "pia-foss/manual-connections needs it; accepted values: the IPv4 address of "
		     "the PIA server's gateway, such as 10.10.0.1");
	assert_error(no_hostname,
		     "environment variable PF_HOSTNAME is not set: the environment of "
		     "pia-foss/manual-connections needs it; accepted values: the PIA server's "
		     "name, as on its certificate, such as newjersey419");
	assert_error(gateway,
		     "environment variable PF_GATEWAY=newjersey419: not an IPv4 address; accepted "
		     "values: a dotted IPv4 address, such as 10.10.0.1");
	assert_error(hostname,
		     "environment variable PF_HOSTNAME=https://newjersey419/: not a server name; "
		     "accepted values: the PIA server's name, as on its certificate (letters, "
		     "digits, '-', '.' and '_'), such as newjersey419");
}

/* gluetun's PIA port forwarding */

#define GLUETUN_PIA_STATUS_AND_MAPPING                                                           \
	"[Consumer status-file]\n"                                                               \
	"Type=portfile\n"                                                                        \
	"Format=ports\n"                                                                         \
	"Path=/tmp/gluetun/forwarded_port\n"                                                     \
	"\n"                                                                                     \
	"[Mapping forwarded-port]\n"                                                             \
	"Provider=pia\n"                                                                         \
	"Consumers=status-file\n"

static void
test_gluetun_pia(void)
{
	/* gluetun's wiki for PIA: the OpenVPN credentials serve port forwarding too */
	const char *envp[] = {"VPN_SERVICE_PROVIDER=private internet access",
			      "OPENVPN_USER=p1234567",
			      "OPENVPN_PASSWORD=your_password",
			      "SERVER_REGIONS=Netherlands",
			      "VPN_PORT_FORWARDING=on",
			      NULL};
	g_autoptr(GError) error = NULL;
	g_autoptr(PmConfigEnv) env = env_new(envp, &error);
	g_auto(GStrv) credentials = NULL;

	g_assert_no_error(error);
	g_assert_cmpstr(pm_config_env_get_data(env),
			==,
			HEADER "[Provider pia]\n"
			       "Type=pia\n"
			       "Username=p1234567\n"
			       "PasswordCredential=pia-password\n"
			       "RefreshInterval=15min\n"
			       "\n" GLUETUN_PIA_STATUS_AND_MAPPING);
	credentials = pm_config_env_get_credentials(env);
	g_assert_cmpstrv(credentials, ((const char *const[]){"pia-password", NULL}));
	g_assert_null(strstr(pm_config_env_get_data(env), "your_password"));
}

static void
test_gluetun_pia_custom_wireguard(void)
{
	/* a custom WireGuard connection to PIA (gluetun#2320): the port-forwarding provider,
	 * its own credentials (winning over OpenVPN's) and the server's name for TLS */
	const char *envp[] = {"VPN_SERVICE_PROVIDER=custom",
			      "VPN_TYPE=wireguard",
			      "VPN_PORT_FORWARDING=on",
			      "VPN_PORT_FORWARDING_PROVIDER=Private Internet Access",
			      "VPN_PORT_FORWARDING_USERNAME=p1234567",
			      "VPN_PORT_FORWARDING_PASSWORD=\"pw-MARKER\"",
			      "OPENVPN_USER=p7654321",
			      "OPENVPN_PASSWORD=ovpn-MARKER",
			      "VPN_GATEWAY=10.13.128.1",
			      "SERVER_NAMES=newjersey419, newjersey420",
			      "VPN_PORT_FORWARDING_STATUS_FILE=/gluetun/forwarded_port",
			      "VPN_PORT_FORWARDING_UP_COMMAND=" UP_COMMAND,
			      NULL};
	g_autoptr(GError) error = NULL;
	g_autoptr(PmConfigEnv) env = env_new(envp, &error);
	g_autofree char *secret = NULL;
	g_autofree char *text = NULL;

	g_assert_no_error(error);
	g_assert_cmpstr(pm_config_env_get_data(env),
			==,
			HEADER "[Provider pia]\n"
			       "Type=pia\n"
			       "Gateway=10.13.128.1\n"
			       "Hostname=newjersey419\n"
			       "Username=p1234567\n"
			       "PasswordCredential=pia-password\n"
			       "RefreshInterval=15min\n"
			       "\n"
			       "[Consumer status-file]\n"
			       "Type=portfile\n"
			       "Format=ports\n"
			       "Path=/gluetun/forwarded_port\n"
			       "\n"
			       "[Consumer up-down-commands]\n"
			       "Type=exec\n"
			       "ExecUp=" UP_COMMAND "\n"
			       "\n"
			       "[Mapping forwarded-port]\n"
			       "Provider=pia\n"
			       "Consumers=status-file up-down-commands\n");

	/* the first of SERVER_NAMES, said once the log is set up */
	pm_test_log_clear();
	pm_config_env_log_warnings(env);
	pm_test_assert_warning("SERVER_NAMES lists 2 servers: the PIA gateway's certificate is "
			       "checked against the first, newjersey419");
	pm_test_assert_no_warnings();

	/* the password as gosettings reads it (quotes trimmed), from its own variable */
	g_unsetenv("CREDENTIALS_DIRECTORY");
	pm_config_env_import_secrets(env);
	pm_test_log_clear();
	secret = pm_secret_load("pia-password", NULL, FALSE, &error);
	g_assert_no_error(error);
	g_assert_cmpstr(secret, ==, "pw-MARKER");
	text = pm_config_env_annotate(env, pm_config_env_get_data(env));
	g_assert_nonnull(strstr(text,
				"# pia-password: imported from the environment variable "
				"VPN_PORT_FORWARDING_PASSWORD, kept in memory only;\n"));
	g_assert_nonnull(strstr(text, "replace this key by PasswordFile=/path/to/file"));
	pm_secret_clear_imported_credentials();
}

static void
test_gluetun_pia_bad_values(void)
{
	const char *no_user[] = {"VPN_SERVICE_PROVIDER=private internet access",
				 "VPN_PORT_FORWARDING=on",
				 "OPENVPN_PASSWORD=pw",
				 NULL};
	const char *no_password[] = {"VPN_SERVICE_PROVIDER=private internet access",
				     "VPN_PORT_FORWARDING=on",
				     "VPN_PORT_FORWARDING_USERNAME=p1234567",
				     NULL};
	const char *gateway[] = {"VPN_SERVICE_PROVIDER=private internet access",
				 "VPN_PORT_FORWARDING=on",
				 "OPENVPN_USER=p1234567",
				 "OPENVPN_PASSWORD=pw",
				 "VPN_GATEWAY=fd00::1",
				 NULL};
	const char *names[] = {"VPN_SERVICE_PROVIDER=private internet access",
			       "VPN_PORT_FORWARDING=on",
			       "OPENVPN_USER=p1234567",
			       "OPENVPN_PASSWORD=pw",
			       "SERVER_NAMES=,newjersey419",
			       NULL};
	const char *bad_name[] = {"VPN_SERVICE_PROVIDER=private internet access",
				  "VPN_PORT_FORWARDING=on",
				  "OPENVPN_USER=p1234567",
				  "OPENVPN_PASSWORD=pw",
				  "SERVER_NAMES=new jersey",
				  NULL};

	assert_error(no_user,
		     "environment variables VPN_PORT_FORWARDING_USERNAME and OPENVPN_USER are "
		     "unset: gluetun's PIA port forwarding needs the account's user name; "
		     "accepted values: the PIA user name (p followed by digits)");
	assert_error(no_password,
		     "environment variables VPN_PORT_FORWARDING_PASSWORD and OPENVPN_PASSWORD are "
		     "unset: gluetun's PIA port forwarding needs the account's password; accepted "
		     "values: the PIA password");
	assert_error(gateway,
		     "environment variable VPN_GATEWAY=fd00::1: not an IPv4 address; accepted "
		     "values: a dotted IPv4 address, such as 10.10.0.1, or unset: portmapd then "
		     "finds PIA's gateway as gluetun did");
	assert_error(names,
		     "environment variable SERVER_NAMES=,newjersey419: no server name first; "
		     "accepted values: the PIA server's name, as on its certificate, such as "
		     "newjersey419, or names separated by commas");
	assert_error(bad_name,
		     "environment variable SERVER_NAMES=new jersey: not a server name; accepted "
		     "values: the PIA server's name, as on its certificate (letters, digits, '-', "
		     "'.' and '_'), such as newjersey419");
}

/*
 * The three PIA sets load. Type=pia comes with the PIA provider branch: until it is
 * merged there is no class to read [Provider pia] (remove this guard then)
 */
static void
test_pia_loads(void)
{
	const char *manager[] = {"PIA_USER=p1234567", "PIA_PASS=your_password", NULL};
	const char *manual[] = {"PIA_TOKEN=tok",
				"PF_GATEWAY=10.4.128.1",
				"PF_HOSTNAME=newjersey419",
				"PAYLOAD_AND_SIGNATURE=" PAYLOAD_AND_SIGNATURE,
				NULL};
	const char *gluetun[] = {"VPN_SERVICE_PROVIDER=private internet access",
				 "VPN_PORT_FORWARDING=on",
				 "OPENVPN_USER=p1234567",
				 "OPENVPN_PASSWORD=your_password",
				 "SERVER_NAMES=newjersey419",
				 NULL};
	const struct {
		const char *const *envp;
		const char *consumers[3];
	} sets[] = {
	    {manager, {"port-file", "port-data-file", NULL}},
	    {manual, {"port-file", NULL}},
	    {gluetun, {"status-file", NULL}},
	};

	for (guint i = 0; i < G_N_ELEMENTS(sets); i++) {
		g_autoptr(PmConfigEnv) env = env_new(sets[i].envp, NULL);
		g_autoptr(PmConfig) config = load_env(env, NULL);
		const PmMappingConfig *mapping = pm_config_find_mapping(config, "forwarded-port");

		g_assert_nonnull(pm_config_find_provider(config, "pia"));
		g_assert_nonnull(mapping);
		g_assert_cmpstr(mapping->provider, ==, "pia");
		/* a PIA mapping is TCP and UDP, I := E */
		g_assert_cmpuint(mapping->protocols, ==, PM_PROTOCOL_TCP | PM_PROTOCOL_UDP);
		g_assert_cmpuint(mapping->internal_port, ==, 0);
		g_assert_cmpstrv(mapping->consumers, sets[i].consumers);
		for (guint j = 0; sets[i].consumers[j] != NULL; j++)
			g_assert_nonnull(pm_config_find_consumer(config, sets[i].consumers[j]));
		assert_round_trip(env, config);
	}
}

/* recognising the tool */

static void
test_two_sets(void)
{
	const char *envp[] = {"NATPMP_SERVICE=natpmp-service:8080",
			      "INTERNAL_PORT=6881",
			      "VPN_SERVICE_PROVIDER=protonvpn",
			      "VPN_PORT_FORWARDING=on",
			      NULL};

	/* manual-connections' run_setup.sh takes PIA_USER too: with port_forwarding.sh's
	 * PIA_TOKEN, that is the PIA manager's variable as well */
	const char *pia[] = {"PIA_USER=p0123456",
			     "PIA_PASS=xxxxxxxx",
			     "PIA_TOKEN=tok",
			     "PF_GATEWAY=10.4.128.1",
			     "PF_HOSTNAME=newjersey419",
			     NULL};

	assert_error(envp,
		     "--config-from-env: the environment has variables of two tools, the "
		     "natpmp-http-api client (NATPMP_SERVICE) and gluetun (VPN_PORT_FORWARDING); "
		     "portmapd imports the settings of one: unset the other's");
	assert_error(pia,
		     "--config-from-env: the environment has variables of two tools, the PIA "
		     "port-forwarding manager (PIA_USER) and pia-foss/manual-connections "
		     "(PIA_TOKEN); portmapd imports the settings of one: unset the other's");
}

static void
test_no_set(void)
{
	/* shared names alone recognise nothing; nor do empty values */
	const char *envp[] = {"PATH=/usr/bin:/bin",
			      "VPN_GATEWAY=10.2.0.1",
			      "LOG_LEVEL=debug",
			      "NATPMP_SERVICE=",
			      NULL};

	assert_error(envp,
		     "--config-from-env: the environment has no variable of a tool that portmapd "
		     "replaces; recognised: NATPMP_SERVICE (the natpmp-http-api client), "
		     "VPN_PORT_FORWARDING or a VPN_PORT_FORWARDING_* variable (gluetun), PIA_USER "
		     "(the PIA port-forwarding manager), PIA_TOKEN (pia-foss/manual-connections), "
		     "MIKROTIK_API_ADDRESS (mikrotik-double-natpmp) (see ENVIRONMENT IMPORT in "
		     "portmapd(8))");
}

/* mikrotik-double-natpmp: its README's Quick Start, with LISTEN_ADDR on loopback (the
 * default, every LAN address, depends on the host's interfaces: the lab tests it) */
#define MIKROTIK_QUICK_START                                                                     \
	HEADER "[Provider vpn]\n"                                                                \
	       "Type=natpmp\n"                                                                   \
	       "Gateway=10.2.0.1\n"                                                              \
	       "\n"                                                                              \
	       "[MikroTik mikrotik]\n"                                                           \
	       "Address=192.168.1.254:8728\n"                                                    \
	       "TLS=no\n"                                                                        \
	       "Username=admin\n"                                                                \
	       "PasswordCredential=mikrotik-password\n"                                          \
	       "PoolSize=4\n"                                                                    \
	       "\n"                                                                              \
	       "[Gateway]\n"                                                                     \
	       "Listen=127.0.0.1\n"                                                              \
	       "AllowedNetworks=127.0.0.0/8\n"                                                   \
	       "Upstream=vpn\n"                                                                  \
	       "Router=mikrotik\n"

static void
test_mikrotik_quick_start(void)
{
	const char *envp[] = {"VPN_GATEWAY=10.2.0.1",
			      "MIKROTIK_API_ADDRESS=192.168.1.254:8728",
			      "MIKROTIK_API_PASSWORD=your-password",
			      "LISTEN_ADDR=127.0.0.1:5351",
			      NULL};
	g_autoptr(GError) error = NULL;
	g_autoptr(PmConfigEnv) env = env_new(envp, &error);
	g_auto(GStrv) credentials = NULL;

	g_assert_no_error(error);
	g_assert_cmpstr(pm_config_env_get_data(env), ==, MIKROTIK_QUICK_START);
	g_assert_cmpstr(pm_config_env_get_tool(env), ==, "mikrotik-double-natpmp");
	credentials = pm_config_env_get_credentials(env);
	g_assert_cmpuint(g_strv_length(credentials), ==, 1);
	g_assert_cmpstr(credentials[0], ==, "mikrotik-password");
	g_assert_null(strstr(pm_config_env_get_data(env), "your-password"));
}

static void
test_mikrotik_optional(void)
{
	const char *envp[] = {"VPN_GATEWAY=10.2.0.1",
			      "MIKROTIK_API_ADDRESS=192.168.88.1:8729",
			      "MIKROTIK_API_PASSWORD=pw",
			      "MIKROTIK_API_USER=natpmp",
			      "MIKROTIK_API_TLS=true",
			      "MIKROTIK_IN_INTERFACE=wg-proton",
			      "LISTEN_ADDR=127.0.0.1:5351",
			      "LOG_LEVEL=WARN",
			      NULL};
	g_autoptr(PmConfigEnv) env = env_new(envp, NULL);
	const char *text = pm_config_env_get_data(env);

	g_assert_nonnull(strstr(text, "[MikroTik mikrotik]\nAddress=192.168.88.1:8729\nTLS=yes\n"
				      "Username=natpmp\nPasswordCredential=mikrotik-password\n"
				      "InInterface=wg-proton\nPoolSize=4\n"));
	g_assert_cmpstr(pm_config_env_get_log_level(env), ==, "warning");
}

static void
test_mikrotik_bad_values(void)
{
	const char *no_gateway[] = {"MIKROTIK_API_ADDRESS=192.168.88.1:8728",
				    "MIKROTIK_API_PASSWORD=pw", NULL};
	const char *no_password[] = {"MIKROTIK_API_ADDRESS=192.168.88.1:8728",
				     "VPN_GATEWAY=10.2.0.1", NULL};
	const char *tls[] = {"MIKROTIK_API_ADDRESS=192.168.88.1:8728", "VPN_GATEWAY=10.2.0.1",
			     "MIKROTIK_API_PASSWORD=pw", "MIKROTIK_API_TLS=yes", NULL};
	const char *port[] = {"MIKROTIK_API_ADDRESS=192.168.88.1:8728", "VPN_GATEWAY=10.2.0.1",
			      "MIKROTIK_API_PASSWORD=pw", "LISTEN_ADDR=:5350", NULL};
	const char *v6[] = {"MIKROTIK_API_ADDRESS=192.168.88.1:8728", "VPN_GATEWAY=10.2.0.1",
			    "MIKROTIK_API_PASSWORD=pw", "LISTEN_ADDR=[::1]:5351", NULL};
	const char *absent[] = {"MIKROTIK_API_ADDRESS=192.168.88.1:8728", "VPN_GATEWAY=10.2.0.1",
				"MIKROTIK_API_PASSWORD=pw", "LISTEN_ADDR=192.0.2.77:5351", NULL};

	assert_error(no_gateway, "environment variable VPN_GATEWAY is not set: the environment of "
				 "mikrotik-double-natpmp needs it; accepted values: the VPN "
				 "gateway's IPv4 address, such as 10.2.0.1");
	assert_error(no_password, "environment variable MIKROTIK_API_PASSWORD is not set: the "
				  "environment of mikrotik-double-natpmp needs it; accepted values: "
				  "the RouterOS API user's password");
	assert_error(tls, "environment variable MIKROTIK_API_TLS=yes: not a boolean; accepted "
			  "values: true, false, 1, 0, t, f, TRUE, FALSE, True, False (as Go's "
			  "strconv.ParseBool reads them)");
	assert_error(port, "environment variable LISTEN_ADDR=:5350: portmapd answers NAT-PMP on "
			   "port 5351 only; accepted values: ADDRESS:5351 or :5351 (every LAN "
			   "address)");
	assert_error(v6, "environment variable LISTEN_ADDR=[::1]:5351: not an IPv4 address "
			 "(NAT-PMP is IPv4 only); accepted values: ADDRESS:5351 or :5351 (every "
			 "LAN address)");
	assert_error(absent, "environment variable LISTEN_ADDR=192.0.2.77:5351: no interface has "
			     "this address; accepted values: ADDRESS:5351 with a local IPv4 "
			     "address, or :5351");
}

static void
test_mikrotik_loads(void)
{
	const char *envp[] = {"VPN_GATEWAY=10.2.0.1",
			      "MIKROTIK_API_ADDRESS=192.168.1.254:8728",
			      "MIKROTIK_API_PASSWORD=your-password",
			      "LISTEN_ADDR=127.0.0.1:5351",
			      NULL};
	g_autoptr(PmConfigEnv) env = env_new(envp, NULL);
	g_autoptr(PmConfig) config = load_env(env, NULL);
	const PmMikrotikConfig *mikrotik = pm_config_find_mikrotik(config, "mikrotik");

	g_assert_nonnull(mikrotik);
	g_assert_cmpstr(mikrotik->host, ==, "192.168.1.254");
	g_assert_cmpuint(mikrotik->port, ==, 8728);
	g_assert_nonnull(config->gateway);
	g_assert_true(config->gateway->mikrotik == mikrotik);
	assert_round_trip(env, config);
}

/* secrets */

static void
test_secrets_imported_and_removed(void)
{
	const char *token = "tok-MARKER-7c2e";
	g_autofree char *token_variable = g_strdup_printf("API_TOKEN=%s", token);
	const char *envp[] = {"NATPMP_SERVICE=natpmp-service:8080",
			      "INTERNAL_PORT=6881",
			      token_variable,
			      NULL};
	g_autoptr(GError) error = NULL;
	g_autoptr(PmConfigEnv) env = env_new(envp, &error);
	g_autofree char *secret = NULL;
	g_autofree char *text = NULL;

	g_assert_no_error(error);
	g_unsetenv("CREDENTIALS_DIRECTORY");
	for (guint i = 0; pm_secret_environment_variables[i] != NULL; i++)
		g_unsetenv(pm_secret_environment_variables[i]);
	g_setenv("API_TOKEN", token, TRUE);
	g_setenv("OPENVPN_PASSWORD", "ovpn-MARKER", TRUE);
	pm_test_log_clear();

	pm_config_env_import_secrets(env);
	/* one warning, naming the variables and not their values */
	pm_test_assert_warning("API_TOKEN, OPENVPN_PASSWORD");
	pm_test_assert_no_warnings();
	for (guint i = 0; pm_secret_environment_variables[i] != NULL; i++)
		g_assert_null(g_getenv(pm_secret_environment_variables[i]));

	/* TokenCredential= finds it in memory, before $CREDENTIALS_DIRECTORY */
	secret = pm_secret_load("natpmp-http-token", NULL, FALSE, &error);
	g_assert_no_error(error);
	g_assert_cmpstr(secret, ==, token);

	/* --print-config says where it came from, and never shows it */
	text = pm_config_env_annotate(env, pm_config_env_get_data(env));
	g_assert_null(strstr(text, token));
	g_assert_nonnull(strstr(text,
				"# natpmp-http-token: imported from the environment variable "
				"API_TOKEN, kept in memory only;\n"
				"# without it, pass the secret with "
				"LoadCredential=natpmp-http-token:/path/to/file in "
				"portmapd.service\n"
				"# (a drop-in), or replace this key by TokenFile=/path/to/file "
				"(mode 0600)\n"
				"TokenCredential=natpmp-http-token\n"));

	/* nothing left to remove: no second warning */
	g_strfreev(pm_secret_unset_environment_variables());
	pm_config_env_import_secrets(env);
	pm_test_assert_no_warnings();

	pm_secret_clear_imported_credentials();
	g_assert_false(pm_secret_has_imported_credential("natpmp-http-token"));
	g_assert_null(pm_secret_load("natpmp-http-token", NULL, FALSE, &error));
	g_assert_error(error, PM_ERROR, PM_ERROR_INVALID_CONFIGURATION);
}

static void
test_secrets_pia_imported_and_removed(void)
{
	/* the README's qBittorrent variables without QBITTORRENT_HOST: its password is
	 * removed all the same */
	const char *envp[] = {"PIA_USER=p1234567",
			      "PIA_PASS=pia-MARKER-93d1",
			      "QBITTORRENT_PASS=qb-MARKER",
			      NULL};
	g_autoptr(GError) error = NULL;
	g_autoptr(PmConfigEnv) env = env_new(envp, &error);
	g_autofree char *secret = NULL;
	g_autofree char *text = NULL;

	g_assert_no_error(error);
	g_unsetenv("CREDENTIALS_DIRECTORY");
	for (guint i = 0; pm_secret_environment_variables[i] != NULL; i++)
		g_unsetenv(pm_secret_environment_variables[i]);
	g_setenv("PIA_PASS", "pia-MARKER-93d1", TRUE);
	g_setenv("QBITTORRENT_PASS", "qb-MARKER", TRUE);
	g_setenv("PIA_TOKEN", "tok-MARKER", TRUE);
	g_setenv("PAYLOAD_AND_SIGNATURE", PAYLOAD_AND_SIGNATURE, TRUE);
	pm_test_log_clear();

	pm_config_env_import_secrets(env);
	pm_test_assert_warning("PIA_PASS, QBITTORRENT_PASS, PIA_TOKEN, PAYLOAD_AND_SIGNATURE");
	pm_test_assert_no_warnings();
	for (guint i = 0; pm_secret_environment_variables[i] != NULL; i++)
		g_assert_null(g_getenv(pm_secret_environment_variables[i]));

	secret = pm_secret_load("pia-password", NULL, FALSE, &error);
	g_assert_no_error(error);
	g_assert_cmpstr(secret, ==, "pia-MARKER-93d1");
	text = pm_config_env_annotate(env, pm_config_env_get_data(env));
	g_assert_null(strstr(text, "MARKER"));
	g_assert_nonnull(strstr(text,
				"# pia-password: imported from the environment variable "
				"PIA_PASS, kept in memory only;\n"
				"# without it, pass the secret with "
				"LoadCredential=pia-password:/path/to/file in "
				"portmapd.service\n"
				"# (a drop-in), or replace this key by PasswordFile=/path/to/file "
				"(mode 0600)\n"
				"PasswordCredential=pia-password\n"));
	pm_secret_clear_imported_credentials();
}

/* a secret's value is never in a message */
static void
test_secret_not_echoed(void)
{
	const char *envp[] = {"NATPMP_SERVICE=natpmp-service:8080",
			      "INTERNAL_PORT=6881",
			      "API_TOKEN=tok-MARKER",
			      "VPN_PORT_FORWARDING_PASSWORD=pw-MARKER",
			      "VPN_PORT_FORWARDING=on",
			      NULL};
	g_autoptr(GError) error = NULL;
	g_autoptr(PmConfigEnv) env = env_new(envp, &error);

	g_assert_null(env);
	g_assert_null(strstr(error->message, "MARKER"));
	g_assert_nonnull(strstr(error->message, "two tools"));
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	pm_test_log_init();

	g_test_add_func("/config-env/natpmp-http/quick-start", test_natpmp_http_quick_start);
	g_test_add_func("/config-env/natpmp-http/docker-compose", test_natpmp_http_docker_compose);
	g_test_add_func("/config-env/natpmp-http/building-locally",
			test_natpmp_http_building_locally);
	g_test_add_func("/config-env/natpmp-http/short-interval", test_natpmp_http_short_interval);
	g_test_add_func("/config-env/natpmp-http/refresh-not-less",
			test_natpmp_http_refresh_not_less);
	g_test_add_func("/config-env/natpmp-http/booleans", test_natpmp_http_booleans);
	g_test_add_func("/config-env/natpmp-http/internal-port", test_natpmp_http_internal_port);
	g_test_add_func("/config-env/natpmp-http/service", test_natpmp_http_service);
	g_test_add_func("/config-env/natpmp-http/loads", test_natpmp_http_loads);
	g_test_add_func("/config-env/gluetun/protonvpn", test_gluetun_protonvpn);
	g_test_add_func("/config-env/gluetun/status-file-and-gateway",
			test_gluetun_status_file_and_gateway);
	g_test_add_func("/config-env/gluetun/loads", test_gluetun_loads);
	g_test_add_func("/config-env/gluetun/loads-with-commands", test_gluetun_loads_with_commands);
	g_test_add_func("/config-env/gluetun/merge-file", test_gluetun_merge_file);
	g_test_add_func("/config-env/gluetun/booleans", test_gluetun_booleans);
	g_test_add_func("/config-env/gluetun/provider", test_gluetun_provider);
	g_test_add_func("/config-env/gluetun/unsupported-values", test_gluetun_unsupported_values);
	g_test_add_func("/config-env/pia-manager/standalone", test_pia_manager_standalone);
	g_test_add_func("/config-env/pia-manager/kubernetes", test_pia_manager_kubernetes);
	g_test_add_func("/config-env/pia-manager/gateway-and-files",
			test_pia_manager_gateway_and_files);
	g_test_add_func("/config-env/pia-manager/interval", test_pia_manager_interval);
	g_test_add_func("/config-env/pia-manager/qbittorrent", test_pia_manager_qbittorrent);
	g_test_add_func("/config-env/pia-manager/bad-values", test_pia_manager_bad_values);
	g_test_add_func("/config-env/pia-manual/readme", test_pia_manual_readme);
	g_test_add_func("/config-env/pia-manual/payload-and-signature",
			test_pia_manual_payload_and_signature);
	g_test_add_func("/config-env/pia-manual/required", test_pia_manual_required);
	g_test_add_func("/config-env/gluetun/pia", test_gluetun_pia);
	g_test_add_func("/config-env/gluetun/pia-custom-wireguard",
			test_gluetun_pia_custom_wireguard);
	g_test_add_func("/config-env/gluetun/pia-bad-values", test_gluetun_pia_bad_values);
	g_test_add_func("/config-env/pia/loads", test_pia_loads);
	g_test_add_func("/config-env/two-sets", test_two_sets);
	g_test_add_func("/config-env/no-set", test_no_set);
	g_test_add_func("/config-env/mikrotik/quick-start", test_mikrotik_quick_start);
	g_test_add_func("/config-env/mikrotik/optional", test_mikrotik_optional);
	g_test_add_func("/config-env/mikrotik/bad-values", test_mikrotik_bad_values);
	g_test_add_func("/config-env/mikrotik/loads", test_mikrotik_loads);
	g_test_add_func("/config-env/secrets/imported-and-removed",
			test_secrets_imported_and_removed);
	g_test_add_func("/config-env/secrets/pia-imported-and-removed",
			test_secrets_pia_imported_and_removed);
	g_test_add_func("/config-env/secrets/not-echoed", test_secret_not_echoed);
	return g_test_run();
}
