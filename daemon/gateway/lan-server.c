/* SPDX-License-Identifier: GPL-2.0-or-later */

#include "lan-server.h"

#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "natpmp.h"

#define USEC_PER_MSEC G_GUINT64_CONSTANT(1000)
#define USEC_PER_SEC  G_GUINT64_CONSTANT(1000000)

/* RFC 6886 §3.2.1: 10 announcements, 250 ms apart at first, the gap doubling */
#define ANNOUNCE_COUNT	    10
#define ANNOUNCE_FIRST_GAP  (250 * USEC_PER_MSEC)
#define ANNOUNCE_ADDRESS    g_htonl(0xe0000001u) /* 224.0.0.1 */

/*
 * The rate limiter: a set-associative table of GCRA cells (a token bucket kept as one
 * "theoretical arrival time"), RATE_SETS × RATE_WAYS of them allocated once. A flood from
 * any number of addresses costs no memory: a new address takes the way of its set with
 * the most tokens (a full bucket is the same as none, so evicting it loses nothing).
 */
#define RATE_WAYS 4
#define RATE_SETS 1024 /* 4096 buckets, 64 KiB */

typedef struct {
	guint64 tat; /* when the bucket is full again (µs); <= now: full */
	guint32 address;
	gboolean used;
} RateCell;

typedef struct {
	guint32 address;
	GPtrArray *mappings; /* of PmLanMapping*, both protocols: at most max_mappings_per_client */
} Client;

struct _PmLanServer {
	PmScheduler *scheduler;
	PmLanServerConfig config;
	guint32 *listen;
	PmIpv4Network *allowed;
	PmLanServerBackend backend;
	gpointer user_data;
	guint64 epoch_origin;

	/* of PmLanMapping* (key and value): hashed and compared by (client, protocol, port) */
	GHashTable *mappings;
	/* address → Client* */
	GHashTable *clients;

	RateCell *rate;
	guint64 rate_interval; /* µs per token */
	guint64 rate_tolerance; /* µs of burst: (2 × rate − 1) intervals */
	guint32 rate_seed;

	guint32 public_address;
	guint32 announced_address; /* the last non-zero public address */
	PmTimer announce_timer;
	guint announce_sent;
	guint64 announce_gap;

	PmLanServerStats stats;
};

/* the 56-bit key of a mapping: client << 24 | protocol << 16 | internal port */
static inline guint64
mapping_key(guint32 client, guint8 protocol, guint16 internal_port)
{
	return (guint64)client << 24 | (guint64)protocol << 16 | internal_port;
}

/* a 64-bit mix (splitmix64's finalizer): every bit of the client counts, so a /16 of
 * clients spreads over the buckets as well as one client's ports */
static inline guint
mix64(guint64 x)
{
	x ^= x >> 30;
	x *= G_GUINT64_CONSTANT(0xbf58476d1ce4e5b9);
	x ^= x >> 27;
	x *= G_GUINT64_CONSTANT(0x94d049bb133111eb);
	x ^= x >> 31;
	return (guint)x;
}

static guint
mapping_hash(gconstpointer p)
{
	const PmLanMapping *m = p;
	return mix64(mapping_key(m->client, m->protocol, m->internal_port));
}

static gboolean
mapping_equal(gconstpointer a, gconstpointer b)
{
	const PmLanMapping *x = a;
	const PmLanMapping *y = b;
	return x->client == y->client && x->protocol == y->protocol &&
	       x->internal_port == y->internal_port;
}

static void
client_free(gpointer p)
{
	Client *client = p;

	g_ptr_array_unref(client->mappings);
	g_free(client);
}

/* network byte order helpers (the codec's are private) */
static inline void
write_u16(guint8 *buf, guint16 val)
{
	buf[0] = (guint8)(val >> 8);
	buf[1] = (guint8)val;
}

static inline void
write_u32(guint8 *buf, guint32 val)
{
	buf[0] = (guint8)(val >> 24);
	buf[1] = (guint8)(val >> 16);
	buf[2] = (guint8)(val >> 8);
	buf[3] = (guint8)val;
}

gboolean
pm_ipv4_network_parse(const char *text, PmIpv4Network *out)
{
	g_autofree char *copy = NULL;
	char *slash;
	guint64 prefix = 32;
	guint32 address = 0;
	guint32 mask;

	g_return_val_if_fail(text != NULL, FALSE);
	g_return_val_if_fail(out != NULL, FALSE);

	copy = g_strstrip(g_strdup(text));
	slash = strchr(copy, '/');
	if (slash != NULL) {
		char *end = NULL;

		*slash = '\0';
		/* digits only: no sign, no spaces, no hex */
		if (slash[1] == '\0' || !g_ascii_isdigit(slash[1]))
			return FALSE;
		prefix = g_ascii_strtoull(slash + 1, &end, 10);
		if (*end != '\0' || prefix > 32)
			return FALSE;
	}
	/* dotted quad exactly: inet_aton would take "10" or "0x0a.1" */
	{
		g_auto(GStrv) parts = g_strsplit(copy, ".", -1);
		guint8 bytes[4];

		if (g_strv_length(parts) != 4)
			return FALSE;
		for (guint i = 0; i < 4; i++) {
			char *end = NULL;
			guint64 val;

			if (parts[i][0] == '\0' || !g_ascii_isdigit(parts[i][0]) ||
			    strlen(parts[i]) > 3)
				return FALSE;
			val = g_ascii_strtoull(parts[i], &end, 10);
			if (*end != '\0' || val > 255)
				return FALSE;
			bytes[i] = (guint8)val;
		}
		memcpy(&address, bytes, sizeof(address));
	}
	mask = prefix == 0 ? 0 : g_htonl(G_MAXUINT32 << (32 - prefix));
	out->address = address & mask;
	out->prefix = (guint8)prefix;
	return TRUE;
}

gboolean
pm_ipv4_network_contains(const PmIpv4Network *network, guint32 address)
{
	guint32 mask;

	g_return_val_if_fail(network != NULL, FALSE);

	mask = network->prefix == 0 ? 0 : g_htonl(G_MAXUINT32 << (32 - MIN(network->prefix, 32)));
	return (address & mask) == (network->address & mask);
}

static gboolean
server_is_allowed(PmLanServer *self, guint32 source)
{
	for (guint i = 0; i < self->config.n_allowed; i++) {
		if (pm_ipv4_network_contains(&self->allowed[i], source))
			return TRUE;
	}
	return FALSE;
}

/* GCRA: one packet costs one interval of "arrival time"; the bucket holds the burst as
 * the tolerance. TRUE: the packet may go on */
static gboolean
server_rate_allow(PmLanServer *self, guint32 source, guint64 now)
{
	RateCell *set;
	RateCell *cell = NULL;
	guint64 tat;

	if (self->rate == NULL)
		return TRUE;
	set = &self->rate[(mix64((guint64)source ^ self->rate_seed) % RATE_SETS) * RATE_WAYS];
	for (guint i = 0; i < RATE_WAYS; i++) {
		if (set[i].used && set[i].address == source) {
			cell = &set[i];
			break;
		}
	}
	if (cell == NULL) {
		/* the way with the most tokens: an unused one, else the earliest full time */
		cell = &set[0];
		for (guint i = 0; i < RATE_WAYS && cell->used; i++) {
			if (!set[i].used || set[i].tat < cell->tat)
				cell = &set[i];
		}
		cell->used = TRUE;
		cell->address = source;
		cell->tat = 0;
	}
	tat = MAX(cell->tat, now);
	if (tat - now > self->rate_tolerance)
		return FALSE;
	cell->tat = tat + self->rate_interval;
	return TRUE;
}

guint32
pm_lan_server_get_epoch(PmLanServer *self)
{
	guint64 now;

	g_return_val_if_fail(self != NULL, 0);

	now = pm_scheduler_now(self->scheduler);
	/* an origin in the future (a state file from another boot) counts as a fresh epoch */
	if (now <= self->epoch_origin)
		return 0;
	return (guint32)MIN((now - self->epoch_origin) / USEC_PER_SEC, G_MAXUINT32);
}

guint64
pm_lan_server_get_epoch_origin(PmLanServer *self)
{
	g_return_val_if_fail(self != NULL, 0);
	return self->epoch_origin;
}

static void
server_send(PmLanServer *self, guint32 local, guint32 address, guint16 port, const guint8 *buf,
	    gsize len)
{
	self->backend.send(self, local, address, port, buf, len, self->user_data);
}

static void
server_answer(PmLanServer *self, guint32 local, guint32 address, guint16 port, const guint8 *buf,
	      gsize len)
{
	self->stats.answered++;
	server_send(self, local, address, port, buf, len);
}

static gsize
encode_public_address(PmLanServer *self, guint8 *buf)
{
	PmNatpmpResponse resp = {
	    .opcode = PM_NATPMP_OP_PUBLIC_ADDRESS,
	    .result = self->public_address != 0 ? PM_NATPMP_RESULT_SUCCESS
						: PM_NATPMP_RESULT_NETWORK_FAILURE,
	    .epoch = pm_lan_server_get_epoch(self),
	    .public_address = self->public_address,
	};
	return pm_natpmp_encode_response(&resp, buf);
}

/* a map response to @client:@port: failures (result != 0) carry no external port and no
 * lifetime, whatever is passed */
static void
answer_map(PmLanServer *self, guint32 local, guint32 client, guint16 port, guint8 opcode,
	   guint16 result, guint16 internal_port, guint16 external_port, guint32 lifetime)
{
	guint8 buf[PM_NATPMP_MAP_RESPONSE_SIZE];
	PmNatpmpResponse resp = {
	    .opcode = opcode,
	    .result = result,
	    .epoch = pm_lan_server_get_epoch(self),
	    .internal_port = internal_port,
	    .external_port = result == PM_NATPMP_RESULT_SUCCESS ? external_port : 0,
	    .lifetime = result == PM_NATPMP_RESULT_SUCCESS ? lifetime : 0,
	};
	gsize len = pm_natpmp_encode_response(&resp, buf);

	server_answer(self, local, client, port, buf, len);
}

static guint8
protocol_opcode(guint8 protocol)
{
	return protocol == PM_PROTOCOL_UDP ? PM_NATPMP_OP_MAP_UDP : PM_NATPMP_OP_MAP_TCP;
}

/* RFC 6886 §3.3: the gateway MAY grant less than asked, never past the upstream lease it
 * cannot promise beyond; clamped to the configured range */
static guint32
mapping_granted_lifetime(PmLanServer *self, PmLanMapping *mapping, guint32 requested,
			 guint64 now)
{
	guint64 granted = requested;

	if (requested == G_MAXUINT32 || requested > self->config.max_lifetime)
		granted = self->config.max_lifetime;
	if (mapping->upstream_expires > now) {
		guint64 left = (mapping->upstream_expires - now) / USEC_PER_SEC;
		if (left > 0)
			granted = MIN(granted, left);
	}
	return (guint32)CLAMP(granted, self->config.min_lifetime, self->config.max_lifetime);
}

static void mapping_expired_cb(PmTimer *timer, gpointer user_data);

static Client *
server_lookup_client(PmLanServer *self, guint32 address)
{
	return g_hash_table_lookup(self->clients, GUINT_TO_POINTER(address));
}

static PmLanMapping *
server_add_mapping(PmLanServer *self, guint32 client_address, guint8 protocol,
		   guint16 internal_port)
{
	PmLanMapping *mapping = g_new0(PmLanMapping, 1);
	Client *client = server_lookup_client(self, client_address);

	mapping->client = client_address;
	mapping->protocol = protocol;
	mapping->internal_port = internal_port;
	mapping->state = PM_LAN_MAPPING_PENDING;
	mapping->server = self;
	pm_timer_init(&mapping->expiry_timer, mapping_expired_cb, mapping);
	g_hash_table_add(self->mappings, mapping);
	if (client == NULL) {
		client = g_new0(Client, 1);
		client->address = client_address;
		client->mappings = g_ptr_array_new();
		g_hash_table_insert(self->clients, GUINT_TO_POINTER(client_address), client);
	}
	g_ptr_array_add(client->mappings, mapping);
	return mapping;
}

/* out of the tables and freed; @unmap: tell the backend first (not after a failed map,
 * which the backend has rolled back itself) */
static void
server_drop_mapping(PmLanServer *self, PmLanMapping *mapping, gboolean unmap)
{
	Client *client = server_lookup_client(self, mapping->client);

	g_hash_table_remove(self->mappings, mapping);
	if (client != NULL) {
		g_ptr_array_remove_fast(client->mappings, mapping);
		if (client->mappings->len == 0)
			g_hash_table_remove(self->clients, GUINT_TO_POINTER(mapping->client));
	}
	pm_scheduler_disarm(self->scheduler, &mapping->expiry_timer);
	if (unmap)
		self->backend.unmap(self, mapping, self->user_data);
	g_free(mapping);
}

static void
server_changed(PmLanServer *self)
{
	if (self->backend.changed != NULL)
		self->backend.changed(self, self->user_data);
}

static void
mapping_expired_cb(PmTimer *timer, gpointer user_data)
{
	PmLanMapping *mapping = user_data;
	PmLanServer *self = mapping->server;

	/* RFC 6886 §3.6: mappings MUST be deleted when their lifetime expires */
	server_drop_mapping(self, mapping, TRUE);
	server_changed(self);
}

static void
mapping_arm_lease(PmLanServer *self, PmLanMapping *mapping, guint64 expires)
{
	mapping->expires = expires;
	pm_scheduler_arm(self->scheduler, &mapping->expiry_timer, expires);
}

/* the client's lease: extended from now, answered from memory */
static void
mapping_renew(PmLanServer *self, PmLanMapping *mapping, guint32 local, guint16 reply_port,
	      guint32 requested)
{
	guint64 now = pm_scheduler_now(self->scheduler);
	guint32 granted = mapping_granted_lifetime(self, mapping, requested, now);

	mapping->local_address = local;
	mapping->reply_port = reply_port;
	mapping_arm_lease(self, mapping, now + (guint64)granted * USEC_PER_SEC);
	answer_map(self,
		   local,
		   mapping->client,
		   reply_port,
		   protocol_opcode(mapping->protocol),
		   PM_NATPMP_RESULT_SUCCESS,
		   mapping->internal_port,
		   mapping->external_port,
		   granted);
}

static void
server_delete_all(PmLanServer *self, guint32 source, guint8 protocol)
{
	gboolean removed = FALSE;

	/* the client (and its array) may go with its last mapping, and unmap() runs between
	 * removals: look it up again each time */
	for (;;) {
		Client *client = server_lookup_client(self, source);
		PmLanMapping *victim = NULL;

		if (client == NULL)
			break;
		for (guint i = 0; i < client->mappings->len; i++) {
			PmLanMapping *m = g_ptr_array_index(client->mappings, i);
			if (m->protocol == protocol) {
				victim = m;
				break;
			}
		}
		if (victim == NULL)
			break;
		server_drop_mapping(self, victim, TRUE);
		removed = TRUE;
	}
	if (removed)
		server_changed(self);
}

static void
server_handle_map(PmLanServer *self, guint32 local, guint32 source, guint16 source_port,
		  const PmNatpmpRequest *req)
{
	guint8 protocol = req->opcode == PM_NATPMP_OP_MAP_UDP ? PM_PROTOCOL_UDP : PM_PROTOCOL_TCP;
	PmLanMapping *mapping;
	Client *client;

	if (req->lifetime == 0) {
		/* RFC 6886 §3.4: a deletion (the suggested port is ignored); deleting what
		 * does not exist succeeds the same way, since the first ack may be lost */
		if (req->internal_port == 0) {
			server_delete_all(self, source, protocol);
		} else {
			mapping = pm_lan_server_lookup(self, source, protocol, req->internal_port);
			if (mapping != NULL) {
				server_drop_mapping(self, mapping, TRUE);
				server_changed(self);
			}
		}
		answer_map(self, local, source, source_port, req->opcode,
			   PM_NATPMP_RESULT_SUCCESS, req->internal_port, 0, 0);
		return;
	}
	if (req->internal_port == 0) {
		/* port 0 is no port to map (a mapping "of everything" is not NAT-PMP's) */
		answer_map(self, local, source, source_port, req->opcode,
			   PM_NATPMP_RESULT_REFUSED, 0, 0, 0);
		return;
	}

	mapping = pm_lan_server_lookup(self, source, protocol, req->internal_port);
	if (mapping != NULL && mapping->state == PM_LAN_MAPPING_ACTIVE) {
		/* §3.3: the same mapping again (a renewal, or a lost ack) gets its E */
		mapping_renew(self, mapping, local, source_port, req->lifetime);
		return;
	}
	if (mapping != NULL) {
		/* a retransmission while the backend works: the answer goes to the latest */
		mapping->local_address = local;
		mapping->reply_port = source_port;
		mapping->requested_lifetime = req->lifetime;
		return;
	}

	client = server_lookup_client(self, source);
	if (client != NULL && client->mappings->len >= self->config.max_mappings_per_client) {
		answer_map(self, local, source, source_port, req->opcode,
			   PM_NATPMP_RESULT_OUT_OF_RESOURCES, req->internal_port, 0, 0);
		return;
	}
	mapping = server_add_mapping(self, source, protocol, req->internal_port);
	mapping->local_address = local;
	mapping->reply_port = source_port;
	mapping->requested_lifetime = req->lifetime;
	server_changed(self);
	/* may call pm_lan_server_map_done() from inside, which may free the mapping: it is
	 * not touched after this */
	self->backend.map(self, mapping, req->suggested_external_port, self->user_data);
}

/* RFC 6886 §3.5: the request itself, opcode | 128, result 5 and the epoch, at least the
 * 8 bytes of the common header */
static void
server_answer_bad_opcode(PmLanServer *self, guint32 local, guint32 source, guint16 source_port,
			 const guint8 *buf, gsize len)
{
	guint8 out[PM_NATPMP_MAX_PACKET_SIZE];
	gsize out_len = MIN(len, sizeof(out));

	memcpy(out, buf, out_len);
	if (out_len < PM_NATPMP_ERROR_RESPONSE_SIZE) {
		memset(out + out_len, 0, PM_NATPMP_ERROR_RESPONSE_SIZE - out_len);
		out_len = PM_NATPMP_ERROR_RESPONSE_SIZE;
	}
	out[1] |= PM_NATPMP_OP_RESPONSE;
	write_u16(out + 2, PM_NATPMP_RESULT_UNSUPPORTED_OPCODE);
	write_u32(out + 4, pm_lan_server_get_epoch(self));
	server_answer(self, local, source, source_port, out, out_len);
}

void
pm_lan_server_receive(PmLanServer *self, guint32 local, guint32 source, guint16 source_port,
		      const guint8 *buf, gsize len)
{
	PmNatpmpRequest req;
	guint8 out[PM_NATPMP_MAP_RESPONSE_SIZE];

	g_return_if_fail(self != NULL);
	g_return_if_fail(buf != NULL || len == 0);

	self->stats.received++;
	/* RFC 6886 §3.3: only the LAN; then the per-client limit, before any work */
	if (!server_is_allowed(self, source)) {
		self->stats.ignored_not_allowed++;
		return;
	}
	if (!server_rate_allow(self, source, pm_scheduler_now(self->scheduler))) {
		self->stats.dropped_rate_limit++;
		return;
	}

	switch (pm_natpmp_classify_request(buf, len, &req)) {
	case PM_NATPMP_REQUEST_TOO_SHORT:
	case PM_NATPMP_REQUEST_RESPONSE:
		self->stats.ignored_malformed++;
		return;
	case PM_NATPMP_REQUEST_BAD_VERSION:
		/* RFC 6886 §3.5 as errata 3618 corrects it: version 0, opcode 128, whatever
		 * the request's opcode meant in its version; PCP-first clients fall back */
		out[0] = PM_NATPMP_VERSION;
		out[1] = PM_NATPMP_OP_RESPONSE;
		write_u16(out + 2, PM_NATPMP_RESULT_UNSUPPORTED_VERSION);
		write_u32(out + 4, pm_lan_server_get_epoch(self));
		server_answer(self, local, source, source_port, out,
			      PM_NATPMP_ERROR_RESPONSE_SIZE);
		return;
	case PM_NATPMP_REQUEST_BAD_OPCODE:
		server_answer_bad_opcode(self, local, source, source_port, buf, len);
		return;
	case PM_NATPMP_REQUEST_OK:
		break;
	}

	if (req.opcode == PM_NATPMP_OP_PUBLIC_ADDRESS) {
		gsize out_len = encode_public_address(self, out);
		server_answer(self, local, source, source_port, out, out_len);
		return;
	}
	server_handle_map(self, local, source, source_port, &req);
}

void
pm_lan_server_map_done(PmLanServer *self, PmLanMapping *mapping, guint16 result,
		       guint16 external_port, guint64 upstream_expires)
{
	guint64 now;
	guint32 granted;

	g_return_if_fail(self != NULL);
	g_return_if_fail(mapping != NULL);
	g_return_if_fail(mapping->server == self);
	g_return_if_fail(mapping->state == PM_LAN_MAPPING_PENDING);

	if (result != PM_NATPMP_RESULT_SUCCESS || external_port == 0) {
		/* 0 is no port: an upstream that granted "nothing" failed */
		if (result == PM_NATPMP_RESULT_SUCCESS)
			result = PM_NATPMP_RESULT_NETWORK_FAILURE;
		answer_map(self, mapping->local_address, mapping->client, mapping->reply_port,
			   protocol_opcode(mapping->protocol), result, mapping->internal_port, 0,
			   0);
		server_drop_mapping(self, mapping, FALSE);
		server_changed(self);
		return;
	}

	now = pm_scheduler_now(self->scheduler);
	mapping->state = PM_LAN_MAPPING_ACTIVE;
	mapping->external_port = external_port;
	mapping->upstream_expires = upstream_expires;
	granted = mapping_granted_lifetime(self, mapping, mapping->requested_lifetime, now);
	mapping_arm_lease(self, mapping, now + (guint64)granted * USEC_PER_SEC);
	answer_map(self, mapping->local_address, mapping->client, mapping->reply_port,
		   protocol_opcode(mapping->protocol), PM_NATPMP_RESULT_SUCCESS,
		   mapping->internal_port, external_port, granted);
	server_changed(self);
}

void
pm_lan_server_mapping_update(PmLanServer *self, PmLanMapping *mapping, guint16 external_port,
			     guint64 upstream_expires)
{
	gboolean port_changed;

	g_return_if_fail(self != NULL);
	g_return_if_fail(mapping != NULL);
	g_return_if_fail(mapping->server == self);
	g_return_if_fail(external_port != 0);

	port_changed = mapping->external_port != external_port;
	mapping->external_port = external_port;
	mapping->upstream_expires = upstream_expires;
	/* a new upstream lease end is the backend's own state, not the table's */
	if (port_changed)
		server_changed(self);
}

void
pm_lan_server_remove_mapping(PmLanServer *self, PmLanMapping *mapping)
{
	g_return_if_fail(self != NULL);
	g_return_if_fail(mapping != NULL);
	g_return_if_fail(mapping->server == self);

	server_drop_mapping(self, mapping, TRUE);
	server_changed(self);
}

PmLanMapping *
pm_lan_server_restore_mapping(PmLanServer *self, guint32 client, guint8 protocol,
			      guint16 internal_port, guint16 external_port, guint64 expires)
{
	PmLanMapping *mapping;

	g_return_val_if_fail(self != NULL, NULL);
	g_return_val_if_fail(protocol == PM_PROTOCOL_TCP || protocol == PM_PROTOCOL_UDP, NULL);
	g_return_val_if_fail(internal_port != 0, NULL);
	g_return_val_if_fail(external_port != 0, NULL);
	g_return_val_if_fail(pm_lan_server_lookup(self, client, protocol, internal_port) == NULL,
			     NULL);

	mapping = server_add_mapping(self, client, protocol, internal_port);
	mapping->state = PM_LAN_MAPPING_ACTIVE;
	mapping->external_port = external_port;
	/* a lease that ended while portmapd was down expires on the next dispatch */
	mapping_arm_lease(self, mapping, expires);
	server_changed(self);
	return mapping;
}

static void
server_send_announcement(PmLanServer *self)
{
	guint8 buf[PM_NATPMP_PUBLIC_ADDRESS_RESPONSE_SIZE];
	gsize len = encode_public_address(self, buf);

	for (guint i = 0; i < self->config.n_listen; i++)
		server_send(self, self->listen[i], ANNOUNCE_ADDRESS, PM_NATPMP_CLIENT_PORT, buf,
			    len);
}

static void
announce_cb(PmTimer *timer, gpointer user_data)
{
	PmLanServer *self = user_data;

	/* built anew each time: every copy carries the current epoch (§3.2.1) */
	server_send_announcement(self);
	if (++self->announce_sent >= ANNOUNCE_COUNT)
		return;
	pm_scheduler_arm(self->scheduler, &self->announce_timer,
			 pm_scheduler_now(self->scheduler) + self->announce_gap);
	self->announce_gap *= 2;
}

void
pm_lan_server_announce(PmLanServer *self)
{
	g_return_if_fail(self != NULL);

	self->announce_sent = 0;
	self->announce_gap = ANNOUNCE_FIRST_GAP;
	pm_scheduler_disarm(self->scheduler, &self->announce_timer);
	announce_cb(&self->announce_timer, self);
}

void
pm_lan_server_set_public_address(PmLanServer *self, guint32 address)
{
	g_return_if_fail(self != NULL);

	self->public_address = address;
	if (address == 0 || address == self->announced_address)
		return;
	self->announced_address = address;
	pm_lan_server_announce(self);
}

PmLanServer *
pm_lan_server_new(PmScheduler *scheduler, const PmLanServerConfig *config,
		  const PmLanServerBackend *backend, gpointer user_data, guint64 epoch_origin)
{
	PmLanServer *self;

	g_return_val_if_fail(scheduler != NULL, NULL);
	g_return_val_if_fail(config != NULL, NULL);
	g_return_val_if_fail(config->n_listen == 0 || config->listen != NULL, NULL);
	g_return_val_if_fail(config->n_allowed == 0 || config->allowed != NULL, NULL);
	g_return_val_if_fail(config->min_lifetime <= config->max_lifetime, NULL);
	g_return_val_if_fail(backend != NULL, NULL);
	g_return_val_if_fail(backend->map != NULL && backend->unmap != NULL &&
			     backend->send != NULL, NULL);

	self = g_new0(PmLanServer, 1);
	self->scheduler = scheduler;
	self->config = *config;
	self->listen = g_memdup2(config->listen, sizeof(guint32) * config->n_listen);
	self->allowed = g_memdup2(config->allowed, sizeof(PmIpv4Network) * config->n_allowed);
	self->config.listen = self->listen;
	self->config.allowed = self->allowed;
	self->backend = *backend;
	self->user_data = user_data;
	self->epoch_origin = epoch_origin != 0 ? epoch_origin : pm_scheduler_now(scheduler);
	self->mappings = g_hash_table_new(mapping_hash, mapping_equal);
	self->clients = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL, client_free);
	/* RateLimit=0: no limit */
	if (config->rate_limit > 0) {
		self->rate = g_new0(RateCell, RATE_SETS * RATE_WAYS);
		self->rate_interval = MAX(USEC_PER_SEC / config->rate_limit, 1);
		self->rate_tolerance = self->rate_interval * (2 * (guint64)config->rate_limit - 1);
		self->rate_seed = pm_scheduler_random_range(scheduler, 0, G_MAXUINT32);
	}
	pm_timer_init(&self->announce_timer, announce_cb, self);
	return self;
}

void
pm_lan_server_free(PmLanServer *self)
{
	GHashTableIter iter;
	gpointer key;

	if (self == NULL)
		return;
	pm_scheduler_disarm(self->scheduler, &self->announce_timer);
	g_hash_table_iter_init(&iter, self->mappings);
	while (g_hash_table_iter_next(&iter, &key, NULL)) {
		PmLanMapping *mapping = key;

		pm_scheduler_disarm(self->scheduler, &mapping->expiry_timer);
		g_hash_table_iter_remove(&iter);
		g_free(mapping);
	}
	g_hash_table_unref(self->mappings);
	g_hash_table_unref(self->clients);
	g_free(self->rate);
	g_free(self->listen);
	g_free(self->allowed);
	g_free(self);
}

PmLanMapping *
pm_lan_server_lookup(PmLanServer *self, guint32 client, guint8 protocol, guint16 internal_port)
{
	PmLanMapping probe;

	g_return_val_if_fail(self != NULL, NULL);

	probe.client = client;
	probe.protocol = protocol;
	probe.internal_port = internal_port;
	return g_hash_table_lookup(self->mappings, &probe);
}

guint
pm_lan_server_get_n_mappings(PmLanServer *self)
{
	g_return_val_if_fail(self != NULL, 0);
	return g_hash_table_size(self->mappings);
}

GPtrArray *
pm_lan_server_get_mappings(PmLanServer *self)
{
	GPtrArray *out;
	GHashTableIter iter;
	gpointer key;

	g_return_val_if_fail(self != NULL, NULL);

	out = g_ptr_array_sized_new(g_hash_table_size(self->mappings));
	g_hash_table_iter_init(&iter, self->mappings);
	while (g_hash_table_iter_next(&iter, &key, NULL))
		g_ptr_array_add(out, key);
	return out;
}

void
pm_lan_server_get_stats(PmLanServer *self, PmLanServerStats *out)
{
	g_return_if_fail(self != NULL);
	g_return_if_fail(out != NULL);
	*out = self->stats;
}
