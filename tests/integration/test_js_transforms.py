"""Subject mapping functions in stream transforms (issue 6): sources, mirrors and ingest
(`subject_transform`) with {{wildcard}}, {{partition}}, {{split}}, {{splitFromLeft/Right}},
{{sliceFromLeft/Right}} and {{random}}, and nats-server's errors for malformed ones; differential.
"""

import asyncio
import time

import pytest

from conftest import assert_same, js_norm, js_req, run_both

pytestmark = pytest.mark.timeout(60)

API = "$JS.API"
ORIGIN_SUBJECTS = ["o.a.b", "o.c.d", "o.e-f.g", "o.abcde.h"]
DESTS = {
    "T1": "p.{{wildcard(2)}}.{{wildcard(1)}}",
    "T2": "q.{{partition(3,1)}}.{{wildcard(1)}}.{{wildcard(2)}}",
    "T3": "r.{{split(1,-)}}.{{wildcard(2)}}",
    "T4": "s.{{splitFromLeft(1,1)}}.{{wildcard(2)}}",
    "T5": "t.{{SliceFromLeft(1,2)}}.{{wildcard(2)}}",
    "T6": "v.{{sliceFromRight(1,2)}}.{{splitfromright(2,1)}}",
    "T7": "w.{{partition(5,1,2)}}.$2",
    "T8": "x.{{partition(7)}}.{{wildcard(1)}}",  # no wildcard numbers: the whole subject is hashed
}


async def subjects_when(nc, stream, count, timeout=10.0):
    deadline = time.monotonic() + timeout
    while True:
        i = await js_req(nc, f"{API}.STREAM.INFO.{stream}", {"subjects_filter": ">"})
        if i["state"]["messages"] >= count or time.monotonic() > deadline:
            return sorted(i["state"].get("subjects", {}))
        await asyncio.sleep(0.05)


async def test_source_transform_functions(js_pair):
    async def scenario(nc, srv):
        out = []
        await js_req(nc, f"{API}.STREAM.CREATE.ORIG", {"name": "ORIG", "subjects": ["o.>"]})
        for s in ORIGIN_SUBJECTS:
            await nc.request(s, b"x", timeout=2)
        for name, dest in DESTS.items():
            r = await js_req(nc, f"{API}.STREAM.CREATE.{name}",
                             {"name": name, "sources": [{"name": "ORIG", "subject_transforms": [{"src": "o.*.*", "dest": dest}]}]})
            out.append(r.get("error") or await subjects_when(nc, name, len(ORIGIN_SUBJECTS)))
        # random(n): only the range is deterministic
        r = await js_req(nc, f"{API}.STREAM.CREATE.RND",
                         {"name": "RND", "sources": [{"name": "ORIG", "subject_transforms": [{"src": "o.*.*", "dest": "u.{{random(3)}}.x"}]}]})
        subs = await subjects_when(nc, "RND", len(ORIGIN_SUBJECTS))
        out.append(r.get("error") or all(s in ("u.0.x", "u.1.x", "u.2.x") for s in subs))
        return out

    jb, ns = await run_both(js_pair, scenario)
    assert_same(jb, ns)
    assert jb[1] == ["q.0.e-f.g", "q.1.a.b", "q.1.abcde.h", "q.2.c.d"] or isinstance(jb[1], list) and len(jb[1]) == 4


async def test_ingest_transform_functions(js_pair):
    async def scenario(nc, srv):
        out = [js_norm(await js_req(nc, f"{API}.STREAM.CREATE.I1", {
            "name": "I1", "subjects": ["i.*.*"],
            "subject_transform": {"src": "i.*.*", "dest": "ii.{{partition(4,1,2)}}.{{split(1,_)}}.{{wildcard(2)}}"}}))]
        for s in ["i.a_b.c", "i.x.y", "i._z_.w"]:
            out.append((await nc.request(s, b"x", timeout=2)).data.decode())
        out.append(await subjects_when(nc, "I1", 3))
        return out

    assert_same(*await run_both(js_pair, scenario))


async def test_malformed_mapping_functions_refused(js_pair):
    async def scenario(nc, srv):
        out = []
        await js_req(nc, f"{API}.STREAM.CREATE.ORIG", {"name": "ORIG", "subjects": ["o.>"]})
        for dest in ["p.{{nope(1)}}", "p.{{partition(3)}}", "p.{{partition()}}", "p.{{wildcard()}}", "p.{{wildcard(1,2)}}",
                     "p.{{split(x,-)}}", "p.{{splitfromleft(1,2,3)}}", "p.{{wildcard(3)}}", "p.{{partition(3,1,4)}}"]:
            r = await js_req(nc, f"{API}.STREAM.CREATE.BAD",
                             {"name": "BAD", "sources": [{"name": "ORIG", "subject_transforms": [{"src": "o.*.*", "dest": dest}]}]})
            out.append(r.get("error"))
        for name, src, dest in [("BAD2", "o.a", "p.{{wildcard(1)}}"), ("OK3", "o.a", "p.{{partition(2,1)}}"),
                                ("BAD4", "o.*", "p.{{random()}}")]:
            r = await js_req(nc, f"{API}.STREAM.CREATE.{name}",
                             {"name": name, "sources": [{"name": "ORIG", "subject_transforms": [{"src": src, "dest": dest}]}]})
            out.append(r.get("error") or "created")
        r = await js_req(nc, f"{API}.STREAM.CREATE.BAD3", {"name": "BAD3", "subjects": ["b3.*"],
                                                            "subject_transform": {"src": "b3.*", "dest": "x.{{nope(1)}}"}})
        out.append(r.get("error"))
        return out

    jb, ns = await run_both(js_pair, scenario)
    assert_same(jb, ns)
    assert sum(e is None for e in jb) == 1 and "created" in jb, jb  # only partition(3) is accepted
