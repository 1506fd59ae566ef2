#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The desktop harness's own tests (suite "desktop"): Xvfb + private session bus + xfconfd +
xfce4-panel come up and host SNI, the stand-in item registers and its properties and menu
read back, dbusmenu events and clicks on the icon reach it, screenshots are real, nothing is
left behind; and latency-monitor times a PortChanged to the label that shows its port.
Usage: test_desktop.py Class.test_method (one meson test per method). Screenshots go to
$PORTMAP_TEST_ARTIFACTS."""

import json
import os
import select
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "lab"))
import pmlab  # noqa: E402
from desktop import Desktop, DesktopError, group_members, pid_alive  # noqa: E402

import gi  # noqa: E402

gi.require_version("Gio", "2.0")
from gi.repository import Gio, GLib  # noqa: E402

PYTHON = "/usr/bin/python3"
STAND_IN = os.path.join(HERE, "stand-in-item")
LATENCY_MONITOR = os.path.join(HERE, "latency-monitor")
STAND_IN_ID = "portmap-stand-in"
MAGENTA = (255, 0, 255)
CYAN = (0, 255, 255)

def wait_until(predicate, timeout, message):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{message} within {timeout:g} s")
        time.sleep(0.05)


def png_size(path):
    """(width, height) from a PNG's IHDR; AssertionError if it is not a PNG."""
    with open(path, "rb") as f:
        head = f.read(24)
    if head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        raise AssertionError(f"{path} is not a PNG")
    return struct.unpack(">II", head[16:24])


def fraction_of(pixels, rgb, tolerance=8):
    flat = [p for row in pixels for p in row]
    close = [p for p in flat if all(abs(a - b) <= tolerance for a, b in zip(p, rgb))]
    return len(close) / len(flat)


class DesktopTestCase(unittest.TestCase):
    """A fresh desktop per test, and helpers to run the stand-in item on it."""

    def setUp(self):
        self.workdir = tempfile.mkdtemp(prefix="portmap-desktop-test-")
        self.addCleanup(shutil.rmtree, self.workdir, True)
        self.desktop = Desktop()
        self.desktop.start()
        self.addCleanup(self.desktop.stop)
        self.addCleanup(self.save_on_failure)
        self.shot_prefix = self.id().rsplit(".", 2)[-1]

    def has_failed(self):
        """Whether this test has failed so far (Python 3.11 records a failure in the result
        as it happens; during cleanups _outcome.success says nothing)."""
        result = getattr(self._outcome, "result", None)
        if result is None:
            return False
        return any(test is self for test, _ in result.errors + result.failures)

    def save_on_failure(self):
        """A failed test leaves a screenshot and every process's log in the artifacts."""
        if self.has_failed() and self.desktop.tmpdir:
            try:
                print("screenshot:", self.desktop.screenshot(self.shot_prefix + "-failure"))
            except DesktopError as e:
                print("no screenshot:", e)
            self.desktop.save_logs(self.shot_prefix)

    def start_stand_in(self, item_id=STAND_IN_ID, color="ff00ff", name="stand-in"):
        """Run stand-in-item; returns (Process, item, activate file, label file)."""
        workdir = os.path.join(self.workdir, item_id)
        os.mkdir(workdir)
        activate = os.path.join(workdir, "activated")
        label = os.path.join(workdir, "label")
        proc = self.desktop.spawn([PYTHON, STAND_IN, "--workdir", workdir, "--id", item_id,
                                   "--color", color, "--activate-file", activate,
                                   "--label-file", label], name)
        item = self.desktop.wait_for_item(timeout=15, item_id=item_id)
        return proc, item, activate, label

    def read(self, path):
        try:
            with open(path) as f:
                return f.read()
        except FileNotFoundError:
            return ""


class DesktopTest(DesktopTestCase):

    def test_panel_hosts_sni(self):
        """The panel owns the watcher with a registered host, no item yet, its one panel is
        mapped along the top edge; env() points a program at this desktop only."""
        d = self.desktop
        print(f"desktop {d.display} up in {d.startup_seconds:.2f} s")
        self.assertTrue(d._name_has_owner("org.kde.StatusNotifierWatcher"))
        self.assertTrue(d._watcher_property("IsStatusNotifierHostRegistered"))
        self.assertEqual(d.registered_items(), [])
        panels = [w for w in d.toplevels() if "_NET_WM_WINDOW_TYPE_DOCK" in w["types"]]
        self.assertEqual(len(panels), 1, d.toplevels())
        self.assertEqual((panels[0]["x"], panels[0]["y"], panels[0]["width"]), (0, 0, 1024))
        env = d.env()
        self.assertEqual(env["DISPLAY"], d.display)
        self.assertEqual(env["DBUS_SESSION_BUS_ADDRESS"], d.bus_address)
        for key in ("HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME",
                    "XDG_RUNTIME_DIR", "XDG_CONFIG_DIRS"):
            self.assertTrue(env[key].startswith(d.tmpdir + os.sep), (key, env[key]))
        self.assertEqual((env["NO_AT_BRIDGE"], env["GDK_BACKEND"]), ("1", "x11"))
        self.assertNotIn("SESSION_MANAGER", env)
        # the panel's own configuration came from the seeded file
        self.assertEqual(d.call("org.xfce.Xfconf", "/org/xfce/Xfconf", "org.xfce.Xfconf",
                                "GetProperty", GLib.Variant("(ss)", ("xfce4-panel",
                                                                     "/plugins/plugin-2")),
                                "(v)")[0], "systray")

    def test_item_registers(self):
        """The stand-in's item appears in RegisteredStatusNotifierItems, once, under the
        stand-in's bus connection."""
        proc, item, _, _ = self.start_stand_in()
        self.assertEqual(self.desktop.registered_items(), [item])
        self.assertTrue(item.startswith(":"), item)
        self.assertIn("/", item)
        # and leaves it when it ends
        proc.stop()
        wait_until(lambda: self.desktop.registered_items() == [], 10,
                   "the item did not leave the watcher")

    def test_item_properties(self):
        """Id, Title, Status, IconName, IconThemePath, Category and Menu read back as the
        stand-in set them; ayatana has no ToolTip."""
        _, item, _, _ = self.start_stand_in()
        props = self.desktop.item_properties(item)
        self.assertEqual(props["Id"], STAND_IN_ID)
        self.assertEqual(props["Title"], "Portmap stand-in")
        self.assertEqual(props["Status"], "Active")
        self.assertEqual(props["IconName"], STAND_IN_ID + "-icon")
        self.assertEqual(props["IconThemePath"], os.path.join(self.workdir, STAND_IN_ID,
                                                              "icons"))
        self.assertEqual(props["Category"], "ApplicationStatus")
        self.assertTrue(props["Menu"].startswith("/org/ayatana/NotificationItem/"),
                        props["Menu"])
        self.assertIsNone(props["ToolTip"])
        with self.assertRaises(DesktopError):
            self.desktop.item_properties("")

    def test_menu_layout(self):
        """GetLayout shows the two entries, enabled and visible."""
        _, item, _, _ = self.start_stand_in()
        layout = self.desktop.menu_layout(item)
        self.assertEqual(layout["id"], 0)
        entries = Desktop.menu_entries(layout)
        self.assertEqual([e["label"] for e in entries], ["Stand-in first", "Stand-in second"])
        for e in entries:
            self.assertEqual((e["enabled"], e["visible"], e["type"]), (True, True, "standard"))
            self.assertEqual(e["children"], [])

    def test_menu_event(self):
        """A dbusmenu Event "clicked" on the second entry runs its callback (which writes
        the activate file); nothing ran before."""
        _, item, activate, _ = self.start_stand_in()
        entries = Desktop.menu_entries(self.desktop.menu_layout(item))
        self.assertEqual(self.read(activate), "")
        self.desktop.menu_event(item, entries[1]["id"], "clicked")
        wait_until(lambda: self.read(activate) == "Stand-in second\n", 5,
                   "the click event did not reach the entry's callback")

    def test_icon_geometry(self):
        """icon_geometry finds where the panel drew each item: the stand-ins' icons are solid
        magenta and cyan, and each one's slot shows its colour (two items: the tray's order
        counts)."""
        d = self.desktop
        _, first, _, _ = self.start_stand_in()
        x, y, w, h = d.icon_geometry(first)
        self.assertEqual((y, w, h), (0, 32, 32))
        self.assertGreater(x, 1024 - 2 * 32)
        wait_until(lambda: fraction_of(d.pixels(*d.icon_geometry(first)), MAGENTA) > 0.3, 5,
                   "the magenta icon is not in its slot")
        _, second, _, _ = self.start_stand_in("portmap-stand-in-two", "00ffff", "stand-in-2")
        wait_until(lambda: fraction_of(d.pixels(*d.icon_geometry(second)), CYAN) > 0.3, 5,
                   "the cyan icon is not in its slot")
        g1, g2 = d.icon_geometry(first), d.icon_geometry(second)
        self.assertNotEqual(g1, g2)
        self.assertGreater(fraction_of(d.pixels(*g1), MAGENTA), 0.3)
        self.assertEqual(fraction_of(d.pixels(*g1), CYAN), 0)
        self.assertEqual(fraction_of(d.pixels(*g2), MAGENTA), 0)
        d.screenshot(self.shot_prefix + "-two-items")

    def test_click_item(self):
        """A left click on the icon pops the item's menu: a popup-menu window appears below
        the panel at the icon, the screen there changes, and choosing its first entry from
        the keyboard runs the stand-in's callback."""
        d = self.desktop
        _, item, activate, _ = self.start_stand_in()
        x, y, w, h = d.icon_geometry(item)
        wait_until(lambda: fraction_of(d.pixels(x, y, w, h), MAGENTA) > 0.3, 5,
                   "the icon was not drawn")
        self.assertEqual(d.popup_menus(), [])
        before = d.pixels(x - 150, y + h, 150 + w, 60)
        d.click_item(item)
        menu = d.wait_for_popup_menu(timeout=5)
        self.assertEqual(menu["y"], y + h, menu)
        self.assertLessEqual(menu["x"], x)
        self.assertGreaterEqual(menu["x"] + menu["width"], x)
        after = d.pixels(x - 150, y + h, 150 + w, 60)
        self.assertNotEqual(before, after)
        d.screenshot(self.shot_prefix + "-menu-open")
        d.choose_popup_entry(0)
        wait_until(lambda: self.read(activate) == "Stand-in first\n", 5,
                   "picking the first entry did not reach its callback")
        wait_until(lambda: d.popup_menus() == [], 5, "the menu did not close")

    def test_click_item_ten_times(self):
        """Click, menu, Escape, ten times in a row: every click opens the menu."""
        d = self.desktop
        _, item, _, _ = self.start_stand_in()
        wait_until(lambda: fraction_of(d.pixels(*d.icon_geometry(item)), MAGENTA) > 0.3, 5,
                   "the icon was not drawn")
        times = []
        for i in range(10):
            started = time.monotonic()
            d.click_item(item)
            d.wait_for_popup_menu(timeout=5)
            times.append(time.monotonic() - started)
            d.close_popup_menus()
        print("click to menu (s):", " ".join(f"{t:.3f}" for t in times))

    def test_screenshot(self):
        """A screenshot is a 1024x768 PNG with more than one colour (the panel on the black
        root), where asked; a bare name lands in the artifacts directory."""
        d = self.desktop
        self.start_stand_in()
        path = d.screenshot(os.path.join(self.workdir, "shot"))
        self.assertEqual(path, os.path.join(self.workdir, "shot.png"))
        self.assertEqual(png_size(path), (1024, 768))
        colours = int(d.x(["identify", "-format", "%k", path]).decode())
        self.assertGreater(colours, 2)
        named = d.screenshot(self.shot_prefix)
        self.assertEqual(os.path.dirname(named), d.artifacts)
        self.assertEqual(png_size(named), (1024, 768))
        print("screenshot:", named)

    def test_wait_for_window(self):
        """wait_for_window finds a window by its name once it is mapped, and says so within
        the timeout when there is none."""
        d = self.desktop
        started = time.monotonic()
        with self.assertRaises(DesktopError):
            d.wait_for_window("^no such window$", timeout=1)
        self.assertLess(time.monotonic() - started, 5)
        d.spawn(["xlogo"], "xlogo")
        wid = d.wait_for_window("^xlogo$", timeout=10)
        self.assertIn(wid, [w["id"] for w in d.toplevels()])

    def test_cleanup(self):
        """stop() leaves no process (Xvfb, dbus-daemon, xfconfd, the panel, its plugin
        wrapper, the item), no temp dir and no X socket behind."""
        d = self.desktop
        proc, _, _, _ = self.start_stand_in()
        pids = {}
        for name, p in d.processes.items():
            for pid in group_members(p.pid):
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    pids[pid] = os.path.basename(f.read().split(b"\0")[0].decode())
        # wrapper-2.0 runs the systray plugin (it calls itself panel-N-systray)
        for program in ("Xvfb", "dbus-daemon", "xfconfd", "xfce4-panel", "wrapper-2.0"):
            self.assertIn(program, pids.values())
        tmpdir, display = d.tmpdir, d.display
        x_socket = "/tmp/.X11-unix/X" + display[1:]
        self.assertTrue(os.path.exists(x_socket))
        d.stop()
        self.assertEqual({pid: comm for pid, comm in pids.items() if pid_alive(pid)}, {})
        self.assertEqual(d.leftover_pids(), [])
        self.assertFalse(os.path.exists(tmpdir))
        self.assertFalse(os.path.exists(x_socket))
        self.assertFalse(os.path.exists(f"/tmp/.X{display[1:]}-lock"))


class DesktopStartTest(unittest.TestCase):

    def test_start_failure_says_why(self):
        """When the panel dies at start, start() raises DesktopError with its exit status and
        stderr, and stops what it had started."""
        fakebin = tempfile.mkdtemp(prefix="portmap-desktop-test-")
        self.addCleanup(shutil.rmtree, fakebin, True)
        with open(os.path.join(fakebin, "xfce4-panel"), "w") as f:
            f.write("#!/bin/sh\necho 'fake panel: cannot start' >&2\nexit 3\n")
        os.chmod(os.path.join(fakebin, "xfce4-panel"), 0o755)
        desktop = Desktop()
        path = os.environ["PATH"]
        os.environ["PATH"] = fakebin + os.pathsep + path
        try:
            with self.assertRaises(DesktopError) as caught:
                desktop.start()
        finally:
            os.environ["PATH"] = path
        message = str(caught.exception)
        self.assertIn("exited with 3", message)
        self.assertIn("fake panel: cannot start", message)
        self.assertEqual(sorted(desktop.processes),
                         ["Xvfb", "dbus-daemon", "xfce4-panel", "xfconfd"])
        self.assertEqual(desktop.leftover_pids(), [])
        self.assertIsNone(desktop.tmpdir)


class StandInTest(unittest.TestCase):

    def test_stand_in_bad_arguments(self):
        """A bad argument is refused with a clear message, before any bus or display."""
        workdir = tempfile.mkdtemp(prefix="portmap-desktop-test-")
        self.addCleanup(shutil.rmtree, workdir, True)
        for args, message in ((["--workdir", os.path.join(workdir, "nope")], "not a directory"),
                              (["--workdir", workdir, "--color", "red"], "not RRGGBB"),
                              (["--workdir", workdir, "--id", "a b"], "letters, digits")):
            result = subprocess.run([PYTHON, STAND_IN] + args, capture_output=True, text=True,
                                    timeout=30, env=dict(os.environ, DISPLAY=""))
            self.assertEqual(result.returncode, 2, result)
            self.assertIn(message, result.stderr)
            self.assertEqual(os.listdir(workdir), [])


class LatencyMonitorTest(DesktopTestCase):
    """latency-monitor between a fake org.portmap.Manager on a private "system" bus and the
    stand-in item on the desktop's session bus."""

    MAPPING = "/org/portmap/Manager/mappings/1"

    def setUp(self):
        super().setUp()
        busdir = os.path.join(self.workdir, "system-bus")
        os.mkdir(busdir)
        config = os.path.join(busdir, "bus.conf")
        with open(config, "w") as f:
            f.write(pmlab.bus_config(busdir))
        self.system_bus = subprocess.Popen(["dbus-daemon", "--nofork", "--print-address=1",
                                            "--config-file=" + config],
                                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self.addCleanup(self.stop_popen, self.system_bus)
        self.system_address = self.system_bus.stdout.readline().decode().strip()
        self.system_bus.stdout.close()
        self.assertTrue(self.system_address, "the system bus did not start")
        # this test is the fake portmapd: it owns the name and emits PortChanged
        self.system = Gio.DBusConnection.new_for_address_sync(
            self.system_address,
            Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT
            | Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION, None, None)
        self.addCleanup(self.system.close_sync, None)
        reply = self.system.call_sync("org.freedesktop.DBus", "/org/freedesktop/DBus",
                                      "org.freedesktop.DBus", "RequestName",
                                      GLib.Variant("(su)", ("org.portmap.Manager", 4)),
                                      None, Gio.DBusCallFlags.NONE, 5000, None)
        self.assertEqual(reply.unpack(), (1,))

    @staticmethod
    def stop_popen(p):
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    def start_monitor(self, *args):
        monitor = subprocess.Popen([PYTHON, LATENCY_MONITOR, "--system-bus", self.system_address,
                                    "--session-bus", self.desktop.bus_address] + list(args),
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.addCleanup(self.stop_popen, monitor)
        self.addCleanup(monitor.stdout.close)
        self.addCleanup(monitor.stderr.close)
        ready, _, _ = select.select([monitor.stderr], [], [], 15)
        self.assertTrue(ready, "latency-monitor did not start listening")
        self.assertEqual(monitor.stderr.readline().strip(), "latency-monitor: listening")
        return monitor

    def port_changed(self, old, new):
        self.system.emit_signal(None, "/org/portmap/Manager", "org.portmap.Manager",
                                "PortChanged", GLib.Variant("(oqq)", (self.MAPPING, old, new)))
        self.system.flush_sync(None)

    def relabel(self, proc, label_file, label):
        with open(label_file, "w") as f:
            f.write(label + "\n")
        proc.popen.send_signal(signal.SIGUSR1)

    def read_event(self, monitor, timeout):
        ready, _, _ = select.select([monitor.stdout], [], [], timeout)
        self.assertTrue(ready, f"latency-monitor printed nothing within {timeout} s")
        return json.loads(monitor.stdout.readline())

    def test_latency_monitor_times_label(self):
        """The time runs from PortChanged to the first menu signal whose labels hold the new
        port: a relabel without it 50 ms later does not count, the one with it 400 ms later
        does."""
        proc, item, _, label_file = self.start_stand_in()
        sender = item.split("/", 1)[0]
        monitor = self.start_monitor("--count", "1", "--timeout", "10")
        self.port_changed(40000, 40001)
        time.sleep(0.05)
        self.relabel(proc, label_file, "Port 400011")
        time.sleep(0.35)
        self.relabel(proc, label_file, "Port 40001")
        event = self.read_event(monitor, 15)
        print("event:", event)
        self.assertEqual((event["mapping"], event["old_port"], event["new_port"]),
                         (self.MAPPING, 40000, 40001))
        self.assertEqual(event["label"], "Port 40001")
        self.assertEqual(event["sender"], sender)
        self.assertIn(event["signal"], ("LayoutUpdated", "ItemsPropertiesUpdated"))
        # 400 ms after, less what the PortChanged took to arrive; far from the 50 ms of the
        # relabel that does not count
        self.assertGreaterEqual(event["latency_ms"], 300)
        self.assertLess(event["latency_ms"], 400 + 2000)
        # the arrival times, on this process's clock too
        self.assertAlmostEqual(event["menu_signal_at"] - event["port_changed_at"],
                               event["latency_ms"] / 1000, delta=0.001)
        self.assertLess(event["menu_signal_at"], time.monotonic())
        self.assertEqual(monitor.wait(10), 0)
        self.assertIn("Port 40001", Desktop.menu_entries(self.desktop.menu_layout(item))[1]
                      ["label"])

    def test_latency_monitor_times_out(self):
        """A PortChanged no label follows is reported with a null latency after --timeout;
        the next one is timed as usual."""
        proc, _, _, label_file = self.start_stand_in()
        monitor = self.start_monitor("--count", "2", "--timeout", "1")
        started = time.monotonic()
        self.port_changed(40001, 40002)
        event = self.read_event(monitor, 10)
        self.assertGreaterEqual(time.monotonic() - started, 0.9)
        self.assertEqual(event["new_port"], 40002)
        self.assertIsNone(event["latency_ms"])
        self.assertIn("within 1 s", event["error"])
        self.port_changed(40002, 40003)
        # the label follows the signal, as the applet's would: a menu signal that overtook
        # the PortChanged (another bus, another daemon) would not count
        time.sleep(0.2)
        self.relabel(proc, label_file, "40003")
        event = self.read_event(monitor, 10)
        self.assertEqual((event["new_port"], event.get("label")), (40003, "40003"), event)
        self.assertGreaterEqual(event["latency_ms"], 0)
        self.assertEqual(monitor.wait(10), 0)

    def test_latency_monitor_bad_arguments(self):
        """Bad addresses and options get a clear error and exit 2, printing no event."""
        good = self.desktop.bus_address
        for args, message in (
                (["--system-bus", "nonsense", "--session-bus", good], "--system-bus"),
                (["--system-bus", "unix:path=" + os.path.join(self.workdir, "none"),
                  "--session-bus", good], "cannot connect to the system bus"),
                (["--system-bus", self.system_address, "--session-bus", good, "--count", "-1"],
                 "--count"),
                (["--system-bus", self.system_address, "--session-bus", good, "--timeout",
                  "nan"], "--timeout")):
            result = subprocess.run([PYTHON, LATENCY_MONITOR] + args, capture_output=True,
                                    text=True, timeout=30)
            self.assertEqual(result.returncode, 2, result)
            self.assertIn(message, result.stderr)
            self.assertEqual(result.stdout, "")


if __name__ == "__main__":
    unittest.main(verbosity=2)
