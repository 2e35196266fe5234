// The permission matcher (server/permissions.hpp) against nats-server's rules, including the
// cases where the subject under test holds wildcards and is matched token by token.
#include "server/permissions.hpp"

#include <gtest/gtest.h>

#include "server/auth.hpp"

namespace jb::server {
namespace {

config::subject_permission rules(std::vector<std::string> allow, std::vector<std::string> deny = {}) {
  config::subject_permission p;
  p.allow = std::move(allow);
  p.deny = std::move(deny);
  return p;
}

std::shared_ptr<const permissions> make(std::optional<config::subject_permission> pub,
                                        std::optional<config::subject_permission> sub,
                                        std::optional<config::response_permission> resp = std::nullopt) {
  config::permissions p;
  p.publish = std::move(pub);
  p.subscribe = std::move(sub);
  p.allow_responses = resp;
  return permissions::make(p);
}

TEST(permissions, no_config_is_no_object) { EXPECT_EQ(permissions::make(std::nullopt), nullptr); }

TEST(permissions, publish_allow_then_deny) {
  auto p = make(rules({"a.>", "b", "c.*.d"}, {"a.secret", "a.x.>"}), std::nullopt);
  ASSERT_TRUE(p->restricts_publish());
  EXPECT_TRUE(p->publish_allowed("a.b"));
  EXPECT_TRUE(p->publish_allowed("a.b.c"));
  EXPECT_TRUE(p->publish_allowed("b"));
  EXPECT_TRUE(p->publish_allowed("c.x.d"));
  EXPECT_FALSE(p->publish_allowed("a"));
  EXPECT_FALSE(p->publish_allowed("b.c"));
  EXPECT_FALSE(p->publish_allowed("c.x.y.d"));
  EXPECT_FALSE(p->publish_allowed("a.secret"));
  EXPECT_FALSE(p->publish_allowed("a.x.y"));
  EXPECT_TRUE(p->publish_allowed("a.x"));
}

TEST(permissions, publish_deny_only_and_empty_lists) {
  auto p = make(rules({}, {">"}), std::nullopt);
  EXPECT_FALSE(p->publish_allowed("anything"));
  auto q = make(rules({}, {}), std::nullopt);
  EXPECT_FALSE(q->restricts_publish());
  EXPECT_TRUE(q->publish_allowed("anything"));
}

TEST(permissions, empty_tokens_match_no_rule) {
  auto p = make(rules({">"}, {"x.*.y"}), std::nullopt);
  EXPECT_FALSE(p->publish_allowed("a..b"));
  EXPECT_FALSE(p->publish_allowed(".a"));
  EXPECT_FALSE(p->publish_allowed("a."));
  // ...and so escapes a deny rule when only a deny list exists.
  auto d = make(rules({}, {"x.*.y"}), std::nullopt);
  EXPECT_TRUE(d->publish_allowed("x..y"));
  EXPECT_FALSE(d->publish_allowed("x.a.y"));
}

TEST(permissions, allow_responses_implies_an_empty_publish_allow_list) {
  auto p = make(std::nullopt, rules({"svc.>"}), config::response_permission{});
  ASSERT_TRUE(p->restricts_publish());
  EXPECT_FALSE(p->publish_allowed("anything"));
  ASSERT_TRUE(p->responses());
  EXPECT_EQ(p->responses()->max_msgs, 1);
  // An explicit allow list stays as it is.
  auto q = make(rules({"log"}), std::nullopt, config::response_permission{});
  EXPECT_TRUE(q->publish_allowed("log"));
  EXPECT_FALSE(q->publish_allowed("other"));
}

TEST(permissions, subscribe_wildcard_subjects_are_tested_literally) {
  auto p = make(std::nullopt, rules({"foo.*", "bar.>"}));
  EXPECT_TRUE(p->can_subscribe("foo.a", "").allowed);
  EXPECT_TRUE(p->can_subscribe("foo.*", "").allowed);
  EXPECT_TRUE(p->can_subscribe("foo.>", "").allowed);  // "*" matches the literal token ">"
  EXPECT_FALSE(p->can_subscribe("foo.a.b", "").allowed);
  EXPECT_TRUE(p->can_subscribe("bar.*", "").allowed);
  EXPECT_FALSE(p->can_subscribe(">", "").allowed);
  EXPECT_FALSE(p->can_subscribe("*.a", "").allowed);
}

TEST(permissions, subscribe_queue_entries) {
  auto p = make(std::nullopt, rules({"foo", "q.* myq", "w.* v.*"}, {"d.> dq", "x.>", "x.ok okq"}));
  EXPECT_TRUE(p->can_subscribe("foo", "").allowed);
  EXPECT_TRUE(p->can_subscribe("foo", "any").allowed);  // a plain entry admits any queue
  EXPECT_FALSE(p->can_subscribe("q.x", "").allowed);     // queue entries admit only queues
  EXPECT_TRUE(p->can_subscribe("q.x", "myq").allowed);
  EXPECT_FALSE(p->can_subscribe("q.x", "other").allowed);
  EXPECT_TRUE(p->can_subscribe("w.a", "v.1").allowed);  // wildcard queue names
  EXPECT_FALSE(p->can_subscribe("w.a", "v.1.2").allowed);
  EXPECT_FALSE(p->can_subscribe("w.a", "v").allowed);
  EXPECT_TRUE(p->can_subscribe("w.a", "v.*").allowed);  // the exact name first
}

TEST(permissions, subscribe_deny_queue_entries_override) {
  auto p = make(std::nullopt, rules({}, {"d.> dq", "x.>", "x.ok okq"}));
  EXPECT_TRUE(p->can_subscribe("d.a", "").allowed);
  EXPECT_FALSE(p->can_subscribe("d.a", "dq").allowed);
  EXPECT_TRUE(p->can_subscribe("d.a", "other").allowed);
  EXPECT_FALSE(p->can_subscribe("x.a", "").allowed);
  EXPECT_FALSE(p->can_subscribe("x.a", "q").allowed);
  // A matching queue entry decides for queue subscriptions, even against a plain deny.
  EXPECT_TRUE(p->can_subscribe("x.ok", "other").allowed);
  EXPECT_FALSE(p->can_subscribe("x.ok", "okq").allowed);
}

TEST(permissions, delivery_filter_for_wider_wildcards) {
  auto p = make(std::nullopt, rules({}, {"a.secret", "b.*.c"}));
  auto wide = p->can_subscribe("a.*", "");
  EXPECT_TRUE(wide.allowed);
  EXPECT_TRUE(wide.needs_delivery_filter);
  EXPECT_TRUE(p->can_subscribe(">", "").needs_delivery_filter);
  EXPECT_TRUE(p->can_subscribe("b.>", "").needs_delivery_filter);
  EXPECT_FALSE(p->can_subscribe("a.public", "").needs_delivery_filter);
  EXPECT_FALSE(p->can_subscribe("c.*", "").needs_delivery_filter);
  EXPECT_FALSE(p->can_subscribe("a.secret", "").allowed);
  EXPECT_TRUE(p->delivery_denied("a.secret"));
  EXPECT_TRUE(p->delivery_denied("b.x.c"));
  EXPECT_FALSE(p->delivery_denied("a.public"));
}

TEST(auth, bcrypt_hashes) {
  const std::string h2a = "$2a$04$abcdefghijklmnopqrstuuLZYjhNQAOdpbzt4WxWlUHjv1wsyH5DG";
  EXPECT_TRUE(is_bcrypt(h2a));
  EXPECT_TRUE(password_matches(h2a, "s3cret"));
  EXPECT_FALSE(password_matches(h2a, "s3cre"));
  EXPECT_FALSE(password_matches(h2a, ""));
  std::string h2b = h2a;
  h2b[2] = 'b';
  EXPECT_TRUE(password_matches(h2b, "s3cret"));
  EXPECT_FALSE(is_bcrypt("$2c$04$abc"));
  EXPECT_FALSE(is_bcrypt("$2a$4$abc"));
  // Not a hash: compared as plain text.
  EXPECT_TRUE(password_matches("$notbcrypt", "$notbcrypt"));
  EXPECT_FALSE(password_matches("plain", "plain "));
}

}  // namespace
}  // namespace jb::server
