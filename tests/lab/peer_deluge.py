# SPDX-License-Identifier: GPL-2.0-or-later
"""A real Deluge 2.0.3 (deluged and deluge-web) in a lab namespace, for Type=deluge.

    peer = DelugePeer(lab, lab.ns_lan, workdir, password="lab-pw", web_port=8112,
                      daemon_port=58846)
    peer.start()                      # both, ready (≤ 30 s: Python Deluge starts slowly)
    peer.url                          # http://127.0.0.1:8112/json, portmapd's URL=
    peer.listen_port()                # core.get_listen_port, read through deluge-web
    peer.stop_daemon(); peer.set_port_while_stopped(6000); peer.start_daemon()
    peer.requests_from("portmapd/")   # deluge-web's access log: the POSTs of that agent
    peer.stop()

One configuration directory serves both (-c), written before the first start as 2.0.3
reads it: core.conf (a partial file: Deluge fills in its defaults; deluged's own UPnP,
NAT-PMP, DHT and LSD are off, so that only portmapd maps its port), auth (localclient, the
account deluge-web uses), hostlist.conf (deluged for deluge-web's connection manager, whose
web.get_hosts lists it) and web.conf (pwd_sha1 = sha1(pwd_salt + password)). deluge-web is
left detached from deluged: attaching it (web.connect) is the consumer's job.

deluge-web 2.0.3 under Python 3.11 loses its own log lines (its logger's findCaller() has
the old signature), but twisted's access log gets through: one line per request with the
size of the reply and the User-Agent, which is how a test counts what portmapd sent.

Every process is started through lab.spawn() (tracked, killed by lab.down()) and stopped by
its PID. `python3 peer_deluge.py rpc|port-open|tcp-probe ...` are the helpers run inside the
namespace.
"""

import hashlib
import json
import os
import secrets
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PYTHON = "/usr/bin/python3"
SELF = os.path.abspath(__file__)
READY_TIMEOUT = 30


def _conf(file_version, body):
    """Deluge's config file: a version object, then the settings object."""
    return (json.dumps({"file": file_version, "format": 1}, indent=4) +
            json.dumps(body, indent=4, sort_keys=True))


def _read_conf(path):
    with open(path) as f:
        text = f.read()
    decoder = json.JSONDecoder()
    _, end = decoder.raw_decode(text)
    while text[end].isspace():
        end += 1
    return decoder.raw_decode(text, end)[0]


class DelugePeer:
    def __init__(self, lab, ns, workdir, password, web_port=8112, daemon_port=58846,
                 address="127.0.0.1", listen_ports=(6881, 6891)):
        self.lab = lab
        self.ns = ns
        self.password = password
        self.web_port = web_port
        self.daemon_port = daemon_port
        self.address = address
        self.dir = os.path.join(workdir, "deluge")
        self.downloads = os.path.join(workdir, "deluge-downloads")
        self.daemon_log = os.path.join(workdir, "deluged.log")
        self.web_log = os.path.join(workdir, "deluge-web.log")
        self.localclient = secrets.token_hex(20)
        self.host_id = secrets.token_hex(16)
        self.deluged = None
        self.web = None
        os.makedirs(self.dir, exist_ok=True)
        os.makedirs(self.downloads, exist_ok=True)
        self._write_config(listen_ports)

    @property
    def url(self):
        return f"http://{self.address}:{self.web_port}/json"

    @property
    def pids(self):
        return [p.pid for p in (self.deluged, self.web) if p is not None]

    def _write_config(self, listen_ports):
        self._write("core.conf", _conf(1, {
            "listen_ports": list(listen_ports), "random_port": True,
            "upnp": False, "natpmp": False, "dht": False, "lsd": False,
            "new_release_check": False, "download_location": self.downloads,
            "move_completed_path": self.downloads, "torrentfiles_location": self.downloads,
        }))
        self._write("auth", f"localclient:{self.localclient}:10\n")
        self._write("hostlist.conf", _conf(3, {"hosts": [
            [self.host_id, "127.0.0.1", self.daemon_port, "localclient", self.localclient]]}))
        salt = secrets.token_hex(20)
        self._write("web.conf", _conf(2, {
            "base": "/", "default_daemon": "", "enabled_plugins": [], "first_login": False,
            "https": False, "interface": self.address, "port": self.web_port,
            "pwd_salt": salt,
            "pwd_sha1": hashlib.sha1((salt + self.password).encode()).hexdigest(),
            "session_timeout": 3600, "sessions": {},
        }))

    def _write(self, name, text):
        path = os.path.join(self.dir, name)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(text)

    def _env(self):
        # nothing of root's home: the download directory and caches are the test's
        return dict(os.environ, HOME=os.path.dirname(self.dir), LANG="C.UTF-8")

    # --- processes --------------------------------------------------------------------------
    def start(self):
        self.start_daemon()
        self.start_web()

    def start_daemon(self):
        log = open(self.daemon_log + ".out", "a")
        self.deluged = self.lab.spawn(
            self.ns, ["deluged", "-d", "-c", self.dir, "-p", self.daemon_port,
                      "-u", "127.0.0.1", "-L", "info", "-l", self.daemon_log],
            name="deluged", env=self._env(), stdout=log, stderr=subprocess.STDOUT)
        log.close()
        self._wait(lambda: self._port_open(self.daemon_port), self.deluged, "deluged")

    def start_web(self):
        log = open(self.web_log + ".out", "a")
        self.web = self.lab.spawn(
            self.ns, ["deluge-web", "-d", "-c", self.dir, "-p", self.web_port,
                      "-i", self.address, "-L", "info", "-l", self.web_log],
            name="deluge-web", env=self._env(), stdout=log, stderr=subprocess.STDOUT)
        log.close()
        self._wait(lambda: self._port_open(self.web_port, self.address), self.web,
                   "deluge-web")

    def _wait(self, predicate, proc, what):
        end = time.monotonic() + READY_TIMEOUT
        while not predicate():
            if proc.poll() is not None:
                raise AssertionError(f"{what} exited with {proc.returncode}")
            if time.monotonic() > end:
                raise AssertionError(f"{what} not ready within {READY_TIMEOUT} s")
            time.sleep(0.2)

    def _port_open(self, port, host="127.0.0.1"):
        cp = self.lab.run(self.ns, [PYTHON, "-B", SELF, "port-open", host, port], check=False)
        return cp.returncode == 0

    def stop_daemon(self):
        """SIGTERM: deluged saves core.conf as it exits."""
        if self.deluged is not None:
            self.lab.stop_process(self.deluged, grace=15)
            self.deluged = None

    def stop_web(self):
        if self.web is not None:
            self.lab.stop_process(self.web, grace=15)
            self.web = None

    def stop(self):
        self.stop_web()
        self.stop_daemon()

    def set_port_while_stopped(self, port):
        """listen_ports [port, port] and random_port false in core.conf, as a user would
        leave it: deluged must be stopped (it rewrites the file as it exits)."""
        assert self.deluged is None, "deluged is running"
        path = os.path.join(self.dir, "core.conf")
        core = _read_conf(path)
        core["listen_ports"] = [port, port]
        core["random_port"] = False
        self._write("core.conf", _conf(1, core))

    # --- deluge-web, as a user's client -----------------------------------------------------
    def rpc(self, method, params=(), connect=True):
        """@method through deluge-web (a login of its own, and web.connect to deluged first
        when @connect and it is not attached); its result."""
        cp = self.lab.run(self.ns, [PYTHON, "-B", SELF, "rpc", self.url, method,
                                    json.dumps(list(params)), "1" if connect else "0"],
                          input=self.password, timeout=20, check=False)
        if cp.returncode != 0:
            raise AssertionError(f"deluge-web {method}: {cp.stderr.strip()}")
        return json.loads(cp.stdout)

    def listen_port(self):
        return self.rpc("core.get_listen_port")

    def config_values(self):
        return self.rpc("core.get_config_values", [["listen_ports", "random_port"]])

    def requests_from(self, agent):
        """deluge-web's access log: (status, reply size) of each POST /json whose
        User-Agent starts with @agent, oldest first."""
        out = []
        try:
            with open(self.web_log, errors="replace") as f:
                for line in f:
                    if '"POST /json ' not in line or f'"{agent}' not in line:
                        continue
                    after = line.split('"POST /json ', 1)[1].split('"', 1)[1].split()
                    out.append((int(after[0]), int(after[1])))
        except FileNotFoundError:
            pass
        return out

    def listening(self, port):
        """deluged owns a TCP listener on @port (ss in the namespace)."""
        cp = self.lab.run(self.ns, ["ss", "-Hltnp", f"sport = :{port}"], check=False)
        return "deluged" in cp.stdout


# --- helpers run inside the namespace -------------------------------------------------------
def _helper_rpc(url, method, params, connect):
    import http.cookiejar
    import urllib.request

    password = sys.stdin.read()
    opener = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    ids = iter(range(1, 100))

    def call(m, p):
        body = json.dumps({"method": m, "params": p, "id": next(ids)}).encode()
        req = urllib.request.Request(url, data=body,
                                     headers={"Content-Type": "application/json"})
        reply = json.loads(opener.open(req, timeout=10).read())
        if reply.get("error"):
            raise SystemExit(f"{m}: {reply['error']}")
        return reply["result"]

    if call("auth.login", [password]) is not True:
        raise SystemExit("auth.login: refused")
    if connect and not call("web.connected", []):
        hosts = call("web.get_hosts", [])
        call("web.connect", [hosts[0][0]])
        end = time.monotonic() + 10
        while not call("web.connected", []):
            if time.monotonic() > end:
                raise SystemExit("web.connect: deluge-web did not connect")
            time.sleep(0.2)
    print(json.dumps(call(method, params)))


def _helper_port_open(host, port):
    import socket
    try:
        socket.create_connection((host, port), timeout=1).close()
    except OSError:
        raise SystemExit(1)


def _helper_tcp_probe(host, port, timeout):
    """A TCP connection to host:port accepted within @timeout."""
    import socket
    end = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection((host, port), timeout=2).close()
            return
        except OSError as e:
            if time.monotonic() > end:
                raise SystemExit(f"{host}:{port}: {e}")
            time.sleep(0.3)


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "rpc":
        _helper_rpc(args[0], args[1], json.loads(args[2]), args[3] == "1")
    elif cmd == "port-open":
        _helper_port_open(args[0], int(args[1]))
    elif cmd == "tcp-probe":
        _helper_tcp_probe(args[0], int(args[1]), float(args[2]))
    else:
        raise SystemExit(f"unknown helper {cmd}")
