/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include "provider.h"

/*
 * Type=natpmp-http: mappings through the natpmp-http-api service (design §3
 * "natpmp-http", natpmp.md §2.5), which maps ports to its own host. Each mapping POSTs
 * {URL}/forward per protocol every RefreshInterval=, asking Lifetime=; the service has no
 * delete, no suggestion and no external address.
 */

#define PM_NATPMP_HTTP_DEFAULT_LIFETIME 60
#define PM_NATPMP_HTTP_DEFAULT_REFRESH_USEC (45 * G_TIME_SPAN_SECOND)
#define PM_NATPMP_HTTP_BACKOFF_FIRST_USEC (5 * G_TIME_SPAN_SECOND)
#define PM_NATPMP_HTTP_BACKOFF_MAX_USEC (64 * G_TIME_SPAN_SECOND)

/* its keys of [Provider NAME], defaults filled in */
typedef struct {
	char *url;              /* the base URL as written, without trailing slashes */
	char *token_credential; /* TokenCredential=: a credential's name, or NULL */
	char *token_file;       /* TokenFile=: a path, or NULL */
	guint32 lifetime;       /* seconds: the "duration" asked; default 60 */
	guint64 refresh_interval_usec; /* default 45 s, shorter than the lifetime */
} PmNatpmpHttpConfig;

extern const PmProviderClass pm_natpmp_http_provider_class;

/* @config's keys, NULL if it is of another class */
const PmNatpmpHttpConfig *pm_natpmp_http_config(const PmProviderConfig *config);
/* a [Provider @name] Type=natpmp-http with these keys (tests); takes @natpmp_http */
PmProviderConfig *pm_natpmp_http_config_new(const char *name, PmNatpmpHttpConfig *natpmp_http);
