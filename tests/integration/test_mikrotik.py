#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Black-box tests of portmapd's gateway with a MikroTik router (issue 13; design §3
"Gateway", §6 [MikroTik NAME]) in the lab's double NAT, the router being the lab's fake
RouterOS (tests/lab/fakeros.py: the real binary API, each dst-nat rule applied as an
nftables DNAT in the router's namespace):

    lan 192.168.77.2 (+ .3) -- router 192.168.77.1 | 10.2.0.2 (fake RouterOS API) --
        gw 10.2.0.1 | 11.0.0.2 (miniupnpd: the VPN gateway) -- inet

portmapd runs in router (talking to the API on 127.0.0.1), or, as the replaced tool's
container does, on a segment of its own behind the router (pmhost 192.168.78.2, the router
forwarding UDP 5351 to it). The proof is a connection from inet to 11.0.0.2:E reaching a
listener in lan. Each test method is one meson test (suite "lab")."""

import os
import re
import subprocess
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "lab"))
import pmlab  # noqa: E402
from test_gateway import INSTANCE, OTHER_INSTANCE, GatewayTestCase  # noqa: E402
from test_portmapd import PORTMAPD  # noqa: E402

Lab = pmlab.Lab
ROUTER = "hap"
PASSWORD = "ros-pw-5d1c"


class MikrotikTestCase(GatewayTestCase):
    """portmapd in router, the fake RouterOS API on 127.0.0.1:8728 there."""
    ros_options = {}
    api_address = "127.0.0.1"

    def setUp(self):
        super().setUp()
        self.ros = self.start_ros(**self.ros_options)
        self.password_file = os.path.join(self.workdir, "mikrotik.pass")
        fd = os.open(self.password_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(PASSWORD + "\n")

    def start_ros(self, **options):
        options.setdefault("password", PASSWORD)
        return self.lab.start_fake_routeros(**options)

    def mikrotik_config(self, extra="", address=None, password_file=None):
        return (f"[MikroTik {ROUTER}]\nAddress={address or self.api_address}\n"
                f"Username=portmap\nPasswordFile={password_file or self.password_file}\n"
                f"{extra}\n")

    def gateway_config(self, gateway_extra="", provider_extra="", extra="", mikrotik_extra="",
                       listen=Lab.ROUTER_LAN_ADDR):
        return (f"[Provider vpn]\nType=natpmp\nGateway={Lab.VPN_GW_ADDR}\n{provider_extra}\n"
                f"{self.mikrotik_config(mikrotik_extra)}"
                f"[Gateway]\nListen={listen}\nAllowedNetworks={Lab.LAN_NET}\n"
                f"Upstream=vpn\nRouter={ROUTER}\nInstanceName={INSTANCE}\n{gateway_extra}\n"
                f"{extra}")

    # the router's rules are the fake's
    def rules(self):
        return self.ros.rules()

    def comments(self):
        return [r.get("comment") for r in self.rules() if r.get("comment")]

    def add_rule_by_hand(self, comment, proto="tcp", tunnel=40999, client="192.168.77.99",
                         port=7777):
        self.ros.add_rule(chain="dstnat", action="dst-nat", protocol=proto,
                          **{"in-interface": self.lab.if_router_vpn, "dst-port": str(tunnel),
                             "to-addresses": client, "to-ports": str(port),
                             "comment": comment})

    def rule_of(self, comment):
        for r in self.rules():
            if r.get("comment") == comment:
                return r
        return None

    def warnings(self, needle):
        return [line for line in self.log_text().splitlines()
                if "WARNING" in line and needle in line]

    def natpmpc_both(self):
        tcp = self.lab.natpmpc("-a", "7001", "7001", "tcp", "3600", ns=self.lab.ns_lan,
                               gateway=Lab.ROUTER_LAN_ADDR)
        self.assertEqual(tcp["public_address"], Lab.GW_WAN_ADDR,
                         f"natpmpc's public address: {tcp['stdout']}")
        self.assertIsNotNone(tcp["mapping"], f"natpmpc mapped nothing: {tcp['stdout']}")
        udp = self.lab.natpmpc("-a", "7002", "7002", "udp", "3600", ns=self.lab.ns_lan,
                               gateway=Lab.ROUTER_LAN_ADDR)
        self.assertIsNotNone(udp["mapping"], f"natpmpc mapped nothing: {udp['stdout']}")
        e_tcp, e_udp = tcp["mapping"]["external_port"], udp["mapping"]["external_port"]
        self.assertTrue(self.lab.tcp_reachable(e_tcp, 7001),
                        f"a TCP connection from inet to {Lab.GW_WAN_ADDR}:{e_tcp} did not reach "
                        f"lan's {Lab.LAN_ADDR}:7001: {self.lab.last_probe.stderr}")
        self.assertTrue(self.lab.udp_reachable(e_udp, 7002),
                        f"a UDP datagram from inet to {Lab.GW_WAN_ADDR}:{e_udp} did not reach "
                        f"lan's {Lab.LAN_ADDR}:7002: {self.lab.last_probe.stderr}")
        for proto, port, e in (("tcp", 7001, e_tcp), ("udp", 7002, e_udp)):
            tunnel = self.assert_two_layers(proto, Lab.LAN_ADDR, port, e, f"natpmpc {proto}")
            rule = self.rule_of(self.rule_comment(proto, tunnel, Lab.LAN_ADDR, port))
            want = {"chain": "dstnat", "action": "dst-nat", "protocol": proto,
                    "in-interface": self.lab.if_router_vpn, "dst-port": str(tunnel),
                    "to-addresses": Lab.LAN_ADDR, "to-ports": str(port)}
            self.assertEqual({k: rule.get(k) for k in want}, want,
                             f"the dst-nat rule on the router: {rule}")
        return e_tcp, e_udp


class MikrotikTest(MikrotikTestCase):

    def test_mt_a_natpmpc_maps_through_both_nats(self):
        """The in-interface comes from /ip/route/check toward 10.2.0.1 (the router's VPN-side
        veth); the rules are real DNATs in the router; SIGTERM removes both layers and
        leaves another instance's rule."""
        self.start_gateway(self.gateway_config())
        self.natpmpc_both()
        gw = self.gw_describe()
        self.assertEqual((gw["Router"], gw["RouterInterface"], gw["RouterError"]),
                         (ROUTER, self.lab.if_router_vpn, None), gw)
        stats = self.ros.stats()
        self.assertIn("/ip/route/check", [c["command"] for c in stats["commands"]],
                      "the in-interface was not asked of the router")
        self.assertLessEqual(stats["logins_ok"], 4, f"more logins than PoolSize=4: {stats}")
        other = self.rule_comment("tcp", 40998, "192.168.77.98", 7778, instance=OTHER_INSTANCE)
        self.add_rule_by_hand(other, tunnel=40998, client="192.168.77.98", port=7778)
        code, took = self.stop_daemon()
        self.assertEqual(code, 0, "portmapd's exit status on SIGTERM")
        self.assertLessEqual(took, 5.0, f"the stop took {took:.1f} s")
        self.assertEqual(self.our_comments(), [], "rules of ours left after SIGTERM")
        self.assertIn(other, self.comments(), "another instance's rule was removed")
        self.assertNotIn(Lab.ROUTER_VPN_ADDR, self.lab.miniupnpd_rules(),
                         "upstream mappings left at the VPN gateway after SIGTERM")

    def test_mt_m_stop_waits_for_a_slow_router(self):
        """A router that takes 400 ms per command: SIGTERM still removes every rule of
        ours (the stop waits for the removals; the upstream deletions alone end in
        milliseconds), within the 5 s bound."""
        self.start_gateway(self.gateway_config())
        self.natpmpc_both()
        self.ros.set(delay_ms=400)
        code, took = self.stop_daemon()
        self.assertEqual(code, 0, "portmapd's exit status on SIGTERM")
        self.assertLessEqual(took, 5.0, f"the stop took {took:.1f} s")
        self.assertEqual(self.our_comments(), [],
                         f"rules of ours left after SIGTERM (the stop took {took:.2f} s)")
        self.assertGreaterEqual(took, 0.4, "the removals cannot have been answered so fast")

    def test_mt_b_dropped_connection_mid_add_rolls_back_both_layers(self):
        """The router applies the add, then the connection drops before its answer: the
        client gets result 3, the rule is found by its comment and removed, the upstream
        mapping is deleted; the next request maps on a new connection."""
        self.start_gateway(self.gateway_config())
        self.ros.fail("/ip/firewall/nat/add", "drop_after")
        self.map("tcp", 7100, rc=3, timeout=15.0)
        self.wait_for(lambda: self.our_comments() == [], 8,
                      f"the rule the dropped add made is left: {self.comments()}")
        self.wait_for(lambda: Lab.ROUTER_VPN_ADDR not in self.lab.miniupnpd_rules(), 8,
                      f"the upstream mapping was not rolled back:\n{self.lab.miniupnpd_rules()}")
        self.wait_for(lambda: not self.gateway_objects(), 5,
                      f"a bus object is left: {self.gateway_objects()}")
        r = self.map("tcp", 7100, timeout=15.0)
        self.assert_two_layers("tcp", Lab.LAN_ADDR, 7100, r["external_port"], "after the drop")
        self.assertTrue(self.lab.tcp_reachable(r["external_port"], 7100))

    def test_mt_c_reconcile_spares_rules_in_flight_and_other_instances(self):
        """Reconciliation every second: an orphan of ours goes; another instance's rule and a
        rule whose add the slow router has applied but not yet answered stay."""
        self.start_gateway(self.gateway_config("ReconcileInterval=1s\n"))
        other = self.rule_comment("tcp", 40998, "192.168.77.98", 7778, instance=OTHER_INSTANCE)
        self.add_rule_by_hand(other, tunnel=40998, client="192.168.77.98", port=7778)
        orphan = self.rule_comment("tcp", 40997, "192.168.77.99", 7777)
        self.add_rule_by_hand(orphan, tunnel=40997)
        self.wait_for(lambda: orphan not in self.comments(), 8,
                      f"reconciliation did not remove the orphan {orphan!r}")
        self.assertIn(other, self.comments(), "reconciliation removed another instance's rule")
        # the add is applied at once and answered 4 s later: reconciliations list it meanwhile
        self.ros.fail("/ip/firewall/nat/add", "slow", delay_ms=4000)
        self.ros.clear_log()
        r = self.map("tcp", 7200, timeout=15.0)
        prints = [c for c in self.ros.stats()["commands"]
                  if c["command"] == "/ip/firewall/nat/print"]
        self.assertGreaterEqual(len(prints), 2, "no reconciliation ran while the add was slow")
        removes = [c for c in self.ros.stats()["commands"]
                   if c["command"] == "/ip/firewall/nat/remove"]
        self.assertEqual(removes, [], "reconciliation removed a rule while it was being added")
        tunnel = self.assert_two_layers("tcp", Lab.LAN_ADDR, 7200, r["external_port"],
                                        "the slow add")
        time.sleep(2.5)     # two more reconciliations: the rule is a live mapping's
        self.assertIn(self.rule_comment("tcp", tunnel, Lab.LAN_ADDR, 7200), self.comments())
        self.assertTrue(self.lab.tcp_reachable(r["external_port"], 7200))
        # a rule of ours removed behind portmapd's back is added again
        rid = self.rule_of(self.rule_comment("tcp", tunnel, Lab.LAN_ADDR, 7200))[".id"]
        self.ros.remove_rule(rid)
        self.wait_for(lambda: self.rule_comment("tcp", tunnel, Lab.LAN_ADDR, 7200)
                      in self.comments(), 8, "a lost rule was not added again")

    def test_mt_d_wrong_password_clear_error_no_retry_storm(self):
        bad = os.path.join(self.workdir, "wrong.pass")
        fd = os.open(bad, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write("not-the-password\n")
        config = self.gateway_config().replace(self.password_file, bad)
        self.start_gateway(config)
        for port in (7301, 7302, 7303):
            self.map("tcp", port, rc=3, timeout=15.0)
        self.wait_for(lambda: self.warnings("invalid user name or password"), 5,
                      "no warning quoting the router's login refusal")
        time.sleep(3)
        stats = self.ros.stats()
        self.assertGreaterEqual(stats["login_failures"], 1, stats)
        self.assertLessEqual(stats["login_failures"], 4,
                             f"a retry storm: {stats['login_failures']} refused logins")
        self.assertNotIn("not-the-password", self.log_text(), "the password is in the log")
        self.assertIn("invalid user name or password", self.gw_describe()["RouterError"] or "")
        status = self.ctl("status").stdout
        self.assertRegex(status, r"Gateway router: hap\b.*\n.*last error: .*invalid user name "
                                 r"or password", status)
        self.assertEqual(self.comments(), [])
        self.assertNotIn(Lab.ROUTER_VPN_ADDR, self.lab.miniupnpd_rules(),
                         "an upstream mapping is left for a refused rule")

    def test_mt_e_no_interface_is_a_clear_error_and_in_interface_overrides(self):
        """/ip/route/check refused (no such command, no test policy): every mapping fails
        with an error naming InInterface=, never a guessed interface; with InInterface= it
        works without asking."""
        self.ros.set(route_check="trap")
        self.start_gateway(self.gateway_config())
        self.map("tcp", 7401, rc=3, timeout=15.0)
        self.wait_for(lambda: self.warnings("set InInterface="), 5,
                      "no warning saying to set InInterface=")
        self.assertEqual(self.comments(), [], "a rule was added without an interface")
        self.assertIn("InInterface=", self.gw_describe()["RouterError"] or "")
        self.stop_daemon()
        self.ros.clear_log()
        self.start_gateway(self.gateway_config(mikrotik_extra=f"InInterface="
                                               f"{self.lab.if_router_vpn}\n"))
        r = self.map("tcp", 7402, timeout=15.0)
        self.assert_two_layers("tcp", Lab.LAN_ADDR, 7402, r["external_port"], "InInterface=")
        self.assertNotIn("/ip/route/check", [c["command"] for c in self.ros.stats()["commands"]])
        self.assertTrue(self.lab.tcp_reachable(r["external_port"], 7402))

    def test_mt_f_kill9_restart_readopts_without_duplicates(self):
        config = self.gateway_config()
        self.start_gateway(config)
        r = self.map("udp", 7500)
        tunnel = self.assert_two_layers("udp", Lab.LAN_ADDR, 7500, r["external_port"], "UDP")
        comment = self.rule_comment("udp", tunnel, Lab.LAN_ADDR, 7500)
        state = os.path.join(self.state_dir, "state.json")
        self.wait_for(lambda: os.path.exists(state) and str(tunnel) in open(state).read(), 5,
                      "the state never held the LAN mapping")
        self.daemon.kill()
        self.daemon.wait()
        self.daemon = None
        self.wait_for(lambda: not self.name_has_owner(), 5, "the bus name outlived kill -9")
        self.start_gateway(config)
        self.daemon_started = None
        self.wait_for(lambda: self.gw_entry(Lab.LAN_ADDR, "udp", 7500), 10,
                      "the LAN mapping was not restored")
        time.sleep(1)
        self.assertEqual(self.comments().count(comment), 1,
                         f"the restored rule was added twice: {self.comments()}")
        self.assertTrue(self.lab.udp_reachable(r["external_port"], 7500))


class MikrotikOldAndNewTest(MikrotikTestCase):
    """RouterOS 7.18's `!empty` for an empty print, and the pre-6.43 challenge login."""
    ros_options = {"empty": True, "legacy_login": True}

    def test_mt_g_empty_replies_and_legacy_login(self):
        self.start_gateway(self.gateway_config())
        r = self.map("tcp", 7600, timeout=15.0)
        self.assert_two_layers("tcp", Lab.LAN_ADDR, 7600, r["external_port"], "TCP 7600")
        self.assertTrue(self.lab.tcp_reachable(r["external_port"], 7600))
        self.assertGreaterEqual(self.ros.stats()["logins_ok"], 1)


class MikrotikTlsTest(MikrotikTestCase):
    """API-SSL: the router's certificate verified with CAFile=, or pinned by Fingerprint=."""
    ros_options = {"listen": [], "tls": [f"{Lab.ROUTER_LAN_ADDR}:8729"],
                   "anon_tls": [f"{Lab.ROUTER_LAN_ADDR}:8730"]}
    api_address = Lab.ROUTER_LAN_ADDR

    def test_mt_h_tls_verified_with_ca_file(self):
        self.start_gateway(self.gateway_config(mikrotik_extra=f"TLS=yes\nCAFile={self.ros.ca_path}\n"))
        r = self.map("tcp", 7700, timeout=15.0)
        self.assert_two_layers("tcp", Lab.LAN_ADDR, 7700, r["external_port"], "over TLS")
        self.assertTrue(self.lab.tcp_reachable(r["external_port"], 7700))

    def test_mt_i_tls_pinned_fingerprint_and_a_wrong_one(self):
        self.start_gateway(self.gateway_config(
            mikrotik_extra=f"TLS=yes\nFingerprint={self.ros.fingerprint}\n"))
        r = self.map("tcp", 7701, timeout=15.0)
        self.assert_two_layers("tcp", Lab.LAN_ADDR, 7701, r["external_port"], "pinned")
        self.stop_daemon()
        wrong = "00:" + self.ros.fingerprint[3:]
        if wrong == self.ros.fingerprint:
            wrong = "11:" + self.ros.fingerprint[3:]
        logins = self.ros.stats()["logins_ok"]
        self.start_gateway(self.gateway_config(mikrotik_extra=f"TLS=yes\nFingerprint={wrong}\n"))
        self.map("tcp", 7702, rc=3, timeout=15.0)
        self.wait_for(lambda: self.warnings("fingerprint"), 5,
                      "no warning about the certificate's fingerprint")
        self.assertEqual(self.ros.stats()["logins_ok"], logins, "logged in to an unpinned router")
        self.assertEqual([c for c in self.comments() if "7702" in c], [])

    def test_mt_l_anonymous_only_api_ssl_is_refused_with_the_reason(self):
        """An api-ssl without a certificate (anonymous Diffie-Hellman only) authenticates
        nothing: refused, and the error says why and what to do."""
        config = self.gateway_config(mikrotik_extra=f"TLS=yes\nCAFile={self.ros.ca_path}\n")
        config = config.replace(f"Address={self.api_address}\n",
                                f"Address={self.api_address}:8730\n")
        self.start_gateway(config)
        self.map("tcp", 7703, rc=3, timeout=15.0)
        self.wait_for(lambda: self.warnings("anonymous Diffie-Hellman"), 5,
                      "no warning naming anonymous Diffie-Hellman")
        self.assertIn("certificate", self.gw_describe()["RouterError"] or "")
        self.assertEqual(self.ros.stats()["logins_ok"], 0)


class MikrotikSegmentTest(MikrotikTestCase):
    """portmapd on a segment of its own behind the router (the replaced tool's container on
    the MikroTik): the router forwards LAN UDP 5351 to it and holds the API on 192.168.78.1;
    no announcement of the VPN gateway reaches it."""
    daemon_ns = "pmhost"
    lab_options = {"segment": True}
    ros_options = {"listen": [f"{Lab.ROUTER_SEG_ADDR}:8728"]}
    api_address = Lab.ROUTER_SEG_ADDR

    def gateway_config(self, gateway_extra="", provider_extra="", extra="", mikrotik_extra="",
                       listen=Lab.PMHOST_ADDR):
        return super().gateway_config(gateway_extra, provider_extra, extra, mikrotik_extra,
                                      listen)

    def test_mt_j_segment_maps_and_detects_upstream_reboot(self):
        self.start_gateway(self.gateway_config(provider_extra="Lifetime=3600\n"))
        e_tcp, _ = self.natpmpc_both()
        tunnel = self.tunnel_port(Lab.LAN_ADDR, "tcp", 7001)
        # RFC 6886 §3.6: a reset shows when the epoch lost more than 1/8 of the time between
        # two answers plus 2 s: 9.5 s for a check a minute apart; miniupnpd's epoch restarts
        # at 0, so it must have been up longer than that before it reboots
        pmlab.wait_for(lambda: time.monotonic() - self.lab.miniupnpd_started >= 12, 20,
                       interval=0.1)
        started = self.lab.reboot_miniupnpd()  # it checks the flush before the restart
        # no announcement arrives here: the epoch check (every minute) finds the reboot
        self.wait_for(lambda: self.upstream_rule("tcp", tunnel) is not None,
                      max(0.1, started + 65 - time.monotonic()),
                      "within 65 s of the VPN gateway's restart, the LAN mapping was not "
                      f"re-created upstream:\n{self.lab.miniupnpd_rules()}")
        self.assertEqual(self.upstream_rule("tcp", tunnel), e_tcp)
        self.assertTrue(self.lab.tcp_reachable(e_tcp, 7001), "TCP unreachable after the reboot")


class MikrotikEnvImportTest(MikrotikTestCase):
    """`portmapd --no-bus --config-from-env` with mikrotik-double-natpmp's README example
    (its addresses the lab's): LISTEN_ADDR unset means every address but the VPN side's."""

    def test_mt_k_config_from_env_readme_example(self):
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
               "VPN_GATEWAY": Lab.VPN_GW_ADDR,
               "MIKROTIK_API_ADDRESS": "127.0.0.1:8728",
               "MIKROTIK_API_USER": "portmap",
               "MIKROTIK_API_PASSWORD": PASSWORD,
               "LOG_LEVEL": "DEBUG"}
        for key in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"):
            if key in os.environ:
                env[key] = os.environ[key]
        printed = subprocess.run(self.lab.cmd(self.lab.ns_router, [
            PORTMAPD, "--config-from-env", "--print-config"]), env=env, capture_output=True,
            text=True, timeout=30)
        self.assertEqual(printed.returncode, 0, printed.stderr)
        text = printed.stdout
        self.assertRegex(text, rf"(?m)^Listen={re.escape(Lab.ROUTER_LAN_ADDR)}$", text)
        self.assertRegex(text, r"(?m)^AllowedNetworks=192\.168\.77\.0/24$", text)
        self.assertRegex(text, r"(?m)^Router=mikrotik$", text)
        self.assertRegex(text, r"(?m)^PasswordCredential=mikrotik-password$", text)
        self.assertNotIn(PASSWORD, text)
        runtime = os.path.join(self.workdir, "run")
        os.makedirs(self.state_dir, exist_ok=True)
        with open(self.daemon_log, "a") as log:
            self.daemon = self.lab.spawn(self.lab.ns_router, [
                PORTMAPD, "--no-bus", "--config-from-env", "--state-dir", self.state_dir,
                "--runtime-dir", runtime], name="portmapd", env=env, stdout=log,
                stderr=subprocess.STDOUT)
        self.wait_for(lambda: self.raw(b"\0\0", timeout=1.0) is not None, 20,
                      "the imported gateway does not answer")
        r = self.lab.natpmpc("-a", "7801", "7801", "tcp", "3600", ns=self.lab.ns_lan,
                             gateway=Lab.ROUTER_LAN_ADDR)
        self.assertIsNotNone(r["mapping"], r["stdout"])
        self.assertTrue(self.lab.tcp_reachable(r["mapping"]["external_port"], 7801))
        self.assertTrue([c for c in self.comments() if c.startswith("portmap:")],
                        f"no rule of portmapd's on the router: {self.comments()}")


if __name__ == "__main__":
    pmlab.reexec_in_private_netns()
    unittest.main(verbosity=2)
