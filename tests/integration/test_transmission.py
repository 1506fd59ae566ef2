#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Type=transmission in the lab: portmapd and the real transmission-daemon (3.00) in lan,
miniupnpd in gw. Transmission's peer-port is read by the test through its own RPC
(tests/lab/peer_transmission.py). Each test method is one meson test (suite "lab")."""

import os
import re
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "lab"))
import pmlab  # noqa: E402
from peer_transmission import TransmissionPeer  # noqa: E402
from test_portmapd import MAPPING_IFACE, PortmapdTestCase  # noqa: E402

USERNAME = "portmap"
PASSWORD = "tr-S3cret pass"
RPC_PORT = 9191
STALE_PORT = 6000
PORT = 51500
OTHER_PORT = 51600


class TransmissionTest(PortmapdTestCase):
    gateway = "miniupnpd"

    def setUp(self):
        # the port change comes from the scripted gateway (FakeGatewayTest's way): with
        # consumers, a mapping's internal port follows its external one (design §3 "Ports")
        if self._testMethodName == "test_b_transmission_port_change_applied":
            self.gateway = "fake"
        super().setUp()
        if self.gateway == "fake":
            # ports outside the internal one asked, so that each grant re-maps I := E
            self.lab.start_fake_gateway(port_min=40000, port_max=40999)
        self.peer = TransmissionPeer(self.lab, self.lab.ns_lan, self.workdir, USERNAME,
                                     PASSWORD, rpc_port=RPC_PORT, peer_port=STALE_PORT)
        self.peer.start()
        self.addCleanup(self.peer.stop)

    def config(self, port=PORT, password=PASSWORD, reconcile=None):
        path = os.path.join(self.workdir, "tr-password")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.write(fd, password.encode() + b"\n")
        os.close(fd)
        daemon = f"[Daemon]\nReconcileInterval={reconcile}\n" if reconcile else ""
        return (daemon + self.provider_config() +
                f"[Consumer tr]\nType=transmission\nURL={self.peer.url}\n"
                f"Username={USERNAME}\nPasswordFile={path}\n"
                f"[Mapping torrent]\nProvider=lab\nProtocols=tcp,udp\nInternalPort={port}\n"
                "Consumers=tr\n")

    def mapping(self):
        return self.wait_for(lambda: next((m[0] for m in self.call("ListMappings")[0]
                                           if m[1] == "torrent"), None), 10, "no mapping")

    def consumer(self, path):
        """(state, last error) of the consumer tr on the mapping"""
        for name, state, error in self.prop(path, "Consumers"):
            if name == "tr":
                return state, error
        self.fail("the mapping lists no consumer tr")

    def wait_consumer(self, path, state, timeout=20):
        return self.wait_for(lambda: self.consumer(path)[0] == state, timeout,
                             f"consumer tr never {state}: {self.consumer(path)}")

    def wait_peer_port(self, port, timeout=20):
        self.wait_for(lambda: self.peer.peer_port() == port, timeout,
                      f"transmission's peer-port is {self.peer.peer_port()}, not {port}")

    def start_ok(self, **config):
        self.start_daemon(self.config(**config))
        path = self.mapping()
        self.wait_state(path, "active")
        self.wait_consumer(path, "ok")
        return path

    def refusals(self):
        """The 401s portmapd got, as its consumer logs them"""
        with open(self.daemon_log) as f:
            return len(re.findall(r"\d: tr: POST \S+: HTTP 401 ", f.read()))

    def reaches_transmission(self, external_port, internal_port):
        """A TCP connection from inet to the gateway's external address and port is
        accepted, and the only listener on the internal port in lan is transmission (which
        binds a new port in its event thread, just after the RPC's reply)."""
        end = time.monotonic() + 5
        while not self.peer.listening(internal_port):
            if time.monotonic() > end:
                return False
            time.sleep(0.1)
        cp = self.lab.run(self.lab.ns_inet, [
            pmlab.PYTHON, "-c",
            "import socket, sys; socket.create_connection((sys.argv[1], int(sys.argv[2])), 5)"
            ".close()", self.lab.GW_WAN_ADDR, str(external_port)], check=False)
        return cp.returncode == 0

    def test_a_transmission_listens_on_mapped_port(self):
        """After the grant, Transmission's peer-port (read through its RPC) is the mapping's
        internal port, random-port and its own port forwarding off, and a TCP connection from
        inet to the external address and port reaches it."""
        self.assertEqual(self.peer.peer_port(), STALE_PORT)
        self.assertFalse(self.reaches_transmission(PORT, PORT))
        path = self.start_ok()
        session = self.peer.session()
        self.assertEqual(session["peer-port"], PORT)
        self.assertFalse(session["peer-port-random-on-start"])
        self.assertFalse(session["port-forwarding-enabled"])
        self.assertEqual(session["rpc-version"], 16)
        self.assertEqual(self.prop(path, "InternalPort"), PORT)
        external = self.prop(path, "ExternalPort")
        # the new listener is bound in its event thread, just after the RPC's reply
        self.wait_for(lambda: f"to port {PORT} on 0.0.0.0" in self.peer.log(), 5,
                      "transmission logged no \"Bound socket N to port ...\"")
        self.assertTrue(self.reaches_transmission(external, PORT),
                        f"no TCP connection from inet to {self.lab.GW_WAN_ADDR}:{external}")
        # Describe() shows the port read back; no secret reaches the bus
        consumer = next(c for c in self.describe()["Consumers"] if c["Name"] == "tr")
        self.assertEqual(consumer["ListenPort"], PORT)
        self.assertEqual(consumer["RPCVersion"], 16)
        self.assertFalse(consumer["Blocked"])
        self.assertNotIn(PASSWORD, self.call("Describe")[0])
        with open(self.daemon_log) as f:
            self.assertNotIn(PASSWORD, f.read())

    def test_b_transmission_port_change_applied(self):
        """The gateway gives another port on renewal: portmapd re-maps the internal port to
        it, and Transmission is moved there."""
        self.lab.fake.set(grant_lifetime=4, change_port_on_renewal=False)
        path = self.start_ok()
        first = self.prop(path, "InternalPort")
        # the grant came from the fake's range: I := E
        self.assertGreaterEqual(first, 40000)
        self.assertEqual(self.prop(path, "ExternalPort"), first)
        self.wait_peer_port(first)
        self.lab.fake.set(change_port_on_renewal=True)
        self.wait_for(lambda: self.prop(path, "InternalPort") != first, 20,
                      "the internal port never changed")
        self.lab.fake.set(change_port_on_renewal=False)
        # settled: the port of the last grant, read back by portmapd and by the test
        self.wait_for(lambda: (self.consumer(path)[0] == "ok" and
                               self.peer.peer_port() == self.prop(path, "InternalPort")
                               == self.prop(path, "ExternalPort")), 20,
                      f"transmission's peer-port {self.peer.peer_port()} is not the mapping's "
                      f"{self.prop(path, 'InternalPort')} ({self.consumer(path)})")
        second = self.peer.peer_port()
        self.assertNotEqual(second, first)
        self.assertTrue(self.reaches_transmission(second, second))
        self.wait_for(lambda: not self.peer.listening(first), 5,
                      f"transmission still listens on {first}")

    def test_c_transmission_stale_port_repaired(self):
        """Transmission restarted with a stale port in settings.json (and so a new session
        id) is set back by the next reconcile."""
        path = self.start_ok(reconcile="3s")
        self.wait_peer_port(PORT)
        self.peer.stop()
        self.peer.set_port_while_stopped(STALE_PORT)
        self.peer.start()
        # it came back on the stale port (the reconcile may have repaired it already)
        this_run = self.peer.log().rsplit(") started (", 1)[-1]
        self.assertIn(f"to port {STALE_PORT} on 0.0.0.0", this_run)
        self.wait_peer_port(PORT, timeout=30)
        self.wait_consumer(path, "ok")
        self.assertTrue(self.reaches_transmission(self.prop(path, "ExternalPort"), PORT))

    def test_d_transmission_wrong_password_one_request(self):
        """A wrong password costs exactly one failed login at Transmission (3.00 locks RPC
        for everyone after 100), however many reconciles follow; the consumer is failed."""
        self.start_daemon(self.config(password="not-" + PASSWORD, reconcile="1s"))
        path = self.mapping()
        self.wait_state(path, "active")
        self.wait_consumer(path, "failed")
        state, error = self.consumer(path)
        self.assertIn("HTTP 401", error)
        self.assertIn("the RPC username or password was refused", error)
        self.assertNotIn(PASSWORD, error)
        # RefreshAll() runs are coalesced (one per 10 s): callers at once share them
        calls = [self.call_async("RefreshAll") for _ in range(20)]
        self.assertEqual(self.wait_replies(calls, 30), [])
        # and several reconcile intervals
        self.pump(3)
        self.assertEqual(self.consumer(path)[0], "failed")
        self.assertTrue(next(c for c in self.describe()["Consumers"]
                             if c["Name"] == "tr")["Blocked"])
        with open(self.daemon_log) as f:
            log = f.read()
        pushes = log.count("tr: blocked by a refused login: nothing sent")
        self.assertGreaterEqual(pushes, 5, "the reconciles did not push")
        # and the failure is warned about once, not at every push
        self.assertEqual(log.count("consumer tr failed"), 1)
        self.assertEqual(self.refusals(), 1)
        # portmapd's one request, then this one's
        self.assertEqual(self.peer.login_attempts(), 2)
        # RPC still works for everyone (which zeroes the count)
        self.assertEqual(self.peer.peer_port(), STALE_PORT)
        # the mapping's Refresh() unblocks: one more attempt, refused again
        self.call("Refresh", path=path, iface=MAPPING_IFACE)
        self.wait_for(lambda: self.refusals() == 2, 10, "Refresh() made no new attempt")
        self.pump(3)
        self.assertEqual(self.refusals(), 2)
        self.assertEqual(self.peer.login_attempts(), 2)
        self.assertEqual(self.consumer(path)[0], "failed")

if __name__ == "__main__":
    pmlab.reexec_in_private_netns()
    unittest.main(verbosity=2)
