#include "server/transport.hpp"

#include <openssl/ssl.h>

namespace jb::server {

transport::tcp_socket& transport::tcp() noexcept {
  return std::visit(
      [](auto& s) -> tcp_socket& {
        using S = std::decay_t<decltype(s)>;
        if constexpr (std::is_same_v<S, tcp_socket>) return s;
        else if constexpr (std::is_same_v<S, tls_stream>) return s.next_layer();
        else if constexpr (std::is_same_v<S, ws_stream>) return s.next_layer();
        else return s.next_layer().next_layer();
      },
      v_);
}

void transport::start_tls(boost::asio::ssl::context& ctx) {
  tcp_socket s = std::move(std::get<tcp_socket>(v_));
  v_.emplace<tls_stream>(std::move(s), ctx);
  kind_.store(transport_kind::tls, std::memory_order_release);
}

void transport::cancel() noexcept {
  boost::system::error_code ignored;
  tcp().cancel(ignored);
}

void transport::close() noexcept {
  boost::system::error_code ignored;
  tcp().shutdown(tcp_socket::shutdown_both, ignored);
  tcp().close(ignored);
}

bool transport::ws_close_done() const noexcept {
  if (const auto* w = std::get_if<ws_stream>(&v_)) return !w->is_open();
  if (const auto* w = std::get_if<wss_stream>(&v_)) return !w->is_open();
  return false;
}

std::string transport::ws_close_frame(std::uint16_t status, std::string_view reason) {
  constexpr std::size_t max_control_payload = 125;
  std::string body(reason);
  if (body.size() > max_control_payload - 2) body = body.substr(0, max_control_payload - 5) + "...";
  std::string f;
  f.reserve(4 + body.size());
  f.push_back(static_cast<char>(0x88));  // FIN + close
  f.push_back(static_cast<char>(2 + body.size()));
  f.push_back(static_cast<char>(status >> 8));
  f.push_back(static_cast<char>(status & 0xff));
  f += body;
  return f;
}

namespace {

const SSL* native(const transport::tls_stream& s) {
  return const_cast<transport::tls_stream&>(s).native_handle();
}

}  // namespace

std::string transport::tls_version() const {
  const SSL* ssl = nullptr;
  if (const auto* t = std::get_if<tls_stream>(&v_)) ssl = native(*t);
  else if (const auto* w = std::get_if<wss_stream>(&v_)) ssl = native(w->next_layer());
  if (ssl == nullptr) return {};
  switch (SSL_version(ssl)) {
    case TLS1_VERSION: return "1.0";
    case TLS1_1_VERSION: return "1.1";
    case TLS1_2_VERSION: return "1.2";
    case TLS1_3_VERSION: return "1.3";
    default: return "Unknown";
  }
}

std::string transport::tls_cipher() const {
  const SSL* ssl = nullptr;
  if (const auto* t = std::get_if<tls_stream>(&v_)) ssl = native(*t);
  else if (const auto* w = std::get_if<wss_stream>(&v_)) ssl = native(w->next_layer());
  if (ssl == nullptr) return {};
  const SSL_CIPHER* c = SSL_get_current_cipher(ssl);
  if (c == nullptr) return {};
  const char* name = SSL_CIPHER_standard_name(c);
  return name ? name : SSL_CIPHER_get_name(c);
}

}  // namespace jb::server
