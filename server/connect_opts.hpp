#pragma once
// A client's CONNECT options, decoded as nats-server decodes them: Go's encoding/json unmarshalling
// the CONNECT body onto the connection's ClientOpts (server/client.go). What that means for odd
// input, each pinned by tests/unit/server/connect_opts_test.cpp and differential tests:
//   - keys match field names case-insensitively; a later key for the same field wins;
//   - `null` (the whole body, or a field's value) leaves the field as it was;
//   - a value of the wrong JSON type for a known field is an error (the connection is closed),
//     unknown keys are ignored whatever they hold;
//   - invalid UTF-8 in a string is not an error: each bad byte becomes U+FFFD;
//   - fields not in the body keep their values from the previous CONNECT (or the defaults).
#include <optional>
#include <string>
#include <string_view>

namespace jb::server {

struct connect_opts {
  // nats-server's defaultOpts.
  bool echo = true;
  bool verbose = true;
  bool pedantic = true;
  bool tls_required = false;
  std::string nkey, jwt, sig, auth_token, user, pass, name, lang, version, account, remote_account, proxy_sig;
  long long protocol = 0;
  bool new_account = false;
  bool headers = false;
  bool no_responders = false;
};

// Decodes `json` onto `opts`. On failure returns Go's error text (for the log; nats-server sends
// the client nothing and closes) and leaves `opts` partly updated, as Go does.
[[nodiscard]] std::optional<std::string> decode_connect(std::string_view json, connect_opts& opts);

// A client's INFO (clients may send one; nats-server decodes it into its Info struct and ignores
// it): the error text when it is not JSON, or not an object or null.
[[nodiscard]] std::optional<std::string> check_client_info(std::string_view json);

}  // namespace jb::server
