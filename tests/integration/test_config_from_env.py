#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""portmapd --config-from-env as a container runs it: the environment of the replaced tool
(gluetun, the natpmp-http-api client, the PIA tools) in, a portmapd.conf out (--print-config), exit status
2 with a message naming the variable when the environment cannot be imported. No bus and no
gateway: the built portmapd only. Each test method is one meson test (suite
"integration")."""

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
BUILDDIR = os.environ.get("PORTMAP_BUILDDIR", os.path.join(HERE, "..", "..", "build"))
PORTMAPD = os.environ.get("PORTMAPD", os.path.join(BUILDDIR, "daemon", "portmapd"))

# every variable that would make the test's own environment recognise a tool
IMPORTED = re.compile(r"^(NATPMP_SERVICE|INTERNAL_PORT|API_TOKEN|ENABLE_TCP|ENABLE_UDP|DURATION|"
                      r"REFRESH_INTERVAL|VPN_.*|PIA_.*|MIKROTIK_.*|LOG_LEVEL|OPENVPN_.*|"
                      r"PF_.*|PORT_FILE|PORT_DATA_FILE|PORT_FORWARD_REFRESH_INTERVAL|"
                      r"QBITTORRENT_.*|SERVER_NAMES|PAYLOAD_AND_SIGNATURE|"
                      r"CREDENTIALS_DIRECTORY)$")

GLUETUN_PROTONVPN = {
    "VPN_SERVICE_PROVIDER": "protonvpn",
    "VPN_TYPE": "wireguard",
    "VPN_PORT_FORWARDING": "on",
    # only PIA uses it: removed from the environment all the same
    "VPN_PORT_FORWARDING_PASSWORD": "pw-MARKER-5b1c",
}

# the PIA port-forwarding manager's README ("Standalone")
PIA_MANAGER = {"PIA_USER": "p1234567", "PIA_PASS": "pia-MARKER-2e7d"}

# pia-foss/manual-connections: PIA_TOKEN=… PF_GATEWAY=… PF_HOSTNAME=… ./port_forwarding.sh, with
# the getSignature answer of its README saved to keep the port
PIA_MANUAL = {
    "PIA_TOKEN": "tok-MARKER-81c0",
    "PF_GATEWAY": "10.4.128.1",
    "PF_HOSTNAME": "newjersey419",
    "PAYLOAD_AND_SIGNATURE": '{"status":"OK","payload":"eyJ0b2tlbiI6Inh4eHh4eHh4eCIsInBvcnQiOjQ3MDQ3'
                             'LCJjcmVhdGVkX2F0IjoiMjAyMC0wNC0zMFQyMjozMzo0NC4xMTQzNjk5MDZaIn0=",'
                             '"signature":"MARKER+/=="}',
}

# gluetun with PIA
GLUETUN_PIA = {
    "VPN_SERVICE_PROVIDER": "private internet access",
    "VPN_PORT_FORWARDING": "on",
    "OPENVPN_USER": "p1234567",
    "OPENVPN_PASSWORD": "ovpn-MARKER-c3d4",
    "SERVER_NAMES": "newjersey419",
}

EXPECTED_GLUETUN = """\
# imported from the environment of gluetun (--config-from-env)
[Daemon]
ReleaseOnStop=transient
MaxMappingsPerUser=4
ReconcileInterval=5min

[Provider protonvpn]
Type=natpmp
Gateway=10.2.0.1
SamePort=yes
Lifetime=60
RefreshInterval=45s

[Consumer status-file]
Type=portfile
Path=/tmp/gluetun/forwarded_port
Format=ports

[Mapping forwarded-port]
Provider=protonvpn
Protocols=tcp udp
Consumers=status-file
"""


class ConfigFromEnvTest(unittest.TestCase):
    maxDiff = None

    def setUp(self):
        self.workdir = tempfile.mkdtemp(prefix="portmapd-env-")
        self.addCleanup(shutil.rmtree, self.workdir, True)

    def environment(self, variables):
        env = {k: v for k, v in os.environ.items() if not IMPORTED.match(k)}
        env.update(LC_ALL="C", LANGUAGE="")
        env.update(variables)
        return env

    def portmapd(self, variables, *args):
        return subprocess.run([PORTMAPD, "--config-from-env", *args], capture_output=True,
                              text=True, timeout=30, env=self.environment(variables))

    def test_gluetun_protonvpn_print_config(self):
        cp = self.portmapd(GLUETUN_PROTONVPN, "--print-config")
        self.assertEqual(cp.returncode, 0, cp.stderr)
        self.assertEqual(cp.stdout, EXPECTED_GLUETUN)
        # one warning naming the secret variable, never its value
        self.assertEqual(cp.stderr.count("WARNING"), 1, cp.stderr)
        self.assertIn("VPN_PORT_FORWARDING_PASSWORD", cp.stderr)
        self.assertNotIn("MARKER", cp.stdout + cp.stderr)

        # what it prints is a portmapd.conf that reads back the same
        path = os.path.join(self.workdir, "portmapd.conf")
        with open(path, "w") as f:
            f.write(cp.stdout)
        again = subprocess.run([PORTMAPD, "--print-config", "--config", path],
                               capture_output=True, text=True, timeout=30,
                               env=self.environment({}))
        self.assertEqual(again.returncode, 0, again.stderr)
        self.assertEqual(again.stdout, cp.stdout.split("\n", 1)[1])

    def test_gluetun_commands_kept_verbatim(self):
        up = "/bin/sh -c 'curl -s http://127.0.0.1:8080/port/{{PORTS}}'"
        down = "/gluetun/down.sh {{PORT}} {{VPN_INTERFACE}}"
        cp = self.portmapd(dict(GLUETUN_PROTONVPN,
                                VPN_PORT_FORWARDING_STATUS_FILE="/gluetun/forwarded_port",
                                VPN_PORT_FORWARDING_UP_COMMAND=up,
                                VPN_PORT_FORWARDING_DOWN_COMMAND=down),
                           "--print-config")
        self.assertEqual(cp.returncode, 0, cp.stderr)
        self.assertIn("Path=/gluetun/forwarded_port\n", cp.stdout)
        self.assertIn("ExecUp=" + up + "\n", cp.stdout)
        self.assertIn("ExecDown=" + down + "\n", cp.stdout)
        self.assertIn("Consumers=status-file up-down-commands\n", cp.stdout)

    def test_config_file_merged_over(self):
        path = os.path.join(self.workdir, "portmapd.conf")
        with open(path, "w") as f:
            f.write("[Provider protonvpn]\nGateway=10.96.0.1\n\n"
                    "[Consumer status-file]\nPath=/run/portmap/forwarded.port\n")
        os.mkdir(path + ".d")
        with open(os.path.join(path + ".d", "10-reconcile.conf"), "w") as f:
            f.write("[Daemon]\nReconcileInterval=1min\n")
        cp = self.portmapd(GLUETUN_PROTONVPN, "--print-config", "--config", path)
        self.assertEqual(cp.returncode, 0, cp.stderr)
        self.assertIn("ReconcileInterval=1min\n", cp.stdout)
        self.assertIn("Gateway=10.96.0.1\nSamePort=yes\nLifetime=60\n", cp.stdout)
        self.assertIn("Path=/run/portmap/forwarded.port\n", cp.stdout)

        # an error in the file names the file and its line
        with open(path, "a") as f:
            f.write("[Mapping forwarded-port]\nProtocols=sctp\n")
        cp = self.portmapd(GLUETUN_PROTONVPN, "--print-config", "--config", path)
        self.assertEqual(cp.returncode, 2)
        self.assertIn(path + ":7: [Mapping forwarded-port] Protocols=sctp", cp.stderr)

    def test_two_sets_exit_2(self):
        cp = self.portmapd(dict(GLUETUN_PROTONVPN, NATPMP_SERVICE="natpmp-service:8080",
                                INTERNAL_PORT="6881"), "--print-config")
        self.assertEqual(cp.returncode, 2)
        self.assertEqual(cp.stdout, "")
        self.assertIn("the environment has variables of two tools, the natpmp-http-api "
                      "client (NATPMP_SERVICE) and gluetun (VPN_", cp.stderr)

    def test_no_set_exit_2(self):
        cp = self.portmapd({"VPN_GATEWAY": "10.2.0.1"}, "--print-config")
        self.assertEqual(cp.returncode, 2)
        self.assertIn("the environment has no variable of a tool that portmapd replaces; "
                      "recognised: NATPMP_SERVICE", cp.stderr)

    def test_bad_values_exit_2(self):
        cp = self.portmapd(dict(GLUETUN_PROTONVPN, VPN_PORT_FORWARDING="off"))
        self.assertEqual(cp.returncode, 2)
        self.assertIn("nothing for portmapd to do", cp.stderr)
        cp = self.portmapd({"NATPMP_SERVICE": "natpmp-service:8080", "INTERNAL_PORT": "6881",
                            "API_TOKEN": "tok-MARKER", "DURATION": "45"})
        self.assertEqual(cp.returncode, 2)
        self.assertIn("environment variable REFRESH_INTERVAL=45: not less than DURATION",
                      cp.stderr)
        self.assertNotIn("MARKER", cp.stderr)

    def test_pia_import_errors_exit_2(self):
        """What the PIA sets refuse is refused before any configuration is loaded, with
        the variable named and no secret shown."""
        cases = [
            (dict(PIA_MANAGER, PORT_FORWARD_REFRESH_INTERVAL="1800"),
             "environment variable PORT_FORWARD_REFRESH_INTERVAL=1800: longer than PIA "
             "keeps a forwarded port that is not bound again (15 minutes)"),
            (dict(PIA_MANAGER, QBITTORRENT_HOST="localhost:8080",
                  QBITTORRENT_USER="admin", QBITTORRENT_PASS="qb-MARKER"),
             "environment variable QBITTORRENT_HOST=localhost:8080: not an http or https "
             "URL"),
            ({"PIA_TOKEN": "tok-MARKER", "PF_HOSTNAME": "newjersey419"},
             "environment variable PF_GATEWAY is not set"),
            (dict(PIA_MANUAL, PAYLOAD_AND_SIGNATURE='{"status":"ERROR","payload":"MARKER"}'),
             "environment variable PAYLOAD_AND_SIGNATURE=(secret, not shown): its status "
             "is not \"OK\""),
            ({"VPN_SERVICE_PROVIDER": "private internet access", "VPN_PORT_FORWARDING": "on",
              "OPENVPN_USER": "p1234567"},
             "environment variables VPN_PORT_FORWARDING_PASSWORD and OPENVPN_PASSWORD are "
             "unset"),
        ]
        for variables, message in cases:
            with self.subTest(message=message):
                cp = self.portmapd(variables, "--print-config")
                self.assertEqual(cp.returncode, 2, cp.stderr)
                self.assertEqual(cp.stdout, "")
                self.assertIn(message, cp.stderr)
                self.assertNotIn("MARKER", cp.stderr)

    def test_pia_sets_print_config(self):
        """The three PIA sets as --print-config prints them, the PIA manager's also with
        its qBittorrent variables."""
        sets = [
            (dict(PIA_MANAGER, QBITTORRENT_HOST="http://qbittorrent:8080",
                  QBITTORRENT_USER="webadmin", QBITTORRENT_PASS="qb-MARKER"),
             ["[Consumer qbittorrent]\nType=qbittorrent\nURL=http://qbittorrent:8080\n",
              "Username=webadmin\n", "PasswordCredential=qbittorrent-password\n",
              "Consumers=port-file port-data-file qbittorrent\n"]),
            (PIA_MANAGER, ["[Provider pia]\nType=pia\n", "Username=p1234567\n",
                           "PasswordCredential=pia-password\n",
                           "Path=/config/pia-port.txt\n", "Path=/config/pia-port-data.json\n",
                           "Format=json\n", "Consumers=port-file port-data-file\n"]),
            (PIA_MANUAL, ["[Provider pia]\nType=pia\n", "Gateway=10.4.128.1\n",
                          "Hostname=newjersey419\n", "TokenCredential=pia-token\n",
                          "PayloadAndSignatureCredential=pia-payload-and-signature\n",
                          "Consumers=port-file\n"]),
            (GLUETUN_PIA, ["[Provider pia]\nType=pia\n", "Hostname=newjersey419\n",
                           "PasswordCredential=pia-password\n",
                           "Path=/tmp/gluetun/forwarded_port\n", "Consumers=status-file\n"]),
        ]
        for variables, lines in sets:
            with self.subTest(variables=sorted(variables)):
                cp = self.portmapd(variables, "--print-config")
                self.assertEqual(cp.returncode, 0, cp.stderr)
                for line in lines:
                    self.assertIn(line, cp.stdout)
                # a PIA mapping takes only Provider= and Consumers=
                mapping = cp.stdout.split("[Mapping forwarded-port]\n", 1)[1]
                self.assertNotIn("InternalPort=", mapping)
                self.assertIn("# pia-", cp.stdout)
                self.assertNotIn("MARKER", cp.stdout + cp.stderr)

    def test_headless_daemon_drops_secret_variables(self):
        """The daemon runs on the imported configuration, and its environment (as
        /proc/PID/environ shows it, which hooks would inherit) no longer holds the
        secret."""
        status_file = os.path.join(self.workdir, "forwarded_port")
        runtime = os.path.join(self.workdir, "run")
        variables = dict(GLUETUN_PROTONVPN, OPENVPN_PASSWORD="ovpn-MARKER-0a9e",
                         VPN_GATEWAY="127.0.0.1",
                         VPN_PORT_FORWARDING_STATUS_FILE=status_file)
        log = open(os.path.join(self.workdir, "portmapd.log"), "w+")
        self.addCleanup(log.close)
        daemon = subprocess.Popen([PORTMAPD, "--config-from-env", "--no-bus", "--runtime-dir",
                                   runtime, "--state-dir", os.path.join(self.workdir, "state")],
                                  stdout=log, stderr=subprocess.STDOUT,
                                  env=self.environment(variables))
        try:
            status = os.path.join(runtime, "status.json")
            deadline = time.monotonic() + 20
            while not os.path.exists(status) and time.monotonic() < deadline:
                self.assertIsNone(daemon.poll(), "portmapd exited")
                time.sleep(0.05)
            self.assertTrue(os.path.exists(status))
            with open(f"/proc/{daemon.pid}/environ", "rb") as f:
                environ = f.read()
            self.assertNotIn(b"MARKER", environ)
            self.assertIn(b"VPN_SERVICE_PROVIDER=protonvpn", environ)
            with open(status) as f:
                self.assertIn('"forwarded-port"', f.read())
        finally:
            daemon.send_signal(signal.SIGTERM)
            code = daemon.wait(20)
        log.seek(0)
        text = log.read()
        self.assertEqual(code, 0, text)
        self.assertIn("OPENVPN_PASSWORD", text)
        self.assertNotIn("MARKER", text)


if __name__ == "__main__":
    unittest.main()
