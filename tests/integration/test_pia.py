#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Type=pia in the lab: portmapd in lan, the lab's fake PIA (tests/lab/fakepia.py) in gw on
192.168.77.1 with both roles over HTTPS under a test CA: the token API (reached through
TokenURL=/TokenCAFile=) and the gateway on 19999, whose certificate names only the server
(lab-pia-server), never the IP. Each test method is one meson test (suite "lab")."""

import os
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "lab"))
import pmlab  # noqa: E402
from test_portmapd import PortmapdTestCase  # noqa: E402

import gi  # noqa: E402

gi.require_version("Gio", "2.0")
from gi.repository import Gio, GLib  # noqa: E402


class PiaTest(PortmapdTestCase):
    gateway = "miniupnpd"

    def setUp(self):
        super().setUp()
        self.pia = self.lab.start_fake_pia()
        self.port_file = os.path.join(self.workdir, "pia.port")

    def pia_config(self, hostname="lab-pia-server", refresh="2s", gateway=True):
        password = os.path.join(self.workdir, "pia-password")
        fd = os.open(password, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.write(fd, self.pia.password.encode() + b"\n")
        os.close(fd)
        return ("[Provider pia]\nType=pia\n" +
                (f"Gateway={self.pia.address}\n" if gateway else "") +
                f"Hostname={hostname}\nCAFile={self.pia.ca}\n"
                f"Username={self.pia.username}\nPasswordFile={password}\n"
                f"TokenURL={self.pia.token_url}\nTokenCAFile={self.pia.ca}\n"
                f"RefreshInterval={refresh}\n"
                f"[Consumer file]\nType=portfile\nPath={self.port_file}\n"
                "[Mapping pia]\nProvider=pia\nConsumers=file\n")

    def path(self):
        return self.wait_for(lambda: next((m[0] for m in self.call("ListMappings")[0]
                                           if m[1] == "pia"), None), 10, "no mapping pia")

    def file_port(self):
        try:
            with open(self.port_file) as f:
                text = f.read().split()
            return int(text[0]) if text else None
        except (OSError, ValueError):
            return None

    def signatures(self):
        return self.pia.requests("gateway", "/getSignature", 200)

    def binds(self, status=None):
        return self.pia.requests("gateway", "/bindPort", status)

    def issued_ports(self):
        """The ports of the signatures the fake issued, oldest first."""
        return [s["port"] for s in self.pia.state()["signatures"]]

    def start_active(self, **config):
        self.start_daemon(self.pia_config(**config))
        path = self.path()
        self.wait_state(path, "active", timeout=30)
        return path

    def test_s_pia_full_flow_into_port_file(self):
        """token → getSignature → bindPort, the port (I = E, TCP and UDP) in the port file,
        bound again every RefreshInterval=; nothing secret on the bus."""
        path = self.start_active()
        port = self.prop(path, "ExternalPort")
        self.assertEqual(self.issued_ports()[-1], port)
        self.assertEqual(sorted((p[0], p[1], p[2]) for p in self.prop(path, "Ports")),
                         [("tcp", port, port), ("udp", port, port)])
        self.wait_for(lambda: self.file_port() == port, 10, "port file")
        bound = len(self.binds(200))
        self.wait_for(lambda: len(self.binds(200)) >= bound + 2, 10, "no rebinds")
        self.assertEqual(len(self.signatures()), 1)
        describe = self.call("Describe")[0]
        for secret in (self.pia.password, *self.pia.state()["tokens"]):
            self.assertNotIn(secret, describe)

    def test_t_pia_wrong_hostname_sends_nothing(self):
        """A certificate that does not name Hostname=: the handshake is refused, no request
        reaches the gateway, the mapping fails saying why, portmapd stays up."""
        self.start_daemon(self.pia_config(hostname="not-the-server"))
        path = self.path()
        self.wait_for(lambda: self.prop(path, "State") in ("failed", "retrying", "degraded")
                      and self.prop(path, "LastError"), 30, "no failure")
        self.assertIn("not-the-server", self.prop(path, "LastError"))
        conns = self.pia.connections("gateway")
        self.assertTrue(conns, "portmapd never connected to the gateway")
        self.assertTrue(all(c["requests"] == 0 for c in conns), conns)
        self.assertEqual(self.binds(), [])
        self.assertIsNone(self.daemon.poll())

    def test_u_pia_near_expiry_renewed_and_busy_retried(self):
        """A payload with less than 7 days left is replaced by a new signature (a new port);
        a bind answered 409 (port busy) or 401 (bad signature) is retried once with a fresh
        signature."""
        self.pia.next_signature(expires_in=3 * 86400, count=1)
        path = self.start_active()
        self.wait_for(lambda: len(self.signatures()) >= 2, 20, "near expiry not renewed")
        self.wait_for(lambda: self.file_port() == self.issued_ports()[-1], 10, "port file")
        for kind in ("busy", "bad-signature"):
            before = len(self.signatures())
            self.pia.fail_bind(kind, 1)
            self.wait_for(lambda: len(self.signatures()) == before + 1, 20,
                          f"no new signature after {kind}")
            self.wait_for(lambda: self.prop(path, "ExternalPort") == self.issued_ports()[-1]
                          and self.file_port() == self.issued_ports()[-1], 10, kind)
            time.sleep(3)       # more binds, and no more signatures: one retry only
            self.assertEqual(len(self.signatures()), before + 1)

    def test_v_pia_restart_keeps_port_and_resume_rebinds(self):
        """The stored payload survives a restart (same port, no new signature); a resume
        (logind's PrepareForSleep(false)) binds at once."""
        path = self.start_active(refresh="15min")
        port = self.prop(path, "ExternalPort")
        code, _ = self.stop_daemon()
        self.assertEqual(code, 0)
        self.start_daemon()
        path = self.path()
        self.wait_state(path, "active", timeout=30)
        self.assertEqual(self.prop(path, "ExternalPort"), port)
        self.assertEqual(len(self.signatures()), 1)
        # a fake logind on the private bus
        logind = Gio.DBusConnection.new_for_address_sync(
            self.bus.address,
            Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT
            | Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION, None, None)
        self.addCleanup(logind.close_sync, None)
        logind.call_sync("org.freedesktop.DBus", "/org/freedesktop/DBus",
                         "org.freedesktop.DBus", "RequestName",
                         GLib.Variant("(su)", ("org.freedesktop.login1", 0)), None,
                         Gio.DBusCallFlags.NONE, 5000, None)
        bound = len(self.binds(200))
        time.sleep(1)
        self.assertEqual(len(self.binds(200)), bound, "bound without a reason")
        logind.emit_signal(None, "/org/freedesktop/login1", "org.freedesktop.login1.Manager",
                           "PrepareForSleep", GLib.Variant("(b)", (False,)))
        logind.flush_sync(None)
        self.wait_for(lambda: len(self.binds(200)) > bound, 10, "no bind on resume")

    def test_y_pia_gateway_auto_detected(self):
        """Without Gateway=: the default route's gateway (lan's is 192.168.77.1, where the
        fake listens) answers /ping over TLS and is used; with nobody answering, the mapping
        fails naming every candidate tried."""
        self.lab.stop_fake_pia(self.pia)
        self.start_daemon(self.pia_config(gateway=False))
        path = self.path()
        self.wait_for(lambda: self.prop(path, "LastError"), 30, "no error without a gateway")
        error = self.prop(path, "LastError")
        for candidate in ("192.168.77.1", "192.168.128.1", "192.168.0.1"):
            self.assertIn(candidate, error)
        self.assertEqual(self.binds(), [])
        self.lab.restart_fake_pia(self.pia)
        self.call("RefreshAll")
        self.wait_state(path, "active", timeout=30)
        self.assertEqual(self.provider_gateway("pia"), f"{self.pia.address}:19999")
        self.wait_for(lambda: self.file_port() == self.prop(path, "ExternalPort"), 10,
                      "port file")


if __name__ == "__main__":
    unittest.main()
