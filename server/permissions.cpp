#include "server/permissions.hpp"

#include <algorithm>
#include <sstream>

#include "protocol/subject.hpp"

namespace jb::server {
namespace {

// nats-server's index never matches a subject with an empty token ("a..b", ".a", "a.").
bool has_empty_token(std::string_view s) noexcept {
  return s.empty() || s.front() == '.' || s.back() == '.' || s.find("..") != std::string_view::npos;
}

bool rule_matches(std::string_view rule, std::string_view subject) noexcept {
  return !has_empty_token(subject) && protocol::subject_matches(rule, subject);
}

}  // namespace

subject_rules::subject_rules(const std::vector<std::string>& entries, bool with_queues) {
  for (const auto& raw : entries) {
    entry e;
    e.raw = raw;
    if (with_queues) {
      std::istringstream in(raw);
      std::vector<std::string> fields;
      for (std::string f; in >> f;) fields.push_back(f);
      if (fields.empty() || fields.size() > 2) continue;  // nats logs "invalid subject-queue" and skips it
      e.subject = fields[0];
      if (fields.size() == 2) e.queue = fields[1];
    } else {
      e.subject = raw;
    }
    entries_.push_back(std::move(e));
  }
}

bool subject_rules::matches(std::string_view subject) const noexcept {
  return std::any_of(entries_.begin(), entries_.end(),
                     [&](const entry& e) { return e.queue.empty() && rule_matches(e.subject, subject); });
}

std::optional<bool> subject_rules::queue_matches(std::string_view subject, std::string_view queue) const noexcept {
  std::optional<bool> found;
  for (const auto& e : entries_) {
    if (e.queue.empty() || !rule_matches(e.subject, subject)) continue;
    // '*' and '>' are valid queue-name characters, so an exact name is tried first.
    if (queue == e.queue || (protocol::has_wildcard(e.queue) && protocol::subject_is_subset(queue, e.queue)))
      return true;
    found = false;
  }
  return found;
}

bool subject_rules::any_subset_of(std::string_view subject) const noexcept {
  return std::any_of(entries_.begin(), entries_.end(),
                     [&](const entry& e) { return protocol::subject_is_subset(e.raw, subject); });
}

std::shared_ptr<const permissions> permissions::make(const std::optional<config::permissions>& cfg) {
  if (!cfg) return nullptr;
  auto p = std::make_shared<permissions>();
  if (const auto& pub = cfg->publish) {
    if (!pub->allow.empty()) p->pub_allow_.emplace(pub->allow, false);
    if (!pub->deny.empty()) p->pub_deny_.emplace(pub->deny, false);
  }
  // Responses are the exception to a publish allow list, so allow_responses implies one
  // (allowing nothing) when none was given.
  if (cfg->allow_responses && !p->pub_allow_) p->pub_allow_.emplace(std::vector<std::string>{}, false);
  if (const auto& sub = cfg->subscribe) {
    if (!sub->allow.empty()) p->sub_allow_.emplace(sub->allow, true);
    if (!sub->deny.empty()) p->sub_deny_.emplace(sub->deny, true);
  }
  p->resp_ = cfg->allow_responses;
  return p;
}

bool permissions::publish_allowed(std::string_view subject) const noexcept {
  if (pub_allow_ && !pub_allow_->matches(subject)) return false;
  return !(pub_deny_ && pub_deny_->matches(subject));
}

subscribe_check permissions::can_subscribe(std::string_view subject, std::string_view queue) const noexcept {
  subscribe_check r;
  if (sub_allow_) {
    r.allowed = sub_allow_->matches(subject);
    if (!queue.empty())
      if (auto q = sub_allow_->queue_matches(subject, queue)) r.allowed = *q;
  }
  if (r.allowed && sub_deny_) {
    r.allowed = !sub_deny_->matches(subject);
    if (!queue.empty())
      if (auto q = sub_deny_->queue_matches(subject, queue)) r.allowed = !*q;
    r.needs_delivery_filter = r.allowed && protocol::has_wildcard(subject) && sub_deny_->any_subset_of(subject);
  }
  return r;
}

bool permissions::delivery_denied(std::string_view subject) const noexcept {
  return sub_deny_ && sub_deny_->matches(subject);
}

}  // namespace jb::server
