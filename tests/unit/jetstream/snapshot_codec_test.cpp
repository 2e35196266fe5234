// snapshot_codec: Snappy framing, tar entries and message records of stream snapshots.
#include "server/jetstream/snapshot_codec.hpp"

#include <gtest/gtest.h>

#include <random>
#include <vector>

namespace jb::jetstream::snapshot {
namespace {

struct entry {
  std::string name, data;
  bool operator==(const entry&) const = default;
};

std::string archive(const std::vector<entry>& entries) {
  std::string tar;
  for (const auto& e : entries) tar += tar_header(e.name, e.data.size(), 1796645000) + e.data + tar_padding(e.data.size());
  return tar + tar_end();
}

std::string frame(std::string_view plain, std::size_t piece) {
  frame_writer w;
  for (std::size_t i = 0; i < plain.size(); i += piece) w.write(plain.substr(i, piece));
  w.finish();
  std::string out;
  while (w.ready()) out += w.take(1000);
  return out;
}

// Decodes `framed` fed in pieces of `piece` bytes; the error of the first step that fails.
std::optional<std::string> decode(std::string_view framed, std::size_t piece, std::vector<entry>& got) {
  frame_reader fr;
  tar_reader tr([&](std::string_view n, std::string_view d) -> std::optional<std::string> {
    got.push_back({std::string(n), std::string(d)});
    return std::nullopt;
  });
  for (std::size_t i = 0; i < framed.size(); i += piece) {
    std::string plain;
    if (auto e = fr.feed(framed.substr(i, piece), plain)) return e;
    if (auto e = tr.feed(plain)) return e;
  }
  if (auto e = fr.finish()) return e;
  return tr.finish();
}

std::vector<entry> sample() {
  std::mt19937 rng(7);
  std::string random(200000, '\0');
  for (auto& c : random) c = static_cast<char>(rng());
  return {{"stream.json", R"({"format":"x"})"},
          {"msgs/00000001", std::string(150000, 'a')},  // compresses
          {"msgs/00000002", random},                     // does not: stored blocks
          {"empty", ""},
          {"consumers/C.json", std::string(511, 'c')}};
}

TEST(snapshot_codec, archive_round_trips_through_framing_in_any_pieces) {
  const auto entries = sample();
  const std::string plain = archive(entries);
  for (std::size_t wpiece : {1u, 7u, 4096u, 65536u, 65537u, 1000000u}) {
    const std::string framed = frame(plain, wpiece);
    ASSERT_LT(framed.size(), plain.size()) << "the repeated entry compresses";
    for (std::size_t rpiece : {1u, 3u, 4096u, 70000u, 10000000u}) {
      std::vector<entry> got;
      ASSERT_EQ(decode(framed, rpiece, got), std::nullopt) << wpiece << "/" << rpiece;
      ASSERT_EQ(got, entries);
    }
  }
}

TEST(snapshot_codec, framing_starts_with_the_snappy_stream_identifier) {
  const std::string framed = frame("abc", 3);
  EXPECT_EQ(framed.substr(0, 10), std::string("\xff\x06\x00\x00sNaPpY", 10));
}

TEST(snapshot_codec, a_changed_byte_never_decodes_to_other_data) {
  const std::string framed = frame(archive(sample()), 65536);
  // Positions over the whole stream: a flipped byte is an error (identifier, chunk header,
  // checksum, compressed body), or it decodes to exactly the original (a copy offset changed
  // inside a run of equal bytes copies the same bytes): never to different entries.
  std::size_t errors = 0, tried = 0;
  for (std::size_t pos = 0; pos < framed.size(); pos += 37, ++tried) {
    std::string bad = framed;
    bad[pos] = static_cast<char>(bad[pos] ^ 0x20);
    std::vector<entry> got;
    if (decode(bad, 4096, got)) ++errors;
    else EXPECT_EQ(got, sample()) << "flipping byte " << pos << " changed the data unnoticed";
  }
  EXPECT_GT(errors, tried * 9 / 10);
}

TEST(snapshot_codec, truncation_and_foreign_input_are_errors) {
  const std::string framed = frame(archive(sample()), 65536);
  for (std::size_t len : {std::size_t{0}, std::size_t{5}, std::size_t{10}, framed.size() / 2, framed.size() - 1}) {
    std::vector<entry> got;
    EXPECT_NE(decode(framed.substr(0, len), 4096, got), std::nullopt) << len;
  }
  std::vector<entry> got;
  auto e = decode("hello world, not a snapshot", 100, got);
  ASSERT_TRUE(e);
  EXPECT_NE(e->find("not a Snappy/S2 stream"), std::string::npos) << *e;
  // An S2 stream identifier (what nats-server's snapshots start with) is named as such.
  e = decode(std::string("\xff\x06\x00\x00S2sTwO", 10) + "rest", 100, got);
  ASSERT_TRUE(e);
  EXPECT_NE(e->find("nats-server"), std::string::npos) << *e;
}

TEST(snapshot_codec, tar_reader_refuses_a_bad_header_and_an_oversized_entry) {
  std::string tar = archive({{"a", "xyz"}});
  tar[10] ^= 1;  // the name changes under the checksum
  tar_reader r([](std::string_view, std::string_view) { return std::optional<std::string>(); });
  EXPECT_TRUE(r.feed(tar));
  tar_reader small([](std::string_view, std::string_view) { return std::optional<std::string>(); }, 100);
  EXPECT_TRUE(small.feed(archive({{"big", std::string(101, 'x')}})));
  tar_reader stop([](std::string_view n, std::string_view) { return std::optional<std::string>("stop at " + std::string(n)); });
  EXPECT_EQ(stop.feed(archive({{"first", "1"}, {"second", "2"}})), "stop at first");
  tar_reader open([](std::string_view, std::string_view) { return std::optional<std::string>(); });
  EXPECT_EQ(open.feed(tar_header("a", 3, 0) + "xyz" + tar_padding(3)), std::nullopt);
  EXPECT_TRUE(open.finish()) << "no end blocks: incomplete";
}

TEST(snapshot_codec, records_round_trip_and_a_cut_record_is_not_read) {
  std::string buf;
  append_record(buf, {1, 100, 0, "a.b", "", "data"});
  append_record(buf, {7, -5, 9'000'000'000'000'000'000LL, "x", "NATS/1.0\r\nK: v\r\n\r\n", std::string(70000, 'z')});
  append_record(buf, {8, 0, 0, "y", "", ""});
  std::size_t pos = 0;
  auto a = read_record(buf, pos);
  auto b = read_record(buf, pos);
  auto c = read_record(buf, pos);
  ASSERT_TRUE(a && b && c);
  EXPECT_EQ(pos, buf.size());
  EXPECT_EQ(a->seq, 1u);
  EXPECT_EQ(a->subject, "a.b");
  EXPECT_EQ(a->data, "data");
  EXPECT_EQ(b->ts, -5);
  EXPECT_EQ(b->expires, 9'000'000'000'000'000'000LL);
  EXPECT_EQ(b->hdr, "NATS/1.0\r\nK: v\r\n\r\n");
  EXPECT_EQ(b->data.size(), 70000u);
  EXPECT_EQ(c->seq, 8u);
  EXPECT_TRUE(c->data.empty());
  for (std::size_t cut = 1; cut < 40; ++cut) {
    std::size_t p = 0;
    EXPECT_FALSE(read_record(std::string_view(buf).substr(0, cut), p)) << cut;
    EXPECT_EQ(p, 0u);
  }
  // Missing its last byte, the buffer yields the first two records and not the third.
  const std::string_view cut = std::string_view(buf).substr(0, buf.size() - 1);
  std::size_t p = 0;
  EXPECT_TRUE(read_record(cut, p));
  EXPECT_TRUE(read_record(cut, p));
  const std::size_t before = p;
  EXPECT_FALSE(read_record(cut, p));
  EXPECT_EQ(p, before);
}

}  // namespace
}  // namespace jb::jetstream::snapshot
