/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "stun-config.h"

#include <gio/gio.h>
#include <string.h>

static void
stun_server_config_free(PmStunServerConfig *server)
{
	g_free(server->text);
	g_free(server->host);
	g_free(server);
}

static PmStunConfig *
stun_config_new(void)
{
	PmStunConfig *self = g_new0(PmStunConfig, 1);

	self->ref_count = 1;
	self->enabled = TRUE;
	self->servers = g_ptr_array_new_with_free_func((GDestroyNotify)stun_server_config_free);
	self->refresh_interval_usec = PM_STUN_DEFAULT_REFRESH_USEC;
	self->timeout_usec = PM_STUN_DEFAULT_TIMEOUT_USEC;
	return self;
}

PmStunConfig *
pm_stun_config_ref(PmStunConfig *self)
{
	g_atomic_int_inc(&self->ref_count);
	return self;
}

void
pm_stun_config_unref(PmStunConfig *self)
{
	if (self == NULL || !g_atomic_int_dec_and_test(&self->ref_count))
		return;
	g_ptr_array_unref(self->servers);
	g_free(self);
}

/* host:port, [v6]:port or a bare host (port 3478), each once */
static gboolean
parse_servers(PmConfigSection *section, const PmConfigEntry *entry, gpointer field,
	      GError **error)
{
	PmStunConfig *self = field;
	g_auto(GStrv) items = pm_split_list(entry->value);

	g_ptr_array_set_size(self->servers, 0);
	for (guint i = 0; items[i] != NULL; i++) {
		g_autoptr(GSocketConnectable) address = NULL;
		PmStunServerConfig *server;
		const char *host;

		address = g_network_address_parse(items[i], PM_STUN_DEFAULT_PORT, NULL);
		host = address != NULL ? g_network_address_get_hostname(G_NETWORK_ADDRESS(address))
				       : NULL;
		if (host == NULL || *host == '\0' || strchr(host, '/') != NULL ||
		    strchr(items[i], ' ') != NULL) {
			g_autofree char *what = g_strdup_printf("\"%s\" is not host:port", items[i]);
			pm_config_section_set_error(section, entry, what,
						    "host:port items separated by commas or "
						    "spaces ([ADDRESS]:PORT for IPv6; port 3478 "
						    "when left out)",
						    error);
			return FALSE;
		}
		for (guint j = 0; j < self->servers->len; j++) {
			PmStunServerConfig *other = g_ptr_array_index(self->servers, j);
			if (g_ascii_strcasecmp(other->host, host) == 0 &&
			    other->port ==
				g_network_address_get_port(G_NETWORK_ADDRESS(address))) {
				g_autofree char *what =
				    g_strdup_printf("%s is listed twice", items[i]);
				pm_config_section_set_error(section, entry, what,
							    "each server once", error);
				return FALSE;
			}
		}
		server = g_new0(PmStunServerConfig, 1);
		server->text = g_strdup(items[i]);
		server->host = g_strdup(host);
		server->port = g_network_address_get_port(G_NETWORK_ADDRESS(address));
		g_ptr_array_add(self->servers, server);
	}
	return TRUE;
}

static gboolean
parse_refresh_interval(PmConfigSection *section, const PmConfigEntry *entry, gpointer field,
		       GError **error)
{
	return pm_config_section_get_duration(section, entry, PM_STUN_MIN_REFRESH_USEC, field,
					      error);
}

static gboolean
parse_timeout(PmConfigSection *section, const PmConfigEntry *entry, gpointer field,
	      GError **error)
{
	/* 1 ms: the least positive duration the daemon's timers tell apart */
	return pm_config_section_get_duration(section, entry, G_TIME_SPAN_MILLISECOND, field,
					      error);
}

static const PmConfigKey stun_keys[] = {
    {"Enabled", pm_config_parse_boolean, G_STRUCT_OFFSET(PmStunConfig, enabled)},
    {"Servers", parse_servers, 0},
    {"RefreshInterval", parse_refresh_interval,
     G_STRUCT_OFFSET(PmStunConfig, refresh_interval_usec)},
    {"Timeout", parse_timeout, G_STRUCT_OFFSET(PmStunConfig, timeout_usec)},
    {"LocalPort", pm_config_parse_port, G_STRUCT_OFFSET(PmStunConfig, local_port)},
    {NULL},
};

PmStunConfig *
pm_stun_config_parse(PmConfigSection *section, GError **error)
{
	g_autoptr(PmStunConfig) self = stun_config_new();
	const PmConfigEntry *enabled = pm_config_section_lookup(section, "Enabled");
	GPtrArray *entries = pm_config_section_get_entries(section);

	/* disabled: nothing else is read (the replaced module skips validation), but a key
	 * this version does not know is still a typo worth reporting */
	if (enabled != NULL && !pm_config_parse_boolean(section, enabled, &self->enabled, error))
		return NULL;
	if (!self->enabled) {
		for (guint i = 0; i < entries->len; i++) {
			const PmConfigEntry *entry = g_ptr_array_index(entries, i);
			gboolean known = FALSE;

			for (guint j = 0; stun_keys[j].key != NULL; j++)
				known = known || g_strcmp0(stun_keys[j].key, entry->key) == 0;
			if (!known) {
				pm_config_section_set_unknown_key_error(
				    section, entry,
				    "Enabled, Servers, RefreshInterval, Timeout, LocalPort", error);
				return NULL;
			}
		}
		return g_steal_pointer(&self);
	}
	if (!pm_config_section_parse_keys(section, stun_keys, self, error))
		return NULL;
	if (self->servers->len == 0) {
		if (pm_config_section_lookup(section, "Servers") != NULL)
			pm_config_section_set_error(section,
						    pm_config_section_lookup(section, "Servers"),
						    "Servers must not be empty when enabled",
						    "host:port items separated by commas or spaces",
						    error);
		else
			pm_config_section_set_missing_error(
			    section, "Servers",
			    "Servers must not be empty when enabled: list STUN servers as "
			    "host:port (or set Enabled=no)",
			    error);
		return NULL;
	}
	return g_steal_pointer(&self);
}

gboolean
pm_stun_config_equal(const PmStunConfig *a, const PmStunConfig *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	if (a->enabled != b->enabled || a->refresh_interval_usec != b->refresh_interval_usec ||
	    a->timeout_usec != b->timeout_usec || a->local_port != b->local_port ||
	    a->servers->len != b->servers->len)
		return FALSE;
	for (guint i = 0; i < a->servers->len; i++) {
		const PmStunServerConfig *x = g_ptr_array_index(a->servers, i);
		const PmStunServerConfig *y = g_ptr_array_index(b->servers, i);
		if (g_strcmp0(x->text, y->text) != 0)
			return FALSE;
	}
	return TRUE;
}

void
pm_stun_config_print(const PmStunConfig *self, GString *out)
{
	g_autofree char *refresh = pm_duration_to_string(self->refresh_interval_usec);
	g_autofree char *timeout = pm_duration_to_string(self->timeout_usec);

	g_string_append_printf(out, "[STUN]\nEnabled=%s\n", self->enabled ? "yes" : "no");
	if (!self->enabled)
		return;
	g_string_append(out, "Servers=");
	for (guint i = 0; i < self->servers->len; i++) {
		const PmStunServerConfig *server = g_ptr_array_index(self->servers, i);

		if (i > 0)
			g_string_append_c(out, ',');
		/* a backslash is an escape in the file: written as one, it would not read back
		 * (an item has no comma or blank: nothing else needs escaping) */
		for (const char *p = server->text; *p != '\0'; p++) {
			if (*p == '\\')
				g_string_append_c(out, '\\');
			g_string_append_c(out, *p);
		}
	}
	g_string_append_printf(out, "\nRefreshInterval=%s\nTimeout=%s\n", refresh, timeout);
	if (self->local_port != 0)
		g_string_append_printf(out, "LocalPort=%u\n", self->local_port);
}
