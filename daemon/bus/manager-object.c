/* SPDX-License-Identifier: GPL-2.0-or-later */

#include <errno.h>
#include <string.h>

#include "build-info.h"
#include "bus-errors.h"
#include "errors.h"
#include "manager-object.h"
#include "socket-owner.h"
#include "stun/stun-config.h"

/* org.portmap.Manager on /org/portmap/Manager (dbus/org.portmap.Manager.xml) */

static int
reply_gerror(sd_bus_error *ret_error, const GError *error)
{
	return pm_bus_error_from_gerror(ret_error, error);
}

static int
read_protocols(sd_bus_message *m, guint *protocols, sd_bus_error *ret_error)
{
	const char *proto;
	int r;

	*protocols = 0;
	r = sd_bus_message_enter_container(m, 'a', "s");
	if (r < 0)
		return r;
	while ((r = sd_bus_message_read(m, "s", &proto)) > 0) {
		if (g_strcmp0(proto, "tcp") == 0)
			*protocols |= PM_PROTOCOL_TCP;
		else if (g_strcmp0(proto, "udp") == 0)
			*protocols |= PM_PROTOCOL_UDP;
		else
			return sd_bus_error_setf(ret_error, SD_BUS_ERROR_INVALID_ARGS,
						 "unknown protocol '%s': use \"tcp\", \"udp\" or "
						 "both",
						 proto);
	}
	if (r < 0)
		return r;
	r = sd_bus_message_exit_container(m);
	if (r < 0)
		return r;
	if (*protocols == 0)
		return sd_bus_error_set(ret_error, SD_BUS_ERROR_INVALID_ARGS,
					"no protocol given: use \"tcp\", \"udp\" or both");
	return 0;
}

typedef struct {
	char *scope;
	char *name;
	char *description;
	int require_external_port;
} AddOptions;

static void
add_options_clear(AddOptions *o)
{
	g_free(o->scope);
	g_free(o->name);
	g_free(o->description);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(AddOptions, add_options_clear)

static int
read_option_string(sd_bus_message *m, const char *key, char **out, sd_bus_error *ret_error)
{
	const char *value;
	int r = sd_bus_message_enter_container(m, 'v', "s");
	if (r < 0)
		return sd_bus_error_setf(ret_error, SD_BUS_ERROR_INVALID_ARGS,
					 "option '%s' takes a string (s)", key);
	r = sd_bus_message_read(m, "s", &value);
	if (r < 0)
		return r;
	g_free(*out);
	*out = g_strdup(value);
	return sd_bus_message_exit_container(m);
}

static int
read_options(sd_bus_message *m, AddOptions *o, sd_bus_error *ret_error)
{
	int r = sd_bus_message_enter_container(m, 'a', "{sv}");
	if (r < 0)
		return r;
	while ((r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
		const char *key;
		r = sd_bus_message_read(m, "s", &key);
		if (r < 0)
			return r;
		if (g_strcmp0(key, "scope") == 0) {
			r = read_option_string(m, key, &o->scope, ret_error);
		} else if (g_strcmp0(key, "name") == 0) {
			r = read_option_string(m, key, &o->name, ret_error);
		} else if (g_strcmp0(key, "description") == 0) {
			r = read_option_string(m, key, &o->description, ret_error);
		} else if (g_strcmp0(key, "require-external-port") == 0) {
			r = sd_bus_message_enter_container(m, 'v', "b");
			if (r < 0)
				return sd_bus_error_set(ret_error, SD_BUS_ERROR_INVALID_ARGS,
							"option 'require-external-port' takes a "
							"boolean (b)");
			r = sd_bus_message_read(m, "b", &o->require_external_port);
			if (r >= 0)
				r = sd_bus_message_exit_container(m);
		} else {
			return sd_bus_error_setf(ret_error, SD_BUS_ERROR_INVALID_ARGS,
						 "unknown option '%s': the options are scope, name, "
						 "description and require-external-port",
						 key);
		}
		if (r < 0)
			return r;
		r = sd_bus_message_exit_container(m);
		if (r < 0)
			return r;
	}
	if (r < 0)
		return r;
	return sd_bus_message_exit_container(m);
}

/* the bus mappings that @uid owns, whatever their state: the quota counts them all */
static guint
count_mappings_of_uid(PmBusService *self, uid_t uid)
{
	g_autoptr(GPtrArray) mappings = pm_manager_get_mappings(self->manager);
	guint n = 0;

	for (guint i = 0; i < mappings->len; i++) {
		PmMapping *mapping = g_ptr_array_index(mappings, i);
		if (mapping->origin == PM_ORIGIN_BUS && mapping->owner_uid == uid)
			n++;
	}
	return n;
}

/*
 * The action an AddMapping of an unprivileged caller needs (design §4): add-mapping lets a
 * user forward a port to their own program while it runs; anything that outlives the
 * caller, reaches a system port, exposes another user's socket or goes over the quota is
 * manage.
 */
static const char *
add_mapping_action(PmBusService *self, uid_t euid, PmScope scope, guint protocols,
		   guint16 internal_port)
{
	const PmConfig *config = pm_manager_get_config(self->manager);
	g_autoptr(GArray) uids = NULL;
	g_autoptr(GError) error = NULL;
	guint n;

	if (scope != PM_SCOPE_CLIENT)
		return PM_POLKIT_ACTION_MANAGE;
	if (internal_port < 1024)
		return PM_POLKIT_ACTION_MANAGE;
	uids = pm_socket_owner_query(internal_port, protocols, &error);
	if (uids == NULL) {
		/* not knowing whose service would be exposed is treated as someone else's */
		g_warning("cannot list the sockets on port %u, so the caller needs %s: %s",
			  internal_port, PM_POLKIT_ACTION_MANAGE, error->message);
		return PM_POLKIT_ACTION_MANAGE;
	}
	for (guint i = 0; i < uids->len; i++) {
		guint32 uid = g_array_index(uids, guint32, i);
		if (uid != (guint32)euid) {
			g_debug("port %u has a socket of uid %u: uid %u needs %s", internal_port,
				uid, (guint)euid, PM_POLKIT_ACTION_MANAGE);
			return PM_POLKIT_ACTION_MANAGE;
		}
	}
	n = count_mappings_of_uid(self, euid);
	if (config == NULL || n >= config->daemon.max_mappings_per_user) {
		g_debug("uid %u has %u mappings: another one needs %s", (guint)euid, n,
			PM_POLKIT_ACTION_MANAGE);
		return PM_POLKIT_ACTION_MANAGE;
	}
	return PM_POLKIT_ACTION_ADD_MAPPING;
}

static int
method_add_mapping(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
	PmBusService *self = userdata;
	const char *provider;
	guint16 internal_port, external_port;
	guint32 lifetime;
	guint protocols = 0;
	g_auto(AddOptions) o = {0};
	PmAddRequest request = {0};
	g_autoptr(GError) error = NULL;
	g_autofree char *path = NULL;
	uid_t euid = (uid_t)-1;
	PmMapping *mapping;
	int r;

	r = sd_bus_message_read(m, "s", &provider);
	if (r < 0)
		return r;
	r = read_protocols(m, &protocols, ret_error);
	if (r < 0)
		return r;
	r = sd_bus_message_read(m, "qqu", &internal_port, &external_port, &lifetime);
	if (r < 0)
		return r;
	r = read_options(m, &o, ret_error);
	if (r < 0)
		return r;
	request.scope = PM_SCOPE_CLIENT;
	if (o.scope != NULL && !pm_scope_from_string(o.scope, &request.scope))
		return sd_bus_error_setf(ret_error, SD_BUS_ERROR_INVALID_ARGS,
					 "unknown scope '%s': use client, runtime or persistent",
					 o.scope);
	request.provider = provider;
	request.protocols = protocols;
	request.internal_port = internal_port;
	request.external_port = external_port;
	request.lifetime = lifetime;
	request.name = o.name;
	request.description = o.description;
	request.require_external_port = o.require_external_port;
	/* bad input is refused whoever calls, before anyone is asked for a password */
	if (!pm_manager_check_add_request(self->manager, &request, &error))
		return reply_gerror(ret_error, error);

	r = pm_bus_service_get_sender_euid(self, m, method_add_mapping, &euid, ret_error);
	if (r < 0)
		return r;
	if (r == 0)
		return 1; /* the bus driver was asked: this runs again with its answer */
	if (!pm_polkit_is_privileged(self->polkit, euid)) {
		const char *action = add_mapping_action(self, euid, request.scope, protocols,
							internal_port);
		r = pm_bus_service_authorize(self, m, euid, action, method_add_mapping,
					     ret_error);
		if (r < 0)
			return r;
		if (r == 0)
			return 1;
	}

	request.owner_uid = euid;
	request.owner = sd_bus_message_get_sender(m);
	mapping = pm_manager_add_mapping(self->manager, &request, &error);
	if (mapping == NULL)
		return reply_gerror(ret_error, error);
	if (mapping->scope == PM_SCOPE_CLIENT && mapping->owner != NULL) {
		r = pm_bus_service_follow_owner(self, mapping->owner);
		if (r < 0) {
			/* unfollowed, it would outlive its owner */
			g_warning("cannot follow %s on the bus, removing its mapping %s: %s",
				  request.owner, mapping->name, g_strerror(-r));
			pm_manager_remove_mapping(self->manager, mapping);
			return sd_bus_error_setf(ret_error, SD_BUS_ERROR_FAILED,
						 "a client-scope mapping lives while its caller "
						 "is on the bus, and %s could not be followed: %s",
						 request.owner, g_strerror(-r));
		}
	}
	/* a persistent mapping is on disk before the caller hears of it */
	if (mapping->scope == PM_SCOPE_PERSISTENT &&
	    !pm_manager_flush_state(self->manager, &error))
		g_warning("failed to write the state file: %s", error->message);
	path = pm_mapping_get_path(mapping);
	return sd_bus_reply_method_return(m, "o", path);
}

static int
method_remove_mapping(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
	PmBusService *self = userdata;
	const char *path;
	PmMapping *mapping;
	int r = sd_bus_message_read(m, "o", &path);
	if (r < 0)
		return r;
	/* looked up on each run: it may have gone while the bus driver or polkit answered */
	mapping = pm_bus_service_lookup_mapping(self, path);
	if (mapping == NULL)
		return sd_bus_error_setf(ret_error, PM_BUS_ERROR_PREFIX "NoSuchMapping",
					 "there is no mapping %s: see ListMappings()", path);
	return pm_bus_service_remove_mapping(self, m, mapping, method_remove_mapping, ret_error);
}

static int
method_list_mappings(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
	PmBusService *self = userdata;
	g_autoptr(sd_bus_message) reply = NULL;
	g_autoptr(GPtrArray) mappings = pm_manager_get_mappings(self->manager);
	int r;

	r = sd_bus_message_new_method_return(m, &reply);
	if (r < 0)
		return r;
	r = sd_bus_message_open_container(reply, 'a', "(osssassqqssst)");
	if (r < 0)
		return r;
	for (guint i = 0; i < mappings->len; i++) {
		PmMappingView view;
		pm_manager_describe_mapping(self->manager, g_ptr_array_index(mappings, i), &view);
		r = sd_bus_message_open_container(reply, 'r', "osssassqqssst");
		if (r < 0)
			return r;
		r = sd_bus_message_append(reply, "osss", view.path, view.name, view.provider,
					  view.state);
		if (r < 0)
			return r;
		r = sd_bus_message_append_strv(reply, (char **)view.protocols);
		if (r < 0)
			return r;
		r = sd_bus_message_append(reply, "sqqssst", view.scope, view.internal_port,
					  view.external_port, view.external_address,
					  view.description, view.last_error, view.expires_at);
		if (r < 0)
			return r;
		r = sd_bus_message_close_container(reply);
		if (r < 0)
			return r;
	}
	r = sd_bus_message_close_container(reply);
	if (r < 0)
		return r;
	return sd_bus_send(NULL, reply, NULL);
}

static void
refresh_all_done(gpointer user_data)
{
	g_autoptr(sd_bus_message) m = user_data;
	(void)sd_bus_reply_method_return(m, NULL);
}

/* the caller may do @action: 1 go on, 0 the bus driver or polkit was asked (the handler
 * returns 1 and runs again with the answer), < 0 refused */
static int
authorize_caller(PmBusService *self, sd_bus_message *m, const char *action,
		 sd_bus_message_handler_t handler, sd_bus_error *ret_error)
{
	uid_t euid = (uid_t)-1;
	int r = pm_bus_service_get_sender_euid(self, m, handler, &euid, ret_error);
	if (r <= 0)
		return r;
	return pm_bus_service_authorize(self, m, euid, action, handler, ret_error);
}

static int
method_refresh_all(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
	PmBusService *self = userdata;
	int r;

	r = authorize_caller(self, m, PM_POLKIT_ACTION_REFRESH, method_refresh_all, ret_error);
	if (r < 0)
		return r;
	if (r == 0)
		return 1; /* the bus driver or polkit was asked: this runs again */
	/* replies when the (possibly coalesced) run ends */
	pm_manager_refresh_all(self->manager, refresh_all_done, sd_bus_message_ref(m));
	return 1;
}

static void
discover_endpoint_done(const char *endpoint, const char *nat_type, const GError *error,
		       gpointer user_data)
{
	g_autoptr(sd_bus_message) m = user_data;
	sd_bus_error e = SD_BUS_ERROR_NULL;

	if (error != NULL) {
		(void)pm_bus_error_from_gerror(&e, error);
		(void)sd_bus_reply_method_error(m, &e);
		sd_bus_error_free(&e);
		return;
	}
	(void)sd_bus_reply_method_return(m, "ss", endpoint, nat_type);
}

static int
method_discover_endpoint(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
	PmBusService *self = userdata;
	const PmManagerExtension *discoverer;
	gpointer data = NULL;
	int r;

	r = authorize_caller(self, m, PM_POLKIT_ACTION_REFRESH, method_discover_endpoint,
			     ret_error);
	if (r < 0)
		return r;
	if (r == 0)
		return 1; /* the bus driver or polkit was asked: this runs again */
	discoverer = pm_manager_get_endpoint_discoverer(self->manager, &data);
	if (discoverer == NULL) {
		/* a Reload turns the discoverer on and off with [STUN] (main.c), except while
		 * stopping */
		const PmStunConfig *stun = pm_manager_get_config(self->manager)->stun;
		return sd_bus_error_set(ret_error, PM_BUS_ERROR_PREFIX "NotSupported",
					stun == NULL ? "STUN is not configured: add a [STUN] section "
						       "and reload portmapd"
					: stun->enabled
					    ? "portmapd is stopping"
					    : "STUN is disabled: set Enabled=yes in [STUN] and "
					      "reload portmapd");
	}
	/* replies when the discovery's classification ends (a caller that left gets
	 * nothing: the reply to a closed connection is dropped) */
	discoverer->discover_endpoint(discover_endpoint_done, sd_bus_message_ref(m), data);
	return 1;
}

static int
method_reload(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
	PmBusService *self = userdata;
	g_autoptr(GError) error = NULL;
	int r;

	r = authorize_caller(self, m, PM_POLKIT_ACTION_MANAGE, method_reload, ret_error);
	if (r < 0)
		return r;
	if (r == 0)
		return 1; /* the bus driver or polkit was asked: this runs again */
	if (!self->reload(&error, self->reload_data))
		return reply_gerror(ret_error, error);
	return sd_bus_reply_method_return(m, NULL);
}

static int
method_describe(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
	PmBusService *self = userdata;
	g_autofree char *json = pm_manager_describe(self->manager);
	return sd_bus_reply_method_return(m, "s", json);
}

static int
property_get_version(sd_bus *bus, const char *path, const char *interface, const char *property,
		     sd_bus_message *reply, void *userdata, sd_bus_error *ret_error)
{
	return sd_bus_message_append(reply, "s", PACKAGE_VERSION);
}

static int
property_get_state(sd_bus *bus, const char *path, const char *interface, const char *property,
		   sd_bus_message *reply, void *userdata, sd_bus_error *ret_error)
{
	PmBusService *self = userdata;
	return sd_bus_message_append(reply, "s", pm_manager_get_state(self->manager));
}

static int
property_get_providers(sd_bus *bus, const char *path, const char *interface,
		       const char *property, sd_bus_message *reply, void *userdata,
		       sd_bus_error *ret_error)
{
	PmBusService *self = userdata;
	GPtrArray *providers = pm_manager_get_providers(self->manager);
	int r = sd_bus_message_open_container(reply, 'a', "(sssss)");
	if (r < 0)
		return r;
	for (guint i = 0; i < providers->len; i++) {
		PmProvider *provider = g_ptr_array_index(providers, i);
		g_autofree char *address = pm_ipv4_to_string(provider->external_address);
		r = sd_bus_message_append(reply, "(sssss)", provider->name,
					  provider->klass->type,
					  pm_provider_state_to_string(provider->state), address,
					  provider->last_error != NULL ? provider->last_error : "");
		if (r < 0)
			return r;
	}
	return sd_bus_message_close_container(reply);
}

static int
property_get_external_address(sd_bus *bus, const char *path, const char *interface,
			      const char *property, sd_bus_message *reply, void *userdata,
			      sd_bus_error *ret_error)
{
	PmBusService *self = userdata;
	g_autofree char *address = pm_manager_get_external_address(self->manager);
	return sd_bus_message_append(reply, "s", address);
}

static const sd_bus_vtable pm_manager_vtable[] = {
    SD_BUS_VTABLE_START(0),
    SD_BUS_PROPERTY("Version", "s", property_get_version, 0, SD_BUS_VTABLE_PROPERTY_CONST),
    SD_BUS_PROPERTY("State", "s", property_get_state, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
    SD_BUS_PROPERTY("Providers", "a(sssss)", property_get_providers, 0,
		    SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
    SD_BUS_PROPERTY("ExternalAddress", "s", property_get_external_address, 0,
		    SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
    /* PublicEndpoint, NATType, ..., GatewayMappings: the extensions' (below) */
    SD_BUS_METHOD_WITH_ARGS("AddMapping",
			    SD_BUS_ARGS("s", provider, "as", protocols, "q", internal_port, "q",
					external_port, "u", lifetime, "a{sv}", options),
			    SD_BUS_RESULT("o", mapping), method_add_mapping,
			    SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("RemoveMapping", SD_BUS_ARGS("o", mapping), SD_BUS_NO_RESULT,
			    method_remove_mapping, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("ListMappings", SD_BUS_NO_ARGS,
			    SD_BUS_RESULT("a(osssassqqssst)", mappings), method_list_mappings,
			    SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("RefreshAll", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT,
			    method_refresh_all, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("DiscoverEndpoint", SD_BUS_NO_ARGS,
			    SD_BUS_RESULT("s", endpoint, "s", nat_type), method_discover_endpoint,
			    SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("Reload", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT, method_reload,
			    SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("Describe", SD_BUS_NO_ARGS, SD_BUS_RESULT("s", json),
			    method_describe, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_SIGNAL_WITH_ARGS("MappingAdded", SD_BUS_ARGS("o", mapping), 0),
    SD_BUS_SIGNAL_WITH_ARGS("MappingRemoved", SD_BUS_ARGS("o", mapping), 0),
    SD_BUS_SIGNAL_WITH_ARGS("PortChanged",
			    SD_BUS_ARGS("o", mapping, "q", old_port, "q", new_port), 0),
    SD_BUS_SIGNAL_WITH_ARGS("EndpointChanged", SD_BUS_ARGS("s", endpoint, "s", nat_type), 0),
    SD_BUS_VTABLE_END,
};

/* ---- the extensions' properties ---- */

/* @value, of one basic type, into @reply */
static int
append_basic(sd_bus_message *reply, GVariant *value)
{
	char type = g_variant_get_type_string(value)[0];
	union {
		guint8 y;
		int b;
		gint16 n;
		guint16 q;
		gint32 i;
		guint32 u;
		gint64 x;
		guint64 t;
		double d;
	} v;

	switch (type) {
	case 's':
	case 'o':
	case 'g':
		return sd_bus_message_append_basic(reply, type, g_variant_get_string(value, NULL));
	case 'y':
		v.y = g_variant_get_byte(value);
		break;
	case 'b':
		v.b = g_variant_get_boolean(value);
		break;
	case 'n':
		v.n = g_variant_get_int16(value);
		break;
	case 'q':
		v.q = g_variant_get_uint16(value);
		break;
	case 'i':
		v.i = g_variant_get_int32(value);
		break;
	case 'u':
		v.u = g_variant_get_uint32(value);
		break;
	case 'x':
		v.x = g_variant_get_int64(value);
		break;
	case 't':
		v.t = g_variant_get_uint64(value);
		break;
	case 'd':
		v.d = g_variant_get_double(value);
		break;
	default:
		return -EINVAL;
	}
	return sd_bus_message_append_basic(reply, type, &v);
}

static int
property_get_extension(sd_bus *bus, const char *path, const char *interface,
		       const char *property, sd_bus_message *reply, void *userdata,
		       sd_bus_error *ret_error)
{
	PmBusService *self = userdata;
	gpointer data = NULL;
	const PmManagerProperty *prop = pm_manager_lookup_property(self->manager, property, &data);
	g_autoptr(GVariant) value = NULL;

	if (prop == NULL)
		return -ENOENT;
	value = g_variant_ref_sink(prop->get(data));
	/* a wrong type is the extension's bug: the vtable promised @signature */
	if (!g_variant_is_of_type(value, G_VARIANT_TYPE(prop->signature))) {
		g_critical("Manager property %s: got %s, declared %s", property,
			   g_variant_get_type_string(value), prop->signature);
		return -EINVAL;
	}
	return append_basic(reply, value);
}

/* one vtable of @extension's properties, NULL if it has none */
static sd_bus_vtable *
extension_vtable_new(const PmManagerExtension *extension)
{
	const PmManagerProperty *properties = extension->properties;
	sd_bus_vtable *vtable;
	guint n = 0;

	while (properties != NULL && properties[n].name != NULL)
		n++;
	if (n == 0)
		return NULL;
	vtable = g_new0(sd_bus_vtable, n + 2);
	vtable[0] = (sd_bus_vtable)SD_BUS_VTABLE_START(0);
	for (guint i = 0; i < n; i++) {
		g_return_val_if_fail(strlen(properties[i].signature) == 1, NULL);
		vtable[i + 1] = (sd_bus_vtable)SD_BUS_PROPERTY(
		    properties[i].name, properties[i].signature, property_get_extension, 0,
		    properties[i].emits_change ? SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE
					       : SD_BUS_VTABLE_PROPERTY_CONST);
	}
	vtable[n + 1] = (sd_bus_vtable)SD_BUS_VTABLE_END;
	return vtable;
}

int
pm_manager_object_add(PmBusService *self)
{
	int r = sd_bus_add_object_vtable(self->bus, NULL, PM_BUS_MANAGER_PATH,
					 PM_BUS_MANAGER_INTERFACE, pm_manager_vtable, self);
	if (r < 0)
		return r;
	/* sd-bus merges vtables of one interface on one path, as systemd's units do */
	for (guint i = 0; i < pm_manager_get_n_extensions(self->manager); i++) {
		sd_bus_vtable *vtable =
		    extension_vtable_new(pm_manager_get_extension(self->manager, i, NULL));
		if (vtable == NULL)
			continue;
		g_ptr_array_add(self->vtables, vtable);
		r = sd_bus_add_object_vtable(self->bus, NULL, PM_BUS_MANAGER_PATH,
					     PM_BUS_MANAGER_INTERFACE, vtable, self);
		if (r < 0)
			return r;
	}
	return 0;
}

void
pm_manager_object_emit_names_changed(PmBusService *self, const char *const *names)
{
	if (names == NULL || names[0] == NULL)
		return;
	(void)sd_bus_emit_properties_changed_strv(self->bus, PM_BUS_MANAGER_PATH,
						  PM_BUS_MANAGER_INTERFACE, (char **)names);
}

void
pm_manager_object_emit_changed(PmBusService *self, guint props)
{
	const char *names[4];
	guint n = 0;

	if (props & PM_MANAGER_PROP_STATE)
		names[n++] = "State";
	if (props & PM_MANAGER_PROP_PROVIDERS)
		names[n++] = "Providers";
	if (props & PM_MANAGER_PROP_EXTERNAL_ADDRESS)
		names[n++] = "ExternalAddress";
	names[n] = NULL;
	if (n > 0)
		(void)sd_bus_emit_properties_changed_strv(self->bus, PM_BUS_MANAGER_PATH,
							  PM_BUS_MANAGER_INTERFACE,
							  (char **)names);
}
