/* SPDX-License-Identifier: GPL-2.0-or-later */
#define G_LOG_DOMAIN "portmap-applet"
#include "pm-applet-model.h"

#include <glib/gi18n.h>
#include <string.h>

#define BUS_NAME      "org.portmap.Manager"
#define MANAGER_PATH  "/org/portmap/Manager"
#define MANAGER_IFACE "org.portmap.Manager"
#define MAPPING_IFACE "org.portmap.Mapping"

/* a last error longer than this is cut in the menu (the About window has it whole) */
#define ERROR_LABEL_MAX_CHARS 100

/* the properties something shows: the others (ExpiresAt, Lifetime...) change with every
 * renewal and wake nothing up */
static const char *const mapping_shown_props[] = {
    "Name",  "Provider",  "Protocols", "InternalPort", "ExternalAddress", "ExternalPort",
    "State", "LastError", "Scope",     "Origin",       "Description",     NULL};
static const char *const manager_shown_props[] = {"Providers", "PublicEndpoint", "NATType", NULL};

struct _PmAppletModel {
	GObject parent_instance;
	guint watch_id;
	/* the watch has said whether portmapd is there (and if it is, it has been read) */
	gboolean answered;

	/* one appearance of the name: made when it gets an owner, dropped when it loses it */
	GCancellable *cancellable;
	GDBusObjectManager *object_manager;
	GDBusProxy *manager;
	guint pending;      /* of the two above, those still initialising */
	gboolean populated; /* both read: events from now on are news */
	char *read_error;   /* why this appearance could not be read; NULL if it could */

	GPtrArray *mappings; /* of PmAppletMapping, in creation order */
	GPtrArray *providers;
	char *public_endpoint;
	char *nat_type;
	/* names of mappings whose failure needs no telling: told already, or failed when
	 * portmapd appeared; kept across appearances, forgotten once a mapping is active */
	GHashTable *failed_names;

	/* what the view shows, recomputed from an idle */
	PmAppletIconState icon_state;
	char *title;
	GPtrArray *menu;
	char *fingerprint;
	guint update_id;
};

G_DEFINE_TYPE(PmAppletModel, pm_applet_model, G_TYPE_OBJECT)

enum { SIGNAL_CHANGED, SIGNAL_PORT_CHANGED, SIGNAL_MAPPING_FAILED, SIGNAL_LAST };
static guint signals[SIGNAL_LAST] = {0};

/* ---- the daemon's words, translated ---- */

typedef struct {
	const char *word;
	const char *label;
} Word;

static const Word mapping_states[] = {
    {"requesting", NC_("mapping state", "requesting")},
    {"active", NC_("mapping state", "active")},
    {"renewing", NC_("mapping state", "renewing")},
    {"retrying", NC_("mapping state", "retrying")},
    {"degraded", NC_("mapping state", "degraded")},
    {"failed", NC_("mapping state", "failed")},
};

static const Word provider_states[] = {
    {"ready", NC_("provider state", "ready")},
    {"degraded", NC_("provider state", "degraded")},
    {"failed", NC_("provider state", "failed")},
};

static const Word nat_types[] = {
    /* TRANSLATORS: the NAT type found by STUN: the host has a public address */
    {"none", NC_("NAT type", "no NAT")},
    /* TRANSLATORS: the NAT type found by STUN (endpoint-independent mapping) */
    {"full_cone", NC_("NAT type", "full cone")},
    {"symmetric", NC_("NAT type", "symmetric")},
    {"unknown", NC_("NAT type", "unknown")},
};

static const char *
word_to_label(const Word *words, gsize n_words, const char *context, const char *word)
{
	for (gsize i = 0; i < n_words; i++) {
		if (g_strcmp0(words[i].word, word) == 0)
			return g_dpgettext2(GETTEXT_PACKAGE, context, words[i].label);
	}
	/* a word of a newer portmapd: shown as it is */
	return word != NULL ? word : "";
}

const char *
pm_applet_mapping_state_to_label(const char *state)
{
	return word_to_label(mapping_states, G_N_ELEMENTS(mapping_states), "mapping state", state);
}

const char *
pm_applet_provider_state_to_label(const char *state)
{
	return word_to_label(provider_states, G_N_ELEMENTS(provider_states), "provider state",
			     state);
}

const char *
pm_applet_nat_type_to_label(const char *nat_type)
{
	return word_to_label(nat_types, G_N_ELEMENTS(nat_types), "NAT type", nat_type);
}

const char *
pm_applet_model_icon_state_to_string(PmAppletIconState state)
{
	switch (state) {
	case PM_APPLET_ICON_STATE_OK:
		return "ok";
	case PM_APPLET_ICON_STATE_WARNING:
		return "warning";
	case PM_APPLET_ICON_STATE_ABSENT:
	default:
		return "absent";
	}
}

/* ---- mappings, providers and menu items ---- */

void
pm_applet_mapping_free(PmAppletMapping *m)
{
	if (m == NULL)
		return;
	g_free(m->path);
	g_free(m->name);
	g_free(m->provider);
	g_strfreev(m->protocols);
	g_free(m->external_address);
	g_free(m->state);
	g_free(m->last_error);
	g_free(m->scope);
	g_free(m->origin);
	g_free(m->description);
	g_free(m->label);
	g_free(m->error_label);
	g_free(m->copy_text);
	g_free(m);
}

void
pm_applet_provider_free(PmAppletProvider *p)
{
	if (p == NULL)
		return;
	g_free(p->name);
	g_free(p->type);
	g_free(p->state);
	g_free(p->external_address);
	g_free(p->last_error);
	g_free(p->label);
	g_free(p);
}

void
pm_applet_item_free(PmAppletItem *item)
{
	if (item == NULL)
		return;
	g_free(item->label);
	g_free(item->target);
	if (item->children != NULL)
		g_ptr_array_unref(item->children);
	g_free(item);
}

static GPtrArray *
items_new(void)
{
	return g_ptr_array_new_with_free_func((GDestroyNotify)pm_applet_item_free);
}

static PmAppletItem *
item_add(GPtrArray *items, PmAppletItemKind kind, const char *label, PmAppletAction action,
	 const char *target, gboolean sensitive)
{
	PmAppletItem *item = g_new0(PmAppletItem, 1);
	item->kind = kind;
	item->label = g_strdup(label);
	item->action = action;
	item->target = g_strdup(target);
	item->sensitive = sensitive;
	g_ptr_array_add(items, item);
	return item;
}

static void
item_add_text(GPtrArray *items, const char *label)
{
	item_add(items, PM_APPLET_ITEM_TEXT, label, PM_APPLET_ACTION_NONE, NULL, FALSE);
}

static void
item_add_separator(GPtrArray *items)
{
	PmAppletItem *last;

	/* never first, never two in a row */
	if (items->len == 0)
		return;
	last = g_ptr_array_index(items, items->len - 1);
	if (last->kind == PM_APPLET_ITEM_SEPARATOR)
		return;
	item_add(items, PM_APPLET_ITEM_SEPARATOR, NULL, PM_APPLET_ACTION_NONE, NULL, FALSE);
}

/* "1.2.3.4:80", "[2001:db8::1]:80", or "80" without an address */
char *
pm_applet_format_address_port(const char *address, guint16 port)
{
	if (address == NULL || address[0] == '\0')
		return g_strdup_printf("%u", port);
	if (strchr(address, ':') != NULL)
		return g_strdup_printf("[%s]:%u", address, port);
	return g_strdup_printf("%s:%u", address, port);
}

/* an error for the menu: one line, at most ERROR_LABEL_MAX_CHARS characters */
static char *
error_label(const char *error)
{
	g_autofree char *line = g_strdup(error);
	glong len;

	g_strdelimit(line, "\r\n\t", ' ');
	len = g_utf8_strlen(line, -1);
	if (len > ERROR_LABEL_MAX_CHARS) {
		g_autofree char *cut = g_utf8_substring(line, 0, ERROR_LABEL_MAX_CHARS - 1);
		return g_strconcat("    ", cut, "…", NULL);
	}
	return g_strconcat("    ", line, NULL);
}

static char *
protocols_label(char **protocols)
{
	if (protocols == NULL || protocols[0] == NULL)
		return g_strdup("?");
	return g_strjoinv("+", protocols);
}

static void
mapping_update_labels(PmAppletMapping *m)
{
	g_autofree char *protocols = protocols_label(m->protocols);
	const char *state = pm_applet_mapping_state_to_label(m->state);

	g_clear_pointer(&m->label, g_free);
	g_clear_pointer(&m->error_label, g_free);
	g_clear_pointer(&m->copy_text, g_free);
	if (m->external_port != 0) {
		m->copy_text = pm_applet_format_address_port(m->external_address, m->external_port);
		/* TRANSLATORS: a mapping in the tray menu: its name, protocols ("tcp", "udp" or
		 * "tcp+udp"), internal port, external address:port and state, for example
		 * "web  tcp 8080 → 203.0.113.5:40001  active" */
		m->label = g_strdup_printf(_("%s  %s %u → %s  %s"), m->name, protocols,
					   m->internal_port, m->copy_text, state);
	} else {
		/* TRANSLATORS: a mapping in the tray menu before it has an external port: its
		 * name, protocols, internal port and state, for example
		 * "web  tcp 8080  requesting" */
		m->label = g_strdup_printf(_("%s  %s %u  %s"), m->name, protocols, m->internal_port,
					   state);
	}
	if (m->last_error != NULL && m->last_error[0] != '\0')
		m->error_label = error_label(m->last_error);
}

static void
provider_update_label(PmAppletProvider *p)
{
	const char *state = pm_applet_provider_state_to_label(p->state);

	g_free(p->label);
	if (p->external_address[0] != '\0') {
		/* TRANSLATORS: a provider in the tray menu: its name, type ("natpmp",
		 * "natpmp-http" or "pia"), state and external address, for example
		 * "lab (natpmp): ready, 203.0.113.5" */
		p->label = g_strdup_printf(_("%s (%s): %s, %s"), p->name, p->type, state,
					   p->external_address);
	} else {
		/* TRANSLATORS: a provider in the tray menu: its name, type and state, for
		 * example "lab (natpmp): degraded" */
		p->label = g_strdup_printf(_("%s (%s): %s"), p->name, p->type, state);
	}
}

/* N of /org/portmap/Manager/mapping/N: creation order (never reused while portmapd runs) */
static guint64
mapping_path_number(const char *path)
{
	const char *slash = strrchr(path, '/');
	return g_ascii_strtoull(slash != NULL ? slash + 1 : path, NULL, 10);
}

static gint
mapping_compare(gconstpointer a, gconstpointer b)
{
	const PmAppletMapping *ma = *(PmAppletMapping *const *)a;
	const PmAppletMapping *mb = *(PmAppletMapping *const *)b;
	guint64 na = mapping_path_number(ma->path);
	guint64 nb = mapping_path_number(mb->path);
	if (na != nb)
		return na < nb ? -1 : 1;
	return g_strcmp0(ma->path, mb->path);
}

static PmAppletMapping *
find_mapping(PmAppletModel *self, const char *path, guint *index)
{
	for (guint i = 0; i < self->mappings->len; i++) {
		PmAppletMapping *m = g_ptr_array_index(self->mappings, i);
		if (g_strcmp0(m->path, path) == 0) {
			if (index != NULL)
				*index = i;
			return m;
		}
	}
	return NULL;
}

PmAppletMapping *
pm_applet_model_get_mapping(PmAppletModel *self, const char *path)
{
	g_return_val_if_fail(PM_IS_APPLET_MODEL(self), NULL);
	return find_mapping(self, path, NULL);
}

/* ---- reading the proxies ---- */

static char *
cached_string(GDBusProxy *proxy, const char *name)
{
	g_autoptr(GVariant) value = g_dbus_proxy_get_cached_property(proxy, name);
	if (value == NULL || !g_variant_is_of_type(value, G_VARIANT_TYPE_STRING))
		return g_strdup("");
	return g_variant_dup_string(value, NULL);
}

static guint16
cached_port(GDBusProxy *proxy, const char *name)
{
	g_autoptr(GVariant) value = g_dbus_proxy_get_cached_property(proxy, name);
	if (value == NULL || !g_variant_is_of_type(value, G_VARIANT_TYPE_UINT16))
		return 0;
	return g_variant_get_uint16(value);
}

static char **
cached_strv(GDBusProxy *proxy, const char *name)
{
	g_autoptr(GVariant) value = g_dbus_proxy_get_cached_property(proxy, name);
	if (value == NULL || !g_variant_is_of_type(value, G_VARIANT_TYPE_STRING_ARRAY))
		return g_new0(char *, 1);
	return g_variant_dup_strv(value, NULL);
}

static void
mapping_read(PmAppletMapping *m, GDBusProxy *proxy)
{
	g_free(m->name);
	m->name = cached_string(proxy, "Name");
	g_free(m->provider);
	m->provider = cached_string(proxy, "Provider");
	g_strfreev(m->protocols);
	m->protocols = cached_strv(proxy, "Protocols");
	m->internal_port = cached_port(proxy, "InternalPort");
	g_free(m->external_address);
	m->external_address = cached_string(proxy, "ExternalAddress");
	m->external_port = cached_port(proxy, "ExternalPort");
	g_free(m->state);
	m->state = cached_string(proxy, "State");
	g_free(m->last_error);
	m->last_error = cached_string(proxy, "LastError");
	g_free(m->scope);
	m->scope = cached_string(proxy, "Scope");
	g_free(m->origin);
	m->origin = cached_string(proxy, "Origin");
	g_free(m->description);
	m->description = cached_string(proxy, "Description");
	mapping_update_labels(m);
}

static void
manager_read(PmAppletModel *self)
{
	g_autoptr(GVariant) providers = NULL;

	g_ptr_array_set_size(self->providers, 0);
	g_free(self->public_endpoint);
	g_free(self->nat_type);
	if (self->manager == NULL) {
		self->public_endpoint = g_strdup("");
		self->nat_type = g_strdup("");
		return;
	}
	self->public_endpoint = cached_string(self->manager, "PublicEndpoint");
	self->nat_type = cached_string(self->manager, "NATType");
	providers = g_dbus_proxy_get_cached_property(self->manager, "Providers");
	if (providers != NULL && g_variant_is_of_type(providers, G_VARIANT_TYPE("a(sssss)"))) {
		GVariantIter iter;
		const char *name, *type, *state, *address, *error;

		g_variant_iter_init(&iter, providers);
		while (g_variant_iter_next(&iter, "(&s&s&s&s&s)", &name, &type, &state, &address,
					   &error)) {
			PmAppletProvider *p = g_new0(PmAppletProvider, 1);
			p->name = g_strdup(name);
			p->type = g_strdup(type);
			p->state = g_strdup(state);
			p->external_address = g_strdup(address);
			p->last_error = g_strdup(error);
			provider_update_label(p);
			g_ptr_array_add(self->providers, p);
		}
	}
}

/* ---- what the view shows ---- */

static gboolean
mapping_is_active(const PmAppletMapping *m)
{
	return g_strcmp0(m->state, "active") == 0;
}

static char *
make_title(PmAppletModel *self, guint n_inactive, guint n_unready)
{
	if (!self->answered)
		return g_strdup(_("Connecting to portmapd…"));
	if (self->read_error != NULL)
		return g_strdup_printf(_("Cannot read portmapd's state: %s"), self->read_error);
	if (!self->populated)
		return g_strdup(_("portmapd is not running"));
	if (n_inactive > 0) {
		/* TRANSLATORS: the tray's status line: how many mappings are not active (in
		 * any other state: requesting, retrying, failed...), of how many */
		return g_strdup_printf(_("Mappings not active: %u of %u"), n_inactive,
				       self->mappings->len);
	}
	if (n_unready > 0) {
		return g_strdup_printf(
		    ngettext("%u provider is not ready", "%u providers are not ready", n_unready),
		    n_unready);
	}
	if (self->mappings->len == 0)
		return g_strdup(_("No port mappings"));
	return g_strdup_printf(
	    ngettext("%u mapping active", "All %u mappings active", self->mappings->len),
	    self->mappings->len);
}

static GPtrArray *
make_menu(PmAppletModel *self)
{
	GPtrArray *menu = items_new();
	GPtrArray *removable = items_new();
	gboolean present = self->populated;

	item_add_text(menu, self->title);
	item_add_separator(menu);
	for (guint i = 0; i < self->mappings->len; i++) {
		PmAppletMapping *m = g_ptr_array_index(self->mappings, i);
		g_autofree char *protocols = protocols_label(m->protocols);

		item_add(menu, PM_APPLET_ITEM_ACTION, m->label, PM_APPLET_ACTION_COPY, m->copy_text,
			 m->copy_text != NULL);
		if (m->error_label != NULL)
			item_add_text(menu, m->error_label);
		/* a configuration mapping goes with its [Mapping NAME] section, not from here */
		if (g_strcmp0(m->origin, "config") != 0) {
			/* TRANSLATORS: a mapping in the "Remove mapping" submenu: its name,
			 * protocols and internal port, for example "game (udp 27015)" */
			g_autofree char *label =
			    g_strdup_printf(_("%s (%s %u)"), m->name, protocols, m->internal_port);
			item_add(removable, PM_APPLET_ITEM_ACTION, label, PM_APPLET_ACTION_REMOVE,
				 m->path, TRUE);
		}
	}
	item_add_separator(menu);
	for (guint i = 0; i < self->providers->len; i++) {
		PmAppletProvider *p = g_ptr_array_index(self->providers, i);
		item_add_text(menu, p->label);
		if (g_strcmp0(p->state, "ready") != 0 && p->last_error[0] != '\0') {
			g_autofree char *label = error_label(p->last_error);
			item_add_text(menu, label);
		}
	}
	/* STUN: only once it has found something (NATType is "unknown" without [STUN]) */
	if (present && self->public_endpoint[0] != '\0') {
		g_autofree char *endpoint = NULL;
		item_add_separator(menu);
		endpoint = g_strdup_printf(_("Public endpoint: %s"), self->public_endpoint);
		item_add_text(menu, endpoint);
		if (self->nat_type[0] != '\0') {
			g_autofree char *nat = g_strdup_printf(
			    _("NAT type: %s"), pm_applet_nat_type_to_label(self->nat_type));
			item_add_text(menu, nat);
		}
	}
	item_add_separator(menu);
	item_add(menu, PM_APPLET_ITEM_ACTION, _("Refresh now"), PM_APPLET_ACTION_REFRESH, NULL,
		 present);
	item_add(menu, PM_APPLET_ITEM_ACTION, _("Add mapping…"), PM_APPLET_ACTION_ADD, NULL,
		 present);
	{
		PmAppletItem *sub =
		    item_add(menu, PM_APPLET_ITEM_SUBMENU, _("Remove mapping"),
			     PM_APPLET_ACTION_NONE, NULL, present && removable->len > 0);
		sub->children = g_steal_pointer(&removable);
	}
	item_add(menu, PM_APPLET_ITEM_ACTION, _("About this configuration…"),
		 PM_APPLET_ACTION_ABOUT, NULL, present);
	item_add_separator(menu);
	item_add(menu, PM_APPLET_ITEM_ACTION, _("Quit"), PM_APPLET_ACTION_QUIT, NULL, TRUE);
	return menu;
}

static void
fingerprint_items(GString *out, GPtrArray *items)
{
	for (guint i = 0; i < items->len; i++) {
		PmAppletItem *item = g_ptr_array_index(items, i);
		g_string_append_printf(out, "%d\x1f%s\x1f%d\x1f%s\x1f%d\x1e", item->kind,
				       item->label != NULL ? item->label : "", item->action,
				       item->target != NULL ? item->target : "", item->sensitive);
		if (item->children != NULL) {
			g_string_append_c(out, '{');
			fingerprint_items(out, item->children);
			g_string_append_c(out, '}');
		}
	}
}

/* recomputes what the view shows; TRUE if it differs from what it showed */
static gboolean
update(PmAppletModel *self)
{
	guint n_inactive = 0;
	guint n_unready = 0;
	g_autoptr(GString) fingerprint = g_string_new(NULL);

	for (guint i = 0; i < self->mappings->len; i++) {
		if (!mapping_is_active(g_ptr_array_index(self->mappings, i)))
			n_inactive++;
	}
	for (guint i = 0; i < self->providers->len; i++) {
		PmAppletProvider *p = g_ptr_array_index(self->providers, i);
		if (g_strcmp0(p->state, "ready") != 0)
			n_unready++;
	}
	if (!self->populated)
		self->icon_state = PM_APPLET_ICON_STATE_ABSENT;
	else if (n_inactive > 0 || n_unready > 0)
		self->icon_state = PM_APPLET_ICON_STATE_WARNING;
	else
		self->icon_state = PM_APPLET_ICON_STATE_OK;
	g_free(self->title);
	self->title = make_title(self, n_inactive, n_unready);
	g_clear_pointer(&self->menu, g_ptr_array_unref);
	self->menu = make_menu(self);

	g_string_append_printf(fingerprint, "%d\x1d%s\x1d", self->icon_state, self->title);
	fingerprint_items(fingerprint, self->menu);
	if (g_strcmp0(fingerprint->str, self->fingerprint) == 0)
		return FALSE;
	g_free(self->fingerprint);
	self->fingerprint = g_string_free(g_steal_pointer(&fingerprint), FALSE);
	return TRUE;
}

static gboolean
update_cb(gpointer user_data)
{
	PmAppletModel *self = user_data;
	self->update_id = 0;
	if (update(self))
		g_signal_emit(self, signals[SIGNAL_CHANGED], 0);
	return G_SOURCE_REMOVE;
}

/* one "changed" for a burst: the bus messages that came together are all handled (at
 * G_PRIORITY_DEFAULT) before this idle runs */
static void
schedule_update(PmAppletModel *self)
{
	if (self->update_id == 0)
		self->update_id = g_idle_add_full(G_PRIORITY_DEFAULT_IDLE, update_cb, self, NULL);
}

/* ---- following the daemon ---- */

static void
mapping_state_changed(PmAppletModel *self, PmAppletMapping *m, const char *old_state)
{
	if (g_strcmp0(m->state, "active") == 0) {
		g_hash_table_remove(self->failed_names, m->name);
		return;
	}
	if (g_strcmp0(m->state, "failed") != 0 || g_strcmp0(old_state, "failed") == 0)
		return;
	if (g_hash_table_contains(self->failed_names, m->name))
		return;
	g_hash_table_add(self->failed_names, g_strdup(m->name));
	if (self->populated)
		g_signal_emit(self, signals[SIGNAL_MAPPING_FAILED], 0, m->name, m->last_error);
}

static void
mapping_added(PmAppletModel *self, GDBusObject *object)
{
	g_autoptr(GDBusInterface) iface = g_dbus_object_get_interface(object, MAPPING_IFACE);
	const char *path = g_dbus_object_get_object_path(object);
	PmAppletMapping *m;

	if (iface == NULL || !G_IS_DBUS_PROXY(iface))
		return;
	m = find_mapping(self, path, NULL);
	if (m == NULL) {
		m = g_new0(PmAppletMapping, 1);
		m->path = g_strdup(path);
		g_ptr_array_add(self->mappings, m);
		g_ptr_array_sort(self->mappings, mapping_compare);
	}
	mapping_read(m, G_DBUS_PROXY(iface));
	mapping_state_changed(self, m, NULL);
}

static void
object_added_cb(GDBusObjectManager *manager, GDBusObject *object, gpointer user_data)
{
	PmAppletModel *self = user_data;
	mapping_added(self, object);
	schedule_update(self);
}

static void
object_removed_cb(GDBusObjectManager *manager, GDBusObject *object, gpointer user_data)
{
	PmAppletModel *self = user_data;
	guint index;
	PmAppletMapping *m = find_mapping(self, g_dbus_object_get_object_path(object), &index);

	if (m == NULL)
		return;
	/* gone: a new mapping of that name that fails is news */
	g_hash_table_remove(self->failed_names, m->name);
	g_ptr_array_remove_index(self->mappings, index);
	schedule_update(self);
}

static gboolean
changes_any(GVariant *changed, const char *const *invalidated, const char *const *names)
{
	for (guint i = 0; names[i] != NULL; i++) {
		g_autoptr(GVariant) value = g_variant_lookup_value(changed, names[i], NULL);
		if (value != NULL)
			return TRUE;
		if (invalidated != NULL && g_strv_contains(invalidated, names[i]))
			return TRUE;
	}
	return FALSE;
}

static void
interface_properties_changed_cb(GDBusObjectManagerClient *manager, GDBusObjectProxy *object_proxy,
				GDBusProxy *interface_proxy, GVariant *changed,
				const char *const *invalidated, gpointer user_data)
{
	PmAppletModel *self = user_data;
	PmAppletMapping *m;
	g_autofree char *old_state = NULL;

	if (g_strcmp0(g_dbus_proxy_get_interface_name(interface_proxy), MAPPING_IFACE) != 0)
		return;
	if (!changes_any(changed, invalidated, mapping_shown_props))
		return;
	m = find_mapping(self, g_dbus_proxy_get_object_path(interface_proxy), NULL);
	if (m == NULL) {
		mapping_added(self, G_DBUS_OBJECT(object_proxy));
		schedule_update(self);
		return;
	}
	old_state = g_steal_pointer(&m->state);
	mapping_read(m, interface_proxy);
	mapping_state_changed(self, m, old_state);
	schedule_update(self);
}

static void
manager_properties_changed_cb(GDBusProxy *proxy, GVariant *changed, const char *const *invalidated,
			      gpointer user_data)
{
	PmAppletModel *self = user_data;
	if (!changes_any(changed, invalidated, manager_shown_props))
		return;
	manager_read(self);
	schedule_update(self);
}

static void
manager_signal_cb(GDBusProxy *proxy, const char *sender, const char *signal_name,
		  GVariant *parameters, gpointer user_data)
{
	PmAppletModel *self = user_data;

	if (g_strcmp0(signal_name, "PortChanged") == 0 &&
	    g_variant_is_of_type(parameters, G_VARIANT_TYPE("(oqq)"))) {
		const char *path;
		guint16 old_port, new_port;
		PmAppletMapping *m;

		g_variant_get(parameters, "(&oqq)", &path, &old_port, &new_port);
		m = find_mapping(self, path, NULL);
		if (m != NULL && self->populated)
			g_signal_emit(self, signals[SIGNAL_PORT_CHANGED], 0, m->name,
				      m->external_address, (guint)old_port, (guint)new_port);
	} else if (g_strcmp0(signal_name, "EndpointChanged") == 0 &&
		   g_variant_is_of_type(parameters, G_VARIANT_TYPE("(ss)"))) {
		/* PropertiesChanged says it too, later: show it now */
		g_free(self->public_endpoint);
		g_free(self->nat_type);
		g_variant_get(parameters, "(ss)", &self->public_endpoint, &self->nat_type);
		schedule_update(self);
	}
}

static void
appearance_clear(PmAppletModel *self)
{
	if (self->cancellable != NULL) {
		g_cancellable_cancel(self->cancellable);
		g_clear_object(&self->cancellable);
	}
	if (self->object_manager != NULL) {
		g_signal_handlers_disconnect_by_data(self->object_manager, self);
		g_clear_object(&self->object_manager);
	}
	if (self->manager != NULL) {
		g_signal_handlers_disconnect_by_data(self->manager, self);
		g_clear_object(&self->manager);
	}
	self->pending = 0;
	self->populated = FALSE;
	g_clear_pointer(&self->read_error, g_free);
	g_ptr_array_set_size(self->mappings, 0);
	manager_read(self);
}

static void
appearance_read(PmAppletModel *self)
{
	GList *objects;

	if (self->pending > 0)
		return;
	/* the mappings of this appearance as they are: not news */
	objects = g_dbus_object_manager_get_objects(self->object_manager);
	for (GList *l = objects; l != NULL; l = l->next)
		mapping_added(self, l->data);
	g_list_free_full(objects, g_object_unref);
	manager_read(self);
	self->populated = TRUE;
	self->answered = TRUE;
	schedule_update(self);
}

static void
appearance_failed(PmAppletModel *self, const GError *error)
{
	g_warning("cannot read portmapd's state: %s", error->message);
	appearance_clear(self);
	self->read_error = g_strdup(error->message);
	self->answered = TRUE;
	schedule_update(self);
}

static void
object_manager_ready_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
	g_autoptr(GError) error = NULL;
	GDBusObjectManager *manager = g_dbus_object_manager_client_new_finish(result, &error);
	PmAppletModel *self = user_data; /* alive unless cancelled */

	if (manager == NULL) {
		if (!g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
			appearance_failed(self, error);
		return;
	}
	self->object_manager = manager;
	g_signal_connect(manager, "object-added", G_CALLBACK(object_added_cb), self);
	g_signal_connect(manager, "object-removed", G_CALLBACK(object_removed_cb), self);
	g_signal_connect(manager, "interface-proxy-properties-changed",
			 G_CALLBACK(interface_properties_changed_cb), self);
	self->pending--;
	appearance_read(self);
}

static void
manager_ready_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
	g_autoptr(GError) error = NULL;
	GDBusProxy *proxy = g_dbus_proxy_new_finish(result, &error);
	PmAppletModel *self = user_data; /* alive unless cancelled */

	if (proxy == NULL) {
		if (!g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
			appearance_failed(self, error);
		return;
	}
	self->manager = proxy;
	g_signal_connect(proxy, "g-properties-changed", G_CALLBACK(manager_properties_changed_cb),
			 self);
	g_signal_connect(proxy, "g-signal", G_CALLBACK(manager_signal_cb), self);
	self->pending--;
	appearance_read(self);
}

static void
name_appeared_cb(GDBusConnection *connection, const char *name, const char *owner,
		 gpointer user_data)
{
	PmAppletModel *self = user_data;

	g_debug("%s appeared as %s", name, owner);
	appearance_clear(self);
	self->cancellable = g_cancellable_new();
	self->pending = 2;
	/* made afresh for each owner, asynchronously: GLib 2.74's object manager client would
	 * otherwise fetch a returning owner's objects with a synchronous call */
	g_dbus_object_manager_client_new(
	    connection, G_DBUS_OBJECT_MANAGER_CLIENT_FLAGS_DO_NOT_AUTO_START, BUS_NAME,
	    MANAGER_PATH, NULL, NULL, NULL, self->cancellable, object_manager_ready_cb, self);
	g_dbus_proxy_new(connection, G_DBUS_PROXY_FLAGS_DO_NOT_AUTO_START, NULL, BUS_NAME,
			 MANAGER_PATH, MANAGER_IFACE, self->cancellable, manager_ready_cb, self);
}

static void
name_vanished_cb(GDBusConnection *connection, const char *name, gpointer user_data)
{
	PmAppletModel *self = user_data;

	g_debug("%s vanished%s", name, connection == NULL ? " (no system bus)" : "");
	appearance_clear(self);
	self->answered = TRUE;
	schedule_update(self);
}

/* ---- calls ---- */

static void
call_done_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
	g_autoptr(GTask) task = user_data;
	g_autoptr(GError) error = NULL;
	GVariant *reply = g_dbus_proxy_call_finish(G_DBUS_PROXY(source), result, &error);

	if (reply == NULL) {
		/* the message is the daemon's; the error name stays in the GError's domain */
		g_dbus_error_strip_remote_error(error);
		g_task_return_error(task, g_steal_pointer(&error));
		return;
	}
	g_task_return_pointer(task, reply, (GDestroyNotify)g_variant_unref);
}

/* @parameters is consumed if floating */
static void
call(PmAppletModel *self, const char *method, GVariant *parameters, gboolean mutating,
     GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data,
     gpointer source_tag)
{
	g_autoptr(GTask) task = g_task_new(self, cancellable, callback, user_data);
	g_autoptr(GVariant) params = parameters != NULL ? g_variant_ref_sink(parameters) : NULL;

	g_task_set_source_tag(task, source_tag);
	if (self->manager == NULL || !self->populated) {
		g_task_return_new_error(task, G_IO_ERROR, G_IO_ERROR_NOT_CONNECTED, "%s",
					_("portmapd is not running"));
		return;
	}
	/* a polkit dialog waits for the user, and RefreshAll for the gateways: no timeout
	 * for those (portmapd's exit ends them with an error anyway) */
	g_dbus_proxy_call(
	    self->manager, method, params,
	    mutating ? G_DBUS_CALL_FLAGS_ALLOW_INTERACTIVE_AUTHORIZATION : G_DBUS_CALL_FLAGS_NONE,
	    mutating ? G_MAXINT : -1, cancellable, call_done_cb, g_steal_pointer(&task));
}

static GVariant *
call_finish(PmAppletModel *self, GAsyncResult *result, gpointer source_tag, GError **error)
{
	g_return_val_if_fail(g_task_is_valid(result, self), NULL);
	g_return_val_if_fail(g_task_get_source_tag(G_TASK(result)) == source_tag, NULL);
	return g_task_propagate_pointer(G_TASK(result), error);
}

void
pm_applet_model_refresh_all(PmAppletModel *self, GCancellable *cancellable,
			    GAsyncReadyCallback callback, gpointer user_data)
{
	g_return_if_fail(PM_IS_APPLET_MODEL(self));
	call(self, "RefreshAll", NULL, TRUE, cancellable, callback, user_data,
	     pm_applet_model_refresh_all);
}

gboolean
pm_applet_model_refresh_all_finish(PmAppletModel *self, GAsyncResult *result, GError **error)
{
	g_autoptr(GVariant) reply = call_finish(self, result, pm_applet_model_refresh_all, error);
	return reply != NULL;
}

void
pm_applet_model_add_mapping(PmAppletModel *self, const char *const *protocols,
			    guint16 internal_port, gboolean persistent, GCancellable *cancellable,
			    GAsyncReadyCallback callback, gpointer user_data)
{
	GVariantBuilder options;

	g_return_if_fail(PM_IS_APPLET_MODEL(self));
	g_return_if_fail(protocols != NULL);
	g_variant_builder_init(&options, G_VARIANT_TYPE_VARDICT);
	g_variant_builder_add(&options, "{sv}", "scope",
			      g_variant_new_string(persistent ? "persistent" : "client"));
	call(self, "AddMapping",
	     g_variant_new("(s^asqqua{sv})", "", protocols, internal_port, (guint16)0, (guint32)0,
			   &options),
	     TRUE, cancellable, callback, user_data, pm_applet_model_add_mapping);
}

char *
pm_applet_model_add_mapping_finish(PmAppletModel *self, GAsyncResult *result, GError **error)
{
	g_autoptr(GVariant) reply = call_finish(self, result, pm_applet_model_add_mapping, error);
	char *path = NULL;

	if (reply == NULL)
		return NULL;
	if (!g_variant_is_of_type(reply, G_VARIANT_TYPE("(o)"))) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
			    _("portmapd answered AddMapping with %s, not an object path"),
			    g_variant_get_type_string(reply));
		return NULL;
	}
	g_variant_get(reply, "(o)", &path);
	return path;
}

void
pm_applet_model_remove_mapping(PmAppletModel *self, const char *path, GCancellable *cancellable,
			       GAsyncReadyCallback callback, gpointer user_data)
{
	g_return_if_fail(PM_IS_APPLET_MODEL(self));
	g_return_if_fail(g_variant_is_object_path(path));
	call(self, "RemoveMapping", g_variant_new("(o)", path), TRUE, cancellable, callback,
	     user_data, pm_applet_model_remove_mapping);
}

gboolean
pm_applet_model_remove_mapping_finish(PmAppletModel *self, GAsyncResult *result, GError **error)
{
	g_autoptr(GVariant) reply =
	    call_finish(self, result, pm_applet_model_remove_mapping, error);
	return reply != NULL;
}

void
pm_applet_model_describe(PmAppletModel *self, GCancellable *cancellable,
			 GAsyncReadyCallback callback, gpointer user_data)
{
	g_return_if_fail(PM_IS_APPLET_MODEL(self));
	call(self, "Describe", NULL, FALSE, cancellable, callback, user_data,
	     pm_applet_model_describe);
}

char *
pm_applet_model_describe_finish(PmAppletModel *self, GAsyncResult *result, GError **error)
{
	g_autoptr(GVariant) reply = call_finish(self, result, pm_applet_model_describe, error);
	char *json = NULL;

	if (reply == NULL)
		return NULL;
	if (!g_variant_is_of_type(reply, G_VARIANT_TYPE("(s)"))) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
			    _("portmapd answered Describe with %s, not a string"),
			    g_variant_get_type_string(reply));
		return NULL;
	}
	g_variant_get(reply, "(s)", &json);
	return json;
}

/* ---- the object ---- */

gboolean
pm_applet_model_get_present(PmAppletModel *self)
{
	g_return_val_if_fail(PM_IS_APPLET_MODEL(self), FALSE);
	return self->populated;
}

PmAppletIconState
pm_applet_model_get_icon_state(PmAppletModel *self)
{
	g_return_val_if_fail(PM_IS_APPLET_MODEL(self), PM_APPLET_ICON_STATE_ABSENT);
	return self->icon_state;
}

const char *
pm_applet_model_get_icon_name(PmAppletModel *self)
{
	g_return_val_if_fail(PM_IS_APPLET_MODEL(self), NULL);
	switch (self->icon_state) {
	case PM_APPLET_ICON_STATE_OK:
		return "portmap-ok";
	case PM_APPLET_ICON_STATE_WARNING:
		return "portmap-warning";
	case PM_APPLET_ICON_STATE_ABSENT:
	default:
		return "portmap-absent";
	}
}

const char *
pm_applet_model_get_title(PmAppletModel *self)
{
	g_return_val_if_fail(PM_IS_APPLET_MODEL(self), NULL);
	return self->title;
}

GPtrArray *
pm_applet_model_get_mappings(PmAppletModel *self)
{
	g_return_val_if_fail(PM_IS_APPLET_MODEL(self), NULL);
	return self->mappings;
}

GPtrArray *
pm_applet_model_get_providers(PmAppletModel *self)
{
	g_return_val_if_fail(PM_IS_APPLET_MODEL(self), NULL);
	return self->providers;
}

const char *
pm_applet_model_get_public_endpoint(PmAppletModel *self)
{
	g_return_val_if_fail(PM_IS_APPLET_MODEL(self), NULL);
	return self->populated ? self->public_endpoint : "";
}

const char *
pm_applet_model_get_nat_type(PmAppletModel *self)
{
	g_return_val_if_fail(PM_IS_APPLET_MODEL(self), NULL);
	return self->populated ? self->nat_type : "";
}

GPtrArray *
pm_applet_model_get_menu(PmAppletModel *self)
{
	g_return_val_if_fail(PM_IS_APPLET_MODEL(self), NULL);
	return self->menu;
}

static void
pm_applet_model_init(PmAppletModel *self)
{
	self->mappings = g_ptr_array_new_with_free_func((GDestroyNotify)pm_applet_mapping_free);
	self->providers = g_ptr_array_new_with_free_func((GDestroyNotify)pm_applet_provider_free);
	self->public_endpoint = g_strdup("");
	self->nat_type = g_strdup("");
	self->failed_names = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	/* the menu exists before the first answer: the view sets it before the icon */
	(void)update(self);
}

static void
pm_applet_model_constructed(GObject *object)
{
	PmAppletModel *self = PM_APPLET_MODEL(object);

	G_OBJECT_CLASS(pm_applet_model_parent_class)->constructed(object);
	/* G_BUS_NAME_WATCHER_FLAGS_NONE: never ask the bus to start portmapd */
	self->watch_id =
	    g_bus_watch_name(G_BUS_TYPE_SYSTEM, BUS_NAME, G_BUS_NAME_WATCHER_FLAGS_NONE,
			     name_appeared_cb, name_vanished_cb, self, NULL);
}

static void
pm_applet_model_dispose(GObject *object)
{
	PmAppletModel *self = PM_APPLET_MODEL(object);

	if (self->watch_id != 0) {
		g_bus_unwatch_name(self->watch_id);
		self->watch_id = 0;
	}
	g_clear_handle_id(&self->update_id, g_source_remove);
	if (self->mappings != NULL)
		appearance_clear(self);
	G_OBJECT_CLASS(pm_applet_model_parent_class)->dispose(object);
}

static void
pm_applet_model_finalize(GObject *object)
{
	PmAppletModel *self = PM_APPLET_MODEL(object);

	g_ptr_array_unref(self->mappings);
	g_ptr_array_unref(self->providers);
	g_free(self->public_endpoint);
	g_free(self->nat_type);
	g_hash_table_unref(self->failed_names);
	g_free(self->title);
	g_clear_pointer(&self->menu, g_ptr_array_unref);
	g_free(self->fingerprint);
	G_OBJECT_CLASS(pm_applet_model_parent_class)->finalize(object);
}

static void
pm_applet_model_class_init(PmAppletModelClass *klass)
{
	GObjectClass *object_class = G_OBJECT_CLASS(klass);

	object_class->constructed = pm_applet_model_constructed;
	object_class->dispose = pm_applet_model_dispose;
	object_class->finalize = pm_applet_model_finalize;

	signals[SIGNAL_CHANGED] =
	    g_signal_new("changed", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
			 NULL, G_TYPE_NONE, 0);
	signals[SIGNAL_PORT_CHANGED] = g_signal_new(
	    "port-changed", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
	    G_TYPE_NONE, 4, G_TYPE_STRING, G_TYPE_STRING, G_TYPE_UINT, G_TYPE_UINT);
	signals[SIGNAL_MAPPING_FAILED] =
	    g_signal_new("mapping-failed", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL,
			 NULL, NULL, G_TYPE_NONE, 2, G_TYPE_STRING, G_TYPE_STRING);
}

PmAppletModel *
pm_applet_model_new(void)
{
	return g_object_new(PM_TYPE_APPLET_MODEL, NULL);
}
