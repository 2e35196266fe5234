#include "server/monitor/endpoints.hpp"

#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <optional>
#include <set>
#include <thread>

#include <boost/json.hpp>

#include "protocol/subject.hpp"
#include "server/client_connection.hpp"
#include "server/jetstream/jetstream.hpp"
#include "server/jetstream/stream_config.hpp"
#include "server/server.hpp"
#include "server/time_util.hpp"
#include "server/tls.hpp"
#include "version.hpp"

namespace jb::server::monitor {

namespace json = boost::json;

namespace {

std::int64_t rss_bytes() {
  std::ifstream f("/proc/self/statm");
  long pages_total = 0, pages_rss = 0;
  f >> pages_total >> pages_rss;
  return static_cast<std::int64_t>(pages_rss) * ::sysconf(_SC_PAGESIZE);
}

double cpu_seconds() {
  std::ifstream f("/proc/self/stat");
  std::string tok;
  long utime = 0, stime = 0;
  for (int i = 1; i <= 15 && f >> tok; ++i) {
    if (i == 14) utime = std::stol(tok);
    if (i == 15) stime = std::stol(tok);
  }
  return static_cast<double>(utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

int worker_threads(const config::options& o) {
  return o.worker_threads > 0 ? o.worker_threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

// nats DataStats for one account: {"msgs","bytes"} plus the per-link zeroes.
json::object account_data_stats(std::uint64_t msgs, std::uint64_t bytes) {
  json::object zero{{"msgs", 0}, {"bytes", 0}};
  return json::object{{"msgs", msgs}, {"bytes", bytes}, {"gateways", zero}, {"routes", zero}, {"leafs", zero}};
}

}  // namespace

endpoints::endpoints(server& srv)
    : srv_(srv), last_cpu_at_(std::chrono::steady_clock::now()), last_cpu_(cpu_seconds()) {}

double endpoints::cpu_percent() {
  std::lock_guard lk(cpu_mu_);
  auto now = std::chrono::steady_clock::now();
  double wall = std::chrono::duration<double>(now - last_cpu_at_).count();
  if (wall >= 0.5) {
    double c = cpu_seconds();
    cpu_pct_ = (c - last_cpu_) / wall * 100.0;
    last_cpu_ = c;
    last_cpu_at_ = now;
  }
  return cpu_pct_;
}

json::object endpoints::jetstream_varz(bool with_store_dir) {
  auto j = jsz();
  json::object out;
  json::object cfg = j["config"].as_object();
  if (!with_store_dir) cfg.erase("store_dir");
  out["config"] = std::move(cfg);
  json::object stats;
  for (const char* k : {"memory", "storage", "reserved_memory", "reserved_storage", "accounts", "ha_assets", "api"})
    stats[k] = j[k];
  out["stats"] = std::move(stats);
  out["limits"] = json::object{};
  return out;
}

json::object endpoints::varz() {
  const auto& o = srv_.opts();
  auto now = std::chrono::system_clock::now();
  auto& c = srv_.counters();
  json::object v;
  v["server_id"] = srv_.id();
  v["server_name"] = srv_.name();
  v["version"] = nats_compat_version;
  v["jetbroker_version"] = jetbroker_version;
  v["proto"] = 1;
  v["go"] = "jetbroker";
  v["host"] = o.host;
  v["port"] = srv_.port();
  if (o.auth_required()) v["auth_required"] = true;
  v["max_connections"] = o.max_connections;
  v["ping_interval"] = std::chrono::duration_cast<std::chrono::nanoseconds>(o.ping_interval).count();
  v["ping_max"] = o.max_pings_out;
  v["http_host"] = o.http_host.empty() ? o.host : o.http_host;
  v["http_port"] = srv_.http_port();
  v["https_port"] = 0;
  v["auth_timeout"] = std::chrono::duration<double>(o.auth_timeout).count();
  if (o.tls) {
    if (!o.allow_non_tls || o.tls->handshake_first) v["tls_required"] = true;
    if (o.tls->verify) v["tls_verify"] = true;
    v["tls_timeout"] = std::chrono::duration<double>(o.tls->timeout).count();
    if (auto na = cert_not_after(o.tls->cert_file)) v["tls_cert_not_after"] = rfc3339(*na);
  } else {
    v["tls_timeout"] = 2.0;  // nats-server's default, reported without TLS too
  }
  v["max_control_line"] = o.max_control_line;
  v["max_payload"] = o.max_payload;
  v["max_pending"] = o.max_pending;
  v["write_deadline"] = std::chrono::duration_cast<std::chrono::nanoseconds>(o.write_deadline).count();
  v["start"] = rfc3339(srv_.start_time());
  v["now"] = rfc3339(now);
  v["uptime"] = uptime_string(now - srv_.start_time());
  v["mem"] = rss_bytes();
  v["cores"] = std::thread::hardware_concurrency();
  v["cpu"] = cpu_percent();
  v["connections"] = srv_.num_clients();
  v["total_connections"] = c.total_connections.load();
  v["routes"] = 0;
  v["remotes"] = 0;
  v["leafnodes"] = 0;
  v["in_msgs"] = c.in_msgs.load();
  v["out_msgs"] = c.out_msgs.load();
  v["in_bytes"] = c.in_bytes.load();
  v["out_bytes"] = c.out_bytes.load();
  v["in_client_msgs"] = c.in_msgs.load();  // every connection is a client (no routes, gateways, leafs)
  v["in_client_bytes"] = c.in_bytes.load();
  v["out_client_msgs"] = c.out_msgs.load();
  v["out_client_bytes"] = c.out_bytes.load();
  v["slow_consumers"] = c.slow_consumers.load();
  v["stale_connections"] = c.stale_connections.load();
  v["stalled_clients"] = 0;
  v["gomaxprocs"] = std::thread::hardware_concurrency();
  v["http_base_path"] = "";
  v["config_digest"] = "";
  v["slow_consumer_stats"] = json::object{{"clients", c.slow_consumers.load()}, {"routes", 0}, {"gateways", 0}, {"leafs", 0}};
  v["stale_connection_stats"] =
      json::object{{"clients", c.stale_connections.load()}, {"routes", 0}, {"gateways", 0}, {"leafs", 0}};
  v["disk_io_wait_stats"] = json::object{{"waiters", 0}, {"waits", 0}, {"wait_time", 0}, {"max_wait_time", 0}};
  v["feature_flags"] = json::object{{"js_ack_fc_v2", false}, {"js_raft_delete_range", false}};
  v["cluster"] = json::object{};
  v["gateway"] = json::object{};
  v["leaf"] = json::object{};
  v["mqtt"] = json::object{};
  {
    std::lock_guard lk(req_mu_);
    json::object rs;
    for (const auto& [p, n] : req_stats_) rs[p] = n;
    v["http_req_stats"] = std::move(rs);
  }
  v["subscriptions"] = srv_.num_subscriptions();
  v["config_load_time"] = rfc3339(srv_.start_time());
  if (auto* sys = srv_.system_account()) v["system_account"] = sys->name();
  if (o.websocket.configured) {
    // As nats-server: the block's settings, with the listener's address once it runs.
    const auto& w = o.websocket;
    json::object ws;
    if (websocket_enabled(o) || !w.host.empty()) ws["host"] = w.host.empty() ? std::string("0.0.0.0") : w.host;
    if (srv_.websocket_port() > 0) ws["port"] = srv_.websocket_port();
    if (!w.advertise.empty()) ws["advertise"] = w.advertise;
    if (w.handshake_timeout.count() > 0)
      ws["handshake_timeout"] = std::chrono::duration_cast<std::chrono::nanoseconds>(w.handshake_timeout).count();
    if (w.no_tls) ws["no_tls"] = true;
    if (w.same_origin) ws["same_origin"] = true;
    if (!w.allowed_origins.empty()) {
      json::array a;
      for (const auto& x : w.allowed_origins) a.emplace_back(x);
      ws["allowed_origins"] = std::move(a);
    }
    if (w.compression) ws["compression"] = true;
    v["websocket"] = std::move(ws);
  } else {
    v["websocket"] = json::object{};
  }
  v["jetstream"] = srv_.js() ? jetstream_varz(true) : json::object{};
  return v;
}

namespace {

// nats-server's SubDetail of one subscription (newSubDetail with the account, newClientSubDetail
// without it).
json::object sub_detail(const connection_snapshot& s, const connection_snapshot::sub_info& d, bool with_account) {
  json::object e;
  if (with_account) {
    e["account"] = s.account;
    e["account_tag"] = s.account;
  }
  e["subject"] = d.subject;
  if (!d.queue.empty()) e["qgroup"] = d.queue;
  e["sid"] = d.sid;
  e["msgs"] = d.msgs;
  if (d.max) e["max"] = d.max;
  e["cid"] = s.cid;
  return e;
}

}  // namespace

json::object endpoints::connz(const connz_options& opt, std::string* error) {
  using state_filter = connz_options::state_filter;
  auto now = std::chrono::system_clock::now();
  static const std::set<std::string, std::less<>> sorts{"",         "cid",        "start", "subs", "pending", "msgs_to",
                                                        "msgs_from", "bytes_to", "bytes_from", "last", "idle",  "uptime",
                                                        "stop",     "reason",     "rtt"};
  auto fail = [&](std::string text) {
    if (error) *error = std::move(text);
    return json::object{};
  };
  if (!sorts.contains(opt.sort)) return fail("invalid sorting option: " + opt.sort);
  if (opt.sort == "stop" && opt.state != state_filter::closed) return fail("sort by stop only valid on closed connections");
  if (opt.sort == "reason" && opt.state != state_filter::closed) return fail("sort by reason only valid on closed connections");
  const std::size_t limit = opt.cid != 0 ? 1 : (opt.limit == 0 ? 1024 : opt.limit);
  if (!opt.account.empty() && srv_.find_account(opt.account) == nullptr) {
    // nats-server's answer for an account it does not know: an unfilled document.
    return json::object{{"server_id", ""}, {"now", rfc3339(now)}, {"num_connections", 0}, {"total", 0},
                        {"offset", opt.offset}, {"limit", limit}, {"connections", nullptr}};
  }
  struct row {
    connection_snapshot s;
    std::optional<std::chrono::system_clock::time_point> stop;
    std::string reason;
  };
  const bool want_subs = opt.subscriptions || opt.subscriptions_detail;
  // Filter first (by connection, account, user), as nats-server does, then sort, then page.
  // "total" counts the connections in scope (the account's, or all, open and/or closed), before
  // the cid and user filters, as nats-server reports it.
  std::vector<row> picked;
  std::size_t in_scope = 0;
  if (opt.state != state_filter::closed) {
    auto conns = srv_.clients();
    for (const auto& c : conns) {
      auto s = c->snapshot(want_subs);
      if (!opt.account.empty() && s.account != opt.account) continue;
      ++in_scope;
      if (opt.cid != 0 && s.cid != opt.cid) continue;
      if (!opt.user.empty() && s.user != opt.user) continue;
      picked.push_back({std::move(s), std::nullopt, {}});
    }
  }
  if (opt.state != state_filter::open) {
    const bool found_open = opt.cid != 0 && !picked.empty();  // nats-server: then no closed one
    for (auto& c : srv_.closed_connections()) {
      if (!opt.account.empty() && c.conn.account != opt.account) continue;
      ++in_scope;
      if (found_open || (opt.cid != 0 && c.conn.cid != opt.cid)) continue;
      if (!opt.user.empty() && c.conn.user != opt.user) continue;
      picked.push_back({std::move(c.conn), c.stop, std::move(c.reason)});
    }
  }
  auto by = [&](auto key, bool descending) {
    std::stable_sort(picked.begin(), picked.end(), [&](const row& a, const row& b) {
      return descending ? key(b) < key(a) : key(a) < key(b);
    });
  };
  auto end_of = [&](const row& r) { return r.stop ? *r.stop : now; };
  std::stable_sort(picked.begin(), picked.end(), [](const row& a, const row& b) { return a.s.cid < b.s.cid; });
  const auto& so = opt.sort;
  if (so == "subs") by([](const row& r) { return r.s.subscriptions; }, true);
  else if (so == "pending") by([](const row& r) { return r.s.pending_bytes; }, true);
  else if (so == "msgs_to") by([](const row& r) { return r.s.out_msgs; }, true);
  else if (so == "msgs_from") by([](const row& r) { return r.s.in_msgs; }, true);
  else if (so == "bytes_to") by([](const row& r) { return r.s.out_bytes; }, true);
  else if (so == "bytes_from") by([](const row& r) { return r.s.in_bytes; }, true);
  else if (so == "last") by([](const row& r) { return r.s.last_activity; }, true);
  else if (so == "idle") by([&](const row& r) { return now - r.s.last_activity; }, true);
  else if (so == "uptime") by([&](const row& r) { return end_of(r) - r.s.start; }, false);
  else if (so == "stop") by([&](const row& r) { return end_of(r); }, true);
  else if (so == "reason") by([](const row& r) { return r.reason; }, false);
  else if (so == "rtt") by([](const row& r) { return r.s.rtt_ns; }, true);

  json::array arr;
  for (std::size_t i = opt.offset; i < picked.size() && arr.size() < limit; ++i) {
    const auto& s = picked[i].s;
    json::object j;
    j["cid"] = s.cid;
    j["kind"] = "Client";
    j["type"] = s.websocket ? "websocket" : "nats";
    j["ip"] = s.ip;
    j["port"] = s.port;
    j["start"] = rfc3339(s.start);
    j["last_activity"] = rfc3339(s.last_activity);
    if (picked[i].stop) {
      j["stop"] = rfc3339(*picked[i].stop);
      j["reason"] = picked[i].reason;
    }
    j["rtt"] = go_duration(s.rtt_ns);
    const auto until = end_of(picked[i]);
    j["uptime"] = uptime_string(until - s.start);
    j["idle"] = uptime_string(until - s.last_activity);
    j["pending_bytes"] = s.pending_bytes;
    j["in_msgs"] = s.in_msgs;
    j["out_msgs"] = s.out_msgs;
    j["in_bytes"] = s.in_bytes;
    j["out_bytes"] = s.out_bytes;
    if (!s.tls_version.empty()) {
      j["tls_version"] = s.tls_version;
      j["tls_cipher_suite"] = s.tls_cipher;
    }
    j["subscriptions"] = s.subscriptions;
    if (!s.subs.empty() && opt.subscriptions_detail) {
      json::array l;
      // nats-server names the account in a closed connection's details only.
      for (const auto& d : s.subs) l.push_back(sub_detail(s, d, picked[i].stop.has_value()));
      j["subscriptions_list_detail"] = std::move(l);
    } else if (!s.subs.empty() && opt.subscriptions) {
      json::array l;
      for (const auto& d : s.subs) l.emplace_back(d.subject);
      j["subscriptions_list"] = std::move(l);
    }
    if (!s.name.empty()) j["name"] = s.name;
    if (!s.lang.empty()) j["lang"] = s.lang;
    if (!s.version.empty()) j["version"] = s.version;
    if (opt.auth) {
      // nats-server names the user and the account only when asked (auth=true).
      if (!s.user.empty()) j["authorized_user"] = s.user;
      if (s.account != global_account_name) j["account"] = s.account;
      if (s.nkey_user) j["issuer_key"] = s.account;  // nats-server: the nkey user's account
      j["name_tag"] = s.account;
    }
    arr.push_back(std::move(j));
  }
  json::object o;
  o["server_id"] = srv_.id();
  o["now"] = rfc3339(now);
  o["num_connections"] = arr.size();
  o["total"] = in_scope;
  o["offset"] = opt.offset;
  o["limit"] = limit;
  o["connections"] = std::move(arr);
  return o;
}

json::object endpoints::jsz(const json::object* account_detail, std::int64_t offset) {
  json::object o;
  auto* js = srv_.js();
  if (!js) {
    // nats-server's JSInfo of a server without JetStream: every counter zero.
    o["server_id"] = srv_.id();
    o["now"] = rfc3339(std::chrono::system_clock::now());
    o["disabled"] = true;
    o["config"] = json::object{{"max_memory", 0}, {"max_storage", 0}};
    o["memory"] = 0;
    o["storage"] = 0;
    o["reserved_memory"] = 0;
    o["reserved_storage"] = 0;
    o["accounts"] = 0;
    o["ha_assets"] = 0;
    o["api"] = json::object{{"level", 0}, {"total", 0}, {"errors", 0}};
    o["streams"] = 0;
    o["consumers"] = 0;
    o["messages"] = 0;
    o["bytes"] = 0;
    o["total"] = 0;
    return o;
  }
  auto u = js->snapshot_usage();
  o["memory"] = u.memory;
  o["storage"] = u.storage;
  o["reserved_memory"] = 0;
  o["reserved_storage"] = 0;
  o["accounts"] = 1;
  o["ha_assets"] = 0;
  o["api"] = json::object{{"level", jetstream::api_level}, {"total", u.api_total}, {"errors", u.api_errors}};
  o["server_id"] = srv_.id();
  o["now"] = rfc3339(std::chrono::system_clock::now());
  json::object cfg;
  cfg["max_memory"] = js->max_memory();
  cfg["max_storage"] = js->max_storage();
  cfg["store_dir"] = js->store_path();
  cfg["sync_interval"] = std::chrono::duration_cast<std::chrono::nanoseconds>(js->options().sync_interval).count();
  if (js->options().sync_always) cfg["sync_always"] = true;
  cfg["strict"] = true;
  o["config"] = std::move(cfg);
  o["limits"] = json::object{};
  o["streams"] = u.streams;
  o["consumers"] = u.consumers;
  o["messages"] = u.messages;
  o["bytes"] = u.bytes;
  if (account_detail && offset < 1) o["account_details"] = json::array{*account_detail};
  o["total"] = 1;
  return o;
}

json::object endpoints::healthz(const healthz_options& o) {
  // JetStream here starts with the server or the server does not start, so a running server's
  // JetStream is up; what can fail is an asset the request names.
  auto failure = [&](int code, const char* status, const char* type, std::string text) {
    json::object h;
    if (o.details) {
      json::object e{{"type", type}};
      if (!o.account.empty() && code != 400) e["account"] = o.account;
      if (!o.stream.empty() && code != 400 && std::string_view(type) != "ACCOUNT") e["stream"] = o.stream;
      if (!o.consumer.empty() && std::string_view(type) == "CONSUMER") e["consumer"] = o.consumer;
      e["error"] = std::move(text);
      h["status"] = "error";
      h["status_code"] = code;
      h["errors"] = json::array{std::move(e)};
    } else {
      h["status"] = status;
      h["status_code"] = code;
      h["error"] = std::move(text);
    }
    return h;
  };
  if (o.account.empty() && !o.stream.empty())
    return failure(400, "error", "BAD_REQUEST", "\"account\" must not be empty when checking stream health");
  if (o.stream.empty() && !o.consumer.empty())
    return failure(400, "error", "BAD_REQUEST", "\"stream\" must not be empty when checking consumer health");
  auto* js = srv_.js();
  if (o.js_server_only || o.js_enabled_only || !js || o.account.empty())
    return json::object{{"status", "ok"}, {"status_code", 200}};
  auto q = [](const std::string& v) { return "\"" + v + "\""; };
  if (o.account != srv_.js_account().name())
    return failure(404, "unavailable", "ACCOUNT", "JetStream account " + q(o.account) + " not found");
  if (!o.stream.empty()) {
    bool stream_found = false, consumer_found = false;
    if (o.found) {
      std::tie(stream_found, consumer_found) = *o.found;
    } else {
      const auto u = js->snapshot_usage();
      stream_found = std::any_of(u.per_stream.begin(), u.per_stream.end(), [&](const auto& s) { return s.name == o.stream; });
      consumer_found = std::any_of(u.per_consumer.begin(), u.per_consumer.end(),
                                   [&](const auto& c) { return c.stream == o.stream && c.name == o.consumer; });
    }
    if (!stream_found)
      return failure(404, "unavailable", "STREAM",
                     "JetStream stream " + q(o.stream) + " not found on account " + q(o.account));
    if (!o.consumer.empty() && !consumer_found)
      return failure(404, "unavailable", "CONSUMER",
                     "JetStream consumer " + q(o.consumer) + " not found for stream " + q(o.stream) + " on account " +
                         q(o.account));
  }
  return json::object{{"status", "ok"}, {"status_code", 200}};
}

void endpoints::count_request(std::string_view path) {
  std::lock_guard lk(req_mu_);
  auto it = req_stats_.find(path);
  if (it == req_stats_.end()) req_stats_.emplace(std::string(path), 1);
  else ++it->second;
}

json::object endpoints::routez() {
  return json::object{{"server_id", srv_.id()}, {"server_name", srv_.name()}, {"now", rfc3339(std::chrono::system_clock::now())},
                      {"num_routes", 0}, {"routes", json::array{}}};
}

json::object endpoints::gatewayz() {
  return json::object{{"server_id", srv_.id()}, {"now", rfc3339(std::chrono::system_clock::now())},
                      {"outbound_gateways", json::object{}}, {"inbound_gateways", json::object{}}};
}

json::object endpoints::leafz() {
  return json::object{{"server_id", srv_.id()}, {"now", rfc3339(std::chrono::system_clock::now())}, {"leafnodes", 0},
                      {"leafs", json::array{}}};
}

json::object endpoints::accstatz(std::vector<std::string> names, bool include_unused) {
  if (names.empty()) names = srv_.account_names();
  json::array list;
  for (const auto& n : names) {
    auto a = account_statz(n, include_unused);
    if (!a.empty()) list.emplace_back(std::move(a));
  }
  return json::object{{"server_id", srv_.id()}, {"now", rfc3339(std::chrono::system_clock::now())},
                      {"account_statz", std::move(list)}};
}

json::object endpoints::accountz() {
  json::object o;
  o["server_id"] = srv_.id();
  o["now"] = rfc3339(std::chrono::system_clock::now());
  if (auto* sys = srv_.system_account()) o["system_account"] = sys->name();
  json::array names;
  for (const auto& n : srv_.account_names()) names.emplace_back(n);
  o["accounts"] = std::move(names);
  return o;
}

json::object endpoints::statsz() {
  auto& c = srv_.counters();
  const auto conns = srv_.clients();
  std::set<std::string> active;
  for (const auto& cl : conns) active.insert(cl->snapshot(false).account);
  json::object s;
  s["start"] = rfc3339(srv_.start_time());
  s["mem"] = rss_bytes();
  s["cores"] = std::thread::hardware_concurrency();
  s["cpu"] = cpu_percent();
  s["connections"] = conns.size();
  s["total_connections"] = c.total_connections.load();
  s["active_accounts"] = active.size();
  s["subscriptions"] = srv_.num_subscriptions();
  json::object sent{{"msgs", c.out_msgs.load()}, {"bytes", c.out_bytes.load()}};
  json::object received{{"msgs", c.in_msgs.load()}, {"bytes", c.in_bytes.load()}};
  s["sent"] = sent;
  s["sent_to_clients"] = std::move(sent);
  s["received"] = received;
  s["received_from_clients"] = std::move(received);
  s["slow_consumers"] = c.slow_consumers.load();
  s["active_servers"] = 1;
  if (srv_.js()) s["jetstream"] = jetstream_varz(false);
  s["gomaxprocs"] = worker_threads(srv_.opts());
  return s;
}

json::object endpoints::account_statz(const std::string& name, bool include_unused) {
  std::size_t conns = 0;
  std::uint64_t in_msgs = 0, in_bytes = 0, out_msgs = 0, out_bytes = 0;
  for (const auto& cl : srv_.clients()) {
    auto s = cl->snapshot(false);
    if (s.account != name) continue;
    ++conns;
    in_msgs += s.in_msgs;
    in_bytes += s.in_bytes;
    out_msgs += s.out_msgs;
    out_bytes += s.out_bytes;
  }
  auto* acc = srv_.find_account(name);
  if (acc == nullptr || (conns == 0 && !include_unused)) return {};
  json::object a;
  a["acc"] = name;
  a["name"] = name;
  a["conns"] = conns;
  a["leafnodes"] = 0;
  a["total_conns"] = conns;
  a["num_subscriptions"] = acc->subs().count();
  a["sent"] = account_data_stats(out_msgs, out_bytes);
  a["received"] = account_data_stats(in_msgs, in_bytes);
  a["slow_consumers"] = 0;
  return a;
}

json::object endpoints::subsz(const subsz_options& opt, std::string* error) {
  if (!opt.test.empty() && !protocol::is_valid_literal_subject(opt.test)) {
    if (error) *error = "invalid test subject, must be valid publish subject: " + opt.test;
    return {};
  }
  auto st = srv_.subs().stats();
  json::object o;
  o["server_id"] = srv_.id();
  o["now"] = rfc3339(std::chrono::system_clock::now());
  o["num_subscriptions"] = st.num_subscriptions;
  o["num_cache"] = st.num_cache;
  o["num_inserts"] = st.num_inserts;
  o["num_removes"] = st.num_removes;
  o["num_matches"] = st.num_matches;
  o["cache_hit_rate"] =
      st.num_matches ? static_cast<double>(st.cache_hits) / static_cast<double>(st.num_matches) : 0.0;
  o["max_fanout"] = st.max_fanout;
  o["avg_fanout"] = st.avg_fanout;
  std::size_t total = 0;
  if (opt.subscriptions) {
    // The clients' subscriptions (nats-server lists its internal clients' too), by connection.
    json::array list;
    auto conns = srv_.clients();
    std::sort(conns.begin(), conns.end(), [](auto& a, auto& b) { return a->client_id() < b->client_id(); });
    for (const auto& c : conns) {
      auto s = c->snapshot(true);
      if (!opt.account.empty() && s.account != opt.account) continue;
      for (const auto& d : s.subs) {
        if (!opt.test.empty() && !protocol::subject_matches(d.subject, opt.test)) continue;
        if (total++ < opt.offset || list.size() >= opt.limit) continue;
        list.push_back(sub_detail(s, d, true));
      }
    }
    o["total"] = total;
    o["offset"] = opt.offset;
    o["limit"] = opt.limit;
    o["subscriptions_list"] = std::move(list);
  } else {
    o["total"] = 0;
    o["offset"] = opt.offset;
    o["limit"] = opt.limit;
  }
  return o;
}

std::string endpoints::metrics() {
  auto& c = srv_.counters();
  std::string out;
  auto metric = [&](const char* name, const char* type, const char* help, auto value) {
    out += "# HELP "; out += name; out += ' '; out += help; out += '\n';
    out += "# TYPE "; out += name; out += ' '; out += type; out += '\n';
    out += name; out += ' '; out += std::to_string(value); out += '\n';
  };
  metric("gnatsd_varz_connections", "gauge", "Current client connections", srv_.num_clients());
  metric("gnatsd_varz_total_connections", "counter", "Client connections accepted", c.total_connections.load());
  metric("gnatsd_varz_subscriptions", "gauge", "Current subscriptions", srv_.subs().count());
  metric("gnatsd_varz_in_msgs", "counter", "Messages received from clients", c.in_msgs.load());
  metric("gnatsd_varz_out_msgs", "counter", "Messages sent to clients", c.out_msgs.load());
  metric("gnatsd_varz_in_bytes", "counter", "Payload bytes received from clients", c.in_bytes.load());
  metric("gnatsd_varz_out_bytes", "counter", "Payload bytes sent to clients", c.out_bytes.load());
  metric("gnatsd_varz_slow_consumers", "counter", "Clients closed as slow consumers", c.slow_consumers.load());
  metric("gnatsd_varz_mem", "gauge", "Resident memory in bytes", rss_bytes());
  if (auto* js = srv_.js()) {
    auto u = js->snapshot_usage();
    metric("jetstream_streams", "gauge", "Streams", u.streams);
    metric("jetstream_consumers", "gauge", "Consumers", u.consumers);
    metric("jetstream_messages", "gauge", "Messages stored in all streams", u.messages);
    metric("jetstream_bytes", "gauge", "Bytes stored in all streams", u.bytes);
    metric("jetstream_api_total", "counter", "JetStream API requests", u.api_total);
    metric("jetstream_api_errors", "counter", "JetStream API errors", u.api_errors);
    out += "# HELP jetstream_stream_messages Messages stored in a stream\n# TYPE jetstream_stream_messages gauge\n";
    for (const auto& st : u.per_stream)
      out += "jetstream_stream_messages{stream=\"" + st.name + "\"} " + std::to_string(st.messages) + "\n";
    out += "# HELP jetstream_stream_bytes Bytes stored in a stream\n# TYPE jetstream_stream_bytes gauge\n";
    for (const auto& st : u.per_stream)
      out += "jetstream_stream_bytes{stream=\"" + st.name + "\"} " + std::to_string(st.bytes) + "\n";
    out += "# HELP jetstream_consumer_num_pending Messages a consumer has not delivered yet\n# TYPE jetstream_consumer_num_pending gauge\n";
    for (const auto& cs : u.per_consumer)
      out += "jetstream_consumer_num_pending{stream=\"" + cs.stream + "\",consumer=\"" + cs.name + "\"} " + std::to_string(cs.num_pending) + "\n";
    out += "# HELP jetstream_consumer_num_ack_pending Delivered messages not acknowledged yet\n# TYPE jetstream_consumer_num_ack_pending gauge\n";
    for (const auto& cs : u.per_consumer)
      out += "jetstream_consumer_num_ack_pending{stream=\"" + cs.stream + "\",consumer=\"" + cs.name + "\"} " + std::to_string(cs.num_ack_pending) + "\n";
    out += "# HELP jetstream_consumer_ack_floor_stream_seq Stream sequence of the ack floor\n# TYPE jetstream_consumer_ack_floor_stream_seq gauge\n";
    for (const auto& cs : u.per_consumer)
      out += "jetstream_consumer_ack_floor_stream_seq{stream=\"" + cs.stream + "\",consumer=\"" + cs.name + "\"} " + std::to_string(cs.ack_floor) + "\n";
  }
  return out;
}

}  // namespace jb::server::monitor
