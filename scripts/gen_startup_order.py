#!/usr/bin/env python3
"""Regenerates server/startup.order: the functions `jetbroker` runs from exec until it is an idle
broker with a client, in the order lld should lay them out (docs/benchmarks.md, "Resources").

    python3 scripts/gen_startup_order.py [build/jetbroker]

Runs the broker under valgrind's callgrind (every executed function, no sampling) through two
scenarios: a plain broker and `-js -sd :memory:`, each started, connected to by a client that
subscribes, publishes, pings and reads /varz and /healthz, left idle for two ping intervals of the
test fixture and then stopped with SIGTERM; then jetbroker-filestore the same way with a new store
directory. The linker (lld's --symbol-ordering-file, see
server/CMakeLists.txt) puts these functions first, next to each other, so the pages start-up and
idle serving touch are few and dense; everything else follows in the usual order. A stale list only
costs memory: names that no longer exist are ignored, new functions are placed as usual.
"""
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "server" / "startup.order"


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port: int, proc: subprocess.Popen, deadline: float = 60.0) -> socket.socket:
    end = time.monotonic() + deadline
    while True:
        try:
            return socket.create_connection(("127.0.0.1", port), timeout=10)
        except OSError:
            if proc.poll() is not None or time.monotonic() > end:
                raise SystemExit(f"broker did not come up (exit {proc.poll()})")
            time.sleep(0.05)


def read_until(s: socket.socket, token: bytes) -> bytes:
    buf = b""
    while token not in buf:
        chunk = s.recv(65536)
        if not chunk:
            raise SystemExit("connection closed")
        buf += chunk
    return buf


def scenario(binary: str, out_file: str, extra: list[str]) -> None:
    port, mport = free_port(), free_port()
    conf = out_file + ".conf"
    Path(conf).write_text('ping_interval: "1s"\n')
    proc = subprocess.Popen(
        ["valgrind", "--tool=callgrind", "--demangle=no", "--compress-strings=no", "--compress-pos=no",
         "--dump-instr=no", f"--callgrind-out-file={out_file}", binary,
         "-c", conf, "-p", str(port), "-m", str(mport), "-a", "127.0.0.1", *extra],
        stdout=subprocess.DEVNULL, stderr=None if os.environ.get("VERBOSE") else subprocess.DEVNULL)
    try:
        s = wait_port(port, proc)
        read_until(s, b"\r\n")
        s.sendall(b'CONNECT {"verbose":false,"pedantic":false,"headers":true,"protocol":1}\r\nPING\r\n')
        read_until(s, b"PONG\r\n")
        hdr = b"NATS/1.0\r\nA: b\r\n\r\n"
        s.sendall(b"SUB foo 1\r\nPUB foo 5\r\nhello\r\nHPUB foo %d %d\r\n%shi\r\nPING\r\n" % (len(hdr), len(hdr) + 2, hdr))
        read_until(s, b"PONG\r\n")
        if "-js" in extra:
            cfg = b'{"name":"S","subjects":["s.>"],"storage":"memory"}'
            if "-sd" in extra and ":memory:" not in extra:
                cfg = cfg.replace(b"memory", b"file")
            s.sendall(b"SUB _INBOX.r 2\r\nPUB $JS.API.STREAM.CREATE.S _INBOX.r %d\r\n%s\r\n" % (len(cfg), cfg) +
                      b"PUB s.1 _INBOX.r 2\r\nhi\r\nPUB $JS.API.INFO _INBOX.r 0\r\n\r\nPING\r\n")
            read_until(s, b"PONG\r\n")
        for path in ("/varz", "/healthz", "/connz"):
            urllib.request.urlopen(f"http://127.0.0.1:{mport}{path}", timeout=30).read()
        s.sendall(b"UNSUB 1\r\nPING\r\n")
        read_until(s, b"PONG\r\n")
        # Idle with the client connected: the server's PINGs (answered) and its timers.
        end = time.monotonic() + 2.5
        s.settimeout(0.2)
        while time.monotonic() < end:
            try:
                if b"PING\r\n" in s.recv(4096):
                    s.sendall(b"PONG\r\n")
            except socket.timeout:
                pass
        s.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)


def functions(callgrind_file: str) -> list[str]:
    """Executed functions."""
    seen: dict[str, None] = {}
    rx = re.compile(r"^c?fn=(?:\(\d+\) )?(.+)$")
    with open(callgrind_file, errors="replace") as f:
        for line in f:
            m = rx.match(line)
            if m:
                name = m.group(1).strip()
                # callgrind names unknown code "0x..." and appends "'2" to recursive cycles.
                name = name.split("'")[0]
                if name and not name.startswith("0x"):
                    seen.setdefault(name, None)
    return list(seen)


def main() -> None:
    binary = sys.argv[1] if len(sys.argv) > 1 else str(REPO / "build" / "jetbroker")
    filestore = str(Path(binary).parent / "jetbroker-filestore")
    names: dict[str, None] = {}
    with tempfile.TemporaryDirectory() as tmp:
        # jetbroker's own scenarios first; then what jetbroker-filestore adds opening a new store
        # (RocksDB), placed after them.
        runs = [(binary, []), (binary, ["-js", "-sd", ":memory:"]),
                (filestore, ["-js", "-sd", os.path.join(tmp, "store")])]
        groups: list[list[str]] = []
        seen: set[str] = set()
        for i, (exe, extra) in enumerate(runs):
            out = os.path.join(tmp, f"cg.{i}")
            scenario(exe, out, extra)
            got = set(functions(out)) - seen
            groups.append(sorted(got))
            seen |= got
    # One group per scenario (what it adds to the ones before), each sorted by name so a
    # regenerated list diffs only where the code changed: the order inside a group hardly matters
    # (all of it is resident), the groups' order does (a plain broker's code first, then what
    # in-memory JetStream adds, then what only jetbroker-filestore runs).
    for g in groups:
        for n in g:
            names.setdefault(n, None)
    header = ("# Generated by scripts/gen_startup_order.py: lld --symbol-ordering-file for the broker\n"
              "# executables (server/CMakeLists.txt). Functions run from exec to an idle broker\n"
              "# serving a client, plain and with in-memory JetStream, then what jetbroker-filestore adds\n"
              "# with a store directory. Regenerate after large changes.\n")
    OUT.write_text(header + "".join(n + "\n" for n in names))
    print(f"{OUT}: {len(names)} functions")


if __name__ == "__main__":
    main()
