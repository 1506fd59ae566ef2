/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * gettext for the applet's programs: the user's locale, the "portmap" domain, UTF-8.
 * One function, so where the catalogues are looked for (today LOCALEDIR) changes in one
 * place.
 */
void pm_applet_i18n_init(void);
