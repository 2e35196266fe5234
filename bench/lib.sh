# bench/lib.sh: what the side-by-side benchmark scripts share (sourced, never run on its own).
#
#   source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#   bench_init core_bench "$NATS_BIN"      # WORK temp dir (removed on exit), binaries checked
#   launch_server "$bin" -p -1 -m -1 ...   # sets SERVER_PID, PORT, MPORT (empty without a monitor)
#   stop_server
#
# Defaults (the caller's environment wins): JETBROKER_BIN = build/jetbroker, NATS_SERVER_BIN =
# ~/go/bin/nats-server or nats-server on PATH, NATS_BIN = ~/go/bin/nats or nats on PATH.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
JETBROKER_BIN="${JETBROKER_BIN:-$ROOT/build/jetbroker}"
NATS_SERVER_BIN="${NATS_SERVER_BIN:-$(command -v "$HOME/go/bin/nats-server" || command -v nats-server || true)}"
NATS_BIN="${NATS_BIN:-$(command -v "$HOME/go/bin/nats" || command -v nats || true)}"
SERVER_PID=""

_bench_cleanup() {
  if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}

# bench_init <name> [extra binaries...]: WORK = fresh temp dir removed on exit; checks that
# JETBROKER_BIN, NATS_SERVER_BIN and the extra binaries are executable.
bench_init() {
  local name="$1" b; shift
  WORK="$(mktemp -d -t "$name.XXXXXX")"
  trap _bench_cleanup EXIT
  for b in "$JETBROKER_BIN" "$NATS_SERVER_BIN" "$@"; do
    [[ -n "$b" && -x "$b" ]] || { echo "missing binary: ${b:-(not found)}" >&2; exit 1; }
  done
}

# launch_server <bin> <args...>: starts the server in the background with stderr in $WORK/server.log,
# waits (up to 10 s) for "Server is ready" and parses the ports it logged. Sets SERVER_PID, PORT and
# MPORT (empty when no monitoring port was asked for). Exits the script if the server dies or logs no
# client port.
launch_server() {
  local log="$WORK/server.log" i
  : >"$log"
  "$@" 2>"$log" &
  SERVER_PID=$!
  for ((i = 0; i < 1000; i++)); do
    grep -q "Server is ready" "$log" && break
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$log" >&2; exit 1; }
    sleep 0.01
  done
  PORT="$(sed -n 's/.*Listening for client connections on [^ ]*:\([0-9]*\).*/\1/p' "$log" | head -1)"
  MPORT="$(sed -n 's/.*Starting http monitor on [^ ]*:\([0-9]*\).*/\1/p' "$log" | head -1)"
  [[ -n "$PORT" ]] || { echo "could not parse the client port" >&2; cat "$log" >&2; exit 1; }
}

stop_server() {
  kill -TERM "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=""
}

# median: the median of the numbers on stdin, one per line ("NaN" lines ignored; NaN when none).
median() { { grep -v NaN || true; } | sort -g | awk '{a[NR] = $1} END {if (NR == 0) print "NaN"; else print a[int((NR + 1) / 2)]}'; }
# ratio <a> <b>: a / b to two decimals, "n/a" when either is NaN or b is 0.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "NaN" || b == "NaN" || b == 0) print "n/a"; else printf "%.2f", a / b }'; }
# binof jetbroker|nats-server: the binary of that server.
binof() { if [[ $1 == jetbroker ]]; then echo "$JETBROKER_BIN"; else echo "$NATS_SERVER_BIN"; fi; }
