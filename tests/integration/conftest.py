"""Fixtures for the core-protocol integration suite.

Every server runs as a child process on random ports (`-p -1 -m -1 -a 127.0.0.1`), exactly as the
nats.py `nats-server` package starts it: stderr is read until `Server is ready`, the client and monitor
ports are parsed from the `Listening for client connections on` / `Starting http monitor on` lines, and
the process is stopped with SIGTERM at teardown (it must exit 0).

Fixtures:
  server          differential: the same test runs against jetbroker and nats-server
  server_factory  differential, with extra CLI args: server_factory("--user", "a", "--pass", "b")
  jetbroker       jetbroker only
  make_server     low level: make_server("nats-server", *args)
  raw             factory of RawConn (raw protocol sockets) bound to a server: raw(srv)

Binaries: JETBROKER_BIN (default /work/main/build/jetbroker) and NATS_SERVER_BIN (default
~/go/bin/nats-server, then `nats-server` on PATH). A missing binary skips its parameter.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent

READY_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0
IO_TIMEOUT = 5.0

SERVER_KINDS = ["jetbroker", "nats-server"]


def _default_nats_server() -> str | None:
    env = os.environ.get("NATS_SERVER_BIN")
    if env:
        return env
    home = Path.home() / "go" / "bin" / "nats-server"
    if home.exists():
        return str(home)
    return shutil.which("nats-server")


def binary_for(kind: str) -> str | None:
    if kind == "jetbroker":
        path = os.environ.get("JETBROKER_BIN", str(REPO / "build" / "jetbroker"))
    elif kind == "nats-server":
        path = _default_nats_server()
    else:
        raise ValueError(kind)
    if path and Path(path).exists() and os.access(path, os.X_OK):
        return path
    return None


def nats_cli() -> str | None:
    env = os.environ.get("NATS_CLI_BIN")
    if env:
        return env
    home = Path.home() / "go" / "bin" / "nats"
    if home.exists():
        return str(home)
    return shutil.which("nats")


def nats_cli_env(home: Path) -> tuple[str, dict[str, str]]:
    """The nats CLI binary and an environment for it with no user contexts (HOME and
    XDG_CONFIG_HOME under `home`) and no NATS_* settings; skips the test when the CLI is missing."""
    binary = nats_cli()
    if binary is None:
        pytest.skip("nats CLI not found")
    env = {k: v for k, v in os.environ.items() if not k.startswith("NATS_")}
    env["HOME"] = str(home)
    env["XDG_CONFIG_HOME"] = str(home / ".config")
    return binary, env


_LISTEN_RE = re.compile(r"Listening for client connections on (\S+):(\d+)")
_MONITOR_RE = re.compile(r"Starting http monitor on (\S+):(\d+)")


@dataclass
class ServerProc:
    """One running broker process. All fields are filled once `Server is ready` was seen."""

    kind: str
    binary: str
    args: list[str]
    proc: subprocess.Popen | None = None
    host: str = "127.0.0.1"
    port: int = 0
    monitor_port: int = 0
    log: list[str] = field(default_factory=list)
    _log_lock: threading.Lock = field(default_factory=threading.Lock)
    _ready: threading.Event = field(default_factory=threading.Event)
    _reader: threading.Thread | None = None
    exit_code: int | None = None
    _saw_ready: bool = False

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    @property
    def url(self) -> str:
        return f"nats://{self.host}:{self.port}"

    @property
    def monitor_url(self) -> str:
        return f"http://{self.host}:{self.monitor_port}"

    def start(self, cwd: str | None = None) -> "ServerProc":
        self.proc = subprocess.Popen(
            [self.binary, *self.args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            cwd=cwd,
        )
        # Keep draining stderr for the whole life of the process so a chatty server never blocks on
        # a full pipe (slow-consumer warnings, for one).
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()
        if not self._ready.wait(READY_TIMEOUT):
            self.kill()
            raise RuntimeError(f"{self.kind} not ready after {READY_TIMEOUT}s:\n{self.log_text()}")
        if not self._saw_ready:  # stderr closed before `Server is ready`: the process died
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.kill()
            self.exit_code = self.proc.returncode
            raise RuntimeError(f"{self.kind} exited with {self.proc.returncode} before ready:\n{self.log_text()}")
        return self

    def _drain(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        for raw in self.proc.stderr:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            with self._log_lock:
                self.log.append(line)
            if m := _LISTEN_RE.search(line):
                self.host, self.port = m.group(1).strip("[]"), int(m.group(2))
            elif m := _MONITOR_RE.search(line):
                self.monitor_port = int(m.group(2))
            elif "Server is ready" in line:
                self._saw_ready = True
                self._ready.set()
        self._ready.set()  # EOF: unblock start() so it can report the failure

    def log_text(self) -> str:
        with self._log_lock:
            return "\n".join(self.log)

    def wait_log(self, pattern: str, timeout: float = IO_TIMEOUT) -> str:
        """Waits until a stderr line matches `pattern` (regex); returns the line."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._log_lock:
                for line in self.log:
                    if rx.search(line):
                        return line
            time.sleep(0.01)
        raise AssertionError(f"no log line matching {pattern!r} within {timeout}s:\n{self.log_text()}")

    def stop(self) -> int:
        """SIGTERM, wait, return the exit code (SIGKILL after STOP_TIMEOUT, reported as -9)."""
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self._reader:
            self._reader.join(2)
        self.exit_code = self.proc.returncode
        return self.exit_code

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    # ---- monitoring ---------------------------------------------------------------------------

    def http_get(self, path: str, timeout: float = IO_TIMEOUT) -> tuple[int, bytes]:
        try:
            with urllib.request.urlopen(self.monitor_url + path, timeout=timeout) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def get_json(self, path: str) -> dict:
        status, body = self.http_get(path)
        assert status == 200, f"GET {path} -> {status} {body[:200]!r}"
        return json.loads(body)

    def varz(self) -> dict:
        return self.get_json("/varz")

    def connz(self, query: str = "") -> dict:
        return self.get_json("/connz" + query)

    def wait_for(self, predicate, timeout: float = IO_TIMEOUT, what: str = "condition"):
        """Polls `predicate()` until it returns a truthy value (event-driven wait with a deadline)."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            last = predicate()
            if last:
                return last
            time.sleep(0.02)
        raise AssertionError(f"timed out after {timeout}s waiting for {what} (last={last!r})")

    # ---- process stats ------------------------------------------------------------------------

    def proc_status(self, key: str) -> int:
        """A kB value from /proc/<pid>/status (VmRSS, VmHWM, ...), in bytes."""
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024
        raise KeyError(key)


def _base_args() -> list[str]:
    return ["-p", "-1", "-m", "-1", "-a", "127.0.0.1"]


@pytest.fixture
def make_server(request):
    """Factory: make_server(kind, *extra_args, base=True) -> ServerProc (stopped at teardown)."""
    started: list[ServerProc] = []

    def make(kind: str, *extra: str, base: bool = True, cwd: str | None = None) -> ServerProc:
        binary = binary_for(kind)
        if binary is None:
            pytest.skip(f"{kind} binary not found")
        srv = ServerProc(kind=kind, binary=binary, args=[*(_base_args() if base else []), *extra])
        srv.start(cwd=cwd)
        started.append(srv)
        return srv

    yield make

    failures = []
    for srv in started:
        if srv.exit_code is not None:
            continue  # the test stopped it itself and checked the code
        rc = srv.stop()
        if rc != 0:
            failures.append(f"{srv.kind} (pid {srv.pid}) exited {rc} on SIGTERM\n{srv.log_text()[-2000:]}")
    if failures:
        pytest.fail("\n".join(failures), pytrace=False)


@pytest.fixture(params=SERVER_KINDS)
def server_kind(request) -> str:
    if binary_for(request.param) is None:
        pytest.skip(f"{request.param} binary not found")
    return request.param


@pytest.fixture
def server_factory(make_server, server_kind):
    """Differential factory with extra args: server_factory("--auth", "s3cr3t")."""

    def make(*extra: str, **kw) -> ServerProc:
        return make_server(server_kind, *extra, **kw)

    return make


@pytest.fixture
def conf_server(server_factory, tmp_path):
    """Factory: conf_server(config text, *extra args) -> ServerProc started with `-c` on that text
    (both server kinds, like server_factory)."""

    def make(text: str, *extra: str):
        conf = tmp_path / "server.conf"
        conf.write_text(text)
        return server_factory("-c", str(conf), *extra)

    return make


@pytest.fixture
def server(server_factory) -> ServerProc:
    return server_factory()


@pytest.fixture
def jetbroker(make_server) -> ServerProc:
    return make_server("jetbroker")


# ---- raw protocol sockets (nats-server test helpers sendProto / expectResult) -------------------


class RawConn:
    """A blocking client socket with a receive buffer.

    expect(regex) reads until the regex matches the buffer (or the timeout / EOF hits), then
    consumes the buffer up to the end of the match and returns everything consumed.
    """

    def __init__(self, host: str, port: int, timeout: float = IO_TIMEOUT, rcvbuf: int | None = None):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.settimeout(timeout)
        self.sock.connect((host, port))
        self.timeout = timeout
        self.buf = bytearray()
        self.eof = False
        self.info: dict | None = None

    # sending ----------------------------------------------------------------------------------

    def send(self, data: bytes | str) -> "RawConn":
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)
        return self

    def send_bytewise(self, data: bytes) -> None:
        for i in range(len(data)):
            self.sock.sendall(data[i : i + 1])

    # receiving --------------------------------------------------------------------------------

    def _fill(self, deadline: float) -> bool:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or self.eof:
            return False
        self.sock.settimeout(remaining)
        try:
            chunk = self.sock.recv(1 << 20)
        except socket.timeout:
            return False
        except (ConnectionResetError, BrokenPipeError):
            chunk = b""
        if not chunk:
            self.eof = True
            return False
        self.buf += chunk
        return True

    def expect(self, pattern: bytes | str, timeout: float | None = None) -> bytes:
        if isinstance(pattern, str):
            pattern = pattern.encode()
        rx = re.compile(pattern, re.DOTALL)
        deadline = time.monotonic() + (timeout if timeout is not None else self.timeout)
        while True:
            m = rx.search(self.buf)
            if m:
                out = bytes(self.buf[: m.end()])
                del self.buf[: m.end()]
                return out
            if not self._fill(deadline):
                if self.eof:
                    # one last look: the final chunk may have completed the match
                    m = rx.search(self.buf)
                    if m:
                        continue
                raise AssertionError(
                    f"expected {pattern!r}; {'EOF' if self.eof else 'timeout'} with buffer "
                    f"{bytes(self.buf[:400])!r}"
                )

    def expect_exact(self, data: bytes | str, timeout: float | None = None) -> None:
        """The next bytes on the wire are exactly `data`."""
        if isinstance(data, str):
            data = data.encode()
        deadline = time.monotonic() + (timeout if timeout is not None else self.timeout)
        while len(self.buf) < len(data) and self.buf == data[: len(self.buf)]:
            if not self._fill(deadline):
                break
        got = bytes(self.buf[: len(data)])
        assert got == data, f"expected exactly {data!r}\n            got {bytes(self.buf[:len(data)+200])!r}"
        del self.buf[: len(data)]

    def read_until_closed(self, timeout: float | None = None, limit: int | None = None) -> bytes:
        """Reads until EOF; fails on timeout. Returns (and consumes) everything read."""
        deadline = time.monotonic() + (timeout if timeout is not None else self.timeout)
        while not self.eof:
            if not self._fill(deadline) and not self.eof:
                raise AssertionError(f"connection still open after timeout; buffer {bytes(self.buf[-300:])!r}")
            if limit is not None and len(self.buf) > limit:
                del self.buf[: len(self.buf) - limit]
        out = bytes(self.buf)
        self.buf.clear()
        return out

    def expect_closed(self, timeout: float | None = None) -> bytes:
        return self.read_until_closed(timeout)

    # protocol helpers -------------------------------------------------------------------------

    def read_info(self) -> dict:
        line = self.expect(rb"^INFO ([^\r\n]*)\r\n")
        self.info = json.loads(line[5:-2])
        return self.info

    def connect(self, **opts) -> "RawConn":
        """Sends CONNECT (defaults verbose/pedantic off, headers on) and syncs with PING/PONG.

        Two PINGs are used so that the async INFO nats-server sends after the first PONG is
        consumed too: after connect() the buffer is empty and the next bytes are caused by the test.
        """
        if self.info is None:
            self.read_info()
        body = {"verbose": False, "pedantic": False, "headers": True, "protocol": 1, "lang": "raw",
                "version": "0.0.1"}
        body.update(opts)
        self.send("CONNECT " + json.dumps(body, separators=(",", ":")) + "\r\n")
        self.sync()
        return self

    def sync(self) -> bytes:
        """PING twice, wait for both PONGs; returns (and consumes) everything before them."""
        self.send("PING\r\nPING\r\n")
        out = self.expect(rb"PONG\r\n")
        out += self.expect(rb"PONG\r\n")
        return out

    def ping(self) -> bytes:
        """One PING; returns everything received up to and including its PONG."""
        self.send("PING\r\n")
        return self.expect(rb"PONG\r\n")

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


@pytest.fixture
def raw():
    """Factory: raw(srv, connect=True, **connect_opts) -> RawConn (closed at teardown)."""
    conns: list[RawConn] = []

    def make(srv: ServerProc, connect: bool | dict = True, rcvbuf: int | None = None, **opts) -> RawConn:
        c = RawConn(srv.host, srv.port, rcvbuf=rcvbuf)
        conns.append(c)
        c.read_info()
        if connect:
            c.connect(**opts)
        return c

    yield make
    for c in conns:
        c.close()


# ---- nats-py clients ----------------------------------------------------------------------------
#
# nats-py 2.16's flush() writes its PING straight to the socket while SUB/PUB commands wait in the
# client's pending buffer for the flusher task, so the PING can overtake a SUB sent just before it:
# the PONG then arrives before the server has seen the SUB, and a publish from another connection
# right after `await nc.flush()` finds no subscriber (on any server; it shows under load, ~0.3% of
# runs on one core). nats.py2 fixed the same bug in 2017 by queueing the PING behind the pending
# commands; the test clients do that too, so "subscribe, flush, publish elsewhere" is ordered.


def _queue_ping_behind_pending() -> None:
    import inspect

    from nats.aio import client as nats_client

    if "_transport.write(PING_PROTO)" not in inspect.getsource(nats_client.Client._send_ping):
        return  # fixed upstream

    async def _send_ping(self, future=None):
        import asyncio

        if future is None:
            future = asyncio.Future()
        self._pongs.append(future)
        await self._send_command(nats_client.PING_PROTO)
        await self._flush_pending()

    nats_client.Client._send_ping = _send_ping


_queue_ping_behind_pending()



@pytest.fixture
async def nats_connect():
    """Factory: await nats_connect(srv, **nats.connect kwargs) -> nats.aio.client.Client.

    Reconnects are off so a server-side close shows up as an error instead of a retry loop.
    All clients are closed at teardown.
    """
    import nats

    clients = []

    async def make(srv: ServerProc, **kw):
        errors: list[Exception] = []

        async def error_cb(e):
            errors.append(e)

        kw.setdefault("allow_reconnect", False)
        kw.setdefault("connect_timeout", IO_TIMEOUT)
        kw.setdefault("error_cb", error_cb)
        nc = await nats.connect(servers=[srv.url], **kw)
        nc.test_errors = errors  # type: ignore[attr-defined]
        clients.append(nc)
        return nc

    yield make
    for nc in clients:
        if not nc.is_closed:
            await nc.close()


# ---- JetStream ----------------------------------------------------------------------------------
#
# js_server       differential: jetbroker and nats-server, each with `-js -sd <tmp>`
# js_jetbroker    jetbroker only, with JetStream
# js_pair         both servers at once (jetbroker, nats-server) for same-request/same-answer tests
# js_req          await js_req(nc, subject, body) -> parsed JSON answer of a $JS.API request
# js_norm         normalises an API answer for comparison (timestamps, server ids, versions)
# run_both        runs one async scenario against both servers of js_pair, returns both transcripts
# assert_same     compares two transcripts step by step with a readable diff

JS_TS_KEYS = {"created", "ts", "first_ts", "last_ts", "time", "last_active"}
JS_ZERO_TIME = "0001-01-01T00:00:00Z"


def js_args(store: Path) -> list[str]:
    return ["-js", "-sd", str(store)]


@pytest.fixture
def js_server(server_factory, tmp_path) -> ServerProc:
    return server_factory(*js_args(tmp_path / "js"))


@pytest.fixture
def js_jetbroker(make_server, tmp_path) -> ServerProc:
    return make_server("jetbroker", *js_args(tmp_path / "js-jetbroker"))


@pytest.fixture
def js_pair(make_server, tmp_path) -> tuple[ServerProc, ServerProc]:
    """(jetbroker, nats-server), both with JetStream; skips when either binary is missing."""
    for kind in SERVER_KINDS:
        if binary_for(kind) is None:
            pytest.skip(f"{kind} binary not found")
    jb = make_server("jetbroker", *js_args(tmp_path / "pair-jetbroker"))
    ns = make_server("nats-server", *js_args(tmp_path / "pair-nats-server"))
    return jb, ns


async def js_req(nc, subject: str, body=b"", timeout: float = IO_TIMEOUT, headers=None) -> dict:
    if isinstance(body, (dict, list)):
        body = json.dumps(body).encode()
    elif isinstance(body, str):
        body = body.encode()
    msg = await nc.request(subject, body, timeout=timeout, headers=headers)
    return json.loads(msg.data)


def js_norm(obj, drop_desc_for: tuple[int, ...] = (), eph_names: bool = True):
    """A copy of an API answer with volatile values replaced.

    Timestamps become "<ts>" (or "<zero>" for Go's zero time, which is kept distinct), cluster
    leaders "<server>", `_nats.ver`/`_nats.level` metadata and `api.level` are dropped. Consumer
    names of consumers without durable_name become "<ephemeral>". Error descriptions whose
    err_code is in `drop_desc_for` are dropped (texts that may legitimately differ).
    """

    def walk(o, key=None):
        if isinstance(o, dict):
            out = {}
            for k, v in o.items():
                if k in JS_TS_KEYS and isinstance(v, str):
                    out[k] = "<zero>" if v == JS_ZERO_TIME else "<ts>"
                elif k == "leader" and key == "cluster":
                    out[k] = "<server>"
                elif k == "metadata" and isinstance(v, dict):
                    out[k] = {mk: mv for mk, mv in v.items() if mk not in ("_nats.ver", "_nats.level")}
                elif k == "api" and isinstance(v, dict):
                    out[k] = {ak: av for ak, av in v.items() if ak != "level"}
                else:
                    out[k] = walk(v, k)
            if key == "error" and out.get("err_code") in drop_desc_for:
                out.pop("description", None)
            cfg = out.get("config")
            if eph_names and isinstance(cfg, dict) and "stream_name" in out and not cfg.get("durable_name"):
                if "name" in out:
                    out["name"] = "<ephemeral>"
                if "name" in cfg:
                    cfg["name"] = "<ephemeral>"
            return out
        if isinstance(o, list):
            return [walk(v, key) for v in o]
        return o

    return walk(obj)


async def run_both(pair, scenario, **connect_kw) -> tuple[list, list]:
    """Runs `await scenario(nc, srv)` (which returns a transcript list) on jetbroker then nats-server."""
    import nats

    out = []
    for srv in pair:
        nc = await nats.connect(servers=[srv.url], allow_reconnect=False, connect_timeout=IO_TIMEOUT,
                                **connect_kw)
        try:
            out.append(await scenario(nc, srv))
        finally:
            await nc.close()
    return out[0], out[1]


def assert_same(jb: list, ns: list, what: str = "") -> None:
    """Step-by-step comparison; the message names the first differing step and both answers."""
    diffs = []
    for i, (a, b) in enumerate(zip(jb, ns)):
        if a != b:
            diffs.append(f"step {i}:\n  jetbroker:   {json.dumps(a, sort_keys=True)}\n"
                         f"  nats-server: {json.dumps(b, sort_keys=True)}")
    if len(jb) != len(ns):
        diffs.append(f"transcript lengths differ: jetbroker {len(jb)}, nats-server {len(ns)}")
    assert not diffs, f"{what} jetbroker differs from nats-server:\n" + "\n".join(diffs)
