/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "wg-updater.h"

#include <errno.h>
#include <gio/gio.h>
#include <string.h>
#include <sys/stat.h>

#include "errors.h"
#include "proto/wg-netlink.h"

struct _PmWgUpdater {
	char *interface;
	char *rundir;
	guint timeout_msec;
	PmWgNetlinkOpenFunc netlink_open;
	gpointer netlink_open_data;
	GQueue jobs;	 /* of Job: the head runs, the rest wait */
	guint start_id; /* an idle that starts the head */
};

typedef struct {
	char *peer_id; /* as given, for the log when it is no key */
	char *endpoint_text;
	gboolean valid;
	guint8 key[PM_WG_KEY_LEN];
	PmWgEndpoint endpoint;
} Request;

typedef enum {
	STEP_FAMILY,
	STEP_DEVICE,
	STEP_SET,
} NetlinkStep;

/* one apply */
typedef struct {
	PmWgUpdater *updater;
	GPtrArray *requests; /* of Request */
	GArray *todo;	     /* of guint: the requests to send, in order */
	guint next;	     /* in todo */
	Request *current;    /* the one in flight */
	PmWgApplyFunc done;
	gpointer user_data;
	PmWgApplyResult result;
	PmWgProbe probe;
	PmWgDevice *device;
	char *socket_path;
	PmWgUapiCall *call;
	/* the kernel path */
	PmWgNetlinkSocket *netlink;
	NetlinkStep step;
	guint32 seq;
	guint16 family_id;
	PmWgNlStatus status;
	guint timeout_id;
} Job;

static void schedule_start(PmWgUpdater *self);
static void run_next(Job *job);

static void
request_free(gpointer data)
{
	Request *request = data;
	g_free(request->peer_id);
	g_free(request->endpoint_text);
	g_free(request);
}

/* what a control plane sent, safe for a log line: escaped, and bounded */
static char *
printable(const char *text)
{
	g_autofree char *cut = g_strndup(text != NULL ? text : "(null)", 64);
	return g_strescape(cut, NULL);
}

static void
job_stop_io(Job *job)
{
	g_clear_handle_id(&job->timeout_id, g_source_remove);
	g_clear_pointer(&job->call, pm_wg_uapi_call_free);
	g_clear_pointer(&job->netlink, pm_wg_netlink_socket_free);
}

static void
job_free(Job *job)
{
	job_stop_io(job);
	pm_wg_device_free(job->device);
	g_ptr_array_unref(job->requests);
	g_array_unref(job->todo);
	g_free(job->socket_path);
	g_free(job);
}

/* the one way out of a running job: @error NULL for a result */
static void
job_finish(Job *job, const GError *error)
{
	PmWgUpdater *self = job->updater;

	job_stop_io(job);
	/* out of the queue before the callback, which may free the updater or apply again */
	g_queue_remove(&self->jobs, job);
	schedule_start(self);
	if (job->done != NULL)
		job->done(error != NULL ? NULL : &job->result, error, job->user_data);
	job_free(job);
}

static void
job_fail(Job *job, GError *error)
{
	job_finish(job, error);
	g_error_free(error);
}

PmWgBackend
pm_wg_choose_backend(const char *interface, const char *rundir, const PmWgProbe *probe,
		     GError **error)
{
	int errnum;

	if (probe->socket_exists)
		return PM_WG_BACKEND_USERSPACE;
	if (probe->family_errno == 0 && probe->device_errno == 0)
		return PM_WG_BACKEND_KERNEL;
	errnum = probe->family_errno != 0 ? probe->family_errno : probe->device_errno;
	switch (errnum) {
	case ENOENT:	 /* no "wireguard" family */
	case ENODEV:	 /* no such interface */
	case EOPNOTSUPP: /* an interface of another kind */
		g_set_error(error, PM_ERROR, PM_ERROR_FAILED,
			    "no WireGuard interface %s: neither a kernel device nor a userspace "
			    "socket in %s%s",
			    interface, rundir,
			    errnum == EOPNOTSUPP ? " (it is an interface of another kind)" : "");
		break;
	case EPERM:
	case EACCES:
		/* GENL_UNS_ADMIN_PERM on WG_CMD_GET_DEVICE as on WG_CMD_SET_DEVICE */
		g_set_error(error, PM_ERROR, PM_ERROR_ACCESS_DENIED,
			    "the kernel refused to show WireGuard interface %s: reading and "
			    "setting its peers needs CAP_NET_ADMIN",
			    interface);
		break;
	default:
		g_set_error(error, PM_ERROR, PM_ERROR_FAILED,
			    "cannot read WireGuard interface %s from the kernel: %s", interface,
			    g_strerror(errnum));
		break;
	}
	return PM_WG_BACKEND_NONE;
}

/* what each request comes to against the peers read: skipped, unchanged, or to send */
static void
plan(Job *job)
{
	const char *interface = job->updater->interface;

	for (guint i = 0; i < job->requests->len; i++) {
		Request *request = g_ptr_array_index(job->requests, i);
		PmWgPeer *peer;

		if (!request->valid)
			continue;
		peer = pm_wg_device_find_peer(job->device, request->key);
		if (peer == NULL) {
			g_warning("WireGuard %s: peer %s is not on the interface: skipped "
				  "(portmapd updates peers, it never adds them)",
				  interface, request->peer_id);
			job->result.skipped++;
		} else if (pm_wg_endpoint_matches(peer->endpoint, &request->endpoint)) {
			g_debug("WireGuard %s: peer %s: endpoint %s already in place", interface,
				request->peer_id, request->endpoint_text);
			job->result.unchanged++;
		} else {
			g_array_append_val(job->todo, i);
		}
	}
}

static const char *
current_endpoint(Job *job, const Request *request)
{
	PmWgPeer *peer = pm_wg_device_find_peer(job->device, request->key);
	return peer != NULL && peer->endpoint != NULL ? peer->endpoint : "none";
}

static void
request_applied(Job *job, Request *request)
{
	PmWgPeer *peer = pm_wg_device_find_peer(job->device, request->key);

	g_info("WireGuard %s: peer %s: endpoint %s (was %s)", job->updater->interface,
	       request->peer_id, request->endpoint_text, current_endpoint(job, request));
	job->result.applied++;
	/* a second request for the peer in this apply compares with this one */
	g_free(peer->endpoint);
	peer->endpoint = g_strdup(request->endpoint_text);
}

static void
request_refused(Job *job, Request *request, int errnum)
{
	const char *note = "";

	if (job->result.backend == PM_WG_BACKEND_USERSPACE && errnum == EINVAL &&
	    pm_wg_device_get_has_own_public_key(job->device))
		note = "; this looks like boringtun, which refuses update_only=true (and "
		       "portmapd sends no update without it, so as never to add a peer)";
	g_warning("WireGuard %s: peer %s: endpoint %s refused by %s: %s (errno %d)%s",
		  job->updater->interface, request->peer_id, request->endpoint_text,
		  job->result.backend == PM_WG_BACKEND_KERNEL ? "the kernel"
							      : "the userspace WireGuard",
		  g_strerror(errnum), errnum, note);
	job->result.failed++;
}

static void
request_failed(Job *job, Request *request, const GError *error)
{
	g_warning("WireGuard %s: peer %s: endpoint %s not set: %s", job->updater->interface,
		  request->peer_id, request->endpoint_text, error->message);
	job->result.failed++;
}

/* the peers are known: work out what to send and send it */
static void
job_read(Job *job, PmWgDevice *device)
{
	job->device = device;
	plan(job);
	run_next(job);
}

static void
set_done_cb(PmWgUapiCall *call, PmWgDevice *device, int errnum, const GError *error,
	    gpointer user_data)
{
	Job *job = user_data;
	Request *request = g_steal_pointer(&job->current);

	pm_wg_device_free(device);
	g_clear_pointer(&job->call, pm_wg_uapi_call_free);
	if (error != NULL)
		request_failed(job, request, error);
	else if (errnum != 0)
		request_refused(job, request, errnum);
	else
		request_applied(job, request);
	run_next(job);
}

static void
get_done_cb(PmWgUapiCall *call, PmWgDevice *device, int errnum, const GError *error,
	    gpointer user_data)
{
	Job *job = user_data;

	g_clear_pointer(&job->call, pm_wg_uapi_call_free);
	if (error != NULL) {
		job_fail(job, g_error_copy(error));
		return;
	}
	if (errnum != 0) {
		pm_wg_device_free(device);
		job_fail(job, g_error_new(PM_ERROR, PM_ERROR_FAILED,
					  "the userspace WireGuard of %s answered get=1 with "
					  "errno=%d (%s)",
					  job->updater->interface, errnum, g_strerror(errnum)));
		return;
	}
	job_read(job, device);
}

static gboolean
netlink_timeout_cb(gpointer user_data)
{
	Job *job = user_data;
	g_autoptr(GError) error = NULL;

	job->timeout_id = 0;
	error = g_error_new(G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
			    "the kernel did not answer within %u ms", job->updater->timeout_msec);
	if (job->step == STEP_SET) {
		/* a late answer has another sequence number than the next request's */
		request_failed(job, g_steal_pointer(&job->current), error);
		run_next(job);
	} else {
		job_finish(job, error);
	}
	return G_SOURCE_REMOVE;
}

/* a request of @len bytes in @buf, numbered job->seq, for @step */
static gboolean
netlink_send(Job *job, NetlinkStep step, const guint8 *buf, gsize len, GError **error)
{
	job->step = step;
	job->status = (PmWgNlStatus){0};
	if (!pm_wg_netlink_socket_send(job->netlink, buf, len, error))
		return FALSE;
	g_clear_handle_id(&job->timeout_id, g_source_remove);
	job->timeout_id = g_timeout_add(job->updater->timeout_msec, netlink_timeout_cb, job);
	return TRUE;
}

static void
send_get_device(Job *job)
{
	guint8 buf[PM_WG_NL_REQUEST_MAX];
	gsize len = pm_wg_nl_build_get_device(buf, sizeof(buf), ++job->seq, job->family_id,
					      job->updater->interface);
	GError *error = NULL;

	job->device = pm_wg_device_new();
	if (!netlink_send(job, STEP_DEVICE, buf, len, &error))
		job_fail(job, error);
}

static void
netlink_family(Job *job, const guint8 *data, gsize len)
{
	GError *error = NULL;

	if (!pm_wg_nl_parse_family(data, len, job->seq, &job->family_id, &job->status,
				   &error)) {
		job_fail(job, error);
		return;
	}
	if (!job->status.done)
		return;
	job->probe.family_errno = job->status.errnum;
	if (job->status.errnum != 0) {
		pm_wg_choose_backend(job->updater->interface, job->updater->rundir, &job->probe,
				     &error);
		job_fail(job, error);
		return;
	}
	send_get_device(job);
}

static void
netlink_device(Job *job, const guint8 *data, gsize len)
{
	GError *error = NULL;
	PmWgDevice *device;

	if (!pm_wg_nl_parse_device(data, len, job->seq, job->family_id, job->device,
				   &job->status, &error)) {
		job_fail(job, error);
		return;
	}
	if (!job->status.done)
		return;
	g_clear_handle_id(&job->timeout_id, g_source_remove);
	job->probe.device_errno = job->status.errnum;
	job->result.backend = pm_wg_choose_backend(job->updater->interface, job->updater->rundir,
						   &job->probe, &error);
	if (job->result.backend == PM_WG_BACKEND_NONE) {
		job_fail(job, error);
		return;
	}
	device = g_steal_pointer(&job->device);
	job_read(job, device);
}

static void
netlink_ack(Job *job, const guint8 *data, gsize len)
{
	g_autoptr(GError) error = NULL;

	if (!pm_wg_nl_parse_ack(data, len, job->seq, &job->status, &error)) {
		g_clear_handle_id(&job->timeout_id, g_source_remove);
		request_failed(job, g_steal_pointer(&job->current), error);
		run_next(job);
		return;
	}
	if (!job->status.done)
		return;
	g_clear_handle_id(&job->timeout_id, g_source_remove);
	if (job->status.errnum != 0)
		request_refused(job, g_steal_pointer(&job->current), job->status.errnum);
	else
		request_applied(job, g_steal_pointer(&job->current));
	run_next(job);
}

static void
netlink_recv_cb(PmWgNetlinkSocket *socket, const guint8 *data, gsize len,
		const GError *error, gpointer user_data)
{
	Job *job = user_data;

	if (error != NULL) {
		if (job->step == STEP_SET && job->current != NULL) {
			g_clear_handle_id(&job->timeout_id, g_source_remove);
			request_failed(job, g_steal_pointer(&job->current), error);
			run_next(job);
		} else {
			job_finish(job, error);
		}
		return;
	}
	switch (job->step) {
	case STEP_FAMILY:
		netlink_family(job, data, len);
		break;
	case STEP_DEVICE:
		netlink_device(job, data, len);
		break;
	case STEP_SET:
		/* an answer after its timeout, or nothing asked: not ours */
		if (job->current != NULL)
			netlink_ack(job, data, len);
		break;
	}
}

static void
start_kernel(Job *job)
{
	guint8 buf[PM_WG_NL_REQUEST_MAX];
	gsize len;
	GError *error = NULL;

	job->netlink = pm_wg_netlink_socket_new(job->updater->netlink_open,
						job->updater->netlink_open_data, netlink_recv_cb,
						job, &error);
	if (job->netlink == NULL) {
		job_fail(job, error);
		return;
	}
	/* sequence numbers start anywhere: a stray answer to an earlier socket's request
	 * cannot match */
	job->seq = g_random_int();
	len = pm_wg_nl_build_get_family(buf, sizeof(buf), ++job->seq);
	if (!netlink_send(job, STEP_FAMILY, buf, len, &error))
		job_fail(job, error);
}

static void
job_start(Job *job)
{
	PmWgUpdater *self = job->updater;
	g_autofree char *name = NULL;
	struct stat st;

	if (!pm_wg_ifname_is_valid(self->interface)) {
		g_autofree char *shown = printable(self->interface);
		job_fail(job, g_error_new(PM_ERROR, PM_ERROR_INVALID_CONFIGURATION,
					  "\"%s\" is not an interface name", shown));
		return;
	}
	name = g_strdup_printf("%s.sock", self->interface);
	job->socket_path = g_build_filename(self->rundir, name, NULL);
	/* a socket we may not even look at is one we may not use: connect() says so */
	if (stat(job->socket_path, &st) == 0)
		job->probe.socket_exists = S_ISSOCK(st.st_mode);
	else
		job->probe.socket_exists = errno == EACCES;
	if (!job->probe.socket_exists) {
		start_kernel(job);
		return;
	}
	job->result.backend = pm_wg_choose_backend(self->interface, self->rundir, &job->probe,
						   NULL);
	job->call = pm_wg_uapi_call_new(job->socket_path, PM_WG_UAPI_GET_REQUEST,
					self->timeout_msec, get_done_cb, job);
}

static void
send_set_kernel(Job *job, Request *request)
{
	guint8 buf[PM_WG_NL_REQUEST_MAX];
	gsize len = pm_wg_nl_build_set_endpoint(buf, sizeof(buf), ++job->seq, job->family_id,
						job->updater->interface, request->key,
						&request->endpoint);
	g_autoptr(GError) error = NULL;

	if (!netlink_send(job, STEP_SET, buf, len, &error)) {
		request_failed(job, g_steal_pointer(&job->current), error);
		run_next(job);
	}
}

static void
run_next(Job *job)
{
	Request *request;

	if (job->next == job->todo->len) {
		job_finish(job, NULL);
		return;
	}
	request = g_ptr_array_index(job->requests, g_array_index(job->todo, guint, job->next));
	job->next++;
	job->current = request;
	if (job->result.backend == PM_WG_BACKEND_KERNEL) {
		send_set_kernel(job, request);
	} else {
		g_autofree char *text = pm_wg_uapi_build_set(request->key, &request->endpoint);
		job->call = pm_wg_uapi_call_new(job->socket_path, text, job->updater->timeout_msec,
						set_done_cb, job);
	}
}

static gboolean
start_cb(gpointer user_data)
{
	PmWgUpdater *self = user_data;

	self->start_id = 0;
	job_start(g_queue_peek_head(&self->jobs));
	return G_SOURCE_REMOVE;
}

/* the head of the queue starts from the main loop, never from inside a caller */
static void
schedule_start(PmWgUpdater *self)
{
	if (self->start_id == 0 && !g_queue_is_empty(&self->jobs))
		self->start_id = g_idle_add(start_cb, self);
}

PmWgUpdater *
pm_wg_updater_new(const char *interface)
{
	PmWgUpdater *self = g_new0(PmWgUpdater, 1);

	self->interface = g_strdup(interface);
	self->rundir = g_strdup(PM_WG_DEFAULT_RUNDIR);
	self->timeout_msec = PM_WG_DEFAULT_TIMEOUT_MSEC;
	self->netlink_open = pm_wg_netlink_open_kernel;
	g_queue_init(&self->jobs);
	return self;
}

void
pm_wg_updater_free(PmWgUpdater *self)
{
	Job *job;

	if (self == NULL)
		return;
	g_clear_handle_id(&self->start_id, g_source_remove);
	while ((job = g_queue_pop_head(&self->jobs)) != NULL) {
		g_autoptr(GError) error = g_error_new_literal(G_IO_ERROR, G_IO_ERROR_CANCELLED,
							      "the WireGuard updater was stopped");
		job_stop_io(job);
		if (job->done != NULL)
			job->done(NULL, error, job->user_data);
		job_free(job);
	}
	g_free(self->interface);
	g_free(self->rundir);
	g_free(self);
}

void
pm_wg_updater_set_rundir(PmWgUpdater *self, const char *rundir)
{
	g_free(self->rundir);
	self->rundir = g_strdup(rundir);
}

void
pm_wg_updater_set_netlink_open(PmWgUpdater *self, PmWgNetlinkOpenFunc func, gpointer user_data)
{
	self->netlink_open = func;
	self->netlink_open_data = user_data;
}

void
pm_wg_updater_set_timeout(PmWgUpdater *self, guint msec)
{
	self->timeout_msec = msec;
}

/* checks one request; what is wrong with it is logged now, and it is counted skipped */
static Request *
request_new(PmWgUpdater *self, const PmWgPeerEndpoint *peer, guint *skipped)
{
	Request *request = g_new0(Request, 1);

	request->peer_id = g_strdup(peer->peer_id);
	request->endpoint_text = g_strdup(peer->endpoint);
	if (!pm_wg_key_from_base64(peer->peer_id, request->key, NULL)) {
		g_autofree char *shown = printable(peer->peer_id);
		g_warning("WireGuard %s: peer \"%s\": not a WireGuard public key (44 characters "
			  "of base64): skipped",
			  self->interface, shown);
		(*skipped)++;
	} else if (!pm_wg_endpoint_parse(peer->endpoint, &request->endpoint, NULL)) {
		g_autofree char *shown = printable(peer->endpoint);
		g_warning("WireGuard %s: peer %s: endpoint \"%s\" is not a.b.c.d:port or "
			  "[IPv6]:port: skipped",
			  self->interface, peer->peer_id, shown);
		(*skipped)++;
	} else {
		request->valid = TRUE;
	}
	return request;
}

void
pm_wg_updater_apply(PmWgUpdater *self, const PmWgPeerEndpoint *peers, guint n,
		    PmWgApplyFunc done, gpointer user_data)
{
	Job *job = g_new0(Job, 1);

	job->updater = self;
	job->done = done;
	job->user_data = user_data;
	job->requests = g_ptr_array_new_full(n, request_free);
	job->todo = g_array_new(FALSE, FALSE, sizeof(guint));
	for (guint i = 0; i < n; i++)
		g_ptr_array_add(job->requests, request_new(self, &peers[i], &job->result.skipped));
	g_queue_push_tail(&self->jobs, job);
	schedule_start(self);
}
