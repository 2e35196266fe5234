// Subject transforms with nats-server's mapping functions. Expected subjects were produced by
// nats-server 2.14.9 (stream sources with these transforms, tests/integration/test_js_transforms.py
// checks the same against the live server).
#include "server/jetstream/subject_transform.hpp"

#include <gtest/gtest.h>

namespace jb::jetstream {
namespace {

std::string map(std::string_view src, std::string_view dest, std::string_view subject) {
  auto t = subject_transform::make(src, dest);
  if (!t) return "<invalid>";
  return t->apply(subject).value_or("<no match>");
}

TEST(SubjectTransform, WildcardsRestAndLegacyDollar) {
  EXPECT_EQ(map("o.*.*", "p.{{wildcard(2)}}.{{wildcard(1)}}", "o.a.b"), "p.b.a");
  EXPECT_EQ(map("o.*.*", "p.$2.$1", "o.a.b"), "p.b.a");
  EXPECT_EQ(map("o.*.*", "p.{{Wildcard(2)}}.x", "o.a.b"), "p.b.x");
  EXPECT_EQ(map("o.>", "p.>", "o.a.b.c"), "p.a.b.c");
  EXPECT_EQ(map("o.*.>", "p.{{wildcard(1)}}.>", "o.a.b.c"), "p.a.b.c");
  EXPECT_EQ(map("o.*", "p.$KV.{{wildcard(1)}}", "o.a"), "p.$KV.a");  // "$KV" is a literal
  EXPECT_EQ(map("o.*.*", "p.x", "q.a.b"), "<no match>");
}

TEST(SubjectTransform, PartitionIsFnv1aOfTheWildcardsModuloBuckets) {
  EXPECT_EQ(map("o.*.*", "q.{{partition(3,1)}}.{{wildcard(1)}}.{{wildcard(2)}}", "o.a.b"), "q.1.a.b");
  EXPECT_EQ(map("o.*.*", "q.{{partition(3,1)}}.{{wildcard(1)}}.{{wildcard(2)}}", "o.c.d"), "q.2.c.d");
  EXPECT_EQ(map("o.*.*", "q.{{partition(3,1)}}.{{wildcard(1)}}.{{wildcard(2)}}", "o.e-f.g"), "q.0.e-f.g");
  // several wildcards hash as one key, and the result is stable
  const auto a = map("o.*.*", "q.{{partition(10,1,2)}}", "o.a.b");
  EXPECT_EQ(a, map("o.*.*", "q.{{partition(10,1,2)}}", "o.a.b"));
  EXPECT_NE(map("o.*.*", "q.{{partition(1000,1,2)}}", "o.a.b"), map("o.*.*", "q.{{partition(1000,1,2)}}", "o.b.a"));
}

TEST(SubjectTransform, SplitAndSlice) {
  EXPECT_EQ(map("o.*.*", "r.{{split(1,-)}}.{{wildcard(2)}}", "o.e-f.g"), "r.e.f.g");
  EXPECT_EQ(map("o.*", "r.{{split(1,-)}}", "o.-a--b-"), "r.a.b");
  EXPECT_EQ(map("o.*.*", "s.{{splitfromleft(1,1)}}.{{wildcard(2)}}", "o.e-f.g"), "s.e.-f.g");
  EXPECT_EQ(map("o.*", "s.{{SplitFromRight(1,2)}}", "o.abcde"), "s.abc.de");
  EXPECT_EQ(map("o.*", "s.{{splitFromLeft(1,9)}}", "o.abc"), "s.abc");  // too short: unchanged
  EXPECT_EQ(map("o.*.*", "t.{{slicefromleft(1,1)}}.{{wildcard(2)}}", "o.e-f.g"), "t.e.-.f.g");
  EXPECT_EQ(map("o.*", "t.{{sliceFromLeft(1,2)}}", "o.abcde"), "t.ab.cd.e");
  EXPECT_EQ(map("o.*", "t.{{sliceFromRight(1,2)}}", "o.abcde"), "t.a.bc.de");
}

TEST(SubjectTransform, RandomStaysInRange) {
  for (int i = 0; i < 50; ++i) {
    auto s = map("o.*", "u.{{random(3)}}", "o.a");
    EXPECT_TRUE(s == "u.0" || s == "u.1" || s == "u.2") << s;
  }
}

TEST(SubjectTransform, TokensParsedAsNatsServerDoes) {
  using k = subject_transform::token_info;
  EXPECT_EQ(subject_transform::parse_token("abc").kind, k::literal);
  EXPECT_EQ(subject_transform::parse_token("$KV").kind, k::literal);
  EXPECT_EQ(subject_transform::parse_token("{{nope(1)}}").error, "unknown function");
  EXPECT_EQ(subject_transform::parse_token("{{partition()}}").error, "function argument is invalid or in the wrong format");
  EXPECT_EQ(subject_transform::parse_token("{{partition(3)}}").error, "");
  EXPECT_EQ(subject_transform::parse_token("{{wildcard()}}").error, "not enough arguments passed to the function");
  EXPECT_EQ(subject_transform::parse_token("{{wildcard(1,2)}}").error, "too many arguments passed to the function");
  EXPECT_EQ(subject_transform::parse_token("{{splitfromleft(1,2,3)}}").error, "too many arguments passed to the function");
  EXPECT_EQ(subject_transform::parse_token("{{split(x,-)}}").error, "function argument is invalid or in the wrong format");
  EXPECT_EQ(subject_transform::parse_token("{{split(1, a b)}}").error, "function argument is invalid or in the wrong format");
  auto p = subject_transform::parse_token("{{partition(5, 2, 1)}}");
  EXPECT_EQ(p.kind, k::partition);
  EXPECT_EQ(p.number, 5);
  EXPECT_EQ(p.wildcards, (std::vector<int>{2, 1}));
  // Functions need source wildcards, within range; partition without them hashes the whole
  // subject (nats-server 2.14.9: "o.zz" -> 4 of 5, "o.a" -> 1 of 2).
  EXPECT_EQ(map("o.zz", "t.{{partition(5)}}", "o.zz"), "t.4");
  EXPECT_EQ(map("o.a", "q.{{partition(2,1)}}", "o.a"), "q.1");
  EXPECT_EQ(map("o.*.*", "r.{{partition(7)}}.{{wildcard(1)}}", "o.a.b"), "r.6.a");
  EXPECT_FALSE(subject_transform::make("o.a", "p.{{wildcard(1)}}"));
  EXPECT_FALSE(subject_transform::make("o.*", "p.{{wildcard(2)}}"));
  EXPECT_FALSE(subject_transform::make("o.*", "p.{{nope(1)}}"));
}

}  // namespace
}  // namespace jb::jetstream
