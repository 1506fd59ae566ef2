/* SPDX-License-Identifier: GPL-2.0-or-later */

#include <arpa/inet.h>
#include <errno.h>
#include <malloc.h>
#include <gio/gio.h>
#include <json-glib/json-glib.h>

#include "build-info.h"
#include "consumer.h"
#include "errors.h"
#include "json-writer.h"
#include "manager.h"

#define STATE_WRITE_DELAY_USEC (100 * G_TIME_SPAN_MILLISECOND)

typedef struct {
	PmProviderDoneFunc func;
	gpointer user_data;
} Waiter;

/* one pm_provider_stop() in flight: its mapping and its provider stay allocated until the
 * provider calls back, since the provider still uses both (a deletion's reply is logged
 * with the mapping's name) */
typedef struct {
	PmManager *manager;
	PmMapping *mapping;
	PmProvider *provider;
	PmProviderDoneFunc done;
	gpointer user_data;
} StopData;

typedef struct {
	guint id;
	const PmManagerListener *listener;
	gpointer user_data;
} ListenerEntry;

typedef struct {
	const PmManagerExtension *extension;
	gpointer user_data;
} ExtensionEntry;

struct _PmManager {
	PmContext *context;
	PmScheduler *scheduler;
	char *state_dir;
	PmConfig *config;
	GArray *listeners; /* of ListenerEntry, in the order they were added */
	guint next_listener_id;
	GArray *extensions; /* of ExtensionEntry; an extension's id is its index + 1 */
	GPtrArray *consumers; /* of PmConsumer, in configuration order */
	PmTimer reconcile_timer; /* [Daemon] ReconcileInterval=: consumers told again */

	GPtrArray *providers;          /* of PmProvider, in configuration order */
	GPtrArray *mappings;           /* PmMapping, in id order */
	GHashTable *mappings_by_name;  /* name → PmMapping */
	guint64 next_id;
	char *last_state;
	/* mappings per state, so State costs O(1) with 10 000 mappings */
	guint state_counts[PM_MAPPING_STATE_FAILED + 1];

	/* provider stops in flight (StopData), and how many each PmProvider and PmMapping
	 * has (pointer → count); mappings gone from the registry whose stops are still in
	 * flight; providers dropped by a reload whose stops are still in flight, freed (and
	 * their sockets closed) from retire_timer once they have none */
	GHashTable *stopping;
	GHashTable *pending_stops;
	GHashTable *dying;
	GPtrArray *retired_providers;
	PmTimer retire_timer;

	/* state.json */
	JsonNode *restored; /* the document read at start */
	gboolean state_dirty;
	PmTimer state_timer;
	guint64 state_write_usec; /* how long the last write took */

	/* RefreshAll coalescing */
	gboolean refresh_running;
	guint refresh_pending;
	guint64 refresh_last_start;
	gboolean refresh_started_once;
	GArray *refresh_waiters; /* of Waiter: the running run's callers */
	GArray *refresh_next;    /* of Waiter: the trailing run's callers */
	PmTimer refresh_timer;
	gboolean freeing;

	/* pm_manager_stop(): the releases in flight, and the bound on waiting for them */
	guint stop_pending;
	PmProviderDoneFunc stop_done;
	gpointer stop_done_data;
	PmTimer stop_timer;
	gboolean stopped; /* pm_manager_stop(): consumers were told the mappings are gone */
};

static void
state_timer_cb(PmTimer *timer, gpointer user_data)
{
	PmManager *self = user_data;
	g_autoptr(GError) error = NULL;
	if (!pm_manager_flush_state(self, &error))
		g_warning("failed to write the state file: %s", error->message);
}

static void refresh_timer_cb(PmTimer *timer, gpointer user_data);
static void retire_timer_cb(PmTimer *timer, gpointer user_data);
static void stop_timer_cb(PmTimer *timer, gpointer user_data);
static void reconcile_timer_cb(PmTimer *timer, gpointer user_data);

PmManager *
pm_manager_new(PmContext *context, const char *state_dir)
{
	PmManager *self = g_new0(PmManager, 1);
	self->context = context;
	self->scheduler = pm_context_get_scheduler(context);
	self->state_dir = g_strdup(state_dir);
	self->providers = g_ptr_array_new_with_free_func((GDestroyNotify)pm_provider_free);
	self->mappings = g_ptr_array_new();
	self->mappings_by_name = g_hash_table_new(g_str_hash, g_str_equal);
	self->stopping = g_hash_table_new(NULL, NULL);
	self->pending_stops = g_hash_table_new(NULL, NULL);
	self->dying = g_hash_table_new(NULL, NULL);
	self->retired_providers = g_ptr_array_new_with_free_func((GDestroyNotify)pm_provider_free);
	self->listeners = g_array_new(FALSE, FALSE, sizeof(ListenerEntry));
	self->next_listener_id = 1;
	self->extensions = g_array_new(FALSE, FALSE, sizeof(ExtensionEntry));
	self->consumers = g_ptr_array_new_with_free_func((GDestroyNotify)pm_consumer_unref);
	pm_timer_init(&self->reconcile_timer, reconcile_timer_cb, self);
	self->next_id = 1;
	self->refresh_waiters = g_array_new(FALSE, FALSE, sizeof(Waiter));
	self->refresh_next = g_array_new(FALSE, FALSE, sizeof(Waiter));
	pm_timer_init(&self->state_timer, state_timer_cb, self);
	pm_timer_init(&self->refresh_timer, refresh_timer_cb, self);
	pm_timer_init(&self->retire_timer, retire_timer_cb, self);
	pm_timer_init(&self->stop_timer, stop_timer_cb, self);
	return self;
}

static void
waiters_notify(GArray *waiters)
{
	g_autoptr(GArray) copy = g_array_copy(waiters);
	g_array_set_size(waiters, 0);
	for (guint i = 0; i < copy->len; i++) {
		Waiter *w = &g_array_index(copy, Waiter, i);
		w->func(w->user_data);
	}
}

void
pm_manager_free(PmManager *self)
{
	GHashTableIter iter;
	gpointer key;

	if (self == NULL)
		return;
	self->freeing = TRUE;
	pm_scheduler_disarm(self->scheduler, &self->state_timer);
	pm_scheduler_disarm(self->scheduler, &self->refresh_timer);
	pm_scheduler_disarm(self->scheduler, &self->retire_timer);
	pm_scheduler_disarm(self->scheduler, &self->stop_timer);
	pm_scheduler_disarm(self->scheduler, &self->reconcile_timer);
	/* providers first, while the mappings they refer to still exist: they drop their
	 * per-mapping data, timers and calls (stops in flight included) without calling
	 * anyone back */
	g_ptr_array_unref(self->providers);
	g_ptr_array_unref(self->retired_providers);
	for (guint i = 0; i < self->mappings->len; i++)
		pm_mapping_free(g_ptr_array_index(self->mappings, i));
	g_hash_table_iter_init(&iter, self->dying);
	while (g_hash_table_iter_next(&iter, &key, NULL))
		pm_mapping_free(key);
	g_hash_table_iter_init(&iter, self->stopping);
	while (g_hash_table_iter_next(&iter, &key, NULL))
		g_free(key);
	g_hash_table_unref(self->dying);
	g_hash_table_unref(self->pending_stops);
	g_hash_table_unref(self->stopping);
	g_ptr_array_unref(self->mappings);
	g_hash_table_unref(self->mappings_by_name);
	/* after the mappings, whose bindings hold references to them */
	g_ptr_array_unref(self->consumers);
	g_array_unref(self->listeners);
	g_array_unref(self->extensions);
	/* callers of a run that will not happen are answered (each holds a reference) */
	waiters_notify(self->refresh_waiters);
	waiters_notify(self->refresh_next);
	g_array_unref(self->refresh_waiters);
	g_array_unref(self->refresh_next);
	if (self->restored != NULL)
		json_node_unref(self->restored);
	pm_config_free(self->config);
	g_free(self->last_state);
	g_free(self->state_dir);
	g_free(self);
}

/* ---- listeners and extensions ---- */

guint
pm_manager_add_listener(PmManager *self, const PmManagerListener *listener, gpointer user_data)
{
	ListenerEntry entry = {self->next_listener_id++, listener, user_data};
	g_array_append_val(self->listeners, entry);
	return entry.id;
}

void
pm_manager_remove_listener(PmManager *self, guint id)
{
	for (guint i = 0; i < self->listeners->len; i++) {
		if (g_array_index(self->listeners, ListenerEntry, i).id == id) {
			g_array_remove_index(self->listeners, i);
			return;
		}
	}
	g_warn_if_reached();
}

/* @member(args..., user data) of each listener that has it, in the order they were added */
#define listeners_emit(self, member, ...)                                                      \
	G_STMT_START                                                                           \
	{                                                                                      \
		for (guint li_ = 0; li_ < (self)->listeners->len; li_++) {                     \
			const ListenerEntry *le_ =                                             \
			    &g_array_index((self)->listeners, ListenerEntry, li_);             \
			if (le_->listener->member != NULL)                                     \
				le_->listener->member(__VA_ARGS__, le_->user_data);            \
		}                                                                              \
	}                                                                                      \
	G_STMT_END

guint
pm_manager_add_extension(PmManager *self, const PmManagerExtension *extension,
			 gpointer user_data)
{
	ExtensionEntry entry = {extension, user_data};
	g_array_append_val(self->extensions, entry);
	return self->extensions->len;
}

static gboolean
same_property_names(const PmManagerProperty *a, const PmManagerProperty *b)
{
	guint i = 0;

	for (; a != NULL && b != NULL && a[i].name != NULL && b[i].name != NULL; i++) {
		if (g_strcmp0(a[i].name, b[i].name) != 0 ||
		    g_strcmp0(a[i].signature, b[i].signature) != 0)
			return FALSE;
	}
	return (a == NULL || a[i].name == NULL) && (b == NULL || b[i].name == NULL);
}

void
pm_manager_replace_extension(PmManager *self, guint id, const PmManagerExtension *extension,
			     gpointer user_data)
{
	ExtensionEntry *entry;

	g_return_if_fail(id > 0 && id <= self->extensions->len);
	entry = &g_array_index(self->extensions, ExtensionEntry, id - 1);
	g_return_if_fail(same_property_names(entry->extension->properties, extension->properties));
	entry->extension = extension;
	entry->user_data = user_data;
}

guint
pm_manager_get_n_extensions(PmManager *self)
{
	return self->extensions->len;
}

const PmManagerExtension *
pm_manager_get_extension(PmManager *self, guint index, gpointer *user_data)
{
	const ExtensionEntry *entry = &g_array_index(self->extensions, ExtensionEntry, index);
	if (user_data != NULL)
		*user_data = entry->user_data;
	return entry->extension;
}

void
pm_manager_extension_changed(PmManager *self, guint id, const char *const *names)
{
	const ExtensionEntry *entry;

	g_return_if_fail(id > 0 && id <= self->extensions->len);
	entry = &g_array_index(self->extensions, ExtensionEntry, id - 1);
	listeners_emit(self, extension_changed, entry->extension, names);
}

void
pm_manager_endpoint_changed(PmManager *self, const char *endpoint, const char *nat_type)
{
	listeners_emit(self, endpoint_changed, endpoint, nat_type);
}

const PmManagerExtension *
pm_manager_get_endpoint_discoverer(PmManager *self, gpointer *user_data)
{
	for (guint i = 0; i < self->extensions->len; i++) {
		const ExtensionEntry *entry = &g_array_index(self->extensions, ExtensionEntry, i);
		if (entry->extension->discover_endpoint == NULL)
			continue;
		if (user_data != NULL)
			*user_data = entry->user_data;
		return entry->extension;
	}
	return NULL;
}

const PmManagerProperty *
pm_manager_lookup_property(PmManager *self, const char *name, gpointer *user_data)
{
	for (guint i = 0; i < self->extensions->len; i++) {
		const ExtensionEntry *entry = &g_array_index(self->extensions, ExtensionEntry, i);
		const PmManagerProperty *properties = entry->extension->properties;
		for (guint j = 0; properties != NULL && properties[j].name != NULL; j++) {
			if (g_strcmp0(properties[j].name, name) != 0)
				continue;
			if (user_data != NULL)
				*user_data = entry->user_data;
			return &properties[j];
		}
	}
	return NULL;
}

/* ---- lookups ---- */

/* mappings are appended with increasing ids and removed in place: the array stays
 * sorted, and costs 8 bytes a mapping where a tree node cost 40 */
static gboolean
find_index(PmManager *self, guint64 id, guint *index)
{
	guint lo = 0, hi = self->mappings->len;
	while (lo < hi) {
		guint mid = lo + (hi - lo) / 2;
		PmMapping *m = g_ptr_array_index(self->mappings, mid);
		if (m->id == id) {
			*index = mid;
			return TRUE;
		}
		if (m->id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return FALSE;
}

PmMapping *
pm_manager_lookup_id(PmManager *self, guint64 id)
{
	guint index;
	if (!find_index(self, id, &index))
		return NULL;
	return g_ptr_array_index(self->mappings, index);
}

PmMapping *
pm_manager_lookup_name(PmManager *self, const char *name)
{
	return g_hash_table_lookup(self->mappings_by_name, name);
}

GPtrArray *
pm_manager_get_mappings(PmManager *self)
{
	return g_ptr_array_copy(self->mappings, NULL, NULL);
}

guint
pm_manager_get_n_mappings(PmManager *self)
{
	return self->mappings->len;
}

GPtrArray *
pm_manager_get_providers(PmManager *self)
{
	return self->providers;
}

const PmConfig *
pm_manager_get_config(PmManager *self)
{
	return self->config;
}

static PmProvider *find_provider_in(GPtrArray *providers, const char *name);

static PmProvider *
find_provider(PmManager *self, const char *name)
{
	return find_provider_in(self->providers, name);
}

const char *
pm_manager_get_default_provider(PmManager *self)
{
	if (self->config == NULL)
		return NULL;
	return pm_config_get_default_provider(self->config);
}

char *
pm_manager_get_external_address(PmManager *self)
{
	PmProvider *provider = find_provider(self, pm_manager_get_default_provider(self));
	if (provider == NULL)
		return g_strdup("");
	return pm_ipv4_to_string(provider->external_address);
}

static PmProvider *
find_provider_in(GPtrArray *providers, const char *name)
{
	for (guint i = 0; i < providers->len; i++) {
		PmProvider *provider = g_ptr_array_index(providers, i);
		if (g_strcmp0(provider->name, name) == 0)
			return provider;
	}
	return NULL;
}

static const char *
compute_state(PmManager *self)
{
	guint n = self->mappings->len;
	guint failed = self->state_counts[PM_MAPPING_STATE_FAILED];
	guint bad = self->state_counts[PM_MAPPING_STATE_DEGRADED];

	for (guint i = 0; i < self->providers->len; i++) {
		PmProvider *provider = g_ptr_array_index(self->providers, i);
		if (provider->state != PM_PROVIDER_STATE_READY)
			bad++;
	}
	if (n == 0)
		return bad > 0 ? "degraded" : "idle";
	if (failed == n)
		return "failed";
	return failed + bad > 0 ? "degraded" : "ok";
}

const char *
pm_manager_get_state(PmManager *self)
{
	return compute_state(self);
}

static void
manager_changed(PmManager *self, guint props)
{
	const char *state = compute_state(self);
	if (g_strcmp0(state, self->last_state) != 0) {
		g_free(self->last_state);
		self->last_state = g_strdup(state);
		props |= PM_MANAGER_PROP_STATE;
	}
	if (props != 0)
		listeners_emit(self, manager_changed, props);
}

/* ---- persistence ---- */

static gboolean
mapping_is_persisted(const PmMapping *m)
{
	return m->origin == PM_ORIGIN_CONFIG ||
	       (m->origin == PM_ORIGIN_BUS && m->scope == PM_SCOPE_PERSISTENT);
}

static void
state_changed(PmManager *self)
{
	guint64 delay = STATE_WRITE_DELAY_USEC;
	self->state_dirty = TRUE;
	/* coalesced: at most one write per 100 ms, and with a large state no more than a fifth
	 * of the time spent writing, so a burst of 10 000 grants is not quadratic */
	if (self->state_write_usec * 4 > delay)
		delay = self->state_write_usec * 4;
	if (!pm_timer_is_armed(&self->state_timer))
		pm_scheduler_arm(self->scheduler, &self->state_timer,
				 pm_scheduler_now(self->scheduler) + delay);
}

static char *
state_path(PmManager *self)
{
	return g_build_filename(self->state_dir, "state.json", NULL);
}

static void
add_empty_object(PmJsonWriter *w, const char *name)
{
	pm_json_member(w, name);
	pm_json_begin_object(w);
	pm_json_end_object(w);
}

static char *
state_to_json(PmManager *self)
{
	g_autoptr(GPtrArray) mappings = pm_manager_get_mappings(self);
	PmJsonWriter w;

	pm_json_writer_init(&w, 64 * 1024, TRUE);
	pm_json_begin_object(&w);
	pm_json_member_int(&w, "Version", PM_STATE_FILE_VERSION);
	pm_json_member(&w, "Mappings");
	pm_json_begin_object(&w);
	for (guint i = 0; i < mappings->len; i++) {
		PmMapping *m = g_ptr_array_index(mappings, i);
		if (!mapping_is_persisted(m))
			continue;
		pm_json_member(&w, m->name);
		pm_json_begin_object(&w);
		pm_json_member_string(&w, "Origin", pm_origin_to_string(m->origin));
		pm_json_member_string(&w, "Scope", pm_scope_to_string(m->scope));
		pm_json_member_string(&w, "Provider", m->provider_name);
		pm_json_member(&w, "Protocols");
		pm_json_begin_array(&w);
		if (m->protocols & PM_PROTOCOL_TCP)
			pm_json_string(&w, "tcp");
		if (m->protocols & PM_PROTOCOL_UDP)
			pm_json_string(&w, "udp");
		pm_json_end_array(&w);
		pm_json_member_int(&w, "InternalPort", m->internal_port);
		pm_json_member_int(&w, "ExternalPort", m->suggested_external_port);
		pm_json_member_int(&w, "Lifetime", m->lifetime);
		pm_json_member_bool(&w, "RequireExternalPort", m->require_external_port);
		pm_json_member_string(&w, "Description", m->description);
		pm_json_member_int(&w, "OwnerUID", m->owner_uid);
		pm_json_end_object(&w);
	}
	pm_json_end_object(&w);
	/* sections of later features, present from the start so the format never changes
	 * shape under a reader */
	add_empty_object(&w, "Gateways");
	add_empty_object(&w, "PIA");
	/* the subsystems' sections (the LAN gateway's: LANServer, RouterRules) */
	for (guint i = 0; i < self->extensions->len; i++) {
		const ExtensionEntry *entry = &g_array_index(self->extensions, ExtensionEntry, i);
		if (entry->extension->state_save != NULL)
			entry->extension->state_save(&w, entry->user_data);
	}
	/* each provider's own section, opaque here: its class writes and reads it */
	pm_json_member(&w, "Providers");
	pm_json_begin_object(&w);
	for (guint i = 0; i < self->providers->len; i++) {
		PmProvider *provider = g_ptr_array_index(self->providers, i);
		pm_json_member(&w, provider->name);
		pm_provider_state_save(provider, &w);
	}
	pm_json_end_object(&w);
	pm_json_end_object(&w);
	return pm_json_writer_finish(&w);
}

#define RELEASE_FREE_MIN_BYTES (256 * 1024)

/* parsing a large configuration or a burst of grants leaves the heap full of freed holes
 * that malloc keeps: give them back once the result is in place */
static void
release_free_memory(void)
{
	struct mallinfo2 info = mallinfo2();

	/* trimming costs page table work on every CPU (TLB shootdowns): a few milliseconds
	 * that a LAN client's answer would wait for. Only when there is much to give back */
	if (info.fordblks >= RELEASE_FREE_MIN_BYTES)
		malloc_trim(0);
}

void
pm_manager_state_changed(PmManager *self)
{
	state_changed(self);
}

gboolean
pm_manager_flush_state(PmManager *self, GError **error)
{
	g_autofree char *path = NULL;
	g_autofree char *data = NULL;
	guint64 started;

	pm_scheduler_disarm(self->scheduler, &self->state_timer);
	if (!self->state_dirty || self->state_dir == NULL)
		return TRUE;
	started = pm_scheduler_now(self->scheduler);
	path = state_path(self);
	data = state_to_json(self);
	if (g_mkdir_with_parents(self->state_dir, 0700) < 0) {
		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno), "cannot create %s: %s",
			    self->state_dir, g_strerror(errno));
		return FALSE;
	}
	/* temp file + fsync + rename, 0600: a crash leaves the old or the new file */
	if (!g_file_set_contents_full(path, data, -1,
				      G_FILE_SET_CONTENTS_CONSISTENT |
					  G_FILE_SET_CONTENTS_DURABLE,
				      0600, error))
		return FALSE;
	self->state_dirty = FALSE;
	self->state_write_usec = pm_scheduler_now(self->scheduler) - started;
	/* writes follow bursts of grants (start, gateway reset): the holes those left go back */
	release_free_memory();
	return TRUE;
}

static void
state_load(PmManager *self)
{
	g_autofree char *path = NULL;
	g_autoptr(JsonParser) parser = json_parser_new();
	g_autoptr(GError) error = NULL;
	JsonNode *root;
	JsonObject *obj;

	if (self->state_dir == NULL)
		return;
	path = state_path(self);
	if (!g_file_test(path, G_FILE_TEST_EXISTS))
		return;
	if (!json_parser_load_from_file(parser, path, &error)) {
		g_warning("ignoring the unreadable state file %s: %s", path, error->message);
		return;
	}
	root = json_parser_get_root(parser);
	if (root == NULL || !JSON_NODE_HOLDS_OBJECT(root)) {
		g_warning("ignoring the state file %s: not a JSON object", path);
		return;
	}
	obj = json_node_get_object(root);
	if (json_object_get_int_member_with_default(obj, "Version", 0) != PM_STATE_FILE_VERSION) {
		g_warning("ignoring the state file %s: unknown version", path);
		return;
	}
	self->restored = json_node_copy(root);
	for (guint i = 0; i < self->extensions->len; i++) {
		const ExtensionEntry *entry = &g_array_index(self->extensions, ExtensionEntry, i);
		if (entry->extension->state_load != NULL)
			entry->extension->state_load(json_node_get_object(self->restored),
						     entry->user_data);
	}
}

static JsonObject *
restored_mapping(PmManager *self, const char *name)
{
	JsonObject *mappings;
	JsonNode *node;
	if (self->restored == NULL)
		return NULL;
	mappings = json_object_get_object_member(json_node_get_object(self->restored), "Mappings");
	if (mappings == NULL)
		return NULL;
	node = json_object_get_member(mappings, name);
	if (node == NULL || !JSON_NODE_HOLDS_OBJECT(node))
		return NULL;
	return json_node_get_object(node);
}

static guint
json_protocols(JsonObject *obj)
{
	JsonArray *array = json_object_get_array_member(obj, "Protocols");
	guint protocols = 0;
	if (array == NULL)
		return 0;
	for (guint i = 0; i < json_array_get_length(array); i++) {
		const char *p = json_array_get_string_element(array, i);
		if (g_strcmp0(p, "tcp") == 0)
			protocols |= PM_PROTOCOL_TCP;
		else if (g_strcmp0(p, "udp") == 0)
			protocols |= PM_PROTOCOL_UDP;
	}
	return protocols;
}

static guint16
json_port(JsonObject *obj, const char *member)
{
	gint64 v = json_object_get_int_member_with_default(obj, member, 0);
	return v > 0 && v <= G_MAXUINT16 ? (guint16)v : 0;
}

/* ---- consumers ---- */

static PmConsumer *
find_consumer(PmManager *self, const char *name)
{
	for (guint i = 0; i < self->consumers->len; i++) {
		PmConsumer *consumer = g_ptr_array_index(self->consumers, i);
		if (g_strcmp0(consumer->name, name) == 0)
			return consumer;
	}
	return NULL;
}

/* the mapping of that id, and its binding to @consumer */
static PmConsumerBinding *
find_binding(PmManager *self, guint64 mapping_id, PmConsumer *consumer, PmMapping **mapping)
{
	PmMapping *m = pm_manager_lookup_id(self, mapping_id);

	for (guint i = 0; m != NULL && m->consumers != NULL && i < m->consumers->len; i++) {
		PmConsumerBinding *binding = g_ptr_array_index(m->consumers, i);
		if (binding->consumer == consumer) {
			*mapping = m;
			return binding;
		}
	}
	return NULL;
}

static void
consumer_report_cb(PmConsumer *consumer, guint64 mapping_id, PmConsumerState state,
		   const char *last_error, gpointer user_data)
{
	PmManager *self = user_data;
	PmMapping *m = NULL;
	PmConsumerBinding *binding = find_binding(self, mapping_id, consumer, &m);
	PmConsumerState was;
	const char *was_error;

	/* a mapping removed since, or no longer listing it */
	if (binding == NULL)
		return;
	if (last_error != NULL && last_error[0] == '\0')
		last_error = NULL;
	if (binding->state == state && g_strcmp0(binding->last_error, last_error) == 0)
		return;
	was = binding->pushing ? binding->announced_state : binding->state;
	was_error = binding->pushing ? binding->announced_error : binding->last_error;
	if (state == PM_CONSUMER_STATE_FAILED &&
	    (was != PM_CONSUMER_STATE_FAILED || g_strcmp0(was_error, last_error) != 0))
		g_warning("mapping %s: consumer %s failed: %s", m->name, consumer->name,
			  last_error != NULL ? last_error : "no reason given");
	else if (was == PM_CONSUMER_STATE_FAILED && state == PM_CONSUMER_STATE_OK)
		g_message("mapping %s: consumer %s works again", m->name, consumer->name);
	binding->state = state;
	g_free(binding->last_error);
	binding->last_error = g_strdup(last_error);
	/* inside a call the caller announces the outcome once */
	if (!binding->pushing)
		pm_mapping_changed(m, PM_MAPPING_PROP_CONSUMERS);
}

static PmConsumer *
consumer_new(PmManager *self, PmConsumerConfig *config, GError **error)
{
	PmConsumer *consumer = pm_consumer_new(self->context, config, error);
	if (consumer != NULL)
		pm_consumer_set_report_func(consumer, consumer_report_cb, self);
	return consumer;
}

static gboolean
consumers_create(PmManager *self, const PmConfig *config, GError **error)
{
	for (guint i = 0; i < config->consumers->len; i++) {
		PmConsumer *consumer = consumer_new(self, g_ptr_array_index(config->consumers, i),
						    error);
		if (consumer == NULL)
			return FALSE;
		g_ptr_array_add(self->consumers, consumer);
	}
	return TRUE;
}

/* a mapping is up for its consumers while it holds a lease on every protocol */
static gboolean
mapping_is_up(const PmMapping *m, PmMappingPorts *ports)
{
	pm_mapping_get_ports(m, ports);
	if (m->state != PM_MAPPING_STATE_ACTIVE && m->state != PM_MAPPING_STATE_RENEWING)
		return FALSE;
	for (guint i = 0; i < ports->n_ports; i++) {
		if (ports->ports[i].external_port == 0)
			return FALSE;
	}
	return ports->n_ports > 0;
}

typedef enum {
	BINDING_UP,
	BINDING_CHANGED,
	BINDING_DOWN,
} BindingCall;

/* one call; TRUE if the binding's state or last error changed meanwhile (reported at
 * once, or set to pending until the class reports) */
static gboolean
binding_call(PmConsumerBinding *binding, BindingCall call, const PmMappingView *view,
	     const PmMappingPorts *ports, const PmMappingPorts *previous, PmConsumerPush push)
{
	PmConsumerState state = binding->state;
	g_autofree char *last_error = g_strdup(binding->last_error);

	binding->announced_state = state;
	binding->announced_error = last_error;
	binding->state = PM_CONSUMER_STATE_PENDING;
	binding->pushing = TRUE;
	if (call == BINDING_UP)
		pm_consumer_mapping_up(binding->consumer, view, ports, push);
	else if (call == BINDING_CHANGED)
		pm_consumer_mapping_changed(binding->consumer, view, ports, previous);
	else
		pm_consumer_mapping_down(binding->consumer, view, ports);
	binding->pushing = FALSE;
	binding->announced_error = NULL;
	return binding->state != state || g_strcmp0(binding->last_error, last_error) != 0;
}

/* @binding's mapping is gone for it: told if it had been told the ports */
static gboolean
binding_down(PmConsumerBinding *binding, const PmMappingView *view)
{
	PmMappingPorts lost = binding->told;

	if (binding->told.n_ports == 0)
		return FALSE;
	memset(&binding->told, 0, sizeof(binding->told));
	binding->told_address = 0;
	return binding_call(binding, BINDING_DOWN, view, &lost, NULL, PM_CONSUMER_PUSH_GRANT);
}

/* after a change of the mapping: up, changed or down, for each consumer whose view of it
 * is no longer right */
static void
consumers_sync(PmManager *self, PmMapping *m)
{
	PmMappingPorts ports;
	PmMappingView view;
	gboolean up;
	gboolean changed = FALSE;

	/* stopping: they heard the mappings are gone, and a late renewal changes nothing */
	if (m->consumers == NULL || self->stopped)
		return;
	up = mapping_is_up(m, &ports);
	pm_manager_describe_mapping(self, m, &view);
	for (guint i = 0; i < m->consumers->len; i++) {
		PmConsumerBinding *binding = g_ptr_array_index(m->consumers, i);
		PmMappingPorts previous = binding->told;

		if (!up) {
			changed |= binding_down(binding, &view);
			continue;
		}
		if (binding->told.n_ports != 0 && pm_mapping_ports_equal(&binding->told, &ports) &&
		    binding->told_address == m->external_address)
			continue;
		binding->told = ports;
		binding->told_address = m->external_address;
		if (previous.n_ports == 0)
			changed |= binding_call(binding, BINDING_UP, &view, &ports, NULL,
						PM_CONSUMER_PUSH_GRANT);
		else
			changed |= binding_call(binding, BINDING_CHANGED, &view, &ports, &previous,
						PM_CONSUMER_PUSH_GRANT);
	}
	if (changed)
		pm_mapping_changed(m, PM_MAPPING_PROP_CONSUMERS);
}

/* the mapping goes (removed, or the daemon stops): its consumers hear it */
static void
consumers_mapping_gone(PmManager *self, PmMapping *m)
{
	PmMappingView view;

	if (m->consumers == NULL)
		return;
	pm_manager_describe_mapping(self, m, &view);
	for (guint i = 0; i < m->consumers->len; i++)
		binding_down(g_ptr_array_index(m->consumers, i), &view);
}

/* the same ports again, to the consumers that were told them */
static void
consumers_repush(PmManager *self, PmMapping *m, PmConsumerPush push)
{
	PmMappingView view;
	gboolean changed = FALSE;

	if (m->consumers == NULL || self->stopped)
		return;
	pm_manager_describe_mapping(self, m, &view);
	for (guint i = 0; i < m->consumers->len; i++) {
		PmConsumerBinding *binding = g_ptr_array_index(m->consumers, i);
		PmMappingPorts told = binding->told;
		if (told.n_ports == 0)
			continue;
		changed |= binding_call(binding, BINDING_UP, &view, &told, NULL, push);
	}
	if (changed)
		pm_mapping_changed(m, PM_MAPPING_PROP_CONSUMERS);
}

static void
consumers_repush_all(PmManager *self, PmConsumerPush push)
{
	/* a copy: a listener told of a consumer's state must not see the array move */
	g_autoptr(GPtrArray) mappings = pm_manager_get_mappings(self);

	for (guint i = 0; i < mappings->len; i++)
		consumers_repush(self, g_ptr_array_index(mappings, i), push);
}

/*
 * the bindings of a config mapping as Consumers= (@names) says, in its order: one whose
 * consumer object stays keeps what it was told (and with @reload is told it again and
 * unblocked), a consumer that is new to the mapping is told its ports if it is up, and one
 * that goes hears that the mapping is gone for it
 */
static void
mapping_bind_consumers(PmManager *self, PmMapping *m, char **names, gboolean reload)
{
	g_autoptr(GPtrArray) old = g_steal_pointer(&m->consumers);
	g_autoptr(GPtrArray) bindings =
	    g_ptr_array_new_with_free_func((GDestroyNotify)pm_consumer_binding_free);
	PmMappingPorts ports;
	PmMappingView view;
	gboolean up = mapping_is_up(m, &ports);
	gboolean changed = FALSE;

	for (guint i = 0; names != NULL && names[i] != NULL; i++) {
		PmConsumer *consumer = find_consumer(self, names[i]);
		PmConsumerBinding *binding = NULL;

		/* the configuration names only consumers it defines */
		g_return_if_fail(consumer != NULL);
		for (guint j = 0; old != NULL && j < old->len; j++) {
			PmConsumerBinding *candidate = g_ptr_array_index(old, j);
			if (candidate->consumer == consumer) {
				binding = g_ptr_array_steal_index(old, j);
				break;
			}
		}
		if (binding == NULL) {
			binding = pm_consumer_binding_new(consumer);
			changed = TRUE;
		}
		g_ptr_array_add(bindings, binding);
	}
	if (bindings->len > 0)
		m->consumers = g_steal_pointer(&bindings);
	pm_manager_describe_mapping(self, m, &view);
	/* those that go first, then the others */
	for (guint i = 0; old != NULL && i < old->len; i++) {
		binding_down(g_ptr_array_index(old, i), &view);
		changed = TRUE;
	}
	for (guint i = 0; up && m->consumers != NULL && i < m->consumers->len; i++) {
		PmConsumerBinding *binding = g_ptr_array_index(m->consumers, i);
		if (binding->told.n_ports == 0) {
			binding->told = ports;
			binding->told_address = m->external_address;
			changed |= binding_call(binding, BINDING_UP, &view, &ports, NULL,
						PM_CONSUMER_PUSH_GRANT);
		} else if (reload) {
			PmMappingPorts told = binding->told;
			changed |= binding_call(binding, BINDING_UP, &view, &told, NULL,
						PM_CONSUMER_PUSH_RETRY);
		}
	}
	if (changed)
		pm_mapping_changed(m, PM_MAPPING_PROP_CONSUMERS);
}

static void
reconcile_arm(PmManager *self)
{
	guint64 interval = self->config != NULL ? self->config->daemon.reconcile_interval_usec : 0;

	/* without consumers nothing is woken up */
	if (self->consumers->len == 0 || interval == 0) {
		pm_scheduler_disarm(self->scheduler, &self->reconcile_timer);
		return;
	}
	pm_scheduler_arm(self->scheduler, &self->reconcile_timer,
			 pm_scheduler_now(self->scheduler) + interval);
}

/* an application may have lost the port (restarted with its default, or its settings
 * were edited): [Daemon] ReconcileInterval= tells them all again */
static void
reconcile_timer_cb(PmTimer *timer, gpointer user_data)
{
	PmManager *self = user_data;
	consumers_repush_all(self, PM_CONSUMER_PUSH_RECONCILE);
	reconcile_arm(self);
}

/* ---- mappings ---- */

static void
count_state(PmManager *self, PmMapping *m, gboolean add)
{
	if (m->counted_state >= 0)
		self->state_counts[m->counted_state]--;
	m->counted_state = -1;
	if (add) {
		self->state_counts[m->state]++;
		m->counted_state = m->state;
	}
}

/* what consumers are told about */
#define CONSUMER_PROPS                                                                         \
	((guint)(PM_MAPPING_PROP_STATE | PM_MAPPING_PROP_PORTS | PM_MAPPING_PROP_INTERNAL_PORT |  \
		 PM_MAPPING_PROP_EXTERNAL_PORT | PM_MAPPING_PROP_EXTERNAL_ADDRESS))

static void
mapping_changed_cb(PmMapping *m, guint props, gpointer user_data)
{
	PmManager *self = user_data;
	guint manager_props = 0;

	if (props & PM_MAPPING_PROP_EXTERNAL_PORT) {
		guint16 port = pm_mapping_get_external_port(m);
		if (port != 0 && m->announced_external_port != 0 &&
		    port != m->announced_external_port) {
			g_message("mapping %s: external port changed from %u to %u", m->name,
				  m->announced_external_port, port);
			listeners_emit(self, port_changed, m, m->announced_external_port, port);
		}
		if (port != 0 && port != m->announced_external_port) {
			m->announced_external_port = port;
			if (mapping_is_persisted(m))
				state_changed(self);
		}
	}
	if ((props & PM_MAPPING_PROP_INTERNAL_PORT) && mapping_is_persisted(m))
		state_changed(self);
	if (m->counted_state >= 0)
		listeners_emit(self, mapping_changed, m, props);
	if ((props & PM_MAPPING_PROP_STATE) && m->counted_state >= 0) {
		count_state(self, m, TRUE);
		manager_changed(self, manager_props);
	}
	/* consumers last: what they report is a change of its own */
	if ((props & CONSUMER_PROPS) != 0 && m->counted_state >= 0)
		consumers_sync(self, m);
}

static void
provider_changed_cb(PmProvider *provider, gpointer user_data)
{
	PmManager *self = user_data;
	guint props = PM_MANAGER_PROP_PROVIDERS;
	if (g_strcmp0(provider->name, pm_manager_get_default_provider(self)) == 0)
		props |= PM_MANAGER_PROP_EXTERNAL_ADDRESS;
	manager_changed(self, props);
}

static void
provider_state_changed_cb(PmProvider *provider, gpointer user_data)
{
	state_changed(user_data);
}

/* the provider's section of the state file read at start */
static JsonObject *
restored_provider(PmManager *self, const char *name)
{
	JsonObject *providers;
	JsonNode *node;

	if (self->restored == NULL)
		return NULL;
	providers =
	    json_object_get_object_member(json_node_get_object(self->restored), "Providers");
	if (providers == NULL)
		return NULL;
	node = json_object_get_member(providers, name);
	if (node == NULL || !JSON_NODE_HOLDS_OBJECT(node))
		return NULL;
	return json_node_get_object(node);
}

/* a provider of the configuration; @previous: the one it replaces (Reload), whose state
 * it takes over, else the state file's */
static PmProvider *
provider_create(PmManager *self, const PmProviderConfig *pc, PmProvider *previous,
		GError **error)
{
	PmProvider *provider = pm_provider_new(self->context, pc, error);

	if (provider == NULL)
		return NULL;
	if (previous != NULL && previous->klass == provider->klass) {
		PmJsonWriter w;
		g_autofree char *text = NULL;
		g_autoptr(JsonNode) node = NULL;

		pm_json_writer_init(&w, 256, FALSE);
		pm_provider_state_save(previous, &w);
		text = pm_json_writer_finish(&w);
		node = json_from_string(text, NULL);
		if (node != NULL && JSON_NODE_HOLDS_OBJECT(node))
			pm_provider_state_load(provider, json_node_get_object(node));
	} else if (previous == NULL && restored_provider(self, pc->name) != NULL) {
		pm_provider_state_load(provider, restored_provider(self, pc->name));
	}
	provider->changed_func = provider_changed_cb;
	provider->state_changed_func = provider_state_changed_cb;
	provider->changed_data = self;
	return provider;
}

static PmMapping *
mapping_new(PmManager *self, const char *name)
{
	PmMapping *m = pm_mapping_new(self->next_id++, name);
	m->changed_func = mapping_changed_cb;
	m->changed_data = self;
	return m;
}

static void
mapping_register(PmManager *self, PmMapping *m)
{
	g_ptr_array_add(self->mappings, m);
	g_hash_table_insert(self->mappings_by_name, m->name, m);
	count_state(self, m, TRUE);
	listeners_emit(self, mapping_added, m);
	if (mapping_is_persisted(m))
		state_changed(self);
}

static void
mapping_unregister(PmManager *self, PmMapping *m)
{
	/* told while still registered: the bus layer enumerates its interfaces */
	listeners_emit(self, mapping_removed, m);
	{
		guint index;
		if (find_index(self, m->id, &index))
			g_ptr_array_remove_index(self->mappings, index);
	}
	g_hash_table_remove(self->mappings_by_name, m->name);
	count_state(self, m, FALSE);
	if (mapping_is_persisted(m))
		state_changed(self);
}

static void
mapping_start(PmManager *self, PmMapping *m)
{
	PmProvider *provider = find_provider(self, m->provider_name);
	if (provider == NULL) {
		g_autofree char *msg = g_strdup_printf(
		    "NoSuchProvider: provider %s is not configured: add a [Provider %s] section "
		    "or remove this mapping",
		    m->provider_name, m->provider_name);
		pm_mapping_set_last_error(m, msg);
		pm_mapping_set_state(m, PM_MAPPING_STATE_FAILED);
		return;
	}
	pm_provider_start(provider, m);
}

static void
pending_stops_add(PmManager *self, gpointer object)
{
	guint n = GPOINTER_TO_UINT(g_hash_table_lookup(self->pending_stops, object));
	g_hash_table_insert(self->pending_stops, object, GUINT_TO_POINTER(n + 1));
}

/* how many are left */
static guint
pending_stops_remove(PmManager *self, gpointer object)
{
	guint n = GPOINTER_TO_UINT(g_hash_table_lookup(self->pending_stops, object));

	g_assert(n > 0);
	if (n == 1) {
		g_hash_table_remove(self->pending_stops, object);
		return 0;
	}
	g_hash_table_insert(self->pending_stops, object, GUINT_TO_POINTER(n - 1));
	return n - 1;
}

/* a mapping gone from the registry is freed once no provider is stopping it */
static void
mapping_free_if_idle(PmManager *self, PmMapping *m)
{
	if (g_hash_table_contains(self->pending_stops, m))
		return;
	if (g_hash_table_remove(self->dying, m))
		pm_mapping_free(m);
}

/*
 * The mappings (any origin) that @provider carries now, but @except, in id order: what
 * its class checks another mapping against (pm_provider_check_mapping(), e.g. NAT-PMP's
 * SamePort=yes, one mapping per protocol). A mapping whose provider is gone holds nothing.
 */
static GPtrArray *
provider_users(PmManager *self, PmProvider *provider, PmMapping *except)
{
	GPtrArray *users = g_ptr_array_new();

	for (guint i = 0; i < self->mappings->len; i++) {
		PmMapping *m = g_ptr_array_index(self->mappings, i);
		if (m != except && m->provider == provider)
			g_ptr_array_add(users, m);
	}
	return users;
}

/*
 * a persistent bus mapping from the state file: the configuration may have changed since
 * it was added (its provider's class now refuses it next to a config mapping): it stays,
 * failed, for its owner to see and remove, rather than take another's lease
 */
static void
mapping_start_checked(PmManager *self, PmMapping *m)
{
	PmProvider *provider = find_provider(self, m->provider_name);
	g_autoptr(GPtrArray) others = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(GError) failure = NULL;

	if (provider == NULL || provider->klass->check_mapping == NULL) {
		mapping_start(self, m);
		return;
	}
	others = provider_users(self, provider, m);
	if (pm_provider_check_mapping(provider->config, m, others, NULL, &error)) {
		mapping_start(self, m);
		return;
	}
	failure = g_error_new(error->domain, error->code, "%s: remove this one (portmapctl remove %s)",
			      error->message, m->name);
	g_warning("mapping %s: not started: %s: %s", m->name, pm_error_short_name(failure->code),
		  failure->message);
	pm_mapping_set_error(m, failure);
	pm_mapping_set_state(m, PM_MAPPING_STATE_FAILED);
}

static void
mapping_stopped_cb(gpointer user_data)
{
	StopData *s = user_data;
	PmManager *self = s->manager;

	g_hash_table_remove(self->stopping, s);
	/* a retired provider is freed later: this runs inside its own reply handling */
	if (pending_stops_remove(self, s->provider) == 0 &&
	    g_ptr_array_find(self->retired_providers, s->provider, NULL))
		pm_scheduler_arm(self->scheduler, &self->retire_timer,
				 pm_scheduler_now(self->scheduler));
	pending_stops_remove(self, s->mapping);
	mapping_free_if_idle(self, s->mapping);
	if (s->done != NULL)
		s->done(s->user_data);
	g_free(s);
}

/* pm_provider_stop(), counted so that neither the mapping nor the provider is freed under
 * it; m->provider is NULL when this returns, @done may already have been called */
static void
mapping_stop(PmManager *self, PmMapping *m, gboolean release, PmProviderDoneFunc done,
	     gpointer user_data)
{
	StopData *s = g_new0(StopData, 1);

	s->manager = self;
	s->mapping = m;
	s->provider = m->provider;
	s->done = done;
	s->user_data = user_data;
	g_hash_table_add(self->stopping, s);
	pending_stops_add(self, s->mapping);
	pending_stops_add(self, s->provider);
	pm_provider_stop(s->provider, m, release, mapping_stopped_cb, s);
}

/* providers dropped by a reload: the last deletion of each was answered or gave up */
static void
retire_timer_cb(PmTimer *timer, gpointer user_data)
{
	PmManager *self = user_data;

	for (guint i = self->retired_providers->len; i > 0; i--) {
		PmProvider *provider = g_ptr_array_index(self->retired_providers, i - 1);
		if (g_hash_table_contains(self->pending_stops, provider))
			continue;
		g_info("provider %s: removed by reload, its deletions are done: closing it",
		       provider->name);
		g_ptr_array_remove_index_fast(self->retired_providers, i - 1);
	}
}

/* unregister, delete upstream if asked, free when the provider is done */
static void
mapping_destroy(PmManager *self, PmMapping *m, gboolean release, PmProviderDoneFunc done,
		gpointer user_data)
{
	/* while it is still what they were told about */
	consumers_mapping_gone(self, m);
	g_clear_pointer(&m->consumers, g_ptr_array_unref);
	mapping_unregister(self, m);
	m->changed_func = NULL;
	g_hash_table_add(self->dying, m);
	if (m->provider != NULL) {
		mapping_stop(self, m, release, done, user_data);
	} else {
		/* a reload may still be deleting it at its old provider */
		mapping_free_if_idle(self, m);
		if (done != NULL)
			done(user_data);
	}
	manager_changed(self, 0);
}

/* the suggestion P of design §3 "Ports": the last granted E, else ExternalPort=, else
 * InternalPort= */
static guint16
config_suggestion(PmManager *self, const PmMappingConfig *mc)
{
	JsonObject *saved = restored_mapping(self, mc->name);
	if (saved != NULL &&
	    g_strcmp0(json_object_get_string_member_with_default(saved, "Origin", ""),
		      "config") == 0 &&
	    g_strcmp0(json_object_get_string_member_with_default(saved, "Provider", ""),
		      mc->provider) == 0 &&
	    json_protocols(saved) == mc->protocols && json_port(saved, "ExternalPort") != 0)
		return json_port(saved, "ExternalPort");
	if (mc->external_port != 0)
		return mc->external_port;
	return mc->internal_port;
}

static void
mapping_apply_config(PmMapping *m, const PmMappingConfig *mc)
{
	m->provider_name = g_intern_string(mc->provider);
	m->protocols = mc->protocols;
	/* internal port 0: the provider picks the internal port (the granted external
	 * port): a running mapping keeps it */
	if (mc->internal_port != 0 || m->provider == NULL)
		m->internal_port = mc->internal_port;
	m->lifetime = mc->lifetime;
	m->has_consumers = mc->consumers != NULL && mc->consumers[0] != NULL;
}

static PmMapping *
config_mapping_new(PmManager *self, const PmMappingConfig *mc)
{
	PmMapping *m = mapping_new(self, mc->name);
	mapping_apply_config(m, mc);
	mapping_bind_consumers(self, m, mc->consumers, FALSE);
	m->scope = PM_SCOPE_PERSISTENT;
	m->origin = PM_ORIGIN_CONFIG;
	m->suggested_external_port = config_suggestion(self, mc);
	return m;
}

static void
restore_bus_mappings(PmManager *self)
{
	JsonObject *mappings;
	g_autoptr(GList) names = NULL;

	if (self->restored == NULL)
		return;
	mappings = json_object_get_object_member(json_node_get_object(self->restored), "Mappings");
	if (mappings == NULL)
		return;
	names = json_object_get_members(mappings);
	for (GList *l = names; l != NULL; l = l->next) {
		JsonObject *obj = restored_mapping(self, l->data);
		PmMapping *m;
		if (obj == NULL ||
		    g_strcmp0(json_object_get_string_member_with_default(obj, "Origin", ""),
			      "bus") != 0)
			continue;
		if (!pm_name_is_valid(l->data) || pm_manager_lookup_name(self, l->data) != NULL ||
		    json_protocols(obj) == 0 || json_port(obj, "InternalPort") == 0) {
			g_warning("state file: not restoring mapping %s", (const char *)l->data);
			continue;
		}
		m = mapping_new(self, l->data);
		m->provider_name =
		    g_intern_string(json_object_get_string_member_with_default(obj, "Provider", ""));
		m->protocols = json_protocols(obj);
		m->internal_port = json_port(obj, "InternalPort");
		m->suggested_external_port = json_port(obj, "ExternalPort");
		m->lifetime = (guint32)json_object_get_int_member_with_default(obj, "Lifetime", 0);
		m->require_external_port =
		    json_object_get_boolean_member_with_default(obj, "RequireExternalPort", FALSE);
		m->description = g_strdup(
		    json_object_get_string_member_with_default(obj, "Description", ""));
		m->owner_uid = (guint32)json_object_get_int_member_with_default(obj, "OwnerUID", 0);
		m->scope = PM_SCOPE_PERSISTENT;
		m->origin = PM_ORIGIN_BUS;
		m->announced_external_port = m->suggested_external_port;
		mapping_register(self, m);
		mapping_start_checked(self, m);
	}
}

static gboolean
providers_create(PmManager *self, const PmConfig *config, GPtrArray *out, GError **error)
{
	for (guint i = 0; i < config->providers->len; i++) {
		const PmProviderConfig *pc = g_ptr_array_index(config->providers, i);
		PmProvider *provider = provider_create(self, pc, NULL, error);
		if (provider == NULL)
			return FALSE;
		g_ptr_array_add(out, provider);
	}
	return TRUE;
}

gboolean
pm_manager_start(PmManager *self, PmConfig *config, GError **error)
{
	g_autoptr(PmConfig) owned = config;

	for (guint i = 0; i < owned->warnings->len; i++)
		g_warning("%s", (const char *)g_ptr_array_index(owned->warnings, i));
	state_load(self);
	if (!providers_create(self, owned, self->providers, error))
		return FALSE;
	/* before the mappings, which are bound to them */
	if (!consumers_create(self, owned, error))
		return FALSE;
	self->config = g_steal_pointer(&owned);
	for (guint i = 0; i < self->config->mappings->len; i++) {
		PmMapping *m = config_mapping_new(self, g_ptr_array_index(self->config->mappings, i));
		m->announced_external_port =
		    restored_mapping(self, m->name) != NULL ? m->suggested_external_port : 0;
		mapping_register(self, m);
		mapping_start(self, m);
	}
	restore_bus_mappings(self);
	reconcile_arm(self);
	manager_changed(self, PM_MANAGER_PROP_PROVIDERS | PM_MANAGER_PROP_EXTERNAL_ADDRESS);
	release_free_memory();
	return TRUE;
}

static PmMapping *
find_conflict(PmManager *self, const char *provider, guint protocols, guint16 internal_port,
	      PmMapping *except)
{
	if (internal_port == 0)
		return NULL;
	for (guint i = 0; i < self->mappings->len; i++) {
		PmMapping *m = g_ptr_array_index(self->mappings, i);
		if (m != except && m->internal_port == internal_port &&
		    (m->protocols & protocols) != 0 && g_strcmp0(m->provider_name, provider) == 0)
			return m;
	}
	return NULL;
}

/* everything AddMapping() refuses, checked before anything is created or anyone is asked
 * for authorization; returns the provider the mapping would use */
static PmProvider *
check_add_request(PmManager *self, const PmAddRequest *request, GError **error)
{
	const char *provider_name = request->provider;
	PmProvider *provider;
	PmMapping *conflict;

	if (provider_name == NULL || provider_name[0] == '\0') {
		provider_name = pm_manager_get_default_provider(self);
		if (provider_name == NULL) {
			g_set_error_literal(error, PM_ERROR, PM_ERROR_NO_SUCH_PROVIDER,
					    self->providers->len == 0
						? "no provider is configured: add a [Provider NAME] "
						  "section to portmapd.conf"
						: "several providers are configured and none is the "
						  "default: name one, or set [Daemon] DefaultProvider=");
			return NULL;
		}
	}
	provider = find_provider(self, provider_name);
	if (provider == NULL) {
		g_autoptr(GString) names = g_string_new(NULL);
		for (guint i = 0; i < self->providers->len; i++) {
			PmProvider *p = g_ptr_array_index(self->providers, i);
			g_string_append_printf(names, "%s%s", i > 0 ? ", " : "", p->name);
		}
		g_set_error(error, PM_ERROR, PM_ERROR_NO_SUCH_PROVIDER,
			    "there is no provider named '%s'; configured providers: %s",
			    provider_name, names->len > 0 ? names->str : "none");
		return NULL;
	}
	if (request->protocols == 0 ||
	    (request->protocols & ~(guint)(PM_PROTOCOL_TCP | PM_PROTOCOL_UDP)) != 0) {
		g_set_error_literal(error, PM_ERROR, PM_ERROR_INVALID_ARGS,
				    "protocols must be a non-empty subset of \"tcp\", \"udp\"");
		return NULL;
	}
	if (request->internal_port == 0) {
		g_set_error_literal(error, PM_ERROR, PM_ERROR_INVALID_ARGS,
				    "internal port 0 is not valid: give the port the application "
				    "listens on (1-65535)");
		return NULL;
	}
	if (request->name != NULL) {
		if (!pm_name_is_valid(request->name)) {
			g_set_error(error, PM_ERROR, PM_ERROR_INVALID_ARGS,
				    "invalid mapping name '%s': use 1 to 64 characters of "
				    "A-Z a-z 0-9 _ -",
				    request->name);
			return NULL;
		}
		if (pm_manager_lookup_name(self, request->name) != NULL) {
			g_set_error(error, PM_ERROR, PM_ERROR_INVALID_ARGS,
				    "a mapping named '%s' exists already: choose another name or "
				    "remove it first",
				    request->name);
			return NULL;
		}
	}
	/* what the provider's class refuses next to the mappings it carries */
	if (provider->klass->check_mapping != NULL) {
		g_autoptr(GPtrArray) others = provider_users(self, provider, NULL);
		g_autoptr(GError) local_error = NULL;
		PmMapping probe = {
		    .name = (char *)(request->name != NULL ? request->name : ""),
		    .provider_name = provider->name,
		    .protocols = (guint8)request->protocols,
		    .internal_port = request->internal_port,
		    .scope = request->scope,
		    .origin = PM_ORIGIN_BUS,
		};

		if (!pm_provider_check_mapping(provider->config, &probe, others, NULL,
					       &local_error)) {
			/* the class says who is in the way; what to do is ours to say */
			if (g_error_matches(local_error, PM_ERROR, PM_ERROR_ALREADY_MAPPED)) {
				g_set_error(error, PM_ERROR, PM_ERROR_ALREADY_MAPPED,
					    "%s: remove it first, or use another protocol or "
					    "provider",
					    local_error->message);
				return NULL;
			}
			g_propagate_error(error, g_steal_pointer(&local_error));
			return NULL;
		}
	}
	conflict = find_conflict(self, provider->name, request->protocols, request->internal_port,
				 NULL);
	if (conflict != NULL) {
		g_set_error(error, PM_ERROR, PM_ERROR_ALREADY_MAPPED,
			    "internal port %u is already mapped by '%s' on provider %s: remove "
			    "it first or use it",
			    request->internal_port, conflict->name, provider->name);
		return NULL;
	}
	return provider;
}

gboolean
pm_manager_check_add_request(PmManager *self, const PmAddRequest *request, GError **error)
{
	return check_add_request(self, request, error) != NULL;
}

PmMapping *
pm_manager_add_mapping(PmManager *self, const PmAddRequest *request, GError **error)
{
	g_autofree char *name = g_strdup(request->name);
	PmProvider *provider = check_add_request(self, request, error);
	PmMapping *m;

	if (provider == NULL)
		return NULL;
	if (name == NULL) {
		/* bus-N with N the object's id: unique unless a user took that name */
		name = g_strdup_printf("bus-%" G_GUINT64_FORMAT, self->next_id);
		while (pm_manager_lookup_name(self, name) != NULL) {
			g_free(name);
			name = g_strdup_printf("bus-%" G_GUINT64_FORMAT, ++self->next_id);
		}
	}
	m = mapping_new(self, name);
	m->provider_name = g_intern_string(provider->name);
	m->protocols = request->protocols;
	m->internal_port = request->internal_port;
	m->suggested_external_port = request->external_port;
	m->lifetime = request->lifetime;
	m->require_external_port = request->require_external_port;
	m->scope = request->scope;
	m->origin = request->gateway ? PM_ORIGIN_GATEWAY : PM_ORIGIN_BUS;
	m->lan_address = request->lan_address;
	m->lan_port = request->lan_port;
	m->owner_uid = request->owner_uid;
	m->owner = g_strdup(request->owner);
	m->description = g_strdup(request->description);
	g_info("adding mapping %s: %s port %u via %s (%s scope)", m->name,
	       request->protocols == (PM_PROTOCOL_TCP | PM_PROTOCOL_UDP)
		   ? "tcp+udp"
		   : pm_protocol_to_string(request->protocols),
	       m->internal_port, provider->name, pm_scope_to_string(m->scope));
	mapping_register(self, m);
	mapping_start(self, m);
	manager_changed(self, 0);
	return m;
}

void
pm_manager_remove_mapping(PmManager *self, PmMapping *mapping)
{
	g_info("removing mapping %s", mapping->name);
	mapping_destroy(self, mapping, TRUE, NULL, NULL);
}

void
pm_manager_remove_owner(PmManager *self, const char *owner)
{
	g_autoptr(GPtrArray) mappings = pm_manager_get_mappings(self);
	for (guint i = 0; i < mappings->len; i++) {
		PmMapping *m = g_ptr_array_index(mappings, i);
		if (m->scope == PM_SCOPE_CLIENT && g_strcmp0(m->owner, owner) == 0) {
			g_info("removing mapping %s: its owner %s left the bus", m->name, owner);
			mapping_destroy(self, m, TRUE, NULL, NULL);
		}
	}
}

/* ---- refresh ---- */


static void refresh_run_start(PmManager *self);

static void
refresh_provider_done(gpointer user_data)
{
	PmManager *self = user_data;
	if (--self->refresh_pending > 0 || self->freeing)
		return;
	self->refresh_running = FALSE;
	/* the renewals are done: consumers get the ports as they now are (not unblocked) */
	consumers_repush_all(self, PM_CONSUMER_PUSH_RECONCILE);
	waiters_notify(self->refresh_waiters);
	/* a trailing run whose time came while this one ran */
	if (self->refresh_next->len > 0 && !pm_timer_is_armed(&self->refresh_timer))
		refresh_run_start(self);
}

static void
refresh_run_start(PmManager *self)
{
	GArray *tmp;
	self->refresh_running = TRUE;
	self->refresh_started_once = TRUE;
	self->refresh_last_start = pm_scheduler_now(self->scheduler);
	tmp = self->refresh_waiters;
	self->refresh_waiters = self->refresh_next;
	self->refresh_next = tmp;
	g_assert(self->refresh_next->len == 0);
	self->refresh_pending = 1;
	for (guint i = 0; i < self->providers->len; i++) {
		self->refresh_pending++;
		pm_provider_refresh_all(g_ptr_array_index(self->providers, i),
					refresh_provider_done, self);
	}
	/* and the subsystems (STUN rediscovers) */
	for (guint i = 0; i < self->extensions->len; i++) {
		const ExtensionEntry *entry = &g_array_index(self->extensions, ExtensionEntry, i);
		if (entry->extension->refresh == NULL)
			continue;
		self->refresh_pending++;
		entry->extension->refresh(refresh_provider_done, self, entry->user_data);
	}
	refresh_provider_done(self);
}

static void
refresh_timer_cb(PmTimer *timer, gpointer user_data)
{
	PmManager *self = user_data;
	if (self->refresh_running)
		return; /* refresh_provider_done starts it */
	refresh_run_start(self);
}

void
pm_manager_refresh_all(PmManager *self, PmProviderDoneFunc done, gpointer user_data)
{
	Waiter w = {done, user_data};
	guint64 now = pm_scheduler_now(self->scheduler);
	guint64 next = self->refresh_last_start + PM_REFRESH_ALL_MIN_INTERVAL_USEC;

	g_array_append_val(self->refresh_next, w);
	if (pm_timer_is_armed(&self->refresh_timer))
		return;
	/* at most one run per 10 s: later callers share one trailing run */
	if (self->refresh_running || (self->refresh_started_once && now < next)) {
		pm_scheduler_arm(self->scheduler, &self->refresh_timer, next);
		return;
	}
	refresh_run_start(self);
}

typedef struct {
	PmManager *manager;
	guint64 id;
	PmProviderDoneFunc done;
	gpointer user_data;
} RefreshData;

static void
refresh_mapping_done(gpointer user_data)
{
	RefreshData *r = user_data;
	PmMapping *m = r->manager->freeing ? NULL : pm_manager_lookup_id(r->manager, r->id);

	/* Refresh(): its consumers are told again, and unblocked */
	if (m != NULL)
		consumers_repush(r->manager, m, PM_CONSUMER_PUSH_RETRY);
	if (r->done != NULL)
		r->done(r->user_data);
	g_free(r);
}

void
pm_manager_refresh_mapping(PmManager *self, PmMapping *mapping, PmProviderDoneFunc done,
			   gpointer user_data)
{
	RefreshData *r = g_new0(RefreshData, 1);

	r->manager = self;
	r->id = mapping->id;
	r->done = done;
	r->user_data = user_data;
	if (mapping->provider == NULL) {
		refresh_mapping_done(r);
		return;
	}
	pm_provider_refresh(mapping->provider, mapping, refresh_mapping_done, r);
}

void
pm_manager_resumed(PmManager *self)
{
	pm_scheduler_reevaluate(self->scheduler);
	for (guint i = 0; i < self->providers->len; i++)
		pm_provider_resumed(g_ptr_array_index(self->providers, i));
}

/* ---- stop ---- */

/* the stop ends once: every release answered, or the time is up */
static void
stop_finish(PmManager *self)
{
	PmProviderDoneFunc done = self->stop_done;

	pm_scheduler_disarm(self->scheduler, &self->stop_timer);
	self->stop_done = NULL;
	if (done != NULL)
		done(self->stop_done_data);
}

static void
stop_one_done(gpointer user_data)
{
	PmManager *self = user_data;

	if (--self->stop_pending > 0)
		return;
	stop_finish(self);
}

static void
stop_timer_cb(PmTimer *timer, gpointer user_data)
{
	PmManager *self = user_data;

	/* releases still in flight are dropped with their providers when the manager goes */
	g_warning("stopping took too long: exiting with %u deletion%s still unanswered",
		  self->stop_pending, self->stop_pending == 1 ? "" : "s");
	stop_finish(self);
}

void
pm_manager_stop(PmManager *self, PmProviderDoneFunc done, gpointer user_data)
{
	g_autoptr(GPtrArray) mappings = pm_manager_get_mappings(self);
	g_autoptr(GError) error = NULL;
	PmReleaseOnStop policy = self->config->daemon.release_on_stop;

	g_return_if_fail(self->stop_done == NULL);

	/* what a restart needs goes to disk before anything is deleted */
	if (!pm_manager_flush_state(self, &error))
		g_warning("failed to write the state file: %s", error->message);
	self->stop_done = done;
	self->stop_done_data = user_data;
	self->stop_pending = 1;
	pm_scheduler_arm(self->scheduler, &self->stop_timer,
			 pm_scheduler_now(self->scheduler) + PM_MANAGER_STOP_TIMEOUT_USEC);
	/* nobody keeps the mappings alive from now on: consumers hear that they are gone */
	self->stopped = TRUE;
	pm_scheduler_disarm(self->scheduler, &self->reconcile_timer);
	for (guint i = 0; i < mappings->len; i++)
		consumers_mapping_gone(self, g_ptr_array_index(mappings, i));
	for (guint i = 0; i < mappings->len; i++) {
		PmMapping *m = g_ptr_array_index(mappings, i);
		gboolean release = policy == PM_RELEASE_ON_STOP_ALL ||
				   (policy == PM_RELEASE_ON_STOP_TRANSIENT &&
				    pm_mapping_is_transient(m));
		if (!release)
			continue;
		self->stop_pending++;
		mapping_destroy(self, m, TRUE, stop_one_done, self);
	}
	/* mapping_destroy() of persistent ones would mark the state dirty: keep the file */
	self->state_dirty = FALSE;
	pm_scheduler_disarm(self->scheduler, &self->state_timer);
	stop_one_done(self);
}

/* ---- reload ---- */

static gboolean
config_mapping_moved(const PmMapping *m, const PmMappingConfig *mc)
{
	/* internal port 0: the provider picks I := E (NAT-PMP's SamePort=yes), and a running
	 * mapping keeps the granted port as I */
	return g_strcmp0(m->provider_name, mc->provider) != 0 || m->protocols != mc->protocols ||
	       (m->internal_port != mc->internal_port && mc->internal_port != 0 &&
		!m->has_consumers);
}

/* "[Mapping NAME]" or "bus mapping 'NAME'", for messages */
static char *
describe_user(const char *name, PmOrigin origin)
{
	if (origin == PM_ORIGIN_CONFIG)
		return g_strdup_printf("[Mapping %s]", name);
	return g_strdup_printf("%s mapping '%s'", pm_origin_to_string(origin), name);
}

/*
 * After the reload, each bus mapping that stays at a provider must be one its class
 * accepts next to the others there (pm_provider_check_mapping()). The configuration holds
 * that among its own mappings; a bus mapping is its caller's, and moving or failing it for
 * a config mapping would break what was promised on the bus, so a reload that needs that
 * is refused instead.
 */
static gboolean
reload_check_mappings(PmManager *self, const PmConfig *config, GError **error)
{
	/* provider config → the mappings at it after the reload: stand-ins of its config
	 * mappings, then the live ones already checked */
	g_autoptr(GHashTable) users =
	    g_hash_table_new_full(NULL, NULL, NULL, (GDestroyNotify)g_ptr_array_unref);
	g_autoptr(GPtrArray) stand_ins = g_ptr_array_new_with_free_func(g_free);

	/* config mappings are replaced by their new sections; those of a removed provider
	 * fail and hold nothing */
	for (guint i = 0; i < self->mappings->len; i++) {
		PmMapping *m = g_ptr_array_index(self->mappings, i);
		const PmProviderConfig *pc;
		GPtrArray *others;
		const PmMapping *blocker = NULL;
		g_autoptr(GError) local_error = NULL;

		if (m->origin == PM_ORIGIN_CONFIG || m->provider == NULL)
			continue;
		pc = pm_config_find_provider(config, m->provider_name);
		if (pc == NULL || pc->klass->check_mapping == NULL)
			continue;
		others = g_hash_table_lookup(users, pc);
		if (others == NULL) {
			others = g_ptr_array_new();
			for (guint j = 0; j < config->mappings->len; j++) {
				const PmMappingConfig *mc = g_ptr_array_index(config->mappings, j);
				PmMapping *stand_in;
				if (g_strcmp0(mc->provider, pc->name) != 0)
					continue;
				stand_in = g_new0(PmMapping, 1);
				stand_in->name = mc->name;
				stand_in->provider_name = mc->provider;
				stand_in->protocols = (guint8)mc->protocols;
				stand_in->internal_port = mc->internal_port;
				stand_in->scope = PM_SCOPE_PERSISTENT;
				stand_in->origin = PM_ORIGIN_CONFIG;
				g_ptr_array_add(stand_ins, stand_in);
				g_ptr_array_add(others, stand_in);
			}
			g_hash_table_insert(users, (gpointer)pc, others);
		}
		if (!pm_provider_check_mapping(pc, m, others, &blocker, &local_error)) {
			g_autofree char *user = describe_user(m->name, m->origin);
			g_autofree char *other =
			    blocker != NULL ? describe_user(blocker->name, blocker->origin) : NULL;
			g_autofree char *clash =
			    other != NULL ? g_strdup_printf(": %s would share it with %s", other,
							    user)
					  : NULL;
			g_set_error(error, PM_ERROR, PM_ERROR_INVALID_CONFIGURATION,
				    "%s%s: remove %s first (portmapctl remove %s), or change the "
				    "configuration",
				    local_error->message, clash != NULL ? clash : "", user,
				    m->name);
			return FALSE;
		}
		g_ptr_array_add(others, m);
	}
	return TRUE;
}

/* what makes a reload refused before anything changes */
static gboolean
reload_check(PmManager *self, const PmConfig *config, GError **error)
{
	/* a config mapping may not take a bus mapping's name */
	for (guint i = 0; i < config->mappings->len; i++) {
		const PmMappingConfig *mc = g_ptr_array_index(config->mappings, i);
		PmMapping *m = pm_manager_lookup_name(self, mc->name);
		if (m != NULL && m->origin != PM_ORIGIN_CONFIG) {
			g_set_error(error, PM_ERROR, PM_ERROR_INVALID_CONFIGURATION,
				    "[Mapping %s]: a mapping of that name was added on the bus: "
				    "remove it (portmapctl remove %s) or rename the section",
				    mc->name, mc->name);
			return FALSE;
		}
	}
	return reload_check_mappings(self, config, error);
}

/*
 * What a reload changes, worked out before anything changes (phase 2): every object the
 * new configuration needs exists by then, so that a failure leaves the daemon as it was.
 */
typedef struct {
	PmConfig *config;     /* the new configuration */
	GPtrArray *providers; /* the new set, in configuration order: kept and created */
	GPtrArray *created;   /* of those, the ones made for this reload: freed if it fails */
	GPtrArray *dropped;   /* current providers that are gone or replaced */
	GPtrArray *consumers; /* the new set of consumers (references), in configuration order */
} ReloadPlan;

static void
reload_plan_clear(ReloadPlan *plan)
{
	g_clear_pointer(&plan->providers, g_ptr_array_unref);
	g_clear_pointer(&plan->created, g_ptr_array_unref);
	g_clear_pointer(&plan->dropped, g_ptr_array_unref);
	g_clear_pointer(&plan->consumers, g_ptr_array_unref);
	g_clear_pointer(&plan->config, pm_config_free);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(ReloadPlan, reload_plan_clear)

/* phase 2, providers: unchanged ones keep their leases; the others are made anew */
static gboolean
reload_diff_providers(PmManager *self, ReloadPlan *plan, GError **error)
{
	for (guint i = 0; i < plan->config->providers->len; i++) {
		const PmProviderConfig *pc = g_ptr_array_index(plan->config->providers, i);
		PmProvider *existing = find_provider(self, pc->name);
		if (existing != NULL && pm_provider_config_equal(existing->config, pc)) {
			g_ptr_array_add(plan->providers, existing);
			continue;
		}
		{
			/* a changed provider takes over its predecessor's state section */
			PmProvider *provider = provider_create(self, pc, existing, error);
			if (provider == NULL)
				return FALSE;
			g_ptr_array_add(plan->providers, provider);
			g_ptr_array_add(plan->created, provider);
		}
	}
	/* providers that are gone or changed: their mappings stop (deleted upstream) */
	for (guint i = 0; i < self->providers->len; i++) {
		PmProvider *provider = g_ptr_array_index(self->providers, i);
		if (g_ptr_array_find(plan->providers, provider, NULL))
			continue;
		g_ptr_array_add(plan->dropped, provider);
	}
	return TRUE;
}

/* phase 2, consumers: an unchanged one keeps its object, and so what it was told */
static gboolean
reload_diff_consumers(PmManager *self, ReloadPlan *plan, GError **error)
{
	for (guint i = 0; i < plan->config->consumers->len; i++) {
		PmConsumerConfig *cc = g_ptr_array_index(plan->config->consumers, i);
		PmConsumer *existing = find_consumer(self, cc->name);
		PmConsumer *consumer;

		if (existing != NULL && pm_consumer_config_equal(existing->config, cc)) {
			g_ptr_array_add(plan->consumers, pm_consumer_ref(existing));
			continue;
		}
		consumer = consumer_new(self, cc, error);
		if (consumer == NULL)
			return FALSE;
		g_ptr_array_add(plan->consumers, consumer);
	}
	return TRUE;
}

/* phase 3: nothing can fail from here on */
/* nobody waits for the retry of a failed mapping that a Reload starts */
static void
reload_refresh_done(gpointer user_data)
{
}

static void
reload_apply(PmManager *self, ReloadPlan *plan)
{
	g_autoptr(PmConfig) old = NULL;
	g_autoptr(GPtrArray) mappings = pm_manager_get_mappings(self);
	g_autoptr(GHashTable) configured = g_hash_table_new(g_str_hash, g_str_equal);
	g_autoptr(GPtrArray) restart = g_ptr_array_new();

	/* the new consumers first: the mappings' bindings are made from them below; the
	 * bindings of those that go hold them until they are told and dropped, and what they
	 * report meanwhile goes nowhere */
	for (guint i = 0; i < self->consumers->len; i++) {
		PmConsumer *consumer = g_ptr_array_index(self->consumers, i);
		if (!g_ptr_array_find(plan->consumers, consumer, NULL))
			pm_consumer_set_report_func(consumer, NULL, NULL);
	}
	g_ptr_array_set_size(self->consumers, 0);
	for (guint i = 0; i < plan->consumers->len; i++)
		g_ptr_array_add(self->consumers,
				pm_consumer_ref(g_ptr_array_index(plan->consumers, i)));

	/* by name: a linear search per mapping is 50 million comparisons at 10 000 */
	for (guint i = 0; i < plan->config->mappings->len; i++) {
		const PmMappingConfig *mc = g_ptr_array_index(plan->config->mappings, i);
		g_hash_table_insert(configured, mc->name, (gpointer)mc);
	}
	for (guint i = 0; i < mappings->len; i++) {
		PmMapping *m = g_ptr_array_index(mappings, i);
		const PmMappingConfig *mc = NULL;
		if (m->origin == PM_ORIGIN_CONFIG)
			mc = g_hash_table_lookup(configured, m->name);
		if (m->origin == PM_ORIGIN_CONFIG && mc == NULL) {
			g_info("reload: mapping %s is no longer configured", m->name);
			mapping_destroy(self, m, TRUE, NULL, NULL);
			continue;
		}
		if (m->provider != NULL && g_ptr_array_find(plan->dropped, m->provider, NULL)) {
			mapping_stop(self, m, TRUE, NULL, NULL);
			if (mc == NULL && find_provider_in(plan->providers, m->provider_name) == NULL) {
				g_autofree char *msg = g_strdup_printf(
				    "NoSuchProvider: provider %s removed by reload: remove this "
				    "mapping, and add it again at another provider",
				    m->provider_name);
				/* its lease is being deleted: no port, address or expiry left */
				memset(m->ports, 0, sizeof(m->ports));
				pm_mapping_set_external_address(m, 0);
				pm_mapping_set_last_error(m, msg);
				pm_mapping_set_state(m, PM_MAPPING_STATE_FAILED);
				pm_mapping_changed(m, PM_MAPPING_PROP_PORTS |
							  PM_MAPPING_PROP_EXTERNAL_PORT |
							  PM_MAPPING_PROP_LIFETIME |
							  PM_MAPPING_PROP_EXPIRES_AT);
				continue;
			}
			g_ptr_array_add(restart, m);
		}
		if (mc != NULL) {
			if (config_mapping_moved(m, mc) && m->provider != NULL) {
				mapping_stop(self, m, TRUE, NULL, NULL);
				g_ptr_array_add(restart, m);
			}
			mapping_apply_config(m, mc);
		}
	}
	/* swap in the new set; dropped providers go once their deletions are sent */
	g_ptr_array_set_free_func(self->providers, NULL);
	g_ptr_array_set_size(self->providers, 0);
	g_ptr_array_set_free_func(self->providers, (GDestroyNotify)pm_provider_free);
	for (guint i = 0; i < plan->providers->len; i++)
		g_ptr_array_add(self->providers, g_ptr_array_index(plan->providers, i));
	/* the created ones are the registry's now */
	g_ptr_array_set_free_func(plan->created, NULL);
	old = g_steal_pointer(&self->config);
	self->config = g_steal_pointer(&plan->config);

	/* restart what was stopped (moved, or from a changed provider), also if it had
	 * failed there; its consumers hear that its ports are gone */
	for (guint i = 0; i < restart->len; i++) {
		PmMapping *m = g_ptr_array_index(restart, i);
		memset(m->ports, 0, sizeof(m->ports));
		m->state = PM_MAPPING_STATE_REQUESTING;
		pm_mapping_changed(m, PM_MAPPING_PROP_STATE | PM_MAPPING_PROP_PORTS |
					  PM_MAPPING_PROP_PROVIDER | PM_MAPPING_PROP_PROTOCOLS |
					  PM_MAPPING_PROP_INTERNAL_PORT);
		mapping_start(self, m);
	}
	/* a mapping that failed at a provider that stays (a refused token or mapping) is
	 * tried once more: the operator may have fixed the cause, as Reload's callers expect,
	 * and a provider re-reads its secrets on a refresh */
	for (guint i = 0; i < self->mappings->len; i++) {
		PmMapping *m = g_ptr_array_index(self->mappings, i);
		if (m->state != PM_MAPPING_STATE_FAILED || m->provider == NULL ||
		    g_ptr_array_find(restart, m, NULL) ||
		    g_ptr_array_find(plan->created, m->provider, NULL))
			continue;
		g_info("reload: trying mapping %s again", m->name);
		pm_provider_refresh(m->provider, m, reload_refresh_done, NULL);
	}
	/* the consumers of every configured mapping, as Consumers= now says: the ones that
	 * stay are told the ports again (and unblocked), new ones are told them, removed
	 * ones hear they are gone */
	for (guint i = 0; i < self->mappings->len; i++) {
		PmMapping *m = g_ptr_array_index(self->mappings, i);
		const PmMappingConfig *mc;
		if (m->origin != PM_ORIGIN_CONFIG)
			continue;
		mc = g_hash_table_lookup(configured, m->name);
		if (mc != NULL)
			mapping_bind_consumers(self, m, mc->consumers, TRUE);
	}
	/* new config mappings */
	for (guint i = 0; i < self->config->mappings->len; i++) {
		const PmMappingConfig *mc = g_ptr_array_index(self->config->mappings, i);
		PmMapping *m;
		if (pm_manager_lookup_name(self, mc->name) != NULL)
			continue;
		m = config_mapping_new(self, mc);
		mapping_register(self, m);
		mapping_start(self, m);
	}
	/* dropped providers close once their deletions are answered or give up (at most
	 * a few seconds); those with none in flight on the next dispatch */
	for (guint i = 0; i < plan->dropped->len; i++) {
		PmProvider *provider = g_ptr_array_index(plan->dropped, i);
		provider->changed_func = NULL;
		g_ptr_array_add(self->retired_providers, provider);
	}
	if (plan->dropped->len > 0)
		pm_scheduler_arm(self->scheduler, &self->retire_timer,
				 pm_scheduler_now(self->scheduler));
	reconcile_arm(self);
}

/*
 * Reload in phases: (1) parse, the caller's: pm_config_load() refuses an invalid
 * configuration whole; (2) check and diff: what the new configuration cannot do with the
 * running mappings is refused, and the providers and consumers it needs are made; (3)
 * apply, which cannot fail.
 */
gboolean
pm_manager_reload(PmManager *self, PmConfig *config, GError **error)
{
	g_auto(ReloadPlan) plan = {
	    .config = config,
	    .providers = g_ptr_array_new(),
	    .created = g_ptr_array_new_with_free_func((GDestroyNotify)pm_provider_free),
	    .dropped = g_ptr_array_new(),
	    .consumers = g_ptr_array_new_with_free_func((GDestroyNotify)pm_consumer_unref),
	};
	g_autoptr(GError) local_error = NULL;

	if (!reload_check(self, plan.config, &local_error)) {
		/* SIGHUP has no caller to tell */
		g_warning("reload refused, nothing changed: %s", local_error->message);
		g_propagate_error(error, g_steal_pointer(&local_error));
		return FALSE;
	}
	for (guint i = 0; i < plan.config->warnings->len; i++)
		g_warning("%s", (const char *)g_ptr_array_index(plan.config->warnings, i));
	if (!reload_diff_providers(self, &plan, error) || !reload_diff_consumers(self, &plan, error))
		return FALSE;

	reload_apply(self, &plan);
	state_changed(self);
	manager_changed(self, PM_MANAGER_PROP_PROVIDERS | PM_MANAGER_PROP_EXTERNAL_ADDRESS);
	release_free_memory();
	return TRUE;
}

guint64
pm_manager_get_expires_realtime(PmManager *self, PmMapping *mapping)
{
	guint64 expires = pm_mapping_get_expires(mapping);
	return expires != 0 ? pm_scheduler_to_realtime(self->scheduler, expires) : 0;
}

/* ---- Describe() ---- */

void
pm_manager_describe_mapping(PmManager *self, PmMapping *m, PmMappingView *view)
{
	struct in_addr in;
	guint n = 0;

	memset(view, 0, sizeof(*view));
	view->id = m->id;
	g_snprintf(view->path, sizeof(view->path), PM_MAPPING_PATH_PREFIX "/%" G_GUINT64_FORMAT,
		   m->id);
	view->name = m->name;
	view->provider = m->provider_name;
	view->state = pm_mapping_state_to_string(m->state);
	if (m->protocols & PM_PROTOCOL_TCP)
		view->protocols[n++] = "tcp";
	if (m->protocols & PM_PROTOCOL_UDP)
		view->protocols[n++] = "udp";
	view->scope = pm_scope_to_string(m->scope);
	view->origin = pm_origin_to_string(m->origin);
	view->owner_uid = m->owner_uid;
	/* "" for an unknown (0) address, as the bus has always shown it */
	in.s_addr = m->internal_address;
	if (m->internal_address != 0)
		inet_ntop(AF_INET, &in, view->internal_address, sizeof(view->internal_address));
	in.s_addr = m->external_address;
	if (m->external_address != 0)
		inet_ntop(AF_INET, &in, view->external_address, sizeof(view->external_address));
	view->internal_port = m->internal_port;
	view->external_port = pm_mapping_get_external_port(m);
	pm_mapping_get_ports(m, &view->ports);
	if (m->origin == PM_ORIGIN_GATEWAY) {
		/* the client's side: the tunnel port is the gateway's business (Describe()'s
		 * "Gateway" member shows it) */
		in.s_addr = m->lan_address;
		view->internal_address[0] = '\0';
		if (m->lan_address != 0)
			inet_ntop(AF_INET, &in, view->internal_address,
				  sizeof(view->internal_address));
		view->internal_port = m->lan_port;
		for (guint i = 0; i < view->ports.n_ports; i++)
			view->ports.ports[i].internal_port = m->lan_port;
	}
	view->lifetime = pm_mapping_get_lifetime(m);
	view->expires_at = pm_manager_get_expires_realtime(self, m);
	view->port_valid_until = 0;
	view->description = m->description != NULL ? m->description : "";
	view->last_error = m->last_error != NULL ? m->last_error : "";
	view->consumers = m->consumers;
	view->provider_peer = m->provider != NULL ? m->provider->peer_address : 0;
}

static void
describe_mapping(PmManager *self, PmJsonWriter *w, PmMapping *m)
{
	PmMappingView view;

	pm_manager_describe_mapping(self, m, &view);
	pm_json_begin_object(w);
	pm_json_member_string(w, "Path", view.path);
	pm_json_member_string(w, "Name", view.name);
	pm_json_member_string(w, "Provider", view.provider);
	pm_json_member_string(w, "State", view.state);
	pm_json_member(w, "Protocols");
	pm_json_begin_array(w);
	for (guint i = 0; view.protocols[i] != NULL; i++)
		pm_json_string(w, view.protocols[i]);
	pm_json_end_array(w);
	pm_json_member_string(w, "Scope", view.scope);
	pm_json_member_string(w, "Origin", view.origin);
	pm_json_member_uint(w, "OwnerUID", view.owner_uid);
	pm_json_member_string(w, "InternalAddress", view.internal_address);
	pm_json_member_uint(w, "InternalPort", view.internal_port);
	pm_json_member_string(w, "ExternalAddress", view.external_address);
	pm_json_member_uint(w, "ExternalPort", view.external_port);
	pm_json_member(w, "Ports");
	pm_json_begin_array(w);
	for (guint i = 0; i < view.ports.n_ports; i++) {
		const PmPortPair *pair = &view.ports.ports[i];
		pm_json_begin_object(w);
		pm_json_member_string(w, "Protocol", pm_protocol_to_string(pair->protocol));
		pm_json_member_uint(w, "InternalPort", pair->internal_port);
		pm_json_member_uint(w, "ExternalPort", pair->external_port);
		pm_json_end_object(w);
	}
	pm_json_end_array(w);
	pm_json_member_uint(w, "Lifetime", view.lifetime);
	pm_json_member_uint(w, "ExpiresAt", view.expires_at);
	pm_json_member_uint(w, "PortValidUntil", view.port_valid_until);
	pm_json_member_string(w, "Description", view.description);
	pm_json_member_string(w, "LastError", view.last_error);
	pm_json_member(w, "Consumers");
	pm_json_begin_array(w);
	for (guint i = 0; view.consumers != NULL && i < view.consumers->len; i++) {
		const PmConsumerBinding *binding = g_ptr_array_index(view.consumers, i);
		pm_json_begin_object(w);
		pm_json_member_string(w, "Name", binding->consumer->name);
		pm_json_member_string(w, "State", pm_consumer_state_to_string(binding->state));
		pm_json_member_string(w, "LastError",
				      binding->last_error != NULL ? binding->last_error : "");
		pm_json_end_object(w);
	}
	pm_json_end_array(w);
	pm_json_end_object(w);
}

char *
pm_manager_describe(PmManager *self)
{
	g_autoptr(GPtrArray) mappings = pm_manager_get_mappings(self);
	g_autofree char *external = pm_manager_get_external_address(self);
	PmJsonWriter w;

	pm_json_writer_init(&w, 64 * 1024, FALSE);
	pm_json_begin_object(&w);
	pm_json_member_string(&w, "Version", PACKAGE_VERSION);
	pm_json_member_string(&w, "State", pm_manager_get_state(self));
	pm_json_member_string(&w, "DefaultProvider", pm_manager_get_default_provider(self));
	pm_json_member_string(&w, "ExternalAddress", external);
	/* what "About this configuration" shows: the files that made the configuration in use */
	pm_json_member(&w, "ConfigFiles");
	pm_json_begin_array(&w);
	for (guint i = 0; i < self->config->files->len; i++)
		pm_json_string(&w, g_ptr_array_index(self->config->files, i));
	pm_json_end_array(&w);
	/* the subsystems' members (STUN: PublicEndpoint, NATType, ...; the LAN gateway:
	 * GatewayMappings) */
	for (guint i = 0; i < self->extensions->len; i++) {
		const ExtensionEntry *entry = &g_array_index(self->extensions, ExtensionEntry, i);
		if (entry->extension->describe != NULL)
			entry->extension->describe(&w, entry->user_data);
	}
	pm_json_member(&w, "Providers");
	pm_json_begin_array(&w);
	for (guint i = 0; i < self->providers->len; i++)
		pm_provider_describe(g_ptr_array_index(self->providers, i), &w);
	pm_json_end_array(&w);
	pm_json_member(&w, "Consumers");
	pm_json_begin_array(&w);
	for (guint i = 0; i < self->consumers->len; i++)
		pm_consumer_describe(g_ptr_array_index(self->consumers, i), &w);
	pm_json_end_array(&w);
	pm_json_member(&w, "Mappings");
	pm_json_begin_array(&w);
	for (guint i = 0; i < mappings->len; i++)
		describe_mapping(self, &w, g_ptr_array_index(mappings, i));
	pm_json_end_array(&w);
	pm_json_end_object(&w);
	return pm_json_writer_finish(&w);
}
