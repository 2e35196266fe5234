#include "server/jetstream/schedule.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <limits>
#include <map>
#include <mutex>
#include <sstream>

#include "server/time_util.hpp"

namespace jb::jetstream::schedule {

namespace {

constexpr std::int64_t ns_per_s = 1'000'000'000;
constexpr std::uint64_t star_bit = std::uint64_t{1} << 63;

std::int64_t floor_div(std::int64_t a, std::int64_t b) {
  std::int64_t q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

// Days since 1970-01-01 of a proleptic Gregorian date, and back (Hinnant's algorithms).
std::int64_t days_from_ymd(std::int64_t y, std::int64_t m, std::int64_t d) {
  y -= m <= 2;
  const std::int64_t era = floor_div(y, 400);
  const std::int64_t yoe = y - era * 400;
  const std::int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const std::int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

void ymd_from_days(std::int64_t z, std::int64_t& y, int& m, int& d) {
  z += 719468;
  const std::int64_t era = floor_div(z, 146097);
  const std::int64_t doe = z - era * 146097;
  const std::int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const std::int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const std::int64_t mp = (5 * doy + 2) / 153;
  d = static_cast<int>(doy - (153 * mp + 2) / 5 + 1);
  m = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
  y = yoe + era * 400 + (m <= 2);
}

int days_in_month(std::int64_t y, int m) {
  static constexpr std::array<int, 12> days{31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)) return 29;
  return days[m - 1];
}

std::uint32_t be32(const unsigned char* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) | p[3];
}

// strconv.Atoi: optional sign, decimal digits, fits an int.
std::optional<std::int64_t> atoi(std::string_view s) {
  std::size_t i = 0;
  bool neg = false;
  if (!s.empty() && (s[0] == '+' || s[0] == '-')) {
    neg = s[0] == '-';
    i = 1;
  }
  if (i == s.size()) return std::nullopt;
  std::int64_t v = 0;
  for (; i < s.size(); ++i) {
    if (s[i] < '0' || s[i] > '9') return std::nullopt;
    if (v > (std::numeric_limits<std::int64_t>::max() - 9) / 10) return std::nullopt;
    v = v * 10 + (s[i] - '0');
  }
  return neg ? -v : v;
}

struct bounds {
  unsigned min, max;
  const std::array<std::string_view, 12>* names;  // value = index + name_base
  unsigned name_base;
};
constexpr std::array<std::string_view, 12> month_names{"jan", "feb", "mar", "apr", "may", "jun",
                                                       "jul", "aug", "sep", "oct", "nov", "dec"};
constexpr std::array<std::string_view, 12> dow_names{"sun", "mon", "tue", "wed", "thu", "fri", "sat"};
constexpr bounds seconds_b{0, 59, nullptr, 0}, minutes_b{0, 59, nullptr, 0}, hours_b{0, 23, nullptr, 0},
    dom_b{1, 31, nullptr, 0}, months_b{1, 12, &month_names, 1}, dow_b{0, 6, &dow_names, 0};

std::optional<std::uint64_t> int_or_name(std::string_view s, const bounds& b) {
  if (b.names) {
    std::string lower(s);
    for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    for (std::size_t i = 0; i < b.names->size(); ++i)
      if (!(*b.names)[i].empty() && (*b.names)[i] == lower) return i + b.name_base;
  }
  auto v = atoi(s);
  if (!v || *v < 0) return std::nullopt;
  return static_cast<std::uint64_t>(*v);
}

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  for (std::size_t start = 0;;) {
    auto p = s.find(sep, start);
    out.push_back(s.substr(start, p == std::string_view::npos ? std::string_view::npos : p - start));
    if (p == std::string_view::npos) return out;
    start = p + 1;
  }
}

// One range: `*` | `?` | value [ "-" value ] then optionally "/" step.
std::optional<std::uint64_t> range_bits(std::string_view expr, const bounds& b) {
  auto range_and_step = split(expr, '/');
  if (range_and_step.size() > 2) return std::nullopt;
  auto low_high = split(range_and_step[0], '-');
  std::uint64_t start = 0, end = 0, extra = 0;
  if (low_high[0] == "*" || low_high[0] == "?") {
    start = b.min;
    end = b.max;
    extra = star_bit;
  } else {
    if (low_high.size() > 2) return std::nullopt;
    auto s = int_or_name(low_high[0], b);
    if (!s) return std::nullopt;
    start = end = *s;
    if (low_high.size() == 2) {
      auto e = int_or_name(low_high[1], b);
      if (!e) return std::nullopt;
      end = *e;
    }
  }
  std::uint64_t step = 1;
  if (range_and_step.size() == 2) {
    auto st = atoi(range_and_step[1]);
    if (!st || *st < 0) return std::nullopt;
    step = static_cast<std::uint64_t>(*st);
    if (low_high.size() == 1) end = b.max;  // "N/step" runs to the maximum
    if (step > 1) extra = 0;
  }
  if (start < b.min || end > b.max || start > end || step == 0) return std::nullopt;
  std::uint64_t bits = 0;
  for (std::uint64_t i = start; i <= end; i += step) bits |= std::uint64_t{1} << i;
  return bits | extra;
}

std::optional<std::uint64_t> field_bits(std::string_view field, const bounds& b) {
  std::uint64_t bits = 0;
  for (auto part : split(field, ',')) {
    if (part.empty()) continue;
    auto r = range_bits(part, b);
    if (!r) return std::nullopt;
    bits |= *r;
  }
  return bits;
}

bool has(std::uint64_t bits, int v) { return (bits >> v) & 1u; }

bool day_matches(const cron_spec& s, const civil& c) {
  const bool dom = has(s.dom, c.day), dow = has(s.dow, c.weekday);
  if ((s.dom & star_bit) || (s.dow & star_bit)) return dom && dow;
  return dom || dow;
}

std::int64_t round_to_second(std::int64_t ns) { return floor_div(ns + ns_per_s / 2, ns_per_s) * ns_per_s; }

std::optional<std::string> read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return std::nullopt;
  std::ostringstream ss;
  ss << f.rdbuf();
  if (!f.good() && !f.eof()) return std::nullopt;
  return ss.str();
}

}  // namespace

time_zone::span time_zone::lookup(std::int64_t unix_s) const noexcept {
  constexpr std::int64_t lo = std::numeric_limits<std::int64_t>::min(), hi = std::numeric_limits<std::int64_t>::max();
  if (transitions_.empty() || unix_s < transitions_.front())
    return {initial_offset_, lo, transitions_.empty() ? hi : transitions_.front()};
  auto it = std::upper_bound(transitions_.begin(), transitions_.end(), unix_s);
  const std::size_t i = static_cast<std::size_t>(it - transitions_.begin()) - 1;
  return {offsets_[i], transitions_[i], i + 1 < transitions_.size() ? transitions_[i + 1] : hi};
}

std::shared_ptr<const time_zone> time_zone::utc() {
  static const auto z = std::make_shared<const time_zone>();
  return z;
}

std::shared_ptr<const time_zone> time_zone::from_tzif(std::string_view data) {
  auto* p = reinterpret_cast<const unsigned char*>(data.data());
  const std::size_t n = data.size();
  struct counts {
    std::uint32_t isut, isstd, leap, time, type, chars;
  };
  auto header = [&](std::size_t off, counts& c) {
    if (off + 44 > n || data.substr(off, 4) != "TZif") return false;
    const unsigned char* h = p + off + 20;
    c = {be32(h), be32(h + 4), be32(h + 8), be32(h + 12), be32(h + 16), be32(h + 20)};
    return c.type > 0;
  };
  counts c{};
  if (!header(0, c)) return nullptr;
  std::size_t off = 44;
  std::size_t tsize = 4;
  if (data[4] >= '2') {
    off += std::size_t{c.time} * 5 + std::size_t{c.type} * 6 + c.chars + std::size_t{c.leap} * 8 + c.isstd + c.isut;
    if (!header(off, c)) return nullptr;
    off += 44;
    tsize = 8;
  }
  const std::size_t need = std::size_t{c.time} * (tsize + 1) + std::size_t{c.type} * 6;
  if (off + need > n) return nullptr;
  const unsigned char* times = p + off;
  const unsigned char* idx = times + std::size_t{c.time} * tsize;
  const unsigned char* types = idx + c.time;
  auto type_offset = [&](std::size_t t) { return static_cast<std::int32_t>(be32(types + t * 6)); };
  auto z = std::make_shared<time_zone>();
  z->initial_offset_ = type_offset(0);
  for (std::uint32_t i = 0; i < c.time; ++i) {
    std::int64_t t = tsize == 8 ? static_cast<std::int64_t>((std::uint64_t{be32(times + i * 8)} << 32) | be32(times + i * 8 + 4))
                                : static_cast<std::int32_t>(be32(times + i * 4));
    if (idx[i] >= c.type) return nullptr;
    if (!z->transitions_.empty() && t <= z->transitions_.back()) return nullptr;
    z->transitions_.push_back(t);
    z->offsets_.push_back(type_offset(idx[i]));
  }
  return z;
}

std::shared_ptr<const time_zone> load_time_zone(std::string_view name) {
  if (name.empty() || name == "UTC") return time_zone::utc();
  if (name.find("..") != std::string_view::npos || name[0] == '/' || name[0] == '\\') return nullptr;
  static std::mutex mu;
  static std::map<std::string, std::shared_ptr<const time_zone>, std::less<>> cache;
  {
    std::lock_guard lk(mu);
    if (auto it = cache.find(name); it != cache.end()) return it->second;
  }
  std::shared_ptr<const time_zone> z;
  if (name == "Local") {
    if (auto d = read_file("/etc/localtime")) z = time_zone::from_tzif(*d);
    if (!z) z = time_zone::utc();
  } else {
    for (const char* dir : {"/usr/share/zoneinfo/", "/usr/share/lib/zoneinfo/", "/usr/lib/locale/TZ/", "/etc/zoneinfo/"}) {
      if (auto d = read_file(dir + std::string(name))) {
        z = time_zone::from_tzif(*d);
        if (z) break;
      }
    }
  }
  if (z) {
    std::lock_guard lk(mu);
    cache.emplace(std::string(name), z);
  }
  return z;
}

civil to_civil(std::int64_t unix_s, const time_zone& tz) {
  const std::int64_t local = unix_s + tz.lookup(unix_s).offset;
  const std::int64_t days = floor_div(local, 86400);
  const std::int64_t sod = local - days * 86400;
  civil c{};
  ymd_from_days(days, c.year, c.month, c.day);
  c.hour = static_cast<int>(sod / 3600);
  c.minute = static_cast<int>(sod / 60 % 60);
  c.second = static_cast<int>(sod % 60);
  c.weekday = static_cast<int>(floor_div(days + 4, 7) * -7 + days + 4);  // 1970-01-01 was a Thursday
  return c;
}

std::int64_t from_civil(std::int64_t year, std::int64_t month, std::int64_t day, std::int64_t hour,
                        std::int64_t minute, std::int64_t second, const time_zone& tz) {
  const std::int64_t m0 = month - 1;
  year += floor_div(m0, 12);
  month = m0 - floor_div(m0, 12) * 12 + 1;
  std::int64_t unix = (days_from_ymd(year, month, 1) + day - 1) * 86400 + hour * 3600 + minute * 60 + second;
  // The offset for the local time read as UTC, unless that UTC instant is outside its span.
  const auto sp = tz.lookup(unix);
  std::int32_t offset = sp.offset;
  if (offset != 0) {
    const std::int64_t utc = unix - offset;
    if (utc < sp.start || utc >= sp.end) offset = tz.lookup(utc).offset;
  }
  return unix - offset;
}

std::optional<cron_spec> parse_cron(std::string_view pattern) {
  std::vector<std::string_view> f;
  for (std::size_t i = 0; i < pattern.size();) {
    while (i < pattern.size() && std::isspace(static_cast<unsigned char>(pattern[i]))) ++i;
    std::size_t j = i;
    while (j < pattern.size() && !std::isspace(static_cast<unsigned char>(pattern[j]))) ++j;
    if (j > i) f.push_back(pattern.substr(i, j - i));
    i = j;
  }
  if (f.size() != 6) return std::nullopt;
  cron_spec s;
  const std::array<std::pair<std::uint64_t*, const bounds*>, 6> fields{
      {{&s.second, &seconds_b}, {&s.minute, &minutes_b}, {&s.hour, &hours_b}, {&s.dom, &dom_b}, {&s.month, &months_b}, {&s.dow, &dow_b}}};
  for (std::size_t i = 0; i < 6; ++i) {
    auto bits = field_bits(f[i], *fields[i].second);
    if (!bits) return std::nullopt;
    *fields[i].first = *bits;
  }
  return s;
}

std::optional<std::int64_t> cron_next(const cron_spec& s, const time_zone& tz, std::int64_t ts_ns) {
  // Field by field from the month down: a field that does not match moves on (truncating the
  // smaller fields the first time), and a carry into the larger field starts over.
  std::int64_t t = floor_div(ts_ns, ns_per_s) + 1;
  const std::int64_t year_limit = to_civil(t, tz).year + 5;
  bool truncated = false;
  auto truncate_once = [&](auto&& to) {
    if (!truncated) {
      truncated = true;
      t = to();
    }
  };
  for (;;) {
  wrap:
    civil c = to_civil(t, tz);
    if (c.year > year_limit) return std::nullopt;
    while (!has(s.month, c.month)) {
      truncate_once([&] { return from_civil(c.year, c.month, 1, 0, 0, 0, tz); });
      c = to_civil(t, tz);
      t = from_civil(c.year, c.month + 1, c.day, c.hour, c.minute, c.second, tz);
      c = to_civil(t, tz);
      if (c.month == 1) goto wrap;
    }
    while (!day_matches(s, c)) {
      truncate_once([&] { return from_civil(c.year, c.month, c.day, 0, 0, 0, tz); });
      c = to_civil(t, tz);
      t = from_civil(c.year, c.month, c.day + 1, c.hour, c.minute, c.second, tz);
      c = to_civil(t, tz);
      if (c.day == 1) goto wrap;
    }
    while (!has(s.hour, c.hour)) {
      truncate_once([&] { return from_civil(c.year, c.month, c.day, c.hour, 0, 0, tz); });
      t += 3600;
      c = to_civil(t, tz);
      if (c.hour == 0) goto wrap;
    }
    while (!has(s.minute, c.minute)) {
      truncate_once([&] { return floor_div(t, 60) * 60; });
      t += 60;
      c = to_civil(t, tz);
      if (c.minute == 0) goto wrap;
    }
    while (!has(s.second, c.second)) {
      truncated = true;
      t += 1;
      c = to_civil(t, tz);
      if (c.second == 0) goto wrap;
    }
    return t * ns_per_s;
  }
}

std::optional<std::int64_t> parse_rfc3339(std::string_view s) {
  std::size_t i = 0;
  auto digits = [&](std::size_t n, std::int64_t& v) {
    if (i + n > s.size()) return false;
    v = 0;
    for (std::size_t k = 0; k < n; ++k) {
      char ch = s[i + k];
      if (ch < '0' || ch > '9') return false;
      v = v * 10 + (ch - '0');
    }
    i += n;
    return true;
  };
  auto lit = [&](char ch) {
    if (i >= s.size() || s[i] != ch) return false;
    ++i;
    return true;
  };
  std::int64_t y, mo, d, h, mi, se;
  if (!digits(4, y) || !lit('-') || !digits(2, mo) || !lit('-') || !digits(2, d) || !lit('T')) return std::nullopt;
  // Go's fallback parser takes a one-digit hour.
  if (!digits(2, h)) {
    if (!digits(1, h)) return std::nullopt;
  }
  if (!lit(':') || !digits(2, mi) || !lit(':') || !digits(2, se)) return std::nullopt;
  if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, static_cast<int>(mo)) || h > 23 || mi > 59 || se > 59)
    return std::nullopt;
  std::int64_t frac = 0;
  if (i < s.size() && (s[i] == '.' || s[i] == ',')) {
    ++i;
    std::size_t start = i, nd = 0;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
      if (nd < 9) {
        frac = frac * 10 + (s[i] - '0');
        ++nd;
      }
      ++i;
    }
    if (i == start) return std::nullopt;
    for (; nd < 9; ++nd) frac *= 10;
  }
  std::int64_t offset = 0;
  if (lit('Z')) {
  } else if (i < s.size() && (s[i] == '+' || s[i] == '-')) {
    const bool neg = s[i] == '-';
    ++i;
    std::int64_t oh, om;
    if (!digits(2, oh) || !lit(':') || !digits(2, om) || oh > 23 || om > 59) return std::nullopt;
    offset = (oh * 3600 + om * 60) * (neg ? -1 : 1);
  } else {
    return std::nullopt;
  }
  if (i != s.size()) return std::nullopt;
  const std::int64_t unix = days_from_ymd(y, mo, d) * 86400 + h * 3600 + mi * 60 + se - offset;
  return unix * ns_per_s + frac;
}

std::string format_rfc3339(std::int64_t unix_ns, const time_zone& tz) {
  const std::int64_t secs = floor_div(unix_ns, ns_per_s);
  const std::int64_t frac = unix_ns - secs * ns_per_s;
  const civil c = to_civil(secs, tz);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04lld-%02d-%02dT%02d:%02d:%02d", static_cast<long long>(c.year), c.month, c.day,
                c.hour, c.minute, c.second);
  std::string out(buf);
  if (frac != 0) {
    std::snprintf(buf, sizeof buf, ".%09lld", static_cast<long long>(frac));
    std::string f(buf);
    while (f.back() == '0') f.pop_back();
    out += f;
  }
  const std::int32_t off = tz.lookup(secs).offset;
  if (off == 0) {
    out += 'Z';
  } else {
    const std::int32_t a = off < 0 ? -off : off;
    std::snprintf(buf, sizeof buf, "%c%02d:%02d", off < 0 ? '-' : '+', a / 3600, a / 60 % 60);
    out += buf;
  }
  return out;
}

evaluation evaluate(std::optional<std::string_view> pattern, std::optional<std::string_view> tz, std::int64_t ts_ns,
                    std::int64_t now_ns) {
  evaluation e;
  std::shared_ptr<const time_zone> zone;
  if (tz) {
    if (tz->empty() || !(zone = load_time_zone(*tz))) {
      e.st = status::time_zone_invalid;
      return e;
    }
  }
  if (!pattern || pattern->empty()) return e;
  std::string_view p = *pattern;
  e.st = status::pattern_invalid;
  if (p.starts_with("@at ")) {
    if (zone) return e;  // a time zone applies to cron patterns only
    auto t = parse_rfc3339(p.substr(4));
    if (!t) return e;
    e = {status::ok, *t, false, time_zone::utc()};
    return e;
  }
  if (p.starts_with("@every ")) {
    if (zone) return e;
    std::string_view d = p.substr(7);
    if (!d.empty() && d[0] == '+') d.remove_prefix(1);
    auto dur = d == "0" ? std::optional<std::int64_t>(0) : server::parse_go_duration(d);
    if (!dur || *dur < ns_per_s) return e;
    // Saturating: `@every 2562047h` from now is past what int64 ns hold; it wrapped to a time in
    // the past, so the schedule fired on every timer tick (13,000 times a second).
    auto after = [&](std::int64_t t) {
      std::int64_t r;
      return __builtin_add_overflow(t, *dur, &r) ? std::numeric_limits<std::int64_t>::max() : r;
    };
    std::int64_t next = after(round_to_second(ts_ns));
    if (next < now_ns) next = after(round_to_second(now_ns));
    e = {status::ok, next, true, time_zone::utc()};
    return e;
  }
  std::string_view cron = p;
  if (p == "@yearly" || p == "@annually") cron = "0 0 0 1 1 *";
  else if (p == "@monthly") cron = "0 0 0 1 * *";
  else if (p == "@weekly") cron = "0 0 0 * * 0";
  else if (p == "@daily" || p == "@midnight") cron = "0 0 0 * * *";
  else if (p == "@hourly") cron = "0 0 * * * *";
  auto spec = parse_cron(cron);
  if (!spec) return e;
  if (!zone) zone = time_zone::utc();
  auto next = cron_next(*spec, *zone, ts_ns);
  if (!next) return e;
  if (*next < now_ns) {
    next = cron_next(*spec, *zone, round_to_second(now_ns));
    if (!next) return e;
  }
  e = {status::ok, *next, true, zone};
  return e;
}

}  // namespace jb::jetstream::schedule
