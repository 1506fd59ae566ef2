/* SPDX-License-Identifier: GPL-2.0-or-later */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "bus-errors.h"
#include "consumer.h"
#include "errors.h"
#include "mapping-object.h"

/*
 * org.portmap.Mapping on /org/portmap/Manager/mapping/N, served by one fallback vtable
 * with a node enumerator: no per-object registration, so 10 000 mappings cost no bus
 * memory of their own.
 */

static int
pm_mapping_object_find(sd_bus *bus, const char *path, const char *interface, void *userdata,
		       void **found, sd_bus_error *ret_error)
{
	PmBusService *self = userdata;
	if (pm_bus_service_lookup_mapping(self, path) == NULL)
		return 0;
	/* the service, not the mapping: getters look the mapping up by path, so nothing
	 * dangles if one is removed between find and dispatch */
	*found = self;
	return 1;
}

static int
pm_mapping_object_enumerate(sd_bus *bus, const char *prefix, void *userdata, char ***nodes,
			    sd_bus_error *ret_error)
{
	PmBusService *self = userdata;
	g_autoptr(GPtrArray) mappings = pm_manager_get_mappings(self->manager);
	char **strv = calloc(mappings->len + 1, sizeof(char *));

	if (strv == NULL)
		return -ENOMEM;
	/* sd-bus frees these with free(): allocate with malloc, not g_malloc */
	for (guint i = 0; i < mappings->len; i++) {
		PmMapping *mapping = g_ptr_array_index(mappings, i);
		if (asprintf(&strv[i], PM_MAPPING_PATH_PREFIX "/%" G_GUINT64_FORMAT, mapping->id) <
		    0) {
			for (guint j = 0; j < i; j++)
				free(strv[j]);
			free(strv);
			return -ENOMEM;
		}
	}
	*nodes = strv;
	return 0;
}

static int
no_such_mapping(sd_bus_error *ret_error, const char *path)
{
	return sd_bus_error_setf(ret_error, PM_BUS_ERROR_PREFIX "NoSuchMapping",
				 "there is no mapping %s: see ListMappings()", path);
}

/* each getter gets the mapping looked up from the object path, described once by the
 * manager as ListMappings() and Describe() describe it */
#define MAPPING_GETTER(fn)                                                                     \
	static int fn##_impl(const PmMappingView *view, sd_bus_message *reply);                \
	static int fn(sd_bus *bus, const char *path, const char *interface,                    \
		      const char *property, sd_bus_message *reply, void *userdata,             \
		      sd_bus_error *ret_error)                                                 \
	{                                                                                      \
		PmBusService *self = userdata;                                                 \
		PmMapping *mapping = pm_bus_service_lookup_mapping(self, path);                \
		PmMappingView view;                                                            \
		if (mapping == NULL)                                                           \
			return no_such_mapping(ret_error, path);                               \
		pm_manager_describe_mapping(self->manager, mapping, &view);                    \
		return fn##_impl(&view, reply);                                                \
	}                                                                                      \
	static int fn##_impl(const PmMappingView *view, sd_bus_message *reply)

MAPPING_GETTER(property_get_name)
{
	return sd_bus_message_append(reply, "s", view->name);
}

MAPPING_GETTER(property_get_provider)
{
	return sd_bus_message_append(reply, "s", view->provider);
}

MAPPING_GETTER(property_get_protocols)
{
	return sd_bus_message_append_strv(reply, (char **)view->protocols);
}

MAPPING_GETTER(property_get_ports)
{
	int r = sd_bus_message_open_container(reply, 'a', "(sqq)");
	if (r < 0)
		return r;
	for (guint i = 0; i < view->ports.n_ports; i++) {
		const PmPortPair *pair = &view->ports.ports[i];
		r = sd_bus_message_append(reply, "(sqq)", pm_protocol_to_string(pair->protocol),
					  pair->internal_port, pair->external_port);
		if (r < 0)
			return r;
	}
	return sd_bus_message_close_container(reply);
}

MAPPING_GETTER(property_get_internal_address)
{
	return sd_bus_message_append(reply, "s", view->internal_address);
}

MAPPING_GETTER(property_get_internal_port)
{
	return sd_bus_message_append(reply, "q", view->internal_port);
}

MAPPING_GETTER(property_get_external_address)
{
	return sd_bus_message_append(reply, "s", view->external_address);
}

MAPPING_GETTER(property_get_external_port)
{
	return sd_bus_message_append(reply, "q", view->external_port);
}

MAPPING_GETTER(property_get_lifetime)
{
	return sd_bus_message_append(reply, "u", view->lifetime);
}

MAPPING_GETTER(property_get_expires_at)
{
	return sd_bus_message_append(reply, "t", view->expires_at);
}

MAPPING_GETTER(property_get_port_valid_until)
{
	return sd_bus_message_append(reply, "t", view->port_valid_until);
}

MAPPING_GETTER(property_get_state)
{
	return sd_bus_message_append(reply, "s", view->state);
}

MAPPING_GETTER(property_get_last_error)
{
	return sd_bus_message_append(reply, "s", view->last_error);
}

MAPPING_GETTER(property_get_scope)
{
	return sd_bus_message_append(reply, "s", view->scope);
}

MAPPING_GETTER(property_get_origin)
{
	return sd_bus_message_append(reply, "s", view->origin);
}

MAPPING_GETTER(property_get_owner_uid)
{
	return sd_bus_message_append(reply, "u", view->owner_uid);
}

/* (name, state, last error) of each consumer, in Consumers= order */
MAPPING_GETTER(property_get_consumers)
{
	int r = sd_bus_message_open_container(reply, 'a', "(sss)");
	if (r < 0)
		return r;
	for (guint i = 0; view->consumers != NULL && i < view->consumers->len; i++) {
		const PmConsumerBinding *binding = g_ptr_array_index(view->consumers, i);
		r = sd_bus_message_append(reply, "(sss)", binding->consumer->name,
					  pm_consumer_state_to_string(binding->state),
					  binding->last_error != NULL ? binding->last_error : "");
		if (r < 0)
			return r;
	}
	return sd_bus_message_close_container(reply);
}

MAPPING_GETTER(property_get_description)
{
	return sd_bus_message_append(reply, "s", view->description);
}

static void
refresh_done(gpointer user_data)
{
	g_autoptr(sd_bus_message) m = user_data;
	(void)sd_bus_reply_method_return(m, NULL);
}

static int
method_refresh(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
	PmBusService *self = userdata;
	PmMapping *mapping = pm_bus_service_lookup_mapping(self, sd_bus_message_get_path(m));
	uid_t euid = (uid_t)-1;
	int r;
	if (mapping == NULL)
		return no_such_mapping(ret_error, sd_bus_message_get_path(m));
	r = pm_bus_service_get_sender_euid(self, m, method_refresh, &euid, ret_error);
	if (r < 0)
		return r;
	if (r == 0)
		return 1; /* the bus driver was asked: this runs again with its answer */
	/* its owner refreshes it without polkit; anyone else needs refresh */
	if (!pm_bus_service_mapping_is_owned_by(mapping, euid)) {
		r = pm_bus_service_authorize(self, m, euid, PM_POLKIT_ACTION_REFRESH,
					     method_refresh, ret_error);
		if (r < 0)
			return r;
		if (r == 0)
			return 1;
	}
	/* replies when the run ends */
	pm_manager_refresh_mapping(self->manager, mapping, refresh_done, sd_bus_message_ref(m));
	return 1;
}

static int
method_remove(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
	PmBusService *self = userdata;
	/* looked up on each run: it may have gone while the bus driver or polkit answered */
	PmMapping *mapping = pm_bus_service_lookup_mapping(self, sd_bus_message_get_path(m));
	if (mapping == NULL)
		return no_such_mapping(ret_error, sd_bus_message_get_path(m));
	return pm_bus_service_remove_mapping(self, m, mapping, method_remove, ret_error);
}

void
pm_mapping_object_emit_changed(PmBusService *self, guint64 id, guint props)
{
	static const struct {
		guint bit;
		const char *name;
	} names[] = {
	    {PM_MAPPING_PROP_PROVIDER, "Provider"},
	    {PM_MAPPING_PROP_PROTOCOLS, "Protocols"},
	    {PM_MAPPING_PROP_PORTS, "Ports"},
	    {PM_MAPPING_PROP_INTERNAL_ADDRESS, "InternalAddress"},
	    {PM_MAPPING_PROP_INTERNAL_PORT, "InternalPort"},
	    {PM_MAPPING_PROP_EXTERNAL_ADDRESS, "ExternalAddress"},
	    {PM_MAPPING_PROP_EXTERNAL_PORT, "ExternalPort"},
	    {PM_MAPPING_PROP_LIFETIME, "Lifetime"},
	    {PM_MAPPING_PROP_EXPIRES_AT, "ExpiresAt"},
	    {PM_MAPPING_PROP_STATE, "State"},
	    {PM_MAPPING_PROP_LAST_ERROR, "LastError"},
	    {PM_MAPPING_PROP_DESCRIPTION, "Description"},
	    {PM_MAPPING_PROP_CONSUMERS, "Consumers"},
	};
	const char *changed[G_N_ELEMENTS(names) + 1];
	g_autofree char *path = NULL;
	guint n = 0;

	for (guint i = 0; i < G_N_ELEMENTS(names); i++) {
		if (props & names[i].bit)
			changed[n++] = names[i].name;
	}
	changed[n] = NULL;
	if (n == 0)
		return;
	path = pm_mapping_path_for_id(id);
	/* -ENOENT if the mapping went away meanwhile: nothing to announce then */
	(void)sd_bus_emit_properties_changed_strv(self->bus, path, PM_BUS_MAPPING_INTERFACE,
						  (char **)changed);
}

#define EMITS SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE
#define CONST SD_BUS_VTABLE_PROPERTY_CONST

static const sd_bus_vtable pm_mapping_vtable[] = {
    SD_BUS_VTABLE_START(0),
    SD_BUS_PROPERTY("Name", "s", property_get_name, 0, CONST),
    SD_BUS_PROPERTY("Provider", "s", property_get_provider, 0, EMITS),
    SD_BUS_PROPERTY("Protocols", "as", property_get_protocols, 0, EMITS),
    SD_BUS_PROPERTY("Ports", "a(sqq)", property_get_ports, 0, EMITS),
    SD_BUS_PROPERTY("InternalAddress", "s", property_get_internal_address, 0, EMITS),
    SD_BUS_PROPERTY("InternalPort", "q", property_get_internal_port, 0, EMITS),
    SD_BUS_PROPERTY("ExternalAddress", "s", property_get_external_address, 0, EMITS),
    SD_BUS_PROPERTY("ExternalPort", "q", property_get_external_port, 0, EMITS),
    SD_BUS_PROPERTY("Lifetime", "u", property_get_lifetime, 0, EMITS),
    SD_BUS_PROPERTY("ExpiresAt", "t", property_get_expires_at, 0, EMITS),
    SD_BUS_PROPERTY("PortValidUntil", "t", property_get_port_valid_until, 0, EMITS),
    SD_BUS_PROPERTY("State", "s", property_get_state, 0, EMITS),
    SD_BUS_PROPERTY("LastError", "s", property_get_last_error, 0, EMITS),
    SD_BUS_PROPERTY("Scope", "s", property_get_scope, 0, CONST),
    SD_BUS_PROPERTY("Origin", "s", property_get_origin, 0, CONST),
    SD_BUS_PROPERTY("OwnerUID", "u", property_get_owner_uid, 0, CONST),
    SD_BUS_PROPERTY("Consumers", "a(sss)", property_get_consumers, 0, EMITS),
    SD_BUS_PROPERTY("Description", "s", property_get_description, 0, EMITS),
    SD_BUS_METHOD_WITH_ARGS("Refresh", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT, method_refresh,
			    SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("Remove", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT, method_remove,
			    SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_VTABLE_END,
};

int
pm_mapping_object_add(PmBusService *self)
{
	int r = sd_bus_add_fallback_vtable(self->bus, NULL, PM_MAPPING_PATH_PREFIX,
					   PM_BUS_MAPPING_INTERFACE, pm_mapping_vtable,
					   pm_mapping_object_find, self);
	if (r < 0)
		return r;
	return sd_bus_add_node_enumerator(self->bus, NULL, PM_MAPPING_PATH_PREFIX,
					  pm_mapping_object_enumerate, self);
}
