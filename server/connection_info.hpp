#pragma once
// What the monitoring endpoints show of a client connection: a copy taken under the connection's
// locks (client_connection::snapshot), and the record kept of a closed one.
//
// Thread affinity: none (plain values).
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace jb::server {

struct connection_snapshot {
  std::uint64_t cid = 0;
  std::string ip;
  int port = 0;
  std::string name, lang, version;
  std::chrono::system_clock::time_point start;
  std::chrono::system_clock::time_point last_activity;
  std::string tls_version, tls_cipher;  // TLS connections only
  bool websocket = false;
  std::uint64_t in_msgs = 0, in_bytes = 0, out_msgs = 0, out_bytes = 0;
  std::size_t subscriptions = 0;
  std::size_t pending_bytes = 0;
  std::int64_t rtt_ns = 0;
  struct sub_info {
    std::string subject, queue, sid;
    std::uint64_t msgs = 0, max = 0;
  };
  std::vector<sub_info> subs;  // snapshot(true) only
  std::string user;     // authorized user (empty: none, or a token); an nkey user's public key
  bool nkey_user = false;
  std::string account;  // the client's account
};

// A closed connection as /connz?state=closed shows it (nats-server keeps the last 10,000).
struct closed_connection {
  connection_snapshot conn;
  std::chrono::system_clock::time_point stop;
  std::string reason;
};

}  // namespace jb::server
