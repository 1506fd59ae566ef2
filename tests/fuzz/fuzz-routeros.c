/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The RouterOS API's sentence parser on any bytes, as a router (or anything on its port)
 * may send them: the first two bytes choose the cuts the rest is fed in (alternating
 * chunk sizes), and the result must be the same as that of one feed: the same sentences,
 * the same error. Every sentence is read as the client reads it (reply type, tag, the
 * attributes it looks at), then re-encoded and parsed again to the same words.
 */
#include <string.h>

#include "fuzz.h"
#include "routeros.h"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	pm_fuzz_init();
	return 0;
}

/* the sentences of @data, fed in chunks of @a and @b bytes in turn (0: all at once) */
static GPtrArray *
parse(const guint8 *data, gsize size, gsize a, gsize b, GError **error)
{
	g_autoptr(PmRosParser) parser = pm_ros_parser_new();
	GPtrArray *sentences = g_ptr_array_new_with_free_func((GDestroyNotify)pm_ros_sentence_free);
	PmRosSentence *s;
	gsize at = 0;
	gboolean ok = TRUE;

	if (a == 0) {
		ok = pm_ros_parser_feed(parser, data, size, error);
	} else {
		for (guint turn = 0; ok && at < size; turn++) {
			gsize n = MIN(turn % 2 == 0 ? a : b, size - at);
			ok = pm_ros_parser_feed(parser, data + at, n, error);
			at += n;
			/* pop as the client does, between reads */
			while ((s = pm_ros_parser_pop(parser)) != NULL)
				g_ptr_array_add(sentences, s);
		}
	}
	while ((s = pm_ros_parser_pop(parser)) != NULL)
		g_ptr_array_add(sentences, s);
	if (ok)
		PM_FUZZ_CHECK(pm_ros_parser_get_pending(parser) <= size);
	return sentences;
}

static void
check_sentence(const PmRosSentence *s)
{
	static const char *const names[] = {"message", "ret", ".id", "comment", "category"};
	g_autoptr(GByteArray) bytes = g_byte_array_new();
	g_autoptr(PmRosParser) parser = pm_ros_parser_new();
	g_autoptr(PmRosSentence) again = NULL;
	g_autoptr(GError) error = NULL;
	PmRosReplyType type = pm_ros_sentence_get_reply_type(s);
	const char *command = pm_ros_sentence_get_command(s);
	const char *tag = pm_ros_sentence_get_tag(s);

	/* the parser never makes an empty sentence nor an empty word */
	PM_FUZZ_CHECK(s->words->len > 0 && s->words->len <= PM_ROS_MAX_SENTENCE_WORDS);
	PM_FUZZ_CHECK(command[0] != '\0');
	PM_FUZZ_CHECK(type == PM_ROS_REPLY_OTHER || command[0] == '!');
	/* the tag is the rest of a ".tag=" word */
	if (tag != NULL)
		PM_FUZZ_CHECK(strncmp(tag - strlen(".tag="), ".tag=", strlen(".tag=")) == 0);
	for (guint i = 0; i < G_N_ELEMENTS(names); i++) {
		const char *value = pm_ros_sentence_get_attribute(s, names[i]);
		if (value != NULL)
			PM_FUZZ_CHECK(strlen(value) < PM_ROS_MAX_WORD_SIZE);
	}
	for (guint i = 0; i < s->words->len; i++) {
		const char *word = g_ptr_array_index(s->words, i);
		gsize len = strlen(word);
		PM_FUZZ_CHECK(len > 0 && len <= PM_ROS_MAX_WORD_SIZE);
	}

	g_ptr_array_add(s->words, NULL);
	pm_ros_append_sentence(bytes, (const char *const *)s->words->pdata);
	g_ptr_array_set_size(s->words, s->words->len - 1);
	PM_FUZZ_CHECK(pm_ros_parser_feed(parser, bytes->data, bytes->len, &error));
	PM_FUZZ_CHECK(error == NULL);
	again = pm_ros_parser_pop(parser);
	PM_FUZZ_CHECK(again != NULL);
	PM_FUZZ_CHECK(pm_ros_parser_pop(parser) == NULL);
	PM_FUZZ_CHECK(pm_ros_parser_get_pending(parser) == 0);
	PM_FUZZ_CHECK(again->words->len == s->words->len);
	for (guint i = 0; i < s->words->len; i++)
		PM_FUZZ_CHECK(strcmp(g_ptr_array_index(again->words, i),
				     g_ptr_array_index(s->words, i)) == 0);
	PM_FUZZ_CHECK(pm_ros_sentence_get_reply_type(again) == type);
	PM_FUZZ_CHECK(g_strcmp0(pm_ros_sentence_get_tag(again), tag) == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	g_autoptr(GError) cut_error = NULL;
	g_autoptr(GError) whole_error = NULL;
	g_autoptr(GPtrArray) cut = NULL;
	g_autoptr(GPtrArray) whole = NULL;
	guint32 len = 0;
	gssize prefix;
	gsize a, b;

	if (size < 2)
		return 0;
	a = data[0] % 32 + 1;
	b = data[1] % 32 + 1;
	data += 2;
	size -= 2;

	prefix = pm_ros_decode_length(data, size, &len, &whole_error);
	PM_FUZZ_CHECK(prefix >= -1 && prefix <= 5 && (gsize)MAX(prefix, 0) <= size);
	PM_FUZZ_CHECK((prefix == -1) == (whole_error != NULL));
	g_clear_error(&whole_error);

	cut = parse(data, size, a, b, &cut_error);
	whole = parse(data, size, 0, 0, &whole_error);
	PM_FUZZ_CHECK((cut_error == NULL) == (whole_error == NULL));
	if (whole_error != NULL) {
		PM_FUZZ_CHECK(whole_error->domain == PM_ROS_CODEC_ERROR);
		PM_FUZZ_CHECK(cut_error->code == whole_error->code);
		PM_FUZZ_CHECK(g_utf8_validate(whole_error->message, -1, NULL));
	}
	PM_FUZZ_CHECK(cut->len == whole->len);
	for (guint i = 0; i < whole->len; i++) {
		const PmRosSentence *x = g_ptr_array_index(whole, i);
		const PmRosSentence *y = g_ptr_array_index(cut, i);
		PM_FUZZ_CHECK(x->words->len == y->words->len);
		for (guint w = 0; w < x->words->len; w++)
			PM_FUZZ_CHECK(strcmp(g_ptr_array_index(x->words, w),
					     g_ptr_array_index(y->words, w)) == 0);
		check_sentence(x);
	}
	return 0;
}
