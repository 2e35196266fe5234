"""Raw-socket probes for the side-by-side resource and recovery benchmarks (bench/*.sh).

No client library: every figure is taken the same way from jetbroker and nats-server, with plain
NATS protocol lines, so neither server is favoured by a client's connect or retry behaviour.

  python3 bench/probe.py startup BIN N plain|js      -> median ms, exec to first PONG
  python3 bench/probe.py memory BIN COUNT...         -> idle VmRSS KiB, then VmRSS with COUNT clients
  python3 bench/probe.py free_port                   -> a free TCP port on 127.0.0.1
  python3 bench/probe.py hold_pending PORT STREAM CONSUMER N
      -> creates a durable pull consumer (explicit acks, ack_wait 1 h), fetches N messages and
         acks every other one, so N/2 stay pending; prints "<num_ack_pending> <ack_floor>"
  python3 bench/probe.py recovery BIN SD PORT STREAM MSGS [CONSUMER PENDING]
      -> execs BIN on an existing store and times exec -> STREAM.INFO answering MSGS messages
         (and, with CONSUMER, CONSUMER.INFO answering PENDING acks pending); prints
         "<ms> <messages> <num_ack_pending or ->"
"""
import asyncio
import json
import resource
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


def spawn(bin_, port, extra):
    return subprocess.Popen([bin_, "-p", str(port), "-m", "-1", "-a", "127.0.0.1", *extra],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def connect_retry(port, proc=None, deadline=30.0, poll=0.002):
    t_end = time.perf_counter() + deadline
    while True:
        try:
            return socket.create_connection(("127.0.0.1", port), timeout=1.0)
        except OSError:
            if proc is not None and proc.poll() is not None:
                raise SystemExit(f"server exited with {proc.returncode}")
            if time.perf_counter() > t_end:
                raise SystemExit("server did not accept connections")
            time.sleep(poll)


def read_until(s, token, timeout):
    s.settimeout(timeout)
    buf = b""
    while token not in buf:
        chunk = s.recv(65536)
        if not chunk:
            raise ConnectionError("closed")
        buf += chunk
    return buf


def first_pong(port, proc, poll=0.002):
    s = connect_retry(port, proc, poll=poll)
    s.sendall(b'CONNECT {"verbose":false}\r\nPING\r\n')
    read_until(s, b"PONG\r\n", 10)
    return s


def stop(proc, sig=signal.SIGTERM):
    proc.send_signal(sig)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class msg_reader:
    """Reads MSG/HMSG frames (and skips INFO/PING/PONG/+OK lines) from a socket."""

    def __init__(self, s):
        self.s = s
        self.buf = bytearray()

    def _fill(self):
        chunk = self.s.recv(1 << 20)
        if not chunk:
            raise ConnectionError("closed")
        self.buf += chunk

    def next(self):
        """Returns (subject, reply, headers bytes, payload bytes); raises socket.timeout."""
        while True:
            end = self.buf.find(b"\r\n")
            if end < 0:
                self._fill()
                continue
            line = bytes(self.buf[:end])
            if line.startswith(b"PING"):
                del self.buf[:end + 2]
                self.s.sendall(b"PONG\r\n")
                continue
            if not (line.startswith(b"MSG ") or line.startswith(b"HMSG ")):
                if line.startswith(b"-ERR"):
                    raise ConnectionError(line.decode())
                del self.buf[:end + 2]
                continue
            parts = line.split()
            hdr = 0
            if parts[0] == b"HMSG":
                hdr, total = int(parts[-2]), int(parts[-1])
                reply = parts[3] if len(parts) == 6 else b""
            else:
                total = int(parts[-1])
                reply = parts[3] if len(parts) == 5 else b""
            while len(self.buf) < end + 2 + total + 2:
                self._fill()
            body = bytes(self.buf[end + 2:end + 2 + total])
            del self.buf[:end + 2 + total + 2]
            return parts[1].decode(), reply.decode(), body[:hdr], body[hdr:]


_readers = {}


def reader_of(s):
    """The one msg_reader of a socket (bytes read past one frame stay for the next call)."""
    r = _readers.get(s.fileno())
    if r is None or r.s is not s:
        r = _readers[s.fileno()] = msg_reader(s)
    return r


def request(s, subject, payload=b"", timeout=0.1):
    """One request with a fresh inbox on a connected socket; parsed JSON, or None on timeout.
    Late answers to earlier requests (other inboxes) are skipped."""
    inbox = f"_INBOX.probe.{time.monotonic_ns()}"
    s.sendall(f"SUB {inbox} 1\r\nUNSUB 1 1\r\nPUB {subject} {inbox} {len(payload)}\r\n".encode()
              + payload + b"\r\n")
    s.settimeout(timeout)
    r = reader_of(s)
    try:
        while True:
            subj, _, _, body = r.next()
            if subj == inbox:
                return json.loads(body)
    except socket.timeout:
        return None


def startup(bin_, n, js):
    samples = []
    for _ in range(n):
        # The same idle pause before every start: what the machine did just before (the previous
        # server's shutdown, 1 ms for one server and 15 for another) changes how fast the next
        # exec runs, by up to a millisecond on this kind of machine.
        time.sleep(0.02)
        extra = []
        d = None
        if js:
            d = tempfile.mkdtemp(prefix="rb_sd_")
            extra = ["-js", "-sd", d]
        port = free_port()
        t0 = time.perf_counter()
        p = spawn(bin_, port, extra)
        s = first_pong(port, p, poll=0.0002)  # 0.2 ms: the retry step is part of what is measured
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


def hold_pending(port, stream, consumer, n):
    s = connect_retry(port)
    s.sendall(b'CONNECT {"verbose":false,"headers":true,"no_responders":true}\r\n')
    cfg = {"stream_name": stream, "config": {
        "durable_name": consumer, "ack_policy": "explicit", "ack_wait": 3600 * 10**9,
        "max_ack_pending": n, "deliver_policy": "all"}}
    r = request(s, f"$JS.API.CONSUMER.CREATE.{stream}.{consumer}", json.dumps(cfg).encode(), 10)
    if not r or "error" in r:
        raise SystemExit(f"consumer create failed: {r}")
    inbox = "_INBOX.probe.fetch"
    body = json.dumps({"batch": n, "expires": 120 * 10**9}).encode()
    s.sendall(f"SUB {inbox} 9\r\nPUB $JS.API.CONSUMER.MSG.NEXT.{stream}.{consumer} {inbox} {len(body)}\r\n"
              .encode() + body + b"\r\n")
    s.settimeout(60)
    rd = reader_of(s)
    got = 0
    acks = []
    while got < n:
        subj, reply, hdr, _ = rd.next()
        if not reply.startswith("$JS.ACK."):
            continue  # status messages (on the inbox) carry no ack reply
        got += 1
        if got % 2 == 0:
            acks.append(f"PUB {reply} 0\r\n\r\n")
        if len(acks) >= 1000:
            s.sendall("".join(acks).encode())
            acks.clear()
    s.sendall("".join(acks).encode())
    # Wait until the server has applied every ack.
    expect = n - n // 2
    deadline = time.perf_counter() + 30
    while True:
        info = request(s, f"$JS.API.CONSUMER.INFO.{stream}.{consumer}", b"", 5)
        if info and info.get("num_ack_pending") == expect:
            break
        if time.perf_counter() > deadline:
            raise SystemExit(f"acks not applied: {info}")
    s.close()
    print(f"{info['num_ack_pending']} {info['ack_floor']['stream_seq']}")


def recovery(bin_, sd, port, stream, expect, consumer=None, pending=None):
    t0 = time.perf_counter()
    p = spawn(bin_, port, ["-js", "-sd", sd])
    s = None
    msgs = None
    ack_pending = "-"
    while True:
        if time.perf_counter() - t0 > 300:
            raise SystemExit("no recovered answer in 300 s")
        if s is None:
            s = connect_retry(port, p, 300)
            s.sendall(b'CONNECT {"verbose":false}\r\n')
        try:
            if msgs is None:
                r = request(s, f"$JS.API.STREAM.INFO.{stream}")
                if r is None or "state" not in r:
                    continue
                msgs = r["state"]["messages"]
            if consumer is None:
                break
            r = request(s, f"$JS.API.CONSUMER.INFO.{stream}.{consumer}")
            if r is not None and "num_ack_pending" in r:
                ack_pending = r["num_ack_pending"]
                break
        except (ConnectionError, OSError):
            s.close()
            s = None
    t = (time.perf_counter() - t0) * 1000
    s.close()
    stop(p)
    if msgs != expect or (pending is not None and ack_pending != pending):
        print(f"recovered state differs: {msgs} messages (want {expect}), {ack_pending} pending "
              f"(want {pending})", file=sys.stderr)
    print(f"{t:.1f} {msgs} {ack_pending}")


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "startup":
        startup(args[0], int(args[1]), args[2] == "js")
    elif cmd == "memory":
        memory(args[0], [int(x) for x in args[1:]])
    elif cmd == "free_port":
        print(free_port())
    elif cmd == "hold_pending":
        hold_pending(int(args[0]), args[1], args[2], int(args[3]))
    elif cmd == "recovery":
        extra = (args[5], int(args[6])) if len(args) > 6 else ()
        recovery(args[0], args[1], int(args[2]), args[3], int(args[4]), *extra)
    else:
        raise SystemExit(f"unknown command {cmd}")
