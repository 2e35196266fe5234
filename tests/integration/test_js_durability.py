"""Durability: kill -9 a broker under publish load (or with a durable consumer mid-way), restart it on
the same store directory, and check nothing acknowledged was lost.

Run against both servers (server_kind) -- nats-server for comparison.
"""

import asyncio
import json
import time

import nats
import pytest
from nats.js.api import AckPolicy, ConsumerConfig, StreamSource

from conftest import IO_TIMEOUT, js_args, js_req

pytestmark = pytest.mark.timeout(120)

TOTAL = 20_000
KILL_AFTER = 8_000


def payload(i: int) -> bytes:
    return f"msg-{i:06d}-".encode() + b"p" * 90


def subject(i: int) -> str:
    return f"dur.{i % 10}"


def hard_kill(srv) -> None:
    """SIGKILL and reap; marks the process as handled so teardown does not expect exit 0."""
    srv.proc.kill()
    srv.proc.wait()
    srv.exit_code = srv.proc.returncode


async def connect(srv, **kw):
    return await nats.connect(servers=[srv.url], allow_reconnect=False, connect_timeout=IO_TIMEOUT, **kw)


async def read_stream(nc, stream: str, last_seq: int) -> dict[int, tuple[str, bytes]]:
    """Every stored message up to last_seq, by sequence, through an ack-none pull consumer."""
    js = nc.jetstream()
    psub = await js.pull_subscribe("", durable="reader", stream=stream,
                                   config=ConsumerConfig(ack_policy=AckPolicy.NONE))
    out: dict[int, tuple[str, bytes]] = {}
    seq = 0
    while seq < last_seq:
        msgs = await psub.fetch(1000, timeout=5)
        for m in msgs:
            seq = m.metadata.sequence.stream
            out[seq] = (m.subject, m.data)
    return out


def store_args(store, sync: str) -> list[str]:
    """-js -sd <store>, or a config with `sync_interval: always` (fsync before every PubAck; in
    jetbroker the pipelined group commit, which also holds deliveries until the fsync)."""
    if sync == "default":
        return js_args(store)
    conf = store.parent / f"js-{sync}.conf"
    conf.write_text(f'jetstream {{\n  store_dir: "{store}"\n  sync_interval: {sync}\n}}\n')
    return ["-c", str(conf)]


@pytest.mark.parametrize("sync", ["default", "always"])
async def test_js_kill9_under_publish_load(server_kind, make_server, tmp_path, sync):
    store = tmp_path / "store"
    srv = make_server(server_kind, *store_args(store, sync))
    closed = asyncio.Event()

    async def closed_cb():
        closed.set()

    async def quiet(*_):
        pass

    nc = await connect(srv, closed_cb=closed_cb, disconnected_cb=quiet, error_cb=quiet)
    js = nc.jetstream(publish_async_max_pending=2000)
    await js.add_stream(name="DUR", subjects=["dur.>"])

    futs: list[tuple[int, asyncio.Future]] = []
    acked_count = 0
    killed = False

    def on_done(f):
        nonlocal acked_count, killed
        if f.cancelled() or f.exception() is not None:
            return
        acked_count += 1
        if acked_count >= KILL_AFTER and not killed:
            killed = True
            srv.proc.kill()  # mid-stream, from the ack path itself

    try:
        for i in range(TOTAL):
            f = await js.publish_async(subject(i), payload(i), wait_stall=3)
            f.add_done_callback(on_done)
            futs.append((i, f))
            if killed:
                await asyncio.sleep(0)  # let the loop notice the dead socket
    except Exception:
        pass  # the connection died under us: expected
    assert killed, f"only {acked_count} PubAcks before the publish loop ended"
    srv.proc.wait()
    srv.exit_code = srv.proc.returncode
    try:
        await asyncio.wait_for(closed.wait(), 5)
    except asyncio.TimeoutError:
        await nc.close()

    acked: dict[int, int] = {}
    for i, f in futs:
        if f.done() and not f.cancelled() and f.exception() is None:
            ack = f.result()
            assert ack.stream == "DUR"
            acked[i] = ack.seq
    assert len(acked) >= KILL_AFTER
    order = sorted(acked)
    assert [acked[i] for i in order] == sorted(acked.values()), "PubAck sequences not increasing"
    assert len(set(acked.values())) == len(acked), "duplicate PubAck sequences"

    srv2 = make_server(server_kind, *store_args(store, sync))
    nc2 = await connect(srv2)
    try:
        info = await js_req(nc2, "$JS.API.STREAM.INFO.DUR")
        st = info["state"]
        assert st["last_seq"] >= max(acked.values()), st
        assert st["messages"] >= len(acked), st
        stored = await read_stream(nc2, "DUR", st["last_seq"])
        missing = [(i, s) for i, s in acked.items() if s not in stored]
        wrong = [(i, s, stored[s]) for i, s in acked.items() if s in stored and stored[s] != (subject(i), payload(i))]
        assert not missing, f"{len(missing)} acknowledged messages lost, e.g. {missing[:5]}"
        assert not wrong, f"{len(wrong)} acknowledged messages differ, e.g. {wrong[:3]}"
        # the stream keeps working with the next sequence
        a = json.loads((await nc2.request("dur.new", b"after", timeout=5)).data)
        assert a["seq"] == st["last_seq"] + 1, a
    finally:
        await nc2.close()


async def test_js_kill9_durable_consumer_resumes(server_kind, make_server, tmp_path, request):
    if server_kind == "nats-server":
        # nats-server 2.14 flushes consumer state lazily: after SIGKILL its ack floor is back at 0
        # (observed). jetbroker is required to do better; nats-server is kept for information.
        request.applymarker(pytest.mark.xfail(reason="nats-server loses consumer acks on SIGKILL", strict=False))
    store = tmp_path / "store"
    srv = make_server(server_kind, *js_args(store))
    nc = await connect(srv)
    js = nc.jetstream()
    await js.add_stream(name="DC", subjects=["dc"])
    for i in range(1, 11):
        assert (await js.publish("dc", f"m{i}".encode())).seq == i
    psub = await js.pull_subscribe("dc", "worker", config=ConsumerConfig(ack_wait=2.0))
    msgs = await psub.fetch(10, timeout=5)
    assert [m.metadata.sequence.stream for m in msgs] == list(range(1, 11))
    for m in msgs:
        if m.metadata.sequence.stream <= 5 or m.metadata.sequence.stream == 7:
            await m.ack_sync()  # confirmed by the server
    info = await js.consumer_info("DC", "worker")
    assert info.ack_floor.stream_seq == 5 and info.num_ack_pending == 4
    await nc.close()
    hard_kill(srv)

    srv2 = make_server(server_kind, *js_args(store))
    nc2 = await connect(srv2)
    try:
        js2 = nc2.jetstream()
        info = await js2.consumer_info("DC", "worker")
        assert info.ack_floor.stream_seq == 5, info
        assert info.delivered.stream_seq == 10, info
        assert info.num_ack_pending == 4, info
        psub2 = await js2.pull_subscribe("dc", "worker")
        got = []
        deadline = asyncio.get_running_loop().time() + 10
        while len(got) < 4 and asyncio.get_running_loop().time() < deadline:
            try:
                for m in await psub2.fetch(4 - len(got), timeout=3):
                    got.append((m.metadata.sequence.stream, m.metadata.num_delivered))
                    await m.ack_sync()
            except nats.errors.TimeoutError:
                pass
        assert sorted(s for s, _ in got) == [6, 8, 9, 10], f"redelivered after restart: {got}"
        assert all(d >= 2 for _, d in got), got
        info = await js2.consumer_info("DC", "worker")
        assert info.ack_floor.stream_seq == 10 and info.num_ack_pending == 0, info
    finally:
        await nc2.close()


async def test_js_restart_keeps_streams_and_config(server_kind, make_server, tmp_path):
    """A clean SIGTERM restart keeps stream configs, state, consumers and the created time."""
    store = tmp_path / "store"
    srv = make_server(server_kind, *js_args(store))
    nc = await connect(srv)
    cfg = {"name": "KEEP", "subjects": ["keep.*"], "max_msgs_per_subject": 3, "allow_direct": True,
           "description": "kept", "metadata": {"a": "b"}}
    created = await js_req(nc, "$JS.API.STREAM.CREATE.KEEP", cfg)
    for i in range(5):
        await nc.request("keep.a", f"{i}".encode(), timeout=5)
    await js_req(nc, "$JS.API.CONSUMER.CREATE.KEEP.C",
                 {"stream_name": "KEEP", "config": {"durable_name": "C", "ack_policy": "explicit"}})
    before = await js_req(nc, "$JS.API.STREAM.INFO.KEEP")
    await nc.close()
    assert srv.stop() == 0

    srv2 = make_server(server_kind, *js_args(store))
    nc2 = await connect(srv2)
    try:
        after = await js_req(nc2, "$JS.API.STREAM.INFO.KEEP")
        assert after["config"] == before["config"]
        assert after["created"] == created["created"]
        assert {k: v for k, v in after["state"].items()} == before["state"]
        c = await js_req(nc2, "$JS.API.CONSUMER.INFO.KEEP.C")
        assert c["config"]["durable_name"] == "C" and c["num_pending"] == 3, c
    finally:
        await nc2.close()


async def fetch_seqs(psub, n: int) -> list[int]:
    """Stream sequences of the next n messages of a pull consumer (a removed message delivered by
    mistake shows up among them)."""
    got: list[int] = []
    deadline = asyncio.get_running_loop().time() + 10
    while len(got) < n and asyncio.get_running_loop().time() < deadline:
        try:
            batch = await psub.fetch(min(64, n - len(got)), timeout=2)
        except nats.errors.TimeoutError:
            continue
        got += [m.metadata.sequence.stream for m in batch]
    return got


async def test_consumer_after_restart_skips_messages_removed_while_reading(server_kind, make_server, tmp_path):
    """After a restart a consumer reads the stream from storage in batches (read-ahead); messages
    deleted or purged after it started must still never be delivered, whatever it had read."""
    store = tmp_path / "store"
    srv = make_server(server_kind, *js_args(store))
    nc = await connect(srv)
    js = nc.jetstream()
    await js.add_stream(name="RA", subjects=["ra.>"])
    for i in range(1, 301):
        await js.publish(f"ra.{i % 3}", f"m{i}".encode())
    await nc.close()
    assert srv.stop() == 0

    srv2 = make_server(server_kind, *js_args(store))
    nc2 = await connect(srv2)
    try:
        js2 = nc2.jetstream()
        psub = await js2.pull_subscribe("ra.>", "reader", config=ConsumerConfig(ack_policy=AckPolicy.NONE))
        first = [m.metadata.sequence.stream for m in await psub.fetch(5, timeout=5)]
        assert first == [1, 2, 3, 4, 5]
        for seq in (6, 7, 50, 299):
            await js2.delete_msg("RA", seq)
        await js2.purge_stream("RA", subject="ra.2")  # every 3rd message from seq 2 on
        expected = [s for s in range(6, 301) if s not in (6, 7, 50, 299) and s % 3 != 2]
        assert await fetch_seqs(psub, len(expected)) == expected
        assert (await psub.consumer_info()).num_pending == 0
    finally:
        await nc2.close()


async def test_last_per_subject_skips_messages_removed_while_delivering(server_kind, make_server, tmp_path):
    """DeliverLastPerSubject over many subjects is read from storage in ranges; messages deleted
    after delivery started are never delivered."""
    from nats.js.api import DeliverPolicy

    srv = make_server(server_kind, *js_args(tmp_path / "store"))
    nc = await connect(srv)
    try:
        js = nc.jetstream()
        await js.add_stream(name="LPS", subjects=["lps.>"], max_msgs_per_subject=1)
        for i in range(1, 301):
            await js.publish(f"lps.{i}", b"v")
        psub = await js.pull_subscribe("lps.>", "w", config=ConsumerConfig(
            ack_policy=AckPolicy.NONE, deliver_policy=DeliverPolicy.LAST_PER_SUBJECT))
        first = [m.metadata.sequence.stream for m in await psub.fetch(5, timeout=5)]
        assert first == [1, 2, 3, 4, 5]
        for seq in (10, 11, 200):
            await js.delete_msg("LPS", seq)
        expected = [s for s in range(6, 301) if s not in (10, 11, 200)]
        assert await fetch_seqs(psub, len(expected)) == expected
        assert (await psub.consumer_info()).num_pending == 0
    finally:
        await nc.close()


async def test_js_sync_always_delivers_every_message_in_order(server_kind, make_server, tmp_path):
    # With sync_interval: always, PubAcks and deliveries wait for the fsync; a push consumer and a
    # waiting pull request must still get every message, in order, as soon as it is durable.
    srv = make_server(server_kind, *store_args(tmp_path / "store", "always"))
    nc = await connect(srv)
    try:
        js = nc.jetstream(publish_async_max_pending=500)
        await js.add_stream(name="SA", subjects=["sa.>"])
        got: list[int] = []
        done = asyncio.Event()
        n = 3000

        async def cb(m):
            got.append(m.metadata.sequence.stream)
            if len(got) == n:
                done.set()

        await js.subscribe("sa.>", cb=cb, manual_ack=False, config=ConsumerConfig(ack_policy=AckPolicy.NONE))
        await js.add_consumer("SA", ConsumerConfig(durable_name="puller", ack_policy=AckPolicy.EXPLICIT))
        inbox = nc.new_inbox()
        waiting = await nc.subscribe(inbox)
        await nc.publish("$JS.API.CONSUMER.MSG.NEXT.SA.puller", b'{"batch":1,"expires":10000000000}', reply=inbox)
        # The request is waiting before anything is stored (nats-server registers it on another
        # goroutine: asked until it shows, for at most 10 s).
        deadline = time.monotonic() + 10
        while (await js.consumer_info("SA", "puller")).num_waiting != 1:
            if time.monotonic() > deadline:
                pytest.fail("the pull request never showed as waiting")
            await asyncio.sleep(0.01)
        futs = [await js.publish_async(f"sa.{i % 3}", str(i).encode()) for i in range(n)]
        acks = [await f for f in futs]
        assert [a.seq for a in acks] == list(range(1, n + 1))
        m = await waiting.next_msg(timeout=10)
        assert m.data == b"0" and m.reply.split(".")[5] == "1", (m.subject, m.reply)  # stream seq 1
        await asyncio.wait_for(done.wait(), 10)
        assert got == list(range(1, n + 1))
    finally:
        await nc.close()


async def test_sourced_stream_keeps_messages_with_a_ttl_past_int64_ns(server_kind, make_server, tmp_path):
    # A TTL of 9223372037 s is more ns than int64 holds: it wrapped negative here, the sourcing
    # stream then failed to store the whole batch holding it (and said lag 0).
    srv = make_server(server_kind, *js_args(tmp_path / "store"))
    nc = await connect(srv)
    try:
        js = nc.jetstream()
        await js.add_stream(name="S", subjects=["s.>"], allow_msg_ttl=True)
        await js.add_stream(name="ZZ", sources=[StreamSource(name="S")])
        for i in range(30):
            hdrs = {"Nats-TTL": "9223372037"} if i == 15 else None
            await js.publish(f"s.{i}", b"x", headers=hdrs)
        # The copy is asynchronous (nats-server starts its source consumer after a while): asked
        # until it is complete, for at most 20 s.
        deadline = time.monotonic() + 20
        while (await js.stream_info("ZZ")).state.messages < 30 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert (await js.stream_info("S")).state.messages == 30
        assert (await js.stream_info("ZZ")).state.messages == 30
    finally:
        await nc.close()
