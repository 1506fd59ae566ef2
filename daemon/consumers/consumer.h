/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <glib.h>

#include "config.h"
#include "context.h"
#include "json-writer.h"
#include "mapping.h"
#include "scheduler.h"

/*
 * Consumers tell applications the ports of the mappings that list them in Consumers=
 * (design §1, §3 "Ports", §6 [Consumer NAME]). They are a registry of classes in the shape
 * of systemd-networkd's netdev vtables: consumer.c holds the one table of classes, each
 * Type= is one file defining one `const PmConsumerClass x_consumer_class = {...}`, whose
 * configuration embeds PmConsumerConfig first (config_size) and whose object embeds
 * PmConsumer first (object_size). Nothing outside the table looks at a type.
 *
 * Operations are fire-and-forget. The manager calls mapping_up() after a grant,
 * mapping_changed() when the ports or the external address change and mapping_down()
 * when the mapping is lost (failed, expired, removed, moved by a reload, or the daemon
 * stops), each with the internal port I and the external port E of every protocol, and
 * goes on. The class delivers at once or later, owns its retries and backoff (and its
 * blocking after an authentication failure: qBittorrent bans after 5), and reports each
 * outcome, now or later, with pm_consumer_report(): the manager shows it in the mapping's
 * Consumers property. There is no done callback because a delivery outlives the call
 * (a retry after backoff is a delivery nobody called for), because only the class knows
 * when a newer push makes an older one moot (a port file is rewritten with the latest
 * ports), and because the manager must never wait for an application to stop a mapping.
 *
 * For one (consumer, mapping) the calls come in order: up, changed..., down, up... and
 * mapping_up() may come again with the same ports (ReconcileInterval=, RefreshAll(),
 * Refresh(), Reload()): it must be idempotent. The PmMappingView is valid during the call
 * only: copy what is needed later, and refer to the mapping later by its id.
 */

typedef struct _PmConsumer PmConsumer;
typedef struct _PmConsumerClass PmConsumerClass;

typedef enum {
	PM_CONSUMER_STATE_OK,	   /* the current ports were delivered */
	PM_CONSUMER_STATE_PENDING, /* a delivery is in progress or will be retried */
	PM_CONSUMER_STATE_FAILED,  /* the last delivery failed, and LastError says why */
} PmConsumerState;

/* why mapping_up() is called */
typedef enum {
	PM_CONSUMER_PUSH_GRANT,	    /* the mapping got its ports */
	PM_CONSUMER_PUSH_RECONCILE, /* the same again: [Daemon] ReconcileInterval=, RefreshAll() */
	PM_CONSUMER_PUSH_RETRY,	    /* the same again, and a consumer blocked by an authentication
				     * failure tries again: Reload(), the mapping's Refresh() */
} PmConsumerPush;

/* the part of every [Consumer NAME] that is not its class's; shared by the PmConfig that
 * was read and the consumer made from it, which keeps it across reloads */
struct _PmConsumerConfig {
	const PmConsumerClass *klass;
	char *name;
	grefcount ref_count;
};

struct _PmConsumerClass {
	const char *type; /* Type= */
	gsize config_size; /* >= sizeof(PmConsumerConfig) */
	gsize object_size; /* >= sizeof(PmConsumer) */
	/* one port for several mappings makes no sense (a torrent client listens on one):
	 * listing it in several Consumers= is a warning, and it gets the first mapping only */
	gboolean single_mapping;

	/* configuration: the keys other than Type=, read by pm_config_section_parse_keys()
	 * (config.h) */
	const PmConfigKey *config_keys;
	/* after the keys: defaults that depend on others or on the name, keys that go
	 * together; errors with pm_config_section_set_*error() */
	gboolean (*config_verify)(PmConsumerConfig *config, PmConfigSection *section,
				  GError **error);
	/* Reload: an unchanged consumer keeps its object and its state */
	gboolean (*config_equal)(const PmConsumerConfig *a, const PmConsumerConfig *b);
	/* --print-config: its KEY=VALUE lines, reading back to an equal configuration */
	void (*config_print)(const PmConsumerConfig *config, GString *out);
	/* the class's fields only */
	void (*config_free)(PmConsumerConfig *config);

	/* the object: the common part is set when these run; a failed init frees what it
	 * made (finalize runs only for objects whose init succeeded) */
	gboolean (*init)(PmConsumer *self, GError **error);
	/* cancel what is in flight: nothing may report for this object afterwards */
	void (*finalize)(PmConsumer *self);

	/* operations (see above); @ports are the ports this call is about: the granted ones,
	 * or for mapping_down() the last ones told */
	void (*mapping_up)(PmConsumer *self, const PmMappingView *mapping,
			   const PmMappingPorts *ports, PmConsumerPush push);
	void (*mapping_changed)(PmConsumer *self, const PmMappingView *mapping,
				const PmMappingPorts *ports, const PmMappingPorts *previous);
	void (*mapping_down)(PmConsumer *self, const PmMappingView *mapping,
			     const PmMappingPorts *ports);

	/* members of its Describe() object after "Name" and "Type"; never a secret */
	void (*describe)(PmConsumer *self, PmJsonWriter *writer);
};

/* how a class's report reaches the manager */
typedef void (*PmConsumerReportFunc)(PmConsumer *consumer, guint64 mapping_id,
				     PmConsumerState state, const char *last_error,
				     gpointer user_data);

/* refcounted: the manager's list and each mapping's binding hold one, and a class may
 * take one for a delivery in flight (an HTTP request), so that the object outlives its
 * removal by a reload until the delivery ends; what it reports by then goes nowhere */
struct _PmConsumer {
	const PmConsumerClass *klass;
	PmConsumerConfig *config; /* a reference */
	const char *name;	  /* config->name */
	PmContext *context;	  /* the daemon's, as every provider's (context.h) */
	PmScheduler *scheduler;	  /* the context's */
	grefcount ref_count;
	PmConsumerReportFunc report_func; /* NULL once the manager dropped it */
	gpointer report_data;
};

/* the class table */
const PmConsumerClass *pm_consumer_class_find(const char *type);
/* types that later versions implement: known, but refused by this one */
gboolean pm_consumer_type_is_planned(const char *type);
/* "portfile, ...": every type of the table, or NULL if it is empty */
char *pm_consumer_class_list_types(void);
/* the table's and the planned types, for "unknown consumer type" */
char *pm_consumer_class_list_known_types(void);
/* tests: one more class, found by pm_consumer_class_find() as the built-in ones are */
void pm_consumer_registry_add_for_tests(const PmConsumerClass *klass);

/* configuration: pm_config_load() reads [Consumer NAME] through these */
PmConsumerConfig *pm_consumer_config_parse(const PmConsumerClass *klass,
					   PmConfigSection *section, GError **error);
PmConsumerConfig *pm_consumer_config_ref(PmConsumerConfig *self);
void pm_consumer_config_unref(PmConsumerConfig *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PmConsumerConfig, pm_consumer_config_unref)
gboolean pm_consumer_config_equal(const PmConsumerConfig *a, const PmConsumerConfig *b);
/* "[Consumer NAME]\nType=...\n" and the class's keys */
void pm_consumer_config_print(const PmConsumerConfig *self, GString *out);

/* objects */
/* @context: the scheduler, the HTTP session, the secret policy (a WebUI password) */
PmConsumer *pm_consumer_new(PmContext *context, PmConsumerConfig *config, GError **error);
PmConsumer *pm_consumer_ref(PmConsumer *self);
void pm_consumer_unref(PmConsumer *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PmConsumer, pm_consumer_unref)
void pm_consumer_set_report_func(PmConsumer *self, PmConsumerReportFunc func,
				 gpointer user_data);

void pm_consumer_mapping_up(PmConsumer *self, const PmMappingView *mapping,
			    const PmMappingPorts *ports, PmConsumerPush push);
void pm_consumer_mapping_changed(PmConsumer *self, const PmMappingView *mapping,
				 const PmMappingPorts *ports, const PmMappingPorts *previous);
void pm_consumer_mapping_down(PmConsumer *self, const PmMappingView *mapping,
			      const PmMappingPorts *ports);
/* {"Name": ..., "Type": ..., the class's members} */
void pm_consumer_describe(PmConsumer *self, PmJsonWriter *writer);

/* for classes: the outcome of a delivery for the mapping of that id, at any time before
 * finalize; the manager ignores it for a mapping that is gone */
void pm_consumer_report(PmConsumer *self, guint64 mapping_id, PmConsumerState state,
			const char *last_error);

const char *pm_consumer_state_to_string(PmConsumerState state);

/*
 * One consumer listed by one mapping, kept by the manager in the mapping (config order):
 * what was last told, and the outcome the class reported. Bus and Describe() read the
 * name, state and last error.
 */
typedef struct {
	PmConsumer *consumer; /* a reference */
	PmMappingPorts told;  /* n_ports 0: the mapping is not up for this consumer */
	guint32 told_address; /* the external address told with them */
	PmConsumerState state;
	gboolean pushing; /* inside a call: the manager announces the outcome once, after */
	/* during a call: what was announced before it (a blocked consumer failing again with
	 * the same error on every reconcile is not news) */
	PmConsumerState announced_state;
	const char *announced_error;
	char *last_error;
} PmConsumerBinding;

PmConsumerBinding *pm_consumer_binding_new(PmConsumer *consumer);
void pm_consumer_binding_free(PmConsumerBinding *self);
