/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <gio/gio.h>

#include "context.h"

/*
 * One HTTP exchange on the context's SoupSession (libsoup 3, dlopen()ed by context.c on
 * first use): every HTTP provider and consumer goes through this, so the symbols libsoup
 * must resolve are in one table and no user includes libsoup's headers. Asynchronous on
 * the daemon's main loop; the whole body is read (small JSON replies). Connections are
 * kept alive by the session: calls to one host made one after the other share one.
 *
 * A call is made, given its headers and body, and sent; @done runs exactly once, unless
 * the call is cancelled first, and the call is freed after @done returns. Nothing here
 * logs: the caller decides what is worth saying, and a bearer token is never printed.
 */

typedef struct _PmHttpCall PmHttpCall;

/* @error: NULL when an HTTP reply arrived, whatever its status (transport errors, the
 * timeout and a reply too large are errors, PM_ERROR_GATEWAY_UNREACHABLE) */
typedef void (*PmHttpDoneFunc)(PmHttpCall *call, const GError *error, gpointer user_data);

/* @url: http or https with a host; NULL with PM_ERROR_INVALID_ARGS otherwise, or with
 * the context's error if libsoup cannot be loaded */
PmHttpCall *pm_http_call_new(PmContext *context, const char *method, const char *url,
			     GError **error);
/* "Authorization: Bearer TOKEN"; the token is copied and wiped when the call ends */
void pm_http_call_set_bearer_token(PmHttpCall *self, const char *token);
/* "Authorization: Basic base64(USERNAME:PASSWORD)"; wiped when the call ends */
void pm_http_call_set_basic_auth(PmHttpCall *self, const char *username, const char *password);
/* "Cookie: NAME=VALUE" (a session cookie, as pm_http_call_get_cookie() gave it); wiped when
 * the call ends */
void pm_http_call_set_cookie(PmHttpCall *self, const char *cookie);
void pm_http_call_add_header(PmHttpCall *self, const char *name, const char *value);
void pm_http_call_set_body(PmHttpCall *self, const char *content_type, GBytes *body);
/* the request may be sent twice (a POST that renews what it asks, as natpmp-http's
 * /forward): libsoup then sends it on an idle kept-alive connection, which it never does
 * for a POST otherwise, and resends it if the server had closed that connection */
void pm_http_call_set_idempotent(PmHttpCall *self);

typedef enum {
	PM_HTTP_TLS_FLAGS_NONE = 0,
	/* without @server_identity: a certificate whose only fault is its name is accepted
	 * (the chain still verified against @database), pm_http_call_get_unverified_name()
	 * says which name it presented (PIA without Hostname=: the caller warns) */
	PM_HTTP_TLS_FLAGS_ALLOW_BAD_IDENTITY = 1 << 0,
} PmHttpTlsFlags;

/*
 * https only: verify the server's chain against @database alone (never the session's
 * default roots) and its name against @server_identity (a host name; NULL: the URL's
 * host), which is also sent as SNI. libsoup checks the URL's host, an IP for PIA's
 * gateways: the connection is set up on SoupMessage::network-event at the handshake, and
 * every other fault is refused in accept-certificate, so nothing is sent past a refused
 * handshake. The call has a connection of its own: a kept-alive one verified otherwise
 * (another identity, the system's roots) is never reused for it.
 */
void pm_http_call_set_tls(PmHttpCall *self, GTlsDatabase *database, const char *server_identity,
			  PmHttpTlsFlags flags);
/* inside @done: with PM_HTTP_TLS_FLAGS_ALLOW_BAD_IDENTITY, the subject of a certificate
 * accepted although it names another host; else NULL */
const char *pm_http_call_get_unverified_name(PmHttpCall *self);
/* inside @done, after pm_http_call_set_tls(): the faults of a certificate refused (the
 * error then), 0 if none was */
GTlsCertificateFlags pm_http_call_get_tls_errors(PmHttpCall *self);
/* default PM_HTTP_CALL_DEFAULT_TIMEOUT_MSEC: from send to the end of the body */
#define PM_HTTP_CALL_DEFAULT_TIMEOUT_MSEC 10000
void pm_http_call_set_timeout(PmHttpCall *self, guint msec);
/* a larger body is an error; default PM_HTTP_CALL_DEFAULT_MAX_BODY */
#define PM_HTTP_CALL_DEFAULT_MAX_BODY (256 * 1024)
void pm_http_call_set_max_body(PmHttpCall *self, gsize max_body);

/* the call belongs to itself from here until @done returns */
void pm_http_call_send(PmHttpCall *self, PmHttpDoneFunc done, gpointer user_data);
/* before @done: @done never runs and the call is freed (now, or when libsoup lets go);
 * a call not sent yet is freed */
void pm_http_call_cancel(PmHttpCall *self);

/* inside @done, after a reply: "NAME=VALUE" of the first cookie the reply sets whose name
 * starts with @name_prefix ("" for any: qBittorrent's name varies), parsed by libsoup;
 * NULL if none. A secret: free it with pm_secret_free(). */
char *pm_http_call_get_cookie(PmHttpCall *self, const char *name_prefix);

/* an http:// or https:// URL with a host */
gboolean pm_http_url_is_valid(const char *url);
/* @url without what may hold a secret (its user information and query), for logs and
 * Describe(); "" if it does not parse */
char *pm_http_url_for_display(const char *url);

/* inside @done, after a reply */
guint pm_http_call_get_status(PmHttpCall *self);
/* the reason phrase, "" if none */
const char *pm_http_call_get_reason(PmHttpCall *self);
/* never NULL after a reply; valid until @done returns (take a ref to keep it) */
GBytes *pm_http_call_get_body(PmHttpCall *self);
/* NULL if absent; a repeated header's values joined with ", " */
const char *pm_http_call_get_response_header(PmHttpCall *self, const char *name);
/* "POST http://host:port/path": for messages; never the query (it may hold a token) */
const char *pm_http_call_describe(PmHttpCall *self);
