#pragma once
// Client operations as the parser hands them to its handler: views into the read buffer,
// valid only for the duration of the callback.
#include <cstdint>
#include <string_view>

namespace jb::protocol {

struct pub_op {
  std::string_view subject;
  std::string_view reply;    // empty: no reply subject
  std::string_view headers;  // HPUB: the header block (NATS/1.0 ... \r\n\r\n); PUB: empty
  std::string_view payload;  // the payload without headers
  bool has_headers = false;  // HPUB (even with an empty header block)
};

struct sub_op {
  std::string_view subject;
  std::string_view queue;  // empty: no queue group
  std::string_view sid;
};

struct unsub_op {
  std::string_view sid;
  std::uint64_t max = 0;  // 0: remove now
};

struct connect_op {
  std::string_view json;
};

struct info_op {
  std::string_view json;
};

struct err_op {
  std::string_view text;
};

}  // namespace jb::protocol
