/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * pm_default_route_parse on any bytes, as if the kernel had sent them: it never reads
 * outside the datagram (the input is an exact-size buffer, so AddressSanitizer sees any
 * over-read), it fails with a message or fills a route of family AF_INET, and whatever
 * it returns, pm_default_route_gateway gives a gateway or an error asking for Gateway=.
 */
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#include "default-route.h"
#include "errors.h"
#include "fuzz.h"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	g_autofree guint8 *buf = g_memdup2(data, size);
	g_autoptr(GError) error = NULL;
	g_autoptr(GError) gateway_error = NULL;
	PmDefaultRoute route;
	guint32 gateway = 0;
	guint32 seq = size >= 12 ? (guint32)data[8] | (guint32)data[9] << 8 |
					   (guint32)data[10] << 16 | (guint32)data[11] << 24
				 : 1;

	memset(&route, 0xaa, sizeof(route));
	if (!pm_default_route_parse(buf, size, seq, &route, &error)) {
		if (error == NULL || !g_utf8_validate(error->message, -1, NULL))
			__builtin_trap();
		return 0;
	}
	if (error != NULL)
		__builtin_trap();
	if (pm_default_route_gateway(&route, "eth0", &gateway, &gateway_error)) {
		if (gateway == 0 || gateway != route.gateway)
			__builtin_trap();
	} else if (gateway_error == NULL || strstr(gateway_error->message, "Gateway=") == NULL) {
		__builtin_trap();
	}
	return 0;
}
