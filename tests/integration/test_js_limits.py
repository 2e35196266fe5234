"""JetStream resource limits (issue 7): the JetStream account's `jetstream { max_mem, max_file,
max_streams, max_consumers, max_ack_pending, max_bytes_required, mem/disk_max_stream_bytes }` and the
server's `jetstream { max_memory_store, max_file_store }`, differential against nats-server with the
same config file: $JS.API.INFO limits, stream and consumer creation refused with nats-server's
errors, max_bytes reservations on create and update, and publishes refused once the account (10002)
or the server (10023) is full, at the same message.
"""

import json

import nats
import pytest

from conftest import assert_same, js_norm

pytestmark = pytest.mark.timeout(60)

API = "$JS.API"

ACCOUNT_LIMITS = """
listen: 127.0.0.1:-1
jetstream {{ store_dir: "{store}", max_memory_store: 10MB, max_file_store: 20MB }}
accounts {{
  A {{ jetstream {{ max_mem: 1MB, max_file: 2MB, max_streams: 2, max_consumers: 2, max_ack_pending: 5 }}
      users [{{user: a, password: a}}] }}
}}
"""

SERVER_LIMITS = """
listen: 127.0.0.1:-1
jetstream {{ store_dir: "{store}", max_memory_store: 1MB, max_file_store: 2MB }}
"""

STREAM_BYTES = """
listen: 127.0.0.1:-1
jetstream {{ store_dir: "{store}" }}
accounts {{
  A {{ jetstream {{ max_mem: 1MB, max_file: 2MB, max_bytes_required: true, mem_max_stream_bytes: 512KB,
                  disk_max_stream_bytes: 1MB }}
      users [{{user: a, password: a}}] }}
}}
"""


async def transcript(url, user, fill_subject):
    kw = {"user": user, "password": user} if user else {}
    nc = await nats.connect(url, allow_reconnect=False, **kw)
    out = []

    async def api(subject, body=None):
        r = await nc.request(subject, json.dumps(body).encode() if body is not None else b"", timeout=3)
        d = js_norm(json.loads(r.data))
        if isinstance(d.get("config"), dict):  # created: only what the limits decide
            d = {"created": d["config"].get("name") or d["config"].get("durable_name"),
                 "max_bytes": d["config"].get("max_bytes"), "max_ack_pending": d["config"].get("max_ack_pending")}
        out.append(d)
        return d

    info = await api(f"{API}.INFO")
    out[-1] = {k: info.get(k) for k in ("memory", "storage", "streams", "consumers", "limits")}
    for c in [{"name": "S1", "subjects": ["s1"]}, {"name": "S2", "subjects": ["s2"], "storage": "memory"},
              {"name": "S3", "subjects": ["s3"]}, {"name": "B1", "subjects": ["b1"], "max_bytes": 3_000_000},
              {"name": "B2", "subjects": ["b2"], "storage": "memory", "max_bytes": 2_000_000},
              {"name": "B3", "subjects": ["b3"], "max_bytes": 1_000_000},
              {"name": "B4", "subjects": ["b4"], "max_bytes": 600_000},
              {"name": "M1", "subjects": ["m1"], "storage": "memory", "max_bytes": 600_000},
              {"name": "M2", "subjects": ["m2"], "storage": "memory", "max_bytes": 400_000},
              {"name": "M3", "subjects": ["m3"], "storage": "memory", "max_bytes": 700_000},
              {"name": "R1", "subjects": ["r1"], "max_bytes": 1_000_000}]:
        await api(f"{API}.STREAM.CREATE.{c['name']}", c)
    await api(f"{API}.STREAM.UPDATE.B4", {"name": "B4", "subjects": ["b4"], "max_bytes": 5_000_000})
    for n in ["C1", "C2", "C3"]:
        await api(f"{API}.CONSUMER.CREATE.S1.{n}", {"stream_name": "S1", "config": {"durable_name": n, "ack_policy": "explicit"}})
    await api(f"{API}.CONSUMER.CREATE.S1.C9",
              {"stream_name": "S1", "config": {"durable_name": "C9", "ack_policy": "explicit", "max_ack_pending": 100}})
    await api(f"{API}.CONSUMER.CREATE.S1", {"stream_name": "S1", "config": {"ack_policy": "explicit"}})
    # Fill a stream 100 kB at a time until the account or the server refuses.
    big = b"x" * 100_000
    for i in range(40):
        try:
            r = json.loads((await nc.request(fill_subject, big, timeout=3)).data)
        except nats.errors.NoRespondersError:
            out.append("no stream")
            break
        if "error" in r:
            out.append({"refused_at": i, **r})
            break
    else:
        out.append("never refused")
    info = await api(f"{API}.INFO")
    out[-1] = {k: info.get(k) for k in ("memory", "storage", "streams", "consumers")}
    await nc.close()
    return out


@pytest.mark.parametrize("conf,user", [(ACCOUNT_LIMITS, "a"), (SERVER_LIMITS, None), (STREAM_BYTES, "a")],
                         ids=["account-limits", "server-limits", "stream-bytes"])
async def test_js_limits_transcript(make_server, tmp_path, conf, user):
    got = []
    for kind in ("jetbroker", "nats-server"):
        path = tmp_path / f"{kind}.conf"
        path.write_text(conf.format(store=tmp_path / f"store-{kind}"))
        srv = make_server(kind, "-c", str(path), base=False)
        got.append(await transcript(srv.url, user, "s1" if conf is not STREAM_BYTES else "b3"))
    assert_same(*got)
    jb = got[0]
    if conf is ACCOUNT_LIMITS:
        # the limits really bit: a third stream and a third consumer refused, the 21st 100 kB message
        assert any(isinstance(x, dict) and x.get("error", {}).get("err_code") == 10027 for x in jb)
        assert any(isinstance(x, dict) and x.get("error", {}).get("err_code") == 10026 for x in jb)
        assert {"refused_at": 20, "error": {"code": 400, "err_code": 10002,
                                            "description": "resource limits exceeded for account"},
                "stream": "S1", "seq": 0} in jb
