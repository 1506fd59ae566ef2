/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <glib/gstdio.h>
#include <string.h>

#include "config-env.h"
#include "config.h"
#include "consumer.h"
#include "errors.h"
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
	const char *pia[] = {"VPN_SERVICE_PROVIDER=private internet access",
			     "VPN_PORT_FORWARDING=on",
			     NULL};
	const char *pia_old[] = {"VPN_SERVICE_PROVIDER=pia", "VPN_PORT_FORWARDING=on", NULL};
	const char *pia_pf[] = {"VPN_SERVICE_PROVIDER=custom",
				"VPN_PORT_FORWARDING=on",
				"VPN_PORT_FORWARDING_PROVIDER=Private Internet Access",
				"VPN_PORT_FORWARDING_USERNAME=p1234567",
				"VPN_PORT_FORWARDING_PASSWORD=hunter2",
				NULL};
	const char *none[] = {"VPN_PORT_FORWARDING=on", NULL};
	const char *other[] = {"VPN_SERVICE_PROVIDER=privatevpn", "VPN_PORT_FORWARDING=on", NULL};
	g_autoptr(PmConfigEnv) env = env_new(custom, NULL);

	g_assert_nonnull(env);
	assert_error(pia,
		     "environment variable VPN_SERVICE_PROVIDER=private internet access: PIA port "
		     "forwarding is not supported by this version of portmapd yet; accepted "
		     "values: protonvpn");
	assert_error(pia_old,
		     "environment variable VPN_SERVICE_PROVIDER=pia: PIA port forwarding is not "
		     "supported by this version of portmapd yet; accepted values: protonvpn");
	assert_error(pia_pf,
		     "environment variable VPN_PORT_FORWARDING_PROVIDER=Private Internet Access: "
		     "PIA port forwarding is not supported by this version of portmapd yet; "
		     "accepted values: protonvpn");
	assert_error(none,
		     "environment variables VPN_PORT_FORWARDING_PROVIDER and VPN_SERVICE_PROVIDER "
		     "are unset: gluetun's port forwarding needs the VPN provider; accepted "
		     "values: protonvpn");
	assert_error(other,
		     "environment variable VPN_SERVICE_PROVIDER=privatevpn: portmapd does not "
		     "import gluetun's port forwarding for this VPN provider; accepted values: "
		     "protonvpn");
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

/* recognising the tool */

static void
test_two_sets(void)
{
	const char *envp[] = {"NATPMP_SERVICE=natpmp-service:8080",
			      "INTERNAL_PORT=6881",
			      "VPN_SERVICE_PROVIDER=protonvpn",
			      "VPN_PORT_FORWARDING=on",
			      NULL};

	assert_error(envp,
		     "--config-from-env: the environment has variables of two tools, the "
		     "natpmp-http-api client (NATPMP_SERVICE) and gluetun (VPN_PORT_FORWARDING); "
		     "portmapd imports the settings of one: unset the other's");
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

static void
test_not_supported(void)
{
	const char *pia_user[] = {"PIA_USER=p1234567", "PIA_PASS=hunter2", NULL};
	const char *pia_token[] = {"PIA_TOKEN=abcdef", "PF_GATEWAY=10.0.0.1", NULL};
	const char *mikrotik[] = {"MIKROTIK_API_ADDRESS=192.168.88.1",
				  "VPN_GATEWAY=10.2.0.1",
				  NULL};

	assert_error(pia_user,
		     "environment variable PIA_USER is set: importing the settings of the PIA "
		     "port-forwarding manager is not supported by this version of portmapd yet; "
		     "write a portmapd.conf instead (see portmapd.conf(5))");
	assert_error(pia_token,
		     "environment variable PIA_TOKEN is set: importing the settings of "
		     "pia-foss/manual-connections is not supported by this version of portmapd "
		     "yet; write a portmapd.conf instead (see portmapd.conf(5))");
	assert_error(mikrotik,
		     "environment variable MIKROTIK_API_ADDRESS is set: importing the settings of "
		     "mikrotik-double-natpmp is not supported by this version of portmapd yet; "
		     "write a portmapd.conf instead (see portmapd.conf(5))");
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
	g_test_add_func("/config-env/two-sets", test_two_sets);
	g_test_add_func("/config-env/no-set", test_no_set);
	g_test_add_func("/config-env/not-supported", test_not_supported);
	g_test_add_func("/config-env/secrets/imported-and-removed",
			test_secrets_imported_and_removed);
	g_test_add_func("/config-env/secrets/not-echoed", test_secret_not_echoed);
	return g_test_run();
}
