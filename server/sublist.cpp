#include "server/sublist.hpp"

#include <algorithm>
#include <atomic>
#include <bit>
#include <cstdlib>
#include <functional>
#include <memory>
#include <mutex>
#include <new>
#include <pthread.h>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <utility>

#include "protocol/subject.hpp"

// Locking (for docs/lock-ordering.md):
//   trie_mu  (rw_lock) guards the trie and the insert/remove counters.
//   shard.mu (rw_lock) guards one cache shard; taken after trie_mu or alone, never before it.
// A cache hit takes only its shard's lock, so the hot path never touches the trie lock.
// A miss walks the trie and fills the cache while holding trie_mu shared: a writer (which holds
// trie_mu exclusively while it changes the trie and invalidates the cache) therefore runs
// wholly before the fill (and drops the entry) or wholly after the walk (which saw the change).
// No result computed from an old trie can be cached after the invalidation that concerned it.

namespace jb::server {
namespace {

// A reader/writer lock on which a waiting writer holds off new readers. std::shared_mutex is
// glibc's reader-preferring rwlock: a steady stream of match() misses (each a shared hold of the
// trie lock) could then starve subscribe and unsubscribe indefinitely. Not recursive for readers.
class rw_lock {
 public:
#if defined(__GLIBC__)
  rw_lock() noexcept {
    pthread_rwlockattr_t attr;
    pthread_rwlockattr_init(&attr);
    pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&lock_, &attr);
    pthread_rwlockattr_destroy(&attr);
  }
  ~rw_lock() { pthread_rwlock_destroy(&lock_); }
  void lock() noexcept { pthread_rwlock_wrlock(&lock_); }
  void unlock() noexcept { pthread_rwlock_unlock(&lock_); }
  void lock_shared() noexcept { pthread_rwlock_rdlock(&lock_); }
  void unlock_shared() noexcept { pthread_rwlock_unlock(&lock_); }

 private:
  pthread_rwlock_t lock_;
#else
  void lock() { mu_.lock(); }
  void unlock() { mu_.unlock(); }
  void lock_shared() { mu_.lock_shared(); }
  void unlock_shared() { mu_.unlock_shared(); }

 private:
  std::shared_mutex mu_;
#endif
 public:
  rw_lock(const rw_lock&) = delete;
  rw_lock& operator=(const rw_lock&) = delete;
};

constexpr std::size_t default_cache_capacity = 1024;
constexpr std::size_t max_cache_shards = 16;

// Subscriptions on one trie node. A vector keeps match() a plain copy loop; an index from
// pointer to position is added once the set is large, so removal stays O(1) when thousands
// of clients subscribe to the same subject.
class sub_set {
 public:
  [[nodiscard]] bool empty() const noexcept { return items_.empty(); }
  [[nodiscard]] const std::vector<subscription_ptr>& items() const noexcept { return items_; }

  // Returns false when the subscription is already present.
  bool add(const subscription_ptr& s) {
    if (find(s.get()) != npos) return false;
    items_.push_back(s);
    if (index_) {
      index_->emplace(s.get(), items_.size() - 1);
    } else if (items_.size() > index_threshold) {
      build_index();
    }
    return true;
  }

  // Returns false when the subscription is not present.
  bool erase(const subscription* s) {
    const std::size_t pos = find(s);
    if (pos == npos) return false;
    if (index_) index_->erase(s);
    if (pos + 1 != items_.size()) {
      items_[pos] = std::move(items_.back());
      if (index_) (*index_)[items_[pos].get()] = pos;
    }
    items_.pop_back();
    if (index_ && items_.size() < index_threshold / 2) index_.reset();
    if (items_.empty()) items_.shrink_to_fit();
    return true;
  }

 private:
  static constexpr std::size_t npos = static_cast<std::size_t>(-1);
  static constexpr std::size_t index_threshold = 32;

  [[nodiscard]] std::size_t find(const subscription* s) const {
    if (index_) {
      auto it = index_->find(s);
      return it == index_->end() ? npos : it->second;
    }
    for (std::size_t i = 0; i < items_.size(); ++i)
      if (items_[i].get() == s) return i;
    return npos;
  }

  void build_index() {
    index_ = std::make_unique<std::unordered_map<const subscription*, std::size_t>>();
    index_->reserve(items_.size() * 2);
    for (std::size_t i = 0; i < items_.size(); ++i) index_->emplace(items_[i].get(), i);
  }

  std::vector<subscription_ptr> items_;
  std::unique_ptr<std::unordered_map<const subscription*, std::size_t>> index_;
};

struct queue_group {
  std::string name;
  sub_set members;
};

struct node;

// Literal children of one level: open addressing with linear probing over {hash, node} slots.
// A lookup touches the slot array and then the node itself (which holds its token and, inline,
// the next level), about two cache misses per token, where std::unordered_map needs bucket,
// predecessor, element and pointee. Erase shifts followers back, so there are no tombstones.
class token_map {
 public:
  token_map() = default;
  token_map(const token_map&) = delete;
  token_map& operator=(const token_map&) = delete;
  ~token_map();

  [[nodiscard]] bool empty() const noexcept { return size_ == 0; }
  [[nodiscard]] node* find(std::string_view tok) const noexcept;
  node& find_or_create(std::string_view tok);
  void erase(std::string_view tok);
  template <class Fn>
  void for_each(Fn&& fn) const {
    for (std::size_t i = 0; size_ != 0 && i <= mask_; ++i)
      if (slots_[i].n) fn(*slots_[i].n);
  }

 private:
  struct slot {
    std::size_t hash = 0;
    std::unique_ptr<node> n;  // null: empty slot
  };
  static std::size_t hash_of(std::string_view tok) noexcept { return std::hash<std::string_view>{}(tok); }
  [[nodiscard]] std::size_t position(std::string_view tok, std::size_t hash) const noexcept;
  void resize(std::size_t capacity);

  std::unique_ptr<slot[]> slots_;
  std::size_t mask_ = 0;  // capacity - 1 when slots_ is set
  std::size_t size_ = 0;
};

// One token position. Literal tokens live in the map; a filter token that is exactly "*" or ">"
// lives in its own slot, so a literal subject token "*" never reaches a wildcard node by lookup.
struct level {
  token_map literal;
  std::unique_ptr<node> pwc;  // "*"
  std::unique_ptr<node> fwc;  // ">"
  [[nodiscard]] bool empty() const noexcept { return literal.empty() && !pwc && !fwc; }
};

struct node {
  explicit node(std::string_view tok) : token(tok) {}
  std::string token;  // empty for the wildcard slots
  level next;  // filters continuing past this token
  sub_set plain;
  std::vector<queue_group> queues;  // few per node in practice: linear search by name
  [[nodiscard]] bool has_subs() const noexcept { return !plain.empty() || !queues.empty(); }
  [[nodiscard]] bool empty() const noexcept { return !has_subs() && next.empty(); }
};

token_map::~token_map() = default;

std::size_t token_map::position(std::string_view tok, std::size_t hash) const noexcept {
  for (std::size_t i = hash & mask_;; i = (i + 1) & mask_) {
    const slot& s = slots_[i];
    if (!s.n || (s.hash == hash && s.n->token == tok)) return i;
  }
}

node* token_map::find(std::string_view tok) const noexcept {
  if (size_ == 0) return nullptr;
  return slots_[position(tok, hash_of(tok))].n.get();
}

node& token_map::find_or_create(std::string_view tok) {
  const std::size_t h = hash_of(tok);
  // Load factor at most 3/4 keeps probe runs short.
  if ((size_ + 1) * 4 > (slots_ ? mask_ + 1 : 0) * 3) resize(slots_ ? (mask_ + 1) * 2 : 4);
  slot& s = slots_[position(tok, h)];
  if (!s.n) {
    s.hash = h;
    s.n = std::make_unique<node>(tok);
    ++size_;
  }
  return *s.n;
}

void token_map::erase(std::string_view tok) {
  if (size_ == 0) return;
  std::size_t hole = position(tok, hash_of(tok));
  if (!slots_[hole].n) return;
  slots_[hole].n.reset();
  --size_;
  // Backward-shift: move up every follower whose home slot is not in (hole, j].
  for (std::size_t j = (hole + 1) & mask_; slots_[j].n; j = (j + 1) & mask_) {
    const std::size_t home = slots_[j].hash & mask_;
    const bool stays = hole <= j ? (hole < home && home <= j) : (hole < home || home <= j);
    if (stays) continue;
    slots_[hole] = std::move(slots_[j]);
    hole = j;
  }
  // Shrink when sparse so a level that once held thousands of inboxes gives the memory back.
  if (size_ == 0) {
    slots_.reset();
    mask_ = 0;
  } else if (mask_ + 1 > 16 && size_ * 8 < mask_ + 1) {
    resize((mask_ + 1) / 2);
  }
}

void token_map::resize(std::size_t capacity) {
  auto old = std::exchange(slots_, std::make_unique<slot[]>(capacity));
  const std::size_t old_capacity = old ? mask_ + 1 : 0;
  mask_ = capacity - 1;
  for (std::size_t i = 0; i < old_capacity; ++i) {
    if (!old[i].n) continue;
    std::size_t j = old[i].hash & mask_;
    while (slots_[j].n) j = (j + 1) & mask_;
    slots_[j] = std::move(old[i]);
  }
}

// Splits the first token off `rest`; `last` tells whether it was the final one.
inline std::string_view next_token(std::string_view& rest, bool& last) noexcept {
  const auto dot = rest.find('.');
  if (dot == std::string_view::npos) {
    last = true;
    return std::exchange(rest, std::string_view{});
  }
  last = false;
  auto tok = rest.substr(0, dot);
  rest.remove_prefix(dot + 1);
  return tok;
}

// Subjects match() walks: non-empty tokens only. nats-server's match returns an empty result
// for anything else rather than matching empty tokens against '*'.
bool walkable_subject(std::string_view s) noexcept {
  if (s.empty() || s.front() == '.' || s.back() == '.') return false;
  return s.find("..") == std::string_view::npos;
}

node* child(level& l, std::string_view tok) {
  if (tok == "*") return l.pwc.get();
  if (tok == ">") return l.fwc.get();
  return l.literal.find(tok);
}

node& child_or_create(level& l, std::string_view tok) {
  if (tok != "*" && tok != ">") return l.literal.find_or_create(tok);
  auto& slot = tok == "*" ? l.pwc : l.fwc;
  if (!slot) slot = std::make_unique<node>(std::string_view{});
  return *slot;
}

void erase_child(level& l, std::string_view tok) {
  if (tok == "*") {
    l.pwc.reset();
  } else if (tok == ">") {
    l.fwc.reset();
  } else {
    l.literal.erase(tok);
  }
}

// Calls fn(node) for every node whose filter matches the (walkable) subject `rest`; stops and
// returns true as soon as fn does.
template <class Fn>
bool visit_matches(const level* l, std::string_view rest, Fn& fn) {
  while (l != nullptr) {
    bool last;
    const std::string_view tok = next_token(rest, last);
    if (l->fwc && fn(*l->fwc)) return true;
    const node* lit = l->literal.find(tok);
    if (last) {
      if (lit && fn(*lit)) return true;
      return l->pwc && fn(*l->pwc);
    }
    if (l->pwc && !l->pwc->next.empty() && visit_matches(&l->pwc->next, rest, fn)) return true;
    l = lit ? &lit->next : nullptr;
  }
  return false;
}

void append_node(match_result& r, const node& n) {
  const auto& plain = n.plain.items();
  r.plain.insert(r.plain.end(), plain.begin(), plain.end());
  for (const auto& g : n.queues) {
    const auto& members = g.members.items();
    // Groups are merged by name across nodes ("foo.*" and "foo.bar" in queue q are one group).
    auto same = std::find_if(r.queues.begin(), r.queues.end(),
                             [&](const auto& v) { return v.front()->queue == g.name; });
    if (same == r.queues.end()) {
      r.queues.emplace_back(members.begin(), members.end());
    } else {
      same->insert(same->end(), members.begin(), members.end());
    }
  }
}

// Cache keys carry their hash so a lookup hashes the subject once (shard choice and bucket).
struct cache_key {
  std::string subject;
  std::size_t hash;
};
struct cache_probe {
  std::string_view subject;
  std::size_t hash;
};
struct cache_key_hash {
  using is_transparent = void;
  std::size_t operator()(const cache_key& k) const noexcept { return k.hash; }
  std::size_t operator()(const cache_probe& k) const noexcept { return k.hash; }
};
struct cache_key_eq {
  using is_transparent = void;
  template <class A, class B>
  bool operator()(const A& a, const B& b) const noexcept {
    return a.hash == b.hash && std::string_view(a.subject) == std::string_view(b.subject);
  }
};

using result_ptr = std::shared_ptr<const match_result>;

// One slice of the match cache, on its own cache lines so that threads matching different
// subjects do not contend.
struct alignas(64) cache_shard {
  using map_type = std::unordered_map<cache_key, result_ptr, cache_key_hash, cache_key_eq>;
  // Entries taken out under the lock and destroyed after it is released, so hits on this shard
  // do not wait while evicted results drop their subscription references.
  using graveyard = std::vector<map_type::node_type>;

  mutable rw_lock mu;
  map_type map;                  // guarded by mu
  std::size_t evict_cursor = 0;  // guarded by mu
  // Admission (a doorkeeper): a result is cached only when its subject missed recently before.
  // Subjects used once (ack replies, request inboxes) then never enter the cache, where each
  // would cost an allocation, an eviction and the loss of a hot entry. One fingerprint per slot;
  // races only make admission approximate.
  // The slots live outside the shard, in one zero-filled block for all shards (seen_block), so
  // that a sublist costs no page of them until its cache is used: a server has a sublist per
  // account, and zeroing 32 KiB for each was a tenth of the page faults of start-up.
  static constexpr std::size_t seen_slots = 512;
  std::uint32_t* seen = nullptr;

  bool admit(std::size_t hash) noexcept {
    std::atomic_ref<std::uint32_t> slot(seen[(hash >> 8) & (seen_slots - 1)]);
    const auto fp = static_cast<std::uint32_t>(hash) | 1u;
    if (slot.load(std::memory_order_relaxed) == fp) return true;
    slot.store(fp, std::memory_order_relaxed);
    return false;
  }
};

// Zero-filled memory for every shard's admission slots. calloc takes a block this size (32 KiB
// for 16 shards) from pages the allocator got zeroed from the kernel and does not write them,
// so they are faulted in only as slots are used.
struct free_deleter {
  void operator()(void* p) const noexcept { std::free(p); }
};
using seen_block = std::unique_ptr<std::uint32_t[], free_deleter>;

// Lookup counters, striped by thread: a counter shared by every matching thread would be one
// more contended cache line on the hit path. num_matches is hits + misses.
struct alignas(64) counter_stripe {
  std::atomic<std::uint64_t> hits{0};
  std::atomic<std::uint64_t> misses{0};
};
constexpr std::size_t counter_stripes = 16;

counter_stripe& my_stripe(counter_stripe* stripes) noexcept {
  static std::atomic<std::size_t> next_thread{0};
  thread_local const std::size_t mine = next_thread.fetch_add(1, std::memory_order_relaxed) % counter_stripes;
  return stripes[mine];
}

const result_ptr& empty_result() {
  static const result_ptr r = std::make_shared<const match_result>();
  return r;
}

std::size_t count_nodes(const level& l) {
  std::size_t n = 0;
  auto one = [&](const node& c) { n += 1 + count_nodes(c.next); };
  l.literal.for_each(one);
  if (l.pwc) one(*l.pwc);
  if (l.fwc) one(*l.fwc);
  return n;
}

}  // namespace

struct sublist::impl {
  explicit impl(std::size_t cache_capacity) {
    // Shards of at least 64 entries, so a small cache is one shard with an exact bound.
    const std::size_t want = std::clamp<std::size_t>(cache_capacity / 64, 1, max_cache_shards);
    const std::size_t n = std::bit_floor(want);
    shards = std::make_unique<cache_shard[]>(n);
    seen.reset(static_cast<std::uint32_t*>(std::calloc(n * cache_shard::seen_slots, sizeof(std::uint32_t))));
    if (!seen) throw std::bad_alloc();
    for (std::size_t i = 0; i < n; ++i) shards[i].seen = seen.get() + i * cache_shard::seen_slots;
    shard_mask = n - 1;
    shard_capacity = cache_capacity / n;
  }

  cache_shard& shard_for(std::size_t hash) noexcept { return shards[(hash >> 32) & shard_mask]; }

  // --- trie, guarded by trie_mu ---
  mutable rw_lock trie_mu;
  level root;
  std::uint64_t inserts = 0;
  std::uint64_t removes = 0;
  std::atomic<std::size_t> subs{0};

  // --- cache ---
  seen_block seen;  // before shards: the shards point into it
  std::unique_ptr<cache_shard[]> shards;
  std::size_t shard_mask = 0;
  std::size_t shard_capacity = 0;
  counter_stripe counters[counter_stripes];

  // Drops cached results the filter matches. Caller holds trie_mu exclusively.
  void invalidate(std::string_view filter) {
    if (shard_capacity == 0) return;
    cache_shard::graveyard dead;
    if (!protocol::has_wildcard(filter)) {
      const std::size_t h = std::hash<std::string_view>{}(filter);
      auto& sh = shard_for(h);
      std::unique_lock lk(sh.mu);
      if (auto it = sh.map.find(cache_probe{filter, h}); it != sh.map.end()) dead.push_back(sh.map.extract(it));
      return;
    }
    for (std::size_t i = 0; i <= shard_mask; ++i) {
      auto& sh = shards[i];
      std::unique_lock lk(sh.mu);
      for (auto it = sh.map.begin(); it != sh.map.end();) {
        auto cur = it++;
        if (protocol::subject_matches(filter, cur->first.subject)) dead.push_back(sh.map.extract(cur));
      }
    }
  }

  // Adds a freshly computed result. Caller holds trie_mu shared (see the locking note above).
  void fill(cache_shard& sh, std::string_view subject, std::size_t hash, const result_ptr& r) {
    cache_shard::graveyard dead;
    cache_key key{std::string(subject), hash};  // allocate before taking the lock
    std::unique_lock lk(sh.mu);
    if (sh.map.size() >= shard_capacity) evict(sh, dead);
    sh.map.try_emplace(std::move(key), r);
  }

  // Takes out a quarter of the shard, starting at a rotating bucket: cheap, amortised over many
  // fills, and without the bookkeeping an LRU would add to every hit.
  void evict(cache_shard& sh, cache_shard::graveyard& dead) {
    const std::size_t target = std::max<std::size_t>(1, shard_capacity / 4);
    const std::size_t buckets = sh.map.bucket_count();
    std::vector<const cache_key*> victims;
    victims.reserve(target);
    dead.reserve(target);
    const std::size_t start = sh.evict_cursor % buckets;
    for (std::size_t step = 0; step < buckets && victims.size() < target; ++step) {
      const std::size_t b = (start + step) % buckets;
      for (auto it = sh.map.cbegin(b); it != sh.map.cend(b) && victims.size() < target; ++it)
        victims.push_back(&it->first);
      sh.evict_cursor = b + 1;
    }
    for (const cache_key* k : victims) dead.push_back(sh.map.extract(sh.map.find(cache_probe{k->subject, k->hash})));
  }

  result_ptr compute(std::string_view subject) const {
    auto r = std::make_shared<match_result>();
    auto add = [&](const node& n) {
      append_node(*r, n);
      return false;
    };
    visit_matches(&root, subject, add);
    return r;
  }
};

sublist::sublist() : sublist(default_cache_capacity) {}

sublist::sublist(std::size_t cache_capacity) : impl_(std::make_unique<impl>(cache_capacity)) {}

sublist::~sublist() = default;

bool sublist::insert(const subscription_ptr& sub) {
  if (!sub || !protocol::is_valid_filter(sub->subject)) return false;
  auto& im = *impl_;
  std::unique_lock lk(im.trie_mu);
  level* l = &im.root;
  node* n = nullptr;
  std::string_view rest = sub->subject;  // valid filter: at least one token
  for (bool last = false; !last;) {
    n = &child_or_create(*l, next_token(rest, last));
    l = &n->next;
  }

  bool added;
  if (sub->queue.empty()) {
    added = n->plain.add(sub);
  } else {
    auto g = std::find_if(n->queues.begin(), n->queues.end(),
                          [&](const queue_group& q) { return q.name == sub->queue; });
    if (g == n->queues.end()) {
      n->queues.push_back(queue_group{sub->queue, {}});
      g = std::prev(n->queues.end());
    }
    added = g->members.add(sub);
  }
  if (added) {
    ++im.inserts;
    im.subs.fetch_add(1, std::memory_order_relaxed);
    im.invalidate(sub->subject);
  }
  return true;
}

bool sublist::remove(const subscription_ptr& sub) {
  if (!sub || !protocol::is_valid_filter(sub->subject)) return false;
  auto& im = *impl_;
  std::unique_lock lk(im.trie_mu);

  struct step {
    level* parent;
    node* n;
    std::string_view tok;
  };
  std::vector<step> path;
  path.reserve(protocol::token_count(sub->subject));
  level* l = &im.root;
  std::string_view rest = sub->subject;
  for (bool last = false; !last;) {
    const std::string_view tok = next_token(rest, last);
    node* n = child(*l, tok);
    if (n == nullptr) return false;
    path.push_back(step{l, n, tok});
    l = &n->next;
  }

  node& leaf = *path.back().n;
  if (sub->queue.empty()) {
    if (!leaf.plain.erase(sub.get())) return false;
  } else {
    auto g = std::find_if(leaf.queues.begin(), leaf.queues.end(),
                          [&](const queue_group& q) { return q.name == sub->queue; });
    if (g == leaf.queues.end() || !g->members.erase(sub.get())) return false;
    if (g->members.empty()) leaf.queues.erase(g);
  }

  // Prune bottom-up so churn on unique subjects (inboxes) does not leave a trail of empty nodes.
  for (auto it = path.rbegin(); it != path.rend() && it->n->empty(); ++it) erase_child(*it->parent, it->tok);

  ++im.removes;
  im.subs.fetch_sub(1, std::memory_order_relaxed);
  im.invalidate(sub->subject);
  return true;
}

std::shared_ptr<const match_result> sublist::match(std::string_view subject) {
  auto& im = *impl_;
  const std::size_t h = std::hash<std::string_view>{}(subject);
  auto& sh = im.shard_for(h);
  auto& counters = my_stripe(im.counters);
  {
    std::shared_lock lk(sh.mu);
    if (auto it = sh.map.find(cache_probe{subject, h}); it != sh.map.end()) {
      counters.hits.fetch_add(1, std::memory_order_relaxed);
      return it->second;
    }
  }
  counters.misses.fetch_add(1, std::memory_order_relaxed);
  if (!walkable_subject(subject)) return empty_result();

  std::shared_lock lk(im.trie_mu);
  auto r = im.compute(subject);
  if (im.shard_capacity != 0 && sh.admit(h)) im.fill(sh, subject, h, r);
  return r;
}

bool sublist::has_interest(std::string_view subject) {
  auto& im = *impl_;
  const std::size_t h = std::hash<std::string_view>{}(subject);
  auto& sh = im.shard_for(h);
  auto& counters = my_stripe(im.counters);
  {
    std::shared_lock lk(sh.mu);
    if (auto it = sh.map.find(cache_probe{subject, h}); it != sh.map.end()) {
      counters.hits.fetch_add(1, std::memory_order_relaxed);
      return !it->second->empty();
    }
  }
  counters.misses.fetch_add(1, std::memory_order_relaxed);
  if (!walkable_subject(subject)) return false;

  // No cache fill: the early exit means we never built the full result.
  std::shared_lock lk(im.trie_mu);
  auto found = [](const node& n) { return n.has_subs(); };
  return visit_matches(&im.root, subject, found);
}

std::size_t sublist::count() const { return impl_->subs.load(std::memory_order_relaxed); }

std::size_t sublist::node_count() const {
  std::shared_lock lk(impl_->trie_mu);
  return count_nodes(impl_->root);
}

sublist_stats sublist::stats() const {
  const auto& im = *impl_;
  sublist_stats st;
  {
    std::shared_lock lk(im.trie_mu);
    st.num_inserts = im.inserts;
    st.num_removes = im.removes;
    st.num_subscriptions = im.subs.load(std::memory_order_relaxed);
  }
  for (const auto& c : im.counters) {
    const auto hits = c.hits.load(std::memory_order_relaxed);
    st.cache_hits += hits;
    st.num_matches += hits + c.misses.load(std::memory_order_relaxed);
  }
  std::uint64_t total_fanout = 0;
  for (std::size_t i = 0; i <= im.shard_mask; ++i) {
    const auto& sh = im.shards[i];
    std::shared_lock lk(sh.mu);
    st.num_cache += sh.map.size();
    for (const auto& [key, r] : sh.map) {
      // Fanout counts deliveries: every plain subscriber, and one member per queue group.
      const auto fanout = static_cast<std::uint32_t>(r->plain.size() + r->queues.size());
      total_fanout += fanout;
      st.max_fanout = std::max(st.max_fanout, fanout);
    }
  }
  if (st.num_cache != 0) st.avg_fanout = static_cast<double>(total_fanout) / static_cast<double>(st.num_cache);
  return st;
}

}  // namespace jb::server
