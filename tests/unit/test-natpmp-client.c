/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <arpa/inet.h>
#include <string.h>

#include "errors.h"
#include "natpmp-client.h"
#include "test-log.h"

#define USEC_PER_MSEC G_GUINT64_CONSTANT(1000)
#define USEC_PER_SEC  G_GUINT64_CONSTANT(1000000)
#define T0	      (1000 * USEC_PER_SEC)
#define REALTIME0     (G_GUINT64_CONSTANT(1700000000) * USEC_PER_SEC)
#define MS(x)	      (T0 + USEC_PER_MSEC * (guint64)(x))
#define GATEWAY	      "192.168.77.1"
#define NOT_GATEWAY   "192.168.77.2"
#define EPOCH0	      4600000 /* a long-running gateway, as ProtonVPN's */

/* warnings are recorded, not fatal: a test that expects none checks the list */

/* one request as the fake gateway saw it */
typedef struct {
	guint64 at;
	PmNatpmpRequest req;
} PmTestSent;

/* the wire to a fake gateway: records every request, the test scripts the answers */
typedef struct {
	PmScheduler *scheduler;
	PmNatpmpClient *client;
	guint32 gateway;
	GArray *sent; /* of PmTestSent */
	guint32 epoch_at_t0;
	/* listener */
	guint listener_id;
	GArray *reset_times;   /* of guint64 */
	GArray *address_times; /* of guint64 */
	guint32 last_address;
	/* names of calls in the order their final callback ran */
	GPtrArray *finished;
} PmTestWire;

typedef enum {
	PM_TEST_EVENT_UNANSWERED,
	PM_TEST_EVENT_RESPONSE,
	PM_TEST_EVENT_ERROR,
} PmTestEventKind;

typedef struct {
	guint64 at;
	PmTestEventKind kind;
	PmNatpmpResponse response;
	GQuark domain;
	gint code;
	char *message;
} PmTestEvent;

/* what one call's callback saw */
typedef struct {
	PmTestWire *wire;
	char *name;
	GArray *events; /* of PmTestEvent */
	PmNatpmpCall *call;
} PmTestCall;

static guint32
pm_test_ipv4(const char *str)
{
	guint32 addr = 0;
	g_assert_cmpint(inet_pton(AF_INET, str, &addr), ==, 1);
	return addr;
}

static void
pm_test_wire_send_cb(const guint8 *buf, gsize len, gpointer user_data)
{
	PmTestWire *w = user_data;
	PmTestSent sent = {0};
	g_autoptr(GError) error = NULL;

	sent.at = pm_scheduler_now(w->scheduler);
	g_assert_true(pm_natpmp_decode_request(buf, len, &sent.req, &error));
	g_assert_no_error(error);
	g_array_append_val(w->sent, sent);
}

static void
pm_test_wire_reset_cb(PmNatpmpClient *client, gpointer user_data)
{
	PmTestWire *w = user_data;
	guint64 now = pm_scheduler_now(w->scheduler);
	g_array_append_val(w->reset_times, now);
}

static void
pm_test_wire_address_cb(PmNatpmpClient *client, guint32 address, gpointer user_data)
{
	PmTestWire *w = user_data;
	guint64 now = pm_scheduler_now(w->scheduler);
	g_array_append_val(w->address_times, now);
	w->last_address = address;
}

static PmTestWire *
pm_test_wire_new(guint32 seed)
{
	PmTestWire *w = g_new0(PmTestWire, 1);
	w->scheduler = pm_scheduler_new_manual(T0, REALTIME0, seed);
	w->gateway = pm_test_ipv4(GATEWAY);
	w->sent = g_array_new(FALSE, TRUE, sizeof(PmTestSent));
	w->reset_times = g_array_new(FALSE, TRUE, sizeof(guint64));
	w->address_times = g_array_new(FALSE, TRUE, sizeof(guint64));
	w->finished = g_ptr_array_new_with_free_func(g_free);
	w->epoch_at_t0 = EPOCH0;
	w->client = pm_natpmp_client_new(w->scheduler,
					 w->gateway,
					 PM_NATPMP_SERVER_PORT,
					 pm_test_wire_send_cb,
					 w,
					 NULL);
	w->listener_id = pm_natpmp_client_add_listener(w->client,
						       pm_test_wire_reset_cb,
						       pm_test_wire_address_cb,
						       w);
	pm_test_log_clear();
	return w;
}

static void
pm_test_wire_free(PmTestWire *w)
{
	if (w->client != NULL)
		pm_natpmp_client_remove_listener(w->client, w->listener_id);
	pm_natpmp_client_unref(w->client);
	pm_scheduler_free(w->scheduler);
	g_array_unref(w->sent);
	g_array_unref(w->reset_times);
	g_array_unref(w->address_times);
	g_ptr_array_unref(w->finished);
	g_free(w);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(PmTestWire, pm_test_wire_free)

/* the epoch of a gateway that has been up all along */
static guint32
pm_test_wire_epoch(PmTestWire *w)
{
	return w->epoch_at_t0 + (guint32)((pm_scheduler_now(w->scheduler) - T0) / USEC_PER_SEC);
}

static void
pm_test_wire_advance(PmTestWire *w, guint64 usec)
{
	pm_scheduler_advance(w->scheduler, usec);
}

/* advance to an absolute virtual instant */
static void
pm_test_wire_advance_to(PmTestWire *w, guint64 at)
{
	guint64 now = pm_scheduler_now(w->scheduler);
	g_assert_cmpuint(at, >=, now);
	pm_scheduler_advance(w->scheduler, at - now);
}

static const PmTestSent *
pm_test_wire_sent(PmTestWire *w, guint idx)
{
	g_assert_cmpuint(idx, <, w->sent->len);
	return &g_array_index(w->sent, PmTestSent, idx);
}

static void
pm_test_assert_sent(PmTestWire *w,
		    guint idx,
		    guint64 at,
		    guint8 opcode,
		    guint16 internal_port,
		    guint16 suggested,
		    guint32 lifetime)
{
	const PmTestSent *s = pm_test_wire_sent(w, idx);
	g_assert_cmpuint(s->at, ==, at);
	g_assert_cmpuint(s->req.opcode, ==, opcode);
	g_assert_cmpuint(s->req.internal_port, ==, internal_port);
	g_assert_cmpuint(s->req.suggested_external_port, ==, suggested);
	g_assert_cmpuint(s->req.lifetime, ==, lifetime);
}

static void
pm_test_wire_receive(PmTestWire *w, const PmNatpmpResponse *resp)
{
	guint8 buf[PM_NATPMP_MAX_PACKET_SIZE];
	gsize len = pm_natpmp_encode_response(resp, buf);
	pm_natpmp_client_receive(w->client, buf, len);
}

static void
pm_test_wire_receive_map(PmTestWire *w,
			 guint8 opcode,
			 guint16 result,
			 guint16 internal_port,
			 guint16 external_port,
			 guint32 lifetime)
{
	PmNatpmpResponse resp = {
	    .opcode = opcode,
	    .result = result,
	    .epoch = pm_test_wire_epoch(w),
	    .internal_port = internal_port,
	    .external_port = external_port,
	    .lifetime = lifetime,
	};
	pm_test_wire_receive(w, &resp);
}

static void
pm_test_wire_receive_address(PmTestWire *w, guint32 epoch, const char *address)
{
	PmNatpmpResponse resp = {
	    .opcode = PM_NATPMP_OP_PUBLIC_ADDRESS,
	    .epoch = epoch,
	    .public_address = pm_test_ipv4(address),
	};
	pm_test_wire_receive(w, &resp);
}

static void
pm_test_wire_announce(PmTestWire *w, const char *source, guint32 epoch, const char *address)
{
	guint8 buf[PM_NATPMP_MAX_PACKET_SIZE];
	PmNatpmpResponse resp = {
	    .opcode = PM_NATPMP_OP_PUBLIC_ADDRESS,
	    .epoch = epoch,
	    .public_address = pm_test_ipv4(address),
	};
	gsize len = pm_natpmp_encode_response(&resp, buf);
	pm_natpmp_client_receive_announcement(w->client, pm_test_ipv4(source), buf, len);
}

static void
pm_test_event_clear(gpointer data)
{
	PmTestEvent *ev = data;
	g_free(ev->message);
}

static void
pm_test_call_cb(PmNatpmpCall *call,
		const PmNatpmpResponse *response,
		const GError *error,
		gpointer user_data)
{
	PmTestCall *c = user_data;
	PmTestEvent ev = {0};

	g_assert_true(call == c->call);
	ev.at = pm_scheduler_now(c->wire->scheduler);
	if (response != NULL) {
		g_assert_null(error);
		ev.kind = PM_TEST_EVENT_RESPONSE;
		ev.response = *response;
	} else if (error != NULL) {
		ev.kind = PM_TEST_EVENT_ERROR;
		ev.domain = error->domain;
		ev.code = error->code;
		ev.message = g_strdup(error->message);
	} else {
		ev.kind = PM_TEST_EVENT_UNANSWERED;
	}
	g_array_append_val(c->events, ev);
	if (ev.kind != PM_TEST_EVENT_UNANSWERED) {
		c->call = NULL;
		g_ptr_array_add(c->wire->finished, g_strdup(c->name));
	}
}

static PmTestCall *
pm_test_call_new(PmTestWire *w, const char *name)
{
	PmTestCall *c = g_new0(PmTestCall, 1);
	c->wire = w;
	c->name = g_strdup(name);
	c->events = g_array_new(FALSE, TRUE, sizeof(PmTestEvent));
	g_array_set_clear_func(c->events, pm_test_event_clear);
	return c;
}

static void
pm_test_call_free(PmTestCall *c)
{
	g_free(c->name);
	g_array_unref(c->events);
	g_free(c);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(PmTestCall, pm_test_call_free)

static void
pm_test_call_start(PmTestCall *c,
		   guint8 opcode,
		   guint16 internal_port,
		   guint16 suggested,
		   guint32 lifetime,
		   PmNatpmpPriority priority,
		   guint max_sends,
		   guint64 give_up_at)
{
	PmNatpmpCallOptions options = {
	    .request =
		{
		    .opcode = opcode,
		    .internal_port = internal_port,
		    .suggested_external_port = suggested,
		    .lifetime = lifetime,
		},
	    .priority = priority,
	    .max_sends = max_sends,
	    .give_up_at = give_up_at,
	};
	c->call = pm_natpmp_client_call(c->wire->client, &options, pm_test_call_cb, c);
	g_assert_nonnull(c->call);
}

/* a TCP map request with the RFC schedule */
static void
pm_test_call_map(PmTestCall *c, guint16 internal_port, guint32 lifetime, PmNatpmpPriority priority)
{
	pm_test_call_start(c,
			   PM_NATPMP_OP_MAP_TCP,
			   internal_port,
			   lifetime != 0 ? internal_port : 0,
			   lifetime,
			   priority,
			   PM_NATPMP_RFC_MAX_SENDS,
			   G_MAXUINT64);
}

static const PmTestEvent *
pm_test_call_event(PmTestCall *c, guint idx)
{
	g_assert_cmpuint(idx, <, c->events->len);
	return &g_array_index(c->events, PmTestEvent, idx);
}

/* 1: RFC 6886 §3.1 against a silent gateway */
static void
pm_test_client_retransmit_silent(void)
{
	g_autoptr(PmTestWire) w = pm_test_wire_new(1);
	g_autoptr(PmTestCall) c = pm_test_call_new(w, "map");
	const guint64 sends_ms[] = {0, 250, 750, 1750, 3750, 7750, 15750, 31750, 63750};
	const PmTestEvent *ev;

	pm_test_call_map(c, 6881, 7200, PM_NATPMP_PRIORITY_NORMAL);
	/* the first send goes out from inside the call */
	g_assert_cmpuint(w->sent->len, ==, 1);
	pm_test_wire_advance(w, 200 * USEC_PER_SEC);

	g_assert_cmpuint(w->sent->len, ==, G_N_ELEMENTS(sends_ms));
	for (guint i = 0; i < G_N_ELEMENTS(sends_ms); i++)
		pm_test_assert_sent(w, i, MS(sends_ms[i]), PM_NATPMP_OP_MAP_TCP, 6881, 6881, 7200);

	/* an unanswered callback at each retransmission, then the failure */
	g_assert_cmpuint(c->events->len, ==, G_N_ELEMENTS(sends_ms));
	for (guint i = 1; i < G_N_ELEMENTS(sends_ms); i++) {
		ev = pm_test_call_event(c, i - 1);
		g_assert_cmpint(ev->kind, ==, PM_TEST_EVENT_UNANSWERED);
		g_assert_cmpuint(ev->at, ==, MS(sends_ms[i]));
	}
	ev = pm_test_call_event(c, G_N_ELEMENTS(sends_ms) - 1);
	g_assert_cmpint(ev->kind, ==, PM_TEST_EVENT_ERROR);
	g_assert_cmpuint(ev->at, ==, MS(127750));
	g_assert_cmpuint(ev->domain, ==, PM_ERROR);
	g_assert_cmpint(ev->code, ==, PM_ERROR_GATEWAY_UNREACHABLE);
	g_assert_nonnull(strstr(ev->message, GATEWAY));
	g_assert_cmpuint(pm_natpmp_client_get_n_queued(w->client), ==, 0);
	g_assert_cmpuint(pm_scheduler_get_n_armed(w->scheduler), ==, 0);
	pm_test_assert_no_warnings();
}

/* 2: never past give_up_at (a lease's expiry) */
static void
pm_test_client_give_up_at(void)
{
	g_autoptr(PmTestWire) w = pm_test_wire_new(1);
	g_autoptr(PmTestCall) c = pm_test_call_new(w, "renew");
	g_autoptr(PmTestCall) first = pm_test_call_new(w, "first");
	g_autoptr(PmTestCall) late = pm_test_call_new(w, "late");
	const guint64 sends_ms[] = {0, 250, 750, 1750, 3750};
	const PmTestEvent *ev;

	pm_test_call_start(c,
			   PM_NATPMP_OP_MAP_UDP,
			   6881,
			   40000,
			   7200,
			   PM_NATPMP_PRIORITY_RENEWAL,
			   PM_NATPMP_RFC_MAX_SENDS,
			   MS(5000));
	pm_test_wire_advance(w, 60 * USEC_PER_SEC);

	g_assert_cmpuint(w->sent->len, ==, G_N_ELEMENTS(sends_ms));
	for (guint i = 0; i < G_N_ELEMENTS(sends_ms); i++)
		pm_test_assert_sent(w, i, MS(sends_ms[i]), PM_NATPMP_OP_MAP_UDP, 6881, 40000, 7200);
	g_assert_cmpuint(c->events->len, ==, G_N_ELEMENTS(sends_ms));
	for (guint i = 1; i < G_N_ELEMENTS(sends_ms); i++) {
		ev = pm_test_call_event(c, i - 1);
		g_assert_cmpint(ev->kind, ==, PM_TEST_EVENT_UNANSWERED);
		g_assert_cmpuint(ev->at, ==, MS(sends_ms[i]));
	}
	ev = pm_test_call_event(c, G_N_ELEMENTS(sends_ms) - 1);
	g_assert_cmpint(ev->kind, ==, PM_TEST_EVENT_ERROR);
	g_assert_cmpuint(ev->at, ==, MS(5000));
	g_assert_cmpint(ev->code, ==, PM_ERROR_GATEWAY_UNREACHABLE);

	/* a call whose give-up instant passes while it waits in the queue (its key is taken
	 * by a call on the wire) is never sent, and fails at that instant */
	g_array_set_size(w->sent, 0);
	pm_test_call_map(first, 1000, 7200, PM_NATPMP_PRIORITY_NORMAL);
	pm_test_call_start(late,
			   PM_NATPMP_OP_MAP_TCP,
			   1000,
			   1000,
			   7200,
			   PM_NATPMP_PRIORITY_RENEWAL,
			   PM_NATPMP_RFC_MAX_SENDS,
			   pm_scheduler_now(w->scheduler) + 5 * USEC_PER_SEC);
	pm_test_wire_advance(w, 200 * USEC_PER_SEC);
	g_assert_cmpuint(w->sent->len, ==, 9);
	for (guint i = 0; i < w->sent->len; i++)
		g_assert_cmpuint(pm_test_wire_sent(w, i)->req.lifetime, ==, 7200);
	g_assert_cmpuint(late->events->len, ==, 1);
	ev = pm_test_call_event(late, 0);
	g_assert_cmpint(ev->kind, ==, PM_TEST_EVENT_ERROR);
	g_assert_cmpuint(ev->at, ==, MS(5000) + 60 * USEC_PER_SEC);
	g_assert_cmpint(ev->code, ==, PM_ERROR_GATEWAY_UNREACHABLE);
	pm_test_assert_no_warnings();
}

/* 3: max_sends 0: no give-up, waits capped at 64 s plus jitter */
static void
pm_test_client_unlimited(void)
{
	g_autoptr(PmTestWire) w = pm_test_wire_new(7);
	g_autoptr(PmTestCall) c = pm_test_call_new(w, "acquire");
	const guint64 sends_ms[] = {0, 250, 750, 1750, 3750, 7750, 15750, 31750, 63750};
	gboolean jittered = FALSE;
	guint64 last;

	pm_test_call_start(c,
			   PM_NATPMP_OP_MAP_TCP,
			   6881,
			   6881,
			   7200,
			   PM_NATPMP_PRIORITY_NORMAL,
			   0,
			   G_MAXUINT64);
	pm_test_wire_advance(w, 600 * USEC_PER_SEC);

	for (guint i = 0; i < G_N_ELEMENTS(sends_ms); i++)
		pm_test_assert_sent(w, i, MS(sends_ms[i]), PM_NATPMP_OP_MAP_TCP, 6881, 6881, 7200);
	/* 63.75 s, then waits of 64 s + [0, 4 s) until 600 s: at least 7 more sends */
	g_assert_cmpuint(w->sent->len, >=, G_N_ELEMENTS(sends_ms) + 7);
	for (guint i = G_N_ELEMENTS(sends_ms); i < w->sent->len; i++) {
		guint64 gap = pm_test_wire_sent(w, i)->at - pm_test_wire_sent(w, i - 1)->at;
		g_assert_cmpuint(gap, >=, 64 * USEC_PER_SEC);
		g_assert_cmpuint(gap, <, 68 * USEC_PER_SEC);
		if (gap > 64 * USEC_PER_SEC)
			jittered = TRUE;
	}
	g_assert_true(jittered);
	/* still sending after ten minutes, never failed */
	last = pm_test_wire_sent(w, w->sent->len - 1)->at;
	g_assert_cmpuint(last, >, MS(600000) - 68 * USEC_PER_SEC);
	for (guint i = 0; i < c->events->len; i++)
		g_assert_cmpint(pm_test_call_event(c, i)->kind, ==, PM_TEST_EVENT_UNANSWERED);
	g_assert_cmpuint(c->events->len, ==, w->sent->len - 1);
	g_assert_nonnull(c->call);
	g_assert_cmpuint(pm_natpmp_client_get_n_queued(w->client), ==, 1);

	/* an answer ends it */
	pm_test_wire_receive_map(w, PM_NATPMP_OP_MAP_TCP, 0, 6881, 6881, 7200);
	g_assert_cmpint(pm_test_call_event(c, c->events->len - 1)->kind,
			==,
			PM_TEST_EVENT_RESPONSE);
	g_assert_cmpuint(pm_natpmp_client_get_n_queued(w->client), ==, 0);
	pm_test_assert_no_warnings();
}

/* 4: requests with distinct keys go out together, at most PM_NATPMP_WINDOW of them waiting
 * for an answer; renewals first when a place frees; a request whose wait ran out yields
 * its place to the ones that waited; cancellation */
static void
pm_test_client_window(void)
{
	g_autoptr(PmTestWire) w = pm_test_wire_new(1);
	g_autoptr(GPtrArray) calls = g_ptr_array_new_with_free_func((GDestroyNotify)pm_test_call_free);
	g_autoptr(PmTestCall) r = pm_test_call_new(w, "r");
	g_autoptr(PmTestCall) x = pm_test_call_new(w, "x");
	g_autoptr(PmTestCall) y = pm_test_call_new(w, "y");
	g_autoptr(PmTestCall) del = pm_test_call_new(w, "del");
	g_autoptr(PmTestCall) map = pm_test_call_new(w, "map");

	for (guint i = 0; i < PM_NATPMP_WINDOW + 2; i++) {
		g_autofree char *name = g_strdup_printf("c%u", i);
		PmTestCall *c = pm_test_call_new(w, name);
		g_ptr_array_add(calls, c);
		pm_test_call_map(c, 1000 + i, 7200, PM_NATPMP_PRIORITY_NORMAL);
	}
	g_assert_cmpuint(w->sent->len, ==, PM_NATPMP_WINDOW);
	g_assert_cmpuint(pm_natpmp_client_get_n_in_window(w->client), ==, PM_NATPMP_WINDOW);
	g_assert_cmpuint(pm_natpmp_client_get_n_queued(w->client), ==, PM_NATPMP_WINDOW + 2);
	for (guint i = 0; i < PM_NATPMP_WINDOW; i++)
		pm_test_assert_sent(w, i, T0, PM_NATPMP_OP_MAP_TCP, 1000 + i, 1000 + i, 7200);

	/* a renewal goes ahead of the two new requests that waited longer */
	pm_test_call_start(r,
			   PM_NATPMP_OP_MAP_UDP,
			   3000,
			   3000,
			   7200,
			   PM_NATPMP_PRIORITY_RENEWAL,
			   PM_NATPMP_RFC_MAX_SENDS,
			   G_MAXUINT64);
	g_assert_cmpuint(w->sent->len, ==, PM_NATPMP_WINDOW);
	pm_test_wire_receive_map(w, PM_NATPMP_OP_MAP_TCP, 0, 1000, 1000, 7200);
	g_assert_cmpuint(w->sent->len, ==, PM_NATPMP_WINDOW + 1);
	pm_test_assert_sent(w, PM_NATPMP_WINDOW, T0, PM_NATPMP_OP_MAP_UDP, 3000, 3000, 7200);

	/* 250 ms: every wait in the window ran out; the two that never went out go first,
	 * then the retransmissions, as places free */
	pm_test_wire_advance(w, 250 * USEC_PER_MSEC);
	g_assert_cmpuint(w->sent->len, ==, 2 * PM_NATPMP_WINDOW + 1);
	pm_test_assert_sent(w, PM_NATPMP_WINDOW + 1, MS(250), PM_NATPMP_OP_MAP_TCP, 1008, 1008, 7200);
	pm_test_assert_sent(w, PM_NATPMP_WINDOW + 2, MS(250), PM_NATPMP_OP_MAP_TCP, 1009, 1009, 7200);
	g_assert_cmpuint(pm_natpmp_client_get_n_in_window(w->client), ==, PM_NATPMP_WINDOW);
	g_assert_cmpuint(pm_natpmp_client_get_n_queued(w->client), ==, PM_NATPMP_WINDOW + 2);

	/* every answer ends its own call, in any order */
	pm_test_wire_receive_map(w, PM_NATPMP_OP_MAP_UDP, 0, 3000, 3000, 7200);
	for (guint i = PM_NATPMP_WINDOW + 1; i > 1; i--)
		pm_test_wire_receive_map(w, PM_NATPMP_OP_MAP_TCP, 0, 1000 + i, 1000 + i, 7200);
	pm_test_wire_receive_map(w, PM_NATPMP_OP_MAP_TCP, 0, 1001, 1001, 7200);
	g_assert_cmpuint(pm_natpmp_client_get_n_queued(w->client), ==, 0);
	g_assert_cmpuint(w->finished->len, ==, PM_NATPMP_WINDOW + 3);
	g_assert_cmpstr(w->finished->pdata[0], ==, "c0");
	g_assert_cmpstr(w->finished->pdata[1], ==, "r");
	g_assert_cmpstr(w->finished->pdata[2], ==, "c9");
	for (guint i = 0; i < calls->len; i++) {
		PmTestCall *c = g_ptr_array_index(calls, i);
		g_assert_cmpuint(c->events->len, >=, 1);
		g_assert_cmpint(pm_test_call_event(c, c->events->len - 1)->kind,
				==,
				PM_TEST_EVENT_RESPONSE);
		g_assert_cmpuint(pm_test_call_event(c, c->events->len - 1)->response.internal_port,
				 ==,
				 1000 + i);
	}
	g_assert_cmpuint(pm_scheduler_get_n_armed(w->scheduler), ==, 0);

	/* cancel a queued call (its key taken): it is never sent and its callback never runs */
	g_array_set_size(w->sent, 0);
	pm_test_call_map(x, 4000, 7200, PM_NATPMP_PRIORITY_NORMAL);
	pm_test_call_map(y, 4000, 7200, PM_NATPMP_PRIORITY_NORMAL);
	pm_natpmp_call_cancel(y->call);
	g_assert_cmpuint(pm_natpmp_client_get_n_queued(w->client), ==, 1);
	pm_test_wire_receive_map(w, PM_NATPMP_OP_MAP_TCP, 0, 4000, 4000, 7200);
	pm_test_wire_advance(w, 200 * USEC_PER_SEC);
	g_assert_cmpuint(w->sent->len, ==, 1);
	g_assert_cmpuint(y->events->len, ==, 0);
	g_assert_cmpuint(x->events->len, ==, 1);

	/* cancel the call in flight: the one with its key starts at once; the late grant of the
	 * cancelled map request is not taken for the deletion of the same port */
	g_array_set_size(w->sent, 0);
	pm_test_call_map(map, 6000, 7200, PM_NATPMP_PRIORITY_NORMAL);
	pm_test_call_map(del, 6000, 0, PM_NATPMP_PRIORITY_NORMAL);
	pm_test_wire_advance(w, 100 * USEC_PER_MSEC);
	pm_natpmp_call_cancel(map->call);
	g_assert_cmpuint(w->sent->len, ==, 2);
	pm_test_assert_sent(w, 1, pm_scheduler_now(w->scheduler), PM_NATPMP_OP_MAP_TCP, 6000, 0, 0);
	pm_test_wire_receive_map(w, PM_NATPMP_OP_MAP_TCP, 0, 6000, 6000, 7200);
	g_assert_cmpuint(del->events->len, ==, 0);
	g_assert_cmpuint(map->events->len, ==, 0);
	/* the deletion keeps its own schedule from when it started */
	pm_test_wire_advance(w, 250 * USEC_PER_MSEC);
	g_assert_cmpuint(w->sent->len, ==, 3);
	g_assert_cmpuint(pm_test_wire_sent(w, 2)->req.lifetime, ==, 0);
	g_assert_cmpuint(pm_test_wire_sent(w, 2)->at - pm_test_wire_sent(w, 1)->at,
			 ==,
			 250 * USEC_PER_MSEC);
	pm_test_wire_receive_map(w, PM_NATPMP_OP_MAP_TCP, 0, 6000, 0, 0);
	g_assert_cmpuint(del->events->len, ==, 2);
	g_assert_cmpint(pm_test_call_event(del, 1)->kind, ==, PM_TEST_EVENT_RESPONSE);
	g_assert_cmpuint(pm_test_call_event(del, 1)->response.lifetime, ==, 0);
	g_assert_cmpuint(map->events->len, ==, 0);
	pm_test_wire_advance(w, 200 * USEC_PER_SEC);
	g_assert_cmpuint(w->sent->len, ==, 3);
	pm_test_assert_no_warnings();
}

/* 4b: the reverse: a late deletion ack is not a grant */
static void
pm_test_client_cancel_late_delete(void)
{
	g_autoptr(PmTestWire) w = pm_test_wire_new(1);
	g_autoptr(PmTestCall) del = pm_test_call_new(w, "del");
	g_autoptr(PmTestCall) map = pm_test_call_new(w, "map");

	pm_test_call_map(del, 6000, 0, PM_NATPMP_PRIORITY_NORMAL);
	pm_test_call_map(map, 6000, 7200, PM_NATPMP_PRIORITY_NORMAL);
	pm_natpmp_call_cancel(del->call);
	g_assert_cmpuint(w->sent->len, ==, 2);
	pm_test_assert_sent(w, 1, T0, PM_NATPMP_OP_MAP_TCP, 6000, 6000, 7200);
	pm_test_wire_receive_map(w, PM_NATPMP_OP_MAP_TCP, 0, 6000, 0, 0);
	g_assert_cmpuint(map->events->len, ==, 0);
	pm_test_wire_receive_map(w, PM_NATPMP_OP_MAP_TCP, 0, 6000, 6001, 7200);
	g_assert_cmpuint(map->events->len, ==, 1);
	g_assert_cmpuint(pm_test_call_event(map, 0)->response.external_port, ==, 6001);
	g_assert_cmpuint(del->events->len, ==, 0);
	pm_test_assert_no_warnings();
}

/* 5: only a response to the request on the wire ends it */
static void
pm_test_client_matching(void)
{
	g_autoptr(PmTestWire) w = pm_test_wire_new(1);
	g_autoptr(PmTestCall) c = pm_test_call_new(w, "map");
	g_autoptr(PmTestCall) e = pm_test_call_new(w, "error");
	const guint8 too_short[] = {0x00, 0x82, 0x00};
	const guint8 bad_version[] = {0x01,
				      0x82,
				      0x00,
				      0x00,
				      0x00,
				      0x46,
				      0x3c,
				      0x7e,
				      0x1a,
				      0xe1,
				      0x1a,
				      0xe1,
				      0x00,
				      0x00,
				      0x1c,
				      0x20};
	const guint8 request[] =
	    {0x00, 0x02, 0x00, 0x00, 0x1a, 0xe1, 0x1a, 0xe1, 0x00, 0x00, 0x1c, 0x20};
	const guint8 truncated[] = {0x00, 0x82, 0x00, 0x00, 0x00, 0x46, 0x3c, 0x7e, 0x1a, 0xe1};
	guint8 header[PM_NATPMP_MAX_PACKET_SIZE];
	PmNatpmpResponse unsupported = {
	    .opcode = PM_NATPMP_OP_MAP_UDP,
	    .result = PM_NATPMP_RESULT_UNSUPPORTED_VERSION,
	};
	const PmTestEvent *ev;

	pm_test_call_map(c, 6881, 7200, PM_NATPMP_PRIORITY_NORMAL);
	pm_test_wire_advance(w, 100 * USEC_PER_MSEC);

	/* wrong opcode, wrong internal port (success or failure), a deletion ack */
	pm_test_wire_receive_map(w, PM_NATPMP_OP_MAP_UDP, 0, 6881, 6881, 7200);
	pm_test_wire_receive_map(w, PM_NATPMP_OP_MAP_TCP, 0, 6882, 6882, 7200);
	pm_test_wire_receive_map(w, PM_NATPMP_OP_MAP_TCP, 3, 6882, 0, 0);
	pm_test_wire_receive_map(w, PM_NATPMP_OP_MAP_TCP, 0, 6881, 0, 0);
	pm_test_wire_receive_address(w, pm_test_wire_epoch(w), "203.0.113.5");
	/* malformed */
	pm_natpmp_client_receive(w->client, too_short, sizeof(too_short));
	pm_natpmp_client_receive(w->client, bad_version, sizeof(bad_version));
	pm_natpmp_client_receive(w->client, request, sizeof(request));
	pm_natpmp_client_receive(w->client, truncated, sizeof(truncated));
	pm_natpmp_client_receive(w->client, NULL, 0);
	g_assert_cmpuint(c->events->len, ==, 0);

	/* still waiting: retransmitted on schedule */
	pm_test_wire_advance_to(w, MS(250));
	g_assert_cmpuint(w->sent->len, ==, 2);
	pm_test_assert_sent(w, 1, MS(250), PM_NATPMP_OP_MAP_TCP, 6881, 6881, 7200);
	g_assert_cmpuint(c->events->len, ==, 1);
	g_assert_cmpint(pm_test_call_event(c, 0)->kind, ==, PM_TEST_EVENT_UNANSWERED);

	pm_test_wire_advance(w, 10 * USEC_PER_MSEC);
	pm_test_wire_receive_map(w, PM_NATPMP_OP_MAP_TCP, 0, 6881, 40000, 3600);
	g_assert_cmpuint(c->events->len, ==, 2);
	ev = pm_test_call_event(c, 1);
	g_assert_cmpint(ev->kind, ==, PM_TEST_EVENT_RESPONSE);
	g_assert_cmpuint(ev->at, ==, MS(260));
	g_assert_cmpuint(ev->response.opcode, ==, PM_NATPMP_OP_MAP_TCP);
	g_assert_cmpuint(ev->response.internal_port, ==, 6881);
	g_assert_cmpuint(ev->response.external_port, ==, 40000);
	g_assert_cmpuint(ev->response.lifetime, ==, 3600);
	/* nothing more on the wire */
	pm_test_wire_advance(w, 200 * USEC_PER_SEC);
	g_assert_cmpuint(w->sent->len, ==, 2);

	/* a bare 8-byte error header (unsupported version) ends the call: judging the
	 * result is the caller's */
	pm_test_call_start(e,
			   PM_NATPMP_OP_MAP_UDP,
			   6881,
			   6881,
			   7200,
			   PM_NATPMP_PRIORITY_NORMAL,
			   PM_NATPMP_RFC_MAX_SENDS,
			   G_MAXUINT64);
	unsupported.epoch = pm_test_wire_epoch(w);
	pm_natpmp_encode_response(&unsupported, header);
	pm_natpmp_client_receive(w->client, header, PM_NATPMP_ERROR_RESPONSE_SIZE);
	g_assert_cmpuint(e->events->len, ==, 1);
	ev = pm_test_call_event(e, 0);
	g_assert_cmpint(ev->kind, ==, PM_TEST_EVENT_RESPONSE);
	g_assert_cmpuint(ev->response.result, ==, PM_NATPMP_RESULT_UNSUPPORTED_VERSION);

	/* the server did not read the request, so the answer's opcode need not be the
	 * request's: errata 3618's 128, and the RFC figure's 0 with an epoch of 0, which is
	 * no reboot of the gateway */
	for (guint i = 0; i < 2; i++) {
		g_autoptr(PmTestCall) v = pm_test_call_new(w, "version");
		const guint8 answers[2][8] = {{0x00, 0x80, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00},
					      {0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00}};
		guint8 answer[8];

		memcpy(answer, answers[i], sizeof(answer));
		if (i == 0) {
			guint32 epoch_be = GUINT32_TO_BE(pm_test_wire_epoch(w));
			memcpy(answer + 4, &epoch_be, sizeof(epoch_be));
		}
		pm_test_call_map(v, 6882, 7200, PM_NATPMP_PRIORITY_NORMAL);
		pm_natpmp_client_receive(w->client, answer, sizeof(answer));
		g_assert_cmpuint(v->events->len, ==, 1);
		ev = pm_test_call_event(v, 0);
		g_assert_cmpint(ev->kind, ==, PM_TEST_EVENT_RESPONSE);
		g_assert_cmpuint(ev->response.result, ==, PM_NATPMP_RESULT_UNSUPPORTED_VERSION);
		g_assert_true(ev->response.unsupported_version);
	}
	pm_test_wire_advance(w, 10 * USEC_PER_SEC);
	g_assert_cmpuint(w->reset_times->len, ==, 0);
	pm_test_assert_no_warnings();
}

/* 6: ICMP port unreachable */
static void
pm_test_client_refused(void)
{
	g_autoptr(PmTestWire) w = pm_test_wire_new(1);
	g_autoptr(PmTestCall) a = pm_test_call_new(w, "a");
	g_autoptr(PmTestCall) b = pm_test_call_new(w, "b");
	const PmTestEvent *ev;

	/* nothing in flight: nothing happens */
	pm_natpmp_client_refused(w->client);

	pm_test_call_map(a, 1000, 7200, PM_NATPMP_PRIORITY_NORMAL);
	pm_test_call_map(b, 2000, 7200, PM_NATPMP_PRIORITY_NORMAL);
	pm_test_wire_advance(w, 300 * USEC_PER_MSEC);
	g_assert_cmpuint(w->sent->len, ==, 4);
	pm_natpmp_client_refused(w->client);

	/* the refusal is for the port: both calls end at once */
	for (guint i = 0; i < 2; i++) {
		PmTestCall *c = i == 0 ? a : b;
		g_assert_cmpuint(c->events->len, ==, 2);
		ev = pm_test_call_event(c, 1);
		g_assert_cmpint(ev->kind, ==, PM_TEST_EVENT_ERROR);
		g_assert_cmpuint(ev->at, ==, MS(300));
		g_assert_cmpuint(ev->domain, ==, PM_ERROR);
		g_assert_cmpint(ev->code, ==, PM_ERROR_GATEWAY_UNREACHABLE);
		g_assert_nonnull(strstr(ev->message, "ICMP"));
	}
	g_assert_cmpuint(pm_natpmp_client_get_n_queued(w->client), ==, 0);
	pm_test_wire_advance(w, 200 * USEC_PER_SEC);
	g_assert_cmpuint(w->sent->len, ==, 4);
	pm_test_assert_no_warnings();
}

/* a public address request answered at once with @epoch */
static void
pm_test_wire_ask_address(PmTestWire *w, guint32 epoch, const char *address)
{
	guint n = w->sent->len;
	pm_natpmp_client_request_public_address(w->client);
	g_assert_cmpuint(w->sent->len, ==, n + 1);
	g_assert_cmpuint(pm_test_wire_sent(w, n)->req.opcode, ==, PM_NATPMP_OP_PUBLIC_ADDRESS);
	pm_test_wire_receive_address(w, epoch, address);
	g_assert_cmpuint(pm_natpmp_client_get_n_queued(w->client), ==, 0);
}

/* 7a: a gateway that keeps running never triggers a reset */
static void
pm_test_client_epoch_progress(void)
{
	g_autoptr(PmTestWire) w = pm_test_wire_new(1);

	pm_test_wire_ask_address(w, EPOCH0, "203.0.113.5");
	pm_test_wire_advance(w, 100 * USEC_PER_SEC);
	pm_test_wire_ask_address(w, EPOCH0 + 100, "203.0.113.5");
	/* the same epoch a moment later, and one a second behind */
	pm_test_wire_advance(w, 500 * USEC_PER_MSEC);
	pm_test_wire_ask_address(w, EPOCH0 + 100, "203.0.113.5");
	pm_test_wire_ask_address(w, EPOCH0 + 99, "203.0.113.5");
	/* a gateway clock 1/8 slower than ours is fine: 1000 s later, 875 s more */
	pm_test_wire_advance(w, 1000 * USEC_PER_SEC);
	pm_test_wire_ask_address(w, EPOCH0 + 99 + 875, "203.0.113.5");
	/* announcements on the way */
	pm_test_wire_announce(w, GATEWAY, EPOCH0 + 99 + 876, "203.0.113.5");
	pm_test_wire_receive_address(w, EPOCH0 + 99 + 876, "203.0.113.5");
	pm_test_wire_advance(w, 100 * USEC_PER_SEC);
	g_assert_cmpuint(w->reset_times->len, ==, 0);
	pm_test_assert_no_warnings();
}

/* 7b: a reboot seen by several packets: one reset after a uniform 0–5 s delay; with
 * @late_after, one more packet showing the reset arrives that long after the first */
static guint64
pm_test_client_reset_delay(guint32 seed, guint64 late_after)
{
	g_autoptr(PmTestWire) w = pm_test_wire_new(seed);
	guint64 seen_at;
	guint64 delay;

	pm_test_wire_ask_address(w, EPOCH0, "203.0.113.5");
	pm_test_wire_advance(w, 10 * USEC_PER_SEC);
	seen_at = pm_scheduler_now(w->scheduler);
	/* the gateway rebooted 3 s ago: the answer, an announcement and the answer to the
	 * request that announcement triggers all show it */
	pm_test_wire_ask_address(w, 3, "203.0.113.5");
	pm_test_wire_announce(w, GATEWAY, 3, "203.0.113.5");
	pm_test_wire_receive_address(w, 1, "203.0.113.5");
	g_assert_cmpuint(w->reset_times->len, ==, 0);
	if (late_after != G_MAXUINT64) {
		pm_test_wire_advance(w, late_after);
		g_assert_cmpuint(w->reset_times->len, ==, 0);
		pm_test_wire_announce(w, GATEWAY, 0, "203.0.113.5");
	}
	pm_test_wire_advance_to(w, seen_at + 6 * USEC_PER_SEC);
	g_assert_cmpuint(w->reset_times->len, ==, 1);
	delay = g_array_index(w->reset_times, guint64, 0) - seen_at;
	g_assert_cmpuint(delay, <=, PM_NATPMP_RESET_DELAY_MAX_USEC);
	/* once */
	pm_test_wire_advance(w, 100 * USEC_PER_SEC);
	g_assert_cmpuint(w->reset_times->len, ==, 1);
	return delay;
}

static void
pm_test_client_epoch_reset(void)
{
	guint64 delay1 = pm_test_client_reset_delay(1, G_MAXUINT64);
	guint64 delay2 = pm_test_client_reset_delay(2, G_MAXUINT64);
	guint64 max_delay = 0;

	g_test_message("reset delays: %" G_GUINT64_FORMAT " and %" G_GUINT64_FORMAT " us",
		       delay1,
		       delay2);
	/* random, not fixed */
	g_assert_cmpuint(delay1, !=, delay2);

	/* uniform over the whole 0–5 s, never more */
	for (guint32 seed = 1; seed <= 20; seed++)
		max_delay = MAX(max_delay, pm_test_client_reset_delay(seed, G_MAXUINT64));
	g_assert_cmpuint(max_delay, >, 4 * USEC_PER_SEC);

	/* another packet showing the reset while waiting does not postpone it */
	g_assert_cmpuint(delay2, >, 2);
	g_assert_cmpuint(pm_test_client_reset_delay(2, delay2 / 2), ==, delay2);
}

/* 7c-e: announcements */
static void
pm_test_client_announcements(void)
{
	g_autoptr(PmTestWire) w = pm_test_wire_new(1);
	guint8 pcp_announce[24] = {0x02, 0x80};

	pm_test_wire_ask_address(w, EPOCH0, "203.0.113.5");
	pm_test_wire_advance(w, 20 * USEC_PER_SEC);

	/* from another address: dropped, even with a reset epoch and a new address */
	pm_test_wire_announce(w, NOT_GATEWAY, 0, "198.51.100.1");
	g_assert_cmpuint(w->sent->len, ==, 1);
	g_assert_cmpuint(pm_natpmp_client_get_n_queued(w->client), ==, 0);
	pm_natpmp_client_receive_announcement(w->client,
					      pm_test_ipv4(NOT_GATEWAY),
					      pcp_announce,
					      sizeof(pcp_announce));
	g_assert_cmpuint(w->sent->len, ==, 1);
	pm_test_wire_advance(w, 10 * USEC_PER_SEC);
	g_assert_cmpuint(w->reset_times->len, ==, 0);
	g_assert_cmpuint(pm_natpmp_client_get_public_address(w->client),
			 ==,
			 pm_test_ipv4("203.0.113.5"));

	/* a PCP ANNOUNCE (24 bytes, version 2) from the gateway: ask for the address to
	 * check the epoch; a second one is coalesced */
	pm_natpmp_client_receive_announcement(w->client,
					      w->gateway,
					      pcp_announce,
					      sizeof(pcp_announce));
	g_assert_cmpuint(w->sent->len, ==, 2);
	pm_test_assert_sent(w, 1, MS(30000), PM_NATPMP_OP_PUBLIC_ADDRESS, 0, 0, 0);
	pm_natpmp_client_receive_announcement(w->client,
					      w->gateway,
					      pcp_announce,
					      sizeof(pcp_announce));
	g_assert_cmpuint(w->sent->len, ==, 2);
	g_assert_cmpuint(pm_natpmp_client_get_n_queued(w->client), ==, 1);
	/* its answer shows the reboot (miniupnpd 2.3.1 only sends the PCP ANNOUNCE) */
	pm_test_wire_advance(w, 100 * USEC_PER_MSEC);
	pm_test_wire_receive_address(w, 0, "203.0.113.5");
	g_assert_cmpuint(pm_natpmp_client_get_n_queued(w->client), ==, 0);
	pm_test_wire_advance(w, 6 * USEC_PER_SEC);
	g_assert_cmpuint(w->reset_times->len, ==, 1);
	g_assert_cmpuint(g_array_index(w->reset_times, guint64, 0), >=, MS(30100));
	g_assert_cmpuint(g_array_index(w->reset_times, guint64, 0),
			 <=,
			 MS(30100) + PM_NATPMP_RESET_DELAY_MAX_USEC);

	/* a NAT-PMP announcement with a reset epoch triggers it too, and a request */
	pm_test_wire_advance(w, 100 * USEC_PER_SEC);
	g_array_set_size(w->sent, 0);
	pm_test_wire_announce(w, GATEWAY, 1, "203.0.113.5");
	g_assert_cmpuint(w->sent->len, ==, 1);
	g_assert_cmpuint(pm_test_wire_sent(w, 0)->req.opcode, ==, PM_NATPMP_OP_PUBLIC_ADDRESS);
	pm_test_wire_advance(w, 6 * USEC_PER_SEC);
	g_assert_cmpuint(w->reset_times->len, ==, 2);
	pm_test_assert_no_warnings();
}

/* 8: the public address */
static void
pm_test_client_public_address(void)
{
	g_autoptr(PmTestWire) w = pm_test_wire_new(1);
	g_autoptr(PmTestCall) a = pm_test_call_new(w, "a");
	PmNatpmpResponse failed = {
	    .opcode = PM_NATPMP_OP_PUBLIC_ADDRESS,
	    .result = PM_NATPMP_RESULT_NETWORK_FAILURE,
	};

	g_assert_cmpuint(pm_natpmp_client_get_public_address(w->client), ==, 0);

	/* two requests, one on the wire */
	pm_natpmp_client_request_public_address(w->client);
	pm_natpmp_client_request_public_address(w->client);
	g_assert_cmpuint(w->sent->len, ==, 1);
	g_assert_cmpuint(pm_natpmp_client_get_n_queued(w->client), ==, 1);
	pm_test_wire_advance(w, 100 * USEC_PER_MSEC);
	pm_test_wire_receive_address(w, EPOCH0, "203.0.113.5");
	g_assert_cmpuint(w->address_times->len, ==, 1);
	g_assert_cmpuint(g_array_index(w->address_times, guint64, 0), ==, MS(100));
	g_assert_cmpuint(w->last_address, ==, pm_test_ipv4("203.0.113.5"));
	g_assert_cmpuint(pm_natpmp_client_get_public_address(w->client),
			 ==,
			 pm_test_ipv4("203.0.113.5"));
	g_assert_cmpuint(pm_natpmp_client_get_n_queued(w->client), ==, 0);
	pm_test_wire_advance(w, 200 * USEC_PER_SEC);
	g_assert_cmpuint(w->sent->len, ==, 1);

	/* coalesced behind a queued request too */
	pm_test_call_map(a, 1000, 7200, PM_NATPMP_PRIORITY_NORMAL);
	pm_natpmp_client_request_public_address(w->client);
	pm_natpmp_client_request_public_address(w->client);
	g_assert_cmpuint(pm_natpmp_client_get_n_queued(w->client), ==, 2);
	pm_test_wire_receive_map(w, PM_NATPMP_OP_MAP_TCP, 0, 1000, 1000, 7200);
	g_assert_cmpuint(w->sent->len, ==, 3);
	g_assert_cmpuint(pm_test_wire_sent(w, 2)->req.opcode, ==, PM_NATPMP_OP_PUBLIC_ADDRESS);

	/* the same address: no callback */
	pm_test_wire_receive_address(w, pm_test_wire_epoch(w), "203.0.113.5");
	g_assert_cmpuint(w->address_times->len, ==, 1);
	/* a failure carries no address */
	pm_test_wire_ask_address(w, pm_test_wire_epoch(w), "203.0.113.5");
	pm_natpmp_client_request_public_address(w->client);
	failed.epoch = pm_test_wire_epoch(w);
	pm_test_wire_receive(w, &failed);
	g_assert_cmpuint(pm_natpmp_client_get_n_queued(w->client), ==, 0);
	g_assert_cmpuint(w->address_times->len, ==, 1);
	g_assert_cmpuint(pm_natpmp_client_get_public_address(w->client),
			 ==,
			 pm_test_ipv4("203.0.113.5"));
	/* a change */
	pm_test_wire_advance(w, 1 * USEC_PER_SEC);
	pm_test_wire_ask_address(w, pm_test_wire_epoch(w), "203.0.113.6");
	g_assert_cmpuint(w->address_times->len, ==, 2);
	g_assert_cmpuint(w->last_address, ==, pm_test_ipv4("203.0.113.6"));
	/* an announcement with a new address */
	pm_test_wire_advance(w, 1 * USEC_PER_SEC);
	pm_test_wire_announce(w, GATEWAY, pm_test_wire_epoch(w), "203.0.113.7");
	g_assert_cmpuint(w->address_times->len, ==, 3);
	g_assert_cmpuint(w->last_address, ==, pm_test_ipv4("203.0.113.7"));
	g_assert_cmpuint(w->reset_times->len, ==, 0);
	pm_test_assert_no_warnings();
}

/* 8b: the public address is a hint: 3 sends only, and it holds no mapping request back */
static void
pm_test_client_public_address_silent(void)
{
	g_autoptr(PmTestWire) w = pm_test_wire_new(1);
	g_autoptr(PmTestCall) c = pm_test_call_new(w, "map");

	pm_natpmp_client_request_public_address(w->client);
	pm_test_call_map(c, 1000, 7200, PM_NATPMP_PRIORITY_NORMAL);
	g_assert_cmpuint(w->sent->len, ==, 2);
	pm_test_assert_sent(w, 0, MS(0), PM_NATPMP_OP_PUBLIC_ADDRESS, 0, 0, 0);
	pm_test_assert_sent(w, 1, MS(0), PM_NATPMP_OP_MAP_TCP, 1000, 1000, 7200);
	pm_test_wire_advance_to(w, MS(5000));
	/* pa at 0, 250, 750; the map request on its own schedule */
	g_assert_cmpuint(w->sent->len, ==, 8);
	g_assert_cmpuint(pm_natpmp_client_get_n_queued(w->client), ==, 1);
	g_assert_cmpuint(pm_natpmp_client_get_public_address(w->client), ==, 0);
	g_assert_cmpuint(w->address_times->len, ==, 0);

	/* given up, not forgotten: the next request goes out again */
	pm_test_wire_receive_map(w, PM_NATPMP_OP_MAP_TCP, 0, 1000, 1000, 7200);
	pm_natpmp_client_request_public_address(w->client);
	g_assert_cmpuint(w->sent->len, ==, 9);
	g_assert_cmpuint(pm_test_wire_sent(w, 8)->req.opcode, ==, PM_NATPMP_OP_PUBLIC_ADDRESS);
	pm_test_assert_no_warnings();
}

/* 9: issue 7: requests that are never answered hold no one back: with a full window of
 * them, a renewal still goes out within a second (the time one send keeps its place) */
static void
pm_test_client_unanswered_hold_no_one(void)
{
	/* freed after the wire: closing the client answers them */
	g_autoptr(GPtrArray) stuck = g_ptr_array_new_with_free_func((GDestroyNotify)pm_test_call_free);
	g_autoptr(PmTestWire) w = pm_test_wire_new(3);

	for (guint i = 0; i < PM_NATPMP_WINDOW * 2; i++) {
		PmTestCall *c = pm_test_call_new(w, "stuck");
		g_ptr_array_add(stuck, c);
		pm_test_call_start(c,
				   PM_NATPMP_OP_MAP_TCP,
				   2000 + i,
				   2000 + i,
				   7200,
				   PM_NATPMP_PRIORITY_NORMAL,
				   0,
				   G_MAXUINT64);
	}
	for (guint round = 0; round < 20; round++) {
		g_autoptr(PmTestCall) r = pm_test_call_new(w, "renewal");
		guint64 asked;
		guint n;

		/* at random instants over 20 minutes */
		pm_test_wire_advance(w, pm_scheduler_random_range(w->scheduler, 1, 60 * USEC_PER_SEC));
		asked = pm_scheduler_now(w->scheduler);
		n = w->sent->len;
		pm_test_call_start(r,
				   PM_NATPMP_OP_MAP_UDP,
				   3000,
				   3000,
				   7200,
				   PM_NATPMP_PRIORITY_RENEWAL,
				   PM_NATPMP_RFC_MAX_SENDS,
				   asked + 3600 * USEC_PER_SEC);
		while (r->call != NULL && pm_test_wire_sent(w, w->sent->len - 1)->req.opcode !=
					      PM_NATPMP_OP_MAP_UDP)
			pm_test_wire_advance(w, 1000);
		g_assert_cmpuint(w->sent->len, >, n);
		g_assert_cmpuint(pm_test_wire_sent(w, w->sent->len - 1)->at - asked,
				 <=,
				 PM_NATPMP_SLOT_HOLD_USEC);
		pm_test_wire_receive_map(w, PM_NATPMP_OP_MAP_UDP, 0, 3000, 3000, 7200);
		g_assert_null(r->call);
	}
	/* and the stuck ones are still asking, none failed */
	for (guint i = 0; i < stuck->len; i++) {
		PmTestCall *c = g_ptr_array_index(stuck, i);
		g_assert_nonnull(c->call);
		for (guint e = 0; e < c->events->len; e++)
			g_assert_cmpint(pm_test_call_event(c, e)->kind, ==, PM_TEST_EVENT_UNANSWERED);
	}
	pm_test_assert_no_warnings();
}

/* 10: an 8-byte failure has no internal port: it ends every sent call of its opcode; an
 * Unsupported Version answer every sent call */
static void
pm_test_client_bare_answers(void)
{
	g_autoptr(PmTestWire) w = pm_test_wire_new(1);
	g_autoptr(PmTestCall) t1 = pm_test_call_new(w, "t1");
	g_autoptr(PmTestCall) t2 = pm_test_call_new(w, "t2");
	g_autoptr(PmTestCall) u = pm_test_call_new(w, "u");
	guint8 bare[PM_NATPMP_ERROR_RESPONSE_SIZE] = {0, 128 + PM_NATPMP_OP_MAP_TCP, 0,
						      PM_NATPMP_RESULT_UNSUPPORTED_OPCODE};
	guint32 epoch_be = g_htonl(EPOCH0);
	const PmTestEvent *ev;

	memcpy(bare + 4, &epoch_be, sizeof(epoch_be));
	pm_test_call_map(t1, 1000, 7200, PM_NATPMP_PRIORITY_NORMAL);
	pm_test_call_map(t2, 2000, 7200, PM_NATPMP_PRIORITY_NORMAL);
	pm_test_call_start(u,
			   PM_NATPMP_OP_MAP_UDP,
			   1000,
			   1000,
			   7200,
			   PM_NATPMP_PRIORITY_NORMAL,
			   PM_NATPMP_RFC_MAX_SENDS,
			   G_MAXUINT64);
	g_assert_cmpuint(w->sent->len, ==, 3);
	pm_natpmp_client_receive(w->client, bare, sizeof(bare));
	for (guint i = 0; i < 2; i++) {
		PmTestCall *c = i == 0 ? t1 : t2;
		g_assert_cmpuint(c->events->len, ==, 1);
		ev = pm_test_call_event(c, 0);
		g_assert_cmpint(ev->kind, ==, PM_TEST_EVENT_RESPONSE);
		g_assert_cmpuint(ev->response.result, ==, PM_NATPMP_RESULT_UNSUPPORTED_OPCODE);
	}
	g_assert_cmpuint(u->events->len, ==, 0);
	g_assert_nonnull(u->call);

	/* the Unsupported Version answer, as pre-errata servers send it (opcode 0) */
	g_assert_cmpuint(pm_natpmp_client_get_n_queued(w->client), ==, 1);
	bare[1] = 0;
	bare[3] = PM_NATPMP_RESULT_UNSUPPORTED_VERSION;
	pm_natpmp_client_receive(w->client, bare, sizeof(bare));
	g_assert_cmpuint(u->events->len, ==, 1);
	g_assert_true(pm_test_call_event(u, 0)->response.unsupported_version);
	g_assert_cmpuint(pm_natpmp_client_get_n_queued(w->client), ==, 0);
	pm_test_assert_no_warnings();
}

/* 11: a client whose last reference goes answers every call it still has (nothing is
 * freed under a live handle); calls made from those callbacks are answered too */
static void
pm_test_client_close_answers_calls(void)
{
	g_autoptr(PmTestWire) w = pm_test_wire_new(1);
	g_autoptr(PmTestCall) a = pm_test_call_new(w, "a");
	g_autoptr(PmTestCall) b = pm_test_call_new(w, "b");
	g_autoptr(PmTestCall) c = pm_test_call_new(w, "c");
	PmNatpmpClient *client = w->client;

	pm_test_call_map(a, 1000, 7200, PM_NATPMP_PRIORITY_NORMAL);
	pm_test_call_map(b, 1000, 7200, PM_NATPMP_PRIORITY_NORMAL); /* queued: a has its key */
	pm_test_call_map(c, 3000, 7200, PM_NATPMP_PRIORITY_RENEWAL);
	pm_natpmp_client_request_public_address(client);
	pm_natpmp_client_remove_listener(client, w->listener_id);
	w->client = NULL;
	pm_natpmp_client_unref(client);
	for (guint i = 0; i < 3; i++) {
		PmTestCall *t = i == 0 ? a : i == 1 ? b : c;
		g_assert_null(t->call);
		g_assert_cmpuint(t->events->len, ==, 1);
		g_assert_cmpint(pm_test_call_event(t, 0)->kind, ==, PM_TEST_EVENT_ERROR);
		g_assert_nonnull(strstr(pm_test_call_event(t, 0)->message, "closed"));
	}
	g_assert_cmpuint(pm_scheduler_get_n_armed(w->scheduler), ==, 0);
	pm_test_assert_no_warnings();
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	pm_test_log_init();

	g_test_add_func("/natpmp-client/retransmit-silent", pm_test_client_retransmit_silent);
	g_test_add_func("/natpmp-client/give-up-at", pm_test_client_give_up_at);
	g_test_add_func("/natpmp-client/unlimited", pm_test_client_unlimited);
	g_test_add_func("/natpmp-client/window", pm_test_client_window);
	g_test_add_func("/natpmp-client/cancel-late-delete", pm_test_client_cancel_late_delete);
	g_test_add_func("/natpmp-client/matching", pm_test_client_matching);
	g_test_add_func("/natpmp-client/refused", pm_test_client_refused);
	g_test_add_func("/natpmp-client/unanswered-hold-no-one",
			pm_test_client_unanswered_hold_no_one);
	g_test_add_func("/natpmp-client/bare-answers", pm_test_client_bare_answers);
	g_test_add_func("/natpmp-client/close-answers-calls", pm_test_client_close_answers_calls);
	g_test_add_func("/natpmp-client/epoch-progress", pm_test_client_epoch_progress);
	g_test_add_func("/natpmp-client/epoch-reset", pm_test_client_epoch_reset);
	g_test_add_func("/natpmp-client/announcements", pm_test_client_announcements);
	g_test_add_func("/natpmp-client/public-address", pm_test_client_public_address);
	g_test_add_func("/natpmp-client/public-address-silent",
			pm_test_client_public_address_silent);
	return g_test_run();
}
