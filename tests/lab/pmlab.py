# SPDX-License-Identifier: GPL-2.0-or-later
"""portmap network-namespace test lab (design.md section 8).

    lan-SUF 192.168.77.2 --veth-- gw-SUF 192.168.77.1 | 11.0.0.2 --veth-- inet-SUF 11.0.0.1

inet's veth also holds the STUN servers' addresses 11.0.0.3 and 11.0.0.4 (coturn's primary and
alternate, RFC 5780) and 11.0.0.5 (a second, plain server), in every topology.  With ipv6=True
(single topology only) lan, gw and inet get IPv6 too (added with nodad: usable at once), gw
forwards it and its masquerade rule (`table inet`) covers it:

    lan fd77::2 --veth-- gw fd77::1 | fd11::2 --veth-- inet fd11::1 (+ fd11::3, fd11::4: STUN)

With topology="double" (the gateway issue's double NAT; portmapd runs in router):

    lan-SUF 192.168.77.2 (+ .3) --veth-- router-SUF 192.168.77.1 | 10.2.0.2 --veth--
        gw-SUF 10.2.0.1 | 11.0.0.2 --veth-- inet-SUF 11.0.0.1

With topology="double", segment=True, portmapd's own segment behind the router (as a container
on a MikroTik): one more namespace pmh-SUF joined to the router by one more veth,

    router-SUF 192.168.78.1 --veth-- pmh-SUF 192.168.78.2 (default via 192.168.78.1)

and the router forwards NAT-PMP from the LAN for its LAN address to it (table `ip labfwd`:
`ip daddr 192.168.77.1 udp dport 5351 dnat to 192.168.78.2`), so LAN clients talking to
192.168.77.1:5351 reach portmapd in pmhost; pmhost's traffic to the VPN side is masqueraded out
like the LAN's.

There `gw` is the VPN gateway (ns_vpn is an alias; miniupnpd or the fake gateway listen on
10.2.0.1, upstream_gateway), and router is a stateful NAT of its own (forward policy drop,
`ct status dnat accept`, masquerade out of its VPN-side veth if_router_vpn) with no NAT-PMP
server: portmapd's gateway is that.  lan has a second client address, LAN_ADDR2.

`gw` is a NAT (nftables skeleton of miniupnpd 2.3.1 + masquerade) running miniupnpd, the
scripted fake NAT-PMP gateway (fake-natpmp-gateway) or nothing.  Everything the lab creates
lives in namespaces it creates; the veths are created with both ends placed directly in lab
namespaces, so nothing is ever created in the caller's namespace.  Every process the lab starts
is tracked by PID (and start time, against PID reuse) and killed by down(), which also runs from
atexit and from SIGTERM/SIGHUP.

Typical use (tests run as root):

    import pmlab
    pmlab.reexec_in_private_netns()      # first: re-runs the test under unshare
    with pmlab.Lab() as lab:
        lab.run(lab.ns_lan, ["natpmpc", "-g", lab.GW_LAN_ADDR, "-a", "7001", "7001", "tcp", "60"])
        assert lab.tcp_reachable(7001, 7001)

The fake natpmp-http-api service (fake-natpmp-http-api, fakehttpapi.py) runs where the real one
must, in the namespace of the application whose port it forwards (NAT-PMP maps the sender):

    api = lab.start_natpmp_http_api(token="t")       # lan, 127.0.0.1:8080, gateway 192.168.77.1
    r = api.forward(7001, "tcp", 60)                  # from inside lan; r["status"], r["json"]
    assert lab.tcp_reachable(r["json"]["external_port"], 7001)
    api.forwards()                                    # its request log: count retries

The fake PIA service (fake-pia, fakepia.py; PKI from piapki.py, made at run time) runs in gw,
on the address portmapd in lan has as its default gateway, as a PIA server's port-forwarding API
is on the VPN gateway's address; its token API listens there too (port 443):

    pia = lab.start_fake_pia()                      # gw, 192.168.77.1:19999 and :443
    tok = pia.get_token()["json"]["token"]          # from inside lan, TLS verified (pia.ca)
    r = pia.get_signature(tok)                      # against pia.server_name, not the IP
    pia.bind_port(r["json"]["payload"], r["json"]["signature"])
    pia.fail_bind("busy"); pia.next_signature(port=40000, expires_in=3600)
    pia.requests(path="/bindPort"); pia.connections()   # its log

The fake RouterOS router (fake-routeros, fakeros.py) runs in the router (double topology) and
applies the dst-nat rules its API receives as nftables rules of its table `ip routeros`:

    ros = lab.start_fake_routeros(tls=True)   # 127.0.0.1 + 192.168.77.1 :8728, TLS :8729
    ros.user, ros.password, ros.ca_path, ros.fingerprint
    ros.rules(); ros.nft_rules(); ros.stats()["commands"]
    ros.fail("/ip/firewall/nat/add", "drop_after"); ros.set(empty=True)

STUN: coturn (a real peer) runs in inet; gw's NAT takes the behaviours a STUN client
classifies (only its masquerade rule is replaced); a raw Binding client of the lab's own runs
inside any lab namespace, coturn's NAT discovery client in lan:

    c = lab.start_coturn()                  # 11.0.0.3 + 11.0.0.4 :3478/:3479, RFC 5780
    lab.start_coturn(lab.STUN_ADDR3)        # a plain server on 11.0.0.5:3478
    lab.set_stun_nat("random")              # "masquerade" (default) | "random" | "none" | "eif"
    r = lab.stun_binding(lab.ns_lan, lab.STUN_ADDR1, local_port=40000, change_port=True)
    r["xor_mapped"], r["other_address"], r["source"]           # or None: no answer
    h = lab.drop_udp(lab.ns_inet, daddr=lab.STUN_ADDR1)       # a silent server
    lab.natdiscovery()["mapping"]           # "NAT with Address and Port Dependent Mapping!"

WireGuard: wireguard-go (a real peer, userspace; the kernel module is not needed) runs in any
lab namespace (default lan) as a TUN device pwgN-SUF, configured with wg(8).  Its UAPI socket
is /var/run/wireguard/IFNAME.sock, one directory for every network namespace of a host, so the
lab mounts a private tmpfs there in the test's own mount namespace (the host's directory never
sees a lab socket).  A second one in inet is a real remote peer behind gw's NAT:

    a = lab.start_wireguard_go(address=f"{lab.WG_LAN_ADDR}/24")        # lan, :51820
    b = lab.start_wireguard_go(ns=lab.ns_inet, address=f"{lab.WG_INET_ADDR}/24")
    a.add_peer(b.public_key, endpoint=f"{lab.INET_ADDR}:51820", allowed_ips=lab.WG_INET_ADDR)
    b.add_peer(a.public_key, allowed_ips=lab.WG_LAN_ADDR)   # learns a's NATed endpoint
    lab.ping(lab.ns_lan, lab.WG_INET_ADDR)["received"]
    b.endpoint_of(a.public_key)             # "11.0.0.2:PORT": gw's masquerade
    a.peers(); a.uapi("get=1"); a.remove_peer(key); lab.stop_wireguard_go(a)

Private keys live in files (mode 0600) in the workdir and are never printed or logged.

`python3 pmlab.py helper ...` holds the small traffic helpers the lab runs inside namespaces.
"""

import atexit
import base64
import glob
import ipaddress
import json
import os
import re
import secrets
import selectors
import shutil
import signal
import socket
import stat
import struct
import subprocess
import sys
import tempfile
import time
import urllib.parse
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
PYTHON = "/usr/bin/python3"
PMLAB = os.path.abspath(__file__)
FAKEGW = os.path.join(HERE, "fake-natpmp-gateway")
FAKE_HTTP_API = os.path.join(HERE, "fake-natpmp-http-api")
FAKE_PIA = os.path.join(HERE, "fake-pia")
FAKE_ROUTEROS = os.path.join(HERE, "fake-routeros")
RUN_NETNS = "/run/netns"
ETC_NETNS = "/etc/netns"
LAB_NETWORKS = (ipaddress.ip_network("192.168.77.0/24"), ipaddress.ip_network("11.0.0.0/24"))
# the double topology's VPN link (router - gw); checked in the caller's namespace only for that
# topology (a host on a real VPN may well have 10.2.0.2)
VPN_NETWORK = ipaddress.ip_network("10.2.0.0/24")
# the double topology's segment (router - pmhost), segment=True only
SEG_NETWORK = ipaddress.ip_network("192.168.78.0/24")
# ipv6=True only: the LAN and WAN sides' IPv6 networks (unique local addresses)
LAB_NETWORKS6 = (ipaddress.ip_network("fd77::/64"), ipaddress.ip_network("fd11::/64"))
TOPOLOGIES = ("single", "double")
REQUIRED_TOOLS = ("ip", "nft", "ss", "timeout", "sysctl", "unshare", "mount")
GATEWAY_TOOLS = {"miniupnpd": ("miniupnpd",), "fake": (), None: ()}
# Fallback tunnel devices a kernel creates in every new namespace when their module is loaded
# (sit0, tunl0, ...).  Tolerated only while down and without addresses: they carry nothing.
FALLBACK_DEVICES = {"tunl0", "sit0", "gre0", "gretap0", "erspan0", "ip_vti0", "ip6_vti0",
                    "ip6tnl0", "ip6gre0", "ip6erspan0"}
TERM_GRACE = 5.0           # SIGTERM -> SIGKILL
# wireguard-go and wg(8) keep a device's UAPI socket at WG_RUN_DIR/IFNAME.sock: one directory
# shared by every network namespace of the host.  The lab mounts a private tmpfs there (source
# WG_MOUNT_SOURCE) in the test's own mount namespace before it starts wireguard-go.
WG_RUN_DIR = "/var/run/wireguard"
WG_MOUNT_SOURCE = "pmlab-wireguard"
WIREGUARD_TOOLS = ("wireguard-go", "wg")
# reexec_in_private_netns passes an O_PATH descriptor of the host's /run to the test, so that
# the test can look at the host's /run/wireguard from inside its private mount namespace:
# "FD:DEV:INO" (DEV:INO identify the directory, against a stale descriptor number)
HOST_RUN_ENV = "PMLAB_HOST_RUN"


class LabTerminated(KeyboardInterrupt):
    """Raised in the main thread on SIGTERM/SIGHUP.  A KeyboardInterrupt, so unittest stops the
    run (it would record a SystemExit as an error and go on) while `with`/finally/atexit clean up."""


class LabCommandError(subprocess.CalledProcessError):
    def __str__(self):
        text = super().__str__()
        for name, data in (("stdout", self.stdout), ("stderr", self.stderr)):
            if data:
                text += f"\n{name}: {data.strip() if isinstance(data, str) else data!r}"
        return text


# --------------------------------------------------------------------------------------------
# polling

def wait_for(predicate, timeout, interval=0.05, message=""):
    """Poll predicate() until it returns a true value (returned) or timeout seconds pass
    (AssertionError(message)).  Exceptions from the predicate propagate."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(message or f"condition not met within {timeout} s: {predicate!r}")
        time.sleep(min(interval, remaining))


# --------------------------------------------------------------------------------------------
# processes

def proc_starttime(pid):
    """Start time (clock ticks since boot) of a process, or None if it does not exist."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    return int(stat[stat.rindex(")") + 2:].split()[19])


def _proc_state(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None, None
    fields = stat[stat.rindex(")") + 2:].split()
    return fields[0], int(fields[19])


def pid_alive(pid, starttime=None):
    """True if pid runs (not a zombie) and, when given, still has that start time."""
    try:                       # reap it if it is our child (daemons reparent to us as PID 1)
        os.waitpid(pid, os.WNOHANG)
    except (ChildProcessError, OSError):
        pass
    state, start = _proc_state(pid)
    if state is None or state in ("Z", "X", "x"):
        return False
    return starttime is None or start == starttime


class Tracked:
    """A process started by the lab."""

    def __init__(self, name, pid, ns=None, popen=None, starttime=None):
        self.name = name
        self.pid = pid
        self.ns = ns
        self.popen = popen
        self.starttime = starttime if starttime is not None else proc_starttime(pid)

    def alive(self):
        if self.popen is not None:
            if self.popen.poll() is not None:
                return False
            return self.starttime is None or proc_starttime(self.pid) == self.starttime
        return pid_alive(self.pid, self.starttime)

    def signal(self, sig):
        if self.alive():
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass

    def to_json(self):
        return {"name": self.name, "pid": self.pid, "ns": self.ns, "starttime": self.starttime}

    def __repr__(self):
        return f"<{self.name} pid {self.pid} in {self.ns}>"


def stop_popen(p, grace=5.0):
    """SIGTERM a subprocess.Popen started by a test, SIGKILL it after grace seconds, reap it."""
    if p.poll() is None:
        p.terminate()
        try:
            p.wait(grace)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def stop_processes(procs, grace=TERM_GRACE):
    """SIGTERM, wait (polling) up to grace seconds, SIGKILL, wait.  Returns the survivors."""
    procs = [p for p in procs if p.alive()]
    for p in procs:
        p.signal(signal.SIGTERM)
    try:
        wait_for(lambda: not any(p.alive() for p in procs), grace)
    except AssertionError:
        for p in procs:
            p.signal(signal.SIGKILL)
        try:
            wait_for(lambda: not any(p.alive() for p in procs), 3.0)
        except AssertionError:
            pass
    for p in procs:
        if p.popen is not None:
            try:
                p.popen.wait(timeout=0.1)
            except subprocess.TimeoutExpired:
                pass
            for stream in (p.popen.stdout, p.popen.stderr, p.popen.stdin):
                if stream:
                    stream.close()
    return [p for p in procs if p.alive()]


# --------------------------------------------------------------------------------------------
# teardown on exit and on signals

_live_labs = []
_terminating = False          # a SIGTERM/SIGHUP arrived: no new lab comes up
_teardown_depth = 0           # > 0 while a down() runs: signals must not interrupt it
_signals_installed = False


def _on_signal(signum, frame):
    global _terminating
    first = not _terminating
    _terminating = True
    if first and _teardown_depth == 0:
        raise LabTerminated(f"signal {signum}")


def install_signal_handlers():
    """SIGTERM/SIGHUP -> LabTerminated, so that finally/with/atexit tear labs down.  Only
    replaces default dispositions, only in the main thread."""
    global _signals_installed
    if _signals_installed:
        return
    import threading
    if threading.current_thread() is not threading.main_thread():
        return
    for sig in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(sig) in (signal.SIG_DFL, None):
            signal.signal(sig, _on_signal)
    _signals_installed = True


@atexit.register
def _down_all_labs():
    for lab in list(_live_labs):
        lab.down()


# --------------------------------------------------------------------------------------------
# running the tests in a namespace of their own

def _mount_ns_is_private():
    try:
        return os.readlink("/proc/self/ns/mnt") != os.readlink("/proc/1/ns/mnt")
    except OSError:
        return False


def _make_run_netns_private():
    """Mount a tmpfs on /run/netns (in our private mount namespace only), so the lab's
    namespace files are never visible to, or left behind in, the init namespace's /run/netns."""
    if os.environ.get("PMLAB_RUN_NETNS_PRIVATE") == "1":
        return
    ours = os.environ.get("PMLAB_PRIVATE_MOUNTNS") == "1"   # set by reexec_in_private_netns
    if not ours and not _mount_ns_is_private():
        print("pmlab: not in a private mount namespace; leaving /run/netns alone", file=sys.stderr)
        return
    os.makedirs(RUN_NETNS, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=0755,size=1m", "pmlab-netns", RUN_NETNS],
                   check=True, timeout=10)
    os.environ["PMLAB_RUN_NETNS_PRIVATE"] = "1"


def mount_at(path):
    """(fstype, source) of the mount visible at exactly path in our mount namespace (the last
    one mounted there), or None when path is no mount point."""
    path = os.path.realpath(path)
    found = None
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            sep = fields.index("-")
            if fields[4] == path:
                found = (fields[sep + 1], fields[sep + 2])
    return found


def host_run_wireguard():
    """The host's /run/wireguard (the one of the mount namespace reexec_in_private_netns ran
    in), reached from inside the test's private mount namespace through the descriptor it
    passed (HOST_RUN_ENV); None without one.  Our tmpfs on /run/wireguard is not mounted on
    the host's copy of /run, so this path shows the host's directory (if any)."""
    spec = os.environ.get(HOST_RUN_ENV, "")
    try:
        fd, dev, ino = (int(x) for x in spec.split(":"))
        st = os.fstat(fd)
    except (ValueError, OSError):
        return None
    if (st.st_dev, st.st_ino) != (dev, ino):
        return None                 # not inherited: the number now names something else
    # ... or our own /run (same directory, but our mount of it): then it shows nothing new
    own = os.open(os.path.dirname(os.path.realpath(WG_RUN_DIR)), os.O_PATH | os.O_DIRECTORY)
    try:
        if _fd_mnt_id(own) == _fd_mnt_id(fd):
            return None
    finally:
        os.close(own)
    return f"/proc/self/fd/{fd}/{os.path.basename(os.path.realpath(WG_RUN_DIR))}"


def _fd_mnt_id(fd):
    with open(f"/proc/self/fdinfo/{fd}") as f:
        for line in f:
            if line.startswith("mnt_id:"):
                return int(line.split()[1])
    return None


def _make_run_wireguard_private():
    """Mount a tmpfs on /run/wireguard (WG_RUN_DIR, where wireguard-go puts its UAPI sockets
    and wg looks for them) in our private mount namespace, once per mount namespace, and check
    that it is not the host's directory.  Returns True then; False outside a private mount
    namespace (tests/lab/up for a human: the host's directory is used, as wireguard-go would,
    the lab's interface names keep the sockets apart).  The mount point itself is created
    when missing (wireguard-go creates it too): an empty directory is all the host can see."""
    path = os.path.realpath(WG_RUN_DIR)
    if mount_at(path) == ("tmpfs", WG_MOUNT_SOURCE):
        return True
    ours = os.environ.get("PMLAB_PRIVATE_MOUNTNS") == "1"   # set by reexec_in_private_netns
    if not ours and not _mount_ns_is_private():
        return False
    os.makedirs(path, mode=0o755, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=0755,size=1m", WG_MOUNT_SOURCE, path],
                   check=True, timeout=10)
    if mount_at(path) != ("tmpfs", WG_MOUNT_SOURCE):
        raise AssertionError(f"pmlab: {path} is not the lab's tmpfs after mounting it: "
                             f"{mount_at(path)}")
    host = host_run_wireguard()
    if host is not None and os.path.exists(host) and \
            os.stat(host).st_dev == os.stat(path).st_dev:
        raise AssertionError(f"pmlab: {path} is still the host's directory")
    return True


def _children(pid):
    kids = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                kids += [int(x) for x in f.read().split()]
    except OSError:
        pass
    return kids


def start_loopback_fake_stun(mode="broken-then-valid"):
    """tests/lab/fake-stun on a free port of 127.0.0.1, outside any lab (the tests of
    portmapd on a private bus in the host's namespace): returns (its Popen, the port) once it
    listens; stop it with stop_popen()."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    fake = subprocess.Popen([PYTHON, os.path.join(HERE, "fake-stun"), "--listen",
                             f"127.0.0.1:{port}", "--mode", mode],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = fake.stdout.readline()
    fake.stdout.close()
    if "listening" not in line:
        stop_popen(fake)
        raise AssertionError(f"fake-stun did not start: {line!r}")
    return fake, port


def run_tests(*cases):
    """The main of a lab test file: `--list-tests` prints CLASS.METHOD of each of @cases
    (meson makes one test of each, tests/lab/meson.build), anything else runs unittest's
    main in a private network namespace (reexec_in_private_netns)."""
    import unittest
    if sys.argv[1:] == ["--list-tests"]:
        loader = unittest.TestLoader()
        for case in cases:
            for name in loader.getTestCaseNames(case):
                print(f"{case.__name__}.{name}")
        sys.exit(0)
    reexec_in_private_netns()
    unittest.main(module="__main__")


def reexec_in_private_netns():
    """Call first.  Unless already inside (PMLAB_UNSHARED=1), run sys.argv again under
    `unshare --net --mount --pid --fork --mount-proc` with PMLAB_UNSHARED=1 and exit with its
    status.  The pid namespace makes the kernel kill every process of the run (daemonized
    miniupnpd included) even if the test process is SIGKILLed.  Inside, /run/netns gets a
    private tmpfs and SIGTERM/SIGHUP are turned into LabTerminated."""
    if os.environ.get("PMLAB_UNSHARED") == "1":
        _make_run_netns_private()
        install_signal_handlers()
        return
    if os.geteuid() != 0:
        sys.exit("pmlab: the lab tests must run as root (they create network namespaces)")
    unshare = shutil.which("unshare")
    if not unshare:
        sys.exit("pmlab: unshare (util-linux) not found")
    sweep_stale_etc_netns()
    owner = owner_tag()
    env = dict(os.environ, PMLAB_UNSHARED="1", PMLAB_PRIVATE_MOUNTNS="1", PMLAB_OWNER=owner,
               PYTHONDONTWRITEBYTECODE="1")
    env.pop("PMLAB_RUN_NETNS_PRIVATE", None)
    # the host's /run, for host_run_wireguard(): a path-only descriptor (reads nothing)
    run_dir = os.path.dirname(os.path.realpath(WG_RUN_DIR))
    run_fd = os.open(run_dir, os.O_PATH | os.O_DIRECTORY)
    st = os.fstat(run_fd)
    env[HOST_RUN_ENV] = f"{run_fd}:{st.st_dev}:{st.st_ino}"
    argv = [unshare, "--net", "--mount", "--pid", "--fork", "--mount-proc",
            "--kill-child=SIGTERM", "--", sys.executable, *sys.orig_argv[1:]]
    child = subprocess.Popen(argv, env=env, pass_fds=(run_fd,))
    os.close(run_fd)

    def forward(signum, frame):
        # unshare ignores SIGTERM/SIGINT while it waits: hand the signal to the test process
        for pid in _children(child.pid):
            try:
                os.kill(pid, signum)
            except ProcessLookupError:
                pass
        # exit at once: meson SIGKILLs the whole process group if we linger > 0.5 s; the test
        # process (pid 1 of its namespace, not killed) tears its labs down by itself
        os._exit(128 + signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGHUP, forward)
    signal.signal(signal.SIGINT, signal.SIG_IGN)   # a terminal's ^C reaches the test directly
    rc = child.wait()
    # the namespaces and processes died with the run's namespaces; /etc/netns entries are
    # plain files: remove what a SIGKILLed run left
    sweep_stale_etc_netns(only_owner=owner)
    sys.exit(rc if rc >= 0 else 128 - rc)


# /etc/netns/NAME/resolv.conf names the process that owns the lab: "pid:starttime:pidns".
# Entries whose owner is dead (judged only for owners in our own pid namespace) are stale.
_RESOLV_HEAD = "# portmap test lab, owner "
_OWNER_RE = re.compile(r"^# portmap test lab, owner (\d+):(\d+):(pid:\[\d+\])", re.M)


def owner_tag():
    tag = os.environ.get("PMLAB_OWNER")
    if tag:
        return tag
    pid = os.getpid()
    return f"{pid}:{proc_starttime(pid)}:{os.readlink('/proc/self/ns/pid')}"


def sweep_stale_etc_netns(only_owner=None):
    """Remove /etc/netns/NAME dirs of labs whose owner process is gone (a SIGKILLed run); with
    only_owner, those of that owner.  Returns the names removed."""
    try:
        names = os.listdir(ETC_NETNS)
    except FileNotFoundError:
        return []
    mine = os.readlink("/proc/self/ns/pid")
    removed = []
    for name in names:
        if not re.fullmatch(r"[a-z]+-[0-9a-f]{4,6}", name):
            continue
        try:
            with open(os.path.join(ETC_NETNS, name, "resolv.conf")) as f:
                m = _OWNER_RE.search(f.read())
        except OSError:
            continue
        if not m:
            continue
        pid, start, pidns = int(m.group(1)), int(m.group(2)), m.group(3)
        if only_owner is not None:
            stale = m.group(0)[len(_RESOLV_HEAD):] == only_owner
        else:
            stale = pidns == mine and not pid_alive(pid, start)
        if stale:
            shutil.rmtree(os.path.join(ETC_NETNS, name), ignore_errors=True)
            removed.append(name)
    # and the default workdirs of those labs (tempfile.mkdtemp(prefix=f"pmlab-{suffix}-"))
    for suffix in {name.rsplit("-", 1)[1] for name in removed}:
        for d in glob.glob(os.path.join(tempfile.gettempdir(), f"pmlab-{suffix}-*")):
            shutil.rmtree(d, ignore_errors=True)
    if removed:
        print(f"pmlab: removed stale {ETC_NETNS} entries: {', '.join(sorted(removed))}",
              file=sys.stderr)
    _rmdir_etc_netns_if_empty()
    return removed


def _rmdir_etc_netns_if_empty():
    try:
        os.rmdir(ETC_NETNS)
    except OSError:
        pass


# --------------------------------------------------------------------------------------------
# the fake gateway's control socket

class FakeGatewayControl:
    """Client of fake-natpmp-gateway's control socket (one JSON object per line)."""

    label = "fake gateway"

    def __init__(self, path, pid=None, timeout=5.0):
        self.path = path
        self.pid = pid
        self.timeout = timeout

    def request(self, cmd, **args):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(self.timeout)
            s.connect(self.path)
            s.sendall((json.dumps({"cmd": cmd, **args}) + "\n").encode())
            buf = b""
            while not buf.endswith(b"\n"):
                chunk = s.recv(65536)
                if not chunk:
                    break
                buf += chunk
        reply = json.loads(buf)
        if not reply.get("ok"):
            raise RuntimeError(f"{self.label}: {cmd}: {reply.get('error')}")
        return reply

    def ping(self):
        try:
            return self.request("ping")["ok"]
        except (OSError, ValueError):
            return False

    def info(self):
        return self.request("info")

    def options(self):
        return self.request("get")["options"]

    def set(self, **opts):
        return self.request("set", **opts)["options"]

    def log(self):
        return self.request("log")["log"]

    def clear_log(self):
        self.request("clear_log")

    def reset_epoch(self, announce=0):
        return self.request("reset_epoch", announce=announce)["epoch"]

    def announce(self, count=1):
        return self.request("announce", count=count)["offsets"]

    def announcements(self):
        return self.request("announcements")["announcements"]

    def mappings(self):
        return self.request("mappings")["mappings"]

    def epoch(self):
        return self.request("info")["epoch"]

    def quit(self):
        return self.request("quit")


class LoopbackFakeGateway:
    """fake-natpmp-gateway on 127.0.0.1 (a free port) with a control socket, for tests that
    need a NAT-PMP gateway but no namespaces.  stop() ends it by PID."""

    def __init__(self, workdir, public_address="11.0.0.2"):
        self.control = FakeGatewayControl(os.path.join(workdir, "fakegw.sock"))
        self.proc = subprocess.Popen([PYTHON, FAKEGW, "--listen", "127.0.0.1:0",
                                      "--public-address", public_address,
                                      "--control", self.control.path],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     text=True)
        line = self.proc.stdout.readline().split()
        if not line or line[0] != "READY":
            self.stop()
            raise AssertionError("the fake gateway did not start")
        self.port = int(line[2])

    def stop(self):
        stop_popen(self.proc)
        self.proc.stdout.close()


# what a private dbus-daemon lets its peers do: everything, and eavesdropping on a session
# bus too (a test watches what others send)
_BUS_POLICIES = {
    "system": """    <allow user="*"/>
    <allow own="*"/>
    <allow send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_type="method_return"/>
    <allow send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="signal"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>""",
    "session": """    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>""",
}


def bus_config(directory, bus_type="system", service_dir=None, extra=""):
    """The configuration of a private dbus-daemon of @bus_type ("system" or "session")
    listening on a socket file in @directory: a file, not an abstract socket, because
    abstract sockets belong to a network namespace and portmapd runs in the lab's lan.
    @service_dir: where it looks for activatable services (none without: every peer is
    one the test started); @extra: more elements (a <limit>)."""
    services = f"  <servicedir>{service_dir}</servicedir>\n" if service_dir else ""
    extra = f"  {extra}\n" if extra else ""
    return ('<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"\n'
            ' "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">\n'
            f"<busconfig>\n  <type>{bus_type}</type>\n"
            f"  <listen>unix:dir={directory}</listen>\n  <auth>EXTERNAL</auth>\n"
            f"{services}{extra}"
            f'  <policy context="default">\n{_BUS_POLICIES[bus_type]}\n  </policy>\n'
            "</busconfig>\n")


class PrivateBus:
    """A private dbus-daemon (of type system) on a socket in @workdir/bus, stopped by PID.
    @config(dir) returns its configuration for that directory."""

    def __init__(self, workdir, config, log=None):
        self.dir = os.path.join(workdir, "bus")
        os.makedirs(self.dir, exist_ok=True)
        os.chmod(self.dir, 0o755)
        self.config = os.path.join(self.dir, "bus.conf")
        with open(self.config, "w") as f:
            f.write(config(self.dir))
        self.log = open(log, "w") if log else None
        self.proc = subprocess.Popen(["dbus-daemon", "--nofork", "--print-address=1",
                                      "--config-file=" + self.config],
                                     stdout=subprocess.PIPE,
                                     stderr=self.log or subprocess.DEVNULL)
        self.address = self.proc.stdout.readline().decode().strip()
        if not self.address:
            self.stop()
            raise AssertionError("dbus-daemon did not start")

    def stop(self):
        stop_popen(self.proc)
        self.proc.stdout.close()
        if self.log:
            self.log.close()


class HttpApiFake:
    """A fake-natpmp-http-api the lab runs (Lab.start_natpmp_http_api): where it is, how it
    was started, its request log, and an HTTP client that runs inside its namespace.

    Attributes: ns, address, port, url, pid, gateway, token (None: auth disabled),
    max_duration (None: the service's default 300), delay_ms, log_path (JSON lines, one per
    request; see fakehttpapi.py), out_path (its stdout/stderr)."""

    DEFAULT = object()

    def __init__(self, lab, ns, address, port, gateway, token, max_duration, delay_ms,
                 log_path, out_path, extra_args):
        self.lab = lab
        self.ns, self.address, self.port = ns, address, port
        self.gateway, self.token = gateway, token
        self.max_duration, self.delay_ms = max_duration, delay_ms
        self.log_path, self.out_path = log_path, out_path
        self.extra_args = list(extra_args)
        self.pid = None
        self.proc = None

    def __repr__(self):
        return f"<HttpApiFake {self.ns} {self.address}:{self.port} pid {self.pid}>"

    @property
    def url(self):
        host = f"[{self.address}]" if ":" in self.address else self.address
        return f"http://{host}:{self.port}"

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    # --- its request log ---------------------------------------------------------------------
    def log(self):
        """Every request so far (this and earlier runs on the same log), oldest first."""
        try:
            with open(self.log_path) as f:
                return [json.loads(line) for line in f if line.strip()]
        except FileNotFoundError:
            return []

    def requests(self, method=None, path=None, status=None):
        """The log entries matching method/path/status (None: any)."""
        return [e for e in self.log()
                if (method is None or e["method"] == method)
                and (path is None or e["path"] == path)
                and (status is None or e["status"] == status)]

    def forwards(self):
        """The POST /forward entries (each says status, body, natpmp packets sent...)."""
        return self.requests("POST", "/forward")

    def clear_log(self):
        with open(self.log_path, "w"):
            pass

    # --- an HTTP client in its namespace --------------------------------------------------------
    def exchange(self, reqs, timeout=10):
        """Send reqs in order on one HTTP/1.1 connection (http.client reconnects only if the
        server closed it) from inside self.ns.  reqs: dicts {method, path, body (str/bytes/
        dict/None; a dict is sent as JSON), headers (dict)}.  Returns one dict per request:
        {status, reason, headers (lowercased name -> value), body (text), json (parsed or
        None), local_port (the client's port: equal ports = the same connection), elapsed}."""
        return self.lab.http_exchange(self.ns, self.address, self.port, reqs, timeout=timeout)

    def request(self, method, path, body=None, headers=None, timeout=10):
        return self.exchange([{"method": method, "path": path, "body": body,
                               "headers": headers or {}}], timeout=timeout)[0]

    def forward(self, internal_port, protocol, duration, token=DEFAULT, content_type=True,
                timeout=10):
        """POST /forward as a client would: JSON body, Authorization "Bearer <token>" (default:
        the fake's own token; None: no header), Content-Type application/json unless
        content_type is False."""
        token = self.token if token is HttpApiFake.DEFAULT else token
        headers = {}
        if content_type:
            headers["Content-Type"] = "application/json"
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        return self.request("POST", "/forward", {"internal_port": internal_port,
                                                 "protocol": protocol, "duration": duration},
                            headers, timeout=timeout)

    def health(self, timeout=10):
        return self.request("GET", "/health", timeout=timeout)


class PiaControl:
    """Client of fake-pia's control socket (one JSON object per line; see fakepia.py)."""

    def __init__(self, path, timeout=5.0):
        self.path = path
        self.timeout = timeout

    def request(self, cmd, **args):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(self.timeout)
            s.connect(self.path)
            s.sendall((json.dumps({"cmd": cmd, **args}) + "\n").encode())
            buf = b""
            while not buf.endswith(b"\n"):
                chunk = s.recv(65536)
                if not chunk:
                    break
                buf += chunk
        reply = json.loads(buf)
        if not reply.get("ok"):
            raise RuntimeError(f"fake-pia: {cmd}: {reply.get('error')}")
        return reply

    def ping(self):
        try:
            return self.request("ping")["ok"]
        except (OSError, ValueError):
            return False


class PiaFake:
    """A fake-pia the lab runs (Lab.start_fake_pia): where each role listens, the test PKI,
    the control socket, its log, and HTTPS clients that run inside a lab namespace.

    Attributes: ns, address (both roles listen there), gateway_port (19999), token_port (443),
    token_url ("https://ADDRESS:PORT/api/client/v2/token": TokenURL=), gateway_url
    ("https://ADDRESS:19999": the connection goes to the IP, the certificate names only
    server_name), server_name (Hostname=; "lab-pia-server"), api_name ("lab-pia-api"), pki
    (piapki.PiaPki: every file), ca (the test CA: CAFile= and TokenCAFile=), other_ca (an
    unrelated CA), gateway_cert ("good", or "other": the gateway presents a certificate for
    server_name signed by other_ca), username, password, pid, control (PiaControl),
    control_path, log_path (JSON lines, fakepia.py), state_path, out_path."""

    DEFAULT = object()

    def __init__(self, lab, ns, address, gateway_port, token_port, pki, gateway_cert,
                 username, password, base, lifetime_days, lenient_query, extra_args):
        self.lab = lab
        self.ns, self.address = ns, address
        self.gateway_port, self.token_port = gateway_port, token_port
        self.pki = pki
        self.server_name, self.api_name = pki.server_name, pki.api_name
        self.ca, self.other_ca = pki.ca, pki.other_ca
        self.gateway_cert = gateway_cert
        self.username, self.password = username, password
        self.lifetime_days, self.lenient_query = lifetime_days, lenient_query
        self.extra_args = list(extra_args)
        self.control_path = base + ".ctl"
        self.log_path, self.state_path, self.out_path = base + ".log", base + ".state", \
            base + ".out"
        self.control = PiaControl(self.control_path)
        self.pid = None
        self.proc = None

    def __repr__(self):
        return f"<PiaFake {self.ns} {self.address} gateway :{self.gateway_port} " \
               f"token :{self.token_port} pid {self.pid}>"

    @property
    def host(self):
        return f"[{self.address}]" if ":" in self.address else self.address

    @property
    def token_url(self):
        return f"https://{self.host}:{self.token_port}/api/client/v2/token"

    @property
    def gateway_url(self):
        return f"https://{self.host}:{self.gateway_port}"

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    # --- its log -------------------------------------------------------------------------------
    def log(self):
        """Every event so far (handshake, request, close), oldest first."""
        try:
            with open(self.log_path) as f:
                return [json.loads(line) for line in f if line.strip()]
        except FileNotFoundError:
            return []

    def clear_log(self):
        with open(self.log_path, "w"):
            pass

    def requests(self, role=None, path=None, status=None):
        return [e for e in self.log() if e["event"] == "request"
                and (role is None or e["role"] == role)
                and (path is None or e["path"] == path)
                and (status is None or e["status"] == status)]

    def handshakes(self, role=None):
        return [e for e in self.log() if e["event"] == "handshake"
                and (role is None or e["role"] == role)]

    def connections(self, role=None):
        """One dict per closed connection: its handshake event's fields plus "requests" (how
        many requests it carried; 0 = nothing was sent past the handshake)."""
        hs = {e["conn"]: e for e in self.handshakes(role)}
        out = []
        for e in self.log():
            if e["event"] == "close" and e["conn"] in hs and (role is None or e["role"] == role):
                out.append({**hs[e["conn"]], "event": "connection", "requests": e["requests"],
                            "closed": e["time"]})
        return out

    # --- control -------------------------------------------------------------------------------
    def state(self):
        """tokens, signatures, binds, pending next signatures and failures."""
        return self.control.request("state")

    def set(self, **opts):
        """username=, password=, strict_query=, lifetime_days=."""
        self.control.request("set", **opts)
        self.username = opts.get("username", self.username)
        self.password = opts.get("password", self.password)

    def next_signature(self, port=None, expires_at=None, expires_in=None, count=1):
        """The next count getSignature replies carry this port and/or expiry (expires_at an
        RFC 3339 string, used verbatim; expires_in seconds from the request)."""
        return self.control.request("next_signature", port=port, expires_at=expires_at,
                                    expires_in=expires_in, count=count)["pending"]

    def fail_bind(self, kind="busy", count=1):
        """The next count bindPort requests answer 409 "Port N is busy..." (kind "busy") or
        401 "bad signature" (kind "bad-signature")."""
        return self.control.request("fail", what="bind", kind=kind, count=count)["pending"]

    def fail(self, what, status, body="", count=1):
        """The next count requests of what ("token" | "signature" | "bind") answer status with
        body (a dict is sent as JSON)."""
        return self.control.request("fail", what=what, status=status, body=body,
                                    count=count)["pending"]

    def clear_failures(self):
        self.control.request("clear_failures")

    def forget(self, signatures=True, tokens=False, binds=False):
        """The server no longer honours what it issued (bindPort answers "bad signature")."""
        self.control.request("forget", signatures=signatures, tokens=tokens, binds=binds)

    def add_token(self, token):
        """Accept token at getSignature as if issued (TokenCredential= tests)."""
        self.control.request("add_token", token=token)

    # --- HTTPS clients in a lab namespace ---------------------------------------------------------
    def https(self, reqs, role="gateway", ca=DEFAULT, server_name=DEFAULT, ns=None, timeout=10):
        """Send reqs ({method, path (sent verbatim), body, headers}) on one TLS connection
        (http.client reconnects only if the server closed it) from inside ns (default lan),
        verifying the chain against ca only (default self.ca) and the certificate against
        server_name (default: self.server_name for the gateway, self.address for the token
        API; None: the address connected to).  Returns {"handshake": {"ok", "error",
        "reason", "version"}, "responses": [as HttpApiFake.exchange]}."""
        port = self.gateway_port if role == "gateway" else self.token_port
        if server_name is PiaFake.DEFAULT:
            server_name = self.server_name if role == "gateway" else self.address
        return self.lab.https_exchange(ns or self.lab.ns_lan, self.address, port, reqs,
                                       self.ca if ca is PiaFake.DEFAULT else ca,
                                       server_name, timeout=timeout)

    def _one(self, req, role="gateway", **kw):
        res = self.https([req], role=role, **kw)
        if not res["handshake"]["ok"]:
            raise AssertionError(f"TLS handshake failed: {res['handshake']}")
        return res["responses"][0]

    def get_token(self, username=DEFAULT, password=DEFAULT, form="urlencoded", **kw):
        """POST /api/client/v2/token with the fake's credentials (default) as gluetun does
        (form "urlencoded") or as curl --form does ("multipart")."""
        fields = {"username": self.username if username is PiaFake.DEFAULT else username,
                  "password": self.password if password is PiaFake.DEFAULT else password}
        if form == "multipart":
            boundary = "------------------------" + secrets.token_hex(8)
            body = "".join(f"--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\""
                           f"\r\n\r\n{v}\r\n" for k, v in fields.items() if v is not None)
            body += f"--{boundary}--\r\n"
            ctype = f"multipart/form-data; boundary={boundary}"
        else:
            body = urllib.parse.urlencode({k: v for k, v in fields.items() if v is not None})
            ctype = "application/x-www-form-urlencoded"
        return self._one({"method": "POST", "path": "/api/client/v2/token", "body": body,
                          "headers": {"Content-Type": ctype}}, role="token", **kw)

    @staticmethod
    def query(encode=True, **params):
        """A query string; encode=False puts the values in raw (a missing URL encoding)."""
        if encode:
            return urllib.parse.urlencode(params, quote_via=urllib.parse.quote, safe="")
        return "&".join(f"{k}={v}" for k, v in params.items())

    def get_signature(self, token, encode=True, **kw):
        return self._one({"method": "GET",
                          "path": "/getSignature?" + self.query(encode, token=token)}, **kw)

    def bind_port(self, payload, signature, encode=True, **kw):
        return self._one({"method": "GET", "path": "/bindPort?" + self.query(
            encode, payload=payload, signature=signature)}, **kw)

    def ping(self, **kw):
        return self._one({"method": "GET", "path": "/ping"}, **kw)

    def soup(self, reqs, ca=DEFAULT, hostname=DEFAULT, ns=None, timeout=10):
        """Requests through libsoup 3 from inside ns (default lan) with the pia provider's TLS
        recipe (pmlab helper "soup"): reqs are (method, path) on the gateway, verified against
        hostname (default self.server_name; None: no server identity set, so the URL's IP),
        or full URLs (the token API's), verified against their host as portmapd's token
        request is."""
        spec = {"ca": self.ca if ca is PiaFake.DEFAULT else ca,
                "hostname": self.server_name if hostname is PiaFake.DEFAULT else hostname,
                "requests": [{"method": "GET", "url": r, "hostname": None}
                             if isinstance(r, str) else
                             {"method": r[0], "url": self.gateway_url + r[1]} for r in reqs]}
        cp = self.lab.run(ns or self.lab.ns_lan,
                          [PYTHON, "-B", PMLAB, "helper", "soup", str(timeout)],
                          timeout=timeout * (len(reqs) + 1) + 5, input=json.dumps(spec),
                          check=False)
        if cp.returncode != 0:
            raise AssertionError(f"soup helper failed ({cp.returncode}): {cp.stderr.strip()}")
        return json.loads(cp.stdout)


# --------------------------------------------------------------------------------------------
# the lab

class RouterOsFake:
    """A running fake-routeros (start_fake_routeros): where it listens, its credentials and
    PKI, and its control socket.  address:port is what a client in the lab uses (the first
    listener not on loopback; tls_port/anon_tls_port the API-SSL ones)."""

    def __init__(self, lab, ns, listen, tls, anon_tls, user, password, table, base):
        self.lab, self.ns = lab, ns
        self.listen, self.tls, self.anon_tls = list(listen), list(tls), list(anon_tls)
        self.user, self.password, self.table = user, password, table
        self.control_path = base + ".sock"
        self.log_path = base + ".log"
        self.password_file = base + ".password"
        self.pki = None
        self.ca_path = self.cert_path = self.key_path = self.fingerprint = None
        self.proc = self.pid = None
        self.control = FakeGatewayControl(self.control_path)
        self.control.label = "fake RouterOS"

    def __repr__(self):
        return f"<RouterOsFake pid={self.pid} {self.ns} {self.listen + self.tls}>"

    @staticmethod
    def _pick(specs):
        if not specs:
            return None, None
        spec = next((x for x in specs if not x.startswith("127.")), specs[0])
        host, _, port = spec.rpartition(":")
        return host, int(port)

    @property
    def address(self):
        return self._pick(self.listen or self.tls or self.anon_tls)[0]

    @property
    def port(self):
        return self._pick(self.listen)[1]

    @property
    def tls_port(self):
        return self._pick(self.tls)[1]

    @property
    def anon_tls_port(self):
        return self._pick(self.anon_tls)[1]

    def alive(self):
        return self.pid is not None and any(t.pid == self.pid and t.alive()
                                            for t in self.lab._tracked)

    def log(self):
        return _tail(self.log_path, 10 ** 7)

    def ping(self):
        return self.control.ping()

    def options(self):
        return self.control.request("get")["options"]

    def set(self, **opts):
        """delay_ms, empty, legacy_login, route_check (None | "trap" | an interface)."""
        return self.control.request("set", **opts)["options"]

    def fail(self, path, kind, count=1, **kw):
        """The next count commands with path (e.g. "/ip/firewall/nat/add") fail: kind trap |
        drop | drop_after | fatal | slow; kw: message=, category=, delay_ms= (slow)."""
        return self.control.request("fail", path=path, kind=kind, count=count, **kw)["faults"]

    def clear_faults(self):
        self.control.request("clear_faults")

    def rules(self):
        """Every rule in order, all properties as strings, with its ".id"."""
        return self.control.request("rules")["rules"]

    def handles(self):
        """{".id": nft handle, or None for a disabled rule}."""
        return self.control.request("rules")["handles"]

    def add_rule(self, **props):
        """Add a rule as a human at the console (not through the API); property names with
        "_" for "-" (dst_port=...).  Returns its .id; ValueError-like RuntimeError on a
        validation failure."""
        return self.control.request("add_rule", **{k.replace("_", "-"): str(v)
                                                   for k, v in props.items()})["id"]

    def remove_rule(self, rule_id):
        self.control.request("remove_rule", id=rule_id)

    def stats(self):
        """logins_ok, login_failures, connections_accepted, connections_open, commands."""
        r = self.control.request("stats")
        r.pop("ok", None)
        return r

    def commands(self, command=None):
        return [c for c in self.stats()["commands"] if command is None or c["command"] == command]

    def clear_log(self):
        self.control.request("clear_log")

    def nft_rules(self):
        """The applied nft rules of its table (dstnat chain), as router_nft_rules returns them."""
        return self.lab.router_nft_rules(table=self.table, chain="dstnat", ns=self.ns)


class CoturnServer:
    """A coturn STUN server the lab runs (Lab.start_coturn): `turnserver -n --stun-only` in ns
    on addresses, port and (RFC 5780, with two addresses of a family) alt_port.

    Attributes: ns, addresses, port, alt_port (port + 1), rfc5780 (two or more addresses of
    one family: coturn then answers OTHER-ADDRESS and CHANGE-REQUEST and listens on alt_port
    too; with one it answers a CHANGE-REQUEST with error 420), pid, argv, log_path (its
    stdout and stderr), pidfile, db_path (its SQLite user database: in the workdir, not
    /var/lib/turn).  log() is its log so far."""

    def __init__(self, lab, ns, addresses, port, base):
        self.lab, self.ns = lab, ns
        self.addresses = tuple(str(a) for a in addresses)
        self.port, self.alt_port = int(port), int(port) + 1
        families = [ipaddress.ip_address(a).version for a in self.addresses]
        self.rfc5780 = any(families.count(f) >= 2 for f in set(families))
        self.log_path, self.pidfile, self.db_path = base + ".log", base + ".pid", base + ".db"
        self.argv = None
        self.proc = self.pid = None

    def __repr__(self):
        return f"<CoturnServer {self.ns} {', '.join(self.addresses)} :{self.port} pid {self.pid}>"

    def endpoints(self):
        """Every (address, port) it answers on: each address on port, and on alt_port too
        when rfc5780."""
        ports = (self.port, self.alt_port) if self.rfc5780 else (self.port,)
        return [(a, p) for a in self.addresses for p in ports]

    def alive(self):
        return self.pid is not None and any(t.pid == self.pid and t.alive()
                                            for t in self.lab._tracked)

    def log(self):
        return _tail(self.log_path, 10 ** 7)


# --------------------------------------------------------------------------------------------
# WireGuard keys: base64 (wg(8)) and hex (UAPI).  Private keys only ever go to files.

def wg_key_bytes(key):
    """The 32 bytes of a base64 (wg) or 64-hex-digit (UAPI) WireGuard key; ValueError else."""
    key = key.strip()
    if re.fullmatch(r"[0-9a-fA-F]{64}", key):
        return bytes.fromhex(key)
    try:
        raw = base64.b64decode(key, validate=True)
    except ValueError:
        raw = b""
    if len(raw) != 32:
        raise ValueError("not a WireGuard key (32 bytes, base64 or hex)")
    return raw


def wg_key_hex(key):
    """A WireGuard key as the UAPI writes it (lowercase hex)."""
    return wg_key_bytes(key).hex()


def wg_key_b64(key):
    """A WireGuard key as wg(8) writes it (base64)."""
    return base64.b64encode(wg_key_bytes(key)).decode()


def _write_secret(path, text):
    """Create path with mode 0600 (never existing before) holding text."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text.strip() + "\n")


def _wg_genkey(path):
    """A new private key (wg genkey) into path, mode 0600.  Its output is never shown, not
    even in an error."""
    try:
        cp = subprocess.run(["wg", "genkey"], capture_output=True, text=True, timeout=10)
    except subprocess.TimeoutExpired:
        raise AssertionError("wg genkey timed out") from None
    if cp.returncode != 0:
        raise AssertionError(f"wg genkey failed ({cp.returncode}): {cp.stderr.strip()}")
    _write_secret(path, cp.stdout)


def _wg_pubkey(private_key_path):
    """The public key (base64) of the private key in a file (wg pubkey)."""
    with open(private_key_path) as f:
        try:
            cp = subprocess.run(["wg", "pubkey"], stdin=f, capture_output=True, text=True,
                                timeout=10)
        except subprocess.TimeoutExpired:
            raise AssertionError("wg pubkey timed out") from None
    if cp.returncode != 0:
        raise AssertionError(f"wg pubkey failed ({cp.returncode}): {cp.stderr.strip()}")
    return wg_key_b64(cp.stdout)


def _endpoint_text(endpoint):
    """"ip:port", "[ip6]:port" from such a string or an (address, port) pair."""
    if isinstance(endpoint, (tuple, list)):
        addr, port = endpoint
        addr = str(addr)
        return f"[{addr}]:{int(port)}" if ":" in addr else f"{addr}:{int(port)}"
    return str(endpoint)


class WireGuardDevice:
    """A wireguard-go device the lab runs (Lab.start_wireguard_go): a TUN interface ifname in
    the lab namespace ns, configured through its UAPI socket with wg(8).

    Attributes: ns, ifname, public_key (base64), private_key_path and public_key_path (files
    in the workdir, mode 0600; the private key is never printed or logged), socket_path (its
    UAPI socket, WG_RUN_DIR/IFNAME.sock), private_run (True: that directory is the lab's
    private tmpfs, not the host's), listen_port (its UDP port, read back from wg), address
    (ADDR/PREFIX or None), pid, log_path (its stdout and stderr, LOG_LEVEL=verbose),
    peer_keys ({public key: private key file} of the peers add_peer generated).

    wireguard-go binds its UDP port (IPv4 and IPv6) without SO_REUSEPORT: another socket
    cannot share that port, with or without SO_REUSEPORT (EADDRINUSE)."""

    def __init__(self, lab, ns, ifname, socket_path, private_key_path, log_path, private_run):
        self.lab, self.ns, self.ifname = lab, ns, ifname
        self.socket_path = socket_path
        self.private_key_path = private_key_path
        self.public_key_path = os.path.splitext(private_key_path)[0] + ".pub"
        self.log_path = log_path
        self.private_run = private_run
        self.public_key = None
        self.listen_port = None
        self.address = None
        self.proc = self.pid = None
        self.peer_keys = {}

    def __repr__(self):
        return (f"<WireGuardDevice {self.ifname} in {self.ns} :{self.listen_port} "
                f"pub {self.public_key} pid {self.pid}>")

    def alive(self):
        return self.pid is not None and any(t.pid == self.pid and t.alive()
                                            for t in self.lab._tracked)

    def log(self):
        return _tail(self.log_path, 10 ** 7)

    def wg(self, *args, timeout=10, check=True):
        """wg ARGS in the device's namespace (not for anything that prints a private key)."""
        return self.lab.run(self.ns, ["wg", *[str(a) for a in args]], timeout=timeout,
                            check=check)

    def add_peer(self, public_key=None, endpoint=None, allowed_ips=None,
                 persistent_keepalive=None):
        """Add (or update) a peer with `wg set IF peer KEY ...`.  public_key None: a new key
        pair is generated (its private key in a 0600 file, peer_keys[public] names it).
        endpoint: "ip:port", "[ip6]:port" or (address, port); allowed_ips: "A/N[,B/M]" or a
        list (a bare address is a /32 or /128).  Returns the peer's public key (base64)."""
        if public_key is None:
            n = len(self.peer_keys) + 1
            while os.path.exists(os.path.join(self.lab._wg_dir(), f"{self.ifname}-peer{n}.key")):
                n += 1
            priv = os.path.join(self.lab._wg_dir(), f"{self.ifname}-peer{n}.key")
            _wg_genkey(priv)
            public_key = _wg_pubkey(priv)
            self.peer_keys[public_key] = priv
        public_key = wg_key_b64(public_key)
        args = ["set", self.ifname, "peer", public_key]
        if endpoint is not None:
            args += ["endpoint", _endpoint_text(endpoint)]
        if allowed_ips is not None:
            if not isinstance(allowed_ips, str):
                allowed_ips = ",".join(str(a) for a in allowed_ips)
            args += ["allowed-ips", allowed_ips]
        if persistent_keepalive is not None:
            args += ["persistent-keepalive", str(persistent_keepalive)]
        self.wg(*args)
        return public_key

    def remove_peer(self, key):
        """Remove a peer (`wg set IF peer KEY remove`); a key it does not have is no error."""
        self.wg("set", self.ifname, "peer", wg_key_b64(key), "remove")

    def peers(self):
        """{public key (base64): {"endpoint": "ip:port" | "[ip6]:port" | None, "allowed_ips":
        [...], "latest_handshake": unix time or 0, "transfer_rx", "transfer_tx",
        "persistent_keepalive": seconds or 0}} from `wg show IF dump`, whose first line (the
        interface's own, with its private key) is skipped and never shown."""
        argv = ["wg", "show", self.ifname, "dump"]
        try:
            cp = self.lab.run(self.ns, argv, check=False)
        except LabCommandError as e:           # its output may hold the private key
            raise AssertionError(f"{' '.join(argv)} failed ({e.returncode})") from None
        if cp.returncode != 0:
            raise AssertionError(f"{' '.join(argv)} failed ({cp.returncode}): "
                                 f"{cp.stderr.strip()}")
        peers = {}
        for line in cp.stdout.splitlines()[1:]:
            f = line.split("\t")
            if len(f) < 8:
                raise AssertionError(f"{' '.join(argv)}: unexpected peer line: {line!r}")
            peers[f[0]] = {
                "endpoint": None if f[2] == "(none)" else f[2],
                "allowed_ips": [] if f[3] == "(none)" else f[3].split(","),
                "latest_handshake": int(f[4]),
                "transfer_rx": int(f[5]),
                "transfer_tx": int(f[6]),
                "persistent_keepalive": 0 if f[7] == "off" else int(f[7]),
            }
        return peers

    def endpoint_of(self, key):
        """The peer's endpoint as wg shows it ("ip:port"), None without one or without the
        peer."""
        return self.peers().get(wg_key_b64(key), {}).get("endpoint")

    def latest_handshake(self, key):
        """The peer's latest handshake (unix time; 0: none yet, None: no such peer)."""
        p = self.peers().get(wg_key_b64(key))
        return None if p is None else p["latest_handshake"]

    def uapi(self, request, timeout=5.0):
        """One raw UAPI exchange over the device's socket, for tests: request is one
        operation's text ("get=1", "set=1\npublic_key=HEX\nupdate_only=true\n..."; keys in
        hex, wg_key_hex), its closing blank line added when missing.  Returns the reply up to
        and including "errno=N" and the blank line, with any private_key= line removed."""
        text = request.rstrip("\n") + "\n\n"
        buf = b""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.connect(self.socket_path)
            s.sendall(text.encode())
            while not re.search(rb"(?:^|\n)errno=-?\d+\n\n\Z", buf):
                try:
                    chunk = s.recv(65536)
                except socket.timeout:
                    chunk = None
                if not chunk:
                    got = [line for line in buf.decode(errors="replace").split("\n")
                           if not line.startswith("private_key=")]
                    raise AssertionError(f"{self.ifname}: UAPI reply incomplete "
                                         f"({'timeout' if chunk is None else 'closed'}): "
                                         f"{chr(10).join(got)!r}")
                buf += chunk
        return "".join(line for line in buf.decode().splitlines(keepends=True)
                       if not line.startswith("private_key="))

    @staticmethod
    def uapi_errno(reply):
        """The errno= value of a UAPI reply."""
        m = re.search(r"(?:^|\n)errno=(-?\d+)\n", reply)
        if not m:
            raise ValueError(f"no errno in UAPI reply {reply!r}")
        return int(m.group(1))

    def to_json(self):
        return {"ns": self.ns, "ifname": self.ifname, "pid": self.pid,
                "socket": self.socket_path, "private_run": self.private_run,
                "listen_port": self.listen_port, "address": self.address,
                "public_key": self.public_key, "log": self.log_path}


class Lab:
    LAN_ADDR = "192.168.77.2"
    GW_LAN_ADDR = "192.168.77.1"
    GW_WAN_ADDR = "11.0.0.2"
    INET_ADDR = "11.0.0.1"
    LAN_NET = "192.168.77.0/24"
    WAN_NET = "11.0.0.0/24"
    NATPMP_PORT = 5351
    # topology "double"
    LAN_ADDR2 = "192.168.77.3"          # a second LAN client, on lan's veth too
    ROUTER_LAN_ADDR = "192.168.77.1"    # portmapd's Listen=
    ROUTER_VPN_ADDR = "10.2.0.2"        # the router's address on the VPN side
    VPN_GW_ADDR = "10.2.0.1"            # the VPN gateway: miniupnpd or the fake gateway
    VPN_NET = "10.2.0.0/24"
    # topology "double", segment=True
    PMHOST_ADDR = "192.168.78.2"        # portmapd's own host behind the router
    ROUTER_SEG_ADDR = "192.168.78.1"
    SEG_NET = "192.168.78.0/24"
    ROUTEROS_API_PORT = 8728
    ROUTEROS_API_SSL_PORT = 8729
    # STUN servers in inet, every topology (extra addresses on inet's veth): coturn's primary
    # and alternate addresses (RFC 5780) and a third for a second, plain server
    STUN_ADDR1 = "11.0.0.3"
    STUN_ADDR2 = "11.0.0.4"
    STUN_ADDR3 = "11.0.0.5"
    STUN_PORT = 3478
    # ipv6=True (single topology): lan fd77::2 - gw fd77::1 | fd11::2 - inet fd11::1 (+ ::3 ::4)
    LAN_ADDR6 = "fd77::2"
    GW_LAN_ADDR6 = "fd77::1"
    GW_WAN_ADDR6 = "fd11::2"
    INET_ADDR6 = "fd11::1"
    STUN_ADDR6_1 = "fd11::3"
    STUN_ADDR6_2 = "fd11::4"
    LAN_NET6 = "fd77::/64"
    WAN_NET6 = "fd11::/64"
    # WireGuard tunnel addresses (on the lab's wireguard-go interfaces only, when asked for)
    WG_NET = "192.168.79.0/24"
    WG_LAN_ADDR = "192.168.79.1"
    WG_INET_ADDR = "192.168.79.2"
    WG_PORT = 51820

    def __init__(self, gateway="miniupnpd", workdir=None, suffix=None, grant_lifetime=None,
                 state_path=None, persist=False, topology="single", segment=False, ipv6=False):
        """gateway: "miniupnpd" | "fake" | None.  workdir: a fresh temporary directory by
        default (removed by down(), kept on failure if PMLAB_KEEP=1).  grant_lifetime: the fake
        gateway's fixed grant (miniupnpd has no such knob).  state_path: a JSON file the lab
        keeps up to date (see save_state).  persist: do not tear down at exit (tests/lab/up).
        topology: "single" (lan - gw - inet) or "double" (lan - router - gw - inet; the
        gateway runs in gw on 10.2.0.1, the router-side link).  segment (double only): add
        pmhost, portmapd's own segment behind the router (see the module's docstring).
        ipv6 (single only): IPv6 too, on lan, gw and inet (see the module's docstring)."""
        if gateway not in GATEWAY_TOOLS:
            raise ValueError(f"gateway must be 'miniupnpd', 'fake' or None, not {gateway!r}")
        if topology not in TOPOLOGIES:
            raise ValueError(f"topology must be 'single' or 'double', not {topology!r}")
        if segment and topology != "double":
            raise ValueError("segment=True needs topology='double'")
        if ipv6 and topology != "single":
            raise ValueError("ipv6=True needs topology='single'")
        self.ipv6 = bool(ipv6)
        self.topology = topology
        self.segment = bool(segment)
        self.suffix = suffix or secrets.token_hex(3)
        if not re.fullmatch(r"[0-9a-f]{4,6}", self.suffix):
            raise ValueError("suffix must be 4 to 6 lowercase hex digits")
        s = self.suffix
        self.gateway = gateway
        self.grant_lifetime = grant_lifetime
        self.state_path = state_path
        self.persist = persist
        self.ns_lan, self.ns_gw, self.ns_inet = f"lan-{s}", f"gw-{s}", f"inet-{s}"
        self.ns_vpn = self.ns_gw            # the VPN gateway's namespace (double topology)
        # interface names (<= 15 chars): p<role><n>-SUF
        self.if_lan, self.if_gw_lan = f"pl0-{s}", f"pg0-{s}"
        self.if_gw_wan, self.if_inet = f"pw0-{s}", f"pi0-{s}"
        self.lab_networks = LAB_NETWORKS
        if topology == "single":
            self.ns_router = None
            self.if_router_lan = self.if_router_vpn = None
            self.namespaces = [self.ns_lan, self.ns_gw, self.ns_inet]
            # the gateway's inside address and network (miniupnpd's listening_ip and allow)
            self.upstream_gateway = self.GW_LAN_ADDR
            self.gw_inside_net = self.LAN_NET
            # (ns, ifname, address/prefix) pairs joined by one veth each
            self.links = [
                ((self.ns_lan, self.if_lan, f"{self.LAN_ADDR}/24"),
                 (self.ns_gw, self.if_gw_lan, f"{self.GW_LAN_ADDR}/24")),
                ((self.ns_gw, self.if_gw_wan, f"{self.GW_WAN_ADDR}/24"),
                 (self.ns_inet, self.if_inet, f"{self.INET_ADDR}/24")),
            ]
            self.extra_addresses = []
            self.default_routes = {self.ns_lan: self.GW_LAN_ADDR, self.ns_gw: self.INET_ADDR}
            self.routers = [self.ns_gw]                 # ip_forward=1
        else:
            self.ns_router = f"router-{s}"
            self.if_router_lan, self.if_router_vpn = f"pr0-{s}", f"pv0-{s}"
            self.namespaces = [self.ns_lan, self.ns_router, self.ns_gw, self.ns_inet]
            self.upstream_gateway = self.VPN_GW_ADDR
            self.gw_inside_net = self.VPN_NET
            self.lab_networks = LAB_NETWORKS + (VPN_NETWORK,)
            self.links = [
                ((self.ns_lan, self.if_lan, f"{self.LAN_ADDR}/24"),
                 (self.ns_router, self.if_router_lan, f"{self.ROUTER_LAN_ADDR}/24")),
                ((self.ns_router, self.if_router_vpn, f"{self.ROUTER_VPN_ADDR}/24"),
                 (self.ns_gw, self.if_gw_lan, f"{self.VPN_GW_ADDR}/24")),
                ((self.ns_gw, self.if_gw_wan, f"{self.GW_WAN_ADDR}/24"),
                 (self.ns_inet, self.if_inet, f"{self.INET_ADDR}/24")),
            ]
            self.extra_addresses = [(self.ns_lan, self.if_lan, f"{self.LAN_ADDR2}/24")]
            self.default_routes = {self.ns_lan: self.ROUTER_LAN_ADDR,
                                   self.ns_router: self.VPN_GW_ADDR,
                                   self.ns_gw: self.INET_ADDR}
            self.routers = [self.ns_router, self.ns_gw]
        self.ns_pmhost = self.if_router_seg = self.if_pmhost = None
        if self.segment:
            self.ns_pmhost = f"pmh-{s}"
            self.if_router_seg, self.if_pmhost = f"ps0-{s}", f"ph0-{s}"
            self.namespaces.append(self.ns_pmhost)
            self.lab_networks = self.lab_networks + (SEG_NETWORK,)
            self.links.append(((self.ns_router, self.if_router_seg, f"{self.ROUTER_SEG_ADDR}/24"),
                               (self.ns_pmhost, self.if_pmhost, f"{self.PMHOST_ADDR}/24")))
            self.default_routes[self.ns_pmhost] = self.ROUTER_SEG_ADDR
        # the STUN servers' addresses, on inet's only veth
        self.extra_addresses += [(self.ns_inet, self.if_inet, f"{a}/24")
                                 for a in (self.STUN_ADDR1, self.STUN_ADDR2, self.STUN_ADDR3)]
        # ipv6: (ns, ifname, address/prefix), added with nodad (usable at once); v6 default routes
        self.addresses6, self.default_routes6 = [], {}
        if self.ipv6:
            self.lab_networks = self.lab_networks + LAB_NETWORKS6
            self.addresses6 = [(self.ns_lan, self.if_lan, f"{self.LAN_ADDR6}/64"),
                               (self.ns_gw, self.if_gw_lan, f"{self.GW_LAN_ADDR6}/64"),
                               (self.ns_gw, self.if_gw_wan, f"{self.GW_WAN_ADDR6}/64"),
                               # inet's own address last: among equal candidates IPv6
                               # source selection prefers the newest, and inet's unbound
                               # sockets must answer from fd11::1, not from a STUN address
                               (self.ns_inet, self.if_inet, f"{self.STUN_ADDR6_1}/64"),
                               (self.ns_inet, self.if_inet, f"{self.STUN_ADDR6_2}/64"),
                               (self.ns_inet, self.if_inet, f"{self.INET_ADDR6}/64")]
            self.default_routes6 = {self.ns_lan: self.GW_LAN_ADDR6, self.ns_gw: self.INET_ADDR6}
        # NAT namespaces with miniupnpd's skeleton: ns -> (inside interface, outside interface)
        self.nats = {self.ns_gw: (self.if_gw_lan, self.if_gw_wan)}
        self.workdir = workdir
        self._own_workdir = workdir is None
        self.failed = False
        self.fake = None
        self.http_apis = []             # running HttpApiFake handles
        self._http_api_count = 0
        self.pias = []                  # running PiaFake handles
        self._pia_count = 0
        self.routeros = []              # running RouterOsFake handles
        self._routeros_count = 0
        self.coturns = []               # running CoturnServer handles
        self._coturn_count = 0
        self.wireguards = []            # running WireGuardDevice handles
        self._wireguard_count = 0
        self.stun_nat_modes = {}        # NAT namespace -> set_stun_nat mode (default masquerade)
        self.miniupnpd_pid = None
        self.miniupnpd_started = None
        self.extra = {}                 # free-form, saved with the state (for tests/lab/up)
        self._tracked = []
        self._created_ns = []
        self._created_etc = []
        self._fake_count = 0
        self._up = False
        self._down_done = False

    # --- context manager ---------------------------------------------------------------------
    def __enter__(self):
        if not self._up:
            self.up()
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            self.failed = True
        self.down()
        return False

    def __repr__(self):
        return f"<Lab {self.suffix} gateway={self.gateway} topology={self.topology}>"

    # --- commands ----------------------------------------------------------------------------
    def cmd(self, ns, argv):
        return ["ip", "netns", "exec", ns, *argv]

    def run(self, ns, argv, timeout=10, check=True, input=None):
        """Run argv in namespace ns (None: the caller's) under timeout(1); text output."""
        argv = [str(a) for a in argv]
        full = ["timeout", "--kill-after=2", str(timeout)]
        full += self.cmd(ns, argv) if ns else argv
        try:
            cp = subprocess.run(full, capture_output=True, text=True, input=input,
                                timeout=timeout + 5)
        except subprocess.TimeoutExpired as e:
            raise LabCommandError(124, full, e.stdout, e.stderr) from None
        if check and cp.returncode != 0:
            raise LabCommandError(cp.returncode, full, cp.stdout, cp.stderr)
        return cp

    def spawn(self, ns, argv, name=None, **popen_kwargs):
        """Start argv in namespace ns; tracked, killed by down()."""
        popen_kwargs.setdefault("start_new_session", True)
        popen_kwargs.setdefault("stdin", subprocess.DEVNULL)
        p = subprocess.Popen(self.cmd(ns, [str(a) for a in argv]), **popen_kwargs)
        self.track(name or os.path.basename(str(argv[0])), p.pid, ns, popen=p)
        return p

    def track(self, name, pid, ns=None, popen=None, starttime=None):
        """Track a process started some other way (a daemon's PID from its pidfile)."""
        t = Tracked(name, pid, ns, popen, starttime)
        self._tracked.append(t)
        self._autosave()
        return t

    def untrack(self, pid):
        self._tracked = [t for t in self._tracked if t.pid != pid]
        self._autosave()

    def stop_process(self, pid_or_popen, grace=TERM_GRACE):
        """SIGTERM a tracked process, wait until it is gone (SIGKILL after grace), untrack."""
        pid = getattr(pid_or_popen, "pid", pid_or_popen)
        procs = [t for t in self._tracked if t.pid == pid]
        survivors = stop_processes(procs, grace)
        self.untrack(pid)
        if survivors:
            raise AssertionError(f"could not stop {survivors}")

    def tracked(self):
        return [t for t in self._tracked if t.alive()]

    def _ip_json(self, ns, args):
        cp = self.run(None, ["ip", "-j", *(["-n", ns] if ns else []), *args])
        return json.loads(cp.stdout) if cp.stdout.strip() else []

    # --- bring-up ----------------------------------------------------------------------------
    def check_tools(self):
        """Every tool the lab needs must be there (a missing tool is a failure, not a skip)."""
        missing = [t for t in REQUIRED_TOOLS + GATEWAY_TOOLS[self.gateway] if not shutil.which(t)]
        if not os.access(PYTHON, os.X_OK):
            missing.append(PYTHON)
        if missing:
            raise AssertionError(f"pmlab: missing tools: {', '.join(missing)}")
        if os.geteuid() != 0:
            raise AssertionError("pmlab: the lab needs root (CAP_NET_ADMIN, CAP_SYS_ADMIN)")

    def up(self):
        """Create namespaces, links, addresses, routes and the NAT firewall, assert the lab is
        sealed, start the gateway.  On any failure everything created is torn down again."""
        if _terminating:
            raise LabTerminated("terminating")
        if self._up or self._down_done:
            raise RuntimeError("a Lab can be brought up once")
        self._up = True
        try:
            self.check_tools()
            if self.workdir is None:
                self.workdir = tempfile.mkdtemp(prefix=f"pmlab-{self.suffix}-")
            else:
                os.makedirs(self.workdir, exist_ok=True)
            if not self.persist:
                _live_labs.append(self)
                install_signal_handlers()
            self._autosave()
            self._create_namespaces()
            self._create_links()
            self._configure()
            self.assert_sealed()
            if self.gateway == "miniupnpd":
                self.start_miniupnpd()
            elif self.gateway == "fake":
                self.start_fake_gateway()
            self._autosave()
        except BaseException:
            self.failed = True
            self.down()
            raise
        return self

    def _create_namespaces(self):
        for ns in self.namespaces:
            if os.path.exists(os.path.join(RUN_NETNS, ns)) or \
                    os.path.exists(os.path.join(ETC_NETNS, ns)):
                raise AssertionError(f"namespace {ns} (or {ETC_NETNS}/{ns}) already exists")
        os.makedirs(ETC_NETNS, exist_ok=True)
        for ns in self.namespaces:
            # `ip netns exec` bind-mounts this over /etc/resolv.conf: lookups fail at once
            d = os.path.join(ETC_NETNS, ns)
            os.makedirs(d)
            self._created_etc.append(ns)
            owner = "persist" if self.persist else owner_tag()
            with open(os.path.join(d, "resolv.conf"), "w") as f:
                f.write(f"{_RESOLV_HEAD}{owner}: no name lookups leave the lab\n"
                        "nameserver 127.0.0.1\n")
            self.run(None, ["ip", "netns", "add", ns])
            self._created_ns.append(ns)
            self._autosave()

    def _create_links(self):
        for (ns_a, if_a, _), (ns_b, if_b, _) in self.links:
            # both ends go straight into lab namespaces: nothing appears in the caller's
            self.run(None, ["ip", "link", "add", "name", if_a, "netns", ns_a, "type", "veth",
                            "peer", "name", if_b, "netns", ns_b])

    def _configure(self):
        for ns in self.namespaces:
            self.run(None, ["ip", "-n", ns, "link", "set", "lo", "up"])
        for end in (e for link in self.links for e in link):
            ns, ifname, addr = end
            self.run(None, ["ip", "-n", ns, "addr", "add", addr, "dev", ifname])
            self.run(None, ["ip", "-n", ns, "link", "set", ifname, "up"])
        for ns, ifname, addr in self.extra_addresses:
            self.run(None, ["ip", "-n", ns, "addr", "add", addr, "dev", ifname])
        for ns, via in self.default_routes.items():
            self.run(None, ["ip", "-n", ns, "route", "add", "default", "via", via])
        for ns in self.routers:
            self.run(ns, ["sysctl", "-q", "-w", "net.ipv4.ip_forward=1"])
        if self.ipv6:
            for ns, ifname in sorted({(ns, ifname) for ns, ifname, _ in self.addresses6}):
                self.run(ns, ["sysctl", "-q", "-w", f"net.ipv6.conf.{ifname}.disable_ipv6=0"])
            for ns, ifname, addr in self.addresses6:
                self.run(None, ["ip", "-n", ns, "addr", "add", addr, "dev", ifname, "nodad"])
            for ns, via in self.default_routes6.items():
                self.run(None, ["ip", "-n", ns, "-6", "route", "add", "default", "via", via])
            for ns in self.routers:
                self.run(ns, ["sysctl", "-q", "-w", "net.ipv6.conf.all.forwarding=1"])
        for ns, (inside, outside) in self.nats.items():
            path = os.path.join(self.workdir, f"{ns}.nft")
            with open(path, "w") as f:
                f.write(self.nat_ruleset(inside, outside))
            self.run(ns, ["nft", "-f", path])
        if self.ns_router:
            self.load_router_firewall(dnat_accept=True)
        if self.segment:
            self.run(self.ns_router, ["nft", "-f", "-"], input=self.labfwd_ruleset())

    @staticmethod
    def nat_ruleset(inside, outside):
        """miniupnpd 2.3.1's default skeleton (natpmp.md 5.1) + stateful LAN->WAN NAT."""
        return f"""# portmap test lab: miniupnpd's nftables skeleton plus NAT
table inet filter {{
\tchain forward {{
\t\ttype filter hook forward priority 0; policy drop;
\t\tct state established,related accept
\t\tiifname "{inside}" oifname "{outside}" accept
\t\tjump miniupnpd
\t}}
\tchain miniupnpd {{
\t}}
\tchain prerouting {{
\t\ttype nat hook prerouting priority -100; policy accept;
\t\tjump prerouting_miniupnpd
\t}}
\tchain postrouting {{
\t\ttype nat hook postrouting priority 100; policy accept;
\t\tjump postrouting_miniupnpd
\t\toifname "{outside}" masquerade
\t}}
\tchain prerouting_miniupnpd {{
\t}}
\tchain postrouting_miniupnpd {{
\t}}
}}
"""

    # --- the router's firewall (double topology) ----------------------------------------------
    def router_ruleset(self, dnat_accept=True):
        """The router's own firewall: a stateful NAT whose forward chain drops by default (as
        OpenWrt's and RouterOS's do) and accepts what was DNATed (`ct status dnat accept`:
        portmapd's rules live in a table of their own and only DNAT).  dnat_accept=False:
        without that line (portmapd must warn at start)."""
        inside, outside = self.if_router_lan, self.if_router_vpn
        dnat = "\t\tct status dnat accept\n" if dnat_accept else ""
        seg = ""
        if self.segment:
            # pmhost goes out as the LAN does; NAT-PMP from the LAN reaches it (labfwd's DNAT)
            # even without `ct status dnat accept`
            seg = (f'\t\tiifname "{self.if_router_seg}" oifname "{outside}" accept\n'
                   f'\t\tiifname "{inside}" oifname "{self.if_router_seg}" '
                   f"ip daddr {self.PMHOST_ADDR} udp dport {self.NATPMP_PORT} accept\n")
        return f"""# portmap test lab: the double-NAT router
table inet filter {{
\tchain forward {{
\t\ttype filter hook forward priority 0; policy drop;
\t\tct state established,related accept
{dnat}\t\tiifname "{inside}" oifname "{outside}" accept
{seg}\t}}
\tchain postrouting {{
\t\ttype nat hook postrouting priority 100; policy accept;
\t\toifname "{outside}" masquerade
\t}}
}}
"""

    LABFWD_TABLE = "labfwd"

    def labfwd_ruleset(self):
        """segment=True: NAT-PMP from the LAN to the router's LAN address goes to pmhost
        (replies are un-NATed by conntrack)."""
        rule = (f'iifname "{self.if_router_lan}" ip daddr {self.ROUTER_LAN_ADDR} '
                f"udp dport {self.NATPMP_PORT} dnat to {self.PMHOST_ADDR}")
        return f"""# portmap test lab: NAT-PMP to portmapd's segment
table ip {self.LABFWD_TABLE} {{
\tchain prerouting {{
\t\ttype nat hook prerouting priority dstnat; policy accept;
\t\t{rule}
\t}}
}}
"""

    def load_router_firewall(self, dnat_accept=True):
        """(Re)load the router's `inet filter` table atomically (one nft transaction); other
        tables (portmapd's `ip portmap`) are left alone."""
        if not self.ns_router:
            raise RuntimeError("the single topology has no router")
        path = os.path.join(self.workdir, f"{self.ns_router}.nft")
        with open(path, "w") as f:
            # declaring the table first makes the delete valid on a first load too
            f.write("table inet filter\ndelete table inet filter\n")
            f.write(self.router_ruleset(dnat_accept))
        self.run(self.ns_router, ["nft", "-f", path])

    def router_nft_rules(self, table="portmap", chain="prerouting", family="ip", ns=None):
        """The rules of a chain in the router (default portmapd's `ip portmap prerouting`; ns=
        another namespace) as dicts {handle, comment, expr, text}; [] when the table or chain
        does not exist."""
        cp = self.run(ns or self.ns_router, ["nft", "-j", "list", "chain", family, table, chain],
                      check=False)
        if cp.returncode != 0:
            return []
        out = []
        for item in json.loads(cp.stdout).get("nftables", []):
            rule = item.get("rule")
            if rule:
                out.append({"handle": rule.get("handle"), "comment": rule.get("comment"),
                            "expr": rule.get("expr", []), "text": json.dumps(rule)})
        return out

    # --- sealing -----------------------------------------------------------------------------
    def assert_sealed(self):
        """design.md 8 "Sealed": each lab namespace holds only lo and lab veths whose peers are
        in lab namespaces (and the TUN interfaces of the lab's own wireguard-go devices, by
        name); inet has one veth and no default route; the caller's namespace has no address
        in the lab's ranges (and is none of the lab's namespaces)."""
        problems = []
        lab = set(self.namespaces)
        wireguard_ifs = {(d.ns, d.ifname) for d in self.wireguards}
        caller = os.stat("/proc/self/ns/net")
        links, nsids = {}, {}
        for ns in self.namespaces:
            try:
                st = os.stat(os.path.join(RUN_NETNS, ns))
            except FileNotFoundError:
                problems.append(f"{ns}: namespace does not exist")
                continue
            if (st.st_dev, st.st_ino) == (caller.st_dev, caller.st_ino):
                problems.append(f"{ns}: is the caller's own network namespace")
            links[ns] = self._ip_json(ns, ["-d", "link", "show"])
            nsids[ns] = {e["nsid"]: e.get("name") for e in self._ip_json(ns, ["netns", "list-id"])}
        veth_count = {}
        for ns, ns_links in links.items():
            addrs = {a["ifname"]: a.get("addr_info", []) for a in self._ip_json(ns, ["addr", "show"])}
            veth_count[ns] = 0
            for link in ns_links:
                name = link["ifname"]
                kind = (link.get("linkinfo") or {}).get("info_kind")
                if name == "lo" and link.get("link_type") == "loopback":
                    continue
                if kind != "veth":
                    if kind == "tun" and (ns, name) in wireguard_ifs:
                        continue
                    if name in FALLBACK_DEVICES and "UP" not in link.get("flags", []) \
                            and not addrs.get(name):
                        continue
                    problems.append(f"{ns}: unexpected interface {name} "
                                    f"(kind {kind or link.get('link_type')})")
                    continue
                veth_count[ns] += 1
                if not name.endswith("-" + self.suffix):
                    problems.append(f"{ns}: veth {name} is not a lab link (no suffix {self.suffix})")
                nsid = link.get("link_netnsid")
                if nsid is None:
                    problems.append(f"{ns}: veth {name} has its peer in the same namespace")
                    continue
                peer_ns = nsids[ns].get(nsid)
                if peer_ns not in lab:
                    where = f"namespace {peer_ns!r}" if peer_ns else \
                        "an unnamed namespace (e.g. the caller's)"
                    problems.append(f"{ns}: veth {name} has its peer in {where}, "
                                    "outside the lab")
                    continue
                peer = [p for p in links.get(peer_ns, []) if p["ifindex"] == link.get("link_index")]
                if not peer or (peer[0].get("linkinfo") or {}).get("info_kind") != "veth" \
                        or not peer[0]["ifname"].endswith("-" + self.suffix):
                    problems.append(f"{ns}: veth {name}'s peer (ifindex {link.get('link_index')} "
                                    f"in {peer_ns}) is not a lab veth")
        if self.ns_inet in links:
            if veth_count.get(self.ns_inet) != 1:
                problems.append(f"{self.ns_inet}: has {veth_count.get(self.ns_inet)} veths, "
                                "expected exactly 1")
            for fam in ("-4", "-6"):
                routes = self._ip_json(self.ns_inet, [fam, "route", "show", "default"])
                if routes:
                    problems.append(f"{self.ns_inet}: has a default route ({fam}): {routes}")
        for a in self._ip_json(None, ["addr", "show"]):
            for info in a.get("addr_info", []):
                if info.get("family") not in ("inet", "inet6"):
                    continue
                ip = ipaddress.ip_address(info["local"])
                if any(ip.version == net.version and ip in net for net in self.lab_networks):
                    problems.append(f"caller's namespace: {a['ifname']} has lab address {ip}")
        if problems:
            raise AssertionError("lab is not sealed:\n  " + "\n  ".join(problems))

    # --- miniupnpd ---------------------------------------------------------------------------
    @property
    def miniupnpd_conf(self):
        return os.path.join(self.workdir, "miniupnpd.conf")

    @property
    def miniupnpd_pidfile(self):
        return os.path.join(self.workdir, "miniupnpd.pid")

    @property
    def miniupnpd_leases(self):
        return os.path.join(self.workdir, "miniupnpd.leases")

    def _write_miniupnpd_conf(self):
        with open(self.miniupnpd_conf, "w") as f:
            f.write(f"""# portmap test lab (natpmp.md 5.1)
ext_ifname={self.if_gw_wan}
listening_ip={self.if_gw_lan}
enable_natpmp=yes
enable_upnp=no
secure_mode=yes
uuid={uuid.uuid4()}
lease_file={self.miniupnpd_leases}
min_lifetime=120
max_lifetime=86400
allow 1024-65535 {self.gw_inside_net} 1024-65535
deny 0-65535 0.0.0.0/0 0-65535
""")

    def _udp_listener_pid(self, ns, addr, port):
        """PIDs owning a UDP socket bound to addr:port in ns (ss -ulnp)."""
        out = self.run(ns, ["ss", "-H", "-u", "-l", "-n", "-p"]).stdout
        pids = set()
        for line in out.splitlines():
            if f" {addr}:{port} " in f" {line} ":
                pids.update(int(p) for p in re.findall(r"pid=(\d+)", line))
        return pids

    def start_miniupnpd(self):
        """Start miniupnpd in gw without -d (it daemonizes); PID from the -P pidfile; ready
        when it owns upstream_gateway:5351 (192.168.77.1, or 10.2.0.1 in the double
        topology).  Returns the start time (time.monotonic())."""
        if self.miniupnpd_pid and pid_alive(self.miniupnpd_pid):
            raise RuntimeError("miniupnpd already runs")
        if self.fake and self._fake_alive():
            raise RuntimeError("the fake gateway holds 5351 in gw: stop_fake_gateway() first")
        self._write_miniupnpd_conf()
        try:
            os.unlink(self.miniupnpd_pidfile)
        except FileNotFoundError:
            pass
        started = time.monotonic()
        cp = self.run(self.ns_gw, ["miniupnpd", "-f", self.miniupnpd_conf, "-4",
                                   "-P", self.miniupnpd_pidfile], check=False)
        if cp.returncode != 0:
            raise AssertionError(f"miniupnpd failed to start (exit {cp.returncode}): "
                                 f"{cp.stderr.strip()}")

        def read_pid():
            try:
                with open(self.miniupnpd_pidfile) as f:
                    text = f.read().strip()
                return int(text) if text else None
            except (FileNotFoundError, ValueError):
                return None

        pid = wait_for(read_pid, 10, message="miniupnpd wrote no pidfile")
        t = self.track("miniupnpd", pid, self.ns_gw)
        self.miniupnpd_pid = pid
        self.miniupnpd_started = started
        wait_for(lambda: not t.alive() or pid in self._udp_listener_pid(
                     self.ns_gw, self.upstream_gateway, self.NATPMP_PORT), 10,
                 message=f"miniupnpd (pid {pid}) does not listen on {self.upstream_gateway}:5351")
        if not t.alive():
            raise AssertionError(f"miniupnpd (pid {pid}) exited at start; config "
                                 f"{self.miniupnpd_conf}: {cp.stderr.strip()}")
        self._autosave()
        return started

    def stop_miniupnpd(self):
        """SIGTERM miniupnpd and wait until it is gone."""
        if self.miniupnpd_pid is None:
            return
        pid = self.miniupnpd_pid
        self.miniupnpd_pid = None
        self.stop_process(pid)

    def flush_miniupnpd_chains(self, ns=None):
        for chain in ("prerouting_miniupnpd", "postrouting_miniupnpd", "miniupnpd"):
            self.run(ns or self.ns_gw, ["nft", "flush", "chain", "inet", "filter", chain])

    def reboot_miniupnpd(self):
        """A gateway reboot: stop, flush its chains, delete its leases, start again (epoch 0).
        Returns the new start time (time.monotonic())."""
        self.stop_miniupnpd()
        self.flush_miniupnpd_chains()
        # checked here, before the restart: once miniupnpd is up again its announcement
        # lets clients re-create their mappings at once
        left = self.miniupnpd_rules()
        if " dnat " in left or " snat " in left:
            raise AssertionError(f"miniupnpd's chains still hold rules after the flush:\n{left}")
        try:
            os.unlink(self.miniupnpd_leases)
        except FileNotFoundError:
            pass
        return self.start_miniupnpd()

    def miniupnpd_rules(self, ns=None):
        """`nft list chain` of the three miniupnpd chains (for assertions)."""
        return "".join(self.run(ns or self.ns_gw, ["nft", "list", "chain", "inet", "filter", c]).stdout
                       for c in ("prerouting_miniupnpd", "miniupnpd", "postrouting_miniupnpd"))

    # --- fake gateway ------------------------------------------------------------------------
    def _fake_alive(self):
        return any(t.pid == self.fake.pid and t.alive() for t in self._tracked)

    def start_fake_gateway(self, ns=None, listen=None, **options):
        """Start fake-natpmp-gateway (default: in gw on upstream_gateway:5351, public address
        11.0.0.2, nft=True so mappings carry traffic, grant_lifetime from the Lab).  Stops
        miniupnpd first if it runs there.  Returns (and sets self.fake to) its control."""
        ns = ns or self.ns_gw
        listen = listen or f"{self.upstream_gateway}:{self.NATPMP_PORT}"
        if ns == self.ns_gw and self.miniupnpd_pid:
            self.stop_miniupnpd()
        options.setdefault("public_address", self.GW_WAN_ADDR)
        options.setdefault("nft", True)
        if self.grant_lifetime is not None:
            options.setdefault("grant_lifetime", self.grant_lifetime)
        self._fake_count += 1
        base = os.path.join(self.workdir, f"fakegw{self._fake_count}")
        control, logpath = base + ".sock", base + ".log"
        logf = open(logpath, "w")
        try:
            p = self.spawn(ns, [PYTHON, FAKEGW, "--listen", listen, "--control", control,
                                "--options-json", json.dumps(options), "--verbose"],
                           name="fake-natpmp-gateway", stdout=logf, stderr=subprocess.STDOUT)
        finally:
            logf.close()

        def ready():
            if p.poll() is not None:
                raise AssertionError(f"fake gateway exited ({p.returncode}): {_tail(logpath)}")
            with open(logpath) as f:
                return "READY " in f.read()

        wait_for(ready, 10, message=f"fake gateway not ready: {_tail(logpath)}")
        ctl = FakeGatewayControl(control, p.pid)
        wait_for(ctl.ping, 5, message="fake gateway control socket does not answer")
        ctl.log_path = logpath
        self.fake = ctl
        self._autosave()
        return ctl

    def stop_fake_gateway(self):
        """SIGTERM the fake gateway (it removes its nft rules) and wait until it is gone."""
        if self.fake is None:
            return
        pid, self.fake = self.fake.pid, None
        self.stop_process(pid)

    # --- a gateway that does not answer (nftables in gw) ---------------------------------------
    # The tests' own table, hooked at input before anything else (miniupnpd only writes
    # forward/nat chains of "inet filter"): a dropped request never reaches the gateway's
    # socket, so it is neither answered nor refused (no ICMP).  It goes with the namespace.
    PMTEST_TABLE = "pmtest"

    def drop_natpmp(self, internal_port=None, dest=None, ns=None):
        """Drop NAT-PMP requests (UDP to 5351) arriving in ns (default gw): all of them, or only
        map requests for one internal port (bytes 4-5 of a map request, i.e. bits 96..111 from
        the start of the UDP header: `@th,96,16 PORT`; a 2-byte public-address request is too
        short to match), and/or only those sent to address dest.  Returns the rule's handle
        (for undrop_natpmp and natpmp_dropped)."""
        rule = ["udp", "dport", str(self.NATPMP_PORT)]
        what = "all NAT-PMP"
        if dest is not None:
            rule = ["ip", "daddr", str(ipaddress.IPv4Address(dest))] + rule
            what += f" to {dest}"
        if internal_port is not None:
            rule += ["@th,96,16", str(int(internal_port))]
            what += f" for internal port {int(internal_port)}"
        return self._pmtest_drop(ns or self.ns_gw, rule, what)

    def _pmtest_drop(self, ns, rule, what):
        """Append `RULE counter drop` to the input chain of `table inet pmtest` in ns (created
        on first use); returns its handle."""
        table = self.PMTEST_TABLE
        self.run(ns, ["nft", "-f", "-"], input=(
            f"table inet {table} {{\n\tchain input {{\n"
            f"\t\ttype filter hook input priority -300; policy accept;\n\t}}\n}}\n"))
        rule = list(rule) + ["counter", "drop", "comment", f'"pmtest: drop {what}"']
        out = self.run(ns, ["nft", "--echo", "--handle", "add", "rule", "inet", table, "input",
                            *rule]).stdout
        m = re.search(r"# handle (\d+)", out)
        if not m:
            raise AssertionError(f"nft printed no handle for the drop rule: {out!r}")
        return int(m.group(1))

    def _pmtest_undrop(self, handle, ns):
        self.run(ns, ["nft", "delete", "rule", "inet", self.PMTEST_TABLE, "input",
                      "handle", str(handle)])

    def _pmtest_dropped(self, handle, ns):
        cp = self.run(ns, ["nft", "-j", "list", "chain", "inet", self.PMTEST_TABLE, "input"])
        for item in json.loads(cp.stdout).get("nftables", []):
            rule = item.get("rule")
            if rule and rule.get("handle") == handle:
                for expr in rule.get("expr", []):
                    if "counter" in expr:
                        return expr["counter"]["packets"]
        raise AssertionError(f"no drop rule with handle {handle} in {ns}")

    def silence_natpmp(self, ns=None, dest=None):
        """The gateway answers no NAT-PMP request at all (see drop_natpmp)."""
        return self.drop_natpmp(ns=ns, dest=dest)

    def undrop_natpmp(self, handle, ns=None):
        self._pmtest_undrop(handle, ns or self.ns_gw)

    def natpmp_dropped(self, handle, ns=None):
        """Packets the drop rule `handle` has dropped so far."""
        return self._pmtest_dropped(handle, ns or self.ns_gw)

    def natpmp_answers(self, internal_port, gateway=None, timeout=2):
        """Does the gateway answer a map request for internal_port?  natpmpc from lan asks to
        delete it (lifetime 0: changes nothing there), under timeout(1): True only if a map
        reply came back (natpmpc otherwise keeps retrying for ~2 minutes and is killed)."""
        res = self.natpmpc("-a", str(internal_port), str(internal_port), "tcp", "0",
                           gateway=gateway, timeout=timeout, check=False)
        return res["returncode"] == 0 and res["mapping"] is not None

    def add_address(self, ns, ifname, addr):
        """One more address (ADDR/PREFIX) on a lab interface."""
        self.run(None, ["ip", "-n", ns, "addr", "add", addr, "dev", ifname])

    def set_default_route(self, ns, via):
        """Point (or move) ns's IPv4 default route at via."""
        self.run(None, ["ip", "-n", ns, "route", "replace", "default", "via", via])
        self.default_routes[ns] = via

    # --- STUN: coturn -------------------------------------------------------------------------
    def start_coturn(self, addresses=None, port=3478, ns=None, extra_args=(), timeout=10):
        """Start coturn's turnserver in ns (default inet) as a STUN-only server (no TURN, no
        CLI, no TLS/DTLS, no config file; its pidfile, SQLite user database and log in the
        workdir, so nothing under /var is touched; root, as the lab runs) listening on
        addresses (default (STUN_ADDR1, STUN_ADDR2)) and port, and with two addresses of a
        family (RFC 5780) on port + 1 too.  Ready when a STUN Binding request sent from inside
        ns to every address:port (and :port+1) is answered.  Returns a CoturnServer;
        stop_coturn stops it, down() kills it by PID in any case.

        With one address coturn answers no OTHER-ADDRESS and a CHANGE-REQUEST with error 420
        (and nothing listens on port + 1).  With two (RFC 5780) its OTHER-ADDRESS, and the
        address a change-IP request is answered from, are the same on every address: the
        second --listening-ip of the request's family, with the other port (coturn 4.6.1's
        netengine.c get_alt_addr() takes the listener after the first one of the family, not
        after the one the request came in on; unchanged upstream as of 4.17).  So with
        (STUN_ADDR1, STUN_ADDR2), as seen with no NAT in between:

            request to          OTHER-ADDRESS       change-IP+port answered from
            STUN_ADDR1:3478     STUN_ADDR2:3479     STUN_ADDR2:3479
            STUN_ADDR1:3479     STUN_ADDR2:3478     STUN_ADDR2:3478
            STUN_ADDR2:3478     STUN_ADDR2:3479     STUN_ADDR2:3479 (its own IP)
            STUN_ADDR2:3479     STUN_ADDR2:3478     STUN_ADDR2:3478 (its own IP)

        i.e. on its second address it names its own IP (the other port), and change-IP alone
        is answered from the very address asked.  A client must treat an OTHER-ADDRESS with
        the server's own IP as unusable (RFC 5780 wants both IP and port to differ).  The
        same holds for (STUN_ADDR6_1, STUN_ADDR6_2).  RESPONSE-ORIGIN is always there."""
        ns = ns or self.ns_inet
        if addresses is None:
            addresses = (self.STUN_ADDR1, self.STUN_ADDR2)
        elif isinstance(addresses, str):
            addresses = (addresses,)
        self._coturn_count += 1
        srv = CoturnServer(self, ns, addresses, port,
                           os.path.join(self.workdir, f"coturn{self._coturn_count}"))
        argv = ["turnserver", "-n", "--stun-only", "--no-cli", "--no-tls", "--no-dtls"]
        for a in srv.addresses:
            argv += ["--listening-ip", a]
        argv += ["--listening-port", str(srv.port), "--alt-listening-port", str(srv.alt_port),
                 "--log-file", "stdout", "--simple-log", "--pidfile", srv.pidfile,
                 "--userdb", srv.db_path, *[str(a) for a in extra_args]]
        srv.argv = argv
        out = open(srv.log_path, "a")
        try:
            p = self.spawn(ns, argv, name="turnserver", stdout=out, stderr=subprocess.STDOUT)
        finally:
            out.close()
        srv.proc, srv.pid = p, p.pid
        self.coturns.append(srv)
        self._autosave()
        by_family = {}
        for a, prt in srv.endpoints():
            by_family.setdefault(ipaddress.ip_address(a).version, []).append((a, prt))

        def ready():
            if p.poll() is not None:
                raise AssertionError(f"turnserver exited ({p.returncode}): {_tail(srv.log_path)}")
            return all(all(self.stun_bindings(ns, eps, timeout=0.3))
                       for eps in by_family.values())

        wait_for(ready, timeout, interval=0.1,
                 message=f"coturn does not answer on {srv.endpoints()}: {_tail(srv.log_path)}")
        return srv

    def start_fake_control_plane(self, token, node, port=8480, ns=None, timeout=10):
        """Start tests/lab/fake-control-plane in ns (default inet) on INET_ADDR:port for
        node with the bearer token, its admin socket in the workdir.  Returns (process,
        fakecontrolplane.Admin) once it listens; down() kills it by PID."""
        import fakecontrolplane
        ns = ns or self.ns_inet
        self._fake_cp_count = getattr(self, "_fake_cp_count", 0) + 1
        base = os.path.join(self.workdir, f"fake-cp{self._fake_cp_count}")
        admin_socket, out_path = base + "-admin.sock", base + ".out"
        with open(out_path, "w") as out:
            p = self.spawn(ns, [sys.executable, os.path.join(HERE, "fake-control-plane"),
                                "--listen", f"{self.INET_ADDR}:{port}", "--token", token,
                                "--node", node, "--admin-socket", admin_socket],
                           name="fake-control-plane", stdout=out, stderr=subprocess.STDOUT)

        def listening():
            if p.poll() is not None:
                raise AssertionError(f"fake-control-plane exited ({p.returncode}): "
                                     f"{_tail(out_path)}")
            with open(out_path) as f:
                return "listening" in f.read()

        wait_for(listening, timeout, interval=0.05,
                 message=f"the fake control plane did not start: {_tail(out_path)}")
        return p, fakecontrolplane.Admin(socket_path=admin_socket)

    def stop_coturn(self, srv=None):
        """SIGTERM it (default: the last one started) and wait until it is gone."""
        srv = srv or (self.coturns[-1] if self.coturns else None)
        if srv is None or srv.pid is None:
            return
        pid, srv.pid = srv.pid, None
        if srv in self.coturns:
            self.coturns.remove(srv)
        self.stop_process(pid)
        srv.proc = None
        self._autosave()

    # --- STUN: NAT behaviours of gw -----------------------------------------------------------
    # design.md 8: "STUN variants replace only that rule" (postrouting's `oifname <outside>
    # masquerade`); the EIF emulation (stun.md 4.4) adds a DNAT rule and a forward accept.
    STUN_NAT_MODES = ("masquerade", "random", "none", "eif")
    STUN_NAT_COMMENT = "pmlab stun nat"

    def _stun_nat_rule(self, mode, outside):
        tag = f'comment "{self.STUN_NAT_COMMENT}: {mode}"'
        return {"masquerade": f'oifname "{outside}" masquerade',     # the default, verbatim
                "eif": f'oifname "{outside}" masquerade',
                "random": f'oifname "{outside}" masquerade random,fully-random {tag}',
                "none": f'oifname "{outside}" accept {tag}'}[mode]

    def _nft_chain_rules(self, ns, chain, table="filter", family="inet"):
        cp = self.run(ns, ["nft", "-j", "list", "chain", family, table, chain])
        return [item["rule"] for item in json.loads(cp.stdout).get("nftables", [])
                if "rule" in item]

    def set_stun_nat(self, mode, ns=None):
        """Give gw's NAT (ns: another namespace of self.nats) a STUN behaviour, replacing only
        postrouting's `oifname <outside> masquerade` rule (in place, one nft transaction), then
        flush that namespace's conntrack table (`conntrack -F`, both families: an old flow
        keeps the binding it has).  Modes:

          "masquerade"  the default ruleset, restored exactly: endpoint-independent mapping,
                        port kept when free, address-and-port-dependent filtering
          "random"      `masquerade random,fully-random`: address-and-port-dependent mapping
          "none"        no NAT (`oifname <outside> accept`); the upstream namespace (inet) gets
                        a route back to the inside network via the gw's WAN address (and to
                        the v6 LAN via fd11::2 with ipv6), so servers see the client's own
                        address; the forward chain still lets in only replies
          "eif"         masquerade plus prerouting `iifname <outside> udp dport 1024-65535
                        dnat ip to <inside host>` (LAN_ADDR; IPv4 only) and a forward accept of
                        what was DNATed: endpoint-independent filtering, emulated as in
                        stun.md 4.4 (one client, ports kept)

        Callable any number of times in any order.  self.stun_nat_mode is gw's mode."""
        if mode not in self.STUN_NAT_MODES:
            raise ValueError(f"mode must be one of {self.STUN_NAT_MODES}, not {mode!r}")
        ns = ns or self.ns_gw
        if ns not in self.nats:
            raise ValueError(f"{ns} is not one of the lab's NAT namespaces {list(self.nats)}")
        inside, outside = self.nats[ns]
        # the host behind this NAT (eif's DNAT target) and where "none" needs a route back
        inside_host = self.LAN_ADDR if self.topology == "single" else self.ROUTER_VPN_ADDR
        upstream_ns, back_routes = self.ns_inet, [(self.gw_inside_net, self.GW_WAN_ADDR)]
        if self.ipv6:
            back_routes.append((self.LAN_NET6, self.GW_WAN_ADDR6))

        def is_ours(rule):
            return str(rule.get("comment", "")).startswith(self.STUN_NAT_COMMENT)

        def is_nat_rule(rule):
            exprs = rule.get("expr", [])
            return bool(exprs) and exprs[0].get("match", {}) == {
                "op": "==", "left": {"meta": {"key": "oifname"}}, "right": outside}

        post = [r for r in self._nft_chain_rules(ns, "postrouting") if is_nat_rule(r)]
        if len(post) != 1:
            raise AssertionError(f"{ns}: expected one `oifname {outside}` rule in postrouting, "
                                 f"found {len(post)}")
        script = [f"replace rule inet filter postrouting handle {post[0]['handle']} "
                  f"{self._stun_nat_rule(mode, outside)}"]
        for chain in ("prerouting", "forward"):
            script += [f"delete rule inet filter {chain} handle {r['handle']}"
                       for r in self._nft_chain_rules(ns, chain) if is_ours(r)]
        if mode == "eif":
            tag = f'comment "{self.STUN_NAT_COMMENT}: eif"'
            script += [f'add rule inet filter prerouting iifname "{outside}" udp dport '
                       f"1024-65535 dnat ip to {inside_host} {tag}",
                       f'add rule inet filter forward iifname "{outside}" oifname "{inside}" '
                       f"ct status dnat accept {tag}"]
        self.run(ns, ["nft", "-f", "-"], input="\n".join(script) + "\n")
        for net, via in back_routes:
            if mode == "none":
                self.run(None, ["ip", "-n", upstream_ns, "route", "replace", net, "via", via])
            elif self._ip_json(upstream_ns, ["-6" if ":" in net else "-4", "route", "show",
                                             "exact", net]):
                self.run(None, ["ip", "-n", upstream_ns, "route", "del", net, "via", via])
        # empties the whole table, IPv4 and IPv6 alike
        self.run(ns, ["conntrack", "-F"])
        self.stun_nat_modes[ns] = mode
        self._autosave()

    @property
    def stun_nat_mode(self):
        """gw's STUN NAT mode (set_stun_nat); "masquerade" until changed."""
        return self.stun_nat_modes.get(self.ns_gw, "masquerade")

    # --- silent servers (nftables input drops) ------------------------------------------------
    def drop_udp(self, ns, daddr=None, dport=None):
        """Drop UDP arriving in ns (e.g. inet: a STUN server that never answers, neither
        refusing nor replying): all of it, or only to address daddr (IPv4 or IPv6) and/or
        port dport.  Same table as drop_natpmp (`table inet pmtest`, input, priority -300).
        Returns the rule's handle (for undrop_udp and udp_dropped)."""
        rule, what = [], "UDP"
        if daddr is not None:
            ip = ipaddress.ip_address(daddr)
            rule += ["ip" if ip.version == 4 else "ip6", "daddr", str(ip)]
            what += f" to {ip}"
        if dport is not None:
            rule += ["udp", "dport", str(int(dport))]
            what += f" port {int(dport)}"
        else:
            rule += ["meta", "l4proto", "udp"]
        return self._pmtest_drop(ns, rule, what)

    def undrop_udp(self, handle, ns):
        self._pmtest_undrop(handle, ns)

    def udp_dropped(self, handle, ns):
        """Packets the drop rule `handle` has dropped so far."""
        return self._pmtest_dropped(handle, ns)

    # --- STUN: coturn's NAT behaviour discovery client ----------------------------------------
    def natdiscovery(self, server=None, ns=None, port=None, args=("-m", "-f"), timeout=60):
        """Run `turnutils_natdiscovery ARGS [-p PORT] SERVER` (default -m -f STUN_ADDR1) in ns
        (default lan) under timeout.  Returns {"verdicts": {section: [its verdict lines]},
        "mapping", "filtering" (the last verdict of the "-= Mapping/Filtering Behavior
        Discovery =-" section, e.g. "NAT with Endpoint Independent Mapping!", or None),
        "stdout", "stderr", "returncode", "wall" (seconds)}.  Its verdicts: "NAT with
        {Endpoint Independent|Address Dependent|Address and Port Dependent} {Mapping|
        Filtering}!" and "No NAT! (Endpoint Independent Mapping)", the latter only when the
        reflexive address equals the local one, i.e. with -L ADDR (unbound, it compares with
        0.0.0.0).  It needs OTHER-ADDRESS for any other verdict."""
        argv = ["turnutils_natdiscovery", *args]
        if port is not None:
            argv += ["-p", str(int(port))]
        argv.append(server or self.STUN_ADDR1)
        t0 = time.monotonic()
        cp = self.run(ns or self.ns_lan, argv, timeout=timeout, check=False)
        res = {"stdout": cp.stdout, "stderr": cp.stderr, "returncode": cp.returncode,
               "wall": time.monotonic() - t0, "verdicts": {}}
        section = None
        for line in cp.stdout.splitlines():
            m = re.fullmatch(r"-= (.*) Behavior Discovery =-", line.strip())
            if m:
                section = m.group(1).lower()
                res["verdicts"][section] = []
            elif section and re.fullmatch(r"(No NAT!.*|NAT with .*!)", line.strip()):
                res["verdicts"][section].append(line.strip())
        for key in ("mapping", "filtering"):
            res[key] = (res["verdicts"].get(key) or [None])[-1]
        return res

    # --- STUN: a raw Binding client in a lab namespace ----------------------------------------
    _STUN_ADDRESS_KEYS = ("mapped", "xor_mapped", "other_address", "response_origin",
                          "changed_address", "source_address", "source", "local")

    def stun_bindings(self, ns, requests, local_port=None, timeout=1.0, sock_family=None):
        """STUN Binding requests sent in turn from one UDP socket inside ns (bound to
        local_port when given, else an ephemeral port): the way to see what two servers
        observe of one socket.  requests: server addresses, (server, port) pairs or dicts
        {server, port, change_ip, change_port}.  sock_family: socket.AF_INET / AF_INET6 (or
        4 / 6); default from the first server's address.  Returns one stun_binding result (or
        None: no answer within timeout) per request."""
        spec = []
        for r in requests:
            if isinstance(r, str):
                r = {"server": r}
            elif not isinstance(r, dict):
                r = {"server": r[0], "port": r[1]}
            spec.append({"server": str(r["server"]), "port": int(r.get("port") or self.STUN_PORT),
                         "change_ip": bool(r.get("change_ip")),
                         "change_port": bool(r.get("change_port"))})
        if sock_family is None:
            family = ipaddress.ip_address(spec[0]["server"]).version
        else:
            family = 6 if sock_family in (6, socket.AF_INET6) else 4
        cp = self.run(ns, [PYTHON, "-B", PMLAB, "helper", "stun"],
                      input=json.dumps({"family": family, "local_port": local_port,
                                        "timeout": float(timeout), "requests": spec}),
                      timeout=float(timeout) * len(spec) + 10, check=False)
        if cp.returncode != 0:
            raise AssertionError(f"stun helper failed ({cp.returncode}): {cp.stderr.strip()}")
        out = []
        for res in json.loads(cp.stdout):
            if res is not None:
                for key in self._STUN_ADDRESS_KEYS:
                    res[key] = tuple(res[key]) if res.get(key) else None
                res["error"] = tuple(res["error"]) if res["error"] else None
            out.append(res)
        return out

    def stun_binding(self, ns, server, port=3478, local_port=None, change_ip=False,
                     change_port=False, timeout=1.0, sock_family=None):
        """One STUN Binding request (RFC 8489: magic cookie, random 96-bit transaction id;
        CHANGE-REQUEST when change_ip/change_port) from a UDP socket inside ns (bound to
        local_port when given) to server:port, resent after 100, 200, 400 ms ... until an
        answer with its transaction id arrives, from any source address, or timeout seconds
        pass.  Returns None (no answer) or a dict: mapped (MAPPED-ADDRESS), xor_mapped
        (XOR-MAPPED-ADDRESS), other_address (OTHER-ADDRESS, 0x802C), response_origin
        (RESPONSE-ORIGIN, 0x802B), changed_address / source_address (RFC 3489's), source
        (where the answer came from), local (the client's address and port): each an
        (address, port) tuple or None; rtt (seconds since the first send), error ((code,
        reason) of an error response, else None), software, type (0x0101 or 0x0111),
        attributes (every attribute type in order)."""
        return self.stun_bindings(ns, [{"server": server, "port": port, "change_ip": change_ip,
                                        "change_port": change_port}],
                                  local_port=local_port, timeout=timeout,
                                  sock_family=sock_family)[0]

    # --- WireGuard: wireguard-go + wg ----------------------------------------------------------
    def _wg_dir(self):
        """The workdir's directory for WireGuard keys (mode 0700)."""
        d = os.path.join(self.workdir, "wireguard")
        os.makedirs(d, mode=0o700, exist_ok=True)
        return d

    def start_wireguard_go(self, ns=None, ifname=None, listen_port=WG_PORT, private_key=None,
                           address=None, up=True, timeout=10):
        """Run wireguard-go in the foreground in lab namespace ns (default lan) as interface
        ifname (default pwgN-SUF; it must end with -SUF and have at most 15 characters),
        tracked by PID, its log (LOG_LEVEL=verbose) in the workdir.  Its UAPI socket goes to
        WG_RUN_DIR, a private tmpfs in the test's mount namespace (see
        _make_run_wireguard_private).  Ready when that socket accepts a connection; then `wg
        set` gives it private_key (base64; default a new one from `wg genkey`; kept in a 0600
        file in the workdir, never printed) and listen_port (None: wireguard-go's random
        port), `ip addr add address` (ADDR/PREFIX) when given, and `ip link set up` (up=True).
        Returns a WireGuardDevice; stop_wireguard_go stops it, down() kills it by PID (the
        interface goes with the process, or at the latest with its namespace)."""
        ns = ns or self.ns_lan
        if ns not in self.namespaces:
            raise ValueError(f"{ns!r} is not a namespace of this lab ({self.namespaces})")
        self._wireguard_count += 1
        ifname = ifname or f"pwg{self._wireguard_count - 1}-{self.suffix}"
        if len(ifname) > 15 or not re.fullmatch(r"[A-Za-z0-9_.-]+", ifname) or \
                not ifname.endswith("-" + self.suffix):
            raise ValueError(f"interface name {ifname!r}: at most 15 characters, ending with "
                             f"-{self.suffix}")
        if any(d.ifname == ifname for d in self.wireguards):
            raise ValueError(f"{ifname} is running already")
        missing = [t for t in WIREGUARD_TOOLS if not shutil.which(t)]
        if missing:
            raise AssertionError(f"pmlab: missing tools: {', '.join(missing)}")
        private_run = _make_run_wireguard_private()
        socket_path = os.path.join(WG_RUN_DIR, f"{ifname}.sock")
        if os.path.exists(socket_path):
            raise AssertionError(f"{socket_path} exists already")
        key_path = os.path.join(self._wg_dir(), f"{ifname}.key")
        dev = WireGuardDevice(self, ns, ifname, socket_path, key_path,
                              os.path.join(self.workdir, f"wireguard-go-{ifname}.log"),
                              private_run)
        if private_key is None:
            _wg_genkey(key_path)
        else:
            _write_secret(key_path, wg_key_b64(private_key))
        dev.public_key = _wg_pubkey(key_path)
        _write_secret(dev.public_key_path, dev.public_key)
        env = dict(os.environ, WG_PROCESS_FOREGROUND="1", LOG_LEVEL="verbose")
        out = open(dev.log_path, "a")
        try:
            p = self.spawn(ns, ["wireguard-go", ifname], name="wireguard-go", stdout=out,
                           stderr=subprocess.STDOUT, env=env)
        finally:
            out.close()
        dev.proc, dev.pid = p, p.pid
        self.wireguards.append(dev)
        self._autosave()

        def ready():
            if p.poll() is not None:
                raise AssertionError(f"wireguard-go {ifname} exited ({p.returncode}): "
                                     f"{_tail(dev.log_path)}")
            if not os.path.exists(socket_path):
                return False
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                try:
                    s.connect(socket_path)
                except OSError:
                    return False
            return True

        wait_for(ready, timeout, message=f"wireguard-go {ifname}: no UAPI socket {socket_path} "
                                         f"within {timeout} s: {_tail(dev.log_path)}")
        args = ["set", ifname, "private-key", key_path]
        if listen_port is not None:
            args += ["listen-port", str(int(listen_port))]
        dev.wg(*args)
        shown = dev.wg("show", ifname, "public-key").stdout.strip()
        if shown != dev.public_key:
            raise AssertionError(f"{ifname}: wg shows public key {shown}, expected "
                                 f"{dev.public_key}")
        dev.listen_port = int(dev.wg("show", ifname, "listen-port").stdout.strip())
        if listen_port is not None and dev.listen_port != int(listen_port):
            raise AssertionError(f"{ifname}: listens on {dev.listen_port}, not {listen_port}")
        if address:
            self.run(None, ["ip", "-n", ns, "addr", "add", str(address), "dev", ifname])
            dev.address = str(address)
        if up:
            self.run(None, ["ip", "-n", ns, "link", "set", ifname, "up"])
        self._autosave()
        return dev

    def stop_wireguard_go(self, dev=None, timeout=10):
        """SIGTERM it (default: the last one started) and wait until the process, its UAPI
        socket and its interface are gone (wireguard-go removes both on SIGTERM; after a
        SIGKILL the stale socket is removed here)."""
        dev = dev or (self.wireguards[-1] if self.wireguards else None)
        if dev is None or dev.pid is None:
            return
        pid, dev.pid = dev.pid, None
        if dev in self.wireguards:
            self.wireguards.remove(dev)
        try:
            self.stop_process(pid)
        finally:
            dev.proc = None
            self._autosave()
        if os.path.exists(dev.socket_path):
            os.unlink(dev.socket_path)

        def gone():
            cp = self.run(None, ["ip", "-n", dev.ns, "link", "show", dev.ifname], check=False)
            return cp.returncode != 0

        wait_for(gone, timeout, message=f"{dev.ifname} still in {dev.ns} after wireguard-go "
                                        "stopped")

    def wireguard_interfaces(self, ns):
        """Names of ns's TUN interfaces (what wireguard-go creates), lab's or not."""
        return [link["ifname"] for link in self._ip_json(ns, ["-d", "link", "show"])
                if (link.get("linkinfo") or {}).get("info_kind") == "tun"]

    def ping(self, ns, host, count=3, timeout=5):
        """ICMP echo requests (a raw socket, IPv4) from inside ns to host, one every 0.2 s,
        until count replies came or timeout seconds passed.  Returns {"sent", "received",
        "rtt": [seconds, ...]}."""
        cp = self.run(ns, [PYTHON, "-B", PMLAB, "helper", "ping", host, str(count),
                           str(timeout)], timeout=timeout + 5, check=False)
        if cp.returncode not in (0, 1) or not cp.stdout.strip():
            raise AssertionError(f"ping helper failed ({cp.returncode}): {cp.stderr.strip()}")
        return json.loads(cp.stdout)

    # --- natpmp-http-api (fake-natpmp-http-api) ------------------------------------------------
    # NAT-PMP maps the sender: the service runs in the namespace of the application whose port
    # is forwarded (lan, where the lab's listeners and portmapd run) and portmapd, in lan too,
    # reaches it on lan's loopback.
    HTTP_API_PORT = 8080

    def start_natpmp_http_api(self, ns=None, bind_address="127.0.0.1", port=None, gateway=None,
                              token=None, max_duration=None, delay_ms=None, log_path=None,
                              extra_args=()):
        """Start fake-natpmp-http-api in ns (default lan) on bind_address:port (default
        127.0.0.1:8080; 0 = any free port), asking gateway (default 192.168.77.1, the lab's gw)
        with API_TOKEN=token (None: auth disabled) and --max-duration max_duration (None: the
        service's default, 300).  Every request is logged to log_path (default a new file in
        the workdir).  Ready when it printed READY (it listens then).  Returns an HttpApiFake;
        stop it with stop_natpmp_http_api, restart with restart_natpmp_http_api; down() kills
        it in any case."""
        self._http_api_count += 1
        base = os.path.join(self.workdir, f"http-api{self._http_api_count}")
        api = HttpApiFake(self, ns or self.ns_lan, bind_address,
                          self.HTTP_API_PORT if port is None else int(port),
                          gateway or self.GW_LAN_ADDR, token, max_duration, delay_ms,
                          log_path or base + ".log", base + ".out", extra_args)
        with open(api.log_path, "a"):
            pass
        self._run_http_api(api)
        return api

    def _run_http_api(self, api):
        argv = [PYTHON, FAKE_HTTP_API, "--gateway", api.gateway, "--bind-address", api.address,
                "--port", str(api.port), "--log", api.log_path, "-v"]
        if api.max_duration is not None:
            argv += ["--max-duration", str(api.max_duration)]
        if api.delay_ms:
            argv += ["--delay-ms", str(int(api.delay_ms))]
        argv += [str(a) for a in api.extra_args]
        env = {k: v for k, v in os.environ.items()
               if k not in ("API_TOKEN", "NATPMP_GATEWAY", "API_BIND_ADDRESS", "API_PORT",
                            "NATPMP_MAX_DURATION", "LOG_LEVEL")}
        if api.token is not None:
            env["API_TOKEN"] = api.token
        out = open(api.out_path, "a")
        try:
            p = self.spawn(api.ns, argv, name="fake-natpmp-http-api", env=env, stdout=out,
                           stderr=subprocess.STDOUT)
        finally:
            out.close()
        api.proc, api.pid = p, p.pid
        self.http_apis.append(api)
        pat = re.compile(rf"^READY (\S+) (\d+) {p.pid}$", re.M)

        def ready():
            if p.poll() is not None:
                raise AssertionError(f"fake-natpmp-http-api exited ({p.returncode}): "
                                     f"{_tail(api.out_path)}")
            with open(api.out_path) as f:
                return pat.search(f.read())

        m = wait_for(ready, 10, message=f"fake-natpmp-http-api not ready: {_tail(api.out_path)}")
        api.port = int(m.group(2))
        self._autosave()
        return api

    def stop_natpmp_http_api(self, api=None):
        """SIGTERM it (default: the last one started) and wait until it is gone."""
        api = api or (self.http_apis[-1] if self.http_apis else None)
        if api is None or api.pid is None:
            return
        pid, api.pid = api.pid, None
        if api in self.http_apis:
            self.http_apis.remove(api)
        self.stop_process(pid)
        api.proc = None

    def restart_natpmp_http_api(self, api=None, **changes):
        """Stop it and start it again on the same namespace, address, port and log file
        (changes: gateway, token, max_duration, delay_ms, extra_args).  The same HttpApiFake
        is updated (new pid) and returned."""
        api = api or self.http_apis[-1]
        self.stop_natpmp_http_api(api)
        for key, value in changes.items():
            if key not in ("gateway", "token", "max_duration", "delay_ms", "extra_args"):
                raise ValueError(f"restart_natpmp_http_api: cannot change {key}")
            setattr(api, key, value)
        return self._run_http_api(api)

    def natpmp_http_api_log(self, api=None):
        """Its request log (a list of dicts, oldest first)."""
        return (api or self.http_apis[-1]).log()

    def http_exchange(self, ns, host, port, reqs, timeout=10):
        """HTTP/1.1 requests on one connection from inside ns (see HttpApiFake.exchange)."""
        spec = []
        for r in reqs:
            body = r.get("body")
            if isinstance(body, (dict, list)):
                body = json.dumps(body)
            if isinstance(body, bytes):
                body = {"hex": body.hex()}
            spec.append({"method": r.get("method", "GET"), "path": r.get("path", "/"),
                         "body": body, "headers": dict(r.get("headers") or {})})
        cp = self.run(ns, [PYTHON, "-B", PMLAB, "helper", "http", host, str(port), str(timeout)],
                      timeout=timeout * len(spec) + 5, input=json.dumps(spec), check=False)
        if cp.returncode != 0:
            raise AssertionError(f"http helper failed ({cp.returncode}): {cp.stderr.strip()}")
        return json.loads(cp.stdout)

    # --- PIA (fake-pia) -------------------------------------------------------------------------
    # A PIA server's port-forwarding API listens on the VPN gateway's address (10.x.x.1 in real
    # life), the address portmapd's route table points at.  In the lab that is gw's LAN address
    # (lan's default gateway, 192.168.77.1): the gateway role listens there on 19999 and, in
    # the same process (they share the tokens they issue), the token API on 443.  portmapd in
    # lan reaches both directly; no NAT is involved.
    PIA_GATEWAY_PORT = 19999
    PIA_TOKEN_PORT = 443

    def start_fake_pia(self, ns=None, address=None, gateway_port=None, token_port=None,
                       username="p0123456", password="lab-password",
                       server_name="lab-pia-server", api_name="lab-pia-api",
                       gateway_cert="good", pki=None, lifetime_days=None, lenient_query=False,
                       extra_args=()):
        """Start fake-pia in ns (default gw) with both roles on address (default 192.168.77.1
        in gw, else 127.0.0.1): the gateway on gateway_port (19999), the token API on
        token_port (443); 0 = any free port.  A test PKI is made in the workdir (pia-pkiN/,
        piapki.make_pia_pki: server_name for the gateway, api_name + address + 127.0.0.1 for
        the token API, an unrelated CA) unless pki (a PiaPki) is given.  gateway_cert "other"
        makes the gateway present other-gateway.crt (signed by the unrelated CA).  Ready when
        READY is printed.  Returns a PiaFake; stop_fake_pia / restart_fake_pia; down() kills it
        in any case."""
        if HERE not in sys.path:
            sys.path.insert(0, HERE)
        import piapki
        if gateway_cert not in ("good", "other"):
            raise ValueError("gateway_cert is 'good' or 'other'")
        self._pia_count += 1
        ns = ns or self.ns_gw
        if address is None:
            address = self.GW_LAN_ADDR if ns == self.ns_gw else "127.0.0.1"
        if pki is None:
            ips = [address] + (["127.0.0.1"] if address != "127.0.0.1" else [])
            pki = piapki.make_pia_pki(os.path.join(self.workdir, f"pia-pki{self._pia_count}"),
                                      server_name, api_name, ips)
        pia = PiaFake(self, ns, address,
                      self.PIA_GATEWAY_PORT if gateway_port is None else int(gateway_port),
                      self.PIA_TOKEN_PORT if token_port is None else int(token_port),
                      pki, gateway_cert, username, password,
                      os.path.join(self.workdir, f"pia{self._pia_count}"), lifetime_days,
                      lenient_query, extra_args)
        with open(pia.log_path, "a"):
            pass
        return self._run_pia(pia)

    def _run_pia(self, pia):
        cert, key = (pia.pki.gateway_cert, pia.pki.gateway_key) if pia.gateway_cert == "good" \
            else (pia.pki.other_gateway_cert, pia.pki.other_gateway_key)
        argv = [PYTHON, FAKE_PIA,
                "--gateway-listen", f"{pia.host}:{pia.gateway_port}",
                "--gateway-cert", cert, "--gateway-key", key,
                "--token-listen", f"{pia.host}:{pia.token_port}",
                "--token-cert", pia.pki.token_cert, "--token-key", pia.pki.token_key,
                "--username", pia.username, "--password", pia.password,
                "--control", pia.control_path, "--log", pia.log_path, "--state", pia.state_path]
        if pia.lifetime_days is not None:
            argv += ["--lifetime-days", str(pia.lifetime_days)]
        if pia.lenient_query:
            argv.append("--lenient-query")
        argv += [str(a) for a in pia.extra_args]
        env = {k: v for k, v in os.environ.items() if k not in ("PIA_USER", "PIA_PASS")}
        out = open(pia.out_path, "a")
        try:
            p = self.spawn(pia.ns, argv, name="fake-pia", env=env, stdout=out,
                           stderr=subprocess.STDOUT)
        finally:
            out.close()
        pia.proc, pia.pid = p, p.pid
        self.pias.append(pia)
        pat = re.compile(rf"^READY pid={p.pid} token=\S+:(\d+) gateway=\S+:(\d+)$", re.M)

        def ready():
            if p.poll() is not None:
                raise AssertionError(f"fake-pia exited ({p.returncode}): {_tail(pia.out_path)}")
            with open(pia.out_path) as f:
                return pat.search(f.read())

        m = wait_for(ready, 10, message=f"fake-pia not ready: {_tail(pia.out_path)}")
        pia.token_port, pia.gateway_port = int(m.group(1)), int(m.group(2))
        self._autosave()
        return pia

    def stop_fake_pia(self, pia=None):
        """SIGTERM it (default: the last one started) and wait until it is gone."""
        pia = pia or (self.pias[-1] if self.pias else None)
        if pia is None or pia.pid is None:
            return
        pid, pia.pid = pia.pid, None
        if pia in self.pias:
            self.pias.remove(pia)
        self.stop_process(pid)
        pia.proc = None

    def restart_fake_pia(self, pia=None, forget=False, **changes):
        """Stop it and start it again with the same listeners, PKI, log and state file: it
        still honours the tokens and signatures it issued (PIA's signatures work on any
        server), unless forget (then only the tokens are kept).  changes: username,
        password, gateway_cert, lifetime_days, lenient_query, extra_args.  Returns the same
        PiaFake (new pid)."""
        pia = pia or self.pias[-1]
        self.stop_fake_pia(pia)
        for key, value in changes.items():
            if key not in ("username", "password", "gateway_cert", "lifetime_days",
                           "lenient_query", "extra_args"):
                raise ValueError(f"restart_fake_pia: cannot change {key}")
            setattr(pia, key, value)
        if forget and os.path.exists(pia.state_path):
            with open(pia.state_path) as f:
                st = json.load(f)
            st["signatures"] = []
            with open(pia.state_path, "w") as f:
                json.dump(st, f)
        return self._run_pia(pia)

    # --- fake RouterOS --------------------------------------------------------------------------
    def start_fake_routeros(self, ns=None, listen=None, tls=None, anon_tls=None, user="portmap",
                            password=None, empty=False, legacy_login=False, delay_ms=0,
                            table="routeros", extra_args=()):
        """Start fake-routeros in ns (default the router of the double topology) and return a
        RouterOsFake.  listen: "ADDR:PORT" strings for the plain API (default 127.0.0.1:8728
        and, in the router, 192.168.77.1:8728, plus 192.168.78.1:8728 with segment=True).
        tls: API-SSL with a certificate signed by a test CA made at run time (IP SANs
        192.168.77.1, 192.168.78.1, 127.0.0.1): True = the listen addresses on 8729, or a
        list.  anon_tls: API-SSL without a certificate (anonymous DH): True = the listen
        addresses on 8729 (8730 when tls is on too), or a list.  password: random by default
        (handed over in a 0600 file, never on a command line).  Port 0 = any free port (the
        handle has the real ones).  The fake keeps its rules in `table ip TABLE` (chain
        dstnat), which it deletes at exit; down() kills it in any case."""
        if HERE not in sys.path:
            sys.path.insert(0, HERE)
        import piapki
        ns = ns or self.ns_router
        if ns is None:
            raise ValueError("the single topology has no router: give ns=")
        if listen is None:
            listen = [f"127.0.0.1:{self.ROUTEROS_API_PORT}"]
            if ns == self.ns_router:
                listen.append(f"{self.ROUTER_LAN_ADDR}:{self.ROUTEROS_API_PORT}")
                if self.segment:
                    listen.append(f"{self.ROUTER_SEG_ADDR}:{self.ROUTEROS_API_PORT}")
        listen = [listen] if isinstance(listen, str) else list(listen)
        hosts = [x.rpartition(":")[0] for x in listen]

        def specs(value, port):
            if value is True:
                return [f"{h}:{port}" for h in hosts]
            if isinstance(value, str):
                return [value]
            return list(value or [])

        tls_specs = specs(tls, self.ROUTEROS_API_SSL_PORT)
        anon_specs = specs(anon_tls, self.ROUTEROS_API_SSL_PORT + (1 if tls_specs else 0))
        self._routeros_count += 1
        n = self._routeros_count
        ros = RouterOsFake(self, ns, listen, tls_specs, anon_specs, user,
                           password if password is not None else secrets.token_urlsafe(12),
                           table, os.path.join(self.workdir, f"routeros{n}"))
        fd = os.open(ros.password_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(ros.password + "\n")
        argv = [PYTHON, FAKE_ROUTEROS, "--user", user, "--password-file", ros.password_file,
                "--control", ros.control_path, "--nft-table", table,
                "--delay-ms", str(int(delay_ms))]
        for spec in listen:
            argv += ["--listen", spec]
        if tls_specs:
            ros.pki = piapki.make_server_pki(
                os.path.join(self.workdir, f"routeros{n}-pki"), "lab-routeros",
                ips=[self.ROUTER_LAN_ADDR, self.ROUTER_SEG_ADDR, "127.0.0.1"])
            ros.ca_path, ros.cert_path = ros.pki.ca, ros.pki.cert
            ros.key_path, ros.fingerprint = ros.pki.key, ros.pki.fingerprint
            argv += ["--cert", ros.cert_path, "--key", ros.key_path]
            for spec in tls_specs:
                argv += ["--tls-listen", spec]
        for spec in anon_specs:
            argv += ["--anon-tls-listen", spec]
        if empty:
            argv.append("--empty")
        if legacy_login:
            argv.append("--legacy-login")
        argv += [str(a) for a in extra_args]
        out = open(ros.log_path, "a")
        try:
            p = self.spawn(ns, argv, name="fake-routeros", stdout=out, stderr=subprocess.STDOUT)
        finally:
            out.close()
        ros.proc, ros.pid = p, p.pid
        ros.control.pid = p.pid
        self.routeros.append(ros)
        pat = re.compile(rf"^READY pid={p.pid}(.*)$", re.M)

        def ready():
            if p.poll() is not None:
                raise AssertionError(f"fake-routeros exited ({p.returncode}): "
                                     f"{_tail(ros.log_path)}")
            with open(ros.log_path) as f:
                return pat.search(f.read())

        m = wait_for(ready, 10, message=f"fake-routeros not ready: {_tail(ros.log_path)}")
        got = dict(part.split("=", 1) for part in m.group(1).split())
        ros.listen = got.get("api", "").split(",") if got.get("api") else []
        ros.tls = got.get("tls", "").split(",") if got.get("tls") else []
        ros.anon_tls = got.get("anon_tls", "").split(",") if got.get("anon_tls") else []
        wait_for(ros.ping, 5, message="fake-routeros control socket does not answer")
        self._autosave()
        return ros

    def stop_fake_routeros(self, ros=None):
        """SIGTERM it (default: the last one started; it deletes its nft table) and wait."""
        ros = ros or (self.routeros[-1] if self.routeros else None)
        if ros is None or ros.pid is None:
            return
        pid, ros.pid = ros.pid, None
        if ros in self.routeros:
            self.routeros.remove(ros)
        self.stop_process(pid)
        ros.proc = None

    def https_exchange(self, ns, host, port, reqs, cafile, server_name, timeout=10):
        """HTTPS requests on one connection from inside ns (see PiaFake.https)."""
        spec = []
        for r in reqs:
            body = r.get("body")
            if isinstance(body, (dict, list)):
                body = json.dumps(body)
            if isinstance(body, bytes):
                body = {"hex": body.hex()}
            spec.append({"method": r.get("method", "GET"), "path": r.get("path", "/"),
                         "body": body, "headers": dict(r.get("headers") or {})})
        stdin = json.dumps({"cafile": cafile, "server_hostname": server_name,
                            "requests": spec})
        cp = self.run(ns, [PYTHON, "-B", PMLAB, "helper", "https", host, str(port),
                           str(timeout)],
                      timeout=timeout * (len(spec) + 1) + 5, input=stdin, check=False)
        if cp.returncode != 0:
            raise AssertionError(f"https helper failed ({cp.returncode}): {cp.stderr.strip()}")
        return json.loads(cp.stdout)

    # --- NAT-PMP client (natpmpc, a real peer) -------------------------------------------------
    def natpmpc(self, *args, ns=None, gateway=None, timeout=10, check=True):
        """Run natpmpc -g GATEWAY ARGS in ns (default lan); returns a dict with the parsed
        public address, epoch(s), mapping and the raw output.  GATEWAY defaults to
        192.168.77.1 (single: the gw; double: from lan, the router, i.e. portmapd's gateway)
        and, in the double topology from any other namespace, to upstream_gateway (10.2.0.1)."""
        ns = ns or self.ns_lan
        if gateway is None:
            gateway = self.GW_LAN_ADDR if self.topology == "single" or ns == self.ns_lan \
                else self.upstream_gateway
        cp = self.run(ns, ["natpmpc", "-g", gateway, *args], timeout=timeout, check=check)
        out = cp.stdout
        res = {"returncode": cp.returncode, "stdout": out, "stderr": cp.stderr}
        m = re.search(r"Public IP address : ([\d.]+)", out)
        res["public_address"] = m.group(1) if m else None
        res["epochs"] = [int(e) for e in re.findall(r"epoch = (\d+)", out)]
        res["epoch"] = res["epochs"][-1] if res["epochs"] else None
        m = re.search(r"Mapped public port (\d+) protocol (\w+) to local port (\d+) liftime (\d+)", out)
        res["mapping"] = None if not m else {
            "external_port": int(m.group(1)), "protocol": m.group(2).lower(),
            "internal_port": int(m.group(3)), "lifetime": int(m.group(4))}
        return res

    # --- reachability --------------------------------------------------------------------------
    def _helper(self, ns, args, **kw):
        return self.spawn(ns, [PYTHON, "-B", PMLAB, "helper", *args], name=f"helper-{args[0]}",
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)

    def _expect_ready(self, proc, timeout=10):
        line = _read_line(proc, timeout)
        if not line.startswith("READY"):
            err = ""
            if proc.poll() is not None:
                err = proc.stderr.read().decode(errors="replace").strip()
            raise AssertionError(f"helper did not start: {line!r} {err}")
        return line

    def _reachable(self, proto, external_port, lan_port, timeout, dest=None, src_ns=None,
                   listen_ns=None, lan_addr=None):
        token = secrets.token_hex(16)
        if lan_addr is None:
            # single: any address (as always); double: the first client's address, so that a
            # path to the other client (LAN_ADDR2) never counts
            lan_addr = "0.0.0.0" if self.topology == "single" else self.LAN_ADDR
        listener = self._helper(listen_ns or self.ns_lan,
                                [f"{proto}-echo", str(lan_port), str(timeout + 30), lan_addr])
        try:
            self._expect_ready(listener)
            cp = self.run(src_ns or self.ns_inet,
                          [PYTHON, "-B", PMLAB, "helper", f"{proto}-probe",
                           dest or self.GW_WAN_ADDR, str(external_port), token, str(timeout)],
                          timeout=timeout + 5, check=False)
            self.last_probe = cp
            return cp.returncode == 0
        finally:
            self.stop_process(listener, grace=2)

    def tcp_reachable(self, external_port, lan_port, timeout=5, **kw):
        """Listener in lan on lan_addr:lan_port (default 0.0.0.0 in the single topology,
        LAN_ADDR in the double one; lan_addr=Lab.LAN_ADDR2 for the second client); from inet,
        connect to GW_WAN_ADDR:external_port (dest=), send a random token, expect it echoed.
        True only if the token came back.  Also: src_ns=, listen_ns=."""
        return self._reachable("tcp", external_port, lan_port, timeout, **kw)

    def udp_reachable(self, external_port, lan_port, timeout=5, **kw):
        """As tcp_reachable with UDP datagrams (resent with backoff within timeout)."""
        return self._reachable("udp", external_port, lan_port, timeout, **kw)

    # --- raw NAT-PMP packets -------------------------------------------------------------------
    def natpmp_raw_many(self, ns, payloads, dest, src_addr=None, timeout=1.0, port=None,
                        until=None):
        """Send every payload (bytes) at once, in order, from one UDP socket inside ns (bound
        to src_addr when given: e.g. LAN_ADDR2 as a second client) to dest:5351 (port=), then
        collect replies from dest:port until `until` of them arrived (default: one per
        payload) or timeout seconds passed since the last send.  Returns the replies (bytes)
        in arrival order; datagrams from any other source are ignored."""
        spec = {"dest": dest, "port": int(port or self.NATPMP_PORT), "src": src_addr,
                "payloads": [bytes(p).hex() for p in payloads], "timeout": float(timeout),
                "until": len(payloads) if until is None else int(until), "resend": False}
        return self._natpmp_helper(ns, spec)

    def natpmp_raw(self, ns, payload, dest, src_addr=None, timeout=1.0, expect_reply=True,
                   port=None):
        """One NAT-PMP request from inside ns (bound to src_addr when given) to dest:5351;
        returns the first reply's bytes, or None when none came within timeout seconds.
        expect_reply=True: the request is resent on the RFC's schedule (250 ms, doubling)
        until a reply arrives or the timeout passes, as a client would, so that a lost packet
        is no failure (use it for idempotent requests).  expect_reply=False: sent once and
        listened to for the whole timeout (to show that nothing answers)."""
        spec = {"dest": dest, "port": int(port or self.NATPMP_PORT), "src": src_addr,
                "payloads": [bytes(payload).hex()], "timeout": float(timeout), "until": 1,
                "resend": bool(expect_reply)}
        replies = self._natpmp_helper(ns, spec)
        return replies[0] if replies else None

    def _natpmp_helper(self, ns, spec):
        cp = self.run(ns, [PYTHON, "-B", PMLAB, "helper", "natpmp"], input=json.dumps(spec),
                      timeout=spec["timeout"] + 10, check=False)
        if cp.returncode != 0:
            raise AssertionError(f"natpmp helper failed ({cp.returncode}): {cp.stderr.strip()}")
        return [bytes.fromhex(h) for h in json.loads(cp.stdout)]

    # --- teardown ------------------------------------------------------------------------------
    def down(self):
        """Kill every tracked process (SIGTERM, SIGKILL after a deadline), delete the
        namespaces and /etc/netns dirs, remove the workdir (kept if PMLAB_KEEP=1 and the lab
        failed).  Idempotent; never raises."""
        if self._down_done:
            return
        global _teardown_depth
        steps = [("processes", self._down_processes),
                 ("leftover processes", self._down_leftovers),
                 ("wireguard sockets", self._down_wireguard),
                 ("namespaces", self._down_namespaces),
                 ("/etc/netns", self._down_etc_netns),
                 ("workdir", self._down_workdir),
                 ("state", self._down_state)]
        _teardown_depth += 1           # a signal now must not interrupt the cleanup
        try:
            for what, step in steps:
                try:
                    step()
                except BaseException as e:     # never raise
                    print(f"pmlab: down {self.suffix}: {what}: {type(e).__name__}: {e}",
                          file=sys.stderr)
        finally:
            _teardown_depth -= 1
            self._down_done = True
            if self in _live_labs:
                _live_labs.remove(self)

    def _down_processes(self):
        survivors = stop_processes(list(reversed(self._tracked)))
        if survivors:
            print(f"pmlab: could not kill {survivors}", file=sys.stderr)
        self._tracked = survivors
        self.miniupnpd_pid = None
        self.fake = None
        self.http_apis = []
        self.pias = []
        self.routeros = []
        self.coturns = []

    def _down_wireguard(self):
        """wireguard-go removes its UAPI socket on SIGTERM; one killed harder leaves it."""
        for dev in self.wireguards:
            try:
                if stat.S_ISSOCK(os.lstat(dev.socket_path).st_mode):
                    os.unlink(dev.socket_path)
            except FileNotFoundError:
                pass
            dev.pid = dev.proc = None
        self.wireguards = []

    def _down_leftovers(self):
        """Anything else still running inside a lab namespace was started there by lab users."""
        procs = []
        for ns in self._created_ns:
            if not os.path.exists(os.path.join(RUN_NETNS, ns)):
                continue
            cp = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True,
                                timeout=10)
            for pid in (int(x) for x in cp.stdout.split()):
                if pid != os.getpid():
                    procs.append(Tracked(f"process in {ns}", pid, ns))
        if procs:
            print(f"pmlab: killing untracked processes in lab namespaces: {procs}", file=sys.stderr)
            stop_processes(procs, grace=2)

    def _down_namespaces(self):
        for ns in reversed(self._created_ns):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=10)
        left = [ns for ns in self._created_ns if os.path.exists(os.path.join(RUN_NETNS, ns))]
        self._created_ns = left
        if left:
            raise RuntimeError(f"namespaces not deleted: {left}")

    def _down_etc_netns(self):
        for ns in self._created_etc:
            shutil.rmtree(os.path.join(ETC_NETNS, ns), ignore_errors=True)
        self._created_etc = []
        _rmdir_etc_netns_if_empty()      # whoever created it: an empty one is a lab's leftover

    def _down_workdir(self):
        if not self.workdir or not os.path.isdir(self.workdir):
            return
        if self.failed and os.environ.get("PMLAB_KEEP") == "1":
            print(f"pmlab: lab {self.suffix} failed; kept {self.workdir}", file=sys.stderr)
            return
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def _down_state(self):
        if self.state_path:
            try:
                os.unlink(self.state_path)
            except FileNotFoundError:
                pass

    # --- state shared between processes (tests/lab/up, tests/lab/down) -------------------------
    def state(self):
        return {
            "version": 1,
            "suffix": self.suffix,
            "gateway": self.gateway,
            "topology": self.topology,
            "segment": self.segment,
            "ipv6": self.ipv6,
            "grant_lifetime": self.grant_lifetime,
            "workdir": self.workdir,
            "own_workdir": self._own_workdir,
            "namespaces": {"lan": self.ns_lan, "gw": self.ns_gw, "inet": self.ns_inet,
                           **({"router": self.ns_router} if self.ns_router else {}),
                           **({"pmhost": self.ns_pmhost} if self.ns_pmhost else {})},
            "created_namespaces": self._created_ns,
            "created_etc_netns": self._created_etc,
            "processes": [t.to_json() for t in self._tracked],
            "miniupnpd": {"pid": self.miniupnpd_pid, "started_monotonic": self.miniupnpd_started,
                          "conf": self.miniupnpd_conf if self.workdir else None},
            "fake": None if self.fake is None else {"control": self.fake.path, "pid": self.fake.pid},
            "http_apis": [{"ns": a.ns, "address": a.address, "port": a.port, "pid": a.pid,
                           "log": a.log_path} for a in self.http_apis],
            "pias": [{"ns": p.ns, "address": p.address, "gateway_port": p.gateway_port,
                      "token_port": p.token_port, "pid": p.pid, "control": p.control_path,
                      "log": p.log_path, "ca": p.ca, "server_name": p.server_name}
                     for p in self.pias],
            "routeros": [{"ns": r.ns, "listen": r.listen, "tls": r.tls, "anon_tls": r.anon_tls,
                          "pid": r.pid, "control": r.control_path, "log": r.log_path,
                          "user": r.user, "password_file": r.password_file, "ca": r.ca_path,
                          "fingerprint": r.fingerprint, "table": r.table}
                         for r in self.routeros],
            "stun_nat_modes": self.stun_nat_modes,
            "coturns": [{"ns": c.ns, "addresses": list(c.addresses), "port": c.port,
                         "alt_port": c.alt_port, "pid": c.pid, "log": c.log_path}
                        for c in self.coturns],
            "wireguards": [d.to_json() for d in self.wireguards],
            "addresses": {"lan": self.LAN_ADDR, "gw_lan": self.GW_LAN_ADDR,
                          "gw_wan": self.GW_WAN_ADDR, "inet": self.INET_ADDR,
                          **({"lan2": self.LAN_ADDR2, "router_lan": self.ROUTER_LAN_ADDR,
                              "router_vpn": self.ROUTER_VPN_ADDR, "vpn_gw": self.VPN_GW_ADDR}
                             if self.ns_router else {}),
                          **({"router_seg": self.ROUTER_SEG_ADDR, "pmhost": self.PMHOST_ADDR}
                             if self.segment else {}),
                          "stun": [self.STUN_ADDR1, self.STUN_ADDR2, self.STUN_ADDR3],
                          **({"lan6": self.LAN_ADDR6, "gw_lan6": self.GW_LAN_ADDR6,
                              "gw_wan6": self.GW_WAN_ADDR6, "inet6": self.INET_ADDR6,
                              "stun6": [self.STUN_ADDR6_1, self.STUN_ADDR6_2]}
                             if self.ipv6 else {})},
            "extra": self.extra,
        }

    def save_state(self, path):
        tmp = f"{path}.tmp{os.getpid()}"
        with open(tmp, "w") as f:
            json.dump(self.state(), f, indent=2)
            f.write("\n")
        os.replace(tmp, path)

    def _autosave(self):
        if self.state_path and not self._down_done:
            self.save_state(self.state_path)

    @classmethod
    def load_state(cls, path, state_path=None):
        """A Lab describing what another process brought up (its down() tears that down)."""
        with open(path) as f:
            st = json.load(f)
        lab = cls(gateway=st["gateway"], workdir=st["workdir"], suffix=st["suffix"],
                  grant_lifetime=st.get("grant_lifetime"), state_path=state_path, persist=True,
                  topology=st.get("topology", "single"), segment=st.get("segment", False),
                  ipv6=st.get("ipv6", False))
        lab._own_workdir = st.get("own_workdir", True)
        lab._created_ns = list(st.get("created_namespaces", []))
        lab._created_etc = list(st.get("created_etc_netns", []))
        lab._tracked = [Tracked(p["name"], p["pid"], p.get("ns"), starttime=p.get("starttime"))
                        for p in st.get("processes", [])]
        mu = st.get("miniupnpd") or {}
        lab.miniupnpd_pid = mu.get("pid")
        lab.miniupnpd_started = mu.get("started_monotonic")
        if st.get("fake"):
            lab.fake = FakeGatewayControl(st["fake"]["control"], st["fake"]["pid"])
        for w in st.get("wireguards", []):      # for down(): their sockets
            dev = WireGuardDevice(lab, w["ns"], w["ifname"], w["socket"],
                                  os.path.join(lab.workdir, "wireguard", f"{w['ifname']}.key"),
                                  w.get("log"), w.get("private_run"))
            dev.pid, dev.listen_port = w.get("pid"), w.get("listen_port")
            dev.public_key, dev.address = w.get("public_key"), w.get("address")
            lab.wireguards.append(dev)
        lab.extra = st.get("extra", {})
        lab._up = True
        return lab


def _tail(path, n=2000):
    try:
        with open(path) as f:
            return f.read()[-n:]
    except OSError:
        return ""


def _read_line(proc, timeout):
    """One line from proc.stdout within timeout ('' on EOF or timeout)."""
    fd = proc.stdout.fileno()
    buf = getattr(proc, "_pmlab_buf", None) or bytearray()
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as sel:
        sel.register(fd, selectors.EVENT_READ)
        while b"\n" not in buf:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not sel.select(remaining):
                break
            chunk = os.read(fd, 4096)
            if not chunk:
                break
            buf += chunk
    line, _, rest = bytes(buf).partition(b"\n")
    proc._pmlab_buf = bytearray(rest)
    return line.decode(errors="replace")


# --------------------------------------------------------------------------------------------
# a raw STUN Binding client (RFC 8489, RFC 5780 attributes), run inside lab namespaces by the
# "stun" helper: the lab's own, independent of portmapd's codec

STUN_MAGIC = 0x2112A442
STUN_BINDING_REQUEST = 0x0001
STUN_BINDING_SUCCESS = 0x0101
STUN_BINDING_ERROR = 0x0111
STUN_ATTR_NAMES = {0x0001: "mapped", 0x0004: "source_address", 0x0005: "changed_address",
                   0x0020: "xor_mapped", 0x802B: "response_origin", 0x802C: "other_address"}
STUN_ATTR_CHANGE_REQUEST = 0x0003
STUN_ATTR_ERROR_CODE = 0x0009
STUN_ATTR_SOFTWARE = 0x8022
STUN_ATTR_XOR_MAPPED = 0x0020


def stun_binding_request(txid, change_ip=False, change_port=False):
    """A Binding request with transaction id txid (12 bytes); a CHANGE-REQUEST attribute
    (0x0003: 0x04 change IP, 0x02 change port) when either flag is set."""
    attrs = b""
    if change_ip or change_port:
        flags = (0x04 if change_ip else 0) | (0x02 if change_port else 0)
        attrs = struct.pack("!HHI", STUN_ATTR_CHANGE_REQUEST, 4, flags)
    return struct.pack("!HHI", STUN_BINDING_REQUEST, len(attrs), STUN_MAGIC) + txid + attrs


def _stun_address(value, xor, txid):
    if len(value) < 4:
        raise ValueError("short address attribute")
    family, port = value[1], struct.unpack("!H", value[2:4])[0]
    size = {1: 4, 2: 16}.get(family)
    if size is None or len(value) < 4 + size:
        raise ValueError(f"address attribute: family {family}, length {len(value)}")
    raw = value[4:4 + size]
    if xor:
        port ^= STUN_MAGIC >> 16
        key = struct.pack("!I", STUN_MAGIC) + (txid if size == 16 else b"")
        raw = bytes(a ^ b for a, b in zip(raw, key))
    return [str(ipaddress.ip_address(raw)), port]


def stun_parse_response(data, txid):
    """Parse a Binding response for txid: None if it is not one (wrong type, cookie or id),
    else {"type", "mapped", "xor_mapped", "other_address", "response_origin",
    "changed_address", "source_address" ([address, port] or None), "error" ([code, reason] or
    None), "software", "attributes" (every attribute type, in order)}."""
    if len(data) < 20:
        return None
    mtype, length, cookie = struct.unpack("!HHI", data[:8])
    if cookie != STUN_MAGIC or data[8:20] != txid or \
            mtype not in (STUN_BINDING_SUCCESS, STUN_BINDING_ERROR) or len(data) < 20 + length:
        return None
    res = {name: None for name in STUN_ATTR_NAMES.values()}
    res.update(type=mtype, error=None, software=None, attributes=[])
    pos, end = 20, 20 + length
    while pos + 4 <= end:
        atype, alen = struct.unpack("!HH", data[pos:pos + 4])
        value = data[pos + 4:pos + 4 + alen]
        res["attributes"].append(atype)
        if atype in STUN_ATTR_NAMES and res[STUN_ATTR_NAMES[atype]] is None:
            res[STUN_ATTR_NAMES[atype]] = _stun_address(value, atype == STUN_ATTR_XOR_MAPPED,
                                                        txid)
        elif atype == STUN_ATTR_ERROR_CODE and len(value) >= 4:
            # (coturn counts NUL padding into the reason's length: stripped)
            res["error"] = [(value[2] & 7) * 100 + value[3],
                            value[4:].decode(errors="replace").rstrip("\0")]
        elif atype == STUN_ATTR_SOFTWARE:
            res["software"] = value.decode(errors="replace")
        pos += 4 + alen + (-alen % 4)
    return res


def stun_exchange(sock, server, port, change_ip=False, change_port=False, timeout=1.0):
    """One Binding transaction on sock (unconnected: the answer may come from anywhere, as a
    CHANGE-REQUEST's does): sent at once and again after 100, 200, 400 ms ... until a response
    with its transaction id arrives or timeout seconds pass.  Returns the parsed response plus
    "source" (where it came from) and "rtt" (seconds since the first send), or None."""
    txid = secrets.token_bytes(12)
    req = stun_binding_request(txid, change_ip, change_port)
    dest = (server, int(port))
    t0 = time.monotonic()
    deadline = t0 + float(timeout)
    wait, next_send = 0.1, t0
    while True:
        now = time.monotonic()
        if now >= deadline:
            return None
        if now >= next_send:
            try:
                sock.sendto(req, dest)
            except OSError:
                pass            # e.g. no route yet: try again on the next tick
            next_send = now + wait
            wait *= 2
        sock.settimeout(max(0.001, min(deadline, next_send) - time.monotonic()))
        try:
            data, peer = sock.recvfrom(65536)
        except socket.timeout:
            continue
        except OSError:
            continue            # ICMP errors from an earlier send
        res = stun_parse_response(data, txid)
        if res is not None:
            res["source"] = [str(ipaddress.ip_address(peer[0].split("%")[0])), peer[1]]
            res["rtt"] = time.monotonic() - t0
            return res


# --------------------------------------------------------------------------------------------
# helpers run inside lab namespaces: python3 pmlab.py helper NAME ARGS

def _helper_tcp_echo(port, lifetime, addr="0.0.0.0"):
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((addr, int(port)))
    srv.listen(16)
    print("READY", flush=True)
    deadline = time.monotonic() + float(lifetime)
    while time.monotonic() < deadline:
        srv.settimeout(max(0.1, deadline - time.monotonic()))
        try:
            conn, peer = srv.accept()
        except socket.timeout:
            break
        print(f"CONN {peer[0]} {peer[1]}", flush=True)
        with conn:
            conn.settimeout(5)
            try:
                while True:
                    data = conn.recv(4096)
                    if not data:
                        break
                    conn.sendall(data)
            except OSError:
                pass
    return 0


def _helper_tcp_probe(host, port, token, timeout):
    try:
        with socket.create_connection((host, int(port)), timeout=float(timeout)) as s:
            s.settimeout(float(timeout))
            s.sendall(token.encode() + b"\n")
            got = b""
            while len(got) < len(token) + 1:
                chunk = s.recv(4096)
                if not chunk:
                    break
                got += chunk
    except OSError as e:
        print(f"tcp probe {host}:{port}: {e}", file=sys.stderr)
        return 1
    if got.strip() != token.encode():
        print(f"tcp probe {host}:{port}: got {got!r}", file=sys.stderr)
        return 1
    return 0


def _helper_udp_echo(port, lifetime, addr="0.0.0.0"):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, int(port)))
    print("READY", flush=True)
    deadline = time.monotonic() + float(lifetime)
    while time.monotonic() < deadline:
        s.settimeout(max(0.1, deadline - time.monotonic()))
        try:
            data, peer = s.recvfrom(4096)
        except socket.timeout:
            break
        except OSError:
            continue
        print(f"DGRAM {peer[0]} {peer[1]}", flush=True)
        try:
            s.sendto(data, peer)
        except OSError:
            pass
    return 0


def _helper_udp_probe(host, port, token, timeout):
    """Send the token; resend with a fresh socket (fresh conntrack entry) and a doubling wait
    until an echo arrives or timeout passes.  ICMP port unreachable ends the probe at once."""
    deadline = time.monotonic() + float(timeout)
    wait = 0.2
    while time.monotonic() < deadline:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect((host, int(port)))
            try:
                s.send(token.encode())
                s.settimeout(max(0.01, min(wait, deadline - time.monotonic())))
                data = s.recv(4096)
                if data == token.encode():
                    return 0
                print(f"udp probe {host}:{port}: got {data!r}", file=sys.stderr)
            except socket.timeout:
                pass
            except ConnectionRefusedError as e:
                print(f"udp probe {host}:{port}: {e}", file=sys.stderr)
                return 1
        wait *= 2
    print(f"udp probe {host}:{port}: no echo within {timeout} s", file=sys.stderr)
    return 1


def _helper_natpmp():
    """stdin: {dest, port, src (null: any), payloads (hex), timeout, until, resend}.  Sends the
    payloads from one socket, collects replies from dest:port until `until` arrived or
    timeout seconds passed since the last send (resend: the single payload is sent again
    after 250 ms, 500 ms, ... while none came).  stdout: a JSON list of the replies (hex)."""
    spec = json.load(sys.stdin)
    dest = (spec["dest"], int(spec["port"]))
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((spec.get("src") or "0.0.0.0", 0))
    payloads = [bytes.fromhex(h) for h in spec["payloads"]]
    for p in payloads:
        s.sendto(p, dest)
    deadline = time.monotonic() + float(spec["timeout"])
    wait = 0.25
    next_send = time.monotonic() + wait
    replies = []
    while len(replies) < int(spec["until"]):
        now = time.monotonic()
        if now >= deadline:
            break
        limit = min(deadline, next_send) if spec.get("resend") and not replies else deadline
        s.settimeout(max(0.001, limit - now))
        try:
            data, peer = s.recvfrom(65536)
        except socket.timeout:
            if spec.get("resend") and not replies and time.monotonic() < deadline:
                for p in payloads:
                    s.sendto(p, dest)
                wait *= 2
                next_send = time.monotonic() + wait
            continue
        except ConnectionRefusedError:
            continue          # ICMP port unreachable from an earlier send: nothing listens
        if peer != dest:
            continue
        replies.append(data.hex())
    print(json.dumps(replies))
    return 0


def _helper_mcast_listen(group, port, ifaddr, count, timeout):
    """Bind group:port, join group on ifaddr, print READY then one JSON line per datagram."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    s.bind((group, int(port)))
    s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP,
                 socket.inet_aton(group) + socket.inet_aton(ifaddr))
    print("READY", flush=True)
    deadline = time.monotonic() + float(timeout)
    got = 0
    while got < int(count) and time.monotonic() < deadline:
        s.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            data, peer = s.recvfrom(4096)
        except socket.timeout:
            break
        got += 1
        print(json.dumps({"t_ns": time.time_ns(), "src": peer[0], "sport": peer[1],
                          "hex": data.hex()}), flush=True)
    return 0 if got >= int(count) else 1


def _helper_http(host, port, timeout):
    """stdin: a JSON list of {method, path, body (str | {"hex": ...} | null), headers}; sends
    them in order on one HTTP/1.1 connection (http.client opens a new one only if the server
    closed it); stdout: a JSON list of responses."""
    import http.client
    reqs = json.load(sys.stdin)
    conn = http.client.HTTPConnection(host, int(port), timeout=float(timeout))
    out = []
    try:
        for r in reqs:
            body = r.get("body")
            if isinstance(body, dict):
                body = bytes.fromhex(body["hex"])
            elif isinstance(body, str):
                body = body.encode()
            t0 = time.monotonic()
            conn.request(r["method"], r["path"], body=body, headers=r.get("headers") or {})
            local_port = conn.sock.getsockname()[1]
            resp = conn.getresponse()
            data = resp.read()
            text = data.decode(errors="replace")
            try:
                parsed = json.loads(text) if text else None
            except ValueError:
                parsed = None
            out.append({"status": resp.status, "reason": resp.reason,
                        "headers": {k.lower(): v for k, v in resp.getheaders()},
                        "body": text, "json": parsed, "local_port": local_port,
                        "elapsed": time.monotonic() - t0})
    finally:
        conn.close()
    print(json.dumps(out))
    return 0


def _helper_https(host, port, timeout):
    """stdin: {"cafile", "server_hostname" (null: host), "requests": [as for http]}; one TLS
    connection verified against cafile only and server_hostname (reconnects only if the server
    closed it); stdout: {"handshake": {ok, error, reason, version}, "responses": [...]}."""
    import http.client
    import ssl
    spec = json.load(sys.stdin)
    ctx = ssl.create_default_context(cafile=spec["cafile"])     # this CA only, no system roots
    name = spec.get("server_hostname") or host

    class Conn(http.client.HTTPConnection):
        def connect(self):
            sock = socket.create_connection((self.host, self.port), self.timeout)
            try:
                self.sock = ctx.wrap_socket(sock, server_hostname=name)
            except BaseException:
                sock.close()
                raise

    conn = Conn(host, int(port), timeout=float(timeout))
    res = {"handshake": {"ok": True, "error": None, "reason": None, "version": None},
           "responses": []}
    try:
        conn.connect()
        res["handshake"]["version"] = conn.sock.version()
    except ssl.SSLError as e:
        res["handshake"] = {"ok": False, "reason": e.reason, "version": None,
                            "error": getattr(e, "verify_message", None) or str(e)}
        print(json.dumps(res))
        return 0
    try:
        for r in spec["requests"]:
            body = r.get("body")
            if isinstance(body, dict):
                body = bytes.fromhex(body["hex"])
            elif isinstance(body, str):
                body = body.encode()
            t0 = time.monotonic()
            conn.request(r["method"], r["path"], body=body, headers=r.get("headers") or {})
            local_port = conn.sock.getsockname()[1]
            resp = conn.getresponse()
            data = resp.read()
            text = data.decode(errors="replace")
            try:
                parsed = json.loads(text) if text else None
            except ValueError:
                parsed = None
            res["responses"].append({"status": resp.status, "reason": resp.reason,
                                     "headers": {k.lower(): v for k, v in resp.getheaders()},
                                     "body": text, "json": parsed, "local_port": local_port,
                                     "elapsed": time.monotonic() - t0})
    finally:
        conn.close()
    print(json.dumps(res))
    return 0


def _helper_soup(timeout):
    """libsoup 3 (GnuTLS through glib-networking) with the TLS recipe of the pia provider
    (issue 10): on SoupMessage::network-event at G_SOCKET_CLIENT_TLS_HANDSHAKING the
    connection's database becomes a GTlsFileDatabase of "ca" only and, when "hostname" is
    set, its server identity that name; accept-certificate accepts nothing.  stdin: {"ca",
    "hostname" (null: none), "requests": [{"method", "url", "hostname" (optional: overrides
    the default for this request)}]}, sent in order on one session
    (kept-alive connections are reused); stdout: one {status, body, error, tls_errors} each."""
    import gi
    gi.require_version("Soup", "3.0")
    from gi.repository import Gio, GLib, Soup
    spec = json.load(sys.stdin)
    db = Gio.TlsFileDatabase.new(spec["ca"])
    session = Soup.Session(timeout=int(float(timeout)))
    out = []
    for r in spec["requests"]:
        msg = Soup.Message.new(r.get("method", "GET"), r["url"])
        hostname = r.get("hostname", spec.get("hostname"))
        seen = {}

        def event(m, ev, conn):
            if ev == Gio.SocketClientEvent.TLS_HANDSHAKING:
                conn.set_database(db)
                if hostname:
                    conn.set_server_identity(
                        Gio.NetworkAddress.new(hostname, m.get_uri().get_port()))

        def accept(m, cert, errors):
            seen["tls_errors"] = int(errors)
            return False

        msg.connect("network-event", event)
        msg.connect("accept-certificate", accept)
        res = {"status": None, "body": None, "error": None, "tls_errors": None}
        try:
            data = session.send_and_read(msg, None)
            res["status"] = msg.get_status()
            res["body"] = bytes(data.get_data()).decode(errors="replace")
        except GLib.Error as e:
            res["error"] = f"{e.domain}:{e.code}: {e.message}"
        res["tls_errors"] = seen.get("tls_errors")
        out.append(res)
    print(json.dumps(out))
    return 0


def _helper_stun():
    """stdin: {"family": 4 | 6, "local_port": N | null, "timeout", "requests": [{"server",
    "port", "change_ip", "change_port"}]}.  Every request in turn from one UDP socket (bound to
    local_port when given); stdout: a JSON list with, per request, stun_exchange's result plus
    "local" (the socket's [address, port] towards that server), or null (no answer)."""
    spec = json.load(sys.stdin)
    family = socket.AF_INET6 if int(spec["family"]) == 6 else socket.AF_INET
    s = socket.socket(family, socket.SOCK_DGRAM)
    s.bind(("::" if family == socket.AF_INET6 else "0.0.0.0", int(spec.get("local_port") or 0)))
    port = s.getsockname()[1]
    out = []
    for r in spec["requests"]:
        res = stun_exchange(s, r["server"], r["port"], r.get("change_ip", False),
                            r.get("change_port", False), spec["timeout"])
        if res is not None:
            with socket.socket(family, socket.SOCK_DGRAM) as probe:    # the source address
                probe.connect((r["server"], int(r["port"])))           # the kernel picks
                res["local"] = [probe.getsockname()[0], port]
        out.append(res)
    print(json.dumps(out))
    return 0


def _icmp_checksum(data):
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


def _helper_ping(host, count, timeout):
    """ICMP echo requests to host (IPv4, raw socket: root) one every 0.2 s until count replies
    came or timeout passed; stdout: JSON {"sent", "received", "rtt"}; exit 0 if all came."""
    count, timeout = int(count), float(timeout)
    ident = os.getpid() & 0xFFFF
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    sent, rtts = {}, []
    deadline = time.monotonic() + timeout
    next_send = time.monotonic()
    seq = 0
    while len(rtts) < count and time.monotonic() < deadline:
        now = time.monotonic()
        if now >= next_send:
            seq += 1
            payload = secrets.token_bytes(16)
            head = struct.pack("!BBHHH", 8, 0, 0, ident, seq)
            packet = struct.pack("!BBHHH", 8, 0, _icmp_checksum(head + payload), ident, seq)
            try:
                s.sendto(packet + payload, (host, 0))
            except OSError as e:              # no route yet: a later request may get through
                print(f"ping {host}: {e}", file=sys.stderr)
            sent[seq] = now
            next_send = now + 0.2
        s.settimeout(max(0.01, min(next_send, deadline) - time.monotonic()))
        try:
            data, peer = s.recvfrom(65536)
        except socket.timeout:
            continue
        ihl = (data[0] & 0x0F) * 4
        if peer[0] != host or len(data) < ihl + 8:
            continue
        typ, _, _, rid, rseq = struct.unpack("!BBHHH", data[ihl:ihl + 8])
        if typ == 0 and rid == ident and rseq in sent:
            rtts.append(time.monotonic() - sent.pop(rseq))
    print(json.dumps({"sent": seq, "received": len(rtts), "rtt": rtts}))
    return 0 if len(rtts) >= count else 1


HELPERS = {
    "ping": _helper_ping,
    "stun": _helper_stun,
    "http": _helper_http,
    "soup": _helper_soup,
    "https": _helper_https,
    "tcp-echo": _helper_tcp_echo,
    "tcp-probe": _helper_tcp_probe,
    "udp-echo": _helper_udp_echo,
    "udp-probe": _helper_udp_probe,
    "mcast-listen": _helper_mcast_listen,
    "natpmp": _helper_natpmp,
}


def _helper_main(argv):
    if not argv or argv[0] not in HELPERS:
        print(f"usage: pmlab.py helper {{{','.join(HELPERS)}}} ARGS...", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
    return HELPERS[argv[0]](*argv[1:])


if __name__ == "__main__":
    if len(sys.argv) >= 2 and sys.argv[1] == "helper":
        sys.exit(_helper_main(sys.argv[2:]))
    print(__doc__)
    sys.exit(2)
