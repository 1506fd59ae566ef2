/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Linked only into sanitizer builds (portmapd) and the unit tests that speak TLS, so that
 * GnuTLS is loaded at start rather than dlopen()ed later with GIO's TLS backend:
 * LeakSanitizer of clang 14 crashes ("Tracer caught signal 11") scanning the dynamic
 * thread-local storage of a library loaded after start, and so fails every run that used
 * TLS. The reference below is what keeps libgnutls in the executable's needed libraries
 * (--as-needed); nothing calls it. Release builds load GnuTLS only with the first HTTPS
 * request.
 */
#include <gnutls/gnutls.h>

const char *pm_gnutls_preload_version(void);

const char *
pm_gnutls_preload_version(void)
{
	return gnutls_check_version(NULL);
}
