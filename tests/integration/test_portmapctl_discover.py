#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""portmapctl discover, and the STUN line of portmapctl status, on a private system bus:
against the built portmapd without [STUN] (NotSupported), and against a fake
org.portmap.Manager that answers DiscoverEndpoint() and Describe() with canned STUN results
as design §4 specifies them, so that the CLI is checked without STUN servers. Each test
method is one meson test (suite "integration")."""

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "lab"))

import pmlab  # noqa: E402
from test_portmapd import (BUS_NAME, ERROR_PREFIX, MANAGER_IFACE, MANAGER_PATH,  # noqa: E402
                           PORTMAPCTL, PORTMAPD, Bus)

import gi  # noqa: E402

gi.require_version("Gio", "2.0")
from gi.repository import Gio, GLib  # noqa: E402

# untranslated output, whatever the environment running the tests
C_ENV = {"LC_ALL": "C", "LANGUAGE": "", "NO_COLOR": "1"}

# the members of org.portmap.Manager that status and discover use
FAKE_MANAGER_XML = f"""<node><interface name="{MANAGER_IFACE}">
  <method name="DiscoverEndpoint">
    <arg name="endpoint" type="s" direction="out"/><arg name="nat_type" type="s" direction="out"/>
  </method>
  <method name="Describe"><arg name="json" type="s" direction="out"/></method>
  <method name="ListMappings">
    <arg name="mappings" type="a(osssassqqssst)" direction="out"/>
  </method>
  <property name="Version" type="s" access="read"/>
  <property name="State" type="s" access="read"/>
  <property name="Providers" type="a(sssss)" access="read"/>
  <property name="ExternalAddress" type="s" access="read"/>
  <property name="PublicEndpoint" type="s" access="read"/>
  <property name="NATType" type="s" access="read"/>
  <property name="MappingBehavior" type="s" access="read"/>
  <property name="FilteringBehavior" type="s" access="read"/>
  <property name="GatewayMappings" type="u" access="read"/>
</interface></node>"""

STUN = {
    "Servers": [
        {"Server": "11.0.0.3:3478", "Address": "11.0.0.3:3478", "State": "answered",
         "RoundTripMicroseconds": 312, "MappedAddress": "11.0.0.2:40001",
         "OtherAddress": "11.0.0.4:3479", "LastError": ""},
        {"Server": "11.0.0.5:3478", "Address": "11.0.0.5:3478", "State": "silent",
         "RoundTripMicroseconds": 0, "MappedAddress": "", "OtherAddress": "",
         "LastError": ""},
    ],
    "LocalPort": 51820, "BoundPort": 51820, "LocalPortError": "", "Discovering": False,
    "LastDiscovery": 1700000000000000, "LastError": "", "EndpointMicroseconds": 420,
    "DurationMicroseconds": 5001000, "RefreshInterval": 60000000,
}
DESCRIBE = {
    "Version": "0.1.0", "State": "idle", "ExternalAddress": "", "GatewayMappings": 0,
    "PublicEndpoint": "11.0.0.2:40001", "NATType": "full_cone",
    "MappingBehavior": "endpoint-independent",
    "FilteringBehavior": "address-and-port-dependent",
    "Providers": [], "Consumers": [], "Mappings": [], "STUN": STUN,
}


class FakeManager:
    """org.portmap.Manager on @address, answering from @describe (a dict): Describe() with
    its JSON, the properties with its members, DiscoverEndpoint() with its PublicEndpoint
    and NATType, or with the D-Bus error @discover_error ((name, message)) if given."""

    def __init__(self, address, describe, discover_error=None):
        self.describe = describe
        self.discover_error = discover_error
        self.calls = []
        self.conn = Gio.DBusConnection.new_for_address_sync(
            address, Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT
            | Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION, None, None)
        info = Gio.DBusNodeInfo.new_for_xml(FAKE_MANAGER_XML).interfaces[0]
        self.registration = self.conn.register_object(MANAGER_PATH, info, self.on_call,
                                                      self.on_get, None)
        owned = self.conn.call_sync("org.freedesktop.DBus", "/org/freedesktop/DBus",
                                    "org.freedesktop.DBus", "RequestName",
                                    GLib.Variant("(su)", (BUS_NAME, 4)), None,
                                    Gio.DBusCallFlags.NONE, 5000, None).unpack()[0]
        assert owned == 1, f"RequestName({BUS_NAME}) answered {owned}"

    def close(self):
        self.conn.unregister_object(self.registration)
        self.conn.close_sync(None)

    def on_call(self, conn, sender, path, iface, method, params, invocation):
        self.calls.append(method)
        if method == "DiscoverEndpoint":
            if self.discover_error:
                invocation.return_dbus_error(*self.discover_error)
            else:
                invocation.return_value(GLib.Variant("(ss)", (
                    self.describe["PublicEndpoint"], self.describe["NATType"])))
        elif method == "Describe":
            invocation.return_value(GLib.Variant("(s)", (json.dumps(self.describe),)))
        elif method == "ListMappings":
            invocation.return_value(GLib.Variant("(a(osssassqqssst))", ([],)))
        else:
            invocation.return_dbus_error("org.freedesktop.DBus.Error.UnknownMethod", method)

    def on_get(self, conn, sender, path, iface, name):
        signature = {"Providers": "a(sssss)", "GatewayMappings": "u"}.get(name, "s")
        return GLib.Variant(signature, self.describe[name])


class PortmapctlDiscoverTest(unittest.TestCase):
    maxDiff = None

    def setUp(self):
        self.workdir = tempfile.mkdtemp(prefix="portmap-discover-")
        os.chmod(self.workdir, 0o755)
        self.addCleanup(shutil.rmtree, self.workdir, True)
        self.bus = Bus(self.workdir)
        self.addCleanup(self.bus.stop)
        self.env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=self.bus.address, **C_ENV)

    def start_portmapd(self, text="[Daemon]\n"):
        """The built portmapd with a configuration without [STUN] (nor anything else)."""
        config = os.path.join(self.workdir, "portmapd.conf")
        self.config = config
        with open(config, "w") as f:
            f.write(text)
        log = open(os.path.join(self.workdir, "portmapd.log"), "w")
        self.addCleanup(log.close)
        daemon = subprocess.Popen([PORTMAPD, "--config", config, "--state-dir",
                                   os.path.join(self.workdir, "state")],
                                  env=self.env, stdout=log, stderr=subprocess.STDOUT)
        self.addCleanup(pmlab.stop_popen, daemon)
        end = time.monotonic() + 10
        while self.ctl("--json=short", "status").returncode != 0:
            self.assertIsNone(daemon.poll(), "portmapd exited")
            self.assertLess(time.monotonic(), end, "portmapd did not take its name")
            time.sleep(0.05)

    def start_fake(self, describe=DESCRIBE, discover_error=None):
        fake = FakeManager(self.bus.address, describe, discover_error)
        self.addCleanup(fake.close)
        return fake

    def ctl(self, *args):
        """portmapctl, run to its end while this process' main loop serves a fake."""
        proc = subprocess.Popen([PORTMAPCTL, *args], env=self.env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        ctx = GLib.MainContext.default()
        end = time.monotonic() + 60
        while proc.poll() is None:
            while ctx.iteration(False):
                pass
            if time.monotonic() > end:
                proc.kill()
                self.fail(f"portmapctl {' '.join(args)} did not exit")
            time.sleep(0.005)
        stdout, stderr = proc.communicate()
        return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)

    def test_portmapctl_discover_without_stun_is_not_supported(self):
        """No [STUN]: the daemon's NotSupported message as portmapctl prints call failures,
        exit status 1, nothing on standard output, in text and JSON; status unchanged."""
        self.start_portmapd()
        for args in (("discover",), ("--json=short", "discover")):
            cp = self.ctl(*args)
            self.assertEqual(cp.returncode, 1, args)
            self.assertEqual(cp.stdout, "", args)
            self.assertEqual(cp.stderr, "Failed to discover endpoint: STUN is not "
                             "configured: add a [STUN] section and reload portmapd\n", args)
        cp = self.ctl("status")
        self.assertEqual(cp.returncode, 0, cp.stderr)
        self.assertNotIn("Public endpoint", cp.stdout)
        self.assertNotIn("STUN", json.loads(self.ctl("--json=short", "status").stdout))

    def test_portmapctl_discover_stun_disabled_says_so(self):
        """[STUN] Enabled=no: the message says it is disabled and how to enable it, not that
        it is missing. A Reload that enables it starts discovering (a STUN server on
        loopback: the lab's fake-stun); one that disables it again stops, a caller still
        waiting is told why, and the properties go back to no endpoint."""
        self.start_portmapd("[STUN]\nEnabled=no\n")
        cp = self.ctl("discover")
        self.assertEqual((cp.returncode, cp.stdout), (1, ""))
        self.assertEqual(cp.stderr, "Failed to discover endpoint: STUN is disabled: set "
                         "Enabled=yes in [STUN] and reload portmapd\n")
        fake, port = pmlab.start_loopback_fake_stun()
        self.addCleanup(pmlab.stop_popen, fake)
        with open(self.config, "w") as f:
            f.write(f"[STUN]\nEnabled=yes\nServers=127.0.0.1:{port}\nTimeout=1s\n")
        cp = self.ctl("reload")
        self.assertEqual(cp.returncode, 0, cp.stderr)
        cp = self.ctl("discover")
        self.assertEqual(cp.returncode, 0, cp.stderr)
        self.assertRegex(cp.stdout, r"^Public endpoint: 127\.0\.0\.1:\d+\n")
        self.assertEqual(self.prop("NATType"), "none")
        endpoint = self.prop("PublicEndpoint")
        self.assertIn(f"127.0.0.1:{port} answered", cp.stdout)
        # disabled while a caller waits: a server that never answers keeps it waiting
        silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        silent.bind(("127.0.0.1", 0))
        self.addCleanup(silent.close)
        with open(self.config, "w") as f:
            f.write(f"[STUN]\nServers=127.0.0.1:{silent.getsockname()[1]}\nTimeout=30s\n")
        self.assertEqual(self.ctl("reload").returncode, 0)
        waiting = subprocess.Popen([PORTMAPCTL, "discover"], env=self.env, text=True,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.addCleanup(pmlab.stop_popen, waiting)
        pmlab.wait_for(lambda: self.describe()["STUN"]["WaitingCallers"] == 1, 10,
                       message="the call never joined the discovery")
        with open(self.config, "w") as f:
            f.write("[STUN]\nEnabled=no\n")
        self.assertEqual(self.ctl("reload").returncode, 0)
        out, err = waiting.communicate(timeout=10)
        self.assertEqual((waiting.returncode, out), (1, ""))
        self.assertEqual(err, "Failed to discover endpoint: STUN was disabled by a reload\n")
        self.assertEqual((self.prop("PublicEndpoint"), self.prop("NATType")), ("", "unknown"))
        self.assertNotEqual(endpoint, "")
        cp = self.ctl("discover")
        self.assertEqual(cp.stderr, "Failed to discover endpoint: STUN is disabled: set "
                         "Enabled=yes in [STUN] and reload portmapd\n")

    def describe(self):
        cp = self.ctl("--json=short", "status")
        self.assertEqual(cp.returncode, 0, cp.stderr)
        return json.loads(cp.stdout)

    def prop(self, name):
        conn = Gio.DBusConnection.new_for_address_sync(
            self.bus.address, Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT
            | Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION, None, None)
        try:
            return conn.call_sync(BUS_NAME, MANAGER_PATH, "org.freedesktop.DBus.Properties",
                                  "Get", GLib.Variant("(ss)", (MANAGER_IFACE, name)), None,
                                  Gio.DBusCallFlags.NONE, 5000, None).unpack()[0]
        finally:
            conn.close_sync(None)

    def test_portmapctl_discover_text_and_json(self):
        """discover: the reply, then Describe() once for the behaviours and the servers."""
        fake = self.start_fake()
        cp = self.ctl("discover")
        self.assertEqual(cp.returncode, 0, cp.stderr)
        self.assertEqual(cp.stdout,
                         "Public endpoint: 11.0.0.2:40001\n"
                         "       NAT type: full_cone\n"
                         "        Mapping: endpoint-independent\n"
                         "      Filtering: address-and-port-dependent\n"
                         "     Local port: 51820\n"
                         "        Servers: 11.0.0.3:3478 answered in 0.3 ms "
                         "(other address 11.0.0.4:3479)\n"
                         "                 11.0.0.5:3478 silent\n")
        self.assertEqual(fake.calls, ["DiscoverEndpoint", "Describe"])

        expected = {"PublicEndpoint": "11.0.0.2:40001", "NATType": "full_cone",
                    "MappingBehavior": "endpoint-independent",
                    "FilteringBehavior": "address-and-port-dependent", "STUN": STUN}
        cp = self.ctl("--json=short", "discover")
        self.assertEqual(cp.returncode, 0, cp.stderr)
        self.assertEqual(len(cp.stdout.splitlines()), 1)
        self.assertEqual(json.loads(cp.stdout), expected)
        self.assertEqual(list(json.loads(cp.stdout)), list(expected))
        cp = self.ctl("--json=pretty", "discover")
        self.assertEqual(cp.returncode, 0, cp.stderr)
        self.assertGreater(len(cp.stdout.splitlines()), 1)
        self.assertEqual(json.loads(cp.stdout), expected)

    def test_portmapctl_discover_no_server_answered(self):
        """Every server silent: the daemon's message naming them, exit status 1."""
        message = "No STUN server answered: 11.0.0.3:3478 and 11.0.0.5:3478 were silent"
        fake = self.start_fake(discover_error=(ERROR_PREFIX + "GatewayUnreachable", message))
        for args in (("discover",), ("--json=short", "discover")):
            cp = self.ctl(*args)
            self.assertEqual(cp.returncode, 1, args)
            self.assertEqual(cp.stdout, "", args)
            self.assertEqual(cp.stderr, f"Failed to discover endpoint: {message}\n", args)
        # nothing to describe after a failed run
        self.assertNotIn("Describe", fake.calls)

    def test_portmapctl_status_shows_stun_line(self):
        """status with [STUN]: one line with the endpoint and the NAT's behaviour; before
        any answer, "not discovered yet" and why."""
        self.start_fake()
        cp = self.ctl("status")
        self.assertEqual(cp.returncode, 0, cp.stderr)
        self.assertIn("\n Public endpoint: 11.0.0.2:40001 (NAT type full_cone; mapping "
                      "endpoint-independent, filtering address-and-port-dependent)\n",
                      cp.stdout)

    def test_portmapctl_status_stun_not_discovered_yet(self):
        describe = dict(DESCRIBE, PublicEndpoint="", NATType="unknown",
                        MappingBehavior="unknown", FilteringBehavior="unknown",
                        STUN=dict(STUN, LastError="No STUN server answered: 11.0.0.3:3478 "
                                  "and 11.0.0.5:3478 were silent"))
        self.start_fake(describe)
        cp = self.ctl("status")
        self.assertEqual(cp.returncode, 0, cp.stderr)
        self.assertIn("\n Public endpoint: not discovered yet\n"
                      "                    last error: No STUN server answered: "
                      "11.0.0.3:3478 and 11.0.0.5:3478 were silent\n", cp.stdout)


if __name__ == "__main__":
    unittest.main()
