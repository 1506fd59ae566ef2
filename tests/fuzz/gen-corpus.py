#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Writes the seed corpora of the fuzz targets into tests/fuzz/corpus/TARGET/.

The seeds are committed; run this again after changing it (or data/portmapd.conf.example,
which is copied into the config corpus) and commit the result. Every file is small: valid
packets and configurations of each kind, a few truncated or otherwise broken ones. The
fuzzer starts from these and keeps what it finds in the build directory, not here.
"""
import base64
import os
import shutil
import struct
import sys
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))


def pa_response(result, epoch, addr=b"\x0b\x00\x00\x02"):
    return struct.pack("!BBHI", 0, 128, result, epoch) + addr


def map_response(op, result, epoch, internal, external, lifetime):
    return struct.pack("!BBHIHHI", 0, 128 + op, result, epoch, internal, external, lifetime)


def map_request(op, internal, external, lifetime, reserved=0):
    return struct.pack("!BBHHHI", 0, op, reserved, internal, external, lifetime)


def epoch_tail(last_epoch, elapsed_us):
    # read by fuzz-natpmp-response after the packet: the previous epoch and the time since
    return struct.pack("!IQ", last_epoch, elapsed_us)


RESPONSES = {
    "public-address": pa_response(0, 4603006),
    "public-address-failed": pa_response(3, 7, b"\x0a\x00\x00\x01"),
    "public-address-error-header": pa_response(3, 7)[:8],
    "map-udp": map_response(1, 0, 256, 56789, 65065, 60),
    "map-tcp": map_response(2, 0, 120, 51413, 51413, 7200),
    "map-tcp-refused": map_response(2, 2, 120, 51413, 0, 0),
    "map-delete": map_response(2, 0, 3600, 51413, 0, 0),
    "unsupported-version": struct.pack("!BBHI", 0, 128 + 2, 1, 99),
    # the RFC's figure, before errata 3618: opcode 0, no response bit
    "unsupported-version-pre-errata": struct.pack("!BBHI", 0, 0, 1, 0),
    "unknown-result": map_response(1, 77, 5, 1000, 2000, 30),
    "map-tcp-epoch-normal": map_response(2, 0, 1060, 7001, 7001, 60) + epoch_tail(1000, 60_000_000),
    "map-tcp-epoch-reset": map_response(2, 0, 3, 7001, 7001, 60) + epoch_tail(1000, 60_000_000),
    "public-address-epoch-slow": pa_response(0, 1050) + epoch_tail(1000, 60_000_000),
    "trailing-bytes": map_response(1, 0, 1, 2, 3, 4) + b"\xff" * 4,
    "truncated-map-15": map_response(2, 0, 120, 51413, 51413, 7200)[:15],
    "truncated-public-address-11": pa_response(0, 1)[:11],
    "truncated-7": map_response(2, 3, 1, 0, 0, 0)[:7],
    "truncated-1": b"\x00",
    "empty": b"",
    "request-not-response": map_request(2, 51413, 51413, 7200),
    "version-2-pcp": b"\x02\x81" + b"\x00" * 22,
    "opcode-131": struct.pack("!BBHI", 0, 131, 5, 1),
}

REQUESTS = {
    "public-address": b"\x00\x00",
    "map-udp": map_request(1, 51413, 51413, 7200),
    "map-tcp": map_request(2, 8080, 0, 3600),
    "map-delete": map_request(2, 8080, 0, 0),
    "delete-all": map_request(1, 0, 0, 0),
    "reserved-nonzero": map_request(2, 7001, 7001, 60, reserved=0xBEEF),
    "padded-16": map_request(1, 1, 2, 3) + b"\x00" * 4,
    "epoch-words": struct.pack("!IIQ", 1000, 3, 60_000_000),
    "truncated-11": map_request(2, 8080, 8080, 60)[:11],
    "truncated-1": b"\x00",
    "empty": b"",
    "response-not-request": map_response(2, 0, 1, 2, 3, 4),
    "version-1": b"\x01\x00",
    "opcode-3": b"\x00\x03" + b"\x00" * 10,
}

CONFIGS = {
    "minimal-rfc.conf": b"""[Provider home]
Type=natpmp

[Mapping web]
Provider=home
Protocols=tcp
InternalPort=8080
""",
    "vpn-same-port.conf": b"""[Provider vpn]
Type=natpmp
Gateway=10.2.0.1
SamePort=yes
Lifetime=60
RefreshInterval=45s

[Mapping torrent]
Provider=vpn
Protocols=tcp,udp
""",
    "two-providers.conf": b"""[Daemon]
DefaultProvider=b
ReleaseOnStop=all
MaxMappingsPerUser=0
ReconcileInterval=1min 30s

[Provider a]
Type=natpmp
Gateway=auto
Port=15351
Lifetime=2h

[Provider b]
Type=natpmp
Gateway=192.168.1.1
SamePort=off
RefreshInterval=1500ms

[Mapping one]
Provider=a
Protocols=udp
InternalPort=51413
ExternalPort=40000
Lifetime=300

[Mapping two]
Protocols=tcp udp
InternalPort=22
Consumers=
""",
    # drop-ins are loaded alone here: one adds a mapping, one overrides a provider
    "dropin-mapping.conf": b"""# /etc/portmap/portmapd.conf.d/50-ssh.conf
[Mapping ssh]
Protocols=tcp
InternalPort=22
""",
    "dropin-override.conf": b"""[Provider home]
Lifetime=600
""",
    "daemon-only.conf": b"[Daemon]\nReleaseOnStop=none\n",
    "empty.conf": b"",
    "comments-and-crlf.conf": b"# a comment\r\n\r\n[Provider p]\r\nType = natpmp \r\n"
                              b"  SamePort=YES\r\n[Mapping m]\r\nProvider=p\r\n",
    "bad-header-no-name.conf": b"[Provider]\nType=natpmp\n",
    "bad-header-unknown.conf": b"[Router x]\nType=natpmp\n",
    "bad-header-unclosed.conf": b"[Mapping a\nInternalPort=1\n",
    "bad-header-two-spaces.conf": b"[Provider  x]\nType=natpmp\n",
    "bad-header-name-chars.conf": b"[Mapping a/b]\nInternalPort=1\n",
    "unsupported-group.conf": b"[Gateway]\nListen=192.168.88.1\n",
    # fuzz-config's finding: a STUN server with a backslash, printed unescaped
    "stun-backslash.conf": b"[STUN]\nServers=ng ts]o,\\\\\\\\okenCredentiersn=wg1\n",
    # issue 15: what [STUN] discovers reported to a control plane, applied to WireGuard
    "control-plane.conf": b"[STUN]\nServers=stun.example.net:3478\nLocalPort=51820\n"
                          b"[ControlPlane]\nURL=https://cp.example.net/mesh/\nNodeID=node-1.a_b\n"
                          b"TokenCredential=cp-token\n[WireGuard]\nInterface=wg0\n",
    "key-outside-group.conf": b"Type=natpmp\n[Provider x]\nType=natpmp\n",
    "localized-key.conf": b"[Provider x]\nType[de]=natpmp\n",
    "bad-values.conf": b"[Provider x]\nType=natpmp\nGateway=::1\nLifetime=-1\n"
                       b"[Mapping m]\nInternalPort=65536\nProtocols=sctp\n",
    "invalid-utf8.conf": b"[Provider x]\nType=natpmp\nGateway=\xff\xfe\n",
    "nul-byte.conf": b"[Provider x]\nType=nat\x00pmp\n",
    "conflict.conf": b"[Provider p]\nType=natpmp\n[Mapping a]\nInternalPort=1\n"
                     b"[Mapping b]\nInternalPort=1\nProtocols=tcp\n",
    # GKeyFile's escapes (\s \n \t \r \\) in values, and the errors around them
    "escapes.conf": b"[Daemon]\nReconcileInterval=\\s1min\\t30s\\n\nReleaseOnStop=  none  \n"
                    b"[Provider p]\nType=natpmp\nLifetime=\\s\\s60\\s\n"
                    b"[Mapping m]\nProtocols=udp\\ntcp\nInternalPort=8080\nConsumers=\\s\\t\n",
    "bad-escape.conf": b"[Daemon]\nReleaseOnStop=a\\ll\n",
    "trailing-backslash.conf": b"[Daemon]\nReleaseOnStop=all\\\n",
    # GLib 2.74 sets its GError twice on this one (a warning) unless it is caught first
    "bad-escape-then-trailing-backslash.conf": b"[Daemon]\nReleaseOnStop=a\\x\\\n",
    "escaped-backslash.conf": b"[Provider p]\nType=natpmp\n[Mapping m]\nInternalPort=1\n"
                              b"Consumers=a\\\\b\n",
    # [Consumer NAME] through the class table: the fuzz target has the test-only classes
    # (tests/unit/fake-consumer.c: Type=fake and fake-single; keys Path, Fail, Delay)
    "consumers.conf": b"""[Provider p]
Type=natpmp

[Consumer files]
Type=fake
Path=/run/portmap/odd\\sdir\\\\name\\s
Fail=yes
Delay=1min 30s

[Consumer qbt]
Type=fake-single

[Mapping torrent]
InternalPort=51413
Consumers=qbt, files

[Mapping web]
InternalPort=8080
Protocols=tcp
Consumers=files qbt
""",
    "consumer-types.conf": b"[Consumer a]\nType=portfile\n[Consumer b]\nType=ftp\n"
                           b"[Consumer c]\nPath=/x\n",
    "consumer-bad-keys.conf": b"[Consumer c]\nType=fake\nPath=relative\nFail=maybe\n"
                              b"Delay=soon\nPort=1\n[Provider p]\nType=natpmp\n"
                              b"[Mapping m]\nInternalPort=1\nConsumers=c d c\n",
    # what GKeyFile itself refuses
    "bad-key-brackets.conf": b"[Daemon]\nFoo]=1\nBar[de=2\n",
    "bad-group-brackets.conf": b"[Daemon]\n[Mapping a[b]\nInternalPort=1\n",
    "encoding.conf": b"[Daemon]\nEncoding=latin1\n",
    # a group and a key given twice in one file: one group, the last value
    "duplicates.conf": b"[Provider p]\nType=natpmp\nLifetime=60\nLifetime=120\n"
                       b"[Mapping m]\nInternalPort=1\n[Provider p]\nSamePort=yes\n",
}


# rtnetlink replies to RTM_GETROUTE (sequence number 1, as the fuzz target reads it from
# bytes 8-11 of the first header)
def rtattr(kind, payload):
    length = 4 + len(payload)
    return struct.pack("=HH", length, kind) + payload + b"\0" * ((4 - length % 4) % 4)


def nlmsg(kind, payload, seq=1, flags=0):
    return struct.pack("=IHHII", 16 + len(payload), kind, flags, seq, 0) + payload


def route_reply(*attrs, rtype=1):
    # family AF_INET, dst_len 32, table main, protocol boot, scope universe, unicast
    rtm = struct.pack("=BBBBBBBBI", 2, 32, 0, 0, 254, 3, 0, rtype, 0)
    return nlmsg(24, rtm + b"".join(attrs))


def route_error(errno):
    return nlmsg(2, struct.pack("=i", -errno) + nlmsg(26, b"\0" * 12))


ROUTES = {
    "gateway.bin": route_reply(rtattr(15, struct.pack("=I", 254)),
                               rtattr(1, bytes([1, 1, 1, 1])),
                               rtattr(4, struct.pack("=I", 2)),
                               rtattr(7, bytes([192, 168, 77, 2])),
                               rtattr(5, bytes([192, 168, 77, 1]))),
    "point-to-point.bin": route_reply(rtattr(1, bytes([1, 1, 1, 1])),
                                      rtattr(4, struct.pack("=I", 5))),
    "via-ipv6.bin": route_reply(rtattr(18, struct.pack("=H", 10) + bytes(16)),
                                rtattr(4, struct.pack("=I", 2))),
    "local.bin": route_reply(rtattr(4, struct.pack("=I", 1)), rtype=2),
    "enetunreach.bin": route_error(101),
    "eacces.bin": route_error(13),
    "ack-then-reply.bin": route_error(0) + route_reply(rtattr(5, bytes([10, 2, 0, 1]))),
    "other-seq.bin": nlmsg(24, b"\0" * 12, seq=7),
    "truncated.bin": route_reply(rtattr(5, bytes([10, 2, 0, 1])))[:30],
}


def pia(status, body):
    return struct.pack("!H", status) + body


PIA_PAYLOAD = base64.b64encode(
    b'{"token":"t","port":47047,"expires_at":"2020-06-30T22:33:44.114369906Z"}')

# PIA's token API and gateway (pia-and-torrent-clients.md §1.1-1.4); a payload alone is
# a body for the payload decoder
PIA_REPLIES = {
    "token": pia(200, b'{"token":"abcdef0123456789"}'),
    "token-empty": pia(200, b'{"token":""}'),
    "token-401": pia(401, b'{"message":"Unauthorized"}'),
    "signature": pia(200, b'{"status":"OK","payload":"' + PIA_PAYLOAD +
                     b'","signature":"c2ln+/=="}'),
    "signature-refused": pia(200, b'{"status":"ERROR","message":"token TOKEN expired"}'),
    "bind-ok": pia(200, b'{"status":"OK","message":"port scheduled for add"}'),
    "bind-409": pia(409, b'{"status":"","message":"Port 51813 is busy. Please use another server"}'),
    "bind-401": pia(401, b'{"status":"","message":"bad signature"}'),
    "bind-502": pia(502, b"Bad Gateway\n"),
    "payload": pia(0, PIA_PAYLOAD),
    "payload-bad-time": pia(0, base64.b64encode(b'{"token":"t","port":1,"expires_at":"x"}')),
    # fuzz-pia's findings: a secret after a NUL byte, and one in json-glib's message
    "secret-after-nul": base64.b64decode(
        "AZF7InN0YXR1cyI6IiIsIm1lc3NhZwAAAAAAIAD/VE9LRU7/X8AAAv4rcmUifQ=="),
    "secret-in-parser-message": base64.b64decode("AMh7IlRPS0VOcyJFUlIB"),
}

# qBittorrent's login and preferences replies (pia-and-torrent-clients.md §2); fuzz-qbittorrent
# redacts "c2ln" as the password
QBITTORRENT_REPLIES = {
    "login-ok": pia(200, b"Ok."),
    "login-fails": pia(200, b"Fails."),
    "login-204": pia(204, b""),
    "login-401": pia(401, b""),
    "login-banned": pia(403, b"Your IP address has been banned after too many failed "
                             b"authentication attempts."),
    "login-echo-password": pia(500, b"bad c2ln"),
    "prefs-4.5": pia(200, b'{"locale":"","listen_port":6881,"random_port":false,"upnp":true,'
                          b'"scan_dirs":{"/a":0},"web_ui_port":8080}'),
    "prefs-5.2": pia(200, b'{"listen_port":51413,"random_port":false,"upnp":false,'
                          b'"announce_port":40000}'),
    "prefs-bad-type": pia(200, b'{"listen_port":"1","upnp":false}'),
    "prefs-trailing": pia(200, b'{"listen_port":1,"upnp":false}{}'),
}

# deluge-web 2.0.3's JSON-RPC replies (as fuzz-deluge reads them: to request 7)
DELUGE_REPLIES = {
    "login-true": pia(200, b'{"result": true, "error": null, "id": 7}'),
    "not-authenticated": pia(200, b'{"result": null, "error": {"message": '
                             b'"Not authenticated", "code": 1}, "id": 7}'),
    "hosts": pia(200, b'{"result": [["917c4c81a4a8445281d642456f751ba0", "127.0.0.1", '
                 b'58846, "localclient"]], "error": null, "id": 7}'),
    "config-values": pia(200, b'{"result": {"listen_ports": [6881, 6891], '
                         b'"random_port": true}, "error": null, "id": 7}'),
    "set-config-failure": pia(200, b'{"result": null, "error": {"message": "Failure: '
                              b'Traceback (most recent call last):\\nTypeError: x\\n]", '
                              b'"code": 4}, "id": 7}'),
    "not-decodable": pia(200, b'{"result": null, "id": null, "error": {"code": 5, '
                         b'"message": "JSONException: JSON not decodable"}}'),
    "other-id": pia(200, b'{"result": true, "error": null, "id": 8}'),
    "status-404": pia(404, b"<html>No Such Resource</html>"),
}


def lan_server_input(source, sport, flags, *records):
    # read by fuzz-lan-server: the first packet's source and port, flags, then records of
    # (ctl, packet)
    out = bytes(int(b) for b in source.split(".")) + struct.pack("!HB", sport, flags)
    for ctl, packet in records:
        out += struct.pack("!BB", ctl, len(packet)) + packet
    return out


PA = b"\x00\x00"
LAN_SERVER_INPUTS = {
    "public-address": lan_server_input("192.168.1.20", 40000, 0x01, (0x20, PA), (0x00, PA)),
    "public-address-unknown": lan_server_input("192.168.1.20", 40000, 0x01, (0x00, PA)),
    "map-renew-delete": lan_server_input(
        "192.168.1.20", 40000, 0x19,
        (0x00, map_request(2, 7001, 7001, 3600)),
        (0x81, map_request(2, 7001, 0, 3600)),
        (0x00, map_request(1, 7001, 7001, 0xFFFFFFFF)),
        (0x00, map_request(2, 7001, 0, 0)),
        (0x00, map_request(2, 9999, 0, 0)),
        (0x00, map_request(1, 0, 0, 0))),
    "map-pending-done": lan_server_input(
        "192.168.1.20", 40000, 0x18,
        (0x00, map_request(2, 7001, 7001, 60)),
        (0x41, map_request(2, 7001, 7001, 60)),
        (0x04, map_request(2, 7001, 7001, 1)),
        (0xc0, map_request(2, 7001, 7001, 60))),
    "map-pending-fail": lan_server_input(
        "192.168.1.20", 40000, 0x00,
        (0x00, map_request(1, 7001, 0, 60)),
        (0x0c, map_request(1, 7001, 0, 60))),
    "map-pending-removed": lan_server_input(
        "10.0.0.7", 40000, 0x08,
        (0x00, map_request(2, 7001, 0, 60)),
        (0x10, map_request(2, 7002, 0, 60)),
        (0x00, map_request(2, 0, 0, 0))),
    "map-sync-fail": lan_server_input(
        "192.168.1.20", 40000, 0x03, (0x00, map_request(2, 7001, 7001, 60))),
    "max-mappings": lan_server_input(
        "192.168.1.20", 40000, 0x01,
        (0x00, map_request(2, 7001, 7001, 60)),
        (0x00, map_request(1, 7001, 7001, 60)),
        (0x01, map_request(1, 7001, 7001, 60))),
    "internal-port-zero": lan_server_input(
        "192.168.1.20", 40000, 0x01, (0x00, map_request(2, 0, 7001, 60))),
    "errors": lan_server_input(
        "192.168.1.20", 40000, 0x01,
        (0x00, b"\x01\x00"),
        (0x00, b"\x02\x01" + b"\x00" * 22),
        (0x00, b"\x00\x03" + b"\x00" * 10),
        (0x00, b"\x00\x7f"),
        (0x00, b"\x00\x80"),
        (0x00, b"\x00"),
        (0x00, b""),
        (0x00, map_request(2, 7001, 7001, 60)[:8]),
        (0x00, map_request(2, 7001, 7001, 60) + b"\xff" * 4)),
    "rate-limit": lan_server_input("192.168.1.20", 40000, 0x21, *[(0x00, PA)] * 5),
    "outsider": lan_server_input("172.16.0.5", 40000, 0x05,
                                 (0x00, PA), (0x00, map_request(2, 7001, 7001, 60))),
}

def ros_length(n):
    # reference/routeros.md §1.2
    if n <= 0x7F:
        return struct.pack("!B", n)
    if n <= 0x3FFF:
        return struct.pack("!H", n | 0x8000)
    if n <= 0x1FFFFF:
        return struct.pack("!I", n | 0xC00000)[1:]
    if n <= 0xFFFFFFF:
        return struct.pack("!I", n | 0xE0000000)
    return b"\xf0" + struct.pack("!I", n)


def ros_sentence(*words):
    out = b""
    for word in words:
        word = word.encode() if isinstance(word, str) else word
        out += ros_length(len(word)) + word
    return out + b"\x00"


def ros_input(*sentences, cuts=b"\x00\x00"):
    # fuzz-routeros: two bytes choose the chunk sizes the rest is fed in
    return cuts + b"".join(sentences)


ROUTEROS_INPUTS = {
    "login": ros_input(ros_sentence("/login", "=name=admin", "=password=secret", ".tag=1")),
    "login-done": ros_input(ros_sentence("!done", ".tag=1")),
    "login-legacy-challenge": ros_input(
        ros_sentence("!done", "=ret=ebddd18303a54111e2dea05a92ab46b4", ".tag=1")),
    "login-refused": ros_input(
        ros_sentence("!trap", "=message=invalid user name or password (6)", ".tag=1"),
        ros_sentence("!done", ".tag=1")),
    "add-done-ret": ros_input(ros_sentence("!done", "=ret=*1", ".tag=2"), cuts=b"\x03\x05"),
    "print-two-rows": ros_input(
        ros_sentence("!re", "=.id=*1", "=comment=double-natpmp-tcp-51413-192.168.88.10",
                     "=dst-port=51413", ".tag=3"),
        ros_sentence("!re", "=.id=*2", "=comment=", "=a=b=c", ".tag=3"),
        ros_sentence("!done", ".tag=3"), cuts=b"\x00\x01"),
    "trap-done": ros_input(
        ros_sentence("!trap", "=category=1",
                     "=message=input does not match any value of interface", ".tag=4"),
        ros_sentence("!done", ".tag=4")),
    "empty-done": ros_input(ros_sentence("!empty", ".tag=5"), ros_sentence("!done", ".tag=5")),
    "fatal": ros_input(ros_sentence("!fatal", "not logged in")),
    "unknown-reply": ros_input(ros_sentence("!unknown", "=x=y", ".tag=6"),
                               ros_sentence("!done", ".tag=6")),
    "empty-sentences": ros_input(b"\x00\x00", ros_sentence("!done"), b"\x00"),
    "length-2": ros_input(ros_sentence("!re", "=comment=" + "x" * 0x80)),
    "length-3": ros_input(ros_sentence("!re", "=comment=" + "y" * 0x4000), cuts=b"\x1f\x1f"),
    "length-4": ros_input(ros_length(0x200000) + b"z" * 64),
    "length-5": ros_input(ros_length(0x10000080) + b"z" * 8),
    "control-byte": ros_input(ros_sentence("!re"), b"\xf8\x00"),
    "nul-in-word": ros_input(b"\x05!do\x00e\x00"),
    "truncated": ros_input(ros_sentence("!re", "=.id=*1")[:-3]),
}


# fuzz-stun: RFC 5769's vectors and RFC 5780-shaped answers (reference/stun.md)
def stun_attr(kind, value):
    return struct.pack("!HH", kind, len(value)) + value + b"\0" * (-len(value) % 4)


def stun_message(kind, tid, *attrs, fingerprint=True):
    body = b"".join(attrs)
    if fingerprint:
        head = struct.pack("!HHI", kind, len(body) + 8, 0x2112A442) + tid
        crc = (zlib.crc32(head + body) ^ 0x5354554E) & 0xffffffff
        body += stun_attr(0x8028, struct.pack("!I", crc))
    return struct.pack("!HHI", kind, len(body), 0x2112A442) + tid + body


STUN_TID = bytes.fromhex("b7e7a701bc34d686fa87dfae")
STUN_INPUTS = {
    "rfc5769-ipv4": bytes.fromhex(
        "0101003c2112a442b7e7a701bc34d686fa87dfae8022000b7465737420766563746f7220"
        "00200008" "0001a147e112a643000800142b91f599fd9e90c38c7489f92af9ba53f06be7d7"
        "80280004c07d4c96"),
    "rfc5769-ipv6": bytes.fromhex(
        "010100482112a442b7e7a701bc34d686fa87dfae8022000b7465737420766563746f7220"
        "002000140002a1470113a9faa5d3f179bc25f4b5bed2b9d900080014a382954e4be67bf1"
        "1784c97c8292c275bfe3ed4180280004c8fb0b4c"),
    "rfc5769-request": bytes.fromhex(
        "000100582112a442b7e7a701bc34d686fa87dfae8022001053545""54e20746573742063"
        "6c69656e74002400046e0001ff80290008932ff9b151263b36000600096576746a3a68"
        "367659202020000800149aeaa70cbfd8cb56781ef2b5b2d3f249c1b571a280280004"
        "e57a3bcf"),
    "request": stun_message(0x0001, STUN_TID),
    "request-change": stun_message(0x0001, STUN_TID, stun_attr(0x0003, b"\0\0\0\x06")),
    "rfc5780-answer": stun_message(
        0x0101, STUN_TID,
        stun_attr(0x0020, struct.pack("!BBH", 0, 1, 40001 ^ 0x2112) + bytes(
            a ^ b for a, b in zip(bytes([11, 0, 0, 2]), bytes.fromhex("2112a442")))),
        stun_attr(0x802b, struct.pack("!BBH", 0, 1, 3478) + bytes([11, 0, 0, 1])),
        stun_attr(0x802c, struct.pack("!BBH", 0, 1, 3479) + bytes([11, 0, 0, 3]))),
    "mapped-only": stun_message(
        0x0101, STUN_TID, stun_attr(0x0001, struct.pack("!BBH", 0, 1, 40001) + bytes(4)),
        fingerprint=False),
    "error-420": stun_message(0x0111, STUN_TID, stun_attr(0x0009, b"\0\0\x04\x14Unknown"),
                              stun_attr(0x000a, b"\x00\x03")),
    "unknown-required": stun_message(0x0101, STUN_TID, stun_attr(0x7f00, b"x")),
}


# fuzz-wg-uapi: get and set replies as wireguard-go (device/uapi.go) and boringtun (0.6+:
# own_public_key, positive errnos) write them, broken ones; then keys and endpoints as a
# control plane sends them. The fuzz target reads its first two bytes as the cuts.
def wg_key(seed):
    return bytes((seed * 7 + i * 13) & 0xff for i in range(32))


def wg_hex(seed):
    return wg_key(seed).hex().encode()


def wg_go_peer(seed, endpoint=None):
    lines = [b"public_key=" + wg_hex(seed), b"preshared_key=" + b"0" * 64,
             b"protocol_version=1"]
    if endpoint is not None:
        lines.append(b"endpoint=" + endpoint)
    lines += [b"last_handshake_time_sec=0", b"last_handshake_time_nsec=0", b"tx_bytes=0",
              b"rx_bytes=0", b"persistent_keepalive_interval=25", b"allowed_ip=10.0.0.2/32"]
    return b"\n".join(lines) + b"\n"


WG_GO_GET = (b"private_key=" + wg_hex(0x51) + b"\nlisten_port=51820\n" +
             wg_go_peer(0x10, b"198.51.100.10:51820") +
             wg_go_peer(0x11, b"[2001:db8::11]:51821") + wg_go_peer(0x12) +
             wg_go_peer(0x13, b"[fe80::1%eth0]:51820") + b"errno=0\n\n")
WG_CUTS = b"\x07\x0d"
WG_UAPI_INPUTS = {
    "wireguard-go-get": WG_CUTS + WG_GO_GET,
    "wireguard-go-get-bytewise": b"\x00\x00" + WG_GO_GET,
    "boringtun-get": WG_CUTS + b"own_public_key=" + wg_hex(0x70) + b"\nlisten_port=51820\n"
                     b"public_key=" + wg_hex(0x10) + b"\nendpoint=198.51.100.10:51820\n"
                     b"allowed_ip=10.0.0.2/32\nrx_bytes=0\ntx_bytes=0\nerrno=0\n\n",
    "empty-interface": WG_CUTS + b"errno=0\n\n",
    "set-ok": WG_CUTS + b"errno=0\n\n",
    "set-einval": WG_CUTS + b"errno=-22\n\n",
    "set-boringtun-einval": WG_CUTS + b"errno=22\n\n",
    "get-refused": WG_CUTS + b"errno=-55\n\n",
    "cut-mid-reply": WG_CUTS + WG_GO_GET[:150],
    "duplicate-peer": WG_CUTS + wg_go_peer(0x10) + wg_go_peer(0x10) + b"errno=0\n\n",
    "after-errno": WG_CUTS + b"errno=0\npublic_key=" + wg_hex(0x10) + b"\n\n",
    "crlf": WG_CUTS + b"errno=0\r\n\r\n",
    "key-base64": b"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
    "key-hex": wg_hex(0x10),
    "endpoint-v4": b"198.51.100.7:51820",
    "endpoint-v6": b"[2001:db8::1]:51820",
    "endpoint-injected": b"198.51.100.7:51820\nremove=true",
}


# fuzz-wg-netlink: the kernel's answers, sequence number 1, family 0x1b
# (drivers/net/wireguard/netlink.c): the family lookup, a dump in two messages with a peer
# continued across them, errors, acknowledgements
def nla(kind, payload, nested=False):
    return rtattr(kind | (0x8000 if nested else 0), payload)


def genl(kind, cmd, attrs, seq=1, flags=0):
    return nlmsg(kind, struct.pack("=BBH", cmd, 1, 0) + b"".join(attrs), seq=seq, flags=flags)


def nl_error(errno, seq=1):
    return nlmsg(2, struct.pack("=i", -errno) + nlmsg(0x1b, b"", seq=seq), seq=seq)


def nl_done(errno=0):
    return nlmsg(3, struct.pack("=i", -errno), flags=2)


def wg_sockaddr_in(addr, port):
    return struct.pack("=H", 2) + struct.pack("!H", port) + bytes(addr) + bytes(8)


def wg_sockaddr_in6(addr, port, scope=0):
    return (struct.pack("=H", 10) + struct.pack("!HI", port, 0) + bytes(addr) +
            struct.pack("=I", scope))


def wg_nl_peer(seed, endpoint=None, first=True):
    attrs = [nla(1, wg_key(seed))]
    if first:
        attrs.append(nla(2, bytes(32)))
        attrs.append(nla(5, struct.pack("=H", 25)))
        if endpoint is not None:
            attrs.append(nla(4, endpoint))
    allowed = nla(0, nla(3, b"\x20") + nla(1, struct.pack("=H", 2)) + nla(2, bytes([10, 0, 0, 2])),
                  nested=True)
    attrs.append(nla(9, allowed, nested=True))
    return nla(0, b"".join(attrs), nested=True)


def wg_nl_device(peers, first=True, flags=2):
    attrs = [nla(2, b"wg0\0")]
    if first:
        attrs = [nla(6, struct.pack("=H", 51820)), nla(1, struct.pack("=I", 5))] + attrs + [
            nla(3, wg_key(0x51)), nla(4, wg_key(0x52))]
    attrs.append(nla(8, b"".join(peers), nested=True))
    return genl(0x1b, 0, attrs, flags=flags)


WG_FAMILY = genl(0x10, 1, [nla(2, b"wireguard\0"), nla(1, struct.pack("=H", 0x1b)),
                           nla(3, struct.pack("=I", 1))])
WG_NETLINK_INPUTS = {
    "family-and-ack": WG_FAMILY + nl_error(0),
    "family-enoent": nl_error(2),
    "dump": wg_nl_device([wg_nl_peer(0x10, wg_sockaddr_in([198, 51, 100, 10], 51820)),
                          wg_nl_peer(0x11, wg_sockaddr_in6(bytes(15) + b"\x01", 51821))]) +
            wg_nl_device([wg_nl_peer(0x11, first=False), wg_nl_peer(0x12),
                          wg_nl_peer(0x13, wg_sockaddr_in6(b"\xfe\x80" + bytes(13) + b"\x01",
                                                           51822, 2))], first=False) +
            nl_done(),
    "dump-enodev": nl_error(19),
    "dump-done-eperm": nl_done(1),
    "dump-interrupted": wg_nl_device([wg_nl_peer(0x10)], flags=2 | 0x10),
    "ack": nl_error(0),
    "ack-einval": nl_error(22),
    "other-seq": nl_error(0, seq=7) + nl_error(22),
    "truncated": WG_FAMILY[:27],
}

def wg_key_base64(byte):
    return base64.b64encode(bytes([byte]) * 32)


# the control plane's replies to PUT /v1/nodes/ID/endpoint (issue 15), as fuzz-control-plane
# reads them: the status, then the body, whose first line is also the reason phrase;
# fuzz-control-plane sends "c2ln" as the bearer token
CONTROL_PLANE_REPLIES = {
    "peers": pia(200, b'{"peer_endpoints": [{"peer_id": "' + wg_key_base64(1) +
                 b'", "endpoint": "203.0.113.5:54321"}, {"peer_id": "' + wg_key_base64(2) +
                 b'", "endpoint": "[2001:db8::1]:51820"}, {"peer_id": "' + wg_key_base64(3) +
                 b'", "endpoint": ""}]}'),
    "no-peers": pia(200, b'{"peer_endpoints": []}'),
    "null-peers": pia(200, b'{"peer_endpoints": null, "other": {"a": [1]}}'),
    "missing-peers": pia(200, b"{}"),
    "no-content": pia(204, b""),
    "null-endpoint": pia(200, b'{"peer_endpoints": [{"peer_id": "' + wg_key_base64(4) +
                         b'", "endpoint": null}]}'),
    "not-an-array": pia(200, b'{"peer_endpoints": {"peer_id": "x"}}'),
    "number-endpoint": pia(200, b'{"peer_endpoints": [{"peer_id": "' + wg_key_base64(5) +
                           b'", "endpoint": 54321}]}'),
    "bad-key": pia(200, b'{"peer_endpoints": [{"peer_id": "c2ln", "endpoint": "1.2.3.4:5"}]}'),
    "host-name": pia(200, b'{"peer_endpoints": [{"peer_id": "' + wg_key_base64(6) +
                     b'", "endpoint": "peer.example.net:51820"}]}'),
    "twice": pia(200, b'{"peer_endpoints": [{"peer_id": "' + wg_key_base64(7) +
                 b'", "endpoint": "1.2.3.4:5"}, {"peer_id": "' + wg_key_base64(7) +
                 b'", "endpoint": "1.2.3.4:6"}]}'),
    "nul-escape": pia(200, b'{"peer_endpoints": [{"peer_id": "' + wg_key_base64(8)[:43] +
                      b'=\\u0000x", "endpoint": "1.2.3.4:5"}]}'),
    "trailing": pia(200, b'{"peer_endpoints": []}{}'),
    "unauthorized-echo": pia(401, b"Unauthorized\n{\"error\": \"bad token c2ln\"}"),
    "forbidden": pia(403, b""),
    "not-found": pia(404, b"Not Found\nno such node"),
    "server-error": pia(500, b"Internal Server Error\n<html>\x01\xff</html>"),
}


def write(target, name, data):
    directory = os.path.join(HERE, "corpus", target)
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, name), "wb") as f:
        f.write(data)


def main():
    for target in ("fuzz-natpmp-response", "fuzz-natpmp-request", "fuzz-config",
                   "fuzz-default-route", "fuzz-pia", "fuzz-qbittorrent",
                   "fuzz-deluge", "fuzz-lan-server", "fuzz-routeros", "fuzz-stun",
                   "fuzz-wg-uapi", "fuzz-wg-netlink", "fuzz-control-plane"):
        shutil.rmtree(os.path.join(HERE, "corpus", target), ignore_errors=True)
    for name, data in RESPONSES.items():
        write("fuzz-natpmp-response", name, data)
    for name, data in REQUESTS.items():
        write("fuzz-natpmp-request", name, data)
    for name, data in CONFIGS.items():
        write("fuzz-config", name, data)
    for name, data in ROUTES.items():
        write("fuzz-default-route", name, data)
    for name, data in PIA_REPLIES.items():
        write("fuzz-pia", name, data)
    for name, data in QBITTORRENT_REPLIES.items():
        write("fuzz-qbittorrent", name, data)
    for name, data in DELUGE_REPLIES.items():
        write("fuzz-deluge", name, data)
    for name, data in LAN_SERVER_INPUTS.items():
        write("fuzz-lan-server", name, data)
    for name, data in ROUTEROS_INPUTS.items():
        write("fuzz-routeros", name, data)
    for name, data in STUN_INPUTS.items():
        write("fuzz-stun", name, data)
    for name, data in WG_UAPI_INPUTS.items():
        write("fuzz-wg-uapi", name, data)
    for name, data in WG_NETLINK_INPUTS.items():
        write("fuzz-wg-netlink", name, data)
    for name, data in CONTROL_PLANE_REPLIES.items():
        write("fuzz-control-plane", name, data)
    with open(os.path.join(TOP, "data", "portmapd.conf.example"), "rb") as f:
        write("fuzz-config", "portmapd.conf.example", f.read())
    return 0


if __name__ == "__main__":
    sys.exit(main())
