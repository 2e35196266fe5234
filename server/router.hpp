#pragma once
// Routing one message to its subscribers: every matching plain subscription and one member of
// each matching queue group. Used by client connections and by internal publishers (JetStream).
// Any thread; the subscription index is thread-safe.
#include <cstdint>
#include <memory>
#include <vector>

#include "server/sublist.hpp"
#include "server/subscription.hpp"

namespace jb::server {

struct route_stats {
  bool any_interest = false;   // some subscription matched (used for no-responders)
  std::uint32_t delivered = 0;
  std::uint32_t to_clients = 0;  // of `delivered`, to client connections (nats-server's out_msgs)
};

// Delivers `m` to the subscriptions in `r`. Subscriptions owned by `sender_cid` are skipped when
// `echo` is false. Receivers that need waking are appended to `kicks` (the caller kicks them once
// its batch is done).
route_stats route_to(const match_result& r, const message_view& m, std::uint64_t sender_cid, bool echo,
                     std::vector<std::shared_ptr<subscriber>>& kicks);

// Wakes every receiver in `kicks` and clears it.
void flush_kicks(std::vector<std::shared_ptr<subscriber>>& kicks);

}  // namespace jb::server
