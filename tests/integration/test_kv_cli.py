"""The `nats` CLI (natscli v0.5.1) KV and object store commands against both servers:
`nats kv add/put/get/create/update/del/purge/ls/history/info/watch/rm` and
`nats object add/put/get/ls/info/rm/seal/del`, non-interactive (-f, --raw, stdin closed).

Per-server tests check exit codes, outputs and the result through nats-py; `js_pair` tests run one
command script on both servers and compare the outputs after masking dates, durations and server ids.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import threading
import time

import nats
import pytest

from conftest import IO_TIMEOUT, js_req, nats_cli_env

pytestmark = pytest.mark.timeout(120)

T = 20.0


@pytest.fixture
def cli(tmp_path):
    binary, env = nats_cli_env(tmp_path)
    procs: list[subprocess.Popen] = []

    class Cli:
        def run(self, srv, *args, ok: bool | None = True, stdin: bytes | None = None,
                timeout=T) -> subprocess.CompletedProcess:
            r = subprocess.run([binary, "--no-context", "-s", srv.url, *args], capture_output=True,
                               timeout=timeout, env=env, input=stdin if stdin is not None else b"",
                               cwd=tmp_path)
            if ok is True:
                assert r.returncode == 0, (f"nats {' '.join(args)} -> {r.returncode}\n{r.stdout.decode()}\n"
                                           f"{r.stderr.decode()}")
            elif ok is False:
                assert r.returncode != 0, f"nats {' '.join(args)} unexpectedly succeeded\n{r.stdout.decode()}"
            return r

        def out(self, srv, *args, **kw) -> str:
            return self.run(srv, *args, **kw).stdout.decode()

        def start(self, srv, *args) -> "Stream":
            p = subprocess.Popen([binary, "--no-context", "-s", srv.url, *args], stdin=subprocess.DEVNULL,
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, cwd=tmp_path)
            procs.append(p)
            return Stream(p)

    yield Cli()
    for p in procs:
        if p.poll() is None:
            p.kill()
        p.wait()


class Stream:
    """Output of a long-running CLI command (kv watch), read line by line on a thread."""

    def __init__(self, p: subprocess.Popen):
        self.p = p
        self.lines: list[str] = []
        self.cv = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for raw in self.p.stdout:
            with self.cv:
                self.lines.append(raw.decode("utf-8", "replace").rstrip("\n"))
                self.cv.notify_all()
        with self.cv:
            self.lines.append("<EOF>")
            self.cv.notify_all()

    def wait_for(self, pattern: str, timeout: float = 10.0) -> str:
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self.cv:
            while True:
                for line in self.lines:
                    if rx.search(line):
                        return line
                remaining = deadline - time.monotonic()
                if remaining <= 0 or (self.lines and self.lines[-1] == "<EOF>"):
                    raise AssertionError(f"no line matching {pattern!r}; got:\n" + "\n".join(self.lines))
                self.cv.wait(remaining)

    def stop(self):
        if self.p.poll() is None:
            self.p.kill()
        self.p.wait()


async def py(srv):
    return await nats.connect(servers=[srv.url], allow_reconnect=False, connect_timeout=IO_TIMEOUT)


# ---- kv -------------------------------------------------------------------------------------------


async def test_kv_cli_add_info_ls_rm(js_server, cli):
    cli.run(js_server, "kv", "add", "CFG", "--history", "5", "--ttl", "1h", "--max-value-size", "1024",
            "--storage", "memory", "--description", "from cli")
    info = cli.out(js_server, "kv", "info", "CFG")
    for needle in ("Bucket Name: CFG", "History Kept: 5", "Maximum Value Size: 1.0 KiB",
                   "Maximum Age: 1h0m0s", "JetStream Stream: KV_CFG", "Storage: Memory", "Description: from cli"):
        assert needle in info, f"{needle!r} missing from:\n{info}"

    nc = await py(js_server)
    try:
        cfg = (await js_req(nc, "$JS.API.STREAM.INFO.KV_CFG"))["config"]
        assert (cfg["max_msgs_per_subject"], cfg["max_age"], cfg["max_msg_size"], cfg["storage"]) == (
            5, 3600 * 10**9, 1024, "memory")
        assert cfg["subjects"] == ["$KV.CFG.>"] and cfg["deny_delete"] and cfg["allow_rollup_hdrs"]
        kv = await nc.jetstream().key_value("CFG")
        assert (await kv.status()).history == 5
    finally:
        await nc.close()

    assert cli.out(js_server, "kv", "ls", "-n").split() == ["CFG"]
    cli.run(js_server, "kv", "add", "OTHER")
    assert sorted(cli.out(js_server, "kv", "ls", "-n").split()) == ["CFG", "OTHER"]
    cli.run(js_server, "kv", "rm", "CFG", "-f")
    assert cli.out(js_server, "kv", "ls", "-n").split() == ["OTHER"]
    r = cli.run(js_server, "kv", "info", "CFG", ok=False)
    assert "bucket not found" in r.stderr.decode()


async def test_kv_cli_put_get_del_history(js_server, cli):
    cli.run(js_server, "kv", "add", "B", "--history", "5")
    assert cli.out(js_server, "kv", "put", "B", "k1", "v1").strip() == "v1"
    cli.run(js_server, "kv", "put", "B", "k1", stdin=b"from-stdin")
    cli.run(js_server, "kv", "put", "B", "k2", "other")
    assert cli.out(js_server, "kv", "get", "B", "k1", "--raw") == "from-stdin"
    assert cli.out(js_server, "kv", "get", "B", "k1", "--revision", "1", "--raw") == "v1"
    full = cli.out(js_server, "kv", "get", "B", "k1")
    assert re.search(r"B > k1 revision: 2 created @ \d{4}-\d\d-\d\d", full), full
    r = cli.run(js_server, "kv", "get", "B", "nope", ok=False)
    assert "key not found" in r.stderr.decode()

    # create (only if absent) and update (CAS)
    r = cli.run(js_server, "kv", "create", "B", "k1", "x", ok=False)
    assert "wrong last sequence: 2" in r.stderr.decode()
    cli.run(js_server, "kv", "create", "B", "k3", "new")
    r = cli.run(js_server, "kv", "update", "B", "k1", "v3", "1", ok=False)
    assert "wrong last sequence: 2" in r.stderr.decode()
    cli.run(js_server, "kv", "update", "B", "k1", "v3", "2")

    cli.run(js_server, "kv", "del", "B", "k2", "-f")
    r = cli.run(js_server, "kv", "get", "B", "k2", ok=False)
    assert "key not found" in r.stderr.decode()
    assert sorted(cli.out(js_server, "kv", "ls", "B").split()) == ["k1", "k3"]

    hist = cli.out(js_server, "kv", "history", "B", "k1")
    rows = [[c.strip() for c in line.split("│")[1:-1]] for line in hist.splitlines() if line.startswith("│ k1")]
    assert [(r[1], r[2], r[5]) for r in rows] == [("1", "PUT", "v1"), ("2", "PUT", "from-stdin"), ("5", "PUT", "v3")]
    hist2 = cli.out(js_server, "kv", "history", "B", "k2")
    assert re.search(r"│ k2\s+│\s+6 │ DEL", hist2), hist2

    cli.run(js_server, "kv", "purge", "B", "k1", "-f")
    hist = cli.out(js_server, "kv", "history", "B", "k1")
    assert re.search(r"│ k1\s+│\s+7 │ PURGE", hist) and "v1" not in hist, hist

    # what the CLI wrote reads back through nats-py, and the other way round
    nc = await py(js_server)
    try:
        kv = await nc.jetstream().key_value("B")
        assert (await kv.get("k3")).value == b"new"
        await kv.put("py", b"from-python")
    finally:
        await nc.close()
    assert cli.out(js_server, "kv", "get", "B", "py", "--raw") == "from-python"


async def test_kv_cli_create_with_ttl_leaves_marker(js_server, cli):
    cli.run(js_server, "kv", "add", "TT", "--marker-ttl", "2s")
    info = cli.out(js_server, "kv", "info", "TT")
    assert re.search(r"Per-Key TTL Supported: true", info), info
    cli.run(js_server, "kv", "create", "TT", "short", "v", "--ttl", "1s")
    assert cli.out(js_server, "kv", "get", "TT", "short", "--raw") == "v"
    nc = await py(js_server)
    try:
        js = nc.jetstream()
        raw = await js.get_msg("KV_TT", seq=1)
        assert raw.headers.get("Nats-TTL") == "1s"
        deadline = time.monotonic() + 6
        while time.monotonic() < deadline:  # expiry is a server timer; poll its visible effect
            si = await js.stream_info("KV_TT")
            if si.state.last_seq == 2:
                break
            await asyncio.sleep(0.1)
        raw = await js.get_msg("KV_TT", seq=2)
        assert raw.headers.get("Nats-Marker-Reason") == "MaxAge"
    finally:
        await nc.close()


async def test_kv_cli_watch(js_server, cli):
    cli.run(js_server, "kv", "add", "W", "--history", "3")
    cli.run(js_server, "kv", "put", "W", "a", "one")
    cli.run(js_server, "kv", "put", "W", "b.x", "two")
    cli.run(js_server, "kv", "del", "W", "a", "-f")
    w = cli.start(js_server, "kv", "watch", "W")
    w.wait_for(r"PUT W > b\.x: two")
    w.wait_for(r"DELETE W > a$")
    nc = await py(js_server)
    try:
        kv = await nc.jetstream().key_value("W")
        await kv.put("c", b"live")
        w.wait_for(r"PUT W > c: live")
        await kv.purge("b.x")
        w.wait_for(r"PURGE W > b\.x")
    finally:
        await nc.close()
    w.stop()

    wk = cli.start(js_server, "kv", "watch", "W", "b.*", "--history")
    wk.wait_for(r"PURGE W > b\.x")
    wk.stop()
    text = "\n".join(wk.lines)
    assert "W > c" not in text and "two" not in text  # filter honoured; rollup removed the old value


async def test_kv_cli_watch_updates_only(js_server, cli):
    """`kv watch --updates` (deliver policy new; nats-py 2.16's KV watch has no updates_only)."""
    cli.run(js_server, "kv", "add", "U")
    cli.run(js_server, "kv", "put", "U", "old", "before")
    w = cli.start(js_server, "kv", "watch", "U", "--updates")
    nc = await py(js_server)
    try:
        kv = await nc.jetstream().key_value("U")
        # the CLI prints nothing for the existing value; wait until its consumer exists, then write
        js = nc.jetstream()
        deadline = time.monotonic() + 10
        while (await js.stream_info("KV_U")).state.consumer_count == 0:
            assert time.monotonic() < deadline, "watch consumer never created"
            await asyncio.sleep(0.05)
        await kv.put("new", b"after")
        w.wait_for(r"PUT U > new: after")
    finally:
        await nc.close()
    w.stop()
    assert not any("before" in line for line in w.lines), w.lines


# ---- object store ---------------------------------------------------------------------------------


async def test_object_cli_lifecycle(js_server, cli, tmp_path):
    data = os.urandom(1024 * 1024 + 33)
    src = tmp_path / "big.bin"
    src.write_bytes(data)
    small = tmp_path / "small.txt"
    small.write_bytes(b"hello object")

    out = cli.out(js_server, "object", "add", "OB", "--description", "cli bucket")
    assert "Bucket Name: OB" in out and "JetStream Stream: OBJ_OB" in out
    out = cli.out(js_server, "object", "put", "OB", str(src), "--name", "big.bin", "--no-progress")
    assert "Chunks: 9" in out and "Size: 1.0 MiB" in out, out
    cli.run(js_server, "object", "put", "OB", str(small), "--name", "small.txt", "--no-progress",
            "--description", "tiny", "-H", "X-Kind:text")
    ls = cli.out(js_server, "object", "ls", "OB")
    assert "big.bin" in ls and "small.txt" in ls
    info = cli.out(js_server, "object", "info", "OB", "small.txt")
    assert "Size: 12 B" in info and "Chunks: 1" in info and "Description: tiny" in info, info

    dst = tmp_path / "out.bin"
    cli.run(js_server, "object", "get", "OB", "big.bin", "-O", str(dst), "--no-progress")
    assert dst.read_bytes() == data

    nc = await py(js_server)
    try:
        obs = await nc.jetstream().object_store("OB")
        assert (await obs.get("big.bin")).data == data
        gi = await obs.get_info("small.txt")
        assert (gi.description, gi.headers) == ("tiny", {"X-Kind": ["text"]})
        await obs.put("from-py", b"python bytes")
    finally:
        await nc.close()
    dst2 = tmp_path / "py.bin"
    cli.run(js_server, "object", "get", "OB", "from-py", "-O", str(dst2), "--no-progress")
    assert dst2.read_bytes() == b"python bytes"

    cli.run(js_server, "object", "rm", "OB", "big.bin", "-f")
    r = cli.run(js_server, "object", "info", "OB", "big.bin", ok=False)
    assert "object not found" in r.stderr.decode()
    assert "big.bin" not in cli.out(js_server, "object", "ls", "OB")

    cli.run(js_server, "object", "seal", "OB", "-f")
    r = cli.run(js_server, "object", "put", "OB", str(small), "--name", "after-seal", "--no-progress", "-f",
                ok=False)
    assert "sealed" in (r.stdout + r.stderr).decode()

    assert cli.out(js_server, "object", "ls", "-n").split() == ["OB"]
    cli.run(js_server, "object", "rm", "OB", "-f")
    assert cli.out(js_server, "object", "ls", "-n").split() == []
    r = cli.run(js_server, "object", "ls", "OB", ok=False)
    assert "not found" in r.stderr.decode()


# ---- differential: same script, same output ------------------------------------------------------

_MASKS = [
    (re.compile(r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(\.\d+)?Z?"), "<date>"),
    (re.compile(r"\b[A-Z0-9]{56}\b"), "<server-id>"),
    (re.compile(r"\b\d+(\.\d+)?(ns|µs|us|ms|s)\b(?! ago)"), "<dur>"),
    (re.compile(r"Digest: SHA-256 [0-9a-f]{64}"), "Digest: <sha>"),
    (re.compile(r"in <dur>"), "in <dur>"),
]


def mask(text: str) -> str:
    for rx, rep in _MASKS:
        text = rx.sub(rep, text)
    return text


SCRIPT = [
    ("kv", "add", "D", "--history", "4", "--description", "diff"),
    ("kv", "put", "D", "a", "1"),
    ("kv", "put", "D", "a", "2"),
    ("kv", "put", "D", "b", "3"),
    ("kv", "create", "D", "a", "dup"),
    ("kv", "update", "D", "a", "4", "2"),
    ("kv", "update", "D", "a", "5", "2"),
    ("kv", "get", "D", "a", "--raw"),
    ("kv", "get", "D", "a", "--revision", "1", "--raw"),
    ("kv", "del", "D", "b", "-f"),
    ("kv", "get", "D", "b"),
    ("kv", "history", "D", "a"),
    ("kv", "history", "D", "b"),
    ("kv", "ls", "D"),
    ("kv", "ls", "-n"),
    ("kv", "info", "D"),
    ("kv", "purge", "D", "a", "-f"),
    ("kv", "history", "D", "a"),
    ("kv", "compact", "D", "-f"),
    ("kv", "info", "D"),
    ("kv", "rm", "D", "-f"),
    ("kv", "rm", "D", "-f"),
    ("kv", "ls", "-n"),
    ("object", "add", "OD"),
    ("object", "put", "OD", "payload.txt", "--no-progress"),
    ("object", "info", "OD", "payload.txt"),
    ("object", "ls", "OD"),
    ("object", "rm", "OD", "payload.txt", "-f"),
    ("object", "info", "OD", "payload.txt"),
    ("object", "seal", "OD", "-f"),
    ("object", "info", "OD"),
    ("object", "rm", "OD", "-f"),
    ("object", "ls", "-n"),
]


def test_kv_object_cli_script_same_as_nats_server(js_pair, cli, tmp_path):
    (tmp_path / "payload.txt").write_bytes(b"some payload bytes\n" * 1000)
    outs = []
    for srv in js_pair:
        transcript = []
        for cmd in SCRIPT:
            r = cli.run(srv, *cmd, ok=None)
            transcript.append((" ".join(cmd), r.returncode, mask(r.stdout.decode()), mask(r.stderr.decode())))
        outs.append(transcript)
    diffs = []
    for (cmd, rc1, o1, e1), (_, rc2, o2, e2) in zip(*outs):
        if (rc1, o1, e1) != (rc2, o2, e2):
            diffs.append(f"$ nats {cmd}\n--- jetbroker (rc {rc1})\n{o1}{e1}\n--- nats-server (rc {rc2})\n{o2}{e2}")
    assert not diffs, "CLI output differs:\n" + "\n".join(diffs)
