/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <glib.h>

/*
 * One deadline heap for every timer of the daemon (lease deadlines and protocol
 * retransmissions), armed through a single timerfd(CLOCK_BOOTTIME, TFD_TIMER_ABSTIME)
 * GSource: deadlines run through suspend and fire at once on resume, and 10 000 mappings
 * cost one fd. A manual scheduler runs on virtual time for unit tests (injectable clock
 * and random source).
 *
 * All times are absolute CLOCK_BOOTTIME microseconds.
 */

typedef struct _PmScheduler PmScheduler;
typedef struct _PmTimer PmTimer;

typedef void (*PmTimerFunc)(PmTimer *timer, gpointer user_data);

/* embedded in its owner; never copied while armed */
struct _PmTimer {
	guint64 deadline; /* G_MAXUINT64 while disarmed */
	guint heap_index; /* private */
	PmTimerFunc func;
	gpointer user_data;
};

#define PM_TIMER_INIT(f, d) { G_MAXUINT64, G_MAXUINT, (f), (d) }

/* real time: CLOCK_BOOTTIME/CLOCK_REALTIME, timerfd on the thread-default main context */
PmScheduler *pm_scheduler_new(void);
/* virtual time starting at the given instants; random numbers from a GRand with @seed */
PmScheduler *pm_scheduler_new_manual(guint64 boottime_us, guint64 realtime_us, guint32 seed);
void pm_scheduler_free(PmScheduler *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PmScheduler, pm_scheduler_free)

guint64 pm_scheduler_now(PmScheduler *self);
/* the CLOCK_REALTIME µs that corresponds to an absolute boottime instant (for ExpiresAt) */
guint64 pm_scheduler_to_realtime(PmScheduler *self, guint64 boottime_us);
/* uniform in [begin, end) */
guint32 pm_scheduler_random_range(PmScheduler *self, guint32 begin, guint32 end);

void pm_timer_init(PmTimer *timer, PmTimerFunc func, gpointer user_data);
gboolean pm_timer_is_armed(const PmTimer *timer);

/* arming an armed timer moves it; a deadline in the past fires on the next dispatch,
 * never from inside this call; the callback runs with the timer already disarmed and may
 * re-arm it or free its owner */
void pm_scheduler_arm(PmScheduler *self, PmTimer *timer, guint64 deadline);
void pm_scheduler_disarm(PmScheduler *self, PmTimer *timer);

guint pm_scheduler_get_n_armed(PmScheduler *self);
/* how many times the timerfd was set (for tests: timer churn must not cost syscalls) */
guint64 pm_scheduler_get_n_timerfd_changes(PmScheduler *self);
/* G_MAXUINT64 when nothing is armed */
guint64 pm_scheduler_get_next_deadline(PmScheduler *self);

/* re-check the heap now (after resume): due timers fire on the next dispatch */
void pm_scheduler_reevaluate(PmScheduler *self);

/* manual mode only: move virtual time forward by @usec, firing every timer that falls due
 * in deadline order, with now() equal to each timer's deadline while it runs */
void pm_scheduler_advance(PmScheduler *self, guint64 usec);
/* manual mode only: a suspend of @usec: the clock jumps, then due timers fire with now()
 * at the end of the jump (as after a real resume) */
void pm_scheduler_jump(PmScheduler *self, guint64 usec);
