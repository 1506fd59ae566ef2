/* SPDX-License-Identifier: GPL-2.0-or-later */

#include <string.h>

#include "class-table.h"
#include "consumer.h"
#include "deluge.h"
#include "exec.h"
#include "portfile.h"
#include "qbittorrent.h"
#include "transmission.h"
#include "webhook.h"

/*
 * The table of consumer classes: a new Type= is one file and one line here. The types of
 * design §6 that no class implements yet are known, so that they are refused as "not
 * supported by this version of portmapd yet" rather than as unknown; each moves into the
 * table when its class lands.
 *
 * Tests add their classes (tests/unit/fake-consumer.c) with
 * pm_consumer_registry_add_for_tests(), as they do provider classes: they go through the
 * same lookups, so the parsing, the errors and the manager's calls they check are those of
 * every class.
 */

static const void *const pm_consumer_classes[] = {
    &pm_portfile_consumer_class,
    &pm_webhook_consumer_class,
    &pm_exec_consumer_class,
    &pm_qbittorrent_consumer_class,
    &pm_transmission_consumer_class,
    &pm_deluge_consumer_class,
    NULL,
};

/* classes that only tests define */
static const void *pm_consumer_test_classes[4];

static const char *const pm_consumer_planned_types[] = {
    NULL,
};

static const PmClassTable pm_consumer_table = {
    .classes = pm_consumer_classes,
    .test_classes = pm_consumer_test_classes,
    .n_test_classes = G_N_ELEMENTS(pm_consumer_test_classes),
    .planned = pm_consumer_planned_types,
};

G_STATIC_ASSERT(G_STRUCT_OFFSET(PmConsumerClass, type) == 0);

const PmConsumerClass *
pm_consumer_class_find(const char *type)
{
	return pm_class_table_lookup(&pm_consumer_table, type);
}

void
pm_consumer_registry_add_for_tests(const PmConsumerClass *klass)
{
	pm_class_table_add_for_tests(&pm_consumer_table, klass);
}

gboolean
pm_consumer_type_is_planned(const char *type)
{
	return pm_class_table_is_planned(&pm_consumer_table, type);
}

char *
pm_consumer_class_list_types(void)
{
	g_autofree char *types = pm_class_table_list_types(&pm_consumer_table, ", ", FALSE);

	return types[0] != '\0' ? g_steal_pointer(&types) : NULL;
}

char *
pm_consumer_class_list_known_types(void)
{
	return pm_class_table_list_types(&pm_consumer_table, ", ", TRUE);
}

/* configuration */

PmConsumerConfig *
pm_consumer_config_parse(const PmConsumerClass *klass, PmConfigSection *section, GError **error)
{
	g_autoptr(PmConsumerConfig) config = NULL;

	g_return_val_if_fail(klass->config_size >= sizeof(PmConsumerConfig), NULL);

	config = g_malloc0(klass->config_size);
	config->klass = klass;
	config->name = g_strdup(pm_config_section_get_name(section));
	g_ref_count_init(&config->ref_count);
	if (!pm_config_section_parse_keys(section, klass->config_keys, config, error))
		return NULL;
	if (klass->config_verify != NULL && !klass->config_verify(config, section, error))
		return NULL;
	return g_steal_pointer(&config);
}

PmConsumerConfig *
pm_consumer_config_ref(PmConsumerConfig *self)
{
	g_ref_count_inc(&self->ref_count);
	return self;
}

void
pm_consumer_config_unref(PmConsumerConfig *self)
{
	if (self == NULL || !g_ref_count_dec(&self->ref_count))
		return;
	if (self->klass->config_free != NULL)
		self->klass->config_free(self);
	g_free(self->name);
	g_free(self);
}

gboolean
pm_consumer_config_equal(const PmConsumerConfig *a, const PmConsumerConfig *b)
{
	if (a == b)
		return TRUE;
	if (a == NULL || b == NULL)
		return FALSE;
	if (a->klass != b->klass || g_strcmp0(a->name, b->name) != 0)
		return FALSE;
	return a->klass->config_equal == NULL || a->klass->config_equal(a, b);
}

void
pm_consumer_config_print(const PmConsumerConfig *self, GString *out)
{
	g_string_append_printf(out, "[Consumer %s]\nType=%s\n", self->name, self->klass->type);
	if (self->klass->config_print != NULL)
		self->klass->config_print(self, out);
}

/* objects */

PmConsumer *
pm_consumer_new(PmContext *context, PmConsumerConfig *config, GError **error)
{
	const PmConsumerClass *klass = config->klass;
	PmConsumer *self;

	g_return_val_if_fail(klass->object_size >= sizeof(PmConsumer), NULL);

	self = g_malloc0(klass->object_size);
	self->klass = klass;
	self->config = pm_consumer_config_ref(config);
	self->name = config->name;
	self->context = context;
	self->scheduler = pm_context_get_scheduler(context);
	g_ref_count_init(&self->ref_count);
	/* finalize is for objects that init made: a failed init cleans up after itself */
	if (klass->init != NULL && !klass->init(self, error)) {
		pm_consumer_config_unref(self->config);
		g_free(self);
		return NULL;
	}
	return self;
}

PmConsumer *
pm_consumer_ref(PmConsumer *self)
{
	g_ref_count_inc(&self->ref_count);
	return self;
}

void
pm_consumer_unref(PmConsumer *self)
{
	if (self == NULL || !g_ref_count_dec(&self->ref_count))
		return;
	if (self->klass->finalize != NULL)
		self->klass->finalize(self);
	pm_consumer_config_unref(self->config);
	g_free(self);
}

void
pm_consumer_set_report_func(PmConsumer *self, PmConsumerReportFunc func, gpointer user_data)
{
	self->report_func = func;
	self->report_data = user_data;
}

void
pm_consumer_mapping_up(PmConsumer *self,
		       const PmMappingView *mapping,
		       const PmMappingPorts *ports,
		       PmConsumerPush push)
{
	if (self->klass->mapping_up != NULL)
		self->klass->mapping_up(self, mapping, ports, push);
	else
		pm_consumer_report(self, mapping->id, PM_CONSUMER_STATE_OK, NULL);
}

void
pm_consumer_mapping_changed(PmConsumer *self,
			    const PmMappingView *mapping,
			    const PmMappingPorts *ports,
			    const PmMappingPorts *previous)
{
	/* a class that does nothing special on a change is told the new ports as a grant */
	if (self->klass->mapping_changed != NULL)
		self->klass->mapping_changed(self, mapping, ports, previous);
	else
		pm_consumer_mapping_up(self, mapping, ports, PM_CONSUMER_PUSH_GRANT);
}

void
pm_consumer_mapping_down(PmConsumer *self, const PmMappingView *mapping, const PmMappingPorts *ports)
{
	if (self->klass->mapping_down != NULL)
		self->klass->mapping_down(self, mapping, ports);
	else
		pm_consumer_report(self, mapping->id, PM_CONSUMER_STATE_OK, NULL);
}

void
pm_consumer_describe(PmConsumer *self, PmJsonWriter *writer)
{
	pm_json_begin_object(writer);
	pm_json_member_string(writer, "Name", self->name);
	pm_json_member_string(writer, "Type", self->klass->type);
	if (self->klass->describe != NULL)
		self->klass->describe(self, writer);
	pm_json_end_object(writer);
}

void
pm_consumer_report(PmConsumer *self, guint64 mapping_id, PmConsumerState state, const char *last_error)
{
	if (self->report_func != NULL)
		self->report_func(self, mapping_id, state, last_error, self->report_data);
}

const char *
pm_consumer_state_to_string(PmConsumerState state)
{
	static const char *const names[] = {"ok", "pending", "failed"};
	return names[state];
}

/* bindings */

PmConsumerBinding *
pm_consumer_binding_new(PmConsumer *consumer)
{
	PmConsumerBinding *self = g_new0(PmConsumerBinding, 1);
	self->consumer = pm_consumer_ref(consumer);
	self->state = PM_CONSUMER_STATE_PENDING;
	return self;
}

void
pm_consumer_binding_free(PmConsumerBinding *self)
{
	if (self == NULL)
		return;
	pm_consumer_unref(self->consumer);
	g_free(self->last_error);
	g_free(self);
}
