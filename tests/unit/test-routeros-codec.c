/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The RouterOS API word codec (daemon/proto/routeros.c): length prefixes with go-routeros's
 * test vectors and at every size boundary, sentences through the incremental parser in
 * any cuts, what the parser refuses, attributes and tags, the pre-6.43 login response.
 */
#include <string.h>

#include "routeros.h"

static GByteArray *
encode_length(guint32 len)
{
	GByteArray *out = g_byte_array_new();
	pm_ros_append_length(out, len);
	return out;
}

static void
assert_length_both_ways(guint32 len, const guint8 *bytes, gsize n)
{
	g_autoptr(GByteArray) out = encode_length(len);
	g_autoptr(GError) error = NULL;
	guint32 decoded = 0xdeadbeef;

	g_assert_cmpmem(out->data, out->len, bytes, n);
	g_assert_cmpint(pm_ros_decode_length(bytes, n, &decoded, &error), ==, (gssize)n);
	g_assert_no_error(error);
	g_assert_cmphex(decoded, ==, len);
	/* one byte short: not enough to tell */
	g_assert_cmpint(pm_ros_decode_length(bytes, n - 1, &decoded, &error), ==, 0);
	g_assert_no_error(error);
}

static void
test_length_vectors(void)
{
	assert_length_both_ways(1, (const guint8[]){0x01}, 1);
	assert_length_both_ways(0x87, (const guint8[]){0x80, 0x87}, 2);
	assert_length_both_ways(0x4321, (const guint8[]){0xC0, 0x43, 0x21}, 3);
	assert_length_both_ways(0x2ACDEF, (const guint8[]){0xE0, 0x2A, 0xCD, 0xEF}, 4);
	assert_length_both_ways(0x10000080, (const guint8[]){0xF0, 0x10, 0x00, 0x00, 0x80}, 5);
}

static void
test_length_boundaries(void)
{
	assert_length_both_ways(0, (const guint8[]){0x00}, 1);
	assert_length_both_ways(0x7F, (const guint8[]){0x7F}, 1);
	assert_length_both_ways(0x80, (const guint8[]){0x80, 0x80}, 2);
	assert_length_both_ways(0x3FFF, (const guint8[]){0xBF, 0xFF}, 2);
	assert_length_both_ways(0x4000, (const guint8[]){0xC0, 0x40, 0x00}, 3);
	assert_length_both_ways(0x1FFFFF, (const guint8[]){0xDF, 0xFF, 0xFF}, 3);
	assert_length_both_ways(0x200000, (const guint8[]){0xE0, 0x20, 0x00, 0x00}, 4);
	assert_length_both_ways(0xFFFFFFF, (const guint8[]){0xEF, 0xFF, 0xFF, 0xFF}, 4);
	assert_length_both_ways(0x10000000, (const guint8[]){0xF0, 0x10, 0x00, 0x00, 0x00}, 5);
	assert_length_both_ways(0xFFFFFFFF, (const guint8[]){0xF0, 0xFF, 0xFF, 0xFF, 0xFF}, 5);
}

static void
test_length_control_bytes(void)
{
	for (guint b = 0xF8; b <= 0xFF; b++) {
		g_autoptr(GError) error = NULL;
		guint8 data[5] = {b, 0, 0, 0, 0};
		guint32 len = 0;
		g_autoptr(PmRosParser) parser = pm_ros_parser_new();

		g_assert_cmpint(pm_ros_decode_length(data, sizeof(data), &len, &error), ==, -1);
		g_assert_error(error, PM_ROS_CODEC_ERROR, PM_ROS_CODEC_ERROR_CONTROL_BYTE);
		g_clear_error(&error);
		/* also after a good word, and final */
		g_assert_true(pm_ros_parser_feed(parser, (const guint8 *)"\x03!re", 4, &error));
		g_assert_false(pm_ros_parser_feed(parser, data, 1, &error));
		g_assert_error(error, PM_ROS_CODEC_ERROR, PM_ROS_CODEC_ERROR_CONTROL_BYTE);
		g_clear_error(&error);
		g_assert_false(pm_ros_parser_feed(parser, (const guint8 *)"\x00", 1, &error));
		g_assert_error(error, PM_ROS_CODEC_ERROR, PM_ROS_CODEC_ERROR_CONTROL_BYTE);
		g_assert_null(pm_ros_parser_pop(parser));
	}
	/* 0xF1..0xF7: a length over 32 bits */
	for (guint b = 0xF1; b <= 0xF7; b++) {
		g_autoptr(GError) error = NULL;
		guint8 data[5] = {b, 0, 0, 0, 0};
		guint32 len = 0;
		g_assert_cmpint(pm_ros_decode_length(data, sizeof(data), &len, &error), ==, -1);
		g_assert_error(error, PM_ROS_CODEC_ERROR, PM_ROS_CODEC_ERROR_TOO_LONG);
	}
}

static const char *const sentences[][8] = {
	{"/login", "=name=admin", "=password=", ".tag=1", NULL},
	{"!done", ".tag=1", NULL},
	{"!re", "=.id=*1", "=comment=double-natpmp-tcp-51413", "=a=b=c", ".tag=2", NULL},
	{"!trap", "=category=1", "=message=input does not match any value of interface", NULL},
	{"!empty", ".tag=5", NULL},
	{"!fatal", "not logged in", NULL},
	{"!done", "=ret=*1F", NULL},
};

static GByteArray *
encode_all(void)
{
	GByteArray *out = g_byte_array_new();
	for (guint i = 0; i < G_N_ELEMENTS(sentences); i++) {
		/* an empty sentence between: skipped */
		if (i == 3)
			pm_ros_append_length(out, 0);
		pm_ros_append_sentence(out, sentences[i]);
	}
	return out;
}

static void
assert_sentences(PmRosParser *parser)
{
	for (guint i = 0; i < G_N_ELEMENTS(sentences); i++) {
		g_autoptr(PmRosSentence) s = pm_ros_parser_pop(parser);
		guint n = g_strv_length((char **)sentences[i]);
		g_assert_nonnull(s);
		g_assert_cmpuint(s->words->len, ==, n);
		for (guint w = 0; w < n; w++)
			g_assert_cmpstr(g_ptr_array_index(s->words, w), ==, sentences[i][w]);
	}
	g_assert_null(pm_ros_parser_pop(parser));
	g_assert_cmpuint(pm_ros_parser_get_pending(parser), ==, 0);
}

/* a sentence cut anywhere: all its bytes are pending, none of it is popped */
static void
test_pending(void)
{
	g_autoptr(GByteArray) bytes = g_byte_array_new();
	g_autoptr(GError) error = NULL;

	pm_ros_append_sentence(bytes, sentences[2]);
	for (guint cut = 1; cut < bytes->len; cut++) {
		g_autoptr(PmRosParser) parser = pm_ros_parser_new();
		g_autoptr(PmRosSentence) s = NULL;
		g_assert_true(pm_ros_parser_feed(parser, bytes->data, cut, &error));
		g_assert_cmpuint(pm_ros_parser_get_pending(parser), ==, cut);
		g_assert_null(pm_ros_parser_pop(parser));
		g_assert_true(pm_ros_parser_feed(parser, bytes->data + cut, bytes->len - cut, &error));
		g_assert_cmpuint(pm_ros_parser_get_pending(parser), ==, 0);
		s = pm_ros_parser_pop(parser);
		g_assert_nonnull(s);
		g_assert_cmpstr(pm_ros_sentence_get_attribute(s, ".id"), ==, "*1");
	}
	g_assert_no_error(error);
}

static void
test_round_trip_all_at_once(void)
{
	g_autoptr(GByteArray) bytes = encode_all();
	g_autoptr(PmRosParser) parser = pm_ros_parser_new();
	g_autoptr(GError) error = NULL;

	g_assert_true(pm_ros_parser_feed(parser, bytes->data, bytes->len, &error));
	g_assert_no_error(error);
	assert_sentences(parser);
}

static void
test_round_trip_byte_by_byte(void)
{
	g_autoptr(GByteArray) bytes = encode_all();
	g_autoptr(PmRosParser) parser = pm_ros_parser_new();
	g_autoptr(GError) error = NULL;

	for (guint i = 0; i < bytes->len; i++) {
		g_assert_true(pm_ros_parser_feed(parser, bytes->data + i, 1, &error));
		g_assert_no_error(error);
	}
	assert_sentences(parser);
}

/* every cut in two, and every cut in three */
static void
test_round_trip_every_cut(void)
{
	g_autoptr(GByteArray) bytes = encode_all();

	for (guint a = 0; a <= bytes->len; a++) {
		for (guint b = a; b <= bytes->len; b += 7) {
			g_autoptr(PmRosParser) parser = pm_ros_parser_new();
			g_autoptr(GError) error = NULL;
			g_assert_true(pm_ros_parser_feed(parser, bytes->data, a, &error));
			g_assert_true(pm_ros_parser_feed(parser, bytes->data + a, b - a, &error));
			g_assert_true(pm_ros_parser_feed(parser, bytes->data + b, bytes->len - b,
							 &error));
			g_assert_no_error(error);
			assert_sentences(parser);
		}
	}
}

/* long words of each size class up to the largest accepted, byte by byte: linear, and
 * intact */
static void
test_round_trip_long_words(void)
{
	const gsize sizes[] = {0x7F, 0x80, 0x3FFF, 0x4000, PM_ROS_MAX_WORD_SIZE};
	g_autoptr(GByteArray) bytes = g_byte_array_new();
	g_autoptr(PmRosParser) parser = pm_ros_parser_new();
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) words = g_ptr_array_new_with_free_func(g_free);

	for (guint i = 0; i < G_N_ELEMENTS(sizes); i++) {
		char *word = g_malloc(sizes[i] + 1);
		memset(word, 'a' + i, sizes[i]);
		word[sizes[i]] = '\0';
		g_ptr_array_add(words, word);
	}
	g_ptr_array_add(words, NULL);
	pm_ros_append_sentence(bytes, (const char *const *)words->pdata);
	for (guint i = 0; i < bytes->len; i++)
		g_assert_true(pm_ros_parser_feed(parser, bytes->data + i, 1, &error));
	g_assert_no_error(error);
	{
		g_autoptr(PmRosSentence) s = pm_ros_parser_pop(parser);
		g_assert_nonnull(s);
		g_assert_cmpuint(s->words->len, ==, G_N_ELEMENTS(sizes));
		for (guint i = 0; i < G_N_ELEMENTS(sizes); i++) {
			const char *w = g_ptr_array_index(s->words, i);
			g_assert_cmpuint(strlen(w), ==, sizes[i]);
			g_assert_cmpint(w[0], ==, 'a' + i);
			g_assert_cmpint(w[sizes[i] - 1], ==, 'a' + i);
		}
	}
	g_assert_null(pm_ros_parser_pop(parser));
}

static void
test_oversize_word(void)
{
	g_autoptr(GByteArray) bytes = g_byte_array_new();
	g_autoptr(PmRosParser) parser = pm_ros_parser_new();
	g_autoptr(GError) error = NULL;

	/* refused from its length alone, before any of its bytes */
	pm_ros_append_length(bytes, PM_ROS_MAX_WORD_SIZE + 1);
	g_assert_false(pm_ros_parser_feed(parser, bytes->data, bytes->len, &error));
	g_assert_error(error, PM_ROS_CODEC_ERROR, PM_ROS_CODEC_ERROR_TOO_LONG);
}

static void
test_max_word_accepted(void)
{
	g_autoptr(GByteArray) bytes = g_byte_array_new();
	g_autoptr(PmRosParser) parser = pm_ros_parser_new();
	g_autoptr(GError) error = NULL;
	g_autofree char *word = g_malloc(PM_ROS_MAX_WORD_SIZE + 1);
	g_autoptr(PmRosSentence) s = NULL;

	memset(word, 'x', PM_ROS_MAX_WORD_SIZE);
	word[PM_ROS_MAX_WORD_SIZE] = '\0';
	pm_ros_append_sentence(bytes, (const char *const[]){"!re", word, NULL});
	g_assert_true(pm_ros_parser_feed(parser, bytes->data, bytes->len, &error));
	g_assert_no_error(error);
	s = pm_ros_parser_pop(parser);
	g_assert_nonnull(s);
	g_assert_cmpuint(strlen(g_ptr_array_index(s->words, 1)), ==, PM_ROS_MAX_WORD_SIZE);
}

static void
test_too_many_words(void)
{
	g_autoptr(GByteArray) bytes = g_byte_array_new();
	g_autoptr(PmRosParser) parser = pm_ros_parser_new();
	g_autoptr(GError) error = NULL;

	for (guint i = 0; i < PM_ROS_MAX_SENTENCE_WORDS; i++)
		pm_ros_append_word(bytes, "=a=b");
	g_assert_true(pm_ros_parser_feed(parser, bytes->data, bytes->len, &error));
	g_assert_no_error(error);
	g_byte_array_set_size(bytes, 0);
	pm_ros_append_word(bytes, "=a=b");
	g_assert_false(pm_ros_parser_feed(parser, bytes->data, bytes->len, &error));
	g_assert_error(error, PM_ROS_CODEC_ERROR, PM_ROS_CODEC_ERROR_TOO_LONG);
}

static void
test_nul_refused(void)
{
	const guint8 bytes[] = {0x03, '!', 'r', 'e', 0x03, 'a', 0x00, 'b', 0x00};
	g_autoptr(PmRosParser) parser = pm_ros_parser_new();
	g_autoptr(GError) error = NULL;

	g_assert_false(pm_ros_parser_feed(parser, bytes, sizeof(bytes), &error));
	g_assert_error(error, PM_ROS_CODEC_ERROR, PM_ROS_CODEC_ERROR_NUL);
	g_assert_null(pm_ros_parser_pop(parser));
}

static void
test_empty_sentences_skipped(void)
{
	const guint8 bytes[] = {0x00, 0x00, 0x05, '!', 'd', 'o', 'n', 'e', 0x00, 0x00};
	g_autoptr(PmRosParser) parser = pm_ros_parser_new();
	g_autoptr(GError) error = NULL;
	g_autoptr(PmRosSentence) s = NULL;

	/* nothing at all, on a parser that holds nothing (found by the fuzzer) */
	g_assert_true(pm_ros_parser_feed(parser, NULL, 0, &error));
	g_assert_null(pm_ros_parser_pop(parser));
	g_assert_true(pm_ros_parser_feed(parser, bytes, sizeof(bytes), &error));
	s = pm_ros_parser_pop(parser);
	g_assert_nonnull(s);
	g_assert_cmpuint(s->words->len, ==, 1);
	g_assert_cmpint(pm_ros_sentence_get_reply_type(s), ==, PM_ROS_REPLY_DONE);
	g_assert_null(pm_ros_parser_pop(parser));
}

static PmRosSentence *
sentence(const char *const *words)
{
	PmRosSentence *s = pm_ros_sentence_new();
	for (guint i = 0; words[i] != NULL; i++)
		g_ptr_array_add(s->words, g_strdup(words[i]));
	return s;
}

static void
test_attributes(void)
{
	g_autoptr(PmRosSentence) s = sentence((const char *const[]){
		"!re", "=comment=", "=a=b=c", "=x=1", "=x=2", ".tag=7", "=.id=*1A", "?q=1",
		"=name", NULL});
	g_autoptr(PmRosSentence) none = pm_ros_sentence_new();

	g_assert_cmpstr(pm_ros_sentence_get_attribute(s, "comment"), ==, "");
	g_assert_cmpstr(pm_ros_sentence_get_attribute(s, "a"), ==, "b=c");
	g_assert_null(pm_ros_sentence_get_attribute(s, "a=b"));
	g_assert_cmpstr(pm_ros_sentence_get_attribute(s, "x"), ==, "2");
	g_assert_cmpstr(pm_ros_sentence_get_attribute(s, ".id"), ==, "*1A");
	g_assert_null(pm_ros_sentence_get_attribute(s, "tag"));
	g_assert_null(pm_ros_sentence_get_attribute(s, "q"));
	g_assert_null(pm_ros_sentence_get_attribute(s, "name"));
	g_assert_null(pm_ros_sentence_get_attribute(s, "comm"));
	g_assert_cmpstr(pm_ros_sentence_get_tag(s), ==, "7");
	g_assert_cmpstr(pm_ros_sentence_get_command(s), ==, "!re");

	g_assert_cmpstr(pm_ros_sentence_get_command(none), ==, "");
	g_assert_null(pm_ros_sentence_get_tag(none));
	g_assert_null(pm_ros_sentence_get_attribute(none, "x"));
	g_assert_cmpint(pm_ros_sentence_get_reply_type(none), ==, PM_ROS_REPLY_OTHER);
}

static void
test_reply_types(void)
{
	static const struct {
		const char *word;
		PmRosReplyType type;
	} cases[] = {
		{"!re", PM_ROS_REPLY_RE},	  {"!done", PM_ROS_REPLY_DONE},
		{"!trap", PM_ROS_REPLY_TRAP},	  {"!fatal", PM_ROS_REPLY_FATAL},
		{"!empty", PM_ROS_REPLY_EMPTY},	  {"!unknown", PM_ROS_REPLY_OTHER},
		{"!don", PM_ROS_REPLY_OTHER},	  {"!donee", PM_ROS_REPLY_OTHER},
		{"/login", PM_ROS_REPLY_OTHER},
	};
	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autoptr(PmRosSentence) s =
			sentence((const char *const[]){cases[i].word, ".tag=3", NULL});
		g_assert_cmpint(pm_ros_sentence_get_reply_type(s), ==, cases[i].type);
		g_assert_cmpstr(pm_ros_sentence_get_tag(s), ==, "3");
	}
}

static void
test_legacy_login(void)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *response = pm_ros_legacy_login_response("passTest", "abc123", &error);
	g_autofree char *upper = pm_ros_legacy_login_response("passTest", "ABC123", &error);

	g_assert_no_error(error);
	g_assert_cmpstr(response, ==, "0021277bff9ac7caf06aa608e46616d47f");
	g_assert_cmpstr(upper, ==, response);
}

static void
test_legacy_login_bad_challenge(void)
{
	const char *bad[] = {"abc12g", "abc12", "", "zz", "ab cd"};
	for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
		g_autoptr(GError) error = NULL;
		g_autofree char *response = pm_ros_legacy_login_response("passTest", bad[i], &error);
		g_assert_null(response);
		g_assert_error(error, PM_ROS_CODEC_ERROR, PM_ROS_CODEC_ERROR_BAD_REPLY);
	}
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/routeros-codec/length/vectors", test_length_vectors);
	g_test_add_func("/routeros-codec/length/boundaries", test_length_boundaries);
	g_test_add_func("/routeros-codec/length/control-bytes", test_length_control_bytes);
	g_test_add_func("/routeros-codec/parser/all-at-once", test_round_trip_all_at_once);
	g_test_add_func("/routeros-codec/parser/byte-by-byte", test_round_trip_byte_by_byte);
	g_test_add_func("/routeros-codec/parser/every-cut", test_round_trip_every_cut);
	g_test_add_func("/routeros-codec/parser/pending", test_pending);
	g_test_add_func("/routeros-codec/parser/long-words", test_round_trip_long_words);
	g_test_add_func("/routeros-codec/parser/oversize-word", test_oversize_word);
	g_test_add_func("/routeros-codec/parser/max-word", test_max_word_accepted);
	g_test_add_func("/routeros-codec/parser/too-many-words", test_too_many_words);
	g_test_add_func("/routeros-codec/parser/nul", test_nul_refused);
	g_test_add_func("/routeros-codec/parser/empty-sentences", test_empty_sentences_skipped);
	g_test_add_func("/routeros-codec/sentence/attributes", test_attributes);
	g_test_add_func("/routeros-codec/sentence/reply-types", test_reply_types);
	g_test_add_func("/routeros-codec/login/legacy", test_legacy_login);
	g_test_add_func("/routeros-codec/login/legacy-bad-challenge", test_legacy_login_bad_challenge);
	return g_test_run();
}
