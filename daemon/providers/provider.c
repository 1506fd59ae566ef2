/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "errors.h"
#include "natpmp-provider.h"
#include "provider.h"

static PmProviderConfig *
provider_config_copy(const PmProviderConfig *config)
{
	PmProviderConfig *copy = g_new0(PmProviderConfig, 1);
	*copy = *config;
	copy->name = g_strdup(config->name);
	copy->gateway = g_strdup(config->gateway);
	return copy;
}

static void
provider_config_free(PmProviderConfig *config)
{
	g_free(config->name);
	g_free(config->gateway);
	g_free(config);
}

void
pm_provider_init(PmProvider *self, const PmProviderClass *klass, const PmProviderConfig *config,
		 PmScheduler *scheduler)
{
	self->klass = klass;
	self->name = g_strdup(config->name);
	self->config = provider_config_copy(config);
	self->scheduler = scheduler;
	self->state = PM_PROVIDER_STATE_READY;
	self->mappings = g_hash_table_new(NULL, NULL);
}

PmProvider *
pm_provider_new(const PmProviderConfig *config, PmScheduler *scheduler, GError **error)
{
	switch (config->type) {
	case PM_PROVIDER_TYPE_NATPMP:
		return pm_natpmp_provider_new(config, scheduler, error);
	}
	g_set_error(error, PM_ERROR, PM_ERROR_NOT_SUPPORTED, "provider type %d is not supported",
		    config->type);
	return NULL;
}

void
pm_provider_free(PmProvider *self)
{
	if (self == NULL)
		return;
	if (self->klass->finalize != NULL)
		self->klass->finalize(self);
	g_hash_table_unref(self->mappings);
	provider_config_free(self->config);
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

gboolean
pm_provider_check_mapping(PmProvider *self, PmMapping *mapping, GError **error)
{
	if (self->klass->check_mapping == NULL)
		return TRUE;
	return self->klass->check_mapping(self, mapping, error);
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

char *
pm_provider_get_gateway(PmProvider *self)
{
	if (self->klass->get_gateway == NULL)
		return g_strdup("");
	return self->klass->get_gateway(self);
}

const char *
pm_provider_state_to_string(PmProviderState state)
{
	static const char *const names[] = {"ready", "degraded", "failed"};
	return names[state];
}

const char *
pm_provider_type_to_string(PmProviderType type)
{
	switch (type) {
	case PM_PROVIDER_TYPE_NATPMP:
		return "natpmp";
	}
	return "unknown";
}
