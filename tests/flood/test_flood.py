#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Flood (issue 12): portmapd as a LAN NAT-PMP gateway keeps serving a well-behaved client
while another floods it.

In the double-NAT lab (tests/flood/gwlab.py; today's single lab until pmlab has it),
portmapd runs in the router with a [Gateway] on the defaults (RateLimit=200,
MaxMappingsPerClient=64). Client B (192.168.77.3) maps 4 ports, then renews them all through
the flood in a closed loop, one request at a time, at most 150 per second (under its own
rate limit). Client A (192.168.77.2) sends 100 000 requests at 20 000/s, a mix of opcode 0
and TCP/UDP map requests over 500 internal ports (far more than 64 mappings). Both are
bench/natpmp-load (NATPMP_LOAD, set by meson); nothing is pinned.

Asserted: B's p99 ≤ 5 ms and ≤ 1 % of its requests lost; A got at most
RateLimit × duration + burst answers (+ slack), and result 4 beyond its 64 mappings; A holds
≤ 64 mappings (the router's rules by their comments "portmap:INSTANCE:PROTO:T:CLIENT:PORT",
and A's own count of granted ports); portmapd's RSS after the flood ≤ before + 4 MiB;
portmapd still answers both clients afterwards.

Timings mean nothing under a sanitizer: on a sanitizer build the test is skipped (and meson
defines it only without one). Run it on the gcc build: meson test -C build --suite flood.
PORTMAP_FLOOD_TOPOLOGY=single|double forces a topology (default: double if pmlab has it).
"""

import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lab"))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
sys.path.insert(0, HERE)
import gwlab  # noqa: E402

# a timing test: every process it starts (miniupnpd, the load generators, portmapd) runs
# without meson's MALLOC_PERTURB_, which fills every allocation and free (gwlab.py)
os.environ.pop("MALLOC_PERTURB_", None)
import pmlab  # noqa: E402
from test_portmapd import PORTMAPD, Bus, PortmapdTestCase  # noqa: E402

BUILDDIR = os.environ.get("PORTMAP_BUILDDIR", os.path.join(HERE, "..", "..", "build"))
NATPMP_LOAD = os.environ.get("NATPMP_LOAD", os.path.join(BUILDDIR, "bench", "natpmp-load"))

RATE_LIMIT = 200            # the [Gateway] defaults
MAX_MAPPINGS = 64
FLOOD_REQUESTS = 100000
FLOOD_RATE = 20000
B_RATE = 150
B_PORTS = 4
MIB = 1024


def sanitized(path):
    """Whether @path is linked with a sanitizer runtime."""
    try:
        out = subprocess.run(["readelf", "-d", path], capture_output=True, text=True,
                             timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return False
    return any(lib in out for lib in ("libasan", "libubsan", "libtsan", "liblsan"))


class FloodTest(PortmapdTestCase):
    """PortmapdTestCase's bus, daemon log dump and SIGTERM check at teardown; the lab is
    gwlab's (portmapd in the server namespace, not lan)."""

    def setUp(self):
        if sanitized(PORTMAPD):
            self.skipTest("portmapd is built with a sanitizer: timings mean nothing")
        for path in (PORTMAPD, NATPMP_LOAD):
            if not os.access(path, os.X_OK):
                self.fail(f"{path} is not built")
        self.workdir = tempfile.mkdtemp(prefix="portmap-flood-")
        os.chmod(self.workdir, 0o755)
        self.addCleanup(shutil.rmtree, self.workdir, True)
        self.g = gwlab.GatewayLab(os.environ.get("PORTMAP_FLOOD_TOPOLOGY", "auto"))
        self.g.up()
        self.addCleanup(self.g.down)
        self.lab = self.g.lab
        self.bus = Bus(self.workdir)
        self.addCleanup(self.bus.stop)
        self.daemon = None
        self.daemon_log = os.path.join(self.workdir, "portmapd.log")

    def start_gateway(self):
        self.g.start_upstream()
        self.daemon = self.g.start_portmapd(PORTMAPD, gwlab.gateway_config(self.g.upstream),
                                            self.workdir, bus_address=self.bus.address,
                                            log_level="info")
        self.g.wait_answers(NATPMP_LOAD, timeout=30, alive=self.check_alive,
                            bind=self.g.client2_addr)

    def check_alive(self):
        if self.daemon.poll() is not None:
            self.dump_log()
            self.fail(f"portmapd exited with {self.daemon.returncode}")
        return True

    def load(self, *args, bind, timeout=60):
        # nothing pinned: B's latency is what the scheduler gives it next to the flood
        return self.g.load(NATPMP_LOAD, *args, bind=bind, timeout=timeout)

    def client_a_rules(self):
        return {(proto, port) for _, proto, _, client, port in self.g.portmap_rules()
                if client == self.g.client_addr}

    def test_flood_keeps_other_client_served(self):
        g = self.g
        self.start_gateway()

        # B maps its 4 ports (the first request of each creates the mapping upstream)
        b0 = self.load("--op", "tcp", "--ports", B_PORTS, "--port-base", 40000, "--count",
                       B_PORTS, "--window", 1, "--timeout", 2000, "--lifetime", 3600,
                       bind=g.client2_addr)
        self.assertEqual(b0["mapped"], B_PORTS, f"B's mappings: {b0}")
        gwlab.settle(self.daemon.pid, quiet=0.5, timeout=10)
        rss_before = gwlab.vmrss_kib(self.daemon.pid)

        # B renews through the whole flood: the same requests, the granted port suggested
        flood_s = FLOOD_REQUESTS / FLOOD_RATE
        b = g.spawn_load(NATPMP_LOAD, "--op", "tcp", "--ports", B_PORTS, "--port-base", 40000,
                         "--prime", "--window", 1, "--pace", B_RATE,
                         "--duration", f"{flood_s + 0.5:.1f}",
                         "--timeout", 250, "--lifetime", 3600, bind=g.client2_addr)
        time.sleep(0.25)
        a = self.load("--op", "0,tcp,udp,tcp", "--ports", 500, "--port-base", 30000,
                      "--rate", FLOOD_RATE, "--count", FLOOD_REQUESTS, "--timeout", 500,
                      "--lifetime", 3600, bind=g.client_addr, timeout=120)
        b = g.finish_load(b, timeout=60)
        self.check_alive()
        sys.stderr.write(f"flood: A {a}\nflood: B {b}\n")

        # B: served throughout
        self.assertEqual(b["primed_ok"], B_PORTS, f"B's renewals before the flood: {b}")
        self.assertGreater(b["sent"], B_RATE * flood_s * 0.9, f"B did not keep up: {b}")
        self.assertLessEqual(b["lost"], b["sent"] * 0.01, f"B lost requests: {b}")
        self.assertEqual(set(b["results"]), {"0"}, f"B's result codes: {b['results']}")
        self.assertLessEqual(b["rtt_us"]["p99"], 5000, f"B's p99: {b['rtt_us']}")

        # A: rate-limited (over the limit: dropped unanswered) ...
        self.assertEqual(a["sent"], FLOOD_REQUESTS)
        replies = a["answered"] + a["unmatched"]
        allowed = RATE_LIMIT * a["elapsed_s"] + 2 * RATE_LIMIT
        self.assertLessEqual(replies, allowed * 1.05 + 20,
                             f"A got {replies} answers in {a['elapsed_s']:.2f} s "
                             f"(RateLimit={RATE_LIMIT}, burst {2 * RATE_LIMIT}): {a}")
        self.assertGreater(a["answered"], 0, f"A was never answered: {a}")
        # ... and held to MaxMappingsPerClient (result 4 beyond it)
        self.assertLessEqual(a["mapped"], MAX_MAPPINGS, f"A's granted ports: {a}")
        self.assertIn("4", a["results"], f"A asked for more than {MAX_MAPPINGS} mappings "
                      f"and was never refused: {a['results']}")
        rules = self.client_a_rules()
        self.assertLessEqual(len(rules), MAX_MAPPINGS, f"A's router rules: {sorted(rules)}")
        b_rules = {(p, port) for _, p, _, c, port in g.portmap_rules() if c == g.client2_addr}
        self.assertEqual(len(b_rules), B_PORTS, f"B's router rules: {sorted(b_rules)}")

        # memory bounded
        gwlab.settle(self.daemon.pid, quiet=0.5, timeout=20)
        rss_after = gwlab.vmrss_kib(self.daemon.pid)
        sys.stderr.write(f"flood: portmapd RSS {rss_before} KiB before, {rss_after} KiB "
                         f"after; A's rules {len(rules)}\n")
        self.assertLessEqual(rss_after, rss_before + 4 * MIB)

        # still answering: B at once, A once its bucket has refilled
        g.wait_answers(NATPMP_LOAD, timeout=5, alive=self.check_alive, bind=g.client2_addr)
        g.wait_answers(NATPMP_LOAD, timeout=5, alive=self.check_alive, bind=g.client_addr)
        b1 = self.load("--op", "tcp", "--ports", B_PORTS, "--port-base", 40000, "--prime",
                       "--count", B_PORTS, "--window", 1, "--timeout", 1000,
                       bind=g.client2_addr)
        self.assertEqual(b1["mapped"], B_PORTS, f"B's renewals after the flood: {b1}")


if __name__ == "__main__":
    pmlab.reexec_in_private_netns()
    unittest.main()
