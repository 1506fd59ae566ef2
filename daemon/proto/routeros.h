/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <glib.h>

/*
 * The MikroTik RouterOS API's framing (reference/routeros.md §1): words with a length
 * prefix of 1 to 5 bytes, sentences ended by the zero-length word. Pure encoders and an
 * incremental parser, no I/O, safe on any input (fuzzed): the connection in
 * gateway/routeros-client.c feeds it what it reads.
 */

/* words longer than this are refused (RouterOS's own replies are a few hundred bytes) */
#define PM_ROS_MAX_WORD_SIZE (1024 * 1024)
/* so are sentences of more words than this (a print row has tens) */
#define PM_ROS_MAX_SENTENCE_WORDS 4096

#define PM_ROS_CODEC_ERROR (pm_ros_codec_error_quark())
typedef enum {
	PM_ROS_CODEC_ERROR_CONTROL_BYTE, /* a length's first byte is 0xF8..0xFF (reserved) */
	PM_ROS_CODEC_ERROR_TOO_LONG,	 /* a word over PM_ROS_MAX_WORD_SIZE, or too many words */
	PM_ROS_CODEC_ERROR_NUL,		 /* a NUL byte inside a word */
	PM_ROS_CODEC_ERROR_BAD_REPLY,	 /* a router sentence whose first word is not a "!" word,
					  * or a legacy login challenge that is not hex */
} PmRosCodecError;
GQuark pm_ros_codec_error_quark(void);

typedef enum {
	PM_ROS_REPLY_OTHER, /* an unknown "!" word: ignored by the client (be lenient) */
	PM_ROS_REPLY_RE,
	PM_ROS_REPLY_DONE,
	PM_ROS_REPLY_TRAP,
	PM_ROS_REPLY_FATAL,
	PM_ROS_REPLY_EMPTY, /* RouterOS 7.18+: no rows; !done follows */
} PmRosReplyType;

/* one sentence: its words, NUL-terminated strings without the length prefixes */
typedef struct {
	GPtrArray *words; /* of char *, owned */
} PmRosSentence;

PmRosSentence *pm_ros_sentence_new(void);
void pm_ros_sentence_free(PmRosSentence *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PmRosSentence, pm_ros_sentence_free)
/* the first word ("!re", "/ip/firewall/nat/add"), "" for none */
const char *pm_ros_sentence_get_command(const PmRosSentence *self);
/* from the first word of a router's sentence */
PmRosReplyType pm_ros_sentence_get_reply_type(const PmRosSentence *self);
/* "=NAME=VALUE" (split at the second '='; the value may hold '=' and be empty): VALUE, or
 * NULL if the sentence has no such attribute; the last one wins if repeated */
const char *pm_ros_sentence_get_attribute(const PmRosSentence *self, const char *name);
/* ".tag=VALUE": VALUE, or NULL */
const char *pm_ros_sentence_get_tag(const PmRosSentence *self);

/* the length prefix of @len (1 to 5 bytes, big-endian, reference §1.2) */
void pm_ros_append_length(GByteArray *out, guint32 len);
/* a word: its length, then its bytes */
void pm_ros_append_word(GByteArray *out, const char *word);
/* a sentence of the NULL-terminated @words, then the zero-length word */
void pm_ros_append_sentence(GByteArray *out, const char *const *words);

/*
 * Decodes the length prefix at @data: the number of bytes it takes (1 to 5) with the
 * length in @out_len, 0 when @len bytes are not enough to tell, -1 with @error on a
 * control byte (0xF8..0xFF), or on 0xF1..0xF7 (the old five-byte form with bits above
 * 32: PM_ROS_CODEC_ERROR_TOO_LONG).
 */
gssize pm_ros_decode_length(const guint8 *data, gsize len, guint32 *out_len, GError **error);

/*
 * An incremental sentence reader: feed it the bytes as they come, in any cuts, and take
 * the complete sentences out. Empty sentences (a lone zero-length word) are skipped. An
 * error (control byte, oversize word or sentence, NUL) is final: the stream cannot be
 * resynchronised and the connection must be closed.
 */
typedef struct _PmRosParser PmRosParser;

PmRosParser *pm_ros_parser_new(void);
void pm_ros_parser_free(PmRosParser *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PmRosParser, pm_ros_parser_free)
/* FALSE with @error if the bytes fed so far cannot be a RouterOS stream */
gboolean pm_ros_parser_feed(PmRosParser *self, const guint8 *data, gsize len, GError **error);
/* the next complete sentence (the caller frees it), or NULL */
PmRosSentence *pm_ros_parser_pop(PmRosParser *self);
/* bytes held that do not make a sentence yet (a reply cut by a dropped connection) */
gsize pm_ros_parser_get_pending(const PmRosParser *self);

/*
 * The pre-6.43 login (reference §1.6): the "=response=" value for @challenge_hex, the
 * "=ret=" of the router's first answer (32 hex digits): "00" then the hex MD5 of a 0 byte,
 * the password and the challenge's bytes. NULL with @error if the challenge is not hex.
 */
char *pm_ros_legacy_login_response(const char *password, const char *challenge_hex,
				   GError **error);
