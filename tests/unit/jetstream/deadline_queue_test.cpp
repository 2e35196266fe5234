#include "server/jetstream/deadline_queue.hpp"

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
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
  // Every message acked long before its deadline: the queue must not keep them all, at any step.
  deadline_queue q;
  for (std::uint64_t s = 1; s <= 200000; ++s) {
    if (s > 10) q.clear(s - 10);  // ten in flight
    q.set(s, static_cast<std::int64_t>(s) + 30'000'000);
    ASSERT_LE(q.held(), 2 * q.size() + 1024) << "after seq " << s;  // set() compacts past this
  }
  EXPECT_EQ(q.size(), 10u);
  EXPECT_EQ(expire(q, 1LL << 40).size(), 10u);
}

TEST(DeadlineQueue, SettingTheSameDeadlineAgainQueuesNothing) {
  deadline_queue q;
  for (int i = 0; i < 5000; ++i) q.set(1, 100);
  EXPECT_EQ(q.held(), 1u);
  EXPECT_EQ(expire(q, 100), (std::vector<std::uint64_t>{1}));
}

TEST(DeadlineQueue, ALongDelayDoesNotPushLaterAckWaitDeadlinesIntoTheOrderedSet) {
  // One message NAKed with an hour's delay, then ack_wait deadlines for the rest: they stay in
  // the FIFO whether the delayed one is still pending or was acked since.
  for (const bool ack_the_delayed : {false, true}) {
    deadline_queue q;
    q.set(1, 1'000);
    q.set(1, 3'600'000'000'000, /*in_order=*/false);
    if (ack_the_delayed) q.clear(1);
    for (std::uint64_t s = 2; s < 1000; ++s) q.set(s, static_cast<std::int64_t>(s) * 1'000);
    EXPECT_LE(q.held_sorted(), 1u) << "acked: " << ack_the_delayed;
    std::vector<std::uint64_t> want;
    for (std::uint64_t s = 2; s < 1000; ++s) want.push_back(s);
    EXPECT_EQ(expire(q, 1'000'000), want);
    if (!ack_the_delayed) {
      EXPECT_EQ(expire(q, 3'600'000'000'000), (std::vector<std::uint64_t>{1}));
    }
    EXPECT_TRUE(q.empty());
  }
  // A deadline that arrives out of order without the hint still ends up ordered.
  deadline_queue q;
  q.set(1, 500);
  q.clear(1);
  q.set(2, 400);  // the stale back entry is dropped first: FIFO again
  EXPECT_EQ(q.held_sorted(), 0u);
  EXPECT_EQ(expire(q, 1000), (std::vector<std::uint64_t>{2}));
}

TEST(DeadlineQueue, ExpireCallbackMaySetAndClear) {
  // The consumer re-arms (redelivers) and clears from inside expire's callback.
  deadline_queue q;
  for (std::uint64_t s = 1; s <= 10; ++s) q.set(s, static_cast<std::int64_t>(s));
  std::vector<std::uint64_t> got;
  q.expire(5, [&](std::uint64_t s) {
    got.push_back(s);
    if (s == 2) q.clear(4);               // not yet expired: dropped
    if (s == 3) q.set(3, 100);            // expired one re-armed later
    if (s == 5) q.set(11, 1, false);      // an earlier deadline, due now
  });
  EXPECT_EQ(got, (std::vector<std::uint64_t>{1, 2, 3, 5, 11}));
  EXPECT_EQ(q.size(), 6u);  // 3 (at 100), 6..10
  EXPECT_EQ(q.earliest(), 6);
}

// Random set/clear/expire against a std::map, checked after every step. `seqs` and the rates
// decide what is exercised: few sequences and frequent expiry keep the queues short; many
// sequences with frequent clears and rare expiry make stale entries pile up and compact.
void random_against_reference(std::uint64_t seed, std::uint64_t seqs, unsigned expire_per_mille, int steps,
                              std::size_t* max_held = nullptr) {
  std::mt19937_64 rng(seed);
  deadline_queue q;
  std::map<std::uint64_t, std::int64_t> ref;  // seq -> deadline
  std::int64_t now = 0;
  for (int step = 0; step < steps; ++step) {
    const auto r = rng() % 1000;
    const std::uint64_t seq = rng() % seqs;
    if (r >= 1000 - expire_per_mille) {
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
    } else if (r < 500) {
      // Mostly now + a constant (the FIFO case), sometimes an arbitrary deadline (backoff, NAK
      // delay), with or without the in-order hint.
      const bool fifo_kind = r < 400;
      const std::int64_t d = fifo_kind ? now + 1000 : now + static_cast<std::int64_t>(rng() % 3000);
      q.set(seq, d, fifo_kind || (r % 2 == 0));
      ref[seq] = d;
      ASSERT_LE(q.held(), 2 * q.size() + 1024) << "step " << step;  // set() compacts past this
    } else {
      q.clear(seq);
      ref.erase(seq);
    }
    ASSERT_EQ(q.size(), ref.size()) << "step " << step;
    if (max_held) *max_held = std::max(*max_held, q.held());
    if (step % 7 == 0) {  // earliest() drops stale front entries: not every step, or nothing piles up
      std::optional<std::int64_t> earliest;
      for (const auto& [s, d] : ref)
        if (!earliest || d < *earliest) earliest = d;
      ASSERT_EQ(q.earliest(), earliest) << "step " << step;
    }
  }
}

TEST(DeadlineQueue, MatchesAReferenceWithFewSequences) { random_against_reference(42, 500, 200, 200000); }

TEST(DeadlineQueue, MatchesAReferenceWhileCompacting) {
  for (std::uint64_t seed : {1u, 2u, 3u}) {
    std::size_t max_held = 0;
    random_against_reference(seed, 5000, 2, 200000, &max_held);
    EXPECT_GT(max_held, 1024u) << "seed " << seed << ": the compaction threshold was never reached";
  }
}

}  // namespace
}  // namespace jb::jetstream
