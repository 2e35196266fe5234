#include "storage/deferred_sync_fs.hpp"

#include "storage/logger.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace jb::storage::detail {

rocksdb::IOStatus fsync_path(const std::filesystem::path& p) {
  const int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return rocksdb::IOStatus::OK();  // renamed or removed since: its new name is synced
    return rocksdb::IOStatus::IOError("open " + p.string() + " for fsync", std::strerror(errno));
  }
  const int r = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (r != 0) return rocksdb::IOStatus::IOError("fsync " + p.string(), std::strerror(err));
  return rocksdb::IOStatus::OK();
}

namespace {

class file : public rocksdb::FSWritableFileOwnerWrapper {
 public:
  file(std::unique_ptr<rocksdb::FSWritableFile> f, deferred_sync_fs& fs)
      : FSWritableFileOwnerWrapper(std::move(f)), fs_(fs) {}
  rocksdb::IOStatus Sync(const rocksdb::IOOptions& o, rocksdb::IODebugContext* dbg) override {
    return fs_.guarded([&] { return target()->Sync(o, dbg); });
  }
  rocksdb::IOStatus Fsync(const rocksdb::IOOptions& o, rocksdb::IODebugContext* dbg) override {
    return fs_.guarded([&] { return target()->Fsync(o, dbg); });
  }
  rocksdb::IOStatus RangeSync(uint64_t off, uint64_t n, const rocksdb::IOOptions& o,
                              rocksdb::IODebugContext* dbg) override {
    return fs_.guarded([&] { return target()->RangeSync(off, n, o, dbg); });
  }

 private:
  deferred_sync_fs& fs_;
};

class directory : public rocksdb::FSDirectoryWrapper {
 public:
  directory(std::unique_ptr<rocksdb::FSDirectory> d, deferred_sync_fs& fs) : FSDirectoryWrapper(std::move(d)), fs_(fs) {}
  rocksdb::IOStatus Fsync(const rocksdb::IOOptions& o, rocksdb::IODebugContext* dbg) override {
    return fs_.guarded([&] { return FSDirectoryWrapper::Fsync(o, dbg); });
  }
  rocksdb::IOStatus FsyncWithDirOptions(const rocksdb::IOOptions& o, rocksdb::IODebugContext* dbg,
                                        const rocksdb::DirFsyncOptions& d) override {
    return fs_.guarded([&] { return FSDirectoryWrapper::FsyncWithDirOptions(o, dbg, d); });
  }

 private:
  deferred_sync_fs& fs_;
};

}  // namespace

deferred_sync_fs::deferred_sync_fs(std::shared_ptr<rocksdb::FileSystem> base) : FileSystemWrapper(std::move(base)) {}

deferred_sync_fs::~deferred_sync_fs() {
  if (worker_.joinable()) worker_.join();
}

void deferred_sync_fs::defer() {
  std::lock_guard lk(mu_);
  phase_ = phase::deferring;
}

void deferred_sync_fs::sync_in_background(std::filesystem::path db_dir, std::vector<std::filesystem::path> extra,
                                          std::function<rocksdb::IOStatus()> then) {
  std::lock_guard lk(mu_);
  if (phase_ != phase::deferring) return;
  phase_ = phase::syncing;
  worker_ = std::thread([this, db_dir = std::move(db_dir), extra = std::move(extra), then = std::move(then)] {
    rocksdb::IOStatus st;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(db_dir, ec)) {
      if (!st.ok()) break;
      if (e.is_regular_file(ec)) st = fsync_path(e.path());
    }
    if (ec && st.ok()) st = rocksdb::IOStatus::IOError("list " + db_dir.string(), ec.message());
    if (st.ok()) st = fsync_path(db_dir);
    for (const auto& p : extra) {
      if (!st.ok()) break;
      st = fsync_path(p);
    }
    if (st.ok() && then) st = then();
    if (!st.ok()) logger()->error("syncing the new store failed: {}", st.ToString());
    std::lock_guard g(mu_);
    result_ = st;
    phase_ = phase::direct;
    cv_.notify_all();
  });
}

rocksdb::IOStatus deferred_sync_fs::wait() {
  std::unique_lock lk(mu_);
  cv_.wait(lk, [&] { return phase_ != phase::syncing; });
  return result_;
}

rocksdb::IOStatus deferred_sync_fs::before_sync(bool& skip) {
  std::unique_lock lk(mu_);
  skip = phase_ == phase::deferring;
  if (skip) {
    ++skipped_;
    return rocksdb::IOStatus::OK();
  }
  cv_.wait(lk, [&] { return phase_ != phase::syncing; });
  return result_;
}

std::uint64_t deferred_sync_fs::skipped() const {
  std::lock_guard lk(mu_);
  return skipped_;
}

namespace {

// What the base file system opened, wrapped so its syncs go through `fs`.
template <class Wrapper, class T>
rocksdb::IOStatus wrap(rocksdb::IOStatus s, std::unique_ptr<T>* r, deferred_sync_fs& fs) {
  if (s.ok()) *r = std::make_unique<Wrapper>(std::move(*r), fs);
  return s;
}

}  // namespace

rocksdb::IOStatus deferred_sync_fs::NewWritableFile(const std::string& f, const rocksdb::FileOptions& o,
                                                    std::unique_ptr<rocksdb::FSWritableFile>* r,
                                                    rocksdb::IODebugContext* dbg) {
  return wrap<file>(target()->NewWritableFile(f, o, r, dbg), r, *this);
}

rocksdb::IOStatus deferred_sync_fs::ReopenWritableFile(const std::string& f, const rocksdb::FileOptions& o,
                                                       std::unique_ptr<rocksdb::FSWritableFile>* r,
                                                       rocksdb::IODebugContext* dbg) {
  return wrap<file>(target()->ReopenWritableFile(f, o, r, dbg), r, *this);
}

rocksdb::IOStatus deferred_sync_fs::ReuseWritableFile(const std::string& f, const std::string& old,
                                                      const rocksdb::FileOptions& o,
                                                      std::unique_ptr<rocksdb::FSWritableFile>* r,
                                                      rocksdb::IODebugContext* dbg) {
  return wrap<file>(target()->ReuseWritableFile(f, old, o, r, dbg), r, *this);
}

rocksdb::IOStatus deferred_sync_fs::NewDirectory(const std::string& name, const rocksdb::IOOptions& o,
                                                 std::unique_ptr<rocksdb::FSDirectory>* r,
                                                 rocksdb::IODebugContext* dbg) {
  return wrap<directory>(target()->NewDirectory(name, o, r, dbg), r, *this);
}

}  // namespace jb::storage::detail
