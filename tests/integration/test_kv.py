"""Key-Value buckets through nats-py's key_value API (reference jetstream.md §8.1, §5.3/5.4).

KV is a client convention on top of a stream `KV_<bucket>`; what the server must get right is the
stream config it accepts and echoes, per-subject history trimming, the expected-last-subject-sequence
check and its text, rollup purges, direct/non-direct gets, last-per-subject ordered consumers with a
correct `num_pending`, per-message TTL and subject delete markers.

Two kinds of test:
  * `js_server` (parametrised over jetbroker and nats-server): behaviour asserted explicitly, so each
    server gets its own pass/fail;
  * `js_pair` + `run_both`: the same scenario on both servers, transcripts (stream info, watch
    sequences, errors) compared after normalising timestamps/ids/versions.

Known jetbroker gaps are not hidden: the tests assert nats-server's behaviour (republish, for one,
is refused by jetbroker with 500/10052 "stream republish is not supported by this server").
nats-py 2.16's KV watch has no `updates_only`; deliver-policy-new watching is covered by
`nats kv watch --updates` (test_kv_cli.py) and the object store's `watch(updates_only=True)`.
"""

from __future__ import annotations

import asyncio
import json
import time

import nats
import nats.errors
import nats.js.errors as jse
import pytest
from nats.js.api import KeyValueConfig, RePublish, StorageType

from conftest import IO_TIMEOUT, assert_same, js_args, js_norm, js_req, run_both

pytestmark = pytest.mark.timeout(60)

W = 5.0  # watcher / update wait


# ---- helpers --------------------------------------------------------------------------------------


async def connect(srv, **kw):
    return await nats.connect(servers=[srv.url], allow_reconnect=False, connect_timeout=IO_TIMEOUT, **kw)


def err(e: BaseException) -> dict:
    """A comparable description of an exception raised by nats-py."""
    out = {"type": type(e).__name__}
    for k in ("code", "err_code", "description"):
        v = getattr(e, k, None)
        if v is not None:
            out[k] = v
    return out


def plain(v):
    """JSON-friendly, timestamp-free form of a nats-py result (entries, bytes, lists)."""
    if hasattr(v, "revision") and hasattr(v, "key"):
        return plain(entry(v))
    if isinstance(v, (bytes, bytearray)):
        return "b:" + v.decode("utf-8", "backslashreplace")
    if isinstance(v, (list, tuple)):
        return [plain(x) for x in v]
    if isinstance(v, dict):
        return {k: plain(x) for k, x in v.items()}
    return v


async def attempt(coro):
    """Runs coro; returns {"ok": result} or {"error": err(e)}, JSON-friendly."""
    try:
        return {"ok": plain(await coro)}
    except (nats.errors.Error, jse.Error) as e:
        return {"error": err(e)}


def entry(e) -> tuple | None:
    """A watch/history entry without its timestamp."""
    if e is None:
        return None
    return (e.key, e.value, e.revision, e.delta, e.operation)


async def initial(watcher, limit: int = 1000) -> list:
    """Entries up to (excluding) the initial-state end marker None."""
    out = []
    for _ in range(limit):
        e = await watcher.updates(timeout=W)
        if e is None:
            return out
        out.append(entry(e))
    raise AssertionError(f"no end marker after {limit} entries: {out[-5:]}")


async def next_n(watcher, n: int) -> list:
    return [entry(await watcher.updates(timeout=W)) for _ in range(n)]


async def no_more(watcher, quiet: float = 0.3) -> None:
    """Asserts nothing further arrives in a short window (only used after the expected items came)."""
    with pytest.raises(nats.errors.TimeoutError):
        e = await watcher.updates(timeout=quiet)
        pytest.fail(f"unexpected watch update {entry(e)}")


async def stream_info_raw(nc, stream: str, keep_req_level: bool = False) -> dict:
    """Normalised STREAM.INFO. `_nats.req.level` is dropped unless asked for: it has its own test
    (test_kv_stream_metadata_required_api_level) so that one difference does not mask others."""
    si = js_norm(await js_req(nc, f"$JS.API.STREAM.INFO.{stream}"))
    md = si.get("config", {}).get("metadata")
    if not keep_req_level and isinstance(md, dict):
        md.pop("_nats.req.level", None)
    return si


async def wait_until(pred, timeout: float, what: str):
    """Polls an async predicate until truthy (event sources here are server timers: TTL, max_age)."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = await pred()
        if last:
            return last
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last={last!r})")


# ---- bucket lifecycle -----------------------------------------------------------------------------


async def test_kv_bind_missing_bucket_and_delete(js_server, nats_connect):
    nc = await nats_connect(js_server)
    js = nc.jetstream()
    with pytest.raises(jse.BucketNotFoundError):
        await js.key_value("NOPE")

    kv = await js.create_key_value(bucket="LIFE", history=3)
    bound = await js.key_value("LIFE")
    assert (await bound.put("a", b"1")) == 1
    assert (await kv.get("a")).value == b"1"
    st = await bound.status()
    assert st.bucket == "LIFE" and st.values == 1 and st.history == 3

    assert await js.delete_key_value("LIFE") is True
    with pytest.raises(jse.BucketNotFoundError):
        await js.key_value("LIFE")
    with pytest.raises(jse.NotFoundError) as ei:
        await js.delete_key_value("LIFE")
    assert ei.value.err_code == 10059
    await nc.close()


async def test_kv_create_bucket_twice_same_config_is_idempotent(js_server, nats_connect):
    nc = await nats_connect(js_server)
    js = nc.jetstream()
    await js.create_key_value(bucket="TWICE", history=2)
    await js.create_key_value(bucket="TWICE", history=2)  # identical config: no error
    with pytest.raises(jse.BadRequestError) as ei:
        await js.create_key_value(bucket="TWICE", history=4)
    assert ei.value.err_code == 10058  # stream name already in use with a different configuration
    await nc.close()


async def test_kv_bind_bucket_with_history_zero_is_bad_bucket(js_server, nats_connect):
    """key_value() rejects a KV_ stream whose max_msgs_per_subject < 1 (plain stream named like a bucket)."""
    nc = await nats_connect(js_server)
    js = nc.jetstream()
    await js.add_stream(name="KV_PLAIN", subjects=["$KV.PLAIN.>"])
    with pytest.raises(jse.BadBucketError):
        await js.key_value("PLAIN")
    await nc.close()


@pytest.mark.parametrize("direct", [True, False], ids=["direct", "msg-get"])
@pytest.mark.parametrize("storage", [StorageType.FILE, StorageType.MEMORY], ids=["file", "memory"])
async def test_kv_put_get_by_revision(js_server, nats_connect, direct, storage):
    nc = await nats_connect(js_server)
    js = nc.jetstream()
    kv = await js.create_key_value(bucket="PG", history=5, direct=direct, storage=storage)
    si = await js.stream_info("KV_PG")
    assert si.config.allow_direct is direct
    assert si.config.storage == storage

    assert await kv.put("a", b"one") == 1
    assert await kv.put("b.c", b"bee") == 2
    assert await kv.put("a", b"two") == 3
    assert await kv.put("a", b"") == 4  # empty value is a value, not a delete

    e = await kv.get("a")
    assert (e.key, e.value or b"", e.revision, e.bucket) == ("a", b"", 4, "PG")
    assert (await kv.get("a", revision=1)).value == b"one"
    assert (await kv.get("a", revision=3)).value == b"two"
    assert (await kv.get("b.c")).value == b"bee"
    with pytest.raises(jse.KeyNotFoundError):
        await kv.get("a", revision=2)  # revision 2 belongs to b.c
    with pytest.raises(jse.KeyNotFoundError):
        await kv.get("a", revision=99)
    with pytest.raises(jse.KeyNotFoundError):
        await kv.get("missing")
    await nc.close()


async def test_kv_history_trims_oldest_revisions(js_server, nats_connect):
    """history=10 and 50 puts to one key: history() returns revisions 41..50 (nats.py test)."""
    nc = await nats_connect(js_server)
    js = nc.jetstream()
    kv = await js.create_key_value(bucket="HIST", history=10)
    for i in range(50):
        await kv.put("k", f"v{i}".encode())
    h = await kv.history("k")
    assert [e.revision for e in h] == list(range(41, 51))
    assert [e.value for e in h] == [f"v{i}".encode() for i in range(40, 50)]
    assert [e.delta for e in h] == list(range(9, -1, -1))
    st = await kv.status()
    assert st.values == 10
    with pytest.raises(jse.KeyNotFoundError):
        await kv.get("k", revision=40)
    with pytest.raises(jse.NoKeysError):
        await kv.history("other")
    await nc.close()


async def test_kv_max_value_size(js_server, nats_connect):
    nc = await nats_connect(js_server)
    js = nc.jetstream()
    kv = await js.create_key_value(bucket="MVS", max_value_size=16)
    assert (await js.stream_info("KV_MVS")).config.max_msg_size == 16
    assert await kv.put("k", b"x" * 16) == 1
    with pytest.raises(jse.BadRequestError) as ei:
        await kv.put("k", b"x" * 17)
    assert ei.value.err_code == 10054
    assert ei.value.description == "message size exceeds maximum allowed"
    await nc.close()


# ---- create / update / delete / purge -------------------------------------------------------------


async def test_kv_create_only_if_absent_and_recreate_after_delete(js_server, nats_connect):
    nc = await nats_connect(js_server)
    js = nc.jetstream()
    kv = await js.create_key_value(bucket="CR", history=5)
    assert await kv.create("k", b"v1") == 1
    with pytest.raises(jse.KeyWrongLastSequenceError) as ei:
        await kv.create("k", b"again")
    assert ei.value.description == "wrong last sequence: 1"

    await kv.delete("k")  # rev 2
    with pytest.raises(jse.KeyNotFoundError):
        await kv.get("k")
    assert await kv.create("k", b"v2") == 3  # retried with the DEL marker's revision
    assert (await kv.get("k")).value == b"v2"

    await kv.purge("k")  # rev 4, older revisions gone
    with pytest.raises(jse.KeyNotFoundError):
        await kv.get("k")
    assert await kv.create("k", b"v3") == 5
    assert [(e.revision, e.operation) for e in await kv.history("k")] == [(4, "PURGE"), (5, None)]
    await nc.close()


async def test_kv_update_compare_and_set(js_server, nats_connect):
    nc = await nats_connect(js_server)
    js = nc.jetstream()
    kv = await js.create_key_value(bucket="UPD", history=3)
    assert await kv.put("k", b"a") == 1
    assert await kv.put("other", b"o") == 2
    assert await kv.update("k", b"b", last=1) == 3
    with pytest.raises(jse.KeyWrongLastSequenceError) as ei:
        await kv.update("k", b"c", last=1)
    assert ei.value.description == "wrong last sequence: 3"
    # the raw API error under KeyWrongLastSequenceError
    with pytest.raises(jse.BadRequestError) as ei:
        await js.publish("$KV.UPD.k", b"c", headers={"Nats-Expected-Last-Subject-Sequence": "1"})
    assert (ei.value.code, ei.value.err_code, ei.value.description) == (400, 10071, "wrong last sequence: 3")
    with pytest.raises(jse.KeyWrongLastSequenceError) as ei:
        await kv.update("nothing", b"c", last=7)
    assert ei.value.description == "wrong last sequence: 0"
    # the other key's sequence is irrelevant: the check is per subject
    assert await kv.update("k", b"d", last=3) == 4
    # delete with an expected revision
    with pytest.raises(jse.BadRequestError) as ei:
        await kv.delete("k", last=3)
    assert ei.value.err_code == 10071 and ei.value.description == "wrong last sequence: 4"
    assert await kv.delete("k", last=4) is True
    with pytest.raises(jse.KeyNotFoundError):
        await kv.get("k")
    await nc.close()


async def test_kv_delete_and_purge_markers(js_server, nats_connect):
    nc = await nats_connect(js_server)
    js = nc.jetstream()
    kv = await js.create_key_value(bucket="DP", history=5)
    await kv.put("k", b"1")
    await kv.put("k", b"2")
    await kv.put("j", b"x")
    await kv.delete("k")

    with pytest.raises(jse.KeyDeletedError) as ei:
        await kv._get("k")  # the raw lookup tells the marker apart
    assert ei.value.op == "DEL" and ei.value.entry.revision == 4 and not ei.value.entry.value
    with pytest.raises(jse.KeyNotFoundError):
        await kv.get("k")
    hist = await kv.history("k")
    assert [(e.value, e.revision, e.operation) for e in hist] == [(b"1", 1, None), (b"2", 2, None), (b"", 4, "DEL")]
    # the marker still reads back through get-by-revision as a deleted entry
    raw = await js.get_msg("KV_DP", seq=4)
    assert raw.headers.get("KV-Operation") == "DEL"

    await kv.purge("k")
    with pytest.raises(jse.KeyDeletedError) as ei:
        await kv._get("k")
    assert ei.value.op == "PURGE" and ei.value.entry.revision == 5
    hist = await kv.history("k")
    assert [(e.revision, e.operation) for e in hist] == [(5, "PURGE")]
    raw = await js.get_msg("KV_DP", seq=5)
    assert raw.headers.get("KV-Operation") == "PURGE" and raw.headers.get("Nats-Rollup") == "sub"
    st = await kv.status()
    assert st.values == 2  # j + purge marker
    assert (await kv.get("j")).value == b"x"
    await nc.close()


async def test_kv_purge_deletes(js_server, nats_connect):
    nc = await nats_connect(js_server)
    js = nc.jetstream()
    kv = await js.create_key_value(bucket="PD", history=5)
    await kv.put("a", b"1")
    await kv.put("a", b"2")
    await kv.delete("a")
    await kv.put("b", b"keep")
    await kv.put("c", b"1")
    await kv.purge("c")
    assert (await kv.status()).values == 6 - 1  # purge of c removed c=1

    assert await kv.purge_deletes(olderthan=0) is True
    st = await kv.status()
    assert st.values == 1
    with pytest.raises(jse.NoKeysError):
        await kv.history("a")
    with pytest.raises(jse.NoKeysError):
        await kv.history("c")
    assert await kv.keys() == ["b"]

    # a recent marker with the default olderthan (30 min) is kept (keep=1)
    await kv.put("d", b"1")
    await kv.put("d", b"2")
    await kv.delete("d")
    await kv.purge_deletes()
    assert [(e.value, e.operation) for e in await kv.history("d")] == [(b"", "DEL")]
    await nc.close()


# ---- keys / history / watch -----------------------------------------------------------------------


async def test_kv_keys_and_filters(js_server, nats_connect):
    nc = await nats_connect(js_server)
    js = nc.jetstream()
    kv = await js.create_key_value(bucket="KEYS", history=2)
    with pytest.raises(jse.NoKeysError):
        await kv.keys()
    await kv.put("a", b"1")
    await kv.put("b.c", b"2")
    await kv.put("b.d", b"3")
    await kv.put("e", b"4")
    await kv.put("a", b"5")
    await kv.delete("e")
    await kv.put("f", b"6")
    await kv.purge("f")
    assert await kv.keys() == ["b.c", "b.d", "a"]  # last-per-subject in stream order
    assert sorted(await kv.keys(filters=["b."])) == ["b.c", "b.d"]
    assert await kv.keys(filters=["a"]) == ["a"]
    await nc.close()


async def test_kv_keys_meta_only_carries_no_value(js_server, nats_connect):
    nc = await nats_connect(js_server)
    js = nc.jetstream()
    kv = await js.create_key_value(bucket="META", history=1)
    await kv.put("a", b"payload")
    await kv.delete("b")
    w = await kv.watchall(meta_only=True)
    got = await initial(w)
    assert got == [("a", b"", 1, 1, None), ("b", b"", 2, 0, "DEL")]
    await w.stop()
    await nc.close()


async def test_kv_watch_empty_bucket_end_marker_then_updates(js_server, nats_connect):
    nc = await nats_connect(js_server)
    js = nc.jetstream()
    kv = await js.create_key_value(bucket="WE", history=5)
    w = await kv.watchall()
    assert await w.updates(timeout=W) is None  # num_pending 0 right after create
    await kv.put("a", b"1")
    await kv.delete("a")
    await kv.put("b.x", b"2")
    await kv.purge("b.x")
    got = await next_n(w, 4)
    assert got == [("a", b"1", 1, 0, None), ("a", b"", 2, 0, "DEL"), ("b.x", b"2", 3, 0, None),
                   ("b.x", b"", 4, 0, "PURGE")]
    await no_more(w)
    await w.stop()
    await nc.close()


async def test_kv_watch_variants(js_server, nats_connect):
    nc = await nats_connect(js_server)
    js = nc.jetstream()
    kv = await js.create_key_value(bucket="WV", history=5)
    await kv.put("a", b"1")
    await kv.put("b.x", b"2")
    await kv.put("a", b"3")
    await kv.put("b.y", b"4")
    await kv.delete("b.y")
    await kv.put("c", b"5")

    w = await kv.watchall()
    assert await initial(w) == [("b.x", b"2", 2, 3, None), ("a", b"3", 3, 2, None), ("b.y", b"", 5, 1, "DEL"),
                                ("c", b"5", 6, 0, None)]
    w2 = await kv.watchall(include_history=True)
    assert [e[2] for e in await initial(w2)] == [1, 2, 3, 4, 5, 6]
    w3 = await kv.watchall(ignore_deletes=True)
    assert [e[0] for e in await initial(w3)] == ["b.x", "a", "c"]
    w4 = await kv.watch("b.*")
    assert await initial(w4) == [("b.x", b"2", 2, 1, None), ("b.y", b"", 5, 0, "DEL")]
    w5 = await kv.watch("a", include_history=True)
    assert await initial(w5) == [("a", b"1", 1, 1, None), ("a", b"3", 3, 0, None)]

    await kv.put("b.z", b"6")
    assert await next_n(w, 1) == [("b.z", b"6", 7, 0, None)]
    assert await next_n(w4, 1) == [("b.z", b"6", 7, 0, None)]
    await kv.put("a", b"7")
    assert await next_n(w5, 1) == [("a", b"7", 8, 0, None)]
    await no_more(w4)
    for x in (w, w2, w3, w4, w5):
        await x.stop()
    await nc.close()


async def test_kv_status(js_server, nats_connect):
    nc = await nats_connect(js_server)
    js = nc.jetstream()
    kv = await js.create_key_value(bucket="ST", history=7, ttl=3600, description="desc")
    await kv.put("a", b"1")
    await kv.put("b", b"2")
    st = await kv.status()
    assert (st.bucket, st.values, st.history, st.ttl) == ("ST", 2, 7, 3600.0)
    assert st.marker_ttl is None
    assert st.stream_info.config.description == "desc"
    assert st.stream_info.config.duplicate_window == 120.0
    kv2 = await js.create_key_value(bucket="ST2", ttl=30, limit_marker_ttl=60)
    st2 = await kv2.status()
    assert (st2.ttl, st2.marker_ttl, st2.history) == (30.0, 60.0, 1)
    assert st2.stream_info.config.duplicate_window == 30.0
    await nc.close()


# ---- TTL, markers, wildcard purge, odd keys -------------------------------------------------------


async def test_kv_create_with_msg_ttl_expires(js_server, nats_connect):
    nc = await nats_connect(js_server)
    js = nc.jetstream()
    kv = await js.create_key_value(bucket="TTL", history=1)
    t0 = time.monotonic()
    rev = await kv.create("short", b"v", msg_ttl=2)
    await kv.put("long", b"stays")
    raw = await js.get_msg("KV_TTL", seq=rev)
    assert raw.headers.get("Nats-TTL") == "2"
    assert (await kv.get("short")).value == b"v"

    async def gone():
        try:
            await kv.get("short")
            return False
        except jse.KeyNotFoundError:
            return True

    await wait_until(gone, 4.0, "TTL expiry of 'short'")
    elapsed = time.monotonic() - t0
    assert 1.5 <= elapsed <= 2.5 + 0.5, f"expired after {elapsed:.2f}s"
    assert (await kv.get("long")).value == b"stays"
    assert (await kv.status()).values == 1
    # the key can be created again
    assert await kv.create("short", b"again") == 3
    await nc.close()


async def test_kv_bucket_ttl_max_age(js_server, nats_connect):
    nc = await nats_connect(js_server)
    js = nc.jetstream()
    kv = await js.create_key_value(bucket="AGE", ttl=1)
    await kv.put("k", b"v")

    async def empty():
        return (await kv.status()).values == 0

    await wait_until(empty, 4.0, "max_age expiry")
    with pytest.raises(jse.KeyNotFoundError):
        await kv.get("k")
    await nc.close()


async def test_kv_limit_marker_ttl_marker_seen_by_history_watcher(js_server, nats_connect):
    nc = await nats_connect(js_server)
    js = nc.jetstream()
    kv = await js.create_key_value(bucket="MARK", history=1, limit_marker_ttl=3)
    assert (await kv.status()).marker_ttl == 3.0
    w = await kv.watch("age", include_history=True)
    assert await w.updates(timeout=W) is None
    rev = await kv.create("age", b"v", msg_ttl=1)
    first = await w.updates(timeout=W)
    assert (first.key, first.value, first.revision, first.operation) == ("age", b"v", rev, None)
    marker = await w.updates(timeout=6.0)
    assert marker is not None
    assert (marker.key, marker.value, marker.operation) == ("age", b"", "PURGE")
    assert marker.revision == rev + 1
    raw = await js.get_msg("KV_MARK", seq=marker.revision)
    assert raw.headers.get("Nats-Marker-Reason") == "MaxAge"
    assert raw.headers.get("Nats-TTL") == "3s"
    assert raw.headers.get("Nats-Rollup") == "sub"
    assert raw.data is None and raw.subject == "$KV.MARK.age"
    # nats-py's get() only looks at KV-Operation, so the marker reads back as an empty value
    got = await kv.get("age")
    assert (got.revision, got.value or b"") == (marker.revision, b"")
    assert (await kv.status()).values == 1
    await w.stop()
    await nc.close()


async def test_kv_limit_marker_on_bucket_max_age(js_server, nats_connect):
    """With limit_marker_ttl, a key removed by the bucket's max_age leaves a MaxAge marker (which
    then expires itself after the marker TTL)."""
    nc = await nats_connect(js_server)
    js = nc.jetstream()
    kv = await js.create_key_value(bucket="AGEMARK", history=1, ttl=1, limit_marker_ttl=2)
    w = await kv.watchall(include_history=True)
    assert await w.updates(timeout=W) is None
    rev = await kv.put("k", b"v")
    assert entry(await w.updates(timeout=W)) == ("k", b"v", rev, 0, None)
    marker = await w.updates(timeout=4.0)
    assert (marker.key, marker.value, marker.revision, marker.operation) == ("k", b"", rev + 1, "PURGE")
    raw = await js.get_msg("KV_AGEMARK", seq=marker.revision)
    assert raw.headers.get("Nats-Marker-Reason") == "MaxAge"
    assert raw.headers.get("Nats-TTL") == "2s"

    async def empty():
        return (await kv.status()).values == 0

    await wait_until(empty, 5.0, "marker expiry")
    await w.stop()


async def test_kv_wildcard_purge_with_validate_keys_off(js_server, nats_connect):
    """purge("hello.*") uses the wildcard as rollup filter: 102 messages become 2 (nats.py test)."""
    nc = await nats_connect(js_server)
    js = nc.jetstream()
    kv = await js.create_key_value(bucket="WILD", history=1)
    for i in range(100):
        await kv.put(f"hello.{i}", b"x")
    await kv.put("hello", b"base")
    await kv.put("other.1", b"y")
    assert (await kv.status()).values == 102
    await kv.purge("hello.*")
    st = await kv.status()
    assert st.values == 3  # hello, other.1 and the marker on $KV.WILD.hello.*
    assert (await kv.get("hello")).value == b"base"
    with pytest.raises(jse.KeyNotFoundError):
        await kv.get("hello.5")
    raw = await js.get_msg("KV_WILD", seq=103)
    assert raw.subject == "$KV.WILD.hello.*"
    await nc.close()


async def test_kv_odd_keys_with_validate_keys_off(js_server, nats_connect):
    nc = await nats_connect(js_server)
    js = nc.jetstream()
    kv = await js.create_key_value(bucket="ODD", history=1)
    with pytest.raises(jse.InvalidKeyError):
        await kv.put("x!", b"1")
    assert await kv.put("x!", b"bang", validate_keys=False) == 1
    assert (await kv.get("x!", validate_keys=False)).value == b"bang"
    assert await kv.put("a=b/c-d_e.f", b"ok") == 2
    assert (await kv.get("a=b/c-d_e.f")).value == b"ok"
    assert sorted(await kv.keys()) == ["a=b/c-d_e.f", "x!"]
    await nc.close()


async def test_kv_republish(js_server, nats_connect):
    """Republish on a KV bucket (jetstream.md §8.1): nats-server republishes `bar.$KV.B.hello.world`.

    jetbroker does not implement republish; it is expected to refuse the stream config. This test
    asserts nats-server's behaviour, so it fails on jetbroker (recorded as a known gap).
    """
    nc = await nats_connect(js_server)
    js = nc.jetstream()
    sub = await nc.subscribe("bar.>")
    kv = await js.create_key_value(bucket="RP", republish=RePublish(src=">", dest="bar.>"))
    await kv.put("hello.world", b"Hello World!")
    msg = await sub.next_msg(timeout=W)
    assert msg.subject == "bar.$KV.RP.hello.world"
    assert msg.data == b"Hello World!"
    assert msg.headers["Nats-Sequence"] == "1"
    assert msg.headers["Nats-Stream"] == "KV_RP"
    assert msg.headers["Nats-Last-Sequence"] == "0"
    await nc.close()


async def test_kv_msg_ttl_errors_and_forms(js_server, nats_connect):
    """Nats-TTL checks on a KV stream (allow_msg_ttl is always on): < 1 s or garbage -> 10165;
    Go durations and `never` are accepted; a stream without allow_msg_ttl refuses it with 10166."""
    nc = await nats_connect(js_server)
    js = nc.jetstream()
    await js.create_key_value(bucket="TTLF", history=2)
    for bad in ("0", "500ms", "abc", "-1", "-1s", "18446744073709551615", "9223372036854775808"):
        with pytest.raises(jse.BadRequestError) as ei:
            await js.publish("$KV.TTLF.k", b"v", headers={"Nats-TTL": bad})
        assert (ei.value.err_code, ei.value.description) == (10165, "invalid per-message TTL"), bad
    for good in ("1", "90s", "1h", "never", "NEVER", "9223372037", "2562047h"):
        pa = await js.publish("$KV.TTLF.g", b"v", headers={"Nats-TTL": good})
        raw = await js.get_msg("KV_TTLF", seq=pa.seq)
        assert raw.headers.get("Nats-TTL") == good
    await js.add_stream(name="NOTTL", subjects=["nottl"])
    with pytest.raises(jse.BadRequestError) as ei:
        await js.publish("nottl", b"v", headers={"Nats-TTL": "5"})
    assert (ei.value.err_code, ei.value.description) == (10166, "per-message TTL is disabled")


async def test_kv_msg_ttl_raised_to_marker_ttl_when_history_above_one(js_server, nats_connect):
    """jetstream.md §5.3: with subject_delete_marker_ttl set and max_msgs_per_subject != 1 a smaller
    Nats-TTL is raised to the marker TTL and the stored header rewritten."""
    nc = await nats_connect(js_server)
    js = nc.jetstream()
    kv = await js.create_key_value(bucket="RAISE", history=5, limit_marker_ttl=3)
    rev = await kv.create("k", b"v", msg_ttl=1)
    raw = await js.get_msg("KV_RAISE", seq=rev)
    assert raw.headers.get("Nats-TTL") == "3"  # nats-server 2.14 rewrites it as integer seconds
    rev = await kv.create("k2", b"v", msg_ttl=10)
    raw = await js.get_msg("KV_RAISE", seq=rev)
    assert raw.headers.get("Nats-TTL") == "10"


async def test_kv_purge_marker_with_ttl_expires(js_server, nats_connect):
    nc = await nats_connect(js_server)
    js = nc.jetstream()
    kv = await js.create_key_value(bucket="PTTL", history=3)
    await kv.put("k", b"1")
    await kv.put("k", b"2")
    await kv.purge("k", msg_ttl=1)
    assert (await kv.status()).values == 1
    raw = await js.get_msg("KV_PTTL", seq=3)
    assert raw.headers.get("Nats-TTL") == "1" and raw.headers.get("KV-Operation") == "PURGE"

    async def empty():
        return (await kv.status()).values == 0

    await wait_until(empty, 4.0, "purge marker expiry")
    with pytest.raises(jse.NoKeysError):
        await kv.history("k")


async def test_kv_max_bytes_discard_new(js_server, nats_connect):
    nc = await nats_connect(js_server)
    js = nc.jetstream()
    kv = await js.create_key_value(bucket="MB", history=1, max_bytes=400)
    n = 0
    with pytest.raises(jse.APIError) as ei:
        for n in range(100):
            await kv.put(f"k{n}", b"x" * 50)
    assert 1 <= n < 10
    assert (ei.value.err_code, ei.value.description) == (10077, "maximum bytes exceeded")
    # replacing an existing key's value also counts against max_bytes with discard new
    st = await kv.status()
    assert st.values == n


async def test_kv_watch_many_keys_flow_control(js_server, nats_connect, request):
    """2000 keys: more than the watcher's queue (256) and several flow-control windows."""
    if js_server.kind == "nats-server":
        # Seen once in CI (twice in a row, then not again): nats-server 2.14.9 ended this watch's
        # initial state at once, with no entries (0 of 2000). jetbroker is held to the test;
        # nats-server's run is kept for information.
        request.applymarker(pytest.mark.xfail(reason="nats-server intermittently ends the initial watch empty",
                                              strict=False))
    nc = await nats_connect(js_server)
    js = nc.jetstream()
    kv = await js.create_key_value(bucket="MANY", history=1)
    futs = [await js.publish_async(f"$KV.MANY.key.{i:05d}", b"v" * 200) for i in range(2000)]
    await asyncio.gather(*futs)
    await kv.put("key.00000", b"last")  # moves key 0 to the end
    w = await kv.watchall()
    got = await initial(w, limit=3000)
    assert len(got) == 2000
    assert [e[0] for e in got[:2]] == ["key.00001", "key.00002"] and got[-1][:3] == ("key.00000", b"last", 2001)
    assert [e[3] for e in got[-3:]] == [2, 1, 0]
    await w.stop()
    keys = await kv.keys()
    assert len(keys) == 2000


async def test_kv_delete_keeps_history_purge_drops_it(js_server, nats_connect):
    nc = await nats_connect(js_server)
    js = nc.jetstream()
    kv = await js.create_key_value(bucket="DK", history=10)
    for i in range(4):
        await kv.put("k", str(i).encode())
    await kv.delete("k")
    assert (await kv.status()).values == 5
    assert (await kv.get("k", revision=2)).value == b"1"
    await kv.purge("k")
    assert (await kv.status()).values == 1
    with pytest.raises(jse.KeyNotFoundError):
        await kv.get("k", revision=2)
    # a purge on a never-written key still leaves a marker
    await kv.purge("ghost")
    assert [e.operation for e in await kv.history("ghost")] == ["PURGE"]


# ---- differential: stream config, info, watch sequences ------------------------------------------

BUCKETS = [
    dict(bucket="DEF"),
    dict(bucket="H5", history=5, ttl=3600, direct=True),
    dict(bucket="NODIRECT", direct=False, storage=StorageType.MEMORY, max_value_size=1024),
    dict(bucket="DESC", description="a bucket", max_bytes=1 << 20, ttl=30),
    dict(bucket="MARKERS", history=1, ttl=90, limit_marker_ttl=60),
]


async def test_kv_stream_config_same_as_nats_server(js_pair):
    async def scenario(nc, srv):
        js = nc.jetstream()
        out = []
        for b in BUCKETS:
            await js.create_key_value(KeyValueConfig(**b))
            out.append(await stream_info_raw(nc, f"KV_{b['bucket']}"))
        out.append(js_norm(await js_req(nc, "$JS.API.STREAM.NAMES", {})))
        return out

    jb, ns = await run_both(js_pair, scenario)
    assert_same(jb, ns, "KV stream config / info:")


async def test_kv_stream_config_fields_nats_py_reads(js_server, nats_connect):
    """The read-back values nats.py's own tests assert (jetstream.md §8.1)."""
    nc = await nats_connect(js_server)
    js = nc.jetstream()
    await js.create_key_value(bucket="RB", history=5, ttl=3600, direct=True)
    cfg = (await js_req(nc, "$JS.API.STREAM.INFO.KV_RB"))["config"]
    expect = {
        "allow_rollup_hdrs": True, "deny_delete": True, "deny_purge": False, "discard": "new",
        "duplicate_window": 120_000_000_000, "max_age": 3600_000_000_000, "max_bytes": -1,
        "max_consumers": -1, "max_msg_size": -1, "max_msgs": -1, "max_msgs_per_subject": 5,
        "num_replicas": 1, "retention": "limits", "sealed": False, "storage": "file",
        "allow_direct": True, "allow_msg_ttl": True, "subjects": ["$KV.RB.>"], "name": "KV_RB",
    }
    assert {k: cfg.get(k) for k in expect} == expect
    for absent in ("mirror", "sources", "placement", "subject_delete_marker_ttl", "republish"):
        assert absent not in cfg, absent
    await nc.close()


async def test_kv_stream_metadata_required_api_level(js_server, nats_connect):
    """nats-server stamps `_nats.req.level` in the stream metadata with the API level the config
    needs: KV buckets always set allow_msg_ttl (a 2.11 / level-1 feature), so it is "1"."""
    nc = await nats_connect(js_server)
    js = nc.jetstream()
    await js.create_key_value(bucket="LVL")
    si = await stream_info_raw(nc, "KV_LVL", keep_req_level=True)
    assert si["config"]["metadata"].get("_nats.req.level") == "1"
    # a plain stream without 2.11 features needs level 0
    await js.add_stream(name="PLAIN0", subjects=["plain0"])
    si = await stream_info_raw(nc, "PLAIN0", keep_req_level=True)
    assert si["config"]["metadata"].get("_nats.req.level") == "0"


async def test_kv_operations_transcript_same_as_nats_server(js_pair):
    """A long scenario: every result, error and the final stream info must match nats-server."""

    async def scenario(nc, srv):
        js = nc.jetstream()
        kv = await js.create_key_value(bucket="T", history=3, direct=False)
        kvd = await js.create_key_value(bucket="TD", history=3, direct=True)
        out = []
        for b in (kv, kvd):
            out.append(await attempt(b.put("a", b"1")))
            out.append(await attempt(b.put("a", b"2")))
            out.append(await attempt(b.create("a", b"3")))
            out.append(await attempt(b.update("a", b"4", last=1)))
            out.append(await attempt(b.update("a", b"5", last=2)))
            out.append(await attempt(b.put("a", b"6")))
            out.append(await attempt(b.put("a", b"7")))
            out.append(plain(await b.get("a")))
            out.append(await attempt(b.get("a", revision=1)))
            out.append(await attempt(b.get("a", revision=4)))
            out.append(await attempt(b.delete("a", last=1)))
            out.append(await attempt(b.delete("a")))
            out.append(await attempt(b.get("a")))
            out.append(await attempt(b.create("a", b"8")))
            out.append(plain(await b.history("a")))
            out.append(await attempt(b.purge("a")))
            out.append(plain(await b.history("a")))
            out.append(await attempt(b.put("b.1", b"x")))
            out.append(await attempt(b.put("b.2", b"y")))
            out.append(await attempt(b.keys()))
            out.append(await attempt(b.purge_deletes(olderthan=0)))
            out.append(await attempt(b.keys()))
            st = await b.status()
            out.append((st.values, st.history, st.ttl))
        out.append(await stream_info_raw(nc, "KV_T"))
        out.append(await stream_info_raw(nc, "KV_TD"))
        # raw direct get answers: headers of the reply for a live key, a deleted key and a miss
        for subj in ("$JS.API.DIRECT.GET.KV_TD.$KV.TD.b.1", "$JS.API.DIRECT.GET.KV_TD.$KV.TD.zz"):
            m = await nc.request(subj, b"", timeout=IO_TIMEOUT)
            h = dict(m.headers or {})
            h.pop("Nats-Time-Stamp", None)
            out.append({"data": m.data.decode(), "headers": h})
        # no direct get responder on a bucket created with direct=False
        try:
            m = await nc.request("$JS.API.DIRECT.GET.KV_T.$KV.T.b.1", b"", timeout=1.0)
            out.append({"data": m.data.decode(), "headers": dict(m.headers or {})})
        except nats.errors.Error as e:
            out.append(err(e))
        return out

    jb, ns = await run_both(js_pair, scenario)
    assert_same(jb, ns, "KV operations:")


async def test_kv_watch_sequences_same_as_nats_server(js_pair):
    async def scenario(nc, srv):
        js = nc.jetstream()
        kv = await js.create_key_value(bucket="W", history=4)
        for i in range(6):
            await kv.put(f"k{i % 3}", f"v{i}".encode())
        await kv.delete("k1")
        await kv.put("x.y", b"z")
        out = []
        watchers = {
            "all": await kv.watchall(),
            "hist": await kv.watchall(include_history=True),
            "nodel": await kv.watchall(ignore_deletes=True),
            "meta": await kv.watchall(meta_only=True),
            "k0": await kv.watch("k0", include_history=True),
            "x": await kv.watch("x.*"),
        }
        for name, w in watchers.items():
            out.append([name, plain(await initial(w))])
        await kv.put("k0", b"live")
        await kv.purge("k2")
        await kv.put("x.q", b"q")
        expect = {"all": 3, "hist": 3, "nodel": 2, "meta": 3, "k0": 1, "x": 1}
        for name, w in watchers.items():
            out.append([name, "live", plain(await next_n(w, expect[name]))])
        for w in watchers.values():
            await w.stop()
        return out

    jb, ns = await run_both(js_pair, scenario)
    assert_same(jb, ns, "KV watch sequences:")


async def test_kv_watcher_consumer_info_same_as_nats_server(js_pair):
    """The ordered consumer behind a watcher, after it delivered the initial value."""

    async def scenario(nc, srv):
        js = nc.jetstream()
        kv = await js.create_key_value(bucket="WC", history=4)
        await kv.put("k0", b"a")
        await kv.put("k0", b"b")
        await kv.put("k1", b"c")
        w = await kv.watch("k0")
        assert [e[2] for e in await initial(w)] == [2]
        ci = js_norm(await js_req(nc, f"$JS.API.CONSUMER.INFO.KV_WC.{w._sub._consumer}"))
        ci.get("config", {}).pop("deliver_subject", None)
        ci.pop("name", None)
        ci.get("config", {}).pop("name", None)
        await w.stop()
        return [ci]

    jb, ns = await run_both(js_pair, scenario)
    assert_same(jb, ns, "KV watcher consumer info:")


async def test_kv_raw_get_answers_same_as_nats_server(js_pair):
    """The raw replies nats-py parses for get(): DIRECT.GET (by subject, by seq, markers, TTL'd
    values, misses) and STREAM.MSG.GET, headers compared except the timestamp."""

    async def direct(nc, subj, body=b""):
        try:
            m = await nc.request(subj, body, timeout=IO_TIMEOUT)
        except nats.errors.Error as e:
            return err(e)
        h = dict(m.headers or {})
        h.pop("Nats-Time-Stamp", None)
        return {"data": m.data.decode(), "headers": h}

    async def scenario(nc, srv):
        js = nc.jetstream()
        kv = await js.create_key_value(bucket="G", history=3, direct=True)
        await kv.put("a", b"1")
        await kv.create("t", b"ttl", msg_ttl=60)
        await kv.put("b", b"2")
        await kv.delete("b")
        await kv.put("c", b"3")
        await kv.purge("c")
        out = []
        for key in ("a", "t", "b", "c", "nope"):
            out.append(await direct(nc, f"$JS.API.DIRECT.GET.KV_G.$KV.G.{key}"))
        for body in ({"seq": 1}, {"seq": 3}, {"seq": 5}, {"seq": 99}, {"last_by_subj": "$KV.G.t"},
                     {"next_by_subj": "$KV.G.>", "seq": 2}, {"seq": 0}, {}):
            out.append(await direct(nc, "$JS.API.DIRECT.GET.KV_G", json.dumps(body).encode()))
        for body in ({"last_by_subj": "$KV.G.a"}, {"last_by_subj": "$KV.G.b"}, {"seq": 2}, {"seq": 5},
                     {"last_by_subj": "$KV.G.zz"}):
            r = js_norm(await js_req(nc, "$JS.API.STREAM.MSG.GET.KV_G", body))
            out.append(r)
        return out

    jb, ns = await run_both(js_pair, scenario)
    assert_same(jb, ns, "KV raw get answers:")


async def test_kv_watch_survives_idle_heartbeats(js_server, nats_connect):
    """A watcher left idle longer than its consumer's 5 s idle_heartbeat must neither reset (which
    would replay values) nor stall: the next update arrives exactly once."""
    nc = await nats_connect(js_server)
    js = nc.jetstream()
    kv = await js.create_key_value(bucket="IDLE", history=1)
    await kv.put("a", b"1")
    w = await kv.watchall()
    assert await initial(w) == [("a", b"1", 1, 0, None)]
    with pytest.raises(nats.errors.TimeoutError):
        await w.updates(timeout=6.5)  # the idle period itself: at least one heartbeat goes by
    await kv.put("b", b"2")
    assert await next_n(w, 1) == [("b", b"2", 2, 0, None)]
    await no_more(w)
    assert not nc.test_errors, nc.test_errors
    await w.stop()


async def test_kv_republish_answer_same_as_nats_server(js_pair):
    """Differential view of republish: jetbroker's answer to the bucket create (an error, since it
    does not support republish) next to nats-server's (success, republished message)."""

    async def scenario(nc, srv):
        js = nc.jetstream()
        sub = await nc.subscribe("bar.>")
        r = await attempt(js.create_key_value(bucket="RP", republish=RePublish(src=">", dest="bar.>")))
        out = [r if "error" in r else "created"]
        if "error" not in r:
            kv = await js.key_value("RP")
            await kv.put("hello.world", b"Hello World!")
            msg = await sub.next_msg(timeout=W)
            h = dict(msg.headers or {})
            h.pop("Nats-Time-Stamp", None)
            out.append([msg.subject, msg.data.decode(), h])
        return out

    jb, ns = await run_both(js_pair, scenario)
    assert_same(jb, ns, "KV republish:")


# ---- restart --------------------------------------------------------------------------------------


def hard_kill(srv) -> None:
    srv.proc.kill()
    srv.proc.wait()
    srv.exit_code = srv.proc.returncode


async def test_kv_survives_kill9(server_kind, make_server, tmp_path):
    store = tmp_path / "store"
    srv = make_server(server_kind, *js_args(store))
    nc = await connect(srv)
    js = nc.jetstream()
    kv = await js.create_key_value(bucket="DUR", history=3)
    kvm = await js.create_key_value(bucket="DURTTL", history=2, ttl=3600, direct=False)
    for i in range(20):
        await kv.put(f"k{i % 5}", f"v{i}".encode())
    await kv.delete("k0")
    await kv.purge("k1")
    await kvm.put("a", b"1")
    await kvm.put("a", b"2")
    before = await stream_info_raw(nc, "KV_DUR")
    await nc.close()

    hard_kill(srv)
    srv2 = make_server(server_kind, *js_args(store))
    nc = await connect(srv2)
    js = nc.jetstream()
    kv = await js.key_value("DUR")
    kvm = await js.key_value("DURTTL")
    after = await stream_info_raw(nc, "KV_DUR")
    assert after["config"] == before["config"]
    # nats-server (no sync_always) may bring back revisions removed by per-subject limits/rollups
    # after a kill -9, so only the head of the stream is compared exactly
    assert after["state"]["last_seq"] == before["state"]["last_seq"]
    for i in (2, 3, 4):
        e = await kv.get(f"k{i}")
        assert e.value == f"v{15 + i}".encode()
    with pytest.raises(jse.KeyNotFoundError):
        await kv.get("k0")
    with pytest.raises(jse.KeyNotFoundError):
        await kv.get("k1")
    assert [e.value for e in await kv.history("k2")][-3:] == [b"v7", b"v12", b"v17"]
    assert sorted(await kv.keys()) == ["k2", "k3", "k4"]
    st = await kvm.status()
    assert (st.values, st.history, st.ttl) == (2, 2, 3600.0)
    # still writable with the right sequence numbers
    last = after["state"]["last_seq"]
    assert await kv.update("k2", b"new", last=(await kv.get("k2")).revision) == last + 1
    await nc.close()


async def test_kv_msg_ttl_still_fires_after_kill9(server_kind, make_server, tmp_path):
    """Per-message TTL state is rebuilt on recovery: a key created with msg_ttl=3 right before a
    kill -9 is gone ~3 s after its creation."""
    store = tmp_path / "store"
    srv = make_server(server_kind, *js_args(store))
    nc = await connect(srv)
    js = nc.jetstream()
    kv = await js.create_key_value(bucket="RTTL", history=1)
    await kv.create("eph", b"v", msg_ttl=3)
    await kv.put("stay", b"s")
    t0 = time.monotonic()
    await nc.close()
    hard_kill(srv)

    srv2 = make_server(server_kind, *js_args(store))
    nc = await connect(srv2)
    try:
        kv = await nc.jetstream().key_value("RTTL")
        assert (await kv.get("eph")).value == b"v"

        async def gone():
            try:
                await kv.get("eph")
                return False
            except jse.KeyNotFoundError:
                return True

        await wait_until(gone, 6.0, "TTL expiry after restart")
        assert time.monotonic() - t0 >= 2.5
        assert (await kv.get("stay")).value == b"s"
    finally:
        await nc.close()


async def test_kv_limit_marker_after_kill9(server_kind, make_server, tmp_path):
    """A TTL that fires after recovery still places the MaxAge subject delete marker."""
    store = tmp_path / "store"
    srv = make_server(server_kind, *js_args(store))
    nc = await connect(srv)
    km = await nc.jetstream().create_key_value(bucket="RMARK", history=1, limit_marker_ttl=30)
    await km.create("eph", b"v", msg_ttl=3)
    await nc.close()
    hard_kill(srv)

    srv2 = make_server(server_kind, *js_args(store))
    nc = await connect(srv2)
    try:
        js = nc.jetstream()

        async def marker():
            si = await js.stream_info("KV_RMARK")
            return si.state.last_seq == 2 and si.state.messages == 1

        await wait_until(marker, 6.0, "MaxAge marker after restart")
        raw = await js.get_msg("KV_RMARK", seq=2)
        assert raw.headers.get("Nats-Marker-Reason") == "MaxAge"
    finally:
        await nc.close()


async def test_kv_memory_bucket_does_not_survive_restart(server_kind, make_server, tmp_path):
    """nats-server (standalone) does not recover memory-storage streams: the bucket is gone after a
    restart, while file buckets come back."""
    store = tmp_path / "store"
    srv = make_server(server_kind, *js_args(store))
    nc = await connect(srv)
    js = nc.jetstream()
    kv = await js.create_key_value(bucket="MEM", storage=StorageType.MEMORY)
    await kv.put("k", b"v")
    fkv = await js.create_key_value(bucket="FILE")
    await fkv.put("k", b"v")
    await nc.close()
    hard_kill(srv)
    srv2 = make_server(server_kind, *js_args(store))
    nc = await connect(srv2)
    try:
        js = nc.jetstream()
        with pytest.raises(jse.BucketNotFoundError):
            await js.key_value("MEM")
        assert (await (await js.key_value("FILE")).get("k")).value == b"v"
    finally:
        await nc.close()
