// Message schedule patterns (server/jetstream/schedule.hpp). The expected next times were computed
// with nats-server 2.14.9's own cron code for the same inputs.
#include "server/jetstream/schedule.hpp"

#include <gtest/gtest.h>

namespace sch = jb::jetstream::schedule;

namespace {

std::int64_t at(const char* rfc3339) {
  auto t = sch::parse_rfc3339(rfc3339);
  EXPECT_TRUE(t) << rfc3339;
  return t.value_or(0);
}

// The next time as nats-server writes it in Nats-Schedule-Next, or "err".
std::string next(const char* pattern, const char* tz, const char* from) {
  auto spec = sch::parse_cron(pattern);
  if (!spec) return "invalid";
  auto zone = tz ? sch::load_time_zone(tz) : sch::time_zone::utc();
  if (!zone) return "no zone";
  auto n = sch::cron_next(*spec, *zone, at(from));
  return n ? sch::format_rfc3339(*n, *zone) : "err";
}

}  // namespace

TEST(Schedule, CronNextMatchesNatsServer) {
  EXPECT_EQ(next("*/2 * * * * *", nullptr, "2026-11-25T15:03:30.5Z"), "2026-11-25T15:03:32Z");
  EXPECT_EQ(next("0 0 0 * * *", nullptr, "2026-11-25T15:03:30Z"), "2026-11-26T00:00:00Z");
  // day of month OR day of week when neither is a *; AND when one is
  EXPECT_EQ(next("0 0 0 1 * MON", nullptr, "2026-11-25T15:03:30Z"), "2026-11-30T00:00:00Z");
  EXPECT_EQ(next("0 0 0 * * MON", nullptr, "2026-11-25T15:03:30Z"), "2026-11-30T00:00:00Z");
  EXPECT_EQ(next("0 0 0 1 * *", nullptr, "2026-11-25T15:03:30Z"), "2026-12-01T00:00:00Z");
  EXPECT_EQ(next("0 0 0 1 1 *", nullptr, "2026-11-25T15:03:30Z"), "2027-01-01T00:00:00Z");
  EXPECT_EQ(next("0 0 0 29 2 *", nullptr, "2026-11-25T15:03:30Z"), "2028-02-29T00:00:00Z");
  EXPECT_EQ(next("0 0 0 31 * *", nullptr, "2026-11-25T15:03:30Z"), "2026-12-31T00:00:00Z");
  EXPECT_EQ(next("0 0 0 */2 * *", nullptr, "2026-11-25T15:03:30Z"), "2026-11-27T00:00:00Z");
  EXPECT_EQ(next("*/5 1/20 * * * *", nullptr, "2026-11-25T15:03:30Z"), "2026-11-25T15:21:00Z");
  EXPECT_EQ(next("15,45 */10 1-5 ? JAN-mar sun", nullptr, "2026-11-25T15:03:30Z"), "2027-01-03T01:00:15Z");
  // strictly after: from the next whole second
  EXPECT_EQ(next("30 * * * * *", nullptr, "2026-11-25T15:03:30Z"), "2026-11-25T15:04:30Z");
  EXPECT_EQ(next("30 * * * * *", nullptr, "2026-11-25T15:03:29.999Z"), "2026-11-25T15:03:30Z");
  // never within five years
  EXPECT_EQ(next("0 0 0 31 2 *", nullptr, "2026-11-25T15:03:30Z"), "err");
}

TEST(Schedule, CronInTimeZones) {
  EXPECT_EQ(next("0 0 9 * * *", "Europe/Amsterdam", "2026-11-25T15:03:30Z"), "2026-11-26T09:00:00+01:00");
  EXPECT_EQ(next("0 0 9 * * *", "Europe/Amsterdam", "2026-07-01T15:03:30Z"), "2026-07-02T09:00:00+02:00");
  // 02:30 does not exist on the day clocks go forward: that day is skipped, as nats-server does
  EXPECT_EQ(next("0 30 2 * * *", "Europe/Amsterdam", "2026-03-28T12:00:00Z"), "2026-03-30T02:30:00+02:00");
  EXPECT_EQ(next("0 30 2 * * *", "Europe/Amsterdam", "2026-10-24T12:00:00Z"), "2026-10-25T02:30:00+02:00");
  EXPECT_EQ(next("0 0 12 * * 1-5", "America/New_York", "2026-11-27T18:00:00Z"), "2026-11-30T12:00:00-05:00");
  EXPECT_EQ(next("0 0 * * * *", "Asia/Kolkata", "2026-11-25T15:03:30Z"), "2026-11-25T21:00:00+05:30");
  EXPECT_EQ(sch::load_time_zone("Nope/Zone"), nullptr);
  EXPECT_EQ(sch::load_time_zone("../etc/passwd"), nullptr);
  EXPECT_EQ(sch::load_time_zone("zone.tab"), nullptr);  // a file, but not TZif
  EXPECT_NE(sch::load_time_zone("UTC"), nullptr);
}

TEST(Schedule, CronParseRefusesWhatNatsServerRefuses) {
  for (const char* bad : {"0 0 * * *", "0 0 0 * * * *", "60 * * * * *", "* 60 * * * *", "* * 24 * * *", "* * * 0 * *",
                          "* * * 32 * *", "* * * * 13 *", "* * * * 0 *", "* * * * * 7", "5-1 * * * * *",
                          "1-2-3 * * * * *", "1/2/3 * * * * *", "*/0 * * * * *", "-1 * * * * *", "x * * * * *",
                          "* * * * * funday", "1/-2 * * * * *", ""})
    EXPECT_FALSE(sch::parse_cron(bad)) << bad;
  for (const char* good : {"* * * * * *", "? ? ? ? ? ?", "0,,5 * * * * *", "+5 * * * * *", "0 0 0 * jan-DEC Sun-sat",
                           "  0   0 0 * * *  ", "*/1 * * * * *", "59 59 23 31 12 6"})
    EXPECT_TRUE(sch::parse_cron(good)) << good;
}

TEST(Schedule, Rfc3339) {
  EXPECT_EQ(at("1970-01-01T00:00:01Z"), 1'000'000'000);
  EXPECT_EQ(at("1970-01-01T01:00:01+01:00"), 1'000'000'000);
  EXPECT_EQ(at("1970-01-01T00:00:01.5Z"), 1'500'000'000);
  for (const char* bad : {"1970-01-01 00:00:01Z", "1970-01-01T00:00:01", "1970-13-01T00:00:00Z", "2026-02-29T00:00:00Z",
                          "1970-01-01T24:00:00Z", "1970-01-01T00:00:00z", "1970-01-01T00:00:00+0100", "1970-01-01T00:00:00.Z"})
    EXPECT_FALSE(sch::parse_rfc3339(bad)) << bad;
  EXPECT_EQ(sch::format_rfc3339(1'500'000'000, *sch::time_zone::utc()), "1970-01-01T00:00:01.5Z");
}

TEST(Schedule, Evaluate) {
  const std::int64_t now = at("2026-11-25T15:03:30.527Z");
  auto ev = [&](std::optional<std::string_view> p, std::optional<std::string_view> tz = std::nullopt,
                std::int64_t ts = 0) { return sch::evaluate(p, tz, ts ? ts : now, now); };
  EXPECT_EQ(ev(std::nullopt).st, sch::status::none);
  EXPECT_EQ(ev("").st, sch::status::none);
  EXPECT_EQ(ev(std::nullopt, "Bad/Zone").st, sch::status::time_zone_invalid);
  EXPECT_EQ(ev("@hourly", "").st, sch::status::time_zone_invalid);
  EXPECT_EQ(ev(std::nullopt, "UTC").st, sch::status::none);
  // @at: once, at that time (also in the past); no time zone
  auto a = ev("@at 2020-01-01T00:00:00Z");
  EXPECT_EQ(a.st, sch::status::ok);
  EXPECT_FALSE(a.repeat);
  EXPECT_EQ(a.next_ns, at("2020-01-01T00:00:00Z"));
  EXPECT_EQ(ev("@at 2020-01-01T00:00:00Z", "UTC").st, sch::status::pattern_invalid);
  EXPECT_EQ(ev("@at tomorrow").st, sch::status::pattern_invalid);
  // @every: from the time rounded to the second; at least a second; no time zone
  auto e = ev("@every 1s");
  EXPECT_TRUE(e.repeat);
  EXPECT_EQ(sch::format_rfc3339(e.next_ns, *e.zone), "2026-11-25T15:03:32Z");
  EXPECT_EQ(ev("@every 1m30s").next_ns, at("2026-11-25T15:05:01Z"));
  EXPECT_EQ(ev("@every +2s").next_ns, at("2026-11-25T15:03:33Z"));
  for (const char* bad : {"@every 500ms", "@every 0", "@every -5s", "@every 5", "@every", "@reboot", "@every 1s x"})
    EXPECT_EQ(ev(bad).st, sch::status::pattern_invalid) << bad;
  EXPECT_EQ(ev("@every 1s", "UTC").st, sch::status::pattern_invalid);
  // long overdue (a restart): fire once, from now
  EXPECT_EQ(ev("@every 10s", std::nullopt, at("2026-11-25T10:00:00Z")).next_ns, at("2026-11-25T15:03:41Z"));
  EXPECT_EQ(ev("0 0 * * * *", std::nullopt, at("2026-11-25T10:00:00Z")).next_ns, at("2026-11-25T16:00:00Z"));
  // predefined
  EXPECT_EQ(ev("@hourly").next_ns, at("2026-11-25T16:00:00Z"));
  EXPECT_EQ(ev("@daily").next_ns, at("2026-11-26T00:00:00Z"));
  EXPECT_EQ(ev("@midnight").next_ns, at("2026-11-26T00:00:00Z"));
  EXPECT_EQ(ev("@weekly").next_ns, at("2026-11-29T00:00:00Z"));
  EXPECT_EQ(ev("@monthly").next_ns, at("2026-12-01T00:00:00Z"));
  EXPECT_EQ(ev("@yearly").next_ns, at("2027-01-01T00:00:00Z"));
  EXPECT_EQ(ev("@annually").next_ns, at("2027-01-01T00:00:00Z"));
  auto z = ev("*/2 * * * * *", "Europe/Amsterdam");
  EXPECT_EQ(sch::format_rfc3339(z.next_ns, *z.zone), "2026-11-25T16:03:32+01:00");
}
