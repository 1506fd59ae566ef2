/* SPDX-License-Identifier: GPL-2.0-or-later */

#include "errors.h"
#include "http-call.h"
#include "port-setter.h"
#include "secrets.h"

#define PM_PORT_SETTER_BACKOFF_FIRST_USEC (2 * G_USEC_PER_SEC)
#define PM_PORT_SETTER_BACKOFF_MAX_USEC (300 * G_USEC_PER_SEC)
#define PM_PORT_SETTER_DEFAULT_TIMEOUT_USEC (10 * G_USEC_PER_SEC)

enum {
	PHASE_NONE,
	PHASE_CHECK_FIRST, /* is it already right? */
	PHASE_SET,
	PHASE_CHECK_AFTER, /* the proof */
};

/* configuration */

gboolean
pm_port_setter_config_verify(PmPortSetterConfig *config, PmConfigSection *section,
			     const char *default_url, GError **error)
{
	if (config->url == NULL)
		config->url = g_strdup(default_url);
	if (!pm_http_url_is_valid(config->url)) {
		pm_config_section_set_error(section, pm_config_section_lookup(section, "URL"),
					    "not an http or https URL",
					    "http://HOST[:PORT][/PATH] or https://HOST[:PORT][/PATH]",
					    error);
		return FALSE;
	}
	if (!pm_config_section_check_secret_keys(section, "Password", config->password_credential,
						 config->password_file, error))
		return FALSE;
	if (config->timeout_usec == 0)
		config->timeout_usec = PM_PORT_SETTER_DEFAULT_TIMEOUT_USEC;
	return TRUE;
}

gboolean
pm_port_setter_config_equal(const PmConsumerConfig *consumer_a, const PmConsumerConfig *consumer_b)
{
	const PmPortSetterConfig *a = (const PmPortSetterConfig *)consumer_a;
	const PmPortSetterConfig *b = (const PmPortSetterConfig *)consumer_b;

	return g_strcmp0(a->url, b->url) == 0 && g_strcmp0(a->username, b->username) == 0 &&
	       g_strcmp0(a->password_credential, b->password_credential) == 0 &&
	       g_strcmp0(a->password_file, b->password_file) == 0 &&
	       a->timeout_usec == b->timeout_usec;
}

void
pm_port_setter_config_print(const PmConsumerConfig *consumer, GString *out)
{
	const PmPortSetterConfig *config = (const PmPortSetterConfig *)consumer;
	g_autofree char *timeout = pm_duration_to_string(config->timeout_usec);

	pm_config_print_string(out, "URL", config->url);
	if (config->username != NULL)
		pm_config_print_string(out, "Username", config->username);
	if (config->password_credential != NULL)
		pm_config_print_string(out, "PasswordCredential", config->password_credential);
	if (config->password_file != NULL)
		pm_config_print_string(out, "PasswordFile", config->password_file);
	g_string_append_printf(out, "TimeoutSec=%s\n", timeout);
}

void
pm_port_setter_config_free(PmConsumerConfig *consumer)
{
	PmPortSetterConfig *config = (PmPortSetterConfig *)consumer;

	g_free(config->url);
	g_free(config->username);
	g_free(config->password_credential);
	g_free(config->password_file);
}

/* the engine */

static void pm_port_setter_start(PmPortSetter *self);

static gboolean
pm_port_setter_dropped(PmPortSetter *self)
{
	/* removed by a reload, or the daemon stops: nobody hears reports any more */
	return self->parent.report_func == NULL;
}

static void
pm_port_setter_retry_cb(PmTimer *timer, gpointer user_data)
{
	pm_port_setter_start(user_data);
}

static void
pm_port_setter_schedule_retry(PmPortSetter *self)
{
	PmScheduler *scheduler = self->parent.scheduler;
	guint32 jitter;

	if (self->backoff_usec == 0)
		self->backoff_usec = PM_PORT_SETTER_BACKOFF_FIRST_USEC;
	else
		self->backoff_usec = MIN(self->backoff_usec * 2, PM_PORT_SETTER_BACKOFF_MAX_USEC);
	/* up to a quarter more, so that consumers failing together do not retry together */
	jitter = pm_scheduler_random_range(scheduler, 0,
					   (guint32)(self->backoff_usec / 4 / 1000) + 1);
	pm_scheduler_arm(scheduler, &self->retry_timer,
			 pm_scheduler_now(scheduler) + self->backoff_usec + (guint64)jitter * 1000);
}

/* the operation in flight ended: report, then the next one or the retry */
static void
pm_port_setter_finish(PmPortSetter *self, PmPortSetterOutcome outcome, const char *message)
{
	guint64 mapping_id = self->in_flight_mapping_id;
	gboolean dropped = pm_port_setter_dropped(self);

	self->phase = PHASE_NONE;
	self->in_flight_mapping_id = 0;
	if (dropped) {
		if (outcome != PM_PORT_SETTER_OK)
			g_message("%s: %s", self->parent.name, message);
	} else if (outcome == PM_PORT_SETTER_OK) {
		self->backoff_usec = 0;
		self->confirmed_port = self->in_flight.listen_port;
		g_message("%s: listening port %u, read back", self->parent.name,
			  self->in_flight.listen_port);
		/* a newer target waiting reports its own outcome */
		if (!self->pending)
			pm_consumer_report(&self->parent, mapping_id, PM_CONSUMER_STATE_OK, NULL);
	} else if (outcome == PM_PORT_SETTER_RETRY) {
		/* the latest target goes at the end of the wait */
		if (self->mapping_id != 0)
			self->pending = TRUE;
		pm_port_setter_schedule_retry(self);
		g_message("%s: %s; retrying in %" G_GUINT64_FORMAT " s", self->parent.name,
			  message, (self->backoff_usec + G_USEC_PER_SEC / 2) / G_USEC_PER_SEC);
		pm_consumer_report(&self->parent, mapping_id, PM_CONSUMER_STATE_PENDING, message);
	} else if (outcome == PM_PORT_SETTER_AUTH_FAILED) {
		g_autofree char *full = g_strdup_printf(
			"%s; no further login until Reload() or the mapping's Refresh()", message);
		if (self->mapping_id != 0)
			self->pending = TRUE;
		self->blocked = TRUE;
		g_free(self->blocked_message);
		self->blocked_message = g_strdup(full);
		pm_scheduler_disarm(self->parent.scheduler, &self->retry_timer);
		g_warning("%s: %s", self->parent.name, full);
		pm_consumer_report(&self->parent, mapping_id, PM_CONSUMER_STATE_FAILED, full);
	} else {
		self->backoff_usec = 0;
		g_warning("%s: %s", self->parent.name, message);
		if (!self->pending)
			pm_consumer_report(&self->parent, mapping_id, PM_CONSUMER_STATE_FAILED,
					   message);
	}
	if (!dropped && self->pending && !self->blocked &&
	    !pm_timer_is_armed(&self->retry_timer))
		pm_port_setter_start(self);
	/* the operation's reference: may finalize a consumer that a reload removed */
	pm_consumer_unref(&self->parent);
}

static void
pm_port_setter_start(PmPortSetter *self)
{
	pm_scheduler_disarm(self->parent.scheduler, &self->retry_timer);
	if (self->phase != PHASE_NONE || !self->pending || self->blocked || self->mapping_id == 0)
		return;
	self->pending = FALSE;
	self->in_flight = self->target;
	self->in_flight_mapping_id = self->mapping_id;
	self->phase = PHASE_CHECK_FIRST;
	pm_consumer_ref(&self->parent);
	g_debug("%s: checking for listening port %u (announce %u)", self->parent.name,
		self->in_flight.listen_port, self->in_flight.announce_port);
	self->ops->check(self, &self->in_flight);
}

void
pm_port_setter_checked(PmPortSetter *self, PmPortSetterOutcome outcome, gboolean matches,
		       const char *seen, const char *message)
{
	g_return_if_fail(self->phase == PHASE_CHECK_FIRST || self->phase == PHASE_CHECK_AFTER);

	if (outcome != PM_PORT_SETTER_OK) {
		pm_port_setter_finish(self, outcome, message);
	} else if (matches) {
		pm_port_setter_finish(self, PM_PORT_SETTER_OK, NULL);
	} else if (self->phase == PHASE_CHECK_FIRST) {
		g_debug("%s: has %s: setting listening port %u", self->parent.name,
			seen != NULL ? seen : "another port", self->in_flight.listen_port);
		self->phase = PHASE_SET;
		self->ops->set(self, &self->in_flight);
	} else {
		g_autofree char *why = g_strdup_printf(
			"listening port %u was set, but the application reads back %s",
			self->in_flight.listen_port, seen != NULL ? seen : "something else");
		pm_port_setter_finish(self, PM_PORT_SETTER_RETRY, why);
	}
}

void
pm_port_setter_set_done(PmPortSetter *self, PmPortSetterOutcome outcome, const char *message)
{
	g_return_if_fail(self->phase == PHASE_SET);

	if (outcome != PM_PORT_SETTER_OK) {
		pm_port_setter_finish(self, outcome, message);
		return;
	}
	self->phase = PHASE_CHECK_AFTER;
	self->ops->check(self, &self->in_flight);
}

/* the ports a listening application is told: TCP's pair, else UDP's */
static gboolean
pm_port_setter_target_from_ports(const PmMappingPorts *ports, PmPortSetterTarget *out)
{
	for (guint p = 0; p < ports->n_ports; p++) {
		const PmPortPair *pair = &ports->ports[p];
		if (pair->internal_port == 0 || pair->external_port == 0)
			continue;
		out->listen_port = pair->internal_port;
		out->announce_port = pair->external_port;
		return TRUE;
	}
	return FALSE;
}

static void
pm_port_setter_push(PmPortSetter *self, guint64 mapping_id, const PmMappingPorts *ports,
		    PmConsumerPush push)
{
	PmPortSetterTarget target = {0};

	/* never port 0 (gluetun reports 0 while it starts, and clients then pick a random
	 * one) */
	if (!pm_port_setter_target_from_ports(ports, &target))
		return;
	self->mapping_id = mapping_id;
	self->target = target;
	self->pending = TRUE;
	if (push == PM_CONSUMER_PUSH_RETRY) {
		g_autoptr(GError) error = NULL;
		/* Reload() keeps an unchanged consumer: a password fixed in its file is read
		 * here, not only at the next login */
		if (!pm_port_setter_reload_password(self, &error))
			g_warning("%s: %s; keeping the password read before", self->parent.name,
				  error->message);
		self->blocked = FALSE;
		g_clear_pointer(&self->blocked_message, g_free);
		self->backoff_usec = 0;
		pm_scheduler_disarm(self->parent.scheduler, &self->retry_timer);
	}
	if (self->blocked) {
		/* the target is kept for the push that unblocks */
		g_debug("%s: blocked by a refused login: nothing sent (Reload() or the mapping's "
			"Refresh() tries again)", self->parent.name);
		pm_consumer_report(&self->parent, mapping_id, PM_CONSUMER_STATE_FAILED,
				   self->blocked_message);
		return;
	}
	pm_consumer_report(&self->parent, mapping_id, PM_CONSUMER_STATE_PENDING, NULL);
	/* during a backoff the target waits for its end */
	if (self->phase != PHASE_NONE || pm_timer_is_armed(&self->retry_timer))
		return;
	pm_port_setter_start(self);
}

void
pm_port_setter_mapping_up(PmConsumer *consumer, const PmMappingView *mapping,
			  const PmMappingPorts *ports, PmConsumerPush push)
{
	pm_port_setter_push((PmPortSetter *)consumer, mapping->id, ports, push);
}

void
pm_port_setter_mapping_changed(PmConsumer *consumer, const PmMappingView *mapping,
			       const PmMappingPorts *ports, const PmMappingPorts *previous)
{
	pm_port_setter_push((PmPortSetter *)consumer, mapping->id, ports, PM_CONSUMER_PUSH_GRANT);
}

void
pm_port_setter_mapping_down(PmConsumer *consumer, const PmMappingView *mapping,
			    const PmMappingPorts *ports)
{
	PmPortSetter *self = (PmPortSetter *)consumer;

	if (mapping->id != self->mapping_id)
		return;
	/* the application keeps its port: there is nothing to undo, and the next grant is
	 * likely the same port */
	self->mapping_id = 0;
	self->pending = FALSE;
	pm_scheduler_disarm(self->parent.scheduler, &self->retry_timer);
}

void
pm_port_setter_describe(PmConsumer *consumer, PmJsonWriter *writer)
{
	PmPortSetter *self = (PmPortSetter *)consumer;
	g_autofree char *url = pm_http_url_for_display(pm_port_setter_get_config(self)->url);

	pm_json_member_string(writer, "URL", url);
	pm_json_member_bool(writer, "Blocked", self->blocked);
	pm_json_member_uint(writer, "ListenPort", self->confirmed_port);
}

gboolean
pm_port_setter_init(PmPortSetter *self, const PmPortSetterOps *ops, GError **error)
{
	const PmPortSetterConfig *config = pm_port_setter_get_config(self);

	self->ops = ops;
	pm_timer_init(&self->retry_timer, pm_port_setter_retry_cb, self);
	if (config->password_credential != NULL || config->password_file != NULL) {
		self->password = pm_context_load_secret(self->parent.context,
							config->password_credential,
							config->password_file, error);
		if (self->password == NULL)
			return FALSE;
	}
	return TRUE;
}

gboolean
pm_port_setter_reload_password(PmPortSetter *self, GError **error)
{
	const PmPortSetterConfig *config = pm_port_setter_get_config(self);
	char *password;

	if (config->password_credential == NULL && config->password_file == NULL)
		return TRUE;
	password = pm_context_load_secret(self->parent.context, config->password_credential,
					  config->password_file, error);
	if (password == NULL)
		return FALSE;
	pm_secret_free(self->password);
	self->password = password;
	return TRUE;
}

void
pm_port_setter_finalize(PmPortSetter *self)
{
	/* an operation in flight holds a reference: none is */
	g_warn_if_fail(self->phase == PHASE_NONE);
	pm_scheduler_disarm(self->parent.scheduler, &self->retry_timer);
	pm_secret_free(self->password);
	g_free(self->blocked_message);
}
