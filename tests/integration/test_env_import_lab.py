#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""`portmapd --no-bus --config-from-env` in the lab, as the replaced tools' containers run:
the natpmp-http-api client's environment against the lab's fake natpmp-http-api (mapping
through miniupnpd for real), and gluetun's ProtonVPN environment against the fake NAT-PMP
gateway in its ProtonVPN mode (internal port 0, the external port forwarded to itself). Each
test method is one meson test (suite "lab")."""

import json
import os
import subprocess
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "lab"))
import pmlab  # noqa: E402
from peer_qbittorrent import QbittorrentPeer  # noqa: E402
from test_portmapd import PORTMAPD, PortmapdTestCase  # noqa: E402

TOKEN = "env-token-93b7"


class EnvImportLabTest(PortmapdTestCase):
    gateway = "miniupnpd"

    def start_headless(self, env, config=None):
        self.runtime_dir = os.path.join(self.workdir, "run")
        os.makedirs(self.state_dir, exist_ok=True)
        argv = [PORTMAPD, "--no-bus", "--config-from-env", "--state-dir", self.state_dir,
                "--runtime-dir", self.runtime_dir, "--log-level", "debug"]
        if config is not None:
            # merged over the imported configuration key by key (design §6)
            self.write_config(config)
            argv += ["--config", self.config_path]
        # the tool's environment only (and PATH): nothing of the test runner's
        full = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **env}
        for key in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS", "G_SLICE"):
            if key in os.environ:
                full[key] = os.environ[key]
        with open(self.daemon_log, "a") as log:
            self.daemon = self.lab.spawn(self.lab.ns_lan, argv, name="portmapd", env=full,
                                         stdout=log, stderr=subprocess.STDOUT)

    def status(self):
        try:
            with open(os.path.join(self.runtime_dir, "status.json")) as f:
                return json.load(f)
        except (OSError, ValueError):
            return None

    def mapping(self):
        if self.daemon.poll() is not None:
            self.dump_log()
            self.fail(f"portmapd exited with {self.daemon.returncode}")
        maps = (self.status() or {}).get("Mappings") or []
        return maps[0] if maps else None

    def wait_active(self, timeout=20):
        return self.wait_for(lambda: (self.mapping() or {}).get("State") == "active" and
                             self.mapping(), timeout, f"not active: {self.mapping()}")

    def environ_of_daemon(self):
        with open(f"/proc/{self.daemon.pid}/environ", "rb") as f:
            return f.read()

    def test_q_natpmp_http_client_environment(self):
        """The natpmp-http-api client's README example (short intervals): TCP and UDP kept
        alive through the service, the token used and gone from portmapd's environment."""
        api = self.lab.start_natpmp_http_api(token=TOKEN)
        self.start_headless({"NATPMP_SERVICE": f"{api.address}:{api.port}",
                             "INTERNAL_PORT": "7001", "API_TOKEN": TOKEN,
                             "ENABLE_TCP": "true", "ENABLE_UDP": "true",
                             "DURATION": "4", "REFRESH_INTERVAL": "2"})
        m = self.wait_active()
        ports = {p["Protocol"]: p["ExternalPort"] for p in m["Ports"]}
        self.assertEqual(sorted(ports), ["tcp", "udp"])
        granted = len(api.requests("POST", "/forward", status=200))
        self.assertGreaterEqual(granted, 2)
        self.assertTrue(all(e["authorized"] for e in api.forwards()))
        # refreshed every REFRESH_INTERVAL seconds, as the tool's loop did
        self.wait_for(lambda: len(api.requests("POST", "/forward", status=200)) >= granted + 4,
                      10, "no refreshes")
        self.assertTrue(self.lab.tcp_reachable(ports["tcp"], 7001))
        self.assertTrue(self.lab.udp_reachable(ports["udp"], 7001))
        # /proc/PID/environ is the block the process started with: the value is wiped in
        # place (the name stays there, unset from the environment hooks get)
        self.assertNotIn(TOKEN.encode(), self.environ_of_daemon())
        with open(self.daemon_log) as f:
            self.assertNotIn(TOKEN, f.read())

    def test_r_gluetun_protonvpn_environment(self):
        """gluetun's ProtonVPN port forwarding: the port in its status file, its up command
        run with {{PORTS}} and {{VPN_INTERFACE}} expanded, the port reachable; at stop the
        status file is emptied."""
        self.lab.start_fake_gateway(same_port=True, port_min=40000, port_max=40999)
        status_file = os.path.join(self.workdir, "forwarded_port")
        hook_out = os.path.join(self.workdir, "hook.out")
        self.start_headless({
            "VPN_SERVICE_PROVIDER": "protonvpn",
            "VPN_PORT_FORWARDING": "on",
            "VPN_GATEWAY": pmlab.Lab.GW_LAN_ADDR,
            "VPN_PORT_FORWARDING_STATUS_FILE": status_file,
            "VPN_PORT_FORWARDING_UP_COMMAND":
                f"/bin/sh -c 'echo up {{{{PORTS}}}} {{{{VPN_INTERFACE}}}} >> {hook_out}'",
            "VPN_PORT_FORWARDING_PASSWORD": "not-for-hooks",
        })
        m = self.wait_active()
        ports = sorted({p["ExternalPort"] for p in m["Ports"]})

        def file_ports():
            try:
                with open(status_file) as f:
                    return [int(line) for line in f.read().split()]
            except (OSError, ValueError):
                return None

        self.wait_for(lambda: file_ports() == ports, 10, f"status file {file_ports()}")
        route = json.loads(self.lab.run(self.lab.ns_lan, ["ip", "-j", "route", "get",
                                                          pmlab.Lab.GW_LAN_ADDR]).stdout)
        ifname = route[0]["dev"]
        self.wait_for(lambda: os.path.exists(hook_out), 10, "the up command did not run")
        with open(hook_out) as f:
            self.assertEqual(f.read().split(), ["up", ",".join(map(str, ports)), ifname])
        # ProtonVPN forwards E to E: the application listens on the external port
        self.assertTrue(self.lab.tcp_reachable(ports[0], ports[0]))
        self.assertNotIn(b"not-for-hooks", self.environ_of_daemon())
        self.daemon.terminate()
        self.assertEqual(self.daemon.wait(15), 0)
        self.assertEqual(file_ports(), [])

    def pia_dropin(self, pia):
        """What the replaced tools' variables cannot say: the lab's CA and token API."""
        return (f"[Provider pia]\nCAFile={pia.ca}\nTokenURL={pia.token_url}\n"
                f"TokenCAFile={pia.ca}\n")

    def test_w_pia_manager_environment(self):
        """The PIA port-forwarding manager's variables (a short refresh interval): the port
        in PORT_FILE and PORT_DATA_FILE, bound again every interval, the password gone.
        Its environment has no server name: the gateway's chain is verified against the CA
        and the name it presents is logged with a warning."""
        pia = self.lab.start_fake_pia()
        port_file = os.path.join(self.workdir, "pia-port.txt")
        data_file = os.path.join(self.workdir, "pia-port-data.json")
        self.start_headless({"PIA_USER": pia.username, "PIA_PASS": pia.password,
                             "PIA_GATEWAY": pia.address,
                             "PORT_FORWARD_REFRESH_INTERVAL": "2",
                             "PORT_FILE": port_file, "PORT_DATA_FILE": data_file},
                            config=self.pia_dropin(pia))
        m = self.wait_active(timeout=30)
        port = m["ExternalPort"]
        self.assertEqual(port, pia.state()["signatures"][-1]["port"])

        def read(path):
            try:
                with open(path) as f:
                    return f.read()
            except OSError:
                return ""

        self.wait_for(lambda: read(port_file) == f"{port}\n", 10, "PORT_FILE")
        self.wait_for(lambda: read(data_file) and json.loads(read(data_file))["port"] == port,
                      10, "PORT_DATA_FILE")
        bound = len(pia.requests("gateway", "/bindPort", 200))
        self.wait_for(lambda: len(pia.requests("gateway", "/bindPort", 200)) >= bound + 2, 10,
                      "no rebinds")
        self.assertNotIn(pia.password.encode(), self.environ_of_daemon())
        with open(self.daemon_log) as f:
            log = f.read()
        self.assertIn("lab-pia-server", log)
        self.assertNotIn(pia.password, log)

    def test_z_pia_manager_qbittorrent_environment(self):
        """The PIA manager's README example with its qBittorrent integration
        (QBITTORRENT_HOST, _USER, _PASS): a real qbittorrent-nox in lan listens on the PIA
        port, read back through its own API, and the password is gone from the daemon's
        environment."""
        pia = self.lab.start_fake_pia()
        qbt = QbittorrentPeer(self.lab, self.lab.ns_lan, self.workdir, "qbt-pass-9f2c",
                              webui_port=18081, username="webadmin").start()
        self.addCleanup(qbt.stop)
        self.start_headless({"PIA_USER": pia.username, "PIA_PASS": pia.password,
                             "PIA_GATEWAY": pia.address,
                             "PORT_FORWARD_REFRESH_INTERVAL": "2",
                             "PORT_FILE": os.path.join(self.workdir, "pia-port.txt"),
                             "PORT_DATA_FILE": os.path.join(self.workdir, "pia-data.json"),
                             "QBITTORRENT_HOST": qbt.url,
                             "QBITTORRENT_USER": "webadmin",
                             "QBITTORRENT_PASS": qbt.password},
                            config=self.pia_dropin(pia))
        m = self.wait_active(timeout=30)
        port = m["ExternalPort"]
        self.assertEqual(port, pia.state()["signatures"][-1]["port"])
        self.wait_for(lambda: qbt.listen_port() == port, 15,
                      f"qBittorrent listens on {qbt.listen_port()}, not the PIA port {port}")
        self.assertFalse(qbt.preferences()["random_port"])
        self.assertNotIn(b"qbt-pass-9f2c", self.environ_of_daemon())
        with open(self.daemon_log) as f:
            self.assertNotIn("qbt-pass-9f2c", f.read())

    def test_x_gluetun_pia_environment(self):
        """gluetun's PIA port forwarding: SERVER_NAMES is the certificate's name, the port
        in its status file."""
        pia = self.lab.start_fake_pia()
        status_file = os.path.join(self.workdir, "forwarded_port")
        self.start_headless({
            "VPN_SERVICE_PROVIDER": "private internet access",
            "VPN_PORT_FORWARDING": "on",
            "VPN_PORT_FORWARDING_USERNAME": pia.username,
            "VPN_PORT_FORWARDING_PASSWORD": pia.password,
            "VPN_GATEWAY": pia.address,
            "SERVER_NAMES": pia.server_name,
            "VPN_PORT_FORWARDING_STATUS_FILE": status_file,
        }, config=self.pia_dropin(pia))
        m = self.wait_active(timeout=30)
        port = m["ExternalPort"]

        def file_ports():
            try:
                with open(status_file) as f:
                    return [int(x) for x in f.read().split()]
            except (OSError, ValueError):
                return None

        self.wait_for(lambda: file_ports() == [port], 10, f"status file {file_ports()}")
        self.assertNotIn(pia.password.encode(), self.environ_of_daemon())


if __name__ == "__main__":
    unittest.main()
