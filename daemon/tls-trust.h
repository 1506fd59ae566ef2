/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <gio/gio.h>

/*
 * The daemon's TLS trust: no certificate store is loaded until a call needs it, and none
 * is kept once the calls that needed it have ended.
 *
 * glib-networking reads a connection's database while it creates the connection, before
 * libsoup (or anyone) can set one: with GIO's default, that loads the system's roots into
 * the TLS backend for the life of the process (4 MiB of heap, measured) and parses them
 * again for every connection, even for calls verified against one pinned CA (PIA).
 * pm_tls_trust_install() makes the default a database that trusts nothing; every TLS user
 * sets the database it verifies with (pm_http_call_set_tls(), or the system's roots from
 * pm_tls_trust_get_system()).
 */

/* once, before the first TLS connection; again is a no-op */
void pm_tls_trust_install(void);

/*
 * The system's roots: the file $SSL_CERT_FILE names (as OpenSSL's tools read it), else
 * PM_SYSTEM_CA_FILE (the build's system-ca-file, GnuTLS's trust store on Debian). Shared
 * by every holder and freed, with the heap trimmed, when the last one lets go.
 */
GTlsDatabase *pm_tls_trust_get_system(GError **error);

/* tests: whether the system's roots are loaded now */
gboolean pm_tls_trust_system_is_loaded(void);
