#include "server/account.hpp"

#include "server/jetstream/disabled_account.hpp"

#include <random>

#include "protocol/headers.hpp"
#include "protocol/subject.hpp"
#include "server/router.hpp"
#include "server/random_seed.hpp"

namespace jb::server {
namespace {

// nats-server's default response threshold: a response mapping lives this long at most.
constexpr auto response_ttl = std::chrono::minutes(2);
// Requests forwarded through service imports that lead into further service imports: enough
// for chains, and a stop for cycles (A imports from B what B imports from A).
constexpr int max_forward_depth = 8;
thread_local int tl_forward_depth = 0;
thread_local std::int64_t tl_publisher_rtt_ns = 0;

constexpr char base62[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

std::string random_token(std::size_t n) {
  thread_local std::mt19937_64 gen(random_seed());
  std::string s;
  for (std::size_t i = 0; i < n; ++i) s += base62[gen() % 62];
  return s;
}

struct depth_guard {
  depth_guard() { ++tl_forward_depth; }
  ~depth_guard() { --tl_forward_depth; }
  depth_guard(const depth_guard&) = delete;
  depth_guard& operator=(const depth_guard&) = delete;
};

// Routes a message into an account on behalf of an internal forwarder and wakes the receivers.
route_stats route_into(account& acc, const message_view& m) {
  std::vector<std::shared_ptr<subscriber>> kicks;
  auto r = acc.subs().match(m.subject);
  auto st = route_to(*r, m, 0, true, kicks);
  flush_kicks(kicks);
  return st;
}

// The internal subscriber behind a service import: in the importer's index on the local
// subject, it forwards requests into the exporter.
class service_forwarder final : public subscriber {
 public:
  service_forwarder(account& importer, account& exporter, std::string subject, bool singleton,
                    std::optional<jetstream::subject_transform> to_remote)
      : importer_(importer),
        exporter_(exporter),
        subject_(std::move(subject)),
        singleton_(singleton),
        to_remote_(std::move(to_remote)) {}

  bool deliver(subscription& /*sub*/, const message_view& m) override {
    if (tl_forward_depth >= max_forward_depth) return false;
    depth_guard depth;
    std::string subject;
    if (to_remote_) subject = to_remote_->apply(m.subject).value_or(std::string(m.subject));
    else subject = protocol::has_wildcard(subject_) ? std::string(m.subject) : subject_;
    std::string reply;
    if (!m.reply.empty()) reply = exporter_.add_response(importer_, m.reply, singleton_);
    // nats-server tells the service who is asking: the requester's account (and its RTT).
    std::string info = "{\"acc\":\"" + importer_.name() + "\"";
    if (tl_publisher_rtt_ns > 0) info += ",\"rtt\":" + std::to_string(tl_publisher_rtt_ns);
    info += "}";
    std::string headers;
    if (!m.headers.empty()) headers = protocol::remove_header(m.headers, "Nats-Request-Info");
    if (headers.size() < 4) headers = std::string(protocol::header_version) + "\r\n";
    else headers.resize(headers.size() - 2);  // reopen the block: drop its empty last line
    headers += "Nats-Request-Info: " + info + "\r\n\r\n";
    return route_into(exporter_, message_view{subject, reply, headers, m.payload}).any_interest;
  }

 private:
  account& importer_;
  account& exporter_;
  const std::string subject_;  // the exporter's subject
  const bool singleton_;
  const std::optional<jetstream::subject_transform> to_remote_;
};

}  // namespace

// Routes responses published in an exporting account on `_R_.<tag>.>` back to the requesters.
class response_router final : public subscriber {
 public:
  explicit response_router(std::string prefix) : prefix_(std::move(prefix)) {}
  [[nodiscard]] const std::string& prefix() const noexcept { return prefix_; }

  std::string add(account& to, std::string_view reply, bool singleton) {
    const auto now = std::chrono::steady_clock::now();
    std::lock_guard lk(mu_);
    std::string id = prefix_ + random_token(6);
    while (map_.count(id) != 0) id = prefix_ + random_token(6);
    if (++adds_since_prune_ >= 1024) {
      adds_since_prune_ = 0;
      std::erase_if(map_, [&](const auto& kv) { return kv.second.deadline <= now; });
    }
    map_.emplace(id, entry{&to, std::string(reply), singleton, now + response_ttl});
    return id;
  }

  bool deliver(subscription& /*sub*/, const message_view& m) override {
    if (tl_forward_depth >= max_forward_depth) return false;
    depth_guard depth;
    account* to = nullptr;
    std::string reply;
    {
      std::lock_guard lk(mu_);
      auto it = map_.find(std::string(m.subject));
      if (it == map_.end()) return false;
      if (it->second.deadline <= std::chrono::steady_clock::now()) {
        map_.erase(it);
        return false;
      }
      to = it->second.to;
      reply = it->second.reply;
      if (it->second.singleton) map_.erase(it);
    }
    return route_into(*to, message_view{reply, m.reply, m.headers, m.payload}).any_interest;
  }

 private:
  struct entry {
    account* to;
    std::string reply;
    bool singleton;
    std::chrono::steady_clock::time_point deadline;
  };
  const std::string prefix_;  // "_R_.<tag>."
  std::mutex mu_;
  std::unordered_map<std::string, entry> map_;  // guarded by mu_
  int adds_since_prune_ = 0;                    // guarded by mu_
};

void set_publisher_rtt(std::int64_t rtt_ns) noexcept { tl_publisher_rtt_ns = rtt_ns; }

std::string stream_import::local_subject(std::string_view remote) const {
  if (!prefix.empty()) return prefix + "." + std::string(remote);
  if (to_local) return to_local->apply(remote).value_or(std::string(remote));
  return std::string(remote);
}

std::optional<std::string> stream_import::remote_filter(std::string_view local_filter) const {
  if (protocol::subject_is_subset(local, local_filter)) return subject;
  // The subscription narrows the import (or overlaps it): the common subjects, mapped back.
  auto common = intersect_filters(local_filter, local);
  if (!common) return std::nullopt;
  if (!prefix.empty()) return common->substr(prefix.size() + 1);
  if (to_remote) return to_remote->apply(*common);
  return common;
}

std::optional<std::string> intersect_filters(std::string_view a, std::string_view b) {
  std::vector<std::string_view> ta, tb;
  for (auto t : protocol::tokens(a)) ta.push_back(t);
  for (auto t : protocol::tokens(b)) tb.push_back(t);
  std::string out;
  auto add = [&](std::string_view t) {
    if (!out.empty()) out += '.';
    out += t;
  };
  for (std::size_t i = 0;; ++i) {
    if (i == ta.size() || i == tb.size()) {
      if (ta.size() != tb.size()) return std::nullopt;
      return out;
    }
    if (ta[i] == ">" || tb[i] == ">") {
      const auto& rest = ta[i] == ">" ? tb : ta;  // the other side's remaining tokens
      for (std::size_t j = i; j < rest.size(); ++j) add(rest[j]);
      return out;
    }
    if (ta[i] == "*") add(tb[i]);
    else if (tb[i] == "*" || ta[i] == tb[i]) add(ta[i]);
    else return std::nullopt;
  }
}

account::account(std::string name) : name_(std::move(name)) {}

account::~account() {
  for (auto& s : service_subs_) subs_.remove(s);
  if (responses_sub_) subs_.remove(responses_sub_);
}

bool account::add_stream_import(account& from, const std::string& subject, const std::string& to, bool is_prefix) {
  auto im = std::make_unique<stream_import>();
  im->from = &from;
  im->subject = subject;
  if (to.empty()) {
    im->local = subject;
  } else if (is_prefix) {
    im->prefix = to;
    im->local = to + "." + subject;
  } else {
    im->to_local = jetstream::subject_transform::make(subject, to);
    im->to_remote = jetstream::subject_transform::make(to, subject);
    if (!im->to_local || !im->to_remote) return false;
    im->local = to;
  }
  if (!protocol::is_valid_filter(im->local)) return false;
  stream_imports_.push_back(std::move(im));
  return true;
}

bool account::add_service_import(account& from, const std::string& subject, const std::string& to, bool singleton) {
  const std::string local = to.empty() ? subject : to;
  std::optional<jetstream::subject_transform> to_remote;
  if (local != subject && protocol::has_wildcard(local)) {
    to_remote = jetstream::subject_transform::make(local, subject);
    if (!to_remote) return false;
  }
  auto sub = std::make_shared<subscription>();
  sub->subject = local;
  sub->sid = "service-import";
  sub->forwarder = true;
  sub->owner = std::make_shared<service_forwarder>(*this, from, subject, singleton, std::move(to_remote));
  if (!subs_.insert(sub)) return false;
  service_subs_.push_back(std::move(sub));
  return true;
}

// $JS.API.> in an account without JetStream on a server that runs it: nats-server's answers
// (see jetstream/disabled_account.hpp). A forwarder, so that subjects nobody answers there
// (DIRECT.GET, CONSUMER.MSG.NEXT) still get the requester its no-responders status.
class jetstream_disabled_responder final : public subscriber {
 public:
  explicit jetstream_disabled_responder(account& acc) : acc_(acc) {}
  bool deliver(subscription& /*sub*/, const message_view& m) override {
    auto r = jetstream::disabled_account_reply(m.subject);
    if (r.kind == jetstream::disabled_answer::no_responder) return false;
    if (r.kind == jetstream::disabled_answer::reply && !m.reply.empty() && tl_forward_depth < max_forward_depth) {
      depth_guard depth;
      route_into(acc_, message_view{m.reply, {}, {}, r.json});
    }
    return true;
  }

 private:
  account& acc_;
};

void account::add_jetstream_disabled_responder() {
  auto sub = std::make_shared<subscription>();
  sub->subject = "$JS.API.>";
  sub->sid = "jetstream-disabled";
  sub->forwarder = true;
  sub->owner = std::make_shared<jetstream_disabled_responder>(*this);
  if (subs_.insert(sub)) service_subs_.push_back(std::move(sub));
}

std::string account::add_response(account& to, std::string_view reply, bool singleton) {
  std::call_once(responses_once_, [this] {
    responses_ = std::make_shared<response_router>("_R_." + random_token(6) + ".");
    auto sub = std::make_shared<subscription>();
    sub->subject = responses_->prefix() + ">";
    sub->sid = "service-responses";
    sub->forwarder = true;
    sub->owner = responses_;
    subs_.insert(sub);
    responses_sub_ = std::move(sub);
  });
  return responses_->add(to, reply, singleton);
}

}  // namespace jb::server
