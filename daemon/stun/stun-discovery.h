/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <glib.h>

#include "nat-classifier.h"
#include "scheduler.h"
#include "stun-config.h"
#include "stun-socket.h"

/*
 * One STUN discovery run (stun.md §6): every configured server is asked at once, with RFC
 * 8489 retransmission (RTO 500 ms, doubling) inside Timeout=, from the socket of the
 * server's family (the service's: bound to LocalPort=, it outlives runs, so the mapping
 * it probes stays the same). The first valid answer is the endpoint, reported at once: a
 * silent server costs nothing. Then, with the first server whose OTHER-ADDRESS is usable,
 * RFC 5780's mapping tests on the same socket (alternate IP, then alternate IP and port,
 * sent together) and its filtering tests on a fresh socket that has sent only to the
 * primary address (CHANGE-REQUEST {IP, port} and {port}, sent together, waiting a time
 * derived from that socket's round trip). The run ends as soon as the NAT type and both
 * behaviours are known, or when nothing is left to wait for; "done" is never called from
 * inside a call into the run.
 */

typedef struct _PmStunDiscovery PmStunDiscovery;

typedef enum {
	PM_STUN_SERVER_NOT_ASKED, /* not resolved, or no socket of its family */
	PM_STUN_SERVER_ASKED,
	PM_STUN_SERVER_ANSWERED,
	PM_STUN_SERVER_SILENT, /* nothing valid came back before the run ended */
	PM_STUN_SERVER_FAILED, /* an error response, a name that does not resolve */
} PmStunServerState;

typedef struct {
	const char *text;      /* as configured */
	PmStunAddress address; /* resolved (family 0: not) */
	PmStunServerState state;
	guint64 rtt_usec;	/* of its first answer */
	PmStunAddress mapped;	/* what it saw */
	PmStunAddress other;	/* its OTHER-ADDRESS (family 0: none) */
	char *last_error;	/* NULL, or why it did not answer usefully */
} PmStunServerStatus;

typedef struct {
	/* the first valid answer: @endpoint as server @server saw it */
	void (*endpoint)(PmStunDiscovery *run, const PmStunAddress *endpoint, guint server,
			 gpointer user_data);
	/* the run ended (pm_stun_discovery_get_error() says whether it found an endpoint) */
	void (*done)(PmStunDiscovery *run, gpointer user_data);
} PmStunDiscoveryCallbacks;

/* takes a reference to @config; @callbacks is not copied */
PmStunDiscovery *pm_stun_discovery_new(PmScheduler *scheduler, PmStunConfig *config,
				       const PmStunDiscoveryCallbacks *callbacks,
				       gpointer user_data);
/* cancels a run that has not ended: no callback after this */
void pm_stun_discovery_free(PmStunDiscovery *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PmStunDiscovery, pm_stun_discovery_free)

/* the sockets Binding requests leave from, before start; NULL with @why (copied) for a
 * family that has none */
void pm_stun_discovery_set_socket(PmStunDiscovery *self, int family, PmStunSocket *socket,
				  const char *why);
void pm_stun_discovery_start(PmStunDiscovery *self);
/* a datagram that arrived on one of those sockets */
void pm_stun_discovery_receive(PmStunDiscovery *self, PmStunSocket *socket, const guint8 *data,
			       gsize len, const struct sockaddr *from, socklen_t from_len);

gboolean pm_stun_discovery_is_done(const PmStunDiscovery *self);
/* NULL: an endpoint was found; else why not (PM_ERROR_GATEWAY_UNREACHABLE: no server
 * answered, named with their errors) */
const GError *pm_stun_discovery_get_error(const PmStunDiscovery *self);
/* NULL before the first answer */
const PmStunAddress *pm_stun_discovery_get_endpoint(const PmStunDiscovery *self);
PmNatType pm_stun_discovery_get_nat_type(const PmStunDiscovery *self);
PmNatBehavior pm_stun_discovery_get_mapping(const PmStunDiscovery *self);
PmNatBehavior pm_stun_discovery_get_filtering(const PmStunDiscovery *self);
guint pm_stun_discovery_get_n_servers(const PmStunDiscovery *self);
const PmStunServerStatus *pm_stun_discovery_get_server(const PmStunDiscovery *self, guint index);
/* the server whose answer gave the endpoint */
guint pm_stun_discovery_get_endpoint_server(const PmStunDiscovery *self);
/* from the start to the endpoint, and to the end */
guint64 pm_stun_discovery_get_endpoint_usec(const PmStunDiscovery *self);
guint64 pm_stun_discovery_get_duration_usec(const PmStunDiscovery *self);
/* the filtering tests: how long their answers were waited for (0: not run), and from
 * their sending to the verdict (0: none) */
guint64 pm_stun_discovery_get_filter_wait_usec(const PmStunDiscovery *self);
guint64 pm_stun_discovery_get_filter_verdict_usec(const PmStunDiscovery *self);
