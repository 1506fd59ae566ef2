/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <glib.h>

#include "natpmp.h"
#include "scheduler.h"

/*
 * One NAT-PMP client per gateway (RFC 6886), shared by config, bus and LAN mappings.
 * Replies carry no transaction id, but a map reply echoes its opcode and internal port, so
 * a reply is matched by that key and requests with different keys are outstanding
 * together: never two with one key, and at most PM_NATPMP_WINDOW waiting for an answer.
 * A request holds its place in that window for its first wait, or one second at most;
 * after that it is parked (still matched by its key) until its next send, when it queues
 * again behind whatever else is waiting. So no request, however silent the gateway is
 * about it, holds the others back. Renewals of live leases queue ahead of new requests;
 * a queued call that reaches its give-up instant fails there. Also: the §3.1
 * retransmission schedule bounded by a give-up instant, the §3.6 epoch check on every
 * packet from the gateway, and the §3.7 random 0–5 s delay before mappings are re-created
 * after a reset. It does no I/O itself: a transport sends, and feeds back what arrives.
 */

typedef struct _PmNatpmpClient PmNatpmpClient;
typedef struct _PmNatpmpCall PmNatpmpCall;

#define PM_NATPMP_RFC_MAX_SENDS 9
#define PM_NATPMP_FIRST_WAIT_USEC (250 * G_TIME_SPAN_MILLISECOND)
#define PM_NATPMP_MAX_WAIT_USEC (64 * G_TIME_SPAN_SECOND)
#define PM_NATPMP_RESET_DELAY_MAX_USEC (5 * G_TIME_SPAN_SECOND)
/* requests waiting for an answer at once (design §3: a small window) */
#define PM_NATPMP_WINDOW 8
/* how long one send keeps its place in the window before the request is parked */
#define PM_NATPMP_SLOT_HOLD_USEC (1 * G_TIME_SPAN_SECOND)

typedef enum {
	PM_NATPMP_PRIORITY_NORMAL,
	PM_NATPMP_PRIORITY_RENEWAL, /* renewals of live leases go ahead of new requests */
} PmNatpmpPriority;

typedef struct {
	PmNatpmpRequest request;
	PmNatpmpPriority priority;
	guint max_sends;    /* PM_NATPMP_RFC_MAX_SENDS; 0 = no limit, waits capped at 64 s + jitter */
	guint64 give_up_at; /* CLOCK_BOOTTIME µs (a lease's expiry); G_MAXUINT64 = none */
} PmNatpmpCallOptions;

/*
 * @response set: the gateway answered (any result code; judging it is the caller's);
 * @error set: the call failed (PM_ERROR_GATEWAY_UNREACHABLE: no answer, refused by ICMP, or
 * the give-up instant passed, queued or not; or the client was closed with the call still
 * in it); both NULL: one wait went unanswered and the call goes on.
 * The call handle is invalid once a final (response or error) callback returns. A client
 * whose last reference goes answers every call it still has with an error: nothing is
 * freed under a live handle.
 */
typedef void (*PmNatpmpCallFunc)(PmNatpmpCall *call, const PmNatpmpResponse *response,
				 const GError *error, gpointer user_data);

/* the gateway lost its mappings: re-create them (called after the random delay) */
typedef void (*PmNatpmpResetFunc)(PmNatpmpClient *client, gpointer user_data);
/* the gateway's public address is known or changed */
typedef void (*PmNatpmpAddressFunc)(PmNatpmpClient *client, guint32 address, gpointer user_data);

typedef void (*PmNatpmpSendFunc)(const guint8 *buf, gsize len, gpointer user_data);

PmNatpmpClient *pm_natpmp_client_new(PmScheduler *scheduler, guint32 gateway, guint16 port,
				     PmNatpmpSendFunc send, gpointer send_data,
				     GDestroyNotify send_data_free);
PmNatpmpClient *pm_natpmp_client_ref(PmNatpmpClient *self);
void pm_natpmp_client_unref(PmNatpmpClient *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PmNatpmpClient, pm_natpmp_client_unref)

guint32 pm_natpmp_client_get_gateway(PmNatpmpClient *self);
guint16 pm_natpmp_client_get_port(PmNatpmpClient *self);
/* our own address toward the gateway (the mappings' internal address), 0 if unknown */
guint32 pm_natpmp_client_get_local_address(PmNatpmpClient *self);
void pm_natpmp_client_set_local_address(PmNatpmpClient *self, guint32 address);
/* the last public address the gateway reported, 0 if none yet */
guint32 pm_natpmp_client_get_public_address(PmNatpmpClient *self);

PmNatpmpCall *pm_natpmp_client_call(PmNatpmpClient *self, const PmNatpmpCallOptions *options,
				    PmNatpmpCallFunc func, gpointer user_data);
/* queued or in flight: it is dropped and its callback never runs */
void pm_natpmp_call_cancel(PmNatpmpCall *call);

/* ask for the public address (coalesced with one already queued); re-checks the epoch */
void pm_natpmp_client_request_public_address(PmNatpmpClient *self);

guint pm_natpmp_client_add_listener(PmNatpmpClient *self, PmNatpmpResetFunc reset,
				    PmNatpmpAddressFunc address, gpointer user_data);
void pm_natpmp_client_remove_listener(PmNatpmpClient *self, guint id);

/* transport input: a packet from the gateway's NAT-PMP port */
void pm_natpmp_client_receive(PmNatpmpClient *self, const guint8 *buf, gsize len);
/* transport input: a packet on 224.0.0.1:5350 from @source (IPv4, network order); any
 * packet from the gateway (miniupnpd 2.3.1 only sends a PCP ANNOUNCE at start) makes the
 * client re-check the epoch */
void pm_natpmp_client_receive_announcement(PmNatpmpClient *self, guint32 source,
					   const guint8 *buf, gsize len);
/* transport input: ICMP port unreachable for the gateway's port */
void pm_natpmp_client_refused(PmNatpmpClient *self);

/* every call not yet finished */
guint pm_natpmp_client_get_n_queued(PmNatpmpClient *self);
/* calls holding a place in the window (sent, waiting for an answer) */
guint pm_natpmp_client_get_n_in_window(PmNatpmpClient *self);
