/* SPDX-License-Identifier: GPL-2.0-or-later */

#include <gmodule.h>

#include "errors.h"
#include "nftables-loader.h"

#define PM_LIBNFTABLES_SONAME "libnftables.so.1"

static PmLibnftables libnftables;
static gboolean libnftables_loaded;

/* each member of PmLibnftables and its symbol, in order */
static const struct {
	const char *symbol;
	gsize offset;
} libnftables_symbols[] = {
#define SYMBOL(member) { "nft_" #member, G_STRUCT_OFFSET(PmLibnftables, member) }
	SYMBOL(ctx_new),
	SYMBOL(ctx_free),
	SYMBOL(ctx_output_set_flags),
	SYMBOL(ctx_buffer_output),
	SYMBOL(ctx_buffer_error),
	SYMBOL(ctx_get_output_buffer),
	SYMBOL(ctx_get_error_buffer),
	SYMBOL(run_cmd_from_buffer),
#undef SYMBOL
};

const PmLibnftables *
pm_libnftables_get(GError **error)
{
	PmLibnftables table = {0};
	GModule *module;

	if (libnftables_loaded)
		return &libnftables;
	module = g_module_open(PM_LIBNFTABLES_SONAME, G_MODULE_BIND_LAZY | G_MODULE_BIND_LOCAL);
	if (module == NULL) {
		g_set_error(error, PM_ERROR, PM_ERROR_NOT_SUPPORTED,
			    "cannot load %s for Router=nftables: %s: install libnftables "
			    "(Debian: libnftables1)",
			    PM_LIBNFTABLES_SONAME, g_module_error());
		return NULL;
	}
	for (gsize i = 0; i < G_N_ELEMENTS(libnftables_symbols); i++) {
		gpointer *slot = G_STRUCT_MEMBER_P(&table, libnftables_symbols[i].offset);
		if (!g_module_symbol(module, libnftables_symbols[i].symbol, slot) ||
		    *slot == NULL) {
			g_set_error(error, PM_ERROR, PM_ERROR_NOT_SUPPORTED,
				    "%s has no %s: install libnftables 1.0 or later",
				    PM_LIBNFTABLES_SONAME, libnftables_symbols[i].symbol);
			g_module_close(module);
			return NULL;
		}
	}
	/* contexts may live as long as the daemon: the library stays */
	g_module_make_resident(module);
	libnftables = table;
	libnftables_loaded = TRUE;
	return &libnftables;
}
