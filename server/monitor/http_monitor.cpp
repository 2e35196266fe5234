#include "server/monitor/http_monitor.hpp"

#include <stdexcept>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>

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

// /connz query parameters (nats-server's names: subs=1|true|detail, auth=1|true, acc, user).
monitor::connz_options connz_query(std::string_view target) {
  monitor::connz_options o;
  if (auto s = query_param(target, "offset"); !s.empty()) o.offset = std::strtoull(s.c_str(), nullptr, 10);
  if (auto s = query_param(target, "limit"); !s.empty()) o.limit = std::strtoull(s.c_str(), nullptr, 10);
  if (auto s = query_param(target, "cid"); !s.empty()) o.cid = std::strtoull(s.c_str(), nullptr, 10);
  std::string subs_q = query_param(target, "subs");
  o.subscriptions = subs_q == "1" || subs_q == "true" || subs_q == "detail";
  std::string auth_q = query_param(target, "auth");
  o.auth = auth_q == "1" || auth_q == "true";
  o.account = query_param(target, "acc");
  o.user = query_param(target, "user");
  return o;
}

}  // namespace

struct http_monitor::impl : std::enable_shared_from_this<impl> {
  server& srv;
  tcp::acceptor acceptor;

  explicit impl(server& s) : srv(s), acceptor(s.io()) {}

  http::response<http::string_body> handle(const http::request<http::string_body>& req) {
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
    if (path == "/varz") body = ep.varz();
    else if (path == "/connz") body = ep.connz(connz_query(target));
    else if (path == "/subsz" || path == "/subscriptionsz") body = ep.subsz();
    else if (path == "/jsz") body = ep.jsz();
    else if (path == "/accountz") body = ep.accountz();
    else if (path == "/metrics") {
      res.result(http::status::ok);
      res.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
      res.body() = ep.metrics();
      res.prepare_payload();
      return res;
    }
    else if (path == "/healthz") {
      monitor::healthz_options ho;
      ho.js_enabled_only = !query_param(target, "js-enabled-only").empty() || !query_param(target, "js-enabled").empty();
      auto h = ep.healthz(ho);
      // Over HTTP the status code is the response's, not a body field.
      const auto code = h["status_code"].to_number<unsigned>();
      h.erase("status_code");
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
