#pragma once
// Durable consumer state (nats-server ConsumerStore): delivered and ack-floor sequence pairs, the
// pending set (stream seq -> consumer seq and delivery time) and redelivery counts.
//
// Every update is O(1) persisted writes: one key per pending entry and one small fixed-size
// record for the sequence pairs, so an ack never rewrites the state of 100,000 pending messages.
// The whole state is mirrored in memory (loaded once at open, O(pending)).
//
// Thread affinity: NOT thread-safe; use from the consumer's executor only.
#include "storage/errc.hpp"
#include "storage/stream_store.hpp"

#include <cstdint>
#include <map>
#include <string>

namespace jb::storage {

using consumer_seq = std::uint64_t;

struct seq_pair {
  consumer_seq consumer = 0;
  stream_seq stream = 0;
  friend bool operator==(const seq_pair&, const seq_pair&) = default;
};

struct pending_entry {
  consumer_seq seq = 0;  // consumer sequence of the latest delivery
  timestamp_ns ts = 0;   // time of the latest delivery
  friend bool operator==(const pending_entry&, const pending_entry&) = default;
};

struct consumer_state {
  seq_pair delivered;
  seq_pair ack_floor;
  std::map<stream_seq, pending_entry> pending;
  std::map<stream_seq, std::uint64_t> redelivered;  // stream seq -> number of redeliveries
  friend bool operator==(const consumer_state&, const consumer_state&) = default;
};

enum class track_pending { yes, no };  // no: AckNone consumers only move `delivered`

class consumer_store {
 public:
  virtual ~consumer_store() = default;

  [[nodiscard]] virtual const std::string& name() const noexcept = 0;

  // Records delivery number `dc` (1 = first) of stream message `sseq` as consumer seq `dseq`.
  // First deliveries advance `delivered` and add a pending entry; redeliveries update the
  // pending entry and set redelivered[sseq] = dc - 1. invalid_argument when dc == 0.
  [[nodiscard]] virtual result<void> update_delivered(consumer_seq dseq, stream_seq sseq,
                                                      std::uint64_t dc, timestamp_ns ts,
                                                      track_pending tp = track_pending::yes) = 0;

  // Acks stream message `sseq` (delivered as `dseq`): drops its pending and redelivered entries
  // and advances the ack floor like nats-server. Acking an unknown sseq is a no-op (ok).
  [[nodiscard]] virtual result<void> update_acks(consumer_seq dseq, stream_seq sseq) = 0;

  // Replaces the whole state (restore / snapshot apply).
  [[nodiscard]] virtual result<void> update_state(const consumer_state& st) = 0;

  [[nodiscard]] virtual const consumer_state& state() const noexcept = 0;

  [[nodiscard]] virtual result<void> update_config(std::string_view config_json) = 0;
  [[nodiscard]] virtual const std::string& config() const noexcept = 0;
};

}  // namespace jb::storage
