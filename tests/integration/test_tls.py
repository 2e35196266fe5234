"""TLS on the client port, against jetbroker and nats-server alike (differential).

The certificates are made per session with openssl (tls_certs.py). What is checked: INFO's
tls_required/tls_verify, the upgrade after a plaintext INFO and TLS-first, client certificate
verification, the failure modes (a plaintext client, a silent client past the TLS timeout, a missing
or foreign client certificate) with nats-server's log lines, /varz and /connz TLS fields, the --tls*
flags and start-up errors.
"""

from __future__ import annotations

import json
import socket
import ssl
import subprocess

import pytest

from conftest import IO_TIMEOUT, binary_for
from tls_certs import make_certs


@pytest.fixture(scope="session")
def certs(tmp_path_factory):
    return make_certs(tmp_path_factory.mktemp("certs"))


def tls_flags(certs, verify=False):
    args = ["--tls", "--tlscert", certs.server_pem, "--tlskey", certs.server_key]
    if verify:
        args += ["--tlsverify", "--tlscacert", certs.ca_pem]
    return args


def write_conf(tmp_path, body: str) -> str:
    p = tmp_path / "tls.conf"
    p.write_text(body)
    return str(p)


def client_ctx(certs, cert: str | None = None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=certs.ca_pem)
    if cert:
        ctx.load_cert_chain(getattr(certs, f"{cert}_pem"), getattr(certs, f"{cert}_key"))
    return ctx


def read_plain_info(sock: socket.socket) -> dict:
    """Reads the plaintext INFO line byte by byte (nothing of the TLS stream is consumed)."""
    line = b""
    while not line.endswith(b"\r\n"):
        b = sock.recv(1)
        assert b, f"closed before INFO: {line!r}"
        line += b
    assert line.startswith(b"INFO "), line
    return json.loads(line[5:-2])


def read_until(sock, marker: bytes) -> bytes:
    buf = b""
    while marker not in buf:
        chunk = sock.recv(65536)
        assert chunk, f"closed, got {buf!r}"
        buf += chunk
    return buf


def recv_eof(sock) -> bytes:
    """Reads until the server closes; returns what came (TLS errors count as a close)."""
    out = b""
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return out
            out += chunk
    except (ConnectionResetError, ssl.SSLError, BrokenPipeError):
        return out


def tls_session(srv, certs, cert: str | None = None, first: bool = False):
    """A TLS client socket: INFO in plaintext then the handshake, or the handshake first."""
    sock = socket.create_connection((srv.host, srv.port), timeout=IO_TIMEOUT)
    info = None if first else read_plain_info(sock)
    tls = client_ctx(certs, cert).wrap_socket(sock, server_hostname="localhost")
    return tls, info


# ---- INFO --------------------------------------------------------------------------------------


@pytest.mark.parametrize("verify", [False, True])
def test_info_announces_tls(server_factory, certs, verify):
    srv = server_factory(*tls_flags(certs, verify))
    sock = socket.create_connection((srv.host, srv.port), timeout=IO_TIMEOUT)
    info = read_plain_info(sock)
    sock.close()
    assert info["tls_required"] is True
    assert info.get("tls_verify", False) is verify
    assert "tls_available" not in info
    keys = list(info)
    # Same position as nats-server: after headers/auth, before max_payload.
    assert keys.index("tls_required") < keys.index("max_payload")
    srv.wait_log(r"\[INF\] TLS required for client connections")


def test_plain_server_info_has_no_tls_fields(server):
    sock = socket.create_connection((server.host, server.port), timeout=IO_TIMEOUT)
    info = read_plain_info(sock)
    sock.close()
    assert not {"tls_required", "tls_verify", "tls_available"} & set(info)


# ---- the upgrade -------------------------------------------------------------------------------


def test_raw_upgrade_after_info_then_protocol(server_factory, certs):
    srv = server_factory(*tls_flags(certs), "-D")
    tls, info = tls_session(srv, certs)
    assert info["tls_required"] is True
    assert tls.version() == "TLSv1.3"
    tls.sendall(b'CONNECT {"verbose":false}\r\nSUB a 1\r\nPUB a 2\r\nhi\r\nPING\r\n')
    got = read_until(tls, b"PONG\r\n")
    assert got == b"MSG a 1 2\r\nhi\r\nPONG\r\n"
    tls.close()
    srv.wait_log(r"cid:\d+ - TLS handshake complete")
    srv.wait_log(r"cid:\d+ - TLS version 1\.3, cipher suite TLS_AES_128_GCM_SHA256")


async def test_nats_py_over_tls(server_factory, nats_connect, certs):
    srv = server_factory(*tls_flags(certs))
    nc = await nats_connect(srv, tls=client_ctx(certs), tls_hostname="localhost")
    sub = await nc.subscribe("greet.*")
    await nc.flush()
    nc2 = await nats_connect(srv, tls=client_ctx(certs), tls_hostname="localhost")
    await nc2.publish("greet.joe", b"hello" * 5000)
    msg = await sub.next_msg(timeout=IO_TIMEOUT)
    assert msg.data == b"hello" * 5000
    async def respond(m):
        await m.respond(b"pong:" + m.data)

    await nc.subscribe("svc", cb=respond)
    await nc.flush()
    r = await nc2.request("svc", b"1", timeout=IO_TIMEOUT)
    assert r.data == b"pong:1"


def test_plaintext_client_is_closed_without_reply(server_factory, certs):
    srv = server_factory(*tls_flags(certs), "-D")
    sock = socket.create_connection((srv.host, srv.port), timeout=IO_TIMEOUT)
    read_plain_info(sock)
    sock.sendall(b"CONNECT {}\r\nPING\r\n")
    assert recv_eof(sock) == b""  # no -ERR, no PONG: the server only closes
    srv.wait_log(r"\[DBG\] .* - cid:\d+ - TLS handshake error: tls: first record does not look like a TLS handshake")
    srv.wait_log(r"cid:\d+ - Client connection closed: TLS Handshake Failure")


def test_handshake_timeout(server_factory, certs, tmp_path):
    conf = write_conf(tmp_path, f"""
tls {{ cert_file: "{certs.server_pem}", key_file: "{certs.server_key}", timeout: 0.3 }}
""")
    srv = server_factory("-c", conf, "-D")
    sock = socket.create_connection((srv.host, srv.port), timeout=IO_TIMEOUT)
    read_plain_info(sock)
    assert recv_eof(sock) == b""  # closed by the server, well before IO_TIMEOUT
    srv.wait_log(r"TLS handshake error: read tcp 127\.0\.0\.1:\d+->127\.0\.0\.1:\d+: i/o timeout")
    srv.wait_log(r"Client connection closed: TLS Handshake Failure")
    assert srv.varz()["tls_timeout"] == 0.3
    assert srv.varz()["auth_timeout"] == 1.3  # tls timeout + 1s when not set


def test_client_closes_during_handshake_is_eof(server_factory, certs):
    srv = server_factory(*tls_flags(certs), "-D")
    sock = socket.create_connection((srv.host, srv.port), timeout=IO_TIMEOUT)
    read_plain_info(sock)
    sock.close()
    srv.wait_log(r"\[ERR\] .* - cid:\d+ - TLS handshake error: EOF")


# ---- client certificates -----------------------------------------------------------------------


def test_verify_accepts_client_cert_from_ca(server_factory, certs):
    srv = server_factory(*tls_flags(certs, verify=True))
    tls, info = tls_session(srv, certs, cert="client")
    assert info["tls_verify"] is True
    tls.sendall(b"CONNECT {}\r\nPING\r\n")
    assert read_until(tls, b"PONG\r\n").endswith(b"PONG\r\n")
    tls.close()


@pytest.mark.parametrize("cert, log", [
    (None, r"TLS handshake error: tls: client didn't provide a certificate"),
    ("rogue", r"TLS handshake error: tls: failed to verify certificate: x509: certificate signed by unknown authority"),
])
def test_verify_rejects(server_factory, certs, cert, log):
    srv = server_factory(*tls_flags(certs, verify=True), "-D")
    try:
        tls, _ = tls_session(srv, certs, cert=cert)
    except (ssl.SSLError, ConnectionResetError):
        pass  # TLS 1.2 style: the handshake itself fails
    else:
        # TLS 1.3: the client learns of the rejection on its first read.
        try:
            tls.sendall(b"CONNECT {}\r\nPING\r\n")
        except (ssl.SSLError, BrokenPipeError, ConnectionResetError):
            pass
        assert b"PONG" not in recv_eof(tls)
    srv.wait_log(r"\[ERR\] .* - cid:\d+ - " + log)
    srv.wait_log(r"Client connection closed: TLS Handshake Failure")


# ---- TLS first ---------------------------------------------------------------------------------


def handshake_first_conf(tmp_path, certs, first="true") -> str:
    return write_conf(tmp_path, f"""
tls {{ cert_file: "{certs.server_pem}", key_file: "{certs.server_key}", handshake_first: {first}, timeout: 0.5 }}
""")


def test_handshake_first_info_over_tls(server_factory, certs, tmp_path):
    srv = server_factory("-c", handshake_first_conf(tmp_path, certs))
    tls, _ = tls_session(srv, certs, first=True)
    line = read_until(tls, b"\r\n")
    assert line.startswith(b"INFO ")
    assert json.loads(line[5:line.index(b"\r\n")])["tls_required"] is True
    tls.sendall(b"CONNECT {}\r\nPING\r\n")
    assert read_until(tls, b"PONG\r\n").endswith(b"PONG\r\n")


def test_handshake_first_plain_client_gets_nothing(server_factory, certs, tmp_path):
    srv = server_factory("-c", handshake_first_conf(tmp_path, certs), "-D")
    sock = socket.create_connection((srv.host, srv.port), timeout=IO_TIMEOUT)
    assert recv_eof(sock) == b""  # no plaintext INFO; closed at the TLS timeout
    srv.wait_log(r"TLS handshake error: read tcp .*: i/o timeout")


def test_handshake_first_fallback_sends_info_to_silent_client(server_factory, certs, tmp_path):
    srv = server_factory("-c", handshake_first_conf(tmp_path, certs, '"50ms"'))
    # A client that waits for INFO gets it after the fallback delay, then upgrades as usual.
    tls, info = tls_session(srv, certs)
    assert info["tls_required"] is True
    tls.sendall(b"CONNECT {}\r\nPING\r\n")
    assert read_until(tls, b"PONG\r\n").endswith(b"PONG\r\n")
    tls.close()
    # A TLS-first client still works.
    tls, _ = tls_session(srv, certs, first=True)
    assert read_until(tls, b"\r\n").startswith(b"INFO ")


async def test_nats_py_tls_handshake_first(server_factory, nats_connect, certs, tmp_path):
    srv = server_factory("-c", handshake_first_conf(tmp_path, certs))
    nc = await nats_connect(srv, tls=client_ctx(certs), tls_hostname="localhost", tls_handshake_first=True)
    sub = await nc.subscribe("x")
    await nc.publish("x", b"first")
    assert (await sub.next_msg(timeout=IO_TIMEOUT)).data == b"first"


# ---- monitoring --------------------------------------------------------------------------------


def test_varz_tls_fields(make_server, certs):
    got = {}
    for kind in ("jetbroker", "nats-server"):
        if binary_for(kind) is None:
            pytest.skip(f"{kind} binary not found")
        srv = make_server(kind, *tls_flags(certs, verify=True))
        v = srv.varz()
        got[kind] = {k: v.get(k) for k in ("tls_required", "tls_verify", "tls_timeout", "auth_timeout",
                                           "tls_cert_not_after")}
    assert got["jetbroker"] == got["nats-server"]
    assert got["jetbroker"]["tls_required"] is True


def test_connz_tls_version(make_server, certs):
    got = {}
    for kind in ("jetbroker", "nats-server"):
        if binary_for(kind) is None:
            pytest.skip(f"{kind} binary not found")
        srv = make_server(kind, *tls_flags(certs))
        tls, _ = tls_session(srv, certs)
        tls.sendall(b"CONNECT {}\r\nPING\r\n")
        read_until(tls, b"PONG\r\n")
        c = srv.connz()["connections"][0]
        got[kind] = (c.get("tls_version"), c.get("tls_cipher_suite"))
        tls.close()
    assert got["jetbroker"] == got["nats-server"] == ("1.3", "TLS_AES_128_GCM_SHA256")


# ---- flags and start-up errors -----------------------------------------------------------------


def test_tls_false_overrides_cert_flags(server_factory, certs):
    srv = server_factory("--tls=false", "--tlscert", certs.server_pem, "--tlskey", certs.server_key)
    sock = socket.create_connection((srv.host, srv.port), timeout=IO_TIMEOUT)
    assert "tls_required" not in read_plain_info(sock)
    sock.sendall(b"CONNECT {}\r\nPING\r\n")
    assert read_until(sock, b"PONG\r\n")


def test_cert_flags_alone_turn_tls_on(server_factory, certs):
    srv = server_factory("--tlscert", certs.server_pem, "--tlskey", certs.server_key)
    sock = socket.create_connection((srv.host, srv.port), timeout=IO_TIMEOUT)
    assert read_plain_info(sock)["tls_required"] is True


@pytest.mark.parametrize("args, text", [
    (["--tls"], "TLS Server certificate must be present and valid"),
    (["--tls", "--tlscert", "/nonexistent/cert.pem", "--tlskey", "/nonexistent/key.pem"],
     "error parsing X509 certificate/key pair: open /nonexistent/cert.pem: no such file or directory"),
    (["--tls", "--tlscert", "{server_pem}", "--tlskey", "{client_key}"],
     "error parsing X509 certificate/key pair: tls: private key does not match public key"),
])
def test_startup_errors(server_kind, certs, args, text):
    args = [a.format(server_pem=certs.server_pem, client_key=certs.client_key) for a in args]
    r = subprocess.run([binary_for(server_kind), "-p", "-1", "-a", "127.0.0.1", *args],
                       capture_output=True, text=True, timeout=IO_TIMEOUT, stdin=subprocess.DEVNULL)
    assert r.returncode != 0
    assert text in r.stderr


def test_allow_non_tls_serves_both(server_factory, certs, tmp_path):
    conf = write_conf(tmp_path, f"""
allow_non_tls: true
tls {{ cert_file: "{certs.server_pem}", key_file: "{certs.server_key}" }}
""")
    srv = server_factory("-c", conf)
    srv.wait_log(r"\[INF\] TLS available for client connections")
    plain = socket.create_connection((srv.host, srv.port), timeout=IO_TIMEOUT)
    info = read_plain_info(plain)
    assert info["tls_available"] is True and "tls_required" not in info
    plain.sendall(b"CONNECT {}\r\nPING\r\n")
    assert read_until(plain, b"PONG\r\n") == b"+OK\r\nPONG\r\n"
    tls, _ = tls_session(srv, certs)
    tls.sendall(b"CONNECT {}\r\nPING\r\n")
    assert read_until(tls, b"PONG\r\n") == b"+OK\r\nPONG\r\n"
