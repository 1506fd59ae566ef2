/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "mikrotik-config.h"

#include <gio/gio.h>
#include <string.h>

#include "routeros-client.h"

static PmMikrotikConfig *
mikrotik_config_new(const char *name)
{
	PmMikrotikConfig *self = g_new0(PmMikrotikConfig, 1);

	self->ref_count = 1;
	self->name = g_strdup(name);
	self->username = g_strdup(PM_MIKROTIK_DEFAULT_USERNAME);
	self->pool_size = PM_ROS_DEFAULT_POOL_SIZE;
	self->timeout_usec = PM_ROS_DEFAULT_TIMEOUT_USEC;
	return self;
}

PmMikrotikConfig *
pm_mikrotik_config_ref(PmMikrotikConfig *self)
{
	g_atomic_int_inc(&self->ref_count);
	return self;
}

void
pm_mikrotik_config_unref(PmMikrotikConfig *self)
{
	if (self == NULL || !g_atomic_int_dec_and_test(&self->ref_count))
		return;
	g_free(self->name);
	g_free(self->address);
	g_free(self->host);
	g_free(self->ca_file);
	g_free(self->username);
	g_free(self->password_credential);
	g_free(self->password_file);
	g_free(self->in_interface);
	g_free(self);
}

/* 64 hex digits, colons between bytes optional (as `openssl x509 -fingerprint -sha256`
 * and RouterOS's /certificate print show it) */
static gboolean
parse_fingerprint(PmConfigSection *section, const PmConfigEntry *entry, gpointer field,
		  GError **error)
{
	PmMikrotikConfig *self = field;
	guint n = 0;

	for (const char *p = entry->value; *p != '\0';) {
		if (*p == ':' && n > 0 && p[1] != '\0') {
			p++;
			continue;
		}
		if (n == 32 || !g_ascii_isxdigit(p[0]) || !g_ascii_isxdigit(p[1]))
			break;
		self->fingerprint[n++] = g_ascii_xdigit_value(p[0]) << 4 | g_ascii_xdigit_value(p[1]);
		p += 2;
		if (*p == '\0' && n == 32) {
			self->has_fingerprint = TRUE;
			return TRUE;
		}
	}
	pm_config_section_set_error(section, entry, "not a SHA-256 fingerprint",
				    "64 hex digits, colons between bytes allowed (openssl x509 "
				    "-noout -fingerprint -sha256 -in CERT)",
				    error);
	return FALSE;
}

static gboolean
parse_pool_size(PmConfigSection *section, const PmConfigEntry *entry, gpointer field,
		GError **error)
{
	guint64 value = 0;

	if (!g_ascii_string_to_unsigned(entry->value, 10, 1, PM_ROS_MAX_POOL_SIZE, &value, NULL)) {
		g_autofree char *accepted = g_strdup_printf("1 to %u", PM_ROS_MAX_POOL_SIZE);
		pm_config_section_set_error(section, entry, "not a connection count", accepted,
					    error);
		return FALSE;
	}
	*(guint *)field = value;
	return TRUE;
}

static const PmConfigKey mikrotik_keys[] = {
    {"Address", pm_config_parse_nonempty, G_STRUCT_OFFSET(PmMikrotikConfig, address)},
    {"TLS", pm_config_parse_boolean, G_STRUCT_OFFSET(PmMikrotikConfig, tls)},
    {"CAFile", pm_config_parse_nonempty, G_STRUCT_OFFSET(PmMikrotikConfig, ca_file)},
    {"Fingerprint", parse_fingerprint, 0},
    {"Username", pm_config_parse_nonempty, G_STRUCT_OFFSET(PmMikrotikConfig, username)},
    {"PasswordCredential", pm_config_parse_nonempty,
     G_STRUCT_OFFSET(PmMikrotikConfig, password_credential)},
    {"PasswordFile", pm_config_parse_nonempty, G_STRUCT_OFFSET(PmMikrotikConfig, password_file)},
    {"InInterface", pm_config_parse_nonempty, G_STRUCT_OFFSET(PmMikrotikConfig, in_interface)},
    {"PoolSize", parse_pool_size, G_STRUCT_OFFSET(PmMikrotikConfig, pool_size)},
    {"Timeout", pm_config_parse_timeout, G_STRUCT_OFFSET(PmMikrotikConfig, timeout_usec)},
    {NULL},
};

/* the router's words are sent as given: no control character, no NUL (the API's words
 * would carry it) and nothing a RouterOS interface name cannot hold */
static gboolean
interface_name_is_valid(const char *name)
{
	for (const char *p = name; *p != '\0'; p++) {
		if ((guchar)*p < 0x20 || *p == 0x7f)
			return FALSE;
	}
	return strlen(name) <= 255;
}

PmMikrotikConfig *
pm_mikrotik_config_parse(PmConfigSection *section, GError **error)
{
	g_autoptr(PmMikrotikConfig) self = mikrotik_config_new(pm_config_section_get_name(section));
	g_autoptr(GSocketConnectable) address = NULL;
	g_autoptr(GError) local_error = NULL;

	if (!pm_config_section_parse_keys(section, mikrotik_keys, self, error))
		return NULL;
	if (self->address == NULL) {
		pm_config_section_set_missing_error(section, "Address",
						    "the router's API address: host or host:port "
						    "(8728, 8729 with TLS=yes)",
						    error);
		return NULL;
	}
	address = g_network_address_parse(self->address, 0, &local_error);
	if (address == NULL || strchr(g_network_address_get_hostname(G_NETWORK_ADDRESS(address)),
				      '/') != NULL) {
		pm_config_section_set_error(section, pm_config_section_lookup(section, "Address"),
					    "not a host or host:port",
					    "a host name or address, optionally with :PORT "
					    "([ADDRESS]:PORT for IPv6)",
					    error);
		return NULL;
	}
	self->host = g_strdup(g_network_address_get_hostname(G_NETWORK_ADDRESS(address)));
	self->port = g_network_address_get_port(G_NETWORK_ADDRESS(address));
	if (self->port == 0)
		self->port = self->tls ? PM_ROS_DEFAULT_TLS_PORT : PM_ROS_DEFAULT_PORT;
	if (!self->tls && (self->ca_file != NULL || self->has_fingerprint)) {
		const char *key = self->ca_file != NULL ? "CAFile" : "Fingerprint";
		pm_config_section_set_error(section, pm_config_section_lookup(section, key),
					    "only used with TLS=yes",
					    "TLS=yes with it (the API-SSL service, port 8729)", error);
		return NULL;
	}
	if (self->ca_file != NULL && self->has_fingerprint) {
		pm_config_section_set_error(section, pm_config_section_lookup(section, "Fingerprint"),
					    "CAFile= is set too",
					    "one of CAFile= and Fingerprint=", error);
		return NULL;
	}
	if (!pm_config_section_check_secret_keys(section, "Password", self->password_credential,
						 self->password_file, error))
		return NULL;
	if (self->password_credential == NULL && self->password_file == NULL) {
		pm_config_section_set_missing_error(section, "PasswordCredential",
						    "set PasswordCredential= or PasswordFile= to "
						    "the API user's password",
						    error);
		return NULL;
	}
	if (self->in_interface != NULL && !interface_name_is_valid(self->in_interface)) {
		pm_config_section_set_error(section, pm_config_section_lookup(section, "InInterface"),
					    "not an interface name",
					    "the router's VPN-side interface, e.g. wg-vpn", error);
		return NULL;
	}
	return g_steal_pointer(&self);
}

gboolean
pm_mikrotik_config_equal(const PmMikrotikConfig *a, const PmMikrotikConfig *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return g_strcmp0(a->name, b->name) == 0 && g_strcmp0(a->host, b->host) == 0 &&
	       a->port == b->port && a->tls == b->tls && g_strcmp0(a->ca_file, b->ca_file) == 0 &&
	       a->has_fingerprint == b->has_fingerprint &&
	       memcmp(a->fingerprint, b->fingerprint, sizeof(a->fingerprint)) == 0 &&
	       g_strcmp0(a->username, b->username) == 0 &&
	       g_strcmp0(a->password_credential, b->password_credential) == 0 &&
	       g_strcmp0(a->password_file, b->password_file) == 0 &&
	       g_strcmp0(a->in_interface, b->in_interface) == 0 &&
	       a->pool_size == b->pool_size && a->timeout_usec == b->timeout_usec;
}

void
pm_mikrotik_config_print(const PmMikrotikConfig *self, GString *out)
{
	g_autofree char *timeout = pm_duration_to_string(self->timeout_usec);

	g_string_append_printf(out, "[MikroTik %s]\n", self->name);
	pm_config_print_string(out, "Address", self->address);
	g_string_append_printf(out, "TLS=%s\n", self->tls ? "yes" : "no");
	if (self->ca_file != NULL)
		pm_config_print_string(out, "CAFile", self->ca_file);
	if (self->has_fingerprint) {
		g_autofree char *fp = pm_ros_fingerprint_to_string(self->fingerprint);
		g_string_append_printf(out, "Fingerprint=%s\n", fp);
	}
	pm_config_print_string(out, "Username", self->username);
	if (self->password_credential != NULL)
		pm_config_print_string(out, "PasswordCredential", self->password_credential);
	if (self->password_file != NULL)
		pm_config_print_string(out, "PasswordFile", self->password_file);
	if (self->in_interface != NULL)
		pm_config_print_string(out, "InInterface", self->in_interface);
	g_string_append_printf(out, "PoolSize=%u\nTimeout=%s\n", self->pool_size, timeout);
}
