// libFuzzer target for the restore side of stream snapshots (snapshot_codec): the Snappy framing
// reader, the tar reader and the message records, which decode whatever bytes a client sends to
// $JS.SNAPSHOT.RESTORE. Invariants on every input:
//  - no crash, no undefined behaviour, no read outside the input (ASan, UBSan);
//  - feeding the input whole and feeding it split at a fuzzer-chosen point give the same entries,
//    the same records and the same error;
//  - the raw input read as a tar archive (no framing) is handled too.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "server/jetstream/snapshot_codec.hpp"

namespace snap = jb::jetstream::snapshot;

namespace {

struct outcome {
  std::vector<std::string> seen;  // entry names and record fields
  std::optional<std::string> error;
  bool operator==(const outcome&) const = default;
};

outcome run(std::string_view in, std::size_t cut, bool framed) {
  outcome o;
  snap::tar_reader tar(
      [&](std::string_view name, std::string_view data) -> std::optional<std::string> {
        o.seen.emplace_back(name);
        std::size_t pos = 0;
        while (auto r = snap::read_record(data, pos)) {
          if (pos > data.size()) std::abort();
          o.seen.push_back(std::to_string(r->seq) + " " + std::string(r->subject) + " " + std::to_string(r->data.size()));
        }
        return std::nullopt;
      },
      1u << 20);
  snap::frame_reader frames;
  for (auto part : {in.substr(0, cut), in.substr(cut)}) {
    std::string plain;
    if (framed) {
      if ((o.error = frames.feed(part, plain))) return o;
    } else {
      plain.assign(part);
    }
    if ((o.error = tar.feed(plain))) return o;
  }
  if (framed && (o.error = frames.finish())) return o;
  o.error = tar.finish();
  return o;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const bool framed = data[0] & 1;
  std::string_view in(reinterpret_cast<const char*>(data + 2), size - 2);
  const std::size_t cut = in.empty() ? 0 : data[1] % (in.size() + 1);
  // Framed inputs start with the stream identifier so the fuzzer reaches the chunks quickly.
  std::string buf;
  if (framed) {
    buf.assign("\xff\x06\x00\x00sNaPpY", 10);
    buf.append(in);
    in = buf;
  }
  const auto whole = run(in, in.size(), framed);
  const auto split = run(in, std::min(cut + (framed ? 10 : 0), in.size()), framed);
  if (!(whole == split)) std::abort();
  return 0;
}
