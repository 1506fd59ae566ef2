/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "consumer.h"
#include "errors.h"
#include "fake-consumer.h"

typedef struct {
	PmConsumerConfig parent;
	char *path;
	gboolean fail;
	guint64 delay_usec;
} PmFakeConsumerConfig;

typedef struct _PmFakeReport PmFakeReport;

typedef struct {
	PmConsumer parent;
	GPtrArray *reports; /* of PmFakeReport *, waiting for their Delay= */
} PmFakeConsumer;

struct _PmFakeReport {
	PmTimer timer;
	PmFakeConsumer *consumer;
	guint64 mapping_id;
};

static GPtrArray *pm_fake_log;
static guint pm_fake_n_objects;

char *
pm_fake_consumer_take_log(void)
{
	g_autoptr(GPtrArray) log = g_steal_pointer(&pm_fake_log);
	if (log == NULL)
		return g_strdup("");
	g_ptr_array_add(log, NULL);
	return g_strjoinv("; ", (char **)log->pdata);
}

void
pm_fake_consumer_clear_log(void)
{
	g_clear_pointer(&pm_fake_log, g_ptr_array_unref);
}

guint
pm_fake_consumer_get_n_objects(void)
{
	return pm_fake_n_objects;
}

static void
pm_fake_append_ports(GString *str, const PmMappingPorts *ports)
{
	for (guint i = 0; i < ports->n_ports; i++) {
		const PmPortPair *pair = &ports->ports[i];
		g_string_append_printf(str,
				       " %s:%u:%u",
				       pm_protocol_to_string(pair->protocol),
				       pair->internal_port,
				       pair->external_port);
	}
}

static void
pm_fake_record(PmConsumer *self,
	       const char *what,
	       const PmMappingView *mapping,
	       const PmMappingPorts *ports,
	       const PmMappingPorts *previous)
{
	GString *str = g_string_new(NULL);

	g_string_append_printf(str, "%s %s %s", self->name, what, mapping->name);
	pm_fake_append_ports(str, ports);
	/* what the mapping is now, which a down is not about */
	if (g_strcmp0(what, "down") != 0 && mapping->external_address[0] != '\0')
		g_string_append_printf(str, " @%s", mapping->external_address);
	if (previous != NULL) {
		g_string_append(str, " was");
		pm_fake_append_ports(str, previous);
	}
	if (pm_fake_log == NULL)
		pm_fake_log = g_ptr_array_new_with_free_func(g_free);
	g_ptr_array_add(pm_fake_log, g_string_free(str, FALSE));
}

static void
pm_fake_report_now(PmConsumer *self, guint64 mapping_id)
{
	PmFakeConsumerConfig *config = (PmFakeConsumerConfig *)self->config;
	if (config->fail)
		pm_consumer_report(self,
				   mapping_id,
				   PM_CONSUMER_STATE_FAILED,
				   "Refused: the fake consumer was told to fail");
	else
		pm_consumer_report(self, mapping_id, PM_CONSUMER_STATE_OK, NULL);
}

static void
pm_fake_report_cb(PmTimer *timer, gpointer user_data)
{
	PmFakeReport *report = user_data;
	PmFakeConsumer *self = report->consumer;

	g_ptr_array_remove(self->reports, report);
	pm_fake_report_now(&self->parent, report->mapping_id);
	g_free(report);
}

/* fire-and-forget: the outcome comes at once, or after Delay= like a slow HTTP answer */
static void
pm_fake_deliver(PmConsumer *consumer, guint64 mapping_id)
{
	PmFakeConsumer *self = (PmFakeConsumer *)consumer;
	PmFakeConsumerConfig *config = (PmFakeConsumerConfig *)consumer->config;
	PmFakeReport *report;

	if (config->delay_usec == 0) {
		pm_fake_report_now(consumer, mapping_id);
		return;
	}
	report = g_new0(PmFakeReport, 1);
	report->consumer = self;
	report->mapping_id = mapping_id;
	pm_timer_init(&report->timer, pm_fake_report_cb, report);
	g_ptr_array_add(self->reports, report);
	pm_scheduler_arm(consumer->scheduler,
			 &report->timer,
			 pm_scheduler_now(consumer->scheduler) + config->delay_usec);
}

static void
pm_fake_mapping_up(PmConsumer *self,
		   const PmMappingView *mapping,
		   const PmMappingPorts *ports,
		   PmConsumerPush push)
{
	const char *what[] = {"up(grant)", "up(reconcile)", "up(retry)"};
	pm_fake_record(self, what[push], mapping, ports, NULL);
	pm_fake_deliver(self, mapping->id);
}

static void
pm_fake_mapping_changed(PmConsumer *self,
			const PmMappingView *mapping,
			const PmMappingPorts *ports,
			const PmMappingPorts *previous)
{
	pm_fake_record(self, "changed", mapping, ports, previous);
	pm_fake_deliver(self, mapping->id);
}

static void
pm_fake_mapping_down(PmConsumer *self, const PmMappingView *mapping, const PmMappingPorts *ports)
{
	pm_fake_record(self, "down", mapping, ports, NULL);
	pm_fake_deliver(self, mapping->id);
}

static gboolean
pm_fake_init(PmConsumer *consumer, GError **error)
{
	PmFakeConsumer *self = (PmFakeConsumer *)consumer;
	self->reports = g_ptr_array_new();
	pm_fake_n_objects++;
	return TRUE;
}

static void
pm_fake_finalize(PmConsumer *consumer)
{
	PmFakeConsumer *self = (PmFakeConsumer *)consumer;
	for (guint i = 0; i < self->reports->len; i++) {
		PmFakeReport *report = g_ptr_array_index(self->reports, i);
		pm_scheduler_disarm(consumer->scheduler, &report->timer);
		g_free(report);
	}
	g_ptr_array_unref(self->reports);
	pm_fake_n_objects--;
}

static void
pm_fake_describe(PmConsumer *self, PmJsonWriter *writer)
{
	PmFakeConsumerConfig *config = (PmFakeConsumerConfig *)self->config;
	pm_json_member_string(writer, "Path", config->path);
}

static const PmConfigKey pm_fake_keys[] = {
    {"Path", pm_config_parse_string, G_STRUCT_OFFSET(PmFakeConsumerConfig, path)},
    {"Fail", pm_config_parse_boolean, G_STRUCT_OFFSET(PmFakeConsumerConfig, fail)},
    {"Delay", pm_config_parse_duration, G_STRUCT_OFFSET(PmFakeConsumerConfig, delay_usec)},
    {NULL},
};

static gboolean
pm_fake_config_verify(PmConsumerConfig *consumer, PmConfigSection *section, GError **error)
{
	PmFakeConsumerConfig *config = (PmFakeConsumerConfig *)consumer;

	if (config->path == NULL) {
		config->path = g_strdup_printf("/run/portmap/%s.fake", consumer->name);
		return TRUE;
	}
	if (!g_path_is_absolute(config->path)) {
		pm_config_section_set_error(section,
					    pm_config_section_lookup(section, "Path"),
					    "not an absolute path",
					    "a path starting with /",
					    error);
		return FALSE;
	}
	return TRUE;
}

static gboolean
pm_fake_config_equal(const PmConsumerConfig *a, const PmConsumerConfig *b)
{
	const PmFakeConsumerConfig *fa = (const PmFakeConsumerConfig *)a;
	const PmFakeConsumerConfig *fb = (const PmFakeConsumerConfig *)b;
	return g_strcmp0(fa->path, fb->path) == 0 && !fa->fail == !fb->fail &&
	       fa->delay_usec == fb->delay_usec;
}

static void
pm_fake_config_print(const PmConsumerConfig *consumer, GString *out)
{
	const PmFakeConsumerConfig *config = (const PmFakeConsumerConfig *)consumer;
	pm_config_print_string(out, "Path", config->path);
	g_string_append_printf(out, "Fail=%s\n", config->fail ? "yes" : "no");
	g_string_append_printf(out, "Delay=%" G_GUINT64_FORMAT "us\n", config->delay_usec);
}

static void
pm_fake_config_free(PmConsumerConfig *consumer)
{
	PmFakeConsumerConfig *config = (PmFakeConsumerConfig *)consumer;
	g_free(config->path);
}

#define PM_FAKE_CLASS_COMMON                                                                     \
	.config_size = sizeof(PmFakeConsumerConfig), .object_size = sizeof(PmFakeConsumer),      \
	.config_keys = pm_fake_keys, .config_verify = pm_fake_config_verify,                     \
	.config_equal = pm_fake_config_equal, .config_print = pm_fake_config_print,              \
	.config_free = pm_fake_config_free, .init = pm_fake_init, .finalize = pm_fake_finalize,  \
	.mapping_up = pm_fake_mapping_up, .mapping_changed = pm_fake_mapping_changed,            \
	.mapping_down = pm_fake_mapping_down, .describe = pm_fake_describe

static const PmConsumerClass pm_fake_consumer_class = {
    .type = "fake",
    PM_FAKE_CLASS_COMMON,
};

/* a torrent client's shape: one mapping's port */
static const PmConsumerClass pm_fake_single_consumer_class = {
    .type = "fake-single",
    .single_mapping = TRUE,
    PM_FAKE_CLASS_COMMON,
};

void
pm_fake_consumer_register(void)
{
	if (pm_consumer_class_find(pm_fake_consumer_class.type) != NULL)
		return;
	pm_consumer_registry_add_for_tests(&pm_fake_consumer_class);
	pm_consumer_registry_add_for_tests(&pm_fake_single_consumer_class);
}
