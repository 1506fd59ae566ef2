# SPDX-License-Identifier: GPL-2.0-or-later
"""Fake Private Internet Access (PIA) port-forwarding service for the portmap test lab.

What it imitates (pia-and-torrent-clients.md 1.1-1.5; the calls as pia-foss/manual-connections'
get_token.sh and port_forwarding.sh and gluetun make them).  Standard library only (http.server,
ssl); one process, one thread per connection, HTTP/1.1 keep-alive, one TLS listener per role:

  token API (--token-listen ADDR:PORT, --token-cert/--token-key), as
  https://www.privateinternetaccess.com:
    POST /api/client/v2/token, form fields username and password, as
         application/x-www-form-urlencoded (gluetun) or multipart/form-data (curl --form):
         right credentials -> 200 {"token":"<new token>"}; the token is random base64 (44
         characters, always with "+", "/" and a trailing "="), so it must be URL-encoded
         wherever it is sent;
         wrong credentials -> 401 {"message":"Login failed!"};
         a field missing or a body that is not such a form -> 400
         {"message":"username and password are required"}.
    Other paths: 404 {"message":"Not Found"}; another method on the path: 405 (allow: POST).
  gateway (--gateway-listen ADDR:PORT, default port 19999, --gateway-cert/--gateway-key), as a
  PIA server's port-forwarding API on its VPN gateway address:
    GET /getSignature?token=T  T (URL-decoded, "+" decoded as a space as in every form
         decoder) must be a token this fake issued (or was given with add_token), byte for byte:
         -> 200 {"status":"OK","payload":P,"signature":S}, P the standard, padded base64 of the
            compact JSON {"token":T,"port":N,"expires_at":"YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ"}
            (RFC 3339, nanoseconds, Z; default 62 days ahead, --lifetime-days), N a random
            port in 10000..59999 unless set; S random base64 of 64 bytes that always contains
            "+" and "/" (P holds them only by chance: base64 of JSON text rarely does);
         unknown token -> 401 {"status":"ERROR","message":"invalid token"};
         no token parameter -> 400 {"status":"ERROR","message":"missing token"}.
    GET /bindPort?payload=P&signature=S  P and S (URL-decoded) must be a pair this fake
         issued, byte for byte:
         -> 200 {"status":"OK","message":"port scheduled for add"} (the port's bind time is
            recorded: state()["binds"]);
         not an issued pair (a "+" sent unencoded arrives as a space) -> 401
         {"status":"ERROR","message":"bad signature"} (as gluetun#3446 shows for stale data);
         an issued pair whose expires_at has passed -> 401
         {"status":"ERROR","message":"payload expired"};
         a parameter missing -> 400 {"status":"ERROR","message":"missing payload or signature"}.
    GET /ping -> 200 "pong" (text/plain).  gluetun probes candidate gateways with GET /ping and
         uses the first that answers; PIA's body is not documented: only the status counts.
    Other paths: 404 {"status":"ERROR","message":"not found"}; other methods on a route: 405.
  Strict query encoding (default; --lenient-query or set(strict_query=false) turns it off): a
  query value must hold only RFC 3986 unreserved characters and %XX escapes, as curl
  --data-urlencode and g_uri_escape_string(s, NULL, FALSE) produce.  A raw "/" or "=" in a
  value is legal in a URL and a lenient server would decode it correctly, so strictness is a
  test-only check that the client encodes fully; a raw "+" fails either way (it decodes to a
  space).  A value that breaks it does not match (401 / bad signature or invalid token) and the
  log names the raw characters ("unencoded").  Replies are compact JSON, application/json.
  The exact bodies of PIA's error replies other than 409 and 401 "bad signature" are not known
  (the reference has none): the ones above are this fake's; clients must key on the HTTP status
  and on "status" != "OK" (as manual-connections and gluetun do).

What it adds (test-only):

  --control PATH  a UNIX socket, one JSON object per line ({"cmd": ..., args}), one JSON reply
                  per line ({"ok": true, ...} or {"ok": false, "error": ...}):
      ping | info | state          state: tokens, signatures (token, port, expires_at,
                                   payload, signature), binds {port: {count, first, last}},
                                   pending next signatures and injected failures
      set username= password= strict_query= lifetime_days=
      next_signature port= expires_at="RFC3339" | expires_in=SECONDS count=1
                                   the next getSignature(s) issue this port / expiry
      fail what="bind" kind="busy"|"bad-signature" count=N
                                   the next N bindPort requests (matching or not) answer
                                   409 {"status":"","message":"Port N is busy. Please use
                                   another server"} (N the payload's port) or 401
                                   {"status":"ERROR","message":"bad signature"}
      fail what="bind"|"signature"|"token" status=CODE body=OBJ|STR count=N
                                   any other reply for the next N requests of that route
      clear_failures
      forget signatures=true tokens=false binds=false
                                   a server that no longer knows what it issued
      add_token token=T            accept T at getSignature (a TokenCredential= token)
      quit
  --state FILE    issued tokens, signatures and binds are kept there (0600, JSON) and read at
                  start: a restarted fake still honours what it issued (PIA's signatures are
                  server-independent); forget drops them from the file too.
  --log FILE      JSON lines, appended and flushed before the reply is sent, each with "event",
                  "role" ("token" | "gateway"), "conn" (a connection number), "peer", "time"
                  (unix s) and "boottime" (CLOCK_BOOTTIME s):
      event "handshake": "ok" (bool), "error" (the TLS error, e.g. the client's alert
                  TLSV1_ALERT_UNKNOWN_CA or SSLV3_ALERT_BAD_CERTIFICATE), "sni" (the name the
                  client sent, or null), "version" (e.g. "TLSv1.3");
      event "request": "n" (1-based on its connection), "method", "path", "query" (raw),
                  "status", "injected" (bool) and per route: token: "form", "username",
                  "credentials_ok", "token"; getSignature: "token", "token_match", "port",
                  "expires_at", "payload", "signature"; bindPort: "payload", "signature",
                  "match" (an issued pair), "port", "expired"; any: "unencoded" (raw characters
                  that strict encoding refused, by parameter);
      event "close": "requests" (how many requests the connection carried: 0 after a
                  handshake means nothing was sent past it).
  READY line      "READY pid=PID token=ADDR:PORT gateway=ADDR:PORT" on stdout once every
                  listener listens (a role not configured is left out; port 0 = any).
"""

import argparse
import base64
import datetime
import email.parser
import email.policy
import json
import os
import re
import secrets
import signal
import socket
import socketserver
import ssl
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, HTTPServer

GATEWAY_PORT = 19999
TOKEN_PATH = "/api/client/v2/token"
BODY_LIMIT = 64 * 1024
UNRESERVED = re.compile(r"[A-Za-z0-9\-._~]|%[0-9A-Fa-f]{2}")

BUSY = "Port {port} is busy. Please use another server"
BAD_SIGNATURE = {"status": "ERROR", "message": "bad signature"}


def compact(obj):
    return json.dumps(obj, separators=(",", ":")).encode()


def rfc3339_ns(ns):
    sec, frac = divmod(int(ns), 10 ** 9)
    base = datetime.datetime.fromtimestamp(sec, datetime.timezone.utc)
    return base.strftime("%Y-%m-%dT%H:%M:%S") + f".{frac:09d}Z"


def parse_rfc3339(s):
    """-> unix seconds (float) of an RFC 3339 time (any fraction; Z or an offset), or None."""
    m = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)", s or "")
    if not m:
        return None
    tz = "+00:00" if m.group(3) == "Z" else m.group(3)
    dt = datetime.datetime.fromisoformat(m.group(1) + tz)
    return dt.timestamp() + (float("0" + m.group(2)) if m.group(2) else 0.0)


def random_b64(nbytes, need="+/"):
    while True:
        s = base64.b64encode(secrets.token_bytes(nbytes)).decode()
        if all(c in s for c in need):
            return s


def parse_query(raw):
    """Raw query -> ({name: value} first wins, {name: [unencoded raw characters]}); values
    decoded as a form decoder does ("+" is a space, %XX)."""
    values, bad = {}, {}
    for part in raw.split("&") if raw else []:
        name, _, value = part.partition("=")
        name = urllib.parse.unquote_plus(name)
        if name in values:
            continue
        values[name] = urllib.parse.unquote_plus(value)
        rest = UNRESERVED.sub("", value)
        if rest:
            bad[name] = sorted(set(rest))
    return values, bad


# ------------------------------------------------------------------------------------------
# shared state

class State:
    def __init__(self, username, password, lifetime_days, strict_query, state_path, log_path,
                 verbose):
        self.lock = threading.RLock()
        self.username, self.password = username, password
        self.lifetime_days = lifetime_days
        self.strict_query = strict_query
        self.state_path, self.log_path = state_path, log_path
        self.verbose = verbose
        self.tokens = {}                 # token -> {"issued": unix s, "source": ...}
        self.signatures = []             # dicts: token port expires_at payload signature issued
        self.binds = {}                  # str(port) -> {"count", "first", "last"}
        self.next_signatures = []        # [{"port", "expires_at"}]
        self.failures = {"token": [], "signature": [], "bind": []}
        self.conn_count = 0
        self.log_lock = threading.Lock()
        self.load()

    # --- persistence ---------------------------------------------------------------------------
    def load(self):
        if not self.state_path or not os.path.exists(self.state_path):
            return
        with open(self.state_path) as f:
            st = json.load(f)
        self.tokens = st.get("tokens", {})
        self.signatures = st.get("signatures", [])
        self.binds = st.get("binds", {})

    def save(self):
        if not self.state_path:
            return
        tmp = f"{self.state_path}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump({"tokens": self.tokens, "signatures": self.signatures,
                       "binds": self.binds}, f, indent=1)
        os.replace(tmp, self.state_path)

    def log(self, entry):
        if self.verbose:
            sys.stderr.write(json.dumps(entry) + "\n")
        if not self.log_path:
            return
        line = json.dumps(entry, sort_keys=True) + "\n"
        with self.log_lock:
            with open(self.log_path, "a") as f:
                f.write(line)
                f.flush()

    def next_conn(self):
        with self.lock:
            self.conn_count += 1
            return self.conn_count

    def take_failure(self, what):
        with self.lock:
            q = self.failures[what]
            return q.pop(0) if q else None

    # --- the API's work ------------------------------------------------------------------------
    def issue_token(self):
        with self.lock:
            tok = random_b64(32, "+/=")        # 44 characters, one "=" of padding
            self.tokens[tok] = {"issued": time.time(), "source": "api"}
            self.save()
            return tok

    def issue_signature(self, token):
        with self.lock:
            nxt = self.next_signatures.pop(0) if self.next_signatures else {}
            port = nxt.get("port")
            if port is None:
                used = {s["port"] for s in self.signatures}
                while True:
                    port = 10000 + secrets.randbelow(50000)
                    if port not in used:
                        break
            fixed = nxt.get("expires_at")
            base_ns = time.time_ns() + int(self.lifetime_days * 86400 * 10 ** 9)
            if fixed is None and nxt.get("expires_in") is not None:
                base_ns = time.time_ns() + int(float(nxt["expires_in"]) * 10 ** 9)
            expires_at = fixed or rfc3339_ns(base_ns)
            payload = base64.b64encode(compact(
                {"token": token, "port": port, "expires_at": expires_at})).decode()
            sig = {"token": token, "port": port, "expires_at": expires_at, "payload": payload,
                   "signature": random_b64(64), "issued": time.time()}
            self.signatures.append(sig)
            self.save()
            return sig

    def find_signature(self, payload, signature):
        with self.lock:
            for s in self.signatures:
                if s["payload"] == payload and s["signature"] == signature:
                    return s
            return None

    def record_bind(self, port):
        with self.lock:
            now = time.time()
            b = self.binds.setdefault(str(port), {"count": 0, "first": now, "last": now})
            b["count"] += 1
            b["last"] = now
            self.save()

    # --- control -------------------------------------------------------------------------------
    def snapshot(self):
        with self.lock:
            return {"tokens": dict(self.tokens), "signatures": list(self.signatures),
                    "binds": dict(self.binds), "next_signatures": list(self.next_signatures),
                    "failures": {k: list(v) for k, v in self.failures.items()},
                    "username": self.username, "password": self.password,
                    "strict_query": self.strict_query, "lifetime_days": self.lifetime_days}

    def command(self, req, server):
        if not isinstance(req, dict) or "cmd" not in req:
            raise ValueError('expected {"cmd": ...}')
        cmd = req["cmd"]
        args = {k: v for k, v in req.items() if k != "cmd"}
        with self.lock:
            if cmd == "ping":
                return {"pid": os.getpid()}
            if cmd == "info":
                return {"pid": os.getpid(), "listeners": server.listeners()}
            if cmd == "state":
                return self.snapshot()
            if cmd == "set":
                for k, v in args.items():
                    if k not in ("username", "password", "strict_query", "lifetime_days"):
                        raise ValueError(f"set: unknown option {k!r}")
                    setattr(self, k, v)
                return {}
            if cmd == "next_signature":
                port, expires_at = args.get("port"), args.get("expires_at")
                expires_in = args.get("expires_in")
                if port is not None and not (isinstance(port, int) and 0 <= port <= 65535):
                    raise ValueError("port must be 0..65535")
                if expires_at is not None and not isinstance(expires_at, str):
                    raise ValueError("expires_at must be a string")
                for _ in range(int(args.get("count", 1))):
                    self.next_signatures.append({"port": port, "expires_at": expires_at,
                                                 "expires_in": expires_in})
                return {"pending": len(self.next_signatures)}
            if cmd == "fail":
                what = args.get("what", "bind")
                if what not in self.failures:
                    raise ValueError("what must be token, signature or bind")
                kind = args.get("kind")
                if kind is not None:
                    if what != "bind" or kind not in ("busy", "bad-signature"):
                        raise ValueError("kind is busy or bad-signature, for what=bind")
                    f = {"kind": kind}
                else:
                    if "status" not in args:
                        raise ValueError("fail needs kind= or status=")
                    f = {"status": int(args["status"]), "body": args.get("body", "")}
                for _ in range(int(args.get("count", 1))):
                    self.failures[what].append(dict(f))
                return {"pending": len(self.failures[what])}
            if cmd == "clear_failures":
                for q in self.failures.values():
                    q.clear()
                self.next_signatures.clear()
                return {}
            if cmd == "forget":
                if args.get("signatures", True):
                    self.signatures = []
                if args.get("tokens", False):
                    self.tokens = {}
                if args.get("binds", False):
                    self.binds = {}
                self.save()
                return {}
            if cmd == "add_token":
                tok = args.get("token")
                if not isinstance(tok, str) or not tok:
                    raise ValueError("add_token needs token=")
                self.tokens[tok] = {"issued": time.time(), "source": "control"}
                self.save()
                return {}
            if cmd == "quit":
                server.stop()
                return {}
        raise ValueError(f"unknown command {cmd!r}")


# ------------------------------------------------------------------------------------------
# HTTP

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-pia"
    timeout = 60                        # an idle keep-alive connection is closed after this

    def __getattr__(self, name):
        if name.startswith("do_"):
            return self.route
        raise AttributeError(name)

    def log_message(self, fmt, *args):
        pass

    def handle(self):
        self.conn = self.server.local.conn
        super().handle()

    def send_error(self, code, message=None, explain=None):
        self.close_connection = True
        try:
            self.send_response_only(code)
            self.send_header("content-length", "0")
            self.send_header("connection", "close")
            self.end_headers()
        except OSError:
            pass

    def _read_body(self):
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            out = bytearray()
            while True:
                line = self.rfile.readline(65537)
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    return bytes(out)
                out += self.rfile.read(size)
                self.rfile.readline(65537)
                if len(out) > BODY_LIMIT:
                    self.close_connection = True
                    return bytes(out)
        try:
            n = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            n = 0
        if n > BODY_LIMIT:
            self.close_connection = True
            return b""
        return self.rfile.read(n) if n > 0 else b""

    def _reply(self, status, body, ctype="application/json", extra=()):
        if isinstance(body, (dict, list)):
            body = compact(body)
        elif isinstance(body, str):
            body = body.encode()
        self.send_response_only(status)
        self.send_header("date", self.date_time_string())
        if body or ctype == "application/json":
            self.send_header("content-type", ctype)
        for k, v in extra:
            self.send_header(k, v)
        self.send_header("content-length", str(len(body)))
        if self.close_connection:
            self.send_header("connection", "close")
        self._headers_buffer.append(b"\r\n")
        data = b"".join(self._headers_buffer) + (b"" if self.command == "HEAD" else body)
        self._headers_buffer = []
        self.wfile.write(data)
        self.wfile.flush()

    def route(self):
        st = self.server.state
        self.conn["requests"] += 1
        path, _, query = self.path.partition("?")
        query = query.split("#", 1)[0]
        entry = {"event": "request", "role": self.server.role, "conn": self.conn["id"],
                 "n": self.conn["requests"], "peer": self.conn["peer"], "time": time.time(),
                 "boottime": time.clock_gettime(time.CLOCK_BOOTTIME),
                 "method": self.command, "path": path, "query": query, "injected": False}
        body = self._read_body()
        if self.server.role == "token":
            status, reply, ctype, extra = self.token_route(st, path, body, entry)
        else:
            status, reply, ctype, extra = self.gateway_route(st, path, query, entry)
        entry["status"] = status
        st.log(entry)
        self._reply(status, reply, ctype, extra)

    @staticmethod
    def _injected(st, what, entry):
        f = st.take_failure(what)
        if f is None:
            return None
        entry["injected"] = True
        return f

    # --- token API -----------------------------------------------------------------------------
    def token_route(self, st, path, body, entry):
        if path != TOKEN_PATH:
            return 404, {"message": "Not Found"}, "application/json", ()
        if self.command != "POST":
            return 405, b"", None, (("allow", "POST"),)
        fields, form = self._form(body)
        entry["form"] = form
        entry["username"] = fields.get("username")
        f = self._injected(st, "token", entry)
        if f is not None:
            return f["status"], f["body"], "application/json", ()
        if "username" not in fields or "password" not in fields:
            return 400, {"message": "username and password are required"}, \
                "application/json", ()
        ok = fields["username"] == st.username and fields["password"] == st.password
        entry["credentials_ok"] = ok
        if not ok:
            return 401, {"message": "Login failed!"}, "application/json", ()
        tok = st.issue_token()
        entry["token"] = tok
        return 200, {"token": tok}, "application/json", ()

    def _form(self, body):
        ctype = self.headers.get("Content-Type") or ""
        main = ctype.split(";", 1)[0].strip().lower()
        if main == "application/x-www-form-urlencoded":
            try:
                pairs = urllib.parse.parse_qsl(body.decode("utf-8"), keep_blank_values=True)
            except UnicodeDecodeError:
                return {}, "urlencoded"
            out = {}
            for k, v in pairs:
                out.setdefault(k, v)
            return out, "urlencoded"
        if main == "multipart/form-data":
            msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
                b"Content-Type: " + ctype.encode("latin-1") + b"\r\n\r\n" + body)
            out = {}
            if msg.is_multipart():
                for part in msg.iter_parts():
                    name = part.get_param("name", header="content-disposition")
                    if name and name not in out:
                        data = part.get_payload(decode=True) or b""
                        out[name] = data.decode("utf-8", "replace")
            return out, "multipart"
        return {}, main or None

    # --- gateway -------------------------------------------------------------------------------
    def gateway_route(self, st, path, query, entry):
        routes = {"/getSignature": self.get_signature, "/bindPort": self.bind_port,
                  "/ping": self.ping}
        if path not in routes:
            return 404, {"status": "ERROR", "message": "not found"}, "application/json", ()
        if self.command not in ("GET", "HEAD"):
            return 405, b"", None, (("allow", "GET, HEAD"),)
        values, bad = parse_query(query)
        if bad:
            entry["unencoded"] = bad
        strict = bool(st.strict_query)
        return routes[path](st, values, bad if strict else {}, entry)

    def ping(self, st, values, bad, entry):
        return 200, b"pong", "text/plain", ()

    def get_signature(self, st, values, bad, entry):
        if "token" not in values:
            return 400, {"status": "ERROR", "message": "missing token"}, "application/json", ()
        token = values["token"]
        entry["token"] = token
        f = self._injected(st, "signature", entry)
        if f is not None:
            return f["status"], f["body"], "application/json", ()
        match = "token" not in bad and token in st.tokens
        entry["token_match"] = match
        if not match:
            return 401, {"status": "ERROR", "message": "invalid token"}, "application/json", ()
        sig = st.issue_signature(token)
        for k in ("port", "expires_at", "payload", "signature"):
            entry[k] = sig[k]
        return 200, {"status": "OK", "payload": sig["payload"],
                     "signature": sig["signature"]}, "application/json", ()

    def bind_port(self, st, values, bad, entry):
        if "payload" not in values or "signature" not in values:
            return 400, {"status": "ERROR", "message": "missing payload or signature"}, \
                "application/json", ()
        payload, signature = values["payload"], values["signature"]
        entry["payload"], entry["signature"] = payload, signature
        sig = None if ("payload" in bad or "signature" in bad) \
            else st.find_signature(payload, signature)
        entry["match"] = sig is not None
        if sig is not None:
            entry["port"] = sig["port"]
        f = self._injected(st, "bind", entry)
        if f is not None:
            if f.get("kind") == "busy":
                port = sig["port"] if sig else self._payload_port(payload)
                return 409, {"status": "", "message": BUSY.format(port=port)}, \
                    "application/json", ()
            if f.get("kind") == "bad-signature":
                return 401, BAD_SIGNATURE, "application/json", ()
            return f["status"], f["body"], "application/json", ()
        if sig is None:
            return 401, BAD_SIGNATURE, "application/json", ()
        exp = parse_rfc3339(sig["expires_at"])
        entry["expired"] = exp is not None and exp <= time.time()
        if entry["expired"]:
            return 401, {"status": "ERROR", "message": "payload expired"}, \
                "application/json", ()
        st.record_bind(sig["port"])
        return 200, {"status": "OK", "message": "port scheduled for add"}, \
            "application/json", ()

    @staticmethod
    def _payload_port(payload):
        try:
            return int(json.loads(base64.b64decode(payload, validate=True))["port"])
        except Exception:
            return 0


class Listener(socketserver.ThreadingMixIn, HTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, role, address, ctx, state):
        self.role, self.ctx, self.state = role, ctx, state
        self.local = threading.local()
        super().__init__(address, Handler)

    def server_bind(self):
        # HTTPServer.server_bind calls getfqdn(): skip the name lookup
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), port

    def finish_request(self, request, client_address):
        st = self.state
        conn = {"id": st.next_conn(), "peer": f"{client_address[0]}:{client_address[1]}",
                "requests": 0}
        base = {"role": self.role, "conn": conn["id"], "peer": conn["peer"]}
        request.settimeout(10)
        tls = None
        try:
            try:
                tls = self.ctx.wrap_socket(request, server_side=True,
                                           do_handshake_on_connect=False)
                tls.do_handshake()
            except (ssl.SSLError, OSError) as e:
                err = getattr(e, "reason", None) or str(e) or type(e).__name__
                st.log({"event": "handshake", **base, "ok": False, "error": err,
                        "sni": getattr(tls, "pia_sni", None), "version": None,
                        "time": time.time(),
                        "boottime": time.clock_gettime(time.CLOCK_BOOTTIME)})
                return
            st.log({"event": "handshake", **base, "ok": True, "error": None,
                    "sni": getattr(tls, "pia_sni", None), "version": tls.version(),
                    "time": time.time(),
                    "boottime": time.clock_gettime(time.CLOCK_BOOTTIME)})
            tls.settimeout(None)
            self.local.conn = conn
            try:
                self.RequestHandlerClass(tls, client_address, self)
            except (OSError, ssl.SSLError):
                pass
        finally:
            st.log({"event": "close", **base, "requests": conn["requests"], "time": time.time(),
                    "boottime": time.clock_gettime(time.CLOCK_BOOTTIME)})
            if tls is not None:
                try:
                    tls.close()
                except OSError:
                    pass

    def handle_error(self, request, client_address):
        pass


class Control:
    def __init__(self, path, app):
        self.path, self.app = path, app
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        self.sock.listen(8)

    def serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.client, args=(conn,), daemon=True).start()

    def client(self, conn):
        with conn:
            f = conn.makefile("rwb")
            for line in f:
                if not line.strip():
                    continue
                try:
                    reply = {"ok": True, **self.app.state.command(json.loads(line), self.app)}
                except Exception as e:      # a bad command must not kill the fake
                    reply = {"ok": False, "error": f"{type(e).__name__}: {e}"}
                try:
                    f.write((json.dumps(reply) + "\n").encode())
                    f.flush()
                except OSError:
                    return

    def close(self):
        self.sock.close()
        try:
            os.unlink(self.path)
        except OSError:
            pass


class App:
    def __init__(self, state):
        self.state = state
        self.servers = []
        self.control = None
        self.done = threading.Event()

    def listeners(self):
        return {s.role: f"{s.server_address[0]}:{s.server_address[1]}" for s in self.servers}

    def stop(self):
        self.done.set()


def _hostport(s, default_port):
    host, sep, port = s.rpartition(":")
    if not sep:
        host, port = s, str(default_port)
    host = host.strip("[]") or "0.0.0.0"
    return host, int(port)


def _context(cert, key):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(cert, key)

    def sni(sslsock, name, _ctx):
        sslsock.pia_sni = name          # read back per connection (the log's "sni")
    ctx.sni_callback = sni
    return ctx


def main(argv=None):
    env = os.environ
    p = argparse.ArgumentParser(
        prog="fake-pia",
        description="Fake PIA port-forwarding service for the portmap test lab: the token API "
                    "and a gateway's getSignature/bindPort over HTTPS with a test CA.")
    p.add_argument("--token-listen", metavar="ADDR:PORT", help="token API listener")
    p.add_argument("--token-cert", metavar="PEM")
    p.add_argument("--token-key", metavar="PEM")
    p.add_argument("--gateway-listen", metavar="ADDR[:PORT]",
                   help=f"gateway listener (default port {GATEWAY_PORT})")
    p.add_argument("--gateway-cert", metavar="PEM")
    p.add_argument("--gateway-key", metavar="PEM")
    p.add_argument("--username", default=env.get("PIA_USER", "p0123456"))
    p.add_argument("--password", default=env.get("PIA_PASS", "lab-password"))
    p.add_argument("--lifetime-days", type=float, default=62.0,
                   help="expires_at of a new signature, days ahead (default 62)")
    p.add_argument("--lenient-query", action="store_true",
                   help="accept raw reserved characters other than + in query values")
    test = p.add_argument_group("test-only extras")
    test.add_argument("--control", metavar="PATH", help="UNIX control socket (JSON lines)")
    test.add_argument("--state", metavar="FILE", help="keep issued tokens/signatures here")
    test.add_argument("--log", metavar="FILE", help="append one JSON line per event")
    test.add_argument("-v", "--verbose", action="store_true", help="log events to stderr")
    a = p.parse_args(argv)
    if not a.token_listen and not a.gateway_listen:
        p.error("give --token-listen and/or --gateway-listen")

    state = State(a.username, a.password, a.lifetime_days, not a.lenient_query, a.state,
                  a.log, a.verbose)
    app = App(state)
    try:
        for role, listen, cert, key, dport in (
                ("token", a.token_listen, a.token_cert, a.token_key, 443),
                ("gateway", a.gateway_listen, a.gateway_cert, a.gateway_key, GATEWAY_PORT)):
            if not listen:
                continue
            if not cert or not key:
                p.error(f"--{role}-listen needs --{role}-cert and --{role}-key")
            host, port = _hostport(listen, dport)
            Listener.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
            app.servers.append(Listener(role, (host, port), _context(cert, key), state))
        if a.control:
            app.control = Control(a.control, app)
    except (OSError, ssl.SSLError, ValueError) as e:
        print(f"fake-pia: {e}", file=sys.stderr)
        return 1

    def stop(signum, frame):
        app.stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGHUP, stop)
    threads = [threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.1},
                                daemon=True) for s in app.servers]
    if app.control:
        threads.append(threading.Thread(target=app.control.serve, daemon=True))
    for t in threads:
        t.start()
    parts = " ".join(f"{r}={hp}" for r, hp in app.listeners().items())
    print(f"READY pid={os.getpid()} {parts}", flush=True)
    while not app.done.wait(0.2):
        pass
    for s in app.servers:
        s.shutdown()
        s.server_close()
    if app.control:
        app.control.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
