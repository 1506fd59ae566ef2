/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * udp-echo: the reference limit of the NAT-PMP server benchmark (bench/run natpmpserver):
 * the least a UDP server can do per request. One thread, one blocking socket, one
 * recvfrom() and one sendto() per datagram, pinned to one CPU; nothing else.
 *
 *   udp-echo [--listen ADDR[:PORT]] [--cpu N] [--public ADDR]
 *
 * So that bench/natpmp-load runs against it unchanged, the answer has a NAT-PMP answer's
 * shape: to "00 00" (public address) 12 bytes (op 128, result 0, seconds since start,
 * --public); to a 12-byte map request (op 1 or 2) 16 bytes (op + 128, result 0, the
 * internal port echoed, the suggested port, else the internal one, as the external port,
 * the requested lifetime). Anything else is not answered. Prints "READY ADDR PORT PID"
 * once it listens; SIGTERM ends it.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static void
die(const char *what)
{
	fprintf(stderr, "udp-echo: %s: %s\n", what, strerror(errno));
	exit(2);
}

static void
usage(void)
{
	fprintf(stderr, "usage: udp-echo [--listen ADDR[:PORT]] [--cpu N] [--public ADDR]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"listen", required_argument, NULL, 'l'},
		{"cpu", required_argument, NULL, 'c'},
		{"public", required_argument, NULL, 'p'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(5351)};
	struct in_addr public_addr;
	inet_pton(AF_INET, "11.0.0.2", &public_addr);
	int cpu = 0;
	int c;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'l': {
			char buf[64];
			snprintf(buf, sizeof buf, "%s", optarg);
			char *colon = strchr(buf, ':');
			if (colon) {
				*colon = 0;
				long p = strtol(colon + 1, NULL, 10);
				if (p < 0 || p > 65535)
					usage();
				addr.sin_port = htons((uint16_t)p);
			}
			if (inet_pton(AF_INET, buf, &addr.sin_addr) != 1)
				usage();
			break;
		}
		case 'c':
			cpu = atoi(optarg);
			break;
		case 'p':
			if (inet_pton(AF_INET, optarg, &public_addr) != 1)
				usage();
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
	if (cpu >= 0) {
		cpu_set_t set;
		CPU_ZERO(&set);
		CPU_SET(cpu, &set);
		if (sched_setaffinity(0, sizeof set, &set) < 0)
			die("sched_setaffinity");
	}
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		die("socket");
	int size = 4 << 20;
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
	if (bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0)
		die("bind");
	socklen_t alen = sizeof addr;
	getsockname(fd, (struct sockaddr *)&addr, &alen);
	char text[INET_ADDRSTRLEN];
	inet_ntop(AF_INET, &addr.sin_addr, text, sizeof text);
	printf("READY %s %u %d\n", text, ntohs(addr.sin_port), (int)getpid());
	fflush(stdout);

	struct timespec start;
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		uint8_t in[1100], out[16];
		struct sockaddr_in from;
		socklen_t flen = sizeof from;
		ssize_t n = recvfrom(fd, in, sizeof in, 0, (struct sockaddr *)&from, &flen);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			die("recvfrom");
		}
		if (n < 2 || in[0] != 0)
			continue;
		struct timespec now;
		clock_gettime(CLOCK_MONOTONIC, &now);
		uint32_t epoch = (uint32_t)(now.tv_sec - start.tv_sec);
		size_t len;
		out[0] = 0;
		out[1] = (uint8_t)(in[1] + 128);
		out[2] = out[3] = 0;
		out[4] = epoch >> 24;
		out[5] = (epoch >> 16) & 0xff;
		out[6] = (epoch >> 8) & 0xff;
		out[7] = epoch & 0xff;
		if (in[1] == 0) {
			memcpy(out + 8, &public_addr, 4);
			len = 12;
		} else if ((in[1] == 1 || in[1] == 2) && n >= 12) {
			out[8] = in[4]; /* internal port */
			out[9] = in[5];
			if (in[6] || in[7]) { /* suggested external port */
				out[10] = in[6];
				out[11] = in[7];
			} else {
				out[10] = in[4];
				out[11] = in[5];
			}
			memcpy(out + 12, in + 8, 4); /* lifetime */
			len = 16;
		} else {
			continue;
		}
		if (sendto(fd, out, len, 0, (struct sockaddr *)&from, flen) < 0 &&
		    errno != ECONNREFUSED && errno != EAGAIN && errno != ENOBUFS)
			die("sendto");
	}
}
