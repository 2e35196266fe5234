"""The system account and its $SYS.REQ.* services (differential).

The same configuration (accounts SYS and APP, `system_account: SYS`, JetStream on) runs on
jetbroker and nats-server. Tests either assert the same behaviour on each server (`sys_server`,
parametrised) or ask both servers the same thing and compare the answers' structure and the values
that must agree (`sys_pair`). Absence of an answer is shown without waiting out a timeout where
possible: a request that must stay unanswered is followed by one that is answered on the same
reply subject, and the first message to arrive must be the second answer (both servers answer
system requests in arrival order).
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
from datetime import datetime, timezone

import pytest
from nats.errors import NoRespondersError

from conftest import binary_for, nats_cli_env

T = 5.0
NAME = "sysprobe"

SYS_CONF = """
server_name: %s
accounts {
  SYS { users [ {user: sys, password: pass} ] }
  APP {
    jetstream: enabled
    users [
      {user: app, password: pass,
       permissions: {publish: {allow: ["app.>", "$SYS.>", "$JS.API.>", "_INBOX.>"], deny: ["app.secret"]},
                     subscribe: {allow: ["app.>", "_INBOX.>"]}, allow_responses: true}}
      {user: app2, password: pass}
    ]
  }
}
authorization { users [ {user: g, password: pg} ] }
system_account: SYS
""" % NAME

# The fields of nats-server's ServerInfo that jetbroker leaves out on purpose: `feature_flags`
# belongs to nats-server versions newer than the one jetbroker reports (`ver`).
SERVER_INFO_EXTRA = {"feature_flags"}

RFC3339_NS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$")

SYS = {"user": "sys", "password": "pass"}
APP = {"user": "app", "password": "pass"}


def _conf(tmp_path, text: str, name: str = "sys.conf") -> str:
    p = tmp_path / name
    p.write_text(text)
    return str(p)


@pytest.fixture
def sys_server(server_factory, tmp_path):
    return server_factory("-c", _conf(tmp_path, SYS_CONF), "-js", "-sd", str(tmp_path / "js"))


@pytest.fixture
def sys_pair(make_server, tmp_path):
    """(jetbroker, nats-server) with the same system-account configuration."""
    for kind in ("jetbroker", "nats-server"):
        if binary_for(kind) is None:
            pytest.skip(f"{kind} binary not found")
    conf = _conf(tmp_path, SYS_CONF)
    jb = make_server("jetbroker", "-c", conf, "-js", "-sd", str(tmp_path / "js-jb"))
    ns = make_server("nats-server", "-c", conf, "-js", "-sd", str(tmp_path / "js-ns"))
    return jb, ns


async def sys_req(nc, subject: str, body=b"", timeout: float = T) -> dict:
    if isinstance(body, dict):
        body = json.dumps(body).encode()
    msg = await nc.request(subject, body, timeout=timeout)
    assert not msg.headers, f"{subject}: unexpected headers {msg.headers}"
    return json.loads(msg.data)


def _time(s: str) -> datetime:
    assert RFC3339_NS.match(s), s
    base, _, frac = s[:-1].partition(".")
    t = datetime.strptime(base, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc)
    return t.replace(microsecond=int((frac + "000000")[:6]))


def check_server_info(si: dict, srv, nc) -> None:
    """The envelope's "server" object: identity as INFO and /varz tell it, and a fresh time."""
    varz = srv.varz()
    assert si["name"] == NAME == varz["server_name"]
    assert si["id"] == nc._server_info["server_id"] == varz["server_id"]
    assert si["host"] == varz["host"] == "127.0.0.1"
    assert si["ver"] == varz["version"] == nc._server_info["version"]
    assert si["jetstream"] is True
    assert si["flags"] == 7  # JetStreamEnabled | BinaryStreamSnapshot | AccountNRG
    assert isinstance(si["seq"], int) and si["seq"] > 0
    age = (datetime.now(timezone.utc) - _time(si["time"])).total_seconds()
    assert -2 < age < 10, si["time"]


# ---- $SYS.REQ.SERVER.PING (statsz) --------------------------------------------------------------


async def test_server_ping_statsz(sys_server, nats_connect):
    nc = await nats_connect(sys_server, **SYS)
    a = await sys_req(nc, "$SYS.REQ.SERVER.PING")
    b = await sys_req(nc, "$SYS.REQ.SERVER.PING.STATSZ")
    assert set(a) == set(b) == {"server", "statsz"}
    check_server_info(a["server"], sys_server, nc)
    assert b["server"]["seq"] > a["server"]["seq"], "seq must increase"
    st = b["statsz"]
    varz = sys_server.varz()
    assert st["start"] == varz["start"]
    assert st["connections"] == 1 and st["total_connections"] == 1
    assert st["active_accounts"] == 1  # only SYS has a client
    # The first request is counted by now; the one being answered may not be yet (jetbroker adds a
    # connection's counts to the server's once per read, after routing what it read).
    assert st["received"]["msgs"] >= 1 and st["sent"]["msgs"] >= 1
    assert st["cores"] == varz["cores"]
    assert set(st["jetstream"]) == {"config", "stats", "limits"}
    assert "store_dir" not in st["jetstream"]["config"]


async def test_server_ping_envelopes_match(sys_pair):
    """Every endpoint answers with nats-server's envelope and the same document keys."""
    import nats

    endpoints = ["VARZ", "CONNZ", "SUBSZ", "JSZ", "HEALTHZ", "ACCOUNTZ", "ROUTEZ", "GATEWAYZ", "LEAFZ",
                 "STATSZ", "IDZ", "RAFTZ"]
    answers = []
    for srv in sys_pair:
        nc = await nats.connect(servers=[srv.url], allow_reconnect=False, **SYS)
        try:
            got = {"PING": await sys_req(nc, "$SYS.REQ.SERVER.PING")}
            for ep in endpoints:
                got[ep] = await sys_req(nc, f"$SYS.REQ.SERVER.PING.{ep}")
            check_server_info(got["VARZ"]["server"], srv, nc)
        finally:
            await nc.close()
        answers.append(got)
    jb, ns = answers
    for ep in ["PING", *endpoints]:
        assert set(jb[ep]) == set(ns[ep]), ep
        if "server" in jb[ep]:
            assert set(jb[ep]["server"]) == set(ns[ep]["server"]) - SERVER_INFO_EXTRA, ep
    for ep in ["CONNZ", "SUBSZ", "JSZ", "HEALTHZ", "ACCOUNTZ", "ROUTEZ", "GATEWAYZ", "LEAFZ"]:
        assert set(jb[ep]["data"]) == set(ns[ep]["data"]), ep
    assert set(jb["PING"]["statsz"]) == set(ns["PING"]["statsz"])
    for ep in ["HEALTHZ", "ACCOUNTZ"]:
        for a in (jb, ns):
            a[ep]["data"].pop("now", None)
            a[ep]["data"].pop("server_id", None)
    for a in (jb, ns):
        a["ACCOUNTZ"]["data"]["accounts"].sort()  # nats-server lists them in map order
    assert jb["HEALTHZ"]["data"] == ns["HEALTHZ"]["data"] == {"status": "ok", "status_code": 200}
    assert jb["ACCOUNTZ"]["data"] == ns["ACCOUNTZ"]["data"] == {"system_account": "SYS",
                                                               "accounts": ["$G", "APP", "SYS"]}
    for a in (jb, ns):
        c = a["CONNZ"]["data"]
        assert (c["num_connections"], c["total"], c["offset"], c["limit"]) == (1, 1, 0, 1024)
        assert set(c["connections"][0]) == set(ns["CONNZ"]["data"]["connections"][0])
        assert a["RAFTZ"]["data"] == {}
        assert set(a["IDZ"]) == {"name", "host", "id"}
    # The fields natscli's `server info` / `nats top` read from VARZ are all there.
    for k in ("server_id", "server_name", "version", "go", "host", "port", "max_connections", "ping_interval",
              "ping_max", "http_port", "auth_required", "max_payload", "max_pending", "start", "now", "uptime",
              "mem", "cores", "cpu", "connections", "total_connections", "in_msgs", "out_msgs", "in_bytes",
              "out_bytes", "slow_consumers", "subscriptions", "jetstream", "system_account"):
        assert k in jb["VARZ"]["data"], k
    assert jb["VARZ"]["data"]["system_account"] == ns["VARZ"]["data"]["system_account"] == "SYS"


async def test_varz_and_jsz_agree_with_http(sys_server, nats_connect):
    nc = await nats_connect(sys_server, **SYS)
    v = (await sys_req(nc, "$SYS.REQ.SERVER.PING.VARZ"))["data"]
    h = sys_server.varz()
    for k in ("server_id", "server_name", "version", "port", "http_port", "start", "max_payload", "connections",
              "system_account"):
        assert v[k] == h[k], k
    j = (await sys_req(nc, "$SYS.REQ.SERVER.PING.JSZ"))["data"]
    hj = sys_server.get_json("/jsz")
    assert j["config"] == hj["config"]
    assert j["server_id"] == hj["server_id"]


# ---- direct requests, IDZ, unknown endpoints -------------------------------------------------------


async def test_server_direct_and_idz(sys_server, nats_connect):
    nc = await nats_connect(sys_server, **SYS)
    sid = nc._server_info["server_id"]
    idz = await sys_req(nc, "$SYS.REQ.SERVER.PING.IDZ")
    assert idz == {"name": NAME, "host": "127.0.0.1", "id": sid}
    assert await sys_req(nc, f"$SYS.REQ.SERVER.{sid}.IDZ") == idz
    v = await sys_req(nc, f"$SYS.REQ.SERVER.{sid}.VARZ")
    assert v["data"]["server_id"] == sid
    s = await sys_req(nc, f"$SYS.REQ.SERVER.{sid}.STATSZ")
    assert set(s) == {"server", "statsz"}
    for subject in ("$SYS.REQ.SERVER.PING.NOPE", "$SYS.REQ.SERVER.NOTASERVER.VARZ", f"$SYS.REQ.SERVER.{sid}.NOPE"):
        with pytest.raises(NoRespondersError):
            await nc.request(subject, b"", timeout=T)


async def test_bad_options_body(sys_server, nats_connect):
    nc = await nats_connect(sys_server, **SYS)
    r = await sys_req(nc, "$SYS.REQ.SERVER.PING.CONNZ", b"{bad")
    assert set(r) == {"server", "error"}
    assert r["error"]["code"] == 400 and r["error"]["description"]


async def test_connz_options(sys_server, nats_connect):
    nc = await nats_connect(sys_server, **SYS)
    other = await nats_connect(sys_server, user="app", password="pass", name="other")
    await other.subscribe("app.x")
    await other.flush()
    me = nc._server_info["client_id"]
    c = (await sys_req(nc, "$SYS.REQ.SERVER.PING.CONNZ", {"limit": 1, "offset": 0}))["data"]
    assert (c["num_connections"], c["total"], c["limit"]) == (1, 2, 1)
    assert c["connections"][0]["cid"] == me
    assert "authorized_user" not in c["connections"][0]
    c = (await sys_req(nc, "$SYS.REQ.SERVER.PING.CONNZ", {"auth": True, "subscriptions": True, "offset": 1}))["data"]
    assert (c["num_connections"], c["total"], c["offset"]) == (1, 2, 1)
    conn = c["connections"][0]
    assert (conn["name"], conn["authorized_user"], conn["account"]) == ("other", "app", "APP")
    assert conn["subscriptions_list"] == ["app.x"]
    c = (await sys_req(nc, "$SYS.REQ.SERVER.PING.CONNZ", {"acc": "SYS", "auth": True}))["data"]
    assert [x["cid"] for x in c["connections"]] == [me] and c["total"] == 1
    c = (await sys_req(nc, "$SYS.REQ.SERVER.PING.CONNZ", {"cid": me}))["data"]
    assert [x["cid"] for x in c["connections"]] == [me] and c["limit"] == 1


async def test_server_filter_leaves_request_unanswered(sys_server, nats_connect):
    nc = await nats_connect(sys_server, **SYS)
    sub = await nc.subscribe("filter.replies")
    await nc.flush()
    # Not for this server: no answer. Then one that is: its answer must be the first to arrive.
    await nc.publish("$SYS.REQ.SERVER.PING.VARZ", json.dumps({"server_name": "elsewhere"}).encode(),
                     reply="filter.replies")
    await nc.publish("$SYS.REQ.SERVER.PING", json.dumps({"tags": ["nope"]}).encode(), reply="filter.replies")
    await nc.publish("$SYS.REQ.SERVER.PING.IDZ", json.dumps({"server_name": NAME[:3]}).encode(),
                     reply="filter.replies")
    first = json.loads((await sub.next_msg(timeout=T)).data)
    assert set(first) == {"name", "host", "id"}, first


# ---- what other accounts see ----------------------------------------------------------------------


async def test_non_system_users_get_no_responders(sys_server, nats_connect):
    for creds in (APP, {"user": "g", "password": "pg"}):
        nc = await nats_connect(sys_server, **creds)
        sid = nc._server_info["server_id"]
        for subject in ("$SYS.REQ.SERVER.PING", "$SYS.REQ.SERVER.PING.VARZ", "$SYS.REQ.SERVER.PING.JSZ",
                        "$SYS.REQ.SERVER.PING.IDZ", f"$SYS.REQ.SERVER.{sid}.VARZ", "$SYS.REQ.ACCOUNT.APP.CONNZ"):
            with pytest.raises(NoRespondersError):
                await nc.request(subject, b"", timeout=T)


async def test_system_requests_stay_in_the_system_account(sys_server, nats_connect):
    """An APP client subscribed to $SYS.> does not see the system account's traffic."""
    app = await nats_connect(sys_server, user="app2", password="pass")
    spy = await app.subscribe("$SYS.>")
    await app.flush()
    nc = await nats_connect(sys_server, **SYS)
    await sys_req(nc, "$SYS.REQ.SERVER.PING")
    # APP's own publish on $SYS.x is the first (and only) thing the spy gets.
    await app.publish("$SYS.x", b"mine")
    assert (await spy.next_msg(timeout=T)).data == b"mine"


async def test_user_info_matches(sys_pair):
    import nats

    out = []
    for srv in sys_pair:
        per = {}
        for name, creds in (("app", APP), ("app2", {"user": "app2", "password": "pass"}), ("sys", SYS),
                            ("g", {"user": "g", "password": "pg"})):
            nc = await nats.connect(servers=[srv.url], allow_reconnect=False, **creds)
            try:
                r = await sys_req(nc, "$SYS.REQ.USER.INFO")
                assert set(r) == {"server", "data"}
                per[name] = r["data"]
            finally:
                await nc.close()
        out.append(per)
    jb, ns = out
    for per in out:  # nats-server's permission lists come in no fixed order
        for direction in per["app"]["permissions"].values():
            for lst in direction.values():
                if isinstance(lst, list):
                    lst.sort()
    assert jb == ns
    assert jb["app"]["account"] == "APP" and jb["app"]["permissions"]["responses"] == {"max": 1, "ttl": 120000000000}
    assert jb["g"] == {"user": "g", "account": "$G", "account_name": "$G"}


async def test_account_ping_connz_and_statz(sys_pair):
    import nats

    out = []
    for srv in sys_pair:
        ncs = [await nats.connect(servers=[srv.url], allow_reconnect=False, **c)
               for c in (APP, {"user": "app2", "password": "pass"}, SYS)]
        app, _, sysc = ncs
        try:
            r = {
                "app_connz": await sys_req(app, "$SYS.REQ.ACCOUNT.PING.CONNZ"),
                "app_statz": await sys_req(app, "$SYS.REQ.ACCOUNT.PING.STATZ"),
                # imported into every account too, scoped to it whatever the body asks
                "app_server_connz": await sys_req(app, "$SYS.REQ.SERVER.PING.CONNZ", {"acc": "SYS"}),
                "sys_app_connz": await sys_req(sysc, "$SYS.REQ.ACCOUNT.APP.CONNZ"),
                "sys_app_statz": await sys_req(sysc, "$SYS.REQ.ACCOUNT.APP.STATZ"),
                "sys_ping_connz": await sys_req(sysc, "$SYS.REQ.ACCOUNT.PING.CONNZ"),
                "sys_ping_statz": await sys_req(sysc, "$SYS.REQ.ACCOUNT.PING.STATZ"),
            }
        finally:
            for nc in ncs:
                await nc.close()
        out.append(r)
    jb, ns = out
    for k in jb:
        assert set(jb[k]) == set(ns[k]), k
        assert set(jb[k]["data"]) == set(ns[k]["data"]), k
    for r in out:
        assert r["app_connz"]["data"]["num_connections"] == 2
        assert r["sys_app_connz"]["data"]["num_connections"] == 2
        assert r["app_server_connz"]["data"]["num_connections"] == 2
        # nats-server reads PING as an account name here: an unfilled document.
        q = dict(r["sys_ping_connz"]["data"])
        q.pop("now")
        assert q == {"server_id": "", "num_connections": 0, "total": 0, "offset": 0, "limit": 1024,
                     "connections": None}
        (st,) = r["app_statz"]["data"]["account_statz"]
        assert (st["acc"], st["conns"], st["total_conns"]) == ("APP", 2, 2)
        assert sorted(a["acc"] for a in r["sys_ping_statz"]["data"]["account_statz"]) == ["APP", "SYS"]
    for a, b in zip(jb["app_statz"]["data"]["account_statz"], ns["app_statz"]["data"]["account_statz"]):
        assert set(a) == set(b)
        assert set(a["sent"]) == set(b["sent"])


def test_info_acc_is_sys(sys_server, raw):
    for creds, expect in ((SYS, True), (APP, False)):
        c = raw(sys_server, connect=False)
        c.send("CONNECT " + json.dumps({"verbose": False, "protocol": 1, "user": creds["user"],
                                        "pass": creds["password"]}) + "\r\nPING\r\n")
        c.expect(rb"PONG\r\n")
        line = c.expect(rb"INFO ([^\r\n]*)\r\n")
        info = json.loads(line[5:-2])
        assert info["connect_info"] is True
        assert info.get("acc_is_sys", False) is expect
        assert ("acc_is_sys" in info) is expect  # nats-server leaves it out when false


def test_accountz_http(sys_server):
    a = sys_server.get_json("/accountz")
    assert a["system_account"] == "SYS"
    assert sorted(a["accounts"]) == ["$G", "APP", "SYS"]


# ---- configurations without a usable system account -----------------------------------------------


async def test_default_system_account(server, nats_connect):
    """No configuration: `$SYS` exists (nobody can log into it) and $G gets the imported services."""
    nc = await nats_connect(server)
    r = await sys_req(nc, "$SYS.REQ.USER.INFO")
    assert r["data"]["account"] == "$G"
    assert sorted(server.get_json("/accountz")["accounts"]) == ["$G", "$SYS"]
    assert server.varz()["system_account"] == "$SYS"
    with pytest.raises(NoRespondersError):
        await nc.request("$SYS.REQ.SERVER.PING", b"", timeout=T)


async def test_no_system_account(server_factory, tmp_path, nats_connect):
    conf = SYS_CONF.replace("system_account: SYS", "no_system_account: true")
    srv = server_factory("-c", _conf(tmp_path, conf))
    for creds in (SYS, APP):
        nc = await nats_connect(srv, **creds)
        for subject in ("$SYS.REQ.SERVER.PING", "$SYS.REQ.USER.INFO", "$SYS.REQ.ACCOUNT.PING.CONNZ"):
            with pytest.raises(NoRespondersError):
                await nc.request(subject, b"", timeout=T)
    assert "system_account" not in srv.varz()


@pytest.mark.parametrize("kind", ["jetbroker", "nats-server"])
def test_unknown_system_account_is_fatal(kind, tmp_path):
    binary = binary_for(kind)
    if binary is None:
        pytest.skip(f"{kind} binary not found")
    conf = _conf(tmp_path, "port: -1\nsystem_account: NOPE\n")
    r = subprocess.run([binary, "-c", conf], capture_output=True, timeout=10)
    assert r.returncode == 1
    assert b"error resolving system account: account missing" in r.stderr


# ---- the nats CLI -------------------------------------------------------------------------------


@pytest.fixture
def cli(tmp_path):
    binary, env = nats_cli_env(tmp_path)

    def run(srv, *args, creds=SYS, timeout=15.0) -> subprocess.CompletedProcess:
        r = subprocess.run([binary, "--no-context", "-s", srv.url, "--user", creds["user"], "--password",
                            creds["password"], *args], capture_output=True, timeout=timeout, env=env)
        return r

    return run


def test_nats_server_list_json(sys_pair, cli):
    out = []
    for srv in sys_pair:
        r = cli(srv, "server", "list", "--json")
        assert r.returncode == 0, r.stderr
        (entry,) = json.loads(r.stdout)
        assert entry["server"]["name"] == NAME
        assert entry["server"]["id"] == srv.varz()["server_id"]
        assert entry["statsz"]["connections"] == 1  # the CLI itself
        out.append(entry)
    jb, ns = out
    assert set(jb) == set(ns)
    assert set(jb["server"]) == set(ns["server"]) - SERVER_INFO_EXTRA
    assert set(jb["statsz"]) == set(ns["statsz"])


def test_nats_server_ping_info_and_check(sys_server, cli):
    r = cli(sys_server, "server", "ping")
    assert r.returncode == 0, r.stderr
    assert NAME in r.stdout.decode() and "1 replies" in r.stdout.decode()
    sid = sys_server.varz()["server_id"]
    r = cli(sys_server, "server", "info")
    assert r.returncode == 0, r.stderr
    assert f"Server information for {NAME} ({sid})" in r.stdout.decode()
    r = cli(sys_server, "server", "info", sid)
    assert r.returncode == 0, r.stderr
    assert f"Server information for {NAME} ({sid})" in r.stdout.decode()
    r = cli(sys_server, "server", "check", "connection")
    assert r.returncode == 0, r.stdout + r.stderr
    assert b"OK Connection" in r.stdout
    r = cli(sys_server, "server", "report", "connections")
    assert r.returncode == 0, r.stderr
    assert "Top 1 Connections out of 1" in r.stdout.decode()
    r = cli(sys_server, "server", "request", "variables")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["data"]["server_id"] == sid


def test_nats_account_info_names_the_account(sys_server, cli):
    r = cli(sys_server, "account", "info", creds=APP)
    assert r.returncode == 0, r.stderr
    text = r.stdout.decode()
    assert re.search(r"User: app\b", text), text
    assert "Account: APP (APP)" in text, text
    assert re.search(r"System Account: false", text), text
    r = cli(sys_server, "account", "info", creds=SYS)
    assert r.returncode == 0, r.stderr
    assert re.search(r"System Account: true", r.stdout.decode()), r.stdout.decode()
