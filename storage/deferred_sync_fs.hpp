#pragma once
// A RocksDB FileSystem that lets a *fresh* store start without waiting for its ~25 fsyncs.
//
// Creating a database (CURRENT, IDENTITY, MANIFEST, OPTIONS, one MANIFEST record and OPTIONS file
// per column family, the first WAL) costs 15 fsyncs and 10 fdatasyncs, about 15-20 ms on this
// kind of machine: most of jetbroker's start-up with -js. Nothing stored can be lost while the
// store is empty, so while a fresh database is opened its syncs are skipped (`defer()`), and
// `sync_in_background(dir)` then fsyncs every file of the store and its directories on a thread of
// its own. Until that has finished, every sync RocksDB asks for later (a WAL sync for a catalog
// change or `sync_always` append, a flush, a MANIFEST write) first waits for it, so nothing is
// acknowledged as durable before the store it lives in is. A process crash loses nothing either way
// (the page cache keeps what was written); this only orders syncs against power loss.
//
// An existing store is never opened with syncs deferred: reopening writes a new MANIFEST that must
// be durable before the old one goes.
//
// Thread-safe. Must outlive the DB opened with it.
#include <rocksdb/file_system.h>

#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace jb::storage::detail {

// open(2) + fsync(2) of a file or directory; a path that no longer exists is OK (renamed since).
rocksdb::IOStatus fsync_path(const std::filesystem::path& p);

class deferred_sync_fs : public rocksdb::FileSystemWrapper {
 public:
  explicit deferred_sync_fs(std::shared_ptr<rocksdb::FileSystem> base);
  ~deferred_sync_fs() override;

  static const char* kClassName() { return "JetbrokerDeferredSyncFileSystem"; }
  const char* Name() const override { return kClassName(); }

  // From now on file and directory syncs are skipped (until sync_in_background()).
  void defer();
  // Ends the deferral: fsyncs every regular file under `db_dir`, `db_dir` itself, then each of
  // `extra` (files or directories), then runs `then` (if given and all went well) on a background
  // thread. Syncs asked for meanwhile wait for it; its first error becomes theirs.
  void sync_in_background(std::filesystem::path db_dir, std::vector<std::filesystem::path> extra,
                          std::function<rocksdb::IOStatus()> then = {});
  // Blocks until the background sync (if any) is done; its result (OK when there was none).
  rocksdb::IOStatus wait();

  // Called by this file system's files and directories before they sync. Sets `skip` while
  // deferring; waits for a background sync under way; returns its error if it failed (a store whose
  // creation could not be made durable must not acknowledge anything as durable).
  rocksdb::IOStatus before_sync(bool& skip);
  // Syncs skipped so far (tests, logging).
  std::uint64_t skipped() const;
  // Runs `sync` (a file's or directory's real sync) unless syncs are deferred; see before_sync.
  template <class F>
  rocksdb::IOStatus guarded(F&& sync) {
    bool skip = false;
    auto st = before_sync(skip);
    if (!st.ok() || skip) return st;
    return sync();
  }

  rocksdb::IOStatus NewWritableFile(const std::string& f, const rocksdb::FileOptions& o,
                                    std::unique_ptr<rocksdb::FSWritableFile>* r, rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus ReopenWritableFile(const std::string& f, const rocksdb::FileOptions& o,
                                       std::unique_ptr<rocksdb::FSWritableFile>* r,
                                       rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus ReuseWritableFile(const std::string& f, const std::string& old, const rocksdb::FileOptions& o,
                                      std::unique_ptr<rocksdb::FSWritableFile>* r,
                                      rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus NewDirectory(const std::string& name, const rocksdb::IOOptions& o,
                                 std::unique_ptr<rocksdb::FSDirectory>* r, rocksdb::IODebugContext* dbg) override;

 private:
  enum class phase { direct, deferring, syncing };
  mutable std::mutex mu_;
  std::condition_variable cv_;
  phase phase_ = phase::direct;
  rocksdb::IOStatus result_;
  std::uint64_t skipped_ = 0;
  std::thread worker_;
};

}  // namespace jb::storage::detail
