"""JetStream consumers: create forms and errors, ConsumerInfo, pull/ack state machines, deliver
policies, filters, ack policies, statuses, retention. Deterministic scenarios are differential
(js_pair: same requests to both servers, normalised answers compared); timing-based ones run against
each server (js_server) with nats-server's behaviour as the expected values.
"""

import asyncio
import json
import time

import pytest

from conftest import assert_same, js_norm, js_req, run_both

pytestmark = pytest.mark.timeout(60)

API = "$JS.API"
T = 5.0


def meta(reply: str | None):
    """Ack-subject tokens (v1) without the timestamp: [stream, consumer, delivered, sseq, cseq, pending]."""
    if not reply:
        return None
    tok = reply.split(".")
    assert tok[:2] == ["$JS", "ACK"] and len(tok) == 9, reply
    return [tok[2], tok[3], int(tok[4]), int(tok[5]), int(tok[6]), int(tok[8])]


def status_of(m):
    h = m.headers or {}
    return h.get("Status"), h.get("Description")


def seqs_of(got):
    """Stream sequences of delivered messages; a terminal status shows as its code, silence as None."""
    return [g["seq"] if isinstance(g, dict) and "seq" in g else
            (g["status"] if isinstance(g, dict) else None) for g in got]


def strip_isolated(r):
    """Leaves out two config differences that have their own tests, so that they do not fail every
    transcript: `ack_wait` echoed for ack_policy none (test_js_ack_none_config_omits_ack_wait) and
    `config.name` on legacy ephemerals (test_js_ephemeral_default_threshold)."""
    if isinstance(r, dict) and isinstance(r.get("config"), dict) and "stream_name" in r:
        cfg = dict(r["config"])
        if cfg.get("ack_policy") == "none":
            cfg.pop("ack_wait", None)
        if not cfg.get("durable_name"):
            cfg.pop("name", None)
        r = {**r, "config": cfg}
    if isinstance(r, dict) and isinstance(r.get("consumers"), list):
        r = {**r, "consumers": [strip_isolated(x) for x in r["consumers"]]}
    return r


class C:
    """Consumer-test transcript: API calls, publishes, pulls and acks on one connection."""

    def __init__(self, nc, isolate=True):
        self.isolate = isolate
        self.nc = nc
        self.log: list = []
        self.held: dict[int, object] = {}  # stream seq -> last delivered msg (for acking)

    def note(self, v):
        self.log.append(v)

    async def api(self, subject, body=b"", record=True, drop=()):
        r = await js_req(self.nc, subject, body)
        if record:
            self.log.append(js_norm(strip_isolated(r) if self.isolate else r, drop_desc_for=drop))
        return r

    async def stream(self, name, **cfg):
        cfg.setdefault("subjects", [name.lower() + ".>"])
        r = await js_req(self.nc, f"{API}.STREAM.CREATE.{name}", {"name": name, **cfg})
        assert "error" not in r, r
        return r

    async def pub(self, subject, data=b"x", n=1):
        for _ in range(n):
            r = json.loads((await self.nc.request(subject, data, timeout=T)).data)
            assert "error" not in r, r

    async def consumer(self, stream, config, name=None, filt=None, action=None, record=True, drop=()):
        subj = f"{API}.CONSUMER.CREATE.{stream}"
        if name:
            subj += "." + name
            if filt:
                subj += "." + filt
        body = {"stream_name": stream, "config": config}
        if action is not None:
            body["action"] = action
        return await self.api(subj, body, record=record, drop=drop)

    async def info(self, stream, cons, keys=None):
        r = await js_req(self.nc, f"{API}.CONSUMER.INFO.{stream}.{cons}")
        if keys:
            r = {k: r.get(k) for k in keys}
            for k in ("delivered", "ack_floor"):
                if isinstance(r.get(k), dict):
                    r[k] = {kk: vv for kk, vv in r[k].items() if kk != "last_active"}
        self.log.append(js_norm(r))
        return r

    async def pull(self, stream, cons, req=None, want=1, timeout=2.0, record=True):
        """One MSG.NEXT request; collects up to `want` messages or until a terminal status/timeout."""
        inbox = self.nc.new_inbox()
        q: asyncio.Queue = asyncio.Queue()

        async def cb(m):
            await q.put(m)

        sub = await self.nc.subscribe(inbox, cb=cb)
        body = b"" if req is None else (json.dumps(req).encode() if isinstance(req, dict) else str(req).encode())
        await self.nc.publish(f"{API}.CONSUMER.MSG.NEXT.{stream}.{cons}", body, reply=inbox)
        got = []
        try:
            while len([g for g in got if isinstance(g, dict) and "seq" in g]) < want:
                try:
                    m = await asyncio.wait_for(q.get(), timeout)
                except asyncio.TimeoutError:
                    got.append("<nothing>")
                    break
                st, desc = status_of(m)
                if st:
                    if st == "100":
                        continue
                    got.append({"status": st, "desc": desc})
                    break
                md = meta(m.reply)
                self.held[md[3]] = m
                got.append({"subject": m.subject, "data": m.data.decode(), "seq": md[3], "cseq": md[4],
                            "delivered": md[2], "pending": md[5]})
        finally:
            await sub.unsubscribe()
        if record:
            self.log.append(got)
        return got

    async def ack(self, sseq, payload=b"+ACK", sync=False):
        m = self.held[sseq]
        if sync:
            r = await self.nc.request(m.reply, payload, timeout=T)
            return r
        await self.nc.publish(m.reply, payload)
        await self.nc.flush()


INFO_KEYS = ("delivered", "ack_floor", "num_ack_pending", "num_redelivered", "num_waiting", "num_pending")


# ---- create forms and errors --------------------------------------------------------------------

CREATE_CASES = [
    # (subject suffix (name[, filter]) or None, config, action)
    (None, {"ack_policy": "explicit"}, None),  # legacy ephemeral
    (None, {"durable_name": "D0", "ack_policy": "explicit"}, None),  # 10020? (nats-server 2.14)
    (("N1",), {"ack_policy": "explicit"}, None),
    (("N1",), {"ack_policy": "explicit"}, None),  # identical again
    (("N1",), {"ack_policy": "explicit", "max_deliver": 5}, "create"),  # 10148
    (("N2",), {"ack_policy": "explicit"}, "update"),  # 10149
    (("N3",), {"durable_name": "OTHER", "ack_policy": "explicit"}, None),  # 10017
    (("N4",), {"name": "X", "durable_name": "N4"}, None),
    (("N5", "cs.a"), {"filter_subject": "cs.b"}, None),  # 10131
    (("N6", "cs.a"), {"filter_subjects": ["cs.a", "cs.b"]}, None),  # 10137
    (("N7", "cs.a"), {"filter_subject": "cs.a", "durable_name": "N7", "ack_policy": "explicit"}, None),
    (("N8",), {"filter_subject": "cs.a", "filter_subjects": ["cs.b"]}, None),  # 10136
    (("N9",), {"filter_subjects": ["cs.*", "cs.a"]}, None),  # 10138
    (("N10",), {"filter_subjects": ["cs.a", ""]}, None),  # 10139
    (("N11",), {"filter_subjects": ["cs.a", "cs.b"], "ack_policy": "explicit"}, None),
    (("N12",), {"deliver_subject": "d.*"}, None),  # 10079
    (("N13",), {"deliver_subject": "push.n13", "max_waiting": 10}, None),  # 10080
    (("N14",), {"deliver_subject": "push.n14", "idle_heartbeat": 50_000_000}, None),  # 10083
    (("N15",), {"idle_heartbeat": 1_000_000_000}, None),  # 10088
    (("N16",), {"flow_control": True}, None),  # 10089
    (("N17",), {"deliver_subject": "push.n17", "flow_control": True}, None),  # 10108
    (("N18",), {"deliver_subject": "push.n18", "ack_policy": "none", "max_ack_pending": 10}, None),  # 10082
    (("N19",), {"deliver_policy": "by_start_sequence"}, None),  # 10094
    (("N20",), {"deliver_policy": "all", "opt_start_seq": 3}, None),  # 10094
    (("N21",), {"deliver_policy": "last_per_subject"}, None),  # 10094 needs filter
    (("N22",), {"deliver_policy": "by_start_time"}, None),  # 10094
    (("N23",), {"ack_policy": "explicit", "backoff": [1_000_000_000, 2_000_000_000], "max_deliver": 2}, None),
    (("N24",), {"deliver_subject": "cs.cycle"}, None),  # 10081
    (("N25",), {"ack_policy": "explicit", "max_ack_pending": -1, "max_deliver": 0, "ack_wait": 0,
                "inactive_threshold": 0, "idle_heartbeat": 0}, None),
    (("N26",), {"deliver_subject": "push.n26", "idle_heartbeat": 1_000_000_000, "flow_control": True,
                "ack_policy": "explicit", "deliver_group": "grp"}, None),
    (("N27",), {"ack_policy": "explicit", "backoff": [1_000_000_000, 2_000_000_000], "max_deliver": 5,
                "description": "with backoff", "metadata": {"k": "v"}, "max_batch": 10,
                "max_expires": 5_000_000_000, "max_bytes": 1024, "headers_only": True,
                "replay_policy": "original", "sample_freq": "50%", "mem_storage": True}, None),
    (("N28",), {"ack_policy": "explicit", "max_expires": 100_000}, None),  # 10115
    (("N29",), {"deliver_subject": "push.n29", "rate_limit_bps": 1000}, None),
    (("N30",), {"rate_limit_bps": 1000}, None),  # 10086
    (("N31",), {"ack_policy": "bogus"}, None),  # 10025
    (("N32",), {"ack_policy": "explicit", "num_replicas": 3}, None),
    (("N33",), {"ack_policy": "explicit", "ack_wait": -5}, None),
    (("N33",), {"ack_policy": "explicit", "ack_wait": 2_000_000_000}, None),
    (("N33",), {"ack_policy": "none"}, None),  # ack policy can not be updated (10012)
    (("N33",), {"ack_policy": "explicit", "ack_wait": 3_000_000_000}, "update"),
    (("N34",), {"ack_policy": "explicit", "priority_policy": "overflow"}, None),  # 10159
    (("N36",), {"deliver_policy": "last_per_subject", "filter_subject": "cs.*"}, None),
    (("N37",), {"deliver_policy": "by_start_time", "opt_start_time": "2020-01-01T00:00:00Z"}, None),
    (("N38",), {"deliver_policy": "new", "ack_policy": "all"}, None),
    (("N39",), {"inactive_threshold": 2_000_000_000}, None),
]


def _create_scenario(drop):
    async def scenario(nc, srv):
        c = C(nc)
        await c.stream("CS", subjects=["cs.>"])
        await c.pub("cs.a", n=2)
        await c.pub("cs.b")
        for suffix, cfg, action in CREATE_CASES:
            await c.consumer("CS", cfg, *(suffix or ()), action=action, drop=drop)
        await c.api(f"{API}.CONSUMER.CREATE.NOPE.X", {"stream_name": "NOPE", "config": {}})  # 10059
        await c.api(f"{API}.CONSUMER.CREATE.CS.X", {"stream_name": "OTHER", "config": {}})  # 10056
        await c.api(f"{API}.CONSUMER.CREATE.CS.X", b"{bad", drop=(10025,))
        await c.api(f"{API}.CONSUMER.CREATE.CS.X", {"stream_name": "CS", "config": {"bogus": 1}})
        await c.api(f"{API}.CONSUMER.DURABLE.CREATE.CS.DUR", {"stream_name": "CS", "config": {}})  # 10018?
        await c.api(f"{API}.CONSUMER.DURABLE.CREATE.CS.DUR",
                    {"stream_name": "CS", "config": {"durable_name": "DUR", "ack_policy": "explicit"}})
        await c.api(f"{API}.CONSUMER.DURABLE.CREATE.CS.DUR2",
                    {"stream_name": "CS", "config": {"durable_name": "X"}})  # 10017
        return c.log

    return scenario


async def test_js_consumer_create_forms(js_pair):
    """All create subject forms, validation errors, and the full ConsumerInfo of each success.
    Error descriptions compared too except 10012/10094 (free text) -- see _texts."""
    jb, ns = await run_both(js_pair, _create_scenario(drop=(10012, 10094, 10025)))
    assert_same(jb, ns)


async def test_js_consumer_create_error_texts(js_pair):
    jb, ns = await run_both(js_pair, _create_scenario(drop=()))

    def errs(log):
        return [x.get("error") if isinstance(x, dict) else None for x in log]

    assert_same(errs(jb), errs(ns))


async def test_js_pull_request_fields_of_the_wrong_type(js_pair):
    """400 Bad Request with Go's decoder error, as nats-server answers; the request used to be
    taken with its defaults and left waiting."""
    async def scenario(nc, srv):
        c = C(nc)
        await c.stream("PW", subjects=["pw.>"])
        await c.consumer("PW", {"durable_name": "D", "ack_policy": "explicit"}, "D", record=False)
        for req in ({"batch": "x"}, {"expires": "1s"}, {"no_wait": "yes"}, {"max_bytes": [1]},
                    {"idle_heartbeat": {}}, {"batch": 1.5}, {"batch": 1, "expires": 1e300}):
            got = await c.pull("PW", "D", req, timeout=1.0, record=False)
            c.note([got[0]["status"], got[0]["desc"]] if got[0] != "<nothing>" else got)
        return c.log

    jb, ns = await run_both(js_pair, scenario)
    assert ns[0] == ["400", "Bad Request - json: cannot unmarshal string into Go struct field "
                     "JSApiConsumerGetNextRequest.batch of type int"], ns
    # Go quotes a number as written in the request.
    assert ns[-1] == ["400", "Bad Request - json: cannot unmarshal number 1e+300 into Go struct field "
                      "JSApiConsumerGetNextRequest.expires of type time.Duration"], ns
    assert_same(jb, ns)


async def test_js_consumer_numbers_no_int64_holds(js_pair):
    """A bad request (10025) on both servers, with Go's description quoting the number as written;
    casting such doubles was undefined behaviour here."""
    async def scenario(nc, srv):
        c = C(nc)
        await c.stream("CN", subjects=["cn.>"])
        for name, cfg in (("N40", {"ack_wait": 1e30}), ("N41", {"backoff": [1.5e30], "max_deliver": 3}),
                          ("N42", {"max_deliver": -1e300}), ("N43", {"backoff": [1, 2.5], "max_deliver": 3}),
                          ("N44", {"backoff": ["1s"], "max_deliver": 3}), ("N45", {"backoff": 5}),
                          ("N46", {"filter_subjects": ["cn.a", 7]}), ("N47", {"max_ack_pending": 1.5}),
                          ("N48", {"ack_wait": "30s"}), ("N49", {"inactive_threshold": 1E+40}),
                          ("N50", {"opt_start_seq": -1, "deliver_policy": "by_start_sequence"})):
            await c.consumer("CN", {"ack_policy": "explicit", **cfg}, name)
        return c.log

    jb, ns = await run_both(js_pair, scenario)
    assert [e["error"]["err_code"] for e in ns] == [10025] * 11, ns
    assert_same(jb, ns)


async def test_js_consumer_priority_groups(js_pair):
    """The create answer of an overflow priority-group consumer (test_js_priority_groups.py has the rest)."""
    async def scenario(nc, srv):
        c = C(nc)
        await c.stream("PG", subjects=["pg.>"])
        await c.consumer("PG", {"ack_policy": "explicit", "priority_policy": "overflow", "priority_groups": ["g1"]},
                         "N35")
        return c.log

    assert_same(*await run_both(js_pair, scenario))


async def test_js_consumer_info_names_list_delete_pause(js_pair):
    async def scenario(nc, srv):
        c = C(nc)
        await c.stream("CL", subjects=["cl.>"])
        await c.pub("cl.a", n=3)
        await c.api(f"{API}.CONSUMER.NAMES.CL")
        await c.api(f"{API}.CONSUMER.LIST.CL")
        for n in ["B", "A", "C"]:
            await c.consumer("CL", {"durable_name": n, "ack_policy": "explicit"}, n, record=False)
        await c.api(f"{API}.CONSUMER.NAMES.CL")
        await c.api(f"{API}.CONSUMER.NAMES.CL", {"offset": 1})
        r = await c.api(f"{API}.CONSUMER.LIST.CL", record=False)
        r["consumers"] = sorted(r["consumers"], key=lambda x: x["name"])
        c.note(js_norm(r))
        await c.api(f"{API}.CONSUMER.NAMES.NOPE")
        await c.api(f"{API}.CONSUMER.INFO.CL.A")
        await c.api(f"{API}.CONSUMER.INFO.CL.ZZ")
        await c.api(f"{API}.CONSUMER.INFO.NOPE.A")
        await c.api(f"{API}.CONSUMER.DELETE.CL.B")
        await c.api(f"{API}.CONSUMER.DELETE.CL.B")
        await c.api(f"{API}.CONSUMER.PAUSE.CL.A", {"pause_until": "2099-01-01T00:00:00Z"}, record=False)
        r = await c.api(f"{API}.CONSUMER.PAUSE.CL.A", {"pause_until": "2099-01-01T00:00:00Z"}, record=False)
        c.note({k: r.get(k) for k in ("type", "paused", "pause_until", "error")} | {"has_remaining": "pause_remaining" in r})
        r = await c.api(f"{API}.CONSUMER.INFO.CL.A", record=False)
        c.note({k: r.get(k) for k in ("paused",)} | {"cfg_pause": r["config"].get("pause_until"),
                                                      "has_remaining": "pause_remaining" in r})
        got = await c.pull("CL", "A", {"batch": 1, "expires": 300_000_000}, record=False)
        c.note(got)  # paused: nothing delivered, request times out (408)
        r = await c.api(f"{API}.CONSUMER.PAUSE.CL.A", {"pause_until": "1970-01-01T00:00:00Z"}, record=False)
        c.note({k: r.get(k) for k in ("type", "paused", "pause_until", "error")} | {"has_remaining": "pause_remaining" in r})
        await c.api(f"{API}.CONSUMER.PAUSE.CL.A", b"", record=True)
        await c.api(f"{API}.CONSUMER.PAUSE.CL.ZZ", {"pause_until": "2099-01-01T00:00:00Z"})
        await c.pull("CL", "A", {"batch": 1, "expires": 1_000_000_000})
        await c.api(f"{API}.CONSUMER.NAMES.CL")
        r = await c.api(f"{API}.STREAM.INFO.CL", record=False)
        c.note(r["state"]["consumer_count"])
        await c.api(f"{API}.STREAM.DELETE.CL", record=False)
        await c.api(f"{API}.CONSUMER.INFO.CL.A")
        return c.log

    assert_same(*await run_both(js_pair, scenario))


# ---- pull + ack state ----------------------------------------------------------------------------


async def test_js_pull_ack_state_machine(js_pair):
    async def scenario(nc, srv):
        c = C(nc)
        await c.stream("PA", subjects=["pa.>"])
        for i in range(10):
            await c.pub(f"pa.{i % 3}", f"m{i + 1}".encode())
        await c.consumer("PA", {"durable_name": "W", "ack_policy": "explicit", "ack_wait": 30_000_000_000}, "W")
        await c.info("PA", "W", INFO_KEYS)
        await c.pull("PA", "W", {"batch": 3}, want=3)
        await c.info("PA", "W", INFO_KEYS)
        await c.ack(2)
        await c.ack(1, sync=True)
        await c.info("PA", "W", INFO_KEYS)  # floor 2
        await c.ack(3, b"-NAK", sync=True)
        await c.info("PA", "W", INFO_KEYS)
        await c.pull("PA", "W", {"batch": 2}, want=2)  # redelivery of 3 first, then 4
        await c.info("PA", "W", INFO_KEYS)
        await c.ack(3, b"+WPI", sync=True)
        await c.ack(4, b"+TERM", sync=True)
        await c.info("PA", "W", INFO_KEYS)
        await c.ack(3, sync=True)
        await c.info("PA", "W", INFO_KEYS)
        await c.pull("PA", "W", {"batch": 10, "no_wait": True}, want=10)  # 5..10 then 404
        await c.info("PA", "W", INFO_KEYS)
        for s in (10, 8, 6):
            await c.ack(s, sync=True)
        await c.info("PA", "W", INFO_KEYS)
        for s in (5, 7, 9):
            await c.ack(s, sync=True)
        await c.info("PA", "W", INFO_KEYS)
        await c.pull("PA", "W", {"batch": 1, "no_wait": True})  # 404
        await c.pub("pa.x", b"late")
        await c.info("PA", "W", INFO_KEYS)
        return c.log

    jb, ns = await run_both(js_pair, scenario)
    assert_same(jb, ns)


async def test_js_ack_all_and_ack_none(js_pair):
    async def scenario(nc, srv):
        c = C(nc)
        await c.stream("AP", subjects=["ap.>"])
        await c.pub("ap.a", n=6)
        await c.consumer("AP", {"durable_name": "ALL", "ack_policy": "all"}, "ALL", record=False)
        await c.consumer("AP", {"durable_name": "NONE", "ack_policy": "none"}, "NONE")
        await c.pull("AP", "ALL", {"batch": 5}, want=5)
        await c.ack(3, sync=True)
        await c.info("AP", "ALL", INFO_KEYS)
        await c.ack(2, sync=True)  # below floor: ignored
        await c.ack(5, sync=True)
        await c.info("AP", "ALL", INFO_KEYS)
        await c.pull("AP", "NONE", {"batch": 4}, want=4)
        await c.info("AP", "NONE", INFO_KEYS)
        await c.pull("AP", "NONE", {"batch": 4, "no_wait": True}, want=4)
        await c.info("AP", "NONE", INFO_KEYS)
        return c.log

    assert_same(*await run_both(js_pair, scenario))


@pytest.mark.parametrize("policy", [
    {"deliver_policy": "all"},
    {"deliver_policy": "last"},
    {"deliver_policy": "new"},
    {"deliver_policy": "by_start_sequence", "opt_start_seq": 4},
    {"deliver_policy": "by_start_sequence", "opt_start_seq": 100},
    {"deliver_policy": "by_start_time", "opt_start_time": "2000-01-01T00:00:00Z"},
    {"deliver_policy": "last_per_subject", "filter_subject": "dp.*"},
    {"deliver_policy": "last_per_subject", "filter_subjects": ["dp.a", "dp.c"]},
    {"deliver_policy": "last", "filter_subject": "dp.b"},
    {"deliver_policy": "all", "filter_subject": "dp.b"},
    {"deliver_policy": "all", "filter_subjects": ["dp.a", "dp.c"]},
    {"deliver_policy": "by_start_sequence", "opt_start_seq": 3, "filter_subject": "dp.a"},
], ids=lambda p: json.dumps(p))
async def test_js_deliver_policies(js_pair, policy):
    async def scenario(nc, srv):
        c = C(nc)
        await c.stream("DP", subjects=["dp.*"])
        for i, s in enumerate(["dp.a", "dp.b", "dp.a", "dp.c", "dp.b", "dp.a", "dp.c"]):
            await c.pub(s, f"m{i + 1}".encode())
        await c.consumer("DP", {"durable_name": "P", "ack_policy": "explicit", **policy}, "P")
        await c.pull("DP", "P", {"batch": 10, "no_wait": True}, want=10)
        await c.pub("dp.a", b"new-a")
        await c.pub("dp.b", b"new-b")
        await c.info("DP", "P", INFO_KEYS)
        await c.pull("DP", "P", {"batch": 10, "no_wait": True}, want=10)
        await c.info("DP", "P", INFO_KEYS)
        return c.log

    assert_same(*await run_both(js_pair, scenario))


async def test_js_by_start_time_mid_stream(js_server, nats_connect):
    nc = await nats_connect(js_server)
    c = C(nc)
    await c.stream("BT", subjects=["bt"])
    await c.pub("bt", b"old", n=3)
    r = await js_req(nc, f"{API}.STREAM.MSG.GET.BT", {"seq": 3})
    # start strictly after the 3rd message's stored time
    from datetime import datetime, timedelta
    t3 = r["message"]["time"]
    base, frac = t3.rstrip("Z").split(".") if "." in t3 else (t3.rstrip("Z"), "0")
    start = datetime.fromisoformat(base) + timedelta(microseconds=int(frac.ljust(6, "0")[:6]) + 1)
    await c.pub("bt", b"new", n=2)
    r = await c.consumer("BT", {"durable_name": "T", "deliver_policy": "by_start_time",
                                "opt_start_time": start.isoformat() + "Z", "ack_policy": "explicit"}, "T")
    assert "error" not in r, r
    assert r["num_pending"] == 2
    got = await c.pull("BT", "T", {"batch": 5, "no_wait": True}, want=5)
    assert seqs_of(got) == [4, 5, "404"], got


# ---- pull statuses -------------------------------------------------------------------------------


async def test_js_pull_statuses(js_pair):
    async def scenario(nc, srv):
        c = C(nc)
        await c.stream("ST", subjects=["st"])
        await c.consumer("ST", {"durable_name": "P", "ack_policy": "explicit", "max_waiting": 1}, "P",
                         record=False)
        await c.consumer("ST", {"durable_name": "PUSH", "deliver_subject": "push.st"}, "PUSH", record=False)
        await c.pull("ST", "P", {"batch": 1, "no_wait": True})  # 404 No Messages
        await c.pull("ST", "P", {"batch": 1, "expires": 200_000_000})  # 408 Request Timeout
        await c.pull("ST", "P", {"batch": 1, "no_wait": True, "expires": 200_000_000})  # 408
        await c.pull("ST", "PUSH", {"batch": 1})  # 409 Consumer is push based
        await c.pull("ST", "NOPE", {"batch": 1}, timeout=1.0)  # nothing / no responders
        await c.pull("ST", "P", {"batch": 1, "expires": 1_000_000_000, "idle_heartbeat": 800_000_000})  # 400
        await c.pull("ST", "P", {"batch": 0})
        await c.pull("ST", "P", b"{bad")
        # max_waiting 1: a second waiting request gets 409 Exceeded MaxWaiting
        inbox = nc.new_inbox()
        first = await nc.subscribe(inbox)
        await nc.publish(f"{API}.CONSUMER.MSG.NEXT.ST.P", json.dumps({"batch": 1, "expires": 3_000_000_000}).encode(),
                         reply=inbox)
        await nc.flush()
        await c.info("ST", "P", ("num_waiting",))
        await c.pull("ST", "P", {"batch": 1, "expires": 1_000_000_000})
        await c.pub("st", b"one")
        m = await first.next_msg(timeout=T)
        c.note([m.subject, m.data.decode(), meta(m.reply)[2:5]])
        await first.unsubscribe()
        # batch with max_bytes: message larger than budget
        await c.pub("st", b"x" * 100)
        await c.pull("ST", "P", {"batch": 1, "max_bytes": 10, "expires": 500_000_000})
        return c.log

    jb, ns = await run_both(js_pair, scenario)
    assert ns[0] == [{"status": "404", "desc": "No Messages"}]
    assert ns[1] == [{"status": "408", "desc": "Request Timeout"}]
    assert_same(jb, ns)


# ---- redelivery, nak delay, wpi, max_deliver, max_ack_pending (timing: per server) ---------------


async def test_js_ack_wait_redelivery(js_server, nats_connect):
    nc = await nats_connect(js_server)
    c = C(nc)
    await c.stream("RD", subjects=["rd"])
    await c.pub("rd", b"a")
    await c.consumer("RD", {"durable_name": "R", "ack_policy": "explicit", "ack_wait": 1_000_000_000}, "R",
                     record=False)
    t0 = time.monotonic()
    got = await c.pull("RD", "R", {"batch": 1, "expires": 2_000_000_000})
    assert seqs_of(got) == [1] and got[0]["delivered"] == 1, got
    got = await c.pull("RD", "R", {"batch": 1, "expires": 3_000_000_000}, timeout=3.5)
    dt = time.monotonic() - t0
    assert seqs_of(got)[:1] == [1] and got[0]["delivered"] == 2, got
    assert 0.8 < dt < 2.5, dt
    info = await c.info("RD", "R", INFO_KEYS)
    assert info["num_redelivered"] == 1 and info["num_ack_pending"] == 1


async def test_js_nak_with_delay_and_wpi(js_server, nats_connect):
    nc = await nats_connect(js_server)
    c = C(nc)
    await c.stream("NK", subjects=["nk"])
    await c.pub("nk", b"a")
    await c.consumer("NK", {"durable_name": "N", "ack_policy": "explicit", "ack_wait": 1_000_000_000}, "N",
                     record=False)
    await c.pull("NK", "N", {"batch": 1, "expires": 1_000_000_000})
    t0 = time.monotonic()
    await c.ack(1, b'-NAK {"delay": 1500000000}', sync=True)
    info = await c.info("NK", "N", INFO_KEYS)
    assert info["num_ack_pending"] == 1 and info["num_redelivered"] == 0
    got = await c.pull("NK", "N", {"batch": 1, "expires": 3_000_000_000}, timeout=3.5)
    dt = time.monotonic() - t0
    assert seqs_of(got) == [1] and got[0]["delivered"] == 2, got
    assert 1.3 < dt < 2.6, f"NAK delay 1.5s honoured? redelivered after {dt:.2f}s"
    # +WPI keeps it from being redelivered past ack_wait
    t0 = time.monotonic()
    for _ in range(3):
        await asyncio.sleep(0.5)  # real time must pass for the ack-wait timer; WPI restarts it
        r = await c.ack(1, b"+WPI", sync=True)
        assert r is not None
    got = await c.pull("NK", "N", {"batch": 1, "expires": 300_000_000})
    assert got == [{"status": "408", "desc": "Request Timeout"}], got
    r = await c.ack(1, b"+ACK", sync=True)
    info = await c.info("NK", "N", INFO_KEYS)
    assert info["num_ack_pending"] == 0 and info["ack_floor"]["stream_seq"] == 1


async def test_js_nak_go_duration_and_term(js_server, nats_connect):
    nc = await nats_connect(js_server)
    c = C(nc)
    await c.stream("NG", subjects=["ng"])
    await c.pub("ng", b"a")
    await c.pub("ng", b"b")
    await c.consumer("NG", {"durable_name": "N", "ack_policy": "explicit"}, "N", record=False)
    await c.pull("NG", "N", {"batch": 2, "expires": 1_000_000_000}, want=2)
    t0 = time.monotonic()
    await c.ack(1, b"-NAK 1s", sync=True)
    await c.ack(2, b"+TERM reason", sync=True)
    got = await c.pull("NG", "N", {"batch": 2, "expires": 2_500_000_000}, timeout=3)
    dt = time.monotonic() - t0
    assert seqs_of(got)[:1] == [1] and got[0]["delivered"] == 2, got
    assert 0.8 < dt < 2.0, dt
    await c.ack(1, sync=True)
    info = await c.info("NG", "N", INFO_KEYS)
    assert info["num_ack_pending"] == 0 and info["ack_floor"]["stream_seq"] == 2, info


async def test_js_nak_with_unusable_delay_is_a_plain_nak(js_server, nats_connect):
    # nats-server unmarshals the delay into a time.Duration: a fraction, an exponent or a value
    # past int64 fails to parse and the NAK redelivers at once; a delay of ~292 years is kept.
    # jetbroker used to abort on the first three (boost::json's to_number threw).
    nc = await nats_connect(js_server)
    c = C(nc)
    await c.stream("NB", subjects=["nb"])
    await c.pub("nb", b"a")
    await c.pub("nb", b"b")
    await c.consumer("NB", {"durable_name": "N", "ack_policy": "explicit"}, "N", record=False)
    await c.pull("NB", "N", {"batch": 2, "expires": 1_000_000_000}, want=2)
    await c.ack(2, b'-NAK {"delay": 9223372036854775807}', sync=True)
    deliveries = 1
    for body in (b'-NAK {"delay": 1.5}', b'-NAK {"delay": 1e30}', b'-NAK {"delay": 9223372036854775808}',
                 b'-NAK {"delay": "1s"}', b"-NAK 99999999999h"):
        await c.ack(1, body, sync=True)
        got = await c.pull("NB", "N", {"batch": 2, "expires": 300_000_000}, timeout=2)
        deliveries += 1
        assert seqs_of(got)[:1] == [1] and got[0]["delivered"] == deliveries, (body, got)
        assert 2 not in seqs_of(got), (body, got)
    info = await c.info("NB", "N", INFO_KEYS)
    assert info["num_ack_pending"] == 2 and info["num_redelivered"] == 1, info


async def test_js_max_deliver_and_advisory(js_server, nats_connect):
    nc = await nats_connect(js_server)
    c = C(nc)
    adv = await nc.subscribe("$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.MD.M")
    await c.stream("MD", subjects=["md"])
    await c.pub("md", b"a")
    await c.consumer("MD", {"durable_name": "M", "ack_policy": "explicit", "max_deliver": 2}, "M", record=False)
    for n in (1, 2):
        got = await c.pull("MD", "M", {"batch": 1, "expires": 1_000_000_000})
        assert seqs_of(got) == [1] and got[0]["delivered"] == n, got
        await c.ack(1, b"-NAK", sync=True)
    got = await c.pull("MD", "M", {"batch": 1, "expires": 500_000_000})
    assert got == [{"status": "408", "desc": "Request Timeout"}], got
    m = await adv.next_msg(timeout=T)
    a = json.loads(m.data)
    assert a["type"] == "io.nats.jetstream.advisory.v1.max_deliver"
    assert (a["stream"], a["consumer"], a["stream_seq"], a["deliveries"]) == ("MD", "M", 1, 2)


async def test_js_max_ack_pending_stall_and_resume(js_server, nats_connect):
    nc = await nats_connect(js_server)
    c = C(nc)
    await c.stream("MA", subjects=["ma"])
    await c.pub("ma", b"m", n=5)
    await c.consumer("MA", {"durable_name": "M", "ack_policy": "explicit", "max_ack_pending": 2}, "M",
                     record=False)
    got = await c.pull("MA", "M", {"batch": 5, "expires": 500_000_000}, want=5)
    assert seqs_of(got) == [1, 2, "408"], got
    inbox = nc.new_inbox()
    sub = await nc.subscribe(inbox)
    await nc.publish(f"{API}.CONSUMER.MSG.NEXT.MA.M", json.dumps({"batch": 3, "expires": 4_000_000_000}).encode(),
                     reply=inbox)
    await nc.flush()
    await c.ack(1, sync=True)  # frees one slot: seq 3 flows to the waiting request
    m = await sub.next_msg(timeout=T)
    assert meta(m.reply)[3] == 3
    await c.ack(2, sync=True)
    m = await sub.next_msg(timeout=T)
    assert meta(m.reply)[3] == 4
    info = await c.info("MA", "M", INFO_KEYS)
    assert info["num_ack_pending"] == 2 and info["num_pending"] == 1


# ---- push: heartbeats, flow control, deliver group, inactive threshold --------------------------


async def test_js_push_idle_heartbeat(js_server, nats_connect):
    nc = await nats_connect(js_server)
    c = C(nc)
    await c.stream("HB", subjects=["hb"])
    await c.pub("hb", b"one")
    sub = await nc.subscribe("push.hb")
    await c.consumer("HB", {"durable_name": "H", "deliver_subject": "push.hb", "idle_heartbeat": 500_000_000,
                            "ack_policy": "none"}, "H", record=False)
    m = await sub.next_msg(timeout=T)
    assert m.data == b"one" and meta(m.reply)[3:5] == [1, 1]
    m = await sub.next_msg(timeout=3)
    assert status_of(m) == ("100", "Idle Heartbeat")
    assert m.headers.get("Nats-Last-Consumer") == "1" and m.headers.get("Nats-Last-Stream") == "1"
    assert not m.reply


async def test_js_ordered_consumer_flow_control(js_server, nats_connect):
    """nats-py's ordered push consumer (flow control + heartbeats) reads 3 MiB across FC windows."""
    nc = await nats_connect(js_server)
    js = nc.jetstream()
    await js.add_stream(name="FC", subjects=["fc"])
    payload = b"z" * 64 * 1024
    futs = [await js.publish_async("fc", payload) for _ in range(48)]
    acks = await asyncio.gather(*futs)
    assert [a.seq for a in acks] == list(range(1, 49))
    osub = await js.subscribe("fc", ordered_consumer=True, idle_heartbeat=1.0)
    total = 0
    seqs = []
    while total < 48 * len(payload):
        m = await osub.next_msg(timeout=5)
        total += len(m.data)
        seqs.append(m.metadata.sequence.stream)
    assert seqs == list(range(1, 49))


async def test_js_push_flow_control_raw(js_server, nats_connect):
    """A raw push consumer with flow control: the server sends `100 FlowControl Request` with a
    reply subject and stalls until it is answered."""
    nc = await nats_connect(js_server)
    c = C(nc)
    await c.stream("FR", subjects=["fr"])
    js = nc.jetstream()
    payload = b"y" * 256 * 1024
    futs = [await js.publish_async("fr", payload) for _ in range(24)]  # 6 MiB > 2 MiB window
    await asyncio.gather(*futs)
    sub = await nc.subscribe("push.fr", pending_bytes_limit=64 * 1024 * 1024)
    await c.consumer("FR", {"durable_name": "F", "deliver_subject": "push.fr", "idle_heartbeat": 1_000_000_000,
                            "flow_control": True, "ack_policy": "none"}, "F", record=False)
    data = 0
    fc = 0
    while data < 24:
        m = await sub.next_msg(timeout=T)
        st, desc = status_of(m)
        if st == "100" and desc == "FlowControl Request":
            assert m.reply.startswith("$JS.FC.FR.F."), m.reply
            fc += 1
            await nc.publish(m.reply, b"")
        elif st is None:
            data += 1
    assert fc >= 1


async def test_js_deliver_group(js_server, nats_connect):
    nc = await nats_connect(js_server)
    c = C(nc)
    await c.stream("DG", subjects=["dg"])
    got = {"a": [], "b": []}
    done = asyncio.Event()

    def cb(name):
        async def f(m):
            got[name].append(meta(m.reply)[3])
            await m.respond(b"+ACK")
            if len(got["a"]) + len(got["b"]) >= 40:
                done.set()
        return f

    await nc.subscribe("push.dg", queue="grp", cb=cb("a"))
    await nc.subscribe("push.dg", queue="grp", cb=cb("b"))
    r = await c.consumer("DG", {"durable_name": "G", "deliver_subject": "push.dg", "deliver_group": "grp",
                                "ack_policy": "explicit"}, "G")
    assert r["config"]["deliver_group"] == "grp"
    await c.pub("dg", b"m", n=40)
    await asyncio.wait_for(done.wait(), T)
    assert sorted(got["a"] + got["b"]) == list(range(1, 41))
    assert got["a"] and got["b"], got
    info = await c.info("DG", "G", ("push_bound", "num_ack_pending"))
    assert info["push_bound"] is True


@pytest.mark.parametrize("mode", ["pull", "push"])
async def test_js_ephemeral_inactive_threshold(js_server, nats_connect, mode):
    """An ephemeral without interest is removed after inactive_threshold (and the server lives on)."""
    nc = await nats_connect(js_server)
    c = C(nc)
    await c.stream("IT", subjects=["it"])
    cfg = {"ack_policy": "explicit", "inactive_threshold": 1_000_000_000}
    if mode == "push":
        cfg["deliver_subject"] = "push.it.none"
    r = await c.consumer("IT", cfg)
    name = r["name"]
    assert r["config"]["inactive_threshold"] == 1_000_000_000
    t0 = time.monotonic()
    while True:
        names = (await js_req(nc, f"{API}.CONSUMER.NAMES.IT"))["consumers"] or []
        if name not in names:
            break
        assert time.monotonic() - t0 < 6, f"ephemeral not removed after inactive_threshold: {names}"
        await asyncio.sleep(0.1)  # polling cadence for an externally timed event
    assert time.monotonic() - t0 > 0.5
    r = await js_req(nc, f"{API}.CONSUMER.INFO.IT.{name}")
    assert r["error"]["err_code"] == 10014
    await c.pub("it", b"still alive")


async def test_js_ephemeral_default_threshold(js_pair):
    async def scenario(nc, srv):
        c = C(nc, isolate=False)
        await c.stream("ED", subjects=["ed"])
        await c.consumer("ED", {"ack_policy": "explicit"})
        await c.consumer("ED", {"ack_policy": "explicit", "deliver_subject": "push.ed"})
        await c.consumer("ED", {"ack_policy": "explicit", "durable_name": "D"})
        return c.log

    assert_same(*await run_both(js_pair, scenario))


async def test_js_ack_none_config_omits_ack_wait(js_pair):
    """nats-server leaves ack_wait out of the config of an ack_policy none consumer."""

    async def scenario(nc, srv):
        c = C(nc, isolate=False)
        await c.stream("AN", subjects=["an"])
        r = await c.consumer("AN", {"durable_name": "N", "ack_policy": "none"}, "N", record=False)
        c.note(r["config"].get("ack_wait"))
        r = await c.consumer("AN", {"durable_name": "P", "ack_policy": "none", "deliver_subject": "push.an"}, "P",
                             record=False)
        c.note(r["config"].get("ack_wait"))
        return c.log

    jb, ns = await run_both(js_pair, scenario)
    assert ns == [None, None]
    assert_same(jb, ns)


# ---- retention -----------------------------------------------------------------------------------


async def test_js_workqueue_retention(js_pair):
    async def scenario(nc, srv):
        c = C(nc)
        await c.stream("WQ", subjects=["wq.*"], retention="workqueue")
        await c.pub("wq.a", n=2)
        await c.pub("wq.b", n=2)
        await c.consumer("WQ", {"durable_name": "A", "ack_policy": "explicit", "filter_subject": "wq.a"}, "A")
        await c.consumer("WQ", {"durable_name": "A2", "ack_policy": "explicit", "filter_subject": "wq.a"}, "A2")
        await c.consumer("WQ", {"durable_name": "ALL", "ack_policy": "explicit"}, "ALL")  # overlaps A
        await c.consumer("WQ", {"durable_name": "NA", "ack_policy": "none", "filter_subject": "wq.b"}, "NA")
        await c.consumer("WQ", {"durable_name": "DL", "ack_policy": "explicit", "filter_subject": "wq.b",
                                "deliver_policy": "last"}, "DL")
        await c.consumer("WQ", {"durable_name": "B", "ack_policy": "explicit", "filter_subject": "wq.b"}, "B")
        await c.pull("WQ", "A", {"batch": 2}, want=2)
        await c.ack(1, sync=True)
        r = await c.api(f"{API}.STREAM.INFO.WQ", {"subjects_filter": ">"}, record=False)
        c.note(js_norm(r["state"]))
        await c.ack(2, b"+TERM", sync=True)
        r = await c.api(f"{API}.STREAM.INFO.WQ", record=False)
        c.note(js_norm(r["state"]))
        await c.api(f"{API}.CONSUMER.DELETE.WQ.A", record=False)
        await c.api(f"{API}.CONSUMER.DELETE.WQ.B", record=False)
        await c.consumer("WQ", {"durable_name": "ALL", "ack_policy": "explicit"}, "ALL")
        await c.consumer("WQ", {"durable_name": "U2", "ack_policy": "explicit"}, "U2")  # 10099
        await c.pull("WQ", "ALL", {"batch": 5, "no_wait": True}, want=5)
        return c.log

    jb, ns = await run_both(js_pair, scenario)
    assert_same(jb, ns)


async def test_js_interest_retention(js_pair):
    async def scenario(nc, srv):
        c = C(nc)
        await c.stream("IR", subjects=["ir.*"], retention="interest")
        await c.pub("ir.a", n=2)  # no consumers: not kept
        r = await c.api(f"{API}.STREAM.INFO.IR", record=False)
        c.note(js_norm(r["state"]))
        await c.consumer("IR", {"durable_name": "X", "ack_policy": "explicit"}, "X", record=False)
        await c.consumer("IR", {"durable_name": "Y", "ack_policy": "explicit", "filter_subject": "ir.b"}, "Y",
                         record=False)
        await c.pub("ir.a", n=2)
        await c.pub("ir.b", n=2)
        r = await c.api(f"{API}.STREAM.INFO.IR", record=False)
        c.note(js_norm(r["state"]))
        await c.pull("IR", "X", {"batch": 4}, want=4)
        for s in (3, 4, 5):
            await c.ack(s, sync=True)
        r = await c.api(f"{API}.STREAM.INFO.IR", record=False)
        c.note(js_norm(r["state"]))  # 3,4 gone (only X matched); 5,6 still wanted by Y
        await c.pull("IR", "Y", {"batch": 2}, want=2)
        await c.ack(5, sync=True)
        await c.ack(6, sync=True)
        r = await c.api(f"{API}.STREAM.INFO.IR", record=False)
        c.note(js_norm(r["state"]))  # 5 gone; 6 still pending for X
        await c.ack(6, sync=True)  # held[6] is Y's; ack X's 6 via a new pull? X already got 6
        await c.api(f"{API}.CONSUMER.DELETE.IR.X", record=False)
        r = await c.api(f"{API}.STREAM.INFO.IR", record=False)
        c.note(js_norm(r["state"]))
        return c.log

    assert_same(*await run_both(js_pair, scenario))


async def test_js_expired_pull_request_not_served(js_server, nats_connect):
    """A pull request past its `expires` is gone: it gets `408 Request Timeout` and a later message
    goes to the next live request, never to the expired one's inbox."""
    nc = await nats_connect(js_server)
    c = C(nc)
    await c.stream("EX", subjects=["ex"])
    await c.consumer("EX", {"durable_name": "E", "ack_policy": "explicit"}, "E", record=False)
    old = await nc.subscribe("old.inbox")
    await nc.publish(f"{API}.CONSUMER.MSG.NEXT.EX.E", json.dumps({"batch": 1, "expires": 300_000_000}).encode(),
                     reply="old.inbox")
    await nc.flush()
    try:
        m = await old.next_msg(timeout=1.5)
        st = status_of(m)
    except Exception:
        st = None
    await c.pub("ex", b"fresh")
    got = await c.pull("EX", "E", {"batch": 1, "expires": 1_000_000_000})
    assert seqs_of(got) == [1], f"message did not reach the live request: {got}"
    stray = []
    while True:
        try:
            stray.append(await old.next_msg(timeout=0.3))
        except Exception:
            break
    assert not [m for m in stray if not status_of(m)[0]], "expired request was served a message"
    assert st == ("408", "Request Timeout"), f"no 408 for the expired request (got {st})"


async def test_js_redelivery_goes_to_waiting_request(js_pair):
    """After ack_wait a pending message is redelivered to an already waiting pull request (not only
    when a new request arrives), once per ack_wait."""

    async def scenario(nc, srv):
        c = C(nc)
        await c.stream("RW", subjects=["rw"])
        await c.pub("rw", b"a")
        await c.consumer("RW", {"durable_name": "R", "ack_policy": "explicit", "ack_wait": 500_000_000}, "R",
                         record=False)
        await c.pull("RW", "R", {"batch": 1, "expires": 1_000_000_000})
        await c.pull("RW", "R", {"batch": 2, "expires": 2_000_000_000}, want=2, timeout=2.5)
        await c.info("RW", "R", INFO_KEYS)
        return c.log

    jb, ns = await run_both(js_pair, scenario)
    assert [g.get("delivered") if isinstance(g, dict) else g for g in ns[1]][0] == 2, ns
    assert_same(jb, ns)
