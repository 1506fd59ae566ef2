/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <arpa/inet.h>
#include <string.h>

#include "errors.h"
#include "natpmp-provider.h"
#include "test-log.h"

#define USEC_PER_MSEC G_GUINT64_CONSTANT(1000)
#define USEC_PER_SEC  G_GUINT64_CONSTANT(1000000)
#define T0	      (1000 * USEC_PER_SEC)
#define REALTIME0     (G_GUINT64_CONSTANT(1700000000) * USEC_PER_SEC)
#define MS(x)	      (T0 + USEC_PER_MSEC * (guint64)(x))
#define GATEWAY	      "192.168.77.1"
#define PUBLIC	      "203.0.113.5"
#define GATEWAY2      "192.168.88.1"
#define FIRST_PORT    40000 /* the fake gateway hands out ports from here */
#define TCP_UDP	      (PM_PROTOCOL_TCP | PM_PROTOCOL_UDP)

/* warnings are recorded, not fatal: tests check them */

/* one request as the fake gateway saw it */
typedef struct {
	guint64 at;
	PmNatpmpRequest req;
} PmTestSent;

/* what the fake gateway does with the next map request */
typedef enum {
	PM_TEST_ACT_DEFAULT,
	PM_TEST_ACT_SILENT, /* drop it */
	PM_TEST_ACT_RESULT, /* answer with this result code */
	PM_TEST_ACT_PORT,   /* grant this external port (replacing an existing one) */
} PmTestAction;

typedef struct {
	PmTestAction action;
	guint value;
} PmTestScript;

typedef struct {
	guint8 opcode;
	guint16 internal_port;
	guint16 external_port;
	guint64 expires;
} PmTestLease;

typedef struct _PmTestGateway PmTestGateway;

typedef struct {
	PmTimer timer;
	PmTestGateway *gw;
	gboolean refuse; /* an ICMP port unreachable instead of a packet */
	guint8 buf[PM_NATPMP_MAX_PACKET_SIZE];
	gsize len;
} PmTestReply;

/* an RFC 6886 gateway in the test: epoch running with virtual time, a mapping table, a
 * lifetime cap, and scripted misbehaviour; no sockets */
struct _PmTestGateway {
	PmScheduler *scheduler;
	PmNatpmpClient *client;
	GArray *sent; /* of PmTestSent */
	/* model */
	guint64 epoch_start; /* the instant its epoch was epoch_base */
	guint32 epoch_base;
	guint32 address;
	GArray *leases; /* of PmTestLease */
	GArray *busy;	/* of PmTestLease: (opcode, external) never granted as suggested */
	guint16 next_port;
	guint32 max_lifetime; /* 0: grant what is asked */
	/* behaviour */
	gboolean silent;
	gboolean refuse;
	guint16 result; /* non-zero: every map request gets it */
	guint16 silent_port; /* non-zero: map requests for this internal port are dropped */
	guint64 reply_delay;
	GQueue script;	    /* of PmTestScript *, one per map request */
	GPtrArray *replies; /* of PmTestReply *, on their way */
	guint deletes_all;  /* requests with internal port 0 and lifetime 0 */
};

typedef struct _PmTestCtx PmTestCtx;

typedef struct {
	guint64 at;
	guint props;
	PmMappingState state;
	guint16 internal_port;
	guint16 external_port;
} PmTestChange;

typedef struct {
	PmTestCtx *ctx;
	PmMapping *mapping;
	GArray *changes; /* of PmTestChange */
	guint done;	 /* stop or refresh callbacks */
	guint64 done_at;
} PmTestMapping;

struct _PmTestCtx {
	PmScheduler *scheduler;
	PmTestGateway *gw;
	PmNatpmpClient *client;
	PmProvider *provider;
	PmContext *context;
	PmProviderConfig *config;
	GPtrArray *mappings; /* of PmTestMapping * */
};

static guint32
pm_test_ipv4(const char *str)
{
	guint32 addr = 0;
	g_assert_cmpint(inet_pton(AF_INET, str, &addr), ==, 1);
	return addr;
}

static guint64
pm_test_now(PmTestCtx *ctx)
{
	return pm_scheduler_now(ctx->scheduler);
}

static guint32
pm_test_gateway_epoch(PmTestGateway *gw)
{
	guint64 now = pm_scheduler_now(gw->scheduler);
	return gw->epoch_base + (guint32)((now - gw->epoch_start) / USEC_PER_SEC);
}

/* the gateway lost its state: table gone, epoch back to 0 */
static void
pm_test_gateway_reboot(PmTestGateway *gw)
{
	gw->epoch_base = 0;
	gw->epoch_start = pm_scheduler_now(gw->scheduler);
	g_array_set_size(gw->leases, 0);
}

static void
pm_test_gateway_expire(PmTestGateway *gw)
{
	guint64 now = pm_scheduler_now(gw->scheduler);
	for (guint i = gw->leases->len; i > 0; i--) {
		if (g_array_index(gw->leases, PmTestLease, i - 1).expires <= now)
			g_array_remove_index(gw->leases, i - 1);
	}
}

static PmTestLease *
pm_test_gateway_find(PmTestGateway *gw, guint8 opcode, guint16 internal_port)
{
	for (guint i = 0; i < gw->leases->len; i++) {
		PmTestLease *l = &g_array_index(gw->leases, PmTestLease, i);
		if (l->opcode == opcode && l->internal_port == internal_port)
			return l;
	}
	return NULL;
}

static gboolean
pm_test_gateway_port_free(PmTestGateway *gw, guint8 opcode, guint16 port)
{
	for (guint i = 0; i < gw->leases->len; i++) {
		PmTestLease *l = &g_array_index(gw->leases, PmTestLease, i);
		if (l->opcode == opcode && l->external_port == port)
			return FALSE;
	}
	for (guint i = 0; i < gw->busy->len; i++) {
		PmTestLease *l = &g_array_index(gw->busy, PmTestLease, i);
		if (l->opcode == opcode && l->external_port == port)
			return FALSE;
	}
	return TRUE;
}

static void
pm_test_gateway_set_busy(PmTestGateway *gw, guint8 opcode, guint16 port)
{
	PmTestLease l = {.opcode = opcode, .external_port = port};
	g_array_append_val(gw->busy, l);
}

static void
pm_test_gateway_script(PmTestGateway *gw, PmTestAction action, guint value)
{
	PmTestScript *s = g_new0(PmTestScript, 1);
	s->action = action;
	s->value = value;
	g_queue_push_tail(&gw->script, s);
}

static void
pm_test_reply_cb(PmTimer *timer, gpointer user_data)
{
	PmTestReply *reply = user_data;
	PmTestGateway *gw = reply->gw;

	g_assert_true(g_ptr_array_remove(gw->replies, reply));
	if (reply->refuse)
		pm_natpmp_client_refused(gw->client);
	else
		pm_natpmp_client_receive(gw->client, reply->buf, reply->len);
	g_free(reply);
}

/* never answered from inside the send callback: a timer on the scheduler */
static void
pm_test_gateway_queue(PmTestGateway *gw, const PmNatpmpResponse *resp, gboolean refuse)
{
	PmTestReply *reply = g_new0(PmTestReply, 1);
	reply->gw = gw;
	reply->refuse = refuse;
	if (resp != NULL)
		reply->len = pm_natpmp_encode_response(resp, reply->buf);
	pm_timer_init(&reply->timer, pm_test_reply_cb, reply);
	g_ptr_array_add(gw->replies, reply);
	pm_scheduler_arm(gw->scheduler,
			 &reply->timer,
			 pm_scheduler_now(gw->scheduler) + gw->reply_delay);
}

static void
pm_test_gateway_map(PmTestGateway *gw,
		    const PmNatpmpRequest *req,
		    const PmTestScript *script,
		    PmNatpmpResponse *resp)
{
	guint64 now = pm_scheduler_now(gw->scheduler);
	guint16 result = gw->result;
	PmTestLease *lease;

	resp->internal_port = req->internal_port;
	if (script != NULL && script->action == PM_TEST_ACT_RESULT)
		result = (guint16)script->value;
	if (result != PM_NATPMP_RESULT_SUCCESS) {
		/* RFC 6886 §3.3: port and lifetime 0 when nothing was created */
		resp->result = result;
		return;
	}

	/* deletion (§3.4): idempotent; internal port 0 deletes all of that protocol */
	if (req->lifetime == 0) {
		if (req->internal_port == 0)
			gw->deletes_all++;
		for (guint i = gw->leases->len; i > 0; i--) {
			PmTestLease *l = &g_array_index(gw->leases, PmTestLease, i - 1);
			if (l->opcode == req->opcode &&
			    (req->internal_port == 0 || l->internal_port == req->internal_port))
				g_array_remove_index(gw->leases, i - 1);
		}
		return;
	}

	lease = pm_test_gateway_find(gw, req->opcode, req->internal_port);
	if (lease == NULL) {
		PmTestLease l = {.opcode = req->opcode, .internal_port = req->internal_port};
		g_array_append_val(gw->leases, l);
		lease = &g_array_index(gw->leases, PmTestLease, gw->leases->len - 1);
		/* the suggestion if it is free, else any port */
		if (req->suggested_external_port != 0 &&
		    pm_test_gateway_port_free(gw, req->opcode, req->suggested_external_port)) {
			lease->external_port = req->suggested_external_port;
		} else {
			while (!pm_test_gateway_port_free(gw, req->opcode, gw->next_port))
				gw->next_port++;
			lease->external_port = gw->next_port++;
		}
	}
	/* an existing mapping keeps its port (§3.3) unless the script changes it */
	if (script != NULL && script->action == PM_TEST_ACT_PORT)
		lease->external_port = (guint16)script->value;
	resp->external_port = lease->external_port;
	resp->lifetime = req->lifetime;
	if (gw->max_lifetime != 0)
		resp->lifetime = MIN(resp->lifetime, gw->max_lifetime);
	lease->expires = now + (guint64)resp->lifetime * USEC_PER_SEC;
}

static void
pm_test_gateway_send_cb(const guint8 *buf, gsize len, gpointer user_data)
{
	PmTestGateway *gw = user_data;
	PmTestSent sent = {0};
	PmNatpmpResponse resp = {0};
	g_autofree PmTestScript *script = NULL;
	g_autoptr(GError) error = NULL;

	sent.at = pm_scheduler_now(gw->scheduler);
	g_assert_true(pm_natpmp_decode_request(buf, len, &sent.req, &error));
	g_assert_no_error(error);
	g_array_append_val(gw->sent, sent);

	if (sent.req.opcode != PM_NATPMP_OP_PUBLIC_ADDRESS)
		script = g_queue_pop_head(&gw->script);
	if (gw->silent || (script != NULL && script->action == PM_TEST_ACT_SILENT))
		return;
	if (gw->silent_port != 0 && sent.req.opcode != PM_NATPMP_OP_PUBLIC_ADDRESS &&
	    sent.req.internal_port == gw->silent_port)
		return;
	if (gw->refuse) {
		pm_test_gateway_queue(gw, NULL, TRUE);
		return;
	}
	pm_test_gateway_expire(gw);
	resp.opcode = sent.req.opcode;
	resp.epoch = pm_test_gateway_epoch(gw);
	if (sent.req.opcode == PM_NATPMP_OP_PUBLIC_ADDRESS)
		resp.public_address = gw->address;
	else
		pm_test_gateway_map(gw, &sent.req, script, &resp);
	pm_test_gateway_queue(gw, &resp, FALSE);
}

/* a gratuitous public-address response to 224.0.0.1:5350 */
static void
pm_test_gateway_announce(PmTestGateway *gw)
{
	guint8 buf[PM_NATPMP_MAX_PACKET_SIZE];
	PmNatpmpResponse resp = {
	    .opcode = PM_NATPMP_OP_PUBLIC_ADDRESS,
	    .epoch = pm_test_gateway_epoch(gw),
	    .public_address = gw->address,
	};
	gsize len = pm_natpmp_encode_response(&resp, buf);
	pm_natpmp_client_receive_announcement(gw->client, pm_test_ipv4(GATEWAY), buf, len);
}

static PmTestGateway *
pm_test_gateway_new(PmScheduler *scheduler)
{
	PmTestGateway *gw = g_new0(PmTestGateway, 1);
	gw->scheduler = scheduler;
	gw->sent = g_array_new(FALSE, TRUE, sizeof(PmTestSent));
	gw->leases = g_array_new(FALSE, TRUE, sizeof(PmTestLease));
	gw->busy = g_array_new(FALSE, TRUE, sizeof(PmTestLease));
	gw->replies = g_ptr_array_new();
	gw->epoch_start = pm_scheduler_now(scheduler);
	gw->epoch_base = 4600000;
	gw->address = pm_test_ipv4(PUBLIC);
	gw->next_port = FIRST_PORT;
	g_queue_init(&gw->script);
	return gw;
}

static void
pm_test_gateway_free(PmTestGateway *gw)
{
	for (guint i = 0; i < gw->replies->len; i++) {
		PmTestReply *reply = g_ptr_array_index(gw->replies, i);
		pm_scheduler_disarm(gw->scheduler, &reply->timer);
		g_free(reply);
	}
	g_ptr_array_unref(gw->replies);
	g_queue_clear_full(&gw->script, g_free);
	g_array_unref(gw->sent);
	g_array_unref(gw->leases);
	g_array_unref(gw->busy);
	g_free(gw);
}

/* the requests from @from on, as "tcp:I:S:L@MS" with MS the send time after T0 in ms
 * ("pa@MS" for a public address request) */
static char *
pm_test_gateway_sent_string(PmTestGateway *gw, guint from)
{
	g_autoptr(GString) str = g_string_new(NULL);

	for (guint i = from; i < gw->sent->len; i++) {
		PmTestSent *s = &g_array_index(gw->sent, PmTestSent, i);
		guint64 ms = (s->at - T0) / USEC_PER_MSEC;
		if (str->len > 0)
			g_string_append_c(str, ' ');
		if (s->req.opcode == PM_NATPMP_OP_PUBLIC_ADDRESS) {
			g_string_append_printf(str, "pa@%" G_GUINT64_FORMAT, ms);
			continue;
		}
		g_string_append_printf(str,
				       "%s:%u:%u:%u@%" G_GUINT64_FORMAT,
				       s->req.opcode == PM_NATPMP_OP_MAP_TCP ? "tcp" : "udp",
				       s->req.internal_port,
				       s->req.suggested_external_port,
				       s->req.lifetime,
				       ms);
	}
	return g_string_free(g_steal_pointer(&str), FALSE);
}

static const PmTestSent *
pm_test_gateway_sent(PmTestGateway *gw, guint idx)
{
	g_assert_cmpuint(idx, <, gw->sent->len);
	return &g_array_index(gw->sent, PmTestSent, idx);
}

static void
pm_test_ctx_advance(PmTestCtx *ctx, guint64 usec)
{
	pm_scheduler_advance(ctx->scheduler, usec);
}

static void
pm_test_ctx_advance_to(PmTestCtx *ctx, guint64 at)
{
	guint64 now = pm_test_now(ctx);
	g_assert_cmpuint(at, >=, now);
	pm_scheduler_advance(ctx->scheduler, at - now);
}

/* @silent: the gateway never answers, not even the first public address request */
static PmTestCtx *
pm_test_ctx_new_full(guint32 seed,
		     guint32 lifetime,
		     guint64 refresh_usec,
		     gboolean same_port,
		     gboolean silent)
{
	PmTestCtx *ctx = g_new0(PmTestCtx, 1);
	g_autofree char *sent = NULL;
	PmNatpmpConfig *natpmp;

	pm_test_log_clear();
	ctx->scheduler = pm_scheduler_new_manual(T0, REALTIME0, seed);
	ctx->gw = pm_test_gateway_new(ctx->scheduler);
	ctx->gw->silent = silent;
	ctx->client = pm_natpmp_client_new(ctx->scheduler,
					   pm_test_ipv4(GATEWAY),
					   PM_NATPMP_SERVER_PORT,
					   pm_test_gateway_send_cb,
					   ctx->gw,
					   NULL);
	ctx->gw->client = ctx->client;
	natpmp = g_new0(PmNatpmpConfig, 1);
	natpmp->gateway = g_strdup(GATEWAY);
	natpmp->lifetime = lifetime;
	natpmp->refresh_interval_usec = refresh_usec;
	natpmp->same_port = same_port;
	ctx->config = pm_natpmp_config_new("t", natpmp);
	ctx->context = pm_context_new(ctx->scheduler, PM_SECRET_POLICY_STRICT);
	ctx->provider = pm_natpmp_provider_new_with_client(ctx->context, ctx->config, ctx->client);
	ctx->mappings = g_ptr_array_new();

	/* the provider asks for the public address first */
	pm_test_ctx_advance(ctx, 0);
	sent = pm_test_gateway_sent_string(ctx->gw, 0);
	g_assert_cmpstr(sent, ==, "pa@0");
	if (silent)
		return ctx;
	g_assert_cmpuint(ctx->provider->external_address, ==, pm_test_ipv4(PUBLIC));
	g_array_set_size(ctx->gw->sent, 0);
	return ctx;
}

static PmTestCtx *
pm_test_ctx_new(guint32 seed, guint32 lifetime, guint64 refresh_usec, gboolean same_port)
{
	return pm_test_ctx_new_full(seed, lifetime, refresh_usec, same_port, FALSE);
}

static void
pm_test_ctx_free(PmTestCtx *ctx)
{
	for (guint i = 0; i < ctx->mappings->len; i++) {
		PmTestMapping *tm = g_ptr_array_index(ctx->mappings, i);
		if (ctx->provider != NULL && tm->mapping->provider != NULL)
			pm_provider_stop(ctx->provider, tm->mapping, FALSE, NULL, NULL);
		/* a stop with release must have finished */
		g_assert_null(tm->mapping->provider_data);
	}
	g_clear_pointer(&ctx->provider, pm_provider_free);
	pm_natpmp_client_unref(ctx->client);
	pm_test_gateway_free(ctx->gw);
	pm_context_free(ctx->context);
	pm_scheduler_free(ctx->scheduler);
	for (guint i = 0; i < ctx->mappings->len; i++) {
		PmTestMapping *tm = g_ptr_array_index(ctx->mappings, i);
		pm_mapping_free(tm->mapping);
		g_array_unref(tm->changes);
		g_free(tm);
	}
	g_ptr_array_unref(ctx->mappings);
	pm_provider_config_unref(ctx->config);
	g_free(ctx);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(PmTestCtx, pm_test_ctx_free)

static void
pm_test_mapping_changed_cb(PmMapping *mapping, guint props, gpointer user_data)
{
	PmTestMapping *tm = user_data;
	PmTestChange change = {
	    .at = pm_test_now(tm->ctx),
	    .props = props,
	    .state = mapping->state,
	    .internal_port = mapping->internal_port,
	    .external_port = pm_mapping_get_external_port(mapping),
	};
	g_assert_true(mapping == tm->mapping);
	g_array_append_val(tm->changes, change);
}

static PmTestMapping *
pm_test_mapping_new(PmTestCtx *ctx,
		    const char *name,
		    guint protocols,
		    guint16 internal_port,
		    guint16 suggested)
{
	PmTestMapping *tm = g_new0(PmTestMapping, 1);
	PmMapping *m = pm_mapping_new(ctx->mappings->len + 1, name);

	m->provider_name = g_intern_string(ctx->config->name);
	m->protocols = protocols;
	m->internal_port = internal_port;
	m->suggested_external_port = suggested;
	m->scope = PM_SCOPE_RUNTIME;
	m->origin = PM_ORIGIN_CONFIG;
	m->changed_func = pm_test_mapping_changed_cb;
	m->changed_data = tm;
	tm->ctx = ctx;
	tm->mapping = m;
	tm->changes = g_array_new(FALSE, TRUE, sizeof(PmTestChange));
	g_ptr_array_add(ctx->mappings, tm);
	return tm;
}

static void
pm_test_mapping_start(PmTestMapping *tm)
{
	pm_provider_start(tm->ctx->provider, tm->mapping);
}

static void
pm_test_mapping_done_cb(gpointer user_data)
{
	PmTestMapping *tm = user_data;
	tm->done++;
	tm->done_at = pm_test_now(tm->ctx);
}

/* the state changes as "state@MS" after T0 */
static char *
pm_test_mapping_states(PmTestMapping *tm)
{
	g_autoptr(GString) str = g_string_new(NULL);

	for (guint i = 0; i < tm->changes->len; i++) {
		PmTestChange *c = &g_array_index(tm->changes, PmTestChange, i);
		if ((c->props & PM_MAPPING_PROP_STATE) == 0)
			continue;
		if (str->len > 0)
			g_string_append_c(str, ' ');
		g_string_append_printf(str,
				       "%s@%" G_GUINT64_FORMAT,
				       pm_mapping_state_to_string(c->state),
				       (c->at - T0) / USEC_PER_MSEC);
	}
	return g_string_free(g_steal_pointer(&str), FALSE);
}

/* the props of every change at @at, or'ed */
static guint
pm_test_mapping_props_at(PmTestMapping *tm, guint64 at)
{
	guint props = 0;
	for (guint i = 0; i < tm->changes->len; i++) {
		PmTestChange *c = &g_array_index(tm->changes, PmTestChange, i);
		if (c->at == at)
			props |= c->props;
	}
	return props;
}

static void
pm_test_assert_port(PmMapping *m,
		    PmProtoIndex idx,
		    guint16 internal_port,
		    guint16 external_port,
		    guint32 lifetime,
		    guint64 expires)
{
	g_assert_cmpuint(m->ports[idx].internal_port, ==, internal_port);
	g_assert_cmpuint(m->ports[idx].external_port, ==, external_port);
	g_assert_cmpuint(m->ports[idx].lifetime, ==, lifetime);
	g_assert_cmpuint(m->ports[idx].expires, ==, expires);
}

#define pm_test_assert_sent(gw, from, expected)                                                    \
	G_STMT_START                                                                               \
	{                                                                                          \
		g_autofree char *_sent = pm_test_gateway_sent_string((gw), (from));                \
		g_assert_cmpstr(_sent, ==, (expected));                                            \
	}                                                                                          \
	G_STMT_END

#define pm_test_assert_states(tm, expected)                                                        \
	G_STMT_START                                                                               \
	{                                                                                          \
		g_autofree char *_states = pm_test_mapping_states(tm);                             \
		g_assert_cmpstr(_states, ==, (expected));                                          \
	}                                                                                          \
	G_STMT_END

/* 1: granted, then renewed at half the granted lifetime */
static void
pm_test_provider_grant_renew(void)
{
	g_autoptr(PmTestCtx) ctx = pm_test_ctx_new(1, 60, 0, FALSE);
	PmTestMapping *tm = pm_test_mapping_new(ctx, "m", TCP_UDP, 5000, 5000);
	PmMapping *m = tm->mapping;
	guint props;

	/* 5000 is taken on the gateway: E = 40000 for both */
	pm_test_gateway_set_busy(ctx->gw, PM_NATPMP_OP_MAP_TCP, 5000);
	pm_test_gateway_set_busy(ctx->gw, PM_NATPMP_OP_MAP_UDP, 5000);
	pm_test_mapping_start(tm);
	g_assert_cmpint(m->state, ==, PM_MAPPING_STATE_REQUESTING);
	g_assert_cmpuint(m->external_address, ==, pm_test_ipv4(PUBLIC));
	pm_test_ctx_advance(ctx, 0);

	pm_test_assert_sent(ctx->gw, 0, "tcp:5000:5000:60@0 udp:5000:40000:60@0");
	pm_test_assert_states(tm, "active@0");
	pm_test_assert_port(m, PM_PROTO_INDEX_TCP, 5000, 40000, 60, MS(60000));
	pm_test_assert_port(m, PM_PROTO_INDEX_UDP, 5000, 40000, 60, MS(60000));
	g_assert_cmpuint(m->internal_port, ==, 5000);
	g_assert_cmpuint(pm_mapping_get_external_port(m), ==, 40000);
	g_assert_cmpuint(pm_mapping_get_lifetime(m), ==, 60);
	g_assert_cmpuint(pm_mapping_get_expires(m), ==, MS(60000));
	g_assert_cmpuint(m->suggested_external_port, ==, 40000);
	g_assert_null(m->last_error);
	props = pm_test_mapping_props_at(tm, T0);
	g_assert_cmpuint(props & PM_MAPPING_PROP_PORTS, !=, 0);
	g_assert_cmpuint(props & PM_MAPPING_PROP_EXTERNAL_PORT, !=, 0);
	g_assert_cmpuint(props & PM_MAPPING_PROP_LIFETIME, !=, 0);
	g_assert_cmpuint(props & PM_MAPPING_PROP_EXPIRES_AT, !=, 0);
	g_assert_cmpuint(props & PM_MAPPING_PROP_INTERNAL_PORT, ==, 0);

	/* nothing before half the lifetime */
	pm_test_ctx_advance_to(ctx, MS(30000) - 1);
	g_assert_cmpuint(ctx->gw->sent->len, ==, 2);
	pm_test_ctx_advance(ctx, 1);
	pm_test_assert_sent(ctx->gw, 2, "tcp:5000:40000:60@30000 udp:5000:40000:60@30000");
	pm_test_assert_states(tm, "active@0");
	g_assert_cmpuint(pm_mapping_get_expires(m), ==, MS(90000));
	/* a renewal that keeps E changes no port */
	props = pm_test_mapping_props_at(tm, MS(30000));
	g_assert_cmpuint(props & (PM_MAPPING_PROP_PORTS | PM_MAPPING_PROP_EXTERNAL_PORT), ==, 0);
	g_assert_cmpuint(props & PM_MAPPING_PROP_EXPIRES_AT, !=, 0);
	pm_test_ctx_advance_to(ctx, MS(60000));
	pm_test_assert_sent(ctx->gw, 4, "tcp:5000:40000:60@60000 udp:5000:40000:60@60000");
	pm_test_assert_no_warnings();
}

/* 1b: by the granted lifetime, not the asked one; RefreshInterval= when shorter */
static void
pm_test_provider_renew_granted(void)
{
	g_autoptr(PmTestCtx) ctx = pm_test_ctx_new(1, 7200, 0, FALSE);
	g_autoptr(PmTestCtx) ctx2 = NULL;
	PmTestMapping *tm = pm_test_mapping_new(ctx, "m", PM_PROTOCOL_TCP, 5000, 5000);
	PmTestMapping *tm2;

	ctx->gw->max_lifetime = 60;
	pm_test_mapping_start(tm);
	pm_test_ctx_advance_to(ctx, MS(40000));
	pm_test_assert_sent(ctx->gw, 0, "tcp:5000:5000:7200@0 tcp:5000:5000:7200@30000");
	g_assert_cmpuint(pm_mapping_get_lifetime(tm->mapping), ==, 60);

	ctx2 = pm_test_ctx_new(1, 7200, 2 * USEC_PER_SEC, FALSE);
	ctx2->gw->max_lifetime = 20;
	tm2 = pm_test_mapping_new(ctx2, "m", TCP_UDP, 5000, 5000);
	pm_test_mapping_start(tm2);
	pm_test_ctx_advance_to(ctx2, MS(4500));
	pm_test_assert_sent(ctx2->gw,
			    0,
			    "tcp:5000:5000:7200@0 udp:5000:5000:7200@0 "
			    "tcp:5000:5000:7200@2000 udp:5000:5000:7200@2000 "
			    "tcp:5000:5000:7200@4000 udp:5000:5000:7200@4000");
	g_assert_cmpuint(pm_mapping_get_expires(tm2->mapping), ==, MS(24000));
	pm_test_assert_no_warnings();
}

/* 1c: renewals are put off to the next granule of the clock so they share wake-ups: a whole
 * second for long leases, a power-of-two fraction of it within an eighth of the time left
 * for short ones; never past that */
static void
pm_test_provider_renew_coalesced(void)
{
	static const struct {
		guint32 lifetime;
		guint64 renewal_us; /* granted at 30 ms: half the lifetime later, rounded up */
	} cases[] = {
	    {60, 31000000}, /* 30.030 s, 30 s left: to a whole second */
	    {20, 11000000}, /* 10.030 s, 10 s left */
	    {2, 1125000},   /* 1.030 s, 1 s left: to 125 ms */
	    {1, 562500},    /* 0.530 s, 0.5 s left: to 62.5 ms */
	};

	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autoptr(PmTestCtx) ctx = pm_test_ctx_new(1, cases[i].lifetime, 0, FALSE);
		PmTestMapping *tm = pm_test_mapping_new(ctx, "m", PM_PROTOCOL_TCP, 5000, 5000);
		guint64 granted = MS(30);
		guint64 renewal = T0 + cases[i].renewal_us;
		guint64 half = granted + cases[i].lifetime * USEC_PER_SEC / 2;
		guint64 expires = granted + cases[i].lifetime * USEC_PER_SEC;

		ctx->gw->reply_delay = 30 * USEC_PER_MSEC;
		pm_test_mapping_start(tm);
		pm_test_ctx_advance_to(ctx, granted);
		g_assert_cmpuint(pm_mapping_get_expires(tm->mapping), ==, expires);
		/* the rule itself: not before half, at most an eighth of the rest later */
		g_assert_cmpuint(renewal, >=, half);
		g_assert_cmpuint(renewal - half, <=, (expires - half) / 8);
		pm_test_ctx_advance_to(ctx, renewal - 1);
		g_assert_cmpuint(ctx->gw->sent->len, ==, 1);
		pm_test_ctx_advance(ctx, 1);
		g_assert_cmpuint(ctx->gw->sent->len, ==, 2);
		g_assert_cmpuint(g_array_index(ctx->gw->sent, PmTestSent, 1).at, ==, renewal);
		pm_test_assert_no_warnings();
	}
}

/* 2: renewal against a silent gateway */
static void
pm_test_provider_renew_silent(void)
{
	g_autoptr(PmTestCtx) ctx = pm_test_ctx_new(3, 60, 0, FALSE);
	PmTestMapping *tm = pm_test_mapping_new(ctx, "m", PM_PROTOCOL_TCP, 5000, 5000);
	PmMapping *m = tm->mapping;
	const PmTestSent *s;
	guint n;

	pm_test_gateway_set_busy(ctx->gw, PM_NATPMP_OP_MAP_TCP, 5000);
	pm_test_mapping_start(tm);
	pm_test_ctx_advance(ctx, 0);
	g_assert_cmpuint(pm_mapping_get_external_port(m), ==, 40000);
	ctx->gw->silent = TRUE;

	/* the RFC schedule from 30 s, cut at the lease's expiry */
	pm_test_ctx_advance_to(ctx, MS(60000) - 1);
	pm_test_assert_sent(ctx->gw,
			    1,
			    "tcp:5000:40000:60@30000 tcp:5000:40000:60@30250 "
			    "tcp:5000:40000:60@30750 tcp:5000:40000:60@31750 "
			    "tcp:5000:40000:60@33750 tcp:5000:40000:60@37750 "
			    "tcp:5000:40000:60@45750");
	pm_test_assert_states(tm, "active@0 renewing@30250");
	pm_test_ctx_advance(ctx, 1);
	pm_test_assert_states(tm, "active@0 renewing@30250 retrying@60000");
	g_assert_nonnull(m->last_error);
	g_assert_true(g_str_has_prefix(m->last_error, "GatewayUnreachable: "));
	g_assert_cmpuint(ctx->gw->sent->len, ==, 8);

	/* then the same port again, on the RFC schedule with no give-up */
	pm_test_ctx_advance_to(ctx, MS(180000) - 1);
	pm_test_assert_states(tm, "active@0 renewing@30250 retrying@60000");
	/* two minutes without a lease */
	pm_test_ctx_advance(ctx, 1);
	pm_test_assert_states(tm, "active@0 renewing@30250 retrying@60000 degraded@180000");
	pm_test_assert_warning("no lease");
	pm_test_ctx_advance_to(ctx, MS(400000));
	n = ctx->gw->sent->len;
	g_assert_cmpuint(n, >, 8 + 9 + 2);
	s = pm_test_gateway_sent(ctx->gw, 8);
	g_assert_cmpuint(s->at, >=, MS(60000));
	g_assert_cmpuint(s->at, <=, MS(61250));
	for (guint i = 8; i < n; i++) {
		guint64 gap;
		s = pm_test_gateway_sent(ctx->gw, i);
		g_assert_cmpuint(s->req.internal_port, ==, 5000);
		g_assert_cmpuint(s->req.suggested_external_port, ==, 40000);
		g_assert_cmpuint(s->req.lifetime, ==, 60);
		if (i == 8)
			continue;
		gap = s->at - pm_test_gateway_sent(ctx->gw, i - 1)->at;
		if (i < 8 + 9) {
			g_assert_cmpuint(gap, ==, (250 * USEC_PER_MSEC) << (i - 9));
		} else {
			/* capped, never starting over */
			g_assert_cmpuint(gap, >=, 64 * USEC_PER_SEC);
			g_assert_cmpuint(gap, <, 68 * USEC_PER_SEC);
		}
	}
	pm_test_assert_states(tm, "active@0 renewing@30250 retrying@60000 degraded@180000");

	/* the gateway is back */
	ctx->gw->silent = FALSE;
	pm_test_ctx_advance_to(ctx, MS(500000));
	g_assert_cmpint(m->state, ==, PM_MAPPING_STATE_ACTIVE);
	g_assert_cmpuint(pm_mapping_get_external_port(m), ==, 40000);
	s = pm_test_gateway_sent(ctx->gw, ctx->gw->sent->len - 1);
	g_assert_cmpuint(s->req.suggested_external_port, ==, 40000);
	g_assert_cmpuint(pm_mapping_get_expires(m), ==, s->at + 60 * USEC_PER_SEC);
	g_assert_null(m->last_error);
	g_assert_cmpint(ctx->provider->state, ==, PM_PROVIDER_STATE_READY);
	pm_test_assert_no_warnings();
}

/* 3: a first request that gets no answer */
static void
pm_test_provider_first_unanswered(void)
{
	g_autoptr(PmTestCtx) ctx = pm_test_ctx_new(1, 7200, 0, FALSE);
	PmTestMapping *tm = pm_test_mapping_new(ctx, "m", TCP_UDP, 5000, 5000);

	ctx->gw->silent = TRUE;
	pm_test_mapping_start(tm);
	pm_test_ctx_advance(ctx, 250 * USEC_PER_MSEC - 1);
	g_assert_cmpint(tm->mapping->state, ==, PM_MAPPING_STATE_REQUESTING);
	pm_test_ctx_advance(ctx, 1);
	pm_test_assert_states(tm, "retrying@250");
	pm_test_assert_sent(ctx->gw, 0, "tcp:5000:5000:7200@0 tcp:5000:5000:7200@250");
	pm_test_ctx_advance_to(ctx, MS(120000));
	pm_test_assert_states(tm, "retrying@250 degraded@120000");
	pm_test_assert_warning("no lease");
	pm_test_assert_no_warnings();
}

/* 3b: a gateway silent from the start: the public address request (a hint) does not
 * hold the mapping's request back: both go out at once, each keyed by its own opcode,
 * and the mapping's own first wait makes it retrying */
static void
pm_test_provider_first_unanswered_silent(void)
{
	g_autoptr(PmTestCtx) ctx = pm_test_ctx_new_full(1, 7200, 0, FALSE, TRUE);
	PmTestMapping *tm = pm_test_mapping_new(ctx, "m", PM_PROTOCOL_TCP, 5000, 5000);

	pm_test_mapping_start(tm);
	pm_test_ctx_advance_to(ctx, MS(250) - 1);
	g_assert_cmpint(tm->mapping->state, ==, PM_MAPPING_STATE_REQUESTING);
	pm_test_ctx_advance(ctx, 1);
	pm_test_assert_states(tm, "retrying@250");
	pm_test_ctx_advance_to(ctx, MS(2000));
	pm_test_assert_sent(ctx->gw,
			    0,
			    "pa@0 tcp:5000:5000:7200@0 pa@250 tcp:5000:5000:7200@250 pa@750 "
			    "tcp:5000:5000:7200@750 tcp:5000:5000:7200@1750");
	g_assert_cmpuint(ctx->provider->external_address, ==, 0);
	pm_test_assert_no_warnings();
}

/* 4: result codes 1, 2, 5 and unknown fail the mapping */
static void
pm_test_provider_result_fatal_one(guint16 result, const char *prefix, const char *code)
{
	g_autoptr(PmTestCtx) ctx = pm_test_ctx_new(1, 7200, 0, FALSE);
	PmTestMapping *tm = pm_test_mapping_new(ctx, "m", TCP_UDP, 5000, 5000);
	PmMapping *m = tm->mapping;

	ctx->gw->result = result;
	pm_test_mapping_start(tm);
	pm_test_ctx_advance(ctx, 0);
	pm_test_assert_states(tm, "failed@0");
	g_assert_nonnull(m->last_error);
	g_test_message("result %u: %s", result, m->last_error);
	g_assert_true(g_str_has_prefix(m->last_error, prefix));
	g_assert_nonnull(strstr(m->last_error, code));
	pm_test_assert_warning("failed");
	/* nothing more is asked */
	pm_test_ctx_advance(ctx, 3600 * USEC_PER_SEC);
	pm_test_assert_sent(ctx->gw, 0, "tcp:5000:5000:7200@0");
	pm_test_assert_states(tm, "failed@0");
	g_assert_cmpuint(pm_scheduler_get_n_armed(ctx->scheduler), ==, 0);
	pm_test_assert_no_warnings();
}

static void
pm_test_provider_result_fatal(void)
{
	pm_test_provider_result_fatal_one(1, "NotSupported: ", "result 1");
	pm_test_provider_result_fatal_one(2, "Refused: ", "result 2");
	pm_test_provider_result_fatal_one(5, "NotSupported: ", "result 5");
	pm_test_provider_result_fatal_one(77, "Refused: ", "code 77");
}

/* 4b: 3 and 4 are retried with backoff */
static void
pm_test_provider_result_retry_one(guint16 result, const char *code)
{
	g_autoptr(PmTestCtx) ctx = pm_test_ctx_new(5, 7200, 0, FALSE);
	PmTestMapping *tm = pm_test_mapping_new(ctx, "m", PM_PROTOCOL_TCP, 5000, 5000);
	PmMapping *m = tm->mapping;
	guint64 wait = 1 * USEC_PER_SEC;

	ctx->gw->result = result;
	pm_test_mapping_start(tm);
	pm_test_ctx_advance(ctx, 0);
	pm_test_assert_states(tm, "retrying@0");
	g_assert_nonnull(m->last_error);
	g_assert_nonnull(strstr(m->last_error, code));
	pm_test_ctx_advance(ctx, 100 * USEC_PER_SEC);
	/* 1 s, 2 s, 4 s, ... each with up to 1/4 jitter */
	g_assert_cmpuint(ctx->gw->sent->len, >=, 6);
	for (guint i = 1; i < ctx->gw->sent->len; i++) {
		guint64 gap =
		    pm_test_gateway_sent(ctx->gw, i)->at - pm_test_gateway_sent(ctx->gw, i - 1)->at;
		g_assert_cmpuint(gap, >=, wait);
		g_assert_cmpuint(gap, <=, wait + wait / 4);
		g_assert_cmpuint(pm_test_gateway_sent(ctx->gw, i)->req.suggested_external_port,
				 ==,
				 5000);
		wait = MIN(wait * 2, 64 * USEC_PER_SEC);
	}
	pm_test_assert_states(tm, "retrying@0");
	/* the gateway recovers, after two minutes without a lease */
	ctx->gw->result = 0;
	pm_test_ctx_advance(ctx, 100 * USEC_PER_SEC);
	g_assert_cmpint(m->state, ==, PM_MAPPING_STATE_ACTIVE);
	g_assert_null(m->last_error);
	pm_test_assert_warning("no lease");
	pm_test_assert_no_warnings();
}

static void
pm_test_provider_result_retry(void)
{
	pm_test_provider_result_retry_one(3, "result 3");
	pm_test_provider_result_retry_one(4, "result 4");
}

/* 5: TCP and UDP given different ports */
static void
pm_test_provider_two_protocols(void)
{
	g_autoptr(PmTestCtx) a = pm_test_ctx_new(1, 7200, 0, FALSE);
	g_autoptr(PmTestCtx) b = pm_test_ctx_new(1, 7200, 0, FALSE);
	g_autoptr(PmTestCtx) c = pm_test_ctx_new(1, 7200, 0, FALSE);
	PmTestMapping *ta = pm_test_mapping_new(a, "m", TCP_UDP, 5000, 5000);
	PmTestMapping *tb = pm_test_mapping_new(b, "m", TCP_UDP, 5000, 5000);
	PmTestMapping *tc = pm_test_mapping_new(c, "m", TCP_UDP, 5000, 5000);

	/* UDP differs, then agrees when asked again */
	a->gw->reply_delay = 10 * USEC_PER_MSEC;
	pm_test_gateway_set_busy(a->gw, PM_NATPMP_OP_MAP_UDP, 5000);
	pm_test_gateway_script(a->gw, PM_TEST_ACT_DEFAULT, 0);
	pm_test_gateway_script(a->gw, PM_TEST_ACT_DEFAULT, 0);
	pm_test_gateway_script(a->gw, PM_TEST_ACT_DEFAULT, 0);
	pm_test_gateway_script(a->gw, PM_TEST_ACT_PORT, 5000);
	pm_test_mapping_start(ta);
	pm_test_ctx_advance(a, 1 * USEC_PER_SEC);
	pm_test_assert_sent(a->gw,
			    0,
			    "tcp:5000:5000:7200@0 udp:5000:5000:7200@10 udp:5000:0:0@20 "
			    "udp:5000:5000:7200@30");
	pm_test_assert_states(ta, "active@40");
	g_assert_cmpuint(ta->mapping->ports[PM_PROTO_INDEX_TCP].external_port, ==, 5000);
	g_assert_cmpuint(ta->mapping->ports[PM_PROTO_INDEX_UDP].external_port, ==, 5000);
	g_assert_null(ta->mapping->last_error);

	/* UDP differs twice: TCP is asked for UDP's port and gets it */
	pm_test_gateway_set_busy(b->gw, PM_NATPMP_OP_MAP_UDP, 5000);
	pm_test_mapping_start(tb);
	pm_test_ctx_advance(b, 0);
	pm_test_assert_sent(b->gw,
			    0,
			    "tcp:5000:5000:7200@0 udp:5000:5000:7200@0 udp:5000:0:0@0 "
			    "udp:5000:5000:7200@0 tcp:5000:0:0@0 tcp:5000:40001:7200@0");
	pm_test_assert_states(tb, "active@0");
	pm_test_assert_port(tb->mapping, PM_PROTO_INDEX_TCP, 5000, 40001, 7200, MS(7200000));
	pm_test_assert_port(tb->mapping, PM_PROTO_INDEX_UDP, 5000, 40001, 7200, MS(7200000));
	g_assert_cmpuint(pm_mapping_get_external_port(tb->mapping), ==, 40001);
	g_assert_null(tb->mapping->last_error);
	g_assert_cmpuint(b->gw->leases->len, ==, 2);

	/* still different: both kept, ExternalPort is TCP's, LastError says so */
	pm_test_gateway_set_busy(c->gw, PM_NATPMP_OP_MAP_UDP, 5000);
	pm_test_gateway_set_busy(c->gw, PM_NATPMP_OP_MAP_TCP, 40001);
	pm_test_mapping_start(tc);
	pm_test_ctx_advance(c, 0);
	pm_test_assert_sent(c->gw,
			    0,
			    "tcp:5000:5000:7200@0 udp:5000:5000:7200@0 udp:5000:0:0@0 "
			    "udp:5000:5000:7200@0 tcp:5000:0:0@0 tcp:5000:40001:7200@0");
	pm_test_assert_states(tc, "active@0");
	g_assert_cmpuint(tc->mapping->ports[PM_PROTO_INDEX_TCP].external_port, ==, 40002);
	g_assert_cmpuint(tc->mapping->ports[PM_PROTO_INDEX_UDP].external_port, ==, 40001);
	g_assert_cmpuint(pm_mapping_get_external_port(tc->mapping), ==, 40002);
	g_assert_nonnull(tc->mapping->last_error);
	g_assert_nonnull(strstr(tc->mapping->last_error, "different"));
	g_assert_nonnull(strstr(tc->mapping->last_error, "tcp 40002"));
	g_assert_nonnull(strstr(tc->mapping->last_error, "udp 40001"));
	/* and no more requests than that: renewal keeps each */
	pm_test_ctx_advance_to(c, MS(3600000));
	pm_test_assert_sent(c->gw, 6, "tcp:5000:40002:7200@3600000 udp:5000:40001:7200@3600000");
	g_assert_cmpuint(pm_mapping_get_external_port(tc->mapping), ==, 40002);
	pm_test_assert_no_warnings();
}

/* 6: a mapping with consumers asks once more with I = E */
static void
pm_test_provider_remap(void)
{
	g_autoptr(PmTestCtx) a = pm_test_ctx_new(1, 7200, 0, FALSE);
	g_autoptr(PmTestCtx) b = pm_test_ctx_new(1, 7200, 0, FALSE);
	g_autoptr(PmTestCtx) c = pm_test_ctx_new(1, 7200, 0, FALSE);
	g_autoptr(PmTestCtx) d = pm_test_ctx_new(1, 7200, 0, FALSE);
	PmTestMapping *ta = pm_test_mapping_new(a, "m", PM_PROTOCOL_TCP, 5000, 5000);
	PmTestMapping *tb = pm_test_mapping_new(b, "m", PM_PROTOCOL_TCP, 5000, 5000);
	PmTestMapping *tc = pm_test_mapping_new(c, "m", TCP_UDP, 5000, 5000);
	PmTestMapping *td = pm_test_mapping_new(d, "m", PM_PROTOCOL_TCP, 5000, 5000);

	ta->mapping->has_consumers = TRUE;
	pm_test_gateway_set_busy(a->gw, PM_NATPMP_OP_MAP_TCP, 5000);
	pm_test_mapping_start(ta);
	pm_test_ctx_advance(a, 0);
	pm_test_assert_sent(a->gw, 0, "tcp:5000:5000:7200@0 tcp:5000:0:0@0 tcp:40000:40000:7200@0");
	pm_test_assert_states(ta, "active@0");
	g_assert_cmpuint(ta->mapping->internal_port, ==, 40000);
	pm_test_assert_port(ta->mapping, PM_PROTO_INDEX_TCP, 40000, 40000, 7200, MS(7200000));
	g_assert_cmpuint(pm_test_mapping_props_at(ta, T0) & PM_MAPPING_PROP_INTERNAL_PORT, !=, 0);
	g_assert_cmpuint(a->gw->leases->len, ==, 1);
	pm_test_ctx_advance_to(a, MS(3600000));
	pm_test_assert_sent(a->gw, 3, "tcp:40000:40000:7200@3600000");

	/* at most once: a different E again is kept */
	tb->mapping->has_consumers = TRUE;
	pm_test_gateway_set_busy(b->gw, PM_NATPMP_OP_MAP_TCP, 5000);
	pm_test_gateway_script(b->gw, PM_TEST_ACT_DEFAULT, 0);
	pm_test_gateway_script(b->gw, PM_TEST_ACT_DEFAULT, 0);
	pm_test_gateway_script(b->gw, PM_TEST_ACT_PORT, 40001);
	pm_test_mapping_start(tb);
	pm_test_ctx_advance(b, 0);
	pm_test_assert_sent(b->gw, 0, "tcp:5000:5000:7200@0 tcp:5000:0:0@0 tcp:40000:40000:7200@0");
	pm_test_assert_states(tb, "active@0");
	g_assert_cmpuint(tb->mapping->internal_port, ==, 40000);
	g_assert_cmpuint(pm_mapping_get_external_port(tb->mapping), ==, 40001);
	pm_test_ctx_advance_to(b, MS(3600000));
	pm_test_assert_sent(b->gw, 3, "tcp:40000:40001:7200@3600000");

	/* both protocols: each deleted at I, then both asked with I = E */
	tc->mapping->has_consumers = TRUE;
	pm_test_gateway_set_busy(c->gw, PM_NATPMP_OP_MAP_TCP, 5000);
	pm_test_gateway_set_busy(c->gw, PM_NATPMP_OP_MAP_UDP, 5000);
	pm_test_mapping_start(tc);
	pm_test_ctx_advance(c, 0);
	pm_test_assert_sent(c->gw,
			    0,
			    "tcp:5000:5000:7200@0 udp:5000:40000:7200@0 tcp:5000:0:0@0 "
			    "udp:5000:0:0@0 tcp:40000:40000:7200@0 udp:40000:40000:7200@0");
	pm_test_assert_states(tc, "active@0");
	pm_test_assert_port(tc->mapping, PM_PROTO_INDEX_TCP, 40000, 40000, 7200, MS(7200000));
	pm_test_assert_port(tc->mapping, PM_PROTO_INDEX_UDP, 40000, 40000, 7200, MS(7200000));

	/* a bus mapping is never re-mapped: its internal port is the caller's */
	td->mapping->has_consumers = TRUE;
	td->mapping->origin = PM_ORIGIN_BUS;
	pm_test_gateway_set_busy(d->gw, PM_NATPMP_OP_MAP_TCP, 5000);
	pm_test_mapping_start(td);
	pm_test_ctx_advance(d, 0);
	pm_test_assert_sent(d->gw, 0, "tcp:5000:5000:7200@0");
	g_assert_cmpuint(td->mapping->internal_port, ==, 5000);
	g_assert_cmpuint(pm_mapping_get_external_port(td->mapping), ==, 40000);
	pm_test_assert_no_warnings();
}

/* 6b: design §3 "Ports": a later change of E on renewal triggers at most one re-map */
static void
pm_test_provider_remap_on_renewal(void)
{
	g_autoptr(PmTestCtx) ctx = pm_test_ctx_new(1, 60, 0, FALSE);
	PmTestMapping *tm = pm_test_mapping_new(ctx, "m", PM_PROTOCOL_TCP, 5000, 5000);
	PmMapping *m = tm->mapping;

	m->has_consumers = TRUE;
	pm_test_mapping_start(tm);
	pm_test_ctx_advance(ctx, 0);
	pm_test_assert_sent(ctx->gw, 0, "tcp:5000:5000:60@0");
	g_assert_cmpuint(pm_mapping_get_external_port(m), ==, 5000);

	/* the renewal comes back with another port */
	pm_test_gateway_script(ctx->gw, PM_TEST_ACT_PORT, 40500);
	pm_test_ctx_advance_to(ctx, MS(30000));
	pm_test_assert_sent(ctx->gw,
			    1,
			    "tcp:5000:5000:60@30000 tcp:5000:0:0@30000 "
			    "tcp:40500:40500:60@30000");
	g_assert_cmpint(m->state, ==, PM_MAPPING_STATE_ACTIVE);
	g_assert_cmpuint(m->internal_port, ==, 40500);
	g_assert_cmpuint(pm_mapping_get_external_port(m), ==, 40500);
	pm_test_assert_states(tm, "active@0");
	/* and nothing more */
	pm_test_ctx_advance_to(ctx, MS(60000));
	pm_test_assert_sent(ctx->gw, 4, "tcp:40500:40500:60@60000");

	/* each change allows one re-map, not more: a different E again is kept */
	pm_test_gateway_script(ctx->gw, PM_TEST_ACT_PORT, 40600);
	pm_test_gateway_script(ctx->gw, PM_TEST_ACT_DEFAULT, 0);
	pm_test_gateway_script(ctx->gw, PM_TEST_ACT_PORT, 40601);
	pm_test_ctx_advance_to(ctx, MS(90000));
	pm_test_assert_sent(ctx->gw,
			    5,
			    "tcp:40500:40500:60@90000 tcp:40500:0:0@90000 "
			    "tcp:40600:40600:60@90000");
	g_assert_cmpuint(m->internal_port, ==, 40600);
	g_assert_cmpuint(pm_mapping_get_external_port(m), ==, 40601);
	pm_test_ctx_advance_to(ctx, MS(120000));
	pm_test_assert_sent(ctx->gw, 8, "tcp:40600:40601:60@120000");
	g_assert_cmpint(m->state, ==, PM_MAPPING_STATE_ACTIVE);
	pm_test_assert_no_warnings();
}

/* 7: SamePort: internal port 0, I := E, never a delete-all */
static void
pm_test_provider_same_port(void)
{
	g_autoptr(PmTestCtx) ctx = pm_test_ctx_new(1, 60, 0, TRUE);
	PmTestMapping *tm = pm_test_mapping_new(ctx, "m", TCP_UDP, 0, 0);
	PmTestMapping *tm2 = pm_test_mapping_new(ctx, "m2", TCP_UDP, 0, 0);
	PmMapping *m = tm->mapping;
	guint n;

	pm_test_mapping_start(tm);
	pm_test_ctx_advance(ctx, 0);
	pm_test_assert_sent(ctx->gw, 0, "tcp:0:0:60@0 udp:0:40000:60@0");
	pm_test_assert_states(tm, "active@0");
	g_assert_cmpuint(m->internal_port, ==, 40000);
	pm_test_assert_port(m, PM_PROTO_INDEX_TCP, 40000, 40000, 60, MS(60000));
	pm_test_assert_port(m, PM_PROTO_INDEX_UDP, 40000, 40000, 60, MS(60000));
	g_assert_cmpuint(pm_test_mapping_props_at(tm, T0) & PM_MAPPING_PROP_INTERNAL_PORT, !=, 0);
	pm_test_ctx_advance_to(ctx, MS(30000));
	pm_test_assert_sent(ctx->gw, 2, "tcp:0:40000:60@30000 udp:0:40000:60@30000");
	g_assert_cmpuint(m->internal_port, ==, 40000);

	/* release: nothing to send, the lease expires by itself */
	pm_provider_stop(ctx->provider, m, TRUE, pm_test_mapping_done_cb, tm);
	g_assert_cmpuint(tm->done, ==, 1);
	g_assert_cmpuint(tm->done_at, ==, MS(30000));
	pm_test_ctx_advance(ctx, 100 * USEC_PER_SEC);
	g_assert_cmpuint(ctx->gw->sent->len, ==, 4);

	/* UDP given another port: kept, since one mapping cannot be deleted */
	pm_test_gateway_script(ctx->gw, PM_TEST_ACT_DEFAULT, 0);
	pm_test_gateway_script(ctx->gw, PM_TEST_ACT_PORT, 40007);
	n = ctx->gw->sent->len;
	pm_test_mapping_start(tm2);
	pm_test_ctx_advance(ctx, 0);
	pm_test_assert_sent(ctx->gw, n, "tcp:0:0:60@130000 udp:0:40001:60@130000");
	g_assert_cmpint(tm2->mapping->state, ==, PM_MAPPING_STATE_ACTIVE);
	g_assert_nonnull(tm2->mapping->last_error);
	pm_provider_stop(ctx->provider, tm2->mapping, TRUE, pm_test_mapping_done_cb, tm2);
	g_assert_cmpuint(tm2->done, ==, 1);
	pm_test_ctx_advance(ctx, 100 * USEC_PER_SEC);

	/* never internal port 0 with lifetime 0 */
	for (guint i = 0; i < ctx->gw->sent->len; i++) {
		const PmTestSent *s = pm_test_gateway_sent(ctx->gw, i);
		g_assert_false(s->req.internal_port == 0 && s->req.lifetime == 0);
	}
	g_assert_cmpuint(ctx->gw->deletes_all, ==, 0);
	pm_test_assert_no_warnings();
}

/* 8: the gateway changes the port on renewal */
static void
pm_test_provider_port_change(void)
{
	g_autoptr(PmTestCtx) ctx = pm_test_ctx_new(1, 60, 0, FALSE);
	PmTestMapping *tm = pm_test_mapping_new(ctx, "m", TCP_UDP, 5000, 5000);
	PmMapping *m = tm->mapping;
	guint props;
	guint n;

	pm_test_mapping_start(tm);
	pm_test_ctx_advance(ctx, 0);
	g_assert_cmpuint(pm_mapping_get_external_port(m), ==, 5000);

	pm_test_gateway_script(ctx->gw, PM_TEST_ACT_PORT, 40123);
	pm_test_gateway_script(ctx->gw, PM_TEST_ACT_PORT, 40123);
	n = tm->changes->len;
	pm_test_ctx_advance_to(ctx, MS(30000));
	pm_test_assert_sent(ctx->gw, 2, "tcp:5000:5000:60@30000 udp:5000:5000:60@30000");
	g_assert_cmpint(m->state, ==, PM_MAPPING_STATE_ACTIVE);
	g_assert_cmpuint(pm_mapping_get_external_port(m), ==, 40123);
	pm_test_assert_port(m, PM_PROTO_INDEX_TCP, 5000, 40123, 60, MS(90000));
	pm_test_assert_port(m, PM_PROTO_INDEX_UDP, 5000, 40123, 60, MS(90000));
	g_assert_cmpuint(m->suggested_external_port, ==, 40123);
	/* one change told consumers the new port */
	props = 0;
	for (guint i = n; i < tm->changes->len; i++) {
		PmTestChange *c = &g_array_index(tm->changes, PmTestChange, i);
		if (c->props & PM_MAPPING_PROP_EXTERNAL_PORT) {
			g_assert_cmpuint(c->external_port, ==, 40123);
			g_assert_cmpuint(c->at, ==, MS(30000));
			g_assert_cmpuint(props & PM_MAPPING_PROP_EXTERNAL_PORT, ==, 0);
		}
		props |= c->props;
	}
	g_assert_cmpuint(props & PM_MAPPING_PROP_EXTERNAL_PORT, !=, 0);
	g_assert_cmpuint(props & PM_MAPPING_PROP_PORTS, !=, 0);
	g_assert_cmpuint(props & PM_MAPPING_PROP_INTERNAL_PORT, ==, 0);
	/* the next renewal suggests it */
	pm_test_ctx_advance_to(ctx, MS(60000));
	pm_test_assert_sent(ctx->gw, 4, "tcp:5000:40123:60@60000 udp:5000:40123:60@60000");
	pm_test_assert_no_warnings();
}

/* 9: the gateway lost its state: every mapping again, together (distinct keys), same E */
static void
pm_test_provider_gateway_reset(void)
{
	g_autoptr(PmTestCtx) ctx = pm_test_ctx_new(11, 7200, 0, FALSE);
	PmTestMapping *t1 = pm_test_mapping_new(ctx, "m1", TCP_UDP, 5000, 5000);
	PmTestMapping *t2 = pm_test_mapping_new(ctx, "m2", PM_PROTOCOL_TCP, 6000, 6000);
	const PmTestSent *s;
	guint64 first;
	guint n;

	ctx->gw->reply_delay = 10 * USEC_PER_MSEC;
	pm_test_gateway_set_busy(ctx->gw, PM_NATPMP_OP_MAP_TCP, 6000);
	pm_test_mapping_start(t1);
	pm_test_mapping_start(t2);
	pm_test_ctx_advance(ctx, 1 * USEC_PER_SEC);
	g_assert_cmpuint(pm_mapping_get_external_port(t1->mapping), ==, 5000);
	g_assert_cmpuint(pm_mapping_get_external_port(t2->mapping), ==, 40000);
	/* its port is free again after the reboot: still, the old one is asked */
	g_array_set_size(ctx->gw->busy, 0);

	pm_test_ctx_advance_to(ctx, MS(100000));
	n = ctx->gw->sent->len;
	pm_test_gateway_reboot(ctx->gw);
	pm_test_ctx_advance(ctx, 1 * USEC_PER_SEC);
	/* the announcement shows the reset and asks for the address */
	pm_test_gateway_announce(ctx->gw);
	pm_test_assert_sent(ctx->gw, n, "pa@101000");
	pm_test_ctx_advance(ctx, 10 * USEC_PER_SEC);

	g_assert_cmpuint(ctx->gw->sent->len, ==, n + 4);
	first = pm_test_gateway_sent(ctx->gw, n + 1)->at;
	g_test_message("re-created after %" G_GUINT64_FORMAT " us", first - MS(101000));
	g_assert_cmpuint(first, >=, MS(101000));
	g_assert_cmpuint(first, <=, MS(101000) + PM_NATPMP_RESET_DELAY_MAX_USEC);
	/* both first requests at once (their keys differ), m1's UDP once its TCP is answered */
	g_assert_cmpuint(pm_test_gateway_sent(ctx->gw, n + 2)->at, ==, first);
	g_assert_cmpuint(pm_test_gateway_sent(ctx->gw, n + 3)->at, ==, first + 10 * USEC_PER_MSEC);
	/* the two first requests in either order, then m1's UDP */
	for (guint i = n + 1; i < n + 3; i++) {
		s = pm_test_gateway_sent(ctx->gw, i);
		g_assert_cmpuint(s->req.opcode, ==, PM_NATPMP_OP_MAP_TCP);
		if (s->req.internal_port == 5000)
			g_assert_cmpuint(s->req.suggested_external_port, ==, 5000);
		else
			g_assert_cmpuint(s->req.suggested_external_port, ==, 40000);
	}
	g_assert_cmpuint(pm_test_gateway_sent(ctx->gw, n + 1)->req.internal_port,
			 !=,
			 pm_test_gateway_sent(ctx->gw, n + 2)->req.internal_port);
	s = pm_test_gateway_sent(ctx->gw, n + 3);
	g_assert_cmpuint(s->req.opcode, ==, PM_NATPMP_OP_MAP_UDP);
	g_assert_cmpuint(s->req.internal_port, ==, 5000);
	g_assert_cmpuint(s->req.suggested_external_port, ==, 5000);

	g_assert_cmpint(t1->mapping->state, ==, PM_MAPPING_STATE_ACTIVE);
	g_assert_cmpint(t2->mapping->state, ==, PM_MAPPING_STATE_ACTIVE);
	g_assert_cmpuint(pm_mapping_get_external_port(t1->mapping), ==, 5000);
	g_assert_cmpuint(pm_mapping_get_external_port(t2->mapping), ==, 40000);
	g_assert_cmpuint(ctx->gw->leases->len, ==, 3);
	g_assert_cmpuint(pm_mapping_get_expires(t2->mapping), >, MS(101000) + 7200 * USEC_PER_SEC);
	pm_test_assert_no_warnings();
}

/* 10: stop with release */
static void
pm_test_provider_stop_release(void)
{
	g_autoptr(PmTestCtx) a = pm_test_ctx_new(1, 7200, 0, FALSE);
	g_autoptr(PmTestCtx) b = pm_test_ctx_new(1, 7200, 0, FALSE);
	g_autoptr(PmTestCtx) c = pm_test_ctx_new(1, 7200, 0, FALSE);
	g_autoptr(PmTestCtx) d = pm_test_ctx_new(1, 7200, 0, FALSE);
	PmTestMapping *ta = pm_test_mapping_new(a, "m", TCP_UDP, 5000, 5000);
	PmTestMapping *tb = pm_test_mapping_new(b, "m", TCP_UDP, 5000, 5000);
	PmTestMapping *tc = pm_test_mapping_new(c, "m", TCP_UDP, 5000, 5000);
	PmTestMapping *td = pm_test_mapping_new(d, "m", TCP_UDP, 5000, 5000);

	/* answered: one deletion per protocol, done after the last answer */
	a->gw->reply_delay = 100 * USEC_PER_MSEC;
	pm_test_mapping_start(ta);
	pm_test_ctx_advance_to(a, MS(10000));
	g_assert_cmpint(ta->mapping->state, ==, PM_MAPPING_STATE_ACTIVE);
	g_assert_cmpuint(a->gw->leases->len, ==, 2);
	pm_provider_stop(a->provider, ta->mapping, TRUE, pm_test_mapping_done_cb, ta);
	g_assert_cmpuint(ta->done, ==, 0);
	pm_test_ctx_advance(a, 199 * USEC_PER_MSEC);
	g_assert_cmpuint(ta->done, ==, 0);
	pm_test_ctx_advance(a, 1 * USEC_PER_MSEC);
	g_assert_cmpuint(ta->done, ==, 1);
	g_assert_cmpuint(ta->done_at, ==, MS(10200));
	pm_test_assert_sent(a->gw, 2, "tcp:5000:0:0@10000 udp:5000:0:0@10100");
	g_assert_cmpuint(a->gw->leases->len, ==, 0);
	g_assert_null(ta->mapping->provider_data);
	pm_test_ctx_advance(a, 8000 * USEC_PER_SEC);
	g_assert_cmpuint(a->gw->sent->len, ==, 4);
	g_assert_cmpuint(ta->done, ==, 1);

	/* unanswered: two sends each */
	pm_test_mapping_start(tb);
	pm_test_ctx_advance_to(b, MS(10000));
	b->gw->silent = TRUE;
	pm_provider_stop(b->provider, tb->mapping, TRUE, pm_test_mapping_done_cb, tb);
	pm_test_ctx_advance(b, 1499 * USEC_PER_MSEC);
	g_assert_cmpuint(tb->done, ==, 0);
	pm_test_ctx_advance(b, 1 * USEC_PER_MSEC);
	g_assert_cmpuint(tb->done, ==, 1);
	g_assert_cmpuint(tb->done_at, ==, MS(11500));
	pm_test_assert_sent(b->gw,
			    2,
			    "tcp:5000:0:0@10000 tcp:5000:0:0@10250 udp:5000:0:0@10750 "
			    "udp:5000:0:0@11000");
	pm_test_ctx_advance(b, 8000 * USEC_PER_SEC);
	g_assert_cmpuint(b->gw->sent->len, ==, 6);

	/* the first request still unanswered: its answer may have been lost, delete anyway */
	c->gw->silent = TRUE;
	pm_test_mapping_start(tc);
	pm_test_ctx_advance_to(c, MS(1000));
	pm_provider_stop(c->provider, tc->mapping, TRUE, pm_test_mapping_done_cb, tc);
	pm_test_ctx_advance(c, 10 * USEC_PER_SEC);
	pm_test_assert_sent(c->gw,
			    0,
			    "tcp:5000:5000:7200@0 tcp:5000:5000:7200@250 tcp:5000:5000:7200@750 "
			    "tcp:5000:0:0@1000 tcp:5000:0:0@1250 udp:5000:0:0@1750 "
			    "udp:5000:0:0@2000");
	g_assert_cmpuint(tc->done, ==, 1);
	g_assert_cmpuint(tc->done_at, ==, MS(2500));

	/* without release: nothing sent, done at once */
	pm_test_mapping_start(td);
	pm_test_ctx_advance(d, 0);
	pm_provider_stop(d->provider, td->mapping, FALSE, pm_test_mapping_done_cb, td);
	g_assert_cmpuint(td->done, ==, 1);
	pm_test_ctx_advance(d, 8000 * USEC_PER_SEC);
	pm_test_assert_sent(d->gw, 0, "tcp:5000:5000:7200@0 udp:5000:5000:7200@0");
	pm_test_assert_no_warnings();
}

/* 11: suspend: due timers fire at the resume instant */
static void
pm_test_provider_suspend(void)
{
	g_autoptr(PmTestCtx) ctx = pm_test_ctx_new(1, 60, 0, FALSE);
	PmTestMapping *tm = pm_test_mapping_new(ctx, "m", TCP_UDP, 5000, 5000);
	PmMapping *m = tm->mapping;

	pm_test_mapping_start(tm);
	pm_test_ctx_advance(ctx, 0);
	pm_test_assert_states(tm, "active@0");

	/* asleep over the renewal time: answered at once, so never shown as renewing */
	pm_scheduler_jump(ctx->scheduler, 40 * USEC_PER_SEC);
	pm_test_assert_sent(ctx->gw, 2, "tcp:5000:5000:60@40000 udp:5000:5000:60@40000");
	pm_test_assert_states(tm, "active@0");
	g_assert_cmpuint(pm_mapping_get_expires(m), ==, MS(100000));

	/* asleep past the lease's end */
	pm_scheduler_jump(ctx->scheduler, 200 * USEC_PER_SEC);
	pm_test_assert_sent(ctx->gw, 4, "tcp:5000:5000:60@240000 udp:5000:5000:60@240000");
	pm_test_assert_states(tm,
			      "active@0 retrying@240000 "
			      "active@240000");
	g_assert_cmpuint(pm_mapping_get_expires(m), ==, MS(300000));
	g_assert_cmpuint(pm_mapping_get_external_port(m), ==, 5000);
	pm_test_ctx_advance_to(ctx, MS(270000) - 1);
	g_assert_cmpuint(ctx->gw->sent->len, ==, 6);
	pm_test_ctx_advance(ctx, 1);
	pm_test_assert_sent(ctx->gw, 6, "tcp:5000:5000:60@270000 udp:5000:5000:60@270000");
	pm_test_ctx_advance_to(ctx, MS(500000));
	g_assert_cmpint(m->state, ==, PM_MAPPING_STATE_ACTIVE);
	pm_test_assert_no_warnings();
}

/* 12: refresh() renews at once; done when the run ends */
static void
pm_test_provider_refresh(void)
{
	g_autoptr(PmTestCtx) ctx = pm_test_ctx_new(1, 7200, 0, FALSE);
	PmTestMapping *tm = pm_test_mapping_new(ctx, "m", TCP_UDP, 5000, 5000);
	PmMapping *m = tm->mapping;
	guint n;

	ctx->gw->reply_delay = 50 * USEC_PER_MSEC;
	pm_test_mapping_start(tm);
	pm_test_ctx_advance_to(ctx, MS(100000));
	n = ctx->gw->sent->len;
	pm_provider_refresh(ctx->provider, m, pm_test_mapping_done_cb, tm);
	pm_test_assert_sent(ctx->gw, n, "tcp:5000:5000:7200@100000");
	/* answered within the first wait: never shown as renewing */
	g_assert_cmpint(m->state, ==, PM_MAPPING_STATE_ACTIVE);
	pm_test_ctx_advance(ctx, 99 * USEC_PER_MSEC);
	g_assert_cmpuint(tm->done, ==, 0);
	pm_test_ctx_advance(ctx, 1 * USEC_PER_MSEC);
	g_assert_cmpuint(tm->done, ==, 1);
	g_assert_cmpuint(tm->done_at, ==, MS(100100));
	pm_test_assert_sent(ctx->gw, n, "tcp:5000:5000:7200@100000 udp:5000:5000:7200@100050");
	g_assert_cmpint(m->state, ==, PM_MAPPING_STATE_ACTIVE);
	g_assert_cmpuint(pm_mapping_get_expires(m), ==, MS(100050) + 7200 * USEC_PER_SEC);

	/* the next renewal counts from there, rounded up to a whole second (lease timers are
	 * second-granular so renewals share wake-ups) */
	pm_test_ctx_advance_to(ctx, MS(101000) + 3600 * USEC_PER_SEC - 1);
	g_assert_cmpuint(ctx->gw->sent->len, ==, n + 2);
	pm_test_ctx_advance(ctx, 1);
	g_assert_cmpuint(ctx->gw->sent->len, ==, n + 3);
	pm_test_assert_no_warnings();
}

/* 12b: a silent gateway: the caller is answered after 5 unanswered sends, the run goes on */
static void
pm_test_provider_refresh_silent(void)
{
	g_autoptr(PmTestCtx) ctx = pm_test_ctx_new(1, 7200, 0, FALSE);
	PmTestMapping *tm = pm_test_mapping_new(ctx, "m", PM_PROTOCOL_TCP, 5000, 5000);

	pm_test_mapping_start(tm);
	pm_test_ctx_advance_to(ctx, MS(100000));
	ctx->gw->silent = TRUE;
	pm_provider_refresh(ctx->provider, tm->mapping, pm_test_mapping_done_cb, tm);
	pm_test_ctx_advance(ctx, 60 * USEC_PER_SEC);
	g_assert_cmpuint(tm->done, ==, 1);
	g_assert_cmpuint(tm->done_at, ==, MS(107750));
	g_assert_cmpint(tm->mapping->state, ==, PM_MAPPING_STATE_RENEWING);
	pm_test_assert_no_warnings();
}

/* 12c: refused by ICMP: that run ended, the caller must not wait for the lease's end */
static void
pm_test_provider_refresh_refused(void)
{
	g_autoptr(PmTestCtx) ctx = pm_test_ctx_new(1, 7200, 0, FALSE);
	PmTestMapping *tm = pm_test_mapping_new(ctx, "m", PM_PROTOCOL_TCP, 5000, 5000);

	pm_test_mapping_start(tm);
	pm_test_ctx_advance_to(ctx, MS(100000));
	ctx->gw->refuse = TRUE;
	pm_provider_refresh(ctx->provider, tm->mapping, pm_test_mapping_done_cb, tm);
	pm_test_ctx_advance(ctx, 0);
	g_assert_cmpuint(tm->done, ==, 1);
	g_assert_cmpuint(tm->done_at, ==, MS(100000));
	g_assert_nonnull(tm->mapping->last_error);
	g_assert_true(g_str_has_prefix(tm->mapping->last_error, "GatewayUnreachable: "));
	/* the lease is still good: renewals go on, backing off */
	g_assert_cmpint(tm->mapping->state, ==, PM_MAPPING_STATE_RENEWING);
	pm_test_ctx_advance(ctx, 1 * USEC_PER_SEC);
	g_assert_cmpuint(pm_test_gateway_sent(ctx->gw, ctx->gw->sent->len - 1)->at, ==, MS(101000));

	/* the same for a renewal answered with result 3 */
	ctx->gw->refuse = FALSE;
	pm_test_ctx_advance(ctx, 2 * USEC_PER_SEC);
	g_assert_cmpuint(pm_test_gateway_sent(ctx->gw, ctx->gw->sent->len - 1)->at, ==, MS(103000));
	g_assert_cmpint(tm->mapping->state, ==, PM_MAPPING_STATE_ACTIVE);
	ctx->gw->result = PM_NATPMP_RESULT_NETWORK_FAILURE;
	pm_provider_refresh(ctx->provider, tm->mapping, pm_test_mapping_done_cb, tm);
	pm_test_ctx_advance(ctx, 0);
	g_assert_cmpuint(tm->done, ==, 2);
	g_assert_cmpuint(tm->done_at, ==, pm_test_now(ctx));
	g_assert_nonnull(strstr(tm->mapping->last_error, "result 3"));
	pm_test_assert_no_warnings();
}

/* 10b: a mapping stopped with release and started again at once (Reload with Protocols=
 * changed): the old deletions must not take the new run's state away */
static void
pm_test_provider_restart_while_releasing(void)
{
	g_autoptr(PmTestCtx) ctx = pm_test_ctx_new(1, 7200, 0, FALSE);
	PmTestMapping *tm = pm_test_mapping_new(ctx, "m", TCP_UDP, 5000, 5000);
	PmTestMapping *waiter = pm_test_mapping_new(ctx, "waiter", PM_PROTOCOL_TCP, 1, 1);
	PmMapping *m = tm->mapping;

	ctx->gw->reply_delay = 100 * USEC_PER_MSEC;
	pm_test_mapping_start(tm);
	pm_test_ctx_advance_to(ctx, MS(10000));
	g_assert_cmpint(m->state, ==, PM_MAPPING_STATE_ACTIVE);

	pm_provider_stop(ctx->provider, m, TRUE, pm_test_mapping_done_cb, tm);
	m->protocols = PM_PROTOCOL_TCP;
	memset(m->ports, 0, sizeof(m->ports));
	m->state = PM_MAPPING_STATE_REQUESTING;
	pm_test_mapping_start(tm);
	pm_test_ctx_advance(ctx, 1 * USEC_PER_SEC);
	g_assert_cmpuint(tm->done, ==, 1);
	/* the new run's request has the deletion's key: it waits for its answer; the UDP
	 * deletion (the protocols as they were at the stop) follows it */
	g_assert_cmpuint(tm->done_at, ==, MS(10200));
	pm_test_assert_sent(ctx->gw,
			    2,
			    "tcp:5000:0:0@10000 tcp:5000:5000:7200@10100 udp:5000:0:0@10100");
	g_assert_cmpint(m->state, ==, PM_MAPPING_STATE_ACTIVE);
	g_assert_nonnull(m->provider_data);

	/* still the provider's: refresh renews, stop deletes */
	pm_provider_refresh(ctx->provider, m, pm_test_mapping_done_cb, waiter);
	pm_test_ctx_advance(ctx, 1 * USEC_PER_SEC);
	g_assert_cmpuint(waiter->done, ==, 1);
	g_assert_cmpuint(waiter->done_at, ==, MS(11100));
	pm_test_assert_sent(ctx->gw, 5, "tcp:5000:5000:7200@11000");
	pm_provider_stop(ctx->provider, m, TRUE, pm_test_mapping_done_cb, tm);
	pm_test_ctx_advance(ctx, 1 * USEC_PER_SEC);
	pm_test_assert_sent(ctx->gw, 6, "tcp:5000:0:0@12000");
	g_assert_cmpuint(tm->done, ==, 2);
	g_assert_cmpuint(tm->done_at, ==, MS(12100));
	g_assert_null(m->provider_data);
	g_assert_cmpuint(pm_scheduler_get_n_armed(ctx->scheduler), ==, 0);
	pm_test_assert_no_warnings();
}

/* 13: issue 7's head-of-line case: a first request that is never answered (no give-up)
 * must not hold back another mapping's renewals; that mapping stays active, renewing
 * every 2 s, and is never shown active past its lease */
static void
pm_test_provider_unanswered_does_not_block(void)
{
	g_autoptr(PmTestCtx) ctx = pm_test_ctx_new(1, 60, 2 * USEC_PER_SEC, FALSE);
	PmTestMapping *stuck = pm_test_mapping_new(ctx, "stuck", PM_PROTOCOL_TCP, 7001, 7001);
	PmTestMapping *live = pm_test_mapping_new(ctx, "live", PM_PROTOCOL_TCP, 7002, 7002);
	guint renewals = 0;
	guint64 last_expires;

	ctx->gw->silent_port = 7001;
	pm_test_mapping_start(stuck);
	pm_test_mapping_start(live);
	pm_test_ctx_advance(ctx, 1);
	g_assert_cmpint(live->mapping->state, ==, PM_MAPPING_STATE_ACTIVE);
	last_expires = pm_mapping_get_expires(live->mapping);
	/* 200 s in 50 ms steps: the live mapping's lease never lapses */
	for (guint i = 0; i < 4000; i++) {
		guint64 expires;
		pm_test_ctx_advance(ctx, 50 * USEC_PER_MSEC);
		expires = pm_mapping_get_expires(live->mapping);
		g_assert_cmpint(live->mapping->state, ==, PM_MAPPING_STATE_ACTIVE);
		g_assert_cmpuint(expires, >, pm_test_now(ctx));
		if (expires != last_expires)
			renewals++;
		last_expires = expires;
	}
	/* every 2 s (rounded to the second): about 100 renewals in 200 s */
	g_assert_cmpuint(renewals, >=, 90);
	g_assert_cmpint(stuck->mapping->state, ==, PM_MAPPING_STATE_DEGRADED);
	pm_test_assert_warning("no lease");
	pm_test_assert_no_warnings();
}

/* 13b: a lease that runs out while its renewal goes unanswered is not shown active */
static void
pm_test_provider_lease_end_not_active(void)
{
	g_autoptr(PmTestCtx) ctx = pm_test_ctx_new(1, 60, 0, FALSE);
	PmTestMapping *tm = pm_test_mapping_new(ctx, "m", PM_PROTOCOL_TCP, 5000, 5000);
	guint64 expires;

	pm_test_mapping_start(tm);
	pm_test_ctx_advance(ctx, 1);
	expires = pm_mapping_get_expires(tm->mapping);
	ctx->gw->silent = TRUE;
	pm_test_ctx_advance_to(ctx, expires - 1);
	g_assert_cmpint(tm->mapping->state, ==, PM_MAPPING_STATE_RENEWING);
	pm_test_ctx_advance(ctx, 1);
	g_assert_cmpint(tm->mapping->state, ==, PM_MAPPING_STATE_RETRYING);
	g_assert_nonnull(strstr(tm->mapping->last_error, "before the lease expired"));
	pm_test_assert_no_warnings();
}

/* 14: issue 7's Refresh() case: two mappings on a silent gateway, Refresh() on both at
 * once: each caller is answered 7.75 s after its run started, whatever else is queued */
static void
pm_test_provider_refresh_two_silent(void)
{
	g_autoptr(PmTestCtx) ctx = pm_test_ctx_new(1, 7200, 0, FALSE);
	PmTestMapping *a = pm_test_mapping_new(ctx, "a", TCP_UDP, 5000, 5000);
	PmTestMapping *b = pm_test_mapping_new(ctx, "b", TCP_UDP, 6000, 6000);
	PmTestMapping *late = pm_test_mapping_new(ctx, "late", PM_PROTOCOL_TCP, 1, 1);

	pm_test_mapping_start(a);
	pm_test_mapping_start(b);
	pm_test_ctx_advance_to(ctx, MS(100000));
	ctx->gw->silent = TRUE;
	pm_provider_refresh(ctx->provider, a->mapping, pm_test_mapping_done_cb, a);
	pm_provider_refresh(ctx->provider, b->mapping, pm_test_mapping_done_cb, b);
	/* a caller joining a run already under way counts from that run's start */
	pm_test_ctx_advance_to(ctx, MS(103000));
	pm_provider_refresh(ctx->provider, b->mapping, pm_test_mapping_done_cb, late);
	pm_test_ctx_advance(ctx, 60 * USEC_PER_SEC);
	g_assert_cmpuint(a->done, ==, 1);
	g_assert_cmpuint(a->done_at, ==, MS(107750));
	g_assert_cmpuint(b->done, ==, 1);
	g_assert_cmpuint(b->done_at, ==, MS(107750));
	g_assert_cmpuint(late->done, ==, 1);
	g_assert_cmpuint(late->done_at, ==, MS(107750));
	g_assert_cmpint(a->mapping->state, ==, PM_MAPPING_STATE_RENEWING);
	g_assert_cmpint(b->mapping->state, ==, PM_MAPPING_STATE_RENEWING);
	pm_test_assert_no_warnings();
}

/* 15: issue 7's gateway move: a request in flight to a silent gateway, the default route
 * moves, the provider switches clients: the waiter is answered, the mapping is active at
 * the new gateway, and the old client, freed, leaves nothing behind */
static void
pm_test_provider_gateway_moves(void)
{
	g_autoptr(PmTestCtx) ctx = pm_test_ctx_new_full(1, 7200, 0, FALSE, TRUE);
	PmTestMapping *tm = pm_test_mapping_new(ctx, "m", TCP_UDP, 5000, 5000);
	PmTestGateway *gw2 = pm_test_gateway_new(ctx->scheduler);
	PmNatpmpClient *client2 = pm_natpmp_client_new(ctx->scheduler,
						       pm_test_ipv4(GATEWAY2),
						       PM_NATPMP_SERVER_PORT,
						       pm_test_gateway_send_cb,
						       gw2,
						       NULL);
	gw2->client = client2;
	pm_natpmp_client_set_local_address(client2, pm_test_ipv4("192.168.88.10"));

	pm_test_mapping_start(tm);
	pm_test_ctx_advance_to(ctx, MS(3000));
	g_assert_cmpint(tm->mapping->state, ==, PM_MAPPING_STATE_RETRYING);
	g_assert_cmpuint(pm_natpmp_client_get_n_queued(ctx->client), >, 0);
	pm_provider_refresh(ctx->provider, tm->mapping, pm_test_mapping_done_cb, tm);

	pm_natpmp_provider_switch_client(ctx->provider, client2);
	/* nothing of ours is left with the old client */
	g_assert_cmpuint(pm_natpmp_client_get_n_queued(ctx->client), ==, 0);
	pm_test_ctx_advance(ctx, 1 * USEC_PER_SEC);
	g_assert_cmpuint(tm->done, ==, 1);
	g_assert_cmpuint(tm->done_at, ==, MS(3000));
	g_assert_cmpint(tm->mapping->state, ==, PM_MAPPING_STATE_ACTIVE);
	g_assert_cmpuint(tm->mapping->internal_address, ==, pm_test_ipv4("192.168.88.10"));
	g_assert_cmpuint(ctx->provider->external_address, ==, pm_test_ipv4(PUBLIC));
	g_assert_cmpuint(gw2->leases->len, ==, 2);

	/* refresh and stop go to the new gateway */
	pm_provider_stop(ctx->provider, tm->mapping, TRUE, pm_test_mapping_done_cb, tm);
	pm_test_ctx_advance(ctx, 1 * USEC_PER_SEC);
	g_assert_cmpuint(tm->done, ==, 2);
	g_assert_cmpuint(gw2->leases->len, ==, 0);
	pm_provider_free(ctx->provider);
	ctx->provider = NULL;
	pm_natpmp_client_unref(client2);
	pm_test_gateway_free(gw2);
	pm_test_assert_no_warnings();
}

/* 15b: a stop in progress when the gateway moves ends there; the deletion at the old
 * gateway is cancelled, not left with a dangling owner */
static void
pm_test_provider_gateway_moves_while_stopping(void)
{
	g_autoptr(PmTestCtx) ctx = pm_test_ctx_new(1, 7200, 0, FALSE);
	PmTestMapping *tm = pm_test_mapping_new(ctx, "m", TCP_UDP, 5000, 5000);
	PmTestGateway *gw2 = pm_test_gateway_new(ctx->scheduler);
	PmNatpmpClient *client2 = pm_natpmp_client_new(ctx->scheduler,
						       pm_test_ipv4(GATEWAY2),
						       PM_NATPMP_SERVER_PORT,
						       pm_test_gateway_send_cb,
						       gw2,
						       NULL);
	gw2->client = client2;

	pm_test_mapping_start(tm);
	pm_test_ctx_advance_to(ctx, MS(1000));
	ctx->gw->silent = TRUE;
	pm_provider_stop(ctx->provider, tm->mapping, TRUE, pm_test_mapping_done_cb, tm);
	g_assert_cmpuint(tm->done, ==, 0);
	pm_natpmp_provider_switch_client(ctx->provider, client2);
	g_assert_cmpuint(tm->done, ==, 1);
	g_assert_null(tm->mapping->provider_data);
	g_assert_cmpuint(pm_natpmp_client_get_n_queued(ctx->client), ==, 0);
	pm_test_ctx_advance(ctx, 10 * USEC_PER_SEC);
	g_assert_cmpuint(tm->done, ==, 1);
	g_assert_cmpuint(gw2->sent->len, ==, 1); /* its public address request only */
	pm_provider_free(ctx->provider);
	ctx->provider = NULL;
	pm_natpmp_client_unref(client2);
	pm_test_gateway_free(gw2);
	pm_test_assert_no_warnings();
}

/* 16: refused renewals back off: 1 s doubling, capped at an eighth of the lease, never
 * past its end; then the lease is gone and the mapping is acquired again */
static void
pm_test_provider_renew_backoff(void)
{
	const guint16 results[] = {0, PM_NATPMP_RESULT_NETWORK_FAILURE,
				   PM_NATPMP_RESULT_OUT_OF_RESOURCES};

	for (guint r = 0; r < G_N_ELEMENTS(results); r++) {
		g_autoptr(PmTestCtx) ctx = pm_test_ctx_new(1, 800, 0, FALSE);
		PmTestMapping *tm = pm_test_mapping_new(ctx, "m", PM_PROTOCOL_TCP, 5000, 5000);
		const guint64 gaps_s[] = {1, 2, 4, 8, 16, 32, 64, 100, 100};
		guint64 expires;
		guint first;

		pm_test_mapping_start(tm);
		pm_test_ctx_advance(ctx, 1);
		expires = pm_mapping_get_expires(tm->mapping);
		/* 0: ICMP port unreachable; else that result code */
		if (results[r] == 0)
			ctx->gw->refuse = TRUE;
		else
			ctx->gw->result = results[r];
		first = ctx->gw->sent->len;
		/* the renewal at half the lease (400 s) is refused */
		pm_test_ctx_advance_to(ctx, expires - 1);
		g_assert_cmpint(tm->mapping->state, ==, PM_MAPPING_STATE_RENEWING);
		for (guint i = 0; i < G_N_ELEMENTS(gaps_s); i++) {
			guint64 gap = pm_test_gateway_sent(ctx->gw, first + i + 1)->at -
				      pm_test_gateway_sent(ctx->gw, first + i)->at;
			g_assert_cmpuint(gap, ==, gaps_s[i] * USEC_PER_SEC);
		}
		/* 400 s of lease left: 1+2+...+64 = 127 s, then 100 s steps; the last wait is cut
		 * at the lease's end, where the mapping starts from scratch */
		g_assert_cmpuint(ctx->gw->sent->len - first, ==, 10);
		g_assert_cmpuint(pm_test_gateway_sent(ctx->gw, ctx->gw->sent->len - 1)->at,
				 ==,
				 expires - 400 * USEC_PER_SEC + 327 * USEC_PER_SEC);
		pm_test_ctx_advance(ctx, 1);
		g_assert_cmpint(tm->mapping->state, ==, PM_MAPPING_STATE_RETRYING);
		pm_test_assert_no_warnings();
	}
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	pm_test_log_init();

	g_test_add_func("/natpmp-provider/grant-renew", pm_test_provider_grant_renew);
	g_test_add_func("/natpmp-provider/renew-granted", pm_test_provider_renew_granted);
	g_test_add_func("/natpmp-provider/renew-coalesced", pm_test_provider_renew_coalesced);
	g_test_add_func("/natpmp-provider/renew-silent", pm_test_provider_renew_silent);
	g_test_add_func("/natpmp-provider/first-unanswered", pm_test_provider_first_unanswered);
	g_test_add_func("/natpmp-provider/first-unanswered-silent",
			pm_test_provider_first_unanswered_silent);
	g_test_add_func("/natpmp-provider/result-fatal", pm_test_provider_result_fatal);
	g_test_add_func("/natpmp-provider/result-retry", pm_test_provider_result_retry);
	g_test_add_func("/natpmp-provider/two-protocols", pm_test_provider_two_protocols);
	g_test_add_func("/natpmp-provider/remap", pm_test_provider_remap);
	g_test_add_func("/natpmp-provider/remap-on-renewal", pm_test_provider_remap_on_renewal);
	g_test_add_func("/natpmp-provider/same-port", pm_test_provider_same_port);
	g_test_add_func("/natpmp-provider/port-change", pm_test_provider_port_change);
	g_test_add_func("/natpmp-provider/gateway-reset", pm_test_provider_gateway_reset);
	g_test_add_func("/natpmp-provider/stop-release", pm_test_provider_stop_release);
	g_test_add_func("/natpmp-provider/restart-while-releasing",
			pm_test_provider_restart_while_releasing);
	g_test_add_func("/natpmp-provider/suspend", pm_test_provider_suspend);
	g_test_add_func("/natpmp-provider/refresh", pm_test_provider_refresh);
	g_test_add_func("/natpmp-provider/refresh-silent", pm_test_provider_refresh_silent);
	g_test_add_func("/natpmp-provider/unanswered-does-not-block",
			pm_test_provider_unanswered_does_not_block);
	g_test_add_func("/natpmp-provider/lease-end-not-active",
			pm_test_provider_lease_end_not_active);
	g_test_add_func("/natpmp-provider/refresh-two-silent", pm_test_provider_refresh_two_silent);
	g_test_add_func("/natpmp-provider/gateway-moves", pm_test_provider_gateway_moves);
	g_test_add_func("/natpmp-provider/gateway-moves-while-stopping",
			pm_test_provider_gateway_moves_while_stopping);
	g_test_add_func("/natpmp-provider/renew-backoff", pm_test_provider_renew_backoff);
	g_test_add_func("/natpmp-provider/refresh-refused", pm_test_provider_refresh_refused);
	return g_test_run();
}
