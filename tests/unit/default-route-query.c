/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * default-route-query [UID]: what portmapd makes of the kernel's default route in the
 * network namespace it runs in, for the namespace test (test_default_route_netns.py).
 * Prints "gateway ADDRESS" or "error: MESSAGE" (exit status 1), then the route's details.
 * Without UID it asks for its own, as portmapd does.
 */
#include <gio/gio.h>
#include <net/if.h>
#include <stdlib.h>
#include <unistd.h>

#include "address.h"
#include "default-route.h"

int
main(int argc, char **argv)
{
	guint32 uid = getuid();
	guint32 gateway = 0;
	PmDefaultRoute route = {0};
	char ifname[IF_NAMESIZE] = "";
	g_autoptr(GError) error = NULL;
	g_autoptr(GError) query_error = NULL;

	if (argc > 2) {
		g_printerr("usage: %s [UID]\n", argv[0]);
		return 2;
	}
	if (argc == 2) {
		guint64 value;
		if (!g_ascii_string_to_unsigned(argv[1], 10, 0, G_MAXUINT32, &value, &error)) {
			g_printerr("%s: %s\n", argv[0], error->message);
			return 2;
		}
		uid = (guint32)value;
	}
	/* the function portmapd's default gateway comes from */
	if (pm_default_route_find_gateway(uid, &gateway, &error)) {
		g_autofree char *text = pm_ipv4_to_string(gateway);
		g_print("gateway %s\n", text);
	} else {
		g_print("error: %s\n", error->message);
	}
	/* and what it was made of */
	if (pm_default_route_query(uid, &route, &query_error)) {
		g_autofree char *src = pm_ipv4_to_string(route.prefsrc);
		if (route.ifindex != 0 && if_indextoname(route.ifindex, ifname) == NULL)
			ifname[0] = '\0';
		g_print("dev %s src %s table %u uid %u\n", ifname, src, route.table, uid);
	}
	return error == NULL ? EXIT_SUCCESS : EXIT_FAILURE;
}
