#include "server/connect_opts.hpp"

#include <boost/json.hpp>

#include <cstdint>

namespace jb::server {

namespace {

namespace json = boost::json;

// Go's encoding/json limit (maxNestingDepth); Boost.JSON's default of 32 would refuse bodies Go
// accepts.
constexpr std::size_t max_depth = 10000;

bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x + 32);
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y + 32);
    if (x != y) return false;
  }
  return true;
}

// The JSON kind as Go's UnmarshalTypeError names it.
const char* go_kind(const json::value& v) noexcept {
  switch (v.kind()) {
    case json::kind::bool_: return "bool";
    case json::kind::string: return "string";
    case json::kind::array: return "array";
    case json::kind::object: return "object";
    case json::kind::null: return "null";
    default: return "number";
  }
}

std::string type_error(const json::value& v, std::string_view field, const char* go_type) {
  std::string kind = go_kind(v);
  if (kind == "number") kind += " " + json::serialize(v);
  return "json: cannot unmarshal " + kind + " into Go struct field ClientOpts." + std::string(field) + " of type " + go_type;
}

// Go's string decoding: every byte that does not start a valid UTF-8 sequence (overlong forms,
// surrogates and code points past U+10FFFF included) becomes U+FFFD.
std::string valid_utf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    std::size_t n = 0;
    std::uint32_t cp = 0, min = 0;
    if (c < 0x80) {
      out += static_cast<char>(c);
      ++i;
      continue;
    }
    if ((c & 0xE0) == 0xC0) n = 2, cp = c & 0x1F, min = 0x80;
    else if ((c & 0xF0) == 0xE0) n = 3, cp = c & 0x0F, min = 0x800;
    else if ((c & 0xF8) == 0xF0) n = 4, cp = c & 0x07, min = 0x10000;
    bool ok = n != 0 && i + n <= s.size();
    for (std::size_t k = 1; ok && k < n; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      ok = (cc & 0xC0) == 0x80;
      cp = (cp << 6) | (cc & 0x3F);
    }
    ok = ok && cp >= min && cp <= 0x10FFFF && !(cp >= 0xD800 && cp <= 0xDFFF);
    if (ok) {
      out.append(s.substr(i, n));
      i += n;
    } else {
      out += "\xEF\xBF\xBD";
      ++i;
    }
  }
  return out;
}

std::optional<std::string> set_bool(const json::value& v, std::string_view field, bool& out) {
  if (v.is_null()) return std::nullopt;
  if (!v.is_bool()) return type_error(v, field, "bool");
  out = v.as_bool();
  return std::nullopt;
}

std::optional<std::string> set_string(const json::value& v, std::string_view field, std::string& out) {
  if (v.is_null()) return std::nullopt;
  if (!v.is_string()) return type_error(v, field, "string");
  out = valid_utf8(v.as_string());
  return std::nullopt;
}

std::optional<std::string> set_int(const json::value& v, std::string_view field, long long& out) {
  if (v.is_null()) return std::nullopt;
  if (v.is_int64()) {
    out = v.as_int64();
    return std::nullopt;
  }
  return type_error(v, field, "int");  // fractions, exponents and values past int64 included
}

// Import/Export (*SubjectPermission: allow/deny lists of strings), for routes and leaf nodes; a
// client's are decoded, so checked, and not used.
std::optional<std::string> check_permission(const json::value& v, std::string_view field) {
  if (v.is_null()) return std::nullopt;
  if (!v.is_object()) return type_error(v, field, "server.SubjectPermission");
  for (const auto& kv : v.as_object()) {
    if (!iequals(kv.key(), "allow") && !iequals(kv.key(), "deny")) continue;
    const std::string sub = std::string(field) + "." + (iequals(kv.key(), "allow") ? "allow" : "deny");
    const auto& list = kv.value();
    if (list.is_null()) continue;
    if (!list.is_array()) return type_error(list, sub, "[]string");
    for (const auto& e : list.as_array())
      if (!e.is_string() && !e.is_null()) return type_error(e, sub, "string");
  }
  return std::nullopt;
}

std::optional<std::string> apply(std::string_view key, const json::value& v, connect_opts& o) {
  struct bool_field {
    const char* name;
    bool connect_opts::*member;
  };
  struct string_field {
    const char* name;
    std::string connect_opts::*member;
  };
  static constexpr bool_field bools[] = {
      {"echo", &connect_opts::echo},           {"verbose", &connect_opts::verbose},
      {"pedantic", &connect_opts::pedantic},   {"tls_required", &connect_opts::tls_required},
      {"new_account", &connect_opts::new_account}, {"headers", &connect_opts::headers},
      {"no_responders", &connect_opts::no_responders}};
  static constexpr string_field strings[] = {
      {"nkey", &connect_opts::nkey},       {"jwt", &connect_opts::jwt},         {"sig", &connect_opts::sig},
      {"auth_token", &connect_opts::auth_token}, {"user", &connect_opts::user}, {"pass", &connect_opts::pass},
      {"name", &connect_opts::name},       {"lang", &connect_opts::lang},       {"version", &connect_opts::version},
      {"account", &connect_opts::account}, {"remote_account", &connect_opts::remote_account},
      {"proxy_sig", &connect_opts::proxy_sig}};
  for (const auto& f : bools)
    if (iequals(key, f.name)) return set_bool(v, f.name, o.*f.member);
  for (const auto& f : strings)
    if (iequals(key, f.name)) return set_string(v, f.name, o.*f.member);
  if (iequals(key, "protocol")) return set_int(v, "protocol", o.protocol);
  if (iequals(key, "import")) return check_permission(v, "import");
  if (iequals(key, "export")) return check_permission(v, "export");
  return std::nullopt;  // unknown keys are ignored
}

std::optional<json::value> parse(std::string_view text, std::string& error) {
  json::parse_options po;
  po.max_depth = max_depth;
  po.allow_invalid_utf8 = true;
  boost::system::error_code ec;
  json::value v = json::parse(text, ec, {}, po);
  if (ec) {
    error = text.find_first_not_of(" \t\r\n") == std::string_view::npos ? "unexpected end of JSON input" : ec.message();
    return std::nullopt;
  }
  return v;
}

}  // namespace

std::optional<std::string> decode_connect(std::string_view text, connect_opts& opts) {
  std::string error;
  auto v = parse(text, error);
  if (!v) return error;
  if (v->is_null()) return std::nullopt;
  if (!v->is_object()) return std::string("json: cannot unmarshal ") + go_kind(*v) + " into Go value of type server.ClientOpts";
  // Go reports the first type error but still applies every other field.
  std::optional<std::string> first;
  for (const auto& kv : v->as_object()) {
    auto e = apply(kv.key(), kv.value(), opts);
    if (e && !first) first = std::move(e);
  }
  return first;
}

std::optional<std::string> check_client_info(std::string_view text) {
  std::string error;
  auto v = parse(text, error);
  if (!v) return error;
  if (v->is_null()) return std::nullopt;
  if (!v->is_object()) return std::string("json: cannot unmarshal ") + go_kind(*v) + " into Go value of type server.Info";
  // The fields of nats-server's Info struct (server/server.go) and their Go types: a value of the
  // wrong type is an error there too.
  enum class go { string, int64, int32, uint64, uint8, boolean, strings, permission };
  struct field {
    const char* name;
    go type;
  };
  static constexpr field fields[] = {
      {"server_id", go::string}, {"server_name", go::string}, {"version", go::string}, {"proto", go::int64},
      {"git_commit", go::string}, {"go", go::string}, {"host", go::string}, {"port", go::int64},
      {"headers", go::boolean}, {"auth_required", go::boolean}, {"tls_required", go::boolean},
      {"tls_verify", go::boolean}, {"tls_available", go::boolean}, {"max_payload", go::int32},
      {"jetstream", go::boolean}, {"ip", go::string}, {"client_id", go::uint64}, {"client_ip", go::string},
      {"nonce", go::string}, {"cluster", go::string}, {"cluster_dynamic", go::boolean}, {"domain", go::string},
      {"connect_urls", go::strings}, {"ws_connect_urls", go::strings}, {"ldm", go::boolean},
      {"compression", go::string}, {"connect_info", go::boolean}, {"remote_account", go::string},
      {"acc_is_sys", go::boolean}, {"api_lvl", go::int64}, {"import", go::permission}, {"export", go::permission},
      {"lnoc", go::boolean}, {"lnocu", go::boolean}, {"info_on_connect", go::boolean},
      {"route_pool_size", go::int64}, {"route_pool_idx", go::int64}, {"route_account", go::string},
      {"route_acc_add_reqid", go::string}, {"gossip_mode", go::uint8}, {"gateway", go::string},
      {"gateway_urls", go::strings}, {"gateway_url", go::string}, {"gateway_cmd", go::uint8},
      {"gateway_cmd_payload", go::string}, {"gateway_nrp", go::boolean}, {"gateway_iom", go::boolean},
      {"leafnode_urls", go::strings}, {"xkey", go::string}};
  auto mismatch = [](const json::value& x, const field& f) -> bool {
    if (x.is_null()) return false;
    switch (f.type) {
      case go::string: return !x.is_string();
      case go::boolean: return !x.is_bool();
      case go::int64: return !x.is_int64();
      case go::int32: return !(x.is_int64() && x.as_int64() >= INT32_MIN && x.as_int64() <= INT32_MAX);
      case go::uint8: return !(x.is_int64() && x.as_int64() >= 0 && x.as_int64() <= 255);
      case go::uint64: return !((x.is_int64() && x.as_int64() >= 0) || x.is_uint64());
      case go::strings:
        if (!x.is_array()) return true;
        for (const auto& e : x.as_array())
          if (!e.is_string() && !e.is_null()) return true;
        return false;
      case go::permission: return false;  // checked below
    }
    return false;
  };
  for (const auto& kv : v->as_object()) {
    for (const auto& f : fields) {
      if (!iequals(kv.key(), f.name)) continue;
      if (f.type == go::permission) {
        if (auto e = check_permission(kv.value(), f.name)) return e;
      } else if (mismatch(kv.value(), f)) {
        std::string kind = go_kind(kv.value());
        return "json: cannot unmarshal " + kind + " into Go struct field Info." + f.name;
      }
      break;
    }
  }
  return std::nullopt;
}

}  // namespace jb::server
