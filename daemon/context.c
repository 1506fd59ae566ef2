/* SPDX-License-Identifier: GPL-2.0-or-later */
#define G_LOG_DOMAIN "portmapd"

#include <gmodule.h>
#include <libsoup/soup.h>

#include "build-info.h"
#include "context.h"
#include "errors.h"
#include "secrets.h"

/*
 * libsoup is loaded on first use, the way systemd dlopen()s its optional libraries: linked
 * in, it and what it pulls in (Kerberos, SQLite, nghttp2, libpsl…) cost 1.6 MiB of RSS at
 * every start, and a NAT-PMP-only daemon must stay under 8 MiB (design §9). Its symbols
 * are looked up here, one table for every user.
 */
#define PM_LIBSOUP_SONAME "libsoup-3.0.so.0"

static struct {
	GModule *module;
	SoupSession *(*session_new_with_options)(const char *first_property_name, ...);
} libsoup;

static gboolean
pm_context_load_libsoup(GError **error)
{
	GModule *module;

	if (libsoup.module != NULL)
		return TRUE;
	module = g_module_open(PM_LIBSOUP_SONAME, G_MODULE_BIND_LAZY | G_MODULE_BIND_LOCAL);
	if (module == NULL) {
		g_set_error(error, PM_ERROR, PM_ERROR_NOT_SUPPORTED,
			    "cannot load %s for HTTP: %s: install libsoup 3", PM_LIBSOUP_SONAME,
			    g_module_error());
		return FALSE;
	}
	if (!g_module_symbol(module, "soup_session_new_with_options",
			     (gpointer *)&libsoup.session_new_with_options)) {
		g_set_error(error, PM_ERROR, PM_ERROR_NOT_SUPPORTED, "%s: %s", PM_LIBSOUP_SONAME,
			    g_module_error());
		g_module_close(module);
		return FALSE;
	}
	/* GTypes it registers must outlive every session */
	g_module_make_resident(module);
	libsoup.module = module;
	return TRUE;
}

struct _PmContext {
	PmScheduler *scheduler;
	SoupSession *soup_session;
	PmSecretPolicy secret_policy;
	char *runtime_dir;
	GHashTable *natpmp_clients; /* (gateway << 16 | port) → PmNatpmpClient (weak) */
};

PmContext *
pm_context_new(PmScheduler *scheduler, PmSecretPolicy secret_policy)
{
	PmContext *self = g_new0(PmContext, 1);

	self->scheduler = scheduler;
	self->secret_policy = secret_policy;
	self->natpmp_clients = g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free, NULL);
	return self;
}

void
pm_context_free(PmContext *self)
{
	if (self == NULL)
		return;
	/* a client left here would remove itself from a freed table later */
	g_warn_if_fail(g_hash_table_size(self->natpmp_clients) == 0);
	g_hash_table_unref(self->natpmp_clients);
	g_clear_object(&self->soup_session);
	g_free(self->runtime_dir);
	g_free(self);
}

PmScheduler *
pm_context_get_scheduler(PmContext *self)
{
	return self->scheduler;
}

const char *
pm_context_get_runtime_dir(PmContext *self)
{
	return self->runtime_dir != NULL ? self->runtime_dir : PM_CONTEXT_DEFAULT_RUNTIME_DIR;
}

void
pm_context_set_runtime_dir(PmContext *self, const char *runtime_dir)
{
	g_free(self->runtime_dir);
	self->runtime_dir = g_strdup(runtime_dir);
}

SoupSession *
pm_context_get_soup_session(PmContext *self, GError **error)
{
	if (self->soup_session != NULL)
		return self->soup_session;
	if (!pm_context_load_libsoup(error))
		return NULL;
	self->soup_session = libsoup.session_new_with_options("user-agent",
							       "portmapd/" PACKAGE_VERSION, NULL);
	return self->soup_session;
}

gboolean
pm_context_has_soup_session(PmContext *self)
{
	return self->soup_session != NULL;
}

PmSecretPolicy
pm_context_get_secret_policy(PmContext *self)
{
	return self->secret_policy;
}

char *
pm_context_load_secret(PmContext *self,
		       const char *credential_name,
		       const char *file_path,
		       GError **error)
{
	return pm_secret_load(credential_name,
			      file_path,
			      self->secret_policy == PM_SECRET_POLICY_LENIENT,
			      error);
}

static guint64
natpmp_client_key(guint32 gateway, guint16 port)
{
	return ((guint64)gateway << 16) | port;
}

PmNatpmpClient *
pm_context_lookup_natpmp_client(PmContext *self, guint32 gateway, guint16 port)
{
	guint64 key = natpmp_client_key(gateway, port);
	return g_hash_table_lookup(self->natpmp_clients, &key);
}

void
pm_context_add_natpmp_client(PmContext *self, guint32 gateway, guint16 port,
			     PmNatpmpClient *client)
{
	guint64 key = natpmp_client_key(gateway, port);

	g_return_if_fail(!g_hash_table_contains(self->natpmp_clients, &key));
	g_hash_table_insert(self->natpmp_clients, g_memdup2(&key, sizeof(key)), client);
}

void
pm_context_remove_natpmp_client(PmContext *self, guint32 gateway, guint16 port)
{
	guint64 key = natpmp_client_key(gateway, port);
	g_hash_table_remove(self->natpmp_clients, &key);
}

guint
pm_context_get_n_natpmp_clients(PmContext *self)
{
	return g_hash_table_size(self->natpmp_clients);
}
