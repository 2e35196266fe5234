#include "protocol/parser.hpp"

#include <gtest/gtest.h>

#include <random>

#include "tests/unit/protocol/recorder.hpp"

namespace jb::protocol {
namespace {

using test::feed;
using test::recorder;

const std::string pipelined =
    "CONNECT {\"verbose\":false,\"headers\":true}\r\n"
    "SUB foo  1\r\n"
    "SUB bar workers 2\r\n"
    "PUB foo 5\r\nhello\r\n"
    "PUB foo  reply.1   3\r\nabc\r\n"
    "HPUB foo 12 17\r\nNATS/1.0\r\n\r\nworld\r\n"
    "HPUB foo r 20 20\r\nNATS/1.0\r\nA: b c\r\n\r\n\r\n"
    "PUB empty 0\r\n\r\n"
    "UNSUB 1 \r\n"
    "UNSUB 2 10\r\n"
    "PING\r\n"
    "PONG\r\n"
    "INFO {}\r\n"
    "+OK\r\n"
    "pub\tlower\t1\r\nx\r\n"
    "PUB crlf.in.payload 4\r\n\r\n\r\n\r\n";

const std::vector<std::string> expected = {
    "CONNECT|{\"verbose\":false,\"headers\":true}",
    "SUB|foo||1",
    "SUB|bar|workers|2",
    "PUB|foo|||hello",
    "PUB|foo|reply.1||abc",
    "HPUB|foo||NATS/1.0\r\n\r\n|world",
    "HPUB|foo|r|NATS/1.0\r\nA: b c\r\n\r\n|",
    "PUB|empty|||",
    "UNSUB|1|0",
    "UNSUB|2|10",
    "PING",
    "PONG",
    "INFO|{}",
    "+OK",
    "PUB|lower|||x",
    "PUB|crlf.in.payload|||\r\n\r\n",
};

TEST(Parser, WholeBuffer) {
  recorder r;
  auto res = parse(pipelined, r);
  EXPECT_EQ(res.status, parse_status::ok);
  EXPECT_EQ(res.consumed, pipelined.size());
  EXPECT_EQ(r.ops, expected);
}

// Beast-style grinder: every single split point, then every pair of split points.
TEST(Parser, SplitEverywhere) {
  for (std::size_t i = 1; i < pipelined.size(); ++i) {
    recorder r;
    auto res = feed(pipelined, {i}, r);
    ASSERT_EQ(res.status, parse_status::ok) << "split at " << i;
    ASSERT_EQ(r.ops, expected) << "split at " << i;
  }
}

TEST(Parser, SplitAtEveryPair) {
  for (std::size_t i = 1; i < pipelined.size(); i += 3) {
    for (std::size_t j = i + 1; j < pipelined.size(); j += 2) {
      recorder r;
      auto res = feed(pipelined, {i, j}, r);
      ASSERT_EQ(res.status, parse_status::ok) << i << "," << j;
      ASSERT_EQ(r.ops, expected) << i << "," << j;
    }
  }
}

TEST(Parser, ByteAtATime) {
  std::vector<std::size_t> cuts;
  for (std::size_t i = 1; i < pipelined.size(); ++i) cuts.push_back(i);
  recorder r;
  auto res = feed(pipelined, cuts, r);
  EXPECT_EQ(res.status, parse_status::ok);
  EXPECT_EQ(r.ops, expected);
}

TEST(Parser, NeedMoreReportsConsumedAndNeed) {
  recorder r;
  std::string s = "PING\r\nPUB foo 10\r\n01234";
  auto res = parse(s, r);
  EXPECT_EQ(res.status, parse_status::need_more);
  EXPECT_EQ(res.consumed, 6u);  // PING consumed, PUB left
  EXPECT_EQ(res.need, std::string("PUB foo 10\r\n").size() + 12);
  EXPECT_EQ(r.ops, std::vector<std::string>{"PING"});

  recorder r2;
  auto res2 = parse("PUB foo", r2);
  EXPECT_EQ(res2.status, parse_status::need_more);
  EXPECT_EQ(res2.consumed, 0u);
  EXPECT_TRUE(r2.ops.empty());
}

TEST(Parser, LineFeedOnlyTerminatorsAccepted) {
  recorder r;
  auto res = parse("PING\nSUB a 1\n", r);
  EXPECT_EQ(res.status, parse_status::ok);
  EXPECT_EQ(r.ops, (std::vector<std::string>{"PING", "SUB|a||1"}));
}

TEST(Parser, HandlerCanStop) {
  recorder r;
  r.stop_after = 2;
  auto res = parse("PING\r\nPING\r\nPING\r\n", r);
  EXPECT_EQ(res.status, parse_status::stopped);
  EXPECT_EQ(res.consumed, 12u);
  EXPECT_EQ(r.ops.size(), 2u);
}

struct error_case {
  const char* input;
  errc error;
};

class ParserErrors : public ::testing::TestWithParam<error_case> {};

TEST_P(ParserErrors, Reported) {
  recorder r;
  parser_limits lim;
  lim.max_payload = 16;
  lim.max_control_line = 64;
  auto res = parse(GetParam().input, r, lim);
  EXPECT_EQ(res.status, parse_status::error) << GetParam().input;
  EXPECT_EQ(res.error, GetParam().error) << GetParam().input;
  EXPECT_EQ(res.consumed, 0u);
}

INSTANTIATE_TEST_SUITE_P(
    All, ParserErrors,
    ::testing::Values(
        error_case{"FOO\r\n", errc::unknown_operation},
        error_case{"X", errc::unknown_operation},  // bad first byte, even without a newline
        error_case{"\r\n", errc::unknown_operation},
        error_case{"PUBX foo 1\r\na\r\n", errc::unknown_operation},
        error_case{"PUB foo 3\r\nabcd\r\n", errc::unknown_operation},  // payload longer than declared
        error_case{"PUB foo\r\n", errc::bad_pub_args},
        error_case{"PUB a b c 1\r\n", errc::bad_pub_args},
        error_case{"PUB foo x\r\n", errc::bad_size},
        error_case{"PUB foo -1\r\n", errc::bad_size},
        error_case{"PUB foo 17\r\n", errc::max_payload},
        error_case{"HPUB foo 5\r\n", errc::bad_hpub_args},
        error_case{"HPUB foo 10 5\r\n", errc::header_size_too_large},
        error_case{"HPUB foo 12 17\r\n", errc::max_payload},
        error_case{"SUB foo\r\n", errc::bad_sub_args},
        error_case{"SUB a b c d\r\n", errc::bad_sub_args},
        error_case{"UNSUB\r\n", errc::unknown_operation},
        error_case{"UNSUB 1 2 3\r\n", errc::bad_unsub_args},
        error_case{"-ERRfoo\r\n", errc::unknown_operation},
        error_case{"PUB aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa 1\r\n",
                   errc::max_control_line},
        error_case{"PUB aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                   errc::max_control_line}));

TEST(Parser, ErrorAfterValidOpsReportsItsOffset) {
  recorder r;
  auto res = parse("PING\r\nBAD\r\n", r);
  EXPECT_EQ(res.status, parse_status::error);
  EXPECT_EQ(res.consumed, 6u);
  EXPECT_EQ(r.ops, std::vector<std::string>{"PING"});
}

TEST(Parser, MaxPayloadAtLimitAccepted) {
  recorder r;
  parser_limits lim;
  lim.max_payload = 4;
  auto res = parse("PUB a 4\r\nabcd\r\n", r, lim);
  EXPECT_EQ(res.status, parse_status::ok);
  EXPECT_EQ(r.ops, std::vector<std::string>{"PUB|a|||abcd"});
}

TEST(Parser, ConnectWithoutArgumentIsAnEmptyBody) {
  // nats-server hands "" to its JSON decoder (an error that closes the connection silently); the
  // parser passes it on rather than answering 'Unknown Protocol Operation'.
  recorder r;
  auto res = parse("CONNECT\r\nCONNECT \t\r\n", r);
  EXPECT_EQ(res.status, parse_status::ok);
  EXPECT_EQ(r.ops, (std::vector<std::string>{"CONNECT|", "CONNECT|"}));
}

TEST(Parser, PingAndPongIgnoreAnyTrailerPastTheControlLineLimit) {
  // nats-server skips everything after PING/PONG up to the newline, with no length limit.
  recorder r;
  parser_limits lim;
  lim.max_control_line = 64;
  const std::string junk(5000, 'x');
  const std::string in = "PING " + junk + "\r\npong" + junk + "\r\n";
  auto res = parse(in, r, lim);
  EXPECT_EQ(res.status, parse_status::ok);
  EXPECT_EQ(res.consumed, in.size());
  EXPECT_EQ(r.ops, (std::vector<std::string>{"PING", "PONG"}));
  // Without its newline yet such a line is buffered, up to max_ping_line; other verbs are not.
  recorder r2;
  EXPECT_EQ(parse("PING " + junk, r2, lim).status, parse_status::need_more);
  EXPECT_EQ(parse("PUB " + junk, r2, lim).error, errc::max_control_line);
  const std::string huge(detail::max_ping_line + 1, 'x');
  EXPECT_EQ(parse("PING " + huge, r2, lim).error, errc::max_control_line);
  EXPECT_EQ(parse("PING " + huge + "\r\n", r2, lim).error, errc::max_control_line);
}

TEST(Parser, UnsubMaxNegativeMeansNow) {
  recorder r;
  auto res = parse("UNSUB 7 -3\r\n", r);
  EXPECT_EQ(res.status, parse_status::ok);
  EXPECT_EQ(r.ops, std::vector<std::string>{"UNSUB|7|0"});
}

TEST(Parser, UnsubMaxThatIsNotASizeMeansNow) {
  // nats-server's parseSize: not 1-9 digits is -1, so the subscription goes at once.
  recorder r;
  auto res = parse("UNSUB 7 abc\r\nUNSUB 8 1234567890\r\nUNSUB 9 +5\r\nUNSUB 10 123456789\r\n", r);
  EXPECT_EQ(res.status, parse_status::ok);
  EXPECT_EQ(r.ops, (std::vector<std::string>{"UNSUB|7|0", "UNSUB|8|0", "UNSUB|9|0", "UNSUB|10|123456789"}));
}

// Random garbage must never crash or over-read; every result is a valid state.
TEST(Parser, RandomInputNeverMisbehaves) {
  std::mt19937 gen(12345);
  const std::string alphabet = "PUBSHINGOCTK+-ER \t\r\n0123456789.*>{}";
  for (int iter = 0; iter < 20000; ++iter) {
    std::string s(gen() % 64, ' ');
    for (auto& c : s) c = alphabet[gen() % alphabet.size()];
    recorder r;
    auto res = parse(s, r);
    ASSERT_LE(res.consumed, s.size());
  }
}

}  // namespace
}  // namespace jb::protocol
