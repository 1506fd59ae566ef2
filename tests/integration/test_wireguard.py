#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Black-box tests of the STUN results reported to a control plane and the peer endpoints it
answers applied to WireGuard (issue 15; design §6 [ControlPlane], [WireGuard]):

    lan 192.168.77.2 (portmapd, wireguard-go pwg0-SUF) -- gw (masquerade) --
        inet 11.0.0.1 (the lab's fake control plane), 11.0.0.3 + 11.0.0.4 (coturn)

The proof is `wg show` in lan listing the endpoints the control plane returned. Each test
method is one meson test (suite "lab")."""

import base64
import json
import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "lab"))
import pmlab  # noqa: E402
from test_portmapd import PortmapdTestCase  # noqa: E402

Lab = pmlab.Lab
TOKEN = "cp-token-8d2f"
NODE = "node-1"
CP_PORT = 8480


class WireguardTestCase(PortmapdTestCase):
    gateway = None

    def setUp(self):
        super().setUp()
        self.lab.start_coturn()
        self.cp, self.admin = self.lab.start_fake_control_plane(TOKEN, NODE, port=CP_PORT)
        self.wg = self.lab.start_wireguard_go()
        self.token_file = os.path.join(self.workdir, "cp.token")
        fd = os.open(self.token_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(TOKEN + "\n")

    def config(self, cp_url=None, extra=""):
        return (f"[STUN]\nServers={Lab.STUN_ADDR1}:3478\nLocalPort=40100\nTimeout=2s\n"
                f"RefreshInterval=10min\n\n"
                f"[ControlPlane]\nURL={cp_url or f'http://{Lab.INET_ADDR}:{CP_PORT}'}\n"
                f"NodeID={NODE}\nTokenFile={self.token_file}\n\n"
                f"[WireGuard]\nInterface={self.wg.ifname}\n{extra}")

    def discover(self):
        return tuple(self.call("DiscoverEndpoint", timeout=20000))

    def log_text(self):
        with open(self.daemon_log) as f:
            return f.read()


class WireguardTest(WireguardTestCase):

    def test_wg_a_reported_endpoints_reach_wg_show(self):
        """The report carries the endpoint and NAT type with the bearer; the endpoints the
        control plane answers are applied to the interface's peers (wireguard-go, UAPI);
        an empty endpoint is skipped; an endpoint in place is not rewritten."""
        a = self.wg.add_peer(endpoint="11.0.0.50:51820", allowed_ips="192.168.79.10/32")
        b = self.wg.add_peer(allowed_ips="192.168.79.11/32")
        c = self.wg.add_peer(endpoint="11.0.0.52:51820", allowed_ips="192.168.79.12/32")
        self.admin.set_peers([{"peer_id": a, "endpoint": "11.0.0.60:40000"},
                              {"peer_id": b, "endpoint": "[fd11::60]:40001"},
                              {"peer_id": c, "endpoint": ""}])
        self.start_daemon(self.config())
        self.wait_for(lambda: self.wg.endpoint_of(a) == "11.0.0.60:40000", 10,
                      f"peer a's endpoint is {self.wg.endpoint_of(a)}")
        self.wait_for(lambda: self.wg.endpoint_of(b) == "[fd11::60]:40001", 5,
                      f"peer b's endpoint is {self.wg.endpoint_of(b)}")
        self.assertEqual(self.wg.endpoint_of(c), "11.0.0.52:51820")
        reports = self.admin.reports()
        self.assertTrue(reports)
        first = reports[0]
        self.assertEqual(first["method"], "PUT")
        self.assertEqual(first["path"], f"/v1/nodes/{NODE}/endpoint")
        self.assertTrue(first["bearer"])
        self.assertEqual(first["body"], {"public_endpoint": f"{Lab.GW_WAN_ADDR}:40100",
                                         "nat_type": "full_cone"})
        describe = self.describe()
        self.wait_for(lambda: self.describe()["WireGuard"]["LastApply"] > 0, 5, "no apply")
        wg = self.describe()["WireGuard"]
        self.assertEqual((wg["Interface"], wg["Backend"], wg["Applied"], wg["Failed"]),
                         (self.wg.ifname, "userspace", 2, 0))
        self.assertEqual(describe["ControlPlane"]["LastError"], "")
        # the next discovery: the same answer, nothing rewritten
        self.discover()
        self.wait_for(lambda: len(self.admin.reports()) >= 2, 5, "no second report")
        self.wait_for(lambda: self.describe()["WireGuard"]["Unchanged"] == 2, 5,
                      f"not unchanged: {self.describe()['WireGuard']}")
        self.assertNotIn(TOKEN, self.log_text())
        self.assertNotIn(TOKEN, json.dumps(self.describe()))

    def test_wg_b_unknown_and_bad_peers_are_logged_and_the_rest_applied(self):
        """A key not on the interface is skipped and logged (no peer is created); a key that
        is not a WireGuard key and an endpoint that is not IP:PORT are skipped and logged;
        the good entry is applied."""
        a = self.wg.add_peer(allowed_ips="192.168.79.10/32")
        stranger = base64.b64encode(b"\x07" * 32).decode()     # on no interface
        self.admin.set_peers([{"peer_id": stranger, "endpoint": "11.0.0.61:40000"},
                              {"peer_id": "not-a-key", "endpoint": "11.0.0.62:40000"},
                              {"peer_id": a, "endpoint": "wg.example.net:51820"},
                              {"peer_id": a, "endpoint": "11.0.0.63:40000"}])
        self.start_daemon(self.config())
        self.wait_for(lambda: self.wg.endpoint_of(a) == "11.0.0.63:40000", 10,
                      f"peer a's endpoint is {self.wg.endpoint_of(a)}")
        self.assertEqual(sorted(self.wg.peers()), [a], "a peer was created")
        self.wait_for(lambda: "not-a-key" in self.log_text(), 5, "the bad key was not logged")
        log = self.log_text()
        self.assertIn("wg.example.net:51820", log)
        self.wait_for(lambda: self.describe()["WireGuard"]["Skipped"] >= 1, 5,
                      f"the unknown peer was not skipped: {self.describe()['WireGuard']}")

    def test_wg_c_control_plane_down_warns_and_the_loop_goes_on(self):
        """The control plane answers 500, then drops the connection, then is back: each
        failure is a warning, discovery goes on, and the next report applies."""
        a = self.wg.add_peer(allowed_ips="192.168.79.10/32")
        self.admin.set_peers([{"peer_id": a, "endpoint": "11.0.0.64:40000"}])
        self.admin.fail(status=500)
        self.start_daemon(self.config())
        self.wait_for(lambda: "endpoint report failed" in self.log_text(), 10,
                      "no warning for the failed report")
        self.assertIsNone(self.wg.endpoint_of(a))
        self.assertIn("500", self.describe()["ControlPlane"]["LastError"])
        self.admin.fail(drop=True)
        self.assertEqual(self.discover()[1], "full_cone")
        self.wait_for(lambda: self.log_text().count("endpoint report failed") >= 2, 10,
                      "no warning for the dropped connection")
        self.admin.fail()
        self.discover()
        self.wait_for(lambda: self.wg.endpoint_of(a) == "11.0.0.64:40000", 10,
                      "the report after the outage was not applied")
        self.wait_for(lambda: self.describe()["ControlPlane"]["LastError"] == "", 5,
                      "LastError stayed")


class WireguardUnprivilegedTest(WireguardTestCase):

    def test_wg_d_unprivileged_portmapd_says_the_fix(self):
        """portmapd as the unit runs it (another uid, CAP_NET_ADMIN only) cannot open
        wireguard-go's root-only socket: a clear error naming the drop-in."""
        a = self.wg.add_peer(allowed_ips="192.168.79.10/32")
        self.admin.set_peers([{"peer_id": a, "endpoint": "11.0.0.65:40000"}])
        os.chown(self.token_file, 65534, 65534)
        os.chmod(self.workdir, 0o755)
        self.start_daemon(self.config(), unprivileged=True)
        self.wait_for(lambda: "root-only" in self.log_text(), 15,
                      "no root-only error in the log")
        self.assertIn("portmapd-wireguard-userspace.conf", self.log_text())
        self.assertIsNone(self.wg.endpoint_of(a))
        self.assertIn("root-only", self.describe()["WireGuard"]["LastError"])


if __name__ == "__main__":
    pmlab.reexec_in_private_netns()
    unittest.main(verbosity=2)
