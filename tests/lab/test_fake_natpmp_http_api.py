#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Tests of the fake natpmp-http-api service (fake-natpmp-http-api) itself, in the lab.

Runs as root; re-executes itself under `unshare --net --mount --pid`
(pmlab.reexec_in_private_netns).  Every test brings up a fresh lab and starts the fake the way
portmapd's tests will: in lan (NAT-PMP maps the sender), on lan's 127.0.0.1:8080, asking the
lab's gateway.  HTTP requests are made from inside lan (pmlab's http helper).  Mappings made
through miniupnpd are proven by a connection from inet to the external port reaching a listener
in lan.  `test_fake_natpmp_http_api.py --list-tests` prints the test ids (used by meson).
"""

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

TOOLS = ("ip", "nft", "ss", "timeout", "unshare", "sysctl", "miniupnpd", "natpmpc")
TOKEN = "lab-token-0123"
JSON = "application/json"
TEXT = "text/plain; charset=utf-8"
MSG_415 = "Expected request with `Content-Type: application/json`"
PREFIX_400 = "Failed to parse the request body as JSON: "
PREFIX_422 = "Failed to deserialize the JSON body into the target type: "
UNAUTHORIZED = {"error": "Unauthorized"}
BAD_PROTOCOL = {"error": "protocol must be tcp or udp"}
MAP_FAILED = {"error": "Failed to request port mapping"}
CREATE_FAILED = {"error": "Failed to create NAT-PMP client"}
RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3}|\.\d{6}|\.\d{9})?\+00:00")


def fwd(body, token=None, content_type=JSON):
    """A POST /forward request for HttpApiFake.exchange."""
    headers = {}
    if content_type is not None:
        headers["Content-Type"] = content_type
    if token is not None:
        headers["Authorization"] = f"Bearer {token}" if not token.startswith("!") else token[1:]
    return {"method": "POST", "path": "/forward", "body": body, "headers": headers}


class HttpApiTestCase(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        missing = [t for t in TOOLS if not shutil.which(t)]
        assert not missing, f"missing tools: {missing}"
        assert os.geteuid() == 0, "the lab tests need root"
        assert os.environ.get("PMLAB_UNSHARED") == "1", \
            "call pmlab.reexec_in_private_netns() first"

    def lab(self, **kw):
        lab = Lab(**kw)
        self.addCleanup(self._down, lab)
        return lab.up()

    def _down(self, lab):
        outcome = getattr(self, "_outcome", None)
        if outcome is not None and not getattr(outcome, "success", True):
            lab.failed = True
        apis = list(lab.http_apis)
        lab.down()
        for api in apis:
            self.assertFalse(pmlab.pid_alive(api.pid) if api.pid else False,
                             f"{api} survived down()")

    def api(self, gateway="miniupnpd", **kw):
        kw.setdefault("token", TOKEN)
        lab = self.lab(gateway=gateway)
        return lab, lab.start_natpmp_http_api(**kw)

    def assertJson(self, resp, status, body):
        self.assertEqual((resp["status"], resp["json"]), (status, body), resp)
        self.assertEqual(resp["headers"].get("content-type"), JSON, resp)

    def assertText(self, resp, status, body):
        self.assertEqual((resp["status"], resp["body"]), (status, body), resp)
        self.assertEqual(resp["headers"].get("content-type"), TEXT, resp)


class TestFakeNatpmpHttpApi(HttpApiTestCase):
    # --- routes --------------------------------------------------------------------------------
    def test_health(self):
        lab, api = self.api(gateway=None)
        self.assertEqual((api.ns, api.address, api.port), (lab.ns_lan, "127.0.0.1", 8080))
        get, head = api.exchange([{"method": "GET", "path": "/health"},        # no auth needed
                                  {"method": "HEAD", "path": "/health"}])
        self.assertEqual(get["status"], 200, get)
        self.assertEqual(get["headers"]["content-type"], JSON)
        self.assertEqual(list(get["json"]), ["status", "timestamp"])
        self.assertEqual(get["json"]["status"], "healthy")
        self.assertRegex(get["json"]["timestamp"], RFC3339)
        self.assertTrue(get["body"].startswith('{"status":"healthy","timestamp":"'), get["body"])
        self.assertEqual((head["status"], head["body"]), (200, ""))
        self.assertEqual([(e["method"], e["path"], e["status"]) for e in api.log()],
                         [("GET", "/health", 200), ("HEAD", "/health", 200)])

    def test_unknown_routes_and_methods(self):
        lab, api = self.api(gateway=None)
        r = api.exchange([{"method": "GET", "path": "/"},
                          {"method": "GET", "path": "/forward/"},
                          {"method": "GET", "path": "/forward"},
                          {"method": "PUT", "path": "/forward", "body": "{}"},
                          {"method": "POST", "path": "/health", "body": "{}"},
                          {"method": "DELETE", "path": "/health"}])
        self.assertEqual([(x["status"], x["body"]) for x in r],
                         [(404, ""), (404, ""), (405, ""), (405, ""), (405, ""), (405, "")])
        self.assertEqual([x["headers"].get("allow") for x in r],
                         [None, None, "POST", "POST", "GET,HEAD", "GET,HEAD"])
        self.assertEqual(len({x["local_port"] for x in r}), 1, "404/405 must keep the connection")

    def test_keep_alive(self):
        lab, api = self.api(gateway=None)
        r = api.exchange([{"method": "GET", "path": "/health"},
                          fwd({"internal_port": 7001, "protocol": "tcp", "duration": 60}, "bad"),
                          fwd("{", TOKEN),
                          {"method": "GET", "path": "/health"}])
        self.assertEqual([x["status"] for x in r], [200, 401, 400, 200])
        self.assertEqual(len({x["local_port"] for x in r}), 1,
                         f"not one connection: {[x['local_port'] for x in r]}")
        self.assertTrue(all(x["headers"].get("connection") != "close" for x in r))
        self.assertEqual(len(api.log()), 4)
        self.assertEqual(len({e["peer"] for e in api.log()}), 1)

    # --- the body, before auth (axum's Json extractor) -------------------------------------------
    def test_body_rejections_come_before_auth(self):
        lab, api = self.api(gateway=None)
        good = '{"internal_port":7001,"protocol":"tcp","duration":60}'
        cases = [
            # (body, content type, status, text)
            (good, None, 415, MSG_415),
            (good, "text/plain", 415, MSG_415),
            (good, "text/json", 415, MSG_415),
            ("{", JSON, 400, PREFIX_400 + "EOF while parsing an object at line 1 column 1"),
            ("", JSON, 400, PREFIX_400 + "EOF while parsing a value at line 1 column 0"),
            ("not json", JSON, 400, PREFIX_400 + "expected ident at line 1 column 2"),
            (good + " x", JSON, 400, PREFIX_400 + "trailing characters at line 1 column 55"),
            ('{"internal_port":7001,"protocol":"tcp"}', JSON, 422,
             PREFIX_422 + "missing field `duration` at line 1 column 39"),
            ('{"internal_port":"x","protocol":"tcp","duration":60}', JSON, 422,
             PREFIX_422 + 'internal_port: invalid type: string "x", expected u16 at line 1 column 20'),
            ('{"internal_port":70000,"protocol":"tcp","duration":60}', JSON, 422,
             PREFIX_422 + "internal_port: invalid value: integer `70000`, expected u16 "
                          "at line 1 column 22"),
            ('{"internal_port":7001,"protocol":6,"duration":60}', JSON, 422,
             PREFIX_422 + "protocol: invalid type: integer `6`, expected a string "
                          "at line 1 column 34"),
            ("null", JSON, 422,
             PREFIX_422 + "invalid type: null, expected struct ForwardRequest at line 1 column 4"),
        ]
        reqs = []
        for body, ctype, _, _ in cases:
            for token in (None, "wrong", TOKEN, "!" + "Basic x"):
                reqs.append(fwd(body, token, ctype))
        got = api.exchange(reqs)
        for i, (body, ctype, status, text) in enumerate(cases):
            for j in range(4):
                with self.subTest(body=body, content_type=ctype, auth=reqs[i * 4 + j]["headers"]):
                    self.assertText(got[i * 4 + j], status, text)
        # nothing reached NAT-PMP, nothing was authorized or not: the body came first
        for e in api.forwards():
            self.assertNotIn("natpmp", e)
            self.assertNotIn("authorized", e)
        self.assertEqual(len(api.forwards()), len(reqs))

    def test_json_content_type_variants_pass(self):
        """application/json with parameters and +json suffixes pass the extractor (here the
        wrong token then answers 401), as in axum 0.8."""
        lab, api = self.api(gateway=None)
        body = {"internal_port": 7001, "protocol": "tcp", "duration": 60}
        got = api.exchange([fwd(body, "wrong", t) for t in
                            ("application/json; charset=utf-8", "Application/JSON",
                             "application/vnd.api+json")])
        for r in got:
            self.assertJson(r, 401, UNAUTHORIZED)

    # --- auth, protocol ------------------------------------------------------------------------
    def test_unauthorized(self):
        lab, api = self.api(gateway=None)
        body = {"internal_port": 7001, "protocol": "tcp", "duration": 60}
        got = api.exchange([fwd(body, None), fwd(body, "wrong"), fwd(body, "!bearer " + TOKEN),
                            fwd(body, "!" + TOKEN), fwd(body, "!Bearer  " + TOKEN),
                            fwd(body, "!Bearer " + TOKEN + "x")])
        for r in got:
            self.assertJson(r, 401, UNAUTHORIZED)
        self.assertTrue(all(e["authorized"] is False and "natpmp" not in e
                            for e in api.forwards()))

    def test_bad_protocol(self):
        lab, api = self.api()
        h = lab.silence_natpmp()
        got = api.exchange([fwd({"internal_port": 7001, "protocol": p, "duration": 60}, TOKEN)
                            for p in ("sctp", "", "tcp6")])
        for r in got:
            self.assertJson(r, 400, BAD_PROTOCOL)
        self.assertEqual(lab.natpmp_dropped(h), 0, "a bad protocol must send no NAT-PMP request")

    def test_client_creation_failure(self):
        """connect() to 255.255.255.255 without SO_BROADCAST fails, as it would for the Rust
        service: 500 "Failed to create NAT-PMP client", which comes before the protocol check."""
        lab = self.lab(gateway=None)
        api = lab.start_natpmp_http_api(token=TOKEN, gateway="255.255.255.255")
        got = api.exchange([fwd({"internal_port": 7001, "protocol": "tcp", "duration": 60}, TOKEN),
                            fwd({"internal_port": 7001, "protocol": "sctp", "duration": 60},
                                TOKEN),
                            fwd({"internal_port": 7001, "protocol": "tcp", "duration": 60},
                                "wrong")])
        self.assertJson(got[0], 500, CREATE_FAILED)
        self.assertJson(got[1], 500, CREATE_FAILED)
        self.assertJson(got[2], 401, UNAUTHORIZED)

    # --- real mappings through miniupnpd ----------------------------------------------------------
    def test_tcp_mapping_carries_traffic(self):
        lab, api = self.api()
        r = api.forward(7001, "TCP", 120)
        self.assertJson(r, 200, {"internal_port": 7001, "external_port": r["json"]["external_port"],
                                 "protocol": "tcp", "duration": 120})
        self.assertEqual(list(r["json"]), ["internal_port", "external_port", "protocol",
                                           "duration"])
        eport = r["json"]["external_port"]
        self.assertGreaterEqual(r["elapsed"], 0.25, "the service sleeps 250 ms before reading")
        self.assertIn(f"dnat ip to {lab.LAN_ADDR}:7001", lab.miniupnpd_rules())
        self.assertTrue(lab.tcp_reachable(eport, 7001), lab.last_probe.stderr)
        self.assertFalse(lab.udp_reachable(eport, 7001, timeout=2), "TCP must not carry UDP")
        (e,) = api.forwards()
        self.assertEqual((e["status"], e["authorized"], e["natpmp"]["sent"]), (200, True, 1))
        # the request the gateway answered: op 130, result 0, iport 7001, lifetime 120
        self.assertEqual(e["natpmp"]["reply"][:8], "00820000")
        self.assertEqual(e["natpmp"]["reply"][16:20], "1b59")
        self.assertEqual(int(e["natpmp"]["reply"][24:32], 16), 120)

    def test_udp_mapping_carries_traffic(self):
        lab, api = self.api()
        r = api.forward(7002, "Udp", 120)
        self.assertJson(r, 200, {"internal_port": 7002, "external_port": r["json"]["external_port"],
                                 "protocol": "udp", "duration": 120})
        self.assertTrue(lab.udp_reachable(r["json"]["external_port"], 7002), lab.last_probe.stderr)
        self.assertFalse(lab.tcp_reachable(r["json"]["external_port"], 7002, timeout=2))

    def test_no_auth_when_token_unset(self):
        lab, api = self.api(token=None)
        r = api.exchange([fwd({"internal_port": 7003, "protocol": "tcp", "duration": 60}, None),
                          fwd({"internal_port": 7003, "protocol": "tcp", "duration": 60},
                              "anything")])
        for x in r:
            self.assertEqual((x["status"], x["json"]["internal_port"]), (200, 7003), x)
        with open(api.out_path) as f:
            self.assertIn("no auth", f.read())
        self.assertTrue(lab.tcp_reachable(r[0]["json"]["external_port"], 7003))

    def test_duration_clamped(self):
        lab, api = self.api()
        r = api.forward(7004, "tcp", 100000)
        self.assertJson(r, 200, {"internal_port": 7004, "external_port": r["json"]["external_port"],
                                 "protocol": "tcp", "duration": 300})
        # the gateway was asked (and granted) the clamped lifetime
        self.assertEqual(int(api.forwards()[-1]["natpmp"]["reply"][24:32], 16), 300)
        lab.restart_natpmp_http_api(api, max_duration=60)
        self.assertEqual(api.forward(7004, "tcp", 90)["json"]["duration"], 60)
        self.assertEqual(api.forward(7004, "tcp", 30)["json"]["duration"], 30)
        lab.restart_natpmp_http_api(api, max_duration=-1)
        self.assertEqual(api.forward(7004, "tcp", 100000)["json"]["duration"], 100000)
        self.assertEqual(int(api.forwards()[-1]["natpmp"]["reply"][24:32], 16), 100000)

    # --- failures -----------------------------------------------------------------------------
    def test_silent_gateway_gives_500(self):
        lab, api = self.api()
        h = lab.silence_natpmp()
        r = api.forward(7005, "tcp", 60)
        self.assertJson(r, 500, MAP_FAILED)
        self.assertGreaterEqual(r["elapsed"], 0.25)
        self.assertLess(r["elapsed"], 2.0, "one read after 250 ms, no retry loop")
        # natpmp 0.5: the request, then (its 250 ms retry timer having passed) one resend
        self.assertEqual(lab.natpmp_dropped(h), 2)
        (e,) = api.forwards()
        self.assertEqual(e["natpmp"], {"sent": 2, "reply": None, "error": "NATPMP_TRYAGAIN"})
        lab.undrop_natpmp(h)
        self.assertEqual(api.forward(7005, "tcp", 60)["status"], 200)

    def test_stopped_gateway_gives_500(self):
        lab, api = self.api()
        lab.stop_miniupnpd()
        r = api.forward(7006, "udp", 60)
        self.assertJson(r, 500, MAP_FAILED)
        (e,) = api.forwards()
        self.assertEqual(e["natpmp"]["sent"], 1)
        self.assertEqual(e["natpmp"]["error"], "NATPMP_ERR_NOGATEWAYSUPPORT")   # ICMP refused

    def test_refused_mapping_gives_500(self):
        """miniupnpd answers internal port 0 with result 2 (not authorized)."""
        lab, api = self.api()
        r = api.forward(0, "tcp", 60)
        self.assertJson(r, 500, MAP_FAILED)
        (e,) = api.forwards()
        self.assertEqual(e["natpmp"]["error"], "NATPMP_ERR_NOTAUTHORIZED")
        self.assertEqual(e["natpmp"]["reply"][:8], "00820002")

    # --- lifecycle ------------------------------------------------------------------------------
    def test_restart_keeps_port_and_log(self):
        lab, api = self.api()
        self.assertEqual(api.forward(7007, "tcp", 60)["status"], 200)
        old = api.pid
        lab.restart_natpmp_http_api(api, token="other")
        self.assertNotEqual(api.pid, old)
        self.assertFalse(pmlab.pid_alive(old))
        self.assertEqual(api.port, 8080)
        self.assertJson(api.forward(7007, "tcp", 60, token=TOKEN), 401, UNAUTHORIZED)
        self.assertEqual(api.forward(7007, "tcp", 60)["status"], 200)
        self.assertEqual([e["status"] for e in api.forwards()], [200, 401, 200])
        lab.stop_natpmp_http_api(api)
        self.assertEqual(lab.http_apis, [])
        self.assertIn("Connection refused", str(self._refused(api)))

    def _refused(self, api):
        try:
            api.health(timeout=2)
        except AssertionError as e:
            return e
        return None

    def test_log_counts_every_request_once(self):
        """The log is what portmapd tests count retries with: one line per request, written
        before the reply, with boottime for schedule checks."""
        lab, api = self.api()
        lab.silence_natpmp()
        for _ in range(3):
            api.forward(7008, "tcp", 60)
        log = api.log()
        self.assertEqual([(e["method"], e["path"], e["status"]) for e in log],
                         [("POST", "/forward", 500)] * 3)
        self.assertTrue(all(a["boottime"] < b["boottime"] for a, b in zip(log, log[1:])))
        self.assertEqual(lab.natpmp_http_api_log(api), log)
        api.clear_log()
        self.assertEqual(api.log(), [])

    def test_delay_ms(self):
        lab, api = self.api(gateway=None, delay_ms=600)
        t0 = time.monotonic()
        r = api.health()
        self.assertEqual(r["status"], 200)
        self.assertGreaterEqual(r["elapsed"], 0.6)
        self.assertLess(time.monotonic() - t0, 10)


if __name__ == "__main__":
    pmlab.run_tests(TestFakeNatpmpHttpApi)
