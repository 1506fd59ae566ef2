#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""portmap-applet in a real StatusNotifierItem host (suite "desktop"): a private system bus
with the built portmapd and the scripted NAT-PMP gateway on 127.0.0.1 (as
tests/integration/test_applet_model.py), and a Desktop (desktop.py: Xvfb, a private session
bus, xfconfd, xfce4-panel and its systray) in which the real applet runs with the source
tree's icons. The item's properties and its menu (com.canonical.dbusmenu GetLayout) are
checked against the daemon and against the model as portmap-applet-model-dump prints it;
the menu is opened by clicking the icon, the Add mapping dialog is filled with xdotool,
the clipboard read back with xclip. Screenshots go to $PORTMAP_TEST_ARTIFACTS
(applet-menu.png, applet-add-dialog.png and cropped copies; data/screenshots/ holds the
committed ones). Usage: test_applet_panel.py Class.test_method (one meson test each)."""

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(SRCDIR, "tests", "integration"))
sys.path.insert(0, os.path.join(SRCDIR, "tests", "lab"))

import pmlab  # noqa: E402
from desktop import Desktop, DesktopError  # noqa: E402
from test_applet_model import (APPLET, BUS_NAME, MANAGER_IFACE, MANAGER_PATH,  # noqa: E402
                               PORTMAPD, ModelDump, connect, mapping)

import gi  # noqa: E402

gi.require_version("Gio", "2.0")
from gi.repository import Gio, GLib  # noqa: E402

ICONS = os.path.join(SRCDIR, "data", "icons")
INDICATOR_ID = "portmap-applet"
PUBLIC = "11.0.0.2"
# the fake gateway grants from here on, so an external port is never the internal one and
# a label that showed only the internal port would be caught
PORT_MIN = 40000
WAIT = 15


def undo_mnemonics(label):
    """A dbusmenu label as the user reads it: "__" is "_", a lone "_" marks a mnemonic."""
    return re.sub(r"_(_?)", r"\1", label)


def model_entries(items):
    """The model's menu (portmap-applet-model-dump's "menu") flattened depth first as
    (type, label, enabled) triples; separators carry neither label nor state."""
    entries = []
    for item in items:
        if item["kind"] == "separator":
            entries.append(("separator", "", None))
        else:
            entries.append(("standard", item["label"], item["sensitive"]))
        entries.extend(model_entries(item.get("children") or []))
    return entries


def layout_entries(layout):
    """Desktop.menu_layout()'s tree in the same shape, mnemonics undone."""
    entries = []
    for e in Desktop.menu_entries(layout):
        if e["type"] == "separator":
            entries.append(("separator", "", None))
        else:
            entries.append(("standard", undo_mnemonics(e["label"]), e["enabled"]))
    return entries


class AppletPanelTest(unittest.TestCase):
    """One fresh system bus, gateway, desktop and applet per test."""

    def setUp(self):
        self.workdir = tempfile.mkdtemp(prefix="portmap-applet-panel-")
        os.chmod(self.workdir, 0o755)
        self.addCleanup(shutil.rmtree, self.workdir, True)
        # an activation file for org.portmap.Manager that only leaves a marker: starting
        # the applet must not bus-activate portmapd
        self.marker = os.path.join(self.workdir, "activated")
        services = os.path.join(self.workdir, "bus", "services")
        os.makedirs(services)
        with open(os.path.join(services, "org.portmap.Manager.service"), "w") as f:
            f.write(f"[D-BUS Service]\nName={BUS_NAME}\n"
                    f"Exec=/bin/sh -c 'touch {self.marker}'\n")
        self.bus = pmlab.PrivateBus(self.workdir, lambda d: pmlab.bus_config(
            d, service_dir=os.path.join(d, "services")))
        self.addCleanup(self.bus.stop)
        self.conn = connect(self.bus.address)
        self.addCleanup(self.conn.close_sync, None)
        self.fake = pmlab.LoopbackFakeGateway(self.workdir)
        self.addCleanup(self.fake.stop)
        self.fake.control.set(port_min=PORT_MIN, port_max=PORT_MIN + 9999)
        self.config = os.path.join(self.workdir, "portmapd.conf")
        with open(self.config, "w") as f:
            f.write(f"[Provider lab]\nType=natpmp\nGateway=127.0.0.1\nPort={self.fake.port}\n"
                    "[Mapping web]\nProvider=lab\nProtocols=tcp\nInternalPort=8080\n")
        self.daemon_log = open(os.path.join(self.workdir, "portmapd.log"), "w")
        self.addCleanup(self.daemon_log.close)
        self.daemon = None
        self.addCleanup(self.stop_daemon)
        self.dump = None
        self.addCleanup(self.stop_dump)

        self.desktop = Desktop()
        self.desktop.start()
        # run in reverse: the applet stopped and checked, the desktop stopped, then
        # nothing of it may be left
        self.addCleanup(self.check_nothing_left)
        self.addCleanup(self.desktop.stop)
        self.addCleanup(self.stop_applet)
        self.addCleanup(self.save_on_failure)
        self.env = dict(self.desktop.env(), DBUS_SYSTEM_BUS_ADDRESS=self.bus.address,
                        LC_ALL="C.UTF-8", G_DEBUG="fatal-criticals")
        self.env.pop("LANGUAGE", None)
        self.applet = None
        self.shot_prefix = self.id().rsplit(".", 1)[-1]

    # ---- cleanup ----

    def has_failed(self):
        result = getattr(self._outcome, "result", None)
        if result is None:
            return False
        return any(test is self for test, _ in result.errors + result.failures)

    def save_on_failure(self):
        """A failed test leaves a screenshot, every process's log and portmapd's log in
        the artifacts directory."""
        if not self.has_failed() or not self.desktop.tmpdir:
            return
        try:
            print("screenshot:", self.desktop.screenshot(self.shot_prefix + "-failure"))
        except DesktopError as e:
            print("no screenshot:", e)
        self.desktop.save_logs(self.shot_prefix)
        self.daemon_log.flush()
        shutil.copyfile(os.path.join(self.workdir, "portmapd.log"),
                        os.path.join(self.desktop.artifacts,
                                     f"{self.shot_prefix}-portmapd.log"))

    def stop_applet(self):
        """SIGTERM (unless it quit already): it exits 0 and never warned."""
        if self.applet is None:
            return
        self.applet.stop()
        log = self.desktop.log("applet")
        self.assertEqual(self.applet.popen.returncode, 0,
                         f"portmap-applet did not exit 0 on SIGTERM; it wrote:\n{log}")
        self.assertEqual([line for line in log.splitlines()
                          if "WARNING" in line or "CRITICAL" in line], [], log)

    def check_nothing_left(self):
        self.assertEqual(self.desktop.leftover_pids(), [])

    def stop_daemon(self):
        daemon, self.daemon = self.daemon, None
        if daemon is not None:
            daemon.terminate()
            self.assertEqual(daemon.wait(15), 0, "portmapd did not exit 0 on SIGTERM")

    def stop_dump(self):
        if self.dump is not None:
            self.dump.close()
            self.dump = None

    # ---- helpers ----

    def wait_for(self, predicate, timeout, what):
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                self.fail(f"{what}: not within {timeout:g} s")
            time.sleep(0.05)

    def start_daemon(self):
        self.daemon = subprocess.Popen([PORTMAPD, "--config", self.config, "--state-dir",
                                        os.path.join(self.workdir, "state")],
                                       env=self.env, stdout=self.daemon_log,
                                       stderr=subprocess.STDOUT)
        self.wait_for(self.name_has_owner, 10, "portmapd on the bus")

    def name_has_owner(self):
        return self.conn.call_sync("org.freedesktop.DBus", "/org/freedesktop/DBus",
                                   "org.freedesktop.DBus", "NameHasOwner",
                                   GLib.Variant("(s)", (BUS_NAME,)), None,
                                   Gio.DBusCallFlags.NONE, 2000, None).unpack()[0]

    def call(self, method, args=None):
        return self.conn.call_sync(BUS_NAME, MANAGER_PATH, MANAGER_IFACE, method, args, None,
                                   Gio.DBusCallFlags.NO_AUTO_START, 30000, None).unpack()

    def mappings(self):
        """ListMappings by name."""
        return {m[1]: m for m in self.call("ListMappings")[0]}

    def wait_active(self, name):
        return self.wait_for(lambda: (self.mappings().get(name) or [None] * 4)[3] == "active"
                             and self.mappings()[name], 15, f"{name} active")

    def add_mapping(self, name, port, protocol="tcp"):
        return self.call("AddMapping", GLib.Variant("(sasqqua{sv})", (
            "", [protocol], port, 0, 0, {"scope": GLib.Variant("s", "runtime"),
                                         "name": GLib.Variant("s", name)})))[0]

    def start_applet(self):
        d = self.desktop
        self.applet = d.spawn([APPLET, "--icon-theme-path", ICONS], "applet", env=self.env)
        return d.wait_for_item(timeout=WAIT, item_id=INDICATOR_ID)

    def props(self, item):
        return self.desktop.item_properties(item)

    def wait_icon(self, item, icon_name):
        """The item's properties once its IconName is icon_name."""
        last = {}

        def check():
            nonlocal last
            last = self.props(item)
            return last if last["IconName"] == icon_name else None
        try:
            return self.wait_for(check, WAIT, f"IconName {icon_name}")
        except AssertionError:
            raise AssertionError(f"IconName never {icon_name}: {last}") from None

    def entries(self, item):
        return layout_entries(self.desktop.menu_layout(item))

    def wait_menu(self, item, predicate, what):
        """The item's menu entries (layout_entries) once predicate(entries) holds."""
        last = []

        def check():
            nonlocal last
            last = self.entries(item)
            return last if predicate(last) else None
        try:
            return self.wait_for(check, WAIT, what)
        except AssertionError:
            raise AssertionError(f"the menu never showed {what}:\n"
                                 + "\n".join(map(repr, last))) from None

    def wait_label(self, item, label):
        return self.wait_menu(item, lambda es: any(e[1] == label for e in es), repr(label))

    def entry_id(self, item, label):
        """The dbusmenu id of the (first) entry labelled label, mnemonics undone."""
        for e in Desktop.menu_entries(self.desktop.menu_layout(item)):
            if e["type"] != "separator" and undo_mnemonics(e["label"]) == label:
                return e["id"]
        self.fail(f"no menu entry {label!r}")

    def keyboard_position(self, item, label):
        """Where label is for choose_popup_entry(): among the top-level entries the
        keyboard visits (enabled, visible, not separators)."""
        reachable = [undo_mnemonics(e["label"]) for e in self.desktop.menu_layout(item)["children"]
                     if e["type"] != "separator" and e["enabled"] and e["visible"]]
        self.assertIn(label, reachable)
        return reachable.index(label)

    def web_label(self, port, state="active"):
        return f"web  tcp 8080 → {PUBLIC}:{port}  {state}"

    def icon_pixels(self, item):
        return self.desktop.pixels(*self.desktop.icon_geometry(item, drawn=True))

    def crop(self, source, name, x, y, width, height):
        """A cropped, stripped copy of a screenshot in the artifacts directory."""
        x, y = max(0, x), max(0, y)
        width = min(width, self.desktop.width - x)
        height = min(height, self.desktop.height - y)
        path = os.path.join(self.desktop.artifacts, name + ".png")
        subprocess.run(["convert", source, "-crop", f"{width}x{height}+{x}+{y}", "+repage",
                        "-strip", path], check=True, timeout=30)
        return path

    def clipboard(self):
        """The CLIPBOARD selection as its owner gives it now ("" if nobody owns it)."""
        return self.desktop.x(["xclip", "-o", "-selection", "clipboard"],
                              check=False).decode(errors="replace")

    def window_gone(self, name_regex):
        out = self.desktop.x(["xdotool", "search", "--onlyvisible", "--name", name_regex],
                             check=False)
        return not out.split()

    # ---- tests ----

    def test_item_properties_and_menu_match_the_daemon(self):
        """The item registers with the panel's watcher and is drawn; its properties say
        all is well; GetLayout's entries are the model's (model dump on the same buses),
        the mappings' external address:port as ListMappings has them, underscores of a
        name shown as themselves."""
        self.start_daemon()
        self.add_mapping("my_game", 9200)
        web = self.wait_active("web")
        game = self.wait_active("my_game")
        self.assertGreaterEqual(web[7], PORT_MIN)
        item = self.start_applet()
        d = self.desktop
        self.assertIn(item, d.registered_items())
        props = self.wait_icon(item, "portmap-ok")
        self.assertEqual(props["Id"], INDICATOR_ID)
        self.assertEqual(props["Status"], "Active")
        self.assertEqual(props["Title"], "All 2 mappings active")
        self.assertEqual(props["IconThemePath"], ICONS)
        self.assertEqual(props["Category"], "SystemServices")
        self.assertTrue(props["Menu"].startswith("/"), props)
        # the panel drew it: its slot holds more than the panel's background
        d.icon_geometry(item, drawn=True)

        entries = self.wait_label(item, self.web_label(web[7]))
        self.assertIn(("standard", f"my_game  tcp 9200 → {PUBLIC}:{game[7]}  active", True),
                      entries)
        self.assertIn(("standard", "my_game (tcp 9200)", True), entries)
        # the model's view of the same daemon
        self.dump = ModelDump(self.env)
        state = self.dump.wait(lambda s: s["event"] == "changed"
                               and (mapping(s, "my_game") or {}).get("state") == "active",
                               WAIT, "my_game active in the model")
        self.assertEqual(mapping(state, "web")["external_port"], web[7])
        expected = model_entries(state["menu"])
        entries = self.wait_menu(item, lambda es: es == expected, "the model's menu")
        self.assertEqual(entries[0], ("standard", "All 2 mappings active", False))
        self.assertEqual(self.props(item)["Title"], state["title"])
        self.assertEqual(self.props(item)["IconName"], state["icon_name"])
        # the raw label doubles the underscore, so the host shows it as one
        raw = [e["label"] for e in Desktop.menu_entries(d.menu_layout(item))]
        self.assertIn(f"my__game  tcp 9200 → {PUBLIC}:{game[7]}  active", raw)
        self.assertFalse(os.path.exists(self.marker))

    def test_icon_and_menu_follow_the_daemon(self):
        """Retrying turns the icon to portmap-warning and the label says so; portmapd
        stopped: portmap-absent and every entry but Quit insensitive; started again: ok,
        with the same applet process and item."""
        self.start_daemon()
        web = self.wait_active("web")
        item = self.start_applet()
        self.wait_icon(item, "portmap-ok")
        self.wait_label(item, self.web_label(web[7]))
        ok_pixels = self.icon_pixels(item)

        # the gateway stops answering: a new mapping retries
        self.fake.control.set(silent=True)
        self.add_mapping("late", 9300)
        props = self.wait_icon(item, "portmap-warning")
        entries = self.wait_label(item, "late  tcp 9300  retrying")
        self.assertIn(("standard", "late  tcp 9300  retrying", False), entries)
        self.assertEqual(props["Title"], "Mappings not active: 1 of 2")
        self.assertEqual(entries[0], ("standard", "Mappings not active: 1 of 2", False))
        # the panel redraws the icon from the theme path
        self.wait_for(lambda: self.icon_pixels(item) != ok_pixels, 5,
                      "the warning icon drawn")
        warning_pixels = self.icon_pixels(item)

        # portmapd goes away
        self.fake.control.set(silent=False)
        pid = self.applet.pid
        self.stop_daemon()
        props = self.wait_icon(item, "portmap-absent")
        self.assertEqual(props["Title"], "portmapd is not running")
        entries = self.wait_menu(item, lambda es: es[0][1] == "portmapd is not running",
                                 "the absent menu")
        enabled = [e[1] for e in entries if e[0] != "separator" and e[2]]
        self.assertEqual(enabled, ["Quit"], entries)
        self.assertFalse([e for e in entries if "web" in e[1]], entries)
        self.wait_for(lambda: self.icon_pixels(item) not in (ok_pixels, warning_pixels), 5,
                      "the absent icon drawn")

        # and comes back: the same process shows it, web with its port again
        self.start_daemon()
        web = self.wait_active("web")
        self.wait_icon(item, "portmap-ok")
        entries = self.wait_label(item, self.web_label(web[7]))
        self.assertEqual(entries[0], ("standard", "1 mapping active", False))
        self.assertIsNone(self.applet.popen.poll())
        self.assertEqual(self.applet.pid, pid)
        self.assertIn(item, self.desktop.registered_items())
        self.wait_for(lambda: self.icon_pixels(item) == ok_pixels, 5, "the ok icon drawn")
        self.assertFalse(os.path.exists(self.marker))

    def test_started_before_portmapd(self):
        """Without portmapd the item registers all the same, absent, and does not start
        it; once portmapd comes, the applet shows it."""
        item = self.start_applet()
        props = self.wait_icon(item, "portmap-absent")
        self.assertEqual(props["Title"], "portmapd is not running")
        entries = self.entries(item)
        self.assertEqual(entries[0], ("standard", "portmapd is not running", False))
        self.assertEqual([e[1] for e in entries if e[0] != "separator" and e[2]], ["Quit"])
        time.sleep(1)
        self.assertFalse(os.path.exists(self.marker), "the applet activated portmapd")
        self.start_daemon()
        web = self.wait_active("web")
        self.wait_icon(item, "portmap-ok")
        entries = self.wait_label(item, self.web_label(web[7]))
        self.assertIn(("standard", "Add mapping…", True), entries)

    def test_menu_and_add_mapping_dialog(self):
        """A click on the icon pops the menu under it (screenshot); "Add mapping…" chosen
        with the keyboard opens the dialog (screenshot), filled with xdotool it adds a
        client mapping that portmapd grants and the menu shows with its external port;
        the Remove entry removes it."""
        d = self.desktop
        self.start_daemon()
        self.add_mapping("game", 25565)
        web = self.wait_active("web")
        game = self.wait_active("game")
        item = self.start_applet()
        self.wait_icon(item, "portmap-ok")
        self.wait_label(item, self.web_label(web[7]))
        self.wait_label(item, f"game  tcp 25565 → {PUBLIC}:{game[7]}  active")
        x, y, w, h = d.icon_geometry(item, drawn=True)

        d.click_item(item)
        menu = d.wait_for_popup_menu(timeout=5)
        self.assertEqual(menu["y"], y + h, menu)
        self.assertLessEqual(menu["x"], x, menu)
        time.sleep(0.3)     # the menu's first frame
        full = d.screenshot("applet-menu")
        # the panel's end above the menu, and the menu
        cropped = self.crop(full, "applet-menu-cropped", menu["x"], 0, d.width - menu["x"],
                            menu["y"] + menu["height"])
        print("screenshots:", full, cropped)

        d.choose_popup_entry(self.keyboard_position(item, "Add mapping…"))
        wid = d.wait_for_window("^Add mapping$", timeout=10)
        self.wait_for(lambda: d.popup_menus() == [], 5, "the menu closed")
        # no window manager: give it the keyboard
        d.x(["xdotool", "windowfocus", "--sync", str(wid)])
        # the protocol's next choice (UDP), the internal port
        d.x(["xdotool", "key", "--delay", "60", "alt+p", "Down", "alt+i"])
        d.x(["xdotool", "type", "--delay", "60", "9555"])
        time.sleep(0.3)
        dialog = [w for w in d.toplevels() if w["id"] == wid][0]
        full = d.screenshot("applet-add-dialog")
        cropped = self.crop(full, "applet-add-dialog-cropped", dialog["x"], dialog["y"],
                            dialog["width"], dialog["height"])
        print("screenshots:", full, cropped)
        # Return in the port field is the default response: Add
        d.x(["xdotool", "key", "Return"])

        def added():
            return [m for m in self.call("ListMappings")[0]
                    if m[6] == 9555 and m[3] == "active"]
        new = self.wait_for(added, WAIT, "the mapping added through the dialog")[0]
        path, name, _, _, protocols, scope, _, external, address = new[:9]
        self.assertEqual((protocols, scope, address), (["udp"], "client", PUBLIC))
        self.assertGreaterEqual(external, PORT_MIN)
        self.wait_for(lambda: self.window_gone("^Add mapping$"), 5, "the dialog closed")
        label = f"{name}  udp 9555 → {PUBLIC}:{external}  active"
        entries = self.wait_label(item, label)
        self.assertIn(("standard", label, True), entries)
        self.assertEqual(entries[0], ("standard", "All 3 mappings active", False))

        # Remove mapping > NAME (udp 9555), as the host sends it
        d.menu_event(item, self.entry_id(item, f"{name} (udp 9555)"))
        self.wait_for(lambda: name not in self.mappings(), WAIT, "the mapping removed")
        entries = self.wait_menu(item, lambda es: not any(name in e[1] for e in es),
                                 f"the menu without {name}")
        self.assertIn(("standard", "game (tcp 25565)", True), entries)
        self.assertIn("game", self.mappings())

    def test_add_dialog_refuses_bad_input(self):
        """A port out of range adds nothing (Return does not confirm, the dialog stays);
        a port portmapd refuses (web's 8080) brings an error dialog over the Add dialog,
        which stays open; Escape closes both; portmapd's mappings never change."""
        d = self.desktop
        self.start_daemon()
        web = self.wait_active("web")
        item = self.start_applet()
        self.wait_label(item, self.web_label(web[7]))
        before = self.call("ListMappings")[0]
        d.menu_event(item, self.entry_id(item, "Add mapping…"))
        wid = d.wait_for_window("^Add mapping$", timeout=10)
        d.x(["xdotool", "windowfocus", "--sync", str(wid)])
        d.x(["xdotool", "key", "--delay", "60", "alt+i"])
        d.x(["xdotool", "type", "--delay", "60", "70000"])
        d.x(["xdotool", "key", "Return"])
        time.sleep(0.5)
        d.screenshot("applet-add-dialog-invalid")
        self.assertFalse(self.window_gone("^Add mapping$"), "the dialog closed")
        self.assertTrue(self.window_gone("^Port Mappings$"), "an error dialog for 70000")
        # TCP 8080 is web's: portmapd says so
        d.x(["xdotool", "key", "--delay", "60", "ctrl+a", "BackSpace"])
        d.x(["xdotool", "type", "--delay", "60", "8080"])
        d.x(["xdotool", "key", "Return"])
        error = d.wait_for_window("^Port Mappings$", timeout=10)
        d.screenshot("applet-add-error")
        transient = d.x(["xprop", "-id", str(error), "WM_TRANSIENT_FOR"]).decode()
        self.assertRegex(transient, rf"window id # 0x0*{wid:x}\b",
                         "the error dialog is not transient for the Add dialog")
        self.assertFalse(self.window_gone("^Add mapping$"), "the dialog closed on an error")
        self.assertEqual(self.call("ListMappings")[0], before)
        d.x(["xdotool", "windowfocus", "--sync", str(error)])
        d.x(["xdotool", "key", "Escape"])
        self.wait_for(lambda: self.window_gone("^Port Mappings$"), 5, "the error closed")
        d.x(["xdotool", "windowfocus", "--sync", str(wid)])
        d.x(["xdotool", "key", "Escape"])
        self.wait_for(lambda: self.window_gone("^Add mapping$"), 5, "the dialog cancelled")
        self.assertEqual(self.call("ListMappings")[0], before)
        self.assertEqual(self.entries(item)[0], ("standard", "1 mapping active", False))

    def test_mapping_entry_copies_address_and_port(self):
        """Choosing a mapping in the popped-up menu puts ADDR:PORT on the clipboard, the
        applet owning it; a dbusmenu click on another mapping puts that one's."""
        d = self.desktop
        self.start_daemon()
        self.add_mapping("game", 9201, "udp")
        web = self.wait_active("web")
        game = self.wait_active("game")
        item = self.start_applet()
        self.wait_label(item, self.web_label(web[7]))
        self.assertEqual(self.clipboard(), "")
        d.click_item(item)
        d.wait_for_popup_menu(timeout=5)
        d.choose_popup_entry(self.keyboard_position(item, self.web_label(web[7])))
        self.wait_for(lambda: self.clipboard() == f"{PUBLIC}:{web[7]}", 5,
                      "web's address on the clipboard")
        owner = d.x(["xdotool", "search", "--pid", str(self.applet.pid)], check=False)
        self.assertTrue(owner.split(), "the applet has no X window to own the selection")
        d.menu_event(item, self.entry_id(item, f"game  udp 9201 → {PUBLIC}:{game[7]}  active"))
        self.wait_for(lambda: self.clipboard() == f"{PUBLIC}:{game[7]}", 5,
                      "game's address on the clipboard")

    def test_about_window_lists_the_config_file(self):
        """"About this configuration…" opens its window; its text (selected and copied
        with the keyboard, read back from the clipboard) names the configuration file in
        use and the mappings as Describe() has them."""
        d = self.desktop
        self.start_daemon()
        web = self.wait_active("web")
        item = self.start_applet()
        self.wait_label(item, self.web_label(web[7]))
        d.menu_event(item, self.entry_id(item, "About this configuration…"))
        wid = d.wait_for_window("^About this configuration$", timeout=10)
        window = [w for w in d.toplevels() if w["id"] == wid][0]
        # a click in the text, then select all and copy it
        d.x(["xdotool", "mousemove", str(window["x"] + window["width"] // 2),
             str(window["y"] + window["height"] // 3), "click", "1"])

        def copied():
            d.x(["xdotool", "key", "--delay", "60", "ctrl+a", "ctrl+c"])
            time.sleep(0.1)
            text = self.clipboard()
            return text if text.startswith("Configuration files\n") else None
        text = self.wait_for(copied, WAIT, "the About text")
        full = d.screenshot("applet-about")
        self.crop(full, "applet-about-cropped", window["x"], window["y"], window["width"],
                  window["height"])
        self.assertIn(f"\n  {self.config}\n", text)
        self.assertIn(f"  web: tcp 8080 → {PUBLIC}:{web[7]}, active\n", text)
        self.assertIn("  lab (natpmp): ready\n", text)
        describe = self.call("Describe")[0]
        self.assertIn(self.config, describe)
        d.x(["xdotool", "key", "Escape"])
        self.wait_for(lambda: self.window_gone("^About this configuration$"), 5,
                      "the About window closed by Escape")

    def test_quit_leaves_nothing_running(self):
        """Quit from the menu: the applet exits 0 by itself, its item leaves the watcher;
        with the desktop stopped no process of it is left."""
        d = self.desktop
        self.start_daemon()
        item = self.start_applet()
        self.wait_icon(item, "portmap-ok")
        pid = self.applet.pid
        d.menu_event(item, self.entry_id(item, "Quit"))
        self.wait_for(lambda: self.applet.popen.poll() is not None, 10, "the applet quit")
        self.assertEqual(self.applet.popen.returncode, 0, d.log("applet"))
        self.wait_for(lambda: item not in d.registered_items(), 5, "the item unregistered")
        d.stop()
        self.assertEqual(d.leftover_pids(), [])
        self.assertFalse(os.path.exists(f"/proc/{pid}"))


if __name__ == "__main__":
    unittest.main(verbosity=2)
