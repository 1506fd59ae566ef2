#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""System integration (design §7): the systemd unit (verify, security exposure, man pages),
the D-Bus activation file, the NetworkManager dispatcher script (alone and against the built
daemon on a private bus) and the sd_notify protocol of the built portmapd. Usage:
test_system.py UNIT_FILE Class.test_method (one meson test per method)."""

import configparser
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lab"))
import pmlab  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.path.normpath(os.path.join(HERE, "..", ".."))
DATADIR = os.path.join(SRCDIR, "data")
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

from test_portmapd import (BUS_NAME, MANAGER_IFACE, MANAGER_PATH, PORTMAPCTL,  # noqa: E402
                           PORTMAPD, Bus)

import gi  # noqa: E402

gi.require_version("Gio", "2.0")
from gi.repository import Gio, GLib  # noqa: E402

# the configured unit (data/portmapd.service.in with @libexecdir@ filled in)
UNIT = None
DISPATCHER = os.path.join(DATADIR, "90-portmap")
ACTIVATION = os.path.join(DATADIR, "org.portmap.Manager.service")
SYSUSERS = os.path.join(DATADIR, "portmapd.sysusers")
POLICY = os.path.join(DATADIR, "org.portmap.Manager.conf")
SYSTEMD_ANALYZE = os.environ.get("SYSTEMD_ANALYZE", "systemd-analyze")

# the exposure design §7 allows (systemd-analyze security prints 0.0-10.0)
MAX_EXPOSURE = 2.0

# NetworkManager 1.42's actions (NetworkManager-dispatcher(8)) and the ones that refresh
NM_ACTIONS = ["pre-up", "up", "pre-down", "down", "vpn-pre-up", "vpn-up", "vpn-pre-down",
              "vpn-down", "hostname", "dhcp4-change", "dhcp6-change", "connectivity-change",
              "reapply"]
REFRESH_ACTIONS = ["up", "down", "vpn-up", "vpn-down", "dhcp4-change", "dhcp6-change",
                   "connectivity-change", "reapply"]
# later NetworkManager versions add these: they must not refresh either
NEWER_NM_ACTIONS = ["dns-change", "device-add", "device-delete"]


def read_unit(path):
    """A unit file as {section: [(key, value), ...]}, repeated keys kept in order."""
    sections = {}
    current = None
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line[0] in "#;":
                continue
            if line.startswith("[") and line.endswith("]"):
                current = sections.setdefault(line[1:-1], [])
                continue
            key, sep, value = line.partition("=")
            if not sep or current is None:
                raise AssertionError(f"{path}: not a unit file line: {line!r}")
            current.append((key.strip(), value.strip()))
    return sections


def unit_value(sections, section, key):
    values = [v for k, v in sections.get(section, []) if k == key]
    return values[-1] if values else None


def nm_environment(action, interface):
    """What NetworkManager's dispatcher passes a script (NetworkManager-dispatcher(8))."""
    env = {
        "NM_DISPATCHER_ACTION": action,
        "CONNECTION_UUID": "5fcfc4b9-6b61-4bd4-9a1d-0f5b3c7a3e21",
        "CONNECTION_ID": "Wired connection 1",
        "CONNECTION_DBUS_PATH": "/org/freedesktop/NetworkManager/Settings/1",
        "CONNECTION_FILENAME": "/run/NetworkManager/system-connections/Wired.nmconnection",
        "CONNECTION_EXTERNAL": "0",
        "DEVICE_IFACE": interface,
        "DEVICE_IP_IFACE": interface,
        "IP4_GATEWAY": "192.0.2.1",
        "IP4_NUM_ADDRESSES": "1",
        "IP4_ADDRESS_0": "192.0.2.10/24 192.0.2.1",
        "DHCP4_IP_ADDRESS": "192.0.2.10",
    }
    if action == "connectivity-change":
        env["CONNECTIVITY_STATE"] = "FULL"
    if action.startswith("vpn-"):
        env["VPN_IP_IFACE"] = "wg0"
        env["VPN_IP4_GATEWAY"] = "10.2.0.1"
    return env


def nm_argv(action):
    """argv[1] is the interface: none for hostname, empty for connectivity-change."""
    if action == "hostname":
        return "none"
    if action == "connectivity-change":
        return ""
    return "wg0" if action.startswith("vpn-") else "eth0"


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items() if k not in (
        "PORTMAPCTL", "NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "LISTEN_FDS",
        "LISTEN_PID", "CREDENTIALS_DIRECTORY")}
    env.update(extra)
    return env


def run_dispatcher(action, env, timeout=10):
    """Runs the script as NetworkManager would; returns (CompletedProcess, seconds)."""
    full = dict(env)
    full.update(nm_environment(action, nm_argv(action)))
    start = time.monotonic()
    cp = subprocess.run(["/bin/sh", DISPATCHER, nm_argv(action), action], env=full,
                        stdin=subprocess.DEVNULL, capture_output=True, text=True,
                        timeout=timeout)
    return cp, time.monotonic() - start


class SystemTestCase(unittest.TestCase):
    def setUp(self):
        self.workdir = tempfile.mkdtemp(prefix="portmap-system-")
        os.chmod(self.workdir, 0o755)
        self.addCleanup(shutil.rmtree, self.workdir, True)

    stop_process = staticmethod(pmlab.stop_popen)

    def wait_for(self, predicate, timeout, what):
        end = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > end:
                self.fail(f"timed out waiting for {what}")
            time.sleep(0.02)

    def build_tree_unit(self):
        """A copy of the configured unit whose ExecStart= is the built portmapd (verify
        refuses a unit whose binary does not exist), under the same file name."""
        path = os.path.join(self.workdir, os.path.basename(UNIT))
        with open(UNIT) as f:
            text = f.read()
        text, n = re.subn(r"^ExecStart=\S+", "ExecStart=" + PORTMAPD, text, flags=re.M)
        self.assertEqual(n, 1, "the unit has no ExecStart= line")
        with open(path, "w") as f:
            f.write(text)
        return path


class UnitFileTest(SystemTestCase):
    def test_verify_prints_nothing(self):
        unit = self.build_tree_unit()
        # verify exits 0 on unknown keys and bad values (it only prints them): any output
        # fails; --man=no because the man pages are not installed on the build machine
        # (test_documentation_names_shipped_man_pages checks them)
        cp = subprocess.run([SYSTEMD_ANALYZE, "verify", "--man=no", unit],
                            capture_output=True, text=True, timeout=60, cwd=self.workdir)
        self.assertEqual(cp.stdout + cp.stderr, "", "systemd-analyze verify complained")
        self.assertEqual(cp.returncode, 0)

    def test_verify_catches_a_typo(self):
        """The check above can fail: a misspelt key is reported."""
        unit = self.build_tree_unit()
        with open(unit) as f:
            text = f.read()
        with open(unit, "w") as f:
            f.write(text.replace("ProtectHome=", "ProtectHom=", 1))
        cp = subprocess.run([SYSTEMD_ANALYZE, "verify", "--man=no", unit],
                            capture_output=True, text=True, timeout=60, cwd=self.workdir)
        self.assertIn("ProtectHom", cp.stdout + cp.stderr)

    def test_security_exposure(self):
        unit = self.build_tree_unit()
        threshold = int(MAX_EXPOSURE * 10)
        cp = subprocess.run([SYSTEMD_ANALYZE, "security", "--offline=yes", "--no-pager",
                             f"--threshold={threshold}", unit],
                            capture_output=True, text=True, timeout=60, cwd=self.workdir)
        output = cp.stdout + cp.stderr
        m = re.search(r"Overall exposure level for \S+: (\d+\.\d+) (\S+)", output)
        self.assertIsNotNone(m, "no exposure level in:\n" + output)
        exposure = float(m.group(1))
        print(f"systemd-analyze security --offline=yes: overall exposure {exposure} "
              f"{m.group(2)} (at most {MAX_EXPOSURE})")
        failed = [line for line in output.splitlines() if line.startswith("✗")]
        print("\n".join(failed))
        self.assertLessEqual(exposure, MAX_EXPOSURE)
        self.assertEqual(cp.returncode, 0, output)

    def test_shape(self):
        """What design §7 asks of the unit, key by key."""
        sections = read_unit(UNIT)
        service = dict(sections["Service"])
        expect = {
            "Type": "dbus",
            "BusName": "org.portmap.Manager",
            "User": "portmap",
            "StateDirectory": "portmap",
            "RuntimeDirectory": "portmap",
            "RuntimeDirectoryPreserve": "restart",
            "CapabilityBoundingSet": "CAP_NET_ADMIN",
            "AmbientCapabilities": "CAP_NET_ADMIN",
            "Restart": "on-failure",
            "RestartPreventExitStatus": "2",
            "ExecReload": "/bin/kill -HUP $MAINPID",
            "RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6 AF_NETLINK",
        }
        for key, value in expect.items():
            self.assertEqual(service.get(key), value, key)
        self.assertNotIn("PrivateUsers", service)
        self.assertTrue(service["ExecStart"].endswith("/portmapd"), service["ExecStart"])
        self.assertTrue(os.path.isabs(service["ExecStart"]))
        self.assertIn("WatchdogSec", service)
        install = dict(sections["Install"])
        self.assertEqual(install.get("WantedBy"), "multi-user.target")

    def test_documentation_names_shipped_man_pages(self):
        docs = unit_value(read_unit(UNIT), "Unit", "Documentation")
        self.assertIsNotNone(docs)
        pages = re.findall(r"man:([\w.-]+)\((\d)\)", docs)
        self.assertEqual(len(pages), len(docs.split()), docs)
        self.assertIn(("portmapd", "8"), pages)
        for name, section in pages:
            self.assertTrue(os.path.exists(os.path.join(DATADIR, f"{name}.{section}.scd")),
                            f"man:{name}({section}) is not built from data/")

    def test_user_matches_sysusers_and_policy(self):
        user = unit_value(read_unit(UNIT), "Service", "User")
        bus_name = unit_value(read_unit(UNIT), "Service", "BusName")
        users = []
        with open(SYSUSERS) as f:
            for line in f:
                fields = line.split()
                if fields and fields[0] == "u":
                    users.append(fields[1])
        self.assertEqual(users, [user], "sysusers.d must create the unit's User=")
        import xml.etree.ElementTree as ET
        root = ET.parse(POLICY).getroot()
        owners = [p.get("user") for p in root.findall("policy")
                  if any(a.get("own") == bus_name for a in p.findall("allow"))]
        self.assertIn(user, owners, f"the D-Bus policy does not let {user} own {bus_name}")


class ActivationFileTest(SystemTestCase):
    def test_activation_file_names_the_unit(self):
        parser = configparser.ConfigParser(interpolation=None)
        parser.optionxform = str
        with open(ACTIVATION) as f:
            parser.read_file(f)
        self.assertEqual(parser.sections(), ["D-BUS Service"])
        activation = parser["D-BUS Service"]
        unit = read_unit(UNIT)
        self.assertEqual(activation["Name"], unit_value(unit, "Service", "BusName"))
        # only systemd may start it: bus activation goes through the unit
        self.assertEqual(activation["Exec"], "/bin/false")
        self.assertEqual(activation["User"], "root")
        names = {os.path.basename(UNIT)}
        names.update(v for k, v in unit.get("Install", []) if k == "Alias")
        self.assertIn(activation["SystemdService"], names,
                      "SystemdService= must name the unit or one of its Alias= names")
        self.assertTrue(activation["SystemdService"].endswith(".service"))


class InstallTest(SystemTestCase):
    def test_installed_layout(self):
        """meson install into a scratch DESTDIR: each file where its reader looks, the
        dispatcher script root's and 0755 (NetworkManager skips it otherwise)."""
        builddir = os.environ.get("MESON_BUILDDIR")
        self.assertIsNotNone(builddir, "MESON_BUILDDIR is not set")
        meson = shutil.which("meson")
        self.assertIsNotNone(meson, "meson is not in PATH")
        destdir = os.path.join(self.workdir, "dest")
        cp = subprocess.run([meson, "install", "-C", builddir, "--no-rebuild", "--quiet",
                             "--destdir", destdir], capture_output=True, text=True, timeout=120)
        self.assertEqual(cp.returncode, 0, cp.stdout + cp.stderr)
        installed = {}
        for root, _, files in os.walk(destdir):
            for name in files:
                path = os.path.join(root, name)
                installed[os.path.relpath(path, destdir)] = path

        def one(suffix):
            found = [p for rel, p in installed.items() if rel.endswith(suffix)]
            self.assertEqual(len(found), 1, f"{suffix}: {sorted(installed)}")
            return found[0]

        script = one("/lib/NetworkManager/dispatcher.d/90-portmap")
        st = os.stat(script)
        self.assertEqual(st.st_mode & 0o7777, 0o755, oct(st.st_mode))
        if os.geteuid() == 0:
            self.assertEqual(st.st_uid, 0, "the dispatcher script must be root's")
        with open(script) as f, open(DISPATCHER) as g:
            self.assertEqual(f.read(), g.read())
        unit = one("/systemd/system/portmapd.service")
        one("/share/dbus-1/system-services/org.portmap.Manager.service")
        one("/share/dbus-1/system.d/org.portmap.Manager.conf")
        one("/sysusers.d/portmapd.conf")
        # the polkit actions as merged with their translations, and the catalogs
        with open(one("/share/polkit-1/actions/org.portmap.policy")) as f:
            self.assertIn('xml:lang="de"', f.read())
        one("/share/locale/de/LC_MESSAGES/portmap.mo")
        # ExecStart= names the installed daemon
        exec_start = unit_value(read_unit(unit), "Service", "ExecStart")
        self.assertIn(exec_start.lstrip("/"), installed, exec_start)
        self.assertTrue(os.access(installed[exec_start.lstrip("/")], os.X_OK))


class DispatcherTest(SystemTestCase):
    def fake_portmapctl(self, body='printf "%s\\n" "$@" > "$PORTMAPCTL_LOG.$$"'):
        path = os.path.join(self.workdir, "bin", "portmapctl")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write("#!/bin/sh\n" + body + "\n")
        os.chmod(path, 0o755)
        return path

    def calls(self):
        """argv of every fake portmapctl run since the last call, then forgotten."""
        found = []
        for name in sorted(os.listdir(self.workdir)):
            if name.startswith("calls."):
                path = os.path.join(self.workdir, name)
                with open(path) as f:
                    found.append(f.read().splitlines())
                os.unlink(path)
        return found

    def test_file_is_a_valid_dispatcher_script(self):
        # NetworkManager skips scripts that are not root's, are group/other-writable or
        # setuid: the installed copy is checked by InstallTest; here the source is executable
        # (the checkout's group and other bits follow the umask) and git records it so
        st = os.stat(DISPATCHER)
        self.assertTrue(os.path.isfile(DISPATCHER))
        self.assertTrue(st.st_mode & 0o100, oct(st.st_mode))
        self.assertFalse(st.st_mode & 0o7000, oct(st.st_mode))
        git = shutil.which("git")
        if git is not None and os.path.exists(os.path.join(SRCDIR, ".git")):
            cp = subprocess.run([git, "-C", SRCDIR, "ls-files", "-s", "data/90-portmap"],
                                capture_output=True, text=True)
            if cp.returncode == 0 and cp.stdout:
                self.assertTrue(cp.stdout.startswith("100755 "), cp.stdout)
        with open(DISPATCHER) as f:
            self.assertEqual(f.readline().rstrip("\n"), "#!/bin/sh")
        for shell in ("/bin/sh", "/bin/dash", "/bin/bash"):
            if os.path.exists(shell):
                cp = subprocess.run([shell, "-n", DISPATCHER], capture_output=True, text=True)
                self.assertEqual((cp.returncode, cp.stderr), (0, ""), shell)
        shellcheck = shutil.which("shellcheck")
        if shellcheck is None:
            print("shellcheck is not installed: only sh -n was run")
            return
        cp = subprocess.run([shellcheck, "--shell=sh", DISPATCHER], capture_output=True,
                            text=True)
        self.assertEqual(cp.returncode, 0, cp.stdout + cp.stderr)
        print("shellcheck: clean")

    def test_actions_with_fake_portmapctl(self):
        fake = self.fake_portmapctl()
        log = os.path.join(self.workdir, "calls")
        env = clean_env(PORTMAPCTL=fake, PORTMAPCTL_LOG=log)
        for action in NM_ACTIONS + NEWER_NM_ACTIONS + ["", "UP", "up "]:
            cp, _ = run_dispatcher(action, env)
            self.assertEqual(cp.returncode, 0, action)
            self.assertEqual(cp.stdout + cp.stderr, "", action)
            expected = [["--no-ask-password", "--no-block", "refresh"]] \
                if action in REFRESH_ACTIONS else []
            self.assertEqual(self.calls(), expected, f"action {action!r}")

    def test_portmapctl_from_path(self):
        fake = self.fake_portmapctl()
        log = os.path.join(self.workdir, "calls")
        env = clean_env(PORTMAPCTL_LOG=log,
                        PATH=os.path.dirname(fake) + ":" + os.environ.get("PATH", ""))
        cp, _ = run_dispatcher("vpn-up", env)
        self.assertEqual(cp.returncode, 0)
        self.assertEqual(self.calls(), [["--no-ask-password", "--no-block", "refresh"]])

    def test_exits_zero_and_at_once_whatever_portmapctl_does(self):
        # absent: from PATH and as an override
        for env in (clean_env(PATH="/usr/bin:/bin"),
                    clean_env(PORTMAPCTL=os.path.join(self.workdir, "missing"))):
            cp, took = run_dispatcher("up", env)
            self.assertEqual(cp.returncode, 0)
            self.assertLess(took, 1.0)
        # fails
        failing = self.fake_portmapctl("echo 'Failed to refresh: no bus' >&2; exit 1")
        cp, took = run_dispatcher("up", clean_env(PORTMAPCTL=failing))
        self.assertEqual(cp.returncode, 0)
        self.assertLess(took, 1.0)
        # hangs (a stuck bus): bounded
        hanging = self.fake_portmapctl("exec sleep 30")
        cp, took = run_dispatcher("up", clean_env(PORTMAPCTL=hanging))
        self.assertEqual(cp.returncode, 0)
        self.assertLess(took, 2.0)
        print(f"a hanging portmapctl is cut after {took:.2f} s")

    def test_returns_at_once_without_daemon(self):
        # a bus without portmapd: --no-block does not wait for the error
        bus = Bus(self.workdir)
        self.addCleanup(bus.stop)
        env = clean_env(PORTMAPCTL=PORTMAPCTL, DBUS_SYSTEM_BUS_ADDRESS=bus.address)
        for action in REFRESH_ACTIONS:
            cp, took = run_dispatcher(action, env)
            self.assertEqual(cp.returncode, 0, cp.stderr)
            self.assertLess(took, 1.0, action)
        # no bus at all
        env["DBUS_SYSTEM_BUS_ADDRESS"] = "unix:path=" + os.path.join(self.workdir, "no-bus")
        cp, took = run_dispatcher("up", env)
        self.assertEqual(cp.returncode, 0)
        self.assertLess(took, 1.0)


class BusMonitor:
    """Every RefreshAll call on the bus, seen through org.freedesktop.DBus.Monitoring."""

    def __init__(self, address):
        self.lock = threading.Lock()
        self.calls = []
        self.conn = Gio.DBusConnection.new_for_address_sync(
            address,
            Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT
            | Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION, None, None)
        self.conn.add_filter(self._filter)
        rule = (f"type='method_call',destination='{BUS_NAME}',path='{MANAGER_PATH}',"
                f"interface='{MANAGER_IFACE}',member='RefreshAll'")
        self.conn.call_sync("org.freedesktop.DBus", "/org/freedesktop/DBus",
                            "org.freedesktop.DBus.Monitoring", "BecomeMonitor",
                            GLib.Variant("(asu)", ([rule], 0)), None,
                            Gio.DBusCallFlags.NONE, 5000, None)

    def _filter(self, conn, message, incoming):
        if not incoming or message.get_message_type() != Gio.DBusMessageType.METHOD_CALL:
            return message  # the reply to BecomeMonitor
        if message.get_member() == "RefreshAll":
            with self.lock:
                self.calls.append((message.get_sender(), message.get_flags()))
        # a monitor must never answer: calls are dropped before GDBus could
        return None

    def count(self):
        with self.lock:
            return len(self.calls)

    def close(self):
        self.conn.close_sync(None)


class DaemonTestCase(SystemTestCase):
    """The built portmapd on a private bus, the fake NAT-PMP gateway on 127.0.0.1."""

    def start_gateway(self):
        self.fake = pmlab.LoopbackFakeGateway(self.workdir)
        self.addCleanup(self.fake.stop)
        self.fake_port = self.fake.port

    def map_requests(self):
        return [e for e in self.fake.control.log() if e.get("op") in (1, 2)
                and e.get("lifetime", 0) > 0]

    def write_config(self):
        self.config = os.path.join(self.workdir, "portmapd.conf")
        with open(self.config, "w") as f:
            f.write(f"[Provider lab]\nType=natpmp\nGateway=127.0.0.1\nPort={self.fake_port}\n"
                    "[Mapping web]\nProvider=lab\nProtocols=tcp\nInternalPort=8080\n")

    def start_daemon(self, env, args=()):
        self.log_path = os.path.join(self.workdir, "portmapd.log")
        log = open(self.log_path, "a")
        self.addCleanup(log.close)
        self.daemon = subprocess.Popen(
            [PORTMAPD, "--config", self.config, "--state-dir",
             os.path.join(self.workdir, "state"), *args],
            env=env, stdout=log, stderr=subprocess.STDOUT)
        self.addCleanup(self.stop_process, self.daemon)
        self.addCleanup(self.dump_log)

    def dump_log(self):
        # meson shows it with --print-errorlogs when the test fails
        if os.path.exists(self.log_path):
            with open(self.log_path) as f:
                sys.stderr.write("---- portmapd log ----\n" + f.read())

    def connect(self, address):
        conn = Gio.DBusConnection.new_for_address_sync(
            address,
            Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT
            | Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION, None, None)
        self.addCleanup(conn.close_sync, None)
        return conn

    @staticmethod
    def name_has_owner(conn):
        return conn.call_sync("org.freedesktop.DBus", "/org/freedesktop/DBus",
                              "org.freedesktop.DBus", "NameHasOwner",
                              GLib.Variant("(s)", (BUS_NAME,)), None, Gio.DBusCallFlags.NONE,
                              2000, None).unpack()[0]

    def mapping_state(self, conn, name):
        reply = conn.call_sync(BUS_NAME, MANAGER_PATH, MANAGER_IFACE, "ListMappings", None,
                               None, Gio.DBusCallFlags.NONE, 5000, None).unpack()
        for m in reply[0]:
            if m[1] == name:
                return m[3]
        return None


class DispatcherDaemonTest(DaemonTestCase):
    def setUp(self):
        super().setUp()
        self.start_gateway()
        self.write_config()
        bus = Bus(self.workdir)
        self.addCleanup(bus.stop)
        env = clean_env(DBUS_SYSTEM_BUS_ADDRESS=bus.address)
        self.start_daemon(env)
        self.conn = self.connect(bus.address)
        self.wait_for(lambda: self.name_has_owner(self.conn), 10, "portmapd on the bus")
        self.wait_for(lambda: self.mapping_state(self.conn, "web") == "active", 10,
                      "the mapping to become active")
        self.monitor = BusMonitor(bus.address)
        self.addCleanup(self.monitor.close)
        self.script_env = dict(env, PORTMAPCTL=PORTMAPCTL)

    def test_refresh_all_for_each_listed_action_only(self):
        monitor = self.monitor
        # each listed action sends one RefreshAll
        for action in REFRESH_ACTIONS:
            seen = monitor.count()
            cp, took = run_dispatcher(action, self.script_env)
            self.assertEqual(cp.returncode, 0, cp.stderr)
            self.assertLess(took, 1.0, action)
            self.wait_for(lambda: monitor.count() == seen + 1, 5, f"RefreshAll after {action}")
        # --no-block: sent without a reply expected
        for _, flags in monitor.calls:
            self.assertTrue(flags & Gio.DBusMessageFlags.NO_REPLY_EXPECTED)

        # the others send nothing: run them all, then one that does as a marker
        seen = monitor.count()
        for action in [a for a in NM_ACTIONS + NEWER_NM_ACTIONS if a not in REFRESH_ACTIONS]:
            cp, _ = run_dispatcher(action, self.script_env)
            self.assertEqual(cp.returncode, 0, action)
        run_dispatcher("dhcp4-change", self.script_env)
        self.wait_for(lambda: monitor.count() >= seen + 1, 5, "the marker's RefreshAll")
        time.sleep(0.3)
        self.assertEqual(monitor.count(), seen + 1,
                         "an action outside the list called RefreshAll")
        self.assertIsNone(self.daemon.poll())

    def test_refresh_renews_at_the_gateway(self):
        """The daemon acts on the script's call: the mapping is renewed at the gateway (the
        first RefreshAll after start runs at once; later ones are coalesced, 10 s apart)."""
        before = len(self.map_requests())
        cp, took = run_dispatcher("up", self.script_env)
        self.assertEqual(cp.returncode, 0, cp.stderr)
        self.assertLess(took, 1.0)
        self.wait_for(lambda: self.monitor.count() == 1, 5, "RefreshAll after 'up'")
        self.wait_for(lambda: len(self.map_requests()) > before, 10,
                      "a renewal request at the gateway after the script's RefreshAll")


class NotifySocket:
    """The service manager's end of sd_notify: a datagram socket that records each message
    with the sender's pid."""

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        self.messages = []  # (pid, {key: value}, monotonic time)

    def poll(self, timeout):
        self.sock.settimeout(timeout)
        try:
            data, anc, _, _ = self.sock.recvmsg(4096, socket.CMSG_SPACE(12))
        except socket.timeout:
            return None
        pid = None
        for level, kind, cdata in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                pid = struct.unpack("iII", cdata[:12])[0]
        fields = {}
        for line in data.decode().split("\n"):
            if line:
                key, _, value = line.partition("=")
                fields[key] = value
        self.messages.append((pid, fields, time.monotonic()))
        return fields

    def wait_for(self, predicate, timeout):
        """The first message (new or already received) for which predicate(fields) holds."""
        for _, fields, _ in self.messages:
            if predicate(fields):
                return fields
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            fields = self.poll(max(0.01, end - time.monotonic()))
            if fields is not None and predicate(fields):
                return fields
        return None

    def drain(self, seconds):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.poll(max(0.01, end - time.monotonic()))

    def close(self):
        self.sock.close()


class NotifyTest(DaemonTestCase):
    def setUp(self):
        super().setUp()
        self.start_gateway()
        self.write_config()
        self.notify = NotifySocket(os.path.join(self.workdir, "notify"))
        self.addCleanup(self.notify.close)

    def start_on_bus(self, **extra):
        self.bus = Bus(self.workdir)
        self.addCleanup(self.bus.stop)
        env = clean_env(DBUS_SYSTEM_BUS_ADDRESS=self.bus.address,
                        NOTIFY_SOCKET=self.notify.path, **extra)
        self.start_daemon(env)
        self.conn = self.connect(self.bus.address)

    def wait_ready(self):
        fields = self.notify.wait_for(lambda f: f.get("READY") == "1", 10)
        self.assertIsNotNone(fields, "no READY=1")
        return fields

    def from_daemon(self):
        return [f for pid, f, _ in self.notify.messages if pid == self.daemon.pid]

    def test_ready_after_the_bus_name_with_status(self):
        self.start_on_bus()
        fields = self.wait_ready()
        # Type=dbus: ready means reachable by name
        self.assertTrue(self.name_has_owner(self.conn), "READY=1 before the name was owned")
        self.assertIn("STATUS", fields)
        # every message comes from the main process (NotifyAccess=main)
        self.assertTrue(all(pid == self.daemon.pid for pid, _, _ in self.notify.messages))
        self.assertIsNotNone(self.notify.wait_for(
            lambda f: f.get("STATUS") == "1 mapping active", 10),
            f"no STATUS=1 mapping active in {self.notify.messages}")
        # no watchdog asked, no pings, no periodic wake-up
        self.notify.drain(0.5)
        self.assertFalse([f for f in self.from_daemon() if "WATCHDOG" in f])

    def test_reload_sends_reloading_then_ready(self):
        self.start_on_bus()
        self.wait_ready()
        self.notify.messages.clear()
        self.daemon.send_signal(signal.SIGHUP)
        reloading = self.notify.wait_for(lambda f: f.get("RELOADING") == "1", 10)
        self.assertIsNotNone(reloading, "no RELOADING=1 on SIGHUP")
        self.assertRegex(reloading.get("MONOTONIC_USEC", ""), r"^\d+$")
        self.assertIsNotNone(self.notify.wait_for(lambda f: f.get("READY") == "1", 10),
                             "no READY=1 after the reload")
        order = [k for _, f, _ in self.notify.messages for k in ("RELOADING", "READY")
                 if k in f]
        self.assertEqual(order[:2], ["RELOADING", "READY"])
        # the Reload() method on the bus too
        self.notify.messages.clear()
        self.conn.call_sync(BUS_NAME, MANAGER_PATH, MANAGER_IFACE, "Reload", None, None,
                            Gio.DBusCallFlags.NONE, 10000, None)
        self.assertIsNotNone(self.notify.wait_for(lambda f: f.get("RELOADING") == "1", 5))
        self.assertIsNotNone(self.notify.wait_for(lambda f: f.get("READY") == "1", 5))

    def test_sigterm_sends_stopping(self):
        self.start_on_bus()
        self.wait_ready()
        self.daemon.send_signal(signal.SIGTERM)
        self.assertIsNotNone(self.notify.wait_for(lambda f: f.get("STOPPING") == "1", 10),
                             "no STOPPING=1 on SIGTERM")
        self.assertEqual(self.daemon.wait(10), 0)

    def test_watchdog(self):
        # WATCHDOG_PID=$$ names the process exec'd next, as systemd sets it
        self.bus = Bus(self.workdir)
        self.addCleanup(self.bus.stop)
        env = clean_env(DBUS_SYSTEM_BUS_ADDRESS=self.bus.address,
                        NOTIFY_SOCKET=self.notify.path, WATCHDOG_USEC="200000")
        self.log_path = os.path.join(self.workdir, "portmapd.log")
        log = open(self.log_path, "a")
        self.addCleanup(log.close)
        self.daemon = subprocess.Popen(
            ["/bin/sh", "-c", 'WATCHDOG_PID=$$ exec "$@"', "sh", PORTMAPD, "--config",
             self.config, "--state-dir", os.path.join(self.workdir, "state")],
            env=env, stdout=log, stderr=subprocess.STDOUT)
        self.addCleanup(self.stop_process, self.daemon)
        self.addCleanup(self.dump_log)
        self.wait_ready()
        self.notify.drain(1.0)
        pings = [t for pid, f, t in self.notify.messages
                 if f.get("WATCHDOG") == "1" and pid == self.daemon.pid]
        # every 100 ms: about ten in a second
        self.assertGreaterEqual(len(pings), 5, f"{len(pings)} watchdog pings in 1 s")
        self.assertLessEqual(len(pings), 15)

    def test_watchdog_for_another_pid_is_ignored(self):
        self.start_on_bus(WATCHDOG_USEC="100000", WATCHDOG_PID="1")
        self.wait_ready()
        self.notify.drain(0.5)
        self.assertFalse([f for f in self.from_daemon() if "WATCHDOG" in f])

    def test_no_bus_mode_is_ready_too(self):
        env = clean_env(NOTIFY_SOCKET=self.notify.path)
        self.start_daemon(env, ["--no-bus", "--runtime-dir",
                                os.path.join(self.workdir, "run")])
        fields = self.wait_ready()
        self.assertIn("STATUS", fields)
        self.assertIsNotNone(self.notify.wait_for(
            lambda f: f.get("STATUS") == "1 mapping active", 10))
        self.daemon.send_signal(signal.SIGTERM)
        self.assertIsNotNone(self.notify.wait_for(lambda f: f.get("STOPPING") == "1", 10))
        self.assertEqual(self.daemon.wait(10), 0)


def parse_journal_datagram(data):
    """The journal's native protocol: KEY=value lines, or KEY, a newline, a 64-bit little
    endian length and the value for values with newlines."""
    fields = {}
    while data:
        nl = data.index(b"\n")
        line = data[:nl]
        if b"=" in line:
            key, _, value = line.partition(b"=")
            data = data[nl + 1:]
        else:
            key = line
            size = struct.unpack("<Q", data[nl + 1:nl + 9])[0]
            value = data[nl + 9:nl + 9 + size]
            data = data[nl + 9 + size + 1:]
        fields[key.decode()] = value.decode()
    return fields


def journal_inner(config, workdir, level, until="mapping web active"):
    """Inside a mount namespace with an empty /run: plays journald (its native socket and the
    stdout stream socket), runs portmapd --no-bus with stderr on the stream, prints what
    reached each as JSON."""
    os.makedirs("/run/systemd/journal")
    native = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    native.bind("/run/systemd/journal/socket")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind("/run/systemd/journal/stdout")
    listener.listen(1)
    stream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stream.connect("/run/systemd/journal/stdout")
    server, _ = listener.accept()
    daemon = subprocess.Popen([PORTMAPD, "--no-bus", "--config", config, "--state-dir",
                               os.path.join(workdir, "state"), "--runtime-dir",
                               os.path.join(workdir, "run"), "--log-level", level],
                              stdin=subprocess.DEVNULL, stdout=stream, stderr=stream)
    stream.close()
    entries = []
    native.settimeout(0.2)
    end = time.monotonic() + 3
    while time.monotonic() < end:
        try:
            entries.append(parse_journal_datagram(native.recv(65536)))
        except socket.timeout:
            pass
        if any(e.get("MESSAGE", "").startswith(until) for e in entries):
            break
    daemon.terminate()
    daemon.wait(10)
    native.settimeout(0.3)
    try:
        while True:
            entries.append(parse_journal_datagram(native.recv(65536)))
    except socket.timeout:
        pass
    server.settimeout(1)
    text = b""
    try:
        while True:
            chunk = server.recv(65536)
            if not chunk:
                break
            text += chunk
    except socket.timeout:
        pass
    print(json.dumps({"journal": entries, "stderr": text.decode(errors="replace"),
                      "status": daemon.returncode}))


class JournalTest(DaemonTestCase):
    def run_in_journal(self, level, until="mapping web active"):
        """portmapd with stderr on a (fake) journal stream, in a private mount namespace so
        the host's /run is left alone; until the first message starting with @until."""
        cp = subprocess.run(
            ["unshare", "--mount", "--propagation", "private", "--",
             "/bin/sh", "-c", 'mount -t tmpfs -o mode=0755 tmpfs /run && exec "$@"', "sh",
             "/usr/bin/python3", os.path.abspath(__file__), "--journal-inner", self.config,
             self.workdir, level, until],
            capture_output=True, text=True, timeout=60)
        self.assertEqual(cp.returncode, 0, cp.stderr)
        return json.loads(cp.stdout)

    def test_log_fields_reach_the_journal(self):
        self.start_gateway()
        self.write_config()
        result = self.run_in_journal("debug")
        journal = result["journal"]
        # everything went to the journal, nothing to the stream
        self.assertEqual(result["stderr"], "")
        self.assertEqual(result["status"], 0)
        active = [e for e in journal if e.get("MESSAGE", "").startswith("mapping web active")]
        self.assertTrue(active, f"no 'mapping web active' entry in {journal}")
        entry = active[0]
        self.assertEqual(entry.get("MAPPING"), "web")
        self.assertEqual(entry.get("PROVIDER"), "lab")
        self.assertEqual(entry.get("PRIORITY"), "7")
        self.assertEqual(entry.get("GLIB_DOMAIN"), "portmapd")
        self.assertTrue(entry.get("CODE_FILE", "").endswith("natpmp-provider.c"), entry)
        # plain g_info() lines get there too, without the fields
        self.assertTrue([e for e in journal if e.get("PRIORITY") == "6"], journal)
        # every one in a log domain (portmapd's, unless GLib's own): G_MESSAGES_DEBUG=portmapd
        # selects them all
        self.assertEqual([e for e in journal if not e.get("GLIB_DOMAIN")], [])
        self.assertEqual({e["GLIB_DOMAIN"] for e in journal if "GLib" not in e["GLIB_DOMAIN"]},
                         {"portmapd"})
        # --log-level still filters
        result = self.run_in_journal("info")
        self.assertEqual(result["stderr"], "")
        self.assertFalse([e for e in result["journal"] if e.get("PRIORITY") == "7"],
                         result["journal"])
        self.assertTrue(result["journal"])


    def test_stun_fields_reach_the_journal(self):
        """The STUN discovery's entries carry the replaced module's keys, upper-cased:
        ENDPOINT=, NAT_TYPE=, STUN_SERVER= (a STUN server on loopback: the lab's fake-stun,
        whose valid answer follows its broken ones)."""
        fake, port = pmlab.start_loopback_fake_stun()
        self.addCleanup(self.stop_process, fake)
        self.config = os.path.join(self.workdir, "portmapd.conf")
        with open(self.config, "w") as f:
            f.write(f"[STUN]\nServers=127.0.0.1:{port}\nTimeout=1s\n")
        result = self.run_in_journal("info", until="public endpoint 127.0.0.1:")
        self.assertEqual(result["status"], 0)
        found = [e for e in result["journal"]
                 if e.get("MESSAGE", "").startswith("public endpoint 127.0.0.1:")]
        self.assertTrue(found, f"no 'public endpoint' entry in {result['journal']}")
        entry = found[0]
        self.assertRegex(entry.get("ENDPOINT", ""), r"^127\.0\.0\.1:\d+$")
        self.assertEqual(entry.get("NAT_TYPE"), "none")
        self.assertEqual(entry.get("STUN_SERVER"), f"127.0.0.1:{port}")
        self.assertEqual(entry.get("PRIORITY"), "6")


if __name__ == "__main__":
    if len(sys.argv) in (5, 6) and sys.argv[1] == "--journal-inner":
        journal_inner(*sys.argv[2:])
        sys.exit(0)
    if len(sys.argv) < 2 or not sys.argv[1].endswith(".service"):
        sys.exit("usage: test_system.py UNIT_FILE [unittest arguments]")
    UNIT = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)
