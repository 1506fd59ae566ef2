/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <glib.h>
#include <sys/types.h>
#include <systemd/sd-bus.h>

/*
 * Method calls of portmapd's that wait for another peer's answer without blocking the loop
 * (design §3: no synchronous calls in the daemon): the caller's credentials from the bus
 * driver, polkit's verdict.
 *
 * A handler that needs an answer sends its question with pm_pending_calls_start() and
 * returns 1 without replying. When the answer comes, the question's class records it in the
 * pending call, and the same handler runs again with the same message, rewound; in that run
 * pm_pending_calls_get_current() returns the answered call. So handlers are written once, as
 * if the questions were synchronous: they validate, ask, then act, and every run validates
 * and acts on the state of its moment (a mapping may have gone meanwhile). What is known of
 * the caller (its euid) goes along to the next question about the same call, so no call
 * asks twice. A run that fails is answered here, as sd-bus answers a failing handler.
 */

typedef struct _PmPendingCalls PmPendingCalls;
typedef struct _PmPendingCall PmPendingCall;

typedef struct {
	/* what is asked, for logs */
	const char *name;
	/* records what @answer (a reply or an error) says in @call. >= 0: the handler runs
	 * again; < 0: the call ends here, answered with @ret_error when that is set and not
	 * at all otherwise (its caller has left the bus) */
	int (*answer)(PmPendingCall *call, sd_bus_message *answer, sd_bus_error *ret_error);
	/* set for questions that may take long (polkit can wait for a password): the caller is
	 * watched meanwhile and its call forgotten when it leaves. Called when the bus refuses
	 * the watch (it limits matches per connection): sets the error the call gets */
	int (*refuse_unwatched)(PmPendingCall *call, const sd_bus_error *why,
				sd_bus_error *ret_error);
	/* frees the question's data */
	GDestroyNotify free_data;
} PmPendingCallClass;

PmPendingCalls *pm_pending_calls_new(sd_bus *bus);
/* forgets every pending call: they get no reply */
void pm_pending_calls_free(PmPendingCalls *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PmPendingCalls, pm_pending_calls_free)

/*
 * Sends @question (a method call) for the method call @m, whose @handler runs again with
 * @userdata once @klass has taken the answer. @data belongs to the pending call from now on
 * (freed with @klass->free_data, also on failure). Returns 0 when the question is on its
 * way (the handler returns 1), a negative errno when nothing was sent.
 */
int pm_pending_calls_start(PmPendingCalls *self, const PmPendingCallClass *klass, gpointer data,
			   sd_bus_message *m, sd_bus_message *question, uint64_t timeout_usec,
			   sd_bus_message_handler_t handler, void *userdata);
/* the answered call whose handler is running again for @m, or NULL (a first run) */
PmPendingCall *pm_pending_calls_get_current(PmPendingCalls *self, sd_bus_message *m);
/* the number of calls waiting for an answer (tests, debugging) */
guint pm_pending_calls_get_n_pending(PmPendingCalls *self);

sd_bus_message *pm_pending_call_get_message(PmPendingCall *call);
const PmPendingCallClass *pm_pending_call_get_class(PmPendingCall *call);
gpointer pm_pending_call_get_data(PmPendingCall *call);
/* the caller's effective uid, if a question has told it */
gboolean pm_pending_call_get_euid(PmPendingCall *call, uid_t *ret_euid);
void pm_pending_call_set_euid(PmPendingCall *call, uid_t euid);

/*
 * A match on NameOwnerChanged of @name alone, installed asynchronously; @departures_only adds
 * arg2='' (the signal of its leaving). The callers of this keep their rules distinct: the
 * pending calls' watch of a caller matches every change, the client-scope owner's only its
 * departure. dbus-daemon's RemoveMatch takes away one rule equal to the one named, and sd-bus
 * sends it also for a rule the bus refused: a refused rule must equal no other.
 */
int pm_bus_watch_name_owner(sd_bus *bus, sd_bus_slot **ret_slot, const char *name,
			    gboolean departures_only, sd_bus_message_handler_t callback,
			    sd_bus_message_handler_t install_callback, void *userdata);
