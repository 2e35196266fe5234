"""Message schedules (ADR-51, nats-server 2.12/2.14 `allow_msg_schedules`).

Differential against nats-server: stream config validation and echo, every publish check on the
Nats-Schedule* and Nats-Scheduler headers (codes and order), the stored schedule message (with the
`Nats-Rollup: sub` the server adds), the messages the schedules generate (@at, @every with a source
subject, cron in a time zone: headers byte for byte with the times normalised, and when they fire),
cancelling a schedule, and a kill -9 restart with one schedule overdue and one still pending.
"""

import asyncio
import base64
import datetime as dt
import re
import time

import nats
import pytest

from conftest import assert_same, js_args, js_norm, js_req, run_both

pytestmark = pytest.mark.timeout(90)

API = "$JS.API"
FAR = "@at 2099-01-01T00:00:00Z"


def cfg(name, **kw):
    return {"name": name, "subjects": [name.lower() + ".>"], "storage": "file", **kw}


async def create(nc, c):
    return js_norm(await js_req(nc, f"{API}.STREAM.CREATE.{c['name']}", c))


async def pub(nc, subject, data=b"x", headers=None):
    import json
    r = await nc.request(subject, data, timeout=2, headers=headers)
    return json.loads(r.data)


def at_in(seconds):
    """An @at pattern `seconds` from now (whole seconds, UTC) and that time as a unix float."""
    t = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=seconds)).replace(microsecond=0)
    return "@at " + t.strftime("%Y-%m-%dT%H:%M:%SZ"), t.timestamp()


def parse_time(s):
    """RFC 3339 with up to nanoseconds and Z or an offset, as a unix float."""
    m = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)", s)
    assert m, s
    base = dt.datetime.fromisoformat(m.group(1) + ("+00:00" if m.group(3) == "Z" else m.group(3)))
    return base.timestamp() + (float("0." + m.group(2)) if m.group(2) else 0.0)


async def get_msg(nc, stream, **req):
    r = await js_req(nc, f"{API}.STREAM.MSG.GET.{stream}", req)
    if "error" in r:
        return {"error": r["error"]["err_code"]}
    m = r["message"]
    return {"subject": m["subject"], "seq": m["seq"], "hdrs": base64.b64decode(m.get("hdrs", "")).decode(),
            "data": base64.b64decode(m.get("data", "")).decode(), "time": parse_time(m["time"])}


def norm_hdrs(h):
    """Header block with the Nats-Schedule-Next time replaced (its UTC offset kept)."""
    return re.sub(r"(Nats-Schedule-Next: )\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?", r"\1<time>", h)


def next_time(h):
    m = re.search(r"Nats-Schedule-Next: (\S+)", h)
    return None if m is None or m.group(1) == "purge" else parse_time(m.group(1))


async def generated(nc, stream, subject, count=1, timeout=8.0):
    """The next `count` messages stored on `subject` (awaited through an ordered consumer), as
    stored (MSG.GET, for the raw header bytes)."""
    js = nc.jetstream()
    sub = await js.subscribe(subject, stream=stream, ordered_consumer=True)
    out = []
    try:
        for _ in range(count):
            m = await sub.next_msg(timeout=timeout)
            out.append(await get_msg(nc, stream, seq=m.metadata.sequence.stream))
    finally:
        await sub.unsubscribe()
    return out


async def test_schedule_config(js_pair):
    async def scenario(nc, srv):
        out = []
        for c in [
            cfg("S1", allow_msg_schedules=True),
            cfg("S2", allow_msg_schedules=True, discard="new"),
            cfg("S3", allow_msg_schedules=True, deny_purge=True),  # roll-ups switched on, purge allowed
            cfg("S4", allow_msg_schedules=True, allow_msg_counter=True),
            cfg("S5", allow_msg_schedules=True, allow_msg_counter=True, discard="new"),
            {"name": "S6", "allow_msg_schedules": True, "mirror": {"name": "S1"}},
            {"name": "S7", "allow_msg_schedules": True, "sources": [{"name": "S1"}]},
            {"name": "S8", "allow_msg_schedules": True, "sources": [{"name": "S1"}], "discard": "new"},
            {"name": "S9", "allow_msg_schedules": True, "mirror": {"name": "S1"}, "subjects": ["x"]},
            cfg("S10", allow_msg_schedules=True, deny_purge=True, allow_rollup_hdrs=True),
            cfg("S11", allow_msg_schedules=True, discard="new", deny_purge=True, allow_rollup_hdrs=True),
            # roll-ups are checked before delete markers switch them on
            cfg("S12", subject_delete_marker_ttl=2_000_000_000, deny_purge=True, allow_rollup_hdrs=True),
            cfg("S13", allow_msg_schedules=True, allow_atomic=True, allow_msg_ttl=True, storage="memory"),
            cfg("S14", allow_msg_schedules=False),
            cfg("S15", allow_msg_schedules=True, sealed=True),
        ]:
            out.append(await create(nc, c))
        for c in [cfg("S1"), cfg("S1", allow_msg_schedules=False), cfg("S14", allow_msg_schedules=True),
                  cfg("S14", allow_msg_schedules=False)]:
            out.append(js_norm(await js_req(nc, f"{API}.STREAM.UPDATE.{c['name']}", c)))
        for name in ["S1", "S3", "S14"]:
            si = await js_req(nc, f"{API}.STREAM.INFO.{name}")
            out.append((name, si["config"]["metadata"].get("_nats.req.level")))
        return out

    jb, ns = await run_both(js_pair, scenario)
    assert_same(jb, ns)
    assert jb[0]["config"]["allow_msg_schedules"] is True and jb[0]["config"]["allow_rollup_hdrs"] is True
    assert jb[-3] == ("S1", "2")


async def test_schedule_publish_checks(js_pair):
    async def scenario(nc, srv):
        out = [await create(nc, cfg("A", allow_msg_schedules=True)), await create(nc, cfg("Q")),
               await create(nc, cfg("B", allow_msg_schedules=True, allow_msg_ttl=True))]
        T = {"Nats-Schedule-Target": "a.t"}
        for subj, h in [
            # a stream without schedules
            ("q.s", {"Nats-Schedule": FAR, "Nats-Schedule-Target": "q.t"}),
            ("q.s", {"Nats-Schedule": "bogus"}),
            ("q.s", {"Nats-Schedule-Time-Zone": "Nope/Zone"}),
            ("q.s", {"Nats-Schedule-Next": "purge", "Nats-Scheduler": "q.x"}),
            ("q.s", {"Nats-Schedule-Next": "soon", "Nats-Scheduler": "q.x"}),
            ("q.s", {"Nats-Scheduler": "q.x"}),
            ("q.s", {"Nats-Schedule-Target": "q.x", "Nats-Schedule-TTL": "bad"}),  # no pattern: plain
            # patterns
            ("a.s", {"Nats-Schedule": "bogus"}),
            ("a.s", {"Nats-Schedule": ""}),
            ("a.s", {"Nats-Schedule": "@at 2026-13-01T00:00:00Z", **T}),
            ("a.s", {"Nats-Schedule": "@every 500ms", **T}),
            ("a.s", {"Nats-Schedule": "@every 5", **T}),
            ("a.s", {"Nats-Schedule": "0 0 * * *", **T}),
            ("a.s", {"Nats-Schedule": "0 0 0 31 2 *", **T}),
            ("a.s", {"Nats-Schedule": "61 * * * * *", **T}),
            ("a.s", {"Nats-Schedule": "@reboot", **T}),
            ("a.s", {"Nats-Schedule": FAR, **T, "Nats-Schedule-Time-Zone": "UTC"}),
            ("a.s", {"Nats-Schedule": "@every 1m", **T, "Nats-Schedule-Time-Zone": "UTC"}),
            ("a.s", {"Nats-Schedule": "0 0 0 * * *", **T, "Nats-Schedule-Time-Zone": ""}),
            ("a.s", {"Nats-Schedule": "0 0 0 * * *", **T, "Nats-Schedule-Time-Zone": "Bad/Zone"}),
            ("a.s", {"Nats-Schedule": "bogus", "Nats-Schedule-Time-Zone": "Bad/Zone"}),
            # target, TTL, rollup, source, in nats-server's order
            ("a.s", {"Nats-Schedule": FAR}),
            ("a.s", {"Nats-Schedule": FAR, "Nats-Schedule-Target": "a.s"}),
            ("a.s", {"Nats-Schedule": FAR, "Nats-Schedule-Target": "b.t"}),
            ("a.s", {"Nats-Schedule": FAR, "Nats-Schedule-Target": "a.*"}),
            ("a.s", {"Nats-Schedule": FAR, "Nats-Schedule-TTL": "bad"}),
            ("a.s", {"Nats-Schedule": FAR, **T, "Nats-Schedule-TTL": "5s"}),
            ("a.s", {"Nats-Schedule": FAR, "Nats-Schedule-TTL": "5s", "Nats-Schedule-Rollup": "all"}),
            ("a.s", {"Nats-Schedule": FAR, "Nats-Schedule-Rollup": "all"}),
            ("a.s", {"Nats-Schedule": FAR, **T, "Nats-Rollup": "all"}),
            ("a.s", {"Nats-Schedule": FAR, **T, "Nats-Schedule-Source": "a.t"}),
            ("a.s", {"Nats-Schedule": FAR, **T, "Nats-Schedule-Source": "a.s"}),
            ("a.s", {"Nats-Schedule": FAR, **T, "Nats-Schedule-Source": "q.x"}),
            ("a.s", {"Nats-Schedule": FAR, **T, "Nats-Schedule-Source": "a.*"}),
            # accepted ones (each replaces the last on a.s)
            ("a.s", {"Nats-Schedule": "0 0 0 * * MON-FRI", **T, "Nats-Schedule-Time-Zone": "Europe/Amsterdam"}),
            ("a.s", {"Nats-Schedule": "@hourly", **T, "Nats-Rollup": "sub"}),
            ("a.s", {"Nats-Schedule": "@every 1h30m", **T, "Nats-Schedule-Source": "a.src", "Foo": "bar"}),
            ("a.s", {"Nats-Schedule": FAR, **T, "Nats-Msg-Id": "m1", "Nats-Schedule-Rollup": "sub"}),
            ("a.s", {"Nats-Schedule": FAR, **T, "Nats-Msg-Id": "m1"}),  # duplicate, after the checks
            # purge requests
            ("a.s2", {"Nats-Schedule-Next": "2020", "Nats-Scheduler": "a.s"}),
            ("a.s2", {"Nats-Schedule-Next": "purge"}),
            ("a.s2", {"Nats-Schedule-Next": "purge", "Nats-Scheduler": "a.s2"}),
            ("a.s2", {"Nats-Schedule-Next": "purge", "Nats-Scheduler": "a.*"}),
            ("a.s2", {"Nats-Scheduler": "a.s"}),
            ("a.plain", {"Foo": "1"}),
            ("a.s2", {"Nats-Schedule-Next": "purge", "Nats-Scheduler": "a.plain"}),  # not a schedule
            ("a.s2", {"Nats-Schedule-Next": "purge", "Nats-Scheduler": "a.none"}),  # nothing there: allowed
            # TTLs need per-message TTLs on the stream
            ("b.s", {"Nats-Schedule": FAR, "Nats-Schedule-Target": "b.t", "Nats-Schedule-TTL": "5s"}),
            ("b.s", {"Nats-Schedule": FAR, "Nats-Schedule-Target": "b.t", "Nats-Schedule-TTL": "500ms"}),
            ("b.s", {"Nats-Schedule": FAR, "Nats-Schedule-Target": "b.t", "Nats-Schedule-TTL": "never"}),
            ("b.s", {"Nats-Schedule": FAR, "Nats-Schedule-Target": "b.t", "Nats-Schedule-TTL": "30"}),
        ]:
            out.append((subj, h, await pub(nc, subj, b"body", h)))
        for stream, subj in [("A", "a.s"), ("A", "a.s2"), ("B", "b.s"), ("Q", "q.s")]:
            m = await get_msg(nc, stream, last_by_subj=subj)
            m.pop("time", None)
            out.append(m)
        out.append(js_norm(await js_req(nc, f"{API}.STREAM.INFO.A"))["state"])
        return out

    jb, ns = await run_both(js_pair, scenario)
    assert_same(jb, ns)
    # the server adds the roll-up that keeps one schedule per subject
    assert jb[-5]["hdrs"].endswith("Nats-Msg-Id: m1\r\nNats-Schedule-Rollup: sub\r\nNats-Rollup: sub\r\n\r\n")


async def test_schedule_at_fires_once(js_pair):
    """@at: the message is generated at that time (not before) on the target, with the schedule's
    body and headers minus its own (and Nats-Msg-Id, Nats-Expected-*, Nats-TTL, Nats-Rollup), plus
    Nats-Scheduler, Nats-Schedule-Next: purge and the TTL; the schedule is then removed. An @at in
    the past fires at once, and Nats-Schedule-Source sends the last message on that subject."""

    async def scenario(nc, srv):
        out = [await create(nc, cfg("F", allow_msg_schedules=True, allow_msg_ttl=True))]
        out.append(await pub(nc, "f.src", b"from source", {"Src-H": "1", "Nats-Msg-Id": "src"}))
        pattern, due = at_in(3)
        out.append(await pub(nc, "f.s1", b"one", {
            "Nats-Schedule": pattern, "Nats-Schedule-Target": "f.t1", "Nats-Schedule-TTL": "60s", "Foo": "bar",
            "Nats-Expected-Stream": "F", "Nats-Msg-Id": "x1"}))
        out.append(await pub(nc, "f.s2", b"two", {
            "Nats-Schedule": "@at 2020-01-01T00:00:00Z", "Nats-Schedule-Target": "f.t2",
            "Nats-Schedule-Source": "f.src"}))
        out.append(await pub(nc, "f.s3", b"three", {
            "Nats-Schedule": "@at 2020-01-01T00:00:00Z", "Nats-Schedule-Target": "f.t3",
            "Nats-Schedule-Source": "f.empty", "Bar": "baz"}))
        for subj, early_ok in [("f.t2", True), ("f.t3", True), ("f.t1", False)]:
            [m] = await generated(nc, "F", subj)
            out.append({k: m[k] for k in ("subject", "hdrs", "data")})
            if not early_ok:
                out.append(("on time", due - 0.01 <= m["time"] < due + 1.5))
        for subj in ["f.s1", "f.s2", "f.s3"]:
            out.append((subj, await get_msg(nc, "F", last_by_subj=subj)))
        out.append(js_norm(await js_req(nc, f"{API}.STREAM.INFO.F"))["state"])
        return out

    jb, ns = await run_both(js_pair, scenario)
    assert_same(jb, ns)
    assert ("on time", True) in jb
    assert {"subject": "f.t1", "data": "one",
            "hdrs": "NATS/1.0\r\nFoo: bar\r\nNats-Scheduler: f.s1\r\nNats-Schedule-Next: purge\r\nNats-TTL: 60s\r\n\r\n"} in jb


async def test_schedule_every_and_cron_repeat_until_cancelled(js_pair):
    async def scenario(nc, srv):
        out = [await create(nc, cfg("E", allow_msg_schedules=True))]
        out.append(await pub(nc, "e.src", b"SRC", {"Src-H": "1"}))
        out.append(await pub(nc, "e.s1", b"every", {
            "Nats-Schedule": "@every 1s", "Nats-Schedule-Target": "e.t1", "Nats-Schedule-Source": "e.src",
            "Nats-Schedule-Rollup": "sub"}))
        out.append(await pub(nc, "e.s2", b"cron", {
            "Nats-Schedule": "*/2 * * * * *", "Nats-Schedule-Target": "e.t2",
            "Nats-Schedule-Time-Zone": "Europe/Amsterdam"}))
        every = await generated(nc, "E", "e.t1", count=3)
        cron = await generated(nc, "E", "e.t2", count=2)
        for m in every + cron:
            out.append((m["subject"], norm_hdrs(m["hdrs"]), m["data"]))
        # @every: the next time is a second after this one (rounded to the second)
        for m in every:
            out.append(("every next", 0.4 < next_time(m["hdrs"]) - m["time"] <= 1.5))
        out.append(("every spacing", all(0.5 < b["time"] - a["time"] < 1.6 for a, b in zip(every, every[1:]))))
        # cron: on even seconds, the next one two seconds on, written in the zone's offset
        out.append(("cron next", [round(next_time(m["hdrs"]) - round(m["time"])) for m in cron]))
        out.append(("cron even", [int(round(m["time"])) % 2 for m in cron]))
        # cancel: a purge request for e.s1, a plain message on e.s2
        out.append("error" in await pub(nc, "e.cancel", b"", {"Nats-Schedule-Next": "purge", "Nats-Scheduler": "e.s1"}))
        out.append("error" in await pub(nc, "e.s2", b"plain"))
        last = (await js_req(nc, f"{API}.STREAM.INFO.E"))["state"]["last_seq"]
        await asyncio.sleep(2.5)
        out.append(("nothing after cancel", (await js_req(nc, f"{API}.STREAM.INFO.E"))["state"]["last_seq"] == last))
        out.append(await get_msg(nc, "E", last_by_subj="e.s1"))
        # the roll-up kept one generated message on e.t1
        si = await js_req(nc, f"{API}.STREAM.INFO.E", {"subjects_filter": "e.t1"})
        out.append(si["state"].get("subjects"))
        return out

    jb, ns = await run_both(js_pair, scenario)
    assert_same(jb, ns)
    assert ("every spacing", True) in jb and ("nothing after cancel", True) in jb
    assert ("cron next", [2, 2]) in jb


async def test_schedules_survive_kill9(server_kind, make_server, tmp_path):
    """Schedules are stored messages: after kill -9 the one that came due while the server was down
    fires on start, the one still pending fires at its time, and @every goes on."""
    store = tmp_path / "store"
    srv = make_server(server_kind, *js_args(store))
    nc = await nats.connect(srv.url, allow_reconnect=False)
    await js_req(nc, f"{API}.STREAM.CREATE.R", cfg("R", allow_msg_schedules=True))
    p1, due1 = at_in(2)
    p2, due2 = at_in(6)
    for subj, target, pattern in [("r.s1", "r.t1", p1), ("r.s2", "r.t2", p2), ("r.s3", "r.t3", "@every 1s")]:
        r = await pub(nc, subj, subj.encode(), {"Nats-Schedule": pattern, "Nats-Schedule-Target": target})
        assert "error" not in r, r
    await nc.close()
    srv.proc.kill()
    srv.proc.wait()
    srv.exit_code = srv.proc.returncode  # killed on purpose: teardown expects no clean exit
    while time.time() < due1 + 0.5:  # r.s1 comes due while the server is down
        await asyncio.sleep(0.1)

    srv2 = make_server(server_kind, *js_args(store))
    nc = await nats.connect(srv2.url, allow_reconnect=False)
    try:
        [m1] = await generated(nc, "R", "r.t1")
        assert m1["data"] == "r.s1" and "Nats-Schedule-Next: purge" in m1["hdrs"], m1
        assert m1["time"] < due2, "the overdue schedule fires on start"
        [m2] = await generated(nc, "R", "r.t2")
        assert m2["data"] == "r.s2" and m2["time"] >= due2 - 0.01, (m2, due2)
        every = await generated(nc, "R", "r.t3", count=2)
        assert all("Nats-Scheduler: r.s3" in m["hdrs"] for m in every)
        for subj in ["r.s1", "r.s2"]:
            assert (await get_msg(nc, "R", last_by_subj=subj)) == {"error": 10037}
    finally:
        await nc.close()


async def test_rollup_value_is_case_insensitive(js_pair):
    """Nats-Rollup as nats-server reads it (schedules add and check it): any case, empty is none."""

    async def scenario(nc, srv):
        out = [await create(nc, cfg("RU", allow_rollup_hdrs=True)), await create(nc, cfg("RS", allow_msg_schedules=True))]
        for subj, h in [("ru.a", {"Nats-Rollup": "SUB"}), ("ru.a", {"Nats-Rollup": "All"}), ("ru.a", {"Nats-Rollup": ""}),
                        ("ru.a", {"Nats-Rollup": "Bogus"}),
                        ("rs.s", {"Nats-Schedule": FAR, "Nats-Schedule-Target": "rs.t", "Nats-Rollup": "Sub"}),
                        ("rs.s", {"Nats-Schedule": FAR, "Nats-Schedule-Target": "rs.t", "Nats-Rollup": "ALL"})]:
            out.append(await pub(nc, subj, b"x", h))
        out.append(js_norm(await js_req(nc, f"{API}.STREAM.INFO.RU"))["state"])
        return out

    assert_same(*await run_both(js_pair, scenario))


async def test_every_past_int64_never_fires(make_server, tmp_path):
    # `@every 2562047h` from now is past what int64 ns hold: the next time wrapped into the past and
    # the schedule fired on every timer tick (13,000 messages a second). It must wait "forever".
    # jetbroker only: nats-server wraps too (it fires a few times a second).
    srv = make_server("jetbroker", *js_args(tmp_path / "js"))
    nc = await nats.connect(srv.url)
    try:
        await create(nc, cfg("EV", allow_msg_schedules=True))
        await pub(nc, "ev.far", b"far", {"Nats-Schedule": "@every 2562047h", "Nats-Schedule-Target": "ev.t"})
        await pub(nc, "ev.near", b"near", {"Nats-Schedule": "@every 1s", "Nats-Schedule-Target": "ev.t2"})
        await generated(nc, "EV", "ev.t2", count=2)  # the timers ran for two seconds meanwhile
        info = await js_req(nc, f"{API}.STREAM.INFO.EV", {"subjects_filter": "ev.t"})
        assert info["state"].get("subjects") in (None, {}), info["state"]
    finally:
        await nc.close()
