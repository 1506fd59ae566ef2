/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <glib.h>

#include "mapping.h"

/*
 * One event for the hook consumers (Type=webhook, Type=exec): what a mapping_up(),
 * mapping_changed() or mapping_down() said, copied out of the view (which is valid during
 * the call only) so that it can wait behind a delivery in flight or a retry.
 *
 * Both classes keep, per (consumer, mapping), at most one event in flight and at most one
 * waiting, and coalesce into the waiting one with pm_hook_event_merge(): the receiver
 * hears every state it must know in order, never a stale one after a newer.
 */

typedef enum {
	PM_HOOK_EVENT_UP,
	PM_HOOK_EVENT_CHANGE,
	PM_HOOK_EVENT_DOWN,
} PmHookEventType;

typedef struct {
	PmHookEventType type;
	guint64 mapping_id;
	char *mapping;
	char *provider;
	char external_address[16]; /* "" if unknown */
	PmMappingPorts ports;	   /* the granted ones, or for a down the last ones told */
	guint16 old_port;	   /* a change's previous external port, 0 otherwise */
	guint32 provider_peer;	   /* network byte order, 0: unknown */
	guint64 timestamp_usec;	   /* CLOCK_REALTIME µs: when portmapd saw it */
} PmHookEvent;

PmHookEvent *pm_hook_event_new(PmHookEventType type, const PmMappingView *mapping,
			       const PmMappingPorts *ports, const PmMappingPorts *previous,
			       guint64 timestamp_usec);
void pm_hook_event_free(PmHookEvent *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PmHookEvent, pm_hook_event_free)

/* "up", "change", "down" */
const char *pm_hook_event_type_to_string(PmHookEventType type);

/*
 * @newer replaces @older, which was not delivered (either may be NULL; both are taken):
 * the newer state is what the receiver must end up with. Two exceptions keep what the
 * receiver knows right: a change replacing an undelivered up is still an up (the receiver
 * never heard of the mapping), and a change replacing an undelivered change keeps the
 * older one's old port (the last one the receiver was told).
 */
PmHookEvent *pm_hook_event_merge(PmHookEvent *older, PmHookEvent *newer);

/* the external port of the first protocol that has one (TCP's first), with its internal
 * port; 0 and 0 if none */
guint16 pm_hook_event_port(const PmHookEvent *self, guint16 *internal_port);
/* "51413,51414": each distinct external port once, TCP's first; "" if none */
char *pm_hook_event_ports_string(const PmHookEvent *self);
/* the body of a webhook's POST (portmapd.conf(5), Type=webhook) */
char *pm_hook_event_to_json(const PmHookEvent *self);
