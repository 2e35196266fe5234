#pragma once
// The subscription index: maps a literal subject to the subscriptions whose subject matches it
// (`*` one token, `>` one or more trailing tokens), with queue-group members grouped so that
// the router can pick one member per group.
//
// Thread-safety: all member functions may be called concurrently from any thread.
// match() is the hot path: it is served from a cache of recent results, which every insert
// and remove keeps correct (entries whose subject the changed subscription matches are dropped).
// A subject's result is cached from its second recent miss on, so one-off subjects (ack replies,
// inboxes) do not churn it.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "server/subscription.hpp"

namespace jb::server {

using subscription_ptr = std::shared_ptr<subscription>;

struct match_result {
  std::vector<subscription_ptr> plain;               // every non-queue subscription
  std::vector<std::vector<subscription_ptr>> queues;  // one vector per queue group (non-empty)
  [[nodiscard]] bool empty() const noexcept { return plain.empty() && queues.empty(); }
};

// num_matches and cache_hits count match() and has_interest() calls; num_cache, max_fanout and
// avg_fanout describe the cached results (fanout: plain subscribers plus one per queue group).
struct sublist_stats {
  std::uint64_t num_subscriptions = 0;
  std::uint64_t num_cache = 0;
  std::uint64_t num_inserts = 0;
  std::uint64_t num_removes = 0;
  std::uint64_t num_matches = 0;
  std::uint64_t cache_hits = 0;
  std::uint32_t max_fanout = 0;
  double avg_fanout = 0;
};

class sublist {
 public:
  // Caches up to 1024 match results.
  sublist();
  // Caches up to cache_capacity match results; 0 disables the cache (every match walks the trie).
  explicit sublist(std::size_t cache_capacity);
  ~sublist();
  sublist(const sublist&) = delete;
  sublist& operator=(const sublist&) = delete;

  // Adds the subscription under sub->subject / sub->queue. Returns false (and changes nothing)
  // when sub is null or its subject is not a valid filter. Inserting a subscription that is
  // already present changes nothing and returns true. subject and queue must not change while
  // the subscription is in the index.
  bool insert(const subscription_ptr& sub);
  // Removes this exact subscription (by pointer); returns false when it was not present.
  // Trie nodes left empty are freed.
  bool remove(const subscription_ptr& sub);
  // All subscriptions matching a literal subject. Never null; shared so callers may keep it
  // while the index changes. Empty for a subject with an empty token ("", "a..b", "a.").
  // A cache hit does not allocate.
  [[nodiscard]] std::shared_ptr<const match_result> match(std::string_view subject);
  // True when at least one subscription matches (cheaper than match for no-responders checks).
  [[nodiscard]] bool has_interest(std::string_view subject);
  [[nodiscard]] std::size_t count() const;
  [[nodiscard]] sublist_stats stats() const;
  // Trie nodes currently allocated (0 when empty: removal prunes). For tests and monitoring;
  // walks the whole trie.
  [[nodiscard]] std::size_t node_count() const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace jb::server
