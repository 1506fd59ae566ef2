#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Router=nftables (daemon/gateway/router-nftables.c) against the kernel's nftables: runs
the GTest program test-router-nftables (TAP on stdout) re-executed under `unshare --net`,
a network namespace of its own that goes with the process: the tests flush its ruleset
freely and leave nothing behind. Needs root, nft and unshare (a missing tool is a failure;
without root it is skipped). TEST_ROUTER_NFTABLES is the built program.
"""

import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
PROGRAM = os.environ.get("TEST_ROUTER_NFTABLES",
                         os.path.join(HERE, "..", "..", "build", "tests", "unit",
                                      "test-router-nftables"))


def main():
    if os.geteuid() != 0:
        # a TAP plan of nothing: meson counts it as skipped (with protocol tap, a non-zero
        # status would be an error)
        print("1..0 # SKIP needs root (nftables in a network namespace)")
        return 0
    for tool in ("nft", "unshare"):
        assert shutil.which(tool), f"missing tool: {tool}"
    assert os.access(PROGRAM, os.X_OK), f"{PROGRAM} is not built"
    env = dict(os.environ, ROUTER_NFT_UNSHARED="1")
    sys.stdout.flush()
    return subprocess.run(["unshare", "--net", PROGRAM, "--tap", *sys.argv[1:]],
                          env=env).returncode


if __name__ == "__main__":
    sys.exit(main())
