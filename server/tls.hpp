#pragma once
// TLS for the client and WebSocket listeners: the OpenSSL server context built from a
// `tls {}` block, and nats-server's wording for handshake failures.
//
// A context is built once at start-up and then only read (OpenSSL contexts are safe to share
// between connections on any thread).
#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include <boost/asio/ssl/context.hpp>
#include <boost/system/error_code.hpp>

#include "config/options.hpp"

namespace jb::server {

// The server-side context: certificate chain and key, CA file for client certificates,
// `verify` (a client certificate is required and checked), TLS 1.2 at least, as nats-server.
// Throws std::runtime_error with nats-server's text when a file is missing or does not parse:
// "TLS Server certificate must be present and valid", "error parsing X509 certificate/key
// pair: ...", "open <file>: no such file or directory".
[[nodiscard]] std::unique_ptr<boost::asio::ssl::context> make_tls_context(const config::tls_options& t);

// The first problem make_tls_context would throw for, without throwing; nullopt when fine.
[[nodiscard]] std::optional<std::string> check_tls_options(const config::tls_options& t);

// The end of validity of the certificate in `cert_file` (nats /varz tls_cert_not_after).
[[nodiscard]] std::optional<std::chrono::system_clock::time_point> cert_not_after(const std::string& cert_file);

struct tls_failure {
  std::string text;  // after "TLS handshake error: ", in Go's crypto/tls words
  bool is_error;     // nats-server logs it as an error; otherwise at debug level
};
// How nats-server reports a failed server handshake. `timed_out`: the tls timeout expired;
// `local`/`remote` are "ip:port" for the timeout text.
[[nodiscard]] tls_failure describe_tls_handshake_error(const boost::system::error_code& ec, bool timed_out,
                                                       const std::string& local, const std::string& remote);

}  // namespace jb::server
