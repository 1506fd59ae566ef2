#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The bus contract and the CLI, on loopback only: a private system bus, the scripted
NAT-PMP gateway on 127.0.0.1 and the built portmapd and portmapctl. The lab tests
(test_portmapd.py) cover traffic through real NATs; these cover the interface."""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.path.join(HERE, "..", "..")
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "lab"))

import pmlab  # noqa: E402
from test_portmapd import (BUS_NAME, ERROR_PREFIX, MANAGER_IFACE, MANAGER_PATH,  # noqa: E402
                           MAPPING_IFACE, PORTMAPCTL, PORTMAPD, Bus)

import gi  # noqa: E402

gi.require_version("Gio", "2.0")
from gi.repository import Gio, GLib  # noqa: E402


def interface_signature(iface):
    """The comparable shape of an <interface>: members, argument names, types, directions,
    property types and access, and the EmitsChangedSignal annotations."""
    shape = {}
    for m in iface.findall("method"):
        shape[("method", m.get("name"))] = [
            (a.get("name"), a.get("type"), a.get("direction", "in")) for a in m.findall("arg")]
    for s in iface.findall("signal"):
        shape[("signal", s.get("name"))] = [(a.get("name"), a.get("type"))
                                            for a in s.findall("arg")]
    for p in iface.findall("property"):
        emits = [a.get("value") for a in p.findall("annotation")
                 if a.get("name") == "org.freedesktop.DBus.Property.EmitsChangedSignal"]
        shape[("property", p.get("name"))] = (p.get("type"), p.get("access"),
                                              emits[0] if emits else "true")
    return shape


class BusApiTest(unittest.TestCase):
    def setUp(self):
        self.workdir = tempfile.mkdtemp(prefix="portmap-api-")
        os.chmod(self.workdir, 0o755)
        self.addCleanup(shutil.rmtree, self.workdir, True)
        self.bus = Bus(self.workdir)
        self.addCleanup(self.bus.stop)
        self.env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=self.bus.address)
        self.fake = pmlab.LoopbackFakeGateway(self.workdir)
        self.addCleanup(self.fake.stop)
        self.fake_control = self.fake.control
        self.fake_port = self.fake.port
        self.config = os.path.join(self.workdir, "portmapd.conf")
        with open(self.config, "w") as f:
            f.write(f"[Provider lab]\nType=natpmp\nGateway=127.0.0.1\nPort={self.fake_port}\n"
                    "[Mapping web]\nProvider=lab\nProtocols=tcp\nInternalPort=8080\n")
        self.log = open(os.path.join(self.workdir, "portmapd.log"), "w")
        self.addCleanup(self.log.close)
        self.start_daemon()
        self.conn = Gio.DBusConnection.new_for_address_sync(
            self.bus.address,
            Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT
            | Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION, None, None)
        self.addCleanup(self.conn.close_sync, None)
        self.wait_for(lambda: self.call_dbus("NameHasOwner", GLib.Variant("(s)", (BUS_NAME,))),
                      10)
        self.wait_for(lambda: self.mapping_state("web") == "active", 10)

    stop_process = staticmethod(pmlab.stop_popen)

    def start_daemon(self):
        self.daemon = subprocess.Popen([PORTMAPD, "--config", self.config, "--state-dir",
                                        os.path.join(self.workdir, "state")],
                                       env=self.env, stdout=self.log, stderr=subprocess.STDOUT)
        self.addCleanup(self.stop_process, self.daemon)

    def wait_for(self, predicate, timeout):
        end = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > end:
                self.fail("timed out")
            time.sleep(0.02)

    def call_dbus(self, method, args):
        return self.conn.call_sync("org.freedesktop.DBus", "/org/freedesktop/DBus",
                                   "org.freedesktop.DBus", method, args, None,
                                   Gio.DBusCallFlags.NONE, 2000, None).unpack()[0]

    def call(self, method, args=None, path=MANAGER_PATH, iface=MANAGER_IFACE):
        reply = self.conn.call_sync(BUS_NAME, path, iface, method, args, None,
                                    Gio.DBusCallFlags.NONE, 10000, None)
        return reply.unpack()

    def mapping_state(self, name):
        for m in self.call("ListMappings")[0]:
            if m[1] == name:
                return m[3]
        return None

    def mapping_path(self, name):
        return [m[0] for m in self.call("ListMappings")[0] if m[1] == name][0]

    def ctl(self, *args, env=None):
        return subprocess.run([PORTMAPCTL, *args], env=env or self.env, capture_output=True,
                              text=True, timeout=60)

    # ---- the documented contract is the live one ----

    def check_interface(self, path, name, xml_file):
        live = ET.fromstring(self.call("Introspect", None, path,
                                       "org.freedesktop.DBus.Introspectable")[0])
        doc = ET.parse(os.path.join(SRCDIR, "dbus", xml_file)).getroot()
        live_iface = [i for i in live.findall("interface") if i.get("name") == name]
        doc_iface = [i for i in doc.findall("interface") if i.get("name") == name]
        self.assertEqual(len(live_iface), 1, f"{name} not served at {path}")
        self.assertEqual(len(doc_iface), 1, f"{name} not documented in {xml_file}")
        live_shape = interface_signature(live_iface[0])
        doc_shape = interface_signature(doc_iface[0])
        self.assertEqual(sorted(live_shape), sorted(doc_shape))
        for key in live_shape:
            self.assertEqual(live_shape[key], doc_shape[key], f"{name} {key}")
        # every member carries documentation (a comment right before it)
        with open(os.path.join(SRCDIR, "dbus", xml_file)) as f:
            text = f.read()
        for kind, member in doc_shape:
            tag = f'<{kind} name="{member}"'
            before = text[:text.index(tag)].rstrip()
            self.assertTrue(before.endswith("-->"), f"{member} is not documented")

    def test_manager_interface_matches_xml(self):
        self.check_interface(MANAGER_PATH, MANAGER_IFACE, "org.portmap.Manager.xml")

    def test_mapping_interface_matches_xml(self):
        self.check_interface(self.mapping_path("web"), MAPPING_IFACE, "org.portmap.Mapping.xml")

    def test_object_manager_and_describe(self):
        objects = self.call("GetManagedObjects", None, MANAGER_PATH,
                            "org.freedesktop.DBus.ObjectManager")[0]
        path = self.mapping_path("web")
        self.assertIn(path, objects)
        self.assertEqual(objects[path][MAPPING_IFACE]["Name"], "web")
        describe = json.loads(self.call("Describe")[0])
        for key in ("Version", "State", "DefaultProvider", "ExternalAddress", "PublicEndpoint",
                    "NATType", "MappingBehavior", "FilteringBehavior", "GatewayMappings",
                    "Providers", "Consumers", "Mappings"):
            self.assertIn(key, describe)
        self.assertEqual(describe["State"], "ok")
        self.assertEqual(describe["ExternalAddress"], "11.0.0.2")
        mapping = describe["Mappings"][0]
        for key in ("Path", "Name", "Provider", "State", "Protocols", "Scope", "Origin",
                    "OwnerUID", "InternalAddress", "InternalPort", "ExternalAddress",
                    "ExternalPort", "Ports", "Lifetime", "ExpiresAt", "PortValidUntil",
                    "Description", "LastError", "Consumers"):
            self.assertIn(key, mapping)
        self.assertEqual(mapping["Origin"], "config")
        self.assertEqual(mapping["Scope"], "persistent")
        self.assertGreater(mapping["ExpiresAt"], time.time() * 1e6)
        # STUN is not configured: a plain answer
        with self.assertRaises(GLib.Error) as cm:
            self.call("DiscoverEndpoint")
        self.assertEqual(Gio.DBusError.get_remote_error(cm.exception),
                         ERROR_PREFIX + "NotSupported")
        self.assertIn("[STUN]", cm.exception.message)

    def test_renewals_announce_expires_at_in_batches(self):
        """A routine renewal changes only ExpiresAt: announced within a second (in batches,
        so the bus is not woken per renewal); any other change announces at once, carrying
        the ExpiresAt still waiting, before the Refresh() reply."""
        path = self.mapping_path("web")
        received = []   # (CLOCK_REALTIME µs on receipt, changed properties)

        def on_changed(conn, sender, obj, iface, name, params):
            interface, changed, _ = params.unpack()
            if obj == path and interface == MAPPING_IFACE:
                received.append((time.time() * 1e6, changed))

        sub = self.conn.signal_subscribe(BUS_NAME, "org.freedesktop.DBus.Properties",
                                         "PropertiesChanged", path, None,
                                         Gio.DBusSignalFlags.NONE, on_changed)
        self.addCleanup(self.conn.signal_unsubscribe, sub)
        ctx = GLib.MainContext.default()

        def pump(seconds):
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                while ctx.iteration(False):
                    pass
                time.sleep(0.01)

        # 2 s grants: renewed about every second from now on
        self.fake_control.set(grant_lifetime=2)
        self.call("Refresh", None, path, MAPPING_IFACE)
        pump(5.5)
        routine = [(t, c) for t, c in received if set(c) == {"ExpiresAt"}]
        self.assertGreaterEqual(len(routine), 3, f"ExpiresAt announced too rarely: {received}")
        for t, changed in routine:
            granted = changed["ExpiresAt"] - 2_000_000
            # announced within the batch delay (1 s) of the grant, plus scheduling slack
            self.assertLess(t - granted, 1_500_000, f"ExpiresAt announced late: {received}")
        ends = [c["ExpiresAt"] for _, c in routine]
        self.assertEqual(ends, sorted(ends))
        # the last announced lease end is the live one, or older by one renewal
        live = self.call("Get", GLib.Variant("(ss)", (MAPPING_IFACE, "ExpiresAt")), path,
                         "org.freedesktop.DBus.Properties")[0]
        self.assertLessEqual(ends[-1], live)

        # a port change is announced at once, with the ExpiresAt of the same renewal
        self.fake_control.set(change_port_on_renewal=True)
        received.clear()
        before = self.call("Get", GLib.Variant("(ss)", (MAPPING_IFACE, "ExternalPort")), path,
                           "org.freedesktop.DBus.Properties")[0]
        self.call("Refresh", None, path, MAPPING_IFACE)
        # the signal was on the wire before the reply: no waiting
        while ctx.iteration(False):
            pass
        ports = [c for _, c in received if "ExternalPort" in c]
        self.assertTrue(ports, f"no ExternalPort change before the Refresh reply: {received}")
        self.assertNotEqual(ports[-1]["ExternalPort"], before)
        self.assertIn("ExpiresAt", ports[-1])

    def test_config_mapping_cannot_be_removed_on_the_bus(self):
        with self.assertRaises(GLib.Error) as cm:
            self.call("Remove", None, self.mapping_path("web"), MAPPING_IFACE)
        self.assertEqual(Gio.DBusError.get_remote_error(cm.exception),
                         ERROR_PREFIX + "NotSupported")
        self.assertEqual(self.mapping_state("web"), "active")

    def test_unprivileged_caller_is_denied_and_nothing_changes(self):
        # a mapping of root's that nobody tries to remove (the config mapping "web" cannot be
        # removed by anyone: that is refused before authorization)
        self.call("AddMapping", GLib.Variant("(sasqqua{sv})", (
            "", ["tcp"], 9101, 0, 0, {"scope": GLib.Variant("s", "runtime"),
                                      "name": GLib.Variant("s", "rootmap")})))
        self.wait_for(lambda: self.mapping_state("rootmap") == "active", 10)
        before = self.call("ListMappings")[0]
        nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
        for args in (["add", "tcp", "9100"], ["refresh"], ["reload"], ["remove", "rootmap"]):
            cp = subprocess.run(nobody + [PORTMAPCTL, "--no-ask-password", *args], env=self.env,
                                capture_output=True, text=True, timeout=30)
            self.assertEqual(cp.returncode, 1, args)
            # no polkitd on this bus: only root may change anything, and the daemon's own
            # message reaches the user
            self.assertIn("polkit is not running", cp.stderr, args)
        # reading is open to everyone
        cp = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                             PORTMAPCTL, "list", "--no-legend"], env=self.env,
                            capture_output=True, text=True, timeout=30)
        self.assertEqual(cp.returncode, 0, cp.stderr)
        self.assertIn("web", cp.stdout)
        self.assertEqual(before, self.call("ListMappings")[0])
        # root needs no polkit
        cp = self.ctl("remove", "rootmap")
        self.assertEqual(cp.returncode, 0, cp.stderr)

    # ---- portmapctl ----

    def test_portmapctl_status_list_port_json(self):
        cp = self.ctl("status")
        self.assertEqual(cp.returncode, 0, cp.stderr)
        self.assertIn("web", cp.stdout)
        self.assertIn("11.0.0.2", cp.stdout)
        # no mapping has consumers: no consumer table
        self.assertNotIn("CONSUMER", cp.stdout)
        cp = self.ctl("--json=short", "status")
        self.assertEqual(json.loads(cp.stdout)["Mappings"][0]["Name"], "web")
        cp = self.ctl("--json=short", "list")
        self.assertEqual([m["Name"] for m in json.loads(cp.stdout)], ["web"])
        cp = self.ctl("list")
        self.assertIn("1 mappings listed.", cp.stdout.replace("1 mapping listed.",
                                                              "1 mappings listed."))
        self.assertNotIn("listed", self.ctl("list", "--no-legend").stdout)
        cp = self.ctl("port", "web")
        self.assertEqual(cp.returncode, 0, cp.stderr)
        self.assertEqual(int(cp.stdout), self.call("Get", GLib.Variant(
            "(ss)", (MAPPING_IFACE, "ExternalPort")), self.mapping_path("web"),
            "org.freedesktop.DBus.Properties")[0])

    def test_portmapctl_add_remove_and_errors(self):
        cp = self.ctl("add", "both", "9200", "--name", "game", "--description", "a game")
        self.assertEqual(cp.returncode, 0, cp.stderr)
        port = int(cp.stdout)
        self.assertEqual(self.mapping_state("game"), "active")
        self.assertEqual(int(self.ctl("port", "game").stdout), port)
        # port without NAME is ambiguous now
        cp = self.ctl("port")
        self.assertEqual(cp.returncode, 1)
        self.assertIn("game", cp.stderr)
        # duplicate: the daemon's message, exit 1
        cp = self.ctl("add", "tcp", "9200")
        self.assertEqual(cp.returncode, 1)
        self.assertIn("game", cp.stderr)
        cp = self.ctl("remove", "game")
        self.assertEqual(cp.returncode, 0, cp.stderr)
        self.assertIsNone(self.mapping_state("game"))
        cp = self.ctl("remove", "game")
        self.assertEqual(cp.returncode, 1)
        # usage errors are exit 2
        for args in (("add", "sctp", "80"), ("add", "tcp", "70000"), ("frobnicate",),
                     ("--json=loud", "status")):
            self.assertEqual(self.ctl(*args).returncode, 2, args)

    def test_portmapctl_add_runs_command_while_mapping_lives(self):
        cp = self.ctl("add", "tcp", "9300", "--", "sh", "-c",
                      'echo "$PORTMAP_INTERNAL_PORT $PORTMAP_EXTERNAL_PORT '
                      '$PORTMAP_EXTERNAL_ADDRESS"; exit 3')
        self.assertEqual(cp.returncode, 3, cp.stderr)
        internal, external, address = cp.stdout.split()
        self.assertEqual(internal, "9300")
        self.assertGreater(int(external), 0)
        self.assertEqual(address, "11.0.0.2")
        # client scope: gone with portmapctl
        self.wait_for(lambda: not any(m[5] == "client" for m in self.call("ListMappings")[0]),
                      5)

    def test_portmapctl_without_daemon(self):
        self.stop_process(self.daemon)
        cp = self.ctl("status")
        self.assertEqual(cp.returncode, 1)
        self.assertIn("not running", cp.stderr)

    def test_sigterm_exits_zero_and_keeps_config_mapping(self):
        self.daemon.terminate()
        self.assertEqual(self.daemon.wait(6), 0)
        with open(os.path.join(self.workdir, "state", "state.json")) as f:
            self.assertIn("web", json.load(f)["Mappings"])

    def test_sighup_reloads(self):
        with open(self.config, "a") as f:
            f.write("[Mapping more]\nProvider=lab\nProtocols=udp\nInternalPort=8081\n")
        self.daemon.send_signal(signal.SIGHUP)
        self.wait_for(lambda: self.mapping_state("more") == "active", 10)
        # the unchanged mapping kept its object
        self.assertEqual(self.mapping_path("web"), "/org/portmap/Manager/mapping/1")

    def test_describe_config_files_follow_reload(self):
        """Describe()'s ConfigFiles: the files in use in the order read; a drop-in added
        and reloaded appears after the main file; an invalid one changes nothing."""
        describe = json.loads(self.call("Describe")[0])
        self.assertEqual(describe["ConfigFiles"], [self.config])
        dropins = self.config + ".d"
        os.mkdir(dropins)
        late, early = os.path.join(dropins, "20-late.conf"), os.path.join(dropins, "10-early.conf")
        for path in (late, early):
            with open(path, "w") as f:
                f.write("[Daemon]\nReleaseOnStop=transient\n")
        self.call("Reload")
        self.assertEqual(json.loads(self.call("Describe")[0])["ConfigFiles"],
                         [self.config, early, late])
        with open(os.path.join(dropins, "30-bad.conf"), "w") as f:
            f.write("[Nonsense]\n")
        with self.assertRaises(GLib.Error):
            self.call("Reload")
        self.assertEqual(json.loads(self.call("Describe")[0])["ConfigFiles"],
                         [self.config, early, late])

    def test_reload_applies_changes_and_keeps_objects(self):
        runtime = self.call("AddMapping", GLib.Variant("(sasqqua{sv})", (
            "", ["tcp"], 8090, 0, 0, {"scope": GLib.Variant("s", "runtime")})))[0]
        self.wait_for(lambda: self.mapping_state("bus-2") == "active", 10)
        # a changed provider: its mappings are deleted there and requested anew
        with open(self.config, "w") as f:
            f.write(f"[Provider lab]\nType=natpmp\nGateway=127.0.0.1\nPort={self.fake_port}\n"
                    "Lifetime=600\n"
                    "[Mapping web]\nProvider=lab\nProtocols=tcp,udp\nInternalPort=8080\n")
        self.call("Reload")
        self.assertEqual(self.mapping_path("web"), "/org/portmap/Manager/mapping/1")
        self.assertIn(runtime, [m[0] for m in self.call("ListMappings")[0]])
        for name in ("web", "bus-2"):
            self.wait_for(lambda: self.mapping_state(name) == "active", 10)
        ports = self.call("Get", GLib.Variant("(ss)", (MAPPING_IFACE, "Ports")),
                          self.mapping_path("web"), "org.freedesktop.DBus.Properties")[0]
        self.assertEqual(sorted(p[0] for p in ports), ["tcp", "udp"])
        lifetime = self.call("Get", GLib.Variant("(ss)", (MAPPING_IFACE, "Lifetime")),
                             self.mapping_path("web"), "org.freedesktop.DBus.Properties")[0]
        self.assertEqual(lifetime, 600)
        # a removed section: the mapping goes
        with open(self.config, "w") as f:
            f.write(f"[Provider lab]\nType=natpmp\nGateway=127.0.0.1\nPort={self.fake_port}\n"
                    "Lifetime=600\n")
        self.call("Reload")
        self.assertIsNone(self.mapping_state("web"))
        self.assertEqual(self.mapping_state("bus-2"), "active")
        self.assertEqual(self.daemon.poll(), None)

    def test_expires_at_of_mapping_whose_provider_was_removed(self):
        """ExpiresAt is CLOCK_REALTIME µs (or 0) everywhere: the property, ListMappings and
        Describe() agree, also for a bus mapping whose provider a Reload removed (it keeps
        its last lease end, a CLOCK_BOOTTIME instant inside portmapd)."""
        path = self.call("AddMapping", GLib.Variant("(sasqqua{sv})", (
            "lab", ["tcp"], 8091, 0, 0, {"scope": GLib.Variant("s", "runtime"),
                                         "name": GLib.Variant("s", "orphan")})))[0]
        self.wait_for(lambda: self.mapping_state("orphan") == "active", 10)

        def expires_everywhere():
            prop = self.call("Get", GLib.Variant("(ss)", (MAPPING_IFACE, "ExpiresAt")), path,
                             "org.freedesktop.DBus.Properties")[0]
            listed = [m[11] for m in self.call("ListMappings")[0] if m[0] == path][0]
            described = [m["ExpiresAt"] for m in json.loads(self.call("Describe")[0])["Mappings"]
                         if m["Path"] == path][0]
            return prop, listed, described

        before = expires_everywhere()
        self.assertGreater(before[0], time.time() * 1e6)
        # the provider goes; the bus mapping stays, failed (design §3 Reload)
        with open(self.config, "w") as f:
            f.write(f"[Provider other]\nType=natpmp\nGateway=127.0.0.1\nPort={self.fake_port}\n")
        self.call("Reload")
        self.assertEqual(self.mapping_state("orphan"), "failed")
        last_error = self.call("Get", GLib.Variant("(ss)", (MAPPING_IFACE, "LastError")),
                               path, "org.freedesktop.DBus.Properties")[0]
        self.assertTrue(last_error.startswith("NoSuchProvider: provider lab removed by reload"),
                        last_error)
        prop, listed, described = expires_everywhere()
        # a realtime instant is ~1.7e15 µs; a boottime one is the uptime (~1e9-1e12 µs);
        # conversions of "now" taken at two moments may differ by a few µs
        self.assertLess(abs(prop - listed), 1_000_000, (prop, listed))
        self.assertLess(abs(prop - described), 1_000_000, (prop, described))
        if prop != 0:
            self.assertLess(abs(prop - before[0]), 5_000_000, (prop, before))
            self.assertGreater(prop, (time.time() - 3600) * 1e6)
            self.assertLess(prop, (time.time() + 3 * 3600) * 1e6)
        self.assertEqual(self.daemon.poll(), None)

    def test_no_synchronous_bus_calls(self):
        """No handler waits for the bus (design §3): under strace, portmapd serves every
        method, follows a client-scope owner and forgets a caller that left, and never blocks
        in ppoll(), where sd-bus waits for the answer of a synchronous call (sd_bus_call(),
        sd_bus_query_sender_creds(), sd_bus_track_add_name()...); GLib's loop polls with
        poll(). The flush at exit, after SIGTERM, is not counted."""
        self.stop_process(self.daemon)
        self.wait_for(lambda: not self.call_dbus("NameHasOwner",
                                                 GLib.Variant("(s)", (BUS_NAME,))), 5)
        trace = os.path.join(self.workdir, "strace.txt")
        # LeakSanitizer stops the process with ptrace at exit, which fails under strace (the
        # other tests check for leaks)
        env = dict(self.env, ASAN_OPTIONS=":".join(
            filter(None, [self.env.get("ASAN_OPTIONS"), "detect_leaks=0"])))
        tracer = subprocess.Popen(["strace", "-f", "-qq", "-e", "trace=poll,ppoll", "-o", trace,
                                   "--", PORTMAPD, "--config", self.config, "--state-dir",
                                   os.path.join(self.workdir, "state")],
                                  env=env, stdout=self.log, stderr=subprocess.STDOUT)
        self.addCleanup(self.stop_process, tracer)
        self.wait_for(lambda: self.call_dbus("NameHasOwner", GLib.Variant("(s)", (BUS_NAME,))),
                      20)
        self.wait_for(lambda: self.mapping_state("web") == "active", 10)

        def connect():
            return Gio.DBusConnection.new_for_address_sync(
                self.bus.address, Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT
                | Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION, None, None)

        def add(conn, port, scope):
            return conn.call_sync(BUS_NAME, MANAGER_PATH, MANAGER_IFACE, "AddMapping",
                                  GLib.Variant("(sasqqua{sv})", (
                                      "", ["tcp"], port, 0, 0,
                                      {"scope": GLib.Variant("s", scope)})),
                                  None, Gio.DBusCallFlags.NONE, 10000, None).unpack()[0]

        # a client-scope owner, followed, then gone
        owner = connect()
        client = add(owner, 8093, "client")
        self.wait_for(lambda: self.mapping_state("bus-2") == "active", 10)
        owner.call_sync(BUS_NAME, client, MAPPING_IFACE, "Refresh", None, None,
                        Gio.DBusCallFlags.NONE, 10000, None)
        owner.close_sync(None)
        self.wait_for(lambda: self.mapping_state("bus-2") is None, 5)
        # a caller gone before its credentials came
        leaver = connect()
        msg = Gio.DBusMessage.new_method_call(BUS_NAME, MANAGER_PATH, MANAGER_IFACE,
                                              "AddMapping")
        msg.set_body(GLib.Variant("(sasqqua{sv})", ("", ["tcp"], 8094, 0, 0, {})))
        leaver.send_message(msg, Gio.DBusSendMessageFlags.NONE)
        leaver.flush_sync(None)
        leaver.close_sync(None)
        # every other method
        runtime = add(self.conn, 8095, "runtime")
        for prop in ("ExpiresAt", "OwnerUID", "State"):
            self.call("Get", GLib.Variant("(ss)", (MAPPING_IFACE, prop)), runtime,
                      "org.freedesktop.DBus.Properties")
        self.call("Refresh", None, runtime, MAPPING_IFACE)
        self.call("RefreshAll")
        self.call("Reload")
        self.call("Describe")
        self.call("GetManagedObjects", None, MANAGER_PATH, "org.freedesktop.DBus.ObjectManager")
        self.call("Introspect", None, runtime, "org.freedesktop.DBus.Introspectable")
        self.call("RemoveMapping", GLib.Variant("(o)", (runtime,)))
        self.assertEqual([m[1] for m in self.call("ListMappings")[0]], ["web"])

        with open(f"/proc/{tracer.pid}/task/{tracer.pid}/children") as f:
            daemon_pid = int(f.read().split()[0])
        os.kill(daemon_pid, signal.SIGTERM)
        self.assertEqual(tracer.wait(10), 0)
        with open(trace) as f:
            lines = f.read().splitlines()
        ends = [i for i, line in enumerate(lines) if "--- SIGTERM" in line]
        self.assertEqual(len(ends), 1, "no SIGTERM in the trace")
        running = lines[:ends[0]]
        self.assertGreater(len([line for line in running if " poll(" in line]), 10,
                           "strace saw no poll() of GLib's loop")
        waits = [line for line in running if "ppoll" in line]
        self.assertEqual(waits, [], "portmapd waited for the bus")

    def test_no_bus_mode_writes_status_and_health(self):
        runtime = os.path.join(self.workdir, "run")
        cp = subprocess.run([PORTMAPD, "--health", "--runtime-dir", runtime],
                            capture_output=True, text=True, timeout=10)
        self.assertEqual(cp.returncode, 1, "healthy without a daemon")
        headless = subprocess.Popen([PORTMAPD, "--no-bus", "--config", self.config,
                                     "--state-dir", os.path.join(self.workdir, "state2"),
                                     "--runtime-dir", runtime],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.addCleanup(self.stop_process, headless)
        status = os.path.join(runtime, "status.json")

        def active():
            try:
                with open(status) as f:
                    doc = json.load(f)
            except (OSError, ValueError):
                return False
            return [m["State"] for m in doc["Mappings"]] == ["active"]

        self.wait_for(active, 10)
        cp = subprocess.run([PORTMAPD, "--health", "--runtime-dir", runtime],
                            capture_output=True, text=True, timeout=10)
        self.assertEqual(cp.returncode, 0, cp.stderr)
        # the gateway goes away: refused requests make the mapping retry, health fails
        self.fake.stop()
        with open(self.config, "a") as f:
            f.write("[Mapping more]\nProvider=lab\nProtocols=udp\nInternalPort=8082\n")
        headless.send_signal(signal.SIGHUP)
        self.wait_for(lambda: subprocess.run(
            [PORTMAPD, "--health", "--runtime-dir", runtime], capture_output=True,
            timeout=10).returncode == 1, 10)
        headless.terminate()
        self.assertEqual(headless.wait(6), 0)

    def test_portmapctl_status_shows_consumers(self):
        """A consumer that fails shows with its state and reason in `portmapctl status`
        and in Describe() (status.json's source), next to one that works; the mapping
        itself stays active."""
        good = os.path.join(self.workdir, "good.port")
        # a directory where the file should be: the rename onto it fails
        bad = os.path.join(self.workdir, "bad.port")
        os.mkdir(bad)
        with open(self.config, "a") as f:
            f.write(f"[Consumer good]\nType=portfile\nPath={good}\n"
                    f"[Consumer bad]\nType=portfile\nPath={bad}\n"
                    "[Mapping served]\nProvider=lab\nProtocols=tcp\nInternalPort=8095\n"
                    "Consumers=good bad\n")
        self.daemon.send_signal(signal.SIGHUP)
        self.wait_for(lambda: self.mapping_state("served") == "active", 10)

        def consumers():
            cp = self.ctl("--json=short", "status")
            for m in json.loads(cp.stdout)["Mappings"]:
                if m["Name"] == "served":
                    return {c["Name"]: (c["State"], c["LastError"]) for c in m["Consumers"]}
            return {}

        self.wait_for(lambda: consumers().get("bad", ("",))[0] == "failed", 10)
        self.assertEqual(consumers()["good"], ("ok", ""))
        self.assertIn(bad, consumers()["bad"][1])
        cp = self.ctl("status")
        self.assertEqual(cp.returncode, 0, cp.stderr)
        table = cp.stdout[cp.stdout.index("CONSUMER"):].splitlines()
        self.assertEqual(table[0].split(), ["CONSUMER", "MAPPING", "STATE"])
        self.assertEqual(table[1].split(), ["good", "served", "ok"])
        self.assertEqual(table[2].split(), ["bad", "served", "failed"])
        # the reason, on its own line under the failed consumer
        self.assertIn(bad, table[3])
        self.assertEqual(self.mapping_state("served"), "active")
        # --no-legend: the rows without the header
        cp = self.ctl("status", "--no-legend")
        self.assertNotIn("CONSUMER", cp.stdout)
        self.assertRegex(cp.stdout, r"(?m)^bad +served +failed$")

    def test_portfile_consumer_in_runtime_dir(self):
        """Type=portfile with Path= unset writes RUNTIME_DIR/NAME.port (--runtime-dir):
        the granted port once it is active, mode 0644, and an empty file when the
        daemon stops and the mapping is down."""
        runtime = os.path.join(self.workdir, "run")
        config = os.path.join(self.workdir, "portfile.conf")
        with open(config, "w") as f:
            f.write(f"[Provider lab]\nType=natpmp\nGateway=127.0.0.1\nPort={self.fake_port}\n"
                    "[Consumer pf]\nType=portfile\n"
                    "[Mapping files]\nProvider=lab\nProtocols=tcp\nInternalPort=8091\n"
                    "Consumers=pf\n")
        headless = subprocess.Popen([PORTMAPD, "--no-bus", "--config", config,
                                     "--state-dir", os.path.join(self.workdir, "state3"),
                                     "--runtime-dir", runtime],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.addCleanup(self.stop_process, headless)
        port_file = os.path.join(runtime, "pf.port")

        def status():
            try:
                with open(os.path.join(runtime, "status.json")) as f:
                    return json.load(f)["Mappings"][0]
            except (OSError, ValueError, IndexError, KeyError):
                return None

        def port_file_content():
            try:
                with open(port_file) as f:
                    return f.read()
            except OSError:
                return None

        self.wait_for(lambda: (status() or {}).get("State") == "active", 10)
        port = status()["ExternalPort"]
        self.assertTrue(1 <= port <= 65535)
        self.wait_for(lambda: port_file_content() == f"{port}\n", 10)
        self.assertEqual(os.stat(port_file).st_mode & 0o7777, 0o644)
        headless.terminate()
        self.assertEqual(headless.wait(6), 0)
        self.assertEqual(port_file_content(), "")


    def add_vpn_provider(self, same_port=True, mappings=""):
        """A second provider, "vpn", at a fake gateway of its own (so that its socket is its
        own), with the config mapping "web" of "lab" kept; Reload()s."""
        if not hasattr(self, "fake2"):
            workdir = os.path.join(self.workdir, "vpn")
            os.makedirs(workdir)
            self.fake2 = pmlab.LoopbackFakeGateway(workdir, public_address="11.0.0.9")
            self.addCleanup(self.fake2.stop)
            # it also grants internal port 0, as a SamePort=yes gateway does
            self.fake2.control.set(same_port=True)
        self.add_vpn_provider_config(mappings, same_port)
        self.call("Reload")

    def add_vpn_provider_config(self, mappings, same_port=True):
        self.write_config(f"[Provider vpn]\nType=natpmp\nGateway=127.0.0.1\n"
                          f"Port={self.fake2.port}\nSamePort={'yes' if same_port else 'no'}\n"
                          + mappings)

    def write_config(self, extra):
        with open(self.config, "w") as f:
            f.write(f"[Provider lab]\nType=natpmp\nGateway=127.0.0.1\nPort={self.fake_port}\n"
                    "[Mapping web]\nProvider=lab\nProtocols=tcp\nInternalPort=8080\n" + extra)

    def add_mapping(self, provider, protocols, port, name, scope="runtime"):
        return self.call("AddMapping", GLib.Variant("(sasqqua{sv})", (
            provider, protocols, port, 0, 0, {"scope": GLib.Variant("s", scope),
                                              "name": GLib.Variant("s", name)})))[0]

    def get(self, path, prop):
        return self.call("Get", GLib.Variant("(ss)", (MAPPING_IFACE, prop)), path,
                         "org.freedesktop.DBus.Properties")[0]

    def assert_bus_error(self, name, func, *args):
        with self.assertRaises(GLib.Error) as cm:
            func(*args)
        self.assertEqual(Gio.DBusError.get_remote_error(cm.exception), ERROR_PREFIX + name,
                         cm.exception.message)
        return cm.exception.message

    def test_same_port_add_mapping_one_per_protocol(self):
        self.add_vpn_provider()
        self.add_mapping("vpn", ["tcp"], 9400, "vpn-a")
        self.wait_for(lambda: self.mapping_state("vpn-a") == "active", 10)
        before = self.call("ListMappings")[0]
        upstream = self.fake2.control.mappings()
        self.assertEqual([(m["protocol"], m["internal_port"]) for m in upstream], [("tcp", 0)])

        # a second tcp mapping at the provider, whatever its internal port: refused, naming
        # the first, before anything is created (also with udp along)
        for protocols, port in ((["tcp"], 9401), (["tcp", "udp"], 9402), (["tcp"], 9400)):
            message = self.assert_bus_error("AlreadyMapped", self.add_mapping, "vpn",
                                            protocols, port, "vpn-b")
            self.assertIn("SamePort=yes", message)
            self.assertIn("'vpn-a'", message)
            self.assertIn("provider vpn", message)
        # the CLI shows the daemon's message
        cp = self.ctl("add", "tcp", "9403", "--provider", "vpn")
        self.assertEqual(cp.returncode, 1)
        self.assertIn("vpn-a", cp.stderr)
        self.assertIn("SamePort=yes", cp.stderr)
        time.sleep(0.3)
        self.assertEqual(self.call("ListMappings")[0], before)
        self.assertEqual([(m["protocol"], m["internal_port"])
                          for m in self.fake2.control.mappings()], [("tcp", 0)])

        # another protocol at the same provider, and tcp at another provider: fine
        self.add_mapping("vpn", ["udp"], 9404, "vpn-c")
        self.add_mapping("lab", ["tcp"], 9405, "lab-d")
        for name in ("vpn-a", "vpn-c", "lab-d"):
            self.wait_for(lambda: self.mapping_state(name) == "active", 10)
        self.assertEqual(sorted((m["protocol"], m["internal_port"])
                                for m in self.fake2.control.mappings()),
                         [("tcp", 0), ("udp", 0)])
        # with both protocols taken, udp is refused too, naming its holder
        message = self.assert_bus_error("AlreadyMapped", self.add_mapping, "vpn", ["udp"],
                                        9406, "vpn-e")
        self.assertIn("'vpn-c'", message)
        # once the holder is gone, its protocol is free again
        self.call("Remove", None, self.mapping_path("vpn-a"), MAPPING_IFACE)
        self.add_mapping("vpn", ["tcp"], 9407, "vpn-f")
        self.wait_for(lambda: self.mapping_state("vpn-f") == "active", 10)
        self.daemon.terminate()
        self.assertEqual(self.daemon.wait(6), 0)

    def test_same_port_config_conflict_exits_2_and_is_not_reloaded(self):
        conflict = ("[Provider vpn]\nType=natpmp\nGateway=127.0.0.1\nSamePort=yes\n"
                    "[Daemon]\nDefaultProvider=vpn\n"
                    "[Mapping a]\nProtocols=tcp\n"
                    "[Mapping b]\nProtocols=both\n")
        bad = os.path.join(self.workdir, "bad.conf")
        with open(bad, "w") as f:
            f.write(conflict)
        cp = subprocess.run([PORTMAPD, "--config", bad, "--no-bus"], capture_output=True,
                            text=True, timeout=10)
        self.assertEqual(cp.returncode, 2)
        self.assertIn("bad.conf:10: [Mapping b] Protocols=both: provider vpn has SamePort=yes",
                      cp.stderr)
        self.assertIn("[Mapping a] (" + bad + ":8) already uses tcp", cp.stderr)
        # the same refused by Reload(), nothing changed
        before = self.call("ListMappings")[0]
        self.write_config(conflict)
        message = self.assert_bus_error("InvalidConfiguration", self.call, "Reload")
        self.assertIn("portmapd.conf:18: [Mapping b] Protocols=both", message)
        self.assertEqual(self.call("ListMappings")[0], before)
        self.assertEqual(self.mapping_state("web"), "active")

    def test_same_port_reload_refused_for_bus_mapping(self):
        self.add_vpn_provider()
        self.add_mapping("vpn", ["tcp"], 9400, "vpn-a")
        self.wait_for(lambda: self.mapping_state("vpn-a") == "active", 10)
        before = self.call("ListMappings")[0]

        # a config mapping that would share tcp with the bus mapping: refused, nothing
        # changes, the message names the bus mapping
        with open(self.config, "a") as f:
            f.write("[Mapping game]\nProvider=vpn\nProtocols=both\n")
        message = self.assert_bus_error("InvalidConfiguration", self.call, "Reload")
        self.assertIn("'vpn-a'", message)
        self.assertIn("[Mapping game]", message)
        self.assertIn("SamePort=yes", message)
        self.assertEqual(self.call("ListMappings")[0], before)
        # SIGHUP is refused the same way, and logged
        refused = self.read_log().count("reload refused")
        self.daemon.send_signal(signal.SIGHUP)
        self.wait_for(lambda: self.read_log().count("reload refused") > refused, 10)
        self.assertIn("'vpn-a'", self.read_log().split("reload refused")[-1])
        self.assertEqual(self.call("ListMappings")[0], before)

        # udp is free: applied
        self.add_vpn_provider(mappings="[Mapping game]\nProvider=vpn\nProtocols=udp\n")
        self.wait_for(lambda: self.mapping_state("game") == "active", 10)
        path = self.mapping_path("game")
        port = self.get(path, "ExternalPort")
        self.assertEqual(self.get(path, "InternalPort"), port)
        requests = len(self.fake2.control.log())

        # an unrelated change: the SamePort mapping keeps its lease and its internal port
        # (the granted port), nothing is asked of its gateway again
        self.add_vpn_provider(mappings="[Mapping game]\nProvider=vpn\nProtocols=udp\n"
                                       "[Mapping more]\nProvider=lab\nProtocols=udp\n"
                                       "InternalPort=8081\n")
        self.wait_for(lambda: self.mapping_state("more") == "active", 10)
        self.assertEqual(self.mapping_path("game"), path)
        self.assertEqual(self.mapping_state("game"), "active")
        self.assertEqual(self.get(path, "InternalPort"), port)
        self.assertEqual(self.get(path, "ExternalPort"), port)
        self.assertEqual(len(self.fake2.control.log()), requests)

        # two bus mappings that would share tcp once the provider has SamePort=yes
        self.add_vpn_provider(same_port=False)
        self.assertIsNone(self.mapping_state("game"))
        self.add_mapping("vpn", ["tcp"], 9401, "vpn-b")
        self.wait_for(lambda: self.mapping_state("vpn-b") == "active", 10)
        self.write_config(f"[Provider vpn]\nType=natpmp\nGateway=127.0.0.1\n"
                          f"Port={self.fake2.port}\nSamePort=yes\n")
        message = self.assert_bus_error("InvalidConfiguration", self.call, "Reload")
        self.assertIn("'vpn-a'", message)
        self.assertIn("'vpn-b'", message)
        self.assertEqual(self.daemon.poll(), None)
        self.daemon.terminate()
        self.assertEqual(self.daemon.wait(6), 0)

    def read_log(self):
        with open(self.log.name) as f:
            return f.read()

    def test_same_port_restored_bus_mapping_fails_if_config_took_its_protocol(self):
        """At start nothing can be refused: a persistent bus mapping from the state file
        that a config mapping now collides with is not requested, and says why."""
        self.add_vpn_provider()
        self.add_mapping("vpn", ["tcp"], 9400, "keep", scope="persistent")
        self.wait_for(lambda: self.mapping_state("keep") == "active", 10)
        self.daemon.terminate()
        self.assertEqual(self.daemon.wait(6), 0)
        self.add_vpn_provider_config("[Mapping game]\nProvider=vpn\nProtocols=tcp\n")
        self.start_daemon()
        self.wait_for(lambda: self.call_dbus("NameHasOwner",
                                             GLib.Variant("(s)", (BUS_NAME,))), 10)
        self.wait_for(lambda: self.mapping_state("game") == "active", 10)
        self.assertEqual(self.mapping_state("keep"), "failed")
        keep = self.mapping_path("keep")
        last_error = self.get(keep, "LastError")
        self.assertTrue(last_error.startswith("AlreadyMapped: provider vpn has SamePort=yes"),
                        last_error)
        self.assertIn("'game'", last_error)
        self.assertEqual(self.get(keep, "ExternalPort"), 0)
        self.assertEqual([(m["protocol"], m["internal_port"])
                          for m in self.fake2.control.mappings()], [("tcp", 0)])
        self.call("Remove", None, keep, MAPPING_IFACE)
        self.assertIsNone(self.mapping_state("keep"))
        self.daemon.terminate()
        self.assertEqual(self.daemon.wait(6), 0)

    def udp_sockets(self):
        """(local port, remote port) of each UDP socket portmapd holds."""
        inodes = set()
        fd_dir = f"/proc/{self.daemon.pid}/fd"
        for fd in os.listdir(fd_dir):
            try:
                match = re.fullmatch(r"socket:\[(\d+)\]", os.readlink(os.path.join(fd_dir, fd)))
            except OSError:
                continue
            if match:
                inodes.add(match.group(1))
        sockets = []
        with open(f"/proc/{self.daemon.pid}/net/udp") as f:
            next(f)
            for line in f:
                fields = line.split()
                if fields[9] in inodes:
                    sockets.append((int(fields[1].split(":")[1], 16),
                                    int(fields[2].split(":")[1], 16)))
        return sorted(sockets)

    def test_reload_removing_provider_closes_its_socket(self):
        lab_sockets = self.udp_sockets()
        self.assertIn(self.fake_port, [remote for _, remote in lab_sockets])
        self.add_vpn_provider(same_port=False,
                              mappings="[Mapping tun]\nProvider=vpn\nProtocols=both\n"
                                       "InternalPort=8500\n")
        rt = self.add_mapping("vpn", ["tcp"], 8501, "rt")
        for name in ("tun", "rt"):
            self.wait_for(lambda: self.mapping_state(name) == "active", 10)
        self.assertEqual(len(self.fake2.control.mappings()), 3)
        with_vpn = self.udp_sockets()
        # the request socket to its gateway and the announcement socket
        self.assertIn(self.fake2.port, [remote for _, remote in with_vpn])
        self.assertEqual(len(with_vpn), len(lab_sockets) + 2, with_vpn)

        # the provider goes: its config mapping goes, its bus mapping fails
        self.write_config("")
        self.call("Reload")
        self.assertIsNone(self.mapping_state("tun"))
        self.assertEqual(self.mapping_state("rt"), "failed")
        self.assertIn("provider vpn removed by reload", self.get(rt, "LastError"))
        self.assertEqual(self.get(rt, "ExternalPort"), 0)
        self.assertEqual(self.get(rt, "ExpiresAt"), 0)
        # every lease was deleted upstream, then the provider's sockets closed
        self.wait_for(lambda: self.fake2.control.mappings() == [], 10)
        self.wait_for(lambda: self.udp_sockets() == lab_sockets, 10)
        self.assertEqual(self.mapping_state("web"), "active")

        # the failed mapping still answers, and goes
        self.call("Refresh", None, rt, MAPPING_IFACE)
        self.assertEqual(self.mapping_state("rt"), "failed")
        describe = json.loads(self.call("Describe")[0])
        self.assertEqual([p["Name"] for p in describe["Providers"]], ["lab"])
        self.call("Remove", None, rt, MAPPING_IFACE)
        self.assertIsNone(self.mapping_state("rt"))
        self.daemon.terminate()
        self.assertEqual(self.daemon.wait(6), 0)

    def test_reload_removing_provider_at_silent_gateway(self):
        """A removed provider whose gateway no longer answers closes when its deletions
        give up; a bus mapping removed meanwhile, and SIGTERM, do not touch it after."""
        lab_sockets = self.udp_sockets()
        self.add_vpn_provider(same_port=False)
        rt = self.add_mapping("vpn", ["tcp", "udp"], 8501, "rt")
        self.wait_for(lambda: self.mapping_state("rt") == "active", 10)
        self.add_mapping("vpn", ["tcp"], 8502, "rt2")
        self.wait_for(lambda: self.mapping_state("rt2") == "active", 10)
        self.fake2.control.set(silent=True)
        self.write_config("")
        self.call("Reload")
        # still open while the deletions wait for an answer
        self.assertEqual(len(self.udp_sockets()), len(lab_sockets) + 2)
        # removed while its deletions at the old provider are unanswered
        self.assertEqual(self.mapping_state("rt"), "failed")
        self.call("Remove", None, rt, MAPPING_IFACE)
        self.assertIsNone(self.mapping_state("rt"))
        # closed once they give up (within 5 s)
        self.wait_for(lambda: self.udp_sockets() == lab_sockets, 10)
        self.assertEqual(self.mapping_state("rt2"), "failed")
        self.assertEqual(len(self.fake2.control.mappings()), 3)
        self.daemon.terminate()
        self.assertEqual(self.daemon.wait(6), 0)

    def test_invalid_config_exits_2_naming_file_and_line(self):
        bad = os.path.join(self.workdir, "bad.conf")
        with open(bad, "w") as f:
            f.write("[Provider lab]\nType=natpmp\nSamePort=maybe\n")
        cp = subprocess.run([PORTMAPD, "--config", bad, "--no-bus"], capture_output=True,
                            text=True, timeout=10)
        self.assertEqual(cp.returncode, 2)
        self.assertIn("bad.conf:3", cp.stderr)
        self.assertIn("SamePort=maybe", cp.stderr)

    def test_unknown_consumer_type_is_refused(self):
        """[Consumer NAME] is read through the consumer class table: a type it does not
        have is refused (start: exit 2; Reload(): InvalidConfiguration, nothing changed),
        at its Type= line, with the types there are."""
        later = "[Consumer qbt]\nType=rtorrent\nURL=http://127.0.0.1:8112\n"
        bad = os.path.join(self.workdir, "bad.conf")
        with open(bad, "w") as f:
            f.write("[Provider lab]\nType=natpmp\n" + later)
        cp = subprocess.run([PORTMAPD, "--config", bad, "--no-bus"], capture_output=True,
                            text=True, timeout=10)
        self.assertEqual(cp.returncode, 2)
        self.assertIn(bad + ":4: [Consumer qbt] Type=rtorrent: unknown consumer type; "
                      "accepted values: portfile, webhook, exec, qbittorrent, transmission, "
                      "deluge", cp.stderr)

        before = self.call("ListMappings")[0]
        self.write_config(later)
        message = self.assert_bus_error("InvalidConfiguration", self.call, "Reload")
        self.assertIn("portmapd.conf:10: [Consumer qbt] Type=rtorrent", message)
        # naming a consumer that is not defined is refused too
        self.write_config("Consumers=qbt\n")
        message = self.assert_bus_error("InvalidConfiguration", self.call, "Reload")
        self.assertIn("portmapd.conf:9: [Mapping web] Consumers=qbt: Consumer qbt is not "
                      "defined", message)
        self.assertEqual(self.call("ListMappings")[0], before)
        self.assertEqual(self.get(self.mapping_path("web"), "Consumers"), [])
        self.assertEqual(json.loads(self.call("Describe")[0])["Consumers"], [])


if __name__ == "__main__":
    unittest.main(verbosity=2)
