#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Authorization, end to end: the shipped D-Bus policy (data/org.portmap.Manager.conf) on a
policy-enforcing private system bus, portmapd's polkit checks against python3-dbusmock's
polkitd template, and the shipped polkit actions (data/org.portmap.policy.in, merged with
its translations into the build directory).

Runs as root: portmapd and the polkitd mock run as root, the unprivileged caller is nobody
(setpriv), on a bus configured like the system bus (style.md §3.3 item 4, §3.4). Each test
method is one meson test (suite "policy")."""

import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lab"))
import pmlab  # noqa: E402
import xml.etree.ElementTree as ET

import dbus
import dbusmock

import gi  # noqa: E402

gi.require_version("Gio", "2.0")
from gi.repository import Gio, GLib  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.path.normpath(os.path.join(HERE, "..", ".."))
BUILDDIR = os.environ.get("PORTMAP_BUILDDIR", os.path.join(SRCDIR, "build"))
PORTMAPD = os.environ.get("PORTMAPD", os.path.join(BUILDDIR, "daemon", "portmapd"))
PORTMAPCTL = os.environ.get("PORTMAPCTL",
                            os.path.join(BUILDDIR, "client", "portmapctl", "portmapctl"))
FAKEGW = os.path.join(SRCDIR, "tests", "lab", "fake-natpmp-gateway")
# the policy as installed: data/org.portmap.policy.in with its translations merged in
POLKIT_POLICY = os.environ.get("PORTMAP_POLKIT_POLICY",
                               os.path.join(BUILDDIR, "data", "org.portmap.policy"))
BUS_POLICY = os.path.join(SRCDIR, "data", "org.portmap.Manager.conf")
SYSTEM_CONF = "/usr/share/dbus-1/system.conf"
POLKITD_TEMPLATE = os.path.join(HERE, "polkitd_portmap.py")
BUS_CLIENT = os.path.join(HERE, "bus_client.py")

BUS_NAME = "org.portmap.Manager"
MANAGER_PATH = "/org/portmap/Manager"
MANAGER_IFACE = "org.portmap.Manager"
MAPPING_IFACE = "org.portmap.Mapping"
ERROR_PREFIX = "org.portmap.Manager.Error."
ACCESS_DENIED = "org.freedesktop.DBus.Error.AccessDenied"
INTERACTIVE_REQUIRED = "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired"
ADD_MAPPING = "org.portmap.add-mapping"
REFRESH = "org.portmap.refresh"
MANAGE = "org.portmap.manage"
NOBODY = 65534
MAX_MAPPINGS_PER_USER = 2
MAX_MATCHES = 24

# a bus configured like the system bus: the default policy of the installed system.conf (no
# method calls but to the bus driver, replies and signals allowed) and our policy file
STRICT_CONF = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:dir={dir}</listen>
  <auth>EXTERNAL</auth>
  <!-- low enough for test_flood_of_pending_checks to reach it (portmapd watches each
       caller it asks polkit about with a match); the system bus has 512 -->
  <limit name="max_match_rules_per_connection">{max_matches}</limit>
  {default_policy}
  <!-- test only: the polkitd mock runs as root, and Debian's PolicyKit1 policy lets only the
       polkitd user own its name -->
  <policy user="root">
    <allow own="org.freedesktop.PolicyKit1"/>
  </policy>
  <policy context="default">
    <allow send_destination="org.freedesktop.PolicyKit1"/>
  </policy>
  <include>{policy}</include>
</busconfig>
"""


def system_default_policy():
    """The <policy context="default"> block of the installed system bus configuration."""
    for policy in ET.parse(SYSTEM_CONF).getroot().findall("policy"):
        if policy.get("context") == "default":
            return ET.tostring(policy, encoding="unicode")
    raise AssertionError(f"{SYSTEM_CONF} has no default policy")


def variant_text(signature, value):
    return GLib.Variant(signature, value).print_(True)


def add_args(port, scope="client", protocols=("tcp",), name=None):
    options = {"scope": GLib.Variant("s", scope)}
    if name is not None:
        options["name"] = GLib.Variant("s", name)
    return variant_text("(sasqqua{sv})", ("", list(protocols), port, 0, 0, options))


class StrictBus(pmlab.PrivateBus):
    """A private dbus-daemon of type system enforcing the system policy, stopped by PID."""

    def __init__(self, workdir):
        super().__init__(workdir,
                         lambda d: STRICT_CONF.format(dir=d,
                                                      default_policy=system_default_policy(),
                                                      policy=BUS_POLICY,
                                                      max_matches=MAX_MATCHES),
                         log=os.path.join(workdir, "dbus-daemon.log"))


class Client:
    """bus_client.py as another user: one connection, driven line by line."""

    def __init__(self, workdir, address, uid):
        script = os.path.join(workdir, "bus_client.py")
        if not os.path.exists(script):
            # a copy the other user can read whatever the checkout's permissions
            shutil.copy(BUS_CLIENT, script)
            os.chmod(script, 0o644)
        env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1"}
        self.proc = subprocess.Popen(["setpriv", f"--reuid={uid}", f"--regid={uid}",
                                      "--clear-groups", "/usr/bin/python3", script, address],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env,
                                     text=True, cwd="/")

    def start(self, **request):
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()

    def finish(self):
        line = self.proc.stdout.readline()
        if not line:
            raise AssertionError("the bus client died")
        return json.loads(line)

    def request(self, **request):
        self.start(**request)
        return self.finish()

    def call_request(self, method, args=None, path=MANAGER_PATH, iface=MANAGER_IFACE,
                     dest=BUS_NAME, interactive=False, op="call"):
        return dict(op=op, dest=dest, path=path, iface=iface, method=method, args=args,
                    interactive=interactive)

    def call(self, method, args=None, **kwargs):
        return self.request(**self.call_request(method, args, **kwargs))

    def close(self):
        if self.proc.poll() is None:
            try:
                self.request(op="exit")
            except (AssertionError, BrokenPipeError):
                pass
            self.proc.stdin.close()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()


class PolicyTest(unittest.TestCase):
    def setUp(self):
        self.ports = set()
        self.workdir = tempfile.mkdtemp(prefix="portmap-policy-")
        os.chmod(self.workdir, 0o755)
        self.addCleanup(shutil.rmtree, self.workdir, True)
        self.bus = StrictBus(self.workdir)
        self.addCleanup(self.bus.stop)
        self.env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=self.bus.address)

        # dbusmock finds the bus in the environment
        saved = os.environ.get("DBUS_SYSTEM_BUS_ADDRESS")
        os.environ["DBUS_SYSTEM_BUS_ADDRESS"] = self.bus.address
        self.addCleanup(self.restore_env, "DBUS_SYSTEM_BUS_ADDRESS", saved)
        self.polkitd_log = open(os.path.join(self.workdir, "polkitd.log"), "w")
        self.addCleanup(self.polkitd_log.close)
        self.polkitd, obj = dbusmock.DBusTestCase.spawn_server_template(
            POLKITD_TEMPLATE, {}, stdout=self.polkitd_log, system_bus=True)
        self.addCleanup(self.stop_process, self.polkitd)
        self.polkit = dbus.Interface(obj, dbusmock.MOCK_IFACE)

        self.fake = subprocess.Popen(["/usr/bin/python3", FAKEGW, "--listen", "127.0.0.1:0",
                                      "--public-address", "11.0.0.2"],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     text=True)
        self.addCleanup(self.stop_process, self.fake)
        self.addCleanup(self.fake.stdout.close)
        line = self.fake.stdout.readline().split()
        self.assertEqual(line[0], "READY", "the fake gateway did not start")
        self.config = os.path.join(self.workdir, "portmapd.conf")
        with open(self.config, "w") as f:
            f.write(f"[Daemon]\nMaxMappingsPerUser={MAX_MAPPINGS_PER_USER}\n"
                    f"[Provider lab]\nType=natpmp\nGateway=127.0.0.1\nPort={line[2]}\n"
                    "[Mapping web]\nProvider=lab\nProtocols=tcp\nInternalPort=8080\n")
        self.log_path = os.path.join(self.workdir, "portmapd.log")
        self.log = open(self.log_path, "w")
        self.addCleanup(self.log.close)
        self.daemon = subprocess.Popen([PORTMAPD, "--config", self.config, "--state-dir",
                                        os.path.join(self.workdir, "state"),
                                        "--log-level", "debug"],
                                       env=self.env, stdout=self.log, stderr=subprocess.STDOUT)
        self.addCleanup(self.stop_process, self.daemon)

        self.conn = Gio.DBusConnection.new_for_address_sync(
            self.bus.address,
            Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT
            | Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION, None, None)
        self.addCleanup(self.conn.close_sync, None)
        self.wait_for(lambda: self.name_has_owner(BUS_NAME), 10)
        self.wait_for(lambda: self.mapping_state("web") == "active", 10)

    def tearDown(self):
        failed = any(e is not None for _, e in getattr(self._outcome, "errors", []))
        if failed or not getattr(self._outcome, "success", True):
            with open(self.log_path) as f:
                sys.stderr.write("---- portmapd log ----\n" + f.read()[-20000:])

    @staticmethod
    def restore_env(key, value):
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value

    stop_process = staticmethod(pmlab.stop_popen)

    def wait_for(self, predicate, timeout, what="condition"):
        end = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > end:
                self.fail(f"timed out waiting for {what}")
            time.sleep(0.02)

    # ---- as root ----

    def call_dbus(self, method, args):
        return self.conn.call_sync("org.freedesktop.DBus", "/org/freedesktop/DBus",
                                   "org.freedesktop.DBus", method, args, None,
                                   Gio.DBusCallFlags.NONE, 2000, None).unpack()[0]

    def name_has_owner(self, name):
        return self.call_dbus("NameHasOwner", GLib.Variant("(s)", (name,)))

    def call(self, method, args=None, path=MANAGER_PATH, iface=MANAGER_IFACE):
        # RefreshAll may wait for its coalesced run (up to 10 s)
        return self.conn.call_sync(BUS_NAME, path, iface, method, args, None,
                                   Gio.DBusCallFlags.NONE, 30000, None).unpack()

    def mappings(self):
        return self.call("ListMappings")[0]

    def mapping_set(self):
        """The mappings that exist (path, name, provider, protocols, scope, internal port):
        what a denied call must not change. State, ports and expiry move by themselves as
        grants arrive, so they are left out."""
        return sorted((m[0], m[1], m[2], tuple(m[4]), m[5], m[6]) for m in self.mappings())

    def mapping(self, name):
        for m in self.mappings():
            if m[1] == name:
                return m
        return None

    def mapping_state(self, name):
        m = self.mapping(name)
        return m[3] if m else None

    def mapping_property(self, path, prop):
        return self.call("Get", GLib.Variant("(ss)", (MAPPING_IFACE, prop)), path,
                         "org.freedesktop.DBus.Properties")[0]

    def root_add(self, port, scope="runtime", name=None):
        args = GLib.Variant.parse(None, add_args(port, scope, name=name), None, None)
        return self.call("AddMapping", args)[0]

    def checks(self):
        """(action, flags, subject name) of each CheckAuthorization the mock received"""
        result = []
        for _, args in self.polkit.GetMethodCalls("CheckAuthorization"):
            subject, action, _details, flags, _cancel = args
            result.append((str(action), int(flags), str(subject[1]["name"])))
        return result

    def daemon_log(self):
        with open(self.log_path) as f:
            return f.read()

    def port(self):
        """A port no socket holds, below the ephemeral range (32768-60999) so that nothing
        takes it by chance: a client mapping of it needs only org.portmap.add-mapping."""
        while True:
            port = random.randrange(20000, 32000)
            if port in self.ports:
                continue
            held = []
            try:
                for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
                    s = socket.socket(socket.AF_INET, kind)
                    held.append(s)
                    s.bind(("0.0.0.0", port))
            except OSError:
                continue
            finally:
                for s in held:
                    s.close()
            self.ports.add(port)
            return port

    def root_listens(self):
        """A port with a TCP listener of root's on it."""
        port = self.port()
        tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.addCleanup(tcp.close)
        tcp.bind(("127.0.0.1", port))
        tcp.listen()
        return port

    # ---- as nobody ----

    def nobody(self):
        client = Client(self.workdir, self.bus.address, NOBODY)
        self.addCleanup(client.close)
        return client

    def assertError(self, answer, name, *fragments):
        self.assertIn("error", answer, f"expected {name}, got {answer}")
        self.assertEqual(answer["error"], name, answer)
        for fragment in fragments:
            self.assertIn(fragment, answer["message"])

    def assertOk(self, answer):
        self.assertIn("ok", answer, answer)
        return answer["ok"]

    def assertDeniedByPortmapd(self, answer, action):
        # portmapd's own refusal names the action and says what to do
        self.assertError(answer, ACCESS_DENIED, "polkit action " + action, "sudo")

    def assertDeniedByBus(self, answer):
        self.assertError(answer, ACCESS_DENIED, "Rejected send message")

    # ---- the D-Bus policy ----

    def test_root_may_own_the_name_nobody_may_not(self):
        self.stop_process(self.daemon)
        self.wait_for(lambda: not self.name_has_owner(BUS_NAME), 5)
        request = variant_text("(su)", (BUS_NAME, 4))  # DBUS_NAME_FLAG_DO_NOT_QUEUE
        client = self.nobody()
        self.assertError(client.call("RequestName", request, dest="org.freedesktop.DBus",
                                     path="/org/freedesktop/DBus", iface="org.freedesktop.DBus"),
                         ACCESS_DENIED, "not allowed to own")
        self.assertFalse(self.name_has_owner(BUS_NAME))
        # 1: DBUS_REQUEST_NAME_REPLY_PRIMARY_OWNER
        self.assertEqual(self.call_dbus("RequestName", GLib.Variant("(su)", (BUS_NAME, 4))), 1)
        self.assertEqual(self.call_dbus("ReleaseName", GLib.Variant("(s)", (BUS_NAME,))), 1)
        # the service user may own it too; the bus skips the rule while the user does not
        # exist (it logs 'Unknown username "portmap"'), so the file is checked as written
        own = {p.get("user"): [a.get("own") for a in p.findall("allow")]
               for p in ET.parse(BUS_POLICY).getroot().findall("policy") if p.get("user")}
        self.assertEqual(own, {"portmap": [BUS_NAME], "root": [BUS_NAME]})

    def test_nobody_may_call_the_allowed_interfaces(self):
        client = self.nobody()
        web = self.mapping("web")[0]
        version = self.assertOk(client.call(
            "Get", variant_text("(ss)", (MANAGER_IFACE, "Version")),
            iface="org.freedesktop.DBus.Properties"))
        self.assertEqual(version, [self.call("Get", GLib.Variant("(ss)", (
            MANAGER_IFACE, "Version")), MANAGER_PATH, "org.freedesktop.DBus.Properties")[0]])
        xml = self.assertOk(client.call("Introspect",
                                        iface="org.freedesktop.DBus.Introspectable"))[0]
        self.assertIn(MANAGER_IFACE, xml)
        self.assertOk(client.call("Ping", iface="org.freedesktop.DBus.Peer"))
        objects = self.assertOk(client.call("GetManagedObjects",
                                            iface="org.freedesktop.DBus.ObjectManager"))[0]
        self.assertEqual(objects[web][MAPPING_IFACE]["Name"], "web")
        listed = self.assertOk(client.call("ListMappings"))[0]
        self.assertEqual([m[1] for m in listed], ["web"])
        self.assertIn('"web"', self.assertOk(client.call("Describe"))[0])
        name = self.assertOk(client.call("Get", variant_text("(ss)", (MAPPING_IFACE, "Name")),
                                         path=web, iface="org.freedesktop.DBus.Properties"))
        self.assertEqual(name, ["web"])
        # reads ask nobody
        self.assertEqual(self.checks(), [])

    def test_other_interfaces_are_denied_by_the_bus(self):
        client = self.nobody()
        self.assertDeniedByBus(client.call("Frobnicate", iface="org.portmap.Private"))
        self.assertDeniedByBus(client.call("GetStats", iface="org.freedesktop.DBus.Debug.Stats"))
        # a call without an interface matches no allow rule either
        self.assertDeniedByBus(client.call("ListMappings", iface=None))
        # nothing else, for root too
        with self.assertRaises(GLib.Error) as cm:
            self.call("Frobnicate", None, MANAGER_PATH, "org.portmap.Private")
        self.assertEqual(Gio.DBusError.get_remote_error(cm.exception), ACCESS_DENIED)
        self.assertIn("Rejected send message", cm.exception.message)
        self.assertEqual(self.daemon.poll(), None)

    # ---- polkit ----

    def test_mutations_are_denied_without_authorization(self):
        root_map = self.root_add(9101, name="rootmap")
        web = self.mapping("web")[0]
        self.wait_for(lambda: self.mapping_state("rootmap") == "active", 10)
        before = self.mapping_set()
        client = self.nobody()
        me = self.assertOk(client.request(op="name"))
        attempts = [
            (ADD_MAPPING, client.call_request("AddMapping", add_args(self.port()))),
            (REFRESH, client.call_request("RefreshAll")),
            (REFRESH, client.call_request("DiscoverEndpoint")),
            (MANAGE, client.call_request("Reload")),
            (MANAGE, client.call_request("AddMapping", add_args(9201, "runtime"))),
            (MANAGE, client.call_request("AddMapping", add_args(9202, "persistent"))),
            (MANAGE, client.call_request("AddMapping", add_args(80))),
            (MANAGE, client.call_request("RemoveMapping", variant_text("(o)", (root_map,)))),
            (MANAGE, client.call_request("Remove", path=root_map, iface=MAPPING_IFACE)),
            (REFRESH, client.call_request("Refresh", path=web, iface=MAPPING_IFACE)),
            (REFRESH, client.call_request("Refresh", path=root_map, iface=MAPPING_IFACE)),
        ]
        for action, request in attempts:
            self.assertDeniedByPortmapd(client.request(**request), action)
            self.assertEqual(before, self.mapping_set(), request)
        # each asked polkit once, about that action, for the caller, without interaction
        self.assertEqual(self.checks(), [(action, 0, me) for action, _ in attempts])
        self.assertEqual(self.daemon.poll(), None)

    def test_validation_comes_before_authorization(self):
        client = self.nobody()
        web = self.mapping("web")[0]
        for args, fragment in ((add_args(0), "internal port 0"),
                               (add_args(9300, "forever"), "unknown scope"),
                               (add_args(9300, protocols=("sctp",)), "unknown protocol"),
                               (add_args(9300, name="no spaces"), "invalid mapping name"),
                               (add_args(9300, name="web"), "exists already")):
            self.assertError(client.call("AddMapping", args),
                             "org.freedesktop.DBus.Error.InvalidArgs", fragment)
        # the same port as the configured mapping, and a provider that does not exist
        self.assertError(client.call("AddMapping", add_args(8080)),
                         ERROR_PREFIX + "AlreadyMapped", "web")
        self.assertError(client.call("AddMapping", variant_text(
            "(sasqqua{sv})", ("nope", ["tcp"], 9300, 0, 0, {}))),
            ERROR_PREFIX + "NoSuchProvider", "nope")
        self.assertError(client.call("Remove", path=web, iface=MAPPING_IFACE),
                         ERROR_PREFIX + "NotSupported", "configuration")
        self.assertError(client.call("RemoveMapping", variant_text(
            "(o)", ("/org/portmap/Manager/mapping/999",))), ERROR_PREFIX + "NoSuchMapping")
        # nobody was asked for a password for requests that cannot succeed
        self.assertEqual(self.checks(), [])

    def test_add_mapping_action_allows_client_mappings(self):
        self.polkit.SetAllowed([ADD_MAPPING])
        client = self.nobody()
        path = self.assertOk(client.call("AddMapping", add_args(self.port(), name="game")))[0]
        self.wait_for(lambda: self.mapping_state("game") == "active", 10)
        self.assertEqual(self.mapping_property(path, "OwnerUID"), NOBODY)
        self.assertEqual(self.mapping_property(path, "Scope"), "client")
        # beyond a client mapping of an unprivileged port: manage
        self.assertDeniedByPortmapd(client.call("AddMapping", add_args(9201, "runtime")),
                                    MANAGE)
        self.assertDeniedByPortmapd(client.call("AddMapping", add_args(1023)), MANAGE)
        # the owner reads, refreshes and removes its mapping without polkit
        self.polkit.ClearCalls()
        self.assertEqual(self.assertOk(client.call(
            "Get", variant_text("(ss)", (MAPPING_IFACE, "OwnerUID")), path=path,
            iface="org.freedesktop.DBus.Properties")), [NOBODY])
        self.assertOk(client.call("Refresh", path=path, iface=MAPPING_IFACE))
        self.assertOk(client.call("Remove", path=path, iface=MAPPING_IFACE))
        self.assertIsNone(self.mapping("game"))
        self.assertEqual(self.checks(), [])
        # a client mapping goes with its caller
        self.assertOk(client.call("AddMapping", add_args(self.port(), name="game2")))
        client.close()
        self.wait_for(lambda: self.mapping("game2") is None, 5, "the client mapping to go")

    def test_manage_action_allows_the_rest(self):
        root_map = self.root_add(9101, name="rootmap")
        self.polkit.SetAllowed([MANAGE])
        client = self.nobody()
        path = self.assertOk(client.call("AddMapping", add_args(9301, "runtime", name="rt")))[0]
        self.assertEqual(self.mapping_property(path, "OwnerUID"), NOBODY)
        self.assertEqual(self.mapping_property(path, "Scope"), "runtime")
        low = self.assertOk(client.call("AddMapping", add_args(80, name="low")))[0]
        self.assertEqual(self.mapping_property(low, "InternalPort"), 80)
        self.assertOk(client.call("RemoveMapping", variant_text("(o)", (root_map,))))
        self.assertIsNone(self.mapping("rootmap"))
        self.assertOk(client.call("Reload"))
        # a runtime mapping outlives its caller
        client.close()
        time.sleep(0.3)
        self.assertIsNotNone(self.mapping("rt"))
        self.assertEqual([c[0] for c in self.checks()], [MANAGE] * 4)

    def test_refresh_action(self):
        self.polkit.SetAllowed([REFRESH])
        client = self.nobody()
        web = self.mapping("web")[0]
        self.assertOk(client.call("Refresh", path=web, iface=MAPPING_IFACE))
        self.assertOk(client.call("RefreshAll"))
        # authorized, then the plain answer of a feature that is not configured
        self.assertError(client.call("DiscoverEndpoint"), ERROR_PREFIX + "NotSupported",
                         "[STUN]")
        self.assertDeniedByPortmapd(client.call("Reload"), MANAGE)
        self.assertEqual([c[0] for c in self.checks()], [REFRESH] * 3 + [MANAGE])

    def test_quota_of_mappings_per_user(self):
        self.polkit.SetAllowed([ADD_MAPPING])
        self.root_add(9500, name="root1")  # root's mappings are not nobody's quota
        client = self.nobody()
        for i in range(MAX_MAPPINGS_PER_USER):
            self.assertOk(client.call("AddMapping", add_args(self.port(), name=f"q{i}")))
        before = self.mapping_set()
        self.assertDeniedByPortmapd(client.call("AddMapping", add_args(self.port())), MANAGE)
        self.assertEqual(before, self.mapping_set())
        # under the quota again once one is removed
        q0 = self.mapping("q0")[0]
        self.assertOk(client.call("Remove", path=q0, iface=MAPPING_IFACE))
        self.assertOk(client.call("AddMapping", add_args(self.port(), name="q2")))
        # going over it is manage
        self.polkit.SetAllowed([ADD_MAPPING, MANAGE])
        self.assertOk(client.call("AddMapping", add_args(self.port(), name="q3")))
        self.assertEqual(sorted(m[1] for m in self.mappings() if m[1].startswith("q")),
                         ["q1", "q2", "q3"])

    def test_port_bound_by_another_uid_needs_manage(self):
        self.polkit.SetAllowed([ADD_MAPPING])
        rooted = self.root_listens()
        client = self.nobody()
        # root listens on TCP there: exposing it is manage
        self.assertDeniedByPortmapd(client.call("AddMapping", add_args(rooted)), MANAGE)
        self.assertDeniedByPortmapd(client.call("AddMapping", add_args(
            rooted, protocols=("tcp", "udp"))), MANAGE)
        # the same port for UDP exposes no socket of root's
        self.assertOk(client.call("AddMapping", add_args(rooted, protocols=("udp",))))
        # the caller's own socket is fine
        own = self.port()
        self.assertOk(client.request(op="bind", proto="tcp", port=own))
        self.assertOk(client.call("AddMapping", add_args(own)))
        # with manage, root's port too
        self.polkit.SetAllowed([ADD_MAPPING, MANAGE])
        path = self.assertOk(client.call("AddMapping", add_args(rooted)))[0]
        self.assertEqual(self.mapping_property(path, "OwnerUID"), NOBODY)
        self.assertEqual([c[0] for c in self.checks()],
                         [MANAGE, MANAGE, ADD_MAPPING, ADD_MAPPING, MANAGE])

    def test_interactive_authorization(self):
        self.polkit.SetChallenged([MANAGE])
        client = self.nobody()
        me = self.assertOk(client.request(op="name"))
        self.assertError(client.call("Reload"), INTERACTIVE_REQUIRED,
                         "polkit action " + MANAGE, "--no-ask-password")
        # allowed interaction: polkit asks (the mock's agent accepts) and the call goes on
        self.assertOk(client.call("Reload", interactive=True))
        self.assertOk(client.call("AddMapping", add_args(9600, "runtime", name="asked"),
                                  interactive=True))
        self.assertIsNotNone(self.mapping("asked"))
        self.assertEqual(self.checks(), [(MANAGE, 0, me), (MANAGE, 1, me), (MANAGE, 1, me)])
        # portmapctl: the message and its hint reach the user
        nobody = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
        cp = subprocess.run(nobody + [PORTMAPCTL, "--no-ask-password", "reload"], env=self.env,
                            capture_output=True, text=True, timeout=30)
        self.assertEqual(cp.returncode, 1)
        self.assertIn("authentication is required", cp.stderr)
        cp = subprocess.run(nobody + [PORTMAPCTL, "reload"], env=self.env,
                            capture_output=True, text=True, timeout=30)
        self.assertEqual(cp.returncode, 0, cp.stderr)

    def test_without_polkitd_only_root_may_change(self):
        self.stop_process(self.polkitd)
        self.wait_for(lambda: not self.name_has_owner("org.freedesktop.PolicyKit1"), 5)
        client = self.nobody()
        before = self.mapping_set()
        for request in (client.call_request("AddMapping", add_args(self.port())),
                        client.call_request("RefreshAll"),
                        client.call_request("Reload")):
            self.assertError(client.request(**request), ACCESS_DENIED, "polkit is not running",
                             "sudo")
        self.assertEqual(before, self.mapping_set())
        self.assertEqual([m[1] for m in self.assertOk(client.call("ListMappings"))[0]],
                         ["web"])
        # root needs no polkit
        path = self.root_add(9701, name="rootonly")
        self.assertEqual(self.mapping_property(path, "OwnerUID"), 0)
        self.call("Reload")
        self.call("RefreshAll")
        self.assertEqual(self.daemon.poll(), None)

    def test_caller_leaving_during_check(self):
        self.polkit.SetAllowed([ADD_MAPPING])
        self.polkit.SimulateHang(True)
        leaver = self.nobody()
        name = self.assertOk(leaver.request(op="name"))
        leaver.request(**leaver.call_request("AddMapping", add_args(self.port(), name="left"),
                                             op="send"))
        self.wait_for(lambda: self.polkit.HaveHangingCalls(), 10, "the check to be pending")
        leaver.close()
        self.wait_for(lambda: not self.name_has_owner(name), 5)
        self.wait_for(lambda: "forgetting its pending check" in self.daemon_log(), 5,
                      "portmapd to forget the check")
        # polkit answers late: the answer goes nowhere
        self.polkit.ReleaseHangingCalls()

        # a caller that stays gets its answer when polkit gives it
        stayer = self.nobody()
        stayer_name = self.assertOk(stayer.request(op="name"))
        stayer.start(**stayer.call_request("AddMapping", add_args(self.port(), name="stayed")))
        self.wait_for(lambda: self.polkit.HaveHangingCalls(), 10, "the second check")
        self.assertIsNone(self.mapping("stayed"))
        self.polkit.ReleaseHangingCalls()
        path = self.assertOk(stayer.finish())[0]
        self.assertEqual(self.mapping_property(path, "OwnerUID"), NOBODY)

        # by now the late answer to the first check has long arrived: it was dropped, the
        # handler did not run again for the caller that left
        self.assertIsNone(self.mapping("left"))
        self.assertNotIn(f"{ADD_MAPPING} for {name}\n", self.daemon_log())
        self.assertIn(f"{ADD_MAPPING} for {stayer_name}\n", self.daemon_log())
        self.assertNotIn("adding mapping left", self.daemon_log())
        self.assertEqual(self.daemon.poll(), None)
        self.assertEqual([c[0] for c in self.checks()], [ADD_MAPPING, ADD_MAPPING])

        # a check still pending when portmapd stops is dropped cleanly (a sanitizer build
        # checks for leaks at this exit)
        waiter = self.nobody()
        waiter.start(**waiter.call_request("Reload"))
        self.wait_for(lambda: self.polkit.HaveHangingCalls(), 10, "the third check")
        self.daemon.terminate()
        self.assertEqual(self.daemon.wait(10), 0)
        self.assertIn("error", waiter.finish())

    def test_flood_of_pending_checks(self):
        # more callers waiting for polkit at once than the bus lets portmapd watch: the
        # excess is refused, portmapd stays on the bus, and every caller gets an answer
        self.polkit.SimulateHang(True)
        client = self.nobody()
        flood = 2 * MAX_MATCHES
        client.start(op="calls", separate=True, requests=[client.call_request(
            "AddMapping", add_args(10000 + i, name=f"flood{i}")) for i in range(flood)])
        self.wait_for(lambda: self.polkit.HaveHangingCalls(), 10, "pending checks")
        self.wait_for(lambda: self.daemon_log().count("cannot watch") >= flood - MAX_MATCHES,
                      10, "the excess to be refused")
        self.polkit.SimulateHang(False)
        self.polkit.ReleaseHangingCalls()
        answers = self.assertOk(client.finish())
        self.assertEqual(len(answers), flood)
        for answer in answers:
            self.assertError(answer, ACCESS_DENIED)
        refused = [a for a in answers if "too many checks are pending" in a["message"]]
        self.assertGreater(len(refused), 0)
        self.assertLess(len(refused), flood)
        self.assertEqual(self.daemon.poll(), None)
        self.assertTrue(self.name_has_owner(BUS_NAME))
        self.assertEqual([m[1] for m in self.mappings()], ["web"])
        # the watches are gone with their checks: a new check works
        self.polkit.SetAllowed([ADD_MAPPING])
        self.assertOk(client.call("AddMapping", add_args(self.port(), name="after")))

        # one caller is one watch however many of its calls wait: a single client cannot
        # use up portmapd's matches (and a refused rule takes no other away)
        self.polkit.SimulateHang(True)
        self.polkit.SetAllowed(dbus.Array([], signature="s"))
        refused_before = self.daemon_log().count("cannot watch")
        client.start(op="calls", requests=[client.call_request("Reload")] * flood)
        self.wait_for(lambda: self.daemon_log().count("asking polkit") >= 1 + 2 * flood, 10,
                      "the checks of one caller")
        self.polkit.SimulateHang(False)
        self.polkit.ReleaseHangingCalls()
        answers = self.assertOk(client.finish())
        self.assertEqual(len(answers), flood)
        for answer in answers:
            self.assertDeniedByPortmapd(answer, MANAGE)
        self.assertEqual(self.daemon_log().count("cannot watch"), refused_before)
        self.assertEqual(self.daemon.poll(), None)

    # ---- callers that leave: portmapd asks the bus for credentials without waiting ----

    def pause_daemon(self):
        """SIGSTOP portmapd and wait until it is stopped: what the bus routes to it meanwhile
        waits in its socket, in order, and is handled after resume_daemon()."""
        self.daemon.send_signal(signal.SIGSTOP)
        self.addCleanup(self.resume_daemon)

        def stopped():
            with open(f"/proc/{self.daemon.pid}/stat") as f:
                return f.read().rsplit(")", 1)[1].split()[0] == "T"
        self.wait_for(stopped, 5, "portmapd to stop")

    def resume_daemon(self):
        if self.daemon.poll() is None:
            self.daemon.send_signal(signal.SIGCONT)

    def collect_signals(self):
        """MappingAdded/MappingRemoved paths, as root's connection receives them (call
        pump_signals() before reading)"""
        seen = {"MappingAdded": [], "MappingRemoved": []}

        def on_signal(conn, sender, path, iface, name, params):
            seen[name].append(params.unpack()[0])

        for name in seen:
            sub = self.conn.signal_subscribe(BUS_NAME, MANAGER_IFACE, name, MANAGER_PATH, None,
                                             Gio.DBusSignalFlags.NONE, on_signal)
            self.addCleanup(self.conn.signal_unsubscribe, sub)
        return seen

    def pump_signals(self):
        # a round trip through portmapd: its earlier signals are in by the reply
        self.call("Describe")
        ctx = GLib.MainContext.default()
        while ctx.iteration(False):
            pass

    def send_and_leave(self, requests):
        """A root connection that sends AddMapping calls (replies wanted, never read) and
        closes at once; its unique name"""
        conn = Gio.DBusConnection.new_for_address_sync(
            self.bus.address,
            Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT
            | Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION, None, None)
        for args in requests:
            msg = Gio.DBusMessage.new_method_call(BUS_NAME, MANAGER_PATH, MANAGER_IFACE,
                                                  "AddMapping")
            msg.set_body(GLib.Variant.parse(None, args, None, None))
            conn.send_message(msg, Gio.DBusSendMessageFlags.NONE)
        name = conn.get_unique_name()
        conn.flush_sync(None)
        conn.close_sync(None)
        return name

    def stop_daemon_checking_leftovers(self):
        """SIGTERM: exit 0 (on a sanitizer build: no leak) holding nothing for anyone"""
        self.daemon.terminate()
        self.assertEqual(self.daemon.wait(10), 0)
        self.assertIn("stopping: dropping 0 calls waiting for an answer and 0 followed bus "
                      "clients", self.daemon_log())

    def test_caller_leaving_before_its_credentials(self):
        """A call whose caller has left before the bus driver tells its credentials does
        nothing: no mapping, no polkit check, no reply, nothing kept."""
        self.polkit.SetAllowed([ADD_MAPPING, MANAGE])
        seen = self.collect_signals()
        nobody = self.nobody()
        nobody_name = self.assertOk(nobody.request(op="name"))
        # portmapd cannot ask anything before every caller has gone
        self.pause_daemon()
        names = [nobody_name]
        expected = 0
        for i in range(8):
            names.append(self.send_and_leave(
                [add_args(self.port(), scope, name=f"left{i}{scope[0]}")
                 for scope in ("client", "runtime", "persistent")]))
            expected += 3
        nobody.request(**nobody.call_request("AddMapping", add_args(self.port(), name="nb"),
                                             op="send"))
        expected += 1
        nobody.close()
        for name in names:
            self.wait_for(lambda: not self.name_has_owner(name), 5, f"{name} to leave")
        self.resume_daemon()

        self.wait_for(lambda: self.daemon_log().count(
            "left the bus before its credentials came") == expected, 10,
            "portmapd to forget every call")
        self.assertEqual([m[1] for m in self.mappings()], ["web"])
        self.pump_signals()
        self.assertEqual(seen["MappingAdded"], [])
        log = self.daemon_log()
        self.assertNotIn("adding mapping", log)
        self.assertNotIn("asking polkit", log)
        self.assertEqual(self.checks(), [])
        # still serving, root and others
        path = self.root_add(self.port(), name="after")
        self.assertEqual(self.mapping_property(path, "OwnerUID"), 0)
        stayer = self.nobody()
        path = self.assertOk(stayer.call("AddMapping", add_args(self.port(), name="stayer")))[0]
        self.assertEqual(self.mapping_property(path, "OwnerUID"), NOBODY)
        stayer.close()
        self.wait_for(lambda: self.mapping("stayer") is None, 5, "the client mapping to go")
        self.stop_daemon_checking_leftovers()

    def test_caller_leaving_before_its_mapping_is_followed(self):
        """A client-scope mapping created for a caller that has already left (polkit said yes
        after it went) is removed: its owner's departure predates the match that follows it,
        and the GetNameOwner after that match says it is gone."""
        self.polkit.SetAllowed([ADD_MAPPING])
        self.polkit.SimulateHang(True)
        seen = self.collect_signals()
        leaver = self.nobody()
        name = self.assertOk(leaver.request(op="name"))
        leaver.request(**leaver.call_request("AddMapping", add_args(self.port(), name="late"),
                                             op="send"))
        self.wait_for(lambda: self.polkit.HaveHangingCalls(), 10, "the check to be pending")
        # polkit's yes reaches portmapd's socket before the news of the departure
        self.pause_daemon()
        self.polkit.ReleaseHangingCalls()
        leaver.close()
        self.wait_for(lambda: not self.name_has_owner(name), 5, "the caller to leave")
        self.resume_daemon()

        self.wait_for(lambda: f"bus client {name} disconnected" in self.daemon_log(), 10,
                      "portmapd to find the owner gone")
        self.assertIn("adding mapping late", self.daemon_log())
        self.assertIn(f"removing mapping late: its owner {name} left the bus",
                      self.daemon_log())
        self.assertIsNone(self.mapping("late"))
        self.pump_signals()
        self.assertEqual(len(seen["MappingAdded"]), 1)
        self.assertEqual(seen["MappingRemoved"], seen["MappingAdded"])
        self.assertEqual(self.daemon.poll(), None)
        self.stop_daemon_checking_leftovers()

    def test_callers_leaving_at_any_moment_leave_nothing(self):
        """Callers that leave right after their calls, at whatever step portmapd is (asking
        the bus, asking polkit, following the owner): no client-scope mapping outlives them,
        and nothing is kept for them."""
        self.polkit.SetAllowed([ADD_MAPPING])
        seen = self.collect_signals()
        names = []
        for i in range(12):
            names.append(self.send_and_leave([add_args(self.port(), name=f"r{i}x{j}")
                                              for j in range(3)]))
            nobody = self.nobody()
            nobody.request(**nobody.call_request("AddMapping", add_args(
                self.port(), name=f"n{i}"), op="send"))
            nobody.close()
            time.sleep(0.001 * i)
        for name in names:
            self.wait_for(lambda: not self.name_has_owner(name), 5, f"{name} to leave")

        def settled():
            self.pump_signals()
            return (len(self.mappings()) == 1
                    and sorted(seen["MappingRemoved"]) == sorted(seen["MappingAdded"]))
        self.wait_for(settled, 10, "every client mapping to go")
        self.assertEqual([m[1] for m in self.mappings()], ["web"])
        self.assertEqual(self.daemon.poll(), None)
        self.stop_daemon_checking_leftovers()

    # ---- the polkit policy file ----

    def test_polkit_actions_are_owned_by_portmap(self):
        root = ET.parse(POLKIT_POLICY).getroot()
        self.assertEqual(root.findtext("vendor"), "portmap")
        actions = {a.get("id"): a for a in root.findall("action")}
        self.assertEqual(sorted(actions), sorted([ADD_MAPPING, REFRESH, MANAGE]))
        expected = {
            ADD_MAPPING: ("auth_admin", "auth_admin", "yes"),
            REFRESH: ("auth_admin", "auth_admin", "yes"),
            MANAGE: ("auth_admin_keep", "auth_admin_keep", "auth_admin_keep"),
        }
        for action_id, action in actions.items():
            owners = [a.text for a in action.findall("annotate")
                      if a.get("key") == "org.freedesktop.policykit.owner"]
            self.assertEqual(owners, ["unix-user:portmap"], action_id)
            defaults = action.find("defaults")
            self.assertEqual(tuple(defaults.findtext(k) for k in
                                   ("allow_any", "allow_inactive", "allow_active")),
                             expected[action_id], action_id)
            self.assertTrue(action.findtext("description").strip(), action_id)
            self.assertTrue(action.findtext("message").strip(), action_id)

    def test_bus_policy_allows_exactly_the_interfaces(self):
        root = ET.parse(BUS_POLICY).getroot()
        defaults = [p for p in root.findall("policy") if p.get("context") == "default"]
        self.assertEqual(len(defaults), 1)
        rules = [(r.tag, dict(r.attrib)) for r in defaults[0]]
        self.assertEqual(rules, [("allow", {"send_destination": BUS_NAME, "send_interface": i})
                                 for i in (MANAGER_IFACE, MAPPING_IFACE,
                                           "org.freedesktop.DBus.ObjectManager",
                                           "org.freedesktop.DBus.Properties",
                                           "org.freedesktop.DBus.Introspectable",
                                           "org.freedesktop.DBus.Peer")])
        self.assertEqual(sorted(p.get("user") or p.get("context") for p in root),
                         ["default", "portmap", "root"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
