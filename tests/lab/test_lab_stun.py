#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Tests of the lab's STUN support: coturn in inet (RFC 5780 on two addresses, a plain server on
a third), the NAT behaviours of gw (Lab.set_stun_nat), silent servers (Lab.drop_udp), IPv6, and
the lab's raw STUN Binding client, checked against coturn's own NAT discovery client
(turnutils_natdiscovery).

Runs as root; re-executes itself under `unshare --net --mount --pid`
(pmlab.reexec_in_private_netns).  Every test brings up a fresh lab.  The natdiscovery verdicts
and wall times are printed (meson keeps them in its test log).
`test_lab_stun.py --list-tests` prints the test ids (used by meson).
"""

import json
import os
import shutil
import subprocess
import sys
import unittest

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import pmlab  # noqa: E402
from pmlab import Lab  # noqa: E402

TOOLS = ("ip", "nft", "ss", "timeout", "unshare", "sysctl", "conntrack", "turnserver",
         "turnutils_natdiscovery")
EIM = "NAT with Endpoint Independent Mapping!"
APDM = "NAT with Address and Port Dependent Mapping!"
EIF = "NAT with Endpoint Independent Filtering!"
APDF = "NAT with Address and Port Dependent Filtering!"
NO_NAT = "No NAT! (Endpoint Independent Mapping)"


class TestLabStun(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        missing = [t for t in TOOLS if not shutil.which(t)]
        assert not missing, f"missing tools: {missing}"
        assert os.geteuid() == 0, "the lab tests need root"
        assert os.environ.get("PMLAB_UNSHARED") == "1", \
            "call pmlab.reexec_in_private_netns() first"

    def lab(self, **kw):
        kw.setdefault("gateway", None)
        lab = Lab(**kw)
        self.addCleanup(self._down, lab)
        return lab.up()

    def _down(self, lab):
        outcome = getattr(self, "_outcome", None)
        if outcome is not None and not getattr(outcome, "success", True):
            lab.failed = True            # PMLAB_KEEP=1 keeps its workdir
        pids = [c.pid for c in lab.coturns if c.pid]
        lab.down()
        for pid in pids:
            self.assertFalse(pmlab.pid_alive(pid), f"turnserver {pid} survived down()")

    def natdiscovery(self, lab, *extra, **kw):
        r = lab.natdiscovery(args=("-m", "-f", *extra), **kw)
        print(f"\n{self.id()}: natdiscovery -m -f {' '.join(extra)} ({lab.stun_nat_mode}): "
              f"{r['verdicts']}, wall {r['wall']:.2f} s", flush=True)
        self.assertEqual(r["returncode"], 0, r["stdout"] + r["stderr"])
        return r

    def binding(self, lab, *args, **kw):
        kw.setdefault("ns", lab.ns_lan)
        r = lab.stun_binding(kw.pop("ns"), *args, **kw)
        self.assertIsNotNone(r, f"no answer to {args} {kw}")
        self.assertIsNone(r["error"], r)
        self.assertEqual(r["xor_mapped"], r["mapped"], "MAPPED-ADDRESS != XOR-MAPPED-ADDRESS")
        return r

    # --- coturn -------------------------------------------------------------------------------
    def test_coturn_rfc5780_without_nat(self):
        lab = self.lab()
        c = lab.start_coturn()
        a1, a2 = lab.STUN_ADDR1, lab.STUN_ADDR2
        self.assertEqual((c.addresses, c.port, c.alt_port, c.rfc5780), ((a1, a2), 3478, 3479, True))
        self.assertEqual(lab.run(None, ["ip", "netns", "identify", str(c.pid)]).stdout.strip(),
                         lab.ns_inet)
        # its files are in the workdir (nothing under /var): pidfile, user database, log
        with open(c.pidfile) as f:
            self.assertEqual(int(f.read()), c.pid)
        self.assertTrue(os.path.exists(c.db_path))
        self.assertTrue(c.db_path.startswith(lab.workdir + os.sep))
        self.assertIn("SQLite DB connection success: " + c.db_path, c.log())
        # asked from inet itself (no NAT, no filter): every address and port answers from
        # itself; OTHER-ADDRESS as documented in start_coturn: always STUN_ADDR2 (the second
        # address) with the other port
        inet = lab.ns_inet
        for addr, port in c.endpoints():
            other = 3479 if port == 3478 else 3478
            r = self.binding(lab, addr, port, local_port=40000, ns=inet)
            self.assertEqual(r["xor_mapped"], (lab.INET_ADDR, 40000), r)
            self.assertEqual((r["source"], r["response_origin"]), ((addr, port), (addr, port)))
            self.assertEqual(r["other_address"], (a2, other), f"OTHER-ADDRESS on {addr}:{port}")
        # CHANGE-REQUEST on the primary address: from the alternate IP and/or port
        for change_ip, change_port, source in ((True, True, (a2, 3479)), (False, True, (a1, 3479)),
                                               (True, False, (a2, 3478))):
            r = self.binding(lab, a1, 3478, change_ip=change_ip, change_port=change_port,
                             ns=inet)
            self.assertEqual((r["source"], r["response_origin"]), (source, source),
                             f"change ip={change_ip} port={change_port}")
            self.assertEqual(r["xor_mapped"][0], lab.INET_ADDR)
        # on the second address coturn's alternate is itself: change-IP is not honoured
        r = self.binding(lab, a2, 3478, change_ip=True, ns=inet)
        self.assertEqual(r["source"], (a2, 3478))
        r = self.binding(lab, a2, 3478, change_ip=True, change_port=True, ns=inet)
        self.assertEqual(r["source"], (a2, 3479))
        # from lan, behind gw's masquerade, only the plain answer gets in
        r = self.binding(lab, a1, 3478)
        self.assertEqual((r["xor_mapped"][0], r["other_address"]), (lab.GW_WAN_ADDR, (a2, 3479)))
        self.assertIsNone(lab.stun_binding(lab.ns_lan, a1, change_ip=True, change_port=True,
                                           timeout=0.3))
        # a plain server (one address): no OTHER-ADDRESS, CHANGE-REQUEST refused, no port+1
        c3 = lab.start_coturn(lab.STUN_ADDR3)
        self.assertEqual((c3.rfc5780, c3.endpoints()), (False, [(lab.STUN_ADDR3, 3478)]))
        r = self.binding(lab, lab.STUN_ADDR3)
        self.assertEqual((r["other_address"], r["response_origin"]),
                         (None, (lab.STUN_ADDR3, 3478)))
        r = lab.stun_binding(lab.ns_lan, lab.STUN_ADDR3, change_port=True)
        self.assertEqual(r["error"][0], 420, r)
        self.assertIsNone(lab.stun_binding(lab.ns_lan, lab.STUN_ADDR3, 3479, timeout=0.3))

    def test_stop_coturn(self):
        lab = self.lab()
        c = lab.start_coturn(lab.STUN_ADDR3, port=3500)
        self.assertEqual(c.endpoints(), [(lab.STUN_ADDR3, 3500)])
        self.binding(lab, lab.STUN_ADDR3, 3500, ns=lab.ns_inet)
        pid = c.pid
        lab.stop_coturn(c)
        self.assertFalse(pmlab.pid_alive(pid))
        self.assertEqual((c.pid, lab.coturns), (None, []))
        self.assertIsNone(lab.stun_binding(lab.ns_inet, lab.STUN_ADDR3, 3500, timeout=0.3))

    # --- NAT behaviours of gw -----------------------------------------------------------------
    def test_masquerade_is_eim_apdf(self):
        lab = self.lab(gateway="miniupnpd")      # the default lab, miniupnpd and all
        self.assertEqual(lab.stun_nat_mode, "masquerade")
        lab.start_coturn()
        lab.start_coturn(lab.STUN_ADDR3)
        r = self.binding(lab, lab.STUN_ADDR1, local_port=40000)
        self.assertEqual(r["xor_mapped"], (lab.GW_WAN_ADDR, 40000))     # port kept
        # one socket, two servers: one mapping
        r1, r3 = lab.stun_bindings(lab.ns_lan, [lab.STUN_ADDR1, lab.STUN_ADDR3], local_port=40001)
        self.assertEqual((r1["xor_mapped"], r3["xor_mapped"]),
                         ((lab.GW_WAN_ADDR, 40001), (lab.GW_WAN_ADDR, 40001)))
        self.assertEqual(r3["source"], (lab.STUN_ADDR3, 3478))
        # an answer from another address or port does not get in
        self.assertIsNone(lab.stun_binding(lab.ns_lan, lab.STUN_ADDR1, change_port=True,
                                           timeout=0.5))
        r = self.natdiscovery(lab)
        self.assertEqual((r["mapping"], r["filtering"]), (EIM, APDF), r["stdout"])

    def test_random_is_apdm(self):
        lab = self.lab()
        lab.start_coturn()
        lab.start_coturn(lab.STUN_ADDR3)
        lab.set_stun_nat("random")
        self.assertEqual(lab.stun_nat_mode, "random")
        rs = lab.stun_bindings(lab.ns_lan, [(lab.STUN_ADDR1, 3478), (lab.STUN_ADDR1, 3479),
                                            (lab.STUN_ADDR3, 3478)], local_port=40000)
        self.assertTrue(all(rs), rs)
        self.assertEqual({r["xor_mapped"][0] for r in rs}, {lab.GW_WAN_ADDR})
        ports = [r["xor_mapped"][1] for r in rs]
        self.assertEqual(len(set(ports)), 3, f"one socket, three destinations: ports {ports}")
        r = self.natdiscovery(lab)
        self.assertEqual((r["mapping"], r["filtering"]), (APDM, APDF), r["stdout"])

    def test_none_shows_the_lan_address(self):
        lab = self.lab()
        lab.start_coturn()
        lab.set_stun_nat("none")
        self.assertIn(f"{lab.LAN_NET} via {lab.GW_WAN_ADDR}",
                      lab.run(lab.ns_inet, ["ip", "route"]).stdout)
        r = self.binding(lab, lab.STUN_ADDR1, local_port=40002)
        self.assertEqual((r["xor_mapped"], r["source"]),
                         ((lab.LAN_ADDR, 40002), (lab.STUN_ADDR1, 3478)))
        # natdiscovery only says "No NAT!" with -L (unbound it compares with 0.0.0.0), and
        # then its RFC 5780 tests follow anyway; gw's forward chain still filters
        r = self.natdiscovery(lab, "-L", lab.LAN_ADDR)
        self.assertEqual(r["verdicts"]["mapping"], [NO_NAT, EIM], r["stdout"])
        self.assertEqual(r["verdicts"]["filtering"], [NO_NAT, APDF], r["stdout"])
        lab.assert_sealed()                       # a route back is no default route

    def test_eif_lets_changed_answers_in(self):
        lab = self.lab()
        lab.start_coturn()
        lab.set_stun_nat("eif")
        r = self.binding(lab, lab.STUN_ADDR1, local_port=40003, change_ip=True, change_port=True)
        self.assertEqual((r["xor_mapped"], r["source"]),
                         ((lab.GW_WAN_ADDR, 40003), (lab.STUN_ADDR2, 3479)))
        r = self.natdiscovery(lab)
        self.assertEqual((r["mapping"], r["filtering"]), (EIM, EIF), r["stdout"])

    def test_modes_switch_and_restore_exactly(self):
        lab = self.lab(gateway="miniupnpd")
        lab.start_coturn()

        def snapshot():
            return (lab.run(lab.ns_gw, ["nft", "list", "ruleset"]).stdout,
                    lab.run(lab.ns_inet, ["ip", "route"]).stdout)

        before = snapshot()
        seen = {}
        for mode in ("random", "none", "eif", "eif", "masquerade", "none", "random", "random",
                     "eif", "none", "masquerade", "masquerade"):
            lab.set_stun_nat(mode)
            self.assertEqual(lab.stun_nat_mode, mode)
            now = snapshot()
            seen.setdefault(mode, now)
            self.assertEqual(now, seen[mode], f"{mode} differs from its earlier self")
            rules = now[0]
            self.assertEqual(rules.count(f'\t\toifname "{lab.if_gw_wan}" '), 1, rules)
            self.assertEqual("dnat ip to" in rules, mode == "eif", rules)
            self.assertEqual("random,fully-random" in rules, mode == "random", rules)
            self.assertEqual(" masquerade" in rules, mode != "none", rules)
        self.assertEqual(snapshot(), before)
        # each switch flushes conntrack: a socket mapped randomly is mapped anew afterwards
        lab.set_stun_nat("random")
        r = self.binding(lab, lab.STUN_ADDR1, local_port=40010)
        self.assertNotEqual(r["xor_mapped"], (lab.GW_WAN_ADDR, 40010))
        lab.set_stun_nat("masquerade")
        r = self.binding(lab, lab.STUN_ADDR1, local_port=40010)
        self.assertEqual(r["xor_mapped"], (lab.GW_WAN_ADDR, 40010))
        with self.assertRaises(ValueError):
            lab.set_stun_nat("full-cone")
        with self.assertRaises(ValueError):
            lab.set_stun_nat("none", ns=lab.ns_inet)

    # --- IPv6 ---------------------------------------------------------------------------------
    def test_ipv6_masqueraded_through_gw(self):
        lab = self.lab(ipv6=True)
        lab.assert_sealed()
        c = lab.start_coturn((lab.STUN_ADDR6_1, lab.STUN_ADDR6_2))
        self.assertTrue(c.rfc5780)
        r = self.binding(lab, lab.STUN_ADDR6_1, local_port=40004)
        self.assertEqual((r["xor_mapped"], r["local"]),
                         ((lab.GW_WAN_ADDR6, 40004), (lab.LAN_ADDR6, 40004)))
        self.assertEqual((r["source"], r["other_address"]),
                         ((lab.STUN_ADDR6_1, 3478), (lab.STUN_ADDR6_2, 3479)))
        r = self.binding(lab, lab.STUN_ADDR6_2, 3479)
        self.assertEqual(r["other_address"], (lab.STUN_ADDR6_2, 3478))   # itself, as for v4
        # IPv4 still works beside it
        lab.start_coturn(lab.STUN_ADDR3)
        self.assertEqual(self.binding(lab, lab.STUN_ADDR3)["xor_mapped"][0], lab.GW_WAN_ADDR)
        # a switch flushes the IPv6 flows too; "none" routes fd77::/64 back and shows lan
        self.assertTrue(lab.run(lab.ns_gw, ["conntrack", "-L", "-f", "ipv6"]).stdout.strip())
        routes = lab.run(lab.ns_inet, ["ip", "-6", "route"]).stdout
        lab.set_stun_nat("none")
        self.assertEqual(lab.run(lab.ns_gw, ["conntrack", "-L", "-f", "ipv6"]).stdout, "")
        r = self.binding(lab, lab.STUN_ADDR6_1, local_port=40005)
        self.assertEqual(r["xor_mapped"], (lab.LAN_ADDR6, 40005))
        lab.set_stun_nat("masquerade")
        self.assertEqual(lab.run(lab.ns_inet, ["ip", "-6", "route"]).stdout, routes)
        self.assertEqual(self.binding(lab, lab.STUN_ADDR6_1)["xor_mapped"][0], lab.GW_WAN_ADDR6)
        # a silent v6 server
        h = lab.drop_udp(lab.ns_inet, daddr=lab.STUN_ADDR6_1)
        self.assertIsNone(lab.stun_binding(lab.ns_lan, lab.STUN_ADDR6_1, timeout=0.4))
        self.assertGreaterEqual(lab.udp_dropped(h, lab.ns_inet), 1)
        self.binding(lab, lab.STUN_ADDR6_2)
        lab.undrop_udp(h, lab.ns_inet)
        self.binding(lab, lab.STUN_ADDR6_1)

    # --- sealing ------------------------------------------------------------------------------
    def test_stun_addresses_keep_the_lab_sealed(self):
        for kw in ({}, {"topology": "double"}, {"ipv6": True}):
            lab = self.lab(**kw)
            lab.assert_sealed()
            addrs = {i["local"] for a in lab._ip_json(lab.ns_inet, ["addr", "show"])
                     for i in a.get("addr_info", [])}
            self.assertLessEqual({lab.INET_ADDR, lab.STUN_ADDR1, lab.STUN_ADDR2, lab.STUN_ADDR3},
                                 addrs, kw)
            self.assertEqual({lab.STUN_ADDR6_1, lab.STUN_ADDR6_2, lab.INET_ADDR6} <= addrs,
                             bool(kw.get("ipv6")), kw)
            lab.down()
        with self.assertRaises(ValueError):
            Lab(gateway=None, topology="double", ipv6=True)
        # an IPv6 lab address in the caller's namespace (our own unshared one) is a leak
        links = json.loads(subprocess.run(["ip", "-j", "link", "show"], capture_output=True,
                                          text=True, check=True, timeout=10).stdout)
        self.assertEqual([link["ifname"] for link in links], ["lo"],
                         "refusing to modify a namespace that is not the test's own")
        lab = self.lab(ipv6=True)
        lab.run(None, ["ip", "addr", "add", "fd11::9/128", "dev", "lo", "nodad"])
        try:
            with self.assertRaisesRegex(AssertionError, "caller's namespace: lo has lab address "
                                                        "fd11::9"):
                lab.assert_sealed()
        finally:
            lab.run(None, ["ip", "addr", "del", "fd11::9/128", "dev", "lo"])
        lab.assert_sealed()

    # --- silent servers -----------------------------------------------------------------------
    def test_drop_udp_silences_a_server(self):
        lab = self.lab()
        lab.start_coturn()
        h = lab.drop_udp(lab.ns_inet, daddr=lab.STUN_ADDR1, dport=3478)
        self.assertEqual(lab.udp_dropped(h, lab.ns_inet), 0)
        self.assertIsNone(lab.stun_binding(lab.ns_lan, lab.STUN_ADDR1, timeout=0.5))
        n = lab.udp_dropped(h, lab.ns_inet)
        self.assertGreaterEqual(n, 2, "the client resends within the timeout")
        # only that address and port
        self.binding(lab, lab.STUN_ADDR1, 3479)
        self.binding(lab, lab.STUN_ADDR2, 3478)
        self.assertEqual(lab.udp_dropped(h, lab.ns_inet), n)
        # a port-only rule drops it on every address, and the NAT-PMP drops still work beside
        h2 = lab.drop_udp(lab.ns_inet, dport=3479)
        self.assertIsNone(lab.stun_binding(lab.ns_lan, lab.STUN_ADDR2, 3479, timeout=0.3))
        self.assertGreaterEqual(lab.udp_dropped(h2, lab.ns_inet), 1)
        lab.undrop_udp(h2, lab.ns_inet)
        hn = lab.drop_natpmp()
        self.assertEqual(lab.natpmp_dropped(hn), 0)
        lab.undrop_natpmp(hn)
        lab.undrop_udp(h, lab.ns_inet)
        self.binding(lab, lab.STUN_ADDR1, 3478)
        with self.assertRaisesRegex(AssertionError, "no drop rule"):
            lab.udp_dropped(h, lab.ns_inet)


if __name__ == "__main__":
    pmlab.run_tests(TestLabStun)
