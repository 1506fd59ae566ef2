/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * [Consumer NAME] Type=portfile (consumers/portfile.c) driven by the manager on virtual
 * time, with the real natpmp provider against the gateway of manager-harness.c, writing
 * into a temporary runtime directory: the file's content in both formats after a grant,
 * a port change and a loss, its atomic replacement, and a file that cannot be written.
 */
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <string.h>
#include <sys/stat.h>

#include "consumer.h"
#include "manager-harness.h"
#include "natpmp.h"
#include "test-log.h"

#define SEC(x) ((guint64)(x) * G_USEC_PER_SEC)

/* no reconcile run in the middle of a test */
#define DAEMON_QUIET "[Daemon]\nReconcileInterval=1h\n"

typedef struct {
	PmTestManager *t;
	char *dir; /* the runtime directory */
} Fixture;

static void
fixture_start(Fixture *f, const char *config)
{
	g_autoptr(GError) error = NULL;

	f->dir = g_dir_make_tmp("portmap-portfile-XXXXXX", &error);
	g_assert_no_error(error);
	f->t = pm_test_manager_new_unstarted();
	/* --runtime-dir: where a Path= left unset writes */
	pm_context_set_runtime_dir(f->t->context, f->dir);
	pm_test_manager_start(f->t, config);
}

static void
fixture_stop(Fixture *f)
{
	g_autoptr(GDir) dir = NULL;
	const char *name;

	g_clear_pointer(&f->t, pm_test_manager_free);
	dir = g_dir_open(f->dir, 0, NULL);
	while (dir != NULL && (name = g_dir_read_name(dir)) != NULL) {
		g_autofree char *path = g_build_filename(f->dir, name, NULL);
		g_unlink(path);
	}
	g_rmdir(f->dir);
	g_free(f->dir);
}

static char *
read_port_file(Fixture *f, const char *name)
{
	g_autofree char *path = g_build_filename(f->dir, name, NULL);
	g_autoptr(GError) error = NULL;
	char *contents = NULL;

	g_file_get_contents(path, &contents, NULL, &error);
	g_assert_no_error(error);
	return contents;
}

static void
assert_port_file(Fixture *f, const char *name, const char *expected)
{
	g_autofree char *contents = read_port_file(f, name);
	g_assert_cmpstr(contents, ==, expected);
}

#define CONFIG_PORTS                                                                             \
	DAEMON_QUIET PM_TEST_PROVIDER "[Consumer pf]\nType=portfile\n"                           \
				      "[Mapping torrent]\nInternalPort=51413\nConsumers=pf\n"    \
				      "[Mapping web]\nInternalPort=8080\nProtocols=tcp\n"        \
				      "Consumers=pf\n"                                           \
				      "[Mapping other]\nInternalPort=9000\nProtocols=tcp\n"

/* Format=ports: each distinct port once, in mapping order, gluetun's shape */
static void
test_ports(void)
{
	Fixture f = {0};
	g_autofree char *path = NULL;
	GStatBuf st;

	fixture_start(&f, CONFIG_PORTS);
	/* the default path: RUNTIME_DIR/NAME.port; TCP and UDP share 51413: once */
	assert_port_file(&f, "pf.port", "51413\n8080\n");
	pm_test_manager_assert_consumers(f.t, "torrent", "pf:ok:");
	pm_test_manager_assert_consumers(f.t, "web", "pf:ok:");
	path = g_build_filename(f.dir, "pf.port", NULL);
	g_assert_cmpint(g_stat(path, &st), ==, 0);
	g_assert_cmpint(st.st_mode & 07777, ==, 0644);

	/* a new E on renewal: the file follows (after the re-map with I = E) */
	pm_test_manager_grant_next(f.t, PM_NATPMP_OP_MAP_TCP, 51413, 41000);
	pm_test_manager_advance(f.t, SEC(301));
	assert_port_file(&f, "pf.port", "41000\n8080\n");
	pm_test_manager_assert_consumers(f.t, "torrent", "pf:ok:");

	/* lost: its ports leave the file, which is empty when none is left */
	pm_test_manager_gateway_down(f.t);
	pm_test_manager_advance(f.t, SEC(601));
	g_assert_cmpint(pm_manager_lookup_name(f.t->manager, "torrent")->state,
			==,
			PM_MAPPING_STATE_RETRYING);
	assert_port_file(&f, "pf.port", "");
	/* no temporary file left behind */
	{
		g_autoptr(GDir) dir = g_dir_open(f.dir, 0, NULL);
		g_assert_cmpstr(g_dir_read_name(dir), ==, "pf.port");
		g_assert_null(g_dir_read_name(dir));
	}
	pm_test_log_clear();
	fixture_stop(&f);
}

/* one mapping of two removed by a reload: only its ports leave */
static void
test_ports_one_removed(void)
{
	Fixture f = {0};

	fixture_start(&f, CONFIG_PORTS);
	assert_port_file(&f, "pf.port", "51413\n8080\n");
	pm_test_manager_reload(f.t,
			       DAEMON_QUIET PM_TEST_PROVIDER
			       "[Consumer pf]\nType=portfile\n"
			       "[Mapping torrent]\nInternalPort=51413\nConsumers=pf\n"
			       "[Mapping other]\nInternalPort=9000\nProtocols=tcp\n");
	assert_port_file(&f, "pf.port", "51413\n");
	pm_test_manager_assert_consumers(f.t, "torrent", "pf:ok:");
	pm_test_log_clear();
	fixture_stop(&f);
}

static JsonObject *
parse_object(JsonParser *parser, const char *text)
{
	g_autoptr(GError) error = NULL;
	JsonNode *root;

	json_parser_load_from_data(parser, text, -1, &error);
	g_assert_no_error(error);
	root = json_parser_get_root(parser);
	g_assert_nonnull(root);
	g_assert_true(JSON_NODE_HOLDS_OBJECT(root));
	return json_node_get_object(root);
}

static void
assert_time(JsonObject *object, const char *member)
{
	const char *text = json_object_get_string_member(object, member);
	g_assert_nonnull(text);
	g_assert_true(g_regex_match_simple("^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ$",
					   text,
					   0,
					   0));
}

static void
assert_mapping_members(JsonObject *object, const char *name, guint port, guint internal_port,
		       const char *protocols)
{
	JsonArray *array = json_object_get_array_member(object, "protocols");
	g_autoptr(GString) str = g_string_new(NULL);

	g_assert_cmpint(json_object_get_int_member(object, "port"), ==, port);
	g_assert_cmpint(json_object_get_int_member(object, "internal_port"), ==, internal_port);
	g_assert_cmpstr(json_object_get_string_member(object, "external_address"),
			==,
			PM_TEST_PUBLIC_ADDRESS);
	for (guint i = 0; i < json_array_get_length(array); i++)
		g_string_append_printf(str,
				       "%s%s",
				       i > 0 ? "," : "",
				       json_array_get_string_element(array, i));
	g_assert_cmpstr(str->str, ==, protocols);
	g_assert_cmpstr(json_object_get_string_member(object, "provider"), ==, "gw");
	g_assert_cmpstr(json_object_get_string_member(object, "mapping"), ==, name);
	assert_time(object, "timestamp");
	assert_time(object, "next_refresh");
}

/* Format=json: the first mapping's members, as the PIA manager wrote them, and all */
static void
test_json(void)
{
	Fixture f = {0};
	g_autoptr(JsonParser) parser = json_parser_new();
	g_autofree char *text = NULL;
	JsonObject *object;
	JsonArray *mappings;

	fixture_start(&f,
		      DAEMON_QUIET PM_TEST_PROVIDER
		      "[Consumer pf]\nType=portfile\nFormat=json\n"
		      "[Mapping torrent]\nInternalPort=51413\nConsumers=pf\n"
		      "[Mapping web]\nInternalPort=8080\nProtocols=tcp\nConsumers=pf\n");
	text = read_port_file(&f, "pf.port");
	object = parse_object(parser, text);
	assert_mapping_members(object, "torrent", 51413, 51413, "tcp,udp");
	/* on the daemon's clock (virtual: 1700000000 s at start), the 600 s lease's end */
	g_assert_cmpstr(json_object_get_string_member(object, "timestamp"),
			==,
			"2023-11-14T22:13:20Z");
	g_assert_cmpstr(json_object_get_string_member(object, "next_refresh"),
			==,
			"2023-11-14T22:23:20Z");
	mappings = json_object_get_array_member(object, "mappings");
	g_assert_cmpuint(json_array_get_length(mappings), ==, 2);
	assert_mapping_members(json_array_get_object_element(mappings, 0),
			       "torrent",
			       51413,
			       51413,
			       "tcp,udp");
	assert_mapping_members(json_array_get_object_element(mappings, 1),
			       "web",
			       8080,
			       8080,
			       "tcp");

	/* a port change */
	pm_test_manager_grant_next(f.t, PM_NATPMP_OP_MAP_TCP, 8080, 41000);
	pm_test_manager_advance(f.t, SEC(301));
	g_clear_pointer(&text, g_free);
	text = read_port_file(&f, "pf.port");
	object = parse_object(parser, text);
	assert_mapping_members(object, "torrent", 51413, 51413, "tcp,udp");
	mappings = json_object_get_array_member(object, "mappings");
	g_assert_cmpuint(json_array_get_length(mappings), ==, 2);
	assert_mapping_members(json_array_get_object_element(mappings, 1),
			       "web",
			       41000,
			       41000,
			       "tcp");

	/* lost: empty */
	pm_test_manager_gateway_down(f.t);
	pm_test_manager_advance(f.t, SEC(601));
	assert_port_file(&f, "pf.port", "");
	pm_test_log_clear();
	fixture_stop(&f);
}

/* a file that cannot be written: failed, saying which and why */
static void
test_unwritable(void)
{
	Fixture f = {0};
	g_autofree char *blocker = NULL;
	g_autofree char *config = NULL;
	g_autofree char *expected = NULL;
	g_autofree char *state = NULL;

	/* created before the manager starts, in a directory of its own */
	f.dir = g_dir_make_tmp("portmap-portfile-XXXXXX", NULL);
	blocker = g_build_filename(f.dir, "file", NULL);
	g_assert_true(g_file_set_contents(blocker, "", 0, NULL));
	config = g_strdup_printf(DAEMON_QUIET PM_TEST_PROVIDER
				 "[Consumer pf]\nType=portfile\nPath=%s/x.port\n"
				 "[Consumer sys]\nType=portfile\nPath=/sys/x.port\n"
				 "[Mapping web]\nInternalPort=8080\nProtocols=tcp\n"
				 "Consumers=pf, sys\n",
				 blocker);
	f.t = pm_test_manager_new_unstarted();
	pm_context_set_runtime_dir(f.t->context, f.dir);
	pm_test_manager_start(f.t, config);

	expected = g_strdup_printf("pf:failed:cannot write %s/x.port: Not a directory", blocker);
	state = pm_test_manager_consumers(f.t, "web");
	g_assert_true(g_str_has_prefix(state, expected));
	/* outside the runtime directory, the drop-in it needs */
	g_assert_nonnull(strstr(state,
				" sys:failed:cannot write /sys/x.port: "));
	g_assert_nonnull(strstr(state,
				": port files outside "));
	g_assert_nonnull(strstr(state,
				" need ReadWritePaths= in a drop-in for portmapd.service"));
	pm_test_assert_warning("cannot write");
	pm_test_log_clear();
	fixture_stop(&f);
}

/* atomic replacement: a reader never sees a part of the file while 1000 changes are
 * written, in either format */
typedef struct {
	char *path;
	gboolean json;
	gint stop;
	guint reads;
	guint bad; /* reads that were not a whole file */
	char *first_bad;
} Reader;

static gboolean
whole_ports(const char *text)
{
	/* two mappings, always: "E1\nE2\n" */
	g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
	if (g_strv_length(lines) != 3 || lines[2][0] != '\0')
		return FALSE;
	for (guint i = 0; i < 2; i++) {
		guint64 port;
		if (!g_ascii_string_to_unsigned(lines[i], 10, 1, 65535, &port, NULL))
			return FALSE;
	}
	return TRUE;
}

static gboolean
whole_json(const char *text)
{
	g_autoptr(JsonParser) parser = json_parser_new();
	JsonNode *root;
	JsonObject *object;

	if (!json_parser_load_from_data(parser, text, -1, NULL))
		return FALSE;
	root = json_parser_get_root(parser);
	if (root == NULL || !JSON_NODE_HOLDS_OBJECT(root))
		return FALSE;
	object = json_node_get_object(root);
	return json_object_has_member(object, "mappings") &&
	       json_array_get_length(json_object_get_array_member(object, "mappings")) == 2;
}

static gpointer
reader_thread(gpointer data)
{
	Reader *r = data;

	while (!g_atomic_int_get(&r->stop)) {
		g_autofree char *text = NULL;
		gboolean whole;

		/* before the first write there is no file */
		if (!g_file_get_contents(r->path, &text, NULL, NULL))
			continue;
		r->reads++;
		whole = r->json ? whole_json(text) : whole_ports(text);
		if (!whole) {
			r->bad++;
			if (r->first_bad == NULL)
				r->first_bad = g_steal_pointer(&text);
		}
	}
	return NULL;
}

static void
count_report(PmConsumer *consumer, guint64 mapping_id, PmConsumerState state,
	     const char *last_error, gpointer user_data)
{
	guint *n_ok = user_data;
	g_assert_cmpstr(last_error, ==, NULL);
	if (state == PM_CONSUMER_STATE_OK)
		(*n_ok)++;
}

static void
check_atomic(gboolean json)
{
	g_autofree char *dir = g_dir_make_tmp("portmap-portfile-XXXXXX", NULL);
	g_autofree char *text = g_strdup_printf("[Consumer pf]\nType=portfile\nFormat=%s\n",
						json ? "json" : "ports");
	g_autoptr(PmScheduler) scheduler = pm_scheduler_new_manual(SEC(1), SEC(1700000000), 1);
	g_autoptr(PmContext) context = pm_context_new(scheduler, PM_SECRET_POLICY_STRICT);
	g_autoptr(GError) error = NULL;
	g_autoptr(PmConfig) config = NULL;
	g_autoptr(PmConsumer) consumer = NULL;
	PmMappingView views[2] = {0};
	Reader r = {0};
	GThread *thread;
	guint n_ok = 0;

	config = pm_config_load_from_data(text, strlen(text), "test.conf", &error);
	g_assert_no_error(error);
	pm_context_set_runtime_dir(context, dir);
	consumer = pm_consumer_new(context, g_ptr_array_index(config->consumers, 0), &error);
	g_assert_no_error(error);
	pm_consumer_set_report_func(consumer, count_report, &n_ok);

	for (guint i = 0; i < 2; i++) {
		views[i].id = i + 1;
		views[i].name = i == 0 ? "a" : "b";
		views[i].provider = "gw";
		g_strlcpy(views[i].external_address,
			  PM_TEST_PUBLIC_ADDRESS,
			  sizeof(views[i].external_address));
		views[i].ports.n_ports = 1;
		views[i].ports.ports[0].protocol = PM_PROTOCOL_TCP;
		views[i].ports.ports[0].internal_port = 1000 + i;
		views[i].expires_at = SEC(1700000600);
	}
	for (guint i = 0; i < 2; i++) {
		views[i].ports.ports[0].external_port = 20000 + i;
		pm_consumer_mapping_up(consumer, &views[i], &views[i].ports, PM_CONSUMER_PUSH_GRANT);
	}

	r.path = g_build_filename(dir, "pf.port", NULL);
	r.json = json;
	thread = g_thread_new("reader", reader_thread, &r);
	for (guint i = 0; i < 1000; i++) {
		PmMappingView *view = &views[i % 2];
		PmMappingPorts previous = view->ports;
		/* ports of different lengths: a torn read shows */
		view->ports.ports[0].external_port = (i % 3 == 0) ? 1 + i : 60000 + i % 5000;
		pm_consumer_mapping_changed(consumer, view, &view->ports, &previous);
	}
	g_atomic_int_set(&r.stop, TRUE);
	g_thread_join(thread);

	/* each write is reported for every mapping in the file: 1 + 2 + 1000 × 2 */
	g_assert_cmpuint(n_ok, ==, 2003);
	g_assert_cmpuint(r.reads, >, 0);
	g_assert_cmpstr(r.first_bad, ==, NULL);
	g_assert_cmpuint(r.bad, ==, 0);
	g_test_message("%u reads, all whole", r.reads);

	g_unlink(r.path);
	g_free(r.path);
	g_rmdir(dir);
}

static void
test_atomic_ports(void)
{
	check_atomic(FALSE);
}

static void
test_atomic_json(void)
{
	check_atomic(TRUE);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	pm_test_log_init();
	g_test_add_func("/portfile/ports", test_ports);
	g_test_add_func("/portfile/ports/one-removed", test_ports_one_removed);
	g_test_add_func("/portfile/json", test_json);
	g_test_add_func("/portfile/unwritable", test_unwritable);
	g_test_add_func("/portfile/atomic/ports", test_atomic_ports);
	g_test_add_func("/portfile/atomic/json", test_atomic_json);
	return g_test_run();
}
