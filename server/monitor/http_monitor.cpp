#include "server/monitor/http_monitor.hpp"

#include "server/tls.hpp"

#include <unistd.h>

#include <fstream>
#include <stdexcept>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>

#include "server/client_connection.hpp"
#include "server/jetstream/jetstream.hpp"
#include "server/jetstream/stream_config.hpp"
#include "server/log.hpp"
#include "server/server.hpp"
#include "server/time_util.hpp"
#include "version.hpp"

namespace jb::server {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
using asio::ip::tcp;

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

std::string query_param(std::string_view target, std::string_view key) {
  auto q = target.find('?');
  if (q == std::string_view::npos) return {};
  std::string_view rest = target.substr(q + 1);
  while (!rest.empty()) {
    auto amp = rest.find('&');
    std::string_view kv = rest.substr(0, amp);
    auto eq = kv.find('=');
    if (kv.substr(0, eq) == key) return eq == std::string_view::npos ? "true" : std::string(kv.substr(eq + 1));
    if (amp == std::string_view::npos) break;
    rest = rest.substr(amp + 1);
  }
  return {};
}

}  // namespace

struct http_monitor::impl : std::enable_shared_from_this<impl> {
  server& srv;
  tcp::acceptor acceptor;
  std::chrono::steady_clock::time_point last_cpu_at = std::chrono::steady_clock::now();
  double last_cpu = cpu_seconds();
  double cpu_pct = 0;
  std::mutex mu;

  explicit impl(server& s) : srv(s), acceptor(s.io()) {}

  double cpu_percent() {
    std::lock_guard lk(mu);
    auto now = std::chrono::steady_clock::now();
    double wall = std::chrono::duration<double>(now - last_cpu_at).count();
    if (wall >= 0.5) {
      double c = cpu_seconds();
      cpu_pct = (c - last_cpu) / wall * 100.0;
      last_cpu = c;
      last_cpu_at = now;
    }
    return cpu_pct;
  }

  json::object varz() {
    const auto& o = srv.opts();
    auto now = std::chrono::system_clock::now();
    auto& c = srv.counters();
    json::object v;
    v["server_id"] = srv.id();
    v["server_name"] = srv.name();
    v["version"] = nats_compat_version;
    v["jetbroker_version"] = jetbroker_version;
    v["proto"] = 1;
    v["go"] = "jetbroker";
    v["host"] = o.host;
    v["port"] = srv.port();
    v["auth_required"] = o.auth_required();
    v["max_connections"] = o.max_connections;
    v["ping_interval"] = std::chrono::duration_cast<std::chrono::nanoseconds>(o.ping_interval).count();
    v["ping_max"] = o.max_pings_out;
    v["http_host"] = o.http_host.empty() ? o.host : o.http_host;
    v["http_port"] = srv.http_port();
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
    v["start"] = rfc3339(srv.start_time());
    v["now"] = rfc3339(now);
    v["uptime"] = uptime_string(now - srv.start_time());
    v["mem"] = rss_bytes();
    v["cores"] = std::thread::hardware_concurrency();
    v["cpu"] = cpu_percent();
    v["connections"] = srv.num_clients();
    v["total_connections"] = c.total_connections.load();
    v["routes"] = 0;
    v["remotes"] = 0;
    v["leafnodes"] = 0;
    v["in_msgs"] = c.in_msgs.load();
    v["out_msgs"] = c.out_msgs.load();
    v["in_bytes"] = c.in_bytes.load();
    v["out_bytes"] = c.out_bytes.load();
    v["slow_consumers"] = c.slow_consumers.load();
    v["subscriptions"] = srv.num_subscriptions();
    v["config_load_time"] = rfc3339(srv.start_time());
    if (o.websocket.configured) {
      // As nats-server: the block's settings, with the listener's address once it runs.
      const auto& w = o.websocket;
      json::object ws;
      if (websocket_enabled(o) || !w.host.empty()) ws["host"] = w.host.empty() ? std::string("0.0.0.0") : w.host;
      if (srv.websocket_port() > 0) ws["port"] = srv.websocket_port();
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
    if (srv.js()) {
      auto j = jsz();
      json::object out;
      out["config"] = j["config"];
      json::object stats;
      for (const char* k : {"memory", "storage", "reserved_memory", "reserved_storage", "accounts", "ha_assets", "api"})
        stats[k] = j[k];
      out["stats"] = std::move(stats);
      out["limits"] = json::object{};
      v["jetstream"] = std::move(out);
    }
    return v;
  }

  json::object connz(std::string_view target) {
    auto now = std::chrono::system_clock::now();
    auto conns = srv.clients();
    std::sort(conns.begin(), conns.end(), [](auto& a, auto& b) { return a->client_id() < b->client_id(); });
    std::size_t offset = 0, limit = 1024;
    if (auto s = query_param(target, "offset"); !s.empty()) offset = std::strtoull(s.c_str(), nullptr, 10);
    if (auto s = query_param(target, "limit"); !s.empty()) limit = std::strtoull(s.c_str(), nullptr, 10);
    std::string subs_q = query_param(target, "subs");
    const bool subs_list = subs_q == "1" || subs_q == "true" || subs_q == "detail";
    std::string auth_q = query_param(target, "auth");
    const bool auth = auth_q == "1" || auth_q == "true";
    json::array arr;
    for (std::size_t i = offset; i < conns.size() && arr.size() < limit; ++i) {
      auto s = conns[i]->snapshot(subs_list);
      json::object j;
      j["cid"] = s.cid;
      j["kind"] = "Client";
      j["type"] = s.websocket ? "websocket" : "nats";
      j["ip"] = s.ip;
      j["port"] = s.port;
      j["start"] = rfc3339(s.start);
      j["last_activity"] = rfc3339(s.last_activity);
      j["uptime"] = uptime_string(now - s.start);
      j["idle"] = uptime_string(now - s.last_activity);
      j["pending_bytes"] = s.pending_bytes;
      j["in_msgs"] = s.in_msgs;
      j["out_msgs"] = s.out_msgs;
      j["in_bytes"] = s.in_bytes;
      j["out_bytes"] = s.out_bytes;
      j["rtt"] = go_duration(s.rtt_ns);
      if (!s.tls_version.empty()) {
        j["tls_version"] = s.tls_version;
        j["tls_cipher_suite"] = s.tls_cipher;
      }
      j["subscriptions"] = s.subscriptions;
      if (subs_list && !s.subjects.empty()) {
        json::array l;
        for (auto& subj : s.subjects) l.emplace_back(subj);
        j["subscriptions_list"] = std::move(l);
      }
      if (!s.name.empty()) j["name"] = s.name;
      if (!s.lang.empty()) j["lang"] = s.lang;
      if (!s.version.empty()) j["version"] = s.version;
      if (auth) {
        // nats-server names the user and the account only when asked (auth=true).
        if (!s.user.empty()) j["authorized_user"] = s.user;
        if (s.account != "$G") j["account"] = s.account;
        j["name_tag"] = s.account;
      }
      arr.push_back(std::move(j));
    }
    json::object o;
    o["server_id"] = srv.id();
    o["now"] = rfc3339(now);
    o["num_connections"] = arr.size();
    o["total"] = conns.size();
    o["offset"] = offset;
    o["limit"] = limit;
    o["connections"] = std::move(arr);
    return o;
  }

  json::object jsz() {
    json::object o;
    auto* js = srv.js();
    if (!js) {
      o["server_id"] = srv.id();
      o["now"] = rfc3339(std::chrono::system_clock::now());
      o["disabled"] = true;
      o["config"] = json::object{};
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
    o["server_id"] = srv.id();
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
    o["total"] = 1;
    return o;
  }

  // Prometheus text exposition format (nats-server has no native endpoint; the exporter's metric
  // names are mirrored where they exist: gnatsd_varz_*).
  std::string metrics() {
    auto& c = srv.counters();
    std::string out;
    auto metric = [&](const char* name, const char* type, const char* help, auto value) {
      out += "# HELP "; out += name; out += ' '; out += help; out += '\n';
      out += "# TYPE "; out += name; out += ' '; out += type; out += '\n';
      out += name; out += ' '; out += std::to_string(value); out += '\n';
    };
    metric("gnatsd_varz_connections", "gauge", "Current client connections", srv.num_clients());
    metric("gnatsd_varz_total_connections", "counter", "Client connections accepted", c.total_connections.load());
    metric("gnatsd_varz_subscriptions", "gauge", "Current subscriptions", srv.subs().count());
    metric("gnatsd_varz_in_msgs", "counter", "Messages received from clients", c.in_msgs.load());
    metric("gnatsd_varz_out_msgs", "counter", "Messages sent to clients", c.out_msgs.load());
    metric("gnatsd_varz_in_bytes", "counter", "Payload bytes received from clients", c.in_bytes.load());
    metric("gnatsd_varz_out_bytes", "counter", "Payload bytes sent to clients", c.out_bytes.load());
    metric("gnatsd_varz_slow_consumers", "counter", "Clients closed as slow consumers", c.slow_consumers.load());
    metric("gnatsd_varz_mem", "gauge", "Resident memory in bytes", rss_bytes());
    if (auto* js = srv.js()) {
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

  json::object subsz() {
    auto st = srv.subs().stats();
    json::object o;
    o["server_id"] = srv.id();
    o["now"] = rfc3339(std::chrono::system_clock::now());
    o["num_subscriptions"] = st.num_subscriptions;
    o["num_cache"] = st.num_cache;
    o["num_inserts"] = st.num_inserts;
    o["num_removes"] = st.num_removes;
    o["num_matches"] = st.num_matches;
    o["cache_hit_rate"] = st.num_matches ? static_cast<double>(st.cache_hits) / static_cast<double>(st.num_matches) : 0.0;
    o["max_fanout"] = st.max_fanout;
    o["avg_fanout"] = st.avg_fanout;
    return o;
  }

  http::response<http::string_body> handle(const http::request<http::string_body>& req) {
    std::string_view target(req.target().data(), req.target().size());
    std::string_view path = target.substr(0, target.find('?'));
    http::response<http::string_body> res;
    res.version(req.version());
    res.keep_alive(req.keep_alive());
    res.set(http::field::server, "jetbroker");
    res.set(http::field::access_control_allow_origin, "*");
    res.set(http::field::content_type, "application/json");
    json::value body;
    if (path == "/varz") body = varz();
    else if (path == "/connz") body = connz(target);
    else if (path == "/subsz" || path == "/subscriptionsz") body = subsz();
    else if (path == "/jsz") body = jsz();
    else if (path == "/metrics") {
      res.result(http::status::ok);
      res.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
      res.body() = metrics();
      res.prepare_payload();
      return res;
    }
    else if (path == "/healthz") {
      if ((!query_param(target, "js-enabled-only").empty() || !query_param(target, "js-enabled").empty()) && !srv.js()) {
        res.result(http::status::service_unavailable);
        res.body() = json::serialize(json::object{{"status", "unavailable"}, {"error", "JetStream not enabled"}});
        res.prepare_payload();
        return res;
      }
      body = json::object{{"status", "ok"}};
    }
    else if (path == "/" || path.empty()) {
      res.set(http::field::content_type, "text/html; charset=utf-8");
      res.body() = "<html><body><h1>jetbroker</h1><a href=/varz>varz</a> <a href=/connz>connz</a> "
                   "<a href=/subsz>subsz</a> <a href=/jsz>jsz</a> <a href=/healthz>healthz</a></body></html>";
      res.result(http::status::ok);
      res.prepare_payload();
      return res;
    } else {
      res.result(http::status::not_found);
      res.set(http::field::content_type, "text/plain");
      res.body() = "404 page not found\n";
      res.prepare_payload();
      return res;
    }
    res.result(http::status::ok);
    res.body() = json::serialize(body);
    res.prepare_payload();
    return res;
  }

  asio::awaitable<void> session(std::shared_ptr<impl> /*keep_alive*/, tcp::socket sock) {
    beast::flat_buffer buf;
    for (;;) {
      http::request<http::string_body> req;
      auto [ec, n] = co_await http::async_read(sock, buf, req, asio::as_tuple(asio::use_awaitable));
      if (ec) break;
      auto res = handle(req);
      bool keep = res.keep_alive();
      auto [wec, wn] = co_await http::async_write(sock, res, asio::as_tuple(asio::use_awaitable));
      if (wec || !keep) break;
    }
    boost::system::error_code ignored;
    sock.shutdown(tcp::socket::shutdown_both, ignored);
  }

  void do_accept() {
    auto self = shared_from_this();
    acceptor.async_accept(asio::make_strand(srv.io()), [self](boost::system::error_code ec, tcp::socket sock) {
      if (ec) {
        if (ec == asio::error::operation_aborted) return;
        self->do_accept();
        return;
      }
      auto ex = sock.get_executor();
      asio::co_spawn(ex, [self, s = std::move(sock)]() mutable { return self->session(self, std::move(s)); }, asio::detached);
      self->do_accept();
    });
  }
};

http_monitor::http_monitor(server& srv) : impl_(std::make_shared<impl>(srv)) {}
http_monitor::~http_monitor() = default;

int http_monitor::listen(const tcp::endpoint& ep) {
  boost::system::error_code ec;
  auto& a = impl_->acceptor;
  a.open(ep.protocol(), ec);
  if (!ec) a.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) a.bind(ep, ec);
  if (!ec) a.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    throw std::runtime_error("Can't listen to the Monitor Port: listen tcp " + ep.address().to_string() + ":" +
                             std::to_string(ep.port()) + ": bind: " + ec.message());
  }
  impl_->do_accept();
  return a.local_endpoint().port();
}

void http_monitor::stop() {
  boost::system::error_code ignored;
  impl_->acceptor.close(ignored);
}

}  // namespace jb::server
