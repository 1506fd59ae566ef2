/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <glib.h>

/*
 * qBittorrent's Web API v2 (pia-and-torrent-clients.md §2): the login reply classified,
 * the listening-port members of GET /api/v2/app/preferences, and the form bodies of the
 * login and of POST /api/v2/app/setPreferences. Pure: no I/O, safe on any status and
 * bytes. Messages are printable and never hold the password.
 */

#define PM_QBITTORRENT_CODEC_ERROR (pm_qbittorrent_codec_error_quark())

typedef enum {
	PM_QBITTORRENT_CODEC_ERROR_INVALID, /* not the reply qBittorrent sends */
} PmQbittorrentCodecError;

GQuark pm_qbittorrent_codec_error_quark(void);

/* the longest body quoted in a message, in characters */
#define PM_QBITTORRENT_QUOTE_MAX 120
/* a preferences reply is about 5 KiB (4.5.2); user paths and lists make it grow */
#define PM_QBITTORRENT_MAX_REPLY (256 * 1024)

typedef enum {
	PM_QBITTORRENT_LOGIN_OK,	 /* 200 "Ok." (<= 5.1), any other 2xx (204 on 5.2) */
	PM_QBITTORRENT_LOGIN_REFUSED,	 /* 200 "Fails." (<= 5.1), 401 (5.2) */
	PM_QBITTORRENT_LOGIN_FORBIDDEN, /* 403: the address is banned */
	PM_QBITTORRENT_LOGIN_UNEXPECTED, /* anything else: worth another try later */
} PmQbittorrentLoginKind;

/* @message (optional): for all but OK, a sentence for users quoting the status and the
 * body (@password redacted), saying what to do; NULL for OK */
PmQbittorrentLoginKind pm_qbittorrent_parse_login_reply(guint status, const guint8 *body,
							gsize len, const char *password,
							char **message);

/* what portmapd reads of the preferences */
typedef struct {
	guint16 listen_port;
	gboolean random_port; /* absent (a later version may drop it): FALSE */
	gboolean upnp;
	gboolean has_announce_port; /* 5.1+ */
	guint16 announce_port;
} PmQbittorrentPreferences;

/* a JSON object with "listen_port" (0-65535) and "upnp" (boolean), and if present
 * "random_port" (boolean) and "announce_port" (0-65535); else FALSE with why */
gboolean pm_qbittorrent_parse_preferences(const guint8 *body, gsize len,
					  PmQbittorrentPreferences *out, GError **error);

/* whether @prefs listen on @listen_port, with no random port and no UPnP, and announce
 * @announce_port where the version has it; @seen (optional) gets what they have, for
 * messages: "listen_port 6000", and what else differs ("..., upnp true") */
gboolean pm_qbittorrent_preferences_match(const PmQbittorrentPreferences *prefs,
					  guint16 listen_port, guint16 announce_port,
					  char **seen);

/* "json=" and {"listen_port":I,"random_port":false,"upnp":false[,"announce_port":E]},
 * URL-encoded */
char *pm_qbittorrent_build_preferences_form(guint16 listen_port, gboolean with_announce_port,
					    guint16 announce_port);
/* "username=…&password=…", URL-encoded; a secret: free it with pm_secret_free() */
char *pm_qbittorrent_build_login_form(const char *username, const char *password);

/* @body as printable text on one line, @password (if any) redacted, cut at @max_chars */
char *pm_qbittorrent_quote_body(const guint8 *body, gsize len, const char *password,
				gsize max_chars);
