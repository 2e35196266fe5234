// Stream-import subject mapping (server/account.hpp): which exporter-side filter a local
// subscription needs, and what subject the importer sees.
#include "server/account.hpp"

#include <gtest/gtest.h>

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
