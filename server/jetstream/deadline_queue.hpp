#pragma once
// Ack deadlines of a consumer's pending messages: set, clear, earliest, expire. Pure: no clock.
//
// A deadline is normally now + ack_wait, so deadlines arrive in non-decreasing order: those go to a
// FIFO (O(1) per message, no allocation per entry). Others (backoff, a NAK delay, a clock step)
// go to an ordered set. Clearing is lazy: only the per-sequence table forgets the entry, and an
// entry whose sequence no longer has that deadline is skipped when it reaches the front. The
// queues are compacted once stale entries outnumber live ones, so memory stays O(pending) even
// when every message is acked long before its deadline (the usual case).
//
// This replaced a std::set of (deadline, seq) plus a std::map seq -> deadline, whose node
// allocations and rebalancing were ~5% of server CPU for an explicit-ack consumer.
#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <set>
#include <utility>

#include <boost/unordered/unordered_flat_map.hpp>

namespace jb::jetstream {

class deadline_queue {
 public:
  // Sets (or replaces) the deadline of seq. `in_order`: the caller's deadlines of this kind grow
  // with time (now + ack_wait); a NAK delay or a backoff step passes false and goes to the ordered
  // set, so one long delay at the back of the FIFO does not send every later ack_wait deadline
  // there too.
  void set(std::uint64_t seq, std::int64_t deadline, bool in_order = true) {
    auto [it, inserted] = live_.try_emplace(seq, deadline);
    if (!inserted) {
      if (it->second == deadline) return;  // already queued: no duplicate entry
      it->second = deadline;
    }
    while (!fifo_.empty() && !is_live(fifo_.back())) fifo_.pop_back();
    if (in_order && (fifo_.empty() || deadline >= fifo_.back().first)) fifo_.emplace_back(deadline, seq);
    else sorted_.emplace(deadline, seq);
    if (fifo_.size() + sorted_.size() > 2 * live_.size() + compact_slack) compact();
  }

  void clear(std::uint64_t seq) { live_.erase(seq); }

  bool contains(std::uint64_t seq) const { return live_.contains(seq); }
  bool empty() const { return live_.empty(); }
  std::size_t size() const { return live_.size(); }
  // Entries held, stale ones included (for tests of the compaction bound).
  std::size_t held() const { return fifo_.size() + sorted_.size(); }
  // Entries on the ordered side (for tests: in-order deadlines belong in the FIFO).
  std::size_t held_sorted() const { return sorted_.size(); }

  // The earliest live deadline, if any.
  std::optional<std::int64_t> earliest() {
    if (auto e = front()) return e->first;
    return std::nullopt;
  }

  // Removes every sequence whose deadline is <= now, earliest first, and calls f(seq) for each.
  template <class F>
  void expire(std::int64_t now, F&& f) {
    while (auto e = front()) {
      if (e->first > now) break;
      pop(*e);
      live_.erase(e->second);
      f(e->second);
    }
  }

 private:
  static constexpr std::size_t compact_slack = 1024;
  using entry = std::pair<std::int64_t, std::uint64_t>;  // (deadline, seq)

  bool is_live(const entry& e) const {
    auto it = live_.find(e.second);
    return it != live_.end() && it->second == e.first;
  }

  // The earliest live entry, dropping stale ones on the way.
  std::optional<entry> front() {
    while (!fifo_.empty() && !is_live(fifo_.front())) fifo_.pop_front();
    while (!sorted_.empty() && !is_live(*sorted_.begin())) sorted_.erase(sorted_.begin());
    if (fifo_.empty() && sorted_.empty()) return std::nullopt;
    if (sorted_.empty()) return fifo_.front();
    if (fifo_.empty()) return *sorted_.begin();
    return std::min(fifo_.front(), *sorted_.begin());
  }

  void pop(const entry& e) {
    if (!fifo_.empty() && fifo_.front() == e) fifo_.pop_front();
    else sorted_.erase(sorted_.begin());
  }

  void compact() {
    std::deque<entry> kept;
    for (const auto& e : fifo_)
      if (is_live(e)) kept.push_back(e);
    fifo_.swap(kept);
    std::erase_if(sorted_, [&](const entry& e) { return !is_live(e); });
    // set() never queues a sequence's current deadline twice, so what is left is exactly live_.
  }

  boost::unordered_flat_map<std::uint64_t, std::int64_t> live_;  // seq -> its current deadline
  std::deque<entry> fifo_;                                       // non-decreasing deadlines
  std::set<entry> sorted_;                                       // the others
};

}  // namespace jb::jetstream
