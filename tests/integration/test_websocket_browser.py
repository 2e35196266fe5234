"""A real browser against the WebSocket listener: headless Chromium runs the nats.ws client (npm,
pinned in browser/package-lock.json) and talks to jetbroker or nats-server over ws://, while nats-py
on the TCP port publishes, subscribes and answers requests. The page posts what it saw to a small
HTTP server run by the test, which also serves the page and the client bundle.

scripts/setup.sh installs Debian's chromium and runs `npm ci` in tests/integration/browser; without
them the tests skip and say which is missing.
"""

from __future__ import annotations

import asyncio
import http.server
import json
import re
import shutil
import subprocess
import threading
from pathlib import Path

import pytest

from test_websocket import WS_LOG, ws_conf

BROWSER_DIR = Path(__file__).resolve().parent / "browser"
BUNDLE = BROWSER_DIR / "node_modules" / "nats.ws" / "esm" / "nats.js"
PAGE_TIMEOUT = 30.0


def chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if p := shutil.which(name):
            return p
    return None


class PageServer:
    """Serves index.html and nats.js; collects the JSON the page POSTs to /result."""

    def __init__(self):
        self.result: dict | None = None
        self.done = threading.Event()
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):  # quiet
                pass

            def do_GET(self):
                path = self.path.split("?", 1)[0]
                files = {"/index.html": (BROWSER_DIR / "index.html", "text/html"),
                         "/nats.js": (BUNDLE, "text/javascript")}
                if path not in files:
                    self.send_error(404)
                    return
                f, ctype = files[path]
                body = f.read_bytes()
                self.send_response(200)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):
                n = int(self.headers.get("Content-Length", 0))
                owner.result = json.loads(self.rfile.read(n))
                self.send_response(204)
                self.end_headers()
                owner.done.set()

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def page_server():
    if chromium() is None:
        pytest.skip("chromium not installed (scripts/setup.sh installs Debian's chromium)")
    if not BUNDLE.exists():
        pytest.skip("nats.ws not installed (scripts/setup.sh runs npm ci in tests/integration/browser)")
    s = PageServer()
    yield s
    s.close()


@pytest.fixture
def browser(tmp_path):
    procs = []

    def launch(url: str):
        p = subprocess.Popen(
            [chromium(), "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
             "--no-first-run", "--no-default-browser-check", "--disable-extensions",
             f"--user-data-dir={tmp_path / 'profile'}", url],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        procs.append(p)
        return p

    yield launch
    for p in procs:
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


@pytest.mark.parametrize("compression", [False, True], ids=["plain", "deflate"])
async def test_browser_nats_ws(make_server, server_kind, tmp_path, page_server, browser, nats_connect, compression):
    conf = ws_conf(tmp_path, f"no_tls: true\ncompression: {str(compression).lower()}")
    srv = make_server(server_kind, "-c", conf, "-D")
    ws_port = int(re.search(WS_LOG, srv.wait_log(WS_LOG)).group(3))

    nc = await nats_connect(srv)
    out_sub = await nc.subscribe("browser.out")
    ready_sub = await nc.subscribe("browser.ready")

    async def svc(m):
        await m.respond(b"pong:" + m.data)

    await nc.subscribe("py.svc", cb=svc)
    await nc.flush()

    proc = browser(f"http://127.0.0.1:{page_server.port}/index.html?ws=ws://127.0.0.1:{ws_port}")
    assert (await out_sub.next_msg(timeout=PAGE_TIMEOUT)).data == b"hello from chromium"
    await ready_sub.next_msg(timeout=PAGE_TIMEOUT)
    await nc.publish("browser.in", b"pushed from python")
    await nc.flush()

    loop = asyncio.get_running_loop()
    if not await loop.run_in_executor(None, page_server.done.wait, PAGE_TIMEOUT):
        err = proc.stderr.read1(4000) if proc.poll() is not None else b""
        pytest.fail(f"the page posted no result within {PAGE_TIMEOUT}s {err!r}\n{srv.log_text()[-2000:]}")
    r = page_server.result
    assert r.get("ok"), r.get("error")
    assert r["info"] == {"port": ws_port, "host": "0.0.0.0", "headers": True, "max_payload": 1048576}
    assert r["reply"] == "pong:ping"
    assert r["self"] == ["one", "big-ok", "three:browser"]
    assert r["pushed"] == "pushed from python"
    srv.wait_log(r"Client connection closed: Client Closed")
