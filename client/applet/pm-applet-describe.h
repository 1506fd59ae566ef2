/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <glib.h>

/*
 * The "About this configuration" text: portmapd's Describe() JSON as translated, readable
 * text, without a toolkit. First the configuration files in use ("ConfigFiles", an array
 * of paths in the order read; "(not reported by this portmapd)" when the key is absent,
 * as it is in daemons older than that key), then the daemon, its providers, its mappings,
 * the built-in gateway and STUN. Keys a daemon does not send are left out, never guessed.
 *
 * Returns NULL with @error (G_IO_ERROR_INVALID_DATA) if @json is not a JSON object.
 */
char *pm_applet_describe_format(const char *json, GError **error);
