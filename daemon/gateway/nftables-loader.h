/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <glib.h>
#include <nftables/libnftables.h>

/*
 * libnftables is loaded when Router=nftables starts, as libsoup is on its first use
 * (libsoup-loader.h): linked in, it and what it pulls in (libnftnl, libmnl, libxtables,
 * GMP, libjansson) cost 0.6 MiB of RSS at every start of every daemon, gateway or not
 * (bench/run: idle 6.71 -> 7.37 MiB). These are the only functions of it the router calls,
 * resolved once.
 */

typedef struct {
	struct nft_ctx *(*ctx_new)(uint32_t flags);
	void (*ctx_free)(struct nft_ctx *ctx);
	void (*ctx_output_set_flags)(struct nft_ctx *ctx, unsigned int flags);
	int (*ctx_buffer_output)(struct nft_ctx *ctx);
	int (*ctx_buffer_error)(struct nft_ctx *ctx);
	const char *(*ctx_get_output_buffer)(struct nft_ctx *ctx);
	const char *(*ctx_get_error_buffer)(struct nft_ctx *ctx);
	int (*run_cmd_from_buffer)(struct nft_ctx *ctx, const char *buf);
} PmLibnftables;

/* the table, loading the library on the first call; NULL with PM_ERROR_NOT_SUPPORTED if
 * it is missing (the message says what to install) */
const PmLibnftables *pm_libnftables_get(GError **error);
