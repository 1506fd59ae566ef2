/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * [Consumer NAME] Type=exec (consumers/exec.c) running real hooks on the real clock: the
 * exact arguments (the event appended to Exec=, nothing to ExecUp=/ExecDown=, gluetun's
 * templates), the PORTMAP_* environment without the replaced tools' secrets, failures,
 * a hanging hook killed with its process group at TimeoutSec= while another consumer's
 * hook runs to its end, the hooks' output in the log, events in order and coalesced, and
 * a consumer removed while its hook runs. Then its keys.
 */
#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>

#include "config.h"
#include "consumer.h"
#include "exec.h"
#include "test-config-load.h"

#define SEC(x) ((guint64)(x) * G_USEC_PER_SEC)

/* what the hooks log, and warnings */
static GPtrArray *messages;
/* $HOOK_DIR, set before any thread runs (setenv() is not thread-safe) */
static char *hook_dir;

static GLogWriterOutput
log_writer(GLogLevelFlags log_level, const GLogField *fields, gsize n_fields, gpointer user_data)
{
	for (gsize i = 0; i < n_fields; i++) {
		if (g_strcmp0(fields[i].key, "MESSAGE") == 0 &&
		    (log_level & (G_LOG_LEVEL_MESSAGE | G_LOG_LEVEL_WARNING)) != 0)
			g_ptr_array_add(messages, g_strdup(fields[i].value));
	}
	if (!g_test_verbose() && (log_level & (G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_ERROR)) == 0)
		return G_LOG_WRITER_HANDLED;
	return g_log_writer_standard_streams(log_level, fields, n_fields, user_data);
}

static gboolean
logged(const char *expected)
{
	for (guint i = 0; i < messages->len; i++) {
		if (g_strcmp0(g_ptr_array_index(messages, i), expected) == 0)
			return TRUE;
	}
	return FALSE;
}

typedef struct {
	PmScheduler *scheduler;
	PmContext *context;
	char *dir;
	char *script;
	GPtrArray *reports; /* "CONSUMER:ID:state:error" */
	GPtrArray *consumers;
} Fixture;

static void
report_cb(PmConsumer *consumer, guint64 mapping_id, PmConsumerState state,
	  const char *last_error, gpointer user_data)
{
	Fixture *f = user_data;
	g_ptr_array_add(f->reports,
			g_strdup_printf("%s:%" G_GUINT64_FORMAT ":%s:%s", consumer->name, mapping_id,
					pm_consumer_state_to_string(state),
					last_error != NULL ? last_error : ""));
}

/* records its arguments and environment in $HOOK_DIR/TAG.argv and TAG.env (TAG: its
 * first argument), appends the event to TAG.log, and talks on both outputs */
static const char script_text[] = "#!/bin/sh\n"
				  "tag=$1\n"
				  "for a in \"$@\"; do printf '%s\\n' \"$a\"; done >\"$HOOK_DIR/$tag.argv\"\n"
				  "env >\"$HOOK_DIR/$tag.env\"\n"
				  "echo \"$PORTMAP_EVENT\" >>\"$HOOK_DIR/$tag.log\"\n"
				  "echo \"hello from $tag\"\n"
				  "echo \"a word on stderr\" >&2\n"
				  "[ ! -f \"$HOOK_DIR/$tag.sleep\" ] || sleep \"$(cat \"$HOOK_DIR/$tag.sleep\")\"\n";

static void
fixture_init(Fixture *f)
{
	g_autoptr(GError) error = NULL;

	f->scheduler = pm_scheduler_new();
	f->context = pm_context_new(f->scheduler, PM_SECRET_POLICY_STRICT);
	f->dir = g_strdup(hook_dir);
	f->script = g_build_filename(f->dir, "record.sh", NULL);
	g_file_set_contents(f->script, script_text, -1, &error);
	g_assert_no_error(error);
	g_assert_cmpint(g_chmod(f->script, 0755), ==, 0);
	f->reports = g_ptr_array_new_with_free_func(g_free);
	f->consumers = g_ptr_array_new();
	g_ptr_array_set_size(messages, 0);
}

/* [Consumer @name] Type=exec with @keys, SCRIPT in them replaced by the recording script */
static PmConsumer *
fixture_consumer(Fixture *f, const char *name, const char *keys)
{
	g_autoptr(GString) text = g_string_new(NULL);
	g_autoptr(PmConfig) config = NULL;
	g_autoptr(GError) error = NULL;
	PmConsumer *consumer;

	g_string_printf(text, "[Consumer %s]\nType=exec\n%s", name, keys);
	g_string_replace(text, "SCRIPT", f->script, 0);
	config = pm_test_config_load_ok(text->str);
	consumer = pm_consumer_new(f->context, pm_config_find_consumer(config, name), &error);
	g_assert_no_error(error);
	pm_consumer_set_report_func(consumer, report_cb, f);
	g_ptr_array_add(f->consumers, consumer);
	return consumer;
}

static void
drop_consumer(PmConsumer *consumer)
{
	pm_consumer_set_report_func(consumer, NULL, NULL);
	pm_consumer_unref(consumer);
}

static void
fixture_clear(Fixture *f)
{
	g_autoptr(GDir) dir = NULL;
	const char *name;

	for (guint i = 0; i < f->consumers->len; i++)
		drop_consumer(g_ptr_array_index(f->consumers, i));
	g_ptr_array_unref(f->consumers);
	g_clear_pointer(&f->context, pm_context_free);
	g_clear_pointer(&f->scheduler, pm_scheduler_free);
	g_ptr_array_unref(f->reports);
	dir = g_dir_open(f->dir, 0, NULL);
	while (dir != NULL && (name = g_dir_read_name(dir)) != NULL) {
		g_autofree char *path = g_build_filename(f->dir, name, NULL);
		g_unlink(path);
	}
	g_free(f->dir);
	g_free(f->script);
}

/* the main loop until @expected was reported, or 5 s passed */
static void
wait_report(Fixture *f, const char *expected)
{
	gint64 deadline = g_get_monotonic_time() + SEC(5);

	while (g_get_monotonic_time() < deadline) {
		for (guint i = 0; i < f->reports->len; i++) {
			if (g_strcmp0(g_ptr_array_index(f->reports, i), expected) == 0) {
				g_ptr_array_remove_index(f->reports, i);
				return;
			}
		}
		g_main_context_iteration(NULL, TRUE);
	}
	for (guint i = 0; i < f->reports->len; i++)
		g_printerr("report: %s\n", (const char *)g_ptr_array_index(f->reports, i));
	g_error("no report %s", expected);
}

/* a report starting with @prefix; returns it */
static char *
wait_report_prefix(Fixture *f, const char *prefix)
{
	gint64 deadline = g_get_monotonic_time() + SEC(5);

	while (g_get_monotonic_time() < deadline) {
		for (guint i = 0; i < f->reports->len; i++) {
			if (g_str_has_prefix(g_ptr_array_index(f->reports, i), prefix))
				return g_ptr_array_steal_index(f->reports, i);
		}
		g_main_context_iteration(NULL, TRUE);
	}
	g_error("no report %s...", prefix);
	return NULL;
}

static char *
read_file(Fixture *f, const char *name)
{
	g_autofree char *path = g_build_filename(f->dir, name, NULL);
	g_autoptr(GError) error = NULL;
	char *contents = NULL;

	g_file_get_contents(path, &contents, NULL, &error);
	g_assert_no_error(error);
	return contents;
}

static void
assert_file(Fixture *f, const char *name, const char *expected)
{
	g_autofree char *contents = read_file(f, name);
	g_assert_cmpstr(contents, ==, expected);
}

/* the recording script with that tag sleeps that long at its end */
static void
set_sleep(Fixture *f, const char *tag, const char *seconds)
{
	g_autofree char *name = g_strdup_printf("%s.sleep", tag);
	g_autofree char *path = g_build_filename(f->dir, name, NULL);
	g_autoptr(GError) error = NULL;

	g_file_set_contents(path, seconds, -1, &error);
	g_assert_no_error(error);
}

static gboolean
file_exists(Fixture *f, const char *name)
{
	g_autofree char *path = g_build_filename(f->dir, name, NULL);
	return g_file_test(path, G_FILE_TEST_EXISTS);
}

static gint
compare_strings(gconstpointer a, gconstpointer b)
{
	return g_strcmp0(*(const char *const *)a, *(const char *const *)b);
}

/* the PORTMAP_* lines of a recorded environment, sorted, and whether a secret is there */
static char *
portmap_env(Fixture *f, const char *name)
{
	g_autofree char *contents = read_file(f, name);
	g_auto(GStrv) lines = g_strsplit(contents, "\n", -1);
	g_autoptr(GPtrArray) found = g_ptr_array_new();

	for (guint i = 0; lines[i] != NULL; i++) {
		/* the secrets of the replaced tools never reach a hook */
		g_assert_false(g_str_has_prefix(lines[i], "API_TOKEN="));
		g_assert_false(g_str_has_prefix(lines[i], "VPN_PORT_FORWARDING_PASSWORD="));
		if (g_str_has_prefix(lines[i], "PORTMAP_"))
			g_ptr_array_add(found, lines[i]);
	}
	g_ptr_array_sort(found, compare_strings);
	g_ptr_array_add(found, NULL);
	return g_strjoinv("\n", (char **)found->pdata);
}

static void
view_init(PmMappingView *view, guint64 id, guint16 tcp_port, guint16 udp_port)
{
	memset(view, 0, sizeof(*view));
	view->id = id;
	view->name = "torrent";
	view->provider = "vpn";
	g_strlcpy(view->external_address, "203.0.113.5", sizeof(view->external_address));
	view->ports.n_ports = 2;
	view->ports.ports[0] = (PmPortPair){PM_PROTOCOL_TCP, 51413, tcp_port};
	view->ports.ports[1] = (PmPortPair){PM_PROTOCOL_UDP, 51413, udp_port};
	/* a peer on this host: the route goes through lo */
	view->provider_peer = g_htonl(0x7f000001);
}

static void
push_up(PmConsumer *consumer, guint16 tcp_port, guint16 udp_port)
{
	PmMappingView view;
	view_init(&view, 7, tcp_port, udp_port);
	pm_consumer_mapping_up(consumer, &view, &view.ports, PM_CONSUMER_PUSH_GRANT);
}

static void
push_change(PmConsumer *consumer, guint16 old_port, guint16 tcp_port, guint16 udp_port)
{
	PmMappingView view;
	PmMappingView previous;
	view_init(&view, 7, tcp_port, udp_port);
	view_init(&previous, 7, old_port, old_port);
	pm_consumer_mapping_changed(consumer, &view, &view.ports, &previous.ports);
}

static void
push_down(PmConsumer *consumer, guint16 tcp_port, guint16 udp_port)
{
	PmMappingView view;
	view_init(&view, 7, tcp_port, udp_port);
	pm_consumer_mapping_down(consumer, &view, &view.ports);
}

#define ENV(event, external, old, ports, port, tcp, udp)                                          \
	"PORTMAP_EVENT=" event "\nPORTMAP_EXTERNAL_ADDRESS=203.0.113.5\n"                       \
	"PORTMAP_EXTERNAL_PORT=" external "\nPORTMAP_INTERFACE=lo\n"                            \
	"PORTMAP_INTERNAL_PORT=51413\nPORTMAP_MAPPING=torrent\nPORTMAP_OLD_PORT=" old "\n"      \
	"PORTMAP_PORT=" port "\nPORTMAP_PORTS=" ports "\nPORTMAP_PROVIDER=vpn\n"                \
	"PORTMAP_TCP_PORT=" tcp "\nPORTMAP_UDP_PORT=" udp

/* Exec=: the event last, templates expanded in each argument, PORTMAP_* set */
static void
test_exec(void)
{
	Fixture f = {0};
	PmConsumer *hook;
	g_autofree char *env = NULL;

	fixture_init(&f);
	hook = fixture_consumer(&f, "hook",
				"Exec=SCRIPT t \"ports {{PORTS}}\" p={{PORT}} "
				"if={{VPN_INTERFACE}} '{{PORT}}{{PORT}}'\n");
	push_up(hook, 41000, 41001);
	wait_report(&f, "hook:7:pending:");
	wait_report(&f, "hook:7:ok:");
	assert_file(&f, "t.argv", "t\nports 41000,41001\np=41000\nif=lo\n4100041000\nup\n");
	env = portmap_env(&f, "t.env");
	g_assert_cmpstr(env, ==, ENV("up", "41000", "", "41000,41001", "41000", "41000", "41001"));
	g_clear_pointer(&env, g_free);
	/* the hook's output, each line under the consumer's name */
	g_assert_true(logged("hook: hello from t"));
	g_assert_true(logged("hook: a word on stderr"));

	push_change(hook, 41000, 42000, 42000);
	wait_report(&f, "hook:7:pending:");
	wait_report(&f, "hook:7:ok:");
	assert_file(&f, "t.argv", "t\nports 42000\np=42000\nif=lo\n4200042000\nchange\n");
	env = portmap_env(&f, "t.env");
	g_assert_cmpstr(env, ==, ENV("change", "42000", "41000", "42000", "42000", "42000", "42000"));
	g_clear_pointer(&env, g_free);

	push_down(hook, 42000, 42000);
	wait_report(&f, "hook:7:pending:");
	wait_report(&f, "hook:7:ok:");
	assert_file(&f, "t.argv", "t\nports 42000\np=42000\nif=lo\n4200042000\ndown\n");
	env = portmap_env(&f, "t.env");
	g_assert_cmpstr(env, ==, ENV("down", "42000", "", "42000", "42000", "42000", "42000"));
	assert_file(&f, "t.log", "up\nchange\ndown\n");
	fixture_clear(&f);
}

/* ExecUp= on up and change, ExecDown= on down, nothing appended; either may be absent */
static void
test_exec_up_down(void)
{
	Fixture f = {0};
	PmConsumer *both;
	PmConsumer *down_only;

	fixture_init(&f);
	both = fixture_consumer(&f, "both", "ExecUp=SCRIPT u {{PORT}}\nExecDown=SCRIPT d\n");
	down_only = fixture_consumer(&f, "downonly", "ExecDown=SCRIPT o\n");
	push_up(both, 41000, 41000);
	push_up(down_only, 41000, 41000);
	wait_report(&f, "downonly:7:ok:");
	wait_report(&f, "both:7:ok:");
	assert_file(&f, "u.argv", "u\n41000\n");
	push_change(both, 41000, 41002, 41002);
	wait_report(&f, "both:7:ok:");
	assert_file(&f, "u.argv", "u\n41002\n");
	assert_file(&f, "u.log", "up\nchange\n");
	push_down(both, 41002, 41002);
	push_down(down_only, 41002, 41002);
	wait_report(&f, "both:7:ok:");
	wait_report(&f, "downonly:7:ok:");
	assert_file(&f, "d.argv", "d\n");
	assert_file(&f, "d.log", "down\n");
	assert_file(&f, "o.log", "down\n");
	g_assert_false(file_exists(&f, "u.env") && !file_exists(&f, "u.argv"));
	fixture_clear(&f);
}

/* a non-zero status, with the last line of stderr; a signal; a program that is not there */
static void
test_failure(void)
{
	Fixture f = {0};
	PmConsumer *status;
	PmConsumer *signalled;
	PmConsumer *missing;
	PmConsumer *binary;

	fixture_init(&f);
	status = fixture_consumer(&f, "status",
				  "Exec=/bin/sh -c 'echo first >&2; echo oops >&2; exit 3'\n");
	signalled = fixture_consumer(&f, "signalled", "Exec=/bin/sh -c 'kill -TERM $$'\n");
	missing = fixture_consumer(&f, "missing", "ExecUp=/nonexistent/hook\n");
	/* output that is not text is read to its end, and logged as valid text */
	binary = fixture_consumer(&f, "binary",
				  "Exec=/bin/sh -c 'printf \"\\\\377\\\\376 x\\\\n\"; echo after'\n");
	push_up(binary, 41000, 41000);
	push_up(status, 41000, 41000);
	push_up(signalled, 41000, 41000);
	push_up(missing, 41000, 41000);
	wait_report(&f, "status:7:failed:exited with status 3: oops");
	wait_report(&f, "signalled:7:failed:killed by signal 15 (Terminated)");
	{
		g_autofree char *report = wait_report_prefix(&f, "missing:7:failed:");
		g_assert_true(g_str_has_prefix(report,
					       "missing:7:failed:cannot run /nonexistent/hook: "));
	}
	g_assert_true(logged("status: oops"));
	wait_report(&f, "binary:7:ok:");
	g_assert_true(logged("binary: \xef\xbf\xbd\xef\xbf\xbd x"));
	g_assert_true(logged("binary: after"));
	fixture_clear(&f);
}

/* a hook that hangs is killed with what it started at TimeoutSec=; another consumer's
 * hook is not held up by it */
static void
test_timeout(void)
{
	Fixture f = {0};
	PmConsumer *hang;
	PmConsumer *quick;
	gint64 start = g_get_monotonic_time();
	g_autofree char *pid_text = NULL;
	g_autofree char *stat_path = NULL;
	g_autofree char *stat = NULL;

	fixture_init(&f);
	hang = fixture_consumer(&f, "hang",
				"TimeoutSec=1\n"
				"Exec=/bin/sh -c 'sleep 30 & echo $! >\"$HOOK_DIR/child\"; wait'\n");
	quick = fixture_consumer(&f, "quick", "Exec=/bin/sh -c 'sleep 0.2; echo done'\n");
	push_up(hang, 41000, 41000);
	push_up(quick, 41000, 41000);
	wait_report(&f, "quick:7:ok:");
	g_assert_cmpint(g_get_monotonic_time() - start, <, SEC(1));
	g_assert_true(logged("quick: done"));
	wait_report(&f, "hang:7:failed:timed out after 1 s, killed");
	g_assert_cmpint(g_get_monotonic_time() - start, >=, SEC(1));
	g_assert_cmpint(g_get_monotonic_time() - start, <, SEC(3));
	/* its background child went with it (gone, or a zombie nobody reaped yet) */
	pid_text = read_file(&f, "child");
	g_strstrip(pid_text);
	stat_path = g_strdup_printf("/proc/%s/stat", pid_text);
	/* its output closed as it began to exit: give it the moment to end */
	for (guint i = 0; i < 100; i++) {
		g_clear_pointer(&stat, g_free);
		if (!g_file_get_contents(stat_path, &stat, NULL, NULL) || strstr(stat, ") Z ") != NULL)
			break;
		g_usleep(10000);
	}
	g_assert_true(stat == NULL || strstr(stat, ") Z ") != NULL);
	fixture_clear(&f);
}

/* one hook at a time per mapping, in order; a newer event replaces a waiting one */
static void
test_serial(void)
{
	Fixture f = {0};
	PmConsumer *hook;

	fixture_init(&f);
	set_sleep(&f, "s", "0.3");
	hook = fixture_consumer(&f, "hook", "Exec=SCRIPT s\n");
	push_up(hook, 41000, 41000);
	push_change(hook, 41000, 41001, 41001);
	push_change(hook, 41001, 41002, 41002);
	wait_report(&f, "hook:7:ok:");
	/* the two changes as one, from the port the hook last heard */
	assert_file(&f, "s.log", "up\nchange\n");
	assert_file(&f, "s.argv", "s\nchange\n");
	{
		g_autofree char *env = portmap_env(&f, "s.env");
		g_assert_cmpstr(env, ==, ENV("change", "41002", "41000", "41002", "41002", "41002", "41002"));
	}
	/* a change and a down behind a running hook: the down */
	push_change(hook, 41002, 41003, 41003);
	push_change(hook, 41003, 41004, 41004);
	push_down(hook, 41004, 41004);
	wait_report(&f, "hook:7:ok:");
	assert_file(&f, "s.log", "up\nchange\nchange\ndown\n");
	fixture_clear(&f);
}

/* removed while its hook runs: the hook ends, the down waiting behind it still runs, and
 * nobody hears a report */
static void
test_removed(void)
{
	Fixture f = {0};
	PmConsumer *hook;
	gint64 deadline;

	fixture_init(&f);
	set_sleep(&f, "r", "0.2");
	hook = fixture_consumer(&f, "hook", "Exec=SCRIPT r\n");
	push_up(hook, 41000, 41000);
	push_down(hook, 41000, 41000);
	g_ptr_array_remove(f.consumers, hook);
	drop_consumer(hook);
	g_ptr_array_set_size(f.reports, 0);
	deadline = g_get_monotonic_time() + SEC(5);
	while (g_get_monotonic_time() < deadline && !logged("hook: a word on stderr"))
		g_main_context_iteration(NULL, TRUE);
	g_ptr_array_set_size(messages, 0);
	while (g_get_monotonic_time() < deadline && !logged("hook: a word on stderr"))
		g_main_context_iteration(NULL, TRUE);
	/* the second hook's sleep, then its end */
	deadline = g_get_monotonic_time() + SEC(1);
	while (g_get_monotonic_time() < deadline)
		g_main_context_iteration(NULL, FALSE);
	assert_file(&f, "r.log", "up\ndown\n");
	g_assert_cmpuint(f.reports->len, ==, 0);
	fixture_clear(&f);
}

/* the keys: Exec= or ExecUp=/ExecDown=, split without a shell; TimeoutSec= at least 1 s */
static void
test_config(void)
{
	g_autoptr(PmConfig) config = NULL;
	g_autoptr(PmConfig) config2 = NULL;
	g_autoptr(GString) printed = g_string_new(NULL);

	pm_test_config_assert_load_error("[Consumer x]\nType=exec\nExec=/bin/true\nExecUp=/bin/up\n",
			  "test.conf:4: [Consumer x] ExecUp=/bin/up: Exec= is set as well: Exec= "
			  "runs for every event; accepted values: either Exec=, or ExecUp= and/or "
			  "ExecDown=");
	pm_test_config_assert_load_error("[Consumer x]\nType=exec\nExecDown=/bin/d\nExec=/bin/e\n",
			  "test.conf:3: [Consumer x] ExecDown=/bin/d: Exec= is set as well: Exec= "
			  "runs for every event; accepted values: either Exec=, or ExecUp= and/or "
			  "ExecDown=");
	pm_test_config_assert_load_error("[Consumer x]\nType=exec\nTimeoutSec=5\n",
			  "test.conf:1: [Consumer x]: Exec= is required: set Exec= (the event is "
			  "its last argument), or ExecUp= and/or ExecDown=");
	pm_test_config_assert_load_error("[Consumer x]\nType=exec\nExec=/bin/echo 'open\n",
			  "test.conf:3: [Consumer x] Exec=/bin/echo 'open: not a command (Text "
			  "ended before matching quote was found for '. (The text was “/bin/echo "
			  "'open”)); accepted values: a program and its arguments, split as sh(1) "
			  "splits words (no shell runs it)");
	pm_test_config_assert_load_error("[Consumer x]\nType=exec\nExec=/bin/true\nTimeoutSec=0\n",
			  "test.conf:4: [Consumer x] TimeoutSec=0: too short; accepted values: "
			  "seconds, or a duration such as 45s, 15min or 1min 30s (units us, ms, s, "
			  "sec, m, min, h, hr, d), at least 1s");
	pm_test_config_assert_load_error("[Consumer x]\nType=exec\nExec=/bin/true\nTimeoutSec=-1\n",
			  "test.conf:4: [Consumer x] TimeoutSec=-1: not a duration; accepted "
			  "values: seconds, or a duration such as 45s, 15min or 1min 30s (units us, "
			  "ms, s, sec, m, min, h, hr, d)");

	config = pm_test_config_load_ok("[Consumer x]\nType=exec\n"
					"ExecUp=/usr/bin/logger -t portmap \"port {{PORT}}\"\n"
					"ExecDown=/bin/d\\\\ir/x\n");
	pm_consumer_config_print(g_ptr_array_index(config->consumers, 0), printed);
	g_assert_cmpstr(printed->str, ==,
			"[Consumer x]\nType=exec\nExecUp=/usr/bin/logger -t portmap \"port "
			"{{PORT}}\"\nExecDown=/bin/d\\\\ir/x\nTimeoutSec=30s\n");
	config2 = pm_test_config_load_ok(printed->str);
	g_assert_true(pm_consumer_config_equal(g_ptr_array_index(config->consumers, 0),
					       g_ptr_array_index(config2->consumers, 0)));
}

int
main(int argc, char **argv)
{
	int status;

	g_test_init(&argc, &argv, NULL);
	g_log_set_always_fatal(G_LOG_FATAL_MASK | G_LOG_LEVEL_CRITICAL);
	g_log_set_writer_func(log_writer, NULL, NULL);
	messages = g_ptr_array_new_with_free_func(g_free);
	/* secrets of the replaced tools, which no hook may see */
	g_setenv("API_TOKEN", "natpmp-secret", TRUE);
	g_setenv("VPN_PORT_FORWARDING_PASSWORD", "gluetun-secret", TRUE);
	hook_dir = g_dir_make_tmp("portmap-exec-XXXXXX", NULL);
	g_assert_nonnull(hook_dir);
	g_setenv("HOOK_DIR", hook_dir, TRUE);
	g_test_add_func("/exec/exec", test_exec);
	g_test_add_func("/exec/exec-up-down", test_exec_up_down);
	g_test_add_func("/exec/failure", test_failure);
	g_test_add_func("/exec/timeout", test_timeout);
	g_test_add_func("/exec/serial", test_serial);
	g_test_add_func("/exec/removed", test_removed);
	g_test_add_func("/exec/config", test_config);
	status = g_test_run();
	g_rmdir(hook_dir);
	g_free(hook_dir);
	g_ptr_array_unref(messages);
	return status;
}
