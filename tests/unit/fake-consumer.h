/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <glib.h>

/*
 * Type=fake and Type=fake-single: test-only consumer classes, registered through the same
 * table as the daemon's own (pm_fake_consumer_register()), as fake-provider.h's. Keys: Path= (absolute; default
 * /run/portmap/NAME.fake), Fail= (report each delivery as failed), Delay= (report after
 * that long on the scheduler instead of at once). Every call is recorded, in order, as
 *   "NAME up(grant|reconcile|retry) MAPPING tcp:I:E udp:I:E @ADDRESS"
 *   "NAME changed MAPPING tcp:I:E ... @ADDRESS was tcp:I:E ..."
 *   "NAME down MAPPING tcp:I:E ..."
 * (only the protocols of the mapping; "@ADDRESS" only when one is known).
 */

/* once per program (again: nothing) */
void pm_fake_consumer_register(void);
/* the calls recorded since the last call, joined by "; ", and forget them */
char *pm_fake_consumer_take_log(void);
/* forget the calls recorded so far */
void pm_fake_consumer_clear_log(void);
/* how many fake consumer objects exist */
guint pm_fake_consumer_get_n_objects(void);
