/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <gio/gio.h>

/*
 * What the tray applet shows, without a toolkit: portmapd's state on the system bus turned
 * into an icon state, a status line and a menu description whose labels are translated,
 * so the GTK view (pm-applet-view.c) only renders it and the headless driver
 * (portmap-applet-model-dump) prints exactly what the view shows.
 *
 * The model watches the name org.portmap.Manager (never auto-starting it: starting the
 * applet must not bus-activate portmapd). Each time the name gets an owner it makes a
 * GDBusObjectManagerClient for /org/portmap/Manager and a GDBusProxy for the Manager, both
 * asynchronously and with DO_NOT_AUTO_START, and drops them when the name loses its owner:
 * one "appearance" at a time, so a restarted daemon is read afresh. It never polls: it
 * follows PropertiesChanged, InterfacesAdded/Removed and the Manager's PortChanged and
 * EndpointChanged signals.
 *
 * Signals:
 *  "changed" (void): what the view shows changed; one per coalesced update (an idle after
 *    a burst of bus messages), never for changes nothing shows (ExpiresAt, Lifetime).
 *  "port-changed" (const char *name, const char *address, guint old_port, guint new_port):
 *    the Manager's PortChanged for a known mapping; @address is its external address when
 *    the signal came ("" if unknown).
 *  "mapping-failed" (const char *name, const char *last_error): a mapping entered "failed".
 *    Emitted once per failure: not for mappings already failed when portmapd appeared
 *    (the applet's start, a daemon restart), and not again for the same mapping name
 *    until it has been "active" (or gone) in between, so a RefreshAll that retries a
 *    failed mapping in vain says nothing new.
 * Neither event is emitted while an appearance is being read (its initial population).
 */

typedef enum {
	PM_APPLET_ICON_STATE_ABSENT,  /* portmapd is not on the bus (or not read yet) */
	PM_APPLET_ICON_STATE_OK,      /* every mapping active, every provider ready */
	PM_APPLET_ICON_STATE_WARNING, /* something is not */
} PmAppletIconState;

typedef struct {
	char *path; /* its object path */
	char *name;
	char *provider;
	char **protocols;
	guint16 internal_port;
	char *external_address; /* "" if unknown */
	guint16 external_port;  /* 0 if none granted */
	char *state;            /* as the Mapping's State */
	char *last_error;       /* "" if none */
	char *scope;
	char *origin;
	char *description;
	/* translated, for the view */
	char *label;       /* "web  tcp 8080 → 203.0.113.5:40001  active" */
	char *error_label; /* NULL without a last error */
	char *copy_text;   /* "ADDR:PORT" (or "PORT" without an address); NULL before a grant */
} PmAppletMapping;

typedef struct {
	char *name;
	char *type;
	char *state; /* "ready", "degraded", "failed" */
	char *external_address;
	char *last_error;
	char *label; /* translated: "lab (natpmp): ready, 11.0.0.2" */
} PmAppletProvider;

typedef enum {
	PM_APPLET_ITEM_TEXT,      /* information: shown, never activatable */
	PM_APPLET_ITEM_ACTION,    /* activatable when sensitive */
	PM_APPLET_ITEM_SEPARATOR, /* no label */
	PM_APPLET_ITEM_SUBMENU,   /* children */
} PmAppletItemKind;

typedef enum {
	PM_APPLET_ACTION_NONE,
	PM_APPLET_ACTION_COPY,    /* target: the text to copy ("ADDR:PORT") */
	PM_APPLET_ACTION_REFRESH, /* RefreshAll */
	PM_APPLET_ACTION_ADD,     /* the "Add mapping" dialog */
	PM_APPLET_ACTION_REMOVE,  /* target: the mapping's object path */
	PM_APPLET_ACTION_ABOUT,   /* the "About this configuration" window */
	PM_APPLET_ACTION_QUIT,
} PmAppletAction;

typedef struct _PmAppletItem PmAppletItem;
struct _PmAppletItem {
	PmAppletItemKind kind;
	char *label; /* translated, plain text (no mnemonics); NULL for a separator */
	PmAppletAction action;
	char *target; /* NULL if the action takes none */
	gboolean sensitive;
	GPtrArray *children; /* of PmAppletItem, for a submenu; NULL otherwise */
};

#define PM_TYPE_APPLET_MODEL (pm_applet_model_get_type())
G_DECLARE_FINAL_TYPE(PmAppletModel, pm_applet_model, PM, APPLET_MODEL, GObject)

/* starts watching the system bus at once; the first "changed" comes with the first answer
 * (portmapd there or not) */
PmAppletModel *pm_applet_model_new(void);

/* portmapd is on the bus and has been read */
gboolean pm_applet_model_get_present(PmAppletModel *self);
PmAppletIconState pm_applet_model_get_icon_state(PmAppletModel *self);
/* "ok", "warning", "absent" */
const char *pm_applet_model_icon_state_to_string(PmAppletIconState state);
/* the themed icon: "portmap-ok", "portmap-warning", "portmap-absent" */
const char *pm_applet_model_get_icon_name(PmAppletModel *self);
/* translated status line, also the indicator's title and the icon's description */
const char *pm_applet_model_get_title(PmAppletModel *self);
/* of PmAppletMapping, in creation order (borrowed, valid until the next "changed") */
GPtrArray *pm_applet_model_get_mappings(PmAppletModel *self);
/* of PmAppletProvider, in configuration order (borrowed, likewise) */
GPtrArray *pm_applet_model_get_providers(PmAppletModel *self);
/* "" when STUN has found nothing (or is not configured) */
const char *pm_applet_model_get_public_endpoint(PmAppletModel *self);
const char *pm_applet_model_get_nat_type(PmAppletModel *self);
/* the menu, top level first, of PmAppletItem (borrowed, likewise); it exists from
 * construction on, so the view can set it before the indicator's icon */
GPtrArray *pm_applet_model_get_menu(PmAppletModel *self);
/* the mapping at @path, NULL if none */
PmAppletMapping *pm_applet_model_get_mapping(PmAppletModel *self, const char *path);

/*
 * The calls, all asynchronous, without auto-starting portmapd, and (for those that change
 * something) allowing interactive authorization, so polkit may ask. They fail with
 * G_IO_ERROR_NOT_CONNECTED when portmapd is not there; otherwise the error is the bus'
 * (g_dbus_error_strip_remote_error() applied: the message is the daemon's).
 */
void pm_applet_model_refresh_all(PmAppletModel *self, GCancellable *cancellable,
				 GAsyncReadyCallback callback, gpointer user_data);
gboolean pm_applet_model_refresh_all_finish(PmAppletModel *self, GAsyncResult *result,
					    GError **error);
/* AddMapping(provider "", @protocols, @internal_port, 0, 0, {scope}): "persistent" when
 * @persistent, else "client" (the mapping lives as long as this connection, the applet's) */
void pm_applet_model_add_mapping(PmAppletModel *self, const char *const *protocols,
				 guint16 internal_port, gboolean persistent,
				 GCancellable *cancellable, GAsyncReadyCallback callback,
				 gpointer user_data);
/* returns the new mapping's object path */
char *pm_applet_model_add_mapping_finish(PmAppletModel *self, GAsyncResult *result, GError **error);
void pm_applet_model_remove_mapping(PmAppletModel *self, const char *path,
				    GCancellable *cancellable, GAsyncReadyCallback callback,
				    gpointer user_data);
gboolean pm_applet_model_remove_mapping_finish(PmAppletModel *self, GAsyncResult *result,
					       GError **error);
/* Describe(): returns its JSON text */
void pm_applet_model_describe(PmAppletModel *self, GCancellable *cancellable,
			      GAsyncReadyCallback callback, gpointer user_data);
char *pm_applet_model_describe_finish(PmAppletModel *self, GAsyncResult *result, GError **error);

/* helpers, exported for the view and the tests */
void pm_applet_item_free(PmAppletItem *item);
void pm_applet_mapping_free(PmAppletMapping *mapping);
void pm_applet_provider_free(PmAppletProvider *provider);
/* "1.2.3.4:80", "[2001:db8::1]:80", or "80" when @address is "" or NULL */
char *pm_applet_format_address_port(const char *address, guint16 port);
/* translated names of the daemon's words: mapping and provider states, NAT types */
const char *pm_applet_mapping_state_to_label(const char *state);
const char *pm_applet_provider_state_to_label(const char *state);
const char *pm_applet_nat_type_to_label(const char *nat_type);
