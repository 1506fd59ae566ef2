/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <gio/gio.h>

/*
 * A small HTTP/1.1 server on 127.0.0.1 for the tests of HTTP clients, on GIO's
 * GSocketService: keep-alive, Content-Length bodies, replies given at once or held and
 * given later, and a stop/start on the same port (a service that goes down and comes
 * back). Not SoupServer: libsoup 3.2's server leaks its listener's address and every
 * accepted socket, which the sanitizer build's leak check would blame on the tests.
 */

typedef struct _PmTestHttpServer PmTestHttpServer;
typedef struct _PmTestHttpRequest PmTestHttpRequest;

/* one request; the handler answers it (pm_test_http_request_respond()) now or later */
struct _PmTestHttpRequest {
	char *method;
	char *path;
	GBytes *body;
	/*< private >*/
	GHashTable *headers; /* lower-case name -> value */
	gpointer conn;
};

typedef void (*PmTestHttpHandler)(PmTestHttpServer *server, PmTestHttpRequest *request,
				  gpointer user_data);

/* listening on 127.0.0.1 on a free port */
PmTestHttpServer *pm_test_http_server_new(PmTestHttpHandler handler, gpointer user_data);
/* HTTPS with @certificate (and its key), "https://127.0.0.1:PORT" */
PmTestHttpServer *pm_test_http_server_new_tls(PmTestHttpHandler handler, gpointer user_data,
					      GTlsCertificate *certificate);
/* requests handed to the handler so far (none after a refused handshake) */
guint pm_test_http_server_get_n_requests(PmTestHttpServer *self);
/* the committed test-only TLS material of tests/unit/tls/ (gen-test-certs.sh):
 * "server.pem" (server.pia.test, by "ca.pem"), "other-server.pem" (same name, by
 * "other-ca.pem") */
GTlsCertificate *pm_test_tls_certificate(const char *name);
char *pm_test_tls_path(const char *name);
guint16 pm_test_http_server_get_port(PmTestHttpServer *self);
/* connections accepted so far (keep-alive checks) */
guint pm_test_http_server_get_n_accepted(PmTestHttpServer *self);
/* "http://127.0.0.1:PORT" (https for a TLS server) */
const char *pm_test_http_server_get_url(PmTestHttpServer *self);
/* the service goes down: no listener, every connection closed (held requests stay until
 * answered, which then goes nowhere) */
void pm_test_http_server_stop(PmTestHttpServer *self);
/* ... and comes back on the same port */
void pm_test_http_server_start(PmTestHttpServer *self);
/* stops it; held requests must have been answered */
void pm_test_http_server_free(PmTestHttpServer *self);

/* NULL if absent */
const char *pm_test_http_request_get_header(PmTestHttpRequest *request, const char *name);
/* answers and frees @request; @extra_headers: "Name: value\r\n" lines, or NULL */
void pm_test_http_request_respond(PmTestHttpRequest *request, guint status, const char *reason,
				  const char *content_type, const char *body,
				  const char *extra_headers);
