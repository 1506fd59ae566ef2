/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The manager on virtual time with the fake provider class (fake-provider.h), registered
 * through the same table as NAT-PMP: RefreshAll coalescing, resume, the bound on stop,
 * ReleaseOnStop=, Reload, a provider change with calls in flight, the class hooks the
 * manager asks (check_mapping, state sections, Describe()). The fake logs every call it
 * gets, so each test compares what the providers were asked with what should be.
 */
#include <glib/gstdio.h>
#include <string.h>

#include "errors.h"
#include "fake-provider.h"
#include "manager-harness.h"
#include "test-log.h"

#define USEC_PER_SEC G_GUINT64_CONSTANT(1000000)
#define T0	     (1000 * USEC_PER_SEC)
#define REALTIME0    (G_GUINT64_CONSTANT(1700000000) * USEC_PER_SEC)
/* an instant in seconds after the manager started */
#define S(x) (T0 + (guint64)((x) * (double)USEC_PER_SEC))

/* the manager under test (manager-harness.h) */
typedef PmTestManager Fixture;

typedef struct {
	Fixture *f;
	guint count;
	guint64 at;
} Done;

static PmConfig *
config_load(const char *text)
{
	g_autoptr(GError) error = NULL;
	PmConfig *config = pm_config_load_from_data(text, strlen(text), "test.conf", &error);

	g_assert_no_error(error);
	g_assert_nonnull(config);
	return config;
}

/* a manager started with @text, keeping its state in @state_dir (NULL: a new one) */
static Fixture *
fixture_new_in(const char *state_dir, const char *text)
{
	Fixture *f;

	pm_test_log_clear();
	g_free(pm_fake_log_take());
	f = pm_test_manager_new_unstarted_full(T0, state_dir);
	pm_test_manager_start(f, text);
	return f;
}

static Fixture *
fixture_new(const char *text)
{
	return fixture_new_in(NULL, text);
}

/* everything freed; with @keep_state the state directory stays for another fixture */
static void
fixture_free_full(Fixture *f, gboolean keep_state)
{
	f->keep_state_dir = keep_state;
	pm_test_manager_free(f);
}

static void
fixture_free(Fixture *f)
{
	fixture_free_full(f, FALSE);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(Fixture, fixture_free)

static guint64
now(Fixture *f)
{
	return pm_scheduler_now(f->scheduler);
}

static void
advance_to(Fixture *f, guint64 at)
{
	g_assert_cmpuint(at, >=, now(f));
	pm_scheduler_advance(f->scheduler, at - now(f));
}

static void
done_cb(gpointer user_data)
{
	Done *d = user_data;
	d->count++;
	d->at = now(d->f);
}

/* what the fake providers were asked since the last check, in order */
static void
assert_log(const char *expected)
{
	g_autofree char *log = pm_fake_log_take();
	g_assert_cmpstr(log, ==, expected);
}

static PmMapping *
lookup(Fixture *f, const char *name)
{
	PmMapping *m = pm_manager_lookup_name(f->manager, name);
	g_assert_nonnull(m);
	return m;
}

static PmMapping *
add_bus(Fixture *f, const char *provider, const char *name, guint16 port, PmScope scope)
{
	g_autoptr(GError) error = NULL;
	PmAddRequest request = {
	    .provider = provider,
	    .protocols = PM_PROTOCOL_TCP,
	    .internal_port = port,
	    .scope = scope,
	    .name = name,
	    .owner_uid = 1000,
	    .owner = ":1.42",
	};
	PmMapping *m = pm_manager_add_mapping(f->manager, &request, &error);

	g_assert_no_error(error);
	g_assert_nonnull(m);
	return m;
}

static gboolean
reload(Fixture *f, const char *text, GError **error)
{
	return pm_manager_reload(f->manager, config_load(text), error);
}

static char *
read_state(Fixture *f)
{
	g_autofree char *path = g_build_filename(f->state_dir, "state.json", NULL);
	g_autoptr(GError) error = NULL;
	char *text = NULL;

	g_assert_true(g_file_get_contents(path, &text, NULL, &error));
	g_assert_no_error(error);
	return text;
}

/* ---- RefreshAll ---- */

#define TWO_PROVIDERS                                                                            \
	"[Provider a]\nType=fake\nDelay=3s\nLifetime=1h\n"                                       \
	"[Provider b]\nType=fake\nDelay=1s\nLifetime=1h\n"                                       \
	"[Mapping m]\nProvider=a\nProtocols=tcp\nInternalPort=8080\n"

/* one run at a time; calls within 10 s of a run's start share one trailing run at that
 * start + 10 s; each caller is answered once, when the run it joined ends */
static void
test_refresh_all_coalesced(void)
{
	g_autoptr(Fixture) f = fixture_new(TWO_PROVIDERS);
	Done w1 = {f}, w2 = {f}, w3 = {f}, w4 = {f}, w5 = {f};

	advance_to(f, S(3));
	assert_log("a#1 init\nb#2 init\na#1 start m 8080\na#1 granted m 8080\n");

	/* nothing ran yet: at once, at every provider */
	advance_to(f, S(5));
	pm_manager_refresh_all(f->manager, done_cb, &w1);
	assert_log("a#1 refresh-all\nb#2 refresh-all\n");
	advance_to(f, S(6));
	assert_log("b#2 refreshed-all\n");
	g_assert_cmpuint(w1.count, ==, 0);

	/* while it runs: one trailing run at 5 + 10 s for both callers */
	pm_manager_refresh_all(f->manager, done_cb, &w2);
	advance_to(f, S(7));
	pm_manager_refresh_all(f->manager, done_cb, &w3);
	advance_to(f, S(8));
	assert_log("a#1 refreshed-all\n");
	g_assert_cmpuint(w1.count, ==, 1);
	g_assert_cmpuint(w1.at, ==, S(8));
	g_assert_cmpuint(w2.count, ==, 0);
	g_assert_cmpuint(w3.count, ==, 0);
	advance_to(f, S(14.9));
	assert_log("");
	advance_to(f, S(15));
	assert_log("a#1 refresh-all\nb#2 refresh-all\n");
	advance_to(f, S(18));
	assert_log("b#2 refreshed-all\na#1 refreshed-all\n");
	g_assert_cmpuint(w2.count, ==, 1);
	g_assert_cmpuint(w3.count, ==, 1);
	g_assert_cmpuint(w2.at, ==, S(18));
	g_assert_cmpuint(w3.at, ==, S(18));

	/* after the run, still within 10 s of its start: trailing at 25 */
	advance_to(f, S(20));
	pm_manager_refresh_all(f->manager, done_cb, &w4);
	assert_log("");
	advance_to(f, S(24.9));
	assert_log("");
	advance_to(f, S(28));
	assert_log("a#1 refresh-all\nb#2 refresh-all\nb#2 refreshed-all\na#1 refreshed-all\n");
	g_assert_cmpuint(w4.count, ==, 1);
	g_assert_cmpuint(w4.at, ==, S(28));

	/* 10 s after the last start: at once */
	advance_to(f, S(35));
	pm_manager_refresh_all(f->manager, done_cb, &w5);
	assert_log("a#1 refresh-all\nb#2 refresh-all\n");
	advance_to(f, S(38));
	g_assert_cmpuint(w5.count, ==, 1);
	g_assert_cmpuint(w5.at, ==, S(38));
	/* nobody was answered twice */
	g_assert_cmpuint(w1.count + w2.count + w3.count + w4.count, ==, 4);
	assert_log("b#2 refreshed-all\na#1 refreshed-all\n");
}

/* a run longer than 10 s: the trailing run waits for it, then starts at once */
static void
test_refresh_all_one_at_a_time(void)
{
	g_autoptr(Fixture) f = fixture_new("[Provider slow]\nType=fake\nDelay=12s\nLifetime=1h\n");
	Done w1 = {f}, w2 = {f}, w3 = {f};

	assert_log("slow#1 init\n");
	pm_manager_refresh_all(f->manager, done_cb, &w1);
	advance_to(f, S(1));
	pm_manager_refresh_all(f->manager, done_cb, &w2);
	advance_to(f, S(11.9));
	assert_log("slow#1 refresh-all\n");
	g_assert_cmpuint(w1.count, ==, 0);
	advance_to(f, S(12));
	assert_log("slow#1 refreshed-all\nslow#1 refresh-all\n");
	g_assert_cmpuint(w1.count, ==, 1);
	g_assert_cmpuint(w2.count, ==, 0);
	/* a caller during the trailing run waits for the next one: 10 s after that run's
	 * start, or when it ends if that is later */
	pm_manager_refresh_all(f->manager, done_cb, &w3);
	advance_to(f, S(24));
	assert_log("slow#1 refreshed-all\nslow#1 refresh-all\n");
	g_assert_cmpuint(w2.count, ==, 1);
	g_assert_cmpuint(w2.at, ==, S(24));
	g_assert_cmpuint(w3.count, ==, 0);
	advance_to(f, S(36));
	g_assert_cmpuint(w3.count, ==, 1);
	assert_log("slow#1 refreshed-all\n");
}

/* callers of a run that will not happen are answered when the manager goes */
static void
test_refresh_all_answered_at_exit(void)
{
	Fixture *f = fixture_new("[Provider p]\nType=fake\nAnswer=no\n");
	Done w1 = {f}, w2 = {f};

	pm_manager_refresh_all(f->manager, done_cb, &w1);
	pm_manager_refresh_all(f->manager, done_cb, &w2);
	advance_to(f, S(5));
	g_assert_cmpuint(w1.count + w2.count, ==, 0);
	fixture_free(f);
	g_assert_cmpuint(w1.count, ==, 1);
	g_assert_cmpuint(w2.count, ==, 1);
}

/* ---- resume ---- */

static void
test_resumed(void)
{
	g_autoptr(Fixture) f = fixture_new("[Provider a]\nType=fake\nLifetime=60\n"
					   "[Provider idle]\nType=fake\n"
					   "[Mapping m]\nProvider=a\nProtocols=tcp\nInternalPort=8080\n");
	PmMapping *m = lookup(f, "m");

	advance_to(f, S(1));
	assert_log("a#1 init\nidle#2 init\na#1 start m 8080\na#1 granted m 8080\n");
	g_assert_cmpuint(pm_mapping_get_expires(m), ==, S(60));

	/* an hour asleep: the renewal due at 30 s fires on wake-up (CLOCK_BOOTTIME), then
	 * every provider, the one without mappings too, re-checks its leases */
	pm_scheduler_jump(f->scheduler, 3600 * USEC_PER_SEC);
	assert_log("a#1 renew m\na#1 granted m 8080\n");
	g_assert_cmpuint(pm_mapping_get_expires(m), ==, S(3601) + 60 * USEC_PER_SEC);
	pm_manager_resumed(f->manager);
	assert_log("a#1 resumed\nidle#2 resumed\n");
	g_assert_cmpint(m->state, ==, PM_MAPPING_STATE_ACTIVE);
}

/* ---- stop ---- */

/* a provider that never answers its releases: the stop ends at 4.5 s, within the 5 s */
static void
test_stop_bounded(void)
{
	Fixture *f = fixture_new("[Daemon]\nReleaseOnStop=all\n"
				 "[Provider silent]\nType=fake\nAnswer=no\n"
				 "[Mapping m]\nProvider=silent\nProtocols=tcp\nInternalPort=8080\n");
	Done stopped = {f};

	advance_to(f, S(2));
	assert_log("silent#1 init\nsilent#1 start m 8080\n");
	pm_manager_stop(f->manager, done_cb, &stopped);
	assert_log("silent#1 release m\n");
	advance_to(f, S(2) + PM_MANAGER_STOP_TIMEOUT_USEC - 1);
	g_assert_cmpuint(stopped.count, ==, 0);
	pm_test_assert_no_warnings();
	advance_to(f, S(2) + PM_MANAGER_STOP_TIMEOUT_USEC);
	g_assert_cmpuint(stopped.count, ==, 1);
	g_assert_cmpuint(stopped.at - S(2), <=, 5 * USEC_PER_SEC);
	pm_test_assert_warning("stopping took too long: exiting with 1 deletion still unanswered");
	/* the release it dropped never calls back, not even when its provider goes */
	advance_to(f, S(60));
	fixture_free(f);
	g_assert_cmpuint(stopped.count, ==, 1);
	assert_log("silent#1 finalize\n");
}

/* answered releases end the stop at once; with nothing to release, before it returns */
static void
test_stop_prompt(void)
{
	g_autoptr(Fixture) f = fixture_new("[Daemon]\nReleaseOnStop=all\n"
					   "[Provider p]\nType=fake\nDelay=1s\n"
					   "[Mapping m]\nProvider=p\nProtocols=tcp\nInternalPort=8080\n");
	g_autoptr(Fixture) g = NULL;
	Done stopped = {f};
	Done nothing = {NULL};

	advance_to(f, S(1));
	pm_manager_stop(f->manager, done_cb, &stopped);
	advance_to(f, S(1.9));
	g_assert_cmpuint(stopped.count, ==, 0);
	advance_to(f, S(2));
	g_assert_cmpuint(stopped.count, ==, 1);
	advance_to(f, S(10));
	g_assert_cmpuint(stopped.count, ==, 1);
	pm_test_assert_no_warnings();
	g_clear_pointer(&f, fixture_free);

	g = fixture_new("[Daemon]\nReleaseOnStop=none\n[Provider p]\nType=fake\n"
			"[Mapping m]\nProvider=p\nProtocols=tcp\nInternalPort=8080\n");
	nothing.f = g;
	pm_manager_stop(g->manager, done_cb, &nothing);
	g_assert_cmpuint(nothing.count, ==, 1);
	g_assert_cmpuint(nothing.at, ==, S(0));
}

/* which mappings the provider is asked to release, per [Daemon] ReleaseOnStop= */
static void
test_release_on_stop(void)
{
	const struct {
		const char *policy;
		const char *released;
	} cases[] = {
	    {"transient", "p#1 release cl\np#1 release rt\n"},
	    {"all", "p#1 release c\np#1 release cl\np#1 release rt\np#1 release ps\n"},
	    {"none", ""},
	};

	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autofree char *text = g_strdup_printf("[Daemon]\nReleaseOnStop=%s\n"
							"[Provider p]\nType=fake\nLifetime=1h\n"
							"[Mapping c]\nProtocols=tcp\n"
							"InternalPort=8080\n",
							cases[i].policy);
		g_autoptr(Fixture) f = fixture_new(text);
		g_autofree char *state = NULL;
		Done stopped = {f};

		add_bus(f, "p", "cl", 9001, PM_SCOPE_CLIENT);
		add_bus(f, "", "rt", 9002, PM_SCOPE_RUNTIME);
		add_bus(f, "p", "ps", 9003, PM_SCOPE_PERSISTENT);
		advance_to(f, S(1));
		g_free(pm_fake_log_take());
		g_assert_cmpint(lookup(f, "ps")->state, ==, PM_MAPPING_STATE_ACTIVE);

		pm_manager_stop(f->manager, done_cb, &stopped);
		assert_log(cases[i].released);
		advance_to(f, S(2));
		g_assert_cmpuint(stopped.count, ==, 1);
		/* what a restart needs stays in the state file, released or not */
		state = read_state(f);
		g_assert_nonnull(strstr(state, "\"c\""));
		g_assert_nonnull(strstr(state, "\"ps\""));
		g_assert_null(strstr(state, "\"rt\""));
		g_free(pm_fake_log_take());
	}
}

/* ---- Reload ---- */

#define RELOAD_BASE                                                                              \
	"[Provider p]\nType=fake\nLifetime=1h\n"                                                 \
	"[Provider q]\nType=fake\nDelay=2s\nLifetime=1h\n"                                       \
	"[Daemon]\nDefaultProvider=p\n"

static void
test_reload(void)
{
	g_autoptr(Fixture) f = fixture_new(RELOAD_BASE
					   "[Mapping a]\nProtocols=tcp\nInternalPort=8080\n"
					   "ExternalPort=50000\n"
					   "[Mapping b]\nProtocols=tcp\nInternalPort=8081\n");
	g_autoptr(GError) error = NULL;
	PmMapping *a = lookup(f, "a");
	PmMapping *x;
	guint64 a_id = a->id;

	x = add_bus(f, "q", "x", 9000, PM_SCOPE_RUNTIME);
	advance_to(f, S(2));
	assert_log("p#1 init\nq#2 init\np#1 start a 50000\np#1 start b 8081\nq#2 start x 0\n"
		   "p#1 granted a 50000\np#1 granted b 8081\nq#2 granted x 40000\n");

	/* b deleted upstream; a changed (its internal port): deleted at its provider and
	 * asked again with the port it was granted; q removed: its bus mapping fails; p
	 * unchanged: not created again, its other leases untouched */
	g_assert_true(reload(f,
			     "[Provider p]\nType=fake\nLifetime=1h\n"
			     "[Mapping a]\nProtocols=tcp\nInternalPort=8090\nExternalPort=50000\n",
			     &error));
	g_assert_no_error(error);
	assert_log("p#1 release a\np#1 release b\nq#2 release x\np#1 start a 50000\n");
	g_assert_null(pm_manager_lookup_name(f->manager, "b"));
	g_assert_true(lookup(f, "a") == a);
	g_assert_cmpuint(a->id, ==, a_id);
	g_assert_cmpuint(a->internal_port, ==, 8090);
	g_assert_true(lookup(f, "x") == x);
	g_assert_cmpint(x->state, ==, PM_MAPPING_STATE_FAILED);
	g_assert_true(g_str_has_prefix(x->last_error,
				       "NoSuchProvider: provider q removed by reload"));
	g_assert_cmpuint(pm_mapping_get_external_port(x), ==, 0);
	g_assert_null(x->provider);

	/* the removed provider goes once its release is answered, not before */
	advance_to(f, S(3.9));
	assert_log("p#1 released a\np#1 released b\np#1 granted a 50000\n");
	g_assert_cmpuint(pm_fake_get_n_alive(), ==, 2);
	advance_to(f, S(4));
	assert_log("q#2 released x\nq#2 finalize\n");
	g_assert_cmpuint(pm_fake_get_n_alive(), ==, 1);
	g_assert_cmpint(a->state, ==, PM_MAPPING_STATE_ACTIVE);
	g_assert_cmpuint(pm_mapping_get_external_port(a), ==, 50000);

	/* the failed bus mapping stays failed through later reloads, and can go */
	g_assert_true(reload(f, "[Provider p]\nType=fake\nLifetime=1h\nLabel=x\n", &error));
	g_assert_cmpint(x->state, ==, PM_MAPPING_STATE_FAILED);
	pm_manager_remove_mapping(f->manager, x);
	g_assert_null(pm_manager_lookup_name(f->manager, "x"));
	g_free(pm_fake_log_take());
}

/* an invalid reload changes nothing (the configuration reader refuses it before) and a
 * reload the classes refuse changes nothing either */
static void
test_reload_refused_by_class(void)
{
	g_autoptr(Fixture) f = fixture_new("[Provider g]\nType=fake\nMaxMappings=1\n");
	g_autoptr(GError) error = NULL;

	add_bus(f, "g", "b", 9000, PM_SCOPE_RUNTIME);
	advance_to(f, S(1));
	g_free(pm_fake_log_take());
	g_assert_false(reload(f,
			      "[Provider g]\nType=fake\nMaxMappings=1\n"
			      "[Mapping c]\nProtocols=tcp\nInternalPort=8080\n",
			      &error));
	g_assert_error(error, PM_ERROR, PM_ERROR_INVALID_CONFIGURATION);
	g_assert_cmpstr(error->message, ==,
			"provider g carries 1 mapping at most; mapping 'c' has it: [Mapping c] "
			"would share it with bus mapping 'b': remove bus mapping 'b' first "
			"(portmapctl remove b), or change the configuration");
	pm_test_assert_warning("reload refused, nothing changed");
	assert_log("");
	g_assert_null(pm_manager_lookup_name(f->manager, "c"));
	g_assert_cmpint(lookup(f, "b")->state, ==, PM_MAPPING_STATE_ACTIVE);
}

/*
 * Reload changes a provider's configuration while a Refresh() and a RefreshAll are in
 * flight at it: the Refresh() caller is answered when its mapping leaves the old provider,
 * the RefreshAll caller when the old provider's run ends; the mappings are released there
 * and asked at the new one with the ports they had; the old provider takes its state
 * section along and goes once its releases are answered.
 */
static void
test_reload_provider_change_in_flight(void)
{
	g_autoptr(Fixture) f = fixture_new("[Provider p]\nType=fake\nDelay=2s\nLifetime=1h\n"
					   "Label=one\n"
					   "[Mapping m]\nProtocols=tcp\nInternalPort=8080\n");
	g_autoptr(GError) error = NULL;
	PmMapping *m = lookup(f, "m");
	PmMapping *x = add_bus(f, "p", "x", 9000, PM_SCOPE_RUNTIME);
	Done refresh = {f}, refresh_all = {f}, refresh_new = {f};
	GPtrArray *providers;

	advance_to(f, S(2));
	assert_log("p#1 init one\np#1 start m 8080\np#1 start x 0\n"
		   "p#1 granted m 8080\np#1 granted x 40000\n");

	pm_manager_refresh_mapping(f->manager, m, done_cb, &refresh);
	pm_manager_refresh_all(f->manager, done_cb, &refresh_all);
	assert_log("p#1 refresh m\np#1 refresh-all\n");
	advance_to(f, S(3));
	g_assert_true(reload(f,
			     "[Provider p]\nType=fake\nDelay=2s\nLifetime=1h\nLabel=two\n"
			     "[Mapping m]\nProtocols=tcp\nInternalPort=8080\n",
			     &error));
	g_assert_no_error(error);
	assert_log("p#2 init two\np#2 state-load 2\np#1 release m\np#1 release x\n"
		   "p#2 start m 8080\np#2 start x 40000\n");
	g_assert_cmpuint(refresh.count, ==, 1);
	g_assert_cmpuint(refresh.at, ==, S(3));
	g_assert_cmpuint(refresh_all.count, ==, 0);
	g_assert_true(m->provider != NULL && m->provider == x->provider);
	g_assert_cmpuint(((PmFakeProvider *)m->provider)->instance, ==, 2);
	/* a Refresh() of the moved mapping goes to the new provider */
	pm_manager_refresh_mapping(f->manager, m, done_cb, &refresh_new);
	assert_log("p#2 refresh m\n");

	/* the old run ends: its caller is answered */
	advance_to(f, S(4));
	assert_log("p#1 refreshed-all\n");
	g_assert_cmpuint(refresh_all.count, ==, 1);
	g_assert_cmpuint(pm_fake_get_n_alive(), ==, 2);

	/* releases answered: the old provider goes; the new one granted the same ports */
	advance_to(f, S(5));
	assert_log("p#1 released m\np#1 released x\np#2 granted m 8080\np#2 granted x 40000\n"
		   "p#2 granted m 8080\np#1 finalize\n");
	g_assert_cmpuint(refresh_new.count, ==, 1);
	g_assert_cmpuint(pm_fake_get_n_alive(), ==, 1);
	g_assert_cmpuint(pm_fake_get_n_pending(), ==, 0);
	g_assert_cmpint(m->state, ==, PM_MAPPING_STATE_ACTIVE);
	g_assert_cmpint(x->state, ==, PM_MAPPING_STATE_ACTIVE);
	g_assert_cmpuint(pm_mapping_get_external_port(x), ==, 40000);
	providers = pm_manager_get_providers(f->manager);
	g_assert_cmpuint(providers->len, ==, 1);
	g_assert_cmpuint(((PmFakeProvider *)g_ptr_array_index(providers, 0))->grants, ==, 5);
	g_assert_cmpuint(refresh.count + refresh_all.count + refresh_new.count, ==, 3);
}

/* ---- the class hooks the manager asks ---- */

/* AddMapping asks the class what it refuses next to the mappings it carries */
static void
test_check_mapping(void)
{
	g_autoptr(Fixture) f = fixture_new("[Provider g]\nType=fake\nMaxMappings=1\n"
					   "[Provider h]\nType=fake\n"
					   "[Daemon]\nDefaultProvider=g\n"
					   "[Mapping a]\nProtocols=tcp\nInternalPort=8080\n");
	g_autoptr(GError) error = NULL;
	PmAddRequest request = {
	    .provider = "g",
	    .protocols = PM_PROTOCOL_TCP,
	    .internal_port = 9000,
	    .scope = PM_SCOPE_RUNTIME,
	};

	g_assert_false(pm_manager_check_add_request(f->manager, &request, &error));
	g_assert_error(error, PM_ERROR, PM_ERROR_ALREADY_MAPPED);
	g_assert_cmpstr(error->message, ==,
			"provider g carries 1 mapping at most; mapping 'a' has it: remove it "
			"first, or use another protocol or provider");
	g_clear_error(&error);
	g_assert_null(pm_manager_add_mapping(f->manager, &request, &error));
	g_assert_error(error, PM_ERROR, PM_ERROR_ALREADY_MAPPED);
	g_clear_error(&error);
	/* another provider of the class, without the rule */
	request.provider = "h";
	g_assert_nonnull(pm_manager_add_mapping(f->manager, &request, &error));
	g_assert_no_error(error);
	/* once the holder is gone, there is room */
	pm_manager_remove_mapping(f->manager, lookup(f, "a"));
	request.provider = "g";
	g_assert_nonnull(pm_manager_add_mapping(f->manager, &request, &error));
	g_assert_no_error(error);
	advance_to(f, S(1));
	g_free(pm_fake_log_take());
}

/* a persistent bus mapping from the state file that the class now refuses next to a
 * config mapping: not started, failed, saying what to do */
static void
test_check_mapping_restored(void)
{
	Fixture *f = fixture_new("[Provider g]\nType=fake\nMaxMappings=1\n");
	g_autofree char *dir = g_strdup(f->state_dir);
	PmMapping *ps;

	add_bus(f, "g", "ps", 9000, PM_SCOPE_PERSISTENT);
	advance_to(f, S(1));
	g_assert_true(pm_manager_flush_state(f->manager, NULL));
	fixture_free_full(f, TRUE);

	f = fixture_new_in(dir, "[Provider g]\nType=fake\nMaxMappings=1\n"
				"[Mapping c]\nProtocols=tcp\nInternalPort=8080\n");
	ps = lookup(f, "ps");
	g_assert_cmpint(ps->state, ==, PM_MAPPING_STATE_FAILED);
	g_assert_cmpstr(ps->last_error, ==,
			"AlreadyMapped: provider g carries 1 mapping at most; mapping 'c' has it: "
			"remove this one (portmapctl remove ps)");
	pm_test_assert_warning("mapping ps: not started");
	assert_log("g#1 init\ng#1 state-load 1\ng#1 start c 8080\n");
	fixture_free(f);
}

/* each provider's state.json section is its class's: written, read back at start */
static void
test_state_section(void)
{
	Fixture *f = fixture_new("[Provider p]\nType=fake\nLifetime=1h\n"
				 "[Provider n]\nType=natpmp\nGateway=127.0.0.1\nPort=1\n"
				 "[Mapping m]\nProvider=p\nProtocols=tcp\nInternalPort=8080\n");
	g_autofree char *dir = g_strdup(f->state_dir);
	g_autofree char *state = NULL;
	g_autofree char *describe = NULL;
	g_autoptr(JsonParser) parser = json_parser_new();
	JsonObject *providers;
	JsonObject *section;

	advance_to(f, S(1));
	pm_manager_refresh_mapping(f->manager, lookup(f, "m"), NULL, NULL);
	advance_to(f, S(2));
	g_assert_true(pm_manager_flush_state(f->manager, NULL));
	state = read_state(f);
	g_assert_true(json_parser_load_from_data(parser, state, -1, NULL));
	providers = json_object_get_object_member(json_node_get_object(json_parser_get_root(parser)),
						  "Providers");
	g_assert_nonnull(providers);
	g_assert_cmpuint(json_object_get_size(providers), ==, 2);
	section = json_object_get_object_member(providers, "p");
	g_assert_cmpuint(json_object_get_size(section), ==, 2);
	g_assert_cmpstr(json_object_get_string_member(section, "Type"), ==, "fake");
	g_assert_cmpint(json_object_get_int_member(section, "Grants"), ==, 2);
	/* NAT-PMP keeps nothing of its own */
	section = json_object_get_object_member(providers, "n");
	g_assert_cmpuint(json_object_get_size(section), ==, 1);
	g_assert_cmpstr(json_object_get_string_member(section, "Type"), ==, "natpmp");
	/* Describe(): the core's members, then the class's */
	describe = pm_manager_describe(f->manager);
	g_assert_nonnull(strstr(describe, "{\"Name\":\"p\",\"Type\":\"fake\",\"State\":\"ready\","
					  "\"Gateway\":\"fake:p\",\"Instance\":1,"
					  "\"ExternalAddress\":\"\",\"LastError\":\"\"}"));
	g_assert_nonnull(strstr(describe, "{\"Name\":\"n\",\"Type\":\"natpmp\",\"State\":\"ready\","
					  "\"Gateway\":\"127.0.0.1:1\","));
	fixture_free_full(f, TRUE);

	f = fixture_new_in(dir, "[Provider p]\nType=fake\nLifetime=1h\n");
	assert_log("p#1 init\np#1 state-load 2\n");
	fixture_free_full(f, TRUE);

	/* a section of another type under that name is not given to the class */
	f = fixture_new_in(dir, "[Provider n]\nType=fake\n");
	assert_log("n#1 init\n");
	fixture_free(f);
	pm_test_log_clear();
}

/* a state file written before providers had sections still restores its mappings */
static void
test_state_old_file(void)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *dir = g_dir_make_tmp("portmap-manager-XXXXXX", &error);
	g_autofree char *path = g_build_filename(dir, "state.json", NULL);
	Fixture *f;

	g_assert_no_error(error);
	g_assert_true(g_file_set_contents(path,
					  "{\"Version\": 1, \"Mappings\": {\"m\": {\"Origin\": "
					  "\"config\", \"Scope\": \"persistent\", \"Provider\": "
					  "\"p\", \"Protocols\": [\"tcp\"], \"InternalPort\": 8080, "
					  "\"ExternalPort\": 41234}}, \"Providers\": {}}",
					  -1, &error));
	f = fixture_new_in(dir, "[Provider p]\nType=fake\n"
				"[Mapping m]\nProtocols=tcp\nInternalPort=8080\n");
	assert_log("p#1 init\np#1 start m 41234\n");
	fixture_free(f);
}

/* the configuration of a class of the tests goes through the same reader */
static void
test_config_fake_class(void)
{
	const struct {
		const char *text;
		const char *message;
	} errors[] = {
	    {"[Provider f]\nType=fake\nDelay=2min\n",
	     "test.conf:3: [Provider f] Delay=2min: too long; accepted values: less than "
	     "Lifetime=60"},
	    {"[Provider f]\nType=fake\nLifetime=10\nDelay=10s\n",
	     "test.conf:4: [Provider f] Delay=10s: too long; accepted values: less than "
	     "Lifetime=10"},
	    {"[Provider f]\nType=fake\nPort=1\n",
	     "test.conf:3: [Provider f] Port=1: unknown key; accepted keys: Type, Delay, Answer, "
	     "Lifetime, MaxMappings, Label"},
	    {"[Provider f]\nType=fake\nAnswer=maybe\n",
	     "test.conf:3: [Provider f] Answer=maybe: not a boolean; accepted values: yes, no, "
	     "true, false, on, off, 1, 0"},
	    {"[Provider f]\nType=fak\n",
	     "test.conf:2: [Provider f] Type=fak: unknown provider type; accepted values: natpmp, "
	     "natpmp-http, pia, fake"},
	    {"[Provider f]\nDelay=1s\n",
	     "test.conf:1: [Provider f]: Type= is required: set Type=natpmp or Type=natpmp-http or "
	     "Type=pia or Type=fake"},
	    {"[Provider f]\nType=pia\n",
	     "test.conf:1: [Provider f]: Username= is required: set PIA's Username= with "
	     "PasswordCredential= or PasswordFile=, or TokenCredential="},
	    /* without a class rule, the core's: InternalPort= is required */
	    {"[Provider f]\nType=fake\n[Mapping m]\nProtocols=tcp\n",
	     "test.conf:3: [Mapping m]: InternalPort= is required: set the port the application "
	     "listens on"},
	};
	const char *text = "[Provider f]\nType=fake\nDelay=1500ms\nAnswer=no\nMaxMappings=2\n"
			   "Label=a b\n[Provider g]\nType=fake\n";
	g_autoptr(PmConfig) config = config_load(text);
	g_autofree char *printed = pm_config_to_data(config);
	g_autoptr(PmConfig) again = config_load(printed);
	g_autofree char *printed_again = pm_config_to_data(again);

	for (guint i = 0; i < G_N_ELEMENTS(errors); i++) {
		g_autoptr(GError) error = NULL;
		g_autoptr(PmConfig) bad = pm_config_load_from_data(errors[i].text,
								   strlen(errors[i].text),
								   "test.conf", &error);
		g_assert_null(bad);
		g_assert_error(error, PM_ERROR, PM_ERROR_INVALID_CONFIGURATION);
		g_assert_cmpstr(error->message, ==, errors[i].message);
	}
	g_assert_true(strstr(printed, "[Provider f]\nType=fake\nDelay=1500ms\nAnswer=no\n"
				      "Lifetime=60\nMaxMappings=2\nLabel=a b\n\n"
				      "[Provider g]\nType=fake\nDelay=0\nAnswer=yes\nLifetime=60\n"
				      "MaxMappings=0\n") != NULL);
	g_assert_cmpstr(printed, ==, printed_again);
	for (guint i = 0; i < config->providers->len; i++)
		g_assert_true(pm_provider_config_equal(g_ptr_array_index(config->providers, i),
						       g_ptr_array_index(again->providers, i)));
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	pm_test_log_init();

	g_test_add_func("/manager/refresh-all/coalesced", test_refresh_all_coalesced);
	g_test_add_func("/manager/refresh-all/one-at-a-time", test_refresh_all_one_at_a_time);
	g_test_add_func("/manager/refresh-all/answered-at-exit", test_refresh_all_answered_at_exit);
	g_test_add_func("/manager/resumed", test_resumed);
	g_test_add_func("/manager/stop/bounded", test_stop_bounded);
	g_test_add_func("/manager/stop/prompt", test_stop_prompt);
	g_test_add_func("/manager/stop/release-on-stop", test_release_on_stop);
	g_test_add_func("/manager/reload", test_reload);
	g_test_add_func("/manager/reload/refused-by-class", test_reload_refused_by_class);
	g_test_add_func("/manager/reload/provider-change-in-flight",
			test_reload_provider_change_in_flight);
	g_test_add_func("/manager/class/check-mapping", test_check_mapping);
	g_test_add_func("/manager/class/check-mapping-restored", test_check_mapping_restored);
	g_test_add_func("/manager/class/state-section", test_state_section);
	g_test_add_func("/manager/class/state-old-file", test_state_old_file);
	g_test_add_func("/manager/class/config", test_config_fake_class);
	return g_test_run();
}
