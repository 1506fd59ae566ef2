/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include "manager.h"
#include "natpmp-client.h"

/*
 * The one way to build a PmManager under test: on virtual time (manual scheduler), with
 * its own PmContext and state directory, and the classes of the tests registered
 * (fake-provider.h: [Provider] Type=fake; fake-consumer.h: [Consumer] Type=fake,
 * fake-single), so a configuration may use those or the daemon's own.
 *
 * A NAT-PMP provider of the configuration talks to a gateway in the test: a client with
 * a fake transport, switched in after start, that grants what is asked (the suggested
 * port if it is free, else the next one from 40000) with the lifetime asked, unless told
 * otherwise. No packet leaves the process: the provider's own socket (to 127.0.0.1,
 * Port=1) is replaced before anything is sent through the main loop, which never runs.
 * Such a configuration has one NAT-PMP provider, with Gateway=127.0.0.1 and Port=1
 * (PM_TEST_PROVIDER below), which a reload must keep unchanged.
 */

#define PM_TEST_PROVIDER                                                                         \
	"[Provider gw]\n"                                                                        \
	"Type=natpmp\n"                                                                          \
	"Gateway=127.0.0.1\n"                                                                    \
	"Port=1\n"                                                                               \
	"Lifetime=600\n"

#define PM_TEST_PUBLIC_ADDRESS "203.0.113.5"

typedef struct {
	PmScheduler *scheduler;
	PmContext *context;
	PmManager *manager;
	PmNatpmpClient *client;
	char *state_dir;
	gboolean keep_state_dir; /* pm_test_manager_free() leaves it (for another manager) */
	/* the gateway */
	GHashTable *leases;   /* "opcode:internal" → external port */
	GHashTable *next;     /* "opcode:internal" → external port to grant next, once */
	guint16 next_port;
	guint32 address;      /* the public address it reports */
	gboolean silent;      /* answers nothing */
	guint map_requests;   /* map requests seen (deletions included) */
	GPtrArray *replies;   /* on their way */
} PmTestManager;

/* a manager and its gateway, not started: extensions may be added, the gateway told what
 * to grant; virtual time starts at @now_usec, the state is kept in @state_dir (NULL: a new
 * temporary directory) */
PmTestManager *pm_test_manager_new_unstarted_full(guint64 now_usec, const char *state_dir);
/* at 1 s, in a new state directory */
PmTestManager *pm_test_manager_new_unstarted(void);
/* loads @config_text and starts the manager; with a NAT-PMP provider, the gateway answers
 * at once, and virtual time has run until the first grants are in */
void pm_test_manager_start(PmTestManager *self, const char *config_text);
/* both */
PmTestManager *pm_test_manager_new(const char *config_text);
/* with the manager, every fake provider is gone and owes no answer; the fakes are reset
 * for the next test */
void pm_test_manager_free(PmTestManager *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PmTestManager, pm_test_manager_free)

void pm_test_manager_advance(PmTestManager *self, guint64 usec);
/* the next grant of @opcode (PM_NATPMP_OP_MAP_TCP/UDP) for @internal_port is @external_port
 * (also on a renewal: a port change) */
void pm_test_manager_grant_next(PmTestManager *self, guint8 opcode, guint16 internal_port,
				guint16 external_port);
/* the gateway forgets every mapping and answers nothing more */
void pm_test_manager_gateway_down(PmTestManager *self);
/* Reload() with @config_text; asserts success */
void pm_test_manager_reload(PmTestManager *self, const char *config_text);

/* "name:state:last error" of each consumer of the mapping, as the bus shows them */
char *pm_test_manager_consumers(PmTestManager *self, const char *mapping_name);
void pm_test_manager_assert_consumers(PmTestManager *self, const char *mapping_name,
				      const char *expected);
