/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Linked into the tests that speak TLS, so that GnuTLS is loaded at start rather than
 * dlopen()ed with GIO's TLS backend: LeakSanitizer of clang 14 crashes ("Tracer caught
 * signal 11") scanning the dynamic thread-local storage of a library loaded after start.
 * The reference below is what keeps libgnutls in the executable's needed libraries
 * (--as-needed); nothing calls it.
 */
#include <gnutls/gnutls.h>

const char *pm_test_gnutls_version(void);

const char *
pm_test_gnutls_version(void)
{
	return gnutls_check_version(NULL);
}
