#pragma once
// Time formatting as nats-server's JSON writes it: RFC 3339 in UTC with nanoseconds and `Z`,
// and Go-style durations for /varz uptime.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace jb::server {

// 2024-01-02T03:04:05.123456789Z (trailing zeros of the fraction trimmed, as Go does).
[[nodiscard]] std::string rfc3339(std::chrono::system_clock::time_point t);
[[nodiscard]] std::string rfc3339_ns(std::int64_t unix_ns);
// Go's time.Duration.String(): 0s, 1.5µs, 250ms, 3s, 1m30s, 2h0m0.5s.
[[nodiscard]] std::string go_duration(std::int64_t ns);
// Parses a Go duration ("1h30m", "90s", "500ms", "1.5s"); nullopt when malformed.
[[nodiscard]] std::optional<std::int64_t> parse_go_duration(std::string_view s);
// nats-server's uptime format: 1d2h3m4s.
[[nodiscard]] std::string uptime_string(std::chrono::nanoseconds d);

}  // namespace jb::server
