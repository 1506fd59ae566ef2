/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "wireguard-config.h"

#include "wg-uapi.h"

#include <net/if.h>
#include <string.h>

#define INTERFACE_ACCEPTED                                                                       \
	"a network interface name (wg0, wg-mesh): 1 to 15 bytes without /, :, spaces or "       \
	"control characters, not . or .."

static PmWireguardConfig *
wireguard_config_new(void)
{
	PmWireguardConfig *self = g_new0(PmWireguardConfig, 1);

	self->ref_count = 1;
	return self;
}

PmWireguardConfig *
pm_wireguard_config_ref(PmWireguardConfig *self)
{
	g_atomic_int_inc(&self->ref_count);
	return self;
}

void
pm_wireguard_config_unref(PmWireguardConfig *self)
{
	if (self == NULL || !g_atomic_int_dec_and_test(&self->ref_count))
		return;
	g_free(self->interface);
	g_free(self);
}

gboolean
pm_wireguard_interface_name_is_valid(const char *name)
{
	return pm_wg_ifname_is_valid(name);
}

static gboolean
parse_interface(PmConfigSection *section, const PmConfigEntry *entry, gpointer field,
		GError **error)
{
	char **interface = field;
	const char *what = NULL;
	gsize len = strlen(entry->value);

	if (len == 0)
		what = "empty";
	else if (len >= IFNAMSIZ)
		what = "longer than 15 bytes";
	else if (!pm_wireguard_interface_name_is_valid(entry->value))
		what = "not a valid interface name";
	if (what != NULL) {
		pm_config_section_set_error(section, entry, what, INTERFACE_ACCEPTED, error);
		return FALSE;
	}
	g_free(*interface);
	*interface = g_strdup(entry->value);
	return TRUE;
}

static const PmConfigKey wireguard_keys[] = {
    {"Interface", parse_interface, G_STRUCT_OFFSET(PmWireguardConfig, interface)},
    {NULL},
};

PmWireguardConfig *
pm_wireguard_config_parse(PmConfigSection *section, const PmConfig *config, GError **error)
{
	g_autoptr(PmWireguardConfig) self = wireguard_config_new();

	if (!pm_config_section_parse_keys(section, wireguard_keys, self, error))
		return NULL;
	if (self->interface == NULL) {
		pm_config_section_set_missing_error(section, "Interface",
						    "set the WireGuard interface whose peers get "
						    "the endpoints, such as wg0",
						    error);
		return NULL;
	}
	if (config->control_plane == NULL) {
		pm_config_section_set_group_error(section,
						  "[WireGuard] applies the peer endpoints that "
						  "[ControlPlane] returns: add [ControlPlane]",
						  error);
		return NULL;
	}
	return g_steal_pointer(&self);
}

gboolean
pm_wireguard_config_equal(const PmWireguardConfig *a, const PmWireguardConfig *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return g_strcmp0(a->interface, b->interface) == 0;
}

void
pm_wireguard_config_print(const PmWireguardConfig *self, GString *out)
{
	g_string_append(out, "[WireGuard]\n");
	/* a backslash is a valid name's byte, and an escape in the file */
	pm_config_print_string(out, "Interface", self->interface);
}
