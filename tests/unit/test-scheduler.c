/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <time.h>

#include "scheduler.h"

#define USEC_PER_MSEC G_GUINT64_CONSTANT(1000)
#define USEC_PER_SEC G_GUINT64_CONSTANT(1000000)
#define START_BOOTTIME (1000 * USEC_PER_SEC)
#define START_REALTIME (G_GUINT64_CONSTANT(1700000000) * USEC_PER_SEC)

/* what a callback saw, in firing order */
typedef struct {
	GArray *names; /* of const char * */
	GArray *nows;  /* of guint64 */
	PmScheduler *scheduler;
} PmTestLog;

typedef struct {
	PmTimer timer;
	const char *name;
	PmTestLog *log;
	/* optional behaviour of the callback */
	PmTimer *disarm_other;
	GPtrArray *free_others; /* of PmTestOwner *, freed by the callback */
	guint64 rearm_interval;
	guint rearm_count;
	gboolean free_self;
} PmTestOwner;

static void
pm_test_log_init(PmTestLog *log, PmScheduler *scheduler)
{
	log->names = g_array_new(FALSE, FALSE, sizeof(const char *));
	log->nows = g_array_new(FALSE, FALSE, sizeof(guint64));
	log->scheduler = scheduler;
}

static void
pm_test_log_clear(PmTestLog *log)
{
	g_array_unref(log->names);
	g_array_unref(log->nows);
}

static void
pm_test_log_reset(PmTestLog *log)
{
	g_array_set_size(log->names, 0);
	g_array_set_size(log->nows, 0);
}

static char *
pm_test_log_to_string(PmTestLog *log)
{
	g_autoptr(GString) str = g_string_new(NULL);

	for (guint i = 0; i < log->names->len; i++) {
		if (i > 0)
			g_string_append_c(str, ' ');
		g_string_append(str, g_array_index(log->names, const char *, i));
	}
	return g_string_free(g_steal_pointer(&str), FALSE);
}

static void
pm_test_owner_cb(PmTimer *timer, gpointer user_data)
{
	PmTestOwner *owner = user_data;
	guint64 now = pm_scheduler_now(owner->log->scheduler);

	g_assert_true(timer == &owner->timer);
	/* the contract: the timer is disarmed while its callback runs */
	g_assert_false(pm_timer_is_armed(timer));
	g_array_append_val(owner->log->names, owner->name);
	g_array_append_val(owner->log->nows, now);

	if (owner->disarm_other != NULL)
		pm_scheduler_disarm(owner->log->scheduler, owner->disarm_other);
	if (owner->free_others != NULL) {
		for (guint i = 0; i < owner->free_others->len; i++) {
			PmTestOwner *other = g_ptr_array_index(owner->free_others, i);
			pm_scheduler_disarm(owner->log->scheduler, &other->timer);
			g_free(other);
		}
		g_ptr_array_set_size(owner->free_others, 0);
	}
	if (owner->rearm_count > 0) {
		owner->rearm_count--;
		pm_scheduler_arm(owner->log->scheduler, timer, now + owner->rearm_interval);
	}
	if (owner->free_self)
		g_free(owner);
}

static void
pm_test_owner_init(PmTestOwner *owner, const char *name, PmTestLog *log)
{
	*owner = (PmTestOwner){.name = name, .log = log};
	pm_timer_init(&owner->timer, pm_test_owner_cb, owner);
}

static PmTestOwner *
pm_test_owner_new(const char *name, PmTestLog *log)
{
	PmTestOwner *owner = g_new0(PmTestOwner, 1);
	pm_test_owner_init(owner, name, log);
	return owner;
}

static void
pm_test_assert_log(PmTestLog *log, const char *expected)
{
	g_autofree char *got = pm_test_log_to_string(log);
	g_assert_cmpstr(got, ==, expected);
}

static void
pm_test_scheduler_timer_init(void)
{
	PmTimer timer = PM_TIMER_INIT(pm_test_owner_cb, NULL);
	PmTimer timer2;

	g_assert_false(pm_timer_is_armed(&timer));
	g_assert_cmpuint(timer.deadline, ==, G_MAXUINT64);
	pm_timer_init(&timer2, pm_test_owner_cb, &timer);
	g_assert_false(pm_timer_is_armed(&timer2));
	g_assert_true(timer2.user_data == &timer);
}

static void
pm_test_scheduler_ordering(void)
{
	g_autoptr(PmScheduler) sched = pm_scheduler_new_manual(START_BOOTTIME, START_REALTIME, 1);
	PmTestLog log;
	PmTestOwner a, b, c, d, e;
	const guint64 want_nows[] = {START_BOOTTIME + 10,
				     START_BOOTTIME + 20,
				     START_BOOTTIME + 30,
				     START_BOOTTIME + 40,
				     START_BOOTTIME + 50};

	pm_test_log_init(&log, sched);
	pm_test_owner_init(&a, "a", &log);
	pm_test_owner_init(&b, "b", &log);
	pm_test_owner_init(&c, "c", &log);
	pm_test_owner_init(&d, "d", &log);
	pm_test_owner_init(&e, "e", &log);

	g_assert_cmpuint(pm_scheduler_now(sched), ==, START_BOOTTIME);
	g_assert_cmpuint(pm_scheduler_get_n_armed(sched), ==, 0);
	g_assert_cmpuint(pm_scheduler_get_next_deadline(sched), ==, G_MAXUINT64);

	pm_scheduler_arm(sched, &c.timer, START_BOOTTIME + 30);
	pm_scheduler_arm(sched, &e.timer, START_BOOTTIME + 50);
	pm_scheduler_arm(sched, &a.timer, START_BOOTTIME + 10);
	pm_scheduler_arm(sched, &d.timer, START_BOOTTIME + 40);
	pm_scheduler_arm(sched, &b.timer, START_BOOTTIME + 20);
	g_assert_true(pm_timer_is_armed(&a.timer));
	g_assert_cmpuint(a.timer.deadline, ==, START_BOOTTIME + 10);
	g_assert_cmpuint(pm_scheduler_get_n_armed(sched), ==, 5);
	g_assert_cmpuint(pm_scheduler_get_next_deadline(sched), ==, START_BOOTTIME + 10);

	/* nothing is due yet */
	pm_scheduler_advance(sched, 9);
	pm_test_assert_log(&log, "");
	g_assert_cmpuint(pm_scheduler_now(sched), ==, START_BOOTTIME + 9);

	pm_scheduler_advance(sched, 41);
	pm_test_assert_log(&log, "a b c d e");
	g_assert_cmpmem(log.nows->data,
			log.nows->len * sizeof(guint64),
			want_nows,
			sizeof(want_nows));
	g_assert_cmpuint(pm_scheduler_now(sched), ==, START_BOOTTIME + 50);
	g_assert_cmpuint(pm_scheduler_get_n_armed(sched), ==, 0);
	g_assert_cmpuint(pm_scheduler_get_next_deadline(sched), ==, G_MAXUINT64);
	g_assert_false(pm_timer_is_armed(&e.timer));

	pm_test_log_clear(&log);
}

static void
pm_test_scheduler_ties(void)
{
	g_autoptr(PmScheduler) sched = pm_scheduler_new_manual(START_BOOTTIME, START_REALTIME, 1);
	PmTestLog log;
	PmTestOwner owners[8];
	const char *names[] = {"0", "1", "2", "3", "4", "5", "6", "7"};

	pm_test_log_init(&log, sched);
	for (guint i = 0; i < G_N_ELEMENTS(owners); i++) {
		pm_test_owner_init(&owners[i], names[i], &log);
		pm_scheduler_arm(sched, &owners[i].timer, START_BOOTTIME + 100);
	}
	/* re-arming at the same deadline is a new arming: it goes last */
	pm_scheduler_arm(sched, &owners[2].timer, START_BOOTTIME + 100);
	pm_scheduler_arm(sched, &owners[0].timer, START_BOOTTIME + 100);
	g_assert_cmpuint(pm_scheduler_get_n_armed(sched), ==, 8);
	pm_scheduler_advance(sched, 100);
	pm_test_assert_log(&log, "1 3 4 5 6 7 2 0");

	pm_test_log_clear(&log);
}

static void
pm_test_scheduler_rearm_moves(void)
{
	g_autoptr(PmScheduler) sched = pm_scheduler_new_manual(START_BOOTTIME, START_REALTIME, 1);
	PmTestLog log;
	PmTestOwner a, b;

	pm_test_log_init(&log, sched);
	pm_test_owner_init(&a, "a", &log);
	pm_test_owner_init(&b, "b", &log);

	pm_scheduler_arm(sched, &a.timer, START_BOOTTIME + 100);
	pm_scheduler_arm(sched, &b.timer, START_BOOTTIME + 200);
	/* later */
	pm_scheduler_arm(sched, &a.timer, START_BOOTTIME + 300);
	g_assert_cmpuint(pm_scheduler_get_n_armed(sched), ==, 2);
	g_assert_cmpuint(pm_scheduler_get_next_deadline(sched), ==, START_BOOTTIME + 200);
	pm_scheduler_advance(sched, 150);
	pm_test_assert_log(&log, "");
	pm_scheduler_advance(sched, 50);
	pm_test_assert_log(&log, "b");
	g_assert_cmpuint(pm_scheduler_get_n_armed(sched), ==, 1);

	/* earlier */
	pm_scheduler_arm(sched, &b.timer, START_BOOTTIME + 400);
	pm_scheduler_arm(sched, &a.timer, START_BOOTTIME + 250);
	g_assert_cmpuint(pm_scheduler_get_n_armed(sched), ==, 2);
	g_assert_cmpuint(pm_scheduler_get_next_deadline(sched), ==, START_BOOTTIME + 250);
	pm_scheduler_advance(sched, 200);
	pm_test_assert_log(&log, "b a b");
	g_assert_cmpuint(pm_scheduler_get_n_armed(sched), ==, 0);

	/* a deadline of "never" disarms */
	pm_scheduler_arm(sched, &a.timer, START_BOOTTIME + 500);
	pm_scheduler_arm(sched, &a.timer, G_MAXUINT64);
	g_assert_false(pm_timer_is_armed(&a.timer));
	g_assert_cmpuint(pm_scheduler_get_n_armed(sched), ==, 0);

	/* disarming twice, or a timer never armed, is fine */
	pm_scheduler_disarm(sched, &a.timer);
	pm_scheduler_disarm(sched, &b.timer);

	pm_test_log_clear(&log);
}

static void
pm_test_scheduler_disarm_from_callback(void)
{
	g_autoptr(PmScheduler) sched = pm_scheduler_new_manual(START_BOOTTIME, START_REALTIME, 1);
	PmTestLog log;
	PmTestOwner a, b, c, d;

	pm_test_log_init(&log, sched);
	pm_test_owner_init(&a, "a", &log);
	pm_test_owner_init(&b, "b", &log);
	pm_test_owner_init(&c, "c", &log);
	pm_test_owner_init(&d, "d", &log);

	/* a disarms b, which is due later; c disarms d, which is due at the same instant */
	a.disarm_other = &b.timer;
	c.disarm_other = &d.timer;
	pm_scheduler_arm(sched, &a.timer, START_BOOTTIME + 10);
	pm_scheduler_arm(sched, &b.timer, START_BOOTTIME + 20);
	pm_scheduler_arm(sched, &c.timer, START_BOOTTIME + 30);
	pm_scheduler_arm(sched, &d.timer, START_BOOTTIME + 30);
	pm_scheduler_advance(sched, 100);
	pm_test_assert_log(&log, "a c");
	g_assert_false(pm_timer_is_armed(&b.timer));
	g_assert_false(pm_timer_is_armed(&d.timer));
	g_assert_cmpuint(pm_scheduler_get_n_armed(sched), ==, 0);

	pm_test_log_clear(&log);
}

static void
pm_test_scheduler_rearm_self(void)
{
	g_autoptr(PmScheduler) sched = pm_scheduler_new_manual(START_BOOTTIME, START_REALTIME, 1);
	PmTestLog log;
	PmTestOwner a, b;

	pm_test_log_init(&log, sched);
	pm_test_owner_init(&a, "a", &log);
	pm_test_owner_init(&b, "b", &log);
	a.rearm_interval = 10;
	a.rearm_count = 4;

	pm_scheduler_arm(sched, &a.timer, START_BOOTTIME + 10);
	pm_scheduler_arm(sched, &b.timer, START_BOOTTIME + 35);
	pm_scheduler_advance(sched, 1000);
	pm_test_assert_log(&log, "a a a b a a");
	for (guint i = 0, j = 0; i < log.names->len; i++) {
		if (g_strcmp0(g_array_index(log.names, const char *, i), "a") != 0)
			continue;
		j++;
		g_assert_cmpuint(g_array_index(log.nows, guint64, i), ==, START_BOOTTIME + 10 * j);
	}
	g_assert_cmpuint(pm_scheduler_get_n_armed(sched), ==, 0);

	/* a re-arm at "now" from inside the callback fires within the same advance */
	pm_test_log_reset(&log);
	a.rearm_interval = 0;
	a.rearm_count = 3;
	pm_scheduler_arm(sched, &a.timer, pm_scheduler_now(sched));
	pm_scheduler_advance(sched, 0);
	pm_test_assert_log(&log, "a a a a");

	pm_test_log_clear(&log);
}

static void
pm_test_scheduler_free_from_callback(void)
{
	g_autoptr(PmScheduler) sched = pm_scheduler_new_manual(START_BOOTTIME, START_REALTIME, 1);
	g_autoptr(GPtrArray) victims = g_ptr_array_new();
	PmTestLog log;
	PmTestOwner killer;
	PmTestOwner *b = NULL;
	PmTestOwner *c = NULL;
	PmTestOwner *self_freeing = NULL;
	PmTestOwner *survivor = NULL;

	pm_test_log_init(&log, sched);
	pm_test_owner_init(&killer, "killer", &log);
	b = pm_test_owner_new("b", &log);
	c = pm_test_owner_new("c", &log);
	self_freeing = pm_test_owner_new("self", &log);
	self_freeing->free_self = TRUE;
	survivor = pm_test_owner_new("survivor", &log);

	/* b is due with the killer, c later: both owners are freed, valgrind checks no one
	 * touches them afterwards */
	g_ptr_array_add(victims, b);
	g_ptr_array_add(victims, c);
	killer.free_others = victims;
	pm_scheduler_arm(sched, &self_freeing->timer, START_BOOTTIME + 5);
	pm_scheduler_arm(sched, &killer.timer, START_BOOTTIME + 10);
	pm_scheduler_arm(sched, &b->timer, START_BOOTTIME + 10);
	pm_scheduler_arm(sched, &c->timer, START_BOOTTIME + 20);
	pm_scheduler_arm(sched, &survivor->timer, START_BOOTTIME + 15);
	g_assert_cmpuint(pm_scheduler_get_n_armed(sched), ==, 5);
	pm_scheduler_advance(sched, 100);
	pm_test_assert_log(&log, "self killer survivor");
	g_assert_cmpuint(pm_scheduler_get_n_armed(sched), ==, 0);

	g_free(survivor);
	pm_test_log_clear(&log);
}

static void
pm_test_scheduler_past_deadline(void)
{
	g_autoptr(PmScheduler) sched = pm_scheduler_new_manual(START_BOOTTIME, START_REALTIME, 1);
	PmTestLog log;
	PmTestOwner a, b;

	pm_test_log_init(&log, sched);
	pm_test_owner_init(&a, "a", &log);
	pm_test_owner_init(&b, "b", &log);

	/* never from inside arm() */
	pm_scheduler_arm(sched, &a.timer, START_BOOTTIME - 500);
	pm_scheduler_arm(sched, &b.timer, 0);
	pm_test_assert_log(&log, "");
	g_assert_cmpuint(pm_scheduler_get_next_deadline(sched), ==, 0);

	/* the clock never goes backwards for a late timer */
	pm_scheduler_advance(sched, 0);
	pm_test_assert_log(&log, "b a");
	g_assert_cmpuint(g_array_index(log.nows, guint64, 0), ==, START_BOOTTIME);
	g_assert_cmpuint(g_array_index(log.nows, guint64, 1), ==, START_BOOTTIME);
	g_assert_cmpuint(pm_scheduler_now(sched), ==, START_BOOTTIME);

	/* due exactly now */
	pm_scheduler_arm(sched, &a.timer, START_BOOTTIME);
	pm_scheduler_advance(sched, 0);
	pm_test_assert_log(&log, "b a a");

	pm_test_log_clear(&log);
}

static void
pm_test_scheduler_jump(void)
{
	g_autoptr(PmScheduler) sched = pm_scheduler_new_manual(START_BOOTTIME, START_REALTIME, 1);
	PmTestLog log;
	PmTestOwner lease1, lease2, later, periodic;
	guint64 end = START_BOOTTIME + 30 * USEC_PER_SEC;

	pm_test_log_init(&log, sched);
	pm_test_owner_init(&lease1, "lease1", &log);
	pm_test_owner_init(&lease2, "lease2", &log);
	pm_test_owner_init(&later, "later", &log);
	pm_test_owner_init(&periodic, "periodic", &log);
	periodic.rearm_interval = 1 * USEC_PER_SEC;
	periodic.rearm_count = 1000;

	pm_scheduler_arm(sched, &lease2.timer, START_BOOTTIME + 20 * USEC_PER_SEC);
	pm_scheduler_arm(sched, &lease1.timer, START_BOOTTIME + 10 * USEC_PER_SEC);
	pm_scheduler_arm(sched, &later.timer, START_BOOTTIME + 3600 * USEC_PER_SEC);
	pm_scheduler_arm(sched, &periodic.timer, START_BOOTTIME + 1 * USEC_PER_SEC);

	/* a 30 s suspend: everything due fires once, in deadline order, with now() at the
	 * end; the periodic timer re-arms relative to the resume and so fires only once */
	pm_scheduler_jump(sched, 30 * USEC_PER_SEC);
	pm_test_assert_log(&log, "periodic lease1 lease2");
	for (guint i = 0; i < log.nows->len; i++)
		g_assert_cmpuint(g_array_index(log.nows, guint64, i), ==, end);
	g_assert_cmpuint(pm_scheduler_now(sched), ==, end);
	g_assert_true(pm_timer_is_armed(&later.timer));
	g_assert_cmpuint(periodic.timer.deadline, ==, end + 1 * USEC_PER_SEC);
	g_assert_cmpuint(pm_scheduler_get_n_armed(sched), ==, 2);

	/* the realtime clock ran through the suspend as well */
	g_assert_cmpuint(pm_scheduler_to_realtime(sched, end),
			 ==,
			 START_REALTIME + 30 * USEC_PER_SEC);

	/* a jump of zero fires what is due, like advance(0) */
	pm_test_log_reset(&log);
	pm_scheduler_disarm(sched, &periodic.timer);
	pm_scheduler_arm(sched, &lease1.timer, end - 1);
	pm_scheduler_jump(sched, 0);
	pm_test_assert_log(&log, "lease1");

	pm_test_log_clear(&log);
}

static void
pm_test_scheduler_to_realtime(void)
{
	g_autoptr(PmScheduler) sched = pm_scheduler_new_manual(START_BOOTTIME, START_REALTIME, 1);
	g_autoptr(PmScheduler) early = pm_scheduler_new_manual(START_BOOTTIME, 5, 1);

	g_assert_cmpuint(pm_scheduler_to_realtime(sched, START_BOOTTIME), ==, START_REALTIME);
	g_assert_cmpuint(pm_scheduler_to_realtime(sched, START_BOOTTIME + 7200 * USEC_PER_SEC),
			 ==,
			 START_REALTIME + 7200 * USEC_PER_SEC);
	g_assert_cmpuint(pm_scheduler_to_realtime(sched, START_BOOTTIME - 1000),
			 ==,
			 START_REALTIME - 1000);
	pm_scheduler_advance(sched, 60 * USEC_PER_SEC);
	g_assert_cmpuint(pm_scheduler_to_realtime(sched, START_BOOTTIME + 120 * USEC_PER_SEC),
			 ==,
			 START_REALTIME + 120 * USEC_PER_SEC);

	/* clamped at both ends */
	g_assert_cmpuint(pm_scheduler_to_realtime(early, 0), ==, 0);
	g_assert_cmpuint(pm_scheduler_to_realtime(early, START_BOOTTIME - 5), ==, 0);
	g_assert_cmpuint(pm_scheduler_to_realtime(early, START_BOOTTIME - 4), ==, 1);
	g_assert_cmpuint(pm_scheduler_to_realtime(sched, G_MAXUINT64), ==, G_MAXUINT64);
}

static void
pm_test_scheduler_random_range(void)
{
	g_autoptr(PmScheduler) sched1 = pm_scheduler_new_manual(START_BOOTTIME, START_REALTIME, 42);
	g_autoptr(PmScheduler) sched2 = pm_scheduler_new_manual(0, 0, 42);
	g_autoptr(PmScheduler) sched3 = pm_scheduler_new_manual(0, 0, 43);
	g_autoptr(PmScheduler) real = pm_scheduler_new();
	gboolean seen_low = FALSE;
	gboolean seen_high = FALSE;
	gboolean differs = FALSE;

	for (guint i = 0; i < 5000; i++) {
		guint32 v1 = pm_scheduler_random_range(sched1, 0, 5001);
		guint32 v2 = pm_scheduler_random_range(sched2, 0, 5001);
		guint32 v3 = pm_scheduler_random_range(sched3, 0, 5001);
		guint32 small = pm_scheduler_random_range(sched1, 10, 12);
		guint32 big = pm_scheduler_random_range(sched1, 5, G_MAXUINT32);
		guint32 r = pm_scheduler_random_range(real, 100, 200);

		/* the same seed gives the same sequence */
		g_assert_cmpuint(v1, ==, v2);
		g_assert_cmpuint(small, ==, pm_scheduler_random_range(sched2, 10, 12));
		g_assert_cmpuint(big, ==, pm_scheduler_random_range(sched2, 5, G_MAXUINT32));
		if (v1 != v3)
			differs = TRUE;
		g_assert_cmpuint(v1, <=, 5000);
		g_assert_cmpuint(small, >=, 10);
		g_assert_cmpuint(small, <, 12);
		seen_low |= small == 10;
		seen_high |= small == 11;
		g_assert_cmpuint(big, >=, 5);
		g_assert_cmpuint(big, <, G_MAXUINT32);
		g_assert_cmpuint(r, >=, 100);
		g_assert_cmpuint(r, <, 200);
	}
	g_assert_true(seen_low);
	g_assert_true(seen_high);
	g_assert_true(differs);

	/* a single value, and an empty range */
	g_assert_cmpuint(pm_scheduler_random_range(sched1, 7, 8), ==, 7);
	g_assert_cmpuint(pm_scheduler_random_range(sched1, 7, 7), ==, 7);
	g_assert_cmpuint(pm_scheduler_random_range(sched1, 0, 1), ==, 0);
	g_assert_cmpuint(pm_scheduler_random_range(sched1, G_MAXUINT32 - 1, G_MAXUINT32),
			 ==,
			 G_MAXUINT32 - 1);
}

/* the reference model for the randomized test: a plain list sorted on demand */
typedef struct {
	PmTimer timer;
	guint idx;
	gboolean armed;
	guint64 deadline;
	guint64 seq;
	GArray *fired; /* of guint */
} PmTestRefTimer;

static void
pm_test_ref_cb(PmTimer *timer, gpointer user_data)
{
	PmTestRefTimer *ref = user_data;
	g_array_append_val(ref->fired, ref->idx);
}

static gint
pm_test_ref_cmp(gconstpointer a, gconstpointer b)
{
	const PmTestRefTimer *ra = *(PmTestRefTimer *const *)a;
	const PmTestRefTimer *rb = *(PmTestRefTimer *const *)b;

	if (ra->deadline != rb->deadline)
		return ra->deadline < rb->deadline ? -1 : 1;
	return ra->seq < rb->seq ? -1 : (ra->seq > rb->seq ? 1 : 0);
}

static void
pm_test_scheduler_randomized(void)
{
	g_autoptr(PmScheduler) sched = pm_scheduler_new_manual(0, 0, 7);
	g_autoptr(GRand) rand = g_rand_new_with_seed(1234);
	g_autoptr(GArray) fired = g_array_new(FALSE, FALSE, sizeof(guint));
	PmTestRefTimer refs[300];
	guint64 seq = 0;

	for (guint i = 0; i < G_N_ELEMENTS(refs); i++) {
		refs[i] = (PmTestRefTimer){.idx = i, .fired = fired};
		pm_timer_init(&refs[i].timer, pm_test_ref_cb, &refs[i]);
	}

	for (guint op = 0; op < 10000; op++) {
		guint r = (guint)g_rand_int_range(rand, 0, 100);
		PmTestRefTimer *ref = &refs[g_rand_int_range(rand, 0, G_N_ELEMENTS(refs))];
		guint64 now = pm_scheduler_now(sched);
		guint n_armed = 0;
		guint64 min = G_MAXUINT64;

		if (r < 55) {
			/* a narrow window so that ties are common; some in the past */
			guint64 deadline = now + (guint64)g_rand_int_range(rand, 0, 200);
			if (deadline >= 20 && g_rand_int_range(rand, 0, 10) == 0)
				deadline -= 20;
			pm_scheduler_arm(sched, &ref->timer, deadline);
			ref->armed = TRUE;
			ref->deadline = deadline;
			ref->seq = seq++;
		} else if (r < 85) {
			pm_scheduler_disarm(sched, &ref->timer);
			ref->armed = FALSE;
		} else {
			guint64 usec = (guint64)g_rand_int_range(rand, 0, 60);
			g_autoptr(GPtrArray) expected = g_ptr_array_new();

			for (guint i = 0; i < G_N_ELEMENTS(refs); i++) {
				if (refs[i].armed && refs[i].deadline <= now + usec)
					g_ptr_array_add(expected, &refs[i]);
			}
			g_ptr_array_sort(expected, pm_test_ref_cmp);
			g_array_set_size(fired, 0);
			pm_scheduler_advance(sched, usec);
			g_assert_cmpuint(fired->len, ==, expected->len);
			for (guint i = 0; i < expected->len; i++) {
				PmTestRefTimer *want = g_ptr_array_index(expected, i);
				g_assert_cmpuint(g_array_index(fired, guint, i), ==, want->idx);
				want->armed = FALSE;
			}
			g_assert_cmpuint(pm_scheduler_now(sched), ==, now + usec);
		}

		for (guint i = 0; i < G_N_ELEMENTS(refs); i++) {
			g_assert_cmpint(pm_timer_is_armed(&refs[i].timer), ==, refs[i].armed);
			if (!refs[i].armed)
				continue;
			g_assert_cmpuint(refs[i].timer.deadline, ==, refs[i].deadline);
			n_armed++;
			min = MIN(min, refs[i].deadline);
		}
		g_assert_cmpuint(pm_scheduler_get_n_armed(sched), ==, n_armed);
		g_assert_cmpuint(pm_scheduler_get_next_deadline(sched), ==, min);
	}

	/* drain: the remaining timers fire in (deadline, arming) order */
	{
		g_autoptr(GPtrArray) expected = g_ptr_array_new();
		for (guint i = 0; i < G_N_ELEMENTS(refs); i++) {
			if (refs[i].armed)
				g_ptr_array_add(expected, &refs[i]);
		}
		g_ptr_array_sort(expected, pm_test_ref_cmp);
		g_array_set_size(fired, 0);
		pm_scheduler_advance(sched, 1000);
		g_assert_cmpuint(fired->len, ==, expected->len);
		for (guint i = 0; i < expected->len; i++) {
			PmTestRefTimer *want = g_ptr_array_index(expected, i);
			g_assert_cmpuint(g_array_index(fired, guint, i), ==, want->idx);
		}
		g_assert_cmpuint(pm_scheduler_get_n_armed(sched), ==, 0);
	}
}

static void
pm_test_scheduler_free_armed(void)
{
	PmScheduler *sched = pm_scheduler_new_manual(START_BOOTTIME, START_REALTIME, 1);
	PmScheduler *real = pm_scheduler_new();
	PmTimer timer = PM_TIMER_INIT(pm_test_ref_cb, NULL);
	PmTimer timer2 = PM_TIMER_INIT(pm_test_ref_cb, NULL);

	/* armed timers are simply forgotten */
	pm_scheduler_arm(sched, &timer, START_BOOTTIME + 10);
	pm_scheduler_arm(real, &timer2, pm_scheduler_now(real) + USEC_PER_SEC);
	pm_scheduler_free(sched);
	pm_scheduler_free(real);
	pm_scheduler_free(NULL);
}

static guint64
pm_test_boottime_us(void)
{
	struct timespec ts = {0};
	g_assert_cmpint(clock_gettime(CLOCK_BOOTTIME, &ts), ==, 0);
	return (guint64)ts.tv_sec * USEC_PER_SEC + (guint64)ts.tv_nsec / 1000;
}

typedef struct {
	PmTimer timer;
	guint idx;
	guint64 deadline;
	guint64 fired_at; /* CLOCK_BOOTTIME, 0 until fired */
	guint *order;     /* shared counter */
	guint fired_order;
	GMainLoop *loop; /* quit when fired, if set */
} PmTestRealTimer;

static void
pm_test_real_cb(PmTimer *timer, gpointer user_data)
{
	PmTestRealTimer *rt = user_data;

	rt->fired_at = pm_test_boottime_us();
	rt->fired_order = ++(*rt->order);
	if (rt->loop != NULL)
		g_main_loop_quit(rt->loop);
}

static gboolean
pm_test_fail_timeout_cb(gpointer user_data)
{
	g_error("timed out waiting for the scheduler");
	return G_SOURCE_REMOVE;
}

static void
pm_test_scheduler_real_order(void)
{
	g_autoptr(PmScheduler) sched = pm_scheduler_new();
	g_autoptr(GMainLoop) loop = g_main_loop_new(NULL, FALSE);
	PmTestRealTimer rts[3];
	guint order = 0;
	guint64 now = pm_scheduler_now(sched);
	guint64 ref_now = pm_test_boottime_us();
	guint fail_id;

	/* now() is CLOCK_BOOTTIME */
	g_assert_cmpuint(now, <=, ref_now);
	g_assert_cmpuint(ref_now - now, <, 500 * USEC_PER_MSEC);

	/* armed in reverse order so the heap, not the arming order, decides */
	for (guint i = 3; i-- > 0;) {
		rts[i] = (PmTestRealTimer){
		    .idx = i,
		    .deadline = now + (i + 1) * 20 * USEC_PER_MSEC,
		    .order = &order,
		    .loop = i == 2 ? loop : NULL,
		};
		pm_timer_init(&rts[i].timer, pm_test_real_cb, &rts[i]);
		pm_scheduler_arm(sched, &rts[i].timer, rts[i].deadline);
	}
	g_assert_cmpuint(pm_scheduler_get_n_armed(sched), ==, 3);

	fail_id = g_timeout_add_seconds(5, pm_test_fail_timeout_cb, NULL);
	g_main_loop_run(loop);
	g_source_remove(fail_id);

	for (guint i = 0; i < 3; i++) {
		g_assert_cmpuint(rts[i].fired_order, ==, i + 1);
		/* never early, and not absurdly late */
		g_assert_cmpuint(rts[i].fired_at, >=, rts[i].deadline);
		g_assert_cmpuint(rts[i].fired_at, <, rts[i].deadline + 500 * USEC_PER_MSEC);
	}
	g_assert_cmpuint(pm_scheduler_get_n_armed(sched), ==, 0);
}

static void
pm_test_scheduler_real_past(void)
{
	g_autoptr(PmScheduler) sched = pm_scheduler_new();
	PmTestRealTimer rt = {0};
	PmTestRealTimer rt_zero = {0};
	guint order = 0;
	guint64 start = pm_test_boottime_us();

	rt.order = &order;
	rt_zero.order = &order;
	pm_timer_init(&rt.timer, pm_test_real_cb, &rt);
	pm_timer_init(&rt_zero.timer, pm_test_real_cb, &rt_zero);
	pm_scheduler_arm(sched, &rt.timer, pm_scheduler_now(sched) - 1000);
	pm_scheduler_arm(sched, &rt_zero.timer, 0);

	/* not from inside arm() */
	g_assert_cmpuint(order, ==, 0);

	/* but on the next iterations of the loop */
	while (order < 2) {
		g_main_context_iteration(NULL, TRUE);
		g_assert_cmpuint(pm_test_boottime_us() - start, <, 500 * USEC_PER_MSEC);
	}
	g_assert_cmpuint(rt_zero.fired_order, ==, 1);
	g_assert_cmpuint(rt.fired_order, ==, 2);
	g_assert_cmpuint(pm_scheduler_get_n_armed(sched), ==, 0);
}

static gboolean
pm_test_quit_cb(gpointer user_data)
{
	gboolean *done = user_data;
	*done = TRUE;
	return G_SOURCE_REMOVE;
}

static void
pm_test_scheduler_real_idle(void)
{
	g_autoptr(PmScheduler) sched = pm_scheduler_new();
	PmTestRealTimer rt = {0};
	guint order = 0;
	guint iterations = 0;
	gboolean done = FALSE;

	/* arm then disarm so the timerfd has been set once */
	rt.order = &order;
	pm_timer_init(&rt.timer, pm_test_real_cb, &rt);
	pm_scheduler_arm(sched, &rt.timer, pm_scheduler_now(sched) + 50 * USEC_PER_MSEC);
	pm_scheduler_disarm(sched, &rt.timer);
	/* and a past deadline that is moved far away before the loop sees it */
	pm_scheduler_arm(sched, &rt.timer, 0);
	pm_scheduler_arm(sched, &rt.timer, pm_scheduler_now(sched) + 3600 * USEC_PER_SEC);
	pm_scheduler_disarm(sched, &rt.timer);

	g_timeout_add(200, pm_test_quit_cb, &done);
	while (!done) {
		g_main_context_iteration(NULL, TRUE);
		iterations++;
	}
	g_assert_cmpuint(order, ==, 0);
	/* the scheduler did not wake the loop: only the timeout did (allow for an early
	 * wake-up of GLib's own timeout rounding) */
	g_assert_cmpuint(iterations, <=, 3);
}

/* a short timer armed and disarmed over and over (a retransmission timer around each round
 * trip) in front of a far one costs no timerfd change: the timerfd stays early, wakes once,
 * finds nothing due and is re-armed for the far timer, which fires on time */
static void
pm_test_scheduler_real_churn(void)
{
	g_autoptr(PmScheduler) sched = pm_scheduler_new();
	g_autoptr(GMainLoop) loop = g_main_loop_new(NULL, FALSE);
	PmTestRealTimer far = {0}, near = {0};
	guint order = 0;
	guint64 start = pm_scheduler_now(sched);
	guint64 changes;

	far.order = near.order = &order;
	far.loop = loop;
	pm_timer_init(&far.timer, pm_test_real_cb, &far);
	pm_timer_init(&near.timer, pm_test_real_cb, &near);
	far.deadline = start + 300 * USEC_PER_MSEC;
	pm_scheduler_arm(sched, &far.timer, far.deadline);
	for (guint i = 0; i < 100; i++) {
		pm_scheduler_arm(sched, &near.timer, pm_scheduler_now(sched) + 100 * USEC_PER_MSEC);
		pm_scheduler_disarm(sched, &near.timer);
	}
	/* the far timer, then the first near one (earlier): nothing for the other 99 */
	changes = pm_scheduler_get_n_timerfd_changes(sched);
	g_assert_cmpuint(changes, ==, 2);
	g_main_loop_run(loop);
	g_assert_cmpuint(near.fired_at, ==, 0);
	g_assert_cmpuint(far.fired_order, ==, 1);
	g_assert_cmpuint(far.fired_at, >=, far.deadline);
	/* the early wake-up re-armed the timerfd once; the far timer's own expiry left it
	 * disarmed without a syscall */
	g_assert_cmpuint(pm_scheduler_get_n_timerfd_changes(sched), ==, changes + 1);
}

typedef struct {
	PmScheduler *scheduler;
	guint count;
	gboolean stop;
} PmTestFlood;

static void
pm_test_flood_cb(PmTimer *timer, gpointer user_data)
{
	PmTestFlood *flood = user_data;

	flood->count++;
	/* always due again: a broken owner the loop must survive */
	if (!flood->stop)
		pm_scheduler_arm(flood->scheduler, timer, 0);
}

static void
pm_test_scheduler_real_flood(void)
{
	g_autoptr(PmScheduler) sched = pm_scheduler_new();
	PmTestFlood flood = {.scheduler = sched};
	PmTimer timer = PM_TIMER_INIT(pm_test_flood_cb, &flood);
	g_autofree PmTimer *many = g_new(PmTimer, 2500);
	guint many_count = 0;
	gboolean done = FALSE;

	/* 2500 due timers take more than one dispatch but all fire, in a few iterations */
	for (guint i = 0; i < 2500; i++) {
		PmTestFlood *f = g_new0(PmTestFlood, 1);
		f->scheduler = sched;
		f->stop = TRUE;
		pm_timer_init(&many[i], pm_test_flood_cb, f);
		pm_scheduler_arm(sched, &many[i], pm_scheduler_now(sched) - i);
	}
	g_main_context_iteration(NULL, TRUE);
	for (guint i = 0; i < 2500; i++)
		many_count += ((PmTestFlood *)many[i].user_data)->count;
	g_assert_cmpuint(many_count, >, 0);
	g_assert_cmpuint(many_count, <, 2500);
	for (guint i = 0; i < 10 && pm_scheduler_get_n_armed(sched) > 0; i++)
		g_main_context_iteration(NULL, TRUE);
	g_assert_cmpuint(pm_scheduler_get_n_armed(sched), ==, 0);
	many_count = 0;
	for (guint i = 0; i < 2500; i++) {
		many_count += ((PmTestFlood *)many[i].user_data)->count;
		g_free(many[i].user_data);
	}
	g_assert_cmpuint(many_count, ==, 2500);

	/* a timer re-arming itself in the past forever does not starve other sources */
	pm_scheduler_arm(sched, &timer, 0);
	g_timeout_add(20, pm_test_quit_cb, &done);
	while (!done)
		g_main_context_iteration(NULL, TRUE);
	g_assert_cmpuint(flood.count, >, 0);
	flood.stop = TRUE;
	pm_scheduler_disarm(sched, &timer);
}

static void
pm_test_scheduler_real_thread_default(void)
{
	g_autoptr(GMainContext) context = g_main_context_new();
	g_autoptr(PmScheduler) sched = NULL;
	PmTestRealTimer rt = {0};
	guint order = 0;
	guint64 start = pm_test_boottime_us();

	g_main_context_push_thread_default(context);
	sched = pm_scheduler_new();
	rt.order = &order;
	pm_timer_init(&rt.timer, pm_test_real_cb, &rt);
	pm_scheduler_arm(sched, &rt.timer, pm_scheduler_now(sched) + 5 * USEC_PER_MSEC);

	/* the default context never sees it */
	while (g_main_context_iteration(NULL, FALSE))
		;
	while (order == 0) {
		g_main_context_iteration(context, TRUE);
		g_assert_cmpuint(pm_test_boottime_us() - start, <, 500 * USEC_PER_MSEC);
	}
	g_assert_cmpuint(rt.fired_at, >=, start + 5 * USEC_PER_MSEC);

	/* reevaluate() with nothing due changes nothing; with something due it fires later */
	pm_scheduler_reevaluate(sched);
	pm_scheduler_arm(sched, &rt.timer, 1);
	pm_scheduler_reevaluate(sched);
	g_assert_cmpuint(order, ==, 1);
	while (order == 1)
		g_main_context_iteration(context, TRUE);

	g_clear_pointer(&sched, pm_scheduler_free);
	g_main_context_pop_thread_default(context);
}

static void
pm_test_scheduler_real_to_realtime(void)
{
	g_autoptr(PmScheduler) sched = pm_scheduler_new();
	guint64 now = pm_scheduler_now(sched);
	guint64 real = (guint64)g_get_real_time();
	guint64 got = pm_scheduler_to_realtime(sched, now + 3600 * USEC_PER_SEC);
	guint64 want = real + 3600 * USEC_PER_SEC;

	g_assert_cmpuint(got, >, want - 500 * USEC_PER_MSEC);
	g_assert_cmpuint(got, <, want + 500 * USEC_PER_MSEC);
	g_assert_cmpuint(pm_scheduler_to_realtime(sched, 0), <=, real);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/scheduler/timer-init", pm_test_scheduler_timer_init);
	g_test_add_func("/scheduler/ordering", pm_test_scheduler_ordering);
	g_test_add_func("/scheduler/ties", pm_test_scheduler_ties);
	g_test_add_func("/scheduler/rearm-moves", pm_test_scheduler_rearm_moves);
	g_test_add_func("/scheduler/disarm-from-callback", pm_test_scheduler_disarm_from_callback);
	g_test_add_func("/scheduler/rearm-self", pm_test_scheduler_rearm_self);
	g_test_add_func("/scheduler/free-from-callback", pm_test_scheduler_free_from_callback);
	g_test_add_func("/scheduler/past-deadline", pm_test_scheduler_past_deadline);
	g_test_add_func("/scheduler/jump", pm_test_scheduler_jump);
	g_test_add_func("/scheduler/to-realtime", pm_test_scheduler_to_realtime);
	g_test_add_func("/scheduler/random-range", pm_test_scheduler_random_range);
	g_test_add_func("/scheduler/randomized", pm_test_scheduler_randomized);
	g_test_add_func("/scheduler/free-armed", pm_test_scheduler_free_armed);
	g_test_add_func("/scheduler/real/order", pm_test_scheduler_real_order);
	g_test_add_func("/scheduler/real/past", pm_test_scheduler_real_past);
	g_test_add_func("/scheduler/real/idle", pm_test_scheduler_real_idle);
	g_test_add_func("/scheduler/real/churn", pm_test_scheduler_real_churn);
	g_test_add_func("/scheduler/real/flood", pm_test_scheduler_real_flood);
	g_test_add_func("/scheduler/real/thread-default", pm_test_scheduler_real_thread_default);
	g_test_add_func("/scheduler/real/to-realtime", pm_test_scheduler_real_to_realtime);
	return g_test_run();
}
