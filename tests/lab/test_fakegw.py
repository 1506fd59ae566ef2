#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Tests of the scripted NAT-PMP gateway (fake-natpmp-gateway) itself.

Loopback only: the gateway listens on 127.0.0.1 on an ephemeral port, clients are raw UDP
sockets on 127.0.0.1 and 127.0.0.2; packets are built with struct and checked byte for byte
against RFC 6886's layouts.  No namespaces, no root needed.
"""

import json
import os
import shutil
import socket
import stat
import struct
import subprocess
import sys
import tempfile
import time
import unittest

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import fakegw  # noqa: E402
from pmlab import FakeGatewayControl, _read_line, wait_for  # noqa: E402

FAKEGW = os.path.join(HERE, "fake-natpmp-gateway")
PYTHON = "/usr/bin/python3"
PUBLIC = "11.0.0.2"


def public_request():
    return struct.pack("!BB", 0, 0)


def map_request(op, internal, suggested, lifetime, version=0):
    return struct.pack("!BBHHHI", version, op, 0, internal, suggested, lifetime)


def parse_map_reply(data):
    assert len(data) == 16, f"map reply is {len(data)} bytes: {data.hex()}"
    v, op, rc, epoch, iport, eport, life = struct.unpack("!BBHIHHI", data)
    return {"version": v, "op": op, "result": rc, "epoch": epoch, "internal_port": iport,
            "external_port": eport, "lifetime": life}


class GatewayTest(unittest.TestCase):
    """Each test gets a fresh gateway process on 127.0.0.1:<ephemeral>."""

    args = []

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="pmlab-fakegw-test-")
        self.procs = []
        self.socks = []
        self.gw = self.start_gateway(*self.args)

    def tearDown(self):
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
            p.stdout.close()
        for s in self.socks:
            s.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def start_gateway(self, *args, env=None):
        control = os.path.join(self.tmp, f"ctl{len(self.procs)}.sock")
        started = time.monotonic()
        p = subprocess.Popen([PYTHON, FAKEGW, "--listen", "127.0.0.1:0", "--control", control,
                              *args], stdout=subprocess.PIPE, stdin=subprocess.DEVNULL,
                             env=env)
        self.procs.append(p)
        line = _read_line(p, 10)     # the gateway prints READY once bound (or exits)
        self.assertTrue(line.startswith("READY "), f"gateway did not start: {line!r}")
        _, addr, port, pid = line.split()
        ctl = FakeGatewayControl(control, int(pid))
        ctl.addr = (addr, int(port))
        ctl.proc = p
        ctl.started = started
        return ctl

    def client(self, host="127.0.0.1"):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((host, 0))
        s.settimeout(3)
        self.socks.append(s)
        return s

    def exchange(self, data, sock=None, gw=None):
        sock = sock or self.client()
        sock.sendto(data, (gw or self.gw).addr)
        reply, src = sock.recvfrom(2048)
        self.assertEqual(src, (gw or self.gw).addr, "reply must come from the gateway's port")
        return reply

    def assert_no_reply(self, data, sock=None):
        """Send, wait (polling) until the gateway logged the packet, then check that it logged
        no reply and that none arrived."""
        sock = sock or self.client()
        before = len(self.gw.log())
        sock.sendto(data, self.gw.addr)
        entries = wait_for(lambda: self.gw.log()[before:], 3, message="packet not logged")
        self.assertIsNone(entries[-1]["reply"], entries[-1])
        sock.setblocking(False)
        with self.assertRaises(BlockingIOError):
            sock.recv(2048)
        sock.settimeout(3)
        return entries[-1]

    def map(self, op, internal, suggested, lifetime, sock=None):
        return parse_map_reply(self.exchange(map_request(op, internal, suggested, lifetime), sock))


class TestPublicAddress(GatewayTest):
    def test_public_address_reply_layout(self):
        reply = self.exchange(public_request())
        self.assertEqual(len(reply), 12)
        self.assertEqual(reply[:4], bytes([0, 128, 0, 0]))
        epoch, = struct.unpack("!I", reply[4:8])
        self.assertLessEqual(epoch, time.monotonic() - self.gw.started + 1)
        self.assertEqual(reply[8:], socket.inet_aton(PUBLIC))

    def test_extra_bytes_ignored(self):
        reply = self.exchange(public_request() + bytes(10))
        self.assertEqual(len(reply), 12)
        self.assertEqual(reply[8:], socket.inet_aton(PUBLIC))

    def test_public_address_option(self):
        self.gw.set(public_address="11.0.0.77")
        self.assertEqual(self.exchange(public_request())[8:], socket.inet_aton("11.0.0.77"))

    def test_epoch_offset_and_counting(self):
        self.gw.set(epoch_offset=4600000)

        def epoch():
            return struct.unpack("!I", self.exchange(public_request())[4:8])[0]

        first = epoch()
        self.assertTrue(4600000 <= first <= 4600002, first)
        wait_for(lambda: epoch() >= first + 1, 3, interval=0.1,
                 message="epoch does not count seconds")


class TestRfcMapping(GatewayTest):
    def test_map_tcp_reply_is_byte_exact(self):
        reply = self.exchange(map_request(2, 7001, 7001, 120))
        self.assertEqual(len(reply), 16)
        epoch = reply[4:8]
        self.assertEqual(reply, bytes([0, 130, 0, 0]) + epoch +
                         struct.pack("!HHI", 7001, 7001, 120))

    def test_map_udp(self):
        r = self.map(1, 7001, 0, 60)
        self.assertEqual((r["version"], r["op"], r["result"]), (0, 129, 0))
        self.assertEqual((r["internal_port"], r["external_port"], r["lifetime"]), (7001, 7001, 60))
        m, = self.gw.mappings()
        self.assertEqual((m["client"], m["protocol"], m["internal_port"], m["external_port"]),
                         ("127.0.0.1", "udp", 7001, 7001))

    def test_suggested_port_granted_if_free(self):
        self.assertEqual(self.map(2, 7001, 20001, 120)["external_port"], 20001)

    def test_taken_suggestion_gets_next_free(self):
        a = self.client("127.0.0.1")
        b = self.client("127.0.0.2")
        self.assertEqual(self.map(2, 7001, 7001, 120, a)["external_port"], 7001)
        self.assertEqual(self.map(2, 7001, 7001, 120, b)["external_port"], 7002)
        self.assertEqual(self.map(2, 7005, 7001, 120, a)["external_port"], 7003)

    def test_existing_mapping_keeps_its_port(self):
        first = self.map(2, 7001, 30000, 120)
        again = self.map(2, 7001, 0, 120)
        other = self.map(2, 7001, 40000, 120)
        self.assertEqual(first["external_port"], 30000)
        self.assertEqual(again["external_port"], 30000)
        self.assertEqual(other["external_port"], 30000)
        self.assertEqual(len(self.gw.mappings()), 1)

    def test_companion_port_reserved_for_its_owner(self):
        a = self.client("127.0.0.1")
        b = self.client("127.0.0.2")
        self.assertEqual(self.map(2, 7001, 7001, 120, a)["external_port"], 7001)
        self.assertNotEqual(self.map(1, 7001, 7001, 120, b)["external_port"], 7001)
        self.assertEqual(self.map(1, 7001, 7001, 120, a)["external_port"], 7001)

    def test_delete_is_idempotent(self):
        self.map(2, 7001, 7001, 120)
        for _ in range(2):
            reply = self.exchange(map_request(2, 7001, 0, 0))
            self.assertEqual(reply[:4], bytes([0, 130, 0, 0]))
            self.assertEqual(reply[8:], struct.pack("!HHI", 7001, 0, 0))
            self.assertEqual(self.gw.mappings(), [])

    def test_delete_all_is_per_protocol(self):
        for op, port in ((2, 7001), (2, 7002), (1, 7001)):
            self.map(op, port, port, 120)
        r = self.map(2, 0, 0, 0)
        self.assertEqual((r["op"], r["result"], r["internal_port"], r["external_port"],
                          r["lifetime"]), (130, 0, 0, 0, 0))
        self.assertEqual([(m["protocol"], m["internal_port"]) for m in self.gw.mappings()],
                         [("udp", 7001)])

    def test_internal_port_zero_refused_without_same_port(self):
        r = self.map(2, 0, 1, 60)
        self.assertEqual((r["result"], r["internal_port"], r["external_port"], r["lifetime"]),
                         (2, 0, 0, 0))

    def test_lifetime_granted_as_asked_and_expires(self):
        self.assertEqual(self.map(1, 7001, 7001, 0xFFFFFFFF)["lifetime"], 0xFFFFFFFF)
        self.assertEqual(self.map(2, 7002, 7002, 1)["lifetime"], 1)
        wait_for(lambda: [m["protocol"] for m in self.gw.mappings()] == ["udp"], 5,
                 message="the 1 s mapping did not expire (or the long one did)")

    def test_unsupported_version(self):
        for req in (bytes([1, 0]), bytes([2, 1]) + bytes(22)):
            reply = self.exchange(req)
            self.assertEqual(len(reply), 8, reply.hex())
            self.assertEqual(reply[:4], bytes([0, 128, 0, 1]))

    def test_unsupported_opcode_echoes_request(self):
        req = map_request(3, 7001, 7001, 120)
        reply = self.exchange(req)
        self.assertEqual(reply, bytes([0, 131, 0, 5]) + req[4:])
        self.assertEqual(self.exchange(bytes([0, 5])), bytes([0, 133, 0, 5]))

    def test_response_opcodes_and_short_requests_ignored(self):
        self.assertIn("response opcode", self.assert_no_reply(bytes([0, 128]))["action"])
        self.assertIn("shorter", self.assert_no_reply(map_request(2, 7001, 7001, 60)[:8])["action"])
        self.assertIn("shorter", self.assert_no_reply(b"\x00")["action"])


class TestScripted(GatewayTest):
    def test_grant_lifetime(self):
        self.gw.set(grant_lifetime=60)
        self.assertEqual(self.map(2, 7001, 7001, 7200)["lifetime"], 60)
        self.assertEqual(self.map(1, 7001, 7001, 30)["lifetime"], 60)
        # a delete still deletes
        self.assertEqual(self.map(2, 7001, 0, 0)["lifetime"], 0)
        self.gw.set(grant_lifetime=1)
        self.assertEqual(self.map(1, 7001, 7001, 3600)["lifetime"], 1)
        wait_for(lambda: self.gw.mappings() == [], 5, message="granted 1 s but not expired")
        self.gw.set(grant_lifetime=None)
        self.assertEqual(self.map(1, 7001, 7001, 3600)["lifetime"], 3600)

    def test_change_port_on_renewal(self):
        self.gw.set(change_port_on_renewal=True)
        first = self.map(2, 7001, 7001, 60)["external_port"]
        second = self.map(2, 7001, first, 60)["external_port"]
        third = self.map(2, 7001, second, 60)["external_port"]
        self.assertEqual(first, 7001)
        self.assertNotEqual(second, first)
        self.assertNotEqual(third, second)
        m, = self.gw.mappings()
        self.assertEqual((m["external_port"], m["renewals"]), (third, 2))

    def test_result_code_for_every_map_request(self):
        for code in (1, 2, 3, 4, 5, 77):
            self.gw.set(result=code)
            for op in (1, 2):
                reply = self.exchange(map_request(op, 7001, 7001, 120))
                self.assertEqual(len(reply), 16)
                self.assertEqual(reply[:4], bytes([0, op + 128]) + struct.pack("!H", code))
                self.assertEqual(reply[8:], struct.pack("!HHI", 7001, 0, 0))
        # the public address request is answered normally unless its opcode is named
        self.assertEqual(self.exchange(public_request())[2:4], b"\0\0")
        self.assertEqual(self.gw.mappings(), [])

    def test_result_code_per_opcode(self):
        self.gw.set(result={"2": 4, "0": 3})
        self.assertEqual(self.map(2, 7001, 7001, 60)["result"], 4)
        udp = self.map(1, 7001, 7001, 60)
        self.assertEqual((udp["result"], udp["external_port"]), (0, 7001))
        reply = self.exchange(public_request())
        self.assertEqual(reply[:4], bytes([0, 128, 0, 3]))
        self.assertEqual(reply[8:], bytes(4), "address must be zero on failure")
        self.gw.set(result=None)
        self.assertEqual(self.map(2, 7001, 7001, 60)["result"], 0)

    def test_silent(self):
        self.gw.set(silent=True)
        entry = self.assert_no_reply(map_request(2, 7001, 7001, 60))
        self.assertEqual(entry["action"], "silent")
        self.assert_no_reply(public_request())
        self.assertEqual(self.gw.mappings(), [])
        self.gw.set(silent=False)
        self.assertEqual(self.map(2, 7001, 7001, 60)["result"], 0)

    def test_silent_ports(self):
        self.gw.set(silent_ports=[7001, 7003])
        for op in (2, 1):
            entry = self.assert_no_reply(map_request(op, 7001, 7001, 60))
            self.assertEqual((entry["action"], entry["internal_port"]), ("silent (port)", 7001))
        # a deletion of a silent port gets no answer either
        self.assert_no_reply(map_request(2, 7003, 0, 0))
        # other ports and the public address are answered
        self.assertEqual(self.map(2, 7002, 7002, 60)["result"], 0)
        self.assertEqual(self.exchange(public_request())[2:4], b"\0\0")
        self.assertEqual([m["internal_port"] for m in self.gw.mappings()], [7002])
        self.gw.set(silent_ports=[])
        self.assertEqual(self.map(2, 7001, 7001, 60)["result"], 0)
        for bad in (7001, [70000], [True], ["x"]):
            with self.assertRaises(RuntimeError):
                self.gw.set(silent_ports=bad)

    def test_drop_next(self):
        self.gw.set(drop_next=2)
        sock = self.client()
        self.assert_no_reply(public_request(), sock)
        self.assert_no_reply(public_request(), sock)
        self.assertEqual(len(self.exchange(public_request(), sock)), 12)

    def test_same_port(self):
        self.gw.set(same_port=True, grant_lifetime=60)
        udp = self.map(1, 0, 1, 60)
        self.assertEqual((udp["result"], udp["internal_port"], udp["lifetime"]), (0, 0, 60))
        port = udp["external_port"]
        self.assertTrue(1024 <= port <= 65535)
        tcp = self.map(2, 0, 1, 60)
        self.assertEqual((tcp["internal_port"], tcp["external_port"]), (0, port),
                         "ProtonVPN gives one port for both protocols")
        renewed = self.map(1, 0, port, 60)
        self.assertEqual(renewed["external_port"], port)
        for m in self.gw.mappings():
            self.assertEqual((m["external_port"], m["target_port"], m["same_port"]),
                             (port, port, True))
        # a non-zero internal port still maps normally
        self.assertEqual(self.map(2, 7001, 7001, 60)["internal_port"], 7001)

    def test_same_port_with_port_change(self):
        self.gw.set(same_port=True, change_port_on_renewal=True)
        first = self.map(1, 0, 1, 60)["external_port"]
        second = self.map(1, 0, first, 60)["external_port"]
        self.assertNotEqual(first, second)
        m, = self.gw.mappings()
        self.assertEqual((m["external_port"], m["target_port"]), (second, second))

    def test_reset_epoch_forgets_state_without_restart(self):
        self.gw.set(epoch_offset=4600000)
        self.map(2, 7001, 7001, 3600)
        before = struct.unpack("!I", self.exchange(public_request())[4:8])[0]
        self.assertGreaterEqual(before, 4600000)
        pid = self.gw.info()["pid"]
        t_reset = time.monotonic()
        self.assertEqual(self.gw.reset_epoch(), 0)
        after = struct.unpack("!I", self.exchange(public_request())[4:8])[0]
        self.assertLessEqual(after, time.monotonic() - t_reset + 1)
        self.assertEqual(self.gw.mappings(), [])
        self.assertEqual(self.gw.info()["pid"], pid)
        self.assertIsNone(self.gw.proc.poll())
        # the forgotten mapping is created afresh, epoch still small
        r = self.map(2, 7001, 7001, 3600)
        self.assertEqual((r["result"], r["external_port"]), (0, 7001))
        self.assertLessEqual(r["epoch"], time.monotonic() - t_reset + 1)


class TestAnnouncements(GatewayTest):
    def listener(self):
        s = self.client("127.0.0.1")
        s.setsockopt(socket.SOL_SOCKET, fakegw.SO_TIMESTAMPNS, 1)
        self.gw.set(announce_addr="127.0.0.1", announce_port=s.getsockname()[1])
        return s

    @staticmethod
    def receive(s):
        data, anc, _, src = s.recvmsg(2048, socket.CMSG_SPACE(16))
        (level, ctype, cdata), = anc
        sec, nsec = struct.unpack("@qq", cdata[:16])
        return data, src, sec * 10**9 + nsec

    def test_single_announcement(self):
        s = self.listener()
        self.gw.set(epoch_offset=1000, public_address="11.0.0.9")
        self.assertEqual(self.gw.announce(1), [0.0])
        data, src, _ = self.receive(s)
        self.assertEqual(src, self.gw.addr, "announcements come from the server's socket")
        self.assertEqual(len(data), 12)
        self.assertEqual(data[:4], bytes([0, 128, 0, 0]))
        self.assertTrue(1000 <= struct.unpack("!I", data[4:8])[0] <= 1002)
        self.assertEqual(data[8:], socket.inet_aton("11.0.0.9"))
        sent, = self.gw.announcements()
        self.assertEqual(sent["hex"], data.hex())

    def test_rfc_schedule_doubles_from_250ms(self):
        s = self.listener()
        self.assertEqual(self.gw.announce(4), [0.0, 0.25, 0.75, 1.75])
        times = [self.receive(s)[2] for _ in range(4)]
        gaps = [(b - a) / 1e9 for a, b in zip(times, times[1:])]
        for gap, want in zip(gaps, (0.25, 0.5, 1.0)):
            self.assertGreaterEqual(gap, want - 0.005, gaps)   # never early
            self.assertLess(gap, want + 0.5, gaps)             # late only by scheduling
        self.assertEqual(len(self.gw.announcements()), 4)

    def test_reset_epoch_can_announce(self):
        s = self.listener()
        self.gw.set(epoch_offset=5000)
        t_reset = time.monotonic()
        self.gw.reset_epoch(announce=1)
        data, _, _ = self.receive(s)
        self.assertLessEqual(struct.unpack("!I", data[4:8])[0], time.monotonic() - t_reset + 1)

    def test_multicast_needs_an_interface(self):
        self.gw.set(multicast_if="0.0.0.0")
        with self.assertRaisesRegex(RuntimeError, "multicast_if"):
            self.gw.announce(1)
        self.assertEqual(self.gw.announcements(), [])

    def test_announce_at_start_flag(self):
        s = self.client("127.0.0.1")
        gw = self.start_gateway("--announce", "2", "--announce-addr",
                                f"127.0.0.1:{s.getsockname()[1]}", "--epoch-offset", "7")
        for _ in range(2):
            data, src = s.recvfrom(64)
            self.assertEqual(src, gw.addr)
            self.assertEqual(data[:4], bytes([0, 128, 0, 0]))


class TestLogAndTimestamps(GatewayTest):
    def test_receipt_timestamps_are_kernel_realtime(self):
        sock = self.client()
        stamps = []
        for i in range(3):
            t0 = time.time_ns()
            self.exchange(map_request(2, 7001 + i, 0, 60), sock)
            t1 = time.time_ns()
            stamps.append((t0, t1))
            if i < 2:   # space the packets by >= 100 ms (polling the clock, not sleeping)
                wait_for(lambda: time.time_ns() - t1 >= 100_000_000, 1, interval=0.01)
        log = self.gw.log()
        self.assertEqual(len(log), 3)
        for entry, (t0, t1) in zip(log, stamps):
            self.assertEqual(entry["ts_source"], "kernel")
            self.assertTrue(t0 <= entry["t_ns"] <= t1, (t0, entry["t_ns"], t1))
        gaps = [b["t_ns"] - a["t_ns"] for a, b in zip(log, log[1:])]
        self.assertTrue(all(g >= 100_000_000 for g in gaps), gaps)

    def test_boottime_stamps_of_receipt_and_reply(self):
        """t_boot_ns (receipt) and reply_boot_ns (just before the reply is sent) are
        CLOCK_BOOTTIME, in that order, between the client's send and its receipt."""
        sock = self.client()
        for request in (map_request(2, 7001, 0, 60), public_request()):
            t0 = time.clock_gettime_ns(time.CLOCK_BOOTTIME)
            self.exchange(request, sock)
            t1 = time.clock_gettime_ns(time.CLOCK_BOOTTIME)
            entry = self.gw.log()[-1]
            # the receipt is the kernel's CLOCK_REALTIME stamp moved to CLOCK_BOOTTIME: allow
            # the µs between the two clock reads
            self.assertLessEqual(t0 - 1_000_000, entry["t_boot_ns"])
            self.assertLessEqual(entry["t_boot_ns"], entry["reply_boot_ns"])
            self.assertLessEqual(entry["reply_boot_ns"], t1)
        self.gw.set(silent=True)
        entry = self.assert_no_reply(map_request(2, 7001, 0, 60))
        self.assertIn("t_boot_ns", entry)
        self.assertNotIn("reply_boot_ns", entry)

    def test_log_decodes_fields(self):
        sock = self.client("127.0.0.2")
        self.exchange(map_request(1, 7001, 7002, 3600), sock)
        self.exchange(public_request(), sock)
        e1, e2 = self.gw.log()
        self.assertEqual((e1["src"], e1["sport"]), ("127.0.0.2", sock.getsockname()[1]))
        self.assertEqual((e1["version"], e1["op"], e1["internal_port"], e1["suggested_port"],
                          e1["lifetime"], e1["len"]), (0, 1, 7001, 7002, 3600, 12))
        self.assertEqual(e1["reply"]["external_port"], 7002)
        self.assertEqual(e1["seq"] + 1, e2["seq"])
        self.assertEqual((e2["op"], e2["reply"]["public_address"]), (0, PUBLIC))
        self.assertNotIn("internal_port", e2)
        self.gw.clear_log()
        self.assertEqual(self.gw.log(), [])


class TestControlSocket(GatewayTest):
    def raw(self, *lines):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(5)
            s.connect(self.gw.path)
            s.sendall(b"".join(line + b"\n" for line in lines))
            f = s.makefile("rb")
            return [json.loads(f.readline()) for _ in lines]

    def test_several_commands_per_connection(self):
        replies = self.raw(b'{"cmd":"ping"}', b'{"cmd":"set","silent":true}', b'{"cmd":"get"}',
                           b'{"cmd":"mappings"}')
        self.assertTrue(all(r["ok"] for r in replies), replies)
        self.assertEqual(replies[0]["pid"], self.gw.pid)
        self.assertTrue(replies[2]["options"]["silent"])
        self.assertEqual(replies[3]["mappings"], [])

    def test_errors_are_replies(self):
        replies = self.raw(b"not json", b'{"cmd":"frobnicate"}', b'{"cmd":"set","bogus":1}',
                           b'{"cmd":"set","silent":"yes"}', b'{"cmd":"set","port_min":70000}',
                           b'{"nocmd":1}', b'{"cmd":"ping"}')
        self.assertEqual([r["ok"] for r in replies], [False] * 6 + [True])
        self.assertIn("frobnicate", replies[1]["error"])
        self.assertIn("bogus", replies[2]["error"])

    def test_info(self):
        info = self.gw.info()
        self.assertEqual((info["address"], info["port"]), self.gw.addr)
        self.assertEqual(info["options"]["public_address"], PUBLIC)
        self.assertEqual(info["errors"], [])

    def test_quit_and_sigterm_exit_cleanly(self):
        self.gw.request("quit")
        self.assertEqual(self.gw.proc.wait(timeout=5), 0)
        self.assertFalse(os.path.exists(self.gw.path))
        gw2 = self.start_gateway()
        gw2.proc.terminate()
        self.assertEqual(gw2.proc.wait(timeout=5), 0)
        self.assertFalse(os.path.exists(gw2.path))

    def test_command_line_flags(self):
        gw = self.start_gateway("--grant-lifetime", "60", "--change-port-on-renewal",
                                "--result", "3", "--result-op", "1=4", "--silent",
                                "--same-port", "--public-address", "11.0.0.5",
                                "--epoch-offset", "4600000", "--port-range", "40000-40010",
                                "--drop-next", "1", "--silent-port", "7001",
                                "--silent-port", "7000")
        o = gw.options()
        self.assertEqual((o["grant_lifetime"], o["change_port_on_renewal"], o["silent"],
                          o["same_port"], o["public_address"], o["epoch_offset"],
                          o["port_min"], o["port_max"], o["drop_next"]),
                         (60, True, True, True, "11.0.0.5", 4600000, 40000, 40010, 1))
        self.assertEqual(o["result"], {"1": 4, "2": 3})
        self.assertEqual(o["silent_ports"], [7000, 7001])
        self.assertGreaterEqual(gw.epoch(), 4600000)

    def test_port_range_exhaustion_gives_result_4(self):
        self.gw.set(port_min=40000, port_max=40001)
        self.assertEqual(self.map(2, 7001, 0, 60)["external_port"], 40000)
        self.assertEqual(self.map(2, 7002, 0, 60)["external_port"], 40001)
        r = self.map(2, 7003, 0, 60)
        self.assertEqual((r["result"], r["internal_port"], r["external_port"]), (4, 7003, 0))


FAKE_NFT = r'''#!/usr/bin/python3
import json, os, sys
d = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(d, "nft.calls"), "a") as f:
    f.write(json.dumps(sys.argv[1:]) + "\n")
if os.path.exists(os.path.join(d, "nft.fail")):
    sys.stderr.write("Error: simulated failure\n")
    sys.exit(1)
if "--echo" in sys.argv:
    counter = os.path.join(d, "nft.handle")
    n = int(open(counter).read()) + 1 if os.path.exists(counter) else 10
    open(counter, "w").write(str(n))
    print(" ".join(a for a in sys.argv[1:] if not a.startswith("--")) + f" # handle {n}")
'''


class TestNftRules(GatewayTest):
    """The nft option, against a stand-in nft that records its arguments (the real rules are
    exercised in test_lab.py, inside the gw namespace)."""

    def setUp(self):
        super().setUp()
        self.nft = os.path.join(self.tmp, "nft")
        with open(self.nft, "w") as f:
            f.write(FAKE_NFT)
        os.chmod(self.nft, stat.S_IRWXU)
        self.gw.set(nft=True, nft_cmd=self.nft)

    def calls(self):
        try:
            with open(os.path.join(self.tmp, "nft.calls")) as f:
                return [json.loads(line) for line in f]
        finally:
            try:
                os.unlink(os.path.join(self.tmp, "nft.calls"))
            except FileNotFoundError:
                pass

    def test_rules_follow_mappings(self):
        self.assertEqual(self.map(2, 7001, 20001, 60)["external_port"], 20001)
        add_dnat, add_fwd = self.calls()
        self.assertEqual(add_dnat[:7], ["--echo", "--handle", "add", "rule", "inet", "filter",
                                        "prerouting_miniupnpd"])
        self.assertEqual(add_dnat[7:16], ["ip", "daddr", PUBLIC, "tcp", "dport", "20001",
                                          "dnat", "ip", "to"])
        self.assertEqual(add_dnat[16], "127.0.0.1:7001")
        self.assertEqual(add_fwd[6:13], ["miniupnpd", "ip", "daddr", "127.0.0.1", "tcp", "dport",
                                         "7001"])
        self.assertIn("accept", add_fwd)
        self.assertTrue(self.gw.mappings()[0]["nft"])
        self.map(2, 7001, 0, 0)
        self.assertEqual(sorted(self.calls()), [
            ["delete", "rule", "inet", "filter", "miniupnpd", "handle", "11"],
            ["delete", "rule", "inet", "filter", "prerouting_miniupnpd", "handle", "10"]])

    def test_renewal_with_new_port_moves_the_rule(self):
        self.gw.set(change_port_on_renewal=True)
        first = self.map(1, 7001, 7001, 60)["external_port"]
        self.calls()
        second = self.map(1, 7001, first, 60)["external_port"]
        calls = self.calls()
        self.assertEqual([c[0] for c in calls], ["delete", "delete", "--echo", "--echo"])
        self.assertIn(str(second), calls[2])

    def test_nft_failure_is_network_failure(self):
        open(os.path.join(self.tmp, "nft.fail"), "w").close()
        r = self.map(2, 7001, 7001, 60)
        self.assertEqual((r["result"], r["internal_port"], r["external_port"]), (3, 7001, 0))
        self.assertEqual(self.gw.mappings(), [])
        self.assertTrue(self.gw.info()["errors"])

    def test_rules_removed_on_reset_expiry_and_exit(self):
        self.map(2, 7001, 7001, 3600)
        self.calls()
        self.gw.reset_epoch()
        self.assertEqual([c[0] for c in self.calls()], ["delete", "delete"])
        self.map(2, 7001, 7001, 1)
        self.calls()
        wait_for(lambda: self.gw.mappings() == [], 5)
        self.assertEqual([c[0] for c in self.calls()], ["delete", "delete"])
        self.map(2, 7001, 7001, 3600)
        self.calls()
        self.gw.proc.terminate()
        self.assertEqual(self.gw.proc.wait(timeout=5), 0)
        self.assertEqual([c[0] for c in self.calls()], ["delete", "delete"])


if __name__ == "__main__":
    unittest.main()
