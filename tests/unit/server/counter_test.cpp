// Counter arithmetic and encodings (ADR-49): increments as nats-server parses them, totals beyond
// 64 bits, the stored payload and the Nats-Counter-Sources header.
#include "server/jetstream/counter.hpp"

#include <gtest/gtest.h>

namespace jb::jetstream::counter {
namespace {

TEST(Counter, IncrementsParsedAsSignedDecimals) {
  EXPECT_EQ(parse_increment("1"), "1");
  EXPECT_EQ(parse_increment("+1"), "1");
  EXPECT_EQ(parse_increment("-10"), "-10");
  EXPECT_EQ(parse_increment("007"), "7");   // leading zeros are decimal, not octal
  EXPECT_EQ(parse_increment("-0"), "0");
  EXPECT_EQ(parse_increment("+000"), "0");
  EXPECT_EQ(parse_increment("123456789012345678901234567890"), "123456789012345678901234567890");
  for (const char* bad : {"", "+", "-", "abc", "+ 1", "1.5", "--1", "+-1", "0x10", "1e3", "1 "})
    EXPECT_EQ(parse_increment(bad), std::nullopt) << bad;
}

TEST(Counter, ArithmeticBeyondSixtyFourBits) {
  EXPECT_EQ(add("0", "1"), "1");
  EXPECT_EQ(add("6", "-10"), "-4");
  EXPECT_EQ(add("-4", "4"), "0");
  EXPECT_EQ(add("18446744073709551615", "1"), "18446744073709551616");
  EXPECT_EQ(add("123456789012345678901234567890", "-4"), "123456789012345678901234567886");
  EXPECT_EQ(subtract("10", "15"), "-5");
  EXPECT_EQ(subtract("-9223372036854775808", "1"), "-9223372036854775809");
}

TEST(Counter, PayloadRoundTrip) {
  EXPECT_EQ(payload("-4"), R"({"val":"-4"})");
  EXPECT_EQ(parse_payload(R"({"val":"-4"})"), "-4");
  EXPECT_EQ(parse_payload(R"({"val":"12","other":1})"), "12");
  // A JSON object without a usable value counts as zero; anything else is a broken counter.
  EXPECT_EQ(parse_payload(R"({})"), "0");
  EXPECT_EQ(parse_payload(R"({"val":"x"})"), "0");
  EXPECT_EQ(parse_payload(""), std::nullopt);
  EXPECT_EQ(parse_payload("hello"), std::nullopt);
  EXPECT_EQ(parse_payload("[1]"), std::nullopt);
}

TEST(Counter, SourcesHeaderSortedCompactJson) {
  source_totals s;
  s["ORIG2"]["c.b"] = "5";
  s["ORIG1"]["c.z"] = "-1";
  s["ORIG1"]["c.a"] = "100";
  const std::string text = sources_json(s);
  EXPECT_EQ(text, R"({"ORIG1":{"c.a":"100","c.z":"-1"},"ORIG2":{"c.b":"5"}})");
  EXPECT_EQ(parse_sources(text), s);
  EXPECT_EQ(sources_json({}), "{}");
  EXPECT_EQ(parse_sources(R"({"A":{"x":1}})"), std::nullopt);
  EXPECT_EQ(parse_sources(R"({"A":"x"})"), std::nullopt);
  EXPECT_EQ(parse_sources("nope"), std::nullopt);
}

}  // namespace
}  // namespace jb::jetstream::counter
