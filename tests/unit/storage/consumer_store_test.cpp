// Typed tests for consumer state and the environment catalog, against memory and RocksDB.
#include "tests/unit/storage/store_fixture.hpp"

#include <gtest/gtest.h>

#include <algorithm>

namespace jb::storage::test {
namespace {

template <class Kind>
class consumer_store_test : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(h_.env().create_stream("S", Kind::type, "{}"));
    c_ = h_.env().create_consumer("S", "C", R"({"durable_name":"C"})").value();
  }
  consumer_store& c() { return *c_; }
  void reopen_and_compare() {
    const auto before = c_->state();
    const auto cfg = c_->config();
    c_.reset();
    h_.reopen();
    c_ = h_.env().open_consumer("S", "C").value();
    EXPECT_EQ(c_->config(), cfg);
    if (Kind::type == storage_type::file) {
      EXPECT_EQ(c_->state(), before);
    }
  }
  env_holder<Kind> h_;
  std::shared_ptr<consumer_store> c_;
};

using kinds = ::testing::Types<memory_kind, rocksdb_kind>;
class kind_names {
 public:
  template <class T>
  static std::string GetName(int) {
    return std::is_same_v<T, memory_kind> ? "memory" : "rocksdb";
  }
};
TYPED_TEST_SUITE(consumer_store_test, kinds, kind_names);

TYPED_TEST(consumer_store_test, delivery_and_in_order_acks_move_floor) {
  auto& c = this->c();
  for (std::uint64_t i = 1; i <= 5; ++i) ASSERT_TRUE(c.update_delivered(i, i * 10, 1, 100 + i));
  EXPECT_EQ(c.state().delivered, (seq_pair{5, 50}));
  EXPECT_EQ(c.state().pending.size(), 5u);
  EXPECT_EQ(c.state().pending.at(30), (pending_entry{3, 103}));
  ASSERT_TRUE(c.update_acks(1, 10));  // floor: just below the next pending stream seq
  EXPECT_EQ(c.state().ack_floor, (seq_pair{1, 19}));
  ASSERT_TRUE(c.update_acks(3, 30));  // out of order: floor stays
  EXPECT_EQ(c.state().ack_floor, (seq_pair{1, 19}));
  ASSERT_TRUE(c.update_acks(2, 20));  // fills the gap: floor jumps to just below the next pending
  EXPECT_EQ(c.state().ack_floor, (seq_pair{3, 39}));
  this->reopen_and_compare();
  ASSERT_TRUE(this->c().update_acks(4, 40));
  ASSERT_TRUE(this->c().update_acks(5, 50));
  EXPECT_TRUE(this->c().state().pending.empty());
  EXPECT_EQ(this->c().state().ack_floor, (seq_pair{5, 50}));
  this->reopen_and_compare();
}

// Deferred commits (what JetStream runs with): entries created and removed between two commits
// cancel out, everything else reaches the store at the commit, and the result reloads exactly.
TYPED_TEST(consumer_store_test, deferred_commits_keep_state_exact) {
  auto& env = this->h_.env();
  env.begin_deferred();
  auto& c = this->c();
  for (std::uint64_t i = 1; i <= 4; ++i) ASSERT_TRUE(c.update_delivered(i, i, 1, 100 + i));
  ASSERT_TRUE(c.update_acks(2, 2));  // delivered and acked inside one window
  ASSERT_TRUE(env.commit_deferred());
  ASSERT_TRUE(c.update_delivered(5, 1, 2, 200));  // redelivery of 1: updates a committed entry
  ASSERT_TRUE(c.update_acks(3, 3));               // deletes a committed entry
  ASSERT_TRUE(c.update_delivered(6, 5, 1, 201));
  ASSERT_TRUE(c.update_acks(6, 5));  // created and deleted again: never written
  ASSERT_TRUE(env.commit_deferred());
  EXPECT_EQ(c.state().pending.size(), 2u);
  EXPECT_EQ(c.state().redelivered.at(1), 1u);
  this->reopen_and_compare();
  auto& env2 = this->h_.env();
  env2.begin_deferred();
  ASSERT_TRUE(this->c().update_acks(5, 1));  // removes committed pending and redelivery entries
  ASSERT_TRUE(env2.commit_deferred());
  EXPECT_EQ(this->c().state().pending.size(), 1u);
  EXPECT_TRUE(this->c().state().redelivered.empty());
  this->reopen_and_compare();
  EXPECT_EQ(this->c().state().pending.count(4), 1u);
}

TYPED_TEST(consumer_store_test, redelivery_counts) {
  auto& c = this->c();
  ASSERT_TRUE(c.update_delivered(1, 7, 1, 1));
  ASSERT_TRUE(c.update_delivered(2, 7, 2, 5));
  ASSERT_TRUE(c.update_delivered(3, 7, 3, 9));
  EXPECT_EQ(c.state().redelivered.at(7), 2u);
  EXPECT_EQ(c.state().pending.at(7), (pending_entry{3, 9}));
  EXPECT_EQ(c.state().delivered, (seq_pair{3, 7}));
  this->reopen_and_compare();
  ASSERT_TRUE(this->c().update_acks(3, 7));
  EXPECT_TRUE(this->c().state().redelivered.empty());
  EXPECT_TRUE(this->c().state().pending.empty());
  EXPECT_EQ(this->c().update_delivered(4, 8, 0, 1).error(), errc::invalid_argument);
  EXPECT_EQ(this->c().update_acks(99, 99).error(), errc::invalid_argument);
  EXPECT_TRUE(this->c().update_acks(1, 1));  // unknown but in range: no-op
  this->reopen_and_compare();
}

TYPED_TEST(consumer_store_test, ack_none_moves_floor_with_delivery) {
  ASSERT_TRUE(this->c().update_delivered(1, 3, 1, 1, track_pending::no));
  EXPECT_TRUE(this->c().state().pending.empty());
  EXPECT_EQ(this->c().state().ack_floor, (seq_pair{1, 3}));
  this->reopen_and_compare();
}

TYPED_TEST(consumer_store_test, many_pending_then_acks_persist) {
  auto& c = this->c();
  for (std::uint64_t i = 1; i <= 20000; ++i) ASSERT_TRUE(c.update_delivered(i, i, 1, static_cast<timestamp_ns>(i)));
  for (std::uint64_t i = 1; i <= 20000; i += 2) ASSERT_TRUE(c.update_acks(i, i));
  EXPECT_EQ(c.state().pending.size(), 10000u);
  EXPECT_EQ(c.state().ack_floor, (seq_pair{1, 1}));
  this->reopen_and_compare();
}

TYPED_TEST(consumer_store_test, update_state_replaces_everything) {
  ASSERT_TRUE(this->c().update_delivered(1, 1, 1, 1));
  consumer_state st;
  st.delivered = {10, 100};
  st.ack_floor = {8, 90};
  st.pending = {{95, {9, 5}}, {100, {10, 6}}};
  st.redelivered = {{95, 1}};
  ASSERT_TRUE(this->c().update_state(st));
  EXPECT_EQ(this->c().state(), st);
  this->reopen_and_compare();
  EXPECT_EQ(this->c().state().pending.size(), 2u);
}

TYPED_TEST(consumer_store_test, config_update_and_catalog) {
  auto& env = this->h_.env();
  ASSERT_TRUE(this->c().update_config(R"({"durable_name":"C","ack_wait":5})"));
  EXPECT_EQ(env.create_consumer("S", "C", "{}").error(), errc::consumer_exists);
  EXPECT_EQ(env.create_consumer("nope", "C", "{}").error(), errc::stream_not_found);
  ASSERT_TRUE(env.create_consumer("S", "D", "{}"));
  EXPECT_EQ(env.consumer_names("S").value(), (std::vector<std::string>{"C", "D"}));
  ASSERT_TRUE(env.create_stream("T", TypeParam::type, R"({"name":"T"})"));
  ASSERT_TRUE(env.put_stream_config("T", R"({"name":"T","max_msgs":5})"));
  this->reopen_and_compare();
  auto& env2 = this->h_.env();
  EXPECT_EQ(this->c().config(), R"({"durable_name":"C","ack_wait":5})");
  if (TypeParam::persistent) {
    auto streams = env2.streams();
    ASSERT_EQ(streams.size(), 2u);
    EXPECT_EQ(streams[1].name, "T");
    EXPECT_EQ(streams[1].config, R"({"name":"T","max_msgs":5})");
    EXPECT_EQ(streams[1].type, TypeParam::type);
  }
  EXPECT_EQ(env2.stream_config("T").value(), R"({"name":"T","max_msgs":5})");
  ASSERT_TRUE(env2.delete_consumer("S", "D"));
  EXPECT_EQ(env2.delete_consumer("S", "D").error(), errc::consumer_not_found);
  EXPECT_EQ(env2.open_consumer("S", "D").error(), errc::consumer_not_found);
  EXPECT_EQ(env2.consumer_names("S").value(), (std::vector<std::string>{"C"}));
  ASSERT_TRUE(env2.delete_stream("S"));
  EXPECT_EQ(env2.consumer_names("S").error(), errc::stream_not_found);
  EXPECT_EQ(this->c().update_acks(0, 0).error(), errc::closed);
  ASSERT_TRUE(env2.create_stream("S", TypeParam::type, "{}"));
  EXPECT_TRUE(env2.consumer_names("S").value().empty());
  EXPECT_EQ(env2.create_stream("", TypeParam::type, "{}").error(), errc::invalid_argument);
  EXPECT_EQ(env2.create_stream("S", TypeParam::type, "{}").error(), errc::stream_exists);
}

}  // namespace
}  // namespace jb::storage::test
