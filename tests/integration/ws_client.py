"""A small raw WebSocket client for tests (RFC 6455 framing, permessage-deflate), on a blocking socket.

RawWs.open(host, port, ...) sends the upgrade request and parses the response; then send() and
frames()/read_until() work on frames. Server frames are checked to be unmasked; payloads of
compressed messages are inflated with a fresh context per message (no context takeover, which is
what nats-server negotiates).
"""

from __future__ import annotations

import base64
import os
import socket
import ssl
import struct
import time
import zlib
from dataclasses import dataclass, field

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0, 1, 2, 8, 9, 10

FIXED_KEY = "dGhlIHNhbXBsZSBub25jZQ=="  # RFC 6455's sample key: both servers answer it the same way


@dataclass
class Frame:
    fin: bool
    rsv1: bool
    opcode: int
    payload: bytes  # inflated when rsv1 was set on the message


@dataclass
class RawWs:
    sock: socket.socket
    status: int = 0
    status_line: str = ""
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    buf: bytearray = field(default_factory=bytearray)
    control: list[Frame] = field(default_factory=list)  # control frames seen by read_until
    closed: bool = False

    @classmethod
    def open(cls, host: str, port: int, *, path: str = "/", method: str = "GET", key: str = FIXED_KEY,
             extra: dict[str, str] | None = None, omit: tuple[str, ...] = (), tls: ssl.SSLContext | None = None,
             timeout: float = 5.0) -> "RawWs":
        raw = socket.create_connection((host, port), timeout=timeout)
        sock = tls.wrap_socket(raw, server_hostname="localhost") if tls else raw
        hdrs = {"Host": f"{host}:{port}", "Upgrade": "websocket", "Connection": "Upgrade",
                "Sec-WebSocket-Key": key, "Sec-WebSocket-Version": "13"}
        for k in omit:
            hdrs.pop(k, None)
        hdrs.update(extra or {})
        req = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in hdrs.items()) + "\r\n"
        sock.sendall(req.encode())
        ws = cls(sock)
        ws._read_response()
        return ws

    @staticmethod
    def new_key() -> str:
        return base64.b64encode(os.urandom(16)).decode()

    # ---- HTTP ----------------------------------------------------------------------------------

    def _fill(self, deadline: float) -> bool:
        self.sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            chunk = self.sock.recv(65536)
        except (ConnectionResetError, ssl.SSLError):
            chunk = b""
        if not chunk:
            self.closed = True
            return False
        self.buf += chunk
        return True

    def _read_response(self, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while b"\r\n\r\n" not in self.buf:
            if not self._fill(deadline):
                raise AssertionError(f"no HTTP response, got {bytes(self.buf)!r}")
        head, _, rest = bytes(self.buf).partition(b"\r\n\r\n")
        self.buf = bytearray(rest)
        lines = head.decode().split("\r\n")
        self.status_line = lines[0]
        self.status = int(lines[0].split()[1])
        self.headers = [tuple(x.strip() for x in l.split(":", 1)) for l in lines[1:]]  # type: ignore[misc]
        if self.status != 101:
            n = int(self.header("Content-Length") or 0)
            while len(self.buf) < n and self._fill(deadline):
                pass
            self.body = bytes(self.buf[:n])
            del self.buf[:n]

    def header(self, name: str) -> str | None:
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    # ---- frames --------------------------------------------------------------------------------

    def send(self, data: bytes | str, opcode: int = OP_BINARY, *, mask: bool = True, compress: bool = False,
             fin: bool = True) -> None:
        if isinstance(data, str):
            data = data.encode()
        rsv1 = 0
        if compress:
            c = zlib.compressobj(wbits=-15)
            data = c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH)
            assert data.endswith(b"\x00\x00\xff\xff")
            data = data[:-4]
            rsv1 = 0x40
        b0 = (0x80 if fin else 0) | rsv1 | opcode
        n = len(data)
        if n < 126:
            hdr = struct.pack("!BB", b0, (0x80 if mask else 0) | n)
        elif n < 65536:
            hdr = struct.pack("!BBH", b0, (0x80 if mask else 0) | 126, n)
        else:
            hdr = struct.pack("!BBQ", b0, (0x80 if mask else 0) | 127, n)
        if mask:
            key = os.urandom(4)
            data = bytes(b ^ key[i & 3] for i, b in enumerate(data))
            hdr += key
        self.sock.sendall(hdr + data)

    def _need(self, n: int, deadline: float) -> bool:
        while len(self.buf) < n:
            if not self._fill(deadline):
                return False
        return True

    def frame(self, timeout: float = 5.0) -> Frame | None:
        """The next frame, or None at EOF. Fails on timeout."""
        deadline = time.monotonic() + timeout
        if not self._need(2, deadline):
            assert self.closed, "timeout waiting for a frame"
            return None
        b0, b1 = self.buf[0], self.buf[1]
        assert not b1 & 0x80, "server frames must not be masked"
        n, pos = b1 & 0x7F, 2
        if n == 126:
            assert self._need(4, deadline)
            n, pos = struct.unpack("!H", self.buf[2:4])[0], 4
        elif n == 127:
            assert self._need(10, deadline)
            n, pos = struct.unpack("!Q", self.buf[2:10])[0], 10
        assert self._need(pos + n, deadline), "EOF inside a frame"
        payload = bytes(self.buf[pos:pos + n])
        del self.buf[:pos + n]
        return Frame(bool(b0 & 0x80), bool(b0 & 0x40), b0 & 0x0F, payload)

    def messages(self, timeout: float = 5.0):
        """Yields (opcode, payload) per message (continuations joined, compressed ones inflated)."""
        parts, first = [], None
        while True:
            f = self.frame(timeout)
            if f is None:
                return
            if f.opcode >= OP_CLOSE:
                yield f.opcode, f.payload
                continue
            if f.opcode != OP_CONT:
                first = f
                parts = []
            parts.append(f.payload)
            if f.fin:
                data = b"".join(parts)
                if first.rsv1:
                    d = zlib.decompressobj(wbits=-15)
                    data = d.decompress(data + b"\x00\x00\xff\xff")
                yield first.opcode, data

    def read_until(self, marker: bytes, timeout: float = 5.0) -> bytes:
        """Concatenates data messages until `marker` appears; control frames go to self.control."""
        out = b""
        for op, data in self.messages(timeout):
            if op >= OP_CLOSE:
                self.control.append(Frame(True, False, op, data))
                if op == OP_CLOSE:
                    break
                continue
            out += data
            if marker in out:
                return out
        raise AssertionError(f"closed before {marker!r}; got {out!r}, control {self.control!r}")

    def close_frame(self, timeout: float = 5.0) -> tuple[int, str] | None:
        """Reads to the close frame; returns (status, reason), or None on EOF without one."""
        for f in self.control:
            if f.opcode == OP_CLOSE:
                return struct.unpack("!H", f.payload[:2])[0], f.payload[2:].decode()
        for op, data in self.messages(timeout):
            if op == OP_CLOSE:
                return struct.unpack("!H", data[:2])[0], data[2:].decode()
        return None

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass
