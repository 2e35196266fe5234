#include "server/tls.hpp"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <cstdio>
#include <ctime>
#include <filesystem>
#include <stdexcept>

#include <boost/asio/error.hpp>
#include <boost/asio/ssl/error.hpp>

namespace jb::server {

namespace asio = boost::asio;

namespace {

std::string open_error(const std::string& file) {
  std::error_code ec;
  if (!std::filesystem::exists(file, ec)) return "open " + file + ": no such file or directory";
  return "open " + file + ": permission denied";
}

bool readable(const std::string& file) {
  std::FILE* f = std::fopen(file.c_str(), "rb");
  if (f == nullptr) return false;
  std::fclose(f);
  return true;
}

}  // namespace

std::optional<std::string> check_tls_options(const config::tls_options& t) {
  try {
    (void)make_tls_context(t);
  } catch (const std::exception& e) {
    return std::string(e.what());
  }
  return std::nullopt;
}

std::unique_ptr<asio::ssl::context> make_tls_context(const config::tls_options& t) {
  if (t.cert_file.empty()) throw std::runtime_error("TLS Server certificate must be present and valid");
  if (t.key_file.empty()) throw std::runtime_error("TLS Server private key must be present and valid");
  const std::string pair_err = "error parsing X509 certificate/key pair: ";
  if (!readable(t.cert_file)) throw std::runtime_error(pair_err + open_error(t.cert_file));
  if (!readable(t.key_file)) throw std::runtime_error(pair_err + open_error(t.key_file));

  auto ctx = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_server);
  SSL_CTX* native = ctx->native_handle();
  SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION);
  // Go's TLS 1.3 preference order, so clients negotiate what they would with nats-server.
  SSL_CTX_set_ciphersuites(native, "TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_256_GCM_SHA384");
  ctx->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_compression |
                   asio::ssl::context::single_dh_use);
  SSL_CTX_set_options(native, SSL_OP_CIPHER_SERVER_PREFERENCE);
  boost::system::error_code ec;
  ctx->use_certificate_chain_file(t.cert_file, ec);
  if (ec) throw std::runtime_error(pair_err + "failed to find any PEM data in certificate input");
  {
    std::FILE* f = std::fopen(t.key_file.c_str(), "rb");
    EVP_PKEY* key = f ? PEM_read_PrivateKey(f, nullptr, nullptr, nullptr) : nullptr;
    if (f) std::fclose(f);
    if (key == nullptr) throw std::runtime_error(pair_err + "failed to find any PEM data in key input");
    const bool ok = SSL_CTX_use_PrivateKey(native, key) == 1 && SSL_CTX_check_private_key(native) == 1;
    EVP_PKEY_free(key);
    ERR_clear_error();
    if (!ok) throw std::runtime_error(pair_err + "tls: private key does not match public key");
  }
  if (!t.ca_file.empty()) {
    if (!readable(t.ca_file)) throw std::runtime_error(open_error(t.ca_file));
    ctx->load_verify_file(t.ca_file, ec);
    if (ec) throw std::runtime_error("failed to parse root certificate from \"" + t.ca_file + "\"");
  }
  if (t.verify) {
    ctx->set_verify_mode(asio::ssl::verify_peer | asio::ssl::verify_fail_if_no_peer_cert);
  } else {
    ctx->set_verify_mode(asio::ssl::verify_none);
  }
  // Sessions are not resumed across connections (nats-server keeps no session cache either).
  SSL_CTX_set_session_cache_mode(native, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_num_tickets(native, 0);
  return ctx;
}

std::optional<std::chrono::system_clock::time_point> cert_not_after(const std::string& cert_file) {
  std::FILE* f = std::fopen(cert_file.c_str(), "rb");
  if (f == nullptr) return std::nullopt;
  X509* x = PEM_read_X509(f, nullptr, nullptr, nullptr);
  std::fclose(f);
  if (x == nullptr) return std::nullopt;
  std::tm tm{};
  const bool ok = ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm) == 1;
  X509_free(x);
  if (!ok) return std::nullopt;
  return std::chrono::system_clock::from_time_t(timegm(&tm));
}

tls_failure describe_tls_handshake_error(const boost::system::error_code& ec, bool timed_out,
                                         const std::string& local, const std::string& remote) {
  if (timed_out) return {"read tcp " + local + "->" + remote + ": i/o timeout", false};
  if (ec == asio::error::eof || ec == asio::ssl::error::stream_truncated || ec == asio::error::connection_reset)
    return {"EOF", true};
  if (ec.category() == asio::error::get_ssl_category()) {
    const auto reason = ERR_GET_REASON(static_cast<unsigned long>(ec.value()));
    switch (reason) {
      case SSL_R_WRONG_VERSION_NUMBER:
      case SSL_R_HTTP_REQUEST:
      case SSL_R_HTTPS_PROXY_REQUEST:
      case SSL_R_UNKNOWN_PROTOCOL:
      case SSL_R_PACKET_LENGTH_TOO_LONG:
      case SSL_R_RECORD_LENGTH_MISMATCH:
        return {"tls: first record does not look like a TLS handshake", false};
      case SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE:
        return {"tls: client didn't provide a certificate", true};
      case SSL_R_CERTIFICATE_VERIFY_FAILED:
        return {"tls: failed to verify certificate: x509: certificate signed by unknown authority", true};
      case SSL_R_NO_SHARED_CIPHER:
        return {"tls: no cipher suite supported by both client and server", true};
      case SSL_R_UNSUPPORTED_PROTOCOL:
        return {"tls: client offered only unsupported versions", true};
      default:
        break;
    }
    const char* r = ERR_reason_error_string(static_cast<unsigned long>(ec.value()));
    return {std::string("tls: ") + (r ? r : ec.message()), true};
  }
  return {ec.message(), true};
}

}  // namespace jb::server
