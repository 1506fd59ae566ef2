#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Tests of the fake control plane (fake-control-plane, fakecontrolplane.py) itself, so that
the lab tests of portmapd's reporter stand on a fake that checks what it is sent: a PUT with
the right bearer and body is taken and answered with the peers a test set; no or a wrong
bearer is 401, another node 404, a malformed body 400, another content type 415; every PUT
is recorded without the token; the failure modes (a status, a dropped connection, a delay,
a raw body) work, once or until cleared; the admin endpoints answer on the Unix socket.

Runs as root; re-executes itself under `unshare --net --mount --pid`
(pmlab.reexec_in_private_netns) and serves on the loopback of that private network
namespace: no lab namespaces are needed.

`test_fake_control_plane.py --list-tests` prints the test ids (used by meson).
"""

import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import pmlab  # noqa: E402
from fakecontrolplane import Admin  # noqa: E402

FAKE = os.path.join(HERE, "fake-control-plane")
PYTHON = "/usr/bin/python3"
TOKEN = "lab-s3cret-token"
KEY1 = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE="
KEY2 = "AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI="
REPORT = {"public_endpoint": "203.0.113.5:54321", "nat_type": "full_cone"}
PATH = "/v1/nodes/node-1/endpoint"


class TestFakeControlPlane(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        assert os.environ.get("PMLAB_UNSHARED") == "1", \
            "call pmlab.reexec_in_private_netns() first"
        # a fresh network namespace has its loopback down
        subprocess.run(["ip", "link", "set", "lo", "up"], check=True, timeout=10)

    def start(self, *extra, listen="127.0.0.1:0"):
        self.dir = tempfile.mkdtemp(prefix="fake-cp-test-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.socket = os.path.join(self.dir, "admin.sock")
        args = [PYTHON, FAKE, "--listen", listen, "--admin-socket", self.socket, *extra]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True)
        self.addCleanup(self.stop)
        line = pmlab._read_line(self.proc, 10)
        words = line.split()
        self.assertEqual(words[:1], ["listening"], line)
        host, _, port = words[1].rpartition(":")
        self.host = host.strip("[]")
        self.port = int(port)
        self.assertNotEqual(self.port, 0)
        self.admin = Admin(socket_path=self.socket)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc.stdout.close()
        self.proc.stderr.close()

    def setUp(self):
        self.start("--token", TOKEN, "--node", "node-1", "--node", "node-2")

    def request(self, method, path=PATH, body=None, token=TOKEN, headers=None,
                content_type="application/json", timeout=5):
        """(status, headers, parsed body or text) of one request on a fresh connection."""
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        hdrs = {}
        if token is not None:
            hdrs["Authorization"] = f"Bearer {token}"
        if body is not None:
            if not isinstance(body, (str, bytes)):
                body = json.dumps(body)
            if content_type is not None:
                hdrs["Content-Type"] = content_type
        hdrs.update(headers or {})
        try:
            conn.request(method, path, body, hdrs)
            r = conn.getresponse()
            data = r.read()
            try:
                parsed = json.loads(data)
            except ValueError:
                parsed = data.decode("utf-8", "replace")
            return r.status, dict(r.getheaders()), parsed
        finally:
            conn.close()

    def put(self, body=REPORT, **kw):
        return self.request("PUT", body=body, **kw)

    # --- the API ----------------------------------------------------------------------------
    def test_put_accepted(self):
        status, headers, body = self.put()
        self.assertEqual(status, 200, body)
        self.assertEqual(body, {"peer_endpoints": []})
        self.assertEqual(headers["Content-Type"], "application/json")
        reports = self.admin.reports()
        self.assertEqual(len(reports), 1)
        r = reports[0]
        self.assertEqual((r["n"], r["method"], r["path"], r["node"], r["bearer"], r["status"],
                          r["error"]), (1, "PUT", PATH, "node-1", True, 200, None))
        self.assertEqual(r["body"], REPORT)
        self.assertEqual(r["content_type"], "application/json")
        # the token is nowhere in what was recorded
        self.assertNotIn("authorization", [k.lower() for k in r["headers"]])
        self.assertNotIn(TOKEN, json.dumps(reports))
        # a second node, an IPv6 endpoint, every NAT type
        for nat in ("none", "symmetric", "unknown"):
            status, _, _ = self.request("PUT", "/v1/nodes/node-2/endpoint",
                                        {"public_endpoint": "[2001:db8::1]:51820",
                                         "nat_type": nat})
            self.assertEqual(status, 200)
        self.assertEqual([r["node"] for r in self.admin.reports()],
                         ["node-1", "node-2", "node-2", "node-2"])

    def test_put_refused_without_token(self):
        status, headers, body = self.put(token=None)
        self.assertEqual((status, headers.get("WWW-Authenticate")), (401, "Bearer"))
        status, _, _ = self.put(token="wrong")
        self.assertEqual(status, 401)
        status, _, _ = self.put(token=None, headers={"Authorization": f"Basic {TOKEN}"})
        self.assertEqual(status, 401)
        self.assertEqual([(r["bearer"], r["status"], r["error"]) for r in self.admin.reports()],
                         [(None, 401, "no bearer token"), (False, 401, "wrong token"),
                          (False, 401, "wrong token")])
        self.assertNotIn(TOKEN, json.dumps(self.admin.reports()))

    def test_token_file_and_no_token(self):
        self.stop()
        path = os.path.join(self.dir, "token")
        with open(path, "w") as f:
            f.write("from-a-file\n")
        self.start("--token-file", path, "--node", "node-1")
        self.assertEqual(self.put(token="from-a-file")[0], 200)
        self.assertEqual(self.put()[0], 401)
        # without --token nothing is asked
        self.stop()
        self.start("--node", "node-1")
        self.assertEqual(self.put(token=None)[0], 200)
        self.assertEqual([r["bearer"] for r in self.admin.reports()], [None])

    def test_unknown_node_and_paths(self):
        status, _, body = self.request("PUT", "/v1/nodes/node-3/endpoint", REPORT)
        self.assertEqual((status, body), (404, {"error": "unknown node node-3"}))
        status, headers, _ = self.request("GET", PATH)
        self.assertEqual((status, headers.get("Allow")), (405, "PUT"))
        self.assertEqual(self.request("PUT", "/v1/nodes/node-1", REPORT)[0], 404)
        self.assertEqual(self.request("GET", "/")[0], 404)
        self.assertEqual([(r["node"], r["status"]) for r in self.admin.reports()],
                         [("node-3", 404), ("node-1", 405)])

    def test_peers_returned_as_set(self):
        peers = [{"peer_id": KEY1, "endpoint": "198.51.100.7:51820"},
                 {"peer_id": KEY2, "endpoint": ""}]
        self.admin.set_peers(peers)
        self.assertEqual(self.admin.peers(), peers)
        status, _, body = self.put()
        self.assertEqual((status, body), (200, {"peer_endpoints": peers}))
        # anything, as it is: malformed peers for portmapd's strict reading
        self.admin.set_peers({"not": "a list"})
        self.assertEqual(self.put()[2], {"peer_endpoints": {"not": "a list"}})
        self.admin.set_peers(None)
        self.assertEqual(self.put()[2], {"peer_endpoints": None})
        # over the listener too, and a reset forgets everything
        tcp = Admin(address=(self.host, self.port))
        tcp.set_peers(peers[:1])
        self.assertEqual(self.put()[2], {"peer_endpoints": peers[:1]})
        self.assertEqual(len(tcp.reports()), 4)
        tcp.reset()
        self.assertEqual((self.admin.reports(), self.admin.peers()), ([], []))

    # --- failure modes ----------------------------------------------------------------------
    def test_failure_status_once(self):
        self.admin.fail(status=500, count=1)
        status, _, body = self.put()
        self.assertEqual((status, body), (500, {"error": "failure injected by the lab"}))
        self.assertEqual(self.put()[0], 200)
        self.assertEqual([(r["status"], r["error"]) for r in self.admin.reports()],
                         [(500, "injected"), (200, None)])

    def test_failure_until_cleared(self):
        self.admin.fail(status=503, body="down for maintenance", content_type="text/plain")
        for _ in range(3):
            status, headers, body = self.put()
            self.assertEqual((status, body), (503, "down for maintenance"))
            self.assertEqual(headers["Content-Type"], "text/plain")
        # before the checks: even without a token
        self.assertEqual(self.put(token=None)[0], 503)
        self.admin.fail()
        self.assertEqual(self.put()[0], 200)

    def test_failure_raw_body(self):
        self.admin.fail(status=200, body='{"peer_endpoints": [}', count=1)
        status, _, body = self.put()
        self.assertEqual((status, body), (200, '{"peer_endpoints": [}'))

    def test_failure_drop(self):
        self.admin.fail(drop=True, count=1)
        with self.assertRaises((http.client.RemoteDisconnected, ConnectionResetError)):
            self.put()
        self.assertEqual(self.put()[0], 200)
        self.assertEqual([(r["status"], r["error"]) for r in self.admin.reports()],
                         [(None, "dropped"), (200, None)])

    def test_failure_delay(self):
        self.admin.fail(delay=0.6, count=1)
        t0 = time.monotonic()
        status, _, _ = self.put()
        self.assertEqual(status, 200)
        self.assertGreaterEqual(time.monotonic() - t0, 0.6)
        t0 = time.monotonic()
        self.put()
        self.assertLess(time.monotonic() - t0, 0.5)
        # an unknown failure member is refused
        with self.assertRaises(RuntimeError):
            self.admin.fail(status=500, forever=True)

    # --- what is refused --------------------------------------------------------------------
    def test_malformed_put_bodies(self):
        cases = [
            ("", "empty body"),
            ("not json", "body is not JSON"),
            (b"\xff\xfe", "body is not UTF-8"),
            ("[]", "body is not a JSON object"),
            ({"public_endpoint": "203.0.113.5:54321"}, "missing nat_type"),
            ({"nat_type": "none"}, "missing public_endpoint"),
            ({**REPORT, "node_id": "node-1"}, "unknown members: node_id"),
            ({"public_endpoint": 54321, "nat_type": "none"}, "public_endpoint is not a string"),
            ({"public_endpoint": "203.0.113.5:54321", "nat_type": None},
             "nat_type is not a string"),
            ({"public_endpoint": "203.0.113.5", "nat_type": "none"},
             "public_endpoint '203.0.113.5' is not IP:PORT"),
            ({"public_endpoint": "host.example:1", "nat_type": "none"},
             "public_endpoint 'host.example:1' is not IP:PORT"),
            ({"public_endpoint": "2001:db8::1:51820", "nat_type": "none"},
             "public_endpoint '2001:db8::1:51820' is not IP:PORT"),
            ({"public_endpoint": "203.0.113.5:0", "nat_type": "none"},
             "public_endpoint '203.0.113.5:0' is not IP:PORT"),
            ({"public_endpoint": "203.0.113.5:1", "nat_type": "cone"},
             "nat_type 'cone' is not one of none, full_cone, symmetric, unknown"),
        ]
        for body, why in cases:
            status, _, reply = self.put(body=body)
            self.assertEqual((status, reply), (400, {"error": why}), body)
        status, _, reply = self.put(content_type="text/plain")
        self.assertEqual(status, 415, reply)
        self.assertEqual(self.put(content_type="application/json; charset=utf-8")[0], 200)
        reports = self.admin.reports()
        self.assertEqual([r["status"] for r in reports], [400] * len(cases) + [415, 200])
        self.assertEqual([r["error"] for r in reports[:len(cases)]], [w for _, w in cases])

    def test_ipv6_listen_and_sigterm(self):
        self.stop()
        self.start("--node", "node-1", listen="[::1]:0")
        self.assertEqual(self.host, "::1")
        self.assertEqual(self.put(token=None)[0], 200)
        self.proc.terminate()
        self.assertEqual(self.proc.wait(5), 0)
        self.assertFalse(os.path.exists(self.socket))


if __name__ == "__main__":
    pmlab.run_tests(TestFakeControlPlane)
