/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <string.h>

#include "proto/stun.h"

/* RFC 5769 §2.1: a request with SOFTWARE, PRIORITY, ICE-CONTROLLED, USERNAME,
 * MESSAGE-INTEGRITY and FINGERPRINT */
static const guint8 rfc5769_request[] = {
    0x00, 0x01, 0x00, 0x58, 0x21, 0x12, 0xa4, 0x42, 0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34,
    0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae, 0x80, 0x22, 0x00, 0x10, 0x53, 0x54, 0x55, 0x4e,
    0x20, 0x74, 0x65, 0x73, 0x74, 0x20, 0x63, 0x6c, 0x69, 0x65, 0x6e, 0x74, 0x00, 0x24,
    0x00, 0x04, 0x6e, 0x00, 0x01, 0xff, 0x80, 0x29, 0x00, 0x08, 0x93, 0x2f, 0xf9, 0xb1,
    0x51, 0x26, 0x3b, 0x36, 0x00, 0x06, 0x00, 0x09, 0x65, 0x76, 0x74, 0x6a, 0x3a, 0x68,
    0x36, 0x76, 0x59, 0x20, 0x20, 0x20, 0x00, 0x08, 0x00, 0x14, 0x9a, 0xea, 0xa7, 0x0c,
    0xbf, 0xd8, 0xcb, 0x56, 0x78, 0x1e, 0xf2, 0xb5, 0xb2, 0xd3, 0xf2, 0x49, 0xc1, 0xb5,
    0x71, 0xa2, 0x80, 0x28, 0x00, 0x04, 0xe5, 0x7a, 0x3b, 0xcf,
};

/* RFC 5769 §2.2: an IPv4 response, 192.0.2.1:32853 */
static const guint8 rfc5769_ipv4[] = {
    0x01, 0x01, 0x00, 0x3c, 0x21, 0x12, 0xa4, 0x42, 0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34,
    0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae, 0x80, 0x22, 0x00, 0x0b, 0x74, 0x65, 0x73, 0x74,
    0x20, 0x76, 0x65, 0x63, 0x74, 0x6f, 0x72, 0x20, 0x00, 0x20, 0x00, 0x08, 0x00, 0x01,
    0xa1, 0x47, 0xe1, 0x12, 0xa6, 0x43, 0x00, 0x08, 0x00, 0x14, 0x2b, 0x91, 0xf5, 0x99,
    0xfd, 0x9e, 0x90, 0xc3, 0x8c, 0x74, 0x89, 0xf9, 0x2a, 0xf9, 0xba, 0x53, 0xf0, 0x6b,
    0xe7, 0xd7, 0x80, 0x28, 0x00, 0x04, 0xc0, 0x7d, 0x4c, 0x96,
};

/* RFC 5769 §2.3: an IPv6 response, [2001:db8:1234:5678:11:2233:4455:6677]:32853 */
static const guint8 rfc5769_ipv6[] = {
    0x01, 0x01, 0x00, 0x48, 0x21, 0x12, 0xa4, 0x42, 0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34,
    0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae, 0x80, 0x22, 0x00, 0x0b, 0x74, 0x65, 0x73, 0x74,
    0x20, 0x76, 0x65, 0x63, 0x74, 0x6f, 0x72, 0x20, 0x00, 0x20, 0x00, 0x14, 0x00, 0x02,
    0xa1, 0x47, 0x01, 0x13, 0xa9, 0xfa, 0xa5, 0xd3, 0xf1, 0x79, 0xbc, 0x25, 0xf4, 0xb5,
    0xbe, 0xd2, 0xb9, 0xd9, 0x00, 0x08, 0x00, 0x14, 0xa3, 0x82, 0x95, 0x4e, 0x4b, 0xe6,
    0x7b, 0xf1, 0x17, 0x84, 0xc9, 0x7c, 0x82, 0x92, 0xc2, 0x75, 0xbf, 0xe3, 0xed, 0x41,
    0x80, 0x28, 0x00, 0x04, 0xc8, 0xfb, 0x0b, 0x4c,
};

static const guint8 rfc5769_id[12] = {0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34,
				      0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae};

static void
assert_mapped(const PmStunMessage *m, const char *expected)
{
	g_autofree char *text = pm_stun_address_to_string(pm_stun_message_get_mapped(m));
	g_assert_cmpstr(text, ==, expected);
}

static void
test_rfc5769_vectors(void)
{
	g_autoptr(GError) error = NULL;
	PmStunMessage m;

	g_assert_true(pm_stun_parse(rfc5769_request, sizeof(rfc5769_request), &m, &error));
	g_assert_no_error(error);
	g_assert_cmpuint(m.type, ==, PM_STUN_BINDING_REQUEST);
	g_assert_true(m.has_fingerprint);
	g_assert_cmpmem(m.transaction_id, 12, rfc5769_id, 12);
	g_assert_null(pm_stun_message_get_mapped(&m));

	g_assert_true(pm_stun_parse(rfc5769_ipv4, sizeof(rfc5769_ipv4), &m, &error));
	g_assert_no_error(error);
	g_assert_cmpuint(m.type, ==, PM_STUN_BINDING_SUCCESS);
	g_assert_true(m.has_fingerprint);
	assert_mapped(&m, "192.0.2.1:32853");

	g_assert_true(pm_stun_parse(rfc5769_ipv6, sizeof(rfc5769_ipv6), &m, &error));
	g_assert_no_error(error);
	assert_mapped(&m, "[2001:db8:1234:5678:11:2233:4455:6677]:32853");
}

/* each validation rule, from the IPv4 vector with one thing wrong */
static void
test_rejections(void)
{
	const struct {
		gsize offset;
		guint8 value;
		gint code;
	} cases[] = {
	    {0, 0x41, PM_STUN_CODEC_ERROR_NOT_STUN},	     /* top bits */
	    {4, 0x22, PM_STUN_CODEC_ERROR_NOT_STUN},	     /* cookie */
	    {3, 0x40, PM_STUN_CODEC_ERROR_BAD_LENGTH},	     /* length > datagram */
	    {3, 0x3d, PM_STUN_CODEC_ERROR_BAD_LENGTH},	     /* not a multiple of 4 */
	    {1, 0x02, PM_STUN_CODEC_ERROR_BAD_TYPE},	     /* Allocate, not Binding */
	    {39, 0x09, PM_STUN_CODEC_ERROR_BAD_ATTRIBUTE},   /* XOR-MAPPED of 9 bytes */
	    {41, 0x03, PM_STUN_CODEC_ERROR_BAD_ATTRIBUTE},   /* family 3 */
	    {23, 0xff, PM_STUN_CODEC_ERROR_BAD_ATTRIBUTE},   /* SOFTWARE overruns */
	    {76, 0xc1, PM_STUN_CODEC_ERROR_BAD_FINGERPRINT}, /* CRC */
	    {36, 0x7f, PM_STUN_CODEC_ERROR_UNKNOWN_ATTRIBUTE}, /* 0x7f20: required, unknown */
	};

	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autoptr(GError) error = NULL;
		guint8 copy[sizeof(rfc5769_ipv4)];
		PmStunMessage m;

		memcpy(copy, rfc5769_ipv4, sizeof(copy));
		copy[cases[i].offset] = cases[i].value;
		g_assert_false(pm_stun_parse(copy, sizeof(copy), &m, &error));
		g_assert_error(error, PM_STUN_CODEC_ERROR, cases[i].code);
	}
	/* short, and a FINGERPRINT that is not last */
	{
		g_autoptr(GError) error = NULL;
		PmStunMessage m;
		g_assert_false(pm_stun_parse(rfc5769_ipv4, 19, &m, &error));
		g_assert_error(error, PM_STUN_CODEC_ERROR, PM_STUN_CODEC_ERROR_NOT_STUN);
	}
	{
		g_autoptr(GError) error = NULL;
		guint8 buf[64];
		gsize n = pm_stun_build_binding_request(buf, sizeof(buf), rfc5769_id, FALSE, 0);
		PmStunMessage m;

		/* SOFTWARE "abcd" appended after the FINGERPRINT, length fixed up */
		memcpy(buf + n, "\x80\x22\x00\x04" "abcd", 8);
		buf[3] += 8;
		g_assert_false(pm_stun_parse(buf, n + 8, &m, &error));
		g_assert_error(error, PM_STUN_CODEC_ERROR, PM_STUN_CODEC_ERROR_BAD_FINGERPRINT);
	}
	/* an unknown comprehension-optional attribute is ignored */
	{
		g_autoptr(GError) error = NULL;
		guint8 copy[sizeof(rfc5769_ipv4)];
		PmStunMessage m;

		memcpy(copy, rfc5769_ipv4, sizeof(copy));
		copy[20] = 0xff; /* SOFTWARE 0x8022 -> 0xff22 */
		/* the CRC covers it: recompute, as a server sending it would */
		{
			guint32 crc = pm_stun_crc32(copy, 72) ^ 0x5354554Eu;
			copy[76] = crc >> 24;
			copy[77] = crc >> 16;
			copy[78] = crc >> 8;
			copy[79] = crc;
		}
		g_assert_true(pm_stun_parse(copy, sizeof(copy), &m, &error));
		g_assert_no_error(error);
		assert_mapped(&m, "192.0.2.1:32853");
	}
}

static void
test_request_round_trip(void)
{
	guint8 buf[PM_STUN_MAX_REQUEST_SIZE];
	g_autoptr(GError) error = NULL;
	PmStunMessage m;
	gsize n;

	n = pm_stun_build_binding_request(buf, sizeof(buf), rfc5769_id, FALSE, 0);
	g_assert_cmpuint(n, ==, 28);
	g_assert_true(pm_stun_parse(buf, n, &m, &error));
	g_assert_cmpuint(m.type, ==, PM_STUN_BINDING_REQUEST);
	g_assert_true(m.has_fingerprint);
	g_assert_false(m.has_change_request);
	g_assert_cmpmem(m.transaction_id, 12, rfc5769_id, 12);

	n = pm_stun_build_binding_request(buf, sizeof(buf), rfc5769_id, TRUE,
					  PM_STUN_CHANGE_IP | PM_STUN_CHANGE_PORT);
	g_assert_cmpuint(n, ==, 36);
	g_assert_true(pm_stun_parse(buf, n, &m, &error));
	g_assert_true(m.has_change_request);
	g_assert_cmpuint(m.change_request, ==, PM_STUN_CHANGE_IP | PM_STUN_CHANGE_PORT);
	g_assert_cmpuint(pm_stun_build_binding_request(buf, 35, rfc5769_id, TRUE, 0), ==, 0);
}

/* RFC 5780's addresses, MAPPED-ADDRESS as the fallback, and an error response */
static void
test_rfc5780_and_errors(void)
{
	static const guint8 response[] = {
	    0x01, 0x01, 0x00, 0x24, 0x21, 0x12, 0xa4, 0x42, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
	    /* MAPPED-ADDRESS 11.0.0.2:40001 */
	    0x00, 0x01, 0x00, 0x08, 0x00, 0x01, 0x9c, 0x41, 11, 0, 0, 2,
	    /* RESPONSE-ORIGIN 11.0.0.1:3478 */
	    0x80, 0x2b, 0x00, 0x08, 0x00, 0x01, 0x0d, 0x96, 11, 0, 0, 1,
	    /* OTHER-ADDRESS 11.0.0.3:3479 */
	    0x80, 0x2c, 0x00, 0x08, 0x00, 0x01, 0x0d, 0x97, 11, 0, 0, 3,
	};
	static const guint8 error_response[] = {
	    0x01, 0x11, 0x00, 0x10, 0x21, 0x12, 0xa4, 0x42, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
	    /* ERROR-CODE 420 "Unknown\n" */
	    0x00, 0x09, 0x00, 0x0b, 0, 0, 4, 20, 'U', 'n', 'k', 'n', 'o', 'w', '\n', 0,
	};
	g_autoptr(GError) error = NULL;
	PmStunMessage m;
	g_autofree char *origin = NULL;
	g_autofree char *other = NULL;

	g_assert_true(pm_stun_parse(response, sizeof(response), &m, &error));
	g_assert_no_error(error);
	assert_mapped(&m, "11.0.0.2:40001");
	g_assert_false(m.has_fingerprint);
	origin = pm_stun_address_to_string(&m.response_origin);
	other = pm_stun_address_to_string(&m.other_address);
	g_assert_cmpstr(origin, ==, "11.0.0.1:3478");
	g_assert_cmpstr(other, ==, "11.0.0.3:3479");
	g_assert_false(pm_stun_address_equal(&m.response_origin, &m.other_address));

	g_assert_true(pm_stun_parse(error_response, sizeof(error_response), &m, &error));
	g_assert_no_error(error);
	g_assert_cmpuint(m.type, ==, PM_STUN_BINDING_ERROR);
	g_assert_cmpuint(m.error_code, ==, 420);
	g_assert_cmpstr(m.error_reason, ==, "Unknow?");
	g_assert_null(pm_stun_message_get_mapped(&m));
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/stun/rfc5769", test_rfc5769_vectors);
	g_test_add_func("/stun/rejections", test_rejections);
	g_test_add_func("/stun/request", test_request_round_trip);
	g_test_add_func("/stun/rfc5780-and-errors", test_rfc5780_and_errors);
	return g_test_run();
}
