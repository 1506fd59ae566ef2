/* SPDX-License-Identifier: GPL-2.0-or-later */
#define G_LOG_DOMAIN "portmapd"

#include <gio/gio.h>
#include <string.h>

#include "config-env.h"
#include "errors.h"
#include "secrets.h"

/*
 * Each replaced tool is recognised by a variable of its own; the names it shares with
 * others (VPN_GATEWAY, LOG_LEVEL) are read for whichever tool was recognised. Values are
 * read as the tool read them (its booleans, its defaults, its checks), so that a
 * container's environment means here what it meant there.
 */

#define PM_CONFIG_ENV_ECHO_MAX 120

/* the names in the generated text */
#define PM_CONFIG_ENV_MAPPING	   "forwarded-port"
#define PM_CONFIG_ENV_NATPMP_HTTP  "natpmp-http"
#define PM_CONFIG_ENV_TOKEN	   "natpmp-http-token"
#define PM_CONFIG_ENV_PROTONVPN	   "protonvpn"
#define PM_CONFIG_ENV_STATUS_FILE  "status-file"
#define PM_CONFIG_ENV_COMMANDS	   "up-down-commands"

/* natpmp-http-api client (refresh.sh) */
#define NATPMP_HTTP_DEFAULT_DURATION 60
#define NATPMP_HTTP_DEFAULT_REFRESH  45

/* gluetun: internal/configuration/settings/portforward.go, provider/protonvpn */
#define GLUETUN_DEFAULT_STATUS_FILE "/tmp/gluetun/forwarded_port"
#define GLUETUN_PROTONVPN_LIFETIME  60
#define GLUETUN_PROTONVPN_REFRESH   "45s"
#define GLUETUN_PROVIDER_PIA	    "private internet access"
#define GLUETUN_PROVIDER_PROTONVPN  "protonvpn"
#define GLUETUN_ACCEPTED_BOOLEAN                                                                 \
	"enabled, yes, on, true, disabled, no, off, false (in any case), as gluetun reads them"
/* ProtonVPN WireGuard's gateway, which gluetun users set for qbittorrent-natmap and the
 * double-NAT tool: portmapd's own default (the default route's gateway) is not it in a
 * WireGuard container, whose routes through wg0 have no gateway */
#define PROTONVPN_DEFAULT_GATEWAY "10.2.0.1"

typedef struct {
	char *name;	      /* the credential's NAME */
	const char *variable; /* where it came from */
	char *value;	      /* wiped */
} PmConfigEnvCredential;

struct _PmConfigEnv {
	const char *tool;
	char *data;
	char *log_level;
	GPtrArray *credentials; /* of PmConfigEnvCredential */
};

typedef struct {
	const char *const *envp;
	GKeyFile *keyfile;
	PmConfigEnv *result;
} PmConfigEnvBuilder;

typedef gboolean (*PmConfigEnvGenerateFunc)(PmConfigEnvBuilder *builder, GError **error);

/* a replaced tool's set of variables */
typedef struct {
	const char *tool;
	const char *variable; /* what recognises it; a trailing '*' matches any suffix */
	PmConfigEnvGenerateFunc generate; /* NULL: not supported by this version yet */
} PmConfigEnvSet;

static gboolean pm_config_env_generate_natpmp_http(PmConfigEnvBuilder *builder, GError **error);
static gboolean pm_config_env_generate_gluetun(PmConfigEnvBuilder *builder, GError **error);

static const PmConfigEnvSet pm_config_env_sets[] = {
    {"the natpmp-http-api client", "NATPMP_SERVICE", pm_config_env_generate_natpmp_http},
    {"gluetun", "VPN_PORT_FORWARDING*", pm_config_env_generate_gluetun},
    {"the PIA port-forwarding manager", "PIA_USER", NULL},
    {"pia-foss/manual-connections", "PIA_TOKEN", NULL},
    {"mikrotik-double-natpmp", "MIKROTIK_API_ADDRESS", NULL},
};

static void
pm_config_env_credential_free(PmConfigEnvCredential *self)
{
	g_free(self->name);
	pm_secret_free(self->value);
	g_free(self);
}

void
pm_config_env_free(PmConfigEnv *self)
{
	if (self == NULL)
		return;
	g_free(self->data);
	g_free(self->log_level);
	g_ptr_array_unref(self->credentials);
	g_free(self);
}

/* messages */

/* a value in a one-line message: valid UTF-8, control characters as '?', cut */
static char *
pm_config_env_echo(const char *value)
{
	g_autofree char *valid = g_utf8_make_valid(value, -1);
	GString *str;

	if (g_utf8_strlen(valid, -1) > PM_CONFIG_ENV_ECHO_MAX) {
		g_autofree char *cut = g_utf8_substring(valid, 0, PM_CONFIG_ENV_ECHO_MAX);
		str = g_string_new(cut);
		g_string_append(str, "…");
	} else {
		str = g_string_new(valid);
	}
	for (gsize i = 0; i < str->len; i++) {
		if ((guchar)str->str[i] < 0x20 || str->str[i] == 0x7f)
			str->str[i] = '?';
	}
	return g_string_free(str, FALSE);
}

/* "environment variable NAME=VALUE: WHAT; accepted values: ACCEPTED" */
static void
pm_config_env_set_error(GError **error,
			const char *variable,
			const char *value,
			const char *what,
			const char *accepted)
{
	g_autofree char *echo = NULL;

	/* a secret's value never reaches a message */
	if (pm_secret_is_environment_variable(variable))
		echo = g_strdup("(secret, not shown)");
	else
		echo = pm_config_env_echo(value);
	g_set_error(error,
		    PM_ERROR,
		    PM_ERROR_INVALID_CONFIGURATION,
		    "environment variable %s=%s: %s; accepted values: %s",
		    variable,
		    echo,
		    what,
		    accepted);
}

/* reading variables */

/* the tool's value of @name: NULL when unset or empty (each tool here treats both alike) */
static const char *
pm_config_env_get(PmConfigEnvBuilder *builder, const char *name)
{
	const char *value = g_environ_getenv((char **)builder->envp, name);

	return value != NULL && *value != '\0' ? value : NULL;
}

/* text that goes into the configuration as it is: UTF-8 without control characters */
static gboolean
pm_config_env_check_text(const char *variable, const char *value, GError **error)
{
	if (!g_utf8_validate(value, -1, NULL)) {
		pm_config_env_set_error(error, variable, value, "invalid UTF-8", "UTF-8 text");
		return FALSE;
	}
	for (const char *p = value; *p != '\0'; p++) {
		if ((guchar)*p < 0x20 || *p == 0x7f) {
			pm_config_env_set_error(error,
						variable,
						value,
						"a control character (a newline, a tab) in the value",
						"text without control characters");
			return FALSE;
		}
	}
	return TRUE;
}

/* a whole number of decimal digits only ("is_integer" of the natpmp-http-api client) */
static gboolean
pm_config_env_parse_digits(const char *value, guint64 max, guint64 *out)
{
	if (value == NULL || *value == '\0')
		return FALSE;
	for (const char *p = value; *p != '\0'; p++) {
		if (!g_ascii_isdigit(*p))
			return FALSE;
	}
	return g_ascii_string_to_unsigned(value, 10, 0, max, out, NULL);
}

static void
pm_config_env_add_credential(PmConfigEnvBuilder *builder,
			     const char *name,
			     const char *variable,
			     const char *value)
{
	PmConfigEnvCredential *credential = g_new0(PmConfigEnvCredential, 1);

	credential->name = g_strdup(name);
	credential->variable = variable;
	credential->value = g_strdup(value);
	g_ptr_array_add(builder->result->credentials, credential);
}

/* LOG_LEVEL (gluetun: debug, info, warning, error; the double-NAT tool: DEBUG, INFO, WARN,
 * ERROR), in any case, as a --log-level name */
static gboolean
pm_config_env_read_log_level(PmConfigEnvBuilder *builder, GError **error)
{
	const struct {
		const char *name;
		const char *level;
	} levels[] = {
	    {"debug", "debug"},
	    {"info", "info"},
	    {"notice", "notice"},
	    {"warn", "warning"},
	    {"warning", "warning"},
	    {"error", "error"},
	};
	const char *value = pm_config_env_get(builder, "LOG_LEVEL");
	g_autofree char *trimmed = NULL;

	if (value == NULL)
		return TRUE;
	trimmed = g_strstrip(g_strdup(value));
	for (guint i = 0; i < G_N_ELEMENTS(levels); i++) {
		if (g_ascii_strcasecmp(trimmed, levels[i].name) == 0) {
			builder->result->log_level = g_strdup(levels[i].level);
			return TRUE;
		}
	}
	pm_config_env_set_error(error,
				"LOG_LEVEL",
				value,
				"unknown log level",
				"debug, info, notice, warn, warning, error (in any case)");
	return FALSE;
}

/* the natpmp-http-api client (BohdanTkachenko/natpmp-http-api-client, refresh.sh) */

/* its normalize_bool: true, 1, yes or on in any case; anything else is false */
static gboolean
pm_config_env_natpmp_http_boolean(PmConfigEnvBuilder *builder, const char *name)
{
	const char *yes[] = {"true", "1", "yes", "on"};
	const char *value = pm_config_env_get(builder, name);

	/* ${ENABLE_TCP:=true}: unset and empty are the default */
	if (value == NULL)
		return TRUE;
	for (guint i = 0; i < G_N_ELEMENTS(yes); i++) {
		if (g_ascii_strcasecmp(value, yes[i]) == 0)
			return TRUE;
	}
	return FALSE;
}

/* DURATION, REFRESH_INTERVAL: positive whole seconds, with the tool's default */
static gboolean
pm_config_env_natpmp_http_seconds(PmConfigEnvBuilder *builder,
				  const char *name,
				  guint64 default_value,
				  guint64 *out,
				  GError **error)
{
	const char *value = pm_config_env_get(builder, name);
	guint64 seconds = 0;

	if (value == NULL) {
		*out = default_value;
		return TRUE;
	}
	if (!pm_config_env_parse_digits(value, G_MAXUINT32, &seconds) || seconds == 0) {
		g_autofree char *accepted =
		    g_strdup_printf("a whole number of seconds from 1 to %u, without a unit",
				    G_MAXUINT32);
		pm_config_env_set_error(error,
					name,
					value,
					"not a positive whole number of seconds",
					accepted);
		return FALSE;
	}
	*out = seconds;
	return TRUE;
}

static gboolean
pm_config_env_generate_natpmp_http(PmConfigEnvBuilder *builder, GError **error)
{
	const char *service = pm_config_env_get(builder, "NATPMP_SERVICE");
	const char *internal = pm_config_env_get(builder, "INTERNAL_PORT");
	const char *token = pm_config_env_get(builder, "API_TOKEN");
	const char *provider = "Provider " PM_CONFIG_ENV_NATPMP_HTTP;
	const char *mapping = "Mapping " PM_CONFIG_ENV_MAPPING;
	g_autofree char *url = NULL;
	g_autofree char *refresh_text = NULL;
	g_autoptr(GUri) uri = NULL;
	gboolean tcp = pm_config_env_natpmp_http_boolean(builder, "ENABLE_TCP");
	gboolean udp = pm_config_env_natpmp_http_boolean(builder, "ENABLE_UDP");
	guint64 port = 0;
	guint64 duration = 0;
	guint64 refresh = 0;

	/* the tool requests http://$NATPMP_SERVICE/forward: a host and a port, no more */
	if (!pm_config_env_check_text("NATPMP_SERVICE", service, error))
		return FALSE;
	url = g_strdup_printf("http://%s", service);
	uri = g_uri_parse(url, G_URI_FLAGS_NONE, NULL);
	/* GUri takes "natpmp service" for a host name */
	if (strpbrk(service, " /?#@\\") != NULL || uri == NULL || g_uri_get_host(uri) == NULL ||
	    *g_uri_get_host(uri) == '\0' || *g_uri_get_path(uri) != '\0' ||
	    g_uri_get_userinfo(uri) != NULL || g_uri_get_query(uri) != NULL ||
	    g_uri_get_fragment(uri) != NULL) {
		pm_config_env_set_error(error,
					"NATPMP_SERVICE",
					service,
					"not HOST:PORT",
					"the natpmp-http-api service's host name or address and "
					"port, such as natpmp-service:8080");
		return FALSE;
	}

	if (internal == NULL) {
		g_set_error_literal(error,
				    PM_ERROR,
				    PM_ERROR_INVALID_CONFIGURATION,
				    "environment variable INTERNAL_PORT is not set: the "
				    "natpmp-http-api client's environment (NATPMP_SERVICE) needs it; "
				    "accepted values: 1 to 65535, the port the application listens on");
		return FALSE;
	}
	if (!pm_config_env_parse_digits(internal, G_MAXUINT16, &port) || port == 0) {
		pm_config_env_set_error(error,
					"INTERNAL_PORT",
					internal,
					"not a port number",
					"1 to 65535, the port the application listens on");
		return FALSE;
	}

	if (!pm_config_env_natpmp_http_seconds(builder,
					       "DURATION",
					       NATPMP_HTTP_DEFAULT_DURATION,
					       &duration,
					       error))
		return FALSE;
	if (!pm_config_env_natpmp_http_seconds(builder,
					       "REFRESH_INTERVAL",
					       NATPMP_HTTP_DEFAULT_REFRESH,
					       &refresh,
					       error))
		return FALSE;
	/* the tool's own check: a refresh after the mapping expired is too late */
	if (refresh >= duration) {
		g_autofree char *value = g_strdup_printf("%" G_GUINT64_FORMAT, refresh);
		g_autofree char *what =
		    g_strdup_printf("not less than DURATION (%" G_GUINT64_FORMAT " s)", duration);
		g_autofree char *accepted = g_strdup_printf(
		    "a whole number of seconds from 1 to %" G_GUINT64_FORMAT
		    ", best about 75 %% of DURATION",
		    duration - 1);
		pm_config_env_set_error(error, "REFRESH_INTERVAL", value, what, accepted);
		return FALSE;
	}

	if (!tcp && !udp) {
		g_autofree char *tcp_echo =
		    pm_config_env_echo(pm_config_env_get(builder, "ENABLE_TCP"));
		g_autofree char *udp_echo =
		    pm_config_env_echo(pm_config_env_get(builder, "ENABLE_UDP"));
		g_set_error(error,
			    PM_ERROR,
			    PM_ERROR_INVALID_CONFIGURATION,
			    "environment variables ENABLE_TCP=%s and ENABLE_UDP=%s: both protocols "
			    "are off, so there is nothing to map; accepted values: true (the "
			    "default), 1, yes or on in any case for at least one of them, as the "
			    "natpmp-http-api client reads them",
			    tcp_echo,
			    udp_echo);
		return FALSE;
	}

	refresh_text = g_strdup_printf("%" G_GUINT64_FORMAT "s", refresh);
	g_key_file_set_string(builder->keyfile, provider, "Type", "natpmp-http");
	g_key_file_set_string(builder->keyfile, provider, "URL", url);
	if (token != NULL) {
		g_key_file_set_string(builder->keyfile,
				      provider,
				      "TokenCredential",
				      PM_CONFIG_ENV_TOKEN);
		pm_config_env_add_credential(builder, PM_CONFIG_ENV_TOKEN, "API_TOKEN", token);
	}
	g_key_file_set_uint64(builder->keyfile, provider, "Lifetime", duration);
	g_key_file_set_string(builder->keyfile, provider, "RefreshInterval", refresh_text);

	g_key_file_set_string(builder->keyfile, mapping, "Provider", PM_CONFIG_ENV_NATPMP_HTTP);
	g_key_file_set_string(builder->keyfile,
			      mapping,
			      "Protocols",
			      tcp && udp ? "tcp udp" : tcp ? "tcp" : "udp");
	g_key_file_set_uint64(builder->keyfile, mapping, "InternalPort", port);
	return TRUE;
}

/* gluetun (qdm12/gluetun, read through qdm12/gosettings) */

/*
 * a value as gosettings reads it: spaces and line endings trimmed, then a pair of
 * surrounding quotes (', " or `) removed, again and again; lowercased unless it is a path
 * or a command; NULL when unset or empty
 */
static char *
pm_config_env_gluetun_get(PmConfigEnvBuilder *builder, const char *name, gboolean lowercase)
{
	const char *value = pm_config_env_get(builder, name);
	g_autofree char *copy = NULL;
	char *start;
	gsize len;

	if (value == NULL)
		return NULL;
	copy = lowercase ? g_ascii_strdown(value, -1) : g_strdup(value);
	start = copy;
	for (;;) {
		len = strlen(start);
		while (len > 0 && g_ascii_isspace(start[len - 1]))
			start[--len] = '\0';
		while (g_ascii_isspace(*start)) {
			start++;
			len--;
		}
		if (len >= 2 && strchr("'\"`", start[0]) != NULL &&
		    strchr("'\"`", start[len - 1]) != NULL) {
			start[len - 1] = '\0';
			start++;
			continue;
		}
		break;
	}
	return *start != '\0' ? g_strdup(start) : NULL;
}

/* its booleans (gosettings parseBool); unset is @default_value */
static gboolean
pm_config_env_gluetun_boolean(PmConfigEnvBuilder *builder,
			      const char *name,
			      gboolean default_value,
			      gboolean *out,
			      GError **error)
{
	const char *yes[] = {"enabled", "yes", "on", "true"};
	const char *no[] = {"disabled", "no", "off", "false"};
	g_autofree char *value = pm_config_env_gluetun_get(builder, name, TRUE);

	*out = default_value;
	if (value == NULL)
		return TRUE;
	for (guint i = 0; i < G_N_ELEMENTS(yes); i++) {
		if (g_strcmp0(value, yes[i]) == 0) {
			*out = TRUE;
			return TRUE;
		}
		if (g_strcmp0(value, no[i]) == 0) {
			*out = FALSE;
			return TRUE;
		}
	}
	pm_config_env_set_error(error,
				name,
				pm_config_env_get(builder, name),
				"not a boolean",
				GLUETUN_ACCEPTED_BOOLEAN);
	return FALSE;
}

/* the port-forwarding provider: VPN_PORT_FORWARDING_PROVIDER, else VPN_SERVICE_PROVIDER */
static gboolean
pm_config_env_gluetun_check_provider(PmConfigEnvBuilder *builder, GError **error)
{
	const char *variable = "VPN_PORT_FORWARDING_PROVIDER";
	g_autofree char *provider = pm_config_env_gluetun_get(builder, variable, TRUE);

	if (provider == NULL) {
		variable = "VPN_SERVICE_PROVIDER";
		provider = pm_config_env_gluetun_get(builder, variable, TRUE);
		/* gluetun's old name, for this variable only */
		if (g_strcmp0(provider, "pia") == 0) {
			g_free(provider);
			provider = g_strdup(GLUETUN_PROVIDER_PIA);
		}
	}
	if (provider == NULL) {
		g_set_error_literal(error,
				    PM_ERROR,
				    PM_ERROR_INVALID_CONFIGURATION,
				    "environment variables VPN_PORT_FORWARDING_PROVIDER and "
				    "VPN_SERVICE_PROVIDER are unset: gluetun's port forwarding needs "
				    "the VPN provider; accepted values: protonvpn");
		return FALSE;
	}
	if (g_strcmp0(provider, GLUETUN_PROVIDER_PIA) == 0) {
		pm_config_env_set_error(error,
					variable,
					pm_config_env_get(builder, variable),
					"PIA port forwarding is not supported by this version of "
					"portmapd yet",
					"protonvpn");
		return FALSE;
	}
	if (g_strcmp0(provider, GLUETUN_PROVIDER_PROTONVPN) != 0) {
		pm_config_env_set_error(error,
					variable,
					pm_config_env_get(builder, variable),
					"portmapd does not import gluetun's port forwarding for this "
					"VPN provider",
					"protonvpn");
		return FALSE;
	}
	return TRUE;
}

/* what gluetun does and portmapd does not: several ports, redirections */
static gboolean
pm_config_env_gluetun_check_ports(PmConfigEnvBuilder *builder, GError **error)
{
	const char *listening_names[] = {"VPN_PORT_FORWARDING_LISTENING_PORTS",
					 "VPN_PORT_FORWARDING_LISTENING_PORT"};
	g_autofree char *count = pm_config_env_gluetun_get(builder,
							   "VPN_PORT_FORWARDING_PORTS_COUNT",
							   TRUE);

	/* one NAT-PMP mapping of internal port 0 per protocol: one port per connection */
	if (count != NULL && g_strcmp0(count, "1") != 0) {
		pm_config_env_set_error(error,
					"VPN_PORT_FORWARDING_PORTS_COUNT",
					pm_config_env_get(builder,
							  "VPN_PORT_FORWARDING_PORTS_COUNT"),
					"portmapd forwards one port per VPN connection (ProtonVPN "
					"forwards the port it grants to the same port)",
					"1, or unset");
		return FALSE;
	}
	for (guint i = 0; i < G_N_ELEMENTS(listening_names); i++) {
		g_autofree char *ports =
		    pm_config_env_gluetun_get(builder, listening_names[i], TRUE);
		if (ports != NULL && g_strcmp0(ports, "0") != 0) {
			pm_config_env_set_error(error,
						listening_names[i],
						pm_config_env_get(builder, listening_names[i]),
						"portmapd redirects no port: the application listens "
						"on the forwarded port, which the up command gets as "
						"{{PORTS}}",
						"0, or unset");
			return FALSE;
		}
	}
	return TRUE;
}

static gboolean
pm_config_env_generate_gluetun(PmConfigEnvBuilder *builder, GError **error)
{
	const char *provider = "Provider " PM_CONFIG_ENV_PROTONVPN;
	const char *mapping = "Mapping " PM_CONFIG_ENV_MAPPING;
	const char *status = "Consumer " PM_CONFIG_ENV_STATUS_FILE;
	const char *commands = "Consumer " PM_CONFIG_ENV_COMMANDS;
	const char *gateway = pm_config_env_get(builder, "VPN_GATEWAY");
	g_autofree char *status_file = NULL;
	g_autofree char *up = NULL;
	g_autofree char *down = NULL;
	g_autoptr(GInetAddress) address = NULL;
	g_autoptr(GStrvBuilder) consumers = g_strv_builder_new();
	g_auto(GStrv) consumer_names = NULL;
	g_autofree char *consumer_list = NULL;
	gboolean enabled = FALSE;

	if (!pm_config_env_gluetun_boolean(builder, "VPN_PORT_FORWARDING", FALSE, &enabled, error))
		return FALSE;
	if (!enabled) {
		const char *value = pm_config_env_get(builder, "VPN_PORT_FORWARDING");
		g_autofree char *echo = value != NULL ? pm_config_env_echo(value) : NULL;
		g_set_error(error,
			    PM_ERROR,
			    PM_ERROR_INVALID_CONFIGURATION,
			    "environment variable VPN_PORT_FORWARDING is %s%s: gluetun's port "
			    "forwarding is off, so there is nothing for portmapd to do; set "
			    "VPN_PORT_FORWARDING=on, or do not use --config-from-env",
			    echo != NULL ? "off: VPN_PORT_FORWARDING=" : "unset (off)",
			    echo != NULL ? echo : "");
		return FALSE;
	}
	if (!pm_config_env_gluetun_check_provider(builder, error))
		return FALSE;
	if (!pm_config_env_gluetun_check_ports(builder, error))
		return FALSE;

	if (gateway != NULL) {
		address = g_inet_address_new_from_string(gateway);
		if (address == NULL ||
		    g_inet_address_get_family(address) != G_SOCKET_FAMILY_IPV4) {
			pm_config_env_set_error(error,
						"VPN_GATEWAY",
						gateway,
						"not an IPv4 address",
						"a dotted IPv4 address, such as 10.2.0.1 (ProtonVPN "
						"WireGuard, the default)");
			return FALSE;
		}
	}

	status_file = pm_config_env_gluetun_get(builder, "VPN_PORT_FORWARDING_STATUS_FILE", FALSE);
	if (status_file == NULL)
		status_file = g_strdup(GLUETUN_DEFAULT_STATUS_FILE);
	if (!pm_config_env_check_text("VPN_PORT_FORWARDING_STATUS_FILE", status_file, error))
		return FALSE;
	if (!g_path_is_absolute(status_file) || g_str_has_suffix(status_file, "/")) {
		pm_config_env_set_error(error,
					"VPN_PORT_FORWARDING_STATUS_FILE",
					status_file,
					"not an absolute path to a file",
					"a path starting with /, not ending with / (default "
					GLUETUN_DEFAULT_STATUS_FILE ")");
		return FALSE;
	}
	/* kept verbatim, {{PORTS}}, {{PORT}} and {{VPN_INTERFACE}} included */
	up = pm_config_env_gluetun_get(builder, "VPN_PORT_FORWARDING_UP_COMMAND", FALSE);
	down = pm_config_env_gluetun_get(builder, "VPN_PORT_FORWARDING_DOWN_COMMAND", FALSE);
	if (up != NULL && !pm_config_env_check_text("VPN_PORT_FORWARDING_UP_COMMAND", up, error))
		return FALSE;
	if (down != NULL &&
	    !pm_config_env_check_text("VPN_PORT_FORWARDING_DOWN_COMMAND", down, error))
		return FALSE;

	/* gluetun's ProtonVPN code: a TCP and a UDP mapping of 60 s, renewed every 45 s, and
	 * the gateway forwards the port it grants to the same port (design §3 "Ports") */
	g_key_file_set_string(builder->keyfile, provider, "Type", "natpmp");
	g_key_file_set_string(builder->keyfile,
			      provider,
			      "Gateway",
			      gateway != NULL ? gateway : PROTONVPN_DEFAULT_GATEWAY);
	g_key_file_set_string(builder->keyfile, provider, "SamePort", "yes");
	g_key_file_set_integer(builder->keyfile, provider, "Lifetime", GLUETUN_PROTONVPN_LIFETIME);
	g_key_file_set_string(builder->keyfile,
			      provider,
			      "RefreshInterval",
			      GLUETUN_PROTONVPN_REFRESH);

	/* gluetun always writes its status file */
	g_key_file_set_string(builder->keyfile, status, "Type", "portfile");
	g_key_file_set_string(builder->keyfile, status, "Format", "ports");
	g_key_file_set_string(builder->keyfile, status, "Path", status_file);
	g_strv_builder_add(consumers, PM_CONFIG_ENV_STATUS_FILE);

	if (up != NULL || down != NULL) {
		g_key_file_set_string(builder->keyfile, commands, "Type", "exec");
		if (up != NULL)
			g_key_file_set_string(builder->keyfile, commands, "ExecUp", up);
		if (down != NULL)
			g_key_file_set_string(builder->keyfile, commands, "ExecDown", down);
		g_strv_builder_add(consumers, PM_CONFIG_ENV_COMMANDS);
	}

	/* SamePort=yes: no InternalPort=, the internal port is the granted external one */
	consumer_names = g_strv_builder_end(consumers);
	consumer_list = g_strjoinv(" ", consumer_names);
	g_key_file_set_string(builder->keyfile, mapping, "Provider", PM_CONFIG_ENV_PROTONVPN);
	g_key_file_set_string(builder->keyfile, mapping, "Protocols", "tcp udp");
	g_key_file_set_string(builder->keyfile, mapping, "Consumers", consumer_list);
	return TRUE;
}

/* recognising the tool */

/* the first variable of @envp that recognises @set, set to a non-empty value; or NULL */
static char *
pm_config_env_set_find(const PmConfigEnvSet *set, const char *const *envp)
{
	gsize len = strlen(set->variable);
	gboolean prefix = len > 0 && set->variable[len - 1] == '*';

	if (prefix)
		len--;
	for (guint i = 0; envp != NULL && envp[i] != NULL; i++) {
		const char *eq = strchr(envp[i], '=');
		gsize name_len = eq != NULL ? (gsize)(eq - envp[i]) : strlen(envp[i]);

		if (eq == NULL || eq[1] == '\0')
			continue;
		if (strncmp(envp[i], set->variable, len) != 0)
			continue;
		if (!prefix && name_len != len)
			continue;
		if (prefix && name_len < len)
			continue;
		return g_strndup(envp[i], name_len);
	}
	return NULL;
}

static void
pm_config_env_set_none_error(GError **error)
{
	g_autoptr(GString) known = g_string_new(NULL);

	for (guint i = 0; i < G_N_ELEMENTS(pm_config_env_sets); i++) {
		const PmConfigEnvSet *set = &pm_config_env_sets[i];
		gsize len = strlen(set->variable);

		if (known->len > 0)
			g_string_append(known, ", ");
		if (set->variable[len - 1] == '*')
			g_string_append_printf(known,
					       "%.*s or a %.*s_* variable (%s)",
					       (int)(len - 1),
					       set->variable,
					       (int)(len - 1),
					       set->variable,
					       set->tool);
		else
			g_string_append_printf(known, "%s (%s)", set->variable, set->tool);
	}
	g_set_error(error,
		    PM_ERROR,
		    PM_ERROR_INVALID_CONFIGURATION,
		    "--config-from-env: the environment has no variable of a tool that portmapd "
		    "replaces; recognised: %s (see ENVIRONMENT IMPORT in portmapd(8))",
		    known->str);
}

PmConfigEnv *
pm_config_env_new(const char *const *envp, GError **error)
{
	g_autoptr(PmConfigEnv) self = g_new0(PmConfigEnv, 1);
	g_autoptr(GKeyFile) keyfile = g_key_file_new();
	g_autofree char *found_variable = NULL;
	const PmConfigEnvSet *found = NULL;
	PmConfigEnvBuilder builder = {envp, keyfile, self};

	g_return_val_if_fail(error == NULL || *error == NULL, NULL);

	self->credentials =
	    g_ptr_array_new_with_free_func((GDestroyNotify)pm_config_env_credential_free);
	for (guint i = 0; i < G_N_ELEMENTS(pm_config_env_sets); i++) {
		const PmConfigEnvSet *set = &pm_config_env_sets[i];
		g_autofree char *variable = pm_config_env_set_find(set, envp);

		if (variable == NULL)
			continue;
		if (found != NULL) {
			g_set_error(error,
				    PM_ERROR,
				    PM_ERROR_INVALID_CONFIGURATION,
				    "--config-from-env: the environment has variables of two tools, "
				    "%s (%s) and %s (%s); portmapd imports the settings of one: "
				    "unset the other's",
				    found->tool,
				    found_variable,
				    set->tool,
				    variable);
			return NULL;
		}
		found = set;
		found_variable = g_steal_pointer(&variable);
	}
	if (found == NULL) {
		pm_config_env_set_none_error(error);
		return NULL;
	}
	if (found->generate == NULL) {
		g_set_error(error,
			    PM_ERROR,
			    PM_ERROR_INVALID_CONFIGURATION,
			    "environment variable %s is set: importing the settings of %s is not "
			    "supported by this version of portmapd yet; write a portmapd.conf "
			    "instead (see portmapd.conf(5))",
			    found_variable,
			    found->tool);
		return NULL;
	}
	self->tool = found->tool;
	if (!pm_config_env_read_log_level(&builder, error))
		return NULL;
	if (!found->generate(&builder, error))
		return NULL;
	g_key_file_set_comment(keyfile,
			       NULL,
			       NULL,
			       " made by portmapd --config-from-env from the environment of the "
			       "replaced tool",
			       NULL);
	self->data = g_key_file_to_data(keyfile, NULL, NULL);
	return g_steal_pointer(&self);
}

PmConfigEnv *
pm_config_env_new_from_environ(GError **error)
{
	char **envp = g_get_environ();
	PmConfigEnv *self = pm_config_env_new((const char *const *)envp, error);

	/* the copy held the secrets too */
	for (guint i = 0; envp[i] != NULL; i++)
		explicit_bzero(envp[i], strlen(envp[i]));
	g_strfreev(envp);
	return self;
}

const char *
pm_config_env_get_tool(const PmConfigEnv *self)
{
	g_return_val_if_fail(self != NULL, NULL);
	return self->tool;
}

const char *
pm_config_env_get_data(const PmConfigEnv *self)
{
	g_return_val_if_fail(self != NULL, NULL);
	return self->data;
}

const char *
pm_config_env_get_log_level(const PmConfigEnv *self)
{
	g_return_val_if_fail(self != NULL, NULL);
	return self->log_level;
}

char **
pm_config_env_get_credentials(const PmConfigEnv *self)
{
	g_autoptr(GStrvBuilder) names = g_strv_builder_new();

	g_return_val_if_fail(self != NULL, NULL);
	for (guint i = 0; i < self->credentials->len; i++) {
		const PmConfigEnvCredential *credential = g_ptr_array_index(self->credentials, i);
		g_strv_builder_add(names, credential->name);
	}
	return g_strv_builder_end(names);
}

void
pm_config_env_import_secrets(PmConfigEnv *self)
{
	g_auto(GStrv) removed = NULL;

	g_return_if_fail(self != NULL);

	for (guint i = 0; i < self->credentials->len; i++) {
		PmConfigEnvCredential *credential = g_ptr_array_index(self->credentials, i);
		pm_secret_import_credential(credential->name, credential->value);
	}
	/* hooks and anything else started later must not inherit them */
	removed = pm_secret_unset_environment_variables();
	if (removed[0] != NULL) {
		g_autofree char *names = g_strjoinv(", ", removed);
		g_warning("removed the secret environment variables %s from portmapd's "
			  "environment: their values are kept in memory only, and no hook "
			  "inherits them",
			  names);
	}
}

/* "TokenCredential=NAME" with NAME imported: its credential, else NULL */
static const PmConfigEnvCredential *
pm_config_env_find_credential_line(const PmConfigEnv *self, const char *line, gsize *key_len)
{
	const char *eq = strchr(line, '=');
	const char *suffix = "Credential";

	if (eq == NULL || (gsize)(eq - line) <= strlen(suffix) ||
	    strncmp(eq - strlen(suffix), suffix, strlen(suffix)) != 0)
		return NULL;
	for (guint i = 0; i < self->credentials->len; i++) {
		const PmConfigEnvCredential *credential = g_ptr_array_index(self->credentials, i);
		if (g_strcmp0(eq + 1, credential->name) == 0) {
			*key_len = (gsize)(eq - line) - strlen(suffix);
			return credential;
		}
	}
	return NULL;
}

char *
pm_config_env_annotate(const PmConfigEnv *self, const char *text)
{
	g_auto(GStrv) lines = NULL;
	GString *out = g_string_new(NULL);

	g_return_val_if_fail(self != NULL, NULL);
	g_return_val_if_fail(text != NULL, NULL);

	g_string_append_printf(out,
			       "# imported from the environment of %s (--config-from-env)\n",
			       self->tool);
	lines = g_strsplit(text, "\n", -1);
	for (guint i = 0; lines[i] != NULL; i++) {
		gsize key_len = 0;
		const PmConfigEnvCredential *credential =
		    pm_config_env_find_credential_line(self, lines[i], &key_len);

		if (credential != NULL) {
			g_string_append_printf(out,
					       "# %s: imported from the environment variable %s, "
					       "kept in memory only;\n"
					       "# without it, pass the secret with "
					       "LoadCredential=%s:/path/to/file in portmapd.service\n"
					       "# (a drop-in), or replace this key by "
					       "%.*sFile=/path/to/file (mode 0600)\n",
					       credential->name,
					       credential->variable,
					       credential->name,
					       (int)key_len,
					       lines[i]);
		}
		g_string_append(out, lines[i]);
		if (lines[i + 1] != NULL)
			g_string_append_c(out, '\n');
	}
	return g_string_free(out, FALSE);
}
