#pragma once
// Client authentication, as nats-server does it for plain (non-JWT) configurations: a token,
// a single user/password (--user/--pass or `authorization { user, password }`), or a list of
// users (`authorization { users [...] }` and every account's users) with optional permissions,
// account and `no_auth_user`. Passwords are compared in constant time, or checked against a
// bcrypt hash ("$2a$", "$2b$", "$2x$", "$2y$") through libcrypt. Users may be nkeys instead
// (`{nkey: U...}`): the client signs the connection's INFO nonce with the key's Ed25519 seed
// and sends the public key and signature in CONNECT; OpenSSL checks the signature.
//
// Thread-safety: immutable after construction; any thread. A bcrypt check costs what its cost
// factor says (about 100 ms at 11), on the calling thread, as in nats-server.
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "config/options.hpp"
#include "server/permissions.hpp"

namespace jb::server {

class account;

// Who a connection authenticated as.
struct auth_identity {
  std::string user;                              // empty for a token; the public key of an nkey user
  account* acc = nullptr;                        // never null once authenticated
  std::shared_ptr<const permissions> perms;      // null: no restrictions
  // The tag nats-server puts in the connection's log lines: "$G/user:alice", "$G/token".
  std::string log_tag;
  bool nkey = false;  // an nkey user (monitoring shows its account as issuer_key)
};

// What the client sent in CONNECT.
struct connect_credentials {
  std::string_view user;
  std::string_view pass;
  std::string_view token;
  std::string_view nkey;   // public user key ("U...")
  std::string_view sig;    // signature of `nonce`, base64
  std::string_view nonce;  // what the server sent in INFO
  bool websocket = false;  // the client came in over WebSocket (allowed_connection_types)
};

class authenticator {
 public:
  // `find_account` maps an account name (empty: the global account) to its object; users of
  // unknown accounts are dropped.
  authenticator(const config::options& o, const std::function<account*(const std::string&)>& find_account);

  // Authentication is configured (token, single user or users). Runs the auth timer; with
  // no_auth_user, INFO still leaves auth_required out (config::options::auth_required).
  [[nodiscard]] bool required() const noexcept { return required_; }
  // For one client: the WebSocket listener's own authorization requires it of WebSocket clients
  // only (their INFO says auth_required; plain clients get no auth timer from it).
  [[nodiscard]] bool required_for(bool websocket) const noexcept {
    return required_ || (websocket && ws_entry_ != nullptr);
  }
  // Nkey users are configured: every connection gets a nonce in its INFO.
  [[nodiscard]] bool nonce_required() const noexcept { return !nkeys_.empty(); }
  // The identity for these credentials, or null (nats: Authorization Violation). When no
  // authentication is configured, every client is the anonymous identity of the global account.
  // `debug`, when given, receives nats-server's debug line for a failed nkey check
  // ("Signature missing"), or stays empty.
  [[nodiscard]] const auth_identity* authenticate(const connect_credentials& c, std::string* debug = nullptr) const;
  // The log line nats-server writes for a failed attempt with these credentials
  // (`authentication error - User "bob"`, `... - Nkey "U..."`).
  [[nodiscard]] static std::string failure_text(const connect_credentials& c);

 private:
  struct user_entry {
    std::string password;
    bool standard_allowed = true;   // allowed_connection_types admits plain NATS clients
    bool websocket_allowed = true;  // ... and WebSocket clients
    [[nodiscard]] bool allows(const connect_credentials& c) const noexcept {
      return c.websocket ? websocket_allowed : standard_allowed;
    }
    auth_identity id;
  };
  bool required_ = false;
  // websocket { authorization { user, password | token } }: WebSocket clients authenticate with
  // these instead; websocket { no_auth_user }: WebSocket clients without credentials are that user.
  std::string ws_user_, ws_password_, ws_token_;
  std::unique_ptr<user_entry> ws_entry_;
  const user_entry* ws_no_auth_user_ = nullptr;
  std::string token_;
  std::string single_user_, single_password_;
  std::unordered_map<std::string, user_entry> users_;
  std::unordered_map<std::string, user_entry> nkeys_;  // by public key; `password` unused
  std::unique_ptr<user_entry> single_entry_;
  const user_entry* no_auth_user_ = nullptr;
  auth_identity anonymous_, token_id_;
};

// True when `password` is a bcrypt hash nats-server would check as one.
[[nodiscard]] bool is_bcrypt(std::string_view password) noexcept;
// Checks a client password against the configured one (bcrypt hash or plain text).
[[nodiscard]] bool password_matches(std::string_view configured, std::string_view given);

// A fresh nkey challenge as nats-server makes it: 11 random bytes, unpadded URL base64 (15
// characters).
[[nodiscard]] std::string make_nonce();
// Whether `sig` (raw Ed25519 signature bytes) signs `message` under the public user key `nkey`.
[[nodiscard]] bool verify_nkey_signature(std::string_view nkey, std::string_view message,
                                         std::span<const std::uint8_t> sig);

}  // namespace jb::server
