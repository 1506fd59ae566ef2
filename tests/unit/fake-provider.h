/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include "provider.h"

/*
 * Type=fake: a provider class of the tests only, registered through the same table as the
 * daemon's own (pm_fake_provider_register()), with keys of its own:
 *   Delay=        how long each answer takes, on the scheduler's (virtual) time; default 0
 *   Answer=       no: never answers anything (start, refresh, RefreshAll, release)
 *   Lifetime=     the lease it grants, renewed at half; default 60 s; longer than Delay=
 *   MaxMappings=  how many mappings it carries at once (its check_mapping rule), 0: any
 *   Label=        free text: a change of config and nothing else
 * It grants the suggested external port, else the next of 40000, 40001, ... Every call
 * goes to one log (pm_fake_log_take()), as "NAME#INSTANCE WHAT [MAPPING [DETAIL]]", with
 * INSTANCE counting providers created, so a provider and its replacement are told apart.
 * Its state.json section counts its grants; its Describe() members are Gateway and
 * Instance.
 */

#define PM_FAKE_FIRST_PORT 40000

typedef struct {
	guint64 delay_usec;
	gboolean answer;
	guint32 lifetime;
	guint max_mappings;
	char *label;
} PmFakeConfig;

typedef struct {
	PmProvider parent;
	guint instance;
	guint grants;          /* kept in its state.json section */
	guint16 next_port;
	GPtrArray *operations; /* answers on their way */
} PmFakeProvider;

extern const PmProviderClass pm_fake_provider_class;

/* once per test program (again: nothing) */
void pm_fake_provider_register(void);
/* between tests: no fake provider is left; instances count from 1 again */
void pm_fake_reset(void);
/* the calls since the last take, one per line */
char *pm_fake_log_take(void);
/* how many answers every fake provider still owes */
guint pm_fake_get_n_pending(void);
/* fake providers alive (created and not yet freed) */
guint pm_fake_get_n_alive(void);
