# SPDX-License-Identifier: GPL-2.0-or-later
"""A fake mesh control plane for the lab (tests/lab/fake-control-plane), issue 15.

It takes what portmapd's control-plane reporter sends, checks it strictly, records it, and
answers with the peer endpoints a test set:

    PUT /v1/nodes/NODEID/endpoint
        Authorization: Bearer TOKEN          (required with --token: 401 otherwise)
        Content-Type: application/json       (415 otherwise)
        {"public_endpoint": "IP:PORT" | "[IPv6]:PORT",
         "nat_type": "none" | "full_cone" | "symmetric" | "unknown"}
                                             (exactly these two members: 400 otherwise)
    -> 200 {"peer_endpoints": [{"peer_id": "...", "endpoint": "..."}, ...]}
    NODEID not one of --node: 404; another method there: 405; any other path: 404.

No real control plane exists in the lab: this is the only one.  Command line:

    fake-control-plane --listen ADDR:PORT ([v6]:PORT; port 0: any) [--token TOKEN |
                       --token-file PATH] [--node NODEID ...] [--admin-socket PATH]
                       [--verbose]

It prints "listening ADDR:PORT" (the port it got) once it accepts connections.  SIGTERM
and SIGINT end it with status 0.

The lab's admin endpoints, on the same listener and, with --admin-socket, on a Unix socket
(reachable from any network namespace: the tests run outside the lab's):

    GET    /_lab/reports   {"reports": [...]}: every PUT received, in order:
                           {"n", "time", "method", "path", "node", "bearer", "headers",
                            "content_type", "raw", "body", "status", "error"}
                           "bearer": null (no Authorization header), true (Bearer with
                           the right token), false (anything else); the headers never
                           hold Authorization, so no token is ever recorded; "body": the
                           parsed JSON or null; "status": what the fake answered (null
                           for a dropped connection); "error": why it refused, or null
    DELETE /_lab/reports   forget them
    GET    /_lab/peers     {"peer_endpoints": ...} as returned now
    POST   /_lab/peers     {"peer_endpoints": VALUE} or VALUE: returned as it is from now on
                           (any JSON, so that a test can send portmapd malformed peers)
    POST   /_lab/fail      the next PUTs fail: {"status": 500, "body": "text",
                           "content_type": "text/plain", "drop": true, "delay": 1.5,
                           "count": 1}; "drop" closes the connection without a reply,
                           "delay" (seconds) waits before answering (alone: then answers
                           normally), "status" with "body" answers that (200 with a raw
                           body: a malformed reply); "count": how many PUTs (default: all
                           until cleared); {} clears.  A failure comes before the checks.
    POST   /_lab/reset     all of the above back to the start
"""

import argparse
import http.client
import http.server
import ipaddress
import json
import os
import signal
import socket
import socketserver
import sys
import threading
import time

NAT_TYPES = ("none", "full_cone", "symmetric", "unknown")
PATH_PREFIX = "/v1/nodes/"
PATH_SUFFIX = "/endpoint"


def endpoint_is_valid(text):
    """IPv4:PORT or [IPv6]:PORT, port 1-65535: what portmapd reports."""
    if not isinstance(text, str):
        return False
    if text.startswith("["):
        host, sep, port = text[1:].partition("]:")
        if not sep:
            return False
        version = 6
    else:
        host, sep, port = text.rpartition(":")
        if not sep:
            return False
        version = 4
    try:
        if ipaddress.ip_address(host).version != version:
            return False
    except ValueError:
        return False
    return port.isdigit() and port == str(int(port)) and 1 <= int(port) <= 65535


class State:
    """What the fake holds; every access under the lock (one thread per connection)."""

    def __init__(self, token, nodes):
        self.token = token
        self.nodes = nodes
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        with self.lock:
            self.reports = []
            self.peers = []
            self.failure = None


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-control-plane"
    sys_version = ""
    admin_only = False          # the Unix socket's handler
    state = None                # set by main()
    verbose = False

    # --- plumbing ---------------------------------------------------------------------------
    def address_string(self):
        return self.client_address[0] if self.client_address else "unix"

    def log_message(self, fmt, *args):
        if self.verbose:
            sys.stderr.write("fake-control-plane: %s %s\n" % (self.address_string(), fmt % args))

    def read_body(self):
        length = self.headers.get("Content-Length")
        if length is None:
            return b""
        return self.rfile.read(int(length))

    def reply(self, status, body=b"", content_type="application/json", extra=None):
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        elif isinstance(body, str):
            body = body.encode()
        self.send_response(status)
        if content_type:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def error(self, status, message, extra=None):
        self.reply(status, {"error": message}, extra=extra)

    # --- dispatch ---------------------------------------------------------------------------
    def do_GET(self):
        self.dispatch("GET")

    def do_PUT(self):
        self.dispatch("PUT")

    def do_POST(self):
        self.dispatch("POST")

    def do_DELETE(self):
        self.dispatch("DELETE")

    def dispatch(self, method):
        path = self.path.split("?", 1)[0]
        if path.startswith("/_lab/"):
            self.admin(method, path, self.read_body())
        elif self.admin_only:
            self.read_body()
            self.error(404, "the admin socket serves /_lab/ only")
        elif path.startswith(PATH_PREFIX) and path.endswith(PATH_SUFFIX):
            self.endpoint(method, path)
        else:
            self.read_body()
            self.error(404, f"no such resource: {path}")

    # --- the control plane ------------------------------------------------------------------
    def bearer(self):
        value = self.headers.get("Authorization")
        if value is None:
            return None
        scheme, _, credentials = value.partition(" ")
        return (self.state.token is not None and scheme.lower() == "bearer"
                and credentials.strip() == self.state.token)

    def endpoint(self, method, path):
        st = self.state
        raw = self.read_body()
        node = path[len(PATH_PREFIX):-len(PATH_SUFFIX)]
        headers = {k: v for k, v in self.headers.items() if k.lower() != "authorization"}
        entry = {"time": time.time(), "method": method, "path": self.path, "node": node,
                 "bearer": self.bearer(), "headers": headers,
                 "content_type": self.headers.get("Content-Type"),
                 "raw": raw.decode("utf-8", "replace"), "body": None, "status": None,
                 "error": None}
        try:
            entry["body"] = json.loads(raw)
        except ValueError:
            pass
        with st.lock:
            entry["n"] = len(st.reports) + 1
            st.reports.append(entry)
            failure = st.failure
            if failure is not None and failure.get("count") is not None:
                failure["count"] -= 1
                if failure["count"] <= 0:
                    st.failure = None
            peers = st.peers
        status, body, content_type, error, extra = self.judge(method, node, entry, raw, peers,
                                                               failure)
        with st.lock:
            entry["status"] = status
            entry["error"] = error
        if status is None:                  # dropped: no reply, the connection closed
            self.close_connection = True
            return
        self.reply(status, body, content_type, extra)

    def judge(self, method, node, entry, raw, peers, failure):
        """(status, body, content type, why refused, extra headers) for one request."""
        if failure is not None:
            if failure.get("delay"):
                time.sleep(float(failure["delay"]))
            if failure.get("drop"):
                return None, b"", None, "dropped", None
            if failure.get("status") is not None:
                body = failure.get("body")
                if body is None:
                    body = {"error": "failure injected by the lab"}
                return (int(failure["status"]), body,
                        failure.get("content_type", "application/json"), "injected", None)
        if self.state.token is not None and entry["bearer"] is not True:
            why = "no bearer token" if entry["bearer"] is None else "wrong token"
            return 401, {"error": why}, "application/json", why, {"WWW-Authenticate": "Bearer"}
        if node not in self.state.nodes:
            why = f"unknown node {node}"
            return 404, {"error": why}, "application/json", why, None
        if method != "PUT":
            why = f"method {method} not allowed"
            return 405, {"error": why}, "application/json", why, {"Allow": "PUT"}
        content_type = (entry["content_type"] or "").split(";")[0].strip().lower()
        if content_type != "application/json":
            why = f"Content-Type {entry['content_type']} is not application/json"
            return 415, {"error": why}, "application/json", why, None
        why = self.check_report(raw, entry["body"])
        if why is not None:
            return 400, {"error": why}, "application/json", why, None
        return 200, {"peer_endpoints": peers}, "application/json", None, None

    @staticmethod
    def check_report(raw, body):
        """Why the PUT's body is not the wire type, or None."""
        if not raw:
            return "empty body"
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError:
            return "body is not UTF-8"
        if body is None:
            return "body is not JSON"
        if not isinstance(body, dict):
            return "body is not a JSON object"
        extra = sorted(set(body) - {"public_endpoint", "nat_type"})
        if extra:
            return f"unknown members: {', '.join(extra)}"
        for member in ("public_endpoint", "nat_type"):
            if member not in body:
                return f"missing {member}"
            if not isinstance(body[member], str):
                return f"{member} is not a string"
        if not endpoint_is_valid(body["public_endpoint"]):
            return f"public_endpoint {body['public_endpoint']!r} is not IP:PORT"
        if body["nat_type"] not in NAT_TYPES:
            return f"nat_type {body['nat_type']!r} is not one of {', '.join(NAT_TYPES)}"
        return None

    # --- the lab's admin --------------------------------------------------------------------
    def admin(self, method, path, raw):
        st = self.state
        try:
            arg = json.loads(raw) if raw else None
        except ValueError:
            self.error(400, "not JSON")
            return
        if path == "/_lab/reports" and method == "GET":
            with st.lock:
                snapshot = json.dumps({"reports": st.reports})
            self.reply(200, snapshot)
        elif path == "/_lab/reports" and method == "DELETE":
            with st.lock:
                st.reports = []
            self.reply(200, {})
        elif path == "/_lab/peers" and method == "GET":
            with st.lock:
                snapshot = json.dumps({"peer_endpoints": st.peers})
            self.reply(200, snapshot)
        elif path == "/_lab/peers" and method == "POST":
            if isinstance(arg, dict) and set(arg) == {"peer_endpoints"}:
                arg = arg["peer_endpoints"]
            with st.lock:
                st.peers = arg
            self.reply(200, {"peer_endpoints": arg})
        elif path == "/_lab/fail" and method == "POST":
            if arg is not None and not isinstance(arg, dict):
                self.error(400, "a JSON object")
                return
            unknown = sorted(set(arg or {}) - {"status", "body", "content_type", "drop",
                                                "delay", "count"})
            if unknown:
                self.error(400, f"unknown members: {', '.join(unknown)}")
                return
            with st.lock:
                st.failure = dict(arg) if arg else None
            self.reply(200, {"failure": arg or None})
        elif path == "/_lab/reset" and method == "POST":
            st.reset()
            self.reply(200, {})
        else:
            self.error(404, f"no such admin resource: {method} {path}")


class TcpServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def server_bind(self):
        # HTTPServer.server_bind calls getfqdn(): 10 s per start in a namespace without DNS
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = host
        self.server_port = port


class UnixServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


class UnixHTTPConnection(http.client.HTTPConnection):
    """http.client over a Unix socket (the admin socket)."""

    def __init__(self, path, timeout=10):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.unix_path)


class Admin:
    """The lab's client of the admin endpoints: Admin(socket_path=...) from any network
    namespace, or Admin(address=("127.0.0.1", port)) from the fake's."""

    def __init__(self, socket_path=None, address=None, timeout=10):
        assert (socket_path is None) != (address is None)
        self.socket_path = socket_path
        self.address = address
        self.timeout = timeout

    def request(self, method, path, value=None):
        if self.socket_path is not None:
            conn = UnixHTTPConnection(self.socket_path, self.timeout)
        else:
            conn = http.client.HTTPConnection(*self.address, timeout=self.timeout)
        try:
            body = None if value is None else json.dumps(value)
            conn.request(method, path, body,
                         {"Content-Type": "application/json"} if body is not None else {})
            response = conn.getresponse()
            data = response.read()
            if response.status != 200:
                raise RuntimeError(f"{method} {path}: {response.status} {data!r}")
            return json.loads(data)
        finally:
            conn.close()

    def reports(self):
        return self.request("GET", "/_lab/reports")["reports"]

    def clear_reports(self):
        self.request("DELETE", "/_lab/reports")

    def peers(self):
        return self.request("GET", "/_lab/peers")["peer_endpoints"]

    def set_peers(self, peers):
        """peers: a list of {"peer_id", "endpoint"}, or anything (returned as it is)."""
        self.request("POST", "/_lab/peers", {"peer_endpoints": peers})

    def fail(self, **failure):
        """fail(status=500), fail(drop=True, count=1), fail(delay=2), fail(): clear."""
        self.request("POST", "/_lab/fail", failure)

    def reset(self):
        self.request("POST", "/_lab/reset", {})


def parse_listen(text):
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not ADDR:PORT")
    return host.strip("[]"), int(port)


def main(argv=None):
    ap = argparse.ArgumentParser(prog="fake-control-plane",
                                 description=__doc__.split("\n\n")[0])
    ap.add_argument("--listen", required=True, type=parse_listen,
                    help="ADDR:PORT or [v6]:PORT to serve on (port 0: any)")
    group = ap.add_mutually_exclusive_group()
    group.add_argument("--token", help="the bearer token every PUT must carry")
    group.add_argument("--token-file", help="... read from this file (one trailing newline "
                                            "stripped)")
    ap.add_argument("--node", action="append", default=[],
                    help="a node id that may report (repeatable; default: n1)")
    ap.add_argument("--admin-socket", help="also serve /_lab/ on this Unix socket")
    ap.add_argument("--verbose", action="store_true", help="log each request on stderr")
    args = ap.parse_args(argv)

    token = args.token
    if args.token_file:
        with open(args.token_file) as f:
            token = f.read()
        if token.endswith("\n"):
            token = token[:-1]
    Handler.state = State(token, args.node or ["n1"])
    Handler.verbose = args.verbose

    host, port = args.listen
    TcpServer.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
    server = TcpServer((host, port), Handler)
    servers = [server]
    if args.admin_socket:
        if os.path.exists(args.admin_socket):
            os.unlink(args.admin_socket)
        admin_handler = type("AdminHandler", (Handler,), {"admin_only": True})
        admin = UnixServer(args.admin_socket, admin_handler)
        servers.append(admin)
        threading.Thread(target=admin.serve_forever, daemon=True).start()

    def stop(signum, frame):
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    bound = server.server_address
    shown = f"[{bound[0]}]" if ":" in bound[0] else bound[0]
    print(f"listening {shown}:{bound[1]}", flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    except SystemExit:
        pass
    finally:
        for s in servers:
            s.server_close()
        if args.admin_socket and os.path.exists(args.admin_socket):
            os.unlink(args.admin_socket)
    return 0


if __name__ == "__main__":
    sys.exit(main())
