#!/usr/bin/env bash
# Side-by-side core pub/sub benchmark: jetbroker vs nats-server, same run, fresh random ports.
#
#   bench/core_bench.sh                 # full run (~2-3 min on 2 cores)
#   REPS=1 bench/core_bench.sh          # quick run
#
# Environment: JETBROKER_BIN (default build/jetbroker), NATS_SERVER_BIN (default ~/go/bin/nats-server),
# NATS_BIN (default ~/go/bin/nats), REPS (repetitions per scenario, median reported; default 3),
# MSGS_SMALL / MSGS_LARGE (messages per run for 16 B / 1 KiB payloads).
#
# Each scenario starts `nats bench sub` (N subscriber clients), waits until /varz shows their
# subscriptions, runs `nats bench pub` (1 publisher), and records the publisher rate and the
# subscribers' aggregate delivery rate (sum over clients, from --csv). Servers alternate inside each
# repetition so drift affects both alike. A fresh server is started for every run.
# Start-up: time from exec to the first PONG (stderr `Listening ... on host:port`, then TCP connect,
# CONNECT + PING, PONG), median of 10 starts.
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
REPS="${REPS:-3}"
MSGS_SMALL="${MSGS_SMALL:-2000000}"
MSGS_LARGE="${MSGS_LARGE:-500000}"
RUN_TIMEOUT="${RUN_TIMEOUT:-20}"

bench_init core_bench "$NATS_BIN"

# start_server <bin>: sets SERVER_PID, PORT, MPORT
start_server() {
  launch_server "$1" -p -1 -m -1 -a 127.0.0.1
  [[ -n "$MPORT" ]] || { echo "could not parse the monitoring port" >&2; exit 1; }
}

subs_count() { curl -s "http://127.0.0.1:$MPORT/varz" | jq -r .subscriptions; }

# run_once <bin> <subs> <size> <msgs>: prints "<pub msgs/s> <sub aggregate msgs/s> <slow consumers>"
# (sub rate NaN when the subscribers did not get every message within RUN_TIMEOUT)
run_once() {
  local bin="$1" subs="$2" size="$3" msgs="$4"
  start_server "$bin"
  local url="nats://127.0.0.1:$PORT" base
  base="$(subs_count)"
  rm -f "$WORK/sub.csv" "$WORK/pub.csv"
  timeout "$RUN_TIMEOUT" "$NATS_BIN" --no-context -s "$url" bench sub bench.core --clients "$subs" \
    --msgs "$msgs" --size "$size" --no-progress --csv "$WORK/sub.csv" >"$WORK/sub.out" 2>&1 &
  local sub_pid=$! i
  for ((i = 0; i < 1000; i++)); do
    (($(subs_count) >= base + subs)) && break
    sleep 0.01
  done
  timeout "$RUN_TIMEOUT" "$NATS_BIN" --no-context -s "$url" bench pub bench.core --clients 1 \
    --msgs "$msgs" --size "$size" --no-progress --csv "$WORK/pub.csv" >"$WORK/pub.out" 2>&1 || true
  local sub_ok=1 sc
  wait "$sub_pid" || sub_ok=0
  if ((!sub_ok)); then
    echo "  $(basename "$bin"), $subs sub, $size B: subscribers incomplete after ${RUN_TIMEOUT}s:" >&2
    grep -E "Disconnected|Slow|error" "$WORK/sub.out" | head -3 | sed 's/^/    /' >&2 || true
  fi
  sc="$(curl -s "http://127.0.0.1:$MPORT/varz" | jq -r .slow_consumers 2>/dev/null || echo 0)"
  stop_server
  # nats bench's own summary lines: "publisher stats: N msgs/sec" (1 client) and
  # "subscriber aggregated stats: N msgs/sec" (all messages over the whole receive window; with one
  # subscriber it prints only the per-client line, so fall back to the CSV rate).
  local pub sub
  pub="$(sed -n 's/.*publisher stats: \([0-9,]*\) msgs\/sec.*/\1/p' "$WORK/pub.out" | tr -d , | head -1)"
  sub="$(sed -n 's/.*subscriber aggregated stats: \([0-9,]*\) msgs\/sec.*/\1/p' "$WORK/sub.out" | tr -d , | head -1)"
  [[ -n "$pub" ]] || pub="$(awk -F, '$2 ~ /^P/ {s += $5} END {printf "%d", s}' "$WORK/pub.csv" 2>/dev/null || true)"
  [[ -n "$sub" ]] || sub="$(awk -F, '$2 ~ /^S/ {s += $5} END {printf "%d", s}' "$WORK/sub.csv" 2>/dev/null || true)"
  [[ -n "$pub" ]] || pub=NaN
  ((sub_ok)) && [[ -n "$sub" ]] || sub=NaN
  echo "$pub $sub $sc"
}


# startup_ms <bin>: median ms from exec to first PONG over 10 starts
startup_ms() {
  python3 - "$1" <<'EOF'
import re, signal, socket, statistics, subprocess, sys, time
samples = []
for _ in range(10):
    t0 = time.perf_counter()
    p = subprocess.Popen([sys.argv[1], "-p", "-1", "-m", "-1", "-a", "127.0.0.1"],
                         stderr=subprocess.PIPE, stdout=subprocess.DEVNULL)
    port = None
    for line in p.stderr:
        m = re.search(rb"Listening for client connections on \S+:(\d+)", line)
        if m:
            port = int(m.group(1))
            break
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b'CONNECT {"verbose":false}\r\nPING\r\n')
    buf = b""
    while b"PONG\r\n" not in buf:
        buf += s.recv(65536)
    samples.append((time.perf_counter() - t0) * 1000)
    s.close()
    p.send_signal(signal.SIGTERM)
    p.stderr.close()
    p.wait()
print(f"{statistics.median(samples):.1f}")
EOF
}

fmt() {
  [[ "$1" == NaN ]] && { echo "n/a"; return; }
  echo "$1" | sed -e ':a' -e 's/\B[0-9]\{3\}\>/,&/' -e 'ta'
}

declare -A RES
NOTES=()
SCENARIOS=("1 16 $MSGS_SMALL" "5 16 $MSGS_SMALL" "1 1024 $MSGS_LARGE" "5 1024 $MSGS_LARGE")
start=$(date +%s)
for sc in "${SCENARIOS[@]}"; do
  read -r subs size msgs <<<"$sc"
  for kind in jetbroker nats-server; do : >"$WORK/$kind.$subs.$size"; done
  for ((r = 0; r < REPS; r++)); do
    for kind in jetbroker nats-server; do
      bin="$JETBROKER_BIN"; [[ $kind == nats-server ]] && bin="$NATS_SERVER_BIN"
      run_once "$bin" "$subs" "$size" "$msgs" >>"$WORK/$kind.$subs.$size"
    done
  done
  for kind in jetbroker nats-server; do
    RES[$kind.$subs.$size.pub]="$(awk '{print $1}' "$WORK/$kind.$subs.$size" | median)"
    RES[$kind.$subs.$size.sub]="$(awk '{print $2}' "$WORK/$kind.$subs.$size" | median)"
    RES[$kind.$subs.$size.fail]="$(awk '$2 == "NaN" {n++} END {print n + 0}' "$WORK/$kind.$subs.$size")"
    RES[$kind.$subs.$size.sc]="$(awk '{n += $3} END {print n + 0}' "$WORK/$kind.$subs.$size")"
  done
  echo "done: ${subs} sub(s), ${size} B ($(($(date +%s) - start)) s)" >&2
done
SU_JB="$(startup_ms "$JETBROKER_BIN")"
SU_NS="$(startup_ms "$NATS_SERVER_BIN")"

JB_VER="$("$JETBROKER_BIN" --version 2>&1 | head -1)"
NS_VER="$("$NATS_SERVER_BIN" --version 2>&1 | head -1)"
CLI_VER="$("$NATS_BIN" --version 2>&1 | head -1)"

echo
echo "Core pub/sub, $(date -u +%Y-%m-%d), $(nproc) cores ($(uname -m)), $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)"
echo "$JB_VER | $NS_VER | nats CLI $CLI_VER | median of $REPS runs, msgs/s"
echo
echo "| Scenario | Msgs | jetbroker pub | nats-server pub | pub ratio | jetbroker sub (aggregate) | nats-server sub (aggregate) | sub ratio |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|"
for sc in "${SCENARIOS[@]}"; do
  read -r subs size msgs <<<"$sc"
  jp="${RES[jetbroker.$subs.$size.pub]}"; np="${RES[nats-server.$subs.$size.pub]}"
  js="${RES[jetbroker.$subs.$size.sub]}"; ns="${RES[nats-server.$subs.$size.sub]}"
  for kind in jetbroker nats-server; do
    f="${RES[$kind.$subs.$size.fail]}"
    if ((f > 0)); then
      NOTES+=("$kind, 1 pub / $subs sub, $size B: subscribers had not received every message after ${RUN_TIMEOUT} s in $f/$REPS runs; /varz slow_consumers summed over runs: ${RES[$kind.$subs.$size.sc]}")
    fi
  done
  label="1 pub / $subs sub, $size B"
  [[ $size == 1024 ]] && label="1 pub / $subs sub, 1 KiB"
  echo "| $label | $(fmt "$msgs") | $(fmt "$jp") | $(fmt "$np") | $(ratio "$jp" "$np") | $(fmt "$js") | $(fmt "$ns") | $(ratio "$js" "$ns") |"
done
for n in "${NOTES[@]}"; do echo "- note: $n"; done
echo
echo "| Start-up (exec to first PONG, median of 10) | jetbroker | nats-server | ratio |"
echo "|---|---:|---:|---:|"
echo "| ms | $SU_JB | $SU_NS | $(ratio "$SU_JB" "$SU_NS") |"
echo
echo "total bench time: $(($(date +%s) - start)) s" >&2
