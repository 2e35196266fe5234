#pragma once
// The monitoring documents nats-server serves, built once for both ways of asking: the HTTP
// monitor (/varz, /connz, ... on -m) and the system account's $SYS.REQ.SERVER.* requests (see
// server/system_account.hpp). Field names, nesting and order follow nats-server's JSON, since
// tools (nats CLI, nats-top, Prometheus exporters, Surveyor) read them by name.
//
// Thread-safety: any thread. The only state is the CPU sampler, behind its own mutex (a leaf
// lock); everything else is read from the server's thread-safe accessors.
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>

#include <boost/json/object.hpp>

namespace jb::server {
class server;
}

namespace jb::server::monitor {

// ConnzOptions: query parameters on HTTP (`offset`, `limit`, `subs`, `auth`, `cid`, `acc`,
// `user`), JSON fields in $SYS requests (`offset`, `limit`, `subscriptions`, `auth`, `cid`,
// `acc`, `user`).
struct connz_options {
  std::size_t offset = 0;
  std::size_t limit = 1024;  // nats DefaultConnListSize; 0 or less in a request means this
  bool subscriptions = false;
  bool auth = false;
  std::uint64_t cid = 0;  // only this connection (the limit becomes 1)
  std::string account;    // only this account's connections
  std::string user;       // only this user's connections
};

// HealthzOptions (`js-enabled-only` / `js_enabled_only` ...).
struct healthz_options {
  bool js_enabled_only = false;
};

class endpoints {
 public:
  explicit endpoints(server& srv);

  [[nodiscard]] boost::json::object varz();
  [[nodiscard]] boost::json::object connz(const connz_options& o);
  [[nodiscard]] boost::json::object subsz();
  [[nodiscard]] boost::json::object jsz();
  // {"status":"ok","status_code":200}, or status "unavailable" with status_code 503 and
  // "error". The HTTP handler sends status_code as the HTTP status and leaves it out of the body.
  [[nodiscard]] boost::json::object healthz(const healthz_options& o);
  // {"server_id","now","system_account","accounts":[sorted names]}.
  [[nodiscard]] boost::json::object accountz();
  // nats ServerStats: the "statsz" of $SYS.REQ.SERVER.PING.
  [[nodiscard]] boost::json::object statsz();
  // One account's AccountStatz entry ({"acc","name","conns",...}); `include_unused` false and no
  // connection: an empty object.
  [[nodiscard]] boost::json::object account_statz(const std::string& account, bool include_unused);
  // Prometheus text exposition.
  [[nodiscard]] std::string metrics();

 private:
  double cpu_percent();
  // varz().jetstream / statsz().jetstream: {"config","stats","limits"}.
  boost::json::object jetstream_varz(bool with_store_dir);

  server& srv_;
  std::mutex cpu_mu_;
  std::chrono::steady_clock::time_point last_cpu_at_;  // guarded by cpu_mu_
  double last_cpu_ = 0;                                 // guarded by cpu_mu_
  double cpu_pct_ = 0;                                  // guarded by cpu_mu_
};

}  // namespace jb::server::monitor
