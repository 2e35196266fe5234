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
#include <map>
#include <mutex>
#include <optional>
#include <utility>
#include <string>
#include <vector>

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
  bool subscriptions_detail = false;  // subs=detail: subscriptions_list_detail
  std::string sort;                   // "", cid, start, subs, pending, msgs_to, ... (nats SortOpt)
  enum class state_filter { open, closed, any } state = state_filter::open;
  bool auth = false;
  std::uint64_t cid = 0;  // only this connection (the limit becomes 1)
  std::string account;    // only this account's connections
  std::string user;       // only this user's connections
};

// SubszOptions: `subs` lists the subscriptions (SubDetail), `test` keeps those a message on that
// literal subject would reach, `acc` one account's; `offset`/`limit` page the list.
struct subsz_options {
  bool subscriptions = false;
  std::size_t offset = 0, limit = 1024;
  std::string test, account;
};

// HealthzOptions (`js-enabled-only` / `js_enabled_only` ...; `account`, `stream`, `consumer`
// name JetStream assets that must exist; `details` answers with an `errors` list).
struct healthz_options {
  bool js_enabled_only = false;
  bool js_server_only = false;
  bool details = false;
  std::string account, stream, consumer;
  // Looked up on the JetStream strand by the caller (exact); otherwise the usage snapshot, which
  // lists streams and consumers at most 100 ms late, is used.
  std::optional<std::pair<bool, bool>> found;  // stream, consumer
};

class endpoints {
 public:
  explicit endpoints(server& srv);

  [[nodiscard]] boost::json::object varz();
  // An invalid combination (unknown sort, sort by stop or reason without state=closed) sets
  // `*error` to nats-server's text (an HTTP 400) when `error` is given.
  [[nodiscard]] boost::json::object connz(const connz_options& o, std::string* error = nullptr);
  // An invalid `test` subject sets `*error` (nats-server's text, an HTTP 400) when given.
  [[nodiscard]] boost::json::object subsz(const subsz_options& o = {}, std::string* error = nullptr);
  // `account_detail` (from jetstream::account_detail on its strand) is added as the one entry of
  // account_details when given; `limit` and `offset` page that list as nats-server's.
  [[nodiscard]] boost::json::object jsz(const boost::json::object* account_detail = nullptr, std::int64_t offset = 0);
  // {"status":"ok","status_code":200}, or nats-server's failures: 400 for a stream without an
  // account (or a consumer without a stream), 404 "unavailable" for a JetStream account, stream
  // or consumer that does not exist, with "error" (or, with `details`, an "errors" list). The
  // HTTP handler sends status_code as the HTTP status and leaves it out of the body.
  [[nodiscard]] boost::json::object healthz(const healthz_options& o);
  // {"server_id","now","system_account","accounts":[sorted names]}.
  [[nodiscard]] boost::json::object accountz();
  // nats ServerStats: the "statsz" of $SYS.REQ.SERVER.PING.
  [[nodiscard]] boost::json::object statsz();
  // One account's AccountStatz entry ({"acc","name","conns",...}); `include_unused` false and no
  // connection: an empty object.
  [[nodiscard]] boost::json::object account_statz(const std::string& account, bool include_unused);
  // A single server's /routez, /gatewayz and /leafz: no routes, gateways or leaf nodes.
  [[nodiscard]] boost::json::object routez();
  [[nodiscard]] boost::json::object gatewayz();
  [[nodiscard]] boost::json::object leafz();
  // AccountStatz of the named accounts (all when empty); unused accounts only when asked.
  [[nodiscard]] boost::json::object accstatz(std::vector<std::string> names, bool include_unused);
  // Prometheus text exposition.
  [[nodiscard]] std::string metrics();
  // The HTTP monitor counts the requests it answers per path (varz's http_req_stats).
  void count_request(std::string_view path);

 private:
  double cpu_percent();
  // varz().jetstream / statsz().jetstream: {"config","stats","limits"}.
  boost::json::object jetstream_varz(bool with_store_dir);

  server& srv_;
  std::mutex cpu_mu_;
  std::chrono::steady_clock::time_point last_cpu_at_;  // guarded by cpu_mu_
  double last_cpu_ = 0;                                 // guarded by cpu_mu_
  double cpu_pct_ = 0;                                  // guarded by cpu_mu_
  std::mutex req_mu_;
  std::map<std::string, std::uint64_t, std::less<>> req_stats_;  // guarded by req_mu_
};

}  // namespace jb::server::monitor
