#pragma once
// Internal helpers shared by the memory and RocksDB implementations. Not part of the API.
#include "storage/consumer_store.hpp"
#include "storage/stream_store.hpp"

#include <optional>
#include <string_view>
#include <utility>

namespace jb::storage::detail {

// True when the set matches every subject (empty, or holds "" or ">").
[[nodiscard]] bool matches_all(filter_set filters) noexcept;
[[nodiscard]] bool matches_all(std::string_view filter) noexcept;
[[nodiscard]] bool matches_any(filter_set filters, std::string_view subject) noexcept;
[[nodiscard]] bool matches(std::string_view filter, std::string_view subject) noexcept;
// Every filter valid (empty string counts as "all").
[[nodiscard]] bool valid_filters(filter_set filters) noexcept;
[[nodiscard]] bool valid_filter(std::string_view filter) noexcept;
// A subject messages may be stored under: a valid subject without NUL bytes.
[[nodiscard]] bool valid_store_subject(std::string_view subject) noexcept;
// True when the only filter is a literal subject (no wildcards): a direct index lookup.
[[nodiscard]] bool is_literal(std::string_view filter) noexcept;
// A stream/consumer name: non-empty, no NUL, at most 255 bytes.
[[nodiscard]] bool valid_name(std::string_view name) noexcept;

// The state machine of consumer_store, shared by both implementations. An update is computed as a
// delta, persisted by the subclass (persist()), and only then applied to the in-memory mirror, so
// a failed write leaves the mirror unchanged.
struct consumer_delta {
  seq_pair delivered;
  seq_pair ack_floor;
  std::optional<std::pair<stream_seq, pending_entry>> put_pending;
  std::optional<stream_seq> del_pending;
  std::optional<std::pair<stream_seq, std::uint64_t>> put_redelivered;
  std::optional<stream_seq> del_redelivered;
};

class consumer_store_base : public consumer_store {
 public:
  const std::string& name() const noexcept override { return name_; }
  result<void> update_delivered(consumer_seq dseq, stream_seq sseq, std::uint64_t dc, timestamp_ns ts,
                                track_pending tp) override;
  result<void> update_acks(consumer_seq dseq, stream_seq sseq) override;
  result<void> update_state(const consumer_state& st) override;
  const consumer_state& state() const noexcept override { return state_; }
  result<void> update_config(std::string_view config_json) override;
  const std::string& config() const noexcept override { return config_; }

  void mark_closed() noexcept { closed_ = true; }

 protected:
  consumer_store_base(std::string name, std::string config) : name_(std::move(name)), config_(std::move(config)) {}
  virtual result<void> persist(const consumer_delta& d) = 0;
  virtual result<void> persist_full(const consumer_state& st) = 0;
  virtual result<void> persist_config(std::string_view config_json) = 0;

  std::string name_;
  std::string config_;
  consumer_state state_;
  bool closed_ = false;

 private:
  result<void> commit(const consumer_delta& d);
};

}  // namespace jb::storage::detail
