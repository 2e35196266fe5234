"""The native Prometheus endpoint (/metrics), which nats-server lacks: parse the text format."""

from __future__ import annotations

import re
import time

import pytest

LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (-?[0-9.eE+]+)$')


def parse(text: str) -> dict[str, float]:
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = LINE.match(line)
        assert m, f"not Prometheus text format: {line!r}"
        out[m.group(1) + (m.group(2) or "")] = float(m.group(3))
    return out


def metrics(srv) -> dict[str, float]:
    status, body = srv.http_get("/metrics")
    assert status == 200
    return parse(body.decode())


async def test_core_metrics(jetbroker, nats_connect):
    nc = await nats_connect(jetbroker)
    sub = await nc.subscribe("m.x")
    for _ in range(5):
        await nc.publish("m.x", b"abc")
    await nc.flush()
    for _ in range(5):
        await sub.next_msg(timeout=2)
    m = metrics(jetbroker)
    assert m["gnatsd_varz_connections"] == 1
    assert m["gnatsd_varz_in_msgs"] == 5
    assert m["gnatsd_varz_in_bytes"] == 15
    assert m["gnatsd_varz_out_msgs"] == 5
    assert m["gnatsd_varz_subscriptions"] >= 1
    assert m["gnatsd_varz_mem"] > 0


async def test_jetstream_metrics(js_jetbroker, nats_connect):
    nc = await nats_connect(js_jetbroker)
    js = nc.jetstream()
    await js.add_stream(name="MET", subjects=["met.>"])
    for i in range(7):
        await js.publish("met.a", b"x")
    psub = await js.pull_subscribe("met.>", "C1")
    msgs = await psub.fetch(3)
    for m in msgs:
        await m.ack_sync()
    deadline = time.monotonic() + 5
    while True:  # per-consumer figures refresh every 100 ms
        m = metrics(js_jetbroker)
        key = 'jetstream_consumer_num_pending{stream="MET",consumer="C1"}'
        if m.get(key) == 4 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert m["jetstream_streams"] == 1
    assert m['jetstream_stream_messages{stream="MET"}'] == 7
    assert m[key] == 4
    assert m['jetstream_consumer_num_ack_pending{stream="MET",consumer="C1"}'] == 0
    assert m['jetstream_consumer_ack_floor_stream_seq{stream="MET",consumer="C1"}'] == 3
