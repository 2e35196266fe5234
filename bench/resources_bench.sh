#!/usr/bin/env bash
# Side-by-side resource benchmark: jetbroker vs nats-server — start-up time, idle memory, memory per
# idle client connection, and JetStream recovery time after kill -9.
#
#   bench/resources_bench.sh                 # full run (~2-3 min on 2 cores)
#   REPS=1 REC_MSGS=200000 bench/resources_bench.sh   # quick run
#
# Environment: JETBROKER_BIN (default build/jetbroker), NATS_SERVER_BIN (default ~/go/bin/nats-server),
# NATS_BIN (default ~/go/bin/nats), STARTS (start-up samples, median; default 10), REPS (memory and
# recovery repetitions, median; default 3), CLIENTS (client counts, default "2000 10000"),
# REC_MSGS (messages in the recovery stream, default 1000000), REC_SIZE (bytes, default 128).
#
# Start-up: exec to the first PONG. The helper picks a free port, execs `<bin> -p PORT -m -1 -a
# 127.0.0.1 [-js -sd <fresh dir>]`, retries TCP connect every 2 ms, sends CONNECT + PING, reads PONG.
# Memory: VmRSS from /proc/<pid>/status. "idle" is 1 s after the first PONG (probe connection closed).
# Then the helper opens raw TCP connections (CONNECT + PING, wait for PONG, then stay idle), in batches
# of 500, up to each count in CLIENTS, waits 2 s and reads VmRSS again. Per-connection memory =
# (RSS(N) - RSS(idle)) / N. No JetStream for the memory figures (plain `-p PORT -m -1 -a 127.0.0.1`).
# Recovery: fresh store (`-js -sd <tmp>`), `nats stream add benchstream --subjects bench.js --storage file
# --defaults`, fill with `nats bench js pub async` (REC_MSGS x REC_SIZE, batch 500), check the count,
# kill -9, then exec the server again on the same store and port and time until a
# `$JS.API.STREAM.INFO.benchstream` request (100 ms timeout, retried) answers with the stream's state;
# the message count it reports must equal REC_MSGS.
# Servers alternate inside each repetition; a fresh server is started for every sample.
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
STARTS="${STARTS:-10}"
REPS="${REPS:-3}"
CLIENTS="${CLIENTS:-2000 10000}"
REC_MSGS="${REC_MSGS:-1000000}"
REC_SIZE="${REC_SIZE:-128}"

bench_init resources_bench "$NATS_BIN"
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

cat >"$WORK/helper.py" <<'EOF'
import asyncio, json, os, resource, signal, socket, statistics, subprocess, sys, tempfile, time

soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p

def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1

def spawn(bin_, port, extra):
    return subprocess.Popen([bin_, "-p", str(port), "-m", "-1", "-a", "127.0.0.1", *extra],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

def connect_retry(port, proc, deadline=30.0):
    t_end = time.perf_counter() + deadline
    while True:
        try:
            return socket.create_connection(("127.0.0.1", port), timeout=1.0)
        except OSError:
            if proc.poll() is not None:
                raise SystemExit(f"server exited with {proc.returncode}")
            if time.perf_counter() > t_end:
                raise SystemExit("server did not accept connections")
            time.sleep(0.002)

def read_until(s, token, timeout):
    s.settimeout(timeout)
    buf = b""
    while token not in buf:
        chunk = s.recv(65536)
        if not chunk:
            raise ConnectionError("closed")
        buf += chunk
    return buf

def first_pong(port, proc):
    s = connect_retry(port, proc)
    s.sendall(b'CONNECT {"verbose":false}\r\nPING\r\n')
    read_until(s, b"PONG\r\n", 10)
    return s

def stop(proc, sig=signal.SIGTERM):
    proc.send_signal(sig)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill(); proc.wait()

def startup(bin_, n, js):
    samples = []
    for _ in range(n):
        extra = []
        d = None
        if js:
            d = tempfile.mkdtemp(prefix="rb_sd_")
            extra = ["-js", "-sd", d]
        port = free_port()
        t0 = time.perf_counter()
        p = spawn(bin_, port, extra)
        s = first_pong(port, p)
        samples.append((time.perf_counter() - t0) * 1000)
        s.close()
        stop(p)
        if d:
            subprocess.run(["rm", "-rf", d])
    print(f"{statistics.median(samples):.1f}")

async def open_clients(port, n, keep):
    async def one():
        r, w = await asyncio.open_connection("127.0.0.1", port)
        await r.readline()  # INFO
        w.write(b'CONNECT {"verbose":false,"pedantic":false}\r\nPING\r\n')
        await w.drain()
        while True:
            line = await r.readline()
            if not line:
                raise ConnectionError("closed before PONG")
            if line == b"PONG\r\n":
                break
        keep.append((r, w))
    for i in range(0, n, 500):
        await asyncio.gather(*(one() for _ in range(min(500, n - i))))

def memory(bin_, counts):
    port = free_port()
    p = spawn(bin_, port, [])
    s = first_pong(port, p)
    s.close()
    time.sleep(1.0)
    out = [rss_kb(p.pid)]
    keep = []
    async def run():
        for c in counts:
            await open_clients(port, c - len(keep), keep)
            await asyncio.sleep(2.0)
            if p.poll() is not None:
                raise SystemExit("server died")
            out.append(rss_kb(p.pid))
        for _, w in keep:
            w.close()
    asyncio.run(run())
    stop(p)
    print(" ".join(str(x) for x in out))

def stream_info(s, port):
    # one request per call with a fresh inbox; returns parsed JSON or None on timeout
    inbox = f"_INBOX.rb.{time.monotonic_ns()}"
    s.sendall(f"SUB {inbox} 1\r\nUNSUB 1 1\r\nPUB $JS.API.STREAM.INFO.benchstream {inbox} 0\r\n\r\n".encode())
    s.settimeout(0.1)
    buf = b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            buf += chunk
            i = buf.find(b"MSG " + inbox.encode())
            if i < 0:
                continue
            hdr_end = buf.find(b"\r\n", i)
            if hdr_end < 0:
                continue
            n = int(buf[i:hdr_end].split()[-1])
            if len(buf) < hdr_end + 2 + n:
                continue
            return json.loads(buf[hdr_end + 2:hdr_end + 2 + n])
    except socket.timeout:
        return None

def recovery(bin_, sd, port, expect):
    t0 = time.perf_counter()
    p = spawn(bin_, port, ["-js", "-sd", sd])
    s = None
    while True:
        if s is None:
            s = connect_retry(port, p, 300)
            s.sendall(b'CONNECT {"verbose":false}\r\n')
        try:
            r = stream_info(s, port)
        except (ConnectionError, OSError):
            s.close(); s = None; continue
        if r is not None and "state" in r:
            t = (time.perf_counter() - t0) * 1000
            break
        if time.perf_counter() - t0 > 300:
            raise SystemExit("no STREAM.INFO answer in 300 s")
    msgs = r["state"]["messages"]
    s.close()
    stop(p)
    print(f"{t:.1f} {msgs}")

cmd = sys.argv[1]
if cmd == "startup":
    startup(sys.argv[2], int(sys.argv[3]), sys.argv[4] == "js")
elif cmd == "memory":
    memory(sys.argv[2], [int(x) for x in sys.argv[3:]])
elif cmd == "free_port":
    print(free_port())
elif cmd == "recovery":
    recovery(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
EOF
H=(python3 "$WORK/helper.py")

# fill_and_kill <bin> <store dir> <port>: fill the stream, check it, kill -9
fill_and_kill() {
  local bin="$1" sd="$2" port="$3" pid n
  rm -rf "$sd"
  "$bin" -p "$port" -m -1 -a 127.0.0.1 -js -sd "$sd" 2>"$WORK/fill.log" &
  pid=$!
  local i
  for ((i = 0; i < 1000; i++)); do grep -q "Server is ready" "$WORK/fill.log" && break; sleep 0.01; done
  local N=("$NATS_BIN" --no-context -s "nats://127.0.0.1:$port")
  "${N[@]}" stream add benchstream --subjects bench.js --storage file --defaults >/dev/null
  "${N[@]}" bench js pub async bench.js --msgs "$REC_MSGS" --size "$REC_SIZE" --no-progress >"$WORK/fill.out" 2>&1 || true
  n="$("${N[@]}" stream info benchstream -j | jq -r .state.messages)"
  [[ "$n" == "$REC_MSGS" ]] || echo "  $(basename "$bin"): fill stored $n of $REC_MSGS" >&2
  du -sk "$sd" | awk '{print $1}' >"$WORK/du"
  kill -9 "$pid"
  wait "$pid" 2>/dev/null || true
}

median() { { grep -v NaN || true; } | sort -g | awk '{a[NR] = $1} END {if (NR == 0) print "NaN"; else print a[int((NR + 1) / 2)]}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "NaN" || b == "NaN" || b == 0) print "n/a"; else printf "%.2f", a / b }'; }
verdict_le() { # ratio must be <= goal
  awk -v r="$1" -v g="$2" 'BEGIN { if (r == "n/a") print "n/a"; else if (r + 0 <= g + 0) print "met"; else print "**missed**" }'
}
binof() { if [[ $1 == jetbroker ]]; then echo "$JETBROKER_BIN"; else echo "$NATS_SERVER_BIN"; fi; }
mib() { awk -v k="$1" 'BEGIN { if (k == "NaN") print "n/a"; else printf "%.1f MiB", k / 1024 }'; }
kib() { awk -v k="$1" 'BEGIN { if (k == "NaN") print "n/a"; else printf "%.1f KiB", k }'; }

declare -A RES
read -r -a COUNTS <<<"$CLIENTS"
start=$(date +%s)

for kind in jetbroker nats-server; do
  RES[$kind.su]="$("${H[@]}" startup "$(binof $kind)" "$STARTS" plain)"
  RES[$kind.sujs]="$("${H[@]}" startup "$(binof $kind)" "$STARTS" js)"
done
echo "done: start-up ($(($(date +%s) - start)) s)" >&2

for kind in jetbroker nats-server; do : >"$WORK/$kind.mem"; : >"$WORK/$kind.rec"; done
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

for ((r = 0; r < REPS; r++)); do
  for kind in jetbroker nats-server; do
    port="$("${H[@]}" free_port)"
    fill_and_kill "$(binof $kind)" "$WORK/rec.sd" "$port"
    echo "$("${H[@]}" recovery "$(binof $kind)" "$WORK/rec.sd" "$port" "$REC_MSGS") $(cat "$WORK/du")" >>"$WORK/$kind.rec"
    rm -rf "$WORK/rec.sd"
  done
  echo "done: recovery rep $((r + 1)) ($(($(date +%s) - start)) s)" >&2
done
for kind in jetbroker nats-server; do
  RES[$kind.rec]="$(awk '{print $1}' "$WORK/$kind.rec" | median)"
  RES[$kind.recmsgs]="$(awk '{print $2}' "$WORK/$kind.rec" | sort -u | tr '\n' '/' | sed 's/\/$//')"
  RES[$kind.du]="$(awk '{print $3}' "$WORK/$kind.rec" | median)"
done

JB_VER="$("$JETBROKER_BIN" --version 2>&1 | head -1)"
NS_VER="$("$NATS_SERVER_BIN" --version 2>&1 | head -1)"
CLI_VER="$("$NATS_BIN" --version 2>&1 | head -1)"
jb() { echo "${RES[jetbroker.$1]}"; }
ns() { echo "${RES[nats-server.$1]}"; }

echo
echo "Resources, $(date -u +%Y-%m-%d), $(nproc) cores ($(uname -m)), $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo), load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "$JB_VER | $NS_VER | nats CLI $CLI_VER | start-up median of $STARTS, others median of $REPS"
echo
echo "| Measure | jetbroker | nats-server | ratio | goal | |"
echo "|---|---:|---:|---:|---:|---|"
r="$(ratio "$(jb su)" "$(ns su)")"
echo "| start-up, exec to first PONG (ms) | $(jb su) | $(ns su) | $r | ≤ 0.20 | $(verdict_le "$r" 0.20) |"
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
r="$(ratio "$(jb rec)" "$(ns rec)")"
echo "| recovery after kill -9, $REC_MSGS x $REC_SIZE B file stream: exec to STREAM.INFO (ms) | $(jb rec) | $(ns rec) | $r | – | – |"
echo "| messages reported after recovery | $(jb recmsgs) | $(ns recmsgs) | | | |"
echo "| store size on disk before kill (KiB) | $(jb du) | $(ns du) | $(ratio "$(jb du)" "$(ns du)") | | |"
echo
echo "raw samples:" >&2
for f in "$WORK"/*.mem "$WORK"/*.rec; do echo "  $(basename "$f"): $(tr '\n' ';' <"$f")" >&2; done
echo "total bench time: $(($(date +%s) - start)) s" >&2
