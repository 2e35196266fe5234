"""Pull consumer priority groups (ADR-42), differential against nats-server: config echo and
validation errors, pull-request statuses, overflow thresholds, pinned_client (pin header, 423s,
UNPIN, pin timeout) and prioritized order. Raw JSON requests through nats-py; pin ids (random
nuids) are replaced by labels in order of first appearance so both transcripts compare.
"""

import asyncio
import json

import pytest

from conftest import assert_same, js_norm, js_req, run_both

pytestmark = pytest.mark.timeout(60)

API = "$JS.API"
T = 5.0
SEC = 1_000_000_000


class Pins:
    """Maps pin ids to <pin1>, <pin2>, ... in order of first appearance."""

    def __init__(self):
        self.labels: dict[str, str] = {}

    def __call__(self, pin):
        if not pin:
            return pin
        if pin not in self.labels:
            self.labels[pin] = f"<pin{len(self.labels) + 1}>"
        return self.labels[pin]


class Pull:
    """One MSG.NEXT request; its replies are read one at a time (await, no sleeping)."""

    def __init__(self, nc, stream, cons, pins):
        self.nc, self.stream, self.cons, self.pins = nc, stream, cons, pins
        self.q: asyncio.Queue = asyncio.Queue()
        self.sub = None
        self.pin = None

    async def send(self, body):
        inbox = self.nc.new_inbox()

        async def cb(m):
            await self.q.put(m)

        self.sub = await self.nc.subscribe(inbox, cb=cb)
        payload = json.dumps(body).encode() if isinstance(body, dict) else body
        await self.nc.publish(f"{API}.CONSUMER.MSG.NEXT.{self.stream}.{self.cons}", payload, reply=inbox)
        await self.nc.flush()
        return self

    async def get(self, timeout=T):
        """The next reply, heartbeats skipped: a message {seq, pin} or a status {status, desc, pending}."""
        while True:
            m = await asyncio.wait_for(self.q.get(), timeout)
            h = m.headers or {}
            st = h.get("Status")
            if st == "100":
                continue
            if st:
                out = {"status": st, "desc": h.get("Description")}
                if "Nats-Pending-Messages" in h:
                    out["pending"] = [h.get("Nats-Pending-Messages"), h.get("Nats-Pending-Bytes")]
                return out
            tok = m.reply.split(".")
            self.pin = h.get("Nats-Pin-Id")
            return {"seq": int(tok[5]), "delivered": int(tok[4]), "data": m.data.decode(), "pin": self.pins(self.pin)}

    async def close(self):
        if self.sub is not None:
            await self.sub.unsubscribe()


async def setup(nc, stream="PG", n=0):
    r = await js_req(nc, f"{API}.STREAM.CREATE.{stream}", {"name": stream, "subjects": [stream.lower() + ".>"]})
    assert "error" not in r, r
    await publish(nc, stream, n)


async def publish(nc, stream, n, start=0):
    for i in range(n):
        r = json.loads((await nc.request(f"{stream.lower()}.m", str(start + i + 1).encode(), timeout=T)).data)
        assert "error" not in r, r


async def consumer(nc, stream, name, **cfg):
    return await js_req(nc, f"{API}.CONSUMER.CREATE.{stream}.{name}",
                        {"stream_name": stream, "config": {"durable_name": name, "ack_policy": "explicit", **cfg}})


def prio_view(info, pins):
    """The priority part of a ConsumerInfo / create answer."""
    if "error" in info:
        return js_norm(info)
    cfg = info["config"]
    groups = []
    for g in info.get("priority_groups") or []:
        g = dict(g)
        if "pinned_client_id" in g:
            g["pinned_client_id"] = pins(g["pinned_client_id"])
        g["pinned_ts"] = "<zero>" if g.get("pinned_ts") == "0001-01-01T00:00:00Z" else ("<ts>" if "pinned_ts" in g else None)
        groups.append(g)
    return {"cfg": {k: v for k, v in cfg.items() if k.startswith("priority")},
            "req_level": cfg["metadata"].get("_nats.req.level"),
            "info_groups": groups if "priority_groups" in info else "absent"}


CONFIG_CASES = [
    {"priority_policy": "overflow", "priority_groups": ["g1"]},
    {"priority_policy": "pinned_client", "priority_groups": ["g1"]},  # default priority_timeout 2m
    {"priority_policy": "prioritized", "priority_groups": ["g1", "g2"]},
    {"priority_policy": "pinned_client", "priority_groups": ["A-z_0/9="], "priority_timeout": 5 * SEC},
    {"priority_policy": "pinned_client", "priority_groups": ["g1"], "priority_timeout": -5},  # negative -> default
    {"priority_policy": "overflow", "priority_groups": ["g1"], "priority_timeout": 7},  # kept, unused
    {"priority_policy": "none"},
    {"priority_policy": "none", "priority_groups": ["g1"]},  # 10196
    {"priority_groups": ["g1"]},  # 10196
    {"priority_timeout": SEC},  # 10197
    {"priority_policy": "overflow"},  # 10159
    {"priority_policy": "overflow", "priority_groups": []},  # 10159
    {"priority_policy": "overflow", "priority_groups": [""]},  # 10161
    {"priority_policy": "overflow", "priority_groups": ["a.b"]},  # 10162
    {"priority_policy": "overflow", "priority_groups": ["abcdefghijklmnopq"]},  # 10162 (17 chars)
    {"priority_policy": "overflow", "priority_groups": ["g"], "deliver_subject": "push.pg"},  # 10178
    {"priority_policy": "bogus", "priority_groups": ["g"]},  # 10025
    {"priority_policy": 5, "priority_groups": ["g"]},  # 10025
    {"priority_policy": "overflow", "priority_groups": "g"},  # 10025
    {"priority_policy": "overflow", "priority_groups": [1]},  # 10025
    {"priority_policy": "pinned_client", "priority_groups": ["g"], "priority_timeout": "5s"},  # 10025
]


async def test_js_priority_config_echo_and_errors(js_pair):
    """Create answers (priority config echo with defaults, `_nats.req.level`, ConsumerInfo
    `priority_groups`), every validation error with its text, updates between policies, and the
    UNPIN API's answers and errors."""

    async def scenario(nc, srv):
        pins, log = Pins(), []
        await setup(nc)
        for i, cfg in enumerate(CONFIG_CASES):
            log.append(prio_view(await consumer(nc, "PG", f"C{i}", **cfg), pins))
        for cfg in ({"priority_policy": "pinned_client", "priority_groups": ["g1"]},
                    {"priority_policy": "overflow", "priority_groups": ["g2"]}, {}):
            log.append(prio_view(await consumer(nc, "PG", "C0", **cfg), pins))
        log.append(prio_view(await js_req(nc, f"{API}.CONSUMER.INFO.PG.C1"), pins))
        for subj, body in [("PG.C1", {"group": "g1"}), ("PG.C1", {"group": "zz"}), ("PG.C1", {}), ("PG.C1", b""),
                           ("PG.C1", {"group": 5}), ("PG.C1", {"group": "bad.name"}), ("PG.C1", {"group": "g1", "x": 1}),
                           ("PG.C2", {"group": "g2"}), ("PG.C6", {"group": "g1"}), ("PG.NOPE", {"group": "g1"}),
                           ("NOPE.C1", {"group": "g1"})]:
            log.append(js_norm(await js_req(nc, f"{API}.CONSUMER.UNPIN.{subj}", body)))
        return log

    assert_same(*await run_both(js_pair, scenario))


PULL_ERROR_CASES = [
    ("N", {"batch": 1, "min_pending": 1}),
    ("N", {"batch": 1, "id": "x"}),
    ("O", {"batch": 1, "expires": SEC}),
    ("O", {"batch": 1, "group": ""}),
    ("O", {"batch": 1, "group": "zz"}),
    ("O", {"batch": 1, "group": "g", "id": "x"}),
    ("O", {"batch": 1, "group": "g", "priority": 10}),
    ("O", {"batch": 1, "group": "g", "priority": -1}),
    ("R", {"batch": 1, "group": "g", "min_pending": 1}),
    ("P", {"batch": 1, "group": "g", "min_ack_pending": 1}),
    ("O", {"batch": 1, "group": "g", "priority": "x"}),
    ("O", {"batch": 1, "group": "g", "min_pending": "x"}),
    ("O", {"batch": 1, "group": 7}),
]


async def test_js_priority_pull_request_errors(js_pair):
    """MSG.NEXT statuses for priority fields a consumer does not accept, missing or unknown groups,
    out-of-range priorities and wrongly typed fields."""

    async def scenario(nc, srv):
        pins, log = Pins(), []
        await setup(nc)
        await consumer(nc, "PG", "N")
        await consumer(nc, "PG", "O", priority_policy="overflow", priority_groups=["g"])
        await consumer(nc, "PG", "P", priority_policy="pinned_client", priority_groups=["g"])
        await consumer(nc, "PG", "R", priority_policy="prioritized", priority_groups=["g"])
        for cons, body in PULL_ERROR_CASES:
            p = await Pull(nc, "PG", cons, pins).send(body)
            log.append([cons, body, await p.get()])
            await p.close()
        # A consumer without a policy serves requests that name a group or a priority.
        await publish(nc, "PG", 2)
        for body in ({"batch": 1, "group": "g"}, {"batch": 1, "priority": 3}):
            p = await Pull(nc, "PG", "N", pins).send(body)
            log.append(["N", body, await p.get()])
            await p.close()
        return log

    assert_same(*await run_both(js_pair, scenario))


async def test_js_priority_overflow_thresholds(js_pair):
    """overflow: a request with min_pending / min_ack_pending is served only while num_pending or
    num_ack_pending reaches the threshold; otherwise it waits and times out (408 with its pending
    counts), and a no_wait one ends with 404. Requests without thresholds are always served."""

    async def scenario(nc, srv):
        pins, log = Pins(), []
        await setup(nc, n=3)
        await consumer(nc, "PG", "O", priority_policy="overflow", priority_groups=["g"])

        async def pull(body, want=1):
            p = await Pull(nc, "PG", "O", pins).send(body)
            got = [await p.get() for _ in range(want)]
            await p.close()
            return got

        log.append(await pull({"batch": 1, "group": "g", "min_pending": 4, "expires": SEC // 2}))  # 3 < 4
        log.append(await pull({"batch": 1, "group": "g", "min_pending": 4, "no_wait": True}))
        log.append(await pull({"batch": 1, "group": "g", "min_pending": 3, "expires": 2 * SEC}))  # served
        log.append(await pull({"batch": 1, "group": "g", "min_pending": 3, "expires": SEC // 2}))  # 2 left
        log.append(await pull({"batch": 1, "group": "g", "min_ack_pending": 2, "expires": SEC // 2}))  # 1 unacked
        log.append(await pull({"batch": 1, "group": "g", "min_ack_pending": 1, "expires": 2 * SEC}))  # served
        log.append(await pull({"batch": 1, "group": "g", "min_pending": 9, "min_ack_pending": 2,
                               "expires": 2 * SEC}))  # either threshold: 2 unacked
        await publish(nc, "PG", 2, start=3)
        log.append(await pull({"batch": 2, "group": "g", "expires": 2 * SEC}, want=2))  # no thresholds
        info = await js_req(nc, f"{API}.CONSUMER.INFO.PG.O")
        log.append({k: info[k] for k in ("num_pending", "num_ack_pending", "num_waiting")})
        return log

    assert_same(*await run_both(js_pair, scenario))


async def test_js_priority_pinned_client(js_pair):
    """pinned_client: the first request gets pinned (every message carries Nats-Pin-Id, ConsumerInfo
    shows the pin), other clients stand by (their requests time out), a wrong id is refused with 423
    "Nats-Pin-Id mismatch", the pinned id keeps being served; UNPIN releases the pin: a waiting
    request with the old id gets 423 "Nats-Wrong-Pin-Id" and the next client a new pin."""

    async def scenario(nc, srv):
        pins, log = Pins(), []
        await setup(nc, n=4)
        await consumer(nc, "PG", "P", priority_policy="pinned_client", priority_groups=["g"])

        a = await Pull(nc, "PG", "P", pins).send({"batch": 2, "group": "g", "expires": 5 * SEC})
        log.append([await a.get(), await a.get()])
        pin = a.pin
        log.append(prio_view(await js_req(nc, f"{API}.CONSUMER.INFO.PG.P"), pins))

        b = await Pull(nc, "PG", "P", pins).send({"batch": 1, "group": "g", "expires": SEC // 2})
        log.append(await b.get())  # standby: 408
        c = await Pull(nc, "PG", "P", pins).send({"batch": 1, "group": "g", "id": "WRONG", "expires": SEC})
        log.append(await c.get())  # 423 Nats-Pin-Id mismatch, at once
        d = await Pull(nc, "PG", "P", pins).send({"batch": 1, "group": "g", "id": pin, "expires": 2 * SEC})
        log.append(await d.get())  # the pinned client goes on

        log.append(js_norm(await js_req(nc, f"{API}.CONSUMER.UNPIN.PG.P", {"group": "g"})))
        log.append(prio_view(await js_req(nc, f"{API}.CONSUMER.INFO.PG.P"), pins))
        e = await Pull(nc, "PG", "P", pins).send({"batch": 1, "group": "g", "id": pin, "expires": 2 * SEC})
        log.append(await e.get())  # the old pin, now stale: 423 Nats-Wrong-Pin-Id with pending counts
        f = await Pull(nc, "PG", "P", pins).send({"batch": 1, "group": "g", "expires": 2 * SEC})
        got = await f.get()
        log.append(got)  # a new pin
        log.append(prio_view(await js_req(nc, f"{API}.CONSUMER.INFO.PG.P"), pins))
        for p in (a, b, c, d, e, f):
            await p.close()
        return log

    jb, ns = await run_both(js_pair, scenario)
    assert_same(jb, ns)
    assert ns[-2]["pin"] == "<pin2>", ns  # the scenario really did re-pin


async def test_js_priority_pin_timeout(js_pair):
    """pinned_client with a short priority_timeout: without pulls carrying the pin id the pin lapses
    and a standby request is served under a new pin."""

    async def scenario(nc, srv):
        pins, log = Pins(), []
        await setup(nc, n=2)
        await consumer(nc, "PG", "P", priority_policy="pinned_client", priority_groups=["g"],
                       priority_timeout=SEC // 2)
        a = await Pull(nc, "PG", "P", pins).send({"batch": 1, "group": "g", "expires": 5 * SEC})
        log.append(await a.get())
        b = await Pull(nc, "PG", "P", pins).send({"batch": 1, "group": "g", "expires": 5 * SEC})
        log.append(await b.get(timeout=4.0))  # after the pin lapsed: seq 2 under <pin2>
        log.append(prio_view(await js_req(nc, f"{API}.CONSUMER.INFO.PG.P"), pins))
        await a.close()
        await b.close()
        return log

    jb, ns = await run_both(js_pair, scenario)
    assert_same(jb, ns)
    assert ns[1]["pin"] == "<pin2>", ns


async def test_js_priority_prioritized_order(js_pair):
    """prioritized: waiting requests are served lowest priority value first, in arrival order within
    a priority, and a request without a priority after all others."""

    async def scenario(nc, srv):
        pins, log = Pins(), []
        await setup(nc)
        await consumer(nc, "PG", "R", priority_policy="prioritized", priority_groups=["g"])
        reqs = {}
        for name, prio, batch in (("p5", 5, 2), ("p1", 1, 1), ("p0", 0, 1), ("p1b", 1, 1)):
            reqs[name] = (await Pull(nc, "PG", "R", pins).send(
                {"batch": batch, "group": "g", "priority": prio, "expires": 5 * SEC}), batch)
        info = await js_req(nc, f"{API}.CONSUMER.INFO.PG.R")
        log.append(info["num_waiting"])  # all four queued before any message
        await publish(nc, "PG", 5)
        for name, (p, batch) in reqs.items():
            log.append([name, [(await p.get())["seq"] for _ in range(batch)]])
            await p.close()
        return log

    jb, ns = await run_both(js_pair, scenario)
    assert_same(jb, ns)
    assert ns[1:] == [["p5", [4, 5]], ["p1", [2]], ["p0", [1]], ["p1b", [3]]], ns
