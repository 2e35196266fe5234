#pragma once
// Encoders for server-to-client operations (MSG, HMSG, PING, PONG, +OK, -ERR, INFO).
// They append to any contiguous byte container with append/size (std::string, buffers).
// Pure: no I/O, no state.
#include <charconv>
#include <cstdint>
#include <string>
#include <string_view>

namespace jb::protocol {

inline constexpr std::string_view crlf = "\r\n";
inline constexpr std::string_view ping_line = "PING\r\n";
inline constexpr std::string_view pong_line = "PONG\r\n";
inline constexpr std::string_view ok_line = "+OK\r\n";

template <class Buf>
inline void append_uint(Buf& out, std::uint64_t v) {
  char tmp[24];
  auto [p, ec] = std::to_chars(tmp, tmp + sizeof tmp, v);
  out.append(tmp, static_cast<std::size_t>(p - tmp));
}

// MSG <subject> <sid> [reply] <size>\r\n  (payload and trailing \r\n appended by the caller)
template <class Buf>
inline void append_msg_line(Buf& out, std::string_view subject, std::string_view sid,
                            std::string_view reply, std::size_t size) {
  out.append("MSG ", 4);
  out.append(subject.data(), subject.size());
  out.append(" ", 1);
  out.append(sid.data(), sid.size());
  out.append(" ", 1);
  if (!reply.empty()) {
    out.append(reply.data(), reply.size());
    out.append(" ", 1);
  }
  append_uint(out, size);
  out.append("\r\n", 2);
}

// HMSG <subject> <sid> [reply] <hdr size> <total size>\r\n
template <class Buf>
inline void append_hmsg_line(Buf& out, std::string_view subject, std::string_view sid,
                             std::string_view reply, std::size_t hdr_size, std::size_t total) {
  out.append("HMSG ", 5);
  out.append(subject.data(), subject.size());
  out.append(" ", 1);
  out.append(sid.data(), sid.size());
  out.append(" ", 1);
  if (!reply.empty()) {
    out.append(reply.data(), reply.size());
    out.append(" ", 1);
  }
  append_uint(out, hdr_size);
  out.append(" ", 1);
  append_uint(out, total);
  out.append("\r\n", 2);
}

// A complete delivery: MSG or HMSG line, header block, payload, \r\n.
// With headers but a client that did not negotiate them, the header block is dropped.
template <class Buf>
inline void append_delivery(Buf& out, std::string_view subject, std::string_view sid,
                            std::string_view reply, std::string_view headers,
                            std::string_view payload, bool client_headers) {
  if (!headers.empty() && client_headers) {
    append_hmsg_line(out, subject, sid, reply, headers.size(), headers.size() + payload.size());
    out.append(headers.data(), headers.size());
  } else {
    append_msg_line(out, subject, sid, reply, payload.size());
  }
  out.append(payload.data(), payload.size());
  out.append("\r\n", 2);
}

// -ERR '<text>'\r\n
inline std::string err_line(std::string_view text) {
  std::string s;
  s.reserve(text.size() + 10);
  s.append("-ERR '").append(text).append("'\r\n");
  return s;
}

// nats-server writes a space between the JSON and CRLF ("INFO {...} \r\n"), first INFO and async
// ones alike.
inline std::string info_line(std::string_view json) {
  std::string s;
  s.reserve(json.size() + 9);
  s.append("INFO ").append(json).append(" \r\n");
  return s;
}

}  // namespace jb::protocol
