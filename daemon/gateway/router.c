/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <string.h>

#include "build-info.h"
#include "class-table.h"
#include "config.h"
#include "errors.h"
#if PM_HAVE_NFTABLES
#include "router-nftables.h"
#endif
#include "router.h"

/* every router class chosen by Router=TYPE (a [MikroTik NAME] is router-mikrotik.c's
 * class, chosen by its name) */
static const void *const pm_router_classes[] = {
#if PM_HAVE_NFTABLES
    &pm_router_nftables_class,
#endif
    NULL,
};

/* the classes of the language that a build may leave out (-Dnftables=disabled) */
static const char *const pm_router_optional_types[] = {"nftables", NULL};

static const char *const pm_router_planned_types[] = {NULL};

/* classes that only tests define (a fake router for the gateway's tests) */
static const void *pm_router_test_classes[2];

static const PmClassTable pm_router_table = {
    .classes = pm_router_classes,
    .test_classes = pm_router_test_classes,
    .n_test_classes = G_N_ELEMENTS(pm_router_test_classes),
    .planned = pm_router_planned_types,
};

G_STATIC_ASSERT(G_STRUCT_OFFSET(PmRouterClass, type) == 0);

/* the longest InstanceName= (router.h) */
#define PM_ROUTER_INSTANCE_MAX 64

const PmRouterClass *
pm_router_class_lookup(const char *type)
{
	return pm_class_table_lookup(&pm_router_table, type);
}

gboolean
pm_router_class_is_left_out(const char *type)
{
	return type != NULL && g_strv_contains(pm_router_optional_types, type) &&
	       pm_router_class_lookup(type) == NULL;
}

char *
pm_router_class_list_types(const char *separator)
{
	return pm_class_table_list_types(&pm_router_table, separator, FALSE);
}

void
pm_router_registry_add_for_tests(const PmRouterClass *klass)
{
	pm_class_table_add_for_tests(&pm_router_table, klass);
}

gboolean
pm_router_instance_is_valid(const char *instance)
{
	gsize len = instance != NULL ? strlen(instance) : 0;

	if (len == 0 || len > PM_ROUTER_INSTANCE_MAX)
		return FALSE;
	for (gsize i = 0; i < len; i++) {
		if (!g_ascii_isalnum(instance[i]) && strchr("_.-", instance[i]) == NULL)
			return FALSE;
	}
	return TRUE;
}

PmRouter *
pm_router_new(const PmRouterClass *klass, PmScheduler *scheduler, const PmRouterSetup *setup,
	      GError **error)
{
	g_autoptr(PmRouter) self = NULL;

	g_return_val_if_fail(klass != NULL && klass->object_size >= sizeof(PmRouter), NULL);
	g_return_val_if_fail(scheduler != NULL && setup != NULL, NULL);

	/* the instance goes into every rule's comment, and from there into router commands */
	if (!pm_router_instance_is_valid(setup->instance)) {
		g_set_error(error, PM_ERROR, PM_ERROR_INVALID_CONFIGURATION,
			    "invalid InstanceName=%s: use 1 to %d characters of A-Z a-z 0-9 _ . -",
			    setup->instance != NULL ? setup->instance : "", PM_ROUTER_INSTANCE_MAX);
		return NULL;
	}

	self = g_malloc0(klass->object_size);
	self->klass = klass;
	self->scheduler = scheduler;
	self->instance = g_strdup(setup->instance);
	self->in_interface = g_strdup(setup->in_interface);
	self->nft_table = g_strdup(setup->nft_table);
	self->setup = setup;
	if (klass->init != NULL && !klass->init(self, error))
		return NULL;
	self->setup = NULL;
	return g_steal_pointer(&self);
}

void
pm_router_free(PmRouter *self)
{
	if (self == NULL)
		return;
	if (self->klass->finalize != NULL)
		self->klass->finalize(self);
	g_free(self->instance);
	g_free(self->in_interface);
	g_free(self->nft_table);
	g_free(self);
}

void
pm_router_add_rule(PmRouter *self, const PmRouterRule *rule, PmRouterDoneFunc done,
		   gpointer user_data)
{
	self->klass->add_rule(self, rule, done, user_data);
}

const char *
pm_router_get_error(PmRouter *self)
{
	return self->klass->get_error != NULL ? self->klass->get_error(self) : NULL;
}

void
pm_router_remove_rule(PmRouter *self, const PmRouterRule *rule, PmRouterDoneFunc done,
		      gpointer user_data)
{
	self->klass->remove_rule(self, rule, done, user_data);
}

void
pm_router_list_rules(PmRouter *self, PmRouterListFunc done, gpointer user_data)
{
	self->klass->list_rules(self, done, user_data);
}

static const char *
pm_router_protocol_name(guint8 protocol)
{
	switch (protocol) {
	case PM_PROTOCOL_TCP:
		return "tcp";
	case PM_PROTOCOL_UDP:
		return "udp";
	default:
		return NULL;
	}
}

gboolean
pm_router_rule_is_valid(const PmRouterRule *rule)
{
	return pm_router_protocol_name(rule->protocol) != NULL && rule->tunnel_port != 0 &&
	       rule->client_port != 0 && rule->client_address != 0;
}

char *
pm_router_rule_comment(const char *instance, const PmRouterRule *rule)
{
	guint32 a = g_ntohl(rule->client_address);

	g_return_val_if_fail(pm_router_instance_is_valid(instance), NULL);
	g_return_val_if_fail(pm_router_rule_is_valid(rule), NULL);
	return g_strdup_printf("portmap:%s:%s:%u:%u.%u.%u.%u:%u", instance,
			       pm_router_protocol_name(rule->protocol), rule->tunnel_port,
			       a >> 24, (a >> 16) & 0xff, (a >> 8) & 0xff, a & 0xff,
			       rule->client_port);
}

/* decimal in [min, max], digits only, no leading zero, no sign: what %u wrote */
static gboolean
pm_router_parse_decimal(const char *text, guint min, guint max, guint *out)
{
	guint value = 0;
	gsize len = strlen(text);

	if (len == 0 || len > 5 || (len > 1 && text[0] == '0'))
		return FALSE;
	for (gsize i = 0; i < len; i++) {
		if (!g_ascii_isdigit(text[i]))
			return FALSE;
		value = value * 10 + (guint)(text[i] - '0');
	}
	if (value < min || value > max)
		return FALSE;
	*out = value;
	return TRUE;
}

static gboolean
pm_router_parse_ipv4(const char *text, guint32 *address_be)
{
	g_auto(GStrv) octets = g_strsplit(text, ".", -1);
	guint32 a = 0;

	if (g_strv_length(octets) != 4)
		return FALSE;
	for (guint i = 0; i < 4; i++) {
		guint octet;
		if (!pm_router_parse_decimal(octets[i], 0, 255, &octet))
			return FALSE;
		a = (a << 8) | octet;
	}
	/* no rule forwards to 0.0.0.0 (pm_router_rule_is_valid) */
	if (a == 0)
		return FALSE;
	*address_be = g_htonl(a);
	return TRUE;
}

gboolean
pm_router_rule_parse_comment(const char *comment, char **instance, PmRouterRule *rule)
{
	g_auto(GStrv) fields = NULL;
	PmRouterRule parsed = {0};
	guint tunnel_port, client_port;

	if (comment == NULL)
		return FALSE;
	/* the instance has no ':' (pm_router_instance_is_valid), so every field is one piece */
	fields = g_strsplit(comment, ":", -1);
	if (g_strv_length(fields) != 6 || strcmp(fields[0], "portmap") != 0 ||
	    !pm_router_instance_is_valid(fields[1]))
		return FALSE;
	if (strcmp(fields[2], "tcp") == 0)
		parsed.protocol = PM_PROTOCOL_TCP;
	else if (strcmp(fields[2], "udp") == 0)
		parsed.protocol = PM_PROTOCOL_UDP;
	else
		return FALSE;
	if (!pm_router_parse_decimal(fields[3], 1, G_MAXUINT16, &tunnel_port) ||
	    !pm_router_parse_ipv4(fields[4], &parsed.client_address) ||
	    !pm_router_parse_decimal(fields[5], 1, G_MAXUINT16, &client_port))
		return FALSE;
	parsed.tunnel_port = (guint16)tunnel_port;
	parsed.client_port = (guint16)client_port;

	if (instance != NULL)
		*instance = g_strdup(fields[1]);
	if (rule != NULL)
		*rule = parsed;
	return TRUE;
}

gboolean
pm_router_rule_equal(const PmRouterRule *a, const PmRouterRule *b)
{
	return a->protocol == b->protocol && a->tunnel_port == b->tunnel_port &&
	       a->client_address == b->client_address && a->client_port == b->client_port;
}
