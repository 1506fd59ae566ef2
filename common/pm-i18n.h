/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <glib.h>

/*
 * gettext set-up shared by every program of portmap (portmapd, portmapctl, the applet): the
 * user's locale, and the "portmap" catalogs from LOCALEDIR, or from $PORTMAP_LOCALEDIR when
 * it is set, so that an uninstalled build and the tests find the catalogs the build made
 * (PORTMAP_LOCALEDIR=BUILDDIR/po: meson builds BUILDDIR/po/LANG/LC_MESSAGES/portmap.mo).
 */

#define PM_I18N_LOCALEDIR_ENV "PORTMAP_LOCALEDIR"

void
pm_i18n_init(void);
const char *
pm_i18n_get_localedir(void);
