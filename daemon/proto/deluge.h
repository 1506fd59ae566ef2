/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <json-glib/json-glib.h>

/*
 * Deluge's web JSON-RPC (pia-and-torrent-clients.md §3): POST {"method":…,"params":[…],
 * "id":N} to deluge-web's /json, which answers {"result":…,"error":null|{"message":…,
 * "code":…},"id":N}. Pure: no I/O, safe on any status and bytes. Every message is
 * printable and never holds the password: a request that carries it is built here only.
 */

#define PM_DELUGE_CODEC_ERROR (pm_deluge_codec_error_quark())

typedef enum {
	PM_DELUGE_CODEC_ERROR_INVALID, /* not a reply deluge-web sends: HTTP status, body, id */
	PM_DELUGE_CODEC_ERROR_RPC,     /* a reply whose "error" is set */
} PmDelugeCodecError;

GQuark pm_deluge_codec_error_quark(void);

/* the codes of deluge-web's json_api.py */
#define PM_DELUGE_RPC_NOT_AUTHENTICATED 1 /* no session, or it expired */
#define PM_DELUGE_RPC_UNKNOWN_METHOD 2	  /* core.* while deluge-web has no daemon */

/* the longest text quoted in a message, in characters */
#define PM_DELUGE_QUOTE_MAX 200
/* deluge-web's largest reply here is web.connect's list of methods (3 KiB in 2.0.3) */
#define PM_DELUGE_MAX_REPLY (128 * 1024)

/* the request bodies; auth.login's holds the password: the caller wipes it */
char *pm_deluge_build_login(const char *password, guint id);
/* @method with no parameters: "web.connected", "web.get_hosts" */
char *pm_deluge_build_call(const char *method, guint id);
char *pm_deluge_build_connect(const char *host_id, guint id);
/* core.get_config_values [["listen_ports","random_port"]] */
char *pm_deluge_build_get_ports(guint id);
/* core.set_config [{"listen_ports":[P,P],"random_port":false}] */
char *pm_deluge_build_set_port(guint16 port, guint id);

/*
 * A reply to the request of @id: TRUE with its "result" (owned by *@parser_out, never
 * NULL: a JSON null is a node too); else FALSE with PM_DELUGE_CODEC_ERROR_INVALID (another
 * status than 200, not such an object, another id) or PM_DELUGE_CODEC_ERROR_RPC, whose
 * *@rpc_code (optional) gets the error's "code" (-1 if it has none)
 */
gboolean pm_deluge_parse_reply(guint status, const guint8 *body, gsize len, guint id,
			       JsonParser **parser_out, JsonNode **result, gint64 *rpc_code,
			       GError **error);

/* a boolean result (auth.login, web.connected) */
gboolean pm_deluge_result_get_boolean(JsonNode *result, gboolean *out, GError **error);

/* web.get_hosts: [[id, host, port, user], …]; the id of the first host (a copy), NULL
 * with no error when there is none, NULL with an error when the result is not that list;
 * *@description gets "HOST:PORT" of the one chosen */
char *pm_deluge_result_first_host(JsonNode *result, char **description, GError **error);

/* core.get_config_values: {"listen_ports":[LOW,HIGH],"random_port":BOOL} */
typedef struct {
	guint16 low;
	guint16 high;
	gboolean random_port;
} PmDelugePorts;

gboolean pm_deluge_result_get_ports(JsonNode *result, PmDelugePorts *out, GError **error);
/* "listen_ports [6881, 6891], random_port true" */
char *pm_deluge_ports_to_string(const PmDelugePorts *ports);
