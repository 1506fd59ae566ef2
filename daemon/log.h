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

/* one message with extra fields: @fields is NAME, VALUE, ..., NULL (a NULL or "" value: left
 * out; at most 8 pairs) */
static inline void G_GNUC_PRINTF(7, 0)
pm_log_fieldsv(const char *domain, GLogLevelFlags level, const char *file, const char *line,
	       const char *func, const char *const *fields, const char *format, va_list args)
{
	g_autofree char *message = NULL;
	GLogField f[14];
	gsize n = 0;

	/* no formatting for a debug line nobody will see (--log-level=debug enables them) */
	if ((level & G_LOG_LEVEL_DEBUG) && g_log_writer_default_would_drop(level, domain))
		return;
	message = g_strdup_vprintf(format, args);
	f[n++] = (GLogField){"MESSAGE", message, -1};
	f[n++] = (GLogField){"PRIORITY", pm_log_priority(level), -1};
	/* the journal's writer takes every value for a string: never NULL */
	f[n++] = (GLogField){"GLIB_DOMAIN", domain != NULL ? domain : "portmapd", -1};
	f[n++] = (GLogField){"CODE_FILE", file, -1};
	f[n++] = (GLogField){"CODE_LINE", line, -1};
	f[n++] = (GLogField){"CODE_FUNC", func, -1};
	for (guint i = 0; fields != NULL && fields[i] != NULL && n < G_N_ELEMENTS(f); i += 2) {
		if (fields[i + 1] != NULL && fields[i + 1][0] != '\0')
			f[n++] = (GLogField){fields[i], fields[i + 1], -1};
	}
	g_log_structured_array(level, f, n);
}

static inline void G_GNUC_PRINTF(7, 8)
pm_log_with(const char *domain, GLogLevelFlags level, const char *file, const char *line,
	    const char *func, const char *const *fields, const char *format, ...)
{
	va_list args;

	va_start(args, format);
	pm_log_fieldsv(domain, level, file, line, func, fields, format, args);
	va_end(args);
}

/* one message with the optional fields (NULL or "": left out) */
static inline void G_GNUC_PRINTF(9, 10)
pm_log_fields(const char *domain, GLogLevelFlags level, const char *file, const char *line,
	      const char *func, const char *mapping, const char *provider, const char *gateway,
	      const char *format, ...)
{
	const char *const fields[] = {PM_LOG_FIELD_MAPPING, mapping, PM_LOG_FIELD_PROVIDER,
				      provider, PM_LOG_FIELD_GATEWAY, gateway, NULL};
	va_list args;

	va_start(args, format);
	pm_log_fieldsv(domain, level, file, line, func, fields, format, args);
	va_end(args);
}

/* pm_log(G_LOG_LEVEL_INFO, (const char *const[]){"ENDPOINT", e, NULL}, "endpoint %s", e) */
#define pm_log(level, fields, ...)                                                                 \
	pm_log_with(G_LOG_DOMAIN, (level), __FILE__, G_STRINGIFY(__LINE__), G_STRFUNC, (fields),   \
		    __VA_ARGS__)

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
