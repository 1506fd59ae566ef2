/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <gio/gio.h>

#include "proto/routeros.h"
#include "scheduler.h"

/*
 * A MikroTik RouterOS API client (reference/routeros.md): a pool of PoolSize= persistent
 * connections (plain TCP 8728, or TLS 8729 through GIO), each logged in once, each with at
 * most one command on the wire. Commands queue in order and go to the first idle logged-in
 * connection, so up to PoolSize= run in parallel. Every command carries a ".tag" of its
 * own; a reply with another tag is a desynchronised stream (the connection is closed).
 *
 * Never blocks: connect, TLS handshake, login, reads and writes are GIO async calls on the
 * thread-default main context; timeouts are PmScheduler timers.
 *
 * Errors:
 * - "!trap": PM_ROS_ERROR_TRAP with the "=message=" (the connection stays);
 * - "!fatal", EOF, a reset, a codec error: PM_ROS_ERROR_CONNECTION (the connection is
 *   closed and dialled again with backoff);
 * - no complete reply within Timeout= of the command's queueing: PM_ROS_ERROR_TIMEOUT (a
 *   command already on the wire closes its connection: a late reply would desynchronise
 *   the stream);
 * - login refused: PM_ROS_ERROR_LOGIN, logged once; every queued command fails at once
 *   with it, and so do new commands until the next attempt, which waits
 *   PM_ROS_LOGIN_RETRY_USEC (no retry storm against the router's log);
 * - TLS: PM_ROS_ERROR_TLS (certificate not trusted, fingerprint mismatch, or a router
 *   whose api-ssl has no certificate: anonymous Diffie-Hellman, not supported);
 * - the router cannot be reached (connect refused or timed out) while no connection is
 *   up: queued commands fail at once with PM_ROS_ERROR_CONNECTION instead of waiting
 *   for their timeout;
 * - the client freed with commands queued or in flight: G_IO_ERROR_CANCELLED, from inside
 *   pm_ros_client_free().
 * Callbacks always run from the main loop, never from inside pm_ros_client_call().
 */

#define PM_ROS_DEFAULT_PORT 8728
#define PM_ROS_DEFAULT_TLS_PORT 8729
#define PM_ROS_DEFAULT_POOL_SIZE 4
#define PM_ROS_MAX_POOL_SIZE 64
#define PM_ROS_DEFAULT_TIMEOUT_USEC (10 * G_USEC_PER_SEC)
/* an idle connection sends "/system/identity/print" this often (a half-open socket is
 * found before a command needs it); TCP keepalive is set too */
#define PM_ROS_KEEPALIVE_USEC (60 * G_USEC_PER_SEC)
/* reconnect backoff: 1 s doubling to 60 s, with jitter */
#define PM_ROS_BACKOFF_MIN_USEC (1 * G_USEC_PER_SEC)
#define PM_ROS_BACKOFF_MAX_USEC (60 * G_USEC_PER_SEC)
/* after a refused login */
#define PM_ROS_LOGIN_RETRY_USEC (5 * 60 * G_USEC_PER_SEC)

#define PM_ROS_ERROR (pm_ros_error_quark())
typedef enum {
	PM_ROS_ERROR_TRAP,
	PM_ROS_ERROR_CONNECTION,
	PM_ROS_ERROR_TIMEOUT,
	PM_ROS_ERROR_LOGIN,
	PM_ROS_ERROR_TLS,
} PmRosError;
GQuark pm_ros_error_quark(void);

typedef struct {
	const char *host;	/* an IPv4/IPv6 literal or a host name */
	guint16 port;
	gboolean tls;
	const char *ca_file;	 /* TLS: verify against this CA (and the host name/address) */
	const guint8 *fingerprint; /* TLS: 32 bytes, the SHA-256 of the router's certificate
				    * (DER): pinned, whoever signed it; NULL: not pinned */
	/* TLS with neither: the system's roots (tls-trust.h) */
	const char *username;
	const char *password;
	guint pool_size;       /* 1..PM_ROS_MAX_POOL_SIZE */
	guint64 timeout_usec;  /* per command, from its queueing to its "!done" */
	guint64 keepalive_usec; /* 0: PM_ROS_KEEPALIVE_USEC */
} PmRosClientConfig;

typedef struct _PmRosClient PmRosClient;

typedef struct {
	GPtrArray *rows;     /* of PmRosSentence: the "!re" sentences, in order */
	PmRosSentence *done; /* the "!done" sentence ("=ret=" of an add), or the "!trap" */
} PmRosReply;

/* @reply: borrowed for the call; NULL unless the router answered (a "!trap" gives the
 * reply with the trap in ->done and @error set, so "=category=" can be read) */
typedef void (*PmRosCallFunc)(PmRosClient *client, const PmRosReply *reply,
			      const GError *error, gpointer user_data);

/* copies @config; starts dialling the pool at once (failures are logged, and retried) */
PmRosClient *pm_ros_client_new(PmScheduler *scheduler, const PmRosClientConfig *config);
void pm_ros_client_free(PmRosClient *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PmRosClient, pm_ros_client_free)

/* queues the command @words (NULL-terminated: the command word, then "=name=value" and
 * "?query" words; no ".tag", the client adds it) */
void pm_ros_client_call(PmRosClient *self, const char *const *words, PmRosCallFunc done,
			gpointer user_data);

/* connections logged in now */
guint pm_ros_client_get_n_ready(PmRosClient *self);
/* successful logins since the client was made (tests: a pool reconnects, no storm) */
guint pm_ros_client_get_n_logins(PmRosClient *self);
/* the last connection-level error ("login refused by 192.168.88.1:8728: ..."), or NULL
 * once a connection is up again */
const char *pm_ros_client_get_last_error(PmRosClient *self);
/* "AA:BB:…" (95 characters): a SHA-256 fingerprint as RouterOS and openssl print it */
char *pm_ros_fingerprint_to_string(const guint8 *fingerprint);
/* the "=message=" of the reply's last sentence (a "!trap"), or NULL */
const char *pm_ros_reply_get_message(const PmRosReply *reply);
