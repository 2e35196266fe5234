#pragma once
// A store environment: the set of streams (and their consumers) of one server.
//
//  - rocksdb_env (rocksdb_store.hpp): one RocksDB database under a store directory holds every
//    file stream, every consumer and the configs of all streams (memory streams included, so a
//    restart brings every stream back; a memory stream comes back empty).
//  - memory_env (memory_store.hpp): everything in RAM (a server without a store directory).
//
// Configs are opaque strings (JSON) owned by the JetStream layer.
//
// Thread affinity: the env's own methods are thread-safe (an internal mutex). The stream and
// consumer stores it hands out are single-executor objects (see stream_store.hpp); the env keeps
// one instance per name, so open_stream twice returns the same object. The env must outlive every
// store it hands out; after delete_stream / close the old objects answer errc::closed.
#include "storage/consumer_store.hpp"
#include "storage/errc.hpp"
#include "storage/stream_store.hpp"

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace jb::storage {

struct stream_entry {
  std::string name;
  storage_type type = storage_type::file;
  std::string config;
};

class store_env {
 public:
  virtual ~store_env() = default;

  // stream_exists if the name is taken; invalid_argument for an empty name or one holding '\0'.
  [[nodiscard]] virtual result<std::shared_ptr<stream_store>> create_stream(
      std::string_view name, storage_type type, std::string_view config_json) = 0;
  // stream_not_found if there is no such stream.
  [[nodiscard]] virtual result<std::shared_ptr<stream_store>> open_stream(std::string_view name) = 0;
  // Deletes the stream, its messages, its consumers and its config. stream_not_found if absent.
  [[nodiscard]] virtual result<void> delete_stream(std::string_view name) = 0;
  [[nodiscard]] virtual std::vector<stream_entry> streams() const = 0;
  [[nodiscard]] virtual result<void> put_stream_config(std::string_view name, std::string_view config_json) = 0;
  [[nodiscard]] virtual result<std::string> stream_config(std::string_view name) const = 0;

  [[nodiscard]] virtual result<std::shared_ptr<consumer_store>> create_consumer(
      std::string_view stream, std::string_view name, std::string_view config_json) = 0;
  [[nodiscard]] virtual result<std::shared_ptr<consumer_store>> open_consumer(std::string_view stream,
                                                                              std::string_view name) = 0;
  [[nodiscard]] virtual result<void> delete_consumer(std::string_view stream, std::string_view name) = 0;
  // Deferred consumer-state writes: after begin_deferred(), consumer store updates change the
  // in-memory state at once but reach the database only at the next commit_deferred(), all in one
  // write (one WAL append for a whole batch of deliveries and acks). A pending entry created and
  // acked again between two commits is never written at all. Deferral stays on after a commit.
  // Both calls come from the executor that uses the consumer stores. The memory env ignores them.
  virtual void begin_deferred() {}
  [[nodiscard]] virtual result<void> commit_deferred() { return {}; }

  // Pipelined group commit (sync_always): calls done(result) once every append that returned
  // before this call is fsynced. `done` runs on a thread of the environment's (never inside this
  // call for the RocksDB env), in the order of the calls; requests arriving while an fsync runs
  // share the next one. Environments without pending syncs call done at once.
  virtual void sync_wal_async(std::function<void(result<void>)> done) { done({}); }

  // Names of the stream's consumers; stream_not_found if absent.
  [[nodiscard]] virtual result<std::vector<std::string>> consumer_names(std::string_view stream) const = 0;
};

}  // namespace jb::storage
