#include "server/websocket_listener.hpp"

#include <algorithm>
#include <cctype>
#include <ctime>
#include <optional>
#include <stdexcept>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/websocket.hpp>

#include "server/log.hpp"
#include "server/server.hpp"
#include "server/tls.hpp"
#include "server/transport.hpp"

namespace jb::server {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::ip::tcp;

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// A comma-separated token of any `name` header equals `value`, ignoring case (nats wsHeaderContains).
bool header_contains(const http::request<http::string_body>& req, std::string_view name, std::string_view value) {
  const std::string want = lower(value);
  auto [b, e] = req.equal_range(name);
  for (auto it = b; it != e; ++it) {
    std::string_view v = it->value();
    while (!v.empty()) {
      auto comma = v.find(',');
      if (lower(trim(v.substr(0, comma))) == want) return true;
      if (comma == std::string_view::npos) break;
      v.remove_prefix(comma + 1);
    }
  }
  return false;
}

// The key must be the base64 of 16 bytes.
bool valid_key(std::string_view k) {
  if (k.size() != 24 || k.substr(22) != "==") return false;
  return std::all_of(k.begin(), k.begin() + 22,
                     [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '/'; });
}

struct host_port {
  std::string host, port;
};

// "host[:port]" or "[v6][:port]"; a missing port is the scheme's default (nats wsGetHostAndPort).
host_port split_host_port(std::string_view hp, bool tls) {
  host_port out;
  std::string_view host = hp, port;
  if (!hp.empty() && hp.front() == '[') {
    auto close = hp.find(']');
    host = hp.substr(1, close == std::string_view::npos ? std::string_view::npos : close - 1);
    if (close != std::string_view::npos && close + 1 < hp.size() && hp[close + 1] == ':') port = hp.substr(close + 2);
  } else if (auto colon = hp.rfind(':'); colon != std::string_view::npos) {
    host = hp.substr(0, colon);
    port = hp.substr(colon + 1);
  }
  out.host = lower(host);
  out.port = port.empty() ? (tls ? "443" : "80") : std::string(port);
  return out;
}

struct parsed_url {
  std::string scheme, host;  // host includes any port
};

std::optional<parsed_url> parse_origin(std::string_view u) {
  auto sep = u.find("://");
  if (sep == std::string_view::npos || sep == 0) return std::nullopt;
  parsed_url p;
  p.scheme = lower(u.substr(0, sep));
  auto rest = u.substr(sep + 3);
  p.host = std::string(rest.substr(0, rest.find('/')));
  return p;
}

// Go's http.Error response (text/plain, status text and a newline), plus nats' version header.
std::string http_error(int status) {
  const char* text = status == 405 ? "Method Not Allowed" : status == 403 ? "Forbidden" : "Bad Request";
  char date[64];
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  std::strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  const std::string body = std::string(text) + "\n";
  return "HTTP/1.1 " + std::to_string(status) + " " + text +
         "\r\nContent-Type: text/plain; charset=utf-8\r\nSec-Websocket-Version: 13\r\n"
         "X-Content-Type-Options: nosniff\r\nDate: " +
         date + "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

// Closes the socket under a stream when a deadline passes; the coroutine clears `sock` when done.
struct deadline_guard {
  tcp::socket* sock = nullptr;
  bool expired = false;
};

}  // namespace

ws_origin_policy ws_origin_policy::from(const config::websocket_options& o) {
  ws_origin_policy p;
  p.same_origin = o.same_origin;
  for (const auto& ao : o.allowed_origins) {
    auto u = parse_origin(ao);
    if (!u) throw std::runtime_error("unable to parse allowed origin: parse \"" + ao + "\": invalid URI for request");
    auto hp = split_host_port(u->host, u->scheme == "https");
    p.allowed_origins[hp.host] = {u->scheme, hp.port};
  }
  return p;
}

namespace {

// The value of cookie `name` in the request's Cookie headers ("a=1; b=2"); empty when `name` is
// empty or absent.
std::string cookie_value(const http::request<http::string_body>& req, std::string_view name) {
  if (name.empty()) return {};
  auto [b, e] = req.equal_range(http::field::cookie);
  for (auto it = b; it != e; ++it) {
    std::string_view rest = it->value();
    while (!rest.empty()) {
      auto semi = rest.find(';');
      std::string_view pair = rest.substr(0, semi);
      rest = semi == std::string_view::npos ? std::string_view{} : rest.substr(semi + 1);
      while (!pair.empty() && pair.front() == ' ') pair.remove_prefix(1);
      auto eq = pair.find('=');
      if (eq != std::string_view::npos && pair.substr(0, eq) == name) {
        std::string_view v = pair.substr(eq + 1);
        while (!v.empty() && v.back() == ' ') v.remove_suffix(1);
        if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
        return std::string(v);
      }
    }
  }
  return {};
}

}  // namespace

std::optional<ws_refusal> check_ws_upgrade(const http::request<http::string_body>& req,
                                           const ws_origin_policy& origins, bool request_tls) {
  if (req.method() != http::verb::get) return ws_refusal{405, "request method must be GET"};
  if (req[http::field::host].empty()) return ws_refusal{400, "'Host' missing in request"};
  if (!header_contains(req, "Upgrade", "websocket")) return ws_refusal{400, "invalid value for header 'Upgrade'"};
  if (!header_contains(req, "Connection", "Upgrade")) return ws_refusal{400, "invalid value for header 'Connection'"};
  const auto key = req["Sec-WebSocket-Key"];
  if (key.empty()) return ws_refusal{400, "key missing"};
  if (!valid_key(key)) return ws_refusal{400, "invalid websocket key"};
  if (!header_contains(req, "Sec-WebSocket-Version", "13")) return ws_refusal{400, "invalid version"};
  if (!origins.same_origin && origins.allowed_origins.empty()) return std::nullopt;
  std::string_view origin = req["Origin"];
  if (origin.empty()) origin = req["Sec-WebSocket-Origin"];
  if (origin.empty()) return std::nullopt;  // not a browser: the origin model does not apply
  auto u = parse_origin(origin);
  if (!u) {
    return ws_refusal{403, "origin not allowed: parse \"" + std::string(origin) + "\": invalid URI for request"};
  }
  auto o = split_host_port(u->host, u->scheme == "https");
  if (origins.same_origin) {
    auto r = split_host_port(req[http::field::host], request_tls);
    if (o.host != r.host || o.port != r.port) return ws_refusal{403, "origin not allowed: not same origin"};
  }
  if (!origins.allowed_origins.empty()) {
    auto it = origins.allowed_origins.find(o.host);
    if (it == origins.allowed_origins.end() || it->second.scheme != u->scheme || it->second.port != o.port)
      return ws_refusal{403, "origin not allowed: not in the allowed list"};
  }
  return std::nullopt;
}

websocket_listener::websocket_listener(server& srv, const config::websocket_options& o, asio::ssl::context* tls)
    : srv_(srv), opts_(o), tls_(tls), origins_(ws_origin_policy::from(o)), acceptor_(srv.io()) {}

websocket_listener::~websocket_listener() = default;

int websocket_listener::listen() {
  const std::string host = opts_.host.empty() ? "0.0.0.0" : opts_.host;
  const int want = opts_.port == -1 ? 0 : opts_.port;
  boost::system::error_code ec;
  auto addr = asio::ip::make_address(host == "localhost" ? "127.0.0.1" : host, ec);
  if (ec) throw std::runtime_error("Unable to listen for websocket connections: invalid address \"" + host + "\"");
  tcp::endpoint ep(addr, static_cast<unsigned short>(want));
  acceptor_.open(ep.protocol(), ec);
  if (!ec) acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec && ep.address().is_v6()) acceptor_.set_option(asio::ip::v6_only(false), ec);
  if (!ec) acceptor_.bind(ep, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  const std::string hp = (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" + std::to_string(want);
  if (ec) {
    throw std::runtime_error("Unable to listen for websocket connections: listen tcp " + hp + ": bind: " +
                             go_error_text(ec));
  }
  port_ = acceptor_.local_endpoint().port();
  log::server().info("Listening for websocket clients on {}://{}:{}", tls_ ? "wss" : "ws", host, port_);
  if (!tls_) log::server().warn("Websocket not configured with TLS. DO NOT USE IN PRODUCTION!");
  do_accept();
  return port_;
}

void websocket_listener::stop() {
  asio::post(acceptor_.get_executor(), [this] {
    boost::system::error_code ignored;
    acceptor_.close(ignored);
  });
}

void websocket_listener::do_accept() {
  acceptor_.async_accept(asio::make_strand(srv_.io()), [this](boost::system::error_code ec, tcp::socket sock) {
    if (ec) {
      if (ec == asio::error::operation_aborted || !acceptor_.is_open()) return;
      log::server().error("Error accepting websocket connection: {}", ec.message());
      do_accept();
      return;
    }
    auto ex = sock.get_executor();
    asio::co_spawn(ex, upgrade(std::move(sock)), asio::detached);
    do_accept();
  });
}

asio::awaitable<void> websocket_listener::upgrade(tcp::socket sock) {
  boost::system::error_code ec;
  auto rep = sock.remote_endpoint(ec);
  const std::string peer = ec ? std::string("?") : rep.address().to_string() + ":" + std::to_string(rep.port());
  sock.set_option(tcp::no_delay(true), ec);
  // nats-server's http.Server ReadTimeout: the whole handshake (TLS and request) within it.
  auto deadline = opts_.handshake_timeout.count() > 0 ? std::chrono::steady_clock::now() + opts_.handshake_timeout
                                                      : std::chrono::steady_clock::time_point::max();
  if (tls_ == nullptr) {
    co_await read_and_accept(std::move(sock), peer, deadline);
    co_return;
  }
  transport::tls_stream stream(std::move(sock), *tls_);
  auto guard = std::make_shared<deadline_guard>();
  guard->sock = &stream.next_layer();
  asio::steady_timer timer(stream.get_executor(), deadline);
  timer.async_wait([guard](boost::system::error_code tec) {
    if (!tec && guard->sock) {
      guard->expired = true;
      boost::system::error_code ignored;
      guard->sock->cancel(ignored);
    }
  });
  auto [hec] = co_await stream.async_handshake(asio::ssl::stream_base::server, asio::as_tuple(asio::use_awaitable));
  guard->sock = nullptr;
  timer.cancel();
  if (hec) {
    boost::system::error_code lec;
    auto local = stream.next_layer().local_endpoint(lec);
    auto f = describe_tls_handshake_error(hec, guard->expired,
                                          local.address().to_string() + ":" + std::to_string(local.port()), peer);
    log::server().error("websocket: http: TLS handshake error from {}: {}", peer, f.text);
    boost::system::error_code ignored;
    stream.next_layer().close(ignored);
    co_return;
  }
  co_await read_and_accept(std::move(stream), peer, deadline);
}

template <class Stream>
asio::awaitable<void> websocket_listener::read_and_accept(Stream stream, std::string peer,
                                                          std::chrono::steady_clock::time_point deadline) {
  auto& lowest = beast::get_lowest_layer(stream);
  auto guard = std::make_shared<deadline_guard>();
  guard->sock = &lowest;
  asio::steady_timer timer(stream.get_executor(), deadline);
  timer.async_wait([guard](boost::system::error_code tec) {
    if (!tec && guard->sock) {
      guard->expired = true;
      boost::system::error_code ignored;
      guard->sock->cancel(ignored);
    }
  });
  auto close = [&] {
    guard->sock = nullptr;
    timer.cancel();
    boost::system::error_code ignored;
    lowest.shutdown(tcp::socket::shutdown_both, ignored);
    lowest.close(ignored);
  };

  beast::flat_buffer buf;
  http::request_parser<http::string_body> parser;
  parser.header_limit(16 * 1024);
  parser.body_limit(16 * 1024);
  auto [rec, n] = co_await http::async_read(stream, buf, parser, asio::as_tuple(asio::use_awaitable));
  if (rec) {
    if (rec != http::error::end_of_stream && rec != asio::error::eof)
      log::server().debug("{} - websocket handshake error: {}", peer, guard->expired ? "i/o timeout" : rec.message());
    close();
    co_return;
  }
  auto req = parser.release();
  auto refusal = check_ws_upgrade(req, origins_, tls_ != nullptr);
  if (!refusal && buf.size() > 0) refusal = ws_refusal{400, "client sent data before handshake is complete"};
  if (refusal) {
    log::server().error("{} - websocket handshake error: {}", peer, refusal->reason);
    const std::string resp = http_error(refusal->status);
    co_await asio::async_write(stream, asio::buffer(resp), asio::as_tuple(asio::use_awaitable));
    close();
    co_return;
  }

  beast::websocket::stream<Stream> ws(std::move(stream));
  guard->sock = &beast::get_lowest_layer(ws);
  const auto ua = req[http::field::user_agent];
  const bool browser = ua.substr(0, 8) == "Mozilla/";
  beast::websocket::permessage_deflate pmd;
  pmd.server_enable = opts_.compression;
  pmd.client_enable = false;
  pmd.server_no_context_takeover = true;  // nats-server's offer answer, whatever the client asks
  pmd.client_no_context_takeover = true;
  pmd.msg_size_threshold = 64;  // nats: no compression for small writes
  ws.set_option(pmd);
  // After a client's close frame Beast answers and waits for the TCP close; nats-server
  // closes at once, so that wait is short. No idle timeout: NATS PING/PONG does liveness.
  ws.set_option(beast::websocket::stream_base::timeout{std::chrono::seconds(1),
                                                       beast::websocket::stream_base::none(), false});
  ws.set_option(beast::websocket::stream_base::decorator([](beast::websocket::response_type& res) {
    // nats-server's header order. Beast appends its own Server header after this decorator:
    // the one difference from nats-server's 101 response (no client looks at it).
    const std::string accept(res[http::field::sec_websocket_accept]);
    const std::string ext(res[http::field::sec_websocket_extensions]);
    res.erase(http::field::upgrade);
    res.erase(http::field::connection);
    res.erase(http::field::sec_websocket_accept);
    res.erase(http::field::sec_websocket_extensions);
    res.insert(http::field::upgrade, "websocket");
    res.insert(http::field::connection, "Upgrade");
    res.insert(http::field::sec_websocket_accept, accept);
    if (!ext.empty()) res.insert(http::field::sec_websocket_extensions, ext);
  }));
  ws.binary(true);
  ws.read_message_max(0);
  // Browsers get 4 KiB frames, as nats-server sends them; other clients one frame per write.
  ws.auto_fragment(browser);
  ws.write_buffer_bytes(4096);
  auto [aec] = co_await ws.async_accept(req, asio::as_tuple(asio::use_awaitable));
  guard->sock = nullptr;
  timer.cancel();
  if (aec) {
    log::server().error("{} - websocket handshake error: {}", peer, aec.message());
    boost::system::error_code ignored;
    beast::get_lowest_layer(ws).close(ignored);
    co_return;
  }
  transport t(std::move(ws));
  t.ws_cookies = {cookie_value(req, opts_.user_cookie), cookie_value(req, opts_.pass_cookie),
                  cookie_value(req, opts_.token_cookie)};
  srv_.add_client(std::move(t));
}

}  // namespace jb::server
