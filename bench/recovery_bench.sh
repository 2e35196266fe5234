#!/usr/bin/env bash
# Side-by-side recovery benchmark: jetbroker vs nats-server, how long a server killed with -9 takes
# to answer for its JetStream state again.
#
#   bench/recovery_bench.sh                       # full run (~4 min on 2 cores)
#   REPS=1 REC_MSGS=200000 bench/recovery_bench.sh   # quick run
#
# Environment: JETBROKER_BIN, NATS_SERVER_BIN, NATS_BIN (see lib.sh), REPS (repetitions, median;
# default 3), REC_MSGS (messages in the stream, default 1000000), REC_SIZE (bytes, default 128),
# REC_SUBJECTS (subjects of the many-subject scenario, default 10000), REC_PENDING (messages the
# consumer of the pending-acks scenario fetches, default 100000; it acks every other one).
# REC_SCENARIOS (a subset of "one subjects pending", default all three).
#
# Every sample: fresh store (`-js -sd <tmp>`), `nats stream add benchstream --storage file
# --defaults`, filled with `nats bench js pub async` (REC_MSGS x REC_SIZE, batch 500), the count
# checked, then `kill -9` and the same binary exec'd again on the same store and port. The time is
# exec -> the first `$JS.API.STREAM.INFO.benchstream` answer (raw socket, 100 ms timeout, retried)
# whose message count is REC_MSGS (and, with a consumer, exec -> its CONSUMER.INFO answering the
# acks pending it had at the kill). Scenarios:
#   one subject       subjects bench.js, one publish subject
#   many subjects     subjects bench.js.>, `--multisubject --multisubjectmax REC_SUBJECTS`
#   pending acks      one subject plus a durable pull consumer (explicit acks, ack_wait 1 h) that
#                     fetched REC_PENDING messages and acked every other one (REC_PENDING/2 pending,
#                     scattered) before the kill
# Servers alternate inside each repetition.
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
REPS="${REPS:-3}"
REC_MSGS="${REC_MSGS:-1000000}"
REC_SIZE="${REC_SIZE:-128}"
REC_SUBJECTS="${REC_SUBJECTS:-10000}"
REC_PENDING="${REC_PENDING:-100000}"
PROBE=(python3 "$ROOT/bench/probe.py")

bench_init recovery_bench "$NATS_BIN"

# fill_and_kill <bin> <store dir> <port> <scenario>: fill the stream (and the consumer), check, kill -9
fill_and_kill() {
  local bin="$1" sd="$2" port="$3" sc="$4" pid n subj=bench.js pubargs=()
  rm -rf "$sd"
  "$bin" -p "$port" -m -1 -a 127.0.0.1 -js -sd "$sd" 2>"$WORK/fill.log" &
  pid=$!
  SERVER_PID=$pid  # stopped by lib.sh's exit trap if the fill fails
  local i
  for ((i = 0; i < 1000; i++)); do grep -q "Server is ready" "$WORK/fill.log" && break; sleep 0.01; done
  local N=("$NATS_BIN" --no-context -s "nats://127.0.0.1:$port")
  if [[ $sc == subjects ]]; then subj="bench.js.>"; pubargs=(--multisubject --multisubjectmax "$REC_SUBJECTS"); fi
  "${N[@]}" stream add benchstream --subjects "$subj" --storage file --defaults >/dev/null
  "${N[@]}" bench js pub async bench.js "${pubargs[@]}" --msgs "$REC_MSGS" --size "$REC_SIZE" --no-progress >"$WORK/fill.out" 2>&1 || true
  "${N[@]}" stream info benchstream -j >"$WORK/info.json"
  n="$(jq -r .state.messages "$WORK/info.json")"
  [[ "$n" == "$REC_MSGS" ]] || echo "  $(basename "$bin"): fill stored $n of $REC_MSGS" >&2
  jq -r .state.num_subjects "$WORK/info.json" >"$WORK/subjects"
  if [[ $sc == pending ]]; then
    "${PROBE[@]}" hold_pending "$port" benchstream holder "$REC_PENDING" >"$WORK/held"
  fi
  du -sk "$sd" | awk '{print $1}' >"$WORK/du"
  kill -9 "$pid"
  wait "$pid" 2>/dev/null || true
  SERVER_PID=""
}


read -r -a SCENARIOS <<<"${REC_SCENARIOS:-one subjects pending}"
declare -A LABEL=([one]="one subject" [subjects]="$REC_SUBJECTS subjects" [pending]="1 subject, $((REC_PENDING - REC_PENDING / 2)) acks pending")
start=$(date +%s)
for sc in "${SCENARIOS[@]}"; do for kind in jetbroker nats-server; do : >"$WORK/$kind.$sc"; done; done
for ((r = 0; r < REPS; r++)); do
  for sc in "${SCENARIOS[@]}"; do
    for kind in jetbroker nats-server; do
      port="$("${PROBE[@]}" free_port)"
      fill_and_kill "$(binof $kind)" "$WORK/rec.sd" "$port" "$sc"
      extra=()
      if [[ $sc == pending ]]; then extra=(holder "$(awk '{print $1}' "$WORK/held")"); fi
      echo "$("${PROBE[@]}" recovery "$(binof $kind)" "$WORK/rec.sd" "$port" benchstream "$REC_MSGS" "${extra[@]}") $(cat "$WORK/du") $(cat "$WORK/subjects")" >>"$WORK/$kind.$sc"
      rm -rf "$WORK/rec.sd"
    done
    echo "done: $sc rep $((r + 1)) ($(($(date +%s) - start)) s)" >&2
  done
done

JB_VER="$("$JETBROKER_BIN" --version 2>&1 | head -1)"
NS_VER="$("$NATS_SERVER_BIN" --version 2>&1 | head -1)"
CLI_VER="$("$NATS_BIN" --version 2>&1 | head -1)"
col() { awk -v f="$2" '{print $f}' "$WORK/$1" | median; }
uniq_col() { awk -v f="$2" '{print $f}' "$WORK/$1" | sort -u | tr '\n' '/' | sed 's/\/$//'; }

echo
echo "Recovery after kill -9, $(date -u +%Y-%m-%d\ %H:%M) UTC, $(nproc) cores ($(uname -m)), load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "$JB_VER | $NS_VER | nats CLI $CLI_VER | $REC_MSGS x $REC_SIZE B file stream, median of $REPS"
echo
echo "| Scenario | jetbroker exec to answer (ms) | nats-server (ms) | ratio | messages after (jb / ns) | acks pending after (jb / ns) | subjects | store KiB (jb / ns) |"
echo "|---|---:|---:|---:|---|---|---:|---|"
for sc in "${SCENARIOS[@]}"; do
  j="$(col jetbroker.$sc 1)"; n="$(col nats-server.$sc 1)"
  echo "| ${LABEL[$sc]} | $j | $n | $(ratio "$j" "$n") | $(uniq_col jetbroker.$sc 2) / $(uniq_col nats-server.$sc 2) | $(uniq_col jetbroker.$sc 3) / $(uniq_col nats-server.$sc 3) | $(uniq_col jetbroker.$sc 5) | $(col jetbroker.$sc 4) / $(col nats-server.$sc 4) |"
done
echo
echo "raw samples (ms messages pending store_KiB subjects):" >&2
for f in "$WORK"/*.one "$WORK"/*.subjects "$WORK"/*.pending; do echo "  $(basename "$f"): $(tr '\n' ';' <"$f")" >&2; done
echo "total bench time: $(($(date +%s) - start)) s" >&2
