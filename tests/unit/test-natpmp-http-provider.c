/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Type=natpmp-http against a fake natpmp-http-api service: an in-process HTTP server on
 * 127.0.0.1 (test-http-server.c) with the real service's routes, statuses and bodies (natpmp.md §2.5). The
 * provider's timers run on virtual time (a manual scheduler), the HTTP exchanges on the
 * real main loop: a test moves time forward, then iterates the loop until the service has
 * answered and the provider has acted on it.
 */
#include <arpa/inet.h>
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <string.h>
#include <unistd.h>

#include "errors.h"
#include "natpmp-http-provider.h"
#include "test-http-server.h"
#include "test-log.h"

#define USEC_PER_SEC G_GUINT64_CONSTANT(1000000)
#define T0 (1000 * USEC_PER_SEC)
#define REALTIME0 (G_GUINT64_CONSTANT(1700000000) * USEC_PER_SEC)
#define SEC(x) ((guint64)(x) * USEC_PER_SEC)
#define FIRST_PORT 40000
#define TCP_UDP (PM_PROTOCOL_TCP | PM_PROTOCOL_UDP)
#define TOKEN "s3cret-t0ken"

/* ---- the fake service ---- */

typedef struct {
	guint64 at; /* virtual time when the service saw it */
	char *path;
	char *authorization;
	char *content_type;
	guint16 internal_port;
	char *protocol;
	guint32 duration;
} FakeRequest;

typedef struct {
	guint status;
	char *body; /* NULL: the usual grant */
	guint16 external_port; /* with a NULL body, non-zero: grant this port from now on */
	gboolean wrong_port;   /* with a NULL body: answer for another internal port */
} FakeScript;

typedef struct {
	PmScheduler *scheduler;
	PmTestHttpServer *server;
	char *url;
	GPtrArray *requests; /* of FakeRequest *, /forward only */
	guint health_requests;
	guint health_status; /* 0: 200 healthy */
	GQueue script;       /* of FakeScript *, one per /forward */
	char *token;         /* API_TOKEN: NULL, auth disabled */
	gboolean hold;       /* hold /forward replies in @held */
	GPtrArray *held;     /* of PmTestHttpRequest * */
	GHashTable *ports;   /* "tcp:I" -> external port */
	guint16 next_port;
} FakeService;

static void
fake_request_free(FakeRequest *r)
{
	g_free(r->path);
	g_free(r->authorization);
	g_free(r->content_type);
	g_free(r->protocol);
	g_free(r);
}

static void
fake_script_free(FakeScript *s)
{
	g_free(s->body);
	g_free(s);
}

static void
fake_reply(PmTestHttpRequest *request, guint status, const char *content_type, const char *body)
{
	pm_test_http_request_respond(request, status, NULL, content_type, body, NULL);
}

/* the service's handler: Json extractor first (415/400/422 as plain text), then auth,
 * then the protocol, then the mapping */
static void
fake_forward(FakeService *fake, PmTestHttpRequest *msg)
{
	FakeRequest *r = g_new0(FakeRequest, 1);
	g_autofree FakeScript *script = NULL;
	g_autoptr(JsonParser) parser = json_parser_new();
	g_autofree char *reply = NULL;
	g_autofree char *key = NULL;
	JsonObject *object;
	guint16 external;

	r->at = pm_scheduler_now(fake->scheduler);
	r->path = g_strdup("/forward");
	r->authorization = g_strdup(pm_test_http_request_get_header(msg, "Authorization"));
	r->content_type = g_strdup(pm_test_http_request_get_header(msg, "Content-Type"));
	g_ptr_array_add(fake->requests, r);

	if (g_strcmp0(r->content_type, "application/json") != 0) {
		fake_reply(msg, 415, "text/plain; charset=utf-8",
			   "Expected request with `Content-Type: application/json`");
		return;
	}
	g_assert_true(json_parser_load_from_data(parser, g_bytes_get_data(msg->body, NULL),
						 g_bytes_get_size(msg->body), NULL));
	object = json_node_get_object(json_parser_get_root(parser));
	r->internal_port = json_object_get_int_member(object, "internal_port");
	r->protocol = g_strdup(json_object_get_string_member(object, "protocol"));
	r->duration = json_object_get_int_member(object, "duration");
	g_assert_cmpuint(json_object_get_size(object), ==, 3);

	if (fake->token != NULL) {
		g_autofree char *expected = g_strconcat("Bearer ", fake->token, NULL);
		if (g_strcmp0(r->authorization, expected) != 0) {
			fake_reply(msg, 401, "application/json", "{\"error\":\"Unauthorized\"}");
			return;
		}
	}
	script = g_queue_pop_head(&fake->script);
	if (script != NULL && script->body != NULL) {
		fake_reply(msg, script->status, "application/json", script->body);
		g_free(script->body);
		return;
	}
	key = g_strdup_printf("%s:%u", r->protocol, r->internal_port);
	if (script != NULL && script->external_port != 0)
		g_hash_table_insert(fake->ports, g_strdup(key),
				    GUINT_TO_POINTER(script->external_port));
	external = GPOINTER_TO_UINT(g_hash_table_lookup(fake->ports, key));
	if (external == 0) {
		external = fake->next_port++;
		g_hash_table_insert(fake->ports, g_strdup(key), GUINT_TO_POINTER(external));
	}
	/* the reply's duration echoes the request, clamped to --max-duration 300 */
	reply = g_strdup_printf("{\"internal_port\":%u,\"external_port\":%u,\"protocol\":\"%s\","
				"\"duration\":%u}",
				script != NULL && script->wrong_port ? r->internal_port + 1u
								     : r->internal_port,
				external, r->protocol, MIN(r->duration, 300u));
	fake_reply(msg, 200, "application/json", reply);
}

static void
fake_server_cb(PmTestHttpServer *server, PmTestHttpRequest *msg, gpointer user_data)
{
	FakeService *fake = user_data;

	if (g_str_equal(msg->path, "/health") && g_str_equal(msg->method, "GET")) {
		fake->health_requests++;
		if (fake->health_status != 0)
			fake_reply(msg, fake->health_status, "text/plain", "");
		else
			fake_reply(msg, 200, "application/json",
				   "{\"status\":\"healthy\",\"timestamp\":\"2025-11-03T10:00:00Z\"}");
		return;
	}
	if (g_str_equal(msg->path, "/forward") && g_str_equal(msg->method, "POST")) {
		if (fake->hold) {
			g_ptr_array_add(fake->held, msg);
			return;
		}
		fake_forward(fake, msg);
		return;
	}
	fake_reply(msg, 404, NULL, "");
}

static FakeService *
fake_new(PmScheduler *scheduler)
{
	FakeService *fake = g_new0(FakeService, 1);

	fake->scheduler = scheduler;
	fake->requests = g_ptr_array_new_with_free_func((GDestroyNotify)fake_request_free);
	fake->held = g_ptr_array_new();
	fake->ports = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	fake->next_port = FIRST_PORT;
	g_queue_init(&fake->script);
	fake->server = pm_test_http_server_new(fake_server_cb, fake);
	/* with a trailing slash, as a user may write it */
	fake->url = g_strdup_printf("%s/", pm_test_http_server_get_url(fake->server));
	return fake;
}

/* the service goes down, and comes back on its port */
static void
fake_stop(FakeService *fake)
{
	pm_test_http_server_stop(fake->server);
}

static void
fake_listen(FakeService *fake)
{
	pm_test_http_server_start(fake->server);
}

static void
fake_release_held(FakeService *fake)
{
	for (guint i = 0; i < fake->held->len; i++)
		fake_reply(g_ptr_array_index(fake->held, i), 500, "application/json",
			   "{\"error\":\"Failed to request port mapping\"}");
	g_ptr_array_set_size(fake->held, 0);
}

static void
fake_free(FakeService *fake)
{
	fake_release_held(fake);
	pm_test_http_server_free(fake->server);
	g_ptr_array_unref(fake->held);
	g_ptr_array_unref(fake->requests);
	g_hash_table_unref(fake->ports);
	g_queue_clear_full(&fake->script, (GDestroyNotify)fake_script_free);
	g_free(fake->url);
	g_free(fake->token);
	g_free(fake);
}

static void
fake_script(FakeService *fake, guint status, const char *body, guint16 external_port)
{
	FakeScript *s = g_new0(FakeScript, 1);
	s->status = status;
	s->body = g_strdup(body);
	s->external_port = external_port;
	g_queue_push_tail(&fake->script, s);
}

static FakeRequest *
fake_request(FakeService *fake, guint i)
{
	g_assert_cmpuint(i, <, fake->requests->len);
	return g_ptr_array_index(fake->requests, i);
}

/* the /forward requests from @from on, as "tcp:I:D" each */
static char *
fake_requests_string(FakeService *fake, guint from)
{
	g_autoptr(GString) str = g_string_new(NULL);

	for (guint i = from; i < fake->requests->len; i++) {
		FakeRequest *r = fake_request(fake, i);
		if (str->len > 0)
			g_string_append_c(str, ' ');
		g_string_append_printf(str, "%s:%u:%u", r->protocol, r->internal_port, r->duration);
	}
	return g_string_free(g_steal_pointer(&str), FALSE);
}

/* ---- the provider under test ---- */

typedef struct {
	guint props; /* every change bit seen */
	guint done;  /* refresh and stop callbacks */
} TestMappingData;

typedef struct {
	PmScheduler *scheduler;
	PmContext *context;
	FakeService *fake;
	PmProviderConfig *config;
	PmProvider *provider;
	char *token_path;
	GPtrArray *mappings; /* of PmMapping * */
	GPtrArray *data;     /* of TestMappingData *, one per mapping */
	guint done;          /* refresh_all callbacks */
} Ctx;

/* the main loop until @cond, for at most 5 s of real time */
#define ITERATE_UNTIL(cond)                                                                      \
	do {                                                                                     \
		gint64 give_up = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;                    \
		while (!(cond)) {                                                                \
			if (g_get_monotonic_time() > give_up)                                    \
				g_error("%s:%d: still not %s", __FILE__, __LINE__, #cond);       \
			g_main_context_iteration(NULL, TRUE);                                    \
		}                                                                                \
	} while (0)

/* whatever is in flight arrives and is acted on (a request that should not be made has
 * time to show up) */
static void
settle(void)
{
	gint64 until = g_get_monotonic_time() + 50 * G_TIME_SPAN_MILLISECOND;
	while (g_get_monotonic_time() < until) {
		while (g_main_context_iteration(NULL, FALSE))
			;
		g_usleep(1000);
	}
}

static void
ctx_write_token(Ctx *ctx, const char *token)
{
	g_autoptr(GError) error = NULL;
	g_assert_true(g_file_set_contents_full(ctx->token_path, token, -1,
					       G_FILE_SET_CONTENTS_CONSISTENT, 0600, &error));
	g_assert_no_error(error);
}

/* @token: what the provider sends (TokenFile=), NULL for none; the service wants TOKEN
 * when @service_token */
static Ctx *
ctx_new_full(const char *token, gboolean service_token, guint32 lifetime, guint64 refresh_usec)
{
	Ctx *ctx = g_new0(Ctx, 1);
	PmNatpmpHttpConfig *config = g_new0(PmNatpmpHttpConfig, 1);
	g_autoptr(GError) error = NULL;
	gsize len;

	pm_test_log_clear();
	ctx->scheduler = pm_scheduler_new_manual(T0, REALTIME0, 7);
	ctx->context = pm_context_new(ctx->scheduler, PM_SECRET_POLICY_STRICT);
	ctx->fake = fake_new(ctx->scheduler);
	if (service_token)
		ctx->fake->token = g_strdup(TOKEN);
	ctx->mappings = g_ptr_array_new();
	ctx->data = g_ptr_array_new_with_free_func(g_free);

	/* as URL= leaves it: no trailing slash */
	len = strlen(ctx->fake->url);
	config->url = g_strndup(ctx->fake->url, len - 1);
	config->lifetime = lifetime;
	config->refresh_interval_usec = refresh_usec;
	if (token != NULL) {
		int fd = g_file_open_tmp("natpmp-http-token-XXXXXX", &ctx->token_path, &error);
		g_assert_no_error(error);
		close(fd);
		ctx_write_token(ctx, token);
		config->token_file = g_strdup(ctx->token_path);
	}
	ctx->config = pm_natpmp_http_config_new("svc", config);
	ctx->provider = pm_provider_new(ctx->context, ctx->config, &error);
	g_assert_no_error(error);
	g_assert_nonnull(ctx->provider);
	/* it asks for the service's health at start */
	ITERATE_UNTIL(ctx->fake->health_requests == 1);
	settle();
	g_assert_cmpint(ctx->provider->state, ==, PM_PROVIDER_STATE_READY);
	return ctx;
}

static Ctx *
ctx_new(void)
{
	return ctx_new_full(TOKEN, TRUE, 60, SEC(45));
}

static void
ctx_free(Ctx *ctx)
{
	for (guint i = 0; i < ctx->mappings->len; i++) {
		PmMapping *m = g_ptr_array_index(ctx->mappings, i);
		if (ctx->provider != NULL && m->provider != NULL)
			pm_provider_stop(ctx->provider, m, FALSE, NULL, NULL);
		g_assert_null(m->provider_data);
	}
	g_clear_pointer(&ctx->provider, pm_provider_free);
	fake_free(ctx->fake);
	/* what the disconnect and the cancelled calls left to run */
	settle();
	pm_context_free(ctx->context);
	pm_scheduler_free(ctx->scheduler);
	for (guint i = 0; i < ctx->mappings->len; i++)
		pm_mapping_free(g_ptr_array_index(ctx->mappings, i));
	g_ptr_array_unref(ctx->mappings);
	g_ptr_array_unref(ctx->data);
	pm_provider_config_unref(ctx->config);
	if (ctx->token_path != NULL) {
		g_unlink(ctx->token_path);
		g_free(ctx->token_path);
	}
	g_free(ctx);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(Ctx, ctx_free)

static void
mapping_changed_cb(PmMapping *mapping, guint props, gpointer user_data)
{
	TestMappingData *data = user_data;
	data->props |= props;
}

static void
mapping_done_cb(gpointer user_data)
{
	TestMappingData *data = user_data;
	data->done++;
}

static void
all_done_cb(gpointer user_data)
{
	Ctx *ctx = user_data;
	ctx->done++;
}

static PmMapping *
ctx_mapping(Ctx *ctx, const char *name, guint protocols, guint16 internal_port)
{
	PmMapping *m = pm_mapping_new(ctx->mappings->len + 1, name);
	TestMappingData *data = g_new0(TestMappingData, 1);

	m->provider_name = g_intern_string("svc");
	m->protocols = protocols;
	m->internal_port = internal_port;
	m->suggested_external_port = internal_port;
	m->scope = PM_SCOPE_PERSISTENT;
	m->origin = PM_ORIGIN_CONFIG;
	m->changed_func = mapping_changed_cb;
	m->changed_data = data;
	g_ptr_array_add(ctx->mappings, m);
	g_ptr_array_add(ctx->data, data);
	return m;
}

static TestMappingData *
mapping_data(PmMapping *m)
{
	return m->changed_data;
}

static void
ctx_advance(Ctx *ctx, guint64 usec)
{
	pm_scheduler_advance(ctx->scheduler, usec);
}

static guint64
ctx_now(Ctx *ctx)
{
	return pm_scheduler_now(ctx->scheduler);
}

/* the earliest armed timer, from now */
static guint64
ctx_next_wait(Ctx *ctx)
{
	guint64 next = pm_scheduler_get_next_deadline(ctx->scheduler);
	g_assert_cmpuint(next, !=, G_MAXUINT64);
	return next - ctx_now(ctx);
}

static guint32
ipv4(const char *str)
{
	guint32 address = 0;
	g_assert_cmpint(inet_pton(AF_INET, str, &address), ==, 1);
	return address;
}

static void
assert_last_error_contains(PmMapping *m, const char *substr)
{
	if (m->last_error == NULL || strstr(m->last_error, substr) == NULL)
		g_error("LastError \"%s\" lacks \"%s\"", m->last_error, substr);
}

/* ---- tests ---- */

/* TCP then UDP, each with the bearer token and the asked lifetime; the lease is
 * Lifetime= long whatever the reply's duration says, and renewed every RefreshInterval= */
static void
test_grant_refresh(void)
{
	g_autoptr(Ctx) ctx = ctx_new();
	PmMapping *m = ctx_mapping(ctx, "torrent", TCP_UDP, 51413);
	g_autofree char *sent = NULL;
	PmMappingPorts ports;

	g_assert_cmpuint(ctx->provider->peer_address, ==, ipv4("127.0.0.1"));
	pm_provider_start(ctx->provider, m);
	g_assert_cmpint(m->state, ==, PM_MAPPING_STATE_REQUESTING);
	ITERATE_UNTIL(m->state == PM_MAPPING_STATE_ACTIVE);

	sent = fake_requests_string(ctx->fake, 0);
	g_assert_cmpstr(sent, ==, "tcp:51413:60 udp:51413:60");
	/* /health, then TCP and UDP one after the other on one kept-alive connection */
	g_assert_cmpuint(pm_test_http_server_get_n_accepted(ctx->fake->server), ==, 1);
	for (guint i = 0; i < 2; i++) {
		g_assert_cmpstr(fake_request(ctx->fake, i)->authorization, ==, "Bearer " TOKEN);
		g_assert_cmpstr(fake_request(ctx->fake, i)->content_type, ==, "application/json");
	}
	pm_mapping_get_ports(m, &ports);
	g_assert_cmpuint(ports.n_ports, ==, 2);
	g_assert_cmpuint(ports.ports[0].internal_port, ==, 51413);
	g_assert_cmpuint(ports.ports[0].external_port, ==, FIRST_PORT);
	g_assert_cmpuint(ports.ports[1].external_port, ==, FIRST_PORT + 1);
	g_assert_cmpuint(pm_mapping_get_external_port(m), ==, FIRST_PORT);
	g_assert_cmpuint(m->internal_address, ==, ipv4("127.0.0.1"));
	g_assert_cmpuint(m->external_address, ==, 0);
	g_assert_cmpuint(pm_mapping_get_lifetime(m), ==, 60);
	g_assert_cmpuint(pm_mapping_get_expires(m), ==, T0 + SEC(60));
	g_assert_null(m->last_error);
	g_assert_true((mapping_data(m)->props & PM_MAPPING_PROP_INTERNAL_ADDRESS) != 0);
	/* the next run is RefreshInterval= after the grant */
	g_assert_cmpuint(ctx_next_wait(ctx), ==, SEC(45));

	for (guint round = 1; round <= 3; round++) {
		ctx_advance(ctx, SEC(45));
		ITERATE_UNTIL(ctx->fake->requests->len == 2 * round + 2 &&
			      pm_mapping_get_expires(m) == ctx_now(ctx) + SEC(60));
		g_assert_cmpint(m->state, ==, PM_MAPPING_STATE_ACTIVE);
		g_assert_cmpuint(pm_mapping_get_external_port(m), ==, FIRST_PORT);
	}
	g_clear_pointer(&sent, g_free);
	sent = fake_requests_string(ctx->fake, 2);
	g_assert_cmpstr(sent, ==, "tcp:51413:60 udp:51413:60 tcp:51413:60 udp:51413:60 "
				  "tcp:51413:60 udp:51413:60");
	/* a grant says enough: no health check on the timer */
	g_assert_cmpuint(ctx->fake->health_requests, ==, 1);
	pm_test_assert_no_warnings();
}

/* a mapping's own Lifetime= is asked, and refreshes come before it ends */
static void
test_mapping_lifetime(void)
{
	g_autoptr(Ctx) ctx = ctx_new_full(NULL, FALSE, 60, SEC(45));
	PmMapping *m = ctx_mapping(ctx, "short", PM_PROTOCOL_UDP, 6000);
	g_autofree char *sent = NULL;

	m->lifetime = 20;
	pm_provider_start(ctx->provider, m);
	ITERATE_UNTIL(m->state == PM_MAPPING_STATE_ACTIVE);
	sent = fake_requests_string(ctx->fake, 0);
	g_assert_cmpstr(sent, ==, "udp:6000:20");
	/* no token: no header */
	g_assert_null(fake_request(ctx->fake, 0)->authorization);
	g_assert_cmpuint(pm_mapping_get_expires(m), ==, T0 + SEC(20));
	g_assert_cmpuint(ctx_next_wait(ctx), ==, SEC(15));
}

/* another external port in a reply is a port change */
static void
test_port_change(void)
{
	g_autoptr(Ctx) ctx = ctx_new();
	PmMapping *m = ctx_mapping(ctx, "torrent", TCP_UDP, 51413);
	PmMappingPorts ports;

	pm_provider_start(ctx->provider, m);
	ITERATE_UNTIL(m->state == PM_MAPPING_STATE_ACTIVE);
	mapping_data(m)->props = 0;

	fake_script(ctx->fake, 200, NULL, 45000);
	fake_script(ctx->fake, 200, NULL, 45001);
	ctx_advance(ctx, SEC(45));
	ITERATE_UNTIL(ctx->fake->requests->len == 4 &&
		      pm_mapping_get_expires(m) == ctx_now(ctx) + SEC(60));
	pm_mapping_get_ports(m, &ports);
	g_assert_cmpuint(ports.ports[0].external_port, ==, 45000);
	g_assert_cmpuint(ports.ports[1].external_port, ==, 45001);
	g_assert_cmpuint(pm_mapping_get_external_port(m), ==, 45000);
	g_assert_cmpuint(mapping_data(m)->props & (PM_MAPPING_PROP_PORTS | PM_MAPPING_PROP_EXTERNAL_PORT),
			 ==, PM_MAPPING_PROP_PORTS | PM_MAPPING_PROP_EXTERNAL_PORT);
	g_assert_cmpint(m->state, ==, PM_MAPPING_STATE_ACTIVE);

	/* the same ports again: no port change */
	mapping_data(m)->props = 0;
	ctx_advance(ctx, SEC(45));
	ITERATE_UNTIL(ctx->fake->requests->len == 6 &&
		      pm_mapping_get_expires(m) == ctx_now(ctx) + SEC(60));
	g_assert_cmpuint(mapping_data(m)->props & (PM_MAPPING_PROP_PORTS | PM_MAPPING_PROP_EXTERNAL_PORT),
			 ==, 0);
}

/* 401: failed, nothing more until the token is fixed and the mapping refreshed */
static void
test_unauthorized(void)
{
	g_autoptr(Ctx) ctx = ctx_new_full("wrong", TRUE, 60, SEC(45));
	PmMapping *m = ctx_mapping(ctx, "torrent", TCP_UDP, 51413);

	pm_provider_start(ctx->provider, m);
	ITERATE_UNTIL(m->state == PM_MAPPING_STATE_FAILED);
	g_assert_cmpuint(ctx->fake->requests->len, ==, 1);
	assert_last_error_contains(m, "the token was refused: set TokenCredential= or TokenFile=");
	assert_last_error_contains(m, "HTTP 401: Unauthorized");
	assert_last_error_contains(m, "/forward");
	g_assert_null(strstr(m->last_error, "wrong"));
	pm_test_assert_warning("the token was refused");

	/* no retry storm: ten minutes go by without a request */
	for (guint i = 0; i < 20; i++) {
		ctx_advance(ctx, SEC(30));
		settle();
	}
	g_assert_cmpuint(ctx->fake->requests->len, ==, 1);
	g_assert_cmpint(m->state, ==, PM_MAPPING_STATE_FAILED);

	/* the token file is fixed; Refresh() reads it again and asks */
	ctx_write_token(ctx, TOKEN "\n");
	pm_provider_refresh(ctx->provider, m, mapping_done_cb, mapping_data(m));
	ITERATE_UNTIL(mapping_data(m)->done == 1);
	g_assert_cmpint(m->state, ==, PM_MAPPING_STATE_ACTIVE);
	g_assert_null(m->last_error);
	g_assert_cmpuint(ctx->fake->requests->len, ==, 3);
	g_assert_cmpstr(fake_request(ctx->fake, 2)->authorization, ==, "Bearer " TOKEN);
	g_assert_cmpuint(pm_mapping_get_external_port(m), ==, FIRST_PORT);
	pm_test_assert_no_warnings();
}

/* no token set, the service wants one */
static void
test_unauthorized_no_token(void)
{
	g_autoptr(Ctx) ctx = ctx_new_full(NULL, TRUE, 60, SEC(45));
	PmMapping *m = ctx_mapping(ctx, "web", PM_PROTOCOL_TCP, 8080);

	pm_provider_start(ctx->provider, m);
	ITERATE_UNTIL(m->state == PM_MAPPING_STATE_FAILED);
	g_assert_null(fake_request(ctx->fake, 0)->authorization);
	assert_last_error_contains(m, "the token was refused: set TokenCredential= or TokenFile=");
	pm_test_assert_warning("the token was refused");
}

/* 400, 415, 422: portmapd's own bug; the body is logged and in LastError, no retry until
 * a refresh */
static void
test_client_bug(void)
{
	static const struct {
		guint status;
		const char *body;
		const char *quoted;
	} cases[] = {
	    {400, "{\"error\":\"protocol must be tcp or udp\"}", "protocol must be tcp or udp"},
	    {415, "Expected request with `Content-Type: application/json`",
	     "Expected request with `Content-Type: application/json`"},
	    {422,
	     "Failed to deserialize the JSON body into the target type: missing field `duration` "
	     "at line 1 column 40",
	     "missing field `duration` at line 1 column 40"},
	    {400, "Failed to parse the request body as JSON: expected value\nat line 1 column 1",
	     "expected value at line 1 column 1"},
	};

	for (guint c = 0; c < G_N_ELEMENTS(cases); c++) {
		g_autoptr(Ctx) ctx = ctx_new();
		PmMapping *m = ctx_mapping(ctx, "torrent", TCP_UDP, 51413);
		g_autofree char *status = g_strdup_printf("HTTP %u", cases[c].status);

		fake_script(ctx->fake, cases[c].status, cases[c].body, 0);
		pm_provider_start(ctx->provider, m);
		ITERATE_UNTIL(m->state == PM_MAPPING_STATE_FAILED);
		assert_last_error_contains(m, status);
		assert_last_error_contains(m, cases[c].quoted);
		assert_last_error_contains(m, "a bug in portmapd");
		pm_test_assert_warning(cases[c].quoted);

		for (guint i = 0; i < 10; i++) {
			ctx_advance(ctx, SEC(60));
			settle();
		}
		g_assert_cmpuint(ctx->fake->requests->len, ==, 1);
		/* the health check is not asked again either: the service answered */
		g_assert_cmpuint(ctx->fake->health_requests, ==, 1);

		pm_provider_refresh(ctx->provider, m, mapping_done_cb, mapping_data(m));
		ITERATE_UNTIL(mapping_data(m)->done == 1);
		g_assert_cmpint(m->state, ==, PM_MAPPING_STATE_ACTIVE);
		g_assert_cmpuint(ctx->fake->requests->len, ==, 3);
		pm_test_assert_no_warnings();
	}
}

/* 500: backoff from 5 s, doubling, with jitter; the provider's health is asked; degraded
 * after 2 minutes without a lease; then recovery */
static void
test_service_error_backoff(void)
{
	g_autoptr(Ctx) ctx = ctx_new();
	PmMapping *m = ctx_mapping(ctx, "torrent", PM_PROTOCOL_TCP, 51413);
	static const guint expected_s[] = {5, 10, 20, 40};
	guint64 started = ctx_now(ctx);
	guint64 wait;

	for (guint i = 0; i < G_N_ELEMENTS(expected_s) + 1; i++)
		fake_script(ctx->fake, 500, "{\"error\":\"Failed to request port mapping\"}", 0);
	ctx->fake->health_status = 503;
	pm_provider_start(ctx->provider, m);
	for (guint i = 0; i < G_N_ELEMENTS(expected_s); i++) {
		ITERATE_UNTIL(ctx->fake->requests->len == i + 1);
		settle();
		g_assert_cmpint(m->state, ==, PM_MAPPING_STATE_RETRYING);
		assert_last_error_contains(m, "HTTP 500: Failed to request port mapping");
		wait = ctx_next_wait(ctx);
		g_assert_cmpuint(wait, >=, SEC(expected_s[i]));
		g_assert_cmpuint(wait, <=, SEC(expected_s[i]) + SEC(expected_s[i]) / 4);
		ctx_advance(ctx, wait);
	}
	/* the fifth answer: 64 s, the cap; the two minutes without a lease end first */
	ITERATE_UNTIL(ctx->fake->requests->len == 5);
	settle();
	g_assert_cmpint(m->state, ==, PM_MAPPING_STATE_RETRYING);
	g_assert_cmpuint(ctx_now(ctx) + ctx_next_wait(ctx), ==, started + SEC(120));
	ctx_advance(ctx, ctx_next_wait(ctx));
	g_assert_cmpint(m->state, ==, PM_MAPPING_STATE_DEGRADED);
	pm_test_assert_warning("has had no lease for 120 s");
	wait = ctx_next_wait(ctx);
	g_assert_cmpuint(ctx_now(ctx) + wait, >=, started + SEC(5 + 10 + 20 + 40 + 64));
	/* the provider asked the service's health after the failures, and shows it */
	g_assert_cmpuint(ctx->fake->health_requests, >=, 2);
	g_assert_cmpint(ctx->provider->state, ==, PM_PROVIDER_STATE_DEGRADED);
	g_assert_nonnull(strstr(ctx->provider->last_error, "HTTP 503"));

	ctx_advance(ctx, wait);
	ITERATE_UNTIL(m->state == PM_MAPPING_STATE_ACTIVE);
	g_assert_null(m->last_error);
	g_assert_cmpint(ctx->provider->state, ==, PM_PROVIDER_STATE_READY);
	g_assert_cmpuint(ctx_next_wait(ctx), ==, SEC(45));
	pm_test_assert_no_warnings();
}

/* a renewal that fails keeps the ports while the lease lasts (renewing), then retrying,
 * then degraded after 2 minutes without a lease; then recovery */
static void
test_renewal_fails(void)
{
	g_autoptr(Ctx) ctx = ctx_new();
	PmMapping *m = ctx_mapping(ctx, "torrent", PM_PROTOCOL_TCP, 51413);
	guint64 expires;

	pm_provider_start(ctx->provider, m);
	ITERATE_UNTIL(m->state == PM_MAPPING_STATE_ACTIVE);
	expires = pm_mapping_get_expires(m);
	for (guint i = 0; i < 20; i++)
		fake_script(ctx->fake, 502, "<html>Bad Gateway</html>", 0);

	ctx_advance(ctx, SEC(45));
	ITERATE_UNTIL(m->state == PM_MAPPING_STATE_RENEWING);
	g_assert_cmpuint(pm_mapping_get_external_port(m), ==, FIRST_PORT);
	assert_last_error_contains(m, "HTTP 502: <html>Bad Gateway</html>");
	/* 5 s later, then at the lease's end (not 10 s later) */
	g_assert_cmpuint(ctx_next_wait(ctx), >=, SEC(5));
	ctx_advance(ctx, ctx_next_wait(ctx));
	ITERATE_UNTIL(ctx->fake->requests->len == 3);
	settle();
	g_assert_cmpint(m->state, ==, PM_MAPPING_STATE_RENEWING);
	g_assert_cmpuint(ctx_now(ctx) + ctx_next_wait(ctx), ==, expires);
	ctx_advance(ctx, ctx_next_wait(ctx));
	ITERATE_UNTIL(m->state == PM_MAPPING_STATE_RETRYING);

	/* two minutes without a lease */
	while (ctx_now(ctx) < expires + SEC(120)) {
		ctx_advance(ctx, ctx_next_wait(ctx));
		settle();
	}
	g_assert_cmpint(m->state, ==, PM_MAPPING_STATE_DEGRADED);

	g_queue_clear_full(&ctx->fake->script, (GDestroyNotify)fake_script_free);
	ctx_advance(ctx, ctx_next_wait(ctx));
	ITERATE_UNTIL(m->state == PM_MAPPING_STATE_ACTIVE);
	g_assert_null(m->last_error);
	g_assert_cmpuint(pm_mapping_get_external_port(m), ==, FIRST_PORT);
}

/* the service is down (connection refused), then up again on its port */
static void
test_service_down_up(void)
{
	g_autoptr(Ctx) ctx = ctx_new();
	PmMapping *m = ctx_mapping(ctx, "torrent", TCP_UDP, 51413);

	fake_stop(ctx->fake);
	pm_provider_start(ctx->provider, m);
	ITERATE_UNTIL(m->state == PM_MAPPING_STATE_RETRYING &&
		      ctx->provider->state == PM_PROVIDER_STATE_DEGRADED);
	assert_last_error_contains(m, "GatewayUnreachable: POST http://127.0.0.1:");
	g_assert_nonnull(strstr(ctx->provider->last_error, "GET http://127.0.0.1:"));
	g_assert_cmpuint(ctx->fake->requests->len, ==, 0);

	/* still down at the first retry */
	ctx_advance(ctx, ctx_next_wait(ctx));
	settle();
	g_assert_cmpint(m->state, ==, PM_MAPPING_STATE_RETRYING);

	fake_listen(ctx->fake);
	ctx_advance(ctx, ctx_next_wait(ctx));
	ITERATE_UNTIL(m->state == PM_MAPPING_STATE_ACTIVE);
	g_assert_cmpint(ctx->provider->state, ==, PM_PROVIDER_STATE_READY);
	g_assert_cmpuint(ctx->fake->requests->len, ==, 2);
	g_assert_null(m->last_error);
}

/* a reply for another port than asked is not a grant */
static void
test_mismatch(void)
{
	g_autoptr(Ctx) ctx = ctx_new();
	PmMapping *m = ctx_mapping(ctx, "torrent", PM_PROTOCOL_TCP, 51413);
	FakeScript *s = g_new0(FakeScript, 1);

	s->status = 200;
	s->wrong_port = TRUE;
	g_queue_push_tail(&ctx->fake->script, s);
	pm_provider_start(ctx->provider, m);
	ITERATE_UNTIL(m->state == PM_MAPPING_STATE_RETRYING);
	assert_last_error_contains(m, "answered for tcp port 51414, not tcp port 51413");
	g_assert_cmpuint(pm_mapping_get_external_port(m), ==, 0);
	ctx_advance(ctx, ctx_next_wait(ctx));
	ITERATE_UNTIL(m->state == PM_MAPPING_STATE_ACTIVE);
}

/* stop, and free, with a request in flight: done at once, the call cancelled, the late
 * reply goes nowhere */
static void
test_stop_in_flight(void)
{
	g_autoptr(Ctx) ctx = ctx_new();
	PmMapping *a = ctx_mapping(ctx, "a", TCP_UDP, 51413);
	PmMapping *b = ctx_mapping(ctx, "b", PM_PROTOCOL_UDP, 6000);

	ctx->fake->hold = TRUE;
	pm_provider_start(ctx->provider, a);
	pm_provider_start(ctx->provider, b);
	ITERATE_UNTIL(ctx->fake->held->len == 2);

	pm_provider_stop(ctx->provider, a, TRUE, mapping_done_cb, mapping_data(a));
	g_assert_cmpuint(mapping_data(a)->done, ==, 1);
	g_assert_null(a->provider_data);
	g_assert_cmpint(a->state, ==, PM_MAPPING_STATE_REQUESTING);

	/* a refresh waiting on b is answered when the provider goes */
	pm_provider_refresh(ctx->provider, b, mapping_done_cb, mapping_data(b));
	g_assert_cmpuint(mapping_data(b)->done, ==, 0);
	g_clear_pointer(&ctx->provider, pm_provider_free);
	g_assert_cmpuint(mapping_data(b)->done, ==, 1);
	g_assert_null(b->provider_data);

	/* the service answers after all */
	fake_release_held(ctx->fake);
	settle();
	g_assert_cmpuint(mapping_data(a)->done, ==, 1);
	g_assert_cmpuint(mapping_data(b)->done, ==, 1);
	g_assert_cmpint(a->state, ==, PM_MAPPING_STATE_REQUESTING);
	b->provider = NULL;
}

/* the service drops the connection mid-request: retried like any transport error */
static void
test_connection_dropped(void)
{
	g_autoptr(Ctx) ctx = ctx_new();
	PmMapping *m = ctx_mapping(ctx, "torrent", PM_PROTOCOL_TCP, 51413);

	ctx->fake->hold = TRUE;
	pm_provider_start(ctx->provider, m);
	ITERATE_UNTIL(ctx->fake->held->len == 1);
	fake_stop(ctx->fake);
	ITERATE_UNTIL(m->state == PM_MAPPING_STATE_RETRYING);
	assert_last_error_contains(m, "GatewayUnreachable");

	/* its late answer goes nowhere */
	ctx->fake->hold = FALSE;
	fake_release_held(ctx->fake);
	fake_listen(ctx->fake);
	ctx_advance(ctx, ctx_next_wait(ctx));
	ITERATE_UNTIL(m->state == PM_MAPPING_STATE_ACTIVE);
}

/* several mappings at once, each with its ports; RefreshAll renews them all, asks the
 * health, and answers when every run has ended */
static void
test_several_mappings(void)
{
	g_autoptr(Ctx) ctx = ctx_new();
	PmMapping *a = ctx_mapping(ctx, "a", TCP_UDP, 1000);
	PmMapping *b = ctx_mapping(ctx, "b", PM_PROTOCOL_TCP, 2000);
	PmMapping *c = ctx_mapping(ctx, "c", PM_PROTOCOL_UDP, 3000);
	PmMapping *mappings[] = {a, b, c};
	guint seen = 0;

	for (guint i = 0; i < G_N_ELEMENTS(mappings); i++)
		pm_provider_start(ctx->provider, mappings[i]);
	ITERATE_UNTIL(a->state == PM_MAPPING_STATE_ACTIVE && b->state == PM_MAPPING_STATE_ACTIVE &&
		      c->state == PM_MAPPING_STATE_ACTIVE);
	g_assert_cmpuint(ctx->fake->requests->len, ==, 4);
	/* every protocol and port of every mapping got its own external port */
	for (guint i = 0; i < G_N_ELEMENTS(mappings); i++) {
		for (guint p = 0; p < PM_PROTO_INDEX_COUNT; p++) {
			guint16 e = mappings[i]->ports[p].external_port;
			if (e == 0)
				continue;
			g_assert_cmpuint(e, >=, FIRST_PORT);
			g_assert_cmpuint(e, <, FIRST_PORT + 4);
			g_assert_false(seen & (1u << (e - FIRST_PORT)));
			seen |= 1u << (e - FIRST_PORT);
		}
	}
	g_assert_cmpuint(seen, ==, 0xf);

	ctx_advance(ctx, SEC(10));
	pm_provider_refresh_all(ctx->provider, all_done_cb, ctx);
	g_assert_cmpuint(ctx->done, ==, 0);
	ITERATE_UNTIL(ctx->done == 1);
	g_assert_cmpuint(ctx->fake->requests->len, ==, 8);
	g_assert_cmpuint(ctx->fake->health_requests, ==, 2);
	for (guint i = 0; i < G_N_ELEMENTS(mappings); i++) {
		g_assert_cmpint(mappings[i]->state, ==, PM_MAPPING_STATE_ACTIVE);
		g_assert_cmpuint(pm_mapping_get_expires(mappings[i]), ==, ctx_now(ctx) + SEC(60));
	}
	/* stopping one leaves the others running */
	pm_provider_stop(ctx->provider, b, TRUE, mapping_done_cb, mapping_data(b));
	g_assert_cmpuint(mapping_data(b)->done, ==, 1);
	ctx_advance(ctx, SEC(45));
	ITERATE_UNTIL(ctx->fake->requests->len == 11);
	settle();
	g_assert_cmpuint(ctx->fake->requests->len, ==, 11);
	pm_test_assert_no_warnings();
}

/* a mapping that needs an external port cannot be carried; Describe() shows the URL, never
 * the token */
static void
test_describe_and_refusals(void)
{
	g_autoptr(Ctx) ctx = ctx_new();
	PmMapping *m = ctx_mapping(ctx, "fixed", PM_PROTOCOL_TCP, 80);
	g_autofree char *text = NULL;
	g_autofree char *url = NULL;
	g_autofree char *gateway = NULL;
	PmJsonWriter writer;

	m->require_external_port = TRUE;
	pm_provider_start(ctx->provider, m);
	g_assert_cmpint(m->state, ==, PM_MAPPING_STATE_FAILED);
	assert_last_error_contains(m, "NotSupported: provider svc (Type=natpmp-http) cannot ask");
	pm_test_assert_warning("cannot ask for an external port");
	/* and stays so on a refresh */
	pm_provider_refresh(ctx->provider, m, mapping_done_cb, mapping_data(m));
	g_assert_cmpuint(mapping_data(m)->done, ==, 1);
	g_assert_cmpint(m->state, ==, PM_MAPPING_STATE_FAILED);
	pm_test_assert_warning("cannot ask for an external port");
	settle();
	g_assert_cmpuint(ctx->fake->requests->len, ==, 0);

	pm_json_writer_init(&writer, 256, FALSE);
	pm_provider_describe(ctx->provider, &writer);
	text = pm_json_writer_finish(&writer);
	url = g_strndup(ctx->fake->url, strlen(ctx->fake->url) - 1);
	gateway = g_strdup_printf("\"Gateway\":\"%s\"", url);
	g_assert_nonnull(strstr(text, gateway));
	g_assert_nonnull(strstr(text, "\"Type\":\"natpmp-http\""));
	g_assert_nonnull(strstr(text, "\"Authorization\":\"bearer\""));
	g_assert_nonnull(strstr(text, "\"RefreshInterval\":\"45s\""));
	g_assert_null(strstr(text, TOKEN));
}

/* an unreadable token file fails the provider's start, naming the file */
static void
test_token_missing(void)
{
	g_autoptr(PmScheduler) scheduler = pm_scheduler_new_manual(T0, REALTIME0, 1);
	g_autoptr(PmContext) context = pm_context_new(scheduler, PM_SECRET_POLICY_STRICT);
	PmNatpmpHttpConfig *config = g_new0(PmNatpmpHttpConfig, 1);
	g_autoptr(PmProviderConfig) pc = NULL;
	g_autoptr(GError) error = NULL;
	PmProvider *provider;

	config->url = g_strdup("http://127.0.0.1:9");
	config->token_file = g_strdup("/nonexistent/natpmp-token");
	config->lifetime = 60;
	config->refresh_interval_usec = SEC(45);
	pc = pm_natpmp_http_config_new("svc", config);
	provider = pm_provider_new(context, pc, &error);
	g_assert_null(provider);
	g_assert_error(error, PM_ERROR, PM_ERROR_INVALID_CONFIGURATION);
	g_assert_nonnull(strstr(error->message, "provider svc: "));
	g_assert_nonnull(strstr(error->message, "/nonexistent/natpmp-token"));
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	pm_test_log_init();

	g_test_add_func("/natpmp-http-provider/grant-refresh", test_grant_refresh);
	g_test_add_func("/natpmp-http-provider/mapping-lifetime", test_mapping_lifetime);
	g_test_add_func("/natpmp-http-provider/port-change", test_port_change);
	g_test_add_func("/natpmp-http-provider/unauthorized", test_unauthorized);
	g_test_add_func("/natpmp-http-provider/unauthorized-no-token", test_unauthorized_no_token);
	g_test_add_func("/natpmp-http-provider/client-bug", test_client_bug);
	g_test_add_func("/natpmp-http-provider/service-error-backoff", test_service_error_backoff);
	g_test_add_func("/natpmp-http-provider/renewal-fails", test_renewal_fails);
	g_test_add_func("/natpmp-http-provider/service-down-up", test_service_down_up);
	g_test_add_func("/natpmp-http-provider/mismatch", test_mismatch);
	g_test_add_func("/natpmp-http-provider/stop-in-flight", test_stop_in_flight);
	g_test_add_func("/natpmp-http-provider/connection-dropped", test_connection_dropped);
	g_test_add_func("/natpmp-http-provider/several-mappings", test_several_mappings);
	g_test_add_func("/natpmp-http-provider/describe-and-refusals", test_describe_and_refusals);
	g_test_add_func("/natpmp-http-provider/token-missing", test_token_missing);
	return g_test_run();
}
