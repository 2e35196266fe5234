// Message schedules (ADR-51, stream option allow_msg_schedules): the `Nats-Schedule` header
// patterns and when they next fire. Pure functions, no Asio: the stream (stream_schedules.cpp)
// keeps the timer.
//
// Patterns, as nats-server 2.14 takes them:
//   @at <RFC 3339 time>          fires once
//   @every <Go duration >= 1s>   repeats; the next time is the fire time (rounded to the second)
//                                plus the interval
//   @yearly @annually @monthly @weekly @daily @midnight @hourly
//   <sec> <min> <hour> <dom> <month> <dow>   6-field cron: numbers, names (jan, mon), ranges,
//                                lists, steps, * and ?; day of month and day of week match
//                                together (AND) when either has a *, otherwise either (OR)
// `Nats-Schedule-Time-Zone` (an IANA zone name) applies to cron patterns only.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace jb::jetstream::schedule {

inline constexpr std::string_view pattern_header = "Nats-Schedule";
inline constexpr std::string_view time_zone_header = "Nats-Schedule-Time-Zone";
inline constexpr std::string_view ttl_header = "Nats-Schedule-TTL";
inline constexpr std::string_view rollup_header = "Nats-Schedule-Rollup";
inline constexpr std::string_view target_header = "Nats-Schedule-Target";
inline constexpr std::string_view source_header = "Nats-Schedule-Source";
inline constexpr std::string_view scheduler_header = "Nats-Scheduler";
inline constexpr std::string_view next_header = "Nats-Schedule-Next";
inline constexpr std::string_view next_purge = "purge";

// A time zone from the system's tzdata (TZif files under /usr/share/zoneinfo).
class time_zone {
 public:
  struct span {
    std::int32_t offset;  // seconds east of UTC
    std::int64_t start;   // valid for unix seconds in [start, end)
    std::int64_t end;
  };
  // UTC offset in effect at `unix_s`.
  [[nodiscard]] span lookup(std::int64_t unix_s) const noexcept;
  [[nodiscard]] bool is_utc() const noexcept { return transitions_.empty() && initial_offset_ == 0; }

  static std::shared_ptr<const time_zone> utc();
  // Parses TZif data (version 1 or later); nullptr when malformed.
  static std::shared_ptr<const time_zone> from_tzif(std::string_view data);

 private:
  std::int32_t initial_offset_ = 0;
  std::vector<std::int64_t> transitions_;  // unix seconds, ascending
  std::vector<std::int32_t> offsets_;      // offset from transitions_[i] on
};

// Go's time.LoadLocation: "" and "UTC" are UTC, "Local" the system zone, otherwise an IANA name
// read from the zoneinfo directory. nullptr when unknown. Loaded zones are cached.
[[nodiscard]] std::shared_ptr<const time_zone> load_time_zone(std::string_view name);

// Broken-down local time.
struct civil {
  std::int64_t year;
  int month, day, hour, minute, second, weekday;  // month 1-12, weekday 0 = Sunday
};
[[nodiscard]] civil to_civil(std::int64_t unix_s, const time_zone& tz);
// Go's time.Date: fields may overflow (month 13, day 32) and are normalised; a local time in a
// transition gap or overlap resolves as Go resolves it.
[[nodiscard]] std::int64_t from_civil(std::int64_t year, std::int64_t month, std::int64_t day, std::int64_t hour,
                                      std::int64_t minute, std::int64_t second, const time_zone& tz);

// A parsed 6-field cron pattern: one bit per allowed value, bit 63 set when the field had a *.
struct cron_spec {
  std::uint64_t second = 0, minute = 0, hour = 0, dom = 0, month = 0, dow = 0;
};
// nullopt when the pattern is malformed (nats-server's getField/getRange rules).
[[nodiscard]] std::optional<cron_spec> parse_cron(std::string_view pattern);
// The first time strictly after `ts_ns` (from the next whole second) that matches, in unix ns;
// nullopt when none within five years.
[[nodiscard]] std::optional<std::int64_t> cron_next(const cron_spec& spec, const time_zone& tz, std::int64_t ts_ns);

// RFC 3339 as Go's time.Parse(time.RFC3339) takes it (fraction optional, Z or +hh:mm), unix ns.
[[nodiscard]] std::optional<std::int64_t> parse_rfc3339(std::string_view s);
// Go's Format(time.RFC3339Nano) in `tz`: 2026-01-02T03:04:05+01:00, `Z` for a zero offset.
[[nodiscard]] std::string format_rfc3339(std::int64_t unix_ns, const time_zone& tz);

// A `Nats-Schedule` header evaluated at `ts_ns` (the message's time, or the fire time).
enum class status { none, ok, pattern_invalid, time_zone_invalid };
struct evaluation {
  status st = status::none;
  std::int64_t next_ns = 0;  // when it fires (valid with ok)
  bool repeat = false;       // @every and cron
  std::shared_ptr<const time_zone> zone;  // the zone the next time is written in
};
// `pattern` and `tz` are the header values, nullopt when absent. Repeating schedules that would
// fire before `now_ns` skip ahead to fire once, from now.
[[nodiscard]] evaluation evaluate(std::optional<std::string_view> pattern, std::optional<std::string_view> tz,
                                  std::int64_t ts_ns, std::int64_t now_ns);

}  // namespace jb::jetstream::schedule
