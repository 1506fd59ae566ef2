/* SPDX-License-Identifier: GPL-2.0-or-later */

#include <gio/gio.h>
#include <net/if.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "consumer.h"
#include "default-route.h"
#include "exec.h"
#include "hook-event.h"
#include "secrets.h"

/*
 * Type=exec (design §6, §7): a command for each event of a mapping that lists it, run
 * without a shell as portmapd's user in its sandbox. Exec= gets the event (up, change,
 * down) as its last argument; ExecUp= runs on up and change, ExecDown= on down, with
 * nothing appended. The ports are in PORTMAP_* variables and in gluetun's templates
 * {{PORTS}}, {{PORT}} and {{VPN_INTERFACE}}, expanded in each argument.
 *
 * Per mapping, one hook at a time and events in order, coalesced as webhook.c does
 * (pm_hook_event_merge()); each consumer runs on its own, so a hanging hook holds up only
 * its own mapping's next event, until TimeoutSec= kills its process group. Nothing is
 * retried: a hook that fails is failed until the next event.
 *
 * A running hook holds a reference on the consumer: when a reload removes the consumer or
 * the daemon stops, the hook runs to its end and what was waiting (the "down" that the
 * removal caused) still runs after it, without reporting to anyone. portmapd does not wait
 * for hooks when it exits: systemd ends what is left of the service's processes then.
 */

typedef struct {
	PmConsumerConfig parent;
	char *exec; /* as written, for --print-config */
	char *exec_up;
	char *exec_down;
	char **exec_argv; /* split */
	char **exec_up_argv;
	char **exec_down_argv;
	guint64 timeout_usec;
} PmExecConfig;

typedef struct _PmExec PmExec;

/* one mapping's hooks: an entry exists while a hook runs or an event waits */
typedef struct {
	PmExec *owner;
	guint64 mapping_id;
	PmHookEvent *running;
	PmHookEvent *waiting;
	GSubprocess *process;
	GPid pgid;
	guint n_open; /* of the wait and the two readers */
	char *last_stderr_line;
	PmTimer timeout_timer;
	gboolean timed_out;
} PmExecEntry;

struct _PmExec {
	PmConsumer parent;
	GHashTable *entries; /* mapping id → PmExecEntry */
};

static void pm_exec_start(PmExecEntry *entry);

static void
pm_exec_entry_free(PmExecEntry *entry)
{
	pm_scheduler_disarm(entry->owner->parent.scheduler, &entry->timeout_timer);
	/* a running hook holds a reference: finalize never sees one */
	g_warn_if_fail(entry->process == NULL);
	pm_hook_event_free(entry->running);
	pm_hook_event_free(entry->waiting);
	g_free(entry->last_stderr_line);
	g_free(entry);
}

static void
pm_exec_timeout_cb(PmTimer *timer, gpointer user_data)
{
	PmExecEntry *entry = user_data;

	entry->timed_out = TRUE;
	/* the hook's whole process group: what it started would otherwise hold its output
	 * open, and linger */
	if (entry->pgid > 0)
		(void)kill(-entry->pgid, SIGKILL);
}

static char *
pm_exec_describe_status(PmExecEntry *entry)
{
	PmExecConfig *config = (PmExecConfig *)entry->owner->parent.config;
	GSubprocess *process = entry->process;
	g_autofree char *what = NULL;

	if (entry->timed_out)
		return g_strdup_printf("timed out after %" G_GUINT64_FORMAT " s, killed",
				       config->timeout_usec / G_USEC_PER_SEC);
	if (g_subprocess_get_if_signaled(process)) {
		int sig = g_subprocess_get_term_sig(process);
		what = g_strdup_printf("killed by signal %d (%s)", sig, g_strsignal(sig));
	} else if (g_subprocess_get_exit_status(process) != 0) {
		what = g_strdup_printf("exited with status %d",
				       g_subprocess_get_exit_status(process));
	} else {
		return NULL;
	}
	if (entry->last_stderr_line != NULL)
		return g_strdup_printf("%s: %s", what, entry->last_stderr_line);
	return g_steal_pointer(&what);
}

/* the hook exited and its output is read to the end */
static void
pm_exec_finish(PmExecEntry *entry)
{
	PmExec *self = entry->owner;
	g_autofree char *message = pm_exec_describe_status(entry);
	guint64 mapping_id = entry->mapping_id;

	pm_scheduler_disarm(self->parent.scheduler, &entry->timeout_timer);
	if (message != NULL)
		g_warning("%s: %s hook for %s %s", self->parent.name,
			  pm_hook_event_type_to_string(entry->running->type),
			  entry->running->mapping, message);
	g_clear_object(&entry->process);
	g_clear_pointer(&entry->running, pm_hook_event_free);
	g_clear_pointer(&entry->last_stderr_line, g_free);
	entry->pgid = 0;
	entry->timed_out = FALSE;
	/* a newer event waiting runs now; its outcome replaces this one's */
	if (entry->waiting == NULL)
		pm_consumer_report(&self->parent, mapping_id,
				   message != NULL ? PM_CONSUMER_STATE_FAILED
						   : PM_CONSUMER_STATE_OK,
				   message);
	pm_exec_start(entry);
	/* the hook's reference: may finalize a consumer that a reload removed */
	pm_consumer_unref(&self->parent);
}

static void
pm_exec_close_one(PmExecEntry *entry)
{
	g_assert(entry->n_open > 0);
	if (--entry->n_open == 0)
		pm_exec_finish(entry);
}

static void
pm_exec_wait_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
	(void)g_subprocess_wait_finish(G_SUBPROCESS(source), result, NULL);
	pm_exec_close_one(user_data);
}

typedef struct {
	PmExecEntry *entry;
	gboolean is_stderr;
} PmExecReader;

static void
pm_exec_read_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
	PmExecReader *reader = user_data;
	PmExecEntry *entry = reader->entry;
	GDataInputStream *stream = G_DATA_INPUT_STREAM(source);
	g_autofree char *raw = g_data_input_stream_read_line_finish(stream, result, NULL, NULL);
	g_autofree char *line = NULL;

	if (raw == NULL) {
		/* the end (or a read error: the same for the log) */
		g_object_unref(stream);
		g_free(reader);
		pm_exec_close_one(entry);
		return;
	}
	/* read to the end whatever it is, or a hook writing binary would block on a full
	 * pipe; the journal gets valid text */
	line = g_utf8_make_valid(raw, -1);
	g_strchomp(line);
	g_message("%s: %s", entry->owner->parent.name, line);
	if (reader->is_stderr && line[0] != '\0') {
		g_free(entry->last_stderr_line);
		entry->last_stderr_line = g_steal_pointer(&line);
	}
	g_data_input_stream_read_line_async(stream, G_PRIORITY_DEFAULT, NULL, pm_exec_read_cb,
					     reader);
}

static void
pm_exec_read_lines(PmExecEntry *entry, GInputStream *pipe, gboolean is_stderr)
{
	PmExecReader *reader = g_new0(PmExecReader, 1);
	GDataInputStream *stream = g_data_input_stream_new(pipe);

	reader->entry = entry;
	reader->is_stderr = is_stderr;
	entry->n_open++;
	g_data_input_stream_read_line_async(stream, G_PRIORITY_DEFAULT, NULL, pm_exec_read_cb,
					    reader);
}

/* the interface of the route toward the provider's peer (the VPN's), "" if unknown */
static void
pm_exec_interface(guint32 peer, char ifname[IF_NAMESIZE])
{
	PmDefaultRoute route = {0};
	g_autoptr(GError) error = NULL;

	ifname[0] = '\0';
	if (peer == 0)
		return;
	/* a local round trip to the kernel, as default-route.c explains */
	if (!pm_route_query(peer, getuid(), &route, &error)) {
		g_debug("no route toward the provider's peer: %s", error->message);
		return;
	}
	if (route.ifindex == 0 || if_indextoname(route.ifindex, ifname) == NULL)
		ifname[0] = '\0';
}

static char **
pm_exec_environment(const PmHookEvent *event, const char *ports, const char *ifname)
{
	g_auto(GStrv) inherited = g_get_environ();
	g_autoptr(GStrvBuilder) builder = g_strv_builder_new();
	guint16 internal_port;
	guint16 external_port = pm_hook_event_port(event, &internal_port);
	g_autofree char *first = g_strdup(ports);
	char *comma = strchr(first, ',');
	g_autofree char *internal = g_strdup_printf("%u", internal_port);
	g_autofree char *external = g_strdup_printf("%u", external_port);
	g_autofree char *old = event->type == PM_HOOK_EVENT_CHANGE && event->old_port != 0
				       ? g_strdup_printf("%u", event->old_port)
				       : g_strdup("");
	g_autofree char *tcp = g_strdup("");
	g_autofree char *udp = g_strdup("");
	char **env;

	if (comma != NULL)
		*comma = '\0';
	/* each protocol's own, for hooks that open them (a TCP-only mapping has no UDP port) */
	for (guint i = 0; i < event->ports.n_ports; i++) {
		const PmPortPair *pair = &event->ports.ports[i];
		char **out = pair->protocol == PM_PROTOCOL_TCP ? &tcp : &udp;
		if (pair->external_port == 0)
			continue;
		g_free(*out);
		*out = g_strdup_printf("%u", pair->external_port);
	}
	for (guint i = 0; inherited[i] != NULL; i++) {
		g_autofree char *name = g_strndup(inherited[i], strcspn(inherited[i], "="));
		/* the replaced tools' secrets, whatever started portmapd; and ours, set below */
		if (pm_secret_is_environment_variable(name) || g_str_has_prefix(name, "PORTMAP_"))
			continue;
		g_strv_builder_add(builder, inherited[i]);
	}
	env = g_strv_builder_end(builder);
	env = g_environ_setenv(env, "PORTMAP_EVENT", pm_hook_event_type_to_string(event->type),
			       TRUE);
	env = g_environ_setenv(env, "PORTMAP_MAPPING", event->mapping, TRUE);
	env = g_environ_setenv(env, "PORTMAP_PROVIDER", event->provider, TRUE);
	env = g_environ_setenv(env, "PORTMAP_INTERNAL_PORT", internal, TRUE);
	env = g_environ_setenv(env, "PORTMAP_EXTERNAL_PORT", external, TRUE);
	env = g_environ_setenv(env, "PORTMAP_OLD_PORT", old, TRUE);
	env = g_environ_setenv(env, "PORTMAP_PORTS", ports, TRUE);
	env = g_environ_setenv(env, "PORTMAP_TCP_PORT", tcp, TRUE);
	env = g_environ_setenv(env, "PORTMAP_UDP_PORT", udp, TRUE);
	env = g_environ_setenv(env, "PORTMAP_PORT", first, TRUE);
	env = g_environ_setenv(env, "PORTMAP_EXTERNAL_ADDRESS", event->external_address, TRUE);
	env = g_environ_setenv(env, "PORTMAP_INTERFACE", ifname, TRUE);
	return env;
}

/* gluetun's templates in each argument, and Exec='s event */
static char **
pm_exec_argv(char **template, const PmHookEvent *event, gboolean append_event,
	     const char *ports, const char *ifname)
{
	g_autoptr(GStrvBuilder) builder = g_strv_builder_new();
	g_autofree char *first = g_strdup(ports);
	char *comma = strchr(first, ',');

	if (comma != NULL)
		*comma = '\0';
	for (guint i = 0; template[i] != NULL; i++) {
		g_autoptr(GString) arg = g_string_new(template[i]);
		g_string_replace(arg, "{{PORTS}}", ports, 0);
		g_string_replace(arg, "{{PORT}}", first, 0);
		g_string_replace(arg, "{{VPN_INTERFACE}}", ifname, 0);
		g_strv_builder_add(builder, arg->str);
	}
	if (append_event)
		g_strv_builder_add(builder, pm_hook_event_type_to_string(event->type));
	return g_strv_builder_end(builder);
}

static void
pm_exec_child_setup(gpointer user_data)
{
	/* its own process group, which a timeout kills whole */
	(void)setpgid(0, 0);
}

/* runs the waiting event's hook, if any */
static void
pm_exec_start(PmExecEntry *entry)
{
	PmExec *self = entry->owner;
	PmExecConfig *config = (PmExecConfig *)self->parent.config;
	PmScheduler *scheduler = self->parent.scheduler;
	g_autoptr(GSubprocessLauncher) launcher = NULL;
	g_autoptr(GError) error = NULL;
	g_auto(GStrv) argv = NULL;
	g_auto(GStrv) env = NULL;
	g_autofree char *ports = NULL;
	char ifname[IF_NAMESIZE];
	const char *identifier;
	char **template;
	PmHookEvent *event;

	g_return_if_fail(entry->process == NULL && entry->running == NULL);
	if (entry->waiting == NULL) {
		g_hash_table_remove(self->entries, &entry->mapping_id);
		return;
	}
	event = entry->running = g_steal_pointer(&entry->waiting);
	if (config->exec_argv != NULL)
		template = config->exec_argv;
	else if (event->type == PM_HOOK_EVENT_DOWN)
		template = config->exec_down_argv;
	else
		template = config->exec_up_argv;
	if (template == NULL) {
		/* ExecUp= or ExecDown= alone: nothing to run for this event */
		pm_consumer_report(&self->parent, entry->mapping_id, PM_CONSUMER_STATE_OK, NULL);
		g_clear_pointer(&entry->running, pm_hook_event_free);
		g_hash_table_remove(self->entries, &entry->mapping_id);
		return;
	}

	ports = pm_hook_event_ports_string(event);
	pm_exec_interface(event->provider_peer, ifname);
	argv = pm_exec_argv(template, event, config->exec_argv != NULL, ports, ifname);
	env = pm_exec_environment(event, ports, ifname);
	launcher = g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDOUT_PIPE |
					     G_SUBPROCESS_FLAGS_STDERR_PIPE);
	g_subprocess_launcher_set_environ(launcher, env);
	g_subprocess_launcher_set_child_setup(launcher, pm_exec_child_setup, NULL, NULL);
	g_debug("%s: running %s for %s %s", self->parent.name, argv[0],
		pm_hook_event_type_to_string(event->type), event->mapping);
	entry->process = g_subprocess_launcher_spawnv(launcher, (const char *const *)argv, &error);
	if (entry->process == NULL) {
		g_autofree char *message = g_strdup_printf("cannot run %s: %s", argv[0],
							   error->message);
		g_warning("%s: %s", self->parent.name, message);
		g_clear_pointer(&entry->running, pm_hook_event_free);
		pm_consumer_report(&self->parent, entry->mapping_id, PM_CONSUMER_STATE_FAILED,
				   message);
		/* a newer event may have come meanwhile: it cannot, as this is synchronous */
		g_hash_table_remove(self->entries, &entry->mapping_id);
		return;
	}
	/* GLib's worker thread may have reaped a quick hook already: then there is no process
	 * (group) left to kill at the timeout, and its wait is about to finish */
	identifier = g_subprocess_get_identifier(entry->process);
	entry->pgid = identifier != NULL ? (GPid)atoi(identifier) : 0;
	pm_consumer_ref(&self->parent);
	entry->n_open = 1;
	g_subprocess_wait_async(entry->process, NULL, pm_exec_wait_cb, entry);
	pm_exec_read_lines(entry, g_subprocess_get_stdout_pipe(entry->process), FALSE);
	pm_exec_read_lines(entry, g_subprocess_get_stderr_pipe(entry->process), TRUE);
	pm_scheduler_arm(scheduler, &entry->timeout_timer,
			 pm_scheduler_now(scheduler) + config->timeout_usec);
}

static void
pm_exec_push(PmExec *self, PmHookEvent *event)
{
	PmExecEntry *entry = g_hash_table_lookup(self->entries, &event->mapping_id);
	gboolean idle;

	if (entry == NULL) {
		entry = g_new0(PmExecEntry, 1);
		entry->owner = self;
		entry->mapping_id = event->mapping_id;
		pm_timer_init(&entry->timeout_timer, pm_exec_timeout_cb, entry);
		g_hash_table_insert(self->entries, &entry->mapping_id, entry);
	}
	idle = entry->process == NULL;
	entry->waiting = pm_hook_event_merge(entry->waiting, event);
	pm_consumer_report(&self->parent, entry->mapping_id, PM_CONSUMER_STATE_PENDING, NULL);
	if (idle)
		pm_exec_start(entry);
}

static guint64
pm_exec_now_realtime(PmExec *self)
{
	PmScheduler *scheduler = self->parent.scheduler;
	return pm_scheduler_to_realtime(scheduler, pm_scheduler_now(scheduler));
}

static void
pm_exec_mapping_up(PmConsumer *consumer,
		   const PmMappingView *mapping,
		   const PmMappingPorts *ports,
		   PmConsumerPush push)
{
	PmExec *self = (PmExec *)consumer;
	/* a reconcile push runs the hook again: hooks must be idempotent (the firewall
	 * example is), and this puts back what someone else removed */
	pm_exec_push(self, pm_hook_event_new(PM_HOOK_EVENT_UP, mapping, ports, NULL,
					     pm_exec_now_realtime(self)));
}

static void
pm_exec_mapping_changed(PmConsumer *consumer,
			const PmMappingView *mapping,
			const PmMappingPorts *ports,
			const PmMappingPorts *previous)
{
	PmExec *self = (PmExec *)consumer;
	pm_exec_push(self, pm_hook_event_new(PM_HOOK_EVENT_CHANGE, mapping, ports, previous,
					     pm_exec_now_realtime(self)));
}

static void
pm_exec_mapping_down(PmConsumer *consumer,
		     const PmMappingView *mapping,
		     const PmMappingPorts *ports)
{
	PmExec *self = (PmExec *)consumer;
	pm_exec_push(self, pm_hook_event_new(PM_HOOK_EVENT_DOWN, mapping, ports, NULL,
					     pm_exec_now_realtime(self)));
}

static gboolean
pm_exec_init(PmConsumer *consumer, GError **error)
{
	PmExec *self = (PmExec *)consumer;
	self->entries = g_hash_table_new_full(g_int64_hash, g_int64_equal, NULL,
					      (GDestroyNotify)pm_exec_entry_free);
	return TRUE;
}

static void
pm_exec_finalize(PmConsumer *consumer)
{
	PmExec *self = (PmExec *)consumer;
	g_hash_table_unref(self->entries);
}

static void
pm_exec_describe_command(PmJsonWriter *writer, const char *name, char **argv)
{
	if (argv == NULL)
		return;
	pm_json_member(writer, name);
	pm_json_begin_array(writer);
	for (guint i = 0; argv[i] != NULL; i++)
		pm_json_string(writer, argv[i]);
	pm_json_end_array(writer);
}

static void
pm_exec_describe(PmConsumer *consumer, PmJsonWriter *writer)
{
	PmExecConfig *config = (PmExecConfig *)consumer->config;
	pm_exec_describe_command(writer, "Exec", config->exec_argv);
	pm_exec_describe_command(writer, "ExecUp", config->exec_up_argv);
	pm_exec_describe_command(writer, "ExecDown", config->exec_down_argv);
	pm_json_member_uint(writer, "TimeoutUSec", config->timeout_usec);
}

/* configuration */

static const PmConfigKey pm_exec_keys[] = {
    {"Exec", pm_config_parse_string, G_STRUCT_OFFSET(PmExecConfig, exec)},
    {"ExecUp", pm_config_parse_string, G_STRUCT_OFFSET(PmExecConfig, exec_up)},
    {"ExecDown", pm_config_parse_string, G_STRUCT_OFFSET(PmExecConfig, exec_down)},
    {"TimeoutSec", pm_config_parse_timeout, G_STRUCT_OFFSET(PmExecConfig, timeout_usec)},
    {NULL},
};

/* @value split as sh(1) splits words, without a shell */
static gboolean
pm_exec_split(PmConfigSection *section, const char *key, const char *value, char ***argv,
	      GError **error)
{
	g_autoptr(GError) local_error = NULL;
	g_autofree char *what = NULL;

	if (value == NULL)
		return TRUE;
	if (g_shell_parse_argv(value, NULL, argv, &local_error))
		return TRUE;
	what = g_strdup_printf("not a command (%s)", local_error->message);
	pm_config_section_set_error(section, pm_config_section_lookup(section, key), what,
				    "a program and its arguments, split as sh(1) splits words "
				    "(no shell runs it)",
				    error);
	return FALSE;
}

static gboolean
pm_exec_config_verify(PmConsumerConfig *consumer, PmConfigSection *section, GError **error)
{
	PmExecConfig *config = (PmExecConfig *)consumer;

	if (config->exec != NULL && (config->exec_up != NULL || config->exec_down != NULL)) {
		const char *key = config->exec_up != NULL ? "ExecUp" : "ExecDown";
		pm_config_section_set_error(section, pm_config_section_lookup(section, key),
					    "Exec= is set as well: Exec= runs for every event",
					    "either Exec=, or ExecUp= and/or ExecDown=", error);
		return FALSE;
	}
	if (config->exec == NULL && config->exec_up == NULL && config->exec_down == NULL) {
		pm_config_section_set_missing_error(section, "Exec",
						    "set Exec= (the event is its last argument), "
						    "or ExecUp= and/or ExecDown=",
						    error);
		return FALSE;
	}
	if (!pm_exec_split(section, "Exec", config->exec, &config->exec_argv, error) ||
	    !pm_exec_split(section, "ExecUp", config->exec_up, &config->exec_up_argv, error) ||
	    !pm_exec_split(section, "ExecDown", config->exec_down, &config->exec_down_argv, error))
		return FALSE;
	if (config->timeout_usec == 0)
		config->timeout_usec = (guint64)30 * G_USEC_PER_SEC;
	return TRUE;
}

static gboolean
pm_exec_config_equal(const PmConsumerConfig *a, const PmConsumerConfig *b)
{
	const PmExecConfig *ea = (const PmExecConfig *)a;
	const PmExecConfig *eb = (const PmExecConfig *)b;
	return g_strcmp0(ea->exec, eb->exec) == 0 && g_strcmp0(ea->exec_up, eb->exec_up) == 0 &&
	       g_strcmp0(ea->exec_down, eb->exec_down) == 0 &&
	       ea->timeout_usec == eb->timeout_usec;
}

static void
pm_exec_config_print(const PmConsumerConfig *consumer, GString *out)
{
	const PmExecConfig *config = (const PmExecConfig *)consumer;
	g_autofree char *timeout = pm_duration_to_string(config->timeout_usec);

	if (config->exec != NULL)
		pm_config_print_string(out, "Exec", config->exec);
	if (config->exec_up != NULL)
		pm_config_print_string(out, "ExecUp", config->exec_up);
	if (config->exec_down != NULL)
		pm_config_print_string(out, "ExecDown", config->exec_down);
	g_string_append_printf(out, "TimeoutSec=%s\n", timeout);
}

static void
pm_exec_config_free(PmConsumerConfig *consumer)
{
	PmExecConfig *config = (PmExecConfig *)consumer;
	g_free(config->exec);
	g_free(config->exec_up);
	g_free(config->exec_down);
	g_strfreev(config->exec_argv);
	g_strfreev(config->exec_up_argv);
	g_strfreev(config->exec_down_argv);
}

const PmConsumerClass pm_exec_consumer_class = {
    .type = "exec",
    .config_size = sizeof(PmExecConfig),
    .object_size = sizeof(PmExec),
    .config_keys = pm_exec_keys,
    .config_verify = pm_exec_config_verify,
    .config_equal = pm_exec_config_equal,
    .config_print = pm_exec_config_print,
    .config_free = pm_exec_config_free,
    .init = pm_exec_init,
    .finalize = pm_exec_finalize,
    .mapping_up = pm_exec_mapping_up,
    .mapping_changed = pm_exec_mapping_changed,
    .mapping_down = pm_exec_mapping_down,
    .describe = pm_exec_describe,
};
