#pragma once
// One stream: its config, its store, its ingest (header checks, de-duplication, limits) and its
// consumers. Lives on the JetStream strand.
#include <chrono>
#include <cstdint>
#include <deque>
#include <limits>
#include <map>
#include <set>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <boost/asio/steady_timer.hpp>

#include "server/jetstream/counter.hpp"
#include "server/jetstream/jetstream.hpp"
#include "server/jetstream/stream_sources.hpp"

namespace jb::jetstream {

// A Nats-TTL in ns, capped at ~146 years so that a timestamp plus the TTL stays inside int64
// (a TTL of 9223372037 s wrapped negative, and a sourcing stream then failed to store the batch
// holding it). Seconds past int64 are invalid, as nats-server's parseInt64 makes them.
constexpr std::int64_t max_ttl_ns = std::numeric_limits<std::int64_t>::max() / 2;
inline std::optional<std::int64_t> ttl_seconds_ns(std::uint64_t secs) {
  if (secs > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) return std::nullopt;
  if (secs >= static_cast<std::uint64_t>(max_ttl_ns / 1'000'000'000)) return max_ttl_ns;
  return static_cast<std::int64_t>(secs) * 1'000'000'000;
}

class stream {
 public:
  stream(jetstream& js, stream_config cfg, std::shared_ptr<storage::stream_store> store, std::int64_t created_ns);
  ~stream();

  void start();  // subscribe ingest (and direct get), arm timers, apply first_seq
  void stop();   // unsubscribe, cancel timers, stop consumers

  [[nodiscard]] const stream_config& config() const noexcept { return cfg_; }
  [[nodiscard]] storage::stream_store& store() noexcept { return *store_; }
  [[nodiscard]] std::int64_t created() const noexcept { return created_; }
  void set_config(stream_config cfg);  // update (subscriptions follow the new subjects)

  // Ingest: stage one published message (checks happen here, errors answered at once).
  void stage(const inbound_msg& m);
  // Commits staged messages (one storage batch), sends PubAcks, applies limits, wakes consumers.
  void flush();
  [[nodiscard]] bool has_staged() const noexcept { return !staged_.empty(); }

  // Removes a message for retention (work queue / interest) or MSG.DELETE.
  void remove_msg(std::uint64_t seq);
  // After any removal or purge: consumers may need to skip ahead.
  void on_purged();
  // Interest/work-queue retention: drop `seq` when no consumer still needs it.
  void check_retention(std::uint64_t seq, const std::string& subject);

  // The most recently stored messages, kept in memory so consumers reading the tail of the
  // stream (the common case) need no storage read. Contiguous: any removal clears it.
  // nullptr when `seq` is not cached.
  [[nodiscard]] const storage::stored_msg* recent(std::uint64_t seq) const noexcept {
    if (recent_.empty() || seq < recent_.front().seq || seq > recent_.back().seq) return nullptr;
    return &recent_[seq - recent_.front().seq];
  }
  [[nodiscard]] bool recent_covers(std::uint64_t seq) const noexcept {
    return !recent_.empty() && seq >= recent_.front().seq;
  }
  [[nodiscard]] std::uint64_t recent_last() const noexcept { return recent_.empty() ? 0 : recent_.back().seq; }
  // The last sequence consumers may deliver: the store's last, or with sync_interval: always the
  // last one fsynced (appends awaiting the pipelined group commit are not delivered yet, as
  // nats-server delivers nothing it has not synced).
  [[nodiscard]] std::uint64_t visible_last() const {
    return unsynced_from_ != 0 ? unsynced_from_ - 1 : store_->state().last_seq;
  }
  void invalidate_recent() noexcept {
    recent_.clear();
    recent_bytes_ = 0;
  }

  // ---- mirror and sources (stream_sources.cpp) ----
  [[nodiscard]] bool has_links() const noexcept { return mirror_.has_value() || !sources_.empty(); }
  // True when this stream mirrors or sources the local stream `origin`.
  [[nodiscard]] bool reads_from(std::string_view origin) const;
  // Posts one sync step (at most one pending): copies what is new in the origins.
  void schedule_link_sync();
  // The origin was deleted: its links report `stream not found` until it is back.
  void on_origin_deleted(std::string_view origin);
  // STREAM.INFO `mirror` (null when not a mirror) and `sources` (null when none).
  [[nodiscard]] boost::json::value mirror_info() const;
  [[nodiscard]] boost::json::value sources_info() const;

  std::map<std::string, std::unique_ptr<consumer>, std::less<>>& consumers() noexcept { return consumers_; }
  consumer* find_consumer(std::string_view name);
  void delete_consumer(std::string_view name);
  void wake_consumers();

 private:
  struct staged_msg {
    std::string subject;
    std::string hdr;
    std::string data;
    std::string reply;
    std::string msg_id;
    std::int64_t ts = 0;
    std::int64_t ttl = 0;
    std::string rollup;  // "", "sub", "all"
    std::uint64_t prev_subject_seq = 0;  // republish: Nats-Last-Sequence
    std::string batch_id;  // atomic batch commit: the ack names the batch
    std::size_t batch_count = 0;
    std::string counter_value;  // counter streams: the subject's new total, for the PubAck
  };
  // Counter streams: the running total per subject of what is staged but not yet stored.
  struct counter_running {
    std::string total;
    counter::source_totals sources;
  };
  api_error apply_counter(const std::string& subject, std::string_view hdr, std::string_view body,
                          std::string incr, staged_msg& sm);
  void clear_staged();
  struct pending_batch {
    std::vector<inbound_msg> msgs;
    std::int64_t last_ns = 0;
  };
  api_error stage_one(const inbound_msg& m, std::string_view reply, bool in_batch);
  // ---- message schedules (stream_schedules.cpp) ----
  // Publish checks for the Nats-Schedule* and Nats-Scheduler headers (nats-server's order); a
  // schedule gets `Nats-Rollup: sub` added, in `sm.hdr`, and `hdr` then views it.
  api_error check_schedule_headers(std::string_view& hdr, const std::string& subject, std::int64_t now, staged_msg& sm);
  // Store hook, in sequence order: a schedule message (re)arms its subject, any other message on
  // it (not itself a fired one) cancels it, a fired message moves its schedule to the next time.
  void schedules_on_stored(const std::string& subject, std::string_view hdr, std::uint64_t seq, std::int64_t ts);
  void rebuild_schedules();  // from the stored messages (stream start)
  void arm_schedule_timer();
  void fire_schedules();
  // Stages one message generated by a schedule (no publish checks, as nats-server's `sourced`).
  void stage_fired(std::string subject, std::string hdr, std::string data);
  void republish(const staged_msg& m, std::uint64_t seq);
  void stage_batch(const inbound_msg& m, std::string_view reply, std::string_view id);
  void arm_age_timer();
  // Subject delete markers (subject_delete_marker_ttl): the subjects before an expiry, and the
  // markers for those the expiry emptied.
  std::map<std::string, std::uint64_t> marker_candidates();
  void write_delete_markers(const std::map<std::string, std::uint64_t>& before);
  void arm_ttl_timer();
  // nullptr: check every subject (config change); otherwise the subjects just appended.
  void enforce_limits_after_append(const std::vector<std::string>* appended_subjects = nullptr);
  void pub_error(std::string_view reply, const api_error& e);
  std::uint64_t last_seq_for_subject(std::string_view subject);
  // Discard-new limits for one more message of this size (counts it as staged when accepted).
  api_error check_discard_new(std::string_view subject, std::size_t hdr_size, std::size_t data_size);
  // Mirrors and sources.
  void init_links(const stream_config* old_cfg);
  void find_source_positions(const std::vector<source_link*>& links);
  void sync_links();
  // One step for one link; copies at most `budget` messages (decremented). Returns true when the
  // origin has more to copy.
  bool sync_link(source_link& l, std::size_t& budget);
  void position_link(source_link& l, stream& origin);
  // Stages one copied message; false when discard-new limits refuse it.
  bool stage_copied(const source_link& l, const storage::stored_msg& m);
  void update_mirror_direct();
  [[nodiscard]] bool links_blocked() const noexcept;
  [[nodiscard]] boost::json::object link_json(const source_link& l) const;
  void prune_dedupe(std::int64_t now);

  jetstream& js_;
  std::shared_ptr<int> life_ = std::make_shared<int>(0);  // see consumer::life_
  stream_config cfg_;
  std::shared_ptr<storage::stream_store> store_;
  std::int64_t created_;
  std::vector<std::shared_ptr<server::subscription>> subs_;
  std::map<std::string, std::unique_ptr<consumer>, std::less<>> consumers_;
  boost::asio::steady_timer age_timer_, ttl_timer_, sched_timer_;
  struct sched_entry {
    std::uint64_t seq = 0;  // the schedule message
    std::int64_t due = 0;   // unix ns
  };
  std::map<std::string, sched_entry, std::less<>> schedules_;  // schedule subject -> entry
  std::set<std::string, std::less<>> sched_inflight_;  // fired, waiting for the generated message to store
  bool sched_changed_ = false;
  bool sched_armed_ = false;
  std::chrono::steady_clock::time_point sched_deadline_{};

  std::vector<staged_msg> staged_;
  std::unordered_map<std::string, counter_running> staged_counters_;
  std::unordered_map<std::string, std::uint64_t> staged_subject_last_;  // subject -> staged seq
  std::uint64_t staged_bytes_ = 0;
  std::uint64_t staged_store_bytes_ = 0;  // what staged_ will add to the store (account limits)
  [[nodiscard]] std::uint64_t store_size(std::string_view subject, std::size_t hdr, std::size_t data) const;
  // Nats-Msg-Id de-duplication within duplicate_window.
  std::unordered_map<std::string, std::uint64_t> dedupe_;
  std::deque<std::pair<std::int64_t, std::string>> dedupe_order_;
  std::string last_msg_id_;
  std::map<std::string, pending_batch> batches_;
  std::set<std::string> marker_subjects_;
  std::optional<source_link> mirror_;
  std::vector<source_link> sources_;
  bool link_sync_posted_ = false;
  boost::asio::steady_timer link_retry_timer_;
  std::vector<std::shared_ptr<server::subscription>> mirror_direct_subs_;
  std::deque<storage::stored_msg> recent_;
  std::uint64_t unsynced_from_ = 0;   // first sequence whose fsync is pending (0: none)
  std::uint64_t syncs_in_flight_ = 0;  // batches written, waiting for the sync thread
  std::size_t recent_bytes_ = 0;  // subjects whose newest message is our delete marker
};

}  // namespace jb::jetstream
