#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Tests of the fake PIA service (fake-pia) itself, in the lab.

Runs as root; re-executes itself under `unshare --net --mount --pid`
(pmlab.reexec_in_private_netns).  Every test brings up a fresh lab (no NAT-PMP gateway: PIA
needs none) and starts the fake where portmapd's tests will: in gw, on 192.168.77.1 (lan's
default gateway, as a PIA server's API is on the VPN gateway's address), gateway on 19999, token
API on 443, with a test PKI made at run time.  Clients run inside lan with Python's ssl module,
trusting one CA file only (pmlab's https helper).
`test_fake_pia.py --list-tests` prints the test ids (used by meson).
"""

import base64
import datetime
import json
import os
import re
import shutil
import sys
import time
import unittest

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import pmlab  # noqa: E402
from pmlab import Lab, wait_for  # noqa: E402

from cryptography import x509  # noqa: E402

TOOLS = ("ip", "nft", "ss", "timeout", "unshare", "sysctl")
EXPIRES = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z")
BIND_OK = {"status": "OK", "message": "port scheduled for add"}
BAD_SIGNATURE = {"status": "ERROR", "message": "bad signature"}
INVALID_TOKEN = {"status": "ERROR", "message": "invalid token"}


def decode_payload(payload):
    return json.loads(base64.b64decode(payload, validate=True))


def unix(rfc3339):
    s = rfc3339.rstrip("Z")
    base, _, frac = s.partition(".")
    dt = datetime.datetime.fromisoformat(base + "+00:00")
    return dt.timestamp() + float("0." + (frac or "0"))


class PiaTestCase(unittest.TestCase):
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
        pids = [p.pid for p in lab.pias if p.pid]
        namespaces = list(lab.namespaces)
        lab.down()
        for pid in pids:
            self.assertFalse(pmlab.pid_alive(pid), f"fake-pia {pid} survived down()")
        for ns in namespaces:
            self.assertFalse(os.path.exists(os.path.join(pmlab.RUN_NETNS, ns)),
                             f"namespace {ns} survived down()")

    def pia(self, **kw):
        lab = Lab(gateway=None)
        self.addCleanup(self._down, lab)
        lab.up()
        return lab, lab.start_fake_pia(**kw)

    def token(self, pia):
        r = pia.get_token()
        self.assertEqual(r["status"], 200, r)
        return r["json"]["token"]

    def signature(self, pia, token=None):
        r = pia.get_signature(token or self.token(pia))
        self.assertEqual(r["status"], 200, r)
        return r["json"]

    def assertRejectedBeforeRequest(self, pia, res, since):
        """The client refused the certificate: no request reached the fake, and every
        connection it saw since `since` events carried none."""
        self.assertFalse(res["handshake"]["ok"], res)
        self.assertEqual(res["responses"], [])
        wait_for(lambda: any(e["event"] == "close" for e in pia.log()[since:]), 10,
                 message="the fake logged no end of the connection")
        log = pia.log()[since:]
        self.assertEqual([e for e in log if e["event"] == "request"], [], log)
        closes = [e for e in log if e["event"] == "close"]
        self.assertEqual(len(closes), 1, log)
        self.assertEqual(closes[0]["requests"], 0)
        hs = [e for e in log if e["event"] == "handshake"]
        self.assertEqual(len(hs), 1, log)
        self.assertFalse(hs[0]["ok"], hs)
        return hs[0]


class TestFakePia(PiaTestCase):
    # --- where it is, the PKI ------------------------------------------------------------------
    def test_placement_and_certificates(self):
        lab, pia = self.pia()
        self.assertEqual((pia.ns, pia.address, pia.gateway_port, pia.token_port),
                         (lab.ns_gw, lab.GW_LAN_ADDR, 19999, 443))
        self.assertEqual(pia.token_url, "https://192.168.77.1:443/api/client/v2/token")
        self.assertEqual(pia.gateway_url, "https://192.168.77.1:19999")
        self.assertEqual((pia.server_name, pia.api_name), ("lab-pia-server", "lab-pia-api"))
        self.assertTrue(pia.ca.startswith(lab.workdir) and pia.other_ca.startswith(lab.workdir))

        def load(path):
            with open(path, "rb") as f:
                return x509.load_pem_x509_certificate(f.read())

        def names(cert):
            san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            return (cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value,
                    san.get_values_for_type(x509.DNSName),
                    [str(i) for i in san.get_values_for_type(x509.IPAddress)])

        self.assertEqual(names(load(pia.pki.gateway_cert)), ("lab-pia-server", ["lab-pia-server"], []))
        self.assertEqual(names(load(pia.pki.other_gateway_cert)),
                         ("lab-pia-server", ["lab-pia-server"], []))
        self.assertEqual(names(load(pia.pki.token_cert)),
                         ("lab-pia-api", ["lab-pia-api"], ["192.168.77.1", "127.0.0.1"]))
        self.assertNotEqual(load(pia.ca).subject, load(pia.other_ca).subject)
        self.assertEqual(load(pia.pki.other_gateway_cert).issuer, load(pia.other_ca).subject)
        for key in (pia.pki.ca_key, pia.pki.gateway_key, pia.pki.token_key,
                    pia.pki.other_gateway_key):
            self.assertEqual(os.stat(key).st_mode & 0o777, 0o600, key)
        # the lab's gateway listens on gw's LAN address only, reached from lan
        r = pia.ping()
        self.assertEqual((r["status"], r["body"], r["headers"]["content-type"]),
                         (200, "pong", "text/plain"))

    # --- TLS ---------------------------------------------------------------------------------------
    def test_tls_server_name_verifies(self):
        lab, pia = self.pia()
        res = pia.https([{"method": "GET", "path": "/ping"}])
        self.assertTrue(res["handshake"]["ok"], res)
        self.assertEqual(res["responses"][0]["status"], 200)
        hs = pia.handshakes("gateway")
        self.assertEqual([(h["ok"], h["sni"]) for h in hs], [(True, "lab-pia-server")])
        # the token API's certificate verifies against the IP of its URL and against its name
        for name in (pia.address, "lab-pia-api"):
            r = pia.get_token(server_name=name)
            self.assertEqual(r["status"], 200, (name, r))

    def test_tls_ip_alone_fails_name_verification(self):
        lab, pia = self.pia()
        res = pia.https([{"method": "GET", "path": "/ping"}], server_name=None)
        self.assertIn("IP address mismatch", res["handshake"]["error"], res)
        hs = self.assertRejectedBeforeRequest(pia, res, 0)
        self.assertIn(hs["error"], ("SSLV3_ALERT_BAD_CERTIFICATE", "TLSV1_ALERT_UNKNOWN_CA"))
        # nor does any other name
        n = len(pia.log())
        res = pia.https([{"method": "GET", "path": "/ping"}], server_name="other-server")
        self.assertIn("Hostname mismatch", res["handshake"]["error"], res)
        self.assertRejectedBeforeRequest(pia, res, n)

    def test_tls_other_ca_fails(self):
        lab, pia = self.pia()
        # a client trusting the unrelated CA refuses the gateway's certificate ...
        res = pia.https([{"method": "GET", "path": "/ping"}], ca=pia.other_ca)
        self.assertIn("unable to get local issuer certificate", res["handshake"]["error"], res)
        hs = self.assertRejectedBeforeRequest(pia, res, 0)
        self.assertEqual(hs["error"], "TLSV1_ALERT_UNKNOWN_CA")
        self.assertEqual(hs["sni"], "lab-pia-server")
        # ... and a client trusting the test CA refuses a certificate for the right name from
        # the unrelated CA (gateway_cert="other")
        lab.restart_fake_pia(pia, gateway_cert="other")
        n = len(pia.log())
        res = pia.https([{"method": "GET", "path": "/ping"}])
        self.assertIn("unable to get local issuer certificate", res["handshake"]["error"], res)
        self.assertRejectedBeforeRequest(pia, res, n)
        # the token API too
        n = len(pia.log())
        res = pia.https([{"method": "GET", "path": "/"}], role="token", ca=pia.other_ca)
        self.assertFalse(res["handshake"]["ok"])
        self.assertRejectedBeforeRequest(pia, res, n)

    def test_libsoup_recipe(self):
        """libsoup 3 + GnuTLS, as portmapd connects: to the IP, with the connection's
        database and server identity set at TLS_HANDSHAKING, accepting nothing else."""
        lab, pia = self.pia()
        tok = self.token(pia)
        from urllib.parse import quote
        sig_path = "/getSignature?token=" + quote(tok, safe="")
        r = pia.soup([("GET", "/ping"), ("GET", sig_path),
                      pia.token_url.replace("/api/client/v2/token", "/nope")])
        self.assertEqual([(x["status"], x["error"]) for x in r],
                         [(200, None), (200, None), (404, None)], r)
        self.assertEqual(json.loads(r[1]["body"])["status"], "OK")
        hs = [h for h in pia.handshakes() if h["ok"]]
        self.assertIn(("gateway", "lab-pia-server"), [(h["role"], h["sni"]) for h in hs])
        gw = wait_for(lambda: [c for c in pia.connections("gateway") if c["requests"]], 10)
        self.assertEqual([c["requests"] for c in gw if c["sni"] == "lab-pia-server"][-1:], [2],
                         "libsoup did not keep the connection alive")
        # refused: no server identity (the IP alone), a wrong name, the other CA
        # (GTlsCertificateFlags: 1 UNKNOWN_CA, 2 BAD_IDENTITY)
        for kw, flags in (({"hostname": None}, 2), ({"hostname": "other-server"}, 2),
                          ({"ca": pia.other_ca}, 1)):
            n = len(pia.log())
            r = pia.soup([("GET", "/ping")], **kw)
            self.assertIsNone(r[0]["status"], (kw, r))
            self.assertIn("certificate", r[0]["error"].lower(), (kw, r))
            self.assertEqual(r[0]["tls_errors"], flags, (kw, r))
            wait_for(lambda: any(e["event"] == "close" for e in pia.log()[n:]), 10)
            log = pia.log()[n:]
            self.assertEqual([e for e in log if e["event"] == "request"], [], (kw, log))
            self.assertEqual([e["requests"] for e in log if e["event"] == "close"], [0],
                             (kw, log))

    # --- token API ---------------------------------------------------------------------------------
    def test_token_api(self):
        lab, pia = self.pia()
        seen = set()
        for form in ("urlencoded", "multipart"):
            r = pia.get_token(form=form)
            self.assertEqual(r["status"], 200, r)
            self.assertEqual(r["headers"]["content-type"], "application/json")
            self.assertEqual(list(r["json"]), ["token"])
            tok = r["json"]["token"]
            self.assertTrue(all(c in tok for c in "+/="), tok)
            self.assertNotIn(tok, seen)
            seen.add(tok)
        self.assertEqual(set(pia.state()["tokens"]), seen)
        r = pia.get_token(password="wrong")
        self.assertEqual((r["status"], r["json"]), (401, {"message": "Login failed!"}))
        r = pia.get_token(username="someone-else", form="multipart")
        self.assertEqual(r["status"], 401)
        r = pia.get_token(password=None)
        self.assertEqual((r["status"], r["json"]),
                         (400, {"message": "username and password are required"}))
        res = pia.https([{"method": "GET", "path": "/api/client/v2/token"},
                         {"method": "GET", "path": "/gtoken/generateToken"}], role="token")
        self.assertEqual([(x["status"], x["headers"].get("allow")) for x in res["responses"]],
                         [(405, "POST"), (404, None)])
        log = pia.requests(role="token", path="/api/client/v2/token")
        self.assertEqual([(e.get("form"), e.get("credentials_ok"), e["status"]) for e in log],
                         [("urlencoded", True, 200), ("multipart", True, 200),
                          ("urlencoded", False, 401), ("multipart", False, 401),
                          ("urlencoded", None, 400), (None, None, 405)])
        self.assertEqual({e["token"] for e in log[:2]}, seen)
        # changed credentials
        pia.set(password="new-pass")
        self.assertEqual(pia.get_token()["status"], 200)

    # --- getSignature / bindPort -------------------------------------------------------------------
    def test_signature_and_bind(self):
        lab, pia = self.pia()
        tok = self.token(pia)
        t0 = time.time()
        r = pia.get_signature(tok)
        self.assertEqual(r["status"], 200, r)
        self.assertEqual(r["headers"]["content-type"], "application/json")
        self.assertEqual(list(r["json"]), ["status", "payload", "signature"])
        self.assertEqual(r["json"]["status"], "OK")
        payload, sig = r["json"]["payload"], r["json"]["signature"]
        self.assertTrue("+" in sig and "/" in sig, sig)
        self.assertEqual(base64.b64encode(base64.b64decode(payload)).decode(), payload)
        raw = base64.b64decode(payload)
        data = json.loads(raw)
        self.assertEqual(list(data), ["token", "port", "expires_at"])
        self.assertEqual(raw, json.dumps(data, separators=(",", ":")).encode())
        self.assertEqual(data["token"], tok)
        self.assertTrue(10000 <= data["port"] < 60000)
        self.assertRegex(data["expires_at"], EXPIRES)
        self.assertAlmostEqual(unix(data["expires_at"]) - t0, 62 * 86400, delta=60)
        log = pia.requests(path="/getSignature")
        self.assertEqual([(e["token"], e["token_match"], e["port"], e["payload"], e["signature"])
                          for e in log], [(tok, True, data["port"], payload, sig)])

        r = pia.bind_port(payload, sig)
        self.assertEqual((r["status"], r["json"]), (200, BIND_OK), r)
        r = pia.bind_port(payload, sig)
        self.assertEqual((r["status"], r["json"]), (200, BIND_OK), r)
        binds = pia.state()["binds"]
        self.assertEqual(list(binds), [str(data["port"])])
        self.assertEqual(binds[str(data["port"])]["count"], 2)
        log = pia.requests(path="/bindPort")
        self.assertEqual([(e["match"], e["port"], e["expired"], e["status"]) for e in log],
                         [(True, data["port"], False, 200)] * 2)
        # a second signature: another port
        second = self.signature(pia, tok)
        self.assertNotEqual(decode_payload(second["payload"])["port"], data["port"])
        # byte for byte: a payload or signature that differs in one byte is not honoured
        bad_sig = ("A" if sig[0] != "A" else "B") + sig[1:]
        self.assertEqual(pia.bind_port(payload, bad_sig)["json"], BAD_SIGNATURE)
        self.assertEqual(pia.bind_port(second["payload"], sig)["status"], 401)
        # missing parameters
        res = pia.https([{"method": "GET", "path": "/getSignature"},
                         {"method": "GET", "path": "/bindPort?payload=x"}])
        self.assertEqual([(x["status"], x["json"]) for x in res["responses"]],
                         [(400, {"status": "ERROR", "message": "missing token"}),
                          (400, {"status": "ERROR", "message": "missing payload or signature"})])

    def test_unknown_token(self):
        lab, pia = self.pia()
        r = pia.get_signature("not-issued")
        self.assertEqual((r["status"], r["json"]), (401, INVALID_TOKEN))
        self.assertEqual(pia.requests(path="/getSignature")[0]["token_match"], False)
        pia.add_token("given+by/TokenCredential=")
        self.assertEqual(pia.get_signature("given+by/TokenCredential=")["status"], 200)

    def test_missing_url_encoding_fails(self):
        lab, pia = self.pia()
        tok = self.token(pia)
        r = pia.get_signature(tok, encode=False)          # "+" arrives as a space
        self.assertEqual((r["status"], r["json"]), (401, INVALID_TOKEN))
        e = pia.requests(path="/getSignature")[-1]
        self.assertEqual(e["token"], tok.replace("+", " "))
        self.assertIn("+", e["unencoded"]["token"])
        s = self.signature(pia, tok)
        r = pia.bind_port(s["payload"], s["signature"], encode=False)
        self.assertEqual((r["status"], r["json"]), (401, BAD_SIGNATURE))
        e = pia.requests(path="/bindPort")[-1]
        self.assertFalse(e["match"])
        self.assertTrue({"+", "/"} <= set(e["unencoded"]["signature"]), e)
        # only "+" encoded, "/" and "=" raw: legal URLs, refused while strict (the default),
        # accepted by a lenient server; a raw "+" fails either way
        half = {k: s[k].replace("+", "%2B") for k in ("payload", "signature")}
        path = f"/bindPort?payload={half['payload']}&signature={half['signature']}"
        self.assertEqual(pia.https([{"method": "GET", "path": path}])["responses"][0]["status"],
                         401)
        pia.set(strict_query=False)
        self.assertEqual(pia.https([{"method": "GET", "path": path}])["responses"][0]["json"],
                         BIND_OK)
        r = pia.bind_port(s["payload"], s["signature"], encode=False)
        self.assertEqual(r["status"], 401)
        self.assertEqual(pia.get_signature(tok, encode=False)["status"], 401)
        # properly encoded works in both modes
        self.assertEqual(pia.bind_port(s["payload"], s["signature"])["json"], BIND_OK)
        pia.set(strict_query=True)
        self.assertEqual(pia.bind_port(s["payload"], s["signature"])["json"], BIND_OK)

    # --- injected failures, expiry, forgetting -------------------------------------------------------
    def test_bind_busy_and_bad_signature(self):
        lab, pia = self.pia()
        s = self.signature(pia)
        port = decode_payload(s["payload"])["port"]
        self.assertEqual(pia.fail_bind("busy", count=2), 2)
        self.assertEqual(pia.fail_bind("bad-signature"), 3)
        got = [pia.bind_port(s["payload"], s["signature"]) for _ in range(4)]
        self.assertEqual([(r["status"], r["json"]) for r in got],
                         [(409, {"status": "", "message":
                                 f"Port {port} is busy. Please use another server"})] * 2
                         + [(401, BAD_SIGNATURE), (200, BIND_OK)])
        self.assertEqual([e["injected"] for e in pia.requests(path="/bindPort")],
                         [True, True, True, False])
        self.assertEqual(pia.state()["binds"][str(port)]["count"], 1)
        # other replies for any route
        pia.fail("signature", 500, {"status": "ERROR", "message": "internal"})
        pia.fail("token", 503, "")
        r = pia.get_signature(self.token_after_failure(pia))
        self.assertEqual((r["status"], r["json"]), (500, {"status": "ERROR",
                                                          "message": "internal"}))
        pia.fail_bind("busy")
        pia.clear_failures()
        self.assertEqual(pia.bind_port(s["payload"], s["signature"])["status"], 200)
        self.assertEqual(pia.state()["failures"], {"token": [], "signature": [], "bind": []})

    def token_after_failure(self, pia):
        r = pia.get_token()
        self.assertEqual((r["status"], r["body"]), (503, ""))
        return self.token(pia)

    def test_next_signature_port_and_expiry(self):
        lab, pia = self.pia()
        tok = self.token(pia)
        pia.next_signature(port=40001, expires_in=3 * 86400)
        pia.next_signature(port=40002, expires_at="2020-06-30T22:33:44.114369906Z")
        t0 = time.time()
        near = decode_payload(self.signature(pia, tok)["payload"])
        self.assertEqual(near["port"], 40001)
        self.assertRegex(near["expires_at"], EXPIRES)
        self.assertAlmostEqual(unix(near["expires_at"]) - t0, 3 * 86400, delta=60)
        old = self.signature(pia, tok)
        self.assertEqual(decode_payload(old["payload"]),
                         {"token": tok, "port": 40002,
                          "expires_at": "2020-06-30T22:33:44.114369906Z"})
        r = pia.bind_port(old["payload"], old["signature"])
        self.assertEqual((r["status"], r["json"]),
                         (401, {"status": "ERROR", "message": "payload expired"}))
        self.assertTrue(pia.requests(path="/bindPort")[-1]["expired"])
        # then random ports and 62 days again
        nxt = decode_payload(self.signature(pia, tok)["payload"])
        self.assertNotIn(nxt["port"], (40001, 40002))
        self.assertGreater(unix(nxt["expires_at"]) - time.time(), 61 * 86400)

    def test_restart_keeps_what_it_issued_and_forget_drops_it(self):
        lab, pia = self.pia()
        tok = self.token(pia)
        s = self.signature(pia, tok)
        pid = pia.pid
        lab.restart_fake_pia(pia)
        self.assertNotEqual(pia.pid, pid)
        self.assertFalse(pmlab.pid_alive(pid))
        self.assertEqual(pia.bind_port(s["payload"], s["signature"])["json"], BIND_OK)
        pia.forget()
        self.assertEqual(pia.bind_port(s["payload"], s["signature"])["json"], BAD_SIGNATURE)
        s2 = self.signature(pia, tok)                    # the token is still good
        lab.restart_fake_pia(pia, forget=True)
        self.assertEqual(pia.bind_port(s2["payload"], s2["signature"])["json"], BAD_SIGNATURE)
        self.assertEqual(pia.get_signature(tok)["status"], 200)
        pia.forget(tokens=True)
        self.assertEqual(pia.get_signature(tok)["json"], INVALID_TOKEN)
        lab.stop_fake_pia(pia)
        self.assertIsNone(pia.pid)
        self.assertEqual(lab.pias, [])

    # --- HTTP ----------------------------------------------------------------------------------------
    def test_keep_alive(self):
        lab, pia = self.pia()
        tok = self.token(pia)
        from urllib.parse import quote
        res = pia.https([{"method": "GET", "path": "/ping"},
                         {"method": "GET", "path": "/getSignature?token=" + quote(tok, safe="")},
                         {"method": "GET", "path": "/nope"},
                         {"method": "POST", "path": "/bindPort", "body": "x"},
                         {"method": "GET", "path": "/bindPort?payload=a&signature=b"},
                         {"method": "GET", "path": "/ping"}])
        r = res["responses"]
        self.assertEqual([x["status"] for x in r], [200, 200, 404, 405, 401, 200])
        self.assertEqual(r[2]["json"], {"status": "ERROR", "message": "not found"})
        self.assertEqual(r[3]["headers"].get("allow"), "GET, HEAD")
        self.assertEqual(len({x["local_port"] for x in r}), 1,
                         f"not one connection: {[x['local_port'] for x in r]}")
        self.assertTrue(all(x["headers"].get("connection") != "close" for x in r))
        gw = wait_for(lambda: pia.connections("gateway"), 10, message="no close event")
        self.assertEqual(len(gw), 1, gw)
        self.assertEqual(gw[0]["requests"], 6)
        self.assertEqual([e["n"] for e in pia.requests(role="gateway")], [1, 2, 3, 4, 5, 6])
        self.assertTrue(all(a["boottime"] <= b["boottime"]
                            for a, b in zip(pia.log(), pia.log()[1:])))


if __name__ == "__main__":
    pmlab.run_tests(TestFakePia)
