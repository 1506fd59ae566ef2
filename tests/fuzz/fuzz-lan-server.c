/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The gateway's LAN NAT-PMP server (gateway/lan-server.c) on any packets, on virtual
 * time, with a stub backend.
 *
 * Input: source address (4 bytes) and source port (2) of the first packet, a flags byte,
 * then records of { ctl, len, len bytes of packet }. Flags bit 0: the backend answers
 * map() from inside it; bit 1: ... with a failure; bit 2: the source may be outside
 * AllowedNetworks= as given (else it is forced into 192.168.0.0/16); bits 3-7: the
 * server's limits (MaxMappingsPerClient=, RateLimit=). Each record's ctl: bits 0-1 vary
 * the source's last byte, bit 2 answers the oldest pending map (bit 3: as a failure),
 * bit 4 removes the newest mapping, bit 5 changes the public address, bits 6-7 move
 * virtual time (ms, s, or a whole lifetime).
 *
 * Checked: every answer goes to the packet's source (or 224.0.0.1:5350 for an
 * announcement) from a listen address, is 8 to PM_NATPMP_MAX_PACKET_SIZE bytes, has
 * version 0 and the response bit, and a map answer decodes; a failure carries no port
 * and no lifetime; a success's lifetime is within [MinLifetime=, MaxLifetime=]; no
 * client holds more than its maximum; the backend never sees a mapping twice or after
 * unmap() (the sanitizers see a use after free).
 */
#include <arpa/inet.h>

#include "config.h"
#include "fuzz-natpmp.h"
#include "lan-server.h"

#define USEC_PER_SEC G_GUINT64_CONSTANT(1000000)
#define MIN_LIFETIME 60
#define MAX_LIFETIME 3600

typedef struct {
	PmScheduler *scheduler;
	PmLanServer *server;
	GPtrArray *pending; /* of PmLanMapping*, what map() has not answered yet */
	gboolean sync;
	gboolean sync_fail;
	guint16 next_port;
	guint32 listen[2];
	/* the packet being handled */
	gboolean in_receive;
	guint32 source;
	guint16 source_port;
	guint max_per_client;
} Stub;

static void
stub_map(PmLanServer *server, PmLanMapping *mapping, guint16 suggested, gpointer user_data)
{
	Stub *stub = user_data;

	PM_FUZZ_CHECK(mapping->state == PM_LAN_MAPPING_PENDING);
	PM_FUZZ_CHECK(mapping->internal_port != 0);
	PM_FUZZ_CHECK(mapping->protocol == PM_PROTOCOL_TCP || mapping->protocol == PM_PROTOCOL_UDP);
	PM_FUZZ_CHECK(!g_ptr_array_find(stub->pending, mapping, NULL));
	if (stub->sync) {
		pm_lan_server_map_done(server, mapping, stub->sync_fail ? 4 : 0,
				       suggested != 0 ? suggested : ++stub->next_port, 0);
		return;
	}
	g_ptr_array_add(stub->pending, mapping);
}

static void
stub_unmap(PmLanServer *server, PmLanMapping *mapping, gpointer user_data)
{
	Stub *stub = user_data;

	/* cancelled: never answered after this */
	g_ptr_array_remove(stub->pending, mapping);
}

static void
stub_send(PmLanServer *server, guint32 local, guint32 address, guint16 port, const guint8 *buf,
	  gsize len, gpointer user_data)
{
	Stub *stub = user_data;
	PmNatpmpResponse resp;

	PM_FUZZ_CHECK(local == stub->listen[0] || local == stub->listen[1]);
	PM_FUZZ_CHECK(len >= 8 && len <= PM_NATPMP_MAX_PACKET_SIZE);
	PM_FUZZ_CHECK(buf[0] == 0 && (buf[1] & 0x80) != 0);
	if (address == g_htonl(0xe0000001u)) {
		PM_FUZZ_CHECK(port == PM_NATPMP_CLIENT_PORT && len == 12 && buf[1] == 0x80);
		return;
	}
	if (stub->in_receive) {
		PM_FUZZ_CHECK(address == stub->source);
		PM_FUZZ_CHECK(port == stub->source_port);
	}
	if (buf[1] != 0x81 && buf[1] != 0x82)
		return;
	if (len == 8)
		return; /* version error */
	PM_FUZZ_CHECK(len == PM_NATPMP_MAP_RESPONSE_SIZE);
	PM_FUZZ_CHECK(pm_natpmp_decode_response(buf, len, &resp, NULL));
	if (resp.result != 0) {
		PM_FUZZ_CHECK(resp.external_port == 0 && resp.lifetime == 0);
	} else if (resp.lifetime != 0) {
		PM_FUZZ_CHECK(resp.external_port != 0);
		PM_FUZZ_CHECK(resp.lifetime >= MIN_LIFETIME && resp.lifetime <= MAX_LIFETIME);
	} else {
		PM_FUZZ_CHECK(resp.external_port == 0);
	}
}

static const PmLanServerBackend stub_backend = {
    .map = stub_map,
    .unmap = stub_unmap,
    .send = stub_send,
};

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	pm_fuzz_init();
	return 0;
}

static void
check_limits(Stub *stub)
{
	g_autoptr(GPtrArray) all = pm_lan_server_get_mappings(stub->server);
	g_autoptr(GHashTable) per_client = g_hash_table_new(g_direct_hash, g_direct_equal);

	PM_FUZZ_CHECK(all->len == pm_lan_server_get_n_mappings(stub->server));
	for (guint i = 0; i < all->len; i++) {
		PmLanMapping *m = all->pdata[i];
		guint n = GPOINTER_TO_UINT(
			      g_hash_table_lookup(per_client, GUINT_TO_POINTER(m->client))) +
			  1;

		PM_FUZZ_CHECK(pm_lan_server_lookup(stub->server, m->client, m->protocol,
						   m->internal_port) == m);
		PM_FUZZ_CHECK(n <= stub->max_per_client);
		g_hash_table_insert(per_client, GUINT_TO_POINTER(m->client), GUINT_TO_POINTER(n));
		if (m->state == PM_LAN_MAPPING_PENDING)
			PM_FUZZ_CHECK(g_ptr_array_find(stub->pending, m, NULL));
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	Stub stub = {0};
	PmIpv4Network allowed[2];
	PmLanServerConfig config;
	PmLanServerStats stats;
	guint32 base;
	guint8 flags;
	size_t offset = 7;
	guint n_packets = 0;

	if (size < 7)
		return 0;
	memcpy(&base, data, 4);
	flags = data[6];
	if ((flags & 0x04) == 0)
		base = (base & g_htonl(0x0000ffffu)) | g_htonl(0xc0a80000u);
	stub.source_port = (guint16)pm_fuzz_read_be(data, size, 4, 2);
	stub.sync = (flags & 0x01) != 0;
	stub.sync_fail = (flags & 0x02) != 0;
	stub.max_per_client = 1 + ((flags >> 3) & 0x3);
	stub.listen[0] = g_htonl(0xc0a80101u); /* 192.168.1.1 */
	stub.listen[1] = g_htonl(0x0a090001u); /* 10.9.0.1 */

	g_assert_true(pm_ipv4_network_parse("192.168.0.0/16", &allowed[0]));
	g_assert_true(pm_ipv4_network_parse("10.0.0.0/8", &allowed[1]));
	config = (PmLanServerConfig){
	    .listen = stub.listen,
	    .n_listen = 2,
	    .allowed = allowed,
	    .n_allowed = 2,
	    .min_lifetime = MIN_LIFETIME,
	    .max_lifetime = MAX_LIFETIME,
	    .max_mappings_per_client = stub.max_per_client,
	    .rate_limit = (flags >> 5) == 0 ? 0 : (flags >> 5),
	};
	stub.scheduler = pm_scheduler_new_manual(1000 * USEC_PER_SEC, 0, 1);
	stub.pending = g_ptr_array_new();
	stub.server = pm_lan_server_new(stub.scheduler, &config, &stub_backend, &stub,
					(flags & 0x80) ? 1 : 0);
	pm_lan_server_announce(stub.server);

	while (offset + 2 <= size) {
		guint8 ctl = data[offset];
		size_t len = MIN((size_t)data[offset + 1], size - offset - 2);
		const guint8 *packet = data + offset + 2;
		guint32 source = base ^ g_htonl(ctl & 0x3);

		offset += 2 + len;
		n_packets++;
		stub.in_receive = TRUE;
		stub.source = source;
		pm_lan_server_receive(stub.server, stub.listen[ctl & 1], source, stub.source_port,
				      packet, len);
		stub.in_receive = FALSE;
		check_limits(&stub);

		if ((ctl & 0x04) && stub.pending->len > 0) {
			PmLanMapping *m = g_ptr_array_steal_index(stub.pending, 0);
			pm_lan_server_map_done(stub.server, m, (ctl & 0x08) ? 3 : 0,
					       ++stub.next_port,
					       pm_scheduler_now(stub.scheduler) +
						   (ctl & 0x08 ? 0 : 120 * USEC_PER_SEC));
		}
		if (ctl & 0x10) {
			g_autoptr(GPtrArray) all = pm_lan_server_get_mappings(stub.server);
			if (all->len > 0)
				pm_lan_server_remove_mapping(stub.server, all->pdata[all->len - 1]);
		}
		if (ctl & 0x20)
			pm_lan_server_set_public_address(stub.server,
							 (ctl & 0x40) ? 0 : g_htonl(0xcb007100u | ctl));
		switch (ctl >> 6) {
		case 1:
			pm_scheduler_advance(stub.scheduler, 1000 * (guint64)ctl);
			break;
		case 2:
			pm_scheduler_advance(stub.scheduler, USEC_PER_SEC * (ctl & 0x3f));
			break;
		case 3:
			pm_scheduler_advance(stub.scheduler, (MAX_LIFETIME + 1) * USEC_PER_SEC);
			break;
		default:
			break;
		}
		check_limits(&stub);
	}

	pm_lan_server_get_stats(stub.server, &stats);
	PM_FUZZ_CHECK(stats.received == n_packets);
	PM_FUZZ_CHECK(stats.ignored_not_allowed + stats.dropped_rate_limit +
			  stats.ignored_malformed <= stats.received);
	/* a lifetime past the last lease: everything active has expired */
	pm_scheduler_advance(stub.scheduler, (MAX_LIFETIME + 1) * USEC_PER_SEC);
	{
		g_autoptr(GPtrArray) all = pm_lan_server_get_mappings(stub.server);
		for (guint i = 0; i < all->len; i++)
			PM_FUZZ_CHECK(((PmLanMapping *)all->pdata[i])->state ==
				      PM_LAN_MAPPING_PENDING);
	}
	pm_lan_server_free(stub.server);
	PM_FUZZ_CHECK(pm_scheduler_get_n_armed(stub.scheduler) == 0);
	pm_scheduler_free(stub.scheduler);
	g_ptr_array_unref(stub.pending);
	return 0;
}
