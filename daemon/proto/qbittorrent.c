/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <json-glib/json-glib.h>
#include <string.h>

#include "json-body.h"
#include "natpmp-http.h"
#include "qbittorrent.h"

/* qBittorrent's preferences nest a few levels (scan_dirs, lists): deeper is not its reply,
 * and json-glib's parser recurses */
#define MAX_NESTING 32

G_DEFINE_QUARK(pm-qbittorrent-codec-error-quark, pm_qbittorrent_codec_error)

char *
pm_qbittorrent_quote_body(const guint8 *body, gsize len, const char *password,
			  gsize max_chars)
{
	static const char redacted[] = "[redacted]";
	gsize plen = password != NULL ? strlen(password) : 0;
	g_autoptr(GByteArray) clean = NULL;
	gsize i = 0;

	if (plen == 0 || body == NULL)
		return pm_natpmp_http_quote_body(body, len, max_chars);
	/* redacted before it is cut, so that no part of the password is quoted either */
	clean = g_byte_array_sized_new((guint)len);
	while (i < len) {
		const guint8 *hit = memmem(body + i, len - i, password, plen);
		gsize upto = hit != NULL ? (gsize)(hit - body) : len;

		g_byte_array_append(clean, body + i, (guint)(upto - i));
		if (hit == NULL)
			break;
		g_byte_array_append(clean, (const guint8 *)redacted, sizeof(redacted) - 1);
		i = upto + plen;
	}
	return pm_natpmp_http_quote_body(clean->data, clean->len, max_chars);
}

PmQbittorrentLoginKind
pm_qbittorrent_parse_login_reply(guint status, const guint8 *body, gsize len,
				 const char *password, char **message)
{
	g_autofree char *quote = pm_qbittorrent_quote_body(body, len, password,
							   PM_QBITTORRENT_QUOTE_MAX);
	gboolean fails = len >= 6 && memcmp(body, "Fails.", 6) == 0 &&
			 (len == 6 || g_ascii_isspace(body[6]));
	PmQbittorrentLoginKind kind;
	char *text = NULL;

	if (status >= 200 && status < 300 && !fails) {
		kind = PM_QBITTORRENT_LOGIN_OK;
	} else if (status == 200 || status == 401) {
		kind = PM_QBITTORRENT_LOGIN_REFUSED;
		text = g_strdup_printf("HTTP %u (%s): qBittorrent refused the username or "
				       "password; check Username= and PasswordCredential=/"
				       "PasswordFile= (it bans the address after 5 failures)",
				       status, quote);
	} else if (status == 403) {
		kind = PM_QBITTORRENT_LOGIN_FORBIDDEN;
		if (len > 0 && g_strstr_len((const char *)body, (gssize)len, "banned") != NULL)
			text = g_strdup_printf(
			    "HTTP 403 (%s): qBittorrent has banned this address after failed "
			    "logins; fix the password, then wait for the ban to end "
			    "(WebUI\\BanDuration, 1 h by default) or restart qBittorrent",
			    quote);
		else
			text = g_strdup_printf("HTTP 403 (%s): qBittorrent refused the login", quote);
	} else {
		kind = PM_QBITTORRENT_LOGIN_UNEXPECTED;
		text = g_strdup_printf("HTTP %u (%s): not a reply to a login", status, quote);
	}
	if (message != NULL)
		*message = text;
	else
		g_free(text);
	return kind;
}

/* @member as an integer within [0, 65535]; absent: FALSE with *@present FALSE */
static gboolean
get_port(JsonObject *object, const char *member, gboolean *present, guint16 *out,
	 GError **error)
{
	JsonNode *node = json_object_get_member(object, member);
	gint64 value;

	*present = node != NULL;
	if (node == NULL)
		return FALSE;
	if (!JSON_NODE_HOLDS_VALUE(node) || json_node_get_value_type(node) != G_TYPE_INT64) {
		g_set_error(error, PM_QBITTORRENT_CODEC_ERROR, PM_QBITTORRENT_CODEC_ERROR_INVALID,
			    "the preferences' \"%s\" is not an integer", member);
		return FALSE;
	}
	value = json_node_get_int(node);
	if (value < 0 || value > G_MAXUINT16) {
		g_set_error(error, PM_QBITTORRENT_CODEC_ERROR, PM_QBITTORRENT_CODEC_ERROR_INVALID,
			    "the preferences' \"%s\" is %" G_GINT64_FORMAT ", not a port", member,
			    value);
		return FALSE;
	}
	*out = (guint16)value;
	return TRUE;
}

static gboolean
get_bool(JsonObject *object, const char *member, gboolean *present, gboolean *out,
	 GError **error)
{
	JsonNode *node = json_object_get_member(object, member);

	*present = node != NULL;
	if (node == NULL)
		return FALSE;
	if (!JSON_NODE_HOLDS_VALUE(node) || json_node_get_value_type(node) != G_TYPE_BOOLEAN) {
		g_set_error(error, PM_QBITTORRENT_CODEC_ERROR, PM_QBITTORRENT_CODEC_ERROR_INVALID,
			    "the preferences' \"%s\" is not true or false", member);
		return FALSE;
	}
	*out = json_node_get_boolean(node);
	return TRUE;
}

static gboolean
set_invalid(GError **error, const char *why)
{
	g_set_error(error, PM_QBITTORRENT_CODEC_ERROR, PM_QBITTORRENT_CODEC_ERROR_INVALID,
		    "the preferences are %s", why);
	return FALSE;
}

gboolean
pm_qbittorrent_parse_preferences(const guint8 *body, gsize len, PmQbittorrentPreferences *out,
				 GError **error)
{
	g_autoptr(JsonParser) parser = NULL;
	g_autoptr(GError) local_error = NULL;
	PmQbittorrentPreferences prefs = {0};
	gboolean present;
	JsonObject *object;
	JsonNode *root;
	const char *why;

	if (len == 0)
		return set_invalid(error, "empty");
	if (len > PM_QBITTORRENT_MAX_REPLY)
		return set_invalid(error, "too large");
	/* json-glib must see neither NUL bytes nor invalid UTF-8 */
	if (!g_utf8_validate((const char *)body, (gssize)len, NULL))
		return set_invalid(error, "not UTF-8 text");
	why = pm_json_body_check_shape(body, len, MAX_NESTING);
	if (why != NULL)
		return set_invalid(error, why);
	parser = json_parser_new_immutable();
	if (!json_parser_load_from_data(parser, (const char *)body, (gssize)len, &local_error)) {
		/* json-glib quotes the offending text as it is */
		g_autofree char *quoted = pm_natpmp_http_quote_body(
		    (const guint8 *)local_error->message, strlen(local_error->message),
		    PM_QBITTORRENT_QUOTE_MAX);
		g_autofree char *full = g_strdup_printf("not JSON: %s", quoted);
		return set_invalid(error, full);
	}
	root = json_parser_get_root(parser);
	if (root == NULL || !JSON_NODE_HOLDS_OBJECT(root))
		return set_invalid(error, "not a JSON object");
	object = json_node_get_object(root);

	if (!get_port(object, "listen_port", &present, &prefs.listen_port, error)) {
		if (!present)
			set_invalid(error, "without \"listen_port\"");
		return FALSE;
	}
	if (!get_bool(object, "upnp", &present, &prefs.upnp, error)) {
		if (!present)
			set_invalid(error, "without \"upnp\"");
		return FALSE;
	}
	if (!get_bool(object, "random_port", &present, &prefs.random_port, error) && present)
		return FALSE;
	prefs.has_announce_port =
	    get_port(object, "announce_port", &present, &prefs.announce_port, error);
	if (present && !prefs.has_announce_port)
		return FALSE;
	*out = prefs;
	return TRUE;
}

gboolean
pm_qbittorrent_preferences_match(const PmQbittorrentPreferences *prefs, guint16 listen_port,
				 guint16 announce_port, char **seen)
{
	gboolean matches = TRUE;
	GString *text = g_string_new(NULL);

	g_string_printf(text, "listen_port %u", prefs->listen_port);
	if (prefs->listen_port != listen_port)
		matches = FALSE;
	if (prefs->random_port) {
		g_string_append(text, ", random_port true");
		matches = FALSE;
	}
	if (prefs->upnp) {
		g_string_append(text, ", upnp true");
		matches = FALSE;
	}
	if (prefs->has_announce_port && prefs->announce_port != announce_port) {
		g_string_append_printf(text, ", announce_port %u", prefs->announce_port);
		matches = FALSE;
	}
	if (seen != NULL)
		*seen = g_string_free(text, FALSE);
	else
		g_string_free(text, TRUE);
	return matches;
}

char *
pm_qbittorrent_build_preferences_form(guint16 listen_port, gboolean with_announce_port,
				      guint16 announce_port)
{
	g_autofree char *json = NULL;
	g_autofree char *escaped = NULL;

	/* random_port true would win over listen_port; UPnP would map a port of its own */
	if (with_announce_port)
		json = g_strdup_printf("{\"listen_port\":%u,\"random_port\":false,\"upnp\":false,"
				       "\"announce_port\":%u}",
				       listen_port, announce_port);
	else
		json = g_strdup_printf(
		    "{\"listen_port\":%u,\"random_port\":false,\"upnp\":false}", listen_port);
	escaped = g_uri_escape_string(json, NULL, FALSE);
	return g_strconcat("json=", escaped, NULL);
}

char *
pm_qbittorrent_build_login_form(const char *username, const char *password)
{
	g_autofree char *u = g_uri_escape_string(username, NULL, FALSE);
	g_autofree char *p = g_uri_escape_string(password != NULL ? password : "", NULL, FALSE);
	char *form = g_strconcat("username=", u, "&password=", p, NULL);

	/* the escaped copy of the password is wiped as the caller wipes the form */
	memset(p, 0, strlen(p));
	return form;
}
