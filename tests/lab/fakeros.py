# SPDX-License-Identifier: GPL-2.0-or-later
"""Fake MikroTik RouterOS router for the portmap test lab: the RouterOS binary API (port 8728,
API-SSL 8729) with real nftables behind it.

No RouterOS exists in CI (CHR needs a download and KVM), so this fake speaks the real wire
protocol (reference routeros.md 1) and applies each `/ip/firewall/nat` dst-nat rule as a real
nftables DNAT in its own network namespace: traffic really flows through it.  Debian's
python3-librouteros is the proof that it speaks the protocol (test_fake_routeros.py).

Wire protocol: words with 1-5 byte length prefixes, a zero-length word ends a sentence, empty
sentences are ignored, a first byte >= 0xF8 (a control byte) or a word over 1 MiB closes the
connection.  Every reply sentence carries the command's `.tag=` (last word) if it had one.
Commands of one connection run one at a time, in order (each after delay_ms); /cancel is acted
on when it arrives.  Connections are independent.

Commands:
  /login =name= =password=      post-6.43: !done; wrong: !trap =message=invalid user name or
                                password (6), then !done (the connection stays open)
  /login (legacy_login)         any /login without =response= gets !done =ret=<32 hex> (a fresh
                                16-byte challenge); /login =name= =response=00<md5 hex> checks
                                MD5(0x00 || password || challenge)
  anything before a login       !fatal "not logged in", then the connection is closed
  /ip/firewall/nat/add          chain (dstnat), action (dst-nat), protocol (tcp|udp), dst-port
                                (N, N-M or a comma list of those), to-addresses (IPv4),
                                to-ports (N), in-interface (an interface of the fake's
                                namespace), comment, disabled, log, log-prefix.  !done
                                =ret=*HEX (*1, *2, ... never reused).  Applied (unless
                                disabled) as `nft add rule ip TABLE dstnat [iifname IF] meta
                                l4proto PROTO th dport PORTS dnat to ADDR[:PORT] [comment "C"]`
  /ip/firewall/nat/print        .proplist, query words (?name=v ?=name=v ?<name=v ?>name=v
  (or getall)                   ?name ?-name ?#ops), one !re per rule, all values strings;
                                an empty result: !done, or !empty then !done (empty option:
                                RouterOS 7.18+)
  /ip/firewall/nat/remove       =.id=*N (or a comma list; =numbers= too); an unknown id:
                                !trap =message=no such item, then !done; nothing removed
  /ip/route/check =dst-ip=X =once   from the namespace's routing table (ip -j route get X):
                                !re =status=ok =interface=IF =nexthop=GW-or-X, !done; without
                                once it streams (one !re) until /cancel
  /system/identity/print        !re =name=FakeRouterOS, !done
  /cancel [=tag=T]              running/queued commands (all, or tag T) get !trap
                                =category=2 =message=interrupted, then /cancel's !done, then
                                theirs
  /quit                         !fatal session terminated on request, close
  anything else                 !trap =category=0 =message=no such command prefix, !done

Control socket (--control PATH): a UNIX stream socket, one JSON object per line in
({"cmd": ..., args}), one per line out ({"ok": true, ...} or {"ok": false, "error": "..."}):
  ping
  get                             -> options
  set delay_ms= empty= legacy_login= route_check=(null: the real table | "trap": no such
                                  command, as a RouterOS without /ip/route/check | an
                                  interface name)                     -> options
  fail path="/ip/firewall/nat/add" kind=trap|drop|drop_after|fatal|slow count=1 message=
       category= delay_ms=        the next `count` commands with that path:
          trap        !trap =message=MESSAGE (=category= if given), !done; nothing applied
          drop        the command is read, then the connection closed; nothing applied
          drop_after  applied, then the connection closed without a reply
          fatal       !fatal MESSAGE, then closed; nothing applied
          slow        applied, the reply sent after the fault's delay_ms (default 2000)
  clear_faults
  rules                           -> rules: [{".id": "*1", "chain": ...}, ...] in order,
                                  handles: {".id": nft handle or null}
  add_rule <properties>           as a human at the console would (same validation) -> id
  remove_rule id=                 as a human (no API)
  stats                           -> logins_ok, login_failures, connections_accepted,
                                  connections_open, commands: [{command, tag, time,
                                  connection, words}] (passwords and responses redacted)
  clear_log                       forgets the command list and the counters
  quit
Log: one line per event on stderr (connections, every command with its words, passwords
redacted, every reply's first word).  READY line on stdout once every listener listens:
"READY pid=PID api=A:P[,A:P] tls=A:P anon_tls=A:P" (a kind not configured is left out).
"""

import argparse
import asyncio
import hashlib
import ipaddress
import json
import os
import re
import secrets
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time

MAX_WORD = 1 << 20
IDENTITY = "FakeRouterOS"
ANON_CIPHERS = "ADH-AES256-GCM-SHA384:@SECLEVEL=0"
# RFC 7919 ffdhe2048 (`openssl genpkey -genparam -algorithm DH -pkeyopt group:ffdhe2048`):
# anonymous DH needs DH parameters and no certificate
FFDHE2048 = """-----BEGIN DH PARAMETERS-----
MIIBCAKCAQEA//////////+t+FRYortKmq/cViAnPTzx2LnFg84tNpWp4TZBFGQz
+8yTnc4kmz75fS/jY2MMddj2gbICrsRhetPfHtXV/WVhJDP1H18GbtCFY2VVPe0a
87VXE15/V8k1mE8McODmi3fipona8+/och3xWKE2rec1MKzKT0g6eXq8CrGCsyT7
YdEIqUuyyOP7uWrat2DX9GgdT0Kj3jlN9K5W7edjcrsZCwenyO4KbXCeAvzhzffi
7MA0BM0oNC9hkXL+nOmFg/+OTxIy7vKBg8P+OxtMb61zO7X8vC7CIAXFjvGDfRaD
ssbzSibBsu/6iGtCOGEoXJf//////////wIBAg==
-----END DH PARAMETERS-----
"""
NAT_PROPS = ("chain", "action", "protocol", "dst-port", "to-addresses", "to-ports",
             "in-interface", "comment", "disabled", "log", "log-prefix")
FAULT_KINDS = ("trap", "drop", "drop_after", "fatal", "slow")
SECRET_ATTRS = ("password", "response")
BOOL = {"yes": "true", "true": "true", "no": "false", "false": "false"}
PORTS_RE = re.compile(r"\d{1,5}(-\d{1,5})?(,\d{1,5}(-\d{1,5})?)*")


def log(msg):
    print(f"{time.strftime('%H:%M:%S')} fakeros: {msg}", file=sys.stderr, flush=True)


# --- the word codec ----------------------------------------------------------------------------

def encode_length(n):
    if n < 0x80:
        return bytes([n])
    if n < 0x4000:
        return (n | 0x8000).to_bytes(2, "big")
    if n < 0x200000:
        return (n | 0xC00000).to_bytes(3, "big")
    if n < 0x10000000:
        return (n | 0xE0000000).to_bytes(4, "big")
    return b"\xf0" + n.to_bytes(4, "big")


def encode_sentence(words):
    out = bytearray()
    for w in words:
        b = w.encode() if isinstance(w, str) else w
        out += encode_length(len(b)) + b
    return bytes(out + b"\0")


class ProtocolClose(Exception):
    """The peer sent something after which the connection cannot go on."""


async def read_word(reader):
    first = (await reader.readexactly(1))[0]
    if first < 0x80:
        n = first
    elif first < 0xC0:
        n = ((first & 0x3F) << 8) | (await reader.readexactly(1))[0]
    elif first < 0xE0:
        n = ((first & 0x1F) << 16) | int.from_bytes(await reader.readexactly(2), "big")
    elif first < 0xF0:
        n = ((first & 0x0F) << 24) | int.from_bytes(await reader.readexactly(3), "big")
    elif first == 0xF0:
        n = int.from_bytes(await reader.readexactly(4), "big")
    else:
        raise ProtocolClose(f"control byte 0x{first:02x}")
    if n > MAX_WORD:
        raise ProtocolClose(f"word of {n} bytes")
    return (await reader.readexactly(n)).decode("utf-8", "replace") if n else ""


async def read_sentence(reader):
    """The words of the next non-empty sentence."""
    while True:
        words = []
        while True:
            w = await read_word(reader)
            if w == "":
                break
            words.append(w)
        if words:
            return words


class Command:
    def __init__(self, words):
        self.words = words
        self.path = words[0]
        self.attrs, self.api, self.queries = {}, {}, []
        for w in words[1:]:
            if w.startswith("="):
                name, _, value = w[1:].partition("=")
                self.attrs[name] = value
            elif w.startswith("."):
                name, _, value = w[1:].partition("=")
                self.api[name] = value
            elif w.startswith("?"):
                self.queries.append(w[1:])
        self.tag = self.api.get("tag") or None

    def redacted(self):
        return [f"={w[1:].partition('=')[0]}=***"
                if w.startswith("=") and w[1:].partition("=")[0] in SECRET_ATTRS else w
                for w in self.words]


class Trap(Exception):
    def __init__(self, message, category=None):
        super().__init__(message)
        self.message, self.category = message, category

    def sentence(self):
        words = ["!trap"]
        if self.category is not None:
            words.append(f"=category={self.category}")
        return words + [f"=message={self.message}"]


# --- queries (routeros.md 1.5) -------------------------------------------------------------------

def _compare(a, b):
    if re.fullmatch(r"-?\d+", a) and re.fullmatch(r"-?\d+", b):
        return (int(a) > int(b)) - (int(a) < int(b))
    return (a > b) - (a < b)


def query_matches(queries, item):
    """The query stack: conceptually infinitely many trues below; the item matches unless a
    false is left.  An absent property compares as the empty string."""
    stack = []

    def at(i):
        return stack[-1 - i] if i < len(stack) else True

    def pop():
        return stack.pop() if stack else True

    for q in queries:
        if q.startswith("#"):
            ops, i = q[1:], 0
            while i < len(ops):
                c = ops[i]
                if c.isdigit():
                    j = i
                    while j < len(ops) and ops[j].isdigit():
                        j += 1
                    value = at(int(ops[i:j]))
                    if j == len(ops):
                        stack[:] = [value]
                    else:
                        stack.append(value)
                        if ops[j] == ".":
                            j += 1              # "." after an index does nothing
                    i = j
                    continue
                if c == "!":
                    stack.append(not pop())
                elif c == "&":
                    a, b = pop(), pop()
                    stack.append(a and b)
                elif c == "|":
                    a, b = pop(), pop()
                    stack.append(a or b)
                elif c == ".":
                    stack.append(at(0))
                else:
                    raise Trap(f"unknown query operation {c}", 5)
                i += 1
        elif q.startswith("-"):
            stack.append(q[1:] not in item)
        elif q[:1] in ("<", ">", "="):
            op, (name, sep, value) = q[0], q[1:].partition("=")
            if not sep:
                raise Trap(f"invalid query word ?{q}", 5)
            cmp = _compare(item.get(name, ""), value)
            stack.append(cmp == 0 if op == "=" else cmp < 0 if op == "<" else cmp > 0)
        elif "=" in q:
            name, _, value = q.partition("=")
            stack.append(item.get(name, "") == value)
        else:
            stack.append(q in item)
    return all(stack)


# --- nftables ------------------------------------------------------------------------------------

class Nft:
    def __init__(self, table, cmd="nft"):
        self.table, self.cmd = table, cmd

    def _run(self, args, input=None):
        cp = subprocess.run([self.cmd, *args], capture_output=True, text=True, input=input,
                            timeout=10)
        if cp.returncode != 0:
            raise RuntimeError(f"nft {' '.join(args)}: {cp.stderr.strip()}")
        return cp.stdout

    def create(self):
        t = self.table
        self._run(["-f", "-"], input=(
            f"table ip {t}\ndelete table ip {t}\n"
            f"table ip {t} {{\n\tchain dstnat {{\n"
            "\t\ttype nat hook prerouting priority dstnat; policy accept;\n\t}\n}\n"))

    def delete(self):
        try:
            self._run(["delete", "table", "ip", self.table])
        except (RuntimeError, OSError, subprocess.SubprocessError) as e:
            log(f"nft: {e}")

    def add(self, rule):
        args = ["-a", "-e", "add", "rule", "ip", self.table, "dstnat"]
        if rule.get("in-interface"):
            args += ["iifname", f'"{rule["in-interface"]}"']
        ports = rule["dst-port"]
        ports = f"{{ {ports.replace(',', ', ')} }}" if "," in ports else ports
        target = rule["to-addresses"] + (f":{rule['to-ports']}" if rule.get("to-ports") else "")
        args += ["meta", "l4proto", rule["protocol"], "th", "dport", ports, "dnat", "to", target]
        comment = re.sub(r'[^ -~]|"', "_", rule.get("comment", ""))[:127]
        if comment:
            args += ["comment", f'"{comment}"']
        out = self._run(args)
        m = re.search(r"# handle (\d+)", out)
        if not m:
            raise RuntimeError(f"nft gave no handle: {out!r}")
        return int(m.group(1))

    def remove(self, handle):
        self._run(["delete", "rule", "ip", self.table, "dstnat", "handle", str(handle)])


class NullNft(Nft):
    """--no-apply (benchmarks): rules are kept, nothing reaches the kernel, so a command
    costs the reply delay alone (a rule through nft(8) costs milliseconds)."""

    def __init__(self, table):
        super().__init__(table)
        self.next_handle = 1

    def create(self):
        pass

    def delete(self):
        pass

    def add(self, rule):
        self.next_handle += 1
        return self.next_handle - 1

    def remove(self, handle):
        pass


# --- the router --------------------------------------------------------------------------------

class Router:
    def __init__(self, user, password, nft, options):
        self.user, self.password, self.nft = user, password, nft
        self.opts = {"delay_ms": 0, "empty": False, "legacy_login": False, "route_check": None}
        self.set(**options)
        self.rules = {}             # ".id" -> properties (insertion order = chain order)
        self.handles = {}           # ".id" -> nft handle (None: disabled, not applied)
        self.next_id = 1
        self.faults = {}            # path -> [fault dicts]
        self.conn_count = 0
        self.open = 0
        self.clear_log()

    def set(self, **opts):
        for k, v in opts.items():
            if k not in self.opts:
                raise ValueError(f"unknown option {k}")
            if k == "delay_ms":
                v = int(v)
            elif k in ("empty", "legacy_login"):
                v = bool(v)
            self.opts[k] = v
        return dict(self.opts)

    def clear_log(self):
        self.logins_ok = self.login_failures = 0
        self.commands = []

    def stats(self):
        return {"logins_ok": self.logins_ok, "login_failures": self.login_failures,
                "connections_accepted": self.conn_count, "connections_open": self.open,
                "commands": self.commands}

    def take_fault(self, path):
        faults = self.faults.get(path)
        if not faults:
            return None
        f = faults[0]
        f["count"] -= 1
        if f["count"] <= 0:
            faults.pop(0)
        return f

    def add_fault(self, path, kind, count=1, message=None, category=None, delay_ms=2000):
        if kind not in FAULT_KINDS:
            raise ValueError(f"kind must be one of {', '.join(FAULT_KINDS)}")
        default = "failure: injected by the fake" if kind == "trap" else "injected fault"
        self.faults.setdefault(path, []).append(
            {"kind": kind, "count": int(count), "message": message or default,
             "category": category, "delay_ms": int(delay_ms)})

    # --- /ip/firewall/nat ----------------------------------------------------------------------
    def validate(self, attrs):
        rule = {}
        for name, value in attrs.items():
            if name not in NAT_PROPS:
                raise Trap(f"unknown parameter {name}")
            rule[name] = value
        if rule.get("chain") not in ("dstnat",):
            if "chain" not in rule:
                raise Trap("failure: chain not specified", 1)
            raise Trap("input does not match any value of chain", 1)
        rule.setdefault("action", "accept")
        if rule["action"] != "dst-nat":
            raise Trap("failure: the fake implements action=dst-nat only", 1)
        if rule.get("protocol") not in ("tcp", "udp"):
            raise Trap("input does not match any value of protocol", 1)
        if not PORTS_RE.fullmatch(rule.get("dst-port", "")) or not all(
                0 < int(p) < 65536 for p in re.split(r"[-,]", rule["dst-port"])):
            raise Trap("invalid value for argument dst-port", 1)
        if "to-addresses" not in rule or not rule["to-addresses"]:
            raise Trap("failure: to-addresses required for action dst-nat", 1)
        try:
            ipaddress.IPv4Address(rule["to-addresses"])
        except ValueError:
            raise Trap("invalid value for argument to-addresses", 1) from None
        if "to-ports" in rule and not (rule["to-ports"].isdigit()
                                       and 0 < int(rule["to-ports"]) < 65536):
            raise Trap("invalid value for argument to-ports", 1)
        iface = rule.get("in-interface")
        if iface is not None and iface not in {n for _, n in socket.if_nameindex()}:
            raise Trap("input does not match any value of in-interface", 1)
        for b in ("disabled", "log"):
            if b in rule:
                if rule[b] not in BOOL:
                    raise Trap(f"input does not match any value of {b}", 1)
                rule[b] = BOOL[rule[b]]
        props = {"chain": rule.pop("chain"), "action": rule.pop("action")}
        props.update(rule)
        props.setdefault("log", "false")
        props.setdefault("log-prefix", "")
        props.setdefault("disabled", "false")
        props["invalid"], props["dynamic"] = "false", "false"
        return props

    def nat_add(self, attrs):
        props = self.validate(attrs)
        handle = None
        if props["disabled"] != "true":
            try:
                handle = self.nft.add(props)
            except (RuntimeError, OSError, subprocess.SubprocessError) as e:
                log(f"nft: {e}")
                raise Trap(f"failure: {e}", 4) from None
        rid = f"*{self.next_id:X}"
        self.next_id += 1
        self.rules[rid] = props
        self.handles[rid] = handle
        log(f"rule {rid} added: {props} nft handle {handle}")
        return rid

    def nat_remove(self, ids):
        ids = [i for i in ids.split(",") if i]
        if not ids or any(i not in self.rules for i in ids):
            raise Trap("no such item")
        for rid in ids:
            handle = self.handles.pop(rid)
            del self.rules[rid]
            if handle is not None:
                try:
                    self.nft.remove(handle)
                except (RuntimeError, OSError, subprocess.SubprocessError) as e:
                    log(f"nft: {e}")
            log(f"rule {rid} removed")

    def rule_list(self):
        return [{".id": rid, **props} for rid, props in self.rules.items()]

    # --- commands ------------------------------------------------------------------------------
    def execute(self, cmd):
        """Run a (logged-in) command: (reply sentences without tags, streams)."""
        path, a = cmd.path, cmd.attrs
        base, _, verb = path.rpartition("/")
        if base == "/ip/firewall/nat":
            if verb == "add":
                return [["!done", f"=ret={self.nat_add(a)}"]], False
            if verb in ("print", "getall"):
                items = [i for i in self.rule_list() if query_matches(cmd.queries, i)]
                if ".proplist" in a:
                    keys = [k for k in a[".proplist"].split(",") if k]
                    items = [{k: i[k] for k in keys if k in i} for i in items]
                out = [["!re"] + [f"={k}={v}" for k, v in i.items()] for i in items]
                if not out and self.opts["empty"]:
                    out.append(["!empty"])
                return out + [["!done"]], False
            if verb == "remove":
                ids = a.get(".id", a.get("numbers"))
                if ids is None:
                    raise Trap("failure: .id or numbers not specified")
                self.nat_remove(ids)
                return [["!done"]], False
        if path == "/system/identity/print":
            return [["!re", f"=name={IDENTITY}"], ["!done"]], False
        if path == "/ip/route/check":
            return self.route_check(a)
        raise Trap("no such command prefix", 0)

    def route_check(self, a):
        rc = self.opts["route_check"]
        if rc == "trap":
            raise Trap("no such command prefix", 0)
        dst = a.get("dst-ip")
        if dst is None:
            raise Trap("failure: dst-ip not specified", 1)
        try:
            ipaddress.IPv4Address(dst)
        except ValueError:
            raise Trap("invalid value for argument dst-ip", 1) from None
        if rc:
            re_ = ["!re", "=status=ok", f"=interface={rc}", f"=nexthop={dst}"]
        else:
            cp = subprocess.run(["ip", "-j", "route", "get", dst], capture_output=True,
                                text=True, timeout=10)
            routes = json.loads(cp.stdout) if cp.returncode == 0 and cp.stdout.strip() else []
            if routes and routes[0].get("dev"):
                r = routes[0]
                re_ = ["!re", "=status=ok", f"=interface={r['dev']}",
                       f"=nexthop={r.get('gateway', dst)}"]
            else:
                re_ = ["!re", "=status=unreachable"]
        return [re_, ["!done"]], "once" not in a

    # --- control ---------------------------------------------------------------------------------
    def control(self, req, app):
        cmd = req.pop("cmd", None)
        if cmd == "ping":
            return {"pid": os.getpid()}
        if cmd == "get":
            return {"options": dict(self.opts)}
        if cmd == "set":
            return {"options": self.set(**req)}
        if cmd == "fail":
            self.add_fault(**req)
            return {"faults": self.faults}
        if cmd == "clear_faults":
            self.faults.clear()
            return {}
        if cmd == "rules":
            return {"rules": self.rule_list(), "handles": dict(self.handles)}
        if cmd == "add_rule":
            try:
                return {"id": self.nat_add({k: str(v) for k, v in req.items()})}
            except Trap as e:
                raise ValueError(e.message) from None
        if cmd == "remove_rule":
            try:
                self.nat_remove(req["id"])
            except Trap as e:
                raise ValueError(e.message) from None
            return {}
        if cmd == "stats":
            return self.stats()
        if cmd == "clear_log":
            self.clear_log()
            return {}
        if cmd == "quit":
            app.stop()
            return {}
        raise ValueError(f"unknown command {cmd!r}")


class Connection:
    def __init__(self, router, reader, writer, number, kind):
        self.router, self.reader, self.writer = router, reader, writer
        self.n, self.kind = number, kind
        self.logged_in = False
        self.challenge = None
        self.queue = asyncio.Queue()
        self.current = None          # (Command, task) running now
        self.pending = []            # Commands queued (for /cancel)
        self.closed = False

    def send(self, words, tag=None):
        if self.closed:
            return
        if tag is not None:
            words = words + [f".tag={tag}"]
        log(f"conn {self.n} >>> {' '.join(words)}")
        self.writer.write(encode_sentence(words))

    def close(self, why):
        if not self.closed:
            log(f"conn {self.n}: closing ({why})")
            self.closed = True
            self.writer.close()

    async def serve(self):
        worker = asyncio.ensure_future(self.work())
        try:
            while not self.closed:
                words = await read_sentence(self.reader)
                cmd = Command(words)
                self.router.commands.append({"command": cmd.path, "tag": cmd.tag,
                                             "time": time.time(), "connection": self.n,
                                             "words": cmd.redacted()})
                log(f"conn {self.n} <<< {' '.join(cmd.redacted())}")
                if cmd.path == "/cancel" and self.logged_in:
                    self.cancel(cmd)
                    continue
                self.pending.append(cmd)
                self.queue.put_nowait(cmd)
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
            pass
        except ProtocolClose as e:
            log(f"conn {self.n}: {e}")
        finally:
            worker.cancel()
            if self.current:
                self.current[1].cancel()
            self.close("end")

    def cancel(self, cmd):
        target = cmd.attrs.get("tag")
        victims = [c for c in self.pending if target is None or c.tag == target]
        if self.current and (target is None or self.current[0].tag == target):
            self.current[1].cancel()
            victims.insert(0, self.current[0])
            self.current = None
        for c in victims:
            if c in self.pending:
                self.pending.remove(c)
            c.cancelled = True
            self.send(["!trap", "=category=2", "=message=interrupted"], c.tag)
        self.send(["!done"], cmd.tag)
        for c in victims:
            self.send(["!done"], c.tag)

    async def work(self):
        while not self.closed:
            cmd = await self.queue.get()
            if getattr(cmd, "cancelled", False):
                continue
            self.pending.remove(cmd)
            task = asyncio.ensure_future(self.run(cmd))
            self.current = (cmd, task)
            try:
                await task
            except asyncio.CancelledError:
                if not task.cancelled():
                    raise
            except Exception as e:      # a bug in the fake: say so, keep the router up
                log(f"conn {self.n}: internal error: {type(e).__name__}: {e}")
                self.send(["!trap", "=category=4", f"=message=fake: {e}"], cmd.tag)
                self.send(["!done"], cmd.tag)
            self.current = None
            try:
                await self.writer.drain()
            except ConnectionError:
                self.close("write failed")

    async def run(self, cmd):
        r = self.router
        if r.opts["delay_ms"]:
            await asyncio.sleep(r.opts["delay_ms"] / 1000)
        if cmd.path != "/login" and not self.logged_in:
            self.send(["!fatal", "not logged in"])
            self.close("command before login")
            return
        fault = r.take_fault(cmd.path)
        if fault:
            log(f"conn {self.n}: fault {fault['kind']} for {cmd.path}")
            if fault["kind"] == "trap":
                self.send(Trap(fault["message"], fault["category"]).sentence(), cmd.tag)
                self.send(["!done"], cmd.tag)
                return
            if fault["kind"] == "drop":
                self.close("fault drop")
                return
            if fault["kind"] == "fatal":
                self.send(["!fatal", fault["message"]])
                self.close("fault fatal")
                return
        try:
            replies, streams = self.login(cmd) if cmd.path == "/login" else r.execute(cmd)
        except Trap as e:
            replies, streams = [e.sentence(), ["!done"]], False
        if fault and fault["kind"] == "drop_after":
            self.close("fault drop_after")
            return
        if fault and fault["kind"] == "slow":
            await asyncio.sleep(fault["delay_ms"] / 1000)
        if streams:
            for words in replies[:-1]:
                self.send(words, cmd.tag)
            await asyncio.Event().wait()        # until /cancel
        for words in replies:
            self.send(words, cmd.tag)

    def login(self, cmd):
        r, a = self.router, cmd.attrs
        if r.opts["legacy_login"] and "response" not in a:
            self.challenge = secrets.token_bytes(16)
            return [["!done", f"=ret={self.challenge.hex()}"]], False
        ok = a.get("name") == r.user
        if "response" in a:
            expect = None
            if self.challenge is not None:
                expect = "00" + hashlib.md5(b"\0" + r.password.encode()
                                            + self.challenge).hexdigest()
            ok = ok and expect is not None and a["response"].lower() == expect
            self.challenge = None
        else:
            ok = ok and a.get("password") == r.password
        if not ok:
            r.login_failures += 1
            log(f"conn {self.n}: login failure for user {a.get('name')!r}")
            raise Trap("invalid user name or password (6)")
        r.logins_ok += 1
        self.logged_in = True
        log(f"conn {self.n}: user {r.user} logged in via {self.kind}")
        return [["!done"]], False


class App:
    def __init__(self, router):
        self.router = router
        self.servers = []
        self.done = asyncio.Event()

    def stop(self):
        self.done.set()

    async def on_api(self, reader, writer, kind):
        r = self.router
        r.conn_count += 1
        r.open += 1
        conn = Connection(r, reader, writer, r.conn_count, kind)
        log(f"conn {conn.n}: {kind} from {writer.get_extra_info('peername')}")
        try:
            await conn.serve()
        finally:
            r.open -= 1

    async def on_control(self, reader, writer):
        try:
            while True:
                line = await reader.readline()
                if not line:
                    break
                if not line.strip():
                    continue
                try:
                    reply = {"ok": True, **self.router.control(json.loads(line), self)}
                except Exception as e:      # a bad command must not kill the fake
                    reply = {"ok": False, "error": f"{type(e).__name__}: {e}"}
                writer.write((json.dumps(reply) + "\n").encode())
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()


def _hostport(text):
    host, sep, port = text.rpartition(":")
    if not sep:
        raise ValueError(f"{text!r}: ADDR:PORT expected")
    return host.strip("[]") or "0.0.0.0", int(port)


def anon_context():
    """API-SSL without a certificate, as RouterOS: anonymous DH only, TLS 1.2 at most."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers(ANON_CIPHERS)
    with tempfile.NamedTemporaryFile("w", suffix=".pem") as f:
        f.write(FFDHE2048)
        f.flush()
        ctx.load_dh_params(f.name)
    return ctx


async def amain(a, router):
    app = App(router)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        loop.add_signal_handler(sig, app.stop)
    ready = {"api": [], "tls": [], "anon_tls": []}
    contexts = {"api": None}
    if a.tls_listen:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(a.cert, a.key)
        contexts["tls"] = ctx
    if a.anon_tls_listen:
        contexts["anon_tls"] = anon_context()
    for kind, listens in (("api", a.listen), ("tls", a.tls_listen),
                          ("anon_tls", a.anon_tls_listen)):
        for spec in listens:
            host, port = _hostport(spec)
            srv = await asyncio.start_server(
                lambda r, w, k=kind: app.on_api(r, w, k), host, port, ssl=contexts[kind],
                reuse_address=True)
            app.servers.append(srv)
            addr = srv.sockets[0].getsockname()
            ready[kind].append(f"{addr[0]}:{addr[1]}")
    if a.control:
        try:
            os.unlink(a.control)
        except FileNotFoundError:
            pass
        app.servers.append(await asyncio.start_unix_server(app.on_control, a.control))
    parts = " ".join(f"{k}={','.join(v)}" for k, v in ready.items() if v)
    print(f"READY pid={os.getpid()} {parts}", flush=True)
    await app.done.wait()
    for srv in app.servers:
        srv.close()


def main(argv=None):
    p = argparse.ArgumentParser(
        prog="fake-routeros",
        description="Fake MikroTik RouterOS (binary API) applying dst-nat rules with nftables.")
    p.add_argument("--listen", action="append", default=[], metavar="ADDR:PORT",
                   help="plain API listener (repeatable; port 0: any)")
    p.add_argument("--tls-listen", action="append", default=[], metavar="ADDR:PORT",
                   help="API-SSL listener with --cert/--key (repeatable)")
    p.add_argument("--cert", metavar="PEM")
    p.add_argument("--key", metavar="PEM")
    p.add_argument("--anon-tls-listen", action="append", default=[], metavar="ADDR:PORT",
                   help="API-SSL without a certificate (anonymous DH, TLS 1.2; repeatable)")
    p.add_argument("--user", default="admin")
    p.add_argument("--password", default=None)
    p.add_argument("--password-file", metavar="PATH")
    p.add_argument("--control", metavar="PATH", help="UNIX control socket (JSON lines)")
    p.add_argument("--nft-table", default="routeros", metavar="NAME")
    p.add_argument("--nft-cmd", default="nft", metavar="PATH")
    p.add_argument("--no-apply", action="store_true",
                   help="keep the rules without applying them (benchmarks)")
    p.add_argument("--legacy-login", action="store_true", help="pre-6.43 challenge login")
    p.add_argument("--empty", action="store_true", help="RouterOS 7.18+: !empty replies")
    p.add_argument("--delay-ms", type=int, default=0, metavar="N", help="before each reply")
    a = p.parse_args(argv)
    if a.tls_listen and not (a.cert and a.key):
        p.error("--tls-listen needs --cert and --key")
    if not (a.listen or a.tls_listen or a.anon_tls_listen):
        p.error("nothing to listen on")
    password = a.password
    if a.password_file:
        with open(a.password_file) as f:
            password = f.read().rstrip("\n")
    if password is None:
        p.error("--password or --password-file is required")
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,32}", a.nft_table):
        p.error("--nft-table: letters, digits, _ and - only")
    nft = NullNft(a.nft_table) if a.no_apply else Nft(a.nft_table, a.nft_cmd)
    router = Router(a.user, password, nft, {"delay_ms": a.delay_ms, "empty": a.empty,
                                            "legacy_login": a.legacy_login})
    try:
        nft.create()
    except (RuntimeError, OSError, subprocess.SubprocessError) as e:
        print(f"fake-routeros: {e}", file=sys.stderr)
        return 1
    try:
        asyncio.run(amain(a, router))
    except (OSError, ValueError, ssl.SSLError) as e:
        print(f"fake-routeros: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    finally:
        nft.delete()
        if a.control:
            try:
                os.unlink(a.control)
            except OSError:
                pass
    return 0
