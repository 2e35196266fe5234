"""NKey users without JWTs (differential): the INFO nonce, signed CONNECTs (nats-py, the `nats`
CLI and raw sockets), permissions and accounts of nkey users, no_auth_user naming an nkey,
/connz and $SYS.REQ.USER.INFO, and configuration errors.

Keys are made fresh for each test with the nkeys package (Ed25519 seeds from os.urandom).
"""

import asyncio
import base64
import json
import os
import re
import subprocess

import nkeys
import pytest

from conftest import nats_cli

T = 5.0
NONCE_RE = re.compile(r"^[A-Za-z0-9_-]{15}$")  # 11 random bytes, unpadded URL base64


class Key:
    def __init__(self):
        self.seed = nkeys.encode_seed(os.urandom(32), nkeys.PREFIX_BYTE_USER)
        self.kp = nkeys.from_seed(bytearray(self.seed))
        self.pub = self.kp.public_key.decode()

    def sign(self, nonce: str, encoding: str = "raw_url") -> str:
        sig = self.kp.sign(nonce.encode())
        if encoding == "raw_url":
            return base64.urlsafe_b64encode(sig).decode().rstrip("=")
        if encoding == "std":
            return base64.b64encode(sig).decode()
        raise ValueError(encoding)


@pytest.fixture
def keys():
    return [Key() for _ in range(4)]


def nkey_login(raw, srv, key: Key, signer: Key | None = None, encoding: str = "raw_url", **kw):
    c = raw(srv, connect=False)
    nonce = c.info["nonce"]
    return c.connect(nkey=key.pub, sig=(signer or key).sign(nonce, encoding), **kw)


def connect_line(**body) -> str:
    return "CONNECT " + json.dumps({"verbose": False, "pedantic": False, **body}) + "\r\nPING\r\n"


# ---- the nonce ----------------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["authorization", "account"])
def test_info_has_a_fresh_nonce_with_nkey_users(conf_server, raw, keys, where):
    users = f"users [ {{nkey: {keys[0].pub}}} ]"
    srv = conf_server(f"authorization {{ {users} }}\n" if where == "authorization" else
                      f"accounts {{ A {{ {users} }} }}\n")
    nonces = [raw(srv, connect=False).info["nonce"] for _ in range(3)]
    assert all(NONCE_RE.match(n) for n in nonces), nonces
    assert len(set(nonces)) == 3
    # The INFO that confirms the connection (after the first PONG) has none.
    c = raw(srv, connect=False)
    c.send(f"CONNECT {json.dumps({'verbose': False, 'protocol': 1, 'nkey': keys[0].pub, 'sig': keys[0].sign(c.info['nonce'])})}\r\nPING\r\n")
    c.expect(rb"PONG\r\n")
    info = json.loads(c.expect(rb"INFO [^\r\n]*\r\n")[5:])
    assert info["connect_info"] is True and "nonce" not in info


@pytest.mark.parametrize("conf", [
    "",
    "authorization { users [ {user: a, password: b} ] }\n",
    "accounts { A { users [ {user: a, password: b} ] } }\n",
    "authorization { token: t }\n",
])
def test_info_has_no_nonce_without_nkey_users(conf_server, raw, conf):
    srv = conf_server(conf)
    assert "nonce" not in raw(srv, connect=False).info


def test_nonce_sits_after_client_ip(conf_server, raw, keys):
    srv = conf_server(f"authorization {{ users [ {{nkey: {keys[0].pub}}} ] }}\n")
    c = raw(srv, connect=False)
    names = list(c.info)
    assert names[names.index("client_ip") + 1] == "nonce"


# ---- signed CONNECT -----------------------------------------------------------------------------


async def test_nats_py_nkey_user(conf_server, nats_connect, keys):
    srv = conf_server(f"authorization {{ users [ {{nkey: {keys[0].pub}}}, {{user: bob, password: pw}} ] }}\n")
    nc = await nats_connect(srv, nkeys_seed_str=keys[0].seed.decode())
    bob = await nats_connect(srv, user="bob", password="pw")
    sub = await nc.subscribe("x")
    await nc.flush()
    await bob.publish("x", b"hi")
    assert (await sub.next_msg(timeout=T)).data == b"hi"


async def test_nats_py_seed_file(conf_server, nats_connect, keys, tmp_path):
    seed = tmp_path / "user.nk"
    seed.write_bytes(keys[1].seed)
    srv = conf_server(f"authorization {{ users [ {{nkey: {keys[1].pub}}} ] }}\n")
    nc = await nats_connect(srv, nkeys_seed=str(seed))
    assert (await nc.request("$SYS.REQ.USER.INFO", b"", timeout=T)).data  # connected and answered


async def test_nats_py_unknown_seed_is_refused(conf_server, nats_connect, keys):
    srv = conf_server(f"authorization {{ users [ {{nkey: {keys[0].pub}}} ] }}\n")
    with pytest.raises(Exception) as ei:
        await nats_connect(srv, nkeys_seed_str=keys[1].seed.decode())
    assert "authorization violation" in str(ei.value).lower()
    srv.wait_log(r"\[ERR\] 127\.0\.0\.1:\d+ - cid:\d+ - authentication error - Nkey " + re.escape(f'"{keys[1].pub}"') + "$")


@pytest.mark.parametrize("encoding", ["raw_url", "std"])
def test_raw_signature_encodings_accepted(conf_server, raw, keys, encoding):
    srv = conf_server(f"authorization {{ users [ {{nkey: {keys[0].pub}}} ] }}\n")
    c = nkey_login(raw, srv, keys[0], encoding=encoding)
    c.send("SUB x 1\r\nPUB x 1\r\nk\r\n")
    assert c.ping() == b"MSG x 1 1\r\nk\r\nPONG\r\n"


@pytest.mark.parametrize("case, debug", [
    ("wrong signer", "Signature not verified"),
    ("no sig", "Signature missing"),
    ("padded url base64", "Signature not valid base64"),
    ("sig over another nonce", "Signature not verified"),
    ("unknown key", None),
    ("user and password instead", None),
])
def test_raw_bad_nkey_connects_are_violations(conf_server, raw, keys, case, debug):
    srv = conf_server(f"authorization {{ users [ {{nkey: {keys[0].pub}}}, {{user: bob, password: pw}} ] }}\n", "-D")
    c = raw(srv, connect=False)
    nonce = c.info["nonce"]
    good = keys[0].sign(nonce)
    body = {
        "wrong signer": {"nkey": keys[0].pub, "sig": keys[1].sign(nonce)},
        "no sig": {"nkey": keys[0].pub},
        # A 64-byte signature is 86 characters; padding makes it neither RawURL nor Std base64.
        "padded url base64": {"nkey": keys[0].pub, "sig": good + "=="},
        "sig over another nonce": {"nkey": keys[0].pub, "sig": keys[0].sign(nonce[::-1])},
        "unknown key": {"nkey": keys[1].pub, "sig": keys[1].sign(nonce)},
        # The nkey decides when one is sent, even next to a good user and password.
        "user and password instead": {"nkey": keys[1].pub, "sig": keys[1].sign(nonce), "user": "bob", "pass": "pw"},
    }[case]
    if case == "padded url base64" and "-" not in good and "_" not in good:
        # Without a URL-only character the padded text is valid standard base64 of the same
        # signature (about 1 run in 15), which both servers accept.
        c.send(connect_line(**body))
        assert c.ping() == b"PONG\r\n"
        return
    c.send(connect_line(**body))
    assert c.read_until_closed() == b"-ERR 'Authorization Violation'\r\n"
    line = srv.wait_log(r"\[ERR\] 127\.0\.0\.1:\d+ - cid:\d+ - authentication error - Nkey " +
                        re.escape(f'"{body["nkey"]}"') + "$")
    cid = re.search(r"cid:(\d+)", line).group(1)
    if debug:
        srv.wait_log(rf"\[DBG\] 127\.0\.0\.1:\d+ - cid:{cid} - {debug}$")


def test_nkey_user_connection_types(conf_server, raw, keys):
    srv = conf_server(f"authorization {{ users [ {{nkey: {keys[0].pub}, allowed_connection_types: [WEBSOCKET]}}, "
                      f"{{nkey: {keys[1].pub}, allowed_connection_types: [STANDARD]}} ] }}\n")
    assert nkey_login(raw, srv, keys[1]).ping() == b"PONG\r\n"
    c = raw(srv, connect=False)
    c.send(connect_line(nkey=keys[0].pub, sig=keys[0].sign(c.info["nonce"])))
    assert c.read_until_closed() == b"-ERR 'Authorization Violation'\r\n"
    srv.wait_log(r"authentication error - Nkey " + re.escape(f'"{keys[0].pub}"') + "$")


def test_password_users_still_work_next_to_nkeys(conf_server, raw, keys):
    srv = conf_server(f"authorization {{ users [ {{nkey: {keys[0].pub}}}, {{user: bob, password: pw}} ] }}\n")
    c = raw(srv, user="bob", **{"pass": "pw"})
    assert c.ping() == b"PONG\r\n"
    bad = raw(srv, connect=False)
    bad.send(connect_line(user="bob", **{"pass": "nope"}))
    assert bad.read_until_closed() == b"-ERR 'Authorization Violation'\r\n"
    srv.wait_log(r'authentication error - User "bob"$')


# ---- permissions and accounts -------------------------------------------------------------------


def test_nkey_user_permissions(conf_server, raw, keys):
    srv = conf_server(f"""
authorization {{
  default_permissions {{ publish: "dflt" }}
  users [
    {{nkey: {keys[0].pub}, permissions: {{publish: {{allow: ["foo.>"]}}, subscribe: {{deny: "secret"}}}}}}
    {{nkey: {keys[1].pub}}}
  ]
}}
""")
    c = nkey_login(raw, srv, keys[0])
    c.send("SUB secret 1\r\nSUB foo.a 2\r\nPUB bar 0\r\n\r\nPUB foo.a 1\r\nx\r\n")
    assert c.ping() == (b"-ERR 'Permissions Violation for Subscription to \"secret\"'\r\n"
                        b"-ERR 'Permissions Violation for Publish to \"bar\"'\r\n"
                        b"MSG foo.a 2 1\r\nx\r\nPONG\r\n")
    d = nkey_login(raw, srv, keys[1])  # default_permissions apply to nkey users too
    d.send("PUB foo.a 0\r\n\r\nPUB dflt 0\r\n\r\n")
    assert d.ping() == b"-ERR 'Permissions Violation for Publish to \"foo.a\"'\r\nPONG\r\n"


def test_nkey_users_in_accounts_are_isolated(conf_server, raw, keys):
    srv = conf_server(f"""
accounts {{
  A {{ users [ {{nkey: {keys[0].pub}}}, {{nkey: {keys[1].pub}}} ] }}
  B {{ users [ {{nkey: {keys[2].pub}}} ] }}
}}
authorization {{ users [ {{user: g, password: pg}} ] }}
""")
    a1, a2, b = (nkey_login(raw, srv, k) for k in keys[:3])
    g = raw(srv, user="g", **{"pass": "pg"})
    for i, c in enumerate((a1, a2, b, g)):
        c.send(f"SUB t {i}\r\n")
        c.ping()
    a1.send("PUB t 2\r\nfa\r\n")
    assert a1.ping() == b"MSG t 0 2\r\nfa\r\nPONG\r\n"  # its own message (echo)
    assert a2.ping() == b"MSG t 1 2\r\nfa\r\nPONG\r\n"
    assert b.ping() == b"PONG\r\n"
    assert g.ping() == b"PONG\r\n"


async def test_no_auth_user_names_an_nkey(conf_server, raw, nats_connect, keys):
    srv = conf_server(f"""
accounts {{ A {{ users [ {{nkey: {keys[0].pub}, permissions: {{publish: ["$SYS.REQ.USER.INFO", "ok"], subscribe: "_INBOX.>"}}}} ] }} }}
no_auth_user: {keys[0].pub}
""")
    c = raw(srv, connect=False)
    assert "auth_required" not in c.info and NONCE_RE.match(c.info["nonce"])
    c.connect()  # no credentials, no signature
    c.send("PUB nope 0\r\n\r\n")
    assert c.ping() == b"-ERR 'Permissions Violation for Publish to \"nope\"'\r\nPONG\r\n"
    nc = await nats_connect(srv)
    info = json.loads((await nc.request("$SYS.REQ.USER.INFO", b"", timeout=T)).data)["data"]
    assert info["user"] == keys[0].pub and info["account"] == "A"


def test_no_auth_user_must_name_a_configured_nkey(conf_server, keys):
    with pytest.raises(RuntimeError) as ei:
        conf_server(f"authorization {{ users [ {{nkey: {keys[0].pub}}} ] }}\nno_auth_user: {keys[1].pub}\n")
    assert (f'no_auth_user: "{keys[1].pub}" not present as user or nkey in authorization block or account '
            f'configuration') in str(ei.value)


# ---- monitoring and the system account ----------------------------------------------------------


AUTH_FIELDS = ("authorized_user", "account", "issuer_key", "name_tag", "nkey", "jwt")


def test_connz_shows_nkey_users(make_server, tmp_path, raw):
    keys = [Key() for _ in range(2)]
    conf = tmp_path / "server.conf"
    conf.write_text(f"""
accounts {{ A {{ users [ {{nkey: {keys[0].pub}}} ] }} }}
authorization {{ users [ {{nkey: {keys[1].pub}}}, {{user: bob, password: pw}} ] }}
""")
    seen = []
    for kind in ("jetbroker", "nats-server"):
        srv = make_server(kind, "-c", str(conf))
        nkey_login(raw, srv, keys[0], name="a")
        nkey_login(raw, srv, keys[1], name="g")
        raw(srv, user="bob", name="bob", **{"pass": "pw"})
        conns = srv.connz("?auth=1")["connections"]
        seen.append(sorted(({k: c[k] for k in ("name", *AUTH_FIELDS) if k in c} for c in conns),
                           key=lambda c: c["name"]))
        plain = srv.connz()["connections"]
        assert all("authorized_user" not in c and "issuer_key" not in c for c in plain)
    jb, ns = seen
    assert jb == ns
    assert jb == [
        {"name": "a", "authorized_user": keys[0].pub, "account": "A", "issuer_key": "A", "name_tag": "A"},
        {"name": "bob", "authorized_user": "bob", "name_tag": "$G"},
        {"name": "g", "authorized_user": keys[1].pub, "issuer_key": "$G", "name_tag": "$G"},
    ]


async def test_user_info_of_nkey_users(make_server, tmp_path):
    import nats

    keys = [Key() for _ in range(2)]
    conf = tmp_path / "server.conf"
    conf.write_text(f"""
accounts {{
  A {{ users [ {{nkey: {keys[0].pub}, permissions: {{publish: {{allow: ["$SYS.REQ.USER.INFO"], deny: "x"}}, subscribe: "_INBOX.>", allow_responses: true}}}} ] }}
  SYS {{ users [ {{user: sys, password: sys}} ] }}
}}
authorization {{ users [ {{nkey: {keys[1].pub}}} ] }}
system_account: SYS
""")
    out = []
    for kind in ("jetbroker", "nats-server"):
        srv = make_server(kind, "-c", str(conf))
        per = []
        for k in keys:
            nc = await nats.connect(servers=[srv.url], allow_reconnect=False, nkeys_seed_str=k.seed.decode())
            try:
                per.append(json.loads((await nc.request("$SYS.REQ.USER.INFO", b"", timeout=T)).data)["data"])
            finally:
                await nc.close()
        out.append(per)
    jb, ns = out
    assert jb == ns
    assert jb[0]["user"] == keys[0].pub and jb[0]["account"] == "A" and "permissions" in jb[0]
    assert jb[1] == {"user": keys[1].pub, "account": "$G", "account_name": "$G"}


# ---- the nats CLI -------------------------------------------------------------------------------


async def test_nats_cli_nkey(conf_server, nats_connect, keys, tmp_path):
    binary = nats_cli()
    if binary is None:
        pytest.skip("nats CLI not found")
    good, bad = tmp_path / "good.nk", tmp_path / "bad.nk"
    good.write_bytes(keys[0].seed)
    bad.write_bytes(keys[1].seed)
    srv = conf_server(f"authorization {{ users [ {{nkey: {keys[0].pub}, permissions: {{publish: cli}}}}, "
                      f"{{user: s, password: s}} ] }}\n")
    nc = await nats_connect(srv, user="s", password="s")
    sub = await nc.subscribe("cli")
    await nc.flush()
    env = {k: v for k, v in os.environ.items() if not k.startswith("NATS_")}
    env["HOME"] = str(tmp_path)
    env["XDG_CONFIG_HOME"] = str(tmp_path / ".config")

    def run(seed, subject):
        return subprocess.run([binary, "--no-context", "-s", srv.url, "--nkey", str(seed), "pub", subject, "hello"],
                              capture_output=True, timeout=10, env=env)

    r = await asyncio.to_thread(run, good, "cli")
    assert r.returncode == 0, r.stderr
    assert (await sub.next_msg(timeout=T)).data == b"hello"
    r = await asyncio.to_thread(run, bad, "cli")
    assert r.returncode != 0
    assert b"authorization violation" in r.stderr.lower()


# ---- configuration errors -----------------------------------------------------------------------


def _flip_last(s: str) -> str:
    return s[:-1] + ("B" if s[-1] == "A" else "A")


@pytest.mark.parametrize("make_key", [
    pytest.param(lambda k: k.pub[:50], id="truncated"),
    pytest.param(lambda k: _flip_last(k.pub), id="checksum"),
    pytest.param(lambda k: k.pub.lower(), id="lower-case"),
    pytest.param(lambda k: k.seed.decode(), id="seed"),
    pytest.param(lambda k: nkeys.from_seed(bytearray(nkeys.encode_seed(os.urandom(32), nkeys.PREFIX_BYTE_ACCOUNT)))
                 .public_key.decode(), id="account-key"),
])
def test_malformed_nkey_refuses_to_start(conf_server, keys, make_key):
    with pytest.raises(RuntimeError) as ei:
        conf_server(f"port: -1\nauthorization {{ users [ {{nkey: {make_key(keys[0])}}} ] }}\n")
    assert "2:26: Not a valid public nkey for a user" in str(ei.value)


@pytest.mark.parametrize("extra", ["password: x", "user: x"])
def test_nkey_user_with_name_or_password_refuses_to_start(conf_server, keys, extra):
    with pytest.raises(RuntimeError) as ei:
        conf_server(f"port: -1\naccounts {{ A {{ users [ {{nkey: {keys[0].pub}, {extra}}} ] }} }}\n")
    assert "Nkey users do not take usernames or passwords" in str(ei.value)


def test_duplicate_nkey_refuses_to_start(conf_server, keys):
    with pytest.raises(RuntimeError) as ei:
        conf_server(f"authorization {{ users [ {{nkey: {keys[0].pub}}}, {{nkey: {keys[0].pub}}} ] }}\n")
    assert f'Duplicate nkey "{keys[0].pub}" detected' in str(ei.value)
