/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "control-plane-config.h"

#include <string.h>

#include "stun-config.h"

#define URL_ACCEPTED                                                                             \
	"the control plane's http:// or https:// base URL, such as "                           \
	"https://cp.example.net or https://example.net/mesh, without credentials, query or "   \
	"fragment (portmapd adds /v1/nodes/NODEID/endpoint)"
#define NODE_ID_ACCEPTED                                                                         \
	"1 to 128 characters A-Z a-z 0-9 . _ - (one segment of the URL's path), not . or .."

static PmControlPlaneConfig *
control_plane_config_new(void)
{
	PmControlPlaneConfig *self = g_new0(PmControlPlaneConfig, 1);

	self->ref_count = 1;
	return self;
}

PmControlPlaneConfig *
pm_control_plane_config_ref(PmControlPlaneConfig *self)
{
	g_atomic_int_inc(&self->ref_count);
	return self;
}

void
pm_control_plane_config_unref(PmControlPlaneConfig *self)
{
	if (self == NULL || !g_atomic_int_dec_and_test(&self->ref_count))
		return;
	g_free(self->url);
	g_free(self->node_id);
	g_free(self->token_credential);
	g_free(self->token_file);
	g_free(self);
}

gboolean
pm_control_plane_node_id_is_valid(const char *node_id)
{
	gsize len = node_id != NULL ? strlen(node_id) : 0;

	if (len == 0 || len > PM_CONTROL_PLANE_NODE_ID_MAX)
		return FALSE;
	/* a path segment of its own: "." and ".." would be resolved away by a server */
	if (g_str_equal(node_id, ".") || g_str_equal(node_id, ".."))
		return FALSE;
	for (gsize i = 0; i < len; i++) {
		char c = node_id[i];
		if (!g_ascii_isalnum(c) && c != '.' && c != '_' && c != '-')
			return FALSE;
	}
	return TRUE;
}

/* URL=: http(s)://host[:port][/path], trailing slashes dropped (so that URL=https://cp/ and
 * URL=https://cp give one request path) */
static gboolean
parse_url(PmConfigSection *section, const PmConfigEntry *entry, gpointer field, GError **error)
{
	char **url = field;
	g_autoptr(GUri) uri = NULL;
	g_autofree char *value = NULL;
	const char *scheme;
	gsize len;

	/* control characters first: GUri takes some of them in a path */
	if (!pm_config_parse_string(section, entry, &value, error))
		return FALSE;
	len = strlen(value);
	while (len > 0 && value[len - 1] == '/')
		value[--len] = '\0';
	uri = g_uri_parse(value, G_URI_FLAGS_ENCODED, NULL);
	if (uri == NULL || strchr(value, ' ') != NULL) {
		pm_config_section_set_error(section, entry, "not a URL", URL_ACCEPTED, error);
		return FALSE;
	}
	scheme = g_uri_get_scheme(uri);
	if ((g_ascii_strcasecmp(scheme, "http") != 0 && g_ascii_strcasecmp(scheme, "https") != 0) ||
	    g_uri_get_host(uri) == NULL || g_uri_get_host(uri)[0] == '\0') {
		pm_config_section_set_error(section, entry,
					    "not an http:// or https:// URL with a host",
					    URL_ACCEPTED, error);
		return FALSE;
	}
	/* Describe() and messages show the URL: a secret belongs in TokenCredential=/TokenFile=.
	 * User information and a query may hold one: this message does not echo them. */
	if (g_uri_get_userinfo(uri) != NULL || g_uri_get_query(uri) != NULL ||
	    g_uri_get_fragment(uri) != NULL) {
		g_autofree char *shown = g_uri_join(
		    G_URI_FLAGS_ENCODED, scheme, g_uri_get_userinfo(uri) != NULL ? "…" : NULL,
		    g_uri_get_host(uri), g_uri_get_port(uri), g_uri_get_path(uri),
		    g_uri_get_query(uri) != NULL ? "…" : NULL,
		    g_uri_get_fragment(uri) != NULL ? "…" : NULL);
		PmConfigEntry hidden = {entry->key, shown, shown};

		pm_config_section_set_error(section, &hidden,
					    g_uri_get_userinfo(uri) != NULL
						? "credentials in the URL (not shown); set "
						  "TokenCredential= or TokenFile= instead"
						: "a base URL has no query or fragment (not shown): "
						  "portmapd adds /v1/nodes/NODEID/endpoint to it",
					    URL_ACCEPTED, error);
		return FALSE;
	}
	g_free(*url);
	*url = g_steal_pointer(&value);
	return TRUE;
}

static gboolean
parse_node_id(PmConfigSection *section, const PmConfigEntry *entry, gpointer field,
	      GError **error)
{
	char **node_id = field;
	const char *what = NULL;

	if (entry->value[0] == '\0')
		what = "empty";
	else if (strlen(entry->value) > PM_CONTROL_PLANE_NODE_ID_MAX)
		what = "too long";
	else if (!pm_control_plane_node_id_is_valid(entry->value))
		what = "not a node id that can go in the URL's path as it is";
	if (what != NULL) {
		pm_config_section_set_error(section, entry, what, NODE_ID_ACCEPTED, error);
		return FALSE;
	}
	g_free(*node_id);
	*node_id = g_strdup(entry->value);
	return TRUE;
}

static const PmConfigKey control_plane_keys[] = {
    {"URL", parse_url, G_STRUCT_OFFSET(PmControlPlaneConfig, url)},
    {"NodeID", parse_node_id, G_STRUCT_OFFSET(PmControlPlaneConfig, node_id)},
    {"TokenCredential", pm_config_parse_string,
     G_STRUCT_OFFSET(PmControlPlaneConfig, token_credential)},
    {"TokenFile", pm_config_parse_string, G_STRUCT_OFFSET(PmControlPlaneConfig, token_file)},
    {NULL},
};

PmControlPlaneConfig *
pm_control_plane_config_parse(PmConfigSection *section, const PmConfig *config, GError **error)
{
	g_autoptr(PmControlPlaneConfig) self = control_plane_config_new();

	if (!pm_config_section_parse_keys(section, control_plane_keys, self, error))
		return NULL;
	if (self->url == NULL) {
		pm_config_section_set_missing_error(section, "URL",
						    "set the control plane's http:// or https:// "
						    "base URL",
						    error);
		return NULL;
	}
	if (self->node_id == NULL) {
		pm_config_section_set_missing_error(section, "NodeID",
						    "set this node's id at the control plane",
						    error);
		return NULL;
	}
	if (!pm_config_section_check_secret_keys(section, "Token", self->token_credential,
						 self->token_file, error))
		return NULL;
	/* the keys first, so that a typo is not hidden behind this */
	if (config->stun == NULL) {
		pm_config_section_set_group_error(section,
						  "[ControlPlane] reports what [STUN] discovers: "
						  "add [STUN]",
						  error);
		return NULL;
	}
	if (!config->stun->enabled) {
		pm_config_section_set_group_error(section,
						  "[ControlPlane] reports what [STUN] discovers, "
						  "and [STUN] has Enabled=no: enable [STUN] or "
						  "remove [ControlPlane]",
						  error);
		return NULL;
	}
	return g_steal_pointer(&self);
}

gboolean
pm_control_plane_config_equal(const PmControlPlaneConfig *a, const PmControlPlaneConfig *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return g_strcmp0(a->url, b->url) == 0 && g_strcmp0(a->node_id, b->node_id) == 0 &&
	       g_strcmp0(a->token_credential, b->token_credential) == 0 &&
	       g_strcmp0(a->token_file, b->token_file) == 0;
}

void
pm_control_plane_config_print(const PmControlPlaneConfig *self, GString *out)
{
	g_string_append(out, "[ControlPlane]\n");
	pm_config_print_string(out, "URL", self->url);
	g_string_append_printf(out, "NodeID=%s\n", self->node_id);
	/* where the token is, never the token */
	if (self->token_credential != NULL)
		pm_config_print_string(out, "TokenCredential", self->token_credential);
	if (self->token_file != NULL)
		pm_config_print_string(out, "TokenFile", self->token_file);
}
