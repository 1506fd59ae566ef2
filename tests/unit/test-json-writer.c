/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <json-glib/json-glib.h>
#include <string.h>

#include "json-writer.h"

/* every character a string may hold: escapes, control characters, UTF-8 */
static const char *const pm_test_strings[] = {
    "",
    "plain",
    "quote \" backslash \\ slash /",
    "\"\\",
    "tab\tnewline\nreturn\r",
    "\x01\x02\x1f\x7f",
    "ünïcödé → ✓",
    "ends with an escape\n",
    "\\",
};

static JsonNode *
pm_test_parse(const char *text)
{
	g_autoptr(JsonParser) parser = json_parser_new();
	g_autoptr(GError) error = NULL;

	if (!json_parser_load_from_data(parser, text, -1, &error))
		g_error("not JSON (%s): %s", error->message, text);
	return json_node_copy(json_parser_get_root(parser));
}

static void
pm_test_json_writer_compact(void)
{
	PmJsonWriter w;
	g_autofree char *text = NULL;

	pm_json_writer_init(&w, 0, FALSE);
	pm_json_begin_object(&w);
	pm_json_member_string(&w, "a", "x\"y");
	pm_json_member_int(&w, "b", -5);
	pm_json_member(&w, "c");
	pm_json_begin_array(&w);
	pm_json_bool(&w, TRUE);
	pm_json_uint(&w, G_MAXUINT64);
	pm_json_begin_object(&w);
	pm_json_end_object(&w);
	pm_json_begin_array(&w);
	pm_json_end_array(&w);
	pm_json_end_array(&w);
	pm_json_member_bool(&w, "d", FALSE);
	pm_json_end_object(&w);
	text = pm_json_writer_finish(&w);
	g_assert_cmpstr(text, ==,
			"{\"a\":\"x\\\"y\",\"b\":-5,\"c\":[true,18446744073709551615,{},[]],"
			"\"d\":false}");
}

/* strings survive a round trip through a real parser, as values and as member names,
 * pretty-printed or not */
static void
pm_test_json_writer_strings(void)
{
	for (guint pretty = 0; pretty <= 1; pretty++) {
		PmJsonWriter w;
		g_autofree char *text = NULL;
		g_autoptr(JsonNode) root = NULL;
		JsonObject *obj;
		JsonArray *values;

		pm_json_writer_init(&w, 16, pretty);
		pm_json_begin_object(&w);
		pm_json_member(&w, "values");
		pm_json_begin_array(&w);
		for (guint i = 0; i < G_N_ELEMENTS(pm_test_strings); i++)
			pm_json_string(&w, pm_test_strings[i]);
		pm_json_string(&w, NULL);
		pm_json_end_array(&w);
		for (guint i = 0; i < G_N_ELEMENTS(pm_test_strings); i++)
			pm_json_member_int(&w, pm_test_strings[i], i);
		pm_json_member_int(&w, "min", G_MININT64);
		pm_json_end_object(&w);
		text = pm_json_writer_finish(&w);

		root = pm_test_parse(text);
		obj = json_node_get_object(root);
		values = json_object_get_array_member(obj, "values");
		g_assert_cmpuint(json_array_get_length(values), ==,
				 G_N_ELEMENTS(pm_test_strings) + 1);
		for (guint i = 0; i < G_N_ELEMENTS(pm_test_strings); i++) {
			g_assert_cmpstr(json_array_get_string_element(values, i), ==,
					pm_test_strings[i]);
			g_assert_cmpint(json_object_get_int_member(obj, pm_test_strings[i]), ==, i);
		}
		/* NULL is written as "" */
		g_assert_cmpstr(json_array_get_string_element(values,
							      G_N_ELEMENTS(pm_test_strings)),
				==, "");
		g_assert_cmpint(json_object_get_int_member(obj, "min"), ==, G_MININT64);
		/* no raw control character reaches the text */
		for (const char *p = text; *p != '\0'; p++)
			g_assert_true((guchar)*p >= 0x20 || (pretty && *p == '\n'));
	}
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/json-writer/compact", pm_test_json_writer_compact);
	g_test_add_func("/json-writer/strings", pm_test_json_writer_strings);
	return g_test_run();
}
