/* SPDX-License-Identifier: GPL-2.0-or-later */

#include "routeros.h"

#include <string.h>

G_DEFINE_QUARK(pm-ros-codec-error-quark, pm_ros_codec_error)

PmRosSentence *
pm_ros_sentence_new(void)
{
	PmRosSentence *self = g_new0(PmRosSentence, 1);
	self->words = g_ptr_array_new_with_free_func(g_free);
	return self;
}

void
pm_ros_sentence_free(PmRosSentence *self)
{
	if (self == NULL)
		return;
	g_ptr_array_unref(self->words);
	g_free(self);
}

const char *
pm_ros_sentence_get_command(const PmRosSentence *self)
{
	return self->words->len > 0 ? g_ptr_array_index(self->words, 0) : "";
}

PmRosReplyType
pm_ros_sentence_get_reply_type(const PmRosSentence *self)
{
	static const struct {
		const char *word;
		PmRosReplyType type;
	} types[] = {
		{"!re", PM_ROS_REPLY_RE},
		{"!done", PM_ROS_REPLY_DONE},
		{"!trap", PM_ROS_REPLY_TRAP},
		{"!fatal", PM_ROS_REPLY_FATAL},
		{"!empty", PM_ROS_REPLY_EMPTY},
	};
	const char *command = pm_ros_sentence_get_command(self);

	for (guint i = 0; i < G_N_ELEMENTS(types); i++) {
		if (strcmp(command, types[i].word) == 0)
			return types[i].type;
	}
	return PM_ROS_REPLY_OTHER;
}

const char *
pm_ros_sentence_get_attribute(const PmRosSentence *self, const char *name)
{
	gsize name_len = strlen(name);

	/* a name with '=' can never match: the word is split at its second '=' */
	if (strchr(name, '=') != NULL)
		return NULL;
	/* backwards: the last one wins; the first word is the command, never an attribute */
	for (guint i = self->words->len; i > 1; i--) {
		const char *word = g_ptr_array_index(self->words, i - 1);
		if (word[0] == '=' && strncmp(word + 1, name, name_len) == 0 &&
		    word[1 + name_len] == '=')
			return word + 2 + name_len;
	}
	return NULL;
}

const char *
pm_ros_sentence_get_tag(const PmRosSentence *self)
{
	for (guint i = self->words->len; i > 1; i--) {
		const char *word = g_ptr_array_index(self->words, i - 1);
		if (g_str_has_prefix(word, ".tag="))
			return word + strlen(".tag=");
	}
	return NULL;
}

void
pm_ros_append_length(GByteArray *out, guint32 len)
{
	guint8 buf[5];
	guint n;

	if (len <= 0x7F) {
		buf[0] = len;
		n = 1;
	} else if (len <= 0x3FFF) {
		len |= 0x8000;
		buf[0] = len >> 8;
		buf[1] = len;
		n = 2;
	} else if (len <= 0x1FFFFF) {
		len |= 0xC00000;
		buf[0] = len >> 16;
		buf[1] = len >> 8;
		buf[2] = len;
		n = 3;
	} else if (len <= 0xFFFFFFF) {
		len |= 0xE0000000;
		buf[0] = len >> 24;
		buf[1] = len >> 16;
		buf[2] = len >> 8;
		buf[3] = len;
		n = 4;
	} else {
		buf[0] = 0xF0;
		buf[1] = len >> 24;
		buf[2] = len >> 16;
		buf[3] = len >> 8;
		buf[4] = len;
		n = 5;
	}
	g_byte_array_append(out, buf, n);
}

void
pm_ros_append_word(GByteArray *out, const char *word)
{
	gsize len = strlen(word);

	pm_ros_append_length(out, (guint32)len);
	g_byte_array_append(out, (const guint8 *)word, len);
}

void
pm_ros_append_sentence(GByteArray *out, const char *const *words)
{
	for (gsize i = 0; words[i] != NULL; i++)
		pm_ros_append_word(out, words[i]);
	pm_ros_append_length(out, 0);
}

gssize
pm_ros_decode_length(const guint8 *data, gsize len, guint32 *out_len, GError **error)
{
	guint8 first;
	gsize size;
	guint32 value;

	if (len == 0)
		return 0;
	first = data[0];
	if (first >= 0xF8) {
		g_set_error(error, PM_ROS_CODEC_ERROR, PM_ROS_CODEC_ERROR_CONTROL_BYTE,
			    "RouterOS API: reserved control byte 0x%02X where a word length was expected",
			    first);
		return -1;
	}
	/* 0xF1..0xF7: the old five-byte form with bits above 32: no word is that long */
	if (first > 0xF0) {
		g_set_error(error, PM_ROS_CODEC_ERROR, PM_ROS_CODEC_ERROR_TOO_LONG,
			    "RouterOS API: a word length over 4 GiB (first byte 0x%02X)", first);
		return -1;
	}
	if (first < 0x80) {
		size = 1;
		value = first;
	} else if (first < 0xC0) {
		size = 2;
		value = first & 0x3F;
	} else if (first < 0xE0) {
		size = 3;
		value = first & 0x1F;
	} else if (first < 0xF0) {
		size = 4;
		value = first & 0x0F;
	} else {
		size = 5;
		value = 0;
	}
	if (len < size)
		return 0;
	for (gsize i = 1; i < size; i++)
		value = (value << 8) | data[i];
	*out_len = value;
	return (gssize)size;
}

struct _PmRosParser {
	/* bytes not yet made into words, from @offset: consumed words are dropped only
	 * once they are a good part of the buffer, so a byte-by-byte feed stays linear */
	GByteArray *buf;
	gsize offset;
	PmRosSentence *current; /* the words of the sentence being read */
	gsize current_bytes;	/* their encoded size, for get_pending() */
	GQueue sentences;	/* complete, for pop() */
	GError *error;		/* final */
};

PmRosParser *
pm_ros_parser_new(void)
{
	PmRosParser *self = g_new0(PmRosParser, 1);
	self->buf = g_byte_array_new();
	g_queue_init(&self->sentences);
	return self;
}

void
pm_ros_parser_free(PmRosParser *self)
{
	if (self == NULL)
		return;
	g_byte_array_unref(self->buf);
	pm_ros_sentence_free(self->current);
	g_queue_clear_full(&self->sentences, (GDestroyNotify)pm_ros_sentence_free);
	g_clear_error(&self->error);
	g_free(self);
}

/* one word (or the end of a sentence) out of the buffer: FALSE when more bytes are
 * needed, or on an error (then self->error is set) */
static gboolean
parser_next_word(PmRosParser *self)
{
	const guint8 *data;
	gsize avail = self->buf->len - self->offset;
	guint32 len = 0;
	gssize prefix;

	/* an empty GByteArray may have no data at all */
	if (avail == 0)
		return FALSE;
	data = self->buf->data + self->offset;
	prefix = pm_ros_decode_length(data, avail, &len, &self->error);
	if (prefix <= 0)
		return FALSE;
	/* refused before its bytes arrive: nothing is buffered for a word we would refuse */
	if (len > PM_ROS_MAX_WORD_SIZE) {
		g_set_error(&self->error, PM_ROS_CODEC_ERROR, PM_ROS_CODEC_ERROR_TOO_LONG,
			    "RouterOS API: a word of %u bytes (at most %u)", len,
			    PM_ROS_MAX_WORD_SIZE);
		return FALSE;
	}
	if (avail - (gsize)prefix < len)
		return FALSE;

	if (len == 0) {
		/* the end of a sentence; a lone zero-length word is an empty one: skipped */
		if (self->current != NULL)
			g_queue_push_tail(&self->sentences, g_steal_pointer(&self->current));
		self->current_bytes = 0;
		self->offset += (gsize)prefix;
		return TRUE;
	}
	if (memchr(data + prefix, '\0', len) != NULL) {
		g_set_error_literal(&self->error, PM_ROS_CODEC_ERROR, PM_ROS_CODEC_ERROR_NUL,
				    "RouterOS API: a NUL byte inside a word");
		return FALSE;
	}
	if (self->current == NULL)
		self->current = pm_ros_sentence_new();
	if (self->current->words->len >= PM_ROS_MAX_SENTENCE_WORDS) {
		g_set_error(&self->error, PM_ROS_CODEC_ERROR, PM_ROS_CODEC_ERROR_TOO_LONG,
			    "RouterOS API: a sentence of more than %u words",
			    PM_ROS_MAX_SENTENCE_WORDS);
		return FALSE;
	}
	g_ptr_array_add(self->current->words, g_strndup((const char *)data + prefix, len));
	self->current_bytes += (gsize)prefix + len;
	self->offset += (gsize)prefix + len;
	return TRUE;
}

gboolean
pm_ros_parser_feed(PmRosParser *self, const guint8 *data, gsize len, GError **error)
{
	if (self->error != NULL) {
		g_propagate_error(error, g_error_copy(self->error));
		return FALSE;
	}
	g_byte_array_append(self->buf, data, len);
	while (parser_next_word(self))
		;
	if (self->error != NULL) {
		g_propagate_error(error, g_error_copy(self->error));
		return FALSE;
	}
	/* drop the consumed bytes when they are all of it (the usual case: a read ends at a
	 * sentence's end) or at least half: each byte is moved a bounded number of times */
	if (self->offset == self->buf->len) {
		g_byte_array_set_size(self->buf, 0);
		self->offset = 0;
	} else if (self->offset >= 4096 && self->offset * 2 >= self->buf->len) {
		g_byte_array_remove_range(self->buf, 0, self->offset);
		self->offset = 0;
	}
	return TRUE;
}

PmRosSentence *
pm_ros_parser_pop(PmRosParser *self)
{
	return g_queue_pop_head(&self->sentences);
}

gsize
pm_ros_parser_get_pending(const PmRosParser *self)
{
	return self->current_bytes + (self->buf->len - self->offset);
}

static int
hex_value(char c)
{
	return g_ascii_xdigit_value(c);
}

char *
pm_ros_legacy_login_response(const char *password, const char *challenge_hex,
			     GError **error)
{
	gsize hex_len = strlen(challenge_hex);
	g_autoptr(GChecksum) md5 = NULL;
	g_autoptr(GByteArray) challenge = NULL;
	const guint8 zero = 0;

	if (hex_len == 0 || hex_len % 2 != 0) {
		g_set_error(error, PM_ROS_CODEC_ERROR, PM_ROS_CODEC_ERROR_BAD_REPLY,
			    "RouterOS API: the login challenge is not an even number of hex digits");
		return NULL;
	}
	challenge = g_byte_array_sized_new(hex_len / 2);
	for (gsize i = 0; i < hex_len; i += 2) {
		int hi = hex_value(challenge_hex[i]);
		int lo = hex_value(challenge_hex[i + 1]);
		guint8 byte;
		if (hi < 0 || lo < 0) {
			g_set_error(error, PM_ROS_CODEC_ERROR, PM_ROS_CODEC_ERROR_BAD_REPLY,
				    "RouterOS API: the login challenge is not hex");
			return NULL;
		}
		byte = (guint8)((hi << 4) | lo);
		g_byte_array_append(challenge, &byte, 1);
	}
	md5 = g_checksum_new(G_CHECKSUM_MD5);
	g_checksum_update(md5, &zero, 1);
	g_checksum_update(md5, (const guchar *)password, strlen(password));
	g_checksum_update(md5, challenge->data, challenge->len);
	return g_strconcat("00", g_checksum_get_string(md5), NULL);
}
