"""nats-py (asyncio) against both servers: what a real client sees."""

import asyncio

import pytest
from nats.errors import NoRespondersError, TimeoutError as NatsTimeoutError

T = 5.0  # per-await timeout


async def test_connect_server_info(server, nats_connect):
    nc = await nats_connect(server, name="itest")
    assert nc.is_connected
    assert nc.max_payload == 1048576
    assert nc.connected_server_version.major == 2
    assert nc._server_info["headers"] is True
    assert nc._client_id > 0


async def test_pub_sub(server, nats_connect):
    sub_nc = await nats_connect(server)
    pub_nc = await nats_connect(server)
    sub = await sub_nc.subscribe("greet.joe")
    await sub_nc.flush()
    await pub_nc.publish("greet.joe", b"hello")
    msg = await sub.next_msg(timeout=T)
    assert (msg.subject, msg.data, msg.reply) == ("greet.joe", b"hello", "")


async def test_ordering_within_one_publisher(server, nats_connect):
    sub_nc = await nats_connect(server)
    pub_nc = await nats_connect(server)
    sub = await sub_nc.subscribe("seq")
    await sub_nc.flush()
    for i in range(1000):
        await pub_nc.publish("seq", str(i).encode())
    await pub_nc.flush()
    got = [int((await sub.next_msg(timeout=T)).data) for _ in range(1000)]
    assert got == list(range(1000))


@pytest.mark.parametrize(
    "pattern, matching, not_matching, sentinel",
    [
        ("foo.*", ["foo.bar", "foo.baz"], ["foo", "foo.bar.baz", "bar.foo"], "foo.end"),
        ("foo.>", ["foo.bar", "foo.bar.baz"], ["foo", "bar.foo"], "foo.end"),
        ("*.bar.>", ["a.bar.c", "b.bar.c.d"], ["a.bar", "bar.c", "a.b.bar.c"], "z.bar.end"),
        (">", ["a", "a.b.c"], [], "end"),
    ],
)
async def test_wildcards(server, nats_connect, pattern, matching, not_matching, sentinel):
    nc = await nats_connect(server)
    sub = await nc.subscribe(pattern)
    await nc.flush()
    for subj in not_matching + matching:
        await nc.publish(subj, subj.encode())
    await nc.publish(sentinel, b"")  # matches too; one publisher's messages stay in order
    got = []
    while not got or got[-1] != sentinel:
        got.append((await sub.next_msg(timeout=T)).subject)
    assert got == matching + [sentinel]


async def test_queue_group_each_message_once_and_spread(server, nats_connect):
    n, members = 300, 3
    subs_nc = [await nats_connect(server) for _ in range(members)]
    received: list[list[int]] = [[] for _ in range(members)]
    done = asyncio.Event()

    def handler(idx):
        async def cb(msg):
            received[idx].append(int(msg.data))
            if sum(map(len, received)) >= n:
                done.set()
        return cb

    for i, nc in enumerate(subs_nc):
        await nc.subscribe("work", queue="workers", cb=handler(i))
        await nc.flush()
    plain_nc = await nats_connect(server)
    plain = await plain_nc.subscribe("work")
    await plain_nc.flush()

    pub = await nats_connect(server)
    for i in range(n):
        await pub.publish("work", str(i).encode())
    await pub.flush()
    await asyncio.wait_for(done.wait(), T)
    for nc in subs_nc:  # anything still in flight to a member arrives before its PONG
        await nc.flush()
    everything = sorted(x for r in received for x in r)
    assert everything == list(range(n)), "each message must reach exactly one member"
    counts = [len(r) for r in received]
    assert all(c >= n // 10 for c in counts), f"poor spread across members: {counts}"
    plain_got = [int((await plain.next_msg(timeout=T)).data) for _ in range(n)]
    assert plain_got == list(range(n))


async def test_request_reply(server, nats_connect):
    svc = await nats_connect(server)
    cli = await nats_connect(server)

    async def handler(msg):
        await msg.respond(b"pong:" + msg.data)

    await svc.subscribe("svc.echo", cb=handler)
    await svc.flush()
    for i in range(5):
        resp = await cli.request("svc.echo", str(i).encode(), timeout=T)
        assert resp.data == f"pong:{i}".encode()


async def test_request_reply_queue_service(server, nats_connect):
    svc1 = await nats_connect(server)
    svc2 = await nats_connect(server)
    cli = await nats_connect(server)
    async def one(m):
        await m.respond(b"1")

    async def two(m):
        await m.respond(b"2")

    await svc1.subscribe("svc.q", queue="g", cb=one)
    await svc2.subscribe("svc.q", queue="g", cb=two)
    await svc1.flush()
    await svc2.flush()
    answers = {(await cli.request("svc.q", b"", timeout=T)).data for _ in range(40)}
    assert answers <= {b"1", b"2"} and answers


async def test_headers_roundtrip(server, nats_connect):
    nc = await nats_connect(server)
    sub = await nc.subscribe("hdr")
    await nc.flush()
    headers = {"Foo": "Bar", "X-Trace-Id": "abc-123", "lower": "v"}
    await nc.publish("hdr", b"body", headers=headers)
    msg = await sub.next_msg(timeout=T)
    assert msg.data == b"body"
    assert msg.headers == headers


async def test_headers_with_request(server, nats_connect):
    svc = await nats_connect(server)
    cli = await nats_connect(server)

    async def handler(msg):
        await msg.respond(msg.headers["In"].encode())

    await svc.subscribe("svc.h", cb=handler)
    await svc.flush()
    resp = await cli.request("svc.h", b"", timeout=T, headers={"In": "value-1"})
    assert resp.data == b"value-1"


async def test_no_responders(server, nats_connect):
    nc = await nats_connect(server)
    with pytest.raises(NoRespondersError):
        await nc.request("nobody.home", b"hi", timeout=T)


async def test_request_timeout_without_no_responders(server, nats_connect):
    """When the responder exists but never answers, the client times out (no 503)."""
    svc = await nats_connect(server)
    cli = await nats_connect(server)
    await svc.subscribe("silent")
    await svc.flush()
    with pytest.raises(NatsTimeoutError):
        await cli.request("silent", b"", timeout=0.5)


async def test_auto_unsubscribe_after_max(server, nats_connect):
    nc = await nats_connect(server)
    await nc.flush()
    baseline = server.varz()["subscriptions"]
    sub = await nc.subscribe("auto")
    await sub.unsubscribe(limit=3)
    for i in range(10):
        await nc.publish("auto", str(i).encode())
    await nc.flush()
    got = [(await sub.next_msg(timeout=T)).data for _ in range(3)]
    assert got == [b"0", b"1", b"2"]
    # nats-py also enforces the limit locally, so check that the server dropped the interest.
    server.wait_for(lambda: server.varz()["subscriptions"] == baseline, what="subscription removed")


async def test_echo_false(server, nats_connect):
    quiet = await nats_connect(server, no_echo=True)
    other = await nats_connect(server)
    sub = await quiet.subscribe("echo.test")
    await quiet.flush()
    await quiet.publish("echo.test", b"own")
    await quiet.flush()  # own message processed (and, with echo, queued) before "theirs"
    await other.publish("echo.test", b"theirs")
    msg = await sub.next_msg(timeout=T)
    assert msg.data == b"theirs"


async def test_echo_true_default(server, nats_connect):
    nc = await nats_connect(server)
    sub = await nc.subscribe("echo.test")
    await nc.publish("echo.test", b"own")
    assert (await sub.next_msg(timeout=T)).data == b"own"


async def test_max_payload_message(server, nats_connect):
    nc = await nats_connect(server)
    sub = await nc.subscribe("big")
    await nc.flush()
    payload = bytes(i % 256 for i in range(nc.max_payload))
    await nc.publish("big", payload)
    assert (await sub.next_msg(timeout=T)).data == payload


async def test_drain(server, nats_connect):
    nc = await nats_connect(server)
    pub = await nats_connect(server)
    got = []

    async def cb(m):
        got.append(m.data)

    await nc.subscribe("drain", cb=cb)
    await nc.flush()
    for i in range(50):
        await pub.publish("drain", b"x")
    await pub.flush()
    await nc.flush()
    await nc.drain()
    assert len(got) == 50
    assert nc.is_closed
