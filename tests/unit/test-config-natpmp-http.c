/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * [Provider NAME] Type=natpmp-http: its keys, defaults and rules, the rules for its
 * [Mapping] groups, --print-config, and every error located as
 * "FILE:LINE: [GROUP] KEY=VALUE: WHAT; accepted values: ...".
 */
#include <string.h>

#include "config.h"
#include "errors.h"
#include "natpmp-http-provider.h"
#include "test-config-load.h"

#define PROVIDER "[Provider vpn]\nType=natpmp-http\n"

static void
test_defaults(void)
{
	g_autoptr(PmConfig) config =
	    pm_test_config_load_ok(PROVIDER "URL=http://127.0.0.1:8080/\n"
					    "[Mapping torrent]\nInternalPort=51413\n");
	const PmNatpmpHttpConfig *vpn = pm_natpmp_http_config(pm_config_find_provider(config, "vpn"));
	const PmMappingConfig *torrent = pm_config_find_mapping(config, "torrent");

	g_assert_nonnull(vpn);
	/* the trailing slash is dropped: /forward and /health are added to it */
	g_assert_cmpstr(vpn->url, ==, "http://127.0.0.1:8080");
	g_assert_null(vpn->token_credential);
	g_assert_null(vpn->token_file);
	g_assert_cmpuint(vpn->lifetime, ==, 60);
	g_assert_cmpuint(vpn->refresh_interval_usec, ==, 45 * G_USEC_PER_SEC);
	g_assert_cmpstr(torrent->provider, ==, "vpn");
	g_assert_cmpuint(torrent->internal_port, ==, 51413);
	g_assert_cmpuint(torrent->protocols, ==, PM_PROTOCOL_TCP | PM_PROTOCOL_UDP);
	g_assert_null(pm_natpmp_http_config(NULL));
}

static void
test_keys(void)
{
	g_autoptr(PmConfig) config =
	    pm_test_config_load_ok(PROVIDER "URL=https://gluetun.lan:8000/natpmp//\n"
					    "TokenFile=/etc/portmap/natpmp-token\n"
					    "Lifetime=300\n"
					    "RefreshInterval=4min\n"
					    "[Provider other]\nType=natpmp-http\nURL=HTTP://10.0.0.2\n"
					    "TokenCredential=natpmp-token\nLifetime=2\n"
					    "RefreshInterval=1s\n"
					    "[Mapping web]\nProvider=other\nProtocols=udp\nInternalPort=80\n");
	const PmNatpmpHttpConfig *vpn = pm_natpmp_http_config(pm_config_find_provider(config, "vpn"));
	const PmNatpmpHttpConfig *other =
	    pm_natpmp_http_config(pm_config_find_provider(config, "other"));

	g_assert_cmpstr(vpn->url, ==, "https://gluetun.lan:8000/natpmp");
	g_assert_cmpstr(vpn->token_file, ==, "/etc/portmap/natpmp-token");
	g_assert_cmpuint(vpn->lifetime, ==, 300);
	g_assert_cmpuint(vpn->refresh_interval_usec, ==, 240 * G_USEC_PER_SEC);
	g_assert_cmpstr(other->url, ==, "HTTP://10.0.0.2");
	g_assert_cmpstr(other->token_credential, ==, "natpmp-token");
	g_assert_cmpuint(other->lifetime, ==, 2);
	g_assert_cmpuint(other->refresh_interval_usec, ==, G_USEC_PER_SEC);
}

/* what --print-config writes reads back to an equal configuration; the token's place,
 * never a token */
static void
test_print(void)
{
	g_autoptr(PmConfig) config =
	    pm_test_config_load_ok(PROVIDER "URL=http://127.0.0.1:8080\n"
					    "TokenCredential=natpmp-token\n"
					    "RefreshInterval=30\n"
					    "[Mapping torrent]\nInternalPort=51413\n");
	g_autofree char *data = pm_config_to_data(config);
	g_autoptr(GError) error = NULL;
	g_autoptr(PmConfig) again = pm_test_config_load(data, &error);

	g_assert_no_error(error);
	g_assert_nonnull(strstr(data, "[Provider vpn]\nType=natpmp-http\nURL=http://127.0.0.1:8080\n"
				      "TokenCredential=natpmp-token\nLifetime=60\n"
				      "RefreshInterval=30s\n"));
	g_assert_true(pm_provider_config_equal(pm_config_find_provider(config, "vpn"),
					       pm_config_find_provider(again, "vpn")));
	/* a changed key makes another provider (a Reload replaces it) */
	{
		g_autoptr(PmConfig) changed =
		    pm_test_config_load_ok(PROVIDER "URL=http://127.0.0.1:8080\n"
						    "TokenFile=/etc/portmap/token\n"
						    "RefreshInterval=30\n");
		g_assert_false(pm_provider_config_equal(pm_config_find_provider(config, "vpn"),
							pm_config_find_provider(changed, "vpn")));
	}
}

static void
test_errors(void)
{
	static const struct {
		const char *text;
		const char *message;
	} cases[] = {
	    {PROVIDER, "test.conf:1: [Provider vpn]: URL= is required: set the natpmp-http "
		       "service's base URL, such as http://127.0.0.1:8080"},
	    {PROVIDER "URL=ftp://127.0.0.1/\n",
	     "test.conf:3: [Provider vpn] URL=ftp://127.0.0.1/: not an http:// or https:// URL "
	     "with a host; accepted values: the service's http:// or https:// base URL, such as "
	     "http://127.0.0.1:8080, without credentials, query or fragment"},
	    {PROVIDER "URL=127.0.0.1:8080\n",
	     "test.conf:3: [Provider vpn] URL=127.0.0.1:8080: not a URL; accepted values: the service's http:// or https:// base URL, such as "
	     "http://127.0.0.1:8080, without credentials, query or fragment"},
	    {PROVIDER "URL=\n",
	     "test.conf:3: [Provider vpn] URL=: not a URL; accepted values: the service's "
	     "http:// or https:// base URL, such as http://127.0.0.1:8080, without credentials, "
	     "query or fragment"},
	    {PROVIDER "URL=http://\n",
	     "test.conf:3: [Provider vpn] URL=http://: not an http:// or https:// URL with a "
	     "host; accepted values: the service's http:// or https:// base URL, such as "
	     "http://127.0.0.1:8080, without credentials, query or fragment"},
	    {PROVIDER "URL=http://[::1\n",
	     "test.conf:3: [Provider vpn] URL=http://[::1: not a URL; accepted values: the "
	     "service's http:// or https:// base URL, such as http://127.0.0.1:8080, without "
	     "credentials, query or fragment"},
	    {PROVIDER "URL=http://user@127.0.0.1:8080\n",
	     "test.conf:3: [Provider vpn] URL=http://user@127.0.0.1:8080: credentials in the "
	     "URL; set TokenCredential= or TokenFile= instead; accepted values: the service's "
	     "http:// or https:// base URL, such as http://127.0.0.1:8080, without credentials, "
	     "query or fragment"},
	    {PROVIDER "URL=http://127.0.0.1:8080/?x=1\n",
	     "test.conf:3: [Provider vpn] URL=http://127.0.0.1:8080/?x=1: a base URL has no "
	     "query or fragment: portmapd adds /forward and /health to it; accepted values: the "
	     "service's http:// or https:// base URL, such as http://127.0.0.1:8080, without "
	     "credentials, query or fragment"},
	    {PROVIDER "URL=http://127.0.0.1\nTokenCredential=a\nTokenFile=/b\n",
	     "test.conf:5: [Provider vpn] TokenFile=/b: TokenCredential= is set too; accepted "
	     "values: one of TokenCredential= and TokenFile="},
	    {PROVIDER "URL=http://127.0.0.1\nTokenCredential=\n",
	     "test.conf:4: [Provider vpn] TokenCredential=: empty; accepted values: the NAME of "
	     "LoadCredential=NAME:PATH"},
	    {PROVIDER "URL=http://127.0.0.1\nTokenFile=\n",
	     "test.conf:4: [Provider vpn] TokenFile=: empty; accepted values: the path of a file "
	     "holding the secret"},
	    {PROVIDER "URL=http://127.0.0.1\nLifetime=0\n",
	     "test.conf:4: [Provider vpn] Lifetime=0: out of range; accepted values: a whole "
	     "number of seconds from 1 to 4294967295*"},
	    {PROVIDER "URL=http://127.0.0.1\nRefreshInterval=500ms\n",
	     "test.conf:4: [Provider vpn] RefreshInterval=500ms: *"},
	    {PROVIDER "URL=http://127.0.0.1\nRefreshInterval=60\n",
	     "test.conf:4: [Provider vpn] RefreshInterval=60: not shorter than Lifetime=60: the "
	     "port would lapse before each refresh; accepted values: from 1s to less than 60s "
	     "(Lifetime=)"},
	    /* the default 45s against a shorter Lifetime=: at the header */
	    {PROVIDER "URL=http://127.0.0.1\nLifetime=30\n",
	     "test.conf:1: [Provider vpn] RefreshInterval=45s (the default): not shorter than "
	     "Lifetime=30: the port would lapse before each refresh; accepted values: from 1s "
	     "to less than 30s (Lifetime=)"},
	    {PROVIDER "URL=http://127.0.0.1\nGateway=10.2.0.1\n",
	     "test.conf:4: [Provider vpn] Gateway=10.2.0.1: unknown key; accepted keys: Type, "
	     "URL, TokenCredential, TokenFile, Lifetime, RefreshInterval"},
	    {PROVIDER "URL=http://127.0.0.1\n[Mapping m]\nInternalPort=80\nExternalPort=80\n",
	     "test.conf:6: [Mapping m] ExternalPort=80: not supported by provider vpn "
	     "(Type=natpmp-http): the service cannot be asked for an external port; accepted "
	     "values: none: remove ExternalPort="},
	    {PROVIDER "URL=http://127.0.0.1\n[Mapping m]\nProtocols=tcp\n",
	     "test.conf:4: [Mapping m]: InternalPort= is required: set the port the application "
	     "listens on (provider vpn is Type=natpmp-http)"},
	};

	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		gsize len = strlen(cases[i].message);
		g_test_message("case %u: %s", i, cases[i].text);
		if (cases[i].message[len - 1] == '*') {
			g_autoptr(GError) error = NULL;
			g_autoptr(PmConfig) config = pm_test_config_load(cases[i].text, &error);
			g_autofree char *prefix = g_strndup(cases[i].message, len - 1);
			g_assert_null(config);
			g_assert_error(error, PM_ERROR, PM_ERROR_INVALID_CONFIGURATION);
			g_assert_true(g_str_has_prefix(error->message, prefix));
			continue;
		}
		pm_test_config_assert_load_error(cases[i].text, cases[i].message);
	}
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);

	g_test_add_func("/config-natpmp-http/defaults", test_defaults);
	g_test_add_func("/config-natpmp-http/keys", test_keys);
	g_test_add_func("/config-natpmp-http/print", test_print);
	g_test_add_func("/config-natpmp-http/errors", test_errors);
	return g_test_run();
}
