/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "natpmp.h"

#include <string.h>

G_DEFINE_QUARK(pm-natpmp-codec-error-quark, pm_natpmp_codec_error)

#define PM_NATPMP_USEC_PER_SEC G_GUINT64_CONSTANT(1000000)

/* network byte order helpers: every read is bounds-checked by the callers */
static guint16
pm_natpmp_read_u16(const guint8 *buf)
{
	return (guint16)((guint16)buf[0] << 8 | buf[1]);
}

static guint32
pm_natpmp_read_u32(const guint8 *buf)
{
	return (guint32)buf[0] << 24 | (guint32)buf[1] << 16 | (guint32)buf[2] << 8 |
	       (guint32)buf[3];
}

static void
pm_natpmp_write_u16(guint8 *buf, guint16 val)
{
	buf[0] = (guint8)(val >> 8);
	buf[1] = (guint8)val;
}

static void
pm_natpmp_write_u32(guint8 *buf, guint32 val)
{
	buf[0] = (guint8)(val >> 24);
	buf[1] = (guint8)(val >> 16);
	buf[2] = (guint8)(val >> 8);
	buf[3] = (guint8)val;
}

static gboolean
pm_natpmp_opcode_is_known(guint8 opcode)
{
	return opcode == PM_NATPMP_OP_PUBLIC_ADDRESS || opcode == PM_NATPMP_OP_MAP_UDP ||
	       opcode == PM_NATPMP_OP_MAP_TCP;
}

static void
pm_natpmp_set_too_short(GError **error, const char *kind, gsize len, gsize needed)
{
	g_set_error(error,
		    PM_NATPMP_CODEC_ERROR,
		    PM_NATPMP_CODEC_ERROR_TOO_SHORT,
		    "NAT-PMP %s of %" G_GSIZE_FORMAT " bytes, expected %" G_GSIZE_FORMAT,
		    kind,
		    len,
		    needed);
}

gsize
pm_natpmp_encode_request(const PmNatpmpRequest *req, guint8 *buf)
{
	g_return_val_if_fail(req != NULL, 0);
	g_return_val_if_fail(buf != NULL, 0);

	buf[0] = PM_NATPMP_VERSION;
	buf[1] = req->opcode;
	if (req->opcode == PM_NATPMP_OP_PUBLIC_ADDRESS)
		return PM_NATPMP_PUBLIC_ADDRESS_REQUEST_SIZE;

	/* reserved: senders must write zero */
	pm_natpmp_write_u16(buf + 2, 0);
	pm_natpmp_write_u16(buf + 4, req->internal_port);
	pm_natpmp_write_u16(buf + 6, req->suggested_external_port);
	pm_natpmp_write_u32(buf + 8, req->lifetime);
	return PM_NATPMP_MAP_REQUEST_SIZE;
}

gsize
pm_natpmp_encode_response(const PmNatpmpResponse *resp, guint8 *buf)
{
	g_return_val_if_fail(resp != NULL, 0);
	g_return_val_if_fail(buf != NULL, 0);

	buf[0] = PM_NATPMP_VERSION;
	buf[1] = (guint8)(resp->opcode | PM_NATPMP_OP_RESPONSE);
	pm_natpmp_write_u16(buf + 2, resp->result);
	pm_natpmp_write_u32(buf + 4, resp->epoch);

	switch (resp->opcode) {
	case PM_NATPMP_OP_PUBLIC_ADDRESS: {
		/* the address is already in network byte order; RFC 6886 §3.2: zero on failure */
		guint32 addr = resp->result == PM_NATPMP_RESULT_SUCCESS ? resp->public_address : 0;
		memcpy(buf + 8, &addr, sizeof(addr));
		return PM_NATPMP_PUBLIC_ADDRESS_RESPONSE_SIZE;
	}
	case PM_NATPMP_OP_MAP_UDP:
	case PM_NATPMP_OP_MAP_TCP:
		pm_natpmp_write_u16(buf + 8, resp->internal_port);
		pm_natpmp_write_u16(buf + 10, resp->external_port);
		pm_natpmp_write_u32(buf + 12, resp->lifetime);
		return PM_NATPMP_MAP_RESPONSE_SIZE;
	default:
		/* an opcode we do not know has no body: only the common error header */
		return PM_NATPMP_ERROR_RESPONSE_SIZE;
	}
}

/* the two bytes every packet starts with: there, and version 0 */
static gboolean
pm_natpmp_check_header(const guint8 *buf, gsize len, const char *what, GError **error)
{
	if (len < 2) {
		g_set_error(error,
			    PM_NATPMP_CODEC_ERROR,
			    PM_NATPMP_CODEC_ERROR_TOO_SHORT,
			    "NAT-PMP %s of %" G_GSIZE_FORMAT " bytes has no header",
			    what,
			    len);
		return FALSE;
	}
	if (buf[0] != PM_NATPMP_VERSION) {
		g_set_error(error,
			    PM_NATPMP_CODEC_ERROR,
			    PM_NATPMP_CODEC_ERROR_BAD_VERSION,
			    "NAT-PMP %s has version %u, expected %u",
			    what,
			    buf[0],
			    (guint)PM_NATPMP_VERSION);
		return FALSE;
	}
	return TRUE;
}

gboolean
pm_natpmp_decode_response(const guint8 *buf, gsize len, PmNatpmpResponse *out, GError **error)
{
	guint8 opcode;
	gsize needed;

	g_return_val_if_fail(buf != NULL || len == 0, FALSE);
	g_return_val_if_fail(out != NULL, FALSE);
	g_return_val_if_fail(error == NULL || *error == NULL, FALSE);

	memset(out, 0, sizeof(*out));
	if (!pm_natpmp_check_header(buf, len, "response", error))
		return FALSE;
	/* errata 3618: the Unsupported Version answer has opcode 128; the RFC's figure, which
	 * some servers follow, has 0 */
	if (buf[1] == 0 && len == PM_NATPMP_ERROR_RESPONSE_SIZE &&
	    pm_natpmp_read_u16(buf + 2) == PM_NATPMP_RESULT_UNSUPPORTED_VERSION) {
		out->result = PM_NATPMP_RESULT_UNSUPPORTED_VERSION;
		out->epoch = pm_natpmp_read_u32(buf + 4);
		out->unsupported_version = TRUE;
		out->bare = TRUE;
		return TRUE;
	}
	if ((buf[1] & PM_NATPMP_OP_RESPONSE) == 0) {
		g_set_error(error,
			    PM_NATPMP_CODEC_ERROR,
			    PM_NATPMP_CODEC_ERROR_NOT_RESPONSE,
			    "NAT-PMP opcode %u is a request, expected a response",
			    buf[1]);
		return FALSE;
	}
	opcode = (guint8)(buf[1] & ~PM_NATPMP_OP_RESPONSE);
	if (!pm_natpmp_opcode_is_known(opcode)) {
		g_set_error(error,
			    PM_NATPMP_CODEC_ERROR,
			    PM_NATPMP_CODEC_ERROR_BAD_OPCODE,
			    "NAT-PMP response opcode %u is not 128, 129 or 130",
			    buf[1]);
		return FALSE;
	}
	needed = opcode == PM_NATPMP_OP_PUBLIC_ADDRESS ? PM_NATPMP_PUBLIC_ADDRESS_RESPONSE_SIZE
						       : PM_NATPMP_MAP_RESPONSE_SIZE;
	if (len < PM_NATPMP_ERROR_RESPONSE_SIZE) {
		pm_natpmp_set_too_short(error, "response", len, needed);
		return FALSE;
	}

	out->opcode = opcode;
	out->result = pm_natpmp_read_u16(buf + 2);
	out->epoch = pm_natpmp_read_u32(buf + 4);
	if (len < needed) {
		/* a bare header is how servers answer an unsupported version; it only makes
		 * sense as a failure, a success always carries its body */
		if (out->result != PM_NATPMP_RESULT_SUCCESS) {
			out->unsupported_version =
			    out->result == PM_NATPMP_RESULT_UNSUPPORTED_VERSION;
			out->bare = TRUE;
			return TRUE;
		}
		memset(out, 0, sizeof(*out));
		pm_natpmp_set_too_short(error, "response", len, needed);
		return FALSE;
	}

	if (opcode == PM_NATPMP_OP_PUBLIC_ADDRESS) {
		/* RFC 6886 §3.2: the address of a failure is ignored on reception */
		if (out->result == PM_NATPMP_RESULT_SUCCESS)
			memcpy(&out->public_address, buf + 8, sizeof(out->public_address));
		return TRUE;
	}
	out->internal_port = pm_natpmp_read_u16(buf + 8);
	out->external_port = pm_natpmp_read_u16(buf + 10);
	out->lifetime = pm_natpmp_read_u32(buf + 12);
	return TRUE;
}

gboolean
pm_natpmp_decode_request(const guint8 *buf, gsize len, PmNatpmpRequest *out, GError **error)
{
	guint8 opcode;
	gsize needed;

	g_return_val_if_fail(buf != NULL || len == 0, FALSE);
	g_return_val_if_fail(out != NULL, FALSE);
	g_return_val_if_fail(error == NULL || *error == NULL, FALSE);

	memset(out, 0, sizeof(*out));
	if (!pm_natpmp_check_header(buf, len, "request", error))
		return FALSE;
	opcode = buf[1];
	if (opcode & PM_NATPMP_OP_RESPONSE) {
		g_set_error(error,
			    PM_NATPMP_CODEC_ERROR,
			    PM_NATPMP_CODEC_ERROR_NOT_REQUEST,
			    "NAT-PMP opcode %u is a response, expected a request",
			    opcode);
		return FALSE;
	}
	if (!pm_natpmp_opcode_is_known(opcode)) {
		g_set_error(error,
			    PM_NATPMP_CODEC_ERROR,
			    PM_NATPMP_CODEC_ERROR_BAD_OPCODE,
			    "NAT-PMP request opcode %u is not 0, 1 or 2",
			    opcode);
		return FALSE;
	}
	needed = opcode == PM_NATPMP_OP_PUBLIC_ADDRESS ? PM_NATPMP_PUBLIC_ADDRESS_REQUEST_SIZE
						       : PM_NATPMP_MAP_REQUEST_SIZE;
	if (len < needed) {
		pm_natpmp_set_too_short(error, "request", len, needed);
		return FALSE;
	}

	out->opcode = opcode;
	if (opcode == PM_NATPMP_OP_PUBLIC_ADDRESS)
		return TRUE;
	/* the reserved field is ignored on reception */
	out->internal_port = pm_natpmp_read_u16(buf + 4);
	out->suggested_external_port = pm_natpmp_read_u16(buf + 6);
	out->lifetime = pm_natpmp_read_u32(buf + 8);
	return TRUE;
}

PmNatpmpRequestStatus
pm_natpmp_classify_request(const guint8 *buf, gsize len, PmNatpmpRequest *out)
{
	guint8 opcode;

	g_return_val_if_fail(buf != NULL || len == 0, PM_NATPMP_REQUEST_TOO_SHORT);
	g_return_val_if_fail(out != NULL, PM_NATPMP_REQUEST_TOO_SHORT);

	memset(out, 0, sizeof(*out));
	if (len < 2)
		return PM_NATPMP_REQUEST_TOO_SHORT;
	opcode = buf[1];
	/* before the version: a server MUST ignore every response, so that two servers
	 * cannot answer each other's errors forever */
	if (opcode & PM_NATPMP_OP_RESPONSE)
		return PM_NATPMP_REQUEST_RESPONSE;
	if (buf[0] != PM_NATPMP_VERSION)
		return PM_NATPMP_REQUEST_BAD_VERSION;
	if (!pm_natpmp_opcode_is_known(opcode))
		return PM_NATPMP_REQUEST_BAD_OPCODE;
	if (opcode == PM_NATPMP_OP_PUBLIC_ADDRESS) {
		out->opcode = opcode;
		return PM_NATPMP_REQUEST_OK;
	}
	if (len < PM_NATPMP_MAP_REQUEST_SIZE)
		return PM_NATPMP_REQUEST_TOO_SHORT;
	out->opcode = opcode;
	/* the reserved field is ignored on reception */
	out->internal_port = pm_natpmp_read_u16(buf + 4);
	out->suggested_external_port = pm_natpmp_read_u16(buf + 6);
	out->lifetime = pm_natpmp_read_u32(buf + 8);
	return PM_NATPMP_REQUEST_OK;
}

const char *
pm_natpmp_result_to_string(guint16 result)
{
	switch (result) {
	case PM_NATPMP_RESULT_SUCCESS:
		return "Success";
	case PM_NATPMP_RESULT_UNSUPPORTED_VERSION:
		return "UnsupportedVersion";
	case PM_NATPMP_RESULT_REFUSED:
		return "NotAuthorized";
	case PM_NATPMP_RESULT_NETWORK_FAILURE:
		return "NetworkFailure";
	case PM_NATPMP_RESULT_OUT_OF_RESOURCES:
		return "OutOfResources";
	case PM_NATPMP_RESULT_UNSUPPORTED_OPCODE:
		return "UnsupportedOpcode";
	default:
		return NULL;
	}
}

gboolean
pm_natpmp_epoch_is_reset(guint32 last_epoch, guint32 new_epoch, guint64 elapsed_us)
{
	guint64 last_us = (guint64)last_epoch * PM_NATPMP_USEC_PER_SEC;
	guint64 new_us = (guint64)new_epoch * PM_NATPMP_USEC_PER_SEC;
	guint64 advance_us;
	guint64 expected_us;

	/* the gateway's clock may run up to 1/8 slower than ours (RFC 6886 §3.6); all in µs
	 * so sub-second elapsed times count, saturating so a huge elapsed time cannot wrap */
	advance_us = elapsed_us - elapsed_us / 8;
	if (advance_us > G_MAXUINT64 - last_us)
		expected_us = G_MAXUINT64;
	else
		expected_us = last_us + advance_us;

	/* new + 2 s < expected; new_us is at most ~4.3e15 so adding 2 s cannot wrap */
	return new_us + 2 * PM_NATPMP_USEC_PER_SEC < expected_us;
}
