#pragma once
// The bytes of a stream snapshot ($JS.API.STREAM.SNAPSHOT / RESTORE, `nats stream backup` and
// `restore`): a tar archive in the Snappy framing format, which S2 readers (jsm.go counts the
// uncompressed bytes of a backup through one) accept as they accept S2 streams.
//
// The archive holds jetbroker's own entries (docs/storage.md, "Snapshots"): `stream.json` first
// (format, stream config and state at the start of the snapshot), then `msgs/<n>` entries of
// message records, then one `consumers/<name>.json` per consumer. A snapshot taken by nats-server
// holds its file store's blocks instead and is refused by the restore with a clear error.
//
// Thread affinity: none (plain values).
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace jb::jetstream::snapshot {

// Snappy framing writer: write() any amount of bytes, take() framed output as it becomes ready,
// finish() at the end (frames whatever is still buffered).
class frame_writer {
 public:
  void write(std::string_view data);
  void finish();
  [[nodiscard]] std::size_t ready() const noexcept { return out_.size() - taken_; }
  // Up to `max` bytes of framed output.
  std::string take(std::size_t max);

 private:
  void emit_block(std::string_view block);
  std::string pending_;  // uncompressed bytes not yet framed (< one block)
  std::string out_;
  std::size_t taken_ = 0;
  bool started_ = false;
};

// Snappy framing reader, fed incrementally. Appends decoded bytes to `out`; an error text for a
// stream that is not Snappy framing (or S2-compressed blocks, which only S2 readers decode), a
// bad checksum or a truncated block.
class frame_reader {
 public:
  [[nodiscard]] std::optional<std::string> feed(std::string_view data, std::string& out);
  // After the last feed(): an error when the input ended inside a frame or had no frames at all.
  [[nodiscard]] std::optional<std::string> finish() const;

 private:
  std::string buf_;
  bool started_ = false;
};

// A ustar entry header for a regular file of `size` bytes (512 bytes), and the padding after it.
std::string tar_header(std::string_view name, std::uint64_t size, std::int64_t mtime_s);
std::string tar_padding(std::uint64_t size);
// The two zero blocks that end an archive.
std::string tar_end();

// Incremental tar reader: feed() decoded archive bytes; `entry(name, data)` is called for each
// complete regular-file entry and returns an error text to stop. Entries larger than `max_entry`
// are refused.
class tar_reader {
 public:
  using entry_fn = std::function<std::optional<std::string>(std::string_view name, std::string_view data)>;
  explicit tar_reader(entry_fn fn, std::uint64_t max_entry = 256u << 20) : fn_(std::move(fn)), max_entry_(max_entry) {}
  [[nodiscard]] std::optional<std::string> feed(std::string_view data);
  // After the last feed(): an error unless the archive's end blocks were seen.
  [[nodiscard]] std::optional<std::string> finish() const;

 private:
  entry_fn fn_;
  std::uint64_t max_entry_;
  std::string buf_;
  bool ended_ = false;
};

// One message of a `msgs/<n>` entry (little-endian): seq u64, ts i64, expires i64 (0: no TTL),
// subject, header and data lengths as u32, then the three byte strings.
struct msg_record {
  std::uint64_t seq = 0;
  std::int64_t ts = 0, expires = 0;
  std::string_view subject, hdr, data;
};
void append_record(std::string& out, const msg_record& r);
// Reads the record at `pos`, advancing it; nullopt when the bytes there are not a whole record.
std::optional<msg_record> read_record(std::string_view in, std::size_t& pos);

}  // namespace jb::jetstream::snapshot
