#!/usr/bin/env bash
# Installs everything jetbroker needs to build, test and benchmark, pinned.
# Safe to run repeatedly: each step is skipped when its result is already there.
set -euo pipefail

NATS_SERVER_VERSION=v2.14.9     # reference server for differential tests and benchmarks
NATSCLI_VERSION=v0.5.1          # the `nats` CLI (pub/sub/req, stream/consumer, bench)
NATS_PY_VERSION=2.16.0
PYTEST_VERSION=8.3.4
PYTEST_ASYNCIO_VERSION=0.24.0
AIOHTTP_VERSION=3.13.2          # nats-py's websocket transport (nats.connect("ws://..."))
NKEYS_VERSION=0.2.1             # nats-py's nkey signing (nkeys_seed=...); also makes test keys
PYNACL_VERSION=1.6.2            # nkeys' Ed25519

APT_PACKAGES=(
  build-essential cmake ninja-build pkg-config git ca-certificates
  libboost1.81-dev libboost-json1.81-dev libboost-system1.81-dev
  libspdlog-dev libfmt-dev librocksdb-dev libcrypt-dev libgtest-dev libgmock-dev libbenchmark-dev
  clang-14 libclang-rt-14-dev python3-venv
  libssl-dev openssl chromium libjemalloc-dev lld-14
)

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# Go tools: the reference nats-server and the nats CLI, built from the Go module proxy.
export GOPATH="${GOPATH:-$HOME/go}"
export PATH="$GOPATH/bin:/usr/local/go/bin:$PATH"
if ! command -v go >/dev/null; then
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq golang-go
fi
if ! "$GOPATH/bin/nats-server" --version 2>/dev/null | grep -q "${NATS_SERVER_VERSION#v}"; then
  echo "setup: go install nats-server@$NATS_SERVER_VERSION"
  go install "github.com/nats-io/nats-server/v2@$NATS_SERVER_VERSION"
fi
if ! "$GOPATH/bin/nats" --version 2>/dev/null | grep -q "${NATSCLI_VERSION#v}"; then
  echo "setup: go install natscli@$NATSCLI_VERSION"
  go install "github.com/nats-io/natscli/nats@$NATSCLI_VERSION"
fi

# Python: a project-local virtualenv for the integration tests.
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="$root/.venv"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
if ! "$venv/bin/python" -c "import nats, pytest, pytest_asyncio, pytest_timeout, pytest_rerunfailures, aiohttp, nkeys" 2>/dev/null; then
  "$venv/bin/pip" install -q "nats-py==$NATS_PY_VERSION" "pytest==$PYTEST_VERSION" \
    "pytest-asyncio==$PYTEST_ASYNCIO_VERSION" "pytest-timeout==2.3.1" "pytest-rerunfailures==15.0" \
    "aiohttp==$AIOHTTP_VERSION" "nkeys==$NKEYS_VERSION" "pynacl==$PYNACL_VERSION"
fi

# Browser tests: the nats.ws client (pinned in package-lock.json), served to Debian's chromium.
browser="$root/tests/integration/browser"
if [ ! -f "$browser/node_modules/nats.ws/esm/nats.js" ]; then
  (cd "$browser" && npm ci --no-audit --no-fund --silent)
fi
# Harness-swap test: the Java client's own server harness (io.nats:jnats-server-runner) and the Java
# client, pinned in tests/harness/java/pom.xml; their classpath goes to classpath.txt.
jharness="$root/tests/harness/java"
if ! command -v java >/dev/null || ! command -v mvn >/dev/null; then
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends default-jdk-headless maven
fi
if [ ! -s "$jharness/classpath.txt" ] || [ "$jharness/pom.xml" -nt "$jharness/classpath.txt" ]; then
  (cd "$jharness" && mvn -q -B dependency:build-classpath -Dmdep.outputFile=classpath.txt)
fi
echo "setup: done"
