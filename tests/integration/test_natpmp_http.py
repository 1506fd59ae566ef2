#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Type=natpmp-http in the lab: portmapd and the lab's fake natpmp-http-api both in lan (the
real service maps the host it runs on), the service mapping through the lab's miniupnpd for
real, and traffic from inet proving the mappings. Each test method is one meson test (suite
"lab")."""

import os
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "lab"))
import pmlab  # noqa: E402
from test_portmapd import PortmapdTestCase  # noqa: E402

from gi.repository import GLib  # noqa: E402

TOKEN = "lab-token-4f1c"


class NatpmpHttpTest(PortmapdTestCase):
    gateway = "miniupnpd"

    def start_service(self, token=TOKEN):
        self.api = self.lab.start_natpmp_http_api(token=token)
        return self.api

    def write_token(self, token):
        path = os.path.join(self.workdir, "token")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.write(fd, token.encode() + b"\n")
        os.close(fd)
        return path

    def http_config(self, token=TOKEN, lifetime=4, refresh="2s"):
        return (f"[Provider svc]\nType=natpmp-http\nURL={self.api.url}\n"
                f"TokenFile={self.write_token(token)}\nLifetime={lifetime}\n"
                f"RefreshInterval={refresh}\n"
                "[Mapping app]\nProvider=svc\nProtocols=tcp,udp\nInternalPort=7001\n")

    def app_path(self):
        for m in self.call("ListMappings")[0]:
            if m[1] == "app":
                return m[0]
        self.fail("no mapping app")

    def forwards(self, status=None):
        return self.api.requests("POST", "/forward", status=status)

    def test_n_natpmp_http_keeps_tcp_udp_mappings_alive(self):
        """Both protocols granted through the service, refreshed every RefreshInterval=
        (never by the reply's duration), and reachable from inet."""
        self.start_service()
        self.start_daemon(self.http_config())
        path = self.app_path()
        self.wait_state(path, "active")
        ports = dict((p[0], p[2]) for p in self.prop(path, "Ports"))
        self.assertEqual(sorted(ports), ["tcp", "udp"])
        self.assertEqual(self.prop(path, "ExternalAddress"), "")
        self.assertEqual(self.prop(path, "InternalAddress"), "127.0.0.1")
        for e in self.forwards(status=200):
            self.assertEqual(e["authorized"], True)
        # kept alive: a refresh per protocol every 2 s (the service echoes duration 4)
        granted = len(self.forwards(status=200))
        self.wait_for(lambda: len(self.forwards(status=200)) >= granted + 4, 10,
                      "no refreshes")
        self.assertEqual(self.prop(path, "State"), "active")
        self.assertEqual(dict((p[0], p[2]) for p in self.prop(path, "Ports")), ports)
        self.assertTrue(self.lab.tcp_reachable(ports["tcp"], 7001),
                        "a TCP connection from inet did not reach lan")
        self.assertTrue(self.lab.udp_reachable(ports["udp"], 7001),
                        "a UDP datagram from inet did not reach lan")
        self.assertFalse(self.lab.tcp_reachable(7999, 7999, timeout=2))
        # the token is nowhere on the bus
        self.assertNotIn(TOKEN, self.call("Describe")[0])

    def test_o_natpmp_http_wrong_token_fails_without_retry_storm(self):
        """401: the mapping fails naming the refusal and nothing is asked again until a
        Reload (with the right token) or Refresh()."""
        self.start_service()
        self.start_daemon(self.http_config(token="wrong-token"))
        path = self.app_path()
        self.wait_state(path, "failed")
        error = self.prop(path, "LastError")
        self.assertIn("401", error)
        self.assertIn("TokenFile=", error)
        self.assertNotIn("wrong-token", error)
        seen = len(self.forwards())
        self.assertGreaterEqual(seen, 1)
        self.assertLessEqual(seen, 2)
        time.sleep(5)           # more than two refresh intervals
        self.assertEqual(len(self.forwards()), seen, "requests went on after the 401")
        # Refresh() tries once more, and fails again
        self.call("Refresh", path=path, iface="org.portmap.Mapping")
        self.wait_for(lambda: len(self.forwards()) > seen, 10, "Refresh() sent nothing")
        self.wait_state(path, "failed")
        # the right token, then Reload(): active
        self.write_token(TOKEN)
        self.call("Reload")
        self.wait_state(path, "active")
        self.assertTrue(self.lab.tcp_reachable(
            dict((p[0], p[2]) for p in self.prop(path, "Ports"))["tcp"], 7001))

    def test_p_natpmp_http_service_restart_recovers(self):
        """The service goes away (connection refused) and comes back on the same port: the
        mapping keeps its lease while it can, retries with backoff, and is active again."""
        self.start_service()
        self.start_daemon(self.http_config(lifetime=3, refresh="1s"))
        path = self.app_path()
        self.wait_state(path, "active")
        self.lab.stop_natpmp_http_api(self.api)
        # the lease (3 s) runs out: retrying, saying why
        self.wait_for(lambda: self.prop(path, "State") in ("retrying", "degraded"), 15,
                      "the mapping never noticed the service was gone")
        self.assertNotEqual(self.prop(path, "LastError"), "")
        self.lab.restart_natpmp_http_api(self.api)
        before = len(self.forwards())
        self.wait_state(path, "active", timeout=30)
        ports = dict((p[0], p[2]) for p in self.prop(path, "Ports"))
        self.assertTrue(self.lab.tcp_reachable(ports["tcp"], 7001))
        # backoff, not a storm: a handful of requests since the restart
        self.assertLessEqual(len(self.forwards()) - before, 6)


if __name__ == "__main__":
    unittest.main()
