#include "server/sublist.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <latch>
#include <map>
#include <new>
#include <string>
#include <thread>
#include <vector>

#include "protocol/subject.hpp"

// Counts heap allocations so the tests can check that a cache hit does not allocate. Left out
// under sanitizers, which bring their own operator new.
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
#define JB_COUNT_ALLOCATIONS 1
namespace {
std::atomic<std::size_t> allocations{0};
}  // namespace
// GCC pairs the inlined operator new with these free() calls and misreads them as mismatched.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void* operator new(std::size_t n) {
  allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n != 0 ? n : 1)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
#pragma GCC diagnostic pop
#endif

namespace jb::server {
namespace {

subscription_ptr make_sub(std::string subject, std::string queue = {}) {
  auto s = std::make_shared<subscription>();
  s->subject = std::move(subject);
  s->queue = std::move(queue);
  return s;
}

// A match result in a canonical form: pointers sorted, queue groups keyed by name.
struct normalized {
  std::vector<const subscription*> plain;
  std::map<std::string, std::vector<const subscription*>> queues;
  bool operator==(const normalized&) const = default;
};

std::string describe(const normalized& n) {
  std::string out = "plain{";
  for (const auto* s : n.plain) out += s->subject + " ";
  out += "} queues{";
  for (const auto& [q, members] : n.queues) {
    out += q + ":[";
    for (const auto* s : members) out += s->subject + " ";
    out += "] ";
  }
  return out + "}";
}

// Also checks the shape invariants of a result: groups non-empty, one group per name.
normalized normalize(const match_result& r) {
  normalized n;
  for (const auto& s : r.plain) {
    EXPECT_TRUE(s->queue.empty());
    n.plain.push_back(s.get());
  }
  for (const auto& group : r.queues) {
    EXPECT_FALSE(group.empty());
    if (group.empty()) continue;
    const std::string& name = group.front()->queue;
    EXPECT_FALSE(name.empty());
    EXPECT_EQ(n.queues.count(name), 0U) << "queue group " << name << " split in two";
    auto& members = n.queues[name];
    for (const auto& s : group) {
      EXPECT_EQ(s->queue, name);
      members.push_back(s.get());
    }
  }
  std::sort(n.plain.begin(), n.plain.end());
  for (auto& [q, members] : n.queues) std::sort(members.begin(), members.end());
  return n;
}

// The reference: every subscription, checked one by one.
normalized naive_match(const std::vector<subscription_ptr>& subs, std::string_view subject) {
  normalized n;
  for (const auto& s : subs) {
    if (!protocol::subject_matches(s->subject, subject)) continue;
    if (s->queue.empty()) {
      n.plain.push_back(s.get());
    } else {
      n.queues[s->queue].push_back(s.get());
    }
  }
  std::sort(n.plain.begin(), n.plain.end());
  for (auto& [q, members] : n.queues) std::sort(members.begin(), members.end());
  return n;
}

bool contains(const match_result& r, const subscription_ptr& s) {
  auto has = [&](const std::vector<subscription_ptr>& v) { return std::find(v.begin(), v.end(), s) != v.end(); };
  if (has(r.plain)) return true;
  return std::any_of(r.queues.begin(), r.queues.end(), has);
}

TEST(sublist, literal_match) {
  sublist sl;
  auto a = make_sub("foo.bar");
  auto b = make_sub("foo.baz");
  ASSERT_TRUE(sl.insert(a));
  ASSERT_TRUE(sl.insert(b));
  EXPECT_EQ(sl.count(), 2U);

  auto r = sl.match("foo.bar");
  ASSERT_NE(r, nullptr);
  ASSERT_EQ(r->plain.size(), 1U);
  EXPECT_EQ(r->plain[0], a);
  EXPECT_TRUE(r->queues.empty());
  EXPECT_TRUE(sl.match("foo")->empty());
  EXPECT_TRUE(sl.match("foo.bar.baz")->empty());
  EXPECT_TRUE(sl.match("bar.foo")->empty());
}

TEST(sublist, partial_wildcard) {
  sublist sl;
  auto a = make_sub("foo.*");
  auto b = make_sub("*.bar");
  auto c = make_sub("*.*.baz");
  ASSERT_TRUE(sl.insert(a));
  ASSERT_TRUE(sl.insert(b));
  ASSERT_TRUE(sl.insert(c));

  EXPECT_EQ(normalize(*sl.match("foo.bar")).plain.size(), 2U);
  EXPECT_EQ(normalize(*sl.match("foo.qux")).plain, std::vector<const subscription*>{a.get()});
  EXPECT_EQ(normalize(*sl.match("x.bar")).plain, std::vector<const subscription*>{b.get()});
  EXPECT_EQ(normalize(*sl.match("a.b.baz")).plain, std::vector<const subscription*>{c.get()});
  EXPECT_TRUE(sl.match("foo")->empty());
  EXPECT_TRUE(sl.match("foo.bar.qux")->empty());
}

TEST(sublist, full_wildcard) {
  sublist sl;
  auto a = make_sub("foo.>");
  auto all = make_sub(">");
  ASSERT_TRUE(sl.insert(a));
  ASSERT_TRUE(sl.insert(all));

  EXPECT_EQ(normalize(*sl.match("foo")).plain, std::vector<const subscription*>{all.get()});
  EXPECT_EQ(normalize(*sl.match("foo.bar")).plain.size(), 2U);
  EXPECT_EQ(normalize(*sl.match("foo.bar.baz.qux")).plain.size(), 2U);
  EXPECT_EQ(normalize(*sl.match("bar.foo")).plain, std::vector<const subscription*>{all.get()});
}

TEST(sublist, mixed_filters) {
  sublist sl;
  std::vector<subscription_ptr> subs;
  for (const char* f : {"a.b.c", "a.*.c", "a.>", "*.b.>", "a.b.*", "*.*.*", ">", "a.b", "a.b.c.d", "x.>"}) {
    subs.push_back(make_sub(f));
    ASSERT_TRUE(sl.insert(subs.back()));
  }
  for (const char* s : {"a", "a.b", "a.b.c", "a.x.c", "a.b.c.d", "x.b.y", "x.y.z", "b.b.b.b"}) {
    EXPECT_EQ(normalize(*sl.match(s)), naive_match(subs, s)) << s;
  }
}

TEST(sublist, literal_wildcard_characters_in_subject) {
  // A published subject may contain a "*" token; only wildcard filters match it.
  sublist sl;
  auto lit = make_sub("foo.bar");
  auto pwc = make_sub("foo.*");
  ASSERT_TRUE(sl.insert(lit));
  ASSERT_TRUE(sl.insert(pwc));
  EXPECT_EQ(normalize(*sl.match("foo.*")).plain, std::vector<const subscription*>{pwc.get()});
  EXPECT_EQ(normalize(*sl.match("foo.>")).plain, std::vector<const subscription*>{pwc.get()});
}

TEST(sublist, queue_groups) {
  sublist sl;
  auto p = make_sub("foo.bar");
  auto q1a = make_sub("foo.bar", "q1");
  auto q1b = make_sub("foo.bar", "q1");
  auto q2a = make_sub("foo.bar", "q2");
  auto q1w = make_sub("foo.*", "q1");   // same group name on another node: merged
  auto q3w = make_sub("foo.>", "q3");
  for (const auto& s : {p, q1a, q1b, q2a, q1w, q3w}) ASSERT_TRUE(sl.insert(s));

  auto r = sl.match("foo.bar");
  ASSERT_EQ(r->plain.size(), 1U);
  ASSERT_EQ(r->queues.size(), 3U);
  auto n = normalize(*r);
  EXPECT_EQ(n.queues["q1"].size(), 3U);
  EXPECT_EQ(n.queues["q2"].size(), 1U);
  EXPECT_EQ(n.queues["q3"].size(), 1U);

  auto other = normalize(*sl.match("foo.baz"));
  EXPECT_TRUE(other.plain.empty());
  EXPECT_EQ(other.queues["q1"], std::vector<const subscription*>{q1w.get()});
  EXPECT_EQ(other.queues["q3"], std::vector<const subscription*>{q3w.get()});

  // Removing the last member drops the group from results.
  ASSERT_TRUE(sl.remove(q2a));
  EXPECT_EQ(sl.match("foo.bar")->queues.size(), 2U);
  // A plain removal does not touch queue members on the same subject.
  ASSERT_TRUE(sl.remove(p));
  EXPECT_TRUE(sl.match("foo.bar")->plain.empty());
  EXPECT_EQ(normalize(*sl.match("foo.bar")).queues["q1"].size(), 3U);
}

TEST(sublist, remove) {
  sublist sl;
  auto a = make_sub("foo.bar");
  auto b = make_sub("foo.bar");
  auto q = make_sub("foo.bar", "q");
  ASSERT_TRUE(sl.insert(a));
  ASSERT_TRUE(sl.insert(b));
  ASSERT_TRUE(sl.insert(q));
  EXPECT_EQ(sl.count(), 3U);

  EXPECT_TRUE(sl.remove(a));
  EXPECT_FALSE(sl.remove(a));
  EXPECT_EQ(sl.count(), 2U);
  EXPECT_EQ(normalize(*sl.match("foo.bar")).plain, std::vector<const subscription*>{b.get()});

  // Same subject, different object: not present.
  EXPECT_FALSE(sl.remove(make_sub("foo.bar")));
  EXPECT_FALSE(sl.remove(make_sub("foo.bar", "q")));
  EXPECT_FALSE(sl.remove(make_sub("no.such.subject")));
  EXPECT_FALSE(sl.remove(make_sub("foo.*")));
  EXPECT_FALSE(sl.remove(nullptr));

  EXPECT_TRUE(sl.remove(q));
  EXPECT_TRUE(sl.remove(b));
  EXPECT_EQ(sl.count(), 0U);
  EXPECT_TRUE(sl.match("foo.bar")->empty());
  EXPECT_EQ(sl.node_count(), 0U);
}

TEST(sublist, reinsert_after_remove) {
  sublist sl;
  auto a = make_sub("foo.*.baz", "q");
  ASSERT_TRUE(sl.insert(a));
  ASSERT_TRUE(sl.remove(a));
  EXPECT_TRUE(sl.match("foo.bar.baz")->empty());
  ASSERT_TRUE(sl.insert(a));
  EXPECT_TRUE(contains(*sl.match("foo.bar.baz"), a));
  EXPECT_EQ(sl.count(), 1U);
}

TEST(sublist, duplicate_insert_is_idempotent) {
  sublist sl;
  auto a = make_sub("foo");
  ASSERT_TRUE(sl.insert(a));
  ASSERT_TRUE(sl.insert(a));
  EXPECT_EQ(sl.count(), 1U);
  EXPECT_EQ(sl.match("foo")->plain.size(), 1U);
  ASSERT_TRUE(sl.remove(a));
  EXPECT_FALSE(sl.remove(a));
}

TEST(sublist, many_subs_on_one_subject) {
  // Exercises the per-node position index (large sets) and its removal path.
  sublist sl;
  std::vector<subscription_ptr> subs;
  for (int i = 0; i < 500; ++i) {
    subs.push_back(make_sub("hot", i % 2 ? "" : "q"));
    ASSERT_TRUE(sl.insert(subs.back()));
  }
  EXPECT_EQ(normalize(*sl.match("hot")), naive_match(subs, "hot"));
  for (std::size_t i = 0; i < subs.size(); i += 3) ASSERT_TRUE(sl.remove(subs[i]));
  std::vector<subscription_ptr> left;
  for (std::size_t i = 0; i < subs.size(); ++i)
    if (i % 3 != 0) left.push_back(subs[i]);
  EXPECT_EQ(normalize(*sl.match("hot")), naive_match(left, "hot"));
  for (const auto& s : left) ASSERT_TRUE(sl.remove(s));
  EXPECT_TRUE(sl.match("hot")->empty());
  EXPECT_EQ(sl.node_count(), 0U);
}

TEST(sublist, invalid_filters_rejected) {
  sublist sl;
  for (const char* f : {"", ".", "foo.", ".foo", "foo..bar", "foo.>.bar", ">.foo", "foo bar", "foo\tbar"}) {
    EXPECT_FALSE(sl.insert(make_sub(f))) << '"' << f << '"';
    EXPECT_FALSE(sl.insert(make_sub(f, "q"))) << '"' << f << '"';
  }
  EXPECT_FALSE(sl.insert(nullptr));
  EXPECT_EQ(sl.count(), 0U);
  EXPECT_EQ(sl.node_count(), 0U);
  EXPECT_EQ(sl.stats().num_inserts, 0U);
}

TEST(sublist, subjects_with_empty_tokens_match_nothing) {
  sublist sl;
  ASSERT_TRUE(sl.insert(make_sub(">")));
  ASSERT_TRUE(sl.insert(make_sub("*.*")));
  for (const char* s : {"", ".", "a.", ".a", "a..b"}) {
    EXPECT_TRUE(sl.match(s)->empty()) << '"' << s << '"';
    EXPECT_FALSE(sl.has_interest(s)) << '"' << s << '"';
  }
}

TEST(sublist, has_interest) {
  sublist sl;
  EXPECT_FALSE(sl.has_interest("foo.bar"));
  auto w = make_sub("foo.*", "q");
  ASSERT_TRUE(sl.insert(w));
  EXPECT_TRUE(sl.has_interest("foo.bar"));
  EXPECT_FALSE(sl.has_interest("foo"));
  EXPECT_FALSE(sl.has_interest("foo.bar.baz"));
  (void)sl.match("foo.bar");  // now answered from the cache
  EXPECT_TRUE(sl.has_interest("foo.bar"));
  ASSERT_TRUE(sl.remove(w));
  EXPECT_FALSE(sl.has_interest("foo.bar"));
}

TEST(sublist, cache_invalidation) {
  sublist sl;
  auto lit = make_sub("foo.bar");
  ASSERT_TRUE(sl.insert(lit));
  for (int i = 0; i < 2; ++i) {  // the second miss caches
    EXPECT_EQ(sl.match("foo.bar")->plain.size(), 1U);
    EXPECT_EQ(sl.match("foo.baz")->plain.size(), 0U);
  }
  const auto cached = sl.match("foo.bar");
  EXPECT_EQ(sl.stats().cache_hits, 1U);
  EXPECT_EQ(sl.stats().num_cache, 2U);

  // A wildcard that matches both cached subjects invalidates both.
  auto w = make_sub("foo.*");
  ASSERT_TRUE(sl.insert(w));
  EXPECT_EQ(sl.stats().num_cache, 0U);
  EXPECT_EQ(sl.match("foo.bar")->plain.size(), 2U);
  EXPECT_EQ(sl.match("foo.baz")->plain.size(), 1U);
  EXPECT_EQ(cached->plain.size(), 1U) << "results already handed out are immutable";

  // A wildcard that matches neither leaves the cache alone.
  auto other = make_sub("bar.>");
  ASSERT_TRUE(sl.insert(other));
  EXPECT_EQ(sl.stats().num_cache, 2U);

  // A literal invalidates exactly its own subject.
  auto lit2 = make_sub("foo.baz", "q");
  ASSERT_TRUE(sl.insert(lit2));
  EXPECT_EQ(sl.stats().num_cache, 1U);
  EXPECT_EQ(sl.match("foo.baz")->queues.size(), 1U);

  ASSERT_TRUE(sl.remove(w));
  EXPECT_EQ(sl.match("foo.bar")->plain.size(), 1U);
  EXPECT_TRUE(sl.match("foo.baz")->plain.empty());
  ASSERT_TRUE(sl.remove(lit));
  EXPECT_TRUE(sl.match("foo.bar")->empty());
  EXPECT_FALSE(sl.has_interest("foo.bar"));
}

TEST(sublist, cache_is_bounded) {
  sublist sl(8);
  ASSERT_TRUE(sl.insert(make_sub("s.*")));
  for (int i = 0; i < 100; ++i) {
    EXPECT_EQ(sl.match("s." + std::to_string(i))->plain.size(), 1U);
    EXPECT_EQ(sl.match("s." + std::to_string(i))->plain.size(), 1U);
    EXPECT_LE(sl.stats().num_cache, 8U);
  }
  sublist big;
  for (int i = 0; i < 5000; ++i) {
    (void)big.match("s." + std::to_string(i));
    (void)big.match("s." + std::to_string(i));
  }
  EXPECT_LE(big.stats().num_cache, 1024U);
  EXPECT_GT(big.stats().num_cache, 0U);

  sublist none(0);
  ASSERT_TRUE(none.insert(make_sub("s.*")));
  EXPECT_EQ(none.match("s.1")->plain.size(), 1U);
  EXPECT_EQ(none.match("s.1")->plain.size(), 1U);
  EXPECT_EQ(none.stats().num_cache, 0U);
  EXPECT_EQ(none.stats().cache_hits, 0U);
}

TEST(sublist, cache_hit_returns_same_result) {
  sublist sl;
  ASSERT_TRUE(sl.insert(make_sub("foo")));
  auto first = sl.match("foo");
  auto second = sl.match("foo");  // second miss: cached from here on
  auto third = sl.match("foo");
  EXPECT_NE(first.get(), second.get());
  EXPECT_EQ(second.get(), third.get());
}

// Subjects seen once (ack replies, request inboxes) are not cached: they would only evict the
// hot entries. Any subject that comes back is.
TEST(sublist, one_off_subjects_stay_out_of_the_cache) {
  sublist sl;
  ASSERT_TRUE(sl.insert(make_sub("$JS.ACK.>")));
  ASSERT_TRUE(sl.insert(make_sub("orders.*")));
  (void)sl.match("orders.1");
  (void)sl.match("orders.1");
  ASSERT_EQ(sl.stats().num_cache, 1U);
  for (int i = 0; i < 5000; ++i) EXPECT_EQ(sl.match("$JS.ACK.S.C.1." + std::to_string(i) + ".1.0.0")->plain.size(), 1U);
  EXPECT_EQ(sl.stats().num_cache, 1U) << "one-off subjects were cached";
  const auto before = sl.stats().cache_hits;
  (void)sl.match("orders.1");
  EXPECT_EQ(sl.stats().cache_hits, before + 1) << "the hot entry was evicted";
}

TEST(sublist, cache_hit_does_not_allocate) {
#ifdef JB_COUNT_ALLOCATIONS
  sublist sl;
  ASSERT_TRUE(sl.insert(make_sub("orders.eu.created")));
  ASSERT_TRUE(sl.insert(make_sub("orders.*.created", "workers")));
  ASSERT_TRUE(sl.insert(make_sub("orders.>")));
  const std::string subject = "orders.eu.created";
  (void)sl.match(subject);
  const auto first = sl.match(subject);  // second miss: fills the cache
  ASSERT_EQ(first->plain.size(), 2U);
  const auto before = allocations.load();
  for (int i = 0; i < 1000; ++i) {
    auto r = sl.match(subject);
    if (r.get() != first.get()) ADD_FAILURE() << "not served from the cache";
    if (!sl.has_interest(subject)) ADD_FAILURE() << "lost interest";
  }
  EXPECT_EQ(allocations.load() - before, 0U);
  (void)sl.match("orders.us.created");  // a miss does allocate: the counter is live
  EXPECT_GT(allocations.load() - before, 0U);
#else
  GTEST_SKIP() << "allocation counting is disabled under sanitizers";
#endif
}

TEST(sublist, stats) {
  sublist sl;
  auto a = make_sub("foo.bar");
  auto b = make_sub("foo.*");
  auto q1 = make_sub("foo.bar", "q");
  auto q2 = make_sub("foo.bar", "q");
  for (const auto& s : {a, b, q1, q2}) ASSERT_TRUE(sl.insert(s));
  ASSERT_TRUE(sl.remove(a));
  EXPECT_FALSE(sl.remove(a));

  (void)sl.match("foo.bar");  // miss, not cached yet
  (void)sl.match("foo.bar");  // miss, cached: fanout 1 plain + 1 group = 2
  (void)sl.match("foo.bar");  // hit
  (void)sl.match("foo.baz");  // miss
  (void)sl.match("foo.baz");  // miss, cached: fanout 1
  (void)sl.has_interest("foo.baz");  // hit

  auto st = sl.stats();
  EXPECT_EQ(st.num_subscriptions, 3U);
  EXPECT_EQ(st.num_inserts, 4U);
  EXPECT_EQ(st.num_removes, 1U);
  EXPECT_EQ(st.num_matches, 6U);
  EXPECT_EQ(st.cache_hits, 2U);
  EXPECT_EQ(st.num_cache, 2U);
  EXPECT_EQ(st.max_fanout, 2U);
  EXPECT_DOUBLE_EQ(st.avg_fanout, 1.5);
}

TEST(sublist, prunes_empty_nodes) {
  sublist sl;
  auto keep = make_sub("a.b");
  ASSERT_TRUE(sl.insert(keep));
  const auto base = sl.node_count();
  EXPECT_EQ(base, 2U);
  for (int round = 0; round < 3; ++round) {
    std::vector<subscription_ptr> churn;
    for (int i = 0; i < 200; ++i) {
      churn.push_back(make_sub("a.b.c." + std::to_string(i) + ".x"));
      churn.push_back(make_sub("a.*.>", "q"));
      churn.push_back(make_sub("_INBOX." + std::to_string(i)));
    }
    for (const auto& s : churn) ASSERT_TRUE(sl.insert(s));
    EXPECT_GT(sl.node_count(), base);
    for (const auto& s : churn) ASSERT_TRUE(sl.remove(s));
    EXPECT_EQ(sl.node_count(), base);
  }
  EXPECT_TRUE(contains(*sl.match("a.b"), keep));
}

// Writers insert and remove subscriptions under their own prefix and check that their own
// changes are visible at once (read-your-writes through the cache); readers match hot subjects
// continuously, so cache fills race with invalidations. Meant to be run under TSan as well.
TEST(sublist, concurrent_insert_remove_match) {
  sublist sl;
  auto stable = make_sub("stable.>");
  auto stable_q = make_sub("stable.*", "workers");
  ASSERT_TRUE(sl.insert(stable));
  ASSERT_TRUE(sl.insert(stable_q));

  constexpr int writers = 3;
  constexpr int readers = 3;
  constexpr int rounds = 3000;
  std::latch start(writers + readers);
  std::atomic<int> writers_done{0};
  std::atomic<int> failures{0};
  std::atomic<std::uint64_t> reader_matches{0};

  std::vector<std::thread> threads;
  for (int w = 0; w < writers; ++w) {
    threads.emplace_back([&, w] {
      const std::string prefix = "w" + std::to_string(w);
      std::vector<std::shared_ptr<const match_result>> held;  // outlive removal on purpose
      start.arrive_and_wait();
      for (int i = 0; i < rounds; ++i) {
        const std::string subject = prefix + "." + std::to_string(i % 20);
        const std::string filter = i % 3 == 0 ? prefix + ".*" : i % 3 == 1 ? subject : prefix + ".>";
        auto s = make_sub(filter, i % 2 ? "" : "q");
        if (!sl.insert(s)) ++failures;
        auto r = sl.match(subject);
        if (!contains(*r, s)) ++failures;
        if (!sl.has_interest(subject)) ++failures;
        if (i % 50 == 0) held.push_back(r);
        if (!sl.remove(s)) ++failures;
        if (contains(*sl.match(subject), s)) ++failures;
        if (sl.remove(s)) ++failures;
      }
      writers_done.fetch_add(1);
    });
  }
  for (int rd = 0; rd < readers; ++rd) {
    threads.emplace_back([&, rd] {
      std::uint64_t i = rd;
      start.arrive_and_wait();
      while (writers_done.load() < writers) {
        ++i;
        const std::string subject = i % 2 ? "stable." + std::to_string(i % 7) : "w" + std::to_string(i % writers) + "." + std::to_string(i % 20);
        auto r = sl.match(subject);
        for (const auto& s : r->plain)
          if (!protocol::subject_matches(s->subject, subject)) ++failures;
        if (i % 2 && (!contains(*r, stable) || !contains(*r, stable_q))) ++failures;
        if (i % 2 && !sl.has_interest(subject)) ++failures;
        if (i % 64 == 0) (void)sl.stats();
      }
      reader_matches.fetch_add(i - rd);
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_GT(reader_matches.load(), 0U);
  EXPECT_EQ(sl.count(), 2U);
  ASSERT_TRUE(sl.remove(stable));
  ASSERT_TRUE(sl.remove(stable_q));
  EXPECT_EQ(sl.node_count(), 0U);
}

// --- differential fuzzer --------------------------------------------------------------------

// splitmix64: tiny, and gives the same sequence with every standard library.
struct rng {
  std::uint64_t state;
  std::uint64_t next() {
    std::uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  std::size_t below(std::size_t n) { return static_cast<std::size_t>(next() % n); }
  bool chance(int percent) { return below(100) < static_cast<std::size_t>(percent); }
};

struct fuzz_params {
  std::uint64_t seed;
  std::size_t cache_capacity;
  std::size_t alphabet;   // distinct literal tokens
  std::size_t max_depth;  // tokens per subject
  int steps;
};

class sublist_fuzz : public ::testing::TestWithParam<fuzz_params> {};

std::string random_token(rng& r, std::size_t alphabet) { return std::string(1, static_cast<char>('a' + r.below(alphabet))); }

std::string random_filter(rng& r, const fuzz_params& p) {
  const std::size_t depth = 1 + r.below(p.max_depth);
  std::string f;
  for (std::size_t i = 0; i < depth; ++i) {
    if (i) f += '.';
    if (i + 1 == depth && r.chance(15)) {
      f += '>';
    } else if (r.chance(20)) {
      f += '*';
    } else {
      f += random_token(r, p.alphabet);
    }
  }
  return f;
}

std::string random_subject(rng& r, const fuzz_params& p) {
  const std::size_t depth = 1 + r.below(p.max_depth + 1);  // one deeper than any literal filter
  std::string s;
  for (std::size_t i = 0; i < depth; ++i) {
    if (i) s += '.';
    s += r.chance(3) ? "*" : random_token(r, p.alphabet);  // a literal '*' token now and then
  }
  return s;
}

TEST_P(sublist_fuzz, matches_naive_matcher) {
  fuzz_params p = GetParam();
  if (const char* env = std::getenv("JB_SUBLIST_FUZZ_SEED")) p.seed = std::strtoull(env, nullptr, 0);
  const std::string repro = "seed=" + std::to_string(p.seed) + " (rerun with JB_SUBLIST_FUZZ_SEED=" +
                            std::to_string(p.seed) + ")";
  SCOPED_TRACE(repro);

  rng r{p.seed};
  sublist sl(p.cache_capacity);
  std::vector<subscription_ptr> live;     // the model
  std::vector<subscription_ptr> removed;  // candidates for re-insert and bogus removes
  static const char* const queue_names[] = {"", "", "", "q1", "q2"};

  auto check = [&](const std::string& subject, int step) {
    const auto expected = naive_match(live, subject);
    const auto got = normalize(*sl.match(subject));
    if (got != expected) {
      ADD_FAILURE() << "step " << step << " subject " << subject << "\n  got      " << describe(got)
                    << "\n  expected " << describe(expected) << "\n  " << repro;
      return false;
    }
    const bool interest = !expected.plain.empty() || !expected.queues.empty();
    if (sl.has_interest(subject) != interest) {
      ADD_FAILURE() << "step " << step << " has_interest(" << subject << ") != " << interest << "\n  " << repro;
      return false;
    }
    return true;
  };

  std::uint64_t inserts = 0, removes = 0;
  for (int step = 0; step < p.steps; ++step) {
    const std::size_t op = r.below(100);
    if (op < 40 || live.empty()) {
      auto s = make_sub(random_filter(r, p), queue_names[r.below(std::size(queue_names))]);
      ASSERT_TRUE(sl.insert(s)) << s->subject;
      live.push_back(s);
      ++inserts;
    } else if (op < 70) {
      const std::size_t i = r.below(live.size());
      ASSERT_TRUE(sl.remove(live[i])) << "step " << step << " " << live[i]->subject;
      removed.push_back(live[i]);
      live[i] = live.back();
      live.pop_back();
      ++removes;
    } else if (op < 76) {
      // Remove something absent: never inserted, or already removed.
      auto s = removed.empty() || r.chance(50) ? make_sub(random_filter(r, p)) : removed[r.below(removed.size())];
      ASSERT_FALSE(sl.remove(s)) << "step " << step << " " << s->subject;
    } else if (op < 82 && !removed.empty()) {
      const std::size_t i = r.below(removed.size());
      ASSERT_TRUE(sl.insert(removed[i]));
      live.push_back(removed[i]);
      removed[i] = removed.back();
      removed.pop_back();
      ++inserts;
    } else if (op < 85) {
      ASSERT_TRUE(sl.insert(live[r.below(live.size())]));  // already present: no change
    }
    ASSERT_EQ(sl.count(), live.size()) << "step " << step;
    // Several matches per step, from a small subject space, so the cache both hits and goes stale.
    for (int k = 0; k < 3; ++k) ASSERT_TRUE(check(random_subject(r, p), step));
  }

  const auto st = sl.stats();
  EXPECT_EQ(st.num_inserts, inserts);
  EXPECT_EQ(st.num_removes, removes);
  EXPECT_LE(st.num_cache, p.cache_capacity);
  if (p.cache_capacity != 0) {
    EXPECT_GT(st.cache_hits, 0U);
  }

  for (const auto& s : live) ASSERT_TRUE(sl.remove(s));
  EXPECT_EQ(sl.count(), 0U);
  EXPECT_EQ(sl.node_count(), 0U);
  for (int k = 0; k < 50; ++k) EXPECT_TRUE(sl.match(random_subject(r, p))->empty());
}

INSTANTIATE_TEST_SUITE_P(
    seeds, sublist_fuzz,
    ::testing::Values(fuzz_params{1, 1024, 3, 4, 6000},     // everything fits in the cache
                      fuzz_params{2, 1024, 2, 6, 6000},     // deep, few tokens: many wildcard hits
                      fuzz_params{3, 8, 3, 4, 6000},        // tiny cache: constant eviction
                      fuzz_params{4, 0, 4, 4, 4000},        // no cache: the trie alone
                      fuzz_params{5, 1024, 6, 5, 8000},     // more subjects than the cache holds
                      fuzz_params{6, 64, 3, 3, 6000}),
    [](const auto& info) { return "seed" + std::to_string(info.param.seed); });

}  // namespace
}  // namespace jb::server
