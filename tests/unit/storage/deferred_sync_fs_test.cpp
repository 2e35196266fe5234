// storage/deferred_sync_fs: a new store's syncs are skipped while it is created, made up for in the
// background, and every later sync waits for (and fails with) that background sync.
#include "storage/deferred_sync_fs.hpp"

#include "storage/rocksdb_store.hpp"
#include "tests/unit/storage/store_fixture.hpp"

#include <gtest/gtest.h>
#include <rocksdb/db.h>
#include <rocksdb/env.h>

#include <filesystem>
#include <fstream>

namespace {

namespace fs = std::filesystem;
using jb::storage::detail::deferred_sync_fs;

struct opened {
  std::shared_ptr<deferred_sync_fs> dfs = std::make_shared<deferred_sync_fs>(rocksdb::FileSystem::Default());
  std::unique_ptr<rocksdb::Env> env = rocksdb::NewCompositeEnv(dfs);
  std::unique_ptr<rocksdb::DB> db;

  rocksdb::Status open(const fs::path& dir) {
    rocksdb::Options o;
    o.create_if_missing = true;
    o.env = env.get();
    rocksdb::DB* raw = nullptr;
    auto s = rocksdb::DB::Open(o, dir.string(), &raw);
    db.reset(raw);
    return s;
  }
};

// A path for a new database: inside a fresh temp dir, not yet existing.
fs::path fresh_dir(const char* tag) { return jb::storage::test::make_temp_dir(tag) / "db"; }

TEST(deferred_sync_fs, creation_skips_syncs_and_later_syncs_are_real) {
  const auto dir = fresh_dir("a");
  opened o;
  o.dfs->defer();
  ASSERT_TRUE(o.open(dir).ok());
  const auto skipped = o.dfs->skipped();
  EXPECT_GE(skipped, 5u) << "creating a database syncs CURRENT, MANIFEST, OPTIONS and the directory";
  o.dfs->sync_in_background(dir, {dir.parent_path()});
  EXPECT_TRUE(o.dfs->wait().ok());
  rocksdb::WriteOptions wo;
  wo.sync = true;
  ASSERT_TRUE(o.db->Put(wo, "k", "v").ok());
  EXPECT_EQ(o.dfs->skipped(), skipped) << "a sync after the background sync must reach the disk";
  o.db.reset();
  fs::remove_all(dir.parent_path());
}

TEST(deferred_sync_fs, without_defer_nothing_is_skipped) {
  const auto dir = fresh_dir("b");
  opened o;
  ASSERT_TRUE(o.open(dir).ok());
  rocksdb::WriteOptions wo;
  wo.sync = true;
  ASSERT_TRUE(o.db->Put(wo, "k", "v").ok());
  EXPECT_EQ(o.dfs->skipped(), 0u);
  EXPECT_TRUE(o.dfs->wait().ok());
  o.db.reset();
  fs::remove_all(dir.parent_path());
}

TEST(deferred_sync_fs, failed_background_sync_fails_later_syncs) {
  const auto dir = fresh_dir("c");
  opened o;
  o.dfs->defer();
  ASSERT_TRUE(o.open(dir).ok());
  // A path below a regular file cannot be opened (ENOTDIR): the background sync reports it.
  const auto blocker = dir.parent_path() / "file";
  std::ofstream(blocker) << "x";
  o.dfs->sync_in_background(dir, {fs::path(blocker) / "child"});
  EXPECT_FALSE(o.dfs->wait().ok());
  rocksdb::WriteOptions wo;
  wo.sync = true;
  EXPECT_FALSE(o.db->Put(wo, "k", "v").ok()) << "nothing may be acknowledged as durable in a store whose creation was not";
  o.db.reset();
  fs::remove_all(dir.parent_path());
}

TEST(deferred_sync_fs, new_store_is_usable_and_reopens) {
  // rocksdb_env defers a new store's syncs; what it stores must still be there after a reopen
  // (which opens the existing store with every sync in place).
  jb::storage::test::env_holder<jb::storage::test::rocksdb_kind> h;
  {
    auto st = h.env().create_stream("S", jb::storage::storage_type::file, "{}");
    ASSERT_TRUE(st);
    ASSERT_TRUE((*st)->append({"a.b", {}, "hello", 1, 0}));
  }
  h.reopen();
  auto st = h.env().open_stream("S");
  ASSERT_TRUE(st);
  EXPECT_EQ((*st)->state().msgs, 1u);
  auto m = (*st)->load(1);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->data, "hello");
}

}  // namespace
