/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <glib.h>

/*
 * One [TYPE NAME] group of portmapd.conf while it is read, for the classes that own their
 * keys (design §2: consumers today). A class lists its keys in a PmConfigKey table and
 * reads them with pm_config_group_parse_keys(); what it checks itself (keys that go
 * together, defaults that depend on the name) it reports with the pm_config_group_set_*()
 * errors, which have the shape of every other configuration error:
 *   FILE:LINE: [GROUP] KEY=VALUE: what is wrong; accepted values: ...
 * with the line of the assignment that won (drop-ins included). A group exists only while
 * the configuration is being read: keep nothing of it.
 */

typedef struct _PmConfigGroup PmConfigGroup;

/* one KEY=VALUE of a group, each key once (the last assignment wins) */
typedef struct {
	char *key;
	char *raw;   /* as written, without trailing whitespace: what messages show */
	char *value; /* unescaped as g_key_file_get_string() does */
} PmConfigEntry;

/* reads @entry into @field, a member of the class's configuration; FALSE with a located
 * error */
typedef gboolean (*PmConfigKeyParseFunc)(const PmConfigGroup *group,
					  const PmConfigEntry *entry,
					  gpointer field,
					  GError **error);

typedef struct {
	const char *key;
	PmConfigKeyParseFunc parse;
	gsize offset; /* of the field in the class's configuration: G_STRUCT_OFFSET() */
} PmConfigKey;

/* "Consumer qbt" */
const char *pm_config_group_get_header(const PmConfigGroup *group);
/* the NAME of [TYPE NAME] */
const char *pm_config_group_get_name(const PmConfigGroup *group);
/* NULL if the group does not set @key */
const PmConfigEntry *pm_config_group_get_entry(const PmConfigGroup *group, const char *key);

/*
 * every key of the group but Type= through @keys (terminated by a NULL key), in the order
 * of the file, into the fields of @config; a key not in @keys is an error naming Type and
 * the keys of @keys as the accepted ones
 */
gboolean pm_config_group_parse_keys(const PmConfigGroup *group,
				    const PmConfigKey *keys,
				    gpointer config,
				    GError **error);

/* "FILE:LINE: [GROUP] KEY=VALUE: @what; accepted values: @accepted"; the value is echoed,
 * so never for a key that holds a secret */
void pm_config_group_set_entry_error(const PmConfigGroup *group,
				     const PmConfigEntry *entry,
				     const char *what,
				     const char *accepted,
				     GError **error);
/* "FILE:LINE: [GROUP]: KEY= is required: @what_to_do", at the group's header */
void pm_config_group_set_missing_error(const PmConfigGroup *group,
				       const char *key,
				       const char *what_to_do,
				       GError **error);
/* "FILE:LINE: [GROUP] KEY=VALUE: @what", logged when the configuration is applied */
void pm_config_group_add_warning(const PmConfigGroup *group,
				 const PmConfigEntry *entry,
				 const char *what);

/* PmConfigKeyParseFunc for the usual kinds of value */
/* char *: any text without control characters; "" stays "" */
gboolean pm_config_parse_string(const PmConfigGroup *group,
				const PmConfigEntry *entry,
				gpointer field,
				GError **error);
/* gboolean: yes/no/true/false/on/off/1/0 */
gboolean pm_config_parse_boolean(const PmConfigGroup *group,
				 const PmConfigEntry *entry,
				 gpointer field,
				 GError **error);
/* guint16: 1 to 65535 */
gboolean pm_config_parse_port(const PmConfigGroup *group,
			      const PmConfigEntry *entry,
			      gpointer field,
			      GError **error);
/* guint64 µs: seconds or a duration such as 45s or 15min; 0 allowed */
gboolean pm_config_parse_duration(const PmConfigGroup *group,
				  const PmConfigEntry *entry,
				  gpointer field,
				  GError **error);

/* "KEY=VALUE\n" that reads back as @value with pm_config_parse_string() (for config_print) */
void pm_config_print_string(GString *out, const char *key, const char *value);
