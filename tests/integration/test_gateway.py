#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Black-box tests of portmapd's LAN NAT-PMP gateway (issue 12; design §3 "Gateway", §6
[Gateway]) in the lab's double-NAT topology:

    lan 192.168.77.2 (+ .3) -- router 192.168.77.1 | 10.2.0.2 (portmapd) --
        gw 10.2.0.1 | 11.0.0.2 (miniupnpd or the fake gateway: the VPN gateway) -- inet

LAN clients (natpmpc, a real one, and raw packets) ask portmapd at 192.168.77.1; portmapd maps
a tunnel port T at the VPN gateway and DNATs T, arriving on the router's VPN side, to the
client.  The proof is a connection from inet to 11.0.0.2:E reaching a listener in lan.
Each test method is one meson test (suite "lab")."""

import os
import re
import signal
import socket
import struct
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "lab"))
import pmlab  # noqa: E402
from test_portmapd import MANAGER_IFACE, MANAGER_PATH, PortmapdTestCase  # noqa: E402

Lab = pmlab.Lab
INSTANCE = "lab-router"
OTHER_INSTANCE = "other-host"
OP_UDP, OP_TCP = 1, 2
OPS = {"udp": OP_UDP, "tcp": OP_TCP}
PUBLIC = socket.inet_aton(Lab.GW_WAN_ADDR)


def map_request(op, internal_port, suggested_port, lifetime):
    return struct.pack("!BBHHHI", 0, op, 0, internal_port, suggested_port, lifetime)


def map_reply(op, rc, epoch, internal_port, external_port, lifetime):
    return struct.pack("!BBHIHHI", 0, op + 128, rc, epoch, internal_port, external_port,
                       lifetime)


def parse_map_reply(data):
    v, op, rc, epoch, iport, eport, life = struct.unpack("!BBHIHHI", data)
    return {"version": v, "op": op, "rc": rc, "epoch": epoch, "internal_port": iport,
            "external_port": eport, "lifetime": life}


def epoch_of(data):
    return struct.unpack("!I", data[4:8])[0]


class GatewayTestCase(PortmapdTestCase):
    topology = "double"
    daemon_ns = "router"
    gateway = "miniupnpd"

    def setUp(self):
        super().setUp()
        self.daemon_started = None

    # ---- configuration and start ----

    def gateway_config(self, gateway_extra="", provider_extra="", extra=""):
        return (f"[Provider vpn]\nType=natpmp\nGateway={Lab.VPN_GW_ADDR}\n{provider_extra}\n"
                f"[Gateway]\nListen={Lab.ROUTER_LAN_ADDR}\nAllowedNetworks={Lab.LAN_NET}\n"
                f"Upstream=vpn\nRouter=nftables\nInstanceName={INSTANCE}\n{gateway_extra}\n"
                f"{extra}")

    def start_gateway(self, config=None, ready_from=None, unprivileged=False):
        """Start portmapd in router and wait until its LAN server answers a public-address
        request (from ready_from, default LAN_ADDR) with result 0 and 11.0.0.2."""
        self.daemon_started = time.monotonic()
        self.start_daemon(config, unprivileged=unprivileged)
        src = ready_from or Lab.LAN_ADDR
        last = []

        def ready():
            self.assertIsNone(self.daemon.poll(), "portmapd exited")
            r = self.lab.natpmp_raw(self.lab.ns_lan, b"\0\0", Lab.ROUTER_LAN_ADDR,
                                    src_addr=src, timeout=1.0)
            last[:] = [r]
            return r is not None and len(r) == 12 and r[2:4] == b"\0\0"

        self.wait_for(ready, 20, "portmapd's LAN server did not answer a public-address "
                      f"request from {src} at {Lab.ROUTER_LAN_ADDR}:5351 with result 0 "
                      f"(last answer: {last[0].hex() if last and last[0] else None})")
        return self.daemon

    # ---- raw NAT-PMP from lan ----

    def raw(self, payload, src=None, timeout=3.0, expect_reply=True):
        return self.lab.natpmp_raw(self.lab.ns_lan, payload, Lab.ROUTER_LAN_ADDR,
                                   src_addr=src, timeout=timeout, expect_reply=expect_reply)

    def check_epoch(self, epoch, what):
        """A fresh gateway's epoch counts from its start (design: SSSoE 0 on a fresh table)."""
        if self.daemon_started is not None:
            limit = time.monotonic() - self.daemon_started + 2
            self.assertLessEqual(epoch, limit, f"{what}: epoch {epoch} s is more than "
                                 f"portmapd's uptime ({limit:.1f} s)")

    def map(self, proto, internal_port, lifetime=3600, suggested=None, src=None, rc=0,
            timeout=8.0):
        """A map request from src (default LAN_ADDR); asserts the reply's shape and rc;
        returns the parsed reply."""
        op = OPS[proto]
        req = map_request(op, internal_port, internal_port if suggested is None else suggested,
                          lifetime)
        data = self.raw(req, src=src, timeout=timeout)
        who = f"map {proto} {internal_port} lifetime {lifetime} from {src or Lab.LAN_ADDR}"
        self.assertIsNotNone(data, f"{who}: no answer within {timeout} s")
        self.assertEqual(len(data), 16, f"{who}: answer of {len(data)} bytes: {data.hex()}")
        r = parse_map_reply(data)
        self.assertEqual((r["version"], r["op"], r["internal_port"]), (0, op + 128, internal_port),
                         f"{who}: answer {data.hex()}")
        self.assertEqual(r["rc"], rc, f"{who}: result {r['rc']}, expected {rc}: {data.hex()}")
        if rc == 0 and lifetime:
            self.assertGreaterEqual(r["external_port"], 1, f"{who}: no external port")
            self.assertGreater(r["lifetime"], 0, f"{who}: lifetime 0")
        else:
            self.assertEqual(data, map_reply(op, rc, r["epoch"], internal_port, 0, 0),
                             f"{who}: a failed or deleting answer carries eport 0 life 0")
        self.check_epoch(r["epoch"], who)
        r["raw"] = data
        return r

    # ---- what portmapd built ----

    def gw_describe(self):
        d = self.describe()
        self.assertIn("Gateway", d, "Describe() has no top-level Gateway object")
        return d["Gateway"]

    def gw_entry(self, client, proto, internal_port):
        for m in self.gw_describe().get("Mappings", []):
            if (m.get("Client"), m.get("Protocol"), m.get("InternalPort")) == \
                    (client, proto, internal_port):
                return m
        return None

    def tunnel_port(self, client, proto, internal_port):
        m = self.gw_entry(client, proto, internal_port)
        self.assertIsNotNone(m, f"Describe()'s Gateway.Mappings has no {client} {proto} "
                             f"{internal_port}: {self.gw_describe()}")
        return m["TunnelPort"]

    def rule_comment(self, proto, tunnel, client, port, instance=INSTANCE):
        return f"portmap:{instance}:{proto}:{tunnel}:{client}:{port}"

    def comments(self):
        return [r["comment"] for r in self.lab.router_nft_rules() if r["comment"]]

    def our_comments(self):
        return [c for c in self.comments() if c.startswith(f"portmap:{INSTANCE}:")]

    def upstream_rule(self, proto, tunnel):
        """The external port miniupnpd forwards to 10.2.0.2:tunnel for proto, or None.
        miniupnpd 2.3.1 writes the protocol as a raw match: `@nh,72,8 0x6 th dport E dnat ip
        to 10.2.0.2:T` (0x11: UDP)."""
        match = {"tcp": r"(?:tcp|@nh,72,8 0x6)", "udp": r"(?:udp|@nh,72,8 0x11)"}[proto]
        m = re.search(rf"{match} (?:th )?dport (\d+) dnat ip to "
                      rf"{re.escape(Lab.ROUTER_VPN_ADDR)}:{tunnel}(?!\d)",
                      self.lab.miniupnpd_rules())
        return int(m.group(1)) if m else None

    def gateway_objects(self):
        """{path: props} of the bus's Mapping objects with Origin "gateway"."""
        out = {}
        for path in self.mapping_paths():
            if self.prop(path, "Origin") == "gateway":
                out[path] = {k: self.prop(path, k) for k in (
                    "Scope", "Protocols", "InternalAddress", "InternalPort", "ExternalPort",
                    "ExternalAddress", "State")}
        return out

    def gateway_mappings_count(self):
        return self.prop(MANAGER_PATH, "GatewayMappings", iface=MANAGER_IFACE)

    def assert_two_layers(self, proto, client, port, external, what):
        """Describe() knows it, the router DNATs T to client:port, the VPN gateway forwards E
        to 10.2.0.2:T.  Returns T."""
        tunnel = self.tunnel_port(client, proto, port)
        entry = self.gw_entry(client, proto, port)
        self.assertEqual(entry.get("ExternalPort"), external, f"{what}: Describe() {entry}")
        comment = self.rule_comment(proto, tunnel, client, port)
        self.wait_for(lambda: comment in self.comments(), 5,
                      f"{what}: no nft rule {comment!r} in ip portmap prerouting "
                      f"(rules: {self.comments()})")
        self.wait_for(lambda: self.upstream_rule(proto, tunnel) == external, 5,
                      f"{what}: miniupnpd does not forward {proto} {external} to "
                      f"{Lab.ROUTER_VPN_ADDR}:{tunnel}:\n{self.lab.miniupnpd_rules()}")
        return tunnel

    def add_rule_by_hand(self, comment, proto="tcp", tunnel=40999, client="192.168.77.99",
                         port=7777):
        """A DNAT rule in portmapd's own table (as another instance, or a lost one, left it)."""
        self.lab.run(self.lab.ns_router, [
            "nft", "add", "rule", "ip", "portmap", "prerouting", "iifname",
            self.lab.if_router_vpn, proto, "dport", str(tunnel), "dnat", "to",
            f"{client}:{port}", "comment", f'"{comment}"'])

    def log_text(self):
        with open(self.daemon_log) as f:
            return f.read()


class GatewayTest(GatewayTestCase):
    """The VPN gateway is the real miniupnpd 2.3.1."""

    # ---- a real client through both NATs ----

    def test_gw_a_natpmpc_maps_through_both_nats(self):
        self.check_natpmpc(unprivileged=False)

    def test_gw_r_unprivileged_natpmpc_maps_through_both_nats(self):
        """As the unit runs it: another uid with only CAP_NET_ADMIN (nftables), ambient."""
        self.check_natpmpc(unprivileged=True)
        with open(f"/proc/{self.daemon.pid}/status") as f:
            self.assertIn("Uid:\t65534", f.read())

    def check_natpmpc(self, unprivileged):
        self.start_gateway(self.gateway_config(), unprivileged=unprivileged)
        tcp = self.lab.natpmpc("-a", "7001", "7001", "tcp", "3600", ns=self.lab.ns_lan,
                               gateway=Lab.ROUTER_LAN_ADDR)
        self.assertEqual(tcp["public_address"], Lab.GW_WAN_ADDR,
                         f"natpmpc's public address: {tcp['stdout']}")
        self.assertIsNotNone(tcp["mapping"], f"natpmpc mapped nothing: {tcp['stdout']}")
        udp = self.lab.natpmpc("-a", "7002", "7002", "udp", "3600", ns=self.lab.ns_lan,
                               gateway=Lab.ROUTER_LAN_ADDR)
        self.assertIsNotNone(udp["mapping"], f"natpmpc mapped nothing: {udp['stdout']}")
        e_tcp, e_udp = tcp["mapping"]["external_port"], udp["mapping"]["external_port"]
        for r in (tcp, udp):
            self.assertTrue(0 < r["mapping"]["lifetime"] <= 3600, r["stdout"])
        self.assertTrue(self.lab.tcp_reachable(e_tcp, 7001),
                        f"a TCP connection from inet to {Lab.GW_WAN_ADDR}:{e_tcp} did not reach "
                        f"lan's {Lab.LAN_ADDR}:7001: {self.lab.last_probe.stderr}")
        self.assertTrue(self.lab.udp_reachable(e_udp, 7002),
                        f"a UDP datagram from inet to {Lab.GW_WAN_ADDR}:{e_udp} did not reach "
                        f"lan's {Lab.LAN_ADDR}:7002: {self.lab.last_probe.stderr}")
        self.assertFalse(self.lab.tcp_reachable(e_udp, 7002, timeout=2),
                         "the UDP mapping carried TCP")
        self.assert_two_layers("tcp", Lab.LAN_ADDR, 7001, e_tcp, "natpmpc's TCP mapping")
        self.assert_two_layers("udp", Lab.LAN_ADDR, 7002, e_udp, "natpmpc's UDP mapping")
        # on the bus
        objects = self.gateway_objects()
        want = [{"Scope": "runtime", "Protocols": [p], "InternalAddress": Lab.LAN_ADDR,
                 "InternalPort": i, "ExternalPort": e, "ExternalAddress": Lab.GW_WAN_ADDR,
                 "State": "active"} for p, i, e in (("tcp", 7001, e_tcp), ("udp", 7002, e_udp))]
        self.assertEqual(sorted(objects.values(), key=lambda o: o["InternalPort"]), want,
                         "the bus's Origin \"gateway\" objects")
        for path in objects:
            self.assertTrue(path.startswith(MANAGER_PATH + "/mapping/"), path)
        self.assertEqual(self.gateway_mappings_count(), 2, "Manager.GatewayMappings")
        listing = self.ctl("list").stdout
        for i, e in ((7001, e_tcp), (7002, e_udp)):
            rows = [line for line in listing.splitlines()
                    if re.search(rf"\b{i}\b", line) and re.search(rf"\b{e}\b", line)]
            self.assertTrue(rows, f"portmapctl list shows no row with {i} and {e}:\n{listing}")
            self.assertIn(Lab.GW_WAN_ADDR, rows[0])
            self.assertIn("active", rows[0])

    # ---- raw packets: the behaviour table ----

    def test_gw_b_raw_public_address_and_errors(self):
        self.start_gateway(self.gateway_config())
        r = self.raw(b"\0\0")
        self.assertEqual(r, bytes([0, 128, 0, 0]) + r[4:8] + PUBLIC,
                         f"opcode 0: {r.hex() if r else None}")
        self.check_epoch(epoch_of(r), "opcode 0")
        r = self.raw(b"\0\0" + bytes(10))
        self.assertEqual(r, bytes([0, 128, 0, 0]) + r[4:8] + PUBLIC,
                         f"opcode 0 with 10 trailing bytes: {r.hex() if r else None}")
        # version 1 and 2: result 1, 8 bytes, op 128 (errata 3618), version 0
        pcp_map = bytes([2, 1, 0, 0]) + struct.pack("!I", 3600) + bytes(16)
        for what, req in (("version 1", b"\x01\x00"), ("version 1 map", b"\x01\x02" + bytes(10)),
                          ("version 2 (PCP MAP, 24 bytes)", pcp_map)):
            r = self.raw(req)
            self.assertIsNotNone(r, f"{what}: no answer (RFC 6886: result 1)")
            self.assertEqual(r, bytes([0, 128, 0, 1]) + r[4:8],
                             f"{what}: expected 00 80 0001 SSSoE, got {r.hex()}")
            self.check_epoch(epoch_of(r), what)
        # an unsupported opcode: the whole request, top bit set, result 5, and in bytes
        # 4-7 the epoch that every response carries there (RFC 6886 section 3.5)
        req = bytes([0, 3, 0, 0]) + bytes(range(1, 9))
        r = self.raw(req)
        self.assertIsNotNone(r, "opcode 3: no answer (RFC 6886: result 5)")
        self.assertEqual(r, bytes([0, 131, 0, 5]) + r[4:8] + req[8:],
                         f"opcode 3: expected the request echoed with op 131, rc 5: {r.hex()}")
        self.check_epoch(epoch_of(r), "opcode 3")
        # silence: responses (opcode >= 128), a map request of 8 bytes
        for what, req in (("opcode 128", b"\x00\x80" + bytes(10)),
                          ("opcode 130", map_reply(OP_TCP, 0, 1, 7001, 7001, 60)),
                          ("opcode 255", b"\x00\xff"),
                          ("an 8-byte map request", map_request(OP_TCP, 7001, 7001, 60)[:8])):
            r = self.raw(req, timeout=1.0, expect_reply=False)
            self.assertIsNone(r, f"{what}: answered {r.hex() if r else ''}, must be ignored")
        # internal port 0 with a lifetime: refused
        r = self.map("tcp", 0, lifetime=60, suggested=0, rc=2)
        self.assertEqual(r["raw"], map_reply(OP_TCP, 2, r["epoch"], 0, 0, 0))
        # none of this created anything
        self.assertEqual(self.gateway_objects(), {})
        self.assertEqual(self.gateway_mappings_count(), 0)
        self.assertEqual(self.our_comments(), [])
        self.assertNotIn(Lab.ROUTER_VPN_ADDR, self.lab.miniupnpd_rules())

    def test_gw_c_raw_lifetime_clamped(self):
        self.start_gateway(self.gateway_config("MinLifetime=10\nMaxLifetime=30\n",
                                               "Lifetime=3600\n"))
        r = self.map("tcp", 7010, lifetime=0xFFFFFFFF)
        self.assertEqual(r["lifetime"], 30, "lifetime 0xFFFFFFFF must be clamped to "
                         f"MaxLifetime=30 (upstream lease 3600): {r['raw'].hex()}")
        r = self.map("tcp", 7011, lifetime=1)
        self.assertEqual(r["lifetime"], 10, f"lifetime 1 must be raised to MinLifetime=10: "
                         f"{r['raw'].hex()}")
        self.assertTrue(self.lab.tcp_reachable(r["external_port"], 7011),
                        "the MinLifetime mapping carries no traffic")

    def test_gw_d_raw_renewal_and_delete(self):
        self.start_gateway(self.gateway_config())
        first = self.map("tcp", 7020)
        e = first["external_port"]
        tunnel = self.assert_two_layers("tcp", Lab.LAN_ADDR, 7020, e, "TCP 7020")
        # renewals: the same packet suggesting E, and suggesting nothing: the same E at once
        for suggested in (e, 0):
            t = time.monotonic()
            r = self.map("tcp", 7020, suggested=suggested)
            self.assertEqual(r["external_port"], e, f"renewal suggesting {suggested}: new port")
            self.assertLess(time.monotonic() - t, 2.0, "a renewal is answered from memory")
        self.assertEqual(len(self.gateway_objects()), 1, "a renewal made a second mapping")
        self.assertTrue(self.lab.tcp_reachable(e, 7020), "no traffic after the renewal")
        # delete: rc 0, internal port echoed, eport 0, life 0; both layers and the object gone
        r = self.map("tcp", 7020, lifetime=0, suggested=0)
        self.assertEqual(r["raw"], map_reply(OP_TCP, 0, r["epoch"], 7020, 0, 0))
        comment = self.rule_comment("tcp", tunnel, Lab.LAN_ADDR, 7020)
        self.wait_for(lambda: comment not in self.comments(), 5,
                      f"the nft rule {comment!r} outlived the deletion")
        self.wait_for(lambda: self.upstream_rule("tcp", tunnel) is None, 5,
                      f"miniupnpd still forwards to {Lab.ROUTER_VPN_ADDR}:{tunnel}:\n"
                      f"{self.lab.miniupnpd_rules()}")
        self.wait_for(lambda: not self.gateway_objects(), 5, "the bus object outlived deletion")
        self.assertEqual(self.gateway_mappings_count(), 0)
        self.assertIsNone(self.gw_entry(Lab.LAN_ADDR, "tcp", 7020))
        self.assertFalse(self.lab.tcp_reachable(e, 7020, timeout=2), "deleted, still reachable")
        # deleting what does not exist: the same answer
        for port in (7020, 7029):
            r = self.map("tcp", port, lifetime=0, suggested=0)
            self.assertEqual(r["raw"], map_reply(OP_TCP, 0, r["epoch"], port, 0, 0))

    def test_gw_e_raw_delete_all_tcp_keeps_udp(self):
        self.start_gateway(self.gateway_config())
        for proto, port, src in (("tcp", 7030, None), ("tcp", 7031, None), ("udp", 7030, None),
                                 ("tcp", 7030, Lab.LAN_ADDR2)):
            self.map(proto, port, src=src)
        self.assertEqual(self.gateway_mappings_count(), 4)
        tunnels = {(c, p, i): self.tunnel_port(c, p, i) for c, p, i in (
            (Lab.LAN_ADDR, "tcp", 7030), (Lab.LAN_ADDR, "tcp", 7031),
            (Lab.LAN_ADDR, "udp", 7030), (Lab.LAN_ADDR2, "tcp", 7030))}
        r = self.map("tcp", 0, lifetime=0, suggested=0)
        self.assertEqual(r["raw"], map_reply(OP_TCP, 0, r["epoch"], 0, 0, 0),
                         "delete-all answers rc 0 with internal port 0")
        gone = [(Lab.LAN_ADDR, "tcp", 7030), (Lab.LAN_ADDR, "tcp", 7031)]
        kept = [(Lab.LAN_ADDR, "udp", 7030), (Lab.LAN_ADDR2, "tcp", 7030)]
        for key in gone:
            comment = self.rule_comment(key[1], tunnels[key], key[0], key[2])
            self.wait_for(lambda: comment not in self.comments(), 5,
                          f"delete-all TCP left {comment!r}")
            self.wait_for(lambda: self.upstream_rule(key[1], tunnels[key]) is None, 5,
                          f"delete-all TCP left miniupnpd's mapping of {key}")
            self.assertIsNone(self.gw_entry(*key), f"delete-all TCP left {key} in Describe()")
        for key in kept:
            self.assertIsNotNone(self.gw_entry(*key), f"delete-all TCP of {Lab.LAN_ADDR} "
                                 f"removed {key}")
            self.assertIn(self.rule_comment(key[1], tunnels[key], key[0], key[2]),
                          self.comments(), f"delete-all TCP removed the rule of {key}")
            self.assertIsNotNone(self.upstream_rule(key[1], tunnels[key]),
                                 f"delete-all TCP removed the upstream mapping of {key}")
        self.assertEqual(self.gateway_mappings_count(), 2)
        self.assertEqual(sorted((o["InternalAddress"], o["Protocols"][0])
                                for o in self.gateway_objects().values()),
                         [(Lab.LAN_ADDR, "udp"), (Lab.LAN_ADDR2, "tcp")])

    def test_gw_f_rate_limit_drops_but_other_client_is_answered(self):
        self.start_gateway(self.gateway_config("RateLimit=5\n"), ready_from=Lab.LAN_ADDR2)
        replies = self.lab.natpmp_raw_many(self.lab.ns_lan, [b"\0\0"] * 40, Lab.ROUTER_LAN_ADDR,
                                           timeout=1.5)
        n = len(replies)
        self.assertLess(n, 40, "RateLimit=5: all 40 requests sent at once were answered")
        self.assertGreaterEqual(n, 5, f"RateLimit=5: only {n} of 40 answered (the rate is 5/s, "
                                "the burst twice that)")
        self.assertLessEqual(n, 12, f"RateLimit=5: {n} of 40 answered, the burst is 10")
        for r in replies:
            self.assertEqual(r[:4] + r[8:], bytes([0, 128, 0, 0]) + PUBLIC)
        r = self.raw(b"\0\0", src=Lab.LAN_ADDR2, timeout=2.0)
        self.assertIsNotNone(r, "another client (LAN_ADDR2) was not answered while LAN_ADDR "
                             "was over its rate limit")
        self.assertEqual(r[:4] + r[8:], bytes([0, 128, 0, 0]) + PUBLIC)
        self.assertIsNone(self.daemon.poll(), "portmapd exited")

    def test_gw_g_max_mappings_per_client(self):
        self.start_gateway(self.gateway_config("MaxMappingsPerClient=2\n"))
        self.map("tcp", 7040)
        self.map("tcp", 7041)
        r = self.map("tcp", 7042, rc=4)
        self.assertEqual(r["raw"], map_reply(OP_TCP, 4, r["epoch"], 7042, 0, 0))
        self.assertIsNone(self.gw_entry(Lab.LAN_ADDR, "tcp", 7042))
        self.assertFalse([c for c in self.our_comments() if c.endswith(":7042")],
                         f"a refused mapping left a rule: {self.our_comments()}")
        # a renewal is no new mapping; another client has its own count
        self.map("tcp", 7041)
        self.map("tcp", 7042, src=Lab.LAN_ADDR2)
        self.assertEqual(self.gateway_mappings_count(), 3)

    def test_gw_h_source_outside_allowed_networks_is_ignored(self):
        self.start_gateway(self.gateway_config().replace(
            f"AllowedNetworks={Lab.LAN_NET}", f"AllowedNetworks={Lab.LAN_ADDR}/32"))
        for what, req in (("public address", b"\0\0"),
                          ("map tcp 7050", map_request(OP_TCP, 7050, 7050, 3600)),
                          ("version 1", b"\x01\x00"), ("opcode 3", bytes([0, 3]) + bytes(10))):
            r = self.raw(req, src=Lab.LAN_ADDR2, timeout=1.5, expect_reply=False)
            self.assertIsNone(r, f"{what} from {Lab.LAN_ADDR2}, outside AllowedNetworks, was "
                              f"answered: {r.hex() if r else ''}")
        self.assertIsNotNone(self.raw(b"\0\0"), f"{Lab.LAN_ADDR} (allowed) is not answered")
        self.assertEqual(self.gateway_objects(), {}, "a mapping object was created")
        self.assertEqual(self.gateway_mappings_count(), 0)
        self.assertEqual(self.our_comments(), [], "a router rule was created")
        self.assertNotIn(Lab.ROUTER_VPN_ADDR, self.lab.miniupnpd_rules(),
                         "an upstream mapping was created")

    # ---- tunnel ports ----

    def check_tunnel_port_differs(self, port, other):
        r = self.map("tcp", port)
        tunnel = self.assert_two_layers("tcp", Lab.LAN_ADDR, port, r["external_port"],
                                        f"the LAN client's TCP {port}")
        self.assertNotEqual(tunnel, port, f"T = {port}, which the router's own {other} holds "
                            "upstream")
        self.assertTrue(1024 <= tunnel <= 65535, f"T {tunnel} outside TunnelPorts=")
        self.assertTrue(self.lab.tcp_reachable(r["external_port"], port),
                        f"the LAN client's mapping carries no traffic: "
                        f"{self.lab.last_probe.stderr}")
        return r

    def test_gw_i_tunnel_port_avoids_config_mapping(self):
        self.start_gateway(self.gateway_config(
            extra="[Mapping cfg]\nProvider=vpn\nProtocols=tcp\nInternalPort=7000\n"))
        cfg = [p for p in self.mapping_paths() if self.prop(p, "Origin") == "config"]
        self.assertEqual(len(cfg), 1)
        self.wait_state(cfg[0], "active")
        r = self.check_tunnel_port_differs(7000, "[Mapping cfg]")
        self.assertEqual(self.prop(cfg[0], "State"), "active", "the config mapping suffered")
        self.assertNotEqual(self.prop(cfg[0], "ExternalPort"), r["external_port"])
        self.assertIsNotNone(self.upstream_rule("tcp", 7000), "the config mapping is gone "
                             "upstream")

    def test_gw_j_tunnel_port_avoids_bus_mapping(self):
        self.start_gateway(self.gateway_config())
        path = self.add_mapping(provider="vpn", internal=7100, scope="runtime")
        self.wait_state(path, "active")
        r = self.check_tunnel_port_differs(7100, "bus mapping")
        self.assertEqual(self.prop(path, "State"), "active", "the bus mapping suffered")
        self.assertNotEqual(self.prop(path, "ExternalPort"), r["external_port"])

    # ---- two clients ----

    def test_gw_k_two_clients_same_port_both_reachable(self):
        self.start_gateway(self.gateway_config())
        a = self.map("tcp", 7200)
        b = self.map("tcp", 7200, src=Lab.LAN_ADDR2)
        ta = self.assert_two_layers("tcp", Lab.LAN_ADDR, 7200, a["external_port"], "client 1")
        tb = self.assert_two_layers("tcp", Lab.LAN_ADDR2, 7200, b["external_port"], "client 2")
        self.assertNotEqual(ta, tb, "two clients share one tunnel port")
        self.assertNotEqual(a["external_port"], b["external_port"])
        self.assertTrue(self.lab.tcp_reachable(a["external_port"], 7200, lan_addr=Lab.LAN_ADDR),
                        f"client 1 ({Lab.LAN_ADDR}) unreachable: {self.lab.last_probe.stderr}")
        self.assertTrue(self.lab.tcp_reachable(b["external_port"], 7200, lan_addr=Lab.LAN_ADDR2),
                        f"client 2 ({Lab.LAN_ADDR2}) unreachable: {self.lab.last_probe.stderr}")

    # ---- the VPN gateway reboots ----

    def test_gw_m_vpn_gateway_reboot_recreates_upstream(self):
        self.start_gateway(self.gateway_config(provider_extra="Lifetime=3600\n"))
        maps = [("tcp", 7400, Lab.LAN_ADDR), ("udp", 7401, Lab.LAN_ADDR2)]
        before = {}
        for proto, port, src in maps:
            r = self.map(proto, port, src=src)
            tunnel = self.assert_two_layers(proto, src, port, r["external_port"], f"{proto} {port}")
            before[(proto, port, src)] = (tunnel, r["external_port"])
        # the epoch rule needs elapsed time: miniupnpd up >= 5 s before it reboots
        pmlab.wait_for(lambda: time.monotonic() - self.lab.miniupnpd_started >= 5, 10,
                       interval=0.1)
        started = self.lab.reboot_miniupnpd()  # it checks the flush before the restart

        def recreated():
            return all(self.upstream_rule(p, t) is not None for (p, _, _), (t, _) in
                       before.items())

        self.wait_for(recreated, max(0.1, started + 6 - time.monotonic()),
                      "within 6 s of the VPN gateway's restart, not every LAN mapping was "
                      f"re-created upstream:\n{self.lab.miniupnpd_rules()}")
        for (proto, port, src), (tunnel, external) in before.items():
            self.assertEqual(self.upstream_rule(proto, tunnel), external,
                             f"{proto} {port}: re-created with another external port")
        self.assertTrue(self.lab.tcp_reachable(before[maps[0]][1], 7400),
                        "TCP unreachable after the reboot")
        self.assertTrue(self.lab.udp_reachable(before[maps[1]][1], 7401, lan_addr=Lab.LAN_ADDR2),
                        "UDP unreachable after the reboot")

    # ---- stop, crash, restart ----

    def test_gw_s_silent_upstream_answers_result_3_and_leaves_nothing(self):
        """Never silence: a VPN gateway that answers nothing gets the client result 3 (within
        the 3 s portmapd waits, while the client is still retransmitting), and neither an
        upstream mapping nor a router rule nor a bus object is left behind."""
        self.start_gateway(self.gateway_config())
        handle = self.lab.drop_natpmp(internal_port=7700, ns=self.lab.ns_vpn)
        started = time.monotonic()
        self.map("tcp", 7700, rc=3, timeout=10.0)
        took = time.monotonic() - started
        self.assertLess(took, 6.0, f"result 3 came after {took:.1f} s")
        self.assertTrue(self.lab.natpmp_dropped(handle, ns=self.lab.ns_vpn),
                        "the upstream request never reached the VPN gateway")
        self.wait_for(lambda: not self.gateway_objects(), 5,
                      f"a bus object is left: {self.gateway_objects()}")
        self.assertEqual(self.our_comments(), [], "a router rule is left")
        self.assertEqual(self.gateway_mappings_count(), 0)
        # the gateway answers again: the same request now succeeds
        self.lab.undrop_natpmp(handle, ns=self.lab.ns_vpn)
        r = self.map("tcp", 7700)
        self.assert_two_layers("tcp", Lab.LAN_ADDR, 7700, r["external_port"], "TCP 7700")

    def test_gw_t_client_that_stops_renewing_loses_both_layers(self):
        """A lease of MaxLifetime= (2 s) that is not renewed: at its end the router rule and
        the upstream mapping go, and the bus object with them."""
        self.start_gateway(self.gateway_config("MinLifetime=1\nMaxLifetime=2\n"))
        r = self.map("udp", 7800, lifetime=3600)
        self.assertEqual(r["lifetime"], 2, f"lifetime clamped to MaxLifetime=2: {r}")
        tunnel = self.assert_two_layers("udp", Lab.LAN_ADDR, 7800, r["external_port"],
                                        "UDP 7800")
        self.wait_for(lambda: not self.our_comments(), 6,
                      f"the router rule outlived the lease: {self.comments()}")
        self.wait_for(lambda: self.upstream_rule("udp", tunnel) is None, 6,
                      f"the upstream mapping outlived the lease:\n{self.lab.miniupnpd_rules()}")
        self.wait_for(lambda: not self.gateway_objects(), 5,
                      f"the bus object outlived the lease: {self.gateway_objects()}")
        self.assertEqual(self.gateway_mappings_count(), 0)

    def test_gw_u_failed_rule_rolls_the_upstream_mapping_back(self):
        """Upstream first, then the rule: when the router refuses the rule (here its chain was
        replaced behind portmapd's back by a filter chain, where DNAT is not allowed) the
        upstream mapping is deleted again and the client gets result 3."""
        self.start_gateway(self.gateway_config())
        self.lab.run(self.lab.ns_router, ["nft", "-f", "-"], input=(
            "delete table ip portmap\n"
            "table ip portmap {\n\tchain prerouting {\n"
            "\t\ttype filter hook prerouting priority 0; policy accept;\n\t}\n}\n"))
        self.map("tcp", 7900, rc=3, timeout=10.0)
        self.wait_for(lambda: Lab.ROUTER_VPN_ADDR not in self.lab.miniupnpd_rules(), 5,
                      "the upstream mapping was not rolled back:\n"
                      f"{self.lab.miniupnpd_rules()}")
        self.wait_for(lambda: not self.gateway_objects(), 5,
                      f"a bus object is left: {self.gateway_objects()}")
        self.assertEqual(self.our_comments(), [])
        self.assertIn("could not add the router rule", self.log_text())

    def test_gw_n_sigterm_removes_both_layers(self):
        self.start_gateway(self.gateway_config())
        self.map("tcp", 7500)
        self.map("udp", 7501, src=Lab.LAN_ADDR2)
        self.assertEqual(len(self.our_comments()), 2, self.comments())
        other = self.rule_comment("tcp", 40998, "192.168.77.98", 7778, instance=OTHER_INSTANCE)
        self.add_rule_by_hand(other, tunnel=40998, client="192.168.77.98", port=7778)
        code, took = self.stop_daemon()
        self.assertEqual(code, 0, "portmapd's exit status on SIGTERM")
        self.assertLessEqual(took, 5.0, f"the stop took {took:.1f} s")
        self.assertEqual(self.our_comments(), [], "rules of ours left after SIGTERM")
        self.assertIn(other, self.comments(), "another instance's rule was removed")
        self.assertNotIn(Lab.ROUTER_VPN_ADDR, self.lab.miniupnpd_rules(),
                         "upstream mappings left at the VPN gateway after SIGTERM")

    def test_gw_o_kill9_restart_restores_and_reconciles(self):
        config = self.gateway_config("ReconcileInterval=2s\n")
        self.start_gateway(config)
        r = self.map("tcp", 7600)
        e = r["external_port"]
        tunnel = self.assert_two_layers("tcp", Lab.LAN_ADDR, 7600, e, "TCP 7600")
        state = os.path.join(self.state_dir, "state.json")

        def saved():
            try:
                with open(state) as f:
                    text = f.read()
            except FileNotFoundError:
                return False
            return Lab.LAN_ADDR in text and str(tunnel) in text

        self.wait_for(saved, 5, f"{state} never held the LAN mapping")
        self.daemon.send_signal(signal.SIGKILL)
        self.daemon.wait()
        self.daemon = None
        self.wait_for(lambda: not self.name_has_owner(), 5, "the bus name outlived kill -9")
        self.start_gateway(config)
        # restored: on the bus, and a renewal answered from memory with the same E
        self.wait_for(lambda: [o for o in self.gateway_objects().values()
                               if o["InternalPort"] == 7600 and o["ExternalPort"] == e], 10,
                      f"the LAN mapping is not back on the bus: {self.gateway_objects()}")
        self.daemon_started = None       # the epoch may continue from the saved one
        t = time.monotonic()
        again = self.map("tcp", 7600, suggested=e)
        self.assertEqual(again["external_port"], e, "the restored mapping has another port")
        self.assertLess(time.monotonic() - t, 2.0, "the renewal was not answered from memory")
        self.assertIn(self.rule_comment("tcp", tunnel, Lab.LAN_ADDR, 7600), self.comments())
        self.assertTrue(self.lab.tcp_reachable(e, 7600), "unreachable after the restart")
        # reconciliation every 2 s: an orphan of ours goes, another instance's rule stays
        other = self.rule_comment("tcp", 40998, "192.168.77.98", 7778, instance=OTHER_INSTANCE)
        self.add_rule_by_hand(other, tunnel=40998, client="192.168.77.98", port=7778)
        for n, tport in enumerate((40997, 40996)):
            orphan = self.rule_comment("tcp", tport, "192.168.77.99", 7777)
            self.add_rule_by_hand(orphan, tunnel=tport)
            self.wait_for(lambda: orphan not in self.comments(), 8,
                          f"reconciliation ({n + 1}) did not remove the orphan {orphan!r}")
            self.assertIn(other, self.comments(), "reconciliation removed another instance's rule")
            self.assertIn(self.rule_comment("tcp", tunnel, Lab.LAN_ADDR, 7600), self.comments(),
                          "reconciliation removed a live mapping's rule")
        code, took = self.stop_daemon()
        self.assertEqual(code, 0)
        self.assertEqual(self.our_comments(), [], "rules of ours left after SIGTERM")
        self.assertIn(other, self.comments(), "SIGTERM removed another instance's rule")
        self.assertNotIn(Lab.ROUTER_VPN_ADDR, self.lab.miniupnpd_rules())

    # ---- the router's forward chain ----

    def dnat_warnings(self):
        """Warning lines (GLib's stderr format: "...-WARNING **: ...") naming ct status dnat;
        debug lines that merely mention it do not count."""
        return [line for line in self.log_text().splitlines()
                if "WARNING" in line and "ct status dnat" in line]

    def test_gw_p_warns_without_ct_status_dnat_accept(self):
        self.lab.load_router_firewall(dnat_accept=False)
        self.start_gateway(self.gateway_config())
        self.wait_for(self.dnat_warnings, 10,
                      "no start-up warning mentioning `ct status dnat` although the router's "
                      "forward chain drops by default without accepting it")

    def test_gw_q_no_warning_with_ct_status_dnat_accept(self):
        self.start_gateway(self.gateway_config())
        r = self.map("tcp", 7700)       # the router backend has certainly started
        self.assertTrue(self.lab.tcp_reachable(r["external_port"], 7700))
        self.assertEqual(self.dnat_warnings(), [], "a warning about `ct status dnat` although "
                         "the forward chain accepts it")


class GatewaySamePortTest(GatewayTestCase):
    """The VPN gateway is the scripted fake with ProtonVPN's SamePort behaviour."""
    gateway = "fake"

    def upstream_rule(self, proto, tunnel):
        for m in self.lab.fake.mappings():
            if m.get("client") == Lab.ROUTER_VPN_ADDR and m.get("protocol") == proto \
                    and m.get("target_port") == tunnel:
                return m.get("external_port")
        return None

    def test_gw_l_same_port_one_mapping_per_protocol(self):
        self.lab.fake.set(same_port=True)
        self.start_gateway(self.gateway_config(provider_extra="SamePort=yes\n"))
        a = self.map("tcp", 7300)
        e = a["external_port"]
        entry = self.gw_entry(Lab.LAN_ADDR, "tcp", 7300)
        self.assertIsNotNone(entry, self.gw_describe())
        self.assertEqual(entry["TunnelPort"], e, "SamePort: T must be E")
        self.assertIn(self.rule_comment("tcp", e, Lab.LAN_ADDR, 7300), self.comments())
        self.assertTrue(self.lab.tcp_reachable(e, 7300), f"the SamePort mapping carries no "
                        f"traffic: {self.lab.last_probe.stderr}")
        b = self.map("tcp", 7301, src=Lab.LAN_ADDR2, rc=4)
        self.assertEqual(b["raw"], map_reply(OP_TCP, 4, b["epoch"], 7301, 0, 0))
        self.assertIsNone(self.gw_entry(Lab.LAN_ADDR2, "tcp", 7301))
        self.assertEqual(self.gateway_mappings_count(), 1)
        # one per protocol: UDP is still free
        u = self.map("udp", 7302, src=Lab.LAN_ADDR2)
        self.assertTrue(self.lab.udp_reachable(u["external_port"], 7302, lan_addr=Lab.LAN_ADDR2),
                        "the SamePort UDP mapping carries no traffic: "
                        f"{self.lab.last_probe.stderr}")


if __name__ == "__main__":
    pmlab.reexec_in_private_netns()
    unittest.main(verbosity=2)
