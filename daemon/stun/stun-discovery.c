/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "stun-discovery.h"

#include <arpa/inet.h>
#include <gio/gio.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "errors.h"

/* RFC 8489 §6.2.1: an initial RTO of 500 ms, doubled after each send */
#define INITIAL_RTO_USEC (500 * G_TIME_SPAN_MILLISECOND)
/* a filtering test's request is sent this many times within its wait (loss) */
#define FILTER_SENDS 3

typedef enum {
	PROBE_BINDING,		 /* Binding to a server (main socket) */
	PROBE_MAPPING_ALT_IP,	 /* RFC 5780 §4.3 test II: to A:p (main socket) */
	PROBE_MAPPING_ALT_BOTH,	 /* test III: to A:a (main socket) */
	PROBE_FILTER_PRIMARY,	 /* §4.4 test I: to P:p (fresh socket) */
	PROBE_FILTER_CHANGE_BOTH, /* test II: CHANGE-REQUEST {IP, port}, answer from A:a */
	PROBE_FILTER_CHANGE_PORT, /* test III: CHANGE-REQUEST {port}, answer from P:a */
	PROBE_REPEAT,		 /* an observed destination asked again before "symmetric" */
} ProbeKind;

typedef struct {
	PmStunDiscovery *run;
	ProbeKind kind;
	guint server;
	PmStunSocket *socket;
	PmStunAddress destination;
	struct sockaddr_storage to;
	socklen_t to_len;
	guint8 id[PM_STUN_TRANSACTION_ID_SIZE];
	guint8 request[64];
	gsize request_len;
	PmTimer timer;
	guint64 first_sent;
	guint64 interval; /* until the next send */
	gboolean fixed_interval;
	guint64 deadline;
	gboolean finished;
} Probe;

struct _PmStunDiscovery {
	PmScheduler *scheduler;
	PmStunConfig *config;
	const PmStunDiscoveryCallbacks *callbacks;
	gpointer user_data;

	PmStunSocket *socket4, *socket6; /* not owned */
	char *why4, *why6;
	PmStunSocket *filter_socket; /* owned: fresh for each run */

	GArray *servers; /* of PmStunServerStatus */
	GPtrArray *probes;
	GCancellable *cancellable; /* name resolutions */
	guint n_resolving;

	guint64 started;
	guint64 deadline;
	guint64 ended;
	PmTimer deadline_timer;
	PmTimer finish_timer;
	gboolean done;
	GError *error;

	/* the endpoint and its socket's own address, as the route to its server has it */
	gboolean has_endpoint;
	PmStunAddress endpoint;
	PmStunAddress local;
	guint endpoint_server;
	guint64 endpoint_usec;
	GArray *observations; /* of PmStunObservation, the endpoint's family */
	gboolean repeated;    /* the observed destinations were asked again */

	/* RFC 5780, with one server */
	gboolean rfc5780;
	guint rfc5780_server;
	gboolean has_x2, has_x3;
	PmStunAddress x2, x3;
	gboolean mapping_tests_over;
	gboolean change_both_answered, change_port_answered, filter_waited;
	gboolean filter_failed;
	guint64 filter_wait;	   /* how long the CHANGE-REQUESTs' answers are waited for */
	guint64 filter_sent;	   /* when they went out */
	guint64 filter_decided;	   /* when FilteringBehavior was known (0: not yet) */

	PmNatType nat_type;
	PmNatBehavior mapping, filtering;
};

static void probe_timer_cb(PmTimer *timer, gpointer user_data);
static void check_done(PmStunDiscovery *self);

/* ---- addresses ---- */

static void
address_from_sockaddr(PmStunAddress *out, const struct sockaddr *sa)
{
	memset(out, 0, sizeof(*out));
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;
		out->family = 4;
		out->port = ntohs(sin->sin_port);
		memcpy(out->address, &sin->sin_addr, 4);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;
		out->family = 6;
		out->port = ntohs(sin6->sin6_port);
		memcpy(out->address, &sin6->sin6_addr, 16);
	}
}

static socklen_t
address_to_sockaddr(const PmStunAddress *address, struct sockaddr_storage *out)
{
	memset(out, 0, sizeof(*out));
	if (address->family == 4) {
		struct sockaddr_in *sin = (struct sockaddr_in *)out;
		sin->sin_family = AF_INET;
		sin->sin_port = htons(address->port);
		memcpy(&sin->sin_addr, address->address, 4);
		return sizeof(*sin);
	}
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)out;
	sin6->sin6_family = AF_INET6;
	sin6->sin6_port = htons(address->port);
	memcpy(&sin6->sin6_addr, address->address, 16);
	return sizeof(*sin6);
}

static gboolean
address_from_inet(PmStunAddress *out, GInetAddress *inet, guint16 port)
{
	gsize size = g_inet_address_get_native_size(inet);

	memset(out, 0, sizeof(*out));
	if (size != 4 && size != 16)
		return FALSE;
	out->family = size == 4 ? 4 : 6;
	out->port = port;
	memcpy(out->address, g_inet_address_to_bytes(inet), size);
	return TRUE;
}

/* the address a socket sending to @to leaves from: the route's source (connect() on a
 * UDP socket sends nothing) with @port, the probing socket's */
static gboolean
local_address_towards(const PmStunAddress *to, guint16 port, PmStunAddress *out)
{
	struct sockaddr_storage sa;
	socklen_t len = address_to_sockaddr(to, &sa);
	int fd = socket(sa.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, IPPROTO_UDP);
	gboolean ok;

	if (fd < 0)
		return FALSE;
	ok = connect(fd, (struct sockaddr *)&sa, len) == 0;
	len = sizeof(sa);
	ok = ok && getsockname(fd, (struct sockaddr *)&sa, &len) == 0;
	close(fd);
	if (!ok)
		return FALSE;
	address_from_sockaddr(out, (struct sockaddr *)&sa);
	out->port = port;
	return TRUE;
}

/* ---- servers ---- */

static PmStunServerStatus *
server_at(PmStunDiscovery *self, guint index)
{
	return &g_array_index(self->servers, PmStunServerStatus, index);
}

static void
server_set_error(PmStunServerStatus *server, const char *format, ...) G_GNUC_PRINTF(2, 3);

static void
server_set_error(PmStunServerStatus *server, const char *format, ...)
{
	va_list args;

	g_free(server->last_error);
	va_start(args, format);
	server->last_error = g_strdup_vprintf(format, args);
	va_end(args);
}

static void
server_status_clear(PmStunServerStatus *server)
{
	g_clear_pointer(&server->last_error, g_free);
}

/* ---- probes ---- */

static void
probe_free(Probe *probe)
{
	pm_scheduler_disarm(probe->run->scheduler, &probe->timer);
	g_free(probe);
}

static void
probe_finish(Probe *probe)
{
	probe->finished = TRUE;
	pm_scheduler_disarm(probe->run->scheduler, &probe->timer);
}

static void
probe_send(Probe *probe)
{
	g_autoptr(GError) error = NULL;

	/* a failed send (no route yet) is one more lost datagram: the next send may pass */
	if (!pm_stun_socket_send(probe->socket, probe->request, probe->request_len,
				 (struct sockaddr *)&probe->to, probe->to_len, &error)) {
		g_autofree char *to = pm_stun_address_to_string(&probe->destination);
		g_debug("STUN: sending to %s failed: %s", to, error->message);
	}
}

/* @socket sends a Binding request to @destination until it is answered or @deadline */
static Probe *
probe_start(PmStunDiscovery *self, ProbeKind kind, guint server, PmStunSocket *socket,
	    const PmStunAddress *destination, guint8 change, guint64 deadline,
	    guint64 fixed_interval)
{
	Probe *probe = g_new0(Probe, 1);
	guint64 now = pm_scheduler_now(self->scheduler);

	probe->run = self;
	probe->kind = kind;
	probe->server = server;
	probe->socket = socket;
	probe->destination = *destination;
	probe->to_len = address_to_sockaddr(destination, &probe->to);
	/* RFC 8489 §6: transaction ids SHOULD be cryptographically random */
	if (getrandom(probe->id, sizeof(probe->id), 0) != sizeof(probe->id)) {
		for (gsize i = 0; i < sizeof(probe->id); i++)
			probe->id[i] = pm_scheduler_random_range(self->scheduler, 0, 256);
	}
	probe->request_len = pm_stun_build_binding_request(probe->request, sizeof(probe->request),
							   probe->id, change != 0, change);
	pm_timer_init(&probe->timer, probe_timer_cb, probe);
	probe->first_sent = now;
	probe->fixed_interval = fixed_interval != 0;
	probe->interval = fixed_interval != 0 ? fixed_interval : INITIAL_RTO_USEC;
	probe->deadline = deadline;
	g_ptr_array_add(self->probes, probe);
	probe_send(probe);
	pm_scheduler_arm(self->scheduler, &probe->timer, MIN(now + probe->interval, deadline));
	return probe;
}

static void
observe(PmStunDiscovery *self, const PmStunAddress *destination, const PmStunAddress *mapped)
{
	PmStunObservation observation = {*destination, *mapped};

	if (destination->family != self->endpoint.family)
		return;
	/* a destination asked again counts with its latest answer */
	for (guint i = 0; i < self->observations->len; i++) {
		PmStunObservation *o = &g_array_index(self->observations, PmStunObservation, i);
		if (pm_stun_address_equal(&o->destination, destination)) {
			o->mapped = *mapped;
			return;
		}
	}
	g_array_append_val(self->observations, observation);
}

/* stun.md §6: a mapping renewed or expired between two probes reads as one that varies by
 * destination, so before "symmetric" every observed destination is asked again from the
 * same socket; their new answers replace the old ones */
static void
repeat_observations(PmStunDiscovery *self)
{
	PmStunSocket *socket = self->endpoint.family == 4 ? self->socket4 : self->socket6;

	self->repeated = TRUE;
	if (socket == NULL)
		return;
	/* answers come from the main loop: nothing changes the observations meanwhile */
	for (guint i = 0; i < self->observations->len; i++) {
		const PmStunAddress *destination =
		    &g_array_index(self->observations, PmStunObservation, i).destination;
		guint server = self->rfc5780_server;
		for (guint j = 0; j < self->servers->len; j++) {
			if (pm_stun_address_equal(&server_at(self, j)->address, destination))
				server = j;
		}
		probe_start(self, PROBE_REPEAT, server, socket, destination, 0, self->deadline, 0);
	}
}

static void
repeat_answered(PmStunDiscovery *self, Probe *probe, const PmStunAddress *mapped)
{
	PmStunServerStatus *server = server_at(self, probe->server);

	observe(self, &probe->destination, mapped);
	if (pm_stun_address_equal(&server->address, &probe->destination)) {
		server->mapped = *mapped;
	} else if (self->rfc5780) {
		/* the alternate addresses of the RFC 5780 server: tests II and III again */
		if (pm_stun_address_same_ip(&probe->destination, &server->other) &&
		    probe->destination.port == server->address.port)
			self->x2 = *mapped;
		else if (pm_stun_address_equal(&probe->destination, &server->other))
			self->x3 = *mapped;
	}
	/* the endpoint's own mapping moved: the endpoint is the new one */
	if (probe->server == self->endpoint_server &&
	    pm_stun_address_equal(&server->address, &probe->destination) &&
	    !pm_stun_address_equal(&self->endpoint, mapped)) {
		self->endpoint = *mapped;
		if (self->callbacks->endpoint != NULL)
			self->callbacks->endpoint(self, mapped, probe->server, self->user_data);
	}
}

static void filter_socket_recv_cb(PmStunSocket *socket, const guint8 *data, gsize len,
				  const struct sockaddr *from, socklen_t from_len,
				  gpointer user_data);

static void
start_rfc5780(PmStunDiscovery *self, guint index, PmStunSocket *socket)
{
	PmStunServerStatus *server = server_at(self, index);
	PmStunAddress alt_ip = server->other;
	g_autoptr(GError) error = NULL;
	int family = server->address.family == 4 ? AF_INET : AF_INET6;

	self->rfc5780 = TRUE;
	self->rfc5780_server = index;
	/* mapping: tests II and III together on the endpoint's socket */
	alt_ip.port = server->address.port;
	probe_start(self, PROBE_MAPPING_ALT_IP, index, socket, &alt_ip, 0, self->deadline, 0);
	probe_start(self, PROBE_MAPPING_ALT_BOTH, index, socket, &server->other, 0, self->deadline,
		    0);
	/* filtering: a fresh socket, so no earlier traffic to the alternate address can have
	 * opened the filter */
	self->filter_socket = pm_stun_socket_new(family, 0, filter_socket_recv_cb, self, &error);
	if (self->filter_socket == NULL) {
		g_debug("STUN: no socket for the filtering tests: %s", error->message);
		self->filter_failed = TRUE;
		return;
	}
	probe_start(self, PROBE_FILTER_PRIMARY, index, self->filter_socket, &server->address, 0,
		    self->deadline, 0);
}

static void
binding_answered(PmStunDiscovery *self, Probe *probe, const PmStunMessage *message,
		 const PmStunAddress *mapped)
{
	PmStunServerStatus *server = server_at(self, probe->server);
	guint64 now = pm_scheduler_now(self->scheduler);

	server->state = PM_STUN_SERVER_ANSWERED;
	server->rtt_usec = now - probe->first_sent;
	server->mapped = *mapped;
	server->other = message->other_address;
	g_clear_pointer(&server->last_error, g_free);
	if (!self->has_endpoint) {
		self->has_endpoint = TRUE;
		self->endpoint = *mapped;
		self->endpoint_server = probe->server;
		self->endpoint_usec = now - self->started;
		if (!local_address_towards(&server->address, pm_stun_socket_get_port(probe->socket),
					   &self->local))
			memset(&self->local, 0, sizeof(self->local));
		if (self->callbacks->endpoint != NULL)
			self->callbacks->endpoint(self, mapped, probe->server, self->user_data);
	}
	observe(self, &server->address, mapped);
	if (!self->rfc5780 && mapped->family == self->endpoint.family &&
	    pm_nat_other_address_usable(&server->address, &message->other_address))
		start_rfc5780(self, probe->server, probe->socket);
}

static void
filter_primary_answered(PmStunDiscovery *self, Probe *probe)
{
	const PmStunServerStatus *server = server_at(self, probe->server);
	guint64 now = pm_scheduler_now(self->scheduler);
	guint64 wait = pm_nat_filter_wait_usec(now - probe->first_sent, self->config->timeout_usec);

	self->filter_wait = wait;
	self->filter_sent = now;
	/* both together: the answers' absence is the result, so their waits overlap */
	probe_start(self, PROBE_FILTER_CHANGE_BOTH, probe->server, self->filter_socket,
		    &server->address, PM_STUN_CHANGE_IP | PM_STUN_CHANGE_PORT, now + wait,
		    wait / FILTER_SENDS);
	probe_start(self, PROBE_FILTER_CHANGE_PORT, probe->server, self->filter_socket,
		    &server->address, PM_STUN_CHANGE_PORT, now + wait, wait / FILTER_SENDS);
}

/* a CHANGE-REQUEST answer counts only from where it was asked to come from: a server that
 * ignores the request answers from P:p, which would read as endpoint-independent */
static gboolean
change_answer_origin_ok(PmStunDiscovery *self, Probe *probe, const PmStunAddress *from)
{
	const PmStunServerStatus *server = server_at(self, probe->server);

	if (probe->kind == PROBE_FILTER_CHANGE_BOTH)
		return !pm_stun_address_same_ip(from, &server->address) &&
		       from->port != server->address.port;
	return pm_stun_address_same_ip(from, &server->address) &&
	       from->port != server->address.port;
}

static void
probe_answered(PmStunDiscovery *self, Probe *probe, const PmStunMessage *message,
	       const PmStunAddress *from)
{
	const PmStunAddress *mapped = pm_stun_message_get_mapped(message);
	PmStunServerStatus *server = server_at(self, probe->server);

	if (message->type == PM_STUN_BINDING_ERROR) {
		/* 5xx may pass on a retransmission; anything else ends this server's probe */
		server_set_error(server, "error response %u %s", message->error_code,
				 message->error_reason);
		if (message->error_code >= 500 && message->error_code < 600)
			return;
		probe_finish(probe);
		if (probe->kind == PROBE_BINDING)
			server->state = PM_STUN_SERVER_FAILED;
		else if (probe->kind == PROBE_FILTER_PRIMARY)
			self->filter_failed = TRUE;
		check_done(self);
		return;
	}
	if (mapped == NULL) {
		server_set_error(server, "an answer without XOR-MAPPED-ADDRESS or MAPPED-ADDRESS");
		return;
	}
	switch (probe->kind) {
	case PROBE_FILTER_CHANGE_BOTH:
	case PROBE_FILTER_CHANGE_PORT:
		if (!change_answer_origin_ok(self, probe, from)) {
			g_autofree char *f = pm_stun_address_to_string(from);
			server_set_error(server,
					 "answered a CHANGE-REQUEST from %s: it does not change "
					 "its address as RFC 5780 asks",
					 f);
			self->filter_failed = TRUE;
			probe_finish(probe);
			check_done(self);
			return;
		}
		break;
	default:
		/* RFC 8489 §6.3: an answer comes from where the request went */
		if (!pm_stun_address_equal(from, &probe->destination)) {
			g_autofree char *f = pm_stun_address_to_string(from);
			g_debug("STUN: an answer from %s, not from the server it was sent to: "
				"ignored",
				f);
			return;
		}
		break;
	}
	probe_finish(probe);
	switch (probe->kind) {
	case PROBE_BINDING:
		binding_answered(self, probe, message, mapped);
		break;
	case PROBE_MAPPING_ALT_IP:
		self->has_x2 = TRUE;
		self->x2 = *mapped;
		observe(self, &probe->destination, mapped);
		break;
	case PROBE_MAPPING_ALT_BOTH:
		self->has_x3 = TRUE;
		self->x3 = *mapped;
		observe(self, &probe->destination, mapped);
		break;
	case PROBE_FILTER_PRIMARY:
		filter_primary_answered(self, probe);
		break;
	case PROBE_FILTER_CHANGE_BOTH:
		self->change_both_answered = TRUE;
		break;
	case PROBE_FILTER_CHANGE_PORT:
		self->change_port_answered = TRUE;
		break;
	case PROBE_REPEAT:
		repeat_answered(self, probe, mapped);
		break;
	}
	check_done(self);
}

static void
probe_timed_out(PmStunDiscovery *self, Probe *probe)
{
	PmStunServerStatus *server = server_at(self, probe->server);

	probe_finish(probe);
	switch (probe->kind) {
	case PROBE_BINDING:
		server->state = PM_STUN_SERVER_SILENT;
		if (server->last_error == NULL) {
			g_autofree char *timeout = pm_duration_to_string(self->config->timeout_usec);
			server_set_error(server, "no answer within %s", timeout);
		}
		break;
	case PROBE_FILTER_PRIMARY:
		self->filter_failed = TRUE;
		break;
	default:
		break;
	}
	check_done(self);
}

static void
probe_timer_cb(PmTimer *timer, gpointer user_data)
{
	Probe *probe = user_data;
	PmStunDiscovery *self = probe->run;
	guint64 now = pm_scheduler_now(self->scheduler);

	if (now >= probe->deadline) {
		probe_timed_out(self, probe);
		return;
	}
	probe_send(probe);
	if (!probe->fixed_interval)
		probe->interval *= 2;
	pm_scheduler_arm(self->scheduler, &probe->timer, MIN(now + probe->interval, probe->deadline));
}

static Probe *
find_probe(PmStunDiscovery *self, PmStunSocket *socket, const guint8 *id)
{
	for (guint i = 0; i < self->probes->len; i++) {
		Probe *probe = g_ptr_array_index(self->probes, i);
		if (!probe->finished && probe->socket == socket &&
		    memcmp(probe->id, id, PM_STUN_TRANSACTION_ID_SIZE) == 0)
			return probe;
	}
	return NULL;
}

void
pm_stun_discovery_receive(PmStunDiscovery *self, PmStunSocket *socket, const guint8 *data,
			  gsize len, const struct sockaddr *from, socklen_t from_len)
{
	g_autoptr(GError) error = NULL;
	PmStunMessage message;
	PmStunAddress sender;
	Probe *probe;

	(void)from_len;
	if (self->done)
		return;
	address_from_sockaddr(&sender, from);
	if (!pm_stun_parse(data, len, &message, &error)) {
		/* RFC 8489 §6.3: discarded; the transaction goes on */
		g_autofree char *s = pm_stun_address_to_string(&sender);
		g_debug("STUN: discarded a datagram from %s: %s", s, error->message);
		/* a reply to one of ours that is broken: say so for that server */
		if (len >= PM_STUN_HEADER_SIZE &&
		    (probe = find_probe(self, socket, data + 8)) != NULL)
			server_set_error(server_at(self, probe->server), "discarded an answer: %s",
					 error->message);
		return;
	}
	if (message.type != PM_STUN_BINDING_SUCCESS && message.type != PM_STUN_BINDING_ERROR)
		return;
	/* unknown or completed transactions (late duplicates) are dropped */
	probe = find_probe(self, socket, message.transaction_id);
	if (probe == NULL)
		return;
	probe_answered(self, probe, &message, &sender);
}

static void
filter_socket_recv_cb(PmStunSocket *socket, const guint8 *data, gsize len,
		      const struct sockaddr *from, socklen_t from_len, gpointer user_data)
{
	pm_stun_discovery_receive(user_data, socket, data, len, from, from_len);
}

/* ---- the run ---- */

static gboolean
anything_pending(PmStunDiscovery *self)
{
	if (self->n_resolving > 0)
		return TRUE;
	for (guint i = 0; i < self->probes->len; i++) {
		const Probe *probe = g_ptr_array_index(self->probes, i);
		if (!probe->finished)
			return TRUE;
	}
	return FALSE;
}

static gboolean
kind_pending(PmStunDiscovery *self, ProbeKind kind)
{
	for (guint i = 0; i < self->probes->len; i++) {
		const Probe *probe = g_ptr_array_index(self->probes, i);
		if (probe->kind == kind && !probe->finished)
			return TRUE;
	}
	return FALSE;
}

static void
classify(PmStunDiscovery *self)
{
	const PmStunAddress *x1 = NULL;
	gboolean filter_over;

	self->nat_type = pm_nat_classify_type((PmStunObservation *)self->observations->data,
					      self->observations->len, &self->local);
	if (self->nat_type == PM_NAT_TYPE_SYMMETRIC && !self->repeated)
		repeat_observations(self);
	/* "symmetric" waits for the repeat's answers (or their deadline) */
	if (self->nat_type == PM_NAT_TYPE_SYMMETRIC && kind_pending(self, PROBE_REPEAT))
		self->nat_type = PM_NAT_TYPE_UNKNOWN;
	if (!self->rfc5780) {
		self->mapping = self->nat_type == PM_NAT_TYPE_NONE ? PM_NAT_BEHAVIOR_NONE
								   : PM_NAT_BEHAVIOR_UNKNOWN;
		self->filtering = PM_NAT_BEHAVIOR_UNKNOWN;
		return;
	}
	x1 = &server_at(self, self->rfc5780_server)->mapped;
	self->mapping = pm_nat_classify_mapping(&self->local, x1, self->has_x2 ? &self->x2 : NULL,
						self->has_x3 ? &self->x3 : NULL);
	filter_over = !kind_pending(self, PROBE_FILTER_PRIMARY) &&
		      !kind_pending(self, PROBE_FILTER_CHANGE_BOTH) &&
		      !kind_pending(self, PROBE_FILTER_CHANGE_PORT);
	if (self->filter_failed)
		self->filtering = pm_nat_classify_filtering(self->change_both_answered, FALSE, FALSE);
	else
		self->filtering = pm_nat_classify_filtering(
		    self->change_both_answered, self->change_port_answered, filter_over);
	if (self->filtering != PM_NAT_BEHAVIOR_UNKNOWN && self->filter_decided == 0)
		self->filter_decided = pm_scheduler_now(self->scheduler);
}

static void
finish_timer_cb(PmTimer *timer, gpointer user_data)
{
	PmStunDiscovery *self = user_data;

	self->callbacks->done(self, self->user_data);
}

static void
finish(PmStunDiscovery *self)
{
	g_autoptr(GString) silent = g_string_new(NULL);

	self->done = TRUE;
	self->ended = pm_scheduler_now(self->scheduler);
	g_cancellable_cancel(self->cancellable);
	pm_scheduler_disarm(self->scheduler, &self->deadline_timer);
	for (guint i = 0; i < self->probes->len; i++) {
		Probe *probe = g_ptr_array_index(self->probes, i);
		if (!probe->finished && probe->kind == PROBE_BINDING) {
			PmStunServerStatus *server = server_at(self, probe->server);
			server->state = PM_STUN_SERVER_SILENT;
			if (server->last_error == NULL)
				server_set_error(server, "no answer before the others decided");
		}
		probe_finish(probe);
	}
	/* the fresh socket has served its purpose */
	g_clear_pointer(&self->filter_socket, pm_stun_socket_free);
	if (!self->has_endpoint) {
		for (guint i = 0; i < self->servers->len; i++) {
			const PmStunServerStatus *server = server_at(self, i);
			g_string_append_printf(silent, "%s%s: %s", i > 0 ? "; " : "", server->text,
					       server->last_error != NULL ? server->last_error
									  : "no answer");
		}
		self->error = g_error_new(PM_ERROR, PM_ERROR_GATEWAY_UNREACHABLE,
					  "no STUN server answered (%s)", silent->str);
	}
	/* never from inside a call into the run */
	pm_scheduler_arm(self->scheduler, &self->finish_timer, self->ended);
}

static void
check_done(PmStunDiscovery *self)
{
	if (self->done)
		return;
	classify(self);
	if (!anything_pending(self) ||
	    (self->nat_type != PM_NAT_TYPE_UNKNOWN && self->mapping != PM_NAT_BEHAVIOR_UNKNOWN &&
	     self->filtering != PM_NAT_BEHAVIOR_UNKNOWN))
		finish(self);
}

static void
deadline_timer_cb(PmTimer *timer, gpointer user_data)
{
	PmStunDiscovery *self = user_data;

	/* what is still resolving has had its time */
	for (guint i = 0; i < self->servers->len; i++) {
		PmStunServerStatus *server = server_at(self, i);
		if (server->state == PM_STUN_SERVER_NOT_ASKED && server->last_error == NULL)
			server_set_error(server, "its name did not resolve in time");
	}
	self->n_resolving = 0;
	g_cancellable_cancel(self->cancellable);
	check_done(self);
}

static void
ask_server(PmStunDiscovery *self, guint index)
{
	PmStunServerStatus *server = server_at(self, index);
	PmStunSocket *socket = server->address.family == 4 ? self->socket4 : self->socket6;
	const char *why = server->address.family == 4 ? self->why4 : self->why6;

	if (socket == NULL) {
		server->state = PM_STUN_SERVER_FAILED;
		server_set_error(server, "no IPv%u socket: %s", server->address.family,
				 why != NULL ? why : "not available");
		return;
	}
	server->state = PM_STUN_SERVER_ASKED;
	probe_start(self, PROBE_BINDING, index, socket, &server->address, 0, self->deadline, 0);
}

typedef struct {
	/* valid whenever the callback gets a result: a run that ends or is freed cancels its
	 * lookups first, and a cancelled lookup's result is dropped unread */
	PmStunDiscovery *run;
	guint index;
} Resolution;

static void
resolved_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
	g_autofree Resolution *resolution = user_data;
	g_autoptr(GError) error = NULL;
	GList *addresses = g_resolver_lookup_by_name_finish(G_RESOLVER(source), result, &error);
	PmStunDiscovery *self = resolution->run;
	PmStunServerStatus *server;

	if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
		g_resolver_free_addresses(addresses);
		return; /* the run ended (and may be gone) */
	}
	server = server_at(self, resolution->index);
	self->n_resolving--;
	if (addresses == NULL) {
		server->state = PM_STUN_SERVER_FAILED;
		server_set_error(server, "cannot resolve %s: %s", server->text, error->message);
	} else {
		/* the first address of a family there is a socket for, else the first */
		guint16 port = server->address.port;
		for (GList *l = addresses; l != NULL; l = l->next) {
			PmStunAddress candidate;
			if (!address_from_inet(&candidate, l->data, port))
				continue;
			if (server->address.family == 0)
				server->address = candidate;
			if ((candidate.family == 4 ? self->socket4 : self->socket6) != NULL) {
				server->address = candidate;
				break;
			}
		}
		g_resolver_free_addresses(addresses);
		ask_server(self, resolution->index);
	}
	check_done(self);
}

PmStunDiscovery *
pm_stun_discovery_new(PmScheduler *scheduler, PmStunConfig *config,
		      const PmStunDiscoveryCallbacks *callbacks, gpointer user_data)
{
	PmStunDiscovery *self = g_new0(PmStunDiscovery, 1);

	self->scheduler = scheduler;
	self->config = pm_stun_config_ref(config);
	self->callbacks = callbacks;
	self->user_data = user_data;
	self->servers = g_array_sized_new(FALSE, TRUE, sizeof(PmStunServerStatus),
					  config->servers->len);
	g_array_set_clear_func(self->servers, (GDestroyNotify)server_status_clear);
	for (guint i = 0; i < config->servers->len; i++) {
		const PmStunServerConfig *c = g_ptr_array_index(config->servers, i);
		PmStunServerStatus server = {.text = c->text};
		g_array_append_val(self->servers, server);
	}
	self->probes = g_ptr_array_new_with_free_func((GDestroyNotify)probe_free);
	self->observations = g_array_new(FALSE, TRUE, sizeof(PmStunObservation));
	self->cancellable = g_cancellable_new();
	pm_timer_init(&self->deadline_timer, deadline_timer_cb, self);
	pm_timer_init(&self->finish_timer, finish_timer_cb, self);
	return self;
}

void
pm_stun_discovery_free(PmStunDiscovery *self)
{
	if (self == NULL)
		return;
	g_cancellable_cancel(self->cancellable);
	g_object_unref(self->cancellable);
	pm_scheduler_disarm(self->scheduler, &self->deadline_timer);
	pm_scheduler_disarm(self->scheduler, &self->finish_timer);
	g_ptr_array_unref(self->probes);
	g_clear_pointer(&self->filter_socket, pm_stun_socket_free);
	g_array_unref(self->servers);
	g_array_unref(self->observations);
	g_clear_error(&self->error);
	g_free(self->why4);
	g_free(self->why6);
	pm_stun_config_unref(self->config);
	g_free(self);
}

void
pm_stun_discovery_set_socket(PmStunDiscovery *self, int family, PmStunSocket *socket,
			     const char *why)
{
	if (family == AF_INET) {
		self->socket4 = socket;
		g_free(self->why4);
		self->why4 = g_strdup(why);
	} else {
		self->socket6 = socket;
		g_free(self->why6);
		self->why6 = g_strdup(why);
	}
}

void
pm_stun_discovery_start(PmStunDiscovery *self)
{
	self->started = pm_scheduler_now(self->scheduler);
	self->deadline = self->started + self->config->timeout_usec;
	pm_scheduler_arm(self->scheduler, &self->deadline_timer, self->deadline);
	for (guint i = 0; i < self->servers->len; i++) {
		const PmStunServerConfig *c = g_ptr_array_index(self->config->servers, i);
		PmStunServerStatus *server = server_at(self, i);
		g_autoptr(GInetAddress) literal = g_inet_address_new_from_string(c->host);

		if (literal != NULL) {
			address_from_inet(&server->address, literal, c->port);
			ask_server(self, i);
		} else {
			Resolution *resolution = g_new0(Resolution, 1);
			resolution->run = self;
			resolution->index = i;
			server->address.port = c->port;
			self->n_resolving++;
			g_resolver_lookup_by_name_async(g_resolver_get_default(), c->host,
							self->cancellable, resolved_cb, resolution);
		}
	}
	check_done(self);
}

gboolean
pm_stun_discovery_is_done(const PmStunDiscovery *self)
{
	return self->done;
}

const GError *
pm_stun_discovery_get_error(const PmStunDiscovery *self)
{
	return self->error;
}

const PmStunAddress *
pm_stun_discovery_get_endpoint(const PmStunDiscovery *self)
{
	return self->has_endpoint ? &self->endpoint : NULL;
}

PmNatType
pm_stun_discovery_get_nat_type(const PmStunDiscovery *self)
{
	return self->nat_type;
}

PmNatBehavior
pm_stun_discovery_get_mapping(const PmStunDiscovery *self)
{
	return self->mapping;
}

PmNatBehavior
pm_stun_discovery_get_filtering(const PmStunDiscovery *self)
{
	return self->filtering;
}

guint
pm_stun_discovery_get_n_servers(const PmStunDiscovery *self)
{
	return self->servers->len;
}

const PmStunServerStatus *
pm_stun_discovery_get_server(const PmStunDiscovery *self, guint index)
{
	return &g_array_index(self->servers, PmStunServerStatus, index);
}

guint
pm_stun_discovery_get_endpoint_server(const PmStunDiscovery *self)
{
	return self->endpoint_server;
}

guint64
pm_stun_discovery_get_endpoint_usec(const PmStunDiscovery *self)
{
	return self->endpoint_usec;
}

guint64
pm_stun_discovery_get_duration_usec(const PmStunDiscovery *self)
{
	return self->done ? self->ended - self->started : 0;
}

guint64
pm_stun_discovery_get_filter_wait_usec(const PmStunDiscovery *self)
{
	return self->filter_wait;
}

guint64
pm_stun_discovery_get_filter_verdict_usec(const PmStunDiscovery *self)
{
	return self->filter_decided != 0 ? self->filter_decided - self->filter_sent : 0;
}
