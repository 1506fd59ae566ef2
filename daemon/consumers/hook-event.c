/* SPDX-License-Identifier: GPL-2.0-or-later */

#include <string.h>

#include "hook-event.h"
#include "json-writer.h"

/* the first external port of @ports, TCP's first: the mapping's ExternalPort */
static guint16
pm_hook_ports_first(const PmMappingPorts *ports, guint16 *internal_port)
{
	for (guint i = 0; i < ports->n_ports; i++) {
		if (ports->ports[i].external_port != 0) {
			if (internal_port != NULL)
				*internal_port = ports->ports[i].internal_port;
			return ports->ports[i].external_port;
		}
	}
	if (internal_port != NULL)
		*internal_port = ports->n_ports > 0 ? ports->ports[0].internal_port : 0;
	return 0;
}

PmHookEvent *
pm_hook_event_new(PmHookEventType type,
		  const PmMappingView *mapping,
		  const PmMappingPorts *ports,
		  const PmMappingPorts *previous,
		  guint64 timestamp_usec)
{
	PmHookEvent *self = g_new0(PmHookEvent, 1);

	self->type = type;
	self->mapping_id = mapping->id;
	self->mapping = g_strdup(mapping->name);
	self->provider = g_strdup(mapping->provider);
	g_strlcpy(self->external_address, mapping->external_address,
		  sizeof(self->external_address));
	self->ports = *ports;
	if (type == PM_HOOK_EVENT_CHANGE && previous != NULL)
		self->old_port = pm_hook_ports_first(previous, NULL);
	self->provider_peer = mapping->provider_peer;
	self->timestamp_usec = timestamp_usec;
	return self;
}

void
pm_hook_event_free(PmHookEvent *self)
{
	if (self == NULL)
		return;
	g_free(self->mapping);
	g_free(self->provider);
	g_free(self);
}

const char *
pm_hook_event_type_to_string(PmHookEventType type)
{
	static const char *const names[] = {"up", "change", "down"};
	return names[type];
}

PmHookEvent *
pm_hook_event_merge(PmHookEvent *older, PmHookEvent *newer)
{
	if (older == NULL)
		return newer;
	if (newer == NULL)
		return older;
	if (newer->type == PM_HOOK_EVENT_CHANGE) {
		if (older->type == PM_HOOK_EVENT_UP) {
			newer->type = PM_HOOK_EVENT_UP;
			newer->old_port = 0;
		} else if (older->type == PM_HOOK_EVENT_CHANGE) {
			newer->old_port = older->old_port;
		}
	}
	pm_hook_event_free(older);
	return newer;
}

guint16
pm_hook_event_port(const PmHookEvent *self, guint16 *internal_port)
{
	return pm_hook_ports_first(&self->ports, internal_port);
}

char *
pm_hook_event_ports_string(const PmHookEvent *self)
{
	GString *out = g_string_new(NULL);
	guint16 seen[PM_PROTO_INDEX_COUNT] = {0};
	guint n_seen = 0;

	for (guint i = 0; i < self->ports.n_ports; i++) {
		guint16 port = self->ports.ports[i].external_port;
		gboolean dup = FALSE;
		if (port == 0)
			continue;
		for (guint j = 0; j < n_seen; j++)
			dup |= seen[j] == port;
		if (dup)
			continue;
		seen[n_seen++] = port;
		g_string_append_printf(out, "%s%u", out->len > 0 ? "," : "", port);
	}
	return g_string_free(out, FALSE);
}

char *
pm_hook_event_to_json(const PmHookEvent *self)
{
	PmJsonWriter writer;
	g_autoptr(GDateTime) dt = NULL;
	g_autofree char *timestamp = NULL;
	guint16 internal_port;
	guint16 external_port = pm_hook_event_port(self, &internal_port);

	pm_json_writer_init(&writer, 512, FALSE);
	pm_json_begin_object(&writer);
	pm_json_member_string(&writer, "event", pm_hook_event_type_to_string(self->type));
	pm_json_member_string(&writer, "mapping", self->mapping);
	pm_json_member_string(&writer, "provider", self->provider);
	pm_json_member(&writer, "protocols");
	pm_json_begin_array(&writer);
	for (guint i = 0; i < self->ports.n_ports; i++)
		pm_json_string(&writer, pm_protocol_to_string(self->ports.ports[i].protocol));
	pm_json_end_array(&writer);
	pm_json_member_uint(&writer, "internal_port", internal_port);
	pm_json_member_uint(&writer, "external_port", external_port);
	pm_json_member(&writer, "old_port");
	if (self->type == PM_HOOK_EVENT_CHANGE && self->old_port != 0)
		pm_json_uint(&writer, self->old_port);
	else
		pm_json_null(&writer);
	pm_json_member_string(&writer, "external_address", self->external_address);
	pm_json_member(&writer, "ports");
	pm_json_begin_array(&writer);
	for (guint i = 0; i < self->ports.n_ports; i++) {
		const PmPortPair *pair = &self->ports.ports[i];
		pm_json_begin_object(&writer);
		pm_json_member_string(&writer, "protocol", pm_protocol_to_string(pair->protocol));
		pm_json_member_uint(&writer, "internal", pair->internal_port);
		pm_json_member_uint(&writer, "external", pair->external_port);
		pm_json_end_object(&writer);
	}
	pm_json_end_array(&writer);
	/* the format of portfile's JSON */
	pm_json_member(&writer, "timestamp");
	dt = g_date_time_new_from_unix_utc(self->timestamp_usec / G_USEC_PER_SEC);
	timestamp = dt != NULL ? g_date_time_format(dt, "%Y-%m-%dT%H:%M:%SZ") : NULL;
	if (self->timestamp_usec == 0 || timestamp == NULL)
		pm_json_null(&writer);
	else
		pm_json_string(&writer, timestamp);
	pm_json_end_object(&writer);
	return pm_json_writer_finish(&writer);
}
