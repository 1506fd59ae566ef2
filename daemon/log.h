/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <glib.h>

/*
 * Structured logging for the journal. Messages about one mapping, provider or gateway carry
 * MAPPING=, PROVIDER= and GATEWAY= fields, so `journalctl -u portmapd MAPPING=web` tells one
 * mapping's story. The helpers are inline: code that the unit tests link on its own (the
 * providers) needs this header only. The writer (journal or stderr, --log-level) is in log.c.
 */

#define PM_LOG_FIELD_MAPPING "MAPPING"
#define PM_LOG_FIELD_PROVIDER "PROVIDER"
#define PM_LOG_FIELD_GATEWAY "GATEWAY"

/* syslog priorities, as GLib gives them to the journal */
static inline const char *
pm_log_priority(GLogLevelFlags level)
{
	if (level & G_LOG_LEVEL_ERROR)
		return "3";
	if (level & (G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING))
		return "4";
	if (level & G_LOG_LEVEL_MESSAGE)
		return "5";
	if (level & G_LOG_LEVEL_INFO)
		return "6";
	return "7";
}

/* one message with the optional fields (NULL or "": left out) */
static inline void G_GNUC_PRINTF(9, 10)
pm_log_fields(const char *domain, GLogLevelFlags level, const char *file, const char *line,
	      const char *func, const char *mapping, const char *provider, const char *gateway,
	      const char *format, ...)
{
	g_autofree char *message = NULL;
	GLogField fields[9];
	gsize n = 0;
	va_list args;

	/* no formatting for a debug line nobody will see (--log-level=debug enables them) */
	if ((level & G_LOG_LEVEL_DEBUG) && g_log_writer_default_would_drop(level, domain))
		return;
	va_start(args, format);
	message = g_strdup_vprintf(format, args);
	va_end(args);

	fields[n++] = (GLogField){"MESSAGE", message, -1};
	fields[n++] = (GLogField){"PRIORITY", pm_log_priority(level), -1};
	/* the journal's writer takes every value for a string: never NULL */
	fields[n++] = (GLogField){"GLIB_DOMAIN", domain != NULL ? domain : "portmapd", -1};
	fields[n++] = (GLogField){"CODE_FILE", file, -1};
	fields[n++] = (GLogField){"CODE_LINE", line, -1};
	fields[n++] = (GLogField){"CODE_FUNC", func, -1};
	if (mapping != NULL && mapping[0] != '\0')
		fields[n++] = (GLogField){PM_LOG_FIELD_MAPPING, mapping, -1};
	if (provider != NULL && provider[0] != '\0')
		fields[n++] = (GLogField){PM_LOG_FIELD_PROVIDER, provider, -1};
	if (gateway != NULL && gateway[0] != '\0')
		fields[n++] = (GLogField){PM_LOG_FIELD_GATEWAY, gateway, -1};
	g_log_structured_array(level, fields, n);
}

#define PM_LOG_WITH_FIELDS(level, mapping, provider, gateway, ...)                                 \
	pm_log_fields(G_LOG_DOMAIN, (level), __FILE__, G_STRINGIFY(__LINE__), G_STRFUNC, (mapping), \
		      (provider), (gateway), __VA_ARGS__)

/* pm_log_mapping(G_LOG_LEVEL_WARNING, m->name, m->provider_name, "mapping %s failed", ...) */
#define pm_log_mapping(level, mapping_name, provider_name, ...)                                    \
	PM_LOG_WITH_FIELDS(level, mapping_name, provider_name, NULL, __VA_ARGS__)
#define pm_log_provider(level, provider_name, ...)                                                 \
	PM_LOG_WITH_FIELDS(level, NULL, provider_name, NULL, __VA_ARGS__)
/* a NAT-PMP client is shared by the providers that use its gateway: it knows only that */
#define pm_log_gateway(level, gateway, ...)                                                        \
	PM_LOG_WITH_FIELDS(level, NULL, NULL, gateway, __VA_ARGS__)

/* the names of --log-level: error, warning, notice, info, debug (case-insensitive) */
gboolean pm_log_parse_level(const char *name, GLogLevelFlags *level);
/* installs the writer: to the journal when stderr is connected to it, else to stderr; messages
 * less severe than @threshold are dropped */
void pm_log_init(GLogLevelFlags threshold);
