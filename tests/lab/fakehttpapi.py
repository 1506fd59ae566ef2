# SPDX-License-Identifier: GPL-2.0-or-later
"""Fake natpmp-http-api (BohdanTkachenko/natpmp-http-api v1.0.1) for the portmap test lab.

What it imitates (natpmp.md 2.5; read from the service's src/lib.rs, src/main.rs, src/client.rs,
its Cargo.toml's axum 0.8 and natpmp 0.5, and axum 0.8.9's Json extractor):

  * CLI --gateway (required; IPv6 -> error, exit 1), --bind-address (0.0.0.0), --port (8080),
    --max-duration (300; -1 disables), --log-level (accepted, ignored), each also from the same
    environment variables as the service (NATPMP_GATEWAY, API_BIND_ADDRESS, API_PORT,
    NATPMP_MAX_DURATION, LOG_LEVEL); API_TOKEN (env only; unset: no auth, a warning).
  * GET /health (HEAD too, as axum's get()) -> 200 {"status":"healthy","timestamp":T}, T as
    chrono's Utc::now().to_rfc3339() ("2026-12-06T05:57:09.123456789+00:00").  No auth.
  * POST /forward, in the service's order:
      1. axum's Json<ForwardRequest> extractor, before the handler (so before auth), plain text
         (text/plain; charset=utf-8):
         415 "Expected request with `Content-Type: application/json`" (no or non-JSON type;
             application/json, application/json; charset=..., application/*+json accepted),
         413 "Failed to buffer the request body: length limit exceeded" (> 2 MiB),
         400 "Failed to parse the request body as JSON: <serde_json error>" (syntax, EOF,
             trailing characters),
         422 "Failed to deserialize the JSON body into the target type: <error>" (missing or
             duplicate field, wrong type, out of range),
         where <error> is serde_path_to_error's "<path>: " prefix (only when the error is inside a
         field's value) + serde_json's "<message> at line L column C" (messages and positions
         reproduced for what serde_json + serde's derive produce for
         {internal_port: u16, protocol: String, duration: u32}; unknown fields are ignored,
         the 3-element array form is accepted, as serde's derive does).
      2. auth: Authorization must equal "Bearer <API_TOKEN>" exactly -> else 401
         {"error":"Unauthorized"}.
      3. duration = min(duration, max_duration).
      4. the NAT-PMP client is created (UDP socket bound to 0.0.0.0:0, non-blocking, connected
         to gateway:5351) -> on failure 500 {"error":"Failed to create NAT-PMP client"}
         (e.g. --gateway 255.255.255.255: connect() is refused without SO_BROADCAST).
      5. protocol.lower() must be tcp or udp -> else 400 {"error":"protocol must be tcp or udp"}
         (after 4, as in the service: a bad protocol with a broken client gives the 500).
      6. one map request (opcode 1 udp / 2 tcp, internal port, suggested external port 0,
         lifetime = the clamped duration) is sent; 250 ms sleep; one non-blocking read of up to
         16 bytes (natpmp 0.5's read_response_or_retry): a datagram from the gateway with
         version 0, opcode 128..130 and result 0 -> 200
         {"internal_port":I,"external_port":E,"protocol":"tcp|udp","duration":D}, D the clamped
         request (not the granted lifetime), E bytes 10-11 of the reply (0 for an opcode-128
         reply: the crate does not match the opcode to the request); nothing there yet -> the
         crate's retry timer (250 ms) has passed, so the request is sent ONCE MORE and the answer
         is 500; anything else (result != 0, ICMP refused, wrong version/opcode) -> 500
         {"error":"Failed to request port mapping"}.
  * Other paths: 404, empty body; other methods on /health or /forward: 405 with
    `allow: GET,HEAD` / `allow: POST`, empty body (axum's router).  HTTP/1.1 keep-alive.  JSON
    replies are compact (serde_json), Content-Type application/json.

What it adds (test-only, all off by default):

  --log FILE      one JSON line per request, appended and flushed before the reply is sent:
                  {"time": unix s, "boottime": CLOCK_BOOTTIME s, "method", "path", "status",
                   "peer": "addr:port", "duration_ms"}; for POST /forward also "body" (the raw
                  body as text, truncated at 4 KiB), "authorized" (bool, the header is not
                  logged) and, when NAT-PMP was used, "natpmp": {"sent": requests sent,
                  "reply": hex of the reply or null, "error": natpmp error name or null}.
  --delay-ms N    hold every reply N ms more (after the work: a slow service or network).
  READY line      "READY <address> <port> <pid>" on stdout once listening (--port 0: any port).
"""

import argparse
import datetime
import decimal
import ipaddress
import json
import os
import re
import signal
import socket
import socketserver
import struct
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

NATPMP_PORT = 5351
BODY_LIMIT = 2 * 1024 * 1024          # axum's DefaultBodyLimit
NATPMP_WAIT = 0.25                     # the service's std::thread::sleep(250 ms)

MSG_415 = "Expected request with `Content-Type: application/json`"
MSG_413 = "Failed to buffer the request body: length limit exceeded"
PREFIX_400 = "Failed to parse the request body as JSON"
PREFIX_422 = "Failed to deserialize the JSON body into the target type"


# ------------------------------------------------------------------------------------------
# serde_json + serde(derive) + serde_path_to_error, for one struct:
#   struct ForwardRequest { internal_port: u16, protocol: String, duration: u32 }

class JsonError(Exception):
    """category: "syntax" | "eof" | "data"; line 0 = no position yet (serde's custom errors)."""

    def __init__(self, category, msg, line=0, column=0):
        super().__init__(msg)
        self.category, self.msg, self.line, self.column = category, msg, line, column
        self.path = []                 # serde_path_to_error segments, innermost last

    def text(self):
        out = self.msg if self.line == 0 else \
            f"{self.msg} at line {self.line} column {self.column}"
        if self.path:
            p = ""
            for i, seg in enumerate(self.path):
                if isinstance(seg, int):
                    p += f"[{seg}]"
                else:
                    p += ("." if i else "") + seg
            out = f"{p}: {out}"
        return out


EOF_CODES = {"EOF while parsing a list", "EOF while parsing an object",
             "EOF while parsing a string", "EOF while parsing a value"}


def _rust_debug_str(s):
    out = []
    for ch in s:
        o = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\0":
            out.append("\\0")
        elif o < 0x20 or o == 0x7F:
            out.append(f"\\u{{{o:x}}}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _rust_float(f):
    if f != f:
        return "NaN"
    if f in (float("inf"), float("-inf")):
        return "inf" if f > 0 else "-inf"
    s = format(decimal.Decimal(repr(f)), "f")
    if "." not in s:
        s += ".0"
    return s


class Unexpected:
    def __init__(self, text):
        self.text = text


class _De:
    def __init__(self, data):
        self.s = data
        self.i = 0

    # positions as serde_json's SliceRead: line 1-based, column = bytes since the last newline
    def _pos(self, i):
        line = 1 + self.s.count(b"\n", 0, i)
        start = self.s.rfind(b"\n", 0, i) + 1
        return line, i - start

    def error(self, msg):
        line, col = self._pos(self.i)
        return JsonError("eof" if msg in EOF_CODES else "syntax", msg, line, col)

    def peek_error(self, msg):
        line, col = self._pos(min(len(self.s), self.i + 1))
        return JsonError("eof" if msg in EOF_CODES else "syntax", msg, line, col)

    def fix(self, err):
        if err.line == 0:
            err.line, err.column = self._pos(self.i)
        return err

    def peek(self):
        return self.s[self.i] if self.i < len(self.s) else None

    def ws(self):
        while self.i < len(self.s) and self.s[self.i] in b" \n\t\r":
            self.i += 1
        return self.peek()

    def next_char(self):
        c = self.peek()
        if c is not None:
            self.i += 1
        return c

    # --- literals ---------------------------------------------------------------------------
    def ident(self, rest):
        for expected in rest:
            c = self.next_char()
            if c is None:
                raise self.error("EOF while parsing a value")
            if c != expected:
                raise self.error("expected ident")

    def string(self, validate_utf8=True):
        """After the opening quote; returns the str (or None when not validating)."""
        out = bytearray()
        while True:
            c = self.peek()
            if c is None:
                raise self.error("EOF while parsing a string")
            if c == 0x22:
                self.i += 1
                if not validate_utf8:
                    return None
                try:
                    return out.decode("utf-8")
                except UnicodeDecodeError:
                    raise self.error("invalid unicode code point") from None
            if c == 0x5C:
                self.i += 1
                e = self.next_char()
                if e is None:
                    raise self.error("EOF while parsing a string")
                simple = {0x22: b'"', 0x5C: b"\\", 0x2F: b"/", 0x62: b"\b", 0x66: b"\f",
                          0x6E: b"\n", 0x72: b"\r", 0x74: b"\t"}
                if e in simple:
                    out += simple[e]
                elif e == 0x75:
                    n = self._hex4()
                    if 0xD800 <= n < 0xDC00:
                        if self.peek() != 0x5C or self.i + 1 >= len(self.s) or \
                                self.s[self.i + 1] != 0x75:
                            raise self.error("lone leading surrogate in hex escape")
                        self.i += 2
                        n2 = self._hex4()
                        if not 0xDC00 <= n2 < 0xE000:
                            raise self.error("lone leading surrogate in hex escape")
                        n = 0x10000 + ((n - 0xD800) << 10) + (n2 - 0xDC00)
                    elif 0xDC00 <= n < 0xE000:
                        raise self.error("lone leading surrogate in hex escape")
                    out += chr(n).encode("utf-8")
                else:
                    raise self.error("invalid escape")
                continue
            if c < 0x20:
                self.i += 1
                raise self.error("control character (\\u0000-\\u001F) found while parsing a string")
            out.append(c)
            self.i += 1

    def _hex4(self):
        n = 0
        for _ in range(4):
            c = self.next_char()
            if c is None:
                raise self.error("EOF while parsing a string")
            ch = chr(c)
            if ch not in "0123456789abcdefABCDEF":
                raise self.error("invalid escape")
            n = n * 16 + int(ch, 16)
        return n

    # --- numbers: ("u", int) | ("i", int) | ("f", float) ---------------------------------------
    def integer(self, positive):
        c = self.next_char()
        if c is None:
            raise self.error("EOF while parsing a value")
        if c == 0x30:
            p = self.peek()
            if p is not None and 0x30 <= p <= 0x39:
                raise self.peek_error("invalid number")
            return self._number(positive, 0, "0")
        if 0x31 <= c <= 0x39:
            digits = chr(c)
            while True:
                p = self.peek()
                if p is not None and 0x30 <= p <= 0x39:
                    digits += chr(p)
                    self.i += 1
                else:
                    return self._number(positive, int(digits), digits)
        raise self.error("invalid number")

    def _number(self, positive, sig, digits):
        p = self.peek()
        text = digits
        is_float = False
        if p == 0x2E:                                  # '.'
            self.i += 1
            frac = ""
            while self.peek() is not None and 0x30 <= self.peek() <= 0x39:
                frac += chr(self.next_char())
            if not frac:
                if self.peek() is not None:
                    raise self.peek_error("invalid number")
                raise self.peek_error("EOF while parsing a value")
            text += "." + frac
            is_float = True
            p = self.peek()
        if p in (0x65, 0x45):                          # 'e' | 'E'
            self.i += 1
            sign = ""
            if self.peek() in (0x2B, 0x2D):
                sign = chr(self.next_char())
            c = self.next_char()
            if c is None:
                raise self.error("EOF while parsing a value")
            if not 0x30 <= c <= 0x39:
                raise self.error("invalid number")
            exp = chr(c)
            while self.peek() is not None and 0x30 <= self.peek() <= 0x39:
                exp += chr(self.next_char())
            text += "e" + sign + exp
            is_float = True
        if is_float or sig > 0xFFFFFFFFFFFFFFFF:
            f = float(text)
            if f in (float("inf"),):
                raise self.error("number out of range")
            return ("f", f if positive else -f)
        if positive:
            return ("u", sig)
        if sig == 0 or sig > 2 ** 63:
            return ("f", -float(sig))
        return ("i", -sig)

    # --- values -----------------------------------------------------------------------------
    def invalid_type(self, expected):
        """serde_json's peek_invalid_type: consume what is there, describe it."""
        c = self.peek()
        if c == 0x6E:
            self.i += 1
            self.ident(b"ull")
            u = "null"
        elif c == 0x74:
            self.i += 1
            self.ident(b"rue")
            u = "boolean `true`"
        elif c == 0x66:
            self.i += 1
            self.ident(b"alse")
            u = "boolean `false`"
        elif c == 0x2D:
            self.i += 1
            u = self._describe_number(self.integer(False))
        elif c is not None and 0x30 <= c <= 0x39:
            u = self._describe_number(self.integer(True))
        elif c == 0x22:
            self.i += 1
            u = "string " + _rust_debug_str(self.string())
        elif c == 0x5B:
            u = "sequence"
        elif c == 0x7B:
            u = "map"
        else:
            raise self.peek_error("expected value")
        return self.fix(JsonError("data", f"invalid type: {u}, expected {expected}"))

    @staticmethod
    def _describe_number(n):
        kind, v = n
        if kind == "f":
            return f"floating point `{_rust_float(v)}`"
        return f"integer `{v}`"

    def unsigned(self, bits):
        name = f"u{bits}"
        c = self.ws()
        if c is None:
            raise self.peek_error("EOF while parsing a value")
        if c == 0x2D:
            self.i += 1
            n = self.integer(False)
        elif 0x30 <= c <= 0x39:
            n = self.integer(True)
        else:
            raise self.invalid_type(name)
        kind, v = n
        if kind == "f":
            raise self.fix(JsonError("data", f"invalid type: floating point `{_rust_float(v)}`, "
                                             f"expected {name}"))
        if kind == "i" or v >= 1 << bits:
            raise self.fix(JsonError("data", f"invalid value: integer `{v}`, expected {name}"))
        return v

    def str_value(self):
        c = self.ws()
        if c is None:
            raise self.peek_error("EOF while parsing a value")
        if c == 0x22:
            self.i += 1
            return self.string()
        raise self.invalid_type("a string")

    def ignore_value(self):
        c = self.ws()
        if c is None:
            raise self.peek_error("EOF while parsing a value")
        if c == 0x6E:
            self.i += 1
            self.ident(b"ull")
        elif c == 0x74:
            self.i += 1
            self.ident(b"rue")
        elif c == 0x66:
            self.i += 1
            self.ident(b"alse")
        elif c == 0x2D:
            self.i += 1
            self.integer(False)
        elif 0x30 <= c <= 0x39:
            self.integer(True)
        elif c == 0x22:
            self.i += 1
            self.string(validate_utf8=False)
        elif c == 0x5B:
            self.i += 1
            first = True
            while True:
                if not self._has_next_element(first):
                    break
                first = False
                self.ignore_value()
            self._end_seq()
        elif c == 0x7B:
            self.i += 1
            first = True
            while self._has_next_key(first):
                first = False
                self.i += 1
                self.string(validate_utf8=False)
                self._colon()
                self.ignore_value()
            self._end_map()
        else:
            raise self.peek_error("expected value")

    def _has_next_key(self, first):
        c = self.ws()
        if c == 0x7D:
            return False
        if c == 0x2C and not first:
            self.i += 1
            c = self.ws()
        elif c is None:
            raise self.peek_error("EOF while parsing an object")
        elif not first:
            raise self.peek_error("expected `,` or `}`")
        if c == 0x22:
            return True
        if c == 0x7D:
            raise self.peek_error("trailing comma")
        if c is None:
            raise self.peek_error("EOF while parsing a value")
        raise self.peek_error("key must be a string")

    def _colon(self):
        c = self.ws()
        if c == 0x3A:
            self.i += 1
            return
        if c is None:
            raise self.peek_error("EOF while parsing an object")
        raise self.peek_error("expected `:`")

    def _end_map(self):
        c = self.ws()
        if c == 0x7D:
            self.i += 1
            return
        if c == 0x2C:
            raise self.peek_error("trailing comma")
        if c is None:
            raise self.peek_error("EOF while parsing an object")
        raise self.peek_error("trailing characters")

    def _has_next_element(self, first):
        c = self.ws()
        if c == 0x5D:
            return False
        if c == 0x2C and not first:
            self.i += 1
            c = self.ws()
        elif c is None:
            raise self.peek_error("EOF while parsing a list")
        elif not first:
            raise self.peek_error("expected `,` or `]`")
        if c == 0x5D:
            raise self.peek_error("trailing comma")
        if c is None:
            raise self.peek_error("EOF while parsing a value")
        return True

    def _end_seq(self):
        c = self.ws()
        if c == 0x5D:
            self.i += 1
            return
        if c == 0x2C:
            self.i += 1
            if self.ws() == 0x5D:
                raise self.peek_error("trailing comma")
            raise self.peek_error("trailing characters")
        if c is None:
            raise self.peek_error("EOF while parsing a list")
        raise self.peek_error("trailing characters")


FIELDS = (("internal_port", lambda de: de.unsigned(16)),
          ("protocol", lambda de: de.str_value()),
          ("duration", lambda de: de.unsigned(32)))
STRUCT = "struct ForwardRequest"


def _with_path(seg, fn, de):
    try:
        return fn(de)
    except JsonError as e:
        e.path.insert(0, seg)
        raise


def parse_forward_request(body):
    """bytes -> dict, or raises JsonError (category syntax/eof -> 400, data -> 422), as
    axum 0.8's Json::<ForwardRequest>::from_bytes."""
    de = _De(body)
    c = de.ws()
    if c is None:
        raise de.peek_error("EOF while parsing a value")
    values = {}
    if c == 0x7B:
        de.i += 1
        err = None
        try:
            first = True
            while de._has_next_key(first):
                first = False
                de.i += 1
                key = de.string()
                known = dict(FIELDS)
                if key in known and key in values:
                    raise JsonError("data", f"duplicate field `{key}`")
                reader = known.get(key)

                def value(d, reader=reader):
                    d._colon()
                    return reader(d) if reader else d.ignore_value()
                v = _with_path(key, value, de)
                if reader:
                    values[key] = v
            for name, _ in FIELDS:
                if name not in values:
                    raise JsonError("data", f"missing field `{name}`")
        except JsonError as e:
            err = e
        try:
            de._end_map()                 # serde_json runs end_map even after an error
        except JsonError as e:
            err = err or e
        if err:
            raise de.fix(err)
    elif c == 0x5B:
        de.i += 1
        err = None
        try:
            first = True
            for idx, (name, reader) in enumerate(FIELDS):
                if not de._has_next_element(first):
                    raise JsonError("data", f"invalid length {idx}, expected {STRUCT} "
                                            f"with {len(FIELDS)} elements")
                first = False
                values[name] = _with_path(idx, reader, de)
        except JsonError as e:
            err = e
        try:
            de._end_seq()
        except JsonError as e:
            err = err or e
        if err:
            raise de.fix(err)
    else:
        raise de.invalid_type(STRUCT)
    if de.ws() is not None:
        raise de.peek_error("trailing characters")
    return values


def json_content_type(value):
    """axum 0.8 json_content_type(): the mime's type is application and its subtype json or
    its suffix +json."""
    if value is None:
        return False
    if any(not (0x20 <= ord(ch) < 0x7F or ch == "\t") for ch in value):
        return False
    essence = value.split(";", 1)[0].strip().lower()
    m = re.fullmatch(r"([!#$%&'*+.^_`|~0-9a-z-]+)/([!#$%&'*+.^_`|~0-9a-z-]+)", essence)
    if not m:
        return False
    sub = m.group(2)
    return m.group(1) == "application" and (sub == "json" or sub.endswith("+json"))


# ------------------------------------------------------------------------------------------
# natpmp 0.5 (fengyc/natpmp) as the service uses it

class NatpmpError(Exception):
    pass


def natpmp_create(gateway):
    """Natpmp::new_with: bind 0.0.0.0:0, non-blocking, connect gateway:5351."""
    try:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    except OSError:
        raise NatpmpError("NATPMP_ERR_SOCKETERROR") from None
    try:
        s.bind(("0.0.0.0", 0))
        s.setblocking(False)
        s.connect((gateway, NATPMP_PORT))
    except OSError:
        s.close()
        raise NatpmpError("NATPMP_ERR_CONNECTERR") from None
    return s


def natpmp_map(sock, gateway, protocol, internal_port, lifetime, trace):
    """send_port_mapping_request + sleep(250 ms) + read_response_or_retry; -> external port."""
    req = struct.pack("!BBHHHI", 0, 1 if protocol == "udp" else 2, 0, internal_port, 0, lifetime)

    def send():
        try:
            n = sock.send(req)
        except OSError:
            n = -1
        trace["sent"] += 1
        if n != len(req):
            raise NatpmpError("NATPMP_ERR_SENDERR")

    send()
    retry_time = time.monotonic() + NATPMP_WAIT
    time.sleep(NATPMP_WAIT)
    try:
        data, addr = sock.recvfrom(16)
    except BlockingIOError:
        if time.monotonic() >= retry_time:
            send()                    # the crate's first retransmission, then TRYAGAIN
        raise NatpmpError("NATPMP_TRYAGAIN") from None
    except ConnectionRefusedError:
        raise NatpmpError("NATPMP_ERR_NOGATEWAYSUPPORT") from None
    except OSError:
        raise NatpmpError("NATPMP_ERR_RECVFROM") from None
    trace["reply"] = data.hex()
    buf = data.ljust(16, b"\0")
    if addr[0] != gateway:
        raise NatpmpError("NATPMP_ERR_WRONGPACKETSOURCE")
    if buf[0] != 0:
        raise NatpmpError("NATPMP_ERR_UNSUPPORTEDVERSION")
    if not 128 <= buf[1] <= 130:
        raise NatpmpError("NATPMP_ERR_UNSUPPORTEDOPCODE")
    rc = struct.unpack("!H", buf[2:4])[0]
    if rc != 0:
        raise NatpmpError({1: "NATPMP_ERR_UNSUPPORTEDVERSION", 2: "NATPMP_ERR_NOTAUTHORIZED",
                           3: "NATPMP_ERR_NETWORKFAILURE", 4: "NATPMP_ERR_OUTOFRESOURCES",
                           5: "NATPMP_ERR_UNSUPPORTEDOPCODE"}.get(rc, "NATPMP_ERR_UNDEFINEDERROR"))
    if buf[1] & 0x7F == 0:
        return 0
    return struct.unpack("!H", buf[10:12])[0]


# ------------------------------------------------------------------------------------------
# HTTP

def rfc3339_now():
    """chrono::Utc::now().to_rfc3339(): SecondsFormat::AutoSi, "+00:00"."""
    ns = time.time_ns()
    sec, frac = divmod(ns, 10 ** 9)
    base = datetime.datetime.fromtimestamp(sec, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    if frac == 0:
        f = ""
    elif frac % 10 ** 6 == 0:
        f = f".{frac // 10 ** 6:03d}"
    elif frac % 10 ** 3 == 0:
        f = f".{frac // 10 ** 3:06d}"
    else:
        f = f".{frac:09d}"
    return f"{base}{f}+00:00"


def compact(obj):
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


class Config:
    def __init__(self, gateway, token, max_duration, log_path=None, delay_ms=0):
        self.gateway = gateway
        self.token = token
        self.max_duration = max_duration
        self.log_path = log_path
        self.delay = delay_ms / 1000.0
        self.log_lock = threading.Lock()

    def log(self, entry):
        if not self.log_path:
            return
        line = json.dumps(entry, sort_keys=True) + "\n"
        with self.log_lock:
            with open(self.log_path, "a") as f:
                f.write(line)
                f.flush()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "natpmp-http-api-fake"

    def __getattr__(self, name):
        # every method reaches the router (axum answers 404/405 for all of them)
        if name.startswith("do_"):
            return self.route
        raise AttributeError(name)

    def log_message(self, fmt, *args):
        if self.server.verbose:
            sys.stderr.write("%s - %s\n" % (self.address_string(), fmt % args))

    def send_error(self, code, message=None, explain=None):
        # malformed HTTP: hyper answers with an empty body and closes
        self.close_connection = True
        try:
            self.send_response_only(code)
            self.send_header("content-length", "0")
            self.send_header("connection", "close")
            self.end_headers()
        except OSError:
            pass

    # --- body --------------------------------------------------------------------------------
    def _read_body(self, limit=None):
        """-> bytes, or None when over limit (the connection is then closed)."""
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            out = bytearray()
            while True:
                line = self.rfile.readline(65537)
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                out += self.rfile.read(size)
                self.rfile.readline(65537)
                if limit is not None and len(out) > limit:
                    self.close_connection = True
                    return None
            return bytes(out)
        try:
            n = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            n = 0
        if limit is not None and n > limit:
            self.close_connection = True
            return None
        return self.rfile.read(n) if n > 0 else b""

    def _reply(self, status, body=b"", ctype=None, extra=()):
        if self.server.config.delay:
            time.sleep(self.server.config.delay)
        self.send_response_only(status)
        self.send_header("date", self.date_time_string())
        if ctype:
            self.send_header("content-type", ctype)
        for k, v in extra:
            self.send_header(k, v)
        self.send_header("content-length", str(len(body)))
        if self.close_connection:
            self.send_header("connection", "close")
        # head and body in one write, as hyper does (no Nagle/delayed-ACK stall in between)
        self._headers_buffer.append(b"\r\n")
        data = b"".join(self._headers_buffer) + (b"" if self.command == "HEAD" else body)
        self._headers_buffer = []
        self.wfile.write(data)
        self.wfile.flush()

    # --- routes ------------------------------------------------------------------------------
    def route(self):
        t0 = time.monotonic()
        target = self.path
        if "://" in target.split("?", 1)[0]:
            target = "/" + target.split("://", 1)[1].partition("/")[2]
        path = target.split("?", 1)[0].split("#", 1)[0]
        entry = {"time": time.time(), "boottime": time.clock_gettime(time.CLOCK_BOOTTIME),
                 "method": self.command, "path": path,
                 "peer": f"{self.client_address[0]}:{self.client_address[1]}"}
        if path == "/forward" and self.command == "POST":
            status, body, ctype = self.forward(entry)
            extra = ()
        elif path == "/health" and self.command in ("GET", "HEAD"):
            self._read_body()
            status, body, ctype = 200, compact({"status": "healthy",
                                                "timestamp": rfc3339_now()}), "application/json"
            extra = ()
        elif path in ("/health", "/forward"):
            self._read_body()
            status, body, ctype = 405, b"", None
            extra = (("allow", "GET,HEAD" if path == "/health" else "POST"),)
        else:
            self._read_body()
            status, body, ctype = 404, b"", None
            extra = ()
        entry["status"] = status
        entry["duration_ms"] = round((time.monotonic() - t0) * 1000, 3)
        self.server.config.log(entry)
        self._reply(status, body, ctype, extra)

    def forward(self, entry):
        cfg = self.server.config
        text = "text/plain; charset=utf-8"
        if not json_content_type(self.headers.get("Content-Type")):
            self._read_body()
            return 415, MSG_415.encode(), text
        raw = self._read_body(BODY_LIMIT)
        if raw is None:
            return 413, MSG_413.encode(), text
        entry["body"] = raw[:4096].decode("utf-8", "replace")
        try:
            req = parse_forward_request(raw)
        except JsonError as e:
            if e.category == "data":
                return 422, f"{PREFIX_422}: {e.text()}".encode(), text
            return 400, f"{PREFIX_400}: {e.text()}".encode(), text

        auth = self.headers.get("Authorization")
        ok = cfg.token is None or (
            auth is not None and all(0x20 <= ord(ch) < 0x7F or ch == "\t" for ch in auth)
            and auth == f"Bearer {cfg.token}")
        entry["authorized"] = ok
        if not ok:
            return 401, compact({"error": "Unauthorized"}), "application/json"

        duration = req["duration"] if cfg.max_duration is None \
            else min(req["duration"], cfg.max_duration)
        try:
            sock = natpmp_create(cfg.gateway)
        except NatpmpError as e:
            entry["natpmp"] = {"sent": 0, "reply": None, "error": str(e)}
            return 500, compact({"error": "Failed to create NAT-PMP client"}), "application/json"
        try:
            protocol = req["protocol"].lower()
            if protocol not in ("tcp", "udp"):
                return 400, compact({"error": "protocol must be tcp or udp"}), "application/json"
            trace = {"sent": 0, "reply": None, "error": None}
            entry["natpmp"] = trace
            try:
                eport = natpmp_map(sock, cfg.gateway, protocol, req["internal_port"], duration,
                                   trace)
            except NatpmpError as e:
                trace["error"] = str(e)
                if self.server.verbose:
                    sys.stderr.write(f"Failed to request port mapping: {e}\n")
                return 500, compact({"error": "Failed to request port mapping"}), \
                    "application/json"
        finally:
            sock.close()
        return 200, compact({"internal_port": req["internal_port"], "external_port": eport,
                             "protocol": protocol, "duration": duration}), "application/json"


class Server(socketserver.ThreadingMixIn, HTTPServer):
    daemon_threads = True
    allow_reuse_address = True        # tokio's TcpListener::bind sets SO_REUSEADDR too

    def server_bind(self):
        # HTTPServer.server_bind calls getfqdn(): skip the name lookup
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), port


def main(argv=None):
    env = os.environ
    p = argparse.ArgumentParser(
        prog="fake-natpmp-http-api",
        description="Fake natpmp-http-api (NAT-PMP HTTP API server) for the portmap test lab: "
                    "the service's routes, statuses, bodies and NAT-PMP exchange.",
        epilog="Environment: API_TOKEN (unset: no auth); NATPMP_GATEWAY, API_BIND_ADDRESS, "
               "API_PORT, NATPMP_MAX_DURATION, LOG_LEVEL as the options.  Test-only extras "
               "(not in the real service): --log, --delay-ms, -v, and the READY line "
               "'READY ADDRESS PORT PID' on stdout.")
    p.add_argument("--gateway", default=env.get("NATPMP_GATEWAY"), metavar="IP",
                   help="NAT-PMP gateway IP address (required; IPv4)")
    p.add_argument("--bind-address", default=env.get("API_BIND_ADDRESS", "0.0.0.0"), metavar="IP",
                   help="HTTP API bind address (default 0.0.0.0)")
    p.add_argument("--port", default=env.get("API_PORT", "8080"), metavar="PORT",
                   help="HTTP API port (default 8080; 0: any free port)")
    p.add_argument("--max-duration", default=env.get("NATPMP_MAX_DURATION", "300"), metavar="N",
                   help="maximum mapping duration in seconds, -1: no limit (default 300)")
    p.add_argument("--log-level", default=env.get("LOG_LEVEL", "info"),
                   help="accepted for compatibility, ignored")
    test = p.add_argument_group("test-only extras")
    test.add_argument("--log", metavar="FILE",
                      help="append one JSON line per request (method, path, status, time, ...)")
    test.add_argument("--delay-ms", type=int, default=0, metavar="N",
                      help="hold every reply N ms longer")
    test.add_argument("-v", "--verbose", action="store_true", help="log requests to stderr")
    a = p.parse_args(argv)

    if a.gateway is None:
        p.error("the following arguments are required: --gateway")
    try:
        gateway = ipaddress.ip_address(a.gateway)
        bind = ipaddress.ip_address(a.bind_address)
        port = int(a.port)
        if not 0 <= port <= 0xFFFF:
            raise ValueError("port out of range")
        max_duration = int(a.max_duration)
        if not -2 ** 31 <= max_duration < 2 ** 31:
            raise ValueError("max-duration out of range")
    except ValueError as e:
        p.error(str(e))
    if gateway.version != 4:
        print("ERROR IPv6 gateways are not supported", file=sys.stderr)
        return 1
    # `max_duration as u32` in the service: -1 disables, other negatives wrap
    max_duration = None if max_duration == -1 else max_duration & 0xFFFFFFFF
    token = env.get("API_TOKEN")

    Server.address_family = socket.AF_INET6 if bind.version == 6 else socket.AF_INET
    try:
        srv = Server((str(bind), port), Handler)
    except OSError as e:
        print(f"fake-natpmp-http-api: bind {bind}:{port}: {e}", file=sys.stderr)
        return 1
    srv.config = Config(str(gateway), token, max_duration, a.log, a.delay_ms)
    srv.verbose = a.verbose
    addr = f"{srv.server_address[0]}:{srv.server_address[1]}"
    if token is not None:
        print(f"INFO Starting NAT-PMP HTTP API on {addr} with gateway {gateway} (auth enabled)",
              file=sys.stderr)
    else:
        print(f"WARN Starting NAT-PMP HTTP API on {addr} with gateway {gateway} "
              "(no auth - consider using API_TOKEN)", file=sys.stderr)

    def stop(signum, frame):
        threading.Thread(target=srv.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGHUP, stop)
    print(f"READY {srv.server_address[0]} {srv.server_address[1]} {os.getpid()}", flush=True)
    try:
        srv.serve_forever(poll_interval=0.1)
    finally:
        srv.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
