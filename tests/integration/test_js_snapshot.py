"""Stream snapshots and restores ($JS.API.STREAM.SNAPSHOT / RESTORE): `nats stream backup` and
`nats stream restore` round trips on both servers (messages with their sequences, times, headers
and gaps; a durable consumer with its pending acks), the chunk flow control, the API errors
(differential), and the restore refusing foreign or damaged backups without leaving a stream."""

import asyncio
import json
import os
import subprocess

import nats
import pytest

from conftest import IO_TIMEOUT, assert_same, js_args, js_norm, js_req, nats_cli_env

pytestmark = pytest.mark.timeout(120)

STREAM = "ORDERS"


@pytest.fixture
def cli(tmp_path):
    binary, env = nats_cli_env(tmp_path)

    def run(srv, *args, ok=True):
        r = subprocess.run([binary, "--no-context", "-s", srv.url, *args], capture_output=True, timeout=60,
                           env=env, stdin=subprocess.DEVNULL)
        if ok:
            assert r.returncode == 0, f"nats {' '.join(args)} -> {r.returncode}\n{r.stdout.decode()}\n{r.stderr.decode()}"
        return r

    return run


async def connect(srv):
    return await nats.connect(servers=[srv.url], allow_reconnect=False, connect_timeout=IO_TIMEOUT)


async def fill(nc):
    """50 messages on 5 subjects with headers; seqs 1-5 purged, 9 and 20 deleted; a durable pull
    consumer that fetched 10 and acked 3 of them (one out of order) and nak'ed one."""
    js = nc.jetstream()
    await js.add_stream(name=STREAM, subjects=["orders.>"])
    for i in range(1, 51):
        await js.publish(f"orders.{i % 5}", f"order {i}".encode() * (i % 7 + 1), headers={"X-Seq": str(i)})
    await js_req(nc, f"$JS.API.STREAM.PURGE.{STREAM}", {"seq": 6})
    for seq in (9, 20):
        await js_req(nc, f"$JS.API.STREAM.MSG.DELETE.{STREAM}", {"seq": seq})
    await js_req(nc, f"$JS.API.CONSUMER.DURABLE.CREATE.{STREAM}.PULL",
                 {"stream_name": STREAM, "config": {"durable_name": "PULL", "ack_policy": "explicit",
                                                    "ack_wait": 3600 * 10**9, "deliver_policy": "all"}})
    sub = await js.pull_subscribe_bind("PULL", stream=STREAM)
    msgs = await sub.fetch(10, timeout=IO_TIMEOUT)
    assert len(msgs) == 10
    for m in (msgs[0], msgs[1], msgs[5]):
        await m.ack_sync()
    await msgs[7].nak()
    await asyncio.sleep(0)  # the nak is fire-and-forget; the consumer info below orders after it


async def record(nc) -> dict:
    """What a client sees of the stream: its state, every message, the consumer's counters."""
    info = await js_req(nc, f"$JS.API.STREAM.INFO.{STREAM}")
    st = info["state"]
    out = {"state": {k: st.get(k) for k in ("messages", "bytes", "first_seq", "last_seq", "num_deleted",
                                              "num_subjects", "first_ts", "last_ts", "consumer_count")}}
    msgs = []
    for seq in range(st["first_seq"], st["last_seq"] + 1):
        r = await js_req(nc, f"$JS.API.STREAM.MSG.GET.{STREAM}", {"seq": seq})
        msgs.append(r.get("message", r.get("error")))
    out["messages"] = msgs
    ci = await js_req(nc, f"$JS.API.CONSUMER.INFO.{STREAM}.PULL")
    out["consumer"] = {k: ci.get(k) for k in ("num_ack_pending", "num_redelivered", "num_pending", "num_waiting")}
    out["consumer"]["delivered"] = {k: v for k, v in ci["delivered"].items() if k != "last_active"}
    out["consumer"]["ack_floor"] = {k: v for k, v in ci["ack_floor"].items() if k != "last_active"}
    out["consumer"]["config"] = {k: ci["config"].get(k) for k in ("durable_name", "ack_policy", "ack_wait",
                                                                   "deliver_policy", "filter_subject")}
    return out


async def test_cli_backup_and_restore_round_trip(js_server, cli, tmp_path):
    nc = await connect(js_server)
    try:
        await fill(nc)
        before = await record(nc)
    finally:
        await nc.close()
    assert before["state"]["first_seq"] == 6 and before["state"]["num_deleted"] == 2
    assert before["consumer"]["num_ack_pending"] == 7

    backup = tmp_path / "backup"
    out = cli(js_server, "stream", "backup", STREAM, str(backup)).stdout.decode()
    assert "Received" in out and (backup / "backup.json").exists() and (backup / "stream.tar.s2").stat().st_size > 0
    meta = json.loads((backup / "backup.json").read_text())
    assert meta["config"]["name"] == STREAM and meta["state"]["messages"] == before["state"]["messages"]
    cli(js_server, "stream", "rm", STREAM, "-f")
    cli(js_server, "stream", "restore", str(backup))

    nc = await connect(js_server)
    try:
        after = await record(nc)
        # The restored consumer still holds its unacked deliveries: the next fetch gets the next
        # message, not a redelivery (ack_wait is an hour).
        sub = await nc.jetstream().pull_subscribe_bind("PULL", stream=STREAM)
        nxt = await sub.fetch(1, timeout=IO_TIMEOUT)
        assert nxt[0].metadata.sequence.stream == before["consumer"]["delivered"]["stream_seq"] + 1
        assert nxt[0].metadata.num_delivered == 1
    finally:
        await nc.close()
    assert after == before


async def test_restored_stream_survives_a_restart(make_server, cli, tmp_path):
    store = tmp_path / "store"
    srv = make_server("jetbroker", *js_args(store))
    nc = await connect(srv)
    try:
        await fill(nc)
        before = await record(nc)
    finally:
        await nc.close()
    backup = tmp_path / "backup"
    cli(srv, "stream", "backup", STREAM, str(backup))
    cli(srv, "stream", "rm", STREAM, "-f")
    cli(srv, "stream", "restore", str(backup))
    srv.stop()
    srv = make_server("jetbroker", *js_args(store))
    nc = await connect(srv)
    try:
        assert await record(nc) == before
    finally:
        await nc.close()


async def snapshot_chunks(nc, body: dict, ack: bool, settle: float):
    """Requests a snapshot into a fresh inbox; returns (response, chunk messages, end message)."""
    inbox = nc.new_inbox()
    chunks, end = [], asyncio.get_running_loop().create_future()

    async def on_msg(m):
        if not m.data:
            if not end.done():
                end.set_result(m)
            return
        chunks.append(m)
        if ack and m.reply:
            await nc.publish(m.reply, b"")

    # Subscribed before the request, so the first chunk cannot be missed whatever the server waits for.
    sub = await nc.subscribe(inbox, cb=on_msg)
    resp = await js_req(nc, f"$JS.API.STREAM.SNAPSHOT.{STREAM}", {"deliver_subject": inbox, **body})
    try:
        last = await asyncio.wait_for(end, settle)
    except asyncio.TimeoutError:
        last = None
    await sub.unsubscribe()
    return resp, chunks, last


async def test_snapshot_chunks_are_flow_controlled(js_pair):
    """A window of 4 chunks of 4 KiB over ~300 KiB that does not compress: without acks exactly 4
    chunks arrive, then after 5 s `408 No Flow Response`; with acks every chunk arrives, all full
    ones with an ack subject `$JS.SNAPSHOT.ACK.<stream>.<id>.<size>.<index>`, a last partial one
    without, and a `204` ends the snapshot."""
    payloads = [os.urandom(1024) for _ in range(300)]

    async def scenario(nc, srv):
        js = nc.jetstream()
        await js.add_stream(name=STREAM, subjects=["big.>"])
        for i, p in enumerate(payloads):
            await js.publish(f"big.{i % 3}", p)
        t = []
        resp, chunks, last = await snapshot_chunks(nc, {"chunk_size": 4096, "window_size": 16384}, False, 9)
        t.append({"type": resp["type"], "config_name": resp["config"]["name"], "messages": resp["state"]["messages"]})
        t.append({"unacked_chunks": len(chunks), "sizes": sorted({len(m.data) for m in chunks}),
                  "end": last.headers if last else None})
        resp, chunks, last = await snapshot_chunks(nc, {"chunk_size": 4096, "window_size": 16384}, True, 20)
        full = [m for m in chunks if len(m.data) == 4096]
        parts = [m.reply.split(".") for m in full]
        t.append({"acked_many_chunks": len(full) > 75, "end_status": last.headers if last else None,
                  "only_the_last_is_partial": all(len(m.data) == 4096 for m in chunks[:-1]),
                  "partial_has_no_reply": all(not m.reply for m in chunks if len(m.data) < 4096),
                  "reply_prefix": sorted({".".join(p[:4]) for p in parts}),
                  "tokens": sorted({len(p) for p in parts}),
                  "size_tokens": sorted({p[-2] for p in parts}),
                  "indexes_in_order": [int(p[-1]) for p in parts] == list(range(1, len(full) + 1))})
        return t

    jb, ns = await run_pair(js_pair, scenario)
    assert jb[1]["unacked_chunks"] == 4 and jb[1]["end"] == {"Status": "408", "Description": "No Flow Response"}
    assert jb[2]["end_status"] == {"Status": "204"} and jb[2]["indexes_in_order"], jb
    assert_same(jb, ns, "snapshot flow control:")


async def run_pair(pair, scenario):
    out = []
    for srv in pair:
        nc = await connect(srv)
        try:
            out.append(await scenario(nc, srv))
        finally:
            await nc.close()
    return out[0], out[1]


async def test_snapshot_and_restore_errors(js_pair):
    async def scenario(nc, srv):
        js = nc.jetstream()
        await js.add_stream(name=STREAM, subjects=["orders.>"])
        await js.add_stream(name="MEM", subjects=["mem.>"], storage="memory")
        await js.publish("mem.1", b"x")
        inbox = nc.new_inbox()
        snap = f"$JS.API.STREAM.SNAPSHOT.{STREAM}"
        rest = "$JS.API.STREAM.RESTORE"
        t = []
        for subject, body in [
            (snap, b""),
            (snap, b"{}"),
            ("$JS.API.STREAM.SNAPSHOT.NOPE", {"deliver_subject": inbox}),
            (snap, b"{not json"),
            (snap, {"deliver_subject": ""}),
            (snap, {"deliver_subject": "a.*"}),
            (snap, {"deliver_subject": "a b"}),
            ("$JS.API.STREAM.SNAPSHOT.MEM", {"deliver_subject": inbox}),
            (f"{rest}.R1", b""),
            (f"{rest}.R1", b"[1]"),
            (f"{rest}.R1", {"config": {"name": "R2", "subjects": ["r1"]}}),
            (f"{rest}.{STREAM}", {"config": {"name": STREAM, "subjects": ["elsewhere"]}}),
            (f"{rest}.R1", {"config": {"name": "R1", "subjects": ["orders.x"]}}),
            (f"{rest}.R1", {"config": {"name": "R1", "subjects": ["r1"], "retention": "bogus"}}),
            (f"{rest}.R1", {"config": {"name": "R1", "subjects": ["r1"], "max_msgs_per_subject": -5, "storage": "file"}}),
        ]:
            r = js_norm(await js_req(nc, subject, body), drop_desc_for=(10025,))
            if r.get("deliver_subject"):
                assert r["deliver_subject"].startswith("$JS.SNAPSHOT.RESTORE.R1."), r
                r["deliver_subject"] = "<restore subject>"
            t.append(r)
        return t

    jb, ns = await run_pair(js_pair, scenario)
    assert_same(jb, ns, "snapshot/restore errors:")


def backup_and_remove(cli, srv, tmp_path):
    """`nats stream backup` of STREAM, then `nats stream rm`; returns (backup.json, stream.tar.s2 bytes)."""
    backup = tmp_path / "backup"
    cli(srv, "stream", "backup", STREAM, str(backup))
    cli(srv, "stream", "rm", STREAM, "-f")
    return json.loads((backup / "backup.json").read_text()), (backup / "stream.tar.s2").read_bytes()


async def restore_raw(nc, name: str, config: dict, data: bytes) -> dict:
    """The restore protocol as jsm.go speaks it: RESTORE, then the data in chunks as requests to
    the deliver subject, then an empty request whose answer is the stream_create_response."""
    resp = await js_req(nc, f"$JS.API.STREAM.RESTORE.{name}", {"config": config})
    assert "deliver_subject" in resp, resp
    for i in range(0, len(data), 64 * 1024):
        r = await nc.request(resp["deliver_subject"], data[i:i + 64 * 1024], timeout=IO_TIMEOUT)
        assert r.data == b"", r.data
    r = await nc.request(resp["deliver_subject"], b"", timeout=30)
    return json.loads(r.data)


@pytest.mark.parametrize("damage", ["nats-server backup", "flipped byte", "truncated", "not s2"])
async def test_restore_refuses_foreign_or_damaged_backups(make_server, cli, tmp_path, damage):
    jb = make_server("jetbroker", *js_args(tmp_path / "jb"))
    if damage == "nats-server backup":
        ns = make_server("nats-server", *js_args(tmp_path / "ns"))
        src = ns
    else:
        src = jb
    nc = await connect(src)
    try:
        await nc.jetstream().add_stream(name=STREAM, subjects=["orders.>"])
        for i in range(200):
            await nc.jetstream().publish(f"orders.{i % 4}", b"payload %d" % i * 20)
    finally:
        await nc.close()
    meta, data = backup_and_remove(cli, src, tmp_path)
    if damage == "flipped byte":
        data = data[:200] + bytes([data[200] ^ 0x55]) + data[201:]
    elif damage == "truncated":
        data = data[: len(data) // 2]
    elif damage == "not s2":
        data = b"this is not a snapshot at all" * 100

    nc = await connect(jb)
    try:
        r = await restore_raw(nc, STREAM, meta["config"], data)
        assert r["type"] == "io.nats.jetstream.api.v1.stream_create_response"
        assert r["error"]["err_code"] == 10062 and r["error"]["code"] == 500, r
        assert r["error"]["description"].startswith("restore failed: "), r
        # Nothing is left behind: the stream does not exist, and the same backup name can be used again.
        info = await js_req(nc, f"$JS.API.STREAM.INFO.{STREAM}")
        assert info["error"]["err_code"] == 10059, info
        again = await js_req(nc, f"$JS.API.STREAM.RESTORE.{STREAM}", {"config": meta["config"]})
        assert "deliver_subject" in again, again
    finally:
        await nc.close()
    if damage == "nats-server backup":
        assert "nats-server" in r["error"]["description"], r
    elif damage == "flipped byte":
        assert "checksum" in r["error"]["description"] or "decode" in r["error"]["description"], r


async def test_restore_of_a_stream_that_exists_meanwhile_fails_cleanly(js_jetbroker, cli, tmp_path):
    """The stream is created by someone else while the restore's data is in flight: the final
    answer is an error and the other stream is untouched."""
    nc = await connect(js_jetbroker)
    try:
        js = nc.jetstream()
        await js.add_stream(name=STREAM, subjects=["orders.>"])
        await js.publish("orders.1", b"one")
    finally:
        await nc.close()
    meta, data = backup_and_remove(cli, js_jetbroker, tmp_path)
    nc = await connect(js_jetbroker)
    try:
        resp = await js_req(nc, f"$JS.API.STREAM.RESTORE.{STREAM}", {"config": meta["config"]})
        await nc.jetstream().add_stream(name=STREAM, subjects=["other.>"])
        assert (await nc.request(resp["deliver_subject"], data, timeout=IO_TIMEOUT)).data == b""
        r = json.loads((await nc.request(resp["deliver_subject"], b"", timeout=IO_TIMEOUT)).data)
        assert r["error"]["err_code"] == 10130, r
        info = await js_req(nc, f"$JS.API.STREAM.INFO.{STREAM}")
        assert info["config"]["subjects"] == ["other.>"] and info["state"]["messages"] == 0
    finally:
        await nc.close()


async def test_snapshot_of_a_stream_deleted_midway_ends_with_an_error(js_jetbroker):
    nc = await connect(js_jetbroker)
    try:
        js = nc.jetstream()
        await js.add_stream(name=STREAM, subjects=["big.>"])
        for i in range(100):
            await js.publish("big.x", os.urandom(1024))
        inbox = nc.new_inbox()
        chunks, end = [], asyncio.get_running_loop().create_future()

        async def on_msg(m):
            if m.data:
                chunks.append(m)
            elif not end.done():
                end.set_result(m)

        await nc.subscribe(inbox, cb=on_msg)
        await js_req(nc, f"$JS.API.STREAM.SNAPSHOT.{STREAM}",
                     {"deliver_subject": inbox, "chunk_size": 4096, "window_size": 8192})
        for _ in range(100):
            if len(chunks) == 2:
                break
            await asyncio.sleep(0.01)
        assert len(chunks) == 2
        await js.delete_stream(STREAM)
        await nc.publish(chunks[0].reply, b"")  # a free slot: the next read finds no stream
        last = await asyncio.wait_for(end, 3)
        assert last.headers == {"Status": "500", "Description": "stream deleted"}, last.headers
        assert (await js_req(nc, "$JS.API.INFO"))["streams"] == 0
    finally:
        await nc.close()
