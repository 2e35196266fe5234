"""Protocol tracing (-V), differential: the same raw session against nats-server and jetbroker, and
every [TRC] line compared after the pid, time and client port are normalised.

nats-server's trace is what people read when a client misbehaves: `<<- [OP args]` for what the
client sent, `->> [OP args]` for what the server sent (INFO excepted), `MSG_PAYLOAD: ["..."]` with
Go's string escapes, `<-> [DELSUB sid]` when a closing connection drops its subscriptions.
"""

import re
import socket

import pytest

from conftest import IO_TIMEOUT, binary_for

PREFIX = re.compile(r"^\[\d+\] \d{4}/\d\d/\d\d \d\d:\d\d:\d\d\.\d{6} \[TRC\] ")
CLIENT = re.compile(r"127\.0\.0\.1:\d+ - cid:\d+")

CONNECT = b'CONNECT {"verbose":false,"pedantic":false,"name":"tr","lang":"python","version":"1.0","headers":true}\r\n'
# Payload bytes that need escaping: a quote, a backslash, a tab, a control byte, valid UTF-8
# (kept as is) and a lone continuation byte (not UTF-8: escaped).
ODD = b'a"b\\c\td\x01e\xc3\xa9f\x80g'


def _read_until(s: socket.socket, token: bytes) -> bytes:
    s.settimeout(IO_TIMEOUT)
    buf = b""
    while token not in buf:
        chunk = s.recv(65536)
        assert chunk, f"closed before {token!r}: {buf!r}"
        buf += chunk
    return buf


def _session(port: int) -> None:
    s = socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT)
    _read_until(s, b"\r\n")  # INFO
    s.sendall(CONNECT + b"PING\r\n")
    _read_until(s, b"PONG\r\n")
    s.sendall(b"SUB foo  1\r\nSUB bar q 2\r\nPUB foo rep 5\r\nhello\r\n"
              b"HPUB foo 12 17\r\nNATS/1.0\r\n\r\nworld\r\nUNSUB 2\r\nPING\r\n")
    _read_until(s, b"PONG\r\n")
    s.sendall(b"PUB foo %d\r\n%s\r\nPING\r\n" % (len(ODD), ODD))
    _read_until(s, b"PONG\r\n")
    s.close()


def _trace(srv) -> list[str]:
    srv.wait_log(r"\[TRC\] .*<-> \[DELSUB 1\]")
    lines = [PREFIX.sub("", l) for l in srv.log_text().splitlines() if "[TRC]" in l]
    return [CLIENT.sub("CLIENT", l) for l in lines]


def test_trace_lines_match_nats_server(make_server):
    if binary_for("nats-server") is None or binary_for("jetbroker") is None:
        pytest.skip("needs both servers")
    got = {}
    for kind in ("nats-server", "jetbroker"):
        srv = make_server(kind, "-V")
        _session(srv.port)
        got[kind] = _trace(srv)
    ns, jb = got["nats-server"], got["jetbroker"]
    assert ns == jb, "\n".join(["nats-server:", *ns, "jetbroker:", *jb])
    # The comparison is about something: the session's operations are all there.
    joined = "\n".join(jb)
    for want in ("<<- [SUB foo  1]", "<<- [HPUB foo 12 17]", "->> [MSG foo 1 rep 5]",
                 '->> MSG_PAYLOAD: ["NATS/1.0\\r\\n\\r\\nworld"]', '<<- MSG_PAYLOAD: ["a\\"b\\\\c\\td\\x01eéf\\x80g"]',
                 "->> [PONG]", "<-> [DELSUB 1]"):
        assert want in joined, (want, jb)


def test_no_trace_without_the_flag(make_server):
    srv = make_server("jetbroker")
    _session(srv.port)
    srv.wait_for(lambda: srv.connz().get("num_connections") == 0, what="connection closed")
    assert not [l for l in srv.log_text().splitlines() if "[TRC]" in l]
