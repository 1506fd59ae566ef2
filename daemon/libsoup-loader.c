/* SPDX-License-Identifier: GPL-2.0-or-later */

#include <gmodule.h>

#include "errors.h"
#include "libsoup-loader.h"

#define PM_LIBSOUP_SONAME "libsoup-3.0.so.0"

static PmLibsoup libsoup;
static gboolean libsoup_loaded;

/* each member of PmLibsoup and its symbol, in order */
static const struct {
	const char *symbol;
	gsize offset;
} libsoup_symbols[] = {
#define SYMBOL(member) { "soup_" #member, G_STRUCT_OFFSET(PmLibsoup, member) }
	SYMBOL(session_new_with_options),
	SYMBOL(message_new_from_uri),
	SYMBOL(message_get_request_headers),
	SYMBOL(message_get_response_headers),
	SYMBOL(message_headers_append),
	SYMBOL(message_headers_replace),
	SYMBOL(message_headers_get_list),
	SYMBOL(message_set_request_body_from_bytes),
	SYMBOL(message_add_flags),
	SYMBOL(message_get_uri),
	SYMBOL(message_get_status),
	SYMBOL(message_get_reason_phrase),
	SYMBOL(session_send_and_read_async),
	SYMBOL(session_send_and_read_finish),
	SYMBOL(cookies_from_response),
	SYMBOL(cookie_get_name),
	SYMBOL(cookie_get_value),
	SYMBOL(cookies_free),
#undef SYMBOL
};

const PmLibsoup *
pm_libsoup_get(GError **error)
{
	PmLibsoup table = {0};
	GModule *module;

	if (libsoup_loaded)
		return &libsoup;
	module = g_module_open(PM_LIBSOUP_SONAME, G_MODULE_BIND_LAZY | G_MODULE_BIND_LOCAL);
	if (module == NULL) {
		g_set_error(error, PM_ERROR, PM_ERROR_NOT_SUPPORTED,
			    "cannot load %s for HTTP: %s: install libsoup 3 (Debian: libsoup-3.0-0)",
			    PM_LIBSOUP_SONAME, g_module_error());
		return NULL;
	}
	for (gsize i = 0; i < G_N_ELEMENTS(libsoup_symbols); i++) {
		gpointer *slot = G_STRUCT_MEMBER_P(&table, libsoup_symbols[i].offset);
		if (!g_module_symbol(module, libsoup_symbols[i].symbol, slot) || *slot == NULL) {
			g_set_error(error, PM_ERROR, PM_ERROR_NOT_SUPPORTED,
				    "%s has no %s: install libsoup 3.2 or later", PM_LIBSOUP_SONAME,
				    libsoup_symbols[i].symbol);
			g_module_close(module);
			return NULL;
		}
	}
	/* the GTypes it registers must outlive every session */
	g_module_make_resident(module);
	libsoup = table;
	libsoup_loaded = TRUE;
	return &libsoup;
}
