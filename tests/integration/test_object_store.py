"""Object store buckets through nats-py's object_store API (reference jetstream.md §8.2).

The object store is a client convention on stream `OBJ_<bucket>` with chunk subjects
`$O.<b>.C.<nuid>` and meta subjects `$O.<b>.M.<b64 name>`. What the server must get right: the
stream config (max_consumers 0 -> -1, mirror_direct present), rollup on meta subjects, purge with a
subject filter, wildcard last-by-subject get, STREAM.NAMES by subject (ordered consumer without a
stream name), the pending count in the ack subject, and sealing.

`js_server` tests run on each server; `js_pair` tests compare both servers' transcripts.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io

import nats
import nats.errors
import nats.js.errors as jse
import pytest
from nats.js.api import ObjectLink, ObjectMeta, ObjectMetaOptions, StorageType

from conftest import IO_TIMEOUT, assert_same, js_args, js_norm, js_req, run_both

pytestmark = pytest.mark.timeout(90)

W = 5.0
CHUNK = 128 * 1024
MIB = 1024 * 1024


def blob(n: int, seed: int = 7) -> bytes:
    """Deterministic non-repeating-ish payload of n bytes."""
    out = bytearray()
    block = 0
    while len(out) < n:
        out += hashlib.sha256(f"{seed}:{block}".encode()).digest()
        block += 1
    return bytes(out[:n])


def digest(data: bytes) -> str:
    return "SHA-256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).decode()


def meta_subject(bucket: str, name: str) -> str:
    return f"$O.{bucket}.M.{base64.urlsafe_b64encode(name.encode()).decode()}"


def info_view(i) -> dict | None:
    """ObjectInfo without the volatile fields (nuid, mtime)."""
    if i is None:
        return None
    link = i.options.link if i.options else None
    return {
        "name": i.name, "bucket": i.bucket, "size": i.size, "chunks": i.chunks, "digest": i.digest,
        "deleted": bool(i.deleted), "description": i.description, "headers": i.headers,
        "link": (link.bucket, link.name) if link else None,
        "max_chunk_size": i.options.max_chunk_size if i.options else None,
    }


def err(e: BaseException) -> dict:
    out = {"type": type(e).__name__}
    for k in ("code", "err_code", "description"):
        v = getattr(e, k, None)
        if v is not None:
            out[k] = v
    return out


async def attempt(coro, view=lambda x: x):
    try:
        return {"ok": view(await coro)}
    except (nats.errors.Error, jse.Error) as e:
        return {"error": err(e)}


async def watch_initial(w, limit: int = 1000) -> list:
    out = []
    for _ in range(limit):
        i = await w.updates(timeout=W)
        if i is None:
            return out
        out.append(info_view(i))
    raise AssertionError("no end marker")


async def stream_info_raw(nc, stream: str) -> dict:
    si = js_norm(await js_req(nc, f"$JS.API.STREAM.INFO.{stream}"))
    md = si.get("config", {}).get("metadata")
    if isinstance(md, dict):  # has its own test in test_kv.py
        md.pop("_nats.req.level", None)
    return si


# ---- bucket lifecycle -----------------------------------------------------------------------------


async def test_obj_bind_status_and_delete_bucket(js_server, nats_connect):
    nc = await nats_connect(js_server)
    js = nc.jetstream()
    with pytest.raises(jse.BucketNotFoundError):
        await js.object_store("NOPE")
    obs = await js.create_object_store("LIFE", description="things", storage=StorageType.MEMORY)
    bound = await js.object_store("LIFE")
    st = await bound.status()
    assert st.bucket == "LIFE" and st.description == "things" and st.sealed is False
    assert st.storage_type == StorageType.MEMORY and st.replicas == 1 and st.size == 0
    await obs.put("a", b"hello")
    assert (await bound.get("a")).data == b"hello"

    assert await js.delete_object_store("LIFE") is True
    with pytest.raises(jse.BucketNotFoundError):
        await js.object_store("LIFE")
    with pytest.raises(jse.NotFoundError) as ei:
        await js.delete_object_store("LIFE")
    assert (ei.value.code, ei.value.err_code) == (404, 10059)


async def test_obj_stream_config_fields_nats_py_reads(js_server, nats_connect):
    nc = await nats_connect(js_server)
    js = nc.jetstream()
    await js.create_object_store("CFG")
    cfg = (await js_req(nc, "$JS.API.STREAM.INFO.OBJ_CFG"))["config"]
    expect = {
        "name": "OBJ_CFG", "subjects": ["$O.CFG.C.>", "$O.CFG.M.>"], "retention": "limits",
        "max_consumers": -1, "max_msgs": -1, "max_bytes": -1, "discard": "new", "max_age": 0,
        "max_msgs_per_subject": -1, "max_msg_size": -1, "storage": "file", "num_replicas": 1,
        "allow_rollup_hdrs": True, "allow_direct": True, "mirror_direct": False,
    }
    assert {k: cfg.get(k) for k in expect} == expect


# ---- put / get ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "size,chunks",
    [(0, 0), (5, 1), (CHUNK, 1), (CHUNK + 1, 2), (MIB + 33, 9), (2 * MIB + 33, 17)],
    ids=["empty", "small", "one-chunk", "chunk+1", "1MiB+33", "2MiB+33"],
)
async def test_obj_put_get_sizes(js_server, nats_connect, size, chunks):
    nc = await nats_connect(js_server)
    js = nc.jetstream()
    obs = await js.create_object_store("SIZES")
    data = blob(size)
    info = await obs.put("obj", data)
    assert (info.size, info.chunks, info.digest) == (size, chunks, digest(data))
    got = await obs.get("obj")
    assert got.data == data
    assert got.info.size == size and got.info.chunks == chunks
    gi = await obs.get_info("obj")
    assert (gi.name, gi.size, gi.chunks, gi.digest, gi.deleted) == ("obj", size, chunks, digest(data), False)
    st = await obs.status()
    si = st.stream_info.state
    assert si.messages == chunks + 1  # chunks + one meta message
    # a streamed read through writeinto gives the same bytes
    if size:
        buf = io.BytesIO()
        await obs.get("obj", writeinto=buf)
        assert buf.getvalue() == data


async def test_obj_replace_purges_old_chunks(js_server, nats_connect):
    nc = await nats_connect(js_server)
    js = nc.jetstream()
    obs = await js.create_object_store("REPL")
    first = await obs.put("f", blob(3 * CHUNK, 1))
    second = await obs.put("f", blob(CHUNK + 10, 2))
    assert first.nuid != second.nuid
    assert (await obs.get("f")).data == blob(CHUNK + 10, 2)
    st = await obs.status()
    assert st.stream_info.state.messages == 2 + 1  # only the new chunks and the latest meta
    # the old chunk subject is empty
    r = await js_req(nc, "$JS.API.STREAM.MSG.GET.OBJ_REPL", {"last_by_subj": f"$O.REPL.C.{first.nuid}"})
    assert r["error"]["err_code"] == 10037


async def test_obj_get_missing_and_empty_name(js_server, nats_connect):
    nc = await nats_connect(js_server)
    js = nc.jetstream()
    obs = await js.create_object_store("MISS")
    with pytest.raises(jse.ObjectNotFoundError):
        await obs.get("nope")
    with pytest.raises(jse.ObjectNotFoundError):
        await obs.get_info("nope")
    # get("") asks for the invalid subject `$O.MISS.M.`; the server must still answer 404
    with pytest.raises(jse.ObjectNotFoundError):
        await obs.get("")
    r = await js_req(nc, "$JS.API.STREAM.MSG.GET.OBJ_MISS", {"last_by_subj": "$O.MISS.M."})
    assert r["error"]["code"] == 404


async def test_obj_chunk_subject_resolves_to_stream(js_server, nats_connect):
    """get() subscribes to the chunk subject without a stream name: STREAM.NAMES by subject."""
    nc = await nats_connect(js_server)
    js = nc.jetstream()
    obs = await js.create_object_store("NAMES")
    info = await obs.put("x", b"data")
    r = await js_req(nc, "$JS.API.STREAM.NAMES", {"subject": f"$O.NAMES.C.{info.nuid}"})
    assert r["streams"] == ["OBJ_NAMES"]
    assert r["total"] == 1


# ---- list / watch / delete / meta -----------------------------------------------------------------


async def test_obj_list_and_delete(js_server, nats_connect):
    nc = await nats_connect(js_server)
    js = nc.jetstream()
    obs = await js.create_object_store("LIST")
    with pytest.raises(jse.NotFoundError):
        await obs.list()
    await obs.put("b", b"2")
    await obs.put("a", blob(CHUNK * 2 + 5))
    await obs.put("c", b"3")
    await obs.put("b", b"22")  # moves b to the end (meta sequence order)
    assert [i.name for i in await obs.list()] == ["a", "c", "b"]

    await obs.delete("a")
    with pytest.raises(jse.ObjectNotFoundError):
        await obs.get("a")
    with pytest.raises(jse.ObjectNotFoundError):
        await obs.get_info("a")
    gi = await obs.get_info("a", show_deleted=True)
    assert (gi.deleted, gi.size, gi.chunks, gi.digest) == (True, 0, 0, "")
    assert [(i.name, bool(i.deleted)) for i in await obs.list()] == [("c", False), ("b", False), ("a", True)]
    assert [i.name for i in await obs.list(ignore_deletes=True)] == ["c", "b"]
    st = await obs.status()
    assert st.stream_info.state.messages == 5  # c, b: chunk + meta each; a: meta only (chunks purged)
    with pytest.raises(jse.ObjectNotFoundError):
        await obs.delete("a")  # already deleted
    # put after delete brings the name back
    await obs.put("a", b"back")
    assert (await obs.get("a")).data == b"back"


async def test_obj_watch(js_server, nats_connect):
    nc = await nats_connect(js_server)
    js = nc.jetstream()
    obs = await js.create_object_store("WATCH")
    w_empty = await obs.watch()
    assert await w_empty.updates(timeout=W) is None
    await obs.put("one", b"1")
    await obs.put("two", b"22")
    await obs.put("one", b"111")

    w = await obs.watch()
    assert [(i["name"], i["size"]) for i in await watch_initial(w)] == [("two", 2), ("one", 3)]
    wh = await obs.watch(include_history=True)
    assert [(i["name"], i["size"]) for i in await watch_initial(wh)] == [("two", 2), ("one", 3)]  # rollup
    wu = await obs.watch(updates_only=True)
    wnd = await obs.watch(ignore_deletes=True)
    assert [i["name"] for i in await watch_initial(wnd)] == ["two", "one"]

    assert [(i.name, i.size) for i in [await w_empty.updates(timeout=W) for _ in range(3)]] == [
        ("one", 1), ("two", 2), ("one", 3)]

    await obs.put("three", b"333")
    await obs.delete("two")
    for x in (w, wu, w_empty):
        got = [await x.updates(timeout=W) for _ in range(2)]
        assert [(i.name, i.size, bool(i.deleted)) for i in got] == [("three", 3, False), ("two", 0, True)]
    got = await wnd.updates(timeout=W)
    assert (got.name, got.size) == ("three", 3)
    for x in (w, wh, wu, wnd, w_empty):
        await x.stop()


async def test_obj_update_meta(js_server, nats_connect):
    nc = await nats_connect(js_server)
    js = nc.jetstream()
    obs = await js.create_object_store("META")
    await obs.put("doc", b"content", meta=ObjectMeta(name="doc", description="v1",
                                                     options=ObjectMetaOptions(max_chunk_size=4)))
    assert (await obs.get_info("doc")).chunks == 2
    await obs.update_meta("doc", ObjectMeta(name="doc", description="v2", headers={"X-A": ["1"]}))
    gi = await obs.get_info("doc")
    assert (gi.description, gi.headers, gi.size) == ("v2", {"X-A": ["1"]}, 7)
    assert (await obs.get("doc")).data == b"content"
    assert (await obs.status()).stream_info.state.messages == 3  # rollup kept one meta
    # rename: nats-py 2.16 refuses to rename onto a live object name check (ObjectAlreadyExists)
    with pytest.raises(jse.ObjectAlreadyExists):
        await obs.update_meta("doc", ObjectMeta(name="renamed"))
    with pytest.raises(jse.ObjectDeletedError):
        await obs.update_meta("missing", ObjectMeta(name="missing"))


async def test_obj_links(js_server, nats_connect):
    """nats-py has no add_link; a link is an object whose meta carries options.link (Go client layout)."""
    nc = await nats_connect(js_server)
    js = nc.jetstream()
    src = await js.create_object_store("SRC")
    dst = await js.create_object_store("DST")
    await src.put("target", blob(CHUNK + 3))
    link_opts = ObjectMetaOptions(link=ObjectLink(bucket="SRC", name="target"), max_chunk_size=CHUNK)
    li = await dst.put("ln", b"", meta=ObjectMeta(name="ln", options=link_opts))
    assert li.size == 0 and li.chunks == 0
    gi = await dst.get_info("ln")
    assert gi.is_link() and (gi.options.link.bucket, gi.options.link.name) == ("SRC", "target")
    assert (await dst.get("ln")).data == blob(CHUNK + 3)
    bucket_link = ObjectMetaOptions(link=ObjectLink(bucket="SRC"), max_chunk_size=CHUNK)
    await dst.put("dir", b"", meta=ObjectMeta(name="dir", options=bucket_link))
    with pytest.raises(jse.LinkIsABucketError):
        await dst.get("dir")


async def test_obj_seal(js_server, nats_connect):
    nc = await nats_connect(js_server)
    js = nc.jetstream()
    obs = await js.create_object_store("SEAL")
    await obs.put("kept", b"v")
    await obs.seal()
    st = await obs.status()
    assert st.sealed is True
    cfg = (await js_req(nc, "$JS.API.STREAM.INFO.OBJ_SEAL"))["config"]
    assert cfg["sealed"] is True
    assert (await obs.get("kept")).data == b"v"
    with pytest.raises(jse.BadRequestError):
        await obs.put("new", b"x")  # chunk publish 10109, then the cleanup purge also fails
    with pytest.raises(jse.BadRequestError) as ei:
        await js.publish("$O.SEAL.C.raw", b"x")
    assert (ei.value.err_code, ei.value.description) == (10109, "invalid operation on sealed stream")
    with pytest.raises(jse.BadRequestError) as ei:
        await obs.delete("kept")
    assert ei.value.err_code == 10109
    assert (await obs.get("kept")).data == b"v"
    assert (await obs.status()).stream_info.state.messages == 2


async def test_obj_max_bytes_put_fails_and_cleans_up(js_server, nats_connect):
    """A put that overflows max_bytes (discard new) fails on a chunk publish; nats-py then purges the
    new chunk subject, so the store holds only what it held before."""
    nc = await nats_connect(js_server)
    js = nc.jetstream()
    obs = await js.create_object_store("CAP", max_bytes=3 * CHUNK)
    await obs.put("fits", blob(CHUNK))
    before = (await obs.status()).stream_info.state
    with pytest.raises(jse.APIError) as ei:
        await obs.put("too-big", blob(4 * CHUNK))
    assert (ei.value.err_code, ei.value.description) == (10077, "maximum bytes exceeded")
    after = (await obs.status()).stream_info.state
    assert (after.messages, after.bytes) == (before.messages, before.bytes)
    with pytest.raises(jse.ObjectNotFoundError):
        await obs.get_info("too-big")
    assert (await obs.get("fits")).data == blob(CHUNK)


async def test_obj_ttl_bucket_expires_objects(js_server, nats_connect):
    nc = await nats_connect(js_server)
    js = nc.jetstream()
    obs = await js.create_object_store("AGE", ttl=1)
    assert (await obs.status()).ttl == 1.0
    await obs.put("o", blob(CHUNK + 1))
    deadline = asyncio.get_running_loop().time() + 5
    while (await obs.status()).stream_info.state.messages:  # max_age is a server timer
        assert asyncio.get_running_loop().time() < deadline, "objects did not expire"
        await asyncio.sleep(0.05)
    with pytest.raises(jse.ObjectNotFoundError):
        await obs.get("o")


async def test_obj_many_objects_list_order(js_server, nats_connect):
    nc = await nats_connect(js_server)
    js = nc.jetstream()
    obs = await js.create_object_store("MANY")
    names = [f"dir/file-{i:03d}.txt" for i in range(300)]
    for n in names:
        await obs.put(n, n.encode())
    await obs.put(names[0], b"again")
    listed = [i.name for i in await obs.list()]
    assert listed == names[1:] + names[:1]
    assert (await obs.get(names[150])).data == names[150].encode()
    # meta subjects use urlsafe base64 of the name
    r = await js_req(nc, "$JS.API.STREAM.MSG.GET.OBJ_MANY", {"last_by_subj": meta_subject("MANY", names[7])})
    assert r["message"]["subject"] == meta_subject("MANY", names[7])


async def test_obj_custom_chunk_size_and_headers(js_server, nats_connect):
    nc = await nats_connect(js_server)
    js = nc.jetstream()
    obs = await js.create_object_store("CS")
    data = blob(10_000)
    info = await obs.put("c", data, meta=ObjectMeta(name="c", headers={"Content-Type": ["text/plain"]},
                                                    options=ObjectMetaOptions(max_chunk_size=1000)))
    assert info.chunks == 10
    got = await obs.get("c")
    assert got.data == data and got.info.headers == {"Content-Type": ["text/plain"]}
    assert got.info.options.max_chunk_size == 1000


# ---- differential ---------------------------------------------------------------------------------


async def test_obj_stream_config_same_as_nats_server(js_pair):
    async def scenario(nc, srv):
        js = nc.jetstream()
        out = []
        await js.create_object_store("D1")
        await js.create_object_store("D2", description="d", ttl=3600, max_bytes=10 * MIB, storage=StorageType.MEMORY)
        await js.create_object_store("D3", max_bytes=0)
        for b in ("D1", "D2", "D3"):
            out.append(await stream_info_raw(nc, f"OBJ_{b}"))
        return out

    jb, ns = await run_both(js_pair, scenario)
    assert_same(jb, ns, "object store stream config:")


async def test_obj_operations_transcript_same_as_nats_server(js_pair):
    async def scenario(nc, srv):
        js = nc.jetstream()
        obs = await js.create_object_store("T")
        out = []
        out.append(await attempt(obs.list()))
        out.append(await attempt(obs.put("small", b"hello"), info_view))
        out.append(await attempt(obs.put("big", blob(MIB + 33)), info_view))
        out.append(await attempt(obs.put("bigger", blob(2 * MIB + 33, 3)), info_view))
        out.append(await attempt(obs.get_info("big"), info_view))
        out.append(await attempt(obs.get("bigger"), lambda r: (info_view(r.info), len(r.data),
                                                                hashlib.sha256(r.data).hexdigest())))
        out.append(await attempt(obs.put("small", b"hello again"), info_view))
        out.append(await attempt(obs.list(), lambda xs: [info_view(x) for x in xs]))
        out.append(await attempt(obs.delete("big")))
        out.append(await attempt(obs.get("big")))
        out.append(await attempt(obs.get("")))
        out.append(await attempt(obs.update_meta("small", ObjectMeta(name="small", description="dd"))))
        out.append(await attempt(obs.update_meta("small", ObjectMeta(name="renamed"))))
        out.append(await attempt(obs.get_info("small"), info_view))
        out.append(await attempt(obs.list(ignore_deletes=True), lambda xs: [info_view(x) for x in xs]))
        st = await obs.status()
        out.append((st.size, st.sealed, st.ttl))
        out.append(await stream_info_raw(nc, "OBJ_T"))
        # raw answers: wildcard last-by-subject over meta subjects, and the empty-name subject
        r = await js_req(nc, "$JS.API.STREAM.MSG.GET.OBJ_T", {"last_by_subj": "$O.T.M.>"})
        out.append({"subject": r.get("message", {}).get("subject"), "seq": r.get("message", {}).get("seq"),
                    "error": r.get("error")})
        out.append(js_norm(await js_req(nc, "$JS.API.STREAM.MSG.GET.OBJ_T", {"last_by_subj": "$O.T.M."})))
        out.append(await attempt(obs.seal()))
        out.append(await attempt(obs.put("after-seal", b"x")))
        out.append(await attempt(obs.delete("small")))
        out.append(await stream_info_raw(nc, "OBJ_T"))
        out.append(await attempt(js.delete_object_store("T")))
        out.append(await attempt(js.delete_object_store("T")))
        return out

    jb, ns = await run_both(js_pair, scenario)
    assert_same(jb, ns, "object store operations:")


async def test_obj_watch_sequence_same_as_nats_server(js_pair):
    async def scenario(nc, srv):
        js = nc.jetstream()
        obs = await js.create_object_store("W")
        for n, d in (("a", b"1"), ("b", b"22"), ("a", b"333"), ("c", b"4444")):
            await obs.put(n, d)
        await obs.delete("c")
        out = []
        ws = {"all": await obs.watch(), "hist": await obs.watch(include_history=True),
              "nodel": await obs.watch(ignore_deletes=True)}
        for k, w in ws.items():
            out.append([k, await watch_initial(w)])
        wu = await obs.watch(updates_only=True)
        await obs.put("d", b"55555")
        await obs.delete("a")
        ws["upd"] = wu
        for k, w in ws.items():
            n = 1 if k == "nodel" else 2
            out.append([k, "live", [info_view(await w.updates(timeout=W)) for _ in range(n)]])
        for w in ws.values():
            await w.stop()
        return out

    jb, ns = await run_both(js_pair, scenario)
    assert_same(jb, ns, "object store watch:")


# ---- restart --------------------------------------------------------------------------------------


def hard_kill(srv) -> None:
    srv.proc.kill()
    srv.proc.wait()
    srv.exit_code = srv.proc.returncode


async def test_obj_survives_kill9(server_kind, make_server, tmp_path):
    store = tmp_path / "store"
    srv = make_server(server_kind, *js_args(store))
    nc = await nats.connect(servers=[srv.url], allow_reconnect=False, connect_timeout=IO_TIMEOUT)
    js = nc.jetstream()
    obs = await js.create_object_store("DUR")
    big = blob(MIB + 33, 11)
    await obs.put("big", big)
    await obs.put("small", b"tiny")
    await obs.put("gone", b"bye")
    await obs.delete("gone")
    await obs.put("small", b"tiny v2")
    before = await stream_info_raw(nc, "OBJ_DUR")
    await nc.close()

    hard_kill(srv)
    srv2 = make_server(server_kind, *js_args(store))
    nc = await nats.connect(servers=[srv2.url], allow_reconnect=False, connect_timeout=IO_TIMEOUT)
    try:
        js = nc.jetstream()
        obs = await js.object_store("DUR")
        after = await stream_info_raw(nc, "OBJ_DUR")
        assert after["config"] == before["config"]
        assert after["state"]["last_seq"] == before["state"]["last_seq"]
        assert (await obs.get("big")).data == big
        assert (await obs.get("small")).data == b"tiny v2"
        with pytest.raises(jse.ObjectNotFoundError):
            await obs.get("gone")
        assert sorted(i.name for i in await obs.list(ignore_deletes=True)) == ["big", "small"]
        await obs.put("new", b"after restart")
        assert (await obs.get("new")).data == b"after restart"
    finally:
        await nc.close()
