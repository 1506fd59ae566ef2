/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <glib.h>

/*
 * Transmission's RPC (pia-and-torrent-clients.md §3): the session-get and session-set
 * requests portmapd sends and their replies. Pure: no I/O, safe on any bytes (fuzzed).
 * Every message is printable UTF-8 on one line.
 *
 * Requests use the kebab-case names ("session-set", "peer-port"), which Transmission
 * 3.00 to 4.x accept. rpc-version 18 (4.1.0) also accepts snake_case and 5.0 will accept
 * only that: the reply's rpc-version is parsed so that the day can be recognised.
 */

#define PM_TRANSMISSION_CODEC_ERROR (pm_transmission_codec_error_quark())

typedef enum {
	PM_TRANSMISSION_CODEC_ERROR_INVALID, /* not a reply Transmission sends */
	PM_TRANSMISSION_CODEC_ERROR_REFUSED, /* a reply whose "result" is not "success" */
} PmTransmissionCodecError;

GQuark pm_transmission_codec_error_quark(void);

/* the header of the CSRF protection: the id comes with a 409 and goes with each request */
#define PM_TRANSMISSION_SESSION_ID_HEADER "X-Transmission-Session-Id"
/* the longest "result" or body quoted in a message, in characters */
#define PM_TRANSMISSION_QUOTE_MAX 200

/* what session-get says about the listening port */
typedef struct {
	guint16 peer_port;
	gboolean peer_port_random_on_start;
	gboolean port_forwarding_enabled;
	guint rpc_version; /* 0 if the reply has none */
} PmTransmissionSession;

/* {"method":"session-get","arguments":{"fields":[the four members above]},"tag":@tag} */
GBytes *pm_transmission_build_session_get(guint tag);
/* {"method":"session-set","arguments":{"peer-port":@peer_port,
 * "peer-port-random-on-start":false,"port-forwarding-enabled":false},"tag":@tag} */
GBytes *pm_transmission_build_session_set(guint16 peer_port, guint tag);

/* a 200's body: {"result":"success","arguments":{...},"tag":@tag}; the tag, when the
 * reply has one, must be @tag */
gboolean pm_transmission_parse_session_get(const guint8 *body, gsize len, guint tag,
					   PmTransmissionSession *out, GError **error);
gboolean pm_transmission_parse_session_set(const guint8 *body, gsize len, guint tag,
					   GError **error);

/* a 409's X-Transmission-Session-Id: 1 to 256 visible ASCII characters, as it goes back
 * in a header */
gboolean pm_transmission_session_id_is_valid(const char *id);

/* "peer-port 6000", then ", peer-port-random-on-start true" and
 * ", port-forwarding-enabled true" when set */
char *pm_transmission_session_describe(const PmTransmissionSession *session);
