/* SPDX-License-Identifier: GPL-2.0-or-later */
#define G_LOG_DOMAIN "portmapd"

#include <errno.h>

#include "bus-source.h"
#include "polkit.h"

/*
 * How a check that has to wait for polkit ends: the handler is run again.
 *
 * A handler that needs polkit asks it with an asynchronous call, keeps a reference on the
 * method call and returns without replying. When polkit answers, the same handler is called
 * again from the reply callback with the same message, rewound, and this time
 * pm_polkit_check() returns the answer. So handlers are written once, as if the check were
 * synchronous: they validate, pick the action, check, then act, and the second run validates
 * and acts on the state of the moment polkit answered (a mapping may have gone meanwhile).
 *
 * systemd re-enqueues the call with sd_bus_enqueue_for_read() and keeps the verdict in a
 * cache until the handler asks again. Calling the handler directly gives the same handlers
 * and frees each check as soon as its handler has run: no cache, so no verdict can be left
 * behind when the second run fails before asking (the input is validated again), and none can
 * be reused for another call (one-shot auth_admin answers stay one-shot). A caller that leaves
 * the bus while its check is pending is forgotten at once (NameOwnerChanged): the polkit
 * call is cancelled, the handler never runs again and nothing is done for it.
 */

/* an interactive check lasts as long as the user takes to authenticate in the agent */
#define PM_POLKIT_INTERACTIVE_TIMEOUT_USEC (5 * 60 * G_USEC_PER_SEC)
/* CheckAuthorizationFlags.AllowUserInteraction */
#define PM_POLKIT_FLAG_ALLOW_USER_INTERACTION 1u

typedef struct _PmPolkitQuery PmPolkitQuery;

struct _PmPolkit {
	sd_bus *bus;
	uid_t uid;
	GHashTable *pending;    /* PmPolkitQuery* set: waiting for polkit */
	PmPolkitQuery *current; /* answered, its handler running again */
};

struct _PmPolkitQuery {
	PmPolkit *polkit;
	sd_bus_message *message; /* the call being authorized */
	char *action;
	gboolean interactive;
	sd_bus_message_handler_t handler;
	void *userdata;
	sd_bus_slot *call_slot;  /* CheckAuthorization in flight */
	sd_bus_slot *watch_slot; /* NameOwnerChanged of the caller */
	int verdict;		 /* once answered: 1 allowed, < 0 refused with @error */
	sd_bus_error error;
};

static void
pm_polkit_query_free(PmPolkitQuery *q)
{
	/* unreferencing a pending call's slot cancels it: a late answer is dropped */
	sd_bus_slot_unref(q->call_slot);
	sd_bus_slot_unref(q->watch_slot);
	sd_bus_message_unref(q->message);
	sd_bus_error_free(&q->error);
	g_free(q->action);
	g_free(q);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(PmPolkitQuery, pm_polkit_query_free)

gboolean
pm_polkit_is_privileged(PmPolkit *self, uid_t euid)
{
	return euid == 0 || euid == self->uid;
}

static const char *
pm_polkit_action_to_text(const char *action)
{
	if (g_strcmp0(action, PM_POLKIT_ACTION_ADD_MAPPING) == 0)
		return "add a port mapping";
	if (g_strcmp0(action, PM_POLKIT_ACTION_REFRESH) == 0)
		return "refresh port mappings";
	return "manage port mappings";
}

static gboolean
pm_polkit_error_is_unavailable(const sd_bus_error *e)
{
	return sd_bus_error_has_names(e, SD_BUS_ERROR_SERVICE_UNKNOWN,
				      SD_BUS_ERROR_NAME_HAS_NO_OWNER, SD_BUS_ERROR_NO_REPLY,
				      SD_BUS_ERROR_TIMEOUT, SD_BUS_ERROR_DISCONNECTED) ||
	       g_str_has_prefix(e->name, "org.freedesktop.DBus.Error.Spawn.");
}

/* the verdict of a CheckAuthorization reply (or failure): 1, or < 0 with @ret_error set */
static int
pm_polkit_query_verdict(PmPolkitQuery *q, sd_bus_message *reply, sd_bus_error *ret_error)
{
	const sd_bus_error *e = sd_bus_message_get_error(reply);
	const char *what = pm_polkit_action_to_text(q->action);
	int authorized = 0;
	int challenge = 0;
	int r;

	if (e != NULL) {
		if (pm_polkit_error_is_unavailable(e)) {
			g_debug("polkit is not available (%s): refusing %s to %s", e->name,
				q->action, sd_bus_message_get_sender(q->message));
			return sd_bus_error_setf(ret_error, SD_BUS_ERROR_ACCESS_DENIED,
						 "polkit is not running: only root may %s until "
						 "polkitd is started; run the command with sudo",
						 what);
		}
		g_warning("polkit failed to check %s for %s: %s: %s", q->action,
			  sd_bus_message_get_sender(q->message), e->name, e->message);
		return sd_bus_error_setf(ret_error, SD_BUS_ERROR_ACCESS_DENIED,
					 "polkit could not check whether you may %s (%s): try "
					 "again, or run the command with sudo",
					 what, e->message);
	}
	r = sd_bus_message_enter_container(reply, 'r', "bba{ss}");
	if (r >= 0)
		r = sd_bus_message_read(reply, "bb", &authorized, &challenge);
	if (r < 0) {
		g_warning("polkit sent a malformed answer for %s: %s", q->action, g_strerror(-r));
		return sd_bus_error_setf(ret_error, SD_BUS_ERROR_ACCESS_DENIED,
					 "polkit could not check whether you may %s: try again, "
					 "or run the command with sudo",
					 what);
	}
	if (authorized)
		return 1;
	if (challenge && !q->interactive)
		return sd_bus_error_setf(ret_error, SD_BUS_ERROR_INTERACTIVE_AUTHORIZATION_REQUIRED,
					 "authentication is required to %s (polkit action %s): "
					 "allow interactive authorization (portmapctl without "
					 "--no-ask-password), or run the command with sudo",
					 what, q->action);
	return sd_bus_error_setf(ret_error, SD_BUS_ERROR_ACCESS_DENIED,
				 "not authorized to %s (polkit action %s): ask an administrator "
				 "to allow it, or run the command with sudo",
				 what, q->action);
}

static int
pm_polkit_reply_cb(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error)
{
	g_autoptr(PmPolkitQuery) q = userdata;
	PmPolkit *self = q->polkit;
	sd_bus_error error = SD_BUS_ERROR_NULL;
	int r;

	/* ours now: out of the pending set, slots done with (sd-bus holds the call slot for
	 * the duration of this callback) */
	g_hash_table_steal(self->pending, q);
	q->call_slot = sd_bus_slot_unref(q->call_slot);
	q->watch_slot = sd_bus_slot_unref(q->watch_slot);
	q->verdict = pm_polkit_query_verdict(q, reply, &q->error);
	g_debug("polkit: %s %s for %s", q->verdict > 0 ? "allowed" : "refused", q->action,
		sd_bus_message_get_sender(q->message));

	/* run the handler again: its pm_polkit_check() finds the verdict */
	r = sd_bus_message_rewind(q->message, TRUE);
	if (r >= 0) {
		PmPolkitQuery *outer = self->current;
		self->current = q;
		r = q->handler(q->message, q->userdata, &error);
		self->current = outer;
	}
	/* what sd-bus does with a handler's failure, as it is not the one calling it */
	if (r < 0) {
		if (sd_bus_error_is_set(&error))
			(void)sd_bus_reply_method_error(q->message, &error);
		else
			(void)sd_bus_reply_method_errno(q->message, r, NULL);
	}
	sd_bus_error_free(&error);
	return 0;
}

static int
pm_polkit_owner_changed_cb(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
	PmPolkitQuery *q = userdata;
	const char *name = NULL;
	const char *old_owner = NULL;
	const char *new_owner = NULL;

	if (sd_bus_message_read(m, "sss", &name, &old_owner, &new_owner) < 0)
		return 0;
	if (new_owner[0] != '\0')
		return 0;
	/* no reply, no second run: nothing is done for a caller that is gone */
	g_debug("%s left the bus: forgetting its pending check of %s", name, q->action);
	g_hash_table_remove(q->polkit->pending, q);
	return 0;
}

static int
pm_polkit_watch_installed_cb(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
	PmPolkitQuery *q = userdata;
	const sd_bus_error *e = sd_bus_message_get_error(m);

	if (e == NULL)
		return 0;
	/* the bus refused the match (a limit of matches per connection): a departure could go
	 * unnoticed, so the check ends now. Without this callback sd-bus would close the whole
	 * connection, so a flood of calls could take portmapd off the bus. */
	g_warning("cannot watch %s during its authorization check, refusing it: %s",
		  sd_bus_message_get_sender(q->message), e->message);
	(void)sd_bus_reply_method_errorf(q->message, SD_BUS_ERROR_ACCESS_DENIED,
					 "polkit could not be asked whether you may %s: too many "
					 "checks are pending; try again, or run the command with sudo",
					 pm_polkit_action_to_text(q->action));
	g_hash_table_remove(q->polkit->pending, q);
	/* a negative return would fail sd_bus_process() */
	return 0;
}

static int
pm_polkit_query_start(PmPolkit *self, sd_bus_message *m, const char *action,
		      sd_bus_message_handler_t handler, void *userdata)
{
	g_autoptr(sd_bus_message) call = NULL;
	g_autoptr(PmPolkitQuery) q = g_new0(PmPolkitQuery, 1);
	g_autofree char *match = NULL;
	const char *sender = sd_bus_message_get_sender(m);
	int r;

	if (sender == NULL)
		return -EBADMSG;
	q->polkit = self;
	q->message = sd_bus_message_ref(m);
	q->action = g_strdup(action);
	q->interactive = sd_bus_message_get_allow_interactive_authorization(m) > 0;
	q->handler = handler;
	q->userdata = userdata;

	/* the watch goes first: the bus handles our messages in order, so a departure after
	 * polkit has the question is seen. A caller gone even earlier is not on the bus when
	 * polkit looks it up (the check fails), nor when the handler runs again and asks for
	 * its credentials: nothing is done for it either way. */
	match = g_strdup_printf("type='signal',sender='org.freedesktop.DBus',"
				"path='/org/freedesktop/DBus',interface='org.freedesktop.DBus',"
				"member='NameOwnerChanged',arg0='%s'",
				sender);
	r = sd_bus_add_match_async(self->bus, &q->watch_slot, match, pm_polkit_owner_changed_cb,
				   pm_polkit_watch_installed_cb, q);
	if (r < 0)
		return r;

	r = sd_bus_message_new_method_call(self->bus, &call, "org.freedesktop.PolicyKit1",
					   "/org/freedesktop/PolicyKit1/Authority",
					   "org.freedesktop.PolicyKit1.Authority",
					   "CheckAuthorization");
	if (r < 0)
		return r;
	r = sd_bus_message_append(call, "(sa{sv})s", "system-bus-name", 1, "name", "s", sender,
				  action);
	if (r < 0)
		return r;
	r = sd_bus_message_append(call, "a{ss}us", 0,
				  q->interactive ? PM_POLKIT_FLAG_ALLOW_USER_INTERACTION : 0u,
				  "");
	if (r < 0)
		return r;
	/* sd_bus_call_async() rather than sd_bus_call_method_async() for the timeout */
	r = sd_bus_call_async(self->bus, &q->call_slot, call, pm_polkit_reply_cb, q,
			      q->interactive ? PM_POLKIT_INTERACTIVE_TIMEOUT_USEC : 0);
	if (r < 0)
		return r;
	g_debug("asking polkit whether %s may %s%s", sender, action,
		q->interactive ? " (interactive)" : "");
	g_hash_table_add(self->pending, g_steal_pointer(&q));
	return 0;
}

int
pm_polkit_check(PmPolkit *self, sd_bus_message *m, uid_t euid, const char *action,
		sd_bus_message_handler_t handler, void *userdata, sd_bus_error *ret_error)
{
	PmPolkitQuery *q = self->current;
	int r;

	g_return_val_if_fail(action != NULL, -EINVAL);
	g_return_val_if_fail(handler != NULL, -EINVAL);

	if (pm_polkit_is_privileged(self, euid))
		return 1;

	/* the second run of a handler: the answer to its question */
	if (q != NULL && q->message == m && g_strcmp0(q->action, action) == 0) {
		if (q->verdict > 0)
			return 1;
		return sd_bus_error_copy(ret_error, &q->error);
	}

	/* a first run, or a second run that now needs another action (the state changed) */
	r = pm_polkit_query_start(self, m, action, handler, userdata);
	if (r < 0) {
		g_warning("cannot ask polkit whether %s may %s: %s",
			  sd_bus_message_get_sender(m), action, g_strerror(-r));
		return sd_bus_error_setf(ret_error, SD_BUS_ERROR_ACCESS_DENIED,
					 "polkit could not be asked whether you may %s: try "
					 "again, or run the command with sudo",
					 pm_polkit_action_to_text(action));
	}
	return 0;
}

guint
pm_polkit_get_n_pending(PmPolkit *self)
{
	return g_hash_table_size(self->pending);
}

PmPolkit *
pm_polkit_new(sd_bus *bus, uid_t daemon_uid)
{
	PmPolkit *self = g_new0(PmPolkit, 1);
	self->bus = sd_bus_ref(bus);
	self->uid = daemon_uid;
	self->pending = g_hash_table_new_full(g_direct_hash, g_direct_equal,
					      (GDestroyNotify)pm_polkit_query_free, NULL);
	return self;
}

void
pm_polkit_free(PmPolkit *self)
{
	if (self == NULL)
		return;
	g_hash_table_unref(self->pending);
	sd_bus_unref(self->bus);
	g_free(self);
}
