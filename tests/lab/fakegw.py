# SPDX-License-Identifier: GPL-2.0-or-later
"""Scripted NAT-PMP (RFC 6886) gateway for the portmap test lab.

The gateway does what miniupnpd cannot be made to do: fixed grants (ProtonVPN's 60 s), a new
external port on every renewal, any result code, silence, ProtonVPN's "same port" behaviour, an
epoch reset without a restart, and announcements with the RFC's 250 ms doubling schedule.

Some internal ports can be made silent while the others are answered (`silent_ports`), and every
logged packet carries its receipt time, and the reply its send time, on CLOCK_BOOTTIME too (the
clock portmapd schedules renewals on), for schedule and latency checks.

It is one process with one thread: a selector loop over the UDP socket, the control socket's
listener and its connections, and a timer list (announcements, mapping expiry).  The protocol
logic lives in `NatPmpCore`, which takes the clock as an argument so it can be driven directly.

Control socket: a UNIX stream socket; one JSON object per line in, one JSON object per line out
(`{"ok": true, ...}` or `{"ok": false, "error": "..."}`).  Commands: ping, info, get, set,
log, clear_log, announcements, reset_epoch, announce, mappings, quit.
"""

import argparse
import ipaddress
import json
import os
import random
import selectors
import signal
import socket
import struct
import subprocess
import sys
import time

NATPMP_PORT = 5351
ANNOUNCE_PORT = 5350
ANNOUNCE_GROUP = "224.0.0.1"

OP_PUBLIC_ADDRESS = 0
OP_MAP_UDP = 1
OP_MAP_TCP = 2
PROTO_NAMES = {OP_MAP_UDP: "udp", OP_MAP_TCP: "tcp"}

RESULT_SUCCESS = 0
RESULT_UNSUPP_VERSION = 1
RESULT_NOT_AUTHORIZED = 2
RESULT_NETWORK_FAILURE = 3
RESULT_OUT_OF_RESOURCES = 4
RESULT_UNSUPP_OPCODE = 5

# Linux: SO_TIMESTAMPNS (== SCM_TIMESTAMPNS); Python does not export it.  35 on every
# architecture that uses asm-generic/socket.h (x86, arm, arm64, riscv, ...).
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
SCM_TIMESTAMPNS = SO_TIMESTAMPNS

U32 = 0xFFFFFFFF

DEFAULT_OPTIONS = {
    # grant this lifetime (seconds) whatever is asked; None = grant what is asked
    "grant_lifetime": None,
    # a renewal of an existing mapping gets a new external port
    "change_port_on_renewal": False,
    # answer map requests with this result code: int (ops 1 and 2) or {"0"|"1"|"2": code}
    "result": None,
    # receive and log, never answer
    "silent": False,
    # receive and log, never answer map requests (ops 1 and 2) for these internal ports
    "silent_ports": [],
    # ProtonVPN: internal port 0 accepted, reply internal 0 and external X, X forwarded to X
    "same_port": False,
    # the external address in public-address replies and announcements
    "public_address": "11.0.0.2",
    # epoch = seconds since start (or since reset_epoch) + epoch_offset
    "epoch_offset": 0,
    # install real dst-nat + forward accept rules for each granted mapping
    "nft": False,
    "nft_cmd": "nft",
    "nft_table": "inet filter",
    "nft_dnat_chain": "prerouting_miniupnpd",
    "nft_forward_chain": "miniupnpd",
    # ignore (log, no answer) the next N packets, then answer again
    "drop_next": 0,
    # range external ports are allocated from
    "port_min": 1024,
    "port_max": 65535,
    # where announcements go; the interface address multicast leaves by (default: listen address)
    "announce_addr": ANNOUNCE_GROUP,
    "announce_port": ANNOUNCE_PORT,
    "multicast_if": None,
}


def _parse_result_option(value):
    """None | int | {"op": code} -> None | {op(int): code(int)}."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError("result must be an integer or an object")
    if isinstance(value, int):
        return {OP_MAP_UDP: _u16(value), OP_MAP_TCP: _u16(value)}
    if isinstance(value, dict):
        out = {}
        names = {"public": OP_PUBLIC_ADDRESS, "udp": OP_MAP_UDP, "tcp": OP_MAP_TCP}
        for k, v in value.items():
            if isinstance(k, str) and not k.isdigit():
                op = names.get(k.lower())
            else:
                op = int(k)
            if op not in (OP_PUBLIC_ADDRESS, OP_MAP_UDP, OP_MAP_TCP):
                raise ValueError(f"result: unknown opcode {k!r}")
            if v is not None:
                out[op] = _u16(int(v))
        return out or None
    raise ValueError("result must be an integer or an object")


def _u16(v):
    v = int(v)
    if not 0 <= v <= 0xFFFF:
        raise ValueError(f"{v} does not fit in 16 bits")
    return v


def _validate_options(opts):
    """Type-check and normalise a dict of options (in place); raises ValueError."""
    for key in opts:
        if key not in DEFAULT_OPTIONS:
            raise ValueError(f"unknown option {key!r}")
    for key in ("change_port_on_renewal", "silent", "same_port", "nft"):
        if key in opts and not isinstance(opts[key], bool):
            raise ValueError(f"{key} must be true or false")
    if "grant_lifetime" in opts and opts["grant_lifetime"] is not None:
        v = int(opts["grant_lifetime"])
        if not 0 <= v <= U32:
            raise ValueError("grant_lifetime out of range")
        opts["grant_lifetime"] = v
    for key in ("epoch_offset", "drop_next", "port_min", "port_max", "announce_port"):
        if key in opts:
            opts[key] = int(opts[key])
    if "public_address" in opts:
        opts["public_address"] = str(ipaddress.IPv4Address(opts["public_address"]))
    if "announce_addr" in opts:
        opts["announce_addr"] = str(ipaddress.IPv4Address(opts["announce_addr"]))
    if opts.get("multicast_if") is not None:
        opts["multicast_if"] = str(ipaddress.IPv4Address(opts["multicast_if"]))
    if "result" in opts:
        _parse_result_option(opts["result"])
    if "silent_ports" in opts:
        ports = opts["silent_ports"]
        if not isinstance(ports, (list, tuple)) or any(isinstance(p, bool) for p in ports):
            raise ValueError("silent_ports must be a list of ports")
        opts["silent_ports"] = sorted({_u16(p) for p in ports})
    return opts


class Mapping:
    __slots__ = ("client", "proto", "internal_port", "external_port", "target_port",
                 "lifetime", "expires", "created", "renewals", "same_port", "nft_handles")

    def __init__(self, client, proto, internal_port, external_port, target_port, lifetime,
                 now, same_port):
        self.client = client
        self.proto = proto
        self.internal_port = internal_port     # the key's internal port (0 for same_port)
        self.external_port = external_port
        self.target_port = target_port         # port traffic is forwarded to on the client
        self.lifetime = lifetime
        self.expires = now + lifetime
        self.created = now
        self.renewals = 0
        self.same_port = same_port
        self.nft_handles = []                  # [(chain, handle)]

    def describe(self, now):
        return {
            "client": self.client,
            "protocol": PROTO_NAMES[self.proto],
            "internal_port": self.internal_port,
            "external_port": self.external_port,
            "target_port": self.target_port,
            "lifetime": self.lifetime,
            "expires_in": round(self.expires - now, 3),
            "renewals": self.renewals,
            "same_port": self.same_port,
            "nft": bool(self.nft_handles),
        }


class NftError(Exception):
    pass


class NftRules:
    """dst-nat + forward accept rules for a mapping, added to the miniupnpd chains."""

    def __init__(self, opts):
        self.opts = opts

    def _nft(self, *args):
        argv = [self.opts["nft_cmd"], *args]
        try:
            cp = subprocess.run(argv, capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired) as e:
            raise NftError(f"{' '.join(argv)}: {e}") from e
        if cp.returncode != 0:
            raise NftError(f"{' '.join(argv)}: exit {cp.returncode}: {cp.stderr.strip()}")
        return cp.stdout

    def _add(self, chain, rule):
        out = self._nft("--echo", "--handle", "add", "rule", *self.opts["nft_table"].split(),
                        chain, *rule)
        for line in out.splitlines():
            if "# handle " in line:
                return int(line.rsplit("# handle ", 1)[1].split()[0])
        raise NftError(f"nft printed no handle for rule in {chain}: {out!r}")

    def install(self, m, public_address):
        proto = PROTO_NAMES[m.proto]
        tag = f"pmfake {m.client} {proto} {m.external_port}"
        handles = []
        try:
            h = self._add(self.opts["nft_dnat_chain"], [
                "ip", "daddr", public_address, proto, "dport", str(m.external_port),
                "dnat", "ip", "to", f"{m.client}:{m.target_port}", "comment", f'"{tag}"'])
            handles.append((self.opts["nft_dnat_chain"], h))
            h = self._add(self.opts["nft_forward_chain"], [
                "ip", "daddr", m.client, proto, "dport", str(m.target_port),
                "accept", "comment", f'"{tag}"'])
            handles.append((self.opts["nft_forward_chain"], h))
        except NftError:
            self._delete(handles)
            raise
        m.nft_handles = handles

    def _delete(self, handles):
        errors = []
        for chain, handle in handles:
            try:
                self._nft("delete", "rule", *self.opts["nft_table"].split(), chain,
                          "handle", str(handle))
            except NftError as e:
                errors.append(str(e))
        return errors

    def remove(self, m):
        errors = self._delete(m.nft_handles)
        m.nft_handles = []
        return errors


class NatPmpCore:
    """RFC 6886 server logic plus the scripted deviations.  `now` is CLOCK_MONOTONIC seconds."""

    def __init__(self, options=None, now=None, rng=None, log=None):
        self.opts = dict(DEFAULT_OPTIONS)
        now = time.monotonic() if now is None else now
        self.epoch_start = now
        self.mappings = {}          # (client, op, internal_port) -> Mapping
        self.rng = rng or random.Random()
        self.nft = NftRules(self.opts)
        self.errors = []            # nft errors etc., reported by "info"
        self.log = log or (lambda msg: None)
        if options:
            self.set_options(options, now)

    # --- options -----------------------------------------------------------------------------
    def set_options(self, changes, now):
        changes = _validate_options(dict(changes))
        merged = {**self.opts, **changes}
        if not 1 <= merged["port_min"] <= merged["port_max"] <= 65535:
            raise ValueError("bad port range")
        nft_before = self.opts["nft"]
        self.opts.update(changes)   # same dict object: NftRules holds a reference
        if self.opts["nft"] != nft_before:
            for m in self.mappings.values():
                if self.opts["nft"]:
                    self._install(m)
                else:
                    self._uninstall(m)

    # --- epoch -------------------------------------------------------------------------------
    def epoch(self, now):
        return (int(now - self.epoch_start) + self.opts["epoch_offset"]) & U32

    def reset_epoch(self, now):
        """The gateway lost its state: epoch restarts at 0, mappings are forgotten."""
        self.epoch_start = now
        self.opts["epoch_offset"] = 0
        self.clear_mappings()

    def clear_mappings(self):
        for m in list(self.mappings.values()):
            self._uninstall(m)
        self.mappings.clear()

    # --- nft -----------------------------------------------------------------------------------
    def _install(self, m):
        if not self.opts["nft"] or m.nft_handles:
            return True
        try:
            self.nft.install(m, self.opts["public_address"])
            return True
        except NftError as e:
            self.errors.append(str(e))
            self.log(f"nft: {e}")
            return False

    def _uninstall(self, m):
        if m.nft_handles:
            for e in self.nft.remove(m):
                self.errors.append(e)
                self.log(f"nft: {e}")

    # --- mapping table -----------------------------------------------------------------------
    def expire(self, now):
        gone = [k for k, m in self.mappings.items() if m.expires <= now]
        for k in gone:
            self._uninstall(self.mappings.pop(k))
        return len(gone)

    def next_expiry(self):
        return min((m.expires for m in self.mappings.values()), default=None)

    def _port_free(self, client, op, port, ignore=None):
        for m in self.mappings.values():
            if m is ignore or m.external_port != port:
                continue
            # same protocol: taken by anyone; other protocol: reserved for its owner (RFC 3.3)
            if m.proto == op or m.client != client:
                return False
        return True

    def _allocate(self, client, op, start, ignore=None, exclude=()):
        lo, hi = self.opts["port_min"], self.opts["port_max"]
        if not lo <= start <= hi:
            start = lo
        span = hi - lo + 1
        for i in range(span):
            port = lo + (start - lo + i) % span
            if port not in exclude and self._port_free(client, op, port, ignore):
                return port
        return None

    def _allocate_random(self, client, op, ignore=None, exclude=()):
        lo, hi = self.opts["port_min"], self.opts["port_max"]
        return self._allocate(client, op, self.rng.randint(lo, hi), ignore, exclude)

    # --- packets -----------------------------------------------------------------------------
    def handle(self, data, client, now):
        """Process one request; returns (reply bytes or None, info dict for the log)."""
        info = {"len": len(data), "hex": data.hex()}
        if len(data) < 2:
            info["action"] = "ignored: shorter than 2 bytes"
            return None, info
        version, op = data[0], data[1]
        info.update(version=version, op=op)
        if len(data) >= 12 and op in (OP_MAP_UDP, OP_MAP_TCP):
            _, iport, sport, lifetime = struct.unpack("!HHHI", data[2:12])
            info.update(internal_port=iport, suggested_port=sport, lifetime=lifetime)
        if op >= 128:
            info["action"] = "ignored: response opcode"
            return None, info
        if self.opts["drop_next"] > 0:
            self.opts["drop_next"] -= 1
            info["action"] = "dropped (drop_next)"
            return None, info
        if self.opts["silent"]:
            info["action"] = "silent"
            return None, info
        if op in (OP_MAP_UDP, OP_MAP_TCP) and info.get("internal_port") in \
                self.opts["silent_ports"]:
            info["action"] = "silent (port)"
            return None, info
        epoch = self.epoch(now)
        if version != 0:
            info["action"] = "unsupported version"
            return struct.pack("!BBHI", 0, 128, RESULT_UNSUPP_VERSION, epoch), info
        forced = _parse_result_option(self.opts["result"]) or {}
        if op == OP_PUBLIC_ADDRESS:
            info["action"] = "public address"
            if op in forced:
                return struct.pack("!BBHI4s", 0, 128, forced[op], epoch, bytes(4)), info
            addr = ipaddress.IPv4Address(self.opts["public_address"]).packed
            return struct.pack("!BBHI4s", 0, 128, RESULT_SUCCESS, epoch, addr), info
        if op not in (OP_MAP_UDP, OP_MAP_TCP):
            info["action"] = "unsupported opcode"
            reply = bytearray(data if len(data) >= 4 else data + bytes(4 - len(data)))
            reply[1] = op | 0x80
            reply[2:4] = struct.pack("!H", RESULT_UNSUPP_OPCODE)
            return bytes(reply), info
        if len(data) < 12:
            info["action"] = "ignored: map request shorter than 12 bytes"
            return None, info
        if op in forced:
            info["action"] = f"forced result {forced[op]}"
            return self._map_reply(op, forced[op], epoch, iport, 0, 0), info
        rc, iport_out, eport, granted, action = self._map(client, op, iport, sport, lifetime, now)
        info["action"] = action
        return self._map_reply(op, rc, epoch, iport_out, eport, granted), info

    @staticmethod
    def _map_reply(op, rc, epoch, iport, eport, lifetime):
        return struct.pack("!BBHIHHI", 0, op + 128, rc, epoch, iport, eport, lifetime & U32)

    def _map(self, client, op, iport, sport, lifetime, now):
        """Returns (result, internal port in reply, external port, lifetime, description)."""
        if lifetime == 0:
            if iport == 0:
                doomed = [k for k, m in self.mappings.items() if m.client == client and m.proto == op]
                for k in doomed:
                    self._uninstall(self.mappings.pop(k))
                return RESULT_SUCCESS, 0, 0, 0, f"delete all {PROTO_NAMES[op]} ({len(doomed)})"
            m = self.mappings.pop((client, op, iport), None)
            if m:
                self._uninstall(m)
            return RESULT_SUCCESS, iport, 0, 0, "delete" if m else "delete (no such mapping)"

        granted = self.opts["grant_lifetime"] if self.opts["grant_lifetime"] is not None else lifetime
        if iport == 0 and not self.opts["same_port"]:
            return RESULT_NOT_AUTHORIZED, 0, 0, 0, "refused: internal port 0"

        key = (client, op, iport)
        m = self.mappings.get(key)
        if m is not None:
            action = "renew"
            if self.opts["change_port_on_renewal"]:
                if m.same_port:
                    port = self._allocate_random(client, op, ignore=m, exclude=(m.external_port,))
                else:
                    port = self._allocate(client, op, m.external_port + 1, ignore=m,
                                          exclude=(m.external_port,))
                if port is None:
                    return RESULT_OUT_OF_RESOURCES, iport, 0, 0, "renew: no free port"
                self._uninstall(m)
                m.external_port = port
                if m.same_port:
                    m.target_port = port
                action = "renew (new port)"
            m.lifetime = granted
            m.expires = now + granted
            m.renewals += 1
            if not self._install(m):
                return RESULT_NETWORK_FAILURE, iport, 0, 0, action + ": nft failed"
            return RESULT_SUCCESS, iport, m.external_port, granted, action

        if iport == 0:   # same_port
            port = None
            # ProtonVPN hands the same port for both protocols of one client
            for other in self.mappings.values():
                if other.client == client and other.same_port and other.proto != op and \
                        self._port_free(client, op, other.external_port):
                    port = other.external_port
                    break
            if port is None:
                port = self._allocate_random(client, op)
            target = port
            action = "map (same port)"
        else:
            port = self._allocate(client, op, sport if sport else iport)
            target = iport
            action = "map"
        if port is None:
            return RESULT_OUT_OF_RESOURCES, iport, 0, 0, "no free port"
        m = Mapping(client, op, iport, port, target, granted, now, same_port=(iport == 0))
        if not self._install(m):
            return RESULT_NETWORK_FAILURE, iport, 0, 0, action + ": nft failed"
        self.mappings[key] = m
        return RESULT_SUCCESS, iport, port, granted, action

    def announcement(self, now):
        addr = ipaddress.IPv4Address(self.opts["public_address"]).packed
        return struct.pack("!BBHI4s", 0, 128, RESULT_SUCCESS, self.epoch(now), addr)

    def describe_mappings(self, now):
        return [m.describe(now) for m in sorted(
            self.mappings.values(), key=lambda m: (m.client, m.proto, m.internal_port))]


def _decode_reply(reply):
    if reply is None:
        return None
    d = {"hex": reply.hex(), "len": len(reply)}
    if len(reply) >= 8:
        d["op"], d["result"], d["epoch"] = reply[1], *struct.unpack("!HI", reply[2:8])
    if len(reply) == 16:
        d["internal_port"], d["external_port"], d["lifetime"] = struct.unpack("!HHI", reply[8:16])
    elif len(reply) == 12 and reply[1] == 128:
        d["public_address"] = str(ipaddress.IPv4Address(reply[8:12]))
    return d


class FakeGateway:
    def __init__(self, listen=("0.0.0.0", NATPMP_PORT), control=None, options=None,
                 verbose=False):
        self.verbose = verbose
        self.core = NatPmpCore(options, log=self._note)
        self.sel = selectors.DefaultSelector()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        self.sock.bind(listen)
        self.sock.setblocking(False)
        self.address = self.sock.getsockname()
        self.sel.register(self.sock, selectors.EVENT_READ, ("udp", None))
        self.control_path = control
        self.ctl = None
        if control:
            try:
                os.unlink(control)
            except FileNotFoundError:
                pass
            self.ctl = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.ctl.bind(control)
            self.ctl.listen(8)
            self.ctl.setblocking(False)
            self.sel.register(self.ctl, selectors.EVENT_READ, ("listen", None))
        self.rx_log = []
        self.sent_announcements = []
        self.seq = 0
        self.announce_trains = []
        self.running = True
        self.closed = False

    def _note(self, msg):
        if self.verbose:
            print(f"fake-natpmp-gateway: {msg}", file=sys.stderr, flush=True)

    # --- UDP -----------------------------------------------------------------------------------
    def _receive(self):
        while True:
            try:
                data, anc, _flags, src = self.sock.recvmsg(2048, socket.CMSG_SPACE(16))
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:   # e.g. ECONNREFUSED from an earlier ICMP error
                self._note(f"recvmsg: {e}")
                continue
            t_ns, ts_source = None, "kernel"
            for level, ctype, cdata in anc:
                if level == socket.SOL_SOCKET and ctype == SCM_TIMESTAMPNS and len(cdata) >= 16:
                    sec, nsec = struct.unpack("@qq", cdata[:16])
                    t_ns = sec * 1_000_000_000 + nsec
            # the receipt on CLOCK_BOOTTIME too (the clock portmapd schedules on, one for
            # every namespace): the kernel's CLOCK_REALTIME stamp moved by the clocks' offset
            boot_now = time.clock_gettime_ns(time.CLOCK_BOOTTIME)
            real_now = time.time_ns()
            if t_ns is None:
                t_ns, ts_source = real_now, "userspace"
            now = time.monotonic()
            reply, info = self.core.handle(data, src[0], now)
            self.seq += 1
            entry = {"seq": self.seq, "t_ns": t_ns, "t": t_ns / 1e9, "ts_source": ts_source,
                     "t_boot_ns": t_ns - real_now + boot_now,
                     "src": src[0], "sport": src[1], **info, "reply": _decode_reply(reply)}
            if reply is not None:
                # CLOCK_BOOTTIME just before the reply leaves: the client receives it later
                entry["reply_boot_ns"] = time.clock_gettime_ns(time.CLOCK_BOOTTIME)
                try:
                    self.sock.sendto(reply, src)
                except OSError as e:
                    entry["send_error"] = str(e)
            self.rx_log.append(entry)
            self._note(json.dumps(entry))

    # --- announcements -------------------------------------------------------------------------
    def schedule_announcements(self, count, first_gap=0.25):
        count = int(count)
        if count < 1 or count > 64:
            raise ValueError("count must be 1..64")
        dest = self.core.opts["announce_addr"]
        if ipaddress.IPv4Address(dest).is_multicast:
            ifaddr = self.core.opts["multicast_if"] or self.address[0]
            if ipaddress.IPv4Address(ifaddr).is_unspecified:
                raise ValueError("multicast announcement needs multicast_if when listening on "
                                 "0.0.0.0 (refusing to let the routing table pick the interface)")
        # a train: the next copy goes `gap` after the previous one was actually sent (so a
        # late wake-up never shortens a gap), and the gap doubles
        self.announce_trains.append({"due": time.monotonic(), "gap": first_gap,
                                     "remaining": count})
        offsets, t, gap = [], 0.0, first_gap
        for _ in range(count):
            offsets.append(round(t, 3))
            t += gap
            gap *= 2
        return offsets

    def _next_announcement(self):
        return min((tr["due"] for tr in self.announce_trains), default=None)

    def _send_due_announcements(self, now):
        for train in list(self.announce_trains):
            if train["due"] > now:
                continue
            self._announce_once()
            train["remaining"] -= 1
            if train["remaining"] <= 0:
                self.announce_trains.remove(train)
            else:
                train["due"] = time.monotonic() + train["gap"]
                train["gap"] *= 2

    def _announce_once(self):
        dest = (self.core.opts["announce_addr"], self.core.opts["announce_port"])
        pkt = self.core.announcement(time.monotonic())
        if ipaddress.IPv4Address(dest[0]).is_multicast:
            ifaddr = self.core.opts["multicast_if"] or self.address[0]
            self.sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF,
                                 socket.inet_aton(ifaddr))
            self.sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
        rec = {"t_ns": time.time_ns(), "dest": f"{dest[0]}:{dest[1]}", "hex": pkt.hex(),
               "epoch": struct.unpack("!I", pkt[4:8])[0]}
        try:
            self.sock.sendto(pkt, dest)
        except OSError as e:
            rec["error"] = str(e)
        self.sent_announcements.append(rec)
        self._note(f"announce {rec}")

    # --- control -------------------------------------------------------------------------------
    def _accept(self):
        try:
            conn, _ = self.ctl.accept()
        except (BlockingIOError, InterruptedError):
            return
        conn.setblocking(False)
        self.sel.register(conn, selectors.EVENT_READ, ("conn", bytearray()))

    def _conn_readable(self, key):
        conn, buf = key.fileobj, key.data[1]
        try:
            chunk = conn.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            chunk = b""
        if not chunk:
            self.sel.unregister(conn)
            conn.close()
            return
        buf += chunk
        while b"\n" in buf:
            line, _, rest = bytes(buf).partition(b"\n")
            buf[:] = rest
            if not line.strip():
                continue
            try:
                reply = self.command(json.loads(line))
            except Exception as e:   # a bad command must not kill the gateway
                reply = {"ok": False, "error": f"{type(e).__name__}: {e}"}
            data = (json.dumps(reply) + "\n").encode()
            conn.setblocking(True)
            try:
                conn.sendall(data)
            except OSError:
                pass
            conn.setblocking(False)

    def info(self):
        now = time.monotonic()
        return {"pid": os.getpid(), "address": self.address[0], "port": self.address[1],
                "epoch": self.core.epoch(now), "options": dict(self.core.opts),
                "mappings": len(self.core.mappings), "errors": list(self.core.errors)}

    def command(self, req):
        if not isinstance(req, dict) or "cmd" not in req:
            raise ValueError('expected {"cmd": ...}')
        cmd = req["cmd"]
        args = {k: v for k, v in req.items() if k != "cmd"}
        now = time.monotonic()
        if cmd == "ping":
            return {"ok": True, "pid": os.getpid()}
        if cmd == "info":
            return {"ok": True, **self.info()}
        if cmd == "get":
            return {"ok": True, "options": dict(self.core.opts)}
        if cmd == "set":
            self.core.set_options(args, now)
            return {"ok": True, "options": dict(self.core.opts)}
        if cmd == "log":
            return {"ok": True, "log": self.rx_log}
        if cmd == "clear_log":
            self.rx_log = []
            self.sent_announcements = []
            return {"ok": True}
        if cmd == "announcements":
            return {"ok": True, "announcements": self.sent_announcements,
                    "pending": sum(tr["remaining"] for tr in self.announce_trains)}
        if cmd == "reset_epoch":
            self.core.reset_epoch(now)
            if args.get("announce"):
                self.schedule_announcements(args["announce"])
            return {"ok": True, "epoch": self.core.epoch(now)}
        if cmd == "announce":
            return {"ok": True, "offsets": self.schedule_announcements(args.get("count", 1))}
        if cmd == "mappings":
            return {"ok": True, "mappings": self.core.describe_mappings(now)}
        if cmd == "quit":
            self.running = False
            return {"ok": True}
        raise ValueError(f"unknown command {cmd!r}")

    # --- loop ----------------------------------------------------------------------------------
    def run(self):
        try:
            while self.running:
                now = time.monotonic()
                self.core.expire(now)
                self._send_due_announcements(now)
                deadlines = [t for t in (self.core.next_expiry(),
                                         self._next_announcement())
                             if t is not None]
                timeout = min(3600.0, max(0.0, min(deadlines) - time.monotonic())) \
                    if deadlines else None
                for key, _ in self.sel.select(timeout):
                    kind = key.data[0]
                    if kind == "udp":
                        self._receive()
                    elif kind == "listen":
                        self._accept()
                    else:
                        self._conn_readable(key)
        finally:
            self.close()

    def close(self):
        if self.closed:
            return
        self.closed = True
        try:
            self.core.clear_mappings()     # removes installed nft rules
        except Exception as e:
            self._note(f"cleanup: {e}")
        for key in list(self.sel.get_map().values()):
            try:
                key.fileobj.close()
            except OSError:
                pass
        self.sel.close()
        if self.control_path:
            try:
                os.unlink(self.control_path)
            except OSError:
                pass


def _hostport(text, default_port):
    host, sep, port = text.rpartition(":")
    if not sep:
        return text, default_port
    return host or "0.0.0.0", int(port)


def main(argv=None):
    p = argparse.ArgumentParser(
        prog="fake-natpmp-gateway",
        description="Scripted NAT-PMP (RFC 6886) gateway for the portmap test lab.")
    p.add_argument("--listen", default=f"0.0.0.0:{NATPMP_PORT}", metavar="ADDR:PORT",
                   help="UDP address to serve (port 0: any free port, printed on stdout)")
    p.add_argument("--control", metavar="PATH", help="UNIX control socket (JSON lines)")
    p.add_argument("--public-address", metavar="A")
    p.add_argument("--epoch-offset", type=int, metavar="N")
    p.add_argument("--grant-lifetime", type=int, metavar="N",
                   help="grant N seconds whatever is asked (ProtonVPN: 60)")
    p.add_argument("--change-port-on-renewal", action="store_true")
    p.add_argument("--result", type=int, metavar="CODE",
                   help="answer every map request with this result code")
    p.add_argument("--result-op", action="append", default=[], metavar="OP=CODE",
                   help="result code for one opcode (0 public address, 1 udp, 2 tcp)")
    p.add_argument("--silent", action="store_true", help="log requests, never answer")
    p.add_argument("--silent-port", action="append", type=int, default=[], metavar="PORT",
                   help="log map requests for this internal port, never answer them")
    p.add_argument("--same-port", action="store_true",
                   help="ProtonVPN: internal port 0 maps a fresh port X to X")
    p.add_argument("--drop-next", type=int, metavar="N", help="ignore the next N requests")
    p.add_argument("--port-range", metavar="LO-HI")
    p.add_argument("--nft", action="store_true",
                   help="install dst-nat/forward rules for mappings in the miniupnpd chains")
    p.add_argument("--nft-cmd", metavar="PATH")
    p.add_argument("--announce", type=int, metavar="N",
                   help="send N announcements (250 ms doubling) at start")
    p.add_argument("--announce-addr", metavar="ADDR[:PORT]",
                   help=f"announcement destination (default {ANNOUNCE_GROUP}:{ANNOUNCE_PORT})")
    p.add_argument("--multicast-if", metavar="ADDR",
                   help="interface address for multicast (default: the listen address)")
    p.add_argument("--options-json", metavar="JSON", help="options as a JSON object (as 'set')")
    p.add_argument("-v", "--verbose", action="store_true", help="log every packet to stderr")
    a = p.parse_args(argv)

    opts = json.loads(a.options_json) if a.options_json else {}
    simple = {"public_address": a.public_address, "epoch_offset": a.epoch_offset,
              "grant_lifetime": a.grant_lifetime, "drop_next": a.drop_next,
              "nft_cmd": a.nft_cmd, "multicast_if": a.multicast_if}
    opts.update({k: v for k, v in simple.items() if v is not None})
    for flag in ("change_port_on_renewal", "silent", "same_port", "nft"):
        if getattr(a, flag):
            opts[flag] = True
    if a.result is not None or a.result_op:
        res = {} if a.result is None else {"1": a.result, "2": a.result}
        for item in a.result_op:
            op, _, code = item.partition("=")
            res[op] = int(code)
        opts["result"] = res
    if a.silent_port:
        opts["silent_ports"] = a.silent_port
    if a.port_range:
        lo, _, hi = a.port_range.partition("-")
        opts["port_min"], opts["port_max"] = int(lo), int(hi)
    if a.announce_addr:
        host, port = _hostport(a.announce_addr, ANNOUNCE_PORT)
        opts["announce_addr"], opts["announce_port"] = host, port

    holder = []

    def stop(signum, frame):
        gw = holder[0] if holder else None
        if gw is not None:
            gw.running = False
            if gw.closed:
                return          # already cleaning up: let it finish
        raise SystemExit(0)

    # handlers first: a signal at any later point still ends in close()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGHUP, stop)
    try:
        gw = FakeGateway(_hostport(a.listen, NATPMP_PORT), a.control, opts, verbose=a.verbose)
    except (OSError, ValueError) as e:
        print(f"fake-natpmp-gateway: {e}", file=sys.stderr)
        return 1
    holder.append(gw)
    try:
        if a.announce:
            gw.schedule_announcements(a.announce)
        print(f"READY {gw.address[0]} {gw.address[1]} {os.getpid()}", flush=True)
        gw.run()
    except KeyboardInterrupt:
        pass
    finally:
        gw.close()
    return 0

if __name__ == "__main__":
    sys.exit(main())
