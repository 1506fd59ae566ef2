/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * natpmp-load: a NAT-PMP (RFC 6886) load generator for the gateway benchmark
 * (bench/run natpmpserver) and the flood test (tests/flood).
 *
 *   natpmp-load --dest ADDR[:PORT] [--bind ADDR] [--op LIST] [--window W [--pace R] | --rate R]
 *               [--duration S | --count N] [--port-base P] [--ports N] [--lifetime S]
 *               [--suggest E] [--prime] [--timeout MS] [--drain MS] [--cpu N]
 *
 * Closed loop (--window W, the default W = 1): W requests outstanding at any time; each
 * answer sends the next one (with --pace R: at most R requests per second, a new one no
 * sooner than 1/R after the previous one, no catching up after a slow answer). Open loop (--rate R): requests go out on a fixed schedule,
 * R per second, whatever comes back. Either runs for --duration seconds or --count
 * requests sent.
 *
 * --op: a comma-separated list cycled request by request: 0 (public address), tcp or udp
 * (map requests: opcode 2 / 1). Map requests use internal ports --port-base .. +--ports-1,
 * round robin; a port is asked again with the suggested external port set to the port the
 * last successful answer granted for it (a renewal), else --suggest. --prime maps every
 * port once first, untimed (W in flight), so that the timed run is renewals only.
 *
 * Matching: one connected UDP socket (the kernel drops datagrams from anyone but the
 * destination), a reply must have version 0, the request's opcode + 128 and the answer's
 * length (12 bytes for opcode 0, 16 for a map request). A map answer matches the
 * outstanding request of its protocol and internal port; an opcode-0 answer carries no
 * identifier and matches the oldest outstanding opcode-0 request. Anything else is
 * counted as unmatched, never as an answer. Closed loop: a request unanswered after
 * --timeout ms (default 200) counts as lost and the same request is sent again, so the
 * window never stalls. Open loop: it counts as lost, and so does a map request for a port
 * whose previous request is still outstanding when the schedule comes back to that port
 * (superseded). After the last send, answers are awaited for --drain ms (default: the
 * timeout); what is still outstanding then is lost.
 *
 * Output: one JSON line on stdout: sent, answered, lost, unmatched, the answer rate
 * (answers per second of the timed run), RTT p50/p99/max in µs, the result-code histogram,
 * mapped (ports whose last answer was a success) and more; see print_json().
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define NATPMP_PORT 5351
#define MAX_OPS 64
#define BATCH 64
#define N_RESULTS 7 /* 0..5 as in RFC 6886, 6 = anything else */

enum { OP_PUBLIC = 0, OP_UDP = 1, OP_TCP = 2 };

typedef struct {
	uint64_t t_send;   /* ns, CLOCK_MONOTONIC */
	uint32_t port_idx; /* map requests: index into the port table */
	uint8_t op;
	bool live;	   /* still outstanding */
} Entry;

typedef struct {
	int64_t entry;	    /* index (sequence number) of its outstanding request, -1 none */
	uint16_t granted;   /* E of the last successful answer, 0 none */
	uint8_t last_result; /* 255: never answered */
} PortState;

/* options */
static struct sockaddr_in dest;
static struct sockaddr_in bind_addr;
static bool have_bind;
static uint8_t ops[MAX_OPS];
static unsigned n_ops = 1;
static unsigned window = 1;
static double rate;	       /* > 0: open loop */
static double pace;	       /* > 0: closed loop, at most this many requests/s */
static double duration = 3;    /* s, unless count */
static uint64_t count;	       /* requests to send, 0: by duration */
static unsigned port_base = 20000;
static unsigned n_ports;       /* default: max(window, 1) */
static uint32_t lifetime = 3600;
static unsigned suggest;       /* suggested external port for a first request */
static bool prime;
static unsigned timeout_ms = 200;
static int drain_ms = -1;
static int cpu = -1;

/* state */
static int fd = -1;
static Entry *ring;	       /* outstanding requests in send order, by sequence number */
static uint64_t ring_cap;      /* a power of 2 */
static uint64_t head, tail;    /* sequence numbers: [head, tail) may hold live entries */
static uint64_t n_live;
static PortState *ports_udp, *ports_tcp;
static unsigned next_port;     /* round robin over the ports */
static unsigned next_op;

/* counters of the current phase */
static uint64_t sent, answered, lost, superseded, unmatched, send_errors, icmp_errors;
static uint64_t results[N_RESULTS];
static uint32_t *rtts;	       /* µs, answered requests */
static uint64_t n_rtts, rtts_cap;
static uint64_t t_last_answer;
static uint32_t last_epoch;
static uint64_t epoch_regressions;

static volatile sig_atomic_t interrupted;

static uint64_t
now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + ts.tv_nsec;
}

static void
die(const char *what)
{
	fprintf(stderr, "natpmp-load: %s: %s\n", what, strerror(errno));
	exit(2);
}

static void
usage(const char *msg)
{
	if (msg)
		fprintf(stderr, "natpmp-load: %s\n", msg);
	fprintf(stderr,
		"usage: natpmp-load --dest ADDR[:PORT] [--bind ADDR] [--op 0|tcp|udp[,...]]\n"
		"         [--window W [--pace R] | --rate R] [--duration S | --count N]\n"
		"         [--port-base P] [--ports N] [--lifetime S] [--suggest E] [--prime]\n"
		"         [--timeout MS] [--drain MS] [--cpu N]\n");
	exit(2);
}

static void
parse_addr(const char *text, struct sockaddr_in *out, bool allow_port)
{
	char buf[64];
	snprintf(buf, sizeof buf, "%s", text);
	char *colon = strchr(buf, ':');
	memset(out, 0, sizeof *out);
	out->sin_family = AF_INET;
	out->sin_port = htons(allow_port ? NATPMP_PORT : 0);
	if (colon) {
		if (!allow_port)
			usage("--bind takes an address only");
		*colon = 0;
		char *end;
		long p = strtol(colon + 1, &end, 10);
		if (*end || p <= 0 || p > 65535)
			usage("bad port");
		out->sin_port = htons((uint16_t)p);
	}
	if (inet_pton(AF_INET, buf, &out->sin_addr) != 1)
		usage("bad IPv4 address");
}

static void
parse_ops(const char *text)
{
	char buf[512];
	snprintf(buf, sizeof buf, "%s", text);
	n_ops = 0;
	for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		if (n_ops == MAX_OPS)
			usage("--op: too many entries");
		if (!strcmp(tok, "0") || !strcmp(tok, "public"))
			ops[n_ops++] = OP_PUBLIC;
		else if (!strcmp(tok, "tcp") || !strcmp(tok, "map-tcp") || !strcmp(tok, "2"))
			ops[n_ops++] = OP_TCP;
		else if (!strcmp(tok, "udp") || !strcmp(tok, "map-udp") || !strcmp(tok, "1"))
			ops[n_ops++] = OP_UDP;
		else
			usage("--op: 0, tcp or udp");
	}
	if (!n_ops)
		usage("--op: empty");
}

static unsigned long
num(const char *text, const char *what, unsigned long max)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(text, &end, 10);
	if (errno || *end || v > max) {
		fprintf(stderr, "natpmp-load: bad %s: %s\n", what, text);
		exit(2);
	}
	return v;
}

static bool
uses_maps(void)
{
	for (unsigned i = 0; i < n_ops; i++)
		if (ops[i] != OP_PUBLIC)
			return true;
	return false;
}

static PortState *
port_table(uint8_t op)
{
	return op == OP_TCP ? ports_tcp : ports_udp;
}

static void
record_rtt(uint64_t rtt_ns)
{
	if (n_rtts == rtts_cap) {
		rtts_cap = rtts_cap ? rtts_cap * 2 : 65536;
		rtts = realloc(rtts, rtts_cap * sizeof *rtts);
		if (!rtts)
			die("realloc");
	}
	uint64_t us = rtt_ns / 1000;
	rtts[n_rtts++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
}

static void
ring_grow(void)
{
	uint64_t cap = ring_cap ? ring_cap * 2 : 1024;
	Entry *r = calloc(cap, sizeof *r);
	if (!r)
		die("calloc");
	for (uint64_t s = head; s < tail; s++)
		r[s & (cap - 1)] = ring[s & (ring_cap - 1)];
	free(ring);
	ring = r;
	ring_cap = cap;
}

static Entry *
entry_at(uint64_t seq)
{
	return &ring[seq & (ring_cap - 1)];
}

static void
pop_dead(void)
{
	while (head < tail && !entry_at(head)->live)
		head++;
}

static void
retire(uint64_t seq)
{
	Entry *e = entry_at(seq);
	e->live = false;
	n_live--;
	if (e->op != OP_PUBLIC)
		port_table(e->op)[e->port_idx].entry = -1;
	pop_dead();
}

/* sends one request; returns its sequence number */
static void
send_request(uint8_t op, uint32_t port_idx, uint64_t t)
{
	uint8_t buf[12] = {0};
	size_t len = 2;
	buf[1] = op;
	if (op != OP_PUBLIC) {
		PortState *ps = &port_table(op)[port_idx];
		uint16_t internal = (uint16_t)(port_base + port_idx);
		uint16_t sugg = ps->granted ? ps->granted : (uint16_t)suggest;
		buf[4] = internal >> 8;
		buf[5] = internal & 0xff;
		buf[6] = sugg >> 8;
		buf[7] = sugg & 0xff;
		buf[8] = lifetime >> 24;
		buf[9] = (lifetime >> 16) & 0xff;
		buf[10] = (lifetime >> 8) & 0xff;
		buf[11] = lifetime & 0xff;
		len = 12;
	}
	if (tail - head == ring_cap)
		ring_grow();
	uint64_t seq = tail++;
	Entry *e = entry_at(seq);
	e->t_send = t;
	e->op = op;
	e->port_idx = port_idx;
	e->live = true;
	n_live++;
	if (op != OP_PUBLIC)
		port_table(op)[port_idx].entry = (int64_t)seq;
	sent++;
	if (send(fd, buf, len, 0) < 0) {
		if (errno == ECONNREFUSED)
			icmp_errors++;
		else if (errno != EAGAIN && errno != ENOBUFS && errno != EINTR)
			die("send");
		send_errors++; /* stays outstanding: it times out as lost */
	}
}

/* the next request of the op cycle: (op, port index); for a map request a port with no
 * outstanding request of that protocol (FALSE if there is none: ports < window) */
static bool
next_request(uint8_t *op, uint32_t *port_idx, bool open_loop)
{
	*op = ops[next_op];
	*port_idx = 0;
	if (*op != OP_PUBLIC) {
		PortState *table = port_table(*op);
		for (unsigned tries = 0; tries < n_ports; tries++) {
			uint32_t i = next_port;
			next_port = (next_port + 1) % n_ports;
			if (table[i].entry < 0 || open_loop) {
				*port_idx = i;
				goto found;
			}
		}
		return false;
	}
found:
	next_op = (next_op + 1) % n_ops;
	return true;
}

static void
handle_reply(const uint8_t *buf, size_t len, uint64_t t)
{
	if (len < 8 || buf[0] != 0 || buf[1] < 128 || buf[1] > 130) {
		unmatched++;
		return;
	}
	uint8_t op = buf[1] - 128;
	if ((op == OP_PUBLIC && len != 12) || (op != OP_PUBLIC && len != 16)) {
		unmatched++;
		return;
	}
	uint16_t result = (uint16_t)(buf[2] << 8 | buf[3]);
	uint32_t epoch = (uint32_t)buf[4] << 24 | buf[5] << 16 | buf[6] << 8 | buf[7];
	int64_t seq = -1;
	uint32_t port_idx = 0;
	if (op == OP_PUBLIC) {
		for (uint64_t s = head; s < tail; s++) {
			Entry *e = entry_at(s);
			if (e->live && e->op == OP_PUBLIC) {
				seq = (int64_t)s;
				break;
			}
		}
	} else {
		uint16_t internal = (uint16_t)(buf[8] << 8 | buf[9]);
		if (internal >= port_base && internal < port_base + n_ports) {
			port_idx = internal - port_base;
			seq = port_table(op)[port_idx].entry;
		}
	}
	if (seq < 0) {
		unmatched++;
		return;
	}
	Entry *e = entry_at((uint64_t)seq);
	record_rtt(t - e->t_send);
	retire((uint64_t)seq);
	answered++;
	t_last_answer = t;
	results[result < N_RESULTS - 1 ? result : N_RESULTS - 1]++;
	if (last_epoch && epoch < last_epoch)
		epoch_regressions++;
	last_epoch = epoch;
	if (op != OP_PUBLIC) {
		PortState *ps = &port_table(op)[port_idx];
		ps->last_result = (uint8_t)(result > 254 ? 254 : result);
		if (result == 0) {
			uint16_t external = (uint16_t)(buf[10] << 8 | buf[11]);
			uint32_t life = (uint32_t)buf[12] << 24 | buf[13] << 16 | buf[14] << 8 | buf[15];
			ps->granted = life ? external : 0;
		}
	}
}

/* reads every datagram waiting; returns the number */
static unsigned
receive_all(void)
{
	static uint8_t bufs[BATCH][64];
	struct mmsghdr msgs[BATCH];
	struct iovec iov[BATCH];
	unsigned total = 0;
	for (;;) {
		for (unsigned i = 0; i < BATCH; i++) {
			iov[i].iov_base = bufs[i];
			iov[i].iov_len = sizeof bufs[i];
			memset(&msgs[i].msg_hdr, 0, sizeof msgs[i].msg_hdr);
			msgs[i].msg_hdr.msg_iov = &iov[i];
			msgs[i].msg_hdr.msg_iovlen = 1;
		}
		int n = recvmmsg(fd, msgs, BATCH, MSG_DONTWAIT, NULL);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return total;
			if (errno == ECONNREFUSED) { /* an ICMP error for an earlier send */
				icmp_errors++;
				continue;
			}
			die("recvmmsg");
		}
		uint64_t t = now_ns();
		for (int i = 0; i < n; i++) {
			if (msgs[i].msg_hdr.msg_flags & MSG_TRUNC)
				unmatched++;
			else
				handle_reply(bufs[i], msgs[i].msg_len, t);
		}
		total += (unsigned)n;
		if (n < BATCH)
			return total;
	}
}

static void
wait_readable(uint64_t until_ns)
{
	uint64_t t = now_ns();
	struct timespec ts = {0, 0};
	if (until_ns > t) {
		uint64_t d = until_ns - t;
		ts.tv_sec = (time_t)(d / 1000000000u);
		ts.tv_nsec = (long)(d % 1000000000u);
	}
	struct pollfd p = {.fd = fd, .events = POLLIN};
	if (ppoll(&p, 1, &ts, NULL) < 0 && errno != EINTR)
		die("ppoll");
}

/* closed loop: timed-out requests are lost and sent again */
static void
expire_closed(uint64_t t, uint64_t timeout_ns)
{
	while (head < tail) {
		Entry *e = entry_at(head);
		if (t - e->t_send < timeout_ns)
			break;
		uint8_t op = e->op;
		uint32_t idx = e->port_idx;
		retire(head);
		lost++;
		send_request(op, idx, t);
	}
}

/* open loop and drain: timed-out requests are lost */
static void
expire_open(uint64_t t, uint64_t timeout_ns)
{
	while (head < tail) {
		Entry *e = entry_at(head);
		if (t - e->t_send < timeout_ns)
			break;
		retire(head);
		lost++;
	}
}

static void
reset_counters(void)
{
	sent = answered = lost = superseded = unmatched = send_errors = icmp_errors = 0;
	memset(results, 0, sizeof results);
	n_rtts = 0;
	epoch_regressions = 0;
}

/* waits for what is outstanding, up to drain */
static void
drain(uint64_t drain_ns)
{
	uint64_t end = now_ns() + drain_ns;
	while (n_live && !interrupted) {
		uint64_t t = now_ns();
		if (t >= end)
			break;
		uint64_t wake = end;
		if (head < tail) {
			uint64_t due = entry_at(head)->t_send + (uint64_t)timeout_ms * 1000000u;
			if (due < wake)
				wake = due;
		}
		wait_readable(wake);
		receive_all();
		expire_open(now_ns(), (uint64_t)timeout_ms * 1000000u);
	}
	while (head < tail) { /* still outstanding: lost */
		retire(head);
		lost++;
	}
}

/* returns the timed run's duration, ns */
static uint64_t
run_closed(uint64_t limit_count, double limit_s)
{
	uint64_t timeout_ns = (uint64_t)timeout_ms * 1000000u;
	uint64_t interval_ns = pace > 0 ? (uint64_t)(1e9 / pace) : 0;
	uint64_t t0 = now_ns();
	uint64_t end = limit_count ? UINT64_MAX : t0 + (uint64_t)(limit_s * 1e9);
	uint64_t next_allowed = t0; /* --pace: no new request before this */
	for (;;) {
		uint64_t t = now_ns();
		if (interrupted || t >= end || (limit_count && sent >= limit_count))
			break;
		while (n_live < window && !(limit_count && sent >= limit_count) &&
		       t >= next_allowed) {
			uint8_t op;
			uint32_t idx;
			if (!next_request(&op, &idx, false))
				break;
			send_request(op, idx, t);
			/* paced: one interval after this send, no catching up after a slow answer */
			if (interval_ns)
				next_allowed = t + interval_ns;
		}
		uint64_t wake = end;
		if (head < tail) {
			uint64_t due = entry_at(head)->t_send + timeout_ns;
			if (due < wake)
				wake = due;
		}
		if (n_live < window && next_allowed > t && next_allowed < wake)
			wake = next_allowed;
		wait_readable(wake);
		receive_all();
		expire_closed(now_ns(), timeout_ns);
	}
	uint64_t t_stop = now_ns();
	drain(drain_ms >= 0 ? (uint64_t)drain_ms * 1000000u : timeout_ns);
	/* a count-limited run lasts until its last answer */
	if (limit_count && t_last_answer > t_stop)
		t_stop = t_last_answer;
	return t_stop - t0;
}

static uint64_t
run_open(uint64_t limit_count, double limit_s)
{
	uint64_t timeout_ns = (uint64_t)timeout_ms * 1000000u;
	uint64_t total = limit_count ? limit_count : (uint64_t)llround(rate * limit_s);
	double interval_ns = 1e9 / rate;
	uint64_t t0 = now_ns();
	uint64_t i = 0;
	while (i < total && !interrupted) {
		uint64_t t = now_ns();
		while (i < total) {
			uint64_t due = t0 + (uint64_t)(i * interval_ns);
			if (due > t)
				break;
			uint8_t op;
			uint32_t idx;
			next_request(&op, &idx, true);
			if (op != OP_PUBLIC && port_table(op)[idx].entry >= 0) {
				retire((uint64_t)port_table(op)[idx].entry);
				lost++;
				superseded++;
			}
			send_request(op, idx, due); /* RTT from the scheduled time */
			i++;
		}
		receive_all();
		expire_open(now_ns(), timeout_ns);
		if (i < total)
			wait_readable(t0 + (uint64_t)(i * interval_ns));
	}
	uint64_t t_stop = now_ns();
	drain(drain_ms >= 0 ? (uint64_t)drain_ms * 1000000u : timeout_ns);
	return t_stop - t0;
}

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

/* nearest rank */
static uint32_t
pct(double p)
{
	if (!n_rtts)
		return 0;
	uint64_t rank = (uint64_t)ceil(p / 100.0 * (double)n_rtts);
	if (rank < 1)
		rank = 1;
	return rtts[rank - 1];
}

static void
print_json(uint64_t elapsed_ns, uint64_t primed_ok, uint64_t primed_sent)
{
	if (n_rtts)
		qsort(rtts, n_rtts, sizeof *rtts, cmp_u32);
	double elapsed = (double)elapsed_ns / 1e9;
	unsigned mapped = 0, mapped_tcp = 0, mapped_udp = 0;
	for (unsigned i = 0; i < n_ports && uses_maps(); i++) {
		if (ports_tcp[i].last_result == 0)
			mapped_tcp++;
		if (ports_udp[i].last_result == 0)
			mapped_udp++;
	}
	mapped = mapped_tcp + mapped_udp;
	char opbuf[MAX_OPS * 4] = "";
	for (unsigned i = 0; i < n_ops; i++) {
		const char *name = ops[i] == OP_PUBLIC ? "0" : ops[i] == OP_TCP ? "tcp" : "udp";
		strcat(opbuf, i ? "," : "");
		strcat(opbuf, name);
	}
	double sum = 0;
	for (uint64_t i = 0; i < n_rtts; i++)
		sum += rtts[i];
	printf("{\"mode\":\"%s\",\"window\":%u,\"offered_rate\":%.0f,\"pace\":%.0f,\"op\":\"%s\","
	       "\"ports\":%u,\"sent\":%llu,\"answered\":%llu,\"lost\":%llu,\"superseded\":%llu,"
	       "\"unmatched\":%llu,\"send_errors\":%llu,\"icmp_errors\":%llu,\"elapsed_s\":%.6f,"
	       "\"rate\":%.1f,\"rtt_us\":{\"p50\":%u,\"p99\":%u,\"max\":%u,\"mean\":%.1f},"
	       "\"results\":{",
	       rate > 0 ? "open" : "closed", rate > 0 ? 0 : window, rate, pace, opbuf,
	       uses_maps() ? n_ports : 0, (unsigned long long)sent,
	       (unsigned long long)answered, (unsigned long long)lost,
	       (unsigned long long)superseded, (unsigned long long)unmatched,
	       (unsigned long long)send_errors, (unsigned long long)icmp_errors, elapsed,
	       elapsed > 0 ? (double)answered / elapsed : 0.0, pct(50), pct(99),
	       n_rtts ? rtts[n_rtts - 1] : 0, n_rtts ? sum / (double)n_rtts : 0.0);
	bool first = true;
	for (int r = 0; r < N_RESULTS; r++) {
		if (!results[r])
			continue;
		printf("%s\"%s\":%llu", first ? "" : ",",
		       r == N_RESULTS - 1 ? "other" : (const char *[]){"0", "1", "2", "3", "4", "5"}[r],
		       (unsigned long long)results[r]);
		first = false;
	}
	printf("},\"mapped\":%u,\"mapped_tcp\":%u,\"mapped_udp\":%u,\"primed_sent\":%llu,"
	       "\"primed_ok\":%llu,\"epoch\":%u,\"epoch_regressions\":%llu}\n",
	       mapped, mapped_tcp, mapped_udp, (unsigned long long)primed_sent,
	       (unsigned long long)primed_ok, last_epoch, (unsigned long long)epoch_regressions);
	fflush(stdout);
}

static void
on_signal(int sig)
{
	(void)sig;
	interrupted = 1;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"dest", required_argument, NULL, 'd'},
		{"bind", required_argument, NULL, 'b'},
		{"op", required_argument, NULL, 'o'},
		{"window", required_argument, NULL, 'w'},
		{"rate", required_argument, NULL, 'r'},
		{"pace", required_argument, NULL, 'R'},
		{"duration", required_argument, NULL, 't'},
		{"count", required_argument, NULL, 'n'},
		{"port-base", required_argument, NULL, 'p'},
		{"ports", required_argument, NULL, 'P'},
		{"lifetime", required_argument, NULL, 'l'},
		{"suggest", required_argument, NULL, 's'},
		{"prime", no_argument, NULL, 'i'},
		{"timeout", required_argument, NULL, 'T'},
		{"drain", required_argument, NULL, 'D'},
		{"cpu", required_argument, NULL, 'c'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	bool have_dest = false;
	int c;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'd':
			parse_addr(optarg, &dest, true);
			have_dest = true;
			break;
		case 'b':
			parse_addr(optarg, &bind_addr, false);
			have_bind = true;
			break;
		case 'o':
			parse_ops(optarg);
			break;
		case 'w':
			window = (unsigned)num(optarg, "window", 65535);
			if (!window)
				usage("--window must be > 0");
			break;
		case 'r':
			rate = strtod(optarg, NULL);
			if (!(rate > 0))
				usage("--rate must be > 0");
			break;
		case 'R':
			pace = strtod(optarg, NULL);
			if (!(pace > 0))
				usage("--pace must be > 0");
			break;
		case 't':
			duration = strtod(optarg, NULL);
			if (!(duration > 0))
				usage("--duration must be > 0");
			break;
		case 'n':
			count = num(optarg, "count", UINT64_MAX / 2);
			break;
		case 'p':
			port_base = (unsigned)num(optarg, "port base", 65535);
			if (!port_base)
				usage("--port-base must be > 0");
			break;
		case 'P':
			n_ports = (unsigned)num(optarg, "ports", 65535);
			if (!n_ports)
				usage("--ports must be > 0");
			break;
		case 'l':
			lifetime = (uint32_t)num(optarg, "lifetime", UINT32_MAX);
			break;
		case 's':
			suggest = (unsigned)num(optarg, "suggested port", 65535);
			break;
		case 'i':
			prime = true;
			break;
		case 'T':
			timeout_ms = (unsigned)num(optarg, "timeout", 600000);
			if (!timeout_ms)
				usage("--timeout must be > 0");
			break;
		case 'D':
			drain_ms = (int)num(optarg, "drain", 600000);
			break;
		case 'c':
			cpu = (int)num(optarg, "cpu", 4095);
			break;
		default:
			usage(NULL);
		}
	}
	if (!have_dest || optind != argc)
		usage(have_dest ? "unexpected argument" : "--dest is required");
	if (!n_ports)
		n_ports = window;
	if (port_base + n_ports - 1 > 65535)
		usage("--port-base + --ports exceeds 65535");
	if (uses_maps() && rate <= 0 && n_ports < window)
		usage("map requests need --ports >= --window (one outstanding request per port)");

	if (cpu >= 0) {
		cpu_set_t set;
		CPU_ZERO(&set);
		CPU_SET(cpu, &set);
		if (sched_setaffinity(0, sizeof set, &set) < 0)
			die("sched_setaffinity");
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);

	fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		die("socket");
	int size = 4 << 20;
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
	if (have_bind && bind(fd, (struct sockaddr *)&bind_addr, sizeof bind_addr) < 0)
		die("bind");
	if (connect(fd, (struct sockaddr *)&dest, sizeof dest) < 0)
		die("connect");

	ports_tcp = calloc(n_ports, sizeof *ports_tcp);
	ports_udp = calloc(n_ports, sizeof *ports_udp);
	if (!ports_tcp || !ports_udp)
		die("calloc");
	for (unsigned i = 0; i < n_ports; i++) {
		ports_tcp[i].entry = ports_udp[i].entry = -1;
		ports_tcp[i].last_result = ports_udp[i].last_result = 255;
	}
	ring_grow();

	uint64_t primed_sent = 0, primed_ok = 0;
	if (prime && uses_maps()) {
		/* every (protocol, port) the op list uses, once, W in flight, untimed */
		uint8_t saved_ops[MAX_OPS];
		unsigned saved_n = n_ops;
		memcpy(saved_ops, ops, sizeof ops);
		bool tcp = false, udp = false;
		for (unsigned i = 0; i < n_ops; i++) {
			tcp |= ops[i] == OP_TCP;
			udp |= ops[i] == OP_UDP;
		}
		unsigned w = window;
		if (w > n_ports)
			w = n_ports;
		for (int pass = 0; pass < 2; pass++) {
			if ((pass == 0 && !tcp) || (pass == 1 && !udp))
				continue;
			ops[0] = pass == 0 ? OP_TCP : OP_UDP;
			n_ops = 1;
			next_op = 0;
			next_port = 0;
			unsigned saved_w = window;
			window = w;
			run_closed(n_ports, 0);
			window = saved_w;
			primed_sent += sent;
			primed_ok += results[0];
			reset_counters();
		}
		memcpy(ops, saved_ops, sizeof ops);
		n_ops = saved_n;
		next_op = 0;
		next_port = 0;
	}

	uint64_t elapsed = rate > 0 ? run_open(count, duration) : run_closed(count, duration);
	print_json(elapsed, primed_ok, primed_sent);
	return 0;
}
