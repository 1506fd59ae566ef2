/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <gio/gio.h>
#include <json-glib/json-glib.h>
#include <string.h>

#include "config.h"
#include "errors.h"
#include "nftables-loader.h"
#include "router-nftables.h"

#define PM_NFT_DEFAULT_TABLE "portmap"
#define PM_NFT_CHAIN "prerouting"
/* IFNAMSIZ - 1 */
#define PM_NFT_IFNAME_MAX 15
#define PM_NFT_TABLE_MAX 64

typedef enum {
	PM_NFT_OP_ADD,
	PM_NFT_OP_REMOVE,
	PM_NFT_OP_LIST,
} PmNftOpKind;

typedef struct {
	PmNftOpKind kind;
	PmRouterRule rule; /* add, remove */
	PmRouterDoneFunc done;
	PmRouterListFunc list_done;
	gpointer user_data;
	/* an add done ahead, in one transaction with the adds queued before it: only its
	 * answer is left (@error if it failed) */
	gboolean finished;
	GError *error;
} PmNftOp;

/* the adds queued together go to the kernel in one transaction: one parse and one cache
 * fetch for all (1-3 ms each, measured: a burst of 64 new LAN mappings one by one kept
 * another client's answers waiting that long 64 times over) */
#define PM_NFT_ADD_BATCH 64

typedef struct {
	PmRouter parent;
	const PmLibnftables *lib; /* loaded at init */
	struct nft_ctx *nft;
	/* of PmNftOp, in call order: run one per dispatch, so that a callback may free the
	 * router */
	GQueue ops;
	PmTimer timer;
	gboolean finalizing;
	/* the rules of this instance in our chain, as of its last listing plus what we added
	 * since: an add needs no listing first (a listing costs the whole ruleset's cache:
	 * milliseconds, and a burst of new mappings must not hold the main loop). Refreshed
	 * by every listing (remove, list_rules, reconciliation), so a rule deleted behind our
	 * back is added again at the next reconciliation. Packed into the pointers (key:
	 * protocol and tunnel port; value: client address and port): no allocation per
	 * rule, there may be 10 000 */
	GHashTable *rules;
} PmRouterNft;

static gpointer
pm_nft_rule_key(const PmRouterRule *rule)
{
	return GSIZE_TO_POINTER(((gsize)rule->protocol << 16) | rule->tunnel_port);
}

/* the client's address and port: in the pointer itself where it is 64 bits wide */
static guint64
pm_nft_rule_client(const PmRouterRule *rule)
{
	return ((guint64)rule->client_address << 16) | rule->client_port;
}

static void
pm_nft_rule_insert(PmRouterNft *self, const PmRouterRule *rule)
{
#if GLIB_SIZEOF_VOID_P >= 8
	g_hash_table_insert(self->rules, pm_nft_rule_key(rule),
			    (gpointer)(guintptr)pm_nft_rule_client(rule));
#else
	guint64 client = pm_nft_rule_client(rule);
	g_hash_table_insert(self->rules, pm_nft_rule_key(rule), g_memdup2(&client, sizeof(client)));
#endif
}

static gboolean
pm_nft_rule_known(PmRouterNft *self, const PmRouterRule *rule)
{
	gpointer value;

	if (!g_hash_table_lookup_extended(self->rules, pm_nft_rule_key(rule), NULL, &value))
		return FALSE;
#if GLIB_SIZEOF_VOID_P >= 8
	return (guint64)(guintptr)value == pm_nft_rule_client(rule);
#else
	return *(const guint64 *)value == pm_nft_rule_client(rule);
#endif
}

static void
pm_nft_rule_remember(PmRouterNft *self, const char *comment)
{
	g_autofree char *instance = NULL;
	PmRouterRule rule;

	if (pm_router_rule_parse_comment(comment, &instance, &rule) &&
	    strcmp(instance, self->parent.instance) == 0)
		pm_nft_rule_insert(self, &rule);
}

/* every character of @text in [A-Za-z0-9] or @extra: what may go into a command unquoted
 * or between quotes, so a name never changes the command's meaning */
static gboolean
pm_nft_name_is_valid(const char *text, const char *extra, gsize max)
{
	gsize len = text != NULL ? strlen(text) : 0;

	if (len == 0 || len > max)
		return FALSE;
	for (gsize i = 0; i < len; i++) {
		if (!g_ascii_isalnum(text[i]) && strchr(extra, text[i]) == NULL)
			return FALSE;
	}
	return TRUE;
}

/* nft's message: its first line (the rest repeats the command and underlines it) */
static char *
pm_nft_error_text(const char *buffer)
{
	g_auto(GStrv) lines = g_strsplit(buffer != NULL ? buffer : "", "\n", 2);
	char *text = g_strdup(lines[0] != NULL ? lines[0] : "");

	g_strstrip(text);
	if (text[0] == '\0') {
		g_free(text);
		return g_strdup("Error: command failed");
	}
	return text;
}

/*
 * Runs @cmd (one transaction when it holds several lines). With @json, its JSON output
 * (the ruleset listing, with handles) in @out. A missing table or chain is
 * G_IO_ERROR_NOT_FOUND, so that callers can tell it from the other failures.
 */
static gboolean
pm_nft_run(PmRouterNft *self, const char *cmd, gboolean json, JsonNode **out, GError **error)
{
	g_autofree char *message = NULL;
	const char *output;
	int rc;

	self->lib->ctx_output_set_flags(self->nft,
				 json ? NFT_CTX_OUTPUT_JSON | NFT_CTX_OUTPUT_HANDLE : 0);
	rc = self->lib->run_cmd_from_buffer(self->nft, cmd);
	/* reading a buffer empties it for the next command */
	output = self->lib->ctx_get_output_buffer(self->nft);
	message = pm_nft_error_text(self->lib->ctx_get_error_buffer(self->nft));
	if (rc != 0) {
		if (strstr(message, "Operation not permitted") != NULL)
			g_set_error(error, PM_ERROR, PM_ERROR_ACCESS_DENIED,
				    "nftables: permission denied: portmapd needs CAP_NET_ADMIN for "
				    "Router=nftables (%s)",
				    message);
		else if (strstr(message, "No such file or directory") != NULL)
			g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "nftables: %s",
				    message);
		else
			g_set_error(error, PM_ERROR, PM_ERROR_FAILED, "nftables: %s", message);
		return FALSE;
	}
	if (json) {
		g_autoptr(JsonParser) parser = json_parser_new();
		g_autoptr(GError) local_error = NULL;

		if (!json_parser_load_from_data(parser, output != NULL ? output : "", -1,
						&local_error)) {
			g_set_error(error, PM_ERROR, PM_ERROR_FAILED,
				    "nftables: cannot read the JSON listing of `%s`: %s", cmd,
				    local_error->message);
			return FALSE;
		}
		*out = json_parser_steal_root(parser);
	}
	return TRUE;
}

/* the objects of @kind ("rule", "chain") in a JSON listing, in its order */
static GPtrArray *
pm_nft_listing_objects(JsonNode *root, const char *kind)
{
	GPtrArray *objects = g_ptr_array_new_with_free_func((GDestroyNotify)json_object_unref);
	JsonArray *items;

	if (!JSON_NODE_HOLDS_OBJECT(root))
		return objects;
	items = json_object_get_array_member(json_node_get_object(root), "nftables");
	for (guint i = 0; items != NULL && i < json_array_get_length(items); i++) {
		JsonNode *item = json_array_get_element(items, i);
		JsonNode *node;

		if (!JSON_NODE_HOLDS_OBJECT(item))
			continue;
		node = json_object_get_member(json_node_get_object(item), kind);
		if (node != NULL && JSON_NODE_HOLDS_OBJECT(node))
			g_ptr_array_add(objects, json_object_ref(json_node_get_object(node)));
	}
	return objects;
}

static const char *
pm_nft_string_member(JsonObject *object, const char *name)
{
	JsonNode *node = json_object_get_member(object, name);

	if (node == NULL || json_node_get_value_type(node) != G_TYPE_STRING)
		return NULL;
	return json_node_get_string(node);
}

/*
 * The rules of our chain (JSON objects with "handle" and "comment"); an empty array with
 * *@missing when the table or the chain is not there (never created, or removed behind
 * our back by `nft flush ruleset`).
 */
static GPtrArray *
pm_nft_chain_rules(PmRouterNft *self, gboolean *missing, GError **error)
{
	g_autofree char *cmd =
	    g_strdup_printf("list chain ip %s " PM_NFT_CHAIN, self->parent.nft_table);
	g_autoptr(JsonNode) root = NULL;
	g_autoptr(GError) local_error = NULL;

	*missing = FALSE;
	if (!pm_nft_run(self, cmd, TRUE, &root, &local_error)) {
		if (!g_error_matches(local_error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND)) {
			g_propagate_error(error, g_steal_pointer(&local_error));
			return NULL;
		}
		*missing = TRUE;
		g_hash_table_remove_all(self->rules);
		return g_ptr_array_new();
	}
	{
		GPtrArray *rules = pm_nft_listing_objects(root, "rule");
		g_hash_table_remove_all(self->rules);
		for (guint i = 0; i < rules->len; i++) {
			const char *comment = pm_nft_string_member(rules->pdata[i], "comment");
			if (comment != NULL)
				pm_nft_rule_remember(self, comment);
		}
		return rules;
	}
}

/* creating is idempotent, but `add chain` fails on a chain that someone re-created with
 * another priority: it is only sent when the chain is missing */
static void
pm_nft_append_create(PmRouterNft *self, GString *cmd)
{
	g_string_append_printf(cmd,
			       "add table ip %s\n"
			       "add chain ip %s " PM_NFT_CHAIN " { type nat hook prerouting "
			       "priority dstnat; policy accept; }\n",
			       self->parent.nft_table, self->parent.nft_table);
}

static gboolean
pm_nft_ensure_chain(PmRouterNft *self, GError **error)
{
	g_autoptr(GPtrArray) rules = NULL;
	g_autoptr(GString) cmd = g_string_new(NULL);
	gboolean missing;

	rules = pm_nft_chain_rules(self, &missing, error);
	if (rules == NULL)
		return FALSE;
	if (!missing)
		return TRUE;
	pm_nft_append_create(self, cmd);
	return pm_nft_run(self, cmd->str, FALSE, NULL, error);
}

static gboolean
pm_nft_check_rule(const PmRouterRule *rule, GError **error)
{
	if (pm_router_rule_is_valid(rule))
		return TRUE;
	g_set_error(error, PM_ERROR, PM_ERROR_INVALID_ARGS,
		    "nftables: invalid rule (protocol %u, tunnel port %u, client port %u)",
		    rule->protocol, rule->tunnel_port, rule->client_port);
	return FALSE;
}

static void
pm_nft_append_add(PmRouterNft *self, GString *cmd, const PmRouterRule *rule, const char *comment)
{
	guint32 a = g_ntohl(rule->client_address);

	/* every piece validated: the interface and table by init, the rest is numbers */
	g_string_append_printf(cmd,
			       "add rule ip %s " PM_NFT_CHAIN " iifname \"%s\" %s dport %u "
			       "dnat to %u.%u.%u.%u:%u comment \"%s\"\n",
			       self->parent.nft_table, self->parent.in_interface,
			       rule->protocol == PM_PROTOCOL_TCP ? "tcp" : "udp", rule->tunnel_port,
			       a >> 24, (a >> 16) & 0xff, (a >> 8) & 0xff, a & 0xff,
			       rule->client_port, comment);
}

static gboolean
pm_nft_add(PmRouterNft *self, const PmRouterRule *rule, GError **error)
{
	g_autoptr(GString) cmd = g_string_new(NULL);
	g_autoptr(GError) local_error = NULL;
	g_autofree char *comment = NULL;

	if (!pm_nft_check_rule(rule, error))
		return FALSE;
	if (pm_nft_rule_known(self, rule))
		return TRUE;
	comment = pm_router_rule_comment(self->parent.instance, rule);
	pm_nft_append_add(self, cmd, rule, comment);
	if (!pm_nft_run(self, cmd->str, FALSE, NULL, &local_error)) {
		gboolean missing = FALSE;
		g_autoptr(GPtrArray) rules = NULL;
		g_autoptr(GString) retry = g_string_new(NULL);

		if (!g_error_matches(local_error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND)) {
			g_propagate_error(error, g_steal_pointer(&local_error));
			return FALSE;
		}
		/* the table or chain went behind our back (`nft flush ruleset`): again, with
		 * them created in the same transaction; or the rule is there after all */
		rules = pm_nft_chain_rules(self, &missing, error);
		if (rules == NULL)
			return FALSE;
		if (pm_nft_rule_known(self, rule))
			return TRUE;
		if (missing)
			pm_nft_append_create(self, retry);
		g_string_append(retry, cmd->str);
		if (!pm_nft_run(self, retry->str, FALSE, NULL, error))
			return FALSE;
	}
	pm_nft_rule_insert(self, rule);
	return TRUE;
}

/* @first (taken off the queue) and the adds queued right after it, in one transaction;
 * each is answered by its own dispatch later. A transaction the kernel refuses is tried
 * again add by add, so that each gets its own answer */
static void
pm_nft_add_batch(PmRouterNft *self, PmNftOp *first)
{
	g_autoptr(GPtrArray) batch = g_ptr_array_new();
	g_autoptr(GPtrArray) sent = g_ptr_array_new();
	g_autoptr(GString) cmd = g_string_new(NULL);

	g_ptr_array_add(batch, first);
	for (GList *l = self->ops.head; l != NULL && batch->len < PM_NFT_ADD_BATCH; l = l->next) {
		PmNftOp *op = l->data;
		if (op->kind != PM_NFT_OP_ADD)
			break;
		g_ptr_array_add(batch, op);
	}
	for (guint i = 0; i < batch->len; i++) {
		PmNftOp *op = g_ptr_array_index(batch, i);
		g_autofree char *comment = NULL;
		gboolean twice = FALSE;

		op->finished = TRUE;
		if (!pm_nft_check_rule(&op->rule, &op->error) || pm_nft_rule_known(self, &op->rule))
			continue;
		for (guint j = 0; j < sent->len && !twice; j++)
			twice = pm_router_rule_equal(g_ptr_array_index(sent, j), &op->rule);
		if (twice)
			continue;
		comment = pm_router_rule_comment(self->parent.instance, &op->rule);
		pm_nft_append_add(self, cmd, &op->rule, comment);
		g_ptr_array_add(sent, &op->rule);
	}
	if (sent->len == 0)
		return;
	if (sent->len > 1 && pm_nft_run(self, cmd->str, FALSE, NULL, NULL)) {
		for (guint i = 0; i < sent->len; i++)
			pm_nft_rule_insert(self, g_ptr_array_index(sent, i));
		return;
	}
	for (guint i = 0; i < batch->len; i++) {
		PmNftOp *op = g_ptr_array_index(batch, i);
		if (op->error == NULL)
			pm_nft_add(self, &op->rule, &op->error);
	}
}

static gboolean
pm_nft_remove(PmRouterNft *self, const PmRouterRule *rule, GError **error)
{
	g_autoptr(GPtrArray) rules = NULL;
	g_autoptr(GString) cmd = g_string_new(NULL);
	g_autoptr(GError) local_error = NULL;
	g_autofree char *comment = NULL;
	gboolean missing;

	if (!pm_nft_check_rule(rule, error))
		return FALSE;
	comment = pm_router_rule_comment(self->parent.instance, rule);
	rules = pm_nft_chain_rules(self, &missing, error);
	if (rules == NULL)
		return FALSE;
	/* every copy, should someone have added one by hand */
	for (guint i = 0; i < rules->len; i++) {
		JsonObject *object = rules->pdata[i];

		if (g_strcmp0(pm_nft_string_member(object, "comment"), comment) != 0)
			continue;
		g_string_append_printf(cmd, "delete rule ip %s " PM_NFT_CHAIN
				       " handle %" G_GINT64_FORMAT "\n",
				       self->parent.nft_table,
				       json_object_get_int_member_with_default(object, "handle", 0));
	}
	if (pm_nft_rule_known(self, rule))
		g_hash_table_remove(self->rules, pm_nft_rule_key(rule));
	if (cmd->len == 0)
		return TRUE;
	/* gone between the listing and the delete: that is what was asked */
	if (!pm_nft_run(self, cmd->str, FALSE, NULL, &local_error) &&
	    !g_error_matches(local_error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND)) {
		g_propagate_error(error, g_steal_pointer(&local_error));
		return FALSE;
	}
	return TRUE;
}

static GArray *
pm_nft_list(PmRouterNft *self, GError **error)
{
	g_autoptr(GPtrArray) rules = NULL;
	GArray *result;
	gboolean missing;

	rules = pm_nft_chain_rules(self, &missing, error);
	if (rules == NULL)
		return NULL;
	result = g_array_new(FALSE, TRUE, sizeof(PmRouterRule));
	for (guint i = 0; i < rules->len; i++) {
		const char *comment = pm_nft_string_member(rules->pdata[i], "comment");
		g_autofree char *instance = NULL;
		PmRouterRule rule;

		if (!pm_router_rule_parse_comment(comment, &instance, &rule) ||
		    strcmp(instance, self->parent.instance) != 0)
			continue;
		g_array_append_val(result, rule);
	}
	return result;
}

/* ---- the start-up warning: a forward chain that would drop the forwarded mappings ---- */

static gboolean
pm_nft_node_names_dnat(JsonNode *node)
{
	if (node == NULL)
		return FALSE;
	if (json_node_get_value_type(node) == G_TYPE_STRING)
		return g_strcmp0(json_node_get_string(node), "dnat") == 0;
	if (JSON_NODE_HOLDS_ARRAY(node)) {
		JsonArray *array = json_node_get_array(node);
		for (guint i = 0; i < json_array_get_length(array); i++) {
			if (pm_nft_node_names_dnat(json_array_get_element(array, i)))
				return TRUE;
		}
		return FALSE;
	}
	/* `ct status { dnat, snat }` */
	if (JSON_NODE_HOLDS_OBJECT(node))
		return pm_nft_node_names_dnat(
		    json_object_get_member(json_node_get_object(node), "set"));
	return FALSE;
}

/* a match on `ct status dnat` ("==" or "in", dnat alone or in a list) */
static gboolean
pm_nft_expr_matches_ct_dnat(JsonObject *expr)
{
	JsonObject *match, *left, *ct;
	const char *op;

	if (!json_object_has_member(expr, "match") ||
	    !JSON_NODE_HOLDS_OBJECT(json_object_get_member(expr, "match")))
		return FALSE;
	match = json_object_get_object_member(expr, "match");
	op = pm_nft_string_member(match, "op");
	if (g_strcmp0(op, "==") != 0 && g_strcmp0(op, "in") != 0)
		return FALSE;
	if (!json_object_has_member(match, "left") ||
	    !JSON_NODE_HOLDS_OBJECT(json_object_get_member(match, "left")))
		return FALSE;
	left = json_object_get_object_member(match, "left");
	if (!json_object_has_member(left, "ct") ||
	    !JSON_NODE_HOLDS_OBJECT(json_object_get_member(left, "ct")))
		return FALSE;
	ct = json_object_get_object_member(left, "ct");
	return g_strcmp0(pm_nft_string_member(ct, "key"), "status") == 0 &&
	       pm_nft_node_names_dnat(json_object_get_member(match, "right"));
}

static JsonArray *
pm_nft_rule_exprs(JsonObject *rule)
{
	JsonNode *node = json_object_get_member(rule, "expr");

	return node != NULL && JSON_NODE_HOLDS_ARRAY(node) ? json_node_get_array(node) : NULL;
}

/* `ct status dnat [counter ...] accept` */
static gboolean
pm_nft_rule_accepts_dnat(JsonObject *rule)
{
	JsonArray *exprs = pm_nft_rule_exprs(rule);
	gboolean matched = FALSE;

	for (guint i = 0; exprs != NULL && i < json_array_get_length(exprs); i++) {
		JsonNode *node = json_array_get_element(exprs, i);
		JsonObject *expr;

		if (!JSON_NODE_HOLDS_OBJECT(node))
			continue;
		expr = json_node_get_object(node);
		if (pm_nft_expr_matches_ct_dnat(expr))
			matched = TRUE;
		else if (matched && json_object_has_member(expr, "accept"))
			return TRUE;
	}
	return FALSE;
}

static char *
pm_nft_chain_key(const char *family, const char *table, const char *name)
{
	return g_strdup_printf("%s %s %s", family, table, name);
}

/*
 * Whether @key or a chain it jumps to accepts `ct status dnat`: OpenWrt's fw4 does it in
 * forward_wan, which its forward chain jumps to. A jump may be conditional (an input
 * interface): then this says yes for a rule that might not apply, which only spares a
 * warning.
 */
static gboolean
pm_nft_chain_accepts_dnat(GHashTable *chains, const char *family, const char *table,
			  const char *name, GHashTable *visited)
{
	g_autofree char *key = pm_nft_chain_key(family, table, name);
	GPtrArray *rules = g_hash_table_lookup(chains, key);

	if (rules == NULL || g_hash_table_contains(visited, key))
		return FALSE;
	g_hash_table_add(visited, g_steal_pointer(&key));
	for (guint i = 0; i < rules->len; i++) {
		JsonArray *exprs = pm_nft_rule_exprs(rules->pdata[i]);

		if (pm_nft_rule_accepts_dnat(rules->pdata[i]))
			return TRUE;
		for (guint j = 0; exprs != NULL && j < json_array_get_length(exprs); j++) {
			JsonNode *node = json_array_get_element(exprs, j);
			JsonObject *expr, *verdict;

			if (!JSON_NODE_HOLDS_OBJECT(node))
				continue;
			expr = json_node_get_object(node);
			for (guint k = 0; k < 2; k++) {
				const char *kind = k == 0 ? "jump" : "goto";
				JsonNode *v = json_object_get_member(expr, kind);
				const char *target;

				if (v == NULL || !JSON_NODE_HOLDS_OBJECT(v))
					continue;
				verdict = json_node_get_object(v);
				target = pm_nft_string_member(verdict, "target");
				if (target != NULL &&
				    pm_nft_chain_accepts_dnat(chains, family, table, target, visited))
					return TRUE;
			}
		}
	}
	return FALSE;
}

static void
pm_nft_warn_forward_policy(PmRouterNft *self)
{
	g_autoptr(JsonNode) root = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) chains = NULL;
	g_autoptr(GPtrArray) rules = NULL;
	g_autoptr(GHashTable) by_chain = NULL;

	if (!pm_nft_run(self, "list ruleset", TRUE, &root, &error)) {
		g_debug("%s; not checking the forward chains", error->message);
		return;
	}
	chains = pm_nft_listing_objects(root, "chain");
	rules = pm_nft_listing_objects(root, "rule");
	by_chain = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
					 (GDestroyNotify)g_ptr_array_unref);
	for (guint i = 0; i < chains->len; i++) {
		JsonObject *chain = chains->pdata[i];
		g_hash_table_insert(by_chain,
				    pm_nft_chain_key(pm_nft_string_member(chain, "family"),
						     pm_nft_string_member(chain, "table"),
						     pm_nft_string_member(chain, "name")),
				    g_ptr_array_new());
	}
	for (guint i = 0; i < rules->len; i++) {
		JsonObject *rule = rules->pdata[i];
		g_autofree char *key = pm_nft_chain_key(pm_nft_string_member(rule, "family"),
							pm_nft_string_member(rule, "table"),
							pm_nft_string_member(rule, "chain"));
		GPtrArray *chain_rules = g_hash_table_lookup(by_chain, key);

		/* borrowed from @rules, which outlives the table */
		if (chain_rules != NULL)
			g_ptr_array_add(chain_rules, rule);
	}

	for (guint i = 0; i < chains->len; i++) {
		JsonObject *chain = chains->pdata[i];
		const char *family = pm_nft_string_member(chain, "family");
		const char *table = pm_nft_string_member(chain, "table");
		const char *name = pm_nft_string_member(chain, "name");
		g_autoptr(GHashTable) visited = NULL;

		if (g_strcmp0(pm_nft_string_member(chain, "hook"), "forward") != 0 ||
		    g_strcmp0(pm_nft_string_member(chain, "type"), "filter") != 0 ||
		    g_strcmp0(pm_nft_string_member(chain, "policy"), "drop") != 0)
			continue;
		visited = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
		if (pm_nft_chain_accepts_dnat(by_chain, family, table, name, visited))
			continue;
		g_warning("nftables: the forward chain %s %s %s drops by default and does not accept "
			  "`ct status dnat`: the gateway's forwarded mappings would be dropped; add "
			  "`ct status dnat accept` to it (nft insert rule %s %s %s ct status dnat "
			  "accept)",
			  family, table, name, family, table, name);
	}
}

/* ---- the class ---- */

static void pm_nft_dispatch(PmTimer *timer, gpointer user_data);

static gboolean
pm_nft_init(PmRouter *router, GError **error)
{
	PmRouterNft *self = (PmRouterNft *)router;
	g_autoptr(GError) local_error = NULL;

	/* first: finalize runs after a failed init too */
	g_queue_init(&self->ops);
#if GLIB_SIZEOF_VOID_P >= 8
	self->rules = g_hash_table_new(NULL, NULL);
#else
	self->rules = g_hash_table_new_full(NULL, NULL, NULL, g_free);
#endif
	pm_timer_init(&self->timer, pm_nft_dispatch, self);

	/* both go into nft commands: only characters that cannot change their meaning */
	if (!pm_nft_name_is_valid(router->in_interface, "_.@-", PM_NFT_IFNAME_MAX)) {
		g_set_error(error, PM_ERROR, PM_ERROR_INVALID_CONFIGURATION,
			    "Router=nftables needs the VPN-side interface: \"%s\" is not an "
			    "interface name (1 to %d characters of A-Z a-z 0-9 _ . @ -)",
			    router->in_interface != NULL ? router->in_interface : "",
			    PM_NFT_IFNAME_MAX);
		return FALSE;
	}
	if (router->nft_table == NULL || router->nft_table[0] == '\0') {
		g_free(router->nft_table);
		router->nft_table = g_strdup(PM_NFT_DEFAULT_TABLE);
	}
	/* nft's identifiers start with a letter, and a quoted name is not accepted there */
	if (!g_ascii_isalpha(router->nft_table[0]) ||
	    !pm_nft_name_is_valid(router->nft_table, "_.-", PM_NFT_TABLE_MAX)) {
		g_set_error(error, PM_ERROR, PM_ERROR_INVALID_CONFIGURATION,
			    "invalid NftTable=%s: use a letter, then up to %d characters of "
			    "A-Z a-z 0-9 _ . -",
			    router->nft_table, PM_NFT_TABLE_MAX - 1);
		return FALSE;
	}

	self->lib = pm_libnftables_get(error);
	if (self->lib == NULL)
		return FALSE;
	self->nft = self->lib->ctx_new(NFT_CTX_DEFAULT);
	if (self->nft == NULL) {
		g_set_error(error, PM_ERROR, PM_ERROR_FAILED,
			    "nftables: cannot create a libnftables context");
		return FALSE;
	}
	if (self->lib->ctx_buffer_output(self->nft) != 0 ||
	    self->lib->ctx_buffer_error(self->nft) != 0) {
		g_set_error(error, PM_ERROR, PM_ERROR_FAILED,
			    "nftables: cannot buffer libnftables' output");
		return FALSE;
	}

	if (!pm_nft_ensure_chain(self, &local_error)) {
		/* that one says what to do already */
		if (g_error_matches(local_error, PM_ERROR, PM_ERROR_ACCESS_DENIED))
			g_propagate_error(error, g_steal_pointer(&local_error));
		else
			g_propagate_prefixed_error(error, g_steal_pointer(&local_error),
						   "cannot create the chain ip %s " PM_NFT_CHAIN
						   ": ",
						   router->nft_table);
		return FALSE;
	}
	pm_nft_warn_forward_policy(self);
	return TRUE;
}

static void
pm_nft_answer(PmRouterNft *self, PmNftOp *op, GArray *rules, const GError *error)
{
	if (op->kind == PM_NFT_OP_LIST)
		op->list_done(&self->parent, error == NULL ? rules : NULL, error, op->user_data);
	else
		op->done(&self->parent, error, op->user_data);
}

static void
pm_nft_finalize(PmRouter *router)
{
	PmRouterNft *self = (PmRouterNft *)router;
	g_autoptr(GError) cancelled =
	    g_error_new(G_IO_ERROR, G_IO_ERROR_CANCELLED,
			"nftables: the router was stopped before the operation ran");
	PmNftOp *op;

	self->finalizing = TRUE;
	if (pm_timer_is_armed(&self->timer))
		pm_scheduler_disarm(router->scheduler, &self->timer);
	/* until empty: a callback may ask for more, which is answered here too. An add done
	 * in a transaction with an earlier one is answered with what happened */
	while ((op = g_queue_pop_head(&self->ops)) != NULL) {
		pm_nft_answer(self, op, NULL, op->finished ? op->error : cancelled);
		g_clear_error(&op->error);
		g_free(op);
	}
	if (self->nft != NULL)
		self->lib->ctx_free(self->nft);
	g_clear_pointer(&self->rules, g_hash_table_unref);
}

static void
pm_nft_dispatch(PmTimer *timer, gpointer user_data)
{
	PmRouterNft *self = user_data;
	g_autofree PmNftOp *op = g_queue_pop_head(&self->ops);
	g_autoptr(GArray) rules = NULL;
	g_autoptr(GError) error = NULL;

	if (op == NULL)
		return;
	/* before the callback, which may free the router */
	if (!g_queue_is_empty(&self->ops))
		pm_scheduler_arm(self->parent.scheduler, &self->timer,
				 pm_scheduler_now(self->parent.scheduler));
	switch (op->kind) {
	case PM_NFT_OP_ADD:
		if (!op->finished)
			pm_nft_add_batch(self, op);
		error = g_steal_pointer(&op->error);
		break;
	case PM_NFT_OP_REMOVE:
		pm_nft_remove(self, &op->rule, &error);
		break;
	case PM_NFT_OP_LIST:
		rules = pm_nft_list(self, &error);
		break;
	}
	pm_nft_answer(self, op, rules, error);
}

/* libnftables answers in microseconds, in process: the work and the answer both wait for
 * the main loop, so that no callback runs inside the call and a router freed meanwhile
 * has done nothing it did not report */
static void
pm_nft_queue(PmRouterNft *self, PmNftOp *op)
{
	g_queue_push_tail(&self->ops, op);
	if (self->finalizing)
		return;
	if (!pm_timer_is_armed(&self->timer))
		pm_scheduler_arm(self->parent.scheduler, &self->timer,
				 pm_scheduler_now(self->parent.scheduler));
}

static void
pm_nft_add_rule(PmRouter *router, const PmRouterRule *rule, PmRouterDoneFunc done,
		gpointer user_data)
{
	PmNftOp *op = g_new0(PmNftOp, 1);

	op->kind = PM_NFT_OP_ADD;
	op->rule = *rule;
	op->done = done;
	op->user_data = user_data;
	pm_nft_queue((PmRouterNft *)router, op);
}

static void
pm_nft_remove_rule(PmRouter *router, const PmRouterRule *rule, PmRouterDoneFunc done,
		   gpointer user_data)
{
	PmNftOp *op = g_new0(PmNftOp, 1);

	op->kind = PM_NFT_OP_REMOVE;
	op->rule = *rule;
	op->done = done;
	op->user_data = user_data;
	pm_nft_queue((PmRouterNft *)router, op);
}

static void
pm_nft_list_rules(PmRouter *router, PmRouterListFunc done, gpointer user_data)
{
	PmNftOp *op = g_new0(PmNftOp, 1);

	op->kind = PM_NFT_OP_LIST;
	op->list_done = done;
	op->user_data = user_data;
	pm_nft_queue((PmRouterNft *)router, op);
}

const PmRouterClass pm_router_nftables_class = {
    .type = "nftables",
    .object_size = sizeof(PmRouterNft),
    .init = pm_nft_init,
    .finalize = pm_nft_finalize,
    .add_rule = pm_nft_add_rule,
    .remove_rule = pm_nft_remove_rule,
    .list_rules = pm_nft_list_rules,
};
