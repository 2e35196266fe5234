#pragma once
// The NATS/1.0 header block: `NATS/1.0[ <status>[ <description>]]\r\n(Name: value\r\n)*\r\n`.
// Read-only views over a block as received (stored and forwarded verbatim elsewhere).
#include <optional>
#include <string>
#include <string_view>

namespace jb::protocol {

inline constexpr std::string_view header_version = "NATS/1.0";

struct header_status {
  int code = 0;                  // 0: no status on the first line
  std::string_view description;  // may be empty
};

// True when the block starts with NATS/1.0 and ends with an empty line.
[[nodiscard]] bool is_valid_header_block(std::string_view block) noexcept;

// Status and description from the first line, if any.
[[nodiscard]] header_status parse_header_status(std::string_view block) noexcept;

// Value of the first header whose name equals `name` exactly (nats-server matches its own
// Nats-* headers case-sensitively), with surrounding spaces trimmed.
[[nodiscard]] std::optional<std::string_view> find_header(std::string_view block,
                                                          std::string_view name) noexcept;

// Builds a header block from name/value pairs (status line optional).
class header_builder {
 public:
  header_builder() { s_.append(header_version); }
  header_builder& status(int code, std::string_view description = {});
  header_builder& add(std::string_view name, std::string_view value);
  // Finishes the block (adds the empty line) and returns it.
  std::string finish();

 private:
  std::string s_;
  bool first_line_done_ = false;
  void end_first_line();
};

// Returns `block` with every header named `name` removed (an empty string when the
// result has no headers left and no status).
[[nodiscard]] std::string remove_header(std::string_view block, std::string_view name);

// Returns `block` with the value of the first header named `name` replaced (its position and the
// space after the colon kept), or the header appended when there is none; an empty `block`
// becomes `NATS/1.0` with that one header.
[[nodiscard]] std::string set_header(std::string_view block, std::string_view name, std::string_view value);

}  // namespace jb::protocol
