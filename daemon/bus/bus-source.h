/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <glib.h>
#include <systemd/sd-bus.h>

/*
 * sd-bus attached to a GLib main context: prepare recomputes the fd events and the
 * timeout on every pass (0 = dispatch now, so messages queued without socket activity,
 * e.g. by sd_bus_enqueue_for_read(), are processed), dispatch runs sd_bus_process() in a
 * bounded loop. When the connection is lost the source's callback (a GSourceFunc set with
 * g_source_set_callback()) is called once; the source then stops polling.
 */
GSource *pm_bus_source_new(sd_bus *bus);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(sd_bus, sd_bus_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(sd_bus_message, sd_bus_message_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(sd_bus_slot, sd_bus_slot_unref)
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(sd_bus_error, sd_bus_error_free)
