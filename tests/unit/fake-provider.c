/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "errors.h"
#include "fake-provider.h"

typedef enum {
	OP_GRANT,   /* start or refresh of a mapping */
	OP_RELEASE, /* stop with release */
	OP_REFRESH_ALL,
} OpKind;

/* an answer on its way */
typedef struct {
	PmTimer timer;
	PmFakeProvider *provider;
	OpKind kind;
	PmMapping *mapping;
	PmProviderDoneFunc done;
	gpointer user_data;
} Op;

/* the provider's own data of a mapping it carries */
typedef struct {
	PmFakeProvider *provider;
	PmMapping *mapping;
	PmTimer renew_timer;
} MapData;

static GString *pm_fake_log;
static guint pm_fake_instances;
static guint pm_fake_alive;
static guint pm_fake_pending;

static PmFakeProvider *
fake_provider(PmProvider *provider)
{
	return (PmFakeProvider *)provider;
}

static const PmFakeConfig *
fake_config(PmFakeProvider *self)
{
	return self->parent.config->data;
}

static void G_GNUC_PRINTF(3, 4)
fake_log(PmFakeProvider *self, const char *what, const char *format, ...)
{
	va_list args;

	if (pm_fake_log == NULL)
		pm_fake_log = g_string_new(NULL);
	g_string_append_printf(pm_fake_log, "%s#%u %s", self->parent.name, self->instance, what);
	if (format != NULL) {
		g_string_append_c(pm_fake_log, ' ');
		va_start(args, format);
		g_string_append_vprintf(pm_fake_log, format, args);
		va_end(args);
	}
	g_string_append_c(pm_fake_log, '\n');
}

char *
pm_fake_log_take(void)
{
	if (pm_fake_log == NULL)
		return g_strdup("");
	return g_string_free(g_steal_pointer(&pm_fake_log), FALSE);
}

void
pm_fake_reset(void)
{
	g_assert_cmpuint(pm_fake_alive, ==, 0);
	g_assert_cmpuint(pm_fake_pending, ==, 0);
	pm_fake_instances = 0;
}

guint
pm_fake_get_n_pending(void)
{
	return pm_fake_pending;
}

guint
pm_fake_get_n_alive(void)
{
	return pm_fake_alive;
}

/* ---- answers ---- */

static void
op_free(Op *op)
{
	pm_scheduler_disarm(op->provider->parent.scheduler, &op->timer);
	g_free(op);
	pm_fake_pending--;
}

static void
grant(PmFakeProvider *self, PmMapping *m)
{
	MapData *d = m->provider_data;
	guint64 now = pm_scheduler_now(self->parent.scheduler);
	guint32 lifetime = fake_config(self)->lifetime;
	guint16 port = m->suggested_external_port;
	guint16 old = pm_mapping_get_external_port(m);

	if (port == 0)
		port = self->next_port++;
	for (guint p = 0; p < PM_PROTO_INDEX_COUNT; p++) {
		guint bit = p == PM_PROTO_INDEX_TCP ? PM_PROTOCOL_TCP : PM_PROTOCOL_UDP;
		if ((m->protocols & bit) == 0)
			continue;
		m->ports[p].internal_port = m->internal_port;
		m->ports[p].external_port = port;
		m->ports[p].lifetime = lifetime;
		m->ports[p].expires = now + (guint64)lifetime * G_USEC_PER_SEC;
	}
	m->suggested_external_port = port;
	self->grants++;
	pm_provider_state_changed(&self->parent);
	pm_mapping_set_last_error(m, NULL);
	pm_mapping_changed(m, PM_MAPPING_PROP_PORTS | PM_MAPPING_PROP_EXPIRES_AT |
				  PM_MAPPING_PROP_LIFETIME |
				  (old != port ? PM_MAPPING_PROP_EXTERNAL_PORT : 0));
	pm_mapping_set_state(m, PM_MAPPING_STATE_ACTIVE);
	pm_scheduler_arm(self->parent.scheduler, &d->renew_timer,
			 now + (guint64)lifetime * G_USEC_PER_SEC / 2);
	fake_log(self, "granted", "%s %u", m->name, port);
}

static void
op_timer_cb(PmTimer *timer, gpointer user_data)
{
	Op *op = user_data;
	PmFakeProvider *self = op->provider;
	PmProviderDoneFunc done = op->done;
	gpointer done_data = op->user_data;

	g_ptr_array_remove(self->operations, op);
	switch (op->kind) {
	case OP_GRANT:
		grant(self, op->mapping);
		break;
	case OP_RELEASE:
		fake_log(self, "released", "%s", op->mapping->name);
		break;
	case OP_REFRESH_ALL:
		fake_log(self, "refreshed-all", NULL);
		break;
	}
	op_free(op);
	if (done != NULL)
		done(done_data);
}

/* answered after Delay=, or never with Answer=no */
static void
op_add(PmFakeProvider *self, OpKind kind, PmMapping *mapping, PmProviderDoneFunc done,
       gpointer user_data)
{
	Op *op = g_new0(Op, 1);

	op->provider = self;
	op->kind = kind;
	op->mapping = mapping;
	op->done = done;
	op->user_data = user_data;
	pm_timer_init(&op->timer, op_timer_cb, op);
	g_ptr_array_add(self->operations, op);
	pm_fake_pending++;
	if (fake_config(self)->answer)
		pm_scheduler_arm(self->parent.scheduler, &op->timer,
				 pm_scheduler_now(self->parent.scheduler) +
				     fake_config(self)->delay_usec);
}

/* drop the grants and refreshes owed for @mapping (NULL: all); their callers are
 * answered, a release's is not */
static void
ops_drop(PmFakeProvider *self, PmMapping *mapping, gboolean drop_releases)
{
	g_autoptr(GPtrArray) answer = g_ptr_array_new();

	for (guint i = self->operations->len; i > 0; i--) {
		Op *op = g_ptr_array_index(self->operations, i - 1);
		if (mapping != NULL && op->mapping != mapping)
			continue;
		if (op->kind == OP_RELEASE && !drop_releases)
			continue;
		g_ptr_array_remove_index(self->operations, i - 1);
		if (op->kind != OP_RELEASE && op->done != NULL)
			g_ptr_array_add(answer, op);
		else
			op_free(op);
	}
	for (guint i = answer->len; i > 0; i--) {
		Op *op = g_ptr_array_index(answer, i - 1);
		PmProviderDoneFunc done = op->done;
		gpointer done_data = op->user_data;
		op_free(op);
		done(done_data);
	}
}

/* ---- the class ---- */

static void
renew_timer_cb(PmTimer *timer, gpointer user_data)
{
	MapData *d = user_data;
	fake_log(d->provider, "renew", "%s", d->mapping->name);
	op_add(d->provider, OP_GRANT, d->mapping, NULL, NULL);
}

static gboolean
fake_init(PmProvider *provider, GError **error)
{
	PmFakeProvider *self = fake_provider(provider);

	self->instance = ++pm_fake_instances;
	self->next_port = PM_FAKE_FIRST_PORT;
	self->operations = g_ptr_array_new();
	pm_fake_alive++;
	if (fake_config(self)->label != NULL)
		fake_log(self, "init", "%s", fake_config(self)->label);
	else
		fake_log(self, "init", NULL);
	return TRUE;
}

static void
fake_finalize(PmProvider *provider)
{
	PmFakeProvider *self = fake_provider(provider);
	GHashTableIter iter;
	gpointer key;

	fake_log(self, "finalize", NULL);
	/* the contract: refresh and RefreshAll callers are answered, releases are not */
	ops_drop(self, NULL, TRUE);
	g_ptr_array_unref(self->operations);
	g_hash_table_iter_init(&iter, provider->mappings);
	while (g_hash_table_iter_next(&iter, &key, NULL)) {
		PmMapping *m = key;
		MapData *d = m->provider_data;
		pm_scheduler_disarm(provider->scheduler, &d->renew_timer);
		g_free(d);
		m->provider_data = NULL;
	}
	pm_fake_alive--;
}

static gboolean
fake_check_mapping(const PmProviderConfig *config, const PmMapping *mapping, GPtrArray *others,
		   const PmMapping **blocker, GError **error)
{
	const PmFakeConfig *fake = config->data;

	if (fake->max_mappings == 0 || others->len < fake->max_mappings)
		return TRUE;
	*blocker = g_ptr_array_index(others, 0);
	g_set_error(error, PM_ERROR, PM_ERROR_ALREADY_MAPPED,
		    "provider %s carries %u mapping%s at most; mapping '%s' has it", config->name,
		    fake->max_mappings, fake->max_mappings == 1 ? "" : "s", (*blocker)->name);
	return FALSE;
}

static void
fake_start(PmProvider *provider, PmMapping *mapping)
{
	PmFakeProvider *self = fake_provider(provider);
	MapData *d = g_new0(MapData, 1);

	d->provider = self;
	d->mapping = mapping;
	pm_timer_init(&d->renew_timer, renew_timer_cb, d);
	mapping->provider_data = d;
	fake_log(self, "start", "%s %u", mapping->name, mapping->suggested_external_port);
	pm_mapping_set_state(mapping, PM_MAPPING_STATE_REQUESTING);
	op_add(self, OP_GRANT, mapping, NULL, NULL);
}

static void
fake_stop(PmProvider *provider, PmMapping *mapping, gboolean release, PmProviderDoneFunc done,
	  gpointer user_data)
{
	PmFakeProvider *self = fake_provider(provider);
	MapData *d = mapping->provider_data;

	fake_log(self, release ? "release" : "forget", "%s", mapping->name);
	if (d != NULL) {
		pm_scheduler_disarm(provider->scheduler, &d->renew_timer);
		g_free(d);
		mapping->provider_data = NULL;
	}
	ops_drop(self, mapping, FALSE);
	if (!release) {
		if (done != NULL)
			done(user_data);
		return;
	}
	op_add(self, OP_RELEASE, mapping, done, user_data);
}

static void
fake_refresh(PmProvider *provider, PmMapping *mapping, PmProviderDoneFunc done,
	     gpointer user_data)
{
	PmFakeProvider *self = fake_provider(provider);

	fake_log(self, "refresh", "%s", mapping->name);
	op_add(self, OP_GRANT, mapping, done, user_data);
}

static void
fake_refresh_all(PmProvider *provider, PmProviderDoneFunc done, gpointer user_data)
{
	PmFakeProvider *self = fake_provider(provider);

	fake_log(self, "refresh-all", NULL);
	op_add(self, OP_REFRESH_ALL, NULL, done, user_data);
}

static void
fake_resumed(PmProvider *provider)
{
	fake_log(fake_provider(provider), "resumed", NULL);
}

static void
fake_describe(PmProvider *provider, PmJsonWriter *writer)
{
	PmFakeProvider *self = fake_provider(provider);
	g_autofree char *gateway = g_strdup_printf("fake:%s", provider->name);

	pm_json_member_string(writer, "Gateway", gateway);
	pm_json_member_uint(writer, "Instance", self->instance);
}

static void
fake_state_save(PmProvider *provider, PmJsonWriter *writer)
{
	pm_json_member_uint(writer, "Grants", fake_provider(provider)->grants);
}

static void
fake_state_load(PmProvider *provider, JsonObject *section)
{
	PmFakeProvider *self = fake_provider(provider);

	self->grants = (guint)json_object_get_int_member_with_default(section, "Grants", 0);
	fake_log(self, "state-load", "%u", self->grants);
}

/* ---- configuration ---- */

static void
fake_config_free(PmFakeConfig *config)
{
	g_free(config->label);
	g_free(config);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(PmFakeConfig, fake_config_free)

static gpointer
fake_config_parse(PmConfigSection *section, GError **error)
{
	g_autoptr(PmFakeConfig) config = g_new0(PmFakeConfig, 1);
	GPtrArray *entries = pm_config_section_get_entries(section);

	config->answer = TRUE;
	for (guint i = 0; i < entries->len; i++) {
		const PmConfigEntry *entry = g_ptr_array_index(entries, i);

		if (g_strcmp0(entry->key, "Delay") == 0) {
			if (!pm_config_section_get_duration(section, entry, 0, &config->delay_usec,
							    error))
				return NULL;
		} else if (g_strcmp0(entry->key, "Answer") == 0) {
			if (!pm_config_section_get_boolean(section, entry, &config->answer, error))
				return NULL;
		} else if (g_strcmp0(entry->key, "Lifetime") == 0) {
			if (!pm_config_section_get_lifetime(section, entry, 1, &config->lifetime,
							    error))
				return NULL;
		} else if (g_strcmp0(entry->key, "MaxMappings") == 0) {
			guint64 value = 0;
			if (!g_ascii_string_to_unsigned(entry->value, 10, 0, 16, &value, NULL)) {
				pm_config_section_set_error(section, entry, "not a count",
							    "0 (any) to 16", error);
				return NULL;
			}
			config->max_mappings = (guint)value;
		} else if (g_strcmp0(entry->key, "Label") == 0) {
			g_free(config->label);
			config->label = g_strdup(entry->value);
		} else {
			pm_config_section_set_unknown_key_error(section, entry,
								"Delay, Answer, Lifetime, "
								"MaxMappings, Label",
								error);
			return NULL;
		}
	}
	return g_steal_pointer(&config);
}

/* a rule between two keys: an answer must come within the lease it renews */
static gboolean
fake_config_verify(gpointer data, PmConfigSection *section, GError **error)
{
	PmFakeConfig *config = data;

	if (config->lifetime == 0)
		config->lifetime = 60;
	if (config->delay_usec >= (guint64)config->lifetime * G_USEC_PER_SEC) {
		g_autofree char *accepted = g_strdup_printf("less than Lifetime=%u", config->lifetime);
		pm_config_section_set_key_error(section, "Delay", "0", "too long", accepted, error);
		return FALSE;
	}
	return TRUE;
}

static gboolean
fake_config_equal(gconstpointer a, gconstpointer b)
{
	const PmFakeConfig *x = a;
	const PmFakeConfig *y = b;

	return x->delay_usec == y->delay_usec && !x->answer == !y->answer &&
	       x->lifetime == y->lifetime && x->max_mappings == y->max_mappings &&
	       g_strcmp0(x->label, y->label) == 0;
}

static void
fake_config_print(gconstpointer data, GString *out)
{
	const PmFakeConfig *config = data;
	g_autofree char *delay =
	    config->delay_usec > 0 ? pm_duration_to_string(config->delay_usec) : g_strdup("0");

	g_string_append_printf(out, "Delay=%s\n", delay);
	g_string_append_printf(out, "Answer=%s\n", config->answer ? "yes" : "no");
	g_string_append_printf(out, "Lifetime=%u\n", config->lifetime);
	g_string_append_printf(out, "MaxMappings=%u\n", config->max_mappings);
	if (config->label != NULL)
		g_string_append_printf(out, "Label=%s\n", config->label);
}

const PmProviderClass pm_fake_provider_class = {
    .type = "fake",
    .object_size = sizeof(PmFakeProvider),
    .config_parse = fake_config_parse,
    .config_verify = fake_config_verify,
    .config_equal = fake_config_equal,
    .config_print = fake_config_print,
    .config_free = (GDestroyNotify)fake_config_free,
    .init = fake_init,
    .finalize = fake_finalize,
    .check_mapping = fake_check_mapping,
    .start = fake_start,
    .stop = fake_stop,
    .refresh = fake_refresh,
    .refresh_all = fake_refresh_all,
    .resumed = fake_resumed,
    .describe = fake_describe,
    .state_save = fake_state_save,
    .state_load = fake_state_load,
};

void
pm_fake_provider_register(void)
{
	if (pm_provider_class_lookup(pm_fake_provider_class.type) != NULL)
		return;
	pm_provider_registry_add_for_tests(&pm_fake_provider_class);
}
