/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <stdio.h>

#include "log.h"

static GLogLevelFlags log_threshold = G_LOG_LEVEL_INFO;
static gboolean log_to_journal = FALSE;

static GLogWriterOutput
log_writer(GLogLevelFlags level, const GLogField *fields, gsize n_fields, gpointer user_data)
{
	/* lower flag values are more severe */
	if ((level & G_LOG_LEVEL_MASK) > log_threshold)
		return G_LOG_WRITER_HANDLED;
	/* the journal keeps MAPPING=, PROVIDER= and the rest; stderr gets the message only */
	if (log_to_journal &&
	    g_log_writer_journald(level, fields, n_fields, user_data) == G_LOG_WRITER_HANDLED)
		return G_LOG_WRITER_HANDLED;
	return g_log_writer_standard_streams(level, fields, n_fields, user_data);
}

gboolean
pm_log_parse_level(const char *name, GLogLevelFlags *level)
{
	static const struct {
		const char *name;
		GLogLevelFlags level;
	} levels[] = {
	    {"err", G_LOG_LEVEL_CRITICAL},   {"error", G_LOG_LEVEL_CRITICAL},
	    {"warning", G_LOG_LEVEL_WARNING}, {"notice", G_LOG_LEVEL_MESSAGE},
	    {"info", G_LOG_LEVEL_INFO},       {"debug", G_LOG_LEVEL_DEBUG},
	};
	for (guint i = 0; i < G_N_ELEMENTS(levels); i++) {
		if (g_ascii_strcasecmp(name, levels[i].name) == 0) {
			*level = levels[i].level;
			return TRUE;
		}
	}
	return FALSE;
}

void
pm_log_init(GLogLevelFlags threshold)
{
	log_threshold = threshold;
	/* what pm_log_fields() asks before formatting a debug line */
	g_log_set_debug_enabled((threshold & G_LOG_LEVEL_MASK) >= G_LOG_LEVEL_DEBUG);
	/* systemd connects stderr to the journal's stream socket (StandardError=journal) */
	log_to_journal = g_log_writer_is_journald(fileno(stderr));
	g_log_set_writer_func(log_writer, NULL, NULL);
}
