#include "server/server.hpp"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <random>
#include <stdexcept>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/json.hpp>

#include "server/client_connection.hpp"
#include "server/jetstream/jetstream.hpp"
#include "protocol/subject.hpp"
#include "protocol/writer.hpp"
#include "server/log.hpp"
#include "server/monitor/endpoints.hpp"
#include "server/monitor/http_monitor.hpp"
#include "server/system_account.hpp"
#include "server/tls.hpp"
#include "server/websocket_listener.hpp"
#include "version.hpp"
#include "server/random_seed.hpp"

namespace jb::server {

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

// A server id shaped like nats-server's (a public nkey: 'N' and 55 base32 characters).
std::string make_server_id() {
  static constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  std::mt19937_64 gen(jb::server::random_seed());
  std::string id = "N";
  for (int i = 0; i < 55; ++i) id += alphabet[gen() % 32];
  return id;
}

// An address literal, or a host name resolved as Go's net.Listen resolves it (its first IPv4
// address, else its first address). Throws with Go's error text.
tcp::endpoint make_endpoint(const std::string& host, int port) {
  const auto p = static_cast<unsigned short>(port < 0 ? 0 : port);
  boost::system::error_code ec;
  auto addr = asio::ip::make_address(host == "localhost" ? "127.0.0.1" : host, ec);
  if (!ec) return tcp::endpoint(addr, p);
  asio::io_context ctx;
  tcp::resolver resolver(ctx);
  auto results = resolver.resolve(host, "", ec);
  if (ec || results.empty()) throw std::runtime_error("listen tcp: lookup " + host + ": no such host");
  for (const auto& r : results)
    if (r.endpoint().address().is_v4()) return tcp::endpoint(r.endpoint().address(), p);
  return tcp::endpoint(results.begin()->endpoint().address(), p);
}

std::string host_port(const std::string& host, int port) {
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

}  // namespace

std::string go_error_text(const boost::system::error_code& ec) {
  std::string m = ec.message();
  if (!m.empty()) m[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(m[0])));
  return m;
}

bool websocket_enabled(const config::options& o) noexcept { return o.websocket.configured && o.websocket.port != 0; }

std::optional<std::string> check_websocket_options(const config::options& o) {
  if (!websocket_enabled(o)) return std::nullopt;
  const auto& ws = o.websocket;
  if (!ws.tls && !ws.no_tls) return "websocket requires TLS configuration";
  try {
    (void)ws_origin_policy::from(ws);
  } catch (const std::exception& e) {
    return std::string(e.what());
  }
  if (ws.tls) return check_tls_options(*ws.tls);
  return std::nullopt;
}

server::server(config::options opts)
    : opts_(std::move(opts)),
      id_(make_server_id()),
      io_(opts_.worker_threads > 0 ? opts_.worker_threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()))),
      acceptor_(io_) {
  // The client port listens from here on, though nothing is accepted before run(): a client that
  // polls the port (a test harness waiting for the server) connects while the rest of start-up
  // runs, and its INFO goes out as soon as the io_context runs. Not when a file store is opened
  // first: its recovery can take seconds, during which clients should be refused, not kept
  // waiting for INFO. Errors are reported where start() would have bound the port.
  // Also not when another listener asks for the same port: nats-server binds those first, so the
  // client port is the one that fails.
  const bool shared_port = opts_.port > 0 && (opts_.port == opts_.http_port || opts_.port == opts_.https_port ||
                                              (websocket_enabled(opts_) && opts_.port == opts_.websocket.port));
  if ((!opts_.jetstream || opts_.store_in_memory) && !shared_port) listen_error_ = open_client_port();
  name_ = opts_.server_name.empty() ? id_ : opts_.server_name;
  setup_accounts();
  endpoints_ = std::make_unique<monitor::endpoints>(*this);
  if (opts_.tls) {
    tls_ctx_ = make_tls_context(*opts_.tls);
    // nats-server gives clients the TLS timeout plus a second to authenticate, unless set.
    if (opts_.auth_timeout == std::chrono::seconds(2)) opts_.auth_timeout = opts_.tls->timeout + std::chrono::seconds(1);
  }
  if (websocket_enabled(opts_)) {
    if (auto err = check_websocket_options(opts_)) throw std::runtime_error(*err);
    if (opts_.websocket.tls) ws_tls_ctx_ = make_tls_context(*opts_.websocket.tls);
  }
}

void server::setup_accounts() {
  auto global = std::make_unique<account>(std::string(global_account_name));
  global_ = global.get();
  accounts_.emplace(global_->name(), std::move(global));
  for (const auto& a : opts_.accounts) accounts_.emplace(a.name, std::make_unique<account>(a.name));
  // The system account: the one named by `system_account`, else nats-server's default `$SYS`
  // (an account no configured user belongs to unless the configuration defines it).
  if (!opts_.system_account.empty()) {
    system_ = find_account(opts_.system_account);
    if (system_ == nullptr || system_ == global_)
      throw std::runtime_error("error resolving system account: account missing");
  } else if (!opts_.no_system_account) {
    constexpr std::string_view default_sys = "$SYS";
    if (find_account(default_sys) == nullptr)
      accounts_.emplace(std::string(default_sys), std::make_unique<account>(std::string(default_sys)));
    system_ = find_account(default_sys);
  }
  // Client ids as nats-server numbers them: with a system account its internal clients take the
  // first ids, one per account plus two, so the first client is 5 by default, 8 with three
  // configured accounts (plus $G and $SYS), 6 with one; without a system account it is 1.
  next_cid_ = system_ != nullptr ? accounts_.size() + 2 : 0;
  using kind = config::account_export::kind;
  for (const auto& a : opts_.accounts) {
    for (const auto& e : a.exports) {
      for (const auto& n : e.accounts) {
        if (find_account(n) == nullptr)
          throw std::runtime_error("\"" + n + "\" account not defined for " +
                                   (e.type == kind::stream ? "stream" : "service") + " export");
      }
    }
  }
  for (const auto& a : opts_.accounts) {
    account& importer = *find_account(a.name);
    for (const auto& im : a.imports) {
      const bool stream = im.type == config::account_import::kind::stream;
      const std::string what = stream ? "stream" : "service";
      account* from = find_account(im.account);
      const config::account* from_cfg = nullptr;
      for (const auto& x : opts_.accounts)
        if (x.name == im.account) from_cfg = &x;
      if (from == nullptr || from_cfg == nullptr)
        throw std::runtime_error("\"" + im.account + "\" account not defined for " + what + " import");
      // The exporter must export a superset of the subject, to everyone or to this account.
      const config::account_export* ex = nullptr;
      for (const auto& e : from_cfg->exports) {
        if ((e.type == kind::stream) != stream || !protocol::subject_is_subset(im.subject, e.subject)) continue;
        if (!e.accounts.empty() && std::find(e.accounts.begin(), e.accounts.end(), a.name) == e.accounts.end()) continue;
        ex = &e;
        break;
      }
      const std::string err = "Error adding " + what + " import \"" + im.subject + "\": ";
      if (ex == nullptr) throw std::runtime_error(err + what + " import not authorized");
      bool singleton = ex->response_type.empty() || ex->response_type == "Singleton" || ex->response_type == "singleton";
      bool ok = stream ? importer.add_stream_import(*from, im.subject, im.to, im.prefix)
                       : importer.add_service_import(*from, im.subject, im.to, singleton);
      if (!ok) throw std::runtime_error(err + "invalid subject mapping");
    }
  }
  if (!opts_.users.empty() && !opts_.websocket.user.empty())
    throw std::runtime_error("websocket authentication username not compatible with presence of users/nkeys");
  if (!opts_.users.empty() && !opts_.websocket.token.empty())
    throw std::runtime_error("websocket authentication token not compatible with presence of users/nkeys");
  if (const auto& nau = opts_.no_auth_user; !nau.empty()) {
    if (opts_.users.empty())
      throw std::runtime_error("no_auth_user: \"" + nau + "\" present, but users/nkeys are not defined");
    if (std::none_of(opts_.users.begin(), opts_.users.end(), [&](const config::user& u) { return u.name == nau || (u.name.empty() && u.nkey == nau); }))
      throw std::runtime_error("no_auth_user: \"" + nau +
                               "\" not present as user or nkey in authorization block or account configuration");
  }
  auth_ = std::make_unique<authenticator>(opts_, [this](const std::string& n) { return find_account(n); });
  js_account_ = global_;
  for (const auto& a : opts_.accounts) {
    if (a.jetstream.enabled) {
      js_account_ = find_account(a.name);
      break;
    }
  }
}

account* server::find_account(std::string_view name) noexcept {
  if (name.empty()) return global_;
  auto it = accounts_.find(std::string(name));
  return it == accounts_.end() ? nullptr : it->second.get();
}

std::vector<std::string> server::account_names() const {
  std::vector<std::string> v;
  v.reserve(accounts_.size());
  for (const auto& [name, acc] : accounts_) v.push_back(name);
  std::sort(v.begin(), v.end());
  return v;
}

std::size_t server::num_subscriptions() const {
  std::size_t n = 0;
  for (const auto& [name, acc] : accounts_) n += acc->subs().count();
  return n;
}

server::~server() {
  shutdown();
  for (auto& t : threads_)
    if (t.joinable()) t.join();
  js_.reset();
}

void server::start() {
  start_time_ = std::chrono::system_clock::now();
  log::server().info("Starting nats-server");
  log::server().info("  Version:  {}", nats_compat_version);
  log::server().info("  jetbroker: {}", jetbroker_version);
  log::server().info("  Name:     {}", name_);
  log::server().info("  ID:       {}", id_);

  if (opts_.jetstream) {
    jetstream::jetstream_options jo;
    jo.store_dir = opts_.store_dir;
    jo.in_memory = opts_.store_in_memory;
    jo.sync_always = opts_.jetstream_sync_always;
    if (opts_.max_payload > 0) jo.max_payload = opts_.max_payload;
    jo.limits.server_max_memory = opts_.jetstream_max_memory;
    jo.limits.server_max_store = opts_.jetstream_max_store;
    for (const auto& a : opts_.accounts) {
      if (a.name != js_account_->name()) continue;
      const auto& l = a.jetstream;
      jo.limits.max_memory = l.max_memory;
      jo.limits.max_store = l.max_store;
      jo.limits.max_streams = l.max_streams;
      jo.limits.max_consumers = l.max_consumers;
      jo.limits.max_ack_pending = l.max_ack_pending;
      jo.limits.memory_max_stream_bytes = l.memory_max_stream_bytes;
      jo.limits.store_max_stream_bytes = l.store_max_stream_bytes;
      jo.limits.max_bytes_required = l.max_bytes_required;
    }
    if (opts_.jetstream_sync_interval) jo.sync_interval = *opts_.jetstream_sync_interval;
    if (jo.store_dir.empty() && !jo.in_memory)
      jo.store_dir = (std::filesystem::temp_directory_path() / "jetbroker").string();
    for (const auto& a : opts_.accounts) {
      if (a.jetstream.enabled && a.name != js_account_->name())
        log::server().warn("JetStream is served for account {} only, not for {} (jetbroker runs one JetStream)",
                           js_account_->name(), a.name);
    }
    for (auto& [name, acc] : accounts_)
      if (acc.get() != js_account_) acc->add_jetstream_disabled_responder();
    js_ = std::make_unique<jetstream::jetstream>(*this, jo);
    js_->start();
  }

  if (system_ != nullptr) {
    sys_services_ = std::make_unique<system_services>(*this, *system_);
    sys_services_->start();
  }

  if (opts_.http_port != 0) {
    const std::string& mh = opts_.http_host.empty() ? opts_.host : opts_.http_host;
    monitor_ = std::make_unique<http_monitor>(*this);
    tcp::endpoint ep;
    try {
      ep = make_endpoint(mh, opts_.http_port);
    } catch (const std::runtime_error& e) {
      throw std::runtime_error(std::string("Can't start monitoring: can't listen to the monitor port: ") + e.what());
    }
    http_port_ = monitor_->listen(ep);
    log::server().info("Starting http monitor on {}", host_port(mh, http_port_));
  }

  if (websocket_enabled(opts_)) {
    websocket_ = std::make_unique<websocket_listener>(*this, opts_.websocket, ws_tls_ctx_.get());
    websocket_->listen();
  }

  if (!acceptor_.is_open() && !listen_error_) listen_error_ = open_client_port();
  if (listen_error_) throw std::runtime_error(*listen_error_);
  port_ = acceptor_.local_endpoint().port();
  log::server().info("Listening for client connections on {}", host_port(opts_.host, port_));
  if (tls_ctx_) {
    if (opts_.allow_non_tls) log::server().info("TLS available for client connections");
    else log::server().info("TLS required for client connections");
  }
  do_accept();
  log::server().info("Server is ready");
}

std::optional<std::string> server::open_client_port() {
  const int port = opts_.port < 0 ? 0 : opts_.port;  // -1, a free port, is 0 to the listener
  const std::string where = host_port(opts_.host, port);
  tcp::endpoint ep;
  try {
    ep = make_endpoint(opts_.host, opts_.port);
  } catch (const std::runtime_error& e) {
    return "Error listening on port: " + where + ", \"" + e.what() + "\"";
  }
  boost::system::error_code ec;
  acceptor_.open(ep.protocol(), ec);
  if (!ec) acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec && ep.address().is_v6()) acceptor_.set_option(asio::ip::v6_only(false), ec);
  if (!ec) acceptor_.bind(ep, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (!ec) return std::nullopt;
  boost::system::error_code ignored;
  acceptor_.close(ignored);
  return "Error listening on port: " + where + ", \"listen tcp " + host_port(ep.address().to_string(), port) +
         ": bind: " + go_error_text(ec) + "\"";
}

void server::do_accept() {
  acceptor_.async_accept(asio::make_strand(io_), [this](boost::system::error_code ec, tcp::socket sock) {
    if (ec) {
      if (ec == asio::error::operation_aborted || shutting_down_) return;
      log::server().error("Error accepting client connection: {}", ec.message());
      do_accept();
      return;
    }
    if (shutting_down_) return;
    add_client(transport(std::move(sock)));
    do_accept();
  });
}

void server::add_client(transport t) {
  if (shutting_down_ || lame_duck_) return;  // closes the stream
  // Over the limit, nats-server still sends INFO, then the error, then closes.
  const bool over_limit = static_cast<int>(num_clients()) >= opts_.max_connections;
  auto cid = ++next_cid_;
  counters_.total_connections.fetch_add(1, std::memory_order_relaxed);
  auto conn = std::make_shared<client_connection>(*this, std::move(t), cid);
  {
    std::lock_guard lk(clients_mu_);
    clients_.emplace(cid, conn);
  }
  asio::post(conn->get_executor(), [conn, over_limit] {
    if (over_limit) conn->start_rejected(close_reason::max_connections, "maximum connections exceeded");
    else conn->start();
  });
}

void server::run() {
  unsigned n = opts_.worker_threads > 0 ? static_cast<unsigned>(opts_.worker_threads)
                                        : std::max(1u, std::thread::hardware_concurrency());
  // What is ready already runs before the other threads exist: a client that connected while
  // the server started (the client port listens from construction) gets its INFO, and its PONG
  // when CONNECT and PING came with it, without waiting for thread creation.
  io_.poll();
  for (unsigned i = 1; i < n; ++i) threads_.emplace_back([this] { io_.run(); });
  io_.run();
  for (auto& t : threads_)
    if (t.joinable()) t.join();
  threads_.clear();
  // Handlers destroyed with the io_context release the last connections: nothing to stop then.
  draining_.store(false);
}

void server::shutdown() {
  if (shutting_down_.exchange(true)) return;
  asio::post(io_, [this] {
    boost::system::error_code ignored;
    acceptor_.close(ignored);
    if (websocket_) websocket_->stop();
    if (monitor_) monitor_->stop();
    if (js_) js_->stop();
    for (auto& c : clients()) c->close(close_reason::server_shutdown);
    wait_for_drain(200);
  });
}

void server::fail(const std::string& msg) {
  log::fatal(msg);
  failed_ = true;
  shutdown();
}

void server::enter_lame_duck() {
  if (lame_duck_.exchange(true) || shutting_down_) return;
  asio::post(io_, [this] {
    log::server().info("Entering lame duck mode, stop accepting new clients");
    boost::system::error_code ignored;
    acceptor_.close(ignored);
    if (websocket_) websocket_->stop();
    std::string info = protocol::info_line(info_json(0, {}, false, true));
    auto all = std::make_shared<std::vector<std::shared_ptr<client_connection>>>(clients());
    for (auto& c : *all) c->send_async(info);
    // Spread the closing over the duration, after the grace period, as nats-server does.
    const auto n = std::max<std::size_t>(all->size(), 1);
    auto step = std::chrono::milliseconds(std::max<std::int64_t>(
        1, (opts_.lame_duck_duration - opts_.lame_duck_grace_period).count() / static_cast<std::int64_t>(n)));
    auto t = std::make_shared<asio::steady_timer>(io_, opts_.lame_duck_grace_period);
    t->async_wait([this, t, all, step](boost::system::error_code ec) {
      if (ec) return;
      close_lame_duck_batch(all, 1, step);
    });
  });
}

void server::close_lame_duck_batch(std::shared_ptr<std::vector<std::shared_ptr<client_connection>>> rest,
                                   std::size_t per_step, std::chrono::milliseconds step) {
  if (shutting_down_) return;
  for (std::size_t i = 0; i < per_step && !rest->empty(); ++i) {
    rest->back()->close(close_reason::server_shutdown);
    rest->pop_back();
  }
  if (rest->empty()) {
    shutdown();
    return;
  }
  auto t = std::make_shared<asio::steady_timer>(io_, step);
  t->async_wait([this, t, rest, per_step, step](boost::system::error_code ec) {
    if (!ec) close_lame_duck_batch(rest, per_step, step);
  });
}

void server::wait_for_drain(int tries_left) {
  // Clients flush what they have queued and close; then the io_context is stopped, which also
  // ends idle monitoring sessions. Bounded at about two seconds; the last connection to go stops
  // it at once (connection_gone), so a test harness's teardown does not wait for the next poll.
  draining_.store(true);
  if (live_connections_.load() == 0 || tries_left == 0) {
    io_.stop();
    return;
  }
  auto t = std::make_shared<asio::steady_timer>(io_, std::chrono::milliseconds(10));
  t->async_wait([this, t, tries_left](boost::system::error_code) { wait_for_drain(tries_left - 1); });
}

void server::connection_gone() {
  // draining_ is set before wait_for_drain reads the count, and the count drops before this
  // reads draining_: whichever comes second sees the other and stops the io_context.
  if (live_connections_.fetch_sub(1) == 1 && draining_.load()) io_.stop();
}

void server::record_closed(closed_connection c) {
  std::lock_guard lk(closed_mu_);
  if (closed_.size() >= max_closed) closed_.pop_front();
  closed_.push_back(std::move(c));
}

std::vector<closed_connection> server::closed_connections() const {
  std::lock_guard lk(closed_mu_);
  return {closed_.begin(), closed_.end()};
}

void server::remove_client(std::uint64_t cid) {
  std::lock_guard lk(clients_mu_);
  clients_.erase(cid);
}

std::vector<std::shared_ptr<client_connection>> server::clients() const {
  std::lock_guard lk(clients_mu_);
  std::vector<std::shared_ptr<client_connection>> v;
  v.reserve(clients_.size());
  for (auto& [id, c] : clients_) v.push_back(c);
  return v;
}

std::size_t server::num_clients() const {
  std::lock_guard lk(clients_mu_);
  return clients_.size();
}

int server::websocket_port() const noexcept { return websocket_ ? websocket_->port() : 0; }

std::string server::ws_info_json(std::uint64_t cid, const std::string& client_ip, bool connect_info,
                                 std::string_view account, std::string_view nonce) const {
  // nats-server tells WebSocket clients the WebSocket listener's address and TLS.
  auto v = boost::json::parse(info_json(cid, client_ip, connect_info, false, account, nonce));
  auto& o = v.as_object();
  o["host"] = opts_.websocket.host.empty() ? std::string("0.0.0.0") : opts_.websocket.host;
  o["port"] = websocket_port();
  // The WebSocket listener's own authorization requires auth of its clients (its no_auth_user
  // leaves auth_required as the server's, as in nats-server 2.14.9).
  const auto& ws = opts_.websocket;
  if (!ws.user.empty() || !ws.token.empty()) o["auth_required"] = true;
  o.erase("tls_required");
  o.erase("tls_verify");
  o.erase("tls_available");
  if (opts_.websocket.tls) {
    // Kept at the same place as in a client INFO: before max_payload.
    boost::json::object out;
    for (auto& [k, val] : o) {
      if (k == "max_payload") {
        out["tls_required"] = true;
        if (opts_.websocket.tls->verify) out["tls_verify"] = true;
      }
      out[k] = val;
    }
    return boost::json::serialize(out);
  }
  return boost::json::serialize(o);
}

std::string server::info_json(std::uint64_t cid, const std::string& client_ip, bool connect_info, bool ldm,
                              std::string_view account, std::string_view nonce) const {
  boost::json::object o;
  o["server_id"] = id_;
  o["server_name"] = name_;
  o["version"] = nats_compat_version;
  o["proto"] = 1;
  o["go"] = "jetbroker";
  o["host"] = opts_.host;
  o["port"] = port_;
  o["headers"] = true;
  if (opts_.auth_required()) o["auth_required"] = true;
  if (opts_.tls) {
    // handshake_first always requires TLS; allow_non_tls makes it optional (tls_available).
    if (!opts_.allow_non_tls || opts_.tls->handshake_first) o["tls_required"] = true;
    if (opts_.tls->verify) o["tls_verify"] = true;
    if (opts_.allow_non_tls && !opts_.tls->handshake_first) o["tls_available"] = true;
  }
  o["max_payload"] = opts_.max_payload;
  if (opts_.jetstream) o["jetstream"] = true;
  if (cid) o["client_id"] = cid;
  if (!client_ip.empty()) o["client_ip"] = client_ip;
  if (!nonce.empty()) o["nonce"] = nonce;
  o["api_lvl"] = jetstream::api_level;  // JetStream API level, sent with or without JetStream (2.12)
  if (ldm) o["ldm"] = true;
  if (connect_info) {
    o["connect_info"] = true;
    o["remote_account"] = account;
    if (system_ != nullptr && account == system_->name()) o["acc_is_sys"] = true;  // omitted when false
  }
  return boost::json::serialize(o);
}

}  // namespace jb::server
