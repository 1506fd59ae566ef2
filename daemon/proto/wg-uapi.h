/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <glib.h>

/*
 * WireGuard's cross-platform userspace API (wireguard.com/xplatform; wireguard-go's
 * device/uapi.go, boringtun's device/api.rs): the text spoken on
 * /var/run/wireguard/IFACE.sock, and the peer keys, endpoints and peer lists that the
 * kernel's generic netlink codec (wg-netlink.h) shares. Pure: no I/O, safe on any input
 * (fuzzed).
 *
 * The protocol: a request is "get=1\n\n", or "set=1\n" then key=value lines then a blank
 * line; the answer ends with "errno=N\n\n" (wireguard-go writes N as a negative errno,
 * boringtun as a positive one: either is read as its absolute value). Keys are lowercase
 * hex. wireguard-go stops reading a set at its first bad line and then takes the rest of
 * the transaction for commands, so it closes the connection: one connection per
 * transaction.
 *
 * Secrets: a get=1 reply starts with the interface's private key (wireguard-go, and
 * boringtun before 0.6), and every peer has a preshared_key line. The parser never copies
 * their values anywhere but its line buffer, which it wipes line by line; the caller
 * wipes the buffers it read into. No error message quotes a reply's text.
 */

#define PM_WG_KEY_LEN 32
#define PM_WG_KEY_BASE64_LEN 44
#define PM_WG_KEY_HEX_LEN 64
/* "[ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255]:65535" */
#define PM_WG_ENDPOINT_MAX_LEN 53
/* IFNAMSIZ - 1 */
#define PM_WG_IFNAME_MAX_LEN 15
/* wireguard-go's MaxPeers */
#define PM_WG_MAX_PEERS 65536
/* a get reply's lines are short (a few hundred bytes per peer); these bound a peer that
 * talks forever */
#define PM_WG_UAPI_MAX_LINE 1024
#define PM_WG_UAPI_MAX_REPLY (64 * 1024 * 1024)

#define PM_WG_UAPI_GET_REQUEST "get=1\n\n"

#define PM_WG_CODEC_ERROR (pm_wg_codec_error_quark())
typedef enum {
	PM_WG_CODEC_ERROR_BAD_KEY,	/* not 44 characters of base64, or 64 hex digits */
	PM_WG_CODEC_ERROR_BAD_ENDPOINT, /* not a.b.c.d:port or [IPv6]:port */
	PM_WG_CODEC_ERROR_MALFORMED,	/* a reply that is not the protocol's */
	PM_WG_CODEC_ERROR_TOO_LARGE,	/* a line, a reply or a peer list beyond the limits */
} PmWgCodecError;
GQuark pm_wg_codec_error_quark(void);

/* a peer's endpoint as portmapd writes it: an IPv4 or IPv6 address and a port */
typedef struct {
	int family; /* AF_INET or AF_INET6 */
	guint16 port;
	guint8 address[16]; /* network byte order; IPv4 in the first 4 */
} PmWgEndpoint;

typedef struct {
	guint8 public_key[PM_WG_KEY_LEN];
	/* as the implementation gave it ("198.51.100.7:51820", "[2001:db8::1]:51820", a
	 * link-local "[fe80::1%eth0]:51820"): printable ASCII; NULL for none */
	char *endpoint;
} PmWgPeer;

/* one interface's peers, from a get=1 reply or a WG_CMD_GET_DEVICE dump */
typedef struct _PmWgDevice PmWgDevice;

PmWgDevice *pm_wg_device_new(void);
void pm_wg_device_free(PmWgDevice *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PmWgDevice, pm_wg_device_free)
guint pm_wg_device_get_n_peers(const PmWgDevice *self);
/* in the implementation's order */
PmWgPeer *pm_wg_device_get_peer(const PmWgDevice *self, guint index);
PmWgPeer *pm_wg_device_find_peer(const PmWgDevice *self, const guint8 *public_key);
/* a new peer with no endpoint at the end, or NULL if @public_key is there already or
 * the list is full (PM_WG_MAX_PEERS) */
PmWgPeer *pm_wg_device_add_peer(PmWgDevice *self, const guint8 *public_key);
/* the get reply had "own_public_key=": boringtun 0.6 and later, which refuses every set
 * with update_only= (its api.rs knows no such key: errno=22) */
gboolean pm_wg_device_get_has_own_public_key(const PmWgDevice *self);
void pm_wg_device_set_has_own_public_key(PmWgDevice *self, gboolean value);

/* a public key as wg(8) and control planes write it: 44 characters of standard base64
 * ending in '=', the two unused bits zero (any other spelling of the key is refused) */
gboolean pm_wg_key_from_base64(const char *text, guint8 *key, GError **error);
char *pm_wg_key_to_base64(const guint8 *key);
/* 64 hex digits (the UAPI's form; either case is read) */
gboolean pm_wg_key_from_hex(const char *text, guint8 *key, GError **error);
/* lowercase into @hex, which has room for PM_WG_KEY_HEX_LEN + 1 */
void pm_wg_key_to_hex(const guint8 *key, char *hex);

/*
 * "a.b.c.d:port" or "[IPv6]:port", nothing else: no host name, no zone, no spaces, no
 * unspecified address, a port of 1 to 65535 without leading zeros. A control plane's
 * string goes through this before it reaches a UAPI line, so it can carry no newline and
 * no other key.
 */
gboolean pm_wg_endpoint_parse(const char *text, PmWgEndpoint *out, GError **error);
char *pm_wg_endpoint_to_string(const PmWgEndpoint *endpoint);
gboolean pm_wg_endpoint_equal(const PmWgEndpoint *a, const PmWgEndpoint *b);
/* the endpoint text @current (an implementation's; NULL: none) is @wanted: compared as
 * addresses, so "[2001:db8:0::1]:1" is "[2001:db8::1]:1"; one that does not parse (a
 * zone) is not */
gboolean pm_wg_endpoint_matches(const char *current, const PmWgEndpoint *wanted);

/* what the kernel accepts as an interface name and a socket path can carry: 1 to 15
 * bytes, no '/', ':', whitespace or control character, not "." or ".." */
gboolean pm_wg_ifname_is_valid(const char *name);

/*
 * An incremental reader of one reply: feed it the bytes as they come, in any cuts. Each
 * line is "key=value" (key: [a-z0-9_]+); unknown keys are skipped; a line without '=',
 * with a control character, or longer than PM_WG_UAPI_MAX_LINE, a bad public_key, an
 * endpoint before any peer, a peer listed twice, a line after errno= or any byte after
 * the final blank line is an error, final and with nothing kept.
 */
typedef struct _PmWgUapiParser PmWgUapiParser;

PmWgUapiParser *pm_wg_uapi_parser_new(void);
/* wipes what it holds */
void pm_wg_uapi_parser_free(PmWgUapiParser *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PmWgUapiParser, pm_wg_uapi_parser_free)
gboolean pm_wg_uapi_parser_feed(PmWgUapiParser *self, const guint8 *data, gsize len,
				GError **error);
/* the final blank line came */
gboolean pm_wg_uapi_parser_is_done(const PmWgUapiParser *self);
/* the peers, with the reply's errno= (its absolute value) in *@errnum; NULL with @error if
 * the reply was malformed or is not complete */
PmWgDevice *pm_wg_uapi_parser_finish(PmWgUapiParser *self, int *errnum, GError **error);

/* a whole get=1 reply, its final blank line included */
PmWgDevice *pm_wg_uapi_parse_get_reply(const guint8 *data, gsize len, int *errnum,
				       GError **error);
/* a whole set=1 reply ("errno=N\n\n") */
gboolean pm_wg_uapi_parse_set_reply(const guint8 *data, gsize len, int *errnum,
				    GError **error);

/* "set=1\npublic_key=HEX\nupdate_only=true\nendpoint=EP\n\n": one transaction that moves
 * an existing peer's endpoint and creates no peer (wireguard-go creates the peer at the
 * public_key line and removes it again at update_only=true: so update_only comes before
 * anything else) */
char *pm_wg_uapi_build_set(const guint8 *public_key, const PmWgEndpoint *endpoint);
