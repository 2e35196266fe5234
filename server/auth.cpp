#include "server/auth.hpp"

#include <crypt.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstring>
#include <stdexcept>

#include "protocol/nkey.hpp"

namespace jb::server {
namespace {

constexpr const char* global_account_name = "$G";

bool equal_constant_time(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (std::size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

// allowed_connection_types: empty admits every kind; otherwise `kind` ("STANDARD", "WEBSOCKET")
// must be listed (any case).
bool connection_type_allowed(const std::vector<std::string>& types, std::string_view kind) {
  if (types.empty()) return true;
  return std::any_of(types.begin(), types.end(), [kind](const std::string& t) {
    std::string u = t;
    std::transform(u.begin(), u.end(), u.begin(), [](unsigned char ch) { return std::toupper(ch); });
    return u == kind;
  });
}

}  // namespace

bool is_bcrypt(std::string_view p) noexcept {
  // nats-server: ^\$2[abxy]\$\d{2}\$.*
  return p.size() >= 7 && p[0] == '$' && p[1] == '2' && std::strchr("abxy", p[2]) != nullptr && p[2] != '\0' &&
         p[3] == '$' && std::isdigit(static_cast<unsigned char>(p[4])) &&
         std::isdigit(static_cast<unsigned char>(p[5])) && p[6] == '$';
}

bool password_matches(std::string_view configured, std::string_view given) {
  if (!is_bcrypt(configured)) return equal_constant_time(configured, given);
  // crypt_r's state is large (tens of KiB): one per thread, allocated on first use.
  thread_local std::unique_ptr<crypt_data> data;
  if (!data) data = std::make_unique<crypt_data>();
  std::memset(data.get(), 0, sizeof(crypt_data));
  const std::string phrase(given), setting(configured);
  const char* out = crypt_r(phrase.c_str(), setting.c_str(), data.get());
  // libxcrypt returns a string starting with '*' on failure (bad setting).
  return out != nullptr && out[0] != '*' && equal_constant_time(out, configured);
}

authenticator::authenticator(const config::options& o,
                             const std::function<account*(const std::string&)>& find_account) {
  account* global = find_account("");
  anonymous_.acc = global;
  token_ = o.auth_token;
  single_user_ = o.user;
  single_password_ = o.password;
  token_id_.acc = global;
  token_id_.log_tag = std::string("\"") + global_account_name + "/token\"";
  for (const auto& u : o.users) {
    account* acc = find_account(u.account);
    if (acc == nullptr) continue;
    const bool is_nkey = u.name.empty();
    const std::string& id = is_nkey ? u.nkey : u.name;
    user_entry e;
    e.password = u.password;
    e.standard_allowed = connection_type_allowed(u.allowed_connection_types, "STANDARD");
    e.websocket_allowed = connection_type_allowed(u.allowed_connection_types, "WEBSOCKET");
    e.id.user = id;
    e.id.acc = acc;
    e.id.perms = permissions::make(u.perms);
    e.id.nkey = is_nkey;
    e.id.log_tag = "\"" + (u.account.empty() ? std::string(global_account_name) : u.account) +
                   (is_nkey ? "/nkey:" : "/user:") + id + "\"";
    (is_nkey ? nkeys_ : users_).emplace(id, std::move(e));
  }
  if (!single_user_.empty()) {
    // The single user is an ordinary $G user without permissions.
    user_entry e;
    e.password = single_password_;
    e.id.user = single_user_;
    e.id.acc = global;
    e.id.log_tag = std::string("\"") + global_account_name + "/user:" + single_user_ + "\"";
    single_entry_ = std::make_unique<user_entry>(std::move(e));
  }
  if (!o.websocket.user.empty() || !o.websocket.token.empty()) {
    ws_user_ = o.websocket.user;
    ws_password_ = o.websocket.password;
    ws_token_ = o.websocket.token;
    ws_entry_ = std::make_unique<user_entry>();
    ws_entry_->id.user = ws_user_;
    ws_entry_->id.acc = global;
    ws_entry_->id.log_tag = std::string("\"") + global_account_name + (ws_user_.empty() ? "/token" : "/user:" + ws_user_) + "\"";
  }
  if (!o.websocket.no_auth_user.empty()) {
    if (auto it = users_.find(o.websocket.no_auth_user); it != users_.end()) ws_no_auth_user_ = &it->second;
    else if (auto nk = nkeys_.find(o.websocket.no_auth_user); nk != nkeys_.end()) ws_no_auth_user_ = &nk->second;
  }
  if (!o.no_auth_user.empty()) {
    if (auto it = users_.find(o.no_auth_user); it != users_.end()) no_auth_user_ = &it->second;
    else if (auto nk = nkeys_.find(o.no_auth_user); nk != nkeys_.end()) no_auth_user_ = &nk->second;
  }
  required_ = !users_.empty() || !nkeys_.empty() || !token_.empty() || !single_user_.empty();
}

const auth_identity* authenticator::authenticate(const connect_credentials& c, std::string* debug) const {
  if (c.websocket && ws_entry_) {
    if (!ws_user_.empty())
      return c.user == ws_user_ && password_matches(ws_password_, c.pass) ? &ws_entry_->id : nullptr;
    return equal_constant_time(ws_token_, c.token) ? &ws_entry_->id : nullptr;
  }
  if (c.websocket && ws_no_auth_user_ && c.user.empty() && c.pass.empty() && c.token.empty() && c.nkey.empty())
    return &ws_no_auth_user_->id;
  if (!required_) return &anonymous_;
  auto why = [debug](const char* text) -> const auth_identity* {
    if (debug != nullptr) *debug = text;
    return nullptr;
  };
  // As nats-server: a client that names an nkey is judged by it alone, when nkeys exist.
  if (!nkeys_.empty() && !c.nkey.empty()) {
    auto it = nkeys_.find(std::string(c.nkey));
    if (it == nkeys_.end() || !it->second.allows(c)) return nullptr;
    if (c.sig.empty()) return why("Signature missing");
    auto sig = protocol::nkey::decode_signature(c.sig);
    if (!sig) return why("Signature not valid base64");
    if (!verify_nkey_signature(c.nkey, c.nonce, *sig)) return why("Signature not verified");
    return &it->second.id;
  }
  if (!users_.empty() || !nkeys_.empty()) {
    // no_auth_user, a password user or an nkey user (then without a signature, as in nats-server).
    if (c.user.empty() && c.pass.empty() && c.token.empty() && no_auth_user_ != nullptr) return &no_auth_user_->id;
  }
  if (!users_.empty()) {
    if (!c.user.empty()) {
      auto it = users_.find(std::string(c.user));
      if (it == users_.end() || !it->second.allows(c)) return nullptr;
      return password_matches(it->second.password, c.pass) ? &it->second.id : nullptr;
    }
  }
  if (!token_.empty()) return equal_constant_time(token_, c.token) ? &token_id_ : nullptr;
  if (single_entry_ && c.user == single_user_ && password_matches(single_password_, c.pass)) return &single_entry_->id;
  return nullptr;
}

std::string authenticator::failure_text(const connect_credentials& c) {
  std::string t = "authentication error";
  if (!c.nkey.empty()) t += " - Nkey \"" + std::string(c.nkey) + "\"";
  else if (!c.user.empty()) t += " - User \"" + std::string(c.user) + "\"";
  else if (!c.token.empty()) t += " - Token \"[REDACTED]\"";
  return t;
}

std::string make_nonce() {
  std::array<std::uint8_t, 11> raw{};
  if (RAND_bytes(raw.data(), static_cast<int>(raw.size())) != 1) throw std::runtime_error("RAND_bytes failed");
  return protocol::nkey::base64_raw_url_encode(raw);
}

bool verify_nkey_signature(std::string_view nkey, std::string_view message, std::span<const std::uint8_t> sig) {
  auto pub = protocol::nkey::decode_user_key(nkey);
  if (!pub || sig.size() != 64) return false;
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(
      EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, pub->data(), pub->size()), &EVP_PKEY_free);
  if (!key) return false;
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  if (!ctx || EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, key.get()) != 1) return false;
  return EVP_DigestVerify(ctx.get(), sig.data(), sig.size(), reinterpret_cast<const unsigned char*>(message.data()),
                          message.size()) == 1;
}

}  // namespace jb::server
