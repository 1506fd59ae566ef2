/* SPDX-License-Identifier: GPL-2.0-or-later */

#include <errno.h>
#include <glib-unix.h>
#include <glib/gi18n.h>
#include <json-glib/json-glib.h>
#include <locale.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "build-info.h"
#if PM_HAVE_BUS
#include <systemd/sd-daemon.h>

#include "bus-service.h"
#else
#include "no-bus.h"
#endif
#include "config-env.h"
#include "config.h"
#include "context.h"
#include "errors.h"
#include "extensions.h"
#include "gateway.h"
#include "stun-config.h"
#include "stun-service.h"
#include "log.h"
#include "manager.h"
#include "pm-i18n.h"
#include "scheduler.h"
#include "secrets.h"

#define DEFAULT_CONFIG "/etc/portmap/portmapd.conf"
#define DEFAULT_STATE_DIR "/var/lib/portmap"
#define DEFAULT_RUNTIME_DIR "/run/portmap"
#define STATUS_WRITE_DELAY_USEC (100 * G_TIME_SPAN_MILLISECOND)

#define EXIT_CONFIG 2
/* what messages call the configuration made by --config-from-env */
#define ENV_CONFIG_NAME "<environment>"

typedef struct {
	GMainLoop *loop;
	PmScheduler *scheduler;
	PmContext *context;
	PmManager *manager;
	PmGateway *gateway; /* [Gateway], NULL without one */
	PmStunService *stun; /* [STUN] with Enabled=yes, else NULL */
	guint stun_extension_id; /* the service's, or the stand-in's without one */
	gboolean started;	 /* the bus name is ours (or --no-bus): discoveries may run */
	PmBusService *bus;
	char *config_path;  /* NULL: --config-from-env alone */
	PmConfigEnv *env;   /* --config-from-env: the file is merged over it */
	char *runtime_dir;
	int exit_code;
	gboolean stopping;
	guint stop_pending;
	gboolean no_bus;
	gboolean notify; /* started by systemd with a notification socket */
	char *last_status; /* the last STATUS= sent */
	guint watchdog_id;
	PmTimer status_timer;
	guint listener_id; /* status.json and STATUS=, after the bus layer's signals */
} Daemon;

/* ---- the service manager: READY=1, STATUS=, RELOADING=1, STOPPING=1, WATCHDOG=1 ---- */

static char *
status_text(Daemon *d)
{
	g_autoptr(GPtrArray) mappings = pm_manager_get_mappings(d->manager);
	guint active = 0;

	for (guint i = 0; i < mappings->len; i++) {
		PmMapping *mapping = g_ptr_array_index(mappings, i);
		/* renewing keeps its lease */
		if (mapping->state == PM_MAPPING_STATE_ACTIVE ||
		    mapping->state == PM_MAPPING_STATE_RENEWING)
			active++;
	}
	if (mappings->len == 0)
		return g_strdup("no mappings");
	if (active == mappings->len)
		return g_strdup_printf(active == 1 ? "%u mapping active" : "%u mappings active",
				       active);
	return g_strdup_printf("%u of %u mappings active", active, mappings->len);
}

static void
notify_ready(Daemon *d)
{
	if (!d->notify)
		return;
	g_free(d->last_status);
	d->last_status = status_text(d);
	(void)sd_notifyf(0, "READY=1\nSTATUS=%s", d->last_status);
}

static void
notify_status(Daemon *d)
{
	g_autofree char *status = NULL;
	if (!d->notify || d->stopping)
		return;
	status = status_text(d);
	if (g_strcmp0(status, d->last_status) == 0)
		return;
	(void)sd_notifyf(0, "STATUS=%s", status);
	g_free(d->last_status);
	d->last_status = g_steal_pointer(&status);
}

static gboolean
watchdog_cb(gpointer user_data)
{
	(void)sd_notify(0, "WATCHDOG=1");
	return G_SOURCE_CONTINUE;
}

/* the only periodic wake-up, and only when WatchdogSec= asks for it */
static void
watchdog_start(Daemon *d)
{
	uint64_t usec = 0;
	guint interval_ms;

	if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0)
		return;
	interval_ms = (guint)MAX(usec / 2 / 1000, 1);
	g_debug("pinging the service manager's watchdog every %u ms", interval_ms);
	d->watchdog_id = g_timeout_add(interval_ms, watchdog_cb, d);
}

static void
name_acquired_cb(gpointer user_data)
{
	Daemon *d = user_data;

	/* the first discovery once clients can hear its EndpointChanged */
	d->started = TRUE;
	if (d->stun != NULL)
		pm_stun_service_start(d->stun);
	notify_ready(d);
}

/* the file and its drop-ins, over the environment's configuration with --config-from-env */
static PmConfig *
load_config(PmConfigEnv *env, const char *config_path, GError **error)
{
	const char *base = env != NULL ? pm_config_env_get_data(env) : NULL;

	return pm_config_load_over(base,
				   base != NULL ? strlen(base) : 0,
				   ENV_CONFIG_NAME,
				   config_path,
				   error);
}

static gboolean
stun_enabled(const PmConfig *config)
{
	return config->stun != NULL && config->stun->enabled;
}

static gboolean
reload_config(GError **error, gpointer user_data)
{
	Daemon *d = user_data;
	g_autoptr(PmConfig) config = NULL;
	g_autoptr(GError) local_error = NULL;
	gboolean ok;

	if (d->notify)
		(void)sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%" G_GINT64_FORMAT,
				 g_get_monotonic_time());
	if (d->config_path != NULL)
		g_info("reloading the configuration from %s%s", d->config_path,
		       d->env != NULL ? " over the one imported from the environment" : "");
	else
		g_info("reloading the configuration imported from the environment at start");
	config = load_config(d->env, d->config_path, &local_error);
	if (config == NULL) {
		g_warning("reload refused, nothing changed: %s", local_error->message);
		g_propagate_error(error, g_steal_pointer(&local_error));
		notify_ready(d);
		return FALSE;
	}
	if (d->gateway != NULL && config->gateway != NULL)
		pm_gateway_reload(d->gateway, config->gateway);
	else if ((d->gateway != NULL) != (config->gateway != NULL))
		g_warning("[Gateway] was %s: restart portmapd to apply it",
			  config->gateway != NULL ? "added" : "removed");
	if (d->stun != NULL && stun_enabled(config)) {
		pm_stun_service_set_reporting(d->stun, config->control_plane, config->wireguard);
		pm_stun_service_reload(d->stun, config->stun);
	} else if (d->stun == NULL && stun_enabled(config) && !d->stopping) {
		g_info("STUN: enabled by the reload");
		d->stun = pm_stun_service_new(d->manager, d->context, config->stun,
					      d->stun_extension_id);
		pm_stun_service_set_reporting(d->stun, config->control_plane, config->wireguard);
		if (d->started)
			pm_stun_service_start(d->stun);
	} else if (d->stun != NULL && !stun_enabled(config)) {
		static const char *const names[] = {"PublicEndpoint", "NATType", "MappingBehavior",
						    "FilteringBehavior", NULL};
		g_info("STUN: %s by the reload", config->stun != NULL ? "disabled" : "removed");
		pm_stun_service_stop(d->stun, "STUN was disabled by a reload");
		pm_manager_replace_extension(d->manager, d->stun_extension_id,
					     &pm_stun_unconfigured_extension, NULL);
		g_clear_pointer(&d->stun, pm_stun_service_free);
		/* the stand-in's values: no endpoint, nothing known */
		pm_manager_extension_changed(d->manager, d->stun_extension_id, names);
	}
	ok = pm_manager_reload(d->manager, g_steal_pointer(&config), error);
	notify_ready(d);
	return ok;
}

static gboolean
sighup_cb(gpointer user_data)
{
	g_autoptr(GError) error = NULL;
	reload_config(&error, user_data);
	return G_SOURCE_CONTINUE;
}

/* the gateway's rule removals and the manager's deletions: both end before the loop does */
static void
stop_done(gpointer user_data)
{
	Daemon *d = user_data;
	if (--d->stop_pending == 0)
		g_main_loop_quit(d->loop);
}

static gboolean
sigterm_cb(gpointer user_data)
{
	Daemon *d = user_data;
	if (d->stopping)
		return G_SOURCE_CONTINUE;
	d->stopping = TRUE;
	g_info("stopping");
	if (d->notify)
		(void)sd_notify(0, "STOPPING=1\nSTATUS=stopping: releasing mappings");
	/* the LAN gateway first: no new client mapping, its router rules removed; the manager
	 * then deletes their upstream mappings with the other transient ones */
	if (d->stun != NULL)
		pm_stun_service_stop(d->stun, "portmapd is stopping");
	/* each bounded by PM_MANAGER_STOP_TIMEOUT_USEC (design §3 "Stop": 5 s) */
	d->stop_pending = 2;
	if (d->gateway != NULL)
		pm_gateway_stop(d->gateway,
				pm_manager_get_config(d->manager)->daemon.release_on_stop !=
					PM_RELEASE_ON_STOP_NONE,
				stop_done, d);
	else
		d->stop_pending--;
	pm_manager_stop(d->manager, stop_done, d);
	return G_SOURCE_CONTINUE;
}

static gboolean
bus_lost_cb(gpointer user_data)
{
	Daemon *d = user_data;
	d->exit_code = EXIT_FAILURE;
	g_main_loop_quit(d->loop);
	return G_SOURCE_REMOVE;
}

/* ---- after every change: status.json (--no-bus) and STATUS= (systemd) ---- */

static void
status_write(Daemon *d)
{
	g_autofree char *json = pm_manager_describe(d->manager);
	g_autofree char *path = g_build_filename(d->runtime_dir, "status.json", NULL);
	g_autoptr(GError) error = NULL;

	if (g_mkdir_with_parents(d->runtime_dir, 0755) < 0) {
		g_warning("cannot create %s: %s", d->runtime_dir, g_strerror(errno));
		return;
	}
	if (!g_file_set_contents_full(path, json, -1, G_FILE_SET_CONTENTS_CONSISTENT, 0644,
				      &error))
		g_warning("cannot write %s: %s", path, error->message);
}

static void
status_timer_cb(PmTimer *timer, gpointer user_data)
{
	Daemon *d = user_data;
	if (d->no_bus)
		status_write(d);
	notify_status(d);
}

/* @count_changed: a mapping came, went or changed state (what STATUS= counts) */
static void
status_changed(Daemon *d, gboolean count_changed)
{
	if (!d->no_bus && !(d->notify && count_changed))
		return;
	if (!pm_timer_is_armed(&d->status_timer))
		pm_scheduler_arm(d->scheduler, &d->status_timer,
				 pm_scheduler_now(d->scheduler) + STATUS_WRITE_DELAY_USEC);
}

/* our listener at the manager: status.json and STATUS= follow every change; the bus
 * layer registers its own, before this one, so signals go out first */
static void
status_mapping_added(PmMapping *mapping, gpointer user_data)
{
	status_changed(user_data, TRUE);
}

static void
status_mapping_removed(PmMapping *mapping, gpointer user_data)
{
	status_changed(user_data, TRUE);
}

static void
status_mapping_changed(PmMapping *mapping, guint props, gpointer user_data)
{
	status_changed(user_data, (props & PM_MAPPING_PROP_STATE) != 0);
}

static void
status_port_changed(PmMapping *mapping, guint16 old_port, guint16 new_port, gpointer user_data)
{
	status_changed(user_data, FALSE);
}

static void
status_manager_changed(guint props, gpointer user_data)
{
	status_changed(user_data, FALSE);
}

static void
status_extension_changed(const PmManagerExtension *extension, const char *const *names,
			 gpointer user_data)
{
	status_changed(user_data, FALSE);
}

static const PmManagerListener status_listener = {
    .mapping_added = status_mapping_added,
    .mapping_removed = status_mapping_removed,
    .mapping_changed = status_mapping_changed,
    .port_changed = status_port_changed,
    .manager_changed = status_manager_changed,
    .extension_changed = status_extension_changed,
};

/* --health: exit 0 only when every mapping of a --no-bus daemon is active */
static int
health_check(const char *runtime_dir)
{
	g_autofree char *path = g_build_filename(runtime_dir, "status.json", NULL);
	g_autoptr(JsonParser) parser = json_parser_new();
	g_autoptr(GError) error = NULL;
	JsonObject *root;
	JsonArray *mappings;
	int code = EXIT_SUCCESS;

	if (!json_parser_load_from_file(parser, path, &error)) {
		g_printerr("portmapd is not running headless here (%s): %s\n", path,
			   error->message);
		return EXIT_FAILURE;
	}
	if (!JSON_NODE_HOLDS_OBJECT(json_parser_get_root(parser))) {
		g_printerr("%s is not a status document\n", path);
		return EXIT_FAILURE;
	}
	root = json_node_get_object(json_parser_get_root(parser));
	mappings = json_object_get_array_member(root, "Mappings");
	for (guint i = 0; mappings != NULL && i < json_array_get_length(mappings); i++) {
		JsonObject *m = json_array_get_object_element(mappings, i);
		const char *state = json_object_get_string_member_with_default(m, "State", "");
		if (g_strcmp0(state, "active") != 0) {
			g_printerr("mapping %s is %s%s%s\n",
				   json_object_get_string_member_with_default(m, "Name", "?"),
				   state,
				   *json_object_get_string_member_with_default(m, "LastError", "")
				       ? ": "
				       : "",
				   json_object_get_string_member_with_default(m, "LastError", ""));
			code = EXIT_FAILURE;
		}
	}
	return code;
}

/* free in order, so leak checkers (the sanitizer build runs the lab suite) see a clean
 * exit: the bus first (it refers to the manager), then the manager (its providers hold
 * scheduler timers and the context's NAT-PMP clients), then the context, then the
 * scheduler */
static void
daemon_clear(Daemon *d)
{
	pm_scheduler_disarm(d->scheduler, &d->status_timer);
	if (d->listener_id != 0)
		pm_manager_remove_listener(d->manager, d->listener_id);
	/* STUN before the bus: callers still waiting for DiscoverEndpoint() are answered */
	g_clear_pointer(&d->stun, pm_stun_service_free);
	g_clear_pointer(&d->bus, pm_bus_service_free);
	g_clear_pointer(&d->gateway, pm_gateway_free);
	g_clear_pointer(&d->manager, pm_manager_free);
	g_clear_pointer(&d->context, pm_context_free);
	g_clear_pointer(&d->scheduler, pm_scheduler_free);
	g_clear_pointer(&d->loop, g_main_loop_unref);
}

int
main(int argc, char **argv)
{
	g_autofree char *config_path = NULL;
	g_autofree char *state_dir = NULL;
	g_autofree char *runtime_dir = NULL;
	g_autofree char *log_level = NULL;
	GLogLevelFlags log_threshold = G_LOG_LEVEL_INFO;
	gboolean no_bus = FALSE;
	gboolean version = FALSE;
	gboolean health = FALSE;
	gboolean print_config = FALSE;
	gboolean config_from_env = FALSE;
	/* the default paths are spelt out, not DEFAULT_*: xgettext does not expand macros, so a
	 * msgid pasted together with one would never be found in the catalog */
	const GOptionEntry entries[] = {
	    {"config", 'c', 0, G_OPTION_ARG_FILENAME, &config_path,
	     N_("Configuration file (default /etc/portmap/portmapd.conf, drop-ins in FILE.d/)"),
	     N_("FILE")},
	    {"config-from-env", 0, 0, G_OPTION_ARG_NONE, &config_from_env,
	     N_("Build the configuration from the environment variables of the tool portmapd "
		"replaces (the natpmp-http-api client, gluetun); with --config, the file and its "
		"drop-ins are merged over it"), NULL},
	    {"state-dir", 0, 0, G_OPTION_ARG_FILENAME, &state_dir,
	     N_("Where state.json is kept (default $STATE_DIRECTORY or /var/lib/portmap)"),
	     N_("DIR")},
	    {"runtime-dir", 0, 0, G_OPTION_ARG_FILENAME, &runtime_dir,
	     N_("Where status.json is written with --no-bus (default $RUNTIME_DIRECTORY or "
		"/run/portmap)"),
	     N_("DIR")},
	    {"no-bus", 0, 0, G_OPTION_ARG_NONE, &no_bus,
	     N_("Run without the system bus (containers): configured and persistent mappings "
		"only, status in status.json in the runtime directory"), NULL},
	    {"health", 0, 0, G_OPTION_ARG_NONE, &health,
	     N_("Exit 0 only if every mapping in status.json (see --runtime-dir) is active"), NULL},
	    {"print-config", 0, 0, G_OPTION_ARG_NONE, &print_config,
	     N_("Check the configuration, print it with drop-ins merged and defaults filled "
		"in, and exit (status 2 if invalid)"), NULL},
	    {"log-level", 0, 0, G_OPTION_ARG_STRING, &log_level,
	     N_("Log level: error, warning, notice, info (default) or debug; to the journal "
		"under systemd, else to stderr"), N_("LEVEL")},
	    {"version", 0, 0, G_OPTION_ARG_NONE, &version, N_("Print the version and exit"),
	     NULL},
	    {NULL},
	};
	g_autoptr(GOptionContext) context = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(PmConfig) config = NULL;
	g_autoptr(PmConfigEnv) env = NULL;
	Daemon d = {0};

	/* a fixed mmap threshold: glibc otherwise raises it to the size of each large buffer
	 * freed (a 4 MiB state.json or Describe() reply with 10 000 mappings), after which
	 * such buffers come from the heap and leave it fragmented for good. 256 KiB, not
	 * glibc's 128 KiB: libnftables allocates and frees buffers of a little over 128 KiB
	 * per command, and each munmap() is a TLB shootdown on every CPU (with 128 KiB,
	 * a burst of 64 LAN mappings kept another client's answers waiting 50 ms:
	 * tests/flood) */
	mallopt(M_MMAP_THRESHOLD, 256 * 1024);
	pm_i18n_init();

	context = g_option_context_new(NULL);
	g_option_context_set_summary(
	    context, _("Keeps inbound ports reachable from behind NAT and VPN gateways, and "
		       "publishes them on the system bus as org.portmap.Manager."));
	g_option_context_set_description(context,
					 _("SIGHUP reloads the configuration (refused whole if "
					   "invalid); SIGTERM stops. Exit status: 0 stopped, 1 runtime "
					   "failure (bus), 2 invalid options or configuration.\n\n"
					   "See the portmapd(8) and portmapd.conf(5) man pages."));
	g_option_context_add_main_entries(context, entries, GETTEXT_PACKAGE);
	if (!g_option_context_parse(context, &argc, &argv, &error)) {
		g_printerr("portmapd: %s\n", error->message);
		return EXIT_CONFIG;
	}
	/* only --help and the option errors above speak the user's language: what portmapd
	 * prints from here on is for the journal (or a container's log), in English, and so
	 * are the GLib and C library texts it quotes (GKeyFile errors, strerror()) */
	setlocale(LC_MESSAGES, "C");
	if (version) {
		g_print("portmapd %s\n", PACKAGE_VERSION);
		return EXIT_SUCCESS;
	}
	/* before the log: LOG_LEVEL is one of its variables; --health reads no configuration */
	if (config_from_env && !health) {
		env = pm_config_env_new_from_environ(&error);
		if (env == NULL) {
			g_printerr("portmapd: %s\n", error->message);
			return EXIT_CONFIG;
		}
		/* --log-level wins over LOG_LEVEL */
		if (log_level == NULL && pm_config_env_get_log_level(env) != NULL)
			log_level = g_strdup(pm_config_env_get_log_level(env));
	}
	if (log_level != NULL && !pm_log_parse_level(log_level, &log_threshold)) {
		g_printerr("portmapd: unknown --log-level=%s: use error, warning, notice, info or "
			   "debug\n",
			   log_level);
		return EXIT_CONFIG;
	}
	pm_log_init(log_threshold);
	if (env != NULL) {
		pm_config_env_log_warnings(env);
		pm_config_env_import_secrets(env);
	}

	if (runtime_dir == NULL)
		runtime_dir = g_strdup(g_getenv("RUNTIME_DIRECTORY") != NULL
					   ? g_getenv("RUNTIME_DIRECTORY")
					   : DEFAULT_RUNTIME_DIR);
	if (health)
		return health_check(runtime_dir);
	/* with --config-from-env, a file only when asked for */
	if (config_path == NULL && env == NULL)
		config_path = g_strdup(DEFAULT_CONFIG);
	if (state_dir == NULL)
		state_dir = g_strdup(g_getenv("STATE_DIRECTORY") != NULL ? g_getenv("STATE_DIRECTORY")
									  : DEFAULT_STATE_DIR);

	/* nothing starts half-configured: a bad file is exit status 2 */
	config = load_config(env, config_path, &error);
	if (config == NULL) {
		g_printerr("portmapd: %s\n", error->message);
		pm_secret_clear_imported_credentials();
		return EXIT_CONFIG;
	}
	if (print_config) {
		g_autofree char *text = pm_config_to_data(config);
		/* imported credentials say where they came from and how to pass them otherwise */
		if (env != NULL) {
			g_autofree char *annotated = pm_config_env_annotate(env, text);
			g_print("%s", annotated);
		} else {
			g_print("%s", text);
		}
		pm_secret_clear_imported_credentials();
		return EXIT_SUCCESS;
	}

	d.loop = g_main_loop_new(NULL, FALSE);
	d.scheduler = pm_scheduler_new();
	/* the --no-bus leniency about secret files (containers) is the context's policy */
	d.context = pm_context_new(d.scheduler,
				   no_bus ? PM_SECRET_POLICY_LENIENT : PM_SECRET_POLICY_STRICT);
	/* default port files go next to status.json */
	pm_context_set_runtime_dir(d.context, runtime_dir);
	d.manager = pm_manager_new(d.context, state_dir);
	d.config_path = config_path;
	d.env = env;
	d.runtime_dir = runtime_dir;
	d.no_bus = no_bus;
	d.notify = g_getenv("NOTIFY_SOCKET") != NULL;
	pm_timer_init(&d.status_timer, status_timer_cb, &d);
	/* subsystems that are not there yet answer plainly; before the bus service, which
	 * serves their Manager properties */
	if (stun_enabled(config)) {
		d.stun = pm_stun_service_new(d.manager, d.context, config->stun, 0);
		pm_stun_service_set_reporting(d.stun, config->control_plane, config->wireguard);
		d.stun_extension_id = pm_stun_service_get_extension_id(d.stun);
	} else {
		d.stun_extension_id =
		    pm_manager_add_extension(d.manager, &pm_stun_unconfigured_extension, NULL);
	}
	if (config->gateway != NULL)
		d.gateway = pm_gateway_new(d.manager, d.context, config->gateway);
	else
		pm_manager_add_extension(d.manager, &pm_gateway_unconfigured_extension, NULL);

	if (!no_bus) {
		d.bus = pm_bus_service_new(d.manager, reload_config, &d, bus_lost_cb, &d, &error);
		if (d.bus == NULL) {
			g_printerr("portmapd: %s\n", error->message);
			daemon_clear(&d);
			pm_secret_clear_imported_credentials();
			return EXIT_FAILURE;
		}
		/* Type=dbus: ready once clients can reach us by name */
		pm_bus_service_set_name_acquired_func(d.bus, name_acquired_cb, &d);
	}
	/* before anything can see us running (status.json, READY=1): a SIGTERM sent as soon
	 * as status.json exists must stop us cleanly, not kill us; the sources dispatch only
	 * once the loop runs */
	g_unix_signal_add(SIGTERM, sigterm_cb, &d);
	g_unix_signal_add(SIGINT, sigterm_cb, &d);
	g_unix_signal_add(SIGHUP, sighup_cb, &d);
	d.listener_id = pm_manager_add_listener(d.manager, &status_listener, &d);
	if (!pm_manager_start(d.manager, g_steal_pointer(&config), &error)) {
		g_printerr("portmapd: %s\n", error->message);
		daemon_clear(&d);
		pm_secret_clear_imported_credentials();
		return EXIT_CONFIG;
	}
	if (d.gateway != NULL && !pm_gateway_start(d.gateway, &error)) {
		g_printerr("portmapd: [Gateway]: %s\n", error->message);
		daemon_clear(&d);
		pm_secret_clear_imported_credentials();
		return EXIT_FAILURE;
	}
	if (no_bus) {
		d.started = TRUE;
		if (d.stun != NULL)
			pm_stun_service_start(d.stun);
		status_write(&d);
		notify_ready(&d);
	}
	watchdog_start(&d);

	g_main_loop_run(d.loop);
	if (d.watchdog_id != 0)
		g_source_remove(d.watchdog_id);

	if (no_bus)
		status_write(&d);
	if (d.bus != NULL)
		pm_bus_service_flush(d.bus);
	if (!pm_manager_flush_state(d.manager, &error))
		g_warning("failed to write the state file: %s", error->message);
	daemon_clear(&d);
	pm_secret_clear_imported_credentials();
	return d.exit_code;
}
