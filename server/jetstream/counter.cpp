#include "server/jetstream/counter.hpp"

#include <boost/json.hpp>
#include <boost/multiprecision/cpp_int.hpp>

namespace jb::jetstream::counter {

namespace json = boost::json;
using big = boost::multiprecision::cpp_int;

namespace {

// Canonical decimal -> big. Input is produced by parse_increment()/to_dec(), or read back from a
// stored payload, so it is re-validated: anything else is 0.
big from_dec(std::string_view s) {
  auto canon = parse_increment(s);
  if (!canon) return 0;
  // cpp_int's string constructor reads a leading 0 as octal; canonical values have none.
  return big(*canon);
}

std::string to_dec(const big& v) { return v.str(); }

}  // namespace

std::optional<std::string> parse_increment(std::string_view v) {
  bool neg = false;
  if (!v.empty() && (v.front() == '+' || v.front() == '-')) {
    neg = v.front() == '-';
    v.remove_prefix(1);
  }
  if (v.empty()) return std::nullopt;
  for (char c : v)
    if (c < '0' || c > '9') return std::nullopt;
  while (v.size() > 1 && v.front() == '0') v.remove_prefix(1);
  if (v == "0") return std::string("0");
  std::string out;
  out.reserve(v.size() + 1);
  if (neg) out.push_back('-');
  out.append(v);
  return out;
}

std::string add(std::string_view a, std::string_view b) { return to_dec(from_dec(a) + from_dec(b)); }

std::string subtract(std::string_view a, std::string_view b) { return to_dec(from_dec(a) - from_dec(b)); }

std::optional<std::string> parse_payload(std::string_view body) {
  boost::system::error_code ec;
  json::value v = json::parse(body, ec);
  if (ec || !v.is_object()) return std::nullopt;
  const auto* val = v.as_object().if_contains("val");
  if (!val || !val->is_string()) return std::string("0");
  auto canon = parse_increment(std::string_view(val->as_string()));
  return canon ? *canon : std::string("0");
}

std::string payload(std::string_view total) {
  std::string out = "{\"val\":\"";
  out.append(total).append("\"}");
  return out;
}

std::optional<source_totals> parse_sources(std::string_view text) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec || !v.is_object()) return std::nullopt;
  source_totals out;
  for (const auto& [origin, subjects] : v.as_object()) {
    if (!subjects.is_object()) return std::nullopt;
    auto& m = out[std::string(origin)];
    for (const auto& [subject, total] : subjects.as_object()) {
      if (!total.is_string()) return std::nullopt;
      m[std::string(subject)] = std::string(total.as_string());
    }
  }
  return out;
}

std::string sources_json(const source_totals& s) {
  std::string out = "{";
  bool first_origin = true;
  for (const auto& [origin, subjects] : s) {
    if (!first_origin) out.push_back(',');
    first_origin = false;
    out.append(json::serialize(json::string(origin))).append(":{");
    bool first = true;
    for (const auto& [subject, total] : subjects) {
      if (!first) out.push_back(',');
      first = false;
      out.append(json::serialize(json::string(subject))).push_back(':');
      out.append(json::serialize(json::string(total)));
    }
    out.push_back('}');
  }
  out.push_back('}');
  return out;
}

}  // namespace jb::jetstream::counter
