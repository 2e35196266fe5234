"""`jetbroker` and `jetbroker-filestore` (storage/file_env.hpp; docs/storage.md, "Two executables").

`jetbroker` is linked without RocksDB; when JetStream needs a store directory it execs
jetbroker-filestore from beside itself, in the same process. What a harness or an operator sees must
not change: the pid it spawned is the broker, argv and the process name stay the ones it started,
`--signal` without a pid finds it, and everything without a store directory stays in the lean image.
"""

import os
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from conftest import IO_TIMEOUT, RawConn, ServerProc, binary_for

T = 10.0


@pytest.fixture
def lean() -> Path:
    b = binary_for("jetbroker")
    if b is None:
        pytest.skip("jetbroker not built")
    filestore = Path(b).parent / "jetbroker-filestore"
    if not filestore.is_file():
        pytest.skip("jetbroker-filestore not built beside jetbroker")
    return Path(b)


def exe_of(pid: int) -> Path:
    return Path(os.readlink(f"/proc/{pid}/exe"))


def comm_of(pid: int) -> str:
    return Path(f"/proc/{pid}/comm").read_text().strip()


def argv_of(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/cmdline").read_bytes().rstrip(b"\0").decode().split("\0")


def mapped_files(pid: int) -> set[str]:
    files = set()
    for line in Path(f"/proc/{pid}/maps").read_text().splitlines():
        parts = line.split(None, 5)
        if len(parts) == 6 and parts[5].startswith("/"):
            files.add(parts[5])
    return files


def start(binary: Path | str, *args: str) -> ServerProc:
    return ServerProc(kind="jetbroker", binary=str(binary), args=["-p", "-1", "-m", "-1", "-a", "127.0.0.1", *args]).start()


def js_account_info(srv: ServerProc) -> bytes:
    """$JS.API.INFO over a raw connection: the response's JSON."""
    c = RawConn(srv.host, srv.port).connect()
    try:
        c.send("SUB _INBOX.x 1\r\nPUB $JS.API.INFO _INBOX.x 0\r\n\r\n")
        head = c.expect(rb"MSG _INBOX\.x 1 (\d+)\r\n")
        size = int(head.rsplit(b" ", 1)[1])
        return c.expect(rb"\r\n", timeout=IO_TIMEOUT)[-size - 2:-2] if size else b""
    finally:
        c.close()


@pytest.fixture
def servers():
    started: list[ServerProc] = []
    yield started
    for s in started:
        if s.exit_code is None:
            assert s.stop() == 0, s.log_text()[-2000:]


def test_without_store_directory_the_lean_image_serves(lean, servers, tmp_path):
    plain = start(lean)
    servers.append(plain)
    mem = start(lean, "-js", "--store_dir=:memory:")
    servers.append(mem)
    for s in (plain, mem):
        assert exe_of(s.pid) == lean.resolve()
        assert not [f for f in mapped_files(s.pid) if f.endswith("jetbroker-filestore")]
    assert b'"type":"io.nats.jetstream.api.v1.account_info_response"' in js_account_info(mem)
    assert "Starting JetStream" not in plain.log_text()


def test_js_flag_runs_the_file_store_in_the_same_process(lean, servers, tmp_path):
    args = ["-js", "-sd", str(tmp_path / "store")]
    srv = start(lean, *args)
    servers.append(srv)
    assert exe_of(srv.pid) == (lean.parent / "jetbroker-filestore").resolve()
    assert argv_of(srv.pid) == [str(lean), "-p", "-1", "-m", "-1", "-a", "127.0.0.1", *args]
    assert comm_of(srv.pid) == "jetbroker"
    assert f'Store Directory: "{tmp_path / "store" / "jetstream"}"' in srv.log_text()
    assert srv.log_text().count("Starting nats-server") == 1
    assert b'"storage":0' in js_account_info(srv)  # a file store answering
    marker = tmp_path / "store" / "jetstream" / "JETBROKER_STORE"
    srv.wait_for(marker.is_file, what="the RocksDB store's marker file")


def test_js_from_a_config_file_runs_the_file_store(lean, servers, tmp_path):
    # A config file is decided in main() (the pre-main check leaves -c alone); its warnings are
    # printed once, by the image that runs the broker.
    conf = tmp_path / "js.conf"
    conf.write_text(f'jetstream {{ store_dir: "{tmp_path / "store"}" }}\nping_interval: 120\n')
    srv = start(lean, "-c", str(conf))
    servers.append(srv)
    assert exe_of(srv.pid) == (lean.parent / "jetbroker-filestore").resolve()
    assert comm_of(srv.pid) == "jetbroker"
    warned = [ln for ln in srv.log_text().splitlines() if "ping_interval should be converted to a duration" in ln]
    assert len(warned) == 1, srv.log_text()
    conf.write_text('jetstream { store_dir: ":memory:" }\n')
    mem = start(lean, "-c", str(conf))
    servers.append(mem)
    assert exe_of(mem.pid) == lean.resolve()


def test_a_renamed_copy_keeps_its_name_and_answers_signals(lean, servers, tmp_path):
    # Harnesses install the broker as nats-server (a symlink in the Docker image): the exec'd file
    # store keeps that name, so ps, pgrep and `--signal` without a pid still find the process.
    name = "jb" + uuid.uuid4().hex[:10]
    link = tmp_path / name
    link.symlink_to(lean)
    srv = start(link, "-js", "-sd", str(tmp_path / "store"))
    servers.append(srv)
    assert comm_of(srv.pid) == name
    assert argv_of(srv.pid)[0] == str(link)
    r = subprocess.run([str(link), "--signal", "reopen"], capture_output=True, text=True, timeout=T)
    assert r.returncode == 0, r.stderr
    srv.wait_log(r"Reopened log file", timeout=IO_TIMEOUT)


def test_missing_file_store_is_a_clear_error(lean, tmp_path):
    alone = tmp_path / "bin" / "jetbroker"
    alone.parent.mkdir()
    shutil.copy2(lean, alone)
    expected = f"jetbroker: JetStream with a store directory needs the file store executable {alone.parent}/jetbroker-filestore"
    conf = tmp_path / "js.conf"
    conf.write_text(f'jetstream: enabled\nstore_dir: "{tmp_path / "store"}"\n')
    for args in (["-js", "-sd", str(tmp_path / "store")], ["-c", str(conf)]):
        r = subprocess.run([str(alone), "-p", "-1", "-a", "127.0.0.1", *args], capture_output=True, text=True, timeout=T)
        assert r.returncode == 1, r
        assert expected in r.stderr, r.stderr
        assert "No such file or directory" in r.stderr and ":memory:" in r.stderr
        assert not (tmp_path / "store").exists(), "nothing created before the error"
    # Without a store directory the copy alone is a whole broker.
    srv = start(alone, "-js", "-sd", ":memory:")
    try:
        assert b"account_info_response" in js_account_info(srv)
    finally:
        assert srv.stop() == 0
