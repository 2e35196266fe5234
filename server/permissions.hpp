#pragma once
// Per-user publish/subscribe permissions, compiled once from the configuration and shared
// (read-only) by every connection of that user. The rules are nats-server's:
//
//   publish    allow list (absent or empty: everything) then deny list. allow_responses without
//              an allow list implies one that allows nothing (only the responses).
//   subscribe  allow list (absent or empty: everything) then deny list. An entry "subject queue"
//              applies to queue subscriptions: with a matching queue entry, a queue subscription
//              is allowed (allow list) or denied (deny list) by its queue name, which may be a
//              wildcard pattern; "foo v1" alone allows only queue subscriptions to foo in v1.
//   delivery   deny rules also filter messages delivered to wildcard subscriptions that are
//              wider than a denied subject ("a.*" with deny "a.secret"), see needs_delivery_filter.
//
// Matching follows nats-server's subscription index: the tested subject's tokens are taken
// literally (a subscription to "foo.>" is matched by the rule "foo.*"), and a subject with an
// empty token matches no rule.
//
// Thread-safety: immutable after make(); any thread.
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/options.hpp"

namespace jb::server {

// One allow or deny list.
class subject_rules {
 public:
  subject_rules() = default;
  // Entries are "subject" or "subject queue" (queue entries only when with_queues).
  subject_rules(const std::vector<std::string>& entries, bool with_queues);

  // Some entry without a queue matches the subject.
  [[nodiscard]] bool matches(std::string_view subject) const noexcept;
  // Among the queue entries matching the subject: none (nullopt), else whether one of them
  // names this queue (equal, or a wildcard pattern the queue name fits).
  [[nodiscard]] std::optional<bool> queue_matches(std::string_view subject, std::string_view queue) const noexcept;
  // Some entry (queue entries included, as written) is a subset of the wildcard subject.
  [[nodiscard]] bool any_subset_of(std::string_view subject) const noexcept;
  [[nodiscard]] bool empty() const noexcept { return entries_.empty(); }

 private:
  struct entry {
    std::string subject;
    std::string queue;  // empty: a plain entry
    std::string raw;    // as configured
  };
  std::vector<entry> entries_;
};

struct subscribe_check {
  bool allowed = true;
  // The subscription is a wildcard wider than some denied subject: from now on, the
  // connection's deliveries must be filtered through delivery_denied().
  bool needs_delivery_filter = false;
};

class permissions {
 public:
  // Null when the configuration gives no permissions at all.
  [[nodiscard]] static std::shared_ptr<const permissions> make(const std::optional<config::permissions>& cfg);

  // Whether publishing is restricted at all (otherwise publish_allowed() is always true).
  [[nodiscard]] bool restricts_publish() const noexcept { return pub_allow_ || pub_deny_; }
  // The static publish rules (no reply tracking).
  [[nodiscard]] bool publish_allowed(std::string_view subject) const noexcept;
  [[nodiscard]] subscribe_check can_subscribe(std::string_view subject, std::string_view queue) const noexcept;
  // The deny-subscribe rules applied at delivery.
  [[nodiscard]] bool delivery_denied(std::string_view subject) const noexcept;
  // allow_responses: a client that received a message with a reply may publish to that reply
  // max_msgs times (0: unlimited) within `expires` (0: forever), even when publishing is denied.
  [[nodiscard]] const std::optional<config::response_permission>& responses() const noexcept { return resp_; }

 private:
  std::optional<subject_rules> pub_allow_, pub_deny_, sub_allow_, sub_deny_;
  std::optional<config::response_permission> resp_;
};

}  // namespace jb::server
