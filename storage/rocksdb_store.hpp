#pragma once
// File storage on RocksDB: one database under the store directory holds every stream, consumer
// and config of the server. Layout, indexes and durability: docs/storage.md.
//
// Directory layout: <dir>/JETBROKER_STORE (format marker) and <dir>/db/ (the RocksDB database).
// Opening a non-empty directory without the marker, or one holding unexpected entries, fails with
// errc::foreign_store; a marker of another version fails with errc::version_mismatch; RocksDB
// corruption fails with errc::store_corrupt. The detail string (and the storage logger) names
// the offending file or RocksDB status.
//
// Durability: every committed write (append, append_batch, remove, purge, limits, consumer
// updates) is one atomic RocksDB WriteBatch that is in the write-ahead log when the call
// returns, so a process crash (kill -9) never loses an acknowledged write. With
// sync_always, the WAL is also fsynced before returning (append_batch = group commit: one fsync
// for the whole batch), or, with async_append_sync, appends are fsynced by a sync thread that
// reports through sync_wal_async(); otherwise a background thread fsyncs the WAL every
// sync_interval (nats-server's sync_interval), bounding loss on power failure.
#include "storage/detail.hpp"
#include "storage/file_env.hpp"
#include "storage/store_env.hpp"

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <unordered_map>

namespace rocksdb {
class DB;
class ColumnFamilyHandle;
class Iterator;
class WriteBatch;
}  // namespace rocksdb

namespace jb::storage {

namespace detail {
struct db_ctx;
}

class rocksdb_stream_store;
class rocksdb_consumer_store;

class rocksdb_env final : public store_env {
 public:
  // Opens or creates the store at opts.dir. On failure `error_detail` (if given) receives a
  // human-readable explanation naming the problem.
  [[nodiscard]] static result<std::unique_ptr<rocksdb_env>> open(const rocksdb_env_options& opts,
                                                                 std::string* error_detail = nullptr);
  ~rocksdb_env() override;
  rocksdb_env(const rocksdb_env&) = delete;
  rocksdb_env& operator=(const rocksdb_env&) = delete;

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

  void begin_deferred() override;
  [[nodiscard]] result<void> commit_deferred() override;

  void sync_wal_async(std::function<void(result<void>)> done) override;

  // fsync the write-ahead log now (what the sync_interval thread does).
  [[nodiscard]] result<void> sync_wal();
  // Flush every memtable to SST files (benchmarks, tests, clean shutdown).
  [[nodiscard]] result<void> flush();

 private:
  explicit rocksdb_env(std::unique_ptr<detail::db_ctx> ctx);
  struct stream_meta {
    std::uint64_t id = 0;
    storage_type type = storage_type::file;
    std::string config;
    std::shared_ptr<stream_store> store;  // open instance, if any
    std::map<std::string, std::shared_ptr<consumer_store>, std::less<>> consumers;
  };
  result<void> load_catalog();
  result<std::shared_ptr<stream_store>> open_locked(const std::string& name, stream_meta& m);
  result<void> write_stream_meta(std::string_view name, const stream_meta& m);
  void close_all() noexcept;

  std::unique_ptr<detail::db_ctx> ctx_;
  mutable std::mutex mu_;
  std::map<std::string, stream_meta, std::less<>> streams_;
  std::uint64_t next_id_ = 1;
};

}  // namespace jb::storage
