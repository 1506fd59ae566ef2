/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What portmapctl.c (options, simple verbs, shared helpers), portmapctl-watch.c (the verbs
 * that follow signals: add, monitor) and portmapctl-format.c (output that needs no bus)
 * share.
 */
#pragma once

#include <stdint.h>

#include <glib.h>
#include <json-glib/json-glib.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#define BUS_NAME        "org.portmap.Manager"
#define MANAGER_PATH    "/org/portmap/Manager"
#define MANAGER_IFACE   "org.portmap.Manager"
#define MAPPING_IFACE   "org.portmap.Mapping"
#define MAPPING_PREFIX  "/org/portmap/Manager/mapping"
#define PROPERTIES_IFACE "org.freedesktop.DBus.Properties"

#define EXIT_USAGE 2
#define USEC_PER_SEC ((uint64_t) 1000000)

G_DEFINE_AUTOPTR_CLEANUP_FUNC(sd_bus, sd_bus_flush_close_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(sd_bus_message, sd_bus_message_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(sd_bus_slot, sd_bus_slot_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(sd_event, sd_event_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(sd_event_source, sd_event_source_unref)
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(sd_bus_error, sd_bus_error_free)

typedef enum {
	JSON_OFF,
	JSON_SHORT,
	JSON_PRETTY,
} JsonMode;

extern JsonMode arg_json;
extern gboolean arg_no_block;
extern guint arg_wait_sec;
extern const char *arg_provider;
extern guint16 arg_external_port;
extern guint32 arg_lifetime;
extern const char *arg_name;
extern gboolean arg_persist;
extern const char *arg_description;
extern gboolean arg_require_external_port;
extern char **arg_command;

/* one row of ListMappings() */
typedef struct {
	char *path;
	char *name;
	char *provider;
	char *state;
	char **protocols;
	char *scope;
	guint16 internal_port;
	guint16 external_port;
	char *external_address;
	char *description;
	char *last_error;
	uint64_t expires_at;
} MappingInfo;

/* portmapctl-format.c: output that needs no bus */
gboolean is_empty(const char *s);
const char *empty_to_dash(const char *s);
GArray *fields_new(void);
void fields_add(GArray *fields, const char *key, char *value);
char *fields_format(GArray *fields);
void fields_print(GArray *fields);
const char *json_string_or_null(JsonObject *object, const char *name);
char *format_round_trip(uint64_t usec);
void discover_add_fields(GArray *fields, JsonNode *description, const char *endpoint,
			 const char *nat_type);
JsonNode *discover_to_json(JsonNode *description, const char *endpoint, const char *nat_type);
void status_add_stun_fields(GArray *fields, JsonNode *description);

const char *const *parse_protocol(const char *s);
gboolean parse_port(const char *s, guint16 min, guint16 *ret);
gboolean mapping_has_port(const char *state, guint16 external_port);

int log_call_failed(const char *failure, const sd_bus_error *error, int r);
int log_create_error(int r);
int log_parse_error(int r);
int acquire_bus(sd_bus **ret);

void print_json_builder(JsonBuilder *builder);
int read_variant_string(sd_bus_message *m, char **ret);
int list_mappings(sd_bus *bus, GPtrArray **ret);

int verb_add(int argc, char *argv[]);
int verb_monitor(int argc, char *argv[]);
