/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * PmHttpCall against an in-process HTTP server on 127.0.0.1 (test-http-server.c; the
 * daemon dlopen()s libsoup): what is sent and received, the timeout, a cancel while the
 * server holds the reply, a refused connection, a body over the limit, and what
 * describe() shows.
 */
#include <gio/gio.h>
#include <string.h>

#include "context.h"
#include "errors.h"
#include "http-call.h"
#include "test-http-server.h"
#include "test-log.h"

typedef struct {
	PmScheduler *scheduler;
	PmContext *context;
	PmTestHttpServer *server;
	const char *base;
	/* what the server saw last */
	char *method;
	char *path;
	char *authorization;
	char *content_type;
	char *request_body;
	guint requests;
	/* held replies (/hold) */
	GPtrArray *held; /* of PmTestHttpRequest * */
	/* what the client saw */
	guint done;
	GError *error;
	guint status;
	char *reason;
	char *body;
	char *header;
} Fixture;

static void
server_cb(PmTestHttpServer *server, PmTestHttpRequest *request, gpointer user_data)
{
	Fixture *f = user_data;

	f->requests++;
	g_free(f->method);
	f->method = g_strdup(request->method);
	g_free(f->path);
	f->path = g_strdup(request->path);
	g_free(f->authorization);
	f->authorization = g_strdup(pm_test_http_request_get_header(request, "Authorization"));
	g_free(f->content_type);
	f->content_type = g_strdup(pm_test_http_request_get_header(request, "Content-Type"));
	g_free(f->request_body);
	f->request_body = g_strndup(g_bytes_get_size(request->body) > 0
					? g_bytes_get_data(request->body, NULL)
					: "",
				    g_bytes_get_size(request->body));

	if (g_str_equal(request->path, "/hold")) {
		/* answered by the test, or at teardown */
		g_ptr_array_add(f->held, request);
		return;
	}
	if (g_str_equal(request->path, "/large")) {
		g_autofree char *large = g_strnfill(100, 'x');
		pm_test_http_request_respond(request, 200, "OK", "text/plain", large, NULL);
		return;
	}
	pm_test_http_request_respond(request, 201, "Made", "application/json", "{\"ok\":1}",
				     "X-Test: a\r\nX-Test: b\r\n");
}

static void
fixture_setup(Fixture *f, gconstpointer data)
{
	pm_test_log_clear();
	f->scheduler = pm_scheduler_new();
	f->context = pm_context_new(f->scheduler, PM_SECRET_POLICY_STRICT);
	f->held = g_ptr_array_new();
	f->server = pm_test_http_server_new(server_cb, f);
	f->base = pm_test_http_server_get_url(f->server);
}

static void
fixture_teardown(Fixture *f, gconstpointer data)
{
	for (guint i = 0; i < f->held->len; i++)
		pm_test_http_request_respond(g_ptr_array_index(f->held, i), 500, NULL, NULL, NULL,
					     NULL);
	g_ptr_array_unref(f->held);
	pm_test_http_server_free(f->server);
	pm_context_free(f->context);
	pm_scheduler_free(f->scheduler);
	/* what the closed connections left to run */
	while (g_main_context_iteration(NULL, FALSE))
		;
	g_free(f->method);
	g_free(f->path);
	g_free(f->authorization);
	g_free(f->content_type);
	g_free(f->request_body);
	g_clear_error(&f->error);
	g_free(f->reason);
	g_free(f->body);
	g_free(f->header);
	pm_test_assert_no_warnings();
}

static void
done_cb(PmHttpCall *call, const GError *error, gpointer user_data)
{
	Fixture *f = user_data;

	f->done++;
	if (error != NULL) {
		f->error = g_error_copy(error);
		return;
	}
	f->status = pm_http_call_get_status(call);
	f->reason = g_strdup(pm_http_call_get_reason(call));
	f->body = g_strndup(g_bytes_get_data(pm_http_call_get_body(call), NULL),
			    g_bytes_get_size(pm_http_call_get_body(call)));
	f->header = g_strdup(pm_http_call_get_response_header(call, "X-Test"));
}

/* the main loop until @cond, for at most 5 s */
#define ITERATE_UNTIL(cond)                                                                      \
	do {                                                                                     \
		gint64 give_up = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;                    \
		while (!(cond)) {                                                                \
			g_assert_cmpint(g_get_monotonic_time(), <, give_up);                    \
			g_main_context_iteration(NULL, TRUE);                                    \
		}                                                                                \
	} while (0)

static PmHttpCall *
call_new(Fixture *f, const char *method, const char *path)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *url = g_strconcat(f->base, path, NULL);
	PmHttpCall *call = pm_http_call_new(f->context, method, url, &error);

	g_assert_no_error(error);
	g_assert_nonnull(call);
	return call;
}

static void
test_exchange(Fixture *f, gconstpointer data)
{
	PmHttpCall *call = call_new(f, "POST", "/forward");
	g_autoptr(GBytes) body = g_bytes_new_static("{\"a\":1}", 7);

	pm_http_call_set_body(call, "application/json", body);
	pm_http_call_add_header(call, "X-Mine", "1");
	pm_http_call_send(call, done_cb, f);
	ITERATE_UNTIL(f->done > 0);

	g_assert_cmpuint(f->done, ==, 1);
	g_assert_no_error(f->error);
	g_assert_cmpstr(f->method, ==, "POST");
	g_assert_cmpstr(f->path, ==, "/forward");
	g_assert_cmpstr(f->content_type, ==, "application/json");
	g_assert_cmpstr(f->request_body, ==, "{\"a\":1}");
	/* no token: no header */
	g_assert_null(f->authorization);
	g_assert_cmpuint(f->status, ==, 201);
	g_assert_cmpstr(f->reason, ==, "Made");
	g_assert_cmpstr(f->body, ==, "{\"ok\":1}");
	g_assert_cmpstr(f->header, ==, "a, b");
}

static void
test_bearer(Fixture *f, gconstpointer data)
{
	PmHttpCall *call = call_new(f, "GET", "/health");

	pm_http_call_set_bearer_token(call, "s3cret-token");
	pm_http_call_send(call, done_cb, f);
	ITERATE_UNTIL(f->done > 0);
	g_assert_no_error(f->error);
	g_assert_cmpstr(f->authorization, ==, "Bearer s3cret-token");
	g_assert_cmpstr(f->method, ==, "GET");
	g_assert_cmpstr(f->request_body, ==, "");
}

/* two calls one after the other share the kept-alive connection, and a second call after
 * the first one's @done works */
static void
test_sequential(Fixture *f, gconstpointer data)
{
	for (guint i = 1; i <= 3; i++) {
		PmHttpCall *call = call_new(f, "GET", "/x");
		pm_http_call_send(call, done_cb, f);
		ITERATE_UNTIL(f->done == i);
		g_assert_no_error(f->error);
		g_clear_pointer(&f->reason, g_free);
		g_clear_pointer(&f->body, g_free);
		g_clear_pointer(&f->header, g_free);
	}
	g_assert_cmpuint(f->requests, ==, 3);
	/* one kept-alive connection */
	g_assert_cmpuint(pm_test_http_server_get_n_accepted(f->server), ==, 1);
}

/* a request whose kept-alive connection closes before the reply is sent again on a new
 * one (libsoup restarts an idempotent message): with its body, which libsoup 3.2 lost */
static void
test_restart_resends_body(Fixture *f, gconstpointer data)
{
	g_autoptr(GBytes) body = g_bytes_new_static("{\"a\":1}", 7);
	PmHttpCall *first = call_new(f, "PUT", "/x");
	PmHttpCall *second;

	pm_http_call_set_body(first, "application/json", body);
	pm_http_call_send(first, done_cb, f);
	ITERATE_UNTIL(f->done == 1);
	g_assert_no_error(f->error);
	g_clear_pointer(&f->reason, g_free);
	g_clear_pointer(&f->body, g_free);
	g_clear_pointer(&f->header, g_free);

	second = call_new(f, "PUT", "/hold");
	pm_http_call_set_body(second, "application/json", body);
	pm_http_call_send(second, done_cb, f);
	ITERATE_UNTIL(f->held->len == 1);
	g_assert_cmpuint(pm_test_http_server_get_n_accepted(f->server), ==, 1);
	/* the connection closes under the request: sent again, on a new connection */
	pm_test_http_server_stop(f->server);
	g_clear_pointer(&f->request_body, g_free);
	pm_test_http_server_start(f->server);
	ITERATE_UNTIL(f->held->len == 2);
	g_assert_cmpstr(f->method, ==, "PUT");
	g_assert_cmpstr(f->request_body, ==, "{\"a\":1}");
	pm_test_http_request_respond(g_ptr_array_index(f->held, 1), 200, "OK", NULL, "", NULL);
	g_ptr_array_remove_index(f->held, 1);
	ITERATE_UNTIL(f->done == 2);
	g_assert_no_error(f->error);
	g_assert_cmpuint(f->status, ==, 200);
}

static void
test_timeout(Fixture *f, gconstpointer data)
{
	PmHttpCall *call = call_new(f, "GET", "/hold");
	gint64 start = g_get_monotonic_time();

	pm_http_call_set_timeout(call, 200);
	pm_http_call_send(call, done_cb, f);
	ITERATE_UNTIL(f->done > 0);
	g_assert_cmpint(g_get_monotonic_time() - start, >=, 190 * G_TIME_SPAN_MILLISECOND);
	g_assert_error(f->error, PM_ERROR, PM_ERROR_GATEWAY_UNREACHABLE);
	g_assert_true(g_str_has_suffix(f->error->message, "/hold: no reply within 200 ms"));
}

/* cancelled while the server holds the reply: @done never runs, the call is freed when
 * libsoup lets go (ASan's leak check sees the rest) */
static void
test_cancel_in_flight(Fixture *f, gconstpointer data)
{
	PmHttpCall *call = call_new(f, "GET", "/hold");

	pm_http_call_send(call, done_cb, f);
	ITERATE_UNTIL(f->held->len == 1);
	pm_http_call_cancel(call);
	/* the server answers after all: nobody listens */
	pm_test_http_request_respond(g_ptr_array_index(f->held, 0), 200, "OK", NULL, NULL, NULL);
	g_ptr_array_set_size(f->held, 0);
	for (guint i = 0; i < 50; i++)
		g_main_context_iteration(NULL, FALSE);
	g_usleep(20 * G_TIME_SPAN_MILLISECOND);
	while (g_main_context_iteration(NULL, FALSE))
		;
	g_assert_cmpuint(f->done, ==, 0);
}

/* cancelled before it is sent: freed at once */
static void
test_cancel_unsent(Fixture *f, gconstpointer data)
{
	PmHttpCall *call = call_new(f, "GET", "/x");
	pm_http_call_set_bearer_token(call, "t");
	pm_http_call_cancel(call);
	g_assert_cmpuint(f->requests, ==, 0);
}

static void
test_refused(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GSocket) socket = NULL;
	g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
	g_autoptr(GSocketAddress) any = g_inet_socket_address_new(loopback, 0);
	g_autoptr(GSocketAddress) bound = NULL;
	g_autofree char *url = NULL;
	PmHttpCall *call;

	/* a port nobody listens on: bound, then closed */
	socket = g_socket_new(G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP,
			      &error);
	g_assert_no_error(error);
	g_assert_true(g_socket_bind(socket, any, FALSE, &error));
	bound = g_socket_get_local_address(socket, &error);
	g_assert_no_error(error);
	url = g_strdup_printf("http://127.0.0.1:%u/forward",
			      g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(bound)));
	g_socket_close(socket, NULL);

	call = pm_http_call_new(f->context, "POST", url, &error);
	g_assert_no_error(error);
	pm_http_call_send(call, done_cb, f);
	ITERATE_UNTIL(f->done > 0);
	g_assert_error(f->error, PM_ERROR, PM_ERROR_GATEWAY_UNREACHABLE);
	g_assert_true(g_str_has_prefix(f->error->message, "POST http://127.0.0.1:"));
}

static void
test_too_large(Fixture *f, gconstpointer data)
{
	PmHttpCall *call = call_new(f, "GET", "/large");

	pm_http_call_set_max_body(call, 10);
	pm_http_call_send(call, done_cb, f);
	ITERATE_UNTIL(f->done > 0);
	g_assert_error(f->error, PM_ERROR, PM_ERROR_GATEWAY_UNREACHABLE);
	g_assert_true(g_str_has_suffix(f->error->message, "a reply of 100 bytes, more than 10 allowed"));
}

static void
test_describe(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	PmHttpCall *call;

	call = pm_http_call_new(f->context, "GET", "http://127.0.0.1:1234/getSignature?token=s3cret",
				&error);
	g_assert_no_error(error);
	g_assert_cmpstr(pm_http_call_describe(call), ==, "GET http://127.0.0.1:1234/getSignature");
	pm_http_call_cancel(call);

	call = pm_http_call_new(f->context, "POST", "https://example.test/a/b?x=1#frag", &error);
	g_assert_no_error(error);
	g_assert_cmpstr(pm_http_call_describe(call), ==, "POST https://example.test/a/b");
	pm_http_call_cancel(call);

	g_assert_null(pm_http_call_new(f->context, "GET", "ftp://127.0.0.1/", &error));
	g_assert_error(error, PM_ERROR, PM_ERROR_INVALID_ARGS);
	g_clear_error(&error);
	g_assert_null(pm_http_call_new(f->context, "GET", "not a url", &error));
	g_assert_error(error, PM_ERROR, PM_ERROR_INVALID_ARGS);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	pm_test_log_init();

#define ADD(path, func) g_test_add("/http-call/" path, Fixture, NULL, fixture_setup, func, fixture_teardown)
	ADD("exchange", test_exchange);
	ADD("bearer", test_bearer);
	ADD("sequential", test_sequential);
	ADD("restart-resends-body", test_restart_resends_body);
	ADD("timeout", test_timeout);
	ADD("cancel-in-flight", test_cancel_in_flight);
	ADD("cancel-unsent", test_cancel_unsent);
	ADD("refused", test_refused);
	ADD("too-large", test_too_large);
	ADD("describe", test_describe);
#undef ADD
	return g_test_run();
}
