/* SPDX-License-Identifier: GPL-2.0-or-later */

#include "build-info.h"

#include <glib/gi18n.h>
#include <locale.h>

#include "pm-i18n.h"

/* where the catalogs are read from: $PORTMAP_LOCALEDIR if set and not empty, else the
 * installed LOCALEDIR */
const char *
pm_i18n_get_localedir(void)
{
	const char *dir = g_getenv(PM_I18N_LOCALEDIR_ENV);

	return dir != NULL && *dir != '\0' ? dir : LOCALEDIR;
}

void
pm_i18n_init(void)
{
	setlocale(LC_ALL, "");
	bindtextdomain(GETTEXT_PACKAGE, pm_i18n_get_localedir());
	/* translations come back in UTF-8, as GLib's strings are, whatever the locale's charset */
	bind_textdomain_codeset(GETTEXT_PACKAGE, "UTF-8");
	textdomain(GETTEXT_PACKAGE);
}
