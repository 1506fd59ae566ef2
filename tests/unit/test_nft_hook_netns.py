#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""data/portmap-nft-hook, the example exec hook, against the kernel's nftables in a network
namespace of the test's own (re-executed under `unshare --net`, which goes with the
process: nothing to clean up): up adds a mapping's ports to its sets, change replaces
them, down removes them, other mappings are left alone, and running an event twice changes
nothing. Needs root and nft (a missing tool is a failure; without root it is skipped).
"""

import json
import os
import shutil
import subprocess
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
HOOK = os.environ.get("NFT_HOOK", os.path.join(HERE, "..", "..", "data", "portmap-nft-hook"))
TABLE = "portmap_hook"


def run_hook(event, mapping, tcp="", udp="", *options):
    env = {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
           "PORTMAP_EVENT": event, "PORTMAP_MAPPING": mapping,
           "PORTMAP_TCP_PORT": tcp, "PORTMAP_UDP_PORT": udp}
    result = subprocess.run([HOOK, *options, event], env=env, capture_output=True, text=True,
                            timeout=10)
    if result.returncode != 0:
        raise AssertionError(f"{HOOK} {event} {mapping}: {result.returncode}: {result.stderr}")
    return result.stdout


def ruleset(table=TABLE):
    """{set name: sorted elements} and the rules' [(expression text, comment)]"""
    out = subprocess.run(["nft", "-j", "list", "table", "inet", table], check=True,
                         capture_output=True, text=True).stdout
    sets, rules = {}, []
    for item in json.loads(out)["nftables"]:
        if "set" in item:
            elems = item["set"].get("elem", [])
            sets[item["set"]["name"]] = sorted(e if isinstance(e, int) else e for e in elems)
        elif "rule" in item:
            rules.append((json.dumps(item["rule"]["expr"]), item["rule"].get("comment")))
    return sets, rules


class NftHookTest(unittest.TestCase):
    def test_up_change_down(self):
        out = run_hook("up", "torrent", "41000", "41001")
        self.assertEqual(out, "up torrent: tcp 41000, udp 41001\n")
        sets, rules = ruleset()
        self.assertEqual(sets, {"tcp_torrent": [41000], "udp_torrent": [41001]})
        self.assertEqual([c for _, c in rules], ["portmap torrent"] * 2)
        self.assertIn('"@tcp_torrent"', rules[0][0])
        self.assertIn('"accept"', rules[0][0])
        self.assertIn('"@udp_torrent"', rules[1][0])

        # again (a reconcile push): nothing changes, no rule is added twice
        run_hook("up", "torrent", "41000", "41001")
        self.assertEqual(ruleset(), (sets, rules))

        # another mapping, TCP only
        run_hook("up", "web-1", "8080")
        sets, rules = ruleset()
        self.assertEqual(sets, {"tcp_torrent": [41000], "udp_torrent": [41001],
                                "tcp_web-1": [8080], "udp_web-1": []})
        self.assertEqual(len(rules), 4)

        # change replaces the mapping's ports, and only its own
        run_hook("change", "torrent", "42000", "42000")
        sets, _ = ruleset()
        self.assertEqual(sets, {"tcp_torrent": [42000], "udp_torrent": [42000],
                                "tcp_web-1": [8080], "udp_web-1": []})

        # down removes them; twice is the same
        for _ in range(2):
            run_hook("down", "torrent", "42000", "42000")
            sets, rules = ruleset()
            self.assertEqual(sets, {"tcp_torrent": [], "udp_torrent": [],
                                    "tcp_web-1": [8080], "udp_web-1": []})
            self.assertEqual(len(rules), 4)

        # and up again
        run_hook("up", "torrent", "43000", "43001")
        sets, rules = ruleset()
        self.assertEqual(sets["tcp_torrent"], [43000])
        self.assertEqual(sets["udp_torrent"], [43001])
        self.assertEqual(len(rules), 4)

    def test_options_and_errors(self):
        # another table, and a mark for a host firewall to accept
        run_hook("up", "game", "27015", "27015", "-t", "other", "-m", "0x504d")
        sets, rules = ruleset("other")
        self.assertEqual(sets, {"tcp_game": [27015], "udp_game": [27015]})
        self.assertIn('"mangle"', rules[0][0])
        self.assertIn("20557", rules[0][0])  # 0x504d
        # Exec= may put arguments before the event: the event is the last one
        for args, message in (([], "usage"), (["reload"], "unknown event")):
            result = subprocess.run([HOOK, *args],
                                    env={"PATH": os.environ["PATH"], "PORTMAP_MAPPING": "m"},
                                    capture_output=True, text=True)
            self.assertEqual(result.returncode, 2)
            self.assertIn(message, result.stderr)
        result = subprocess.run([HOOK, "up"], env={"PATH": os.environ["PATH"],
                                                   "PORTMAP_MAPPING": "a b"},
                                capture_output=True, text=True)
        self.assertEqual(result.returncode, 2)
        self.assertIn("invalid mapping name", result.stderr)


def main():
    if os.geteuid() != 0:
        print("1..0 # SKIP needs root (nftables in a network namespace)")
        return 77
    for tool in ("nft", "unshare"):
        assert shutil.which(tool), f"missing tool: {tool}"
    if os.environ.get("NFT_HOOK_UNSHARED") != "1":
        env = dict(os.environ, NFT_HOOK_UNSHARED="1")
        return subprocess.run(["unshare", "--net", sys.executable, *sys.argv], env=env).returncode
    return 0 if unittest.main(exit=False, verbosity=2).result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
