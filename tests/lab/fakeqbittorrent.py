# SPDX-License-Identifier: GPL-2.0-or-later
"""Fake qBittorrent 5.2 Web API v2 for the portmap test lab: the parts portmapd's
Type=qbittorrent uses, as qBittorrent 5.2.3's src/webui (webapplication.cpp,
api/authcontroller.cpp, api/appcontroller.cpp) answers them
(pia-and-torrent-clients.md §2):

  * POST /api/v2/auth/login, form username/password: 204 and
    Set-Cookie "QBT_SID_<port>=<id>; HttpOnly; path=/; SameSite=Strict" (the WebUI port in the
    name); bad credentials 401 (each a failure); a request that already has a session 204 at
    once; after --max-failures failures (5) the address is banned: 403 "Your IP address has
    been banned after too many failed authentication attempts." (until the fake restarts).
    With --api-key, a login carrying the bearer key is 403 (API-key sessions have no auth
    scope).
  * Authorization "Bearer <key>" (--api-key): a session of its own, no cookie.
  * Without a session every other API call is 403 "Forbidden".
  * GET /api/v2/app/preferences: a JSON object with listen_port, random_port (listen_port
    == 0), upnp, announce_port and a few unrelated members.
  * POST /api/v2/app/setPreferences, form json=<object>: only the members present apply;
    random_port true wins over listen_port (port 0); malformed JSON is ignored (the request
    still succeeds); 204.  A missing json field is 400 "Missing required parameters".
  * Origin or Referer not same-origin with Host: 401 (its CSRF check).

Every request is logged as one JSON line to --log: {method, path, status, auth ("bearer",
"cookie" or null), origin (bool: Origin or Referer present), json (setPreferences' field) or
null}.  --listen-port/--upnp give the preferences it starts with.  Prints READY once it
listens."""

import argparse
import http.server
import json
import secrets
import sys
import threading
import urllib.parse

BAN_MESSAGE = "Your IP address has been banned after too many failed authentication attempts."


class State:
    def __init__(self, args):
        self.args = args
        self.sessions = set()
        self.failures = 0
        self.prefs = {"locale": "en", "listen_port": args.listen_port,
                      "random_port": args.listen_port == 0, "upnp": args.upnp,
                      "announce_port": 0, "web_ui_port": args.port,
                      "scan_dirs": {}, "bypass_local_auth": False}
        self.cookie_name = f"QBT_SID_{args.port}"
        self.lock = threading.Lock()     # a thread per connection (libsoup keeps them)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "qBittorrent-fake"

    def log_message(self, fmt, *args):
        if self.server.state.args.verbose:
            sys.stderr.write("fakeqbittorrent: " + fmt % args + "\n")

    def _reply(self, status, body=b"", ctype="text/plain; charset=UTF-8", headers=()):
        # sent after the request is logged: a client that has the reply finds it in the log
        self._pending = (status, body, ctype, headers)
        return status

    def _send_pending(self):
        status, body, ctype, headers = self._pending
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        if body:
            self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body:
            self.wfile.write(body)

    def _session(self):
        st = self.server.state
        auth = self.headers.get("Authorization", "")
        if st.args.api_key and auth.startswith("Bearer ") and \
                secrets.compare_digest(auth[7:], st.args.api_key):
            return "bearer"
        for part in self.headers.get("Cookie", "").split(";"):
            name, _, value = part.strip().partition("=")
            if name == st.cookie_name and value in st.sessions:
                return "cookie"
        return None

    def _cross_site(self):
        host = self.headers.get("Host", "")
        for name in ("Origin", "Referer"):
            value = self.headers.get(name)
            if value is not None:
                u = urllib.parse.urlsplit(value)
                if u.netloc != host:
                    return True
        return False

    def _form(self):
        length = int(self.headers.get("Content-Length") or 0)
        data = self.rfile.read(length).decode("utf-8", "replace") if length else ""
        return urllib.parse.parse_qs(data, keep_blank_values=True)

    def _handle(self, method):
        with self.server.state.lock:
            self._handle_locked(method)

    def _handle_locked(self, method):
        st = self.server.state
        path = urllib.parse.urlsplit(self.path).path
        form = self._form() if method == "POST" else {}
        session = self._session()
        entry = {"method": method, "path": path, "auth": session,
                 "origin": "Origin" in self.headers or "Referer" in self.headers,
                 "json": None}
        if self._cross_site():
            status = self._reply(401, b"Unauthorized")
        elif path == "/api/v2/auth/login" and method == "POST":
            status = self._login(form, session)
        elif session is None:
            status = self._reply(403, b"Forbidden")
        elif path == "/api/v2/app/preferences" and method == "GET":
            status = self._reply(200, json.dumps(st.prefs).encode(), "application/json")
        elif path == "/api/v2/app/setPreferences":
            if method != "POST":
                status = self._reply(405, b"Method Not Allowed")
            elif "json" not in form:
                status = self._reply(400, b"Missing required parameters")
            else:
                entry["json"] = form["json"][0]
                self._apply(form["json"][0])
                status = self._reply(204)
        elif path == "/api/v2/app/version":
            status = self._reply(200, b"v5.2.3")
        else:
            status = self._reply(404, b"Not Found")
        entry["status"] = status
        if st.args.log:
            with open(st.args.log, "a") as f:
                f.write(json.dumps(entry) + "\n")
        self._send_pending()

    def _login(self, form, session):
        st = self.server.state
        if session == "bearer":
            return self._reply(403, b"Forbidden")
        if session == "cookie":
            return self._reply(204)
        if st.args.max_failures and st.failures >= st.args.max_failures:
            return self._reply(403, BAN_MESSAGE.encode())
        username = form.get("username", [""])[0]
        password = form.get("password", [""])[0]
        if st.args.password is not None and username == st.args.username and \
                secrets.compare_digest(password.encode(), st.args.password.encode()):
            st.failures = 0
            sid = secrets.token_urlsafe(24)
            st.sessions.add(sid)
            return self._reply(204, headers=[(
                "Set-Cookie", f"{st.cookie_name}={sid}; HttpOnly; path=/; SameSite=Strict")])
        st.failures += 1
        return self._reply(401, b"Unauthorized")

    def _apply(self, text):
        prefs = self.server.state.prefs
        try:
            m = json.loads(text)
        except ValueError:
            return
        if not isinstance(m, dict):
            return
        if m.get("random_port") is True:
            prefs["listen_port"] = 0
        elif "listen_port" in m and isinstance(m["listen_port"], int):
            prefs["listen_port"] = m["listen_port"]
        for key in ("upnp",):
            if key in m and isinstance(m[key], bool):
                prefs[key] = m[key]
        if "announce_port" in m and isinstance(m["announce_port"], int):
            prefs["announce_port"] = m["announce_port"]
        prefs["random_port"] = prefs["listen_port"] == 0

    def do_GET(self):
        self._handle("GET")

    def do_POST(self):
        self._handle("POST")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--bind-address", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--username", default="admin")
    p.add_argument("--password-file", help="the WebUI password (first line)")
    p.add_argument("--api-key-file", help="the API key (first line); none: no API key")
    p.add_argument("--max-failures", type=int, default=5)
    p.add_argument("--listen-port", type=int, default=6881)
    p.add_argument("--upnp", action="store_true")
    p.add_argument("--log", metavar="FILE")
    p.add_argument("-v", "--verbose", action="store_true")
    args = p.parse_args(argv)
    args.password = None
    args.api_key = None
    if args.password_file:
        with open(args.password_file) as f:
            args.password = f.readline().rstrip("\n")
    if args.api_key_file:
        with open(args.api_key_file) as f:
            args.api_key = f.readline().rstrip("\n")
    srv = http.server.ThreadingHTTPServer((args.bind_address, args.port), Handler)
    srv.daemon_threads = True
    srv.state = State(args)
    args.port = srv.server_address[1]
    srv.state.prefs["web_ui_port"] = args.port
    srv.state.cookie_name = f"QBT_SID_{args.port}"
    print("READY", args.port, flush=True)
    try:
        srv.serve_forever(poll_interval=0.1)
    except KeyboardInterrupt:
        pass
    return 0
