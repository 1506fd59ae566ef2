/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The LAN NAT-PMP server (gateway/lan-server.c) on virtual time, with a fake backend that
 * records map/unmap/send: one test per row of natpmp.md §5's behaviour table, as RFC 6886
 * (errata 3618) wants it where miniupnpd deviates, plus the gateway's own rules.
 */
#include <arpa/inet.h>
#include <string.h>

#include "config.h"
#include "lan-server.h"
#include "natpmp.h"

#define USEC_PER_MSEC G_GUINT64_CONSTANT(1000)
#define USEC_PER_SEC  G_GUINT64_CONSTANT(1000000)
#define T0	      (1000 * USEC_PER_SEC)
#define REALTIME0     (G_GUINT64_CONSTANT(1700000000) * USEC_PER_SEC)

#define LISTEN	   "192.168.1.1"
#define LISTEN2	   "10.9.0.1"
#define CLIENT	   "192.168.1.20"
#define CLIENT2	   "192.168.1.21"
#define OUTSIDER   "172.16.0.5"
#define PUBLIC	   "203.0.113.7"
#define SPORT	   40123

typedef struct {
	guint64 at;
	guint32 local;
	guint32 address;
	guint16 port;
	guint8 buf[PM_NATPMP_MAX_PACKET_SIZE];
	gsize len;
} Sent;

typedef struct {
	guint64 at;
	PmLanMapping *mapping;
	guint32 client;
	guint8 protocol;
	guint16 internal_port;
	guint16 suggested;
} MapCall;

typedef struct {
	guint64 at;
	guint32 client;
	guint8 protocol;
	guint16 internal_port;
	PmLanMappingState state;
} UnmapCall;

typedef struct {
	PmScheduler *scheduler;
	PmLanServer *server;
	GArray *sent;	/* of Sent */
	GArray *maps;	/* of MapCall */
	GArray *unmaps; /* of UnmapCall */
	guint changed;
	/* the backend answers map() from inside it */
	gboolean sync;
	guint16 sync_result;
	guint64 upstream_expires;
	guint next_port;
} Fixture;

static guint32
ip(const char *text)
{
	guint32 addr = 0;
	g_assert_cmpint(inet_pton(AF_INET, text, &addr), ==, 1);
	return addr;
}

static guint16
port_for(Fixture *f, guint16 suggested)
{
	return suggested != 0 ? suggested : (guint16)(40000 + f->next_port++);
}

static void
fake_map(PmLanServer *server, PmLanMapping *mapping, guint16 suggested, gpointer user_data)
{
	Fixture *f = user_data;
	MapCall call = {
	    .at = pm_scheduler_now(f->scheduler),
	    .mapping = mapping,
	    .client = mapping->client,
	    .protocol = mapping->protocol,
	    .internal_port = mapping->internal_port,
	    .suggested = suggested,
	};

	g_assert_cmpint(mapping->state, ==, PM_LAN_MAPPING_PENDING);
	g_assert_cmpuint(mapping->external_port, ==, 0);
	g_array_append_val(f->maps, call);
	if (f->sync)
		pm_lan_server_map_done(server, mapping, f->sync_result, port_for(f, suggested),
				       f->upstream_expires);
}

static void
fake_unmap(PmLanServer *server, PmLanMapping *mapping, gpointer user_data)
{
	Fixture *f = user_data;
	UnmapCall call = {
	    .at = pm_scheduler_now(f->scheduler),
	    .client = mapping->client,
	    .protocol = mapping->protocol,
	    .internal_port = mapping->internal_port,
	    .state = mapping->state,
	};

	/* the pending map it cancels must not be answered later: forget it */
	for (guint i = 0; i < f->maps->len; i++) {
		MapCall *m = &g_array_index(f->maps, MapCall, i);
		if (m->mapping == mapping)
			m->mapping = NULL;
	}
	g_array_append_val(f->unmaps, call);
}

static void
fake_send(PmLanServer *server, guint32 local, guint32 address, guint16 port, const guint8 *buf,
	  gsize len, gpointer user_data)
{
	Fixture *f = user_data;
	Sent sent = {
	    .at = pm_scheduler_now(f->scheduler),
	    .local = local,
	    .address = address,
	    .port = port,
	    .len = len,
	};

	g_assert_cmpuint(len, <=, sizeof(sent.buf));
	memcpy(sent.buf, buf, len);
	g_array_append_val(f->sent, sent);
}

static void
fake_changed(PmLanServer *server, gpointer user_data)
{
	Fixture *f = user_data;
	f->changed++;
}

static const PmLanServerBackend fake_backend = {
    .map = fake_map,
    .unmap = fake_unmap,
    .send = fake_send,
    .changed = fake_changed,
};

static PmLanServerConfig
default_config(const guint32 *listen, guint n_listen, const PmIpv4Network *allowed,
	       guint n_allowed)
{
	PmLanServerConfig config = {
	    .listen = listen,
	    .n_listen = n_listen,
	    .allowed = allowed,
	    .n_allowed = n_allowed,
	    .min_lifetime = 60,
	    .max_lifetime = 86400,
	    .max_mappings_per_client = 64,
	    .rate_limit = 200,
	};
	return config;
}

static Fixture *
fixture_new_full(const PmLanServerConfig *config, guint64 epoch_origin)
{
	Fixture *f = g_new0(Fixture, 1);

	f->scheduler = pm_scheduler_new_manual(T0, REALTIME0, 42);
	f->sent = g_array_new(FALSE, TRUE, sizeof(Sent));
	f->maps = g_array_new(FALSE, TRUE, sizeof(MapCall));
	f->unmaps = g_array_new(FALSE, TRUE, sizeof(UnmapCall));
	f->sync = TRUE;
	f->server = pm_lan_server_new(f->scheduler, config, &fake_backend, f, epoch_origin);
	g_assert_nonnull(f->server);
	return f;
}

static Fixture *
fixture_new(void)
{
	guint32 listen[] = {ip(LISTEN)};
	PmIpv4Network allowed[1];
	PmLanServerConfig config;

	g_assert_true(pm_ipv4_network_parse("192.168.1.0/24", &allowed[0]));
	config = default_config(listen, 1, allowed, 1);
	/* the config (and its arrays) are copied */
	return fixture_new_full(&config, 0);
}

static void
fixture_free(Fixture *f)
{
	pm_lan_server_free(f->server);
	g_assert_cmpuint(pm_scheduler_get_n_armed(f->scheduler), ==, 0);
	pm_scheduler_free(f->scheduler);
	g_array_unref(f->sent);
	g_array_unref(f->maps);
	g_array_unref(f->unmaps);
	g_free(f);
}

static void
receive(Fixture *f, const char *client, guint16 sport, const guint8 *buf, gsize len)
{
	pm_lan_server_receive(f->server, ip(LISTEN), ip(client), sport, buf, len);
}

static void
send_map(Fixture *f, const char *client, guint16 sport, guint8 opcode, guint16 iport,
	 guint16 suggested, guint32 lifetime)
{
	guint8 buf[PM_NATPMP_MAP_REQUEST_SIZE];
	PmNatpmpRequest req = {
	    .opcode = opcode,
	    .internal_port = iport,
	    .suggested_external_port = suggested,
	    .lifetime = lifetime,
	};
	gsize len = pm_natpmp_encode_request(&req, buf);

	receive(f, client, sport, buf, len);
}

static Sent *
last_sent(Fixture *f)
{
	g_assert_cmpuint(f->sent->len, >, 0);
	return &g_array_index(f->sent, Sent, f->sent->len - 1);
}

/* the last answer, decoded as a map response to @client:@sport */
static PmNatpmpResponse
last_map_answer(Fixture *f, const char *client, guint16 sport, guint8 opcode)
{
	Sent *sent = last_sent(f);
	PmNatpmpResponse resp;
	g_autoptr(GError) error = NULL;

	g_assert_cmpuint(sent->address, ==, ip(client));
	g_assert_cmpuint(sent->port, ==, sport);
	g_assert_cmpuint(sent->local, ==, ip(LISTEN));
	g_assert_cmpuint(sent->len, ==, PM_NATPMP_MAP_RESPONSE_SIZE);
	g_assert_true(pm_natpmp_decode_response(sent->buf, sent->len, &resp, &error));
	g_assert_no_error(error);
	g_assert_cmpuint(resp.opcode, ==, opcode);
	g_assert_cmpuint(resp.epoch, ==, pm_lan_server_get_epoch(f->server));
	return resp;
}

static void
assert_map_answer(Fixture *f, const char *client, guint16 sport, guint8 opcode, guint16 result,
		  guint16 iport, guint16 eport, guint32 lifetime)
{
	PmNatpmpResponse resp = last_map_answer(f, client, sport, opcode);

	g_assert_cmpuint(resp.result, ==, result);
	g_assert_cmpuint(resp.internal_port, ==, iport);
	g_assert_cmpuint(resp.external_port, ==, eport);
	g_assert_cmpuint(resp.lifetime, ==, lifetime);
}

static void
test_public_address(void)
{
	Fixture *f = fixture_new();
	const guint8 req[] = {0x00, 0x00};
	guint8 want[12] = {0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x05};
	guint32 pub = ip(PUBLIC);
	Sent *sent;

	/* unknown: result 3, address zero */
	receive(f, CLIENT, SPORT, req, sizeof(req));
	sent = last_sent(f);
	g_assert_cmpmem(sent->buf, sent->len,
			((const guint8[]){0x00, 0x80, 0x00, 0x03, 0, 0, 0, 0, 0, 0, 0, 0}), 12);
	g_assert_cmpuint(sent->address, ==, ip(CLIENT));
	g_assert_cmpuint(sent->port, ==, SPORT);

	pm_lan_server_set_public_address(f->server, pub);
	pm_scheduler_advance(f->scheduler, 5 * USEC_PER_SEC);
	g_array_set_size(f->sent, 0);
	receive(f, CLIENT, SPORT, req, sizeof(req));
	g_assert_cmpuint(f->sent->len, ==, 1);
	sent = last_sent(f);
	memcpy(want + 8, &pub, 4);
	g_assert_cmpmem(sent->buf, sent->len, want, sizeof(want));
	g_assert_cmpuint(f->maps->len, ==, 0);
	fixture_free(f);
}

static void
test_trailing_bytes(void)
{
	Fixture *f = fixture_new();
	guint8 req[12] = {0x00, 0x00};
	guint8 map[16];
	PmNatpmpRequest map_req = {.opcode = 2, .internal_port = 7001, .lifetime = 120};
	Sent *sent;

	pm_lan_server_set_public_address(f->server, ip(PUBLIC));
	g_array_set_size(f->sent, 0);
	receive(f, CLIENT, SPORT, req, sizeof(req));
	g_assert_cmpuint(f->sent->len, ==, 1);
	sent = last_sent(f);
	g_assert_cmpuint(sent->len, ==, 12);
	g_assert_cmpuint(sent->buf[1], ==, 0x80);
	g_assert_cmpuint(sent->buf[3], ==, 0);

	memset(map, 0xee, sizeof(map));
	pm_natpmp_encode_request(&map_req, map);
	receive(f, CLIENT, SPORT, map, sizeof(map));
	assert_map_answer(f, CLIENT, SPORT, 2, 0, 7001, 40000, 120);
	fixture_free(f);
}

static void
test_unsupported_version(void)
{
	Fixture *f = fixture_new();
	const guint8 v1[] = {0x01, 0x00};
	guint8 pcp[24] = {0x02, 0x01};
	Sent *sent;

	pm_scheduler_advance(f->scheduler, 7 * USEC_PER_SEC);
	receive(f, CLIENT, SPORT, v1, sizeof(v1));
	sent = last_sent(f);
	g_assert_cmpmem(sent->buf, sent->len,
			((const guint8[]){0x00, 0x80, 0x00, 0x01, 0x00, 0x00, 0x00, 0x07}), 8);

	/* a PCP MAP: op 128 (errata 3618's figure, whatever the opcode), 8 bytes whatever
	 * the length */
	receive(f, CLIENT, SPORT, pcp, sizeof(pcp));
	sent = last_sent(f);
	g_assert_cmpmem(sent->buf, sent->len,
			((const guint8[]){0x00, 0x80, 0x00, 0x01, 0x00, 0x00, 0x00, 0x07}), 8);
	g_assert_cmpuint(f->sent->len, ==, 2);
	g_assert_cmpuint(f->maps->len, ==, 0);
	fixture_free(f);
}

static void
test_unsupported_opcode(void)
{
	Fixture *f = fixture_new();
	const guint8 op3[] = {0x00, 0x03, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff, 1, 2, 3, 4, 5};
	const guint8 want[] = {0x00, 0x83, 0x00, 0x05, 0x00, 0x00, 0x00, 0x09, 1, 2, 3, 4, 5};
	const guint8 short_op[] = {0x00, 0x7f, 0x42};
	Sent *sent;

	pm_scheduler_advance(f->scheduler, 9 * USEC_PER_SEC);
	/* RFC 6886 §3.5: the whole request, opcode | 128, result 5, the epoch */
	receive(f, CLIENT, SPORT, op3, sizeof(op3));
	sent = last_sent(f);
	g_assert_cmpmem(sent->buf, sent->len, want, sizeof(want));

	/* shorter than the header: padded to 8 */
	receive(f, CLIENT, SPORT, short_op, sizeof(short_op));
	sent = last_sent(f);
	g_assert_cmpmem(sent->buf, sent->len,
			((const guint8[]){0x00, 0xff, 0x00, 0x05, 0x00, 0x00, 0x00, 0x09}), 8);
	fixture_free(f);
}

static void
test_response_ignored(void)
{
	Fixture *f = fixture_new();
	const guint8 op80[] = {0x00, 0x80};
	const guint8 op82[16] = {0x00, 0x82};
	const guint8 v1op80[] = {0x01, 0x80};
	const guint8 one[] = {0x00};
	PmLanServerStats stats;

	receive(f, CLIENT, SPORT, op80, sizeof(op80));
	receive(f, CLIENT, SPORT, op82, sizeof(op82));
	receive(f, CLIENT, SPORT, v1op80, sizeof(v1op80));
	receive(f, CLIENT, SPORT, one, sizeof(one));
	receive(f, CLIENT, SPORT, NULL, 0);
	g_assert_cmpuint(f->sent->len, ==, 0);
	pm_lan_server_get_stats(f->server, &stats);
	g_assert_cmpuint(stats.received, ==, 5);
	g_assert_cmpuint(stats.ignored_malformed, ==, 5);
	g_assert_cmpuint(stats.answered, ==, 0);
	fixture_free(f);
}

static void
test_short_map_ignored(void)
{
	Fixture *f = fixture_new();
	const guint8 map8[] = {0x00, 0x02, 0x00, 0x00, 0x1b, 0x59, 0x1b, 0x59};
	const guint8 map11[] = {0x00, 0x01, 0x00, 0x00, 0x1b, 0x59, 0x1b, 0x59, 0, 0, 0};

	receive(f, CLIENT, SPORT, map8, sizeof(map8));
	receive(f, CLIENT, SPORT, map11, sizeof(map11));
	g_assert_cmpuint(f->sent->len, ==, 0);
	g_assert_cmpuint(f->maps->len, ==, 0);
	g_assert_cmpuint(pm_lan_server_get_n_mappings(f->server), ==, 0);
	fixture_free(f);
}

static void
test_internal_port_zero_refused(void)
{
	Fixture *f = fixture_new();

	send_map(f, CLIENT, SPORT, 2, 0, 7001, 60);
	assert_map_answer(f, CLIENT, SPORT, 2, 2, 0, 0, 0);
	g_assert_cmpuint(f->maps->len, ==, 0);
	g_assert_cmpuint(pm_lan_server_get_n_mappings(f->server), ==, 0);
	fixture_free(f);
}

static void
test_map_renew_from_memory(void)
{
	Fixture *f = fixture_new();
	PmLanMapping *mapping;
	guint changed;

	send_map(f, CLIENT, SPORT, 2, 7001, 7001, 3600);
	g_assert_cmpuint(f->maps->len, ==, 1);
	g_assert_cmpuint(g_array_index(f->maps, MapCall, 0).suggested, ==, 7001);
	assert_map_answer(f, CLIENT, SPORT, 2, 0, 7001, 7001, 3600);
	mapping = pm_lan_server_lookup(f->server, ip(CLIENT), PM_PROTOCOL_TCP, 7001);
	g_assert_nonnull(mapping);
	g_assert_cmpint(mapping->state, ==, PM_LAN_MAPPING_ACTIVE);
	g_assert_cmpuint(mapping->expires, ==, T0 + 3600 * USEC_PER_SEC);
	changed = f->changed;
	g_assert_cmpuint(changed, >, 0);

	/* the same request again, later: the same E from memory, the lease extended */
	pm_scheduler_advance(f->scheduler, 1800 * USEC_PER_SEC);
	send_map(f, CLIENT, SPORT + 1, 2, 7001, 7001, 3600);
	assert_map_answer(f, CLIENT, SPORT + 1, 2, 0, 7001, 7001, 3600);
	g_assert_cmpuint(f->maps->len, ==, 1);
	g_assert_cmpuint(mapping->expires, ==, T0 + 5400 * USEC_PER_SEC);
	/* a renewal that keeps E writes nothing */
	g_assert_cmpuint(f->changed, ==, changed);
	g_assert_cmpuint(f->unmaps->len, ==, 0);
	fixture_free(f);
}

static void
test_renew_suggested_zero(void)
{
	Fixture *f = fixture_new();

	send_map(f, CLIENT, SPORT, 2, 7001, 7001, 30 * 60);
	assert_map_answer(f, CLIENT, SPORT, 2, 0, 7001, 7001, 1800);
	/* a client that forgot E (sugg 0), or suggests another: still its mapping's E */
	send_map(f, CLIENT, SPORT, 2, 7001, 0, 600);
	assert_map_answer(f, CLIENT, SPORT, 2, 0, 7001, 7001, 600);
	send_map(f, CLIENT, SPORT, 2, 7001, 9999, 600);
	assert_map_answer(f, CLIENT, SPORT, 2, 0, 7001, 7001, 600);
	g_assert_cmpuint(f->maps->len, ==, 1);
	/* another internal port of the same client is another mapping */
	send_map(f, CLIENT, SPORT, 2, 7002, 0, 600);
	g_assert_cmpuint(f->maps->len, ==, 2);
	assert_map_answer(f, CLIENT, SPORT, 2, 0, 7002, 40000, 600);
	fixture_free(f);
}

static void
test_delete(void)
{
	Fixture *f = fixture_new();
	UnmapCall *unmap;

	send_map(f, CLIENT, SPORT, 2, 7001, 7001, 60);
	/* the suggested port of a deletion is ignored */
	send_map(f, CLIENT, SPORT, 2, 7001, 1234, 0);
	assert_map_answer(f, CLIENT, SPORT, 2, 0, 7001, 0, 0);
	g_assert_cmpuint(f->unmaps->len, ==, 1);
	unmap = &g_array_index(f->unmaps, UnmapCall, 0);
	g_assert_cmpuint(unmap->client, ==, ip(CLIENT));
	g_assert_cmpuint(unmap->protocol, ==, PM_PROTOCOL_TCP);
	g_assert_cmpuint(unmap->internal_port, ==, 7001);
	g_assert_cmpint(unmap->state, ==, PM_LAN_MAPPING_ACTIVE);
	g_assert_null(pm_lan_server_lookup(f->server, ip(CLIENT), PM_PROTOCOL_TCP, 7001));
	/* no lease left to expire */
	g_assert_cmpuint(pm_scheduler_get_n_armed(f->scheduler), ==, 0);
	fixture_free(f);
}

static void
test_delete_absent(void)
{
	Fixture *f = fixture_new();
	guint changed = f->changed;

	send_map(f, CLIENT, SPORT, 2, 9999, 0, 0);
	assert_map_answer(f, CLIENT, SPORT, 2, 0, 9999, 0, 0);
	/* the UDP one of another port, the TCP one absent: nothing of it goes */
	send_map(f, CLIENT, SPORT, 1, 7001, 7001, 60);
	send_map(f, CLIENT, SPORT, 2, 7001, 0, 0);
	assert_map_answer(f, CLIENT, SPORT, 2, 0, 7001, 0, 0);
	g_assert_cmpuint(f->unmaps->len, ==, 0);
	g_assert_nonnull(pm_lan_server_lookup(f->server, ip(CLIENT), PM_PROTOCOL_UDP, 7001));
	g_assert_cmpuint(f->changed, >, changed);
	fixture_free(f);
}

static void
test_delete_all_per_protocol(void)
{
	Fixture *f = fixture_new();

	send_map(f, CLIENT, SPORT, 2, 7001, 7001, 60);
	send_map(f, CLIENT, SPORT, 2, 7002, 7002, 60);
	send_map(f, CLIENT, SPORT, 1, 7001, 7001, 60);
	send_map(f, CLIENT2, SPORT, 2, 7003, 7003, 60);
	g_assert_cmpuint(pm_lan_server_get_n_mappings(f->server), ==, 4);

	/* RFC 6886 §3.4: internal port 0, lifetime 0: this client's TCP ones only */
	send_map(f, CLIENT, SPORT, 2, 0, 0, 0);
	assert_map_answer(f, CLIENT, SPORT, 2, 0, 0, 0, 0);
	g_assert_cmpuint(f->unmaps->len, ==, 2);
	for (guint i = 0; i < f->unmaps->len; i++) {
		UnmapCall *u = &g_array_index(f->unmaps, UnmapCall, i);
		g_assert_cmpuint(u->client, ==, ip(CLIENT));
		g_assert_cmpuint(u->protocol, ==, PM_PROTOCOL_TCP);
	}
	g_assert_cmpuint(pm_lan_server_get_n_mappings(f->server), ==, 2);
	g_assert_nonnull(pm_lan_server_lookup(f->server, ip(CLIENT), PM_PROTOCOL_UDP, 7001));
	g_assert_nonnull(pm_lan_server_lookup(f->server, ip(CLIENT2), PM_PROTOCOL_TCP, 7003));

	/* then UDP: the client is gone, and it can start again */
	send_map(f, CLIENT, SPORT, 1, 0, 0, 0);
	assert_map_answer(f, CLIENT, SPORT, 1, 0, 0, 0, 0);
	g_assert_cmpuint(f->unmaps->len, ==, 3);
	g_assert_cmpuint(pm_lan_server_get_n_mappings(f->server), ==, 1);
	send_map(f, CLIENT, SPORT, 1, 7001, 7001, 60);
	assert_map_answer(f, CLIENT, SPORT, 1, 0, 7001, 7001, 60);
	fixture_free(f);
}

static void
test_lifetime_max(void)
{
	Fixture *f = fixture_new();
	PmLanMapping *mapping;

	/* miniupnpd echoes 0xFFFFFFFF and expires the mapping at once; this caps it */
	send_map(f, CLIENT, SPORT, 2, 7001, 7001, G_MAXUINT32);
	assert_map_answer(f, CLIENT, SPORT, 2, 0, 7001, 7001, 86400);
	mapping = pm_lan_server_lookup(f->server, ip(CLIENT), PM_PROTOCOL_TCP, 7001);
	g_assert_cmpuint(mapping->expires, ==, T0 + 86400 * USEC_PER_SEC);
	send_map(f, CLIENT, SPORT, 2, 7001, 7001, 86401);
	assert_map_answer(f, CLIENT, SPORT, 2, 0, 7001, 7001, 86400);
	send_map(f, CLIENT, SPORT, 2, 7001, 7001, 86399);
	assert_map_answer(f, CLIENT, SPORT, 2, 0, 7001, 7001, 86399);
	fixture_free(f);
}

static void
test_lifetime_min(void)
{
	Fixture *f = fixture_new();

	send_map(f, CLIENT, SPORT, 1, 7001, 7001, 1);
	assert_map_answer(f, CLIENT, SPORT, 1, 0, 7001, 7001, 60);
	send_map(f, CLIENT, SPORT, 1, 7001, 7001, 59);
	assert_map_answer(f, CLIENT, SPORT, 1, 0, 7001, 7001, 60);
	send_map(f, CLIENT, SPORT, 1, 7001, 7001, 61);
	assert_map_answer(f, CLIENT, SPORT, 1, 0, 7001, 7001, 61);
	fixture_free(f);
}

static void
test_lifetime_upstream(void)
{
	Fixture *f = fixture_new();
	PmLanMapping *mapping;

	/* the upstream lease has 600 s left: no promise beyond it */
	f->upstream_expires = T0 + 600 * USEC_PER_SEC;
	send_map(f, CLIENT, SPORT, 2, 7001, 7001, 3600);
	assert_map_answer(f, CLIENT, SPORT, 2, 0, 7001, 7001, 600);
	send_map(f, CLIENT, SPORT, 2, 7001, 7001, 300);
	assert_map_answer(f, CLIENT, SPORT, 2, 0, 7001, 7001, 300);

	/* 250 s later, 350 s left */
	pm_scheduler_advance(f->scheduler, 250 * USEC_PER_SEC);
	send_map(f, CLIENT, SPORT, 2, 7001, 7001, 3600);
	assert_map_answer(f, CLIENT, SPORT, 2, 0, 7001, 7001, 350);
	/* 550 s in, 50 s left: still MinLifetime= */
	pm_scheduler_advance(f->scheduler, 300 * USEC_PER_SEC);
	send_map(f, CLIENT, SPORT, 2, 7001, 7001, 3600);
	assert_map_answer(f, CLIENT, SPORT, 2, 0, 7001, 7001, 60);
	g_assert_cmpuint(f->maps->len, ==, 1);

	/* the upstream renewed: 1000 s from now */
	mapping = pm_lan_server_lookup(f->server, ip(CLIENT), PM_PROTOCOL_TCP, 7001);
	pm_lan_server_mapping_update(f->server, mapping, 7001,
				     pm_scheduler_now(f->scheduler) + 1000 * USEC_PER_SEC);
	send_map(f, CLIENT, SPORT, 2, 7001, 7001, 3600);
	assert_map_answer(f, CLIENT, SPORT, 2, 0, 7001, 7001, 1000);
	fixture_free(f);
}

static void
test_mapping_update_port(void)
{
	Fixture *f = fixture_new();
	PmLanMapping *mapping;
	guint changed;

	send_map(f, CLIENT, SPORT, 2, 7001, 7001, 600);
	mapping = pm_lan_server_lookup(f->server, ip(CLIENT), PM_PROTOCOL_TCP, 7001);
	changed = f->changed;
	pm_lan_server_mapping_update(f->server, mapping, 7001, T0 + 900 * USEC_PER_SEC);
	g_assert_cmpuint(f->changed, ==, changed);
	/* the upstream changed E: state is written, the next answer tells the client */
	pm_lan_server_mapping_update(f->server, mapping, 45000, 0);
	g_assert_cmpuint(f->changed, ==, changed + 1);
	send_map(f, CLIENT, SPORT, 2, 7001, 7001, 600);
	assert_map_answer(f, CLIENT, SPORT, 2, 0, 7001, 45000, 600);
	g_assert_cmpuint(f->maps->len, ==, 1);
	fixture_free(f);
}

static void
test_not_allowed(void)
{
	Fixture *f = fixture_new();
	const guint8 pa[] = {0x00, 0x00};
	const guint8 v2[] = {0x02, 0x00};
	PmLanServerStats stats;

	pm_lan_server_set_public_address(f->server, ip(PUBLIC));
	g_array_set_size(f->sent, 0);
	receive(f, OUTSIDER, SPORT, pa, sizeof(pa));
	receive(f, OUTSIDER, SPORT, v2, sizeof(v2));
	send_map(f, OUTSIDER, SPORT, 2, 7001, 7001, 60);
	g_assert_cmpuint(f->sent->len, ==, 0);
	g_assert_cmpuint(f->maps->len, ==, 0);
	g_assert_cmpuint(pm_lan_server_get_n_mappings(f->server), ==, 0);
	pm_lan_server_get_stats(f->server, &stats);
	g_assert_cmpuint(stats.ignored_not_allowed, ==, 3);
	g_assert_cmpuint(stats.received, ==, 3);
	/* the edge of the network: .255 is in, the next /24 is not */
	receive(f, "192.168.1.255", SPORT, pa, sizeof(pa));
	g_assert_cmpuint(f->sent->len, ==, 1);
	receive(f, "192.168.2.1", SPORT, pa, sizeof(pa));
	g_assert_cmpuint(f->sent->len, ==, 1);
	fixture_free(f);
}

static void
test_rate_limit(void)
{
	Fixture *f = fixture_new();
	const guint8 pa[] = {0x00, 0x00};
	PmLanServerStats stats;

	/* RateLimit=200: a burst of 400 at one instant, then one every 5 ms */
	for (guint i = 0; i < 400; i++)
		receive(f, CLIENT, SPORT, pa, sizeof(pa));
	g_assert_cmpuint(f->sent->len, ==, 400);
	receive(f, CLIENT, SPORT, pa, sizeof(pa));
	send_map(f, CLIENT, SPORT, 2, 7001, 7001, 60);
	g_assert_cmpuint(f->sent->len, ==, 400);
	g_assert_cmpuint(f->maps->len, ==, 0);
	pm_lan_server_get_stats(f->server, &stats);
	g_assert_cmpuint(stats.dropped_rate_limit, ==, 2);

	/* another client is not affected */
	receive(f, CLIENT2, SPORT, pa, sizeof(pa));
	g_assert_cmpuint(f->sent->len, ==, 401);

	pm_scheduler_advance(f->scheduler, 4 * USEC_PER_MSEC);
	receive(f, CLIENT, SPORT, pa, sizeof(pa));
	g_assert_cmpuint(f->sent->len, ==, 401);
	pm_scheduler_advance(f->scheduler, 1 * USEC_PER_MSEC);
	receive(f, CLIENT, SPORT, pa, sizeof(pa));
	g_assert_cmpuint(f->sent->len, ==, 402);
	receive(f, CLIENT, SPORT, pa, sizeof(pa));
	g_assert_cmpuint(f->sent->len, ==, 402);

	/* 2 s idle: the whole burst again */
	pm_scheduler_advance(f->scheduler, 2 * USEC_PER_SEC);
	for (guint i = 0; i < 401; i++)
		receive(f, CLIENT, SPORT, pa, sizeof(pa));
	g_assert_cmpuint(f->sent->len, ==, 802);
	pm_lan_server_get_stats(f->server, &stats);
	g_assert_cmpuint(stats.dropped_rate_limit, ==, 5);
	g_assert_cmpuint(stats.answered, ==, 802);
	fixture_free(f);
}

/* a flood from many addresses: the table stays bounded (fixed size), and a client over
 * its limit stays limited whoever else sends (it is not evicted for the newcomers) */
static void
test_rate_limit_many_sources(void)
{
	guint32 listen[] = {ip(LISTEN)};
	PmIpv4Network allowed[1];
	PmLanServerConfig config;
	Fixture *f;
	const guint8 pa[] = {0x00, 0x00};
	guint32 heavy = ip("10.0.0.1");
	PmLanServerStats stats;

	g_assert_true(pm_ipv4_network_parse("10.0.0.0/8", &allowed[0]));
	config = default_config(listen, 1, allowed, 1);
	config.rate_limit = 10;
	f = fixture_new_full(&config, 0);

	for (guint i = 0; i < 20; i++)
		pm_lan_server_receive(f->server, listen[0], heavy, SPORT, pa, sizeof(pa));
	pm_lan_server_receive(f->server, listen[0], heavy, SPORT, pa, sizeof(pa));
	g_assert_cmpuint(f->sent->len, ==, 20);

	for (guint32 i = 0; i < 100000; i++) {
		guint32 source = g_htonl(0x0a010000u + i);
		pm_lan_server_receive(f->server, listen[0], source, SPORT, pa, sizeof(pa));
		if (i % 1000 == 0)
			pm_lan_server_receive(f->server, listen[0], heavy, SPORT, pa, sizeof(pa));
	}
	g_assert_cmpuint(f->sent->len, ==, 20 + 100000);
	pm_lan_server_get_stats(f->server, &stats);
	g_assert_cmpuint(stats.dropped_rate_limit, ==, 1 + 100);
	fixture_free(f);
}

static void
test_max_mappings(void)
{
	guint32 listen[] = {ip(LISTEN)};
	PmIpv4Network allowed[1];
	PmLanServerConfig config;
	Fixture *f;

	g_assert_true(pm_ipv4_network_parse("192.168.1.0/24", &allowed[0]));
	config = default_config(listen, 1, allowed, 1);
	config.max_mappings_per_client = 3;
	f = fixture_new_full(&config, 0);

	/* both protocols count */
	send_map(f, CLIENT, SPORT, 2, 7001, 7001, 60);
	send_map(f, CLIENT, SPORT, 2, 7002, 7002, 60);
	send_map(f, CLIENT, SPORT, 1, 7001, 7001, 60);
	send_map(f, CLIENT, SPORT, 1, 7002, 7002, 60);
	assert_map_answer(f, CLIENT, SPORT, 1, 4, 7002, 0, 0);
	g_assert_cmpuint(f->maps->len, ==, 3);
	/* its existing ones still renew; another client is not affected */
	send_map(f, CLIENT, SPORT, 2, 7002, 7002, 60);
	assert_map_answer(f, CLIENT, SPORT, 2, 0, 7002, 7002, 60);
	send_map(f, CLIENT2, SPORT, 1, 7002, 7002, 60);
	assert_map_answer(f, CLIENT2, SPORT, 1, 0, 7002, 7002, 60);
	/* one deleted: room again */
	send_map(f, CLIENT, SPORT, 2, 7001, 0, 0);
	send_map(f, CLIENT, SPORT, 1, 7002, 7002, 60);
	assert_map_answer(f, CLIENT, SPORT, 1, 0, 7002, 7002, 60);
	fixture_free(f);
}

static void
test_map_failure(void)
{
	Fixture *f = fixture_new();
	MapCall *call;
	guint changed;

	f->sync = FALSE;
	send_map(f, CLIENT, SPORT, 2, 7001, 7001, 600);
	g_assert_cmpuint(f->sent->len, ==, 0);
	g_assert_cmpuint(f->maps->len, ==, 1);
	call = &g_array_index(f->maps, MapCall, 0);
	changed = f->changed;
	pm_scheduler_advance(f->scheduler, 3 * USEC_PER_SEC);
	pm_lan_server_map_done(f->server, call->mapping, 3, 0, 0);
	assert_map_answer(f, CLIENT, SPORT, 2, 3, 7001, 0, 0);
	g_assert_cmpuint(f->unmaps->len, ==, 0);
	g_assert_cmpuint(pm_lan_server_get_n_mappings(f->server), ==, 0);
	g_assert_cmpuint(f->changed, ==, changed + 1);

	/* out of resources, answered from inside map() */
	f->sync = TRUE;
	f->sync_result = 4;
	send_map(f, CLIENT, SPORT, 1, 7002, 0, 600);
	assert_map_answer(f, CLIENT, SPORT, 1, 4, 7002, 0, 0);
	g_assert_cmpuint(f->unmaps->len, ==, 0);
	g_assert_cmpuint(pm_lan_server_get_n_mappings(f->server), ==, 0);
	/* a retry is a new map */
	f->sync_result = 0;
	send_map(f, CLIENT, SPORT, 1, 7002, 0, 600);
	assert_map_answer(f, CLIENT, SPORT, 1, 0, 7002, 40001, 600);
	g_assert_cmpuint(f->maps->len, ==, 3);
	fixture_free(f);
}

static void
test_expiry(void)
{
	Fixture *f = fixture_new();
	UnmapCall *unmap;
	guint changed;

	send_map(f, CLIENT, SPORT, 2, 7001, 7001, 120);
	send_map(f, CLIENT, SPORT, 1, 7001, 7001, 120);
	pm_scheduler_advance(f->scheduler, 60 * USEC_PER_SEC);
	/* the UDP one renewed at 60 s for 120 s: until 180 s */
	send_map(f, CLIENT, SPORT, 1, 7001, 7001, 120);
	pm_scheduler_advance(f->scheduler, 60 * USEC_PER_SEC - 1);
	g_assert_cmpuint(f->unmaps->len, ==, 0);
	changed = f->changed;
	pm_scheduler_advance(f->scheduler, 1);
	g_assert_cmpuint(f->unmaps->len, ==, 1);
	unmap = &g_array_index(f->unmaps, UnmapCall, 0);
	g_assert_cmpuint(unmap->at, ==, T0 + 120 * USEC_PER_SEC);
	g_assert_cmpuint(unmap->protocol, ==, PM_PROTOCOL_TCP);
	g_assert_cmpuint(f->changed, ==, changed + 1);
	g_assert_null(pm_lan_server_lookup(f->server, ip(CLIENT), PM_PROTOCOL_TCP, 7001));

	pm_scheduler_advance(f->scheduler, 120 * USEC_PER_SEC);
	g_assert_cmpuint(f->unmaps->len, ==, 2);
	unmap = &g_array_index(f->unmaps, UnmapCall, 1);
	g_assert_cmpuint(unmap->at, ==, T0 + 180 * USEC_PER_SEC);
	g_assert_cmpuint(unmap->protocol, ==, PM_PROTOCOL_UDP);
	g_assert_cmpuint(pm_lan_server_get_n_mappings(f->server), ==, 0);
	/* no answer to anyone at expiry */
	g_assert_cmpuint(f->sent->len, ==, 3);
	fixture_free(f);
}

static void
test_pending_retransmit(void)
{
	Fixture *f = fixture_new();
	PmLanMapping *mapping;

	f->sync = FALSE;
	send_map(f, CLIENT, SPORT, 2, 7001, 7001, 600);
	pm_scheduler_advance(f->scheduler, 250 * USEC_PER_MSEC);
	send_map(f, CLIENT, SPORT, 2, 7001, 7001, 600);
	pm_scheduler_advance(f->scheduler, 500 * USEC_PER_MSEC);
	/* the client restarted meanwhile: another source port, another lifetime */
	send_map(f, CLIENT, SPORT + 7, 2, 7001, 7001, 300);
	g_assert_cmpuint(f->maps->len, ==, 1);
	g_assert_cmpuint(f->sent->len, ==, 0);

	mapping = g_array_index(f->maps, MapCall, 0).mapping;
	g_assert_cmpint(mapping->state, ==, PM_LAN_MAPPING_PENDING);
	pm_lan_server_map_done(f->server, mapping, 0, 7005, 0);
	g_assert_cmpuint(f->sent->len, ==, 1);
	assert_map_answer(f, CLIENT, SPORT + 7, 2, 0, 7001, 7005, 300);
	g_assert_cmpint(mapping->state, ==, PM_LAN_MAPPING_ACTIVE);
	g_assert_cmpuint(mapping->expires, ==, T0 + 750 * USEC_PER_MSEC + 300 * USEC_PER_SEC);
	fixture_free(f);
}

static void
test_remove_while_pending(void)
{
	Fixture *f = fixture_new();
	UnmapCall *unmap;
	PmLanMapping *mapping;

	f->sync = FALSE;
	/* a deletion */
	send_map(f, CLIENT, SPORT, 2, 7001, 7001, 600);
	send_map(f, CLIENT, SPORT, 2, 7001, 0, 0);
	assert_map_answer(f, CLIENT, SPORT, 2, 0, 7001, 0, 0);
	g_assert_cmpuint(f->unmaps->len, ==, 1);
	unmap = &g_array_index(f->unmaps, UnmapCall, 0);
	g_assert_cmpint(unmap->state, ==, PM_LAN_MAPPING_PENDING);
	g_assert_cmpuint(unmap->internal_port, ==, 7001);
	g_assert_null(g_array_index(f->maps, MapCall, 0).mapping);

	/* a delete-all */
	send_map(f, CLIENT, SPORT, 1, 7002, 0, 600);
	send_map(f, CLIENT, SPORT, 1, 0, 0, 0);
	g_assert_cmpuint(f->unmaps->len, ==, 2);
	g_assert_cmpint(g_array_index(f->unmaps, UnmapCall, 1).state, ==,
			PM_LAN_MAPPING_PENDING);

	/* the backend's own removal */
	send_map(f, CLIENT2, SPORT, 1, 7003, 0, 600);
	mapping = g_array_index(f->maps, MapCall, 2).mapping;
	pm_lan_server_remove_mapping(f->server, mapping);
	g_assert_cmpuint(f->unmaps->len, ==, 3);
	g_assert_cmpuint(g_array_index(f->unmaps, UnmapCall, 2).client, ==, ip(CLIENT2));
	g_assert_cmpuint(pm_lan_server_get_n_mappings(f->server), ==, 0);
	/* nobody was answered a map */
	g_assert_cmpuint(f->sent->len, ==, 2);
	fixture_free(f);
}

static void
test_announcements(void)
{
	guint32 listen[] = {ip(LISTEN), ip(LISTEN2)};
	PmIpv4Network allowed[1];
	PmLanServerConfig config;
	Fixture *f;
	const guint64 at_ms[] = {0, 250, 750, 1750, 3750, 7750, 15750, 31750, 63750, 127750};
	guint32 pub = ip(PUBLIC);

	g_assert_true(pm_ipv4_network_parse("192.168.1.0/24", &allowed[0]));
	config = default_config(listen, 2, allowed, 1);
	f = fixture_new_full(&config, T0 - 100 * USEC_PER_SEC);
	pm_lan_server_set_public_address(f->server, pub);
	pm_scheduler_advance(f->scheduler, 600 * USEC_PER_SEC);

	g_assert_cmpuint(f->sent->len, ==, 20);
	for (guint i = 0; i < 20; i++) {
		Sent *sent = &g_array_index(f->sent, Sent, i);
		guint64 at = T0 + at_ms[i / 2] * USEC_PER_MSEC;
		PmNatpmpResponse resp;

		g_assert_cmpuint(sent->at, ==, at);
		g_assert_cmpuint(sent->local, ==, listen[i % 2]);
		g_assert_cmpuint(sent->address, ==, ip("224.0.0.1"));
		g_assert_cmpuint(sent->port, ==, 5350);
		g_assert_cmpuint(sent->len, ==, 12);
		g_assert_cmpuint(sent->buf[1], ==, 128);
		g_assert_true(pm_natpmp_decode_response(sent->buf, sent->len, &resp, NULL));
		g_assert_cmpuint(resp.result, ==, 0);
		g_assert_cmpuint(resp.public_address, ==, pub);
		/* the current epoch in each */
		g_assert_cmpuint(resp.epoch, ==, 100 + (at - T0) / USEC_PER_SEC);
	}

	/* a new announce() restarts the schedule; unknown address: result 3 */
	pm_lan_server_set_public_address(f->server, 0);
	g_assert_cmpuint(f->sent->len, ==, 20);
	pm_lan_server_announce(f->server);
	pm_scheduler_advance(f->scheduler, 750 * USEC_PER_MSEC);
	pm_lan_server_announce(f->server);
	pm_scheduler_advance(f->scheduler, 200 * USEC_PER_SEC);
	g_assert_cmpuint(f->sent->len, ==, 20 + 6 + 20);
	g_assert_cmpuint(g_array_index(f->sent, Sent, 20).buf[3], ==, 3);
	g_assert_cmpuint(g_array_index(f->sent, Sent, 26).at, ==,
			 T0 + 600 * USEC_PER_SEC + 750 * USEC_PER_MSEC);
	g_assert_cmpuint(g_array_index(f->sent, Sent, 28).at, ==,
			 T0 + 600 * USEC_PER_SEC + 1000 * USEC_PER_MSEC);
	fixture_free(f);
}

static void
test_public_address_change(void)
{
	Fixture *f = fixture_new();
	guint32 address;

	pm_lan_server_set_public_address(f->server, ip(PUBLIC));
	/* the first one at once */
	g_assert_cmpuint(f->sent->len, ==, 1);
	pm_scheduler_advance(f->scheduler, 300 * USEC_PER_SEC);
	g_assert_cmpuint(f->sent->len, ==, 10);

	/* the same address again, or none: nothing */
	pm_lan_server_set_public_address(f->server, ip(PUBLIC));
	pm_lan_server_set_public_address(f->server, 0);
	pm_lan_server_set_public_address(f->server, ip(PUBLIC));
	pm_scheduler_advance(f->scheduler, 300 * USEC_PER_SEC);
	g_assert_cmpuint(f->sent->len, ==, 10);

	pm_lan_server_set_public_address(f->server, ip("203.0.113.8"));
	pm_scheduler_advance(f->scheduler, 300 * USEC_PER_SEC);
	g_assert_cmpuint(f->sent->len, ==, 20);
	memcpy(&address, g_array_index(f->sent, Sent, 19).buf + 8, 4);
	g_assert_cmpuint(address, ==, ip("203.0.113.8"));
	fixture_free(f);
}

static void
test_epoch_restored_origin(void)
{
	guint32 listen[] = {ip(LISTEN)};
	PmIpv4Network allowed[1];
	PmLanServerConfig config;
	Fixture *f;
	const guint8 pa[] = {0x00, 0x00};
	Sent *sent;

	g_assert_true(pm_ipv4_network_parse("192.168.1.0/24", &allowed[0]));
	config = default_config(listen, 1, allowed, 1);
	f = fixture_new_full(&config, T0 - 987 * USEC_PER_SEC);
	g_assert_cmpuint(pm_lan_server_get_epoch_origin(f->server), ==, T0 - 987 * USEC_PER_SEC);
	g_assert_cmpuint(pm_lan_server_get_epoch(f->server), ==, 987);
	receive(f, CLIENT, SPORT, pa, sizeof(pa));
	sent = last_sent(f);
	g_assert_cmpmem(sent->buf + 4, 4, ((const guint8[]){0x00, 0x00, 0x03, 0xdb}), 4);
	fixture_free(f);

	/* a new epoch starts now */
	f = fixture_new();
	g_assert_cmpuint(pm_lan_server_get_epoch_origin(f->server), ==, T0);
	pm_scheduler_advance(f->scheduler, 1999 * USEC_PER_MSEC);
	g_assert_cmpuint(pm_lan_server_get_epoch(f->server), ==, 1);
	fixture_free(f);
}

static void
test_restore(void)
{
	Fixture *f = fixture_new();
	PmLanMapping *mapping;
	g_autoptr(GPtrArray) all = NULL;

	mapping = pm_lan_server_restore_mapping(f->server, ip(CLIENT), PM_PROTOCOL_TCP, 7001,
						41001, T0 + 300 * USEC_PER_SEC);
	g_assert_nonnull(mapping);
	g_assert_cmpint(mapping->state, ==, PM_LAN_MAPPING_ACTIVE);
	g_assert_cmpuint(f->changed, ==, 1);
	all = pm_lan_server_get_mappings(f->server);
	g_assert_cmpuint(all->len, ==, 1);
	g_assert_true(all->pdata[0] == mapping);

	/* a renewal from memory: the restored E, no map() */
	send_map(f, CLIENT, SPORT, 2, 7001, 41001, 600);
	assert_map_answer(f, CLIENT, SPORT, 2, 0, 7001, 41001, 600);
	g_assert_cmpuint(f->maps->len, ==, 0);
	/* it counts towards the client's mappings and its lease runs */
	pm_scheduler_advance(f->scheduler, 600 * USEC_PER_SEC);
	g_assert_cmpuint(f->unmaps->len, ==, 1);
	g_assert_cmpuint(g_array_index(f->unmaps, UnmapCall, 0).at, ==, T0 + 600 * USEC_PER_SEC);

	/* one whose lease ended while portmapd was down goes at the next dispatch */
	pm_lan_server_restore_mapping(f->server, ip(CLIENT), PM_PROTOCOL_UDP, 7002, 41002,
				      T0 - USEC_PER_SEC);
	g_assert_cmpuint(f->unmaps->len, ==, 1);
	pm_scheduler_advance(f->scheduler, 0);
	g_assert_cmpuint(f->unmaps->len, ==, 2);
	fixture_free(f);
}

static void
test_free_with_mappings(void)
{
	Fixture *f = fixture_new();

	/* freed without unmap(): the backend dealt with them before */
	send_map(f, CLIENT, SPORT, 2, 7001, 7001, 600);
	f->sync = FALSE;
	send_map(f, CLIENT, SPORT, 2, 7002, 7002, 600);
	pm_lan_server_announce(f->server);
	g_assert_cmpuint(pm_lan_server_get_n_mappings(f->server), ==, 2);
	pm_lan_server_free(f->server);
	f->server = pm_lan_server_new(f->scheduler, &(PmLanServerConfig){
		.min_lifetime = 60, .max_lifetime = 60}, &fake_backend, f, 0);
	g_assert_cmpuint(f->unmaps->len, ==, 0);
	fixture_free(f);
}

static void
test_ipv4_network(void)
{
	PmIpv4Network net;

	g_assert_true(pm_ipv4_network_parse("192.168.1.77/24", &net));
	g_assert_cmpuint(net.address, ==, ip("192.168.1.0"));
	g_assert_cmpuint(net.prefix, ==, 24);
	g_assert_true(pm_ipv4_network_contains(&net, ip("192.168.1.1")));
	g_assert_false(pm_ipv4_network_contains(&net, ip("192.168.0.255")));
	g_assert_true(pm_ipv4_network_parse("10.1.2.3", &net));
	g_assert_cmpuint(net.prefix, ==, 32);
	g_assert_true(pm_ipv4_network_contains(&net, ip("10.1.2.3")));
	g_assert_false(pm_ipv4_network_contains(&net, ip("10.1.2.4")));
	g_assert_true(pm_ipv4_network_parse("0.0.0.0/0", &net));
	g_assert_true(pm_ipv4_network_contains(&net, ip("8.8.8.8")));
	g_assert_true(pm_ipv4_network_parse("172.16.0.0/12", &net));
	g_assert_true(pm_ipv4_network_contains(&net, ip("172.31.255.255")));
	g_assert_false(pm_ipv4_network_contains(&net, ip("172.32.0.0")));

	const char *bad[] = {"", "10", "10.0.0", "10.0.0.0/33", "10.0.0.0/", "256.0.0.1",
			     "10.0.0.0/-1", "0x0a.0.0.1", "10.0.0.1/8x", "1.2.3.4.5", "a.b.c.d"};
	for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
		g_test_message("%s", bad[i]);
		g_assert_false(pm_ipv4_network_parse(bad[i], &net));
	}
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);

	g_test_add_func("/lan-server/public-address", test_public_address);
	g_test_add_func("/lan-server/trailing-bytes", test_trailing_bytes);
	g_test_add_func("/lan-server/unsupported-version", test_unsupported_version);
	g_test_add_func("/lan-server/unsupported-opcode", test_unsupported_opcode);
	g_test_add_func("/lan-server/response-ignored", test_response_ignored);
	g_test_add_func("/lan-server/short-map-ignored", test_short_map_ignored);
	g_test_add_func("/lan-server/internal-port-zero-refused", test_internal_port_zero_refused);
	g_test_add_func("/lan-server/map-renew-from-memory", test_map_renew_from_memory);
	g_test_add_func("/lan-server/renew-suggested-zero", test_renew_suggested_zero);
	g_test_add_func("/lan-server/delete", test_delete);
	g_test_add_func("/lan-server/delete-absent", test_delete_absent);
	g_test_add_func("/lan-server/delete-all-per-protocol", test_delete_all_per_protocol);
	g_test_add_func("/lan-server/lifetime-max", test_lifetime_max);
	g_test_add_func("/lan-server/lifetime-min", test_lifetime_min);
	g_test_add_func("/lan-server/lifetime-upstream", test_lifetime_upstream);
	g_test_add_func("/lan-server/mapping-update-port", test_mapping_update_port);
	g_test_add_func("/lan-server/not-allowed", test_not_allowed);
	g_test_add_func("/lan-server/rate-limit", test_rate_limit);
	g_test_add_func("/lan-server/rate-limit-many-sources", test_rate_limit_many_sources);
	g_test_add_func("/lan-server/max-mappings", test_max_mappings);
	g_test_add_func("/lan-server/map-failure", test_map_failure);
	g_test_add_func("/lan-server/expiry", test_expiry);
	g_test_add_func("/lan-server/pending-retransmit", test_pending_retransmit);
	g_test_add_func("/lan-server/remove-while-pending", test_remove_while_pending);
	g_test_add_func("/lan-server/announcements", test_announcements);
	g_test_add_func("/lan-server/public-address-change", test_public_address_change);
	g_test_add_func("/lan-server/epoch-restored-origin", test_epoch_restored_origin);
	g_test_add_func("/lan-server/restore", test_restore);
	g_test_add_func("/lan-server/free-with-mappings", test_free_with_mappings);
	g_test_add_func("/lan-server/ipv4-network", test_ipv4_network);
	return g_test_run();
}
