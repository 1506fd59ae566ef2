/* SPDX-License-Identifier: GPL-2.0-or-later */

#include <malloc.h>

#include "build-info.h"
#include "errors.h"
#include "tls-trust.h"

/* the default database: trusts nothing, so a connection nobody set up fails closed */
#define PM_TYPE_TLS_NO_TRUST (pm_tls_no_trust_get_type())
G_DECLARE_FINAL_TYPE(PmTlsNoTrust, pm_tls_no_trust, PM, TLS_NO_TRUST, GTlsDatabase)

struct _PmTlsNoTrust {
	GTlsDatabase parent_instance;
};

G_DEFINE_TYPE(PmTlsNoTrust, pm_tls_no_trust, G_TYPE_TLS_DATABASE)

static GTlsCertificateFlags
pm_tls_no_trust_verify_chain(GTlsDatabase *database, GTlsCertificate *chain,
			     const gchar *purpose, GSocketConnectable *identity,
			     GTlsInteraction *interaction, GTlsDatabaseVerifyFlags flags,
			     GCancellable *cancellable, GError **error)
{
	return G_TLS_CERTIFICATE_UNKNOWN_CA;
}

static GTlsCertificate *
pm_tls_no_trust_lookup_certificate_issuer(GTlsDatabase *database, GTlsCertificate *certificate,
					  GTlsInteraction *interaction,
					  GTlsDatabaseLookupFlags flags,
					  GCancellable *cancellable, GError **error)
{
	return NULL;
}

static GList *
pm_tls_no_trust_lookup_certificates_issued_by(GTlsDatabase *database, GByteArray *issuer,
					      GTlsInteraction *interaction,
					      GTlsDatabaseLookupFlags flags,
					      GCancellable *cancellable, GError **error)
{
	return NULL;
}

static void
pm_tls_no_trust_class_init(PmTlsNoTrustClass *klass)
{
	GTlsDatabaseClass *database_class = G_TLS_DATABASE_CLASS(klass);

	database_class->verify_chain = pm_tls_no_trust_verify_chain;
	database_class->lookup_certificate_issuer = pm_tls_no_trust_lookup_certificate_issuer;
	database_class->lookup_certificates_issued_by =
		pm_tls_no_trust_lookup_certificates_issued_by;
}

static void
pm_tls_no_trust_init(PmTlsNoTrust *self)
{
}

void
pm_tls_trust_install(void)
{
	static gboolean installed;
	g_autoptr(GTlsDatabase) no_trust = NULL;

	if (installed)
		return;
	installed = TRUE;
	no_trust = g_object_new(PM_TYPE_TLS_NO_TRUST, NULL);
	g_tls_backend_set_default_database(g_tls_backend_get_default(), no_trust);
}

/* the holders own it; the last unref may come from glib-networking's thread */
static GWeakRef system_database;

static gboolean
pm_tls_trust_trim_cb(gpointer user_data)
{
	/* its certificates were thousands of small blocks: give their pages back */
	malloc_trim(0);
	g_debug("the system's certificate authorities are unloaded");
	return G_SOURCE_REMOVE;
}

/* weak references are notified at dispose, before the database frees anything: the trim
 * waits for the main loop (this may run on glib-networking's thread) */
static void
pm_tls_trust_system_disposed(gpointer data, GObject *where_the_object_was)
{
	g_idle_add_full(G_PRIORITY_LOW, pm_tls_trust_trim_cb, NULL, NULL);
}

GTlsDatabase *
pm_tls_trust_get_system(GError **error)
{
	const char *path = g_getenv("SSL_CERT_FILE");
	g_autoptr(GError) local_error = NULL;
	GTlsDatabase *database = g_weak_ref_get(&system_database);

	if (database != NULL)
		return database;
	if (path == NULL || *path == '\0')
		path = PM_SYSTEM_CA_FILE;
	database = g_tls_file_database_new(path, &local_error);
	if (database == NULL) {
		g_set_error(error, PM_ERROR, PM_ERROR_FAILED,
			    "cannot load the system's certificate authorities from %s: %s", path,
			    local_error->message);
		return NULL;
	}
	g_object_weak_ref(G_OBJECT(database), pm_tls_trust_system_disposed, NULL);
	g_debug("loaded the system's certificate authorities from %s", path);
	g_weak_ref_set(&system_database, database);
	return database;
}

gboolean
pm_tls_trust_system_is_loaded(void)
{
	g_autoptr(GTlsDatabase) database = g_weak_ref_get(&system_database);
	return database != NULL;
}
