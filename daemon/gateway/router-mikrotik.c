/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "router-mikrotik.h"

#include <gio/gio.h>
#include <string.h>

#include "address.h"
#include "config.h"
#include "errors.h"
#include "mikrotik-config.h"
#include "routeros-client.h"

/* after a failed start (no in-interface, router unreachable, login refused) the next rule
 * operation tries again once this long has passed; until then they fail at once */
#define MT_SETUP_RETRY_USEC (10 * G_USEC_PER_SEC)

typedef enum {
	MT_SETUP_RUNNING,
	MT_SETUP_DONE,
	MT_SETUP_FAILED,
} MtSetup;

typedef struct _PmRouterMikrotik PmRouterMikrotik;

typedef struct _MtOp MtOp;

struct _MtOp {
	PmRouterMikrotik *router;
	void (*start)(MtOp *op); /* its first router call, once the start is done */
	PmRouterRule rule;
	char *comment;
	PmRouterDoneFunc done;
	PmRouterListFunc list_done;
	gpointer user_data;
	GError *error; /* the answer, once known */
	guint64 list_gen;
};

typedef struct {
	char *id;
	guint64 gen; /* list_gen when last seen or added */
} MtRuleId;

struct _PmRouterMikrotik {
	PmRouter parent;
	PmMikrotikConfig *config;
	PmRosClient *client;
	char *gateway; /* the upstream gateway, for /ip/route/check */
	MtSetup setup;
	GError *setup_error;
	guint64 setup_failed_at;
	GQueue waiting;	 /* of MtOp: until the start is done */
	GQueue answers;	 /* of MtOp: answered on the next dispatch (no router call needed) */
	PmTimer answer_timer;
	GHashTable *ids; /* comment -> MtRuleId: our rules' .id on the router */
	guint64 list_gen;
	gboolean finalizing;
};

static void mt_setup_start(PmRouterMikrotik *self);

static void
mt_rule_id_free(MtRuleId *rid)
{
	g_free(rid->id);
	g_free(rid);
}

static void
mt_op_free(MtOp *op)
{
	g_free(op->comment);
	g_clear_error(&op->error);
	g_free(op);
}

/* the op's callback, now; then it is freed */
static void
mt_op_finish(MtOp *op)
{
	PmRouter *router = &op->router->parent;

	if (op->list_done != NULL)
		op->list_done(router, NULL, op->error, op->user_data);
	else
		op->done(router, op->error, op->user_data);
	mt_op_free(op);
}

static void
answer_timer_cb(PmTimer *timer, gpointer user_data)
{
	PmRouterMikrotik *self = user_data;
	MtOp *op = g_queue_pop_head(&self->answers);

	/* one per dispatch: a callback may free the router */
	if (!g_queue_is_empty(&self->answers))
		pm_scheduler_arm(self->parent.scheduler, &self->answer_timer,
				 pm_scheduler_now(self->parent.scheduler));
	if (op != NULL)
		mt_op_finish(op);
}

/* answers @op from the main loop: never from inside the call that queued it */
static void
mt_op_answer_later(MtOp *op, const GError *error)
{
	PmRouterMikrotik *self = op->router;

	if (error != NULL && op->error == NULL)
		op->error = g_error_copy(error);
	g_queue_push_tail(&self->answers, op);
	pm_scheduler_arm(self->parent.scheduler, &self->answer_timer,
			 pm_scheduler_now(self->parent.scheduler));
}

static void
mt_remember(PmRouterMikrotik *self, const char *comment, const char *id)
{
	MtRuleId *rid = g_new0(MtRuleId, 1);

	rid->id = g_strdup(id);
	rid->gen = self->list_gen;
	g_hash_table_replace(self->ids, g_strdup(comment), rid);
}

static gboolean
is_no_such_item(const GError *error, const PmRosReply *reply)
{
	const char *message = reply != NULL ? pm_ros_reply_get_message(reply) : NULL;

	return g_error_matches(error, PM_ROS_ERROR, PM_ROS_ERROR_TRAP) && message != NULL &&
	       strstr(message, "no such item") != NULL;
}

/* ---- words ---- */

static GPtrArray *
words_new(const char *command)
{
	GPtrArray *words = g_ptr_array_new_with_free_func(g_free);

	g_ptr_array_add(words, g_strdup(command));
	return words;
}

static const char *const *
words_end(GPtrArray *words)
{
	g_ptr_array_add(words, NULL);
	return (const char *const *)words->pdata;
}

static void
mt_call(PmRouterMikrotik *self, GPtrArray *words, PmRosCallFunc done, MtOp *op)
{
	pm_ros_client_call(self->client, words_end(words), done, op);
}

/* ---- remove ---- */

static void
removed_cb(PmRosClient *client, const PmRosReply *reply, const GError *error, gpointer user_data)
{
	MtOp *op = user_data;

	if (error == NULL || is_no_such_item(error, reply)) {
		g_hash_table_remove(op->router->ids, op->comment);
	} else if (op->error == NULL) {
		op->error = g_error_copy(error);
		if (g_error_matches(error, PM_ROS_ERROR, PM_ROS_ERROR_TRAP))
			g_prefix_error(&op->error, "the router refused to remove the rule \"%s\": ",
				       op->comment);
	}
	mt_op_finish(op);
}

static void
remove_ids(MtOp *op, const char *ids)
{
	g_autoptr(GPtrArray) words = words_new("/ip/firewall/nat/remove");

	g_ptr_array_add(words, g_strdup_printf("=.id=%s", ids));
	mt_call(op->router, words, removed_cb, op);
}

/* the ids of the rows of a print, "*1,*2", or NULL if none */
static char *
reply_ids(const PmRosReply *reply)
{
	g_autoptr(GString) ids = g_string_new(NULL);

	for (guint i = 0; i < reply->rows->len; i++) {
		const char *id = pm_ros_sentence_get_attribute(g_ptr_array_index(reply->rows, i),
							       ".id");
		if (id == NULL || id[0] == '\0' || strchr(id, ',') != NULL)
			continue;
		g_string_append_printf(ids, "%s%s", ids->len > 0 ? "," : "", id);
	}
	return ids->len > 0 ? g_string_free(g_steal_pointer(&ids), FALSE) : NULL;
}

static void
found_by_comment_cb(PmRosClient *client, const PmRosReply *reply, const GError *error,
		    gpointer user_data)
{
	MtOp *op = user_data;
	g_autofree char *ids = NULL;

	if (error != NULL) {
		if (op->error == NULL)
			op->error = g_error_copy(error);
		mt_op_finish(op);
		return;
	}
	ids = reply_ids(reply);
	if (ids == NULL) {
		g_hash_table_remove(op->router->ids, op->comment);
		mt_op_finish(op);
		return;
	}
	remove_ids(op, ids);
}

/* every rule with this exact comment (there is no prefix query: reference §1.5) */
static void
find_by_comment(MtOp *op)
{
	g_autoptr(GPtrArray) words = words_new("/ip/firewall/nat/print");

	g_ptr_array_add(words, g_strdup("=.proplist=.id"));
	g_ptr_array_add(words, g_strdup("?chain=dstnat"));
	g_ptr_array_add(words, g_strdup_printf("?comment=%s", op->comment));
	mt_call(op->router, words, found_by_comment_cb, op);
}

static void
mt_remove_start(MtOp *op)
{
	MtRuleId *rid = g_hash_table_lookup(op->router->ids, op->comment);

	if (rid != NULL && rid->id != NULL)
		remove_ids(op, rid->id);
	else
		find_by_comment(op);
}

/* ---- add ---- */

static void
added_cb(PmRosClient *client, const PmRosReply *reply, const GError *error, gpointer user_data)
{
	MtOp *op = user_data;
	PmRouterMikrotik *self = op->router;

	if (error == NULL) {
		mt_remember(self, op->comment, pm_ros_sentence_get_attribute(reply->done, "ret"));
		mt_op_finish(op);
		return;
	}
	op->error = g_error_copy(error);
	if (g_error_matches(error, PM_ROS_ERROR, PM_ROS_ERROR_TRAP)) {
		g_prefix_error(&op->error, "the router refused the rule for %s port %u: ",
			       pm_protocol_to_string(op->rule.protocol), op->rule.tunnel_port);
		mt_op_finish(op);
		return;
	}
	if (self->finalizing || g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
		mt_op_finish(op);
		return;
	}
	/* the router may have added it before the connection dropped or the time ran out:
	 * the rule goes with the failure (reconciliation removes it if this fails too) */
	find_by_comment(op);
}

static void
mt_add_start(MtOp *op)
{
	PmRouterMikrotik *self = op->router;
	g_autoptr(GPtrArray) words = NULL;
	g_autofree char *client = NULL;

	/* already there (a restart re-adopting its rules, a reconciliation re-adding) */
	if (g_hash_table_contains(self->ids, op->comment)) {
		mt_op_answer_later(op, NULL);
		return;
	}
	client = pm_ipv4_to_string(op->rule.client_address);
	words = words_new("/ip/firewall/nat/add");
	g_ptr_array_add(words, g_strdup("=chain=dstnat"));
	g_ptr_array_add(words, g_strdup("=action=dst-nat"));
	g_ptr_array_add(words,
			g_strdup_printf("=protocol=%s", pm_protocol_to_string(op->rule.protocol)));
	g_ptr_array_add(words, g_strdup_printf("=in-interface=%s", self->parent.in_interface));
	g_ptr_array_add(words, g_strdup_printf("=dst-port=%u", op->rule.tunnel_port));
	g_ptr_array_add(words, g_strdup_printf("=to-addresses=%s", client));
	g_ptr_array_add(words, g_strdup_printf("=to-ports=%u", op->rule.client_port));
	g_ptr_array_add(words, g_strdup_printf("=comment=%s", op->comment));
	mt_call(self, words, added_cb, op);
}

/* ---- list ---- */

static void
listed_cb(PmRosClient *client, const PmRosReply *reply, const GError *error, gpointer user_data)
{
	MtOp *op = user_data;
	PmRouterMikrotik *self = op->router;
	g_autoptr(GArray) rules = NULL;
	GHashTableIter iter;
	MtRuleId *rid;

	if (error != NULL) {
		op->error = g_error_copy(error);
		mt_op_finish(op);
		return;
	}
	rules = g_array_new(FALSE, FALSE, sizeof(PmRouterRule));
	for (guint i = 0; i < reply->rows->len; i++) {
		const PmRosSentence *row = g_ptr_array_index(reply->rows, i);
		const char *comment = pm_ros_sentence_get_attribute(row, "comment");
		const char *id = pm_ros_sentence_get_attribute(row, ".id");
		g_autofree char *instance = NULL;
		PmRouterRule rule;

		if (comment == NULL || id == NULL ||
		    !pm_router_rule_parse_comment(comment, &instance, &rule) ||
		    g_strcmp0(instance, self->parent.instance) != 0)
			continue;
		g_array_append_val(rules, rule);
		rid = g_hash_table_lookup(self->ids, comment);
		if (rid == NULL) {
			mt_remember(self, comment, id);
			rid = g_hash_table_lookup(self->ids, comment);
		} else if (g_strcmp0(rid->id, id) != 0) {
			g_free(rid->id);
			rid->id = g_strdup(id);
		}
		rid->gen = MAX(rid->gen, op->list_gen);
	}
	/* gone from the router (removed by hand): forgotten, so that an add puts it back;
	 * what was added after this listing was asked for is kept */
	g_hash_table_iter_init(&iter, self->ids);
	while (g_hash_table_iter_next(&iter, NULL, (gpointer *)&rid)) {
		if (rid->gen < op->list_gen)
			g_hash_table_iter_remove(&iter);
	}
	op->list_done(&self->parent, rules, NULL, op->user_data);
	mt_op_free(op);
}

static void
mt_list_start(MtOp *op)
{
	PmRouterMikrotik *self = op->router;
	g_autoptr(GPtrArray) words = words_new("/ip/firewall/nat/print");

	op->list_gen = ++self->list_gen;
	g_ptr_array_add(words, g_strdup("=.proplist=.id,comment"));
	g_ptr_array_add(words, g_strdup("?chain=dstnat"));
	mt_call(self, words, listed_cb, op);
}

/* ---- start: the in-interface, then what is ours already ---- */

static void
mt_setup_failed(PmRouterMikrotik *self, const GError *error)
{
	self->setup = MT_SETUP_FAILED;
	self->setup_failed_at = pm_scheduler_now(self->parent.scheduler);
	g_clear_error(&self->setup_error);
	self->setup_error = g_error_copy(error);
	g_warning("gateway: MikroTik %s: %s", self->config->name, error->message);
	while (!g_queue_is_empty(&self->waiting))
		mt_op_answer_later(g_queue_pop_head(&self->waiting), self->setup_error);
}

static void
setup_listed(PmRouter *router, GArray *rules, const GError *error, gpointer user_data)
{
	PmRouterMikrotik *self = (PmRouterMikrotik *)router;

	if (error != NULL) {
		if (!g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
			mt_setup_failed(self, error);
		return;
	}
	self->setup = MT_SETUP_DONE;
	g_clear_error(&self->setup_error);
	g_info("gateway: MikroTik %s: rules on in-interface %s, %u of this instance there",
	       self->config->name, self->parent.in_interface, rules->len);
	while (!g_queue_is_empty(&self->waiting)) {
		MtOp *op = g_queue_pop_head(&self->waiting);
		op->start(op);
	}
}

static void
setup_list(PmRouterMikrotik *self)
{
	MtOp *op = g_new0(MtOp, 1);

	op->router = self;
	op->list_done = setup_listed;
	mt_list_start(op);
}

static void
route_checked_cb(PmRosClient *client, const PmRosReply *reply, const GError *error,
		 gpointer user_data)
{
	PmRouterMikrotik *self = user_data;
	g_autoptr(GError) local_error = NULL;
	const char *ifname = NULL;

	if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
		return;
	if (error == NULL && reply->rows->len > 0)
		ifname = pm_ros_sentence_get_attribute(g_ptr_array_index(reply->rows, 0),
						       "interface");
	if (ifname != NULL && ifname[0] != '\0') {
		g_free(self->parent.in_interface);
		self->parent.in_interface = g_strdup(ifname);
		setup_list(self);
		return;
	}
	if (error != NULL && !g_error_matches(error, PM_ROS_ERROR, PM_ROS_ERROR_TRAP)) {
		/* the router is not there: not a question of the route */
		mt_setup_failed(self, error);
		return;
	}
	g_set_error(&local_error, PM_ERROR, PM_ERROR_GATEWAY_UNREACHABLE,
		    "cannot find the router's interface toward the upstream gateway %s: "
		    "/ip/route/check %s; set InInterface= in [MikroTik %s] to the VPN-side "
		    "interface (the API user needs the \"test\" policy for the check)",
		    self->gateway,
		    error != NULL ? error->message : "gave no interface", self->config->name);
	mt_setup_failed(self, local_error);
}

static void
mt_setup_start(PmRouterMikrotik *self)
{
	self->setup = MT_SETUP_RUNNING;
	if (self->config->in_interface != NULL) {
		setup_list(self);
		return;
	}
	{
		g_autoptr(GPtrArray) words = words_new("/ip/route/check");
		g_ptr_array_add(words, g_strdup_printf("=dst-ip=%s", self->gateway));
		g_ptr_array_add(words, g_strdup("=once="));
		pm_ros_client_call(self->client, words_end(words), route_checked_cb, self);
	}
}

/* ---- operations ---- */

/* a new operation, started now or once the start is done; @rule: NULL for a listing */
static void
mt_op_submit(PmRouter *router, void (*start)(MtOp *op), const PmRouterRule *rule,
	     PmRouterDoneFunc done, PmRouterListFunc list_done, gpointer user_data)
{
	PmRouterMikrotik *self = (PmRouterMikrotik *)router;
	MtOp *op = g_new0(MtOp, 1);

	op->router = self;
	op->start = start;
	if (rule != NULL) {
		op->rule = *rule;
		op->comment = pm_router_rule_comment(router->instance, rule);
	}
	op->done = done;
	op->list_done = list_done;
	op->user_data = user_data;
	switch (self->setup) {
	case MT_SETUP_DONE:
		op->start(op);
		return;
	case MT_SETUP_RUNNING:
		g_queue_push_tail(&self->waiting, op);
		return;
	case MT_SETUP_FAILED:
		if (pm_scheduler_now(router->scheduler) <
		    self->setup_failed_at + MT_SETUP_RETRY_USEC) {
			mt_op_answer_later(op, self->setup_error);
			return;
		}
		g_queue_push_tail(&self->waiting, op);
		mt_setup_start(self);
		return;
	}
}

static void
mt_add_rule(PmRouter *router, const PmRouterRule *rule, PmRouterDoneFunc done,
	    gpointer user_data)
{
	mt_op_submit(router, mt_add_start, rule, done, NULL, user_data);
}

static void
mt_remove_rule(PmRouter *router, const PmRouterRule *rule, PmRouterDoneFunc done,
	       gpointer user_data)
{
	mt_op_submit(router, mt_remove_start, rule, done, NULL, user_data);
}

static void
mt_list_rules(PmRouter *router, PmRouterListFunc done, gpointer user_data)
{
	mt_op_submit(router, mt_list_start, NULL, NULL, done, user_data);
}

static gboolean
mt_init(PmRouter *router, GError **error)
{
	PmRouterMikrotik *self = (PmRouterMikrotik *)router;
	const PmRouterSetup *setup = router->setup;
	const PmMikrotikConfig *config = setup->mikrotik;

	if (config == NULL || setup->password == NULL) {
		g_set_error(error, PM_ERROR, PM_ERROR_INVALID_CONFIGURATION,
			    "a MikroTik router needs its [MikroTik NAME] and password");
		return FALSE;
	}
	self->config = pm_mikrotik_config_ref((PmMikrotikConfig *)config);
	self->gateway = pm_ipv4_to_string(setup->upstream_gateway);
	self->ids = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
					  (GDestroyNotify)mt_rule_id_free);
	pm_timer_init(&self->answer_timer, answer_timer_cb, self);
	g_free(router->in_interface);
	router->in_interface = g_strdup(config->in_interface);
	if (config->in_interface == NULL && setup->upstream_gateway == 0) {
		g_set_error(error, PM_ERROR, PM_ERROR_INVALID_CONFIGURATION,
			    "[MikroTik %s] has no InInterface= and the upstream gateway's address "
			    "is not known: set InInterface= or the provider's Gateway=",
			    config->name);
		return FALSE;
	}
	{
		PmRosClientConfig client = {
		    .host = config->host,
		    .port = config->port,
		    .tls = config->tls,
		    .ca_file = config->ca_file,
		    .fingerprint = config->has_fingerprint ? config->fingerprint : NULL,
		    .username = config->username,
		    .password = setup->password,
		    .pool_size = config->pool_size,
		    .timeout_usec = config->timeout_usec,
		};
		self->client = pm_ros_client_new(router->scheduler, &client);
	}
	g_info("gateway: MikroTik %s at %s port %u%s, user %s, %u connection(s)", config->name,
	       config->host, config->port,
	       !config->tls ? "" : config->has_fingerprint ? " (TLS, pinned certificate)"
			   : config->ca_file != NULL	   ? " (TLS, verified with CAFile=)"
							   : " (TLS, verified with the system's roots)",
	       config->username, config->pool_size);
	mt_setup_start(self);
	return TRUE;
}

static void
mt_finalize(PmRouter *router)
{
	PmRouterMikrotik *self = (PmRouterMikrotik *)router;
	g_autoptr(GError) cancelled =
	    g_error_new_literal(G_IO_ERROR, G_IO_ERROR_CANCELLED, "the router is going away");
	MtOp *op;

	self->finalizing = TRUE;
	if (self->ids == NULL)
		return; /* init() failed before anything was made */
	pm_scheduler_disarm(router->scheduler, &self->answer_timer);
	while ((op = g_queue_pop_head(&self->waiting)) != NULL) {
		op->error = g_error_copy(cancelled);
		mt_op_finish(op);
	}
	while ((op = g_queue_pop_head(&self->answers)) != NULL)
		mt_op_finish(op);
	/* answers the calls in flight: their ops are answered, cancelled, from there */
	g_clear_pointer(&self->client, pm_ros_client_free);
	g_clear_pointer(&self->ids, g_hash_table_unref);
	g_clear_error(&self->setup_error);
	g_free(self->gateway);
	pm_mikrotik_config_unref(self->config);
}

static const char *
mt_get_error(PmRouter *router)
{
	PmRouterMikrotik *self = (PmRouterMikrotik *)router;

	if (self->setup == MT_SETUP_FAILED && self->setup_error != NULL)
		return self->setup_error->message;
	return self->client != NULL ? pm_ros_client_get_last_error(self->client) : NULL;
}

const PmRouterClass pm_router_mikrotik_class = {
    .type = "mikrotik",
    .object_size = sizeof(PmRouterMikrotik),
    .init = mt_init,
    .finalize = mt_finalize,
    .add_rule = mt_add_rule,
    .remove_rule = mt_remove_rule,
    .list_rules = mt_list_rules,
    .get_error = mt_get_error,
};
