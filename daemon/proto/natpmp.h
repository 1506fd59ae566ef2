/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <glib.h>

/*
 * NAT-PMP (RFC 6886) packets: pure encoders and decoders, no I/O, safe on any input
 * (fuzzed). Requests and responses in both directions so the client, the LAN server and
 * the tests share one codec.
 */

#define PM_NATPMP_SERVER_PORT 5351
#define PM_NATPMP_CLIENT_PORT 5350
#define PM_NATPMP_VERSION 0

#define PM_NATPMP_PUBLIC_ADDRESS_REQUEST_SIZE 2
#define PM_NATPMP_MAP_REQUEST_SIZE 12
#define PM_NATPMP_PUBLIC_ADDRESS_RESPONSE_SIZE 12
#define PM_NATPMP_MAP_RESPONSE_SIZE 16
#define PM_NATPMP_ERROR_RESPONSE_SIZE 8
#define PM_NATPMP_MAX_PACKET_SIZE 1100 /* RFC 6886 packets are small; PCP's max */

typedef enum {
	PM_NATPMP_OP_PUBLIC_ADDRESS = 0,
	PM_NATPMP_OP_MAP_UDP = 1,
	PM_NATPMP_OP_MAP_TCP = 2,
} PmNatpmpOpcode;

#define PM_NATPMP_OP_RESPONSE 0x80

typedef enum {
	PM_NATPMP_RESULT_SUCCESS = 0,
	PM_NATPMP_RESULT_UNSUPPORTED_VERSION = 1,
	PM_NATPMP_RESULT_REFUSED = 2,
	PM_NATPMP_RESULT_NETWORK_FAILURE = 3,
	PM_NATPMP_RESULT_OUT_OF_RESOURCES = 4,
	PM_NATPMP_RESULT_UNSUPPORTED_OPCODE = 5,
} PmNatpmpResult;

#define PM_NATPMP_CODEC_ERROR (pm_natpmp_codec_error_quark())
typedef enum {
	PM_NATPMP_CODEC_ERROR_TOO_SHORT,   /* shorter than its opcode needs */
	PM_NATPMP_CODEC_ERROR_BAD_VERSION, /* version field is not 0 */
	PM_NATPMP_CODEC_ERROR_NOT_RESPONSE, /* a response was expected: opcode < 128 */
	PM_NATPMP_CODEC_ERROR_NOT_REQUEST, /* a request was expected: opcode >= 128 */
	PM_NATPMP_CODEC_ERROR_BAD_OPCODE,  /* not 0, 1 or 2 (after stripping the response bit) */
} PmNatpmpCodecError;
GQuark pm_natpmp_codec_error_quark(void);

typedef struct {
	guint8 opcode;          /* request opcode: 0, 1 or 2 (response bit stripped) */
	guint16 result;         /* any value; unknown codes are the caller's to judge */
	guint32 epoch;          /* seconds since start of epoch */
	guint32 public_address; /* op 0: IPv4 in network byte order (0 on failure) */
	guint16 internal_port;  /* op 1/2 */
	guint16 external_port;  /* op 1/2 */
	guint32 lifetime;       /* op 1/2 */
	/* a bare 8-byte Unsupported Version answer (RFC 6886 §3.5): it answers whatever was
	 * asked, whatever its opcode says, and its epoch may be meaningless */
	gboolean unsupported_version;
	/* only the 8-byte common header came (a failure): no internal port to match it by,
	 * so it answers every outstanding request of its opcode (of any, if unsupported_version) */
	gboolean bare;
} PmNatpmpResponse;

typedef struct {
	guint8 opcode; /* 0, 1 or 2 */
	guint16 internal_port;
	guint16 suggested_external_port;
	guint32 lifetime;
} PmNatpmpRequest;

/* encoders write into @buf (at least PM_NATPMP_MAP_RESPONSE_SIZE bytes) and return the length */
gsize pm_natpmp_encode_request(const PmNatpmpRequest *req, guint8 *buf);
gsize pm_natpmp_encode_response(const PmNatpmpResponse *resp, guint8 *buf);

/* a response from a server: version 0, opcode 128..130 (an error response of 8 bytes for
 * a non-zero result is accepted for opcode 0 too); extra trailing bytes are ignored. An
 * 8-byte Unsupported Version answer is also accepted with opcode 0, as servers written
 * before RFC 6886 errata 3618 send it */
gboolean pm_natpmp_decode_response(const guint8 *buf, gsize len, PmNatpmpResponse *out, GError **error);
/* a request from a client (for the LAN server): version 0, opcode 0..2 */
gboolean pm_natpmp_decode_request(const guint8 *buf, gsize len, PmNatpmpRequest *out, GError **error);

/* what a NAT-PMP server makes of a packet (RFC 6886 §3.5, errata 3618), checked in the
 * order a server must: no GError and no allocation, so that a flood of garbage costs
 * nothing. Only PM_NATPMP_REQUEST_OK fills @out (zeroed otherwise). */
typedef enum {
	PM_NATPMP_REQUEST_OK,
	PM_NATPMP_REQUEST_TOO_SHORT,   /* < 2 bytes, or a map request < 12: ignore */
	PM_NATPMP_REQUEST_RESPONSE,    /* opcode >= 128 (whatever the version): ignore */
	PM_NATPMP_REQUEST_BAD_VERSION, /* version != 0: answer result 1 */
	PM_NATPMP_REQUEST_BAD_OPCODE,  /* version 0, opcode 3..127: echo with result 5 */
} PmNatpmpRequestStatus;
PmNatpmpRequestStatus pm_natpmp_classify_request(const guint8 *buf, gsize len,
						 PmNatpmpRequest *out);

/* short English name of a result code: "Success", "UnsupportedVersion", "NotAuthorized",
 * "NetworkFailure", "OutOfResources", "UnsupportedOpcode", or NULL when unknown */
const char *pm_natpmp_result_to_string(guint16 result);

/* the RFC 6886 §3.6 epoch check: TRUE when @new_epoch, received @elapsed_us after
 * @last_epoch (by the local clock), shows the gateway lost its mapping state:
 * new < last + 7/8 * elapsed - 2 s, the RFC's rule and nothing else */
gboolean pm_natpmp_epoch_is_reset(guint32 last_epoch, guint32 new_epoch, guint64 elapsed_us);
