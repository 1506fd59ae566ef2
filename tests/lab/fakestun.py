# SPDX-License-Identifier: GPL-2.0-or-later
"""A STUN Binding server that answers wrongly on purpose (tests/lab/fake-stun).

portmapd's discoverer must discard, without any change of state, every reply RFC 8489 §6.3
says to discard.  For each Binding request this server sends one datagram per broken_replies()
entry, each carrying a *bogus* mapped address (BOGUS, 198.51.100.66:666) that would show if it
were accepted, then (mode "broken-then-valid") one valid answer with the sender's real address,
or nothing more (mode "broken-only").  Mode "moved-first" sends no broken reply: its first
answer names the sender's port + 1, as if the NAT's mapping had been renewed since, and later
answers name the real one (a mapping that changed between two probes).  coturn is the lab's real STUN server; this exists only
because no real server sends malformed replies.

    fake-stun --listen 11.0.0.5:3480 --mode broken-then-valid|broken-only|moved-first
              [--log FILE]

The log has one JSON line per request received ({"from": "ip:port", "n": N}).
"""

import argparse
import binascii
import json
import socket
import struct
import sys

COOKIE = 0x2112A442
BOGUS = ("198.51.100.66", 666)
SUCCESS = 0x0101


def xor_address(addr, tid):
    """XOR-MAPPED-ADDRESS value for (ip, port)."""
    ip, port = addr
    if ":" in ip:
        raw = socket.inet_pton(socket.AF_INET6, ip)
        key = struct.pack("!I", COOKIE) + tid
        xored = bytes(a ^ b for a, b in zip(raw, key))
        return struct.pack("!BBH", 0, 2, port ^ (COOKIE >> 16)) + xored
    raw = struct.unpack("!I", socket.inet_aton(ip))[0]
    return struct.pack("!BBHI", 0, 1, port ^ (COOKIE >> 16), raw ^ COOKIE)


def attr(atype, value):
    pad = (4 - len(value) % 4) % 4
    return struct.pack("!HH", atype, len(value)) + value + b"\0" * pad


def message(mtype, tid, attrs, cookie=COOKIE, length=None, fingerprint=False):
    body = b"".join(attrs)
    if fingerprint:
        header = struct.pack("!HHI", mtype, len(body) + 8, cookie) + tid
        crc = (binascii.crc32(header + body) & 0xFFFFFFFF) ^ 0x5354554E
        body += attr(0x8028, struct.pack("!I", crc))
    n = len(body) if length is None else length
    return struct.pack("!HHI", mtype, n, cookie) + tid + body


def broken_replies(tid):
    """(what is wrong, datagram) for each rule; every one names the bogus address."""
    bogus = attr(0x0020, xor_address(BOGUS, tid))
    good_len = message(SUCCESS, tid, [bogus])
    out = [
        ("top bits set", message(0xC101, tid, [bogus])),
        ("wrong magic cookie", message(SUCCESS, tid, [bogus], cookie=0x2112A443)),
        ("length longer than the datagram", message(SUCCESS, tid, [bogus],
                                                    length=len(bogus) + 4)),
        ("length not a multiple of 4", good_len[:2] + struct.pack("!H", len(bogus) - 2)
         + good_len[4:-2]),
        ("unknown transaction id", message(SUCCESS, bytes(b ^ 0xFF for b in tid), [bogus])),
        ("a request, not a response", message(0x0001, tid, [bogus])),
        ("an indication", message(0x0011, tid, [bogus])),
        ("another method (Allocate success)", message(0x0103, tid, [bogus])),
        ("an attribute overrunning the message",
         message(SUCCESS, tid, [bogus, struct.pack("!HH", 0x8022, 64) + b"abcd"])),
        ("a wrong FINGERPRINT", _bad_fingerprint(tid, bogus)),
        ("FINGERPRINT not last", _fingerprint_not_last(tid, bogus)),
        ("an unknown comprehension-required attribute",
         message(SUCCESS, tid, [bogus, attr(0x7FFF, b"x")])),
        ("an address of family 3", message(SUCCESS, tid, [
            attr(0x0020, struct.pack("!BBHI", 0, 3, 666, 0))])),
        ("an IPv4 address attribute of 12 bytes", message(SUCCESS, tid, [
            attr(0x0020, xor_address(BOGUS, tid) + b"\0\0\0\0")])),
        ("shorter than a header", message(SUCCESS, tid, [bogus])[:19]),
    ]
    return out


def _bad_fingerprint(tid, bogus):
    m = bytearray(message(SUCCESS, tid, [bogus], fingerprint=True))
    m[-1] ^= 0x01
    return bytes(m)


def _fingerprint_not_last(tid, bogus):
    body = attr(0x8028, b"\0\0\0\0") + bogus
    return struct.pack("!HHI", SUCCESS, len(body), COOKIE) + tid + body


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--listen", required=True, help="ADDR:PORT ([v6]:PORT)")
    ap.add_argument("--mode", choices=("broken-then-valid", "broken-only", "moved-first"),
                    default="broken-then-valid")
    ap.add_argument("--log")
    args = ap.parse_args()
    host, _, port = args.listen.rpartition(":")
    host = host.strip("[]")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    sock.bind((host, int(port)))
    # an answer from another port of the same host is not the server's either
    other = socket.socket(family, socket.SOCK_DGRAM)
    other.bind((host, 0))
    log = open(args.log, "a") if args.log else None
    print(f"fake-stun: listening on {args.listen}", flush=True)
    n = 0
    while True:
        data, peer = sock.recvfrom(2048)
        if len(data) < 20 or struct.unpack("!I", data[4:8])[0] != COOKIE:
            continue
        if struct.unpack("!H", data[:2])[0] != 0x0001:
            continue
        n += 1
        tid = data[8:20]
        if log:
            log.write(json.dumps({"from": f"{peer[0]}:{peer[1]}", "n": n}) + "\n")
            log.flush()
        if args.mode == "moved-first":
            seen = (peer[0], peer[1] + 1) if n == 1 else peer[:2]
            sock.sendto(message(SUCCESS, tid, [attr(0x0020, xor_address(seen, tid))]),
                        peer[:2])
            continue
        for _what, datagram in broken_replies(tid):
            sock.sendto(datagram, peer[:2])
        other.sendto(message(SUCCESS, tid, [attr(0x0020, xor_address(BOGUS, tid))]), peer[:2])
        if args.mode == "broken-then-valid":
            sock.sendto(message(SUCCESS, tid, [attr(0x0020, xor_address(peer[:2], tid))],
                                fingerprint=True), peer[:2])


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(0)
