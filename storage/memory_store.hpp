#pragma once
// Memory storage: streams kept entirely in RAM (storage: memory, or a server without store dir).
// Byte accounting is nats-server's memStoreMsgSize. Thread affinity: see stream_store.hpp.
#include "storage/detail.hpp"
#include "storage/store_env.hpp"

#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <unordered_map>

namespace jb::storage {

class memory_stream_store final : public stream_store {
 public:
  explicit memory_stream_store(std::string name) : name_(std::move(name)) {}

  storage_type type() const noexcept override { return storage_type::memory; }
  const std::string& name() const noexcept override { return name_; }
  result<stream_seq> append(const append_request& req) override;
  result<stream_seq> append_batch(std::span<const append_request> reqs) override;
  result<stored_msg> load(stream_seq seq) const override;
  using stream_store::load_next;
  result<stored_msg> load_next(stream_seq start, filter_set filters) const override;
  result<stored_msg> load_last(std::string_view filter) const override;
  result<bool> remove(stream_seq seq) override;
  result<std::uint64_t> purge(const purge_request& req) override;
  stream_state state(state_detail d) const override;
  std::map<std::string, std::uint64_t> subject_counts(std::string_view filter) const override;
  std::uint64_t num_pending(stream_seq start, filter_set filters, last_per_subject lps) const override;
  result<std::uint64_t> enforce_max_msgs(std::uint64_t max) override;
  result<std::uint64_t> enforce_max_bytes(std::uint64_t max) override;
  result<std::uint64_t> expire_before(timestamp_ns cutoff) override;
  result<std::uint64_t> enforce_max_msgs_per_subject(std::uint64_t max,
                                                     std::optional<std::string_view> subject) override;
  result<std::uint64_t> expire_ttl(timestamp_ns now) override;
  std::optional<timestamp_ns> next_ttl_deadline() const override;
  result<std::uint64_t> set_first_seq(stream_seq seq) override;
  result<void> skip_to(stream_seq last, timestamp_ns now) override;

  void mark_closed() noexcept { closed_ = true; }

 private:
  struct msg {
    timestamp_ns ts;
    timestamp_ns expires;
    std::string subject;
    std::string hdr;
    std::string data;
  };
  void remove_one(std::map<stream_seq, msg>::iterator it);
  void fix_first();
  stored_msg to_stored(stream_seq seq, const msg& m) const;
  std::vector<const std::string*> matching_subjects(filter_set filters) const;

  std::string name_;
  std::map<stream_seq, msg> msgs_;
  std::unordered_map<std::string, std::set<stream_seq>> subjects_;
  std::set<std::pair<timestamp_ns, stream_seq>> ttl_;
  stream_state st_;
  bool closed_ = false;
};

// Consumer state in RAM. `on_config` (optional) is called to persist config updates elsewhere
// (rocksdb_env uses it for consumers of memory streams).
class memory_consumer_store final : public detail::consumer_store_base {
 public:
  memory_consumer_store(std::string name, std::string config,
                        std::function<result<void>(std::string_view)> on_config = {})
      : consumer_store_base(std::move(name), std::move(config)), on_config_(std::move(on_config)) {}

 private:
  result<void> persist(const detail::consumer_delta&) override { return {}; }
  result<void> persist_full(const consumer_state&) override { return {}; }
  result<void> persist_config(std::string_view cfg) override { return on_config_ ? on_config_(cfg) : result<void>{}; }
  std::function<result<void>(std::string_view)> on_config_;
};

// Everything in RAM; nothing survives the process. Thread-safe (one mutex).
class memory_env final : public store_env {
 public:
  memory_env() = default;
  ~memory_env() override;

  result<std::shared_ptr<stream_store>> create_stream(std::string_view name, storage_type type,
                                                      std::string_view config_json) override;
  result<std::shared_ptr<stream_store>> open_stream(std::string_view name) override;
  result<void> delete_stream(std::string_view name) override;
  std::vector<stream_entry> streams() const override;
  result<void> put_stream_config(std::string_view name, std::string_view config_json) override;
  result<std::string> stream_config(std::string_view name) const override;
  result<std::shared_ptr<consumer_store>> create_consumer(std::string_view stream, std::string_view name,
                                                          std::string_view config_json) override;
  result<std::shared_ptr<consumer_store>> open_consumer(std::string_view stream, std::string_view name) override;
  result<void> delete_consumer(std::string_view stream, std::string_view name) override;
  result<std::vector<std::string>> consumer_names(std::string_view stream) const override;

 private:
  struct stream_rec {
    stream_entry entry;
    std::shared_ptr<memory_stream_store> store;
    std::map<std::string, std::shared_ptr<memory_consumer_store>, std::less<>> consumers;
  };
  mutable std::mutex mu_;
  std::map<std::string, stream_rec, std::less<>> streams_;
};

}  // namespace jb::storage
