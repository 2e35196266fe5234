// The configuration language: tokens, structure, variables, includes, errors.
#include "config/conf.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "tests/unit/config/temp_dir.hpp"

namespace {

using jb::config::conf::kind;
using jb::config::conf::parse_error;
using jb::config::conf::parse_file;
using jb::config::conf::parse_string;
using jb::config::conf::value;

value parse_ok(std::string_view text, const std::string& file = "") {
  auto r = parse_string(text, file);
  if (auto* e = std::get_if<parse_error>(&r)) {
    ADD_FAILURE() << "unexpected error: " << e->message << "\n--- input ---\n" << text;
    return value{};
  }
  return std::get<value>(std::move(r));
}

std::string parse_err(std::string_view text, const std::string& file = "") {
  auto r = parse_string(text, file);
  if (auto* e = std::get_if<parse_error>(&r)) return e->message;
  ADD_FAILURE() << "expected an error for:\n" << text;
  return {};
}

const value& at(const value& m, std::string_view key) {
  static const value missing{};
  const value* v = m.find(key);
  if (!v) {
    ADD_FAILURE() << "missing key " << key;
    return missing;
  }
  return *v;
}

TEST(conf_syntax, three_separators) {
  auto v = parse_ok("a: 1\nb = 2\nc 3\n");
  EXPECT_EQ(at(v, "a").integer, 1);
  EXPECT_EQ(at(v, "b").integer, 2);
  EXPECT_EQ(at(v, "c").integer, 3);
  EXPECT_EQ(at(v, "c").type, kind::integer);
}

TEST(conf_syntax, comments_hash_and_slashes) {
  auto v = parse_ok(
      "# leading comment\n"
      "// another\n"
      "a: 1 # trailing\n"
      "b: \"x\" // trailing\n"
      "m {\n  # inside\n  c: 2 // after\n}\n"
      "arr [ 1 # one\n 2 ]\n");
  EXPECT_EQ(at(v, "a").integer, 1);
  EXPECT_EQ(at(v, "b").str, "x");
  EXPECT_EQ(at(at(v, "m"), "c").integer, 2);
  ASSERT_EQ(at(v, "arr").array.size(), 2u);
  EXPECT_EQ(v.map.size(), 4u);
}

TEST(conf_syntax, value_terminators_semicolon_and_comma) {
  auto v = parse_ok("a: 1; b: 2, c: 3\n");
  EXPECT_EQ(at(v, "a").integer, 1);
  EXPECT_EQ(at(v, "b").integer, 2);
  EXPECT_EQ(at(v, "c").integer, 3);
}

TEST(conf_syntax, nested_maps_and_arrays) {
  auto v = parse_ok(
      "outer {\n"
      "  inner { x: 1 }\n"
      "  list: [ {a: 1}, {a: 2} ]\n"
      "}\n");
  const value& outer = at(v, "outer");
  EXPECT_EQ(at(at(outer, "inner"), "x").integer, 1);
  const value& list = at(outer, "list");
  ASSERT_EQ(list.array.size(), 2u);
  EXPECT_EQ(at(list.array[1], "a").integer, 2);
}

TEST(conf_syntax, arrays_separated_by_newlines_like_nats_js) {
  auto v = parse_ok(
      "users [\n"
      "  { user: a, password: b }\n"
      "  { user: c, password: d }\n"
      "]\n");
  const value& users = at(v, "users");
  ASSERT_EQ(users.array.size(), 2u);
  EXPECT_EQ(at(users.array[0], "user").str, "a");
  EXPECT_EQ(at(users.array[1], "password").str, "d");
}

TEST(conf_syntax, map_on_next_line_and_without_separator) {
  auto v = parse_ok("websocket\n{\n    port: 8080\n    no_tls: true\n}\njetstream{store_dir: /x}\n");
  EXPECT_EQ(at(at(v, "websocket"), "port").integer, 8080);
  EXPECT_EQ(at(at(v, "jetstream"), "store_dir").str, "/x");
}

TEST(conf_syntax, trailing_commas_in_blocks_java_runner) {
  auto v = parse_ok("port: 4222\njetstream {\n    store_dir=/tmp/abc,\n    max_mem=1024,\n}\n");
  const value& js = at(v, "jetstream");
  EXPECT_EQ(at(js, "store_dir").str, "/tmp/abc");
  EXPECT_EQ(at(js, "max_mem").integer, 1024);
}

TEST(conf_syntax, strings_quoted_and_bare) {
  auto v = parse_ok(
      "a: \"double \\\"q\\\" \\t\\n\\\\ \\x41\"\n"
      "b: 'single \\n raw'\n"
      "c: bare/path.with:colons\n"
      "d: 127.0.0.1:4222\n"
      "e: 127.0.0.1:-1\n"
      "f: 3secret\n"
      "g: nats://localhost:4222\n");
  EXPECT_EQ(at(v, "a").str, "double \"q\" \t\n\\ A");
  EXPECT_EQ(at(v, "b").str, "single \\n raw");
  EXPECT_EQ(at(v, "c").str, "bare/path.with:colons");
  EXPECT_EQ(at(v, "d").str, "127.0.0.1:4222");
  EXPECT_EQ(at(v, "d").type, kind::string);
  EXPECT_EQ(at(v, "e").str, "127.0.0.1:-1");
  EXPECT_EQ(at(v, "f").type, kind::string);
  EXPECT_EQ(at(v, "f").str, "3secret");
  EXPECT_EQ(at(v, "g").str, "nats://localhost:4222");
}

TEST(conf_syntax, booleans_in_every_spelling) {
  auto v = parse_ok("a: true\nb: FALSE\nc: yes\nd: No\ne: on\nf: off\ng: \"true\"\n");
  EXPECT_TRUE(at(v, "a").boolean);
  EXPECT_FALSE(at(v, "b").boolean);
  EXPECT_TRUE(at(v, "c").boolean);
  EXPECT_FALSE(at(v, "d").boolean);
  EXPECT_TRUE(at(v, "e").boolean);
  EXPECT_FALSE(at(v, "f").boolean);
  for (auto k : {"a", "b", "c", "d", "e", "f"}) EXPECT_EQ(at(v, k).type, kind::boolean) << k;
  EXPECT_EQ(at(v, "g").type, kind::string);  // quoted stays a string
}

TEST(conf_syntax, size_suffixes) {
  auto v = parse_ok(
      "a: 1k\nb: 1kb\nc: 1K\nd: 64KB\ne: 1m\nf: 1MB\ng: 1g\nh: 1GB\ni: 1gib\nj: 2t\nk: 1tb\n"
      "l: 1p\nm: 1pb\nn: 512mib\no: 2ki\np: -1k\n");
  EXPECT_EQ(at(v, "a").integer, 1000);
  EXPECT_EQ(at(v, "b").integer, 1024);
  EXPECT_EQ(at(v, "c").integer, 1000);
  EXPECT_EQ(at(v, "d").integer, 64 * 1024);
  EXPECT_EQ(at(v, "e").integer, 1000 * 1000);
  EXPECT_EQ(at(v, "f").integer, 1024 * 1024);
  EXPECT_EQ(at(v, "g").integer, 1000LL * 1000 * 1000);
  EXPECT_EQ(at(v, "h").integer, 1024LL * 1024 * 1024);
  EXPECT_EQ(at(v, "i").integer, 1024LL * 1024 * 1024);
  EXPECT_EQ(at(v, "j").integer, 2'000'000'000'000LL);
  EXPECT_EQ(at(v, "k").integer, 1LL << 40);
  EXPECT_EQ(at(v, "l").integer, 1'000'000'000'000'000LL);
  EXPECT_EQ(at(v, "m").integer, 1LL << 50);
  EXPECT_EQ(at(v, "n").integer, 512LL * 1024 * 1024);
  EXPECT_EQ(at(v, "o").integer, 2048);
  EXPECT_EQ(at(v, "p").integer, -1000);
}

TEST(conf_syntax, numbers_followed_by_letters_are_strings_durations_stay_strings) {
  auto v = parse_ok("a: 10s\nb: 500ms\nc: \"2m\"\nd: 2m\n");
  EXPECT_EQ(at(v, "a").type, kind::string);
  EXPECT_EQ(at(v, "a").str, "10s");
  EXPECT_EQ(at(v, "b").str, "500ms");
  EXPECT_EQ(at(v, "c").str, "2m");
  // As in nats-server: an unquoted 2m is the integer 2,000,000 (m = mega), not two minutes.
  EXPECT_EQ(at(v, "d").type, kind::integer);
  EXPECT_EQ(at(v, "d").integer, 2'000'000);
}

TEST(conf_syntax, negative_numbers_floats_and_datetimes) {
  auto v = parse_ok("a: -1\nb: 1.5\nc: -0.25\nd: 2024-01-02T03:04:05Z\ne: [1,2]\n");
  EXPECT_EQ(at(v, "a").integer, -1);
  EXPECT_DOUBLE_EQ(at(v, "b").floating, 1.5);
  EXPECT_DOUBLE_EQ(at(v, "c").floating, -0.25);
  EXPECT_EQ(at(v, "d").type, kind::datetime);
  EXPECT_EQ(at(v, "d").str, "2024-01-02T03:04:05Z");
  ASSERT_EQ(at(v, "e").array.size(), 2u);
  EXPECT_EQ(at(v, "e").array[1].type, kind::integer);
}

TEST(conf_syntax, block_strings) {
  auto v = parse_ok("text (\nline one\n  line (two)\n)\nafter: 1\n");
  EXPECT_EQ(at(v, "text").str, "\nline one\n  line (two)");
  EXPECT_EQ(at(v, "after").integer, 1);
}

TEST(conf_syntax, quoted_keys) {
  auto v = parse_ok("\"a key\": 1\n'b': 2\nm { \"x y\": 3, 'z': 4 }\n");
  EXPECT_EQ(at(v, "a key").integer, 1);
  EXPECT_EQ(at(v, "b").integer, 2);
  EXPECT_EQ(at(at(v, "m"), "x y").integer, 3);
  EXPECT_EQ(at(at(v, "m"), "z").integer, 4);
}

TEST(conf_syntax, json_file) {
  auto v = parse_ok(R"({
  "port": 4567,
  "jetstream": {"store_dir": "/tmp/js", "max_memory_store": 1048576},
  "server_tags": ["a", "b"],
  "debug": true
})");
  EXPECT_EQ(at(v, "port").integer, 4567);
  EXPECT_EQ(at(at(v, "jetstream"), "store_dir").str, "/tmp/js");
  EXPECT_EQ(at(v, "server_tags").array.size(), 2u);
  EXPECT_TRUE(at(v, "debug").boolean);
  EXPECT_EQ(v.map.size(), 4u);
  auto w = parse_ok("{\"jetstream\": true}");
  EXPECT_TRUE(at(w, "jetstream").boolean);
}

TEST(conf_syntax, repeated_key_replaces_value) {
  auto v = parse_ok("port: 1\nport: 2\n");
  EXPECT_EQ(v.map.size(), 1u);
  EXPECT_EQ(at(v, "port").integer, 2);
}

TEST(conf_syntax, positions_point_at_the_key) {
  auto v = parse_ok("a: 1\n\n  bb: 2\nm {\n   c: 3\n}\n", "f.conf");
  EXPECT_EQ(at(v, "a").pos.line, 1);
  EXPECT_EQ(at(v, "a").pos.column, 1);
  EXPECT_EQ(at(v, "bb").pos.line, 3);
  EXPECT_EQ(at(v, "bb").pos.column, 3);
  EXPECT_EQ(at(at(v, "m"), "c").pos.str(), "f.conf:5:4");
}

// ---- variables -------------------------------------------------------------------------------

TEST(conf_variables, defined_in_file_and_scoped) {
  auto v = parse_ok(
      "PORT: 4333\n"
      "port: $PORT\n"
      "outer {\n"
      "  NAME: inner_value\n"
      "  x: $NAME\n"
      "  y: $PORT\n"
      "}\n");
  EXPECT_EQ(at(v, "port").integer, 4333);
  EXPECT_EQ(at(v, "port").type, kind::integer);
  EXPECT_EQ(at(at(v, "outer"), "x").str, "inner_value");
  EXPECT_EQ(at(at(v, "outer"), "y").integer, 4333);
  EXPECT_TRUE(at(v, "PORT").used_variable);
  EXPECT_FALSE(at(v, "port").used_variable);
}

TEST(conf_variables, inner_block_shadows_outer) {
  auto v = parse_ok("X: outer\nm { X: inner\n y: $X }\nz: $X\n");
  EXPECT_EQ(at(at(v, "m"), "y").str, "inner");
  EXPECT_EQ(at(v, "z").str, "outer");
}

TEST(conf_variables, environment_fallback_parsed_as_config) {
  ::setenv("JB_CONF_TEST_PORT", "4999", 1);
  ::setenv("JB_CONF_TEST_NAME", "from-env", 1);
  ::setenv("JB_CONF_TEST_SIZE", "2MB", 1);
  auto v = parse_ok("port: $JB_CONF_TEST_PORT\nname: $JB_CONF_TEST_NAME\nsize: $JB_CONF_TEST_SIZE\n");
  EXPECT_EQ(at(v, "port").type, kind::integer);
  EXPECT_EQ(at(v, "port").integer, 4999);
  EXPECT_EQ(at(v, "name").str, "from-env");
  EXPECT_EQ(at(v, "size").integer, 2 * 1024 * 1024);
  ::unsetenv("JB_CONF_TEST_PORT");
  ::unsetenv("JB_CONF_TEST_NAME");
  ::unsetenv("JB_CONF_TEST_SIZE");
}

TEST(conf_variables, file_definition_wins_over_environment) {
  ::setenv("JB_CONF_TEST_BOTH", "env", 1);
  auto v = parse_ok("JB_CONF_TEST_BOTH: file\nx: $JB_CONF_TEST_BOTH\n");
  EXPECT_EQ(at(v, "x").str, "file");
  ::unsetenv("JB_CONF_TEST_BOTH");
}

TEST(conf_variables, missing_variable_is_an_error_with_line) {
  ::unsetenv("JB_CONF_TEST_NOPE");
  EXPECT_EQ(parse_err("a: 1\nb: $JB_CONF_TEST_NOPE\n"), "variable reference for 'JB_CONF_TEST_NOPE' on line 2 can not be found");
}

TEST(conf_variables, environment_self_reference_cycle_is_an_error) {
  ::setenv("JB_CONF_TEST_CYCLE", "$JB_CONF_TEST_CYCLE", 1);
  const std::string e = parse_err("a: $JB_CONF_TEST_CYCLE\n");
  EXPECT_NE(e.find("could not be parsed"), std::string::npos) << e;
  ::unsetenv("JB_CONF_TEST_CYCLE");
}

TEST(conf_variables, bcrypt_hash_is_not_a_variable) {
  auto v = parse_ok("password: $2a$11$W2zko751KUvVy59mUTWmpOdWjpEm5qhcCZRd05GjI/sSOT.xtiHyG\n");
  EXPECT_EQ(at(v, "password").str, "$2a$11$W2zko751KUvVy59mUTWmpOdWjpEm5qhcCZRd05GjI/sSOT.xtiHyG");
}

// ---- includes --------------------------------------------------------------------------------

TEST(conf_include, relative_to_including_file_quoted_and_bare) {
  jb::test::temp_dir dir;
  dir.write("sub/auth.conf", "authorization { token: s3cr3t }\nINC_VAR: 7\n");
  dir.write("sub/limits.conf", "max_payload: 2048\n");
  dir.write("sub/main.conf", "port: 1\ninclude 'auth.conf'\ninclude limits.conf\nx: $INC_VAR\nm {\n  include \"limits.conf\"\n}\n");
  auto r = parse_file(dir.path("sub/main.conf"));
  ASSERT_TRUE(std::holds_alternative<value>(r)) << std::get<parse_error>(r).message;
  const value& v = std::get<value>(r);
  EXPECT_EQ(at(at(v, "authorization"), "token").str, "s3cr3t");
  EXPECT_EQ(at(v, "max_payload").integer, 2048);
  EXPECT_EQ(at(v, "x").integer, 7);
  EXPECT_EQ(at(at(v, "m"), "max_payload").integer, 2048);
  // Positions of included keys name the included file.
  EXPECT_NE(at(v, "max_payload").pos.file.find("limits.conf"), std::string::npos);
}

TEST(conf_include, missing_file_and_errors_inside_are_reported) {
  jb::test::temp_dir dir;
  dir.write("main.conf", "include nope.conf\n");
  auto r = parse_file(dir.path("main.conf"));
  ASSERT_TRUE(std::holds_alternative<parse_error>(r));
  EXPECT_EQ(std::get<parse_error>(r).message.rfind("error parsing include file 'nope.conf', open ", 0), 0u)
      << std::get<parse_error>(r).message;

  dir.write("bad.conf", "a: 1\nb: [1,,2]\n");
  dir.write("main2.conf", "include bad.conf\n");
  auto r2 = parse_file(dir.path("main2.conf"));
  ASSERT_TRUE(std::holds_alternative<parse_error>(r2));
  EXPECT_EQ(std::get<parse_error>(r2).message,
            "error parsing include file 'bad.conf', Parse error on line 2: 'Unexpected array value terminator ','.'");
}

TEST(conf_include, self_include_stops) {
  jb::test::temp_dir dir;
  dir.write("loop.conf", "include loop.conf\n");
  auto r = parse_file(dir.path("loop.conf"));
  ASSERT_TRUE(std::holds_alternative<parse_error>(r));
  EXPECT_NE(std::get<parse_error>(r).message.find("too deep"), std::string::npos);
}

// ---- errors ----------------------------------------------------------------------------------

TEST(conf_errors, parse_error_wording_and_line_numbers) {
  EXPECT_EQ(parse_err("a: 1\nb: 2 3\n"),
            "Parse error on line 2: 'Expected a top-level value to end with a new line, comment or EOF, but got '3' instead.'");
  EXPECT_EQ(parse_err("a {\n  b: 1\n  c: 2 x\n}\n"),
            "Parse error on line 3: 'Expected a map value terminator ',' or a map terminator '}', but got 'x' instead.'");
  EXPECT_EQ(parse_err("a: [1 2]\n"),
            "Parse error on line 1: 'Expected an array value terminator ',' or an array terminator ']', but got '2' instead.'");
  EXPECT_EQ(parse_err("\n\na: \"unterminated\n"), "Parse error on line 4: 'Unexpected EOF.'");
  EXPECT_EQ(parse_err("a: \"bad \\q escape\"\n"),
            "Parse error on line 1: 'Invalid escape character 'q'. Only the following escape characters are allowed: "
            "\\xXX, \\t, \\n, \\r, \\\", \\\\.'");
  EXPECT_EQ(parse_err("a:\n1\n"), "Parse error on line 1: 'Expected value but found new line'");
  EXPECT_EQ(parse_err("a: .5\n"), "Parse error on line 1: 'Floats must start with a digit'");
  EXPECT_EQ(parse_err("= 5\n"), "Parse error on line 1: 'Unexpected key separator '=''");
  EXPECT_EQ(parse_err("m {\n a: 1\n"), "Parse error on line 3: 'Unexpected EOF processing map.'");
  EXPECT_EQ(parse_err("a: 99999999999999999999\n"),
            "Parse error on line 1: 'Value '99999999999999999999' is outside of the integer range'");
  EXPECT_EQ(parse_err("a: 12-01\n"), "Parse error on line 1: 'All ISO8601 dates must be in full Zulu form.'");
}

TEST(conf_errors, key_without_value_at_end) {
  EXPECT_EQ(parse_err("port: 1\nlonely", "x.conf"), "config is invalid (x.conf:2:1)");
}

TEST(conf_errors, unreadable_file) {
  auto r = parse_file("/nonexistent/dir/x.conf");
  ASSERT_TRUE(std::holds_alternative<parse_error>(r));
  EXPECT_EQ(std::get<parse_error>(r).message, "open /nonexistent/dir/x.conf: No such file or directory");
}

// ---- digest ----------------------------------------------------------------------------------

TEST(conf_digest, sha256_known_vectors) {
  EXPECT_EQ(jb::config::conf::sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(jb::config::conf::sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(jb::config::conf::sha256_hex(std::string(1000, 'a')),
            "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3");
}

TEST(conf_digest, order_insensitive_and_skips_used_variables) {
  auto a = parse_ok("port: 1\nname: x\n");
  auto b = parse_ok("name: x\nport: 1\n");
  auto c = parse_ok("V: x\nname: $V\nport: 1\n");
  auto d = parse_ok("name: y\nport: 1\n");
  EXPECT_EQ(jb::config::conf::digest(a), jb::config::conf::digest(b));
  EXPECT_EQ(jb::config::conf::digest(a), jb::config::conf::digest(c));
  EXPECT_NE(jb::config::conf::digest(a), jb::config::conf::digest(d));
  // Go's encoding/json of {"name":"x","port":1} plus a newline.
  EXPECT_EQ(jb::config::conf::digest(a), "sha256:" + jb::config::conf::sha256_hex("{\"name\":\"x\",\"port\":1}\n"));
}

}  // namespace
