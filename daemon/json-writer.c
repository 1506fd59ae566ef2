/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "json-writer.h"

void
pm_json_writer_init(PmJsonWriter *self, gsize reserve, gboolean pretty)
{
	self->out = g_string_sized_new(reserve);
	self->depth = 0;
	self->need_comma = FALSE;
	self->after_member = FALSE;
	self->pretty = pretty;
}

char *
pm_json_writer_finish(PmJsonWriter *self)
{
	if (self->pretty)
		g_string_append_c(self->out, '\n');
	return g_string_free(g_steal_pointer(&self->out), FALSE);
}

static void
newline(PmJsonWriter *self)
{
	if (!self->pretty)
		return;
	g_string_append_c(self->out, '\n');
	for (guint i = 0; i < self->depth; i++)
		g_string_append(self->out, "  ");
}

/* before a value or a member: the separator from the previous one (none right after a
 * member name) */
static void
separate(PmJsonWriter *self)
{
	if (self->after_member) {
		self->after_member = FALSE;
		return;
	}
	if (self->need_comma)
		g_string_append_c(self->out, ',');
	if (self->depth > 0)
		newline(self);
}

static void
open_container(PmJsonWriter *self, char c)
{
	separate(self);
	g_string_append_c(self->out, c);
	self->depth++;
	self->need_comma = FALSE;
}

static void
close_container(PmJsonWriter *self, char c)
{
	gboolean empty = !self->need_comma;
	self->depth--;
	if (!empty)
		newline(self);
	g_string_append_c(self->out, c);
	self->need_comma = TRUE;
}

void
pm_json_begin_object(PmJsonWriter *self)
{
	open_container(self, '{');
}

void
pm_json_end_object(PmJsonWriter *self)
{
	close_container(self, '}');
}

void
pm_json_begin_array(PmJsonWriter *self)
{
	open_container(self, '[');
}

void
pm_json_end_array(PmJsonWriter *self)
{
	close_container(self, ']');
}

static gboolean
needs_escape(guchar c)
{
	return c < 0x20 || c == '"' || c == '\\';
}

static void
append_escaped(GString *out, const char *value)
{
	const char *run = value;

	g_string_append_c(out, '"');
	/* runs of plain characters in one copy: names and addresses rarely need escaping,
	 * and a character at a time was a quarter of Describe()'s time at 10 000 mappings */
	for (const char *p = value;; p++) {
		guchar c = (guchar)*p;

		if (c != '\0' && !needs_escape(c))
			continue;
		g_string_append_len(out, run, p - run);
		run = p + 1;
		switch (c) {
		case '\0':
			g_string_append_c(out, '"');
			return;
		case '"':
			g_string_append(out, "\\\"");
			break;
		case '\\':
			g_string_append(out, "\\\\");
			break;
		case '\n':
			g_string_append(out, "\\n");
			break;
		case '\r':
			g_string_append(out, "\\r");
			break;
		case '\t':
			g_string_append(out, "\\t");
			break;
		default:
			g_string_append_printf(out, "\\u%04x", c);
		}
	}
}

void
pm_json_member(PmJsonWriter *self, const char *name)
{
	separate(self);
	append_escaped(self->out, name);
	g_string_append(self->out, self->pretty ? ": " : ":");
	self->after_member = TRUE;
	self->need_comma = FALSE;
}

void
pm_json_string(PmJsonWriter *self, const char *value)
{
	separate(self);
	append_escaped(self->out, value != NULL ? value : "");
	self->need_comma = TRUE;
}

void
pm_json_int(PmJsonWriter *self, gint64 value)
{
	separate(self);
	g_string_append_printf(self->out, "%" G_GINT64_FORMAT, value);
	self->need_comma = TRUE;
}

void
pm_json_uint(PmJsonWriter *self, guint64 value)
{
	separate(self);
	g_string_append_printf(self->out, "%" G_GUINT64_FORMAT, value);
	self->need_comma = TRUE;
}

void
pm_json_bool(PmJsonWriter *self, gboolean value)
{
	separate(self);
	g_string_append(self->out, value ? "true" : "false");
	self->need_comma = TRUE;
}

void
pm_json_null(PmJsonWriter *self)
{
	separate(self);
	g_string_append(self->out, "null");
	self->need_comma = TRUE;
}

void
pm_json_member_string(PmJsonWriter *self, const char *name, const char *value)
{
	pm_json_member(self, name);
	pm_json_string(self, value);
}

void
pm_json_member_int(PmJsonWriter *self, const char *name, gint64 value)
{
	pm_json_member(self, name);
	pm_json_int(self, value);
}

void
pm_json_member_uint(PmJsonWriter *self, const char *name, guint64 value)
{
	pm_json_member(self, name);
	pm_json_uint(self, value);
}

void
pm_json_member_bool(PmJsonWriter *self, const char *name, gboolean value)
{
	pm_json_member(self, name);
	pm_json_bool(self, value);
}
