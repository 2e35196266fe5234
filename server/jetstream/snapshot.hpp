#pragma once
// The state of one stream snapshot being sent and of one restore being received (snapshot.cpp).
//
// Thread affinity: the JetStream strand.
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/steady_timer.hpp>
#include <boost/json/object.hpp>

#include "server/jetstream/jetstream.hpp"
#include "server/jetstream/snapshot_codec.hpp"

namespace jb::jetstream {

struct jetstream::snapshot_session {
  explicit snapshot_session(executor_type& ex) : timer(ex) {}
  std::string id, stream, deliver, ack_prefix;  // ack_prefix: $JS.SNAPSHOT.ACK.<stream>.<id>
  std::shared_ptr<server::subscription> ack_sub;
  boost::asio::steady_timer timer;  // no ack for 5 s: the receiver stalled
  std::size_t chunk_size = 0, max_inflight = 0, inflight = 0, index = 0;
  std::uint64_t next = 0, last = 0;     // messages still to read: [next, last]
  std::vector<std::pair<std::string, std::string>> consumers;  // name, entry (taken at the start)
  std::string entry;                    // msgs/<n> being filled
  std::uint64_t entries = 0, raw_bytes = 0;
  bool produced_all = false;
  std::string error;  // the snapshot cannot go on (the stream was deleted, a read failed)
  snapshot::frame_writer out;
  std::int64_t start_ns = 0;
};

struct jetstream::restore_session {
  explicit restore_session(executor_type& ex) : timer(ex) {}
  ~restore_session() {
    if (tmp) std::fclose(tmp);
  }
  std::string id, stream, subject;
  boost::json::object config;  // the request's, validated
  stream_config cfg;
  std::shared_ptr<server::subscription> sub;
  boost::asio::steady_timer timer;  // no chunk for 5 s: the sender stalled
  std::FILE* tmp = nullptr;         // the chunks received so far (unlinked temporary file)
  std::uint64_t total = 0;
  std::int64_t start_ns = 0;
};

}  // namespace jb::jetstream
