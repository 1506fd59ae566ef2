#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Tests of the fake qBittorrent 5.2 Web API (fake-qbittorrent) itself, so that the lab
tests of Type=qbittorrent stand on what qBittorrent 5.2 does: 204 logins and the
QBT_SID_<port> cookie, 401 and the ban after 5 failures, 403 without a session, API keys,
setPreferences' rules, the CSRF check, and its request log.

Loopback only: the fake listens on 127.0.0.1 on an ephemeral port; no namespaces, no root.
"""

import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest
import urllib.parse

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
FAKE = os.path.join(HERE, "fake-qbittorrent")
PYTHON = "/usr/bin/python3"
PASSWORD = "pw 5.2+&"
API_KEY = "qbt_key0123456789"


class FakeQbittorrentTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="fake-qbt-test-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        pw = os.path.join(self.dir, "pw")
        key = os.path.join(self.dir, "key")
        for path, value in ((pw, PASSWORD), (key, API_KEY)):
            with open(path, "w") as f:
                f.write(value + "\n")
        self.log = os.path.join(self.dir, "log")
        self.proc = subprocess.Popen([PYTHON, FAKE, "--port", "0", "--password-file", pw,
                                      "--api-key-file", key, "--listen-port", "6000",
                                      "--upnp", "--log", self.log],
                                     stdout=subprocess.PIPE, text=True)
        self.addCleanup(self.stop)
        line = self.proc.stdout.readline().split()
        self.assertEqual(line[0], "READY")
        self.port = int(line[1])

    def stop(self):
        self.proc.terminate()
        self.proc.wait(5)
        self.proc.stdout.close()

    def request(self, method, path, form=None, headers=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        body = urllib.parse.urlencode(form) if form is not None else None
        hdrs = dict(headers or {})
        if body is not None:
            hdrs["Content-Type"] = "application/x-www-form-urlencoded"
        conn.request(method, path, body, hdrs)
        r = conn.getresponse()
        data = r.read().decode()
        conn.close()
        return r.status, r.getheader("Set-Cookie"), data

    def login(self, password=PASSWORD):
        return self.request("POST", "/api/v2/auth/login",
                            {"username": "admin", "password": password})

    def entries(self):
        with open(self.log) as f:
            return [json.loads(line) for line in f]

    def test_login_cookie_and_preferences(self):
        status, cookie, body = self.login()
        self.assertEqual((status, body), (204, ""))
        name, _, rest = cookie.partition("=")
        self.assertEqual(name, f"QBT_SID_{self.port}")
        self.assertIn("HttpOnly; path=/; SameSite=Strict", rest)
        session = cookie.split(";")[0]
        status, _, body = self.request("GET", "/api/v2/app/preferences",
                                       headers={"Cookie": session})
        self.assertEqual(status, 200)
        prefs = json.loads(body)
        self.assertEqual((prefs["listen_port"], prefs["random_port"], prefs["upnp"],
                          prefs["announce_port"]), (6000, False, True, 0))
        # without a session, or with another one
        self.assertEqual(self.request("GET", "/api/v2/app/preferences")[0], 403)
        self.assertEqual(self.request("GET", "/api/v2/app/preferences",
                                      headers={"Cookie": session + "x"})[0], 403)
        self.assertEqual([(e["path"], e["status"], e["auth"]) for e in self.entries()],
                         [("/api/v2/auth/login", 204, None),
                          ("/api/v2/app/preferences", 200, "cookie"),
                          ("/api/v2/app/preferences", 403, None),
                          ("/api/v2/app/preferences", 403, None)])

    def test_bad_password_then_ban(self):
        for _ in range(5):
            self.assertEqual(self.login("wrong")[0], 401)
        status, cookie, body = self.login()
        self.assertEqual(status, 403)
        self.assertIsNone(cookie)
        self.assertIn("banned after too many failed authentication attempts", body)

    def test_failures_reset_by_a_success(self):
        for _ in range(4):
            self.assertEqual(self.login("wrong")[0], 401)
        self.assertEqual(self.login()[0], 204)
        for _ in range(4):
            self.assertEqual(self.login("wrong")[0], 401)
        self.assertEqual(self.login()[0], 204)

    def test_set_preferences_rules(self):
        key = {"Authorization": f"Bearer {API_KEY}"}

        def prefs():
            return json.loads(self.request("GET", "/api/v2/app/preferences", headers=key)[2])

        def setp(obj):
            text = obj if isinstance(obj, str) else json.dumps(obj)
            return self.request("POST", "/api/v2/app/setPreferences", {"json": text}, key)[0]

        self.assertEqual(setp({"listen_port": 51413, "upnp": False, "announce_port": 40000}),
                         204)
        self.assertEqual((prefs()["listen_port"], prefs()["upnp"], prefs()["announce_port"]),
                         (51413, False, 40000))
        # malformed JSON: accepted, nothing changes
        self.assertEqual(setp('{"listen_port":1'), 204)
        self.assertEqual(prefs()["listen_port"], 51413)
        # random_port true wins
        self.assertEqual(setp({"listen_port": 7000, "random_port": True}), 204)
        self.assertEqual((prefs()["listen_port"], prefs()["random_port"]), (0, True))
        self.assertEqual(self.request("POST", "/api/v2/app/setPreferences", {}, key)[0], 400)
        self.assertEqual(self.request("GET", "/api/v2/app/setPreferences", None, key)[0], 405)
        # the API key: no auth scope, and a wrong key is no session
        self.assertEqual(self.request("POST", "/api/v2/auth/login",
                                      {"username": "admin", "password": PASSWORD}, key)[0], 403)
        self.assertEqual(self.request("GET", "/api/v2/app/preferences",
                                      headers={"Authorization": "Bearer qbt_other"})[0], 403)
        self.assertEqual({e["auth"] for e in self.entries()[:3]}, {"bearer"})

    def test_csrf_check(self):
        host = {"Host": f"127.0.0.1:{self.port}"}
        status = self.request("POST", "/api/v2/auth/login",
                              {"username": "admin", "password": PASSWORD},
                              dict(host, Referer="http://evil.example/"))[0]
        self.assertEqual(status, 401)
        status = self.request("POST", "/api/v2/auth/login",
                              {"username": "admin", "password": PASSWORD},
                              dict(host, Origin=f"http://127.0.0.1:{self.port}"))[0]
        self.assertEqual(status, 204)
        self.assertEqual([e["origin"] for e in self.entries()], [True, True])


if __name__ == "__main__":
    unittest.main()
