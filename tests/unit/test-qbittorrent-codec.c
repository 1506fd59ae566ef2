/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qBittorrent's Web API codec (proto/qbittorrent.c): logins classified as 4.5 and 5.2
 * answer them, the preferences that matter read from replies good and bad, the forms,
 * and the password never quoted.
 */
#include <string.h>

#include "proto/qbittorrent.h"

#define B(s) (const guint8 *)(s), strlen(s)

static void
test_login(void)
{
	g_autofree char *message = NULL;

	g_assert_cmpint(pm_qbittorrent_parse_login_reply(200, B("Ok."), "pw", &message), ==,
			PM_QBITTORRENT_LOGIN_OK);
	g_assert_null(message);
	g_assert_cmpint(pm_qbittorrent_parse_login_reply(204, B(""), "pw", NULL), ==,
			PM_QBITTORRENT_LOGIN_OK);
	g_assert_cmpint(pm_qbittorrent_parse_login_reply(200, B("Fails."), "pw", &message), ==,
			PM_QBITTORRENT_LOGIN_REFUSED);
	g_assert_cmpstr(message, ==,
			"HTTP 200 (Fails.): qBittorrent refused the username or password; check "
			"Username= and PasswordCredential=/PasswordFile= (it bans the address "
			"after 5 failures)");
	g_clear_pointer(&message, g_free);
	g_assert_cmpint(pm_qbittorrent_parse_login_reply(401, B(""), "pw", &message), ==,
			PM_QBITTORRENT_LOGIN_REFUSED);
	g_assert_true(g_str_has_prefix(message, "HTTP 401 ((empty body)): qBittorrent refused"));
	g_clear_pointer(&message, g_free);
	g_assert_cmpint(pm_qbittorrent_parse_login_reply(
			    403, B("Your IP address has been banned after too many failed "
				   "authentication attempts."),
			    "pw", &message),
			==, PM_QBITTORRENT_LOGIN_FORBIDDEN);
	g_assert_nonnull(strstr(message, "has banned this address"));
	g_assert_nonnull(strstr(message, "1 h by default"));
	g_clear_pointer(&message, g_free);
	g_assert_cmpint(pm_qbittorrent_parse_login_reply(403, B("Forbidden"), "pw", &message), ==,
			PM_QBITTORRENT_LOGIN_FORBIDDEN);
	g_assert_cmpstr(message, ==, "HTTP 403 (Forbidden): qBittorrent refused the login");
	g_clear_pointer(&message, g_free);
	g_assert_cmpint(pm_qbittorrent_parse_login_reply(502, B("bad\ngateway"), "pw", &message),
			==, PM_QBITTORRENT_LOGIN_UNEXPECTED);
	g_assert_cmpstr(message, ==, "HTTP 502 (bad gateway): not a reply to a login");
	g_clear_pointer(&message, g_free);
	/* "Fails." is the whole body, not a prefix of something else */
	g_assert_cmpint(pm_qbittorrent_parse_login_reply(200, B("Fails.x"), "pw", NULL), ==,
			PM_QBITTORRENT_LOGIN_OK);
	/* a body echoing the password is quoted without it */
	g_assert_cmpint(pm_qbittorrent_parse_login_reply(500, B("bad s3cret! s3cret"), "s3cret",
							 &message),
			==, PM_QBITTORRENT_LOGIN_UNEXPECTED);
	g_assert_cmpstr(message, ==,
			"HTTP 500 (bad [redacted]! [redacted]): not a reply to a login");
}

static void
test_quote(void)
{
	g_autofree char *a = NULL;
	g_autofree char *b = NULL;
	char long_body[400];

	/* redacted before the cut: no part of it is quoted */
	memset(long_body, 'x', sizeof(long_body));
	memcpy(long_body + 115, "secretsecret", 12);
	a = pm_qbittorrent_quote_body((const guint8 *)long_body, sizeof(long_body),
				      "secretsecret", 120);
	g_assert_null(strstr(a, "secr"));
	b = pm_qbittorrent_quote_body((const guint8 *)"", 0, NULL, 120);
	g_assert_cmpstr(b, ==, "(empty body)");
}

static void
test_preferences(void)
{
	PmQbittorrentPreferences p;
	g_autoptr(GError) error = NULL;
	g_autofree char *seen = NULL;

	g_assert_true(pm_qbittorrent_parse_preferences(
	    B("{\"locale\":\"\",\"listen_port\":6000,\"random_port\":false,\"upnp\":true,"
	      "\"scan_dirs\":{\"/a\":0},\"banned_IPs\":\"\",\"web_ui_port\":8080}"),
	    &p, &error));
	g_assert_no_error(error);
	g_assert_cmpuint(p.listen_port, ==, 6000);
	g_assert_false(p.random_port);
	g_assert_true(p.upnp);
	g_assert_false(p.has_announce_port);
	g_assert_false(pm_qbittorrent_preferences_match(&p, 6000, 6000, &seen));
	g_assert_cmpstr(seen, ==, "listen_port 6000, upnp true");
	g_clear_pointer(&seen, g_free);

	g_assert_true(pm_qbittorrent_parse_preferences(
	    B(" {\"listen_port\":51413,\"upnp\":false,\"announce_port\":40000} \n"), &p, &error));
	g_assert_false(p.random_port);
	g_assert_true(p.has_announce_port);
	g_assert_cmpuint(p.announce_port, ==, 40000);
	g_assert_true(pm_qbittorrent_preferences_match(&p, 51413, 40000, NULL));
	g_assert_false(pm_qbittorrent_preferences_match(&p, 51413, 40001, &seen));
	g_assert_cmpstr(seen, ==, "listen_port 51413, announce_port 40000");
	g_clear_pointer(&seen, g_free);

	g_assert_true(pm_qbittorrent_parse_preferences(
	    B("{\"listen_port\":0,\"random_port\":true,\"upnp\":false}"), &p, &error));
	g_assert_false(pm_qbittorrent_preferences_match(&p, 51413, 51413, &seen));
	g_assert_cmpstr(seen, ==, "listen_port 0, random_port true");
}

static void
test_preferences_invalid(void)
{
	static const struct {
		const char *body;
		const char *message;
	} cases[] = {
	    {"", "the preferences are empty"},
	    {"Forbidden", "the preferences are not a JSON object"},
	    {"[1]", "the preferences are not a JSON object"},
	    {"{}{}", "the preferences are not JSON: text after the object"},
	    {"{\"listen_port\":1,\"upnp\":false", "the preferences are not JSON: "},
	    {"{\"upnp\":false}", "the preferences are without \"listen_port\""},
	    {"{\"listen_port\":1}", "the preferences are without \"upnp\""},
	    {"{\"listen_port\":-1,\"upnp\":false}", "\"listen_port\" is -1, not a port"},
	    {"{\"listen_port\":1.5,\"upnp\":false}", "\"listen_port\" is not an integer"},
	    {"{\"listen_port\":null,\"upnp\":false}", "\"listen_port\" is not an integer"},
	    {"{\"listen_port\":1,\"upnp\":\"no\"}", "\"upnp\" is not true or false"},
	    {"{\"listen_port\":1,\"upnp\":false,\"random_port\":0}",
	     "\"random_port\" is not true or false"},
	    {"{\"listen_port\":1,\"upnp\":false,\"announce_port\":65536}",
	     "\"announce_port\" is 65536, not a port"},
	};

	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		PmQbittorrentPreferences p = {.listen_port = 42};
		g_autoptr(GError) error = NULL;

		g_assert_false(pm_qbittorrent_parse_preferences(B(cases[i].body), &p, &error));
		g_assert_error(error, PM_QBITTORRENT_CODEC_ERROR,
			       PM_QBITTORRENT_CODEC_ERROR_INVALID);
		if (strstr(error->message, cases[i].message) == NULL)
			g_error("%s: %s", cases[i].body, error->message);
		/* nothing written */
		g_assert_cmpuint(p.listen_port, ==, 42);
	}
	{
		/* deeply nested, NUL bytes, invalid UTF-8 */
		PmQbittorrentPreferences p;
		g_autoptr(GError) error = NULL;
		g_autoptr(GString) deep = g_string_new("{\"a\":");
		for (guint i = 0; i < 10000; i++)
			g_string_append_c(deep, '[');
		g_assert_false(pm_qbittorrent_parse_preferences((const guint8 *)deep->str,
								deep->len, &p, &error));
		g_assert_nonnull(strstr(error->message, "nested too deeply"));
		g_clear_error(&error);
		g_assert_false(pm_qbittorrent_parse_preferences(
		    (const guint8 *)"{\"listen_port\":1,\0}", 19, &p, &error));
		g_clear_error(&error);
		g_assert_false(pm_qbittorrent_parse_preferences((const guint8 *)"{\"\xff\":1}", 8,
								&p, &error));
		g_assert_nonnull(strstr(error->message, "not UTF-8"));
	}
}

static void
test_forms(void)
{
	g_autofree char *a = pm_qbittorrent_build_preferences_form(51413, FALSE, 0);
	g_autofree char *b = pm_qbittorrent_build_preferences_form(51413, TRUE, 40000);
	g_autofree char *c = pm_qbittorrent_build_login_form("ad min", "p&w=+%é");

	g_assert_cmpstr(a, ==,
			"json=%7B%22listen_port%22%3A51413%2C%22random_port%22%3Afalse%2C"
			"%22upnp%22%3Afalse%7D");
	g_assert_cmpstr(b, ==,
			"json=%7B%22listen_port%22%3A51413%2C%22random_port%22%3Afalse%2C"
			"%22upnp%22%3Afalse%2C%22announce_port%22%3A40000%7D");
	g_assert_cmpstr(c, ==, "username=ad%20min&password=p%26w%3D%2B%25%C3%A9");
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/qbittorrent-codec/login", test_login);
	g_test_add_func("/qbittorrent-codec/quote", test_quote);
	g_test_add_func("/qbittorrent-codec/preferences", test_preferences);
	g_test_add_func("/qbittorrent-codec/preferences-invalid", test_preferences_invalid);
	g_test_add_func("/qbittorrent-codec/forms", test_forms);
	return g_test_run();
}
