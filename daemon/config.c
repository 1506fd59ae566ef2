/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <gio/gio.h>
#include <string.h>

#include "config.h"
#include "errors.h"

/*
 * Loading is in three steps: each file's text is checked line by line (so that every error
 * names its line), then read in the key-file syntax GKeyFile reads and merged key by key
 * into PmConfigGroup/PmConfigEntry, and only then interpreted into a PmConfig. GKeyFile
 * itself is not used: at 10 000 groups its per-group tables took 13 MB at start, whose
 * remains stayed in the heap. The file texts are kept so that errors can point at the line
 * of the value that won the merge.
 */

#define PM_CONFIG_NAME_MAX		 64
#define PM_CONFIG_DEFAULT_MAX_MAPPINGS	 4
#define PM_CONFIG_DEFAULT_RECONCILE_USEC (5 * 60 * G_USEC_PER_SEC)
#define PM_CONFIG_DEFAULT_LIFETIME	 7200
#define PM_CONFIG_DEFAULT_NATPMP_PORT	 5351
#define PM_CONFIG_ECHO_MAX		 120

#define PM_CONFIG_ACCEPTED_HEADERS                                                               \
	"[Daemon], [Gateway], [STUN], [ControlPlane], [WireGuard], [Provider NAME], "            \
	"[Mapping NAME], [Consumer NAME], [MikroTik NAME] with NAME of 1 to 64 characters "      \
	"A-Z a-z 0-9 _ -"
#define PM_CONFIG_IMPLEMENTED_HEADERS "[Daemon], [Provider NAME], [Mapping NAME]"
#define PM_CONFIG_ACCEPTED_BOOLEAN    "yes, no, true, false, on, off, 1, 0"
#define PM_CONFIG_ACCEPTED_PORT	      "1 to 65535"
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

static void
pm_provider_config_free(PmProviderConfig *self)
{
	g_free(self->name);
	g_free(self->gateway);
	g_free(self);
}

static void
pm_mapping_config_free(PmMappingConfig *self)
{
	g_free(self->name);
	g_strfreev(self->consumers);
	g_free(self);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(PmProviderConfig, pm_provider_config_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PmMappingConfig, pm_mapping_config_free)

PmConfig *
pm_config_new_empty(void)
{
	PmConfig *self = g_new0(PmConfig, 1);

	self->daemon.release_on_stop = PM_RELEASE_ON_STOP_TRANSIENT;
	self->daemon.max_mappings_per_user = PM_CONFIG_DEFAULT_MAX_MAPPINGS;
	self->daemon.reconcile_interval_usec = PM_CONFIG_DEFAULT_RECONCILE_USEC;
	self->providers = g_ptr_array_new_with_free_func((GDestroyNotify)pm_provider_config_free);
	self->mappings = g_ptr_array_new_with_free_func((GDestroyNotify)pm_mapping_config_free);
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
	g_ptr_array_unref(self->mappings);
	g_ptr_array_unref(self->warnings);
	g_ptr_array_unref(self->files);
	g_free(self);
}

const PmProviderConfig *
pm_config_find_provider(const PmConfig *self, const char *name)
{
	g_return_val_if_fail(self != NULL, NULL);

	if (name == NULL)
		return NULL;
	for (guint i = 0; i < self->providers->len; i++) {
		const PmProviderConfig *provider = g_ptr_array_index(self->providers, i);
		if (g_strcmp0(provider->name, name) == 0)
			return provider;
	}
	return NULL;
}

const PmMappingConfig *
pm_config_find_mapping(const PmConfig *self, const char *name)
{
	g_return_val_if_fail(self != NULL, NULL);

	if (name == NULL)
		return NULL;
	for (guint i = 0; i < self->mappings->len; i++) {
		const PmMappingConfig *mapping = g_ptr_array_index(self->mappings, i);
		if (g_strcmp0(mapping->name, name) == 0)
			return mapping;
	}
	return NULL;
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
	return g_strcmp0(a->name, b->name) == 0 && a->type == b->type &&
	       g_strcmp0(a->gateway, b->gateway) == 0 && !a->same_port == !b->same_port &&
	       a->lifetime == b->lifetime && a->refresh_interval_usec == b->refresh_interval_usec &&
	       a->port == b->port;
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

/* the merged files */

typedef enum {
	PM_CONFIG_GROUP_DAEMON,
	PM_CONFIG_GROUP_PROVIDER,
	PM_CONFIG_GROUP_MAPPING,
	PM_CONFIG_GROUP_UNSUPPORTED,
} PmConfigGroupKind;

typedef struct {
	char *filename;
	char *text; /* kept to find the lines of messages */
	gsize len;
} PmConfigSource;

typedef struct _PmConfigEntry PmConfigEntry;
struct _PmConfigEntry {
	PmConfigEntry *next;
	char *key;
	char *value;
	guint source; /* the file whose value won */
};

/* no GLib container per group: a file with 10 000 groups is read at start, and each
 * container's memory would outlive the parser as heap fragments */
typedef struct {
	char *header; /* "Mapping torrent" */
	const char *name; /* in header, after the space; NULL for [Daemon] */
	PmConfigGroupKind kind;
	guint source; /* the first file with this group: where a missing key is reported */
	PmConfigEntry *entries; /* in the order they first appeared; a handful per group */
	PmConfigEntry *last_entry;
} PmConfigGroup;

typedef struct {
	GPtrArray *sources; /* of PmConfigSource */
	GPtrArray *groups;  /* of PmConfigGroup, in the order they first appeared */
	GHashTable *groups_by_header;
} PmConfigParser;

static void
pm_config_source_free(PmConfigSource *self)
{
	g_free(self->filename);
	g_free(self->text);
	g_free(self);
}

static void
pm_config_entry_free(PmConfigEntry *self)
{
	g_free(self->key);
	g_free(self->value);
	g_free(self);
}

static void
pm_config_group_free(PmConfigGroup *self)
{
	PmConfigEntry *entry = self->entries;

	while (entry != NULL) {
		PmConfigEntry *next = entry->next;
		pm_config_entry_free(entry);
		entry = next;
	}
	g_free(self->header);
	g_free(self);
}

static PmConfigParser *
pm_config_parser_new(void)
{
	PmConfigParser *self = g_new0(PmConfigParser, 1);

	self->sources = g_ptr_array_new_with_free_func((GDestroyNotify)pm_config_source_free);
	self->groups = g_ptr_array_new_with_free_func((GDestroyNotify)pm_config_group_free);
	self->groups_by_header = g_hash_table_new(g_str_hash, g_str_equal);
	return self;
}

static void
pm_config_parser_free(PmConfigParser *self)
{
	g_hash_table_unref(self->groups_by_header);
	g_ptr_array_unref(self->groups);
	g_ptr_array_unref(self->sources);
	g_free(self);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(PmConfigParser, pm_config_parser_free)

static PmConfigEntry *
pm_config_group_lookup_len(const PmConfigGroup *group, const char *key, gsize key_len)
{
	for (PmConfigEntry *entry = group->entries; entry != NULL; entry = entry->next) {
		if (strncmp(entry->key, key, key_len) == 0 && entry->key[key_len] == '\0')
			return entry;
	}
	return NULL;
}

static const PmConfigEntry *
pm_config_group_lookup(const PmConfigGroup *group, const char *key)
{
	return pm_config_group_lookup_len(group, key, strlen(key));
}

/* lines, split as GKeyFile splits them: on '\n', surrounding whitespace (and '\r') ignored */

typedef struct {
	const char *pos;
	const char *end;
	guint lineno;
} PmLineReader;

static gboolean
pm_line_reader_next(PmLineReader *reader, const char **line, gsize *len)
{
	const char *start;
	const char *stop;
	const char *nl;

	if (reader->pos >= reader->end)
		return FALSE;
	start = reader->pos;
	nl = memchr(start, '\n', (gsize)(reader->end - start));
	stop = nl != NULL ? nl : reader->end;
	reader->pos = nl != NULL ? nl + 1 : reader->end;
	reader->lineno++;
	while (start < stop && g_ascii_isspace(*start))
		start++;
	while (stop > start && g_ascii_isspace(stop[-1]))
		stop--;
	*line = start;
	*len = (gsize)(stop - start);
	return TRUE;
}

static gboolean
pm_line_is_header(const char *line, gsize len, const char *header)
{
	gsize header_len = strlen(header);

	return len == header_len + 2 && line[0] == '[' && line[len - 1] == ']' &&
	       memcmp(line + 1, header, header_len) == 0;
}

/* the key of a KEY=VALUE line, without trailing whitespace; FALSE for other lines */
static gboolean
pm_line_get_key(const char *line, gsize len, gsize *key_len)
{
	const char *eq;

	if (len == 0 || line[0] == '#' || line[0] == '[')
		return FALSE;
	eq = memchr(line, '=', len);
	if (eq == NULL)
		return FALSE;
	while (eq > line && g_ascii_isspace(eq[-1]))
		eq--;
	*key_len = (gsize)(eq - line);
	return *key_len > 0;
}

/*
 * the line of [@header], or with @key of the last "KEY=" line in any [@header] section of
 * the file, which is the assignment that won; 0 if not found
 */
static guint
pm_config_source_find_line(const PmConfigSource *source, const char *header, const char *key)
{
	PmLineReader reader = {source->text, source->text + source->len, 0};
	const char *line;
	gsize len;
	gboolean in_group = FALSE;
	guint header_line = 0;
	guint key_line = 0;

	while (pm_line_reader_next(&reader, &line, &len)) {
		gsize key_len = 0;

		if (len > 0 && line[0] == '[') {
			in_group = pm_line_is_header(line, len, header);
			if (in_group && header_line == 0) {
				header_line = reader.lineno;
				if (key == NULL)
					return header_line;
			}
			continue;
		}
		if (in_group && key != NULL && pm_line_get_key(line, len, &key_len) &&
		    key_len == strlen(key) && memcmp(line, key, key_len) == 0)
			key_line = reader.lineno;
	}
	return key_line != 0 ? key_line : header_line;
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

/* "[Daemon]", "[Provider NAME]", ...: NULL and @kind if usable, else what is wrong */
static char *
pm_config_check_header(const char *header, PmConfigGroupKind *kind)
{
	const char *singletons[] = {"Gateway", "STUN", "ControlPlane", "WireGuard"};
	const char *types[] = {"Provider", "Mapping", "Consumer", "MikroTik"};
	const char *space;
	const char *name;
	g_autofree char *type = NULL;
	gboolean implemented = FALSE;

	if (g_strcmp0(header, "Daemon") == 0) {
		*kind = PM_CONFIG_GROUP_DAEMON;
		return NULL;
	}
	for (guint i = 0; i < G_N_ELEMENTS(singletons); i++) {
		if (g_strcmp0(header, singletons[i]) == 0) {
			*kind = PM_CONFIG_GROUP_UNSUPPORTED;
			return NULL;
		}
	}
	space = strchr(header, ' ');
	type = space != NULL ? g_strndup(header, (gsize)(space - header)) : g_strdup(header);
	for (guint i = 0; i < G_N_ELEMENTS(types); i++) {
		if (g_strcmp0(type, types[i]) == 0) {
			implemented = TRUE;
			break;
		}
	}
	if (!implemented)
		return g_strdup("unknown group");
	if (space == NULL || space[1] == '\0')
		return g_strdup_printf("a name is required: [%s NAME]", type);
	name = space + 1;
	if (*name == ' ' || *name == '\t')
		return g_strdup_printf("exactly one space goes between %s and the name", type);
	if (strlen(name) > PM_CONFIG_NAME_MAX) {
		return g_strdup_printf("the name is %" G_GSIZE_FORMAT " bytes long, at most %u",
				       strlen(name),
				       (guint)PM_CONFIG_NAME_MAX);
	}
	if (!pm_name_is_valid(name))
		return g_strdup("the name has a character other than A-Z a-z 0-9 _ -");
	if (g_strcmp0(type, "Provider") == 0)
		*kind = PM_CONFIG_GROUP_PROVIDER;
	else if (g_strcmp0(type, "Mapping") == 0)
		*kind = PM_CONFIG_GROUP_MAPPING;
	else
		*kind = PM_CONFIG_GROUP_UNSUPPORTED;
	return NULL;
}

/* the key-file syntax, checked first so that every error has a line number */
static gboolean
pm_config_check_lines(const char *filename, const char *text, gsize text_len, GError **error)
{
	PmLineReader reader = {text, text + text_len, 0};
	const char *line;
	gsize len;
	gboolean in_group = FALSE;

	while (pm_line_reader_next(&reader, &line, &len)) {
		gsize key_len = 0;

		if (len == 0 || line[0] == '#')
			continue;
		if (line[0] == '[') {
			g_autofree char *header = NULL;
			g_autofree char *what = NULL;
			PmConfigGroupKind kind = PM_CONFIG_GROUP_UNSUPPORTED;

			if (len < 2 || line[len - 1] != ']') {
				g_autofree char *echo = pm_config_echo(line, (gssize)len);
				g_set_error(error,
					    PM_ERROR,
					    PM_ERROR_INVALID_CONFIGURATION,
					    "%s:%u: %s: a group header is [HEADER] alone on its "
					    "line; accepted: %s",
					    filename,
					    reader.lineno,
					    echo,
					    PM_CONFIG_ACCEPTED_HEADERS);
				return FALSE;
			}
			header = g_strndup(line + 1, len - 2);
			what = pm_config_check_header(header, &kind);
			if (what != NULL) {
				g_autofree char *echo = pm_config_echo(header, -1);
				g_set_error(error,
					    PM_ERROR,
					    PM_ERROR_INVALID_CONFIGURATION,
					    "%s:%u: [%s]: %s; accepted: %s",
					    filename,
					    reader.lineno,
					    echo,
					    what,
					    PM_CONFIG_ACCEPTED_HEADERS);
				return FALSE;
			}
			if (kind == PM_CONFIG_GROUP_UNSUPPORTED) {
				g_set_error(error,
					    PM_ERROR,
					    PM_ERROR_INVALID_CONFIGURATION,
					    "%s:%u: [%s]: this group is not supported by this "
					    "version of portmapd yet; accepted: %s",
					    filename,
					    reader.lineno,
					    header,
					    PM_CONFIG_IMPLEMENTED_HEADERS);
				return FALSE;
			}
			in_group = TRUE;
			continue;
		}
		if (!pm_line_get_key(line, len, &key_len)) {
			g_autofree char *echo = pm_config_echo(line, (gssize)len);
			g_set_error(error,
				    PM_ERROR,
				    PM_ERROR_INVALID_CONFIGURATION,
				    "%s:%u: %s: not a [GROUP] header, a KEY=VALUE line or a "
				    "# comment",
				    filename,
				    reader.lineno,
				    echo);
			return FALSE;
		}
		if (!in_group) {
			g_autofree char *echo = pm_config_echo(line, (gssize)len);
			g_set_error(error,
				    PM_ERROR,
				    PM_ERROR_INVALID_CONFIGURATION,
				    "%s:%u: %s: outside of any group: put it under a [GROUP] "
				    "header",
				    filename,
				    reader.lineno,
				    echo);
			return FALSE;
		}
		/* GKeyFile's KEY[locale]= lines mean nothing here */
		if (memchr(line, '[', key_len) != NULL) {
			g_autofree char *echo = pm_config_echo(line, (gssize)key_len);
			g_set_error(error,
				    PM_ERROR,
				    PM_ERROR_INVALID_CONFIGURATION,
				    "%s:%u: %s=: localized keys are not supported",
				    filename,
				    reader.lineno,
				    echo);
			return FALSE;
		}
	}
	return TRUE;
}

static PmConfigGroup *
pm_config_parser_ensure_group(PmConfigParser *self, const char *header, guint source)
{
	PmConfigGroup *group = g_hash_table_lookup(self->groups_by_header, header);
	PmConfigGroupKind kind = PM_CONFIG_GROUP_UNSUPPORTED;
	g_autofree char *what = NULL;
	const char *space;

	if (group != NULL)
		return group;
	what = pm_config_check_header(header, &kind);
	group = g_new0(PmConfigGroup, 1);
	group->header = g_strdup(header);
	space = strchr(group->header, ' ');
	group->name = space != NULL ? space + 1 : NULL;
	group->kind = kind;
	group->source = source;
	g_ptr_array_add(self->groups, group);
	g_hash_table_insert(self->groups_by_header, group->header, group);
	return group;
}

/* KEY=VALUE: the last assignment in a group wins, in the place of the first */
static void
pm_config_group_set(PmConfigGroup *group,
		    const char *key,
		    gsize key_len,
		    const char *value,
		    gsize value_len,
		    guint source)
{
	PmConfigEntry *entry = pm_config_group_lookup_len(group, key, key_len);

	if (entry == NULL) {
		entry = g_new0(PmConfigEntry, 1);
		entry->key = g_strndup(key, key_len);
		if (group->last_entry != NULL)
			group->last_entry->next = entry;
		else
			group->entries = entry;
		group->last_entry = entry;
	}
	g_free(entry->value);
	entry->value = g_strndup(value, value_len);
	entry->source = source;
}

static gboolean
pm_config_parser_add_data(PmConfigParser *self,
			  const char *filename,
			  const char *data,
			  gsize len,
			  GError **error)
{
	PmLineReader reader = {data, data + len, 0};
	PmConfigGroup *group = NULL;
	PmConfigSource *source;
	const char *end = NULL;
	const char *line;
	gsize line_len;
	guint source_idx;

	/* a NUL would cut lines short, and messages must be valid UTF-8 */
	if (len > 0 && !g_utf8_validate_len(data, len, &end)) {
		guint lineno = 1;
		for (const char *p = data; p < end; p++) {
			if (*p == '\n')
				lineno++;
		}
		g_set_error(error,
			    PM_ERROR,
			    PM_ERROR_INVALID_CONFIGURATION,
			    "%s:%u: invalid UTF-8 or a NUL byte: save the file as UTF-8 text",
			    filename,
			    lineno);
		return FALSE;
	}
	/* every line is valid before anything is kept */
	if (!pm_config_check_lines(filename, data, len, error))
		return FALSE;

	source = g_new0(PmConfigSource, 1);
	source->filename = g_strdup(filename);
	source->text = g_strndup(data, len);
	source->len = len;
	source_idx = self->sources->len;
	g_ptr_array_add(self->sources, source);

	/* merge key by key: this file wins over the ones before it; the same group twice in
	 * one file is one group, as in GKeyFile */
	while (pm_line_reader_next(&reader, &line, &line_len)) {
		gsize key_len = 0;
		const char *value;

		if (line_len == 0 || line[0] == '#')
			continue;
		if (line[0] == '[') {
			g_autofree char *header = g_strndup(line + 1, line_len - 2);
			group = pm_config_parser_ensure_group(self, header, source_idx);
			continue;
		}
		if (!pm_line_get_key(line, line_len, &key_len) || group == NULL)
			continue; /* pm_config_check_lines() refused these already */
		/* the line ends without whitespace; the value starts after the '=' and any
		 * whitespace */
		value = memchr(line, '=', line_len) + 1;
		while (value < line + line_len && g_ascii_isspace(*value))
			value++;
		pm_config_group_set(group, line, key_len, value,
				    (gsize)(line + line_len - value), source_idx);
	}
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

static const PmConfigSource *
pm_config_parser_get_source(PmConfigParser *self, guint idx)
{
	return g_ptr_array_index(self->sources, idx);
}

/* "FILE:LINE" of a group's header in the first file that has it */
static char *
pm_config_parser_group_location(PmConfigParser *self, const PmConfigGroup *group)
{
	const PmConfigSource *source = pm_config_parser_get_source(self, group->source);

	return g_strdup_printf("%s:%u",
			       source->filename,
			       pm_config_source_find_line(source, group->header, NULL));
}

/* "FILE:LINE" of the assignment that won */
static char *
pm_config_parser_entry_location(PmConfigParser *self,
				const PmConfigGroup *group,
				const PmConfigEntry *entry)
{
	const PmConfigSource *source = pm_config_parser_get_source(self, entry->source);

	return g_strdup_printf("%s:%u",
			       source->filename,
			       pm_config_source_find_line(source, group->header, entry->key));
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
	g_autofree char *location = pm_config_parser_entry_location(self, group, entry);
	g_autofree char *key = pm_config_echo(entry->key, -1);
	g_autofree char *value = pm_config_echo(entry->value, -1);

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
	g_autofree char *location = pm_config_parser_group_location(self, group);

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
		g_autofree char *accepted =
		    g_strdup_printf("%s, at least %" G_GUINT64_FORMAT "us",
				    PM_CONFIG_DURATION_SYNTAX,
				    min_usec);
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

static char *
pm_config_provider_names(const PmConfig *config)
{
	g_autoptr(GString) str = g_string_new(NULL);

	for (guint i = 0; i < config->providers->len; i++) {
		const PmProviderConfig *provider = g_ptr_array_index(config->providers, i);
		if (str->len > 0)
			g_string_append(str, ", ");
		g_string_append(str, provider->name);
	}
	if (str->len == 0)
		g_string_append(str, "none: no [Provider NAME] is defined");
	return g_string_free(g_steal_pointer(&str), FALSE);
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
	for (const PmConfigEntry *entry = group->entries; entry != NULL; entry = entry->next) {

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

static gboolean
pm_config_parser_load_natpmp(PmConfigParser *self,
			     PmProviderConfig *provider,
			     const PmConfigGroup *group,
			     GError **error)
{
	for (const PmConfigEntry *entry = group->entries; entry != NULL; entry = entry->next) {

		if (g_strcmp0(entry->key, "Type") == 0)
			continue;
		if (g_strcmp0(entry->key, "Gateway") == 0) {
			g_autoptr(GInetAddress) address = NULL;

			g_clear_pointer(&provider->gateway, g_free);
			if (g_strcmp0(entry->value, "auto") == 0)
				continue;
			address = g_inet_address_new_from_string(entry->value);
			if (address == NULL ||
			    g_inet_address_get_family(address) != G_SOCKET_FAMILY_IPV4) {
				pm_config_parser_set_entry_error(self,
								 group,
								 entry,
								 "not an IPv4 address",
								 "auto (the default route's "
								 "gateway), or a dotted IPv4 "
								 "address such as 10.2.0.1",
								 error);
				return FALSE;
			}
			provider->gateway = g_inet_address_to_string(address);
		} else if (g_strcmp0(entry->key, "SamePort") == 0) {
			if (!pm_config_parser_get_boolean(self,
							  group,
							  entry,
							  &provider->same_port,
							  error))
				return FALSE;
		} else if (g_strcmp0(entry->key, "Lifetime") == 0) {
			if (!pm_config_parser_get_lifetime(self,
							   group,
							   entry,
							   1,
							   &provider->lifetime,
							   error))
				return FALSE;
		} else if (g_strcmp0(entry->key, "RefreshInterval") == 0) {
			guint64 usec = 0;

			if (!pm_config_parser_get_duration(self, group, entry, 0, &usec, error))
				return FALSE;
			/* 0 keeps the default, renewing at half the granted lifetime */
			if (usec > 0 && usec < G_USEC_PER_SEC) {
				pm_config_parser_set_entry_error(self,
								 group,
								 entry,
								 "too short",
								 "0 (renew at half the granted "
								 "lifetime), or at least 1s",
								 error);
				return FALSE;
			}
			provider->refresh_interval_usec = usec;
		} else if (g_strcmp0(entry->key, "Port") == 0) {
			if (!pm_config_parser_get_port(self, group, entry, &provider->port, error))
				return FALSE;
		} else {
			pm_config_parser_set_unknown_key_error(self,
							       group,
							       entry,
							       "Type, Gateway, SamePort, Lifetime, "
							       "RefreshInterval, Port",
							       error);
			return FALSE;
		}
	}
	return TRUE;
}

static gboolean
pm_config_parser_load_provider(PmConfigParser *self,
			       PmConfig *config,
			       const PmConfigGroup *group,
			       GError **error)
{
	g_autoptr(PmProviderConfig) provider = g_new0(PmProviderConfig, 1);
	const PmConfigEntry *type = pm_config_group_lookup(group, "Type");

	if (type == NULL) {
		pm_config_parser_set_missing_error(self,
						   group,
						   "Type",
						   "set Type=natpmp",
						   error);
		return FALSE;
	}
	if (g_strcmp0(type->value, "natpmp-http") == 0 || g_strcmp0(type->value, "pia") == 0) {
		pm_config_parser_set_entry_error(self,
						 group,
						 type,
						 "not supported by this version of portmapd yet",
						 "natpmp",
						 error);
		return FALSE;
	}
	if (g_strcmp0(type->value, "natpmp") != 0) {
		pm_config_parser_set_entry_error(self,
						 group,
						 type,
						 "unknown provider type",
						 "natpmp, natpmp-http, pia",
						 error);
		return FALSE;
	}
	provider->name = g_strdup(group->name);
	provider->type = PM_PROVIDER_TYPE_NATPMP;
	provider->lifetime = PM_CONFIG_DEFAULT_LIFETIME;
	provider->port = PM_CONFIG_DEFAULT_NATPMP_PORT;
	if (!pm_config_parser_load_natpmp(self, provider, group, error))
		return FALSE;
	g_ptr_array_add(config->providers, g_steal_pointer(&provider));
	return TRUE;
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

	for (const PmConfigEntry *entry = group->entries; entry != NULL; entry = entry->next) {

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

			/* no [Consumer NAME] can be defined yet, so none can be named */
			if (consumers[0] != NULL) {
				g_autofree char *echo = pm_config_echo(consumers[0], -1);
				g_autofree char *what =
				    g_strdup_printf("Consumer %s is not defined", echo);
				pm_config_parser_set_entry_error(self,
								 group,
								 entry,
								 what,
								 "none: [Consumer NAME] is not "
								 "supported by this version of "
								 "portmapd yet",
								 error);
				return FALSE;
			}
			g_clear_pointer(&mapping->consumers, g_strfreev);
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

	if (provider->same_port) {
		/* the gateway forwards E to E: we ask for internal port 0 and use I := E */
		if (internal_entry != NULL) {
			g_autofree char *what =
			    g_strdup_printf("ignored: provider %s has SamePort=yes, so the "
					    "internal port is the external port the gateway "
					    "grants; remove InternalPort=",
					    provider->name);
			pm_config_parser_add_warning(self, config, group, internal_entry, what);
		}
		mapping->internal_port = 0;
	} else if (internal_entry == NULL) {
		g_autofree char *what = g_strdup_printf("set the port the application listens "
							"on (provider %s has SamePort=no)",
							provider->name);
		pm_config_parser_set_missing_error(self, group, "InternalPort", what, error);
		return FALSE;
	}
	g_ptr_array_add(config->mappings, g_steal_pointer(&mapping));
	return TRUE;
}

/* "tcp", "udp" or "tcp udp" */
static const char *
pm_protocols_to_list(guint protocols)
{
	if (protocols == (PM_PROTOCOL_TCP | PM_PROTOCOL_UDP))
		return "tcp udp";
	return pm_protocol_to_string(protocols);
}

/*
 * Protocols= of a mapping, for a message about its protocols; without the key, a stand-in
 * with the default that pm_config_source_find_line() places on the group's header
 */
static const PmConfigEntry *
pm_config_group_protocols_entry(const PmConfigGroup *group, PmConfigEntry *fallback)
{
	const PmConfigEntry *entry = pm_config_group_lookup(group, "Protocols");

	if (entry != NULL)
		return entry;
	fallback->key = (char *)"Protocols";
	fallback->value = (char *)"tcp udp (the default)";
	fallback->source = group->source;
	return fallback;
}

/*
 * A SamePort=yes provider is asked for internal port 0 by every mapping, and the gateway
 * keys a mapping by (protocol, internal port): a second mapping of one protocol would be
 * the first one's lease. @mapping (in @group) is the later of the two.
 */
static void
pm_config_parser_set_same_port_error(PmConfigParser *self,
				     const PmConfig *config,
				     GPtrArray *mapping_groups,
				     guint idx,
				     guint other_idx,
				     PmProtocols protocol,
				     GError **error)
{
	const PmMappingConfig *mapping = g_ptr_array_index(config->mappings, idx);
	const PmConfigGroup *group = g_ptr_array_index(mapping_groups, idx);
	const PmConfigGroup *other = g_ptr_array_index(mapping_groups, other_idx);
	PmConfigEntry fallback = {NULL};
	PmConfigEntry other_fallback = {NULL};
	const PmConfigEntry *entry = pm_config_group_protocols_entry(group, &fallback);
	const PmConfigEntry *other_entry =
	    pm_config_group_protocols_entry(other, &other_fallback);
	g_autofree char *other_location =
	    pm_config_parser_entry_location(self, other, other_entry);
	g_autofree char *what = NULL;
	g_autofree char *accepted = NULL;
	guint taken = 0;

	/* what the mappings before this one left free at that provider */
	for (guint i = 0; i < idx; i++) {
		const PmMappingConfig *before = g_ptr_array_index(config->mappings, i);
		if (before->internal_port == 0 &&
		    g_strcmp0(before->provider, mapping->provider) == 0)
			taken |= before->protocols;
	}
	what = g_strdup_printf("provider %s has SamePort=yes: every mapping asks the gateway "
			       "for internal port 0, so only one mapping per protocol can use "
			       "it; [%s] (%s) already uses %s",
			       mapping->provider,
			       other->header,
			       other_location,
			       pm_protocol_to_string(protocol));
	if ((taken & (PM_PROTOCOL_TCP | PM_PROTOCOL_UDP)) != (PM_PROTOCOL_TCP | PM_PROTOCOL_UDP)) {
		guint free_protocols = (PM_PROTOCOL_TCP | PM_PROTOCOL_UDP) & ~taken;
		accepted = g_strdup_printf("%s (not used by another mapping of provider %s), or "
					   "another provider for this mapping",
					   pm_protocols_to_list(free_protocols),
					   mapping->provider);
	} else {
		accepted = g_strdup_printf("none at provider %s, whose tcp and udp are taken: "
					   "give this mapping another provider, or remove one of "
					   "the two mappings",
					   mapping->provider);
	}
	pm_config_parser_set_entry_error(self, group, entry, what, accepted, error);
}

/*
 * same provider, same protocol and same internal port: one lease would serve both; at a
 * SamePort=yes provider every mapping has internal port 0, so that is one mapping per
 * protocol
 */
static gboolean
pm_config_parser_check_conflicts(PmConfigParser *self,
				 const PmConfig *config,
				 GPtrArray *mapping_groups,
				 GError **error)
{
	g_autoptr(GHashTable) seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);

	for (guint i = 0; i < config->mappings->len; i++) {
		const PmMappingConfig *mapping = g_ptr_array_index(config->mappings, i);
		const PmConfigGroup *group = g_ptr_array_index(mapping_groups, i);
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
			if (g_hash_table_lookup_extended(seen, key, NULL, &other_idx) &&
			    mapping->internal_port == 0) {
				pm_config_parser_set_same_port_error(self,
								     config,
								     mapping_groups,
								     i,
								     GPOINTER_TO_UINT(other_idx),
								     protocols[j],
								     error);
				return FALSE;
			}
			if (g_hash_table_lookup_extended(seen, key, NULL, &other_idx)) {
				guint idx = GPOINTER_TO_UINT(other_idx);
				const PmConfigGroup *other = g_ptr_array_index(mapping_groups, idx);
				const PmConfigEntry *entry =
				    pm_config_group_lookup(group, "InternalPort");
				const PmConfigEntry *other_entry =
				    pm_config_group_lookup(other, "InternalPort");
				g_autofree char *other_location =
				    pm_config_parser_entry_location(self, other, other_entry);
				g_autofree char *what = NULL;
				g_autofree char *accepted = NULL;

				what = g_strdup_printf("%s port %u of provider %s is already "
						       "mapped by [%s] (%s)",
						       pm_protocol_to_string(protocols[j]),
						       mapping->internal_port,
						       mapping->provider,
						       other->header,
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
	g_autoptr(GPtrArray) mapping_groups = g_ptr_array_new();
	const PmConfigGroup *daemon = g_hash_table_lookup(self->groups_by_header, "Daemon");

	for (guint i = 0; i < self->sources->len; i++) {
		const PmConfigSource *source = g_ptr_array_index(self->sources, i);
		g_ptr_array_add(config->files, g_strdup(source->filename));
	}

	/* [Daemon] and providers first: mappings refer to them */
	if (daemon != NULL && !pm_config_parser_load_daemon(self, config, daemon, error))
		return NULL;
	for (guint i = 0; i < self->groups->len; i++) {
		const PmConfigGroup *group = g_ptr_array_index(self->groups, i);
		if (group->kind != PM_CONFIG_GROUP_PROVIDER)
			continue;
		if (!pm_config_parser_load_provider(self, config, group, error))
			return NULL;
	}
	if (daemon != NULL) {
		const PmConfigEntry *entry = pm_config_group_lookup(daemon, "DefaultProvider");
		if (entry != NULL &&
		    !pm_config_parser_check_provider(self, config, daemon, entry, error))
			return NULL;
	}
	for (guint i = 0; i < self->groups->len; i++) {
		PmConfigGroup *group = g_ptr_array_index(self->groups, i);
		if (group->kind != PM_CONFIG_GROUP_MAPPING)
			continue;
		if (!pm_config_parser_load_mapping(self, config, group, error))
			return NULL;
		g_ptr_array_add(mapping_groups, group);
	}
	if (!pm_config_parser_check_conflicts(self, config, mapping_groups, error))
		return NULL;
	return g_steal_pointer(&config);
}

/* loading */

static gint
pm_config_compare_names(gconstpointer a, gconstpointer b)
{
	return g_strcmp0(*(const char *const *)a, *(const char *const *)b);
}

PmConfig *
pm_config_load(const char *path, GError **error)
{
	g_autoptr(PmConfigParser) parser = pm_config_parser_new();
	g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GError) error_local = NULL;
	g_autoptr(GDir) dir = NULL;
	g_autofree char *dropin_dir = NULL;
	const char *name;

	g_return_val_if_fail(path != NULL, NULL);
	g_return_val_if_fail(error == NULL || *error == NULL, NULL);

	if (!pm_config_parser_add_file(parser, path, TRUE, error))
		return NULL;

	dropin_dir = g_strconcat(path, ".d", NULL);
	dir = g_dir_open(dropin_dir, 0, &error_local);
	if (dir == NULL) {
		if (!g_error_matches(error_local, G_FILE_ERROR, G_FILE_ERROR_NOENT)) {
			g_set_error(error,
				    PM_ERROR,
				    PM_ERROR_INVALID_CONFIGURATION,
				    "%s",
				    error_local->message);
			return NULL;
		}
	} else {
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
			if (!pm_config_parser_add_file(parser, filename, FALSE, error))
				return NULL;
		}
	}
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
static char *
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
		g_string_append(str, "Type=natpmp\n");
		g_string_append_printf(str,
				       "Gateway=%s\n",
				       provider->gateway != NULL ? provider->gateway : "auto");
		g_string_append_printf(str, "SamePort=%s\n", provider->same_port ? "yes" : "no");
		g_string_append_printf(str, "Lifetime=%u\n", provider->lifetime);
		if (provider->refresh_interval_usec > 0) {
			g_autofree char *refresh =
			    pm_duration_to_string(provider->refresh_interval_usec);
			g_string_append_printf(str, "RefreshInterval=%s\n", refresh);
		}
		if (provider->port != PM_CONFIG_DEFAULT_NATPMP_PORT)
			g_string_append_printf(str, "Port=%u\n", provider->port);
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
