"""Multi-user authorization and per-user permissions, from one config file (differential).

Every test runs against jetbroker and nats-server with the same file and asserts the exact bytes
(raw sockets), nats-py errors and deliveries that nats-server 2.14 produces, plus the server's
log line for each violation.
"""

import asyncio
import json
import re

import pytest
from nats.errors import NoRespondersError

T = 5.0

# bcrypt("s3cret") at cost 4, as `nats server passwd` would write it (also checked as $2b$).
BCRYPT_2A = "$2a$04$abcdefghijklmnopqrstuuLZYjhNQAOdpbzt4WxWlUHjv1wsyH5DG"
BCRYPT_2B = "$2b$04$abcdefghijklmnopqrstuuLZYjhNQAOdpbzt4WxWlUHjv1wsyH5DG"

USERS_CONF = f"""
authorization {{
  default_permissions {{ publish: "def.>", subscribe: "def.>" }}
  users [
    {{user: alice, password: pa, permissions: {{
        publish: ["a.>", "b"],
        subscribe: {{allow: ["a.>", "q.* myq", "w.* v.*"], deny: ["a.secret"]}}
    }}}}
    {{user: bob, password: "{BCRYPT_2A}"}}
    {{user: bob2, password: "{BCRYPT_2B}"}}
    {{user: deny, password: pd, permissions: {{publish: {{deny: ["x.>"]}}, subscribe: {{deny: ["x.>", "y.* dq"]}}}}}}
    {{user: none, password: pn, permissions: {{publish: [], subscribe: {{deny: ">"}}}}}}
    {{user: free, password: pf, permissions: {{}}}}
    {{user: svc, password: ps, permissions: {{subscribe: "svc.>", allow_responses: true}}}}
    {{user: svc2, password: ps, permissions: {{publish: "log", subscribe: "svc.>", allow_responses: {{max: 2}}}}}}
    {{user: svc3, password: ps, permissions: {{subscribe: "svc.>", allow_responses: {{max: -1, expires: "150ms"}}}}}}
    {{user: ws, password: pw, allowed_connection_types: ["WEBSOCKET"]}}
    {{user: def, password: pdef}}
  ]
}}
"""


@pytest.fixture
def users(conf_server):
    return conf_server(USERS_CONF)


def login(raw, srv, user, password, **kw):
    return raw(srv, user=user, **{"pass": password}, **kw)


def error_log(srv, pattern: str) -> str:
    """The text after `[ERR] ` of the first log line matching pattern, client address normalised
    (raw clients connect with lang "raw" and version "0.0.1", which nats-server tags as "v0.0.1:raw")."""
    line = srv.wait_log(pattern)
    text = line.split("[ERR] ", 1)[1]
    return re.sub(r"^127\.0\.0\.1:\d+ - cid:\d+ - ", "<client> - ", text)


# ---- authentication ------------------------------------------------------------------------


@pytest.mark.parametrize("user, password", [("alice", "pa"), ("bob", "s3cret"), ("bob2", "s3cret")])
def test_users_login(users, raw, user, password):
    c = login(raw, users, user, password)
    assert c.info["auth_required"] is True
    c.send("SUB def.x 1\r\nSUB a.x 2\r\nPING\r\n")
    c.expect(rb"PONG\r\n")


@pytest.mark.parametrize("creds, log", [
    ({"user": "alice", "pass": "wrong"}, 'authentication error - User "alice"'),
    ({"user": "bob", "pass": "wrong"}, 'authentication error - User "bob"'),
    ({"user": "bob", "pass": BCRYPT_2A}, 'authentication error - User "bob"'),
    ({"user": "mallory", "pass": "pa"}, 'authentication error - User "mallory"'),
    ({"user": "ws", "pass": "pw"}, 'authentication error - User "ws"'),
    ({"auth_token": "pa"}, 'authentication error - Token "[REDACTED]"'),
    ({}, "authentication error"),
])
def test_users_rejected(users, raw, creds, log):
    c = raw(users, connect=False)
    c.send("CONNECT " + json.dumps({"verbose": False, "pedantic": False, **creds}) + "\r\nPING\r\n")
    assert c.read_until_closed() == b"-ERR 'Authorization Violation'\r\n"
    assert error_log(users, re.escape(log) + "$") == "<client> - " + log


async def test_users_nats_py(users, nats_connect):
    nc = await nats_connect(users, user="bob", password="s3cret")  # default permissions: def.>
    sub = await nc.subscribe("def.any")
    await nc.publish("def.any", b"x")
    assert (await sub.next_msg(timeout=T)).data == b"x"
    with pytest.raises(Exception, match="(?i)authorization violation"):
        await nats_connect(users, user="bob", password="nope")


def test_default_permissions(users, raw):
    c = login(raw, users, "def", "pdef")
    c.send("SUB def.a 1\r\nSUB other 2\r\nPUB def.a 1\r\nx\r\nPUB other 1\r\ny\r\n")
    assert c.ping() == (b"-ERR 'Permissions Violation for Subscription to \"other\"'\r\n"
                        b"MSG def.a 1 1\r\nx\r\n"
                        b"-ERR 'Permissions Violation for Publish to \"other\"'\r\nPONG\r\n")


def test_no_auth_user(conf_server, raw):
    srv = conf_server("""
no_auth_user: guest
authorization { users [
  {user: guest, password: gp, permissions: {publish: "pub.>", subscribe: "pub.>"}}
  {user: other, password: po}
] }
""")
    c = raw(srv)  # no credentials: the guest
    assert "auth_required" not in c.info
    c.send("SUB pub.a 1\r\nPUB pub.a 1\r\nx\r\nPUB nope 0\r\n\r\n")
    assert c.ping() == b"MSG pub.a 1 1\r\nx\r\n-ERR 'Permissions Violation for Publish to \"nope\"'\r\nPONG\r\n"
    assert error_log(srv, "Publish Violation") == '<client> - "v0.0.1:raw" - "$G/user:guest" - Publish Violation - Subject "nope"'
    # A password alone, or a token, is not the no-auth user.
    for creds in ({"pass": "gp"}, {"auth_token": "gp"}):
        bad = raw(srv, connect=False)
        bad.send("CONNECT " + json.dumps({"verbose": False, **creds}) + "\r\nPING\r\n")
        assert bad.read_until_closed() == b"-ERR 'Authorization Violation'\r\n"
    # Named users still log in as themselves.
    o = login(raw, srv, "other", "po")
    o.send("PUB nope 0\r\n\r\n")
    assert o.ping() == b"PONG\r\n"


def test_single_user_flags_still_work(server_factory, raw):
    srv = server_factory("--user", "u", "--pass", "p")
    c = raw(srv, user="u", **{"pass": "p"})
    c.send("PUB a _R_.b 0\r\n\r\n")
    assert c.ping() == b"-ERR 'Permissions Violation for Publish with Reply of \"_R_.b\"'\r\nPONG\r\n"
    assert error_log(srv, "Reply") == '<client> - "v0.0.1:raw" - "$G/user:u" - Publish Violation - Reply "_R_.b"'


# ---- publish permissions ---------------------------------------------------------------------


def test_publish_list_form(users, raw):
    c = login(raw, users, "alice", "pa")
    watcher = login(raw, users, "free", "pf")
    watcher.send("SUB > 1\r\n")
    watcher.ping()
    c.send("PUB a.x 1\r\n1\r\nPUB b 1\r\n2\r\nPUB c 1\r\n3\r\nPUB b.c 1\r\n4\r\nPUB a 1\r\n5\r\n")
    assert c.ping() == (b"-ERR 'Permissions Violation for Publish to \"c\"'\r\n"
                        b"-ERR 'Permissions Violation for Publish to \"b.c\"'\r\n"
                        b"-ERR 'Permissions Violation for Publish to \"a\"'\r\nPONG\r\n")
    assert watcher.ping() == b"MSG a.x 1 1\r\n1\r\nMSG b 1 1\r\n2\r\nPONG\r\n"
    assert error_log(users, 'Subject "c"') == '<client> - "v0.0.1:raw" - "$G/user:alice" - Publish Violation - Subject "c"'


def test_publish_deny_map_form(users, raw):
    c = login(raw, users, "deny", "pd")
    c.send("SUB > 1\r\nPUB x 1\r\n1\r\nPUB x.y 1\r\n2\r\nPUB x.y.z 1\r\n3\r\n")
    # ">" is tested literally against "x.>" and allowed; deliveries of x.* are then filtered.
    assert c.ping() == (b"MSG x 1 1\r\n1\r\n"
                        b"-ERR 'Permissions Violation for Publish to \"x.y\"'\r\n"
                        b"-ERR 'Permissions Violation for Publish to \"x.y.z\"'\r\nPONG\r\n")


def test_empty_allow_list_is_no_rule(users, raw):
    c = login(raw, users, "none", "pn")
    c.send("PUB anything 0\r\n\r\nSUB a 1\r\n")
    assert c.ping() == b"-ERR 'Permissions Violation for Subscription to \"a\"'\r\nPONG\r\n"


def test_empty_permissions_block_allows_all(users, raw):
    c = login(raw, users, "free", "pf")
    c.send("SUB > 1\r\nPUB x.y 1\r\nz\r\n")
    assert c.ping() == b"MSG x.y 1 1\r\nz\r\nPONG\r\n"


def test_publish_violation_repeats_from_cache(users, raw):
    """The second and later violations come from the per-client cache with the same text."""
    c = login(raw, users, "alice", "pa")
    c.send("PUB c 0\r\n\r\n" * 3 + "PUB a.b 0\r\n\r\n" * 3)
    assert c.ping() == b"-ERR 'Permissions Violation for Publish to \"c\"'\r\n" * 3 + b"PONG\r\n"


def test_reserved_reply_subjects(users, raw):
    c = login(raw, users, "free", "pf")
    c.send("PUB a _R_.b 0\r\n\r\nPUB a $JS.ACK.b 0\r\n\r\nPUB a _GR_.b 0\r\n\r\nPUB a _R_ 0\r\n\r\nPUB a _INBOX.b 0\r\n\r\n")
    assert c.ping() == (b"-ERR 'Permissions Violation for Publish with Reply of \"_R_.b\"'\r\n"
                        b"-ERR 'Permissions Violation for Publish with Reply of \"$JS.ACK.b\"'\r\n"
                        b"-ERR 'Permissions Violation for Publish with Reply of \"_GR_.b\"'\r\nPONG\r\n")


async def test_publish_violation_nats_py(users, nats_connect):
    nc = await nats_connect(users, user="alice", password="pa")
    await nc.publish("c", b"x")
    await nc.flush(timeout=T)
    assert nc.is_connected
    # nats-py reports the -ERR through the error callback and keeps the connection.
    deadline = asyncio.get_running_loop().time() + T
    while not nc.test_errors and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.01)
    assert [str(e) for e in nc.test_errors] == ['nats: permissions violation for publish to "c"']
    sub = await nc.subscribe("a.ok")
    await nc.publish("a.ok", b"fine")
    assert (await sub.next_msg(timeout=T)).data == b"fine"


# ---- subscribe permissions ---------------------------------------------------------------------


def test_subscribe_allow_deny_and_queues(users, raw):
    c = login(raw, users, "alice", "pa")
    c.send("SUB a.secret 1\r\nSUB q.x 2\r\nSUB q.x myq 3\r\nSUB q.x other 4\r\nSUB a.x 5\r\n"
           "SUB w.a v.1 6\r\nSUB w.a v.1.2 7\r\nSUB w.a v 8\r\nSUB a.> 9\r\nSUB a.x _sys_ 10\r\n")
    assert c.ping() == (
        b"-ERR 'Permissions Violation for Subscription to \"a.secret\"'\r\n"
        b"-ERR 'Permissions Violation for Subscription to \"q.x\"'\r\n"
        b"-ERR 'Permissions Violation for Subscription to \"q.x\" using queue \"other\"'\r\n"
        b"-ERR 'Permissions Violation for Subscription to \"w.a\" using queue \"v.1.2\"'\r\n"
        b"-ERR 'Permissions Violation for Subscription to \"w.a\" using queue \"v\"'\r\n"
        b"-ERR 'Permissions Violation for Subscription to \"a.x\" using queue \"_sys_\"'\r\nPONG\r\n")
    assert (error_log(users, "Queue: \"other\"") ==
            '<client> - "v0.0.1:raw" - "$G/user:alice" - Subscription Violation - Subject "q.x", Queue: "other", SID 4')
    assert (error_log(users, "a.secret") ==
            '<client> - "v0.0.1:raw" - "$G/user:alice" - Subscription Violation - Subject "a.secret", SID 1')
    # The connection stays usable and the allowed subscriptions work.
    p = login(raw, users, "free", "pf")
    p.send("PUB a.x 1\r\nm\r\nPUB q.x 1\r\nn\r\n")
    p.ping()
    out = c.ping()
    assert sorted(out.split(b"\r\n")) == sorted(b"MSG a.x 5 1\r\nm\r\nMSG a.x 9 1\r\nm\r\nMSG q.x 3 1\r\nn\r\nPONG\r\n".split(b"\r\n"))


def test_subscribe_deny_queue_entry(users, raw):
    c = login(raw, users, "deny", "pd")
    c.send("SUB y.a dq 1\r\nSUB y.a other 2\r\nSUB y.a 3\r\nSUB x.a q 4\r\n")
    assert c.ping() == (b"-ERR 'Permissions Violation for Subscription to \"y.a\" using queue \"dq\"'\r\n"
                        b"-ERR 'Permissions Violation for Subscription to \"x.a\" using queue \"q\"'\r\nPONG\r\n")


def test_subscribe_rule_matches_wildcard_subject_literally(users, raw):
    """nats-server tests a subscription subject's tokens literally: allow "a.>" admits "a.*",
    and a plain entry never matches an empty token."""
    c = login(raw, users, "alice", "pa")
    c.send("SUB a.* 1\r\nSUB a..b 2\r\nSUB b.> 3\r\n")
    assert c.ping() == (b"-ERR 'Permissions Violation for Subscription to \"a..b\"'\r\n"
                        b"-ERR 'Permissions Violation for Subscription to \"b.>\"'\r\nPONG\r\n")


def test_deny_filters_wildcard_deliveries(users, raw):
    """A wildcard subscription wider than a denied subject does not receive it."""
    c = login(raw, users, "alice", "pa")
    c.send("SUB a.* 1\r\nSUB a.> 2\r\n")
    c.ping()
    p = login(raw, users, "free", "pf")
    p.send("PUB a.secret 1\r\ns\r\nPUB a.public 1\r\np\r\nPUB a.secret.x 1\r\nt\r\n")
    p.ping()
    out = c.ping()
    assert sorted(out.split(b"\r\n")) == sorted(
        b"MSG a.public 1 1\r\np\r\nMSG a.public 2 1\r\np\r\nMSG a.secret.x 2 1\r\nt\r\nPONG\r\n".split(b"\r\n"))


def test_denied_deliveries_do_not_count_towards_unsub_max(users, raw):
    c = login(raw, users, "alice", "pa")
    c.send("SUB a.* 1\r\nUNSUB 1 2\r\n")
    c.ping()
    p = login(raw, users, "free", "pf")
    p.send("PUB a.secret 0\r\n\r\n" * 3 + "PUB a.1 0\r\n\r\nPUB a.2 0\r\n\r\nPUB a.3 0\r\n\r\n")
    p.ping()
    assert c.ping() == b"MSG a.1 1 0\r\n\r\nMSG a.2 1 0\r\n\r\nPONG\r\n"


# ---- allow_responses -------------------------------------------------------------------------


def request(raw_requester, subject, inbox, sid):
    raw_requester.send(f"SUB {inbox} {sid}\r\nPUB {subject} {inbox} 1\r\nq\r\n")
    raw_requester.ping()


def test_allow_responses_true(users, raw):
    svc = login(raw, users, "svc", "ps")
    svc.send("SUB svc.a 1\r\n")
    svc.ping()
    cli = login(raw, users, "free", "pf")
    request(cli, "svc.a", "_INBOX.1", 9)
    assert svc.expect(rb"MSG svc.a 1 _INBOX.1 1\r\nq\r\n")
    svc.send("PUB _INBOX.1 2\r\nr1\r\nPUB _INBOX.1 2\r\nr2\r\nPUB _INBOX.2 2\r\nr3\r\nPUB log 0\r\n\r\n")
    assert svc.ping() == (b"-ERR 'Permissions Violation for Publish to \"_INBOX.1\"'\r\n"
                          b"-ERR 'Permissions Violation for Publish to \"_INBOX.2\"'\r\n"
                          b"-ERR 'Permissions Violation for Publish to \"log\"'\r\nPONG\r\n")
    assert cli.ping() == b"MSG _INBOX.1 9 2\r\nr1\r\nPONG\r\n"


def test_allow_responses_max(users, raw):
    svc = login(raw, users, "svc2", "ps")
    svc.send("SUB svc.> 1\r\n")
    svc.ping()
    cli = login(raw, users, "free", "pf")
    request(cli, "svc.a", "_INBOX.1", 9)
    svc.expect(rb"MSG svc.a 1 _INBOX.1 1\r\nq\r\n")
    svc.send("PUB _INBOX.1 2\r\nr1\r\nPUB _INBOX.1 2\r\nr2\r\nPUB _INBOX.1 2\r\nr3\r\nPUB log 0\r\n\r\n")
    assert svc.ping() == b"-ERR 'Permissions Violation for Publish to \"_INBOX.1\"'\r\nPONG\r\n"
    assert cli.ping() == b"MSG _INBOX.1 9 2\r\nr1\r\nMSG _INBOX.1 9 2\r\nr2\r\nPONG\r\n"


def test_allow_responses_expire(users, raw):
    svc = login(raw, users, "svc3", "ps")
    svc.send("SUB svc.> 1\r\n")
    svc.ping()
    cli = login(raw, users, "free", "pf")
    request(cli, "svc.a", "_INBOX.1", 9)
    request(cli, "svc.b", "_INBOX.2", 10)
    svc.expect(rb"MSG svc.b 1 _INBOX.2 1\r\nq\r\n")
    svc.send("PUB _INBOX.1 2\r\nr1\r\nPUB _INBOX.1 2\r\nr2\r\n")  # max -1: any number in time
    assert svc.ping() == b"PONG\r\n"
    import time
    time.sleep(0.3)  # the grant's 150 ms lifetime has to pass: time itself is the event
    svc.send("PUB _INBOX.2 2\r\nr3\r\n")
    assert svc.ping() == b"-ERR 'Permissions Violation for Publish to \"_INBOX.2\"'\r\nPONG\r\n"
    assert cli.ping() == b"MSG _INBOX.1 9 2\r\nr1\r\nMSG _INBOX.1 9 2\r\nr2\r\nPONG\r\n"


async def test_allow_responses_nats_py_service(users, nats_connect):
    svc = await nats_connect(users, user="svc", password="ps")

    async def handler(msg):
        await msg.respond(b"pong:" + msg.data)

    await svc.subscribe("svc.echo", cb=handler)
    await svc.flush()
    cli = await nats_connect(users, user="free", password="pf")
    for i in range(3):
        reply = await cli.request("svc.echo", str(i).encode(), timeout=T)
        assert reply.data == f"pong:{i}".encode()
    with pytest.raises(NoRespondersError):
        await cli.request("svc.nobody", b"", timeout=T)
    assert svc.test_errors == []


def test_violations_in_verbose_mode(users, raw):
    """No +OK for a refused PUB or SUB, +OK for the allowed ones."""
    c = login(raw, users, "alice", "pa", verbose=True)
    c.send("PUB c 0\r\n\r\nPUB a.b 0\r\n\r\nSUB zz 1\r\nSUB a.b 2\r\n")
    assert c.ping() == (b"-ERR 'Permissions Violation for Publish to \"c\"'\r\n+OK\r\n"
                        b"-ERR 'Permissions Violation for Subscription to \"zz\"'\r\n+OK\r\nPONG\r\n")


async def test_subscribe_violation_nats_py(users, nats_connect):
    nc = await nats_connect(users, user="alice", password="pa")
    await nc.subscribe("zz")
    await nc.flush(timeout=T)
    deadline = asyncio.get_running_loop().time() + T
    while not nc.test_errors and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.01)
    assert [str(e) for e in nc.test_errors] == ['nats: permissions violation for subscription to "zz"']
    assert nc.is_connected


def test_no_auth_user_before_connect(conf_server, raw):
    """With no_auth_user nothing forces CONNECT first; the auth timer runs until the client
    sends its first operation."""
    srv = conf_server("""
no_auth_user: guest
authorization { timeout: 0.5, users [ {user: guest, password: gp} ] }
""")
    idle = raw(srv, connect=False)
    busy = raw(srv, connect=False)
    busy.send("SUB x 1\r\nPING\r\n")
    busy.expect_exact(b"+OK\r\nPONG\r\n")
    assert idle.read_until_closed(timeout=3) == b"-ERR 'Authentication Timeout'\r\n"
    # The idle one timed out after 0.5 s; the busy one, connected as long, is still there.
    busy.send("PUB x 1\r\nm\r\n")
    assert busy.ping() == b"+OK\r\nMSG x 1 1\r\nm\r\nPONG\r\n"
