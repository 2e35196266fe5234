#include "server/jetstream/pull_priority.hpp"

#include <deque>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace jb::jetstream {
namespace {

pull_group grp(std::string g, std::string id = {}, std::int64_t prio = 0) {
  pull_group p;
  p.present = true;
  p.group = std::move(g);
  p.id = std::move(id);
  p.priority = prio;
  return p;
}

struct req {
  std::string name;
  pull_group prio;
  std::int64_t batch = 1;
};

std::vector<std::string> names(const std::deque<req>& q) {
  std::vector<std::string> v;
  for (const auto& r : q) v.push_back(r.name);
  return v;
}

TEST(PullPriority, PolicyNamesRoundTrip) {
  for (auto p : {priority_policy::none, priority_policy::overflow, priority_policy::pinned_client,
                 priority_policy::prioritized})
    EXPECT_EQ(parse_priority_policy(to_string(p)), p);
  EXPECT_FALSE(parse_priority_policy("pinned"));
  EXPECT_FALSE(parse_priority_policy(""));
}

TEST(PullPriority, GroupNames) {
  EXPECT_TRUE(is_valid_priority_group_name("A-z_0/9="));
  EXPECT_TRUE(is_valid_priority_group_name("abcdefghijklmnop"));  // 16
  EXPECT_FALSE(is_valid_priority_group_name("abcdefghijklmnopq"));  // 17
  EXPECT_FALSE(is_valid_priority_group_name(""));
  EXPECT_FALSE(is_valid_priority_group_name("a.b"));
  EXPECT_FALSE(is_valid_priority_group_name("a b"));
  EXPECT_FALSE(is_valid_priority_group_name("a*"));
}

TEST(PullPriority, RequestChecksInNatsOrder) {
  const std::vector<std::string> groups{"g"};
  bool renew = false;
  auto check = [&](priority_policy p, pull_group g, std::string_view pin = {}) {
    return check_pull_group(p, groups, g, pin, renew);
  };
  pull_group legacy;  // bare batch number: no checks at all
  legacy.min_pending = 5;
  EXPECT_FALSE(check(priority_policy::pinned_client, legacy));

  auto g = grp("g");
  g.min_pending = 1;
  EXPECT_EQ(check(priority_policy::none, g)->description, "Bad Request - Not a Overflow Priority consumer");
  EXPECT_FALSE(check(priority_policy::overflow, g));
  EXPECT_EQ(check(priority_policy::overflow, grp("g", "x"))->description,
            "Bad Request - Not a Pinned Client Priority consumer");
  EXPECT_EQ(check(priority_policy::prioritized, grp("g", {}, 10))->description,
            "Bad Request - Priority must be between 0 and 9");
  EXPECT_EQ(check(priority_policy::prioritized, grp("g", {}, -1))->code, 400);
  // A consumer without a policy ignores the group.
  EXPECT_FALSE(check(priority_policy::none, grp("other")));
  EXPECT_EQ(check(priority_policy::overflow, grp(""))->description, "Bad Request - Priority Group missing");
  EXPECT_EQ(check(priority_policy::overflow, grp("zz"))->description, "Bad Request - Invalid Priority Group");

  EXPECT_EQ(check(priority_policy::pinned_client, grp("g", "old"), "cur"), (pull_status{423, "Nats-Pin-Id mismatch"}));
  EXPECT_FALSE(check(priority_policy::pinned_client, grp("g", "cur"), "cur"));
  EXPECT_TRUE(renew);
  EXPECT_FALSE(check(priority_policy::pinned_client, grp("g"), "cur"));
  EXPECT_FALSE(renew);
  // No pin yet: a stale id is accepted here and answered 423 when a message is there.
  EXPECT_FALSE(check(priority_policy::pinned_client, grp("g", "old")));
}

TEST(PullPriority, OverflowThresholds) {
  auto g = grp("g");
  EXPECT_TRUE(overflow_allows(g, 0, 0));  // no thresholds
  g.min_pending = 3;
  EXPECT_FALSE(overflow_allows(g, 2, 100));
  EXPECT_TRUE(overflow_allows(g, 3, 0));
  g.min_ack_pending = 2;
  EXPECT_TRUE(overflow_allows(g, 0, 2));  // either threshold
  EXPECT_FALSE(overflow_allows(g, 2, 1));
  pull_group legacy;
  legacy.min_pending = 100;
  EXPECT_TRUE(overflow_allows(legacy, 0, 0));
}

TEST(PullPriority, PinActions) {
  EXPECT_EQ(pin_action(grp("g"), true, ""), front_action::claim_pin);
  EXPECT_EQ(pin_action(grp("g", "stale"), true, ""), front_action::wrong_pin);
  EXPECT_EQ(pin_action(pull_group{}, true, ""), front_action::serve);  // legacy request: no pin
  EXPECT_EQ(pin_action(grp("g", "P"), false, "P"), front_action::serve);
  EXPECT_EQ(pin_action(grp("g"), false, "P"), front_action::cycle);
  EXPECT_EQ(pin_action(pull_group{}, false, "P"), front_action::cycle);
  EXPECT_EQ(pin_action(grp("g", "Q"), false, "P"), front_action::wrong_pin);
}

TEST(PullPriority, PrioritizedInsertKeepsFifoWithinLevel) {
  std::deque<req> q;
  insert_prioritized(q, req{"a5", grp("g", {}, 5)});
  insert_prioritized(q, req{"b1", grp("g", {}, 1)});
  insert_prioritized(q, req{"legacy", pull_group{}});
  insert_prioritized(q, req{"c5", grp("g", {}, 5)});
  insert_prioritized(q, req{"d0", grp("g", {}, 0)});
  EXPECT_EQ(names(q), (std::vector<std::string>{"d0", "b1", "a5", "c5", "legacy"}));
}

TEST(PullPriority, RequeueRoundRobinsWithinPriority) {
  std::deque<req> q{{"a1", grp("g", {}, 1), 2}, {"b1", grp("g", {}, 1), 2}, {"c3", grp("g", {}, 3), 2}};
  q.front().batch--;
  requeue_front(q, priority_policy::prioritized);
  EXPECT_EQ(names(q), (std::vector<std::string>{"b1", "a1", "c3"}));
  q.front().batch--;
  requeue_front(q, priority_policy::prioritized);
  EXPECT_EQ(names(q), (std::vector<std::string>{"a1", "b1", "c3"}));
  q.front().batch--;  // a1 done
  requeue_front(q, priority_policy::prioritized);
  EXPECT_EQ(names(q), (std::vector<std::string>{"b1", "c3"}));

  // Other policies: to the back of the whole queue (nats waitQueue.pop).
  std::deque<req> o{{"x", grp("g", {}, 1), 2}, {"y", grp("g", {}, 9), 2}};
  o.front().batch--;
  requeue_front(o, priority_policy::overflow);
  EXPECT_EQ(names(o), (std::vector<std::string>{"y", "x"}));
}

TEST(PullPriority, PinIdsLookLikeNuids) {
  auto a = new_pin_id(), b = new_pin_id();
  EXPECT_EQ(a.size(), 22u);
  EXPECT_NE(a, b);
  for (char c : a) EXPECT_TRUE(std::isalnum(static_cast<unsigned char>(c)));
}

}  // namespace
}  // namespace jb::jetstream
