#pragma once
// Server options: a plain struct with nats-server's defaults. Filled from the command line
// (cli.hpp) and, later, from a config file; read-only once the server starts.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace jb::config {

struct options {
  // Client listener.
  std::string host = "0.0.0.0";
  int port = 4222;  // -1: pick a free port
  std::string server_name;  // empty: the server id
  // Monitoring (0: off, -1: pick a free port).
  std::string http_host;  // empty: same as host
  int http_port = 0;

  // Limits.
  std::int64_t max_payload = 1024 * 1024;
  std::size_t max_control_line = 4096;
  std::int64_t max_pending = 64 * 1024 * 1024;  // per-client outbound bytes before slow consumer
  int max_connections = 64 * 1024;
  std::chrono::milliseconds ping_interval{std::chrono::minutes(2)};
  int max_pings_out = 2;
  std::chrono::milliseconds write_deadline{std::chrono::seconds(10)};
  std::chrono::milliseconds auth_timeout{std::chrono::seconds(2)};

  // Authentication (single user or token).
  std::string user;
  std::string password;
  std::string auth_token;
  [[nodiscard]] bool auth_required() const { return !user.empty() || !auth_token.empty(); }

  // JetStream.
  bool jetstream = false;
  std::string store_dir;  // empty: a temporary-directory default, as nats-server
  bool store_in_memory = false;  // --store_dir=:memory: no disk at all

  // Logging.
  bool debug = false;
  bool trace = false;
  bool logtime = true;
  bool logtime_utc = false;
  std::string log_file;
  std::string pid_file;
  std::string ports_file_dir;

  std::string config_file;
  int worker_threads = 0;  // 0: one per core
};

}  // namespace jb::config
