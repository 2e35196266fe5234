#include "server/client_connection.hpp"


#include <algorithm>
#include <cctype>
#include <random>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/write.hpp>
#include <boost/json.hpp>

#include "protocol/headers.hpp"
#include "protocol/subject.hpp"
#include "protocol/writer.hpp"
#include "server/account.hpp"
#include "server/jetstream/jetstream.hpp"
#include "server/log.hpp"
#include "server/router.hpp"
#include "server/server.hpp"
#include "server/system_account.hpp"
#include "server/tls.hpp"
#include "server/connect_opts.hpp"
#include "server/random_seed.hpp"

namespace jb::server {

namespace asio = boost::asio;
using asio::awaitable;

namespace {

constexpr std::size_t min_read_buffer = 4096;
constexpr std::size_t max_idle_read_buffer = 64 * 1024;
// Bounds of the per-client permission state (nats-server uses similar sizes).
constexpr std::size_t max_pub_cache = 128;
constexpr std::size_t max_reply_grants = 4096;

// The stall a delivery on this thread asks of its publisher (see read_loop); the read loop
// resets it before parsing and reads it right after, on the same thread.
thread_local std::int64_t tl_stall_ns = 0;

// nats-server's close frame status for each reason (websocket.go wsEnqueueCloseMessage).
std::uint16_t ws_close_status(close_reason r) {
  switch (r) {
    case close_reason::client_closed: return 1000;
    case close_reason::auth_timeout:
    case close_reason::auth_violation:
    case close_reason::slow_consumer:
    case close_reason::max_connections:
    case close_reason::max_control_line: return 1008;
    case close_reason::tls_handshake_error: return 1015;
    case close_reason::protocol_violation: return 1002;
    case close_reason::max_payload: return 1009;
    case close_reason::server_shutdown: return 1001;
    case close_reason::read_error:
    case close_reason::write_error:
    case close_reason::stale_connection: return 1006;
  }
  return 1011;
}

// Go's %q for the subjects in permission errors: quoted, with '"' and '\\' escaped.
std::string quoted(std::string_view s) {
  std::string q = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') q += '\\';
    q += c;
  }
  return q + "\"";
}

// Reply subjects reserved for the server (service-import responses, JetStream acks, gateway
// replies): a client may not publish with them as its reply.
bool is_reserved_reply(std::string_view r) noexcept {
  return (r.size() > 4 && r.substr(0, 4) == "_R_.") || (r.size() > 8 && r.substr(0, 8) == "$JS.ACK.") ||
         (r.size() > 5 && r.substr(0, 5) == "_GR_.");
}

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

const char* to_string(close_reason r) noexcept {
  switch (r) {
    case close_reason::client_closed: return "Client Closed";
    case close_reason::read_error: return "Read Error";
    case close_reason::write_error: return "Write Error";
    case close_reason::protocol_violation: return "Protocol Violation";
    case close_reason::auth_violation: return "Authentication Failure";
    case close_reason::auth_timeout: return "Authentication Timeout";
    case close_reason::max_payload: return "Maximum Message Payload Exceeded";
    case close_reason::max_control_line: return "Maximum Control Line Exceeded";
    case close_reason::stale_connection: return "Stale Connection";
    case close_reason::slow_consumer: return "Slow Consumer (Pending Bytes)";
    case close_reason::server_shutdown: return "Server Shutdown";
    case close_reason::max_connections: return "Maximum Connections Exceeded";
    case close_reason::tls_handshake_error: return "TLS Handshake Failure";
  }
  return "Unknown";
}

client_connection::client_connection(server& srv, transport t, std::uint64_t cid)
    : srv_(srv),
      transport_(std::move(t)),
      cid_(cid),
      write_signal_(transport_.get_executor()),
      liveness_timer_(transport_.get_executor()),
      stall_timer_(transport_.get_executor()),
      rbuf_(min_read_buffer),
      start_(std::chrono::system_clock::now()) {
  boost::system::error_code ec;
  auto ep = transport_.tcp().remote_endpoint(ec);
  if (!ec) {
    ip_ = ep.address().to_string();
    remote_port_ = ep.port();
  }
  // nats-server tags WebSocket clients "wid:" and the others "cid:".
  log_prefix_ = ip_ + ":" + std::to_string(remote_port_) + (transport_.is_websocket() ? " - wid:" : " - cid:") +
                std::to_string(cid_);
  acc_ = &srv_.global_account();
  account_name_ = acc_->name();
  if (srv_.auth().nonce_required()) nonce_ = make_nonce();
  transport_.tcp().set_option(asio::ip::tcp::no_delay(true), ec);
  limits_.max_control_line = srv_.opts().max_control_line;
  limits_.max_payload = srv_.opts().max_payload;
  // nats-server's defaults before CONNECT.
  verbose_ = true;
  pedantic_ = true;
  last_activity_ns_ = now_ns();
  srv_.connection_opened();
}

client_connection::~client_connection() { srv_.connection_gone(); }

void client_connection::start() {
  log::client().debug("{} - Client connection created", log_prefix_);
  if (srv_.tls_context() != nullptr && transport_.kind() == transport_kind::tcp) {
    auto self = shared_from_this();
    asio::co_spawn(transport_.get_executor(), [self] { return self->secure_start(self); }, asio::detached);
    return;
  }
  send(first_info_line());
  run_loops();
}

std::string client_connection::first_info_line() const {
  return protocol::info_line(transport_.is_websocket()
                                 ? srv_.ws_info_json(cid_, ip_, false, global_account_name, nonce_)
                                 : srv_.info_json(cid_, ip_, false, false, global_account_name, nonce_));
}

void client_connection::run_loops() {
  loops_started_ = true;
  auto self = shared_from_this();
  // Each coroutine holds `self` as a parameter, so the connection outlives all three.
  asio::co_spawn(transport_.get_executor(), [self] { return self->read_loop(self); }, asio::detached);
  asio::co_spawn(transport_.get_executor(), [self] { return self->write_loop(self); }, asio::detached);
  asio::co_spawn(transport_.get_executor(), [self] { return self->liveness_loop(self); }, asio::detached);
}

awaitable<bool> client_connection::readable_within(std::chrono::milliseconds d) {
  auto expired = std::make_shared<bool>(false);
  asio::steady_timer timer(transport_.get_executor(), d);
  auto self = shared_from_this();
  timer.async_wait([self, expired](boost::system::error_code ec) {
    if (!ec) {
      *expired = true;
      self->transport_.cancel();
    }
  });
  auto [ec] = co_await transport_.tcp().async_wait(asio::ip::tcp::socket::wait_read,
                                                   asio::as_tuple(asio::use_awaitable));
  timer.cancel();
  co_return !ec && !*expired;
}

awaitable<void> client_connection::secure_start(std::shared_ptr<client_connection> /*keep_alive*/) {
  const auto& t = *srv_.opts().tls;
  const std::string info = first_info_line();
  bool first = t.handshake_first;
  // A client that says nothing within the fallback delay is not doing TLS first: it gets
  // INFO and the usual upgrade (nats handshake_first: "<duration>" / "auto").
  if (first && t.handshake_first_fallback.count() > 0 && !co_await readable_within(t.handshake_first_fallback))
    first = false;
  if (closed_) co_return transport_.close();
  if (!first) {
    // INFO goes out in plaintext before the handshake, written here since the write loop
    // cannot start before TLS is up.
    auto [ec, n] = co_await asio::async_write(transport_.tcp(), asio::buffer(info), asio::as_tuple(asio::use_awaitable));
    if (ec && !closed_) close_on_strand(close_reason::write_error, {});
    if (closed_) co_return transport_.close();
    if (srv_.opts().allow_non_tls) {
      // TLS or not is the client's choice: a TLS client starts with a handshake record (0x16).
      unsigned char b = 0;
      boost::system::error_code pec;
      std::size_t got = 0;
      if (co_await readable_within(t.timeout))
        got = transport_.tcp().receive(asio::buffer(&b, 1), asio::socket_base::message_peek, pec);
      if (closed_) co_return transport_.close();
      if (got == 0 || b != 0x16) co_return run_loops();
    }
  }
  log::client().debug("{} - Starting TLS client connection handshake", log_prefix_);
  transport_.start_tls(*srv_.tls_context());
  auto expired = std::make_shared<bool>(false);
  asio::steady_timer timer(transport_.get_executor(), t.timeout);
  auto self = shared_from_this();
  timer.async_wait([self, expired](boost::system::error_code ec) {
    if (!ec) {
      *expired = true;
      self->transport_.cancel();
    }
  });
  auto [ec] = co_await transport_.tls().async_handshake(asio::ssl::stream_base::server,
                                                        asio::as_tuple(asio::use_awaitable));
  timer.cancel();
  if (closed_) co_return transport_.close();
  if (ec) {
    boost::system::error_code lec;
    auto local = transport_.tcp().local_endpoint(lec);
    auto err = describe_tls_handshake_error(ec, *expired,
                                            local.address().to_string() + ":" + std::to_string(local.port()),
                                            ip_ + ":" + std::to_string(remote_port_));
    if (err.is_error) log::client().error("{} - TLS handshake error: {}", log_prefix_, err.text);
    else log::client().debug("{} - TLS handshake error: {}", log_prefix_, err.text);
    close_on_strand(close_reason::tls_handshake_error, {});
    co_return transport_.close();
  }
  log::client().debug("{} - TLS handshake complete", log_prefix_);
  log::client().debug("{} - TLS version {}, cipher suite {}", log_prefix_,
                      transport_.tls_version(), transport_.tls_cipher());
  {
    std::lock_guard lk(info_mu_);
    tls_version_ = transport_.tls_version();
    tls_cipher_ = transport_.tls_cipher();
  }
  if (first) send(info);
  run_loops();
}

void client_connection::start_rejected(close_reason reason, const std::string& err_text) {
  // Before any TLS handshake, as nats-server: INFO and the error in plaintext.
  send(first_info_line());
  loops_started_ = true;
  auto self = shared_from_this();
  asio::co_spawn(transport_.get_executor(), [self] { return self->write_loop(self); }, asio::detached);
  close_on_strand(reason, err_text);
}

awaitable<void> client_connection::read_loop(std::shared_ptr<client_connection> /*keep_alive*/) {
  int short_reads = 0;
  for (;;) {
    if (rend_ == rbuf_.size()) {
      // Make room: compact, then grow if the pending operation still does not fit.
      if (rbeg_ > 0) {
        std::memmove(rbuf_.data(), rbuf_.data() + rbeg_, rend_ - rbeg_);
        rend_ -= rbeg_;
        rbeg_ = 0;
      }
      if (rend_ == rbuf_.size()) rbuf_.resize(rbuf_.size() * 2);
    }
    const std::size_t room = rbuf_.size() - rend_;
    auto [ec, n] = co_await transport_.async_read_some(asio::buffer(rbuf_.data() + rend_, room),
                                                    asio::as_tuple(asio::use_awaitable));
    if (ec) {
      // A TLS peer that closes without close_notify, or a WebSocket close frame, is a close too.
      const bool eof = ec == asio::error::eof || ec == asio::ssl::error::stream_truncated ||
                       ec == boost::beast::websocket::error::closed || transport_.ws_close_done();
      close_on_strand(eof ? close_reason::client_closed : close_reason::read_error, {});
      co_return;
    }
    if (closed_) co_return;
    rend_ += n;
    const std::uint64_t msgs_before = in_msgs_.load(std::memory_order_relaxed);
    const std::uint64_t sub_ops_before = sub_ops_;
    const std::uint64_t bytes_before = in_bytes_.load(std::memory_order_relaxed);
    tl_stall_ns = 0;
    auto r = protocol::parse(std::string_view(rbuf_.data() + rbeg_, rend_ - rbeg_), *this, limits_);
    rbeg_ += r.consumed;
    stall_ns_ = tl_stall_ns;
    flush_kicks();
    // Last activity, as nats-server counts it: messages or subscription changes, not PINGs.
    if (in_msgs_.load(std::memory_order_relaxed) != msgs_before || sub_ops_ != sub_ops_before)
      last_activity_ns_.store(now_ns(), std::memory_order_relaxed);
    if (auto m = in_msgs_.load(std::memory_order_relaxed); m != msgs_before) {
      auto& c = srv_.counters();
      c.in_msgs.fetch_add(m - msgs_before, std::memory_order_relaxed);
      c.in_bytes.fetch_add(in_bytes_.load(std::memory_order_relaxed) - bytes_before, std::memory_order_relaxed);
      c.out_msgs.fetch_add(batch_out_msgs_, std::memory_order_relaxed);
      c.out_bytes.fetch_add(batch_out_bytes_, std::memory_order_relaxed);
      batch_out_msgs_ = batch_out_bytes_ = 0;
    }
    switch (r.status) {
      case protocol::parse_status::ok:
        break;
      case protocol::parse_status::need_more:
        if (r.need > rbuf_.size()) {
          // Move the partial operation to the front and grow once to hold it whole.
          std::memmove(rbuf_.data(), rbuf_.data() + rbeg_, rend_ - rbeg_);
          rend_ -= rbeg_;
          rbeg_ = 0;
          rbuf_.resize(r.need);
        }
        break;
      case protocol::parse_status::stopped:
        co_return;
      case protocol::parse_status::error: {
        using protocol::errc;
        switch (r.error) {
          case errc::unknown_operation:
            close_on_strand(close_reason::protocol_violation, "Unknown Protocol Operation");
            break;
          case errc::max_control_line:
            close_on_strand(close_reason::max_control_line, "maximum control line exceeded");
            break;
          case errc::max_payload:
            close_on_strand(close_reason::max_payload, "Maximum Payload Violation");
            break;
          default:
            log_error(protocol::describe(r.error));
            close_on_strand(close_reason::protocol_violation, {});
            break;
        }
        co_return;
      }
    }
    if (closed_) co_return;
    if (rbeg_ == rend_) rbeg_ = rend_ = 0;
    // Dynamic read buffer (nats-server's idea): double while reads fill it, up to 64 KiB, and
    // shrink back after a few short reads so idle connections stay small.
    if (n == room && rbuf_.size() < max_idle_read_buffer) {
      rbuf_.resize(rbuf_.size() * 2);
      short_reads = 0;
    } else if (n < rbuf_.size() / 2 && rbuf_.size() > min_read_buffer && rend_ == 0) {
      if (++short_reads > 2) {
        rbuf_.resize(std::max(min_read_buffer, rbuf_.size() / 2));
        rbuf_.shrink_to_fit();
        short_reads = 0;
      }
    } else {
      short_reads = 0;
    }
    if (stall_ns_ > 0) {
      // A receiver of this batch is falling behind: slow this producer down briefly instead of
      // cutting the receiver (nats-server's fast-producer stall: 2-5 ms, 10 ms per read at most).
      stall_timer_.expires_after(std::chrono::nanoseconds(std::min<std::int64_t>(stall_ns_, 10'000'000)));
      co_await stall_timer_.async_wait(asio::as_tuple(asio::use_awaitable));
      if (closed_) co_return;
    }
  }
}

awaitable<void> client_connection::write_loop(std::shared_ptr<client_connection> /*keep_alive*/) {
  std::vector<out_buffer::block> writing;
  std::vector<asio::const_buffer> seq;
  for (;;) {
    bool wait = false, finish = false, delivered = false;
    {
      std::lock_guard lk(out_mu_);
      // Last activity: message deliveries count (nats-server sets it when it flushes them).
      delivered = out_msgs_ != out_msgs_written_;
      out_msgs_written_ = out_msgs_;
      if (drop_output_) {
        finish = true;
      } else if (out_.empty()) {
        in_flight_ = 0;
        if (closing_) finish = true;
        else { writer_idle_ = true; wait = true; }
      } else {
        in_flight_ = out_.size();
        out_.take(writing);
      }
    }
    if (delivered) last_activity_ns_.store(now_ns(), std::memory_order_relaxed);
    if (finish) break;
    if (wait) {
      write_signal_.expires_at(asio::steady_timer::time_point::max());
      co_await write_signal_.async_wait(asio::as_tuple(asio::use_awaitable));
      continue;
    }
    out_buffer::sequence(writing, seq);
    auto [ec, n] = co_await transport_.async_write(seq, asio::as_tuple(asio::use_awaitable));
    if (ec) {
      close_on_strand(close_reason::write_error, {});
      break;
    }
    writing.clear();  // the blocks go back to the allocator
  }
  if (transport_.is_websocket() && !transport_.ws_close_done()) {
    // Like nats-server, a close frame whose status and text say why, then the TCP close
    // without waiting for the client's answer.
    const std::string frame = transport::ws_close_frame(ws_close_status(close_reason_), to_string(close_reason_));
    co_await transport_.async_write_below_ws(asio::buffer(frame), asio::as_tuple(asio::use_awaitable));
  }
  transport_.close();
  liveness_timer_.cancel();
}

awaitable<void> client_connection::liveness_loop(std::shared_ptr<client_connection> /*keep_alive*/) {
  const auto& o = srv_.opts();
  // The auth timer runs whenever authentication is configured, with no_auth_user too (nats-server).
  if (srv_.auth().required_for(transport_.is_websocket()) && !connected_) {
    liveness_timer_.expires_after(o.auth_timeout);
    auto [ec] = co_await liveness_timer_.async_wait(asio::as_tuple(asio::use_awaitable));
    if (closed_) co_return;
    if (!ec && !connected_) {
      close_on_strand(close_reason::auth_timeout, "Authentication Timeout");
      co_return;
    }
  }
  // nats-server pings a new client early, min(ping_interval, 2 s) plus up to 20% after its
  // CONNECT, which measures its RTT (connz, Nats-Request-Info) and which harnesses wait for (the
  // Java runner's start-up check sends CONNECT and waits for that PING); before CONNECT only
  // after ping_interval (its timer from the accept); later pings come every ping_interval.
  bool first = true;
  for (;;) {
    auto interval = std::chrono::duration_cast<std::chrono::nanoseconds>(o.ping_interval);
    if (first && connected_) {
      interval = std::min<std::chrono::nanoseconds>(interval, std::chrono::seconds(2));
      thread_local std::minstd_rand rng{static_cast<std::uint_fast32_t>(random_seed())};
      if (interval.count() >= 5) interval += std::chrono::nanoseconds(rng() % (interval.count() / 5));
    }
    liveness_timer_.expires_after(interval);
    auto [ec] = co_await liveness_timer_.async_wait(asio::as_tuple(asio::use_awaitable));
    if (closed_) co_return;
    if (ec) continue;  // re-armed (auth finished early)
    first = false;
    if (pings_out_ + 1 > o.max_pings_out) {
      close_on_strand(close_reason::stale_connection, "Stale Connection");
      co_return;
    }
    ++pings_out_;
    ping_sent_at_ = std::chrono::steady_clock::now();
    send(protocol::ping_line);
  }
}

void client_connection::send(std::string_view bytes) {
  bool wake = false;
  std::unique_lock lk(out_mu_);
  if (closing_ || drop_output_) return;
  if (log::tracing()) [[unlikely]] {
    // nats-server traces what it sends but INFO: [PONG], [PING], [OK], [-ERR text] (unquoted).
    std::string_view line = bytes.substr(0, bytes.find("\r\n"));
    if (line == "+OK") {
      trace_line("->> [", "OK", "]");
    } else if (line.starts_with("-ERR ")) {
      std::string_view text = line.substr(5);
      if (text.size() >= 2 && text.front() == '\'' && text.back() == '\'') text = text.substr(1, text.size() - 2);
      trace_line("->> [-ERR ", text, "]");
    } else if (!line.starts_with("INFO") && !line.starts_with("HMSG ")) {
      // Nor the no-responders status it answers a request with (an HMSG queued here).
      trace_line("->> [", line, "]");
    }
  }
  out_.append(bytes);
  if (writer_idle_) {
    writer_idle_ = false;
    wake = true;
  }
  lk.unlock();
  if (wake) write_signal_.cancel();  // on the strand already
}

bool client_connection::deliver(subscription& sub, const message_view& m) {
  const std::size_t sz = m.headers.size() + m.payload.size();
  std::unique_lock lk(out_mu_);
  if (closing_ || drop_output_) return false;
  if (static_cast<std::int64_t>(out_.size() + in_flight_ + sz) > srv_.opts().max_pending) {
    // Slow consumer: nats-server closes without -ERR and counts it.
    drop_output_ = true;
    srv_.counters().slow_consumers.fetch_add(1, std::memory_order_relaxed);
    log::client().info("{}:{} - cid:{} - Slow Consumer Detected: MaxPending of {} Exceeded", ip_, remote_port_, cid_,
                       srv_.opts().max_pending);
    auto self = shared_from_this();
    asio::post(transport_.get_executor(), [self] { self->close_on_strand(close_reason::slow_consumer, {}); });
    return false;
  }
  protocol::append_delivery(out_, m.subject, sub.sid, m.reply, m.headers, m.payload, headers_);
  if (track_replies_ && !m.reply.empty()) [[unlikely]] {
    const auto now = std::chrono::steady_clock::now();
    replies_.insert_or_assign(std::string(m.reply), reply_grant{now, 0});
    if (replies_.size() > max_reply_grants) {
      const auto& rp = *perms_->responses();
      std::erase_if(replies_, [&](const auto& kv) {
        return (rp.max_msgs > 0 && kv.second.sent >= rp.max_msgs) ||
               (rp.expires.count() > 0 && now - kv.second.at > rp.expires);
      });
    }
  }
  ++out_msgs_;
  out_bytes_ += sz;
  const std::int64_t pending = static_cast<std::int64_t>(out_.size() + in_flight_);
  const std::int64_t half = srv_.opts().max_pending / 2;
  if (pending > half) {
    // 2 ms at half of max_pending, growing to 5 ms when full.
    std::int64_t wait = 2'000'000 + 3'000'000 * (pending - half) / std::max<std::int64_t>(half, 1);
    if (wait > tl_stall_ns) tl_stall_ns = wait;
  }
  bool wake = false;
  if (writer_idle_) {
    writer_idle_ = false;
    wake = true;
  }
  // Traced under out_mu_ (as nats-server does under the client lock), so concurrent deliverers'
  // lines come out in the order the bytes were queued; info_mu_ and the log sink are leaves.
  if (log::tracing()) [[unlikely]] trace_delivery(sub, m);
  return wake;
}

void client_connection::trace_line(std::string_view a, std::string_view b, std::string_view c) const {
  std::string prefix;
  {
    std::lock_guard lk(info_mu_);
    prefix = log_prefix_;
  }
  log::client().trace("{} - {}{}{}", prefix, a, b, c);
}

// nats-server traces an operation as `<<- [VERB args]`: the verb in capitals, one space, the
// arguments (CONNECT's with credentials redacted).
void client_connection::trace_op_in(std::string_view line) const {
  std::size_t v = 0;
  while (v < line.size() && line[v] != ' ' && line[v] != '\t') ++v;
  std::string op(line.substr(0, v));
  for (auto& ch : op) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  std::size_t a = v;
  while (a < line.size() && (line[a] == ' ' || line[a] == '\t')) ++a;
  const bool connect = op == "CONNECT";
  if (a < line.size()) op.append(" ").append(connect ? log::redact_connect(line.substr(a)) : line.substr(a));
  trace_line("<<- [", op, "]");
}

// nats-server's outbound trace: the MSG/HMSG line as sent, then the payload.
void client_connection::trace_delivery(const subscription& sub, const message_view& m) const {
  const bool hmsg = !m.headers.empty() && headers_;  // as protocol::append_delivery writes it
  const std::string_view hdr = hmsg ? m.headers : std::string_view{};
  std::string op = hmsg ? "HMSG " : "MSG ";
  op.append(m.subject).append(" ").append(sub.sid).append(" ");
  if (!m.reply.empty()) op.append(m.reply).append(" ");
  if (hmsg) op.append(std::to_string(hdr.size())).append(" ");
  op.append(std::to_string(hdr.size() + m.payload.size()));
  trace_line("->> [", op, "]");
  if (auto q = log::quote_payload(hdr, m.payload, payload_trace())) trace_line("->> MSG_PAYLOAD: ", *q, "");
}

log::payload_trace client_connection::payload_trace() const {
  const auto& o = srv_.opts();
  return {o.max_traced_msg_len, o.trace_headers};
}

void client_connection::kick() {
  auto self = shared_from_this();
  asio::post(transport_.get_executor(), [self] { self->write_signal_.cancel(); });
}

void client_connection::flush_kicks() {
  for (auto& k : kicks_) {
    if (k.get() == this) write_signal_.cancel();
    else k->kick();
  }
  kicks_.clear();
}

void client_connection::on_max_reached(const std::shared_ptr<subscription>& sub) {
  auto self = shared_from_this();
  asio::post(transport_.get_executor(), [self, sub] {
    auto it = self->subs_.find(sub->sid);
    if (it != self->subs_.end() && it->second == sub) {
      {
        std::lock_guard lk(self->info_mu_);
        self->subs_.erase(it);
      }
      self->num_subs_.store(self->subs_.size(), std::memory_order_relaxed);
      self->drop_sub(sub);
    }
  });
}

void client_connection::send_async(std::string bytes) {
  auto self = shared_from_this();
  asio::post(transport_.get_executor(), [self, b = std::move(bytes)] { self->send(b); });
}

void client_connection::close(close_reason reason, std::string err_text) {
  auto self = shared_from_this();
  asio::post(transport_.get_executor(), [self, reason, t = std::move(err_text)] { self->close_on_strand(reason, t); });
}

void client_connection::close_on_strand(close_reason reason, const std::string& err_text) {
  if (closed_) return;
  closed_ = true;
  close_reason_ = reason;
  srv_.record_closed({snapshot(true), std::chrono::system_clock::now(), to_string(reason)});
  if (reason == close_reason::stale_connection) srv_.counters().stale_connections.fetch_add(1, std::memory_order_relaxed);
  if (!err_text.empty()) {
    if (reason != close_reason::auth_violation) log_error(err_text);  // on_connect logged it
    send(protocol::err_line(err_text));
  }
  log::client().debug("{} - Client connection closed: {}", log_prefix_, to_string(reason));
  remove_all_subs();
  {
    std::lock_guard lk(out_mu_);
    closing_ = true;
    if (reason == close_reason::slow_consumer) drop_output_ = true;
  }
  write_signal_.cancel();
  liveness_timer_.cancel();
  stall_timer_.cancel();
  if (reason == close_reason::read_error || reason == close_reason::write_error ||
      reason == close_reason::slow_consumer || !loops_started_) {
    transport_.cancel();  // before the loops start: ends a TLS handshake in progress
  }
  srv_.remove_client(cid_);
}

void client_connection::log_error(std::string_view text) { log::client().error("{} - {}", log_prefix_, text); }

void client_connection::drop_sub(const std::shared_ptr<subscription>& sub) {
  if (log::tracing()) [[unlikely]] trace_line("<-> [DELSUB ", sub->sid, "]");
  sub->closed.store(true, std::memory_order_relaxed);
  sub->home->subs().remove(sub);
  for (const auto& sh : sub->shadows) {
    sh->closed.store(true, std::memory_order_relaxed);
    sh->import->from->subs().remove(sh);
  }
}

void client_connection::add_shadow_subs(const std::shared_ptr<subscription>& sub) {
  // nats-server's shadow subscriptions: interest in the exporter for each overlapping import.
  for (const auto& im : acc_->stream_imports()) {
    auto remote = im->remote_filter(sub->subject);
    if (!remote) continue;
    auto sh = std::make_shared<subscription>();
    sh->client = true;
    sh->subject = std::move(*remote);
    sh->queue = sub->queue;
    sh->sid = sub->sid;
    sh->owner = sub->owner;
    sh->import = im.get();
    if (im->from->subs().insert(sh)) sub->shadows.push_back(std::move(sh));
  }
}

bool client_connection::delivery_denied(std::string_view subject) const noexcept {
  return perms_ && perms_->delivery_denied(subject);
}

bool client_connection::publish_allowed(std::string_view subject) {
  bool allowed;
  if (auto it = pub_cache_.find(subject); it != pub_cache_.end()) {
    allowed = it->second;
  } else {
    allowed = perms_->publish_allowed(subject);
    if (pub_cache_.size() >= max_pub_cache) pub_cache_.clear();
    pub_cache_.emplace(subject, allowed);
  }
  if (allowed || !perms_->responses()) return allowed;
  // allow_responses: a reply to a message this client received, within its count and time.
  const auto& rp = *perms_->responses();
  std::lock_guard lk(out_mu_);
  auto it = replies_.find(subject);
  if (it == replies_.end()) return false;
  ++it->second.sent;
  if ((rp.max_msgs > 0 && it->second.sent > rp.max_msgs) ||
      (rp.expires.count() > 0 && std::chrono::steady_clock::now() - it->second.at > rp.expires)) {
    replies_.erase(it);
    return false;
  }
  return true;
}

void client_connection::remove_all_subs() {
  for (auto& [sid, sub] : subs_) drop_sub(sub);
  {
    std::lock_guard lk(info_mu_);
    subs_.clear();
  }
  num_subs_.store(0, std::memory_order_relaxed);
}

bool client_connection::check_auth_before_op() {
  if (connected_) return true;
  if (srv_.opts().auth_required()) {
    log_error(authenticator::failure_text({}));
    close_on_strand(close_reason::auth_violation, "Authorization Violation");
    return false;
  }
  if (!auth_timer_done_ && srv_.auth().required_for(transport_.is_websocket())) {
    // no_auth_user: an operation before CONNECT ends the auth timer, as in nats-server.
    auth_timer_done_ = true;
    liveness_timer_.cancel();
  }
  return true;
}

bool client_connection::on_pub(const protocol::pub_op& op) {
  if (log::tracing()) [[unlikely]] {
    if (auto q = log::quote_payload(op.headers, op.payload, payload_trace())) trace_line("<<- MSG_PAYLOAD: ", *q, "");
  }
  if (!check_auth_before_op()) return false;
  if (op.has_headers && !headers_) {
    log_error("message headers not supported");
    close_on_strand(close_reason::protocol_violation, {});
    return false;
  }
  in_msgs_.store(in_msgs_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  in_bytes_.store(in_bytes_.load(std::memory_order_relaxed) + op.headers.size() + op.payload.size(),
                  std::memory_order_relaxed);
  // nats-server reports a wildcard publish subject to a pedantic client but still routes it.
  if (pedantic_ && !protocol::is_valid_literal_subject(op.subject)) send(protocol::err_line("Invalid Publish Subject"));
  if (perms_ && perms_->restricts_publish() && !publish_allowed(op.subject)) [[unlikely]] {
    send(protocol::err_line("Permissions Violation for Publish to " + quoted(op.subject)));
    log_error("Publish Violation - Subject " + quoted(op.subject));
    return true;
  }
  if (!op.reply.empty() && is_reserved_reply(op.reply)) [[unlikely]] {
    send(protocol::err_line("Permissions Violation for Publish with Reply of " + quoted(op.reply)));
    log_error("Publish Violation - Reply " + quoted(op.reply));
    return true;
  }
  if (verbose_) send(protocol::ok_line);
  route(message_view{op.subject, op.reply, op.headers, op.payload});
  return !closed_;
}

void client_connection::route(const message_view& m) {
  if (acc_->has_service_imports()) set_publisher_rtt(rtt_ns_);  // strand: rtt_ns_ is ours
  set_publisher_user(&user_);  // strand: user_ only changes on it ($SYS.REQ.USER.INFO)
  auto result = acc_->subs().match(m.subject);
  auto st = route_to(*result, m, cid_, echo_, kicks_);
  set_publisher_user(nullptr);
  batch_out_msgs_ += st.to_clients;  // deliveries to internal subscribers are not counted
  batch_out_bytes_ += st.to_clients * (m.headers.size() + m.payload.size());
  if (!st.any_interest && !m.reply.empty() && no_responders_) {
    // No responders: a 503 status to this client only, on its subscription for the reply.
    auto replies = acc_->subs().match(m.reply);
    for (const auto& sp : replies->plain) {
      if (sp->owner.get() == this) {
        std::string hdr = protocol::header_builder().status(503).add("Nats-Subject", m.subject).finish();
        std::string out;
        protocol::append_delivery(out, m.reply, sp->sid, {}, hdr, {}, true);
        send(out);
        break;
      }
    }
  }
}

bool client_connection::on_sub(const protocol::sub_op& op) {
  ++sub_ops_;
  if (!check_auth_before_op()) return false;
  // Permissions come first, as in nats-server (an invalid subject can be a violation too);
  // the "_sys_" queue group is reserved for every client.
  subscribe_check chk;
  if (perms_) chk = perms_->can_subscribe(op.subject, op.queue);
  if (!chk.allowed || op.queue == "_sys_") [[unlikely]] {
    if (op.queue.empty()) {
      send(protocol::err_line("Permissions Violation for Subscription to " + quoted(op.subject)));
      log_error("Subscription Violation - Subject " + quoted(op.subject) + ", SID " + std::string(op.sid));
    } else {
      send(protocol::err_line("Permissions Violation for Subscription to " + quoted(op.subject) + " using queue " +
                              quoted(op.queue)));
      log_error("Subscription Violation - Subject " + quoted(op.subject) + ", Queue: " + quoted(op.queue) + ", SID " +
                std::string(op.sid));
    }
    return true;
  }
  if (chk.needs_delivery_filter) filter_deliveries.store(true, std::memory_order_release);
  // The queue group is not a subject: nats-server takes any token there.
  if (!protocol::is_valid_filter(op.subject)) {
    send(protocol::err_line("Invalid Subject"));
    return true;
  }
  std::string sid(op.sid);
  if (max_subs_ > 0 && subs_.size() >= max_subs_) {
    // nats-server checks the limit first (a repeated sid is refused too); the subscription is not
    // made, no +OK follows, the connection stays.
    log_error("maximum subscriptions exceeded");
    send(protocol::err_line("maximum subscriptions exceeded"));
    return true;
  }
  if (subs_.count(sid) == 0) {
    auto sub = std::make_shared<subscription>();
    sub->client = true;
    sub->subject = op.subject;
    sub->queue = op.queue;
    sub->sid = sid;
    sub->owner = shared_from_this();
    sub->home = acc_;
    if (acc_->subs().insert(sub)) {
      if (!acc_->stream_imports().empty()) add_shadow_subs(sub);
      if (auto* js = srv_.js(); js && acc_ == &srv_.js_account()) js->on_interest(sub->subject);
      {
        std::lock_guard lk(info_mu_);
        subs_.emplace(std::move(sid), std::move(sub));
      }
      num_subs_.store(subs_.size(), std::memory_order_relaxed);
    }
  }
  if (verbose_) send(protocol::ok_line);
  return true;
}

bool client_connection::on_unsub(const protocol::unsub_op& op) {
  ++sub_ops_;
  if (!check_auth_before_op()) return false;
  auto it = subs_.find(std::string(op.sid));
  if (it != subs_.end()) {
    auto& sub = it->second;
    if (op.max > 0 && op.max > sub->delivered.load(std::memory_order_relaxed)) {
      // nats-server counts what was already delivered towards the limit.
      sub->max_msgs = op.max;
      for (auto& sh : sub->shadows) sh->max_msgs = op.max;
    } else {
      drop_sub(sub);
      {
        std::lock_guard lk(info_mu_);
        subs_.erase(it);
      }
      num_subs_.store(subs_.size(), std::memory_order_relaxed);
    }
  }
  if (verbose_) send(protocol::ok_line);
  return true;
}

bool client_connection::on_connect(const protocol::connect_op& op) {
  {
    // nats-server's first RTT estimate: from accepting the connection to its CONNECT (until the
    // first PONG measures it).
    std::lock_guard lk(info_mu_);
    if (rtt_ns_ == 0)
      rtt_ns_ = std::max<std::int64_t>(1, std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now() - start_).count());
  }
  if (auto err = decode_connect(op.json, connect_opts_)) {
    // As nats-server: logged, and the connection closed without an -ERR.
    log_error(*err);
    close_on_strand(close_reason::protocol_violation, {});
    return false;
  }
  const auto& co = connect_opts_;
  verbose_ = co.verbose;
  pedantic_ = co.pedantic;
  echo_ = co.echo;
  {
    std::lock_guard lk(out_mu_);  // read by deliverers on other threads, under out_mu_
    headers_ = co.headers;
  }
  no_responders_ = co.no_responders;
  if (co.protocol < 0 || co.protocol > 1) {
    close_on_strand(close_reason::protocol_violation, "invalid client protocol");
    return false;
  }
  client_protocol_ = static_cast<int>(co.protocol);
  if (no_responders_ && !headers_) {
    close_on_strand(close_reason::protocol_violation, "no responders requires headers support");
    return false;
  }
  {
    std::lock_guard lk(info_mu_);
    name_ = co.name;
    lang_ = co.lang;
    version_ = co.version;
  }
  std::string user = co.user, pass = co.pass, token = co.auth_token;
  if (transport_.is_websocket()) {  // cookies fill in what CONNECT leaves out, field by field
    if (user.empty()) user = transport_.ws_cookies.user;
    if (pass.empty()) pass = transport_.ws_cookies.pass;
    if (token.empty()) token = transport_.ws_cookies.token;
  }
  const std::string nkey = co.nkey, sig = co.sig;
  const connect_credentials creds{user, pass, token, nkey, sig, nonce_, transport_.is_websocket()};
  std::string why;
  const auth_identity* id = srv_.auth().authenticate(creds, &why);
  if (id == nullptr) {
    if (!why.empty()) log::client().debug("{} - {}", log_prefix_, why);
    log_error(authenticator::failure_text(creds));
    close_on_strand(close_reason::auth_violation, "Authorization Violation");
    return false;
  }
  if (!connected_) {
    // The identity is fixed by the first CONNECT. Subscriptions made before it (only possible
    // without auth or with no_auth_user) stay in the account they were made in, as in
    // nats-server; deliverers read perms_ only after filter_deliveries, set after this.
    acc_ = id->acc;
    perms_ = id->perms;
    // max_subscriptions: the server's (0: none) and the account's limits {} (-1: none), the lower.
    max_subs_ = srv_.opts().max_subscriptions > 0 ? static_cast<std::size_t>(srv_.opts().max_subscriptions) : 0;
    for (const auto& a : srv_.opts().accounts) {
      if (a.name == acc_->name() && a.max_subscriptions > 0 &&
          (max_subs_ == 0 || static_cast<std::size_t>(a.max_subscriptions) < max_subs_))
        max_subs_ = static_cast<std::size_t>(a.max_subscriptions);
    }
    // nats-server's connection tag: "v<version>:<lang>:<name>" (the parts present), then the
    // account and user.
    std::string tag;
    for (const std::string* part : {&version_, &lang_, &name_}) {
      if (part->empty()) continue;
      if (!tag.empty()) tag += ':';
      if (part == &version_) tag += 'v';
      tag += *part;
    }
    {
      std::lock_guard lk(info_mu_);  // trace_line reads it from delivering threads
      if (!tag.empty()) log_prefix_ += " - " + quoted(tag);
      if (!id->log_tag.empty()) {
        log_prefix_ += " - " + id->log_tag;
      } else {
        // Without auth nats-server still labels the connection with what CONNECT claimed.
        const std::string label = !nkey.empty() ? "nkey:" + nkey : !user.empty() ? "user:" + user : !token.empty() ? "token" : "";
        if (!label.empty()) log_prefix_ += " - " + quoted(acc_->name() + "/" + label);
      }
    }
    {
      std::lock_guard lk(out_mu_);
      track_replies_ = perms_ && perms_->responses();
    }
    {
      std::lock_guard lk(info_mu_);
      user_ = id->user;
      nkey_user_ = id->nkey;
      account_name_ = acc_->name();
    }
    connected_ = true;
    liveness_timer_.cancel();  // ends the auth timeout; the ping loop re-arms
  }
  if (verbose_) send(protocol::ok_line);
  return true;
}

bool client_connection::on_ping() {
  if (!check_auth_before_op()) return false;
  send(protocol::pong_line);
  if (connected_ && !first_pong_sent_) {
    // Like nats-server: after the first PONG, clients speaking protocol 1 get an async INFO
    // that confirms the connection (connect_info) and names their account.
    first_pong_sent_ = true;
    if (client_protocol_ >= 1) {
      send(protocol::info_line(transport_.is_websocket() ? srv_.ws_info_json(cid_, ip_, true, acc_->name())
                                                         : srv_.info_json(cid_, ip_, true, false, acc_->name())));
    }
  }
  return true;
}

bool client_connection::on_pong() {
  pings_out_ = 0;
  if (ping_sent_at_.time_since_epoch().count() != 0) {
    auto rtt = std::chrono::steady_clock::now() - ping_sent_at_;
    std::lock_guard lk(info_mu_);
    rtt_ns_ = std::chrono::duration_cast<std::chrono::nanoseconds>(rtt).count();
  }
  return true;
}

bool client_connection::on_info(const protocol::info_op& op) {
  // nats-server decodes a client's INFO and ignores it; what is not JSON closes the connection.
  if (auto err = check_client_info(op.json)) {
    log_error(*err);
    close_on_strand(close_reason::protocol_violation, {});
    return false;
  }
  return true;
}

bool client_connection::on_err(const protocol::err_op& op) {
  log_error("Client Error " + std::string(op.text));
  close_on_strand(close_reason::protocol_violation, {});
  return false;
}

connection_snapshot client_connection::snapshot(bool with_subjects) const {
  connection_snapshot s;
  s.cid = cid_;
  s.ip = ip_;
  s.port = remote_port_;
  s.websocket = transport_.is_websocket();
  s.start = start_;
  s.last_activity = std::chrono::system_clock::time_point(
      std::chrono::duration_cast<std::chrono::system_clock::duration>(
          std::chrono::nanoseconds(last_activity_ns_.load(std::memory_order_relaxed))));
  {
    std::lock_guard lk(info_mu_);
    s.name = name_;
    s.lang = lang_;
    s.version = version_;
    s.tls_version = tls_version_;
    s.tls_cipher = tls_cipher_;
    s.rtt_ns = rtt_ns_;
    s.user = user_;
    s.nkey_user = nkey_user_;
    s.account = account_name_;
    if (with_subjects)
      for (const auto& [sid, sub] : subs_)
        s.subs.push_back({sub->subject, sub->queue, sub->sid, sub->delivered.load(std::memory_order_relaxed), sub->max_msgs});
  }
  {
    std::lock_guard lk(out_mu_);
    s.out_msgs = out_msgs_;
    s.out_bytes = out_bytes_;
    s.pending_bytes = out_.size() + in_flight_;
  }
    s.in_msgs = in_msgs_.load(std::memory_order_relaxed);
  s.in_bytes = in_bytes_.load(std::memory_order_relaxed);
  s.subscriptions = num_subs_.load(std::memory_order_relaxed);
  return s;
}

}  // namespace jb::server
