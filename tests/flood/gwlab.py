# SPDX-License-Identifier: GPL-2.0-or-later
"""The LAN NAT-PMP server (issue 12) in the lab: what bench/run's natpmpserver benchmark and
the flood test (tests/flood/test_flood.py) share.

Where things sit is a parameter (GatewayLab.server_ns, .server_addr, .client_ns, ...):

- topology "double" (pmlab.Lab(topology="double")): clients in lan (192.168.77.2 and
  192.168.77.3), the server under test in router on its LAN address 192.168.77.1, portmapd's
  upstream the lab's miniupnpd in gw at 10.2.0.1;
- topology "single" (today's lab, the fallback while pmlab has no double topology): clients
  in lan, the server under test in gw on 192.168.77.1, portmapd's upstream the lab's scripted
  fake NAT-PMP gateway in inet on 11.0.0.1 (the lab's own miniupnpd is not started: the
  server position is gw's 192.168.77.1:5351).

The servers under test take the same place (server_ns, server_addr:5351) one after the
other, each stopped before the next starts: a miniupnpd of our own, portmapd. The reference
one-core UDP echo (bench/udp-echo) can run beside them on another port of the same address.
Every process is tracked by the lab and stopped by PID.
"""

import inspect
import ipaddress
import json
import os
import re
import subprocess
import threading
import time
import uuid

import pmlab

SERVER_ADDR = "192.168.77.1"
CLIENT_ADDR = "192.168.77.2"
CLIENT2_ADDR = "192.168.77.3"
LAN_NET = "192.168.77.0/24"
DOUBLE_UPSTREAM = "10.2.0.1"
NATPMP_PORT = 5351
# miniupnpd 2.3.1 refuses to forward with a reserved external address (natpmp.md 5.1): in
# the router, whose upstream side is 10.2.0.2, it is given this one (ext_ip=) instead
MINIUPNPD_EXT_IP = "11.0.0.2"
MINIUPNPD_CHAINS = ("miniupnpd", "prerouting_miniupnpd", "postrouting_miniupnpd")
RESERVED = [ipaddress.ip_network(n) for n in
            ("0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
             "172.16.0.0/12", "192.0.0.0/24", "192.0.2.0/24", "192.168.0.0/16",
             "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/3")]


def has_double_topology():
    return "topology" in inspect.signature(pmlab.Lab.__init__).parameters


def cpus(mode="split"):
    """(server CPU, client CPU), None where not pinned. "split": the server under test on
    CPU 0, the load generator on CPU 1 (no pinning on a single CPU); "shared": both on CPU
    0; "none": neither pinned.  Split, the server has a core of its own (W=64 measures the
    server), but every answer at W=1 is a wake-up across CPUs, whose cost depends on what
    else the other CPU runs (bench/README.md, benchmark 13)."""
    n = os.cpu_count() or 1
    if mode == "none" or (mode == "split" and n < 2):
        return (None, None)
    return (0, 1) if mode == "split" else (0, 0)


def gateway_config(upstream, extra=""):
    """portmapd's configuration as a LAN gateway (the contract of issue 12)."""
    return (f"[Provider vpn]\nType=natpmp\nGateway={upstream}\n"
            f"[Gateway]\nListen={SERVER_ADDR}\nAllowedNetworks={LAN_NET}\nUpstream=vpn\n"
            f"Router=nftables\n{extra}")


def read_ready(proc, what, timeout=10):
    """The 'READY ADDRESS PORT PID' line a helper prints once it listens."""
    box = {}
    t = threading.Thread(target=lambda: box.update(line=proc.stdout.readline()), daemon=True)
    t.start()
    t.join(timeout)
    line = (box.get("line") or "").split()
    if not line or line[0] != "READY":
        raise AssertionError(f"{what} did not start: {box.get('line')!r}")
    return int(line[2])


def vmrss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError(f"no VmRSS for {pid}")


class GatewayLab:
    """A lab with a LAN NAT-PMP server position. topology: "double", "single" or "auto"
    (double if pmlab has it)."""

    def __init__(self, topology="auto", upstream_fake_options=None):
        if topology == "auto":
            topology = "double" if has_double_topology() else "single"
        if topology == "double" and not has_double_topology():
            raise AssertionError("pmlab.Lab has no topology=\"double\" yet")
        self.topology = topology
        self.upstream_fake_options = upstream_fake_options or {}
        if topology == "double":
            self.lab = pmlab.Lab(gateway="miniupnpd", topology="double")
        else:
            self.lab = pmlab.Lab(gateway=None)
        self.miniupnpd = None           # our miniupnpd in the server position: Tracked
        self._made_nft_table = False
        self._made_chains = []
        self._upstream_started = False

    # --- bring-up ------------------------------------------------------------------------
    def up(self):
        lab = self.lab
        lab.up()
        try:
            self.workdir = lab.workdir
            self.client_ns = lab.ns_lan
            if self.topology == "double":
                self.server_ns = lab.ns_router
                self.upstream = getattr(lab, "upstream_gateway", DOUBLE_UPSTREAM)
            else:
                self.server_ns = lab.ns_gw
                self.upstream = lab.INET_ADDR
            self.server_addr = SERVER_ADDR
            self.client_addr, self.client2_addr = CLIENT_ADDR, CLIENT2_ADDR
            self.lan_if = self.iface_with(self.server_ns, SERVER_ADDR)
            self.ext_if, self.ext_addr = self.default_iface(self.server_ns)
            self.client_if = self.iface_with(self.client_ns, CLIENT_ADDR)
            try:
                self.iface_with(self.client_ns, CLIENT2_ADDR)
            except AssertionError:
                lab.add_address(self.client_ns, self.client_if, f"{CLIENT2_ADDR}/24")
        except BaseException:
            self.down()
            raise
        return self

    def down(self):
        self.lab.down()

    def __enter__(self):
        return self.up()

    def __exit__(self, exc_type, *rest):
        if exc_type is not None:
            self.lab.failed = True
        self.down()
        return False

    def _addrs(self, ns):
        out = self.lab.run(None, ["ip", "-j", "-n", ns, "-4", "addr"]).stdout
        return json.loads(out) if out.strip() else []

    def iface_with(self, ns, addr):
        for link in self._addrs(ns):
            if any(a.get("local") == addr for a in link.get("addr_info", [])):
                return link["ifname"]
        raise AssertionError(f"no interface holds {addr} in {ns}")

    def default_iface(self, ns):
        out = self.lab.run(None, ["ip", "-j", "-n", ns, "-4", "route", "show", "default"]).stdout
        routes = json.loads(out) if out.strip() else []
        if not routes:
            raise AssertionError(f"{ns} has no default route")
        dev = routes[0]["dev"]
        for link in self._addrs(ns):
            if link["ifname"] == dev:
                return dev, link["addr_info"][0]["local"]
        raise AssertionError(f"{dev} has no address in {ns}")

    def start_upstream(self):
        """portmapd's upstream NAT-PMP gateway: the lab's miniupnpd in the double topology
        (already running), the fake gateway in inet in the single one."""
        if self.topology == "double" or self._upstream_started:
            return
        opts = {"nft": False, "port_min": 1024, "port_max": 65535}
        opts.update(self.upstream_fake_options)
        self.lab.start_fake_gateway(ns=self.lab.ns_inet,
                                    listen=f"{self.lab.INET_ADDR}:{NATPMP_PORT}", **opts)
        self._upstream_started = True

    def reset_after_portmapd(self):
        """Between two portmapd starts: what the last one left behind goes, so the next
        starts as the first did: its router table (`portmap`, the nftables backend's default
        NftTable=, whichever family) and, in the double topology, its mappings at the
        upstream miniupnpd (a reboot: stop, flush, leases gone, start)."""
        out = self._nft("-j", "list", "tables").stdout
        for item in json.loads(out).get("nftables", []) if out.strip() else []:
            table = item.get("table")
            if table and table.get("name") == "portmap":
                self._nft("delete", "table", table["family"], "portmap", check=False)
        if self.topology == "double":
            self.lab.reboot_miniupnpd()

    # --- processes in the server position ---------------------------------------------------
    def udp_listeners(self, port=NATPMP_PORT):
        """PIDs owning a UDP socket bound to server_addr:port in the server namespace."""
        out = self.lab.run(self.server_ns, ["ss", "-H", "-u", "-l", "-n", "-p"]).stdout
        pids = set()
        for line in out.splitlines():
            if f" {self.server_addr}:{port} " in f" {line} ":
                pids.update(int(p) for p in re.findall(r"pid=(\d+)", line))
        return pids

    def assert_position_free(self, port=NATPMP_PORT):
        pids = self.udp_listeners(port)
        if pids:
            raise AssertionError(f"{self.server_addr}:{port} in {self.server_ns} is "
                                 f"held by {sorted(pids)}")

    def start_echo(self, udp_echo, cpu=None, port=NATPMP_PORT):
        """bench/udp-echo on server_addr:port (another port than 5351: it can run beside the
        server under test, so that their runs alternate)."""
        self.assert_position_free(port)
        argv = [udp_echo, "--listen", f"{self.server_addr}:{port}",
                "--cpu", str(-1 if cpu is None else cpu)]
        p = self.lab.spawn(self.server_ns, argv, name="udp-echo", stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL, text=True)
        read_ready(p, "udp-echo")
        return p

    def _nft(self, *args, check=True):
        return self.lab.run(self.server_ns, ["nft", *args], check=check)

    def start_miniupnpd(self, cpu=None):
        """miniupnpd 2.3.1 in the server position: listening on the server namespace's LAN
        interface, its external interface the namespace's default route (ext_ip= a
        non-reserved address if that one is reserved), the lab's allow rules.  Its nftables
        chains are created if missing (and removed again by stop_miniupnpd(), with the table
        if we made it).  Started without -d (daemon mode, as measured in natpmp.md section 4)."""
        self.assert_position_free()
        if self._nft("list", "table", "inet", "filter", check=False).returncode != 0:
            self._made_nft_table = True
        self._nft("add", "table", "inet", "filter")
        self._made_chains = []
        for chain in MINIUPNPD_CHAINS:
            if self._nft("list", "chain", "inet", "filter", chain, check=False).returncode:
                self._nft("add", "chain", "inet", "filter", chain)
                self._made_chains.append(chain)
        conf = os.path.join(self.workdir, "server-miniupnpd.conf")
        pidfile = os.path.join(self.workdir, "server-miniupnpd.pid")
        leases = os.path.join(self.workdir, "server-miniupnpd.leases")
        reserved = any(ipaddress.ip_address(self.ext_addr) in n for n in RESERVED)
        with open(conf, "w") as f:
            f.write(f"ext_ifname={self.ext_if}\n"
                    + (f"ext_ip={MINIUPNPD_EXT_IP}\n" if reserved else "")
                    + f"listening_ip={self.lan_if}\nenable_natpmp=yes\nenable_upnp=no\n"
                    f"secure_mode=yes\nuuid={uuid.uuid4()}\nlease_file={leases}\n"
                    f"min_lifetime=120\nmax_lifetime=86400\n"
                    f"allow 1024-65535 {LAN_NET} 1024-65535\ndeny 0-65535 0.0.0.0/0 0-65535\n")
        for path in (pidfile, leases):
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
        argv = ["miniupnpd", "-f", conf, "-4", "-P", pidfile]
        if cpu is not None:
            argv = ["taskset", "-c", str(cpu)] + argv
        cp = self.lab.run(self.server_ns, argv, check=False)
        if cp.returncode != 0:
            raise AssertionError(f"miniupnpd did not start ({cp.returncode}): {cp.stderr}")

        def read_pid():
            try:
                with open(pidfile) as f:
                    text = f.read().strip()
                return int(text) if text else None
            except (FileNotFoundError, ValueError):
                return None

        pid = pmlab.wait_for(read_pid, 10, message="miniupnpd wrote no pidfile")
        self.miniupnpd = self.lab.track("miniupnpd-server", pid, self.server_ns)
        pmlab.wait_for(lambda: not self.miniupnpd.alive() or pid in self.udp_listeners(), 10,
                       message=f"miniupnpd does not listen on {self.server_addr}:5351")
        if not self.miniupnpd.alive():
            raise AssertionError(f"miniupnpd exited at start: {cp.stderr.strip()}")
        return pid

    def stop_miniupnpd(self):
        if self.miniupnpd is None:
            return
        pid, self.miniupnpd = self.miniupnpd.pid, None
        self.lab.stop_process(pid)
        for chain in MINIUPNPD_CHAINS:
            self._nft("flush", "chain", "inet", "filter", chain, check=False)
        for chain in self._made_chains:     # what we added to someone else's table
            self._nft("delete", "chain", "inet", "filter", chain, check=False)
        self._made_chains = []
        if self._made_nft_table:
            self._nft("delete", "table", "inet", "filter", check=False)
            self._made_nft_table = False

    def start_portmapd(self, portmapd, config, workdir, bus_address=None, log_level="info",
                       prefix=(), name="portmapd"):
        """portmapd in the server namespace with @config; on the private bus @bus_address
        (else --no-bus).  Returns the Popen (`ip netns exec` execs: the same PID)."""
        self.assert_position_free()
        path = os.path.join(workdir, "portmapd.conf")
        with open(path, "w") as f:
            f.write(config)
        state = os.path.join(workdir, "state")
        os.makedirs(state, exist_ok=True)
        argv = [*prefix, portmapd, "--config", path, "--state-dir", state,
                "--log-level", log_level]
        env = dict(os.environ)
        # meson test sets MALLOC_PERTURB_, which makes glibc fill every allocation and free:
        # libnftables' 128 KiB buffers then cost milliseconds per rule (measured: the flood's
        # p99 15-17 ms with it, 0.2-0.3 ms without). Timings are of portmapd as it runs.
        env.pop("MALLOC_PERTURB_", None)
        if bus_address:
            env["DBUS_SYSTEM_BUS_ADDRESS"] = bus_address
        else:
            argv += ["--no-bus", "--runtime-dir", os.path.join(workdir, "run")]
        self.portmapd_log = os.path.join(workdir, "portmapd.log")
        with open(self.portmapd_log, "a") as logf:
            p = self.lab.spawn(self.server_ns, argv, name=name, env=env, stdout=logf,
                               stderr=subprocess.STDOUT)
        return p

    def portmapd_log_tail(self, n=3000):
        try:
            with open(self.portmapd_log) as f:
                return f.read()[-n:]
        except (OSError, AttributeError):
            return ""

    # --- the load generator --------------------------------------------------------------------
    def load(self, natpmp_load, *args, bind=None, cpu=None, timeout=60, port=NATPMP_PORT):
        """Run natpmp-load in the client namespace against the server position; its JSON."""
        argv = [natpmp_load, "--dest", f"{self.server_addr}:{port}", *map(str, args)]
        if bind:
            argv += ["--bind", bind]
        if cpu is not None:
            argv += ["--cpu", str(cpu)]
        cp = self.lab.run(self.client_ns, argv, timeout=timeout, check=False)
        if cp.returncode != 0 or not cp.stdout.strip():
            raise AssertionError(f"natpmp-load {' '.join(map(str, args))} exited "
                                 f"{cp.returncode}: {cp.stderr.strip()}")
        return json.loads(cp.stdout.strip().splitlines()[-1])

    def spawn_load(self, natpmp_load, *args, bind=None, cpu=None):
        """natpmp-load in the background; finish_load() reads its JSON."""
        argv = [natpmp_load, "--dest", f"{self.server_addr}:{NATPMP_PORT}", *map(str, args)]
        if bind:
            argv += ["--bind", bind]
        if cpu is not None:
            argv += ["--cpu", str(cpu)]
        return self.lab.spawn(self.client_ns, argv, name="natpmp-load",
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def finish_load(self, proc, timeout=120):
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.lab.stop_process(proc)
            raise AssertionError("natpmp-load did not finish") from None
        self.lab.untrack(proc.pid)
        if proc.returncode != 0 or not out.strip():
            raise AssertionError(f"natpmp-load exited {proc.returncode}: {err.strip()}")
        return json.loads(out.strip().splitlines()[-1])

    def wait_answers(self, natpmp_load, timeout=20, alive=None, bind=None, port=NATPMP_PORT):
        """Poll with single opcode-0 requests until one is answered with result 0 (the
        server listens and, for portmapd, knows the upstream's public address)."""
        deadline = time.monotonic() + timeout
        while True:
            if alive is not None:
                alive()         # raises if the server is gone
            last = self.load(natpmp_load, "--op", "0", "--count", "1", "--timeout", "250",
                             bind=bind, timeout=10, port=port)
            if last.get("results", {}).get("0") == 1:
                return
            if time.monotonic() > deadline:
                why = ("ICMP port unreachable: nothing listens" if last.get("icmp_errors")
                       else f"results {last.get('results')}, lost {last.get('lost')}")
                raise AssertionError(f"no opcode-0 answer with result 0 from "
                                     f"{self.server_addr} within {timeout} s ({why})")
            time.sleep(0.2)

    # --- the router's rules ---------------------------------------------------------------------
    def portmap_rules(self):
        """The router rules portmapd's nftables backend holds in the server namespace, from
        their comments "portmap:INSTANCE:PROTO:T:CLIENT:PORT": a set of (instance, protocol,
        T, client, port), whichever table and chain they are in."""
        cp = self._nft("-j", "list", "ruleset")
        rules = set()
        for item in json.loads(cp.stdout).get("nftables", []):
            comment = (item.get("rule") or {}).get("comment") or ""
            parts = comment.split(":")
            if len(parts) == 6 and parts[0] == "portmap":
                rules.add((parts[1], parts[2], parts[3], parts[4], parts[5]))
        return rules


def settle(pid, quiet=1.0, timeout=30.0):
    """Wait until @pid used no CPU for @quiet seconds (schedstat); False on timeout."""
    def read():
        total = 0
        for tid in os.listdir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                    total += int(f.read().split()[0])
            except (OSError, ValueError, IndexError):
                pass
        return total

    deadline = time.monotonic() + timeout
    last, since = read(), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.1)
        now = read()
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return True
    return False
