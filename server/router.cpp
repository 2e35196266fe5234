#include "server/router.hpp"

#include <random>

namespace jb::server {
namespace {

// Fast per-thread generator for picking queue-group members.
std::uint32_t fast_rand() {
  thread_local std::uint64_t s = std::random_device{}() | 1;
  s ^= s << 13;
  s ^= s >> 7;
  s ^= s << 17;
  return static_cast<std::uint32_t>(s);
}

bool deliver_one(const std::shared_ptr<subscription>& sp, const message_view& m, std::uint64_t sender_cid,
                 bool echo, std::vector<std::shared_ptr<subscriber>>& kicks) {
  subscription& s = *sp;
  if (s.closed.load(std::memory_order_relaxed)) return false;
  if (!echo && sender_cid != 0 && s.owner->client_id() == sender_cid) return false;
  auto n = s.delivered.fetch_add(1, std::memory_order_relaxed) + 1;
  if (s.max_msgs != 0) {
    if (n > s.max_msgs) return false;
    if (n == s.max_msgs) s.owner->on_max_reached(sp);
  }
  if (s.owner->deliver(s, m)) kicks.push_back(s.owner);
  return true;
}

}  // namespace

route_stats route_to(const match_result& r, const message_view& m, std::uint64_t sender_cid, bool echo,
                     std::vector<std::shared_ptr<subscriber>>& kicks) {
  route_stats st;
  st.any_interest = !r.empty();
  for (const auto& sp : r.plain) st.delivered += deliver_one(sp, m, sender_cid, echo, kicks);
  for (const auto& group : r.queues) {
    // One member per group, starting at a random one and skipping members that cannot take it.
    const std::size_t sz = group.size();
    const std::size_t start = sz == 1 ? 0 : fast_rand() % sz;
    for (std::size_t i = 0; i < sz; ++i) {
      if (deliver_one(group[(start + i) % sz], m, sender_cid, echo, kicks)) {
        ++st.delivered;
        break;
      }
    }
  }
  return st;
}

void flush_kicks(std::vector<std::shared_ptr<subscriber>>& kicks) {
  for (auto& k : kicks) k->kick();
  kicks.clear();
}

}  // namespace jb::server
