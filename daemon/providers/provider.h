/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

#include "config.h"
#include "context.h"
#include "json-writer.h"
#include "mapping.h"
#include "scheduler.h"

/*
 * A provider acquires external ports and keeps them alive. It knows nothing of the bus:
 * it drives PmMapping objects and reports through them and through its own state.
 *
 * Providers are classes in one table (provider-registry.c), as systemd-networkd's netdev
 * kinds: each class lives in its own file, which defines one `const PmProviderClass` that
 * owns its configuration keys, its Describe() members and its state.json section; its
 * object embeds PmProvider first and is object_size long. The core never asks which class
 * it has: it calls through the table. A new class is one file and one table entry.
 */

typedef enum {
	PM_PROVIDER_STATE_READY,
	PM_PROVIDER_STATE_DEGRADED,
	PM_PROVIDER_STATE_FAILED,
} PmProviderState;

/* called once when an asynchronous provider operation ends */
typedef void (*PmProviderDoneFunc)(gpointer user_data);
/* the provider's own State/ExternalAddress/LastError changed, or its state.json section */
typedef void (*PmProviderChangedFunc)(PmProvider *provider, gpointer user_data);

struct _PmProviderClass {
	const char *type;  /* its Type= value, and "Type" in Describe() and state.json */
	gsize object_size; /* of the class's object, which embeds PmProvider first */

	/*
	 * Configuration: the keys of one [Provider NAME] group but Type= (the core's). The
	 * class's config is opaque to the core: made by config_parse(), and only ever given
	 * back to the class. Errors are PM_ERROR_INVALID_CONFIGURATION, located through
	 * @section (config.h); unknown keys are errors.
	 */
	gpointer (*config_parse)(PmConfigSection *section, GError **error);
	/* optional: rules between keys, and defaults that depend on them */
	gboolean (*config_verify)(gpointer config, PmConfigSection *section, GError **error);
	/* equal configs keep a provider and its leases across a Reload */
	gboolean (*config_equal)(gconstpointer a, gconstpointer b);
	/* every key with its effective value, "Key=value\n" each, for --print-config: what it
	 * prints parses back to an equal config */
	void (*config_print)(gconstpointer config, GString *out);
	void (*config_free)(gpointer config);
	/* optional: a [Mapping NAME] of this provider (@section) as the class needs it: which
	 * keys it takes, and its internal port (0: the class picks I := E). Without it,
	 * InternalPort= is required. */
	gboolean (*config_check_mapping)(const PmProviderConfig *provider, PmMappingConfig *mapping,
					 PmConfigSection *section, GError **error);
	/* optional: rules between the configured mappings of this provider (of
	 * PmMappingConfig, in file order, with their PmConfigSection in @sections) */
	gboolean (*config_check_mappings)(const PmProviderConfig *provider, GPtrArray *mappings,
					  GPtrArray *sections, GError **error);

	/* optional: after the common part is set up; a failure here fails the start */
	gboolean (*init)(PmProvider *self, GError **error);
	/* optional: the daemon is exiting or a reload dropped it: drop every run, stops in
	 * flight included, without calling their @done; every refresh and refresh_all
	 * caller is answered */
	void (*finalize)(PmProvider *self);

	/*
	 * optional: can @mapping be carried by a provider of @config alongside @others (the
	 * mappings it would share that provider with, in id order)? FALSE with
	 * PM_ERROR_ALREADY_MAPPED and @blocker set to the one of @others in the way (NAT-PMP
	 * SamePort=yes: one per protocol), or another code if the class cannot carry it at
	 * all; the message says why, the caller adds what to do. Mappings here may be
	 * stand-ins, never registered: only name, origin, scope, protocols and internal port
	 * are set.
	 */
	gboolean (*check_mapping)(const PmProviderConfig *config, const PmMapping *mapping,
				  GPtrArray *others, const PmMapping **blocker, GError **error);
	/* start acquiring: the mapping is in its requesting state */
	void (*start)(PmProvider *self, PmMapping *mapping);
	/* forget the mapping; with @release, delete it upstream first (bounded), then call
	 * @done; the mapping stays allocated until @done (the manager counts stops in
	 * flight), but a Reload may change its fields meanwhile: the provider copies the
	 * ports and protocols it deletes; waiters of the mapping's refresh are answered */
	void (*stop)(PmProvider *self, PmMapping *mapping, gboolean release,
		     PmProviderDoneFunc done, gpointer user_data);
	/* renew now; @done when that run ends (success or not) */
	void (*refresh)(PmProvider *self, PmMapping *mapping, PmProviderDoneFunc done,
			gpointer user_data);
	/* re-read the gateway and renew everything; @done when the run ends */
	void (*refresh_all)(PmProvider *self, PmProviderDoneFunc done, gpointer user_data);
	/* optional: the system resumed from suspend */
	void (*resumed)(PmProvider *self);

	/* optional: its members of its entry in Describe()'s "Providers", after Name, Type and
	 * State; the documented schema asks every class for "Gateway" (where it talks to) */
	void (*describe)(PmProvider *self, PmJsonWriter *writer);
	/* optional: its members of its state.json section ("Providers": {NAME: {"Type": …,
	 * …}}), what a restart needs; tell the manager of a change with
	 * pm_provider_state_changed() */
	void (*state_save)(PmProvider *self, PmJsonWriter *writer);
	/* optional: that section, saved by a provider of this class and name (at start, or by
	 * the provider that a Reload replaces), before any mapping starts */
	void (*state_load)(PmProvider *self, JsonObject *section);
};

struct _PmProvider {
	const PmProviderClass *klass;
	char *name;
	PmProviderConfig *config; /* a reference: ->data is the class's */
	PmContext *context;
	PmScheduler *scheduler; /* the context's */
	PmProviderState state;
	char *last_error;
	guint32 external_address; /* IPv4, network byte order */
	/* where it talks to (the NAT-PMP gateway, the natpmp-http service, PIA's API server),
	 * IPv4, network byte order, 0 while unknown: hooks are told the interface of the
	 * route toward it (PORTMAP_INTERFACE, gluetun's {{VPN_INTERFACE}}) */
	guint32 peer_address;
	PmProviderChangedFunc changed_func;
	PmProviderChangedFunc state_changed_func;
	gpointer changed_data;
	/* mappings this provider carries, for refresh_all and resets */
	GHashTable *mappings; /* PmMapping* set */
};

/* the registry (provider-registry.c) */

/* the class of Type=@type, NULL if there is none */
const PmProviderClass *pm_provider_class_lookup(const char *type);
/* the Type= values of the classes joined by @separator; with @planned, then those of the
 * configuration language (design §6) that this version does not implement yet */
char *pm_provider_class_list_types(const char *separator, gboolean planned);
/* a Type= of the configuration language that no class implements yet */
gboolean pm_provider_type_is_planned(const char *type);
/* tests: one more class, found by pm_provider_class_lookup() as the built-in ones are */
void pm_provider_registry_add_for_tests(const PmProviderClass *klass);

/* a provider of @config's class */
PmProvider *pm_provider_new(PmContext *context, const PmProviderConfig *config, GError **error);
void pm_provider_free(PmProvider *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PmProvider, pm_provider_free)

/* for implementations: the object with its common part set up, before init() */
PmProvider *pm_provider_alloc(PmContext *context, const PmProviderConfig *config);
void pm_provider_set_state(PmProvider *self, PmProviderState state, const char *last_error);
void pm_provider_set_external_address(PmProvider *self, guint32 address);
/* no signal: read when a consumer is told a mapping's ports */
void pm_provider_set_peer_address(PmProvider *self, guint32 address);
/* its state.json section changed: the manager writes the file soon */
void pm_provider_state_changed(PmProvider *self);

/* for implementations: callers of refresh()/refresh_all() waiting for a run to end, in an
 * array allocated only while some wait (*@waiters NULL otherwise) */
void pm_provider_waiters_add(GArray **waiters, PmProviderDoneFunc done, gpointer user_data);
/* each is answered once, in order; the array is gone first, so a caller may add anew */
void pm_provider_waiters_notify(GArray **waiters);

/* for a class's refresh_all: its refresh() on every mapping it carries, @done once when
 * the last has ended (at once if there is none) */
void pm_provider_refresh_each(PmProvider *self, PmProviderDoneFunc done, gpointer user_data);

/*
 * "degraded" is retrying that has gone on too long (design §3): a mapping without a lease
 * for PM_PROVIDER_DEGRADED_AFTER_USEC while its provider keeps retrying. Providers set
 * their mappings' states through pm_provider_set_mapping_state(), with a timer of their
 * own per mapping (initialised by pm_provider_degraded_timer_init(), disarmed with the
 * mapping), so that every provider says it the same way.
 */
#define PM_PROVIDER_DEGRADED_AFTER_USEC (120 * G_TIME_SPAN_SECOND)
void pm_provider_degraded_timer_init(PmTimer *timer, PmMapping *mapping);
/* pm_mapping_set_state(), but a degraded mapping stays degraded while it retries, and
 * the timer is armed while there is no lease and disarmed at active or failed */
void pm_provider_set_mapping_state(PmScheduler *scheduler, PmTimer *degraded_timer,
				   PmMapping *mapping, PmMappingState state);

/* for the core: through the class */
/* @blocker: optional, set with PM_ERROR_ALREADY_MAPPED (else NULL) */
gboolean pm_provider_check_mapping(const PmProviderConfig *config, const PmMapping *mapping,
				   GPtrArray *others, const PmMapping **blocker, GError **error);
void pm_provider_start(PmProvider *self, PmMapping *mapping);
void pm_provider_stop(PmProvider *self, PmMapping *mapping, gboolean release,
		      PmProviderDoneFunc done, gpointer user_data);
void pm_provider_refresh(PmProvider *self, PmMapping *mapping, PmProviderDoneFunc done,
			 gpointer user_data);
void pm_provider_refresh_all(PmProvider *self, PmProviderDoneFunc done, gpointer user_data);
void pm_provider_resumed(PmProvider *self);
/* its entry in Describe()'s "Providers" */
void pm_provider_describe(PmProvider *self, PmJsonWriter *writer);
/* its state.json section, {"Type": …, …} */
void pm_provider_state_save(PmProvider *self, PmJsonWriter *writer);
/* @section: a section pm_provider_state_save() wrote; one of another class is ignored */
void pm_provider_state_load(PmProvider *self, JsonObject *section);

const char *pm_provider_state_to_string(PmProviderState state);
