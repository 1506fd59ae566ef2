/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ListMappings latency as a C client sees it: N synchronous calls on the bus of
 * DBUS_SYSTEM_BUS_ADDRESS, each reply decoded field by field, the time of each call in
 * milliseconds on stdout (one per line), the number of mappings on stderr.
 */
#include <stdio.h>
#include <stdlib.h>
#include <systemd/sd-bus.h>
#include <time.h>

static double
now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* decode every field, as a client that uses the reply must */
static int
decode(sd_bus_message *reply, unsigned *n)
{
	int r = sd_bus_message_enter_container(reply, 'a', "(osssassqqssst)");
	if (r < 0)
		return r;
	*n = 0;
	while ((r = sd_bus_message_enter_container(reply, 'r', "osssassqqssst")) > 0) {
		const char *path, *name, *provider, *state, *scope, *address, *description, *error;
		uint16_t internal, external;
		uint64_t expiry;
		char **protocols = NULL;
		r = sd_bus_message_read(reply, "osss", &path, &name, &provider, &state);
		if (r >= 0)
			r = sd_bus_message_read_strv(reply, &protocols);
		if (r >= 0)
			r = sd_bus_message_read(reply, "sqqssst", &scope, &internal, &external,
						&address, &description, &error, &expiry);
		for (char **p = protocols; p != NULL && *p != NULL; p++)
			free(*p);
		free(protocols);
		if (r < 0)
			return r;
		r = sd_bus_message_exit_container(reply);
		if (r < 0)
			return r;
		(*n)++;
	}
	if (r < 0)
		return r;
	return sd_bus_message_exit_container(reply);
}

int
main(int argc, char **argv)
{
	int calls = argc > 1 ? atoi(argv[1]) : 20;
	sd_bus *bus = NULL;
	unsigned n = 0;
	int r = sd_bus_open_system(&bus);

	if (r < 0) {
		fprintf(stderr, "cannot connect to the system bus: %d\n", r);
		return 1;
	}
	for (int i = 0; i <= calls; i++) {
		sd_bus_error error = SD_BUS_ERROR_NULL;
		sd_bus_message *reply = NULL;
		double t0 = now_ms();
		r = sd_bus_call_method(bus, "org.portmap.Manager", "/org/portmap/Manager",
				       "org.portmap.Manager", "ListMappings", &error, &reply, NULL);
		if (r >= 0)
			r = decode(reply, &n);
		if (r < 0) {
			fprintf(stderr, "ListMappings failed: %s\n",
				error.message != NULL ? error.message : "decode error");
			return 1;
		}
		/* the first call warms up, it is not counted */
		if (i > 0)
			printf("%.3f\n", now_ms() - t0);
		sd_bus_message_unref(reply);
		sd_bus_error_free(&error);
	}
	fprintf(stderr, "%u\n", n);
	sd_bus_flush_close_unref(bus);
	return 0;
}
