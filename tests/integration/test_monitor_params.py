"""Monitoring query parameters as tools send them (nats-top's /connz?sort=, prometheus-nats-exporter's
/jsz?consumers=true&config=true and its -routez/-gatewayz/-leafz/-accstatz collectors, readiness
probes on /healthz?account=&stream=&consumer=), and nats-server's 400 answers to bad ones.
Differential: every test runs against jetbroker and nats-server."""

import asyncio
import json

import nats
import pytest

from conftest import IO_TIMEOUT, SERVER_KINDS, binary_for, js_args


@pytest.fixture
def pair(make_server):
    """(jetbroker, nats-server) with monitoring; skips when either binary is missing."""
    for kind in SERVER_KINDS:
        if binary_for(kind) is None:
            pytest.skip(f"{kind} binary not found")
    return make_server("jetbroker"), make_server("nats-server")


@pytest.fixture
def js_pair_mon(make_server, tmp_path):
    for kind in SERVER_KINDS:
        if binary_for(kind) is None:
            pytest.skip(f"{kind} binary not found")
    return (make_server("jetbroker", *js_args(tmp_path / "jb")), make_server("nats-server", *js_args(tmp_path / "ns")))


async def connect(srv, name):
    return await nats.connect(servers=[srv.url], name=name, allow_reconnect=False, connect_timeout=IO_TIMEOUT)


def names(doc):
    return [c.get("name") for c in doc["connections"]]


async def three_clients(srv):
    """alpha: 3 subscriptions, receives 5 messages; beta: 1 subscription; gamma publishes 5 x 10 B
    and 2 x 1000 B to alpha only."""
    a, b, g = await connect(srv, "alpha"), await connect(srv, "beta"), await connect(srv, "gamma")
    got = asyncio.Event()
    n = 0

    async def cb(m):
        nonlocal n
        n += 1
        if n == 7:
            got.set()

    await a.subscribe("to.alpha", cb=cb)
    await a.subscribe("x.*")
    await a.subscribe("q.>", queue="workers")
    await b.subscribe("to.beta")
    await a.flush()
    await b.flush()
    for _ in range(5):
        await g.publish("to.alpha", b"0123456789")
    for _ in range(2):
        await g.publish("to.alpha", b"z" * 1000)
    await g.flush()
    await asyncio.wait_for(got.wait(), IO_TIMEOUT)
    return a, b, g


async def test_connz_sorts_like_nats_server(server):
    a, b, g = await three_clients(server)
    try:
        got = {}
        for sort in ("cid", "start", "subs", "msgs_to", "msgs_from", "bytes_to", "bytes_from"):
            got[sort] = names(server.connz(f"?sort={sort}"))
            got[sort + "&limit=1"] = names(server.connz(f"?sort={sort}&limit=1"))
        got["subs&offset=1&limit=1"] = names(server.connz("?sort=subs&offset=1&limit=1"))
    finally:
        for c in (a, b, g):
            await c.close()
    assert got["cid"] == ["alpha", "beta", "gamma"]
    assert got["msgs_from"] == ["gamma", "alpha", "beta"] or got["msgs_from"] == ["gamma", "beta", "alpha"]
    assert got["msgs_to"][0] == "alpha" and got["bytes_from"][0] == "gamma" and got["subs"] == ["alpha", "beta", "gamma"]
    assert got["subs&offset=1&limit=1"] == ["beta"]
    # Ties (alpha and beta published nothing) are in no defined order on nats-server: compare leaders.
    server_name = server.kind
    assert got["msgs_from&limit=1"] == ["gamma"], server_name
    assert got["bytes_to&limit=1"] == ["alpha"], server_name


async def test_connz_keeps_closed_connections(server):
    a = await connect(server, "gone")
    await a.subscribe("closed.sub", queue="qq")
    await a.publish("closed.sub", b"x")
    await a.flush()
    status, body = server.http_get("/connz?state=open")
    cid = json.loads(body)["connections"][0]["cid"]
    await a.close()
    b = await connect(server, "here")
    try:
        closed = server.wait_for(lambda: server.connz("?state=closed")["connections"], what="a closed connection")
        anyc = server.connz("?state=any")
        by_cid = server.connz(f"?state=closed&cid={cid}&subs=detail")
        by_stop = server.connz("?state=closed&sort=stop")
        by_reason = server.connz("?state=closed&sort=reason")
    finally:
        await b.close()
    assert [c["name"] for c in closed] == ["gone"]
    c = closed[0]
    assert c["reason"] == "Client Closed" and "stop" in c and c["cid"] == cid
    assert c["in_msgs"] == 1 and c["out_msgs"] == 1
    assert sorted(names(anyc)) == ["gone", "here"] and anyc["total"] == 2
    detail = by_cid["connections"][0]["subscriptions_list_detail"]
    assert [{k: d.get(k) for k in ("account", "subject", "qgroup", "sid", "msgs", "cid")} for d in detail] == [
        {"account": "$G", "subject": "closed.sub", "qgroup": "qq", "sid": "1", "msgs": 1, "cid": cid}]
    assert names(by_stop) == names(by_reason) == ["gone"]


async def test_connz_subscription_details(server):
    a = await connect(server, "d")
    try:
        await a.subscribe("foo")
        await a.subscribe("q.>", queue="workers")
        sub = await a.subscribe("auto")
        await sub.unsubscribe(limit=5)
        for _ in range(3):
            await a.publish("foo", b"1")
        await a.flush()
        doc = server.wait_for(
            lambda: (d := server.connz("?subs=detail")) and any(s["msgs"] == 3 for s in d["connections"][0].get(
                "subscriptions_list_detail", [])) and d, what="3 deliveries counted")
        plain = server.connz("?subs=1")
    finally:
        await a.close()
    conn = doc["connections"][0]
    assert "subscriptions_list" not in conn
    detail = sorted(conn["subscriptions_list_detail"], key=lambda d: d["sid"])
    assert detail == [
        {"subject": "foo", "sid": "1", "msgs": 3, "cid": conn["cid"]},
        {"subject": "q.>", "qgroup": "workers", "sid": "2", "msgs": 0, "cid": conn["cid"]},
        {"subject": "auto", "sid": "3", "msgs": 0, "max": 5, "cid": conn["cid"]},
    ]
    assert sorted(plain["connections"][0]["subscriptions_list"]) == ["auto", "foo", "q.>"]


BAD = [
    "/connz?sort=bogus", "/connz?sort=CID", "/connz?sort=stop", "/connz?sort=reason", "/connz?state=bogus",
    "/connz?subs=bogus", "/connz?auth=maybe", "/connz?limit=abc", "/connz?offset=1x", "/connz?cid=-3",
    "/connz?limit=99999999999999999999", "/jsz?accounts=bogus", "/jsz?limit=abc", "/jsz?consumers=2",
    "/healthz?js-enabled-only=bogus", "/healthz?details=yes", "/accstatz?unused=nope",
]
OK = ["/connz?limit=-1", "/connz?offset=-1", "/connz?sort=cid&subs=TRUE&auth=0", "/connz?state=ALL", "/connz?subs=Detail"]


def test_bad_parameters_are_nats_servers_400s(pair):
    jb, ns = (bad_parameter_transcript(srv) for srv in pair)
    assert jb == ns


def bad_parameter_transcript(server):
    got = {}
    for path in BAD:
        status, body = server.http_get(path)
        got[path] = (status, body.decode())
    for path in OK:
        status, body = server.http_get(path)
        doc = json.loads(body)
        got[path] = (status, doc.get("offset"), doc.get("limit"))
    expect_400 = {p: v for p, v in got.items() if p in BAD}
    assert all(v[0] == 400 for v in expect_400.values()), expect_400
    assert got["/connz?sort=bogus"][1] == "invalid sorting option: bogus"
    assert got["/connz?limit=abc"][1] == "Error decoding int for 'limit': strconv.Atoi: parsing \"abc\": invalid syntax"
    assert got["/connz?limit=-1"] == (200, 0, 1024) and got["/connz?offset=-1"] == (200, 0, 1024)
    return got


async def js_setup(srv):
    nc = await connect(srv, "js")
    js = nc.jetstream()
    await js.add_stream(name="ORDERS", subjects=["orders.>"])
    for i in range(4):
        await js.publish(f"orders.{i}", b"x" * 10)
    await js.add_consumer("ORDERS", durable_name="PULL", ack_policy="explicit")
    await nc.close()


def strip(doc):
    """/jsz's account_details with volatile values out and lists sorted by name."""
    out = []
    for a in doc.get("account_details", []):
        a = dict(a)
        a.pop("api", None)
        sd = []
        for s in a.pop("stream_detail", []):
            s = {k: v for k, v in s.items() if k not in ("created", "cluster")}
            st = {k: v for k, v in s["state"].items() if not k.endswith("_ts")}
            s["state"] = st
            if "config" in s:
                s["config"] = {k: s["config"][k] for k in ("name", "subjects", "retention", "storage", "max_msgs")}
            cons = []
            for c in s.pop("consumer_detail", []):
                c = {k: c[k] for k in ("stream_name", "name", "num_pending", "num_ack_pending", "delivered") if k in c}
                c["delivered"] = {k: v for k, v in c["delivered"].items() if k != "last_active"}
                cons.append(c)
            if cons:
                s["consumer_detail"] = sorted(cons, key=lambda c: c["name"])
            sd.append(s)
        if sd:
            a["stream_detail"] = sorted(sd, key=lambda s: s["name"])
        out.append(a)
    return out


async def test_jsz_account_stream_and_consumer_details(js_pair_mon):
    jb, ns = [await jsz_transcript(srv) for srv in js_pair_mon]
    assert jb == ns


async def jsz_transcript(js_srv):
    await js_setup(js_srv)
    got = {}
    for q in ("", "?accounts=true", "?streams=true", "?consumers=true", "?consumers=true&config=true", "?acc=$G&streams=1",
              "?acc=NOPE&streams=1", "?accounts=1&offset=1", "?accounts=1&offset=1&limit=-1", "?streams=1&limit=0"):
        doc = js_srv.get_json("/jsz" + q)
        got[q] = {"details": strip(doc), "streams": doc["streams"], "consumers": doc["consumers"],
                  "messages": doc["messages"], "total": doc["total"]}
    d = got["?consumers=true&config=true"]["details"]
    assert d[0]["name"] == "$G" and d[0]["stream_detail"][0]["consumer_detail"][0]["name"] == "PULL"
    assert d[0]["stream_detail"][0]["config"]["subjects"] == ["orders.>"]
    assert "config" not in got["?consumers=true"]["details"][0]["stream_detail"][0]
    assert got[""]["details"] == [] and got["?accounts=1&offset=1"]["details"] == []
    return got


async def test_healthz_checks_named_assets(js_pair_mon):
    jb, ns = [await healthz_transcript(srv) for srv in js_pair_mon]
    assert jb == ns


async def healthz_transcript(js_srv):
    await js_setup(js_srv)
    got = {}
    for q in ("", "?js-enabled-only=true", "?js-server-only=1", "?account=$G", "?account=NOPE", "?account=$G&stream=ORDERS",
              "?account=$G&stream=NOPE", "?stream=ORDERS", "?account=$G&consumer=PULL", "?account=$G&stream=ORDERS&consumer=PULL",
              "?account=$G&stream=ORDERS&consumer=NOPE", "?account=$G&stream=NOPE&details=true",
              "?account=$G&stream=ORDERS&consumer=NOPE&details=1", "?stream=X&details=true"):
        status, body = js_srv.http_get("/healthz" + q)
        got[q] = (status, json.loads(body))
    assert got["?account=$G&stream=NOPE"] == (404, {"status": "unavailable",
                                                    "error": 'JetStream stream "NOPE" not found on account "$G"'})
    assert got["?account=$G&stream=ORDERS&consumer=PULL"] == (200, {"status": "ok"})
    assert got["?stream=ORDERS"][0] == 400
    return got


async def test_single_server_cluster_endpoints(pair):
    jb, ns = [await cluster_transcript(srv) for srv in pair]
    assert jb == ns


async def cluster_transcript(server):
    nc = await connect(server, "acc")
    try:
        await nc.subscribe("a")
        await nc.publish("a", b"x")
        await nc.flush()
        got = {}
        for path in ("/routez", "/gatewayz", "/leafz", "/ipqueuesz"):
            doc = server.get_json(path)
            got[path] = {k: v for k, v in doc.items() if k not in ("server_id", "server_name", "now")}
        status, body = server.http_get("/raftz")
        got["/raftz"] = (status, body.decode())
        acc = server.get_json("/accstatz")["account_statz"]
        got["/accstatz"] = [{k: a[k] for k in ("acc", "conns", "total_conns")} for a in acc]
        unused = server.get_json("/accstatz?unused=true")["account_statz"]
        got["/accstatz?unused"] = sorted(a["acc"] for a in unused)
    finally:
        await nc.close()
    assert got["/routez"] == {"num_routes": 0, "routes": []}
    assert got["/accstatz"] == [{"acc": "$G", "conns": 1, "total_conns": 1}]
    return got


def test_varz_reports_what_exporters_read(server):
    status, _ = server.http_get("/connz")
    v = server.varz()
    for k in ("in_client_msgs", "out_client_msgs", "stale_connections", "slow_consumer_stats", "stale_connection_stats",
              "http_req_stats", "gomaxprocs", "cluster", "gateway", "leaf", "mqtt", "jetstream"):
        assert k in v, k
    assert v["http_req_stats"].get("/connz") == 1 and v["http_req_stats"].get("/varz") == 1, v["http_req_stats"]
    assert v["slow_consumer_stats"] == {"clients": 0, "routes": 0, "gateways": 0, "leafs": 0}
    assert "auth_required" not in v


async def test_varz_counts_no_deliveries_to_internal_subscribers(js_pair_mon):
    """JetStream API requests and captured publishes reach internal subscribers: nats-server's
    out_msgs counts only what clients receive (the API answers and PubAcks)."""
    got = []
    for srv in js_pair_mon:
        nc = await connect(srv, "js")
        js = nc.jetstream()
        await js.add_stream(name="S", subjects=["s.>"])
        for i in range(5):
            await js.publish("s.x", b"12345")
        v = srv.varz()
        per_conn = sum(c["out_msgs"] for c in srv.connz()["connections"])
        await nc.close()
        got.append({"in_msgs": v["in_msgs"], "out_msgs": v["out_msgs"], "per_conn": per_conn,
                    "out_client_msgs": v["out_client_msgs"]})
    assert got[0] == got[1] and got[0]["out_msgs"] == got[0]["per_conn"] == 6, got


async def test_subsz_lists_and_tests_subscriptions(pair):
    """subs=1 with test=<subject> lists the client subscriptions a message there would reach (the
    unfiltered list differs: nats-server lists its internal subscriptions too)."""
    got = []
    for srv in pair:
        a, b = await connect(srv, "a"), await connect(srv, "b")
        await a.subscribe("foo")
        await a.subscribe("bar.*")
        await b.subscribe("foo", queue="wq")
        await b.subscribe("q.>", queue="workers")
        await a.flush()
        await b.flush()
        t = {}
        for q in ("?subs=1&test=foo", "?subs=1&test=q.a", "?subs=1&test=bar.x&acc=$G", "?subs=1&test=nothing",
                  "?subs=1&test=foo&limit=1", "?subs=1&test=foo&offset=1"):
            d = srv.get_json("/subsz" + q)
            t[q] = (d["total"], d["offset"], d["limit"],
                    sorted((s["subject"], s.get("qgroup") or "", s["account"]) for s in d.get("subscriptions_list", [])))
        for q in ("?test=foo.*", "?subs=bogus", "?subs=detail", "?limit=x", "?offset=-"):
            status, body = srv.http_get("/subsz" + q)
            t[q] = (status, body.decode())
        await a.close()
        await b.close()
        got.append(t)
    assert got[0]["?subs=1&test=foo"] == (2, 0, 1024, [("foo", "", "$G"), ("foo", "wq", "$G")])
    assert got[0]["?test=foo.*"] == (400, "invalid test subject, must be valid publish subject: foo.*")
    assert got[0] == got[1]
