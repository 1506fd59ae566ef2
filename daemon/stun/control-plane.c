/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "control-plane.h"

#include <string.h>

#include "errors.h"
#include "http-call.h"
#include "secrets.h"

/* one report: on the wire, or failed before it could be sent (reported from an idle) */
typedef struct {
	PmControlPlane *owner;
	PmControlPlaneDoneFunc done;
	gpointer user_data;
	PmHttpCall *call;
	char *token;	   /* the one sent (a copy: wiped); NULL without one */
	GError *error;	   /* failed before sending */
	guint idle_id;	   /* ... reported from here */
} Report;

struct _PmControlPlane {
	PmContext *context;
	PmControlPlaneConfig *config;
	char *url; /* URL/v1/nodes/NodeID/endpoint */
	Report *report;
	/* TokenCredential=/TokenFile=, read at the first report, then again after the control
	 * plane refused it or it could not be read: a secret, wiped */
	char *token;
	gboolean token_stale;

	/* Describe() */
	guint64 last_report_time;
	guint64 last_success_time;
	char *last_error;
	guint last_status;
	PmPeerEndpoints *peers;
};

static void
report_free(Report *report)
{
	if (report->call != NULL)
		pm_http_call_cancel(report->call);
	if (report->idle_id != 0)
		g_source_remove(report->idle_id);
	pm_secret_free(report->token);
	g_clear_error(&report->error);
	g_free(report);
}

static char *
endpoint_url(const PmControlPlaneConfig *config)
{
	/* URL= has no trailing slash (control-plane-config.c), NodeID= nothing to escape */
	return g_strconcat(config->url, "/v1/nodes/", config->node_id, "/endpoint", NULL);
}

PmControlPlane *
pm_control_plane_new(PmContext *context, PmControlPlaneConfig *config)
{
	PmControlPlane *self;

	g_return_val_if_fail(context != NULL && config != NULL, NULL);
	self = g_new0(PmControlPlane, 1);
	self->context = context;
	self->config = pm_control_plane_config_ref(config);
	self->url = endpoint_url(config);
	return self;
}

void
pm_control_plane_free(PmControlPlane *self)
{
	if (self == NULL)
		return;
	pm_control_plane_cancel(self);
	pm_control_plane_config_unref(self->config);
	pm_secret_free(self->token);
	g_free(self->url);
	g_free(self->last_error);
	pm_peer_endpoints_free(self->peers);
	g_free(self);
}

void
pm_control_plane_set_config(PmControlPlane *self, PmControlPlaneConfig *config)
{
	g_return_if_fail(self != NULL && config != NULL);
	/* another source: read at the next report */
	if (g_strcmp0(config->token_credential, self->config->token_credential) != 0 ||
	    g_strcmp0(config->token_file, self->config->token_file) != 0)
		g_clear_pointer(&self->token, pm_secret_free);
	pm_control_plane_config_ref(config);
	pm_control_plane_config_unref(self->config);
	self->config = config;
	g_free(self->url);
	self->url = endpoint_url(config);
}

PmControlPlaneConfig *
pm_control_plane_get_config(PmControlPlane *self)
{
	return self->config;
}

void
pm_control_plane_cancel(PmControlPlane *self)
{
	g_clear_pointer(&self->report, report_free);
}

gboolean
pm_control_plane_is_busy(PmControlPlane *self)
{
	return self->report != NULL;
}

static guint64
now_realtime(PmControlPlane *self)
{
	PmScheduler *scheduler = pm_context_get_scheduler(self->context);
	return pm_scheduler_to_realtime(scheduler, pm_scheduler_now(scheduler));
}

/* @report ended with @peers or @error: the status is kept, the report freed, and then @done
 * runs, which may free the reporter (nothing of it is touched after) */
static void
report_finish(Report *report, PmPeerEndpoints *peers, const GError *error)
{
	PmControlPlane *self = report->owner;
	PmControlPlaneDoneFunc done = report->done;
	gpointer user_data = report->user_data;

	g_assert(self->report == report);
	self->report = NULL;
	report_free(report);

	self->last_report_time = now_realtime(self);
	g_clear_pointer(&self->last_error, g_free);
	if (error != NULL) {
		self->last_error = g_strdup(error->message);
	} else {
		self->last_success_time = self->last_report_time;
		pm_peer_endpoints_free(self->peers);
		self->peers = pm_peer_endpoints_copy(peers);
	}
	if (done != NULL)
		done(error == NULL ? peers : NULL, error, user_data);
}

static gboolean
report_failed_cb(gpointer user_data)
{
	Report *report = user_data;
	g_autoptr(GError) error = g_steal_pointer(&report->error);

	report->idle_id = 0;
	report->owner->last_status = 0;
	report_finish(report, NULL, error);
	return G_SOURCE_REMOVE;
}

static void
report_done_cb(PmHttpCall *call, const GError *error, gpointer user_data)
{
	Report *report = user_data;
	PmControlPlane *self = report->owner;
	g_autoptr(GError) reply_error = NULL;
	g_autoptr(PmPeerEndpoints) peers = NULL;
	GBytes *body;
	gsize len = 0;
	const guint8 *data;

	/* the call frees itself after this returns */
	report->call = NULL;
	if (error != NULL) {
		/* http-call's message names the request: "PUT URL: ..." */
		self->last_status = 0;
		report_finish(report, NULL, error);
		return;
	}
	self->last_status = pm_http_call_get_status(call);
	/* an operator who fixes a refused token on disk needs no reload */
	if (self->last_status == 401 || self->last_status == 403)
		self->token_stale = TRUE;
	body = pm_http_call_get_body(call);
	data = g_bytes_get_data(body, &len);
	peers = pm_control_plane_parse_reply(self->last_status, pm_http_call_get_reason(call),
					     data, len, report->token, &reply_error);
	if (peers == NULL)
		g_prefix_error(&reply_error, "%s: ", pm_http_call_describe(call));
	report_finish(report, peers, reply_error);
}

void
pm_control_plane_report(PmControlPlane *self, const char *endpoint, const char *nat_type,
			PmControlPlaneDoneFunc done, gpointer user_data)
{
	const PmControlPlaneConfig *config;
	g_autoptr(GBytes) body = NULL;
	Report *report;

	g_return_if_fail(self != NULL && endpoint != NULL && nat_type != NULL);
	config = self->config;

	/* the newer report replaces the one on the wire, whose done is never called */
	pm_control_plane_cancel(self);
	report = g_new0(Report, 1);
	report->owner = self;
	report->done = done;
	report->user_data = user_data;
	self->report = report;

	if ((config->token_credential != NULL || config->token_file != NULL) &&
	    (self->token == NULL || self->token_stale)) {
		char *token = pm_context_load_secret(self->context, config->token_credential,
						     config->token_file, &report->error);

		/* not read: this report fails, and the next one reads it again */
		g_clear_pointer(&self->token, pm_secret_free);
		self->token = token;
		self->token_stale = FALSE;
		if (token == NULL)
			g_prefix_error(&report->error, "PUT %s: the token could not be read: ",
				       self->url);
	}
	report->token = g_strdup(self->token);
	if (report->error == NULL) {
		report->call = pm_http_call_new(self->context, "PUT", self->url, &report->error);
		if (report->call == NULL)
			g_prefix_error(&report->error, "PUT %s: ", self->url);
	}
	if (report->call == NULL) {
		/* done runs from the main loop, never from inside this call */
		report->idle_id = g_idle_add(report_failed_cb, report);
		return;
	}
	body = pm_control_plane_build_report(endpoint, nat_type);
	pm_http_call_set_body(report->call, "application/json", body);
	pm_http_call_add_header(report->call, "Accept", "application/json");
	if (report->token != NULL)
		pm_http_call_set_bearer_token(report->call, report->token);
	pm_http_call_set_timeout(report->call, PM_CONTROL_PLANE_TIMEOUT_MSEC);
	pm_http_call_set_max_body(report->call, PM_CONTROL_PLANE_MAX_REPLY);
	/* a PUT of the same endpoint twice is harmless: libsoup may send it on a kept-alive
	 * connection and send it again if the server had closed that one */
	pm_http_call_set_idempotent(report->call);
	pm_http_call_send(report->call, report_done_cb, report);
}

const char *
pm_control_plane_get_url(PmControlPlane *self)
{
	return self->url;
}

guint64
pm_control_plane_get_last_report_time(PmControlPlane *self)
{
	return self->last_report_time;
}

guint64
pm_control_plane_get_last_success_time(PmControlPlane *self)
{
	return self->last_success_time;
}

const char *
pm_control_plane_get_last_error(PmControlPlane *self)
{
	return self->last_error;
}

guint
pm_control_plane_get_last_status(PmControlPlane *self)
{
	return self->last_status;
}

guint
pm_control_plane_get_n_peers(PmControlPlane *self)
{
	return self->peers != NULL ? self->peers->n_peers : 0;
}

const PmPeerEndpoints *
pm_control_plane_get_peers(PmControlPlane *self)
{
	return self->peers;
}
