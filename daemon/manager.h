/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

#include "config.h"
#include "context.h"
#include "json-writer.h"
#include "mapping.h"
#include "provider.h"
#include "scheduler.h"

/*
 * The registry of providers, consumers and mappings: creates them from the configuration,
 * from the bus and from the state file; schedules RefreshAll; tells consumers the ports;
 * persists what a restart needs; stops with the release policy. It knows nothing of the
 * bus: listeners (the bus layer, the --no-bus status.json writer) are told of changes, and
 * subsystems (STUN, the LAN gateway) add Manager properties, Describe() members and
 * state.json sections through extensions.
 */

typedef struct _PmManager PmManager;

typedef enum {
	PM_MANAGER_PROP_STATE = 1 << 0,
	PM_MANAGER_PROP_PROVIDERS = 1 << 1,
	PM_MANAGER_PROP_EXTERNAL_ADDRESS = 1 << 2,
} PmManagerProp;

typedef struct _PmManagerExtension PmManagerExtension;

/* what a listener is told; any member may be NULL; listeners are called in the order they
 * were added, each change to all of them before the next change */
typedef struct {
	void (*mapping_added)(PmMapping *mapping, gpointer user_data);
	/* while the mapping is still registered (the bus layer enumerates it) */
	void (*mapping_removed)(PmMapping *mapping, gpointer user_data);
	/* @props: PmMappingProp bits */
	void (*mapping_changed)(PmMapping *mapping, guint props, gpointer user_data);
	void (*port_changed)(PmMapping *mapping, guint16 old_port, guint16 new_port,
			     gpointer user_data);
	/* @props: PmManagerProp bits */
	void (*manager_changed)(guint props, gpointer user_data);
	/* Manager properties of an extension changed: @names, NULL-terminated */
	void (*extension_changed)(const PmManagerExtension *extension, const char *const *names,
				  gpointer user_data);
	/* the public endpoint changed (STUN): EndpointChanged */
	void (*endpoint_changed)(const char *endpoint, const char *nat_type, gpointer user_data);
} PmManagerListener;

/* DiscoverEndpoint()'s answer: @error NULL, or why there is no endpoint */
typedef void (*PmDiscoverEndpointFunc)(const char *endpoint, const char *nat_type,
				       const GError *error, gpointer user_data);

/*
 * A Manager property that an extension serves: the bus layer registers it on
 * org.portmap.Manager when the service starts (so extensions are added before), reads it
 * with get() and announces it when pm_manager_extension_changed() names it.
 */
typedef struct {
	const char *name;      /* "PublicEndpoint" */
	const char *signature; /* one basic D-Bus type: "s", "u", "q", "t", "b", "i", "x", "o" */
	gboolean emits_change; /* FALSE: const for the daemon's life */
	/* the value, of type @signature (a floating reference is sunk) */
	GVariant *(*get)(gpointer user_data);
} PmManagerProperty;

/*
 * A subsystem's part of the Manager: its properties, its members of Describe() (and so of
 * status.json) and its members of state.json, written after the core's and read back at
 * start. Every hook may be NULL.
 */
struct _PmManagerExtension {
	const char *name;		      /* for logs: "stun", "gateway" */
	const PmManagerProperty *properties; /* terminated by a NULL name; may be NULL */
	/* members of the top-level Describe() object */
	void (*describe)(PmJsonWriter *writer, gpointer user_data);
	/* members of the top-level state.json object; present from the start, so the file
	 * never changes shape under a reader */
	void (*state_save)(PmJsonWriter *writer, gpointer user_data);
	/* the document restored at start (NULL: none or unreadable), before anything starts */
	void (*state_load)(JsonObject *root, gpointer user_data);
	/* DiscoverEndpoint() (one extension serves it: without one it is NotSupported): starts
	 * or joins a discovery and calls @done once when it ends (at once when it cannot) */
	void (*discover_endpoint)(PmDiscoverEndpointFunc done, gpointer done_data,
				  gpointer user_data);
	/* RefreshAll() runs this too and waits for @done */
	void (*refresh)(PmProviderDoneFunc done, gpointer done_data, gpointer user_data);
};

typedef struct {
	const char *provider; /* "" or NULL: the default provider */
	guint protocols;
	guint16 internal_port;
	guint16 external_port;
	guint32 lifetime;
	PmScope scope;
	const char *name; /* NULL: bus-N */
	const char *description;
	gboolean require_external_port;
	guint32 owner_uid;
	const char *owner; /* unique bus name (client scope) */
	/* a LAN gateway mapping (origin gateway): the client's address and port, while
	 * internal_port is the tunnel port asked upstream */
	gboolean gateway;
	guint32 lan_address;
	guint16 lan_port;
} PmAddRequest;

#define PM_STATE_FILE_VERSION 1
#define PM_REFRESH_ALL_MIN_INTERVAL_USEC (10 * G_TIME_SPAN_SECOND)
/* how long pm_manager_stop() waits for releases: 5 s, less the flush and the exit */
#define PM_MANAGER_STOP_TIMEOUT_USEC (4500 * G_TIME_SPAN_MILLISECOND)

/* @context (its scheduler, HTTP session, secret policy, NAT-PMP clients) is given to every
 * provider, and outlives the manager; @state_dir: where state.json is, NULL for none */
PmManager *pm_manager_new(PmContext *context, const char *state_dir);
void pm_manager_free(PmManager *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PmManager, pm_manager_free)

/* @listener is not copied: it must outlive its registration; returns an id > 0; neither
 * call is for inside a notification */
guint pm_manager_add_listener(PmManager *self, const PmManagerListener *listener,
			      gpointer user_data);
void pm_manager_remove_listener(PmManager *self, guint id);

/* before pm_manager_start() and before the bus service is made; @extension is not
 * copied; the id is for pm_manager_extension_changed() */
guint pm_manager_add_extension(PmManager *self, const PmManagerExtension *extension,
			       gpointer user_data);
/* at any time (a Reload that turns a subsystem on or off): extension @id is now @extension,
 * which serves the same Manager properties (the bus registered their names at start; its
 * Describe() members and state.json sections are read from it from now on); the caller
 * announces the properties whose values changed */
void pm_manager_replace_extension(PmManager *self, guint id, const PmManagerExtension *extension,
				  gpointer user_data);
/* extensions in the order they were added */
guint pm_manager_get_n_extensions(PmManager *self);
const PmManagerExtension *pm_manager_get_extension(PmManager *self, guint index,
						    gpointer *user_data);
/* Manager properties of extension @id changed: @names, NULL-terminated */
void pm_manager_extension_changed(PmManager *self, guint id, const char *const *names);
/* EndpointChanged: told to the listeners */
void pm_manager_endpoint_changed(PmManager *self, const char *endpoint, const char *nat_type);
/* the extension serving DiscoverEndpoint(), with its data; NULL if none */
const PmManagerExtension *pm_manager_get_endpoint_discoverer(PmManager *self,
							     gpointer *user_data);
/* a property of an extension by name, with its extension's data; NULL if none */
const PmManagerProperty *pm_manager_lookup_property(PmManager *self, const char *name,
						    gpointer *user_data);

/* takes @config; restores state.json, creates providers and starts config and persistent
 * mappings */
gboolean pm_manager_start(PmManager *self, PmConfig *config, GError **error);
/* takes @config (already validated); applies the differences (design §3 "Reload") */
gboolean pm_manager_reload(PmManager *self, PmConfig *config, GError **error);

/* what AddMapping() would refuse (InvalidArgs, NoSuchProvider, AlreadyMapped), before
 * anyone is asked for authorization */
gboolean pm_manager_check_add_request(PmManager *self, const PmAddRequest *request,
				      GError **error);
PmMapping *pm_manager_add_mapping(PmManager *self, const PmAddRequest *request, GError **error);
/* removes the object at once; the upstream deletion runs in the background */
void pm_manager_remove_mapping(PmManager *self, PmMapping *mapping);
/* a bus client went away: its client-scope mappings go */
void pm_manager_remove_owner(PmManager *self, const char *owner);

void pm_manager_refresh_all(PmManager *self, PmProviderDoneFunc done, gpointer user_data);
/* @done: optional */
void pm_manager_refresh_mapping(PmManager *self, PmMapping *mapping, PmProviderDoneFunc done,
				gpointer user_data);
void pm_manager_resumed(PmManager *self);

/* SIGTERM: flush state, release per [Daemon] ReleaseOnStop=, @done once when every
 * release is answered, or after PM_MANAGER_STOP_TIMEOUT_USEC with a warning (design §3
 * "Stop": the whole stop is bounded by 5 s) */
void pm_manager_stop(PmManager *self, PmProviderDoneFunc done, gpointer user_data);
/* an extension's state.json members changed: written soon (coalesced) */
void pm_manager_state_changed(PmManager *self);
/* write state.json now if anything changed */
gboolean pm_manager_flush_state(PmManager *self, GError **error);

PmMapping *pm_manager_lookup_id(PmManager *self, guint64 id);
PmMapping *pm_manager_lookup_name(PmManager *self, const char *name);
/* in id order; the array is the caller's, the mappings are not */
GPtrArray *pm_manager_get_mappings(PmManager *self);
guint pm_manager_get_n_mappings(PmManager *self);
/* in configuration order */
GPtrArray *pm_manager_get_providers(PmManager *self);
const char *pm_manager_get_state(PmManager *self);
/* the default provider's external address, "" if unknown */
char *pm_manager_get_external_address(PmManager *self);
const char *pm_manager_get_default_provider(PmManager *self);
const PmConfig *pm_manager_get_config(PmManager *self);
/* the end of the mapping's current lease as CLOCK_REALTIME µs, 0 without a lease */
guint64 pm_manager_get_expires_realtime(PmManager *self, PmMapping *mapping);
/* the whole state as JSON (Describe(), status.json) */
char *pm_manager_describe(PmManager *self);
/* the one conversion of a mapping for the Mapping properties, ListMappings(),
 * Describe() and consumers (mapping.h) */
void pm_manager_describe_mapping(PmManager *self, PmMapping *mapping, PmMappingView *view);
