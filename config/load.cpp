#include "config/load.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <initializer_list>
#include <optional>
#include <string_view>

#include "protocol/nkey.hpp"

namespace jb::config {
namespace {

using conf::kind;
using conf::value;
using std::chrono::milliseconds;

std::string lower(std::string_view s) {
  std::string r(s);
  std::transform(r.begin(), r.end(), r.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return r;
}

bool one_of(std::string_view k, std::initializer_list<std::string_view> names) {
  return std::find(names.begin(), names.end(), k) != names.end();
}

std::string quote(std::string_view s) { return "\"" + std::string(s) + "\""; }

// Go's time.ParseDuration, to millisecond precision. Returns the error text on failure.
std::variant<milliseconds, std::string> parse_go_duration(std::string_view orig) {
  const std::string invalid = "time: invalid duration " + quote(orig);
  std::string_view s = orig;
  bool neg = false;
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) {
    neg = s[0] == '-';
    s.remove_prefix(1);
  }
  if (s == "0") return milliseconds(0);
  if (s.empty()) return invalid;
  long double total_ns = 0;
  while (!s.empty()) {
    std::size_t i = 0;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
    std::size_t int_digits = i;
    std::size_t frac_digits = 0;
    if (i < s.size() && s[i] == '.') {
      ++i;
      const std::size_t f0 = i;
      while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
      frac_digits = i - f0;
    }
    if (int_digits == 0 && frac_digits == 0) return invalid;
    long double number = 0;
    {
      std::string num(s.substr(0, i));
      number = std::strtold(num.c_str(), nullptr);
    }
    s.remove_prefix(i);
    std::size_t u = 0;
    while (u < s.size() && s[u] != '.' && (s[u] < '0' || s[u] > '9')) ++u;
    if (u == 0) return "time: missing unit in duration " + quote(orig);
    const std::string_view unit = s.substr(0, u);
    long double scale = 0;
    if (unit == "ns") scale = 1;
    else if (unit == "us" || unit == "\xC2\xB5s" || unit == "\xCE\xBCs") scale = 1e3L;
    else if (unit == "ms") scale = 1e6L;
    else if (unit == "s") scale = 1e9L;
    else if (unit == "m") scale = 60e9L;
    else if (unit == "h") scale = 3600e9L;
    else return "time: unknown unit " + quote(unit) + " in duration " + quote(orig);
    total_ns += number * scale;
    s.remove_prefix(u);
  }
  if (total_ns > 9.2e18L) return invalid;
  const auto ms = static_cast<std::int64_t>(total_ns / 1e6L);
  return milliseconds(neg ? -ms : ms);
}

// Go's Duration.String() for whole milliseconds: 500ms, 10s, 1m30s, 2h0m0s.
std::string go_duration_string(milliseconds d) {
  std::int64_t ms = d.count();
  if (ms == 0) return "0s";
  std::string sign = ms < 0 ? "-" : "";
  if (ms < 0) ms = -ms;
  if (ms < 1000) return sign + std::to_string(ms) + "ms";
  const std::int64_t h = ms / 3600000;
  const std::int64_t m = (ms / 60000) % 60;
  const std::int64_t s = (ms / 1000) % 60;
  const std::int64_t frac = ms % 1000;
  std::string sec = std::to_string(s);
  if (frac) {
    std::string f = std::to_string(frac);
    f.insert(0, 3 - f.size(), '0');
    while (f.back() == '0') f.pop_back();
    sec += "." + f;
  }
  std::string out = sign;
  if (h) out += std::to_string(h) + "h";
  if (h || m) out += std::to_string(m) + "m";
  return out + sec + "s";
}

struct host_port {
  std::string host;
  int port = 0;
};

class loader {
 public:
  explicit loader(options& o) : o_(o) {}

  std::vector<std::string> errors;
  std::vector<std::string> warnings;
  std::vector<std::string> notices;

  void top(const value& root) {
    // nats configureSystemAccount runs first.
    for (const auto& m : root.map) {
      if (one_of(lower(m.key), {"system_account", "system"})) {
        if (auto s = str(m.val)) o_.system_account = *s;
      }
    }
    for (const auto& m : root.map) top_field(m.key, m.val);
    if (store_dir_seen_ > 1) error(*store_dir_at_, "Duplicate 'store_dir' configuration");
  }

 private:
  // ---- reporting ----------------------------------------------------------------------------
  void error(const value& at, const std::string& reason) { errors.push_back(at.pos.str() + ": " + reason); }
  void unknown(const value& at, std::string_view field) {
    if (at.used_variable) return;  // a variable definition, not an option
    errors.push_back(at.pos.str() + ": unknown field " + quote(field));
  }
  void warn_field(const value& at, std::string_view field, const std::string& reason) {
    warnings.push_back(at.pos.str() + ": invalid use of field " + quote(field) + ": " + reason);
  }
  void type_error(const value& v, const char* want) {
    // The text of the Go panic nats-server turns into a config error.
    error(v, std::string("interface conversion: interface {} is ") + v.go_type() + ", not " + want);
  }

  // ---- typed access ---------------------------------------------------------------------------
  std::optional<std::int64_t> integer(const value& v) {
    if (v.type == kind::integer) return v.integer;
    type_error(v, "int64");
    return std::nullopt;
  }
  std::optional<int> int32(const value& v) {
    auto i = integer(v);
    if (!i) return std::nullopt;
    if (*i > std::numeric_limits<int>::max() || *i < std::numeric_limits<int>::min()) {
      error(v, "value is out of range");
      return std::nullopt;
    }
    return static_cast<int>(*i);
  }
  std::optional<std::string> str(const value& v) {
    if (v.type == kind::string) return v.str;
    type_error(v, "string");
    return std::nullopt;
  }
  std::optional<bool> boolean(const value& v) {
    if (v.type == kind::boolean) return v.boolean;
    type_error(v, "bool");
    return std::nullopt;
  }
  bool is_map(const value& v, std::string_view what) {
    if (v.type == kind::map) return true;
    error(v, "Expected " + std::string(what) + " to be a map, got " + v.go_type());
    return false;
  }
  std::optional<std::vector<std::string>> strings(const value& v) {
    std::vector<std::string> out;
    if (v.type == kind::string) {
      out.push_back(v.str);
      return out;
    }
    if (v.type != kind::array) {
      type_error(v, "[]interface {}");
      return std::nullopt;
    }
    for (const auto& e : v.array) {
      auto s = str(e);
      if (!s) return std::nullopt;
      out.push_back(*s);
    }
    return out;
  }

  // nats parseDuration: a Go duration string, or (old configs) an integer number of seconds
  // with a warning.
  std::optional<milliseconds> duration(const value& v, std::string_view field) {
    if (v.type == kind::string) {
      auto d = parse_go_duration(v.str);
      if (auto* e = std::get_if<std::string>(&d)) {
        error(v, "error parsing " + std::string(field) + ": " + *e);
        return std::nullopt;
      }
      return std::get<milliseconds>(d);
    }
    if (v.type == kind::integer) {
      warn_field(v, field, std::string(field) + " should be converted to a duration");
      return milliseconds(v.integer * 1000);
    }
    type_error(v, "int64");
    return std::nullopt;
  }

  // A timeout in seconds: integer, float or duration string (tls.timeout, authorization.timeout).
  std::optional<milliseconds> seconds(const value& v, std::string_view what) {
    switch (v.type) {
      case kind::integer: return milliseconds(v.integer * 1000);
      case kind::floating: return milliseconds(static_cast<std::int64_t>(std::llround(v.floating * 1000)));
      case kind::string: {
        auto d = parse_go_duration(v.str);
        if (auto* e = std::get_if<std::string>(&d)) {
          error(v, "error parsing " + std::string(what) + ", 'timeout' " + *e);
          return std::nullopt;
        }
        return std::get<milliseconds>(d);
      }
      default: type_error(v, "float64"); return std::nullopt;
    }
  }

  // nats getStorageSize: an integer, or a string with a K/M/G/T suffix (powers of 1024).
  std::optional<std::int64_t> storage_size(const value& v, std::string_view field) {
    if (v.type == kind::integer) return v.integer;
    if (v.type != kind::string) {
      type_error(v, "int64");
      return std::nullopt;
    }
    std::string s = v.str;
    if (s.empty()) return 0;
    std::int64_t mult = 1;
    switch (std::toupper(static_cast<unsigned char>(s.back()))) {
      case 'K': mult = 1LL << 10; break;
      case 'M': mult = 1LL << 20; break;
      case 'G': mult = 1LL << 30; break;
      case 'T': mult = 1LL << 40; break;
      default: break;
    }
    if (mult != 1) s.pop_back();
    std::int64_t n = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
    std::int64_t out = 0;
    if (ec != std::errc() || p != s.data() + s.size() || __builtin_mul_overflow(n, mult, &out)) {
      error(v, "error parsing " + std::string(field) + ": invalid size " + quote(v.str));
      return std::nullopt;
    }
    return out;
  }

  // nats parseListen: a port, or "host:port" (net.SplitHostPort rules).
  std::optional<host_port> listen(const value& v) {
    host_port hp;
    if (v.type == kind::integer) {
      hp.port = static_cast<int>(v.integer);
      return hp;
    }
    if (v.type != kind::string) {
      error(v, std::string("expected port or host:port, got ") + v.go_type());
      return std::nullopt;
    }
    const std::string& s = v.str;
    const std::string bad = "could not parse address string " + quote(s);
    std::string port;
    if (!s.empty() && s[0] == '[') {
      auto close = s.find(']');
      if (close == std::string::npos || close + 1 >= s.size() || s[close + 1] != ':') {
        error(v, bad);
        return std::nullopt;
      }
      hp.host = s.substr(1, close - 1);
      port = s.substr(close + 2);
    } else {
      auto colon = s.rfind(':');
      if (colon == std::string::npos || s.find(':') != colon) {
        error(v, bad);
        return std::nullopt;
      }
      hp.host = s.substr(0, colon);
      port = s.substr(colon + 1);
    }
    std::string_view digits = port;
    if (!digits.empty() && digits[0] == '+') digits.remove_prefix(1);
    auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), hp.port);
    if (digits.empty() || ec != std::errc() || p != digits.data() + digits.size()) {
      error(v, "could not parse port " + quote(port));
      return std::nullopt;
    }
    return hp;
  }

  // ---- top level ------------------------------------------------------------------------------
  void top_field(const std::string& key, const value& v) {
    const std::string k = lower(key);
    if (k == "listen") {
      if (auto hp = listen(v)) {
        o_.host = hp->host.empty() ? "0.0.0.0" : hp->host;
        o_.port = hp->port == 0 ? 4222 : hp->port;
      }
    } else if (k == "port") {
      if (auto p = int32(v)) o_.port = *p == 0 ? 4222 : *p;
    } else if (k == "host" || k == "net") {
      if (auto s = str(v)) o_.host = *s;
    } else if (k == "server_name") {
      if (auto s = str(v)) o_.server_name = *s;
    } else if (k == "client_advertise") {
      if (auto s = str(v)) o_.client_advertise = *s;
    } else if (k == "debug") {
      if (auto b = boolean(v)) o_.debug = *b;
    } else if (k == "trace" || k == "trace_verbose") {
      if (auto b = boolean(v)) o_.trace = *b;
    } else if (k == "logtime") {
      if (auto b = boolean(v)) o_.logtime = *b;
    } else if (k == "logtime_utc") {
      if (auto b = boolean(v)) o_.logtime_utc = *b;
    } else if (k == "logfile" || k == "log_file") {
      if (auto s = str(v)) o_.log_file = *s;
    } else if (k == "logfile_size_limit" || k == "log_size_limit") {
      if (auto i = integer(v)) o_.log_size_limit = *i;
    } else if (k == "syslog") {
      if (auto b = boolean(v)) o_.syslog = *b;
    } else if (k == "remote_syslog") {
      if (auto s = str(v)) o_.remote_syslog = *s;
    } else if (k == "pidfile" || k == "pid_file") {
      if (auto s = str(v)) o_.pid_file = *s;
    } else if (k == "ports_file_dir") {
      if (auto s = str(v)) o_.ports_file_dir = *s;
    } else if (k == "http") {
      if (auto hp = listen(v)) {
        o_.http_host = hp->host;
        o_.http_port = hp->port;
      }
    } else if (k == "https") {
      if (auto hp = listen(v)) {
        o_.http_host = hp->host;
        o_.https_port = hp->port;
      }
    } else if (k == "http_port" || k == "monitor_port") {
      if (auto p = int32(v)) o_.http_port = *p;
    } else if (k == "https_port") {
      if (auto p = int32(v)) o_.https_port = *p;
    } else if (k == "http_base_path") {
      if (auto s = str(v)) o_.http_base_path = *s;
    } else if (k == "max_control_line") {
      if (auto i = integer(v)) {
        if (*i > (1LL << 31) - 1) error(v, key + " value is too big");
        else o_.max_control_line = static_cast<std::size_t>(std::max<std::int64_t>(*i, 0));
      }
    } else if (k == "max_payload") {
      if (auto i = integer(v)) {
        if (*i > (1LL << 31) - 1) error(v, key + " value is too big");
        else o_.max_payload = *i;
      }
    } else if (k == "max_pending") {
      if (auto i = integer(v)) o_.max_pending = *i;
    } else if (k == "max_connections" || k == "max_conn") {
      if (auto i = int32(v)) o_.max_connections = *i;
    } else if (k == "max_subscriptions" || k == "max_subs") {
      if (auto i = int32(v)) o_.max_subscriptions = *i;
    } else if (k == "max_traced_msg_len") {
      if (auto i = int32(v)) o_.max_traced_msg_len = *i;
    } else if (k == "trace_headers") {
      if (auto b = boolean(v)) o_.trace_headers = *b;
    } else if (k == "ping_interval") {
      if (auto d = duration(v, "ping_interval")) o_.ping_interval = *d;
    } else if (k == "ping_max") {
      if (auto i = int32(v)) o_.max_pings_out = *i;
    } else if (k == "write_deadline") {
      if (auto d = duration(v, "write_deadline")) o_.write_deadline = *d;
    } else if (k == "lame_duck_duration") {
      if (auto d = strict_duration(v, "lame_duck_duration")) {
        if (*d < std::chrono::seconds(30))
          error(v, "invalid lame_duck_duration of " + go_duration_string(*d) + ", minimum is 30 seconds");
        else o_.lame_duck_duration = *d;
      }
    } else if (k == "lame_duck_grace_period") {
      if (auto d = strict_duration(v, "lame_duck_grace_period")) {
        if (d->count() < 0) error(v, "invalid lame_duck_grace_period, needs to be positive");
        else o_.lame_duck_grace_period = *d;
      }
    } else if (k == "authorization") {
      authorization(v);
    } else if (k == "accounts") {
      accounts(v);
    } else if (k == "no_auth_user") {
      if (auto s = str(v)) o_.no_auth_user = *s;
    } else if (k == "system_account" || k == "system") {
      // Done first, in top().
    } else if (k == "no_system_account" || k == "no_system" || k == "no_sys_acc") {
      if (auto b = boolean(v)) o_.no_system_account = *b;
    } else if (k == "no_header_support") {
      if (auto b = boolean(v)) o_.no_header_support = *b;
    } else if (k == "store_dir" || k == "storedir") {
      if (auto s = str(v)) set_store_dir(v, *s);
    } else if (k == "jetstream") {
      jetstream(v);
    } else if (k == "tls") {
      if (auto t = tls(v)) o_.tls = std::move(*t);
    } else if (k == "allow_non_tls") {
      if (auto b = boolean(v)) o_.allow_non_tls = *b;
    } else if (k == "websocket" || k == "ws") {
      websocket(v);
    } else if (k == "server_tags") {
      if (v.type == kind::string) {
        o_.server_tags.push_back(v.str);
      } else if (v.type == kind::array) {
        for (const auto& t : v.array) {
          if (t.type != kind::string) {
            error(v, std::string("error parsing tags: unsupported type ") + t.go_type() + " where string is expected");
            break;
          }
          o_.server_tags.push_back(t.str);
        }
      } else {
        error(v, std::string("error parsing tags: unsupported type ") + v.go_type());
      }
    } else if (one_of(k, {"cluster", "gateway", "leaf", "leafnodes", "mqtt", "operator", "operators", "roots", "root",
                          "root_operators", "root_operator", "resolver", "account_resolver", "accounts_resolver",
                          "resolver_tls", "resolver_preload", "resolver_pinned_accounts", "trusted", "trusted_keys",
                          "mappings", "maps", "default_js_domain", "ocsp", "ocsp_cache", "proxies"})) {
      unsupported(key, v);
    } else if (one_of(k, {"disable_sublist_cache", "no_sublist_cache", "prof_port", "max_sub_tokens",
                          "max_subscription_tokens", "connect_error_reports", "reconnect_error_reports",
                          "logfile_max_num", "log_max_num", "write_timeout", "server_metadata",
                          "no_fast_producer_stall", "prof_block_rate", "max_closed_clients"})) {
      // Accepted for compatibility; no effect in jetbroker (yet).
    } else {
      unknown(v, key);
    }
  }

  // lame_duck_*: nats requires a string here (no integer fallback).
  std::optional<milliseconds> strict_duration(const value& v, std::string_view field) {
    auto s = str(v);
    if (!s) return std::nullopt;
    auto d = parse_go_duration(*s);
    if (auto* e = std::get_if<std::string>(&d)) {
      error(v, "error parsing " + std::string(field) + ": " + *e);
      return std::nullopt;
    }
    return std::get<milliseconds>(d);
  }

  void set_store_dir(const value& at, const std::string& dir) {
    ++store_dir_seen_;
    store_dir_at_ = &at;
    o_.store_dir = dir;
    o_.store_in_memory = dir == ":memory:";
  }

  void unsupported(const std::string& key, const value& v) {
    unsupported_feature f{key, v.pos.str(), {}};
    if (v.type == kind::map) {
      const value* h = nullptr;
      const value* p = nullptr;
      for (const auto& m : v.map) {
        const std::string mk = lower(m.key);
        if (mk == "listen") {
          f.listen = m.val.type == kind::integer ? std::to_string(m.val.integer) : m.val.str;
        } else if (mk == "host" || mk == "net") {
          h = &m.val;
        } else if (mk == "port") {
          p = &m.val;
        }
      }
      if (f.listen.empty() && p && p->type == kind::integer)
        f.listen = (h && h->type == kind::string ? h->str : std::string("0.0.0.0")) + ":" + std::to_string(p->integer);
    }
    o_.unsupported.push_back(std::move(f));
    notices.push_back(v.pos.str() + ": " + quote(key) + " is not supported by jetbroker, ignoring it");
  }

  // ---- jetstream ------------------------------------------------------------------------------
  void jetstream(const value& v) {
    switch (v.type) {
      case kind::boolean: o_.jetstream = v.boolean; return;
      case kind::string: {
        const std::string s = lower(v.str);
        if (s == "enabled" || s == "enable") o_.jetstream = true;
        else if (s == "disabled" || s == "disable") o_.jetstream = false;
        else error(v, "Expected 'enabled' or 'disabled' for string value, got '" + v.str + "'");
        return;
      }
      case kind::map: break;
      default: error(v, std::string("Expected map, bool or string to define JetStream, got ") + v.go_type()); return;
    }
    bool enable = true;
    for (const auto& m : v.map) {
      const std::string k = lower(m.key);
      const value& mv = m.val;
      if (k == "strict") {
        if (auto b = boolean(mv)) o_.jetstream_strict = *b;
      } else if (k == "store" || k == "store_dir" || k == "storedir") {
        if (auto s = str(mv)) set_store_dir(mv, *s);
      } else if (k == "max_memory_store" || k == "max_mem_store" || k == "max_mem") {
        if (auto n = storage_size(mv, k)) o_.jetstream_max_memory = *n;
      } else if (k == "max_file_store" || k == "max_file") {
        if (auto n = storage_size(mv, k)) o_.jetstream_max_store = *n;
      } else if (k == "domain") {
        if (auto s = str(mv)) o_.jetstream_domain = *s;
      } else if (k == "enable" || k == "enabled") {
        if (auto b = boolean(mv)) enable = *b;
      } else if (k == "unique_tag") {
        if (auto s = str(mv)) o_.jetstream_unique_tag = lower(*s);
      } else if (k == "sync" || k == "sync_interval") {
        if (mv.type == kind::string && lower(mv.str) == "always") {
          o_.jetstream_sync_always = true;
        } else if (auto d = duration(mv, m.key)) {
          o_.jetstream_sync_interval = *d;
        }
      } else if (one_of(k, {"key", "ek", "encryption_key", "cipher", "prev_key", "prev_ek", "prev_encryption_key",
                            "extension_hint", "limits", "max_outstanding_catchup", "max_catchup", "max_buffered_size",
                            "max_buffered_msgs", "request_queue_limit", "tpm", "max_ack_pending"})) {
        // Accepted; not implemented.
      } else {
        unknown(mv, m.key);
      }
    }
    o_.jetstream = enable;
  }

  // ---- authorization --------------------------------------------------------------------------
  struct auth_block {
    std::string user, password, token;
    std::optional<milliseconds> timeout;
    bool has_users = false;
    std::vector<jb::config::user> users;
    std::optional<permissions> default_permissions;
  };

  std::optional<auth_block> parse_auth(const value& v) {
    if (!is_map(v, "authorization")) return std::nullopt;
    auth_block a;
    for (const auto& m : v.map) {
      const std::string k = lower(m.key);
      const value& mv = m.val;
      if (k == "user" || k == "username") {
        if (auto s = str(mv)) a.user = *s;
      } else if (k == "pass" || k == "password") {
        if (auto s = str(mv)) a.password = *s;
      } else if (k == "token") {
        if (auto s = str(mv)) a.token = *s;
      } else if (k == "timeout") {
        a.timeout = seconds(mv, "authorization config");
      } else if (k == "users") {
        a.has_users = true;
        parse_users(mv, "", a.users);
      } else if (k == "default_permission" || k == "default_permissions" || k == "permissions") {
        a.default_permissions = parse_permissions(mv);
      } else if (one_of(k, {"auth_callout", "auth_hook"})) {
        unsupported(m.key, mv);
      } else {
        unknown(mv, m.key);
      }
    }
    return a;
  }

  void authorization(const value& v) {
    auto a = parse_auth(v);
    if (!a) return;
    o_.user = a->user;
    o_.password = a->password;
    o_.auth_token = a->token;
    if (a->timeout) o_.auth_timeout = *a->timeout;
    if ((!a->user.empty() || !a->password.empty()) && !a->token.empty()) {
      error(v, "Cannot have a user/pass and token");
      return;
    }
    if (a->has_users || users_from_accounts_) {
      if (!a->user.empty()) {
        error(v, "Can not have a single user/pass and a users array");
        return;
      }
      if (!a->token.empty()) {
        error(v, "Can not have a token and a users array");
        return;
      }
    }
    if (a->default_permissions) {
      o_.default_permissions = a->default_permissions;
      for (auto& u : a->users)
        if (!u.perms) u.perms = a->default_permissions;
    }
    add_users(v, std::move(a->users));
  }

  void add_users(const value& at, std::vector<user> users) {
    for (auto& u : users) {
      const std::string& id = u.name.empty() ? u.nkey : u.name;
      const bool dup = std::any_of(o_.users.begin(), o_.users.end(), [&](const user& x) {
        return (x.name.empty() ? x.nkey : x.name) == id;
      });
      if (dup) {
        error(at, std::string(u.name.empty() ? "Duplicate nkey " : "Duplicate user ") + quote(id) + " detected");
        continue;
      }
      o_.users.push_back(std::move(u));
    }
  }

  void parse_users(const value& v, const std::string& account, std::vector<user>& out) {
    if (v.type != kind::array) {
      error(v, std::string("Expected users field to be an array, got ") + v.go_type());
      return;
    }
    for (const auto& e : v.array) {
      if (e.type != kind::map) {
        error(e, std::string("Expected user entry to be a map/struct, got ") + e.go_type());
        continue;
      }
      user u;
      u.account = account;
      for (const auto& m : e.map) {
        const std::string k = lower(m.key);
        const value& mv = m.val;
        if (k == "nkey") {
          if (auto s = str(mv)) u.nkey = *s;
        } else if (k == "user" || k == "username") {
          if (auto s = str(mv)) u.name = *s;
        } else if (k == "pass" || k == "password") {
          if (auto s = str(mv)) u.password = *s;
        } else if (k == "permission" || k == "permissions") {
          u.perms = parse_permissions(mv);
        } else if (k == "allowed_connection_types" || k == "connection_types" || k == "clients") {
          if (auto s = strings(mv)) u.allowed_connection_types = *s;
        } else if (k == "proxy_required") {
          // Accepted; not implemented.
        } else {
          unknown(mv, m.key);
        }
      }
      if (u.name.empty() && u.nkey.empty()) {
        error(e, "User entry requires a user");
        continue;
      }
      if (!u.nkey.empty()) {
        // nats-server reports these at a key of the entry (the last one it looked at; Go's map
        // order varies, so with several keys the column does too): here the last in the file.
        const value& at = e.map.empty() ? e : e.map.back().val;
        if (!u.name.empty() || !u.password.empty()) {
          error(at, "Nkey users do not take usernames or passwords");
          continue;
        }
        if (!protocol::nkey::is_valid_public_user_key(u.nkey)) {
          error(at, "Not a valid public nkey for a user");
          continue;
        }
      }
      out.push_back(std::move(u));
    }
  }

  std::optional<subject_permission> subject_perm(const value& v) {
    subject_permission p;
    if (v.type == kind::map) {
      for (const auto& m : v.map) {
        const std::string k = lower(m.key);
        if (k == "allow") {
          if (auto s = strings(m.val)) p.allow = *s;
        } else if (k == "deny") {
          if (auto s = strings(m.val)) p.deny = *s;
        } else if (!m.val.used_variable) {
          error(m.val, "Unknown field name " + quote(m.key) +
                           " parsing subject permissions, only 'allow' or 'deny' are permitted");
        }
      }
      return p;
    }
    if (v.type == kind::string || v.type == kind::array) {
      if (auto s = strings(v)) p.allow = *s;
      return p;
    }
    error(v, std::string("Expected subject permissions to be a subject, or array of subjects, got ") + v.go_type());
    return std::nullopt;
  }

  std::optional<permissions> parse_permissions(const value& v) {
    if (v.type != kind::map) {
      error(v, std::string("Expected permissions to be a map/struct, got ") + v.go_type());
      return std::nullopt;
    }
    permissions p;
    for (const auto& m : v.map) {
      const std::string k = lower(m.key);
      const value& mv = m.val;
      if (k == "pub" || k == "publish" || k == "import") {
        p.publish = subject_perm(mv);
      } else if (k == "sub" || k == "subscribe" || k == "export") {
        p.subscribe = subject_perm(mv);
      } else if (k == "resp" || k == "allow_responses" || k == "allow_response") {
        if (mv.type == kind::boolean) {
          if (mv.boolean) p.allow_responses = response_permission{};
        } else if (mv.type == kind::map) {
          response_permission r;
          for (const auto& rm : mv.map) {
            const std::string rk = lower(rm.key);
            if (rk == "max" || rk == "max_msgs" || rk == "max_messages" || rk == "max_responses") {
              // 0 keeps the default (1), a negative value means unlimited (nats parseAllowResponses).
              if (auto i = int32(rm.val); i && *i != 0) r.max_msgs = *i;
            } else if (rk == "expires" || rk == "expiration" || rk == "ttl") {
              if (auto d = strict_duration(rm.val, rk); d && d->count() != 0) r.expires = *d;
            } else {
              error(rm.val, "Unknown field " + quote(rm.key) + " parsing allow_responses");
            }
          }
          p.allow_responses = r;
        } else {
          type_error(mv, "bool");
        }
      } else if (!mv.used_variable) {
        error(mv, "Unknown field " + quote(m.key) + " parsing permissions");
      }
    }
    return p;
  }

  // ---- accounts -------------------------------------------------------------------------------
  void accounts(const value& v) {
    if (v.type == kind::array) {
      for (const auto& n : v.array) {
        auto name = str(n);
        if (!name) continue;
        if (*name == "$G") {
          error(n, "\"$G\" is a Reserved Account");
          continue;
        }
        if (find_account(*name)) {
          error(n, "Duplicate Account Entry: " + *name);
          continue;
        }
        account acc;
        acc.name = *name;
        o_.accounts.push_back(std::move(acc));
      }
      return;
    }
    if (!is_map(v, "accounts")) return;
    for (const auto& am : v.map) {
      const value& av = am.val;
      if (av.used_variable) continue;  // a variable defined inside the accounts block
      if (av.type != kind::map) {
        error(av, "Expected map entries for accounts");
        continue;
      }
      if (am.key == "$G") {
        error(av, "\"$G\" is a Reserved Account");
        continue;
      }
      account acc;
      acc.name = am.key;
      std::vector<user> users;
      const value* users_at = nullptr;
      for (const auto& m : av.map) {
        const std::string k = lower(m.key);
        const value& mv = m.val;
        if (k == "nkey") {
          if (auto s = str(mv)) acc.nkey = *s;
        } else if (k == "users") {
          users_at = &mv;
          parse_users(mv, acc.name, users);
        } else if (k == "jetstream") {
          account_js(mv, acc.jetstream);
        } else if (k == "default_permissions") {
          acc.default_permissions = parse_permissions(mv);
        } else if (k == "imports") {
          imports(mv, acc);
        } else if (k == "exports") {
          exports(mv, acc);
        } else if (k == "mappings" || k == "maps") {
          if (!is_map(mv, "mappings")) continue;
          for (const auto& mm : mv.map) {
            if (mm.val.type == kind::string) acc.mappings.emplace_back(mm.key, mm.val.str);
            else warn_field(mm.val, mm.key, "weighted mappings are not supported by jetbroker, ignoring it");
          }
        } else if (k == "limits") {
          if (!is_map(mv, "account limits")) continue;
          for (const auto& lm : mv.map) {
            const std::string lk = lower(lm.key);
            if (lk == "max_connections" || lk == "max_conn") {
              if (auto i = integer(lm.val)) acc.max_connections = *i;
            } else if (lk == "max_subscriptions" || lk == "max_subs") {
              if (auto i = integer(lm.val)) acc.max_subscriptions = *i;
            } else if (lk == "max_payload" || lk == "max_pay") {
              if (auto i = integer(lm.val)) acc.max_payload = *i;
            } else if (lk == "max_leafnodes" || lk == "max_leafs") {
              // No leafnodes in jetbroker.
            } else if (!lm.val.used_variable) {
              error(lm.val, "Unknown field " + quote(lm.key) + " parsing account limits");
            }
          }
        } else {
          unknown(mv, m.key);
        }
      }
      if (!users.empty()) {
        if (!o_.user.empty()) error(*users_at, "Can not have a single user/pass and accounts");
        else if (!o_.auth_token.empty()) error(*users_at, "Can not have a token and accounts");
        users_from_accounts_ = true;
        for (auto& u : users)
          if (!u.perms && acc.default_permissions) u.perms = acc.default_permissions;
        add_users(*users_at, std::move(users));
      }
      if (find_account(acc.name)) error(av, "Duplicate Account Entry: " + acc.name);
      else o_.accounts.push_back(std::move(acc));
    }
  }

  const account* find_account(const std::string& name) const {
    for (const auto& a : o_.accounts)
      if (a.name == name) return &a;
    return nullptr;
  }

  void account_js(const value& v, account_jetstream& js) {
    if (v.type == kind::boolean) {
      js.enabled = v.boolean;
      return;
    }
    if (v.type == kind::string) {
      const std::string s = lower(v.str);
      if (s == "enabled" || s == "enable") js.enabled = true;
      else if (s == "disabled" || s == "disable") js.enabled = false;
      else error(v, "Expected 'enabled' or 'disabled' for string value, got '" + v.str + "'");
      return;
    }
    if (!is_map(v, "account jetstream")) return;
    js.enabled = true;
    for (const auto& m : v.map) {
      const std::string k = lower(m.key);
      const value& mv = m.val;
      if (one_of(k, {"max_memory", "max_mem", "mem", "memory"})) {
        if (auto n = storage_size(mv, k)) js.max_memory = *n;
      } else if (one_of(k, {"max_store", "max_file", "max_disk", "store", "disk"})) {
        if (auto n = storage_size(mv, k)) js.max_store = *n;
      } else if (one_of(k, {"max_streams", "streams"})) {
        if (auto i = integer(mv)) js.max_streams = *i;
      } else if (one_of(k, {"max_consumers", "consumers"})) {
        if (auto i = integer(mv)) js.max_consumers = *i;
      } else if (one_of(k, {"max_bytes_required", "max_stream_bytes", "max_bytes"})) {
        if (auto b = boolean(mv)) js.max_bytes_required = *b;
      } else if (one_of(k, {"mem_max_stream_bytes", "memory_max_stream_bytes"})) {
        if (auto n = storage_size(mv, k)) js.memory_max_stream_bytes = *n;
      } else if (one_of(k, {"disk_max_stream_bytes", "store_max_stream_bytes"})) {
        if (auto n = storage_size(mv, k)) js.store_max_stream_bytes = *n;
      } else if (one_of(k, {"max_ack_pending"})) {
        if (auto i = integer(mv)) js.max_ack_pending = *i;
      } else if (one_of(k, {"cluster_traffic", "tiers"})) {
        // Accepted; not implemented.
      } else {
        unknown(mv, m.key);
      }
    }
  }

  void exports(const value& v, account& acc) {
    if (v.type != kind::array) {
      error(v, std::string("Exports should be an array, got ") + v.go_type());
      return;
    }
    for (const auto& e : v.array) {
      if (e.type != kind::map) {
        error(e, std::string("Export Items should be a map with type entry, got ") + e.go_type());
        continue;
      }
      account_export x;
      bool has_subject = false;
      for (const auto& m : e.map) {
        const std::string k = lower(m.key);
        if (k == "stream" || k == "service") {
          x.type = k == "stream" ? account_export::kind::stream : account_export::kind::service;
          if (auto s = str(m.val)) x.subject = *s;
          has_subject = true;
        } else if (k == "accounts") {
          if (auto s = strings(m.val)) x.accounts = *s;
        } else if (k == "response" || k == "response_type") {
          if (auto s = str(m.val)) x.response_type = *s;
        } else if (one_of(k, {"latency", "threshold", "response_threshold", "account_token_position", "advertise",
                              "allow_trace", "description", "info_url"})) {
          // Accepted; not implemented.
        } else {
          error(m.val, "Unknown field " + quote(m.key) + " parsing export");
        }
      }
      if (!has_subject) error(e, "Export entry requires a stream or service subject");
      else acc.exports.push_back(std::move(x));
    }
  }

  void imports(const value& v, account& acc) {
    if (v.type != kind::array) {
      error(v, std::string("Imports should be an array, got ") + v.go_type());
      return;
    }
    for (const auto& e : v.array) {
      if (e.type != kind::map) {
        error(e, std::string("Import Items should be a map with type entry, got ") + e.go_type());
        continue;
      }
      account_import x;
      bool has_source = false;
      for (const auto& m : e.map) {
        const std::string k = lower(m.key);
        if (k == "stream" || k == "service") {
          x.type = k == "stream" ? account_import::kind::stream : account_import::kind::service;
          has_source = true;
          if (!is_map(m.val, "import source")) continue;
          for (const auto& sm : m.val.map) {
            const std::string sk = lower(sm.key);
            if (sk == "account") {
              if (auto s = str(sm.val)) x.account = *s;
            } else if (sk == "subject") {
              if (auto s = str(sm.val)) x.subject = *s;
            } else {
              error(sm.val, "Unknown field " + quote(sm.key) + " parsing import");
            }
          }
        } else if (k == "to" || k == "prefix") {
          if (auto s = str(m.val)) x.to = *s;
          x.prefix = k == "prefix";
        } else if (one_of(k, {"share", "allow_trace"})) {
          // Accepted; not implemented.
        } else {
          error(m.val, "Unknown field " + quote(m.key) + " parsing import");
        }
      }
      if (!has_source) error(e, "Import entry requires a stream or service");
      else acc.imports.push_back(std::move(x));
    }
  }

  // ---- tls and websocket ----------------------------------------------------------------------
  std::optional<tls_options> tls(const value& v) {
    if (v.type != kind::map) {
      error(v, std::string("Expected map to define tls, got ") + v.go_type());
      return std::nullopt;
    }
    tls_options t;
    const std::size_t before = errors.size();
    for (const auto& m : v.map) {
      const std::string k = lower(m.key);
      const value& mv = m.val;
      if (k == "cert_file") {
        if (auto s = str(mv)) t.cert_file = *s;
      } else if (k == "key_file") {
        if (auto s = str(mv)) t.key_file = *s;
      } else if (k == "ca_file") {
        if (auto s = str(mv)) t.ca_file = *s;
      } else if (k == "verify") {
        if (auto b = boolean(mv)) t.verify = *b;
      } else if (k == "verify_and_map" || k == "map") {
        if (auto b = boolean(mv)) t.verify_and_map = t.verify = *b;
      } else if (k == "insecure") {
        if (auto b = boolean(mv)) t.insecure = *b;
      } else if (k == "timeout") {
        if (auto d = seconds(mv, "tls config")) t.timeout = *d;
      } else if (k == "handshake_first" || k == "first" || k == "immediate") {
        if (mv.type == kind::boolean) {
          t.handshake_first = mv.boolean;
        } else if (mv.type == kind::string) {
          const std::string s = lower(mv.str);
          if (s == "true" || s == "on") {
            t.handshake_first = true;
          } else if (s == "false" || s == "off") {
            t.handshake_first = false;
          } else if (s == "auto" || s == "auto_fallback") {
            t.handshake_first = true;
            t.handshake_first_fallback = std::chrono::milliseconds(50);
          } else {
            auto d = parse_go_duration(mv.str);
            if (std::holds_alternative<std::string>(d)) {
              error(mv, "field " + quote(m.key) + "'s value " + quote(mv.str) + " is invalid");
            } else {
              t.handshake_first = true;
              t.handshake_first_fallback = std::get<milliseconds>(d);
            }
          }
        } else {
          type_error(mv, "bool");
        }
      } else if (k == "cipher_suites") {
        if (auto s = strings(mv)) t.cipher_suites = *s;
      } else if (k == "curve_preferences") {
        if (auto s = strings(mv)) t.curve_preferences = *s;
      } else if (k == "pinned_certs") {
        if (auto s = strings(mv)) t.pinned_certs = *s;
      } else if (k == "min_version") {
        if (auto s = str(mv)) t.min_version = *s;
      } else if (one_of(k, {"cert_store", "cert_match_by", "cert_match", "cert_match_skip_invalid", "ca_certs_match",
                            "verify_cert_and_check_known_urls", "connection_rate_limit", "ocsp_peer", "certs"})) {
        // Accepted; not implemented.
      } else {
        // tls {} is strict in nats-server.
        error(mv, "error parsing tls config, unknown field " + quote(m.key));
      }
    }
    if (errors.size() != before) return std::nullopt;
    if (!t.cert_file.empty() && t.key_file.empty()) {
      error(v, "missing 'key_file' in TLS configuration");
      return std::nullopt;
    }
    if (t.cert_file.empty() && !t.key_file.empty()) {
      error(v, "missing 'cert_file' in TLS configuration");
      return std::nullopt;
    }
    return t;
  }

  void websocket(const value& v) {
    if (!is_map(v, "websocket")) return;
    auto& ws = o_.websocket;
    ws.configured = true;
    for (const auto& m : v.map) {
      const std::string k = lower(m.key);
      const value& mv = m.val;
      if (k == "listen") {
        if (auto hp = listen(mv)) {
          ws.host = hp->host;
          ws.port = hp->port;
        }
      } else if (k == "port") {
        if (auto p = int32(mv)) ws.port = *p;
      } else if (k == "host" || k == "net") {
        if (auto s = str(mv)) ws.host = *s;
      } else if (k == "advertise") {
        if (auto s = str(mv)) ws.advertise = *s;
      } else if (k == "no_tls") {
        if (auto b = boolean(mv)) ws.no_tls = *b;
      } else if (k == "tls") {
        if (auto t = tls(mv)) ws.tls = std::move(*t);
      } else if (k == "compress" || k == "compression") {
        if (auto b = boolean(mv)) ws.compression = *b;
      } else if (k == "same_origin") {
        if (auto b = boolean(mv)) ws.same_origin = *b;
      } else if (k == "allowed_origins" || k == "allowed_origin" || k == "allow_origins" || k == "allow_origin" ||
                 k == "origins" || k == "origin") {
        if (auto s = strings(mv)) ws.allowed_origins = *s;
      } else if (k == "handshake_timeout") {
        if (mv.type == kind::integer) ws.handshake_timeout = milliseconds(mv.integer);  // nats: milliseconds
        else if (auto d = duration(mv, m.key)) ws.handshake_timeout = *d;
      } else if (k == "authorization" || k == "authentication") {
        if (auto a = parse_auth(mv)) {
          ws.user = a->user;
          ws.password = a->password;
          ws.token = a->token;
        }
      } else if (k == "no_auth_user") {
        if (auto s = str(mv)) ws.no_auth_user = *s;
      } else if (k == "jwt_cookie") {
        if (auto s = str(mv)) ws.jwt_cookie = *s;
      } else if (k == "user_cookie") {
        if (auto s = str(mv)) ws.user_cookie = *s;
      } else if (k == "pass_cookie") {
        if (auto s = str(mv)) ws.pass_cookie = *s;
      } else if (k == "token_cookie") {
        if (auto s = str(mv)) ws.token_cookie = *s;
      } else if (one_of(k, {"headers", "ping_interval"})) {
        // Accepted; not implemented.
      } else {
        unknown(mv, m.key);
      }
    }
  }

  options& o_;
  int store_dir_seen_ = 0;
  const value* store_dir_at_ = nullptr;
  bool users_from_accounts_ = false;
};

std::string join(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  std::string out;
  for (const auto* list : {&a, &b}) {
    for (const auto& line : *list) {
      if (!out.empty()) out.push_back('\n');
      out += line;
    }
  }
  return out;
}

}  // namespace

std::variant<load_result, load_error> apply_config(const conf::value& root, options& out) {
  loader l(out);
  l.top(root);
  if (!l.errors.empty()) {
    load_error e;
    e.message = join(l.warnings, l.errors);
    e.errors = std::move(l.errors);
    e.warnings = std::move(l.warnings);
    return e;
  }
  return load_result{std::move(l.warnings), std::move(l.notices), conf::digest(root)};
}

std::variant<load_result, load_error> load_config_string(std::string_view text, options& out, const std::string& name) {
  auto parsed = conf::parse_string(text, name);
  if (auto* e = std::get_if<conf::parse_error>(&parsed)) return load_error{e->message, {e->message}, {}};
  return apply_config(std::get<conf::value>(parsed), out);
}

std::variant<load_result, load_error> load_config_file(const std::string& path, options& out) {
  out.config_file = path;
  auto parsed = conf::parse_file(path);
  if (auto* e = std::get_if<conf::parse_error>(&parsed)) return load_error{e->message, {e->message}, {}};
  return apply_config(std::get<conf::value>(parsed), out);
}

check_result check_config_file(const std::string& path) {
  options scratch;
  auto r = load_config_file(path, scratch);
  if (auto* e = std::get_if<load_error>(&r)) return {false, e->message};
  auto& ok = std::get<load_result>(r);
  if (!ok.warnings.empty()) return {false, join(ok.warnings, {})};
  return {true, "configuration file " + path + " is valid (" + ok.digest + ")"};
}

}  // namespace jb::config
