/* SPDX-License-Identifier: GPL-2.0-or-later */

#include <stdarg.h>

#include "address.h"
#include "errors.h"
#include "log.h"
#include "natpmp-client.h"

#define PUBLIC_ADDRESS_MAX_SENDS 3

typedef enum {
	CALL_READY,  /* queued: waiting for a place in the window (new, or between sends) */
	CALL_WINDOW, /* sent, holding a place in the window */
	CALL_PARKED, /* sent, waiting for its next send outside the window */
} CallPlace;

struct _PmNatpmpCall {
	PmNatpmpClient *client;
	PmNatpmpCallOptions options;
	PmNatpmpCallFunc func;
	gpointer user_data;
	GList link;   /* in the queue of its place */
	PmTimer timer; /* ready: give-up; window: park or retransmit; parked: retransmit */
	guint64 due;  /* the next send, or the failure after the last one */
	guint64 wait;
	guint sends;
	CallPlace place;
	gboolean keyed; /* sent at least once: holds its key until it finishes */
};

typedef struct {
	guint id;
	PmNatpmpResetFunc reset;
	PmNatpmpAddressFunc address;
	gpointer user_data;
} Listener;

struct _PmNatpmpClient {
	gint ref_count;
	PmScheduler *scheduler;
	guint32 gateway;
	guint16 port;
	PmNatpmpSendFunc send;
	gpointer send_data;
	GDestroyNotify send_data_free;

	GQueue ready_renewals;
	GQueue ready_requests;
	GQueue window;
	GQueue parked;
	GHashTable *keyed; /* key → the call sent with it (created on first use) */
	guint batch;       /* answering several calls: no sends until the batch ends */

	gboolean have_epoch;
	guint32 last_epoch;
	guint64 last_epoch_at;
	PmTimer reset_timer;

	guint32 local_address;
	guint32 public_address;
	PmNatpmpCall *public_address_call;

	GArray *listeners; /* of Listener */
	guint next_listener_id;
};

static void client_pump(PmNatpmpClient *self);

/* what a reply is matched by: its opcode and internal port (0 for the public address) */
static gpointer
call_key(const PmNatpmpCall *call)
{
	return GUINT_TO_POINTER(((guint)call->options.request.opcode << 16) |
				call->options.request.internal_port);
}

static GQueue *
call_queue(PmNatpmpCall *call)
{
	PmNatpmpClient *self = call->client;
	switch (call->place) {
	case CALL_READY:
		return call->options.priority == PM_NATPMP_PRIORITY_RENEWAL
			   ? &self->ready_renewals
			   : &self->ready_requests;
	case CALL_WINDOW:
		return &self->window;
	case CALL_PARKED:
	default:
		return &self->parked;
	}
}

static void
call_place(PmNatpmpCall *call, CallPlace place)
{
	call->place = place;
	g_queue_push_tail_link(call_queue(call), &call->link);
}

/* off every list and timer of the client; the caller frees or answers it */
static void
call_release(PmNatpmpCall *call)
{
	PmNatpmpClient *self = call->client;
	g_queue_unlink(call_queue(call), &call->link);
	pm_scheduler_disarm(self->scheduler, &call->timer);
	if (call->keyed)
		g_hash_table_remove(self->keyed, call_key(call));
	if (call == self->public_address_call)
		self->public_address_call = NULL;
}

static void
call_finish(PmNatpmpCall *call, const PmNatpmpResponse *response, const GError *error)
{
	PmNatpmpClient *self = call->client;
	call_release(call);
	pm_natpmp_client_ref(self);
	if (call->func != NULL)
		call->func(call, response, error, call->user_data);
	g_free(call);
	client_pump(self);
	pm_natpmp_client_unref(self);
}

/* queue it behind the others of its priority; it fails there at its give-up instant */
static void
call_make_ready(PmNatpmpCall *call)
{
	call_place(call, CALL_READY);
	if (call->options.give_up_at != G_MAXUINT64)
		pm_scheduler_arm(call->client->scheduler, &call->timer, call->options.give_up_at);
	else
		pm_scheduler_disarm(call->client->scheduler, &call->timer);
}

static void
call_send(PmNatpmpCall *call)
{
	PmNatpmpClient *self = call->client;
	guint8 buf[PM_NATPMP_MAP_REQUEST_SIZE];
	gsize len = pm_natpmp_encode_request(&call->options.request, buf);
	guint64 now = pm_scheduler_now(self->scheduler);

	if (!call->keyed) {
		if (self->keyed == NULL)
			self->keyed = g_hash_table_new(NULL, NULL);
		g_hash_table_insert(self->keyed, call_key(call), call);
		call->keyed = TRUE;
	}
	call->sends++;
	if (call->sends == 1)
		call->wait = PM_NATPMP_FIRST_WAIT_USEC;
	else if (call->wait < PM_NATPMP_MAX_WAIT_USEC)
		call->wait *= 2;
	call->due = now + call->wait;
	/* past the cap, jitter keeps many clients from retrying in step */
	if (call->options.max_sends == 0 && call->wait >= PM_NATPMP_MAX_WAIT_USEC)
		call->due += pm_scheduler_random_range(self->scheduler, 0,
						       PM_NATPMP_MAX_WAIT_USEC / 16);
	call->due = MIN(call->due, call->options.give_up_at);
	call_place(call, CALL_WINDOW);
	self->send(buf, len, self->send_data);
	pm_scheduler_arm(self->scheduler, &call->timer,
			 MIN(call->due, now + PM_NATPMP_SLOT_HOLD_USEC));
}

static gboolean
call_is_blocked(PmNatpmpClient *self, PmNatpmpCall *call)
{
	PmNatpmpCall *holder;
	if (self->keyed == NULL)
		return FALSE;
	holder = g_hash_table_lookup(self->keyed, call_key(call));
	return holder != NULL && holder != call;
}

/* the first queued call that may be sent now: its key free, its give-up not passed (its
 * timer fails it on the next dispatch, never from inside pm_natpmp_client_call()) */
static PmNatpmpCall *
client_next_ready(PmNatpmpClient *self)
{
	GQueue *queues[] = {&self->ready_renewals, &self->ready_requests};
	guint64 now = pm_scheduler_now(self->scheduler);

	for (guint i = 0; i < G_N_ELEMENTS(queues); i++) {
		for (GList *l = queues[i]->head; l != NULL; l = l->next) {
			PmNatpmpCall *call = l->data;
			if (now < call->options.give_up_at && !call_is_blocked(self, call))
				return call;
		}
	}
	return NULL;
}

/* fill the window */
static void
client_pump(PmNatpmpClient *self)
{
	if (self->batch > 0)
		return;
	while (self->window.length < PM_NATPMP_WINDOW) {
		PmNatpmpCall *call = client_next_ready(self);
		if (call == NULL)
			return;
		g_queue_unlink(call_queue(call), &call->link);
		call_send(call);
	}
}

static void
call_fail(PmNatpmpCall *call, const char *format, ...) G_GNUC_PRINTF(2, 3);

static void
call_fail(PmNatpmpCall *call, const char *format, ...)
{
	g_autoptr(GError) error = NULL;
	va_list args;
	va_start(args, format);
	error = g_error_new_valist(PM_ERROR, PM_ERROR_GATEWAY_UNREACHABLE, format, args);
	va_end(args);
	call_finish(call, NULL, error);
}

/* a wait went unanswered: fail after the last send, else queue it for its next one */
static void
call_unanswered(PmNatpmpCall *call)
{
	PmNatpmpClient *self = call->client;
	g_autofree char *gateway = NULL;

	if (call->options.max_sends != 0 && call->sends >= call->options.max_sends) {
		gateway = pm_ipv4_to_string(self->gateway);
		call_fail(call,
			  "no answer from the NAT-PMP gateway %s after %u requests: check it is "
			  "reachable and has NAT-PMP enabled",
			  gateway, call->sends);
		return;
	}
	/* it yields its place: whatever waited meanwhile goes first */
	g_queue_unlink(call_queue(call), &call->link);
	call_make_ready(call);
	/* tell the caller (a first request becomes "retrying"); it may cancel the call */
	pm_natpmp_client_ref(self);
	if (call->func != NULL)
		call->func(call, NULL, NULL, call->user_data);
	client_pump(self);
	pm_natpmp_client_unref(self);
}

static void
call_timer_cb(PmTimer *timer, gpointer user_data)
{
	PmNatpmpCall *call = user_data;
	PmNatpmpClient *self = call->client;
	guint64 now = pm_scheduler_now(self->scheduler);

	if (now >= call->options.give_up_at) {
		g_autofree char *gateway = pm_ipv4_to_string(self->gateway);
		call_fail(call,
			  "no answer from the NAT-PMP gateway %s before the lease expired (%u "
			  "requests sent): check the gateway is reachable",
			  gateway, call->sends);
		return;
	}
	if (call->place == CALL_WINDOW && now < call->due) {
		/* a slow answer: wait for it outside the window, so others can be sent */
		g_queue_unlink(&self->window, &call->link);
		call_place(call, CALL_PARKED);
		pm_scheduler_arm(self->scheduler, &call->timer, call->due);
		client_pump(self);
		return;
	}
	if (call->place != CALL_READY)
		call_unanswered(call);
}

static void
reset_timer_cb(PmTimer *timer, gpointer user_data)
{
	PmNatpmpClient *self = user_data;
	g_autoptr(GArray) listeners = NULL;

	/* copy: a listener may remove itself */
	listeners = g_array_copy(self->listeners);
	pm_natpmp_client_ref(self);
	for (guint i = 0; i < listeners->len; i++) {
		Listener *l = &g_array_index(listeners, Listener, i);
		if (l->reset != NULL)
			l->reset(self, l->user_data);
	}
	pm_natpmp_client_unref(self);
}

PmNatpmpClient *
pm_natpmp_client_new(PmScheduler *scheduler, guint32 gateway, guint16 port, PmNatpmpSendFunc send,
		     gpointer send_data, GDestroyNotify send_data_free)
{
	PmNatpmpClient *self = g_new0(PmNatpmpClient, 1);
	self->ref_count = 1;
	self->scheduler = scheduler;
	self->gateway = gateway;
	self->port = port;
	self->send = send;
	self->send_data = send_data;
	self->send_data_free = send_data_free;
	g_queue_init(&self->ready_renewals);
	g_queue_init(&self->ready_requests);
	g_queue_init(&self->window);
	g_queue_init(&self->parked);
	pm_timer_init(&self->reset_timer, reset_timer_cb, self);
	self->listeners = g_array_new(FALSE, FALSE, sizeof(Listener));
	self->next_listener_id = 1;
	return self;
}

PmNatpmpClient *
pm_natpmp_client_ref(PmNatpmpClient *self)
{
	self->ref_count++;
	return self;
}

static PmNatpmpCall *
client_first_call(PmNatpmpClient *self)
{
	GQueue *queues[] = {&self->window, &self->parked, &self->ready_renewals,
			    &self->ready_requests};
	for (guint i = 0; i < G_N_ELEMENTS(queues); i++) {
		if (queues[i]->head != NULL)
			return queues[i]->head->data;
	}
	return NULL;
}

/* answer every call still in the client: its owner may hold the handle */
static void
client_close(PmNatpmpClient *self)
{
	g_autofree char *gateway = pm_ipv4_to_string(self->gateway);
	PmNatpmpCall *call;

	self->batch++;
	/* our own: nobody waits for it */
	pm_natpmp_call_cancel(self->public_address_call);
	while ((call = client_first_call(self)) != NULL)
		call_fail(call, "the NAT-PMP client for %s was closed before an answer came",
			  gateway);
	self->batch--;
}

void
pm_natpmp_client_unref(PmNatpmpClient *self)
{
	if (self == NULL || --self->ref_count > 0)
		return;
	/* callbacks may take and drop references meanwhile */
	self->ref_count = 1;
	client_close(self);
	if (--self->ref_count > 0)
		return;
	pm_scheduler_disarm(self->scheduler, &self->reset_timer);
	if (self->send_data_free != NULL)
		self->send_data_free(self->send_data);
	g_clear_pointer(&self->keyed, g_hash_table_unref);
	g_array_unref(self->listeners);
	g_free(self);
}

guint32
pm_natpmp_client_get_gateway(PmNatpmpClient *self)
{
	return self->gateway;
}

guint16
pm_natpmp_client_get_port(PmNatpmpClient *self)
{
	return self->port;
}

guint32
pm_natpmp_client_get_local_address(PmNatpmpClient *self)
{
	return self->local_address;
}

void
pm_natpmp_client_set_local_address(PmNatpmpClient *self, guint32 address)
{
	self->local_address = address;
}

guint32
pm_natpmp_client_get_public_address(PmNatpmpClient *self)
{
	return self->public_address;
}

guint
pm_natpmp_client_get_n_queued(PmNatpmpClient *self)
{
	return self->ready_renewals.length + self->ready_requests.length + self->window.length +
	       self->parked.length;
}

guint
pm_natpmp_client_get_n_in_window(PmNatpmpClient *self)
{
	return self->window.length;
}

PmNatpmpCall *
pm_natpmp_client_call(PmNatpmpClient *self, const PmNatpmpCallOptions *options,
		      PmNatpmpCallFunc func, gpointer user_data)
{
	PmNatpmpCall *call = g_new0(PmNatpmpCall, 1);
	call->client = self;
	call->options = *options;
	if (call->options.give_up_at == 0)
		call->options.give_up_at = G_MAXUINT64;
	call->func = func;
	call->user_data = user_data;
	call->link.data = call;
	pm_timer_init(&call->timer, call_timer_cb, call);
	call_make_ready(call);
	client_pump(self);
	return call;
}

void
pm_natpmp_call_cancel(PmNatpmpCall *call)
{
	PmNatpmpClient *self;
	if (call == NULL)
		return;
	self = call->client;
	/* a late answer to it matches nothing: its key is free again, or taken by a call whose
	 * lifetime tells a grant from a deletion */
	call_release(call);
	g_free(call);
	client_pump(self);
}

static void
public_address_cb(PmNatpmpCall *call, const PmNatpmpResponse *response, const GError *error,
		  gpointer user_data)
{
	PmNatpmpClient *self = user_data;
	g_autofree char *gateway = NULL;

	if (response == NULL && error == NULL)
		return;
	gateway = pm_ipv4_to_string(self->gateway);
	if (error != NULL) {
		pm_log_gateway(G_LOG_LEVEL_INFO, gateway, "public address request to %s failed: %s",
			       gateway, error->message);
		return;
	}
	if (response->result != PM_NATPMP_RESULT_SUCCESS) {
		const char *name = pm_natpmp_result_to_string(response->result);
		pm_log_gateway(G_LOG_LEVEL_INFO, gateway,
			       "gateway %s answered the public address request with result %u (%s)",
			       gateway, response->result, name != NULL ? name : "unknown");
	}
	/* the address itself was taken by receive(), for solicited and unsolicited answers */
}

void
pm_natpmp_client_request_public_address(PmNatpmpClient *self)
{
	PmNatpmpCallOptions options = {
	    .request = {.opcode = PM_NATPMP_OP_PUBLIC_ADDRESS},
	    .priority = PM_NATPMP_PRIORITY_NORMAL,
	    /* a hint, asked again on every announcement and refresh: it must not hold the
	     * FIFO for 127 s in front of mapping requests when the gateway is silent */
	    .max_sends = PUBLIC_ADDRESS_MAX_SENDS,
	    .give_up_at = G_MAXUINT64,
	};
	if (self->public_address_call != NULL)
		return;
	self->public_address_call = pm_natpmp_client_call(self, &options, public_address_cb, self);
}

guint
pm_natpmp_client_add_listener(PmNatpmpClient *self, PmNatpmpResetFunc reset,
			      PmNatpmpAddressFunc address, gpointer user_data)
{
	Listener l = {self->next_listener_id++, reset, address, user_data};
	g_array_append_val(self->listeners, l);
	return l.id;
}

void
pm_natpmp_client_remove_listener(PmNatpmpClient *self, guint id)
{
	for (guint i = 0; i < self->listeners->len; i++) {
		if (g_array_index(self->listeners, Listener, i).id == id) {
			g_array_remove_index(self->listeners, i);
			return;
		}
	}
}

static void
client_set_public_address(PmNatpmpClient *self, guint32 address)
{
	g_autoptr(GArray) listeners = NULL;
	if (self->public_address == address)
		return;
	self->public_address = address;
	listeners = g_array_copy(self->listeners);
	for (guint i = 0; i < listeners->len; i++) {
		Listener *l = &g_array_index(listeners, Listener, i);
		if (l->address != NULL)
			l->address(self, address, l->user_data);
	}
}

/* RFC 6886 §3.6; returns TRUE when the gateway lost its state */
static gboolean
client_check_epoch(PmNatpmpClient *self, guint32 epoch)
{
	guint64 now = pm_scheduler_now(self->scheduler);
	gboolean reset = FALSE;

	if (self->have_epoch)
		reset = pm_natpmp_epoch_is_reset(self->last_epoch, epoch, now - self->last_epoch_at);
	self->have_epoch = TRUE;
	self->last_epoch = epoch;
	self->last_epoch_at = now;
	if (reset && !pm_timer_is_armed(&self->reset_timer)) {
		g_autofree char *gateway = pm_ipv4_to_string(self->gateway);
		guint64 delay = pm_scheduler_random_range(self->scheduler, 0,
							  PM_NATPMP_RESET_DELAY_MAX_USEC + 1);
		pm_log_gateway(G_LOG_LEVEL_MESSAGE, gateway,
			       "NAT-PMP gateway %s lost its mappings (epoch %u): re-creating them "
			       "in %.1f s",
			       gateway, epoch, delay / (double)G_USEC_PER_SEC);
		pm_scheduler_arm(self->scheduler, &self->reset_timer, now + delay);
	}
	return reset;
}

/* the call a reply with an internal port answers, if any */
static PmNatpmpCall *
client_match(PmNatpmpClient *self, const PmNatpmpResponse *response)
{
	PmNatpmpCall *call;
	guint key = ((guint)response->opcode << 16) | response->internal_port;

	if (self->keyed == NULL)
		return NULL;
	call = g_hash_table_lookup(self->keyed, GUINT_TO_POINTER(key));
	if (call == NULL)
		return NULL;
	/* a late grant must not be taken for the deletion that followed it, nor the reverse */
	if (response->opcode != PM_NATPMP_OP_PUBLIC_ADDRESS &&
	    response->result == PM_NATPMP_RESULT_SUCCESS &&
	    (call->options.request.lifetime == 0) != (response->lifetime == 0))
		return NULL;
	return call;
}

static gboolean
call_any(gpointer key, gpointer value, gpointer user_data)
{
	return TRUE;
}

static gboolean
call_has_opcode(gpointer key, gpointer value, gpointer user_data)
{
	PmNatpmpCall *call = value;
	const PmNatpmpResponse *response = user_data;
	/* the server did not read the request: the answer is to whatever was outstanding */
	return response->unsupported_version ||
	       call->options.request.opcode == response->opcode;
}

/* a bare 8-byte failure has no internal port: it answers every sent call of its opcode */
static void
client_answer_bare(PmNatpmpClient *self, const PmNatpmpResponse *response)
{
	PmNatpmpCall *call;

	self->batch++;
	while (self->keyed != NULL &&
	       (call = g_hash_table_find(self->keyed, call_has_opcode, (gpointer)response)) !=
		   NULL)
		call_finish(call, response, NULL);
	self->batch--;
	client_pump(self);
}

void
pm_natpmp_client_receive(PmNatpmpClient *self, const guint8 *buf, gsize len)
{
	PmNatpmpResponse response;
	g_autoptr(GError) error = NULL;
	PmNatpmpCall *call;

	if (!pm_natpmp_decode_response(buf, len, &response, &error)) {
		g_autofree char *gateway = pm_ipv4_to_string(self->gateway);
		pm_log_gateway(G_LOG_LEVEL_DEBUG, gateway,
			       "ignoring a malformed NAT-PMP packet from %s: %s", gateway,
			       error->message);
		return;
	}
	pm_natpmp_client_ref(self);
	/* pre-errata servers send 0 there: no epoch to judge a reset by */
	if (!response.unsupported_version)
		client_check_epoch(self, response.epoch);
	if (response.opcode == PM_NATPMP_OP_PUBLIC_ADDRESS &&
	    response.result == PM_NATPMP_RESULT_SUCCESS)
		client_set_public_address(self, response.public_address);
	if (response.bare && response.opcode != PM_NATPMP_OP_PUBLIC_ADDRESS)
		client_answer_bare(self, &response);
	else if (response.unsupported_version)
		client_answer_bare(self, &response);
	else if ((call = client_match(self, &response)) != NULL)
		call_finish(call, &response, NULL);
	pm_natpmp_client_unref(self);
}

void
pm_natpmp_client_receive_announcement(PmNatpmpClient *self, guint32 source, const guint8 *buf,
				      gsize len)
{
	PmNatpmpResponse response;

	if (source != self->gateway)
		return;
	/* a NAT-PMP announcement carries the epoch; anything else (a PCP ANNOUNCE) is only a
	 * hint, answered by asking the gateway */
	if (pm_natpmp_decode_response(buf, len, &response, NULL) &&
	    response.opcode == PM_NATPMP_OP_PUBLIC_ADDRESS && !response.unsupported_version) {
		pm_natpmp_client_ref(self);
		client_check_epoch(self, response.epoch);
		if (response.result == PM_NATPMP_RESULT_SUCCESS)
			client_set_public_address(self, response.public_address);
		pm_natpmp_client_unref(self);
	}
	pm_natpmp_client_request_public_address(self);
}

void
pm_natpmp_client_refused(PmNatpmpClient *self)
{
	g_autofree char *gateway = NULL;
	PmNatpmpCall *call;

	if (self->keyed == NULL || g_hash_table_size(self->keyed) == 0)
		return;
	gateway = pm_ipv4_to_string(self->gateway);
	/* the refusal is for the port, not for one request: every sent call ends */
	pm_natpmp_client_ref(self);
	self->batch++;
	while ((call = g_hash_table_find(self->keyed, call_any, NULL)) != NULL)
		call_fail(call,
			  "the gateway %s refused NAT-PMP (ICMP port unreachable on port %u): "
			  "enable NAT-PMP on the gateway or set Gateway= to one that has it",
			  gateway, self->port);
	self->batch--;
	client_pump(self);
	pm_natpmp_client_unref(self);
}
