/* SPDX-License-Identifier: GPL-2.0-or-later */

#include <errno.h>

#include "bus-source.h"
#include "pending-call.h"
#include "polkit.h"

/*
 * A check that has to wait for polkit is a pending call (pending-call.h): the handler runs
 * again once polkit answers, and this time pm_polkit_check() returns the verdict. The caller
 * is watched while polkit decides, which can take as long as the user takes to type a
 * password: a caller that leaves is forgotten at once (NameOwnerChanged), the polkit call is
 * cancelled, the handler never runs again and nothing is done for it.
 */

/* an interactive check lasts as long as the user takes to authenticate in the agent */
#define PM_POLKIT_INTERACTIVE_TIMEOUT_USEC (5 * 60 * G_USEC_PER_SEC)
/* CheckAuthorizationFlags.AllowUserInteraction */
#define PM_POLKIT_FLAG_ALLOW_USER_INTERACTION 1u

struct _PmPolkit {
	sd_bus *bus;
	PmPendingCalls *calls; /* the service's, shared with the credential lookups */
	uid_t uid;
};

/* one question to polkit and, once answered, its verdict */
typedef struct {
	char *action;
	gboolean interactive;
	int verdict; /* 1 allowed, < 0 refused with @error */
	sd_bus_error error;
} PmPolkitQuery;

static void
pm_polkit_query_free(PmPolkitQuery *q)
{
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

/* the verdict of a CheckAuthorization reply (or failure) for the caller of @m: 1, or < 0
 * with @ret_error set */
static int
pm_polkit_query_verdict(PmPolkitQuery *q, sd_bus_message *m, sd_bus_message *reply,
			sd_bus_error *ret_error)
{
	const sd_bus_error *e = sd_bus_message_get_error(reply);
	const char *what = pm_polkit_action_to_text(q->action);
	int authorized = 0;
	int challenge = 0;
	int r;

	if (e != NULL) {
		if (pm_polkit_error_is_unavailable(e)) {
			g_debug("polkit is not available (%s): refusing %s to %s", e->name,
				q->action, sd_bus_message_get_sender(m));
			return sd_bus_error_setf(ret_error, SD_BUS_ERROR_ACCESS_DENIED,
						 "polkit is not running: only root may %s until "
						 "polkitd is started; run the command with sudo",
						 what);
		}
		g_warning("polkit failed to check %s for %s: %s: %s", q->action,
			  sd_bus_message_get_sender(m), e->name, e->message);
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
pm_polkit_answer(PmPendingCall *call, sd_bus_message *answer, sd_bus_error *ret_error)
{
	PmPolkitQuery *q = pm_pending_call_get_data(call);
	sd_bus_message *m = pm_pending_call_get_message(call);

	/* the handler runs again and its pm_polkit_check() finds the verdict, refusal too:
	 * its input is validated again first */
	q->verdict = pm_polkit_query_verdict(q, m, answer, &q->error);
	g_debug("polkit: %s %s for %s", q->verdict > 0 ? "allowed" : "refused", q->action,
		sd_bus_message_get_sender(m));
	return 0;
}

static int
pm_polkit_refuse_unwatched(PmPendingCall *call, const sd_bus_error *why,
			   sd_bus_error *ret_error)
{
	PmPolkitQuery *q = pm_pending_call_get_data(call);
	return sd_bus_error_setf(ret_error, SD_BUS_ERROR_ACCESS_DENIED,
				 "polkit could not be asked whether you may %s: too many checks "
				 "are pending; try again, or run the command with sudo",
				 pm_polkit_action_to_text(q->action));
}

static const PmPendingCallClass pm_polkit_query_class = {
    .name = "polkit",
    .answer = pm_polkit_answer,
    .refuse_unwatched = pm_polkit_refuse_unwatched,
    .free_data = (GDestroyNotify)pm_polkit_query_free,
};

static int
pm_polkit_query_start(PmPolkit *self, sd_bus_message *m, const char *action,
		      sd_bus_message_handler_t handler, void *userdata)
{
	g_autoptr(sd_bus_message) call = NULL;
	g_autoptr(PmPolkitQuery) q = g_new0(PmPolkitQuery, 1);
	const char *sender = sd_bus_message_get_sender(m);
	gboolean interactive = sd_bus_message_get_allow_interactive_authorization(m) > 0;
	int r;

	if (sender == NULL)
		return -EBADMSG;
	q->action = g_strdup(action);
	q->interactive = interactive;
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
				  interactive ? PM_POLKIT_FLAG_ALLOW_USER_INTERACTION : 0u, "");
	if (r < 0)
		return r;
	r = pm_pending_calls_start(self->calls, &pm_polkit_query_class, g_steal_pointer(&q), m,
				   call, interactive ? PM_POLKIT_INTERACTIVE_TIMEOUT_USEC : 0,
				   handler, userdata);
	if (r < 0)
		return r;
	g_debug("asking polkit whether %s may %s%s", sender, action,
		interactive ? " (interactive)" : "");
	return 0;
}

int
pm_polkit_check(PmPolkit *self, sd_bus_message *m, uid_t euid, const char *action,
		sd_bus_message_handler_t handler, void *userdata, sd_bus_error *ret_error)
{
	PmPendingCall *current = pm_pending_calls_get_current(self->calls, m);
	int r;

	g_return_val_if_fail(action != NULL, -EINVAL);
	g_return_val_if_fail(handler != NULL, -EINVAL);

	if (pm_polkit_is_privileged(self, euid))
		return 1;

	/* the second run of a handler: the answer to its question */
	if (current != NULL && pm_pending_call_get_class(current) == &pm_polkit_query_class) {
		PmPolkitQuery *q = pm_pending_call_get_data(current);
		if (g_strcmp0(q->action, action) == 0) {
			if (q->verdict > 0)
				return 1;
			return sd_bus_error_copy(ret_error, &q->error);
		}
	}

	/* a first run, a run after the credentials came, or a second run that now needs
	 * another action (the state changed) */
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

PmPolkit *
pm_polkit_new(sd_bus *bus, PmPendingCalls *calls, uid_t daemon_uid)
{
	PmPolkit *self = g_new0(PmPolkit, 1);
	self->bus = sd_bus_ref(bus);
	self->calls = calls;
	self->uid = daemon_uid;
	return self;
}

void
pm_polkit_free(PmPolkit *self)
{
	if (self == NULL)
		return;
	sd_bus_unref(self->bus);
	g_free(self);
}
