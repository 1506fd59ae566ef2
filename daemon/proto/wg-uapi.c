/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "wg-uapi.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

G_DEFINE_QUARK(pm-wg-codec-error-quark, pm_wg_codec_error)

struct _PmWgDevice {
	GPtrArray *peers;    /* of PmWgPeer */
	GHashTable *by_key;  /* public_key (in the peer) -> PmWgPeer */
	gboolean has_own_public_key;
};

static void
peer_free(gpointer data)
{
	PmWgPeer *peer = data;
	g_free(peer->endpoint);
	g_free(peer);
}

/* keys are random: any four of their bytes hash them */
static guint
key_hash(gconstpointer key)
{
	guint h;
	memcpy(&h, key, sizeof(h));
	return h;
}

static gboolean
key_equal(gconstpointer a, gconstpointer b)
{
	return memcmp(a, b, PM_WG_KEY_LEN) == 0;
}

PmWgDevice *
pm_wg_device_new(void)
{
	PmWgDevice *self = g_new0(PmWgDevice, 1);
	self->peers = g_ptr_array_new_with_free_func(peer_free);
	self->by_key = g_hash_table_new(key_hash, key_equal);
	return self;
}

void
pm_wg_device_free(PmWgDevice *self)
{
	if (self == NULL)
		return;
	g_hash_table_unref(self->by_key);
	g_ptr_array_unref(self->peers);
	g_free(self);
}

guint
pm_wg_device_get_n_peers(const PmWgDevice *self)
{
	return self->peers->len;
}

PmWgPeer *
pm_wg_device_get_peer(const PmWgDevice *self, guint index)
{
	g_return_val_if_fail(index < self->peers->len, NULL);
	return g_ptr_array_index(self->peers, index);
}

PmWgPeer *
pm_wg_device_find_peer(const PmWgDevice *self, const guint8 *public_key)
{
	return g_hash_table_lookup(self->by_key, public_key);
}

PmWgPeer *
pm_wg_device_add_peer(PmWgDevice *self, const guint8 *public_key)
{
	PmWgPeer *peer;

	if (self->peers->len >= PM_WG_MAX_PEERS || pm_wg_device_find_peer(self, public_key))
		return NULL;
	peer = g_new0(PmWgPeer, 1);
	memcpy(peer->public_key, public_key, PM_WG_KEY_LEN);
	g_ptr_array_add(self->peers, peer);
	g_hash_table_insert(self->by_key, peer->public_key, peer);
	return peer;
}

gboolean
pm_wg_device_get_has_own_public_key(const PmWgDevice *self)
{
	return self->has_own_public_key;
}

void
pm_wg_device_set_has_own_public_key(PmWgDevice *self, gboolean value)
{
	self->has_own_public_key = value;
}

static int
base64_value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* g_base64_decode() skips what is not base64: a key is checked character by character */
static gboolean
key_from_base64(const char *text, guint8 *key)
{
	guint8 out[PM_WG_KEY_LEN];
	guint32 acc = 0;
	guint bits = 0;
	gsize n = 0;

	if (text == NULL || strlen(text) != PM_WG_KEY_BASE64_LEN ||
	    text[PM_WG_KEY_BASE64_LEN - 1] != '=')
		return FALSE;
	for (gsize i = 0; i < PM_WG_KEY_BASE64_LEN - 1; i++) {
		int v = base64_value(text[i]);
		if (v < 0)
			return FALSE;
		acc = (acc << 6) | (guint32)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[n++] = (guint8)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	/* 43 characters carry 258 bits: the last 2 are zero in the one spelling of the key */
	if (n != PM_WG_KEY_LEN || acc != 0)
		return FALSE;
	memcpy(key, out, PM_WG_KEY_LEN);
	return TRUE;
}

gboolean
pm_wg_key_from_base64(const char *text, guint8 *key, GError **error)
{
	if (!key_from_base64(text, key)) {
		g_set_error_literal(error, PM_WG_CODEC_ERROR, PM_WG_CODEC_ERROR_BAD_KEY,
				    "not a WireGuard public key (44 characters of base64)");
		return FALSE;
	}
	return TRUE;
}

char *
pm_wg_key_to_base64(const guint8 *key)
{
	return g_base64_encode(key, PM_WG_KEY_LEN);
}

static gboolean
key_from_hex_len(const char *text, gsize len, guint8 *key)
{
	guint8 out[PM_WG_KEY_LEN];

	if (len != PM_WG_KEY_HEX_LEN)
		return FALSE;
	for (gsize i = 0; i < PM_WG_KEY_LEN; i++) {
		int hi = g_ascii_xdigit_value(text[2 * i]);
		int lo = g_ascii_xdigit_value(text[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return FALSE;
		out[i] = (guint8)(hi << 4 | lo);
	}
	memcpy(key, out, PM_WG_KEY_LEN);
	return TRUE;
}

gboolean
pm_wg_key_from_hex(const char *text, guint8 *key, GError **error)
{
	if (text == NULL || !key_from_hex_len(text, strlen(text), key)) {
		g_set_error_literal(error, PM_WG_CODEC_ERROR, PM_WG_CODEC_ERROR_BAD_KEY,
				    "not a WireGuard key (64 hex digits)");
		return FALSE;
	}
	return TRUE;
}

void
pm_wg_key_to_hex(const guint8 *key, char *hex)
{
	static const char digits[] = "0123456789abcdef";

	for (gsize i = 0; i < PM_WG_KEY_LEN; i++) {
		hex[2 * i] = digits[key[i] >> 4];
		hex[2 * i + 1] = digits[key[i] & 0xf];
	}
	hex[PM_WG_KEY_HEX_LEN] = '\0';
}

/* 1 to 65535, digits only, no leading zero, to the end of the string */
static gboolean
parse_port(const char *text, guint16 *port)
{
	guint value = 0;
	gsize n = strlen(text);

	if (n == 0 || n > 5 || text[0] == '0')
		return FALSE;
	for (gsize i = 0; i < n; i++) {
		if (!g_ascii_isdigit(text[i]))
			return FALSE;
		value = value * 10 + (guint)(text[i] - '0');
	}
	if (value > 65535)
		return FALSE;
	*port = (guint16)value;
	return TRUE;
}

/* the address of "[IPv6]" or "a.b.c.d" (@len bytes of @text) into @ep */
static gboolean
parse_host(const char *text, gsize len, PmWgEndpoint *ep)
{
	char host[INET6_ADDRSTRLEN];
	static const guint8 zero[16] = {0};

	if (len >= 2 && text[0] == '[' && text[len - 1] == ']') {
		text++;
		len -= 2;
		ep->family = AF_INET6;
	} else {
		ep->family = AF_INET;
	}
	if (len == 0 || len >= sizeof(host))
		return FALSE;
	memcpy(host, text, len);
	host[len] = '\0';
	/* inet_pton() takes nothing but the address: no zone ("%eth0"), no space; glibc's
	 * AF_INET takes four decimal parts only (no "1.2.3", no octal, no hex) */
	if (inet_pton(ep->family, host, ep->address) != 1)
		return FALSE;
	return memcmp(ep->address, zero, ep->family == AF_INET ? 4 : 16) != 0;
}

gboolean
pm_wg_endpoint_parse(const char *text, PmWgEndpoint *out, GError **error)
{
	PmWgEndpoint ep = {0};
	const char *colon = text != NULL ? strrchr(text, ':') : NULL;
	gsize len = text != NULL ? strlen(text) : 0;

	/* the port follows the last ':'; an IPv6 address without brackets leaves a host
	 * that is neither form */
	if (colon == NULL || len > PM_WG_ENDPOINT_MAX_LEN ||
	    !parse_host(text, colon - text, &ep) || !parse_port(colon + 1, &ep.port)) {
		g_set_error_literal(error, PM_WG_CODEC_ERROR, PM_WG_CODEC_ERROR_BAD_ENDPOINT,
				    "not an endpoint (a.b.c.d:port or [IPv6]:port)");
		return FALSE;
	}
	*out = ep;
	return TRUE;
}

char *
pm_wg_endpoint_to_string(const PmWgEndpoint *endpoint)
{
	char host[INET6_ADDRSTRLEN];

	g_return_val_if_fail(endpoint->family == AF_INET || endpoint->family == AF_INET6, NULL);
	inet_ntop(endpoint->family, endpoint->address, host, sizeof(host));
	if (endpoint->family == AF_INET6)
		return g_strdup_printf("[%s]:%u", host, endpoint->port);
	return g_strdup_printf("%s:%u", host, endpoint->port);
}

gboolean
pm_wg_endpoint_equal(const PmWgEndpoint *a, const PmWgEndpoint *b)
{
	return a->family == b->family && a->port == b->port &&
	       memcmp(a->address, b->address, a->family == AF_INET ? 4 : 16) == 0;
}

gboolean
pm_wg_endpoint_matches(const char *current, const PmWgEndpoint *wanted)
{
	PmWgEndpoint ep;

	if (current == NULL || !pm_wg_endpoint_parse(current, &ep, NULL))
		return FALSE;
	return pm_wg_endpoint_equal(&ep, wanted);
}

gboolean
pm_wg_ifname_is_valid(const char *name)
{
	gsize len;

	if (name == NULL)
		return FALSE;
	len = strlen(name);
	if (len == 0 || len > PM_WG_IFNAME_MAX_LEN || strcmp(name, ".") == 0 ||
	    strcmp(name, "..") == 0)
		return FALSE;
	/* the kernel's dev_valid_name(), and what a path component cannot hold */
	for (gsize i = 0; i < len; i++) {
		guchar c = (guchar)name[i];
		if (c == '/' || c == ':' || c <= ' ' || c == 0x7f)
			return FALSE;
	}
	return TRUE;
}

struct _PmWgUapiParser {
	char line[PM_WG_UAPI_MAX_LINE];
	gsize line_len;
	guint line_number; /* of the line being read, from 1 */
	gsize total;
	PmWgDevice *device;
	PmWgPeer *peer; /* the peer whose lines these are, or NULL before the first */
	gboolean has_errno;
	int errnum;
	gboolean done;
	gboolean failed;
};

PmWgUapiParser *
pm_wg_uapi_parser_new(void)
{
	PmWgUapiParser *self = g_new0(PmWgUapiParser, 1);
	self->line_number = 1;
	self->device = pm_wg_device_new();
	return self;
}

void
pm_wg_uapi_parser_free(PmWgUapiParser *self)
{
	if (self == NULL)
		return;
	explicit_bzero(self->line, sizeof(self->line));
	pm_wg_device_free(self->device);
	g_free(self);
}

gboolean
pm_wg_uapi_parser_is_done(const PmWgUapiParser *self)
{
	return self->done;
}

/* [-]digits, its absolute value at most G_MAXINT */
static gboolean
parse_errno(const char *value, gsize len, int *errnum)
{
	gint64 n = 0;
	gsize i = 0;

	if (len > 0 && value[0] == '-')
		i = 1;
	if (i == len || len - i > 10)
		return FALSE;
	for (; i < len; i++) {
		if (!g_ascii_isdigit(value[i]))
			return FALSE;
		n = n * 10 + (value[i] - '0');
	}
	if (n > G_MAXINT)
		return FALSE;
	*errnum = (int)n;
	return TRUE;
}

static gboolean
fail(PmWgUapiParser *self, GError **error, PmWgCodecError code, const char *what)
{
	/* never the line itself: it may be the private key's */
	g_set_error(error, PM_WG_CODEC_ERROR, code, "line %u of the reply: %s",
		    self->line_number, what);
	self->failed = TRUE;
	explicit_bzero(self->line, sizeof(self->line));
	self->line_len = 0;
	g_clear_pointer(&self->device, pm_wg_device_free);
	self->peer = NULL;
	return FALSE;
}

static gboolean
key_is(const char *key, gsize key_len, const char *name)
{
	return strlen(name) == key_len && memcmp(key, name, key_len) == 0;
}

static gboolean
process_line(PmWgUapiParser *self, GError **error)
{
	const char *line = self->line;
	gsize len = self->line_len;
	const char *eq;
	const char *value;
	gsize key_len;
	gsize value_len;

	if (len == 0) {
		if (!self->has_errno)
			return fail(self, error, PM_WG_CODEC_ERROR_MALFORMED,
				    "the reply ended without errno=");
		self->done = TRUE;
		return TRUE;
	}
	if (self->has_errno)
		return fail(self, error, PM_WG_CODEC_ERROR_MALFORMED, "a line after errno=");
	eq = memchr(line, '=', len);
	if (eq == NULL || eq == line)
		return fail(self, error, PM_WG_CODEC_ERROR_MALFORMED, "not a key=value line");
	key_len = eq - line;
	for (gsize i = 0; i < key_len; i++) {
		char c = line[i];
		if (!(g_ascii_islower(c) || g_ascii_isdigit(c) || c == '_'))
			return fail(self, error, PM_WG_CODEC_ERROR_MALFORMED, "not a key");
	}
	value = eq + 1;
	value_len = len - key_len - 1;

	if (key_is(line, key_len, "public_key")) {
		guint8 key[PM_WG_KEY_LEN];
		if (!key_from_hex_len(value, value_len, key))
			return fail(self, error, PM_WG_CODEC_ERROR_MALFORMED,
				    "public_key is not 64 hex digits");
		self->peer = pm_wg_device_add_peer(self->device, key);
		if (self->peer == NULL)
			return fail(self, error,
				    pm_wg_device_get_n_peers(self->device) >= PM_WG_MAX_PEERS
					? PM_WG_CODEC_ERROR_TOO_LARGE
					: PM_WG_CODEC_ERROR_MALFORMED,
				    "a peer listed twice, or too many peers");
	} else if (key_is(line, key_len, "endpoint")) {
		if (self->peer == NULL)
			return fail(self, error, PM_WG_CODEC_ERROR_MALFORMED,
				    "an endpoint before any public_key");
		if (self->peer->endpoint != NULL)
			return fail(self, error, PM_WG_CODEC_ERROR_MALFORMED,
				    "a second endpoint for one peer");
		/* kept for the comparison and the log: printable, no space, bounded (an
		 * IPv6 address with a zone fits) */
		if (value_len == 0 || value_len > 2 * PM_WG_ENDPOINT_MAX_LEN)
			return fail(self, error, PM_WG_CODEC_ERROR_MALFORMED,
				    "an endpoint of invalid length");
		for (gsize i = 0; i < value_len; i++) {
			if (value[i] <= ' ' || value[i] > '~')
				return fail(self, error, PM_WG_CODEC_ERROR_MALFORMED,
					    "an endpoint that is not printable");
		}
		self->peer->endpoint = g_strndup(value, value_len);
	} else if (key_is(line, key_len, "errno")) {
		int errnum;
		if (!parse_errno(value, value_len, &errnum))
			return fail(self, error, PM_WG_CODEC_ERROR_MALFORMED,
				    "errno= is not a number");
		self->errnum = ABS(errnum);
		self->has_errno = TRUE;
	} else if (key_is(line, key_len, "own_public_key") && self->peer == NULL) {
		pm_wg_device_set_has_own_public_key(self->device, TRUE);
	}
	/* private_key, preshared_key and every other key: skipped, never copied */
	return TRUE;
}

gboolean
pm_wg_uapi_parser_feed(PmWgUapiParser *self, const guint8 *data, gsize len, GError **error)
{
	if (self->failed) {
		g_set_error_literal(error, PM_WG_CODEC_ERROR, PM_WG_CODEC_ERROR_MALFORMED,
				    "the reply was already malformed");
		return FALSE;
	}
	for (gsize i = 0; i < len; i++) {
		guint8 c = data[i];

		if (self->done)
			return fail(self, error, PM_WG_CODEC_ERROR_MALFORMED,
				    "data after the reply's final blank line");
		if (++self->total > PM_WG_UAPI_MAX_REPLY)
			return fail(self, error, PM_WG_CODEC_ERROR_TOO_LARGE,
				    "the reply is too large");
		if (c == '\n') {
			gboolean ok = process_line(self, error);
			if (!ok)
				return FALSE;
			explicit_bzero(self->line, self->line_len);
			self->line_len = 0;
			self->line_number++;
			continue;
		}
		if (c < ' ' || c == 0x7f)
			return fail(self, error, PM_WG_CODEC_ERROR_MALFORMED,
				    "a control character");
		if (self->line_len == sizeof(self->line))
			return fail(self, error, PM_WG_CODEC_ERROR_TOO_LARGE, "a line too long");
		self->line[self->line_len++] = (char)c;
	}
	return TRUE;
}

PmWgDevice *
pm_wg_uapi_parser_finish(PmWgUapiParser *self, int *errnum, GError **error)
{
	if (self->failed) {
		g_set_error_literal(error, PM_WG_CODEC_ERROR, PM_WG_CODEC_ERROR_MALFORMED,
				    "the reply was malformed");
		return NULL;
	}
	if (!self->done) {
		g_set_error_literal(error, PM_WG_CODEC_ERROR, PM_WG_CODEC_ERROR_MALFORMED,
				    "the reply ended before its final blank line");
		return NULL;
	}
	*errnum = self->errnum;
	self->peer = NULL;
	return g_steal_pointer(&self->device);
}

PmWgDevice *
pm_wg_uapi_parse_get_reply(const guint8 *data, gsize len, int *errnum, GError **error)
{
	g_autoptr(PmWgUapiParser) parser = pm_wg_uapi_parser_new();

	if (!pm_wg_uapi_parser_feed(parser, data, len, error))
		return NULL;
	return pm_wg_uapi_parser_finish(parser, errnum, error);
}

gboolean
pm_wg_uapi_parse_set_reply(const guint8 *data, gsize len, int *errnum, GError **error)
{
	g_autoptr(PmWgDevice) device = pm_wg_uapi_parse_get_reply(data, len, errnum, error);
	return device != NULL;
}

char *
pm_wg_uapi_build_set(const guint8 *public_key, const PmWgEndpoint *endpoint)
{
	char hex[PM_WG_KEY_HEX_LEN + 1];
	g_autofree char *ep = pm_wg_endpoint_to_string(endpoint);

	g_return_val_if_fail(ep != NULL, NULL);
	pm_wg_key_to_hex(public_key, hex);
	return g_strdup_printf("set=1\npublic_key=%s\nupdate_only=true\nendpoint=%s\n\n", hex,
			       ep);
}
