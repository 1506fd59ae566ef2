#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The tray applet's model and notifications (client/applet/), headless: a private system
bus with the built portmapd and the scripted NAT-PMP gateway on 127.0.0.1, a private session
bus with python3-dbusmock's notification daemon, and portmap-applet-model-dump, which prints
what the applet shows (one JSON line per change) and each notification it sends. Each test
method is one meson test (suite "integration")."""

import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "lab"))

import pmlab  # noqa: E402
from test_portmapd import (BUILDDIR, BUS_NAME, MANAGER_IFACE, MANAGER_PATH,  # noqa: E402
                           MAPPING_IFACE, PORTMAPCTL, PORTMAPD)

import gi  # noqa: E402

gi.require_version("Gio", "2.0")
from gi.repository import Gio, GLib  # noqa: E402

MODEL_DUMP = os.environ.get("PORTMAP_APPLET_MODEL_DUMP",
                            os.path.join(BUILDDIR, "client", "applet",
                                         "portmap-applet-model-dump"))
LOCALEDIR = os.environ.get("PORTMAP_LOCALEDIR") or os.path.join(BUILDDIR, "po")
APPLET = os.environ.get("PORTMAP_APPLET",
                        os.path.join(BUILDDIR, "client", "applet", "portmap-applet"))

NOTIFICATIONS = "org.freedesktop.Notifications"
NOTIFICATIONS_PATH = "/org/freedesktop/Notifications"
MOCK_IFACE = "org.freedesktop.DBus.Mock"
# the notifier gathers events for a quiet second (at most 5 s): client/applet/pm-applet-notifier.h
NOTIFY_SETTLE = 2.5

def connect(address):
    return Gio.DBusConnection.new_for_address_sync(
        address, Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT
        | Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION, None, None)


class ModelDump:
    """portmap-applet-model-dump, its JSON lines read by a thread; stopped by PID."""

    def __init__(self, env, args=()):
        self.proc = subprocess.Popen([MODEL_DUMP, *args], env=env, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True)
        self.lines = queue.Queue()
        self.seen = []          # every line so far, parsed
        self.stderr = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        self.err_reader = threading.Thread(target=self._read_err, daemon=True)
        self.err_reader.start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.put(line)

    def _read_err(self):
        for line in self.proc.stderr:
            self.stderr.append(line)

    def pump(self):
        while True:
            try:
                line = self.lines.get_nowait()
            except queue.Empty:
                return
            self.seen.append(json.loads(line))

    def wait(self, predicate, timeout=10, what="a matching line", start=0):
        """The first line from index @start on that matches; fails after @timeout s."""
        end = time.monotonic() + timeout
        index = start
        while True:
            self.pump()
            while index < len(self.seen):
                if predicate(self.seen[index]):
                    return self.seen[index]
                index += 1
            if time.monotonic() > end:
                raise AssertionError(f"model dump: timed out waiting for {what}; lines:\n"
                                     + "\n".join(json.dumps(s) for s in self.seen[-8:])
                                     + "\nstderr:\n" + "".join(self.stderr[-20:]))
            if self.proc.poll() is not None:
                raise AssertionError(f"model dump exited with {self.proc.returncode} "
                                     f"waiting for {what}:\n" + "".join(self.stderr[-20:]))
            time.sleep(0.02)

    def mark(self):
        """The index of the next line: wait(..., start=mark) sees only newer ones."""
        self.pump()
        return len(self.seen)

    def changes(self):
        self.pump()
        return [s for s in self.seen if s["event"] == "changed"]

    def notifications(self):
        self.pump()
        return [s for s in self.seen if s["event"] == "notification"]

    def command(self, line):
        start = self.mark()
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        return self.wait(lambda s: s["event"] == "reply" and s["command"] == line, 30,
                         f"the reply to {line!r}", start)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                return None
        return self.proc.returncode

    def close(self):
        self.stop()
        for f in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            try:
                f.close()
            except OSError:
                pass


def mapping(state, name):
    for m in state["mappings"]:
        if m["name"] == name:
            return m
    return None


def menu_labels(items):
    labels = []
    for item in items:
        labels.append(item["label"])
        labels.extend(menu_labels(item.get("children", [])))
    return labels


class AppletModelTest(unittest.TestCase):
    def setUp(self):
        self.workdir = tempfile.mkdtemp(prefix="portmap-applet-")
        os.chmod(self.workdir, 0o755)
        self.addCleanup(shutil.rmtree, self.workdir, True)
        self.marker = os.path.join(self.workdir, "activated")
        services = os.path.join(self.workdir, "bus", "services")
        os.makedirs(services)
        with open(os.path.join(services, "org.portmap.Manager.service"), "w") as f:
            f.write(f"[D-BUS Service]\nName={BUS_NAME}\n"
                    f"Exec=/bin/sh -c 'touch {self.marker}'\n")
        # a service directory: an activation file for org.portmap.Manager whose Exec= only
        # leaves a marker, so a client that auto-starts the name is caught
        self.bus = pmlab.PrivateBus(self.workdir, lambda d: pmlab.bus_config(
            d, service_dir=os.path.join(d, "services")))
        self.addCleanup(self.bus.stop)
        # no service directory: nothing but the mock answers notifications
        self.session = pmlab.PrivateBus(os.path.join(self.workdir, "session"),
                                        lambda d: pmlab.bus_config(d, "session"))
        self.addCleanup(self.session.stop)
        self.env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=self.bus.address,
                        DBUS_SESSION_BUS_ADDRESS=self.session.address, LC_ALL="C.UTF-8",
                        G_DEBUG="fatal-criticals")
        for var in ("DISPLAY", "WAYLAND_DISPLAY", "LANGUAGE"):
            self.env.pop(var, None)
        self.conn = connect(self.bus.address)
        self.addCleanup(self.conn.close_sync, None)
        self.session_conn = connect(self.session.address)
        self.addCleanup(self.session_conn.close_sync, None)
        self.start_notification_daemon()

        self.fake = pmlab.LoopbackFakeGateway(self.workdir)
        self.addCleanup(self.fake.stop)
        self.config = os.path.join(self.workdir, "portmapd.conf")
        with open(self.config, "w") as f:
            f.write(f"[Provider lab]\nType=natpmp\nGateway=127.0.0.1\nPort={self.fake.port}\n"
                    "[Mapping web]\nProvider=lab\nProtocols=tcp\nInternalPort=8080\n")
        self.log = open(os.path.join(self.workdir, "portmapd.log"), "w")
        self.addCleanup(self.log.close)
        self.daemon = None
        self.dump = None

    def tearDown(self):
        if self.dump is not None:
            status = self.dump.stop()
            self.dump.close()
            if self.has_failed():
                sys.stderr.write("---- model dump stderr ----\n" + "".join(self.dump.stderr))
            self.assertEqual(status, 0, "the model dump did not exit 0 on SIGTERM")
            # G_DEBUG=fatal-criticals: a critical would have aborted it; warnings are bugs
            self.assertEqual([line for line in self.dump.stderr if "WARNING" in line
                              or "CRITICAL" in line], [])
        if self.daemon is not None:
            self.stop_daemon()
        if self.has_failed():
            with open(os.path.join(self.workdir, "portmapd.log")) as f:
                sys.stderr.write("---- portmapd log ----\n" + f.read()[-10000:])

    def has_failed(self):
        result = getattr(self._outcome, "result", None)
        if result is None:
            return False
        return any(test is self for test, _ in result.errors + result.failures)

    # ---- helpers ----

    def start_notification_daemon(self):
        self.notifyd = subprocess.Popen(
            [sys.executable, "-m", "dbusmock", "--template", "notification_daemon"],
            env=dict(os.environ, DBUS_SESSION_BUS_ADDRESS=self.session.address),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.addCleanup(pmlab.stop_popen, self.notifyd)
        self.wait_for(lambda: self.session_call(
            "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
            "NameHasOwner", GLib.Variant("(s)", (NOTIFICATIONS,)))[0], 10)

    def session_call(self, name, path, iface, method, args=None):
        return self.session_conn.call_sync(name, path, iface, method, args, None,
                                           Gio.DBusCallFlags.NONE, 5000, None).unpack()

    def notify_calls(self):
        """The Notify calls the mock received: (replaces_id, summary, body) each."""
        calls = self.session_call(NOTIFICATIONS, NOTIFICATIONS_PATH, MOCK_IFACE,
                                  "GetMethodCalls", GLib.Variant("(s)", ("Notify",)))[0]
        return [(args[1], args[3], args[4]) for _, args in calls]

    def wait_for(self, predicate, timeout):
        end = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > end:
                self.fail("timed out")
            time.sleep(0.02)

    def start_daemon(self):
        self.daemon = subprocess.Popen([PORTMAPD, "--config", self.config, "--state-dir",
                                        os.path.join(self.workdir, "state")],
                                       env=self.env, stdout=self.log, stderr=subprocess.STDOUT)
        self.wait_for(lambda: self.name_has_owner(), 10)

    def stop_daemon(self):
        daemon, self.daemon = self.daemon, None
        daemon.terminate()
        self.assertEqual(daemon.wait(15), 0, "portmapd did not exit 0 on SIGTERM")

    def name_has_owner(self):
        return self.conn.call_sync("org.freedesktop.DBus", "/org/freedesktop/DBus",
                                   "org.freedesktop.DBus", "NameHasOwner",
                                   GLib.Variant("(s)", (BUS_NAME,)), None,
                                   Gio.DBusCallFlags.NONE, 2000, None).unpack()[0]

    def call(self, method, args=None, path=MANAGER_PATH, iface=MANAGER_IFACE):
        return self.conn.call_sync(BUS_NAME, path, iface, method, args, None,
                                   Gio.DBusCallFlags.NO_AUTO_START, 30000, None).unpack()

    def mappings(self):
        return {m[1]: m for m in self.call("ListMappings")[0]}

    def add_mapping(self, name, port, scope="runtime"):
        return self.call("AddMapping", GLib.Variant("(sasqqua{sv})", (
            "", ["tcp"], port, 0, 0, {"scope": GLib.Variant("s", scope),
                                      "name": GLib.Variant("s", name)})))[0]

    def add_failing(self, name, port):
        """A persistent mapping that fails with PortUnavailable, now and after every
        restart: it requires web's external port, which the gateway keeps for web."""
        web = self.mappings()["web"][7]
        path = self.call("AddMapping", GLib.Variant("(sasqqua{sv})", (
            "", ["tcp"], port, web, 0, {"scope": GLib.Variant("s", "persistent"),
                                        "name": GLib.Variant("s", name),
                                        "require-external-port": GLib.Variant("b", True)})))[0]
        self.wait_for(lambda: self.mappings()[name][3] == "failed", 10)
        return path

    def ctl(self, *args):
        return subprocess.run([PORTMAPCTL, *args], env=self.env, capture_output=True,
                              text=True, timeout=60)

    def start_dump(self, *args):
        self.dump = ModelDump(self.env, args)
        return self.dump

    def wait_active(self, name, start=0):
        return self.dump.wait(lambda s: s["event"] == "changed" and s["present"]
                              and (mapping(s, name) or {}).get("state") == "active",
                              15, f"{name} active", start)

    def assert_no_notification(self, settle=NOTIFY_SETTLE):
        time.sleep(settle)
        self.assertEqual(self.dump.notifications(), [])
        self.assertEqual(self.notify_calls(), [])

    # ---- what the model shows ----

    def test_config_mapping_shown_active_with_its_external_port(self):
        self.start_daemon()
        self.wait_for(lambda: self.mappings()["web"][3] == "active", 10)
        self.start_dump()
        state = self.wait_active("web")
        port = self.mappings()["web"][7]
        web = mapping(state, "web")
        self.assertEqual(web["external_port"], port)
        self.assertEqual(web["external_address"], "11.0.0.2")
        self.assertEqual(web["protocols"], ["tcp"])
        self.assertEqual(web["internal_port"], 8080)
        self.assertEqual(web["label"], f"web  tcp 8080 → 11.0.0.2:{port}  active")
        self.assertEqual(web["copy_text"], f"11.0.0.2:{port}")
        self.assertIsNone(web["error_label"])
        self.assertEqual((state["icon"], state["icon_name"]), ("ok", "portmap-ok"))
        self.assertEqual(state["title"], "1 mapping active")
        self.assertEqual([(p["name"], p["type"], p["state"], p["label"])
                          for p in state["providers"]],
                         [("lab", "natpmp", "ready", "lab (natpmp): ready, 11.0.0.2")])
        # no STUN: nothing about it
        self.assertEqual(state["public_endpoint"], "")
        self.assertFalse([label for label in menu_labels(state["menu"])
                          if label and ("endpoint" in label or "NAT" in label)])
        # the menu: status, the mapping (copies ADDR:PORT), providers, the actions
        menu = state["menu"]
        self.assertEqual(menu[0], {"kind": "text", "label": "1 mapping active", "action": None,
                                   "target": None, "sensitive": False})
        items = {item["label"]: item for item in menu if item["label"]}
        self.assertEqual(items[web["label"]]["action"], "copy")
        self.assertEqual(items[web["label"]]["target"], f"11.0.0.2:{port}")
        self.assertTrue(items[web["label"]]["sensitive"])
        for label, action in (("Refresh now", "refresh"), ("Add mapping…", "add"),
                              ("About this configuration…", "about"), ("Quit", "quit")):
            self.assertEqual(items[label]["action"], action)
            self.assertTrue(items[label]["sensitive"], label)
        # a configuration mapping cannot be removed from the applet
        self.assertEqual(items["Remove mapping"]["children"], [])
        self.assertFalse(items["Remove mapping"]["sensitive"])
        # the initial population is no news
        self.assert_no_notification()

    def test_translated_labels(self):
        """LANGUAGE=de with the build's catalogs: the model's labels, menu and title are
        German; what portmapd reports (names, addresses) is kept as it is."""
        self.start_daemon()
        self.wait_for(lambda: self.mappings()["web"][3] == "active", 10)
        self.env = {k: v for k, v in self.env.items() if not k.startswith("LC_")}
        self.env.update(LANG="C.UTF-8", LANGUAGE="de", PORTMAP_LOCALEDIR=LOCALEDIR)
        self.start_dump()
        state = self.wait_active("web")
        port = self.mappings()["web"][7]
        self.assertEqual(mapping(state, "web")["label"],
                         f"web  tcp 8080 → 11.0.0.2:{port}  aktiv")
        self.assertEqual(state["title"], "1 Portweiterleitung aktiv")
        self.assertEqual([p["label"] for p in state["providers"]],
                         ["lab (natpmp): bereit, 11.0.0.2"])
        labels = menu_labels(state["menu"])
        for label in ("Jetzt erneuern", "Portweiterleitung hinzufügen …",
                      "Über diese Konfiguration …", "Beenden"):
            self.assertIn(label, labels)
        self.assertNotIn("Refresh now", labels)

    def test_mapping_added_with_portmapctl_shows_up_and_goes(self):
        self.start_daemon()
        self.start_dump()
        self.wait_active("web")
        cp = self.ctl("add", "udp", "9200", "--name", "game")
        self.assertEqual(cp.returncode, 0, cp.stderr)
        port = int(cp.stdout)
        state = self.wait_active("game")
        game = mapping(state, "game")
        self.assertEqual(game["label"], f"game  udp 9200 → 11.0.0.2:{port}  active")
        # in creation order
        self.assertEqual([m["name"] for m in state["mappings"]], ["web", "game"])
        self.assertEqual(state["title"], "All 2 mappings active")
        remove = [item for item in state["menu"] if item["label"] == "Remove mapping"][0]
        self.assertTrue(remove["sensitive"])
        self.assertEqual([(c["label"], c["action"], c["target"]) for c in remove["children"]],
                         [("game (udp 9200)", "remove", game["path"])])
        mark = self.dump.mark()
        cp = self.ctl("remove", "game")
        self.assertEqual(cp.returncode, 0, cp.stderr)
        state = self.dump.wait(lambda s: s["event"] == "changed" and mapping(s, "game") is None,
                               10, "game gone", mark)
        self.assertEqual([m["name"] for m in state["mappings"]], ["web"])
        self.assertNotIn(game["label"], menu_labels(state["menu"]))
        self.assert_no_notification()

    def test_silent_gateway_shows_retrying_then_active(self):
        self.start_daemon()
        self.start_dump()
        self.wait_active("web")
        self.fake.control.set(silent=True)
        mark = self.dump.mark()
        self.add_mapping("late", 9300)
        state = self.dump.wait(lambda s: s["event"] == "changed"
                               and (mapping(s, "late") or {}).get("state") == "retrying",
                               10, "late retrying", mark)
        self.assertEqual((state["icon"], state["icon_name"]), ("warning", "portmap-warning"))
        self.assertEqual(mapping(state, "late")["label"], "late  tcp 9300  retrying")
        self.assertIsNone(mapping(state, "late")["copy_text"])
        self.assertEqual(state["title"], "Mappings not active: 1 of 2")
        item = [i for i in state["menu"] if i["label"] == "late  tcp 9300  retrying"][0]
        self.assertFalse(item["sensitive"], "nothing to copy yet")
        # the gateway answers again: the retry gets a port, all is well
        mark = self.dump.mark()
        self.fake.control.set(silent=False)
        state = self.wait_active("late", mark)
        self.dump.wait(lambda s: s["event"] == "changed" and s["icon"] == "ok", 15, "icon ok",
                       mark)
        self.assert_no_notification(0.5)

    def test_failed_mapping_notified_once(self):
        self.start_daemon()
        self.start_dump()
        self.wait_active("web")
        # the gateway refuses every new mapping: a permanent error (RFC 6886 result 2)
        self.fake.control.set(result=2)
        mark = self.dump.mark()
        path = self.add_mapping("bad", 9400)
        state = self.dump.wait(lambda s: s["event"] == "changed"
                               and (mapping(s, "bad") or {}).get("state") == "failed",
                               10, "bad failed", mark)
        bad = mapping(state, "bad")
        self.assertTrue(bad["last_error"].startswith("Refused: "), bad["last_error"])
        # under the mapping in the menu, cut to 100 characters
        label = bad["error_label"]
        self.assertTrue(label.startswith("    "), label)
        if len(bad["last_error"]) <= 100:
            self.assertEqual(label, "    " + bad["last_error"])
        else:
            self.assertEqual(len(label), 104)
            self.assertTrue(label.endswith("…"))
        self.assertIn(label, menu_labels(state["menu"]))
        self.assertEqual(state["icon"], "warning")
        note = self.dump.wait(lambda s: s["event"] == "notification", 10, "a notification")
        self.assertEqual(note["id"], "mapping-bad")
        self.assertEqual(note["title"], "Mapping bad failed")
        self.assertEqual(note["body"], bad["last_error"])
        time.sleep(NOTIFY_SETTLE)
        self.assertEqual(self.notify_calls(), [(0, "Mapping bad failed", bad["last_error"])])
        # tried again, failed again (the user's Refresh): still the same failure, no news
        self.call("Refresh", None, path, MAPPING_IFACE)
        self.call("Refresh", None, path, MAPPING_IFACE)
        self.assertEqual(self.mappings()["bad"][3], "failed")
        time.sleep(NOTIFY_SETTLE)
        self.assertEqual(len(self.dump.notifications()), 1)
        self.assertEqual(len(self.notify_calls()), 1)
        # a network change's RefreshAll: the gateway now refuses web's renewal too, which
        # is news (one notification of its own); bad's repeated failure is not
        self.call("RefreshAll")
        self.assertEqual(self.mappings()["web"][3], "failed")
        self.wait_for(lambda: len(self.notify_calls()) == 2, NOTIFY_SETTLE + 5)
        time.sleep(NOTIFY_SETTLE)
        calls = self.notify_calls()
        self.assertEqual(len(calls), 2, calls)
        self.assertEqual(calls[1][:2], (0, "Mapping web failed"))
        self.assertEqual([n["id"] for n in self.dump.notifications()],
                         ["mapping-bad", "mapping-web"])

    def test_stun_endpoint_and_nat_type_shown(self):
        """With [STUN], the public endpoint and the NAT type are shown once found: the lab's
        fake STUN server on loopback answers with the prober's own address."""
        stun, stun_port = pmlab.start_loopback_fake_stun()
        self.addCleanup(pmlab.stop_popen, stun)
        with open(self.config, "a") as f:
            f.write(f"[STUN]\nServers=127.0.0.1:{stun_port}\nTimeout=2s\n")
        self.start_dump()
        self.start_daemon()
        state = self.dump.wait(lambda s: s["event"] == "changed" and s["public_endpoint"], 15,
                               "the public endpoint")
        endpoint = self.call("Get", GLib.Variant("(ss)", (MANAGER_IFACE, "PublicEndpoint")),
                             MANAGER_PATH, "org.freedesktop.DBus.Properties")[0]
        self.assertTrue(endpoint.startswith("127.0.0.1:"), endpoint)
        # the classification ends after the endpoint: wait for the model to have it
        nat = self.call("DiscoverEndpoint")[1]
        state = self.dump.wait(lambda s: s["event"] == "changed" and s["nat_type"] == nat, 10,
                               "the NAT type")
        self.assertEqual(state["public_endpoint"], endpoint)
        labels = menu_labels(state["menu"])
        self.assertIn(f"Public endpoint: {endpoint}", labels)
        words = {"none": "no NAT", "full_cone": "full cone", "symmetric": "symmetric",
                 "unknown": "unknown"}
        self.assertIn(f"NAT type: {words[nat]}", labels)
        self.assert_no_notification(0.5)

    # ---- notifications ----

    def test_port_change_gives_exactly_one_notification(self):
        self.start_daemon()
        self.start_dump()
        state = self.wait_active("web")
        old = mapping(state, "web")["external_port"]
        web = self.mappings()["web"][0]
        # the next renewal brings another external port
        self.fake.control.set(change_port_on_renewal=True)
        self.call("Refresh", None, web, MAPPING_IFACE)
        new = self.mappings()["web"][7]
        self.assertNotEqual(new, old)
        state = self.dump.wait(lambda s: s["event"] == "changed"
                               and mapping(s, "web")["external_port"] == new, 10, "the new port")
        self.assertEqual(mapping(state, "web")["label"], f"web  tcp 8080 → 11.0.0.2:{new}  active")
        time.sleep(NOTIFY_SETTLE)
        notes = self.dump.notifications()
        self.assertEqual(len(notes), 1, notes)
        self.assertEqual(notes[0]["id"], "mapping-web")
        self.assertEqual(notes[0]["title"], "Port of web changed")
        self.assertEqual(notes[0]["body"], f"11.0.0.2:{old} → 11.0.0.2:{new}")
        calls = self.notify_calls()
        self.assertEqual(calls, [(0, "Port of web changed", f"11.0.0.2:{old} → 11.0.0.2:{new}")])
        # the next change of the same mapping replaces that notification
        self.call("Refresh", None, web, MAPPING_IFACE)
        newer = self.mappings()["web"][7]
        self.wait_for(lambda: len(self.notify_calls()) == 2, NOTIFY_SETTLE + 5)
        replaces, title, body = self.notify_calls()[1]
        self.assertNotEqual(replaces, 0, "a new notification instead of replacing the old one")
        self.assertEqual(body, f"11.0.0.2:{new} → 11.0.0.2:{newer}")
        time.sleep(NOTIFY_SETTLE)
        self.assertEqual(len(self.notify_calls()), 2)

    def test_many_port_changes_collapse_into_one_summary(self):
        self.start_daemon()
        self.start_dump()
        self.wait_active("web")
        names = [f"m{i}" for i in range(5)]
        for i, name in enumerate(names):
            self.add_mapping(name, 9500 + i)
        for name in names:
            self.wait_active(name)
        # a VPN reconnect, as far as the ports go: every renewal brings another port
        self.fake.control.set(change_port_on_renewal=True)
        before = {name: m[7] for name, m in self.mappings().items()}
        self.call("RefreshAll")
        after = {name: m[7] for name, m in self.mappings().items()}
        self.assertTrue(all(after[n] != before[n] for n in before), (before, after))
        self.wait_for(lambda: self.notify_calls(), 10)
        time.sleep(NOTIFY_SETTLE)
        calls = self.notify_calls()
        self.assertEqual(len(calls), 1, calls)
        _, title, body = calls[0]
        self.assertEqual(title, "6 port mappings changed")
        lines = body.split("\n")
        self.assertEqual(len(lines), 6, body)
        for name in ["web"] + names:
            self.assertIn(f"{name}: 11.0.0.2:{before[name]} → 11.0.0.2:{after[name]}", lines)
        self.assertEqual([n["id"] for n in self.dump.notifications()], ["summary"])

    def test_initial_population_is_no_news(self):
        """A mapping that failed, and a port that changed, before the applet started are
        shown, not notified."""
        self.start_daemon()
        self.wait_for(lambda: self.mappings()["web"][3] == "active", 10)
        self.fake.control.set(change_port_on_renewal=True)
        self.call("Refresh", None, self.mappings()["web"][0], MAPPING_IFACE)
        self.fake.control.set(change_port_on_renewal=False)
        self.add_failing("bad", 9402)
        self.start_dump()
        state = self.dump.wait(lambda s: s["event"] == "changed" and s["present"], 10,
                               "present")
        self.assertEqual(mapping(state, "web")["state"], "active")
        bad = mapping(state, "bad")
        self.assertEqual(bad["state"], "failed")
        self.assertTrue(bad["last_error"].startswith("PortUnavailable: "), bad["last_error"])
        self.assertEqual(state["icon"], "warning")
        self.assertEqual(state["title"], "Mappings not active: 1 of 2")
        self.assert_no_notification()

    def test_daemon_restart_goes_absent_then_back_without_notifications(self):
        self.start_daemon()
        self.start_dump()
        state = self.wait_active("web")
        port = mapping(state, "web")["external_port"]
        # a failure before the restart is news, once
        self.add_failing("bad", 9403)
        self.wait_for(lambda: len(self.notify_calls()) == 1, NOTIFY_SETTLE + 5)
        self.assertEqual(self.notify_calls()[0][1], "Mapping bad failed")
        mark = self.dump.mark()
        self.stop_daemon()
        state = self.dump.wait(lambda s: s["event"] == "changed" and not s["present"], 10,
                               "absent", mark)
        self.assertEqual((state["icon"], state["icon_name"]), ("absent", "portmap-absent"))
        self.assertEqual(state["mappings"], [])
        self.assertEqual(state["providers"], [])
        self.assertEqual(state["title"], "portmapd is not running")
        actions = {i["label"]: i["sensitive"] for i in state["menu"] if i["kind"] != "separator"}
        self.assertEqual(actions, {"portmapd is not running": False, "Refresh now": False,
                                   "Add mapping…": False, "Remove mapping": False,
                                   "About this configuration…": False, "Quit": True})
        # the model's calls say so too, without a bus round trip
        reply = self.dump.command("refresh")
        self.assertFalse(reply["ok"])
        self.assertEqual(reply["error"], "portmapd is not running")
        mark = self.dump.mark()
        self.start_daemon()
        state = self.wait_active("web", mark)
        self.assertEqual(mapping(state, "web")["external_port"], port)
        # restored, and failed again: the same failure, not news
        self.dump.wait(lambda s: s["event"] == "changed"
                       and (mapping(s, "bad") or {}).get("state") == "failed", 10,
                       "bad failed again", mark)
        self.assertFalse(os.path.exists(self.marker))
        time.sleep(NOTIFY_SETTLE)
        self.assertEqual(len(self.notify_calls()), 1)
        self.assertEqual([n["id"] for n in self.dump.notifications()], ["mapping-bad"])

    def test_does_not_start_portmapd(self):
        """Starting the model must not bus-activate portmapd: the bus has an activation
        file for the name whose Exec= leaves a marker."""
        self.start_dump()
        state = self.dump.wait(lambda s: s["event"] == "changed", 10, "a first line")
        self.assertFalse(state["present"])
        self.assertEqual(state["icon"], "absent")
        # its calls do not start it either: they fail at once
        for command in ("refresh", "add tcp 9600"):
            reply = self.dump.command(command)
            self.assertFalse(reply["ok"], command)
            self.assertEqual(reply["error"], "portmapd is not running")
        self.dump.proc.stdin.write("describe\n")
        self.dump.proc.stdin.flush()
        error = self.dump.wait(lambda s: s["event"] == "about-error", 10, "the describe error")
        self.assertEqual(error["message"], "portmapd is not running")
        time.sleep(1.5)
        self.assertFalse(os.path.exists(self.marker), "the model activated org.portmap.Manager")
        self.assertEqual([s["icon"] for s in self.dump.changes()], ["absent"])
        # the marker works: a client that auto-starts does leave it (and waits in vain
        # for an owner)
        with self.assertRaises(GLib.Error):
            self.conn.call_sync(BUS_NAME, MANAGER_PATH, "org.freedesktop.DBus.Peer", "Ping",
                                None, None, Gio.DBusCallFlags.NONE, 1000, None)
        self.wait_for(lambda: os.path.exists(self.marker), 5)

    def test_daemon_started_after_the_applet_is_shown(self):
        self.start_dump()
        self.dump.wait(lambda s: s["event"] == "changed" and not s["present"], 10, "absent")
        mark = self.dump.mark()
        self.start_daemon()
        state = self.wait_active("web", mark)
        self.assertEqual(state["icon"], "ok")
        self.assertEqual([m["name"] for m in state["mappings"]], ["web"])
        self.assert_no_notification()

    # ---- the menu's calls ----

    def test_add_and_remove_through_the_model(self):
        self.start_daemon()
        self.start_dump()
        self.wait_active("web")
        # "Keep across restarts" unchecked: scope client, gone with the applet's connection
        reply = self.dump.command("add both 9700")
        self.assertTrue(reply["ok"], reply)
        path = reply["result"]
        by_path = {m[0]: m for m in self.call("ListMappings")[0]}
        self.assertEqual(by_path[path][5], "client")
        self.assertEqual(by_path[path][4], ["tcp", "udp"])
        name = by_path[path][1]
        self.wait_active(name)
        # checked: persistent
        reply = self.dump.command("add udp 9701 persistent")
        self.assertTrue(reply["ok"], reply)
        persistent = {m[0]: m for m in self.call("ListMappings")[0]}[reply["result"]]
        self.assertEqual(persistent[5], "persistent")
        # portmapd's refusal reaches the user as its message
        reply = self.dump.command("add tcp 8080")
        self.assertFalse(reply["ok"])
        self.assertIn("web", reply["error"])
        self.assertNotIn("GDBus.Error", reply["error"])
        reply = self.dump.command("remove web")
        self.assertFalse(reply["ok"])
        self.assertIn("[Mapping web]", reply["error"])
        reply = self.dump.command("remove " + persistent[1])
        self.assertTrue(reply["ok"], reply)
        self.assertNotIn(persistent[1], self.mappings())
        reply = self.dump.command("refresh")
        self.assertTrue(reply["ok"], reply)
        # bad input: a clear error, nothing asked
        before = self.mappings()
        for command, error in (("add sctp 80", "unknown protocol"),
                               ("add tcp 70000", "internal port"),
                               ("add tcp 0", "internal port"),
                               ("remove nosuch", "no mapping")):
            reply = self.dump.command(command)
            self.assertFalse(reply["ok"], command)
            self.assertIn(error, reply["error"], command)
        self.assertEqual(self.mappings().keys(), before.keys())
        # the applet quits: its client mapping goes, its persistent one would stay
        self.assertEqual(self.dump.stop(), 0)
        self.wait_for(lambda: name not in self.mappings(), 10)

    def test_about_text_names_config_files(self):
        self.start_daemon()
        self.start_dump("--describe")
        self.wait_active("web")
        about = self.dump.wait(lambda s: s["event"] == "about", 10, "the About text")["text"]
        describe = json.loads(self.call("Describe")[0])
        self.assertTrue(about.startswith("Configuration files\n"), about)
        if "ConfigFiles" in describe:
            for path in describe["ConfigFiles"]:
                self.assertIn("  " + path + "\n", about)
            self.assertNotIn("not reported", about)
        else:
            self.assertIn("  (not reported by this portmapd)\n", about)
        port = self.mappings()["web"][7]
        self.assertIn(f"  web: tcp 8080 → 11.0.0.2:{port}, active\n", about)
        self.assertIn("  lab (natpmp): ready\n", about)
        self.assertIn("Gateway for the LAN\n  not configured\n", about)
        self.assertIn("STUN\n  not configured\n", about)


class AppletProgramTest(unittest.TestCase):
    """portmap-applet itself, without a display: what works before GTK starts."""

    def run_applet(self, *args):
        env = dict(os.environ, LC_ALL="C.UTF-8")
        for var in ("DISPLAY", "WAYLAND_DISPLAY", "DBUS_SESSION_BUS_ADDRESS"):
            env.pop(var, None)
        return subprocess.run([APPLET, *args], env=env, capture_output=True, text=True,
                              timeout=30)

    def test_version_without_display(self):
        cp = self.run_applet("--version")
        self.assertEqual(cp.returncode, 0, cp.stderr)
        self.assertRegex(cp.stdout, r"^portmap-applet \d+\.\d+\.\d+\n$")

    def test_help_without_display(self):
        cp = self.run_applet("--help")
        self.assertEqual(cp.returncode, 0, cp.stderr)
        self.assertIn("--icon-theme-path=DIR", cp.stdout)
        self.assertIn("--version", cp.stdout)
        self.assertIn("portmap-applet(1)", cp.stdout)

    def test_help_translated(self):
        env = {k: v for k, v in os.environ.items() if not k.startswith("LC_")}
        env.update(LANG="C.UTF-8", LANGUAGE="de", PORTMAP_LOCALEDIR=LOCALEDIR)
        for var in ("DISPLAY", "WAYLAND_DISPLAY", "DBUS_SESSION_BUS_ADDRESS"):
            env.pop(var, None)
        cp = subprocess.run([APPLET, "--help"], env=env, capture_output=True, text=True,
                            timeout=30)
        self.assertEqual(cp.returncode, 0, cp.stderr)
        self.assertIn("--icon-theme-path=VERZ", cp.stdout)
        self.assertIn("Version ausgeben und beenden", cp.stdout)
        self.assertIn("Handbuchseite portmap-applet(1)", cp.stdout)

    def test_unknown_option_is_an_error(self):
        cp = self.run_applet("--frobnicate")
        self.assertNotEqual(cp.returncode, 0)
        self.assertIn("frobnicate", cp.stderr)


if __name__ == "__main__":
    unittest.main()
