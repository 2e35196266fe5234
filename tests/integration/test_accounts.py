"""Accounts: subject isolation, stream and service imports/exports (differential).

The same config file runs on jetbroker and nats-server; every test asserts what nats-server
2.14 shows the clients (raw protocol bytes, nats-py requests, INFO and /connz fields).
"""

import json
import re

import pytest
from nats.errors import NoRespondersError

T = 5.0

ACCOUNTS_CONF = """
accounts {
  A {
    users [ {user: a, password: pa}, {user: a2, password: pa} ]
    exports [
      {stream: "x.>"}
      {stream: "only.c.>", accounts: [C]}
      {service: "svc.>"}
      {service: "stream.svc", response_type: Stream}
    ]
  }
  B {
    users [ {user: b, password: pb}, {user: anon, password: ""} ]
    imports [
      {stream: {account: A, subject: "x.>"}, prefix: "p"}
      {service: {account: A, subject: "svc.>"}, to: "asvc.>"}
      {service: {account: A, subject: "stream.svc"}}
    ]
  }
  C {
    users [ {user: c, password: pc, permissions: {subscribe: {deny: "x.secret"}}} ]
    imports [
      {stream: {account: A, subject: "x.>"}}
      {stream: {account: A, subject: "only.c.>"}, to: "mine.>"}
    ]
  }
}
no_auth_user: anon
authorization { users [ {user: g, password: pg} ] }
"""


@pytest.fixture
def accounts(conf_server):
    return conf_server(ACCOUNTS_CONF, "-m", "-1")


def login(raw, srv, user, password, **kw):
    return raw(srv, user=user, **{"pass": password}, **kw)


def lines(b: bytes) -> list[bytes]:
    return sorted(b.split(b"\r\n"))


def test_accounts_isolate_subjects(accounts, raw):
    subs = {name: login(raw, accounts, name, pw) for name, pw in (("a", "pa"), ("a2", "pa"), ("b", "pb"), ("g", "pg"))}
    for i, c in enumerate(subs.values()):
        c.send(f"SUB t {i}\r\n")
        c.ping()
    for name, pw in (("a", "pa"), ("b", "pb"), ("g", "pg")):
        p = login(raw, accounts, name, pw, echo=False)
        p.send(f"PUB t 2\r\nf{name}\r\n")
        p.ping()
    assert subs["a"].ping() == b"MSG t 0 2\r\nfa\r\nPONG\r\n"
    assert subs["a2"].ping() == b"MSG t 1 2\r\nfa\r\nPONG\r\n"
    assert subs["b"].ping() == b"MSG t 2 2\r\nfb\r\nPONG\r\n"
    assert subs["g"].ping() == b"MSG t 3 2\r\nfg\r\nPONG\r\n"


def test_info_names_the_account(accounts, raw):
    for user, pw, acc in (("a", "pa", "A"), ("b", "pb", "B"), ("g", "pg", "$G")):
        c = raw(accounts, connect=False)
        c.send("CONNECT " + json.dumps({"verbose": False, "pedantic": False, "protocol": 1, "user": user,
                                        "pass": pw}) + "\r\nPING\r\n")
        c.expect(rb"PONG\r\n")
        info = json.loads(c.expect(rb"INFO ([^\r\n]*)\r\n")[5:-2])
        assert info["remote_account"] == acc


def test_no_auth_user_in_an_account(accounts, raw):
    anon = raw(accounts)  # no credentials: user anon of account B
    b = login(raw, accounts, "b", "pb")
    b.send("SUB t 1\r\n")
    b.ping()
    anon.send("PUB t 1\r\nz\r\n")
    anon.ping()
    assert b.ping() == b"MSG t 1 1\r\nz\r\nPONG\r\n"


def test_stream_import_with_prefix(accounts, raw):
    a = login(raw, accounts, "a", "pa")
    b = login(raw, accounts, "b", "pb")
    b.send("SUB p.x.> 1\r\nSUB x.> 2\r\nSUB > 3\r\nSUB p.x.one 4\r\nSUB p.* 5\r\nSUB p.*.one 6\r\n")
    b.ping()
    a.send("PUB x.one 1\r\n1\r\nPUB x.two.three 1\r\n2\r\nPUB y 1\r\n3\r\n")
    a.ping()
    assert lines(b.ping()) == lines(b"MSG p.x.one 1 1\r\n1\r\nMSG p.x.one 3 1\r\n1\r\nMSG p.x.one 4 1\r\n1\r\n"
                                    b"MSG p.x.one 6 1\r\n1\r\n"
                                    b"MSG p.x.two.three 1 1\r\n2\r\nMSG p.x.two.three 3 1\r\n2\r\nPONG\r\n")
    # Unsubscribing removes the interest in the exporter too.
    b.send("UNSUB 1\r\nUNSUB 3\r\nUNSUB 4\r\nUNSUB 6\r\n")
    b.ping()
    a.send("PUB x.one 1\r\n4\r\n")
    a.ping()
    assert b.ping() == b"PONG\r\n"


def test_stream_import_without_prefix_and_with_to(accounts, raw):
    a = login(raw, accounts, "a", "pa")
    c = login(raw, accounts, "c", "pc")
    c.send("SUB x.* 1\r\nSUB mine.> 2\r\nSUB only.c.> 3\r\n")
    c.ping()
    a.send("PUB x.one 1\r\n1\r\nPUB x.secret 1\r\n2\r\nPUB only.c.z 1\r\n3\r\n")
    a.ping()
    # c's deny rule filters x.secret from its wildcard subscription, on the imported subject too.
    assert lines(c.ping()) == lines(b"MSG x.one 1 1\r\n1\r\nMSG mine.z 2 1\r\n3\r\nPONG\r\n")
    # Messages published in the importing account stay there and reach the same subscriptions.
    c.send("PUB x.local 1\r\nl\r\n")
    assert c.ping() == b"MSG x.local 1 1\r\nl\r\nPONG\r\n"


def test_stream_import_queue_subscription(accounts, raw):
    a = login(raw, accounts, "a", "pa")
    b1 = login(raw, accounts, "b", "pb")
    b2 = login(raw, accounts, "b", "pb")
    for c in (b1, b2):
        c.send("SUB p.x.q grp 1\r\n")
        c.ping()
    a.send("PUB x.q 1\r\nm\r\n" * 10)
    a.ping()
    got = b1.ping().count(b"MSG p.x.q 1 1\r\n") + b2.ping().count(b"MSG p.x.q 1 1\r\n")
    assert got == 10


def test_service_import_request_reply(accounts, raw):
    a = login(raw, accounts, "a", "pa")
    b = login(raw, accounts, "b", "pb")
    a.send("SUB svc.> 1\r\n")
    a.ping()
    b.send("SUB inbox.1 7\r\nPUB asvc.echo inbox.1 1\r\nq\r\n")
    b.ping()
    m = a.expect(rb"HMSG svc.echo 1 _R_\.[A-Za-z0-9]{6}\.[A-Za-z0-9]{6} \d+ \d+\r\n.*?\r\n\r\nq\r\n")
    reply = re.search(rb"(_R_\.\S+)", m).group(1).decode()
    # The service learns who asks (nats-server also reports the requester's RTT once measured).
    assert re.search(rb'\r\nNATS/1.0\r\nNats-Request-Info: \{"acc":"B"(,"rtt":\d+)?\}\r\n\r\nq\r\n$', m), m
    a.send(f"PUB {reply} 2\r\nok\r\nPUB {reply} 2\r\nno\r\n")  # a singleton service: one response
    a.ping()
    assert b.ping() == b"MSG inbox.1 7 2\r\nok\r\nPONG\r\n"


def test_service_import_stream_response(accounts, raw):
    a = login(raw, accounts, "a", "pa")
    b = login(raw, accounts, "b", "pb")
    a.send("SUB stream.svc 1\r\n")
    a.ping()
    b.send("SUB inbox.2 7\r\nPUB stream.svc inbox.2 1\r\nq\r\n")
    b.ping()
    m = a.expect(rb"HMSG stream.svc 1 (_R_\.\S+) \d+ \d+\r\n.*?\r\n\r\nq\r\n")
    reply = re.search(rb"(_R_\.\S+)", m).group(1).decode()
    a.send(f"PUB {reply} 2\r\nr1\r\nPUB {reply} 2\r\nr2\r\n")
    a.ping()
    assert b.ping() == b"MSG inbox.2 7 2\r\nr1\r\nMSG inbox.2 7 2\r\nr2\r\nPONG\r\n"


def test_service_import_no_responders(accounts, raw):
    b = login(raw, accounts, "b", "pb", headers=True, no_responders=True)
    b.send("SUB inbox 7\r\nPUB asvc.a inbox 1\r\nq\r\nPUB nothing inbox 1\r\nq\r\n")
    assert b.ping() == (b"HMSG inbox 7 38 38\r\nNATS/1.0 503\r\nNats-Subject: asvc.a\r\n\r\n\r\n"
                        b"HMSG inbox 7 39 39\r\nNATS/1.0 503\r\nNats-Subject: nothing\r\n\r\n\r\n"
                        b"PONG\r\n")


async def test_service_import_nats_py(accounts, nats_connect):
    svc = await nats_connect(accounts, user="a", password="pa")

    async def handler(msg):
        await msg.respond(b"A says " + msg.data + b" on " + msg.subject.encode())

    await svc.subscribe("svc.>", cb=handler)
    await svc.flush()
    cli = await nats_connect(accounts, user="b", password="pb")
    for i in range(5):
        r = await cli.request(f"asvc.n{i}", str(i).encode(), timeout=T)
        assert r.data == f"A says {i} on svc.n{i}".encode()
    with pytest.raises(NoRespondersError):
        await cli.request("svc.n1", b"", timeout=T)  # not imported under its own name
    other = await nats_connect(accounts, user="c", password="pc")
    with pytest.raises(NoRespondersError):
        await other.request("asvc.n1", b"", timeout=T)  # C imports no service


def test_connz_shows_account_and_user_with_auth(accounts, raw):
    login(raw, accounts, "a", "pa")
    login(raw, accounts, "g", "pg")
    raw(accounts)
    conns = sorted(accounts.connz("?auth=true")["connections"], key=lambda c: c["cid"])
    assert [(c.get("authorized_user"), c.get("account"), c.get("name_tag")) for c in conns] == [
        ("a", "A", "A"), ("g", None, "$G"), ("anon", "B", "B")]
    plain = accounts.connz()["connections"]
    assert all(not {"account", "authorized_user", "name_tag"} & set(c) for c in plain)


@pytest.mark.parametrize("imports, err", [
    ('{stream: {account: A, subject: "only.c.>"}}', 'Error adding stream import "only.c.>": stream import not authorized'),
    ('{stream: {account: A, subject: "nope"}}', 'Error adding stream import "nope": stream import not authorized'),
    ('{service: {account: A, subject: "x.a"}}', 'Error adding service import "x.a": service import not authorized'),
])
def test_unauthorized_imports_refuse_to_start(conf_server, imports, err):
    text = f"""
accounts {{
  A {{ exports [ {{stream: "only.c.>", accounts: [C]}}, {{stream: "x.>"}} ] }}
  B {{ imports [ {imports} ] }}
  C {{}}
}}
"""
    with pytest.raises(RuntimeError) as ei:
        conf_server(text)
    assert err in str(ei.value)


@pytest.mark.parametrize("text, err", [
    ('accounts { A { imports [ {stream: {account: Z, subject: x}} ] } }',
     '"Z" account not defined for stream import'),
    ('accounts { A { exports [ {service: x, accounts: [Z]} ] } }',
     '"Z" account not defined for service export'),
    ('no_auth_user: ghost\nauthorization { users [ {user: a, password: b} ] }',
     'no_auth_user: "ghost" not present as user or nkey in authorization block or account configuration'),
    ('no_auth_user: a', 'no_auth_user: "a" present, but users/nkeys are not defined'),
])
def test_inconsistent_accounts_refuse_to_start(conf_server, text, err):
    with pytest.raises(RuntimeError) as ei:
        conf_server(text + "\n")
    assert err in str(ei.value)


def test_account_default_permissions_and_responses_through_an_import(conf_server, raw):
    """An account's default_permissions apply to its users; a responder that may only answer
    (allow_responses) answers requests that came in through a service import."""
    srv = conf_server("""
accounts {
  S {
    default_permissions { publish: "none", subscribe: "svc", allow_responses: true }
    users [ {user: s, password: ps}, {user: admin, password: pa, permissions: {}} ]
    exports [ {service: svc} ]
  }
  C { users [ {user: c, password: pc} ], imports [ {service: {account: S, subject: svc}} ] }
}
""")
    s = login(raw, srv, "s", "ps")
    s.send("SUB other 1\r\nSUB svc 2\r\nPUB svc 0\r\n\r\n")
    assert s.ping() == (b"-ERR 'Permissions Violation for Subscription to \"other\"'\r\n"
                        b"-ERR 'Permissions Violation for Publish to \"svc\"'\r\nPONG\r\n")
    admin = login(raw, srv, "admin", "pa")
    admin.send("SUB other 1\r\nPUB other 0\r\n\r\n")
    assert admin.ping() == b"MSG other 1 0\r\n\r\nPONG\r\n"
    c = login(raw, srv, "c", "pc")
    c.send("SUB inbox 9\r\nPUB svc inbox 1\r\nq\r\n")
    c.ping()
    m = s.expect(rb"HMSG svc 2 (_R_\.\S+) \d+ \d+\r\n.*?\r\n\r\nq\r\n")
    reply = re.search(rb"(_R_\.\S+)", m).group(1).decode()
    s.send(f"PUB {reply} 2\r\nok\r\nPUB {reply} 2\r\nno\r\n")
    assert s.ping() == f"-ERR 'Permissions Violation for Publish to \"{reply}\"'\r\nPONG\r\n".encode()
    assert c.ping() == b"MSG inbox 9 2\r\nok\r\nPONG\r\n"


async def test_jetstream_serves_the_enabled_account(conf_server, nats_connect, tmp_path):
    """With accounts, JetStream belongs to the account with `jetstream: enabled`; its streams do
    not capture what other accounts publish (the other accounts' API requests: see
    test_jetstream_api_in_account_without_jetstream)."""
    srv = conf_server("""
accounts {
  J { jetstream: enabled, users [ {user: j, password: pj} ] }
  N { users [ {user: n, password: pn} ] }
}
""", "-js", "-sd", str(tmp_path / "js"))
    nc = await nats_connect(srv, user="j", password="pj")
    js = nc.jetstream()
    await js.add_stream(name="S", subjects=["s.>"])
    ack = await js.publish("s.1", b"hi")
    assert (ack.stream, ack.seq) == ("S", 1)
    assert (await js.get_msg("S", 1)).data == b"hi"
    assert (await js.account_info()).streams == 1
    other = await nats_connect(srv, user="n", password="pn")
    await other.publish("s.2", b"elsewhere")
    await other.flush()
    await js.publish("s.3", b"again")
    assert (await js.stream_info("S")).state.messages == 2


JS_ACCOUNTS_CONF = """
accounts {
  A: { jetstream: enabled, users: [ {user: a, password: a} ] }
  B: { users: [ {user: b, password: b} ] }
}
"""

# Every API request shape: nats-server answers in an account without JetStream with a typed
# 10039 error (10010 for clustering requests), or not at all.
DISABLED_API = [
    "$JS.API.INFO", "$JS.API.STREAM.CREATE.X", "$JS.API.STREAM.UPDATE.X", "$JS.API.STREAM.INFO.X",
    "$JS.API.STREAM.DELETE.X", "$JS.API.STREAM.NAMES", "$JS.API.STREAM.LIST", "$JS.API.STREAM.PURGE.X",
    "$JS.API.STREAM.MSG.GET.X", "$JS.API.STREAM.MSG.DELETE.X", "$JS.API.STREAM.SNAPSHOT.X",
    "$JS.API.STREAM.RESTORE.X", "$JS.API.STREAM.PEER.REMOVE.X", "$JS.API.STREAM.LEADER.STEPDOWN.X",
    "$JS.API.CONSUMER.CREATE.X", "$JS.API.CONSUMER.CREATE.X.Y", "$JS.API.CONSUMER.CREATE.X.Y.f.g",
    "$JS.API.CONSUMER.DURABLE.CREATE.X.Y", "$JS.API.CONSUMER.INFO.X.Y", "$JS.API.CONSUMER.DELETE.X.Y",
    "$JS.API.CONSUMER.NAMES.X", "$JS.API.CONSUMER.LIST.X", "$JS.API.CONSUMER.PAUSE.X.Y",
]


async def test_jetstream_api_in_account_without_jetstream(make_server, nats_connect, tmp_path):
    """Both servers in one test: every answer byte for byte as nats-server's."""
    conf = tmp_path / "js-accounts.conf"
    conf.write_text(JS_ACCOUNTS_CONF)
    answers = {}
    for kind in ("jetbroker", "nats-server"):
        srv = make_server(kind, "-c", str(conf), "-js", "-sd", str(tmp_path / kind))
        b = await nats_connect(srv, user="b", password="b")
        got = []
        for subject in DISABLED_API:
            got.append((subject, (await b.request(subject, b"{}", timeout=T)).data))
        for subject in ("$JS.API.DIRECT.GET.X.a", "$JS.API.CONSUMER.MSG.NEXT.X.Y"):
            with pytest.raises(NoRespondersError):
                await b.request(subject, b"", timeout=T)
        # The JetStream account itself is unaffected.
        a = await nats_connect(srv, user="a", password="a")
        info = json.loads((await a.request("$JS.API.INFO", b"", timeout=T)).data)
        assert "error" not in info, info
        answers[kind] = got
    for (subject, ours), (_, theirs) in zip(answers["jetbroker"], answers["nats-server"]):
        assert ours == theirs, subject
    codes = {json.loads(d)["error"]["err_code"] for _, d in answers["jetbroker"]}
    assert codes == {10039, 10010}
