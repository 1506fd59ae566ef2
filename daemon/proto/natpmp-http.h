/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

#include "config.h"

/*
 * The natpmp-http-api service (natpmp.md §2.5): the body of POST /forward, and its replies
 * and those of GET /health classified. Pure: no I/O, safe on any status and bytes (fuzzed).
 * The service's replies are small JSON objects; its client errors come from axum as plain
 * text, so any body must give a readable message.
 */

#define PM_NATPMP_HTTP_CODEC_ERROR (pm_natpmp_http_codec_error_quark())

typedef enum {
	PM_NATPMP_HTTP_CODEC_ERROR_INVALID, /* not the reply the service sends */
	PM_NATPMP_HTTP_CODEC_ERROR_STATUS,  /* a status that means "not healthy" */
} PmNatpmpHttpCodecError;

GQuark pm_natpmp_http_codec_error_quark(void);

/* the longest body quoted in a message, in characters */
#define PM_NATPMP_HTTP_QUOTE_MAX 200
/* larger replies are not the service's: they are not parsed */
#define PM_NATPMP_HTTP_MAX_REPLY (16 * 1024)

typedef enum {
	/* 200 with a valid mapping: the caller checks it is the one it asked for */
	PM_NATPMP_HTTP_REPLY_GRANTED,
	/* 401: the bearer token is missing or wrong */
	PM_NATPMP_HTTP_REPLY_UNAUTHORIZED,
	/* 400, 415, 422: the service did not understand the request, portmapd's bug */
	PM_NATPMP_HTTP_REPLY_CLIENT_BUG,
	/* 5xx: the service could not map (its NAT-PMP gateway did not answer in time...) */
	PM_NATPMP_HTTP_REPLY_SERVICE_ERROR,
	/* any other status, or a 200 that is not a valid reply */
	PM_NATPMP_HTTP_REPLY_UNEXPECTED,
} PmNatpmpHttpReplyKind;

typedef struct {
	PmNatpmpHttpReplyKind kind;
	guint status;
	/* GRANTED only */
	guint16 internal_port;
	guint16 external_port;
	PmProtocols protocol;
	guint32 duration; /* echoes the request (clamped): not the lease's lifetime */
	/* all but GRANTED: what the service said (its "error" member, else the body, made
	 * printable and cut), or why the reply is not valid; never NULL, printable UTF-8 */
	char *message;
} PmNatpmpHttpReply;

/* {"internal_port":I,"protocol":"tcp"|"udp","duration":D}; @protocol is one protocol */
GBytes *pm_natpmp_http_build_forward_request(guint16 internal_port, PmProtocols protocol,
					     guint32 duration);

/* classifies any reply; clear @reply with pm_natpmp_http_reply_clear() */
void pm_natpmp_http_parse_forward_reply(guint status, const guint8 *body, gsize len,
					PmNatpmpHttpReply *reply);
void pm_natpmp_http_reply_clear(PmNatpmpHttpReply *reply);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(PmNatpmpHttpReply, pm_natpmp_http_reply_clear)
/* "granted", "unauthorized", ... (logs, tests) */
const char *pm_natpmp_http_reply_kind_to_string(PmNatpmpHttpReplyKind kind);

/* GET /health: TRUE for 200 {"status":"healthy",...}; @timestamp (optional) gets the
 * service's "timestamp" (printable) or NULL; else an error saying what came */
gboolean pm_natpmp_http_parse_health(guint status, const guint8 *body, gsize len,
				     char **timestamp, GError **error);

/* @body as text for a message: invalid UTF-8 and control characters replaced, cut at
 * @max_chars characters with "…"; "(empty body)" when empty */
char *pm_natpmp_http_quote_body(const guint8 *body, gsize len, gsize max_chars);

/* @body as one flat JSON object (shape checked before json-glib sees it: no deep nesting,
 * nothing after the object), owned by *@parser_out; NULL with a printable reason (PIA's
 * codec reads its replies with it too) */
JsonObject *pm_natpmp_http_parse_object(const guint8 *body, gsize len, JsonParser **parser_out,
					GError **error);
