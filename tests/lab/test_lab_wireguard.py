#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Tests of the lab's WireGuard support: wireguard-go (a real userspace peer) in lab namespaces,
its UAPI socket in the lab's private /run/wireguard (never the host's), peers through wg(8) and
through raw UAPI exchanges (update_only, as portmapd's updater uses it), a real tunnel from lan
to inet through gw's NAT, and teardown.

Runs as root; re-executes itself under `unshare --net --mount --pid`
(pmlab.reexec_in_private_netns).  Every test brings up a fresh lab.  Private keys are never
printed: assertions about them carry no message that could show them.
`test_lab_wireguard.py --list-tests` prints the test ids (used by meson).
"""

import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import unittest

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import pmlab  # noqa: E402
from pmlab import Lab  # noqa: E402

TOOLS = ("ip", "nft", "ss", "timeout", "unshare", "conntrack", "wireguard-go", "wg")


class TestLabWireGuard(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        missing = [t for t in TOOLS if not shutil.which(t)]
        assert not missing, f"missing tools: {missing}"
        assert os.geteuid() == 0, "the lab tests need root"
        assert os.environ.get("PMLAB_UNSHARED") == "1", \
            "call pmlab.reexec_in_private_netns() first"

    def lab(self, **kw):
        kw.setdefault("gateway", None)
        lab = Lab(**kw)
        self.addCleanup(self._down, lab)
        return lab.up()

    def _down(self, lab):
        outcome = getattr(self, "_outcome", None)
        if outcome is not None and not getattr(outcome, "success", True):
            lab.failed = True            # PMLAB_KEEP=1 keeps its workdir
        devs = [(d.pid, d.socket_path) for d in lab.wireguards if d.pid]
        lab.down()
        for pid, path in devs:
            self.assertFalse(pmlab.pid_alive(pid), f"wireguard-go {pid} survived down()")
            self.assertFalse(os.path.exists(path), f"{path} survived down()")

    def links(self, ns):
        return {link["ifname"]: link for link in lab_ip_json(ns, ["-d", "link", "show"])}

    def assert_no_private_key(self, text, dev, what):
        with open(dev.private_key_path) as f:
            priv = f.read().strip()
        # no message: a failure must not print the key
        self.assertTrue(priv not in text and pmlab.wg_key_hex(priv) not in text,
                        f"{what} shows {dev.ifname}'s private key")
        self.assertNotIn("private_key=", text, what)

    # --- start, sockets, sealing ---------------------------------------------------------------
    def test_starts_in_lan_with_its_socket_in_a_private_run_wireguard(self):
        lab = self.lab()
        dev = lab.start_wireguard_go()
        s = lab.suffix
        self.assertEqual((dev.ns, dev.ifname, dev.listen_port), (lab.ns_lan, f"pwg0-{s}", 51820))
        self.assertLessEqual(len(dev.ifname), 15)
        self.assertTrue(dev.alive())
        self.assertEqual(lab.run(None, ["ip", "netns", "identify", str(dev.pid)]).stdout.strip(),
                         lab.ns_lan)
        with open(f"/proc/{dev.pid}/comm") as f:
            self.assertEqual(f.read().strip(), "wireguard-go")
        # its TUN interface is in lan and nowhere else
        link = self.links(lab.ns_lan)[dev.ifname]
        self.assertEqual(link["linkinfo"]["info_kind"], "tun")
        self.assertIn("UP", link["flags"])
        for ns in (lab.ns_gw, lab.ns_inet, None):
            self.assertNotIn(dev.ifname, self.links(ns), ns)
        self.assertEqual(lab.wireguard_interfaces(lab.ns_lan), [dev.ifname])
        # it listens on 51820 in lan (IPv4 and IPv6), nowhere else
        ss = lab.run(lab.ns_lan, ["ss", "-H", "-uanp", "sport", "=", ":51820"]).stdout
        self.assertEqual(ss.count("wireguard-go"), 2, ss)
        self.assertEqual(lab.run(lab.ns_inet, ["ss", "-H", "-uan"]).stdout.strip(), "")
        # the socket: /var/run/wireguard/IF.sock, root only
        self.assertEqual(dev.socket_path, f"/var/run/wireguard/{dev.ifname}.sock")
        st = os.stat(dev.socket_path)
        self.assertTrue(stat.S_ISSOCK(st.st_mode))
        self.assertEqual((stat.S_IMODE(st.st_mode), st.st_uid), (0o700, 0))
        # ... in the lab's tmpfs on /run/wireguard, a mount of the test's own namespace
        self.assertTrue(dev.private_run)
        self.assertEqual(os.path.realpath("/var/run/wireguard"), "/run/wireguard")
        self.assertEqual(pmlab.mount_at("/run/wireguard"), ("tmpfs", pmlab.WG_MOUNT_SOURCE))
        self.assertNotEqual(os.stat("/run/wireguard").st_dev, os.stat("/run").st_dev)
        # ... not in the host's /run/wireguard (seen through the descriptor the re-exec passed)
        host = pmlab.host_run_wireguard()
        self.assertIsNotNone(host, "reexec_in_private_netns passes the host's /run")
        self.assertEqual(os.stat(os.path.dirname(host)).st_ino, os.stat("/run").st_ino)
        if os.path.exists(host):
            self.assertNotEqual(os.stat(host).st_dev, os.stat("/run/wireguard").st_dev)
            self.assertEqual(os.stat(host).st_dev, os.stat("/run").st_dev, "a plain directory")
            self.assertNotIn(f"{dev.ifname}.sock", os.listdir(host))
        print(f"\n{self.id()}: host /run/wireguard "
              f"{'holds ' + str(os.listdir(host)) if os.path.exists(host) else 'does not exist'}",
              flush=True)
        # wg finds it there
        self.assertEqual(lab.run(lab.ns_lan, ["wg", "show", "interfaces"]).stdout.split(),
                         [dev.ifname])
        # keys: files in the workdir, 0600; the public key is the private key's; nothing shows
        # the private key
        for path in (dev.private_key_path, dev.public_key_path):
            self.assertTrue(path.startswith(lab.workdir + os.sep), path)
            self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o600, path)
        self.assertEqual(stat.S_IMODE(os.stat(os.path.dirname(dev.private_key_path)).st_mode),
                         0o700)
        with open(dev.private_key_path) as f:
            pub = subprocess.run(["wg", "pubkey"], stdin=f, capture_output=True, text=True,
                                 check=True, timeout=10).stdout.strip()
        self.assertEqual(dev.public_key, pub)
        self.assertEqual(lab.run(lab.ns_lan, ["wg", "show", dev.ifname, "public-key"]).stdout
                         .strip(), pub)
        self.assert_no_private_key(dev.log(), dev, "its log")
        self.assert_no_private_key(repr(dev) + json.dumps(lab.state()), dev, "the lab's state")
        # a given private key and port, an address, a second device in the same namespace
        with open(dev.private_key_path) as f:
            key = f.read().strip()
        dev2 = lab.start_wireguard_go(listen_port=51821, private_key=pmlab.wg_key_hex(key),
                                      address=f"{lab.WG_LAN_ADDR}/24")
        self.assertEqual((dev2.ifname, dev2.listen_port, dev2.public_key),
                         (f"pwg1-{s}", 51821, dev.public_key))
        addrs = lab._ip_json(lab.ns_lan, ["addr", "show", "dev", dev2.ifname])[0]["addr_info"]
        self.assertIn((lab.WG_LAN_ADDR, 24), [(a["local"], a["prefixlen"]) for a in addrs])
        self.assertEqual(sorted(os.listdir("/run/wireguard")),
                         sorted([f"{dev.ifname}.sock", f"{dev2.ifname}.sock"]))
        # a random port when asked
        dev3 = lab.start_wireguard_go(ns=lab.ns_gw, listen_port=None)
        self.assertGreater(dev3.listen_port, 0)
        # sealed: the lab's wireguard interfaces are allowed by name, any other TUN is not
        lab.assert_sealed()
        other = f"pt9-{s}"
        lab.run(lab.ns_lan, ["ip", "tuntap", "add", "mode", "tun", "name", other])
        try:
            with self.assertRaisesRegex(AssertionError, rf"unexpected interface {other} "
                                                        r"\(kind tun\)"):
                lab.assert_sealed()
        finally:
            lab.run(lab.ns_lan, ["ip", "link", "del", other])
        lab.assert_sealed()
        # refused: a name without the lab's suffix, too long, a namespace outside the lab
        for bad in ("wg0", f"toolongname-{s}"):
            with self.assertRaises(ValueError):
                lab.start_wireguard_go(ifname=bad)
        with self.assertRaises(ValueError):
            lab.start_wireguard_go(ns="elsewhere")
        self.assertEqual(len(lab.wireguards), 3)

    # --- peers: wg and raw UAPI ----------------------------------------------------------------
    def test_peers_and_uapi_update_only(self):
        lab = self.lab()
        dev = lab.start_wireguard_go()
        self.assertEqual(dev.peers(), {})
        k1 = dev.add_peer(endpoint=f"{lab.INET_ADDR}:51821", allowed_ips=["192.168.79.10/32"])
        self.assertIn(k1, dev.peer_keys)
        self.assertEqual(stat.S_IMODE(os.stat(dev.peer_keys[k1]).st_mode), 0o600)
        other = subprocess.run(["wg", "genkey"], capture_output=True, text=True, check=True,
                               timeout=10).stdout
        k2 = subprocess.run(["wg", "pubkey"], input=other, capture_output=True, text=True,
                            check=True, timeout=10).stdout.strip()
        self.assertEqual(dev.add_peer(k2, allowed_ips="192.168.79.11/32,192.168.79.12/32"), k2)
        peers = dev.peers()
        self.assertEqual(set(peers), {k1, k2})
        self.assertEqual(peers[k1]["endpoint"], f"{lab.INET_ADDR}:51821")
        self.assertEqual(peers[k1]["allowed_ips"], ["192.168.79.10/32"])
        self.assertEqual(peers[k1]["latest_handshake"], 0)
        self.assertIsNone(peers[k2]["endpoint"])
        self.assertEqual(peers[k2]["allowed_ips"], ["192.168.79.11/32", "192.168.79.12/32"])
        self.assertEqual(dev.endpoint_of(k1), f"{lab.INET_ADDR}:51821")
        self.assertEqual(dev.endpoint_of(pmlab.wg_key_hex(k1)), f"{lab.INET_ADDR}:51821")
        self.assertIsNone(dev.endpoint_of(k2))
        unknown = pmlab.wg_key_b64(bytes(range(32)).hex())
        self.assertIsNone(dev.endpoint_of(unknown))
        # UAPI get=1 through the socket: the peers in hex, no private key in the reply
        reply = dev.uapi("get=1")
        self.assertTrue(reply.endswith("errno=0\n\n"), reply)
        self.assertEqual(dev.uapi_errno(reply), 0)
        self.assertIn("listen_port=51820\n", reply)
        self.assertIn(f"public_key={pmlab.wg_key_hex(k1)}\n", reply)
        self.assertIn(f"public_key={pmlab.wg_key_hex(k2)}\n", reply)
        self.assertIn(f"endpoint={lab.INET_ADDR}:51821\n", reply)
        self.assertIn("allowed_ip=192.168.79.10/32\n", reply)
        self.assert_no_private_key(reply, dev, "uapi('get=1')")
        # (the raw reply does have it: the filter is what removes it)
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(5)
            sock.connect(dev.socket_path)
            sock.sendall(b"get=1\n\n")
            raw = b""
            while not raw.endswith(b"errno=0\n\n"):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                raw += chunk
        self.assertTrue(raw.startswith(b"private_key="), "the raw get=1 reply starts with the key")
        del raw
        # set=1 with update_only=true and endpoint=: wg show sees the new endpoint
        reply = dev.uapi(f"set=1\npublic_key={pmlab.wg_key_hex(k1)}\nupdate_only=true\n"
                         f"endpoint={lab.GW_WAN_ADDR}:40000\n")
        self.assertEqual(reply, "errno=0\n\n")
        self.assertEqual(dev.endpoint_of(k1), f"{lab.GW_WAN_ADDR}:40000")
        endpoints = lab.run(lab.ns_lan, ["wg", "show", dev.ifname, "endpoints"]).stdout
        self.assertIn(f"{k1}\t{lab.GW_WAN_ADDR}:40000", endpoints)
        self.assertEqual(dev.peers()[k1]["allowed_ips"], ["192.168.79.10/32"], "untouched")
        reply = dev.uapi(f"set=1\npublic_key={pmlab.wg_key_hex(k2)}\nupdate_only=true\n"
                         f"endpoint=[fd11::1]:51820\n")
        self.assertEqual(reply, "errno=0\n\n")
        self.assertEqual(dev.endpoint_of(k2), "[fd11::1]:51820")
        # update_only for a key it does not have: no peer appears
        reply = dev.uapi(f"set=1\npublic_key={pmlab.wg_key_hex(unknown)}\nupdate_only=true\n"
                         f"endpoint={lab.INET_ADDR}:9\n")
        self.assertEqual(dev.uapi_errno(reply), 0, reply)
        self.assertEqual(set(dev.peers()), {k1, k2})
        self.assertNotIn(pmlab.wg_key_hex(unknown), dev.uapi("get=1"))
        # ... while without update_only the same request creates it
        dev.uapi(f"set=1\npublic_key={pmlab.wg_key_hex(unknown)}\n"
                 f"endpoint={lab.INET_ADDR}:9\n")
        self.assertEqual(dev.endpoint_of(unknown), f"{lab.INET_ADDR}:9")
        # a malformed request gets an errno, and the device still answers
        self.assertNotEqual(dev.uapi_errno(dev.uapi("set=1\nendpoint=1.2.3.4:5\n")), 0)
        self.assertEqual(dev.uapi_errno(dev.uapi("get=1")), 0)
        # remove_peer
        dev.remove_peer(unknown)
        dev.remove_peer(k2)
        self.assertEqual(set(dev.peers()), {k1})
        dev.remove_peer(k2)                      # again: no error
        self.assertIn("UAPI: Updating endpoint", dev.log())
        self.assert_no_private_key(dev.log(), dev, "its log")
        with self.assertRaises(ValueError):
            dev.add_peer("not a key")

    # --- a real tunnel through gw's NAT --------------------------------------------------------
    def test_tunnel_from_lan_to_inet_through_the_nat(self):
        lab = self.lab()
        a = lab.start_wireguard_go(address=f"{lab.WG_LAN_ADDR}/24")
        b = lab.start_wireguard_go(ns=lab.ns_inet, address=f"{lab.WG_INET_ADDR}/24")
        self.assertEqual((a.listen_port, b.listen_port), (51820, 51820))
        a.add_peer(b.public_key, endpoint=(lab.INET_ADDR, b.listen_port),
                   allowed_ips=f"{lab.WG_INET_ADDR}/32")
        b.add_peer(a.public_key, endpoint=(lab.GW_WAN_ADDR, a.listen_port),
                   allowed_ips=f"{lab.WG_LAN_ADDR}/32")
        lab.assert_sealed()
        self.assertEqual(a.latest_handshake(b.public_key), 0)
        r = lab.ping(lab.ns_lan, lab.WG_INET_ADDR, count=3, timeout=15)
        print(f"\n{self.id()}: ping lan -> inet over the tunnel: {r}", flush=True)
        self.assertEqual(r["received"], 3, r)
        self.assertGreater(a.latest_handshake(b.public_key), 0)
        self.assertGreater(b.latest_handshake(a.public_key), 0)
        # inet saw lan's handshake from gw's WAN address (masquerade), the flow is in gw's
        # conntrack table, NATed
        ep = b.endpoint_of(a.public_key)
        self.assertTrue(ep.startswith(f"{lab.GW_WAN_ADDR}:"), ep)
        ct = lab.run(lab.ns_gw, ["conntrack", "-L", "-p", "udp", "--orig-src", lab.LAN_ADDR,
                                 "--orig-dst", lab.INET_ADDR, "--orig-port-dst", "51820"],
                     check=False)
        self.assertIn(f"src={lab.LAN_ADDR} dst={lab.INET_ADDR} sport=51820 dport=51820", ct.stdout,
                      ct.stdout + ct.stderr)
        self.assertIn(f"src={lab.INET_ADDR} dst={lab.GW_WAN_ADDR} sport=51820 "
                      f"dport={ep.rsplit(':', 1)[1]}", ct.stdout)
        # the other way too, and data (UDP) from inet to a listener on lan's tunnel address
        r = lab.ping(lab.ns_inet, lab.WG_LAN_ADDR, count=2, timeout=10)
        self.assertEqual(r["received"], 2, r)
        self.assertTrue(lab.udp_reachable(7100, 7100, dest=lab.WG_LAN_ADDR, src_ns=lab.ns_inet,
                                          listen_ns=lab.ns_lan, lan_addr=lab.WG_LAN_ADDR),
                        lab.last_probe.stderr)
        peers = a.peers()
        self.assertGreater(peers[b.public_key]["transfer_rx"], 0)
        self.assertGreater(peers[b.public_key]["transfer_tx"], 0)
        # without the tunnel: the tunnel address is not reachable
        lab.stop_wireguard_go(b)
        r = lab.ping(lab.ns_lan, lab.WG_INET_ADDR, count=1, timeout=1)
        self.assertEqual(r["received"], 0, r)
        lab.assert_sealed()

    # --- teardown ------------------------------------------------------------------------------
    def test_stop_and_down_leave_nothing(self):
        lab = self.lab()
        a = lab.start_wireguard_go()
        b = lab.start_wireguard_go(ns=lab.ns_inet, address=f"{lab.WG_INET_ADDR}/24")
        c = lab.start_wireguard_go(ns=lab.ns_gw)
        pid_a = a.pid
        lab.stop_wireguard_go(a)
        self.assertFalse(pmlab.pid_alive(pid_a))
        self.assertIsNone(a.pid)
        self.assertFalse(os.path.exists(a.socket_path))
        self.assertNotIn(a.ifname, self.links(lab.ns_lan))
        self.assertNotIn(pid_a, [t.pid for t in lab.tracked()])
        self.assertEqual(lab.wireguards, [b, c])
        self.assertTrue(b.alive() and c.alive())
        self.assertIn("Device closing", a.log())
        lab.stop_wireguard_go(a)                   # again: nothing to do
        lab.assert_sealed()
        # killed hard: the process and interface go, the stale socket stays until down()
        pid_c = c.pid
        os.kill(pid_c, signal.SIGKILL)
        pmlab.wait_for(lambda: not pmlab.pid_alive(pid_c), 5)
        pmlab.wait_for(lambda: c.ifname not in self.links(lab.ns_gw), 5)
        self.assertTrue(os.path.exists(c.socket_path))
        pid_b = b.pid
        sockets = [b.socket_path, c.socket_path]
        workdir = lab.workdir
        namespaces = list(lab.namespaces)
        lab.down()
        self.assertFalse(pmlab.pid_alive(pid_b))
        for path in sockets:
            self.assertFalse(os.path.exists(path), path)
        self.assertEqual([n for n in os.listdir("/run/wireguard") if lab.suffix in n], [])
        self.assertEqual(lab.wireguards, [])
        self.assertFalse(os.path.exists(workdir), "keys and logs went with the workdir")
        for ns in namespaces:
            self.assertFalse(os.path.exists(os.path.join(pmlab.RUN_NETNS, ns)), ns)
        self.assertEqual(list(self.links(None)), ["lo"])
        host = pmlab.host_run_wireguard()
        if host and os.path.exists(host):
            self.assertEqual([n for n in os.listdir(host) if lab.suffix in n], [])
        lab.down()                                 # idempotent


def lab_ip_json(ns, args):
    argv = ["ip", "-j", *(["-n", ns] if ns else []), *args]
    out = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=10).stdout
    return json.loads(out) if out.strip() else []


if __name__ == "__main__":
    pmlab.run_tests(TestLabWireGuard)
