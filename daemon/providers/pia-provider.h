/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include "provider.h"

/*
 * Type=pia: PIA's port forwarding (design §3 "PIA", pia-and-torrent-clients.md §1). A
 * token (POST TokenURL=, or TokenCredential=) buys a signed payload naming a port
 * (getSignature on the gateway, port 19999); bindPort with it every RefreshInterval=
 * keeps the port forwarded E to E on TCP and UDP. The payload is kept in state.json and
 * reused while at least 7 days of it remain. TLS to the gateway is verified against
 * CAFile= (PIA's CA) only, and the name against Hostname=.
 */

#define PM_PIA_DEFAULT_REFRESH_USEC (15 * 60 * G_TIME_SPAN_SECOND)
#define PM_PIA_MAX_REFRESH_USEC (900 * G_TIME_SPAN_SECOND)
#define PM_PIA_DEFAULT_TOKEN_URL "https://www.privateinternetaccess.com/api/client/v2/token"
#define PM_PIA_API_PORT 19999
/* a stored payload with less left is replaced (as PIA's desktop app and thrnz do) */
#define PM_PIA_REUSE_MIN_USEC (7 * G_TIME_SPAN_DAY)
#define PM_PIA_BACKOFF_FIRST_USEC (5 * G_TIME_SPAN_SECOND)
#define PM_PIA_BACKOFF_MAX_USEC (300 * G_TIME_SPAN_SECOND)

/* its keys of [Provider NAME], defaults filled in */
typedef struct {
	guint64 refresh_interval_usec; /* the bind interval: default 15 min, at most 900 s */
	char *gateway;                 /* Gateway=: IPv4[:PORT] as written, NULL: the route's */
	guint32 gateway_address;       /* network byte order, 0 when unset */
	guint16 gateway_port;          /* default 19999 */
	char *hostname;                /* Hostname=: the gateway's certificate name, or NULL */
	char *ca_file;                 /* CAFile=, default the shipped PIA CA */
	char *username;
	char *password_credential;
	char *password_file;
	char *token_credential;
	char *token_url;     /* default PM_PIA_DEFAULT_TOKEN_URL */
	char *token_ca_file; /* NULL: the system's roots */
	/* manual-connections' PAYLOAD_AND_SIGNATURE: a signed port to bind while nothing is
	 * stored (its getSignature reply, {"status":"OK","payload":…,"signature":…}) */
	char *payload_credential;
	char *payload_file;
} PmPiaConfig;

extern const PmProviderClass pm_pia_provider_class;

/* @config's keys, NULL if it is of another class */
const PmPiaConfig *pm_pia_config(const PmProviderConfig *config);
