"""docker/ and config/jetbroker.service, checked without a Docker engine or a running systemd.

- Dockerfile: parsed by a small parser below (continuations, comments, JSON/shell forms, flags):
  a builder and a slim runtime stage, EXPOSE 4222 8222 8080, VOLUME /data, a non-root USER,
  ENTRYPOINT/CMD/HEALTHCHECK pointing at files the stage copies in, the builder's -dev packages
  in step with scripts/setup.sh, the runtime packages covering what the built binary links
  (ldd + dpkg; the static build needs none), and Dockerfile.dockerignore keeping host build trees out of the context.
- docker-entrypoint.sh: run with bash and a stub broker (JETBROKER_BIN) to check the argument
  list it execs, then for real with build/jetbroker (Server is ready, /healthz, JetStream from
  JETBROKER_JETSTREAM) and the healthcheck script against it.
- docker/jetbroker.conf: `jetbroker -t -c` (and nats-server -t when installed).
- docker-compose.yml: YAML (PyYAML in process, else a python3 that has it; skipped otherwise).
- config/jetbroker.service: parsed for the required keys, checked against production.conf's
  paths and lame-duck duration, and `systemd-analyze verify` when present.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
DOCKER = REPO / "docker"
DOCKERFILE = DOCKER / "Dockerfile"
DOCKERIGNORE = DOCKER / "Dockerfile.dockerignore"
ENTRYPOINT = DOCKER / "docker-entrypoint.sh"
HEALTHCHECK = DOCKER / "healthcheck.sh"
DOCKER_CONF = DOCKER / "jetbroker.conf"
COMPOSE = DOCKER / "docker-compose.yml"
UNIT = REPO / "config" / "jetbroker.service"
PRODUCTION_CONF = REPO / "config" / "examples" / "production.conf"

IMAGE_CONF = "/etc/jetbroker/jetbroker.conf"


def jetbroker_bin() -> str | None:
    path = os.environ.get("JETBROKER_BIN", str(REPO / "build" / "jetbroker"))
    return path if Path(path).is_file() and os.access(path, os.X_OK) else None


# ---- a small Dockerfile parser ----------------------------------------------------------------


@dataclass
class Instruction:
    keyword: str  # upper case: FROM, RUN, COPY, ...
    flags: dict[str, str]  # --from=build, --chmod=0755, --interval=10s
    args: str  # the rest, raw
    line: int

    def json_or_words(self) -> list[str]:
        """Exec (JSON array) form decoded, or the shell form split on whitespace."""
        a = self.args.strip()
        if a.startswith("["):
            v = json.loads(a)
            assert isinstance(v, list) and all(isinstance(x, str) for x in v), self
            return v
        return a.split()


@dataclass
class Stage:
    image: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]

    def last(self, keyword: str) -> Instruction | None:
        found = self.all(keyword)
        return found[-1] if found else None

    def run_text(self) -> str:
        return "\n".join(i.args for i in self.all("RUN"))


KNOWN = {"FROM", "RUN", "CMD", "LABEL", "EXPOSE", "ENV", "ADD", "COPY", "ENTRYPOINT", "VOLUME",
         "USER", "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK", "SHELL", "MAINTAINER"}


def parse_dockerfile(text: str) -> list[Stage]:
    """Docker's rules that matter here: `\\` continues a line, lines starting with `#` are
    comments (also inside a continuation), keywords are case-insensitive, `--flag=value` options
    precede the arguments. Raises AssertionError on anything it does not understand."""
    logical: list[tuple[int, str]] = []
    buf, start = "", 0
    for n, raw in enumerate(text.splitlines(), 1):
        if raw.strip().startswith("#"):
            continue  # comment or parser directive (`# syntax=`)
        if not buf and not raw.strip():
            continue
        if not buf:
            start = n
        if raw.rstrip().endswith("\\"):
            buf += raw.rstrip()[:-1] + " "
            continue
        buf += raw
        logical.append((start, buf.strip()))
        buf = ""
    assert not buf, f"Dockerfile ends inside a line continuation (line {start})"

    stages: list[Stage] = []
    for n, line in logical:
        m = re.match(r"(\S+)\s*(.*)$", line, re.S)
        assert m, line
        kw, rest = m.group(1).upper(), m.group(2)
        assert kw in KNOWN, f"line {n}: unknown instruction {m.group(1)!r}"
        flags: dict[str, str] = {}
        while True:
            fm = re.match(r"--([a-z-]+)(?:=(\S*))?\s+(.*)$", rest, re.S)
            if not fm:
                break
            flags[fm.group(1)] = fm.group(2) or ""
            rest = fm.group(3)
        ins = Instruction(kw, flags, rest.strip(), n)
        if kw == "FROM":
            fm = re.match(r"(\S+)(?:\s+AS\s+(\S+))?\s*$", ins.args, re.I)
            assert fm, f"line {n}: bad FROM {ins.args!r}"
            stages.append(Stage(fm.group(1), fm.group(2)))
            continue
        assert stages or kw == "ARG", f"line {n}: {kw} before the first FROM"
        if stages:
            stages[-1].instructions.append(ins)
    return stages


@pytest.fixture(scope="module")
def stages() -> list[Stage]:
    return parse_dockerfile(DOCKERFILE.read_text())


def copied(stage: Stage) -> dict[str, str]:
    """COPY source (repo-relative) -> destination, for copies from the build context."""
    out = {}
    for c in stage.all("COPY"):
        if "from" in c.flags:
            continue
        *srcs, dest = c.json_or_words()
        for s in srcs:
            out[s] = dest
    return out


def test_parser_rejects_garbage():
    """The parser itself must be able to fail, or the tests below prove nothing."""
    with pytest.raises(AssertionError):
        parse_dockerfile("FROM debian:12\nRUN echo \\\n")
    with pytest.raises(AssertionError):
        parse_dockerfile("FROM debian:12\nFROBNICATE x\n")
    with pytest.raises(AssertionError):
        parse_dockerfile("RUN true\n")
    s = parse_dockerfile("# c\nFROM a AS b\nRUN x \\\n  # inner comment\n  && y\nCOPY --from=b /o /o\n")
    assert s[0].name == "b" and s[0].all("RUN")[0].args.split() == ["x", "&&", "y"]
    assert s[0].all("COPY")[0].flags == {"from": "b"}


def test_dockerfile_has_builder_and_slim_runtime(stages):
    assert len(stages) >= 2
    builder, final = stages[0], stages[-1]
    assert builder.image == "debian:12" and builder.name
    assert final.image == "debian:12-slim"
    assert "cmake --preset release" in builder.run_text()
    # The runtime takes both executables from the builder, not from the host, into one directory
    # (jetbroker execs jetbroker-filestore from beside itself).
    froms = [c.json_or_words() for c in final.all("COPY") if c.flags.get("from") == builder.name]
    installed = {w.rsplit("/", 1)[-1] for words in froms if words[-1] == "/usr/local/bin/" for w in words[:-1]}
    assert {"jetbroker", "jetbroker-filestore"} <= installed, froms
    assert "build-release/jetbroker-filestore /out/jetbroker-filestore" in builder.run_text()
    assert not final.all("ADD")


def test_dockerfile_ports_volume_user(stages):
    final = stages[-1]
    ports = {p.split("/")[0] for e in final.all("EXPOSE") for p in e.json_or_words()}
    assert {"4222", "8222", "8080"} <= ports
    volumes = {v for e in final.all("VOLUME") for v in e.json_or_words()}
    assert "/data" in volumes
    user = final.last("USER")
    assert user is not None, "the final stage must set a USER"
    name = user.args.split(":")[0].strip()
    assert name not in ("", "root", "0"), user
    # /data is created for that uid before VOLUME, so fresh named volumes are writable.
    assert re.search(r"install -d -o jetbroker -g jetbroker[^\n]* /data", final.run_text())
    assert "--uid 10001" in final.run_text() and name in ("10001", "jetbroker")


def test_dockerfile_entrypoint_cmd_healthcheck(stages):
    final = stages[-1]
    files = copied(final)
    ep = final.last("ENTRYPOINT")
    assert ep is not None and ep.args.startswith("["), "ENTRYPOINT in exec form (signals reach PID 1)"
    assert ep.json_or_words() == [files["docker/docker-entrypoint.sh"]]
    cmd = final.last("CMD")
    assert cmd is not None and cmd.json_or_words() == ["--config", IMAGE_CONF]
    assert files["docker/jetbroker.conf"] == IMAGE_CONF
    hc = final.last("HEALTHCHECK")
    assert hc is not None
    hc_words = hc.args.split(None, 1)
    assert hc_words[0].upper() == "CMD"
    assert Instruction("CMD", {}, hc_words[1], 0).json_or_words()[0] == files["docker/healthcheck.sh"]
    for k in ("interval", "timeout", "retries"):
        assert k in hc.flags
    for src in ("docker/docker-entrypoint.sh", "docker/healthcheck.sh"):
        assert os.access(REPO / src, os.X_OK), f"{src} must be executable in git too"


def _apt_words(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9][a-z0-9.+-]+", text))


def test_builder_dev_packages_match_setup_sh(stages):
    setup = (REPO / "scripts" / "setup.sh").read_text()
    m = re.search(r"APT_PACKAGES=\((.*?)\)", setup, re.S)
    assert m, "APT_PACKAGES not found in scripts/setup.sh"
    wanted = [p for p in m.group(1).split()
              if p.endswith("-dev") and not re.match(r"lib(gtest|gmock|benchmark|clang)", p)]
    assert wanted, "no -dev packages found"
    have = _apt_words(stages[0].run_text())
    assert not [p for p in wanted if p not in have], f"builder misses {wanted}"
    for tool in ("cmake", "ninja-build", "build-essential"):
        assert tool in have


def daemon_bins() -> list[str]:
    """The built jetbroker and the jetbroker-filestore beside it (both go into the image)."""
    b = jetbroker_bin()
    if not b:
        return []
    other = Path(b).parent / "jetbroker-filestore"
    return [b, str(other)] if other.is_file() else [b]


def elf_interpreter(path: str) -> str | None:
    """PT_INTERP of a 64-bit little-endian ELF file: the dynamic loader it asks for, None if static."""
    with open(path, "rb") as f:
        head = f.read(64)
        assert head[:4] == b"\x7fELF" and head[4] == 2 and head[5] == 1, f"{path}: not an ELF64 LE file"
        phoff, = struct.unpack_from("<Q", head, 32)
        phentsize, phnum = struct.unpack_from("<HH", head, 54)
        for i in range(phnum):
            f.seek(phoff + i * phentsize)
            p_type, _flags, p_offset, _vaddr, _paddr, p_filesz = struct.unpack("<IIQQQQ", f.read(40))
            if p_type == 3:  # PT_INTERP
                f.seek(p_offset)
                return f.read(p_filesz).rstrip(b"\0").decode()
    return None


def test_elf_interpreter_reader():
    """The reader must be able to tell a dynamic executable from a static one."""
    assert elf_interpreter(sys.executable) is not None or elf_interpreter(os.path.realpath(sys.executable))
    with pytest.raises(AssertionError):
        elf_interpreter(__file__)


def test_runtime_packages_cover_the_binaries(stages):
    """Every shared library a built executable links comes from a package the runtime installs
    (the static release build links none; a JB_STATIC_DEPS=OFF build links several)."""
    bins = daemon_bins()
    if not bins or not shutil.which("ldd") or not shutil.which("dpkg-query"):
        pytest.skip("needs the built binaries, ldd and dpkg")
    if os.environ.get("JB_SANITIZED"):
        pytest.skip("a sanitizer build links the sanitizer runtimes and Debug Boost; the image ships a release build")
    assert len(bins) == 2, f"jetbroker-filestore is missing beside {bins[0]}"
    pkgs = set()
    for binary in bins:
        out = subprocess.run(["ldd", binary], capture_output=True, text=True).stdout
        for lib in re.findall(r"=>\s+(/\S+)", out):
            real = os.path.realpath(lib)
            for cand in (real, re.sub(r"^/lib/", "/usr/lib/", real), lib, re.sub(r"^/usr/lib/", "/lib/", real)):
                r = subprocess.run(["dpkg-query", "-S", cand], capture_output=True, text=True)
                if r.returncode == 0:
                    pkgs.add(r.stdout.split(":")[0].strip())
                    break
            else:
                pytest.fail(f"no package owns {lib}")
    essential = {"libc6", "libgcc-s1", "libstdc++6"}  # in every Debian image
    have = _apt_words(stages[-1].run_text())
    missing = sorted(pkgs - essential - have)
    assert not missing, f"runtime stage does not install {missing}"
    assert not [w for w in have if w.endswith("-dev")], "no -dev packages in the runtime image"


def test_release_binaries_are_static():
    """The static build (JB_STATIC_DEPS) links glibc too: no dynamic loader runs at start-up and
    only the code the broker uses is mapped (docs/benchmarks.md, "Resources"); the runtime image
    installs nothing for it."""
    bins = daemon_bins()
    if not bins:
        pytest.skip("needs the built binaries")
    if os.environ.get("JB_SANITIZED"):
        pytest.skip("sanitizer builds link shared libraries on purpose")
    assert len(bins) == 2, f"jetbroker-filestore is missing beside {bins[0]}"
    for b in bins:
        assert elf_interpreter(b) is None, f"{b} asks for the dynamic loader {elf_interpreter(b)}"


def _dockerignored(path: str, patterns: list[str]) -> bool:
    """Docker's .dockerignore matching, enough for plain and `**` patterns (last match wins)."""
    parts = path.split("/")

    def match(pat: list[str], p: list[str]) -> bool:
        if not pat:
            return not p
        if pat[0] == "**":
            return any(match(pat[1:], p[i:]) for i in range(len(p) + 1))
        return bool(p) and fnmatch.fnmatchcase(p[0], pat[0]) and match(pat[1:], p[1:])

    ignored = False
    for raw in patterns:
        neg = raw.startswith("!")
        pat = raw[1:] if neg else raw
        pat = pat.strip("/").split("/")
        # A pattern that matches a directory excludes everything under it.
        if any(match(pat, parts[:i]) for i in range(1, len(parts) + 1)):
            ignored = not neg
    return ignored


def test_dockerignore_keeps_sources_and_drops_build_trees(stages):
    patterns = [ln.strip() for ln in DOCKERIGNORE.read_text().splitlines()
                if ln.strip() and not ln.strip().startswith("#")]
    for p in ("build-release/CMakeCache.txt", "build/jetbroker", "build-asan/x", ".git/HEAD",
              ".venv/bin/python", "tests/integration/__pycache__/x.pyc"):
        assert _dockerignored(p, patterns), p
    tracked = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True,
                             check=True).stdout.split()
    assert "CMakeLists.txt" in tracked
    dropped = [t for t in tracked if _dockerignored(t, patterns)]
    assert not dropped, f"tracked files left out of the build context: {dropped[:10]}"
    for src in copied(stages[-1]):
        assert (REPO / src).exists() and not _dockerignored(src, patterns), src


# ---- entrypoint ---------------------------------------------------------------------------------


@pytest.fixture
def stub(tmp_path):
    """A fake broker that records its argv (NUL separated) and exits 0."""
    out = tmp_path / "argv"
    path = tmp_path / "fake-jetbroker"
    path.write_text(f"#!/bin/sh\n: > '{out}'\nfor a; do printf '%s\\0' \"$a\" >> '{out}'; done\n")
    path.chmod(0o755)
    return path, out


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("JETBROKER_") and k != "NATS_JETSTREAM"}
    env.update(extra)
    return env


def run_entrypoint(stub, *args: str, **env: str) -> list[str]:
    path, out = stub
    if out.exists():
        out.unlink()
    r = subprocess.run(["bash", str(ENTRYPOINT), *args], env=clean_env(JETBROKER_BIN=str(path), **env),
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 0, r.stderr
    assert out.exists(), f"the broker was not run: {r.stdout} {r.stderr}"
    return out.read_bytes().decode().split("\0")[:-1]


C = ["--config", IMAGE_CONF]

ENTRYPOINT_CASES = [
    # (args, env, expected argv)
    ([], {}, C),
    (["--config", IMAGE_CONF], {}, C),  # the image's CMD: the config is not doubled
    (["-js", "-sd", "/data", "-m", "8222"], {}, C + ["-js", "-sd", "/data", "-m", "8222"]),
    (["nats-server", "--user", "a"], {}, C + ["--user", "a"]),
    (["jetbroker", "-DV"], {}, C + ["-DV"]),
    (["/usr/local/bin/nats-server", "-p", "4333"], {}, C + ["-p", "4333"]),
    (["--user", "a b", "--pass", "*"], {}, C + ["--user", "a b", "--pass", "*"]),
    ([], {"JETBROKER_JETSTREAM": "true"}, C + ["-js", "-sd", "/data"]),
    ([], {"JETBROKER_JETSTREAM": "TRUE"}, C + ["-js", "-sd", "/data"]),
    ([], {"NATS_JETSTREAM": "1"}, C + ["-js", "-sd", "/data"]),
    ([], {"JETBROKER_JETSTREAM": "false"}, C),
    ([], {"JETBROKER_JETSTREAM": "false", "NATS_JETSTREAM": "true"}, C),  # ours wins
    ([], {"JETBROKER_JETSTREAM": "yes", "JETBROKER_STORE_DIR": "/s"}, C + ["-js", "-sd", "/s"]),
    ([], {"JETBROKER_JETSTREAM": "on", "JETBROKER_STORE_DIR": ""}, C + ["-js"]),  # config's store_dir
    ([], {"JETBROKER_STORE_DIR": "/s"}, C + ["-sd", "/s"]),
    (["-js", "-sd", "/x"], {"JETBROKER_JETSTREAM": "true"}, C + ["-js", "-sd", "/x"]),
    (["--jetstream", "--store_dir=/x"], {"JETBROKER_JETSTREAM": "true"}, C + ["--jetstream", "--store_dir=/x"]),
    (["-js=false"], {"JETBROKER_JETSTREAM": "true"}, C + ["-sd", "/data", "-js=false"]),
    (["-c", "/my.conf"], {}, ["-c", "/my.conf"]),
    (["--config=/my.conf", "-DV"], {}, ["--config=/my.conf", "-DV"]),
    ([], {"JETBROKER_CONFIG": ""}, []),
    ([], {"JETBROKER_CONFIG": "/other.conf"}, ["--config", "/other.conf"]),
    (["-m", "0"], {"JETBROKER_ARGS": " -DV   -p 4333 -c /a.conf "}, ["-DV", "-p", "4333", "-c", "/a.conf", "-m", "0"]),
    (["-p", "1"], {"JETBROKER_ARGS": "-sd /e", "JETBROKER_JETSTREAM": "true"}, C + ["-sd", "/e", "-js", "-p", "1"]),
    ([], {"JETBROKER_ARGS": "*"}, C + ["*"]),  # no globbing
]


@pytest.mark.parametrize("args,env,expected", ENTRYPOINT_CASES,
                         ids=[f"{' '.join(a) or 'no-args'}|{' '.join(f'{k}={v}' for k, v in e.items())}"
                              for a, e, _ in ENTRYPOINT_CASES])
def test_entrypoint_argv(stub, args, env, expected):
    assert run_entrypoint(stub, *args, **env) == expected


def test_entrypoint_uses_dockerfile_cmd(stub, stages):
    cmd = stages[-1].last("CMD").json_or_words()
    assert run_entrypoint(stub, *cmd) == C
    # The command's own --config is kept (after the env-derived flags), not doubled.
    assert run_entrypoint(stub, *cmd, JETBROKER_JETSTREAM="true") == ["-js", "-sd", "/data", *C]


def test_entrypoint_runs_other_commands(stub):
    path, out = stub
    r = subprocess.run(["bash", str(ENTRYPOINT), "sh", "-c", "echo hello $0", "x"],
                       env=clean_env(JETBROKER_BIN=str(path)), capture_output=True, text=True, timeout=10)
    assert r.returncode == 0 and r.stdout == "hello x\n"
    assert not out.exists()


def test_scripts_parse():
    for script in (ENTRYPOINT, HEALTHCHECK):
        assert script.read_text().startswith("#!/usr/bin/env bash\n")
        r = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        if shutil.which("shellcheck"):
            r = subprocess.run(["shellcheck", str(script)], capture_output=True, text=True)
            assert r.returncode == 0, r.stdout


# ---- the real broker through the entrypoint -----------------------------------------------------


class EntrypointBroker:
    def __init__(self, env: dict[str, str], args: list[str]):
        self.log: list[str] = []
        self.ready = threading.Event()
        self.proc = subprocess.Popen(["bash", str(ENTRYPOINT), *args], env=env, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.log.append(line.rstrip("\n"))
            if "Server is ready" in line:
                self.ready.set()

    def text(self) -> str:
        return "\n".join(self.log)

    def monitor_port(self) -> int:
        m = re.search(r"Starting http monitor on \S+:(\d+)", self.text())
        assert m, self.text()
        return int(m.group(1))

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait(5)
        self.reader.join(5)
        return rc


def http_get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def run_healthcheck(port: int, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(HEALTHCHECK), *args], capture_output=True, text=True, timeout=15,
                          env=clean_env(JETBROKER_HEALTHCHECK_PORT=str(port)))


@pytest.mark.parametrize("jetstream", ["true", "false"])
def test_entrypoint_starts_real_broker(tmp_path, jetstream):
    binary = jetbroker_bin()
    if not binary:
        pytest.skip("build/jetbroker not built")
    # The image's config, with the WebSocket port made ephemeral so parallel runs don't collide
    # once WebSocket is served; client and monitor ports come from JETBROKER_ARGS.
    conf_text, n = re.subn(r"(websocket\s*\{[^}]*?port:\s*)8080", r"\g<1>-1", DOCKER_CONF.read_text())
    assert n == 1, "docker/jetbroker.conf no longer has `websocket { port: 8080 }`"
    conf = tmp_path / "jetbroker.conf"
    conf.write_text(conf_text)
    store = tmp_path / "data"
    store.mkdir()
    env = clean_env(JETBROKER_BIN=binary, JETBROKER_CONFIG=str(conf), JETBROKER_JETSTREAM=jetstream,
                    JETBROKER_STORE_DIR=str(store), JETBROKER_ARGS="-a 127.0.0.1 -p -1 -m -1")
    b = EntrypointBroker(env, [])
    try:
        deadline = time.monotonic() + 15
        while not b.ready.wait(0.1) and b.proc.poll() is None and time.monotonic() < deadline:
            pass
        assert b.ready.is_set(), f"no 'Server is ready' (exit {b.proc.poll()}):\n{b.text()}"
        # exec: the process docker would signal is the broker itself, not a shell (with a store
        # directory jetbroker has exec'd jetbroker-filestore in the same process).
        image = binary if jetstream != "true" else str(Path(binary).parent / "jetbroker-filestore")
        assert os.path.realpath(f"/proc/{b.proc.pid}/exe") == os.path.realpath(image)
        port = b.monitor_port()
        status, body = http_get(port, "/healthz")
        assert status == 200 and json.loads(body)["status"] == "ok"
        js_status, _ = http_get(port, "/healthz?js-enabled-only=true")
        _, jsz = http_get(port, "/jsz")
        if jetstream == "true":
            assert f'Store Directory: "{store}/jetstream"' in b.text()
            assert js_status == 200
            assert not json.loads(jsz).get("disabled", False)
            assert (store / "jetstream").is_dir()
        else:
            assert "Starting JetStream" not in b.text()
            assert js_status == 200  # as nats-server 2.14.9: healthy, JetStream is just not configured
            assert json.loads(jsz).get("disabled") is True
        # The image's HEALTHCHECK against this broker.
        hc = run_healthcheck(port)
        assert hc.returncode == 0, hc.stderr
        hc = run_healthcheck(port, "/healthz?js-enabled-only=true")
        assert hc.returncode == 0, hc.stderr
        assert run_healthcheck(port, "/no-such-endpoint").returncode != 0
    finally:
        rc = b.stop()
    assert rc == 0, b.text()
    assert "Server Exiting" in b.text()
    hc = run_healthcheck(port)
    assert hc.returncode != 0 and "unhealthy" in hc.stderr


# ---- default config -----------------------------------------------------------------------------


def test_docker_config_is_valid():
    binary = jetbroker_bin()
    if not binary:
        pytest.skip("build/jetbroker not built")
    r = subprocess.run([binary, "-t", "-c", str(DOCKER_CONF)], capture_output=True, text=True, timeout=10)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "is valid" in r.stdout + r.stderr


def test_docker_config_is_valid_for_nats_server():
    """Drop-in: the same file works with the reference server (when installed)."""
    ref = os.environ.get("NATS_SERVER_BIN") or str(Path.home() / "go" / "bin" / "nats-server")
    if not Path(ref).exists():
        ref = shutil.which("nats-server") or ""
    if not ref:
        pytest.skip("nats-server not installed")
    r = subprocess.run([ref, "-t", "-c", str(DOCKER_CONF)], capture_output=True, text=True, timeout=10)
    assert r.returncode == 0, r.stdout + r.stderr


def test_docker_config_matches_image():
    text = re.sub(r"#.*", "", DOCKER_CONF.read_text())
    assert re.search(r"^\s*port:\s*4222\s*$", text, re.M)
    assert re.search(r"^\s*(monitor_port|http_port|http):\s*8222\s*$", text, re.M)
    assert re.search(r"websocket\s*\{[^}]*port:\s*8080", text)
    assert re.search(r"websocket\s*\{[^}]*no_tls:\s*true", text)
    # JetStream off unless asked for, but its store in the volume.
    assert re.search(r"jetstream\s*\{[^}]*enabled:\s*false", text)
    assert re.search(r'jetstream\s*\{[^}]*store_dir:\s*"?/data"?', text)


# ---- compose ------------------------------------------------------------------------------------


def load_yaml(path: Path):
    try:
        import yaml  # noqa: PLC0415
        return yaml.safe_load(path.read_text())
    except ImportError:
        pass
    for py in ("/usr/bin/python3", shutil.which("python3")):
        if not py:
            continue
        r = subprocess.run([py, "-c", "import json,sys,yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))",
                            str(path)], capture_output=True, text=True)
        if r.returncode == 0:
            return json.loads(r.stdout)
        if "No module named" not in r.stderr:
            pytest.fail(f"YAML error in {path}: {r.stderr}")
    pytest.skip("PyYAML not available")


def test_compose_file():
    doc = load_yaml(COMPOSE)
    svc = doc["services"]["jetbroker"]
    build = svc["build"]
    assert (COMPOSE.parent / build["context"] / build["dockerfile"]).resolve() == DOCKERFILE
    container_ports = set()
    for p in svc["ports"]:
        s = str(p["target"]) if isinstance(p, dict) else str(p).rsplit(":", 1)[-1]
        container_ports.add(s.split("/")[0])
    assert {"4222", "8222", "8080"} <= container_ports
    mounts = [v if isinstance(v, str) else f"{v['source']}:{v['target']}" for v in svc["volumes"]]
    data = [m for m in mounts if m.split(":")[1] == "/data"]
    assert data, mounts
    assert data[0].split(":")[0] in (doc.get("volumes") or {}), "named volume not declared"
    env = svc["environment"]
    if isinstance(env, list):
        env = dict(e.split("=", 1) for e in env)
    assert str(env.get("JETBROKER_JETSTREAM")).lower() == "true"
    assert "command" not in svc, "JetStream comes from the environment, not a command"
    assert svc["healthcheck"]["test"][:2] == ["CMD", "/usr/local/bin/jetbroker-healthcheck"]
    for name, other in doc["services"].items():
        if name != "jetbroker":
            assert other.get("profiles"), f"{name} should be opt-in (profiles)"


# ---- systemd unit -------------------------------------------------------------------------------


def parse_unit(text: str) -> dict[str, dict[str, list[str]]]:
    sections: dict[str, dict[str, list[str]]] = {}
    cur = None
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i].strip()
        i += 1
        if not line or line[0] in "#;":
            continue
        while line.endswith("\\") and i < len(lines):
            line = line[:-1] + " " + lines[i].strip()
            i += 1
        if line.startswith("["):
            assert line.endswith("]"), line
            cur = sections.setdefault(line[1:-1], {})
            continue
        assert cur is not None and "=" in line, f"bad unit line: {line!r}"
        k, v = line.split("=", 1)
        cur.setdefault(k.strip(), []).append(v.strip())
    return sections


def seconds(v: str) -> float:
    units = {"": 1, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "ms": 0.001}
    total = 0.0
    for num, unit in re.findall(r"(\d+(?:\.\d+)?)\s*([a-z]*)", v.strip().strip('"')):
        total += float(num) * units[unit]
    return total


def test_systemd_unit_keys():
    u = parse_unit(UNIT.read_text())
    svc = u["Service"]

    def one(k: str) -> str:
        assert k in svc, f"missing {k}"
        return svc[k][-1]

    assert one("Type") == "simple"
    exec_start = one("ExecStart").split()
    assert exec_start[0].startswith("/") and exec_start[0].endswith("/jetbroker")
    assert exec_start[1:3] == ["-c", IMAGE_CONF]
    assert re.fullmatch(r"/bin/kill -(s )?HUP \$MAINPID", one("ExecReload"))
    assert one("KillSignal") in ("SIGUSR2", "USR2")
    # No ExecStop: systemd would follow it with SIGTERM at once, cutting lame duck short.
    assert "ExecStop" not in svc
    assert one("Restart") == "on-failure"
    assert int(one("LimitNOFILE")) >= 65536
    assert one("User") == "jetbroker"
    assert one("NoNewPrivileges") in ("true", "yes")
    assert one("ProtectSystem") == "strict"
    assert one("PrivateTmp") in ("true", "yes")
    assert "ReadWritePaths" in svc
    assert u["Install"]["WantedBy"] == ["multi-user.target"]
    assert "network-online.target" in " ".join(u["Unit"].get("After", []))


def test_systemd_unit_fits_production_example():
    """Under ProtectSystem=strict the example's store, log and pid paths must be writable, and
    TimeoutStopSec must outlast its lame_duck_duration (default 2m)."""
    svc = parse_unit(UNIT.read_text())["Service"]
    writable = [p.lstrip("-+") for v in svc.get("ReadWritePaths", []) for p in v.split()]
    for key, base in (("StateDirectory", "/var/lib"), ("LogsDirectory", "/var/log"), ("RuntimeDirectory", "/run")):
        writable += [f"{base}/{d}" for v in svc.get(key, []) for d in v.split()]
    conf = re.sub(r"#.*", "", PRODUCTION_CONF.read_text())

    def conf_value(key: str) -> str | None:
        m = re.search(rf"^\s*{key}\s*[:=]\s*\"?([^\"\n]+?)\"?\s*$", conf, re.M)
        return m.group(1) if m else None

    for key in ("store_dir", "logfile", "pid_file"):
        path = conf_value(key)
        assert path, key
        assert any(path == w or path.startswith(w.rstrip("/") + "/") for w in writable), (key, path, writable)
    ldm = seconds(conf_value("lame_duck_duration") or "2m")
    assert seconds(svc["TimeoutStopSec"][-1]) > max(ldm, 120)


def test_systemd_analyze_verify(tmp_path):
    sa = shutil.which("systemd-analyze")
    binary = jetbroker_bin()
    if not sa or not binary:
        pytest.skip("systemd-analyze or build/jetbroker missing")
    # verify checks that ExecStart's binary exists: point it at the build.
    unit = tmp_path / "jetbroker.service"
    unit.write_text(UNIT.read_text().replace("/usr/local/bin/jetbroker", binary))
    r = subprocess.run([sa, "verify", "--man=no", str(unit)], capture_output=True, text=True, timeout=60)
    complaints = [ln for ln in (r.stdout + r.stderr).splitlines() if "jetbroker.service" in ln]
    assert r.returncode == 0 and not complaints, r.stdout + r.stderr
