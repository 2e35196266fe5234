#!/usr/bin/env bash
# Side-by-side JetStream benchmark: jetbroker vs nats-server, same run, fresh servers on random ports
# with fresh store directories.
#
#   bench/js_bench.sh                   # full run (~4 min on 2 cores)
#   REPS=1 bench/js_bench.sh            # quick run
#
# Environment: JETBROKER_BIN (default build/jetbroker), NATS_SERVER_BIN (default ~/go/bin/nats-server),
# NATS_BIN (default ~/go/bin/nats), REPS (repetitions per scenario, median reported; default 3),
# ASYNC_MSGS_SMALL / ASYNC_MSGS_LARGE (async publish, 16 B / 1 KiB), SYNC_MSGS (sync publish),
# FILL_MSGS (messages of 128 B in the stream the consumers read), KV_MSGS (KV put/get), SKIP_KV=1,
# SKIP_PUB=1 (consumer and kv groups only), SKIP_CONSUME=1 (no consume/push group),
# RUN_TIMEOUT (seconds per nats bench invocation).
#
# Scenarios (one client each, R1):
#   publish   `nats bench js pub sync|async` (async: batch 500) into a stream created beforehand with
#             `nats stream add benchstream --subjects bench.js --storage file|memory --defaults`, so both
#             servers get the same config (`--create` would ask for allow_batched, which jetbroker lacks).
#   fsync     async file publish; jetbroker started with `-c` and `jetstream { store_dir, sync_interval:
#             always }` (fsync before every ack) against nats-server with its default (fsync every 2 min).
#   consume   stream pre-filled with FILL_MSGS x 128 B (file storage), then `nats bench js consume`
#             (durable pull consumer read with nats.go's Consume callback, explicit acks), `nats bench
#             js fetch` (durable pull, explicit acks) and `nats bench js ordered` (ephemeral ordered,
#             pull-based in nats.go's jetstream API), each reading the whole stream; the durable
#             consumer is deleted between runs.
#   push      nats bench has no push-consumer mode: bench/kvobj -mode push (nats.go js.Subscribe,
#             durable push consumer on a deliver subject, explicit acks in the callback), one
#             subscriber and a deliver group of two, each on a fresh server and stream of FILL_MSGS.
#   kv        `nats bench kv put` (file bucket, history 1) then `nats bench kv get`, sequential keys.
# A fresh server (and store dir) is started for every publish run and once per repetition for the
# consume and kv groups. Servers alternate inside each repetition so drift affects both alike.
# A run whose stream does not hold the expected message count afterwards counts as failed (n/a).
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
REPS="${REPS:-3}"
ASYNC_MSGS_SMALL="${ASYNC_MSGS_SMALL:-500000}"
ASYNC_MSGS_LARGE="${ASYNC_MSGS_LARGE:-200000}"
SYNC_MSGS="${SYNC_MSGS:-20000}"
FILL_MSGS="${FILL_MSGS:-200000}"
KV_MSGS="${KV_MSGS:-10000}"
SKIP_KV="${SKIP_KV:-0}"
SKIP_PUB="${SKIP_PUB:-0}"
SKIP_CONSUME="${SKIP_CONSUME:-0}"
RUN_TIMEOUT="${RUN_TIMEOUT:-60}"

bench_init js_bench "$NATS_BIN"

# start_server <bin> [always]: fresh store dir; sets SERVER_PID, PORT, NATS (CLI prefix)
start_server() {
  local bin="$1" mode="${2:-}" sd="$WORK/store"
  rm -rf "$sd"
  if [[ "$mode" == always ]]; then
    printf 'jetstream {\n  store_dir: "%s"\n  sync_interval: always\n}\n' "$sd" >"$WORK/js.conf"
    launch_server "$bin" -c "$WORK/js.conf" -p -1 -m -1 -a 127.0.0.1
  else
    launch_server "$bin" -p -1 -m -1 -a 127.0.0.1 -js -sd "$sd"
  fi
  NATS=("$NATS_BIN" --no-context -s "nats://127.0.0.1:$PORT")
}

add_stream() { "${NATS[@]}" stream add benchstream --subjects bench.js --storage "$1" --defaults >/dev/null; }
stream_msgs() { "${NATS[@]}" stream info benchstream -j 2>/dev/null | jq -r .state.messages 2>/dev/null || echo 0; }

# bench <label> <nats bench args...>: prints the client's msgs/s (NaN on failure); output kept in $WORK
bench() {
  local label="$1"; shift
  local out="$WORK/$label.out" rate
  if ! timeout "$RUN_TIMEOUT" "${NATS[@]}" bench "$@" --no-progress >"$out" 2>&1; then
    echo "  $label: nats bench failed:" >&2
    grep -iE "error|timeout" "$out" | head -3 | sed 's/^/    /' >&2 || true
    echo NaN; return
  fi
  rate="$(sed -n 's/.* stats: \([0-9,]*\) msgs\/sec.*/\1/p' "$out" | tr -d , | head -1)"
  echo "${rate:-NaN}"
}

# pub_once <bin> <mode sync|async> <storage> <size> <msgs> [always]
pub_once() {
  local bin="$1" mode="$2" storage="$3" size="$4" msgs="$5" sync="${6:-}" rate
  start_server "$bin" "$sync"
  add_stream "$storage"
  rate="$(bench "pub.$mode.$storage.$size" js pub "$mode" bench.js --msgs "$msgs" --size "$size")"
  if [[ "$rate" != NaN ]] && [[ "$(stream_msgs)" != "$msgs" ]]; then
    echo "  $(basename "$bin") $mode $storage $size B: stream holds $(stream_msgs), expected $msgs" >&2
    rate=NaN
  fi
  stop_server
  echo "$rate"
}

# consume_once <bin>: prints "<consume> <fetch> <ordered>"
consume_once() {
  local bin="$1" c f o
  start_server "$bin"
  add_stream file
  bench fill js pub async bench.js --msgs "$FILL_MSGS" --size 128 >/dev/null
  if [[ "$(stream_msgs)" != "$FILL_MSGS" ]]; then
    echo "  $(basename "$bin"): fill stored $(stream_msgs) of $FILL_MSGS" >&2
    stop_server; echo "NaN NaN NaN"; return
  fi
  c="$(bench consume js consume --msgs "$FILL_MSGS")"
  "${NATS[@]}" consumer rm benchstream nats-bench -f >/dev/null 2>&1 || true
  f="$(bench fetch js fetch --msgs "$FILL_MSGS")"
  "${NATS[@]}" consumer rm benchstream nats-bench -f >/dev/null 2>&1 || true
  o="$(bench ordered js ordered --msgs "$FILL_MSGS")"
  stop_server
  echo "$c $f $o"
}

# push_once <bin>: prints "<push> <push, deliver group of 2>" (msgs/s). nats bench has no push
# consumer mode any more, so bench/kvobj (nats.go v1.55.0, js.Subscribe / js.QueueSubscribe) fills
# a fresh file stream with FILL_MSGS x 128 B and reads it through a durable push consumer,
# acking every message in the callback; it fails unless every sequence arrived exactly once and
# the ack floor reached the end.
push_once() {
  local bin="$1" out=() m rate
  for m in 1 2; do
    start_server "$bin"
    if timeout "$RUN_TIMEOUT" "$PUSH_CLIENT" -mode push -url "nats://127.0.0.1:$PORT" -keys "$FILL_MSGS" -size 128 \
      -members "$m" -timeout "${RUN_TIMEOUT}s" >"$WORK/push.$m.out" 2>"$WORK/push.$m.err"; then
      rate="$(awk '$1 == "RESULT" { printf "%.0f", $3 / $5 }' "$WORK/push.$m.out")"
    else
      echo "  $(basename "$bin") push x$m failed: $(head -c 300 "$WORK/push.$m.err")" >&2
      rate=NaN
    fi
    stop_server
    out+=("${rate:-NaN}")
  done
  echo "${out[*]}"
}

# kv_once <bin>: prints "<put> <get>"
kv_once() {
  local bin="$1" p g
  start_server "$bin"
  p="$(bench kvput kv put --msgs "$KV_MSGS" --size 128 --storage file)"
  g="$(bench kvget kv get --msgs "$KV_MSGS")"
  stop_server
  echo "$p $g"
}

fmt() {
  [[ "$1" == NaN ]] && { echo "n/a"; return; }
  echo "$1" | sed -e ':a' -e 's/\B[0-9]\{3\}\>/,&/' -e 'ta'
}
verdict() { # verdict <ratio> <goal>
  awk -v r="$1" -v g="$2" 'BEGIN { if (r == "n/a") print "n/a"; else if (r + 0 >= g + 0) print "met"; else print "**missed**" }'
}

# rows: key | label | msgs | goal ratio ("" = none)
PUB_SCENARIOS=(
  "sync file 16 $SYNC_MSGS" "sync file 1024 $SYNC_MSGS" "sync memory 16 $SYNC_MSGS" "sync memory 1024 $SYNC_MSGS"
  "async file 16 $ASYNC_MSGS_SMALL" "async file 1024 $ASYNC_MSGS_LARGE"
  "async memory 16 $ASYNC_MSGS_SMALL" "async memory 1024 $ASYNC_MSGS_LARGE"
)
FSYNC_SCENARIOS=("async file 16 $ASYNC_MSGS_SMALL" "async file 1024 $ASYNC_MSGS_LARGE")
declare -A RES
start=$(date +%s)

[[ "$SKIP_PUB" == 1 ]] && PUB_SCENARIOS=() && FSYNC_SCENARIOS=()
echo "building bench/kvobj (push consumer client) ..." >&2
(cd "$ROOT/bench/kvobj" && GOFLAGS=-buildvcs=false go build -o "$WORK/kvobj" .)
PUSH_CLIENT="$WORK/kvobj"
for sc in "${PUB_SCENARIOS[@]}"; do
  read -r mode storage size msgs <<<"$sc"
  key="pub.$mode.$storage.$size"
  for kind in jetbroker nats-server; do : >"$WORK/$kind.$key"; done
  for ((r = 0; r < REPS; r++)); do
    for kind in jetbroker nats-server; do
      pub_once "$(binof $kind)" "$mode" "$storage" "$size" "$msgs" >>"$WORK/$kind.$key"
    done
  done
  for kind in jetbroker nats-server; do RES[$kind.$key]="$(median <"$WORK/$kind.$key")"; done
  echo "done: $mode $storage $size B ($(($(date +%s) - start)) s)" >&2
done

for sc in "${FSYNC_SCENARIOS[@]}"; do
  read -r mode storage size msgs <<<"$sc"
  key="fsync.$size"
  for kind in jetbroker nats-server; do : >"$WORK/$kind.$key"; done
  for ((r = 0; r < REPS; r++)); do
    pub_once "$JETBROKER_BIN" async file "$size" "$msgs" always >>"$WORK/jetbroker.$key"
    pub_once "$NATS_SERVER_BIN" async file "$size" "$msgs" >>"$WORK/nats-server.$key"
  done
  for kind in jetbroker nats-server; do RES[$kind.$key]="$(median <"$WORK/$kind.$key")"; done
  echo "done: fsync always vs default, $size B ($(($(date +%s) - start)) s)" >&2
done

for kind in jetbroker nats-server; do : >"$WORK/$kind.consume"; : >"$WORK/$kind.push"; : >"$WORK/$kind.kv"; done
for ((r = 0; r < REPS; r++)); do
  [[ "$SKIP_CONSUME" == 1 ]] && break
  for kind in jetbroker nats-server; do consume_once "$(binof $kind)" >>"$WORK/$kind.consume"; done
  for kind in jetbroker nats-server; do push_once "$(binof $kind)" >>"$WORK/$kind.push"; done
done
[[ "$SKIP_CONSUME" != 1 ]] && for kind in jetbroker nats-server; do
  RES[$kind.consume]="$(awk '{print $1}' "$WORK/$kind.consume" | median)"
  RES[$kind.fetch]="$(awk '{print $2}' "$WORK/$kind.consume" | median)"
  RES[$kind.ordered]="$(awk '{print $3}' "$WORK/$kind.consume" | median)"
  RES[$kind.push]="$(awk '{print $1}' "$WORK/$kind.push" | median)"
  RES[$kind.pushq]="$(awk '{print $2}' "$WORK/$kind.push" | median)"
done
echo "done: consumers ($(($(date +%s) - start)) s)" >&2

if [[ "$SKIP_KV" != 1 ]]; then
  for ((r = 0; r < REPS; r++)); do
    for kind in jetbroker nats-server; do kv_once "$(binof $kind)" >>"$WORK/$kind.kv"; done
  done
  for kind in jetbroker nats-server; do
    RES[$kind.kvput]="$(awk '{print $1}' "$WORK/$kind.kv" | median)"
    RES[$kind.kvget]="$(awk '{print $2}' "$WORK/$kind.kv" | median)"
  done
  echo "done: kv ($(($(date +%s) - start)) s)" >&2
fi

JB_VER="$("$JETBROKER_BIN" --version 2>&1 | head -1)"
NS_VER="$("$NATS_SERVER_BIN" --version 2>&1 | head -1)"
CLI_VER="$("$NATS_BIN" --version 2>&1 | head -1)"
sz() { if [[ $1 == 1024 ]]; then echo "1 KiB"; else echo "$1 B"; fi; }
row() { # row <label> <msgs> <jb> <ns> <goal>
  local r; r="$(ratio "$3" "$4")"
  local g="–" v="–"
  [[ -n "$5" ]] && { g="≥ $5"; v="$(verdict "$r" "$5")"; }
  echo "| $1 | $(fmt "$2") | $(fmt "$3") | $(fmt "$4") | $r | $g | $v |"
}

echo
echo "JetStream, $(date -u +%Y-%m-%d), $(nproc) cores ($(uname -m)), $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo), load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "$JB_VER | $NS_VER | nats CLI $CLI_VER | median of $REPS runs, msgs/s, 1 client, R1"
echo
if ((${#PUB_SCENARIOS[@]})); then
echo "| Publish | Msgs | jetbroker | nats-server | ratio | goal | |"
echo "|---|---:|---:|---:|---:|---:|---|"
fi
for sc in "${PUB_SCENARIOS[@]}"; do
  read -r mode storage size msgs <<<"$sc"
  key="pub.$mode.$storage.$size"
  goal=""
  [[ $mode == async && $storage == file ]] && goal=1.5
  label="$mode"; [[ $mode == async ]] && label="async (batch 500)"
  row "$label, $storage, $(sz "$size")" "$msgs" "${RES[jetbroker.$key]}" "${RES[nats-server.$key]}" "$goal"
done
if ((${#FSYNC_SCENARIOS[@]})); then
echo
echo "| Async file publish, fsync | Msgs | jetbroker sync_interval always | nats-server default (no fsync) | ratio | goal | |"
echo "|---|---:|---:|---:|---:|---:|---|"
fi
for sc in "${FSYNC_SCENARIOS[@]}"; do
  read -r mode storage size msgs <<<"$sc"
  row "async (batch 500), file, $(sz "$size")" "$msgs" "${RES[jetbroker.fsync.$size]}" "${RES[nats-server.fsync.$size]}" 1.0
done
if [[ "$SKIP_CONSUME" != 1 ]]; then
echo
echo "| Consume (file, 128 B, pre-filled) | Msgs | jetbroker | nats-server | ratio | goal | |"
echo "|---|---:|---:|---:|---:|---:|---|"
row "consume (durable pull, \`Consume\` callback, explicit ack)" "$FILL_MSGS" "${RES[jetbroker.consume]}" "${RES[nats-server.consume]}" 1.5
row "fetch (durable pull, batch 500, explicit ack)" "$FILL_MSGS" "${RES[jetbroker.fetch]}" "${RES[nats-server.fetch]}" 1.5
row "ordered (ephemeral ordered consumer, pull)" "$FILL_MSGS" "${RES[jetbroker.ordered]}" "${RES[nats-server.ordered]}" 1.5
row "push (durable, deliver subject, callback, explicit ack; bench/kvobj)" "$FILL_MSGS" "${RES[jetbroker.push]}" "${RES[nats-server.push]}" 1.5
row "push, deliver group of 2 (bench/kvobj)" "$FILL_MSGS" "${RES[jetbroker.pushq]}" "${RES[nats-server.pushq]}" 1.5
fi
if [[ "$SKIP_KV" != 1 ]]; then
  echo
  echo "| KV (file, 128 B, 1 client) | Ops | jetbroker | nats-server | ratio | goal | |"
  echo "|---|---:|---:|---:|---:|---:|---|"
  row "kv put" "$KV_MSGS" "${RES[jetbroker.kvput]}" "${RES[nats-server.kvput]}" ""
  row "kv get" "$KV_MSGS" "${RES[jetbroker.kvget]}" "${RES[nats-server.kvget]}" ""
fi
echo
echo "raw samples (msgs/s per run):" >&2
for f in "$WORK"/jetbroker.* "$WORK"/nats-server.*; do echo "  $(basename "$f"): $(tr '\n' ' ' <"$f")" >&2; done
echo "total bench time: $(($(date +%s) - start)) s" >&2
