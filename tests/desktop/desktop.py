# SPDX-License-Identifier: GPL-2.0-or-later
"""A private X desktop with a real StatusNotifierItem host, for the tray applet's tests.

Desktop() starts, in order and each waited for: Xvfb on a free display (-displayfd), a
private session bus (a dbus-daemon of type session on a socket in a temp dir, with no
service directories, so nothing of the machine is bus-activated), xfconfd on that bus, and
xfce4-panel 4.18 from a pre-seeded configuration: one panel along the top edge holding a
separator and the systray plugin, which is the SNI watcher (org.kde.StatusNotifierWatcher)
and host. HOME and the XDG directories point into the temp dir, so nothing of the
machine's user is read or written. Every process is started in a process group of its own
and stopped by that group's ID; the test process becomes a child subreaper so that the
panel's plugin wrappers, orphaned when the panel exits, are reaped here.

    with Desktop() as desktop:
        app = desktop.spawn(["portmap-applet"], "applet")
        item = desktop.wait_for_item(timeout=10)
        desktop.item_properties(item)["IconName"]
        desktop.click_item(item)
        desktop.wait_for_popup_menu()
        desktop.screenshot("menu-open")

An item is the string the watcher lists, "BUSNAME/OBJECT/PATH". Every wait is bounded and
raises DesktopError saying what did not happen, with the panel's stderr where it helps."""

import ctypes
import glob
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import gi

gi.require_version("Gio", "2.0")
from gi.repository import Gio, GLib  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lab"))
import pmlab  # noqa: E402

WATCHER_NAME = "org.kde.StatusNotifierWatcher"
WATCHER_PATH = "/StatusNotifierWatcher"
WATCHER_IFACE = "org.kde.StatusNotifierWatcher"
ITEM_IFACE = "org.kde.StatusNotifierItem"
DBUSMENU_IFACE = "com.canonical.dbusmenu"
XFCONF_NAME = "org.xfce.Xfconf"
XFCONF_PATH = "/org/xfce/Xfconf"
XFCONF_IFACE = "org.xfce.Xfconf"
PROPERTIES_IFACE = "org.freedesktop.DBus.Properties"

# the systray plugin's number in PANEL_CONFIG: its settings are /plugins/plugin-2/...
SYSTRAY_PLUGIN = "/plugins/plugin-2"
ITEM_PROPERTIES = ("Id", "Title", "Status", "IconName", "IconThemePath", "ToolTip", "Menu",
                   "Category")
POPUP_TYPES = ("_NET_WM_WINDOW_TYPE_POPUP_MENU", "_NET_WM_WINDOW_TYPE_DROPDOWN_MENU")

PR_SET_CHILD_SUBREAPER = 36
TERM_GRACE = 5.0

# one top panel (p=6: top edge, full width), a separator that expands and so pushes the
# tray to the right end, and the tray with square icons (one slot per item, panel-size wide)
PANEL_CONFIG = """<?xml version="1.0" encoding="UTF-8"?>
<channel name="xfce4-panel" version="1.0">
  <property name="configver" type="int" value="2"/>
  <property name="panels" type="array">
    <value type="int" value="1"/>
    <property name="panel-1" type="empty">
      <property name="position" type="string" value="p=6;x=0;y=0"/>
      <property name="length" type="uint" value="100"/>
      <property name="position-locked" type="bool" value="true"/>
      <property name="size" type="uint" value="{size}"/>
      <property name="icon-size" type="uint" value="{icon_size}"/>
      <property name="plugin-ids" type="array">
        <value type="int" value="1"/>
        <value type="int" value="2"/>
      </property>
    </property>
  </property>
  <property name="plugins" type="empty">
    <property name="plugin-1" type="string" value="separator">
      <property name="expand" type="bool" value="true"/>
      <property name="style" type="uint" value="0"/>
    </property>
    <property name="plugin-2" type="string" value="systray">
      <property name="square-icons" type="bool" value="true"/>
    </property>
  </property>
</channel>
"""


class DesktopError(Exception):
    """Something of the desktop did not start, answer or appear in time."""


def find_xfconfd():
    """xfconfd's path, as its D-Bus service file names it (it lives in a multiarch libexec
    directory that differs between distributions)."""
    data_dirs = os.environ.get("XDG_DATA_DIRS") or "/usr/local/share:/usr/share"
    for d in data_dirs.split(":"):
        service = os.path.join(d, "dbus-1", "services", "org.xfce.Xfconf.service")
        try:
            with open(service) as f:
                for line in f:
                    if line.startswith("Exec="):
                        path = line[len("Exec="):].split()[0]
                        if os.access(path, os.X_OK):
                            return path
        except FileNotFoundError:
            continue
    for pattern in ("/usr/lib/*/xfce4/xfconf/xfconfd", "/usr/libexec/xfce4/xfconf/xfconfd",
                    "/usr/lib/xfce4/xfconf/xfconfd"):
        for path in glob.glob(pattern):
            if os.access(path, os.X_OK):
                return path
    raise DesktopError("xfconfd not found (Debian package xfconf; tests/install-deps installs it)")


def default_artifacts_dir():
    """$PORTMAP_TEST_ARTIFACTS (meson's test environment sets it to meson-logs/artifacts in
    the build directory), else portmap-test-artifacts in the temp dir (not the cwd: a test
    run by hand from the source tree would litter it)."""
    return (os.environ.get("PORTMAP_TEST_ARTIFACTS")
            or os.path.join(tempfile.gettempdir(), "portmap-test-artifacts"))


def split_item(item):
    """The watcher's "BUSNAME/OBJECT/PATH" as (bus name, object path)."""
    if not isinstance(item, str) or not item:
        raise DesktopError(f"not a StatusNotifierItem: {item!r}")
    slash = item.find("/")
    if slash < 0:
        return item, "/StatusNotifierItem"
    if slash == 0:
        raise DesktopError(f"StatusNotifierItem without a bus name: {item!r}")
    return item[:slash], item[slash:]


def _proc_stat(pid):
    """(state, ppid, pgrp) of a process from /proc, None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            data = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = data[data.rindex(")") + 2:].split()
    return fields[0], int(fields[1]), int(fields[2])


def group_members(pgid):
    """The PIDs in process group pgid (zombies included)."""
    members = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            stat = _proc_stat(int(entry))
            if stat is not None and stat[2] == pgid:
                members.append(int(entry))
    return members


def pid_alive(pid):
    """True while pid exists, zombie included: a zombie is a process nobody reaped."""
    return _proc_stat(pid) is not None


def _unpack(value):
    return value.unpack() if isinstance(value, GLib.Variant) else value


class Process:
    """A process the desktop started, in a process group of its own, with its output in a
    log file."""

    def __init__(self, name, argv, env, log_path, pass_fds=(), stdout=None):
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        self._log = open(log_path, "wb")
        try:
            self.popen = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL,
                                          stdout=stdout if stdout is not None else self._log,
                                          stderr=self._log, pass_fds=pass_fds,
                                          start_new_session=True)
        except OSError:
            self._log.close()
            raise
        self.pid = self.popen.pid
        # every PID seen in its group, for the check that all of them are gone
        self.seen = {self.pid}

    def alive(self):
        return self.popen.poll() is None

    def log_tail(self, size=4000):
        try:
            with open(self.log_path, "rb") as f:
                f.seek(0, os.SEEK_END)
                f.seek(max(0, f.tell() - size))
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def stop(self, grace=TERM_GRACE):
        """SIGTERM its process group, SIGKILL what is left after grace seconds, reap its
        members (those orphaned to this subreaper too)."""
        members = set(group_members(self.pid))
        self.seen |= members
        if members:
            try:
                os.killpg(self.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + grace
        while not self._reap(members) and time.monotonic() < deadline:
            time.sleep(0.02)
        if not self._reap(members):
            for pid in list(members):
                if pid_alive(pid):
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
            deadline = time.monotonic() + 3.0
            while not self._reap(members) and time.monotonic() < deadline:
                time.sleep(0.02)
        self.popen.poll()
        self._log.close()

    def _reap(self, members):
        """True when every member is gone (reaping our children among them)."""
        self.popen.poll()
        for pid in list(members):
            if pid != self.pid:
                try:
                    os.waitpid(pid, os.WNOHANG)
                except ChildProcessError:
                    pass
            if not pid_alive(pid):
                members.discard(pid)
        return not members


class Desktop:
    """Xvfb + private session bus + xfconfd + xfce4-panel (the SNI host); see the module's
    docstring. Attributes once started: display (":N"), bus_address, tmpdir, artifacts,
    bus (a Gio.DBusConnection to the session bus), startup_seconds (from Xvfb's start to
    the host's registration), processes (name -> Process)."""

    def __init__(self, width=1024, height=768, panel_size=32, icon_size=24, timeout=30.0,
                 artifacts=None):
        self.width, self.height = width, height
        self.panel_size, self.icon_size = panel_size, icon_size
        self.timeout = timeout
        self.artifacts = artifacts or default_artifacts_dir()
        self.tmpdir = None
        self.display = None
        self.bus_address = None
        self.bus = None
        self.startup_seconds = None
        self.processes = {}
        self._order = []
        self._clients = 0

    # --- life cycle --------------------------------------------------------------------------

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()
        return False

    def start(self):
        """Start everything; on any failure stop what was started and raise DesktopError."""
        try:
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
        except (OSError, AttributeError):
            pass
        self.tmpdir = tempfile.mkdtemp(prefix="portmap-desktop-")
        try:
            started = time.monotonic()
            self._make_dirs()
            self._start_xvfb()
            self._start_bus()
            self._start_xfconfd()
            self._start_panel()
            self.startup_seconds = time.monotonic() - started
        except BaseException:
            self.stop()
            raise

    def stop(self):
        """Stop every process (clients first, Xvfb last) by its process group and remove the
        temp dir. Safe to call twice."""
        if self.bus is not None:
            try:
                self.bus.close_sync(None)
            except GLib.Error:
                pass
            self.bus = None
        for name in reversed(self._order):
            self.processes[name].stop()
        if self.tmpdir:
            shutil.rmtree(self.tmpdir, ignore_errors=True)
            self.tmpdir = None

    def leftover_pids(self):
        """The PIDs ever seen in the desktop's process groups that still exist (a zombie
        counts): empty after stop()."""
        return sorted(pid for p in self.processes.values() for pid in p.seen if pid_alive(pid))

    def _path(self, *parts):
        return os.path.join(self.tmpdir, *parts)

    def _make_dirs(self):
        for d in ("home", "config", "config-dirs", "cache", "data", "state", "runtime", "logs",
                  "bus"):
            os.makedirs(self._path(d), mode=0o700)
        channel_dir = self._path("config", "xfce4", "xfconf", "xfce-perchannel-xml")
        os.makedirs(channel_dir)
        with open(os.path.join(channel_dir, "xfce4-panel.xml"), "w") as f:
            f.write(PANEL_CONFIG.format(size=self.panel_size, icon_size=self.icon_size))
        with open(self._path("bus", "bus.conf"), "w") as f:
            # no service directory: every process on this bus is one the harness started
            f.write(pmlab.bus_config(self._path("bus"), "session"))

    def _spawn(self, name, argv, env=None, **kwargs):
        try:
            proc = Process(name, argv, env or self.env(), self._path("logs", name + ".log"),
                           **kwargs)
        except OSError as e:
            raise DesktopError(f"cannot start {name} ({argv[0]}): {e.strerror}") from e
        self.processes[name] = proc
        self._order.append(name)
        return proc

    def _deadline_error(self, what, proc):
        state = "running" if proc.alive() else f"exited with {proc.popen.returncode}"
        return DesktopError(f"{what} within {self.timeout:g} s; {proc.name} (pid {proc.pid}, "
                            f"{state}) wrote:\n{proc.log_tail()}")

    def _start_xvfb(self):
        read_fd, write_fd = os.pipe()
        try:
            proc = self._spawn("Xvfb", ["Xvfb", "-displayfd", str(write_fd), "-screen", "0",
                                        f"{self.width}x{self.height}x24", "-nolisten", "tcp"],
                               env=dict(os.environ), pass_fds=(write_fd,))
            os.close(write_fd)
            write_fd = None
            data = b""
            deadline = time.monotonic() + self.timeout
            while not data.endswith(b"\n"):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise self._deadline_error("Xvfb did not report its display", proc)
                ready, _, _ = select.select([read_fd], [], [], remaining)
                if ready:
                    chunk = os.read(read_fd, 64)
                    if not chunk:
                        raise self._deadline_error("Xvfb exited before reporting a display",
                                                   proc)
                    data += chunk
        finally:
            os.close(read_fd)
            if write_fd is not None:
                os.close(write_fd)
        self.display = ":" + data.decode().strip()

    def _start_bus(self):
        proc = self._spawn("dbus-daemon", ["dbus-daemon", "--nofork", "--print-address=1",
                                           "--config-file=" + self._path("bus", "bus.conf")],
                           env=dict(os.environ), stdout=subprocess.PIPE)
        ready, _, _ = select.select([proc.popen.stdout], [], [], self.timeout)
        line = proc.popen.stdout.readline().decode().strip() if ready else ""
        proc.popen.stdout.close()
        if not line:
            raise self._deadline_error("dbus-daemon did not print its address", proc)
        self.bus_address = line
        self.bus = Gio.DBusConnection.new_for_address_sync(
            self.bus_address,
            Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT
            | Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION, None, None)

    def _start_xfconfd(self):
        proc = self._spawn("xfconfd", [find_xfconfd()])
        self._wait(lambda: self._name_has_owner(XFCONF_NAME), proc,
                   f"xfconfd did not own {XFCONF_NAME}")

    def _start_panel(self):
        proc = self._spawn("xfce4-panel", ["xfce4-panel", "--disable-wm-check"])
        self._wait(self._host_registered, proc,
                   f"xfce4-panel did not provide {WATCHER_NAME} with a registered host")
        self._wait(self._panel_window, proc, "xfce4-panel did not map its panel window")

    def _wait(self, predicate, proc, what):
        deadline = time.monotonic() + self.timeout
        while True:
            value = predicate()
            if value:
                return value
            if not proc.alive():
                raise DesktopError(f"{what}: it exited with {proc.popen.returncode}; it "
                                   f"wrote:\n{proc.log_tail()}")
            if time.monotonic() > deadline:
                raise self._deadline_error(what, proc)
            time.sleep(0.05)

    def env(self, base=None):
        """The environment for a program on this desktop: @base (os.environ by default)
        without the caller's display, session bus and session, plus DISPLAY,
        DBUS_SESSION_BUS_ADDRESS, HOME and XDG_* in the temp dir, NO_AT_BRIDGE=1,
        GDK_BACKEND=x11, GSETTINGS_BACKEND=memory and GIO_USE_VFS=local (neither dconf
        nor gvfs, which the bus could not activate anyway). DBUS_SYSTEM_BUS_ADDRESS is
        passed through from @base."""
        env = dict(os.environ if base is None else base)
        for key in ("WAYLAND_DISPLAY", "XAUTHORITY", "SESSION_MANAGER", "DESKTOP_SESSION",
                    "XDG_SESSION_ID", "XDG_SESSION_TYPE", "XDG_SESSION_DESKTOP",
                    "XDG_CURRENT_DESKTOP", "XDG_SEAT", "XDG_VTNR", "GTK_MODULES",
                    "DBUS_STARTER_ADDRESS", "DBUS_STARTER_BUS_TYPE"):
            env.pop(key, None)
        env.update({
            "HOME": self._path("home"),
            "XDG_CONFIG_HOME": self._path("config"),
            # empty: the machine's /etc/xdg defaults stay out too
            "XDG_CONFIG_DIRS": self._path("config-dirs"),
            "XDG_CACHE_HOME": self._path("cache"),
            "XDG_DATA_HOME": self._path("data"),
            "XDG_STATE_HOME": self._path("state"),
            "XDG_RUNTIME_DIR": self._path("runtime"),
            "NO_AT_BRIDGE": "1",
            "GDK_BACKEND": "x11",
            "GSETTINGS_BACKEND": "memory",
            "GIO_USE_VFS": "local",
        })
        if self.display:
            env["DISPLAY"] = self.display
        if self.bus_address:
            env["DBUS_SESSION_BUS_ADDRESS"] = self.bus_address
        return env

    def spawn(self, argv, name=None, env=None):
        """Start a program under test on this desktop (env(): its environment by default);
        its stdout and stderr go to log(name). It is stopped by stop(), before the panel.
        Returns its Process (.popen, .pid, .log_path, .stop())."""
        self._clients += 1
        name = name or f"client-{self._clients}"
        if name in self.processes:
            raise DesktopError(f"a process named {name!r} runs already")
        return self._spawn(name, argv, env=env)

    def log(self, name):
        """What the process called name (Xvfb, dbus-daemon, xfconfd, xfce4-panel or a
        spawned one) wrote so far."""
        return self.processes[name].log_tail(1 << 20)

    def save_logs(self, prefix):
        """Copy every process's log into the artifacts directory as PREFIX-NAME.log."""
        os.makedirs(self.artifacts, exist_ok=True)
        for name, proc in self.processes.items():
            shutil.copyfile(proc.log_path, os.path.join(self.artifacts,
                                                        f"{prefix}-{name}.log"))

    # --- D-Bus -------------------------------------------------------------------------------

    def call(self, dest, path, iface, method, args=None, reply_type=None, timeout=5.0):
        """A method call on the session bus; the reply unpacked to a Python tuple."""
        reply = self.bus.call_sync(dest, path, iface, method, args,
                                   GLib.VariantType.new(reply_type) if reply_type else None,
                                   Gio.DBusCallFlags.NO_AUTO_START, int(timeout * 1000), None)
        return reply.unpack()

    def _name_has_owner(self, name):
        return self.call("org.freedesktop.DBus", "/org/freedesktop/DBus",
                         "org.freedesktop.DBus", "NameHasOwner", GLib.Variant("(s)", (name,)),
                         "(b)")[0]

    def _watcher_property(self, name):
        return self.call(WATCHER_NAME, WATCHER_PATH, PROPERTIES_IFACE, "Get",
                         GLib.Variant("(ss)", (WATCHER_IFACE, name)), "(v)")[0]

    def _host_registered(self):
        if not self._name_has_owner(WATCHER_NAME):
            return False
        try:
            return bool(self._watcher_property("IsStatusNotifierHostRegistered"))
        except GLib.Error:
            return False

    def registered_items(self):
        """The watcher's RegisteredStatusNotifierItems ("BUSNAME/OBJECT/PATH" strings)."""
        return list(self._watcher_property("RegisteredStatusNotifierItems"))

    def wait_for_item(self, timeout=10.0, item_id=None):
        """The first registered item (or the first whose Id is item_id) once the watcher
        lists it; DesktopError after timeout seconds."""
        deadline = time.monotonic() + timeout
        while True:
            for item in self.registered_items():
                if item_id is None:
                    return item
                try:
                    if self.item_properties(item).get("Id") == item_id:
                        return item
                except (GLib.Error, DesktopError):
                    pass
            if time.monotonic() > deadline:
                which = "an item" if item_id is None else f"an item with Id {item_id!r}"
                raise DesktopError(f"no {which} registered with the watcher within "
                                   f"{timeout:g} s (registered: {self.registered_items()})")
            time.sleep(0.05)

    def item_properties(self, item):
        """The item's Id, Title, Status, IconName, IconThemePath, ToolTip, Menu (object
        path) and Category (org.kde.StatusNotifierItem); None for one it does not have
        (libayatana-appindicator has no ToolTip)."""
        name, path = split_item(item)
        props = self.call(name, path, PROPERTIES_IFACE, "GetAll",
                          GLib.Variant("(s)", (ITEM_IFACE,)), "(a{sv})")[0]
        return {key: _unpack(props.get(key)) for key in ITEM_PROPERTIES}

    def _menu_path(self, item):
        name, _ = split_item(item)
        menu = self.item_properties(item)["Menu"]
        if not menu or menu == "/":
            raise DesktopError(f"{item} has no Menu")
        return name, menu

    @staticmethod
    def _menu_node(node):
        item_id, props, children = node
        props = {k: _unpack(v) for k, v in props.items()}
        return {
            "id": item_id,
            "label": props.get("label", ""),
            "enabled": props.get("enabled", True),
            "visible": props.get("visible", True),
            "type": props.get("type", "standard"),
            "toggle-type": props.get("toggle-type", ""),
            "toggle-state": props.get("toggle-state", -1),
            "children": [Desktop._menu_node(_unpack(c)) for c in children],
        }

    def menu_layout(self, item):
        """The item's whole menu, GetLayout(0, -1, []) on its Menu path, as a tree of dicts:
        id, label (as sent: mnemonic underscores included), enabled, visible, type
        ("standard" or "separator"), toggle-type, toggle-state, children. Defaults of the
        dbusmenu spec fill in what the item leaves out."""
        name, menu = self._menu_path(item)
        _, layout = self.call(name, menu, DBUSMENU_IFACE, "GetLayout",
                              GLib.Variant("(iias)", (0, -1, [])), "(u(ia{sv}av))")
        return self._menu_node(layout)

    @staticmethod
    def menu_entries(layout):
        """The tree flattened, depth first, the root left out."""
        entries = []
        for child in layout["children"]:
            entries.append(child)
            entries.extend(Desktop.menu_entries(child))
        return entries

    def menu_event(self, item, item_id, event="clicked", data=None, timestamp=0):
        """com.canonical.dbusmenu.Event(item_id, event, data, timestamp) on the item's menu,
        as a host sends it when the user picks an entry."""
        name, menu = self._menu_path(item)
        self.call(name, menu, DBUSMENU_IFACE, "Event",
                  GLib.Variant("(isvu)", (item_id, event, data or GLib.Variant("s", ""),
                                          timestamp)))

    def _known_items(self):
        """The tray's known-items list (xfconf): the order it lays items out in, left to
        right (it prepends items it sees for the first time)."""
        try:
            value = self.call(XFCONF_NAME, XFCONF_PATH, XFCONF_IFACE, "GetProperty",
                              GLib.Variant("(ss)", ("xfce4-panel",
                                                    SYSTRAY_PLUGIN + "/known-items")), "(v)")
        except GLib.Error:
            return []
        return list(value[0])

    # --- X -----------------------------------------------------------------------------------

    def x(self, argv, timeout=10.0, check=True):
        """Run an X client (xdotool, xwininfo, xprop, import) on this display; its stdout."""
        try:
            result = subprocess.run(argv, env=self.env(), stdin=subprocess.DEVNULL,
                                    capture_output=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise DesktopError(f"{' '.join(argv)} did not finish within {timeout:g} s")
        if check and result.returncode != 0:
            raise DesktopError(f"{' '.join(argv)} exited with {result.returncode}: "
                               f"{result.stderr.decode(errors='replace').strip()}")
        return result.stdout

    def _panel_window(self):
        out = self.x(["xdotool", "search", "--onlyvisible", "--classname", "^xfce4-panel$"],
                     check=False).split()
        return int(out[0]) if out else None

    def tray_geometry(self):
        """(x, y, width, height) of the systray plugin's window in the panel (the only
        external plugin of the configuration), None while it has no width (no items)."""
        panel = self._panel_window()
        if panel is None:
            return None
        tree = self.x(["xwininfo", "-tree", "-id", str(panel)]).decode(errors="replace")
        for line in tree.splitlines():
            m = re.search(r'"wrapper-2\.0": \(.*\)\s+(\d+)x(\d+)[+-]-?\d+[+-]-?\d+\s+'
                          r'\+(-?\d+)\+(-?\d+)\s*$', line)
            if m:
                w, h, x, y = (int(g) for g in m.groups())
                return (x, y, w, h) if w > 1 else None
        return None

    def _visible_items(self):
        """The registered items the tray shows, in its order (left to right): (item, Id)."""
        items = []
        for item in self.registered_items():
            try:
                props = self.item_properties(item)
            except GLib.Error:
                continue
            if props.get("Status") != "Passive":
                items.append((item, props.get("Id") or ""))
        known = self._known_items()
        # an Id the tray has not stored yet was prepended: it comes first
        return sorted(items, key=lambda i: known.index(i[1]) if i[1] in known else -1)

    def icon_geometry(self, item, timeout=10.0, drawn=False):
        """(x, y, width, height) on the screen of the slot where the tray drew item: the tray
        window cut into one square slot per shown item (square-icons), in the tray's order.
        Waits (timeout seconds) until the tray is wide enough for every shown item and, with
        drawn, until the slot holds more than the panel's background colour. Legacy XEmbed
        icons are not expected on this desktop."""
        deadline = time.monotonic() + timeout
        while True:
            shown = self._visible_items()
            order = [i for i, _ in shown]
            tray = self.tray_geometry()
            if item in order and tray is not None:
                x, y, w, h = tray
                n = len(order)
                if w >= n * h:
                    # the tray adds a pixel or so at its left edge
                    slot = (x + (w - n * h) + order.index(item) * h, y, h, h)
                    if not drawn or len({p for row in self.pixels(*slot) for p in row}) > 1:
                        return slot
            if time.monotonic() > deadline:
                raise DesktopError(f"{item} not drawn in the tray within {timeout:g} s "
                                   f"(shown: {order}, tray window: {tray}); xfce4-panel "
                                   f"wrote:\n{self.processes['xfce4-panel'].log_tail()}")
            time.sleep(0.05)

    def click_item(self, item, button=1, timeout=10.0):
        """Move the pointer to the middle of item's icon and click button there (xdotool).
        xfce4-panel opens an ayatana item's menu on button 1 and on button 3."""
        x, y, w, h = self.icon_geometry(item, timeout, drawn=True)
        # no --sync: it waits for a motion, and there is none if the pointer is there
        # already; one xdotool connection keeps the warp before the click anyway
        self.x(["xdotool", "mousemove", str(x + w // 2), str(y + h // 2), "click",
                str(button)])

    def _root_window(self):
        out = self.x(["xwininfo", "-root"]).decode(errors="replace")
        return int(re.search(r"Window id: (0x[0-9a-fA-F]+)", out).group(1), 16)

    def toplevels(self):
        """The mapped top-level windows: dicts of id, name, x, y, width, height, types
        (_NET_WM_WINDOW_TYPE atoms)."""
        out = self.x(["xdotool", "search", "--onlyvisible", "--maxdepth", "1", "--name",
                      ""], check=False).decode().split()
        root = self._root_window()
        windows = []
        for wid in out:
            if int(wid) == root:
                continue
            geometry = self.x(["xwininfo", "-id", wid], check=False).decode(errors="replace")
            values = dict(re.findall(r"^\s*(Absolute upper-left [XY]|Width|Height|Map State):"
                                     r"\s*(\S+)", geometry, re.M))
            if values.get("Map State") != "IsViewable":
                continue
            types = self.x(["xprop", "-id", wid, "_NET_WM_WINDOW_TYPE"],
                           check=False).decode(errors="replace")
            name = self.x(["xdotool", "getwindowname", wid], check=False)
            windows.append({
                "id": int(wid),
                "name": name.decode(errors="replace").strip(),
                "x": int(values.get("Absolute upper-left X", 0)),
                "y": int(values.get("Absolute upper-left Y", 0)),
                "width": int(values.get("Width", 0)),
                "height": int(values.get("Height", 0)),
                "types": re.findall(r"_NET_WM_WINDOW_TYPE_\w+", types),
            })
        return windows

    def popup_menus(self):
        """The mapped popup and dropdown menus (top-level windows, see toplevels())."""
        return [w for w in self.toplevels() if any(t in POPUP_TYPES for t in w["types"])]

    def wait_for_popup_menu(self, timeout=5.0):
        """The first popup menu window once one is mapped; DesktopError after timeout."""
        deadline = time.monotonic() + timeout
        while True:
            menus = self.popup_menus()
            if menus:
                return menus[0]
            if time.monotonic() > deadline:
                raise DesktopError(f"no popup menu mapped within {timeout:g} s (windows: "
                                   f"{self.toplevels()})")
            time.sleep(0.05)

    def close_popup_menus(self, timeout=5.0):
        """Escape until no popup menu is mapped."""
        deadline = time.monotonic() + timeout
        while self.popup_menus():
            if time.monotonic() > deadline:
                raise DesktopError(f"popup menus still mapped after {timeout:g} s of Escape")
            self.x(["xdotool", "key", "Escape"])
            time.sleep(0.1)

    def choose_popup_entry(self, position):
        """In the open popup menu, pick the entry at position (0: the first sensitive one;
        GTK's keyboard navigation skips separators and insensitive entries): Down
        position + 1 times, then Return."""
        self.x(["xdotool", "key", "--delay", "50"] + ["Down"] * (position + 1) + ["Return"])

    def wait_for_window(self, name_regex, timeout=10.0):
        """The ID of the first mapped window whose name matches name_regex (xdotool search
        --sync); DesktopError after timeout."""
        try:
            out = subprocess.run(["xdotool", "search", "--sync", "--onlyvisible", "--name",
                                  name_regex], env=self.env(), stdin=subprocess.DEVNULL,
                                 capture_output=True, timeout=timeout).stdout
        except subprocess.TimeoutExpired:
            raise DesktopError(f"no window named like {name_regex!r} within {timeout:g} s "
                               f"(windows: {[w['name'] for w in self.toplevels()]})")
        return int(out.split()[0])

    def screenshot(self, name):
        """Save the whole screen as a PNG (ImageMagick's import -window root): name is a
        path, or a file name for the artifacts directory (".png" appended if missing).
        Returns the path."""
        path = name if os.sep in name else os.path.join(self.artifacts, name)
        if not path.endswith(".png"):
            path += ".png"
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        self.x(["import", "-window", "root", path], timeout=20)
        return path

    def pixels(self, x, y, width, height):
        """The screen's pixels in that rectangle, rows of (r, g, b) tuples."""
        data = self.x(["import", "-window", "root", "-crop", f"{width}x{height}+{x}+{y}",
                       "+repage", "-depth", "8", "ppm:-"], timeout=20)
        header = re.match(rb"P6\s+(\d+)\s+(\d+)\s+(\d+)\s", data)
        if header is None:
            raise DesktopError("import did not write a PPM")
        w, h = int(header.group(1)), int(header.group(2))
        body = data[header.end():]
        return [[tuple(body[(r * w + c) * 3:(r * w + c) * 3 + 3]) for c in range(w)]
                for r in range(h)]
