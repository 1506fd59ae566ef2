/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Type=pia against a fake PIA: an in-process HTTPS token API (token.pem, 127.0.0.1) and
 * gateway (server.pem, named server.pia.test only) on 127.0.0.1, both by the test CA of
 * tests/unit/tls. Tokens and signatures carry + / = (a value not URL-encoded does not
 * match), and bindPort checks the payload and signature byte for byte against what
 * getSignature issued. Timers run on virtual time (a manual scheduler), the exchanges on
 * the real main loop.
 */
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "errors.h"
#include "json-writer.h"
#include "pia-provider.h"
#include "test-http-server.h"
#include "test-log.h"

#define USEC_PER_SEC G_GUINT64_CONSTANT(1000000)
#define T0 (1000 * USEC_PER_SEC)
#define REALTIME0 (G_GUINT64_CONSTANT(1700000000) * USEC_PER_SEC)
#define SEC(x) ((guint64)(x) * USEC_PER_SEC)
#define FIRST_PORT 47000
#define PASSWORD "pa ss&=+/"

/* ---- the fake PIA ---- */

typedef struct {
	PmTestHttpServer *api;     /* the token API */
	PmTestHttpServer *gateway; /* getSignature, bindPort */
	GString *log;              /* "token sig bind ..." */
	GHashTable *issued;        /* payload -> signature */
	GQueue bind_statuses;      /* forced bindPort statuses, one per bind */
	char *last_token;
	guint n;
	guint16 next_port;
	guint valid_days; /* of a new payload, from REALTIME0 */
} FakePia;

static void
fake_log(FakePia *fake, const char *what)
{
	if (fake->log->len > 0)
		g_string_append_c(fake->log, ' ');
	g_string_append(fake->log, what);
}

static GHashTable *
query_params(PmTestHttpRequest *request)
{
	const char *query = strchr(request->path, '?');
	g_autoptr(GError) error = NULL;
	/* as a web server reads it: an unencoded + is a space */
	GHashTable *params = g_uri_parse_params(query != NULL ? query + 1 : "", -1, "&",
						G_URI_PARAMS_WWW_FORM, &error);
	g_assert_no_error(error);
	return params;
}

static void
reply(PmTestHttpRequest *request, guint status, const char *body)
{
	pm_test_http_request_respond(request, status, NULL, "application/json", body, NULL);
}

static void
api_cb(PmTestHttpServer *server, PmTestHttpRequest *request, gpointer user_data)
{
	FakePia *fake = user_data;
	g_autofree char *form = g_strndup(g_bytes_get_data(request->body, NULL),
					  g_bytes_get_size(request->body));
	g_autoptr(GHashTable) params = NULL;
	g_autofree char *body = NULL;

	g_assert_cmpstr(request->method, ==, "POST");
	g_assert_cmpstr(request->path, ==, "/api/client/v2/token");
	g_assert_cmpstr(pm_test_http_request_get_header(request, "Content-Type"), ==,
			"application/x-www-form-urlencoded");
	fake_log(fake, "token");
	params = g_uri_parse_params(form, -1, "&", G_URI_PARAMS_WWW_FORM, NULL);
	g_assert_nonnull(params);
	if (g_strcmp0(g_hash_table_lookup(params, "username"), "p1234567") != 0 ||
	    g_strcmp0(g_hash_table_lookup(params, "password"), PASSWORD) != 0) {
		reply(request, 401, "{\"message\":\"Unauthorized\"}");
		return;
	}
	g_free(fake->last_token);
	fake->last_token = g_strdup_printf("TOK+/=%u", ++fake->n);
	body = g_strdup_printf("{\"token\":\"%s\"}", fake->last_token);
	reply(request, 200, body);
}

static void
gateway_cb(PmTestHttpServer *server, PmTestHttpRequest *request, gpointer user_data)
{
	FakePia *fake = user_data;
	g_autoptr(GHashTable) params = query_params(request);

	g_assert_cmpstr(request->method, ==, "GET");
	if (g_str_has_prefix(request->path, "/getSignature?")) {
		g_autoptr(GDateTime) expires = NULL;
		g_autofree char *when = NULL;
		g_autofree char *json = NULL;
		g_autofree char *payload = NULL;
		g_autofree char *signature = NULL;
		g_autofree char *body = NULL;

		fake_log(fake, "sig");
		if (g_strcmp0(g_hash_table_lookup(params, "token"), fake->last_token) != 0) {
			reply(request, 200, "{\"status\":\"ERROR\",\"message\":\"bad token\"}");
			return;
		}
		expires = g_date_time_new_from_unix_utc((gint64)(REALTIME0 / USEC_PER_SEC) +
							(gint64)fake->valid_days * 86400);
		when = g_date_time_format(expires, "%Y-%m-%dT%H:%M:%S.123456789Z");
		json = g_strdup_printf("{\"token\":\"%s\",\"port\":%u,\"expires_at\":\"%s\"}",
				       fake->last_token, fake->next_port++, when);
		payload = g_base64_encode((const guchar *)json, strlen(json));
		signature = g_strdup_printf("sig+/%u==", ++fake->n);
		g_hash_table_insert(fake->issued, g_strdup(payload), g_strdup(signature));
		body = g_strdup_printf("{\"status\":\"OK\",\"payload\":\"%s\",\"signature\":\"%s\"}",
				       payload, signature);
		reply(request, 200, body);
		return;
	}
	if (g_str_has_prefix(request->path, "/bindPort?")) {
		const char *payload = g_hash_table_lookup(params, "payload");
		const char *signature = g_hash_table_lookup(params, "signature");
		guint forced = GPOINTER_TO_UINT(g_queue_pop_head(&fake->bind_statuses));

		fake_log(fake, "bind");
		if (forced == 409) {
			reply(request, 409,
			      "{\"status\":\"\",\"message\":\"Port 51813 is busy. Please use another "
			      "server\"}");
			return;
		}
		if (forced == 401 || payload == NULL ||
		    g_strcmp0(g_hash_table_lookup(fake->issued, payload), signature) != 0) {
			reply(request, 401, "{\"status\":\"\",\"message\":\"bad signature\"}");
			return;
		}
		reply(request, 200, "{\"status\":\"OK\",\"message\":\"port scheduled for add\"}");
		return;
	}
	reply(request, 404, "{}");
}

static FakePia *
fake_new(void)
{
	FakePia *fake = g_new0(FakePia, 1);
	g_autoptr(GTlsCertificate) api_cert = pm_test_tls_certificate("token.pem");
	g_autoptr(GTlsCertificate) gateway_cert = pm_test_tls_certificate("server.pem");

	fake->log = g_string_new(NULL);
	fake->issued = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	fake->next_port = FIRST_PORT;
	fake->valid_days = 60;
	g_queue_init(&fake->bind_statuses);
	fake->api = pm_test_http_server_new_tls(api_cb, fake, api_cert);
	fake->gateway = pm_test_http_server_new_tls(gateway_cb, fake, gateway_cert);
	return fake;
}

static void
fake_free(FakePia *fake)
{
	pm_test_http_server_free(fake->api);
	pm_test_http_server_free(fake->gateway);
	g_string_free(fake->log, TRUE);
	g_hash_table_unref(fake->issued);
	g_queue_clear(&fake->bind_statuses);
	g_free(fake->last_token);
	g_free(fake);
}

/* ---- the provider under test ---- */

typedef struct {
	PmScheduler *scheduler;
	PmContext *context;
	FakePia *fake;
	PmConfig *config;
	PmProvider *provider;
	PmMapping *mapping;
	guint props;
	char *password_path;
	char *hostname; /* Hostname=, NULL: none */
	guint done;
} Ctx;

#define ITERATE_UNTIL(cond)                                                                      \
	do {                                                                                     \
		gint64 give_up = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;                    \
		while (!(cond)) {                                                                \
			if (g_get_monotonic_time() > give_up)                                    \
				g_error("%s:%d: still not %s", __FILE__, __LINE__, #cond);       \
			g_main_context_iteration(NULL, TRUE);                                    \
		}                                                                                \
	} while (0)

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
mapping_changed_cb(PmMapping *mapping, guint props, gpointer user_data)
{
	Ctx *ctx = user_data;
	ctx->props |= props;
}

/* a provider of the configuration text, with the fake's URLs and the test CA */
static void
ctx_provider_new(Ctx *ctx)
{
	g_autofree char *ca = pm_test_tls_path("ca.pem");
	g_autofree char *hostname_line =
	    ctx->hostname != NULL ? g_strdup_printf("Hostname=%s\n", ctx->hostname) : g_strdup("");
	g_autofree char *text = NULL;
	g_autoptr(GError) error = NULL;

	text = g_strdup_printf("[Provider pia]\nType=pia\nGateway=127.0.0.1:%u\n%s"
			       "CAFile=%s\nUsername=p1234567\nPasswordFile=%s\n"
			       "TokenURL=%s/api/client/v2/token\nTokenCAFile=%s\n"
			       "RefreshInterval=60s\n[Mapping torrent]\nProvider=pia\n",
			       pm_test_http_server_get_port(ctx->fake->gateway), hostname_line,
			       ca, ctx->password_path, pm_test_http_server_get_url(ctx->fake->api),
			       ca);
	if (ctx->config == NULL) {
		ctx->config = pm_config_load_from_data(text, strlen(text), "test.conf", &error);
		g_assert_no_error(error);
	}
	ctx->provider =
	    pm_provider_new(ctx->context, pm_config_find_provider(ctx->config, "pia"), &error);
	g_assert_no_error(error);
}

static void
ctx_mapping_new(Ctx *ctx)
{
	ctx->mapping = pm_mapping_new(1, "torrent");
	ctx->mapping->provider_name = g_intern_string("pia");
	ctx->mapping->protocols = PM_PROTOCOL_TCP | PM_PROTOCOL_UDP;
	ctx->mapping->scope = PM_SCOPE_PERSISTENT;
	ctx->mapping->origin = PM_ORIGIN_CONFIG;
	ctx->mapping->changed_func = mapping_changed_cb;
	ctx->mapping->changed_data = ctx;
}

static Ctx *
ctx_new(const char *hostname)
{
	Ctx *ctx = g_new0(Ctx, 1);
	g_autoptr(GError) error = NULL;
	int fd;

	pm_test_log_clear();
	ctx->scheduler = pm_scheduler_new_manual(T0, REALTIME0, 7);
	ctx->context = pm_context_new(ctx->scheduler, PM_SECRET_POLICY_STRICT);
	ctx->fake = fake_new();
	ctx->hostname = g_strdup(hostname);
	fd = g_file_open_tmp("pia-password-XXXXXX", &ctx->password_path, &error);
	g_assert_no_error(error);
	close(fd);
	g_assert_true(g_file_set_contents_full(ctx->password_path, PASSWORD, -1,
					       G_FILE_SET_CONTENTS_CONSISTENT, 0600, &error));
	ctx_provider_new(ctx);
	ctx_mapping_new(ctx);
	return ctx;
}

/* the mapping stopped, the provider gone (its state kept as a restart would), and both
 * again; @section: what state.json held */
static void
ctx_restart(Ctx *ctx)
{
	g_autoptr(JsonParser) parser = json_parser_new();
	g_autoptr(GError) error = NULL;
	g_autofree char *text = NULL;
	PmJsonWriter writer;

	pm_json_writer_init(&writer, 256, FALSE);
	pm_provider_state_save(ctx->provider, &writer);
	text = pm_json_writer_finish(&writer);
	pm_provider_stop(ctx->provider, ctx->mapping, FALSE, NULL, NULL);
	g_clear_pointer(&ctx->provider, pm_provider_free);
	g_clear_pointer(&ctx->mapping, pm_mapping_free);
	settle();
	ctx_provider_new(ctx);
	g_assert_true(json_parser_load_from_data(parser, text, -1, &error));
	pm_provider_state_load(ctx->provider, json_node_get_object(json_parser_get_root(parser)));
	ctx_mapping_new(ctx);
}

static void
ctx_free(Ctx *ctx)
{
	if (ctx->mapping != NULL)
		pm_provider_stop(ctx->provider, ctx->mapping, FALSE, NULL, NULL);
	g_clear_pointer(&ctx->provider, pm_provider_free);
	fake_free(ctx->fake);
	settle();
	pm_context_free(ctx->context);
	pm_scheduler_free(ctx->scheduler);
	g_clear_pointer(&ctx->mapping, pm_mapping_free);
	pm_config_free(ctx->config);
	g_unlink(ctx->password_path);
	g_free(ctx->password_path);
	g_free(ctx->hostname);
	g_free(ctx);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(Ctx, ctx_free)

static void
ctx_start(Ctx *ctx)
{
	pm_provider_start(ctx->provider, ctx->mapping);
	ITERATE_UNTIL(ctx->mapping->state == PM_MAPPING_STATE_ACTIVE ||
		      ctx->mapping->state == PM_MAPPING_STATE_FAILED);
}

static char *
state_text(Ctx *ctx)
{
	PmJsonWriter writer;
	pm_json_writer_init(&writer, 256, FALSE);
	pm_provider_state_save(ctx->provider, &writer);
	return pm_json_writer_finish(&writer);
}

static char *
describe_text(Ctx *ctx)
{
	PmJsonWriter writer;
	pm_json_writer_init(&writer, 256, FALSE);
	pm_provider_describe(ctx->provider, &writer);
	return pm_json_writer_finish(&writer);
}

static void
assert_bound(Ctx *ctx, guint16 port)
{
	PmMappingPorts ports;

	g_assert_cmpint(ctx->mapping->state, ==, PM_MAPPING_STATE_ACTIVE);
	pm_mapping_get_ports(ctx->mapping, &ports);
	g_assert_cmpuint(ports.n_ports, ==, 2);
	for (guint i = 0; i < 2; i++) {
		g_assert_cmpuint(ports.ports[i].internal_port, ==, port);
		g_assert_cmpuint(ports.ports[i].external_port, ==, port);
	}
	g_assert_cmpuint(ports.ports[0].protocol, ==, PM_PROTOCOL_TCP);
	g_assert_cmpuint(ports.ports[1].protocol, ==, PM_PROTOCOL_UDP);
}

/* ---- tests ---- */

/* token, signature, bind: the port on TCP and UDP with I = E, until the payload's expiry;
 * kept in the state, never in Describe() */
static void
test_flow(void)
{
	g_autoptr(Ctx) ctx = ctx_new("server.pia.test");
	g_autofree char *state = NULL;
	g_autofree char *describe = NULL;

	ctx_start(ctx);
	g_assert_cmpstr(ctx->fake->log->str, ==, "token sig bind");
	assert_bound(ctx, FIRST_PORT);
	g_assert_null(ctx->mapping->last_error);
	g_assert_true((ctx->props & PM_MAPPING_PROP_EXTERNAL_PORT) != 0);
	/* the payload's expires_at is 60 days after REALTIME0 */
	g_assert_cmpuint(pm_mapping_get_expires(ctx->mapping), ==,
			 T0 + SEC(60 * 86400) + 123456);
	g_assert_cmpint(ctx->provider->state, ==, PM_PROVIDER_STATE_READY);

	state = state_text(ctx);
	g_assert_nonnull(strstr(state, "\"Payload\":\""));
	g_assert_nonnull(strstr(state, "\"Signature\":\"sig+/2==\""));
	g_assert_nonnull(strstr(state, "\"Port\":47000"));
	g_assert_nonnull(strstr(state, "\"Hostname\":\"server.pia.test\""));
	describe = describe_text(ctx);
	g_assert_nonnull(strstr(describe, "\"Hostname\":\"server.pia.test\""));
	g_assert_nonnull(strstr(describe, "\"Port\":47000"));
	g_assert_null(strstr(describe, "sig+"));
	g_assert_null(strstr(describe, "TOK"));
	g_assert_null(strstr(describe, "Payload"));
	g_assert_null(strstr(describe, PASSWORD));
	pm_test_assert_no_warnings();
}

/* bindPort every RefreshInterval= on the scheduler, nothing in between */
static void
test_schedule(void)
{
	g_autoptr(Ctx) ctx = ctx_new("server.pia.test");

	ctx_start(ctx);
	g_assert_cmpuint(pm_scheduler_get_next_deadline(ctx->scheduler), ==,
			 pm_scheduler_now(ctx->scheduler) + SEC(60));
	pm_scheduler_advance(ctx->scheduler, SEC(59));
	settle();
	g_assert_cmpstr(ctx->fake->log->str, ==, "token sig bind");
	for (guint round = 1; round <= 2; round++) {
		g_autofree char *expected = NULL;
		pm_scheduler_advance(ctx->scheduler, round == 1 ? SEC(1) : SEC(60));
		expected = g_strdup_printf("token sig bind%s", round == 1 ? " bind" : " bind bind");
		ITERATE_UNTIL(g_str_equal(ctx->fake->log->str, expected));
		settle();
		assert_bound(ctx, FIRST_PORT);
	}
	pm_test_assert_no_warnings();
}

/* the stored payload is bound again after a restart, without a new signature */
static void
test_restart_reuses(void)
{
	g_autoptr(Ctx) ctx = ctx_new("server.pia.test");

	ctx_start(ctx);
	ctx_restart(ctx);
	ctx_start(ctx);
	g_assert_cmpstr(ctx->fake->log->str, ==, "token sig bind bind");
	assert_bound(ctx, FIRST_PORT);
	pm_test_assert_no_warnings();
}

/* less than 7 days left: a new signature, a new port */
static void
test_near_expiry(void)
{
	g_autoptr(Ctx) ctx = ctx_new("server.pia.test");

	ctx->fake->valid_days = 6;
	ctx_start(ctx);
	assert_bound(ctx, FIRST_PORT);
	ctx->fake->valid_days = 60;
	ctx_restart(ctx);
	ctx_start(ctx);
	g_assert_cmpstr(ctx->fake->log->str, ==, "token sig bind token sig bind");
	assert_bound(ctx, FIRST_PORT + 1);
	pm_test_assert_no_warnings();
}

/* a stored signature refused (409 busy, 401 stale): discarded, one retry with a new
 * token and signature; refused again: backoff, no third signature */
static void
test_refused_retry(gconstpointer data)
{
	guint status = GPOINTER_TO_UINT(data);
	g_autoptr(Ctx) ctx = ctx_new("server.pia.test");

	ctx_start(ctx);
	ctx_restart(ctx);
	g_queue_push_tail(&ctx->fake->bind_statuses, GUINT_TO_POINTER(status));
	ctx_start(ctx);
	g_assert_cmpstr(ctx->fake->log->str, ==, "token sig bind bind token sig bind");
	assert_bound(ctx, FIRST_PORT + 1);

	/* both refused: one retry only, then backoff */
	ctx_restart(ctx);
	g_string_truncate(ctx->fake->log, 0);
	g_queue_push_tail(&ctx->fake->bind_statuses, GUINT_TO_POINTER(status));
	g_queue_push_tail(&ctx->fake->bind_statuses, GUINT_TO_POINTER(status));
	pm_provider_start(ctx->provider, ctx->mapping);
	ITERATE_UNTIL(ctx->mapping->state == PM_MAPPING_STATE_RENEWING ||
		      ctx->mapping->state == PM_MAPPING_STATE_RETRYING);
	settle();
	g_assert_cmpstr(ctx->fake->log->str, ==, "bind token sig bind");
	g_assert_nonnull(ctx->mapping->last_error);
	g_assert_nonnull(strstr(ctx->mapping->last_error, status == 409 ? "port-busy"
									 : "unauthorized"));
	g_assert_null(strstr(ctx->mapping->last_error, "sig+"));
	/* the next try is 5 s on (plus jitter): then it binds */
	g_assert_cmpuint(pm_scheduler_get_next_deadline(ctx->scheduler), <=,
			 pm_scheduler_now(ctx->scheduler) + SEC(5) + SEC(5) / 4 + 1);
	pm_scheduler_advance(ctx->scheduler, SEC(7));
	ITERATE_UNTIL(ctx->mapping->state == PM_MAPPING_STATE_ACTIVE);
	g_assert_cmpstr(ctx->fake->log->str, ==, "bind token sig bind bind");
	assert_bound(ctx, FIRST_PORT + 2);
}

static void
all_done_cb(gpointer user_data)
{
	Ctx *ctx = user_data;
	ctx->done++;
}

/* the gateway gone at the first start: retrying, then degraded after two minutes without
 * a lease (as every provider), and active again when it comes back */
static void
test_degraded(void)
{
	g_autoptr(Ctx) ctx = ctx_new("server.pia.test");

	pm_test_http_server_stop(ctx->fake->gateway);
	pm_provider_start(ctx->provider, ctx->mapping);
	ITERATE_UNTIL(ctx->mapping->state == PM_MAPPING_STATE_RETRYING);
	for (guint i = 0; i < 20 && ctx->mapping->state != PM_MAPPING_STATE_DEGRADED; i++) {
		g_assert_cmpint(ctx->mapping->state, ==, PM_MAPPING_STATE_RETRYING);
		pm_scheduler_advance(ctx->scheduler, SEC(10));
		settle();
	}
	g_assert_cmpint(ctx->mapping->state, ==, PM_MAPPING_STATE_DEGRADED);
	/* two minutes after the first failure, not before */
	g_assert_cmpuint(pm_scheduler_now(ctx->scheduler), >=, T0 + SEC(120));
	g_assert_cmpuint(pm_scheduler_now(ctx->scheduler), <=, T0 + SEC(140));
	pm_test_assert_warning("has had no lease for 120 s");
	pm_test_http_server_start(ctx->fake->gateway);
	pm_provider_refresh(ctx->provider, ctx->mapping, all_done_cb, ctx);
	ITERATE_UNTIL(ctx->done == 1);
	g_assert_cmpint(ctx->mapping->state, ==, PM_MAPPING_STATE_ACTIVE);
	assert_bound(ctx, FIRST_PORT);
}

/* the gateway's certificate names another server: failed, nothing sent past the
 * handshake, a message naming Hostname= */
static void
test_wrong_hostname(void)
{
	g_autoptr(Ctx) ctx = ctx_new("berlin422");

	ctx_start(ctx);
	g_assert_cmpint(ctx->mapping->state, ==, PM_MAPPING_STATE_FAILED);
	g_assert_nonnull(strstr(ctx->mapping->last_error, "not for Hostname=berlin422"));
	g_assert_null(strstr(ctx->mapping->last_error, "TOK"));
	g_assert_cmpuint(pm_test_http_server_get_n_requests(ctx->fake->gateway), ==, 0);
	g_assert_cmpint(ctx->provider->state, ==, PM_PROVIDER_STATE_FAILED);
	pm_test_assert_warning("not for Hostname=berlin422");
	/* nothing is tried again on its own */
	g_assert_cmpuint(pm_scheduler_get_n_armed(ctx->scheduler), ==, 0);
}

/* no Hostname=: PIA's CA verifies the chain, the presented name is logged with a warning */
static void
test_no_hostname(void)
{
	g_autoptr(Ctx) ctx = ctx_new(NULL);

	ctx_start(ctx);
	assert_bound(ctx, FIRST_PORT);
	pm_test_assert_warning("server.pia.test");
	pm_test_assert_no_warnings();
}

/* resume: bound at once, then every RefreshInterval= from there */
static void
test_resumed(void)
{
	g_autoptr(Ctx) ctx = ctx_new("server.pia.test");

	ctx_start(ctx);
	pm_scheduler_advance(ctx->scheduler, SEC(10));
	pm_provider_resumed(ctx->provider);
	ITERATE_UNTIL(g_str_equal(ctx->fake->log->str, "token sig bind bind"));
	settle();
	g_assert_cmpuint(pm_scheduler_get_next_deadline(ctx->scheduler), ==,
			 pm_scheduler_now(ctx->scheduler) + SEC(60));
	pm_test_assert_no_warnings();
}

/* RefreshAll binds at once and answers when the bind ends */
static void
test_refresh_all(void)
{
	g_autoptr(Ctx) ctx = ctx_new("server.pia.test");

	ctx_start(ctx);
	pm_provider_refresh_all(ctx->provider, all_done_cb, ctx);
	ITERATE_UNTIL(ctx->done == 1);
	g_assert_cmpstr(ctx->fake->log->str, ==, "token sig bind bind");
	pm_test_assert_no_warnings();
}

/* ---- configuration ---- */

static void
assert_config_error(const char *text, const char *message)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(PmConfig) config = pm_config_load_from_data(text, strlen(text), "test.conf",
							      &error);
	g_assert_null(config);
	g_assert_error(error, PM_ERROR, PM_ERROR_INVALID_CONFIGURATION);
	if (!g_str_has_prefix(error->message, message))
		g_error("message \"%s\" does not start with \"%s\"", error->message, message);
}

#define PIA "[Provider pia]\nType=pia\nUsername=p1\nPasswordCredential=pia\n"

static void
test_config(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(PmConfig) config = NULL;
	const PmPiaConfig *pia;
	const PmMappingConfig *mapping;
	const char *text = PIA "[Mapping m]\nProvider=pia\nConsumers=\n";

	config = pm_config_load_from_data(text, strlen(text), "test.conf", &error);
	g_assert_no_error(error);
	pia = pm_pia_config(pm_config_find_provider(config, "pia"));
	g_assert_cmpuint(pia->refresh_interval_usec, ==, SEC(900));
	g_assert_cmpstr(pia->token_url, ==, PM_PIA_DEFAULT_TOKEN_URL);
	g_assert_nonnull(strstr(pia->ca_file, "pia-ca.rsa.4096.crt"));
	g_assert_cmpuint(pia->gateway_port, ==, 19999);
	mapping = pm_config_find_mapping(config, "m");
	g_assert_cmpuint(mapping->protocols, ==, PM_PROTOCOL_TCP | PM_PROTOCOL_UDP);
	g_assert_cmpuint(mapping->internal_port, ==, 0);

	assert_config_error(PIA "RefreshInterval=901s\n",
			    "test.conf:5: [Provider pia] RefreshInterval=901s: longer than 900 s");
	assert_config_error(PIA "RefreshInterval=1h\n",
			    "test.conf:5: [Provider pia] RefreshInterval=1h: longer than 900 s");
	assert_config_error(PIA "Gateway=10.0.0.1:x\n",
			    "test.conf:5: [Provider pia] Gateway=10.0.0.1:x: not an IPv4");
	assert_config_error("[Provider pia]\nType=pia\nUsername=p1\n",
			    "test.conf:1: [Provider pia]: PasswordCredential= is required");
	assert_config_error(PIA "PasswordFile=/x\n",
			    "test.conf:5: [Provider pia] PasswordFile=/x: PasswordCredential= is "
			    "set too");
	assert_config_error(PIA "TokenURL=http://x/\n",
			    "test.conf:5: [Provider pia] TokenURL=http://x/: not an https://");
	assert_config_error(PIA "[Mapping m]\nInternalPort=1\n",
			    "test.conf:6: [Mapping m] InternalPort=1: not supported by provider "
			    "pia (Type=pia)");
	assert_config_error(PIA "[Mapping m]\nExternalPort=1\n",
			    "test.conf:6: [Mapping m] ExternalPort=1: not supported");
	assert_config_error(PIA "[Mapping m]\nProtocols=tcp\n",
			    "test.conf:6: [Mapping m] Protocols=tcp: not supported by provider "
			    "pia (Type=pia): PIA forwards TCP and UDP together");
	assert_config_error(PIA "[Mapping a]\n[Mapping b]\n",
			    "test.conf:6: [Mapping b]");
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	pm_test_log_init();

	g_test_add_func("/pia-provider/flow", test_flow);
	g_test_add_func("/pia-provider/schedule", test_schedule);
	g_test_add_func("/pia-provider/restart-reuses", test_restart_reuses);
	g_test_add_func("/pia-provider/near-expiry", test_near_expiry);
	g_test_add_data_func("/pia-provider/409-retry", GUINT_TO_POINTER(409), test_refused_retry);
	g_test_add_data_func("/pia-provider/401-retry", GUINT_TO_POINTER(401), test_refused_retry);
	g_test_add_func("/pia-provider/wrong-hostname", test_wrong_hostname);
	g_test_add_func("/pia-provider/no-hostname", test_no_hostname);
	g_test_add_func("/pia-provider/resumed", test_resumed);
	g_test_add_func("/pia-provider/degraded", test_degraded);
	g_test_add_func("/pia-provider/refresh-all", test_refresh_all);
	g_test_add_func("/pia-provider/config", test_config);
	return g_test_run();
}
