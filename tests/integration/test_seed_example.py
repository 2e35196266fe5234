"""The seed JetStream walkthrough (/work/shared/examples/seed_example.py), inlined and run against
both servers on their random ports, with assertions where the example only prints.

Steps as in the example: stream `sample-stream` on `foo`, 10 publishes, a pull consumer `psub`
fetching one at a time, an ephemeral push subscriber, a durable push subscriber `myapp`, a deliver
group `workers` with two callbacks, 10 more publishes, and an ordered consumer reading everything.
"""

import asyncio

import pytest
from nats.errors import TimeoutError as NatsTimeoutError

pytestmark = pytest.mark.timeout(60)

PAYLOADS = [f"hello world: {i}".encode() for i in range(10)]


async def test_seed_example(js_server, nats_connect):
    nc = await nats_connect(js_server)
    js = nc.jetstream()

    await js.add_stream(name="sample-stream", subjects=["foo"])

    seqs = []
    for p in PAYLOADS:
        ack = await js.publish("foo", p)
        assert ack.stream == "sample-stream"
        seqs.append(ack.seq)
    assert seqs == list(range(1, 11))

    psub = await js.pull_subscribe("foo", "psub")
    got = []
    for _ in range(10):
        msgs = await psub.fetch(1)
        assert len(msgs) == 1
        for msg in msgs:
            await msg.ack()
            got.append((msg.metadata.sequence.stream, msg.data))
    assert got == list(zip(range(1, 11), PAYLOADS))

    sub = await js.subscribe("foo")
    msg = await sub.next_msg(timeout=5)
    assert msg.metadata.sequence.stream == 1 and msg.data == PAYLOADS[0]
    await msg.ack()

    sub = await js.subscribe("foo", durable="myapp")
    msg = await sub.next_msg(timeout=5)
    assert msg.metadata.sequence.stream == 1 and msg.data == PAYLOADS[0]
    await msg.ack()

    received = {"A": [], "B": []}
    all_in = asyncio.Event()

    def make_cb(name):
        async def cb(msg):
            received[name].append(msg.metadata.sequence.stream)
            await msg.ack()
            if len(received["A"]) + len(received["B"]) >= 20:
                all_in.set()
        return cb

    await js.subscribe("foo", "workers", cb=make_cb("A"))
    await js.subscribe("foo", "workers", cb=make_cb("B"))

    seqs = []
    for p in PAYLOADS:
        ack = await js.publish("foo", p)
        seqs.append(ack.seq)
    assert seqs == list(range(11, 21))

    await asyncio.wait_for(all_in.wait(), 10)
    assert sorted(received["A"] + received["B"]) == list(range(1, 21)), received
    assert received["A"] and received["B"], f"deliver group did not spread messages: {received}"

    osub = await js.subscribe("foo", ordered_consumer=True)
    data = bytearray()
    while len(data) < 280:
        msg = await osub.next_msg(timeout=5)
        data.extend(msg.data)
    assert len(data) == 280
    assert bytes(data) == b"".join(PAYLOADS) * 2
    with pytest.raises(NatsTimeoutError):
        await osub.next_msg(timeout=0.5)  # nothing beyond the 20 stored messages
