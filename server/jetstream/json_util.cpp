#include "server/jetstream/json_util.hpp"

#include <charconv>
#include <cmath>
#include <ctime>

namespace jb::jetstream::json_util {

std::optional<std::string> unknown_field(const json::object& o, std::initializer_list<std::string_view> known) {
  for (const auto& kv : o) {
    bool ok = false;
    for (auto k : known)
      if (kv.key() == k) { ok = true; break; }
    if (!ok) return std::string(kv.key());
  }
  return std::nullopt;
}

std::string type_name(const json::value& v) {
  switch (v.kind()) {
    case json::kind::string: return "string";
    case json::kind::bool_: return "bool";
    case json::kind::array: return "array";
    case json::kind::object: return "object";
    case json::kind::null: return "null";
    default: return "number";
  }
}

namespace {
std::string mismatch(const json::value& v, std::string_view key, const char* st, const char* go_type) {
  return "json: cannot unmarshal " + type_name(v) + " into Go struct field " + st + "." + std::string(key) +
         " of type " + go_type;
}
}  // namespace

std::optional<std::int64_t> exact_int64(const json::value& v) {
  if (v.is_int64()) return v.as_int64();
  if (v.is_uint64() && v.as_uint64() <= static_cast<std::uint64_t>(INT64_MAX)) return static_cast<std::int64_t>(v.as_uint64());
  if (v.is_double()) {
    // Integral and in range (2^63 is exactly representable); casting anything else is undefined.
    const double d = v.as_double();
    if (d >= -9223372036854775808.0 && d < 9223372036854775808.0 && d == std::trunc(d)) return static_cast<std::int64_t>(d);
  }
  return std::nullopt;
}

bool get_int(const json::object& o, std::string_view key, std::int64_t& out, std::string& err, const char* st) {
  auto* v = o.if_contains(key);
  if (!v || v->is_null()) return true;
  if (auto i = exact_int64(*v)) { out = *i; return true; }
  err = mismatch(*v, key, st, "int64");
  return false;
}

bool get_uint(const json::object& o, std::string_view key, std::uint64_t& out, std::string& err, const char* st) {
  auto* v = o.if_contains(key);
  if (!v || v->is_null()) return true;
  if (v->is_uint64()) { out = v->as_uint64(); return true; }
  if (v->is_int64() && v->as_int64() >= 0) { out = static_cast<std::uint64_t>(v->as_int64()); return true; }
  if (v->is_double()) {
    const double d = v->as_double();
    if (d >= 0 && d < 18446744073709551616.0 && d == std::trunc(d)) { out = static_cast<std::uint64_t>(d); return true; }
  }
  err = mismatch(*v, key, st, "uint64");
  return false;
}

bool get_bool(const json::object& o, std::string_view key, bool& out, std::string& err, const char* st) {
  auto* v = o.if_contains(key);
  if (!v || v->is_null()) return true;
  if (v->is_bool()) { out = v->as_bool(); return true; }
  err = mismatch(*v, key, st, "bool");
  return false;
}

bool get_string(const json::object& o, std::string_view key, std::string& out, std::string& err, const char* st) {
  auto* v = o.if_contains(key);
  if (!v || v->is_null()) return true;
  if (v->is_string()) { out = std::string(v->as_string()); return true; }
  err = mismatch(*v, key, st, "string");
  return false;
}

std::optional<std::int64_t> parse_rfc3339(std::string_view s) {
  // YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)
  if (s.size() < 20) return std::nullopt;
  auto num = [&](std::size_t pos, std::size_t len, int& out) {
    auto [p, ec] = std::from_chars(s.data() + pos, s.data() + pos + len, out);
    return ec == std::errc() && p == s.data() + pos + len;
  };
  int Y, M, D, h, m, sec;
  if (!num(0, 4, Y) || s[4] != '-' || !num(5, 2, M) || s[7] != '-' || !num(8, 2, D) ||
      (s[10] != 'T' && s[10] != 't' && s[10] != ' ') || !num(11, 2, h) || s[13] != ':' || !num(14, 2, m) ||
      s[16] != ':' || !num(17, 2, sec))
    return std::nullopt;
  std::size_t i = 19;
  std::int64_t frac = 0;
  if (i < s.size() && s[i] == '.') {
    ++i;
    int digits = 0;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
      if (digits < 9) { frac = frac * 10 + (s[i] - '0'); ++digits; }
      ++i;
    }
    while (digits++ < 9) frac *= 10;
  }
  std::int64_t offset = 0;
  if (i < s.size() && (s[i] == 'Z' || s[i] == 'z')) {
    ++i;
  } else if (i + 6 == s.size() && (s[i] == '+' || s[i] == '-')) {
    int oh, om;
    if (!num(i + 1, 2, oh) || s[i + 3] != ':' || !num(i + 4, 2, om)) return std::nullopt;
    offset = (oh * 3600 + om * 60) * (s[i] == '+' ? 1 : -1);
    i += 6;
  } else {
    return std::nullopt;
  }
  if (i != s.size()) return std::nullopt;
  std::tm tm{};
  tm.tm_year = Y - 1900;
  tm.tm_mon = M - 1;
  tm.tm_mday = D;
  tm.tm_hour = h;
  tm.tm_min = m;
  tm.tm_sec = sec;
  std::int64_t secs = static_cast<std::int64_t>(timegm(&tm)) - offset;
  // Outside what int64 nanoseconds can hold (Go's zero time 0001-01-01 among them): the zero
  // value, which every caller treats as "not set", as Go's omitempty does.
  constexpr std::int64_t max_secs = INT64_MAX / 1'000'000'000 - 1;
  if (secs < -max_secs || secs > max_secs) return 0;
  return secs * 1'000'000'000 + frac;
}

}  // namespace jb::jetstream::json_util
