// The consumer column family's memtable representation (storage/append_memtable.cpp) against a
// reference: RocksDB's internal-key order (user key bytewise, then sequence/type tag descending),
// computed here from the same entries with a plain comparator.
#include "storage/append_memtable.hpp"

#include <gtest/gtest.h>
#include <rocksdb/slice.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

namespace {

using jb::storage::detail::append_memtable_factory;

void put_varint32(std::string& out, std::uint32_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>(v | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

// An entry as RocksDB lays it out: varint32 length, user key + 8-byte little-endian tag,
// varint32 length, value.
std::string make_entry(const std::string& ukey, std::uint64_t tag, const std::string& value) {
  std::string e;
  put_varint32(e, static_cast<std::uint32_t>(ukey.size() + 8));
  e += ukey;
  for (int i = 0; i < 8; ++i) e.push_back(static_cast<char>((tag >> (8 * i)) & 0xff));
  put_varint32(e, static_cast<std::uint32_t>(value.size()));
  e += value;
  return e;
}

struct decoded {
  std::string ukey;
  std::uint64_t tag;
};

decoded decode(const rocksdb::Slice& ikey) {
  decoded d{std::string(ikey.data(), ikey.size() - 8), 0};
  for (int i = 7; i >= 0; --i) d.tag = (d.tag << 8) | static_cast<unsigned char>(ikey.data()[ikey.size() - 8 + i]);
  return d;
}

int compare_ikeys(const rocksdb::Slice& a, const rocksdb::Slice& b) {
  const auto da = decode(a);
  const auto db = decode(b);
  if (const int c = da.ukey.compare(db.ukey); c != 0) return c < 0 ? -1 : 1;
  if (da.tag == db.tag) return 0;
  return da.tag > db.tag ? -1 : 1;
}

// The reference comparator, with the interface RocksDB hands a memtable representation.
class ref_cmp final : public rocksdb::MemTableRep::KeyComparator {
 public:
  int operator()(const char* a, const char* b) const override {
    return compare_ikeys(rocksdb::GetLengthPrefixedSlice(a), rocksdb::GetLengthPrefixedSlice(b));
  }
  int operator()(const char* a, const rocksdb::Slice& key) const override {
    return compare_ikeys(rocksdb::GetLengthPrefixedSlice(a), key);
  }
};

rocksdb::Slice ikey_of(const char* entry) { return rocksdb::GetLengthPrefixedSlice(entry); }

class append_memtable_test : public ::testing::Test {
 protected:
  void SetUp() override {
    rep_.reset(factory_.CreateMemTableRep(cmp_, nullptr, nullptr, nullptr));
    ASSERT_NE(rep_, nullptr);
  }

  const char* insert(const std::string& ukey, std::uint64_t tag, const std::string& value = "v") {
    storage_.push_back(std::make_unique<std::string>(make_entry(ukey, tag, value)));
    const char* e = storage_.back()->data();
    rep_->Insert(const_cast<char*>(e));
    inserted_.push_back(e);
    return e;
  }

  std::vector<const char*> expected() const {
    auto v = inserted_;
    std::sort(v.begin(), v.end(), [&](const char* a, const char* b) { return cmp_(a, b) < 0; });
    return v;
  }

  static std::vector<const char*> scan(rocksdb::MemTableRep::Iterator* it) {
    std::vector<const char*> out;
    for (it->SeekToFirst(); it->Valid(); it->Next()) out.push_back(it->key());
    return out;
  }

  ref_cmp cmp_;
  append_memtable_factory factory_;
  std::unique_ptr<rocksdb::MemTableRep> rep_;
  std::vector<std::unique_ptr<std::string>> storage_;
  std::vector<const char*> inserted_;
};

std::string random_key(std::mt19937_64& rng) {
  // Short keys and a small alphabet, so prefixes and ties are common; lengths cross the 24 bytes
  // the representation compares as words.
  std::uniform_int_distribution<int> len(0, 40);
  std::uniform_int_distribution<int> byte(0, 3);
  std::string k(static_cast<std::size_t>(len(rng)), '\0');
  for (auto& c : k) c = static_cast<char>(byte(rng) == 3 ? 0xff : byte(rng));
  // Half of them behind one 22-byte prefix, so keys longer than 24 bytes often tie on the words.
  if (rng() % 2 == 0) k.insert(0, std::string(22, '\x01'));
  return k;
}

TEST_F(append_memtable_test, iterates_in_internal_key_order) {
  std::mt19937_64 rng(7);
  std::uint64_t tag = 1;
  for (int i = 0; i < 5000; ++i) insert(random_key(rng), (tag++ << 8) | (rng() & 1));
  std::unique_ptr<rocksdb::MemTableRep::Iterator> it(rep_->GetIterator(nullptr));
  EXPECT_EQ(scan(it.get()), expected());
}

TEST_F(append_memtable_test, same_user_key_newest_first) {
  insert("k", (5u << 8) | 1);
  insert("k", (9u << 8) | 1);
  insert("k", (7u << 8) | 0);
  insert("j", (1u << 8) | 1);
  std::unique_ptr<rocksdb::MemTableRep::Iterator> it(rep_->GetIterator(nullptr));
  std::vector<std::uint64_t> seqs;
  for (it->SeekToFirst(); it->Valid(); it->Next()) seqs.push_back(decode(ikey_of(it->key())).tag >> 8);
  EXPECT_EQ(seqs, (std::vector<std::uint64_t>{1, 9, 7, 5}));
}

TEST_F(append_memtable_test, seek_and_seek_for_prev_match_bounds) {
  std::mt19937_64 rng(11);
  std::uint64_t tag = 1;
  for (int i = 0; i < 2000; ++i) insert(random_key(rng), tag++ << 8);
  const auto sorted = expected();
  std::unique_ptr<rocksdb::MemTableRep::Iterator> it(rep_->GetIterator(nullptr));
  for (int i = 0; i < 500; ++i) {
    const std::string target = make_entry(random_key(rng), (rng() % (tag + 2)) << 8, "");
    const rocksdb::Slice ikey = ikey_of(target.data());
    auto lo = std::partition_point(sorted.begin(), sorted.end(), [&](const char* e) { return cmp_(e, ikey) < 0; });
    auto hi = std::partition_point(sorted.begin(), sorted.end(), [&](const char* e) { return cmp_(e, ikey) <= 0; });
    for (const char* mkey : {static_cast<const char*>(nullptr), target.data()}) {
      it->Seek(ikey, mkey);
      if (lo == sorted.end()) {
        EXPECT_FALSE(it->Valid());
      } else {
        ASSERT_TRUE(it->Valid());
        EXPECT_EQ(it->key(), *lo);
      }
      it->SeekForPrev(ikey, mkey);
      if (hi == sorted.begin()) {
        EXPECT_FALSE(it->Valid());
      } else {
        ASSERT_TRUE(it->Valid());
        EXPECT_EQ(it->key(), *(hi - 1));
      }
    }
  }
}

TEST_F(append_memtable_test, prev_last_and_empty) {
  {
    std::unique_ptr<rocksdb::MemTableRep::Iterator> it(rep_->GetIterator(nullptr));
    it->SeekToFirst();
    EXPECT_FALSE(it->Valid());
    it->SeekToLast();
    EXPECT_FALSE(it->Valid());
  }
  insert("b", 2u << 8);
  insert("a", 1u << 8);
  insert("c", 3u << 8);
  std::unique_ptr<rocksdb::MemTableRep::Iterator> it(rep_->GetIterator(nullptr));
  std::vector<std::string> back;
  for (it->SeekToLast(); it->Valid(); it->Prev()) back.push_back(decode(ikey_of(it->key())).ukey);
  EXPECT_EQ(back, (std::vector<std::string>{"c", "b", "a"}));
}

TEST_F(append_memtable_test, iterators_see_entries_inserted_before_them_only) {
  insert("m", 1u << 8);
  std::unique_ptr<rocksdb::MemTableRep::Iterator> before(rep_->GetIterator(nullptr));
  insert("a", 2u << 8);
  insert("z", 3u << 8);
  std::unique_ptr<rocksdb::MemTableRep::Iterator> after(rep_->GetIterator(nullptr));
  EXPECT_EQ(scan(before.get()).size(), 1u);
  EXPECT_EQ(scan(after.get()), expected());
  EXPECT_TRUE(rep_->Contains(inserted_[1]));
  const std::string absent = make_entry("q", 9u << 8, "");
  EXPECT_FALSE(rep_->Contains(absent.data()));
}

TEST_F(append_memtable_test, read_only_memory_use_never_grows) {
  std::mt19937_64 rng(3);
  for (std::uint64_t i = 1; i <= 3000; ++i) insert(random_key(rng), i << 8);
  {
    std::unique_ptr<rocksdb::MemTableRep::Iterator> it(rep_->GetIterator(nullptr));  // a sort while writable
  }
  for (std::uint64_t i = 3001; i <= 3100; ++i) insert(random_key(rng), i << 8);
  rep_->MarkReadOnly();
  const std::size_t at_switch = rep_->ApproximateMemoryUsage();
  for (int i = 0; i < 3; ++i) {
    std::unique_ptr<rocksdb::MemTableRep::Iterator> it(rep_->GetIterator(nullptr));
    EXPECT_EQ(scan(it.get()), expected());
    EXPECT_LE(rep_->ApproximateMemoryUsage(), at_switch);
  }
}

}  // namespace
