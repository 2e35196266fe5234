#include "protocol/errc.hpp"

#include <string>

namespace jb::protocol {

std::string_view describe(errc e) noexcept {
  switch (e) {
    case errc::ok: return "ok";
    case errc::unknown_operation: return "Unknown Protocol Operation";
    case errc::max_control_line: return "maximum control line exceeded";
    case errc::max_payload: return "Maximum Payload Violation";
    case errc::bad_pub_args: return "processPub Parse Error";
    case errc::bad_hpub_args: return "processHeaderPub Parse Error";
    case errc::bad_sub_args: return "processSub Parse Error";
    case errc::bad_unsub_args: return "processUnsub Parse Error";
    case errc::bad_size: return "Bad or Missing Size";
    case errc::header_size_too_large: return "Header Size larger then TotalSize";
  }
  return "unknown protocol error";
}

namespace {
class category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "jetbroker.protocol"; }
  std::string message(int ev) const override { return std::string(describe(static_cast<errc>(ev))); }
};
}  // namespace

const std::error_category& protocol_category() noexcept {
  static const category c;
  return c;
}

}  // namespace jb::protocol
