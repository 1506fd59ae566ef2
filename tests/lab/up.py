#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Bring the portmap test lab up for a human: namespaces lan-SUF, gw-SUF, inet-SUF in the real
(init) namespace set, persisting after this script exits, with miniupnpd (or the fake gateway)
in gw.  --topology double: lan-SUF, router-SUF, gw-SUF (the VPN gateway, 10.2.0.1), inet-SUF,
and with --demo portmapd runs in router as the LAN's NAT-PMP gateway (design §3 "Gateway"), its
rules in nftables or, with --router mikrotik, on the lab's fake RouterOS; --segment puts it on a
segment of its own behind the router (pmh-SUF, 192.168.78.2), as a container on a MikroTik.  What it made is recorded in /run/portmap-lab/ (suffix, PIDs, workdir); tests/lab/down
removes it.  Refuses to run while a lab is recorded.

To add something to the lab (e.g. portmapd in lan), extend start_extras(): start processes with
lab.spawn(ns, argv, name=...) so they are tracked (their PIDs land in the state file and down
kills them), and put anything down or other tools need to know into lab.extra (saved too).
"""

import argparse
import fcntl
import os
import subprocess
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))

import pmlab  # noqa: E402

STATE_DIR = "/run/portmap-lab"
STATE = os.path.join(STATE_DIR, "state.json")
WORKDIR = os.path.join(STATE_DIR, "work")


REPO = os.path.realpath(os.path.join(os.path.dirname(os.path.realpath(__file__)), "..", ".."))
BUILD = os.path.join(REPO, "build")
DEMO_PORT = 8080

def start_extras(lab, args):
    """--demo: a private system bus, portmapd in lan, a web server in lan, a mapping added
    with portmapctl and proven with a request from inet, and (single topology) coturn in inet
    for portmapd's STUN discovery, shown by portmapctl discover.  Double topology: portmapd in
    router as the LAN's NAT-PMP gateway, the mapping asked for by natpmpc in lan."""
    if not args.demo:
        return
    portmapd = os.path.join(BUILD, "daemon", "portmapd")
    portmapctl = os.path.join(BUILD, "client", "portmapctl", "portmapctl")
    busdir = os.path.join(STATE_DIR, "bus")
    os.makedirs(busdir, exist_ok=True)
    os.chmod(busdir, 0o755)
    conf = os.path.join(busdir, "bus.conf")
    with open(conf, "w") as f:
        f.write(pmlab.bus_config(busdir))
    bus = subprocess.Popen(["dbus-daemon", "--nofork", "--print-address=1",
                            "--config-file=" + conf], stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL, start_new_session=True)
    lab.track("dbus-daemon", bus.pid, popen=bus)
    address = bus.stdout.readline().decode().strip()
    bus.stdout.close()
    if not address:
        raise RuntimeError("the private dbus-daemon did not start")
    env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=address)

    config = os.path.join(STATE_DIR, "portmapd.conf")
    double = lab.topology == "double"
    router, router_group = "nftables", ""
    if double and args.router == "mikrotik":
        # the lab's fake RouterOS in router, speaking the real API; its password in a file
        ros = lab.start_fake_routeros()
        password = os.path.join(STATE_DIR, "mikrotik.pass")
        fd = os.open(password, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(ros.password + "\n")
        router = "lab-router"
        router_group = (f"[MikroTik {router}]\nAddress="
                        f"{lab.ROUTER_SEG_ADDR if args.segment else '127.0.0.1'}\n"
                        f"Username={ros.user}\nPasswordFile={password}\n\n")
    listen = lab.PMHOST_ADDR if args.segment else lab.ROUTER_LAN_ADDR
    with open(config, "w") as f:
        if double:
            f.write(f"# the VPN gateway runs miniupnpd on {lab.VPN_GW_ADDR}; portmapd answers "
                    f"NAT-PMP to the LAN\n[Provider vpn]\nType=natpmp\n"
                    f"Gateway={lab.VPN_GW_ADDR}\n\n{router_group}[Gateway]\nListen={listen}\n"
                    f"AllowedNetworks={lab.LAN_NET}\nUpstream=vpn\nRouter={router}\n")
        else:
            # coturn in inet on two addresses: the public endpoint and RFC 5780's behaviours
            lab.start_coturn()
            f.write(f"# the lab's NAT gateway runs miniupnpd on its LAN address\n"
                    f"[Provider lab]\nType=natpmp\nGateway={lab.GW_LAN_ADDR}\n\n"
                    f"# coturn runs in inet on {lab.STUN_ADDR1} and {lab.STUN_ADDR2}\n"
                    f"[STUN]\nServers={lab.STUN_ADDR1}:3478\nLocalPort=51820\n")
    log = open(os.path.join(STATE_DIR, "portmapd.log"), "w")
    lab.spawn(lab.ns_pmhost if args.segment else lab.ns_router if double else lab.ns_lan,
              [portmapd, "--config", config, "--state-dir", os.path.join(STATE_DIR, "state")],
              name="portmapd", env=env, stdout=log, stderr=subprocess.STDOUT)
    log.close()

    # portmapctl for the user: the built binary on the lab's bus
    wrapper = os.path.join(STATE_DIR, "portmapctl")
    with open(wrapper, "w") as f:
        f.write(f"#!/bin/sh\nDBUS_SYSTEM_BUS_ADDRESS='{address}' exec '{portmapctl}' \"$@\"\n")
    os.chmod(wrapper, 0o755)
    lab.extra.update(bus_address=address, portmapctl=wrapper, config=config)

    def ctl(*argv, check=True):
        return subprocess.run([portmapctl, *argv], env=env, capture_output=True, text=True,
                              timeout=60, check=check)

    pmlab.wait_for(lambda: ctl("status", check=False).returncode == 0, 10,
                   message="portmapd did not come up on the lab's bus")
    web = os.path.join(lab.workdir, "www")
    os.makedirs(web, exist_ok=True)
    with open(os.path.join(web, "index.html"), "w") as f:
        f.write("hello from lan, through the NAT\n")
    lab.spawn(lab.ns_lan, ["/usr/bin/python3", "-m", "http.server", "--bind", "0.0.0.0",
                           "--directory", web, str(DEMO_PORT)], name="web-server",
              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if double:
        print(f"# from {lab.ns_lan}: natpmpc -g {lab.ROUTER_LAN_ADDR} -a {DEMO_PORT} {DEMO_PORT} "
              "tcp 3600")

        def mapped():
            r = lab.natpmpc("-a", str(DEMO_PORT), str(DEMO_PORT), "tcp", "3600",
                            ns=lab.ns_lan, gateway=lab.ROUTER_LAN_ADDR, check=False)
            return r["mapping"]

        external = pmlab.wait_for(mapped, 30, interval=1,
                                  message="portmapd's gateway did not map the port for lan")
        external = external["external_port"]
    else:
        print(f"$ portmapctl add tcp {DEMO_PORT} --name web")
        external = int(ctl("add", "tcp", str(DEMO_PORT), "--name", "web").stdout.strip())
    print(external)
    url = f"http://{lab.GW_WAN_ADDR}:{external}/"
    fetch = ("import sys, urllib.request; "
             "sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())")

    def fetched():
        cp = lab.run(lab.ns_inet, ["/usr/bin/python3", "-c", fetch, url], check=False)
        return cp.stdout if cp.returncode == 0 else None

    body = pmlab.wait_for(fetched, 15, message=f"no answer from {url} in inet")
    print(f"# from {lab.ns_inet}, the internet side: GET {url}")
    print(body, end="")
    print("$ portmapctl status")
    print(ctl("status").stdout)
    if not double:
        print("$ portmapctl discover")
        print(ctl("discover").stdout)
    lab.extra["demo_url"] = url


def describe(lab):
    if lab.topology == "double":
        lines = [
            f"portmap test lab {lab.suffix} is up (double NAT; VPN gateway: "
            f"{lab.gateway or 'none'})",
            f"  {lab.ns_lan:<14} {lab.LAN_ADDR}/24 and {lab.LAN_ADDR2}/24 on {lab.if_lan}, "
            f"default via {lab.ROUTER_LAN_ADDR}",
            f"  {lab.ns_router:<14} {lab.ROUTER_LAN_ADDR}/24 on {lab.if_router_lan} (LAN), "
            f"{lab.ROUTER_VPN_ADDR}/24 on {lab.if_router_vpn} (VPN side), NAT, forward "
            "policy drop + ct status dnat accept",
            f"  {lab.ns_gw:<14} {lab.VPN_GW_ADDR}/24 on {lab.if_gw_lan} (router side), "
            f"{lab.GW_WAN_ADDR}/24 on {lab.if_gw_wan} (WAN), NAT + miniupnpd chains",
            f"  {lab.ns_inet:<14} {lab.INET_ADDR}/24 on {lab.if_inet}, no default route",
        ]
        if getattr(lab, "ns_pmhost", None):
            lines.insert(3, f"  {lab.ns_pmhost:<14} {lab.PMHOST_ADDR}/24 behind the router "
                            f"({lab.ROUTER_SEG_ADDR}), which forwards the LAN's UDP 5351 here")
    else:
        lines = [
            f"portmap test lab {lab.suffix} is up (gateway: {lab.gateway or 'none'})",
            f"  {lab.ns_lan:<12} {lab.LAN_ADDR}/24 on {lab.if_lan}, default via "
            f"{lab.GW_LAN_ADDR}",
            f"  {lab.ns_gw:<12} {lab.GW_LAN_ADDR}/24 on {lab.if_gw_lan} (LAN), "
            f"{lab.GW_WAN_ADDR}/24 on {lab.if_gw_wan} (WAN), NAT + miniupnpd chains",
            f"  {lab.ns_inet:<12} {lab.INET_ADDR}/24 on {lab.if_inet}, no default route",
        ]
    if lab.miniupnpd_pid:
        lines.append(f"  miniupnpd    pid {lab.miniupnpd_pid}, config {lab.miniupnpd_conf}")
    if lab.fake:
        lines.append(f"  fake gateway pid {lab.fake.pid}, control socket {lab.fake.path}")
    for t in lab.tracked():
        if t.pid not in (lab.miniupnpd_pid, getattr(lab.fake, "pid", None)):
            lines.append(f"  {t.name:<12} pid {t.pid} in {t.ns or 'the host namespace'}")
    lines += [
        f"  workdir      {lab.workdir}",
        f"  state        {STATE}",
    ]
    if lab.extra.get("portmapctl"):
        ctl = lab.extra["portmapctl"]
        where = (lab.ns_pmhost if getattr(lab, "ns_pmhost", None) else
                 lab.ns_router if lab.topology == "double" else lab.ns_lan)
        lines += [
            f"portmapd runs in {where} on a private system bus; talk to it with:",
            f"  {ctl} status        (list, port web, monitor, add udp 9000, remove web ...)",
            f"  ip netns exec {lab.ns_inet} python3 -c \"import urllib.request; "
            f"print(urllib.request.urlopen('{lab.extra['demo_url']}').read())\"",
            f"  log: {STATE_DIR}/portmapd.log   config: {lab.extra['config']}",
        ]
    else:
        if lab.topology == "double":
            lines += [
                "try:",
                f"  ip netns exec {lab.ns_router} natpmpc -g {lab.VPN_GW_ADDR} "
                "-a 7001 7001 tcp 120",
            ]
        else:
            lines += [
                "try:",
                f"  ip netns exec {lab.ns_lan} natpmpc -g {lab.GW_LAN_ADDR} -a 7001 7001 tcp 120",
            ]
    lines += [
        f"  ip netns exec {lab.ns_gw} nft list table inet filter",
        "stop and remove everything with: tests/lab/down",
    ]
    return "\n".join(lines)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--gateway", choices=("miniupnpd", "fake", "none"), default="miniupnpd")
    p.add_argument("--suffix", help="4-6 hex digits (default: random)")
    p.add_argument("--grant-lifetime", type=int, help="the fake gateway's fixed grant")
    p.add_argument("--topology", choices=pmlab.TOPOLOGIES, default="single",
                   help="single: lan - gw - inet (default); double: lan - router (portmapd's "
                        "LAN gateway) - gw (the VPN gateway) - inet")
    p.add_argument("--router", choices=("nftables", "mikrotik"), default="nftables",
                   help="double topology: portmapd's rules in nftables (default) or on the "
                        "lab's fake RouterOS over the RouterOS API")
    p.add_argument("--segment", action="store_true",
                   help="double topology: portmapd on a segment of its own behind the router "
                        "(needs --router mikrotik: the rules are the router's)")
    p.add_argument("--demo", action="store_true",
                   help="also run portmapd in lan, add a mapping and prove it from inet")
    args = p.parse_args()
    if (args.router != "nftables" or args.segment) and args.topology != "double":
        p.error("--router and --segment need --topology double")
    if args.segment and args.router != "mikrotik":
        p.error("--segment needs --router mikrotik (nftables rules are on portmapd's host)")
    if os.geteuid() != 0:
        sys.exit("up: must run as root")
    os.makedirs(STATE_DIR, mode=0o755, exist_ok=True)
    lock = open(os.path.join(STATE_DIR, "lock"), "w")
    fcntl.flock(lock, fcntl.LOCK_EX)
    if os.path.exists(STATE):
        sys.exit(f"up: a lab is already up (recorded in {STATE}); run tests/lab/down first")
    lab = pmlab.Lab(gateway=None if args.gateway == "none" else args.gateway, workdir=WORKDIR,
                    suffix=args.suffix, grant_lifetime=args.grant_lifetime, state_path=STATE,
                    persist=True, topology=args.topology,
                    **({"segment": True} if args.segment else {}))
    try:
        lab.up()
        start_extras(lab, args)
        lab.save_state(STATE)
    except BaseException as e:
        lab.failed = True
        lab.down()
        if isinstance(e, Exception):
            sys.exit(f"up: failed, everything removed again: {e}")
        raise
    print(describe(lab))


if __name__ == "__main__":
    main()
