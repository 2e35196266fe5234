#include "server/monitor/http_monitor.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <optional>
#include <set>
#include <stdexcept>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>

#include "server/jetstream/jetstream.hpp"
#include "server/log.hpp"
#include "server/monitor/endpoints.hpp"
#include "server/server.hpp"

namespace jb::server {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
using asio::ip::tcp;

namespace {

std::string url_decode(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    const char c = in[i];
    if (c == '+') {
      out.push_back(' ');
    } else if (c == '%' && i + 2 < in.size() && std::isxdigit(static_cast<unsigned char>(in[i + 1])) &&
               std::isxdigit(static_cast<unsigned char>(in[i + 2]))) {
      out.push_back(static_cast<char>(std::stoi(std::string(in.substr(i + 1, 2)), nullptr, 16)));
      i += 2;
    } else {
      out.push_back(c);
    }
  }
  return out;
}

// Go's r.URL.Query().Get(key): the first value, URL-decoded; "" when absent.
std::string query_param(std::string_view target, std::string_view key) {
  auto q = target.find('?');
  if (q == std::string_view::npos) return {};
  std::string_view rest = target.substr(q + 1);
  while (!rest.empty()) {
    auto amp = rest.find('&');
    std::string_view kv = rest.substr(0, amp);
    auto eq = kv.find('=');
    if (url_decode(kv.substr(0, eq)) == key) return eq == std::string_view::npos ? std::string() : url_decode(kv.substr(eq + 1));
    if (amp == std::string_view::npos) break;
    rest = rest.substr(amp + 1);
  }
  return {};
}

// Go's strconv.Quote for the values quoted in strconv's errors.
std::string go_quote(std::string_view v) {
  std::string out = "\"";
  for (unsigned char c : v) {
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(static_cast<char>(c));
    } else if (c >= 0x20 && c < 0x7f) {
      out.push_back(static_cast<char>(c));
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    }
  }
  return out + "\"";
}

// nats-server's decodeBool / decodeInt / decodeUint64 on a query parameter: an absent (or empty)
// one is false / 0; a bad one is an HTTP 400 with its text (`error` set).
struct query {
  std::string_view target;
  std::string error;

  bool boolean(std::string_view key) {
    const auto v = query_param(target, key);
    if (v.empty() || !error.empty()) return false;
    if (v == "1" || v == "t" || v == "T" || v == "true" || v == "TRUE" || v == "True") return true;
    if (v == "0" || v == "f" || v == "F" || v == "false" || v == "FALSE" || v == "False") return false;
    error = "Error decoding boolean for '" + std::string(key) + "': strconv.ParseBool: parsing " + go_quote(v) + ": invalid syntax";
    return false;
  }
  std::int64_t integer(std::string_view key) {
    const auto v = query_param(target, key);
    if (v.empty() || !error.empty()) return 0;
    std::int64_t out = 0;
    const char* b = v.data() + (v[0] == '+' ? 1 : 0);
    auto [p, ec] = std::from_chars(b, v.data() + v.size(), out);
    if (b == v.data() + v.size() || p != v.data() + v.size() || (ec != std::errc() && ec != std::errc::result_out_of_range) ||
        (v[0] == '+' && v.size() > 1 && v[1] == '-')) {
      error = "Error decoding int for '" + std::string(key) + "': strconv.Atoi: parsing " + go_quote(v) + ": invalid syntax";
    } else if (ec == std::errc::result_out_of_range) {
      error = "Error decoding int for '" + std::string(key) + "': strconv.Atoi: parsing " + go_quote(v) + ": value out of range";
    }
    return error.empty() ? out : 0;
  }
  std::uint64_t uint64(std::string_view key) {
    const auto v = query_param(target, key);
    if (v.empty() || !error.empty()) return 0;
    std::uint64_t out = 0;
    auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
    if (p != v.data() + v.size() || (ec != std::errc() && ec != std::errc::result_out_of_range)) {
      error = "Error decoding uint64 for '" + std::string(key) + "': strconv.ParseUint: parsing " + go_quote(v) + ": invalid syntax";
    } else if (ec == std::errc::result_out_of_range) {
      error = "Error decoding uint64 for '" + std::string(key) + "': strconv.ParseUint: parsing " + go_quote(v) + ": value out of range";
    }
    return error.empty() ? out : 0;
  }
};

// /connz query parameters, decoded in nats-server's order (the first bad one is the answer).
monitor::connz_options connz_query(query& q) {
  monitor::connz_options o;
  o.sort = query_param(q.target, "sort");
  o.auth = q.boolean("auth");
  std::string subs_q = query_param(q.target, "subs");
  std::transform(subs_q.begin(), subs_q.end(), subs_q.begin(), [](unsigned char c) { return std::tolower(c); });
  if (subs_q == "detail") o.subscriptions_detail = true;
  else o.subscriptions = q.boolean("subs");
  o.offset = static_cast<std::size_t>(std::max<std::int64_t>(q.integer("offset"), 0));
  const auto limit = q.integer("limit");
  o.limit = limit <= 0 ? 1024 : static_cast<std::size_t>(limit);
  o.cid = q.uint64("cid");
  if (auto st = query_param(q.target, "state"); !st.empty() && q.error.empty()) {
    std::string low = st;
    std::transform(low.begin(), low.end(), low.begin(), [](unsigned char c) { return std::tolower(c); });
    if (low == "open") o.state = monitor::connz_options::state_filter::open;
    else if (low == "closed") o.state = monitor::connz_options::state_filter::closed;
    else if (low == "any" || low == "all") o.state = monitor::connz_options::state_filter::any;
    else q.error = "Error decoding state for " + st;
  }
  o.account = query_param(q.target, "acc");
  o.user = query_param(q.target, "user");
  return o;
}

}  // namespace

struct http_monitor::impl : std::enable_shared_from_this<impl> {
  server& srv;
  tcp::acceptor acceptor;

  explicit impl(server& s) : srv(s), acceptor(s.io()) {}

  // /jsz: the query decoded as nats-server's HandleJsz does; whether (and how) the JetStream
  // account's detail is wanted. The detail itself is built on the JetStream strand (session()).
  struct jsz_request {
    bool detail = false, streams = false, consumers = false, config = false, leader_only = false;
    std::int64_t offset = 0;
  };
  static jsz_request jsz_query(query& q, const std::string& js_account) {
    jsz_request r;
    bool accounts = q.boolean("accounts");
    r.streams = q.boolean("streams");
    r.consumers = q.boolean("consumers");
    (void)q.boolean("direct-consumers");
    r.config = q.boolean("config");
    r.offset = std::max<std::int64_t>(q.integer("offset"), 0);
    auto limit = q.integer("limit");
    r.leader_only = q.boolean("leader-only");
    (void)q.boolean("raft");
    (void)q.boolean("stream-leader-only");
    const auto acc = query_param(q.target, "acc");
    if (limit == 0) limit = 1024;
    if (r.consumers) r.streams = true;
    if (r.streams && acc.empty()) accounts = true;
    // The targeted account (when it has JetStream) takes precedence over paging.
    if (!acc.empty() && acc == js_account) {
      r.detail = true;
      r.offset = 0;
    } else if (accounts) {
      r.detail = true;
      if (limit < 0) r.offset = 0;
    }
    return r;
  }

  http::response<http::string_body> handle(const http::request<http::string_body>& req,
                                           const json::object* jsz_detail = nullptr,
                                           std::optional<std::pair<bool, bool>> assets = std::nullopt) {
    std::string_view target(req.target().data(), req.target().size());
    std::string_view path = target.substr(0, target.find('?'));
    http::response<http::string_body> res;
    res.version(req.version());
    res.keep_alive(req.keep_alive());
    res.set(http::field::server, "jetbroker");
    res.set(http::field::access_control_allow_origin, "*");
    res.set(http::field::content_type, "application/json");
    auto& ep = srv.monitoring();
    json::value body;
    query q{target, {}};
    static const std::set<std::string_view> counted{"/varz", "/connz", "/routez", "/gatewayz", "/leafz", "/subsz",
                                                    "/subscriptionsz", "/accountz", "/accstatz", "/jsz", "/healthz", "/"};
    if (counted.contains(path)) ep.count_request(path == "/subscriptionsz" ? "/subsz" : path);
    auto bad_request = [&](const std::string& text) {
      // nats-server writes the text with no JSON content type and no CORS header.
      res.result(http::status::bad_request);
      res.erase(http::field::access_control_allow_origin);
      res.set(http::field::content_type, "text/plain; charset=utf-8");
      res.body() = text;
      res.prepare_payload();
      return res;
    };
    if (path == "/varz") body = ep.varz();
    else if (path == "/connz") {
      auto o = connz_query(q);
      if (!q.error.empty()) return bad_request(q.error);
      std::string err;
      body = ep.connz(o, &err);
      if (!err.empty()) return bad_request(err);
    }
    else if (path == "/subsz" || path == "/subscriptionsz") {
      monitor::subsz_options so;
      so.subscriptions = q.boolean("subs");
      so.offset = static_cast<std::size_t>(std::max<std::int64_t>(q.integer("offset"), 0));
      const auto limit = q.integer("limit");
      so.limit = limit <= 0 ? 1024 : static_cast<std::size_t>(limit);
      if (!q.error.empty()) return bad_request(q.error);
      so.test = query_param(target, "test");
      so.account = query_param(target, "acc");
      std::string err;
      body = ep.subsz(so, &err);
      if (!err.empty()) return bad_request(err);
    }
    else if (path == "/jsz") {
      auto r = jsz_query(q, srv.js() ? srv.js_account().name() : std::string());
      if (!q.error.empty()) return bad_request(q.error);
      if (r.leader_only && !srv.js()) return bad_request("filtered response: not leader");
      body = ep.jsz(jsz_detail, r.offset);
    }
    else if (path == "/accountz") body = ep.accountz();
    else if (path == "/routez") body = ep.routez();
    else if (path == "/gatewayz") body = ep.gatewayz();
    else if (path == "/leafz") body = ep.leafz();
    else if (path == "/ipqueuesz") body = json::object{};  // no internal queues to report
    else if (path == "/raftz") {
      res.result(http::status::not_found);
      res.set(http::field::content_type, "text/plain; charset=utf-8");
      res.body() = "No Raft nodes registered";
      res.prepare_payload();
      return res;
    }
    else if (path == "/accstatz") {
      const bool unused = q.boolean("unused");
      if (!q.error.empty()) return bad_request(q.error);
      body = ep.accstatz({}, unused);
    }
    else if (path == "/metrics") {
      res.result(http::status::ok);
      res.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
      res.body() = ep.metrics();
      res.prepare_payload();
      return res;
    }
    else if (path == "/healthz") {
      monitor::healthz_options ho;
      const bool js_enabled = q.boolean("js-enabled");
      ho.js_enabled_only = q.boolean("js-enabled-only") || js_enabled;
      ho.js_server_only = q.boolean("js-server-only");
      (void)q.boolean("js-meta-only");  // meta checks: a single server has no meta group
      ho.details = q.boolean("details");
      if (!q.error.empty()) return bad_request(q.error);
      ho.account = query_param(target, "account");
      ho.stream = query_param(target, "stream");
      ho.consumer = query_param(target, "consumer");
      ho.found = assets;
      auto h = ep.healthz(ho);
      // Over HTTP the status code is the response's, not a body field.
      const auto code = h["status_code"].to_number<unsigned>();
      h.erase("status_code");
      if (auto* e = h.if_contains("error")) log::server().warn("Healthcheck failed: {}", go_quote(e->as_string()));
      res.result(static_cast<http::status>(code));
      res.body() = json::serialize(h);
      res.prepare_payload();
      return res;
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

  // Run on the JetStream strand (co_spawn). Named coroutines with by-value parameters rather than
  // lambdas in the co_await expression: GCC 12 mishandles a capturing lambda temporary there.
  static asio::awaitable<json::object> jsz_detail_on_strand(jetstream::jetstream* js, bool streams, bool consumers,
                                                             bool config) {
    co_return js->account_detail(streams, consumers, config);
  }
  static asio::awaitable<std::pair<bool, bool>> assets_on_strand(jetstream::jetstream* js, std::string stream,
                                                                 std::string consumer) {
    co_return js->has_assets(stream, consumer);
  }

  asio::awaitable<void> session(std::shared_ptr<impl> /*keep_alive*/, tcp::socket sock) {
    beast::flat_buffer buf;
    for (;;) {
      http::request<http::string_body> req;
      auto [ec, n] = co_await http::async_read(sock, buf, req, asio::as_tuple(asio::use_awaitable));
      if (ec) break;
      // /jsz with account details: built on the JetStream strand, which owns that state.
      std::optional<json::object> detail;
      std::string_view target(req.target().data(), req.target().size());
      if (auto* js = srv.js(); js && target.substr(0, target.find('?')) == "/jsz") {
        query q{target, {}};
        auto r = jsz_query(q, srv.js_account().name());
        if (q.error.empty() && r.detail) {
          detail = co_await asio::co_spawn(js->executor(), jsz_detail_on_strand(js, r.streams, r.consumers, r.config),
                                           asio::use_awaitable);
        }
      }
      // /healthz naming a stream: looked up on the strand too.
      std::optional<std::pair<bool, bool>> assets;
      if (auto* js = srv.js(); js && target.substr(0, target.find('?')) == "/healthz") {
        auto stream = query_param(target, "stream"), consumer = query_param(target, "consumer");
        if (!stream.empty()) {
          assets = co_await asio::co_spawn(js->executor(), assets_on_strand(js, std::move(stream), std::move(consumer)),
                                           asio::use_awaitable);
        }
      }
      auto res = handle(req, detail ? &*detail : nullptr, assets);
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
    throw std::runtime_error("Can't start monitoring: can't listen to the monitor port: listen tcp " +
                             ep.address().to_string() + ":" + std::to_string(ep.port()) + ": bind: " + go_error_text(ec));
  }
  impl_->do_accept();
  return a.local_endpoint().port();
}

void http_monitor::stop() {
  boost::system::error_code ignored;
  impl_->acceptor.close(ignored);
}

}  // namespace jb::server
