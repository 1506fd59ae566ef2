/* SPDX-License-Identifier: GPL-2.0-or-later */

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#include "consumer.h"
#include "portfile.h"

/*
 * Type=portfile (design §6, §7): the external ports of the mappings that list it, in a
 * file that sidecars read (gluetun's forwarded_port shape, or JSON as the PIA manager
 * wrote it). Every push rewrites the whole file from what is current, so a newer push
 * makes an older one moot and there is nothing to retry or cancel.
 */

typedef enum {
	PM_PORTFILE_FORMAT_PORTS,
	PM_PORTFILE_FORMAT_JSON,
} PmPortfileFormat;

static const char *const pm_portfile_format_names[] = {"ports", "json", NULL};

typedef struct {
	PmConsumerConfig parent;
	char *path; /* NULL: RUNTIME_DIR/NAME.port, known only to the object */
	PmPortfileFormat format;
} PmPortfileConfig;

/* what the file says about one mapping: a copy, since the view is valid during a call */
typedef struct {
	guint64 id;
	char *name;
	char *provider;
	char *external_address;
	guint protocols; /* PmProtocols of the ports with an external port */
	PmMappingPorts ports;
	guint64 expires_at; /* CLOCK_REALTIME µs, 0: none */
} PmPortfileEntry;

typedef struct {
	PmConsumer parent;
	char *path;
	gboolean default_path; /* under the runtime directory, which we may create */
	GPtrArray *entries;    /* of PmPortfileEntry, by mapping id (config order) */
} PmPortfile;

static void
pm_portfile_entry_free(PmPortfileEntry *entry)
{
	g_free(entry->name);
	g_free(entry->provider);
	g_free(entry->external_address);
	g_free(entry);
}

static guint
pm_portfile_find(PmPortfile *self, guint64 id, gboolean *found)
{
	guint i;
	for (i = 0; i < self->entries->len; i++) {
		PmPortfileEntry *entry = g_ptr_array_index(self->entries, i);
		if (entry->id >= id) {
			*found = entry->id == id;
			return i;
		}
	}
	*found = FALSE;
	return i;
}

/* the first external port of @entry, TCP's first as the mapping's ExternalPort */
static guint16
pm_portfile_entry_port(const PmPortfileEntry *entry, guint16 *internal_port)
{
	for (guint i = 0; i < entry->ports.n_ports; i++) {
		if (entry->ports.ports[i].external_port != 0) {
			*internal_port = entry->ports.ports[i].internal_port;
			return entry->ports.ports[i].external_port;
		}
	}
	*internal_port = 0;
	return 0;
}

static void
pm_portfile_append_time(PmJsonWriter *writer, const char *name, guint64 realtime_usec)
{
	g_autoptr(GDateTime) dt = NULL;
	g_autofree char *text = NULL;

	pm_json_member(writer, name);
	dt = g_date_time_new_from_unix_utc(realtime_usec / G_USEC_PER_SEC);
	text = dt != NULL ? g_date_time_format(dt, "%Y-%m-%dT%H:%M:%SZ") : NULL;
	if (realtime_usec == 0 || text == NULL) {
		pm_json_null(writer);
		return;
	}
	pm_json_string(writer, text);
}

static void
pm_portfile_append_entry_members(PmJsonWriter *writer, const PmPortfileEntry *entry,
				 guint64 now_usec)
{
	g_auto(GStrv) protocols = pm_protocols_to_strv(entry->protocols);
	guint16 internal_port;
	guint16 port = pm_portfile_entry_port(entry, &internal_port);

	pm_json_member_uint(writer, "port", port);
	pm_json_member_uint(writer, "internal_port", internal_port);
	pm_json_member_string(writer, "external_address", entry->external_address);
	pm_json_member(writer, "protocols");
	pm_json_begin_array(writer);
	for (guint i = 0; protocols[i] != NULL; i++)
		pm_json_string(writer, protocols[i]);
	pm_json_end_array(writer);
	pm_json_member_string(writer, "provider", entry->provider);
	pm_json_member_string(writer, "mapping", entry->name);
	pm_portfile_append_time(writer, "timestamp", now_usec);
	/* the view has no renewal time: the lease's end is when the port must be renewed */
	pm_portfile_append_time(writer, "next_refresh", entry->expires_at);
}

static char *
pm_portfile_render(PmPortfile *self)
{
	PmPortfileConfig *config = (PmPortfileConfig *)self->parent.config;

	if (self->entries->len == 0)
		return g_strdup("");

	if (config->format == PM_PORTFILE_FORMAT_PORTS) {
		/* gluetun's forwarded_port: each port once, one per line */
		GString *out = g_string_new(NULL);
		g_autoptr(GHashTable) seen = g_hash_table_new(NULL, NULL);
		for (guint i = 0; i < self->entries->len; i++) {
			PmPortfileEntry *entry = g_ptr_array_index(self->entries, i);
			for (guint j = 0; j < entry->ports.n_ports; j++) {
				guint16 port = entry->ports.ports[j].external_port;
				if (port == 0 || !g_hash_table_add(seen, GUINT_TO_POINTER(port)))
					continue;
				g_string_append_printf(out, "%u\n", port);
			}
		}
		return g_string_free(out, FALSE);
	} else {
		PmJsonWriter writer;
		/* the daemon's clock, as ExpiresAt (virtual in tests) */
		PmScheduler *scheduler = self->parent.scheduler;
		guint64 now_usec = pm_scheduler_to_realtime(scheduler, pm_scheduler_now(scheduler));

		pm_json_writer_init(&writer, 512, TRUE);
		pm_json_begin_object(&writer);
		pm_portfile_append_entry_members(&writer,
						 g_ptr_array_index(self->entries, 0),
						 now_usec);
		pm_json_member(&writer, "mappings");
		pm_json_begin_array(&writer);
		for (guint i = 0; i < self->entries->len; i++) {
			pm_json_begin_object(&writer);
			pm_portfile_append_entry_members(&writer,
							 g_ptr_array_index(self->entries, i),
							 now_usec);
			pm_json_end_object(&writer);
		}
		pm_json_end_array(&writer);
		pm_json_end_object(&writer);
		g_string_append_c(writer.out, '\n');
		return pm_json_writer_finish(&writer);
	}
}

/* the whole of @contents into @fd, on disk: 0 or an errno */
static int
pm_portfile_write_fd(int fd, const char *contents)
{
	gsize len = strlen(contents);
	gsize done = 0;

	/* sidecars of other users read it; there is no secret in it (mkstemp honours umask) */
	if (fchmod(fd, 0644) < 0)
		return errno;
	while (done < len) {
		ssize_t n = write(fd, contents + done, len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno;
		done += n;
	}
	return fsync(fd) < 0 ? errno : 0;
}

/* a temporary file next to @path, synced, then renamed over it: a reader sees the old
 * file or the new one, never a part; 0 or an errno */
static int
pm_portfile_write_atomic(const char *path, const char *contents)
{
	g_autofree char *dir = g_path_get_dirname(path);
	g_autofree char *base = g_path_get_basename(path);
	g_autofree char *tmp = g_strdup_printf("%s/.%s.XXXXXX", dir, base);
	int fd;
	int err;

	fd = g_mkstemp_full(tmp, O_RDWR | O_CLOEXEC, 0644);
	if (fd < 0)
		return errno;
	err = pm_portfile_write_fd(fd, contents);
	if (close(fd) < 0 && err == 0)
		err = errno;
	if (err == 0 && rename(tmp, path) < 0)
		err = errno;
	if (err != 0)
		g_unlink(tmp);
	return err;
}

/* rewrite the file from what is current and tell every mapping in it, and @mapping_id
 * (which a down left out), how that went */
static void
pm_portfile_flush(PmPortfile *self, guint64 mapping_id)
{
	PmConsumer *consumer = &self->parent;
	g_autofree char *contents = pm_portfile_render(self);
	g_autofree char *message = NULL;
	PmConsumerState state = PM_CONSUMER_STATE_OK;
	int err = 0;

	/* the runtime directory is ours (RuntimeDirectory=); any other one is the admin's */
	if (self->default_path) {
		g_autofree char *dir = g_path_get_dirname(self->path);
		if (g_mkdir_with_parents(dir, 0755) < 0)
			err = errno;
	}
	if (err == 0)
		err = pm_portfile_write_atomic(self->path, contents);
	if (err != 0) {
		const char *runtime_dir = pm_context_get_runtime_dir(consumer->context);
		gboolean outside = !g_str_has_prefix(self->path, runtime_dir) ||
				   self->path[strlen(runtime_dir)] != '/';
		state = PM_CONSUMER_STATE_FAILED;
		if (outside && (err == EACCES || err == EPERM || err == EROFS))
			message = g_strdup_printf("cannot write %s: %s: port files outside %s need "
						  "ReadWritePaths= in a drop-in for portmapd.service",
						  self->path,
						  g_strerror(err),
						  runtime_dir);
		else
			message = g_strdup_printf("cannot write %s: %s", self->path, g_strerror(err));
	}

	for (guint i = 0; i < self->entries->len; i++) {
		PmPortfileEntry *entry = g_ptr_array_index(self->entries, i);
		if (entry->id != mapping_id)
			pm_consumer_report(consumer, entry->id, state, message);
	}
	pm_consumer_report(consumer, mapping_id, state, message);
}

static void
pm_portfile_set(PmPortfile *self, const PmMappingView *mapping, const PmMappingPorts *ports)
{
	PmPortfileEntry *entry;
	PmMappingPorts granted = {0};
	gboolean found;
	guint index = pm_portfile_find(self, mapping->id, &found);

	/* only granted ports: never 0 */
	for (guint i = 0; i < ports->n_ports; i++) {
		if (ports->ports[i].external_port != 0)
			granted.ports[granted.n_ports++] = ports->ports[i];
	}
	if (granted.n_ports == 0) {
		if (found)
			g_ptr_array_remove_index(self->entries, index);
		return;
	}
	if (found) {
		entry = g_ptr_array_index(self->entries, index);
	} else {
		entry = g_new0(PmPortfileEntry, 1);
		entry->id = mapping->id;
		g_ptr_array_insert(self->entries, index, entry);
	}
	g_free(entry->name);
	entry->name = g_strdup(mapping->name);
	g_free(entry->provider);
	entry->provider = g_strdup(mapping->provider);
	g_free(entry->external_address);
	entry->external_address = g_strdup(mapping->external_address);
	entry->ports = granted;
	entry->protocols = 0;
	for (guint i = 0; i < granted.n_ports; i++)
		entry->protocols |= granted.ports[i].protocol;
	entry->expires_at = mapping->expires_at;
}

static void
pm_portfile_mapping_up(PmConsumer *consumer,
		       const PmMappingView *mapping,
		       const PmMappingPorts *ports,
		       PmConsumerPush push)
{
	PmPortfile *self = (PmPortfile *)consumer;
	pm_portfile_set(self, mapping, ports);
	pm_portfile_flush(self, mapping->id);
}

static void
pm_portfile_mapping_changed(PmConsumer *consumer,
			    const PmMappingView *mapping,
			    const PmMappingPorts *ports,
			    const PmMappingPorts *previous)
{
	PmPortfile *self = (PmPortfile *)consumer;
	pm_portfile_set(self, mapping, ports);
	pm_portfile_flush(self, mapping->id);
}

static void
pm_portfile_mapping_down(PmConsumer *consumer,
			 const PmMappingView *mapping,
			 const PmMappingPorts *ports)
{
	PmPortfile *self = (PmPortfile *)consumer;
	gboolean found;
	guint index = pm_portfile_find(self, mapping->id, &found);

	if (found)
		g_ptr_array_remove_index(self->entries, index);
	/* an empty file when no port is left: readers see "no port" */
	pm_portfile_flush(self, mapping->id);
}

static gboolean
pm_portfile_init(PmConsumer *consumer, GError **error)
{
	PmPortfile *self = (PmPortfile *)consumer;
	PmPortfileConfig *config = (PmPortfileConfig *)consumer->config;

	if (config->path != NULL) {
		self->path = g_strdup(config->path);
	} else {
		g_autofree char *base = g_strdup_printf("%s.port", consumer->name);
		self->path = g_build_filename(pm_context_get_runtime_dir(consumer->context),
					      base,
					      NULL);
		self->default_path = TRUE;
	}
	self->entries = g_ptr_array_new_with_free_func((GDestroyNotify)pm_portfile_entry_free);
	return TRUE;
}

static void
pm_portfile_finalize(PmConsumer *consumer)
{
	PmPortfile *self = (PmPortfile *)consumer;
	g_ptr_array_unref(self->entries);
	g_free(self->path);
}

static void
pm_portfile_describe(PmConsumer *consumer, PmJsonWriter *writer)
{
	PmPortfile *self = (PmPortfile *)consumer;
	PmPortfileConfig *config = (PmPortfileConfig *)consumer->config;
	pm_json_member_string(writer, "Path", self->path);
	pm_json_member_string(writer, "Format", pm_portfile_format_names[config->format]);
}

/* configuration */

static gboolean
pm_portfile_parse_format(PmConfigSection *section,
			 const PmConfigEntry *entry,
			 gpointer field,
			 GError **error)
{
	PmPortfileFormat *format = field;
	for (guint i = 0; pm_portfile_format_names[i] != NULL; i++) {
		if (g_strcmp0(entry->value, pm_portfile_format_names[i]) == 0) {
			*format = i;
			return TRUE;
		}
	}
	pm_config_section_set_error(section, entry, "unknown format", "ports, json", error);
	return FALSE;
}

static const PmConfigKey pm_portfile_keys[] = {
    {"Path", pm_config_parse_string, G_STRUCT_OFFSET(PmPortfileConfig, path)},
    {"Format", pm_portfile_parse_format, G_STRUCT_OFFSET(PmPortfileConfig, format)},
    {NULL},
};

static gboolean
pm_portfile_config_verify(PmConsumerConfig *consumer, PmConfigSection *section, GError **error)
{
	PmPortfileConfig *config = (PmPortfileConfig *)consumer;

	if (config->path == NULL)
		return TRUE;
	if (!g_path_is_absolute(config->path) || g_str_has_suffix(config->path, "/")) {
		pm_config_section_set_error(section,
					    pm_config_section_lookup(section, "Path"),
					    "not an absolute path to a file",
					    "a path starting with /, not ending with /",
					    error);
		return FALSE;
	}
	return TRUE;
}

static gboolean
pm_portfile_config_equal(const PmConsumerConfig *a, const PmConsumerConfig *b)
{
	const PmPortfileConfig *pa = (const PmPortfileConfig *)a;
	const PmPortfileConfig *pb = (const PmPortfileConfig *)b;
	return g_strcmp0(pa->path, pb->path) == 0 && pa->format == pb->format;
}

static void
pm_portfile_config_print(const PmConsumerConfig *consumer, GString *out)
{
	const PmPortfileConfig *config = (const PmPortfileConfig *)consumer;
	/* unset stays unset: the default depends on --runtime-dir */
	if (config->path != NULL)
		pm_config_print_string(out, "Path", config->path);
	g_string_append_printf(out, "Format=%s\n", pm_portfile_format_names[config->format]);
}

static void
pm_portfile_config_free(PmConsumerConfig *consumer)
{
	PmPortfileConfig *config = (PmPortfileConfig *)consumer;
	g_free(config->path);
}

const PmConsumerClass pm_portfile_consumer_class = {
    .type = "portfile",
    .config_size = sizeof(PmPortfileConfig),
    .object_size = sizeof(PmPortfile),
    .config_keys = pm_portfile_keys,
    .config_verify = pm_portfile_config_verify,
    .config_equal = pm_portfile_config_equal,
    .config_print = pm_portfile_config_print,
    .config_free = pm_portfile_config_free,
    .init = pm_portfile_init,
    .finalize = pm_portfile_finalize,
    .mapping_up = pm_portfile_mapping_up,
    .mapping_changed = pm_portfile_mapping_changed,
    .mapping_down = pm_portfile_mapping_down,
    .describe = pm_portfile_describe,
};
