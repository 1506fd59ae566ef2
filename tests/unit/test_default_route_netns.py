#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The default route as portmapd finds it (daemon/default-route.c), in network namespaces of
the test's own: route metrics, a uid rule, wg-quick's rules and routes without a gateway.

Runs as root (meson suite "lab"); re-executes itself under `unshare --net --mount --pid`
(pmlab.reexec_in_private_netns), and each test creates its namespace with `ip netns add` and
removes it in its cleanup. Nothing is sent anywhere: the kernel only answers route queries.
DEFAULT_ROUTE_QUERY is the built tests/unit/default-route-query.
"""

import os
import secrets
import shutil
import subprocess
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lab"))
import pmlab  # noqa: E402

QUERY = os.environ.get("DEFAULT_ROUTE_QUERY",
                       os.path.join(HERE, "..", "..", "build", "tests", "unit",
                                    "default-route-query"))
NOBODY = 65534
TOOLS = ("ip", "setpriv", "unshare")


class DefaultRouteNetnsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        # a missing tool, binary or privilege is a failure, never a skip
        missing = [t for t in TOOLS if not shutil.which(t)]
        assert not missing, f"missing tools: {missing}"
        assert os.geteuid() == 0, "the namespace tests need root"
        assert os.access(QUERY, os.X_OK), f"{QUERY} is not built"
        assert os.environ.get("PMLAB_UNSHARED") == "1", \
            "call pmlab.reexec_in_private_netns() first"

    def setUp(self):
        self.ns = f"pmroute-{secrets.token_hex(4)}"
        self.ip("netns", "add", self.ns)
        self.addCleanup(self.remove_netns)
        self.ip("-n", self.ns, "link", "set", "lo", "up")

    def remove_netns(self):
        subprocess.run(["ip", "netns", "del", self.ns], check=False, timeout=10)
        self.assertFalse(os.path.exists(os.path.join(pmlab.RUN_NETNS, self.ns)))

    def ip(self, *args):
        cp = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=10)
        self.assertEqual(cp.returncode, 0, f"ip {' '.join(args)}: {cp.stderr}")
        return cp.stdout

    def nsip(self, *args):
        return self.ip("-n", self.ns, *args)

    def query(self, uid=None, as_uid=None):
        """(exit status, first line, second line) of default-route-query in the namespace"""
        argv = [QUERY] if uid is None else [QUERY, str(uid)]
        if as_uid is not None:
            argv = ["setpriv", f"--reuid={as_uid}", f"--regid={as_uid}", "--clear-groups",
                    "--"] + argv
        cp = subprocess.run(["ip", "netns", "exec", self.ns] + argv, capture_output=True,
                            text=True, timeout=30)
        self.assertEqual(cp.stderr, "", f"{argv}: stderr")
        lines = cp.stdout.splitlines() + ["", ""]
        return cp.returncode, lines[0], lines[1]

    def assert_gateway(self, gateway, uid=None, as_uid=None, details=None):
        rc, first, second = self.query(uid, as_uid)
        self.assertEqual((rc, first), (0, f"gateway {gateway}"), second)
        if details is not None:
            self.assertTrue(second.startswith(details), second)

    def assert_error(self, message, uid=None):
        rc, first, second = self.query(uid)
        self.assertEqual((rc, first), (1, f"error: {message}"), second)

    def add_veth(self):
        """v0 (10.99.1.2/24, 10.99.2.2/24, 10.99.3.2/24) with its peer v1, both up"""
        self.nsip("link", "add", "v0", "type", "veth", "peer", "name", "v1")
        for net in (1, 2, 3):
            self.nsip("addr", "add", f"10.99.{net}.2/24", "dev", "v0")
        self.nsip("link", "set", "v0", "up")
        self.nsip("link", "set", "v1", "up")

    def add_two_default_routes(self):
        # the higher metric first: the first default route listed is not the one to use
        self.nsip("route", "add", "default", "via", "10.99.1.1", "metric", "100")
        self.nsip("route", "add", "default", "via", "10.99.2.1", "metric", "50")

    def test_no_route(self):
        self.assert_error("there is no IPv4 default route to find the NAT-PMP gateway: set "
                          "Gateway= in the provider's section")

    def test_lowest_metric_wins(self):
        self.add_veth()
        self.add_two_default_routes()
        self.assert_gateway("10.99.2.1", details="dev v0 src 10.99.2.2 table 254")
        self.assert_gateway("10.99.2.1", uid=0)
        # and the other one once the better one is gone: the answer follows the kernel
        self.nsip("route", "del", "default", "via", "10.99.2.1", "metric", "50")
        self.assert_gateway("10.99.1.1", details="dev v0 src 10.99.1.2 table 254")

    def test_uid_rule(self):
        self.add_veth()
        self.add_two_default_routes()
        self.nsip("route", "add", "default", "via", "10.99.3.1", "table", "100")
        self.nsip("rule", "add", "uidrange", f"{NOBODY}-{NOBODY}", "table", "100")
        self.assert_gateway("10.99.3.1", uid=NOBODY,
                            details=f"dev v0 src 10.99.3.2 table 100 uid {NOBODY}")
        self.assert_gateway("10.99.2.1", uid=0, details="dev v0 src 10.99.2.2 table 254 uid 0")
        self.assert_gateway("10.99.2.1", uid=1000)
        # as portmapd runs: its own uid (getuid()), unprivileged; RTM_GETROUTE needs nothing
        self.assert_gateway("10.99.3.1", as_uid=NOBODY,
                            details=f"dev v0 src 10.99.3.2 table 100 uid {NOBODY}")
        self.assert_gateway("10.99.2.1")

    def test_default_route_without_gateway(self):
        self.add_veth()
        self.nsip("route", "add", "default", "dev", "v0")
        self.assert_error("the default route goes through v0 without a gateway (a "
                          "point-to-point VPN): set Gateway= in the provider's section to "
                          "the VPN's NAT-PMP gateway (e.g. 10.2.0.1)")

    def test_wg_quick_rules(self):
        """wg-quick's AllowedIPs = 0.0.0.0/0: the main table keeps its default route with a
        gateway, the tunnel's (without one) is in table 51820 for packets without its mark"""
        self.add_veth()
        self.add_two_default_routes()
        self.nsip("tuntap", "add", "dev", "wg0", "mode", "tun")
        self.nsip("addr", "add", "10.2.0.2/32", "dev", "wg0")
        self.nsip("link", "set", "wg0", "up")
        self.nsip("route", "add", "default", "dev", "wg0", "table", "51820")
        self.nsip("rule", "add", "not", "fwmark", "51820", "table", "51820")
        self.nsip("rule", "add", "table", "main", "suppress_prefixlength", "0")
        self.assert_error("the default route goes through wg0 without a gateway (a "
                          "point-to-point VPN): set Gateway= in the provider's section to "
                          "the VPN's NAT-PMP gateway (e.g. 10.2.0.1)")
        rc, first, second = self.query()
        self.assertTrue(second.startswith("dev wg0 src 10.2.0.2 table 51820"), second)
        # a VPN that gives its gateway (OpenVPN's tun with "route-gateway")
        self.nsip("route", "replace", "default", "via", "10.2.0.1", "dev", "wg0", "onlink",
                  "table", "51820")
        self.assert_gateway("10.2.0.1", details="dev wg0 src 10.2.0.2 table 51820")

    def test_unreachable_default_route(self):
        self.add_veth()
        self.nsip("route", "add", "unreachable", "default")
        self.assert_error("the kernel has no usable IPv4 route toward the internet to find "
                          "the NAT-PMP gateway (No route to host): set Gateway= in the "
                          "provider's section")


if __name__ == "__main__":
    pmlab.reexec_in_private_netns()
    unittest.main(verbosity=2)
