#include "server/jetstream/deadline_queue.hpp"

#include <cstdint>
#include <map>
#include <random>
#include <set>
#include <vector>

#include <gtest/gtest.h>

namespace jb::jetstream {
namespace {

std::vector<std::uint64_t> expire(deadline_queue& q, std::int64_t now) {
  std::vector<std::uint64_t> out;
  q.expire(now, [&](std::uint64_t s) { out.push_back(s); });
  return out;
}

TEST(DeadlineQueue, ExpiresInDeadlineOrderAcrossBothQueues) {
  deadline_queue q;
  q.set(1, 100);
  q.set(2, 200);
  q.set(3, 150);  // earlier than the last one: the ordered side
  q.set(4, 300);
  EXPECT_EQ(q.earliest(), 100);
  EXPECT_EQ(expire(q, 199), (std::vector<std::uint64_t>{1, 3}));
  EXPECT_EQ(q.earliest(), 200);
  EXPECT_EQ(expire(q, 1000), (std::vector<std::uint64_t>{2, 4}));
  EXPECT_TRUE(q.empty());
  EXPECT_FALSE(q.earliest());
}

TEST(DeadlineQueue, ClearedAndReplacedDeadlinesAreSkipped) {
  deadline_queue q;
  q.set(1, 100);
  q.set(2, 110);
  q.set(3, 120);
  q.clear(2);
  q.set(1, 500);  // replaced: the old entry at 100 is stale
  EXPECT_FALSE(q.contains(2));
  EXPECT_EQ(q.size(), 2u);
  EXPECT_EQ(q.earliest(), 120);
  EXPECT_EQ(expire(q, 499), (std::vector<std::uint64_t>{3}));
  EXPECT_EQ(expire(q, 500), (std::vector<std::uint64_t>{1}));
}

TEST(DeadlineQueue, SameDeadlineSetTwiceExpiresOnce) {
  deadline_queue q;
  q.set(7, 100);
  q.clear(7);
  q.set(7, 100);
  EXPECT_EQ(expire(q, 100), (std::vector<std::uint64_t>{7}));
  EXPECT_EQ(expire(q, 1000), (std::vector<std::uint64_t>{}));
}

TEST(DeadlineQueue, StaleEntriesAreCompactedAway) {
  // Every message acked long before its deadline: the queue must not keep them all.
  deadline_queue q;
  for (std::uint64_t s = 1; s <= 200000; ++s) {
    q.set(s, static_cast<std::int64_t>(s) + 30'000'000);
    if (s > 10) q.clear(s - 10);  // ten in flight
  }
  EXPECT_EQ(q.size(), 10u);
  EXPECT_LE(q.held(), 2 * q.size() + 1025);
  EXPECT_EQ(expire(q, 1LL << 40).size(), 10u);
}

TEST(DeadlineQueue, MatchesAnOrderedReferenceUnderRandomOperations) {
  std::mt19937_64 rng(42);
  deadline_queue q;
  std::map<std::uint64_t, std::int64_t> ref;  // seq -> deadline
  std::int64_t now = 0;
  for (int step = 0; step < 200000; ++step) {
    const auto op = rng() % 10;
    const std::uint64_t seq = rng() % 500;
    if (op < 5) {
      // Mostly now + a constant (the FIFO case), sometimes an arbitrary deadline (backoff, NAK delay).
      const std::int64_t d = (op < 4) ? now + 1000 : now + static_cast<std::int64_t>(rng() % 3000);
      q.set(seq, d);
      ref[seq] = d;
    } else if (op < 8) {
      q.clear(seq);
      ref.erase(seq);
    } else {
      now += static_cast<std::int64_t>(rng() % 400);
      const auto before = ref;
      std::set<std::pair<std::int64_t, std::uint64_t>> due;
      for (const auto& [s, d] : ref)
        if (d <= now) due.emplace(d, s);
      std::vector<std::uint64_t> want;
      for (const auto& [d, s] : due) {
        want.push_back(s);
        ref.erase(s);
      }
      std::vector<std::uint64_t> got = expire(q, now);
      // Earliest first; equal deadlines may come in either order.
      for (std::size_t i = 1; i < got.size(); ++i)
        ASSERT_LE(before.at(got[i - 1]), before.at(got[i])) << "step " << step;
      ASSERT_EQ(std::multiset<std::uint64_t>(got.begin(), got.end()),
                std::multiset<std::uint64_t>(want.begin(), want.end()))
          << "step " << step;
    }
    ASSERT_EQ(q.size(), ref.size()) << "step " << step;
    std::optional<std::int64_t> earliest;
    for (const auto& [s, d] : ref)
      if (!earliest || d < *earliest) earliest = d;
    ASSERT_EQ(q.earliest(), earliest) << "step " << step;
  }
}

}  // namespace
}  // namespace jb::jetstream
