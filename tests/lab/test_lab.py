#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Tests of the test lab with real peers (miniupnpd 2.3.1, natpmpc) and the fake gateway.

Runs as root; re-executes itself under `unshare --net --mount --pid` (pmlab.reexec_in_private_netns)
so that everything happens in namespaces of its own.  Every test brings up a fresh lab.
`test_lab.py --list-tests` prints the test ids (used by meson at configure time).
"""

import json
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
import unittest

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import pmlab  # noqa: E402
from pmlab import Lab, wait_for  # noqa: E402

TOOLS = ("ip", "nft", "ss", "timeout", "unshare", "sysctl", "miniupnpd", "natpmpc")


class LabTestCase(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        # a missing tool or privilege is a failure, never a skip
        missing = [t for t in TOOLS if not shutil.which(t)]
        assert not missing, f"missing tools: {missing}"
        assert os.geteuid() == 0, "the lab tests need root"
        assert os.environ.get("PMLAB_UNSHARED") == "1", \
            "call pmlab.reexec_in_private_netns() first"

    def lab(self, **kw):
        lab = Lab(**kw)
        self.addCleanup(self._down, lab)
        return lab.up()

    def _down(self, lab):
        outcome = getattr(self, "_outcome", None)
        if outcome is not None and not getattr(outcome, "success", True):
            lab.failed = True            # PMLAB_KEEP=1 keeps its workdir
        lab.down()

    def natpmpc_ok(self, lab, *args, **kw):
        r = lab.natpmpc(*args, **kw)
        self.assertIn("Public IP address : 11.0.0.2", r["stdout"])
        return r

    def assert_caller_is_a_fresh_namespace(self):
        """Negative tests change the caller's namespace: only ever our own unshared one."""
        links = json.loads(subprocess.run(["ip", "-j", "link", "show"], capture_output=True,
                                          text=True, check=True, timeout=10).stdout)
        self.assertEqual([link["ifname"] for link in links], ["lo"],
                         "refusing to modify a namespace that is not the test's own")


class TestLab(LabTestCase):
    # --- sealing -------------------------------------------------------------------------------
    def test_up_is_sealed(self):
        lab = self.lab(gateway=None)
        lab.assert_sealed()
        listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True,
                                check=True, timeout=10).stdout
        for ns in lab.namespaces:
            self.assertIn(ns, listed)
            self.assertTrue(ns.endswith("-" + lab.suffix))
        for (_, a, _), (_, b, _) in lab.links:
            self.assertLessEqual(len(a), 15)
            self.assertLessEqual(len(b), 15)
        self.assertEqual(lab.run(lab.ns_gw, ["sysctl", "-n", "net.ipv4.ip_forward"]).stdout.strip(),
                         "1")
        self.assertEqual(lab.run(lab.ns_inet, ["ip", "route", "show", "default"]).stdout, "")
        self.assertIn(f"default via {lab.GW_LAN_ADDR}",
                      lab.run(lab.ns_lan, ["ip", "route"]).stdout)
        self.assertIn(f"default via {lab.INET_ADDR}", lab.run(lab.ns_gw, ["ip", "route"]).stdout)
        ruleset = lab.run(lab.ns_gw, ["nft", "list", "ruleset"]).stdout
        for needle in ("policy drop", "jump miniupnpd", "ct state established,related accept",
                       f'iifname "{lab.if_gw_lan}" oifname "{lab.if_gw_wan}" accept',
                       f'oifname "{lab.if_gw_wan}" masquerade', "jump prerouting_miniupnpd",
                       "jump postrouting_miniupnpd"):
            self.assertIn(needle, ruleset)

    def test_lan_reaches_inet_through_nat(self):
        lab = self.lab(gateway=None)
        # a listener in inet sees the connection from the gw's WAN address (masquerade)
        echo = lab.spawn(lab.ns_inet, [pmlab.PYTHON, "-B", pmlab.PMLAB, "helper", "tcp-echo",
                                       "8000", "30"], stdout=subprocess.PIPE)
        lab._expect_ready(echo)
        cp = lab.run(lab.ns_lan, [pmlab.PYTHON, "-B", pmlab.PMLAB, "helper", "tcp-probe",
                                  lab.INET_ADDR, "8000", "hello", "5"], check=False)
        self.assertEqual(cp.returncode, 0, cp.stderr)
        self.assertEqual(pmlab._read_line(echo, 5).split()[:2], ["CONN", lab.GW_WAN_ADDR],
                         "inet must see the connection from the gw's WAN address")
        # and nothing in inet reaches the lan's private address (no route, no leak)
        cp = lab.run(lab.ns_inet, [pmlab.PYTHON, "-B", pmlab.PMLAB, "helper", "tcp-probe",
                                   lab.LAN_ADDR, "8000", "hello", "2"], check=False)
        self.assertNotEqual(cp.returncode, 0)

    def test_no_name_lookups_leave_the_lab(self):
        lab = self.lab(gateway=None)
        for ns in lab.namespaces:
            with open(f"/etc/netns/{ns}/resolv.conf") as f:
                self.assertIn("nameserver 127.0.0.1", f.read())
            self.assertIn("nameserver 127.0.0.1", lab.run(ns, ["cat", "/etc/resolv.conf"]).stdout)
        t = time.monotonic()
        cp = lab.run(lab.ns_lan, [pmlab.PYTHON, "-c",
                                  "import socket; socket.getaddrinfo('example.com', 80)"],
                     check=False)
        self.assertNotEqual(cp.returncode, 0)
        self.assertLess(time.monotonic() - t, 5, "a lookup should fail at once")

    def test_sealing_detects_a_veth_peer_in_the_callers_namespace(self):
        lab = self.lab(gateway=None)
        self.assert_caller_is_a_fresh_namespace()
        leak, peer = f"px0-{lab.suffix}", f"py0-{lab.suffix}"
        # deliberately: one end in lan, the other in the test's own (unshared) namespace
        lab.run(None, ["ip", "link", "add", "name", leak, "netns", lab.ns_lan, "type", "veth",
                       "peer", "name", peer])
        try:
            with self.assertRaisesRegex(AssertionError, rf"{leak} has its peer in an unnamed"):
                lab.assert_sealed()
        finally:
            lab.run(None, ["ip", "link", "del", peer])
        lab.assert_sealed()

    def test_sealing_detects_lab_addresses_outside_and_inet_escapes(self):
        lab = self.lab(gateway=None)
        self.assert_caller_is_a_fresh_namespace()
        lab.run(None, ["ip", "addr", "add", "11.0.0.9/32", "dev", "lo"])
        try:
            with self.assertRaisesRegex(AssertionError, "caller's namespace: lo has lab address"):
                lab.assert_sealed()
        finally:
            lab.run(None, ["ip", "addr", "del", "11.0.0.9/32", "dev", "lo"])
        lab.run(lab.ns_inet, ["ip", "route", "add", "default", "via", lab.GW_WAN_ADDR])
        with self.assertRaisesRegex(AssertionError, "has a default route"):
            lab.assert_sealed()
        lab.run(lab.ns_inet, ["ip", "route", "del", "default"])
        # a second veth into inet: still lab namespaces on both ends, but inet must have one
        a, b = f"pq0-{lab.suffix}", f"pq1-{lab.suffix}"
        lab.run(None, ["ip", "link", "add", "name", a, "netns", lab.ns_lan, "type", "veth",
                       "peer", "name", b, "netns", lab.ns_inet])
        with self.assertRaisesRegex(AssertionError, "has 2 veths"):
            lab.assert_sealed()
        lab.run(lab.ns_lan, ["ip", "link", "del", a])
        lab.assert_sealed()

    # --- miniupnpd + natpmpc (real peers) --------------------------------------------------------
    def test_natpmpc_tcp_mapping_carries_traffic(self):
        lab = self.lab()
        r = self.natpmpc_ok(lab, "-a", "7001", "7001", "tcp", "120")
        self.assertEqual(r["mapping"], {"external_port": 7001, "protocol": "tcp",
                                        "internal_port": 7001, "lifetime": 120})
        self.assertIn(f"dnat ip to {lab.LAN_ADDR}:7001", lab.miniupnpd_rules())
        self.assertTrue(lab.tcp_reachable(7001, 7001), lab.last_probe.stderr)
        self.assertFalse(lab.tcp_reachable(7002, 7002), "an unmapped port must not be reachable")
        self.assertFalse(lab.udp_reachable(7001, 7001), "TCP mapping must not carry UDP")

    def test_natpmpc_udp_mapping_carries_traffic(self):
        lab = self.lab()
        r = self.natpmpc_ok(lab, "-a", "7001", "7001", "udp", "120")
        self.assertEqual(r["mapping"]["protocol"], "udp")
        self.assertTrue(lab.udp_reachable(7001, 7001), lab.last_probe.stderr)
        self.assertFalse(lab.udp_reachable(7002, 7002), "an unmapped port must not be reachable")
        self.assertFalse(lab.tcp_reachable(7001, 7001), "UDP mapping must not carry TCP")

    def test_mapping_to_another_internal_port(self):
        lab = self.lab()
        r = self.natpmpc_ok(lab, "-a", "20001", "7100", "tcp", "120")
        self.assertEqual((r["mapping"]["external_port"], r["mapping"]["internal_port"]),
                         (20001, 7100))
        self.assertTrue(lab.tcp_reachable(20001, 7100), lab.last_probe.stderr)
        self.assertFalse(lab.tcp_reachable(7100, 7100))

    def test_deleted_mapping_carries_no_traffic(self):
        lab = self.lab()
        self.natpmpc_ok(lab, "-a", "7001", "7001", "tcp", "3600")
        self.assertTrue(lab.tcp_reachable(7001, 7001))
        r = self.natpmpc_ok(lab, "-a", "7001", "7001", "tcp", "0")
        self.assertEqual(r["mapping"]["lifetime"], 0)
        self.assertNotIn("7001", lab.miniupnpd_rules())
        self.assertFalse(lab.tcp_reachable(7001, 7001))

    def test_reboot_miniupnpd_resets_epoch_and_rules(self):
        lab = self.lab()
        first_start = lab.miniupnpd_started
        first_pid = lab.miniupnpd_pid
        self.natpmpc_ok(lab, "-a", "7001", "7001", "tcp", "3600")
        self.assertTrue(lab.tcp_reachable(7001, 7001))
        # the epoch counts seconds of uptime (poll until it has grown)
        before = wait_for(lambda: (lambda e: e if e >= 3 else None)(lab.natpmpc()["epoch"]),
                          10, interval=0.25, message="miniupnpd's epoch does not grow")
        self.assertLessEqual(before, time.monotonic() - first_start + 1)
        started = lab.reboot_miniupnpd()
        self.assertEqual(started, lab.miniupnpd_started)
        self.assertGreater(started, first_start)
        self.assertNotEqual(lab.miniupnpd_pid, first_pid)
        self.assertFalse(pmlab.pid_alive(first_pid))
        after = lab.natpmpc()["epoch"]
        self.assertLess(after, before)
        self.assertLessEqual(after, time.monotonic() - started + 1)
        self.assertNotIn("7001", lab.miniupnpd_rules())
        self.assertFalse(os.path.exists(lab.miniupnpd_leases))
        self.assertFalse(lab.tcp_reachable(7001, 7001), "rebooted gateway must forget mappings")
        # and a new request recreates it
        self.natpmpc_ok(lab, "-a", "7001", "7001", "tcp", "3600")
        self.assertTrue(lab.tcp_reachable(7001, 7001))

    def test_stop_and_start_miniupnpd(self):
        lab = self.lab()
        pid = lab.miniupnpd_pid
        lab.stop_miniupnpd()
        self.assertFalse(pmlab.pid_alive(pid))
        self.assertEqual(lab._udp_listener_pid(lab.ns_gw, lab.GW_LAN_ADDR, 5351), set())
        lab.start_miniupnpd()
        self.natpmpc_ok(lab)

    def test_miniupnpd_sigusr1_announcement_reaches_lan(self):
        lab = self.lab()
        listener = lab._helper(lab.ns_lan, ["mcast-listen", "224.0.0.1", "5350", lab.LAN_ADDR,
                                            "1", "10"])
        lab._expect_ready(listener)
        os.kill(lab.miniupnpd_pid, 10)   # SIGUSR1: miniupnpd announces
        pkt = json.loads(pmlab._read_line(listener, 10) or "null")
        self.assertIsNotNone(pkt, "no announcement received in lan")
        data = bytes.fromhex(pkt["hex"])
        self.assertEqual(pkt["src"], lab.GW_LAN_ADDR)
        self.assertEqual(len(data), 12)
        self.assertEqual(data[:4], bytes([0, 128, 0, 0]))
        self.assertEqual(data[8:], socket.inet_aton(lab.GW_WAN_ADDR))

    # --- the fake gateway in the lab -------------------------------------------------------------
    def test_fake_gateway_answers_natpmpc(self):
        lab = self.lab(gateway="fake", grant_lifetime=60)
        self.assertIsNone(lab.miniupnpd_pid)
        lab.fake.set(epoch_offset=4600000)
        r = self.natpmpc_ok(lab, "-a", "7003", "7003", "tcp", "3600")
        self.assertEqual(r["mapping"], {"external_port": 7003, "protocol": "tcp",
                                        "internal_port": 7003, "lifetime": 60})
        self.assertGreaterEqual(r["epoch"], 4600000)
        entries = [e for e in lab.fake.log() if e["op"] == 2]
        self.assertEqual((entries[0]["src"], entries[0]["internal_port"],
                          entries[0]["lifetime"]), (lab.LAN_ADDR, 7003, 3600))
        self.assertEqual(lab.fake.mappings()[0]["client"], lab.LAN_ADDR)
        self.assertTrue(lab.tcp_reachable(7003, 7003), lab.last_probe.stderr)
        self.assertFalse(lab.tcp_reachable(7004, 7004))
        # scripted failure
        lab.fake.set(result=2)
        r = lab.natpmpc("-a", "7005", "7005", "tcp", "60", check=False)
        self.assertIsNone(r["mapping"])
        self.assertNotEqual(r["returncode"], 0)
        lab.fake.set(result=None)
        # a gateway that lost its state: epoch 0, mapping and its rules gone
        t_reset = time.monotonic()
        lab.fake.reset_epoch()
        self.assertLessEqual(lab.natpmpc()["epoch"], time.monotonic() - t_reset + 1)
        self.assertEqual(lab.fake.mappings(), [])
        self.assertNotIn("7003", lab.miniupnpd_rules())
        self.assertFalse(lab.tcp_reachable(7003, 7003))

    def test_fake_gateway_same_port_carries_udp(self):
        lab = self.lab(gateway="fake")
        lab.fake.set(same_port=True, grant_lifetime=60)
        r = self.natpmpc_ok(lab, "-a", "1", "0", "udp", "60")
        port = r["mapping"]["external_port"]
        self.assertEqual((r["mapping"]["internal_port"], r["mapping"]["lifetime"]), (0, 60))
        self.assertTrue(lab.udp_reachable(port, port), lab.last_probe.stderr)

    def test_fake_gateway_announcement_reaches_lan(self):
        lab = self.lab(gateway="fake")
        lab.fake.set(epoch_offset=1234)
        listener = lab._helper(lab.ns_lan, ["mcast-listen", "224.0.0.1", "5350", lab.LAN_ADDR,
                                            "2", "10"])
        lab._expect_ready(listener)
        lab.fake.announce(2)
        got = [json.loads(pmlab._read_line(listener, 10) or "null") for _ in range(2)]
        self.assertNotIn(None, got, "announcement not received in lan")
        for pkt in got:
            data = bytes.fromhex(pkt["hex"])
            self.assertEqual(pkt["src"], lab.GW_LAN_ADDR)
            self.assertEqual(pkt["sport"], 5351)
            self.assertEqual(data[:4], bytes([0, 128, 0, 0]))
            self.assertTrue(1234 <= struct.unpack("!I", data[4:8])[0] <= 1240)
            self.assertEqual(data[8:], socket.inet_aton(lab.GW_WAN_ADDR))
        gap = (got[1]["t_ns"] - got[0]["t_ns"]) / 1e9
        self.assertGreaterEqual(gap, 0.23)
        sent = lab.fake.announcements()
        self.assertEqual([s["dest"] for s in sent], ["224.0.0.1:5350"] * 2)

    def test_switch_between_miniupnpd_and_fake(self):
        lab = self.lab()
        ctl = lab.start_fake_gateway(grant_lifetime=30)
        self.assertIsNone(lab.miniupnpd_pid, "miniupnpd must make way for the fake")
        self.assertEqual(self.natpmpc_ok(lab, "-a", "7001", "7001", "udp", "60")
                         ["mapping"]["lifetime"], 30)
        self.assertTrue(lab.udp_reachable(7001, 7001))
        lab.stop_fake_gateway()
        self.assertFalse(pmlab.pid_alive(ctl.pid))
        self.assertNotIn("7001", lab.miniupnpd_rules(), "the fake removes its rules on exit")
        lab.start_miniupnpd()
        self.assertEqual(self.natpmpc_ok(lab, "-a", "7001", "7001", "udp", "60")
                         ["mapping"]["lifetime"], 60)

    # --- teardown ------------------------------------------------------------------------------
    def test_down_leaves_nothing(self):
        for gateway in ("miniupnpd", "fake"):
            lab = self.lab(gateway=gateway)
            extra = lab.spawn(lab.ns_lan, ["sleep", "300"])
            # a process started in a lab namespace without the lab knowing
            lab.run(lab.ns_inet, ["sh", "-c", "setsid sleep 301 >/dev/null 2>&1 &"])
            stray = wait_for(lambda: [int(p) for p in lab.run(
                None, ["ip", "netns", "pids", lab.ns_inet]).stdout.split()], 5)
            pids = [t.pid for t in lab.tracked()] + stray
            self.assertIn(extra.pid, pids)
            starts = {pid: pmlab.proc_starttime(pid) for pid in pids}
            workdir = lab.workdir
            lab.down()
            listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True,
                                    timeout=10).stdout
            for ns in lab.namespaces:
                self.assertNotIn(ns, listed)
                self.assertFalse(os.path.exists(f"/etc/netns/{ns}"))
            for pid in pids:
                self.assertFalse(pmlab.pid_alive(pid, starts[pid]), f"pid {pid} survived")
            self.assertFalse(os.path.exists(workdir))
            self.assertEqual(lab.tracked(), [])
            lab.down()   # idempotent

    def test_failed_up_cleans_up(self):
        lab = Lab(gateway="miniupnpd")

        def broken():
            raise RuntimeError("injected failure")

        lab.start_miniupnpd = broken
        with self.assertRaisesRegex(RuntimeError, "injected failure"):
            lab.up()
        listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True,
                                timeout=10).stdout
        for ns in lab.namespaces:
            self.assertNotIn(ns, listed)
            self.assertFalse(os.path.exists(f"/etc/netns/{ns}"))
        self.assertFalse(os.path.exists(lab.workdir))

    def test_state_is_shared_between_processes(self):
        tmp = tempfile.mkdtemp(prefix="pmlab-state-test-")
        self.addCleanup(shutil.rmtree, tmp, True)
        state = os.path.join(tmp, "state.json")
        lab = self.lab(gateway="fake", state_path=state)
        with open(state) as f:
            st = json.load(f)
        self.assertEqual(st["suffix"], lab.suffix)
        self.assertEqual(st["fake"]["pid"], lab.fake.pid)
        self.assertIn(lab.fake.pid, [p["pid"] for p in st["processes"]])
        # another process (tests/lab/down) loads it and tears the lab down
        code = ("import sys; sys.path.insert(0, %r); import pmlab; "
                "lab = pmlab.Lab.load_state(%r); print(lab.fake.epoch()); lab.down()"
                % (HERE, state))
        cp = subprocess.run([pmlab.PYTHON, "-B", "-c", code], capture_output=True, text=True,
                            timeout=60)
        self.assertEqual(cp.returncode, 0, cp.stderr)
        self.assertTrue(re.fullmatch(r"\d+\n", cp.stdout), cp.stdout)
        for ns in lab.namespaces:
            self.assertFalse(os.path.exists(os.path.join(pmlab.RUN_NETNS, ns)))
        self.assertFalse(pmlab.pid_alive(st["fake"]["pid"]))


class TestDoubleLab(LabTestCase):
    """topology="double": lan - router (portmapd's place) - gw (the VPN gateway) - inet."""

    def echo_in(self, lab, ns, proto, port, addr="0.0.0.0"):
        echo = lab._helper(ns, [f"{proto}-echo", str(port), "30", addr])
        lab._expect_ready(echo)
        return echo

    def probe(self, lab, ns, proto, host, port, timeout=3):
        return lab.run(ns, [pmlab.PYTHON, "-B", pmlab.PMLAB, "helper", f"{proto}-probe", host,
                            str(port), "hello", str(timeout)], check=False)

    def scratch_dnat(self, lab, proto, tunnel_port, client, port):
        """What portmapd's nftables backend will do, by hand: T on the VPN side -> client:P,
        in a scratch table of the router's (the table goes with the namespace)."""
        lab.run(lab.ns_router, ["nft", "-f", "-"], input=(
            "table ip pmscratch {\n\tchain prerouting {\n"
            "\t\ttype nat hook prerouting priority -100; policy accept;\n\t}\n}\n"))
        lab.run(lab.ns_router, ["nft", "add", "rule", "ip", "pmscratch", "prerouting",
                                "iifname", lab.if_router_vpn, proto, "dport", str(tunnel_port),
                                "dnat", "to", f"{client}:{port}"])

    def test_double_up_is_sealed(self):
        lab = self.lab(gateway=None, topology="double")
        lab.assert_sealed()
        s = lab.suffix
        self.assertEqual(lab.namespaces, [f"lan-{s}", f"router-{s}", f"gw-{s}", f"inet-{s}"])
        self.assertEqual((lab.ns_vpn, lab.upstream_gateway), (lab.ns_gw, "10.2.0.1"))
        listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True,
                                check=True, timeout=10).stdout
        for ns in lab.namespaces:
            self.assertIn(ns, listed)
        for (_, a, _), (_, b, _) in lab.links:
            self.assertLessEqual(len(a), 15)
            self.assertLessEqual(len(b), 15)
        for ns in (lab.ns_router, lab.ns_gw):
            self.assertEqual(lab.run(ns, ["sysctl", "-n", "net.ipv4.ip_forward"]).stdout.strip(),
                             "1", f"{ns} must forward")
        self.assertEqual(lab.run(lab.ns_inet, ["ip", "route", "show", "default"]).stdout, "")
        lan_addrs = lab.run(lab.ns_lan, ["ip", "-4", "addr", "show", "dev", lab.if_lan]).stdout
        for addr in (lab.LAN_ADDR, lab.LAN_ADDR2):
            self.assertIn(f"inet {addr}/24", lan_addrs)
        self.assertIn("default via 192.168.77.1", lab.run(lab.ns_lan, ["ip", "route"]).stdout)
        self.assertIn("default via 10.2.0.1", lab.run(lab.ns_router, ["ip", "route"]).stdout)
        self.assertIn("default via 11.0.0.1", lab.run(lab.ns_gw, ["ip", "route"]).stdout)
        vpn = lab.run(lab.ns_router, ["ip", "-4", "addr", "show", "dev", lab.if_router_vpn]).stdout
        self.assertIn("inet 10.2.0.2/24", vpn)
        # the VPN gateway knows nothing of the LAN (as a real VPN server)
        self.assertNotIn("192.168.77", lab.run(lab.ns_gw, ["ip", "route"]).stdout)
        router = lab.run(lab.ns_router, ["nft", "list", "ruleset"]).stdout
        for needle in ("policy drop", "ct state established,related accept",
                       "ct status dnat accept",
                       f'iifname "{lab.if_router_lan}" oifname "{lab.if_router_vpn}" accept',
                       f'oifname "{lab.if_router_vpn}" masquerade'):
            self.assertIn(needle, router)
        self.assertNotIn("miniupnpd", router, "the router has no miniupnpd skeleton")
        gw = lab.run(lab.ns_gw, ["nft", "list", "ruleset"]).stdout
        for needle in ("jump miniupnpd", f'oifname "{lab.if_gw_wan}" masquerade',
                       f'iifname "{lab.if_gw_lan}" oifname "{lab.if_gw_wan}" accept'):
            self.assertIn(needle, gw)
        # the helper that drops `ct status dnat accept` (portmapd's start-up warning) and back
        lab.load_router_firewall(dnat_accept=False)
        router = lab.run(lab.ns_router, ["nft", "list", "ruleset"]).stdout
        self.assertNotIn("ct status dnat", router)
        self.assertIn("policy drop", router)
        lab.load_router_firewall()
        self.assertIn("ct status dnat accept",
                      lab.run(lab.ns_router, ["nft", "list", "ruleset"]).stdout)
        # a 10.2.0.x address in the caller's namespace is a leak in this topology
        self.assert_caller_is_a_fresh_namespace()
        lab.run(None, ["ip", "addr", "add", "10.2.0.9/32", "dev", "lo"])
        try:
            with self.assertRaisesRegex(AssertionError, "caller's namespace: lo has lab address"):
                lab.assert_sealed()
        finally:
            lab.run(None, ["ip", "addr", "del", "10.2.0.9/32", "dev", "lo"])

    def test_double_router_and_lan_reach_inet_through_two_nats(self):
        lab = self.lab(gateway=None, topology="double")
        echo = self.echo_in(lab, lab.ns_inet, "tcp", 8000)
        for ns in (lab.ns_router, lab.ns_lan):
            cp = self.probe(lab, ns, "tcp", lab.INET_ADDR, 8000)
            self.assertEqual(cp.returncode, 0, f"{ns} -> inet: {cp.stderr}")
            self.assertEqual(pmlab._read_line(echo, 5).split()[:2], ["CONN", lab.GW_WAN_ADDR],
                             f"inet must see {ns}'s connection from the gw's WAN address")
        # nothing in inet reaches the router's VPN address or the LAN (no route, no leak)
        for addr in (lab.ROUTER_VPN_ADDR, lab.LAN_ADDR):
            self.assertNotEqual(self.probe(lab, lab.ns_inet, "tcp", addr, 8000, 2).returncode, 0)

    def test_double_miniupnpd_answers_the_router(self):
        lab = self.lab(topology="double")
        r = self.natpmpc_ok(lab, ns=lab.ns_router, gateway="10.2.0.1")
        self.assertEqual(r["public_address"], "11.0.0.2")
        # natpmpc's default from the router is the VPN gateway; from lan, the router
        self.assertEqual(self.natpmpc_ok(lab, ns=lab.ns_router)["public_address"], "11.0.0.2")
        self.assertEqual(lab._udp_listener_pid(lab.ns_gw, "10.2.0.1", 5351), {lab.miniupnpd_pid})
        r = self.natpmpc_ok(lab, "-a", "40001", "40001", "tcp", "120", ns=lab.ns_router)
        self.assertEqual(r["mapping"]["internal_port"], 40001)
        self.assertIn(f"dnat ip to {lab.ROUTER_VPN_ADDR}:40001", lab.miniupnpd_rules())
        # and nothing answers NAT-PMP on the router yet (portmapd's place)
        self.assertIsNone(lab.natpmp_raw(lab.ns_lan, b"\0\0", lab.ROUTER_LAN_ADDR, timeout=0.5,
                                         expect_reply=False))

    def test_double_nat_path_carries_traffic(self):
        """The path portmapd's gateway builds: miniupnpd maps E -> 10.2.0.2:T, a DNAT in the
        router forwards T to the client: inet reaches lan through both NATs."""
        lab = self.lab(topology="double")
        r = self.natpmpc_ok(lab, "-a", "40001", "40001", "tcp", "120", ns=lab.ns_router)
        e_tcp = r["mapping"]["external_port"]
        r = self.natpmpc_ok(lab, "-a", "40002", "40002", "udp", "120", ns=lab.ns_router)
        e_udp = r["mapping"]["external_port"]
        self.assertFalse(lab.tcp_reachable(e_tcp, 7001, timeout=2),
                         "reachable before the router forwards T: the proof cannot fail")
        self.scratch_dnat(lab, "tcp", 40001, lab.LAN_ADDR, 7001)
        self.scratch_dnat(lab, "udp", 40002, lab.LAN_ADDR2, 7002)
        self.assertTrue(lab.tcp_reachable(e_tcp, 7001), lab.last_probe.stderr)
        self.assertTrue(lab.udp_reachable(e_udp, 7002, lan_addr=lab.LAN_ADDR2),
                        lab.last_probe.stderr)
        # the listener is bound to the client's address: the other client does not count
        self.assertFalse(lab.udp_reachable(e_udp, 7002, timeout=2),
                         "LAN_ADDR's listener answered for LAN_ADDR2's mapping")
        # the router's forward chain drops what is not accepted: `ct status dnat accept` counts
        lab.load_router_firewall(dnat_accept=False)
        self.assertFalse(lab.tcp_reachable(e_tcp, 7001, timeout=2),
                         "DNATed traffic passed without `ct status dnat accept`")
        lab.load_router_firewall(dnat_accept=True)
        self.assertTrue(lab.tcp_reachable(e_tcp, 7001), lab.last_probe.stderr)

    def test_double_fake_gateway_on_the_vpn_address(self):
        lab = self.lab(gateway="fake", topology="double", grant_lifetime=60)
        self.assertEqual(lab._udp_listener_pid(lab.ns_gw, "10.2.0.1", 5351), {lab.fake.pid})
        r = self.natpmpc_ok(lab, "-a", "40003", "40003", "tcp", "3600", ns=lab.ns_router)
        self.assertEqual(r["mapping"]["lifetime"], 60)
        entries = [e for e in lab.fake.log() if e["op"] == 2]
        self.assertEqual(entries[0]["src"], lab.ROUTER_VPN_ADDR)
        self.scratch_dnat(lab, "tcp", 40003, lab.LAN_ADDR, 7003)
        self.assertTrue(lab.tcp_reachable(r["mapping"]["external_port"], 7003),
                        lab.last_probe.stderr)
        # SamePort (ProtonVPN): E forwarded to E, T := E
        lab.fake.set(same_port=True)
        r = self.natpmpc_ok(lab, "-a", "1", "0", "udp", "60", ns=lab.ns_router)
        port = r["mapping"]["external_port"]
        self.scratch_dnat(lab, "udp", port, lab.LAN_ADDR, 7004)
        self.assertTrue(lab.udp_reachable(port, 7004), lab.last_probe.stderr)

    def test_double_natpmp_raw_probe(self):
        lab = self.lab(topology="double")
        # a public-address request from the router to miniupnpd, exact bytes but the epoch
        reply = lab.natpmp_raw(lab.ns_router, b"\0\0", lab.upstream_gateway)
        self.assertIsNotNone(reply, "miniupnpd did not answer the raw probe")
        self.assertEqual(len(reply), 12)
        self.assertEqual(reply[:4], bytes([0, 128, 0, 0]))
        self.assertEqual(reply[8:], socket.inet_aton(lab.GW_WAN_ADDR))
        # several at once
        replies = lab.natpmp_raw_many(lab.ns_router, [b"\0\0"] * 5, lab.upstream_gateway)
        self.assertEqual(len(replies), 5)
        # src_addr makes LAN_ADDR2 the sender: an echo in the router sees it (and echoes)
        echo = self.echo_in(lab, lab.ns_router, "udp", 5351, lab.ROUTER_LAN_ADDR)
        got = lab.natpmp_raw(lab.ns_lan, b"\0\0xyz", lab.ROUTER_LAN_ADDR, src_addr=lab.LAN_ADDR2)
        self.assertEqual(got, b"\0\0xyz")
        self.assertEqual(pmlab._read_line(echo, 5).split()[:2], ["DGRAM", lab.LAN_ADDR2])
        got = lab.natpmp_raw(lab.ns_lan, b"\0\0", lab.ROUTER_LAN_ADDR)
        self.assertEqual(pmlab._read_line(echo, 5).split()[:2], ["DGRAM", lab.LAN_ADDR])
        lab.stop_process(echo)
        # nothing listening: None after the timeout, not an error
        t = time.monotonic()
        self.assertIsNone(lab.natpmp_raw(lab.ns_lan, b"\0\0", lab.ROUTER_LAN_ADDR,
                                         timeout=0.5, expect_reply=False))
        self.assertLess(time.monotonic() - t, 5)

    def test_double_down_leaves_nothing_and_state_is_shared(self):
        tmp = tempfile.mkdtemp(prefix="pmlab-state-test-")
        self.addCleanup(shutil.rmtree, tmp, True)
        state = os.path.join(tmp, "state.json")
        lab = self.lab(topology="double", state_path=state)
        with open(state) as f:
            st = json.load(f)
        self.assertEqual(st["topology"], "double")
        self.assertEqual(st["namespaces"]["router"], lab.ns_router)
        pids = [t.pid for t in lab.tracked()]
        starts = {pid: pmlab.proc_starttime(pid) for pid in pids}
        other = Lab.load_state(state)
        self.assertEqual((other.topology, other.namespaces), (lab.topology, lab.namespaces))
        other.down()
        for ns in lab.namespaces:
            self.assertFalse(os.path.exists(os.path.join(pmlab.RUN_NETNS, ns)), ns)
            self.assertFalse(os.path.exists(f"/etc/netns/{ns}"))
        for pid in pids:
            self.assertFalse(pmlab.pid_alive(pid, starts[pid]), f"pid {pid} survived")


if __name__ == "__main__":
    pmlab.run_tests(TestLab, TestDoubleLab)
