"""The `nats` CLI (natscli) JetStream commands against both servers: stream add/info/ls/view/get/
purge/rm and consumer add/info/next/ls/rm, non-interactive (--defaults, -f, --json)."""

import json
import os
import subprocess

import pytest

from conftest import nats_cli_env

pytestmark = pytest.mark.timeout(90)

T = 15.0


@pytest.fixture
def js_cli(tmp_path):
    binary, env = nats_cli_env(tmp_path)

    class Cli:
        def run(self, srv, *args, ok=True, timeout=T) -> subprocess.CompletedProcess:
            r = subprocess.run([binary, "--no-context", "-s", srv.url, *args], capture_output=True,
                               timeout=timeout, env=env, stdin=subprocess.DEVNULL)
            if ok:
                assert r.returncode == 0, f"nats {' '.join(args)} -> {r.returncode}\n{r.stdout.decode()}\n{r.stderr.decode()}"
            return r

        def run_tty(self, srv, *args, timeout=T) -> tuple[int, str]:
            """Runs under a pseudo-terminal (stream view pages interactively); returns (rc, output)."""
            import pty
            import select
            import time

            master, slave = pty.openpty()
            p = subprocess.Popen([binary, "--no-context", "-s", srv.url, *args], stdin=slave, stdout=slave,
                                 stderr=slave, env=env, close_fds=True)
            os.close(slave)
            out = bytearray()
            deadline = time.monotonic() + timeout
            try:
                while time.monotonic() < deadline:
                    r, _, _ = select.select([master], [], [], 0.2)
                    if r:
                        try:
                            chunk = os.read(master, 65536)
                        except OSError:
                            break
                        if not chunk:
                            break
                        out += chunk
                    elif p.poll() is not None:
                        break
            finally:
                if p.poll() is None:
                    p.kill()
                p.wait()
                os.close(master)
            return p.returncode, out.decode("utf-8", "replace")

        def json(self, srv, *args):
            return json.loads(self.run(srv, *args, "--json").stdout)

    return Cli()


def add_stream(cli, srv, name="ORDERS", subjects="orders.>", *extra):
    return cli.run(srv, "stream", "add", name, "--subjects", subjects, "--storage", "file", "--replicas", "1",
                   "--defaults", *extra)


def test_js_cli_stream_lifecycle(js_server, js_cli):
    add_stream(js_cli, js_server, "ORDERS", "orders.>", "--max-msgs-per-subject", "5")
    info = js_cli.json(js_server, "stream", "info", "ORDERS")
    assert info["config"]["name"] == "ORDERS"
    assert info["config"]["subjects"] == ["orders.>"]
    assert info["config"]["max_msgs_per_subject"] == 5
    assert info["state"]["messages"] == 0

    for i in range(3):
        js_cli.run(js_server, "pub", f"orders.{i}", f"order {i}")
    info = js_cli.json(js_server, "stream", "info", "ORDERS")
    assert info["state"]["messages"] == 3 and info["state"]["last_seq"] == 3

    ls = js_cli.json(js_server, "stream", "ls")
    assert [s["config"]["name"] for s in ls] == ["ORDERS"] if isinstance(ls, list) and ls and isinstance(ls[0], dict) else ls == ["ORDERS"]
    names = js_cli.run(js_server, "stream", "ls", "--names").stdout.decode().split()
    assert names == ["ORDERS"]
    r = js_cli.run(js_server, "stream", "ls", "--subject", "orders.1", "--names")
    assert r.stdout.decode().split() == ["ORDERS"]
    r = js_cli.run(js_server, "stream", "ls", "--subject", "other", "--names")
    assert r.stdout.decode().split() == []

    got = js_cli.json(js_server, "stream", "get", "ORDERS", "2")
    assert got["subject"] == "orders.1" and got["seq"] == 2
    import base64
    assert base64.b64decode(got["data"]) == b"order 1"

    rc, out = js_cli.run_tty(js_server, "stream", "view", "ORDERS")
    assert rc == 0, out
    assert "order 0" in out and "order 1" in out and "order 2" in out, out

    js_cli.run(js_server, "stream", "purge", "ORDERS", "-f")
    info = js_cli.json(js_server, "stream", "info", "ORDERS")
    assert info["state"]["messages"] == 0 and info["state"]["first_seq"] == 4

    js_cli.run(js_server, "stream", "rm", "ORDERS", "-f")
    assert js_cli.run(js_server, "stream", "ls", "--names").stdout.decode().split() == []
    r = js_cli.run(js_server, "stream", "info", "ORDERS", ok=False)
    assert r.returncode != 0


def test_js_cli_stream_add_json_matches(js_server, js_cli):
    """`stream add` prints the created stream; `stream info --json` config equals what the server has."""
    add_stream(js_cli, js_server, "CFG", "cfg.*", "--max-msgs", "100", "--max-age", "1h", "--discard", "new",
               "--dupe-window", "1m", "--allow-rollup", "--deny-delete", "--description", "from cli")
    cfg = js_cli.json(js_server, "stream", "info", "CFG")["config"]
    assert cfg["max_msgs"] == 100
    assert cfg["max_age"] == 3600 * 10**9
    assert cfg["discard"] == "new"
    assert cfg["duplicate_window"] == 60 * 10**9
    assert cfg["allow_rollup_hdrs"] is True and cfg["deny_delete"] is True
    assert cfg["description"] == "from cli"


def test_js_cli_consumer_lifecycle(js_server, js_cli):
    add_stream(js_cli, js_server, "WORK", "work.*")
    for i in range(5):
        js_cli.run(js_server, "pub", "work.a", f"job {i}")
    js_cli.run(js_server, "consumer", "add", "WORK", "PULL", "--pull", "--ack", "explicit", "--deliver", "all",
               "--filter", "work.a", "--defaults")
    info = js_cli.json(js_server, "consumer", "info", "WORK", "PULL")
    assert info["name"] == "PULL" and info["config"]["durable_name"] == "PULL"
    assert info["config"]["ack_policy"] == "explicit" and info["config"]["filter_subject"] == "work.a"
    assert info["num_pending"] == 5

    r = js_cli.run(js_server, "consumer", "next", "WORK", "PULL", "--count", "2")
    out = r.stdout.decode() + r.stderr.decode()
    assert "job 0" in out and "job 1" in out, out
    info = js_cli.json(js_server, "consumer", "info", "WORK", "PULL")
    assert info["delivered"]["stream_seq"] == 2 and info["ack_floor"]["stream_seq"] == 2, info
    assert info["num_pending"] == 3

    r = js_cli.run(js_server, "consumer", "next", "WORK", "PULL", "--no-ack")
    assert "job 2" in r.stdout.decode() + r.stderr.decode()
    info = js_cli.json(js_server, "consumer", "info", "WORK", "PULL")
    assert info["num_ack_pending"] == 1

    js_cli.run(js_server, "consumer", "add", "WORK", "PUSH", "--target", "push.work", "--ack", "none",
               "--deliver", "last", "--defaults")
    names = js_cli.run(js_server, "consumer", "ls", "WORK", "--names").stdout.decode().split()
    assert sorted(names) == ["PULL", "PUSH"]
    ls = js_cli.run(js_server, "consumer", "ls", "WORK").stdout.decode()
    assert "PULL" in ls and "PUSH" in ls

    js_cli.run(js_server, "consumer", "rm", "WORK", "PUSH", "-f")
    names = js_cli.run(js_server, "consumer", "ls", "WORK", "--names").stdout.decode().split()
    assert names == ["PULL"]
    r = js_cli.run(js_server, "consumer", "info", "WORK", "PUSH", ok=False)
    assert r.returncode != 0


def test_js_cli_account_info(js_server, js_cli):
    add_stream(js_cli, js_server, "ACC", "acc")
    r = js_cli.run(js_server, "account", "info")
    out = r.stdout.decode()
    assert "Streams" in out or "streams" in out.lower(), out
