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

class Bus(pmlab.PrivateBus):
    """A private dbus-daemon of type system, stopped by PID."""

    def __init__(self, workdir):
        super().__init__(workdir, lambda d: pmlab.bus_config(
            d, extra='<limit name="max_replies_per_connection">50000</limit>'))


class PortmapdTestCase(unittest.TestCase):
    gateway = "miniupnpd"
    grant_lifetime = None
    # the lab's shape ("single": lan - gw - inet; "double": lan - router - gw - inet) and the
    # namespace portmapd runs in ("lan", or "router" for the LAN gateway of the double NAT)
    topology = "single"
    daemon_ns = "lan"
    lab_options = {}        # more keyword arguments of pmlab.Lab (segment=True)

    def setUp(self):
        self.workdir = tempfile.mkdtemp(prefix="portmapd-test-")
        os.chmod(self.workdir, 0o755)
        self.addCleanup(shutil.rmtree, self.workdir, True)
        self.lab = pmlab.Lab(gateway=self.gateway, grant_lifetime=self.grant_lifetime,
                             topology=self.topology, **self.lab_options)
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
        if self.has_failed() or exit_status != 0 or os.environ.get("PORTMAP_TEST_VERBOSE"):
            self.dump_log()
        if exit_status is None:
            self.fail(f"portmapd did not exit within {STOP_TIMEOUT} s of SIGTERM")
        if exit_status != 0:
            self.fail(f"portmapd exited with {exit_status} on SIGTERM (a leak report on the "
                      f"sanitizer build exits 23)")

    def has_failed(self):
        """Whether this test has failed so far (for tearDown: Python 3.11 records a
        failure in the result as it happens; it has no _outcome.errors)."""
        result = getattr(self._outcome, "result", None)
        if result is None:
            return False
        return any(test is self for test, _ in result.errors + result.failures)

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
        self.daemon = self.lab.spawn(getattr(self.lab, "ns_" + self.daemon_ns), argv,
                                     name="portmapd", env=self.env,
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

    def call_async(self, method, path=MANAGER_PATH, iface=MANAGER_IFACE, args=None,
                   timeout_ms=300000):
        """Send a method call without waiting; returns a dict that gets "elapsed" (seconds
        from the send to the reply's dispatch) and "error" (None or the message) once the
        reply has been dispatched (pump() or wait_for() dispatch it)."""
        pending = {"method": method, "path": path, "start": time.monotonic(), "done": False,
                   "elapsed": None, "error": None, "cancellable": Gio.Cancellable()}

        def on_reply(conn, res, _data):
            pending["elapsed"] = time.monotonic() - pending["start"]
            try:
                conn.call_finish(res)
            except GLib.Error as e:
                pending["error"] = e.message
            pending["done"] = True

        self.conn.call(BUS_NAME, path, iface, method, args, None, Gio.DBusCallFlags.NONE,
                       timeout_ms, pending["cancellable"], on_reply, None)
        self.addCleanup(self._finish_async, pending)
        return pending

    def _finish_async(self, pending):
        """Cleanup: cancel a call still pending and dispatch its callback."""
        if not pending["done"]:
            pending["cancellable"].cancel()
            end = time.monotonic() + 5
            while not pending["done"] and time.monotonic() < end:
                self.pump(0.02)

    def wait_replies(self, calls, within):
        """Dispatch replies until every call in @calls is answered or @within seconds have
        passed since the first was sent; returns the calls still unanswered."""
        end = min(c["start"] for c in calls) + within
        while True:
            self.pump()
            left = [c for c in calls if not c["done"]]
            if not left or time.monotonic() >= end:
                return left
            time.sleep(0.01)

    def describe(self):
        return json.loads(self.call("Describe")[0])

    def provider_gateway(self, name="lab"):
        """The provider's gateway ("ADDR:PORT") as Describe() reports it."""
        for p in self.describe()["Providers"]:
            if p["Name"] == name:
                return p["Gateway"]
        self.fail(f"Describe() lists no provider {name}")

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

    # ---- issue 7: the NAT-PMP client must not let one unanswered request hold up others ----

    def mapping_config(self, name, port, lifetime):
        return (f"[Mapping {name}]\nProvider=lab\nProtocols=tcp\nInternalPort={port}\n"
                f"Lifetime={lifetime}\n\n")

    def test_k_refresh_on_silent_gateway_answers_each_caller(self):
        """README: a Refresh() caller is answered when the run ends or after 5 unanswered
        sends (7.75 s). Each caller, not only the first: two Refresh() calls at once on a
        silent gateway are each answered within 10 s, and both mappings show "renewing"
        (their 3600 s leases are live)."""
        ports = (7021, 7022)
        self.start_daemon(self.provider_config() + self.mapping_config("k1", ports[0], 3600) +
                          self.mapping_config("k2", ports[1], 3600))
        self.wait_for(lambda: len(self.mapping_paths()) == 2, 10, "two mappings")
        paths = self.mapping_paths()
        for path in paths:
            self.wait_state(path, "active")
        # control: with the gateway answering, both calls come back at once and stay active
        calls = [self.call_async("Refresh", path=p, iface=MAPPING_IFACE) for p in paths]
        left = self.wait_replies(calls, 10)
        if left:
            self.fail("Refresh() on an answering gateway was not answered within 10 s")
        for c, path in zip(calls, paths):
            self.assertIsNone(c["error"], c["error"])
            self.assertEqual(self.prop(path, "State"), "active")

        silence = self.lab.silence_natpmp()
        self.assertFalse(self.lab.natpmp_answers(7099), "the gateway still answers NAT-PMP")
        expires = {p: self.prop(p, "ExpiresAt") for p in paths}
        dropped_before = self.lab.natpmp_dropped(silence)
        calls = [self.call_async("Refresh", path=p, iface=MAPPING_IFACE) for p in paths]
        left = self.wait_replies(calls, 10)
        sent = self.lab.natpmp_dropped(silence) - dropped_before
        report = "; ".join(
            f"{c['path']} ({self.prop(c['path'], 'Name')}): "
            + (f"answered after {c['elapsed']:.2f} s" if c["done"] else "not answered")
            + f", State {self.prop(c['path'], 'State')}" for c in calls)
        if left:
            self.fail(f"two Refresh() calls on a silent gateway: not every caller was answered "
                      f"within 10 s: {report} ({sent} requests dropped at the gateway "
                      f"meanwhile)")
        for c in calls:
            self.assertIsNone(c["error"], c["error"])
            self.assertLessEqual(c["elapsed"], 10.0, report)
        now_us = time.time() * 1e6
        for path in paths:
            self.assertEqual(self.prop(path, "State"), "renewing", report)
            # the leases are live: nothing was granted, nothing expired
            self.assertEqual(self.prop(path, "ExpiresAt"), expires[path])
            self.assertGreater(expires[path], now_us)

    def test_l_unanswered_mapping_does_not_block_renewals(self):
        """A mapping whose requests are never answered (A) must not hold up another
        mapping's renewals on the same gateway (B, renewed every 2 s on a 20 s lease): B's
        ExpiresAt moves forward at least 3 times within 15 s, B stays "active" throughout,
        never shows "active" past its ExpiresAt, while A is "retrying"."""
        port_a, port_b, lifetime = 7031, 7032, 20
        drop = self.lab.drop_natpmp(port_a)
        # the rule drops A's requests and nothing else (natpmpc from lan, before portmapd)
        self.assertFalse(self.lab.natpmp_answers(port_a), "A's requests are still answered")
        self.assertTrue(self.lab.natpmp_answers(port_b), "B's requests are dropped too")
        self.start_daemon(self.provider_config("RefreshInterval=2s") +
                          self.mapping_config("b", port_b, lifetime))
        b = self.mapping_paths()[0]
        self.wait_state(b, "active")
        self.assertEqual(self.prop(b, "Lifetime"), lifetime,
                         "miniupnpd did not grant the lifetime asked for")
        # A comes while B holds a lease: its request is in flight from then on
        dropped_before = self.lab.natpmp_dropped(drop)
        a = self.add_mapping(internal=port_a, scope="runtime", name="a")
        self.wait_state(a, "retrying", timeout=10)

        # sample B's State and ExpiresAt together (one ListMappings snapshot)
        samples = []        # (t before the call, B state, B expiry s, A state)
        start = time.time()
        first_expiry = None
        while True:
            t = time.time()
            listing = {m[0]: m for m in self.call("ListMappings")[0]}
            mb, ma = listing[b], listing[a]
            samples.append((t, mb[3], mb[11] / 1e6, ma[3]))
            if first_expiry is None:
                first_expiry = mb[11] / 1e6
            # past the lease B held when A came (and at least 15 s): today it ends there
            if t >= max(start + 15, first_expiry + 3):
                break
            self.assertIsNone(self.daemon.poll(), "portmapd exited")
            time.sleep(0.1)
        advances = [s[0] - start for s, prev in zip(samples[1:], samples) if s[2] > prev[2]]
        early = [x for x in advances if x <= 15]
        stale = [s for s in samples if s[1] == "active" and s[2] < s[0] - 0.1]
        b_states = sorted({s[1] for s in samples})
        a_states = sorted({s[3] for s in samples})
        dropped = self.lab.natpmp_dropped(drop) - dropped_before
        when = f"at {', '.join(f'{x:.1f}' for x in advances)} s" if advances else "never"
        report = (f"B's ExpiresAt moved {len(early)} times in the first 15 s ({when}); B's states "
                  f"{b_states}; A's states {a_states}; {len(samples)} samples over "
                  f"{samples[-1][0] - start:.1f} s; {dropped} requests for A dropped")
        problems = []
        if stale:
            problems.append(f"B showed 'active' up to {max(s[0] - s[2] for s in stale):.1f} s "
                            f"after its ExpiresAt had passed ({len(stale)} samples): its lease "
                            f"ended while it looked alive")
        if len(early) < 3:
            problems.append("B's renewals did not get through")
        if b_states != ["active"]:
            problems.append("B did not stay active")
        if a_states != ["retrying"]:
            problems.append("A was not retrying throughout")
        if dropped == 0:
            problems.append("no request for A reached the gateway")
        if problems:
            self.fail("; ".join(problems) + f". {report}")
        self.assertTrue(self.lab.tcp_reachable(self.prop(b, "ExternalPort"), port_b),
                        "B carries no traffic")

    def test_m_gateway_moves_while_request_in_flight(self):
        """Gateway= unset (the default route's gateway). The default route first points at an
        address that never answers NAT-PMP, so the mapping's request is in flight there; the
        route then moves to miniupnpd, and RefreshAll must answer (within 15 s) and move the
        mapping to the new gateway: active, carrying traffic, Describe() naming the new
        gateway. tearDown checks that portmapd still stops cleanly (exit 0)."""
        old = "192.168.77.3"
        port = 7041
        self.lab.add_address(self.lab.ns_gw, self.lab.if_gw_lan, f"{old}/24")
        drop = self.lab.silence_natpmp(dest=old)
        self.lab.set_default_route(self.lab.ns_lan, old)
        self.assertFalse(self.lab.natpmp_answers(port, gateway=old), f"{old} answers NAT-PMP")
        self.assertTrue(self.lab.natpmp_answers(port), "miniupnpd does not answer")
        dropped_before = self.lab.natpmp_dropped(drop)
        self.start_daemon("[Provider lab]\nType=natpmp\n\n" +
                          self.mapping_config("moving", port, 3600))
        path = self.mapping_paths()[0]
        self.wait_state(path, "retrying", timeout=10)
        self.assertEqual(self.provider_gateway(), f"{old}:5351")
        self.assertGreater(self.lab.natpmp_dropped(drop), dropped_before,
                           f"no request reached {old}")

        self.lab.set_default_route(self.lab.ns_lan, pmlab.Lab.GW_LAN_ADDR)
        call = self.call_async("RefreshAll")
        left = self.wait_replies([call], 15)
        report = (f"State {self.prop(path, 'State')}, LastError {self.prop(path, 'LastError')!r}"
                  f", provider gateway {self.provider_gateway()}")
        if left:
            self.fail(f"RefreshAll after the default route moved to {pmlab.Lab.GW_LAN_ADDR} "
                      f"was not answered within 15 s: {report}")
        self.assertIsNone(call["error"], call["error"])
        self.wait_state(path, "active", timeout=15)
        self.assertEqual(self.provider_gateway(), f"{pmlab.Lab.GW_LAN_ADDR}:5351")
        self.assertIn(f"{pmlab.Lab.LAN_ADDR}:{port}", self.lab.miniupnpd_rules())
        self.assertTrue(self.lab.tcp_reachable(self.prop(path, "ExternalPort"), port),
                        "a TCP connection from inet did not reach lan")


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
