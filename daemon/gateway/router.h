/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <glib.h>

#include "config.h"
#include "scheduler.h"

/*
 * The router half of a LAN gateway mapping (design §3 "Gateway"): a rule on the router
 * that forwards tunnel port T arriving on the VPN-side interface to a LAN client's
 * address and port. Backends are classes in one table (router.c), as the providers are:
 * one file per kind (router-nftables.c; the MikroTik RouterOS API next), one entry in the
 * table, no switch on the type (a [MikroTik NAME] is router-mikrotik.c's class, chosen by the
 * configuration rather than by a Router= type).
 *
 * Every rule carries the comment "portmap:INSTANCE:PROTO:T:CLIENT:PORT" so that
 * reconciliation finds the rules of its own instance, and never touches another's.
 *
 * Operations are asynchronous: @done runs later from the main loop, never from inside the
 * call (a backend whose work is synchronous, as libnftables' is, defers the callback).
 * Operations are not cancellable: the router outlives every operation in flight (a freed
 * router answers them first: with G_IO_ERROR_CANCELLED those it has not done, with their
 * result those it has, as a backend may do queued operations together).
 */

typedef struct _PmRouter PmRouter;
typedef struct _PmRouterClass PmRouterClass;

typedef struct {
	guint8 protocol;	/* PM_PROTOCOL_TCP or PM_PROTOCOL_UDP (config.h) */
	guint16 tunnel_port;	/* T: the destination port on the VPN side */
	guint32 client_address; /* IPv4, network byte order */
	guint16 client_port;	/* where the client listens */
} PmRouterRule;

typedef struct {
	/* InstanceName=: the comment's INSTANCE; [A-Za-z0-9_.-], at most 64 bytes */
	const char *instance;
	/* the VPN-side interface whose packets are forwarded (nftables: iifname) */
	const char *in_interface;
	/* nftables: NftTable= (default "portmap") */
	const char *nft_table;
	/* MikroTik: its [MikroTik NAME] (which may name the in-interface, else @in_interface
	 * is NULL and the router is asked its route toward @upstream_gateway), and the API
	 * user's password, read when the gateway starts */
	const PmMikrotikConfig *mikrotik;
	const char *password;
	guint32 upstream_gateway; /* IPv4, network byte order */
} PmRouterSetup;

/* @error: NULL on success */
typedef void (*PmRouterDoneFunc)(PmRouter *router, const GError *error, gpointer user_data);
/* @rules: of PmRouterRule, every rule of this instance that the router holds now (rules of
 * other instances, and rules whose comment does not parse, left out); borrowed for the
 * call, NULL with @error */
typedef void (*PmRouterListFunc)(PmRouter *router, GArray *rules, const GError *error,
				 gpointer user_data);

struct _PmRouterClass {
	const char *type;  /* Router= value: "nftables" */
	gsize object_size; /* of the backend's object, which embeds PmRouter first */
	/* after the common part is set up: open what it needs (creating its own table or
	 * chain if missing, never flushing it: another instance may share it) and log the
	 * start-up warnings of design §3 (a forward chain that drops by default without
	 * accepting `ct status dnat`); FALSE fails the daemon's start */
	gboolean (*init)(PmRouter *self, GError **error);
	/* optional */
	void (*finalize)(PmRouter *self);
	/* adding a rule that exists already (same comment) succeeds without a duplicate */
	void (*add_rule)(PmRouter *self, const PmRouterRule *rule, PmRouterDoneFunc done,
			 gpointer user_data);
	/* removing a rule that is not there succeeds */
	void (*remove_rule)(PmRouter *self, const PmRouterRule *rule, PmRouterDoneFunc done,
			    gpointer user_data);
	void (*list_rules)(PmRouter *self, PmRouterListFunc done, gpointer user_data);
	/* optional: why rules fail now (a router that cannot be reached, a refused login,
	 * no in-interface), NULL when nothing does; for Describe() */
	const char *(*get_error)(PmRouter *self);
};

struct _PmRouter {
	const PmRouterClass *klass;
	PmScheduler *scheduler;
	char *instance;
	char *in_interface;
	char *nft_table;
	const PmRouterSetup *setup; /* during init() only */
};

/* the class of Router=@type ("nftables"), NULL if none: a [MikroTik NAME] is the
 * "mikrotik" class, found by the configuration and not by this name */
const PmRouterClass *pm_router_class_lookup(const char *type);
/* a Router= value of the language that this build left out (-Dnftables=disabled) */
gboolean pm_router_class_is_left_out(const char *type);
/* the Router= values of the built-in classes joined by @separator */
char *pm_router_class_list_types(const char *separator);
/* tests: one more class (a fake router), found by pm_router_class_lookup() */
void pm_router_registry_add_for_tests(const PmRouterClass *klass);

PmRouter *pm_router_new(const PmRouterClass *klass, PmScheduler *scheduler,
			const PmRouterSetup *setup, GError **error);
void pm_router_free(PmRouter *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PmRouter, pm_router_free)

void pm_router_add_rule(PmRouter *self, const PmRouterRule *rule, PmRouterDoneFunc done,
			gpointer user_data);
void pm_router_remove_rule(PmRouter *self, const PmRouterRule *rule, PmRouterDoneFunc done,
			   gpointer user_data);
void pm_router_list_rules(PmRouter *self, PmRouterListFunc done, gpointer user_data);
const char *pm_router_get_error(PmRouter *self);

/* "portmap:INSTANCE:tcp:T:a.b.c.d:PORT" */
char *pm_router_rule_comment(const char *instance, const PmRouterRule *rule);
/* the rule and instance of a comment written by pm_router_rule_comment(): FALSE for
 * anything else (another tool's comment, a malformed one); @instance: optional, the
 * caller frees it */
gboolean pm_router_rule_parse_comment(const char *comment, char **instance, PmRouterRule *rule);
gboolean pm_router_rule_equal(const PmRouterRule *a, const PmRouterRule *b);
/* an InstanceName=: 1 to 64 bytes of [A-Za-z0-9_.-] (pm_router_new() refuses others) */
gboolean pm_router_instance_is_valid(const char *instance);
/* TCP or UDP, both ports non-zero, a client address other than 0.0.0.0: what a backend
 * accepts and pm_router_rule_comment() writes */
gboolean pm_router_rule_is_valid(const PmRouterRule *rule);
