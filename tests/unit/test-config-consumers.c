/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * [Consumer NAME] through the class table, with the test-only classes of fake-consumer.c
 * (Type=fake, fake-single): Type= dispatch, the class's keys, its checks and its printing,
 * Consumers= naming consumers, and every error located as "FILE:LINE: [GROUP] KEY=VALUE:".
 */
#include <glib/gstdio.h>
#include <string.h>

#include "config.h"
#include "consumer.h"
#include "errors.h"
#include "test-config-load.h"
#include "fake-consumer.h"

#define PROVIDER_RFC                                                                             \
	"[Provider rfc]\n"                                                                       \
	"Type=natpmp\n"

static char *
print_consumer(const PmConsumerConfig *consumer)
{
	GString *str = g_string_new(NULL);
	pm_consumer_config_print(consumer, str);
	return g_string_free(str, FALSE);
}

static void
test_parse(void)
{
	g_autoptr(PmConfig) config = pm_test_config_load_ok(PROVIDER_RFC
					     "[Consumer files]\n"
					     "Type=fake\n"
					     "Path=/run/portmap/files.port\n"
					     "Fail=yes\n"
					     "Delay=1min 30s\n"
					     "[Consumer other]\n"
					     "Type=fake\n"
					     "[Mapping m]\n"
					     "InternalPort=8080\n"
					     "Consumers=files, other\n");
	const PmConsumerConfig *files = pm_config_find_consumer(config, "files");
	const PmConsumerConfig *other = pm_config_find_consumer(config, "other");
	const PmMappingConfig *mapping = pm_config_find_mapping(config, "m");
	g_autofree char *printed = NULL;
	g_autofree char *printed_other = NULL;
	const char *expected_consumers[] = {"files", "other", NULL};

	g_assert_cmpuint(config->consumers->len, ==, 2);
	g_assert_nonnull(files);
	g_assert_true(files->klass == pm_consumer_class_find("fake"));
	g_assert_cmpstr(files->name, ==, "files");
	printed = print_consumer(files);
	g_assert_cmpstr(printed, ==,
			"[Consumer files]\nType=fake\nPath=/run/portmap/files.port\nFail=yes\n"
			"Delay=90000000us\n");
	/* the class's default, which depends on the name (config_verify) */
	printed_other = print_consumer(other);
	g_assert_cmpstr(printed_other, ==,
			"[Consumer other]\nType=fake\nPath=/run/portmap/other.fake\nFail=no\n"
			"Delay=0us\n");
	g_assert_cmpstrv(mapping->consumers, expected_consumers);
	g_assert_null(pm_config_find_consumer(config, "m"));
	g_assert_cmpuint(config->warnings->len, ==, 0);
}

static void
test_no_consumers(void)
{
	g_autoptr(PmConfig) config = pm_test_config_load_ok(PROVIDER_RFC "[Consumer c]\nType=fake\n"
							  "[Mapping m]\nInternalPort=1\n"
							  "Consumers=\n");
	const PmMappingConfig *mapping = pm_config_find_mapping(config, "m");

	/* an empty list is none, and a consumer need not be used */
	g_assert_null(mapping->consumers);
	g_assert_cmpuint(config->consumers->len, ==, 1);
}

static void
test_type(void)
{
	pm_test_config_assert_load_error("[Daemon]\n\n[Consumer c]\nPath=/x\n",
			  "test.conf:3: [Consumer c]: Type= is required: set Type= to one of "
			  "portfile, webhook, exec, qbittorrent, transmission, deluge, fake, "
			  "fake-single");
	pm_test_config_assert_load_error("[Consumer c]\nType=ftp\n",
			  "test.conf:2: [Consumer c] Type=ftp: unknown consumer type; accepted "
			  "values: portfile, webhook, exec, qbittorrent, transmission, deluge, fake, "
			  "fake-single");
	/* every consumer type of the design has its class now: none is planned */
	for (const char *const *t = (const char *const[]){"qbittorrent", "transmission", "deluge",
							   NULL};
	     *t != NULL; t++) {
		g_assert_false(pm_consumer_type_is_planned(*t));
		g_assert_nonnull(pm_consumer_class_find(*t));
	}
	/* case matters, as for every other keyword of a type */
	pm_test_config_assert_load_error("[Consumer c]\nType=Fake\n",
			  "test.conf:2: [Consumer c] Type=Fake: unknown consumer type; accepted "
			  "values: portfile, webhook, exec, qbittorrent, transmission, deluge, fake, "
			  "fake-single");
}

static void
test_keys(void)
{
	pm_test_config_assert_load_error("[Consumer c]\nType=fake\nPort=1\n",
			  "test.conf:3: [Consumer c] Port=1: unknown key; accepted keys: Type, "
			  "Path, Fail, Delay");
	pm_test_config_assert_load_error("[Consumer c]\nType=fake\nFail=maybe\n",
			  "test.conf:3: [Consumer c] Fail=maybe: not a boolean; accepted values: "
			  "yes, no, true, false, on, off, 1, 0");
	pm_test_config_assert_load_error("[Consumer c]\nType=fake\nDelay=soon\n",
			  "test.conf:3: [Consumer c] Delay=soon: not a duration; accepted values: "
			  "seconds, or a duration such as 45s, 15min or 1min 30s (units us, ms, s, "
			  "sec, m, min, h, hr, d)");
	/* the class's own check, located at its key (config_verify) */
	pm_test_config_assert_load_error("[Consumer c]\nType=fake\nFail=no\nPath=run/c.port\n",
			  "test.conf:4: [Consumer c] Path=run/c.port: not an absolute path; "
			  "accepted values: a path starting with /");
	/* a string key takes no control characters, also when escaped */
	pm_test_config_assert_load_error("[Consumer c]\nType=fake\nPath=/a\\tb\n",
			  "test.conf:3: [Consumer c] Path=/a\\tb: a control character (\\n, \\t, "
			  "\\r) in the value; accepted values: text without control characters");
	/* the value is checked before the key: an invalid escape is its value's error */
	pm_test_config_assert_load_error("[Consumer c]\nType=fake\nPath=/a\\x\n",
			  "test.conf:3: [Consumer c] Path=/a\\x: invalid escape sequence; accepted "
			  "values: text in which a backslash starts one of the escapes \\s (space), "
			  "\\n (newline), \\t (tab), \\r (carriage return) or \\\\ (backslash)");
}

/* Type=portfile (consumers/portfile.c): its keys, errors located at them, and printing */
static void
test_portfile(void)
{
	g_autoptr(PmConfig) config = NULL;
	g_autoptr(PmConfig) config2 = NULL;
	g_autofree char *printed = NULL;
	g_autofree char *printed2 = NULL;

	pm_test_config_assert_load_error("[Consumer pf]\nType=portfile\nFormat=xml\n",
			  "test.conf:3: [Consumer pf] Format=xml: unknown format; accepted "
			  "values: ports, json");
	pm_test_config_assert_load_error("[Consumer pf]\nType=portfile\n\nPath=run/pf.port\n",
			  "test.conf:4: [Consumer pf] Path=run/pf.port: not an absolute path to "
			  "a file; accepted values: a path starting with /, not ending with /");
	pm_test_config_assert_load_error("[Consumer pf]\nType=portfile\nPath=/run/\n",
			  "test.conf:3: [Consumer pf] Path=/run/: not an absolute path to a "
			  "file; accepted values: a path starting with /, not ending with /");
	pm_test_config_assert_load_error("[Consumer pf]\nType=portfile\nUrl=x\n",
			  "test.conf:3: [Consumer pf] Url=x: unknown key; accepted keys: Type, "
			  "Path, Format");

	/* unset Path= stays unset: its default is the runtime directory's */
	config = pm_test_config_load_ok("[Consumer pf]\nType=portfile\n"
			 "[Consumer pj]\nType=portfile\nPath=/srv/p.json\nFormat=json\n");
	printed = print_consumer(g_ptr_array_index(config->consumers, 0));
	g_assert_cmpstr(printed, ==, "[Consumer pf]\nType=portfile\nFormat=ports\n");
	printed2 = print_consumer(g_ptr_array_index(config->consumers, 1));
	g_assert_cmpstr(printed2,
			==,
			"[Consumer pj]\nType=portfile\nPath=/srv/p.json\nFormat=json\n");
	config2 = pm_test_config_load_ok(printed2);
	g_assert_true(pm_consumer_config_equal(g_ptr_array_index(config->consumers, 1),
					       g_ptr_array_index(config2->consumers, 0)));
	g_assert_false(pm_consumer_config_equal(g_ptr_array_index(config->consumers, 0),
						g_ptr_array_index(config2->consumers, 0)));
}

static void
test_consumers_key(void)
{
	pm_test_config_assert_load_error(PROVIDER_RFC "[Consumer a]\nType=fake\n[Consumer b]\nType=fake\n"
				       "[Mapping m]\nInternalPort=1\nConsumers=a c\n",
			  "test.conf:9: [Mapping m] Consumers=a c: Consumer c is not defined; "
			  "accepted values: a, b");
	pm_test_config_assert_load_error(PROVIDER_RFC "[Consumer a]\nType=fake\n"
				       "[Mapping m]\nInternalPort=1\nConsumers=a,a\n",
			  "test.conf:7: [Mapping m] Consumers=a,a: Consumer a is listed twice; "
			  "accepted values: each consumer once");
	/* a consumer defined after the mapping that names it, or in another file, is found:
	 * groups are read by kind, not in file order */
	{
		g_autoptr(PmConfig) config =
		    pm_test_config_load_ok(PROVIDER_RFC "[Mapping m]\nInternalPort=1\nConsumers=late\n"
					 "[Consumer late]\nType=fake\n");
		g_assert_nonnull(pm_config_find_consumer(config, "late"));
	}
}

/* a drop-in that overrides a consumer's key: the error is at the drop-in's line */
static void
test_dropin_located(void)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *dir = g_dir_make_tmp("portmap-consumers-XXXXXX", &error);
	g_autofree char *main_path = NULL;
	g_autofree char *dropin_dir = NULL;
	g_autofree char *dropin = NULL;
	g_autofree char *expected = NULL;
	g_autoptr(PmConfig) config = NULL;

	g_assert_no_error(error);
	main_path = g_build_filename(dir, "portmapd.conf", NULL);
	dropin_dir = g_build_filename(dir, "portmapd.conf.d", NULL);
	dropin = g_build_filename(dropin_dir, "50-c.conf", NULL);
	g_assert_cmpint(g_mkdir(dropin_dir, 0700), ==, 0);
	g_file_set_contents(main_path, "[Consumer c]\nType=fake\nFail=no\n", -1, &error);
	g_assert_no_error(error);
	g_file_set_contents(dropin, "# later wins\n[Consumer c]\nFail=sometimes\n", -1, &error);
	g_assert_no_error(error);

	config = pm_config_load(main_path, &error);
	g_assert_null(config);
	expected = g_strdup_printf("%s:3: [Consumer c] Fail=sometimes: not a boolean; accepted "
				   "values: yes, no, true, false, on, off, 1, 0",
				   dropin);
	g_assert_error(error, PM_ERROR, PM_ERROR_INVALID_CONFIGURATION);
	g_assert_cmpstr(error->message, ==, expected);

	g_unlink(dropin);
	g_rmdir(dropin_dir);
	g_unlink(main_path);
	g_rmdir(dir);
}

/* a class of one mapping listed by two: the later one loses it, with a warning there */
static void
test_single_mapping(void)
{
	g_autoptr(PmConfig) config = pm_test_config_load_ok(PROVIDER_RFC
					     "[Consumer qbt]\n"
					     "Type=fake-single\n"
					     "[Consumer files]\n"
					     "Type=fake\n"
					     "[Mapping a]\n"
					     "InternalPort=1\n"
					     "Consumers=qbt files\n"
					     "[Mapping b]\n"
					     "InternalPort=2\n"
					     "Consumers=files qbt\n"
					     "[Mapping c]\n"
					     "InternalPort=3\n"
					     "Consumers=qbt\n");
	const char *a[] = {"qbt", "files", NULL};
	const char *b[] = {"files", NULL};

	g_assert_cmpstrv(pm_config_find_mapping(config, "a")->consumers, a);
	g_assert_cmpstrv(pm_config_find_mapping(config, "b")->consumers, b);
	g_assert_null(pm_config_find_mapping(config, "c")->consumers);
	g_assert_cmpuint(config->warnings->len, ==, 2);
	g_assert_cmpstr(g_ptr_array_index(config->warnings, 0), ==,
			"test.conf:12: [Mapping b] Consumers=files qbt: qbt ignored: consumer qbt "
			"(Type=fake-single) takes the port of one mapping, and has [Mapping a]'s; "
			"give this mapping a consumer of its own");
	g_assert_cmpstr(g_ptr_array_index(config->warnings, 1), ==,
			"test.conf:15: [Mapping c] Consumers=qbt: qbt ignored: consumer qbt "
			"(Type=fake-single) takes the port of one mapping, and has [Mapping a]'s; "
			"give this mapping a consumer of its own");
}

/* --print-config prints what loads again to an equal configuration, escapes included */
static void
test_round_trip(void)
{
	g_autoptr(PmConfig) config = pm_test_config_load_ok(PROVIDER_RFC
					     "[Consumer c]\n"
					     "Type=fake\n"
					     "Path=/odd dir\\\\name \\s\n"
					     "Delay=2s\n"
					     "[Consumer d]\n"
					     "Type=fake-single\n"
					     "[Mapping m]\n"
					     "InternalPort=1\n"
					     "Consumers=d c\n");
	g_autofree char *text = pm_config_to_data(config);
	g_autoptr(PmConfig) again = NULL;
	g_autofree char *text_again = NULL;

	g_assert_nonnull(strstr(text, "\n[Consumer c]\nType=fake\nPath=/odd dir\\\\name \\s\n"));
	g_assert_nonnull(strstr(text, "Consumers=d c\n"));
	again = pm_test_config_load_ok(text);
	g_assert_cmpuint(again->consumers->len, ==, 2);
	for (guint i = 0; i < config->consumers->len; i++)
		g_assert_true(pm_consumer_config_equal(g_ptr_array_index(config->consumers, i),
						       g_ptr_array_index(again->consumers, i)));
	g_assert_true(pm_mapping_config_equal(g_ptr_array_index(config->mappings, 0),
					      g_ptr_array_index(again->mappings, 0)));
	text_again = pm_config_to_data(again);
	g_assert_cmpstr(text, ==, text_again);
}

/* the spaces GKeyFile and portmapd would drop are written as \s, a backslash as \\ */
static void
test_print_string(void)
{
	g_autoptr(GString) out = g_string_new(NULL);

	pm_config_print_string(out, "A", " x ");
	pm_config_print_string(out, "B", " ");
	pm_config_print_string(out, "C", "a b\\c");
	pm_config_print_string(out, "D", "");
	g_assert_cmpstr(out->str, ==, "A=\\sx\\s\nB=\\s\nC=a b\\\\c\nD=\n");
}

static void
test_equal(void)
{
	g_autoptr(PmConfig) a = pm_test_config_load_ok("[Consumer c]\nType=fake\n[Consumer d]\nType=fake\n");
	g_autoptr(PmConfig) b = pm_test_config_load_ok("[Consumer c]\nType=fake\nPath=/run/portmap/c.fake\n"
					"[Consumer d]\nType=fake\nDelay=1s\n");
	g_autoptr(PmConfig) c = pm_test_config_load_ok("[Consumer c]\nType=fake-single\n");

	/* the default written out is the same configuration */
	g_assert_true(pm_consumer_config_equal(pm_config_find_consumer(a, "c"),
					       pm_config_find_consumer(b, "c")));
	g_assert_false(pm_consumer_config_equal(pm_config_find_consumer(a, "d"),
						pm_config_find_consumer(b, "d")));
	/* another class is another consumer, whatever its keys */
	g_assert_false(pm_consumer_config_equal(pm_config_find_consumer(a, "c"),
						pm_config_find_consumer(c, "c")));
	g_assert_false(pm_consumer_config_equal(pm_config_find_consumer(a, "c"),
						pm_config_find_consumer(a, "d")));
	g_assert_false(pm_consumer_config_equal(pm_config_find_consumer(a, "c"), NULL));
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	pm_fake_consumer_register();
	g_test_add_func("/config/consumers/parse", test_parse);
	g_test_add_func("/config/consumers/none", test_no_consumers);
	g_test_add_func("/config/consumers/type", test_type);
	g_test_add_func("/config/consumers/keys", test_keys);
	g_test_add_func("/config/consumers/consumers-key", test_consumers_key);
	g_test_add_func("/config/consumers/portfile", test_portfile);
	g_test_add_func("/config/consumers/dropin-located", test_dropin_located);
	g_test_add_func("/config/consumers/single-mapping", test_single_mapping);
	g_test_add_func("/config/consumers/round-trip", test_round_trip);
	g_test_add_func("/config/consumers/print-string", test_print_string);
	g_test_add_func("/config/consumers/equal", test_equal);
	return g_test_run();
}
