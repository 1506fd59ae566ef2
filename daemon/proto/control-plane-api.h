/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <glib.h>

/*
 * The control plane's endpoint API (issue 15; the replaced module's EndpointReporter wire
 * types): the body of PUT {URL}/v1/nodes/{NodeID}/endpoint, and its reply read strictly.
 * Pure: no I/O, safe on any status and bytes (fuzzed). Errors are in PM_ERROR; their
 * messages are one line of printable UTF-8 that quotes at most PM_CONTROL_PLANE_QUOTE_MAX
 * characters of the body, and in which the bearer token sent never appears: it is
 * replaced by "[redacted]" in whatever of the reply is quoted (body, reason phrase,
 * values) before it is cut, so that no part of it is left either.
 *
 * The reply to a 2xx is one JSON object {"peer_endpoints": [{"peer_id": "...",
 * "endpoint": "..."}, ...]}:
 * - "peer_endpoints" missing or null: no peers; anything else but an array is an error;
 * - each entry an object with "peer_id" and "endpoint", both strings: a missing one, or
 *   one of another type, is an error naming the entry (peer_endpoints[2].peer_id);
 * - "peer_id" is a WireGuard public key: 44 characters of base64 for 32 bytes, as wg(8)
 *   prints it; "endpoint" is "IPv4:PORT" or "[IPv6]:PORT" (no name to resolve, no zone),
 *   port 1 to 65535, or empty (or null): that peer has not discovered its endpoint yet,
 *   and the entry is skipped (counted in n_skipped);
 * - a peer listed twice with an endpoint is an error (which one would be meant?);
 * - other members, of the object and of the entries, are ignored (a newer control plane
 *   may send more).
 * One bad entry refuses the whole reply: the caller keeps the endpoints it had.
 * 204 No Content is a reply without peers. Any other 2xx without a body is an error.
 */

/* the longest excerpt of a body in a message, in characters */
#define PM_CONTROL_PLANE_QUOTE_MAX 120
/* larger replies are not parsed (the reporter reads no more: pm_http_call_set_max_body()) */
#define PM_CONTROL_PLANE_MAX_REPLY (1024 * 1024)
/* a WireGuard public key in base64 */
#define PM_WIREGUARD_KEY_BASE64_LEN 44

typedef struct {
	char *peer_id;	/* the peer's WireGuard public key, base64, as sent */
	char *endpoint; /* "203.0.113.5:54321", "[2001:db8::1]:51820", as sent; never empty */
} PmPeerEndpoint;

typedef struct {
	PmPeerEndpoint *peers; /* in the reply's order; NULL when n_peers is 0 */
	guint n_peers;
	guint n_skipped; /* entries with an empty endpoint */
	/* entries skipped because their key or endpoint is not valid, or the peer came twice:
	 * why, one line each (NULL-terminated; NULL when none), for the caller to log */
	char **rejected;
} PmPeerEndpoints;

/* {"public_endpoint":"@public_endpoint","nat_type":"@nat_type"} */
GBytes *pm_control_plane_build_report(const char *public_endpoint, const char *nat_type);

/*
 * Any reply: a 2xx read as above, else an error with the status, the reason phrase and an
 * excerpt of the body:
 * - 401 and 403: PM_ERROR_REFUSED saying the token was refused (@token given) or that the
 *   control plane wants one;
 * - other 4xx: PM_ERROR_REFUSED (404 says that NodeID= or URL= may be wrong);
 * - 5xx, other statuses, and a 2xx that is not a valid reply: PM_ERROR_FAILED.
 * @reason may be NULL; it is quoted, not trusted. @token: the bearer token the request
 * carried, NULL if none.
 */
PmPeerEndpoints *pm_control_plane_parse_reply(guint status, const char *reason,
					      const guint8 *body, gsize len, const char *token,
					      GError **error);

PmPeerEndpoints *pm_peer_endpoints_new(void);
PmPeerEndpoints *pm_peer_endpoints_copy(const PmPeerEndpoints *self);
void pm_peer_endpoints_free(PmPeerEndpoints *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PmPeerEndpoints, pm_peer_endpoints_free)
/* the same peers with the same endpoints in the same order (NULL equals only NULL) */
gboolean pm_peer_endpoints_equal(const PmPeerEndpoints *a, const PmPeerEndpoints *b);

/* 44 characters of canonical base64 for 32 bytes, as wg(8) prints a key */
gboolean pm_wireguard_key_is_valid(const char *base64);
/* "IPv4:PORT" or "[IPv6]:PORT", port 1 to 65535, without a zone */
gboolean pm_peer_endpoint_is_valid(const char *endpoint);
/* @text (any bytes) for a message: @secret (if any, and not "") replaced by "[redacted]",
 * then printable, on one line, at most @max_chars characters and "…"; "(empty body)" when
 * empty */
char *pm_control_plane_quote(const guint8 *text, gsize len, const char *secret,
			     gsize max_chars);
