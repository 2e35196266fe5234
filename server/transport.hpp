#pragma once
// The byte stream under a client connection: a plain TCP socket, TLS over it, or a WebSocket
// (over TCP or TLS) carrying the NATS protocol in its messages. The protocol code reads and
// writes bytes and does not know which.
//
// The alternatives live in a std::variant: every read or write costs one jump on the active
// alternative, then the stream's own (templated) operation runs. Nothing is virtual and
// nothing is per byte, so the plain TCP path stays what it was.
//
// Thread affinity: a transport belongs to its connection's strand; nothing here is thread-safe.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <atomic>
#include <variant>

#include <boost/asio/async_result.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <boost/beast/websocket/stream.hpp>

namespace jb::server {

enum class transport_kind { tcp, tls, ws, wss };

class transport {
 public:
  using tcp_socket = boost::asio::ip::tcp::socket;
  using tls_stream = boost::asio::ssl::stream<tcp_socket>;
  using ws_stream = boost::beast::websocket::stream<tcp_socket>;
  using wss_stream = boost::beast::websocket::stream<tls_stream>;
  using executor_type = tcp_socket::executor_type;

  explicit transport(tcp_socket s)
      : ex_(s.get_executor()), kind_(transport_kind::tcp), v_(std::in_place_type<tcp_socket>, std::move(s)) {}
  explicit transport(ws_stream s)
      : ex_(s.get_executor()), kind_(transport_kind::ws), v_(std::in_place_type<ws_stream>, std::move(s)) {}
  explicit transport(wss_stream s)
      : ex_(s.get_executor()), kind_(transport_kind::wss), v_(std::in_place_type<wss_stream>, std::move(s)) {}

  // Moved only while one thread knows it (hand-over to its connection).
  transport(transport&& o) noexcept
      : ws_cookies(std::move(o.ws_cookies)), ex_(o.ex_), kind_(o.kind_.load()), v_(std::move(o.v_)) {}

  // WebSocket: credentials from the upgrade request's cookies (websocket { user_cookie,
  // pass_cookie, token_cookie }), used where CONNECT leaves them out. Set before the hand-over.
  struct cookie_credentials {
    std::string user, pass, token;
  } ws_cookies;
  transport& operator=(transport&&) = delete;

  // kind() and get_executor() may be called from any thread (kicks, close requests, monitoring):
  // they read copies kept beside the variant, which start_tls() rebuilds on the strand (a visit
  // while it is being rebuilt would find it valueless).
  [[nodiscard]] transport_kind kind() const noexcept { return kind_.load(std::memory_order_acquire); }
  [[nodiscard]] bool is_websocket() const noexcept {
    return kind() == transport_kind::ws || kind() == transport_kind::wss;
  }
  [[nodiscard]] bool is_tls() const noexcept {
    return kind() == transport_kind::tls || kind() == transport_kind::wss;
  }
  [[nodiscard]] executor_type get_executor() const noexcept { return ex_; }
  // The TCP socket at the bottom (for endpoints, options, readiness waits and close).
  [[nodiscard]] tcp_socket& tcp() noexcept;

  // Wraps the TCP socket in TLS (server side) with `ctx`, which must outlive the transport.
  // Only from transport_kind::tcp; the handshake is then async_tls_handshake().
  void start_tls(boost::asio::ssl::context& ctx);
  [[nodiscard]] tls_stream& tls() { return std::get<tls_stream>(v_); }

  // Reads some bytes of the NATS byte stream: f(error_code, std::size_t).
  template <class MutableBuffers, class Token>
  auto async_read_some(const MutableBuffers& buffers, Token&& token) {
    return boost::asio::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
        [this](auto handler, const MutableBuffers& b) {
          std::visit([&](auto& s) { s.async_read_some(b, std::move(handler)); }, v_);
        },
        token, buffers);
  }

  // Writes all of `buffers` (one WebSocket message on a WebSocket): f(error_code, std::size_t).
  // The sequence object itself must stay alive until the operation starts (a coroutine's
  // local does), so a gather list is not copied one more time on the way down.
  template <class ConstBuffers, class Token>
  auto async_write(const ConstBuffers& buffers, Token&& token) {
    return boost::asio::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
        [this](auto handler, const ConstBuffers* b) {
          std::visit(
              [&](auto& s) {
                using S = std::decay_t<decltype(s)>;
                if constexpr (std::is_same_v<S, ws_stream> || std::is_same_v<S, wss_stream>)
                  s.async_write(*b, std::move(handler));
                else
                  boost::asio::async_write(s, *b, std::move(handler));
              },
              v_);
        },
        token, &buffers);
  }

  // Cancels pending operations on the socket (the connection is closing).
  void cancel() noexcept;
  // Shuts the TCP socket down and closes it. No TLS close_notify, as nats-server.
  void close() noexcept;

  // WebSocket: true once a close frame was exchanged (Beast answered the peer's close).
  [[nodiscard]] bool ws_close_done() const noexcept;
  // WebSocket: the close frame to send before closing (unmasked, server to client), with
  // `status` and a reason truncated like nats-server's (at most 125 bytes of payload).
  [[nodiscard]] static std::string ws_close_frame(std::uint16_t status, std::string_view reason);
  // Writes raw bytes under the WebSocket framing (the close frame), on the TCP or TLS layer.
  template <class ConstBuffers, class Token>
  auto async_write_below_ws(const ConstBuffers& buffers, Token&& token) {
    return boost::asio::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
        [this](auto handler, const ConstBuffers& b) {
          if (auto* w = std::get_if<ws_stream>(&v_))
            boost::asio::async_write(w->next_layer(), b, std::move(handler));
          else
            boost::asio::async_write(std::get<wss_stream>(v_).next_layer(), b, std::move(handler));
        },
        token, buffers);
  }

  // TLS: "1.3" and the IANA cipher suite name ("TLS_AES_128_GCM_SHA256"); empty otherwise.
  [[nodiscard]] std::string tls_version() const;
  [[nodiscard]] std::string tls_cipher() const;

 private:
  executor_type ex_;
  std::atomic<transport_kind> kind_;
  // Index order is transport_kind's.
  std::variant<tcp_socket, tls_stream, ws_stream, wss_stream> v_;
};

}  // namespace jb::server
