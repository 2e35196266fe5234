#include "server/time_util.hpp"

#include <ctime>

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
