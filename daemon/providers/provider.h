/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <glib.h>

#include "config.h"
#include "mapping.h"
#include "scheduler.h"

/*
 * A provider acquires external ports and keeps them alive. It knows nothing of the bus:
 * it drives PmMapping objects and reports through them and through its own state.
 */

typedef enum {
	PM_PROVIDER_STATE_READY,
	PM_PROVIDER_STATE_DEGRADED,
	PM_PROVIDER_STATE_FAILED,
} PmProviderState;

/* called once when an asynchronous provider operation ends */
typedef void (*PmProviderDoneFunc)(gpointer user_data);
/* the provider's own State/ExternalAddress/LastError changed */
typedef void (*PmProviderChangedFunc)(PmProvider *provider, gpointer user_data);

typedef struct {
	const char *type;
	void (*finalize)(PmProvider *self);
	/* refuse mappings this provider cannot carry (PIA: one port per connection) */
	gboolean (*check_mapping)(PmProvider *self, PmMapping *mapping, GError **error);
	/* start acquiring: the mapping is in its requesting state */
	void (*start)(PmProvider *self, PmMapping *mapping);
	/* forget the mapping; with @release, delete it upstream first (bounded), then call
	 * @done; the mapping stays allocated until @done (the manager counts stops in
	 * flight), but a Reload may change its fields meanwhile: the provider copies the
	 * ports and protocols it deletes */
	void (*stop)(PmProvider *self, PmMapping *mapping, gboolean release,
		     PmProviderDoneFunc done, gpointer user_data);
	/* renew now; @done when that run ends (success or not) */
	void (*refresh)(PmProvider *self, PmMapping *mapping, PmProviderDoneFunc done,
			gpointer user_data);
	/* re-read the gateway and renew everything; @done when the run ends */
	void (*refresh_all)(PmProvider *self, PmProviderDoneFunc done, gpointer user_data);
	/* the system resumed from suspend */
	void (*resumed)(PmProvider *self);
	/* NULL-safe description of where this provider talks to (Describe) */
	char *(*get_gateway)(PmProvider *self);
} PmProviderClass;

struct _PmProvider {
	const PmProviderClass *klass;
	char *name;
	PmProviderConfig *config;
	PmScheduler *scheduler;
	PmProviderState state;
	char *last_error;
	guint32 external_address; /* IPv4, network byte order */
	PmProviderChangedFunc changed_func;
	gpointer changed_data;
	/* mappings this provider carries, for refresh_all and resets */
	GHashTable *mappings; /* PmMapping* set */
};

PmProvider *pm_provider_new(const PmProviderConfig *config, PmScheduler *scheduler,
			    GError **error);
void pm_provider_free(PmProvider *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PmProvider, pm_provider_free)

/* for implementations */
void pm_provider_init(PmProvider *self, const PmProviderClass *klass,
		      const PmProviderConfig *config, PmScheduler *scheduler);
void pm_provider_set_state(PmProvider *self, PmProviderState state, const char *last_error);
void pm_provider_set_external_address(PmProvider *self, guint32 address);

gboolean pm_provider_check_mapping(PmProvider *self, PmMapping *mapping, GError **error);
void pm_provider_start(PmProvider *self, PmMapping *mapping);
void pm_provider_stop(PmProvider *self, PmMapping *mapping, gboolean release,
		      PmProviderDoneFunc done, gpointer user_data);
void pm_provider_refresh(PmProvider *self, PmMapping *mapping, PmProviderDoneFunc done,
			 gpointer user_data);
void pm_provider_refresh_all(PmProvider *self, PmProviderDoneFunc done, gpointer user_data);
void pm_provider_resumed(PmProvider *self);
char *pm_provider_get_gateway(PmProvider *self);

const char *pm_provider_state_to_string(PmProviderState state);
const char *pm_provider_type_to_string(PmProviderType type);
