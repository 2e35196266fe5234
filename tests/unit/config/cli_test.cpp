// Command-line flags: the --tls* set and how it combines with a config file's tls {}.
#include "config/cli.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace {

using jb::config::cli_result;
using jb::config::options;

options parse(std::vector<const char*> args, options base = {}) {
  auto r = jb::config::parse_command_line(args, std::move(base));
  if (auto* e = std::get_if<jb::config::cli_error>(&r)) {
    ADD_FAILURE() << e->message;
    return {};
  }
  return std::get<cli_result>(r).opts;
}

TEST(cli_tls, flags_fill_tls_options) {
  auto o = parse({"--tls", "--tlscert", "c.pem", "--tlskey=k.pem", "--tlscacert", "ca.pem", "--tlsverify"});
  ASSERT_TRUE(o.tls);
  EXPECT_EQ(o.tls->cert_file, "c.pem");
  EXPECT_EQ(o.tls->key_file, "k.pem");
  EXPECT_EQ(o.tls->ca_file, "ca.pem");
  EXPECT_TRUE(o.tls->verify);
}

TEST(cli_tls, no_flags_no_tls) { EXPECT_FALSE(parse({"-p", "4333"}).tls); }

TEST(cli_tls, bare_tls_flag_turns_tls_on_without_files) {
  auto o = parse({"--tls"});
  ASSERT_TRUE(o.tls);  // the server then refuses to start: no certificate
  EXPECT_TRUE(o.tls->cert_file.empty());
}

TEST(cli_tls, cert_flags_alone_turn_tls_on) {
  auto o = parse({"--tlscert", "c.pem", "--tlskey", "k.pem"});
  ASSERT_TRUE(o.tls);
  EXPECT_FALSE(o.tls->verify);
}

TEST(cli_tls, tls_false_wins_over_everything) {
  options base;
  base.tls.emplace().cert_file = "file.pem";
  EXPECT_FALSE(parse({"--tls=false", "--tlscert", "c.pem"}, base).tls);
}

TEST(cli_tls, flags_override_the_config_file) {
  options base;
  auto& t = base.tls.emplace();
  t.cert_file = "file.pem";
  t.key_file = "file.key";
  t.handshake_first = true;
  auto o = parse({"--tlscert", "flag.pem"}, base);
  ASSERT_TRUE(o.tls);
  EXPECT_EQ(o.tls->cert_file, "flag.pem");
  EXPECT_EQ(o.tls->key_file, "file.key");
  EXPECT_TRUE(o.tls->handshake_first);
}

}  // namespace
