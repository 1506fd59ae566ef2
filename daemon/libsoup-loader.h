/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <glib.h>
#include <libsoup/soup.h>

/*
 * libsoup is loaded on first use, the way systemd dlopen()s its optional libraries: linked
 * in, it and what it pulls in (Kerberos, SQLite, nghttp2, libpsl…) cost 1.6 MiB of RSS at
 * every start, and a NAT-PMP-only daemon must stay under 8 MiB (design §9). These are the
 * only functions of it the daemon calls (the session in context.c, each exchange in
 * http-call.c), resolved once. Signals and properties need no symbol.
 */

typedef struct {
	SoupSession *(*session_new_with_options)(const char *first_property_name, ...);
	SoupMessage *(*message_new_from_uri)(const char *method, GUri *uri);
	SoupMessageHeaders *(*message_get_request_headers)(SoupMessage *msg);
	SoupMessageHeaders *(*message_get_response_headers)(SoupMessage *msg);
	void (*message_headers_append)(SoupMessageHeaders *hdrs, const char *name,
				       const char *value);
	void (*message_headers_replace)(SoupMessageHeaders *hdrs, const char *name,
					const char *value);
	const char *(*message_headers_get_list)(SoupMessageHeaders *hdrs, const char *name);
	void (*message_set_request_body_from_bytes)(SoupMessage *msg, const char *content_type,
						    GBytes *bytes);
	void (*message_add_flags)(SoupMessage *msg, SoupMessageFlags flags);
	GUri *(*message_get_uri)(SoupMessage *msg);
	guint (*message_get_status)(SoupMessage *msg);
	const char *(*message_get_reason_phrase)(SoupMessage *msg);
	void (*session_send_and_read_async)(SoupSession *session, SoupMessage *msg,
					    int io_priority, GCancellable *cancellable,
					    GAsyncReadyCallback callback, gpointer user_data);
	GBytes *(*session_send_and_read_finish)(SoupSession *session, GAsyncResult *result,
						GError **error);
	GSList *(*cookies_from_response)(SoupMessage *msg);
	const char *(*cookie_get_name)(SoupCookie *cookie);
	const char *(*cookie_get_value)(SoupCookie *cookie);
	void (*cookies_free)(GSList *cookies);
} PmLibsoup;

/* the table, loading the library on the first call; NULL with PM_ERROR_NOT_SUPPORTED if
 * it is missing (the message says what to install) */
const PmLibsoup *pm_libsoup_get(GError **error);
