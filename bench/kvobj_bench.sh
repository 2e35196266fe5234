#!/usr/bin/env bash
# Side-by-side KV and object-store benchmark: jetbroker vs nats-server, same run, same client
# (bench/kvobj, a nats.go v1.55.0 program built here into a temp dir), fresh server on a random port
# with a fresh store dir (`-js -sd <tmp>`) for every scenario run.
#
#   bench/kvobj_bench.sh                # full run (~2.5 min on 2 cores)
#   REPS=1 bench/kvobj_bench.sh         # quick run
#
# Environment: JETBROKER_BIN (default build/jetbroker; copied into the temp dir first, so a rebuild
# during the run does not mix binaries), NATS_SERVER_BIN (default ~/go/bin/nats-server), REPS
# (repetitions, median reported; default 3), KV_KEYS (default 20000), KV_SIZE (value bytes, 128),
# WATCH_KEYS (initial watch, default 50000), LIVE_KEYS (live watch, default 50000), OBJ_MIB (object
# size, default 100), WINDOW (async publish window, 1000), STALL_WAIT (nats.go async publish stall
# wait, default 5s; nats.go's own default is 200ms), RUN_TIMEOUT (seconds per client run, 60).
#
# Scenarios (bucket/store "bench", file storage, R1; see bench/kvobj/main.go):
#   kv      kv.Put of KV_KEYS distinct keys, one at a time (history 1), then kv.Get of each; every
#           revision and value checked
#   watch   bucket filled with WATCH_KEYS keys (async publishes, untimed), then kv.WatchAll timed
#           until the nil marker; every key seen once with its value
#   live    kv.WatchAll on an empty bucket, then LIVE_KEYS distinct keys published from a second
#           connection (async, window WINDOW); timed from the first publish to the watcher's last
#           entry; every key, value and revision order checked
#   obj     object store, one object of OBJ_MIB MiB of random bytes (default chunk size 128 KiB):
#           put timed, then get timed and its SHA-256 compared with what was put
# Servers alternate inside each repetition. Besides the client's wall-clock rate, the client reads the
# server's utime+stime from /proc/<pid>/stat around each timed phase (server CPU seconds, 10 ms ticks),
# which is less sensitive to a shared machine than the rate. A client run that fails a check, errors
# or times out counts as n/a and makes the script exit 1.
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
REPS="${REPS:-3}"
KV_KEYS="${KV_KEYS:-20000}"
KV_SIZE="${KV_SIZE:-128}"
WATCH_KEYS="${WATCH_KEYS:-50000}"
LIVE_KEYS="${LIVE_KEYS:-50000}"
OBJ_MIB="${OBJ_MIB:-100}"
WINDOW="${WINDOW:-1000}"
STALL_WAIT="${STALL_WAIT:-5s}"
RUN_TIMEOUT="${RUN_TIMEOUT:-60}"

bench_init kvobj_bench
command -v go >/dev/null || { echo "go not found" >&2; exit 1; }

JB_MTIME="$(date -u -r "$JETBROKER_BIN" '+%Y-%m-%d %H:%M UTC')"
cp "$JETBROKER_BIN" "$WORK/jetbroker"
JETBROKER_BIN="$WORK/jetbroker"
echo "building bench/kvobj ..." >&2
(cd "$ROOT/bench/kvobj" && GOFLAGS=-buildvcs=false go build -o "$WORK/kvobj" .)
CLIENT="$WORK/kvobj"

# start_server <bin>: fresh store dir, random port; sets SERVER_PID and URL
start_server() {
  rm -rf "$WORK/store"
  launch_server "$1" -p -1 -m -1 -a 127.0.0.1 -js -sd "$WORK/store"
  URL="nats://127.0.0.1:$PORT"
}

FAILED=0
# run_once <kind> <mode> <client args...>: appends "<phase> <rate> <server cpu s>" lines to
# $WORK/<kind>.<phase>; rate is ops/s for KV phases and MiB/s for object phases; NaN on failure
run_once() {
  local kind="$1" mode="$2"; shift 2
  local out="$WORK/client.out" err="$WORK/client.err" bin rc=0
  if [[ $kind == jetbroker ]]; then bin="$JETBROKER_BIN"; else bin="$NATS_SERVER_BIN"; fi
  start_server "$bin"
  timeout "$RUN_TIMEOUT" "$CLIENT" -url "$URL" -pid "$SERVER_PID" -mode "$mode" -window "$WINDOW" \
    -stallwait "$STALL_WAIT" -timeout "${RUN_TIMEOUT}s" "$@" >"$out" 2>"$err" || rc=$?
  if [[ $rc == 0 ]]; then
    awk '$1 == "RESULT" {
           rate = ($2 ~ /^obj/) ? $4 / 1048576 / $5 : $3 / $5
           printf "%s %.2f %.2f\n", $2, rate, $6 }' "$out" |
      while read -r phase rate cpu; do echo "$rate $cpu" >>"$WORK/$kind.$phase"; done
  else
    FAILED=1
    echo "  $kind $mode: FAILED (exit $rc$([[ $rc == 124 ]] && echo ", timed out")):" >&2
    sed 's/^/    /' "$err" | tail -5 >&2
    kill -0 "$SERVER_PID" 2>/dev/null || echo "    (server process is gone)" >&2
    local phase
    case $mode in
      kv) phase="kvput kvget" ;; watch) phase=watch_initial ;; live) phase=watch_live ;; obj) phase="objput objget" ;;
    esac
    for p in $phase; do echo "NaN NaN" >>"$WORK/$kind.$p"; done
  fi
  stop_server
}

fmt() { # fmt <number> <decimals>
  [[ "$1" == NaN ]] && { echo "n/a"; return; }
  printf "%.${2}f" "$1" | sed -e ':a' -e 's/\B[0-9]\{3\}\>/,&/' -e 'ta'
}

LOAD_START="$(cut -d' ' -f1-3 /proc/loadavg)"
start=$(date +%s)
SCENARIOS=(
  "kv -keys $KV_KEYS -size $KV_SIZE"
  "watch -keys $WATCH_KEYS -size $KV_SIZE"
  "live -keys $LIVE_KEYS -size $KV_SIZE"
  "obj -objsize $((OBJ_MIB << 20))"
)
for ((r = 0; r < REPS; r++)); do
  for sc in "${SCENARIOS[@]}"; do
    read -r -a args <<<"$sc"
    for kind in jetbroker nats-server; do run_once "$kind" "${args[@]}"; done
  done
  echo "done: repetition $((r + 1)) of $REPS ($(($(date +%s) - start)) s)" >&2
done

JB_VER="$("$JETBROKER_BIN" --version 2>&1 | head -1)"
NS_VER="$("$NATS_SERVER_BIN" --version 2>&1 | head -1)"
COMMIT="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
row() { # row <label> <phase> <count> <unit decimals>
  local jb ns jc nc
  jb="$(awk '{print $1}' "$WORK/jetbroker.$2" 2>/dev/null | median)"
  ns="$(awk '{print $1}' "$WORK/nats-server.$2" 2>/dev/null | median)"
  jc="$(awk '{print $2}' "$WORK/jetbroker.$2" 2>/dev/null | median)"
  nc="$(awk '{print $2}' "$WORK/nats-server.$2" 2>/dev/null | median)"
  echo "| $1 | $3 | $(fmt "$jb" "$4") | $(fmt "$ns" "$4") | $(ratio "$jb" "$ns") |" \
    "$(fmt "$jc" 2) | $(fmt "$nc" 2) | $(ratio "$jc" "$nc") |"
}

echo
echo "KV and object store, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores ($(uname -m)), load: $LOAD_START at start, $(cut -d' ' -f1-3 /proc/loadavg) at end"
echo "$JB_VER (binary built $JB_MTIME, HEAD $COMMIT) | $NS_VER | client nats.go v1.55.0 | median of $REPS runs, file storage, R1"
echo
echo "| Scenario | Count | jetbroker | nats-server | ratio | jetbroker server CPU s | nats-server server CPU s | CPU ratio |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|"
row "kv put (ops/s, sync, 1 client)" kvput "$(fmt "$KV_KEYS" 0) x $KV_SIZE B" 0
row "kv get (ops/s, 1 client)" kvget "$(fmt "$KV_KEYS" 0) x $KV_SIZE B" 0
row "watch, initial values to nil marker (keys/s)" watch_initial "$(fmt "$WATCH_KEYS" 0) x $KV_SIZE B" 0
row "watch, live puts from a 2nd connection (keys/s)" watch_live "$(fmt "$LIVE_KEYS" 0) x $KV_SIZE B" 0
row "object put (MiB/s)" objput "1 x $OBJ_MIB MiB" 1
row "object get (MiB/s)" objget "1 x $OBJ_MIB MiB" 1
echo
echo "raw samples (rate server-cpu-s per run):" >&2
for f in "$WORK"/jetbroker.* "$WORK"/nats-server.*; do
  [[ -f "$f" ]] || continue
  echo "  $(basename "$f"): $(awk '{printf "%s/%s ", $1, $2}' "$f")" >&2
done
echo "total bench time: $(($(date +%s) - start)) s" >&2
if [[ $FAILED != 0 ]]; then
  echo "at least one run FAILED (see above)" >&2
  exit 1
fi
