/* SPDX-License-Identifier: GPL-2.0-or-later */

#include <errno.h>
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>

#include "bus-source.h"

#define TEST_PATH   "/org/portmap/Test"
#define TEST_IFACE  "org.portmap.Test"
#define BURST_CALLS 1000
#define FAILSAFE_MS 10000
#define BLOB_SIZE   (1024 * 1024)

/* a private bus: no services, everything allowed, and room for a burst of pending replies
 * (the compiled-in default, which the system bus keeps, is 128 per connection) */
static const gchar bus_config[] =
    "<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN\"\n"
    " \"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n"
    "<busconfig>\n"
    "  <type>session</type>\n"
    "  <listen>unix:tmpdir=/tmp</listen>\n"
    "  <auth>EXTERNAL</auth>\n"
    "  <policy context=\"default\">\n"
    "    <allow send_destination=\"*\" eavesdrop=\"true\"/>\n"
    "    <allow eavesdrop=\"true\"/>\n"
    "    <allow own=\"*\"/>\n"
    "  </policy>\n"
    "  <limit name=\"max_replies_per_connection\">50000</limit>\n"
    "</busconfig>\n";

typedef struct _Fixture Fixture;
typedef gboolean (*FixtureDoneFunc)(Fixture *fx);

struct _Fixture {
	GSubprocess *daemon;
	GMainLoop *loop;
	GSource *watch;
	sd_bus *server;
	sd_bus *client;
	GSource *server_source;
	GSource *client_source;
	sd_bus_slot *vtable_slot;
	const gchar *server_name;
	gboolean ready;

	/* loop control */
	FixtureDoneFunc done;
	gboolean timed_out;
	guint64 iterations;

	/* server side */
	guint echo_calls;
	guint again_calls;
	GPtrArray *held; /* of sd_bus_message: calls answered later or never */

	/* client side */
	guint replies;
	guint reply_errors;
	guint replies_this_iteration;
	guint max_replies_per_iteration;
	gboolean *seen;
	gchar *reply_text;
	gchar *error_name;
	gint64 reply_time;
	gboolean match_installed;
	gsize blob_len;
	guint blobs;

	/* order of events on disconnect */
	GString *events;
	guint server_lost;
	guint client_lost;
};

static void
fixture_event(Fixture *fx, const gchar *what)
{
	if (fx->events->len > 0)
		g_string_append_c(fx->events, ',');
	g_string_append(fx->events, what);
}

/* runs first in every iteration: counts them and stops the loop once the test is done */
typedef struct {
	GSource source;
	Fixture *fx;
} WatchSource;

static gboolean
watch_source_prepare(GSource *source, gint *timeout)
{
	Fixture *fx = ((WatchSource *)source)->fx;

	fx->iterations++;
	fx->max_replies_per_iteration =
	    MAX(fx->max_replies_per_iteration, fx->replies_this_iteration);
	fx->replies_this_iteration = 0;
	if (fx->done != NULL && fx->done(fx))
		g_main_loop_quit(fx->loop);
	*timeout = -1;
	return FALSE;
}

static gboolean
watch_source_dispatch(GSource *source, GSourceFunc callback, gpointer user_data)
{
	return G_SOURCE_CONTINUE;
}

static GSourceFuncs watch_source_funcs = {
    .prepare = watch_source_prepare,
    .dispatch = watch_source_dispatch,
};

static gboolean
fixture_failsafe_cb(gpointer user_data)
{
	Fixture *fx = user_data;

	fx->timed_out = TRUE;
	g_main_loop_quit(fx->loop);
	return G_SOURCE_REMOVE;
}

/* runs the loop until done() holds; FALSE if timeout_ms passed first */
static gboolean
fixture_run(Fixture *fx, FixtureDoneFunc done, guint timeout_ms)
{
	g_autoptr(GSource) failsafe = g_timeout_source_new(timeout_ms);

	fx->done = done;
	fx->timed_out = FALSE;
	g_source_set_callback(failsafe, fixture_failsafe_cb, fx, NULL);
	g_source_attach(failsafe, NULL);
	if (done == NULL || !done(fx))
		g_main_loop_run(fx->loop);
	g_source_destroy(failsafe);
	fx->done = NULL;
	return !fx->timed_out;
}

/* a bus started by an aborted test must not outlive it */
static void
daemon_child_setup(gpointer user_data)
{
	prctl(PR_SET_PDEATHSIG, SIGTERM);
}

static gchar *
fixture_start_daemon(Fixture *fx, GError **error)
{
	g_autoptr(GSubprocessLauncher) launcher = NULL;
	g_autoptr(GDataInputStream) stream = NULL;
	g_autofree gchar *tmpdir = NULL;
	g_autofree gchar *config = NULL;
	g_autofree gchar *config_arg = NULL;
	g_autofree gchar *address = NULL;

	tmpdir = g_dir_make_tmp("test-bus-source-XXXXXX", error);
	if (tmpdir == NULL)
		return NULL;
	config = g_build_filename(tmpdir, "bus.conf", NULL);
	config_arg = g_strdup_printf("--config-file=%s", config);
	if (g_file_set_contents(config, bus_config, -1, error)) {
		launcher = g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDOUT_PIPE);
		g_subprocess_launcher_set_child_setup(launcher, daemon_child_setup, NULL, NULL);
		fx->daemon = g_subprocess_launcher_spawn(launcher,
							 error,
							 "dbus-daemon",
							 "--nofork",
							 "--print-address=1",
							 config_arg,
							 NULL);
	}
	if (fx->daemon != NULL) {
		GInputStream *out = g_subprocess_get_stdout_pipe(fx->daemon);

		/* the address is printed once the config is loaded and the socket listens */
		stream = g_data_input_stream_new(out);
		address = g_data_input_stream_read_line(stream, NULL, NULL, error);
		if (address == NULL && error != NULL && *error == NULL)
			g_set_error_literal(error,
					    G_IO_ERROR,
					    G_IO_ERROR_FAILED,
					    "dbus-daemon exited without an address");
	}
	g_unlink(config);
	g_rmdir(tmpdir);
	return g_steal_pointer(&address);
}

static sd_bus *
fixture_connect(const gchar *address)
{
	g_autoptr(sd_bus) bus = NULL;
	int r;

	r = sd_bus_new(&bus);
	if (r >= 0)
		r = sd_bus_set_address(bus, address);
	if (r >= 0)
		r = sd_bus_set_bus_client(bus, 1);
	if (r >= 0)
		r = sd_bus_start(bus);
	if (r < 0) {
		g_test_fail_printf("failed to connect to %s: %s", address, g_strerror(-r));
		return NULL;
	}
	return g_steal_pointer(&bus);
}

static gboolean
server_lost_cb(gpointer user_data)
{
	Fixture *fx = user_data;

	fx->server_lost++;
	fixture_event(fx, "server-lost");
	return G_SOURCE_REMOVE;
}

static gboolean
client_lost_cb(gpointer user_data)
{
	Fixture *fx = user_data;

	fx->client_lost++;
	fixture_event(fx, "client-lost");
	return G_SOURCE_REMOVE;
}

static void
message_unref(gpointer m)
{
	sd_bus_message_unref(m);
}

static int
method_echo(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
	Fixture *fx = userdata;
	const char *text = NULL;
	int r;

	fx->echo_calls++;
	r = sd_bus_message_read(m, "s", &text);
	if (r < 0)
		return r;
	return sd_bus_reply_method_return(m, "s", text);
}

static gboolean
later_reply_cb(gpointer user_data)
{
	sd_bus_message *m = user_data;

	/* sent outside sd_bus_process(): only the source's POLLOUT flushes a partial write */
	if (sd_bus_reply_method_return(m, NULL) < 0)
		g_warning("failed to reply to Later()");
	return G_SOURCE_REMOVE;
}

/* Later(u msec): replies after msec from a glib timeout, never if msec is 0 */
static int
method_later(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
	Fixture *fx = userdata;
	uint32_t msec = 0;
	int r;

	r = sd_bus_message_read(m, "u", &msec);
	if (r < 0)
		return r;
	if (msec == 0) {
		g_ptr_array_add(fx->held, sd_bus_message_ref(m));
		return 1;
	}
	g_timeout_add_full(G_PRIORITY_DEFAULT,
			   msec,
			   later_reply_cb,
			   sd_bus_message_ref(m),
			   message_unref);
	return 1;
}

static gboolean
again_requeue_cb(gpointer user_data)
{
	Fixture *fx = user_data;
	g_autoptr(sd_bus_message) m = g_ptr_array_steal_index(fx->held, 0);
	int r;

	/* like a polkit verdict arriving: run the handler again on the same message */
	r = sd_bus_message_rewind(m, 1);
	g_assert_cmpint(r, >=, 0);
	r = sd_bus_enqueue_for_read(fx->server, m);
	g_assert_cmpint(r, >=, 0);
	fixture_event(fx, "requeued");
	return G_SOURCE_REMOVE;
}

/* Again(s) -> s: the first run parks the call and re-enqueues it from an idle */
static int
method_again(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
	Fixture *fx = userdata;
	const char *text = NULL;
	int r;

	fx->again_calls++;
	r = sd_bus_message_read(m, "s", &text);
	if (r < 0)
		return r;
	if (fx->again_calls == 1) {
		g_ptr_array_add(fx->held, sd_bus_message_ref(m));
		g_idle_add(again_requeue_cb, fx);
		return 1;
	}
	return sd_bus_reply_method_return(m, "s", text);
}

static const sd_bus_vtable test_vtable[] = {
    SD_BUS_VTABLE_START(0),
    SD_BUS_METHOD_WITH_ARGS("Echo",
			    SD_BUS_ARGS("s", text),
			    SD_BUS_RESULT("s", text),
			    method_echo,
			    0),
    SD_BUS_METHOD_WITH_ARGS("Later", SD_BUS_ARGS("u", msec), SD_BUS_NO_RESULT, method_later, 0),
    SD_BUS_METHOD_WITH_ARGS("Again",
			    SD_BUS_ARGS("s", text),
			    SD_BUS_RESULT("s", text),
			    method_again,
			    0),
    SD_BUS_SIGNAL_WITH_ARGS("Blob", SD_BUS_ARGS("s", data), 0),
    SD_BUS_VTABLE_END,
};

static gboolean
fixture_buses_ready(Fixture *fx)
{
	return sd_bus_is_ready(fx->server) > 0 && sd_bus_is_ready(fx->client) > 0;
}

static void
fixture_setup(Fixture *fx, gconstpointer user_data)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *address = NULL;
	g_autofree gchar *dbus_daemon = g_find_program_in_path("dbus-daemon");
	int r;

	fx->events = g_string_new(NULL);
	fx->held = g_ptr_array_new_with_free_func(message_unref);
	fx->loop = g_main_loop_new(NULL, FALSE);
	fx->watch = g_source_new(&watch_source_funcs, sizeof(WatchSource));
	((WatchSource *)fx->watch)->fx = fx;
	g_source_set_priority(fx->watch, G_PRIORITY_HIGH);
	g_source_set_name(fx->watch, "test-watch");
	g_source_attach(fx->watch, NULL);

	if (dbus_daemon == NULL) {
		g_test_skip("dbus-daemon is not installed");
		return;
	}
	address = fixture_start_daemon(fx, &error);
	g_assert_no_error(error);
	if (address == NULL)
		return;

	fx->server = fixture_connect(address);
	fx->client = fixture_connect(address);
	if (fx->server == NULL || fx->client == NULL)
		return;
	r = sd_bus_add_object_vtable(fx->server,
				     &fx->vtable_slot,
				     TEST_PATH,
				     TEST_IFACE,
				     test_vtable,
				     fx);
	g_assert_cmpint(r, >=, 0);

	fx->server_source = pm_bus_source_new(fx->server);
	g_source_set_callback(fx->server_source, server_lost_cb, fx, NULL);
	g_source_attach(fx->server_source, NULL);
	fx->client_source = pm_bus_source_new(fx->client);
	g_source_set_callback(fx->client_source, client_lost_cb, fx, NULL);
	g_source_attach(fx->client_source, NULL);
	g_assert_cmpstr(g_source_get_name(fx->client_source), ==, "sd-bus");

	/* authentication and Hello() are driven by the sources too */
	if (!fixture_run(fx, fixture_buses_ready, FAILSAFE_MS)) {
		g_test_fail_printf("buses not ready after %u ms", (guint)FAILSAFE_MS);
		return;
	}
	r = sd_bus_get_unique_name(fx->server, &fx->server_name);
	g_assert_cmpint(r, >=, 0);
	fx->ready = r >= 0;
}

static void
fixture_teardown(Fixture *fx, gconstpointer user_data)
{
	if (fx->server_source != NULL) {
		g_source_destroy(fx->server_source);
		g_source_unref(fx->server_source);
	}
	if (fx->client_source != NULL) {
		g_source_destroy(fx->client_source);
		g_source_unref(fx->client_source);
	}
	g_ptr_array_unref(fx->held);
	sd_bus_slot_unref(fx->vtable_slot);
	sd_bus_close_unref(fx->server);
	sd_bus_close_unref(fx->client);
	if (fx->daemon != NULL) {
		g_subprocess_send_signal(fx->daemon, SIGTERM);
		g_subprocess_wait(fx->daemon, NULL, NULL);
		g_object_unref(fx->daemon);
	}

	/* let the sources just destroyed be freed */
	while (g_main_context_iteration(NULL, FALSE))
		;
	g_source_destroy(fx->watch);
	g_source_unref(fx->watch);
	g_main_loop_unref(fx->loop);
	g_string_free(fx->events, TRUE);
	g_free(fx->seen);
	g_free(fx->reply_text);
	g_free(fx->error_name);
}

/* records the outcome of a single call */
static int
call_reply_cb(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
	Fixture *fx = userdata;
	const char *text = NULL;

	fx->reply_time = g_get_monotonic_time();
	fixture_event(fx, "reply");
	if (sd_bus_message_is_method_error(m, NULL)) {
		fx->reply_errors++;
		g_free(fx->error_name);
		fx->error_name = g_strdup(sd_bus_message_get_error(m)->name);
		return 0;
	}
	fx->replies++;
	if (sd_bus_message_has_signature(m, "s") && sd_bus_message_read(m, "s", &text) >= 0) {
		g_free(fx->reply_text);
		fx->reply_text = g_strdup(text);
	}
	return 0;
}

static gboolean
fixture_got_reply(Fixture *fx)
{
	return fx->replies + fx->reply_errors > 0;
}

static gboolean
fixture_holds_call(Fixture *fx)
{
	return fx->held->len > 0;
}

static int
burst_reply_cb(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
	Fixture *fx = userdata;
	const char *text = NULL;
	gchar *end = NULL;
	guint64 idx;

	fx->replies_this_iteration++;
	if (sd_bus_message_is_method_error(m, NULL)) {
		g_test_message("burst call failed: %s", sd_bus_message_get_error(m)->message);
		fx->reply_errors++;
		return 0;
	}
	if (sd_bus_message_read(m, "s", &text) < 0) {
		fx->reply_errors++;
		return 0;
	}
	idx = g_ascii_strtoull(text, &end, 10);
	if (end == text || *end != ':' || idx >= BURST_CALLS || fx->seen[idx] ||
	    strlen(end + 1) != 1024) {
		fx->reply_errors++;
		return 0;
	}
	fx->seen[idx] = TRUE;
	fx->replies++;
	return 0;
}

static gboolean
burst_done(Fixture *fx)
{
	return fx->replies + fx->reply_errors >= BURST_CALLS;
}

/* (a) 1000 calls sent at once (about 1 MiB, more than a socket buffer) all get their reply */
static void
test_burst(Fixture *fx, gconstpointer user_data)
{
	g_autofree gchar *payload = g_strnfill(1024, 'x');

	if (!fx->ready)
		return;
	fx->seen = g_new0(gboolean, BURST_CALLS);
	for (guint i = 0; i < BURST_CALLS; i++) {
		g_autofree gchar *text = g_strdup_printf("%u:%s", i, payload);
		int r = sd_bus_call_method_async(fx->client,
						 NULL,
						 fx->server_name,
						 TEST_PATH,
						 TEST_IFACE,
						 "Echo",
						 burst_reply_cb,
						 fx,
						 "s",
						 text);
		g_assert_cmpint(r, >=, 0);
	}
	g_assert_true(fixture_run(fx, burst_done, FAILSAFE_MS));
	g_assert_cmpuint(fx->reply_errors, ==, 0);
	g_assert_cmpuint(fx->replies, ==, BURST_CALLS);
	g_assert_cmpuint(fx->echo_calls, ==, BURST_CALLS);

	/* the per-dispatch cap holds, and it was reached (so resuming after it was exercised) */
	g_test_message("at most %u replies per main loop iteration", fx->max_replies_per_iteration);
	g_assert_cmpuint(fx->max_replies_per_iteration, <=, 64);
	g_assert_cmpuint(fx->max_replies_per_iteration, ==, 64);
}

/* (b) a reply timeout fires although nothing arrives on the socket */
static void
test_reply_timeout(Fixture *fx, gconstpointer user_data)
{
	g_autoptr(sd_bus_message) m = NULL;
	guint64 iterations;
	gint64 start;
	gint64 elapsed;
	int r;

	if (!fx->ready)
		return;
	r = sd_bus_message_new_method_call(fx->client,
					   &m,
					   fx->server_name,
					   TEST_PATH,
					   TEST_IFACE,
					   "Later");
	g_assert_cmpint(r, >=, 0);
	r = sd_bus_message_append(m, "u", (uint32_t)0);
	g_assert_cmpint(r, >=, 0);
	iterations = fx->iterations;
	start = g_get_monotonic_time();
	r = sd_bus_call_async(fx->client, NULL, m, call_reply_cb, fx, 200 * 1000);
	g_assert_cmpint(r, >=, 0);
	g_assert_true(fixture_run(fx, fixture_got_reply, FAILSAFE_MS));

	elapsed = fx->reply_time - start;
	g_test_message("timed out after %" G_GINT64_FORMAT " us, %" G_GUINT64_FORMAT " iterations",
		       elapsed,
		       fx->iterations - iterations);
	g_assert_cmpuint(fx->held->len, ==, 1);
	g_assert_cmpuint(fx->reply_errors, ==, 1);
	g_assert_true(g_strcmp0(fx->error_name, SD_BUS_ERROR_NO_REPLY) == 0 ||
		      g_strcmp0(fx->error_name, SD_BUS_ERROR_TIMEOUT) == 0);
	g_assert_cmpint(elapsed, >=, 200 * 1000);
	g_assert_cmpint(elapsed, <, 1000 * 1000);

	/* waiting for the deadline must not spin */
	g_assert_cmpuint(fx->iterations - iterations, <, 30);
}

static gboolean
fixture_got_reply_or_lost(Fixture *fx)
{
	return fixture_got_reply(fx) || fx->server_lost > 0 || fx->client_lost > 0;
}

/* (c) a message re-enqueued with sd_bus_enqueue_for_read() is dispatched without socket traffic */
static void
test_enqueue_for_read(Fixture *fx, gconstpointer user_data)
{
	g_autoptr(sd_bus_message) m = NULL;
	int r;

	if (!fx->ready)
		return;
	r = sd_bus_message_new_method_call(fx->client,
					   &m,
					   fx->server_name,
					   TEST_PATH,
					   TEST_IFACE,
					   "Again");
	g_assert_cmpint(r, >=, 0);
	r = sd_bus_message_append(m, "s", "once more");
	g_assert_cmpint(r, >=, 0);

	/* a long timeout, so only the re-enqueued message can produce the reply in time */
	r = sd_bus_call_async(fx->client, NULL, m, call_reply_cb, fx, 60 * G_USEC_PER_SEC);
	g_assert_cmpint(r, >=, 0);
	g_assert_true(fixture_run(fx, fixture_got_reply_or_lost, FAILSAFE_MS));
	g_assert_cmpuint(fx->again_calls, ==, 2);
	g_assert_cmpuint(fx->reply_errors, ==, 0);
	g_assert_cmpuint(fx->replies, ==, 1);
	g_assert_cmpstr(fx->reply_text, ==, "once more");
	g_assert_cmpstr(fx->events->str, ==, "requeued,reply");
}

static gboolean
fixture_all_lost(Fixture *fx)
{
	return fx->server_lost > 0 && fx->client_lost > 0 && fixture_got_reply(fx);
}

/* (d) when the bus goes away each source calls its callback once, then goes quiet */
static void
test_disconnect(Fixture *fx, gconstpointer user_data)
{
	const gchar *reply;
	const gchar *lost;
	guint64 iterations;
	int r;

	if (!fx->ready)
		return;

	/* a pending call, which sd-bus must fail while it closes the connection */
	r = sd_bus_call_method_async(fx->client,
				     NULL,
				     fx->server_name,
				     TEST_PATH,
				     TEST_IFACE,
				     "Later",
				     call_reply_cb,
				     fx,
				     "u",
				     (uint32_t)0);
	g_assert_cmpint(r, >=, 0);
	g_assert_true(fixture_run(fx, fixture_holds_call, FAILSAFE_MS));

	g_subprocess_send_signal(fx->daemon, SIGKILL);
	g_assert_true(fixture_run(fx, fixture_all_lost, FAILSAFE_MS));
	g_assert_cmpuint(fx->reply_errors, ==, 1);
	g_assert_cmpstr(fx->error_name, ==, SD_BUS_ERROR_NO_REPLY);

	/* the pending call is failed before the owner hears about the loss */
	g_test_message("events: %s", fx->events->str);
	reply = strstr(fx->events->str, "reply");
	lost = strstr(fx->events->str, "client-lost");
	g_assert_nonnull(reply);
	g_assert_nonnull(lost);
	g_assert_true(reply < lost);

	iterations = fx->iterations;
	g_assert_false(fixture_run(fx, NULL, 200));
	g_test_message("%" G_GUINT64_FORMAT " iterations in 200 ms after the disconnect",
		       fx->iterations - iterations);
	g_assert_cmpuint(fx->iterations - iterations, <, 10);
	g_assert_cmpuint(fx->server_lost, ==, 1);
	g_assert_cmpuint(fx->client_lost, ==, 1);
	g_assert_true(g_source_is_destroyed(fx->server_source));
	g_assert_true(g_source_is_destroyed(fx->client_source));
	g_assert_cmpint(sd_bus_is_open(fx->client), ==, 0);
}

static int
blob_cb(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
	Fixture *fx = userdata;
	const char *data = NULL;

	if (sd_bus_message_read(m, "s", &data) >= 0)
		fx->blob_len = strlen(data);
	fx->blobs++;
	return 0;
}

static int
match_installed_cb(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
	Fixture *fx = userdata;

	g_assert_false(sd_bus_message_is_method_error(m, NULL));
	fx->match_installed = TRUE;
	return 0;
}

static gboolean
fixture_match_installed(Fixture *fx)
{
	return fx->match_installed;
}

static gboolean
fixture_got_blob(Fixture *fx)
{
	return fx->blobs > 0;
}

static gboolean
emit_blob_cb(gpointer user_data)
{
	Fixture *fx = user_data;
	g_autofree gchar *blob = g_strnfill(BLOB_SIZE, 'b');
	int r;

	r = sd_bus_emit_signal(fx->server, TEST_PATH, TEST_IFACE, "Blob", "s", blob);
	g_assert_cmpint(r, >=, 0);

	/* the test only proves something if the write could not complete at once */
	g_assert_true(sd_bus_get_events(fx->server) & POLLOUT);
	fixture_event(fx, "emitted");
	return G_SOURCE_REMOVE;
}

/* (e) messages queued outside sd_bus_process() are flushed: POLLOUT is requested */
static void
test_flush(Fixture *fx, gconstpointer user_data)
{
	int sndbuf = 4096;
	int r;

	if (!fx->ready)
		return;
	r = sd_bus_match_signal_async(fx->client,
				      NULL,
				      fx->server_name,
				      TEST_PATH,
				      TEST_IFACE,
				      "Blob",
				      blob_cb,
				      match_installed_cb,
				      fx);
	g_assert_cmpint(r, >=, 0);
	g_assert_true(fixture_run(fx, fixture_match_installed, FAILSAFE_MS));

	/* a tiny send buffer: the signal cannot leave in one write whatever the reader does */
	r = setsockopt(sd_bus_get_fd(fx->server), SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	g_assert_cmpint(r, ==, 0);
	g_idle_add(emit_blob_cb, fx);
	g_assert_true(fixture_run(fx, fixture_got_blob, FAILSAFE_MS));
	g_assert_cmpuint(fx->blobs, ==, 1);
	g_assert_cmpuint(fx->blob_len, ==, BLOB_SIZE);

	/* and so is a reply sent from a glib timeout */
	r = sd_bus_call_method_async(fx->client,
				     NULL,
				     fx->server_name,
				     TEST_PATH,
				     TEST_IFACE,
				     "Later",
				     call_reply_cb,
				     fx,
				     "u",
				     (uint32_t)20);
	g_assert_cmpint(r, >=, 0);
	g_assert_true(fixture_run(fx, fixture_got_reply, FAILSAFE_MS));
	g_assert_cmpuint(fx->replies, ==, 1);
	g_assert_cmpuint(fx->reply_errors, ==, 0);
}

/* an idle connection with a far deadline pending does not wake the loop */
static void
test_idle(Fixture *fx, gconstpointer user_data)
{
	guint64 iterations;
	int r;

	if (!fx->ready)
		return;
	r = sd_bus_call_method_async(fx->client,
				     NULL,
				     fx->server_name,
				     TEST_PATH,
				     TEST_IFACE,
				     "Later",
				     call_reply_cb,
				     fx,
				     "u",
				     (uint32_t)0);
	g_assert_cmpint(r, >=, 0);
	g_assert_true(fixture_run(fx, fixture_holds_call, FAILSAFE_MS));

	iterations = fx->iterations;
	g_assert_false(fixture_run(fx, NULL, 300));
	g_test_message("%" G_GUINT64_FORMAT " iterations in 300 ms idle",
		       fx->iterations - iterations);
	g_assert_cmpuint(fx->iterations - iterations, <, 10);
	g_assert_cmpuint(fx->replies + fx->reply_errors, ==, 0);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);

	/* assertions fail the test without aborting, so the teardown always stops the bus */
	g_test_set_nonfatal_assertions();

	g_test_add("/bus-source/burst", Fixture, NULL, fixture_setup, test_burst, fixture_teardown);
	g_test_add("/bus-source/reply-timeout",
		   Fixture,
		   NULL,
		   fixture_setup,
		   test_reply_timeout,
		   fixture_teardown);
	g_test_add("/bus-source/enqueue-for-read",
		   Fixture,
		   NULL,
		   fixture_setup,
		   test_enqueue_for_read,
		   fixture_teardown);
	g_test_add("/bus-source/disconnect",
		   Fixture,
		   NULL,
		   fixture_setup,
		   test_disconnect,
		   fixture_teardown);
	g_test_add("/bus-source/flush", Fixture, NULL, fixture_setup, test_flush, fixture_teardown);
	g_test_add("/bus-source/idle", Fixture, NULL, fixture_setup, test_idle, fixture_teardown);
	return g_test_run();
}
