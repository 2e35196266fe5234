#pragma once
// Fixed-width big-endian encodings for RocksDB keys (so byte order == numeric order) and the
// little helpers that build the keys of every column family. Layout: docs/storage.md.
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace jb::storage::codec {

inline void put_u64(std::string& out, std::uint64_t v) {
  char b[8];
  for (int i = 7; i >= 0; --i) { b[i] = static_cast<char>(v & 0xff); v >>= 8; }
  out.append(b, 8);
}
inline void put_u32(std::string& out, std::uint32_t v) {
  char b[4];
  for (int i = 3; i >= 0; --i) { b[i] = static_cast<char>(v & 0xff); v >>= 8; }
  out.append(b, 4);
}
inline void put_u16(std::string& out, std::uint16_t v) {
  out.push_back(static_cast<char>(v >> 8));
  out.push_back(static_cast<char>(v & 0xff));
}
inline std::uint64_t get_u64(const char* p) {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}
inline std::uint32_t get_u32(const char* p) {
  std::uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}
inline std::uint16_t get_u16(const char* p) {
  return static_cast<std::uint16_t>((static_cast<unsigned char>(p[0]) << 8) | static_cast<unsigned char>(p[1]));
}

// msgs CF: id(8) seq(8), into a caller's buffer (16 bytes: one more than std::string keeps inline,
// so the append path builds its keys on the stack).
inline void msg_key_to(char (&out)[16], std::uint64_t id, std::uint64_t seq) {
  for (int i = 7; i >= 0; --i) {
    out[i] = static_cast<char>(id & 0xff);
    out[8 + i] = static_cast<char>(seq & 0xff);
    id >>= 8;
    seq >>= 8;
  }
}
inline std::string msg_key(std::uint64_t id, std::uint64_t seq) {
  char k[16];
  msg_key_to(k, id, seq);
  return std::string(k, sizeof k);
}
// subj CF: id(8) subject 0x00 end(8) -> start(8), or an empty value when start == end: one entry
// per run of consecutive sequences stored under one subject (docs/storage.md, "Subject index").
inline std::string subj_prefix(std::uint64_t id, std::string_view subject) {
  std::string k;
  k.reserve(8 + subject.size() + 9);
  put_u64(k, id);
  k.append(subject);
  k.push_back('\0');
  return k;
}
inline std::string subj_key(std::uint64_t id, std::string_view subject, std::uint64_t seq) {
  auto k = subj_prefix(id, subject);
  put_u64(k, seq);
  return k;
}
// The exclusive upper bound of a subject's keys: the prefix with its 0x00 terminator made 0x01.
inline std::string subj_prefix_end(std::uint64_t id, std::string_view subject) {
  auto k = subj_prefix(id, subject);
  k.back() = '\x01';
  return k;
}
// The value of the run [start, end]: empty for a run of one sequence (also what format 1 stores
// held for every message, so their entries read as runs of one).
inline std::string subj_run_value(std::uint64_t start, std::uint64_t end) {
  std::string v;
  if (start != end) put_u64(v, start);
  return v;
}
// The start of the run whose key ends in `end` and whose value is `v`.
inline std::uint64_t subj_run_start(std::uint64_t end, std::string_view v) {
  if (v.size() != 8) return end;
  const std::uint64_t start = get_u64(v.data());
  return start <= end ? start : end;
}
// ttl CF: id(8) deadline(8) seq(8)
inline std::string ttl_key(std::uint64_t id, std::int64_t deadline, std::uint64_t seq) {
  std::string k;
  k.reserve(24);
  put_u64(k, id);
  put_u64(k, static_cast<std::uint64_t>(deadline));
  put_u64(k, seq);
  return k;
}
// 8-byte id prefix, and the exclusive upper bound of every key of that id.
inline std::string id_key(std::uint64_t id) {
  std::string k;
  put_u64(k, id);
  return k;
}
// meta CF keys: one tag byte, then fields.
inline std::string meta_key(char tag, std::uint64_t id, std::string_view rest = {}) {
  std::string k(1, tag);
  put_u64(k, id);
  k.append(rest);
  return k;
}

// Message value: ts(8) deadline(8) subject_len(2) hdr_len(4) subject hdr data
inline constexpr std::size_t msg_value_fixed = 22;

struct msg_view {
  std::int64_t ts = 0;
  std::int64_t expires = 0;
  std::string_view subject, hdr, data;
};

// A message value is this fixed part (timestamp, expiry, subject and header lengths, big-endian)
// followed by subject, headers and payload. The append path hands the fixed part to RocksDB with
// the variable parts as a SliceParts, so the payload is copied once, into the write batch.
inline void encode_msg_fixed(char (&out)[msg_value_fixed], std::int64_t ts, std::int64_t expires,
                             std::size_t subject_len, std::size_t hdr_len) {
  auto be = [](char* p, std::uint64_t v, int n) {
    for (int i = n - 1; i >= 0; --i) {
      p[i] = static_cast<char>(v & 0xff);
      v >>= 8;
    }
  };
  be(out, static_cast<std::uint64_t>(ts), 8);
  be(out + 8, static_cast<std::uint64_t>(expires), 8);
  be(out + 16, subject_len, 2);
  be(out + 18, hdr_len, 4);
}


// False when the value is malformed.
inline bool decode_msg(std::string_view v, msg_view& m) {
  if (v.size() < msg_value_fixed) return false;
  m.ts = static_cast<std::int64_t>(get_u64(v.data()));
  m.expires = static_cast<std::int64_t>(get_u64(v.data() + 8));
  const std::size_t sl = get_u16(v.data() + 16);
  const std::size_t hl = get_u32(v.data() + 18);
  if (sl == 0 || v.size() - msg_value_fixed < sl + hl) return false;
  m.subject = v.substr(msg_value_fixed, sl);
  m.hdr = v.substr(msg_value_fixed + sl, hl);
  m.data = v.substr(msg_value_fixed + sl + hl);
  return true;
}

}  // namespace jb::storage::codec
