#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Tests of the fake RouterOS router (fake-routeros, fakeros.py) itself, in the lab.

Runs as root; re-executes itself under `unshare --net --mount --pid`
(pmlab.reexec_in_private_netns).  Every test brings up a fresh double-topology lab (no NAT-PMP
gateway: RouterOS needs none) and starts the fake in the router, where portmapd's MikroTik
backend will find it.  Clients run inside lab namespaces: Debian's python3-librouteros (the proof
that the fake speaks the real protocol) and a raw client with a codec of its own written here
(to see every reply word, tags and closed connections):

    test_fake_routeros.py --librouteros   JSON {host, port, user, password, tls, login, code}
                                          on stdin; code runs with `api` (a librouteros
                                          connection), Key/And/Or and `out` (a dict, printed
                                          as JSON)
    test_fake_routeros.py --raw-client    JSON {host, port, login: [user, password] | null,
                                          raw: hex sent first, sentences: [[words]], dones: N,
                                          timeout; "wait" in sentences: read one reply
                                          sentence first} on stdin; prints {"login", "replies",
                                          "closed", "timeout", "elapsed"}

`test_fake_routeros.py --list-tests` prints the test ids (used by meson).
"""

import hashlib
import json
import os
import shutil
import socket
import ssl
import sys
import time
import unittest

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import pmlab  # noqa: E402
from pmlab import Lab, wait_for  # noqa: E402

THIS = os.path.abspath(__file__)
TOOLS = ("ip", "nft", "ss", "timeout", "unshare", "sysctl")
ANON_CIPHERS = "ADH-AES256-GCM-SHA384:@SECLEVEL=0"
IDENTITY = "out['x'] = list(api.path('/system/identity'))"     # librouteros code: a print


# --- a minimal RouterOS API codec of the test's own (not fakeros.py's) ------------------------

def enc_len(n):
    for limit, size, mark in ((0x80, 1, 0), (0x4000, 2, 0x8000), (0x200000, 3, 0xC00000),
                              (0x10000000, 4, 0xE0000000)):
        if n < limit:
            return (n | mark).to_bytes(size, "big")
    return b"\xf0" + n.to_bytes(4, "big")


def enc_sentence(words):
    return b"".join(enc_len(len(w.encode())) + w.encode() for w in words) + b"\0"


def _recv_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise EOFError
        buf += chunk
    return buf


def read_sentence(sock):
    words = []
    while True:
        b = _recv_exact(sock, 1)[0]
        if b < 0x80:
            n = b
        elif b < 0xC0:
            n = int.from_bytes(bytes([b & 0x3F]) + _recv_exact(sock, 1), "big")
        elif b < 0xE0:
            n = int.from_bytes(bytes([b & 0x1F]) + _recv_exact(sock, 2), "big")
        elif b < 0xF0:
            n = int.from_bytes(bytes([b & 0x0F]) + _recv_exact(sock, 3), "big")
        else:
            n = int.from_bytes(_recv_exact(sock, 4), "big")
        if n == 0:
            return words
        words.append(_recv_exact(sock, n).decode())


def raw_client(spec):
    out = {"login": [], "replies": [], "closed": False, "timeout": False}
    t0 = time.monotonic()
    sock = socket.create_connection((spec["host"], spec["port"]), timeout=spec.get("timeout", 5))
    try:
        if spec.get("login"):
            user, password = spec["login"]
            sock.sendall(enc_sentence(["/login", f"=name={user}", f"=password={password}"]))
            while True:
                s = read_sentence(sock)
                out["login"].append(s)
                if s[0] in ("!done", "!fatal"):
                    break
        if spec.get("raw"):
            sock.sendall(bytes.fromhex(spec["raw"]))
        dones = spec.get("dones", len([w for w in spec.get("sentences", []) if w != "wait"]))
        for words in spec.get("sentences", []):
            if words == "wait":         # one reply sentence before the next command
                s = read_sentence(sock)
                out["replies"].append(s)
                dones -= s[0] == "!done"
                continue
            sock.sendall(enc_sentence(words))
        while dones > 0:
            s = read_sentence(sock)
            out["replies"].append(s)
            if s and s[0] == "!done":
                dones -= 1
    except EOFError:
        out["closed"] = True
    except socket.timeout:
        out["timeout"] = True
    except ConnectionError:
        out["closed"] = True
    finally:
        sock.close()
    out["elapsed"] = time.monotonic() - t0
    return out


def librouteros_client(spec):
    import librouteros
    from librouteros.login import plain, token
    from librouteros.query import And, Key, Or
    kw = {"port": spec["port"], "timeout": 10,
          "login_method": token if spec.get("login") == "token" else plain}
    tls = spec.get("tls")
    peer = {}
    if tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        if tls == "anon":
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            ctx.maximum_version = ssl.TLSVersion.TLSv1_2
            ctx.set_ciphers(ANON_CIPHERS)
            server_hostname = None
        else:
            ctx.load_verify_locations(tls["ca"])
            server_hostname = tls.get("server_hostname", spec["host"])

        def wrap(sock):
            s = ctx.wrap_socket(sock, server_hostname=server_hostname)
            der = s.getpeercert(binary_form=True)
            peer["fingerprint"] = hashlib.sha256(der).hexdigest() if der else None
            peer["cipher"] = s.cipher()[0]
            peer["version"] = s.version()
            return s
        kw["ssl_wrapper"] = wrap
    out = {}
    try:
        api = librouteros.connect(spec["host"], spec["user"], spec["password"], **kw)
        out["peer"] = peer
        exec(spec.get("code", ""), {"api": api, "librouteros": librouteros, "Key": Key,
                                    "And": And, "Or": Or, "out": out})
        api.close()
    except Exception as e:
        out["error"] = f"{type(e).__name__}: {e}"
    return out


# --- the tests ---------------------------------------------------------------------------------

class TestFakeRouterOs(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        missing = [t for t in TOOLS if not shutil.which(t)]
        assert not missing, f"missing tools: {missing}"
        assert os.geteuid() == 0, "the lab tests need root"
        assert os.environ.get("PMLAB_UNSHARED") == "1", \
            "call pmlab.reexec_in_private_netns() first"

    def _down(self, lab):
        outcome = getattr(self, "_outcome", None)
        if outcome is not None and not getattr(outcome, "success", True):
            lab.failed = True
        pids = [r.pid for r in lab.routeros if r.pid]
        namespaces = list(lab.namespaces)
        lab.down()
        for pid in pids:
            self.assertFalse(pmlab.pid_alive(pid), f"fake-routeros {pid} survived down()")
        for ns in namespaces:
            self.assertFalse(os.path.exists(os.path.join(pmlab.RUN_NETNS, ns)),
                             f"namespace {ns} survived down()")

    def ros(self, segment=False, **kw):
        lab = Lab(gateway=None, topology="double", segment=segment)
        self.addCleanup(self._down, lab)
        lab.up()
        return lab, lab.start_fake_routeros(**kw)

    def lib(self, lab, ros, code, ns=None, host=None, port=None, password=None, **kw):
        spec = {"host": host or ros.address, "port": port or ros.port, "user": ros.user,
                "password": ros.password if password is None else password, "code": code, **kw}
        cp = lab.run(ns or lab.ns_lan, [pmlab.PYTHON, "-B", THIS, "--librouteros"],
                     input=json.dumps(spec), timeout=30, check=False)
        self.assertEqual(cp.returncode, 0, cp.stderr)
        return json.loads(cp.stdout)

    def raw(self, lab, ros, sentences=(), login=True, ns=None, host=None, port=None, **kw):
        spec = {"host": host or ros.address, "port": port or ros.port,
                "login": [ros.user, ros.password] if login is True else login,
                "sentences": [s if s == "wait" else list(s) for s in sentences], **kw}
        cp = lab.run(ns or lab.ns_lan, [pmlab.PYTHON, "-B", THIS, "--raw-client"],
                     input=json.dumps(spec), timeout=30, check=False)
        self.assertEqual(cp.returncode, 0, cp.stderr)
        r = json.loads(cp.stdout)
        if login is True:
            self.assertEqual(r["login"], [["!done"]], r)
        return r

    def add_words(self, lab, port=40001, to_port=7001, comment="portmap-test", **extra):
        props = {"chain": "dstnat", "action": "dst-nat", "protocol": "tcp",
                 "in-interface": lab.if_router_vpn, "dst-port": str(port),
                 "to-addresses": lab.LAN_ADDR, "to-ports": str(to_port), "comment": comment,
                 **extra}
        return ["/ip/firewall/nat/add"] + [f"={k}={v}" for k, v in props.items()]

    def nft_texts(self, ros):
        return [r["text"] for r in ros.nft_rules()]

    # --- the real client ------------------------------------------------------------------------
    def test_librouteros_add_print_remove(self):
        lab, ros = self.ros()
        self.assertEqual(ros.nft_rules(), [])
        chains = lab.run(lab.ns_router, ["nft", "list", "table", "ip", "routeros"]).stdout
        self.assertIn("type nat hook prerouting priority dstnat", chains)
        comment = "portmap-tcp-40001-192.168.77.2"
        r = self.lib(lab, ros, f"""
nat = api.path("/ip/firewall/nat")
out["before"] = list(nat)
out["id"] = nat.add(chain="dstnat", action="dst-nat", protocol="tcp", log=False,
                    **{{"in-interface": {lab.if_router_vpn!r}, "dst-port": 40001,
                       "to-addresses": "192.168.77.2", "to-ports": 7001, "comment": {comment!r}}})
c, i, dp = Key("comment"), Key(".id"), Key("dst-port")
out["eq"] = list(nat.select(i, c, dp, Key("to-ports")).where(c == {comment!r}))
out["ne"] = list(nat.select(i).where(c != {comment!r}))
out["or"] = list(nat.select(i).where(Or(c == "nope", dp == 40001)))
out["and"] = list(nat.select(i).where(And(c == {comment!r}, dp == 1)))
out["in"] = list(nat.select(i).where(dp.In(1, 2, 40001)))
out["identity"] = list(api.path("/system/identity"))
""")
        self.assertNotIn("error", r)
        self.assertEqual(r["before"], [])
        rid = r["id"]
        self.assertEqual(rid, "*1")
        self.assertEqual(r["eq"], [{".id": rid, "comment": comment, "dst-port": 40001,
                                    "to-ports": 7001}])
        self.assertEqual((r["ne"], r["and"]), ([], []))
        self.assertEqual(r["or"], [{".id": rid}])
        self.assertEqual(r["in"], [{".id": rid}])
        self.assertEqual(r["identity"], [{"name": "FakeRouterOS"}])
        # the query words librouteros generated reached the fake as such
        prints = [c["words"] for c in ros.commands("/ip/firewall/nat/print")]
        self.assertIn(["/ip/firewall/nat/print", "=.proplist=.id,comment,dst-port,to-ports",
                       f"?=comment={comment}"], prints)
        self.assertIn(["/ip/firewall/nat/print", "=.proplist=.id", f"?=comment={comment}",
                       "?#!"], prints)
        # all properties, as strings
        rules = ros.rules()
        self.assertEqual(rules, [{".id": rid, "chain": "dstnat", "action": "dst-nat",
                                  "protocol": "tcp", "log": "false",
                                  "in-interface": lab.if_router_vpn, "dst-port": "40001",
                                  "to-addresses": "192.168.77.2", "to-ports": "7001",
                                  "comment": comment, "log-prefix": "", "disabled": "false",
                                  "invalid": "false", "dynamic": "false"}])
        nft = ros.nft_rules()
        self.assertEqual(len(nft), 1, nft)
        self.assertEqual(nft[0]["comment"], comment)
        self.assertEqual(ros.handles(), {rid: nft[0]["handle"]})
        text = lab.run(lab.ns_router, ["nft", "list", "chain", "ip", "routeros", "dstnat"]).stdout
        self.assertIn(f'iifname "{lab.if_router_vpn}" tcp dport 40001 dnat to 192.168.77.2:7001',
                      text)
        # a second session removes it by the id the first one got
        r = self.lib(lab, ros, f"""
nat = api.path("/ip/firewall/nat")
nat.remove({rid!r})
out["after"] = list(nat)
try:
    nat.remove({rid!r})
except librouteros.exceptions.TrapError as e:
    out["again"] = [e.category, e.message]
""")
        self.assertNotIn("error", r)
        self.assertEqual(r["after"], [])
        self.assertEqual(r["again"], [None, "no such item"])
        self.assertEqual((ros.rules(), ros.nft_rules()), ([], []))
        st = ros.stats()
        self.assertEqual((st["logins_ok"], st["login_failures"]), (2, 0))
        self.assertEqual(st["connections_accepted"], 2)
        wait_for(lambda: ros.stats()["connections_open"] == 0, 5, message="connections open")
        # no password in the log, ever
        self.assertNotIn(ros.password, ros.log())
        self.assertTrue(all(ros.password not in " ".join(c["words"]) for c in st["commands"]))
        # at exit the table goes
        lab.stop_fake_routeros(ros)
        cp = lab.run(lab.ns_router, ["nft", "list", "table", "ip", "routeros"], check=False)
        self.assertNotEqual(cp.returncode, 0, "the fake left its nft table behind")

    def test_librouteros_over_tls(self):
        lab, ros = self.ros(tls=True)
        self.assertEqual(ros.tls_port, 8729)
        self.assertTrue(os.path.exists(ros.ca_path))
        self.assertRegex(ros.fingerprint, r"^([0-9A-F]{2}:){31}[0-9A-F]{2}$")
        code = """
nat = api.path("/ip/firewall/nat")
out["id"] = nat.add(chain="dstnat", action="dst-nat", protocol="udp",
                    **{"dst-port": 40002, "to-addresses": "192.168.77.2", "to-ports": 7002})
out["rules"] = list(nat)
nat.remove(out["id"])
"""
        for ns, host in ((lab.ns_lan, lab.ROUTER_LAN_ADDR), (lab.ns_router, "127.0.0.1")):
            r = self.lib(lab, ros, code, ns=ns, host=host, port=ros.tls_port,
                         tls={"ca": ros.ca_path})
            self.assertNotIn("error", r)
            self.assertEqual(r["peer"]["fingerprint"],
                             ros.fingerprint.replace(":", "").lower())
            self.assertEqual(len(r["rules"]), 1)
            self.assertEqual(r["rules"][0]["protocol"], "udp")
        self.assertEqual(ros.rules(), [])
        # a client trusting another CA is refused: verification really happens
        other = os.path.join(lab.workdir, "other-ca")
        import piapki
        bad = piapki.make_server_pki(other, "someone-else")
        r = self.lib(lab, ros, "", port=ros.tls_port, tls={"ca": bad.ca})
        self.assertIn("CERTIFICATE_VERIFY_FAILED", r.get("error", ""))
        # the plain API still answers next to it
        self.assertNotIn("error", self.lib(lab, ros, IDENTITY))

    def test_anonymous_tls(self):
        lab, ros = self.ros(anon_tls=True)
        self.assertEqual(ros.anon_tls_port, 8729)
        r = self.lib(lab, ros, IDENTITY,
                     port=ros.anon_tls_port, tls="anon")
        self.assertNotIn("error", r)
        self.assertEqual(r["peer"]["cipher"], "ADH-AES256-GCM-SHA384")
        self.assertEqual(r["peer"]["version"], "TLSv1.2")
        self.assertIsNone(r["peer"]["fingerprint"], "anonymous DH presents no certificate")
        # a client that insists on a certificate gets no handshake
        import piapki
        some = piapki.make_server_pki(os.path.join(lab.workdir, "some-ca"), "x")
        r = self.lib(lab, ros, "", port=ros.anon_tls_port, tls={"ca": some.ca})
        self.assertRegex(r.get("error", ""), r"^SSL\w*Error")

    # --- traffic ------------------------------------------------------------------------------
    def test_dnat_really_forwards(self):
        lab, ros = self.ros()
        self.assertFalse(lab.tcp_reachable(40003, 7003, timeout=2, dest=lab.ROUTER_VPN_ADDR,
                                           src_ns=lab.ns_gw),
                         "reachable before the rule exists: the proof cannot fail")
        r = self.lib(lab, ros, f"""
out["id"] = api.path("/ip/firewall/nat").add(chain="dstnat", action="dst-nat", protocol="tcp",
    **{{"in-interface": {lab.if_router_vpn!r}, "dst-port": 40003,
       "to-addresses": {lab.LAN_ADDR!r}, "to-ports": 7003, "comment": "fwd"}})
""")
        self.assertNotIn("error", r)
        self.assertTrue(lab.tcp_reachable(40003, 7003, dest=lab.ROUTER_VPN_ADDR, src_ns=lab.ns_gw),
                        lab.last_probe.stderr)
        # a rule for the other interface does not apply on the VPN side
        ros.add_rule(chain="dstnat", action="dst-nat", protocol="tcp",
                     in_interface=lab.if_router_lan, dst_port=40004, to_addresses=lab.LAN_ADDR,
                     to_ports=7004)
        self.assertFalse(lab.tcp_reachable(40004, 7004, timeout=2, dest=lab.ROUTER_VPN_ADDR,
                                           src_ns=lab.ns_gw))
        ros.remove_rule(r["id"])
        self.assertFalse(lab.tcp_reachable(40003, 7003, timeout=2, dest=lab.ROUTER_VPN_ADDR,
                                           src_ns=lab.ns_gw), "the removed rule still forwards")
        self.assertEqual([x[".id"] for x in ros.rules()], ["*2"])

    # --- login ----------------------------------------------------------------------------------
    def test_wrong_password_and_no_login(self):
        lab, ros = self.ros()
        r = self.raw(lab, ros, login=[ros.user, "wrong"], sentences=[["/system/identity/print"]])
        # the trap is followed by !done; the connection stays, but not logged in: !fatal
        self.assertEqual(r["login"], [["!trap", "=message=invalid user name or password (6)"],
                                      ["!done"]])
        self.assertEqual(r["replies"], [["!fatal", "not logged in"]])
        self.assertTrue(r["closed"])
        r = self.raw(lab, ros, login=["nobody", ros.password], sentences=[])
        self.assertEqual(r["login"][0][0], "!trap")
        lib = self.lib(lab, ros, "", password="wrong")
        self.assertEqual(lib["error"], "TrapError: invalid user name or password (6)")
        st = ros.stats()
        self.assertEqual((st["logins_ok"], st["login_failures"]), (0, 3))
        self.assertEqual(self.raw(lab, ros, sentences=[["/system/identity/print"]])["replies"],
                         [["!re", "=name=FakeRouterOS"], ["!done"]])
        self.assertEqual(ros.stats()["logins_ok"], 1)

    def test_legacy_login(self):
        lab, ros = self.ros(legacy_login=True)
        r = self.lib(lab, ros, IDENTITY, login="token")
        self.assertNotIn("error", r)
        self.assertEqual(r["x"], [{"name": "FakeRouterOS"}])
        # the compatible flow: a new-style /login gets the challenge, the response logs in
        r = self.raw(lab, ros, login=False,
                     sentences=[["/login", f"=name={ros.user}", f"=password={ros.password}"]])
        self.assertEqual(len(r["replies"]), 1)
        self.assertRegex(r["replies"][0][1], r"^=ret=[0-9a-f]{32}$")
        self.assertEqual(ros.stats()["logins_ok"], 1)
        # a wrong response is refused
        r = self.raw(lab, ros, login=False, sentences=[
            ["/login"], ["/login", f"=name={ros.user}", "=response=00" + "0" * 32]])
        self.assertEqual(r["replies"][1:], [["!trap", "=message=invalid user name or password (6)"],
                                            ["!done"]])
        # the plain method alone is not a login against a pre-6.43 router
        self.assertEqual(ros.stats()["login_failures"], 1)
        lib = self.lib(lab, ros, IDENTITY)
        self.assertIn("not logged in", lib.get("error", ""))
        ros.set(legacy_login=False)
        self.assertNotIn("error", self.lib(lab, ros, IDENTITY))

    def test_legacy_response_is_md5_of_password_and_challenge(self):
        lab, ros = self.ros(legacy_login=True)
        script = f"""
import hashlib, json, socket, sys
sys.path.insert(0, {HERE!r})
import test_fake_routeros as t
s = socket.create_connection(({ros.address!r}, {ros.port}), timeout=5)
s.sendall(t.enc_sentence(["/login"]))
ret = t.read_sentence(s)
ch = bytes.fromhex(ret[1].split("=", 2)[2])
resp = "00" + hashlib.md5(b"\\0" + {ros.password!r}.encode() + ch).hexdigest()
s.sendall(t.enc_sentence(["/login", "=name={ros.user}", "=response=" + resp]))
ok = t.read_sentence(s)
s.sendall(t.enc_sentence(["/system/identity/print"]))
print(json.dumps([ret, ok, t.read_sentence(s)]))
"""
        cp = lab.run(lab.ns_lan, [pmlab.PYTHON, "-B", "-c", script], timeout=20)
        ret, ok, ident = json.loads(cp.stdout)
        self.assertEqual((ok, ident), (["!done"], ["!re", "=name=FakeRouterOS"]))

    # --- replies ---------------------------------------------------------------------------------
    def test_empty_mode(self):
        lab, ros = self.ros(empty=True)
        q = ["/ip/firewall/nat/print", "?comment=none", ".tag=e"]
        self.assertEqual(self.raw(lab, ros, [q])["replies"],
                         [["!empty", ".tag=e"], ["!done", ".tag=e"]])
        r = self.lib(lab, ros, "out['rules'] = list(api.path('/ip/firewall/nat'))")
        self.assertEqual(r, {"peer": {}, "rules": []})
        ros.set(empty=False)
        self.assertEqual(self.raw(lab, ros, [q])["replies"], [["!done", ".tag=e"]])
        lab2_ros = lab.start_fake_routeros(listen=["127.0.0.1:8730"], table="routeros2")
        r = self.raw(lab, lab2_ros, [q], ns=lab.ns_router)
        self.assertEqual(r["replies"], [["!done", ".tag=e"]], "the default is pre-7.18")

    def test_tags_echoed_and_cancel(self):
        lab, ros = self.ros()
        r = self.raw(lab, ros, [
            ["/system/identity/print", ".tag=a"],
            self.add_words(lab) + [".tag=b"],
            ["/ip/firewall/nat/print", "=.proplist=.id,dst-port", ".tag=c"],
            ["/ip/firewall/nat/remove", "=.id=*9", ".tag=d"],
            ["/no/such/thing", ".tag=e"],
            ["/system/identity/print"],
        ])
        self.assertEqual(r["replies"], [
            ["!re", "=name=FakeRouterOS", ".tag=a"], ["!done", ".tag=a"],
            ["!done", "=ret=*1", ".tag=b"],
            ["!re", "=.id=*1", "=dst-port=40001", ".tag=c"], ["!done", ".tag=c"],
            ["!trap", "=message=no such item", ".tag=d"], ["!done", ".tag=d"],
            ["!trap", "=category=0", "=message=no such command prefix", ".tag=e"],
            ["!done", ".tag=e"],
            ["!re", "=name=FakeRouterOS"], ["!done"]])
        self.assertEqual([(c["command"], c["tag"]) for c in ros.commands()][-6:],
                         [("/system/identity/print", "a"), ("/ip/firewall/nat/add", "b"),
                          ("/ip/firewall/nat/print", "c"), ("/ip/firewall/nat/remove", "d"),
                          ("/no/such/thing", "e"), ("/system/identity/print", None)])
        # a monitor (route check without once) runs until /cancel; the doc's reply order
        r = self.raw(lab, ros, [["/ip/route/check", "=dst-ip=10.2.0.1", ".tag=m"], "wait",
                                ["/cancel", "=tag=m", ".tag=n"]], dones=2)
        self.assertEqual(r["replies"][0][:2], ["!re", "=status=ok"])
        self.assertEqual(r["replies"][1:], [
            ["!trap", "=category=2", "=message=interrupted", ".tag=m"],
            ["!done", ".tag=n"], ["!done", ".tag=m"]])

    def test_route_check(self):
        lab, ros = self.ros()
        r = self.lib(lab, ros, """
out["x"] = list(api("/ip/route/check", **{"dst-ip": "10.2.0.1", "once": ""}))
out["y"] = list(api.rawCmd("/ip/route/check", "=dst-ip=11.0.0.1", "=once"))
""")
        self.assertNotIn("error", r)
        self.assertEqual(r["x"], [{"status": "ok", "interface": lab.if_router_vpn,
                                   "nexthop": "10.2.0.1"}])
        # beyond the VPN gateway: the default route's gateway is the next hop
        self.assertEqual(r["y"], [{"status": "ok", "interface": lab.if_router_vpn,
                                   "nexthop": "10.2.0.1"}])
        r = self.raw(lab, ros, [["/ip/route/check", "=dst-ip=192.168.77.3", "=once="]])
        self.assertEqual(r["replies"], [["!re", "=status=ok", f"=interface={lab.if_router_lan}",
                                         "=nexthop=192.168.77.3"], ["!done"]])
        ros.set(route_check="wg-vpn")
        r = self.raw(lab, ros, [["/ip/route/check", "=dst-ip=10.2.0.1", "=once="]])
        self.assertEqual(r["replies"][0][2], "=interface=wg-vpn")
        ros.set(route_check="trap")
        r = self.raw(lab, ros, [["/ip/route/check", "=dst-ip=10.2.0.1", "=once="]])
        self.assertEqual(r["replies"], [["!trap", "=category=0",
                                         "=message=no such command prefix"], ["!done"]])

    def test_validation_and_ids(self):
        lab, ros = self.ros()
        cases = [
            ({"in-interface": "wg-nope"},
             "=message=input does not match any value of in-interface"),
            ({"dst-port": "http"}, "=message=invalid value for argument dst-port"),
            ({"dst-port": "70000"}, "=message=invalid value for argument dst-port"),
            ({"protocol": "icmp"}, "=message=input does not match any value of protocol"),
            ({"to-ports": "x"}, "=message=invalid value for argument to-ports"),
            ({"to-addresses": "lan"}, "=message=invalid value for argument to-addresses"),
        ]
        r = self.raw(lab, ros, [self.add_words(lab, **extra) for extra, _ in cases])
        traps = [s for s in r["replies"] if s[0] == "!trap"]
        self.assertEqual([t[-1] for t in traps], [m for _, m in cases])
        self.assertEqual(traps[0], ["!trap", "=category=1",
                                    "=message=input does not match any value of in-interface"])
        missing = [w for w in self.add_words(lab) if not w.startswith("=to-addresses=")]
        r = self.raw(lab, ros, [missing])
        self.assertEqual(r["replies"][0][0], "!trap")
        self.assertEqual((ros.rules(), ros.nft_rules()), ([], []))
        # ids ever increasing; a disabled rule is not applied; comma-list remove
        r = self.raw(lab, ros, [self.add_words(lab, 40010), self.add_words(lab, 40011),
                                self.add_words(lab, 40012, disabled="yes"),
                                ["/ip/firewall/nat/remove", "=.id=*1,*2"],
                                self.add_words(lab, 40013, protocol="udp", comment=""),
                                ["/ip/firewall/nat/remove", "=.id=*3,*99"]])
        rets = [s[1] for s in r["replies"] if s[0] == "!done" and len(s) > 1]
        self.assertEqual(rets, ["=ret=*1", "=ret=*2", "=ret=*3", "=ret=*4"])
        self.assertEqual(r["replies"][-2:], [["!trap", "=message=no such item"], ["!done"]])
        self.assertEqual([x[".id"] for x in ros.rules()], ["*3", "*4"])
        self.assertEqual(ros.rules()[0]["disabled"], "true")
        self.assertEqual(ros.handles()["*3"], None)
        nft = ros.nft_rules()
        self.assertEqual(len(nft), 1)
        self.assertIn('"udp"', nft[0]["text"])
        # a human adds one too (another instance's rule); its id follows
        self.assertEqual(ros.add_rule(chain="dstnat", action="dst-nat", protocol="tcp",
                                      dst_port="1000-2000,3000", to_addresses=lab.LAN_ADDR2,
                                      comment="someone else"), "*5")
        with self.assertRaisesRegex(RuntimeError, "in-interface"):
            ros.add_rule(chain="dstnat", action="dst-nat", protocol="tcp", dst_port=1,
                         to_addresses=lab.LAN_ADDR2, in_interface="nope")
        self.assertEqual(len(ros.nft_rules()), 2)
        # query stack: OR, NOT, index, absence
        q = "/ip/firewall/nat/print"
        r = self.raw(lab, ros, [
            [q, "=.proplist=.id", "?protocol=udp", "?comment=someone else", "?#|", ".tag=or"],
            [q, "=.proplist=.id", "?disabled=true", "?#!", ".tag=not"],
            [q, "=.proplist=.id", "?-to-ports", ".tag=absent"],
            [q, "=.proplist=.id", "?>comment=", ".tag=nonempty"],
            [q, "=.proplist=.id", "?protocol=udp", "?comment=someone else", "?#1", ".tag=idx"],
            [q, "=.proplist=.id", "?protocol=tcp", "?#0.!|", ".tag=dup"],
            [q, "=.proplist=.id,to-addresses", "?<dst-port=40013", "?chain=dstnat", ".tag=lt"],
        ], dones=7)
        got = {}
        for s in r["replies"]:
            if s[0] == "!re":
                got.setdefault(s[-1][5:], []).append(s[1])
        self.assertEqual(got.get("or"), ["=.id=*4", "=.id=*5"])
        self.assertEqual(got.get("not"), ["=.id=*4", "=.id=*5"])
        self.assertEqual(got.get("absent"), ["=.id=*5"])
        self.assertEqual(got.get("nonempty"), ["=.id=*3", "=.id=*5"])
        self.assertEqual(got.get("idx"), ["=.id=*4"], "an index at the end replaces the stack")
        self.assertEqual(got.get("dup"), ["=.id=*3", "=.id=*4", "=.id=*5"], "x or not x")
        # no number on one side: compared as strings ("1000-2000,3000" < "40013")
        self.assertEqual(got.get("lt"), ["=.id=*3", "=.id=*5"])
        ros.remove_rule("*5")
        with self.assertRaisesRegex(RuntimeError, "no such item"):
            ros.remove_rule("*5")

    def test_framing(self):
        lab, ros = self.ros()
        for n in (200, 20000):          # 2- and 3-byte lengths both ways
            comment = "c" * n
            r = self.raw(lab, ros, [self.add_words(lab, 40020 + n % 7, comment=comment),
                                    ["/ip/firewall/nat/print", "=.proplist=comment",
                                     f"?comment={comment}"]])
            self.assertEqual(r["replies"][1], ["!re", f"=comment={comment}"])
            self.assertEqual(r["replies"][2], ["!done"])
        # empty sentences are ignored
        r = self.raw(lab, ros, raw="00", sentences=[["/system/identity/print"]])
        self.assertEqual(r["replies"], [["!re", "=name=FakeRouterOS"], ["!done"]])
        # a control byte ends the connection
        r = self.raw(lab, ros, raw="f8", sentences=[["/system/identity/print"]])
        self.assertEqual((r["replies"], r["closed"]), ([], True))
        self.assertIn("control byte 0xf8", ros.log())

    # --- faults ----------------------------------------------------------------------------------
    def test_fault_trap(self):
        lab, ros = self.ros()
        ros.fail("/ip/firewall/nat/add", "trap", count=2, message="failure: busy", category=4)
        r = self.raw(lab, ros, [self.add_words(lab, 40030, comment="a"),
                                self.add_words(lab, 40031, comment="b") + [".tag=7"],
                                self.add_words(lab, 40032, comment="c")])
        self.assertEqual(r["replies"], [
            ["!trap", "=category=4", "=message=failure: busy"], ["!done"],
            ["!trap", "=category=4", "=message=failure: busy", ".tag=7"], ["!done", ".tag=7"],
            ["!done", "=ret=*1"]])
        self.assertEqual([x["comment"] for x in ros.rules()], ["c"])
        self.assertEqual(len(ros.nft_rules()), 1)

    def test_fault_drop(self):
        lab, ros = self.ros()
        ros.fail("/ip/firewall/nat/add", "drop")
        r = self.raw(lab, ros, [self.add_words(lab)])
        self.assertEqual((r["replies"], r["closed"]), ([], True))
        self.assertEqual((ros.rules(), ros.nft_rules()), ([], []))
        self.assertEqual(ros.commands("/ip/firewall/nat/add")[0]["words"][0],
                         "/ip/firewall/nat/add", "the command was read")
        r = self.raw(lab, ros, [self.add_words(lab)])
        self.assertEqual(r["replies"], [["!done", "=ret=*1"]], "only count=1 was dropped")

    def test_fault_drop_after(self):
        lab, ros = self.ros()
        ros.fail("/ip/firewall/nat/add", "drop_after")
        r = self.raw(lab, ros, [self.add_words(lab, 40040, 7040, comment="orphan")])
        self.assertEqual((r["replies"], r["closed"]), ([], True))
        self.assertEqual([(x[".id"], x["comment"]) for x in ros.rules()], [("*1", "orphan")])
        self.assertEqual(len(ros.nft_rules()), 1, "the rule exists though no id was returned")
        self.assertTrue(lab.tcp_reachable(40040, 7040, dest=lab.ROUTER_VPN_ADDR, src_ns=lab.ns_gw),
                        lab.last_probe.stderr)

    def test_fault_fatal(self):
        lab, ros = self.ros()
        ros.fail("/ip/firewall/nat/print", "fatal", message="out of memory")
        r = self.raw(lab, ros, [["/ip/firewall/nat/print", ".tag=1"], ["/system/identity/print"]])
        self.assertEqual(r["replies"], [["!fatal", "out of memory"]])
        self.assertTrue(r["closed"])
        lib = self.lib(lab, ros, """
ok = list(api.path("/system/identity"))
ros = api.path("/ip/firewall/nat")
out["rules"] = list(ros)
""")
        self.assertEqual(lib["rules"], [], "count=1: the next print is answered")
        ros.fail("/ip/firewall/nat/add", "fatal")
        lib = self.lib(lab, ros, "api.path('/ip/firewall/nat').add(chain='dstnat')")
        self.assertEqual(lib["error"], "FatalError: injected fault")
        self.assertEqual(ros.rules(), [])

    def test_fault_slow(self):
        lab, ros = self.ros()
        r = self.raw(lab, ros, [["/system/identity/print"]])
        fast = r["elapsed"]
        ros.fail("/ip/firewall/nat/add", "slow", delay_ms=1500)
        r = self.raw(lab, ros, [self.add_words(lab)])
        self.assertEqual(r["replies"], [["!done", "=ret=*1"]])
        self.assertGreaterEqual(r["elapsed"] - fast, 1.4)
        # a client with a shorter deadline gives up, but the rule is there (applied first)
        ros.fail("/ip/firewall/nat/add", "slow", delay_ms=3000)
        r = self.raw(lab, ros, [self.add_words(lab, 40051)], timeout=1)
        self.assertTrue(r["timeout"])
        self.assertEqual(len(ros.rules()), 2)
        # and delay_ms (the option) delays every reply
        ros.set(delay_ms=800)
        r = self.raw(lab, ros, [["/system/identity/print"]])
        self.assertGreaterEqual(r["elapsed"] - fast, 1.5)      # the login's reply and this one

    # --- the segment topology -------------------------------------------------------------------
    def test_segment_natpmp_reaches_pmhost(self):
        lab, ros = self.ros(segment=True)
        s = lab.suffix
        self.assertEqual(lab.namespaces[-1], f"pmh-{s}")
        self.assertEqual(lab.ns_pmhost, f"pmh-{s}")
        lab.assert_sealed()
        self.assertIn(pmlab.SEG_NETWORK, lab.lab_networks)
        self.assertIn("default via 192.168.78.1",
                      lab.run(lab.ns_pmhost, ["ip", "route"]).stdout)
        echo = lab._helper(lab.ns_pmhost, ["udp-echo", "5351", "30", lab.PMHOST_ADDR])
        lab._expect_ready(echo)
        # natpmp_raw only takes replies from 192.168.77.1:5351: conntrack un-NATed it
        reply = lab.natpmp_raw(lab.ns_lan, b"\0\0", lab.ROUTER_LAN_ADDR)
        self.assertEqual(reply, b"\0\0")
        self.assertEqual(pmlab._read_line(echo, 5).split()[:2], ["DGRAM", lab.LAN_ADDR])
        lab.stop_process(echo)
        self.assertIsNone(lab.natpmp_raw(lab.ns_lan, b"\0\0", lab.ROUTER_LAN_ADDR, timeout=0.5,
                                         expect_reply=False), "answered with nothing listening")
        # pmhost reaches the VPN side (masqueraded as the LAN is) and the router's API
        listener = lab._helper(lab.ns_gw, ["tcp-echo", "8000", "30", lab.VPN_GW_ADDR])
        lab._expect_ready(listener)
        cp = lab.run(lab.ns_pmhost, [pmlab.PYTHON, "-B", pmlab.PMLAB, "helper", "tcp-probe",
                                     lab.VPN_GW_ADDR, "8000", "hi", "3"], check=False)
        self.assertEqual(cp.returncode, 0, cp.stderr)
        self.assertEqual(pmlab._read_line(listener, 5).split()[:2], ["CONN", lab.ROUTER_VPN_ADDR])
        r = self.lib(lab, ros, IDENTITY,
                     ns=lab.ns_pmhost, host=lab.ROUTER_SEG_ADDR)
        self.assertEqual(r.get("x"), [{"name": "FakeRouterOS"}], r)
        # the state file names the extra namespace; another process can tear it all down
        st = lab.state()
        self.assertEqual((st["segment"], st["namespaces"]["pmhost"]), (True, lab.ns_pmhost))


if __name__ == "__main__":
    if sys.argv[1:] == ["--raw-client"]:
        print(json.dumps(raw_client(json.load(sys.stdin))))
        sys.exit(0)
    if sys.argv[1:] == ["--librouteros"]:
        print(json.dumps(librouteros_client(json.load(sys.stdin)), default=str))
        sys.exit(0)
    pmlab.run_tests(TestFakeRouterOs)
