/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <arpa/inet.h>
#include <glib/gstdio.h>
#include <string.h>

#include "consumer.h"
#include "fake-consumer.h"
#include "fake-provider.h"
#include "manager-harness.h"
#include "natpmp-provider.h"
#include "natpmp.h"

typedef struct {
	PmTimer timer;
	PmTestManager *owner;
	guint8 buf[PM_NATPMP_MAX_PACKET_SIZE];
	gsize len;
} PmTestReply;

static guint32
pm_test_ipv4(const char *str)
{
	guint32 address = 0;
	g_assert_cmpint(inet_pton(AF_INET, str, &address), ==, 1);
	return address;
}

static void
pm_test_reply_cb(PmTimer *timer, gpointer user_data)
{
	PmTestReply *reply = user_data;
	PmTestManager *self = reply->owner;

	g_assert_true(g_ptr_array_remove(self->replies, reply));
	pm_natpmp_client_receive(self->client, reply->buf, reply->len);
	g_free(reply);
}

static void
pm_test_gateway_send_cb(const guint8 *buf, gsize len, gpointer user_data)
{
	PmTestManager *self = user_data;
	PmNatpmpRequest req = {0};
	PmNatpmpResponse resp = {0};
	g_autoptr(GError) error = NULL;
	PmTestReply *reply;

	g_assert_true(pm_natpmp_decode_request(buf, len, &req, &error));
	if (self->silent)
		return;
	resp.opcode = req.opcode;
	/* a steady epoch: 1000 s at start, running with virtual time */
	resp.epoch = 1000 + (guint32)(pm_scheduler_now(self->scheduler) / G_USEC_PER_SEC);
	if (req.opcode == PM_NATPMP_OP_PUBLIC_ADDRESS) {
		resp.public_address = self->address;
	} else {
		g_autofree char *key = g_strdup_printf("%u:%u", req.opcode, req.internal_port);
		gpointer next = NULL;

		self->map_requests++;
		resp.internal_port = req.internal_port;
		if (req.lifetime == 0) {
			g_hash_table_remove(self->leases, key);
		} else {
			guint16 external;
			if (g_hash_table_lookup_extended(self->next, key, NULL, &next)) {
				external = (guint16)GPOINTER_TO_UINT(next);
				g_hash_table_remove(self->next, key);
			}
			else if (g_hash_table_contains(self->leases, key))
				external = (guint16)GPOINTER_TO_UINT(
				    g_hash_table_lookup(self->leases, key));
			else if (req.suggested_external_port != 0)
				external = req.suggested_external_port;
			else
				external = self->next_port++;
			g_hash_table_insert(self->leases, g_strdup(key),
					    GUINT_TO_POINTER(external));
			resp.external_port = external;
			resp.lifetime = req.lifetime;
		}
	}
	/* never from inside the send: on the scheduler, as a packet arriving */
	reply = g_new0(PmTestReply, 1);
	reply->owner = self;
	reply->len = pm_natpmp_encode_response(&resp, reply->buf);
	pm_timer_init(&reply->timer, pm_test_reply_cb, reply);
	g_ptr_array_add(self->replies, reply);
	pm_scheduler_arm(self->scheduler, &reply->timer, pm_scheduler_now(self->scheduler));
}

PmTestManager *
pm_test_manager_new_unstarted_full(guint64 now_usec, const char *state_dir)
{
	PmTestManager *self = g_new0(PmTestManager, 1);
	g_autoptr(GError) error = NULL;

	pm_fake_provider_register();
	pm_fake_consumer_register();
	self->scheduler = pm_scheduler_new_manual(now_usec,
						  G_GUINT64_CONSTANT(1700000000) * G_USEC_PER_SEC,
						  1);
	self->context = pm_context_new(self->scheduler, PM_SECRET_POLICY_STRICT);
	self->state_dir = state_dir != NULL ? g_strdup(state_dir)
					    : g_dir_make_tmp("portmap-manager-XXXXXX", &error);
	g_assert_no_error(error);
	self->leases = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	self->next = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	self->next_port = 40000;
	self->address = pm_test_ipv4(PM_TEST_PUBLIC_ADDRESS);
	self->replies = g_ptr_array_new();
	self->manager = pm_manager_new(self->context, self->state_dir);
	self->client = pm_natpmp_client_new(self->scheduler, pm_test_ipv4("127.0.0.1"), 1,
					    pm_test_gateway_send_cb, self, NULL);
	return self;
}

PmTestManager *
pm_test_manager_new_unstarted(void)
{
	return pm_test_manager_new_unstarted_full(G_USEC_PER_SEC, NULL);
}

void
pm_test_manager_start(PmTestManager *self, const char *config_text)
{
	g_autoptr(GError) error = NULL;
	GPtrArray *providers;
	PmConfig *config;
	guint n_natpmp = 0;

	config = pm_config_load_from_data(config_text, strlen(config_text), "test.conf", &error);
	g_assert_no_error(error);
	g_assert_true(pm_manager_start(self->manager, config, &error));
	g_assert_no_error(error);
	/* the gateway of the test instead of the NAT-PMP provider's socket */
	providers = pm_manager_get_providers(self->manager);
	for (guint i = 0; i < providers->len; i++) {
		PmProvider *provider = g_ptr_array_index(providers, i);
		if (provider->klass != &pm_natpmp_provider_class)
			continue;
		pm_natpmp_provider_switch_client(provider, self->client);
		n_natpmp++;
	}
	g_assert_cmpuint(n_natpmp, <=, 1);
	if (n_natpmp > 0)
		pm_test_manager_advance(self, 0);
}

PmTestManager *
pm_test_manager_new(const char *config_text)
{
	PmTestManager *self = pm_test_manager_new_unstarted();
	pm_test_manager_start(self, config_text);
	return self;
}

static void
pm_test_remove_tree(const char *path)
{
	g_autoptr(GDir) dir = g_dir_open(path, 0, NULL);
	const char *name;

	while (dir != NULL && (name = g_dir_read_name(dir)) != NULL) {
		g_autofree char *child = g_build_filename(path, name, NULL);
		g_unlink(child);
	}
	g_rmdir(path);
}

void
pm_test_manager_free(PmTestManager *self)
{
	g_clear_pointer(&self->manager, pm_manager_free);
	/* a provider's finalize answers what it owes, and nothing more */
	g_assert_cmpuint(pm_fake_get_n_alive(), ==, 0);
	g_assert_cmpuint(pm_fake_get_n_pending(), ==, 0);
	pm_fake_reset();
	for (guint i = 0; i < self->replies->len; i++) {
		PmTestReply *reply = g_ptr_array_index(self->replies, i);
		pm_scheduler_disarm(self->scheduler, &reply->timer);
		g_free(reply);
	}
	g_ptr_array_unref(self->replies);
	pm_natpmp_client_unref(self->client);
	g_hash_table_unref(self->leases);
	g_hash_table_unref(self->next);
	if (!self->keep_state_dir)
		pm_test_remove_tree(self->state_dir);
	g_free(self->state_dir);
	pm_context_free(self->context);
	pm_scheduler_free(self->scheduler);
	g_free(self);
}

void
pm_test_manager_advance(PmTestManager *self, guint64 usec)
{
	pm_scheduler_advance(self->scheduler, usec);
}

void
pm_test_manager_grant_next(PmTestManager *self, guint8 opcode, guint16 internal_port,
			   guint16 external_port)
{
	g_hash_table_insert(self->next, g_strdup_printf("%u:%u", opcode, internal_port),
			    GUINT_TO_POINTER(external_port));
}

void
pm_test_manager_gateway_down(PmTestManager *self)
{
	g_hash_table_remove_all(self->leases);
	self->silent = TRUE;
}

void
pm_test_manager_reload(PmTestManager *self, const char *config_text)
{
	g_autoptr(GError) error = NULL;
	PmConfig *config =
	    pm_config_load_from_data(config_text, strlen(config_text), "test.conf", &error);

	g_assert_no_error(error);
	g_assert_true(pm_manager_reload(self->manager, config, &error));
	g_assert_no_error(error);
}

char *
pm_test_manager_consumers(PmTestManager *self, const char *mapping_name)
{
	PmMapping *m = pm_manager_lookup_name(self->manager, mapping_name);
	g_autoptr(GString) str = g_string_new(NULL);
	PmMappingView view;

	g_assert_nonnull(m);
	pm_manager_describe_mapping(self->manager, m, &view);
	for (guint i = 0; view.consumers != NULL && i < view.consumers->len; i++) {
		const PmConsumerBinding *binding = g_ptr_array_index(view.consumers, i);
		g_string_append_printf(str,
				       "%s%s:%s:%s",
				       i > 0 ? " " : "",
				       binding->consumer->name,
				       pm_consumer_state_to_string(binding->state),
				       binding->last_error != NULL ? binding->last_error : "");
	}
	return g_string_free(g_steal_pointer(&str), FALSE);
}

void
pm_test_manager_assert_consumers(PmTestManager *self, const char *mapping_name,
				 const char *expected)
{
	g_autofree char *consumers = pm_test_manager_consumers(self, mapping_name);
	g_assert_cmpstr(consumers, ==, expected);
}
