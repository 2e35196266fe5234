"""Message counters (ADR-49, nats-server 2.12 `allow_msg_counter`) and `persist_mode`.

Differential against nats-server: stream config validation and echo, every publish outcome (totals,
errors, duplicates), the stored messages (headers and `{"val":...}` payloads through MSG.GET and
DIRECT.GET), counters aggregated through sources (`Nats-Counter-Sources`), and a kill -9 restart
that must keep every acknowledged total.
"""

import asyncio
import base64
import json
import time

import nats
import pytest

from conftest import assert_same, js_args, js_norm, js_req, run_both

pytestmark = pytest.mark.timeout(60)

API = "$JS.API"


def cfg(name, **kw):
    return {"name": name, "subjects": [name.lower() + ".>"], "storage": "file", **kw}


async def create(nc, c):
    return js_norm(await js_req(nc, f"{API}.STREAM.CREATE.{c['name']}", c))


async def pub(nc, subject, data=b"", headers=None):
    """The PubAck (or error) as parsed JSON, plus the raw bytes for the byte-exact replies."""
    r = await nc.request(subject, data, timeout=2, headers=headers)
    return {"ack": json.loads(r.data), "raw": r.data.decode() if b"duplicate" in r.data else None}


async def last_msg(nc, stream, subject):
    r = await js_req(nc, f"{API}.STREAM.MSG.GET.{stream}", {"last_by_subj": subject})
    if "error" in r:
        return r
    m = r["message"]
    return {"subject": m["subject"], "seq": m["seq"], "hdrs": base64.b64decode(m.get("hdrs", "")).decode(),
            "data": base64.b64decode(m.get("data", "")).decode()}


async def test_counter_and_persist_mode_config(js_pair):
    async def scenario(nc, srv):
        out = []
        for c in [
            cfg("C1", allow_msg_counter=True),
            cfg("C2", allow_msg_counter=True, retention="interest"),
            cfg("C3", allow_msg_counter=True, retention="workqueue"),
            cfg("C4", allow_msg_counter=True, discard="new"),
            cfg("C5", allow_msg_counter=True, allow_msg_ttl=True),
            {"name": "C6", "allow_msg_counter": True, "mirror": {"name": "C1"}},
            cfg("C7", allow_msg_counter=True, allow_rollup_hdrs=True, allow_direct=True),
            cfg("C8", allow_msg_counter=True, allow_atomic=True),
            # the counter check runs before delete markers switch per-message TTLs on
            cfg("C9", allow_msg_counter=True, subject_delete_marker_ttl=2_000_000_000),
            cfg("P1", persist_mode="async"),
            cfg("P2", persist_mode="default"),
            cfg("P3", persist_mode=""),
            cfg("P4", persist_mode="Async"),
            cfg("P5", persist_mode="async", storage="memory"),
            cfg("P6", persist_mode="async", allow_atomic=True),
            cfg("A1", allow_atomic=True),
            cfg("S1", subjects=["$SYS.x"]),
            cfg("S2", subjects=["$SYS.ACCOUNT.x"]),
        ]:
            out.append(await create(nc, c))
        for c in [cfg("C1", allow_msg_counter=False), cfg("P1", persist_mode="default"), cfg("P2", persist_mode="async"),
                  cfg("P2", allow_msg_counter=True)]:
            out.append(js_norm(await js_req(nc, f"{API}.STREAM.UPDATE.{c['name']}", c)))
        # the API level the features need, which the metadata normalisation would hide
        for name in ["C1", "P1", "P2", "A1"]:
            si = await js_req(nc, f"{API}.STREAM.INFO.{name}")
            out.append((name, si["config"]["metadata"].get("_nats.req.level")))
        return out

    assert_same(*await run_both(js_pair, scenario))


async def test_counter_publish_transcript(js_pair):
    async def scenario(nc, srv):
        out = [await create(nc, cfg("C", allow_msg_counter=True, allow_direct=True)), await create(nc, cfg("PLAIN"))]
        for data, hdrs in [
            (b"", {"Nats-Incr": "+1"}), (b"", {"Nats-Incr": "5"}), (b"", {"Nats-Incr": "-10"}), (b"", {"Nats-Incr": "0"}),
            (b"", {"Nats-Incr": "123456789012345678901234567890"}), (b"", {"Nats-Incr": "007"}),
            (b"", {"Nats-Incr": "abc"}), (b"", {"Nats-Incr": "+ 1"}), (b"", {"Nats-Incr": ""}), (b"", {"Nats-Incr": "+"}),
            (b"", {"Nats-Incr": "1.5"}), (b"", {"Nats-Incr": "--1"}), (b"", {"Nats-Incr": "0x10"}),
            (b"x", {"Nats-Incr": "1"}), (b"x", None), (b"", None), (b"", {"Other": "1"}),
            (b"", {"Nats-Incr": "1", "Nats-Expected-Stream": "C"}),
            (b"", {"Nats-Incr": "1", "Nats-Expected-Last-Sequence": "3"}),
            (b"", {"Nats-Incr": "1", "Nats-Expected-Last-Subject-Sequence": "3"}),
            (b"", {"Nats-Incr": "1", "Nats-Expected-Last-Msg-Id": "z"}),
            (b"", {"Nats-Incr": "1", "Nats-Rollup": "sub"}),
            (b"", {"Nats-Incr": "1", "Nats-TTL": "10s"}),
            (b"", {"Nats-Incr": "1", "Nats-Msg-Id": "m1"}),
            (b"", {"Nats-Incr": "1", "Nats-Msg-Id": "m1"}),  # duplicate: not counted again
            (b"", {"Nats-Msg-Id": "m1"}),                     # a duplicate id answers before "missing"
        ]:
            out.append(await pub(nc, "c.a", data, hdrs))
        out.append(await pub(nc, "c.b", b"", {"Nats-Incr": "-2", "Foo": "bar"}))
        out.append(await pub(nc, "plain.a", b"", {"Nats-Incr": "2"}))
        out.append(await pub(nc, "plain.a", b"", {"Nats-Incr": "x"}))
        out.append(await last_msg(nc, "C", "c.a"))
        out.append(await last_msg(nc, "C", "c.b"))
        d = await nc.request(f"{API}.DIRECT.GET.C", json.dumps({"last_by_subj": "c.a"}).encode(), timeout=2)
        out.append({"data": d.data.decode(), "seq": d.headers.get("Nats-Sequence"), "incr": d.headers.get("Nats-Incr")})
        si = await js_req(nc, f"{API}.STREAM.INFO.C")
        out.append(js_norm(si)["state"])
        return out

    jb, ns = await run_both(js_pair, scenario)
    assert_same(jb, ns)
    # and the totals are what the arithmetic says
    totals = [s["ack"].get("val") for s in jb[2:8]]
    assert totals == ["1", "6", "-4", "-4", "123456789012345678901234567886", "123456789012345678901234567893"]


async def wait_state(nc, stream, pred, timeout=15.0):
    deadline = time.monotonic() + timeout
    while True:
        si = await js_req(nc, f"{API}.STREAM.INFO.{stream}")
        if pred(si.get("state", {})):
            return si
        if time.monotonic() > deadline:
            raise AssertionError(f"{stream} did not reach the expected state: {si.get('state')}")
        await asyncio.sleep(0.05)


async def test_counters_aggregated_through_sources(js_pair):
    """Two regional counters sourced into one aggregate (ADR-49 "Source-based Replicated Counters"):
    the aggregate adds only each source's change since it last saw it, keeps the per-source totals
    in Nats-Counter-Sources, and rewrites Nats-Incr to the delta it applied; a local increment on the
    aggregate is kept apart from the sourced ones."""

    async def scenario(nc, srv):
        out = [await create(nc, cfg("EU", allow_msg_counter=True)), await create(nc, cfg("US", allow_msg_counter=True))]
        for subj, incr in [("eu.hits", "5"), ("eu.hits", "2"), ("us.hits", "10")]:
            out.append(await pub(nc, subj, b"", {"Nats-Incr": incr}))
        agg = {"name": "AGG", "subjects": ["agg.>"], "allow_msg_counter": True,
               "sources": [{"name": "EU", "subject_transforms": [{"src": "eu.>", "dest": "agg.>"}]},
                           {"name": "US", "subject_transforms": [{"src": "us.>", "dest": "agg.>"}]}]}
        r = await js_req(nc, f"{API}.STREAM.CREATE.AGG", agg)
        out.append("error" in r)
        await wait_state(nc, "AGG", lambda s: s.get("messages") == 3)
        m = await last_msg(nc, "AGG", "agg.hits")
        out.append(m["data"])
        out.append(await pub(nc, "agg.hits", b"", {"Nats-Incr": "100"}))
        out.append(await pub(nc, "eu.hits", b"", {"Nats-Incr": "-1"}))
        await wait_state(nc, "AGG", lambda s: s.get("messages") == 5)
        m = await last_msg(nc, "AGG", "agg.hits")
        hdrs = dict(line.split(": ", 1) for line in m["hdrs"].split("\r\n")[1:] if ": " in line)
        out.append({"data": m["data"], "incr": hdrs.get("Nats-Incr"),
                    "sources": json.loads(hdrs.get("Nats-Counter-Sources", "null"))})
        return out

    jb, ns = await run_both(js_pair, scenario)
    assert_same(jb, ns)
    assert jb[-1]["data"] == '{"val":"116"}' and jb[-1]["incr"] == "-1"
    assert jb[-1]["sources"] == {"EU": {"eu.hits": "6"}, "US": {"us.hits": "10"}}


async def test_counter_totals_survive_kill9(server_kind, make_server, tmp_path):
    store = tmp_path / "store"
    srv = make_server(server_kind, *js_args(store))
    nc = await nats.connect(srv.url, allow_reconnect=False)
    await js_req(nc, f"{API}.STREAM.CREATE.K", cfg("K", allow_msg_counter=True))
    expect = {}
    for i in range(200):
        subj = f"k.{i % 7}"
        r = await pub(nc, subj, b"", {"Nats-Incr": str(i - 50)})
        expect[subj] = expect.get(subj, 0) + i - 50
        assert r["ack"]["val"] == str(expect[subj]), r
    await nc.close()
    srv.proc.kill()
    srv.proc.wait()
    srv.exit_code = srv.proc.returncode  # killed on purpose: teardown expects no clean exit

    srv2 = make_server(server_kind, *js_args(store))
    nc = await nats.connect(srv2.url, allow_reconnect=False)
    try:
        for subj, total in sorted(expect.items()):
            m = await last_msg(nc, "K", subj)
            assert m["data"] == json.dumps({"val": str(total)}, separators=(",", ":")), (subj, m)
            r = await pub(nc, subj, b"", {"Nats-Incr": "1"})
            assert r["ack"]["val"] == str(total + 1), r
    finally:
        await nc.close()
