/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <glib.h>

/*
 * STUN (RFC 8489) Binding messages with RFC 5780's attributes: a pure encoder and decoder,
 * no I/O, safe on any input (fuzzed), checked against RFC 5769's test vectors. The
 * discoverer (issue 14) sends what pm_stun_build_binding_request() writes and keeps only
 * what pm_stun_parse() accepts.
 */

#define PM_STUN_HEADER_SIZE 20
#define PM_STUN_MAGIC_COOKIE 0x2112A442u
#define PM_STUN_TRANSACTION_ID_SIZE 12
/* RFC 8489 §6.1: a message that fits the IPv4 minimum MTU (576 - 28) */
#define PM_STUN_MAX_REQUEST_SIZE 548

typedef enum {
	PM_STUN_BINDING_REQUEST = 0x0001,
	PM_STUN_BINDING_INDICATION = 0x0011,
	PM_STUN_BINDING_SUCCESS = 0x0101,
	PM_STUN_BINDING_ERROR = 0x0111,
} PmStunMessageType;

typedef enum {
	PM_STUN_ATTR_MAPPED_ADDRESS = 0x0001,
	PM_STUN_ATTR_CHANGE_REQUEST = 0x0003,
	PM_STUN_ATTR_USERNAME = 0x0006,
	PM_STUN_ATTR_MESSAGE_INTEGRITY = 0x0008,
	PM_STUN_ATTR_ERROR_CODE = 0x0009,
	PM_STUN_ATTR_UNKNOWN_ATTRIBUTES = 0x000A,
	PM_STUN_ATTR_XOR_MAPPED_ADDRESS = 0x0020,
	PM_STUN_ATTR_SOFTWARE = 0x8022,
	PM_STUN_ATTR_FINGERPRINT = 0x8028,
	PM_STUN_ATTR_RESPONSE_ORIGIN = 0x802B,
	PM_STUN_ATTR_OTHER_ADDRESS = 0x802C,
} PmStunAttribute;

/* CHANGE-REQUEST's flags (RFC 5780 §7.2) */
#define PM_STUN_CHANGE_IP 0x04
#define PM_STUN_CHANGE_PORT 0x02

#define PM_STUN_CODEC_ERROR (pm_stun_codec_error_quark())
typedef enum {
	PM_STUN_CODEC_ERROR_NOT_STUN,	       /* too short, top bits set, no magic cookie */
	PM_STUN_CODEC_ERROR_BAD_LENGTH,	       /* length field and datagram disagree */
	PM_STUN_CODEC_ERROR_BAD_TYPE,	       /* not a Binding message of the expected class */
	PM_STUN_CODEC_ERROR_BAD_ATTRIBUTE,     /* overrun, a malformed address or error code */
	PM_STUN_CODEC_ERROR_BAD_FINGERPRINT,   /* not last, or its CRC does not match */
	PM_STUN_CODEC_ERROR_UNKNOWN_ATTRIBUTE, /* comprehension-required and not understood */
} PmStunCodecError;
GQuark pm_stun_codec_error_quark(void);

typedef struct {
	guint8 family; /* 0: absent; 4 or 6 */
	guint16 port;
	guint8 address[16]; /* network byte order; IPv4 in the first 4 */
} PmStunAddress;

typedef struct {
	guint16 type; /* PmStunMessageType */
	guint8 transaction_id[PM_STUN_TRANSACTION_ID_SIZE];
	PmStunAddress xor_mapped;
	PmStunAddress mapped;
	PmStunAddress other_address;   /* RFC 5780 */
	PmStunAddress response_origin; /* RFC 5780 */
	guint16 error_code;	       /* 300..699 of an ERROR-CODE, else 0 */
	char error_reason[128];	       /* its reason phrase, printable ASCII, truncated */
	guint8 change_request;	       /* a request's CHANGE-REQUEST flags */
	gboolean has_change_request;
	gboolean has_fingerprint;      /* present, and correct */
} PmStunMessage;

/*
 * A Binding request with @transaction_id into @buf: with CHANGE-REQUEST (@change: its
 * flags) if @with_change, and FINGERPRINT. Returns its size, or 0 if @size is too small.
 */
gsize pm_stun_build_binding_request(guint8 *buf, gsize size, const guint8 *transaction_id,
				    gboolean with_change, guint8 change);

/*
 * Decodes one datagram. FALSE with @error for anything RFC 8489 §6.3 says to discard: a
 * header that is not STUN's, a length that is not the datagram's, a method other than
 * Binding, an attribute that overruns or is malformed, a wrong or misplaced FINGERPRINT,
 * an unknown comprehension-required attribute (named in the message). An error response
 * decodes: its ERROR-CODE is in @out.
 */
gboolean pm_stun_parse(const guint8 *data, gsize len, PmStunMessage *out, GError **error);

/* XOR-MAPPED-ADDRESS, else MAPPED-ADDRESS (RFC 3489 servers), else NULL */
const PmStunAddress *pm_stun_message_get_mapped(const PmStunMessage *message);

/* "192.0.2.1:32853", "[2001:db8::1]:32853" */
char *pm_stun_address_to_string(const PmStunAddress *address);
gboolean pm_stun_address_equal(const PmStunAddress *a, const PmStunAddress *b);

/* CRC-32 (ISO-HDLC, as FINGERPRINT uses before its XOR) */
guint32 pm_stun_crc32(const guint8 *data, gsize len);
