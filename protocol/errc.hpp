#pragma once
// Protocol errors the parser reports. The connection maps each one to nats-server's reaction
// (which -ERR text, if any, and whether the connection closes).
#include <string_view>
#include <system_error>

namespace jb::protocol {

enum class errc {
  ok = 0,
  unknown_operation,     // -ERR 'Unknown Protocol Operation', close
  max_control_line,      // -ERR 'maximum control line exceeded', close
  max_payload,           // -ERR 'Maximum Payload Violation', close
  bad_pub_args,          // logged, close (processPub Parse Error)
  bad_hpub_args,         // logged, close (processHeaderPub Parse Error)
  bad_sub_args,          // logged, close (processSub Parse Error)
  bad_unsub_args,        // logged, close (processUnsub Parse Error)
  bad_size,              // logged, close (Bad or Missing Size)
  header_size_too_large, // logged, close (Header Size larger then TotalSize)
};

[[nodiscard]] const std::error_category& protocol_category() noexcept;
[[nodiscard]] inline std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), protocol_category()};
}
[[nodiscard]] std::string_view describe(errc e) noexcept;

}  // namespace jb::protocol

template <>
struct std::is_error_code_enum<jb::protocol::errc> : std::true_type {};
