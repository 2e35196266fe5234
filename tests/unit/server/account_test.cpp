// Stream-import subject mapping (server/account.hpp): which exporter-side filter a local
// subscription needs, and what subject the importer sees. The system account's selection.
#include "server/account.hpp"

#include <gtest/gtest.h>

#include <stdexcept>

#include "server/server.hpp"

namespace jb::server {
namespace {

TEST(account, intersect_filters) {
  EXPECT_EQ(intersect_filters("p.*.one", "p.x.>"), "p.x.one");
  EXPECT_EQ(intersect_filters("p.>", "p.x.>"), "p.x.>");
  EXPECT_EQ(intersect_filters("p.*", "p.>"), "p.*");
  EXPECT_EQ(intersect_filters("*.b", "a.*"), "a.b");
  EXPECT_EQ(intersect_filters(">", "a.b"), "a.b");
  EXPECT_EQ(intersect_filters("a.b", "a.b"), "a.b");
  EXPECT_EQ(intersect_filters("a.b", "a.c"), std::nullopt);
  EXPECT_EQ(intersect_filters("a.*", "a.b.c"), std::nullopt);
  EXPECT_EQ(intersect_filters("a", "a.>"), std::nullopt);
}

TEST(account, stream_import_with_prefix) {
  account a("A"), b("B");
  ASSERT_TRUE(b.add_stream_import(a, "x.>", "p", true));
  const auto& im = *b.stream_imports().at(0);
  EXPECT_EQ(im.local, "p.x.>");
  EXPECT_EQ(im.local_subject("x.one"), "p.x.one");
  EXPECT_EQ(im.remote_filter("p.x.one"), "x.one");
  EXPECT_EQ(im.remote_filter("p.x.>"), "x.>");
  EXPECT_EQ(im.remote_filter(">"), "x.>");
  EXPECT_EQ(im.remote_filter("p.*.one"), "x.one");
  EXPECT_EQ(im.remote_filter("p.*"), std::nullopt);
  EXPECT_EQ(im.remote_filter("x.>"), std::nullopt);
}

TEST(account, stream_import_with_to) {
  account a("A"), b("B");
  ASSERT_TRUE(b.add_stream_import(a, "only.c.>", "mine.>", false));
  const auto& im = *b.stream_imports().at(0);
  EXPECT_EQ(im.local_subject("only.c.z"), "mine.z");
  EXPECT_EQ(im.remote_filter("mine.z"), "only.c.z");
  EXPECT_EQ(im.remote_filter("mine.>"), "only.c.>");
  EXPECT_EQ(im.remote_filter("*.z"), "only.c.z");
  EXPECT_EQ(im.remote_filter("only.c.z"), std::nullopt);
  EXPECT_FALSE(b.add_stream_import(a, "x.*", "y.*.*", false));  // more wildcards than the source
}

TEST(account, plain_stream_import_and_service_import) {
  account a("A"), b("B");
  ASSERT_TRUE(b.add_stream_import(a, "x.>", "", false));
  EXPECT_EQ(b.stream_imports().at(0)->local_subject("x.y"), "x.y");
  EXPECT_FALSE(b.has_service_imports());
  ASSERT_TRUE(b.add_service_import(a, "svc.>", "asvc.>", true));
  EXPECT_TRUE(b.has_service_imports());
  EXPECT_EQ(b.subs().count(), 1u);  // the forwarder's internal subscription
}

}  // namespace
}  // namespace jb::server

// The system account: the configured one, nats-server's default `$SYS`, or none.
namespace {
jb::config::options with_accounts(std::initializer_list<const char*> names) {
  jb::config::options o;
  o.port = -1;
  o.worker_threads = 1;
  for (const char* n : names) {
    jb::config::account a;
    a.name = n;
    o.accounts.push_back(std::move(a));
  }
  return o;
}
}  // namespace

TEST(system_account, configured_account) {
  auto o = with_accounts({"SYS", "APP"});
  o.system_account = "SYS";
  jb::server::server s(o);
  ASSERT_NE(s.system_account(), nullptr);
  EXPECT_EQ(s.system_account(), s.find_account("SYS"));
  EXPECT_EQ(s.account_names(), (std::vector<std::string>{"$G", "APP", "SYS"}));
}

TEST(system_account, default_sys_account) {
  jb::server::server s(with_accounts({"APP"}));
  ASSERT_NE(s.system_account(), nullptr);
  EXPECT_EQ(s.system_account()->name(), "$SYS");
  EXPECT_EQ(s.account_names(), (std::vector<std::string>{"$G", "$SYS", "APP"}));
}

TEST(system_account, none_with_no_system_account) {
  auto o = with_accounts({"APP"});
  o.no_system_account = true;
  jb::server::server s(o);
  EXPECT_EQ(s.system_account(), nullptr);
  EXPECT_EQ(s.account_names(), (std::vector<std::string>{"$G", "APP"}));
}

TEST(system_account, unknown_account_is_an_error) {
  auto o = with_accounts({"APP"});
  o.system_account = "NOPE";
  try {
    jb::server::server s(o);
    FAIL() << "expected an error";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "error resolving system account: account missing");
  }
  o.system_account = "$G";  // the global account cannot be the system account either
  EXPECT_THROW(jb::server::server s(o), std::runtime_error);
}
