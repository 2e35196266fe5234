// Typed tests: every case runs against memory_stream_store and rocksdb_stream_store.
#include "tests/unit/storage/store_fixture.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace jb::storage::test {
namespace {

template <class Kind>
class stream_store_test : public ::testing::Test {
 protected:
  void SetUp() override { s_ = h_.env().create_stream("S", Kind::type, R"({"name":"S"})").value(); }

  stream_store& s() { return *s_; }

  stream_seq add(std::string_view subj, std::string_view data = "x", std::string_view hdr = {}, timestamp_ns ts = 0,
                 std::int64_t ttl = 0) {
    if (ts == 0) ts = ++clock_;
    auto r = s_->append({subj, hdr, data, ts, ttl});
    EXPECT_TRUE(r.has_value()) << subj;
    return r ? *r : 0;
  }
  std::uint64_t size(std::string_view subj, std::string_view data = "x", std::string_view hdr = {}) const {
    return size_for(s_->type(), subj, hdr, data);
  }
  // Reopens the environment (RocksDB) and checks nothing observable changed.
  void reopen_and_compare() {
    const auto before = s_->state(state_detail::with_deleted);
    const auto counts = s_->subject_counts("");
    const auto ttl = s_->next_ttl_deadline();
    s_.reset();
    h_.reopen();
    s_ = h_.env().open_stream("S").value();
    EXPECT_EQ(s_->state(state_detail::with_deleted), before);
    EXPECT_EQ(s_->subject_counts(""), counts);
    EXPECT_EQ(s_->next_ttl_deadline(), ttl);
  }

  env_holder<Kind> h_;
  std::shared_ptr<stream_store> s_;
  timestamp_ns clock_ = 1000;
};

using kinds = ::testing::Types<memory_kind, rocksdb_kind>;
class kind_names {
 public:
  template <class T>
  static std::string GetName(int) {
    return std::is_same_v<T, memory_kind> ? "memory" : "rocksdb";
  }
};
TYPED_TEST_SUITE(stream_store_test, kinds, kind_names);

TYPED_TEST(stream_store_test, fresh_stream_state) {
  auto st = this->s().state();
  EXPECT_EQ(st, stream_state{});
  EXPECT_EQ(this->s().load(1).error(), errc::msg_not_found);
  EXPECT_EQ(this->s().load_next(0, "").error(), errc::msg_not_found);
  EXPECT_EQ(this->s().load_last("").error(), errc::msg_not_found);
  this->reopen_and_compare();
}

TYPED_TEST(stream_store_test, append_and_load_round_trip) {
  EXPECT_EQ(this->add("foo", "hello", "NATS/1.0\r\nA: b\r\n\r\n", 5000), 1u);
  EXPECT_EQ(this->add("bar", "", {}, 6000), 2u);
  EXPECT_EQ(this->add("foo.baz", std::string(3000, 'z'), {}, 7000), 3u);
  auto m = this->s().load(1).value();
  EXPECT_EQ(m.seq, 1u);
  EXPECT_EQ(m.subject, "foo");
  EXPECT_EQ(m.hdr, "NATS/1.0\r\nA: b\r\n\r\n");
  EXPECT_EQ(m.data, "hello");
  EXPECT_EQ(m.ts, 5000);
  EXPECT_EQ(m.expires, 0);
  EXPECT_EQ(this->s().load(2).value().data, "");
  EXPECT_EQ(this->s().load(3).value().data.size(), 3000u);
  EXPECT_EQ(this->s().load(4).error(), errc::msg_not_found);
  EXPECT_EQ(this->s().load(0).error(), errc::msg_not_found);
  auto st = this->s().state();
  EXPECT_EQ(st.msgs, 3u);
  EXPECT_EQ(st.first_seq, 1u);
  EXPECT_EQ(st.first_ts, 5000);
  EXPECT_EQ(st.last_seq, 3u);
  EXPECT_EQ(st.last_ts, 7000);
  EXPECT_EQ(st.num_subjects, 3u);
  EXPECT_EQ(st.bytes, this->size("foo", "hello", "NATS/1.0\r\nA: b\r\n\r\n") + this->size("bar", "") +
                          this->size("foo.baz", std::string(3000, 'z')));
  this->reopen_and_compare();
  EXPECT_EQ(this->add("x"), 4u);
}

TYPED_TEST(stream_store_test, byte_accounting_matches_nats_server) {
  // nats-server fileStoreMsgSize: 22 + subj + msg + 8, and + 4 + hdr with headers;
  // memStoreMsgSize: subj + hdr + msg + 16.
  this->add("abc", "12345");
  this->add("abc", "12345", "HDR");
  const bool file = this->s().type() == storage_type::file;
  EXPECT_EQ(this->s().state().bytes, file ? (30u + 3 + 5) + (34u + 3 + 3 + 5) : (16u + 3 + 5) + (16u + 3 + 3 + 5));
}

TYPED_TEST(stream_store_test, append_batch_is_atomic_and_sequential) {
  std::vector<append_request> reqs{{"a", {}, "1", 10, 0}, {"b", {}, "2", 11, 0}, {"a", {}, "3", 12, 0}};
  EXPECT_EQ(this->s().append_batch(reqs).value(), 1u);
  EXPECT_EQ(this->s().append_batch(reqs).value(), 4u);
  EXPECT_EQ(this->s().load(5).value().data, "2");
  std::vector<append_request> bad{{"ok", {}, "1", 13, 0}, {"bad subject", {}, "2", 14, 0}};
  EXPECT_EQ(this->s().append_batch(bad).error(), errc::bad_subject);
  EXPECT_EQ(this->s().state().msgs, 6u);
  EXPECT_EQ(this->s().state().last_seq, 6u);
  EXPECT_EQ(this->s().append_batch({}).error(), errc::invalid_argument);
  EXPECT_EQ(this->s().subject_counts("").at("a"), 4u);
  this->reopen_and_compare();
}

TYPED_TEST(stream_store_test, rejects_invalid_subjects) {
  EXPECT_EQ(this->s().append({"", {}, "x", 1, 0}).error(), errc::bad_subject);
  EXPECT_EQ(this->s().append({"a..b", {}, "x", 1, 0}).error(), errc::bad_subject);
  EXPECT_EQ(this->s().append({std::string_view("a\0b", 3), {}, "x", 1, 0}).error(), errc::bad_subject);
  EXPECT_EQ(this->s().state().msgs, 0u);
  EXPECT_EQ(this->s().load_next(0, "a..").error(), errc::bad_subject);
}

TYPED_TEST(stream_store_test, load_next_with_filters) {
  this->add("orders.new");   // 1
  this->add("orders.paid");  // 2
  this->add("users.1");      // 3
  this->add("orders.new");   // 4
  this->add("users.2.x");    // 5
  auto& s = this->s();
  EXPECT_EQ(s.load_next(0, "").value().seq, 1u);
  EXPECT_EQ(s.load_next(2, ">").value().seq, 2u);
  EXPECT_EQ(s.load_next(2, "orders.new").value().seq, 4u);
  EXPECT_EQ(s.load_next(5, "orders.new").error(), errc::msg_not_found);
  EXPECT_EQ(s.load_next(1, "users.*").value().seq, 3u);
  EXPECT_EQ(s.load_next(4, "users.*").error(), errc::msg_not_found);
  EXPECT_EQ(s.load_next(4, "users.>").value().seq, 5u);
  EXPECT_EQ(s.load_next(0, "*.paid").value().seq, 2u);
  EXPECT_EQ(s.load_next(0, "nothing").error(), errc::msg_not_found);
  std::vector<std::string> set{"users.1", "orders.paid"};
  EXPECT_EQ(s.load_next(0, filter_set(set)).value().seq, 2u);
  EXPECT_EQ(s.load_next(3, filter_set(set)).value().seq, 3u);
  EXPECT_EQ(s.load_next(4, filter_set(set)).error(), errc::msg_not_found);
  std::vector<std::string> wild{"users.*.x", "orders.*"};
  EXPECT_EQ(s.load_next(5, filter_set(wild)).value().seq, 5u);
  ASSERT_TRUE(s.remove(4).value());
  EXPECT_EQ(s.load_next(2, "orders.new").error(), errc::msg_not_found);
  EXPECT_EQ(s.load_next(4, "").value().seq, 5u);
}

TYPED_TEST(stream_store_test, load_range_reads_in_order_with_limits_and_gaps) {
  for (int i = 1; i <= 10; ++i) this->add(i % 2 ? "odd" : "even");
  auto& s = this->s();
  ASSERT_TRUE(s.remove(3).value());
  ASSERT_TRUE(s.remove(4).value());
  auto seqs = [](const stream_store::range& r) {
    std::vector<stream_seq> v;
    for (const auto& m : r.msgs) v.push_back(m.seq);
    return v;
  };
  auto all = s.load_range(0, filter_set{}, 100, 1 << 20).value();
  EXPECT_EQ(seqs(all), (std::vector<stream_seq>{1, 2, 5, 6, 7, 8, 9, 10}));
  EXPECT_EQ(all.next, 11u);
  EXPECT_EQ(all.msgs[2].subject, "odd");
  auto three = s.load_range(2, filter_set{}, 3, 1 << 20).value();
  EXPECT_EQ(seqs(three), (std::vector<stream_seq>{2, 5, 6}));
  EXPECT_EQ(three.next, 7u);  // continue after the last one returned
  auto by_bytes = s.load_range(1, filter_set{}, 100, 1).value();  // stops once the byte budget is spent
  EXPECT_EQ(seqs(by_bytes), (std::vector<stream_seq>{1}));
  EXPECT_EQ(by_bytes.next, 2u);
  std::vector<std::string> even{"even"};
  auto f = s.load_range(0, filter_set(even), 2, 1 << 20).value();
  EXPECT_EQ(seqs(f), (std::vector<stream_seq>{2, 6}));
  EXPECT_EQ(f.next, 7u);
  auto none = s.load_range(11, filter_set{}, 10, 1 << 20).value();
  EXPECT_TRUE(none.msgs.empty());
  EXPECT_EQ(none.next, 11u);
  auto tail = s.load_range(9, filter_set(even), 10, 1 << 20).value();
  EXPECT_EQ(seqs(tail), (std::vector<stream_seq>{10}));
  EXPECT_EQ(tail.next, 11u);
  std::vector<std::string> bad{"a..b"};
  EXPECT_EQ(s.load_range(0, filter_set(bad), 10, 1 << 20).error(), errc::bad_subject);
}

TYPED_TEST(stream_store_test, load_next_many_subjects_sparse_match) {
  // More subjects than the scan window: exercises the subject-index probe path.
  for (int i = 0; i < 600; ++i) this->add("noise." + std::to_string(i));
  this->add("rare.1");
  for (int i = 0; i < 300; ++i) this->add("noise." + std::to_string(i));
  EXPECT_EQ(this->s().load_next(0, "rare.*").value().seq, 601u);
  EXPECT_EQ(this->s().load_next(0, "rare.>").value().subject, "rare.1");
  EXPECT_EQ(this->s().load_next(602, "rare.*").error(), errc::msg_not_found);
  EXPECT_EQ(this->s().load_last("rare.*").value().seq, 601u);
  EXPECT_EQ(this->s().load_last("noise.*").value().seq, 901u);
  EXPECT_EQ(this->s().load_last("noise.599").value().seq, 600u);
}

TYPED_TEST(stream_store_test, load_last_by_subject_and_filter) {
  this->add("a.1");  // 1
  this->add("a.2");  // 2
  this->add("b");    // 3
  this->add("a.1");  // 4
  auto& s = this->s();
  EXPECT_EQ(s.load_last("").value().seq, 4u);
  EXPECT_EQ(s.load_last("a.2").value().seq, 2u);
  EXPECT_EQ(s.load_last("a.*").value().seq, 4u);
  EXPECT_EQ(s.load_last("b").value().seq, 3u);
  EXPECT_EQ(s.load_last("c").error(), errc::msg_not_found);
  ASSERT_TRUE(s.remove(4).value());
  EXPECT_EQ(s.load_last("a.1").value().seq, 1u);
  EXPECT_EQ(s.load_last(">").value().seq, 3u);
}

TYPED_TEST(stream_store_test, remove_tracks_first_and_deleted) {
  for (int i = 0; i < 6; ++i) this->add(i % 2 ? "odd" : "even");
  auto& s = this->s();
  EXPECT_TRUE(s.remove(3).value());
  EXPECT_FALSE(s.remove(3).value());
  EXPECT_FALSE(s.remove(99).value());
  EXPECT_TRUE(s.remove(1).value());
  auto st = s.state(state_detail::with_deleted);
  EXPECT_EQ(st.first_seq, 2u);
  EXPECT_EQ(st.first_ts, 1002);
  EXPECT_EQ(st.msgs, 4u);
  EXPECT_EQ(st.num_deleted, 1u);
  EXPECT_EQ(st.deleted, std::vector<stream_seq>{3});
  EXPECT_TRUE(s.remove(2).value());
  st = s.state(state_detail::with_deleted);
  EXPECT_EQ(st.first_seq, 4u);
  EXPECT_EQ(st.num_deleted, 0u);
  EXPECT_EQ(s.subject_counts(""), (std::map<std::string, std::uint64_t>{{"even", 1}, {"odd", 2}}));
  this->reopen_and_compare();
  for (stream_seq q = 4; q <= 6; ++q) EXPECT_TRUE(this->s().remove(q).value());
  st = this->s().state();
  EXPECT_EQ(st.msgs, 0u);
  EXPECT_EQ(st.bytes, 0u);
  EXPECT_EQ(st.first_seq, 7u);
  EXPECT_EQ(st.last_seq, 6u);
  EXPECT_EQ(st.first_ts, 0);
  EXPECT_EQ(st.num_subjects, 0u);
  this->reopen_and_compare();
  EXPECT_EQ(this->add("next"), 7u);
  EXPECT_EQ(this->s().state().first_seq, 7u);
}

TYPED_TEST(stream_store_test, purge_all_keeps_sequence) {
  for (int i = 0; i < 50; ++i) this->add("s." + std::to_string(i % 5));
  EXPECT_EQ(this->s().purge({}).value(), 50u);
  auto st = this->s().state();
  EXPECT_EQ(st.msgs, 0u);
  EXPECT_EQ(st.bytes, 0u);
  EXPECT_EQ(st.first_seq, 51u);
  EXPECT_EQ(st.last_seq, 50u);
  EXPECT_EQ(st.num_subjects, 0u);
  EXPECT_EQ(this->s().load(10).error(), errc::msg_not_found);
  this->reopen_and_compare();
  EXPECT_EQ(this->add("s.1"), 51u);
  EXPECT_EQ(this->s().state().first_seq, 51u);
  EXPECT_EQ(this->s().load_next(0, "").value().seq, 51u);
}

TYPED_TEST(stream_store_test, purge_empty_fresh_stream_moves_first) {
  EXPECT_EQ(this->s().purge({}).value(), 0u);
  EXPECT_EQ(this->s().state().first_seq, 1u);
  EXPECT_EQ(this->s().state().last_seq, 0u);
  this->reopen_and_compare();
}

TYPED_TEST(stream_store_test, purge_by_subject_filter) {
  for (int i = 0; i < 40; ++i) this->add(i % 4 == 0 ? "keep.a" : (i % 4 == 1 ? "drop.a" : "drop.b.c"));
  auto& s = this->s();
  EXPECT_EQ(s.purge({"drop.a"}).value(), 10u);
  EXPECT_EQ(s.purge({"drop.>"}).value(), 20u);
  auto st = s.state();
  EXPECT_EQ(st.msgs, 10u);
  EXPECT_EQ(st.num_subjects, 1u);
  EXPECT_EQ(st.first_seq, 1u);
  EXPECT_EQ(st.bytes, 10 * this->size("keep.a"));
  EXPECT_EQ(s.load_next(2, "").value().seq, 5u);
  EXPECT_EQ(s.purge({"keep.*"}).value(), 10u);
  EXPECT_EQ(s.state().first_seq, 41u);
  this->reopen_and_compare();
}

TYPED_TEST(stream_store_test, purge_subject_removes_head_updates_first) {
  for (int i = 0; i < 100; ++i) this->add(i < 60 ? "old" : "new");
  EXPECT_EQ(this->s().purge({"old"}).value(), 60u);
  EXPECT_EQ(this->s().state().first_seq, 61u);
  EXPECT_EQ(this->s().state().first_ts, 1061);
  this->reopen_and_compare();
}

TYPED_TEST(stream_store_test, purge_with_keep_and_up_to) {
  for (int i = 0; i < 30; ++i) this->add(i % 2 ? "x.1" : "x.2");  // x.2 on odd seqs
  auto& s = this->s();
  EXPECT_EQ(s.purge({"x.*", 0, 3}).value(), 24u);  // per subject: keep newest 3 of each
  EXPECT_EQ(s.subject_counts("").at("x.1"), 3u);
  EXPECT_EQ(s.subject_counts("").at("x.2"), 3u);
  EXPECT_EQ(s.state().first_seq, 25u);
  EXPECT_EQ(s.purge({"", 0, 2}).value(), 4u);  // whole stream: keep newest 2
  EXPECT_EQ(s.state().first_seq, 29u);
  EXPECT_EQ(s.purge({"x.1", 5, 1}).error(), errc::invalid_argument);
  EXPECT_EQ(s.purge({"x..", 0, 0}).error(), errc::bad_subject);
  for (int i = 0; i < 10; ++i) this->add("y");  // 31..40
  EXPECT_EQ(s.purge({"y", 35, 0}).value(), 4u);  // y below 35
  EXPECT_EQ(s.purge({"", 30, 0}).value(), 1u);  // everything below 30: seq 29
  auto st = s.state();
  EXPECT_EQ(st.first_seq, 30u);
  EXPECT_EQ(st.msgs, 7u);
  EXPECT_EQ(st.num_deleted, 4u);
  this->reopen_and_compare();
}

TYPED_TEST(stream_store_test, purge_up_to_beyond_last) {
  for (int i = 0; i < 5; ++i) this->add("a");
  EXPECT_EQ(this->s().purge({"", 100, 0}).value(), 5u);
  auto st = this->s().state();
  EXPECT_EQ(st.first_seq, 100u);
  EXPECT_EQ(st.last_seq, 99u);
  this->reopen_and_compare();
  EXPECT_EQ(this->add("a"), 100u);
}

TYPED_TEST(stream_store_test, large_range_purge_then_scan) {
  std::vector<append_request> reqs;
  std::vector<std::string> subjects;
  for (int i = 0; i < 100; ++i) subjects.push_back("sub." + std::to_string(i));
  for (int b = 0; b < 50; ++b) {
    reqs.clear();
    for (int i = 0; i < 200; ++i) reqs.push_back({subjects[(b * 200 + i) % 100], {}, "payload", 10 + b, 0});
    ASSERT_TRUE(this->s().append_batch(reqs));
  }
  EXPECT_EQ(this->s().purge({"", 9001, 0}).value(), 9000u);
  auto st = this->s().state();
  EXPECT_EQ(st.first_seq, 9001u);
  EXPECT_EQ(st.msgs, 1000u);
  EXPECT_EQ(st.num_subjects, 100u);
  EXPECT_EQ(this->s().load_next(0, "").value().seq, 9001u);
  EXPECT_EQ(this->s().load_next(0, "sub.5").value().seq, 9006u);
  EXPECT_EQ(this->s().subject_counts("sub.5").at("sub.5"), 10u);
  this->reopen_and_compare();
  EXPECT_EQ(this->s().enforce_max_msgs(100).value(), 900u);
  EXPECT_EQ(this->s().state().first_seq, 9901u);
  this->reopen_and_compare();
}

TYPED_TEST(stream_store_test, subject_counts_and_num_subjects) {
  this->add("a.b");
  this->add("a.c");
  this->add("a.b");
  this->add("d");
  auto& s = this->s();
  EXPECT_EQ(s.subject_counts(""), (std::map<std::string, std::uint64_t>{{"a.b", 2}, {"a.c", 1}, {"d", 1}}));
  EXPECT_EQ(s.subject_counts("a.*"), (std::map<std::string, std::uint64_t>{{"a.b", 2}, {"a.c", 1}}));
  EXPECT_EQ(s.subject_counts("d"), (std::map<std::string, std::uint64_t>{{"d", 1}}));
  EXPECT_TRUE(s.subject_counts("zz").empty());
  EXPECT_EQ(s.state().num_subjects, 3u);
}

TYPED_TEST(stream_store_test, num_pending_variants) {
  // seq: 1 a, 2 b, 3 a, 4 c.x, 5 b, 6 a
  for (auto subj : {"a", "b", "a", "c.x", "b", "a"}) this->add(subj);
  auto& s = this->s();
  const std::vector<std::string> none;
  const std::vector<std::string> a{"a"};
  const std::vector<std::string> ab{"a", "b"};
  const std::vector<std::string> cw{"c.*"};
  EXPECT_EQ(s.num_pending(0, none, last_per_subject::no), 6u);
  EXPECT_EQ(s.num_pending(4, none, last_per_subject::no), 3u);
  EXPECT_EQ(s.num_pending(2, none, last_per_subject::no), 5u);
  EXPECT_EQ(s.num_pending(7, none, last_per_subject::no), 0u);
  EXPECT_EQ(s.num_pending(0, a, last_per_subject::no), 3u);
  EXPECT_EQ(s.num_pending(4, a, last_per_subject::no), 1u);
  EXPECT_EQ(s.num_pending(2, ab, last_per_subject::no), 4u);
  EXPECT_EQ(s.num_pending(5, ab, last_per_subject::no), 2u);
  EXPECT_EQ(s.num_pending(0, cw, last_per_subject::no), 1u);
  EXPECT_EQ(s.num_pending(0, none, last_per_subject::yes), 3u);
  EXPECT_EQ(s.num_pending(5, none, last_per_subject::yes), 2u);
  EXPECT_EQ(s.num_pending(6, ab, last_per_subject::yes), 1u);
  EXPECT_EQ(s.num_pending(4, cw, last_per_subject::yes), 1u);
  EXPECT_EQ(s.num_pending(5, cw, last_per_subject::yes), 0u);
  ASSERT_TRUE(s.remove(6).value());
  EXPECT_EQ(s.num_pending(4, a, last_per_subject::no), 0u);
  EXPECT_EQ(s.num_pending(4, none, last_per_subject::yes), 2u);
}

TYPED_TEST(stream_store_test, limits_max_msgs_and_bytes) {
  for (int i = 0; i < 20; ++i) this->add("l", "0123456789");
  auto& s = this->s();
  EXPECT_EQ(s.enforce_max_msgs(15).value(), 5u);
  EXPECT_EQ(s.enforce_max_msgs(15).value(), 0u);
  EXPECT_EQ(s.state().first_seq, 6u);
  const auto one = this->size("l", "0123456789");
  EXPECT_EQ(s.enforce_max_bytes(one * 10 + 1).value(), 5u);
  EXPECT_EQ(s.state().msgs, 10u);
  EXPECT_EQ(s.state().bytes, one * 10);
  EXPECT_EQ(s.enforce_max_bytes(0).value(), 10u);
  EXPECT_EQ(s.state().first_seq, 21u);
  this->reopen_and_compare();
}

TYPED_TEST(stream_store_test, expire_before_uses_time_order) {
  for (int i = 1; i <= 10; ++i) this->add("t", "x", {}, i * 100);
  auto& s = this->s();
  EXPECT_EQ(s.expire_before(100).value(), 0u);
  EXPECT_EQ(s.expire_before(350).value(), 3u);
  EXPECT_EQ(s.state().first_seq, 4u);
  EXPECT_EQ(s.state().first_ts, 400);
  EXPECT_EQ(s.expire_before(10000).value(), 7u);
  EXPECT_EQ(s.state().msgs, 0u);
  this->reopen_and_compare();
}

TYPED_TEST(stream_store_test, max_msgs_per_subject) {
  for (int i = 0; i < 12; ++i) this->add(i % 3 == 0 ? "kv.a" : (i % 3 == 1 ? "kv.b" : "kv.c"));
  auto& s = this->s();
  EXPECT_EQ(s.enforce_max_msgs_per_subject(2, std::string_view("kv.a")).value(), 2u);
  EXPECT_EQ(s.subject_counts("kv.a").at("kv.a"), 2u);
  EXPECT_EQ(s.state().first_seq, 2u);
  EXPECT_EQ(s.enforce_max_msgs_per_subject(1).value(), 1u + 3 + 3);
  EXPECT_EQ(s.state().msgs, 3u);
  EXPECT_EQ(s.load_last("kv.a").value().seq, 10u);
  EXPECT_EQ(s.load_next(0, "").value().seq, 10u);
  EXPECT_EQ(s.enforce_max_msgs_per_subject(1, std::string_view("kv.zz")).value(), 0u);
  this->reopen_and_compare();
}

TYPED_TEST(stream_store_test, per_message_ttl) {
  this->add("ttl", "a", {}, 1000, 500);  // expires 1500
  this->add("ttl", "b", {}, 1100);       // never
  this->add("ttl", "c", {}, 1200, 100);  // expires 1300
  auto& s = this->s();
  EXPECT_EQ(s.load(1).value().expires, 1500);
  EXPECT_EQ(s.next_ttl_deadline(), std::optional<timestamp_ns>(1300));
  this->reopen_and_compare();
  EXPECT_EQ(this->s().expire_ttl(1299).value(), 0u);
  EXPECT_EQ(this->s().expire_ttl(1300).value(), 1u);
  EXPECT_EQ(this->s().next_ttl_deadline(), std::optional<timestamp_ns>(1500));
  EXPECT_EQ(this->s().expire_ttl(2000).value(), 1u);
  EXPECT_FALSE(this->s().next_ttl_deadline().has_value());
  auto st = this->s().state();
  EXPECT_EQ(st.msgs, 1u);
  EXPECT_EQ(st.first_seq, 2u);
  // A removed message leaves no TTL entry behind.
  this->add("ttl", "d", {}, 3000, 10);
  EXPECT_TRUE(this->s().remove(4).value());
  EXPECT_FALSE(this->s().next_ttl_deadline().has_value());
  this->reopen_and_compare();
}

TYPED_TEST(stream_store_test, set_first_seq) {
  EXPECT_EQ(this->s().set_first_seq(0).error(), errc::invalid_argument);
  EXPECT_EQ(this->s().set_first_seq(1000).value(), 0u);
  auto st = this->s().state();
  EXPECT_EQ(st.first_seq, 1000u);
  EXPECT_EQ(st.last_seq, 999u);
  this->reopen_and_compare();
  EXPECT_EQ(this->add("a"), 1000u);
  EXPECT_EQ(this->s().state().first_seq, 1000u);
}

TYPED_TEST(stream_store_test, skip_to) {
  // Empty stream: the skipped range moves first_seq along.
  ASSERT_TRUE(this->s().skip_to(5, 77));
  auto st = this->s().state();
  EXPECT_EQ(st.first_seq, 6u);
  EXPECT_EQ(st.last_seq, 5u);
  EXPECT_EQ(st.last_ts, 77);
  EXPECT_EQ(st.num_deleted, 0u);
  this->reopen_and_compare();
  EXPECT_EQ(this->add("a", "x", {}, 100), 6u);
  // Non-empty: skipped sequences are interior deletes once something follows them.
  ASSERT_TRUE(this->s().skip_to(9, 200));
  st = this->s().state(state_detail::with_deleted);
  EXPECT_EQ(st.first_seq, 6u);
  EXPECT_EQ(st.last_seq, 9u);
  EXPECT_EQ(st.last_ts, 100);
  EXPECT_EQ(st.msgs, 1u);
  this->reopen_and_compare();
  EXPECT_EQ(this->add("b", "y", {}, 300), 10u);
  st = this->s().state(state_detail::with_deleted);
  EXPECT_EQ(st.num_deleted, 3u);
  EXPECT_EQ(st.deleted, (std::vector<stream_seq>{7, 8, 9}));
  // Backwards is a no-op.
  ASSERT_TRUE(this->s().skip_to(3, 400));
  EXPECT_EQ(this->s().state().last_seq, 10u);
  EXPECT_EQ(this->s().load_next(7, std::string_view{}).value().seq, 10u);
  this->reopen_and_compare();
}

TYPED_TEST(stream_store_test, deleted_stream_answers_closed) {
  this->add("a");
  auto keep = this->s_;
  ASSERT_TRUE(this->h_.env().delete_stream("S"));
  EXPECT_EQ(keep->append({"a", {}, "x", 1, 0}).error(), errc::closed);
  EXPECT_EQ(keep->load(1).error(), errc::closed);
  EXPECT_EQ(this->h_.env().open_stream("S").error(), errc::stream_not_found);
  // A new stream of the same name starts empty.
  auto again = this->h_.env().create_stream("S", TypeParam::type, "{}").value();
  EXPECT_EQ(again->state().msgs, 0u);
  EXPECT_EQ(again->load(1).error(), errc::msg_not_found);
  EXPECT_EQ(again->append({"a", {}, "x", 1, 0}).value(), 1u);
}

}  // namespace
}  // namespace jb::storage::test
