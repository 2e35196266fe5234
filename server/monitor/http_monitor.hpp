#pragma once
// HTTP monitoring endpoint (Boost.Beast): /varz, /connz, /subsz, /jsz, /healthz, /accountz and
// /metrics, as nats-server serves them on -m/--http_port. The documents come from
// monitor::endpoints (shared with the $SYS.REQ.SERVER.* services); this file maps URLs and query
// parameters onto them. Runs on the server's io_context; each HTTP connection is a coroutine on
// its own strand. Responses are JSON with Access-Control-Allow-Origin: *.
#include <memory>

#include <boost/asio/ip/tcp.hpp>

namespace jb::server {

class server;

class http_monitor {
 public:
  explicit http_monitor(server& srv);
  ~http_monitor();
  // Binds and starts accepting; returns the bound port. Throws std::runtime_error on failure.
  int listen(const boost::asio::ip::tcp::endpoint& ep);
  void stop();

 private:
  struct impl;
  std::shared_ptr<impl> impl_;
};

}  // namespace jb::server
