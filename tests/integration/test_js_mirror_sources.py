"""Stream mirrors and sources (issue 6): config validation and echo, copying, STREAM.INFO `mirror` /
`sources`, restarts (SIGTERM and kill -9) and interplay with the origin, against jetbroker and, where
the output is comparable, nats-server.

nats-server sources through push consumers that it (re)creates with back-off: a mirror of a stream
created later catches up only after ~10 s there, so the "origin appears later" and "origin deleted"
scenarios run on jetbroker only. Waits poll STREAM.INFO with a deadline.
"""

import asyncio
import base64
import json
import os
import subprocess
import time

import nats
import pytest
from nats.errors import NoRespondersError

from conftest import IO_TIMEOUT, assert_same, js_args, js_norm, js_req, nats_cli, run_both

pytestmark = pytest.mark.timeout(90)

API = "$JS.API"


async def create(nc, name, **cfg):
    return await js_req(nc, f"{API}.STREAM.CREATE.{name}", {"name": name, **cfg})


async def info(nc, name):
    return await js_req(nc, f"{API}.STREAM.INFO.{name}")


async def wait_info(nc, name, pred, timeout=8.0, what=""):
    """Polls STREAM.INFO until pred(info) holds; returns that info."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = await info(nc, name)
        if pred(last):
            return last
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {name} {what}: {json.dumps(last)[:1500]}")


def caught_up(last_seq):
    return lambda i: i.get("state", {}).get("last_seq") == last_seq and i.get("mirror", {}).get("lag") == 0


async def get_msg(nc, stream, seq):
    r = await js_req(nc, f"{API}.STREAM.MSG.GET.{stream}", {"seq": seq})
    if "error" in r:
        return None
    m = r["message"]
    return {"subject": m["subject"], "seq": m["seq"], "time": m["time"],
            "hdrs": base64.b64decode(m.get("hdrs", "")).decode(), "data": base64.b64decode(m.get("data", "")).decode()}


async def all_msgs(nc, stream):
    st = (await info(nc, stream))["state"]
    out = []
    for seq in range(max(st["first_seq"], 1), st["last_seq"] + 1):
        m = await get_msg(nc, stream, seq)
        if m:
            out.append(m)
    return out


def norm_links(r):
    """js_norm plus: `active` as -1 or "<active>", sources in a stable order (nats-server keeps
    them in a map, so its order varies)."""
    r = js_norm(r, drop_desc_for=(10025,))

    def act(link):
        link = dict(link)
        if "active" in link:
            link["active"] = -1 if link["active"] == -1 else "<active>"
        return link

    if isinstance(r, dict):
        if "mirror" in r:
            r["mirror"] = act(r["mirror"])
        if "sources" in r:
            r["sources"] = sorted((act(s) for s in r["sources"]), key=lambda s: json.dumps(s, sort_keys=True))
        for k in ("total", "offset", "limit"):
            r.pop(k, None)
    return r


async def pub(nc, subject, data=b"x", headers=None):
    r = json.loads((await nc.request(subject, data, headers=headers, timeout=IO_TIMEOUT)).data)
    assert "error" not in r, r
    return r["seq"]


# ---- configuration ------------------------------------------------------------------------------

BAD_CREATES = [
    ("SELF", {"mirror": {"name": "SELF"}}),                                       # cycle
    ("X", {"mirror": {"name": "O"}, "subjects": ["x"]}),                          # 10034
    ("X", {"mirror": {"name": "O"}, "sources": [{"name": "P"}]}),                 # 10031
    ("X", {"mirror": {"name": "O"}, "first_seq": 5}),                             # 10143
    ("X", {"sources": [{"name": "P"}, {"name": "P"}]}),                           # 10140
    ("X", {"sources": [{"name": "P.x"}]}),                                        # 10141
    ("X", {"mirror": {"name": "P.x"}}),                                           # 10142
    ("X", {"mirror": {"name": ""}}),                                              # 10142
    ("X", {"sources": [{"name": "P", "subject_transforms": [{"src": "a.>", "dest": "b.>"},
                                                            {"src": "a.b", "dest": "c.b"}]}]}),  # 10147
    ("X", {"mirror": {"name": "P", "subject_transforms": [{"src": "a.>", "dest": "b.>"},
                                                          {"src": "a.b", "dest": "c.b"}]}}),  # 10152
    ("X", {"sources": [{"name": "P", "filter_subject": "a", "subject_transforms": [{"src": "a", "dest": "b"}]}]}),
    ("X", {"mirror": {"name": "P", "filter_subject": "a.b", "subject_transforms": [{"src": "a.>", "dest": "b.>"}]}}),
    ("X", {"sources": [{"name": "P", "subject_transforms": [{"src": "a.*", "dest": "b.>"}]}]}),  # 10146
    ("X", {"sources": [{"name": "P", "subject_transforms": [{"src": "a.*", "dest": "b.*"}]}]}),  # 10146
    ("X", {"mirror": {"name": "P", "subject_transforms": [{"src": "a..b", "dest": "b.>"}]}}),  # 10151
    ("X", {"mirror": {"name": "P", "subject_transforms": [{"src": "a.*", "dest": "b.$2"}]}}),  # 10154
    ("X", {"mirror": {"name": "P", "external": {"api": "$JS.API", "deliver": ""}}}),           # 10021
    ("X", {"mirror": {"name": "P", "external": {"api": "$JS.x.*", "deliver": ""}}}),           # 10052
    ("X", {"sources": [{"name": "P", "external": {"api": "", "deliver": "d.*"}}]}),             # 10024
    ("X", {"mirror": {"name": "P", "filter_subject": "a..b"}}),                                # 10049
    ("X", {"sources": [{"name": "P", "filter_subject": "a..b"}]}),                             # 10049
    ("X", {"mirror": {"name": "P", "bogus": 1}}),                                              # 10025
    ("X", {"mirror": {"name": "P"}, "subject_delete_marker_ttl": 5_000_000_000}),
    ("X", {"mirror": {"name": "P"}, "allow_atomic": True}),                                    # 10198
    ("X", {"subjects": ["x"], "mirror_direct": True}),
    ("X", {"mirror": {"name": "ORIGIN"}, "max_msg_size": 50}),                                 # 10030
    ("X", {"sources": [{"name": "ORIGIN"}], "max_msg_size": 50}),                              # 10046
    ("CYB", {"sources": [{"name": "CYA"}], "subjects": ["cyb"]}),                              # cycle via CYA
    ("CYC", {"mirror": {"name": "CYA"}}),                                                      # CYA sources CYB: fine
]


async def test_mirror_source_config_errors(js_pair):
    """Every rejected mirror/source config answers with nats-server's code, err_code and text;
    updates may not change or add a mirror, and removing it promotes the stream."""

    async def scenario(nc, srv):
        log = []
        log.append(norm_links(await create(nc, "ORIGIN", subjects=["origin.>"], max_msg_size=100,
                                           allow_direct=True)))
        log.append(norm_links(await create(nc, "CYA", subjects=["cya"], sources=[{"name": "CYB"}])))
        for name, cfg in BAD_CREATES:
            log.append(norm_links(await create(nc, name, **cfg)))
            await js_req(nc, f"{API}.STREAM.DELETE.X")  # in case one was accepted
        m = await create(nc, "M", mirror={"name": "ORIGIN"})
        log.append(norm_links(m))
        log.append(norm_links(await js_req(nc, f"{API}.STREAM.UPDATE.M",
                                           {"name": "M", "mirror": {"name": "ORIGIN", "filter_subject": "origin.a"}})))
        log.append(norm_links(await js_req(nc, f"{API}.STREAM.UPDATE.M",
                                           {"name": "M", "mirror": {"name": "CYA"}})))
        log.append(norm_links(await js_req(nc, f"{API}.STREAM.UPDATE.M",
                                           {"name": "M", "mirror": {"name": "ORIGIN"}, "subjects": ["m"]})))
        log.append(norm_links(await js_req(nc, f"{API}.STREAM.UPDATE.ORIGIN",
                                           {"name": "ORIGIN", "subjects": ["origin.>"], "max_msg_size": 100,
                                            "allow_direct": True, "mirror": {"name": "CYA"}})))
        # Promotion: the same config without the mirror (clients echo mirror_direct back).
        cfg = dict(m["config"])
        cfg.pop("mirror")
        cfg["subjects"] = ["m.>"]
        log.append(norm_links(await js_req(nc, f"{API}.STREAM.UPDATE.M", cfg)))
        log.append(norm_links(await pub(nc, "m.x")))
        return log

    jb, ns = await run_both(js_pair, scenario)
    assert_same(jb, ns)


async def test_mirror_source_config_echo(js_pair):
    """Accepted configs come back with nats-server's defaults: no subjects and no duplicate window
    for mirrors/sources, mirror_direct inherited from the origin's allow_direct, start times in the
    offset they were given in, external prefixes, and the mirror/sources INFO objects."""

    async def scenario(nc, srv):
        log = []
        log.append(norm_links(await create(nc, "ORIGIN", subjects=["origin.>"], allow_direct=True)))
        log.append(norm_links(await create(nc, "M1", mirror={"name": "ORIGIN", "opt_start_seq": 3,
                                                            "opt_start_time": "2024-01-01T00:00:00Z"})))
        log.append(norm_links(await create(nc, "M2", mirror={
            "name": "ORIGIN", "subject_transforms": [{"src": "origin.a", "dest": "copy.a"},
                                                     {"src": "origin.b.*", "dest": "copy.b.{{wildcard(1)}}"}]})))
        log.append(norm_links(await create(nc, "M3", mirror={"name": "ORIGIN", "filter_subject": "origin.a"},
                                           duplicate_window=1_000_000_000)))
        log.append(norm_links(await create(nc, "M4", mirror={"name": "ELSEWHERE",
                                                            "external": {"api": "$JS.hub.API"}})))
        log.append(norm_links(await create(nc, "S1", subjects=["s1"], sources=[
            {"name": "ORIGIN", "opt_start_time": "2024-01-01T01:00:00.500+01:00"},
            {"name": "ORIGIN", "filter_subject": "origin.a"},
            {"name": "ORIGIN", "subject_transforms": [{"src": "origin.b", "dest": "t.b"},
                                                      {"src": "origin.c", "dest": ""}]},
            {"name": "FAR", "external": {"api": "$JS.far.API", "deliver": "dlv"}, "filter_subject": "",
             "subject_transforms": []}])))
        log.append(norm_links(await create(nc, "N1", mirror=None, sources=[], subjects=["n1"])))
        # Re-creating with the same config is not an error (mirror_direct inherited both times).
        # (Whether the mirror has been active yet is a race on nats-server: not compared.)
        again = norm_links(await create(nc, "M1", mirror={"name": "ORIGIN", "opt_start_seq": 3,
                                                         "opt_start_time": "2024-01-01T00:00:00Z"}))
        again.pop("mirror", None)
        log.append(again)
        names = await js_req(nc, f"{API}.STREAM.NAMES")
        log.append(sorted(names["streams"]))
        return log

    jb, ns = await run_both(js_pair, scenario)
    assert_same(jb, ns)


# ---- mirrors ------------------------------------------------------------------------------------


async def test_mirror_copies_origin(js_pair):
    """A mirror holds the origin's messages with the origin's sequences, timestamps and headers
    (Nats-Expected-* dropped), skips the origin's gaps, keeps copying new messages, answers direct
    publishes with no responders, and reports lag 0 once caught up."""

    async def scenario(nc, srv):
        log = []
        await create(nc, "ORIGIN", subjects=["origin.>"])
        for i in range(6):
            await pub(nc, f"origin.{'ab'[i % 2]}", f"m{i}".encode(),
                      headers={"Nats-Msg-Id": f"id{i}", "Nats-Expected-Stream": "ORIGIN"} if i == 1 else None)
        await js_req(nc, f"{API}.STREAM.MSG.DELETE.ORIGIN", {"seq": 3})
        await js_req(nc, f"{API}.STREAM.MSG.DELETE.ORIGIN", {"seq": 1})
        log.append(norm_links(await create(nc, "M", mirror={"name": "ORIGIN"})))
        mi = await wait_info(nc, "M", caught_up(6), what="to catch up")
        log.append(norm_links(mi))
        log.append(mi["state"] == {**(await info(nc, "ORIGIN"))["state"]})
        origin_msgs, mirror_msgs = await all_msgs(nc, "ORIGIN"), await all_msgs(nc, "M")
        log.append([m["seq"] for m in mirror_msgs])
        log.append([m["hdrs"] for m in mirror_msgs])
        log.append([(m["subject"], m["seq"], m["time"], m["data"]) for m in origin_msgs] ==
                   [(m["subject"], m["seq"], m["time"], m["data"]) for m in mirror_msgs])
        for i in range(3):
            await pub(nc, "origin.c", f"n{i}".encode())
        mi = await wait_info(nc, "M", caught_up(9), what="to copy new messages")
        log.append(norm_links(mi["state"]))
        try:
            await nc.request("M", b"x", timeout=2)
            log.append("answered")
        except NoRespondersError:
            log.append("no responders")
        return log

    jb, ns = await run_both(js_pair, scenario)
    assert_same(jb, ns)


async def test_mirror_filter_and_transforms(js_pair):
    """A filtered mirror still uses the origin's sequences (what it leaves out counts as deleted);
    transforms rename subjects."""

    async def scenario(nc, srv):
        log = []
        await create(nc, "ORIGIN", subjects=["origin.>"])
        for s in ["origin.a", "origin.b.1", "origin.a", "origin.c", "origin.b.2", "origin.c"]:
            await pub(nc, s)
        await create(nc, "MF", mirror={"name": "ORIGIN", "filter_subject": "origin.b.*"})
        await create(nc, "MT", mirror={"name": "ORIGIN", "subject_transforms": [
            {"src": "origin.a", "dest": "copy.a"}, {"src": "origin.b.*", "dest": "copy.b.{{wildcard(1)}}"}]})
        await wait_info(nc, "MF", caught_up(5))
        await wait_info(nc, "MT", caught_up(5))
        await pub(nc, "origin.b.3")
        await pub(nc, "origin.c")
        for name in ("MF", "MT"):
            mi = await wait_info(nc, name, caught_up(7))
            log.append(norm_links(mi))
            log.append([(m["subject"], m["seq"]) for m in await all_msgs(nc, name)])
        return log

    jb, ns = await run_both(js_pair, scenario)
    assert_same(jb, ns)


async def test_mirror_origin_purge_and_mirror_delete(js_pair):
    """Purging the origin leaves the mirror's copies; later messages keep the origin's sequences.
    Deleting the mirror leaves the origin alone. A mirror may start at opt_start_seq."""

    async def scenario(nc, srv):
        log = []
        await create(nc, "ORIGIN", subjects=["origin.>"], max_msgs=4)
        for i in range(6):
            await pub(nc, "origin.x", f"{i}".encode())
        await create(nc, "M", mirror={"name": "ORIGIN"})
        await create(nc, "MS", mirror={"name": "ORIGIN", "opt_start_seq": 5})
        log.append(norm_links((await wait_info(nc, "M", caught_up(6)))["state"]))
        log.append(norm_links((await wait_info(nc, "MS", caught_up(6)))["state"]))
        log.append(norm_links(await js_req(nc, f"{API}.STREAM.PURGE.ORIGIN")))
        await pub(nc, "origin.y")
        log.append(norm_links((await wait_info(nc, "M", caught_up(7)))["state"]))
        log.append([(m["seq"], m["data"]) for m in await all_msgs(nc, "M")])
        log.append(norm_links(await js_req(nc, f"{API}.STREAM.DELETE.M")))
        log.append(norm_links((await info(nc, "ORIGIN"))["state"]))
        return log

    jb, ns = await run_both(js_pair, scenario)
    assert_same(jb, ns)


async def test_mirror_missing_origin_reports_error(js_pair):
    """A mirror of a stream that does not exist is created; its INFO shows active -1 and the
    `stream not found` error of the consumer it cannot create."""

    async def scenario(nc, srv):
        log = [norm_links(await create(nc, "M", mirror={"name": "NOPE", "filter_subject": "a.>"}))]
        log.append(norm_links(await create(nc, "S", sources=[{"name": "NOPE"}])))
        log.append(norm_links(await wait_info(nc, "M", lambda i: "error" in i.get("mirror", {}))))
        log.append(norm_links(await wait_info(nc, "S", lambda i: "error" in i["sources"][0])))
        return log

    jb, ns = await run_both(js_pair, scenario)
    assert_same(jb, ns)


async def test_mirror_origin_created_later_and_recreated(js_jetbroker, nats_connect):
    """(jetbroker) The mirror picks up an origin created after it, reports the error again when
    the origin is deleted, and continues after the mirror's last sequence when it comes back."""
    nc = await nats_connect(js_jetbroker)
    await create(nc, "M", mirror={"name": "ORIGIN"})
    await wait_info(nc, "M", lambda i: i["mirror"].get("error", {}).get("err_code") == 10059)
    await create(nc, "ORIGIN", subjects=["origin.>"])
    for i in range(3):
        await pub(nc, "origin.x", f"{i}".encode())
    mi = await wait_info(nc, "M", caught_up(3))
    assert "error" not in mi["mirror"] and 0 <= mi["mirror"]["active"] < 1_100_000_000, mi["mirror"]
    await js_req(nc, f"{API}.STREAM.DELETE.ORIGIN")
    mi = await wait_info(nc, "M", lambda i: "error" in i["mirror"])
    assert mi["mirror"]["error"] == {"code": 404, "err_code": 10059, "description": "stream not found"}
    assert mi["state"]["messages"] == 3
    await create(nc, "ORIGIN", subjects=["origin.>"])
    for i in range(5):
        await pub(nc, "origin.x", f"again{i}".encode())
    mi = await wait_info(nc, "M", caught_up(5))
    assert mi["state"]["messages"] == 5 and "error" not in mi["mirror"], mi
    assert (await get_msg(nc, "M", 4))["data"] == "again3"
    assert (await get_msg(nc, "M", 3))["data"] == "2"


async def test_mirror_direct_get(js_pair):
    """A mirror of an allow_direct origin inherits mirror_direct and answers DIRECT.GET for the
    origin's name (queue group with the origin), and for its own name when asked directly."""

    async def scenario(nc, srv):
        await create(nc, "ORIGIN", subjects=["origin.>"], allow_direct=True)
        await pub(nc, "origin.a", b"one")
        mi = await create(nc, "M", mirror={"name": "ORIGIN"})
        await wait_info(nc, "M", caught_up(1))
        await js_req(nc, f"{API}.STREAM.DELETE.ORIGIN")
        # With the origin gone only the mirror answers the origin's direct gets.
        msg = await nc.request(f"{API}.DIRECT.GET.ORIGIN.origin.a", b"", timeout=IO_TIMEOUT)
        return [mi["config"]["mirror_direct"], msg.data.decode(), msg.headers.get("Nats-Stream"),
                msg.headers.get("Nats-Sequence")]

    jb, ns = await run_both(js_pair, scenario)
    assert_same(jb, ns)


# ---- sources ------------------------------------------------------------------------------------


def source_view(msgs):
    return sorted((m["subject"], m["hdrs"], m["data"]) for m in msgs)


async def test_sources_aggregate(js_pair):
    """Sources append with the sourcing stream's own sequences and nats-server's
    Nats-Stream-Source header (origin name, sequence, filter, destination, origin subject);
    filters and transforms apply; an upstream Nats-Stream-Source is replaced."""

    async def scenario(nc, srv):
        log = []
        await create(nc, "A", subjects=["a.>"])
        await create(nc, "B", subjects=["b.>"])
        await pub(nc, "a.1", b"a1", headers={"Nats-Msg-Id": "x1", "Nats-Expected-Last-Sequence": "0"})
        await pub(nc, "a.2", b"a2")
        await pub(nc, "b.1", b"b1")
        await create(nc, "AGG", subjects=["agg.>"], sources=[
            {"name": "A"}, {"name": "B", "subject_transforms": [{"src": "b.*", "dest": "from-b.{{wildcard(1)}}"}]},
            {"name": "A", "filter_subject": "a.2"}])
        await pub(nc, "agg.local", b"own")
        await pub(nc, "b.2", b"b2")
        ai = await wait_info(nc, "AGG", lambda i: i["state"]["messages"] == 6 and all(
            s["lag"] == 0 for s in i["sources"]))
        log.append(norm_links(ai))
        msgs = await all_msgs(nc, "AGG")
        log.append([m["seq"] for m in msgs])
        log.append(source_view(msgs))
        # A stream sourcing AGG (daisy chain): its header names AGG, not A or B.
        await create(nc, "TOP", sources=[{"name": "AGG", "filter_subject": "from-b.>"}])
        ti = await wait_info(nc, "TOP", lambda i: i["state"]["messages"] == 2)
        log.append(norm_links(ti))
        top = await all_msgs(nc, "TOP")
        # The order sources interleave in AGG differs between servers: the header's sequence is
        # checked against AGG instead of compared.
        by_seq = {m["seq"]: m for m in msgs}
        log.append([by_seq[seq]["subject"] == m["subject"] for m, seq in zip(top, source_seqs(top, "AGG"))])
        for m in top:
            parts = m["hdrs"].split(" ")
            parts[2] = "<seq>"
            m["hdrs"] = " ".join(parts)
        log.append(source_view(top))
        return log

    jb, ns = await run_both(js_pair, scenario)
    assert_same(jb, ns)


async def test_sources_limits_and_dedupe(js_pair):
    """The sourcing stream's own limits apply to sourced messages, and with a duplicate window
    sourced Nats-Msg-Id duplicates are stored once."""

    async def scenario(nc, srv):
        log = []
        await create(nc, "A", subjects=["a.>"])
        await create(nc, "B", subjects=["b.>"])
        for i in range(5):
            await pub(nc, "a.x", f"{i}".encode(), headers={"Nats-Msg-Id": f"m{i}"})
        for i in range(3):
            await pub(nc, "b.x", f"{i}".encode(), headers={"Nats-Msg-Id": f"m{i}"})
        await create(nc, "LIM", sources=[{"name": "A"}], max_msgs=2)
        await create(nc, "DD", sources=[{"name": "A"}, {"name": "B"}], duplicate_window=60_000_000_000)
        li = await wait_info(nc, "LIM", lambda i: i["state"]["last_seq"] == 5 and i["sources"][0]["lag"] == 0)
        log.append(norm_links(li["state"]))
        log.append([m["data"] for m in await all_msgs(nc, "LIM")])
        di = await wait_info(nc, "DD", lambda i: i["state"]["messages"] >= 5 and all(
            s["lag"] == 0 for s in i["sources"]))
        log.append(di["state"]["messages"])
        log.append(sorted(m["data"] for m in await all_msgs(nc, "DD")))
        return log

    jb, ns = await run_both(js_pair, scenario)
    assert_same(jb, ns)


async def test_source_discard_new_resumes(js_jetbroker, nats_connect):
    """(jetbroker) A source into a full discard-new stream waits, and resumes once there is room,
    without losing or repeating messages."""
    nc = await nats_connect(js_jetbroker)
    await create(nc, "A", subjects=["a.>"])
    for i in range(5):
        await pub(nc, "a.x", f"{i}".encode())
    await create(nc, "WQ", sources=[{"name": "A"}], max_msgs=3, discard="new")
    await wait_info(nc, "WQ", lambda i: i["state"]["messages"] == 3)
    await js_req(nc, f"{API}.STREAM.PURGE.WQ")
    wi = await wait_info(nc, "WQ", lambda i: i["state"]["messages"] == 2 and i["sources"][0]["lag"] == 0)
    assert wi["state"]["last_seq"] == 5, wi["state"]
    assert [m["data"] for m in await all_msgs(nc, "WQ")] == ["3", "4"]


# ---- restarts -----------------------------------------------------------------------------------


def hard_kill(srv) -> None:
    srv.proc.kill()
    srv.proc.wait()
    srv.exit_code = srv.proc.returncode


async def connect(srv):
    return await nats.connect(servers=[srv.url], allow_reconnect=False, connect_timeout=IO_TIMEOUT)


def source_seqs(msgs, origin):
    out = []
    for m in msgs:
        for line in m["hdrs"].split("\r\n"):
            if line.startswith("Nats-Stream-Source: ") and line.split()[1] == origin:
                out.append(int(line.split()[2]))
    return out


@pytest.mark.parametrize("kill", [False, True], ids=["sigterm", "kill9"])
async def test_mirror_and_source_resume_after_restart(server_kind, make_server, tmp_path, kill):
    """After a restart (clean or kill -9) the mirror and the source continue where they left off:
    the mirror equals the origin, and the source holds every origin sequence exactly once."""
    store = tmp_path / "store"
    srv = make_server(server_kind, *js_args(store))
    nc = await connect(srv)
    await create(nc, "ORIGIN", subjects=["origin.>"])
    await create(nc, "M", mirror={"name": "ORIGIN"})
    await create(nc, "S", sources=[{"name": "ORIGIN", "filter_subject": "origin.even"}])
    n = 0

    async def burst(count):
        nonlocal n
        futs = []
        for _ in range(count):
            n += 1
            futs.append(nc.publish(f"origin.{'even' if n % 2 == 0 else 'odd'}", f"{n}".encode()))
        await asyncio.gather(*futs)
        await nc.flush()

    await burst(400)
    await wait_info(nc, "ORIGIN", lambda i: i["state"]["last_seq"] == 400)
    if kill:
        await burst(2000)  # killed while the mirror and the source are copying these
        await wait_info(nc, "ORIGIN", lambda i: i["state"]["last_seq"] == 2400)
        hard_kill(srv)
        await nc.close()
    else:
        await wait_info(nc, "M", caught_up(400))
        await nc.close()
        assert srv.stop() == 0

    srv2 = make_server(server_kind, *js_args(store))
    nc = await connect(srv2)
    try:
        last = (await info(nc, "ORIGIN"))["state"]["last_seq"]
        await burst(100)
        last += 100
        await wait_info(nc, "ORIGIN", lambda i: i["state"]["last_seq"] == last)
        mi = await wait_info(nc, "M", caught_up(last), timeout=30)
        assert mi["state"] == (await info(nc, "ORIGIN"))["state"]
        evens = last // 2
        si = await wait_info(nc, "S", lambda i: i["state"]["messages"] >= evens and i["sources"][0]["lag"] == 0,
                             timeout=30)
        assert si["state"]["messages"] == evens, si["state"]
        # Sequences of the copies, read through a consumer (faster than one MSG.GET each).
        js = nc.jetstream()
        sub = await js.pull_subscribe("", durable="check", stream="S")
        seqs = []
        while len(seqs) < evens:
            for m in await sub.fetch(500, timeout=5):
                seqs.append(int(m.headers["Nats-Stream-Source"].split()[1]))
                await m.ack()
        assert seqs == list(range(2, last + 1, 2)), "source duplicated or lost messages"
    finally:
        await nc.close()


# ---- KV buckets (nats CLI) ----------------------------------------------------------------------


async def test_kv_mirror_and_sources_with_cli(js_pair, tmp_path):
    """`nats kv add --mirror` and `--source`: the buckets' stream configs and INFO, what the
    sourced bucket answers (its transform renames $KV.ORIG.> to $KV.AGG.>), and what the CLI does
    with a key of the mirror bucket (it reads the mirror's own prefix: not found on both)."""
    binary = nats_cli()
    if binary is None:
        pytest.skip("nats CLI not found")
    env = {k: v for k, v in os.environ.items() if not k.startswith("NATS_")}
    env["HOME"] = str(tmp_path)

    def run(srv, *args):
        r = subprocess.run([binary, "--no-context", "-s", srv.url, *args], capture_output=True, timeout=20,
                           env=env, cwd=tmp_path)
        return [r.returncode, r.stdout.decode().strip(), r.stderr.decode().strip()]

    async def scenario(nc, srv):
        log = [run(srv, "kv", "add", "ORIG", "--history", "3")[0]]
        for k, v in [("k1", "v1"), ("k2", "v2"), ("k1", "v1b")]:
            log.append(run(srv, "kv", "put", "ORIG", k, v)[0])
        log.append(run(srv, "kv", "add", "REPL", "--mirror", "ORIG")[0])
        log.append(run(srv, "kv", "add", "AGG", "--source", "ORIG")[0])
        log.append(norm_links(await wait_info(nc, "KV_REPL", caught_up(3))))
        log.append(norm_links(await wait_info(nc, "KV_AGG", lambda i: i["state"]["messages"] == 2)))
        log.append(run(srv, "kv", "get", "AGG", "k1", "--raw"))
        log.append(run(srv, "kv", "ls", "AGG"))
        log.append(run(srv, "kv", "get", "REPL", "k1", "--raw"))
        return log

    jb, ns = await run_both(js_pair, scenario)
    assert_same(jb, ns)


async def test_external_delivery_prefix_overlapping_local_source(js_pair):
    """10022: an external source's delivery prefix must not capture the subjects of a local source
    (only a wildcard such as "*.>" can: "*.>" collides with "dl.*.>")."""

    async def scenario(nc, srv):
        out = [(await create(nc, "G", subjects=["*.>"], no_ack=True)).get("error"),
               (await create(nc, "W", subjects=["w"])).get("error")]
        ext = {"name": "X", "external": {"api": "$JS.hub.API", "deliver": "dl"}}
        for name, local in [("A1", "W"), ("A2", "G")]:
            r = await create(nc, name, sources=[{"name": local}, ext])
            out.append(r.get("error"))
        out.append((await create(nc, "A3", sources=[{"name": "G"}, {"name": "X", "external": {"api": "$JS.hub.API"}}])).get("error"))
        return out

    jb, ns = await run_both(js_pair, scenario)
    assert_same(jb, ns)
    assert jb[3] == {"code": 400, "err_code": 10022,
                     "description": "stream external delivery prefix dl overlaps with stream subject *.>"}
