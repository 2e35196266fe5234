#pragma once
// The per-stream message store: the interface JetStream streams sit on (nats-server store.go).
//
// Two implementations: memory_stream_store (memory_store.hpp) and rocksdb_stream_store
// (rocksdb_store.hpp). Both obey exactly the contract below; the typed tests in
// tests/unit/storage run every case against both.
//
// Thread affinity: a stream_store is NOT thread-safe. Use it from one executor (strand) at a time.
// Different stream stores of one environment may be used from different threads concurrently.
//
// Sequences and state follow nats-server:
//  - a fresh stream has first_seq = 0, last_seq = 0; the first append gets sequence 1;
//  - when a stream becomes empty (remove/purge/expiry) first_seq = last_seq + 1 and first_ts = 0;
//    last_seq and last_ts are kept, so sequences are never reused;
//  - bytes follow nats-server's accounting: the file store (RocksDB) counts fileStoreMsgSize
//    (30 + len(subject) + len(payload), plus 4 + len(headers) when headers are present),
//    the memory store counts memStoreMsgSize (16 + len(subject) + len(headers) + len(payload)).
//  - timestamps are nanoseconds since the Unix epoch, supplied by the caller.
#include "storage/errc.hpp"

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace jb::storage {

using stream_seq = std::uint64_t;
using timestamp_ns = std::int64_t;

enum class storage_type : std::uint8_t { file = 1, memory = 2 };

struct stored_msg {
  stream_seq seq = 0;
  timestamp_ns ts = 0;
  timestamp_ns expires = 0;  // per-message TTL deadline, 0 = none
  std::string subject;
  std::string hdr;
  std::string data;
};

struct append_request {
  std::string_view subject;  // must satisfy protocol::is_valid_subject
  std::string_view hdr;      // raw NATS/1.0 header block, may be empty
  std::string_view data;
  timestamp_ns ts = 0;
  std::int64_t ttl_ns = 0;  // > 0: the message expires at ts + ttl_ns (see expire_ttl)
};

struct stream_state {
  std::uint64_t msgs = 0;
  std::uint64_t bytes = 0;
  stream_seq first_seq = 0;
  timestamp_ns first_ts = 0;
  stream_seq last_seq = 0;
  timestamp_ns last_ts = 0;
  std::uint64_t num_deleted = 0;     // interior gaps: last - first + 1 - msgs (0 when empty)
  std::vector<stream_seq> deleted;   // filled only with state_detail::with_deleted (O(msgs))
  std::uint64_t num_subjects = 0;
  friend bool operator==(const stream_state&, const stream_state&) = default;
};

enum class state_detail { summary, with_deleted };

// Purge request (JetStream STREAM.PURGE). `filter` empty means every subject.
//  - up_to > 0: remove matching messages with seq < up_to (nats "seq"). When no filter is given
//    and up_to > last_seq + 1, the stream is emptied and first_seq becomes up_to.
//  - keep > 0: keep the newest `keep` matching messages; with a filter, per matched subject
//    (as nats-server does), without a filter over the whole stream.
//  - up_to and keep together are invalid_argument (nats rejects them too).
struct purge_request {
  std::string filter;
  stream_seq up_to = 0;
  std::uint64_t keep = 0;
};

enum class last_per_subject { no, yes };

// A set of subject filters; an empty set matches every subject.
using filter_set = std::span<const std::string>;

class stream_store {
 public:
  virtual ~stream_store() = default;

  [[nodiscard]] virtual storage_type type() const noexcept = 0;
  [[nodiscard]] virtual const std::string& name() const noexcept = 0;

  // Appends one message, durable per the environment's sync policy when this returns.
  // Returns its sequence, or bad_subject, io_error, closed.
  [[nodiscard]] virtual result<stream_seq> append(const append_request& req) = 0;

  // Group commit: appends all requests atomically (one RocksDB WriteBatch and, with
  // sync always, one fsync) and returns the first sequence; request i gets first + i.
  // Validates every subject first; on any error nothing is appended.
  [[nodiscard]] virtual result<stream_seq> append_batch(std::span<const append_request> reqs) = 0;
  // True when an append that returned is in the WAL but not yet fsynced, and becomes durable
  // only once the environment's sync_wal_async() reports back (sync_always with the asynchronous
  // group commit, rocksdb_env_options::async_append_sync).
  [[nodiscard]] virtual bool appends_await_sync() const noexcept { return false; }

  // msg_not_found when seq is not stored (removed, purged or out of range).
  [[nodiscard]] virtual result<stored_msg> load(stream_seq seq) const = 0;

  // First message with seq >= start whose subject matches any filter (all when empty).
  // msg_not_found when there is none.
  [[nodiscard]] virtual result<stored_msg> load_next(stream_seq start, filter_set filters) const = 0;
  [[nodiscard]] result<stored_msg> load_next(stream_seq start, std::string_view filter) const;

  // Up to max_msgs messages (stopping once max_bytes of payload and headers are read) with
  // seq >= start matching any filter, in sequence order, for readers that walk the stream (a
  // consumer's read-ahead): one scan instead of a lookup per message. `next` is where to continue:
  // past the last sequence examined, matching or not. An empty `msgs` with next > last_seq means
  // there is nothing more. Returns bad_subject / closed like load_next.
  struct range {
    std::vector<stored_msg> msgs;
    stream_seq next = 0;
  };
  [[nodiscard]] virtual result<range> load_range(stream_seq start, filter_set filters, std::size_t max_msgs,
                                                 std::size_t max_bytes) const;

  // The sequence of the newest message of every subject matching any filter (all when empty),
  // ascending: the start set of DeliverLastPerSubject.
  [[nodiscard]] virtual std::vector<stream_seq> last_seqs(filter_set filters) const;

  // Newest message whose subject matches the filter ("" or ">" = any). msg_not_found if none.
  [[nodiscard]] virtual result<stored_msg> load_last(std::string_view filter) const = 0;

  // Removes one message. Returns false (not an error) if it was not stored.
  [[nodiscard]] virtual result<bool> remove(stream_seq seq) = 0;

  // Returns the number of messages purged. invalid_argument / bad_subject on a bad request.
  [[nodiscard]] virtual result<std::uint64_t> purge(const purge_request& req) = 0;

  [[nodiscard]] virtual stream_state state(state_detail d = state_detail::summary) const = 0;

  // subject -> number of stored messages, for subjects matching the filter ("" = all).
  [[nodiscard]] virtual std::map<std::string, std::uint64_t> subject_counts(std::string_view filter) const = 0;

  // Messages with seq >= start matching any filter; with last_per_subject::yes, the number of
  // matching subjects whose newest message has seq >= start (DeliverLastPerSubject).
  [[nodiscard]] virtual std::uint64_t num_pending(stream_seq start, filter_set filters,
                                                  last_per_subject lps) const = 0;

  // ---- limits: each call removes in one atomic write and returns how many it removed ----
  // Removes the oldest messages until msgs <= max.
  [[nodiscard]] virtual result<std::uint64_t> enforce_max_msgs(std::uint64_t max) = 0;
  // Removes the oldest messages until bytes <= max.
  [[nodiscard]] virtual result<std::uint64_t> enforce_max_bytes(std::uint64_t max) = 0;
  // Removes messages with ts < cutoff, scanning from the first sequence and stopping at the first
  // newer one (timestamps are assumed to grow with sequence, as nats-server assumes): O(removed).
  [[nodiscard]] virtual result<std::uint64_t> expire_before(timestamp_ns cutoff) = 0;
  // Removes the oldest messages of every subject (or only `subject` when given, cheap after an
  // append) until it holds at most `max`.
  [[nodiscard]] virtual result<std::uint64_t> enforce_max_msgs_per_subject(
      std::uint64_t max, std::optional<std::string_view> subject = std::nullopt) = 0;
  // Removes messages whose TTL deadline is <= now. O(removed) through a deadline index.
  [[nodiscard]] virtual result<std::uint64_t> expire_ttl(timestamp_ns now) = 0;
  // Earliest TTL deadline of a stored message, for arming a timer.
  [[nodiscard]] virtual std::optional<timestamp_ns> next_ttl_deadline() const = 0;
  // Sets the next sequence: removes every message and makes first_seq = seq, last_seq = seq - 1
  // (stream config first_seq). seq must be >= 1.
  [[nodiscard]] virtual result<std::uint64_t> set_first_seq(stream_seq seq) = 0;
  // Advances last_seq to `last` without storing anything (nats SkipMsgs; mirrors use it to keep
  // their origin's sequences): the skipped sequences count as deleted, and an empty stream's
  // first_seq becomes last + 1. last_ts is kept (set to `now` when it was 0). Nothing happens
  // when last <= last_seq. Returns closed or io_error.
  [[nodiscard]] virtual result<void> skip_to(stream_seq last, timestamp_ns now) = 0;
};

// Record sizes used for state.bytes (see the header comment).
[[nodiscard]] constexpr std::uint64_t file_store_msg_size(std::size_t subj, std::size_t hdr,
                                                          std::size_t data) noexcept {
  return hdr == 0 ? 30 + subj + data : 34 + subj + hdr + data;
}
[[nodiscard]] constexpr std::uint64_t memory_store_msg_size(std::size_t subj, std::size_t hdr,
                                                            std::size_t data) noexcept {
  return 16 + subj + hdr + data;
}

}  // namespace jb::storage
