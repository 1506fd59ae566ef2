/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "scheduler.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define PM_SCHEDULER_USEC_PER_SEC G_GUINT64_CONSTANT(1000000)

/* so a flood of due timers (or one re-arming itself in the past) cannot starve the loop */
#define PM_SCHEDULER_MAX_DISPATCH 1000

/* the deadline is cached next to the pointer so sifting stays in one cache line; the
 * sequence number breaks ties in arming order without touching the public struct */
typedef struct {
	guint64 deadline;
	guint64 seq;
	PmTimer *timer;
} PmSchedulerEntry;

typedef struct {
	GSource source;
	PmScheduler *scheduler;
} PmSchedulerSource;

struct _PmScheduler {
	gboolean manual;
	PmSchedulerEntry *heap;
	guint n_heap;
	guint heap_size;
	guint64 next_seq;
	GRand *rand;
	/* manual mode: virtual clocks */
	guint64 boottime_us;
	guint64 realtime_us;
	/* real mode */
	GSource *source;
	gint fd;
	guint64 fd_deadline; /* what the timerfd is set to, G_MAXUINT64 when disarmed */
	guint64 n_timerfd_changes;
	gboolean dispatching;
	gint64 realtime_offset; /* CLOCK_REALTIME − CLOCK_BOOTTIME, µs */
	gboolean have_realtime_offset;
};

static guint64
pm_scheduler_add_saturated(guint64 a, guint64 b)
{
	return b > G_MAXUINT64 - a ? G_MAXUINT64 : a + b;
}

static gboolean
pm_scheduler_entry_before(const PmSchedulerEntry *a, const PmSchedulerEntry *b)
{
	if (a->deadline != b->deadline)
		return a->deadline < b->deadline;
	return a->seq < b->seq;
}

static void
pm_scheduler_heap_set(PmScheduler *self, guint idx, const PmSchedulerEntry *entry)
{
	self->heap[idx] = *entry;
	entry->timer->heap_index = idx;
}

static void
pm_scheduler_sift_up(PmScheduler *self, guint idx)
{
	PmSchedulerEntry entry = self->heap[idx];

	while (idx > 0) {
		guint parent = (idx - 1) / 2;
		if (!pm_scheduler_entry_before(&entry, &self->heap[parent]))
			break;
		pm_scheduler_heap_set(self, idx, &self->heap[parent]);
		idx = parent;
	}
	pm_scheduler_heap_set(self, idx, &entry);
}

static void
pm_scheduler_sift_down(PmScheduler *self, guint idx)
{
	PmSchedulerEntry entry = self->heap[idx];

	for (;;) {
		guint child = 2 * idx + 1;
		if (child >= self->n_heap)
			break;
		if (child + 1 < self->n_heap &&
		    pm_scheduler_entry_before(&self->heap[child + 1], &self->heap[child]))
			child++;
		if (!pm_scheduler_entry_before(&self->heap[child], &entry))
			break;
		pm_scheduler_heap_set(self, idx, &self->heap[child]);
		idx = child;
	}
	pm_scheduler_heap_set(self, idx, &entry);
}

/* restores the heap order around @idx after its entry changed in either direction */
static void
pm_scheduler_heap_fix(PmScheduler *self, guint idx)
{
	if (idx > 0 && pm_scheduler_entry_before(&self->heap[idx], &self->heap[(idx - 1) / 2]))
		pm_scheduler_sift_up(self, idx);
	else
		pm_scheduler_sift_down(self, idx);
}

static void
pm_scheduler_heap_remove(PmScheduler *self, guint idx)
{
	PmTimer *timer = self->heap[idx].timer;
	guint last = self->n_heap - 1;

	if (idx != last) {
		pm_scheduler_heap_set(self, idx, &self->heap[last]);
		self->n_heap--;
		pm_scheduler_heap_fix(self, idx);
	} else {
		self->n_heap--;
	}
	timer->deadline = G_MAXUINT64;
	timer->heap_index = G_MAXUINT;
}

static gboolean
pm_scheduler_owns(PmScheduler *self, const PmTimer *timer)
{
	return timer->heap_index < self->n_heap && self->heap[timer->heap_index].timer == timer;
}

static guint64
pm_scheduler_clock_us(clockid_t clock_id)
{
	struct timespec ts = {0};

	/* only fails for an unknown clock id, which would be a build problem */
	if (clock_gettime(clock_id, &ts) != 0)
		g_error("clock_gettime(%d) failed: %s", (gint)clock_id, g_strerror(errno));
	return (guint64)ts.tv_sec * PM_SCHEDULER_USEC_PER_SEC + (guint64)ts.tv_nsec / 1000;
}

/* points the timerfd at the heap minimum, with a syscall only when that minimum is earlier
 * than what the timerfd is set to, or when no timer is left. A timer disarmed or moved later
 * leaves the timerfd early: its wake-up finds nothing due and re-arms it from the heap. So an
 * idle daemon and timers armed behind the first one cost nothing, and neither do the
 * retransmission timers armed and disarmed around every NAT-PMP round trip (two timerfd
 * changes per renewal otherwise). */
static void
pm_scheduler_update_timerfd(PmScheduler *self, gboolean force)
{
	guint64 deadline = pm_scheduler_get_next_deadline(self);
	struct itimerspec its = {0};

	if (self->fd < 0 || self->dispatching)
		return;
	if (!force && (deadline == self->fd_deadline ||
		       (deadline != G_MAXUINT64 && deadline > self->fd_deadline)))
		return;

	if (deadline != G_MAXUINT64) {
		guint64 secs = deadline / PM_SCHEDULER_USEC_PER_SEC;
		/* a 32-bit time_t must not wrap: 68 years of uptime is "never" */
		its.it_value.tv_sec = (time_t)MIN(secs, (guint64)G_MAXINT32);
		its.it_value.tv_nsec = (long)(deadline % PM_SCHEDULER_USEC_PER_SEC) * 1000;
		/* zero would disarm; an instant in the past expires at once */
		if (its.it_value.tv_sec == 0 && its.it_value.tv_nsec == 0)
			its.it_value.tv_nsec = 1;
	}
	if (timerfd_settime(self->fd, TFD_TIMER_ABSTIME, &its, NULL) != 0) {
		g_warning("failed to arm the scheduler timerfd: %s", g_strerror(errno));
		return;
	}
	self->fd_deadline = deadline;
	self->n_timerfd_changes++;
}

/* pops and runs every timer due at @now, at most @max_callbacks of them; in manual mode
 * @advance_clock moves virtual time to each deadline first */
static void
pm_scheduler_fire_due(PmScheduler *self, guint64 now, gboolean advance_clock, guint max_callbacks)
{
	for (guint n = 0; self->n_heap > 0 && self->heap[0].deadline <= now; n++) {
		PmTimer *timer = self->heap[0].timer;
		guint64 deadline = self->heap[0].deadline;

		if (n >= max_callbacks)
			return;
		pm_scheduler_heap_remove(self, 0);
		if (advance_clock && deadline > self->boottime_us) {
			guint64 delta = deadline - self->boottime_us;
			self->realtime_us = pm_scheduler_add_saturated(self->realtime_us, delta);
			self->boottime_us = deadline;
		}
		/* the timer is disarmed before its callback: it may re-arm it or free its owner,
		 * and both the heap and @timer are re-read on the next iteration */
		timer->func(timer, timer->user_data);
	}
}

static gboolean
pm_scheduler_source_dispatch(GSource *source, GSourceFunc callback, gpointer user_data)
{
	PmScheduler *self = ((PmSchedulerSource *)source)->scheduler;
	guint64 expirations = 0;

	/* clear the readable state; EAGAIN when woken without an expiry (e.g. just re-armed) */
	if (read(self->fd, &expirations, sizeof(expirations)) < 0 && errno != EAGAIN &&
	    errno != EINTR)
		g_debug("failed to read the scheduler timerfd: %s", g_strerror(errno));

	/* a one-shot timerfd that expired is disarmed: the update below re-arms it from the heap */
	self->fd_deadline = G_MAXUINT64;
	self->dispatching = TRUE;
	pm_scheduler_fire_due(self,
			      pm_scheduler_clock_us(CLOCK_BOOTTIME),
			      FALSE,
			      PM_SCHEDULER_MAX_DISPATCH);
	self->dispatching = FALSE;

	/* anything left due (over the cap, or armed in the past by a callback) is a deadline
	 * in the past, which the timerfd reports at once: the rest runs next iteration; with
	 * nothing left the expired timerfd stays disarmed without a syscall */
	pm_scheduler_update_timerfd(self, FALSE);
	return G_SOURCE_CONTINUE;
}

static GSourceFuncs pm_scheduler_source_funcs = {
    .dispatch = pm_scheduler_source_dispatch,
};

static PmScheduler *
pm_scheduler_new_common(void)
{
	PmScheduler *self = g_new0(PmScheduler, 1);

	self->fd = -1;
	self->fd_deadline = G_MAXUINT64;
	return self;
}

PmScheduler *
pm_scheduler_new(void)
{
	PmScheduler *self = pm_scheduler_new_common();
	PmSchedulerSource *source;

	self->rand = g_rand_new();
	self->fd = timerfd_create(CLOCK_BOOTTIME, TFD_NONBLOCK | TFD_CLOEXEC);
	if (self->fd < 0)
		g_error("failed to create a CLOCK_BOOTTIME timerfd: %s", g_strerror(errno));

	source = (PmSchedulerSource *)g_source_new(&pm_scheduler_source_funcs,
						   sizeof(PmSchedulerSource));
	source->scheduler = self;
	self->source = (GSource *)source;
	g_source_set_static_name(self->source, "PmScheduler");
	g_source_add_unix_fd(self->source, self->fd, G_IO_IN);
	/* GLib blocks a non-recursive source while it dispatches by taking its fd out of the
	 * poll set and back, and each change writes the context's wakeup fd: two wasted
	 * syscalls (and a spurious poll) per dispatch. Nothing here runs a nested loop. */
	g_source_set_can_recurse(self->source, TRUE);
	g_source_attach(self->source, g_main_context_get_thread_default());
	return self;
}

PmScheduler *
pm_scheduler_new_manual(guint64 boottime_us, guint64 realtime_us, guint32 seed)
{
	PmScheduler *self = pm_scheduler_new_common();

	self->manual = TRUE;
	self->rand = g_rand_new_with_seed(seed);
	self->boottime_us = boottime_us;
	self->realtime_us = realtime_us;
	return self;
}

void
pm_scheduler_free(PmScheduler *self)
{
	if (self == NULL)
		return;
	if (self->source != NULL) {
		g_source_destroy(self->source);
		g_source_unref(self->source);
	}
	if (self->fd >= 0)
		g_close(self->fd, NULL);
	/* armed timers are forgotten: their owners may already be gone */
	g_free(self->heap);
	g_rand_free(self->rand);
	g_free(self);
}

guint64
pm_scheduler_now(PmScheduler *self)
{
	g_return_val_if_fail(self != NULL, 0);

	if (self->manual)
		return self->boottime_us;
	return pm_scheduler_clock_us(CLOCK_BOOTTIME);
}

guint64
pm_scheduler_to_realtime(PmScheduler *self, guint64 boottime_us)
{
	guint64 boot_now;
	guint64 real_now;

	g_return_val_if_fail(self != NULL, 0);

	if (self->manual) {
		boot_now = self->boottime_us;
		real_now = self->realtime_us;
	} else {
		gint64 offset;
		real_now = pm_scheduler_clock_us(CLOCK_REALTIME);
		boot_now = pm_scheduler_clock_us(CLOCK_BOOTTIME);
		/* the same instant must convert to the same value on every call (a property
		 * read and its PropertiesChanged agree): keep one offset until the wall clock
		 * really moves against the boot clock */
		offset = (gint64)real_now - (gint64)boot_now;
		if (!self->have_realtime_offset || ABS(offset - self->realtime_offset) > 100000) {
			self->realtime_offset = offset;
			self->have_realtime_offset = TRUE;
		}
		real_now = (guint64)((gint64)boot_now + self->realtime_offset);
	}
	if (boottime_us >= boot_now) {
		return pm_scheduler_add_saturated(real_now, boottime_us - boot_now);
	}
	return boot_now - boottime_us > real_now ? 0 : real_now - (boot_now - boottime_us);
}

guint32
pm_scheduler_random_range(PmScheduler *self, guint32 begin, guint32 end)
{
	guint32 range;

	g_return_val_if_fail(self != NULL, begin);

	/* an empty range (e.g. a jitter of zero) is not worth a critical */
	if (end <= begin)
		return begin;
	range = end - begin;
	if (range <= (guint32)G_MAXINT32)
		return begin + (guint32)g_rand_int_range(self->rand, 0, (gint32)range);

	/* g_rand_int_range() takes signed bounds: reject samples for ranges above 2³¹,
	 * which succeeds more than half of the time */
	for (;;) {
		guint32 val = g_rand_int(self->rand);
		if (val < range)
			return begin + val;
	}
}

void
pm_timer_init(PmTimer *timer, PmTimerFunc func, gpointer user_data)
{
	g_return_if_fail(timer != NULL);

	timer->deadline = G_MAXUINT64;
	timer->heap_index = G_MAXUINT;
	timer->func = func;
	timer->user_data = user_data;
}

gboolean
pm_timer_is_armed(const PmTimer *timer)
{
	g_return_val_if_fail(timer != NULL, FALSE);
	return timer->deadline != G_MAXUINT64;
}

void
pm_scheduler_arm(PmScheduler *self, PmTimer *timer, guint64 deadline)
{
	PmSchedulerEntry entry;

	g_return_if_fail(self != NULL);
	g_return_if_fail(timer != NULL);
	g_return_if_fail(timer->func != NULL);

	/* G_MAXUINT64 is the disarmed marker: a deadline of "never" is no deadline */
	if (deadline == G_MAXUINT64) {
		pm_scheduler_disarm(self, timer);
		return;
	}

	entry.deadline = deadline;
	entry.seq = self->next_seq++;
	entry.timer = timer;
	timer->deadline = deadline;
	if (pm_scheduler_owns(self, timer)) {
		/* a move counts as a new arming for the tie order */
		self->heap[timer->heap_index] = entry;
		pm_scheduler_heap_fix(self, timer->heap_index);
	} else {
		if (self->n_heap == self->heap_size) {
			self->heap_size = MAX(16, self->heap_size * 2);
			self->heap = g_renew(PmSchedulerEntry, self->heap, self->heap_size);
		}
		pm_scheduler_heap_set(self, self->n_heap, &entry);
		self->n_heap++;
		pm_scheduler_sift_up(self, self->n_heap - 1);
	}
	pm_scheduler_update_timerfd(self, FALSE);
}

void
pm_scheduler_disarm(PmScheduler *self, PmTimer *timer)
{
	g_return_if_fail(self != NULL);
	g_return_if_fail(timer != NULL);

	/* disarming an idle timer is allowed, so owners can do it unconditionally */
	if (!pm_timer_is_armed(timer))
		return;
	g_return_if_fail(pm_scheduler_owns(self, timer));

	pm_scheduler_heap_remove(self, timer->heap_index);
	pm_scheduler_update_timerfd(self, FALSE);
}

guint
pm_scheduler_get_n_armed(PmScheduler *self)
{
	g_return_val_if_fail(self != NULL, 0);
	return self->n_heap;
}

guint64
pm_scheduler_get_n_timerfd_changes(PmScheduler *self)
{
	g_return_val_if_fail(self != NULL, 0);
	return self->n_timerfd_changes;
}

guint64
pm_scheduler_get_next_deadline(PmScheduler *self)
{
	g_return_val_if_fail(self != NULL, G_MAXUINT64);
	return self->n_heap > 0 ? self->heap[0].deadline : G_MAXUINT64;
}

void
pm_scheduler_reevaluate(PmScheduler *self)
{
	g_return_if_fail(self != NULL);

	/* manual mode has no dispatch of its own: advance() and jump() fire due timers */
	if (self->manual)
		return;
	pm_scheduler_update_timerfd(self, TRUE);
}

void
pm_scheduler_advance(PmScheduler *self, guint64 usec)
{
	guint64 target;

	g_return_if_fail(self != NULL);
	g_return_if_fail(self->manual);

	/* G_MAXUINT64 is never a deadline, so virtual time stops just before it */
	target = MIN(pm_scheduler_add_saturated(self->boottime_us, usec), G_MAXUINT64 - 1);
	pm_scheduler_fire_due(self, target, TRUE, G_MAXUINT);
	self->realtime_us =
	    pm_scheduler_add_saturated(self->realtime_us, target - self->boottime_us);
	self->boottime_us = target;
}

void
pm_scheduler_jump(PmScheduler *self, guint64 usec)
{
	guint64 target;

	g_return_if_fail(self != NULL);
	g_return_if_fail(self->manual);

	target = MIN(pm_scheduler_add_saturated(self->boottime_us, usec), G_MAXUINT64 - 1);
	/* both clocks run through a suspend */
	self->realtime_us =
	    pm_scheduler_add_saturated(self->realtime_us, target - self->boottime_us);
	self->boottime_us = target;
	pm_scheduler_fire_due(self, target, FALSE, G_MAXUINT);
}
