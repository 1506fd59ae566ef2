/* SPDX-License-Identifier: GPL-2.0-or-later */

#include <errno.h>

#include "bus-source.h"
#include "pending-call.h"

/*
 * Why the handler runs again instead of the answer being handed to a continuation: handlers
 * stay written in one piece, and each run checks its input against the state of its own
 * moment. systemd re-enqueues the call with sd_bus_enqueue_for_read() and caches the
 * answers until the handler asks again; calling the handler directly frees each pending
 * call as soon as its handler has run, so no answer is left behind in a cache when a later
 * run fails before asking (the input is validated again), and none is reused for another
 * call (one-shot auth_admin answers stay one-shot).
 */

struct _PmPendingCalls {
	sd_bus *bus;
	GHashTable *pending;    /* PmPendingCall* set: waiting for an answer */
	GHashTable *watches;    /* sender → PmSenderWatch* */
	PmPendingCall *current; /* answered, its handler running again */
};

/*
 * One match per caller, whatever the number of its calls waiting. Besides saving the bus's
 * matches (it limits them per connection: one client alone could exhaust them), this keeps
 * every rule of ours distinct: dbus-daemon's RemoveMatch takes away one rule *equal* to the
 * one named, and sd-bus sends it also for a match the bus refused, so with two equal rules
 * a refused one would remove the other's.
 */
typedef struct {
	PmPendingCalls *calls;
	char *sender;
	sd_bus_slot *slot;  /* NameOwnerChanged of @sender */
	GPtrArray *waiting; /* PmPendingCall*, not owned */
} PmSenderWatch;

struct _PmPendingCall {
	PmPendingCalls *calls;
	const PmPendingCallClass *klass;
	gpointer data;
	sd_bus_message *message; /* the call waiting */
	sd_bus_message_handler_t handler;
	void *userdata;
	sd_bus_slot *question_slot; /* the question in flight */
	PmSenderWatch *watch;	    /* of the caller, while the question is */
	gboolean has_euid;
	uid_t euid;
};

static void
pm_sender_watch_free(PmSenderWatch *watch)
{
	sd_bus_slot_unref(watch->slot);
	g_clear_pointer(&watch->waiting, g_ptr_array_unref);
	g_free(watch->sender);
	g_free(watch);
}

/* the call no longer needs its caller watched; the match goes with the caller's last call */
static void
pm_pending_call_unwatch(PmPendingCall *call)
{
	PmSenderWatch *watch = g_steal_pointer(&call->watch);
	if (watch == NULL)
		return;
	g_ptr_array_remove_fast(watch->waiting, call);
	if (watch->waiting->len == 0)
		g_hash_table_remove(watch->calls->watches, watch->sender);
}

static void
pm_pending_call_free(PmPendingCall *call)
{
	pm_pending_call_unwatch(call);
	/* unreferencing a pending call's slot cancels it: a late answer is dropped */
	sd_bus_slot_unref(call->question_slot);
	sd_bus_message_unref(call->message);
	if (call->data != NULL && call->klass->free_data != NULL)
		call->klass->free_data(call->data);
	g_free(call);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(PmPendingCall, pm_pending_call_free)

/* what sd-bus does with a handler's failure, as it is not the one calling the handler */
static void
pm_pending_call_reply_failure(PmPendingCall *call, int r, const sd_bus_error *error)
{
	if (sd_bus_error_is_set(error))
		(void)sd_bus_reply_method_error(call->message, error);
	else
		(void)sd_bus_reply_method_errno(call->message, r, NULL);
}

static int
pm_pending_call_answered_cb(sd_bus_message *answer, void *userdata, sd_bus_error *ret_error)
{
	g_autoptr(PmPendingCall) call = userdata;
	PmPendingCalls *self = call->calls;
	g_auto(sd_bus_error) error = SD_BUS_ERROR_NULL;
	PmPendingCall *outer;
	int r;

	/* ours now: out of the pending set, slots done with (sd-bus holds the question's slot
	 * for the duration of this callback) */
	g_hash_table_steal(self->pending, call);
	call->question_slot = sd_bus_slot_unref(call->question_slot);
	pm_pending_call_unwatch(call);
	r = call->klass->answer(call, answer, &error);
	if (r < 0) {
		/* without an error nobody is left to answer */
		if (sd_bus_error_is_set(&error))
			(void)sd_bus_reply_method_error(call->message, &error);
		return 0;
	}

	/* run the handler again: this time its question is answered */
	r = sd_bus_message_rewind(call->message, TRUE);
	if (r < 0) {
		pm_pending_call_reply_failure(call, r, &error);
		return 0;
	}
	outer = self->current;
	self->current = call;
	r = call->handler(call->message, call->userdata, &error);
	self->current = outer;
	if (r < 0)
		pm_pending_call_reply_failure(call, r, &error);
	return 0;
}

/* the watch is over: returns the calls that were waiting, for the callback to end */
static GPtrArray *
pm_sender_watch_end(PmSenderWatch *watch)
{
	PmPendingCalls *self = watch->calls;
	GPtrArray *waiting = g_steal_pointer(&watch->waiting);

	for (guint i = 0; i < waiting->len; i++) {
		PmPendingCall *call = g_ptr_array_index(waiting, i);
		call->watch = NULL;
	}
	/* sd-bus holds the slot for the duration of the callback running this */
	g_hash_table_remove(self->watches, watch->sender);
	return waiting;
}

static int
pm_sender_watch_owner_changed_cb(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
	PmSenderWatch *watch = userdata;
	PmPendingCalls *self = watch->calls;
	g_autoptr(GPtrArray) waiting = NULL;
	const char *name = NULL;
	const char *old_owner = NULL;
	const char *new_owner = NULL;

	if (sd_bus_message_read(m, "sss", &name, &old_owner, &new_owner) < 0)
		return 0;
	if (new_owner[0] != '\0')
		return 0;
	/* no reply, no second run: nothing is done for a caller that is gone */
	waiting = pm_sender_watch_end(watch);
	for (guint i = 0; i < waiting->len; i++) {
		PmPendingCall *call = g_ptr_array_index(waiting, i);
		g_debug("%s left the bus: forgetting its pending check (%s) of %s()", name,
			call->klass->name, sd_bus_message_get_member(call->message));
		g_hash_table_remove(self->pending, call);
	}
	return 0;
}

static int
pm_sender_watch_installed_cb(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
	PmSenderWatch *watch = userdata;
	PmPendingCalls *self = watch->calls;
	const sd_bus_error *e = sd_bus_message_get_error(m);
	g_autoptr(GPtrArray) waiting = NULL;

	if (e == NULL)
		return 0;
	/* a departure could go unnoticed, so the caller's calls end now. Without this callback
	 * sd-bus would close the whole connection, so a flood of calls could take portmapd off
	 * the bus. */
	waiting = pm_sender_watch_end(watch);
	for (guint i = 0; i < waiting->len; i++) {
		PmPendingCall *call = g_ptr_array_index(waiting, i);
		g_auto(sd_bus_error) error = SD_BUS_ERROR_NULL;
		int r;

		g_warning("cannot watch %s while it waits for %s, refusing its call of %s(): %s",
			  sd_bus_message_get_sender(call->message), call->klass->name,
			  sd_bus_message_get_member(call->message), e->message);
		r = call->klass->refuse_unwatched(call, e, &error);
		pm_pending_call_reply_failure(call, r, &error);
		g_hash_table_remove(self->pending, call);
	}
	/* a negative return would fail sd_bus_process() */
	return 0;
}

/* the caller of @call is watched (the match is asked for now if it is not yet) */
static int
pm_pending_call_watch(PmPendingCall *call, const char *sender)
{
	PmPendingCalls *self = call->calls;
	PmSenderWatch *watch = g_hash_table_lookup(self->watches, sender);

	if (watch == NULL) {
		int r;
		watch = g_new0(PmSenderWatch, 1);
		watch->calls = self;
		watch->sender = g_strdup(sender);
		watch->waiting = g_ptr_array_new();
		r = pm_bus_watch_name_owner(self->bus, &watch->slot, sender, FALSE,
					    pm_sender_watch_owner_changed_cb,
					    pm_sender_watch_installed_cb, watch);
		if (r < 0) {
			pm_sender_watch_free(watch);
			return r;
		}
		g_hash_table_insert(self->watches, watch->sender, watch);
	}
	g_ptr_array_add(watch->waiting, call);
	call->watch = watch;
	return 0;
}

int
pm_bus_watch_name_owner(sd_bus *bus, sd_bus_slot **ret_slot, const char *name,
			gboolean departures_only, sd_bus_message_handler_t callback,
			sd_bus_message_handler_t install_callback, void *userdata)
{
	g_autofree char *match = g_strdup_printf(
	    "type='signal',sender='org.freedesktop.DBus',path='/org/freedesktop/DBus',"
	    "interface='org.freedesktop.DBus',member='NameOwnerChanged',arg0='%s'%s",
	    name, departures_only ? ",arg2=''" : "");
	return sd_bus_add_match_async(bus, ret_slot, match, callback, install_callback, userdata);
}

int
pm_pending_calls_start(PmPendingCalls *self, const PmPendingCallClass *klass, gpointer data,
		       sd_bus_message *m, sd_bus_message *question, uint64_t timeout_usec,
		       sd_bus_message_handler_t handler, void *userdata)
{
	g_autoptr(PmPendingCall) call = g_new0(PmPendingCall, 1);
	PmPendingCall *current = pm_pending_calls_get_current(self, m);
	const char *sender = sd_bus_message_get_sender(m);
	int r;

	g_return_val_if_fail(klass != NULL && klass->answer != NULL, -EINVAL);
	g_return_val_if_fail(handler != NULL, -EINVAL);

	call->calls = self;
	call->klass = klass;
	call->data = data;
	if (sender == NULL)
		return -EBADMSG;
	call->message = sd_bus_message_ref(m);
	call->handler = handler;
	call->userdata = userdata;
	/* what an earlier question about this call learnt */
	if (current != NULL) {
		call->has_euid = current->has_euid;
		call->euid = current->euid;
	}

	/* the watch goes first: the bus handles our messages in order, so a departure after
	 * the peer has the question is seen. A caller gone even earlier is not on the bus when
	 * the peer looks it up: the question fails, and nothing is done for it either. */
	if (klass->refuse_unwatched != NULL) {
		r = pm_pending_call_watch(call, sender);
		if (r < 0)
			return r;
	}
	r = sd_bus_call_async(self->bus, &call->question_slot, question,
			      pm_pending_call_answered_cb, call, timeout_usec);
	if (r < 0)
		return r;
	g_hash_table_add(self->pending, g_steal_pointer(&call));
	return 0;
}

PmPendingCall *
pm_pending_calls_get_current(PmPendingCalls *self, sd_bus_message *m)
{
	if (self->current == NULL || self->current->message != m)
		return NULL;
	return self->current;
}

guint
pm_pending_calls_get_n_pending(PmPendingCalls *self)
{
	return g_hash_table_size(self->pending);
}

sd_bus_message *
pm_pending_call_get_message(PmPendingCall *call)
{
	return call->message;
}

const PmPendingCallClass *
pm_pending_call_get_class(PmPendingCall *call)
{
	return call->klass;
}

gpointer
pm_pending_call_get_data(PmPendingCall *call)
{
	return call->data;
}

gboolean
pm_pending_call_get_euid(PmPendingCall *call, uid_t *ret_euid)
{
	if (!call->has_euid)
		return FALSE;
	*ret_euid = call->euid;
	return TRUE;
}

void
pm_pending_call_set_euid(PmPendingCall *call, uid_t euid)
{
	call->has_euid = TRUE;
	call->euid = euid;
}

PmPendingCalls *
pm_pending_calls_new(sd_bus *bus)
{
	PmPendingCalls *self = g_new0(PmPendingCalls, 1);
	self->bus = sd_bus_ref(bus);
	self->pending = g_hash_table_new_full(g_direct_hash, g_direct_equal,
					      (GDestroyNotify)pm_pending_call_free, NULL);
	/* keyed by the watch's own copy of the name */
	self->watches = g_hash_table_new_full(g_str_hash, g_str_equal, NULL,
					      (GDestroyNotify)pm_sender_watch_free);
	return self;
}

void
pm_pending_calls_free(PmPendingCalls *self)
{
	if (self == NULL)
		return;
	/* the calls first: each takes itself off its watch, the last one the watch */
	g_hash_table_unref(self->pending);
	g_hash_table_unref(self->watches);
	sd_bus_unref(self->bus);
	g_free(self);
}
