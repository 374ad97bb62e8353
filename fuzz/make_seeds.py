#!/usr/bin/env python3
"""Writes the seed corpora in fuzz/seeds/ from the examples of proto/PROTOCOL.md.

proto_decode: every example message as JSON and as MessagePack. ws_frames: the client
examples as frames (see fuzz_targets/ws_frames.rs for the input format), alone and in
sequences. proto_topic: a few pattern/pattern/topic triples. Run it after the examples
change; the fuzzers grow their own corpora in fuzz/corpus/ (not committed).
"""
import hashlib
import json
import os
import re
import struct

ROOT = os.path.dirname(os.path.abspath(__file__))


def msgpack(v):
    if v is None:
        return b"\xc0"
    if v is True:
        return b"\xc3"
    if v is False:
        return b"\xc2"
    if isinstance(v, int):
        if 0 <= v < 128:
            return bytes([v])
        if 0 <= v < 2**8:
            return b"\xcc" + struct.pack(">B", v)
        if 0 <= v < 2**16:
            return b"\xcd" + struct.pack(">H", v)
        if 0 <= v < 2**32:
            return b"\xce" + struct.pack(">I", v)
        if 0 <= v:
            return b"\xcf" + struct.pack(">Q", v)
        return b"\xd3" + struct.pack(">q", v)
    if isinstance(v, float):
        return b"\xcb" + struct.pack(">d", v)
    if isinstance(v, str):
        b = v.encode()
        if len(b) < 32:
            return bytes([0xA0 | len(b)]) + b
        return b"\xd9" + bytes([len(b)]) + b
    if isinstance(v, list):
        return bytes([0x90 | len(v)]) + b"".join(msgpack(x) for x in v)
    if isinstance(v, dict):
        return bytes([0x80 | len(v)]) + b"".join(msgpack(k) + msgpack(x) for k, x in v.items())
    raise TypeError(v)


def examples():
    text = open(os.path.join(ROOT, "..", "proto", "PROTOCOL.md")).read()
    out = []
    for block in re.findall(r"```json\n(.*?)```", text, re.S):
        try:
            out.append(json.loads(block))
            continue
        except ValueError:
            pass
        for line in block.splitlines():
            line = line.strip().rstrip(",")
            if line.startswith("{"):
                try:
                    out.append(json.loads(line))
                except ValueError:
                    pass
    return out


def write(target, data):
    d = os.path.join(ROOT, "seeds", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, hashlib.sha1(data).hexdigest()[:16]), "wb") as f:
        f.write(data)


def frame(opcode, payload, fin=True):
    assert len(payload) < 256
    return bytes([(0x80 if fin else 0) | opcode, len(payload)]) + payload


def main():
    msgs = examples()
    client = [m for m in msgs if m["type"] in ("subscribe", "unsubscribe", "list", "ping", "publish")]
    for m in msgs:
        write("proto_decode", json.dumps(m, separators=(",", ":")).encode())
        write("proto_decode", msgpack(m))
    for mode in (0, 1, 2, 3):
        enc = (lambda m: json.dumps(m).encode()) if mode & 1 else msgpack
        op = 0x1 if mode & 1 else 0x2
        for m in client:
            write("ws_frames", bytes([mode]) + frame(op, enc(m)))
        # All of them in one connection, a ping and a fragmented message in between.
        seq = [frame(op, enc(m)) for m in client]
        ping = enc({"type": "ping", "id": "frag"})
        seq.insert(2, frame(op, ping[:5], fin=False) + frame(0x9, b"hi") + frame(0x0, ping[5:]))
        seq.append(frame(0x8, b"\x03\xe8bye"))
        write("ws_frames", bytes([mode]) + b"".join(seq))
    # Raw mode: a masked close frame.
    write("ws_frames", bytes([4]) + b"\x88\x82\x00\x00\x00\x00\x03\xe8")
    for a, b, t in [
        ("ticks.*", "ticks.AAPL", "ticks.AAPL"),
        (">", "bars.>", "bars.1m.MSFT"),
        ("bars.*.AAPL", "bars.1s.*", "bars.1s.AAPL"),
        ("ticks.AAPL", "ticks.*", "ticks.MSFT"),
    ]:
        write("proto_topic", f"{a}\n{b}\n{t}".encode())


if __name__ == "__main__":
    main()
