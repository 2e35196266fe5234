// CONNECT decoding with Go encoding/json's rules (server/connect_opts.hpp). The expected values
// are what nats-server v2.14.9 does with the same bodies (tests/integration/test_protocol.py
// checks the wire behaviour against it).
#include "server/connect_opts.hpp"

#include <gtest/gtest.h>

namespace jb::server {
namespace {

TEST(ConnectOpts, DefaultsAreNatsServers) {
  connect_opts o;
  EXPECT_TRUE(o.verbose);
  EXPECT_TRUE(o.pedantic);
  EXPECT_TRUE(o.echo);
  EXPECT_FALSE(o.headers);
  EXPECT_EQ(o.protocol, 0);
}

TEST(ConnectOpts, FieldsDecoded) {
  connect_opts o;
  ASSERT_EQ(decode_connect(R"({"verbose":false,"pedantic":false,"echo":false,"headers":true,"no_responders":true,
    "protocol":1,"name":"n","lang":"go","version":"1.2","user":"u","pass":"p","auth_token":"t","nkey":"UA","sig":"s",
    "jwt":"j","account":"A","new_account":true,"tls_required":true})",
                           o),
            std::nullopt);
  EXPECT_FALSE(o.verbose);
  EXPECT_FALSE(o.pedantic);
  EXPECT_FALSE(o.echo);
  EXPECT_TRUE(o.headers);
  EXPECT_TRUE(o.no_responders);
  EXPECT_EQ(o.protocol, 1);
  EXPECT_EQ(o.name, "n");
  EXPECT_EQ(o.lang, "go");
  EXPECT_EQ(o.version, "1.2");
  EXPECT_EQ(o.user, "u");
  EXPECT_EQ(o.pass, "p");
  EXPECT_EQ(o.auth_token, "t");
  EXPECT_EQ(o.nkey, "UA");
  EXPECT_EQ(o.sig, "s");
  EXPECT_EQ(o.jwt, "j");
  EXPECT_EQ(o.account, "A");
  EXPECT_TRUE(o.new_account);
  EXPECT_TRUE(o.tls_required);
}

TEST(ConnectOpts, KeysMatchCaseInsensitivelyAndTheLastWins) {
  connect_opts o;
  ASSERT_EQ(decode_connect(R"({"verbose":false,"VERBOSE":true,"Name":"a","nAmE":"b"})", o), std::nullopt);
  EXPECT_TRUE(o.verbose);
  EXPECT_EQ(o.name, "b");
  ASSERT_EQ(decode_connect(R"({"Verbose":false})", o), std::nullopt);
  EXPECT_FALSE(o.verbose);
}

TEST(ConnectOpts, NullLeavesFieldsAlone) {
  connect_opts o;
  o.name = "before";
  ASSERT_EQ(decode_connect("null", o), std::nullopt);
  EXPECT_TRUE(o.verbose);
  ASSERT_EQ(decode_connect(R"({"verbose":null,"name":null,"protocol":null,"import":null})", o), std::nullopt);
  EXPECT_TRUE(o.verbose);
  EXPECT_EQ(o.name, "before");
}

TEST(ConnectOpts, LaterConnectKeepsWhatItDoesNotName) {
  connect_opts o;
  ASSERT_EQ(decode_connect(R"({"verbose":false,"headers":true,"name":"x"})", o), std::nullopt);
  ASSERT_EQ(decode_connect(R"({"pedantic":false})", o), std::nullopt);
  EXPECT_FALSE(o.verbose);
  EXPECT_TRUE(o.headers);
  EXPECT_EQ(o.name, "x");
}

TEST(ConnectOpts, WrongTypesForKnownFieldsAreErrors) {
  for (const char* body : {R"({"verbose":"yes"})", R"({"pedantic":1})", R"({"echo":"no"})", R"({"name":5})",
                           R"({"lang":["a"]})", R"({"user":1})", R"({"protocol":"1"})", R"({"protocol":1.5})",
                           R"({"protocol":1e0})", R"({"protocol":18446744073709551615})", R"({"headers":{}})",
                           R"({"import":"x"})", R"({"export":{"allow":"a"}})", R"({"import":{"deny":[1]}})"}) {
    connect_opts o;
    auto e = decode_connect(body, o);
    ASSERT_TRUE(e.has_value()) << body;
    EXPECT_NE(e->find("json: cannot unmarshal"), std::string::npos) << *e;
  }
  connect_opts o;
  EXPECT_EQ(decode_connect(R"({"verbose":"yes"})", o),
            "json: cannot unmarshal string into Go struct field ClientOpts.verbose of type bool");
}

TEST(ConnectOpts, GoAppliesTheOtherFieldsDespiteATypeError) {
  connect_opts o;
  EXPECT_TRUE(decode_connect(R"({"name":5,"verbose":false})", o).has_value());
  EXPECT_FALSE(o.verbose);
}

TEST(ConnectOpts, UnknownKeysAreIgnoredWhateverTheyHold) {
  connect_opts o;
  std::string deep = R"({"verbose":false,"x":)" + std::string(100, '[') + std::string(100, ']') + "}";
  EXPECT_EQ(decode_connect(deep, o), std::nullopt);  // deeper than Boost.JSON's default limit
  EXPECT_EQ(decode_connect(R"({"foo":{"a":[1,"b",null]},"bar":12345678901234567890123})", o), std::nullopt);
  EXPECT_FALSE(o.verbose);
  EXPECT_EQ(decode_connect(R"({"import":{"allow":["a.>"],"deny":null,"other":5}})", o), std::nullopt);
}

TEST(ConnectOpts, NotAnObjectOrNotJsonIsAnError) {
  for (const char* body : {"", "  ", "[1,2]", "\"x\"", "123", "true", "{", R"({"verbose":false} x)", R"({} {})", "X {}"}) {
    connect_opts o;
    EXPECT_TRUE(decode_connect(body, o).has_value()) << body;
  }
  connect_opts o;
  EXPECT_EQ(decode_connect("", o), "unexpected end of JSON input");
  EXPECT_EQ(decode_connect("[1]", o), "json: cannot unmarshal array into Go value of type server.ClientOpts");
}

TEST(ConnectOpts, InvalidUtf8BecomesReplacementCharacters) {
  connect_opts o;
  ASSERT_EQ(decode_connect("{\"name\":\"a\xff\xfe" "b\",\"lang\":\"\xc3\xa9\xed\xa0\x80\xc0\xaf\"}", o), std::nullopt);
  EXPECT_EQ(o.name, "a\xEF\xBF\xBD\xEF\xBF\xBD" "b");
  // é kept; a surrogate's three bytes and an overlong '/' each byte by byte.
  EXPECT_EQ(o.lang, "\xc3\xa9" "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD" "\xEF\xBF\xBD\xEF\xBF\xBD");
}

TEST(ConnectOpts, ClientInfo) {
  EXPECT_EQ(check_client_info("{}"), std::nullopt);
  EXPECT_EQ(check_client_info(R"({"server_id":"x","anything":[1]})"), std::nullopt);
  EXPECT_EQ(check_client_info("null"), std::nullopt);
  EXPECT_TRUE(check_client_info("").has_value());
  EXPECT_TRUE(check_client_info("{").has_value());
  EXPECT_TRUE(check_client_info("[1]").has_value());
  // Fields of nats-server's Info struct must have its types.
  for (const char* body : {R"({"server_id":5})", R"({"PORT":"4222"})", R"({"headers":1})", R"({"max_payload":4294967296})",
                           R"({"client_id":-1})", R"({"connect_urls":"a"})", R"({"gossip_mode":256})", R"({"import":[1]})"})
    EXPECT_TRUE(check_client_info(body).has_value()) << body;
  EXPECT_EQ(check_client_info(R"({"port":4222,"max_payload":1048576,"connect_urls":["a"],"client_id":18446744073709551615})"),
            std::nullopt);
}

}  // namespace
}  // namespace jb::server
