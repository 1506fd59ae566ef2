#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Lab tests of Type=qbittorrent: the real qbittorrent-nox (4.5.2) and the fake 5.2 Web API
(tests/lab/peer_qbittorrent.py) in the lab's lan namespace next to portmapd, miniupnpd on
the gateway.  Each test method is one meson test (suite "lab")."""

import os
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lab"))
import pmlab  # noqa: E402
from peer_qbittorrent import FakeQbittorrent52, QbittorrentPeer  # noqa: E402
from test_portmapd import PortmapdTestCase  # noqa: E402

from gi.repository import GLib  # noqa: E402

PASSWORD = "lab qbt pässword+&="
API_KEY = "qbt_labAPIkey0123456789abcdefABCDEF"
PORT = 46881

# from inet: connect to the gateway's external address, then wait for the peer to close:
# only an application that accepted the connection closes it (qBittorrent, with no torrent,
# drops a peer without a handshake), a connection left in the kernel's queue stays open
HOLD = """import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
print("connected", flush=True)
s.settimeout(15)
print("closed by peer" if s.recv(1) == b"" else "data", flush=True)
"""


class QbittorrentTest(PortmapdTestCase):
    gateway = "miniupnpd"
    # the port change comes from the scripted fake gateway (miniupnpd keeps a port)
    fake_gateway_tests = ("test_qbt_port_change_applied",)

    def setUp(self):
        if self._testMethodName in self.fake_gateway_tests:
            self.gateway = "fake"
        super().setUp()
        if self.gateway == "fake":
            self.lab.start_fake_gateway(port_min=40000, port_max=40999)

    def secret_file(self, name, value):
        path = os.path.join(self.workdir, name)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.write(fd, value.encode() + b"\n")
        os.close(fd)
        return path

    def start_qbittorrent(self):
        self.qbt = QbittorrentPeer(self.lab, self.lab.ns_lan, self.workdir, PASSWORD,
                                   webui_port=18080, listen_port=16881)
        self.addCleanup(self.qbt.stop)
        self.qbt.start()
        self.assertEqual(self.qbt.listen_port(), 16881)
        return self.qbt

    def qbt_config(self, url, keys=None, internal=PORT, reconcile=None):
        if keys is None:
            keys = f"PasswordFile={self.secret_file('qbt-password', PASSWORD)}\n"
        return ((f"[Daemon]\nReconcileInterval={reconcile}\n" if reconcile else "") +
                self.provider_config() +
                f"[Consumer qbt]\nType=qbittorrent\nURL={url}\n{keys}"
                "[Mapping torrent]\nProvider=lab\nProtocols=tcp udp\n"
                f"InternalPort={internal}\nConsumers=qbt\n")

    def mapping(self):
        return self.wait_for(lambda: next((m[0] for m in self.call("ListMappings")[0]
                                           if m[1] == "torrent"), None), 10,
                             "no mapping torrent")

    def consumer(self, path):
        """(state, last error) of consumer qbt on the mapping, from the bus property."""
        for name, state, error in self.prop(path, "Consumers"):
            if name == "qbt":
                return state, error
        self.fail(f"no consumer qbt on {path}: {self.prop(path, 'Consumers')}")

    def wait_consumer(self, path, state, timeout=20):
        return self.wait_for(lambda: self.consumer(path)[0] == state and self.consumer(path),
                             timeout, f"consumer qbt never {state}: {self.consumer(path)}")

    def described_consumer(self):
        return next(c for c in self.describe()["Consumers"] if c["Name"] == "qbt")

    def start_mapped(self, url, **config):
        self.start_daemon(self.qbt_config(url, **config))
        path = self.mapping()
        self.wait_state(path, "active")
        self.wait_consumer(path, "ok")
        return path

    def assert_reaches_qbittorrent(self, external, internal):
        """A TCP connection from inet to the gateway's external address and @external is
        accepted by qbittorrent-nox, which listens on @internal in lan."""
        listeners = self.lab.run(self.lab.ns_lan, ["ss", "-Htlnp",
                                                   f"( sport = :{internal} )"]).stdout
        self.assertIn(f"{pmlab.Lab.LAN_ADDR}", listeners)
        self.assertIn(f"pid={self.qbt.pid},", listeners)
        cp = self.lab.run(self.lab.ns_inet, [pmlab.PYTHON, "-c", HOLD, pmlab.Lab.GW_WAN_ADDR,
                                             str(external)], timeout=30, check=False)
        self.assertEqual(cp.stdout.split("\n")[:2], ["connected", "closed by peer"],
                         f"{pmlab.Lab.GW_WAN_ADDR}:{external}: {cp.stdout} {cp.stderr}")

    def test_qbt_real_client_listens_on_mapped_port(self):
        """qbittorrent-nox 4.5.2 is given the mapping's internal port (read back through
        its own API), UPnP and the random port off; a connection from the internet side to
        the external port reaches it; no secret on the bus."""
        self.start_qbittorrent()
        path = self.start_mapped(self.qbt.url)
        prefs = self.qbt.preferences()
        self.assertEqual(prefs["listen_port"], self.prop(path, "InternalPort"))
        self.assertEqual(prefs["listen_port"], PORT)
        self.assertFalse(prefs["upnp"])
        self.assertFalse(prefs["random_port"])
        self.assertEqual(self.consumer(path), ("ok", ""))
        self.assert_reaches_qbittorrent(self.prop(path, "ExternalPort"), PORT)
        self.assertNotIn(PASSWORD, self.call("Describe")[0])
        self.assertEqual(self.described_consumer()["Type"], "qbittorrent")
        self.assertFalse(self.described_consumer()["APIKey"])

    def test_qbt_port_change_applied(self):
        """The gateway grants another external port on a renewal (the lab's fake gateway):
        portmapd re-maps the internal port to it, and qBittorrent follows, read back."""
        self.lab.fake.set(grant_lifetime=4, change_port_on_renewal=True)
        self.start_qbittorrent()
        self.start_daemon(self.qbt_config(self.qbt.url))
        path = self.mapping()
        self.wait_state(path, "active")
        first = self.prop(path, "InternalPort")
        self.wait_for(lambda: self.qbt.listen_port() == first, 20, "first port never set")
        # renewal at half of the 4 s grant gives a new port
        self.wait_for(lambda: self.prop(path, "InternalPort") != first, 20,
                      "the port never changed")
        self.wait_for(lambda: self.qbt.listen_port() == self.prop(path, "InternalPort")
                      and self.consumer(path)[0] == "ok", 20,
                      f"qBittorrent never followed: {self.consumer(path)}")
        self.assertNotEqual(self.qbt.listen_port(), first)

    def test_qbt_stale_port_repaired_by_reconcile(self):
        """qBittorrent restarted with another port in its configuration (its old session
        gone): the next reconcile logs in again and puts the mapping's port back."""
        self.start_qbittorrent()
        path = self.start_mapped(self.qbt.url, reconcile="2s")
        self.qbt.restart_with_port(17777)
        self.wait_for(lambda: self.qbt.listen_port() == PORT, 20,
                      "the stale port was never repaired")
        self.wait_consumer(path, "ok")
        self.assertEqual(self.qbt.login_failures(), [])
        with open(self.daemon_log) as f:
            log = f.read()
        # what the reconcile found (the daemon logs at debug level here)
        self.assertIn(f"qbt: has listen_port 17777: setting listening port {PORT}", log)
        self.assertNotIn(PASSWORD, log)

    def test_qbt_wrong_password_one_login(self):
        """A refused password: exactly one login attempt, the consumer failed on the bus,
        no further login on RefreshAll (so no ban), one more on the mapping's Refresh()."""
        self.start_qbittorrent()
        keys = f"PasswordFile={self.secret_file('wrong-password', 'not-the-password')}\n"
        self.start_daemon(self.qbt_config(self.qbt.url, keys=keys, reconcile="1s"))
        path = self.mapping()
        self.wait_state(path, "active")
        state, error = self.wait_consumer(path, "failed")
        self.assertIn("HTTP 200 (Fails.)", error)
        self.assertIn("refused the username or password", error)
        self.assertIn("no further login until Reload()", error)
        # reconcile pushes: every second, and RefreshAll (which answers after the
        # gateway's renewals)
        calls = [self.call_async("RefreshAll") for _ in range(3)]
        self.assertEqual(self.wait_replies(calls, 30), [])
        self.assertTrue(all(c["error"] is None for c in calls), calls)
        self.pump(3)
        self.assertEqual(self.consumer(path)[0], "failed")
        # its own log: one failure (and the peer's own login works: no ban)
        self.assertEqual(len(self.qbt.login_failures()), 1, self.qbt.login_failures())
        self.assertEqual(self.qbt.listen_port(), 16881)
        self.call("Refresh", path=path, iface="org.portmap.Mapping")
        self.wait_for(lambda: len(self.qbt.login_failures()) == 2, 10,
                      "Refresh() did not try once more")
        time.sleep(1)
        self.assertEqual(len(self.qbt.login_failures()), 2)
        self.assertEqual(self.consumer(path)[0], "failed")
        # the user fixes the password file and reloads (the configuration is unchanged)
        self.secret_file("wrong-password", PASSWORD)
        self.call("Reload")
        self.wait_for(lambda: self.qbt.listen_port() == PORT, 20, "never set after Reload")
        self.wait_consumer(path, "ok")
        self.assertEqual(len(self.qbt.login_failures()), 2)

    def start_fake(self, **kw):
        fake = FakeQbittorrent52(self.lab, self.lab.ns_lan, self.workdir, webui_port=18090,
                                 listen_port=6881, upnp=True, **kw)
        self.addCleanup(fake.stop)
        fake.start()
        fake.clear_log()
        return fake

    def test_qbt_52_login_cookie_and_announce_port(self):
        """qBittorrent 5.2 (the fake): 204 login, the QBT_SID_<port> cookie on the calls,
        announce_port = the external port, no Origin or Referer."""
        fake = self.start_fake(password=PASSWORD)
        path = self.start_mapped(fake.url)
        logins = fake.requests(path="/api/v2/auth/login")
        self.assertEqual([e["status"] for e in logins], [204])
        calls = [e for e in fake.requests() if e["path"] != "/api/v2/auth/login"]
        self.assertEqual([(e["method"], e["path"], e["auth"], e["status"]) for e in calls],
                         [("GET", "/api/v2/app/preferences", "cookie", 200),
                          ("POST", "/api/v2/app/setPreferences", "cookie", 204),
                          ("GET", "/api/v2/app/preferences", "cookie", 200)])
        self.assertFalse(any(e["origin"] for e in fake.requests()))
        external = self.prop(path, "ExternalPort")
        self.assertIn(f'"announce_port":{external}', calls[1]["json"])
        prefs = fake.preferences()
        self.assertEqual(prefs["listen_port"], PORT)
        self.assertEqual(prefs["announce_port"], external)
        self.assertFalse(prefs["upnp"])

    def test_qbt_52_api_key_without_login(self):
        """APIKeyCredential=: the bearer key on every call and no login at all; the key
        never on the bus."""
        fake = self.start_fake(password=None, api_key=API_KEY)
        creds = os.path.join(self.workdir, "credentials")
        os.mkdir(creds, 0o700)
        fd = os.open(os.path.join(creds, "qbt-key"), os.O_WRONLY | os.O_CREAT, 0o600)
        os.write(fd, API_KEY.encode() + b"\n")
        os.close(fd)
        self.env["CREDENTIALS_DIRECTORY"] = creds
        path = self.start_mapped(fake.url, keys="APIKeyCredential=qbt-key\n")
        self.assertEqual(fake.requests(path="/api/v2/auth/login"), [])
        self.assertTrue(fake.requests())
        self.assertEqual({e["auth"] for e in fake.requests()}, {"bearer"})
        self.assertEqual(fake.preferences()["listen_port"], PORT)
        self.assertNotIn(API_KEY, self.call("Describe")[0])
        self.assertTrue(self.described_consumer()["APIKey"])


if __name__ == "__main__":
    pmlab.reexec_in_private_netns()
    unittest.main()
