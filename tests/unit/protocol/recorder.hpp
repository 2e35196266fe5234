#pragma once
// A parse_handler that records every operation as a canonical string, for comparisons.
#include <string>
#include <vector>

#include "protocol/parser.hpp"

namespace jb::protocol::test {

struct recorder {
  std::vector<std::string> ops;
  int stop_after = -1;  // stop (return false) after this many operations

  bool rec(std::string s) {
    ops.push_back(std::move(s));
    return stop_after < 0 || static_cast<int>(ops.size()) < stop_after;
  }
  bool on_pub(const pub_op& p) {
    return rec(std::string(p.has_headers ? "HPUB" : "PUB") + "|" + std::string(p.subject) + "|" +
               std::string(p.reply) + "|" + std::string(p.headers) + "|" + std::string(p.payload));
  }
  bool on_sub(const sub_op& s) {
    return rec("SUB|" + std::string(s.subject) + "|" + std::string(s.queue) + "|" + std::string(s.sid));
  }
  bool on_unsub(const unsub_op& u) { return rec("UNSUB|" + std::string(u.sid) + "|" + std::to_string(u.max)); }
  bool on_connect(const connect_op& c) { return rec("CONNECT|" + std::string(c.json)); }
  bool on_ping() { return rec("PING"); }
  bool on_pong() { return rec("PONG"); }
  bool on_info(const info_op& i) { return rec("INFO|" + std::string(i.json)); }
  bool on_ok() { return rec("+OK"); }
  bool on_err(const err_op& e) { return rec("-ERR|" + std::string(e.text)); }
};

// Feeds `input` to the parser the way a connection does: in chunks cut at `cuts`, keeping
// unconsumed bytes in front of the next chunk. Returns the final status.
inline parse_result feed(std::string_view input, const std::vector<std::size_t>& cuts, recorder& r,
                         const parser_limits& lim = {}) {
  std::string buf;
  std::size_t prev = 0;
  parse_result res;
  auto step = [&](std::size_t upto) {
    buf.append(input.substr(prev, upto - prev));
    prev = upto;
    res = parse(buf, r, lim);
    buf.erase(0, res.consumed);
    return res.status == parse_status::ok || res.status == parse_status::need_more;
  };
  for (auto c : cuts)
    if (!step(c)) return res;
  step(input.size());
  if (res.status == parse_status::ok && !buf.empty()) res.status = parse_status::need_more;
  return res;
}

}  // namespace jb::protocol::test
