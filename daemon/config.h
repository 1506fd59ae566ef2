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

/* provider.h: a [Provider NAME] group's Type= names one */
typedef struct _PmProviderClass PmProviderClass;

typedef struct {
	char *default_provider; /* NULL: the only provider */
	PmReleaseOnStop release_on_stop;
	guint max_mappings_per_user;      /* default 4 */
	guint64 reconcile_interval_usec;  /* default 5 min */
} PmDaemonConfig;

/* a [Provider NAME] group: the core knows its name and class; the rest is the class's own
 * (config_parse() made it, the class reads it). Shared: a running provider keeps a
 * reference after a reload has freed the configuration it came from. */
typedef struct {
	char *name;
	const PmProviderClass *klass;
	gpointer data;
	/*< private >*/
	gint ref_count;
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
/* [Gateway] (gateway/gateway-config.h) */
typedef struct _PmGatewayConfig PmGatewayConfig;
/* [MikroTik NAME] (gateway/mikrotik-config.h) */
typedef struct _PmMikrotikConfig PmMikrotikConfig;
/* [STUN] (stun/stun-config.h) */
typedef struct _PmStunConfig PmStunConfig;
/* [ControlPlane] (stun/control-plane-config.h) */
typedef struct _PmControlPlaneConfig PmControlPlaneConfig;
/* [WireGuard] (stun/wireguard-config.h) */
typedef struct _PmWireguardConfig PmWireguardConfig;

typedef struct {
	PmDaemonConfig daemon;
	GPtrArray *providers; /* of PmProviderConfig, in file order */
	GPtrArray *consumers; /* of PmConsumerConfig, in file order */
	GPtrArray *mappings;  /* of PmMappingConfig, in file order */
	GPtrArray *mikrotiks; /* of PmMikrotikConfig, in file order */
	PmGatewayConfig *gateway; /* [Gateway], NULL without one */
	PmStunConfig *stun;	  /* [STUN], NULL without one (Enabled=no: not NULL) */
	PmControlPlaneConfig *control_plane; /* [ControlPlane], NULL without one */
	PmWireguardConfig *wireguard;	     /* [WireGuard], NULL without one */
	GPtrArray *warnings;  /* of char*, to be logged by the caller */
	GPtrArray *files;     /* of char*, the files that were read, in order */
} PmConfig;

/* @path: the main file (a missing main file is an empty configuration); drop-ins are read
 * from "@path.d/" (for /etc/portmap/portmapd.conf: /etc/portmap/portmapd.conf.d/) */
PmConfig *pm_config_load(const char *path, GError **error);
/* @base (the environment import's text, config-env.h) as the first file, named @base_name
 * in messages, then @path and its drop-ins as pm_config_load() reads them, merged over it key
 * by key; either may be NULL, not both */
PmConfig *pm_config_load_over(const char *base, gsize base_len, const char *base_name,
			      const char *path, GError **error);
/* one file's text, as if it were the only file (tests, fuzzing) */
PmConfig *pm_config_load_from_data(const char *data, gsize len, const char *filename, GError **error);
PmConfig *pm_config_new_empty(void);
void pm_config_free(PmConfig *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PmConfig, pm_config_free)

const PmProviderConfig *pm_config_find_provider(const PmConfig *self, const char *name);
const PmMappingConfig *pm_config_find_mapping(const PmConfig *self, const char *name);
PmConsumerConfig *pm_config_find_consumer(const PmConfig *self, const char *name);
PmMikrotikConfig *pm_config_find_mikrotik(const PmConfig *self, const char *name);
/* the names of the [MikroTik NAME] groups joined by ", ", NULL if there is none */
char *pm_config_mikrotik_names(const PmConfig *self);
/* the provider that AddMapping("") and [Mapping] without Provider= use, or NULL */
const char *pm_config_get_default_provider(const PmConfig *self);

/* takes @data, which @klass->config_free() frees */
PmProviderConfig *pm_provider_config_new(const char *name, const PmProviderClass *klass,
					 gpointer data);
PmProviderConfig *pm_provider_config_ref(const PmProviderConfig *self);
void pm_provider_config_unref(PmProviderConfig *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PmProviderConfig, pm_provider_config_unref)
/* the same name, class and keys (a Reload keeps such a provider and its leases) */
gboolean pm_provider_config_equal(const PmProviderConfig *a, const PmProviderConfig *b);
gboolean pm_mapping_config_equal(const PmMappingConfig *a, const PmMappingConfig *b);

/* value parsers shared with the bus layer and the environment import */
gboolean pm_parse_boolean(const char *value, gboolean *out);
gboolean pm_parse_duration_usec(const char *value, guint64 *out);
gboolean pm_parse_port(const char *value, guint16 *out);
gboolean pm_parse_protocols(const char *value, guint *out);
/* what pm_parse_duration_usec() reads back to @usec: "45s", "15min", "1500ms" */
char *pm_duration_to_string(guint64 usec);
/* "[A-Za-z0-9_-]{1,64}" */
gboolean pm_name_is_valid(const char *name);
/* "tcp", "udp" */
const char *pm_protocol_to_string(PmProtocols protocol);
/* a list separated by commas or whitespace; empty items dropped */
char **pm_split_list(const char *value);

/* the same configuration as portmapd.conf text (--print-config, tests) */
char *pm_config_to_data(const PmConfig *self);

/*
 * For classes (provider.h): one [TYPE NAME] group being read. A class reads its keys
 * through a section and reports what is wrong through it, so every message has the one
 * located shape "FILE:LINE: [GROUP] KEY=VALUE: WHAT; accepted values: ACCEPTED" (values are
 * echoed: a key holding a secret must never be reported with its value), with the line of
 * the assignment that won (drop-ins included). Provider classes (provider.h) and consumer
 * classes (consumer.h) read their groups through this one API; most keys are best read
 * with a PmConfigKey table and pm_config_section_parse_keys(), the rest (keys that go
 * together, defaults that depend on others or on the name) checked after it. A section
 * exists only while the configuration is being read: keep nothing of it.
 */
typedef struct _PmConfigSection PmConfigSection;

/* one KEY=VALUE of a group */
typedef struct {
	char *key;
	char *raw;   /* as written, without trailing whitespace: what messages show */
	char *value; /* unescaped as g_key_file_get_string() does */
} PmConfigEntry;

/* "Provider vpn", "Mapping web" */
const char *pm_config_section_get_header(const PmConfigSection *self);
/* its NAME: "vpn", "web" */
const char *pm_config_section_get_name(const PmConfigSection *self);
/* every key but Type= of [Provider NAME] and [Consumer NAME] (the core's), each once, in
 * the order of first appearance; in other groups Type= is a key like any other */
GPtrArray *pm_config_section_get_entries(PmConfigSection *self);
const PmConfigEntry *pm_config_section_lookup(PmConfigSection *self, const char *key);
/* "FILE:LINE" of the value of @key that won, or without it (or when unset) of the header */
char *pm_config_section_locate(PmConfigSection *self, const char *key);

void pm_config_section_set_error(PmConfigSection *self, const PmConfigEntry *entry,
				 const char *what, const char *accepted, GError **error);
/* the same about @key, which may be unset: then "KEY=@unset_value" at the group's header */
void pm_config_section_set_key_error(PmConfigSection *self, const char *key,
				     const char *unset_value, const char *what,
				     const char *accepted, GError **error);
/* "unknown key; accepted keys: Type, @accepted_keys" ([Provider NAME] and [Consumer NAME]),
 * "unknown key; accepted keys: @accepted_keys" (other groups) */
void pm_config_section_set_unknown_key_error(PmConfigSection *self, const PmConfigEntry *entry,
					     const char *accepted_keys, GError **error);
/* "[GROUP]: KEY= is required: @what_to_do", at the group's header */
void pm_config_section_set_missing_error(PmConfigSection *self, const char *key,
					 const char *what_to_do, GError **error);
/* "[GROUP]: @what", at the group's header: what is wrong with the group as a whole (a group
 * that needs another one) */
void pm_config_section_set_group_error(PmConfigSection *self, const char *what,
				       GError **error);
/* logged by the daemon, returned in PmConfig.warnings */
void pm_config_section_add_warning(PmConfigSection *self, const PmConfigEntry *entry,
				   const char *what);

/* typed values, with the accepted values of every other key of that type */
gboolean pm_config_section_get_boolean(PmConfigSection *self, const PmConfigEntry *entry,
				       gboolean *out, GError **error);
gboolean pm_config_section_get_port(PmConfigSection *self, const PmConfigEntry *entry,
				    guint16 *out, GError **error);
gboolean pm_config_section_get_duration(PmConfigSection *self, const PmConfigEntry *entry,
					guint64 min_usec, guint64 *out, GError **error);
/* a lease lifetime: whole seconds from @min_sec that fit 32 bits */
gboolean pm_config_section_get_lifetime(PmConfigSection *self, const PmConfigEntry *entry,
					guint32 min_sec, guint32 *out, GError **error);

/*
 * Key tables: each key of a class with how it is read into a member of the class's
 * configuration. A parse function reads @entry into @field; FALSE with a located error.
 */
typedef gboolean (*PmConfigKeyParseFunc)(PmConfigSection *section, const PmConfigEntry *entry,
					  gpointer field, GError **error);

typedef struct {
	const char *key;
	PmConfigKeyParseFunc parse;
	gsize offset; /* of the field in the class's configuration: G_STRUCT_OFFSET() */
} PmConfigKey;

/* every key of the section but Type= through @keys (terminated by a NULL key), in the order
 * of the file, into the fields of @config; a key not in @keys is an error naming Type and
 * the keys of @keys as the accepted ones */
gboolean pm_config_section_parse_keys(PmConfigSection *self, const PmConfigKey *keys,
				      gpointer config, GError **error);

/* PmConfigKeyParseFunc for the usual kinds of value */
/* char *: any text without control characters; "" stays "" */
gboolean pm_config_parse_string(PmConfigSection *section, const PmConfigEntry *entry,
				gpointer field, GError **error);
/* the same, refusing an empty value */
gboolean pm_config_parse_nonempty(PmConfigSection *section, const PmConfigEntry *entry,
				  gpointer field, GError **error);
/* gboolean: yes/no/true/false/on/off/1/0 */
gboolean pm_config_parse_boolean(PmConfigSection *section, const PmConfigEntry *entry,
				 gpointer field, GError **error);
/* guint16: 1 to 65535 */
gboolean pm_config_parse_port(PmConfigSection *section, const PmConfigEntry *entry,
			      gpointer field, GError **error);
/* guint32: a lease lifetime in whole seconds, at least 1, that fits NAT-PMP's 32 bits */
gboolean pm_config_parse_lifetime(PmConfigSection *section, const PmConfigEntry *entry,
				  gpointer field, GError **error);
/* guint64 µs: seconds or a duration such as 45s or 15min; 0 allowed */
gboolean pm_config_parse_duration(PmConfigSection *section, const PmConfigEntry *entry,
				  gpointer field, GError **error);

/* a secret given by PREFIXCredential= (a credential's name) or PREFIXFile= (a path): not
 * both, and neither empty; @prefix "Token", "Password"... */
gboolean pm_config_section_check_secret_keys(PmConfigSection *self, const char *prefix,
					     const char *credential, const char *file,
					     GError **error);

/* guint64 µs: a request's TimeoutSec=, at least 1 s, at most 1h */
gboolean pm_config_parse_timeout(PmConfigSection *section, const PmConfigEntry *entry,
				 gpointer field, GError **error);

/* "KEY=VALUE\n" that reads back as @value with pm_config_parse_string() (for config_print) */
void pm_config_print_string(GString *out, const char *key, const char *value);
