"""--user/--pass and --auth token authentication (differential)."""

import json
import re

import pytest

T = 5.0


@pytest.fixture
def userpass_server(server_factory):
    return server_factory("--user", "alice", "--pass", "s3cret")


@pytest.fixture
def token_server(server_factory):
    return server_factory("--auth", "tok-123")


async def test_user_pass_ok(userpass_server, nats_connect):
    nc = await nats_connect(userpass_server, user="alice", password="s3cret")
    sub = await nc.subscribe("a")
    await nc.publish("a", b"x")
    assert (await sub.next_msg(timeout=T)).data == b"x"


async def test_user_pass_wrong_password_nats_py(userpass_server, nats_connect):
    with pytest.raises(Exception) as ei:
        await nats_connect(userpass_server, user="alice", password="nope")
    assert "authorization violation" in str(ei.value).lower()


def test_user_pass_ok_raw(userpass_server, raw):
    c = raw(userpass_server, user="alice", **{"pass": "s3cret"})
    c.send("SUB x 1\r\nPUB x 1\r\nk\r\n")
    assert c.ping() == b"MSG x 1 1\r\nk\r\nPONG\r\n"


@pytest.mark.parametrize("creds", [
    {"user": "alice", "pass": "nope"},
    {"user": "bob", "pass": "s3cret"},
    {},
])
def test_user_pass_rejected_raw(userpass_server, raw, creds):
    c = raw(userpass_server, connect=False)
    c.send("CONNECT " + json.dumps({"verbose": False, "pedantic": False, **creds}) + "\r\nPING\r\n")
    assert c.read_until_closed() == b"-ERR 'Authorization Violation'\r\n"
    tail = f' - User "{creds["user"]}"' if creds else ""
    userpass_server.wait_log(r"\[ERR\] 127\.0\.0\.1:\d+ - cid:\d+ - authentication error" + re.escape(tail) + "$")


def test_token_ok_raw(token_server, raw):
    c = raw(token_server, auth_token="tok-123")
    c.send("SUB x 1\r\nPUB x 1\r\nk\r\n")
    assert c.ping() == b"MSG x 1 1\r\nk\r\nPONG\r\n"


async def test_token_ok_nats_py(token_server, nats_connect):
    nc = await nats_connect(token_server, token="tok-123")
    assert nc.is_connected


def test_token_wrong_raw(token_server, raw):
    c = raw(token_server, connect=False)
    assert c.info.get("auth_required") is True
    c.send('CONNECT {"verbose":false,"pedantic":false,"auth_token":"wrong"}\r\n')
    assert c.read_until_closed() == b"-ERR 'Authorization Violation'\r\n"


@pytest.mark.parametrize("op", ["PING\r\n", "SUB foo 1\r\n", "PUB foo 1\r\nx\r\n"])
def test_op_before_connect_with_auth(userpass_server, raw, op):
    c = raw(userpass_server, connect=False)
    c.send(op)
    assert c.read_until_closed() == b"-ERR 'Authorization Violation'\r\n"
    userpass_server.wait_log(r"\[ERR\] 127\.0\.0\.1:\d+ - cid:\d+ - authentication error$")


def test_op_before_connect_without_auth_is_fine(server, raw):
    c = raw(server, connect=False)
    c.send("PING\r\n")
    c.expect_exact(b"PONG\r\n")


def test_auth_timeout(userpass_server, raw):
    """No CONNECT within the default 2 s auth timeout: -ERR 'Authentication Timeout' and close."""
    c = raw(userpass_server, connect=False)
    assert c.read_until_closed(timeout=6) == b"-ERR 'Authentication Timeout'\r\n"
