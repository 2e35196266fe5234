#include "server/jetstream/json_util.hpp"

#include <charconv>
#include <cmath>
#include <ctime>

#include <boost/json/basic_parser_impl.hpp>

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

namespace {

thread_local std::string_view current_source;

// boost::json SAX handler that keeps the text of the first number under a given key (or, with an
// index, of that element of the array under the key).
struct literal_finder {
  static constexpr std::size_t max_object_size = std::size_t(-1);
  static constexpr std::size_t max_array_size = std::size_t(-1);
  static constexpr std::size_t max_key_size = std::size_t(-1);
  static constexpr std::size_t max_string_size = std::size_t(-1);

  std::string_view want;
  std::optional<std::size_t> index;
  std::string key, num;
  std::size_t depth = 0;          // containers open
  bool value_is_wanted = false;   // the next value belongs to `want`
  std::size_t array_depth = 0;    // depth of the wanted array while inside it (0: not inside)
  std::size_t element = 0;        // index of the next element of that array
  std::optional<std::string> found;

  // Called for every value start; true when this value is the one asked for.
  bool take_value() {
    bool hit = false;
    if (value_is_wanted && !index) hit = true;
    if (array_depth && depth == array_depth) hit = element++ == *index;
    value_is_wanted = false;
    return hit;
  }
  bool scalar() { take_value(); return true; }
  bool number(std::string_view s) {
    num.append(s);
    if (take_value() && !found) found = num;
    num.clear();
    return true;
  }
  bool on_document_begin(boost::system::error_code&) { return true; }
  bool on_document_end(boost::system::error_code&) { return true; }
  bool on_array_begin(boost::system::error_code&) {
    const bool wanted_array = value_is_wanted && index && !array_depth;
    take_value();
    ++depth;
    if (wanted_array) {
      array_depth = depth;
      element = 0;
    }
    return true;
  }
  bool on_array_end(std::size_t, boost::system::error_code&) {
    if (array_depth == depth) array_depth = 0;
    --depth;
    return true;
  }
  bool on_object_begin(boost::system::error_code&) { take_value(); ++depth; return true; }
  bool on_object_end(std::size_t, boost::system::error_code&) { --depth; return true; }
  bool on_string_part(std::string_view, std::size_t, boost::system::error_code&) { return true; }
  bool on_string(std::string_view, std::size_t, boost::system::error_code&) { return scalar(); }
  bool on_key_part(std::string_view s, std::size_t, boost::system::error_code&) { key.append(s); return true; }
  bool on_key(std::string_view s, std::size_t, boost::system::error_code&) {
    key.append(s);
    value_is_wanted = key == want && !found;
    key.clear();
    return true;
  }
  bool on_number_part(std::string_view s, boost::system::error_code&) { num.append(s); return true; }
  bool on_int64(std::int64_t, std::string_view s, boost::system::error_code&) { return number(s); }
  bool on_uint64(std::uint64_t, std::string_view s, boost::system::error_code&) { return number(s); }
  bool on_double(double, std::string_view s, boost::system::error_code&) { return number(s); }
  bool on_bool(bool, boost::system::error_code&) { return scalar(); }
  bool on_null(boost::system::error_code&) { return scalar(); }
  bool on_comment_part(std::string_view, boost::system::error_code&) { return true; }
  bool on_comment(std::string_view, boost::system::error_code&) { return true; }
};

}  // namespace

source_scope::source_scope(std::string_view raw) noexcept : prev_(current_source) { current_source = raw; }
source_scope::~source_scope() { current_source = prev_; }

std::optional<std::string> number_literal(std::string_view raw, std::string_view key, std::optional<std::size_t> index) {
  json::basic_parser<literal_finder> p(json::parse_options{});
  p.handler().want = key;
  p.handler().index = index;
  boost::system::error_code ec;
  p.write_some(false, raw.data(), raw.size(), ec);
  if (ec) return std::nullopt;
  return p.handler().found;
}

std::string type_name(const json::value& v, std::string_view key, std::optional<std::size_t> index) {
  switch (v.kind()) {
    case json::kind::string: return "string";
    case json::kind::bool_: return "bool";
    case json::kind::array: return "array";
    case json::kind::object: return "object";
    case json::kind::null: return "null";
    default:
      if (!key.empty() && !current_source.empty()) {
        if (auto lit = number_literal(current_source, key, index)) return "number " + *lit;
      }
      return "number";
  }
}

namespace {
// Go quotes the number only when the field is numeric (it failed to parse or overflowed).
std::string mismatch(const json::value& v, std::string_view key, const char* st, const char* go_type, bool numeric) {
  if (!go_type) go_type = "int64";
  return "json: cannot unmarshal " + type_name(v, numeric ? key : std::string_view{}) + " into Go struct field " + st +
         "." + std::string(key) + " of type " + go_type;
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

bool get_int(const json::object& o, std::string_view key, std::int64_t& out, std::string& err, const char* st,
             const char* go_type, std::int64_t lo, std::int64_t hi) {
  auto* v = o.if_contains(key);
  if (!v || v->is_null()) return true;
  if (auto i = exact_int64(*v); i && *i >= lo && *i <= hi) { out = *i; return true; }
  err = mismatch(*v, key, st, go_type, true);
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
  err = mismatch(*v, key, st, "uint64", true);
  return false;
}

bool get_bool(const json::object& o, std::string_view key, bool& out, std::string& err, const char* st) {
  auto* v = o.if_contains(key);
  if (!v || v->is_null()) return true;
  if (v->is_bool()) { out = v->as_bool(); return true; }
  err = mismatch(*v, key, st, "bool", false);
  return false;
}

bool get_string(const json::object& o, std::string_view key, std::string& out, std::string& err, const char* st) {
  auto* v = o.if_contains(key);
  if (!v || v->is_null()) return true;
  if (v->is_string()) { out = std::string(v->as_string()); return true; }
  err = mismatch(*v, key, st, "string", false);
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
