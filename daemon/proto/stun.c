/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "stun.h"

#include <gio/gio.h>
#include <string.h>

#define FINGERPRINT_XOR 0x5354554Eu

G_DEFINE_QUARK(pm-stun-codec-error-quark, pm_stun_codec_error)

static guint16
get16(const guint8 *p)
{
	return (guint16)(p[0] << 8 | p[1]);
}

static guint32
get32(const guint8 *p)
{
	return (guint32)p[0] << 24 | (guint32)p[1] << 16 | (guint32)p[2] << 8 | p[3];
}

static void
put16(guint8 *p, guint16 v)
{
	p[0] = v >> 8;
	p[1] = v & 0xff;
}

static void
put32(guint8 *p, guint32 v)
{
	put16(p, v >> 16);
	put16(p + 2, v & 0xffff);
}

guint32
pm_stun_crc32(const guint8 *data, gsize len)
{
	guint32 crc = 0xffffffffu;

	for (gsize i = 0; i < len; i++) {
		crc ^= data[i];
		for (guint bit = 0; bit < 8; bit++)
			crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1)));
	}
	return ~crc;
}

gsize
pm_stun_build_binding_request(guint8 *buf, gsize size, const guint8 *transaction_id,
			      gboolean with_change, guint8 change)
{
	gsize len = PM_STUN_HEADER_SIZE + (with_change ? 8 : 0) + 8;
	gsize pos = PM_STUN_HEADER_SIZE;

	if (size < len)
		return 0;
	put16(buf, PM_STUN_BINDING_REQUEST);
	put16(buf + 2, len - PM_STUN_HEADER_SIZE);
	put32(buf + 4, PM_STUN_MAGIC_COOKIE);
	memcpy(buf + 8, transaction_id, PM_STUN_TRANSACTION_ID_SIZE);
	if (with_change) {
		put16(buf + pos, PM_STUN_ATTR_CHANGE_REQUEST);
		put16(buf + pos + 2, 4);
		put32(buf + pos + 4, change & (PM_STUN_CHANGE_IP | PM_STUN_CHANGE_PORT));
		pos += 8;
	}
	/* FINGERPRINT: the header's length already counts it (RFC 8489 §14.7) */
	put16(buf + pos, PM_STUN_ATTR_FINGERPRINT);
	put16(buf + pos + 2, 4);
	put32(buf + pos + 4, pm_stun_crc32(buf, pos) ^ FINGERPRINT_XOR);
	return len;
}

/* MAPPED-ADDRESS and its kin (RFC 8489 §14.1), XORed with the cookie and transaction id for
 * XOR-MAPPED-ADDRESS (§14.2) */
static gboolean
parse_address(const guint8 *value, guint16 len, const guint8 *header, gboolean xored,
	      PmStunAddress *out)
{
	guint8 family;
	gsize alen;

	if (len < 4)
		return FALSE;
	family = value[1];
	alen = family == 0x01 ? 4 : family == 0x02 ? 16 : 0;
	if (alen == 0 || len != 4 + alen)
		return FALSE;
	memset(out, 0, sizeof(*out));
	out->family = family == 0x01 ? 4 : 6;
	out->port = get16(value + 2);
	memcpy(out->address, value + 4, alen);
	if (xored) {
		/* the cookie then the transaction id: bytes 4..19 of the header */
		out->port ^= PM_STUN_MAGIC_COOKIE >> 16;
		for (gsize i = 0; i < alen; i++)
			out->address[i] ^= header[4 + i];
	}
	return TRUE;
}

static gboolean
parse_error_code(const guint8 *value, guint16 len, PmStunMessage *out)
{
	guint klass, number;
	gsize n = 0;

	if (len < 4)
		return FALSE;
	klass = value[2] & 0x07;
	number = value[3];
	if (klass < 3 || klass > 6 || number > 99)
		return FALSE;
	out->error_code = klass * 100 + number;
	/* the reason is for logs: printable ASCII only, the rest replaced */
	for (gsize i = 4; i < len && n < sizeof(out->error_reason) - 1; i++)
		out->error_reason[n++] = value[i] >= 0x20 && value[i] < 0x7f ? value[i] : '?';
	out->error_reason[n] = '\0';
	return TRUE;
}

/* the comprehension-required attributes (0x0000-0x7FFF) a Binding client may meet and
 * understands: RFC 8489, RFC 5780, RFC 3489's addresses, ICE's (RFC 5769's vectors) */
static gboolean
is_understood(guint16 type)
{
	static const guint16 known[] = {
	    0x0001, /* MAPPED-ADDRESS */
	    0x0003, /* CHANGE-REQUEST */
	    0x0004, /* SOURCE-ADDRESS (RFC 3489) */
	    0x0005, /* CHANGED-ADDRESS (RFC 3489) */
	    0x0006, /* USERNAME */
	    0x0008, /* MESSAGE-INTEGRITY */
	    0x0009, /* ERROR-CODE */
	    0x000A, /* UNKNOWN-ATTRIBUTES */
	    0x0014, /* REALM */
	    0x0015, /* NONCE */
	    0x001C, /* MESSAGE-INTEGRITY-SHA256 */
	    0x001D, /* PASSWORD-ALGORITHM */
	    0x001E, /* USERHASH */
	    0x0020, /* XOR-MAPPED-ADDRESS */
	    0x0024, /* PRIORITY */
	    0x0025, /* USE-CANDIDATE */
	    0x0026, /* PADDING (RFC 5780) */
	    0x0027, /* RESPONSE-PORT (RFC 5780) */
	};

	if (type >= 0x8000)
		return TRUE;
	for (guint i = 0; i < G_N_ELEMENTS(known); i++) {
		if (known[i] == type)
			return TRUE;
	}
	return FALSE;
}

static gboolean
parse_attribute(guint16 type, const guint8 *value, guint16 len, const guint8 *header,
		PmStunMessage *out, GError **error)
{
	gboolean ok = TRUE;

	switch (type) {
	case PM_STUN_ATTR_MAPPED_ADDRESS:
		ok = parse_address(value, len, header, FALSE, &out->mapped);
		break;
	case PM_STUN_ATTR_XOR_MAPPED_ADDRESS:
		ok = parse_address(value, len, header, TRUE, &out->xor_mapped);
		break;
	case PM_STUN_ATTR_OTHER_ADDRESS:
		ok = parse_address(value, len, header, FALSE, &out->other_address);
		break;
	case PM_STUN_ATTR_RESPONSE_ORIGIN:
		ok = parse_address(value, len, header, FALSE, &out->response_origin);
		break;
	case PM_STUN_ATTR_ERROR_CODE:
		ok = parse_error_code(value, len, out);
		break;
	case PM_STUN_ATTR_CHANGE_REQUEST:
		ok = len == 4;
		if (ok) {
			out->has_change_request = TRUE;
			out->change_request = value[3] & (PM_STUN_CHANGE_IP | PM_STUN_CHANGE_PORT);
		}
		break;
	default:
		if (!is_understood(type)) {
			g_set_error(error, PM_STUN_CODEC_ERROR, PM_STUN_CODEC_ERROR_UNKNOWN_ATTRIBUTE,
				    "unknown comprehension-required attribute 0x%04x", type);
			return FALSE;
		}
		break;
	}
	if (!ok)
		g_set_error(error, PM_STUN_CODEC_ERROR, PM_STUN_CODEC_ERROR_BAD_ATTRIBUTE,
			    "malformed attribute 0x%04x of %u bytes", type, len);
	return ok;
}

gboolean
pm_stun_parse(const guint8 *data, gsize len, PmStunMessage *out, GError **error)
{
	gsize pos = PM_STUN_HEADER_SIZE;
	guint16 type;

	memset(out, 0, sizeof(*out));
	if (len < PM_STUN_HEADER_SIZE || (data[0] & 0xC0) != 0 ||
	    get32(data + 4) != PM_STUN_MAGIC_COOKIE) {
		g_set_error_literal(error, PM_STUN_CODEC_ERROR, PM_STUN_CODEC_ERROR_NOT_STUN,
				    "not a STUN message (RFC 8489: too short, top bits set or no "
				    "magic cookie)");
		return FALSE;
	}
	if ((gsize)get16(data + 2) + PM_STUN_HEADER_SIZE != len || get16(data + 2) % 4 != 0) {
		g_set_error(error, PM_STUN_CODEC_ERROR, PM_STUN_CODEC_ERROR_BAD_LENGTH,
			    "the length field says %u bytes of attributes, the datagram has %"
			    G_GSIZE_FORMAT " (a multiple of 4 is required)",
			    get16(data + 2), len - PM_STUN_HEADER_SIZE);
		return FALSE;
	}
	type = get16(data);
	if (type != PM_STUN_BINDING_REQUEST && type != PM_STUN_BINDING_INDICATION &&
	    type != PM_STUN_BINDING_SUCCESS && type != PM_STUN_BINDING_ERROR) {
		g_set_error(error, PM_STUN_CODEC_ERROR, PM_STUN_CODEC_ERROR_BAD_TYPE,
			    "message type 0x%04x is not a Binding message", type);
		return FALSE;
	}
	out->type = type;
	memcpy(out->transaction_id, data + 8, PM_STUN_TRANSACTION_ID_SIZE);
	while (pos < len) {
		guint16 atype, alen;
		gsize padded;

		if (len - pos < 4) {
			g_set_error_literal(error, PM_STUN_CODEC_ERROR,
					    PM_STUN_CODEC_ERROR_BAD_ATTRIBUTE,
					    "an attribute header overruns the message");
			return FALSE;
		}
		atype = get16(data + pos);
		alen = get16(data + pos + 2);
		padded = ((gsize)alen + 3) & ~(gsize)3;
		if (padded > len - pos - 4) {
			g_set_error(error, PM_STUN_CODEC_ERROR, PM_STUN_CODEC_ERROR_BAD_ATTRIBUTE,
				    "attribute 0x%04x of %u bytes overruns the message", atype, alen);
			return FALSE;
		}
		if (atype == PM_STUN_ATTR_FINGERPRINT) {
			/* last, and the CRC of everything before it */
			if (alen != 4 || pos + 8 != len ||
			    get32(data + pos + 4) !=
				(pm_stun_crc32(data, pos) ^ FINGERPRINT_XOR)) {
				g_set_error_literal(error, PM_STUN_CODEC_ERROR,
						    PM_STUN_CODEC_ERROR_BAD_FINGERPRINT,
						    "FINGERPRINT is not the last attribute or does "
						    "not match the message");
				return FALSE;
			}
			out->has_fingerprint = TRUE;
		} else if (!parse_attribute(atype, data + pos + 4, alen, data, out, error)) {
			return FALSE;
		}
		pos += 4 + padded;
	}
	return TRUE;
}

const PmStunAddress *
pm_stun_message_get_mapped(const PmStunMessage *message)
{
	if (message->xor_mapped.family != 0)
		return &message->xor_mapped;
	if (message->mapped.family != 0)
		return &message->mapped;
	return NULL;
}

char *
pm_stun_address_to_string(const PmStunAddress *address)
{
	g_autoptr(GInetAddress) inet = NULL;
	g_autofree char *text = NULL;

	if (address->family != 4 && address->family != 6)
		return g_strdup("-");
	inet = g_inet_address_new_from_bytes(address->address, address->family == 4
								   ? G_SOCKET_FAMILY_IPV4
								   : G_SOCKET_FAMILY_IPV6);
	text = g_inet_address_to_string(inet);
	return address->family == 4 ? g_strdup_printf("%s:%u", text, address->port)
				    : g_strdup_printf("[%s]:%u", text, address->port);
}

gboolean
pm_stun_address_equal(const PmStunAddress *a, const PmStunAddress *b)
{
	return a->family == b->family && a->port == b->port &&
	       memcmp(a->address, b->address, a->family == 4 ? 4 : 16) == 0;
}
