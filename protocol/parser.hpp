#pragma once
// The NATS client protocol parser: a pure, incremental, zero-copy function over a byte buffer.
//
// Contract (Beast/Dragonfly style): parse() consumes every complete operation at the front of
// `in`, calling the handler once per operation with views into `in`, and returns how many bytes
// it consumed. An operation that is not complete yet (control line without its newline, or a
// payload not fully received) is left unconsumed: the caller keeps those bytes at the front of
// its read buffer, appends the next read and calls parse() again. The read buffer itself is the
// stash for operations that cross a read boundary, so nothing is copied. `need` tells the caller
// how many bytes the pending operation needs in total, so it can grow its buffer once.
//
// Limits are enforced before buffering: a control line longer than max_control_line, or a
// payload larger than max_payload, is an error as soon as its size is known.
//
// No I/O, no allocation, no exceptions. Safe to use from any thread (it holds no state).
#include <algorithm>
#include <charconv>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

#include "protocol/errc.hpp"
#include "protocol/ops.hpp"

namespace jb::protocol {

inline constexpr std::size_t default_max_control_line = 4096;
inline constexpr std::int64_t default_max_payload = 1024 * 1024;

struct parser_limits {
  std::size_t max_control_line = default_max_control_line;
  std::int64_t max_payload = default_max_payload;
};

enum class parse_status {
  ok,         // everything consumed
  need_more,  // a partial operation remains at in[consumed..]
  error,      // protocol violation at in[consumed..]; see error
  stopped,    // the handler asked to stop (it is closing the connection)
};

struct parse_result {
  parse_status status = parse_status::ok;
  std::size_t consumed = 0;
  errc error = errc::ok;
  std::size_t need = 0;  // need_more: total bytes the pending operation occupies, when known
};

// Each callback returns true to continue parsing, false to stop (e.g. the connection closes).
// A handler may also have `void trace_in(std::string_view line)`: it is called with every complete
// operation's control line, as received and without its CRLF, just before the operation's callback
// (protocol tracing, -V); the handler decides whether tracing is on.
template <class H>
concept parse_handler = requires(H& h, const pub_op& p, const sub_op& s, const unsub_op& u,
                                 const connect_op& c, const info_op& i, const err_op& e) {
  { h.on_pub(p) } -> std::same_as<bool>;
  { h.on_sub(s) } -> std::same_as<bool>;
  { h.on_unsub(u) } -> std::same_as<bool>;
  { h.on_connect(c) } -> std::same_as<bool>;
  { h.on_ping() } -> std::same_as<bool>;
  { h.on_pong() } -> std::same_as<bool>;
  { h.on_info(i) } -> std::same_as<bool>;
  { h.on_ok() } -> std::same_as<bool>;
  { h.on_err(e) } -> std::same_as<bool>;
};

namespace detail {

// The longest PING or PONG line (junk after the verb included) buffered before it is an error.
inline constexpr std::size_t max_ping_line = 1u << 20;

inline bool is_sep(char c) noexcept { return c == ' ' || c == '\t'; }

inline char upper(char c) noexcept { return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 32) : c; }

// Case-insensitive: does `line` start with the upper-case `verb`?
inline bool starts_with_verb(std::string_view line, std::string_view verb) noexcept {
  if (line.size() < verb.size()) return false;
  for (std::size_t i = 0; i < verb.size(); ++i)
    if (upper(line[i]) != verb[i]) return false;
  return true;
}

// Splits arguments on runs of spaces/tabs. Returns the count, or max+1 when there are more.
inline std::size_t split_args(std::string_view s, std::string_view* out, std::size_t max) noexcept {
  std::size_t n = 0, i = 0;
  while (i < s.size()) {
    while (i < s.size() && is_sep(s[i])) ++i;
    if (i == s.size()) break;
    std::size_t start = i;
    while (i < s.size() && !is_sep(s[i])) ++i;
    if (n == max) return max + 1;
    out[n++] = s.substr(start, i - start);
  }
  return n;
}

// nats-server's parseSize: 1..9 ASCII digits, else -1.
inline std::int64_t parse_size(std::string_view d) noexcept {
  if (d.empty() || d.size() > 9) return -1;
  std::int64_t n = 0;
  for (char c : d) {
    if (c < '0' || c > '9') return -1;
    n = n * 10 + (c - '0');
  }
  return n;
}

// The optional protocol-trace hook (see parse_handler).
template <class H>
inline void trace_op(H& h, std::string_view line) {
  if constexpr (requires { h.trace_in(line); }) h.trace_in(line);
}

}  // namespace detail

template <parse_handler H>
parse_result parse(std::string_view in, H& h, const parser_limits& lim = {}) noexcept {
  using namespace detail;
  std::size_t pos = 0;
  const std::size_t n = in.size();
  while (pos < n) {
    const char* base = in.data() + pos;
    const std::size_t avail = n - pos;
    // A byte that cannot start any operation is an error right away, as nats-server's byte
    // state machine reports it on the first byte, whatever follows.
    switch (upper(base[0])) {
      case 'P': case 'H': case 'S': case 'U': case 'C': case 'I': case '+': case '-': break;
      default: return {parse_status::error, pos, errc::unknown_operation};
    }
    // nats-server ignores whatever follows PING or PONG up to the newline, however long; here
    // such a line may grow to max_ping_line before it is an error, so the buffer stays bounded.
    // Only looked at once a line is past max_control_line (not on the per-message path).
    auto too_long = [&](std::size_t len) {
      if (len <= lim.max_control_line) return false;
      const bool ping_pong = avail >= 4 && (starts_with_verb(std::string_view(base, 4), "PING") ||
                                            starts_with_verb(std::string_view(base, 4), "PONG"));
      return !ping_pong || len > max_ping_line;
    };
    const void* nlp = std::memchr(base, '\n', avail);
    if (nlp == nullptr) {
      if (too_long(avail)) return {parse_status::error, pos, errc::max_control_line};
      return {parse_status::need_more, pos, errc::ok, 0};
    }
    const std::size_t nl = static_cast<std::size_t>(static_cast<const char*>(nlp) - base);
    std::string_view line(base, nl);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (too_long(line.size())) return {parse_status::error, pos, errc::max_control_line};
    const std::size_t after_line = nl + 1;  // offset from base of the byte after '\n'
    if (line.empty()) return {parse_status::error, pos, errc::unknown_operation};

    const char c0 = upper(line[0]);
    bool go = true;
    std::string_view a[5];
    switch (c0) {
      case 'P': {
        if (line.size() > 3 && starts_with_verb(line, "PUB") && is_sep(line[3])) {
          std::size_t k = split_args(line.substr(4), a, 3);
          pub_op op;
          std::string_view szs;
          if (k == 2) { op.subject = a[0]; szs = a[1]; }
          else if (k == 3) { op.subject = a[0]; op.reply = a[1]; szs = a[2]; }
          else return {parse_status::error, pos, errc::bad_pub_args};
          std::int64_t size = parse_size(szs);
          if (size < 0) return {parse_status::error, pos, errc::bad_size};
          if (lim.max_payload > 0 && size > lim.max_payload)
            return {parse_status::error, pos, errc::max_payload};
          const std::size_t total = after_line + static_cast<std::size_t>(size) + 2;
          if (avail < total) return {parse_status::need_more, pos, errc::ok, total};
          if (base[total - 2] != '\r' || base[total - 1] != '\n')
            return {parse_status::error, pos, errc::unknown_operation};
          op.payload = std::string_view(base + after_line, static_cast<std::size_t>(size));
          trace_op(h, line);
          go = h.on_pub(op);
          pos += total;
        } else if (starts_with_verb(line, "PING")) {
          trace_op(h, line);
          go = h.on_ping();
          pos += after_line;
        } else if (starts_with_verb(line, "PONG")) {
          trace_op(h, line);
          go = h.on_pong();
          pos += after_line;
        } else {
          return {parse_status::error, pos, errc::unknown_operation};
        }
        break;
      }
      case 'H': {
        if (line.size() > 4 && starts_with_verb(line, "HPUB") && is_sep(line[4])) {
          std::size_t k = split_args(line.substr(5), a, 4);
          pub_op op;
          op.has_headers = true;
          std::string_view hs, ts;
          if (k == 3) { op.subject = a[0]; hs = a[1]; ts = a[2]; }
          else if (k == 4) { op.subject = a[0]; op.reply = a[1]; hs = a[2]; ts = a[3]; }
          else return {parse_status::error, pos, errc::bad_hpub_args};
          std::int64_t hsize = parse_size(hs), tsize = parse_size(ts);
          if (hsize < 0 || tsize < 0) return {parse_status::error, pos, errc::bad_size};
          if (hsize > tsize) return {parse_status::error, pos, errc::header_size_too_large};
          if (lim.max_payload > 0 && tsize > lim.max_payload)
            return {parse_status::error, pos, errc::max_payload};
          const std::size_t total = after_line + static_cast<std::size_t>(tsize) + 2;
          if (avail < total) return {parse_status::need_more, pos, errc::ok, total};
          if (base[total - 2] != '\r' || base[total - 1] != '\n')
            return {parse_status::error, pos, errc::unknown_operation};
          op.headers = std::string_view(base + after_line, static_cast<std::size_t>(hsize));
          op.payload = std::string_view(base + after_line + hsize, static_cast<std::size_t>(tsize - hsize));
          trace_op(h, line);
          go = h.on_pub(op);
          pos += total;
        } else {
          return {parse_status::error, pos, errc::unknown_operation};
        }
        break;
      }
      case 'S': {
        if (line.size() > 3 && starts_with_verb(line, "SUB") && is_sep(line[3])) {
          std::size_t k = split_args(line.substr(4), a, 3);
          sub_op op;
          if (k == 2) { op.subject = a[0]; op.sid = a[1]; }
          else if (k == 3) { op.subject = a[0]; op.queue = a[1]; op.sid = a[2]; }
          else return {parse_status::error, pos, errc::bad_sub_args};
          trace_op(h, line);
          go = h.on_sub(op);
          pos += after_line;
        } else {
          return {parse_status::error, pos, errc::unknown_operation};
        }
        break;
      }
      case 'U': {
        if (line.size() > 5 && starts_with_verb(line, "UNSUB") && is_sep(line[5])) {
          std::size_t k = split_args(line.substr(6), a, 2);
          unsub_op op;
          if (k == 1) { op.sid = a[0]; }
          else if (k == 2) {
            op.sid = a[0];
            // nats-server reads the max with parseSize: anything but 1-9 digits is -1, which
            // unsubscribes now (as 0 or a negative number does).
            const std::int64_t m = parse_size(a[1]);
            op.max = m > 0 ? static_cast<std::uint64_t>(m) : 0;
          } else return {parse_status::error, pos, errc::bad_unsub_args};
          trace_op(h, line);
          go = h.on_unsub(op);
          pos += after_line;
        } else {
          return {parse_status::error, pos, errc::unknown_operation};
        }
        break;
      }
      case 'C': {
        if (starts_with_verb(line, "CONNECT")) {
          std::string_view rest = line.substr(7);
          std::size_t i = 0;
          while (i < rest.size() && is_sep(rest[i])) ++i;
          // No argument: an empty CONNECT body, which the handler refuses as nats-server does
          // (a JSON error: the connection closes without an -ERR).
          trace_op(h, line);
          go = h.on_connect(connect_op{rest.substr(i)});
          pos += after_line;
        } else {
          return {parse_status::error, pos, errc::unknown_operation};
        }
        break;
      }
      case 'I': {
        if (starts_with_verb(line, "INFO")) {
          std::string_view rest = line.substr(4);
          std::size_t i = 0;
          while (i < rest.size() && is_sep(rest[i])) ++i;
          trace_op(h, line);
          go = h.on_info(info_op{rest.substr(i)});
          pos += after_line;
        } else {
          return {parse_status::error, pos, errc::unknown_operation};
        }
        break;
      }
      case '+': {
        if (starts_with_verb(line, "+OK")) {
          trace_op(h, line);
          go = h.on_ok();
          pos += after_line;
        } else {
          return {parse_status::error, pos, errc::unknown_operation};
        }
        break;
      }
      case '-': {
        if (line.size() > 4 && starts_with_verb(line, "-ERR") && is_sep(line[4])) {
          std::string_view rest = line.substr(5);
          std::size_t i = 0;
          while (i < rest.size() && is_sep(rest[i])) ++i;
          trace_op(h, line);
          go = h.on_err(err_op{rest.substr(i)});
          pos += after_line;
        } else {
          return {parse_status::error, pos, errc::unknown_operation};
        }
        break;
      }
      default:
        return {parse_status::error, pos, errc::unknown_operation};
    }
    if (!go) return {parse_status::stopped, pos, errc::ok};
  }
  return {parse_status::ok, pos, errc::ok};
}

}  // namespace jb::protocol
