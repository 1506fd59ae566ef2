/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * pm_config_load_from_data on any bytes: it fails with a PM_ERROR whose message is one
 * line of valid UTF-8 (it is logged and sent on the bus) starting with the file and a line
 * of the input (from the line locator, or the halving that finds GKeyFile's bad line), or
 * the configuration it loads prints (pm_config_to_data, what --print-config shows) as a
 * text that loads again to an equal configuration, and prints the same once more.
 * Everything is freed: LeakSanitizer checks that under -Dfuzzing=true. [Consumer NAME]
 * groups go through the test-only classes of tests/unit/fake-consumer.c (Type=fake,
 * fake-single, registered at start), so a class's keys, checks and printing are fuzzed as
 * the real ones will be.
 */
#include <string.h>

#include "config.h"
#include "consumer.h"
#include "control-plane-config.h"
#include "errors.h"
#include "fake-consumer.h"
#include "fuzz.h"
#include "stun-config.h"
#include "wireguard-config.h"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	pm_fuzz_init();
	pm_fake_consumer_register();
	return 0;
}

static void
pm_fuzz_config_check_equal(const PmConfig *a, const PmConfig *b)
{
	PM_FUZZ_CHECK(g_strcmp0(a->daemon.default_provider, b->daemon.default_provider) == 0);
	PM_FUZZ_CHECK(a->daemon.release_on_stop == b->daemon.release_on_stop);
	PM_FUZZ_CHECK(a->daemon.max_mappings_per_user == b->daemon.max_mappings_per_user);
	PM_FUZZ_CHECK(a->daemon.reconcile_interval_usec == b->daemon.reconcile_interval_usec);

	PM_FUZZ_CHECK(a->providers->len == b->providers->len);
	for (guint i = 0; i < a->providers->len; i++) {
		const PmProviderConfig *pa = g_ptr_array_index(a->providers, i);
		const PmProviderConfig *pb = g_ptr_array_index(b->providers, i);

		PM_FUZZ_CHECK(pm_provider_config_equal(pa, pb));
		PM_FUZZ_CHECK(pm_config_find_provider(b, pa->name) == pb);
	}
	PM_FUZZ_CHECK(a->consumers->len == b->consumers->len);
	for (guint i = 0; i < a->consumers->len; i++) {
		const PmConsumerConfig *ca = g_ptr_array_index(a->consumers, i);
		const PmConsumerConfig *cb = g_ptr_array_index(b->consumers, i);

		PM_FUZZ_CHECK(pm_consumer_config_equal(ca, cb));
		PM_FUZZ_CHECK(pm_config_find_consumer(b, ca->name) == cb);
	}
	PM_FUZZ_CHECK(a->mappings->len == b->mappings->len);
	for (guint i = 0; i < a->mappings->len; i++) {
		const PmMappingConfig *ma = g_ptr_array_index(a->mappings, i);
		const PmMappingConfig *mb = g_ptr_array_index(b->mappings, i);

		PM_FUZZ_CHECK(pm_mapping_config_equal(ma, mb));
		PM_FUZZ_CHECK(pm_config_find_mapping(b, ma->name) == mb);
		/* a loaded mapping always has a provider that exists, and consumers too */
		PM_FUZZ_CHECK(pm_config_find_provider(a, ma->provider) != NULL);
		for (guint j = 0; ma->consumers != NULL && ma->consumers[j] != NULL; j++)
			PM_FUZZ_CHECK(pm_config_find_consumer(a, ma->consumers[j]) != NULL);
	}
	PM_FUZZ_CHECK(pm_stun_config_equal(a->stun, b->stun));
	PM_FUZZ_CHECK(pm_control_plane_config_equal(a->control_plane, b->control_plane));
	PM_FUZZ_CHECK(pm_wireguard_config_equal(a->wireguard, b->wireguard));
	/* the groups' rules: each needs the one before it */
	PM_FUZZ_CHECK(a->control_plane == NULL || (a->stun != NULL && a->stun->enabled));
	PM_FUZZ_CHECK(a->wireguard == NULL || a->control_plane != NULL);
}

static gboolean
pm_fuzz_config_check_location(const char *message, const uint8_t *data, size_t size)
{
	const char *prefix = "fuzz.conf:";
	char *end = NULL;
	guint64 lineno;
	guint64 lines = 1;

	if (!g_str_has_prefix(message, prefix) || !g_ascii_isdigit(message[strlen(prefix)]))
		return FALSE;
	lineno = g_ascii_strtoull(message + strlen(prefix), &end, 10);
	for (size_t i = 0; i + 1 < size; i++)
		lines += data[i] == '\n';
	return lineno >= 1 && lineno <= lines && g_str_has_prefix(end, ": ");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(PmConfig) config = NULL;
	g_autoptr(PmConfig) again = NULL;
	g_autofree char *text = NULL;
	g_autofree char *text_again = NULL;

	config = pm_config_load_from_data((const char *)data, size, "fuzz.conf", &error);
	if (config == NULL) {
		PM_FUZZ_CHECK(error != NULL);
		PM_FUZZ_CHECK(error->domain == PM_ERROR);
		PM_FUZZ_CHECK(error->code == PM_ERROR_INVALID_CONFIGURATION);
		PM_FUZZ_CHECK(g_utf8_validate(error->message, -1, NULL));
		PM_FUZZ_CHECK(strchr(error->message, '\n') == NULL);
		/* errors start with the file and a line that exists: "fuzz.conf:LINE: " */
		PM_FUZZ_CHECK(pm_fuzz_config_check_location(error->message, data, size));
		return 0;
	}
	PM_FUZZ_CHECK(error == NULL);
	for (guint i = 0; i < config->warnings->len; i++)
		PM_FUZZ_CHECK(g_utf8_validate(g_ptr_array_index(config->warnings, i), -1, NULL));

	text = pm_config_to_data(config);
	PM_FUZZ_CHECK(text != NULL);
	again = pm_config_load_from_data(text, strlen(text), "printed.conf", &error);
	if (again == NULL) {
		fprintf(stderr,
			"the printed configuration does not load: %s\n----\n%s----\n",
			error->message,
			text);
		abort();
	}
	pm_fuzz_config_check_equal(config, again);

	text_again = pm_config_to_data(again);
	if (g_strcmp0(text, text_again) != 0) {
		fprintf(stderr,
			"printing is not stable:\n----\n%s----\n%s----\n",
			text,
			text_again);
		abort();
	}
	return 0;
}
