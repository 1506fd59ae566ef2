#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""A bus client driven over stdin/stdout, one JSON object a line, so that a test running as
root can act as another user (started with setpriv) on one long-lived connection: its
client-scope mappings live as long as it does.

Requests: {"op": "call", "dest", "path", "iface", "method", "args": GVariant text or null,
"interactive": bool, "timeout": ms}; {"op": "send", ...the same} sends without waiting;
{"op": "calls", "requests": [call, ...], "separate": bool} sends them all at once (each on
a connection of its own if separate), answers them all in a list;
{"op": "name"}; {"op": "bind", "proto": "tcp"|"udp", "port": N} keeps a socket bound to
127.0.0.1:N; {"op": "exit"}. Answers: {"ok": value}, {"error": name, "message": text}."""

import json
import socket
import sys

import gi

gi.require_version("Gio", "2.0")
from gi.repository import Gio, GLib  # noqa: E402


def to_json(value):
    if isinstance(value, (tuple, list)):
        return [to_json(v) for v in value]
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    return value


def call_args(req):
    args = req.get("args")
    params = GLib.Variant.parse(None, args, None, None) if args else None
    flags = Gio.DBusCallFlags.NONE
    if req.get("interactive"):
        flags |= Gio.DBusCallFlags.ALLOW_INTERACTIVE_AUTHORIZATION
    return (req["dest"], req["path"], req.get("iface"), req["method"], params, None, flags,
            req.get("timeout", 25000))


def error_answer(e):
    name = Gio.DBusError.get_remote_error(e) or f"{e.domain}:{e.code}"
    Gio.DBusError.strip_remote_error(e)
    return {"error": name, "message": e.message}


def calls(conn, requests, address=None):
    """Sends every call at once and waits for all the answers. With the bus @address, each
    call goes from a connection of its own, a caller of its own for the bus (closed once all
    are answered)."""
    conns = [connect(address) if address else conn for _ in requests]
    loop = GLib.MainLoop()
    answers = [None] * len(requests)
    left = [len(requests)]

    def done(conn, result, i):
        try:
            answers[i] = {"ok": to_json(conn.call_finish(result).unpack())}
        except GLib.Error as e:
            answers[i] = error_answer(e)
        left[0] -= 1
        if left[0] == 0:
            loop.quit()

    for i, req in enumerate(requests):
        conns[i].call(*call_args(req), None, done, i)
    if requests:
        loop.run()
    if address:
        for c in conns:
            c.close_sync(None)
    return answers


def connect(address):
    return Gio.DBusConnection.new_for_address_sync(
        address,
        Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT
        | Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION, None, None)


def main():
    conn = connect(sys.argv[1])
    sockets = []
    for line in sys.stdin:
        req = json.loads(line)
        op = req["op"]
        answer = {"ok": None}
        try:
            if op == "call" and req.get("iface") is None:
                # call_sync() needs an interface; a message may go without one
                msg = Gio.DBusMessage.new_method_call(req["dest"], req["path"], None,
                                                      req["method"])
                reply, _ = conn.send_message_with_reply_sync(
                    msg, Gio.DBusSendMessageFlags.NONE, 25000, None)
                reply.to_gerror()
                answer = {"ok": to_json(reply.get_body().unpack() if reply.get_body() else [])}
            elif op == "call":
                reply = conn.call_sync(*call_args(req), None)
                answer = {"ok": to_json(reply.unpack())}
            elif op == "calls":
                answer = {"ok": calls(conn, req["requests"],
                                      sys.argv[1] if req.get("separate") else None)}
            elif op == "send":
                # the reply, if any, is never read: the caller may leave before it comes
                conn.call(*call_args(req), None, None, None)
                conn.flush_sync(None)
            elif op == "name":
                answer = {"ok": conn.get_unique_name()}
            elif op == "bind":
                kind = socket.SOCK_STREAM if req["proto"] == "tcp" else socket.SOCK_DGRAM
                s = socket.socket(socket.AF_INET, kind)
                s.bind(("127.0.0.1", req["port"]))
                if kind == socket.SOCK_STREAM:
                    s.listen()
                sockets.append(s)
            elif op == "exit":
                conn.close_sync(None)
                print(json.dumps(answer), flush=True)
                return 0
        except GLib.Error as e:
            answer = error_answer(e)
        except OSError as e:
            answer = {"error": "OSError", "message": str(e)}
        print(json.dumps(answer), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
