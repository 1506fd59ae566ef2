/* SPDX-License-Identifier: GPL-2.0-or-later */

#include <libsoup/soup.h>

#include "build-info.h"
#include "context.h"
#include "errors.h"
#include "libsoup-loader.h"
#include "secrets.h"

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
	const PmLibsoup *libsoup;

	if (self->soup_session != NULL)
		return self->soup_session;
	libsoup = pm_libsoup_get(error);
	if (libsoup == NULL)
		return NULL;
	/* no proxy: portmapd talks to gateways and applications on the VPN, the LAN and
	 * loopback, never through an HTTP proxy; and GIO's default resolver loads libproxy
	 * and its modules, 3 MiB of RSS for nothing */
	self->soup_session = libsoup->session_new_with_options("user-agent",
								"portmapd/" PACKAGE_VERSION,
								"proxy-resolver", NULL, NULL);
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
