/* SPDX-License-Identifier: GPL-2.0-or-later */

#include "bus-source.h"

#include <errno.h>
#include <poll.h>

/* at most this many sd_bus_process() rounds per dispatch, so a flood cannot starve other sources */
#define PM_BUS_SOURCE_MAX_ROUNDS 64

typedef struct {
	GSource source;
	sd_bus *bus;
	gpointer fd_tag;
	int fd;
	GIOCondition events;
	gboolean more; /* the last dispatch stopped at the cap */
	gboolean lost;
} PmBusSource;

static GIOCondition
pm_bus_source_poll_to_io(int events)
{
	GIOCondition cond = G_IO_ERR | G_IO_HUP;

	if (events & POLLIN)
		cond |= G_IO_IN;
	if (events & POLLOUT)
		cond |= G_IO_OUT;
	return cond;
}

static void
pm_bus_source_unwatch_fd(PmBusSource *self)
{
	if (self->fd_tag == NULL)
		return;
	g_source_remove_unix_fd(&self->source, self->fd_tag);
	self->fd_tag = NULL;
	self->fd = -1;
}

/* the fd does not change once the bus is started, but while sd-bus waits for the socket to
 * appear (sd_bus_set_watch_bind()) it reports an inotify fd instead, so follow what it says */
static void
pm_bus_source_sync_fd(PmBusSource *self)
{
	int fd = sd_bus_get_fd(self->bus);

	if (fd == self->fd)
		return;
	pm_bus_source_unwatch_fd(self);
	if (fd < 0)
		return;
	self->fd = fd;
	self->events = G_IO_IN | G_IO_ERR | G_IO_HUP;
	self->fd_tag = g_source_add_unix_fd(&self->source, fd, self->events);
}

static void
pm_bus_source_set_events(PmBusSource *self, GIOCondition events)
{
	/* g_source_modify_unix_fd() wakes the context up: only call it on a real change */
	if (self->fd_tag == NULL || events == self->events)
		return;
	self->events = events;
	g_source_modify_unix_fd(&self->source, self->fd_tag, events);
}

static gboolean
pm_bus_source_prepare(GSource *source, gint *timeout)
{
	PmBusSource *self = (PmBusSource *)source;
	uint64_t usec = UINT64_MAX;
	int events;
	int r;

	*timeout = -1;

	/* more messages may be buffered without the fd becoming readable again */
	if (self->more)
		return TRUE;

	pm_bus_source_sync_fd(self);

	/* an error means the bus is closed: dispatch finds out and reports it */
	events = sd_bus_get_events(self->bus);
	if (events < 0)
		return TRUE;
	pm_bus_source_set_events(self, pm_bus_source_poll_to_io(events));

	r = sd_bus_get_timeout(self->bus, &usec);
	if (r < 0)
		return TRUE;

	/* queued messages (read ahead, sd_bus_enqueue_for_read()) or a closing bus */
	if (usec == 0)
		return TRUE;
	if (usec == UINT64_MAX) {
		g_source_set_ready_time(source, -1);
		return FALSE;
	}

	/* both are CLOCK_MONOTONIC µs; glib rounds the poll timeout up and becomes ready when
	 * now >= usec, exactly when sd-bus considers the deadline passed, so neither side spins */
	g_source_set_ready_time(source, (gint64)MIN(usec, (uint64_t)G_MAXINT64));
	return FALSE;
}

static gboolean
pm_bus_source_dispatch(GSource *source, GSourceFunc callback, gpointer user_data)
{
	PmBusSource *self = (PmBusSource *)source;
	int r = 0;

	if (self->lost)
		return G_SOURCE_REMOVE;

	self->more = FALSE;
	for (guint i = 0; i < PM_BUS_SOURCE_MAX_ROUNDS; i++) {
		r = sd_bus_process(self->bus, NULL);
		if (r <= 0)
			break;
	}
	if (r > 0) {
		self->more = TRUE;
		return G_SOURCE_CONTINUE;
	}

	/* a closing bus still returns > 0 while it fails the pending calls and queues the
	 * Disconnected signal, so those callbacks run before we get here */
	if (r == 0 && sd_bus_is_open(self->bus) > 0)
		return G_SOURCE_CONTINUE;

	if (r < 0 && r != -ENOTCONN && r != -ECONNRESET)
		g_warning("failed to process bus: %s", g_strerror(-r));
	else
		g_debug("bus connection closed");

	self->lost = TRUE;
	pm_bus_source_unwatch_fd(self);
	g_source_set_ready_time(source, -1);
	if (callback != NULL)
		callback(user_data);
	return G_SOURCE_REMOVE;
}

static void
pm_bus_source_finalize(GSource *source)
{
	PmBusSource *self = (PmBusSource *)source;

	/* closing is the owner's decision */
	sd_bus_unref(self->bus);
}

static GSourceFuncs pm_bus_source_funcs = {
    .prepare = pm_bus_source_prepare,
    .dispatch = pm_bus_source_dispatch,
    .finalize = pm_bus_source_finalize,
};

/* returns a new source that is not attached to any context yet */
GSource *
pm_bus_source_new(sd_bus *bus)
{
	GSource *source;
	PmBusSource *self;

	g_return_val_if_fail(bus != NULL, NULL);

	source = g_source_new(&pm_bus_source_funcs, sizeof(PmBusSource));
	/* no fd removal and re-adding (two wakeup-fd writes) around each dispatch; sd-bus
	 * callbacks never iterate the loop themselves */
	g_source_set_can_recurse(source, TRUE);
	self = (PmBusSource *)source;
	self->bus = sd_bus_ref(bus);
	self->fd = -1;
	pm_bus_source_sync_fd(self);
	g_source_set_name(source, "sd-bus");
	return source;
}
