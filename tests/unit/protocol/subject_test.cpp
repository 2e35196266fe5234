#include "protocol/subject.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace jb::protocol {
namespace {

TEST(Subject, Validity) {
  EXPECT_TRUE(is_valid_subject("foo"));
  EXPECT_TRUE(is_valid_subject("foo.bar.*"));
  EXPECT_TRUE(is_valid_subject("a*.b>"));
  EXPECT_FALSE(is_valid_subject(""));
  EXPECT_FALSE(is_valid_subject("foo."));
  EXPECT_FALSE(is_valid_subject(".foo"));
  EXPECT_FALSE(is_valid_subject("foo..bar"));
  EXPECT_FALSE(is_valid_subject("foo bar"));
  EXPECT_FALSE(is_valid_subject("foo\tbar"));
  EXPECT_TRUE(is_valid_literal_subject("foo.bar"));
  EXPECT_FALSE(is_valid_literal_subject("foo.*"));
  EXPECT_FALSE(is_valid_literal_subject("foo.>"));
  EXPECT_TRUE(is_valid_literal_subject("foo.a*"));
  EXPECT_TRUE(is_valid_filter("foo.>"));
  EXPECT_TRUE(is_valid_filter(">"));
  EXPECT_FALSE(is_valid_filter("foo.>.bar"));
  EXPECT_FALSE(is_valid_filter("foo..>"));
}

TEST(Subject, Matching) {
  EXPECT_TRUE(subject_matches("foo.*", "foo.bar"));
  EXPECT_FALSE(subject_matches("foo.*", "foo.bar.baz"));
  EXPECT_TRUE(subject_matches("foo.>", "foo.bar.baz"));
  EXPECT_FALSE(subject_matches("foo.>", "foo"));
  EXPECT_TRUE(subject_matches(">", "a"));
  EXPECT_TRUE(subject_matches("*.b.*", "a.b.c"));
  EXPECT_FALSE(subject_matches("foo", "foo.bar"));
  EXPECT_FALSE(subject_matches("foo.bar", "foo"));
  EXPECT_TRUE(subject_matches("a*", "a*"));
  EXPECT_FALSE(subject_matches("a*", "ab"));
}

TEST(Subject, OverlapAndSubset) {
  EXPECT_TRUE(subjects_overlap("foo.*", "foo.bar"));
  EXPECT_TRUE(subjects_overlap("foo.*", "*.bar"));
  EXPECT_TRUE(subjects_overlap("foo.>", "foo.bar.baz"));
  EXPECT_FALSE(subjects_overlap("foo.*", "bar.*"));
  EXPECT_FALSE(subjects_overlap("foo.*", "foo.bar.baz"));
  EXPECT_TRUE(subject_is_subset("foo.bar", "foo.*"));
  EXPECT_TRUE(subject_is_subset("foo.*", "foo.>"));
  EXPECT_FALSE(subject_is_subset("foo.>", "foo.*"));
  EXPECT_FALSE(subject_is_subset("foo.*", "foo.bar"));
  EXPECT_TRUE(subject_is_subset("foo.>", ">"));
}

TEST(Subject, Tokens) {
  std::vector<std::string_view> v;
  for (auto t : tokens("a.bb.ccc")) v.push_back(t);
  EXPECT_EQ(v, (std::vector<std::string_view>{"a", "bb", "ccc"}));
  v.clear();
  for (auto t : tokens("")) v.push_back(t);
  EXPECT_TRUE(v.empty());
  EXPECT_EQ(token_count("a.b.c"), 3u);
  EXPECT_EQ(token_count(""), 0u);
}

}  // namespace
}  // namespace jb::protocol
