// json_util: Go's unmarshal errors quote a number as it is written in the request.
#include "server/jetstream/json_util.hpp"

#include <gtest/gtest.h>

namespace jb::jetstream::json_util {
namespace {

TEST(json_util, number_literal_finds_the_value_of_a_key_as_written) {
  EXPECT_EQ(number_literal(R"({"batch": 1e+300})", "batch"), "1e+300");
  EXPECT_EQ(number_literal(R"({"a":1,"batch":-0.50E3,"c":2})", "batch"), "-0.50E3");
  EXPECT_EQ(number_literal(R"({"stream_name":"S","config":{"ack_wait":1E40}})", "ack_wait"), "1E40");
  // A string that looks like the key, or the key with a non-number value, is not it.
  EXPECT_EQ(number_literal(R"({"x":"batch","batch":"5","y":{"batch":7}})", "batch"), "7");
  EXPECT_EQ(number_literal(R"({"batch":[1]})", "batch"), std::nullopt);
  EXPECT_EQ(number_literal(R"({"other":1})", "batch"), std::nullopt);
  EXPECT_EQ(number_literal(R"({"batch":1e300)", "batch"), std::nullopt);  // does not parse
}

TEST(json_util, number_literal_finds_an_array_element) {
  const std::string raw = R"({"config":{"backoff":[1, {"x":2}, [3], 2.50, 1.5e+30]}})";
  EXPECT_EQ(number_literal(raw, "backoff", 0), "1");
  EXPECT_EQ(number_literal(raw, "backoff", 1), std::nullopt);  // an object
  EXPECT_EQ(number_literal(raw, "backoff", 3), "2.50");
  EXPECT_EQ(number_literal(raw, "backoff", 4), "1.5e+30");
  EXPECT_EQ(number_literal(raw, "backoff", 5), std::nullopt);
}

TEST(json_util, type_errors_quote_numbers_only_for_numeric_fields) {
  const std::string raw = R"({"max_deliver": 1.5, "flow_control": 2.0})";
  const auto v = boost::json::parse(raw).as_object();
  std::string err;
  {
    const source_scope scope(raw);
    std::int64_t i = 0;
    EXPECT_FALSE(get_int(v, "max_deliver", i, err, "ConsumerConfig.config", "int"));
    EXPECT_EQ(err, "json: cannot unmarshal number 1.5 into Go struct field ConsumerConfig.config.max_deliver of type int");
    bool b = false;
    EXPECT_FALSE(get_bool(v, "flow_control", b, err, "ConsumerConfig.config"));
    EXPECT_EQ(err, "json: cannot unmarshal number into Go struct field ConsumerConfig.config.flow_control of type bool");
  }
  std::int64_t i = 0;  // without a request text in scope: no literal
  EXPECT_FALSE(get_int(v, "max_deliver", i, err, "ConsumerConfig.config", "int"));
  EXPECT_EQ(err, "json: cannot unmarshal number into Go struct field ConsumerConfig.config.max_deliver of type int");
}

}  // namespace
}  // namespace jb::jetstream::json_util
