#include "server/time_util.hpp"

#include <ctime>
#include <string>

namespace jb::server {

std::string rfc3339_ns(std::int64_t unix_ns) {
  std::int64_t secs = unix_ns / 1'000'000'000;
  std::int64_t frac = unix_ns % 1'000'000'000;
  if (frac < 0) {
    frac += 1'000'000'000;
    --secs;
  }
  std::time_t tt = static_cast<std::time_t>(secs);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[64];
  std::size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  std::string s(buf, n);
  if (frac != 0) {
    char f[16];
    std::snprintf(f, sizeof f, ".%09lld", static_cast<long long>(frac));
    std::string fs(f);
    while (fs.back() == '0') fs.pop_back();
    s += fs;
  }
  s += 'Z';
  return s;
}

std::string rfc3339(std::chrono::system_clock::time_point t) {
  return rfc3339_ns(std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count());
}

std::string go_duration(std::int64_t ns) {
  if (ns == 0) return "0s";
  std::string sign = ns < 0 ? "-" : "";
  std::uint64_t u = ns < 0 ? static_cast<std::uint64_t>(-ns) : static_cast<std::uint64_t>(ns);
  auto frac = [](std::uint64_t v, std::uint64_t unit) {
    std::string s = std::to_string(v / unit);
    std::uint64_t rem = v % unit;
    if (rem) {
      std::string f = std::to_string(rem);
      f.insert(0, std::to_string(unit).size() - 1 - f.size(), '0');
      while (!f.empty() && f.back() == '0') f.pop_back();
      s += "." + f;
    }
    return s;
  };
  if (u < 1000) return sign + std::to_string(u) + "ns";
  if (u < 1000000) return sign + frac(u, 1000) + "µs";
  if (u < 1000000000) return sign + frac(u, 1000000) + "ms";
  std::uint64_t h = u / 3600000000000ULL;
  u %= 3600000000000ULL;
  std::uint64_t m = u / 60000000000ULL;
  u %= 60000000000ULL;
  std::string out = sign;
  if (h) out += std::to_string(h) + "h";
  if (h || m) out += std::to_string(m) + "m";
  out += frac(u, 1000000000) + "s";
  return out;
}

std::optional<std::int64_t> parse_go_duration(std::string_view s) {
  std::int64_t total = 0;
  std::size_t i = 0;
  if (s.empty()) return std::nullopt;
  while (i < s.size()) {
    std::size_t j = i;
    while (j < s.size() && ((s[j] >= '0' && s[j] <= '9') || s[j] == '.')) ++j;
    if (j == i) return std::nullopt;
    double v = std::strtod(std::string(s.substr(i, j - i)).c_str(), nullptr);
    std::size_t k = j;
    while (k < s.size() && !((s[k] >= '0' && s[k] <= '9') || s[k] == '.')) ++k;
    auto unit = s.substr(j, k - j);
    double mult;
    if (unit == "ns") mult = 1;
    else if (unit == "us" || unit == "µs" || unit == "μs") mult = 1e3;
    else if (unit == "ms") mult = 1e6;
    else if (unit == "s") mult = 1e9;
    else if (unit == "m") mult = 60e9;
    else if (unit == "h") mult = 3600e9;
    else return std::nullopt;
    total += static_cast<std::int64_t>(v * mult);
    i = k;
  }
  return total;
}

std::string uptime_string(std::chrono::nanoseconds d) {
  auto total = std::chrono::duration_cast<std::chrono::seconds>(d).count();
  long long days = total / 86400, hours = (total % 86400) / 3600, mins = (total % 3600) / 60, secs = total % 60;
  std::string s;
  if (days) s += std::to_string(days) + "d";
  if (days || hours) s += std::to_string(hours) + "h";
  if (days || hours || mins) s += std::to_string(mins) + "m";
  s += std::to_string(secs) + "s";
  return s;
}

}  // namespace jb::server
