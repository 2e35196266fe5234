#pragma once
// The WebSocket listener (`websocket {}`): accepts TCP (or TLS when the block has `tls {}`),
// reads the HTTP upgrade request, checks it as nats-server does (method, headers, key,
// version, origin), completes the upgrade with Beast (permessage-deflate when `compression`)
// and hands the stream to the server as a client connection speaking NATS in binary frames.
//
// Thread affinity: the acceptor runs on the server's io_context; each upgrade runs on its own
// strand, which the client connection then keeps.
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include "config/options.hpp"

namespace jb::server {

class server;

// The reason an upgrade request is refused, or nullopt to accept. Pure: exposed for tests.
// `request_tls`: the request came over TLS (same_origin default ports).
struct ws_refusal {
  int status;          // 400, 403, 405
  std::string reason;  // logged: "<ip:port> - websocket handshake error: <reason>"
};
struct ws_origin_policy {
  bool same_origin = false;
  struct allowed {
    std::string scheme, port;
  };
  std::map<std::string, allowed> allowed_origins;  // by lower-case host
  // Parses `allowed_origins` URLs; throws std::runtime_error on one that does not parse.
  static ws_origin_policy from(const config::websocket_options& o);
};
[[nodiscard]] std::optional<ws_refusal> check_ws_upgrade(
    const boost::beast::http::request<boost::beast::http::string_body>& req, const ws_origin_policy& origins,
    bool request_tls);

class websocket_listener {
 public:
  // `tls`: the context for wss (null: plain ws, `no_tls`). Must outlive the listener.
  websocket_listener(server& srv, const config::websocket_options& o, boost::asio::ssl::context* tls);
  ~websocket_listener();

  // Binds host:port (-1: any free port) and starts accepting; returns the bound port. Throws
  // std::runtime_error with nats-server's text when the port cannot be bound.
  int listen();
  void stop();  // closes the acceptor (any thread)
  [[nodiscard]] int port() const noexcept { return port_; }
  [[nodiscard]] bool tls() const noexcept { return tls_ != nullptr; }

 private:
  void do_accept();
  boost::asio::awaitable<void> upgrade(boost::asio::ip::tcp::socket sock);
  template <class Stream>
  boost::asio::awaitable<void> read_and_accept(Stream stream, std::string peer,
                                               std::chrono::steady_clock::time_point deadline);

  server& srv_;
  const config::websocket_options& opts_;
  boost::asio::ssl::context* tls_;
  ws_origin_policy origins_;
  boost::asio::ip::tcp::acceptor acceptor_;
  int port_ = 0;
};

}  // namespace jb::server
