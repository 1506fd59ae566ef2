/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The manager's extension points: its list of listeners (the bus layer and the --no-bus
 * status.json writer each register one), subsystems' extensions (Manager properties,
 * Describe() members, state.json sections), and the one description of a mapping that
 * the bus, Describe() and consumers share.
 */
#include <json-glib/json-glib.h>
#include <string.h>

#include "extensions.h"
#include "fake-consumer.h"
#include "manager-harness.h"
#include "test-log.h"

#define SEC(x) ((guint64)(x) * G_USEC_PER_SEC)

#define CONFIG_ONE_MAPPING                                                                       \
	PM_TEST_PROVIDER "[Mapping web]\nInternalPort=8080\nProtocols=tcp\n"

/* ---- listeners ---- */

typedef struct {
	const char *name;
	GPtrArray *log; /* shared by the listeners of a test */
} PmTestListener;

static void
record(PmTestListener *l, const char *what, PmMapping *mapping)
{
	g_ptr_array_add(l->log, g_strdup_printf("%s:%s:%s", l->name, what, mapping->name));
}

static void
on_added(PmMapping *mapping, gpointer user_data)
{
	record(user_data, "added", mapping);
}

static void
on_removed(PmMapping *mapping, gpointer user_data)
{
	record(user_data, "removed", mapping);
}

static void
on_changed(PmMapping *mapping, guint props, gpointer user_data)
{
	if (props & PM_MAPPING_PROP_STATE)
		record(user_data, "state", mapping);
}

static void
on_extension_changed(const PmManagerExtension *extension, const char *const *names,
		     gpointer user_data)
{
	PmTestListener *l = user_data;
	g_autofree char *joined = g_strjoinv(",", (char **)names);
	g_ptr_array_add(l->log, g_strdup_printf("%s:%s:%s", l->name, extension->name, joined));
}

static const PmManagerListener test_listener = {
    .mapping_added = on_added,
    .mapping_removed = on_removed,
    .mapping_changed = on_changed,
    .extension_changed = on_extension_changed,
};

static char *
take_log(GPtrArray *log)
{
	g_autofree char *joined = NULL;

	g_ptr_array_add(log, NULL);
	joined = g_strjoinv(" ", (char **)log->pdata);
	g_ptr_array_set_size(log, 0);
	return g_steal_pointer(&joined);
}

/* every listener hears every change, in the order they were added; one removed hears no
 * more */
static void
test_listeners(void)
{
	g_autoptr(PmTestManager) t = pm_test_manager_new_unstarted();
	g_autoptr(GPtrArray) log = g_ptr_array_new_with_free_func(g_free);
	PmTestListener a = {"a", log};
	PmTestListener b = {"b", log};
	guint id_a = pm_manager_add_listener(t->manager, &test_listener, &a);
	guint id_b = pm_manager_add_listener(t->manager, &test_listener, &b);
	g_autofree char *started = NULL;
	g_autofree char *removed = NULL;

	g_assert_cmpuint(id_a, >, 0);
	g_assert_cmpuint(id_b, !=, id_a);
	pm_test_manager_start(t, CONFIG_ONE_MAPPING);
	started = take_log(log);
	g_assert_cmpstr(started, ==, "a:added:web b:added:web a:state:web b:state:web");

	pm_manager_remove_listener(t->manager, id_a);
	pm_test_manager_reload(t, PM_TEST_PROVIDER);
	removed = take_log(log);
	g_assert_cmpstr(removed, ==, "b:removed:web");
	pm_manager_remove_listener(t->manager, id_b);
}

/* ---- extensions ---- */

typedef struct {
	guint32 count;
	JsonObject *loaded; /* what state_load was given */
} PmTestExtension;

static GVariant *
get_count(gpointer user_data)
{
	PmTestExtension *ext = user_data;
	return g_variant_new_uint32(ext->count);
}

static GVariant *
get_name(gpointer user_data)
{
	return g_variant_new_string("test");
}

static const PmManagerProperty test_properties[] = {
    {"TestCount", "u", TRUE, get_count},
    {"TestName", "s", FALSE, get_name},
    {NULL},
};

static void
test_describe(PmJsonWriter *writer, gpointer user_data)
{
	PmTestExtension *ext = user_data;
	pm_json_member_uint(writer, "TestCount", ext->count);
}

static void
test_state_save(PmJsonWriter *writer, gpointer user_data)
{
	PmTestExtension *ext = user_data;
	pm_json_member(writer, "Test");
	pm_json_begin_object(writer);
	pm_json_member_uint(writer, "Count", ext->count);
	pm_json_end_object(writer);
}

static void
test_state_load(JsonObject *root, gpointer user_data)
{
	PmTestExtension *ext = user_data;
	ext->loaded = json_object_ref(root);
}

static const PmManagerExtension test_extension = {
    .name = "test",
    .properties = test_properties,
    .describe = test_describe,
    .state_save = test_state_save,
    .state_load = test_state_load,
};

static void
test_extension_properties(void)
{
	g_autoptr(PmTestManager) t = pm_test_manager_new_unstarted();
	g_autoptr(GPtrArray) log = g_ptr_array_new_with_free_func(g_free);
	PmTestListener l = {"l", log};
	PmTestExtension ext = {.count = 7};
	guint id = pm_manager_add_extension(t->manager, &test_extension, &ext);
	const PmManagerProperty *prop;
	gpointer data = NULL;
	g_autoptr(GVariant) value = NULL;
	g_autofree char *told = NULL;
	const char *names[] = {"TestCount", NULL};

	g_assert_cmpuint(id, ==, 1);
	g_assert_cmpuint(pm_manager_get_n_extensions(t->manager), ==, 1);
	g_assert_true(pm_manager_get_extension(t->manager, 0, &data) == &test_extension);
	g_assert_true(data == &ext);
	pm_test_manager_start(t, CONFIG_ONE_MAPPING);
	pm_manager_add_listener(t->manager, &test_listener, &l);

	prop = pm_manager_lookup_property(t->manager, "TestCount", &data);
	g_assert_nonnull(prop);
	g_assert_cmpstr(prop->signature, ==, "u");
	value = g_variant_ref_sink(prop->get(data));
	g_assert_cmpuint(g_variant_get_uint32(value), ==, 7);
	g_assert_null(pm_manager_lookup_property(t->manager, "State", NULL));
	g_assert_null(pm_manager_lookup_property(t->manager, "Nothing", NULL));

	ext.count = 8;
	pm_manager_extension_changed(t->manager, id, names);
	told = take_log(log);
	g_assert_cmpstr(told, ==, "l:test:TestCount");
}

/* Describe() has the extensions' members after the core's, before the lists */
static void
test_extension_describe(void)
{
	g_autoptr(PmTestManager) t = pm_test_manager_new_unstarted();
	PmTestExtension ext = {.count = 3};
	g_autofree char *json = NULL;

	pm_manager_add_extension(t->manager, &test_extension, &ext);
	pm_test_manager_start(t, CONFIG_ONE_MAPPING);
	json = pm_manager_describe(t->manager);
	g_assert_nonnull(strstr(json, "\"ExternalAddress\":\"" PM_TEST_PUBLIC_ADDRESS "\","
				      "\"ConfigFiles\":["));
	g_assert_nonnull(strstr(json, "],\"TestCount\":3,\"Providers\":["));
}

/* state.json has each extension's section, and the next start gives it back */
static void
test_extension_state(void)
{
	g_autoptr(PmTestManager) t = pm_test_manager_new_unstarted();
	PmTestExtension ext = {.count = 5};
	PmTestExtension again = {0};
	g_autoptr(GError) error = NULL;
	g_autofree char *path = g_build_filename(t->state_dir, "state.json", NULL);
	g_autofree char *text = NULL;
	PmManager *second;

	pm_manager_add_extension(t->manager, &test_extension, &ext);
	pm_test_manager_start(t, CONFIG_ONE_MAPPING);
	g_assert_null(ext.loaded); /* no state file yet */
	g_assert_true(pm_manager_flush_state(t->manager, &error));
	g_assert_no_error(error);
	g_assert_true(g_file_get_contents(path, &text, NULL, &error));
	g_assert_nonnull(strstr(text, "\"Test\": {\n    \"Count\": 5\n  }"));

	second = pm_manager_new(t->context, t->state_dir);
	pm_manager_add_extension(second, &test_extension, &again);
	g_assert_true(pm_manager_start(second, pm_config_new_empty(), &error));
	g_assert_no_error(error);
	g_assert_nonnull(again.loaded);
	g_assert_cmpint(json_object_get_int_member(
			    json_object_get_object_member(again.loaded, "Test"), "Count"),
			==, 5);
	g_assert_true(json_object_has_member(again.loaded, "Mappings"));
	json_object_unref(again.loaded);
	pm_manager_free(second);
}

/* the daemon's stand-ins for STUN and the LAN gateway: what the bus contract has always
 * shown, now through the extension point */
static void
test_unconfigured_extensions(void)
{
	g_autoptr(PmTestManager) t = pm_test_manager_new_unstarted();
	g_autoptr(GError) error = NULL;
	g_autofree char *path = g_build_filename(t->state_dir, "state.json", NULL);
	g_autofree char *json = NULL;
	g_autofree char *text = NULL;
	const char *strings[][2] = {
	    {"PublicEndpoint", ""},
	    {"NATType", "unknown"},
	    {"MappingBehavior", "unknown"},
	    {"FilteringBehavior", "unknown"},
	};

	pm_manager_add_extension(t->manager, &pm_stun_unconfigured_extension, NULL);
	pm_manager_add_extension(t->manager, &pm_gateway_unconfigured_extension, NULL);
	pm_test_manager_start(t, CONFIG_ONE_MAPPING);
	for (guint i = 0; i < G_N_ELEMENTS(strings); i++) {
		gpointer data = NULL;
		const PmManagerProperty *prop =
		    pm_manager_lookup_property(t->manager, strings[i][0], &data);
		g_autoptr(GVariant) value = NULL;

		g_assert_nonnull(prop);
		g_assert_true(prop->emits_change);
		value = g_variant_ref_sink(prop->get(data));
		g_assert_cmpstr(g_variant_get_string(value, NULL), ==, strings[i][1]);
	}
	{
		const PmManagerProperty *prop =
		    pm_manager_lookup_property(t->manager, "GatewayMappings", NULL);
		g_autoptr(GVariant) value = g_variant_ref_sink(prop->get(NULL));
		g_assert_cmpuint(g_variant_get_uint32(value), ==, 0);
	}
	json = pm_manager_describe(t->manager);
	g_assert_nonnull(strstr(json, "\"PublicEndpoint\":\"\",\"NATType\":\"unknown\","
				      "\"MappingBehavior\":\"unknown\",\"FilteringBehavior\":"
				      "\"unknown\",\"GatewayMappings\":0,\"Providers\":["));
	g_assert_true(pm_manager_flush_state(t->manager, &error));
	g_assert_true(g_file_get_contents(path, &text, NULL, &error));
	g_assert_nonnull(strstr(text, "\"PIA\": {},\n  \"LANServer\": {\n    \"Epoch\": 0,\n"
				      "    \"Mappings\": {}\n  },\n  \"RouterRules\": [],\n"
				      "  \"Providers\": {\n    \"gw\": {"));
}

/* ---- the one description of a mapping ---- */

static void
test_describe_mapping(void)
{
	g_autoptr(PmTestManager) t =
	    pm_test_manager_new(PM_TEST_PROVIDER "[Mapping torrent]\nInternalPort=51413\n");
	PmMapping *m = pm_manager_lookup_name(t->manager, "torrent");
	PmMappingView view;
	g_autofree char *path = pm_mapping_get_path(m);
	g_autofree char *address = pm_ipv4_to_string(m->external_address);

	pm_manager_describe_mapping(t->manager, m, &view);
	g_assert_cmpuint(view.id, ==, m->id);
	g_assert_cmpstr(view.path, ==, path);
	g_assert_cmpstr(view.name, ==, "torrent");
	g_assert_cmpstr(view.provider, ==, "gw");
	g_assert_cmpstr(view.state, ==, "active");
	g_assert_cmpstr(view.protocols[0], ==, "tcp");
	g_assert_cmpstr(view.protocols[1], ==, "udp");
	g_assert_null(view.protocols[2]);
	g_assert_cmpstr(view.scope, ==, "persistent");
	g_assert_cmpstr(view.origin, ==, "config");
	g_assert_cmpstr(view.external_address, ==, PM_TEST_PUBLIC_ADDRESS);
	g_assert_cmpstr(view.external_address, ==, address);
	/* the provider has no route's source address through the fake gateway */
	g_assert_cmpstr(view.internal_address, ==, "");
	g_assert_cmpuint(view.internal_port, ==, 51413);
	g_assert_cmpuint(view.external_port, ==, 51413);
	g_assert_cmpuint(view.ports.n_ports, ==, 2);
	g_assert_cmpuint(view.ports.ports[1].protocol, ==, PM_PROTOCOL_UDP);
	g_assert_cmpuint(view.ports.ports[1].internal_port, ==, 51413);
	g_assert_cmpuint(view.ports.ports[1].external_port, ==, 51413);
	g_assert_cmpuint(view.lifetime, ==, 600);
	g_assert_cmpuint(view.expires_at, ==, pm_manager_get_expires_realtime(t->manager, m));
	g_assert_cmpuint(view.expires_at, ==,
			 G_GUINT64_CONSTANT(1700000000) * G_USEC_PER_SEC + SEC(600));
	g_assert_cmpstr(view.description, ==, "");
	g_assert_cmpstr(view.last_error, ==, "");
	g_assert_null(view.consumers);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	pm_fake_consumer_register();
	pm_test_log_init();
	g_test_add_func("/manager/listeners", test_listeners);
	g_test_add_func("/manager/extension/properties", test_extension_properties);
	g_test_add_func("/manager/extension/describe", test_extension_describe);
	g_test_add_func("/manager/extension/state", test_extension_state);
	g_test_add_func("/manager/extension/unconfigured", test_unconfigured_extensions);
	g_test_add_func("/manager/describe-mapping", test_describe_mapping);
	return g_test_run();
}
