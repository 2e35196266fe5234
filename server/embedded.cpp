#include "server/embedded.hpp"

#include "server/server.hpp"

namespace jb::server {

embedded_server::embedded_server(config::options opts) : srv_(std::make_unique<server>(std::move(opts))) {
  srv_->start();  // binds and logs "Server is ready"; connections queue until run() starts
  runner_ = std::thread([s = srv_.get()] { s->run(); });
}

embedded_server::~embedded_server() { stop(); }

int embedded_server::port() const noexcept { return srv_->port(); }
int embedded_server::http_port() const noexcept { return srv_->http_port(); }

void embedded_server::stop() {
  if (!runner_.joinable()) return;
  srv_->shutdown();
  runner_.join();
}

}  // namespace jb::server
