"""HTTP monitoring endpoints (differential)."""

import json
import re
from datetime import datetime

T = 5.0

VARZ_FIELDS = [
    "server_id", "version", "host", "port", "max_payload", "connections", "total_connections",
    "subscriptions", "in_msgs", "out_msgs", "in_bytes", "out_bytes", "slow_consumers", "uptime",
    "mem", "cpu", "start", "now",
]


def _parse_time(s: str) -> datetime:
    # RFC 3339 with nanoseconds: trim to microseconds for fromisoformat
    m = re.match(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)$", s)
    assert m, s
    frac = (m.group(2) or ".0")[:7]
    tz = "+00:00" if m.group(3) == "Z" else m.group(3)
    return datetime.fromisoformat(m.group(1) + frac + tz)


def test_varz_fields(server):
    status, body = server.http_get("/varz")
    assert status == 200
    v = json.loads(body)
    missing = [f for f in VARZ_FIELDS if f not in v]
    assert not missing, f"/varz lacks {missing}"
    assert v["port"] == server.port
    assert v["host"] == "127.0.0.1"
    assert v["max_payload"] == 1048576
    assert v["connections"] == 0 and v["total_connections"] == 0
    assert v["in_msgs"] == v["out_msgs"] == v["in_bytes"] == v["out_bytes"] == 0
    assert v["slow_consumers"] == 0
    assert isinstance(v["mem"], int) and v["mem"] > 0
    assert isinstance(v["cpu"], (int, float))
    assert _parse_time(v["start"]) <= _parse_time(v["now"])
    assert isinstance(v["uptime"], str) and re.match(r"^(\d+[dhms])+$", v["uptime"]), v["uptime"]


def test_varz_counts_exact(server, raw):
    sub = raw(server)
    sub.send("SUB one 1\r\n")
    sub.ping()
    pub = raw(server)
    pub.send(b"".join(b"PUB one 1\r\n%d\r\n" % (i % 10) for i in range(100)))
    pub.ping()
    sub.expect(rb"(MSG one 1 1\r\n\d\r\n){100}")
    v = server.varz()
    assert (v["in_msgs"], v["in_bytes"]) == (100, 100)
    assert (v["out_msgs"], v["out_bytes"]) == (100, 100)
    assert v["connections"] == 2
    assert v["total_connections"] == 2


def test_varz_headers_counted_in_bytes(server, raw):
    c = raw(server)
    hdr = b"NATS/1.0\r\nA: b\r\n\r\n"
    c.send(b"HPUB x %d %d\r\n" % (len(hdr), len(hdr) + 2) + hdr + b"hi\r\n")
    c.ping()
    v = server.varz()
    assert (v["in_msgs"], v["in_bytes"]) == (1, len(hdr) + 2)


def test_varz_subscriptions_delta(server, raw):
    base = server.varz()["subscriptions"]
    c = raw(server)
    c.send("SUB a 1\r\nSUB b 2\r\nSUB c q 3\r\n")
    c.ping()
    assert server.varz()["subscriptions"] == base + 3
    c.send("UNSUB 2\r\n")
    c.ping()
    assert server.varz()["subscriptions"] == base + 2
    c.close()
    server.wait_for(lambda: server.varz()["subscriptions"] == base, what="subs removed on close")


def test_total_connections_counts_closed(server, raw):
    for _ in range(3):
        raw(server).close()
    server.wait_for(lambda: server.varz()["connections"] == 0, what="connections closed")
    assert server.varz()["total_connections"] == 3


async def test_connz(server, nats_connect):
    nc = await nats_connect(server, name="conn-under-test")
    await nc.subscribe("a")
    await nc.subscribe("b.>")
    await nc.flush()
    cz = server.connz()
    assert cz["num_connections"] == 1
    assert len(cz["connections"]) == 1
    c = cz["connections"][0]
    for key in ("cid", "ip", "port", "start", "last_activity", "uptime", "idle",
                "pending_bytes", "in_msgs", "out_msgs", "in_bytes", "out_bytes", "subscriptions",
                "name", "lang", "version"):
        assert key in c, f"/connz connection lacks {key}: {sorted(c)}"
    assert c["subscriptions"] == 2
    assert c["name"] == "conn-under-test"
    assert c["lang"] == "python3"
    from nats.aio.client import __version__ as nats_py_version
    assert c["version"] == nats_py_version
    assert c["ip"] == "127.0.0.1"
    assert c["cid"] == nc._client_id
    await nc.close()
    server.wait_for(lambda: server.connz()["num_connections"] == 0, what="/connz empty after close")
    assert server.connz()["connections"] == []


async def test_connz_rtt(server, nats_connect):
    """nats-server reports the measured PING/PONG round trip (nats-top shows it)."""
    nc = await nats_connect(server)
    await nc.flush()
    c = server.connz()["connections"][0]
    assert re.match(r"^[\d.]+(ns|µs|us|ms|s)$", c.get("rtt", "")), c


async def test_connz_subs_list(server, nats_connect):
    nc = await nats_connect(server)
    await nc.subscribe("x.y")
    await nc.flush()
    c = server.connz("?subs=1")["connections"][0]
    assert c.get("subscriptions_list") == ["x.y"]


def test_connz_counts_per_connection(server, raw):
    a = raw(server)
    a.send("SUB s 1\r\n")
    a.ping()
    b = raw(server)
    b.send("PUB s 3\r\nabc\r\n")
    b.ping()
    a.expect(rb"MSG s 1 3\r\nabc\r\n")
    by_cid = {c["cid"]: c for c in server.connz()["connections"]}
    ca, cb = by_cid[a.info["client_id"]], by_cid[b.info["client_id"]]
    assert (ca["out_msgs"], ca["out_bytes"], ca["subscriptions"]) == (1, 3, 1)
    assert (cb["in_msgs"], cb["in_bytes"], cb["subscriptions"]) == (1, 3, 0)


def test_healthz(server):
    # Without JetStream configured the JetStream variants report healthy too (nats-server 2.14.9).
    for query in ("", "?js-enabled-only=true", "?js-server-only=true", "?js-enabled=true"):
        status, body = server.http_get("/healthz" + query)
        assert (status, json.loads(body)) == (200, {"status": "ok"}), query


def test_subsz(server, raw):
    base = server.get_json("/subsz")["num_subscriptions"]
    c = raw(server)
    c.send("SUB a 1\r\nSUB b.* 2\r\n")
    c.ping()
    sz = server.get_json("/subsz")
    assert sz["num_subscriptions"] == base + 2
    for key in ("server_id", "now", "num_cache", "num_inserts", "num_removes", "num_matches",
                "cache_hit_rate", "max_fanout", "avg_fanout"):
        assert key in sz, f"/subsz lacks {key}"


def test_root_and_unknown_path(server):
    assert server.http_get("/")[0] == 200
    assert server.http_get("/no-such-endpoint")[0] == 404
