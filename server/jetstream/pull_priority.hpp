#pragma once
// Pull consumer priority groups (ADR-42): the policy enum, group-name rule, the checks applied to
// a pull request's priority fields, and the waiting-queue rules (overflow gate, pin matching,
// ordering by priority). Pure: no Asio, no clock; consumer.cpp owns the state and the timer.
// Behaviour follows nats-server 2.14 (consumer.go: processNextMsgRequest, nextWaiting,
// waitQueue.addPrioritized / popAndRequeue).
#include <cstdint>
#include <deque>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace jb::jetstream {

enum class priority_policy { none, overflow, pinned_client, prioritized };

const char* to_string(priority_policy p);
std::optional<priority_policy> parse_priority_policy(std::string_view s);

// 1 to 16 characters of A-Z a-z 0-9 - _ / =.
bool is_valid_priority_group_name(std::string_view g);

// The priority fields of one pull request. `present` is false for the legacy forms (empty body
// or a bare batch number): nats-server applies no priority checks to those.
struct pull_group {
  bool present = false;
  std::string group;
  std::int64_t min_pending = 0;
  std::int64_t min_ack_pending = 0;
  std::string id;  // pin id: sent by the client, or given to the request when it gets pinned
  std::int64_t priority = 0;

  // Unset priority sorts after every explicit one (nats: math.MaxInt32 for a nil group).
  [[nodiscard]] std::int64_t sort_priority() const {
    return present ? priority : std::numeric_limits<std::int32_t>::max();
  }
};

struct pull_status {
  int code = 0;
  std::string description;
  bool operator==(const pull_status&) const = default;
};

// Validates a new pull request against the consumer's policy, groups and current pin (empty: not
// pinned). nullopt: accepted. `renews_pin` is set when the request carries the current pin id (the
// pin's timeout then restarts).
std::optional<pull_status> check_pull_group(priority_policy policy, const std::vector<std::string>& groups,
                                            const pull_group& g, std::string_view current_pin, bool& renews_pin);

// Overflow: a request with thresholds is served only when one of them is reached.
// `pending` counts the message about to be delivered (nats: npc + 1).
bool overflow_allows(const pull_group& g, std::uint64_t pending, std::uint64_t ack_pending);

// What the queue walk does with the request at the front.
enum class front_action { serve, cycle, wrong_pin, claim_pin };

// Pin rules for the request at the front (nats nextWaiting). `need_new_pin`: pinned_client with no
// pin when the walk started.
front_action pin_action(const pull_group& g, bool need_new_pin, std::string_view current_pin);

// Requests in a pinned/overflow/prioritized queue: serves the front one and moves it as
// nats-server does. `R` needs `.prio` (pull_group) and `.batch` (remaining, already decremented).
// prioritized: back among the requests of the same priority; otherwise: to the back of the queue.
// A finished request is removed.
template <class R>
void requeue_front(std::deque<R>& q, priority_policy policy) {
  if (q.empty()) return;
  if (q.front().batch <= 0) {
    q.pop_front();
    return;
  }
  if (q.size() == 1) return;
  R r = std::move(q.front());
  q.pop_front();
  if (policy == priority_policy::prioritized) {
    auto p = r.prio.sort_priority();
    auto it = q.begin();
    while (it != q.end() && it->prio.sort_priority() <= p) ++it;
    q.insert(it, std::move(r));
  } else {
    q.push_back(std::move(r));
  }
}

// New request into a prioritized queue: after every request of the same or a lower priority value.
template <class R>
void insert_prioritized(std::deque<R>& q, R r) {
  auto p = r.prio.sort_priority();
  auto it = q.begin();
  while (it != q.end() && it->prio.sort_priority() <= p) ++it;
  q.insert(it, std::move(r));
}

// A 22-character base62 id, the shape of a nuid (Nats-Pin-Id values).
std::string new_pin_id();

}  // namespace jb::jetstream
