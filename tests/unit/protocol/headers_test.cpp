#include "protocol/headers.hpp"

#include <gtest/gtest.h>

#include "protocol/writer.hpp"

namespace jb::protocol {
namespace {

TEST(Headers, FindAndStatus) {
  std::string b = "NATS/1.0 503 No Responders\r\nNats-Subject: foo\r\nX:  spaced  \r\n\r\n";
  EXPECT_TRUE(is_valid_header_block(b));
  auto st = parse_header_status(b);
  EXPECT_EQ(st.code, 503);
  EXPECT_EQ(st.description, "No Responders");
  EXPECT_EQ(find_header(b, "Nats-Subject").value_or(""), "foo");
  EXPECT_EQ(find_header(b, "X").value_or(""), "spaced");
  EXPECT_FALSE(find_header(b, "nats-subject").has_value());  // case-sensitive, like nats-server
  EXPECT_FALSE(find_header(b, "Missing").has_value());
}

TEST(Headers, NoStatus) {
  std::string b = "NATS/1.0\r\nA: 1\r\n\r\n";
  EXPECT_EQ(parse_header_status(b).code, 0);
  EXPECT_EQ(find_header(b, "A").value_or(""), "1");
  EXPECT_FALSE(is_valid_header_block("NATS/1.0\r\nA: 1\r\n"));
  EXPECT_FALSE(is_valid_header_block("HTTP/1.0\r\n\r\n"));
}

TEST(Headers, BuilderAndRemove) {
  auto b = header_builder().status(100, "Idle Heartbeat").add("Nats-Last-Consumer", "3").finish();
  EXPECT_EQ(b, "NATS/1.0 100 Idle Heartbeat\r\nNats-Last-Consumer: 3\r\n\r\n");
  auto plain = header_builder().add("A", "1").add("B", "2").finish();
  EXPECT_EQ(plain, "NATS/1.0\r\nA: 1\r\nB: 2\r\n\r\n");
  EXPECT_EQ(remove_header(plain, "A"), "NATS/1.0\r\nB: 2\r\n\r\n");
  EXPECT_EQ(remove_header("NATS/1.0\r\nA: 1\r\n\r\n", "A"), "");
  EXPECT_EQ(header_builder().status(503).finish(), "NATS/1.0 503\r\n\r\n");
}

TEST(Headers, SetReplacesInPlaceOrAppends) {
  // Replaced where it stands, the space after the colon kept (or not), other headers untouched.
  EXPECT_EQ(set_header("NATS/1.0\r\nA: 1\r\nNats-Incr: +5\r\nB: 2\r\n\r\n", "Nats-Incr", "-3"),
            "NATS/1.0\r\nA: 1\r\nNats-Incr: -3\r\nB: 2\r\n\r\n");
  EXPECT_EQ(set_header("NATS/1.0\r\nNats-Incr:7\r\n\r\n", "Nats-Incr", "8"), "NATS/1.0\r\nNats-Incr:8\r\n\r\n");
  // Only the first of repeated headers; a name that merely starts the same is another header.
  EXPECT_EQ(set_header("NATS/1.0\r\nX-Long: a\r\nX: 1\r\nX: 2\r\n\r\n", "X", "9"),
            "NATS/1.0\r\nX-Long: a\r\nX: 9\r\nX: 2\r\n\r\n");
  // Appended before the closing line; a status line stays.
  EXPECT_EQ(set_header("NATS/1.0 100 Idle\r\nA: 1\r\n\r\n", "B", "2"), "NATS/1.0 100 Idle\r\nA: 1\r\nB: 2\r\n\r\n");
  EXPECT_EQ(set_header("NATS/1.0\r\n\r\n", "B", "2"), "NATS/1.0\r\nB: 2\r\n\r\n");
  EXPECT_EQ(set_header("", "B", "2"), "NATS/1.0\r\nB: 2\r\n\r\n");
}

TEST(Writer, Deliveries) {
  std::string out;
  append_delivery(out, "foo", "1", "", "", "hi", true);
  EXPECT_EQ(out, "MSG foo 1 2\r\nhi\r\n");
  out.clear();
  append_delivery(out, "foo", "1", "r", "NATS/1.0\r\n\r\n", "hi", true);
  EXPECT_EQ(out, "HMSG foo 1 r 12 14\r\nNATS/1.0\r\n\r\nhi\r\n");
  out.clear();
  append_delivery(out, "foo", "1", "r", "NATS/1.0\r\n\r\n", "hi", false);  // client without headers
  EXPECT_EQ(out, "MSG foo 1 r 2\r\nhi\r\n");
  EXPECT_EQ(err_line("Stale Connection"), "-ERR 'Stale Connection'\r\n");
}

}  // namespace
}  // namespace jb::protocol
