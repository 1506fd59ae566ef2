# SPDX-License-Identifier: GPL-2.0-or-later
"""The real transmission-daemon (Debian 12: 3.00) as a consumer's peer in a lab namespace.

    peer = TransmissionPeer(lab, lab.ns_lan, workdir, "admin", "s3cret", rpc_port=9191,
                            peer_port=6000)
    peer.start()                  # -f -g WORKDIR/transmission, RPC on 127.0.0.1:9191
    peer.url                      # for [Consumer] URL=
    peer.peer_port()              # read through its own RPC, from inside the namespace
    peer.stop(); peer.set_port_while_stopped(6001); peer.start()
    peer.login_attempts()         # the failed logins it counted (costs one more)

It runs in its own config dir (settings.json written before each start: it rewrites the file
on exit, so it is edited only while stopped), never through systemd, and is stopped by its
own PID (tracked by the lab as well, so down() kills it in any case).  RPC needs Basic auth
(the plain-text rpc-password written here is hashed by the daemon at start); DHT, LPD, PEX,
uTP, its own port forwarding and the random port at start are off, so that nothing but
portmapd moves its peer-port.

`python3 peer_transmission.py rpc HOST PORT USER PASSWORD` (inside a namespace) sends the
JSON request read from stdin, with the 409 session-id exchange, and prints
{"status", "body", "json"}.
"""

import json
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import pmlab  # noqa: E402

TRANSMISSION = "transmission-daemon"
SELF = os.path.abspath(__file__)


class TransmissionPeer:
    def __init__(self, lab, ns, workdir, username, password, rpc_port=9091, peer_port=51413,
                 address="127.0.0.1"):
        self.lab = lab
        self.ns = ns
        self.username = username
        self.password = password
        self.rpc_port = int(rpc_port)
        self.address = address
        self.initial_peer_port = int(peer_port)
        self.dir = os.path.join(workdir, f"transmission-{ns}-{self.rpc_port}")
        self.config_dir = os.path.join(self.dir, "config")
        self.download_dir = os.path.join(self.dir, "downloads")
        self.log_path = os.path.join(self.dir, "transmission.log")
        self.out_path = os.path.join(self.dir, "transmission.out")
        self.proc = None
        os.makedirs(self.config_dir, exist_ok=True)
        os.makedirs(self.download_dir, exist_ok=True)
        self._write_settings({"peer-port": self.initial_peer_port})

    def __repr__(self):
        return f"<TransmissionPeer {self.ns} {self.address}:{self.rpc_port} pid {self.pid}>"

    @property
    def url(self):
        return f"http://{self.address}:{self.rpc_port}/transmission/rpc"

    @property
    def pid(self):
        return self.proc.pid if self.proc is not None else None

    @property
    def settings_path(self):
        return os.path.join(self.config_dir, "settings.json")

    def _write_settings(self, changes):
        try:
            with open(self.settings_path) as f:
                settings = json.load(f)
        except (OSError, ValueError):
            settings = {}
        settings.update({
            "rpc-enabled": True,
            "rpc-bind-address": self.address,
            "rpc-port": self.rpc_port,
            "rpc-authentication-required": True,
            "rpc-username": self.username,
            # plain text: the daemon stores its salted hash on exit
            "rpc-password": self.password,
            "rpc-whitelist-enabled": True,
            "rpc-whitelist": "127.0.0.1,192.168.77.*",
            # only consulted without password auth; IPs are always allowed
            "rpc-host-whitelist-enabled": True,
            "rpc-host-whitelist": "",
            "peer-port-random-on-start": False,
            "port-forwarding-enabled": False,
            "dht-enabled": False,
            "lpd-enabled": False,
            "pex-enabled": False,
            "utp-enabled": False,
            "blocklist-enabled": False,
            "download-dir": self.download_dir,
            "incomplete-dir-enabled": False,
            "watch-dir-enabled": False,
            "start-added-torrents": False,
            # 3: debug, which logs each bind of the peer port
            "message-level": 3,
        })
        settings.update(changes)
        with open(self.settings_path, "w") as f:
            json.dump(settings, f, indent=4, sort_keys=True)

    def start(self, timeout=15):
        """Start it and wait until its RPC answers a login (which also zeroes its count of
        failed logins)."""
        if self.proc is not None:
            raise RuntimeError("transmission-daemon is running already")
        out = open(self.out_path, "a")
        try:
            self.proc = self.lab.spawn(
                self.ns, [TRANSMISSION, "-f", "-g", self.config_dir, "-e", self.log_path],
                name="transmission-daemon", stdout=out, stderr=subprocess.STDOUT,
                env=dict(os.environ, HOME=self.dir))
        finally:
            out.close()

        def ready():
            if self.proc.poll() is not None:
                raise AssertionError(f"transmission-daemon exited ({self.proc.returncode}): "
                                     f"{pmlab._tail(self.out_path)} {pmlab._tail(self.log_path)}")
            # no request before it listens: a refused connection is not a login
            return self.listening(self.rpc_port)
        pmlab.wait_for(ready, timeout, interval=0.2,
                       message=f"transmission-daemon RPC not up: {pmlab._tail(self.log_path)}")
        self.session()
        return self

    def stop(self):
        """SIGTERM by its PID and wait: it saves settings.json on the way out."""
        if self.proc is None:
            return
        proc, self.proc = self.proc, None
        self.lab.stop_process(proc, grace=10)
        if proc.returncode not in (0, None, -15):
            raise AssertionError(f"transmission-daemon exited with {proc.returncode}")

    def set_port_while_stopped(self, port):
        """Edit settings.json's peer-port (only while stopped: it rewrites the file on exit)."""
        if self.proc is not None:
            raise RuntimeError("stop transmission-daemon before editing settings.json")
        self._write_settings({"peer-port": int(port)})

    def rpc(self, request, username=None, password=None, check=True, timeout=10):
        """One RPC from inside its namespace, with the 409 exchange: {"status", "body",
        "json"}.  check: the status must be 200 and the result "success"."""
        cp = self.lab.run(self.ns, [pmlab.PYTHON, "-B", SELF, "rpc", self.address,
                                    str(self.rpc_port),
                                    self.username if username is None else username,
                                    self.password if password is None else password,
                                    str(timeout)],
                          input=json.dumps(request), timeout=timeout * 2 + 5, check=False)
        if cp.returncode != 0:
            raise AssertionError(f"rpc helper failed ({cp.returncode}): {cp.stderr.strip()}")
        reply = json.loads(cp.stdout)
        if check and (reply["status"] != 200 or (reply["json"] or {}).get("result") != "success"):
            raise AssertionError(f"transmission RPC {request.get('method')}: {reply}")
        return reply

    def session(self):
        fields = ["peer-port", "peer-port-random-on-start", "port-forwarding-enabled",
                  "rpc-version"]
        return self.rpc({"method": "session-get", "arguments": {"fields": fields}})["json"][
            "arguments"]

    def peer_port(self):
        return self.session()["peer-port"]

    def login_attempts(self):
        """The unsuccessful logins 3.00 counted since the last good one, this request's
        included (it says so in its 401 page; 100 lock RPC until a restart)."""
        reply = self.rpc({"method": "session-get"}, password=self.password + "-wrong",
                         check=False)
        m = re.search(r"(\d+) unsuccessful login attempts", reply["body"])
        if reply["status"] != 401 or m is None:
            raise AssertionError(f"not a 3.00 login refusal: {reply}")
        return int(m.group(1))

    def log(self):
        return pmlab._tail(self.log_path, 200000)

    def listening(self, port):
        """Its PID holds a TCP listener on port (in its namespace)."""
        cp = self.lab.run(self.ns, ["ss", "-Hltnp", f"sport = :{int(port)}"])
        return self.pid is not None and f"pid={self.pid}," in cp.stdout


def _rpc_main(host, port, username, password, timeout):
    import base64
    import http.client
    body = sys.stdin.read().encode()
    headers = {"Content-Type": "application/json"}
    if username or password:
        token = base64.b64encode(f"{username}:{password}".encode()).decode()
        headers["Authorization"] = "Basic " + token
    conn = http.client.HTTPConnection(host, int(port), timeout=float(timeout))
    try:
        for _ in range(2):
            conn.request("POST", "/transmission/rpc", body=body, headers=headers)
            resp = conn.getresponse()
            text = resp.read().decode(errors="replace")
            if resp.status != 409:
                break
            headers["X-Transmission-Session-Id"] = resp.getheader("X-Transmission-Session-Id")
    finally:
        conn.close()
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = None
    print(json.dumps({"status": resp.status, "body": text, "json": parsed}))
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 7 and sys.argv[1] == "rpc":
        sys.exit(_rpc_main(*sys.argv[2:]))
    sys.exit("usage: peer_transmission.py rpc HOST PORT USER PASSWORD TIMEOUT")
