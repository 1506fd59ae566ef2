/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <glib.h>

#include "address.h"
#include "config.h"

/*
 * One mapping: what was asked (protocols, internal port, suggestion, lifetime, scope) and
 * what the provider obtained (per-protocol ports and leases, state, last error). The
 * provider drives it; every change is reported through pm_mapping_changed() so the bus
 * layer emits PropertiesChanged and the manager persists what a restart needs.
 */

typedef enum {
	PM_MAPPING_STATE_REQUESTING,
	PM_MAPPING_STATE_ACTIVE,
	PM_MAPPING_STATE_RENEWING,
	PM_MAPPING_STATE_RETRYING,
	PM_MAPPING_STATE_DEGRADED,
	PM_MAPPING_STATE_FAILED,
} PmMappingState;

typedef enum {
	PM_SCOPE_CLIENT,
	PM_SCOPE_RUNTIME,
	PM_SCOPE_PERSISTENT,
} PmScope;

typedef enum {
	PM_ORIGIN_CONFIG,
	PM_ORIGIN_BUS,
	PM_ORIGIN_GATEWAY,
} PmOrigin;

/* property change bits, one per bus property */
typedef enum {
	PM_MAPPING_PROP_PROVIDER = 1 << 0,
	PM_MAPPING_PROP_PROTOCOLS = 1 << 1,
	PM_MAPPING_PROP_PORTS = 1 << 2,
	PM_MAPPING_PROP_INTERNAL_ADDRESS = 1 << 3,
	PM_MAPPING_PROP_INTERNAL_PORT = 1 << 4,
	PM_MAPPING_PROP_EXTERNAL_ADDRESS = 1 << 5,
	PM_MAPPING_PROP_EXTERNAL_PORT = 1 << 6,
	PM_MAPPING_PROP_LIFETIME = 1 << 7,
	PM_MAPPING_PROP_EXPIRES_AT = 1 << 8,
	PM_MAPPING_PROP_STATE = 1 << 9,
	PM_MAPPING_PROP_LAST_ERROR = 1 << 10,
	PM_MAPPING_PROP_DESCRIPTION = 1 << 11,
	PM_MAPPING_PROP_CONSUMERS = 1 << 12,
} PmMappingProp;

/* index into PmMapping.ports */
typedef enum {
	PM_PROTO_INDEX_TCP = 0,
	PM_PROTO_INDEX_UDP = 1,
	PM_PROTO_INDEX_COUNT = 2,
} PmProtoIndex;

typedef struct {
	guint16 internal_port;
	guint16 external_port; /* 0: none granted */
	guint32 lifetime;      /* granted, seconds */
	guint64 expires;       /* CLOCK_BOOTTIME µs of the lease's end, 0: no lease */
} PmMappingPort;

/* one protocol's ports as consumers and the bus see them (design §3 "Ports") */
typedef struct {
	PmProtocols protocol;
	guint16 internal_port; /* I: where the application listens */
	guint16 external_port; /* E: what peers connect to; 0 before a grant */
} PmPortPair;

/* every protocol of a mapping, tcp first */
typedef struct {
	guint n_ports;
	PmPortPair ports[PM_PROTO_INDEX_COUNT];
} PmMappingPorts;

typedef struct _PmMapping PmMapping;
typedef struct _PmProvider PmProvider;

typedef void (*PmMappingChangedFunc)(PmMapping *mapping, guint props, gpointer user_data);

/* fields ordered by size, enums and flags packed: there may be 10 000 of these */
struct _PmMapping {
	guint64 id; /* N of /org/portmap/Manager/mapping/N, never reused */
	char *name;
	const char *provider_name; /* interned */
	PmProvider *provider; /* NULL when its provider was removed by a reload */
	char *owner; /* unique bus name of a client-scope mapping's owner */
	char *description;
	char *last_error;
	gpointer provider_data; /* owned by the provider */
	GPtrArray *consumers;	/* the manager's PmConsumerBinding, in Consumers= order; NULL
				 * without consumers; freed with the mapping */
	PmMappingChangedFunc changed_func;
	gpointer changed_data;
	PmMappingPort ports[PM_PROTO_INDEX_COUNT];

	guint32 lifetime; /* asked on each request, 0 = the provider's */
	guint32 owner_uid;
	guint32 external_address; /* IPv4, network byte order; 0: unknown */
	guint32 internal_address; /* IPv4, network byte order; 0: unknown */
	/* a LAN gateway mapping's client (origin gateway): what the bus shows as its internal
	 * address and port, while internal_port is the tunnel port asked upstream */
	guint32 lan_address;
	guint16 lan_port;
	guint16 internal_port;
	guint16 suggested_external_port; /* P: last granted E, else what was asked */
	guint16 announced_external_port; /* the last E told to the bus (PortChanged) */
	guint8 protocols;                /* PmProtocols */
	gint8 counted_state; /* the manager's: the state it is counted in, -1 for none */
	PmMappingState state : 8;
	PmScope scope : 8;
	PmOrigin origin : 8;
	guint require_external_port : 1;
	guint has_consumers : 1;
};

#define PM_MAPPING_PATH_PREFIX "/org/portmap/Manager/mapping"

/*
 * A mapping as everything outside the manager shows it: the Mapping properties,
 * ListMappings(), Describe() and status.json, and what consumers are told. Filled in one
 * place, pm_manager_describe_mapping(), so they never disagree; the strings are the
 * mapping's own or static and valid until the mapping next changes, the buffers are the
 * view's. Building one allocates nothing.
 */
typedef struct {
	guint64 id;
	char path[sizeof(PM_MAPPING_PATH_PREFIX "/") + 20];
	const char *name;
	const char *provider;
	const char *state;
	const char *protocols[PM_PROTO_INDEX_COUNT + 1]; /* NULL-terminated, tcp first */
	const char *scope;
	const char *origin;
	guint32 owner_uid;
	char internal_address[16]; /* dotted quad, "" if unknown */
	guint16 internal_port;
	char external_address[16]; /* dotted quad, "" if unknown */
	guint16 external_port;	   /* TCP's, else UDP's */
	PmMappingPorts ports;
	guint32 lifetime;
	guint64 expires_at;	  /* CLOCK_REALTIME µs, 0: none */
	guint64 port_valid_until; /* CLOCK_REALTIME µs, 0: none */
	const char *description;  /* "" if none */
	const char *last_error;	  /* "" if none */
	const GPtrArray *consumers; /* of PmConsumerBinding (consumer.h); NULL: none */
	guint32 provider_peer; /* its provider's peer_address (provider.h), 0: unknown */
} PmMappingView;

PmMapping *pm_mapping_new(guint64 id, const char *name);
void pm_mapping_free(PmMapping *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PmMapping, pm_mapping_free)

void pm_mapping_changed(PmMapping *self, guint props);
void pm_mapping_set_state(PmMapping *self, PmMappingState state);
/* NULL or "" clears; the message is "ShortName: text" */
void pm_mapping_set_last_error(PmMapping *self, const char *last_error);
void pm_mapping_set_error(PmMapping *self, const GError *error);
void pm_mapping_set_external_address(PmMapping *self, guint32 address);
/* the port that consumers and the bus call ExternalPort: TCP's, else UDP's */
guint16 pm_mapping_get_external_port(const PmMapping *self);
/* end of the earliest current lease (CLOCK_BOOTTIME µs), 0 without a lease */
guint64 pm_mapping_get_expires(const PmMapping *self);
/* the granted lifetime of the protocol whose lease ends first */
guint32 pm_mapping_get_lifetime(const PmMapping *self);
gboolean pm_mapping_is_transient(const PmMapping *self);
/* I and E of each protocol; I is the granted internal port, else the one asked for */
void pm_mapping_get_ports(const PmMapping *self, PmMappingPorts *out);
gboolean pm_mapping_ports_equal(const PmMappingPorts *a, const PmMappingPorts *b);

const char *pm_mapping_state_to_string(PmMappingState state);
const char *pm_scope_to_string(PmScope scope);
gboolean pm_scope_from_string(const char *str, PmScope *out);
const char *pm_origin_to_string(PmOrigin origin);
/* "tcp" then "udp" for each set bit */
char **pm_protocols_to_strv(guint protocols);
/* PM_MAPPING_PATH_PREFIX "/N" */
char *pm_mapping_get_path(const PmMapping *self);
/* the same for a mapping known only by its id (it may be gone) */
char *pm_mapping_path_for_id(guint64 id);
