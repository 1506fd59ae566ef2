/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The portmapctl verbs that follow the bus rather than ask it once: "add" (waits for the grant,
 * and with a COMMAND keeps the mapping while it runs) and "monitor". Both run an sd-event loop.
 */

#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib/gi18n.h>

#include "portmapctl.h"

#define MATCH_MAPPING_PROPERTIES \
	"type='signal',sender='" BUS_NAME "',interface='" PROPERTIES_IFACE "'," \
	"member='PropertiesChanged',path_namespace='" MAPPING_PREFIX "'"
#define MATCH_OWNER_CHANGED \
	"type='signal',sender='org.freedesktop.DBus',path='/org/freedesktop/DBus'," \
	"interface='org.freedesktop.DBus',member='NameOwnerChanged',arg0='" BUS_NAME "'"

/* ---- Mapping properties ---- */

enum {
	PROP_NAME             = 1 << 0,
	PROP_STATE            = 1 << 1,
	PROP_LAST_ERROR       = 1 << 2,
	PROP_EXTERNAL_ADDRESS = 1 << 3,
	PROP_INTERNAL_PORT    = 1 << 4,
	PROP_EXTERNAL_PORT    = 1 << 5,
};

/* the Mapping properties portmapctl follows; "present" says which a message carried */
typedef struct {
	guint present;
	char *name;
	char *state;
	char *last_error;
	char *external_address;
	guint16 internal_port;
	guint16 external_port;
} MappingProps;

static void mapping_props_clear(MappingProps *p)
{
	g_clear_pointer(&p->name, g_free);
	g_clear_pointer(&p->state, g_free);
	g_clear_pointer(&p->last_error, g_free);
	g_clear_pointer(&p->external_address, g_free);
	p->present = 0;
	p->internal_port = p->external_port = 0;
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(MappingProps, mapping_props_clear)

/* Reads an a{sv} of Mapping properties into p, replacing the values it carries. */
static int read_mapping_props(sd_bus_message *m, MappingProps *p)
{
	int r;

	r = sd_bus_message_enter_container(m, 'a', "{sv}");
	if (r < 0)
		return r;
	while ((r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
		const char *key;
		guint bit = 0;

		r = sd_bus_message_read(m, "s", &key);
		if (r < 0)
			return r;
		if (g_str_equal(key, "Name")) {
			r = read_variant_string(m, &p->name);
			bit = PROP_NAME;
		} else if (g_str_equal(key, "State")) {
			r = read_variant_string(m, &p->state);
			bit = PROP_STATE;
		} else if (g_str_equal(key, "LastError")) {
			r = read_variant_string(m, &p->last_error);
			bit = PROP_LAST_ERROR;
		} else if (g_str_equal(key, "ExternalAddress")) {
			r = read_variant_string(m, &p->external_address);
			bit = PROP_EXTERNAL_ADDRESS;
		} else if (g_str_equal(key, "InternalPort")) {
			r = sd_bus_message_read(m, "v", "q", &p->internal_port);
			bit = PROP_INTERNAL_PORT;
		} else if (g_str_equal(key, "ExternalPort")) {
			r = sd_bus_message_read(m, "v", "q", &p->external_port);
			bit = PROP_EXTERNAL_PORT;
		} else
			r = sd_bus_message_skip(m, "v");
		if (r < 0)
			return r;
		p->present |= bit;

		r = sd_bus_message_exit_container(m);
		if (r < 0)
			return r;
	}
	if (r < 0)
		return r;
	return sd_bus_message_exit_container(m);
}

/* A PropertiesChanged message for org.portmap.Mapping; returns 0 for other interfaces. */
static int read_mapping_props_changed(sd_bus_message *m, MappingProps *p)
{
	const char *interface;
	int r;

	r = sd_bus_message_read(m, "s", &interface);
	if (r < 0)
		return r;
	if (!g_str_equal(interface, MAPPING_IFACE))
		return 0;
	r = read_mapping_props(m, p);
	return r < 0 ? r : 1;
}

/* ---- add ---- */

typedef struct {
	sd_bus *bus;
	sd_event *event;
	const char *const *protocols;
	guint16 internal_port;
	guint16 suggested_port;         /* external port asked for by the next AddMapping */
	char *owner;                    /* unique name of the portmapd holding our mapping */
	char *path;                     /* our mapping; NULL while there is none */
	MappingProps props;
	gboolean have_props;            /* GetAll answered for this path */
	sd_bus_slot *add_slot;
	sd_bus_slot *get_slot;
	sd_bus_slot *props_slot;
	sd_event_source *timeout_source;
	sigset_t saved_mask;
	sd_event_source *signal_sources[3];   /* SIGINT, SIGTERM, SIGHUP */
	pid_t child;
	sd_event_source *child_source;
	guint16 command_port;           /* the external port COMMAND was started with */
	guint16 last_port;              /* the external port granted last */
	gboolean readding;              /* added again after a restart of portmapd */
} AddContext;

static void add_context_forget_mapping(AddContext *c)
{
	c->add_slot = sd_bus_slot_unref(c->add_slot);
	c->get_slot = sd_bus_slot_unref(c->get_slot);
	c->props_slot = sd_bus_slot_unref(c->props_slot);
	g_clear_pointer(&c->path, g_free);
	mapping_props_clear(&c->props);
	c->have_props = FALSE;
}

static void add_context_clear(AddContext *c)
{
	add_context_forget_mapping(c);
	c->timeout_source = sd_event_source_unref(c->timeout_source);
	c->child_source = sd_event_source_unref(c->child_source);
	for (guint i = 0; i < G_N_ELEMENTS(c->signal_sources); i++)
		c->signal_sources[i] = sd_event_source_unref(c->signal_sources[i]);
	g_clear_pointer(&c->owner, g_free);
}

static const char *add_context_name(const AddContext *c)
{
	if (!is_empty(c->props.name))
		return c->props.name;
	if (arg_name)
		return arg_name;
	return c->path ? c->path : "?";
}

static int new_add_mapping_message(AddContext *c, sd_bus_message **ret)
{
	g_autoptr(sd_bus_message) m = NULL;
	const char *scope = arg_command ? "client" : arg_persist ? "persistent" : "runtime";
	int r;

	r = sd_bus_message_new_method_call(c->bus, &m, BUS_NAME, MANAGER_PATH, MANAGER_IFACE,
					   "AddMapping");
	if (r < 0)
		return r;
	r = sd_bus_message_append(m, "s", arg_provider ? arg_provider : "");
	if (r < 0)
		return r;
	r = sd_bus_message_append_strv(m, (char **) c->protocols);
	if (r < 0)
		return r;
	r = sd_bus_message_append(m, "qqu", c->internal_port, c->suggested_port, arg_lifetime);
	if (r < 0)
		return r;

	r = sd_bus_message_open_container(m, 'a', "{sv}");
	if (r < 0)
		return r;
	r = sd_bus_message_append(m, "{sv}", "scope", "s", scope);
	if (r >= 0 && arg_name)
		r = sd_bus_message_append(m, "{sv}", "name", "s", arg_name);
	if (r >= 0 && arg_description)
		r = sd_bus_message_append(m, "{sv}", "description", "s", arg_description);
	if (r >= 0 && arg_require_external_port)
		r = sd_bus_message_append(m, "{sv}", "require-external-port", "b", 1);
	if (r < 0)
		return r;
	r = sd_bus_message_close_container(m);
	if (r < 0)
		return r;

	*ret = g_steal_pointer(&m);
	return 0;
}

static void add_print_result(const AddContext *c)
{
	if (arg_json != JSON_OFF) {
		g_autoptr(JsonBuilder) b = json_builder_new();

		json_builder_begin_object(b);
		json_builder_set_member_name(b, "Path");
		json_builder_add_string_value(b, c->path);
		if (c->have_props) {
			json_builder_set_member_name(b, "Name");
			json_builder_add_string_value(b, c->props.name ? c->props.name : "");
			json_builder_set_member_name(b, "State");
			json_builder_add_string_value(b, c->props.state ? c->props.state : "");
			json_builder_set_member_name(b, "InternalPort");
			json_builder_add_int_value(b, c->props.internal_port);
			json_builder_set_member_name(b, "ExternalPort");
			json_builder_add_int_value(b, c->props.external_port);
			json_builder_set_member_name(b, "ExternalAddress");
			json_builder_add_string_value(b, c->props.external_address
							     ? c->props.external_address : "");
		}
		json_builder_end_object(b);
		print_json_builder(b);
	} else if (c->have_props)
		printf("%u\n", c->props.external_port);
	else
		printf("%s\n", c->path);
	fflush(stdout);
}

static int on_child_exit(sd_event_source *s, const siginfo_t *si, void *userdata)
{
	AddContext *c = userdata;

	c->child = 0;
	/* like a shell and systemd-inhibit: 128+N when COMMAND was killed by signal N */
	(void) sd_event_exit(c->event, si->si_code == CLD_EXITED ? si->si_status
								 : 128 + si->si_status);
	return 0;
}

static int add_spawn_command(AddContext *c)
{
	g_auto(GStrv) env = g_get_environ();
	char buf[16];
	pid_t pid;
	int r;

	g_snprintf(buf, sizeof(buf), "%u",
		   c->props.internal_port ? c->props.internal_port : c->internal_port);
	env = g_environ_setenv(env, "PORTMAP_INTERNAL_PORT", buf, TRUE);
	g_snprintf(buf, sizeof(buf), "%u", c->props.external_port);
	env = g_environ_setenv(env, "PORTMAP_EXTERNAL_PORT", buf, TRUE);
	env = g_environ_setenv(env, "PORTMAP_EXTERNAL_ADDRESS",
			       c->props.external_address ? c->props.external_address : "", TRUE);

	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0) {
		r = -errno;
		fprintf(stderr, _("Failed to fork: %s\n"), g_strerror(errno));
		return r;
	}
	if (pid == 0) {
		int saved_errno;

		/* signals were blocked for sd-event's signalfd; COMMAND gets them normally */
		(void) sigprocmask(SIG_SETMASK, &c->saved_mask, NULL);
		execvpe(arg_command[0], arg_command, env);
		saved_errno = errno;
		fprintf(stderr, _("Failed to execute %s: %s\n"), arg_command[0],
			g_strerror(saved_errno));
		/* the shell's codes for "not found" and "not executable" */
		_exit(saved_errno == ENOENT ? 127 : 126);
	}

	c->child = pid;
	c->command_port = c->last_port = c->props.external_port;
	r = sd_event_add_child(c->event, &c->child_source, pid, WEXITED, on_child_exit, c);
	if (r < 0) {
		fprintf(stderr, _("Failed to watch the command: %s\n"), g_strerror(-r));
		(void) kill(pid, SIGTERM);
		return r;
	}
	return 0;
}

static void add_fail(AddContext *c)
{
	if (c->child > 0)
		return;
	(void) sd_event_exit(c->event, EXIT_FAILURE);
}

/* Acts on the mapping's state; changed says which properties the last update carried. */
static void add_evaluate(AddContext *c, guint changed)
{
	const char *state = c->props.state ? c->props.state : "";

	if (!c->have_props)
		return;

	if (c->child > 0) {
		/* COMMAND runs with the port it was given: all we can do is tell */
		if ((changed & PROP_STATE) && g_str_equal(state, "failed"))
			fprintf(stderr, _("Mapping %s failed: %s\n"), add_context_name(c),
				empty_to_dash(c->props.last_error));
		if (!mapping_has_port(state, c->props.external_port))
			return;
		if (c->props.external_port != c->last_port) {
			fprintf(stderr, _("The external port of mapping %s changed from %u to "
					  "%u; the command was started with %u.\n"),
				add_context_name(c), c->last_port, c->props.external_port,
				c->command_port);
			c->last_port = c->props.external_port;
		} else if (c->readding)
			fprintf(stderr, _("Mapping %s is active again on external port %u.\n"),
				add_context_name(c), c->props.external_port);
		c->readding = FALSE;
		return;
	}

	if (g_str_equal(state, "active")) {
		c->timeout_source = sd_event_source_unref(c->timeout_source);
		if (!arg_command) {
			add_print_result(c);
			(void) sd_event_exit(c->event, EXIT_SUCCESS);
			return;
		}
		if (add_spawn_command(c) < 0)
			(void) sd_event_exit(c->event, EXIT_FAILURE);
	} else if (g_str_equal(state, "failed")) {
		fprintf(stderr, _("Failed to add mapping: %s\n"),
			is_empty(c->props.last_error) ? state : c->props.last_error);
		add_fail(c);
	}
}

static int on_mapping_properties_changed(sd_bus_message *m, void *userdata,
					 sd_bus_error *ret_error)
{
	AddContext *c = userdata;
	int r;

	c->props.present = 0;
	r = read_mapping_props_changed(m, &c->props);
	if (r < 0)
		log_parse_error(r);
	if (r <= 0)
		return 0;
	/* before GetAll answers, changes are only merged: its reply is at least as recent */
	add_evaluate(c, c->props.present);
	return 0;
}

static int on_get_all_reply(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
	AddContext *c = userdata;
	int r;

	c->get_slot = sd_bus_slot_unref(c->get_slot);
	if (sd_bus_message_is_method_error(m, NULL)) {
		log_call_failed(_("Failed to read the state of the mapping"),
				sd_bus_message_get_error(m), -sd_bus_message_get_errno(m));
		add_fail(c);
		return 0;
	}
	r = read_mapping_props(m, &c->props);
	if (r < 0) {
		log_parse_error(r);
		add_fail(c);
		return 0;
	}
	c->have_props = TRUE;
	add_evaluate(c, PROP_STATE | PROP_EXTERNAL_PORT | PROP_LAST_ERROR);
	return 0;
}

static int on_add_reply(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
	AddContext *c = userdata;
	const char *path;
	int r;

	c->add_slot = sd_bus_slot_unref(c->add_slot);
	if (sd_bus_message_is_method_error(m, NULL)) {
		const char *failure = c->child > 0 ? _("Failed to add the mapping again")
						   : _("Failed to add mapping");

		log_call_failed(failure, sd_bus_message_get_error(m),
				-sd_bus_message_get_errno(m));
		add_fail(c);
		return 0;
	}
	r = sd_bus_message_read(m, "o", &path);
	if (r < 0) {
		log_parse_error(r);
		add_fail(c);
		return 0;
	}
	g_free(c->path);
	c->path = g_strdup(path);
	g_free(c->owner);
	c->owner = g_strdup(sd_bus_message_get_sender(m));

	if (!arg_command && (arg_wait_sec == 0 || arg_no_block)) {
		add_print_result(c);
		(void) sd_event_exit(c->event, EXIT_SUCCESS);
		return 0;
	}

	/* Subscribe first, then read State once: the bus installs the match before it passes
	 * GetAll on, so no change can fall between the two. */
	r = sd_bus_match_signal_async(c->bus, &c->props_slot, BUS_NAME, c->path, PROPERTIES_IFACE,
				      "PropertiesChanged", on_mapping_properties_changed, NULL,
				      c);
	if (r >= 0)
		r = sd_bus_call_method_async(c->bus, &c->get_slot, BUS_NAME, c->path,
					     PROPERTIES_IFACE, "GetAll", on_get_all_reply, c,
					     "s", MAPPING_IFACE);
	if (r < 0) {
		fprintf(stderr, _("Failed to watch the mapping: %s\n"), g_strerror(-r));
		add_fail(c);
	}
	return 0;
}

static int add_send(AddContext *c)
{
	g_autoptr(sd_bus_message) m = NULL;
	int r;

	r = new_add_mapping_message(c, &m);
	if (r < 0)
		return log_create_error(r);
	r = sd_bus_call_async(c->bus, &c->add_slot, m, on_add_reply, c, 0);
	if (r < 0) {
		fprintf(stderr, _("Failed to add mapping: %s\n"), g_strerror(-r));
		return r;
	}
	return 0;
}

static int on_name_owner_changed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
	AddContext *c = userdata;
	const char *name, *old_owner, *new_owner;
	int r;

	r = sd_bus_message_read(m, "sss", &name, &old_owner, &new_owner);
	if (r < 0 || !g_str_equal(name, BUS_NAME))
		return 0;

	if (is_empty(new_owner)) {
		if (c->path)
			fprintf(stderr, _("portmapd stopped; mapping %s will be added again "
					  "when it is back.\n"), add_context_name(c));
		add_context_forget_mapping(c);
		g_clear_pointer(&c->owner, g_free);
		return 0;
	}
	/* our first AddMapping may itself have started portmapd: its reply names the owner */
	if (g_strcmp0(c->owner, new_owner) == 0 || (!c->owner && c->add_slot))
		return 0;

	/* a new portmapd: the client mapping died with the old one; ask for the same port */
	g_free(c->owner);
	c->owner = g_strdup(new_owner);
	if (c->last_port)
		c->suggested_port = c->last_port;
	else if (c->props.external_port)
		c->suggested_port = c->props.external_port;
	add_context_forget_mapping(c);
	if (c->child > 0) {
		fprintf(stderr, _("portmapd restarted; adding the mapping again.\n"));
		c->readding = TRUE;
	}
	if (add_send(c) < 0)
		add_fail(c);
	return 0;
}

static int on_add_timeout(sd_event_source *s, uint64_t usec, void *userdata)
{
	AddContext *c = userdata;
	const char *state = c->props.state ? c->props.state : "requesting";

	if (is_empty(c->props.last_error))
		fprintf(stderr, _("Timed out after %u s waiting for mapping %s to become active; "
				  "it is %s.\n"), arg_wait_sec, add_context_name(c), state);
	else
		fprintf(stderr, _("Timed out after %u s waiting for mapping %s to become active; "
				  "it is %s: %s\n"), arg_wait_sec, add_context_name(c), state,
			c->props.last_error);
	/* a client mapping goes when we exit; a runtime one stays and may still succeed */
	if (!arg_command && c->path)
		fprintf(stderr, _("It was left in place: remove it with \"portmapctl remove %s\"."
				  "\n"), add_context_name(c));
	(void) sd_event_exit(c->event, EXIT_FAILURE);
	return 0;
}

static int on_add_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
	AddContext *c = userdata;

	if (c->child <= 0) {
		(void) sd_event_exit(c->event, 128 + (int) si->ssi_signo);
		return 0;
	}
	/* A terminal sends ^C to its whole foreground process group, COMMAND included:
	 * forwarding that too would deliver it twice. Pass on what a process sent us. */
	if (si->ssi_code != SI_KERNEL)
		(void) kill(c->child, (int) si->ssi_signo);
	return 0;
}

static const int forwarded_signals[] = { SIGINT, SIGTERM, SIGHUP };

/* With a COMMAND: forward signals, reap the child, and follow restarts of portmapd. */
static int add_watch_command(AddContext *c, sd_bus_slot **ret_owner_slot)
{
	sigset_t mask;
	int r;

	/* sd-event takes signals and the child's exit through fds: block them first */
	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	for (guint i = 0; i < G_N_ELEMENTS(forwarded_signals); i++)
		sigaddset(&mask, forwarded_signals[i]);
	if (sigprocmask(SIG_BLOCK, &mask, &c->saved_mask) < 0) {
		r = -errno;
		fprintf(stderr, _("Failed to block signals: %s\n"), g_strerror(errno));
		return r;
	}
	for (guint i = 0; i < G_N_ELEMENTS(forwarded_signals); i++) {
		r = sd_event_add_signal(c->event, &c->signal_sources[i], forwarded_signals[i],
					on_add_signal, c);
		if (r < 0) {
			fprintf(stderr, _("Failed to watch signals: %s\n"), g_strerror(-r));
			return r;
		}
	}

	/* a restarted portmapd has forgotten our client mapping */
	r = sd_bus_add_match(c->bus, ret_owner_slot, MATCH_OWNER_CHANGED, on_name_owner_changed,
			     c);
	if (r < 0) {
		fprintf(stderr, _("Failed to watch portmapd: %s\n"), g_strerror(-r));
		return r;
	}
	return 0;
}

static int add_run(AddContext *c, sd_bus_slot **ret_owner_slot)
{
	int r;

	r = sd_bus_attach_event(c->bus, c->event, SD_EVENT_PRIORITY_NORMAL);
	if (r < 0) {
		fprintf(stderr, _("Failed to attach bus to event loop: %s\n"), g_strerror(-r));
		return r;
	}
	if (arg_command) {
		r = add_watch_command(c, ret_owner_slot);
		if (r < 0)
			return r;
	}
	if (arg_command || (arg_wait_sec > 0 && !arg_no_block)) {
		r = sd_event_add_time_relative(c->event, &c->timeout_source, CLOCK_MONOTONIC,
					       arg_wait_sec * USEC_PER_SEC, 0, on_add_timeout, c);
		if (r < 0) {
			fprintf(stderr, _("Failed to arm timer: %s\n"), g_strerror(-r));
			return r;
		}
	}

	r = add_send(c);
	if (r < 0)
		return r;
	r = sd_event_loop(c->event);
	if (r < 0)
		fprintf(stderr, _("Event loop failed: %s\n"), g_strerror(-r));
	return r;
}

int verb_add(int argc, char *argv[])
{
	g_autoptr(sd_event) event = NULL;
	g_autoptr(sd_bus_slot) owner_slot = NULL;
	AddContext c = { 0 };
	sd_bus *bus;
	int r;

	c.protocols = parse_protocol(argv[1]);
	if (!c.protocols) {
		fprintf(stderr, _("Invalid protocol \"%s\": expected tcp, udp or both.\n"),
			argv[1]);
		return EXIT_USAGE;
	}
	if (!parse_port(argv[2], 1, &c.internal_port)) {
		fprintf(stderr, _("Invalid port \"%s\": expected 1-65535.\n"), argv[2]);
		return EXIT_USAGE;
	}
	c.suggested_port = arg_external_port;

	r = acquire_bus(&bus);
	if (r < 0)
		return r;
	r = sd_event_default(&event);
	if (r < 0) {
		fprintf(stderr, _("Failed to allocate event loop: %s\n"), g_strerror(-r));
		return r;
	}
	c.bus = bus;
	c.event = event;

	r = add_run(&c, &owner_slot);

	/* only after a failure of the loop itself: do not leave COMMAND behind */
	if (c.child > 0)
		(void) kill(c.child, SIGTERM);
	g_clear_pointer(&owner_slot, sd_bus_slot_unref);
	add_context_clear(&c);
	(void) sd_bus_detach_event(bus);
	return r;
}

/* ---- monitor ---- */

typedef struct {
	sd_bus *bus;
	sd_event *event;
	GHashTable *names;      /* object path → mapping Name */
} MonitorContext;

static int monitor_load_names(MonitorContext *c)
{
	g_autoptr(GPtrArray) mappings = NULL;
	int r;

	r = list_mappings(c->bus, &mappings);
	if (r < 0)
		return r;
	g_hash_table_remove_all(c->names);
	for (guint i = 0; i < mappings->len; i++) {
		MappingInfo *m = mappings->pdata[i];

		g_hash_table_insert(c->names, g_strdup(m->path), g_strdup(m->name));
	}
	return 0;
}

/* Name is constant and not in PropertiesChanged: ask once per object, then remember it. */
static const char *monitor_name(MonitorContext *c, const char *path)
{
	g_auto(sd_bus_error) error = SD_BUS_ERROR_NULL;
	const char *name = g_hash_table_lookup(c->names, path);
	char *fetched = NULL;

	if (name)
		return name;
	if (sd_bus_get_property_string(c->bus, BUS_NAME, path, MAPPING_IFACE, "Name", &error,
				       &fetched) < 0)
		return path;
	g_hash_table_insert(c->names, g_strdup(path), fetched);
	return fetched;
}

static JsonBuilder *monitor_event_begin(const char *event, const char *path, const char *name)
{
	JsonBuilder *b = json_builder_new();

	json_builder_begin_object(b);
	json_builder_set_member_name(b, "Event");
	json_builder_add_string_value(b, event);
	if (path) {
		json_builder_set_member_name(b, "Path");
		json_builder_add_string_value(b, path);
		json_builder_set_member_name(b, "Name");
		json_builder_add_string_value(b, name);
	}
	return b;
}

static void monitor_event_end(JsonBuilder *b)
{
	json_builder_end_object(b);
	print_json_builder(b);
}

static int on_monitor_manager_signal(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
	MonitorContext *c = userdata;
	const char *member = sd_bus_message_get_member(m);
	const char *path, *name;
	int r;

	if (g_strcmp0(member, "EndpointChanged") == 0) {
		const char *endpoint, *nat_type;

		r = sd_bus_message_read(m, "ss", &endpoint, &nat_type);
		if (r < 0) {
			log_parse_error(r);
			return 0;
		}
		if (arg_json != JSON_OFF) {
			g_autoptr(JsonBuilder) b = monitor_event_begin(member, NULL, NULL);

			json_builder_set_member_name(b, "PublicEndpoint");
			json_builder_add_string_value(b, endpoint);
			json_builder_set_member_name(b, "NATType");
			json_builder_add_string_value(b, nat_type);
			monitor_event_end(b);
		} else
			printf(_("public endpoint %s, NAT type %s\n"), empty_to_dash(endpoint),
			       empty_to_dash(nat_type));
	} else if (g_strcmp0(member, "MappingAdded") == 0 ||
		   g_strcmp0(member, "MappingRemoved") == 0) {
		gboolean added = g_str_equal(member, "MappingAdded");

		r = sd_bus_message_read(m, "o", &path);
		if (r < 0) {
			log_parse_error(r);
			return 0;
		}
		/* a removed object can no longer be asked its name */
		name = added ? monitor_name(c, path)
			     : g_hash_table_lookup(c->names, path);
		if (!name)
			name = path;
		if (arg_json != JSON_OFF) {
			g_autoptr(JsonBuilder) b = monitor_event_begin(member, path, name);

			monitor_event_end(b);
		} else if (added)
			printf(_("%s: added\n"), name);
		else
			printf(_("%s: removed\n"), name);
		if (!added)
			g_hash_table_remove(c->names, path);
	} else if (g_strcmp0(member, "PortChanged") == 0) {
		guint16 old_port, new_port;

		r = sd_bus_message_read(m, "oqq", &path, &old_port, &new_port);
		if (r < 0) {
			log_parse_error(r);
			return 0;
		}
		name = monitor_name(c, path);
		if (arg_json != JSON_OFF) {
			g_autoptr(JsonBuilder) b = monitor_event_begin(member, path, name);

			json_builder_set_member_name(b, "OldPort");
			json_builder_add_int_value(b, old_port);
			json_builder_set_member_name(b, "NewPort");
			json_builder_add_int_value(b, new_port);
			monitor_event_end(b);
		} else
			printf(_("%s: external port changed from %u to %u\n"), name, old_port,
			       new_port);
	}
	fflush(stdout);
	return 0;
}

static int on_monitor_properties_changed(sd_bus_message *m, void *userdata,
					 sd_bus_error *ret_error)
{
	MonitorContext *c = userdata;
	g_auto(MappingProps) p = { 0 };
	g_autoptr(GString) line = NULL;
	const char *path = sd_bus_message_get_path(m);
	const char *name;
	int r;

	r = read_mapping_props_changed(m, &p);
	if (r < 0) {
		log_parse_error(r);
		return 0;
	}
	if (r == 0 || !(p.present & (PROP_STATE | PROP_EXTERNAL_PORT | PROP_LAST_ERROR)))
		return 0;
	name = monitor_name(c, path);

	if (arg_json != JSON_OFF) {
		g_autoptr(JsonBuilder) b = monitor_event_begin("PropertiesChanged", path, name);

		if (p.present & PROP_STATE) {
			json_builder_set_member_name(b, "State");
			json_builder_add_string_value(b, p.state);
		}
		if (p.present & PROP_EXTERNAL_PORT) {
			json_builder_set_member_name(b, "ExternalPort");
			json_builder_add_int_value(b, p.external_port);
		}
		if (p.present & PROP_LAST_ERROR) {
			json_builder_set_member_name(b, "LastError");
			json_builder_add_string_value(b, p.last_error);
		}
		monitor_event_end(b);
		return 0;
	}

	line = g_string_new(NULL);
	if (p.present & PROP_STATE)
		/* TRANSLATORS: %s is an untranslated state: requesting, active, failed... */
		g_string_append_printf(line, _("state %s"), p.state);
	if (p.present & PROP_EXTERNAL_PORT) {
		if (line->len > 0)
			g_string_append(line, ", ");
		if (p.external_port)
			g_string_append_printf(line, _("external port %u"), p.external_port);
		else
			g_string_append(line, _("no external port"));
	}
	/* a cleared LastError says nothing worth a line; a set one names itself */
	if ((p.present & PROP_LAST_ERROR) && !is_empty(p.last_error)) {
		if (line->len > 0)
			g_string_append(line, ", ");
		g_string_append(line, p.last_error);
	}
	if (line->len > 0) {
		printf("%s: %s\n", name, line->str);
		fflush(stdout);
	}
	return 0;
}

static int on_monitor_owner_changed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
	MonitorContext *c = userdata;
	const char *name, *old_owner, *new_owner;

	if (sd_bus_message_read(m, "sss", &name, &old_owner, &new_owner) < 0 ||
	    !g_str_equal(name, BUS_NAME))
		return 0;

	if (arg_json != JSON_OFF) {
		g_autoptr(JsonBuilder) b = monitor_event_begin(is_empty(new_owner)
							       ? "DaemonStopped"
							       : "DaemonStarted", NULL, NULL);

		monitor_event_end(b);
	} else if (is_empty(new_owner))
		printf(_("portmapd stopped\n"));
	else
		printf(_("portmapd started\n"));
	fflush(stdout);

	/* object paths are per daemon instance */
	g_hash_table_remove_all(c->names);
	if (!is_empty(new_owner))
		(void) monitor_load_names(c);
	return 0;
}

static int on_monitor_signal(sd_event_source *s, const struct signalfd_siginfo *si,
			     void *userdata)
{
	MonitorContext *c = userdata;

	(void) sd_event_exit(c->event, EXIT_SUCCESS);
	return 0;
}

int verb_monitor(int argc, char *argv[])
{
	g_autoptr(sd_event) event = NULL;
	g_autoptr(sd_event_source) sigint_source = NULL;
	g_autoptr(sd_event_source) sigterm_source = NULL;
	g_autoptr(sd_bus_slot) manager_slot = NULL;
	g_autoptr(sd_bus_slot) properties_slot = NULL;
	g_autoptr(sd_bus_slot) owner_slot = NULL;
	g_autoptr(GHashTable) names = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
							     g_free);
	MonitorContext c = { 0 };
	sigset_t mask;
	sd_bus *bus;
	int r;

	r = acquire_bus(&bus);
	if (r < 0)
		return r;
	c.bus = bus;
	c.names = names;

	r = sd_event_default(&event);
	if (r < 0) {
		fprintf(stderr, _("Failed to allocate event loop: %s\n"), g_strerror(-r));
		return r;
	}
	c.event = event;

	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0) {
		r = -errno;
		fprintf(stderr, _("Failed to block signals: %s\n"), g_strerror(errno));
		return r;
	}
	r = sd_event_add_signal(event, &sigint_source, SIGINT, on_monitor_signal, &c);
	if (r >= 0)
		r = sd_event_add_signal(event, &sigterm_source, SIGTERM, on_monitor_signal, &c);
	if (r < 0) {
		fprintf(stderr, _("Failed to watch signals: %s\n"), g_strerror(-r));
		return r;
	}

	/* subscribe before listing, so that nothing happens unseen in between */
	r = sd_bus_match_signal(bus, &manager_slot, BUS_NAME, MANAGER_PATH, MANAGER_IFACE, NULL,
				on_monitor_manager_signal, &c);
	if (r >= 0)
		r = sd_bus_add_match(bus, &properties_slot, MATCH_MAPPING_PROPERTIES,
				     on_monitor_properties_changed, &c);
	if (r >= 0)
		r = sd_bus_add_match(bus, &owner_slot, MATCH_OWNER_CHANGED,
				     on_monitor_owner_changed, &c);
	if (r < 0) {
		fprintf(stderr, _("Failed to subscribe to signals: %s\n"), g_strerror(-r));
		return r;
	}
	r = monitor_load_names(&c);
	if (r < 0)
		return r;

	r = sd_bus_attach_event(bus, event, SD_EVENT_PRIORITY_NORMAL);
	if (r >= 0)
		r = sd_bus_set_exit_on_disconnect(bus, TRUE);
	if (r < 0) {
		fprintf(stderr, _("Failed to attach bus to event loop: %s\n"), g_strerror(-r));
		return r;
	}

	r = sd_event_loop(event);
	if (r < 0)
		fprintf(stderr, _("Event loop failed: %s\n"), g_strerror(-r));
	(void) sd_bus_detach_event(bus);
	return r;
}

