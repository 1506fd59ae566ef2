/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "errors.h"
#include "log.h"
#include "provider.h"

PmProvider *
pm_provider_alloc(PmContext *context, const PmProviderConfig *config)
{
	const PmProviderClass *klass = config->klass;
	PmProvider *self;

	g_return_val_if_fail(klass->object_size >= sizeof(PmProvider), NULL);
	self = g_malloc0(klass->object_size);
	self->klass = klass;
	self->name = g_strdup(config->name);
	self->config = pm_provider_config_ref(config);
	self->context = context;
	self->scheduler = pm_context_get_scheduler(context);
	self->state = PM_PROVIDER_STATE_READY;
	self->mappings = g_hash_table_new(NULL, NULL);
	return self;
}

PmProvider *
pm_provider_new(PmContext *context, const PmProviderConfig *config, GError **error)
{
	g_autoptr(PmProvider) self = pm_provider_alloc(context, config);

	if (self->klass->init != NULL && !self->klass->init(self, error))
		return NULL;
	return g_steal_pointer(&self);
}

void
pm_provider_free(PmProvider *self)
{
	if (self == NULL)
		return;
	if (self->klass->finalize != NULL)
		self->klass->finalize(self);
	g_hash_table_unref(self->mappings);
	pm_provider_config_unref(self->config);
	g_free(self->name);
	g_free(self->last_error);
	g_free(self);
}

static void
provider_changed(PmProvider *self)
{
	if (self->changed_func != NULL)
		self->changed_func(self, self->changed_data);
}

void
pm_provider_set_state(PmProvider *self, PmProviderState state, const char *last_error)
{
	if (last_error != NULL && last_error[0] == '\0')
		last_error = NULL;
	if (self->state == state && g_strcmp0(self->last_error, last_error) == 0)
		return;
	self->state = state;
	g_free(self->last_error);
	self->last_error = g_strdup(last_error);
	provider_changed(self);
}

void
pm_provider_set_external_address(PmProvider *self, guint32 address)
{
	GHashTableIter iter;
	gpointer key;
	if (self->external_address == address)
		return;
	self->external_address = address;
	g_hash_table_iter_init(&iter, self->mappings);
	while (g_hash_table_iter_next(&iter, &key, NULL))
		pm_mapping_set_external_address(key, address);
	provider_changed(self);
}

void
pm_provider_set_peer_address(PmProvider *self, guint32 address)
{
	self->peer_address = address;
}

void
pm_provider_state_changed(PmProvider *self)
{
	if (self->state_changed_func != NULL)
		self->state_changed_func(self, self->changed_data);
}

gboolean
pm_provider_check_mapping(const PmProviderConfig *config, const PmMapping *mapping,
			  GPtrArray *others, const PmMapping **blocker, GError **error)
{
	const PmMapping *in_the_way = NULL;

	if (config->klass->check_mapping != NULL &&
	    !config->klass->check_mapping(config, mapping, others, &in_the_way, error)) {
		if (blocker != NULL)
			*blocker = in_the_way;
		return FALSE;
	}
	if (blocker != NULL)
		*blocker = NULL;
	return TRUE;
}

void
pm_provider_start(PmProvider *self, PmMapping *mapping)
{
	mapping->provider = self;
	g_hash_table_add(self->mappings, mapping);
	pm_mapping_set_external_address(mapping, self->external_address);
	self->klass->start(self, mapping);
}

void
pm_provider_stop(PmProvider *self, PmMapping *mapping, gboolean release, PmProviderDoneFunc done,
		 gpointer user_data)
{
	g_hash_table_remove(self->mappings, mapping);
	mapping->provider = NULL;
	self->klass->stop(self, mapping, release, done, user_data);
}

void
pm_provider_refresh(PmProvider *self, PmMapping *mapping, PmProviderDoneFunc done,
		    gpointer user_data)
{
	self->klass->refresh(self, mapping, done, user_data);
}

void
pm_provider_refresh_all(PmProvider *self, PmProviderDoneFunc done, gpointer user_data)
{
	self->klass->refresh_all(self, done, user_data);
}

void
pm_provider_resumed(PmProvider *self)
{
	if (self->klass->resumed != NULL)
		self->klass->resumed(self);
}

void
pm_provider_describe(PmProvider *self, PmJsonWriter *writer)
{
	g_autofree char *address = pm_ipv4_to_string(self->external_address);

	pm_json_begin_object(writer);
	pm_json_member_string(writer, "Name", self->name);
	pm_json_member_string(writer, "Type", self->klass->type);
	pm_json_member_string(writer, "State", pm_provider_state_to_string(self->state));
	if (self->klass->describe != NULL)
		self->klass->describe(self, writer);
	pm_json_member_string(writer, "ExternalAddress", address);
	pm_json_member_string(writer, "LastError", self->last_error);
	pm_json_end_object(writer);
}

void
pm_provider_state_save(PmProvider *self, PmJsonWriter *writer)
{
	pm_json_begin_object(writer);
	pm_json_member_string(writer, "Type", self->klass->type);
	if (self->klass->state_save != NULL)
		self->klass->state_save(self, writer);
	pm_json_end_object(writer);
}

void
pm_provider_state_load(PmProvider *self, JsonObject *section)
{
	const char *type = json_object_get_string_member_with_default(section, "Type", "");

	/* a provider of that name, but of another type, saved it */
	if (g_strcmp0(type, self->klass->type) != 0 || self->klass->state_load == NULL)
		return;
	self->klass->state_load(self, section);
}

const char *
pm_provider_state_to_string(PmProviderState state)
{
	static const char *const names[] = {"ready", "degraded", "failed"};
	return names[state];
}

typedef struct {
	PmProviderDoneFunc func;
	gpointer user_data;
} PmProviderWaiter;

void
pm_provider_waiters_add(GArray **waiters, PmProviderDoneFunc done, gpointer user_data)
{
	PmProviderWaiter w = {done, user_data};

	if (*waiters == NULL)
		*waiters = g_array_new(FALSE, FALSE, sizeof(PmProviderWaiter));
	g_array_append_val(*waiters, w);
}

void
pm_provider_waiters_notify(GArray **waiters)
{
	g_autoptr(GArray) list = g_steal_pointer(waiters);

	for (guint i = 0; list != NULL && i < list->len; i++) {
		PmProviderWaiter *w = &g_array_index(list, PmProviderWaiter, i);
		w->func(w->user_data);
	}
}

static gboolean
pm_provider_mapping_has_lease(PmScheduler *scheduler, PmMapping *mapping)
{
	return pm_mapping_get_expires(mapping) > pm_scheduler_now(scheduler);
}

static void
pm_provider_degraded_timer_cb(PmTimer *timer, gpointer user_data)
{
	PmMapping *mapping = user_data;

	/* a provider removed by a reload no longer speaks for the mapping */
	if (mapping->provider == NULL ||
	    pm_provider_mapping_has_lease(mapping->provider->scheduler, mapping) ||
	    mapping->state == PM_MAPPING_STATE_FAILED)
		return;
	pm_log_mapping(G_LOG_LEVEL_WARNING, mapping->name, mapping->provider_name,
		       "mapping %s has had no lease for %u s", mapping->name,
		       (guint)(PM_PROVIDER_DEGRADED_AFTER_USEC / G_USEC_PER_SEC));
	pm_mapping_set_state(mapping, PM_MAPPING_STATE_DEGRADED);
}

void
pm_provider_degraded_timer_init(PmTimer *timer, PmMapping *mapping)
{
	pm_timer_init(timer, pm_provider_degraded_timer_cb, mapping);
}

void
pm_provider_set_mapping_state(PmScheduler *scheduler, PmTimer *degraded_timer, PmMapping *mapping,
			      PmMappingState state)
{
	/* degraded is retrying that has gone on too long: keep showing it */
	if (state == PM_MAPPING_STATE_RETRYING && mapping->state == PM_MAPPING_STATE_DEGRADED)
		return;
	if (state == PM_MAPPING_STATE_ACTIVE || state == PM_MAPPING_STATE_FAILED)
		pm_scheduler_disarm(scheduler, degraded_timer);
	else if (!pm_timer_is_armed(degraded_timer) &&
		 !pm_provider_mapping_has_lease(scheduler, mapping) &&
		 mapping->state != PM_MAPPING_STATE_DEGRADED)
		pm_scheduler_arm(scheduler, degraded_timer,
				 pm_scheduler_now(scheduler) + PM_PROVIDER_DEGRADED_AFTER_USEC);
	pm_mapping_set_state(mapping, state);
}

typedef struct {
	guint pending;
	PmProviderDoneFunc done;
	gpointer user_data;
} PmProviderRefreshEach;

static void
pm_provider_refresh_each_one_done(gpointer user_data)
{
	PmProviderRefreshEach *r = user_data;
	if (--r->pending > 0)
		return;
	r->done(r->user_data);
	g_free(r);
}

void
pm_provider_refresh_each(PmProvider *self, PmProviderDoneFunc done, gpointer user_data)
{
	PmProviderRefreshEach *r = g_new0(PmProviderRefreshEach, 1);
	GHashTableIter iter;
	gpointer key;

	r->done = done;
	r->user_data = user_data;
	/* one for the loop itself: a refresh that ends at once must not end the whole */
	r->pending = 1;
	g_hash_table_iter_init(&iter, self->mappings);
	while (g_hash_table_iter_next(&iter, &key, NULL)) {
		r->pending++;
		self->klass->refresh(self, key, pm_provider_refresh_each_one_done, r);
	}
	pm_provider_refresh_each_one_done(r);
}
