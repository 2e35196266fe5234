#include "server/router.hpp"

#include <random>
#include <string>

#include "server/account.hpp"
#include "server/random_seed.hpp"

namespace jb::server {
namespace {

// Fast per-thread generator for picking queue-group members.
std::uint32_t fast_rand() {
  thread_local std::uint64_t s = random_seed() | 1;
  s ^= s << 13;
  s ^= s >> 7;
  s ^= s << 17;
  return static_cast<std::uint32_t>(s);
}

bool count_and_deliver(const std::shared_ptr<subscription>& sp, const message_view& m,
                       std::vector<std::shared_ptr<subscriber>>& kicks) {
  subscription& s = *sp;
  auto n = s.delivered.fetch_add(1, std::memory_order_relaxed) + 1;
  if (s.max_msgs != 0) {
    if (n > s.max_msgs) return false;
    if (n == s.max_msgs) s.owner->on_max_reached(sp);
  }
  if (s.owner->deliver(s, m)) kicks.push_back(s.owner);
  return true;
}

bool deliver_one(const std::shared_ptr<subscription>& sp, const message_view& m, std::uint64_t sender_cid,
                 bool echo, std::vector<std::shared_ptr<subscriber>>& kicks) {
  subscription& s = *sp;
  if (s.closed.load(std::memory_order_relaxed)) return false;
  subscriber& owner = *s.owner;
  if (!echo && sender_cid != 0 && owner.client_id() == sender_cid) return false;
  if (s.import == nullptr) [[likely]] {
    if (owner.filter_deliveries.load(std::memory_order_acquire) && owner.delivery_denied(m.subject)) return false;
    return count_and_deliver(sp, m, kicks);
  }
  // A stream import's shadow subscription: the importer sees its own subject.
  const std::string local = s.import->local_subject(m.subject);
  if (owner.filter_deliveries.load(std::memory_order_acquire) && owner.delivery_denied(local)) return false;
  return count_and_deliver(sp, message_view{local, m.reply, m.headers, m.payload}, kicks);
}

}  // namespace

route_stats route_to(const match_result& r, const message_view& m, std::uint64_t sender_cid, bool echo,
                     std::vector<std::shared_ptr<subscriber>>& kicks) {
  route_stats st;
  std::size_t forwarders = 0;
  bool forwarded = false;
  for (const auto& sp : r.plain) {
    if (sp->forwarder) [[unlikely]] {
      // A service import: the owner routes on into the exporting account.
      ++forwarders;
      if (!sp->closed.load(std::memory_order_relaxed) && sp->owner->deliver(*sp, m)) forwarded = true;
      continue;
    }
    if (deliver_one(sp, m, sender_cid, echo, kicks)) {
      ++st.delivered;
      st.to_clients += sp->client;
    }
  }
  st.any_interest = forwarded || r.plain.size() > forwarders || !r.queues.empty();
  for (const auto& group : r.queues) {
    // One member per group, starting at a random one and skipping members that cannot take it.
    const std::size_t sz = group.size();
    const std::size_t start = sz == 1 ? 0 : fast_rand() % sz;
    for (std::size_t i = 0; i < sz; ++i) {
      if (deliver_one(group[(start + i) % sz], m, sender_cid, echo, kicks)) {
        ++st.delivered;
        st.to_clients += group[(start + i) % sz]->client;
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
