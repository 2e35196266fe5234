// RocksDB environment: store directory checks, corruption handling, memory streams in a file env.
#include "tests/unit/storage/store_fixture.hpp"

#include <gtest/gtest.h>

#include <condition_variable>
#include <fstream>
#include <mutex>
#include <numeric>
#include <thread>

#include <rocksdb/db.h>

namespace jb::storage::test {
namespace {

namespace fs = std::filesystem;

class rocksdb_env_test : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = make_temp_dir("env"); }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  result<std::unique_ptr<rocksdb_env>> open(std::string* detail = nullptr, bool sync_always = false) {
    rocksdb_env_options o;
    o.dir = dir_;
    o.sync_always = sync_always;
    return rocksdb_env::open(o, detail);
  }
  void write_file(const fs::path& p, std::string_view text) {
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out << text;
  }
  fs::path dir_;
};

// Keys in one column family, read with RocksDB itself (the env must be closed).
std::size_t cf_keys(const fs::path& dir, std::string_view cf) {
  std::vector<std::string> names;
  const std::string path = (dir / "db").string();
  if (!rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), path, &names).ok()) return ~std::size_t{0};
  std::vector<rocksdb::ColumnFamilyDescriptor> cfs;
  for (const auto& n : names) cfs.emplace_back(n, rocksdb::ColumnFamilyOptions());
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  if (!rocksdb::DB::OpenForReadOnly(rocksdb::DBOptions(), path, cfs, &handles, &raw).ok()) return ~std::size_t{0};
  std::unique_ptr<rocksdb::DB> db(raw);
  std::size_t n = 0;
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (names[i] != cf) continue;
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions(), handles[i]));
    for (it->SeekToFirst(); it->Valid(); it->Next()) ++n;
  }
  for (auto* h : handles) (void)db->DestroyColumnFamilyHandle(h);
  return n;
}

// Deferred consumer updates (JetStream's mode): a consumer deleted with updates outstanding must
// not have them written back by the next commit, and an entry acked before the commit is never
// written at all.
TEST_F(rocksdb_env_test, deferred_consumer_updates_respect_deletes_and_cancel_out) {
  {
    auto env = open();
    ASSERT_TRUE(env);
    auto& e = **env;
    ASSERT_TRUE(e.create_stream("S", storage_type::file, "{}"));
    e.begin_deferred();
    auto gone = e.create_consumer("S", "GONE", "{}").value();
    for (std::uint64_t i = 1; i <= 3; ++i) ASSERT_TRUE(gone->update_delivered(i, i, 1, 100 + i));
    gone.reset();
    ASSERT_TRUE(e.delete_consumer("S", "GONE"));
    auto kept = e.create_consumer("S", "KEPT", "{}").value();
    ASSERT_TRUE(kept->update_delivered(1, 1, 1, 100));
    ASSERT_TRUE(kept->update_delivered(2, 2, 1, 101));
    ASSERT_TRUE(kept->update_acks(1, 1));  // cancels the pending entry of 1
    ASSERT_TRUE(e.commit_deferred());
  }
  // KEPT: its sequence record and the pending entry of 2; nothing of GONE, nothing of 1.
  EXPECT_EQ(cf_keys(dir_, "cons"), 2u);
  auto env = open();
  ASSERT_TRUE(env);
  auto kept = (*env)->open_consumer("S", "KEPT").value();
  EXPECT_EQ(kept->state().pending.size(), 1u);
  EXPECT_EQ(kept->state().pending.count(2), 1u);
  EXPECT_EQ(kept->state().ack_floor, (seq_pair{1, 1}));
}

TEST_F(rocksdb_env_test, fresh_directory_is_initialised) {
  {
    auto env = open();
    ASSERT_TRUE(env);
    EXPECT_TRUE(fs::is_directory(dir_ / "db"));
    // A stream's creation is synced, so it waits for the new store to be durable and marked.
    ASSERT_TRUE((*env)->create_stream("S", storage_type::file, "{}"));
    EXPECT_TRUE(fs::exists(dir_ / "JETBROKER_STORE"));
    EXPECT_FALSE(fs::exists(dir_ / "JETBROKER_STORE.new"));
  }
  EXPECT_TRUE(fs::exists(dir_ / "JETBROKER_STORE"));
}

// The directory is locked while an env has it: a second open (another process, or this one) is
// refused before it looks at anything, even while a new store is unfinished (the case in which an
// open repairs the directory by recreating the database).
TEST_F(rocksdb_env_test, directory_in_use_is_refused_untouched) {
  auto first = open();
  ASSERT_TRUE(first);
  auto s = (*first)->create_stream("S", storage_type::file, "{}");
  ASSERT_TRUE(s);
  ASSERT_TRUE((*s)->append({"a", {}, "x", 1, 0}));
  write_file(dir_ / "JETBROKER_STORE.new", "jetbroker store format 2\n");  // looks unfinished
  fs::remove(dir_ / "JETBROKER_STORE");
  std::string detail;
  auto second = open(&detail);
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error(), errc::store_in_use);
  EXPECT_NE(detail.find("is in use by another process"), std::string::npos) << detail;
  EXPECT_EQ((*s)->state().msgs, 1u);
  EXPECT_TRUE(fs::exists(dir_ / "db" / "CURRENT"));
  s->reset();
  first->reset();
  write_file(dir_ / "JETBROKER_STORE", "jetbroker store format 2\n");
  fs::remove(dir_ / "JETBROKER_STORE.new");
  auto again = open(&detail);  // released with the first env
  ASSERT_TRUE(again) << detail;
  EXPECT_EQ((*again)->open_stream("S").value()->state().msgs, 1u);
}

TEST_F(rocksdb_env_test, unfinished_creation_is_created_again) {
  // What a power loss during a new store's background sync can leave: the creation marker and a
  // database RocksDB cannot open. Nothing was acknowledged in it, so it is created anew.
  write_file(dir_ / "JETBROKER_STORE.new", "jetbroker store format 1\n");
  fs::create_directories(dir_ / "db");
  write_file(dir_ / "db" / "CURRENT", "not-a-manifest\n");
  {
    std::string detail;
    auto env = open(&detail);
    ASSERT_TRUE(env) << detail;
    auto s = (*env)->create_stream("S", storage_type::file, "{}");
    ASSERT_TRUE(s);
    ASSERT_TRUE((*s)->append({"a", {}, "x", 1, 0}));
  }
  EXPECT_TRUE(fs::exists(dir_ / "JETBROKER_STORE"));
  EXPECT_FALSE(fs::exists(dir_ / "JETBROKER_STORE.new"));
  auto env = open();
  ASSERT_TRUE(env);
  EXPECT_EQ((*env)->open_stream("S").value()->state().msgs, 1u);
}

TEST_F(rocksdb_env_test, database_without_any_marker_is_refused_and_kept) {
  fs::create_directories(dir_ / "db");
  write_file(dir_ / "db" / "CURRENT", "someone else's\n");
  std::string detail;
  auto env = open(&detail);
  ASSERT_FALSE(env);
  EXPECT_EQ(env.error(), errc::foreign_store);
  EXPECT_TRUE(fs::exists(dir_ / "db" / "CURRENT"));
}

TEST_F(rocksdb_env_test, foreign_file_in_directory_is_refused) {
  write_file(dir_ / "notes.txt", "hello");
  std::string detail;
  auto env = open(&detail);
  ASSERT_FALSE(env);
  EXPECT_EQ(env.error(), errc::foreign_store);
  EXPECT_NE(detail.find("notes.txt"), std::string::npos) << detail;
  EXPECT_TRUE(fs::exists(dir_ / "notes.txt"));
}

TEST_F(rocksdb_env_test, unexpected_file_next_to_store_is_refused) {
  ASSERT_TRUE(open());
  write_file(dir_ / "stray.blk", "x");
  std::string detail;
  auto env = open(&detail);
  ASSERT_FALSE(env);
  EXPECT_EQ(env.error(), errc::foreign_store);
  EXPECT_NE(detail.find("stray.blk"), std::string::npos) << detail;
}

// The subject index holds one entry per run of consecutive messages under one subject in a batch.
TEST_F(rocksdb_env_test, subject_index_holds_one_entry_per_run) {
  {
    auto env = open();
    ASSERT_TRUE(env);
    auto s = (*env)->create_stream("S", storage_type::file, "{}").value();
    for (int b = 0; b < 10; ++b) {  // 10 batches of 100 on one subject: a run each
      std::vector<append_request> reqs(100, append_request{"one", {}, "x", 1, 0});
      ASSERT_TRUE(s->append_batch(reqs));
    }
    for (int i = 0; i < 50; ++i) {  // alternating subjects: a run per message
      ASSERT_TRUE(s->append({i % 2 ? "odd" : "even", {}, "y", 2, 0}));
    }
    ASSERT_TRUE(s->remove(450));  // splits the fifth run in two
    ASSERT_TRUE(s->remove(500));  // shortens it
    EXPECT_EQ(s->load_next(450, "one").value().seq, 451u);
    EXPECT_EQ(s->load_next(500, "one").value().seq, 501u);
    const std::string one = "one";
    EXPECT_EQ(s->num_pending(420, filter_set(&one, 1), last_per_subject::no), 1000u - 420u + 1u - 2u);
  }
  EXPECT_EQ(cf_keys(dir_, "subj"), 11u + 50u);
}

// A format 1 store (one index entry per message, which reads as runs of one) is upgraded in
// place: its marker is rewritten durably and everything in it stays readable and writable.
TEST_F(rocksdb_env_test, format_1_store_is_upgraded) {
  {
    auto env = open();
    ASSERT_TRUE(env);
    ASSERT_TRUE((*env)->create_stream("S", storage_type::file, "{}"));
  }
  // Appends separated by reopens never extend a run: the index then has format 1's layout.
  for (int i = 0; i < 4; ++i) {
    auto env = open();
    ASSERT_TRUE(env);
    ASSERT_TRUE((*env)->open_stream("S").value()->append({"a", {}, std::to_string(i), 1, 0}));
  }
  ASSERT_EQ(cf_keys(dir_, "subj"), 4u);
  write_file(dir_ / "JETBROKER_STORE", "jetbroker store format 1\n");
  write_file(dir_ / "JETBROKER_STORE.upgrade", "jetbroker store format 2\n");  // an earlier upgrade cut short
  {
    std::string detail;
    auto env = open(&detail);
    ASSERT_TRUE(env) << detail;
    auto s = (*env)->open_stream("S").value();
    ASSERT_TRUE(s->remove(2));
    ASSERT_TRUE(s->append({"a", {}, "4", 1, 0}));
    std::vector<std::string> got;
    for (auto m = s->load_next(0, "a"); m; m = s->load_next(m->seq + 1, "a")) got.push_back(m->data);
    EXPECT_EQ(got, (std::vector<std::string>{"0", "2", "3", "4"}));
    EXPECT_EQ(s->load_last("a").value().seq, 5u);
  }
  std::ifstream in(dir_ / "JETBROKER_STORE");
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(in), {}), "jetbroker store format 2\n");
  EXPECT_FALSE(fs::exists(dir_ / "JETBROKER_STORE.upgrade"));
}

TEST_F(rocksdb_env_test, wrong_format_version_is_refused) {
  ASSERT_TRUE(open());
  write_file(dir_ / "JETBROKER_STORE", "jetbroker store format 99\n");
  std::string detail;
  auto env = open(&detail);
  ASSERT_FALSE(env);
  EXPECT_EQ(env.error(), errc::version_mismatch);
  EXPECT_NE(detail.find("JETBROKER_STORE"), std::string::npos) << detail;
  EXPECT_NE(detail.find("'jetbroker store format 99'"), std::string::npos) << detail;  // one log line
}

TEST_F(rocksdb_env_test, missing_database_is_reported) {
  ASSERT_TRUE(open());
  fs::remove_all(dir_ / "db");
  std::string detail;
  auto env = open(&detail);
  ASSERT_FALSE(env);
  EXPECT_EQ(env.error(), errc::store_corrupt);
  EXPECT_NE(detail.find("db/"), std::string::npos) << detail;
}

TEST_F(rocksdb_env_test, garbage_current_file_is_reported) {
  {
    auto env = open().value();
    auto s = env->create_stream("S", storage_type::file, "{}").value();
    ASSERT_TRUE(s->append({"a", {}, "x", 1, 0}));
  }
  write_file(dir_ / "db" / "CURRENT", "not-a-manifest\n");
  std::string detail;
  auto env = open(&detail);
  ASSERT_FALSE(env);
  EXPECT_FALSE(detail.empty());
  EXPECT_NE(detail.find("db"), std::string::npos) << detail;
}

TEST_F(rocksdb_env_test, corrupt_table_file_is_detected_not_served) {
  {
    auto env = open().value();
    auto s = env->create_stream("S", storage_type::file, "{}").value();
    std::vector<append_request> reqs;
    const std::string payload(200, 'p');
    for (int i = 0; i < 2000; ++i) reqs.push_back({"sub", {}, payload, i, 0});
    ASSERT_TRUE(s->append_batch(reqs));
    ASSERT_TRUE(env->flush());
  }
  // Overwrite the middle of the largest table file (the messages).
  fs::path biggest;
  for (auto& e : fs::directory_iterator(dir_ / "db")) {
    if (e.path().extension() == ".sst" && (biggest.empty() || fs::file_size(e.path()) > fs::file_size(biggest))) {
      biggest = e.path();
    }
  }
  ASSERT_FALSE(biggest.empty());
  {
    std::fstream f(biggest, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(fs::file_size(biggest) / 3));
    const std::string junk(4096, '\x5a');
    f.write(junk.data(), static_cast<std::streamsize>(junk.size()));
  }
  std::string detail;
  auto env = open(&detail);
  if (!env) {
    EXPECT_FALSE(detail.empty());
    return;
  }
  auto s = (*env)->open_stream("S");
  if (!s) {
    EXPECT_TRUE(s.error() == errc::store_corrupt || s.error() == errc::corrupt_record);
    return;
  }
  int errors = 0;
  for (stream_seq q = 1; q <= 2000; ++q) {
    auto m = (*s)->load(q);
    if (m) {
      ASSERT_EQ(m->data, std::string(200, 'p'));  // never silently wrong
    } else {
      EXPECT_TRUE(m.error() == errc::store_corrupt || m.error() == errc::corrupt_record) << m.error().message();
      ++errors;
    }
  }
  EXPECT_GT(errors, 0);
}

TEST_F(rocksdb_env_test, memory_streams_keep_config_and_come_back_empty) {
  {
    auto env = open().value();
    auto s = env->create_stream("M", storage_type::memory, R"({"storage":"memory"})").value();
    EXPECT_EQ(s->type(), storage_type::memory);
    ASSERT_TRUE(s->append({"a", {}, "x", 1, 0}));
    EXPECT_EQ(s->state().bytes, memory_store_msg_size(1, 0, 1));
    auto c = env->create_consumer("M", "C", "{}").value();
    ASSERT_TRUE(c->update_config(R"({"x":1})"));
  }
  auto env = open().value();
  ASSERT_EQ(env->streams().size(), 1u);
  EXPECT_EQ(env->streams()[0].type, storage_type::memory);
  EXPECT_EQ(env->stream_config("M").value(), R"({"storage":"memory"})");
  EXPECT_EQ(env->open_stream("M").value()->state().msgs, 0u);
  EXPECT_EQ(env->open_consumer("M", "C").value()->config(), R"({"x":1})");
}

TEST_F(rocksdb_env_test, sync_always_appends_and_recovers) {
  {
    auto env = open(nullptr, true).value();
    auto s = env->create_stream("S", storage_type::file, "{}").value();
    std::vector<append_request> reqs(100, append_request{"a.b", {}, "data", 5, 0});
    EXPECT_EQ(s->append_batch(reqs).value(), 1u);
    EXPECT_EQ(s->append({"a.c", {}, "y", 6, 0}).value(), 101u);
    ASSERT_TRUE(env->sync_wal());
  }
  auto env = open().value();
  auto s = env->open_stream("S").value();
  EXPECT_EQ(s->state().msgs, 101u);
  EXPECT_EQ(s->load(101).value().subject, "a.c");
}

TEST_F(rocksdb_env_test, pipelined_group_commit_answers_in_order_from_the_sync_thread) {
  {
    rocksdb_env_options o;
    o.dir = dir_;
    o.sync_always = true;
    o.async_append_sync = true;
    auto env = rocksdb_env::open(o).value();
    auto s = env->create_stream("S", storage_type::file, "{}").value();
    auto m = env->create_stream("M", storage_type::memory, "{}").value();
    EXPECT_TRUE(s->appends_await_sync());
    EXPECT_FALSE(m->appends_await_sync());  // nothing of a memory stream is in the WAL
    std::mutex mu;
    std::condition_variable cv;
    std::vector<int> answered;
    std::vector<std::thread::id> threads;
    std::vector<append_request> reqs(50, append_request{"a.b", {}, "data", 5, 0});
    for (int round = 0; round < 20; ++round) {
      ASSERT_EQ(s->append_batch(reqs).value(), 1u + 50u * static_cast<unsigned>(round));
      env->sync_wal_async([&, round](result<void> r) {
        EXPECT_TRUE(r);
        std::lock_guard lk(mu);
        answered.push_back(round);
        threads.push_back(std::this_thread::get_id());
        cv.notify_all();
      });
    }
    std::unique_lock lk(mu);
    ASSERT_TRUE(cv.wait_for(lk, std::chrono::seconds(10), [&] { return answered.size() == 20; }));
    std::vector<int> want(20);
    std::iota(want.begin(), want.end(), 0);
    EXPECT_EQ(answered, want);
    for (auto id : threads) EXPECT_NE(id, std::this_thread::get_id());
  }
  // Without the pipeline the callback runs at once: the append was fsynced when it returned.
  auto env = open(nullptr, true).value();
  auto s = env->open_stream("S").value();
  EXPECT_EQ(s->state().msgs, 1000u);
  EXPECT_FALSE(s->appends_await_sync());
  bool called = false;
  env->sync_wal_async([&](result<void> r) { called = bool(r); });
  EXPECT_TRUE(called);
}

TEST_F(rocksdb_env_test, same_instance_per_name) {
  auto env = open().value();
  auto a = env->create_stream("S", storage_type::file, "{}").value();
  auto b = env->open_stream("S").value();
  EXPECT_EQ(a.get(), b.get());
}

}  // namespace
}  // namespace jb::storage::test
