#pragma once
// One client connection: a read coroutine (read, parse, route), a write coroutine (drain the
// outbound buffer with large writes) and a liveness coroutine (PING/PONG, auth timeout), all
// on the connection's strand. Other threads touch it only through deliver()/kick()/close(),
// which go through the outbound mutex or post to the strand.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include "protocol/ops.hpp"
#include "protocol/parser.hpp"
#include "server/auth.hpp"
#include "server/connect_opts.hpp"
#include "server/connection_info.hpp"
#include "server/log.hpp"
#include "server/out_buffer.hpp"
#include "server/subscription.hpp"
#include "server/transport.hpp"

namespace jb::server {

class server;

enum class close_reason {
  client_closed,
  read_error,
  write_error,
  protocol_violation,
  auth_violation,
  auth_timeout,
  max_payload,
  max_control_line,
  stale_connection,
  slow_consumer,
  server_shutdown,
  max_connections,
  tls_handshake_error,
};
[[nodiscard]] const char* to_string(close_reason r) noexcept;

class client_connection final : public subscriber, public std::enable_shared_from_this<client_connection> {
 public:
  using socket_type = boost::asio::ip::tcp::socket;
  using strand_type = boost::asio::strand<boost::asio::io_context::executor_type>;

  // `t` is a connected TCP socket or an upgraded WebSocket; TLS on the client port is set up
  // by start() when the server has a `tls {}` block.
  client_connection(server& srv, transport t, std::uint64_t cid);
  ~client_connection() override;

  // Sends INFO (with TLS: the handshake after or, with handshake_first, before it) and starts
  // the coroutines. Call once, from the strand's context or before any other thread knows the
  // connection.
  void start();
  // Sends INFO and then `err_text` as -ERR, and closes (nats-server's answer over
  // max_connections). Nothing the client sent is read: a PING racing the close gets no PONG.
  void start_rejected(close_reason reason, const std::string& err_text);

  // subscriber (any thread).
  bool deliver(subscription& sub, const message_view& m) override;
  void kick() override;
  void on_max_reached(const std::shared_ptr<subscription>& sub) override;
  [[nodiscard]] std::uint64_t client_id() const noexcept override { return cid_; }
  [[nodiscard]] bool delivery_denied(std::string_view subject) const noexcept override;

  // Queues protocol bytes (an async INFO) from any thread.
  void send_async(std::string bytes);

  // Closes the connection (any thread). With err_text, sends `-ERR '<text>'` first.
  void close(close_reason reason, std::string err_text = {});

  [[nodiscard]] connection_snapshot snapshot(bool with_subjects) const;
  [[nodiscard]] transport::executor_type get_executor() { return transport_.get_executor(); }
  [[nodiscard]] bool is_websocket() const noexcept { return transport_.is_websocket(); }

  // parse_handler: called by the parser on the strand.
  bool on_pub(const protocol::pub_op& op);
  bool on_sub(const protocol::sub_op& op);
  bool on_unsub(const protocol::unsub_op& op);
  bool on_connect(const protocol::connect_op& op);
  bool on_ping();
  bool on_pong();
  bool on_info(const protocol::info_op& op);
  bool on_ok() { return true; }
  bool on_err(const protocol::err_op& op);
  // Protocol tracing (-V): `<<- [<control line>]` for every operation the client sends.
  void trace_in(std::string_view line) {
    if (log::tracing()) [[unlikely]] trace_op_in(line);
  }

 private:
  void run_loops();
  // TLS on the client port: INFO in plaintext then the handshake, or the handshake first.
  boost::asio::awaitable<void> secure_start(std::shared_ptr<client_connection> keep_alive);
  // True when the client sent something within `d` (the socket is readable).
  boost::asio::awaitable<bool> readable_within(std::chrono::milliseconds d);
  boost::asio::awaitable<void> read_loop(std::shared_ptr<client_connection> keep_alive);
  boost::asio::awaitable<void> write_loop(std::shared_ptr<client_connection> keep_alive);
  boost::asio::awaitable<void> liveness_loop(std::shared_ptr<client_connection> keep_alive);

  void close_on_strand(close_reason reason, const std::string& err_text);
  void send(std::string_view bytes);  // strand: queue protocol bytes for this client
  // One trace line `<prefix> - <a><b><c>` (any thread: the prefix is read under info_mu_).
  void trace_line(std::string_view a, std::string_view b, std::string_view c) const;
  void trace_op_in(std::string_view line) const;
  log::payload_trace payload_trace() const;  // max_traced_msg_len, trace_headers
  void trace_delivery(const subscription& sub, const message_view& m) const;
  void route(const message_view& m);
  void flush_kicks();
  void remove_all_subs();
  void drop_sub(const std::shared_ptr<subscription>& sub);  // out of every index, with its shadows
  void add_shadow_subs(const std::shared_ptr<subscription>& sub);
  bool publish_allowed(std::string_view subject);
  void log_error(std::string_view text);
  // The first INFO line (with the nonce when nkey users exist).
  [[nodiscard]] std::string first_info_line() const;
  bool check_auth_before_op();

  server& srv_;
  transport transport_;
  const std::uint64_t cid_;
  std::string ip_;
  std::string nonce_;  // the nkey challenge in this connection's first INFO (empty: none)
  int remote_port_ = 0;
  boost::asio::steady_timer write_signal_;
  boost::asio::steady_timer liveness_timer_;
  boost::asio::steady_timer stall_timer_;
  std::int64_t stall_ns_ = 0;  // strand: producer stall asked for by the last batch

  // Strand-only state.
  std::vector<char> rbuf_;
  std::size_t rbeg_ = 0, rend_ = 0;
  protocol::parser_limits limits_;
  std::unordered_map<std::string, std::shared_ptr<subscription>> subs_;
  std::vector<std::shared_ptr<subscriber>> kicks_;  // receivers to wake after this read batch
  bool connected_ = false;  // CONNECT seen
  bool auth_timer_done_ = false;  // no_auth_user: an operation before CONNECT ended the auth timer
  bool verbose_ = false, pedantic_ = false, echo_ = true, headers_ = false, no_responders_ = false;
  connect_opts connect_opts_;  // every CONNECT so far, decoded onto nats-server's defaults
  int pings_out_ = 0;
  // Identity, set by the first successful CONNECT (before any subscription when auth is on).
  account* acc_ = nullptr;                    // never null
  std::shared_ptr<const permissions> perms_;  // null: no restrictions; read by deliverers
  std::string log_prefix_;                    // "ip:port - cid:N", plus ` - "$G/user:x"`
  // Publish permission results by subject (nats pubAllowed cache).
  struct string_hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
  };
  std::unordered_map<std::string, bool, string_hash, std::equal_to<>> pub_cache_;
  int client_protocol_ = 0;
  bool first_pong_sent_ = false;
  std::chrono::steady_clock::time_point ping_sent_at_{};
  bool closed_ = false;
  bool loops_started_ = false;  // read/write/liveness loops run (after any TLS handshake)
  close_reason close_reason_ = close_reason::client_closed;  // why closed_ was set
  // Written only on the strand, read by the monitor: single-writer atomics.
  std::atomic<std::uint64_t> in_msgs_{0}, in_bytes_{0};
  std::atomic<std::size_t> num_subs_{0};
  std::uint64_t batch_out_msgs_ = 0, batch_out_bytes_ = 0;  // routed in this read batch

  // Outbound buffer, shared with delivering threads.
  mutable std::mutex out_mu_;
  out_buffer out_;              // guarded by out_mu_
  std::size_t in_flight_ = 0;   // guarded: bytes handed to the current async_write
  bool writer_idle_ = false;    // guarded: the writer waits for a kick
  bool closing_ = false;        // guarded: flush what is queued, then shut down
  bool drop_output_ = false;    // guarded: slow consumer, discard and close now
  std::uint64_t out_msgs_ = 0, out_bytes_ = 0;  // guarded
  // allow_responses: reply subjects this client received, which it may publish to.
  struct reply_grant {
    std::chrono::steady_clock::time_point at;
    int sent = 0;
  };
  bool track_replies_ = false;  // set before the first subscription
  std::unordered_map<std::string, reply_grant, string_hash, std::equal_to<>> replies_;  // guarded

  // Descriptive fields (strand writes, snapshot reads under info_mu_).
  mutable std::mutex info_mu_;
  std::string name_, lang_, version_;
  std::string user_, account_name_;
  bool nkey_user_ = false;  // user_ is an nkey (monitoring: issuer_key)
  std::string tls_version_, tls_cipher_;  // set once after the TLS handshake
  std::int64_t rtt_ns_ = 0;
  // subs_ is changed on the strand under info_mu_, so the monitor can list it.
  std::chrono::system_clock::time_point start_;
  std::atomic<std::int64_t> last_activity_ns_{0};
  std::uint64_t sub_ops_ = 0;           // SUB and UNSUB operations read (strand)
  std::size_t max_subs_ = 0;            // max_subscriptions for this connection, 0: none (strand)
  std::uint64_t out_msgs_written_ = 0;  // out_msgs_ at the last write (guarded by out_mu_)
};

}  // namespace jb::server
