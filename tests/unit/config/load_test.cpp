// Applying configuration files to options: every key, harness configs, errors, -t.
#include "config/load.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "tests/unit/config/temp_dir.hpp"

namespace {

using namespace std::chrono_literals;
using jb::config::load_config_string;
using jb::config::load_error;
using jb::config::load_result;
using jb::config::options;

load_result load_ok(std::string_view text, options& o) {
  auto r = load_config_string(text, o, "test.conf");
  if (auto* e = std::get_if<load_error>(&r)) {
    ADD_FAILURE() << "unexpected error:\n" << e->message << "\n--- input ---\n" << text;
    return {};
  }
  return std::get<load_result>(std::move(r));
}

std::string load_err(std::string_view text) {
  options o;
  auto r = load_config_string(text, o, "test.conf");
  if (auto* e = std::get_if<load_error>(&r)) return e->message;
  ADD_FAILURE() << "expected an error for:\n" << text;
  return {};
}

TEST(config_load, listener_and_identity_keys) {
  options o;
  load_ok("port: 5222\nhost: 127.0.0.1\nserver_name: n1\nclient_advertise: \"x:1\"\n", o);
  EXPECT_EQ(o.port, 5222);
  EXPECT_EQ(o.host, "127.0.0.1");
  EXPECT_EQ(o.server_name, "n1");
  EXPECT_EQ(o.client_advertise, "x:1");

  options n;
  load_ok("net: ::1\nport: -1\n", n);
  EXPECT_EQ(n.host, "::1");
  EXPECT_EQ(n.port, -1);
}

TEST(config_load, listen_forms) {
  options a;
  load_ok("listen: 0.0.0.0:4333\n", a);
  EXPECT_EQ(a.host, "0.0.0.0");
  EXPECT_EQ(a.port, 4333);
  options b;
  load_ok("listen: \"[::1]:-1\"\n", b);
  EXPECT_EQ(b.host, "::1");
  EXPECT_EQ(b.port, -1);
  options c;
  load_ok("listen: localhost:4222\n", c);
  EXPECT_EQ(c.host, "localhost");
  options d;
  load_ok("listen: 7000\n", d);
  EXPECT_EQ(d.port, 7000);
  EXPECT_EQ(d.host, "0.0.0.0");
  EXPECT_EQ(load_err("listen: \"nohost\"\n"), "test.conf:1:1: could not parse address string \"nohost\"");
  EXPECT_EQ(load_err("listen: \"h:abc\"\n"), "test.conf:1:1: could not parse port \"abc\"");
}

TEST(config_load, monitoring_keys) {
  options a;
  load_ok("http: \"127.0.0.1:-1\"\n", a);
  EXPECT_EQ(a.http_host, "127.0.0.1");
  EXPECT_EQ(a.http_port, -1);
  options b;
  load_ok("http: 8222\n", b);
  EXPECT_EQ(b.http_port, 8222);
  EXPECT_EQ(b.http_host, "");
  options c;
  load_ok("http_port: 8223\n", c);
  EXPECT_EQ(c.http_port, 8223);
  options d;
  load_ok("monitor_port: 8224\nhttps_port: 8443\nhttp_base_path: /mon\n", d);
  EXPECT_EQ(d.http_port, 8224);
  EXPECT_EQ(d.https_port, 8443);
  EXPECT_EQ(d.http_base_path, "/mon");
}

TEST(config_load, limits_and_timers) {
  options o;
  auto r = load_ok(
      "max_payload: 1MB\nmax_connections: 100\nmax_control_line: 2048\nmax_pending: 32MB\n"
      "max_subscriptions: 10\nping_interval: \"100ms\"\nping_max: 3\nwrite_deadline: \"2s\"\n"
      "lame_duck_duration: \"45s\"\nlame_duck_grace_period: \"5s\"\n",
      o);
  EXPECT_EQ(o.max_payload, 1024 * 1024);
  EXPECT_EQ(o.max_connections, 100);
  EXPECT_EQ(o.max_control_line, 2048u);
  EXPECT_EQ(o.max_pending, 32 * 1024 * 1024);
  EXPECT_EQ(o.max_subscriptions, 10);
  EXPECT_EQ(o.ping_interval, 100ms);
  EXPECT_EQ(o.max_pings_out, 3);
  EXPECT_EQ(o.write_deadline, 2s);
  EXPECT_EQ(o.lame_duck_duration, 45s);
  EXPECT_EQ(o.lame_duck_grace_period, 5s);
  EXPECT_TRUE(r.warnings.empty());

  options m;
  load_ok("max_conn: 7\nping_interval: \"2m\"\nwrite_deadline: \"1m30s\"\n", m);
  EXPECT_EQ(m.max_connections, 7);
  EXPECT_EQ(m.ping_interval, 2min);
  EXPECT_EQ(m.write_deadline, 90s);
}

TEST(config_load, plain_number_durations_are_seconds_with_a_warning) {
  options o;
  auto r = load_ok("ping_interval: 30\nwrite_deadline: 5\n", o);
  EXPECT_EQ(o.ping_interval, 30s);
  EXPECT_EQ(o.write_deadline, 5s);
  ASSERT_EQ(r.warnings.size(), 2u);
  EXPECT_EQ(r.warnings[0], "test.conf:1:1: invalid use of field \"ping_interval\": ping_interval should be converted to a duration");
}

TEST(config_load, bad_values) {
  EXPECT_EQ(load_err("ping_interval: \"abc\"\n"), "test.conf:1:1: error parsing ping_interval: time: invalid duration \"abc\"");
  EXPECT_EQ(load_err("write_deadline: \"10x\"\n"),
            "test.conf:1:1: error parsing write_deadline: time: unknown unit \"x\" in duration \"10x\"");
  EXPECT_EQ(load_err("max_payload: 3GB\n"), "test.conf:1:1: max_payload value is too big");
  EXPECT_EQ(load_err("port: \"abc\"\n"), "test.conf:1:1: interface conversion: interface {} is string, not int64");
  EXPECT_EQ(load_err("debug: 1\n"), "test.conf:1:1: interface conversion: interface {} is int64, not bool");
  EXPECT_EQ(load_err("lame_duck_duration: \"10s\"\n"),
            "test.conf:1:1: invalid lame_duck_duration of 10s, minimum is 30 seconds");
}

TEST(config_load, logging_and_files) {
  options o;
  load_ok(
      "debug: true\ntrace: yes\nlogtime: off\nlogtime_utc: on\nlogfile: /var/log/x.log\n"
      "pid_file: /run/x.pid\nports_file_dir: /tmp\nlogfile_size_limit: 10MB\n",
      o);
  EXPECT_TRUE(o.debug);
  EXPECT_TRUE(o.trace);
  EXPECT_FALSE(o.logtime);
  EXPECT_TRUE(o.logtime_utc);
  EXPECT_EQ(o.log_file, "/var/log/x.log");
  EXPECT_EQ(o.pid_file, "/run/x.pid");
  EXPECT_EQ(o.ports_file_dir, "/tmp");
  EXPECT_EQ(o.log_size_limit, 10 * 1024 * 1024);
  options a;
  load_ok("log_file: a.log\npidfile: a.pid\n", a);
  EXPECT_EQ(a.log_file, "a.log");
  EXPECT_EQ(a.pid_file, "a.pid");
}

TEST(config_load, authorization_single_user_and_token) {
  options o;
  load_ok("authorization { user: derek, password: s3cr3t, timeout: 3 }\n", o);
  EXPECT_EQ(o.user, "derek");
  EXPECT_EQ(o.password, "s3cr3t");
  EXPECT_EQ(o.auth_timeout, 3s);
  EXPECT_TRUE(o.auth_required());
  options t;
  load_ok("authorization { token: \"abc\", timeout: 0.5 }\n", t);
  EXPECT_EQ(t.auth_token, "abc");
  EXPECT_EQ(t.auth_timeout, 500ms);
  EXPECT_EQ(load_err("authorization { user: a, token: b }\n"), "test.conf:1:1: Cannot have a user/pass and token");
  EXPECT_EQ(load_err("authorization { bogus: 1 }\n"), "test.conf:1:17: unknown field \"bogus\"");
}

TEST(config_load, authorization_users_with_permissions) {
  options o;
  load_ok(R"(authorization {
  default_permissions { publish: "public.>" }
  users = [
    {user: alice, password: a, permissions: {publish: {allow: ["a.>"], deny: "a.secret"}, subscribe: ["_INBOX.>", "a.>"]}}
    {user: bob, pass: b, permissions: {publish: "b.>", allow_responses: true}}
    {user: carol, password: c}
    {nkey: UDXU4RCSJNZOIQHZNWXHXORDPRTGNJAHAHFRGZNEEJCPQTT2M7NLCNF4}
  ]
}
)",
          o);
  ASSERT_EQ(o.users.size(), 4u);
  const auto& alice = o.users[0];
  EXPECT_EQ(alice.name, "alice");
  ASSERT_TRUE(alice.perms && alice.perms->publish && alice.perms->subscribe);
  EXPECT_EQ(alice.perms->publish->allow, std::vector<std::string>{"a.>"});
  EXPECT_EQ(alice.perms->publish->deny, std::vector<std::string>{"a.secret"});
  EXPECT_EQ(alice.perms->subscribe->allow, (std::vector<std::string>{"_INBOX.>", "a.>"}));
  EXPECT_EQ(o.users[1].password, "b");
  ASSERT_TRUE(o.users[1].perms && o.users[1].perms->allow_responses);
  EXPECT_EQ(o.users[1].perms->allow_responses->max_msgs, 1);
  // carol gets the default permissions
  ASSERT_TRUE(o.users[2].perms && o.users[2].perms->publish);
  EXPECT_EQ(o.users[2].perms->publish->allow, std::vector<std::string>{"public.>"});
  EXPECT_EQ(o.users[3].nkey, "UDXU4RCSJNZOIQHZNWXHXORDPRTGNJAHAHFRGZNEEJCPQTT2M7NLCNF4");
  EXPECT_TRUE(o.user.empty());

  EXPECT_NE(load_err("authorization { user: x, users: [{user: y}] }\n").find("Can not have a single user/pass and a users array"),
            std::string::npos);
  EXPECT_NE(load_err("authorization { users: [{user: y}, {user: y}] }\n").find("Duplicate user \"y\" detected"),
            std::string::npos);
  EXPECT_NE(load_err("authorization { users: [{user: y, permissions: {publish: {allow: x, maybe: y}}}] }\n")
                .find("Unknown field name \"maybe\" parsing subject permissions"),
            std::string::npos);
  EXPECT_NE(load_err("authorization { users: [{password: y}] }\n").find("User entry requires a user"), std::string::npos);
  // A user's account comes from the accounts block; nats-server has no `account` field here.
  // (nats-server reports column 34 here, jetbroker 35: nested-map columns differ.)
  EXPECT_NE(load_err("authorization { users: [{user: y, account: A}] }\n").find("unknown field \"account\""),
            std::string::npos);
}

TEST(config_load, allow_responses_forms) {
  options o;
  load_ok(R"(authorization { users = [
    {user: a, password: a, permissions: {allow_responses: true}}
    {user: b, password: b, permissions: {allow_responses: {max: 5, expires: "1s"}}}
    {user: c, password: c, permissions: {allow_responses: {max: 0, expires: "0s"}}}
    {user: d, password: d, permissions: {allow_responses: {max: -1}}}
    {user: e, password: e, permissions: {allow_responses: false}}
  ] }
)",
          o);
  ASSERT_EQ(o.users.size(), 5u);
  auto resp = [&](int i) { return o.users[static_cast<std::size_t>(i)].perms->allow_responses; };
  ASSERT_TRUE(resp(0));
  EXPECT_EQ(resp(0)->max_msgs, 1);
  EXPECT_EQ(resp(0)->expires, 2min);
  EXPECT_EQ(resp(1)->max_msgs, 5);
  EXPECT_EQ(resp(1)->expires, 1s);
  // nats parseAllowResponses: 0 keeps the defaults, a negative max means unlimited.
  EXPECT_EQ(resp(2)->max_msgs, 1);
  EXPECT_EQ(resp(2)->expires, 2min);
  EXPECT_EQ(resp(3)->max_msgs, -1);
  EXPECT_FALSE(resp(4));
}

TEST(config_load, import_prefix_and_to) {
  options o;
  load_ok(R"(accounts {
  A { exports [ {stream: "x.>"}, {service: "svc"} ] }
  B { imports [ {stream: {account: A, subject: "x.>"}, prefix: "p"}
                {stream: {account: A, subject: "x.>"}, to: "y.>"}
                {service: {account: A, subject: svc}, to: "local.svc"} ] }
}
)",
          o);
  ASSERT_EQ(o.accounts.size(), 2u);
  const auto& im = o.accounts[1].imports;
  ASSERT_EQ(im.size(), 3u);
  EXPECT_EQ(im[0].to, "p");
  EXPECT_TRUE(im[0].prefix);
  EXPECT_EQ(im[1].to, "y.>");
  EXPECT_FALSE(im[1].prefix);
  EXPECT_EQ(im[2].to, "local.svc");
  EXPECT_FALSE(im[2].prefix);
}

TEST(config_load, jetstream_three_shapes) {
  options a;
  load_ok("jetstream: enabled\n", a);
  EXPECT_TRUE(a.jetstream);
  options b;
  load_ok("jetstream: true\n", b);
  EXPECT_TRUE(b.jetstream);
  options c;
  load_ok("jetstream {}\n", c);
  EXPECT_TRUE(c.jetstream);
  options d;
  load_ok("jetstream: disabled\n", d);
  EXPECT_FALSE(d.jetstream);
  options e;
  load_ok("jetstream { enabled: false, store_dir: /x }\n", e);
  EXPECT_FALSE(e.jetstream);
  EXPECT_EQ(e.store_dir, "/x");
  EXPECT_EQ(load_err("jetstream: maybe\n"), "test.conf:1:1: Expected 'enabled' or 'disabled' for string value, got 'maybe'");
}

TEST(config_load, jetstream_block_keys) {
  options o;
  load_ok(
      "jetstream {\n  store_dir: \"/data/js\"\n  max_memory_store: 1GB\n  max_file_store: \"10G\"\n"
      "  domain: hub\n  strict: false\n  sync_interval: \"30s\"\n  unique_tag: AZ\n}\n",
      o);
  EXPECT_TRUE(o.jetstream);
  EXPECT_EQ(o.store_dir, "/data/js");
  EXPECT_EQ(o.jetstream_max_memory, 1LL << 30);
  EXPECT_EQ(o.jetstream_max_store, 10LL << 30);
  EXPECT_EQ(o.jetstream_domain, "hub");
  EXPECT_FALSE(o.jetstream_strict);
  ASSERT_TRUE(o.jetstream_sync_interval);
  EXPECT_EQ(*o.jetstream_sync_interval, 30s);
  EXPECT_FALSE(o.jetstream_sync_always);
  EXPECT_EQ(o.jetstream_unique_tag, "az");

  options s;
  load_ok("jetstream { sync: always, max_mem: 64MB, max_file: 1024 }\n", s);
  EXPECT_TRUE(s.jetstream_sync_always);
  EXPECT_EQ(s.jetstream_max_memory, 64 * 1024 * 1024);
  EXPECT_EQ(s.jetstream_max_store, 1024);

  options top;
  load_ok("store_dir: /top\njetstream: enabled\n", top);
  EXPECT_EQ(top.store_dir, "/top");
  options mem;
  load_ok("jetstream { store_dir: \":memory:\" }\n", mem);
  EXPECT_TRUE(mem.store_in_memory);

  EXPECT_NE(load_err("store_dir: /a\njetstream { store_dir: /b }\n").find("Duplicate 'store_dir' configuration"),
            std::string::npos);
  EXPECT_EQ(load_err("jetstream { nonsense: 1 }\n"), "test.conf:1:13: unknown field \"nonsense\"");
}

TEST(config_load, tls_block) {
  options o;
  load_ok(
      "tls {\n  cert_file: \"./server-cert.pem\"\n  key_file: \"./server-key.pem\"\n  ca_file: \"./ca.pem\"\n"
      "  verify: true\n  handshake_first: true\n  timeout: 2.5\n}\n",
      o);
  ASSERT_TRUE(o.tls);
  EXPECT_EQ(o.tls->cert_file, "./server-cert.pem");
  EXPECT_EQ(o.tls->key_file, "./server-key.pem");
  EXPECT_EQ(o.tls->ca_file, "./ca.pem");
  EXPECT_TRUE(o.tls->verify);
  EXPECT_TRUE(o.tls->handshake_first);
  EXPECT_EQ(o.tls->timeout, 2500ms);
  options f;
  load_ok("tls { cert_file: c, key_file: k, handshake_first: \"300ms\" }\n", f);
  EXPECT_EQ(f.tls->handshake_first_fallback, 300ms);
  EXPECT_EQ(load_err("tls { cert_file: c, key_file: k, colour: blue }\n"),
            "test.conf:1:34: error parsing tls config, unknown field \"colour\"");
  EXPECT_EQ(load_err("tls { cert_file: c }\n"), "test.conf:1:1: missing 'key_file' in TLS configuration");
}

TEST(config_load, websocket_block) {
  options o;
  load_ok("websocket { port: -1, host: 127.0.0.1, no_tls: true, compression: true, same_origin: true, "
          "allowed_origins: [\"http://a\"] }\n",
          o);
  EXPECT_TRUE(o.websocket.configured);
  EXPECT_EQ(o.websocket.port, -1);
  EXPECT_EQ(o.websocket.host, "127.0.0.1");
  EXPECT_TRUE(o.websocket.no_tls);
  EXPECT_TRUE(o.websocket.compression);
  EXPECT_TRUE(o.websocket.same_origin);
  EXPECT_EQ(o.websocket.allowed_origins, std::vector<std::string>{"http://a"});
  options l;
  load_ok("ws { listen: \"0.0.0.0:8080\" }\n", l);
  EXPECT_EQ(l.websocket.port, 8080);
  options n;
  load_ok("port: 1\n", n);
  EXPECT_FALSE(n.websocket.configured);
}

TEST(config_load, accounts_no_auth_user_system_account) {
  options o;
  load_ok(R"(
system_account: SYS
accounts {
  SYS { users: [{user: sys, password: sys}] }
  A {
    users: [{user: a, password: a}]
    jetstream: enabled
    exports: [{stream: "a.events.>"}, {service: "a.api", accounts: [B]}]
  }
  B {
    users: [{user: b, password: b}]
    imports: [{stream: {account: A, subject: "a.events.>"}, prefix: from_a}, {service: {account: A, subject: a.api}, to: api}]
    limits: { max_connections: 5 }
    mappings: { "x": "y" }
  }
}
no_auth_user: a
)",
          o);
  EXPECT_EQ(o.system_account, "SYS");
  EXPECT_EQ(o.no_auth_user, "a");
  ASSERT_EQ(o.accounts.size(), 3u);
  EXPECT_EQ(o.accounts[1].name, "A");
  EXPECT_TRUE(o.accounts[1].jetstream.enabled);
  ASSERT_EQ(o.accounts[1].exports.size(), 2u);
  EXPECT_EQ(o.accounts[1].exports[1].type, jb::config::account_export::kind::service);
  EXPECT_EQ(o.accounts[1].exports[1].accounts, std::vector<std::string>{"B"});
  ASSERT_EQ(o.accounts[2].imports.size(), 2u);
  EXPECT_EQ(o.accounts[2].imports[0].account, "A");
  EXPECT_EQ(o.accounts[2].imports[0].to, "from_a");
  EXPECT_EQ(o.accounts[2].imports[1].type, jb::config::account_import::kind::service);
  EXPECT_EQ(o.accounts[2].max_connections, 5);
  ASSERT_EQ(o.accounts[2].mappings.size(), 1u);
  ASSERT_EQ(o.users.size(), 3u);
  EXPECT_EQ(o.users[1].name, "a");
  EXPECT_EQ(o.users[1].account, "A");

  EXPECT_NE(load_err("accounts { $G: {} }\n").find("\"$G\" is a Reserved Account"), std::string::npos);
  EXPECT_NE(load_err("accounts { A: { users: [{user: x}] }, B: { users: [{user: x}] } }\n").find("Duplicate user \"x\""),
            std::string::npos);
  EXPECT_NE(load_err("authorization { user: u, password: p }\naccounts { A: { users: [{user: x}] } }\n")
                .find("Can not have a single user/pass and accounts"),
            std::string::npos);
  options names;
  load_ok("accounts: [A, B]\n", names);
  EXPECT_EQ(names.accounts.size(), 2u);
}

TEST(config_load, unknown_top_level_field_is_an_error_unless_a_used_variable) {
  EXPECT_EQ(load_err("port: 1\n\nfoo: bar\n"), "test.conf:3:1: unknown field \"foo\"");
  options o;
  load_ok("MYPORT: 4333\nport: $MYPORT\n", o);
  EXPECT_EQ(o.port, 4333);
  // Several errors: one per line, all reported.
  const std::string two = load_err("foo: 1\nbar: 2\n");
  EXPECT_EQ(two, "test.conf:1:1: unknown field \"foo\"\ntest.conf:2:1: unknown field \"bar\"");
}

TEST(config_load, unsupported_blocks_are_recorded_and_noticed) {
  options o;
  auto r = load_ok(
      "cluster { name: c, listen: 0.0.0.0:6222, routes: [nats://a:6222] }\n"
      "gateway { name: g, port: 7222 }\n"
      "leafnodes { listen: \"127.0.0.1:-1\" }\n"
      "mqtt { port: 1883 }\n",
      o);
  ASSERT_EQ(o.unsupported.size(), 4u);
  EXPECT_EQ(o.unsupported[0].key, "cluster");
  EXPECT_EQ(o.unsupported[0].listen, "0.0.0.0:6222");
  EXPECT_EQ(o.unsupported[1].listen, "0.0.0.0:7222");
  EXPECT_EQ(o.unsupported[2].key, "leafnodes");
  EXPECT_EQ(o.unsupported[2].listen, "127.0.0.1:-1");
  EXPECT_EQ(o.unsupported[3].location, "test.conf:4:1");
  ASSERT_EQ(r.notices.size(), 4u);
  EXPECT_EQ(r.notices[0], "test.conf:1:1: \"cluster\" is not supported by jetbroker, ignoring it");
  EXPECT_TRUE(r.warnings.empty());
}

TEST(config_load, server_tags) {
  options o;
  load_ok("server_tags: [\"id:abc\", \"az:1\"]\n", o);
  EXPECT_EQ(o.server_tags, (std::vector<std::string>{"id:abc", "az:1"}));
  options s;
  load_ok("server_tags: one\n", s);
  EXPECT_EQ(s.server_tags, std::vector<std::string>{"one"});
}

// ---- harness configs -------------------------------------------------------------------------

TEST(config_harness, nats_js_launcher) {
  options o;
  auto r = load_ok(R"(host: 127.0.0.1
port: -1
http: "127.0.0.1:-1"
leafnodes {
  listen: "127.0.0.1:-1"
}
server_tags: [
  "id:X6KDR4WZ3JFSA"
]
ports_file_dir: /tmp
jetstream {
  max_file_store: 1048576
  max_mem_store: 1048576
  strict: true
  store_dir: /tmp/jetstream_abc
}
websocket {
  no_tls: true
  port: -1
}
)",
                   o);
  EXPECT_EQ(o.host, "127.0.0.1");
  EXPECT_EQ(o.port, -1);
  EXPECT_EQ(o.http_host, "127.0.0.1");
  EXPECT_EQ(o.http_port, -1);
  EXPECT_EQ(o.ports_file_dir, "/tmp");
  EXPECT_TRUE(o.jetstream);
  EXPECT_EQ(o.jetstream_max_store, 1048576);
  EXPECT_EQ(o.jetstream_max_memory, 1048576);
  EXPECT_TRUE(o.jetstream_strict);
  EXPECT_EQ(o.store_dir, "/tmp/jetstream_abc");
  EXPECT_TRUE(o.websocket.configured);
  EXPECT_EQ(o.websocket.port, -1);
  EXPECT_TRUE(o.websocket.no_tls);
  EXPECT_EQ(o.server_tags, std::vector<std::string>{"id:X6KDR4WZ3JFSA"});
  ASSERT_EQ(o.unsupported.size(), 1u);
  EXPECT_EQ(o.unsupported[0].key, "leafnodes");
  EXPECT_EQ(r.notices.size(), 1u);
}

TEST(config_harness, nats_js_jetstream_export_accounts) {
  options o;
  load_ok(R"(jetstream {
  store_dir: /tmp/js
}
accounts: {
  JS: {
    jetstream: "enabled"
    users: [ {user: js, password: js} ]
    exports: [
      {service: "$JS.API.>" }
      {service: "$JS.ACK.>" }
    ]
  }
  U: {
    users: [ {user: u, password: u} ]
    imports: [
      {service: {subject: "$JS.API.>", account: JS }}
      {service: {subject: "$JS.ACK.>", account: JS }}
    ]
  }
}
)",
          o);
  ASSERT_EQ(o.accounts.size(), 2u);
  EXPECT_TRUE(o.accounts[0].jetstream.enabled);
  EXPECT_EQ(o.accounts[0].exports[0].subject, "$JS.API.>");
  EXPECT_EQ(o.accounts[1].imports[1].subject, "$JS.ACK.>");
}

TEST(config_harness, java_runner) {
  options o;
  load_ok("port: 12345\njetstream {\n    store_dir=/tmp/abc,\n}\n", o);
  EXPECT_EQ(o.port, 12345);
  EXPECT_EQ(o.store_dir, "/tmp/abc");
  EXPECT_TRUE(o.jetstream);
}

TEST(config_harness, nats_py_json_files) {
  options a;
  load_ok("{\"jetstream\": true}", a);
  EXPECT_TRUE(a.jetstream);
  options b;
  load_ok("{\"port\": 4567}", b);
  EXPECT_EQ(b.port, 4567);
}

TEST(config_harness, nats_py_js_limits) {
  options o;
  load_ok(R"(jetstream {
  domain: "test-domain"
}
no_auth_user: "foo"
accounts: {
  A: {
    users: [ {user: foo, password: bar} ]
    jetstream: {
      max_mem: 64MB
      max_file: 32MB
      max_streams: 10
      max_consumers: 20
      max_ack_pending: 100
      memory_max_stream_bytes: 2048
      store_max_stream_bytes: 4096
      max_stream_bytes: true
    }
  }
}
)",
          o);
  EXPECT_TRUE(o.jetstream);
  EXPECT_EQ(o.jetstream_domain, "test-domain");
  EXPECT_EQ(o.no_auth_user, "foo");
  ASSERT_EQ(o.accounts.size(), 1u);
  const auto& js = o.accounts[0].jetstream;
  EXPECT_TRUE(js.enabled);
  EXPECT_EQ(js.max_memory, 64 * 1024 * 1024);
  EXPECT_EQ(js.max_store, 32 * 1024 * 1024);
  EXPECT_EQ(js.max_streams, 10);
  EXPECT_EQ(js.max_consumers, 20);
  EXPECT_EQ(js.max_ack_pending, 100);
  EXPECT_EQ(js.memory_max_stream_bytes, 2048);
  EXPECT_EQ(js.store_max_stream_bytes, 4096);
  EXPECT_TRUE(js.max_bytes_required);
  ASSERT_EQ(o.users.size(), 1u);
  EXPECT_EQ(o.users[0].account, "A");
}

TEST(config_harness, nats_py_no_auth_user) {
  // nats.py nats/tests/conf/no_auth_user.conf, tabs and all.
  options o;
  load_ok("port: 4555\n\naccounts {\n  a {\n    users = [ { user: 'foo', pass: 'foo',\n      permissions: {\n"
          "        subscribe: {\n          allow: [\"foo\", \"_INBOX.>\"],\n\t  deny: [\"bar\"]\n\t},\n"
          "        publish: {\n          allow: [\"foo\", \"_INBOX.>\"],\n\t  deny: [\"bar\"]\n\t}\n      }\n    }]\n  }\n"
          "  b {\n    users = [ { user: 'bar', pass: 'bar',\n      permissions: {\n        subscribe: {\n"
          "          allow: [\"bar\"],\n\t  deny: [\">\"]\n\t},\n        publish: {\n          allow: [\"bar\"],\n"
          "\t  deny: [\">\"]\n\t}\n      }\n    }]  \n  }\n}\n\nno_auth_user = \"foo\"\n\n",
          o);
  EXPECT_EQ(o.port, 4555);
  EXPECT_EQ(o.no_auth_user, "foo");
  ASSERT_EQ(o.users.size(), 2u);
  EXPECT_EQ(o.users[0].name, "foo");
  EXPECT_EQ(o.users[0].password, "foo");
  EXPECT_EQ(o.users[0].account, "a");
  ASSERT_TRUE(o.users[0].perms && o.users[0].perms->subscribe);
  EXPECT_EQ(o.users[0].perms->subscribe->allow, (std::vector<std::string>{"foo", "_INBOX.>"}));
  EXPECT_EQ(o.users[0].perms->subscribe->deny, std::vector<std::string>{"bar"});
  EXPECT_EQ(o.users[1].perms->publish->deny, std::vector<std::string>{">"});
}

TEST(config_harness, nats_py_tls_handshake_first) {
  options o;
  load_ok("port: 4224\ntls {\n  cert_file: \"./nats/tests/certs/server-cert.pem\"\n"
          "  key_file: \"./nats/tests/certs/server-key.pem\"\n  ca_file: \"./nats/tests/certs/ca.pem\"\n"
          "  handshake_first: true\n  verify: true\n}\n",
          o);
  EXPECT_EQ(o.port, 4224);
  ASSERT_TRUE(o.tls);
  EXPECT_TRUE(o.tls->handshake_first);
  EXPECT_TRUE(o.tls->verify);
  EXPECT_EQ(o.tls->ca_file, "./nats/tests/certs/ca.pem");
}

TEST(config_harness, nats_py_ws) {
  options o;
  load_ok("websocket\n{\n    port: 8080\n    no_tls: true\n}\n", o);
  EXPECT_EQ(o.websocket.port, 8080);
  EXPECT_TRUE(o.websocket.no_tls);
}

TEST(config_harness, nats_py_core_configs) {
  options t;
  load_ok("authorization { token: \"test-token\" }\n", t);
  EXPECT_EQ(t.auth_token, "test-token");
  options u;
  load_ok("authorization { users = [ {user: \"u\", password: \"p\"} ] }\nmax_payload: 1024\n", u);
  EXPECT_EQ(u.users.size(), 1u);
  EXPECT_EQ(u.max_payload, 1024);
  options p;
  load_ok("ping_interval: \"100ms\"\nping_max: 3\n", p);
  EXPECT_EQ(p.ping_interval, 100ms);
}

// ---- files, parse errors, -t -----------------------------------------------------------------

TEST(config_file, load_sets_config_file_and_reports_parse_errors) {
  jb::test::temp_dir dir;
  const auto good = dir.write("good.conf", "port: 4111\n");
  options o;
  auto r = jb::config::load_config_file(good, o);
  ASSERT_TRUE(std::holds_alternative<load_result>(r));
  EXPECT_EQ(o.port, 4111);
  EXPECT_EQ(o.config_file, good);

  const auto bad = dir.write("bad.conf", "port: 4111\njetstream {\n  store_dir: /x\n  max_mem: 1 2\n}\n");
  options b;
  auto e = jb::config::load_config_file(bad, b);
  ASSERT_TRUE(std::holds_alternative<load_error>(e));
  const std::string msg = std::get<load_error>(e).message;
  EXPECT_EQ(msg.rfind("Parse error on line 4: ", 0), 0u) << msg;
}

TEST(config_file, semantic_errors_name_the_included_file) {
  jb::test::temp_dir dir;
  dir.write("inc.conf", "\n  bogus_key: 1\n");
  const auto main = dir.write("main.conf", "port: 1\ninclude inc.conf\n");
  options o;
  auto e = jb::config::load_config_file(main, o);
  ASSERT_TRUE(std::holds_alternative<load_error>(e));
  EXPECT_EQ(std::get<load_error>(e).message, dir.path("inc.conf") + ":2:3: unknown field \"bogus_key\"");
}

TEST(config_check, valid_file_message_with_digest) {
  jb::test::temp_dir dir;
  const auto path = dir.write("ok.conf", "port: 1\nname_var: x\nserver_name: $name_var\nleafnodes { listen: 1 }\n");
  auto c = jb::config::check_config_file(path);
  EXPECT_TRUE(c.ok) << c.message;
  const std::string prefix = "configuration file " + path + " is valid (sha256:";
  EXPECT_EQ(c.message.rfind(prefix, 0), 0u) << c.message;
  EXPECT_EQ(c.message.size(), prefix.size() + 64 + 1);
  EXPECT_EQ(c.message.back(), ')');
}

TEST(config_check, warnings_and_errors_fail) {
  jb::test::temp_dir dir;
  auto w = jb::config::check_config_file(dir.write("w.conf", "ping_interval: 10\n"));
  EXPECT_FALSE(w.ok);
  EXPECT_NE(w.message.find("ping_interval should be converted to a duration"), std::string::npos);
  auto p = jb::config::check_config_file(dir.write("p.conf", "port: [\n"));
  EXPECT_FALSE(p.ok);
  EXPECT_NE(p.message.find("Parse error"), std::string::npos) << p.message;
  auto m = jb::config::check_config_file(dir.path("missing.conf"));
  EXPECT_FALSE(m.ok);
  EXPECT_NE(m.message.find("No such file or directory"), std::string::npos);
}

// Every example shipped in config/examples must load without errors.
TEST(config_examples, all_examples_load) {
  int count = 0;
  for (const auto& entry : std::filesystem::directory_iterator(JB_CONFIG_EXAMPLES_DIR)) {
    if (entry.path().extension() != ".conf") continue;
    ++count;
    auto c = jb::config::check_config_file(entry.path().string());
    EXPECT_TRUE(c.ok) << entry.path() << ": " << c.message;
  }
  EXPECT_GE(count, 3);
}

}  // namespace
