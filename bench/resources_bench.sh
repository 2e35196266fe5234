#!/usr/bin/env bash
# Side-by-side resource benchmark: jetbroker vs nats-server — start-up time, idle memory and memory per
# idle client connection (recovery after kill -9 is bench/recovery_bench.sh).
#
#   bench/resources_bench.sh                 # full run (~1.5 min on 2 cores)
#   REPS=1 bench/resources_bench.sh          # quick run
#
# Environment: JETBROKER_BIN (default build/jetbroker), NATS_SERVER_BIN (default ~/go/bin/nats-server),
# NATS_BIN (default ~/go/bin/nats), STARTS (start-up samples per round, median; default 10), ROUNDS
# (start-up rounds, servers alternating, median of the round medians; default 3), REPS (memory
# repetitions, median; default 3), CLIENTS (client counts, default "2000 10000").
#
# Start-up: exec to the first PONG. bench/probe.py picks a free port, execs `<bin> -p PORT -m -1 -a
# 127.0.0.1 [-js -sd <fresh dir>]`, retries TCP connect every 0.2 ms, sends CONNECT + PING, reads PONG.
# The harness floor: bench/floor_server.c (listen, INFO, PONG; nothing else), compiled with cc and
# timed the same way, is what a server that costs nothing would measure.
# Memory: VmRSS from /proc/<pid>/status. "idle" is 1 s after the first PONG (probe connection closed).
# Then the probe opens raw TCP connections (CONNECT + PING, wait for PONG, then stay idle), in batches
# of 500, up to each count in CLIENTS, waits 2 s and reads VmRSS again. Per-connection memory =
# (RSS(N) - RSS(idle)) / N. No JetStream for the memory figures (plain `-p PORT -m -1 -a 127.0.0.1`).
# Servers alternate inside each repetition; a fresh server is started for every sample.
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
STARTS="${STARTS:-10}"
ROUNDS="${ROUNDS:-3}"
REPS="${REPS:-3}"
CLIENTS="${CLIENTS:-2000 10000}"

bench_init resources_bench "$NATS_BIN"
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

H=(python3 "$ROOT/bench/probe.py")

verdict_le() { # ratio must be <= goal
  awk -v r="$1" -v g="$2" 'BEGIN { if (r == "n/a") print "n/a"; else if (r + 0 <= g + 0) print "met"; else print "**missed**" }'
}
mib() { awk -v k="$1" 'BEGIN { if (k == "NaN") print "n/a"; else printf "%.1f MiB", k / 1024 }'; }
kib() { awk -v k="$1" 'BEGIN { if (k == "NaN") print "n/a"; else printf "%.1f KiB", k }'; }

declare -A RES
read -r -a COUNTS <<<"$CLIENTS"
start=$(date +%s)

# Start-up in ROUNDS rounds, the servers and the floor alternating in each (this machine's speed
# drifts within a minute); each figure is the median of its rounds' medians.
HAVE_FLOOR=0
cc -O2 -o "$WORK/floor_server" "$ROOT/bench/floor_server.c" 2>/dev/null && HAVE_FLOOR=1
for ((r = 0; r < ROUNDS; r++)); do
  for kind in jetbroker nats-server; do
    "${H[@]}" startup "$(binof $kind)" "$STARTS" plain >>"$WORK/$kind.su"
    "${H[@]}" startup "$(binof $kind)" "$STARTS" js >>"$WORK/$kind.sujs"
  done
  if ((HAVE_FLOOR)); then "${H[@]}" startup "$WORK/floor_server" "$STARTS" plain >>"$WORK/floor.su"; fi
done
for kind in jetbroker nats-server; do
  RES[$kind.su]="$(median <"$WORK/$kind.su")"
  RES[$kind.sujs]="$(median <"$WORK/$kind.sujs")"
done
FLOOR=n/a
if ((HAVE_FLOOR)); then FLOOR="$(median <"$WORK/floor.su")"; fi
echo "done: start-up ($(($(date +%s) - start)) s)" >&2

for kind in jetbroker nats-server; do : >"$WORK/$kind.mem"; done
for ((r = 0; r < REPS; r++)); do
  for kind in jetbroker nats-server; do "${H[@]}" memory "$(binof $kind)" "${COUNTS[@]}" >>"$WORK/$kind.mem"; done
done
for kind in jetbroker nats-server; do
  RES[$kind.idle]="$(awk '{print $1}' "$WORK/$kind.mem" | median)"
  for ((i = 0; i < ${#COUNTS[@]}; i++)); do
    c="${COUNTS[$i]}"
    RES[$kind.rss.$c]="$(awk -v f=$((i + 2)) '{print $f}' "$WORK/$kind.mem" | median)"
    # per-connection KiB, computed per run then the median
    RES[$kind.per.$c]="$(awk -v f=$((i + 2)) -v c="$c" '{printf "%.2f\n", ($f - $1) / c}' "$WORK/$kind.mem" | median)"
  done
done
echo "done: memory ($(($(date +%s) - start)) s)" >&2

JB_VER="$("$JETBROKER_BIN" --version 2>&1 | head -1)"
NS_VER="$("$NATS_SERVER_BIN" --version 2>&1 | head -1)"
CLI_VER="$("$NATS_BIN" --version 2>&1 | head -1)"
jb() { echo "${RES[jetbroker.$1]}"; }
ns() { echo "${RES[nats-server.$1]}"; }

echo
echo "Resources, $(date -u +%Y-%m-%d), $(nproc) cores ($(uname -m)), $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo), load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "$JB_VER | $NS_VER | nats CLI $CLI_VER | start-up median of $ROUNDS rounds of $STARTS (alternating), others median of $REPS"
echo
echo "| Measure | jetbroker | nats-server | ratio | goal | |"
echo "|---|---:|---:|---:|---:|---|"
r="$(ratio "$(jb su)" "$(ns su)")"
echo "| start-up, exec to first PONG (ms) | $(jb su) | $(ns su) | $r | ≤ 0.20 | $(verdict_le "$r" 0.20) |"
echo "| harness floor: bench/floor_server.c, exec to first PONG (ms) | $FLOOR | $FLOOR | – | – | – |"
if [[ "$FLOOR" != n/a ]]; then
  r="$(awk -v j="$(jb su)" -v n="$(ns su)" -v f="$FLOOR" 'BEGIN { if (n - f > 0) printf "%.2f", (j - f) / (n - f); else print "n/a" }')"
  echo "| start-up above the floor (ms) | $(awk -v j="$(jb su)" -v f="$FLOOR" 'BEGIN { printf "%.1f", j - f }') | $(awk -v n="$(ns su)" -v f="$FLOOR" 'BEGIN { printf "%.1f", n - f }') | $r | ≤ 0.20 | $(verdict_le "$r" 0.20) |"
fi
r="$(ratio "$(jb sujs)" "$(ns sujs)")"
echo "| start-up with \`-js\`, empty store (ms) | $(jb sujs) | $(ns sujs) | $r | ≤ 0.20 | $(verdict_le "$r" 0.20) |"
r="$(ratio "$(jb idle)" "$(ns idle)")"
echo "| idle RSS, 1 s after start | $(mib "$(jb idle)") | $(mib "$(ns idle)") | $r | ≤ 0.33 | $(verdict_le "$r" 0.34) |"
for c in "${COUNTS[@]}"; do
  r="$(ratio "$(jb rss.$c)" "$(ns rss.$c)")"
  echo "| RSS with $c idle clients | $(mib "$(jb rss.$c)") | $(mib "$(ns rss.$c)") | $r | – | – |"
done
for c in "${COUNTS[@]}"; do
  r="$(ratio "$(jb per.$c)" "$(ns per.$c)")"
  echo "| per connection, (RSS($c) - idle) / $c | $(kib "$(jb per.$c)") | $(kib "$(ns per.$c)") | $r | ≤ 0.50 | $(verdict_le "$r" 0.50) |"
done
echo
echo "raw samples:" >&2
for f in "$WORK"/*.mem "$WORK"/*.su "$WORK"/*.sujs; do echo "  $(basename "$f"): $(tr '\n' ';' <"$f")" >&2; done
echo "total bench time: $(($(date +%s) - start)) s" >&2
