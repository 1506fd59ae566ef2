# SPDX-License-Identifier: GPL-2.0-or-later
"""qBittorrent peers for the portmap test lab: the real qbittorrent-nox (Debian 12: 4.5.2)
and the fake 5.2 Web API (fake-qbittorrent), each in a lab namespace, started and stopped
by PID (pia-and-torrent-clients.md §2.5).

    peer = QbittorrentPeer(lab, lab.ns_lan, workdir, password="s3cret", webui_port=18080)
    peer.start()                         # profile written first; waits for the WebUI
    peer.url, peer.username, peer.password, peer.pid
    peer.listen_port()                   # through qBittorrent's own API (its own login)
    peer.stop(); peer.set_port_while_stopped(7000); peer.start()   # or restart_with_port()
    peer.login_failures()                # "WebAPI login failure" lines of its own log

    fake = FakeQbittorrent52(lab, lab.ns_lan, workdir, password="pw", api_key="qbt_...")
    fake.requests(path="/api/v2/auth/login")   # its request log
    fake.preferences()

Both listen on 127.0.0.1 of their namespace: portmapd runs in the same one, as it runs next
to the client it configures.  The peers' HTTP clients run inside the namespace
(Lab.http_exchange)."""

import base64
import hashlib
import json
import os
import re
import subprocess
import time
import urllib.parse

import pmlab

HERE = os.path.dirname(os.path.abspath(__file__))
FAKE_QBITTORRENT = os.path.join(HERE, "fake-qbittorrent")
QBITTORRENT_NOX = "qbittorrent-nox"


def password_hash(password, salt=None):
    """WebUI\\Password_PBKDF2's value: base64(salt):base64(PBKDF2-HMAC-SHA512, 100 000
    rounds, 64 bytes), salt 16 bytes (§2.3)."""
    salt = salt if salt is not None else os.urandom(16)
    key = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, 100000, 64)
    return base64.b64encode(salt).decode() + ":" + base64.b64encode(key).decode()


def _form(**fields):
    return urllib.parse.urlencode(fields)


class _WebApiClient:
    """Login and calls through the lab's HTTP helper, inside the peer's namespace."""

    def _exchange(self, reqs, timeout=10):
        return self.lab.http_exchange(self.ns, self.address, self.webui_port, reqs,
                                      timeout=timeout)

    def _logged_in(self, reqs):
        """A login, then @reqs with the cookie it set; the replies to @reqs (with only an
        API key: @reqs with it)."""
        if getattr(self, "api_key", None) is not None and self.password is None:
            for r in reqs:
                r.setdefault("headers", {})["Authorization"] = f"Bearer {self.api_key}"
            return self._exchange(reqs)
        login = self._exchange([{"method": "POST", "path": "/api/v2/auth/login",
                                 "body": _form(username=self.username, password=self.password),
                                 "headers": {"Content-Type":
                                             "application/x-www-form-urlencoded"}}])[0]
        if login["status"] not in (200, 204) or login["body"].strip() == "Fails.":
            raise AssertionError(f"{self}: login refused: {login['status']} {login['body']}")
        cookie = login["headers"].get("set-cookie", "").split(";")[0]
        for r in reqs:
            r.setdefault("headers", {})["Cookie"] = cookie
        return self._exchange(reqs)

    def preferences(self):
        r = self._logged_in([{"method": "GET", "path": "/api/v2/app/preferences"}])[0]
        if r["status"] != 200 or r["json"] is None:
            raise AssertionError(f"{self}: preferences: {r['status']} {r['body'][:200]}")
        return r["json"]

    def listen_port(self):
        return self.preferences()["listen_port"]

    def set_preferences(self, **prefs):
        r = self._logged_in([{"method": "POST", "path": "/api/v2/app/setPreferences",
                              "body": _form(json=json.dumps(prefs)),
                              "headers": {"Content-Type":
                                          "application/x-www-form-urlencoded"}}])[0]
        if r["status"] not in (200, 204):
            raise AssertionError(f"{self}: setPreferences: {r['status']} {r['body']}")

    def _wait_ready(self, proc, timeout=20):
        def ready():
            if proc.poll() is not None:
                raise AssertionError(f"{self} exited with {proc.returncode}: "
                                     f"{self._output()[-2000:]}")
            try:
                return self._exchange([{"method": "GET", "path": "/api/v2/app/version"}],
                                      timeout=2)
            except AssertionError:
                return None
        pmlab.wait_for(ready, timeout, interval=0.2, message=f"{self}: the WebUI never answered")

    def _output(self):
        try:
            with open(self.out_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""


class QbittorrentPeer(_WebApiClient):
    """qbittorrent-nox with a profile of its own under @workdir (written before the first
    start: the legal notice accepted, a PBKDF2 hash of @password, DHT/LSD/PeX/UPnP off,
    the WebUI on 127.0.0.1:@webui_port, peers on @listen_port on every address)."""

    def __init__(self, lab, ns, workdir, password, webui_port=18080, username="admin",
                 listen_port=16881, address="127.0.0.1"):
        self.lab, self.ns = lab, ns
        self.password, self.username = password, username
        self.webui_port, self.address = webui_port, address
        self.profile = os.path.join(workdir, f"qbt-profile-{webui_port}")
        self.config_path = os.path.join(self.profile, "qBittorrent", "config",
                                        "qBittorrent.conf")
        self.log_path = os.path.join(self.profile, "qBittorrent", "data", "logs",
                                     "qbittorrent.log")
        self.out_path = os.path.join(workdir, f"qbt-{webui_port}.out")
        self.proc = None
        os.makedirs(os.path.dirname(self.config_path), exist_ok=True)
        with open(self.config_path, "w") as f:
            f.write("[LegalNotice]\nAccepted=true\n"
                    "[BitTorrent]\n"
                    f"Session\\Port={listen_port}\n"
                    "Session\\DHTEnabled=false\nSession\\LSDEnabled=false\n"
                    "Session\\PeXEnabled=false\n"
                    "[Network]\nPortForwardingEnabled=false\n"
                    "[Preferences]\nConnection\\ResolvePeerCountries=false\n"
                    f"WebUI\\Address={address}\nWebUI\\Port={webui_port}\n"
                    "WebUI\\UseUPnP=false\nWebUI\\LocalHostAuth=true\n"
                    f"WebUI\\Username={username}\n"
                    f"WebUI\\Password_PBKDF2=\"@ByteArray({password_hash(password)})\"\n")

    def __repr__(self):
        return f"<qbittorrent-nox {self.ns} {self.url} pid {self.pid}>"

    @property
    def url(self):
        return f"http://{self.address}:{self.webui_port}"

    @property
    def pid(self):
        return self.proc.pid if self.proc is not None and self.proc.poll() is None else None

    def start(self):
        if self.pid is not None:
            raise AssertionError(f"{self} already runs")
        out = open(self.out_path, "a")
        env = dict(os.environ, HOME=self.profile)
        self.proc = self.lab.spawn(self.ns, [QBITTORRENT_NOX, f"--profile={self.profile}"],
                                   name="qbittorrent-nox", stdout=out,
                                   stderr=subprocess.STDOUT, env=env)
        out.close()
        self._wait_ready(self.proc)
        return self

    def stop(self):
        """SIGTERM by its PID and wait: it writes its configuration as it exits."""
        if self.proc is None:
            return
        self.lab.stop_process(self.proc, grace=10)
        self.proc = None

    def set_port_while_stopped(self, port):
        """Session\\Port= in its configuration (it rewrites the file on exit: stopped only)."""
        if self.pid is not None:
            raise AssertionError(f"{self} runs: stop it first")
        with open(self.config_path) as f:
            text = f.read()
        text, n = re.subn(r"(?m)^Session\\Port=\d+$", f"Session\\\\Port={port}", text)
        if n != 1:
            raise AssertionError(f"no Session\\Port= in {self.config_path}")
        with open(self.config_path, "w") as f:
            f.write(text)

    def restart_with_port(self, port):
        """Stopped, its configuration given @port (a stale one), started again."""
        self.stop()
        self.set_port_while_stopped(port)
        return self.start()

    def log_messages(self):
        """Its own log, read through its API (the file is written as it goes, buffered)."""
        r = self._logged_in([{"method": "GET",
                              "path": "/api/v2/log/main?normal=true&info=true&warning=true"
                                      "&critical=true&last_known_id=-1"}])[0]
        if r["status"] != 200 or r["json"] is None:
            raise AssertionError(f"{self}: log: {r['status']} {r['body'][:200]}")
        return [m["message"] for m in r["json"]]

    def login_failures(self):
        """Failed logins it logged ("WebAPI login failure. Reason: invalid credentials")."""
        return [m for m in self.log_messages() if "WebAPI login failure" in m]


class FakeQbittorrent52(_WebApiClient):
    """fake-qbittorrent (fakeqbittorrent.py) in @ns on 127.0.0.1:@webui_port: 204 logins,
    the QBT_SID_<port> cookie, an API key if @api_key, announce_port, 401 on bad
    credentials, a ban after 5."""

    def __init__(self, lab, ns, workdir, password, api_key=None, webui_port=18090,
                 username="admin", listen_port=6881, upnp=True):
        self.lab, self.ns = lab, ns
        self.password, self.username, self.api_key = password, username, api_key
        self.webui_port, self.address = webui_port, "127.0.0.1"
        self.log_path = os.path.join(workdir, f"fake-qbt-{webui_port}.log")
        self.out_path = os.path.join(workdir, f"fake-qbt-{webui_port}.out")
        secret_dir = os.path.join(workdir, f"fake-qbt-{webui_port}")
        os.makedirs(secret_dir, mode=0o700, exist_ok=True)
        self.argv = [pmlab.PYTHON, FAKE_QBITTORRENT, "--port", str(webui_port),
                     "--username", username, "--listen-port", str(listen_port),
                     "--log", self.log_path]
        if upnp:
            self.argv.append("--upnp")
        for name, value in (("--password-file", password), ("--api-key-file", api_key)):
            if value is None:
                continue
            path = os.path.join(secret_dir, name.strip("-"))
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.write(fd, value.encode() + b"\n")
            os.close(fd)
            self.argv += [name, path]
        self.proc = None

    def __repr__(self):
        return f"<fake-qbittorrent {self.ns} {self.url}>"

    @property
    def url(self):
        return f"http://{self.address}:{self.webui_port}"

    @property
    def cookie_name(self):
        return f"QBT_SID_{self.webui_port}"

    def start(self):
        out = open(self.out_path, "a")
        self.proc = self.lab.spawn(self.ns, self.argv, name="fake-qbittorrent", stdout=out,
                                   stderr=subprocess.STDOUT)
        out.close()
        self._wait_ready(self.proc)
        return self

    def stop(self):
        if self.proc is not None:
            self.lab.stop_process(self.proc)
            self.proc = None

    def clear_log(self):
        with open(self.log_path, "w"):
            pass

    def requests(self, method=None, path=None, status=None):
        """Its request log (see fakeqbittorrent.py), oldest first, filtered."""
        try:
            with open(self.log_path) as f:
                entries = [json.loads(line) for line in f if line.strip()]
        except FileNotFoundError:
            return []
        return [e for e in entries
                if (method is None or e["method"] == method)
                and (path is None or e["path"] == path)
                and (status is None or e["status"] == status)]
