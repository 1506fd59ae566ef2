/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include "consumer.h"

/*
 * The common part of the consumers that set an application's listening port through its
 * Web API: qbittorrent.c, transmission.c, deluge.c (design §3 "Ports", §6).
 *
 * A class embeds PmPortSetterConfig first in its configuration and PmPortSetter first in
 * its object, puts PM_PORT_SETTER_CONFIG_KEYS in its key table, calls the
 * pm_port_setter_config_*() functions from its own config hooks, points its
 * PmConsumerClass's init/finalize/mapping_*()/describe at the pm_port_setter_*() ones
 * (or calls them from its own), sets .single_mapping, and implements two operations:
 *
 *   check(): read what the application has now and say whether it is the target;
 *   set():   tell it the target.
 *
 * Each logs in as it needs (a session kept in the class's object, logged in again once
 * when the application says the session is gone) and ends with exactly one
 * pm_port_setter_checked() / pm_port_setter_set_done(), now or later.
 *
 * The engine here runs check → (if not the target) set → check, so every delivery is
 * proven by reading the application back, and one already right costs one read. Its
 * rules:
 *  - one operation at a time; a newer target waits for the one in flight and replaces any
 *    waiting target (the latest ports win);
 *  - the target is the internal port I of the mapping's TCP pair (else UDP's) as the
 *    listening port, and its external port E to announce where the application can;
 *    a port 0 is never pushed;
 *  - PM_PORT_SETTER_RETRY (unreachable, 5xx, timeout, read back another value) reports
 *    `pending` and tries again after 2 s, doubling to 5 min, with jitter, or at once on a
 *    Reload()/Refresh() push;
 *  - PM_PORT_SETTER_AUTH_FAILED reports `failed` and blocks the consumer: no operation
 *    at all, so no further login, until a PM_CONSUMER_PUSH_RETRY push (Reload(), the
 *    mapping's Refresh()); reconcile pushes (RefreshAll(), ReconcileInterval=) and port
 *    changes only record the target (qBittorrent bans an address after 5 failed logins,
 *    Transmission 3.00 locks its RPC for everyone after 100);
 *  - PM_PORT_SETTER_FAILED (the application refused the request) reports `failed`, not
 *    retried until the next push;
 *  - mapping_down() forgets the target: the application keeps its port;
 *  - an operation in flight holds a reference on the consumer; a consumer removed by a
 *    reload finishes it and reports nothing, and retries nothing.
 */

typedef enum {
	PM_PORT_SETTER_OK,
	PM_PORT_SETTER_RETRY,
	PM_PORT_SETTER_AUTH_FAILED,
	PM_PORT_SETTER_FAILED,
} PmPortSetterOutcome;

typedef struct {
	guint16 listen_port;   /* I: what the application listens on, never 0 */
	guint16 announce_port; /* E: what it tells trackers, where it can */
} PmPortSetterTarget;

typedef struct _PmPortSetter PmPortSetter;

typedef struct {
	void (*check)(PmPortSetter *setter, const PmPortSetterTarget *target);
	void (*set)(PmPortSetter *setter, const PmPortSetterTarget *target);
} PmPortSetterOps;

/* URL=, Username=, PasswordCredential=/PasswordFile=, TimeoutSec= */
typedef struct {
	PmConsumerConfig parent;
	char *url;
	char *username;
	char *password_credential;
	char *password_file;
	guint64 timeout_usec;
} PmPortSetterConfig;

/* the common keys, for a class's PmConfigKey table (its configuration embeds
 * PmPortSetterConfig first, so these offsets are its own) */
#define PM_PORT_SETTER_CONFIG_KEYS                                                               \
	{"URL", pm_config_parse_string, G_STRUCT_OFFSET(PmPortSetterConfig, url)},               \
	    {"Username", pm_config_parse_string, G_STRUCT_OFFSET(PmPortSetterConfig, username)}, \
	    {"PasswordCredential", pm_config_parse_string,                                       \
	     G_STRUCT_OFFSET(PmPortSetterConfig, password_credential)},                          \
	    {"PasswordFile", pm_config_parse_string,                                             \
	     G_STRUCT_OFFSET(PmPortSetterConfig, password_file)},                                \
	{                                                                                        \
		"TimeoutSec", pm_config_parse_timeout,                                           \
		    G_STRUCT_OFFSET(PmPortSetterConfig, timeout_usec)                             \
	}

/* URL= defaults to @default_url and must be http(s) with a host; one of
 * PasswordCredential= and PasswordFile=; TimeoutSec= defaults to 10 s */
gboolean pm_port_setter_config_verify(PmPortSetterConfig *config, PmConfigSection *section,
				      const char *default_url, GError **error);
/* PmConsumerClass config_equal, config_print and config_free of the common keys: a class
 * without keys of its own points at these, one with more calls them from its own */
gboolean pm_port_setter_config_equal(const PmConsumerConfig *a, const PmConsumerConfig *b);
/* where the password is, never the password */
void pm_port_setter_config_print(const PmConsumerConfig *config, GString *out);
void pm_port_setter_config_free(PmConsumerConfig *config);

struct _PmPortSetter {
	PmConsumer parent;
	const PmPortSetterOps *ops;
	char *password; /* a secret, NULL if none is configured; wiped */
	/* the engine's (port-setter.c) */
	guint64 mapping_id;	     /* of the target; 0: none (down) */
	PmPortSetterTarget target;   /* the latest ports */
	gboolean pending;	     /* the target is to be delivered */
	gboolean blocked;	     /* by an authentication failure */
	char *blocked_message;
	guint phase;		     /* of the operation in flight, 0: none */
	guint64 in_flight_mapping_id;
	PmPortSetterTarget in_flight;
	guint16 confirmed_port;	     /* the last listening port read back */
	PmTimer retry_timer;
	guint64 backoff_usec;	     /* the last wait, 0 after a success */
};

/* from the class's init, first: loads the password (PasswordCredential=/PasswordFile=) */
gboolean pm_port_setter_init(PmPortSetter *self, const PmPortSetterOps *ops, GError **error);
/* before a login: the password read again from PasswordCredential=/PasswordFile= (an
 * unchanged configuration keeps its object across Reload(), and a password fixed in its
 * file must be the one tried next, not the refused one again); TRUE with none configured;
 * FALSE with @error (the file gone or unsafe) keeping the old one */
gboolean pm_port_setter_reload_password(PmPortSetter *self, GError **error);
/* from the class's finalize, last */
void pm_port_setter_finalize(PmPortSetter *self);

/* PmConsumerClass operations */
void pm_port_setter_mapping_up(PmConsumer *consumer, const PmMappingView *mapping,
			       const PmMappingPorts *ports, PmConsumerPush push);
void pm_port_setter_mapping_changed(PmConsumer *consumer, const PmMappingView *mapping,
				    const PmMappingPorts *ports, const PmMappingPorts *previous);
void pm_port_setter_mapping_down(PmConsumer *consumer, const PmMappingView *mapping,
				 const PmMappingPorts *ports);
/* "URL" (without user information or query), "Blocked" (b), "ListenPort" (q, 0 until a
 * read back proved one) */
void pm_port_setter_describe(PmConsumer *consumer, PmJsonWriter *writer);

/* for the class: the end of check(); @matches says the application has the target; @seen
 * says what it has, for messages ("listen_port 6000"); @message says why, for any outcome
 * but OK */
void pm_port_setter_checked(PmPortSetter *self, PmPortSetterOutcome outcome, gboolean matches,
			    const char *seen, const char *message);
/* the end of set() */
void pm_port_setter_set_done(PmPortSetter *self, PmPortSetterOutcome outcome,
			     const char *message);

/* for the class: the config */
static inline const PmPortSetterConfig *
pm_port_setter_get_config(PmPortSetter *self)
{
	return (const PmPortSetterConfig *)self->parent.config;
}
