/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <glib.h>

/*
 * PIA's port-forwarding API (pia-and-torrent-clients.md §1.1-1.4): the token reply, the
 * gateway's getSignature and bindPort replies, the payload, and the query strings. Pure:
 * no I/O, safe on any status and bytes (fuzzed). Every message is printable and never
 * holds a secret (token, password, payload, signature): a body that echoes one of the
 * request's secrets is quoted with it redacted.
 */

#define PM_PIA_CODEC_ERROR (pm_pia_codec_error_quark())

typedef enum {
	PM_PIA_CODEC_ERROR_INVALID, /* not the reply PIA sends */
	PM_PIA_CODEC_ERROR_STATUS,  /* a reply saying no */
} PmPiaCodecError;

GQuark pm_pia_codec_error_quark(void);

/* the longest body quoted in a message, in characters */
#define PM_PIA_QUOTE_MAX 200

typedef enum {
	PM_PIA_BIND_OK,
	/* 409, or "port N is busy" in any case: the stored port is taken on this server */
	PM_PIA_BIND_PORT_BUSY,
	/* 401 ("bad signature"): the payload or signature is stale */
	PM_PIA_BIND_UNAUTHORIZED,
	/* anything else */
	PM_PIA_BIND_FAILED,
} PmPiaBindKind;

/* the decoded payload; its token is not kept (a secret nobody needs) */
typedef struct {
	guint16 port;
	gint64 expires_at; /* CLOCK_REALTIME, µs since the epoch */
} PmPiaPayload;

/* POST /api/client/v2/token: 200 {"token":"…"} with a non-empty token, returned (a
 * secret: free it with pm_secret_free()); else NULL with why */
char *pm_pia_parse_token_reply(guint status, const guint8 *body, gsize len, GError **error);

/* getSignature: 200 {"status":"OK","payload":"…","signature":"…"}, both non-empty; else
 * FALSE with why. @secrets (NULL-terminated, optional): the request's, redacted from
 * anything quoted */
gboolean pm_pia_parse_signature_reply(guint status, const guint8 *body, gsize len,
				      const char *const *secrets, char **payload, char **signature,
				      GError **error);

/* bindPort: classified by status and message; @message (optional) gets what PIA said (or
 * why the reply is not valid), printable and redacted, never NULL; "" for OK */
PmPiaBindKind pm_pia_parse_bind_reply(guint status, const guint8 *body, gsize len,
				      const char *const *secrets, char **message);
/* "ok", "port-busy"... (logs, tests) */
const char *pm_pia_bind_kind_to_string(PmPiaBindKind kind);

/* standard base64 (padded) of {"token":"…","port":N,"expires_at":"RFC 3339"} */
gboolean pm_pia_decode_payload(const char *payload, PmPiaPayload *out, GError **error);

/* "token=…", "payload=…&signature=…", "username=…&password=…" (the form body), each
 * value URL-encoded (base64's +, / and = included); the results hold secrets */
char *pm_pia_build_signature_query(const char *token);
char *pm_pia_build_bind_query(const char *payload, const char *signature);
char *pm_pia_build_token_form(const char *username, const char *password);

/* @body as printable text for a message with every one of @secrets replaced by
 * "[redacted]", cut at @max_chars characters */
char *pm_pia_quote_redacted(const guint8 *body, gsize len, const char *const *secrets,
			    gsize max_chars);

/* the gateways to try without Gateway= (pia-and-torrent-clients.md §1.5, as gluetun):
 * the route's gateway x.y.z.w, then x.y.128.1 (older servers) and x.y.0.1 (newer), each
 * once, in @out (network byte order); returns how many */
#define PM_PIA_MAX_GATEWAY_CANDIDATES 3
guint pm_pia_gateway_candidates(guint32 route_gateway,
				guint32 out[PM_PIA_MAX_GATEWAY_CANDIDATES]);
