/* SPDX-License-Identifier: GPL-2.0-or-later */
#define G_LOG_DOMAIN "portmapd"

#include "address.h"
#include "errors.h"
#include "log.h"
#include "natpmp-client.h"

#define PUBLIC_ADDRESS_MAX_SENDS 3

struct _PmNatpmpCall {
	PmNatpmpClient *client;
	PmNatpmpCallOptions options;
	PmNatpmpCallFunc func;
	gpointer user_data;
	GList link; /* in one of the queues while queued */
	guint sends;
	guint64 wait;
	gboolean queued;
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

	GQueue renewals;
	GQueue requests;
	PmNatpmpCall *current;
	PmTimer retransmit_timer;

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

static void client_start_next(PmNatpmpClient *self);

static void
call_free(PmNatpmpCall *call)
{
	g_free(call);
}

static void
client_send_current(PmNatpmpClient *self)
{
	PmNatpmpCall *call = self->current;
	guint8 buf[PM_NATPMP_MAP_REQUEST_SIZE];
	gsize len = pm_natpmp_encode_request(&call->options.request, buf);
	guint64 now = pm_scheduler_now(self->scheduler);
	guint64 deadline;

	call->sends++;
	if (call->sends == 1) {
		call->wait = PM_NATPMP_FIRST_WAIT_USEC;
	} else if (call->wait < PM_NATPMP_MAX_WAIT_USEC) {
		call->wait *= 2;
	}
	deadline = now + call->wait;
	/* past the cap, jitter keeps many clients from retrying in step */
	if (call->options.max_sends == 0 && call->wait >= PM_NATPMP_MAX_WAIT_USEC)
		deadline += pm_scheduler_random_range(self->scheduler, 0,
						      PM_NATPMP_MAX_WAIT_USEC / 16);
	if (deadline > call->options.give_up_at)
		deadline = call->options.give_up_at;
	self->send(buf, len, self->send_data);
	pm_scheduler_arm(self->scheduler, &self->retransmit_timer, deadline);
}

/* take the current call off the wire; the caller owns it */
static PmNatpmpCall *
client_take_current(PmNatpmpClient *self)
{
	PmNatpmpCall *call = self->current;
	self->current = NULL;
	pm_scheduler_disarm(self->scheduler, &self->retransmit_timer);
	if (call == self->public_address_call)
		self->public_address_call = NULL;
	return call;
}

static void
client_finish_current(PmNatpmpClient *self, const PmNatpmpResponse *response,
		      const GError *error)
{
	PmNatpmpCall *call = client_take_current(self);
	pm_natpmp_client_ref(self);
	if (call->func != NULL)
		call->func(call, response, error, call->user_data);
	call_free(call);
	client_start_next(self);
	pm_natpmp_client_unref(self);
}

static void
client_start_next(PmNatpmpClient *self)
{
	GList *link;
	PmNatpmpCall *call;

	if (self->current != NULL)
		return;
	link = g_queue_pop_head_link(&self->renewals);
	if (link == NULL)
		link = g_queue_pop_head_link(&self->requests);
	if (link == NULL)
		return;
	call = link->data;
	call->queued = FALSE;
	self->current = call;
	/* too late to send: fail from the timer, never from inside pm_natpmp_client_call() */
	if (pm_scheduler_now(self->scheduler) >= call->options.give_up_at) {
		pm_scheduler_arm(self->scheduler, &self->retransmit_timer,
				 pm_scheduler_now(self->scheduler));
		return;
	}
	client_send_current(self);
}

static void
retransmit_timer_cb(PmTimer *timer, gpointer user_data)
{
	PmNatpmpClient *self = user_data;
	PmNatpmpCall *call = self->current;
	guint64 now = pm_scheduler_now(self->scheduler);
	g_autoptr(GError) error = NULL;
	g_autofree char *gateway = NULL;

	if (call == NULL)
		return;
	gateway = pm_ipv4_to_string(self->gateway);
	if (now >= call->options.give_up_at) {
		error = g_error_new(PM_ERROR, PM_ERROR_GATEWAY_UNREACHABLE,
				    "no answer from the NAT-PMP gateway %s before the lease "
				    "expired (%u requests sent): check the gateway is reachable",
				    gateway, call->sends);
		client_finish_current(self, NULL, error);
		return;
	}
	if (call->options.max_sends != 0 && call->sends >= call->options.max_sends) {
		error = g_error_new(PM_ERROR, PM_ERROR_GATEWAY_UNREACHABLE,
				    "no answer from the NAT-PMP gateway %s after %u requests: "
				    "check it is reachable and has NAT-PMP enabled",
				    gateway, call->sends);
		client_finish_current(self, NULL, error);
		return;
	}
	/* tell the caller a wait went unanswered (a first request becomes "retrying") */
	pm_natpmp_client_ref(self);
	if (call->func != NULL)
		call->func(call, NULL, NULL, call->user_data);
	if (self->current == call)
		client_send_current(self);
	pm_natpmp_client_unref(self);
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
	g_queue_init(&self->renewals);
	g_queue_init(&self->requests);
	pm_timer_init(&self->retransmit_timer, retransmit_timer_cb, self);
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

static void
queue_free_calls(GQueue *queue)
{
	GList *link;
	while ((link = g_queue_pop_head_link(queue)) != NULL)
		call_free(link->data);
}

void
pm_natpmp_client_unref(PmNatpmpClient *self)
{
	if (self == NULL || --self->ref_count > 0)
		return;
	pm_scheduler_disarm(self->scheduler, &self->retransmit_timer);
	pm_scheduler_disarm(self->scheduler, &self->reset_timer);
	if (self->current != NULL)
		call_free(self->current);
	queue_free_calls(&self->renewals);
	queue_free_calls(&self->requests);
	if (self->send_data_free != NULL)
		self->send_data_free(self->send_data);
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
	return self->renewals.length + self->requests.length + (self->current != NULL ? 1 : 0);
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
	call->queued = TRUE;
	if (options->priority == PM_NATPMP_PRIORITY_RENEWAL)
		g_queue_push_tail_link(&self->renewals, &call->link);
	else
		g_queue_push_tail_link(&self->requests, &call->link);
	client_start_next(self);
	return call;
}

void
pm_natpmp_call_cancel(PmNatpmpCall *call)
{
	PmNatpmpClient *self;
	if (call == NULL)
		return;
	self = call->client;
	if (call->queued) {
		if (call->options.priority == PM_NATPMP_PRIORITY_RENEWAL)
			g_queue_unlink(&self->renewals, &call->link);
		else
			g_queue_unlink(&self->requests, &call->link);
		if (call == self->public_address_call)
			self->public_address_call = NULL;
		call_free(call);
		return;
	}
	if (self->current == call) {
		/* a late answer to it is told apart by the matching rules of receive() */
		call_free(client_take_current(self));
		client_start_next(self);
	}
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

static gboolean
response_matches(const PmNatpmpCall *call, const PmNatpmpResponse *response)
{
	const PmNatpmpRequest *req = &call->options.request;
	/* the server did not read the request: the answer is to whatever was outstanding */
	if (response->unsupported_version)
		return TRUE;
	if (response->opcode != req->opcode)
		return FALSE;
	if (req->opcode == PM_NATPMP_OP_PUBLIC_ADDRESS)
		return TRUE;
	if (response->result != PM_NATPMP_RESULT_SUCCESS)
		return response->internal_port == req->internal_port ||
		       response->internal_port == 0;
	if (response->internal_port != req->internal_port)
		return FALSE;
	/* a late grant must not be taken for the deletion that followed it, nor the reverse */
	return (req->lifetime == 0) == (response->lifetime == 0);
}

void
pm_natpmp_client_receive(PmNatpmpClient *self, const guint8 *buf, gsize len)
{
	PmNatpmpResponse response;
	g_autoptr(GError) error = NULL;

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
	if (self->current != NULL && response_matches(self->current, &response))
		client_finish_current(self, &response, NULL);
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
	g_autoptr(GError) error = NULL;
	g_autofree char *gateway = NULL;
	if (self->current == NULL)
		return;
	gateway = pm_ipv4_to_string(self->gateway);
	error = g_error_new(PM_ERROR, PM_ERROR_GATEWAY_UNREACHABLE,
			    "the gateway %s refused NAT-PMP (ICMP port unreachable on port %u): "
			    "enable NAT-PMP on the gateway or set Gateway= to one that has it",
			    gateway, self->port);
	client_finish_current(self, NULL, error);
}
