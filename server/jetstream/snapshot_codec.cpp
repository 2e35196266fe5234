#include "server/jetstream/snapshot_codec.hpp"

#include <algorithm>
#include <charconv>
#include <cstring>

#include <snappy.h>

#include "storage/crc32c.hpp"

namespace jb::jetstream::snapshot {

namespace {

// Snappy framing format (github.com/google/snappy, framing_format.txt).
constexpr std::string_view stream_identifier{"\xff\x06\x00\x00sNaPpY", 10};
constexpr std::size_t max_block = 65536;  // uncompressed bytes per chunk
constexpr unsigned char chunk_compressed = 0x00, chunk_uncompressed = 0x01, chunk_padding = 0xfe,
                        chunk_stream_id = 0xff;

std::uint32_t masked_crc(std::string_view data) {
  const std::uint32_t c = storage::crc32c::extend(0, data.data(), data.size());
  return ((c >> 15) | (c << 17)) + 0xa282ead8u;
}

void put_le(std::string& out, std::uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

std::uint64_t get_le(const char* p, int bytes) {
  std::uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

void put_octal(char* field, std::size_t width, std::uint64_t v) {
  // width - 1 digits and a NUL, as tar writes them.
  std::memset(field, '0', width - 1);
  field[width - 1] = '\0';
  for (std::size_t i = width - 1; i-- > 0 && v;) {
    field[i] = static_cast<char>('0' + (v & 7));
    v >>= 3;
  }
}

std::optional<std::uint64_t> get_octal(const char* field, std::size_t width) {
  std::uint64_t v = 0;
  std::size_t i = 0;
  while (i < width && field[i] == ' ') ++i;
  bool any = false;
  for (; i < width && field[i] >= '0' && field[i] <= '7'; ++i) {
    v = (v << 3) | static_cast<std::uint64_t>(field[i] - '0');
    any = true;
  }
  if (!any) return std::nullopt;
  for (; i < width; ++i)
    if (field[i] != '\0' && field[i] != ' ') return std::nullopt;
  return v;
}

}  // namespace

void frame_writer::emit_block(std::string_view block) {
  std::string compressed;
  snappy::Compress(block.data(), block.size(), &compressed);
  const bool use_compressed = compressed.size() < block.size() - block.size() / 8;
  const std::string_view body = use_compressed ? std::string_view(compressed) : block;
  out_.push_back(static_cast<char>(use_compressed ? chunk_compressed : chunk_uncompressed));
  put_le(out_, body.size() + 4, 3);
  put_le(out_, masked_crc(block), 4);
  out_.append(body);
}

void frame_writer::write(std::string_view data) {
  if (!started_) {
    out_.append(stream_identifier);
    started_ = true;
  }
  while (!data.empty()) {
    if (pending_.empty() && data.size() >= max_block) {
      emit_block(data.substr(0, max_block));
      data.remove_prefix(max_block);
      continue;
    }
    const std::size_t n = std::min(max_block - pending_.size(), data.size());
    pending_.append(data.substr(0, n));
    data.remove_prefix(n);
    if (pending_.size() == max_block) {
      emit_block(pending_);
      pending_.clear();
    }
  }
}

void frame_writer::finish() {
  if (!started_) {
    out_.append(stream_identifier);
    started_ = true;
  }
  if (!pending_.empty()) emit_block(pending_);
  pending_.clear();
}

std::string frame_writer::take(std::size_t max) {
  const std::size_t n = std::min(max, ready());
  std::string r = out_.substr(taken_, n);
  taken_ += n;
  if (taken_ > (1u << 20) && taken_ * 2 > out_.size()) {
    out_.erase(0, taken_);
    taken_ = 0;
  }
  return r;
}

std::optional<std::string> frame_reader::feed(std::string_view data, std::string& out) {
  buf_.append(data);
  std::size_t pos = 0;
  while (buf_.size() - pos >= 4) {
    const auto type = static_cast<unsigned char>(buf_[pos]);
    const std::size_t len = get_le(buf_.data() + pos + 1, 3);
    if (!started_ && type != chunk_stream_id) return "the backup is not a Snappy/S2 stream";
    if (buf_.size() - pos - 4 < len) break;
    const std::string_view body(buf_.data() + pos + 4, len);
    pos += 4 + len;
    if (type == chunk_stream_id) {
      if (body == stream_identifier.substr(4)) {
        started_ = true;
        continue;
      }
      if (body == "S2sTwO") return "the backup is S2-compressed (a snapshot taken by nats-server?): jetbroker restores its own snapshots only";
      return "the backup is not a Snappy/S2 stream";
    }
    if (type == chunk_compressed || type == chunk_uncompressed) {
      if (len < 4) return "truncated block in the backup";
      const auto want = static_cast<std::uint32_t>(get_le(body.data(), 4));
      const std::string_view payload = body.substr(4);
      std::string plain;
      std::string_view decoded = payload;
      if (type == chunk_compressed) {
        std::size_t n = 0;
        if (!snappy::GetUncompressedLength(payload.data(), payload.size(), &n) || n > max_block ||
            !snappy::Uncompress(payload.data(), payload.size(), &plain))
          return "a compressed block of the backup does not decode (S2-compressed: a snapshot taken by nats-server?)";
        decoded = plain;
      } else if (payload.size() > max_block) {
        return "oversized block in the backup";
      }
      if (masked_crc(decoded) != want) return "checksum mismatch in the backup";
      out.append(decoded);
      continue;
    }
    if (type >= 0x02 && type <= 0x7f) return "unknown block type in the backup";
    // 0x80-0xfd reserved skippable, 0xfe padding: skipped.
    (void)chunk_padding;
  }
  buf_.erase(0, pos);
  return std::nullopt;
}

std::optional<std::string> frame_reader::finish() const {
  if (!started_) return "the backup is empty";
  if (!buf_.empty()) return "the backup ends inside a block (truncated?)";
  return std::nullopt;
}

std::string tar_header(std::string_view name, std::uint64_t size, std::int64_t mtime_s) {
  std::string h(512, '\0');
  std::memcpy(h.data(), name.data(), std::min<std::size_t>(name.size(), 99));
  put_octal(h.data() + 100, 8, 0644);
  put_octal(h.data() + 108, 8, 0);
  put_octal(h.data() + 116, 8, 0);
  put_octal(h.data() + 124, 12, size);
  put_octal(h.data() + 136, 12, static_cast<std::uint64_t>(std::max<std::int64_t>(mtime_s, 0)));
  std::memset(h.data() + 148, ' ', 8);
  h[156] = '0';
  std::memcpy(h.data() + 257, "ustar\0" "00", 8);
  unsigned sum = 0;
  for (unsigned char c : h) sum += c;
  put_octal(h.data() + 148, 7, sum);  // six digits, NUL, and the space already there
  h[155] = ' ';
  return h;
}

std::string tar_padding(std::uint64_t size) { return std::string((512 - size % 512) % 512, '\0'); }

std::string tar_end() { return std::string(1024, '\0'); }

std::optional<std::string> tar_reader::feed(std::string_view data) {
  if (ended_) return std::nullopt;  // bytes after the end blocks are ignored, as tar does
  buf_.append(data);
  std::size_t pos = 0;
  std::optional<std::string> err;
  while (buf_.size() - pos >= 512) {
    const char* h = buf_.data() + pos;
    if (std::all_of(h, h + 512, [](char c) { return c == '\0'; })) {
      ended_ = true;
      pos = buf_.size();
      break;
    }
    unsigned sum = 0;
    for (int i = 0; i < 512; ++i) sum += (i >= 148 && i < 156) ? ' ' : static_cast<unsigned char>(h[i]);
    auto want = get_octal(h + 148, 8);
    auto size = get_octal(h + 124, 12);
    if (!want || *want != sum || !size) {
      err = "the backup's archive is damaged (bad tar header)";
      break;
    }
    if (*size > max_entry_) {
      err = "an entry of the backup's archive is too large";
      break;
    }
    const std::uint64_t padded = (*size + 511) / 512 * 512;
    if (buf_.size() - pos - 512 < padded) break;
    const std::string name(h, strnlen(h, 100));
    const char type = h[156];
    if (type == '0' || type == '\0') {
      if (auto e = fn_(name, std::string_view(h + 512, *size))) {
        err = std::move(e);
        break;
      }
    }
    pos += 512 + padded;
  }
  buf_.erase(0, pos);
  return err;
}

std::optional<std::string> tar_reader::finish() const {
  if (!ended_) return "the backup's archive is incomplete";
  return std::nullopt;
}

void append_record(std::string& out, const msg_record& r) {
  put_le(out, r.seq, 8);
  put_le(out, static_cast<std::uint64_t>(r.ts), 8);
  put_le(out, static_cast<std::uint64_t>(r.expires), 8);
  put_le(out, r.subject.size(), 4);
  put_le(out, r.hdr.size(), 4);
  put_le(out, r.data.size(), 4);
  out.append(r.subject).append(r.hdr).append(r.data);
}

std::optional<msg_record> read_record(std::string_view in, std::size_t& pos) {
  constexpr std::size_t fixed = 8 * 3 + 4 * 3;
  if (in.size() - pos < fixed) return std::nullopt;
  const char* p = in.data() + pos;
  msg_record r;
  r.seq = get_le(p, 8);
  r.ts = static_cast<std::int64_t>(get_le(p + 8, 8));
  r.expires = static_cast<std::int64_t>(get_le(p + 16, 8));
  const std::uint64_t sl = get_le(p + 24, 4), hl = get_le(p + 28, 4), dl = get_le(p + 32, 4);
  if (in.size() - pos - fixed < sl + hl + dl) return std::nullopt;
  const char* b = p + fixed;
  r.subject = {b, sl};
  r.hdr = {b + sl, hl};
  r.data = {b + sl + hl, dl};
  pos += fixed + sl + hl + dl;
  return r;
}

}  // namespace jb::jetstream::snapshot
