/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <glib.h>

/* an IPv4 address (network byte order) as text: dotted quad, "" for 0 (unknown) */
char *pm_ipv4_to_string(guint32 address_be);
