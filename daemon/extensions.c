/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "extensions.h"

/* ---- STUN, not configured ---- */

static GVariant *
stun_get_public_endpoint(gpointer user_data)
{
	return g_variant_new_string("");
}

static GVariant *
stun_get_unknown(gpointer user_data)
{
	return g_variant_new_string("unknown");
}

static const PmManagerProperty stun_properties[] = {
    {"PublicEndpoint", "s", TRUE, stun_get_public_endpoint},
    {"NATType", "s", TRUE, stun_get_unknown},
    {"MappingBehavior", "s", TRUE, stun_get_unknown},
    {"FilteringBehavior", "s", TRUE, stun_get_unknown},
    {NULL},
};

static void
stun_describe(PmJsonWriter *writer, gpointer user_data)
{
	pm_json_member_string(writer, "PublicEndpoint", "");
	pm_json_member_string(writer, "NATType", "unknown");
	pm_json_member_string(writer, "MappingBehavior", "unknown");
	pm_json_member_string(writer, "FilteringBehavior", "unknown");
}

const PmManagerExtension pm_stun_unconfigured_extension = {
    .name = "stun",
    .properties = stun_properties,
    .describe = stun_describe,
};

/* ---- the LAN gateway, not configured ---- */

static GVariant *
gateway_get_mappings(gpointer user_data)
{
	return g_variant_new_uint32(0);
}

static const PmManagerProperty gateway_properties[] = {
    {"GatewayMappings", "u", TRUE, gateway_get_mappings},
    {NULL},
};

static void
gateway_describe(PmJsonWriter *writer, gpointer user_data)
{
	pm_json_member_uint(writer, "GatewayMappings", 0);
}

static void
gateway_state_save(PmJsonWriter *writer, gpointer user_data)
{
	pm_json_member(writer, "LANServer");
	pm_json_begin_object(writer);
	pm_json_member_int(writer, "Epoch", 0);
	pm_json_member(writer, "Mappings");
	pm_json_begin_object(writer);
	pm_json_end_object(writer);
	pm_json_end_object(writer);
	pm_json_member(writer, "RouterRules");
	pm_json_begin_array(writer);
	pm_json_end_array(writer);
}

const PmManagerExtension pm_gateway_unconfigured_extension = {
    .name = "gateway",
    .properties = gateway_properties,
    .describe = gateway_describe,
    .state_save = gateway_state_save,
};
