/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <glib.h>

/*
 * The JSON replies of the HTTP peers (natpmp-http, PIA, qBittorrent, Transmission,
 * Deluge) are one object each. Anything else is told apart before json-glib sees it: its
 * parser recurses on nesting, and json-glib 1.6 leaks what it built when a second value
 * follows the first ("{}{}"). Pure, no allocation: safe on any input (fuzzed through
 * every codec that calls it).
 */

/* NULL if @body is one JSON object, nested at most @max_nesting deep, with only blanks
 * around it; else why not, to follow a subject ("not a JSON object", "not JSON: text after the
 * object"...) */
const char *pm_json_body_check_shape(const guint8 *body, gsize len, guint max_nesting);
