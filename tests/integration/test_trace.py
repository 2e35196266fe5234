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


def _same_trace_on_both(start, session) -> list[str]:
    """Runs session(srv) on a server from start(kind) for nats-server and jetbroker, asserts the
    normalised trace lines are equal and returns jetbroker's."""
    if binary_for("nats-server") is None or binary_for("jetbroker") is None:
        pytest.skip("needs both servers")
    got = {}
    for kind in ("nats-server", "jetbroker"):
        srv = start(kind)
        session(srv)
        got[kind] = _trace(srv)
    ns, jb = got["nats-server"], got["jetbroker"]
    assert ns == jb, "\n".join(["nats-server:", *ns, "jetbroker:", *jb])
    return jb


def test_trace_lines_match_nats_server(make_server, raw):
    jb = _same_trace_on_both(lambda kind: make_server(kind, "-V"), lambda srv: _session(srv, raw))
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


# Credentials in CONNECT, lower-case verbs, and payload bytes whose escaping depends on Go's
# UTF-8 validation (overlong forms, a surrogate, past U+10FFFF: \x per byte) and on
# unicode.IsPrint (C1 control, no-break space, line separator, BOM, private use: \u; an emoji
# and é kept as they are).
SECRET_CONNECT = (b'CONNECT {"verbose":false,"pedantic":false,"user":"alice","pass":"hunter2","auth_token":"tok3n",'
                  b'"sig":"c2lnbmF0dXJl","name":"tr","headers":true,"no_responders":true}\r\n')
UNICODE_ODD = (b"\xe0\x80\x80|\xed\xa0\x80|\xf4\x90\x80\x80|\xc2\x9b|\xc2\xa0|\xe2\x80\xa8|\xef\xbb\xbf|"
               b"\xee\x80\x80|\xf0\x9f\x98\x80|\xc3\xa9")


def test_trace_redacts_credentials_and_escapes_like_nats_server(make_server, raw):
    def session(srv):
        c = raw(srv, connect=False)
        c.send(SECRET_CONNECT + b"ping\r\n").expect(b"PONG\r\n")
        c.send(b"sub foo 1\r\npub foo %d\r\n%s\r\nPING\r\n" % (len(UNICODE_ODD), UNICODE_ODD)).expect(b"PONG\r\n")
        # A request nobody answers: nats-server does not trace its own 503 reply.
        c.send(b"SUB inbox 2\r\nPUB nobody inbox 0\r\n\r\nPING\r\n").expect(b"NATS/1.0 503")
        c.send(b"UNSUB 2\r\nPING\r\n").expect(b"PONG\r\n")
        c.close()

    jb = _same_trace_on_both(lambda kind: make_server(kind, "-V"), session)
    joined = "\n".join(jb)
    for secret in ("hunter2", "tok3n", "c2lnbmF0dXJl"):
        assert secret not in joined, (secret, jb)
    assert "503" not in joined, jb
    for want in ('"pass":"[REDACTED]"', '"user":"alice"', "<<- [PUB nobody inbox 0]", "<<- [SUB foo 1]", "<<- [PING]",
                 "\\xe0\\x80\\x80|\\xed\\xa0\\x80|\\xf4\\x90\\x80\\x80|\\u009b|\\u00a0|\\u2028|\\ufeff|\\ue000|\U0001F600|é"):
        assert want in joined, (want, jb)


@pytest.mark.parametrize("conf", ["max_traced_msg_len: 7", "trace_headers: true"])
def test_trace_payload_options_match_nats_server(make_server, raw, tmp_path, conf):
    # max_traced_msg_len cuts traced payloads (with "..."), trace_headers shows only headers;
    # neither prints a line for an empty message.
    def start(kind):
        path = tmp_path / f"{kind}.conf"
        path.write_text(f"trace: true\n{conf}\n")
        return make_server(kind, "-c", str(path))

    def session(srv):
        c = raw(srv, connect=False)
        c.send(CONNECT + b"SUB foo 1\r\nPUB foo 0\r\n\r\nPUB foo 12\r\nhello world!\r\n"
               b"HPUB foo 18 23\r\nNATS/1.0\r\nA: B\r\n\r\nhello\r\nPING\r\n").expect(b"PONG\r\n")
        c.close()

    jb = _same_trace_on_both(start, session)
    payloads = [l.split("MSG_PAYLOAD: ", 1)[1] for l in jb if "MSG_PAYLOAD" in l]
    if "max_traced" in conf:
        assert payloads == ['["hello w..."]'] * 2 + ['["NATS/1...."]'] * 2, payloads
    else:
        assert payloads == ['["NATS/1.0\\r\\nA: B"]'] * 2, payloads
