// The WebSocket upgrade checks (nats-server's order, statuses and reasons), the origin policy and
// the close frame the server sends. Frame parsing and permessage-deflate are Beast's.
#include "server/websocket_listener.hpp"

#include <gtest/gtest.h>

#include <string>

#include "server/transport.hpp"

namespace {

namespace http = boost::beast::http;
using jb::server::check_ws_upgrade;
using jb::server::ws_origin_policy;

http::request<http::string_body> good_request() {
  http::request<http::string_body> r{http::verb::get, "/", 11};
  r.set(http::field::host, "127.0.0.1:8080");
  r.set(http::field::upgrade, "websocket");
  r.set(http::field::connection, "keep-alive, Upgrade");
  r.set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==");
  r.set("Sec-WebSocket-Version", "13");
  return r;
}

std::string refusal(const http::request<http::string_body>& r, const ws_origin_policy& p = {}, bool tls = false) {
  auto x = check_ws_upgrade(r, p, tls);
  return x ? std::to_string(x->status) + " " + x->reason : "ok";
}

TEST(ws_upgrade, accepts_a_valid_request_with_tokens_in_any_case) {
  auto r = good_request();
  r.set(http::field::upgrade, "WebSocket");
  r.set(http::field::connection, "upgrade");
  EXPECT_EQ(refusal(r), "ok");
}

TEST(ws_upgrade, refusals_in_nats_server_order) {
  auto r = good_request();
  r.method(http::verb::post);
  r.erase(http::field::upgrade);
  EXPECT_EQ(refusal(r), "405 request method must be GET");  // checked first
  r = good_request();
  r.erase(http::field::host);
  EXPECT_EQ(refusal(r), "400 'Host' missing in request");
  r = good_request();
  r.set(http::field::upgrade, "h2c");
  EXPECT_EQ(refusal(r), "400 invalid value for header 'Upgrade'");
  r = good_request();
  r.set(http::field::connection, "keep-alive");
  EXPECT_EQ(refusal(r), "400 invalid value for header 'Connection'");
  r = good_request();
  r.erase("Sec-WebSocket-Key");
  EXPECT_EQ(refusal(r), "400 key missing");
  r = good_request();
  r.set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ");  // 22 characters: not 16 bytes
  EXPECT_EQ(refusal(r), "400 invalid websocket key");
  r = good_request();
  r.set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25j*Q==");
  EXPECT_EQ(refusal(r), "400 invalid websocket key");
  r = good_request();
  r.set("Sec-WebSocket-Version", "8");
  EXPECT_EQ(refusal(r), "400 invalid version");
}

TEST(ws_origin, no_policy_accepts_any_origin) {
  auto r = good_request();
  r.set(http::field::origin, "http://evil.example");
  EXPECT_EQ(refusal(r), "ok");
}

TEST(ws_origin, allowed_list_compares_scheme_host_and_port) {
  jb::config::websocket_options o;
  o.allowed_origins = {"http://good.example:8080", "https://secure.example"};
  auto p = ws_origin_policy::from(o);
  auto r = good_request();
  r.set(http::field::origin, "http://GOOD.example:8080/page");
  EXPECT_EQ(refusal(r, p), "ok");
  r.set(http::field::origin, "https://secure.example:443");  // default port of the scheme
  EXPECT_EQ(refusal(r, p), "ok");
  r.set(http::field::origin, "http://secure.example");
  EXPECT_EQ(refusal(r, p), "403 origin not allowed: not in the allowed list");
  r.set(http::field::origin, "http://good.example:8081");
  EXPECT_EQ(refusal(r, p), "403 origin not allowed: not in the allowed list");
  r.erase(http::field::origin);
  EXPECT_EQ(refusal(r, p), "ok");  // no Origin: not a browser
  r.set("Sec-WebSocket-Origin", "http://bad.example");
  EXPECT_EQ(refusal(r, p), "403 origin not allowed: not in the allowed list");
}

TEST(ws_origin, same_origin_uses_the_host_header_and_tls_default_port) {
  jb::config::websocket_options o;
  o.same_origin = true;
  auto p = ws_origin_policy::from(o);
  auto r = good_request();
  r.set(http::field::origin, "http://127.0.0.1:8080");
  EXPECT_EQ(refusal(r, p), "ok");
  r.set(http::field::origin, "http://localhost:8080");
  EXPECT_EQ(refusal(r, p), "403 origin not allowed: not same origin");
  r.set(http::field::host, "example.com");
  r.set(http::field::origin, "https://example.com");
  EXPECT_EQ(refusal(r, p, true), "ok");
  EXPECT_EQ(refusal(r, p, false), "403 origin not allowed: not same origin");  // 80 vs 443
}

TEST(ws_origin, unparsable_allowed_origin_is_a_config_error) {
  jb::config::websocket_options o;
  o.allowed_origins = {"not a url"};
  EXPECT_THROW((void)ws_origin_policy::from(o), std::runtime_error);
}

TEST(ws_close_frame, status_and_reason) {
  auto f = jb::server::transport::ws_close_frame(1008, "Authentication Failure");
  ASSERT_EQ(f.size(), 4u + 22u);
  EXPECT_EQ(static_cast<unsigned char>(f[0]), 0x88);  // FIN, close
  EXPECT_EQ(static_cast<unsigned char>(f[1]), 24);    // unmasked, payload length
  EXPECT_EQ(static_cast<unsigned char>(f[2]), 0x03);
  EXPECT_EQ(static_cast<unsigned char>(f[3]), 0xF0);
  EXPECT_EQ(f.substr(4), "Authentication Failure");
}

TEST(ws_close_frame, long_reason_is_cut_to_a_control_frame_with_dots) {
  auto f = jb::server::transport::ws_close_frame(1002, std::string(300, 'x'));
  ASSERT_EQ(static_cast<unsigned char>(f[1]), 125);  // the most a control frame may carry
  EXPECT_EQ(f.size(), 2u + 125u);
  EXPECT_EQ(f.substr(f.size() - 3), "...");
}

}  // namespace
