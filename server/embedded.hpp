#pragma once
// Embedding API: run a jetbroker server inside another process (test fixtures), on its own
// threads, with the same options as the daemon. Port -1 picks a free port.
//
//   jb::server::embedded_server s({.port = -1, .jetstream = true, .store_in_memory = true});
//   int port = s.port();          // ready: clients can connect
//   ...
//   s.stop();                     // or let the destructor do it
//
// Thread-safety: construct, port() and stop() from one thread.
#include <memory>
#include <thread>

#include "config/options.hpp"

namespace jb::server {

class server;

class embedded_server {
 public:
  // Starts the server and returns once it accepts connections. Throws std::runtime_error when it
  // cannot start (port in use, bad store directory).
  explicit embedded_server(config::options opts);
  ~embedded_server();
  embedded_server(const embedded_server&) = delete;
  embedded_server& operator=(const embedded_server&) = delete;

  [[nodiscard]] int port() const noexcept;
  [[nodiscard]] int http_port() const noexcept;
  [[nodiscard]] server& get() noexcept { return *srv_; }
  // Graceful shutdown; waits for the server's threads. Idempotent.
  void stop();

 private:
  std::unique_ptr<server> srv_;
  std::thread runner_;
};

}  // namespace jb::server
