#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Integration tests of the built portmapd and portmapctl on a private system bus, in the
network-namespace lab (tests/lab): real miniupnpd for traffic, the scripted fake gateway for
what miniupnpd cannot do. Each test method is one meson test (suite "lab")."""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lab"))
import pmlab  # noqa: E402

import gi  # noqa: E402

gi.require_version("Gio", "2.0")
from gi.repository import Gio, GLib  # noqa: E402

BUILDDIR = os.environ.get("PORTMAP_BUILDDIR", os.path.join(HERE, "..", "..", "build"))
PORTMAPD = os.environ.get("PORTMAPD", os.path.join(BUILDDIR, "daemon", "portmapd"))
PORTMAPCTL = os.environ.get("PORTMAPCTL",
                            os.path.join(BUILDDIR, "client", "portmapctl", "portmapctl"))

BUS_NAME = "org.portmap.Manager"
MANAGER_PATH = "/org/portmap/Manager"
MANAGER_IFACE = "org.portmap.Manager"
MAPPING_IFACE = "org.portmap.Mapping"
ERROR_PREFIX = "org.portmap.Manager.Error."
# SIGTERM releases runtime mappings upstream, bounded by 5 s; then the sanitizers report
STOP_TIMEOUT = 15

BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <!-- a socket file, not an abstract one: abstract sockets belong to a network namespace and
       portmapd runs in the lab's lan namespace -->
  <listen>unix:dir={dir}</listen>
  <auth>EXTERNAL</auth>
  <limit name="max_replies_per_connection">50000</limit>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_type="method_return"/>
    <allow send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="signal"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
  </policy>
</busconfig>
"""


class Bus(pmlab.PrivateBus):
    """A private dbus-daemon of type system, stopped by PID."""

    def __init__(self, workdir):
        super().__init__(workdir, lambda d: BUS_CONFIG.format(dir=d))


class PortmapdTestCase(unittest.TestCase):
    gateway = "miniupnpd"
    grant_lifetime = None

    def setUp(self):
        self.workdir = tempfile.mkdtemp(prefix="portmapd-test-")
        os.chmod(self.workdir, 0o755)
        self.addCleanup(shutil.rmtree, self.workdir, True)
        self.lab = pmlab.Lab(gateway=self.gateway, grant_lifetime=self.grant_lifetime)
        self.lab.up()
        self.addCleanup(self.lab.down)
        self.bus = Bus(self.workdir)
        self.addCleanup(self.bus.stop)
        self.env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=self.bus.address)
        self.conn = Gio.DBusConnection.new_for_address_sync(
            self.bus.address,
            Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT
            | Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION, None, None)
        self.addCleanup(self.conn.close_sync, None)
        self.signals = []
        self.conn.signal_subscribe(BUS_NAME, None, None, None, None, Gio.DBusSignalFlags.NONE,
                                   self._on_signal)
        self.daemon = None
        self.daemon_log = os.path.join(self.workdir, "portmapd.log")
        self.state_dir = os.path.join(self.workdir, "state")
        self.config_path = os.path.join(self.workdir, "portmapd.conf")

    def tearDown(self):
        exit_status = 0
        if self.daemon is not None and self.daemon.poll() is None:
            # stopped as systemd stops it: the stop path runs every time and, on the
            # sanitizer build, LeakSanitizer judges the whole run at exit
            self.daemon.terminate()
            try:
                exit_status = self.daemon.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.daemon.kill()
                self.daemon.wait()
                exit_status = None
        ok = all(e is None for _, e in getattr(self._outcome, "errors", [])) \
            if hasattr(self._outcome, "errors") else True
        if not ok or exit_status != 0 or os.environ.get("PORTMAP_TEST_VERBOSE"):
            self.dump_log()
        if exit_status is None:
            self.fail(f"portmapd did not exit within {STOP_TIMEOUT} s of SIGTERM")
        if exit_status != 0:
            self.fail(f"portmapd exited with {exit_status} on SIGTERM (a leak report on the "
                      f"sanitizer build exits 23)")

    def dump_log(self):
        if os.path.exists(self.daemon_log):
            with open(self.daemon_log) as f:
                sys.stderr.write("---- portmapd log ----\n" + f.read()[-20000:])

    def _on_signal(self, conn, sender, path, iface, name, params):
        self.signals.append((path, iface, name, params.unpack()))

    # ---- helpers ----

    def pump(self, seconds=0.0):
        """Iterate the GLib context (signals) for up to @seconds."""
        ctx = GLib.MainContext.default()
        end = time.monotonic() + seconds
        while True:
            while ctx.pending():
                ctx.iteration(False)
            if time.monotonic() >= end:
                break
            time.sleep(0.01)

    def wait_for(self, predicate, timeout, message=""):
        end = time.monotonic() + timeout
        while True:
            self.pump()
            value = predicate()
            if value:
                return value
            if time.monotonic() > end:
                self.fail(f"timed out after {timeout} s: {message}")
            time.sleep(0.02)

    def write_config(self, text):
        with open(self.config_path, "w") as f:
            f.write(text)

    def provider_config(self, extra=""):
        return (f"[Provider lab]\nType=natpmp\nGateway={pmlab.Lab.GW_LAN_ADDR}\n{extra}\n")

    def start_daemon(self, config=None, unprivileged=False, expect_name=True):
        if config is not None:
            self.write_config(config)
        os.makedirs(self.state_dir, exist_ok=True)
        argv = [PORTMAPD, "--config", self.config_path, "--state-dir", self.state_dir,
                "--log-level", "debug"]
        if unprivileged:
            # as the unit runs it: another uid, only CAP_NET_ADMIN, ambient
            os.chown(self.state_dir, 65534, 65534)
            argv = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                    "--inh-caps=-all,+net_admin", "--ambient-caps=-all,+net_admin",
                    "--bounding-set=-all,+net_admin", "--"] + argv
        log = open(self.daemon_log, "a")
        self.daemon = self.lab.spawn(self.lab.ns_lan, argv, name="portmapd", env=self.env,
                                     stdout=log, stderr=subprocess.STDOUT)
        log.close()
        if expect_name:
            self.wait_for(self.name_has_owner, 10, "portmapd did not take its bus name")
        return self.daemon

    def name_has_owner(self):
        if self.daemon is not None and self.daemon.poll() is not None:
            self.dump_log()
            self.fail(f"portmapd exited with {self.daemon.returncode}")
        reply = self.conn.call_sync("org.freedesktop.DBus", "/org/freedesktop/DBus",
                                    "org.freedesktop.DBus", "NameHasOwner",
                                    GLib.Variant("(s)", (BUS_NAME,)), None,
                                    Gio.DBusCallFlags.NONE, 2000, None)
        return reply.unpack()[0]

    def call(self, method, args=None, path=MANAGER_PATH, iface=MANAGER_IFACE, timeout=30000):
        reply = self.conn.call_sync(BUS_NAME, path, iface, method, args, None,
                                    Gio.DBusCallFlags.NONE, timeout, None)
        return reply.unpack() if reply is not None else None

    def call_error(self, method, args=None, path=MANAGER_PATH, iface=MANAGER_IFACE):
        """The D-Bus error name of a call that must fail."""
        try:
            self.call(method, args, path, iface)
        except GLib.Error as e:
            return Gio.DBusError.get_remote_error(e), e.message
        self.fail(f"{method} succeeded but should have failed")

    def add_mapping(self, provider="", protocols=("tcp",), internal=7001, external=0,
                    lifetime=0, **options):
        opts = {}
        for key, value in options.items():
            key = key.replace("_", "-")
            opts[key] = GLib.Variant("b" if isinstance(value, bool) else "s", value)
        args = GLib.Variant("(sasqqua{sv})", (provider, list(protocols), internal, external,
                                              lifetime, opts))
        return self.call("AddMapping", args)[0]

    def prop(self, path, name, iface=MAPPING_IFACE):
        return self.call("Get", GLib.Variant("(ss)", (iface, name)), path=path,
                         iface="org.freedesktop.DBus.Properties")[0]

    def mapping_paths(self):
        return [m[0] for m in self.call("ListMappings")[0]]

    def wait_state(self, path, state, timeout=20):
        return self.wait_for(lambda: self.prop(path, "State") == state, timeout,
                             f"{path} never became {state} (is {self.prop(path, 'State')}, "
                             f"{self.prop(path, 'LastError')})")

    def ctl(self, *args, timeout=40, check=True):
        cp = subprocess.run([PORTMAPCTL, *args], env=self.env, capture_output=True, text=True,
                            timeout=timeout)
        if check and cp.returncode != 0:
            self.fail(f"portmapctl {' '.join(args)} exited {cp.returncode}: {cp.stderr}")
        return cp

    def fake_requests(self, **match):
        """Requests the fake gateway received, filtered by field values."""
        out = []
        for entry in self.lab.fake.log():
            if all(entry.get(k) == v for k, v in match.items()):
                out.append(entry)
        return out

    def stop_daemon(self, timeout=5.0):
        start = time.monotonic()
        self.daemon.send_signal(signal.SIGTERM)
        code = self.daemon.wait(timeout + 2)
        return code, time.monotonic() - start


class MiniupnpdTest(PortmapdTestCase):
    gateway = "miniupnpd"

    def check_traffic(self, unprivileged):
        if unprivileged:
            # and Gateway= unset: the default route's gateway (lan's is the NAT)
            config = "[Provider lab]\nType=natpmp\n"
        else:
            config = self.provider_config()
        self.start_daemon(config, unprivileged=unprivileged)
        # the README's flow: portmapctl add waits for the grant and prints the port
        cp = self.ctl("add", "both", "7001", "--name", "web")
        external = int(cp.stdout.strip())
        self.assertGreaterEqual(external, 1024)
        path = self.mapping_paths()[0]
        self.assertEqual(self.prop(path, "State"), "active")
        ports = self.prop(path, "Ports")
        self.assertEqual(sorted(p[0] for p in ports), ["tcp", "udp"])
        self.assertEqual(self.prop(path, "ExternalAddress"), pmlab.Lab.GW_WAN_ADDR)
        self.assertEqual(self.prop(path, "InternalAddress"), pmlab.Lab.LAN_ADDR)
        self.assertIn(":7001", self.lab.miniupnpd_rules())
        self.assertTrue(self.lab.tcp_reachable(external, 7001),
                        "a TCP connection from inet did not reach lan")
        self.assertTrue(self.lab.udp_reachable(external, 7001),
                        "a UDP datagram from inet did not reach lan")
        # and an unmapped port is not reachable: the proof can fail
        self.assertFalse(self.lab.tcp_reachable(7999, 7999, timeout=2))

    def test_a_tcp_udp_mapping_carries_traffic(self):
        self.check_traffic(unprivileged=False)

    def test_j_unprivileged_mapping_carries_traffic(self):
        self.check_traffic(unprivileged=True)
        with open(f"/proc/{self.daemon_pid()}/status") as f:
            status = f.read()
        self.assertIn("Uid:\t65534", status)

    def daemon_pid(self):
        # ip netns exec replaces itself with setpriv, which execs portmapd: same pid
        return self.daemon.pid

    def test_b_gateway_reboot_recreates_mapping(self):
        self.start_daemon(self.provider_config() +
                          "[Mapping web]\nProvider=lab\nProtocols=tcp\nInternalPort=7002\n"
                          "Lifetime=3600\n")
        path = self.mapping_paths()[0]
        self.wait_state(path, "active")
        external = self.prop(path, "ExternalPort")
        # the epoch rule needs elapsed time on the gateway: keep it up >= 5 s first
        self.wait_for(lambda: time.monotonic() - self.lab.miniupnpd_started >= 5.5, 10)
        started = self.lab.reboot_miniupnpd()
        self.assertNotIn(f"{external}", self.lab.miniupnpd_rules().split("dnat")[-1]
                         if "dnat" in self.lab.miniupnpd_rules() else "")
        # re-created from the gateway's start announcement, not by a renewal (lease 3600 s)
        self.wait_for(lambda: ":7002" in self.lab.miniupnpd_rules(), 8,
                      "the mapping was not re-created on the rebooted gateway")
        elapsed = time.monotonic() - started
        self.assertLessEqual(elapsed, 6.0, f"re-created {elapsed:.2f} s after the restart")
        self.assertTrue(self.lab.tcp_reachable(self.prop(path, "ExternalPort"), 7002))


class FakeGatewayTest(PortmapdTestCase):
    gateway = "fake"

    def setUp(self):
        super().setUp()
        # ports outside the internal ones, so "same port again" is a real claim
        self.lab.start_fake_gateway(port_min=40000, port_max=40999)

    def test_c_port_change_on_renewal(self):
        self.lab.fake.set(grant_lifetime=4, change_port_on_renewal=True)
        self.start_daemon(self.provider_config())
        path = self.add_mapping(internal=7003, scope="runtime")
        self.wait_state(path, "active")
        first = self.prop(path, "ExternalPort")
        # renewal at half of the 4 s grant gives a new port
        self.wait_for(lambda: self.prop(path, "ExternalPort") != first, 10,
                      "the external port never changed")
        second = self.prop(path, "ExternalPort")
        self.wait_for(lambda: any(s[2] == "PortChanged" for s in self.signals), 5,
                      "no PortChanged signal")
        sig = [s for s in self.signals if s[2] == "PortChanged"][0]
        self.assertEqual(sig[3][0], path)
        self.assertEqual(sig[3][1], first)
        self.assertEqual(sig[3][2], second)
        changed = [s for s in self.signals
                   if s[2] == "PropertiesChanged" and s[0] == path and "ExternalPort" in s[3][1]]
        self.assertTrue(changed, "no PropertiesChanged carried ExternalPort")

    def test_d_silent_gateway_retransmission_schedule(self):
        self.lab.fake.set(grant_lifetime=20)
        self.start_daemon(self.provider_config("RefreshInterval=2s"))
        path = self.add_mapping(internal=7004, scope="runtime")
        self.wait_state(path, "active")
        granted = time.time()
        self.lab.fake.set(silent=True)
        self.lab.fake.clear_log()
        # the renewal starts at 2 s and is retransmitted at 0.25, 0.75, 1.75, 3.75, 7.75 s
        self.wait_for(lambda: len(self.fake_requests(op=2, internal_port=7004)) >= 6, 15,
                      "fewer than six renewal sends")
        sends = [e["t"] for e in self.fake_requests(op=2, internal_port=7004)]
        rel = [t - sends[0] for t in sends[1:6]]
        expected = [0.25, 0.75, 1.75, 3.75, 7.75]
        for got, want in zip(rel, expected):
            self.assertLessEqual(abs(got - want), 0.2 * want,
                                 f"retransmissions at {rel}, RFC schedule {expected}")
        self.assertEqual(self.fake_requests(op=2)[0]["suggested_port"],
                         self.prop(path, "ExternalPort"))
        # no send past the lease's expiry, then retrying
        self.wait_for(lambda: self.prop(path, "State") == "retrying", 25,
                      "not retrying after the lease expired")
        self.assertGreaterEqual(time.time(), granted + 19.5)
        # recovery when the gateway answers again
        self.lab.fake.set(silent=False)
        self.wait_state(path, "active", timeout=70)

    def test_e_bad_bus_input_creates_nothing(self):
        self.start_daemon(self.provider_config())
        cases = [
            (("lab", ["sctp"], 7005, 0, 0, {}), "org.freedesktop.DBus.Error.InvalidArgs"),
            (("lab", [], 7005, 0, 0, {}), "org.freedesktop.DBus.Error.InvalidArgs"),
            (("lab", ["tcp"], 0, 0, 0, {}), "org.freedesktop.DBus.Error.InvalidArgs"),
            (("nope", ["tcp"], 7005, 0, 0, {}), ERROR_PREFIX + "NoSuchProvider"),
            (("lab", ["tcp"], 7005, 0, 0, {"color": GLib.Variant("s", "red")}),
             "org.freedesktop.DBus.Error.InvalidArgs"),
            (("lab", ["tcp"], 7005, 0, 0, {"scope": GLib.Variant("u", 1)}),
             "org.freedesktop.DBus.Error.InvalidArgs"),
            (("lab", ["tcp"], 7005, 0, 0, {"scope": GLib.Variant("s", "forever")}),
             "org.freedesktop.DBus.Error.InvalidArgs"),
        ]
        for args, error in cases:
            name, message = self.call_error("AddMapping",
                                            GLib.Variant("(sasqqua{sv})", args))
            self.assertEqual(name, error, f"{args}: {message}")
            self.assertTrue(message)
        self.assertEqual(self.mapping_paths(), [])
        self.assertEqual(self.fake_requests(op=2), [])
        # a duplicate names the mapping it collides with
        self.add_mapping(internal=7005, scope="runtime", name="first")
        name, message = self.call_error(
            "AddMapping", GLib.Variant("(sasqqua{sv})",
                                       ("lab", ["tcp", "udp"], 7005, 0, 0, {})))
        self.assertEqual(name, ERROR_PREFIX + "AlreadyMapped")
        self.assertIn("first", message)
        self.assertEqual(len(self.mapping_paths()), 1)
        name, _ = self.call_error("RemoveMapping",
                                  GLib.Variant("(o)", ("/org/portmap/Manager/mapping/999",)))
        self.assertEqual(name, ERROR_PREFIX + "NoSuchMapping")

    def client_scope_deleted(self, before_grant):
        if before_grant:
            self.lab.fake.set(silent=True)
        self.start_daemon(self.provider_config())
        owner = Gio.DBusConnection.new_for_address_sync(
            self.bus.address,
            Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT
            | Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION, None, None)
        args = GLib.Variant("(sasqqua{sv})", ("lab", ["tcp"], 7006, 0, 0, {}))
        path = owner.call_sync(BUS_NAME, MANAGER_PATH, MANAGER_IFACE, "AddMapping", args, None,
                               Gio.DBusCallFlags.NONE, 5000, None).unpack()[0]
        self.assertEqual(self.prop(path, "Scope"), "client")
        if before_grant:
            self.wait_for(lambda: self.fake_requests(op=2, internal_port=7006), 5)
            self.assertNotEqual(self.prop(path, "State"), "active")
        else:
            self.wait_state(path, "active")
        owner.close_sync(None)
        self.wait_for(lambda: self.fake_requests(op=2, internal_port=7006, lifetime=0), 10,
                      "no lifetime-0 deletion reached the gateway")
        self.wait_for(lambda: path not in self.mapping_paths(), 5)
        # the signal may be dispatched after the ListMappings reply that no longer has it
        self.wait_for(lambda: any(s[2] == "MappingRemoved" and s[3][0] == path
                                  for s in self.signals), 5, "no MappingRemoved signal")

    def test_f_client_scope_deleted_when_owner_leaves(self):
        self.client_scope_deleted(before_grant=False)

    def test_f_client_scope_deleted_when_owner_leaves_before_grant(self):
        self.client_scope_deleted(before_grant=True)

    def test_g_sigterm_releases_runtime_keeps_persistent(self):
        self.start_daemon(self.provider_config() +
                          "[Mapping keep]\nProvider=lab\nProtocols=tcp\nInternalPort=7007\n")
        runtime = self.add_mapping(internal=7008, scope="runtime")
        persistent = self.add_mapping(internal=7009, scope="persistent", name="saved")
        for path in self.mapping_paths():
            self.wait_state(path, "active")
        self.lab.fake.clear_log()
        code, took = self.stop_daemon()
        self.assertEqual(code, 0)
        self.assertLessEqual(took, 5.0)
        deletes = {e["internal_port"] for e in self.fake_requests(lifetime=0)}
        self.assertEqual(deletes, {7008})
        with open(os.path.join(self.state_dir, "state.json")) as f:
            state = json.load(f)
        self.assertEqual(os.stat(os.path.join(self.state_dir, "state.json")).st_mode & 0o777,
                         0o600)
        self.assertEqual(state["Version"], 1)
        self.assertIn("keep", state["Mappings"])
        self.assertIn("saved", state["Mappings"])
        self.assertNotIn(runtime, json.dumps(state))
        for section in ("Gateways", "PIA", "LANServer", "RouterRules", "Providers"):
            self.assertIn(section, state)
        del persistent

    def test_h_kill9_restart_requests_same_port(self):
        config = (self.provider_config() +
                  "[Mapping keep]\nProvider=lab\nProtocols=tcp,udp\nInternalPort=7010\n")
        self.start_daemon(config)
        path = self.mapping_paths()[0]
        self.wait_state(path, "active")
        external = self.prop(path, "ExternalPort")
        self.assertNotEqual(external, 7010, "the fake's port range should differ from I")
        saved = self.add_mapping(internal=7011, scope="persistent", name="saved")
        self.wait_state(saved, "active")
        saved_port = self.prop(saved, "ExternalPort")
        time.sleep(0.3)  # the state write is coalesced over 100 ms
        self.daemon.send_signal(signal.SIGKILL)
        self.daemon.wait()
        self.daemon = None
        # the gateway forgot everything too: the same ports come back only if asked for
        self.lab.fake.reset_epoch()
        self.lab.fake.clear_log()
        self.wait_for(lambda: not self.name_has_owner(), 5)
        self.start_daemon()
        self.wait_for(lambda: len(self.mapping_paths()) == 2, 5)
        by_name = {m[1]: m[0] for m in self.call("ListMappings")[0]}
        for name, port in (("keep", external), ("saved", saved_port)):
            self.wait_state(by_name[name], "active")
            self.assertEqual(self.prop(by_name[name], "ExternalPort"), port)
        first = self.fake_requests(op=2, internal_port=7010)[0]
        self.assertEqual(first["suggested_port"], external)
        first = self.fake_requests(op=2, internal_port=7011)[0]
        self.assertEqual(first["suggested_port"], saved_port)

    def test_i_invalid_reload_changes_nothing(self):
        good = (self.provider_config() +
                "[Mapping keep]\nProvider=lab\nProtocols=tcp\nInternalPort=7012\n")
        self.start_daemon(good)
        before = self.call("ListMappings")[0]
        self.wait_state(before[0][0], "active")
        before = self.call("ListMappings")[0]
        self.write_config(good + "[Mapping broken]\nProvider=lab\nInternalPort=99999\n")
        name, message = self.call_error("Reload")
        self.assertEqual(name, ERROR_PREFIX + "InvalidConfiguration")
        self.assertIn("portmapd.conf:", message)
        self.assertIn("InternalPort", message)
        after = self.call("ListMappings")[0]
        self.assertEqual([m[:11] for m in before], [m[:11] for m in after])
        # and a valid change applies
        self.write_config(good + "[Mapping more]\nProvider=lab\nProtocols=udp\nInternalPort=7013\n")
        self.call("Reload")
        self.assertEqual(sorted(m[1] for m in self.call("ListMappings")[0]), ["keep", "more"])


if __name__ == "__main__":
    pmlab.reexec_in_private_netns()
    unittest.main(verbosity=2)
