"""INFO line contents (differential: jetbroker and nats-server)."""

import json
import re

import pytest

SEMVER = re.compile(r"^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$")


def test_info_fields(server, raw):
    c = raw(server, connect=False)
    info = c.info
    assert isinstance(info["server_id"], str) and info["server_id"]
    assert SEMVER.match(info["version"]), info["version"]
    assert info["proto"] == 1
    assert info["headers"] is True
    assert info["max_payload"] == 1048576
    assert isinstance(info["client_id"], int) and info["client_id"] > 0
    assert info["client_ip"] == "127.0.0.1"
    assert info["host"] == "127.0.0.1"
    assert info["port"] == server.port  # the resolved port, not -1
    assert "auth_required" not in info
    assert not info.get("tls_required", False)
    # the JetStream API level, with or without JetStream, right after client_ip (nats-server 2.12+;
    # 2.14 reports 4, jetbroker the level it implements)
    names = list(info)
    assert isinstance(info["api_lvl"], int) and info["api_lvl"] >= 2
    assert names.index("api_lvl") == names.index("client_ip") + 1


def test_info_is_first_line(server):
    """The server speaks first: one `INFO {json}\\r\\n` line before the client sends anything."""
    from conftest import RawConn

    c = RawConn(server.host, server.port)
    line = c.expect(rb"\r\n")
    # nats-server writes `INFO {...} \r\n` (a space before CRLF); clients accept either form.
    m = re.match(rb"^INFO (\{.*\}) ?\r\n$", line)
    assert m, line
    json.loads(m.group(1))
    c.close()


def test_client_ids_are_distinct(server, raw):
    ids = {raw(server, connect=False).info["client_id"] for _ in range(3)}
    assert len(ids) == 3


def test_auth_required_only_with_auth(server_factory, raw):
    srv = server_factory("--user", "u", "--pass", "p")
    assert raw(srv, connect=False).info.get("auth_required") is True


def test_async_info_after_first_pong(server, raw):
    """nats-server follows the first PONG with an async INFO carrying connect_info (proto >= 1)."""
    c = raw(server, connect=False)
    c.send('CONNECT {"verbose":false,"pedantic":false,"protocol":1,"headers":true}\r\nPING\r\n')
    c.expect_exact(b"PONG\r\n")
    c.send("PING\r\n")
    got = c.expect(rb"PONG\r\n")
    m = re.match(rb"^INFO (\{.*\}) ?\r\n", got)
    assert m, f"no async INFO between the first and second PONG: {got!r}"
    info = json.loads(m.group(1))
    assert info.get("connect_info") is True
    assert info["client_id"] == c.info["client_id"]


@pytest.mark.parametrize(
    "conf, first",
    [
        ("", 5),
        ("accounts {\n A { users = [{user: a, password: a}] }\n B { users = [{user: b, password: b}] }\n"
         " C { users = [{user: c, password: c}] }\n}\n", 8),
        ("accounts {\n A { users = [{user: a, password: a}] }\n}\n", 6),
        ("no_sys_acc: true\n", 1),
    ],
    ids=["default", "three_accounts", "one_account", "no_system_account"],
)
def test_first_client_id_as_nats_server_numbers_it(conf_server, raw, conf, first):
    # nats-server's internal clients (one per account plus two, with a system account) take the
    # first ids; a client sees the next one (`connz` and advisories carry the same id).
    srv = conf_server(conf)
    assert raw(srv, connect=False).info["client_id"] == first
    assert raw(srv, connect=False).info["client_id"] == first + 1
