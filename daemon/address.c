/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <arpa/inet.h>

#include "address.h"

char *
pm_ipv4_to_string(guint32 address_be)
{
	char buf[INET_ADDRSTRLEN];
	struct in_addr in = {.s_addr = address_be};
	if (address_be == 0)
		return g_strdup("");
	return g_strdup(inet_ntop(AF_INET, &in, buf, sizeof(buf)));
}
