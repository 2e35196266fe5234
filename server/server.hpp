#pragma once
// The broker: owns the io_context and its threads, the client listener, the subscription
// index, the registry of connections, the monitoring endpoint and (with -js) JetStream.
//
// Thread affinity: constructed and started on the main thread; after run() starts, all work
// happens on the io_context's threads. Member functions marked "any thread" are thread-safe.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/v6_only.hpp>

#include "config/options.hpp"
#include "server/account.hpp"
#include "server/auth.hpp"
#include "server/connection_info.hpp"
#include "server/sublist.hpp"

namespace boost::asio::ssl {
class context;
}

namespace jb::jetstream {
class jetstream;
}

namespace jb::server {

class client_connection;
class http_monitor;
class system_services;
namespace monitor {
class endpoints;
}
class transport;
class websocket_listener;

// Compatibility level we report to clients in INFO `version` (nats-server release whose
// client-visible behaviour jetbroker implements). Our own version is jb::jetbroker_version.
inline constexpr const char* nats_compat_version = "2.12.0";

struct server_counters {
  std::atomic<std::uint64_t> in_msgs{0}, in_bytes{0}, out_msgs{0}, out_bytes{0};
  std::atomic<std::uint64_t> slow_consumers{0}, total_connections{0}, stale_connections{0};
};

// Go's text for a system error, as nats-server prints it: strerror's with a lower-case first
// letter ("address already in use").
[[nodiscard]] std::string go_error_text(const boost::system::error_code& ec);
// `websocket {}` with a port: the WebSocket listener runs (nats-server ignores a block without one).
[[nodiscard]] bool websocket_enabled(const config::options& o) noexcept;
// The first reason nats-server refuses the websocket options ("websocket requires TLS
// configuration", a bad allowed origin, a bad tls {} file); nullopt when fine.
[[nodiscard]] std::optional<std::string> check_websocket_options(const config::options& o);

class server {
 public:
  // Throws std::runtime_error with nats-server's text when accounts do not fit together (an
  // import of something the exporter does not export to the importer, an unknown account).
  explicit server(config::options opts);
  ~server();
  server(const server&) = delete;
  server& operator=(const server&) = delete;

  // Binds the listeners and logs the start-up banner. Throws std::runtime_error with a
  // nats-server-style message when a port cannot be bound.
  void start();
  // Runs the io_context on the worker threads until shutdown() completes. Blocks.
  void run();
  // Graceful stop: stop accepting, flush and close clients, stop the threads. Any thread.
  void shutdown();
  // A fatal error after start-up (a new store's database could not be opened): logged as a fatal
  // line, then shutdown(); failed() tells main to exit with status 1. Any thread.
  void fail(const std::string& msg);
  [[nodiscard]] bool failed() const noexcept { return failed_.load(); }
  // Lame-duck mode (SIGUSR2): stop accepting, tell clients (INFO with "ldm": true), then close
  // them spread over lame_duck_duration after lame_duck_grace_period, then shut down. Any thread.
  void enter_lame_duck();

  [[nodiscard]] int port() const noexcept { return port_; }
  [[nodiscard]] int http_port() const noexcept { return http_port_; }
  [[nodiscard]] const config::options& opts() const noexcept { return opts_; }
  [[nodiscard]] const std::string& id() const noexcept { return id_; }
  [[nodiscard]] const std::string& name() const noexcept { return name_; }
  // The global account's index ($G: clients without an account, JetStream).
  [[nodiscard]] sublist& subs() noexcept { return global_->subs(); }
  [[nodiscard]] account& global_account() noexcept { return *global_; }
  // The account JetStream serves (jetbroker runs one JetStream): $G, or with accounts
  // configured the first one with `jetstream: enabled`.
  [[nodiscard]] account& js_account() noexcept { return *js_account_; }
  // An account by name; "" and "$G" are the global account. Null when unknown.
  [[nodiscard]] account* find_account(std::string_view name) noexcept;
  // Every account's name, sorted ($G and the system account included).
  [[nodiscard]] std::vector<std::string> account_names() const;
  // The system account (`system_account`, else `$SYS`); null with `no_system_account`.
  [[nodiscard]] account* system_account() noexcept { return system_; }
  // The monitoring documents (/varz, /connz ... and their $SYS.REQ.SERVER.* twins).
  [[nodiscard]] monitor::endpoints& monitoring() noexcept { return *endpoints_; }
  [[nodiscard]] const authenticator& auth() const noexcept { return *auth_; }
  // Subscriptions in all accounts.
  [[nodiscard]] std::size_t num_subscriptions() const;
  [[nodiscard]] server_counters& counters() noexcept { return counters_; }
  [[nodiscard]] std::chrono::system_clock::time_point start_time() const noexcept { return start_time_; }
  [[nodiscard]] boost::asio::io_context& io() noexcept { return io_; }
  // TLS for client connections (`tls {}` / --tls): null when the client port is plaintext.
  [[nodiscard]] boost::asio::ssl::context* tls_context() const noexcept { return tls_ctx_.get(); }

  // Registers a new client on its stream (a WebSocket after its upgrade, a TCP socket) and
  // starts it. Any thread; the stream is closed instead when the server is stopping.
  void add_client(transport t);
  // The INFO of a WebSocket client: host and port are the WebSocket listener's.
  [[nodiscard]] std::string ws_info_json(std::uint64_t cid, const std::string& client_ip, bool connect_info = false,
                                         std::string_view account = global_account_name,
                                         std::string_view nonce = {}) const;
  [[nodiscard]] int websocket_port() const noexcept;

  // Connection registry (any thread).
  void remove_client(std::uint64_t cid);
  // The last max_closed closed connections, oldest first (/connz?state=closed). Any thread.
  void record_closed(closed_connection c);
  [[nodiscard]] std::vector<closed_connection> closed_connections() const;
  static constexpr std::size_t max_closed = 10000;  // nats-server's default MaxClosedClients
  [[nodiscard]] std::vector<std::shared_ptr<client_connection>> clients() const;
  [[nodiscard]] std::size_t num_clients() const;
  // Connections whose object still exists (closing ones included): shutdown waits for zero.
  // Called by client_connection's constructor and destructor (any thread).
  void connection_opened() noexcept { live_connections_.fetch_add(1); }
  void connection_gone();

  // JetStream, when enabled (null otherwise).
  [[nodiscard]] jetstream::jetstream* js() noexcept { return js_.get(); }

  // INFO JSON for one connection.
  // connect_info: the async INFO sent after the first PONG.
  // account: the client's account, named in the connect_info INFO (remote_account).
  // nonce: the connection's nkey challenge (first INFO only, when nkey users exist).
  [[nodiscard]] std::string info_json(std::uint64_t cid, const std::string& client_ip, bool connect_info = false,
                                      bool ldm = false, std::string_view account = global_account_name,
                                      std::string_view nonce = {}) const;

 private:
  void setup_accounts();
  // Opens, binds and listens on the client port; the fatal error's text when that fails.
  std::optional<std::string> open_client_port();
  void do_accept();
  void wait_for_drain(int tries_left);
  void close_lame_duck_batch(std::shared_ptr<std::vector<std::shared_ptr<client_connection>>> rest,
                             std::size_t per_step, std::chrono::milliseconds step);
  std::atomic<bool> lame_duck_{false};

  config::options opts_;
  std::string id_, name_;
  boost::asio::io_context io_;
  boost::asio::ip::tcp::acceptor acceptor_;
  int port_ = 0;
  std::optional<std::string> listen_error_;  // open_client_port's, reported by start()
  int http_port_ = 0;
  std::unordered_map<std::string, std::unique_ptr<account>> accounts_;  // fixed after construction
  account* global_ = nullptr;
  account* js_account_ = nullptr;
  account* system_ = nullptr;
  std::unique_ptr<authenticator> auth_;
  server_counters counters_;
  std::chrono::system_clock::time_point start_time_;
  std::atomic<std::uint64_t> next_cid_{0};
  std::atomic<bool> shutting_down_{false};
  std::atomic<bool> failed_{false};
  std::atomic<std::int64_t> live_connections_{0};
  std::atomic<bool> draining_{false};  // shutdown waits for live_connections_ to reach zero

  mutable std::mutex clients_mu_;
  mutable std::mutex closed_mu_;
  std::deque<closed_connection> closed_;  // guarded by closed_mu_
  std::unordered_map<std::uint64_t, std::shared_ptr<client_connection>> clients_;

  std::unique_ptr<boost::asio::ssl::context> tls_ctx_;
  std::unique_ptr<boost::asio::ssl::context> ws_tls_ctx_;
  std::unique_ptr<monitor::endpoints> endpoints_;
  std::unique_ptr<http_monitor> monitor_;
  std::unique_ptr<system_services> sys_services_;
  std::unique_ptr<websocket_listener> websocket_;
  std::unique_ptr<jetstream::jetstream> js_;
  std::vector<std::thread> threads_;
};

}  // namespace jb::server
