"""JetStream advisories and metrics on $JS.EVENT.> (what `nats event` and monitoring tools read):
stream and consumer create/modify/delete actions, the API audit of every API answer, naks, terms
(with the reason) and sampled ack metrics; differential against nats-server.
"""

import asyncio
import json

import pytest

from conftest import IO_TIMEOUT, js_req, run_both

pytestmark = pytest.mark.timeout(60)

API = "$JS.API"
EXPECTED = 14  # events the scenario below makes nats-server 2.14.9 publish


def normalise(subject, event):
    """What both servers must agree on: the subject and the event without per-run values."""
    e = dict(event)
    assert isinstance(e.pop("id"), str) and len(e["type"]) > 10
    assert "T" in e.pop("timestamp")
    if "ack_time" in e:
        assert e.pop("ack_time") > 0
    if e.get("type", "").endswith("api_audit"):
        assert e.pop("server") and e.pop("client")["acc"]
        e["response"] = sorted(json.loads(e["response"]))  # the response's keys
        if "request" in e:
            e["request"] = json.loads(e["request"])
    return subject, e


async def test_jetstream_advisories(js_pair):
    async def scenario(nc, srv):
        events = asyncio.Queue()

        async def cb(m):
            await events.put(normalise(m.subject, json.loads(m.data)))

        await nc.subscribe("$JS.EVENT.>", cb=cb)
        await nc.flush()
        await js_req(nc, f"{API}.STREAM.CREATE.EV", {"name": "EV", "subjects": ["ev.>"]})
        await js_req(nc, f"{API}.STREAM.UPDATE.EV", {"name": "EV", "subjects": ["ev.>"], "max_msgs": 100})
        await js_req(nc, f"{API}.CONSUMER.CREATE.EV.C", {"stream_name": "EV", "config": {
            "durable_name": "C", "ack_policy": "explicit", "sample_freq": "100%"}})
        for _ in range(4):
            await nc.request("ev.a", b"x", timeout=IO_TIMEOUT)
        inbox = nc.new_inbox()
        sub = await nc.subscribe(inbox)
        await nc.publish(f"{API}.CONSUMER.MSG.NEXT.EV.C", json.dumps({"batch": 4}).encode(), reply=inbox)
        msgs = [await sub.next_msg(timeout=IO_TIMEOUT) for _ in range(4)]
        await nc.publish(msgs[0].reply, b"+ACK")
        await nc.publish(msgs[1].reply, b"-NAK")
        await nc.publish(msgs[2].reply, b"+TERM no longer wanted")
        await nc.publish(msgs[3].reply, b"+TERM")
        await nc.flush()
        await js_req(nc, f"{API}.CONSUMER.DELETE.EV.C")
        await js_req(nc, f"{API}.STREAM.DELETE.EV")
        got = [await asyncio.wait_for(events.get(), IO_TIMEOUT) for _ in range(EXPECTED)]
        await nc.flush()
        assert events.empty(), await events.get()
        return sorted(got, key=lambda x: json.dumps(x, sort_keys=True))

    jb, ns = await run_both(js_pair, scenario)
    assert jb == ns
    subjects = [s for s, _ in jb]
    for want in ["$JS.EVENT.ADVISORY.STREAM.CREATED.EV", "$JS.EVENT.ADVISORY.STREAM.UPDATED.EV",
                 "$JS.EVENT.ADVISORY.CONSUMER.CREATED.EV.C", "$JS.EVENT.METRIC.CONSUMER.ACK.EV.C",
                 "$JS.EVENT.ADVISORY.CONSUMER.MSG_NAKED.EV.C", "$JS.EVENT.ADVISORY.CONSUMER.MSG_TERMINATED.EV.C",
                 "$JS.EVENT.ADVISORY.CONSUMER.DELETED.EV.C", "$JS.EVENT.ADVISORY.STREAM.DELETED.EV"]:
        assert want in subjects, (want, subjects)
