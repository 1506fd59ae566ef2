/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <glib.h>

/*
 * portmapd.conf and its drop-ins (design §6): the main file, then DIR.d/ *.conf in
 * lexical order, each read with GKeyFile (values unescaped as g_key_file_get_string()
 * does: \s \n \t \r \\) and merged key by key (later files win). Every error names the
 * file, the line, the group, the key, the value and the accepted values, in PM_ERROR /
 * PM_ERROR_INVALID_CONFIGURATION; nothing is returned half-parsed.
 */

typedef enum {
	PM_PROTOCOL_TCP = 1 << 0,
	PM_PROTOCOL_UDP = 1 << 1,
} PmProtocols;

typedef enum {
	PM_RELEASE_ON_STOP_TRANSIENT,
	PM_RELEASE_ON_STOP_ALL,
	PM_RELEASE_ON_STOP_NONE,
} PmReleaseOnStop;

typedef enum {
	PM_PROVIDER_TYPE_NATPMP,
} PmProviderType;

typedef struct {
	char *default_provider; /* NULL: the only provider */
	PmReleaseOnStop release_on_stop;
	guint max_mappings_per_user;      /* default 4 */
	guint64 reconcile_interval_usec;  /* default 5 min */
} PmDaemonConfig;

typedef struct {
	char *name;
	PmProviderType type;
	/* Type=natpmp */
	char *gateway;                  /* dotted IPv4, or NULL for the default route's gateway ("auto") */
	gboolean same_port;             /* default FALSE */
	guint32 lifetime;               /* seconds asked on each request; default 7200 */
	guint64 refresh_interval_usec;  /* 0 = unset (renew at half the granted lifetime) */
	guint16 port;                   /* gateway's NAT-PMP port: 5351; overridable for tests */
} PmProviderConfig;

typedef struct {
	char *name;
	const char *provider;  /* resolved, interned: never NULL after loading */
	guint protocols;       /* PmProtocols, non-zero; default tcp+udp */
	guint16 internal_port; /* 0 only with a SamePort provider */
	guint16 external_port; /* 0 = no preference */
	guint32 lifetime;      /* 0 = the provider's */
	char **consumers;      /* NULL-terminated; NULL when there are none */
} PmMappingConfig;

/* [Consumer NAME]: the common part of each class's configuration (consumers/consumer.h) */
typedef struct _PmConsumerConfig PmConsumerConfig;

typedef struct {
	PmDaemonConfig daemon;
	GPtrArray *providers; /* of PmProviderConfig, in file order */
	GPtrArray *consumers; /* of PmConsumerConfig, in file order */
	GPtrArray *mappings;  /* of PmMappingConfig, in file order */
	GPtrArray *warnings;  /* of char*, to be logged by the caller */
	GPtrArray *files;     /* of char*, the files that were read, in order */
} PmConfig;

/* @path: the main file (a missing main file is an empty configuration); drop-ins are read
 * from "@path.d/" (for /etc/portmap/portmapd.conf: /etc/portmap/portmapd.conf.d/) */
PmConfig *pm_config_load(const char *path, GError **error);
/* one file's text, as if it were the only file (tests, fuzzing) */
PmConfig *pm_config_load_from_data(const char *data, gsize len, const char *filename, GError **error);
PmConfig *pm_config_new_empty(void);
void pm_config_free(PmConfig *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PmConfig, pm_config_free)

const PmProviderConfig *pm_config_find_provider(const PmConfig *self, const char *name);
const PmMappingConfig *pm_config_find_mapping(const PmConfig *self, const char *name);
PmConsumerConfig *pm_config_find_consumer(const PmConfig *self, const char *name);
/* the provider that AddMapping("") and [Mapping] without Provider= use, or NULL */
const char *pm_config_get_default_provider(const PmConfig *self);

gboolean pm_provider_config_equal(const PmProviderConfig *a, const PmProviderConfig *b);
gboolean pm_mapping_config_equal(const PmMappingConfig *a, const PmMappingConfig *b);

/* value parsers shared with the bus layer and the environment import */
gboolean pm_parse_boolean(const char *value, gboolean *out);
gboolean pm_parse_duration_usec(const char *value, guint64 *out);
gboolean pm_parse_port(const char *value, guint16 *out);
gboolean pm_parse_protocols(const char *value, guint *out);
/* "[A-Za-z0-9_-]{1,64}" */
gboolean pm_name_is_valid(const char *name);
/* "tcp", "udp" */
const char *pm_protocol_to_string(PmProtocols protocol);
/* a list separated by commas or whitespace; empty items dropped */
char **pm_split_list(const char *value);

/* the same configuration as portmapd.conf text (--print-config, tests) */
char *pm_config_to_data(const PmConfig *self);
