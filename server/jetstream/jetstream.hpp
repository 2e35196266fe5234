#pragma once
// JetStream: streams stored through storage::store_env, consumers delivering from them, and the
// $JS.API request surface, all as internal subscribers of the router.
//
// Thread affinity: every JetStream object (streams, consumers, stores, timers) lives on one
// strand, `executor()`. Messages reach it from publishers' threads through enqueue(), which only
// copies them into the inbox under a mutex; the strand drains the inbox in batches, so ingest
// appends are committed as one storage batch (group commit) before their PubAcks go out.
#include <chrono>
#include <cstdint>
#include <map>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/json/object.hpp>

#include "server/jetstream/api_errors.hpp"
#include "server/jetstream/consumer_config.hpp"
#include "server/jetstream/stream_config.hpp"
#include "server/subscription.hpp"
#include "storage/store_env.hpp"

namespace jb::server {
class server;
}

namespace jb::jetstream {

class jetstream;
class stream;
class consumer;

using executor_type = boost::asio::strand<boost::asio::io_context::executor_type>;

// What an internal subscription feeds.
// api_sink: the catch-all under $JS.API.> that swallows requests no API subscription handles, as
// nats-server does (its dispatcher drops them: the requester times out), except DIRECT.GET ones,
// which get no-responders when no stream answers them.
// snapshot: the acks of a snapshot's chunks and the chunks of a restore ($JS.SNAPSHOT.>).
enum class target : std::uint8_t { api, ingest, ack, flow_control, direct_get, api_sink, snapshot };

// A message copied out of a publisher's read buffer into the JetStream inbox.
struct inbound_msg {
  target kind = target::api;
  std::string stream;  // ingest / direct_get
  std::string buf;     // subject, reply, headers, payload back to back
  std::uint32_t subject_len = 0, reply_len = 0, hdr_len = 0;
  std::int64_t ts = 0;  // arrival, unix ns
  [[nodiscard]] std::string_view subject() const { return {buf.data(), subject_len}; }
  [[nodiscard]] std::string_view reply() const { return {buf.data() + subject_len, reply_len}; }
  [[nodiscard]] std::string_view headers() const { return {buf.data() + subject_len + reply_len, hdr_len}; }
  [[nodiscard]] std::string_view payload() const {
    std::size_t off = subject_len + reply_len + hdr_len;
    return {buf.data() + off, buf.size() - off};
  }
};

// The router-facing side of one internal subscription.
class js_subscriber final : public server::subscriber {
 public:
  js_subscriber(jetstream& js, target kind, std::string stream) : js_(js), kind_(kind), stream_(std::move(stream)) {}
  bool deliver(server::subscription& sub, const server::message_view& m) override;
  void kick() override;

 private:
  jetstream& js_;
  target kind_;
  std::string stream_;
};

// The JetStream account's limits (`accounts { A { jetstream { max_mem, max_file, max_streams, ... } } }`;
// -1: none) and the server's (`jetstream { max_memory_store, max_file_store }`).
struct jetstream_limits {
  std::int64_t max_memory = -1, max_store = -1, max_streams = -1, max_consumers = -1, max_ack_pending = -1;
  std::int64_t memory_max_stream_bytes = -1, store_max_stream_bytes = -1;
  bool max_bytes_required = false;
  std::int64_t server_max_memory = -1, server_max_store = -1;
};

struct jetstream_options {
  std::string store_dir;  // <store_dir>/jetstream holds the RocksDB store
  bool in_memory = false;
  bool sync_always = false;
  std::chrono::milliseconds sync_interval{std::chrono::minutes(2)};
  std::int64_t max_payload = 1024 * 1024;  // the server's; bounds messages the server writes itself
  jetstream_limits limits;
};

class jetstream {
 public:
  jetstream(server::server& srv, jetstream_options opts);
  ~jetstream();

  // Opens the store, restores streams and consumers, subscribes the API. Throws
  // std::runtime_error with a clear message when the store cannot be opened.
  void start();
  // Stops timers and drops internal subscriptions (on the strand). Blocks until done.
  void stop();

  // Any thread.
  bool enqueue(target kind, const std::string& stream, const server::message_view& m);
  void kick();
  // A subscription appeared: push consumers waiting for interest may start delivering.
  void on_interest(std::string_view subject);
  // Strand only: stream `name` stored messages or was created; the streams mirroring or sourcing
  // it get a sync step.
  void on_stream_appended(std::string_view name);

  // Strand only.
  [[nodiscard]] executor_type& executor() noexcept { return strand_; }
  [[nodiscard]] server::server& srv() noexcept { return srv_; }
  // Publishes an internal message: routed on `route_subject`, seen by receivers as `subject`.
  void publish(std::string_view route_subject, std::string_view subject, std::string_view reply,
               std::string_view headers, std::string_view payload);
  void publish(std::string_view subject, std::string_view payload) { publish(subject, subject, {}, {}, payload); }
  // Runs `then(ok)` on the strand once every append made so far is fsynced (immediately-posted
  // when the store has nothing to wait for).
  void after_wal_sync(std::function<void(bool)> then);
  // A JetStream advisory ($JS.EVENT.*): nats-server's TypedEvent (type, id, timestamp) followed by
  // `fields`; built only when someone listens on `subject`.
  void advisory(std::string_view subject, std::string_view type, boost::json::object fields);
  // $JS.EVENT.ADVISORY.STREAM.<event>.<stream> / CONSUMER.<event>.<stream>.<consumer> (stream_action,
  // consumer_action; event CREATED/UPDATED/DELETED, action create/modify/delete).
  void stream_advisory(std::string_view stream, std::string_view event, std::string_view action);
  void consumer_advisory(std::string_view stream, std::string_view consumer, std::string_view event,
                         std::string_view action);
  // Subscribes an internal handler; returns the subscription (remove with unsubscribe()).
  std::shared_ptr<server::subscription> subscribe(const std::string& subject, target kind, const std::string& stream,
                                                  const std::string& queue = {});
  void unsubscribe(const std::shared_ptr<server::subscription>& sub);
  [[nodiscard]] bool has_interest(std::string_view subject) const;
  [[nodiscard]] storage::store_env& env() noexcept { return *env_; }
  [[nodiscard]] std::int64_t now_ns() const;
  void flush_kicks();
  // End of every task on the strand: commit deferred consumer-state writes when due, then send
  // the ack confirmations that waited for them, then wake the receivers of everything published.
  void end_of_task();
  // Consumer state (deliveries, acks) is committed at most once per consumer_state_window, and at
  // once when `now` (an ack_sync waits on it, sync_interval: always, shutdown). Between commits a
  // delivery acked in time is never written (see store_env::begin_deferred); a kill -9 loses at
  // most the window's plain acks, which are redelivered (nats-server flushes consumer state lazily
  // too). Published messages are not affected: their durability is the stream's.
  void commit_consumer_state(bool now);
  static constexpr std::chrono::milliseconds consumer_state_window{20};
  // An ack confirmation (clients' ack_sync) sent once the ack is durable.
  void confirm_after_commit(std::string_view reply) { confirms_.emplace_back(reply); }

  // Monitoring summary (any thread): refreshed by the strand after each batch of work.
  struct usage {
    std::uint64_t memory = 0, storage = 0, streams = 0, consumers = 0, messages = 0, bytes = 0;
    std::uint64_t api_total = 0, api_errors = 0;
    struct stream_usage {
      std::string name;
      std::uint64_t messages = 0, bytes = 0;
    };
    struct consumer_usage {
      std::string stream, name;
      std::uint64_t num_pending = 0, num_ack_pending = 0, ack_floor = 0;
    };
    std::vector<stream_usage> per_stream;
    std::vector<consumer_usage> per_consumer;
  };
  [[nodiscard]] usage snapshot_usage();
  // Strand only: /jsz's account_details entry of the JetStream account (nats-server's
  // AccountDetail): its usage and API counters, with `streams` its stream_detail (stream config
  // with `config`), with `consumers` each stream's consumer_detail (consumer config with `config`).
  [[nodiscard]] boost::json::object account_detail(bool streams, bool consumers, bool config);
  // Strand only: whether stream `stream` (and its consumer `consumer`, when not empty) exist.
  [[nodiscard]] std::pair<bool, bool> has_assets(const std::string& stream, const std::string& consumer);
  [[nodiscard]] const jetstream_options& options() const noexcept { return opts_; }
  // Where data lives (<store_dir>/jetstream, or ":memory:") and the resource limits reported.
  [[nodiscard]] const std::string& store_path() const noexcept { return store_path_; }
  [[nodiscard]] std::int64_t max_memory() const noexcept { return max_memory_; }
  [[nodiscard]] std::int64_t max_storage() const noexcept { return max_storage_; }

 private:
  friend class stream;
  friend class consumer;
  void drain();
  // The store of a new (empty) directory, opened by opener_ (or the error to stop the server with).
  void env_opened(std::unique_ptr<storage::store_env> env, const std::string& error);
  void handle_api(const inbound_msg& m);
  void handle_ack(const inbound_msg& m);
  void handle_flow_control(const inbound_msg& m);
  void handle_direct_get(const inbound_msg& m);
  void flush_ingest();
  void refresh_usage();

  // API handlers.
  void respond(std::string_view reply, boost::json::object body, bool is_error);
  void respond_error(std::string_view reply, const char* type, const api_error& e);
  void api_info(const inbound_msg& m);
  void api_stream_create(const inbound_msg& m, std::string_view name, bool update);
  void api_stream_info(const inbound_msg& m, std::string_view name);
  void api_stream_delete(const inbound_msg& m, std::string_view name);
  void api_stream_names(const inbound_msg& m, bool list);
  void api_stream_purge(const inbound_msg& m, std::string_view name);
  void api_stream_msg_get(const inbound_msg& m, std::string_view name);
  void api_stream_msg_delete(const inbound_msg& m, std::string_view name);
  void api_consumer_create(const inbound_msg& m, std::string_view stream, std::string_view name,
                           std::string_view filter, bool durable_api, bool has_name_token);
  void api_consumer_info(const inbound_msg& m, std::string_view stream, std::string_view name);
  void api_consumer_delete(const inbound_msg& m, std::string_view stream, std::string_view name);
  void api_consumer_names(const inbound_msg& m, std::string_view stream, bool list);
  void api_consumer_pause(const inbound_msg& m, std::string_view stream, std::string_view name);
  void api_consumer_unpin(const inbound_msg& m, std::string_view stream, std::string_view name);
  void api_consumer_next(const inbound_msg& m, std::string_view stream, std::string_view name);
  // Snapshots and restores (snapshot.cpp).
  struct snapshot_session;
  struct restore_session;
  void api_stream_snapshot(const inbound_msg& m, std::string_view name);
  void api_stream_restore(const inbound_msg& m, std::string_view name);
  void handle_snapshot(const inbound_msg& m);
  void snapshot_await_receiver(const std::string& id, std::chrono::steady_clock::time_point until);
  void snapshot_pump(snapshot_session& s);
  void snapshot_produce(snapshot_session& s);
  void snapshot_end(const std::string& id, std::string_view status);
  void restore_chunk(restore_session& r, const inbound_msg& m);
  void restore_end(const std::string& id);
  [[nodiscard]] api_error restore_apply(restore_session& r, stream*& created);

  stream* find_stream(std::string_view name);
  // Account and server limits (jetstream_limits) on stream create/update and on publish.
  api_error check_stream_limits(const stream_config& cfg, const stream_config* old) const;
  api_error check_publish_resources(storage_kind kind, std::uint64_t add, std::uint64_t staged) const;
  void refresh_linked();  // after streams are added, updated or removed
  boost::json::object stream_info_json(stream& s, bool with_cluster);

  server::server& srv_;
  jetstream_options opts_;
  executor_type strand_;
  std::string store_path_;
  std::int64_t max_memory_ = 0, max_storage_ = 0;
  std::unique_ptr<storage::store_env> env_;
  std::map<std::string, std::unique_ptr<stream>, std::less<>> streams_;
  std::vector<stream*> linked_;  // streams with a mirror or sources
  std::vector<std::shared_ptr<server::subscription>> api_subs_;
  std::vector<std::shared_ptr<server::subscriber>> kicks_;
  std::vector<std::string> confirms_;
  std::uint64_t api_total_ = 0, api_errors_ = 0;
  const inbound_msg* api_request_ = nullptr;  // the API request being answered (audit advisory)
  std::vector<stream*> ingest_dirty_;  // streams with staged appends in this drain
  std::map<std::string, std::unique_ptr<snapshot_session>, std::less<>> snapshots_;  // by id
  std::map<std::string, std::unique_ptr<restore_session>, std::less<>> restores_;    // by id

  std::chrono::steady_clock::time_point last_detail_{};
  boost::asio::steady_timer detail_timer_;
  bool detail_timer_armed_ = false;
  std::chrono::steady_clock::time_point last_state_commit_{};
  boost::asio::steady_timer state_timer_;
  bool state_timer_armed_ = false;
  std::mutex usage_mu_;
  usage usage_;  // guarded by usage_mu_

  std::mutex inbox_mu_;
  std::vector<inbound_msg> inbox_;  // guarded
  bool drain_scheduled_ = false;    // guarded
  std::vector<inbound_msg> work_;   // strand: the batch being drained

  // A new, empty store directory holds no stream, so its database is opened on opener_ while the
  // server starts listening; until env_opened() runs, drain() leaves the inbox untouched (only
  // JetStream API requests can be in it: no stream exists to capture a publish).
  bool env_pending_ = false;  // strand (set before the io threads start)
  bool stopped_ = false;      // strand
  std::jthread opener_;       // last member: joined before everything it posts to goes away
};

}  // namespace jb::jetstream
