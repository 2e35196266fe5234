"""Differential JetStream stream API tests: the same requests go to jetbroker and nats-server and the
JSON answers are compared after js_norm (timestamps, server ids, version metadata, api.level).

Where the reference allows texts to differ (10052 config reasons, 10025 parser messages) only
`code`/`err_code` are compared by the main tests; the *_texts tests compare the descriptions too and
are expected to document differences.
"""

import base64
import json

import pytest
from nats.errors import NoRespondersError, TimeoutError as NatsTimeoutError

from conftest import assert_same, js_norm, js_req, run_both

pytestmark = pytest.mark.timeout(60)

API = "$JS.API"


# Fields with their own dedicated tests, left out of the general transcripts so that one difference
# does not fail every test: STREAM.INFO paging (`total`/`offset`/`limit`, test_js_stream_info_paging_fields),
# account `api` counters (test_js_api_counters) and `reserved_*` (test_js_account_reserved).
ISOLATED = {
    "io.nats.jetstream.api.v1.stream_info_response": ("total", "offset", "limit"),
    "io.nats.jetstream.api.v1.account_info_response": ("api", "reserved_memory", "reserved_storage"),
}


def strip_isolated(r):
    drop = ISOLATED.get(r.get("type"), ()) if isinstance(r, dict) else ()
    if isinstance(r, dict) and r.get("type", "").endswith("stream_purge_response") and "error" in r:
        drop = ("purged",)  # test_js_purge_error_carries_purged
    return {k: v for k, v in r.items() if k not in drop} if drop else r


class Transcript:
    """Records normalised answers of API requests and publishes on one connection."""

    def __init__(self, nc, drop_desc_for=(), isolate=True):
        self.nc = nc
        self.log: list = []
        self.drop = drop_desc_for
        self.isolate = isolate

    async def api(self, subject, body=b"", record=True, **kw):
        r = await js_req(self.nc, subject, body, **kw)
        if record:
            self.log.append(js_norm(strip_isolated(r) if self.isolate else r, drop_desc_for=self.drop))
        return r

    async def pub(self, subject, data=b"", headers=None, record=True):
        try:
            m = await self.nc.request(subject, data, timeout=5, headers=headers)
            r = json.loads(m.data)
        except NoRespondersError:
            r = {"<no responders>": True}
        if record:
            self.log.append(js_norm(r, drop_desc_for=self.drop))
        return r

    def note(self, value):
        self.log.append(value)


def stream(name, **cfg):
    cfg.setdefault("subjects", [name.lower() + ".>"])
    return name, {"name": name, **cfg}


async def create(t, name, cfg, record=True):
    return await t.api(f"{API}.STREAM.CREATE.{name}", cfg, record=record)


# ---- account info, create, re-create ------------------------------------------------------------


async def test_js_account_info_and_create(js_pair):
    async def scenario(nc, srv):
        t = Transcript(nc, drop_desc_for=(10025,))
        await t.api(f"{API}.INFO")
        await t.api(f"{API}.STREAM.CREATE.ORDERS", {"name": "ORDERS", "subjects": ["orders.*"]})
        await t.api(f"{API}.STREAM.CREATE.ORDERS", {"name": "ORDERS", "subjects": ["orders.*"]})  # identical
        await t.api(f"{API}.STREAM.CREATE.ORDERS", {"name": "ORDERS", "subjects": ["orders.>"]})  # 10058
        await t.api(f"{API}.STREAM.CREATE.OTHER", {"name": "OTHER", "subjects": ["orders.new"]})  # 10065
        await t.api(f"{API}.STREAM.CREATE.OTHER", b"{not json")  # 10025
        await t.api(f"{API}.STREAM.CREATE.OTHER", {"name": "OTHER", "subjects": ["o"], "bogus": 1})  # 10025
        await t.api(f"{API}.STREAM.CREATE.OTHER", {"name": "NOPE", "subjects": ["o"]})  # 10056
        await t.api(f"{API}.STREAM.CREATE.MEM", {"name": "MEM", "storage": "memory", "max_msgs": 0,
                                                  "max_bytes": -5, "max_consumers": 0, "num_replicas": 0,
                                                  "description": "d", "metadata": {"k": "v"}})
        await t.api(f"{API}.STREAM.INFO.ORDERS")
        await t.api(f"{API}.STREAM.INFO.NOPE")  # 10059
        await t.api(f"{API}.STREAM.DELETE.NOPE")  # 10059
        await t.api(f"{API}.STREAM.UPDATE.NOPE", {"name": "NOPE", "subjects": ["nope"]})  # 10059
        await t.api(f"{API}.STREAM.UPDATE.ORDERS", {"name": "ORDERS", "subjects": ["orders.*", "more"],
                                                     "description": "updated"})
        await t.api(f"{API}.STREAM.DELETE.MEM")
        await t.api(f"{API}.INFO")
        return t.log

    jb, ns = await run_both(js_pair, scenario)
    assert_same(jb, ns)


async def test_js_create_empty_body(js_pair):
    """An empty CREATE body: nats-server answers 10056 (the empty config's name does not match)."""

    async def scenario(nc, srv):
        t = Transcript(nc)
        await t.api(f"{API}.STREAM.CREATE.EMPTY", b"")
        return t.log

    assert_same(*await run_both(js_pair, scenario))


async def test_js_api_counters(js_pair):
    """api.total counts every answered request (INFO itself only from the next call on), api.errors
    the error answers."""

    async def scenario(nc, srv):
        t = Transcript(nc)
        await t.api(f"{API}.STREAM.CREATE.C", {"name": "C"}, record=False)
        await t.api(f"{API}.STREAM.CREATE.C", {"name": "C", "subjects": ["zz"]}, record=False)
        await t.api(f"{API}.STREAM.INFO.X", record=False)
        await t.api(f"{API}.STREAM.INFO.C", record=False)
        r = await t.api(f"{API}.INFO", record=False)
        t.note(r["api"])
        r = await t.api(f"{API}.INFO", record=False)
        t.note(r["api"])
        await t.api(f"{API}.STREAM.PURGE.C", {"seq": 1, "keep": 1}, record=False)
        await t.api(f"{API}.STREAM.CREATE.D", b"{", record=False)
        r = await t.api(f"{API}.INFO", record=False)
        t.note(r["api"])
        return [{k: v for k, v in a.items() if k != "level"} for a in t.log]

    jb, ns = await run_both(js_pair, scenario)
    assert ns == [{"total": 4, "errors": 2}, {"total": 5, "errors": 2}, {"total": 8, "errors": 4}]
    assert_same(jb, ns)


# ---- invalid configurations ---------------------------------------------------------------------

INVALID_CONFIGS = [
    {"max_age": -1},
    {"max_age": 10},
    {"duplicate_window": 10},
    {"duplicate_window": 5_000_000_000, "max_age": 1_000_000_000},
    {"sealed": True},
    {"mirror_direct": True},
    {"discard_new_per_subject": True},
    {"discard_new_per_subject": True, "discard": "new"},
    {"subjects": ["x", "x"]},
    {"subjects": ["x.*", "x.a"]},
    {"subjects": ["a..b"]},
    {"subjects": [">"]},
    {"subjects": ["$JS.API.>"]},
    {"num_replicas": 3},
    {"num_replicas": 6},
    {"retention": "bogus"},
    {"storage": "disk"},
    {"discard": "DiscardOld"},
    {"first_seq": 5, "mirror": {"name": "ORIGIN"}},
    {"description": "x" * 5000},
    {"subject_transform": {"src": "x", "dest": "y.*"}},
    {"republish": {"src": "x", "dest": "x"}},
    {"max_msgs_per_subject": 0, "discard": "new", "discard_new_per_subject": True},
]


def _invalid_cfgs():
    return [{"name": "BAD", "subjects": ["x"], **c} if "subjects" not in c or c.get("mirror") is None
            else {"name": "BAD", **c} for c in INVALID_CONFIGS]


async def _invalid_scenario(nc, srv, keep_text: bool):
    t = Transcript(nc, drop_desc_for=() if keep_text else (10052, 10025))
    for cfg in _invalid_cfgs():
        if cfg.get("mirror"):
            cfg.pop("subjects", None)
        await t.api(f"{API}.STREAM.CREATE.BAD", cfg)
        await t.api(f"{API}.STREAM.DELETE.BAD", record=False)  # in case one was accepted
    for name in ["a.b", "a*", "a>", "a b", "a/b", "a\\b"]:
        r = await js_req(nc, f"{API}.STREAM.CREATE.X", {"name": name, "subjects": ["n1"]})
        t.log.append(js_norm(r, drop_desc_for=t.drop))
    return t.log


async def test_js_invalid_stream_configs(js_pair):
    """Codes and err_codes of rejected stream configs (descriptions compared in the _texts test)."""
    jb, ns = await run_both(js_pair, lambda nc, srv: _invalid_scenario(nc, srv, False))
    assert_same(jb, ns)


async def test_js_invalid_stream_config_texts(js_pair):
    """The same with descriptions: documents 10052/10025 text differences."""
    jb, ns = await run_both(js_pair, lambda nc, srv: _invalid_scenario(nc, srv, True))
    assert_same(jb, ns)


# ---- info, names, list --------------------------------------------------------------------------


async def test_js_stream_info_subjects_and_deleted(js_pair):
    async def scenario(nc, srv):
        t = Transcript(nc)
        await create(t, "INF", {"name": "INF", "subjects": ["inf.>"]})
        for subj in ["inf.a.1", "inf.a.2", "inf.b.1", "inf.a.1", "inf.c", "inf.a.1", "inf.b.1"]:
            await t.pub(subj, b"payload-" + subj.encode(), record=False)
        await t.pub("inf.h", b"with headers", headers={"X-A": "1", "X-Bb": "two"})
        await t.api(f"{API}.STREAM.MSG.DELETE.INF", {"seq": 2})
        await t.api(f"{API}.STREAM.MSG.DELETE.INF", {"seq": 5, "no_erase": True})
        await t.api(f"{API}.STREAM.MSG.DELETE.INF", {"seq": 5})  # 10057 / already gone
        await t.api(f"{API}.STREAM.MSG.DELETE.INF", {"seq": 99})
        await t.api(f"{API}.STREAM.INFO.INF")
        await t.api(f"{API}.STREAM.INFO.INF", {"subjects_filter": ">"})
        await t.api(f"{API}.STREAM.INFO.INF", {"subjects_filter": "inf.a.*"})
        await t.api(f"{API}.STREAM.INFO.INF", {"subjects_filter": "nomatch"})
        await t.api(f"{API}.STREAM.INFO.INF", {"deleted_details": True})
        await t.api(f"{API}.STREAM.INFO.INF", {"deleted_details": True, "subjects_filter": "inf.b.1"})
        await t.api(f"{API}.INFO")
        return t.log

    assert_same(*await run_both(js_pair, scenario))


async def test_js_stream_names_and_list(js_pair):
    async def scenario(nc, srv):
        t = Transcript(nc)
        await t.api(f"{API}.STREAM.NAMES")  # none: streams null
        await t.api(f"{API}.STREAM.LIST")  # none: streams []
        for name, subj in [("B1", "b.1"), ("A1", "a.>"), ("C1", "c.*"), ("A2", "x.a")]:
            await create(t, name, {"name": name, "subjects": [subj]}, record=False)
        await t.api(f"{API}.STREAM.NAMES")
        await t.api(f"{API}.STREAM.NAMES", {"subject": "a.b"})
        await t.api(f"{API}.STREAM.NAMES", {"subject": "c.x"})
        await t.api(f"{API}.STREAM.NAMES", {"subject": ">"})
        await t.api(f"{API}.STREAM.NAMES", {"subject": "none"})
        await t.api(f"{API}.STREAM.NAMES", {"offset": 2})
        r = await t.api(f"{API}.STREAM.LIST", record=False)
        r["streams"] = sorted(r["streams"], key=lambda s: s["config"]["name"])  # order is a map walk
        t.log.append(js_norm(r))
        await t.api(f"{API}.STREAM.LIST", {"subject": "a.x"})
        return t.log

    assert_same(*await run_both(js_pair, scenario))


@pytest.mark.timeout(120)
async def test_js_stream_list_paging(js_pair):
    """300 streams: LIST pages of 256 + 44, NAMES in one page of 1024."""

    async def scenario(nc, srv):
        t = Transcript(nc)
        for i in range(300):
            await create(t, f"P{i:03d}", {"name": f"P{i:03d}", "subjects": [f"p.{i}"],
                                          "storage": "memory"}, record=False)
        r = await t.api(f"{API}.STREAM.LIST", record=False)
        page1 = [s["config"]["name"] for s in r["streams"]]
        t.note({k: r[k] for k in ("total", "offset", "limit")} | {"n": len(page1)})
        r = await t.api(f"{API}.STREAM.LIST", {"offset": 256}, record=False)
        page2 = [s["config"]["name"] for s in r["streams"]]
        t.note({k: r[k] for k in ("total", "offset", "limit")} | {"n": len(page2)})
        t.note(sorted(page1 + page2) == [f"P{i:03d}" for i in range(300)])
        r = await t.api(f"{API}.STREAM.NAMES", record=False)
        t.note({k: r[k] for k in ("total", "offset", "limit")} | {"n": len(r["streams"])})
        r = await t.api(f"{API}.STREAM.NAMES", {"offset": 290}, record=False)
        t.note(r)
        return t.log

    jb, ns = await run_both(js_pair, scenario)
    assert ns[0] == {"total": 300, "offset": 0, "limit": 256, "n": 256}
    assert_same(jb, ns)


# ---- purge, get, delete, direct get -------------------------------------------------------------


async def _fill(t, stream_name, subjects):
    for i, subj in enumerate(subjects):
        await t.pub(subj, f"m{i + 1}".encode(), record=False)


PURGE_SUBJECTS = ["pg.a", "pg.b", "pg.a", "pg.c", "pg.a", "pg.b", "pg.a", "pg.c", "pg.a", "pg.b"]


@pytest.mark.parametrize("req", [
    None, {}, {"filter": "pg.a"}, {"filter": "pg.*"}, {"seq": 4}, {"seq": 4, "filter": "pg.a"},
    {"keep": 3}, {"keep": 2, "filter": "pg.a"}, {"seq": 3, "keep": 1}, {"keep": 0}, {"seq": 100},
    {"filter": "other"}, {"seq": 0},
], ids=lambda r: json.dumps(r))
async def test_js_purge(js_pair, req):
    async def scenario(nc, srv):
        t = Transcript(nc)
        await create(t, "PG", {"name": "PG", "subjects": ["pg.*"]}, record=False)
        await _fill(t, "PG", PURGE_SUBJECTS)
        await t.api(f"{API}.STREAM.PURGE.PG", b"" if req is None else req)
        await t.api(f"{API}.STREAM.INFO.PG", {"subjects_filter": ">", "deleted_details": True})
        await t.pub("pg.a", b"after")
        return t.log

    assert_same(*await run_both(js_pair, scenario))


async def test_js_msg_get(js_pair):
    async def scenario(nc, srv):
        t = Transcript(nc)
        await create(t, "MG", {"name": "MG", "subjects": ["mg.>"]}, record=False)
        await _fill(t, "MG", ["mg.a", "mg.b", "mg.a", "mg.c.1", "mg.b"])
        await t.pub("mg.h", b"hdr", headers={"Foo": "bar"}, record=False)
        for req in [{"seq": 1}, {"seq": 6}, {"seq": 0}, {"seq": 99}, {"last_by_subj": "mg.a"},
                    {"last_by_subj": "mg.*"}, {"last_by_subj": "mg.>"}, {"last_by_subj": "nope"},
                    {"seq": 2, "next_by_subj": "mg.a"}, {"seq": 1, "next_by_subj": "mg.c.*"},
                    {"seq": 6, "next_by_subj": "mg.a"}, {"next_by_subj": "mg.b"}, {},
                    {"seq": 1, "last_by_subj": "mg.a"}, {"seq": 1, "batch": 2}]:
            await t.api(f"{API}.STREAM.MSG.GET.MG", req)
        await t.api(f"{API}.STREAM.MSG.GET.MG", b"")
        await t.api(f"{API}.STREAM.MSG.GET.NOPE", {"seq": 1})
        await t.api(f"{API}.STREAM.MSG.DELETE.MG", {"seq": 3})
        await t.api(f"{API}.STREAM.MSG.GET.MG", {"seq": 3})
        await t.api(f"{API}.STREAM.MSG.GET.MG", {"last_by_subj": "mg.a"})
        await t.api(f"{API}.STREAM.MSG.DELETE.MG", {"seq": 1})
        await t.api(f"{API}.STREAM.INFO.MG")
        return t.log

    jb, ns = await run_both(js_pair, scenario)
    # sanity on the reference: seq 6 carries the header block
    assert base64.b64decode(ns[1]["message"]["hdrs"]) == b"NATS/1.0\r\nFoo: bar\r\n\r\n"
    assert_same(jb, ns)


async def _direct(nc, subject, body=b""):
    """A DIRECT.GET answer as (status, description, headers without timestamp, data)."""
    try:
        m = await nc.request(subject, json.dumps(body).encode() if isinstance(body, dict) else body,
                             timeout=3)
    except NoRespondersError:
        return {"<no responders>": True}
    except NatsTimeoutError:
        return {"<timeout>": True}
    hdrs = dict(m.headers or {})
    ts = hdrs.pop("Nats-Time-Stamp", None)
    status = hdrs.pop("Status", None)
    desc = hdrs.pop("Description", None)
    return {"status": status, "desc": desc, "headers": hdrs, "data": m.data.decode(), "has_ts": ts is not None}


async def test_js_stream_config_type_errors(js_pair):
    """Go's decoder errors for stream configs (create and update): the field's path in the request
    (StreamConfigRequest.StreamConfig.<field>), its Go type, and numbers quoted as written."""
    bad = [{"max_msgs": 1.5}, {"max_age": "1h"}, {"max_msg_size": 1e10}, {"max_msg_size": 2147483648},
           {"max_consumers": 2.5}, {"duplicate_window": 1e300}, {"first_seq": -1}, {"num_replicas": 1.5},
           {"no_ack": 1}, {"subject_delete_marker_ttl": "x"}]
    nested = [{"consumer_limits": {"inactive_threshold": "x"}}, {"consumer_limits": {"max_ack_pending": 1.5}},
              {"sources": [{"name": "A", "opt_start_seq": -1}]}, {"sources": [{"name": 5}]},
              {"mirror": {"name": "A", "filter_subject": 3}},
              {"republish": {"src": ">", "dest": "x.>", "headers_only": 1}},
              {"subject_transform": {"src": 1, "dest": "x"}},
              {"sources": [{"name": "A", "subject_transforms": [{"src": 2}]}]},
              {"sources": [{"name": "A", "external": {"api": 1}}]}]

    async def scenario(nc, srv):
        await js_req(nc, f"{API}.STREAM.CREATE.TE", {"name": "TE", "subjects": ["te"]})
        out = []
        for i, extra in enumerate(bad):
            r = await js_req(nc, f"{API}.STREAM.CREATE.TE{i}", {"name": f"TE{i}", "subjects": [f"te{i}"], **extra})
            out.append(r.get("error"))
            r = await js_req(nc, f"{API}.STREAM.UPDATE.TE", {"name": "TE", "subjects": ["te"], **extra})
            out.append(r.get("error"))
        for i, extra in enumerate(nested):  # inner structs: <Struct>.StreamConfig.<path>.<field>
            cfg = {"name": f"TN{i}", **({} if "mirror" in extra else {"subjects": [f"tn{i}"]}), **extra}
            out.append((await js_req(nc, f"{API}.STREAM.CREATE.TN{i}", cfg)).get("error"))
        return out

    jb, ns = await run_both(js_pair, scenario)
    assert ns[0]["description"] == ("invalid JSON: json: cannot unmarshal number 1.5 into Go struct field "
                                    "StreamConfigRequest.StreamConfig.max_msgs of type int64"), ns[0]
    assert_same(jb, ns)


async def test_js_unknown_api_subjects_get_what_nats_server_gives(js_pair):
    """nats-server's JetStream dispatcher drops a request under $JS.API.> that no API handles (the
    requester times out; nats.go would read an immediate no-responders as "JetStream not enabled"),
    while DIRECT.GET subjects nothing answers get no-responders, as does the bare $JS.API."""
    subjects = ["$JS.API.FOO", "$JS.API.FOO.BAR", "$JS.API.STREAM.FOO", "$JS.API.INFO.X",
                "$JS.API.DIRECT", "$JS.API.DIRECT.FOO", "$JS.API.DIRECTX.GET.U",
                "$JS.API", "$JS.API.DIRECT.GET", "$JS.API.DIRECT.GET.U", "$JS.API.DIRECT.GET.U.u",
                "$JS.API.DIRECT.GET.NOPE"]

    async def scenario(nc, srv):
        await js_req(nc, f"{API}.STREAM.CREATE.U", {"name": "U", "subjects": ["u"]})  # no allow_direct
        out = []
        for subj in subjects:
            try:
                m = await nc.request(subj, b'{"seq":1}', timeout=0.3)
                out.append((subj, "answered", m.data[:40].decode()))
            except NoRespondersError:
                out.append((subj, "no responders"))
            except NatsTimeoutError:
                out.append((subj, "timeout"))
        out.append((await js_req(nc, f"{API}.INFO"))["type"])  # the API still answers
        return out

    jb, ns = await run_both(js_pair, scenario)
    assert ("$JS.API.FOO", "timeout") in ns and ("$JS.API.DIRECT.GET.U", "no responders") in ns
    assert_same(jb, ns)


async def test_js_direct_get(js_pair):
    async def scenario(nc, srv):
        t = Transcript(nc)
        await create(t, "DG", {"name": "DG", "subjects": ["dg.>"], "allow_direct": True}, record=False)
        await create(t, "ND", {"name": "ND", "subjects": ["nd.>"]}, record=False)
        await _fill(t, "DG", ["dg.a", "dg.b", "dg.a"])
        await t.pub("dg.h", b"hdr", headers={"X-Custom": "yes"}, record=False)
        await t.pub("nd.a", b"x", record=False)
        for subject, body in [
            (f"{API}.DIRECT.GET.DG", {"seq": 1}),
            (f"{API}.DIRECT.GET.DG", {"seq": 4}),
            (f"{API}.DIRECT.GET.DG", {"last_by_subj": "dg.a"}),
            (f"{API}.DIRECT.GET.DG", {"seq": 2, "next_by_subj": "dg.a"}),
            (f"{API}.DIRECT.GET.DG", {"seq": 99}),
            (f"{API}.DIRECT.GET.DG", {"last_by_subj": "dg.zzz"}),
            (f"{API}.DIRECT.GET.DG.dg.a", b""),
            (f"{API}.DIRECT.GET.DG.dg.b", b""),
            (f"{API}.DIRECT.GET.DG.dg.none", b""),
            (f"{API}.DIRECT.GET.DG", b""),
            (f"{API}.DIRECT.GET.DG", b"{bad"),
            (f"{API}.DIRECT.GET.NOPE", {"seq": 1}),
            (f"{API}.DIRECT.GET.ND", {"seq": 1}),
        ]:
            t.note(await _direct(nc, subject, body))
        return t.log

    jb, ns = await run_both(js_pair, scenario)
    assert ns[0]["headers"] == {"Nats-Stream": "DG", "Nats-Subject": "dg.a", "Nats-Sequence": "1"}
    assert ns[4]["status"] == "404"
    assert ns[11] == {"<no responders>": True}
    assert_same(jb, ns)


# ---- publish path -------------------------------------------------------------------------------


async def test_js_publish_headers(js_pair):
    async def scenario(nc, srv):
        t = Transcript(nc)
        await create(t, "PH", {"name": "PH", "subjects": ["ph.>"]}, record=False)
        await create(t, "OTHER", {"name": "OTHER", "subjects": ["other"]}, record=False)
        await t.pub("ph.a", b"1", headers={"Nats-Msg-Id": "id-1"})
        await t.pub("ph.a", b"1", headers={"Nats-Msg-Id": "id-1"})  # duplicate
        await t.pub("ph.b", b"2", headers={"Nats-Msg-Id": "id-2"})
        await t.pub("ph.b", b"x", headers={"Nats-Msg-Id": "id-1"})  # duplicate on another subject
        await t.pub("ph.a", b"3", headers={"Nats-Expected-Stream": "PH"})
        await t.pub("ph.a", b"x", headers={"Nats-Expected-Stream": "OTHER"})  # 10060
        await t.pub("ph.a", b"4", headers={"Nats-Expected-Last-Sequence": "3"})
        await t.pub("ph.a", b"x", headers={"Nats-Expected-Last-Sequence": "2"})  # 10071
        await t.pub("ph.a", b"5", headers={"Nats-Expected-Last-Subject-Sequence": "4"})
        await t.pub("ph.a", b"x", headers={"Nats-Expected-Last-Subject-Sequence": "4"})  # 10071: 5
        await t.pub("ph.new", b"6", headers={"Nats-Expected-Last-Subject-Sequence": "0"})
        await t.pub("ph.new", b"x", headers={"Nats-Expected-Last-Subject-Sequence": "0"})  # 10071: 6
        await t.pub("other", b"o", headers={"Nats-Expected-Stream": "PH"})  # 10060
        await t.pub("nobody.here", b"x")  # no responders
        await t.api(f"{API}.STREAM.INFO.PH", {"subjects_filter": ">"})
        await t.api(f"{API}.STREAM.MSG.GET.PH", {"seq": 1})
        return t.log

    jb, ns = await run_both(js_pair, scenario)
    assert ns[1] == {"stream": "PH", "seq": 1, "duplicate": True}
    assert ns[7]["error"]["description"] == "wrong last sequence: 4"
    assert_same(jb, ns)


async def test_js_publish_expected_last_msg_id(js_pair):
    """Nats-Expected-Last-Msg-Id compares with the Msg-Id of the *last stored message* (empty when
    that message had none); an empty header value means "not set"."""

    async def scenario(nc, srv):
        t = Transcript(nc)
        await create(t, "LM", {"name": "LM", "subjects": ["lm.>"]}, record=False)
        await t.pub("lm.a", b"1", headers={"Nats-Msg-Id": "id-1"})
        await t.pub("lm.a", b"2", headers={"Nats-Expected-Last-Msg-Id": "id-1", "Nats-Msg-Id": "id-2"})
        await t.pub("lm.a", b"x", headers={"Nats-Expected-Last-Msg-Id": "id-1"})  # 10070: id-2
        await t.pub("lm.b", b"3")  # no msg id: the last msg id becomes ""
        await t.pub("lm.c", b"x", headers={"Nats-Expected-Last-Msg-Id": "id-2"})  # 10070: ""
        await t.pub("lm.c", b"4", headers={"Nats-Msg-Id": "id-4", "Nats-Expected-Last-Msg-Id": ""})
        await t.pub("lm.c", b"5", headers={"Nats-Expected-Last-Msg-Id": "id-4"})
        await t.api(f"{API}.STREAM.INFO.LM")
        return t.log

    assert_same(*await run_both(js_pair, scenario))


async def test_js_publish_unparsable_expected_sequence(js_pair):
    """An unparsable Nats-Expected-Last-Sequence is read as 0 and so fails the check (10071)."""

    async def scenario(nc, srv):
        t = Transcript(nc)
        await create(t, "UE", {"name": "UE", "subjects": ["ue"]}, record=False)
        await t.pub("ue", b"1")
        await t.pub("ue", b"x", headers={"Nats-Expected-Last-Sequence": "bogus"})
        await t.pub("ue", b"x", headers={"Nats-Expected-Last-Subject-Sequence": "bogus"})
        await t.api(f"{API}.STREAM.INFO.UE")
        return t.log

    assert_same(*await run_both(js_pair, scenario))


async def test_js_rollup(js_pair):
    async def scenario(nc, srv):
        t = Transcript(nc)
        await create(t, "RU", {"name": "RU", "subjects": ["ru.>"], "allow_rollup_hdrs": True}, record=False)
        await create(t, "NR", {"name": "NR", "subjects": ["nr.>"]}, record=False)
        await _fill(t, "RU", ["ru.a", "ru.b", "ru.a", "ru.c", "ru.b"])
        await t.pub("ru.a", b"rollup-sub", headers={"Nats-Rollup": "sub"})
        await t.api(f"{API}.STREAM.INFO.RU", {"subjects_filter": ">"})
        await t.pub("ru.x", b"rollup-all", headers={"Nats-Rollup": "all"})
        await t.api(f"{API}.STREAM.INFO.RU", {"subjects_filter": ">", "deleted_details": True})
        await t.pub("ru.a", b"bad", headers={"Nats-Rollup": "bogus"})
        await t.pub("nr.a", b"no", headers={"Nats-Rollup": "sub"})  # rollups not allowed
        await t.api(f"{API}.STREAM.INFO.NR")
        return t.log

    assert_same(*await run_both(js_pair, scenario))


@pytest.mark.parametrize("limits", [
    {"max_msgs": 3},
    {"max_msgs": 3, "discard": "new"},
    {"max_bytes": 200},
    {"max_bytes": 200, "discard": "new"},
    {"max_msgs_per_subject": 2},
    {"max_msgs_per_subject": 2, "discard": "new"},
    {"max_msgs_per_subject": 2, "discard": "new", "discard_new_per_subject": True},
    {"max_msg_size": 10},
    {"max_msgs": 3, "storage": "memory"},
    {"max_bytes": 200, "storage": "memory", "discard": "new"},
], ids=lambda l: json.dumps(l))
async def test_js_stream_limits(js_pair, limits):
    async def scenario(nc, srv):
        t = Transcript(nc)
        await create(t, "LIM", {"name": "LIM", "subjects": ["lim.*"], **limits})
        for i, subj in enumerate(["lim.a", "lim.b", "lim.a", "lim.a", "lim.c", "lim.b", "lim.a"]):
            await t.pub(subj, f"payload-{i}".encode())
        await t.pub("lim.a", b"0123456789")
        await t.pub("lim.a", b"0123456789X")
        await t.api(f"{API}.STREAM.INFO.LIM", {"subjects_filter": ">", "deleted_details": True})
        await t.api(f"{API}.INFO")
        return t.log

    assert_same(*await run_both(js_pair, scenario))


async def test_js_max_age_expiry(js_server, nats_connect):
    nc = await nats_connect(js_server)
    r = await js_req(nc, f"{API}.STREAM.CREATE.AGE", {"name": "AGE", "subjects": ["age"], "max_age": 500_000_000})
    assert r["config"]["max_age"] == 500_000_000
    assert r["config"]["duplicate_window"] == 500_000_000  # capped by max_age
    for i in range(3):
        a = json.loads((await nc.request("age", b"x", timeout=5)).data)
        assert a["seq"] == i + 1

    async def state():
        return (await js_req(nc, f"{API}.STREAM.INFO.AGE"))["state"]

    st = await state()
    assert st["messages"] == 3
    deadline = 5.0
    import time
    end = time.monotonic() + deadline
    while (st := await state())["messages"] != 0:
        assert time.monotonic() < end, f"messages not expired by max_age: {st}"
        await nc.flush()
        import asyncio
        await asyncio.sleep(0.05)
    assert st["first_seq"] == 4 and st["last_seq"] == 3, st
    a = json.loads((await nc.request("age", b"y", timeout=5)).data)
    assert a["seq"] == 4


async def test_js_sealed_deny_delete_deny_purge(js_pair):
    async def scenario(nc, srv):
        t = Transcript(nc)
        base = {"name": "SD", "subjects": ["sd.>"], "deny_delete": True, "deny_purge": True}
        await create(t, "SD", base)
        await _fill(t, "SD", ["sd.a", "sd.b", "sd.c"])
        await t.api(f"{API}.STREAM.MSG.DELETE.SD", {"seq": 1})  # 10057 message delete not permitted
        await t.api(f"{API}.STREAM.PURGE.SD")  # 10110 stream purge not permitted
        await t.api(f"{API}.STREAM.UPDATE.SD", {**base, "deny_delete": False})  # cannot unset
        await create(t, "SL", {"name": "SL", "subjects": ["sl.>"], "max_age": 3_600_000_000_000})
        await _fill(t, "SL", ["sl.a", "sl.b"])
        await t.api(f"{API}.STREAM.UPDATE.SL", {"name": "SL", "subjects": ["sl.>"], "sealed": True,
                                                 "max_age": 3_600_000_000_000})
        await t.pub("sl.a", b"x")  # 10109
        await t.api(f"{API}.STREAM.MSG.DELETE.SL", {"seq": 1})
        await t.api(f"{API}.STREAM.PURGE.SL")
        await t.api(f"{API}.STREAM.UPDATE.SL", {"name": "SL", "subjects": ["sl.>"], "sealed": False})
        await t.api(f"{API}.STREAM.INFO.SL")
        return t.log

    assert_same(*await run_both(js_pair, scenario))


async def test_js_first_seq_no_ack_transform(js_pair):
    async def scenario(nc, srv):
        t = Transcript(nc)
        await create(t, "FS", {"name": "FS", "subjects": ["fs"], "first_seq": 1000})
        for _ in range(3):
            await t.pub("fs", b"x")
        await t.api(f"{API}.STREAM.INFO.FS")
        await create(t, "NA", {"name": "NA", "subjects": ["na"], "no_ack": True})
        # no PubAck: a request times out instead (the stream still stores it)
        try:
            await nc.request("na", b"x", timeout=0.5)
            t.note("answered")
        except NatsTimeoutError:
            t.note("no answer")
        await nc.publish("na", b"y")
        await nc.flush()
        await t.api(f"{API}.STREAM.INFO.NA")
        await create(t, "TR", {"name": "TR", "subjects": ["test", "tr.*"],
                               "subject_transform": {"src": "tr.*", "dest": "transformed.{{wildcard(1)}}"}})
        await t.pub("tr.x", b"t1")
        await t.pub("test", b"t2")
        await t.api(f"{API}.STREAM.MSG.GET.TR", {"seq": 1})
        await t.api(f"{API}.STREAM.INFO.TR", {"subjects_filter": ">"})
        await create(t, "TR2", {"name": "TR2", "subjects": ["test2"],
                                "subject_transform": {"src": ">", "dest": "transformed.>"}})
        await t.pub("test2", b"t3")
        await t.api(f"{API}.STREAM.MSG.GET.TR2", {"seq": 1})
        return t.log

    assert_same(*await run_both(js_pair, scenario))


async def test_js_state_bytes(js_pair):
    """File-store byte accounting (22 + subj + payload + 8; with headers + 4 + hdr)."""

    async def scenario(nc, srv):
        t = Transcript(nc)
        await create(t, "BY", {"name": "BY", "subjects": ["world", "limits"]}, record=False)
        await t.pub("world", b"Hello World!", record=False)
        r = await t.api(f"{API}.STREAM.INFO.BY", record=False)
        t.note(r["state"]["bytes"])
        await t.pub("limits", b"a", headers={"H": "v"}, record=False)
        r = await t.api(f"{API}.STREAM.INFO.BY", record=False)
        t.note(r["state"]["bytes"])
        await create(t, "MB", {"name": "MB", "subjects": ["mem"], "storage": "memory"}, record=False)
        await t.pub("mem", b"Hello World!", headers={"H": "v"}, record=False)
        r = await t.api(f"{API}.STREAM.INFO.MB", record=False)
        t.note(r["state"]["bytes"])
        r = await t.api(f"{API}.INFO", record=False)
        t.note([r["storage"], r["memory"]])
        return t.log

    jb, ns = await run_both(js_pair, scenario)
    assert ns[0] == 47
    assert_same(jb, ns)


# ---- fields isolated from the general transcripts -----------------------------------------------


async def test_js_stream_info_paging_fields(js_pair):
    """STREAM.INFO `total`/`offset`/`limit`: nats-server reports limit 0 unless subjects are listed."""

    async def scenario(nc, srv):
        t = Transcript(nc, isolate=False)
        await create(t, "PF", {"name": "PF", "subjects": ["pf.*"]}, record=False)
        await t.pub("pf.a", b"x", record=False)
        for body in [b"", {"subjects_filter": ">"}, {"subjects_filter": "none"}, {"deleted_details": True}]:
            r = await t.api(f"{API}.STREAM.INFO.PF", body, record=False)
            t.note({k: r.get(k) for k in ("total", "offset", "limit")})
        return t.log

    jb, ns = await run_both(js_pair, scenario)
    assert_same(jb, ns)


async def test_js_account_reserved(js_pair):
    """reserved_storage / reserved_memory sum the max_bytes of the account's streams."""

    async def scenario(nc, srv):
        t = Transcript(nc, isolate=False)
        await create(t, "R1", {"name": "R1", "subjects": ["r1"], "max_bytes": 1000}, record=False)
        await create(t, "R2", {"name": "R2", "subjects": ["r2"], "max_bytes": 300, "storage": "memory"},
                     record=False)
        await create(t, "R3", {"name": "R3", "subjects": ["r3"]}, record=False)
        r = await t.api(f"{API}.INFO", record=False)
        t.note({k: r[k] for k in ("reserved_storage", "reserved_memory", "storage", "memory")})
        return t.log

    jb, ns = await run_both(js_pair, scenario)
    assert ns == [{"reserved_storage": 1000, "reserved_memory": 300, "storage": 0, "memory": 0}]
    assert_same(jb, ns)


async def test_js_purge_error_carries_purged(js_pair):
    """A failed PURGE answer still carries `"purged": 0` in nats-server."""

    async def scenario(nc, srv):
        t = Transcript(nc)
        await create(t, "PE", {"name": "PE", "subjects": ["pe"], "deny_purge": True}, record=False)
        await t.api(f"{API}.STREAM.PURGE.PE", {"seq": 3, "keep": 1})
        await t.api(f"{API}.STREAM.PURGE.PE")
        await t.api(f"{API}.STREAM.PURGE.NOPE")
        return t.log

    assert_same(*await run_both(js_pair, scenario))
