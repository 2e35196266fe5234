"""Signals as nats-server handles them: SIGUSR2 lame-duck mode, SIGHUP reload, SIGUSR1 log reopen."""

from __future__ import annotations

import asyncio
import signal

import pytest


async def test_sigusr2_lame_duck_info(make_server, server_kind, nats_connect, tmp_path):
    """The nats.py harness sends SIGUSR2 and expects an async INFO with ldm: true within 5 s.

    A short grace period keeps the run quick: with the default (10 s) nats-server holds the
    SIGTERM of the teardown until the grace period is over."""
    conf = tmp_path / "ldm.conf"
    conf.write_text('lame_duck_grace_period: "200ms"\n')
    server = make_server(server_kind, "-c", str(conf))
    got = asyncio.get_running_loop().create_future()

    async def ldm():
        if not got.done():
            got.set_result(True)

    await nats_connect(server, lame_duck_mode_cb=ldm)
    server.proc.send_signal(signal.SIGUSR2)
    assert await asyncio.wait_for(got, 5) is True
    # The listener is closed: new connections are refused while in lame-duck mode.
    import socket
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", server.port), timeout=2)
    # After the grace period the server closes the remaining client and exits cleanly.
    assert await asyncio.get_running_loop().run_in_executor(None, server.proc.wait, 10) == 0
    server.stop()


def test_sighup_reloads_debug_logging(make_server, server_kind, tmp_path):
    conf = tmp_path / "reload.conf"
    conf.write_text("debug: false\n")
    srv = make_server(server_kind, "-c", str(conf))
    conf.write_text("debug: true\n")
    srv.proc.send_signal(signal.SIGHUP)
    srv.wait_log(r"Reloaded server configuration")
    # With debug on, a new client connection is logged at debug level.
    import socket
    s = socket.create_connection(("127.0.0.1", srv.port))
    s.recv(4096)
    s.close()
    srv.wait_log(r"\[DBG\].*Client connection")


def test_sigusr1_reopens_log_file(tmp_path):
    """Log rotation: rename the file, SIGUSR1, and the broker writes to a new file of that name."""
    import subprocess
    import time
    from conftest import binary_for

    binary = binary_for("jetbroker")
    if binary is None:
        pytest.skip("jetbroker binary not found")
    log = tmp_path / "broker.log"
    proc = subprocess.Popen([binary, "-p", "-1", "-a", "127.0.0.1", "-l", str(log)])
    try:
        def wait(pred, what):
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                if pred():
                    return
                time.sleep(0.02)  # polling a file: there is no event to await
            raise AssertionError(f"timed out waiting for {what}")

        wait(lambda: log.exists() and "Server is ready" in log.read_text(), "the log file")
        log.rename(tmp_path / "broker.log.1")
        proc.send_signal(signal.SIGUSR1)
        wait(lambda: log.exists() and "Reopened log file" in log.read_text(), "the reopened log file")
        assert "Server is ready" in (tmp_path / "broker.log.1").read_text()
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0


def test_signal_flag_lame_duck_by_pid_file(make_server, server_kind, tmp_path):
    """`--signal ldm=<pid file>` (the official systemd unit and Helm chart use it)."""
    import subprocess
    from conftest import binary_for

    pid_file = tmp_path / "srv.pid"
    srv = make_server(server_kind, "-P", str(pid_file))
    srv.wait_for(lambda: pid_file.exists() and pid_file.read_text().strip() != "", what="pid file")
    rc = subprocess.run([binary_for(server_kind), f"--signal=ldm={pid_file}"], timeout=10).returncode
    assert rc == 0
    srv.wait_log(r"[Ll]ame duck mode")


def test_signal_flag_errors(tmp_path):
    import subprocess
    from conftest import binary_for

    binary = binary_for("jetbroker")
    if binary is None:
        pytest.skip("jetbroker binary not found")
    bad = subprocess.run([binary, "--signal", "bogus=1"], capture_output=True, text=True, timeout=10)
    assert bad.returncode == 1 and "unknown signal" in bad.stderr
    missing = subprocess.run([binary, "--signal", f"reload={tmp_path / 'nope.pid'}"], capture_output=True,
                             text=True, timeout=10)
    assert missing.returncode == 1 and "pid" in missing.stderr
