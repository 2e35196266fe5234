#include "server/jetstream/pull_priority.hpp"
#include "server/random_seed.hpp"

#include <algorithm>
#include <random>

namespace jb::jetstream {

const char* to_string(priority_policy p) {
  switch (p) {
    case priority_policy::none: return "none";
    case priority_policy::overflow: return "overflow";
    case priority_policy::pinned_client: return "pinned_client";
    case priority_policy::prioritized: return "prioritized";
  }
  return "none";
}

std::optional<priority_policy> parse_priority_policy(std::string_view s) {
  if (s == "none") return priority_policy::none;
  if (s == "overflow") return priority_policy::overflow;
  if (s == "pinned_client") return priority_policy::pinned_client;
  if (s == "prioritized") return priority_policy::prioritized;
  return std::nullopt;
}

bool is_valid_priority_group_name(std::string_view g) {
  if (g.empty() || g.size() > 16) return false;
  return std::all_of(g.begin(), g.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
           c == '/' || c == '=';
  });
}

std::optional<pull_status> check_pull_group(priority_policy policy, const std::vector<std::string>& groups,
                                            const pull_group& g, std::string_view current_pin, bool& renews_pin) {
  renews_pin = false;
  if (!g.present) return std::nullopt;
  if ((g.min_pending != 0 || g.min_ack_pending != 0) && policy != priority_policy::overflow)
    return pull_status{400, "Bad Request - Not a Overflow Priority consumer"};
  if (!g.id.empty() && policy != priority_policy::pinned_client)
    return pull_status{400, "Bad Request - Not a Pinned Client Priority consumer"};
  if (g.priority < 0 || g.priority > 9) return pull_status{400, "Bad Request - Priority must be between 0 and 9"};
  if (policy == priority_policy::none) return std::nullopt;
  if (g.group.empty()) return pull_status{400, "Bad Request - Priority Group missing"};
  if (std::find(groups.begin(), groups.end(), g.group) == groups.end())
    return pull_status{400, "Bad Request - Invalid Priority Group"};
  if (!current_pin.empty()) {
    if (g.id == current_pin) renews_pin = true;
    else if (!g.id.empty()) return pull_status{423, "Nats-Pin-Id mismatch"};
  }
  return std::nullopt;
}

bool overflow_allows(const pull_group& g, std::uint64_t pending, std::uint64_t ack_pending) {
  if (!g.present || (g.min_pending <= 0 && g.min_ack_pending <= 0)) return true;
  if (g.min_pending > 0 && static_cast<std::uint64_t>(g.min_pending) <= pending) return true;
  if (g.min_ack_pending > 0 && static_cast<std::uint64_t>(g.min_ack_pending) <= ack_pending) return true;
  return false;
}

front_action pin_action(const pull_group& g, bool need_new_pin, std::string_view current_pin) {
  if (need_new_pin) {
    if (!g.id.empty()) return front_action::wrong_pin;  // an old pin: tell the client
    // A legacy request (no group) is served without taking the pin.
    return g.present && !g.group.empty() ? front_action::claim_pin : front_action::serve;
  }
  if (current_pin.empty()) return front_action::serve;
  if (g.id == current_pin) return front_action::serve;
  if (g.id.empty()) return front_action::cycle;  // stands by while another client holds the pin
  return front_action::wrong_pin;
}

std::string new_pin_id() {
  static constexpr char alphabet[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  thread_local std::mt19937_64 rng{jb::server::random_seed()};
  std::string id(22, '0');
  for (auto& c : id) c = alphabet[rng() % 62];
  return id;
}

}  // namespace jb::jetstream
