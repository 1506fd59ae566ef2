/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <glib.h>

/*
 * A streaming JSON writer into a GString: state.json, Describe() and status.json are
 * rewritten often with 10 000 mappings, and building a JsonNode tree for each costed
 * hundreds of thousands of allocations and most of the daemon's memory high-water mark.
 */

typedef struct {
	GString *out;
	guint depth;
	gboolean need_comma;
	gboolean after_member;
	gboolean pretty;
} PmJsonWriter;

void pm_json_writer_init(PmJsonWriter *self, gsize reserve, gboolean pretty);
/* the text; the writer is spent */
char *pm_json_writer_finish(PmJsonWriter *self);

void pm_json_begin_object(PmJsonWriter *self);
void pm_json_end_object(PmJsonWriter *self);
void pm_json_begin_array(PmJsonWriter *self);
void pm_json_end_array(PmJsonWriter *self);
/* a member name inside an object; the value follows */
void pm_json_member(PmJsonWriter *self, const char *name);
void pm_json_string(PmJsonWriter *self, const char *value);
void pm_json_int(PmJsonWriter *self, gint64 value);
void pm_json_uint(PmJsonWriter *self, guint64 value);
void pm_json_bool(PmJsonWriter *self, gboolean value);
void pm_json_null(PmJsonWriter *self);

/* shorthands for "name": value */
void pm_json_member_string(PmJsonWriter *self, const char *name, const char *value);
void pm_json_member_int(PmJsonWriter *self, const char *name, gint64 value);
void pm_json_member_uint(PmJsonWriter *self, const char *name, guint64 value);
void pm_json_member_bool(PmJsonWriter *self, const char *name, gboolean value);
