"""Protocol tracing (-V), differential: the same raw session against nats-server and jetbroker, and
every [TRC] line compared after the pid, time and client port are normalised.

nats-server's trace is what people read when a client misbehaves: `<<- [OP args]` for what the
client sent, `->> [OP args]` for what the server sent (INFO excepted), `MSG_PAYLOAD: ["..."]` with
Go's string escapes, `<-> [DELSUB sid]` when a closing connection drops its subscriptions.
"""

import re

import pytest

from conftest import binary_for

PREFIX = re.compile(r"^\[\d+\] \d{4}/\d\d/\d\d \d\d:\d\d:\d\d\.\d{6} \[TRC\] ")
CLIENT = re.compile(r"127\.0\.0\.1:\d+ - cid:\d+")

CONNECT = b'CONNECT {"verbose":false,"pedantic":false,"name":"tr","lang":"python","version":"1.0","headers":true}\r\n'
# Payload bytes that need escaping: a quote, a backslash, a tab, a control byte, valid UTF-8
# (kept as is) and a lone continuation byte (not UTF-8: escaped).
ODD = b'a"b\\c\td\x01e\xc3\xa9f\x80g'


def _session(srv, raw) -> None:
    c = raw(srv, connect=False)
    c.send(CONNECT + b"PING\r\n").expect(b"PONG\r\n")
    c.send(b"SUB foo  1\r\nSUB bar q 2\r\nPUB foo rep 5\r\nhello\r\n"
           b"HPUB foo 12 17\r\nNATS/1.0\r\n\r\nworld\r\nUNSUB 2\r\nPING\r\n").expect(b"PONG\r\n")
    c.send(b"PUB foo %d\r\n%s\r\nPING\r\n" % (len(ODD), ODD)).expect(b"PONG\r\n")
    c.close()


def _trace(srv) -> list[str]:
    srv.wait_log(r"\[TRC\] .*<-> \[DELSUB 1\]")
    lines = [PREFIX.sub("", l) for l in srv.log_text().splitlines() if "[TRC]" in l]
    return [CLIENT.sub("CLIENT", l) for l in lines]


def test_trace_lines_match_nats_server(make_server, raw):
    if binary_for("nats-server") is None or binary_for("jetbroker") is None:
        pytest.skip("needs both servers")
    got = {}
    for kind in ("nats-server", "jetbroker"):
        srv = make_server(kind, "-V")
        _session(srv, raw)
        got[kind] = _trace(srv)
    ns, jb = got["nats-server"], got["jetbroker"]
    assert ns == jb, "\n".join(["nats-server:", *ns, "jetbroker:", *jb])
    # The comparison is about something: the session's operations are all there.
    joined = "\n".join(jb)
    for want in ("<<- [SUB foo  1]", "<<- [HPUB foo 12 17]", "->> [MSG foo 1 rep 5]",
                 '->> MSG_PAYLOAD: ["NATS/1.0\\r\\n\\r\\nworld"]', '<<- MSG_PAYLOAD: ["a\\"b\\\\c\\td\\x01eéf\\x80g"]',
                 "->> [PONG]", "<-> [DELSUB 1]"):
        assert want in joined, (want, jb)


def test_no_trace_without_the_flag(make_server, raw):
    srv = make_server("jetbroker")
    _session(srv, raw)
    srv.wait_for(lambda: srv.connz().get("num_connections") == 0, what="connection closed")
    assert not [l for l in srv.log_text().splitlines() if "[TRC]" in l]
