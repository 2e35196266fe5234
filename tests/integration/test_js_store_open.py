"""Opening the store: requests sent the moment a new store's server accepts connections, and two
servers on one store directory.

jetbroker opens a new (empty) store directory's database beside its start-up instead of before
it: no stream can exist in it yet, so it listens at once and JetStream API requests wait until the
database is open. A store directory is locked while a server uses it; a second server on it is
refused with a fatal log line and exit status 1, before it touches anything in the directory.
"""

import json
import socket
import subprocess
import time

import pytest

from conftest import IO_TIMEOUT, RawConn, binary_for

pytestmark = pytest.mark.timeout(60)

STREAM = {"name": "S", "subjects": ["s.>"], "storage": "file"}


def spawn(kind: str, port: int, store, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([binary_for(kind), "-p", str(port), "-m", "-1", "-a", "127.0.0.1", "-js", "-sd", str(store),
                             *extra], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def connect_soon(port: int, proc: subprocess.Popen) -> RawConn:
    """Connects the moment the port accepts (retrying every 0.2 ms), as a test harness polling for
    its fixture does."""
    deadline = time.monotonic() + IO_TIMEOUT
    while True:
        try:
            return RawConn("127.0.0.1", port)
        except OSError:
            assert proc.poll() is None, f"server exited with {proc.returncode}: {proc.stderr.read().decode()}"
            assert time.monotonic() < deadline, "server did not accept connections"
            time.sleep(0.0002)


def request_replies(c: RawConn, n: int) -> list[dict]:
    out = []
    for _ in range(n):
        head = c.expect(rb"MSG _INBOX\.t \d+ (\d+)\r\n")
        size = int(head.rsplit(b" ", 1)[1])
        body = c.expect(rb".{%d}\r\n" % size)
        out.append(json.loads(body[:-2]))
    return out


def create_and_publish(c: RawConn) -> None:
    """Creates STREAM, then publishes its first message (after the create's reply: a publish sent
    before it may be routed before the stream exists)."""
    body = json.dumps(STREAM)
    c.send(f"SUB _INBOX.t 1\r\nPUB $JS.API.STREAM.CREATE.S _INBOX.t {len(body)}\r\n{body}\r\n")
    (created,) = request_replies(c, 1)
    assert "error" not in created, created
    c.send("PUB s.one _INBOX.t 1\r\nx\r\n")
    (ack,) = request_replies(c, 1)
    assert ack == {"stream": "S", "seq": 1}, ack


def assert_refused_as_in_use(log: str) -> None:
    assert any("[FTL]" in l and "is in use by another process" in l for l in log.splitlines()), log


def stop(proc: subprocess.Popen) -> tuple[int, str]:
    proc.terminate()
    _, err = proc.communicate(timeout=IO_TIMEOUT)
    return proc.returncode, err.decode()


@pytest.mark.parametrize("kind", ["jetbroker", "nats-server"])
def test_requests_sent_at_once_on_a_new_store_are_answered(kind, tmp_path):
    if binary_for(kind) is None:
        pytest.skip(f"{kind} binary not found")
    store, port = tmp_path / "sd", free_port()
    proc = spawn(kind, port, store)
    c = connect_soon(port, proc)
    c.read_info()
    # Account info and stream create pipelined behind the CONNECT, before any PONG (nats-server
    # answers concurrent API requests in any order: they are told apart by type).
    body = json.dumps(STREAM)
    c.send('CONNECT {"verbose":false,"headers":true}\r\nSUB _INBOX.t 1\r\n'
           "PUB $JS.API.INFO _INBOX.t 0\r\n\r\n"
           f"PUB $JS.API.STREAM.CREATE.S _INBOX.t {len(body)}\r\n{body}\r\n")
    replies = {r["type"].rsplit(".", 1)[1]: r for r in request_replies(c, 2)}
    info, created = replies["account_info_response"], replies["stream_create_response"]
    assert "error" not in info and info["api"]["errors"] == 0, info
    assert created["config"]["name"] == "S" and "error" not in created, created
    c.send("PUB $JS.API.STREAM.INFO.S _INBOX.t 0\r\n\r\n")
    (sinfo,) = request_replies(c, 1)
    assert sinfo["state"]["messages"] == 0 and "error" not in sinfo, sinfo
    c.send("PUB s.one _INBOX.t 5\r\nhello\r\n")
    (ack,) = request_replies(c, 1)
    assert ack == {"stream": "S", "seq": 1}, ack
    c.close()
    rc, log = stop(proc)
    assert rc == 0, log

    # The new store is a whole store: a restart finds the stream and its message.
    proc = spawn(kind, port, store)
    c = connect_soon(port, proc)
    c.read_info()
    c.send('CONNECT {"verbose":false}\r\nSUB _INBOX.t 1\r\nPUB $JS.API.STREAM.INFO.S _INBOX.t 0\r\n\r\n')
    (sinfo,) = request_replies(c, 1)
    assert sinfo["state"]["messages"] == 1 and sinfo["state"]["last_seq"] == 1, sinfo
    c.close()
    rc, log = stop(proc)
    assert rc == 0, log


def test_a_second_server_on_a_store_in_use_is_refused(make_server, tmp_path):
    store = tmp_path / "sd"
    first = make_server("jetbroker", "-js", "-sd", str(store))
    c = RawConn(first.host, first.port).connect()
    create_and_publish(c)

    second = spawn("jetbroker", free_port(), store)
    rc, log = second.wait(IO_TIMEOUT), second.stderr.read().decode()
    assert rc == 1, log
    assert_refused_as_in_use(log)
    assert "Server is ready" not in log, log

    # The first server and its store are untouched.
    c.send("PUB $JS.API.STREAM.INFO.S _INBOX.t 0\r\n\r\nPUB s.two _INBOX.t 1\r\ny\r\n")
    sinfo, ack = request_replies(c, 2)
    assert sinfo["state"]["messages"] == 1, sinfo
    assert ack == {"stream": "S", "seq": 2}, ack


def test_two_servers_started_at_once_on_a_new_store_leave_one_serving(tmp_path):
    # Both may find the directory empty and open it beside their start-up: the lock decides, the
    # loser stops with the fatal line and status 1 (after its ready line, if it got that far).
    store = tmp_path / "sd"
    ports = [free_port(), free_port()]
    procs = [spawn("jetbroker", p, store) for p in ports]
    deadline = time.monotonic() + IO_TIMEOUT
    while all(p.poll() is None for p in procs) and time.monotonic() < deadline:
        time.sleep(0.01)
    exited = [i for i, p in enumerate(procs) if p.poll() is not None]
    assert len(exited) == 1, "exactly one of the two must stop"
    loser, winner = procs[exited[0]], procs[1 - exited[0]]
    log = loser.stderr.read().decode()
    assert loser.returncode == 1, log
    assert_refused_as_in_use(log)

    c = connect_soon(ports[1 - exited[0]], winner)
    c.read_info()
    c.send('CONNECT {"verbose":false}\r\n')
    create_and_publish(c)
    c.close()
    rc, log = stop(winner)
    assert rc == 0, log
