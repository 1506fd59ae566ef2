#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Type=deluge in the lab against a real Deluge 2.0.3: deluged and deluge-web in lan
(peer_deluge.py), portmapd there too with a mapping through the lab's miniupnpd whose
Consumers= lists it. What the tests read back goes through deluge-web's JSON-RPC as a user's
client would; traffic from inet proves the port. Each test method is one meson test (suite
"lab")."""

import os
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "lab"))
import pmlab  # noqa: E402
from peer_deluge import DelugePeer, PYTHON, SELF as PEER_HELPER  # noqa: E402
from test_portmapd import PortmapdTestCase  # noqa: E402

PASSWORD = "lab-deluge-pw-9d2e"
# Python Deluge starts slowly, and deluge-web attaches to deluged in a second or two
DELIVERY_TIMEOUT = 30


class DelugeTestCase(PortmapdTestCase):
    """Deluge started before each test; no test of its own."""
    gateway = "miniupnpd"

    def setUp(self):
        super().setUp()
        self.start_gateway()
        self.peer = DelugePeer(self.lab, self.lab.ns_lan, self.workdir, PASSWORD,
                               web_port=8112, daemon_port=58846)
        self.addCleanup(self.peer.stop)
        self.peer.start()

    def tearDown(self):
        super().tearDown()
        if self.has_failed() or os.environ.get("PORTMAP_TEST_VERBOSE"):
            for log in (self.peer.web_log, self.peer.daemon_log + ".out"):
                if os.path.exists(log):
                    with open(log, errors="replace") as f:
                        sys.stderr.write(f"---- {log} ----\n" + f.read()[-5000:])

    def start_gateway(self):
        pass

    def write_password(self, password, name="deluge-password"):
        path = os.path.join(self.workdir, name)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.write(fd, password.encode() + b"\n")
        os.close(fd)
        return path

    def deluge_config(self, internal=51413, password=PASSWORD, reconcile=None,
                      password_name="deluge-password"):
        daemon = f"[Daemon]\nReconcileInterval={reconcile}\n" if reconcile else ""
        return (daemon + self.provider_config() +
                f"[Consumer deluge]\nType=deluge\nURL={self.peer.url}\n"
                f"PasswordFile={self.write_password(password, password_name)}\n"
                f"[Mapping torrent]\nProvider=lab\nProtocols=tcp,udp\n"
                f"InternalPort={internal}\nConsumers=deluge\n")

    def path(self):
        return self.wait_for(lambda: next((m[0] for m in self.call("ListMappings")[0]
                                           if m[1] == "torrent"), None), 10,
                             "no mapping torrent")

    def consumer(self, path):
        """(state, last error) of the consumer deluge on the mapping at @path."""
        for name, state, error in self.prop(path, "Consumers"):
            if name == "deluge":
                return state, error
        self.fail("the mapping lists no consumer deluge")

    def wait_consumer(self, path, state, timeout=DELIVERY_TIMEOUT):
        return self.wait_for(lambda: self.consumer(path)[0] == state, timeout,
                             f"the consumer never became {state}: {self.consumer(path)}")

    def portmapd_requests(self):
        return self.peer.requests_from("portmapd/")

    def reachable_from_inet(self, external_port, timeout=10):
        cp = self.lab.run(self.lab.ns_inet, [PYTHON, "-B", PEER_HELPER, "tcp-probe",
                                             pmlab.Lab.GW_WAN_ADDR, external_port, timeout],
                          timeout=timeout + 5, check=False)
        return cp.returncode == 0

    def tcp_external_port(self, path):
        return dict((p[0], p[2]) for p in self.prop(path, "Ports"))["tcp"]

    def assert_deluge_port(self, port):
        self.wait_for(lambda: self.peer.listen_port() == port, 15,
                      f"deluged does not listen on {port}")
        self.assertEqual(self.peer.config_values(),
                         {"listen_ports": [port, port], "random_port": False})
        self.wait_for(lambda: self.peer.listening(port), 15,
                      f"no listener of deluged on TCP {port}")

    def start_delivered(self, **config):
        self.start_daemon(self.deluge_config(**config))
        path = self.path()
        self.wait_state(path, "active")
        self.wait_consumer(path, "ok")
        return path



class DelugeTest(DelugeTestCase):
    """The lab's miniupnpd: mappings that carry traffic."""

    def test_a_deluge_listens_on_the_mapped_port(self):
        """The mapping's InternalPort becomes deluged's listening port (listen_ports [I, I],
        random_port false), deluge-web attached to deluged by the consumer, and a TCP
        connection from inet to the mapping's external port reaches deluged."""
        # the consumer must attach deluge-web to deluged
        self.assertFalse(self.peer.rpc("web.connected", connect=False))
        path = self.start_delivered()
        self.assertEqual(self.prop(path, "InternalPort"), 51413)
        self.assertTrue(self.peer.rpc("web.connected", connect=False))
        self.assert_deluge_port(51413)
        external = self.tcp_external_port(path)
        self.assertIn(f"{pmlab.Lab.LAN_ADDR}:51413", self.lab.miniupnpd_rules())
        self.assertTrue(self.reachable_from_inet(external),
                        "a TCP connection from inet did not reach deluged")
        consumers = [c for c in self.describe()["Consumers"] if c["Name"] == "deluge"]
        self.assertEqual(consumers[0]["ListenPort"], 51413)
        self.assertEqual(consumers[0]["Blocked"], False)
        self.assertNotIn(PASSWORD, self.call("Describe")[0])
        # all of it with one login
        self.assertTrue(self.portmapd_requests())
        self.assertTrue(all(status == 200 for status, _ in self.portmapd_requests()))

    def test_c_deluge_stale_port_repaired_by_reconcile(self):
        """deluged restarted with another port in core.conf: the next reconcile
        (ReconcileInterval=) logs in again if it must, attaches deluge-web to the new
        deluged, and sets the port back."""
        path = self.start_delivered(reconcile="3s")
        self.assert_deluge_port(51413)
        # deluge-web down too, so that nothing repairs the port before it is seen stale
        self.peer.stop()
        self.peer.set_port_while_stopped(6000)
        self.peer.start_daemon()
        self.wait_for(lambda: self.peer.listening(6000), 15,
                      "deluged did not start on the stale port")
        self.assertFalse(self.peer.listening(51413))
        self.peer.start_web()
        self.wait_for(lambda: self.peer.listening(51413), DELIVERY_TIMEOUT,
                      "the reconcile never set the port back")
        self.assert_deluge_port(51413)
        self.assertFalse(self.peer.listening(6000))
        self.wait_consumer(path, "ok")
        self.assertTrue(self.reachable_from_inet(self.tcp_external_port(path)))

    def test_d_deluge_wrong_password_one_login(self):
        """A password deluge-web refuses: exactly one login (deluge-web's access log: one
        request from portmapd, the first of an operation without a session being
        auth.login, and its false the only way to "refused the password"), the consumer
        failed on the bus saying why, and no further request on reconciles; Refresh()
        tries once more; the right password and a Reload deliver."""
        self.start_daemon(self.deluge_config(password="not-the-password", reconcile="2s"))
        path = self.path()
        self.wait_state(path, "active")
        self.wait_consumer(path, "failed")
        error = self.consumer(path)[1]
        self.assertIn("refused the password", error)
        self.assertIn("PasswordFile=", error)
        self.assertNotIn("not-the-password", error)
        self.assertNotIn("not-the-password", self.call("Describe")[0])
        self.assertEqual([status for status, _ in self.portmapd_requests()], [200])
        time.sleep(7)   # three reconciles
        self.assertEqual(len(self.portmapd_requests()), 1,
                         "requests went on after the refused login")
        self.assertEqual(self.consumer(path)[0], "failed")
        # Refresh(): one more login, refused again
        self.call("Refresh", path=path, iface="org.portmap.Mapping")
        self.wait_for(lambda: len(self.portmapd_requests()) == 2, 10, "Refresh() sent nothing")
        time.sleep(3)
        self.assertEqual(len(self.portmapd_requests()), 2)
        self.wait_consumer(path, "failed")
        # the right password, then Reload(): delivered (in another file: an unchanged
        # [Consumer] keeps its object, and the password it read)
        self.write_config(self.deluge_config(reconcile="2s", password_name="right-password"))
        self.call("Reload")
        path = self.path()
        self.wait_consumer(path, "ok")
        self.assert_deluge_port(51413)



class DelugePortChangeTest(DelugeTestCase):
    """The lab's scripted gateway, for what miniupnpd does not do: a new external port on
    renewal. A mapping with consumers then asks for I = E again (design §3 "Ports"), so
    the application's port moves with it; InternalPort= alone does not move such a
    mapping on a Reload."""
    gateway = "fake"

    def start_gateway(self):
        self.lab.start_fake_gateway(port_min=40000, port_max=40999)

    def test_b_deluge_port_change_applied(self):
        """The external port changes on renewal, the mapping follows with I = E, and
        deluged moves to the new I; inet reaches it there."""
        self.lab.fake.set(grant_lifetime=4, change_port_on_renewal=True)
        path = self.start_delivered(internal=51413)
        first = self.prop(path, "InternalPort")
        self.assert_deluge_port(first)
        # renewal at half of the 4 s grant gives a new port; then no more changes
        self.wait_for(lambda: self.prop(path, "InternalPort") != first, 15,
                      "the internal port never changed")
        self.lab.fake.set(change_port_on_renewal=False)
        self.wait_for(lambda: self.peer.listen_port() == self.prop(path, "InternalPort") and
                      self.consumer(path)[0] == "ok", DELIVERY_TIMEOUT,
                      "deluged never moved to the new port")
        second = self.prop(path, "InternalPort")
        self.assertNotEqual(second, first)
        self.assert_deluge_port(second)
        self.assertFalse(self.peer.listening(first))
        self.assertEqual(self.tcp_external_port(path), second)
        self.assertTrue(self.reachable_from_inet(second),
                        "a TCP connection from inet did not reach deluged on its new port")


if __name__ == "__main__":
    unittest.main()
