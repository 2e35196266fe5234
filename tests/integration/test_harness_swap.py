"""Existing nats-server harnesses work by swapping the binary (issue 7).

The Java client's own server-starting helper, io.nats:jnats-server-runner (NatsServerRunner, the
harness jnats' and its users' tests start servers with), is pointed at jetbroker instead of
nats-server by its `executablePath` setting; the Java client then runs core request/reply,
JetStream publishes, a pull consumer and a KV bucket through it. The same program runs against
nats-server and the transcripts must match (tests/harness/java/HarnessSwap.java). The runner's
start-up check reads INFO and then waits for the server's first PING, which nats-server sends about
2 s after a client connects: a server that pings only at ping_interval hangs the harness.
"""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import binary_for

pytestmark = pytest.mark.timeout(180)

ROOT = Path(__file__).resolve().parents[2]
HARNESS = ROOT / "tests" / "harness" / "java"


def run_harness(binary: str, tmp: Path) -> list[str]:
    cp = (HARNESS / "classpath.txt").read_text().strip()
    tmp.mkdir(parents=True, exist_ok=True)
    # Both servers put `-js` data under the temp dir when no store_dir is given: a fresh one per run.
    env = {**os.environ, "TMPDIR": str(tmp)}
    p = subprocess.run(["java", "-Djava.io.tmpdir=" + str(tmp), "-cp", cp, str(HARNESS / "HarnessSwap.java"), binary],
                       capture_output=True, text=True, timeout=150, env=env)
    assert p.returncode == 0, f"harness failed against {binary}:\n{p.stdout}\n{p.stderr}"
    return p.stdout.splitlines()


def test_java_server_runner_swaps_in_jetbroker(tmp_path):
    if shutil.which("java") is None or not (HARNESS / "classpath.txt").exists():
        pytest.skip("java or the harness jars missing (scripts/setup.sh resolves them with maven)")
    jb, ns = binary_for("jetbroker"), binary_for("nats-server")
    if jb is None or ns is None:
        pytest.skip("a server binary is missing")
    got = {}
    for kind, binary in (("jetbroker", jb), ("nats-server", ns)):
        out = run_harness(str(binary), tmp_path / kind)
        assert out and out[-1] == "done", out
        # the runner started exactly the binary it was given, with its own flags
        assert out[0].startswith(f"info cmdline {binary} --port ") and out[0].endswith(" -js"), out[0]
        got[kind] = [line for line in out if not line.startswith("info ")]
    assert got["jetbroker"] == got["nats-server"]
    assert "fetched h.1=m1@1 h.2=m2@2 h.3=m3@3 h.4=m4@4 h.5=m5@5" in got["jetbroker"]
