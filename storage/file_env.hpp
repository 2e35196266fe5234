#pragma once
// The file store as the rest of the broker sees it: options and one factory, with nothing of
// RocksDB in sight. Two definitions of the factory exist and an executable links one of them:
// storage/file_env.cpp opens storage/rocksdb_store.hpp's RocksDB environment (the
// jetbroker-filestore executable, the tests, the embedding library); storage/file_env_absent.cpp
// reports that the executable was linked without it (the `jetbroker` executable, which re-execs
// jetbroker-filestore when JetStream needs a store directory: see server/main.cpp and
// docs/storage.md, "Two executables").
#include "storage/store_env.hpp"

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <memory>
#include <string>

namespace jb::storage {

struct rocksdb_env_options {
  std::filesystem::path dir;
  bool sync_always = false;                                  // fsync on every committed write
  // With sync_always: appends return once in the WAL, without waiting for the fsync; the caller
  // learns of their durability from sync_wal_async() (a sync thread fsyncs while the next
  // batch is written). Other writes still fsync before returning.
  bool async_append_sync = false;
  // Without sync_always: fsync the WAL every sync_interval (nats-server default 2 min; 0 = never,
  // leaving it to the OS). A process crash loses nothing either way; this bounds power-loss loss.
  std::chrono::milliseconds sync_interval{std::chrono::minutes(2)};
  std::size_t write_buffer_size = 2u << 20;                  // msgs memtable; other CFs max(1/4, 1 MiB)
  std::size_t max_total_wal_size = 4u << 20;                 // bounds WAL replay on open
  std::size_t block_cache_size = 64u << 20;
};

// True when this executable contains the RocksDB file store.
[[nodiscard]] bool file_store_linked() noexcept;

// Opens or creates the file store at opts.dir (rocksdb_env::open). Without the file store linked
// in: errc::not_linked and a detail saying so.
[[nodiscard]] result<std::unique_ptr<store_env>> open_file_env(const rocksdb_env_options& opts,
                                                               std::string* error_detail = nullptr);

}  // namespace jb::storage
