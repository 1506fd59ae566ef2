/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The torrent consumers' engine (consumers/port-setter.c) through a test class whose
 * check() and set() wait for the test to answer them, on virtual time: check → set →
 * check, an application already right, the latest target winning over one in flight,
 * the backoff, an authentication failure blocking every operation until a Reload() or
 * Refresh() push, a mapping going down, port 0, and a consumer removed during an
 * operation. Then the common keys.
 */
#include <string.h>

#include "config.h"
#include "consumer.h"
#include "port-setter.h"
#include "test-config-load.h"
#include "test-log.h"

#define SEC(x) ((guint64)(x) * G_USEC_PER_SEC)
#define MSEC(x) ((guint64)(x) * 1000)

typedef struct {
	PmPortSetterConfig parent;
} PmFakeSetterConfig;

typedef struct {
	PmPortSetter parent;
	GPtrArray *calls; /* "check 6000/7000", "set 6000/7000" */
	gboolean waiting; /* an operation waits for the test's answer */
	gboolean in_set;
} PmFakeSetter;

static void
fake_check(PmPortSetter *setter, const PmPortSetterTarget *target)
{
	PmFakeSetter *self = (PmFakeSetter *)setter;
	g_assert_false(self->waiting);
	g_ptr_array_add(self->calls, g_strdup_printf("check %u/%u", target->listen_port,
						     target->announce_port));
	self->waiting = TRUE;
	self->in_set = FALSE;
}

static void
fake_set(PmPortSetter *setter, const PmPortSetterTarget *target)
{
	PmFakeSetter *self = (PmFakeSetter *)setter;
	g_assert_false(self->waiting);
	g_ptr_array_add(self->calls, g_strdup_printf("set %u/%u", target->listen_port,
						     target->announce_port));
	self->waiting = TRUE;
	self->in_set = TRUE;
}

static const PmPortSetterOps fake_ops = {
	.check = fake_check,
	.set = fake_set,
};

static const PmConfigKey fake_keys[] = {
	PM_PORT_SETTER_CONFIG_KEYS,
	{NULL},
};

static gboolean
fake_config_verify(PmConsumerConfig *config, PmConfigSection *section, GError **error)
{
	return pm_port_setter_config_verify((PmPortSetterConfig *)config, section,
					    "http://127.0.0.1:8080", error);
}

static gboolean
fake_init(PmConsumer *consumer, GError **error)
{
	PmFakeSetter *self = (PmFakeSetter *)consumer;
	if (!pm_port_setter_init(&self->parent, &fake_ops, error))
		return FALSE;
	self->calls = g_ptr_array_new_with_free_func(g_free);
	return TRUE;
}

static void
fake_finalize(PmConsumer *consumer)
{
	PmFakeSetter *self = (PmFakeSetter *)consumer;
	g_ptr_array_unref(self->calls);
	pm_port_setter_finalize(&self->parent);
}

static const PmConsumerClass fake_setter_class = {
    .type = "fakesetter",
    .config_size = sizeof(PmFakeSetterConfig),
    .object_size = sizeof(PmFakeSetter),
    .single_mapping = TRUE,
    .config_keys = fake_keys,
    .config_verify = fake_config_verify,
    .config_equal = pm_port_setter_config_equal,
    .config_print = pm_port_setter_config_print,
    .config_free = pm_port_setter_config_free,
    .init = fake_init,
    .finalize = fake_finalize,
    .mapping_up = pm_port_setter_mapping_up,
    .mapping_changed = pm_port_setter_mapping_changed,
    .mapping_down = pm_port_setter_mapping_down,
    .describe = pm_port_setter_describe,
};

typedef struct {
	PmScheduler *scheduler;
	PmContext *context;
	PmConsumer *consumer;
	PmFakeSetter *setter;
	GPtrArray *reports; /* "state:error" */
} Fixture;

static void
report_cb(PmConsumer *consumer, guint64 mapping_id, PmConsumerState state,
	  const char *last_error, gpointer user_data)
{
	Fixture *f = user_data;
	g_assert_cmpuint(mapping_id, ==, 7);
	g_ptr_array_add(f->reports, g_strdup_printf("%s:%s", pm_consumer_state_to_string(state),
						    last_error != NULL ? last_error : ""));
}

static void
fixture_setup(Fixture *f, gconstpointer data)
{
	g_autoptr(PmConfig) config = pm_test_config_load_ok("[Consumer app]\nType=fakesetter\n");
	g_autoptr(GError) error = NULL;

	pm_test_log_clear();
	f->scheduler = pm_scheduler_new_manual(SEC(1), SEC(1700000000), 1);
	f->context = pm_context_new(f->scheduler, PM_SECRET_POLICY_STRICT);
	f->reports = g_ptr_array_new_with_free_func(g_free);
	f->consumer = pm_consumer_new(f->context, pm_config_find_consumer(config, "app"), &error);
	g_assert_no_error(error);
	f->setter = (PmFakeSetter *)f->consumer;
	pm_consumer_set_report_func(f->consumer, report_cb, f);
}

static void
fixture_teardown(Fixture *f, gconstpointer data)
{
	if (f->consumer != NULL) {
		pm_consumer_set_report_func(f->consumer, NULL, NULL);
		pm_consumer_unref(f->consumer);
	}
	pm_context_free(f->context);
	pm_scheduler_free(f->scheduler);
	g_ptr_array_unref(f->reports);
}

static void
push(Fixture *f, guint16 internal_port, guint16 external_port, PmConsumerPush how)
{
	PmMappingView view;

	memset(&view, 0, sizeof(view));
	view.id = 7;
	view.name = "torrent";
	view.ports.n_ports = 2;
	view.ports.ports[0] = (PmPortPair){PM_PROTOCOL_TCP, internal_port, external_port};
	view.ports.ports[1] = (PmPortPair){PM_PROTOCOL_UDP, internal_port, external_port};
	pm_consumer_mapping_up(f->consumer, &view, &view.ports, how);
}

static void
down(Fixture *f)
{
	PmMappingView view;

	memset(&view, 0, sizeof(view));
	view.id = 7;
	pm_consumer_mapping_down(f->consumer, &view, &view.ports);
}

/* the test answers the operation waiting */
static void
answer_check(Fixture *f, PmPortSetterOutcome outcome, gboolean matches)
{
	g_assert_true(f->setter->waiting);
	g_assert_false(f->setter->in_set);
	f->setter->waiting = FALSE;
	pm_port_setter_checked(&f->setter->parent, outcome, matches, "listen_port 1111",
			       outcome == PM_PORT_SETTER_OK ? NULL : "it said no");
}

static void
answer_set(Fixture *f, PmPortSetterOutcome outcome)
{
	g_assert_true(f->setter->waiting);
	g_assert_true(f->setter->in_set);
	f->setter->waiting = FALSE;
	pm_port_setter_set_done(&f->setter->parent, outcome,
				outcome == PM_PORT_SETTER_OK ? NULL : "it said no");
}

static void
assert_calls(Fixture *f, const char *const *expected)
{
	guint n = g_strv_length((char **)expected);

	for (guint i = 0; i < MIN(n, f->setter->calls->len); i++)
		g_assert_cmpstr(g_ptr_array_index(f->setter->calls, i), ==, expected[i]);
	g_assert_cmpuint(f->setter->calls->len, ==, n);
}

static const char *
last_report(Fixture *f)
{
	g_assert_cmpuint(f->reports->len, >, 0);
	return g_ptr_array_index(f->reports, f->reports->len - 1);
}

static void
test_check_set_check(Fixture *f, gconstpointer data)
{
	push(f, 6000, 7000, PM_CONSUMER_PUSH_GRANT);
	g_assert_cmpstr(last_report(f), ==, "pending:");
	answer_check(f, PM_PORT_SETTER_OK, FALSE);
	answer_set(f, PM_PORT_SETTER_OK);
	answer_check(f, PM_PORT_SETTER_OK, TRUE);
	assert_calls(f, (const char *const[]){"check 6000/7000", "set 6000/7000",
					      "check 6000/7000", NULL});
	g_assert_cmpstr(last_report(f), ==, "ok:");
	g_assert_cmpuint(f->setter->parent.confirmed_port, ==, 6000);
	g_assert_false(f->setter->waiting);
}

/* already right: one read, no write */
static void
test_already_right(Fixture *f, gconstpointer data)
{
	push(f, 6000, 7000, PM_CONSUMER_PUSH_RECONCILE);
	answer_check(f, PM_PORT_SETTER_OK, TRUE);
	assert_calls(f, (const char *const[]){"check 6000/7000", NULL});
	g_assert_cmpstr(last_report(f), ==, "ok:");
}

/* set, but it reads back another value: pending, retried after the backoff */
static void
test_read_back_mismatch_retried(Fixture *f, gconstpointer data)
{
	push(f, 6000, 7000, PM_CONSUMER_PUSH_GRANT);
	answer_check(f, PM_PORT_SETTER_OK, FALSE);
	answer_set(f, PM_PORT_SETTER_OK);
	answer_check(f, PM_PORT_SETTER_OK, FALSE);
	g_assert_nonnull(strstr(last_report(f), "pending:listening port 6000 was set, but the "
						"application reads back listen_port 1111"));
	g_assert_false(f->setter->waiting);
	/* the first wait is 2 s and at most a quarter more */
	pm_scheduler_advance(f->scheduler, MSEC(1900));
	g_assert_false(f->setter->waiting);
	pm_scheduler_advance(f->scheduler, MSEC(600));
	g_assert_true(f->setter->waiting);
	answer_check(f, PM_PORT_SETTER_OK, TRUE);
	g_assert_cmpstr(last_report(f), ==, "ok:");
	g_assert_cmpuint(f->setter->calls->len, ==, 4);
}

/* transient failures back off 2 s, 4 s, 8 s...; a Refresh() push goes at once */
static void
test_backoff_doubles(Fixture *f, gconstpointer data)
{
	push(f, 6000, 7000, PM_CONSUMER_PUSH_GRANT);
	answer_check(f, PM_PORT_SETTER_RETRY, FALSE);
	g_assert_cmpstr(last_report(f), ==, "pending:it said no");
	pm_scheduler_advance(f->scheduler, MSEC(2500));
	answer_check(f, PM_PORT_SETTER_RETRY, FALSE);
	pm_scheduler_advance(f->scheduler, MSEC(3900));
	g_assert_false(f->setter->waiting);
	pm_scheduler_advance(f->scheduler, MSEC(1100));
	answer_check(f, PM_PORT_SETTER_RETRY, FALSE);
	/* a reconcile waits for the backoff's end, a Refresh() does not */
	push(f, 6000, 7000, PM_CONSUMER_PUSH_RECONCILE);
	g_assert_false(f->setter->waiting);
	push(f, 6000, 7000, PM_CONSUMER_PUSH_RETRY);
	g_assert_true(f->setter->waiting);
	answer_check(f, PM_PORT_SETTER_OK, TRUE);
	g_assert_cmpstr(last_report(f), ==, "ok:");
	g_assert_cmpuint(f->setter->calls->len, ==, 4);
}

/* wrong credentials: failed, and nothing at all until a Reload() or Refresh() push */
static void
test_auth_failure_blocks(Fixture *f, gconstpointer data)
{
	push(f, 6000, 7000, PM_CONSUMER_PUSH_GRANT);
	answer_check(f, PM_PORT_SETTER_AUTH_FAILED, FALSE);
	g_assert_nonnull(strstr(last_report(f), "failed:it said no; no further login until"));
	pm_test_assert_warning("it said no");
	/* time, reconciles (RefreshAll()) and port changes send nothing */
	pm_scheduler_advance(f->scheduler, SEC(3600));
	push(f, 6000, 7000, PM_CONSUMER_PUSH_RECONCILE);
	push(f, 6001, 7001, PM_CONSUMER_PUSH_GRANT);
	g_assert_false(f->setter->waiting);
	g_assert_cmpuint(f->setter->calls->len, ==, 1);
	g_assert_nonnull(strstr(last_report(f), "failed:it said no; no further login until"));
	/* Refresh(): one attempt, with the latest ports */
	push(f, 6001, 7001, PM_CONSUMER_PUSH_RETRY);
	answer_check(f, PM_PORT_SETTER_OK, TRUE);
	assert_calls(f, (const char *const[]){"check 6000/7000", "check 6001/7001", NULL});
	g_assert_cmpstr(last_report(f), ==, "ok:");
	g_assert_false(f->setter->parent.blocked);
}

/* a port change during an operation waits for it, then the latest ports go */
static void
test_latest_target_wins(Fixture *f, gconstpointer data)
{
	push(f, 6000, 7000, PM_CONSUMER_PUSH_GRANT);
	answer_check(f, PM_PORT_SETTER_OK, FALSE);
	push(f, 6001, 7001, PM_CONSUMER_PUSH_GRANT);
	push(f, 6002, 7002, PM_CONSUMER_PUSH_GRANT);
	answer_set(f, PM_PORT_SETTER_OK);
	answer_check(f, PM_PORT_SETTER_OK, TRUE);
	/* the superseded delivery reports nothing: "ok" would be about old ports */
	g_assert_cmpstr(last_report(f), ==, "pending:");
	answer_check(f, PM_PORT_SETTER_OK, TRUE);
	assert_calls(f, (const char *const[]){"check 6000/7000", "set 6000/7000",
					      "check 6000/7000", "check 6002/7002", NULL});
	g_assert_cmpstr(last_report(f), ==, "ok:");
	g_assert_cmpuint(f->setter->parent.confirmed_port, ==, 6002);
}

/* no operation for port 0; down forgets the target and cancels the retry */
static void
test_port_zero_and_down(Fixture *f, gconstpointer data)
{
	push(f, 6000, 0, PM_CONSUMER_PUSH_GRANT);
	g_assert_cmpuint(f->setter->calls->len, ==, 0);
	g_assert_cmpuint(f->reports->len, ==, 0);
	push(f, 6000, 7000, PM_CONSUMER_PUSH_GRANT);
	answer_check(f, PM_PORT_SETTER_RETRY, FALSE);
	down(f);
	pm_scheduler_advance(f->scheduler, SEC(600));
	g_assert_false(f->setter->waiting);
	g_assert_cmpuint(f->setter->calls->len, ==, 1);
}

/* removed by a reload during an operation: it ends, reports nothing, retries nothing */
static void
test_dropped_during_operation(Fixture *f, gconstpointer data)
{
	PmFakeSetter *setter = f->setter;
	guint n_reports;

	push(f, 6000, 7000, PM_CONSUMER_PUSH_GRANT);
	n_reports = f->reports->len;
	pm_consumer_set_report_func(f->consumer, NULL, NULL);
	pm_consumer_unref(g_steal_pointer(&f->consumer));
	/* the operation's reference keeps it */
	g_assert_true(setter->waiting);
	setter->waiting = FALSE;
	pm_port_setter_checked(&setter->parent, PM_PORT_SETTER_RETRY, FALSE, NULL, "gone");
	/* finalized: the retry timer is gone with it, nothing fires */
	pm_scheduler_advance(f->scheduler, SEC(600));
	g_assert_cmpuint(f->reports->len, ==, n_reports);
}

static void
test_keys(void)
{
	g_autoptr(PmConfig) config = NULL;
	g_autofree char *printed = NULL;

	pm_test_config_assert_load_error("[Consumer app]\nType=fakesetter\nURL=ftp://x/\n",
					 "test.conf:3: [Consumer app] URL=ftp://x/: not an http or "
					 "https URL; accepted values: http://HOST[:PORT][/PATH] or "
					 "https://HOST[:PORT][/PATH]");
	pm_test_config_assert_load_error("[Consumer app]\nType=fakesetter\n"
					 "PasswordCredential=a\nPasswordFile=/b\n",
					 "test.conf:4: [Consumer app] PasswordFile=/b: "
					 "PasswordCredential= is set too; accepted values: one of "
					 "PasswordCredential= and PasswordFile=");
	pm_test_config_assert_load_error("[Consumer app]\nType=fakesetter\nTimeoutSec=2h\n",
					 "test.conf:3: [Consumer app] TimeoutSec=2h: too long; "
					 "accepted values: at most 1h");
	config = pm_test_config_load_ok("[Consumer app]\nType=fakesetter\nUsername=me\n"
					"PasswordCredential=app.pass\n");
	printed = pm_config_to_data(config);
	g_assert_nonnull(strstr(printed, "URL=http://127.0.0.1:8080\n"));
	g_assert_nonnull(strstr(printed, "Username=me\n"));
	g_assert_nonnull(strstr(printed, "PasswordCredential=app.pass\n"));
	g_assert_nonnull(strstr(printed, "TimeoutSec=10s\n"));
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	pm_test_log_init();
	pm_consumer_registry_add_for_tests(&fake_setter_class);

#define ADD(path, func)                                                                          \
	g_test_add("/port-setter/" path, Fixture, NULL, fixture_setup, func, fixture_teardown)
	ADD("check-set-check", test_check_set_check);
	ADD("already-right", test_already_right);
	ADD("read-back-mismatch-retried", test_read_back_mismatch_retried);
	ADD("backoff-doubles", test_backoff_doubles);
	ADD("auth-failure-blocks", test_auth_failure_blocks);
	ADD("latest-target-wins", test_latest_target_wins);
	ADD("port-zero-and-down", test_port_zero_and_down);
	ADD("dropped-during-operation", test_dropped_during_operation);
#undef ADD
	g_test_add_func("/port-setter/keys", test_keys);
	return g_test_run();
}
