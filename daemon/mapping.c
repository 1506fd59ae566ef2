/* SPDX-License-Identifier: GPL-2.0-or-later */

#include <string.h>

#include "errors.h"
#include "mapping.h"

PmMapping *
pm_mapping_new(guint64 id, const char *name)
{
	PmMapping *self = g_new0(PmMapping, 1);
	self->id = id;
	self->name = g_strdup(name);
	self->state = PM_MAPPING_STATE_REQUESTING;
	self->counted_state = -1;
	return self;
}

void
pm_mapping_free(PmMapping *self)
{
	if (self == NULL)
		return;
	g_free(self->name);
	g_free(self->owner);
	g_free(self->description);
	g_free(self->last_error);
	if (self->consumers != NULL)
		g_ptr_array_unref(self->consumers);
	g_free(self);
}

void
pm_mapping_changed(PmMapping *self, guint props)
{
	if (props != 0 && self->changed_func != NULL)
		self->changed_func(self, props, self->changed_data);
}

void
pm_mapping_set_state(PmMapping *self, PmMappingState state)
{
	if (self->state == state)
		return;
	self->state = state;
	pm_mapping_changed(self, PM_MAPPING_PROP_STATE);
}

void
pm_mapping_set_last_error(PmMapping *self, const char *last_error)
{
	if (last_error != NULL && last_error[0] == '\0')
		last_error = NULL;
	if (g_strcmp0(self->last_error, last_error) == 0)
		return;
	g_free(self->last_error);
	self->last_error = g_strdup(last_error);
	pm_mapping_changed(self, PM_MAPPING_PROP_LAST_ERROR);
}

void
pm_mapping_set_error(PmMapping *self, const GError *error)
{
	g_autofree char *text = NULL;
	if (error == NULL) {
		pm_mapping_set_last_error(self, NULL);
		return;
	}
	text = g_strdup_printf("%s: %s",
			       error->domain == PM_ERROR ? pm_error_short_name(error->code)
							 : "Failed",
			       error->message);
	pm_mapping_set_last_error(self, text);
}

void
pm_mapping_set_external_address(PmMapping *self, guint32 address)
{
	if (self->external_address == address)
		return;
	self->external_address = address;
	pm_mapping_changed(self, PM_MAPPING_PROP_EXTERNAL_ADDRESS);
}

guint16
pm_mapping_get_external_port(const PmMapping *self)
{
	if (self->protocols & PM_PROTOCOL_TCP)
		return self->ports[PM_PROTO_INDEX_TCP].external_port;
	return self->ports[PM_PROTO_INDEX_UDP].external_port;
}

guint64
pm_mapping_get_expires(const PmMapping *self)
{
	guint64 expires = 0;
	for (guint i = 0; i < PM_PROTO_INDEX_COUNT; i++) {
		guint64 e = self->ports[i].expires;
		if (e != 0 && (expires == 0 || e < expires))
			expires = e;
	}
	return expires;
}

guint32
pm_mapping_get_lifetime(const PmMapping *self)
{
	guint64 expires = 0;
	guint32 lifetime = 0;
	for (guint i = 0; i < PM_PROTO_INDEX_COUNT; i++) {
		guint64 e = self->ports[i].expires;
		if (e != 0 && (expires == 0 || e < expires)) {
			expires = e;
			lifetime = self->ports[i].lifetime;
		}
	}
	return lifetime;
}

gboolean
pm_mapping_is_transient(const PmMapping *self)
{
	return self->origin == PM_ORIGIN_GATEWAY || self->scope != PM_SCOPE_PERSISTENT;
}

void
pm_mapping_get_ports(const PmMapping *self, PmMappingPorts *out)
{
	memset(out, 0, sizeof(*out));
	for (guint p = 0; p < PM_PROTO_INDEX_COUNT; p++) {
		PmProtocols bit = p == PM_PROTO_INDEX_TCP ? PM_PROTOCOL_TCP : PM_PROTOCOL_UDP;
		PmPortPair *pair;
		if ((self->protocols & bit) == 0)
			continue;
		pair = &out->ports[out->n_ports++];
		pair->protocol = bit;
		pair->internal_port = self->ports[p].internal_port != 0 ? self->ports[p].internal_port
									: self->internal_port;
		pair->external_port = self->ports[p].external_port;
	}
}

gboolean
pm_mapping_ports_equal(const PmMappingPorts *a, const PmMappingPorts *b)
{
	if (a->n_ports != b->n_ports)
		return FALSE;
	for (guint i = 0; i < a->n_ports; i++) {
		if (a->ports[i].protocol != b->ports[i].protocol ||
		    a->ports[i].internal_port != b->ports[i].internal_port ||
		    a->ports[i].external_port != b->ports[i].external_port)
			return FALSE;
	}
	return TRUE;
}

const char *
pm_mapping_state_to_string(PmMappingState state)
{
	static const char *const names[] = {
	    "requesting", "active", "renewing", "retrying", "degraded", "failed",
	};
	return names[state];
}

const char *
pm_scope_to_string(PmScope scope)
{
	static const char *const names[] = {"client", "runtime", "persistent"};
	return names[scope];
}

gboolean
pm_scope_from_string(const char *str, PmScope *out)
{
	for (PmScope s = PM_SCOPE_CLIENT; s <= PM_SCOPE_PERSISTENT; s++) {
		if (g_strcmp0(str, pm_scope_to_string(s)) == 0) {
			*out = s;
			return TRUE;
		}
	}
	return FALSE;
}

const char *
pm_origin_to_string(PmOrigin origin)
{
	static const char *const names[] = {"config", "bus", "gateway"};
	return names[origin];
}

char **
pm_protocols_to_strv(guint protocols)
{
	GStrvBuilder *builder = g_strv_builder_new();
	char **strv;
	if (protocols & PM_PROTOCOL_TCP)
		g_strv_builder_add(builder, "tcp");
	if (protocols & PM_PROTOCOL_UDP)
		g_strv_builder_add(builder, "udp");
	strv = g_strv_builder_end(builder);
	g_strv_builder_unref(builder);
	return strv;
}

char *
pm_mapping_get_path(const PmMapping *self)
{
	return pm_mapping_path_for_id(self->id);
}

char *
pm_mapping_path_for_id(guint64 id)
{
	return g_strdup_printf(PM_MAPPING_PATH_PREFIX "/%" G_GUINT64_FORMAT, id);
}
