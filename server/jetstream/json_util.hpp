#pragma once
// Small helpers for reading API request JSON the way nats-server's strict decoder does:
// unknown fields and wrong types are errors with Go-like messages.
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>

#include <boost/json.hpp>

namespace jb::jetstream::json_util {

namespace json = boost::json;

// Returns the name of the first key of `o` not in `known`, if any.
std::optional<std::string> unknown_field(const json::object& o, std::initializer_list<std::string_view> known);

// Go's name for a JSON value's kind in unmarshal errors: string, number, bool, array, object.
std::string type_name(const json::value& v);

// Typed field readers: return false (and set err) when the field exists with a wrong type.
// A JSON number as an int64 when it is one exactly (an integral double in range included), as
// Go's unmarshal into int64/time.Duration accepts it; nullopt otherwise.
std::optional<std::int64_t> exact_int64(const json::value& v);
bool get_int(const json::object& o, std::string_view key, std::int64_t& out, std::string& err, const char* go_struct);
bool get_uint(const json::object& o, std::string_view key, std::uint64_t& out, std::string& err, const char* go_struct);
bool get_bool(const json::object& o, std::string_view key, bool& out, std::string& err, const char* go_struct);
bool get_string(const json::object& o, std::string_view key, std::string& out, std::string& err, const char* go_struct);

// Parses an RFC 3339 time into Unix nanoseconds; nullopt when malformed.
std::optional<std::int64_t> parse_rfc3339(std::string_view s);

}  // namespace jb::jetstream::json_util
