#pragma once
// Small helpers for reading API request JSON the way nats-server's strict decoder does:
// unknown fields and wrong types are errors with Go-like messages.
#include <climits>
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
// Go quotes a number as written ("number 1e+300") when the field is numeric: with `key` and a
// request text in scope (see source_scope), a number is named with the literal the text gives that
// key (pass no key for a non-numeric field).
std::string type_name(const json::value& v, std::string_view key = {}, std::optional<std::size_t> index = {});

// The raw JSON of the request being decoded on this thread, while the scope lives.
class source_scope {
 public:
  explicit source_scope(std::string_view raw) noexcept;
  ~source_scope();
  source_scope(const source_scope&) = delete;
  source_scope& operator=(const source_scope&) = delete;

 private:
  std::string_view prev_;
};

// The literal text of the first number in `raw` that is the value of an object key `key` (at any
// depth), or with `index`, element `index` of the first array under `key`; nullopt when there is
// none or `raw` does not parse.
std::optional<std::string> number_literal(std::string_view raw, std::string_view key,
                                          std::optional<std::size_t> index = {});

// Typed field readers: return false (and set err) when the field exists with a wrong type.
// A JSON number as an int64 when it is one exactly (an integral double in range included), as
// Go's unmarshal into int64/time.Duration accepts it; nullopt otherwise.
std::optional<std::int64_t> exact_int64(const json::value& v);
// go_type: the Go field's type named in the error (get_int: int64 unless given).
// [lo, hi]: the Go type's range (an int32 field); a number outside it is a type error, as in Go.
bool get_int(const json::object& o, std::string_view key, std::int64_t& out, std::string& err, const char* go_struct,
             const char* go_type = nullptr, std::int64_t lo = INT64_MIN, std::int64_t hi = INT64_MAX);
bool get_uint(const json::object& o, std::string_view key, std::uint64_t& out, std::string& err, const char* go_struct);
bool get_bool(const json::object& o, std::string_view key, bool& out, std::string& err, const char* go_struct);
bool get_string(const json::object& o, std::string_view key, std::string& out, std::string& err, const char* go_struct);

// Parses an RFC 3339 time into Unix nanoseconds; nullopt when malformed.
std::optional<std::int64_t> parse_rfc3339(std::string_view s);

}  // namespace jb::jetstream::json_util
