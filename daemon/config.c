/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <gio/gio.h>
#include <string.h>

#include "config.h"
#include "consumer.h"
#include "control-plane-config.h"
#include "errors.h"
#include "gateway-config.h"
#include "mikrotik-config.h"
#include "stun-config.h"
#include "provider.h"
#include "wireguard-config.h"

/*
 * Each file is loaded with GKeyFile, checked for what GKeyFile accepts and portmapd does
 * not (unknown groups, localized keys), and merged key by key into one GKeyFile; only then
 * are the groups interpreted into a PmConfig, each value unescaped by
 * g_key_file_get_string(). GKeyFile keeps no line numbers: the file texts are kept so that
 * a small locator can find the line of a group or of the assignment that won.
 */

#define PM_CONFIG_NAME_MAX		 64
#define PM_CONFIG_DEFAULT_MAX_MAPPINGS	 4
#define PM_CONFIG_DEFAULT_RECONCILE_USEC (5 * 60 * G_USEC_PER_SEC)
#define PM_CONFIG_ECHO_MAX		 120

#define PM_CONFIG_ACCEPTED_HEADERS                                                               \
	"[Daemon], [Gateway], [STUN], [ControlPlane], [WireGuard], [Provider NAME], "            \
	"[Mapping NAME], [Consumer NAME], [MikroTik NAME] with NAME of 1 to 64 characters "      \
	"A-Z a-z 0-9 _ -"
#define PM_CONFIG_ACCEPTED_BOOLEAN    "yes, no, true, false, on, off, 1, 0"
#define PM_CONFIG_ACCEPTED_PORT	      "1 to 65535"
#define PM_CONFIG_ACCEPTED_ESCAPES                                                               \
	"text in which a backslash starts one of the escapes \\s (space), \\n (newline), "   \
	"\\t (tab), \\r (carriage return) or \\\\ (backslash)"
#define PM_CONFIG_DURATION_SYNTAX                                                                \
	"seconds, or a duration such as 45s, 15min or 1min 30s (units us, ms, s, sec, m, "       \
	"min, h, hr, d)"

/* value parsers */

gboolean
pm_parse_boolean(const char *value, gboolean *out)
{
	const char *yes[] = {"yes", "true", "on", "1"};
	const char *no[] = {"no", "false", "off", "0"};

	if (value == NULL)
		return FALSE;
	for (guint i = 0; i < G_N_ELEMENTS(yes); i++) {
		if (g_ascii_strcasecmp(value, yes[i]) == 0) {
			if (out != NULL)
				*out = TRUE;
			return TRUE;
		}
		if (g_ascii_strcasecmp(value, no[i]) == 0) {
			if (out != NULL)
				*out = FALSE;
			return TRUE;
		}
	}
	return FALSE;
}

static gboolean
pm_parse_decimal(const char **pos, guint64 *out)
{
	const char *p = *pos;
	guint64 value = 0;

	if (!g_ascii_isdigit(*p))
		return FALSE;
	for (; g_ascii_isdigit(*p); p++) {
		guint digit = (guint)(*p - '0');
		if (value > (G_MAXUINT64 - digit) / 10)
			return FALSE;
		value = value * 10 + digit;
	}
	*pos = p;
	*out = value;
	return TRUE;
}

/*
 * a plain number is seconds; otherwise one or more NUMBER UNIT parts, optionally separated
 * by whitespace, that add up ("1min 30s", "1h30min"); NUMBER is a whole decimal number:
 * fractions such as "1.5s" are rejected, write "1500ms"
 */
gboolean
pm_parse_duration_usec(const char *value, guint64 *out)
{
	const struct {
		const char *unit;
		guint64 usec;
	} units[] = {
	    {"us", 1},
	    {"ms", 1000},
	    {"s", G_USEC_PER_SEC},
	    {"sec", G_USEC_PER_SEC},
	    {"m", 60 * G_USEC_PER_SEC},
	    {"min", 60 * G_USEC_PER_SEC},
	    {"h", 3600 * (guint64)G_USEC_PER_SEC},
	    {"hr", 3600 * (guint64)G_USEC_PER_SEC},
	    {"d", 86400 * (guint64)G_USEC_PER_SEC},
	};
	const char *p = value;
	guint64 total = 0;
	guint parts = 0;

	if (value == NULL)
		return FALSE;
	while (g_ascii_isspace(*p))
		p++;
	if (*p == '\0')
		return FALSE;
	while (*p != '\0') {
		const char *unit;
		gsize unit_len;
		guint64 number;
		guint64 usec = 0;

		if (!pm_parse_decimal(&p, &number))
			return FALSE;
		while (g_ascii_isspace(*p))
			p++;
		unit = p;
		while (g_ascii_isalpha(*p))
			p++;
		unit_len = (gsize)(p - unit);
		if (unit_len == 0) {
			/* a bare number only on its own: "1min 30" is ambiguous */
			if (parts > 0 || *p != '\0')
				return FALSE;
			usec = G_USEC_PER_SEC;
		}
		for (guint i = 0; usec == 0 && i < G_N_ELEMENTS(units); i++) {
			if (strlen(units[i].unit) == unit_len &&
			    strncmp(units[i].unit, unit, unit_len) == 0)
				usec = units[i].usec;
		}
		if (usec == 0)
			return FALSE;
		if (number > G_MAXUINT64 / usec)
			return FALSE;
		number *= usec;
		if (total > G_MAXUINT64 - number)
			return FALSE;
		total += number;
		parts++;
		while (g_ascii_isspace(*p))
			p++;
	}
	if (out != NULL)
		*out = total;
	return TRUE;
}

gboolean
pm_parse_port(const char *value, guint16 *out)
{
	guint64 port = 0;

	if (value == NULL)
		return FALSE;
	if (!g_ascii_string_to_unsigned(value, 10, 1, G_MAXUINT16, &port, NULL))
		return FALSE;
	if (out != NULL)
		*out = (guint16)port;
	return TRUE;
}

gboolean
pm_parse_protocols(const char *value, guint *out)
{
	g_auto(GStrv) items = pm_split_list(value);
	guint protocols = 0;

	for (guint i = 0; items[i] != NULL; i++) {
		if (g_ascii_strcasecmp(items[i], "tcp") == 0)
			protocols |= PM_PROTOCOL_TCP;
		else if (g_ascii_strcasecmp(items[i], "udp") == 0)
			protocols |= PM_PROTOCOL_UDP;
		else if (g_ascii_strcasecmp(items[i], "both") == 0)
			protocols |= PM_PROTOCOL_TCP | PM_PROTOCOL_UDP;
		else
			return FALSE;
	}
	if (protocols == 0)
		return FALSE;
	if (out != NULL)
		*out = protocols;
	return TRUE;
}

gboolean
pm_name_is_valid(const char *name)
{
	gsize len;

	if (name == NULL)
		return FALSE;
	len = strlen(name);
	if (len == 0 || len > PM_CONFIG_NAME_MAX)
		return FALSE;
	for (gsize i = 0; i < len; i++) {
		if (!g_ascii_isalnum(name[i]) && name[i] != '_' && name[i] != '-')
			return FALSE;
	}
	return TRUE;
}

const char *
pm_protocol_to_string(PmProtocols protocol)
{
	switch (protocol) {
	case PM_PROTOCOL_TCP:
		return "tcp";
	case PM_PROTOCOL_UDP:
		return "udp";
	default:
		return NULL;
	}
}

char **
pm_split_list(const char *value)
{
	g_autoptr(GPtrArray) items = g_ptr_array_new_with_free_func(g_free);
	const char *p = value;

	while (p != NULL && *p != '\0') {
		const char *start;

		while (*p == ',' || g_ascii_isspace(*p))
			p++;
		start = p;
		while (*p != '\0' && *p != ',' && !g_ascii_isspace(*p))
			p++;
		if (p > start)
			g_ptr_array_add(items, g_strndup(start, (gsize)(p - start)));
	}
	g_ptr_array_add(items, NULL);
	return (char **)g_ptr_array_steal(items, NULL);
}

/* the configuration objects */

PmProviderConfig *
pm_provider_config_new(const char *name, const PmProviderClass *klass, gpointer data)
{
	PmProviderConfig *self = g_new0(PmProviderConfig, 1);

	self->name = g_strdup(name);
	self->klass = klass;
	self->data = data;
	self->ref_count = 1;
	return self;
}

PmProviderConfig *
pm_provider_config_ref(const PmProviderConfig *self)
{
	PmProviderConfig *mutable = (PmProviderConfig *)self;

	g_return_val_if_fail(self != NULL, NULL);
	mutable->ref_count++;
	return mutable;
}

void
pm_provider_config_unref(PmProviderConfig *self)
{
	if (self == NULL || --self->ref_count > 0)
		return;
	if (self->data != NULL)
		self->klass->config_free(self->data);
	g_free(self->name);
	g_free(self);
}

static void
pm_mapping_config_free(PmMappingConfig *self)
{
	g_free(self->name);
	g_strfreev(self->consumers);
	g_free(self);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(PmMappingConfig, pm_mapping_config_free)

PmConfig *
pm_config_new_empty(void)
{
	PmConfig *self = g_new0(PmConfig, 1);

	self->daemon.release_on_stop = PM_RELEASE_ON_STOP_TRANSIENT;
	self->daemon.max_mappings_per_user = PM_CONFIG_DEFAULT_MAX_MAPPINGS;
	self->daemon.reconcile_interval_usec = PM_CONFIG_DEFAULT_RECONCILE_USEC;
	self->providers = g_ptr_array_new_with_free_func((GDestroyNotify)pm_provider_config_unref);
	self->consumers =
	    g_ptr_array_new_with_free_func((GDestroyNotify)pm_consumer_config_unref);
	self->mappings = g_ptr_array_new_with_free_func((GDestroyNotify)pm_mapping_config_free);
	self->mikrotiks =
	    g_ptr_array_new_with_free_func((GDestroyNotify)pm_mikrotik_config_unref);
	self->warnings = g_ptr_array_new_with_free_func(g_free);
	self->files = g_ptr_array_new_with_free_func(g_free);
	return self;
}

void
pm_config_free(PmConfig *self)
{
	if (self == NULL)
		return;
	g_free(self->daemon.default_provider);
	g_ptr_array_unref(self->providers);
	g_ptr_array_unref(self->consumers);
	g_ptr_array_unref(self->mappings);
	g_ptr_array_unref(self->mikrotiks);
	g_clear_pointer(&self->gateway, pm_gateway_config_unref);
	g_clear_pointer(&self->stun, pm_stun_config_unref);
	g_clear_pointer(&self->control_plane, pm_control_plane_config_unref);
	g_clear_pointer(&self->wireguard, pm_wireguard_config_unref);
	g_ptr_array_unref(self->warnings);
	g_ptr_array_unref(self->files);
	g_free(self);
}

/* the name of a provider, mapping or consumer configuration: a char * at @name_offset */
#define PM_CONFIG_ITEM_NAME(item, name_offset)                                                   \
	(*(char *const *)((const guint8 *)(item) + (name_offset)))

/* the item of @items named @name, or NULL */
static gpointer
pm_config_find_item(GPtrArray *items, gsize name_offset, const char *name)
{
	if (name == NULL)
		return NULL;
	for (guint i = 0; i < items->len; i++) {
		gpointer item = g_ptr_array_index(items, i);
		if (g_strcmp0(PM_CONFIG_ITEM_NAME(item, name_offset), name) == 0)
			return item;
	}
	return NULL;
}

/* "a, b, c": the names of @items in file order, or @none if there are none */
static char *
pm_config_item_names(GPtrArray *items, gsize name_offset, const char *none)
{
	g_autoptr(GString) str = g_string_new(NULL);

	for (guint i = 0; i < items->len; i++) {
		if (str->len > 0)
			g_string_append(str, ", ");
		g_string_append(str, PM_CONFIG_ITEM_NAME(g_ptr_array_index(items, i), name_offset));
	}
	if (str->len == 0)
		g_string_append(str, none);
	return g_string_free(g_steal_pointer(&str), FALSE);
}

const PmProviderConfig *
pm_config_find_provider(const PmConfig *self, const char *name)
{
	g_return_val_if_fail(self != NULL, NULL);

	return pm_config_find_item(self->providers, G_STRUCT_OFFSET(PmProviderConfig, name), name);
}

const PmMappingConfig *
pm_config_find_mapping(const PmConfig *self, const char *name)
{
	g_return_val_if_fail(self != NULL, NULL);

	return pm_config_find_item(self->mappings, G_STRUCT_OFFSET(PmMappingConfig, name), name);
}

PmMikrotikConfig *
pm_config_find_mikrotik(const PmConfig *self, const char *name)
{
	return pm_config_find_item(self->mikrotiks, G_STRUCT_OFFSET(PmMikrotikConfig, name), name);
}

char *
pm_config_mikrotik_names(const PmConfig *self)
{
	if (self->mikrotiks->len == 0)
		return NULL;
	return pm_config_item_names(self->mikrotiks, G_STRUCT_OFFSET(PmMikrotikConfig, name), "");
}

PmConsumerConfig *
pm_config_find_consumer(const PmConfig *self, const char *name)
{
	g_return_val_if_fail(self != NULL, NULL);

	return pm_config_find_item(self->consumers, G_STRUCT_OFFSET(PmConsumerConfig, name), name);
}

const char *
pm_config_get_default_provider(const PmConfig *self)
{
	g_return_val_if_fail(self != NULL, NULL);

	if (self->daemon.default_provider != NULL)
		return self->daemon.default_provider;
	if (self->providers->len == 1) {
		const PmProviderConfig *provider = g_ptr_array_index(self->providers, 0);
		return provider->name;
	}
	return NULL;
}

gboolean
pm_provider_config_equal(const PmProviderConfig *a, const PmProviderConfig *b)
{
	if (a == b)
		return TRUE;
	if (a == NULL || b == NULL)
		return FALSE;
	return g_strcmp0(a->name, b->name) == 0 && a->klass == b->klass &&
	       a->klass->config_equal(a->data, b->data);
}

static gboolean
pm_strv_equal_or_empty(char **a, char **b)
{
	/* NULL and an empty list both mean "no consumers" */
	if (a == NULL || a[0] == NULL)
		return b == NULL || b[0] == NULL;
	if (b == NULL)
		return FALSE;
	return g_strv_equal((const char *const *)a, (const char *const *)b);
}

gboolean
pm_mapping_config_equal(const PmMappingConfig *a, const PmMappingConfig *b)
{
	if (a == b)
		return TRUE;
	if (a == NULL || b == NULL)
		return FALSE;
	return g_strcmp0(a->name, b->name) == 0 && g_strcmp0(a->provider, b->provider) == 0 &&
	       a->protocols == b->protocols && a->internal_port == b->internal_port &&
	       a->external_port == b->external_port && a->lifetime == b->lifetime &&
	       pm_strv_equal_or_empty(a->consumers, b->consumers);
}

/* the files, read with GKeyFile */

/* KEY[locale]= keys are kept so that they are refused, not ignored depending on $LANG */
#define PM_CONFIG_KEY_FILE_FLAGS G_KEY_FILE_KEEP_TRANSLATIONS

typedef struct {
	char *filename;
	char *text; /* for the line locator: GKeyFile keeps no line numbers */
	gsize len;
} PmConfigSource;

typedef struct {
	GPtrArray *sources; /* of PmConfigSource, in the order they were read */
	GKeyFile *keyfile;  /* the files merged key by key; NULL until one is read */
} PmConfigParser;

typedef struct {
	char *header;	  /* "Mapping torrent", the group's name in the key file */
	const char *name; /* in header, after the space; NULL for [Daemon] */
	GPtrArray *entries; /* of PmConfigEntry, each key once, in the order of first appearance */
} PmConfigGroup;

static void
pm_config_source_free(PmConfigSource *self)
{
	g_free(self->filename);
	g_free(self->text);
	g_free(self);
}

static PmConfigParser *
pm_config_parser_new(void)
{
	PmConfigParser *self = g_new0(PmConfigParser, 1);

	self->sources = g_ptr_array_new_with_free_func((GDestroyNotify)pm_config_source_free);
	return self;
}

static void
pm_config_parser_free(PmConfigParser *self)
{
	if (self->keyfile != NULL)
		g_key_file_unref(self->keyfile);
	g_ptr_array_unref(self->sources);
	g_free(self);
}

static void
pm_config_entry_free(PmConfigEntry *self)
{
	g_free(self->key);
	g_free(self->raw);
	g_free(self->value);
	g_free(self);
}

static void
pm_config_group_free(PmConfigGroup *self)
{
	g_free(self->header);
	g_ptr_array_unref(self->entries);
	g_free(self);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(PmConfigParser, pm_config_parser_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PmConfigEntry, pm_config_entry_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PmConfigGroup, pm_config_group_free)

static const PmConfigEntry *
pm_config_group_lookup(const PmConfigGroup *group, const char *key)
{
	for (guint i = 0; i < group->entries->len; i++) {
		const PmConfigEntry *entry = g_ptr_array_index(group->entries, i);
		if (g_strcmp0(entry->key, key) == 0)
			return entry;
	}
	return NULL;
}

/* the line locator: the only part of the syntax read here, on text GKeyFile has loaded */

/* the line at @pos of @text without the whitespace around it; returns where the next starts */
static gsize
pm_text_next_line(const char *text, gsize len, gsize pos, const char **line, gsize *line_len)
{
	const char *start = text + pos;
	const char *stop = memchr(start, '\n', len - pos);
	gsize next = stop != NULL ? (gsize)(stop - text) + 1 : len;

	if (stop == NULL)
		stop = text + len;
	while (start < stop && g_ascii_isspace(*start))
		start++;
	while (stop > start && g_ascii_isspace(stop[-1]))
		stop--;
	*line = start;
	*line_len = (gsize)(stop - start);
	return next;
}

/*
 * the line of the first [@header] of @source, or with @key that of the last "@key=" under
 * a [@header] (GKeyFile keeps the last assignment); 0 if there is none
 */
static guint
pm_config_source_find_line(const PmConfigSource *source, const char *header, const char *key)
{
	gsize header_len = strlen(header);
	gsize key_len = key != NULL ? strlen(key) : 0;
	gboolean in_group = FALSE;
	guint key_line = 0;
	guint lineno = 1;

	for (gsize pos = 0; pos < source->len; lineno++) {
		const char *line;
		const char *eq;
		gsize len;

		pos = pm_text_next_line(source->text, source->len, pos, &line, &len);
		if (len > 0 && line[0] == '[') {
			in_group = len == header_len + 2 && line[len - 1] == ']' &&
				   memcmp(line + 1, header, header_len) == 0;
			if (in_group && key == NULL)
				return lineno;
			continue;
		}
		if (!in_group || key == NULL || len == 0 || line[0] == '#')
			continue;
		eq = memchr(line, '=', len);
		while (eq != NULL && eq > line && g_ascii_isspace(eq[-1]))
			eq--;
		if (eq != NULL && (gsize)(eq - line) == key_len && memcmp(line, key, key_len) == 0)
			key_line = lineno;
	}
	return key_line;
}

/* "FILE:LINE: ..." */
static void G_GNUC_PRINTF(4, 5)
pm_config_set_error_at(GError **error, const char *filename, guint lineno, const char *format, ...)
{
	g_autofree char *message = NULL;
	va_list args;

	va_start(args, format);
	message = g_strdup_vprintf(format, args);
	va_end(args);
	g_set_error(error,
		    PM_ERROR,
		    PM_ERROR_INVALID_CONFIGURATION,
		    "%s:%u: %s",
		    filename,
		    lineno,
		    message);
}

/*
 * user text in a one-line message: control characters (a terminal escape, a stray '\r')
 * shown as '?', and cut at PM_CONFIG_ECHO_MAX characters; @text is valid UTF-8
 */
static char *
pm_config_echo(const char *text, gssize len)
{
	g_autofree char *copy = len < 0 ? g_strdup(text) : g_strndup(text, (gsize)len);
	GString *str;

	if (g_utf8_strlen(copy, -1) > PM_CONFIG_ECHO_MAX) {
		g_autofree char *cut = g_utf8_substring(copy, 0, PM_CONFIG_ECHO_MAX);
		str = g_string_new(cut);
		g_string_append(str, "…");
	} else {
		str = g_string_new(copy);
	}
	for (gsize i = 0; i < str->len; i++) {
		if ((guchar)str->str[i] < 0x20 || str->str[i] == 0x7f)
			str->str[i] = '?';
	}
	return g_string_free(str, FALSE);
}

/*
 * "Daemon", "Provider NAME", ...: NULL if this version reads the group, else what is wrong
 * and what is accepted. Every group of design §6 is read: any other is unknown.
 */
static char *
pm_config_check_header(const char *header)
{
	const char *singletons[] = {"Daemon", "Gateway", "STUN", "ControlPlane", "WireGuard",
				    NULL};
	const char *types[] = {"Provider", "Mapping", "Consumer", "MikroTik", NULL};
	const char *space = strchr(header, ' ');
	const char *name = space != NULL ? space + 1 : "";
	g_autofree char *type = NULL;
	g_autofree char *what = NULL;

	if (g_strv_contains(singletons, header))
		return NULL;
	type = space != NULL ? g_strndup(header, (gsize)(space - header)) : g_strdup(header);
	if (!g_strv_contains(types, type))
		what = g_strdup("unknown group");
	else if (*name == '\0')
		what = g_strdup_printf("a name is required: [%s NAME]", type);
	else if (*name == ' ' || *name == '\t')
		what = g_strdup_printf("exactly one space goes between %s and the name", type);
	else if (strlen(name) > PM_CONFIG_NAME_MAX)
		what = g_strdup_printf("the name is %" G_GSIZE_FORMAT " bytes long, at most %u",
				       strlen(name), (guint)PM_CONFIG_NAME_MAX);
	else if (!pm_name_is_valid(name))
		what = g_strdup("the name has a character other than A-Z a-z 0-9 _ -");
	if (what != NULL)
		return g_strdup_printf("%s; accepted: %s", what, PM_CONFIG_ACCEPTED_HEADERS);
	return NULL;
}

/*
 * GKeyFile refused @source, and its message has no line: that is the last line of the
 * shortest start of the text that GKeyFile refuses too (it reads line by line and stops at
 * the first bad one), found by halving
 */
static void
pm_config_set_syntax_error(const PmConfigSource *source,
			   const GError *key_file_error,
			   GError **error)
{
	g_autoptr(GArray) starts = g_array_new(FALSE, FALSE, sizeof(gsize));
	g_autofree char *echo = NULL;
	g_autofree char *what = NULL;
	const char *line;
	gsize len;
	gsize pos = 0;
	guint good = 0; /* the first @good lines load */
	guint bad;	/* the first @bad lines do not */

	do {
		g_array_append_val(starts, pos);
		pos = pm_text_next_line(source->text, source->len, pos, &line, &len);
	} while (pos < source->len);
	bad = starts->len;
	while (bad - good > 1) {
		guint mid = good + (bad - good) / 2;
		g_autoptr(GKeyFile) keyfile = g_key_file_new();

		/* each line with its '\n', as GKeyFile reads it in the whole text */
		if (g_key_file_load_from_data(keyfile,
					      source->text,
					      g_array_index(starts, gsize, mid),
					      PM_CONFIG_KEY_FILE_FLAGS,
					      NULL))
			good = mid;
		else
			bad = mid;
	}
	pos = g_array_index(starts, gsize, bad - 1);
	pm_text_next_line(source->text, source->len, pos, &line, &len);
	echo = pm_config_echo(line, (gssize)len);

	if (len > 0 && line[0] == '[') {
		/* "[NAME]" with a name GKeyFile refuses ('[', ']', control characters) */
		if (len >= 2 && line[len - 1] == ']') {
			g_autofree char *header = g_strndup(line + 1, len - 2);
			what = pm_config_check_header(header);
		}
		if (what == NULL)
			what = g_strdup_printf("a group header is [HEADER] alone on its line; "
					       "accepted: %s",
					       PM_CONFIG_ACCEPTED_HEADERS);
	} else if (g_error_matches(key_file_error,
				   G_KEY_FILE_ERROR,
				   G_KEY_FILE_ERROR_GROUP_NOT_FOUND)) {
		what = g_strdup("outside of any group: put it under a [GROUP] header");
	} else if (!g_error_matches(key_file_error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_PARSE)) {
		/* Encoding= other than UTF-8 in the first group */
		what = pm_config_echo(key_file_error->message, -1);
	} else if (len > 0 && line[0] != '=' && memchr(line, '=', len) != NULL) {
		/* the only KEY=VALUE lines GKeyFile refuses: "Key]=", "Key[de=", ... */
		what = g_strdup("a key cannot contain [ or ]");
	} else {
		what = g_strdup("not a [GROUP] header, a KEY=VALUE line or a # comment");
	}
	pm_config_set_error_at(error, source->filename, bad, "%s: %s", echo, what);
}

/* what GKeyFile took in @keyfile and portmapd does not: errors are in this file */
static gboolean
pm_config_check_key_file(const PmConfigSource *source, GKeyFile *keyfile, GError **error)
{
	g_auto(GStrv) headers = g_key_file_get_groups(keyfile, NULL);

	for (guint i = 0; headers[i] != NULL; i++) {
		g_auto(GStrv) keys = g_key_file_get_keys(keyfile, headers[i], NULL, NULL);
		g_autofree char *what = pm_config_check_header(headers[i]);
		g_autofree char *echo = NULL;
		guint lineno;

		if (what != NULL) {
			lineno = pm_config_source_find_line(source, headers[i], NULL);
			echo = pm_config_echo(headers[i], -1);
			pm_config_set_error_at(error,
					       source->filename,
					       lineno,
					       "[%s]: %s",
					       echo,
					       what);
			return FALSE;
		}
		for (guint j = 0; keys[j] != NULL; j++) {
			if (strchr(keys[j], '[') == NULL)
				continue;
			lineno = pm_config_source_find_line(source, headers[i], keys[j]);
			echo = pm_config_echo(keys[j], -1);
			pm_config_set_error_at(error,
					       source->filename,
					       lineno,
					       "%s=: localized keys are not supported",
					       echo);
			return FALSE;
		}
	}
	return TRUE;
}

/* later files win: @keyfile's values replace those before, in their place */
static void
pm_config_parser_merge(PmConfigParser *self, GKeyFile *keyfile)
{
	g_auto(GStrv) headers = g_key_file_get_groups(keyfile, NULL);

	for (guint i = 0; headers[i] != NULL; i++) {
		g_auto(GStrv) keys = g_key_file_get_keys(keyfile, headers[i], NULL, NULL);

		/* GKeyFile has no call that adds an empty group: add a key and remove it */
		if (keys[0] == NULL && !g_key_file_has_group(self->keyfile, headers[i])) {
			g_key_file_set_value(self->keyfile, headers[i], "_", "");
			g_key_file_remove_key(self->keyfile, headers[i], "_", NULL);
		}
		for (guint j = 0; keys[j] != NULL; j++) {
			g_autofree char *value =
			    g_key_file_get_value(keyfile, headers[i], keys[j], NULL);
			g_key_file_set_value(self->keyfile, headers[i], keys[j], value);
		}
	}
}

static gboolean
pm_config_parser_add_data(PmConfigParser *self,
			  const char *filename,
			  const char *data,
			  gsize len,
			  GError **error)
{
	g_autoptr(GKeyFile) keyfile = g_key_file_new();
	g_autoptr(GError) error_local = NULL;
	PmConfigSource *source;
	const char *end = NULL;

	/* a NUL would cut GKeyFile's lines short, and messages must be valid UTF-8 */
	if (len > 0 && !g_utf8_validate_len(data, len, &end)) {
		guint lineno = 1;
		for (const char *p = data; p < end; p++)
			lineno += *p == '\n';
		pm_config_set_error_at(error,
				       filename,
				       lineno,
				       "invalid UTF-8 or a NUL byte: save the file as UTF-8 text");
		return FALSE;
	}
	source = g_new0(PmConfigSource, 1);
	source->filename = g_strdup(filename);
	source->text = g_strndup(data, len);
	source->len = len;
	g_ptr_array_add(self->sources, source);

	if (!g_key_file_load_from_data(keyfile,
				       source->text,
				       source->len,
				       PM_CONFIG_KEY_FILE_FLAGS,
				       &error_local)) {
		pm_config_set_syntax_error(source, error_local, error);
		return FALSE;
	}
	if (!pm_config_check_key_file(source, keyfile, error))
		return FALSE;
	if (self->keyfile == NULL)
		self->keyfile = g_steal_pointer(&keyfile);
	else
		pm_config_parser_merge(self, keyfile);
	return TRUE;
}

static gboolean
pm_config_parser_add_file(PmConfigParser *self,
			  const char *filename,
			  gboolean missing_ok,
			  GError **error)
{
	g_autofree char *data = NULL;
	g_autoptr(GError) error_local = NULL;
	gsize len = 0;

	if (!g_file_get_contents(filename, &data, &len, &error_local)) {
		if (missing_ok && g_error_matches(error_local, G_FILE_ERROR, G_FILE_ERROR_NOENT))
			return TRUE;
		g_set_error(error,
			    PM_ERROR,
			    PM_ERROR_INVALID_CONFIGURATION,
			    "%s",
			    error_local->message);
		return FALSE;
	}
	return pm_config_parser_add_data(self, filename, data, len, error);
}

/* messages */

/*
 * "FILE:LINE" of @key= in [@header] in the last file that sets it, which is the value that
 * won; without @key, or when no file sets it, of [@header] in the first file that has it
 */
static char *
pm_config_parser_locate(PmConfigParser *self, const char *header, const char *key)
{
	for (guint i = self->sources->len; key != NULL && i > 0; i--) {
		const PmConfigSource *source = g_ptr_array_index(self->sources, i - 1);
		guint lineno = pm_config_source_find_line(source, header, key);
		if (lineno != 0)
			return g_strdup_printf("%s:%u", source->filename, lineno);
	}
	for (guint i = 0; i < self->sources->len; i++) {
		const PmConfigSource *source = g_ptr_array_index(self->sources, i);
		guint lineno = pm_config_source_find_line(source, header, NULL);
		if (lineno != 0)
			return g_strdup_printf("%s:%u", source->filename, lineno);
	}
	g_return_val_if_reached(g_strdup("?"));
}

/*
 * "FILE:LINE: [GROUP] KEY=VALUE": the value is echoed, which is fine for every key
 * implemented so far; keys holding secrets (*Credential=, *File= contents, passwords) must
 * never come through here with their value
 */
static char *
pm_config_parser_entry_prefix(PmConfigParser *self,
			      const PmConfigGroup *group,
			      const PmConfigEntry *entry)
{
	g_autofree char *location = pm_config_parser_locate(self, group->header, entry->key);
	g_autofree char *key = pm_config_echo(entry->key, -1);
	g_autofree char *value = pm_config_echo(entry->raw, -1);

	return g_strdup_printf("%s: [%s] %s=%s", location, group->header, key, value);
}

static void
pm_config_parser_set_entry_error(PmConfigParser *self,
				 const PmConfigGroup *group,
				 const PmConfigEntry *entry,
				 const char *what,
				 const char *accepted,
				 GError **error)
{
	g_autofree char *prefix = pm_config_parser_entry_prefix(self, group, entry);

	g_set_error(error,
		    PM_ERROR,
		    PM_ERROR_INVALID_CONFIGURATION,
		    "%s: %s; accepted values: %s",
		    prefix,
		    what,
		    accepted);
}

static void
pm_config_parser_set_unknown_key_error(PmConfigParser *self,
				       const PmConfigGroup *group,
				       const PmConfigEntry *entry,
				       const char *accepted_keys,
				       GError **error)
{
	g_autofree char *prefix = pm_config_parser_entry_prefix(self, group, entry);

	g_set_error(error,
		    PM_ERROR,
		    PM_ERROR_INVALID_CONFIGURATION,
		    "%s: unknown key; accepted keys: %s",
		    prefix,
		    accepted_keys);
}

static void
pm_config_parser_set_missing_error(PmConfigParser *self,
				   const PmConfigGroup *group,
				   const char *key,
				   const char *what_to_do,
				   GError **error)
{
	g_autofree char *location = pm_config_parser_locate(self, group->header, NULL);

	g_set_error(error,
		    PM_ERROR,
		    PM_ERROR_INVALID_CONFIGURATION,
		    "%s: [%s]: %s= is required: %s",
		    location,
		    group->header,
		    key,
		    what_to_do);
}

static void
pm_config_parser_add_warning(PmConfigParser *self,
			     PmConfig *config,
			     const PmConfigGroup *group,
			     const PmConfigEntry *entry,
			     const char *what)
{
	g_autofree char *prefix = pm_config_parser_entry_prefix(self, group, entry);

	g_ptr_array_add(config->warnings, g_strdup_printf("%s: %s", prefix, what));
}

/*
 * the escapes of a value are \s \n \t \r \\, checked before g_key_file_get_string(): in
 * GLib 2.74 a bad escape followed by a backslash at the end ("a\x\") sets its GError
 * twice, which GLib reports with a warning
 */
static gboolean
pm_config_escapes_are_valid(const char *value)
{
	for (const char *p = strchr(value, '\\'); p != NULL; p = strchr(p + 2, '\\')) {
		if (p[1] == '\0' || strchr("sntr\\", p[1]) == NULL)
			return FALSE;
	}
	return TRUE;
}

/* the keys of [@header] in the merged files, each value unescaped as GKeyFile does */
static PmConfigGroup *
pm_config_parser_read_group(PmConfigParser *self, const char *header, GError **error)
{
	g_autoptr(PmConfigGroup) group = g_new0(PmConfigGroup, 1);
	g_auto(GStrv) keys = g_key_file_get_keys(self->keyfile, header, NULL, NULL);
	const char *space;

	group->header = g_strdup(header);
	space = strchr(group->header, ' ');
	group->name = space != NULL ? space + 1 : NULL;
	group->entries = g_ptr_array_new_with_free_func((GDestroyNotify)pm_config_entry_free);
	for (guint i = 0; keys != NULL && keys[i] != NULL; i++) {
		g_autoptr(PmConfigEntry) entry = NULL;
		g_autoptr(GError) error_local = NULL;

		/* a key set twice in one file is listed twice, with the last value */
		if (pm_config_group_lookup(group, keys[i]) != NULL)
			continue;
		entry = g_new0(PmConfigEntry, 1);
		entry->key = g_strdup(keys[i]);
		entry->raw = g_key_file_get_value(self->keyfile, header, keys[i], NULL);
		/* GKeyFile keeps whitespace at the end of a value; portmapd drops it (a stray
		 * space after an address is no error), and "\s" keeps one */
		if (entry->raw[0] != '\0' && g_ascii_isspace(entry->raw[strlen(entry->raw) - 1])) {
			g_strchomp(entry->raw);
			g_key_file_set_value(self->keyfile, header, keys[i], entry->raw);
		}
		if (pm_config_escapes_are_valid(entry->raw))
			entry->value =
			    g_key_file_get_string(self->keyfile, header, keys[i], &error_local);
		/* the file is UTF-8, so a GKeyFile error would be an escape too */
		if (entry->value == NULL || error_local != NULL) {
			pm_config_parser_set_entry_error(self,
							 group,
							 entry,
							 "invalid escape sequence",
							 PM_CONFIG_ACCEPTED_ESCAPES,
							 error);
			return NULL;
		}
		g_ptr_array_add(group->entries, g_steal_pointer(&entry));
	}
	return g_steal_pointer(&group);
}

/* typed values */

static gboolean
pm_config_parser_get_boolean(PmConfigParser *self,
			     const PmConfigGroup *group,
			     const PmConfigEntry *entry,
			     gboolean *out,
			     GError **error)
{
	if (!pm_parse_boolean(entry->value, out)) {
		pm_config_parser_set_entry_error(self,
						 group,
						 entry,
						 "not a boolean",
						 PM_CONFIG_ACCEPTED_BOOLEAN,
						 error);
		return FALSE;
	}
	return TRUE;
}

static gboolean
pm_config_parser_get_port(PmConfigParser *self,
			  const PmConfigGroup *group,
			  const PmConfigEntry *entry,
			  guint16 *out,
			  GError **error)
{
	if (!pm_parse_port(entry->value, out)) {
		pm_config_parser_set_entry_error(self,
						 group,
						 entry,
						 "not a port number",
						 PM_CONFIG_ACCEPTED_PORT,
						 error);
		return FALSE;
	}
	return TRUE;
}

static gboolean
pm_config_parser_get_duration(PmConfigParser *self,
			      const PmConfigGroup *group,
			      const PmConfigEntry *entry,
			      guint64 min_usec,
			      guint64 *out,
			      GError **error)
{
	guint64 usec = 0;

	if (!pm_parse_duration_usec(entry->value, &usec)) {
		pm_config_parser_set_entry_error(self,
						 group,
						 entry,
						 "not a duration",
						 PM_CONFIG_DURATION_SYNTAX,
						 error);
		return FALSE;
	}
	if (usec < min_usec) {
		g_autofree char *least = pm_duration_to_string(min_usec);
		g_autofree char *accepted =
		    g_strdup_printf("%s, at least %s", PM_CONFIG_DURATION_SYNTAX, least);
		pm_config_parser_set_entry_error(self, group, entry, "too short", accepted, error);
		return FALSE;
	}
	*out = usec;
	return TRUE;
}

/* a lease lifetime: whole seconds that fit the 32 bits of NAT-PMP */
static gboolean
pm_config_parser_get_lifetime(PmConfigParser *self,
			      const PmConfigGroup *group,
			      const PmConfigEntry *entry,
			      guint32 min_sec,
			      guint32 *out,
			      GError **error)
{
	g_autofree char *accepted = g_strdup_printf("a whole number of seconds from %u to %u, "
						    "as %s",
						    min_sec,
						    G_MAXUINT32,
						    PM_CONFIG_DURATION_SYNTAX);
	guint64 usec = 0;

	if (!pm_parse_duration_usec(entry->value, &usec)) {
		pm_config_parser_set_entry_error(self,
						 group,
						 entry,
						 "not a duration",
						 accepted,
						 error);
		return FALSE;
	}
	if (usec % G_USEC_PER_SEC != 0) {
		pm_config_parser_set_entry_error(self,
						 group,
						 entry,
						 "not a whole number of seconds",
						 accepted,
						 error);
		return FALSE;
	}
	if (usec / G_USEC_PER_SEC < min_sec || usec / G_USEC_PER_SEC > G_MAXUINT32) {
		pm_config_parser_set_entry_error(self,
						 group,
						 entry,
						 "out of range",
						 accepted,
						 error);
		return FALSE;
	}
	*out = (guint32)(usec / G_USEC_PER_SEC);
	return TRUE;
}

/* the class API: a section is a group as a provider class sees it */

struct _PmConfigSection {
	PmConfigParser *parser;
	PmConfig *config; /* where warnings go */
	const char *header;
	const PmConfigGroup *group; /* NULL until first needed: see pm_config_section_group() */
	PmConfigGroup *owned_group;
	GPtrArray *entries; /* the class's: every entry but Type= */
};

/* @group: borrowed, or NULL to read [@header] again when a class asks (a mapping's, for
 * a message: most are never read twice) */
static PmConfigSection *
pm_config_section_new(PmConfigParser *parser,
		      PmConfig *config,
		      const char *header,
		      const PmConfigGroup *group)
{
	PmConfigSection *self = g_new0(PmConfigSection, 1);

	self->parser = parser;
	self->config = config;
	self->header = header;
	self->group = group;
	return self;
}

static void
pm_config_section_free(PmConfigSection *self)
{
	if (self->owned_group != NULL)
		pm_config_group_free(self->owned_group);
	if (self->entries != NULL)
		g_ptr_array_unref(self->entries);
	g_free(self);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(PmConfigSection, pm_config_section_free)

static const PmConfigGroup *
pm_config_section_group(PmConfigSection *self)
{
	/* it was read once without an error, so it reads again */
	if (self->group == NULL) {
		self->owned_group = pm_config_parser_read_group(self->parser, self->header, NULL);
		self->group = self->owned_group;
	}
	return self->group;
}

const char *
pm_config_section_get_header(const PmConfigSection *self)
{
	return self->header;
}

/* Type= picks the class of a [Provider NAME] or [Consumer NAME] group: the core's key, not
 * the class's. Other groups have no Type=: there it is an unknown key like any other. */
static gboolean
pm_config_section_has_type(const PmConfigSection *self)
{
	return g_str_has_prefix(self->header, "Provider ") ||
	       g_str_has_prefix(self->header, "Consumer ");
}

GPtrArray *
pm_config_section_get_entries(PmConfigSection *self)
{
	const PmConfigGroup *group = pm_config_section_group(self);

	if (self->entries == NULL) {
		self->entries = g_ptr_array_new();
		for (guint i = 0; i < group->entries->len; i++) {
			PmConfigEntry *entry = g_ptr_array_index(group->entries, i);
			if (!pm_config_section_has_type(self) || g_strcmp0(entry->key, "Type") != 0)
				g_ptr_array_add(self->entries, entry);
		}
	}
	return self->entries;
}

const PmConfigEntry *
pm_config_section_lookup(PmConfigSection *self, const char *key)
{
	return pm_config_group_lookup(pm_config_section_group(self), key);
}

char *
pm_config_section_locate(PmConfigSection *self, const char *key)
{
	return pm_config_parser_locate(self->parser, self->header, key);
}

void
pm_config_section_set_error(PmConfigSection *self,
			    const PmConfigEntry *entry,
			    const char *what,
			    const char *accepted,
			    GError **error)
{
	pm_config_parser_set_entry_error(self->parser,
					 pm_config_section_group(self),
					 entry,
					 what,
					 accepted,
					 error);
}

void
pm_config_section_set_key_error(PmConfigSection *self,
				const char *key,
				const char *unset_value,
				const char *what,
				const char *accepted,
				GError **error)
{
	const PmConfigEntry *entry = pm_config_section_lookup(self, key);
	PmConfigEntry fallback = {NULL};

	/* a stand-in that pm_config_parser_locate() places on the group's header */
	if (entry == NULL) {
		fallback.key = (char *)key;
		fallback.raw = (char *)unset_value;
		fallback.value = fallback.raw;
		entry = &fallback;
	}
	pm_config_section_set_error(self, entry, what, accepted, error);
}

void
pm_config_section_set_unknown_key_error(PmConfigSection *self,
					const PmConfigEntry *entry,
					const char *accepted_keys,
					GError **error)
{
	g_autofree char *keys = pm_config_section_has_type(self)
					? g_strconcat("Type, ", accepted_keys, NULL)
					: g_strdup(accepted_keys);

	pm_config_parser_set_unknown_key_error(self->parser,
					       pm_config_section_group(self),
					       entry,
					       keys,
					       error);
}

void
pm_config_section_set_missing_error(PmConfigSection *self,
				    const char *key,
				    const char *what_to_do,
				    GError **error)
{
	pm_config_parser_set_missing_error(self->parser,
					   pm_config_section_group(self),
					   key,
					   what_to_do,
					   error);
}

void
pm_config_section_set_group_error(PmConfigSection *self, const char *what, GError **error)
{
	g_autofree char *location = pm_config_parser_locate(self->parser, self->header, NULL);

	g_set_error(error, PM_ERROR, PM_ERROR_INVALID_CONFIGURATION, "%s: [%s]: %s", location,
		    self->header, what);
}

void
pm_config_section_add_warning(PmConfigSection *self, const PmConfigEntry *entry, const char *what)
{
	pm_config_parser_add_warning(self->parser,
				     self->config,
				     pm_config_section_group(self),
				     entry,
				     what);
}

gboolean
pm_config_section_get_boolean(PmConfigSection *self,
			      const PmConfigEntry *entry,
			      gboolean *out,
			      GError **error)
{
	return pm_config_parser_get_boolean(self->parser,
					    pm_config_section_group(self),
					    entry,
					    out,
					    error);
}

gboolean
pm_config_section_get_port(PmConfigSection *self,
			   const PmConfigEntry *entry,
			   guint16 *out,
			   GError **error)
{
	return pm_config_parser_get_port(self->parser,
					 pm_config_section_group(self),
					 entry,
					 out,
					 error);
}

gboolean
pm_config_section_get_duration(PmConfigSection *self,
			       const PmConfigEntry *entry,
			       guint64 min_usec,
			       guint64 *out,
			       GError **error)
{
	return pm_config_parser_get_duration(self->parser,
					     pm_config_section_group(self),
					     entry,
					     min_usec,
					     out,
					     error);
}

gboolean
pm_config_section_get_lifetime(PmConfigSection *self,
			       const PmConfigEntry *entry,
			       guint32 min_sec,
			       guint32 *out,
			       GError **error)
{
	return pm_config_parser_get_lifetime(self->parser,
					     pm_config_section_group(self),
					     entry,
					     min_sec,
					     out,
					     error);
}

/* key tables */

const char *
pm_config_section_get_name(const PmConfigSection *self)
{
	const char *space = strchr(self->header, ' ');

	return space != NULL ? space + 1 : NULL;
}

gboolean
pm_config_section_parse_keys(PmConfigSection *self,
			     const PmConfigKey *keys,
			     gpointer config,
			     GError **error)
{
	GPtrArray *entries = pm_config_section_get_entries(self);

	for (guint i = 0; i < entries->len; i++) {
		const PmConfigEntry *entry = g_ptr_array_index(entries, i);
		const PmConfigKey *key = NULL;

		for (guint j = 0; keys != NULL && keys[j].key != NULL; j++) {
			if (g_strcmp0(keys[j].key, entry->key) == 0) {
				key = &keys[j];
				break;
			}
		}
		if (key == NULL) {
			g_autoptr(GString) accepted = g_string_new(NULL);
			for (guint j = 0; keys != NULL && keys[j].key != NULL; j++)
				g_string_append_printf(accepted, "%s%s", j > 0 ? ", " : "",
						       keys[j].key);
			pm_config_section_set_unknown_key_error(self, entry, accepted->str, error);
			return FALSE;
		}
		if (!key->parse(self, entry, (guint8 *)config + key->offset, error))
			return FALSE;
	}
	return TRUE;
}

gboolean
pm_config_parse_string(PmConfigSection *section,
		       const PmConfigEntry *entry,
		       gpointer field,
		       GError **error)
{
	char **out = field;

	/* a control character would come out of a message or a file as something else */
	for (const char *p = entry->value; *p != '\0'; p++) {
		if ((guchar)*p < 0x20 || *p == 0x7f) {
			pm_config_section_set_error(section,
						    entry,
						    "a control character (\\n, \\t, \\r) in the value",
						    "text without control characters",
						    error);
			return FALSE;
		}
	}
	g_free(*out);
	*out = g_strdup(entry->value);
	return TRUE;
}

gboolean
pm_config_parse_nonempty(PmConfigSection *section, const PmConfigEntry *entry, gpointer field,
			 GError **error)
{
	if (entry->value[0] == '\0') {
		pm_config_section_set_error(section, entry, "empty", "a non-empty value", error);
		return FALSE;
	}
	return pm_config_parse_string(section, entry, field, error);
}

gboolean
pm_config_parse_boolean(PmConfigSection *section,
			const PmConfigEntry *entry,
			gpointer field,
			GError **error)
{
	return pm_config_section_get_boolean(section, entry, field, error);
}

gboolean
pm_config_parse_port(PmConfigSection *section,
		     const PmConfigEntry *entry,
		     gpointer field,
		     GError **error)
{
	return pm_config_section_get_port(section, entry, field, error);
}

gboolean
pm_config_parse_lifetime(PmConfigSection *section,
			 const PmConfigEntry *entry,
			 gpointer field,
			 GError **error)
{
	return pm_config_section_get_lifetime(section, entry, 1, field, error);
}

gboolean
pm_config_parse_duration(PmConfigSection *section,
			 const PmConfigEntry *entry,
			 gpointer field,
			 GError **error)
{
	return pm_config_section_get_duration(section, entry, 0, field, error);
}

gboolean
pm_config_section_check_secret_keys(PmConfigSection *self, const char *prefix,
				    const char *credential, const char *file, GError **error)
{
	g_autofree char *credential_key = g_strconcat(prefix, "Credential", NULL);
	g_autofree char *file_key = g_strconcat(prefix, "File", NULL);

	if (credential != NULL && file != NULL) {
		g_autofree char *reason = g_strdup_printf("%s= is set too", credential_key);
		g_autofree char *accepted =
			g_strdup_printf("one of %s= and %s=", credential_key, file_key);
		pm_config_section_set_error(self, pm_config_section_lookup(self, file_key), reason,
					    accepted, error);
		return FALSE;
	}
	if (credential != NULL && credential[0] == '\0') {
		pm_config_section_set_error(self, pm_config_section_lookup(self, credential_key),
					    "empty", "the NAME of LoadCredential=NAME:PATH", error);
		return FALSE;
	}
	if (file != NULL && file[0] == '\0') {
		pm_config_section_set_error(self, pm_config_section_lookup(self, file_key), "empty",
					    "the path of a file holding the secret", error);
		return FALSE;
	}
	return TRUE;
}

gboolean
pm_config_parse_timeout(PmConfigSection *section,
			const PmConfigEntry *entry,
			gpointer field,
			GError **error)
{
	guint64 *usec = field;
	if (!pm_config_section_get_duration(section, entry, G_USEC_PER_SEC, usec, error))
		return FALSE;
	if (*usec > (guint64)3600 * G_USEC_PER_SEC) {
		pm_config_section_set_error(section, entry, "too long", "at most 1h", error);
		return FALSE;
	}
	return TRUE;
}

void
pm_config_print_string(GString *out, const char *key, const char *value)
{
	gsize len = strlen(value);

	g_string_append_printf(out, "%s=", key);
	for (gsize i = 0; i < len; i++) {
		/* GKeyFile drops the spaces after '=', and portmapd those at the end */
		if (value[i] == ' ' && (i == 0 || i == len - 1))
			g_string_append(out, "\\s");
		else if (value[i] == '\\')
			g_string_append(out, "\\\\");
		else
			g_string_append_c(out, value[i]);
	}
	g_string_append_c(out, '\n');
}

static char *
pm_config_provider_names(const PmConfig *config)
{
	return pm_config_item_names(config->providers, G_STRUCT_OFFSET(PmProviderConfig, name),
				    "none: no [Provider NAME] is defined");
}

/* a name of an existing provider */
static gboolean
pm_config_parser_check_provider(PmConfigParser *self,
				const PmConfig *config,
				const PmConfigGroup *group,
				const PmConfigEntry *entry,
				GError **error)
{
	if (pm_config_find_provider(config, entry->value) == NULL) {
		g_autofree char *names = pm_config_provider_names(config);
		pm_config_parser_set_entry_error(self,
						 group,
						 entry,
						 "no such provider",
						 names,
						 error);
		return FALSE;
	}
	return TRUE;
}

/* groups */

static gboolean
pm_config_parser_load_daemon(PmConfigParser *self,
			     PmConfig *config,
			     const PmConfigGroup *group,
			     GError **error)
{
	for (guint i = 0; i < group->entries->len; i++) {
		const PmConfigEntry *entry = g_ptr_array_index(group->entries, i);

		if (g_strcmp0(entry->key, "DefaultProvider") == 0) {
			/* that it exists is checked once every provider is known */
			g_free(config->daemon.default_provider);
			config->daemon.default_provider = g_strdup(entry->value);
		} else if (g_strcmp0(entry->key, "ReleaseOnStop") == 0) {
			if (g_strcmp0(entry->value, "transient") == 0) {
				config->daemon.release_on_stop = PM_RELEASE_ON_STOP_TRANSIENT;
			} else if (g_strcmp0(entry->value, "all") == 0) {
				config->daemon.release_on_stop = PM_RELEASE_ON_STOP_ALL;
			} else if (g_strcmp0(entry->value, "none") == 0) {
				config->daemon.release_on_stop = PM_RELEASE_ON_STOP_NONE;
			} else {
				pm_config_parser_set_entry_error(self,
								 group,
								 entry,
								 "unknown policy",
								 "transient, all, none",
								 error);
				return FALSE;
			}
		} else if (g_strcmp0(entry->key, "MaxMappingsPerUser") == 0) {
			guint64 value = 0;
			if (!g_ascii_string_to_unsigned(entry->value,
							10,
							0,
							G_MAXUINT,
							&value,
							NULL)) {
				g_autofree char *accepted =
				    g_strdup_printf("a whole number from 0 to %u", G_MAXUINT);
				pm_config_parser_set_entry_error(self,
								 group,
								 entry,
								 "not a count",
								 accepted,
								 error);
				return FALSE;
			}
			config->daemon.max_mappings_per_user = (guint)value;
		} else if (g_strcmp0(entry->key, "ReconcileInterval") == 0) {
			if (!pm_config_parser_get_duration(self,
							   group,
							   entry,
							   G_USEC_PER_SEC,
							   &config->daemon.reconcile_interval_usec,
							   error))
				return FALSE;
		} else {
			pm_config_parser_set_unknown_key_error(
			    self,
			    group,
			    entry,
			    "DefaultProvider, ReleaseOnStop, MaxMappingsPerUser, ReconcileInterval",
			    error);
			return FALSE;
		}
	}
	return TRUE;
}

/*
 * Type= picks the class in the registry (provider.h); the class reads the other keys. An
 * unknown type lists what this version has, and the types of the configuration language
 * that it does not have yet are told apart from typing errors.
 */
static gboolean
pm_config_parser_load_provider(PmConfigParser *self,
			       PmConfig *config,
			       const PmConfigGroup *group,
			       GError **error)
{
	const PmConfigEntry *type = pm_config_group_lookup(group, "Type");
	g_autofree char *types = pm_provider_class_list_types(", ", FALSE);
	g_autoptr(PmConfigSection) section = NULL;
	const PmProviderClass *klass;
	gpointer data;

	if (type == NULL) {
		g_autofree char *assignments = pm_provider_class_list_types(" or Type=", FALSE);
		g_autofree char *what = g_strdup_printf("set Type=%s", assignments);
		pm_config_parser_set_missing_error(self, group, "Type", what, error);
		return FALSE;
	}
	klass = pm_provider_class_lookup(type->value);
	if (klass == NULL && pm_provider_type_is_planned(type->value)) {
		pm_config_parser_set_entry_error(self,
						 group,
						 type,
						 "not supported by this version of portmapd yet",
						 types,
						 error);
		return FALSE;
	}
	if (klass == NULL) {
		g_autofree char *all_types = pm_provider_class_list_types(", ", TRUE);
		pm_config_parser_set_entry_error(self,
						 group,
						 type,
						 "unknown provider type",
						 all_types,
						 error);
		return FALSE;
	}
	section = pm_config_section_new(self, config, group->header, group);
	data = klass->config_parse(section, error);
	if (data == NULL)
		return FALSE;
	if (klass->config_verify != NULL && !klass->config_verify(data, section, error)) {
		klass->config_free(data);
		return FALSE;
	}
	g_ptr_array_add(config->providers, pm_provider_config_new(group->name, klass, data));
	return TRUE;
}

static char *
pm_config_consumer_names(const PmConfig *config)
{
	return pm_config_item_names(config->consumers, G_STRUCT_OFFSET(PmConsumerConfig, name),
				    "none: no [Consumer NAME] is defined");
}

/* Consumers=: names of existing consumers, each once */
static gboolean
pm_config_parser_check_consumers(PmConfigParser *self,
				 const PmConfig *config,
				 const PmConfigGroup *group,
				 const PmConfigEntry *entry,
				 char **consumers,
				 GError **error)
{
	for (guint i = 0; consumers[i] != NULL; i++) {
		g_autofree char *echo = NULL;
		g_autofree char *what = NULL;

		if (pm_config_find_consumer(config, consumers[i]) == NULL) {
			g_autofree char *names = pm_config_consumer_names(config);
			echo = pm_config_echo(consumers[i], -1);
			what = g_strdup_printf("Consumer %s is not defined", echo);
			pm_config_parser_set_entry_error(self, group, entry, what, names, error);
			return FALSE;
		}
		if (g_strv_contains((const char *const *)consumers + i + 1, consumers[i])) {
			echo = pm_config_echo(consumers[i], -1);
			what = g_strdup_printf("Consumer %s is listed twice", echo);
			pm_config_parser_set_entry_error(self,
							 group,
							 entry,
							 what,
							 "each consumer once",
							 error);
			return FALSE;
		}
	}
	return TRUE;
}

static gboolean
pm_config_parser_load_consumer(PmConfigParser *self,
			       PmConfig *config,
			       const PmConfigGroup *group,
			       GError **error)
{
	const PmConfigEntry *type = pm_config_group_lookup(group, "Type");
	g_autofree char *implemented = pm_consumer_class_list_types();
	g_autoptr(PmConfigSection) section = NULL;
	const PmConsumerClass *klass;
	PmConsumerConfig *consumer;

	if (type == NULL) {
		g_autofree char *what_to_do =
		    implemented != NULL
			? g_strdup_printf("set Type= to one of %s", implemented)
			: g_strdup("this version of portmapd supports no consumer type yet: "
				   "remove the group");
		pm_config_parser_set_missing_error(self, group, "Type", what_to_do, error);
		return FALSE;
	}
	klass = pm_consumer_class_find(type->value);
	if (klass == NULL && pm_consumer_type_is_planned(type->value)) {
		pm_config_parser_set_entry_error(self,
						 group,
						 type,
						 "not supported by this version of portmapd yet",
						 implemented != NULL
						     ? implemented
						     : "none yet: consumers come in a later "
						       "version of portmapd",
						 error);
		return FALSE;
	}
	if (klass == NULL) {
		g_autofree char *known = pm_consumer_class_list_known_types();
		pm_config_parser_set_entry_error(self,
						 group,
						 type,
						 "unknown consumer type",
						 known,
						 error);
		return FALSE;
	}
	section = pm_config_section_new(self, config, group->header, group);
	consumer = pm_consumer_config_parse(klass, section, error);
	if (consumer == NULL)
		return FALSE;
	g_ptr_array_add(config->consumers, consumer);
	return TRUE;
}

/*
 * a consumer of a class that serves one mapping (a torrent client listens on one port)
 * listed by several: it keeps the first, and is dropped from the others with a warning
 */
static void
pm_config_parser_check_single_mapping(PmConfigParser *self,
				      PmConfig *config,
				      GPtrArray *mapping_headers)
{
	g_autoptr(GHashTable) first = g_hash_table_new(g_str_hash, g_str_equal);

	for (guint i = 0; i < config->mappings->len; i++) {
		PmMappingConfig *mapping = g_ptr_array_index(config->mappings, i);
		g_autoptr(GStrvBuilder) kept = g_strv_builder_new();
		gboolean dropped = FALSE;

		for (guint j = 0; mapping->consumers != NULL && mapping->consumers[j] != NULL; j++) {
			const PmConsumerConfig *consumer =
			    pm_config_find_consumer(config, mapping->consumers[j]);
			const char *other = g_hash_table_lookup(first, consumer->name);
			g_autoptr(PmConfigGroup) group = NULL;
			g_autofree char *what = NULL;

			if (!consumer->klass->single_mapping || other == NULL) {
				if (consumer->klass->single_mapping)
					g_hash_table_insert(first, consumer->name, mapping->name);
				g_strv_builder_add(kept, consumer->name);
				continue;
			}
			group = pm_config_parser_read_group(self,
							    g_ptr_array_index(mapping_headers, i),
							    NULL);
			what = g_strdup_printf("%s ignored: consumer %s (Type=%s) takes the port "
					       "of one mapping, and has [Mapping %s]'s; give this "
					       "mapping a consumer of its own",
					       consumer->name,
					       consumer->name,
					       consumer->klass->type,
					       other);
			pm_config_parser_add_warning(self,
						     config,
						     group,
						     pm_config_group_lookup(group, "Consumers"),
						     what);
			dropped = TRUE;
		}
		if (dropped) {
			g_strfreev(mapping->consumers);
			mapping->consumers = g_strv_builder_end(kept);
			if (mapping->consumers[0] == NULL)
				g_clear_pointer(&mapping->consumers, g_strfreev);
		}
	}
}

static gboolean
pm_config_parser_load_mapping(PmConfigParser *self,
			      PmConfig *config,
			      const PmConfigGroup *group,
			      GError **error)
{
	g_autoptr(PmMappingConfig) mapping = g_new0(PmMappingConfig, 1);
	const PmConfigEntry *provider_entry = pm_config_group_lookup(group, "Provider");
	const PmConfigEntry *internal_entry = NULL;
	const PmProviderConfig *provider;

	mapping->name = g_strdup(group->name);
	mapping->protocols = PM_PROTOCOL_TCP | PM_PROTOCOL_UDP;

	/* the provider first: whether InternalPort= is needed depends on it */
	if (provider_entry != NULL) {
		if (!pm_config_parser_check_provider(self, config, group, provider_entry, error))
			return FALSE;
		mapping->provider = g_intern_string(provider_entry->value);
	} else if (pm_config_get_default_provider(config) != NULL) {
		mapping->provider = g_intern_string(pm_config_get_default_provider(config));
	} else if (config->providers->len == 0) {
		pm_config_parser_set_missing_error(self,
						   group,
						   "Provider",
						   "no [Provider NAME] is defined: add one",
						   error);
		return FALSE;
	} else {
		pm_config_parser_set_missing_error(self,
						   group,
						   "Provider",
						   "several providers and no [Daemon] "
						   "DefaultProvider=: set Provider=",
						   error);
		return FALSE;
	}
	provider = pm_config_find_provider(config, mapping->provider);

	for (guint i = 0; i < group->entries->len; i++) {
		const PmConfigEntry *entry = g_ptr_array_index(group->entries, i);

		if (g_strcmp0(entry->key, "Provider") == 0)
			continue;
		if (g_strcmp0(entry->key, "Protocols") == 0) {
			if (!pm_parse_protocols(entry->value, &mapping->protocols)) {
				pm_config_parser_set_entry_error(
				    self,
				    group,
				    entry,
				    entry->value[0] == '\0' ? "empty" : "not a list of protocols",
				    "tcp, udp, both, several separated by commas or spaces",
				    error);
				return FALSE;
			}
		} else if (g_strcmp0(entry->key, "InternalPort") == 0) {
			if (!pm_config_parser_get_port(self,
						       group,
						       entry,
						       &mapping->internal_port,
						       error))
				return FALSE;
			internal_entry = entry;
		} else if (g_strcmp0(entry->key, "ExternalPort") == 0) {
			if (!pm_config_parser_get_port(self,
						       group,
						       entry,
						       &mapping->external_port,
						       error))
				return FALSE;
		} else if (g_strcmp0(entry->key, "Lifetime") == 0) {
			if (!pm_config_parser_get_lifetime(self,
							   group,
							   entry,
							   0,
							   &mapping->lifetime,
							   error))
				return FALSE;
		} else if (g_strcmp0(entry->key, "Consumers") == 0) {
			g_auto(GStrv) consumers = pm_split_list(entry->value);

			if (!pm_config_parser_check_consumers(self,
							      config,
							      group,
							      entry,
							      consumers,
							      error))
				return FALSE;
			g_clear_pointer(&mapping->consumers, g_strfreev);
			/* NULL, not an empty list, when there are none */
			if (consumers[0] != NULL)
				mapping->consumers = g_steal_pointer(&consumers);
		} else {
			pm_config_parser_set_unknown_key_error(self,
							       group,
							       entry,
							       "Provider, Protocols, InternalPort, "
							       "ExternalPort, Lifetime, Consumers",
							       error);
			return FALSE;
		}
	}

	/* the provider's class may need no InternalPort= (it chooses I := E, internal port 0)
	 * or refuse keys it cannot honour */
	if (provider->klass->config_check_mapping != NULL) {
		g_autoptr(PmConfigSection) section =
		    pm_config_section_new(self, config, group->header, group);
		if (!provider->klass->config_check_mapping(provider, mapping, section, error))
			return FALSE;
	} else if (internal_entry == NULL) {
		pm_config_parser_set_missing_error(self,
						   group,
						   "InternalPort",
						   "set the port the application listens on",
						   error);
		return FALSE;
	}
	g_ptr_array_add(config->mappings, g_steal_pointer(&mapping));
	return TRUE;
}

/*
 * the rules of each provider's class between the mappings it carries (NAT-PMP's
 * SamePort=yes: one mapping per protocol), with their groups to locate a message
 */
static gboolean
pm_config_parser_check_provider_mappings(PmConfigParser *self,
					 PmConfig *config,
					 GPtrArray *mapping_headers,
					 GError **error)
{
	for (guint i = 0; i < config->providers->len; i++) {
		const PmProviderConfig *provider = g_ptr_array_index(config->providers, i);
		g_autoptr(GPtrArray) mappings = NULL;
		g_autoptr(GPtrArray) sections = NULL;

		if (provider->klass->config_check_mappings == NULL)
			continue;
		mappings = g_ptr_array_new();
		sections = g_ptr_array_new_with_free_func((GDestroyNotify)pm_config_section_free);
		for (guint j = 0; j < config->mappings->len; j++) {
			PmMappingConfig *mapping = g_ptr_array_index(config->mappings, j);
			if (g_strcmp0(mapping->provider, provider->name) != 0)
				continue;
			g_ptr_array_add(mappings, mapping);
			g_ptr_array_add(sections,
					pm_config_section_new(self,
							      config,
							      g_ptr_array_index(mapping_headers, j),
							      NULL));
		}
		if (!provider->klass->config_check_mappings(provider, mappings, sections, error))
			return FALSE;
	}
	return TRUE;
}

/*
 * same provider, same protocol and same internal port: one lease would serve both;
 * @mapping_headers are the groups of the mappings, read again for a message
 */
static gboolean
pm_config_parser_check_conflicts(PmConfigParser *self,
				 PmConfig *config,
				 GPtrArray *mapping_headers,
				 GError **error)
{
	g_autoptr(GHashTable) seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);

	/* the classes' own rules first: they explain a clash of internal port 0 */
	if (!pm_config_parser_check_provider_mappings(self, config, mapping_headers, error))
		return FALSE;
	for (guint i = 0; i < config->mappings->len; i++) {
		const PmMappingConfig *mapping = g_ptr_array_index(config->mappings, i);
		const PmProtocols protocols[] = {PM_PROTOCOL_TCP, PM_PROTOCOL_UDP};

		for (guint j = 0; j < G_N_ELEMENTS(protocols); j++) {
			g_autofree char *key = NULL;
			gpointer other_idx = NULL;

			if ((mapping->protocols & protocols[j]) == 0)
				continue;
			key = g_strdup_printf("%s\n%s\n%u",
					      mapping->provider,
					      pm_protocol_to_string(protocols[j]),
					      mapping->internal_port);
			if (g_hash_table_lookup_extended(seen, key, NULL, &other_idx)) {
				const char *header = g_ptr_array_index(mapping_headers, i);
				const char *other_header = g_ptr_array_index(
				    mapping_headers, GPOINTER_TO_UINT(other_idx));
				g_autoptr(PmConfigGroup) group =
				    pm_config_parser_read_group(self, header, NULL);
				const PmConfigEntry *entry =
				    pm_config_group_lookup(group, "InternalPort");
				g_autofree char *other_location =
				    pm_config_parser_locate(self, other_header, "InternalPort");
				g_autofree char *what = NULL;
				g_autofree char *accepted = NULL;

				what = g_strdup_printf("%s port %u of provider %s is already "
						       "mapped by [%s] (%s)",
						       pm_protocol_to_string(protocols[j]),
						       mapping->internal_port,
						       mapping->provider,
						       other_header,
						       other_location);
				accepted = g_strdup_printf("a port that no other mapping of "
							   "provider %s uses for %s",
							   mapping->provider,
							   pm_protocol_to_string(protocols[j]));
				pm_config_parser_set_entry_error(self,
								 group,
								 entry,
								 what,
								 accepted,
								 error);
				return FALSE;
			}
			g_hash_table_insert(seen, g_steal_pointer(&key), GUINT_TO_POINTER(i));
		}
	}
	return TRUE;
}

static PmConfig *
pm_config_parser_build(PmConfigParser *self, GError **error)
{
	g_autoptr(PmConfig) config = pm_config_new_empty();
	g_autoptr(GPtrArray) mapping_headers = g_ptr_array_new();
	g_autoptr(PmConfigGroup) daemon = NULL;
	g_auto(GStrv) headers = NULL;

	for (guint i = 0; i < self->sources->len; i++) {
		const PmConfigSource *source = g_ptr_array_index(self->sources, i);
		g_ptr_array_add(config->files, g_strdup(source->filename));
	}
	if (self->keyfile == NULL)
		return g_steal_pointer(&config);
	headers = g_key_file_get_groups(self->keyfile, NULL);

	/* [Daemon] and providers first: mappings refer to them */
	if (g_key_file_has_group(self->keyfile, "Daemon")) {
		daemon = pm_config_parser_read_group(self, "Daemon", error);
		if (daemon == NULL)
			return NULL;
		if (!pm_config_parser_load_daemon(self, config, daemon, error))
			return NULL;
	}
	for (guint i = 0; headers[i] != NULL; i++) {
		g_autoptr(PmConfigGroup) group = NULL;

		if (!g_str_has_prefix(headers[i], "Provider "))
			continue;
		group = pm_config_parser_read_group(self, headers[i], error);
		if (group == NULL)
			return NULL;
		if (!pm_config_parser_load_provider(self, config, group, error))
			return NULL;
	}
	if (daemon != NULL) {
		const PmConfigEntry *entry = pm_config_group_lookup(daemon, "DefaultProvider");
		if (entry != NULL &&
		    !pm_config_parser_check_provider(self, config, daemon, entry, error))
			return NULL;
	}
	/* routers before [Gateway]: its Router= names one */
	for (guint i = 0; headers[i] != NULL; i++) {
		g_autoptr(PmConfigGroup) group = NULL;
		g_autoptr(PmConfigSection) section = NULL;
		PmMikrotikConfig *mikrotik;

		if (!g_str_has_prefix(headers[i], "MikroTik "))
			continue;
		group = pm_config_parser_read_group(self, headers[i], error);
		if (group == NULL)
			return NULL;
		section = pm_config_section_new(self, config, group->header, group);
		mikrotik = pm_mikrotik_config_parse(section, error);
		if (mikrotik == NULL)
			return NULL;
		g_ptr_array_add(config->mikrotiks, mikrotik);
	}
	/* [Gateway] after the providers: Upstream= names one */
	if (g_key_file_has_group(self->keyfile, "Gateway")) {
		g_autoptr(PmConfigGroup) group = pm_config_parser_read_group(self, "Gateway", error);
		g_autoptr(PmConfigSection) section = NULL;

		if (group == NULL)
			return NULL;
		section = pm_config_section_new(self, config, group->header, group);
		config->gateway = pm_gateway_config_parse(section, config, error);
		if (config->gateway == NULL)
			return NULL;
	}
	if (g_key_file_has_group(self->keyfile, "STUN")) {
		g_autoptr(PmConfigGroup) group = pm_config_parser_read_group(self, "STUN", error);
		g_autoptr(PmConfigSection) section = NULL;

		if (group == NULL)
			return NULL;
		section = pm_config_section_new(self, config, group->header, group);
		config->stun = pm_stun_config_parse(section, error);
		if (config->stun == NULL)
			return NULL;
	}
	/* [ControlPlane] after [STUN]: it reports what STUN discovers */
	if (g_key_file_has_group(self->keyfile, "ControlPlane")) {
		g_autoptr(PmConfigGroup) group =
		    pm_config_parser_read_group(self, "ControlPlane", error);
		g_autoptr(PmConfigSection) section = NULL;

		if (group == NULL)
			return NULL;
		section = pm_config_section_new(self, config, group->header, group);
		config->control_plane = pm_control_plane_config_parse(section, config, error);
		if (config->control_plane == NULL)
			return NULL;
	}
	/* [WireGuard] after [ControlPlane]: it applies the endpoints the control plane returns */
	if (g_key_file_has_group(self->keyfile, "WireGuard")) {
		g_autoptr(PmConfigGroup) group = pm_config_parser_read_group(self, "WireGuard", error);
		g_autoptr(PmConfigSection) section = NULL;

		if (group == NULL)
			return NULL;
		section = pm_config_section_new(self, config, group->header, group);
		config->wireguard = pm_wireguard_config_parse(section, config, error);
		if (config->wireguard == NULL)
			return NULL;
	}
	/* consumers before mappings too: Consumers= names them */
	for (guint i = 0; headers[i] != NULL; i++) {
		g_autoptr(PmConfigGroup) group = NULL;

		if (!g_str_has_prefix(headers[i], "Consumer "))
			continue;
		group = pm_config_parser_read_group(self, headers[i], error);
		if (group == NULL)
			return NULL;
		if (!pm_config_parser_load_consumer(self, config, group, error))
			return NULL;
	}
	for (guint i = 0; headers[i] != NULL; i++) {
		g_autoptr(PmConfigGroup) group = NULL;

		if (!g_str_has_prefix(headers[i], "Mapping "))
			continue;
		group = pm_config_parser_read_group(self, headers[i], error);
		if (group == NULL)
			return NULL;
		if (!pm_config_parser_load_mapping(self, config, group, error))
			return NULL;
		g_ptr_array_add(mapping_headers, headers[i]);
	}
	if (!pm_config_parser_check_conflicts(self, config, mapping_headers, error))
		return NULL;
	pm_config_parser_check_single_mapping(self, config, mapping_headers);
	return g_steal_pointer(&config);
}

/* loading */

static gint
pm_config_compare_names(gconstpointer a, gconstpointer b)
{
	return g_strcmp0(*(const char *const *)a, *(const char *const *)b);
}

/* @path (a missing main file is no error) and then its drop-ins, merged over what @parser has */
static gboolean
pm_config_parser_add_file_and_dropins(PmConfigParser *self, const char *path, GError **error)
{
	g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GError) error_local = NULL;
	g_autoptr(GDir) dir = NULL;
	g_autofree char *dropin_dir = NULL;
	const char *name;

	if (!pm_config_parser_add_file(self, path, TRUE, error))
		return FALSE;

	dropin_dir = g_strconcat(path, ".d", NULL);
	dir = g_dir_open(dropin_dir, 0, &error_local);
	if (dir == NULL) {
		if (!g_error_matches(error_local, G_FILE_ERROR, G_FILE_ERROR_NOENT)) {
			g_set_error(error,
				    PM_ERROR,
				    PM_ERROR_INVALID_CONFIGURATION,
				    "%s",
				    error_local->message);
			return FALSE;
		}
		return TRUE;
	}
	while ((name = g_dir_read_name(dir)) != NULL) {
		/* hidden files are editors' and package managers' leftovers */
		if (name[0] == '.' || !g_str_has_suffix(name, ".conf"))
			continue;
		g_ptr_array_add(names, g_strdup(name));
	}
	g_ptr_array_sort(names, pm_config_compare_names);
	for (guint i = 0; i < names->len; i++) {
		g_autofree char *filename =
		    g_build_filename(dropin_dir, g_ptr_array_index(names, i), NULL);
		if (!pm_config_parser_add_file(self, filename, FALSE, error))
			return FALSE;
	}
	return TRUE;
}

PmConfig *
pm_config_load(const char *path, GError **error)
{
	g_return_val_if_fail(path != NULL, NULL);

	return pm_config_load_over(NULL, 0, NULL, path, error);
}

PmConfig *
pm_config_load_over(const char *base,
		    gsize base_len,
		    const char *base_name,
		    const char *path,
		    GError **error)
{
	g_autoptr(PmConfigParser) parser = pm_config_parser_new();

	g_return_val_if_fail(base != NULL || path != NULL, NULL);
	g_return_val_if_fail(base == NULL || base_name != NULL, NULL);
	g_return_val_if_fail(error == NULL || *error == NULL, NULL);

	/* the base is the first file: the others are merged over it key by key */
	if (base != NULL && !pm_config_parser_add_data(parser, base_name, base, base_len, error))
		return NULL;
	if (path != NULL && !pm_config_parser_add_file_and_dropins(parser, path, error))
		return NULL;
	return pm_config_parser_build(parser, error);
}

PmConfig *
pm_config_load_from_data(const char *data, gsize len, const char *filename, GError **error)
{
	g_autoptr(PmConfigParser) parser = pm_config_parser_new();

	g_return_val_if_fail(data != NULL || len == 0, NULL);
	g_return_val_if_fail(error == NULL || *error == NULL, NULL);

	if (filename == NULL)
		filename = "<data>";
	if (!pm_config_parser_add_data(parser, filename, data != NULL ? data : "", len, error))
		return NULL;
	return pm_config_parser_build(parser, error);
}

/* rendering */

/* the largest unit that divides @usec exactly, so that it parses back to the same value */
char *
pm_duration_to_string(guint64 usec)
{
	const struct {
		const char *unit;
		guint64 usec;
	} units[] = {
	    {"d", 86400 * (guint64)G_USEC_PER_SEC},
	    {"h", 3600 * (guint64)G_USEC_PER_SEC},
	    {"min", 60 * G_USEC_PER_SEC},
	    {"s", G_USEC_PER_SEC},
	    {"ms", 1000},
	};

	for (guint i = 0; usec > 0 && i < G_N_ELEMENTS(units); i++) {
		if (usec % units[i].usec == 0) {
			return g_strdup_printf("%" G_GUINT64_FORMAT "%s",
					       usec / units[i].usec,
					       units[i].unit);
		}
	}
	return g_strdup_printf("%" G_GUINT64_FORMAT "us", usec);
}

static const char *
pm_release_on_stop_to_string(PmReleaseOnStop release_on_stop)
{
	switch (release_on_stop) {
	case PM_RELEASE_ON_STOP_ALL:
		return "all";
	case PM_RELEASE_ON_STOP_NONE:
		return "none";
	case PM_RELEASE_ON_STOP_TRANSIENT:
	default:
		return "transient";
	}
}

char *
pm_config_to_data(const PmConfig *self)
{
	GString *str = g_string_new(NULL);
	g_autofree char *reconcile = NULL;

	g_return_val_if_fail(self != NULL, NULL);

	reconcile = pm_duration_to_string(self->daemon.reconcile_interval_usec);
	g_string_append(str, "[Daemon]\n");
	if (self->daemon.default_provider != NULL)
		g_string_append_printf(str, "DefaultProvider=%s\n", self->daemon.default_provider);
	g_string_append_printf(str,
			       "ReleaseOnStop=%s\n",
			       pm_release_on_stop_to_string(self->daemon.release_on_stop));
	g_string_append_printf(str,
			       "MaxMappingsPerUser=%u\n",
			       self->daemon.max_mappings_per_user);
	g_string_append_printf(str, "ReconcileInterval=%s\n", reconcile);

	for (guint i = 0; i < self->providers->len; i++) {
		const PmProviderConfig *provider = g_ptr_array_index(self->providers, i);

		g_string_append_printf(str, "\n[Provider %s]\n", provider->name);
		g_string_append_printf(str, "Type=%s\n", provider->klass->type);
		provider->klass->config_print(provider->data, str);
	}

	for (guint i = 0; i < self->mikrotiks->len; i++) {
		g_string_append_c(str, '\n');
		pm_mikrotik_config_print(g_ptr_array_index(self->mikrotiks, i), str);
	}

	if (self->gateway != NULL) {
		g_string_append_c(str, '\n');
		pm_gateway_config_print(self->gateway, str);
	}

	if (self->stun != NULL) {
		g_string_append_c(str, '\n');
		pm_stun_config_print(self->stun, str);
	}

	if (self->control_plane != NULL) {
		g_string_append_c(str, '\n');
		pm_control_plane_config_print(self->control_plane, str);
	}

	if (self->wireguard != NULL) {
		g_string_append_c(str, '\n');
		pm_wireguard_config_print(self->wireguard, str);
	}

	for (guint i = 0; i < self->consumers->len; i++) {
		g_string_append_c(str, '\n');
		pm_consumer_config_print(g_ptr_array_index(self->consumers, i), str);
	}

	for (guint i = 0; i < self->mappings->len; i++) {
		const PmMappingConfig *mapping = g_ptr_array_index(self->mappings, i);

		g_string_append_printf(str, "\n[Mapping %s]\n", mapping->name);
		g_string_append_printf(str, "Provider=%s\n", mapping->provider);
		g_string_append(str, "Protocols=");
		if (mapping->protocols & PM_PROTOCOL_TCP)
			g_string_append(str, "tcp");
		if ((mapping->protocols & PM_PROTOCOL_TCP) &&
		    (mapping->protocols & PM_PROTOCOL_UDP))
			g_string_append_c(str, ' ');
		if (mapping->protocols & PM_PROTOCOL_UDP)
			g_string_append(str, "udp");
		g_string_append_c(str, '\n');
		if (mapping->internal_port != 0)
			g_string_append_printf(str, "InternalPort=%u\n", mapping->internal_port);
		if (mapping->external_port != 0)
			g_string_append_printf(str, "ExternalPort=%u\n", mapping->external_port);
		if (mapping->lifetime != 0)
			g_string_append_printf(str, "Lifetime=%u\n", mapping->lifetime);
		if (mapping->consumers != NULL && mapping->consumers[0] != NULL) {
			g_autofree char *consumers = g_strjoinv(" ", mapping->consumers);
			g_string_append_printf(str, "Consumers=%s\n", consumers);
		}
	}
	return g_string_free(str, FALSE);
}
