// Message counters (ADR-49, stream option allow_msg_counter): every message on a counter stream
// carries `Nats-Incr: <signed integer>` and an empty payload; the server stores {"val":"<total>"}
// with the subject's new total. Totals are arbitrary-precision integers, as nats-server's big.Int.
// Streams that source other counter streams keep, per origin stream and subject, the last total
// seen from it in the `Nats-Counter-Sources` header, and add only the difference.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace jb::jetstream::counter {

inline constexpr std::string_view incr_header = "Nats-Incr";
inline constexpr std::string_view sources_header = "Nats-Counter-Sources";

// origin stream -> original subject -> that origin's total when last seen (decimal)
using source_totals = std::map<std::string, std::map<std::string, std::string>>;

// A `Nats-Incr` value (`[+-]?[0-9]+`, leading zeros allowed) as a canonical decimal ("-4", "0",
// "7"); nullopt when it is not one.
[[nodiscard]] std::optional<std::string> parse_increment(std::string_view v);

// Sum and difference of canonical decimals.
[[nodiscard]] std::string add(std::string_view a, std::string_view b);
[[nodiscard]] std::string subtract(std::string_view a, std::string_view b);

// The total in a stored counter payload: a JSON object whose "val" is a decimal string. A missing
// or non-numeric "val" counts as 0 (nats-server's SetString leaves its zero value); nullopt when
// the payload is not a JSON object at all (a broken counter).
[[nodiscard]] std::optional<std::string> parse_payload(std::string_view body);
// {"val":"<total>"}
[[nodiscard]] std::string payload(std::string_view total);

// The `Nats-Counter-Sources` header value; nullopt when it is not the expected JSON shape.
[[nodiscard]] std::optional<source_totals> parse_sources(std::string_view json);
// Compact JSON with keys in byte order (what Go's encoding/json writes for maps).
[[nodiscard]] std::string sources_json(const source_totals& s);

}  // namespace jb::jetstream::counter
