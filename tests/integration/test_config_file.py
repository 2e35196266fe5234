"""Behaviour that needs a config file.

These run against nats-server and skip on jetbroker while it rejects `-c` ("configuration file support
is not implemented yet"); they start running on jetbroker as soon as config files are supported.
"""

import pytest


@pytest.fixture
def conf_server(server_factory, tmp_path):
    def make(text: str):
        conf = tmp_path / "server.conf"
        conf.write_text(text)
        try:
            return server_factory("-c", str(conf))
        except RuntimeError as e:
            if "not implemented" in str(e):
                pytest.skip("needs a config file (ping_interval, ping_max, max_payload, max_connections "
                            "have no command-line flag) and jetbroker does not read -c files yet")
            raise

    return make


def test_stale_connection(conf_server, raw):
    srv = conf_server('ping_interval: "200ms"\nping_max: 2\n')
    c = raw(srv)
    out = c.read_until_closed(timeout=10)
    assert out == b"PING\r\nPING\r\n-ERR 'Stale Connection'\r\n", out


def test_pings_answered_keep_connection(conf_server, raw):
    srv = conf_server('ping_interval: "200ms"\nping_max: 2\n')
    c = raw(srv)
    for _ in range(5):
        c.expect_exact(b"PING\r\n", timeout=5)
        c.send("PONG\r\n")
    assert c.ping() == b"PONG\r\n"


def test_max_payload_configured(conf_server, raw):
    srv = conf_server("max_payload: 1024\n")
    c = raw(srv)
    assert c.info["max_payload"] == 1024
    c.send(b"SUB a 1\r\nPUB a 1024\r\n" + b"x" * 1024 + b"\r\n")
    assert c.ping() == b"MSG a 1 1024\r\n" + b"x" * 1024 + b"\r\nPONG\r\n"
    c.send(b"PUB a 1025\r\n")
    assert c.read_until_closed() == b"-ERR 'Maximum Payload Violation'\r\n"


def test_max_connections(conf_server, raw):
    srv = conf_server("max_connections: 1\n")
    raw(srv)
    second = raw(srv, connect=False)
    second.send('CONNECT {"verbose":false}\r\nPING\r\n')
    assert second.read_until_closed() == b"-ERR 'maximum connections exceeded'\r\n"
