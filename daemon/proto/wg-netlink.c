/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "wg-netlink.h"

#include <arpa/inet.h>
#include <gio/gio.h>
#include <linux/genetlink.h>
#include <linux/netlink.h>
#include <linux/wireguard.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "netlink.h"

/* the generic netlink controller's version wg(8) and libmnl send */
#define CTRL_VERSION 1

/* a message written into a caller's buffer; nothing is written past its end */
typedef struct {
	guint8 *buf;
	gsize size;
	gsize len;
	gboolean overflow;
} Writer;

static void
put(Writer *w, const void *data, gsize n)
{
	if (w->overflow || n > w->size - w->len) {
		w->overflow = TRUE;
		return;
	}
	memcpy(w->buf + w->len, data, n);
	w->len += n;
}

static void
put_padding(Writer *w, gsize n)
{
	static const guint8 zero[NLA_ALIGNTO] = {0};
	put(w, zero, n);
}

/* an attribute's header with its length left for attr_end(): its offset */
static gsize
attr_begin(Writer *w, guint16 type)
{
	struct nlattr attr = {.nla_len = 0, .nla_type = type};
	gsize at = w->len;

	put(w, &attr, sizeof(attr));
	return at;
}

/* the length counts the header and the payload (a nest's: its attributes with their
 * padding), not the attribute's own padding */
static void
attr_end(Writer *w, gsize at)
{
	guint16 len;

	if (w->overflow)
		return;
	len = (guint16)(w->len - at);
	memcpy(w->buf + at + G_STRUCT_OFFSET(struct nlattr, nla_len), &len, sizeof(len));
	put_padding(w, NLA_ALIGN(len) - len);
}

static void
put_attr(Writer *w, guint16 type, const void *data, gsize n)
{
	gsize at = attr_begin(w, type);
	put(w, data, n);
	attr_end(w, at);
}

static void
put_headers(Writer *w, guint16 type, guint16 flags, guint32 seq, guint8 cmd, guint8 version)
{
	/* the length is set by finish(); the kernel fills in our port id */
	struct nlmsghdr hdr = {
	    .nlmsg_type = type,
	    .nlmsg_flags = flags,
	    .nlmsg_seq = seq,
	};
	struct genlmsghdr genl = {.cmd = cmd, .version = version};

	put(w, &hdr, sizeof(hdr));
	put(w, &genl, sizeof(genl));
}

static gsize
finish(Writer *w)
{
	guint32 len;

	if (w->overflow)
		return 0;
	len = (guint32)w->len;
	memcpy(w->buf + G_STRUCT_OFFSET(struct nlmsghdr, nlmsg_len), &len, sizeof(len));
	return w->len;
}

gsize
pm_wg_nl_build_get_family(guint8 *buf, gsize size, guint32 seq)
{
	Writer w = {buf, size, 0, FALSE};

	put_headers(&w, GENL_ID_CTRL, NLM_F_REQUEST | NLM_F_ACK, seq, CTRL_CMD_GETFAMILY,
		    CTRL_VERSION);
	put_attr(&w, CTRL_ATTR_FAMILY_NAME, WG_GENL_NAME, sizeof(WG_GENL_NAME));
	return finish(&w);
}

gsize
pm_wg_nl_build_get_device(guint8 *buf, gsize size, guint32 seq, guint16 family_id,
			  const char *ifname)
{
	Writer w = {buf, size, 0, FALSE};

	if (!pm_wg_ifname_is_valid(ifname))
		return 0;
	/* the kernel answers a GET without NLM_F_DUMP with EOPNOTSUPP */
	put_headers(&w, family_id, NLM_F_REQUEST | NLM_F_ACK | NLM_F_DUMP, seq,
		    WG_CMD_GET_DEVICE, WG_GENL_VERSION);
	put_attr(&w, WGDEVICE_A_IFNAME, ifname, strlen(ifname) + 1);
	return finish(&w);
}

gsize
pm_wg_nl_build_set_endpoint(guint8 *buf, gsize size, guint32 seq, guint16 family_id,
			    const char *ifname, const guint8 *public_key,
			    const PmWgEndpoint *endpoint)
{
	Writer w = {buf, size, 0, FALSE};
	guint32 flags = WGPEER_F_UPDATE_ONLY;
	gsize peers;
	gsize peer;

	if (!pm_wg_ifname_is_valid(ifname))
		return 0;
	g_return_val_if_fail(endpoint->family == AF_INET || endpoint->family == AF_INET6, 0);
	put_headers(&w, family_id, NLM_F_REQUEST | NLM_F_ACK, seq, WG_CMD_SET_DEVICE,
		    WG_GENL_VERSION);
	put_attr(&w, WGDEVICE_A_IFNAME, ifname, strlen(ifname) + 1);
	peers = attr_begin(&w, WGDEVICE_A_PEERS | NLA_F_NESTED);
	peer = attr_begin(&w, 0 | NLA_F_NESTED);
	put_attr(&w, WGPEER_A_PUBLIC_KEY, public_key, PM_WG_KEY_LEN);
	put_attr(&w, WGPEER_A_FLAGS, &flags, sizeof(flags));
	/* the exact size of the family's sockaddr: the kernel ignores any other, silently */
	if (endpoint->family == AF_INET) {
		struct sockaddr_in sin = {0};
		sin.sin_family = AF_INET;
		sin.sin_port = htons(endpoint->port);
		memcpy(&sin.sin_addr, endpoint->address, 4);
		put_attr(&w, WGPEER_A_ENDPOINT, &sin, sizeof(sin));
	} else {
		struct sockaddr_in6 sin6 = {0};
		sin6.sin6_family = AF_INET6;
		sin6.sin6_port = htons(endpoint->port);
		memcpy(&sin6.sin6_addr, endpoint->address, 16);
		put_attr(&w, WGPEER_A_ENDPOINT, &sin6, sizeof(sin6));
	}
	attr_end(&w, peer);
	attr_end(&w, peers);
	return finish(&w);
}

static gboolean
malformed(GError **error, const char *what)
{
	g_set_error(error, PM_WG_CODEC_ERROR, PM_WG_CODEC_ERROR_MALFORMED,
		    "malformed netlink answer: %s", what);
	return FALSE;
}

/* pm_netlink_next_message() with its errors in this codec's domain */
static gboolean
next_message(const guint8 *buf, gsize len, gsize *offset, struct nlmsghdr *hdr,
	     const guint8 **payload, gsize *payload_len, gboolean *malformed_out,
	     GError **error)
{
	g_autoptr(GError) local = NULL;

	if (pm_netlink_next_message(buf, len, offset, hdr, payload, payload_len, &local))
		return TRUE;
	if (local != NULL) {
		*malformed_out = TRUE;
		malformed(error, local->message);
	}
	return FALSE;
}

static gboolean
error_code(const guint8 *payload, gsize payload_len, int *errnum, GError **error)
{
	g_autoptr(GError) local = NULL;

	if (!pm_netlink_error_code(payload, payload_len, errnum, &local))
		return malformed(error, local->message);
	return TRUE;
}

typedef struct {
	const guint8 *data;
	gsize len;
	gsize offset;
} AttrIter;

typedef enum {
	ATTR_END,
	ATTR_NEXT,
	ATTR_MALFORMED,
} AttrStep;

static AttrStep
attr_next(AttrIter *it, guint16 *type, const guint8 **payload, gsize *payload_len)
{
	struct nlattr attr;
	gsize left = it->len - it->offset;

	if (left == 0)
		return ATTR_END;
	if (left < NLA_HDRLEN)
		return ATTR_MALFORMED;
	memcpy(&attr, it->data + it->offset, sizeof(attr));
	if (attr.nla_len < NLA_HDRLEN || attr.nla_len > left)
		return ATTR_MALFORMED;
	*type = attr.nla_type & NLA_TYPE_MASK;
	*payload = it->data + it->offset + NLA_HDRLEN;
	*payload_len = attr.nla_len - NLA_HDRLEN;
	it->offset += MIN((gsize)NLA_ALIGN(attr.nla_len), left);
	return ATTR_NEXT;
}

/* a generic netlink message's attributes, after its genlmsghdr */
static gboolean
genl_attrs(const guint8 *payload, gsize payload_len, guint8 *cmd, AttrIter *it)
{
	struct genlmsghdr genl;

	if (payload_len < GENL_HDRLEN)
		return FALSE;
	memcpy(&genl, payload, sizeof(genl));
	*cmd = genl.cmd;
	*it = (AttrIter){payload + GENL_HDRLEN, payload_len - GENL_HDRLEN, 0};
	return TRUE;
}

static gboolean
parse_family_message(const guint8 *payload, gsize payload_len, guint16 *family_id,
		     GError **error)
{
	AttrIter it;
	guint8 cmd;
	guint16 type;
	const guint8 *value;
	gsize value_len;
	guint16 id = 0;
	AttrStep step;

	if (!genl_attrs(payload, payload_len, &cmd, &it) || cmd != CTRL_CMD_NEWFAMILY)
		return malformed(error, "not a generic netlink family");
	while ((step = attr_next(&it, &type, &value, &value_len)) == ATTR_NEXT) {
		if (type == CTRL_ATTR_FAMILY_ID) {
			if (value_len < sizeof(id))
				return malformed(error, "a truncated family id");
			memcpy(&id, value, sizeof(id));
		} else if (type == CTRL_ATTR_FAMILY_NAME) {
			if (value_len != sizeof(WG_GENL_NAME) ||
			    memcmp(value, WG_GENL_NAME, sizeof(WG_GENL_NAME)) != 0)
				return malformed(error, "another family's name");
		}
	}
	if (step == ATTR_MALFORMED)
		return malformed(error, "a truncated attribute");
	if (id == 0)
		return malformed(error, "a family without an id");
	*family_id = id;
	return TRUE;
}

gboolean
pm_wg_nl_parse_family(const guint8 *buf, gsize len, guint32 seq, guint16 *family_id,
		      PmWgNlStatus *status, GError **error)
{
	gsize offset = 0;
	struct nlmsghdr hdr;
	const guint8 *payload;
	gsize payload_len;
	gboolean bad = FALSE;

	while (!status->done &&
	       next_message(buf, len, &offset, &hdr, &payload, &payload_len, &bad, error)) {
		if (hdr.nlmsg_seq != seq)
			continue;
		if (hdr.nlmsg_type == NLMSG_ERROR) {
			if (!error_code(payload, payload_len, &status->errnum, error))
				return FALSE;
			if (status->errnum == 0 && *family_id == 0)
				return malformed(error, "an acknowledgement without a family");
			status->done = TRUE;
		} else if (hdr.nlmsg_type == GENL_ID_CTRL) {
			if (!parse_family_message(payload, payload_len, family_id, error))
				return FALSE;
		} else if (hdr.nlmsg_type == NLMSG_OVERRUN) {
			return malformed(error, "an overrun");
		}
	}
	return !bad;
}

typedef struct {
	guint8 key[PM_WG_KEY_LEN];
	char *endpoint;
	gboolean continued; /* the same peer as the one before it: more of its allowed IPs */
} DumpPeer;

static void
dump_peer_free(gpointer data)
{
	DumpPeer *peer = data;
	g_free(peer->endpoint);
	g_free(peer);
}

/* what the kernel puts in WGPEER_A_ENDPOINT: a sockaddr_in or sockaddr_in6, exactly */
static gboolean
endpoint_from_sockaddr(const guint8 *value, gsize len, char **out)
{
	sa_family_t family;
	PmWgEndpoint ep = {0};

	if (len < sizeof(family))
		return FALSE;
	memcpy(&family, value, sizeof(family));
	if (family == AF_INET && len == sizeof(struct sockaddr_in)) {
		struct sockaddr_in sin;
		memcpy(&sin, value, sizeof(sin));
		ep.family = AF_INET;
		ep.port = ntohs(sin.sin_port);
		memcpy(ep.address, &sin.sin_addr, 4);
	} else if (family == AF_INET6 && len == sizeof(struct sockaddr_in6)) {
		struct sockaddr_in6 sin6;
		memcpy(&sin6, value, sizeof(sin6));
		ep.family = AF_INET6;
		ep.port = ntohs(sin6.sin6_port);
		memcpy(ep.address, &sin6.sin6_addr, 16);
		/* a link-local peer: kept with its scope, which no endpoint portmapd writes
		 * matches */
		if (sin6.sin6_scope_id != 0) {
			char host[INET6_ADDRSTRLEN];
			inet_ntop(AF_INET6, ep.address, host, sizeof(host));
			*out = g_strdup_printf("[%s%%%u]:%u", host, sin6.sin6_scope_id, ep.port);
			return TRUE;
		}
	} else {
		return FALSE;
	}
	*out = pm_wg_endpoint_to_string(&ep);
	return TRUE;
}

static gboolean
parse_peer(const guint8 *data, gsize len, GPtrArray *peers, GError **error)
{
	AttrIter it = {data, len, 0};
	DumpPeer *peer = g_new0(DumpPeer, 1);
	gboolean has_key = FALSE;
	guint16 type;
	const guint8 *value;
	gsize value_len;
	AttrStep step;

	/* owned by @peers from here, so that every return frees it */
	g_ptr_array_add(peers, peer);
	while ((step = attr_next(&it, &type, &value, &value_len)) == ATTR_NEXT) {
		if (type == WGPEER_A_PUBLIC_KEY) {
			if (value_len != PM_WG_KEY_LEN)
				return malformed(error, "a public key of the wrong size");
			memcpy(peer->key, value, PM_WG_KEY_LEN);
			has_key = TRUE;
		} else if (type == WGPEER_A_ENDPOINT) {
			g_clear_pointer(&peer->endpoint, g_free);
			if (!endpoint_from_sockaddr(value, value_len, &peer->endpoint))
				return malformed(error, "an endpoint that is no sockaddr_in(6)");
		}
		/* the preshared key and the rest: skipped, never copied */
	}
	if (step == ATTR_MALFORMED)
		return malformed(error, "a truncated peer attribute");
	if (!has_key)
		return malformed(error, "a peer without a public key");
	return TRUE;
}

static gboolean
parse_device_message(const guint8 *payload, gsize payload_len, GPtrArray *peers,
		     GError **error)
{
	AttrIter it;
	guint8 cmd;
	guint16 type;
	const guint8 *value;
	gsize value_len;
	AttrStep step;

	if (!genl_attrs(payload, payload_len, &cmd, &it) || cmd != WG_CMD_GET_DEVICE)
		return malformed(error, "not a WireGuard device");
	/* WGDEVICE_A_PRIVATE_KEY among the rest: skipped, never copied */
	while ((step = attr_next(&it, &type, &value, &value_len)) == ATTR_NEXT) {
		AttrIter list;
		guint16 peer_type;
		const guint8 *peer_value;
		gsize peer_len;
		AttrStep peer_step;

		if (type != WGDEVICE_A_PEERS)
			continue;
		list = (AttrIter){value, value_len, 0};
		while ((peer_step = attr_next(&list, &peer_type, &peer_value, &peer_len)) ==
		       ATTR_NEXT) {
			if (!parse_peer(peer_value, peer_len, peers, error))
				return FALSE;
		}
		if (peer_step == ATTR_MALFORMED)
			return malformed(error, "a truncated peer");
	}
	if (step == ATTR_MALFORMED)
		return malformed(error, "a truncated device attribute");
	return TRUE;
}

/* @peers onto @device, all or none: the first peer of a message that is the last one of
 * the device (or of the message before) continues it; a key seen anywhere else is a
 * malformed dump */
static gboolean
add_peers(PmWgDevice *device, GPtrArray *peers, GError **error)
{
	g_autoptr(GHashTable) seen = g_hash_table_new(g_bytes_hash, g_bytes_equal);
	g_autoptr(GPtrArray) keys = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
	guint n = pm_wg_device_get_n_peers(device);
	const guint8 *last = n > 0 ? pm_wg_device_get_peer(device, n - 1)->public_key : NULL;
	guint added = 0;

	for (guint i = 0; i < peers->len; i++) {
		DumpPeer *peer = g_ptr_array_index(peers, i);
		GBytes *key;

		if (last != NULL && memcmp(last, peer->key, PM_WG_KEY_LEN) == 0) {
			peer->continued = TRUE;
			continue;
		}
		key = g_bytes_new(peer->key, PM_WG_KEY_LEN);
		g_ptr_array_add(keys, key);
		if (pm_wg_device_find_peer(device, peer->key) != NULL ||
		    !g_hash_table_add(seen, key))
			return malformed(error, "a peer listed twice");
		last = peer->key;
		added++;
	}
	if (n + added > PM_WG_MAX_PEERS) {
		g_set_error_literal(error, PM_WG_CODEC_ERROR, PM_WG_CODEC_ERROR_TOO_LARGE,
				    "too many peers");
		return FALSE;
	}
	for (guint i = 0; i < peers->len; i++) {
		DumpPeer *peer = g_ptr_array_index(peers, i);
		PmWgPeer *target;

		if (peer->continued) {
			n = pm_wg_device_get_n_peers(device);
			target = pm_wg_device_get_peer(device, n - 1);
			/* only a peer's first part has its endpoint */
			if (target->endpoint != NULL)
				continue;
		} else {
			target = pm_wg_device_add_peer(device, peer->key);
		}
		target->endpoint = g_steal_pointer(&peer->endpoint);
	}
	return TRUE;
}

gboolean
pm_wg_nl_parse_device(const guint8 *buf, gsize len, guint32 seq, guint16 family_id,
		      PmWgDevice *device, PmWgNlStatus *status, GError **error)
{
	g_autoptr(GPtrArray) peers = g_ptr_array_new_with_free_func(dump_peer_free);
	gsize offset = 0;
	struct nlmsghdr hdr;
	const guint8 *payload;
	gsize payload_len;
	gboolean bad = FALSE;
	PmWgNlStatus next = *status;

	while (!next.done &&
	       next_message(buf, len, &offset, &hdr, &payload, &payload_len, &bad, error)) {
		if (hdr.nlmsg_seq != seq)
			continue;
		if (hdr.nlmsg_type == NLMSG_ERROR) {
			/* the dump could not start (ENODEV, EOPNOTSUPP, EPERM) */
			if (!error_code(payload, payload_len, &next.errnum, error))
				return FALSE;
			next.done = TRUE;
		} else if (hdr.nlmsg_type == NLMSG_DONE) {
			gint32 code;
			if (payload_len < sizeof(code))
				return malformed(error, "a truncated NLMSG_DONE");
			memcpy(&code, payload, sizeof(code));
			if (code > 0 || code < -4095)
				return malformed(error, "an NLMSG_DONE without an errno");
			next.errnum = -code;
			next.done = TRUE;
		} else if (hdr.nlmsg_type == family_id) {
			if (hdr.nlmsg_flags & NLM_F_DUMP_INTR) {
				g_set_error_literal(error, PM_WG_CODEC_ERROR,
						    PM_WG_CODEC_ERROR_MALFORMED,
						    "the device changed while it was read");
				return FALSE;
			}
			if (!parse_device_message(payload, payload_len, peers, error))
				return FALSE;
		} else if (hdr.nlmsg_type != NLMSG_NOOP) {
			return malformed(error, "a message of another kind");
		}
	}
	if (bad || !add_peers(device, peers, error))
		return FALSE;
	*status = next;
	return TRUE;
}

gboolean
pm_wg_nl_parse_ack(const guint8 *buf, gsize len, guint32 seq, PmWgNlStatus *status,
		   GError **error)
{
	gsize offset = 0;
	struct nlmsghdr hdr;
	const guint8 *payload;
	gsize payload_len;
	gboolean bad = FALSE;

	while (!status->done &&
	       next_message(buf, len, &offset, &hdr, &payload, &payload_len, &bad, error)) {
		if (hdr.nlmsg_seq != seq || hdr.nlmsg_type != NLMSG_ERROR)
			continue;
		if (!error_code(payload, payload_len, &status->errnum, error))
			return FALSE;
		status->done = TRUE;
	}
	return !bad;
}
