#pragma once
// The system account's request services: what nats-server answers on $SYS.REQ.* (events.go), so
// that `nats server list|ping|info|report`, `nats top`, `nats account info`, Surveyor and NUI work.
//
//   in the system account
//     $SYS.REQ.SERVER.PING                 statsz, {"server":{...},"statsz":{...}}
//     $SYS.REQ.SERVER.PING.<ENDPOINT>      {"server":{...},"data":{...}} or "error":{code,description}
//     $SYS.REQ.SERVER.<server id>.<ENDPOINT>
//         ENDPOINT: VARZ CONNZ SUBSZ ROUTEZ GATEWAYZ LEAFZ ACCOUNTZ JSZ HEALTHZ STATSZ IPQUEUESZ
//                   RAFTZ PROFILEZ EXPVARZ, and IDZ (a bare {"name","host","id"})
//     $SYS.REQ.ACCOUNT.<account>.CONNZ|STATZ
//     $SYS.REQ.ACCOUNT.PING.STATZ           every account's statz
//   in every account (nats-server imports these from the system account into each one)
//     $SYS.REQ.USER.INFO                   who the requester is: user, account, permissions
//     $SYS.REQ.ACCOUNT.PING.CONNZ|STATZ    the requester's account only
//     $SYS.REQ.SERVER.PING.CONNZ           the same connz (with the server filter)
//
// Request bodies are the endpoint's options as JSON (the HTTP query's options under their JSON
// names) plus nats-server's server filter (`server_name`, `host`, `cluster`, `tags`, `domain`):
// a server that does not match stays silent. An endpoint nobody implements is not subscribed,
// so the requester gets no-responders, as from nats-server. Accounts other than the system
// account see none of the other SERVER subjects.
//
// Thread-safety: the handlers are router subscribers, called on the publisher's thread; they
// copy the request and answer it on the services' own strand (the monitoring documents are
// built there, never on a client's strand), one at a time in arrival order, as nats-server's
// single internal receive queue does: a client's requests are answered in the order it sent
// them, with increasing `seq`. Replies are routed into the account the request came from.
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>
#include <boost/json/object.hpp>

#include "server/subscription.hpp"

namespace jb::server {

class account;
class server;

// The user name of the client whose message is being routed on this thread (null: an internal
// publisher). Set by client_connection around routing; read by $SYS.REQ.USER.INFO.
void set_publisher_user(const std::string* user) noexcept;
[[nodiscard]] const std::string* publisher_user() noexcept;

class system_services {
 public:
  // `sys` is the system account; the services subscribe in it and in every account of `srv`.
  system_services(server& srv, account& sys);
  ~system_services();
  system_services(const system_services&) = delete;
  system_services& operator=(const system_services&) = delete;

  // Subscribes the handlers (before clients connect).
  void start();

  // The envelope's "server" object (nats ServerInfo) with the next sequence number and the
  // current time. Any thread.
  [[nodiscard]] boost::json::object server_info();

  // Sends `payload` to `reply` in `acc` as an internal message. Any thread.
  void send(account& acc, const std::string& reply, const std::string& payload);

  [[nodiscard]] server& srv() noexcept { return srv_; }
  using executor_type = boost::asio::strand<boost::asio::io_context::executor_type>;
  [[nodiscard]] executor_type& executor() noexcept { return strand_; }
  [[nodiscard]] account& sys() noexcept { return sys_; }

 private:
  void subscribe(account& acc, const std::string& subject, std::shared_ptr<subscriber> handler);

  server& srv_;
  account& sys_;
  executor_type strand_;
  std::atomic<std::uint64_t> seq_{0};
  std::vector<std::pair<account*, std::shared_ptr<subscription>>> subs_;
};

}  // namespace jb::server
