/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "pm-applet-i18n.h"

#include <locale.h>

#include <glib/gi18n.h>

#include "build-info.h"

void
pm_applet_i18n_init(void)
{
	setlocale(LC_ALL, "");
	bindtextdomain(GETTEXT_PACKAGE, LOCALEDIR);
	bind_textdomain_codeset(GETTEXT_PACKAGE, "UTF-8");
	textdomain(GETTEXT_PACKAGE);
}
