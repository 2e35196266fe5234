"""The WebSocket listener, against jetbroker and nats-server alike (differential).

Raw frames (ws_client.RawWs) check the upgrade response byte for byte, INFO in one binary frame, the
protocol in binary (and text) frames split anyhow, WebSocket ping/pong and close, permessage-deflate,
the handshake refusals with nats-server's statuses and log lines, origin checks, wss, /varz and the
ports file; nats-py's websocket transport (aiohttp) checks a real client, also across transports.
"""

from __future__ import annotations

import json
import re
import socket
import ssl
import subprocess

import pytest

from conftest import IO_TIMEOUT, binary_for
from tls_certs import make_certs
from ws_client import OP_BINARY, OP_CLOSE, OP_PING, OP_PONG, OP_TEXT, RawWs

WS_LOG = r"Listening for websocket clients on (wss?)://(\S+):(\d+)"


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    return make_certs(tmp_path_factory.mktemp("ws-certs"))


def ws_conf(tmp_path, body: str = "", name: str = "ws.conf") -> str:
    p = tmp_path / name
    p.write_text("websocket {\n  port: -1\n" + body + "\n}\n")
    return str(p)


def ws_port(srv) -> int:
    return int(re.search(WS_LOG, srv.wait_log(WS_LOG)).group(3))


@pytest.fixture
def ws_server(server_factory, tmp_path):
    """Factory: ws_server(extra websocket{} lines, *server args) -> (server, websocket port)."""

    def make(body: str = "no_tls: true", *args: str):
        srv = server_factory("-c", ws_conf(tmp_path, body), *args)
        return srv, ws_port(srv)

    return make


def open_ws(port, **kw) -> RawWs:
    ws = RawWs.open("127.0.0.1", port, **kw)
    assert ws.status == 101, (ws.status_line, ws.body)
    return ws


def info_of(ws: RawWs) -> dict:
    op, data = next(ws.messages())
    assert op == OP_BINARY
    assert data.startswith(b"INFO ") and data.endswith(b"\r\n")
    return json.loads(data[5:-2])


# ---- listener and upgrade ----------------------------------------------------------------------


def test_log_lines(ws_server):
    srv, port = ws_server()
    line = srv.wait_log(WS_LOG)
    assert re.search(r"\[INF\] Listening for websocket clients on ws://0\.0\.0\.0:\d+$", line)
    srv.wait_log(r"\[WRN\] Websocket not configured with TLS\. DO NOT USE IN PRODUCTION!")
    assert port > 0


def upgrade_response(srv_port, extra=None) -> tuple[str, list]:
    ws = open_ws(srv_port, extra=extra)
    ws.close()
    # Known difference: Beast always adds its own Server header to the 101 response.
    return ws.status_line, [h for h in ws.headers if h[0] != "Server"]


@pytest.mark.parametrize("compression", [False, True])
def test_upgrade_response_matches_nats_server(make_server, tmp_path, compression):
    got = {}
    offer = {"Sec-WebSocket-Extensions": "permessage-deflate; client_max_window_bits"}
    for kind in ("jetbroker", "nats-server"):
        if binary_for(kind) is None:
            pytest.skip(f"{kind} binary not found")
        conf = ws_conf(tmp_path, f"no_tls: true\ncompression: {str(compression).lower()}", f"{kind}.conf")
        srv = make_server(kind, "-c", conf)
        got[kind] = upgrade_response(ws_port(srv), offer)
    assert got["jetbroker"] == got["nats-server"]
    status, headers = got["jetbroker"]
    assert status == "HTTP/1.1 101 Switching Protocols"
    assert ("Sec-WebSocket-Accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") in headers
    assert any(k == "Sec-WebSocket-Extensions" for k, _ in headers) is compression


def test_info_frame(ws_server, server_kind):
    srv, port = ws_server()
    ws = open_ws(port)
    f = ws.frame()
    assert (f.fin, f.rsv1, f.opcode) == (True, False, OP_BINARY)
    info = json.loads(f.payload[5:-2])
    # nats-server tells WebSocket clients the WebSocket listener's address.
    assert info["host"] == "0.0.0.0"
    assert info["port"] == port
    assert info["headers"] is True and info["proto"] == 1
    assert "tls_required" not in info
    ws.close()


def test_async_info_after_first_pong_keeps_websocket_address(ws_server):
    srv, port = ws_server()
    ws = open_ws(port)
    info_of(ws)
    ws.send('CONNECT {"verbose":false,"protocol":1}\r\nPING\r\n')
    got = b""
    while not (m := re.search(rb"INFO ([^\r]*)\r\n", got)):
        got += ws.read_until(b"\r\n")
    assert got.startswith(b"PONG\r\n")
    info = json.loads(m.group(1))
    assert info["connect_info"] is True
    assert (info["host"], info["port"]) == ("0.0.0.0", port)
    ws.close()


def test_protocol_in_frames(ws_server):
    srv, port = ws_server()
    ws = open_ws(port)
    info_of(ws)
    ws.send('CONNECT {"verbose":false,"headers":true}\r\n')
    ws.send("SUB foo 1\r\nPU")  # an operation split across frames
    ws.send("B foo 5\r\nhel")
    ws.send("lo\r\nPING\r\n", opcode=OP_TEXT)  # text frames carry the protocol too
    assert ws.read_until(b"PONG\r\n") == b"MSG foo 1 5\r\nhello\r\nPONG\r\n"
    # A fragmented message (continuation frames).
    ws.send("PUB foo 2\r\n", fin=False)
    ws.send("ok\r\nPING\r\n", opcode=0)
    assert ws.read_until(b"PONG\r\n") == b"MSG foo 1 2\r\nok\r\nPONG\r\n"
    ws.close()


def test_ws_ping_gets_pong_with_payload(ws_server):
    srv, port = ws_server()
    ws = open_ws(port)
    info_of(ws)
    ws.send(b"hb-1", opcode=OP_PING)
    ws.send("PING\r\n")
    ws.read_until(b"PONG\r\n")
    assert [(f.opcode, f.payload) for f in ws.control] == [(OP_PONG, b"hb-1")]
    ws.close()


def test_client_close_is_answered(ws_server):
    srv, port = ws_server("no_tls: true", "-D")
    ws = open_ws(port)
    info_of(ws)
    ws.send(b"\x03\xe8bye", opcode=OP_CLOSE)
    status, _ = ws.close_frame()  # nats-server echoes the reason text too; Beast sends the status only
    assert status == 1000
    ws.close()  # as real clients do after the closing handshake
    srv.wait_log(r"127\.0\.0\.1:\d+ - wid:\d+ - Client connection created")  # "wid", not "cid"
    srv.wait_log(r" - wid:\d+ - Client connection closed: Client Closed")


def test_server_close_frame_says_why(make_server, tmp_path):
    got = {}
    for kind in ("jetbroker", "nats-server"):
        if binary_for(kind) is None:
            pytest.skip(f"{kind} binary not found")
        srv = make_server(kind, "-c", ws_conf(tmp_path, "no_tls: true", f"{kind}.conf"), "--user", "u", "--pass", "p")
        ws = open_ws(ws_port(srv))
        info = info_of(ws)
        assert info["auth_required"] is True
        ws.send('CONNECT {"user":"u","pass":"wrong"}\r\n')
        err = ws.read_until(b"\r\n")
        got[kind] = (err, ws.close_frame())
        ws.close()
    assert got["jetbroker"] == got["nats-server"]
    assert got["jetbroker"] == (b"-ERR 'Authorization Violation'\r\n", (1008, "Authentication Failure"))


# ---- compression -------------------------------------------------------------------------------


def test_compression_both_ways(ws_server):
    srv, port = ws_server("no_tls: true\ncompression: true")
    ws = open_ws(port, extra={"Sec-WebSocket-Extensions": "permessage-deflate; client_max_window_bits"})
    assert ws.header("Sec-WebSocket-Extensions") == \
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
    info_of(ws)
    ws.send('CONNECT {"verbose":false}\r\nSUB big 1\r\n', compress=True)
    payload = b"abcdefgh" * 2000
    ws.send(b"PUB big %d\r\n%s\r\nPING\r\n" % (len(payload), payload), compress=True)
    # The delivery is compressed (rsv1) and inflates to the message.
    compressed_seen = False
    out = b""
    while b"PONG\r\n" not in out:
        f = ws.frame()
        assert f is not None
        if f.opcode == OP_BINARY:
            import zlib
            compressed_seen |= f.rsv1
            out += zlib.decompressobj(wbits=-15).decompress(f.payload + b"\x00\x00\xff\xff") if f.rsv1 else f.payload
    assert compressed_seen
    assert out == b"MSG big 1 %d\r\n%s\r\nPONG\r\n" % (len(payload), payload)


def test_no_compression_without_offer(ws_server):
    srv, port = ws_server("no_tls: true\ncompression: true")
    ws = open_ws(port)
    assert ws.header("Sec-WebSocket-Extensions") is None
    f = ws.frame()
    assert not f.rsv1 and f.payload.startswith(b"INFO ")


# ---- refusals ----------------------------------------------------------------------------------


REFUSALS = [
    (dict(method="POST"), 405, "request method must be GET"),
    (dict(omit=("Upgrade",)), 400, "invalid value for header 'Upgrade'"),
    (dict(omit=("Connection",)), 400, "invalid value for header 'Connection'"),
    (dict(omit=("Sec-WebSocket-Key",)), 400, "key missing"),
    (dict(key="short"), 400, "invalid websocket key"),
    (dict(extra={"Sec-WebSocket-Version": "12"}), 400, "invalid version"),
]


@pytest.mark.parametrize("kw, status, reason", REFUSALS, ids=[r[2] for r in REFUSALS])
def test_handshake_refusals(ws_server, kw, status, reason):
    srv, port = ws_server()
    ws = RawWs.open("127.0.0.1", port, **kw)
    assert ws.status == status
    text = {400: "Bad Request", 405: "Method Not Allowed"}[status]
    assert ws.status_line == f"HTTP/1.1 {status} {text}"
    assert ws.body == (text + "\n").encode()
    assert ws.header("Sec-Websocket-Version") == "13"
    assert ws.header("Content-Type") == "text/plain; charset=utf-8"
    srv.wait_log(r"\[ERR\] 127\.0\.0\.1:\d+ - websocket handshake error: " + re.escape(reason))


@pytest.mark.parametrize("body, origin, ok, reason", [
    ('allowed_origins: ["http://good.example:8080"]', "http://good.example:8080", True, None),
    ('allowed_origins: ["http://good.example:8080"]', "http://evil.example:8080", False, "not in the allowed list"),
    ('allowed_origins: ["http://good.example:8080"]', "https://good.example:8080", False, "not in the allowed list"),
    ('allowed_origins: ["http://good.example:8080"]', None, True, None),
    ("same_origin: true", "http://127.0.0.1:{port}", True, None),
    ("same_origin: true", "http://localhost:{port}", False, "not same origin"),
])
def test_origin_checks(ws_server, body, origin, ok, reason):
    srv, port = ws_server("no_tls: true\n" + body)
    extra = {"Origin": origin.format(port=port)} if origin else None
    ws = RawWs.open("127.0.0.1", port, extra=extra)
    if ok:
        assert ws.status == 101
        assert info_of(ws)["port"] == port
    else:
        assert ws.status == 403
        assert ws.body == b"Forbidden\n"
        srv.wait_log(r"websocket handshake error: origin not allowed: " + re.escape(reason))


def test_websocket_requires_tls(server_kind, tmp_path):
    conf = ws_conf(tmp_path, "")
    r = subprocess.run([binary_for(server_kind), "-c", conf, "-p", "-1"], capture_output=True, text=True,
                       timeout=IO_TIMEOUT, stdin=subprocess.DEVNULL)
    assert r.returncode != 0
    assert "websocket requires TLS configuration" in r.stderr


def test_block_without_port_is_ignored(server_factory, tmp_path):
    p = tmp_path / "noport.conf"
    p.write_text("websocket { no_tls: true }\n")
    srv = server_factory("-c", str(p))
    assert "websocket" not in srv.log_text().lower()
    assert srv.varz()["websocket"] == {"no_tls": True}


# ---- wss ---------------------------------------------------------------------------------------


def test_wss(ws_server, certs):
    srv, port = ws_server(f'tls {{ cert_file: "{certs.server_pem}", key_file: "{certs.server_key}" }}')
    assert re.search(WS_LOG, srv.wait_log(WS_LOG)).group(1) == "wss"
    ctx = ssl.create_default_context(cafile=certs.ca_pem)
    ws = open_ws(port, tls=ctx)
    info = info_of(ws)
    assert info["tls_required"] is True
    assert info["port"] == port
    ws.send('CONNECT {"verbose":false}\r\nSUB s 1\r\nPUB s 1\r\nx\r\nPING\r\n')
    assert ws.read_until(b"PONG\r\n") == b"MSG s 1 1\r\nx\r\nPONG\r\n"
    ws.close()
    assert "Websocket not configured with TLS" not in srv.log_text()


# ---- monitoring and ports file -----------------------------------------------------------------


def test_varz_websocket(make_server, tmp_path):
    body = ('no_tls: true\ncompression: true\nsame_origin: true\nhandshake_timeout: "3s"\n'
            'allowed_origins: ["http://a.example:8080"]')
    got = {}
    for kind in ("jetbroker", "nats-server"):
        if binary_for(kind) is None:
            pytest.skip(f"{kind} binary not found")
        srv = make_server(kind, "-c", ws_conf(tmp_path, body, f"{kind}.conf"))
        w = srv.varz()["websocket"]
        assert w["port"] == ws_port(srv)
        got[kind] = {k: v for k, v in w.items() if k != "port"}
    assert got["jetbroker"] == got["nats-server"]


def test_connz_lists_websocket_clients(ws_server):
    srv, port = ws_server()
    ws = open_ws(port)
    info_of(ws)
    ws.send('CONNECT {"name":"wsc"}\r\nPING\r\n')
    ws.read_until(b"PONG\r\n")
    conns = srv.connz()["connections"]
    assert [(c["name"], c["kind"], c["type"]) for c in conns] == [("wsc", "Client", "websocket")]
    ws.close()


def test_ports_file_lists_websocket(make_server, tmp_path):
    d = tmp_path / "ports"
    d.mkdir()
    got = {}
    for kind in ("jetbroker", "nats-server"):
        if binary_for(kind) is None:
            pytest.skip(f"{kind} binary not found")
        srv = make_server(kind, "-c", ws_conf(tmp_path, "no_tls: true", f"{kind}.conf"), "--ports_file_dir", str(d))
        port = ws_port(srv)
        f = srv.wait_for(lambda: list(d.glob(f"*_{srv.pid}.ports")), what="ports file")[0]
        got[kind] = json.loads(srv.wait_for(lambda: f.read_text(), what="ports file content"))["websocket"]
        assert any(u.endswith(f":{port}") and u.startswith("ws://") for u in got[kind])


# ---- a real client -----------------------------------------------------------------------------


async def test_nats_py_over_websocket(ws_server, nats_connect):
    pytest.importorskip("aiohttp", reason="nats-py's websocket transport needs aiohttp (scripts/setup.sh)")
    import nats

    srv, port = ws_server()
    ws_nc = await nats.connect(f"ws://127.0.0.1:{port}", allow_reconnect=False, connect_timeout=IO_TIMEOUT)
    try:
        tcp_nc = await nats_connect(srv)
        sub = await ws_nc.subscribe("cross.>")
        await ws_nc.flush()
        await tcp_nc.publish("cross.tcp", b"from tcp")
        assert (await sub.next_msg(timeout=IO_TIMEOUT)).data == b"from tcp"

        async def echo(m):
            await m.respond(b"echo:" + m.data)

        await tcp_nc.subscribe("svc.echo", cb=echo)
        await tcp_nc.flush()
        big = bytes(range(256)) * 1000
        r = await ws_nc.request("svc.echo", big, timeout=IO_TIMEOUT)
        assert r.data == b"echo:" + big
        hsub = await tcp_nc.subscribe("hdr")
        await tcp_nc.flush()
        await ws_nc.publish("hdr", b"h", headers={"X-Test": "1"})
        m = await hsub.next_msg(timeout=IO_TIMEOUT)
        assert m.headers == {"X-Test": "1"}
    finally:
        await ws_nc.close()


async def test_allowed_connection_types(server_factory, tmp_path):
    """allowed_connection_types: a WEBSOCKET-only user connects over WebSocket but not over TCP, a
    STANDARD-only user the other way round, a user without the list over both."""
    pytest.importorskip("aiohttp", reason="nats-py's websocket transport needs aiohttp (scripts/setup.sh)")
    import nats

    conf = ws_conf(tmp_path, "  no_tls: true", name="types.conf")
    with open(conf, "a") as f:
        f.write('authorization { users [\n'
                '  {user: ws, password: p, allowed_connection_types: ["WEBSOCKET"]}\n'
                '  {user: std, password: p, allowed_connection_types: ["standard"]}\n'
                '  {user: any, password: p}\n] }\n')
    srv = server_factory("-c", conf)
    port = ws_port(srv)

    async def connects(url, user):
        async def quiet(*_):
            pass

        try:
            nc = await nats.connect(url, user=user, password="p", allow_reconnect=False, connect_timeout=IO_TIMEOUT,
                                    error_cb=quiet)
        except Exception:
            return False
        await nc.close()
        return True

    got = {(user, kind): await connects(url, user) for user in ("ws", "std", "any")
           for kind, url in (("ws", f"ws://127.0.0.1:{port}"), ("tcp", srv.url))}
    assert got == {("ws", "ws"): True, ("ws", "tcp"): False, ("std", "ws"): False, ("std", "tcp"): True,
                   ("any", "ws"): True, ("any", "tcp"): True}


WS_AUTH_CASES = {
    # websocket { authorization {} } overrides the server's auth for WebSocket clients only
    "override": ("websocket {\n  port: -1\n  no_tls: true\n  authorization { user: wsu, password: wsp }\n}\n",
                 {"none": ("PONG", "ERR"), "wsu": ("PONG", "PONG"), "a": ("PONG", "ERR")}),
    "token": ("websocket {\n  port: -1\n  no_tls: true\n  authorization { token: T }\n}\n",
              {"none": ("PONG", "ERR"), "tok": ("PONG", "PONG"), "wsu": ("PONG", "ERR")}),
    # websocket { no_auth_user } lets WebSocket clients in without credentials as that user
    "no_auth_user": ("authorization { users [{user: a, password: pa}] }\n"
                     "websocket {\n  port: -1\n  no_tls: true\n  no_auth_user: a\n}\n",
                     {"none": ("ERR", "PONG"), "a": ("PONG", "PONG"), "wsu": ("ERR", "ERR")}),
}
WS_CREDS = {"none": {}, "wsu": {"user": "wsu", "pass": "wsp"}, "a": {"user": "a", "pass": "pa"}, "tok": {"auth_token": "T"}}


@pytest.mark.parametrize("case", sorted(WS_AUTH_CASES))
def test_websocket_authorization(server_factory, tmp_path, case):
    conf_text, expect = WS_AUTH_CASES[case]
    conf = tmp_path / "wsauth.conf"
    conf.write_text(conf_text)
    srv = server_factory("-c", str(conf))
    port = ws_port(srv)
    got = {}
    for who in expect:
        connect = b"CONNECT " + json.dumps({"verbose": False, **WS_CREDS[who]}).encode() + b"\r\nPING\r\n"
        s = socket.create_connection(("127.0.0.1", srv.port), timeout=IO_TIMEOUT)
        f = s.makefile("rb")
        f.readline()  # INFO
        s.sendall(connect)
        tcp = f.readline().decode()
        s.close()
        ws = open_ws(port)
        info = info_of(ws)
        ws.send(connect)
        reply = ws.read_until(b"\r\n").decode()
        ws.close()
        got[who] = ("PONG" if tcp.startswith("PONG") else "ERR", "PONG" if reply.startswith("PONG") else "ERR")
        assert info.get("auth_required") is True, info
    assert got == expect


@pytest.mark.parametrize("auth", ["user: wsu, password: wsp", "token: T"])
def test_websocket_authorization_conflicts_with_users(server_kind, tmp_path, auth):
    conf = tmp_path / "bad.conf"
    conf.write_text("authorization { users [{user: a, password: pa}] }\n"
                    f"websocket {{ port: -1, no_tls: true, authorization {{ {auth} }} }}\n")
    r = subprocess.run([binary_for(server_kind), "-c", str(conf)], capture_output=True, text=True, timeout=10)
    what = "username" if "user" in auth else "token"
    assert r.returncode == 1
    assert f"websocket authentication {what} not compatible with presence of users/nkeys" in r.stderr


COOKIE_CASES = [  # (server auth, websocket cookie names, Cookie header, CONNECT credentials, accepted)
    ("users", 'user_cookie: "u", pass_cookie: "p"', "u=a; p=pa", {}, True),
    ("users", 'user_cookie: "u", pass_cookie: "p"', "u=a; p=bad", {}, False),
    ("users", 'user_cookie: "u", pass_cookie: "p"', "u=a", {"pass": "pa"}, True),   # field by field
    ("users", 'user_cookie: "u", pass_cookie: "p"', "x=1; u=a;p=pa", {}, True),
    ("users", 'user_cookie: "u", pass_cookie: "p"', "u=zz; p=pa", {"user": "a"}, True),  # CONNECT wins
    ("users", 'user_cookie: "u", pass_cookie: "p"', None, {}, False),
    ("token", 'token_cookie: "t"', "t=T", {}, True),
    ("token", 'token_cookie: "t"', "t=bad", {}, False),
    ("token", 'token_cookie: "t"', "t=bad", {"auth_token": "T"}, True),
]


@pytest.mark.parametrize("auth,cookies,cookie,creds,accepted", COOKIE_CASES)
def test_websocket_credentials_from_cookies(server_factory, tmp_path, auth, cookies, cookie, creds, accepted):
    conf = tmp_path / "cookies.conf"
    server_auth = "authorization { users [{user: a, password: pa}] }" if auth == "users" else "authorization { token: T }"
    conf.write_text(f"{server_auth}\nwebsocket {{ port: -1, no_tls: true, {cookies} }}\n")
    srv = server_factory("-c", str(conf))
    ws = RawWs.open("127.0.0.1", ws_port(srv), extra={"Cookie": cookie} if cookie else None)
    assert ws.status == 101
    info_of(ws)
    ws.send(b"CONNECT " + json.dumps({"verbose": False, **creds}).encode() + b"\r\nPING\r\n")
    reply = ws.read_until(b"\r\n").decode()
    ws.close()
    assert reply.startswith("PONG" if accepted else "-ERR 'Authorization Violation'"), reply
