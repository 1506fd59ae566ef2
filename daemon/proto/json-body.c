/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "json-body.h"

const char *
pm_json_body_check_shape(const guint8 *body, gsize len, guint max_nesting)
{
	gboolean in_string = FALSE;
	guint depth = 0;
	gsize i = 0;

	while (i < len && g_ascii_isspace(body[i]))
		i++;
	if (i == len || body[i] != '{')
		return "not a JSON object";
	for (; i < len; i++) {
		guint8 c = body[i];
		if (in_string) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_string = FALSE;
			continue;
		}
		if (c == '"') {
			in_string = TRUE;
		} else if (c == '[' || c == '{') {
			if (++depth > max_nesting)
				return "not JSON: nested too deeply";
		} else if ((c == ']' || c == '}') && depth > 0) {
			if (--depth == 0)
				break;
		}
	}
	/* after the object, only blanks */
	for (i++; i < len; i++) {
		if (!g_ascii_isspace(body[i]))
			return "not JSON: text after the object";
	}
	return NULL;
}
