/* SPDX-License-Identifier: GPL-2.0-or-later */

#include <arpa/inet.h>
#include <gio/gio.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <json-glib/json-glib.h>
#include <string.h>

#include "config-env.h"
#include "address.h"
#include "default-route.h"
#include "errors.h"
#include "http-call.h"
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
#define PM_CONFIG_ENV_PIA	   "pia"
#define PM_CONFIG_ENV_PORT_FILE	   "port-file"
#define PM_CONFIG_ENV_PORT_DATA	   "port-data-file"
/* the credentials of Type=pia (design §6: LoadCredential=pia-password:… is its example) */
#define PM_CONFIG_ENV_PIA_PASSWORD "pia-password"
#define PM_CONFIG_ENV_PIA_TOKEN	   "pia-token"
#define PM_CONFIG_ENV_PIA_PAYLOAD  "pia-payload-and-signature"
#define PM_CONFIG_ENV_QBITTORRENT  "qbittorrent"
#define PM_CONFIG_ENV_QBITTORRENT_PASSWORD "qbittorrent-password"
#define PM_CONFIG_ENV_VPN	   "vpn"
#define PM_CONFIG_ENV_MIKROTIK	   "mikrotik"
#define PM_CONFIG_ENV_MIKROTIK_PASSWORD "mikrotik-password"

/* natpmp-http-api client (refresh.sh) */
#define NATPMP_HTTP_DEFAULT_DURATION 60
#define NATPMP_HTTP_DEFAULT_REFRESH  45

/* PIA: a port not bound for 15 minutes is deleted (pia-and-torrent-clients.md §1.4) */
#define PIA_MAX_BIND_INTERVAL 900
/* what the tools that hard-code it bind at: manual-connections' sleep 900, gluetun's
 * keepAlivePeriod */
#define PIA_BIND_INTERVAL "15min"

/* the PIA port-forwarding manager (00o-sh/docker-pia-portforward, port-forward-loop.sh) */
#define PIA_MANAGER_DEFAULT_INTERVAL  PIA_MAX_BIND_INTERVAL
#define PIA_MANAGER_DEFAULT_PORT_FILE "/config/pia-port.txt"
#define PIA_MANAGER_DEFAULT_DATA_FILE "/config/pia-port-data.json"

/* gluetun: internal/configuration/settings/portforward.go, provider/protonvpn */
#define GLUETUN_DEFAULT_STATUS_FILE "/tmp/gluetun/forwarded_port"
#define GLUETUN_PROTONVPN_LIFETIME  60
#define GLUETUN_PROTONVPN_REFRESH   "45s"
#define GLUETUN_PROVIDER_PIA	    "private internet access"
#define GLUETUN_PROVIDER_PROTONVPN  "protonvpn"
#define GLUETUN_ACCEPTED_PROVIDERS                                                               \
	"protonvpn, private internet access (in any case; pia in VPN_SERVICE_PROVIDER)"
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
	GPtrArray *warnings;	/* of char *: what the import read otherwise than the tool */
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
static gboolean pm_config_env_generate_pia_manager(PmConfigEnvBuilder *builder, GError **error);
static gboolean pm_config_env_generate_pia_manual(PmConfigEnvBuilder *builder, GError **error);
static gboolean pm_config_env_generate_mikrotik(PmConfigEnvBuilder *builder, GError **error);

static const PmConfigEnvSet pm_config_env_sets[] = {
    {"the natpmp-http-api client", "NATPMP_SERVICE", pm_config_env_generate_natpmp_http},
    {"gluetun", "VPN_PORT_FORWARDING*", pm_config_env_generate_gluetun},
    {"the PIA port-forwarding manager", "PIA_USER", pm_config_env_generate_pia_manager},
    {"pia-foss/manual-connections", "PIA_TOKEN", pm_config_env_generate_pia_manual},
    {"mikrotik-double-natpmp", "MIKROTIK_API_ADDRESS", pm_config_env_generate_mikrotik},
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
	g_ptr_array_unref(self->warnings);
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

/* logged once the log is set up (pm_config_env_log_warnings()): the environment is read
 * before it, since LOG_LEVEL is one of its variables */
static void G_GNUC_PRINTF(2, 3)
pm_config_env_add_warning(PmConfigEnvBuilder *builder, const char *format, ...)
{
	va_list args;

	va_start(args, format);
	g_ptr_array_add(builder->result->warnings, g_strdup_vprintf(format, args));
	va_end(args);
}

/* a variable the tool required: "environment variable NAME is not set: the environment of
 * TOOL needs it; accepted values: ACCEPTED" */
static void
pm_config_env_set_unset_error(PmConfigEnvBuilder *builder,
			      GError **error,
			      const char *variable,
			      const char *accepted)
{
	g_set_error(error,
		    PM_ERROR,
		    PM_ERROR_INVALID_CONFIGURATION,
		    "environment variable %s is not set: the environment of %s needs it; "
		    "accepted values: %s",
		    variable,
		    builder->result->tool,
		    accepted);
}

/* a gateway: the tools put it in URLs as a dotted IPv4 address */
static gboolean
pm_config_env_check_ipv4(const char *variable,
			 const char *value,
			 const char *accepted,
			 GError **error)
{
	g_autoptr(GInetAddress) address = g_inet_address_new_from_string(value);

	if (address == NULL || g_inet_address_get_family(address) != G_SOCKET_FAMILY_IPV4) {
		pm_config_env_set_error(error, variable, value, "not an IPv4 address", accepted);
		return FALSE;
	}
	return TRUE;
}

/* a file the tool wrote: absolute, since portmapd's working directory is not the tool's */
static gboolean
pm_config_env_check_path(const char *variable,
			 const char *value,
			 const char *default_path,
			 GError **error)
{
	g_autofree char *accepted = NULL;

	if (!pm_config_env_check_text(variable, value, error))
		return FALSE;
	if (g_path_is_absolute(value) && !g_str_has_suffix(value, "/"))
		return TRUE;
	accepted = g_strdup_printf("a path starting with /, not ending with / (default %s)",
				   default_path);
	pm_config_env_set_error(error, variable, value, "not an absolute path to a file", accepted);
	return FALSE;
}

/* the name on the PIA server's certificate (its CN, such as "newjersey419"): a DNS name */
static gboolean
pm_config_env_check_hostname(const char *variable, const char *value, GError **error)
{
	for (const char *p = value; *p != '\0'; p++) {
		if (g_ascii_isalnum(*p) || *p == '-' || *p == '.' || *p == '_')
			continue;
		pm_config_env_set_error(error,
					variable,
					value,
					"not a server name",
					"the PIA server's name, as on its certificate (letters, "
					"digits, '-', '.' and '_'), such as newjersey419");
		return FALSE;
	}
	return TRUE;
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
	/* wiped: it may be a password */
	g_autoptr(PmSecret) copy = NULL;
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

/* the port-forwarding provider: VPN_PORT_FORWARDING_PROVIDER, else VPN_SERVICE_PROVIDER;
 * @pia: whether it is PIA (else ProtonVPN) */
static gboolean
pm_config_env_gluetun_check_provider(PmConfigEnvBuilder *builder, gboolean *pia, GError **error)
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
				    "the VPN provider; accepted values: " GLUETUN_ACCEPTED_PROVIDERS);
		return FALSE;
	}
	*pia = g_strcmp0(provider, GLUETUN_PROVIDER_PIA) == 0;
	if (!*pia && g_strcmp0(provider, GLUETUN_PROVIDER_PROTONVPN) != 0) {
		pm_config_env_set_error(error,
					variable,
					pm_config_env_get(builder, variable),
					"portmapd does not import gluetun's port forwarding for this "
					"VPN provider",
					GLUETUN_ACCEPTED_PROVIDERS);
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

/* gluetun's PIA credentials: VPN_PORT_FORWARDING_*, else OPENVPN_* (as gluetun falls
 * back); the value is the caller's to free with pm_secret_free() */
static char *
pm_config_env_gluetun_pia_get(PmConfigEnvBuilder *builder,
			      const char *name,
			      const char *fallback,
			      const char **variable)
{
	char *value = pm_config_env_gluetun_get(builder, name, FALSE);

	*variable = name;
	if (value == NULL) {
		*variable = fallback;
		value = pm_config_env_gluetun_get(builder, fallback, FALSE);
	}
	return value;
}

/* gluetun's PIA port forwarding: the account, the gateway, the server's name */
static gboolean
pm_config_env_gluetun_pia_provider(PmConfigEnvBuilder *builder, GError **error)
{
	const char *provider = "Provider " PM_CONFIG_ENV_PIA;
	const char *user_variable = NULL;
	const char *password_variable = NULL;
	g_autoptr(PmSecret) user = NULL;
	g_autoptr(PmSecret) password = NULL;
	g_autofree char *gateway = pm_config_env_gluetun_get(builder, "VPN_GATEWAY", FALSE);
	g_autofree char *server_names = pm_config_env_gluetun_get(builder, "SERVER_NAMES", FALSE);
	g_auto(GStrv) names = NULL;

	user = pm_config_env_gluetun_pia_get(builder,
					     "VPN_PORT_FORWARDING_USERNAME",
					     "OPENVPN_USER",
					     &user_variable);
	password = pm_config_env_gluetun_pia_get(builder,
						 "VPN_PORT_FORWARDING_PASSWORD",
						 "OPENVPN_PASSWORD",
						 &password_variable);
	/* gluetun refuses PIA port forwarding without them: the token needs the account */
	if (user == NULL) {
		g_set_error_literal(error,
				    PM_ERROR,
				    PM_ERROR_INVALID_CONFIGURATION,
				    "environment variables VPN_PORT_FORWARDING_USERNAME and "
				    "OPENVPN_USER are unset: gluetun's PIA port forwarding needs the "
				    "account's user name; accepted values: the PIA user name (p "
				    "followed by digits)");
		return FALSE;
	}
	if (!pm_config_env_check_text(user_variable, user, error))
		return FALSE;
	if (password == NULL) {
		g_set_error_literal(error,
				    PM_ERROR,
				    PM_ERROR_INVALID_CONFIGURATION,
				    "environment variables VPN_PORT_FORWARDING_PASSWORD and "
				    "OPENVPN_PASSWORD are unset: gluetun's PIA port forwarding needs "
				    "the account's password; accepted values: the PIA password");
		return FALSE;
	}
	if (gateway != NULL &&
	    !pm_config_env_check_ipv4("VPN_GATEWAY",
				      gateway,
				      "a dotted IPv4 address, such as 10.10.0.1, or unset: portmapd "
				      "then finds PIA's gateway as gluetun did",
				      error))
		return FALSE;

	/* gluetun verifies the gateway's certificate against the server it connected to, one
	 * of SERVER_NAMES; portmapd is not the VPN client and cannot know which: the first */
	if (server_names != NULL) {
		names = g_strsplit(server_names, ",", -1);
		for (guint i = 0; names[i] != NULL; i++)
			g_strstrip(names[i]);
		if (*names[0] == '\0') {
			pm_config_env_set_error(error,
						"SERVER_NAMES",
						server_names,
						"no server name first",
						"the PIA server's name, as on its certificate, such "
						"as newjersey419, or names separated by commas");
			return FALSE;
		}
		if (!pm_config_env_check_hostname("SERVER_NAMES", names[0], error))
			return FALSE;
		if (g_strv_length(names) > 1)
			pm_config_env_add_warning(
			    builder,
			    "SERVER_NAMES lists %u servers: the PIA gateway's certificate is "
			    "checked against the first, %s; if the VPN connects to another, set "
			    "SERVER_NAMES to that one, or Hostname= in [Provider pia] with --config",
			    g_strv_length(names),
			    names[0]);
	}

	g_key_file_set_string(builder->keyfile, provider, "Type", "pia");
	if (gateway != NULL)
		g_key_file_set_string(builder->keyfile, provider, "Gateway", gateway);
	if (names != NULL)
		g_key_file_set_string(builder->keyfile, provider, "Hostname", names[0]);
	g_key_file_set_string(builder->keyfile, provider, "Username", user);
	g_key_file_set_string(builder->keyfile,
			      provider,
			      "PasswordCredential",
			      PM_CONFIG_ENV_PIA_PASSWORD);
	pm_config_env_add_credential(builder,
				     PM_CONFIG_ENV_PIA_PASSWORD,
				     password_variable,
				     password);
	g_key_file_set_string(builder->keyfile, provider, "RefreshInterval", PIA_BIND_INTERVAL);
	return TRUE;
}

/* gluetun's ProtonVPN port forwarding: NAT-PMP */
static gboolean
pm_config_env_gluetun_protonvpn_provider(PmConfigEnvBuilder *builder, GError **error)
{
	const char *provider = "Provider " PM_CONFIG_ENV_PROTONVPN;
	const char *gateway = pm_config_env_get(builder, "VPN_GATEWAY");

	if (gateway != NULL &&
	    !pm_config_env_check_ipv4("VPN_GATEWAY",
				      gateway,
				      "a dotted IPv4 address, such as 10.2.0.1 (ProtonVPN "
				      "WireGuard, the default)",
				      error))
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
	return TRUE;
}

/* "Consumers=": every imported consumer (design §6) */
static void
pm_config_env_set_consumers(PmConfigEnvBuilder *builder,
			    const char *mapping,
			    GStrvBuilder *consumers)
{
	g_auto(GStrv) names = g_strv_builder_end(consumers);
	g_autofree char *list = g_strjoinv(" ", names);

	g_key_file_set_string(builder->keyfile, mapping, "Consumers", list);
}

static gboolean
pm_config_env_generate_gluetun(PmConfigEnvBuilder *builder, GError **error)
{
	const char *mapping = "Mapping " PM_CONFIG_ENV_MAPPING;
	const char *status = "Consumer " PM_CONFIG_ENV_STATUS_FILE;
	const char *commands = "Consumer " PM_CONFIG_ENV_COMMANDS;
	g_autofree char *status_file = NULL;
	g_autofree char *up = NULL;
	g_autofree char *down = NULL;
	g_autoptr(GStrvBuilder) consumers = g_strv_builder_new();
	gboolean enabled = FALSE;
	gboolean pia = FALSE;

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
	if (!pm_config_env_gluetun_check_provider(builder, &pia, error))
		return FALSE;
	if (!pm_config_env_gluetun_check_ports(builder, error))
		return FALSE;

	status_file = pm_config_env_gluetun_get(builder, "VPN_PORT_FORWARDING_STATUS_FILE", FALSE);
	if (status_file == NULL)
		status_file = g_strdup(GLUETUN_DEFAULT_STATUS_FILE);
	if (!pm_config_env_check_path("VPN_PORT_FORWARDING_STATUS_FILE",
				      status_file,
				      GLUETUN_DEFAULT_STATUS_FILE,
				      error))
		return FALSE;
	/* kept verbatim, {{PORTS}}, {{PORT}} and {{VPN_INTERFACE}} included */
	up = pm_config_env_gluetun_get(builder, "VPN_PORT_FORWARDING_UP_COMMAND", FALSE);
	down = pm_config_env_gluetun_get(builder, "VPN_PORT_FORWARDING_DOWN_COMMAND", FALSE);
	if (up != NULL && !pm_config_env_check_text("VPN_PORT_FORWARDING_UP_COMMAND", up, error))
		return FALSE;
	if (down != NULL &&
	    !pm_config_env_check_text("VPN_PORT_FORWARDING_DOWN_COMMAND", down, error))
		return FALSE;

	if (pia) {
		if (!pm_config_env_gluetun_pia_provider(builder, error))
			return FALSE;
	} else {
		if (!pm_config_env_gluetun_protonvpn_provider(builder, error))
			return FALSE;
	}

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

	if (pia) {
		/* a PIA mapping is TCP and UDP, forwarded to the same port (design §3): it takes
		 * no more than its provider and consumers */
		g_key_file_set_string(builder->keyfile, mapping, "Provider", PM_CONFIG_ENV_PIA);
	} else {
		/* SamePort=yes: no InternalPort=, the internal port is the granted external one */
		g_key_file_set_string(builder->keyfile,
				      mapping,
				      "Provider",
				      PM_CONFIG_ENV_PROTONVPN);
		g_key_file_set_string(builder->keyfile, mapping, "Protocols", "tcp udp");
	}
	pm_config_env_set_consumers(builder, mapping, consumers);
	return TRUE;
}

/* the PIA port-forwarding manager (00o-sh/docker-pia-portforward, port-forward-loop.sh) */

/* PORT_FORWARD_REFRESH_INTERVAL: whole seconds (its `sleep` and `date -d "+N seconds"`),
 * at most PIA's limit */
static gboolean
pm_config_env_pia_manager_interval(PmConfigEnvBuilder *builder, guint64 *out, GError **error)
{
	const char *name = "PORT_FORWARD_REFRESH_INTERVAL";
	const char *value = pm_config_env_get(builder, name);
	g_autofree char *accepted =
	    g_strdup_printf("a whole number of seconds from 1 to %u, without a unit (default %u)",
			    PIA_MAX_BIND_INTERVAL,
			    PIA_MANAGER_DEFAULT_INTERVAL);
	guint64 seconds = 0;

	/* ${PORT_FORWARD_REFRESH_INTERVAL:-900}: unset and empty are the default */
	if (value == NULL) {
		*out = PIA_MANAGER_DEFAULT_INTERVAL;
		return TRUE;
	}
	if (!pm_config_env_parse_digits(value, G_MAXUINT64, &seconds) || seconds == 0) {
		pm_config_env_set_error(error,
					name,
					value,
					"not a positive whole number of seconds",
					accepted);
		return FALSE;
	}
	/* the tool would sleep past it and lose the port at every cycle: refused, not cut */
	if (seconds > PIA_MAX_BIND_INTERVAL) {
		pm_config_env_set_error(error,
					name,
					value,
					"longer than PIA keeps a forwarded port that is not bound "
					"again (15 minutes)",
					accepted);
		return FALSE;
	}
	*out = seconds;
	return TRUE;
}

static gboolean
pm_config_env_generate_pia_manager(PmConfigEnvBuilder *builder, GError **error)
{
	const char *provider = "Provider " PM_CONFIG_ENV_PIA;
	const char *mapping = "Mapping " PM_CONFIG_ENV_MAPPING;
	const char *port_group = "Consumer " PM_CONFIG_ENV_PORT_FILE;
	const char *data_group = "Consumer " PM_CONFIG_ENV_PORT_DATA;
	const char *user = pm_config_env_get(builder, "PIA_USER");
	const char *password = pm_config_env_get(builder, "PIA_PASS");
	const char *gateway = pm_config_env_get(builder, "PIA_GATEWAY");
	const char *qbittorrent = pm_config_env_get(builder, "QBITTORRENT_HOST");
	const char *qbittorrent_user = pm_config_env_get(builder, "QBITTORRENT_USER");
	const char *qbittorrent_password = pm_config_env_get(builder, "QBITTORRENT_PASS");
	const char *port_file = pm_config_env_get(builder, "PORT_FILE");
	const char *data_file = pm_config_env_get(builder, "PORT_DATA_FILE");
	g_autoptr(GStrvBuilder) consumers = g_strv_builder_new();
	g_autofree char *interval_text = NULL;
	guint64 interval = 0;

	if (!pm_config_env_check_text("PIA_USER", user, error))
		return FALSE;
	/* its entrypoint's check: no token without the password */
	if (password == NULL) {
		pm_config_env_set_unset_error(builder,
					      error,
					      "PIA_PASS",
					      "the password of the PIA account PIA_USER");
		return FALSE;
	}
	if (qbittorrent != NULL && !pm_http_url_is_valid(qbittorrent)) {
		pm_config_env_set_error(error,
					"QBITTORRENT_HOST",
					qbittorrent,
					"not an http or https URL",
					"qBittorrent's Web UI URL, such as http://qbittorrent:8080");
		return FALSE;
	}
	if (qbittorrent_user != NULL &&
	    !pm_config_env_check_text("QBITTORRENT_USER", qbittorrent_user, error))
		return FALSE;
	if (!pm_config_env_pia_manager_interval(builder, &interval, error))
		return FALSE;
	if (gateway != NULL &&
	    !pm_config_env_check_ipv4("PIA_GATEWAY",
				      gateway,
				      "a dotted IPv4 address, such as 10.10.0.1, or unset: portmapd "
				      "then finds PIA's gateway, as the tool did",
				      error))
		return FALSE;

	/* ${PORT_FILE:-/config/pia-port.txt}: the tool's defaults, which sidecars read */
	if (port_file == NULL)
		port_file = PIA_MANAGER_DEFAULT_PORT_FILE;
	if (data_file == NULL)
		data_file = PIA_MANAGER_DEFAULT_DATA_FILE;
	if (!pm_config_env_check_path("PORT_FILE", port_file, PIA_MANAGER_DEFAULT_PORT_FILE, error))
		return FALSE;
	if (!pm_config_env_check_path("PORT_DATA_FILE",
				      data_file,
				      PIA_MANAGER_DEFAULT_DATA_FILE,
				      error))
		return FALSE;
	/* two consumers writing one file would each undo the other */
	if (g_strcmp0(port_file, data_file) == 0) {
		pm_config_env_set_error(error,
					"PORT_DATA_FILE",
					data_file,
					"the same file as PORT_FILE",
					"another path (default " PIA_MANAGER_DEFAULT_DATA_FILE ")");
		return FALSE;
	}

	interval_text = g_strdup_printf("%" G_GUINT64_FORMAT "s", interval);
	g_key_file_set_string(builder->keyfile, provider, "Type", "pia");
	/* unset: detected, as the tool did (it had no server name, so Hostname= stays unset) */
	if (gateway != NULL)
		g_key_file_set_string(builder->keyfile, provider, "Gateway", gateway);
	g_key_file_set_string(builder->keyfile, provider, "Username", user);
	g_key_file_set_string(builder->keyfile,
			      provider,
			      "PasswordCredential",
			      PM_CONFIG_ENV_PIA_PASSWORD);
	pm_config_env_add_credential(builder, PM_CONFIG_ENV_PIA_PASSWORD, "PIA_PASS", password);
	g_key_file_set_string(builder->keyfile, provider, "RefreshInterval", interval_text);

	/* the port alone, as `echo $port`; the JSON format holds its {port, timestamp,
	 * next_refresh} and more */
	g_key_file_set_string(builder->keyfile, port_group, "Type", "portfile");
	g_key_file_set_string(builder->keyfile, port_group, "Format", "ports");
	g_key_file_set_string(builder->keyfile, port_group, "Path", port_file);
	g_strv_builder_add(consumers, PM_CONFIG_ENV_PORT_FILE);
	g_key_file_set_string(builder->keyfile, data_group, "Type", "portfile");
	g_key_file_set_string(builder->keyfile, data_group, "Format", "json");
	g_key_file_set_string(builder->keyfile, data_group, "Path", data_file);
	g_strv_builder_add(consumers, PM_CONFIG_ENV_PORT_DATA);

	/* its update_qbittorrent: a login as QBITTORRENT_USER (default admin), then
	 * setPreferences; without QBITTORRENT_PASS, as the tool, no password (qBittorrent's
	 * bypass for local or whitelisted clients) */
	if (qbittorrent != NULL) {
		const char *group = "Consumer " PM_CONFIG_ENV_QBITTORRENT;
		g_key_file_set_string(builder->keyfile, group, "Type", "qbittorrent");
		g_key_file_set_string(builder->keyfile, group, "URL", qbittorrent);
		g_key_file_set_string(builder->keyfile, group, "Username",
				      qbittorrent_user != NULL ? qbittorrent_user : "admin");
		if (qbittorrent_password != NULL) {
			g_key_file_set_string(builder->keyfile, group, "PasswordCredential",
					      PM_CONFIG_ENV_QBITTORRENT_PASSWORD);
			pm_config_env_add_credential(builder, PM_CONFIG_ENV_QBITTORRENT_PASSWORD,
						     "QBITTORRENT_PASS", qbittorrent_password);
		}
		g_strv_builder_add(consumers, PM_CONFIG_ENV_QBITTORRENT);
	}

	g_key_file_set_string(builder->keyfile, mapping, "Provider", PM_CONFIG_ENV_PIA);
	pm_config_env_set_consumers(builder, mapping, consumers);
	return TRUE;
}

/* pia-foss/manual-connections (port_forwarding.sh) */

/* the string member @name of @object, non-empty; else NULL */
static const char *
pm_config_env_json_string(JsonObject *object, const char *name)
{
	JsonNode *node = json_object_get_member(object, name);
	const char *value;

	if (node == NULL || !JSON_NODE_HOLDS_VALUE(node) ||
	    json_node_get_value_type(node) != G_TYPE_STRING)
		return NULL;
	value = json_node_get_string(node);
	return value != NULL && *value != '\0' ? value : NULL;
}

/*
 * PAYLOAD_AND_SIGNATURE: getSignature's answer as the script saved it, which it reuses to
 * keep its port. Checked as the script checked it (status "OK"), and the payload and the
 * signature there, so that a bad value fails at start and not at the first bind; decoding
 * the payload is the provider's.
 */
static gboolean
pm_config_env_check_payload_and_signature(const char *value, GError **error)
{
	const char *accepted = "the JSON that getSignature answered, "
			       "{\"status\":\"OK\",\"payload\":\"…\",\"signature\":\"…\"}, or "
			       "unset for a new port";
	g_autoptr(JsonParser) parser = json_parser_new();
	JsonNode *root = NULL;
	JsonObject *object;

	if (json_parser_load_from_data(parser, value, -1, NULL))
		root = json_parser_get_root(parser);
	if (root == NULL || !JSON_NODE_HOLDS_OBJECT(root)) {
		pm_config_env_set_error(error,
					"PAYLOAD_AND_SIGNATURE",
					value,
					"not a JSON object",
					accepted);
		return FALSE;
	}
	object = json_node_get_object(root);
	if (g_strcmp0(pm_config_env_json_string(object, "status"), "OK") != 0) {
		pm_config_env_set_error(error,
					"PAYLOAD_AND_SIGNATURE",
					value,
					"its status is not \"OK\"",
					accepted);
		return FALSE;
	}
	if (pm_config_env_json_string(object, "payload") == NULL ||
	    pm_config_env_json_string(object, "signature") == NULL) {
		pm_config_env_set_error(error,
					"PAYLOAD_AND_SIGNATURE",
					value,
					"no payload or no signature (non-empty strings)",
					accepted);
		return FALSE;
	}
	return TRUE;
}

static gboolean
pm_config_env_generate_pia_manual(PmConfigEnvBuilder *builder, GError **error)
{
	const char *provider = "Provider " PM_CONFIG_ENV_PIA;
	const char *mapping = "Mapping " PM_CONFIG_ENV_MAPPING;
	const char *port_group = "Consumer " PM_CONFIG_ENV_PORT_FILE;
	const char *token = pm_config_env_get(builder, "PIA_TOKEN");
	const char *gateway = pm_config_env_get(builder, "PF_GATEWAY");
	const char *hostname = pm_config_env_get(builder, "PF_HOSTNAME");
	const char *payload = pm_config_env_get(builder, "PAYLOAD_AND_SIGNATURE");
	g_autoptr(GStrvBuilder) consumers = g_strv_builder_new();

	/* the script's own check: it exits without all three */
	if (gateway == NULL) {
		pm_config_env_set_unset_error(builder,
					      error,
					      "PF_GATEWAY",
					      "the IPv4 address of the PIA server's gateway, such "
					      "as 10.10.0.1");
		return FALSE;
	}
	if (!pm_config_env_check_ipv4("PF_GATEWAY",
				      gateway,
				      "a dotted IPv4 address, such as 10.10.0.1",
				      error))
		return FALSE;
	if (hostname == NULL) {
		pm_config_env_set_unset_error(builder,
					      error,
					      "PF_HOSTNAME",
					      "the PIA server's name, as on its certificate, such as "
					      "newjersey419");
		return FALSE;
	}
	if (!pm_config_env_check_hostname("PF_HOSTNAME", hostname, error))
		return FALSE;
	if (payload != NULL && !pm_config_env_check_payload_and_signature(payload, error))
		return FALSE;

	g_key_file_set_string(builder->keyfile, provider, "Type", "pia");
	g_key_file_set_string(builder->keyfile, provider, "Gateway", gateway);
	g_key_file_set_string(builder->keyfile, provider, "Hostname", hostname);
	g_key_file_set_string(builder->keyfile,
			      provider,
			      "TokenCredential",
			      PM_CONFIG_ENV_PIA_TOKEN);
	pm_config_env_add_credential(builder, PM_CONFIG_ENV_PIA_TOKEN, "PIA_TOKEN", token);
	/* "PAYLOAD+SIGNATURE = PORT": the user set it to keep that port, which the provider
	 * binds while it has no payload of its own (design §6 stores the one it gets) */
	if (payload != NULL) {
		g_key_file_set_string(builder->keyfile,
				      provider,
				      "PayloadAndSignatureCredential",
				      PM_CONFIG_ENV_PIA_PAYLOAD);
		pm_config_env_add_credential(builder,
					     PM_CONFIG_ENV_PIA_PAYLOAD,
					     "PAYLOAD_AND_SIGNATURE",
					     payload);
	}
	/* the script binds every 15 minutes (sleep 900) */
	g_key_file_set_string(builder->keyfile, provider, "RefreshInterval", PIA_BIND_INTERVAL);

	/* the script printed the port and wrote no file: a port file at portmapd's default
	 * (RUNTIME_DIR/port-file.port), so that the port is somewhere to read */
	g_key_file_set_string(builder->keyfile, port_group, "Type", "portfile");
	g_key_file_set_string(builder->keyfile, port_group, "Format", "ports");
	g_strv_builder_add(consumers, PM_CONFIG_ENV_PORT_FILE);

	g_key_file_set_string(builder->keyfile, mapping, "Provider", PM_CONFIG_ENV_PIA);
	pm_config_env_set_consumers(builder, mapping, consumers);
	return TRUE;
}

/* mikrotik-double-natpmp (features-not-bugs/mikrotik-double-natpmp, config/config.go) */

#define MIKROTIK_DEFAULT_USER "admin"
#define MIKROTIK_DEFAULT_LISTEN ":5351"
/* a host behind the router (the tool's container on the MikroTik) gets the LAN's requests
 * forwarded with their senders' addresses, which it cannot know: the private ranges, as
 * the tool answered anyone */
#define MIKROTIK_PRIVATE_NETWORKS "10.0.0.0/8,172.16.0.0/12,192.168.0.0/16"

/* strconv.ParseBool, which the tool's MIKROTIK_API_TLS went through */
static gboolean
pm_config_env_mikrotik_boolean(const char *value, gboolean *out, GError **error)
{
	const char *yes[] = {"1", "t", "T", "TRUE", "true", "True", NULL};
	const char *no[] = {"0", "f", "F", "FALSE", "false", "False", NULL};

	if (value == NULL) {
		*out = FALSE;
		return TRUE;
	}
	if (g_strv_contains(yes, value) || g_strv_contains(no, value)) {
		*out = g_strv_contains(yes, value);
		return TRUE;
	}
	pm_config_env_set_error(error, "MIKROTIK_API_TLS", value, "not a boolean",
				"true, false, 1, 0, t, f, TRUE, FALSE, True, False (as Go's "
				"strconv.ParseBool reads them)");
	return FALSE;
}

static guint32
pm_config_env_netmask(guint prefix)
{
	return prefix == 0 ? 0 : htonl(0xffffffffu << (32 - prefix));
}

/* every IPv4 address of the interfaces that are up, but loopback and @skip_ifindex,
 * with their networks ("a.b.c.d/len"); or only @only (network byte order) if non-zero */
static gboolean
pm_config_env_local_addresses(guint32 only, guint skip_ifindex, GStrvBuilder *listen,
			      GStrvBuilder *networks, guint *count)
{
	struct ifaddrs *ifaddrs = NULL;

	*count = 0;
	if (getifaddrs(&ifaddrs) != 0)
		return FALSE;
	for (struct ifaddrs *ifa = ifaddrs; ifa != NULL; ifa = ifa->ifa_next) {
		guint32 address, mask;
		guint prefix;
		g_autofree char *a = NULL;
		g_autofree char *n = NULL;

		if (ifa->ifa_addr == NULL || ifa->ifa_addr->sa_family != AF_INET ||
		    ifa->ifa_netmask == NULL || !(ifa->ifa_flags & IFF_UP))
			continue;
		address = ((struct sockaddr_in *)ifa->ifa_addr)->sin_addr.s_addr;
		mask = ((struct sockaddr_in *)ifa->ifa_netmask)->sin_addr.s_addr;
		if (only != 0 ? address != only
			      : (ifa->ifa_flags & IFF_LOOPBACK) ||
				    (skip_ifindex != 0 && if_nametoindex(ifa->ifa_name) == skip_ifindex))
			continue;
		prefix = __builtin_popcount(mask);
		a = pm_ipv4_to_string(address);
		n = pm_ipv4_to_string(address & pm_config_env_netmask(prefix));
		g_strv_builder_add(listen, a);
		g_free(a);
		a = g_strdup_printf("%s/%u", n, prefix);
		g_strv_builder_add(networks, a);
		(*count)++;
	}
	freeifaddrs(ifaddrs);
	return TRUE;
}

/*
 * LISTEN_ADDR (Go's "host:port" of net.ListenUDP, default ":5351") as Listen= and
 * AllowedNetworks=: a given address with its own network; none (or 0.0.0.0) every address
 * of the interfaces but the upstream one with their networks, or, on a host behind the
 * router (VPN_GATEWAY reached through a gateway), the private ranges
 */
static gboolean
pm_config_env_mikrotik_listen(PmConfigEnvBuilder *builder, guint32 vpn_gateway, GError **error)
{
	const char *value = pm_config_env_get(builder, "LISTEN_ADDR");
	const char *listen_addr = value != NULL ? value : MIKROTIK_DEFAULT_LISTEN;
	const char *colon = strrchr(listen_addr, ':');
	g_autofree char *host = NULL;
	g_autoptr(GStrvBuilder) listen = g_strv_builder_new();
	g_autoptr(GStrvBuilder) networks = g_strv_builder_new();
	g_auto(GStrv) listen_v = NULL;
	g_auto(GStrv) networks_v = NULL;
	g_autofree char *listen_s = NULL;
	g_autofree char *networks_s = NULL;
	guint32 only = 0;
	guint count = 0;
	PmDefaultRoute route = {0};

	if (colon == NULL || g_strcmp0(colon + 1, "5351") != 0) {
		pm_config_env_set_error(error, "LISTEN_ADDR", listen_addr,
					colon == NULL ? "not ADDRESS:PORT"
						      : "portmapd answers NAT-PMP on port 5351 only",
					"ADDRESS:5351 or :5351 (every LAN address)");
		return FALSE;
	}
	host = g_strndup(listen_addr, colon - listen_addr);
	if (host[0] != '\0' && g_strcmp0(host, "0.0.0.0") != 0) {
		if (inet_pton(AF_INET, host, &only) != 1 || only == 0) {
			pm_config_env_set_error(error, "LISTEN_ADDR", listen_addr,
						"not an IPv4 address (NAT-PMP is IPv4 only)",
						"ADDRESS:5351 or :5351 (every LAN address)");
			return FALSE;
		}
	}
	if (only == 0 && !pm_route_query(vpn_gateway, getuid(), &route, NULL))
		route.ifindex = 0;
	if (!pm_config_env_local_addresses(only, route.gateway == 0 ? route.ifindex : 0, listen,
					   networks, &count) ||
	    count == 0) {
		pm_config_env_set_error(error, "LISTEN_ADDR", listen_addr,
					only != 0 ? "no interface has this address"
						  : "no interface has an IPv4 address but the one "
						    "toward VPN_GATEWAY",
					"ADDRESS:5351 with a local IPv4 address, or :5351");
		return FALSE;
	}
	listen_v = g_strv_builder_end(listen);
	networks_v = g_strv_builder_end(networks);
	listen_s = g_strjoinv(",", listen_v);
	networks_s = only == 0 && route.gateway != 0 ? g_strdup(MIKROTIK_PRIVATE_NETWORKS)
						     : g_strjoinv(",", networks_v);
	g_key_file_set_string(builder->keyfile, "Gateway", "Listen", listen_s);
	g_key_file_set_string(builder->keyfile, "Gateway", "AllowedNetworks", networks_s);
	pm_config_env_add_warning(builder,
				  "LISTEN_ADDR=%s: listening on %s for clients in %s (the "
				  "replaced tool answered any address; set AllowedNetworks= in "
				  "[Gateway] of a --config file to narrow it)",
				  listen_addr, listen_s, networks_s);
	return TRUE;
}

static gboolean
pm_config_env_generate_mikrotik(PmConfigEnvBuilder *builder, GError **error)
{
	const char *provider = "Provider " PM_CONFIG_ENV_VPN;
	const char *router = "MikroTik " PM_CONFIG_ENV_MIKROTIK;
	const char *gateway = pm_config_env_get(builder, "VPN_GATEWAY");
	const char *address = pm_config_env_get(builder, "MIKROTIK_API_ADDRESS");
	const char *user = pm_config_env_get(builder, "MIKROTIK_API_USER");
	const char *password = pm_config_env_get(builder, "MIKROTIK_API_PASSWORD");
	const char *in_interface = pm_config_env_get(builder, "MIKROTIK_IN_INTERFACE");
	gboolean tls = FALSE;
	guint32 vpn_gateway = 0;

	/* the tool's own checks: it exits without these three */
	if (gateway == NULL) {
		pm_config_env_set_unset_error(builder, error, "VPN_GATEWAY",
					      "the VPN gateway's IPv4 address, such as 10.2.0.1");
		return FALSE;
	}
	if (!pm_config_env_check_ipv4("VPN_GATEWAY", gateway,
				      "a dotted IPv4 address, such as 10.2.0.1", error))
		return FALSE;
	inet_pton(AF_INET, gateway, &vpn_gateway);
	if (password == NULL) {
		pm_config_env_set_unset_error(builder, error, "MIKROTIK_API_PASSWORD",
					      "the RouterOS API user's password");
		return FALSE;
	}
	if (!pm_config_env_check_text("MIKROTIK_API_ADDRESS", address, error) ||
	    (user != NULL && !pm_config_env_check_text("MIKROTIK_API_USER", user, error)) ||
	    (in_interface != NULL &&
	     !pm_config_env_check_text("MIKROTIK_IN_INTERFACE", in_interface, error)) ||
	    !pm_config_env_mikrotik_boolean(pm_config_env_get(builder, "MIKROTIK_API_TLS"), &tls,
					    error))
		return FALSE;

	g_key_file_set_string(builder->keyfile, provider, "Type", "natpmp");
	g_key_file_set_string(builder->keyfile, provider, "Gateway", gateway);

	g_key_file_set_string(builder->keyfile, router, "Address", address);
	g_key_file_set_string(builder->keyfile, router, "TLS", tls ? "yes" : "no");
	g_key_file_set_string(builder->keyfile, router, "Username",
			      user != NULL ? user : MIKROTIK_DEFAULT_USER);
	g_key_file_set_string(builder->keyfile, router, "PasswordCredential",
			      PM_CONFIG_ENV_MIKROTIK_PASSWORD);
	pm_config_env_add_credential(builder, PM_CONFIG_ENV_MIKROTIK_PASSWORD,
				     "MIKROTIK_API_PASSWORD", password);
	if (in_interface != NULL)
		g_key_file_set_string(builder->keyfile, router, "InInterface", in_interface);
	/* the tool's pool: 4 connections */
	g_key_file_set_string(builder->keyfile, router, "PoolSize", "4");
	if (tls)
		pm_config_env_add_warning(builder,
					  "MIKROTIK_API_TLS: the router's certificate is verified "
					  "against the system's roots; for a self-signed one set "
					  "Fingerprint= (or CAFile=) in [MikroTik %s] of a --config "
					  "file",
					  PM_CONFIG_ENV_MIKROTIK);

	if (!pm_config_env_mikrotik_listen(builder, vpn_gateway, error))
		return FALSE;
	g_key_file_set_string(builder->keyfile, "Gateway", "Upstream", PM_CONFIG_ENV_VPN);
	g_key_file_set_string(builder->keyfile, "Gateway", "Router", PM_CONFIG_ENV_MIKROTIK);
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
	self->warnings = g_ptr_array_new_with_free_func(g_free);
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

void
pm_config_env_log_warnings(const PmConfigEnv *self)
{
	g_return_if_fail(self != NULL);

	for (guint i = 0; i < self->warnings->len; i++)
		g_warning("--config-from-env: %s", (const char *)g_ptr_array_index(self->warnings, i));
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
