"""Raw-socket protocol tests (differential: jetbroker and nats-server).

Each test compares the exact bytes a client sees. Messages published and received on the same
connection are used wherever ordering matters: the server queues deliveries for that connection
before it answers the following PING, so `ping()` returns everything caused by earlier ops.
"""

import json
import time

import pytest

from conftest import RawConn

MAX_PAYLOAD = 1048576


# ---- pub/sub basics -------------------------------------------------------------------------------


def test_pub_sub_roundtrip(server, raw):
    c = raw(server)
    c.send("SUB foo 1\r\nPUB foo 5\r\nhello\r\n")
    assert c.ping() == b"MSG foo 1 5\r\nhello\r\nPONG\r\n"


def test_pub_with_reply(server, raw):
    c = raw(server)
    c.send("SUB foo 7\r\nPUB foo bar.baz 2\r\nhi\r\n")
    assert c.ping() == b"MSG foo 7 bar.baz 2\r\nhi\r\nPONG\r\n"


def test_empty_payload(server, raw):
    c = raw(server)
    c.send("SUB foo 1\r\nPUB foo 0\r\n\r\n")
    assert c.ping() == b"MSG foo 1 0\r\n\r\nPONG\r\n"


def test_wildcards_raw(server, raw):
    c = raw(server)
    c.send("SUB foo.* 1\r\nSUB foo.> 2\r\nSUB > 3\r\nSUB *.bar.* 4\r\n")
    c.send("PUB foo.bar 1\r\na\r\n")
    out = c.ping()
    assert sorted(out.split(b"\r\n")[:-2:2]) == [b"MSG foo.bar 1 1", b"MSG foo.bar 2 1", b"MSG foo.bar 3 1"]
    c.send("PUB foo.bar.baz 1\r\nb\r\n")
    out = c.ping()
    assert sorted(out.split(b"\r\n")[:-2:2]) == [
        b"MSG foo.bar.baz 2 1", b"MSG foo.bar.baz 3 1", b"MSG foo.bar.baz 4 1"]
    c.send("PUB foo 1\r\nc\r\n")
    assert c.ping() == b"MSG foo 3 1\r\nc\r\nPONG\r\n"  # foo.> needs at least one more token


def test_partial_wildcard_token_is_literal(server, raw):
    c = raw(server)
    c.send("SUB foo.b* 1\r\nPUB foo.bar 1\r\nx\r\nPUB foo.b* 1\r\ny\r\n")
    assert c.ping() == b"MSG foo.b* 1 1\r\ny\r\nPONG\r\n"


def test_sid_reuse_does_not_duplicate(server, raw):
    c = raw(server)
    c.send("SUB foo 1\r\nSUB foo 1\r\nPUB foo 1\r\nx\r\n")
    assert c.ping() == b"MSG foo 1 1\r\nx\r\nPONG\r\n"


def test_unsub(server, raw):
    c = raw(server)
    c.send("SUB foo 1\r\nUNSUB 1\r\nPUB foo 1\r\nx\r\n")
    assert c.ping() == b"PONG\r\n"


def test_unsub_with_max(server, raw):
    c = raw(server)
    c.send("SUB foo 1\r\nUNSUB 1 3\r\n")
    c.send("".join(f"PUB foo 1\r\n{i}\r\n" for i in range(5)))
    assert c.ping() == b"MSG foo 1 1\r\n0\r\nMSG foo 1 1\r\n1\r\nMSG foo 1 1\r\n2\r\nPONG\r\n"
    c.send("PUB foo 1\r\n9\r\n")
    assert c.ping() == b"PONG\r\n"


def test_unsub_max_counts_already_delivered(server, raw):
    """UNSUB <sid> <max> after 2 deliveries with max 3 leaves exactly one more."""
    c = raw(server)
    c.send("SUB foo 1\r\nPUB foo 1\r\na\r\nPUB foo 1\r\nb\r\n")
    assert c.ping() == b"MSG foo 1 1\r\na\r\nMSG foo 1 1\r\nb\r\nPONG\r\n"
    c.send("UNSUB 1 3\r\nPUB foo 1\r\nc\r\nPUB foo 1\r\nd\r\n")
    assert c.ping() == b"MSG foo 1 1\r\nc\r\nPONG\r\n"


def test_queue_group_raw_one_member(server, raw):
    c = raw(server)
    c.send("SUB foo q 1\r\nSUB foo q 2\r\nSUB foo 3\r\n")
    c.send("".join("PUB foo 1\r\nx\r\n" for _ in range(20)))
    out = c.ping()
    lines = out.split(b"\r\n")[:-2:2]
    assert len([l for l in lines if l == b"MSG foo 3 1"]) == 20
    assert len([l for l in lines if l in (b"MSG foo 1 1", b"MSG foo 2 1")]) == 20


# ---- headers ----------------------------------------------------------------------------------------

HDR = b"NATS/1.0\r\nFoo: Bar\r\nfoo: baz\r\nKey With Space: v1\r\n\r\n"


def test_hpub_hmsg_verbatim(server, raw):
    c = raw(server)
    total = len(HDR) + 5
    c.send(b"SUB foo 1\r\nHPUB foo reply %d %d\r\n" % (len(HDR), total) + HDR + b"hello\r\n")
    assert c.ping() == b"HMSG foo 1 reply %d %d\r\n" % (len(HDR), total) + HDR + b"hello\r\nPONG\r\n"


def test_hpub_empty_header_block_and_payload(server, raw):
    c = raw(server)
    hdr = b"NATS/1.0\r\n\r\n"
    c.send(b"SUB foo 1\r\nHPUB foo 12 12\r\n" + hdr + b"\r\n")
    assert c.ping() == b"HMSG foo 1 12 12\r\n" + hdr + b"\r\nPONG\r\n"


def test_headers_stripped_for_client_without_headers(server, raw):
    sub = raw(server, headers=False)
    sub.send("SUB foo 1\r\n")
    sub.ping()
    pub = raw(server)
    pub.send(b"HPUB foo %d %d\r\n" % (len(HDR), len(HDR) + 5) + HDR + b"hello\r\n")
    pub.ping()
    assert sub.ping() == b"MSG foo 1 5\r\nhello\r\nPONG\r\n"


def test_hpub_from_client_without_headers_rejected(server, raw):
    """A client that did not negotiate headers may not send HPUB: nats-server closes silently."""
    c = raw(server, headers=False)
    c.send(b"HPUB foo 12 14\r\nNATS/1.0\r\n\r\nhi\r\n")
    assert c.read_until_closed() == b""


def test_no_responders_raw_bytes(server, raw):
    c = raw(server, headers=True, no_responders=True)
    c.send("SUB _INBOX.abc.* 1\r\nPUB some.service _INBOX.abc.1 2\r\nhi\r\n")
    hdr = b"NATS/1.0 503\r\nNats-Subject: some.service\r\n\r\n"
    assert len(hdr) == 32 + len("some.service")
    assert c.ping() == b"HMSG _INBOX.abc.1 1 %d %d\r\n" % (len(hdr), len(hdr)) + hdr + b"\r\nPONG\r\n"


def test_no_responders_not_sent_without_opt_in(server, raw):
    c = raw(server, headers=True, no_responders=False)
    c.send("SUB _INBOX.abc.* 1\r\nPUB some.service _INBOX.abc.1 2\r\nhi\r\n")
    assert c.ping() == b"PONG\r\n"


def test_no_responders_only_when_nobody_listens(server, raw):
    c = raw(server, headers=True, no_responders=True)
    c.send("SUB svc 2\r\nSUB _INBOX.abc.* 1\r\nPUB svc _INBOX.abc.1 2\r\nhi\r\n")
    assert c.ping() == b"MSG svc 2 _INBOX.abc.1 2\r\nhi\r\nPONG\r\n"


# ---- CONNECT options -----------------------------------------------------------------------------


def test_connect_protocol_2_rejected(server, raw):
    c = raw(server, connect=False)
    c.send('CONNECT {"verbose":false,"pedantic":false,"protocol":2}\r\n')
    assert c.read_until_closed() == b"-ERR 'invalid client protocol'\r\n"


def test_no_responders_requires_headers(server, raw):
    c = raw(server, connect=False)
    c.send('CONNECT {"verbose":false,"pedantic":false,"headers":false,"no_responders":true}\r\n')
    assert c.read_until_closed() == b"-ERR 'no responders requires headers support'\r\n"


def test_echo_false_raw(server, raw):
    c = raw(server, echo=False)
    other = raw(server)
    c.send("SUB foo 1\r\nPUB foo 4\r\nmine\r\n")
    c.ping()
    other.send("PUB foo 6\r\ntheirs\r\n")
    other.ping()
    assert c.ping() == b"MSG foo 1 6\r\ntheirs\r\nPONG\r\n"


def test_connect_defaults_are_verbose(server, raw):
    """nats-server starts every connection verbose; CONNECT {} keeps the default."""
    c = raw(server, connect=False)
    c.send("CONNECT {}\r\nPING\r\n")
    c.expect_exact(b"+OK\r\nPONG\r\n")


# ---- verbose / pedantic --------------------------------------------------------------------------


def test_verbose_ok_after_each_op(server, raw):
    c = raw(server, connect=False)
    c.send('CONNECT {"verbose":true,"pedantic":false,"headers":true}\r\n')
    c.expect_exact(b"+OK\r\n")
    c.send("SUB foo 1\r\n")
    c.expect_exact(b"+OK\r\n")
    c.send("PUB bar 2\r\nhi\r\n")
    c.expect_exact(b"+OK\r\n")
    c.send(b"HPUB bar 12 14\r\nNATS/1.0\r\n\r\nhi\r\n")
    c.expect_exact(b"+OK\r\n")
    c.send("UNSUB 1\r\n")
    c.expect_exact(b"+OK\r\n")
    c.send("PING\r\n")
    c.expect_exact(b"PONG\r\n")


def test_verbose_ok_precedes_own_delivery(server, raw):
    """The +OK for a PUB is written before the MSG that PUB delivers back to the same client."""
    c = raw(server, verbose=True)
    assert c.buf == bytearray()
    c.send("SUB foo 1\r\nPUB foo 2\r\nhi\r\nPING\r\n")
    c.expect_exact(b"+OK\r\n+OK\r\nMSG foo 1 2\r\nhi\r\nPONG\r\n")


def test_pedantic_invalid_sub_subject(server, raw):
    c = raw(server, pedantic=True)
    for bad in ("foo.", ".foo", "foo..bar", "foo.>.bar"):
        c.send(f"SUB {bad} 1\r\n")
        assert c.ping() == b"-ERR 'Invalid Subject'\r\nPONG\r\n", bad
    # still open and working
    c.send("SUB foo 2\r\nPUB foo 1\r\nx\r\n")
    assert c.ping() == b"MSG foo 2 1\r\nx\r\nPONG\r\n"


def test_invalid_sub_subject_not_pedantic(server, raw):
    """nats-server validates SUB subjects even for non-pedantic clients."""
    c = raw(server, pedantic=False)
    c.send("SUB foo..bar 1\r\n")
    assert c.ping() == b"-ERR 'Invalid Subject'\r\nPONG\r\n"


def test_pedantic_wildcard_publish(server, raw):
    c = raw(server, pedantic=True)
    watcher = raw(server)
    watcher.send("SUB > 9\r\n")
    watcher.ping()
    c.send("PUB foo.* 2\r\nhi\r\n")
    assert c.ping() == b"-ERR 'Invalid Publish Subject'\r\nPONG\r\n"
    c.send("PUB foo.> 2\r\nhi\r\n")
    assert c.ping() == b"-ERR 'Invalid Publish Subject'\r\nPONG\r\n"
    # The connection stays usable. nats-server only warns: the messages are still routed.
    c.send("PUB ok 2\r\nhi\r\n")
    c.ping()
    assert watcher.ping() == b"MSG foo.* 9 2\r\nhi\r\nMSG foo.> 9 2\r\nhi\r\nMSG ok 9 2\r\nhi\r\nPONG\r\n"


def test_pedantic_verbose_wildcard_publish(server, raw):
    """Verbose + pedantic: the byte sequence nats-server emits for a rejected PUB."""
    c = raw(server, pedantic=True, verbose=True)
    c.send("PUB foo.* 2\r\nhi\r\nPING\r\n")
    c.expect_exact(b"-ERR 'Invalid Publish Subject'\r\n+OK\r\nPONG\r\n")


def test_wildcard_publish_not_pedantic_is_routed_literally(server, raw):
    c = raw(server, pedantic=False)
    c.send("SUB foo.* 1\r\nSUB foo.bar 2\r\nPUB foo.* 2\r\nhi\r\n")
    assert c.ping() == b"MSG foo.* 1 2\r\nhi\r\nPONG\r\n"


# ---- payload limits --------------------------------------------------------------------------------


def test_payload_exactly_max(server, raw):
    c = raw(server)
    payload = bytes(i % 251 for i in range(MAX_PAYLOAD))
    c.send(b"SUB big 1\r\nPUB big %d\r\n" % MAX_PAYLOAD + payload + b"\r\n")
    c.expect_exact(b"MSG big 1 %d\r\n" % MAX_PAYLOAD)
    c.expect_exact(payload + b"\r\n", timeout=10)
    assert c.ping() == b"PONG\r\n"


def test_hpub_total_exactly_max(server, raw):
    c = raw(server)
    hdr = b"NATS/1.0\r\nA: b\r\n\r\n"
    payload = b"z" * (MAX_PAYLOAD - len(hdr))
    c.send(b"SUB big 1\r\nHPUB big %d %d\r\n" % (len(hdr), MAX_PAYLOAD) + hdr + payload + b"\r\n")
    c.expect_exact(b"HMSG big 1 %d %d\r\n" % (len(hdr), MAX_PAYLOAD) + hdr)
    c.expect_exact(payload + b"\r\n", timeout=10)


def test_payload_one_over_max(server, raw):
    c = raw(server)
    c.send(b"PUB big %d\r\n" % (MAX_PAYLOAD + 1))
    assert c.read_until_closed() == b"-ERR 'Maximum Payload Violation'\r\n"


def test_hpub_one_over_max(server, raw):
    c = raw(server)
    c.send(b"HPUB big 12 %d\r\n" % (MAX_PAYLOAD + 1))
    assert c.read_until_closed() == b"-ERR 'Maximum Payload Violation'\r\n"


def test_control_line_too_long(server, raw):
    c = raw(server)
    c.send(b"PUB " + b"a" * 5000 + b" 2\r\nhi\r\n")
    assert c.read_until_closed() == b"-ERR 'maximum control line exceeded'\r\n"


# ---- parser tolerance -------------------------------------------------------------------------------


def test_unknown_operation(server, raw):
    c = raw(server)
    c.send("FOO bar\r\n")
    assert c.read_until_closed() == b"-ERR 'Unknown Protocol Operation'\r\n"


def test_unknown_operation_before_connect(server, raw):
    c = raw(server, connect=False)
    c.send("XYZZY\r\n")
    assert c.read_until_closed() == b"-ERR 'Unknown Protocol Operation'\r\n"


def test_args_separated_by_spaces_and_tabs(server, raw):
    c = raw(server)
    c.send("SUB \t foo  \t q\t 1\r\n")
    c.send("SUB  bar   2 \r\n")  # nats-py style: two spaces, trailing space
    c.send("PUB\tfoo \t\t r  3\r\nabc\r\n")
    c.send("PUB bar  3\r\ndef\r\n")
    c.send(b"HPUB  bar \t 12\t 14\r\nNATS/1.0\r\n\r\nhi\r\n")
    c.send("UNSUB \t 2 \t\r\n")
    c.send("PUB bar 1\r\nx\r\n")
    assert c.ping() == (b"MSG foo 1 r 3\r\nabc\r\nMSG bar 2 3\r\ndef\r\n"
                        b"HMSG bar 2 12 14\r\nNATS/1.0\r\n\r\nhi\r\nPONG\r\n")


def test_verbs_case_insensitive(server, raw):
    c = raw(server, connect=False)
    c.send('connect {"verbose":false,"pedantic":false,"headers":true}\r\n')
    c.send("sub foo 1\r\nSuB bar 2\r\npub foo 1\r\na\r\nPuB bar 1\r\nb\r\n")
    c.send(b"hpub foo 12 13\r\nNATS/1.0\r\n\r\nc\r\nunsub 2\r\npub bar 1\r\nd\r\n")
    c.send("ping\r\n")
    c.expect_exact(b"MSG foo 1 1\r\na\r\nMSG bar 2 1\r\nb\r\nHMSG foo 1 12 13\r\nNATS/1.0\r\n\r\nc\r\nPONG\r\n")
    c.send("pInG\r\n")
    c.expect(rb"PONG\r\n")


def test_client_pong_accepted(server, raw):
    c = raw(server)
    c.send("PONG\r\n")
    assert c.ping() == b"PONG\r\n"


# A pipelined session touching every verb and both payload kinds.
PIPELINE = (
    b'CONNECT {"verbose":false,"pedantic":false,"headers":true,"protocol":1}\r\n'
    b"SUB foo 1\r\nSUB bar 2\r\n"
    b"PUB foo 5\r\nhello\r\n"
    b"PUB bar rep 0\r\n\r\n"
    b"HPUB foo 19 22\r\nNATS/1.0\r\nA: bc\r\n\r\nxyz\r\n"
    b"UNSUB 1\r\nPUB foo 2\r\nno\r\nPING\r\n"
)
PIPELINE_OUT = (
    b"MSG foo 1 5\r\nhello\r\n"
    b"MSG bar 2 rep 0\r\n\r\n"
    b"HMSG foo 1 19 22\r\nNATS/1.0\r\nA: bc\r\n\r\nxyz\r\n"
    b"PONG\r\n"
)


def _after_pipeline(c) -> bytes:
    out = c.expect(rb"PONG\r\n")
    # nats-server may send its post-CONNECT async INFO right after the first PONG; nothing else
    # may follow it here.
    return out


def test_pipeline_one_byte_at_a_time(server, raw):
    c = raw(server, connect=False)
    c.send_bytewise(PIPELINE)
    assert _after_pipeline(c) == PIPELINE_OUT


@pytest.mark.parametrize("chunk", [2, 3, 7])
def test_pipeline_small_chunks(server, raw, chunk):
    c = raw(server, connect=False)
    for i in range(0, len(PIPELINE), chunk):
        c.send(PIPELINE[i : i + chunk])
    assert _after_pipeline(c) == PIPELINE_OUT


def test_pipeline_every_split_point(server, raw):
    """For every split point i: one connection gets PIPELINE[:i] then PIPELINE[i:]."""
    for i in range(1, len(PIPELINE)):
        c = raw(server, connect=False)
        c.send(PIPELINE[:i])
        c.send(PIPELINE[i:])
        assert _after_pipeline(c) == PIPELINE_OUT, f"split at {i}: {PIPELINE[:i][-20:]!r}|{PIPELINE[i:][:20]!r}"
        c.close()


def test_large_pipeline_in_one_write(server, raw):
    c = raw(server)
    n = 5000
    c.send(b"SUB foo 1\r\n" + b"".join(b"PUB foo %d\r\n%d\r\n" % (len(str(i)), i) for i in range(n)))
    out = c.ping()
    expected = b"".join(b"MSG foo 1 %d\r\n%d\r\n" % (len(str(i)), i) for i in range(n)) + b"PONG\r\n"
    assert out == expected


def test_no_ping_before_connect(server, raw):
    """nats-server's first short PING (~2 s) is timed from CONNECT; before it, only ping_interval
    (2 min) would bring one: a client slow to send CONNECT (a signing callback, a slow TLS stack)
    must not find a PING where it expects the PONG of its CONNECT + PING."""
    c = raw(server, connect=False)
    time.sleep(2.6)  # past the first-PING delay plus its 20% jitter (the event tested is an absence)
    c.send('CONNECT {"verbose":false,"pedantic":false}\r\nPING\r\n')
    assert c.expect(rb"PONG\r\n").startswith(b"PONG"), "a PING came before the PONG"


def test_max_subscriptions_refuses_the_extra_subscription(conf_server, raw):
    srv = conf_server("max_subscriptions: 2\n")
    c = raw(srv)
    c.send("SUB a 1\r\nSUB b 2\r\nSUB c 3\r\nSUB a 1\r\nPUB c 1\r\nx\r\nPUB a 1\r\ny\r\n")
    # The limit is checked before the sid: a repeated sid at the limit is refused too.
    err = b"-ERR 'maximum subscriptions exceeded'\r\n"
    assert c.ping() == err + err + b"MSG a 1 1\r\ny\r\nPONG\r\n"
    # The connection stays; an UNSUB makes room.
    c.send("UNSUB 2\r\nSUB c 3\r\nPUB c 1\r\nz\r\n")
    assert c.ping() == b"MSG c 3 1\r\nz\r\nPONG\r\n"


def test_max_subscriptions_verbose_order(conf_server, raw):
    srv = conf_server("max_subscriptions: 1\n")
    c = raw(srv, verbose=True)
    c.send("SUB a 1\r\nSUB b 2\r\n")
    assert c.ping() == b"+OK\r\n-ERR 'maximum subscriptions exceeded'\r\nPONG\r\n"


def test_queue_group_names_are_not_subjects(server, raw):
    c = raw(server)
    c.send("SUB foo q..r 1\r\nSUB foo . 2\r\nSUB foo .q 3\r\nPUB foo 1\r\nx\r\n")
    got = c.ping()
    assert got.count(b"MSG foo ") == 3 and got.endswith(b"PONG\r\n"), got


def test_unsub_with_a_max_that_is_not_a_number_unsubscribes(server, raw):
    c = raw(server)
    c.send("SUB foo 1\r\nSUB bar 2\r\nUNSUB 1 abc\r\nUNSUB 2 1234567890\r\nPUB foo 1\r\nx\r\nPUB bar 1\r\ny\r\n")
    assert c.ping() == b"PONG\r\n"


# ---- CONNECT and INFO bodies as Go's encoding/json reads them ----------------------------------
#
# nats-server unmarshals CONNECT onto the connection's ClientOpts: keys match case-insensitively
# and the last wins, null changes nothing, a wrong type for a known field is an error (logged; the
# connection closes without an -ERR), unknown keys are ignored, invalid UTF-8 is no error.

DEEP = "[" * 200 + "]" * 200


@pytest.mark.parametrize("body, answer", [
    ("null", b"+OK\r\nPONG\r\n"),  # the defaults: verbose
    ("", None),
    ('{"verbose":"yes"}', None),
    ('{"verbose":false,"pedantic":1}', None),
    ('{"verbose":false,"name":5}', None),
    ('{"verbose":false,"protocol":"1"}', None),
    ('{"verbose":false,"lang":["go"]}', None),
    ('{"verbose":false,"import":5}', None),
    ('{"verbose":false,"VERBOSE":true}', b"+OK\r\nPONG\r\n"),
    ('{"Verbose":false,"headers":null}', b"PONG\r\n"),
    ('{"verbose":false,"name":"\xff\xfe"}', b"PONG\r\n"),
    ('{"verbose":false,"x":' + DEEP + "}", b"PONG\r\n"),
    ('{"verbose":false,"import":{"allow":["a"]}}', b"PONG\r\n"),
])
def test_connect_body_decoded_like_go(server, raw, body, answer):
    c = raw(server, connect=False)
    c.send(b"CONNECT " + body.encode("latin-1") + b"\r\nPING\r\n")
    if answer is None:
        assert c.read_until_closed() == b"", "closed without an -ERR"
    else:
        assert c.expect(rb"PONG\r\n") == answer


def test_second_connect_keeps_what_it_does_not_name(server, raw):
    c = raw(server, connect=False)
    c.send('CONNECT {"verbose":false,"headers":true}\r\nCONNECT {"pedantic":false}\r\n'
           "SUB a 1\r\nHPUB a 12 14\r\nNATS/1.0\r\n\r\nhi\r\n")
    assert c.ping() == b"HMSG a 1 12 14\r\nNATS/1.0\r\n\r\nhi\r\nPONG\r\n"


def test_ping_and_pong_ignore_long_trailers(server, raw):
    # Past max_control_line (4096): nats-server skips everything after PING/PONG to the newline.
    c = raw(server)
    junk = "x" * 5000
    c.send(f"PONG {junk}\r\nPING {junk}\r\n")
    assert c.expect(rb"PONG\r\n") == b"PONG\r\n"
    c.send(f"PUB a {junk}\r\n")  # any other verb: the limit applies
    assert c.read_until_closed() == b"-ERR 'maximum control line exceeded'\r\n"


@pytest.mark.parametrize("info, closes", [
    ("{}", False), ('{"server_id":"x","extra":[1]}', False), ("null", False),
    ("{", True), ("", True), ("[1]", True), ('{"server_id":5}', True), ('{"port":"4222"}', True),
])
def test_client_info_must_decode(server, raw, info, closes):
    c = raw(server)
    c.send(f"INFO {info}\r\nPING\r\n")
    if closes:
        assert c.read_until_closed() == b""
    else:
        assert c.expect(rb"PONG\r\n") == b"PONG\r\n"


def test_info_lines_end_with_a_space(server):
    # nats-server writes "INFO {...} \r\n": the first INFO and the one after the first PONG.
    c = RawConn(server.host, server.port)
    try:
        first = c.expect(rb"\r\n")
        assert first.startswith(b"INFO {") and first.endswith(b"} \r\n"), first[-40:]
        c.send('CONNECT {"verbose":false,"protocol":1}\r\nPING\r\n')
        out = c.expect(rb"PONG\r\n") + c.expect(rb"\r\n")
        assert out.startswith(b"PONG\r\nINFO {") and out.endswith(b"} \r\n"), out[-40:]
    finally:
        c.close()
