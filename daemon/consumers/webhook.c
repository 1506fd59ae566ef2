/* SPDX-License-Identifier: GPL-2.0-or-later */

#include <string.h>

#include "consumer.h"
#include "errors.h"
#include "hook-event.h"
#include "http-call.h"
#include "secrets.h"
#include "webhook.h"

/*
 * Type=webhook (design §6): each event of a mapping that lists it is POSTed to URL= as
 * JSON (pm_hook_event_to_json()), with a bearer token if one is set.
 *
 * Per mapping, one request at a time and events in order: an event that comes while one
 * is on the wire waits, and a newer event replaces a waiting one (pm_hook_event_merge():
 * an undelivered up followed by a change is sent as an up with the new ports). A
 * connection error, a timeout, 5xx and 429 are retried after 2 s, doubling up to 5 min,
 * with jitter, for ever: the event waits as if it had not been sent, so a newer one
 * replaces it, and goes at the end of the wait (at once on a Reload() or Refresh() push).
 * Any other status is the receiver saying no: failed, and nothing is retried until the
 * next event. A reconcile push sends "up" again with the same ports, so that a receiver
 * that lost its state (restarted) gets it back: receivers must take "up" as idempotent.
 *
 * A request on the wire holds a reference on the consumer (consumer.h): a consumer
 * removed by a reload still sends what was waiting (the "down" the removal caused), once
 * and without retry, and reports nothing.
 */

/* what LastError quotes of a refusing reply's body */
#define PM_WEBHOOK_BODY_QUOTE 120

typedef struct {
	PmConsumerConfig parent;
	char *url;
	char *token_credential;
	char *token_file;
	guint64 timeout_usec;
} PmWebhookConfig;

typedef struct _PmWebhook PmWebhook;

/* one mapping's deliveries: an entry exists while an event is on the wire or waiting */
typedef struct {
	PmWebhook *owner;
	guint64 mapping_id;
	PmHookEvent *sending; /* on the wire */
	PmHookEvent *waiting; /* not sent yet, or to be sent again after a failure */
	PmHttpCall *call;
	PmTimer retry_timer;
	guint64 backoff_usec; /* the last wait, 0 after a success */
} PmWebhookEntry;

struct _PmWebhook {
	PmConsumer parent;
	char *token; /* a secret: wiped */
	GHashTable *entries; /* mapping id → PmWebhookEntry */
};

static void pm_webhook_send(PmWebhookEntry *entry);

static gboolean
pm_webhook_dropped(PmWebhook *self)
{
	/* removed by a reload, or the daemon stops: nobody hears reports any more */
	return self->parent.report_func == NULL;
}

static void
pm_webhook_entry_free(PmWebhookEntry *entry)
{
	pm_scheduler_disarm(entry->owner->parent.scheduler, &entry->retry_timer);
	/* a call on the wire holds a reference: finalize never sees one */
	g_warn_if_fail(entry->call == NULL);
	pm_hook_event_free(entry->sending);
	pm_hook_event_free(entry->waiting);
	g_free(entry);
}

/* forget an entry with nothing left to do */
static void
pm_webhook_entry_maybe_remove(PmWebhookEntry *entry)
{
	if (entry->call != NULL || entry->waiting != NULL || pm_timer_is_armed(&entry->retry_timer))
		return;
	g_hash_table_remove(entry->owner->entries, &entry->mapping_id);
}

/* the start of a reply's body, printable, on one line, never the token */
static char *
pm_webhook_quote_body(PmWebhook *self, GBytes *body)
{
	gsize len = 0;
	const char *data = body != NULL ? g_bytes_get_data(body, &len) : NULL;
	GString *out = g_string_new(NULL);

	for (gsize i = 0; i < len && out->len < PM_WEBHOOK_BODY_QUOTE; i++) {
		guchar c = data[i];
		g_string_append_c(out, g_ascii_isprint(c) ? (char)c : ' ');
	}
	if (len > out->len)
		g_string_append(out, "...");
	g_strstrip(out->str);
	out->len = strlen(out->str);
	/* a receiver echoing the request must not put the token in the log */
	if (self->token != NULL && self->token[0] != '\0' && strstr(out->str, self->token) != NULL)
		g_string_replace(out, self->token, "(token)", 0);
	return g_string_free(out, FALSE);
}

static void
pm_webhook_retry_cb(PmTimer *timer, gpointer user_data)
{
	pm_webhook_send(user_data);
}

/* the event on the wire goes back to waiting, behind the backoff */
static void
pm_webhook_schedule_retry(PmWebhookEntry *entry, const char *message)
{
	PmWebhook *self = entry->owner;
	PmScheduler *scheduler = self->parent.scheduler;
	guint64 wait;
	guint32 jitter;

	entry->waiting = pm_hook_event_merge(g_steal_pointer(&entry->sending),
					     g_steal_pointer(&entry->waiting));
	if (entry->backoff_usec == 0)
		entry->backoff_usec = PM_WEBHOOK_BACKOFF_FIRST_USEC;
	else
		entry->backoff_usec = MIN(entry->backoff_usec * 2, PM_WEBHOOK_BACKOFF_MAX_USEC);
	/* up to a quarter more, so that consumers failing together do not retry together */
	jitter = pm_scheduler_random_range(scheduler, 0,
					   (guint32)(entry->backoff_usec / 4 / 1000) + 1);
	wait = entry->backoff_usec + (guint64)jitter * 1000;
	pm_scheduler_arm(scheduler, &entry->retry_timer, pm_scheduler_now(scheduler) + wait);
	g_message("%s: %s; retrying in %" G_GUINT64_FORMAT " s", self->parent.name, message,
		  (wait + G_USEC_PER_SEC / 2) / G_USEC_PER_SEC);
	pm_consumer_report(&self->parent, entry->mapping_id, PM_CONSUMER_STATE_PENDING, message);
}

static void
pm_webhook_done_cb(PmHttpCall *call, const GError *error, gpointer user_data)
{
	PmWebhookEntry *entry = user_data;
	PmWebhook *self = entry->owner;
	guint status = error == NULL ? pm_http_call_get_status(call) : 0;
	guint64 mapping_id = entry->mapping_id;

	entry->call = NULL;
	if (error != NULL || status >= 500 || status == 429) {
		g_autofree char *message = NULL;
		if (error != NULL) {
			message = g_strdup(error->message);
		} else {
			g_autofree char *quote =
				pm_webhook_quote_body(self, pm_http_call_get_body(call));
			message = g_strdup_printf("%s: HTTP %u %s%s%s", pm_http_call_describe(call),
						  status, pm_http_call_get_reason(call),
						  quote[0] != '\0' ? ": " : "", quote);
		}
		if (pm_webhook_dropped(self)) {
			/* removed: what was waiting still goes once, nothing is retried */
			g_message("%s: %s", self->parent.name, message);
			g_clear_pointer(&entry->sending, pm_hook_event_free);
		} else {
			pm_webhook_schedule_retry(entry, message);
		}
	} else if (status >= 200 && status < 300) {
		entry->backoff_usec = 0;
		g_clear_pointer(&entry->sending, pm_hook_event_free);
		if (entry->waiting == NULL)
			pm_consumer_report(&self->parent, mapping_id, PM_CONSUMER_STATE_OK, NULL);
	} else {
		g_autofree char *quote = pm_webhook_quote_body(self, pm_http_call_get_body(call));
		g_autofree char *message = NULL;
		const char *hint = "";
		gboolean refused = status == 401 || status == 403;

		if (refused && self->token != NULL)
			hint = " (the token was refused: check TokenCredential= or TokenFile=)";
		else if (refused)
			hint = " (the receiver wants a token: set TokenCredential= or TokenFile=)";
		message = g_strdup_printf("%s: HTTP %u %s%s%s%s", pm_http_call_describe(call),
					  status, pm_http_call_get_reason(call), hint,
					  quote[0] != '\0' ? ": " : "", quote);
		g_warning("%s: %s", self->parent.name, message);
		entry->backoff_usec = 0;
		g_clear_pointer(&entry->sending, pm_hook_event_free);
		/* a newer event waiting is sent; its outcome replaces this one's */
		if (entry->waiting == NULL)
			pm_consumer_report(&self->parent, mapping_id, PM_CONSUMER_STATE_FAILED,
					   message);
	}
	if (entry->waiting != NULL && !pm_timer_is_armed(&entry->retry_timer))
		pm_webhook_send(entry);
	else
		pm_webhook_entry_maybe_remove(entry);
	/* the request's reference: may finalize a consumer that a reload removed */
	pm_consumer_unref(&self->parent);
}

static void
pm_webhook_send(PmWebhookEntry *entry)
{
	PmWebhook *self = entry->owner;
	PmWebhookConfig *config = (PmWebhookConfig *)self->parent.config;
	g_autoptr(GError) error = NULL;
	g_autofree char *body = NULL;
	g_autoptr(GBytes) bytes = NULL;
	PmHttpCall *call;
	gsize len;

	g_return_if_fail(entry->call == NULL && entry->sending == NULL);
	pm_scheduler_disarm(self->parent.scheduler, &entry->retry_timer);
	entry->sending = g_steal_pointer(&entry->waiting);
	if (entry->sending == NULL) {
		pm_webhook_entry_maybe_remove(entry);
		return;
	}
	call = pm_http_call_new(self->parent.context, "POST", config->url, &error);
	if (call == NULL) {
		/* libsoup cannot be loaded: nothing to retry until the next event */
		g_warning("%s: %s", self->parent.name, error->message);
		pm_consumer_report(&self->parent, entry->mapping_id, PM_CONSUMER_STATE_FAILED,
				   error->message);
		g_clear_pointer(&entry->sending, pm_hook_event_free);
		pm_webhook_entry_maybe_remove(entry);
		return;
	}
	body = pm_hook_event_to_json(entry->sending);
	len = strlen(body);
	bytes = g_bytes_new_take(g_steal_pointer(&body), len);
	pm_http_call_set_body(call, "application/json", bytes);
	if (self->token != NULL)
		pm_http_call_set_bearer_token(call, self->token);
	pm_http_call_set_timeout(call, (guint)(config->timeout_usec / 1000));
	entry->call = call;
	pm_consumer_ref(&self->parent);
	g_debug("%s: %s %s", self->parent.name, pm_hook_event_type_to_string(entry->sending->type),
		entry->sending->mapping);
	pm_http_call_send(call, pm_webhook_done_cb, entry);
}

static void
pm_webhook_push(PmWebhook *self, PmHookEvent *event, gboolean now)
{
	PmWebhookEntry *entry = g_hash_table_lookup(self->entries, &event->mapping_id);

	if (entry == NULL) {
		entry = g_new0(PmWebhookEntry, 1);
		entry->owner = self;
		entry->mapping_id = event->mapping_id;
		pm_timer_init(&entry->retry_timer, pm_webhook_retry_cb, entry);
		g_hash_table_insert(self->entries, &entry->mapping_id, entry);
	}
	entry->waiting = pm_hook_event_merge(entry->waiting, event);
	pm_consumer_report(&self->parent, entry->mapping_id, PM_CONSUMER_STATE_PENDING, NULL);
	if (entry->call != NULL)
		return;
	/* during a backoff the event waits for its end, unless the admin asks for now */
	if (pm_timer_is_armed(&entry->retry_timer) && !now)
		return;
	if (now)
		entry->backoff_usec = 0;
	pm_webhook_send(entry);
}

static guint64
pm_webhook_now_realtime(PmWebhook *self)
{
	PmScheduler *scheduler = self->parent.scheduler;
	return pm_scheduler_to_realtime(scheduler, pm_scheduler_now(scheduler));
}

static void
pm_webhook_mapping_up(PmConsumer *consumer,
		      const PmMappingView *mapping,
		      const PmMappingPorts *ports,
		      PmConsumerPush push)
{
	PmWebhook *self = (PmWebhook *)consumer;
	pm_webhook_push(self,
			pm_hook_event_new(PM_HOOK_EVENT_UP, mapping, ports, NULL,
					  pm_webhook_now_realtime(self)),
			push == PM_CONSUMER_PUSH_RETRY);
}

static void
pm_webhook_mapping_changed(PmConsumer *consumer,
			   const PmMappingView *mapping,
			   const PmMappingPorts *ports,
			   const PmMappingPorts *previous)
{
	PmWebhook *self = (PmWebhook *)consumer;
	pm_webhook_push(self,
			pm_hook_event_new(PM_HOOK_EVENT_CHANGE, mapping, ports, previous,
					  pm_webhook_now_realtime(self)),
			FALSE);
}

static void
pm_webhook_mapping_down(PmConsumer *consumer,
			const PmMappingView *mapping,
			const PmMappingPorts *ports)
{
	PmWebhook *self = (PmWebhook *)consumer;
	pm_webhook_push(self,
			pm_hook_event_new(PM_HOOK_EVENT_DOWN, mapping, ports, NULL,
					  pm_webhook_now_realtime(self)),
			FALSE);
}

static gboolean
pm_webhook_init(PmConsumer *consumer, GError **error)
{
	PmWebhook *self = (PmWebhook *)consumer;
	PmWebhookConfig *config = (PmWebhookConfig *)consumer->config;

	if (config->token_credential != NULL || config->token_file != NULL) {
		self->token = pm_context_load_secret(consumer->context, config->token_credential,
						     config->token_file, error);
		if (self->token == NULL)
			return FALSE;
	}
	self->entries = g_hash_table_new_full(g_int64_hash, g_int64_equal, NULL,
					      (GDestroyNotify)pm_webhook_entry_free);
	return TRUE;
}

static void
pm_webhook_finalize(PmConsumer *consumer)
{
	PmWebhook *self = (PmWebhook *)consumer;
	g_hash_table_unref(self->entries);
	pm_secret_free(self->token);
}

static void
pm_webhook_describe(PmConsumer *consumer, PmJsonWriter *writer)
{
	PmWebhook *self = (PmWebhook *)consumer;
	PmWebhookConfig *config = (PmWebhookConfig *)consumer->config;
	g_autofree char *url = pm_http_url_for_display(config->url);

	pm_json_member_string(writer, "URL", url);
	pm_json_member_uint(writer, "TimeoutUSec", config->timeout_usec);
	pm_json_member_bool(writer, "Token", self->token != NULL);
}

/* configuration */

static const PmConfigKey pm_webhook_keys[] = {
    {"URL", pm_config_parse_string, G_STRUCT_OFFSET(PmWebhookConfig, url)},
    {"TokenCredential", pm_config_parse_string, G_STRUCT_OFFSET(PmWebhookConfig, token_credential)},
    {"TokenFile", pm_config_parse_string, G_STRUCT_OFFSET(PmWebhookConfig, token_file)},
    {"TimeoutSec", pm_config_parse_timeout, G_STRUCT_OFFSET(PmWebhookConfig, timeout_usec)},
    {NULL},
};

static gboolean
pm_webhook_config_verify(PmConsumerConfig *consumer, PmConfigSection *section, GError **error)
{
	PmWebhookConfig *config = (PmWebhookConfig *)consumer;
	if (config->url == NULL) {
		pm_config_section_set_missing_error(section, "URL",
						    "set the http:// or https:// URL to POST to",
						    error);
		return FALSE;
	}
	if (!pm_http_url_is_valid(config->url)) {
		pm_config_section_set_error(section, pm_config_section_lookup(section, "URL"),
					    "not an http or https URL",
					    "http://HOST[:PORT]/PATH or https://HOST[:PORT]/PATH",
					    error);
		return FALSE;
	}
	if (!pm_config_section_check_secret_keys(section, "Token", config->token_credential,
						 config->token_file, error))
		return FALSE;
	if (config->timeout_usec == 0)
		config->timeout_usec = (guint64)10 * G_USEC_PER_SEC;
	return TRUE;
}

static gboolean
pm_webhook_config_equal(const PmConsumerConfig *a, const PmConsumerConfig *b)
{
	const PmWebhookConfig *wa = (const PmWebhookConfig *)a;
	const PmWebhookConfig *wb = (const PmWebhookConfig *)b;
	return g_strcmp0(wa->url, wb->url) == 0 &&
	       g_strcmp0(wa->token_credential, wb->token_credential) == 0 &&
	       g_strcmp0(wa->token_file, wb->token_file) == 0 &&
	       wa->timeout_usec == wb->timeout_usec;
}

static void
pm_webhook_config_print(const PmConsumerConfig *consumer, GString *out)
{
	const PmWebhookConfig *config = (const PmWebhookConfig *)consumer;
	g_autofree char *timeout = pm_duration_to_string(config->timeout_usec);

	pm_config_print_string(out, "URL", config->url);
	/* where the token is, never the token */
	if (config->token_credential != NULL)
		pm_config_print_string(out, "TokenCredential", config->token_credential);
	if (config->token_file != NULL)
		pm_config_print_string(out, "TokenFile", config->token_file);
	g_string_append_printf(out, "TimeoutSec=%s\n", timeout);
}

static void
pm_webhook_config_free(PmConsumerConfig *consumer)
{
	PmWebhookConfig *config = (PmWebhookConfig *)consumer;
	g_free(config->url);
	g_free(config->token_credential);
	g_free(config->token_file);
}

const PmConsumerClass pm_webhook_consumer_class = {
    .type = "webhook",
    .config_size = sizeof(PmWebhookConfig),
    .object_size = sizeof(PmWebhook),
    .config_keys = pm_webhook_keys,
    .config_verify = pm_webhook_config_verify,
    .config_equal = pm_webhook_config_equal,
    .config_print = pm_webhook_config_print,
    .config_free = pm_webhook_config_free,
    .init = pm_webhook_init,
    .finalize = pm_webhook_finalize,
    .mapping_up = pm_webhook_mapping_up,
    .mapping_changed = pm_webhook_mapping_changed,
    .mapping_down = pm_webhook_mapping_down,
    .describe = pm_webhook_describe,
};
