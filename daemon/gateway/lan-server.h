/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <glib.h>

#include "scheduler.h"

/*
 * The LAN side of the gateway (design §3 "Gateway"): an RFC 6886 NAT-PMP server, errata
 * 3618 included, in memory. It does no I/O itself: a transport (lan-socket.c) feeds it the
 * packets that arrived on a listen address and sends what it answers, so that every rule
 * is unit-tested on virtual time and the packet path is fuzzed.
 *
 * What it decides itself: who is heard (AllowedNetworks=, RateLimit= per client with a
 * burst of twice the rate: over it, dropped unanswered), version and opcode errors,
 * opcode 0 from memory (the upstream's public address; none known: result 3), the mapping
 * table keyed by (client address, protocol, internal port), lifetimes clamped, renewals
 * answered from memory, deletions and delete-all per protocol per client,
 * MaxMappingsPerClient= (result 4), its epoch, lease expiry, and the announcements (10,
 * 250 ms doubling, to 224.0.0.1:5350).
 *
 * What it asks its backend (gateway.c): a new mapping's two layers (map, answered later
 * with pm_lan_server_map_done()), and their removal (unmap) when a mapping goes.
 */

typedef struct _PmLanServer PmLanServer;
typedef struct _PmLanMapping PmLanMapping;

typedef enum {
	PM_LAN_MAPPING_PENDING, /* map() asked, no answer yet */
	PM_LAN_MAPPING_ACTIVE,
} PmLanMappingState;

/* ordered by size, no padding: there may be 10 000 of these (88 bytes) */
struct _PmLanMapping {
	guint64 expires;	/* CLOCK_BOOTTIME µs: the end of the client's lease */
	gpointer backend_data;	/* the backend's */
	/*< private >*/
	guint64 upstream_expires; /* the upstream lease end (map_done, mapping_update), 0 unknown */
	PmLanServer *server;
	PmTimer expiry_timer;
	/*< public >*/
	guint32 client;		/* IPv4, network byte order */
	/*< private >*/
	guint32 local_address;	/* the listen address it arrived on */
	guint32 requested_lifetime;
	/*< public >*/
	guint16 internal_port;	/* the client's port: never 0 */
	guint16 external_port;	/* E at the upstream, 0 while pending */
	guint8 protocol;	/* PM_PROTOCOL_TCP or PM_PROTOCOL_UDP (config.h) */
	guint8 state;		/* PmLanMappingState */
	/*< private >*/
	guint16 reply_port;	/* the client's source port of the last request */
};

typedef struct {
	guint32 address; /* network byte order, host bits zero */
	guint8 prefix;	 /* 0..32 */
} PmIpv4Network;

typedef struct {
	const guint32 *listen;	  /* listen addresses, network byte order */
	guint n_listen;
	const PmIpv4Network *allowed;
	guint n_allowed;
	guint32 min_lifetime;	  /* MinLifetime=, default 60 */
	guint32 max_lifetime;	  /* MaxLifetime=, default 86400 */
	guint max_mappings_per_client; /* default 64 */
	guint rate_limit;	  /* requests per second per client (burst: twice), default 200 */
} PmLanServerConfig;

typedef struct {
	/* a new mapping (state PENDING): create both layers, then call
	 * pm_lan_server_map_done() (at once or later). @suggested_external_port: what the
	 * client suggested (0: none). Requests for the same key meanwhile are answered when
	 * it is done. */
	void (*map)(PmLanServer *server, PmLanMapping *mapping, guint16 suggested_external_port,
		    gpointer user_data);
	/* the mapping goes (the client deleted it or stopped renewing, a delete-all, or
	 * pm_lan_server_remove_mapping()); pending or active: remove what exists of both layers
	 * and free backend_data. It is freed when this returns. A pending one is cancelled:
	 * the backend must not call pm_lan_server_map_done() for it after this. unmap() must
	 * not call back into the server (it runs in the middle of a removal). */
	void (*unmap)(PmLanServer *server, PmLanMapping *mapping, gpointer user_data);
	/* the transport: send @len bytes to @address:@port (network byte order address,
	 * host order port) from the listen address @local; @address 224.0.0.1 for an
	 * announcement, sent once per listen address */
	void (*send)(PmLanServer *server, guint32 local, guint32 address, guint16 port,
		     const guint8 *buf, gsize len, gpointer user_data);
	/* optional: the table changed (a mapping added, pending or restored, active, removed,
	 * or its E changed): the backend persists it and updates its counters. Not called
	 * on a renewal that keeps E (design §3 "State": it writes nothing), although the
	 * client's lease end moves. */
	void (*changed)(PmLanServer *server, gpointer user_data);
} PmLanServerBackend;

/* @config is copied. @epoch_origin: the CLOCK_BOOTTIME µs instant the epoch counts from
 * (restored from state), 0 for a new epoch starting now */
PmLanServer *pm_lan_server_new(PmScheduler *scheduler, const PmLanServerConfig *config,
			       const PmLanServerBackend *backend, gpointer user_data,
			       guint64 epoch_origin);
/* every mapping is freed without unmap(): the backend has dealt with them before */
void pm_lan_server_free(PmLanServer *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PmLanServer, pm_lan_server_free)

/* transport input: @len bytes from @source:@source_port (network byte order address,
 * host order port) that arrived on listen address @local */
void pm_lan_server_receive(PmLanServer *self, guint32 local, guint32 source,
			   guint16 source_port, const guint8 *buf, gsize len);

/* the backend's answer to map(): @result 0 (success: @external_port granted upstream,
 * @upstream_expires the CLOCK_BOOTTIME µs end of its lease, 0 unknown) or an RFC 6886
 * result code (3: network failure, 4: out of resources), when the mapping is answered
 * and freed without unmap() (the backend has rolled back). A success with external port
 * 0 is answered as result 3. May be called from inside map(); never after unmap(). */
void pm_lan_server_map_done(PmLanServer *self, PmLanMapping *mapping, guint16 result,
			    guint16 external_port, guint64 upstream_expires);
/* the upstream renewed the lease or changed E: the next answer tells the client */
void pm_lan_server_mapping_update(PmLanServer *self, PmLanMapping *mapping,
				  guint16 external_port, guint64 upstream_expires);
/* remove it now (unmap() is called) */
void pm_lan_server_remove_mapping(PmLanServer *self, PmLanMapping *mapping);
/* restored from state: an ACTIVE mapping with its lease end, map() is not called */
PmLanMapping *pm_lan_server_restore_mapping(PmLanServer *self, guint32 client, guint8 protocol,
					    guint16 internal_port, guint16 external_port,
					    guint64 expires);

/* the upstream's public address (network byte order; 0: unknown, opcode 0 answers result
 * 3): a change to a known address starts the announcements */
void pm_lan_server_set_public_address(PmLanServer *self, guint32 address);
/* the 10 announcements now (at start) */
void pm_lan_server_announce(PmLanServer *self);

guint64 pm_lan_server_get_epoch_origin(PmLanServer *self);
guint32 pm_lan_server_get_epoch(PmLanServer *self);
guint pm_lan_server_get_n_mappings(PmLanServer *self);
/* of PmLanMapping*, pending ones included; the array is the caller's */
GPtrArray *pm_lan_server_get_mappings(PmLanServer *self);
PmLanMapping *pm_lan_server_lookup(PmLanServer *self, guint32 client, guint8 protocol,
				   guint16 internal_port);

typedef struct {
	guint64 received;
	guint64 answered;
	guint64 ignored_not_allowed; /* sender outside AllowedNetworks= */
	guint64 dropped_rate_limit;
	guint64 ignored_malformed;   /* too short, or opcode >= 128 */
} PmLanServerStats;
void pm_lan_server_get_stats(PmLanServer *self, PmLanServerStats *out);

/* parses "a.b.c.d/n" (or an address alone: /32) */
gboolean pm_ipv4_network_parse(const char *text, PmIpv4Network *out);
gboolean pm_ipv4_network_contains(const PmIpv4Network *network, guint32 address);
