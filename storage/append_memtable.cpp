#include "storage/append_memtable.hpp"

#include <rocksdb/slice.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <new>
#include <utility>
#include <vector>

namespace jb::storage::detail {
namespace {

using entries = std::vector<const char*>;

// A memtable entry is varint32 length, internal key (user key + 8-byte little-endian
// sequence/type tag), varint32 length, value (the layout RocksDB documents as frozen).
struct sort_rec {
  std::uint64_t w[3];     // user-key bytes 0..23, big-endian, zero-padded
  std::uint64_t inv_tag;  // ~tag: internal keys order equal user keys by descending tag
  std::uint32_t ulen;
  const char* ukey;
  const char* entry;
};

std::uint64_t be_word(const char* p, std::size_t avail) {
  unsigned char b[8] = {};
  std::memcpy(b, p, std::min<std::size_t>(avail, 8));
  std::uint64_t v = 0;
  for (unsigned char c : b) v = (v << 8) | c;
  return v;
}

std::uint64_t le64(const char* p) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

sort_rec make_rec(const char* entry) {
  const rocksdb::Slice ikey = rocksdb::GetLengthPrefixedSlice(entry);
  sort_rec r{};
  r.entry = entry;
  r.ukey = ikey.data();
  const std::size_t ulen = ikey.size() >= 8 ? ikey.size() - 8 : 0;
  r.ulen = static_cast<std::uint32_t>(ulen);
  for (std::size_t i = 0; i < 3; ++i) r.w[i] = i * 8 < ulen ? be_word(r.ukey + i * 8, ulen - i * 8) : 0;
  r.inv_tag = ikey.size() >= 8 ? ~le64(ikey.data() + ulen) : ~std::uint64_t{0};
  return r;
}

// Bytewise user-key order, then descending tag: RocksDB's internal-key order under the default
// comparator.
bool rec_less(const sort_rec& a, const sort_rec& b) {
  for (std::size_t i = 0; i < 3; ++i) {
    if (a.w[i] != b.w[i]) return a.w[i] < b.w[i];
  }
  if (a.ulen > 24 && b.ulen > 24) {
    const int c = std::memcmp(a.ukey + 24, b.ukey + 24, std::min(a.ulen, b.ulen) - 24);
    if (c != 0) return c < 0;
  }
  if (a.ulen != b.ulen) return a.ulen < b.ulen;
  return a.inv_tag < b.inv_tag;
}

std::shared_ptr<const entries> sort_entries(const entries& in) {
  std::vector<sort_rec> recs;
  recs.reserve(in.size());
  bool sorted = true;
  for (const char* e : in) {
    recs.push_back(make_rec(e));
    if (sorted && recs.size() > 1 && rec_less(recs.back(), recs[recs.size() - 2])) sorted = false;
  }
  if (!sorted) std::sort(recs.begin(), recs.end(), rec_less);
  auto out = std::make_shared<entries>();
  out->reserve(recs.size());
  for (const auto& r : recs) out->push_back(r.entry);
  return out;
}

class sorted_iter final : public rocksdb::MemTableRep::Iterator {
 public:
  sorted_iter(const rocksdb::MemTableRep::KeyComparator& cmp, std::shared_ptr<const entries> v)
      : cmp_(cmp), v_(std::move(v)), i_(v_->size()) {}

  // The memory belongs to the memtable rep (append_rep::GetIterator).
  static void operator delete(void*) noexcept {}

  bool Valid() const override { return i_ < v_->size(); }
  const char* key() const override { return (*v_)[i_]; }
  void Next() override { ++i_; }
  void Prev() override { i_ = i_ == 0 ? v_->size() : i_ - 1; }
  void Seek(const rocksdb::Slice& ikey, const char* mkey) override { i_ = lower(ikey, mkey); }
  void SeekForPrev(const rocksdb::Slice& ikey, const char* mkey) override {
    // The last entry <= target: step back from the first entry > target.
    const auto& v = *v_;
    auto it = std::partition_point(v.begin(), v.end(), [&](const char* e) { return compare(e, ikey, mkey) <= 0; });
    i_ = it == v.begin() ? v.size() : static_cast<std::size_t>(it - v.begin()) - 1;
  }
  void SeekToFirst() override { i_ = 0; }
  void SeekToLast() override { i_ = v_->empty() ? 0 : v_->size() - 1; }

 private:
  int compare(const char* e, const rocksdb::Slice& ikey, const char* mkey) const {
    return mkey != nullptr ? cmp_(e, mkey) : cmp_(e, ikey);
  }
  std::size_t lower(const rocksdb::Slice& ikey, const char* mkey) const {
    const auto& v = *v_;
    auto it = std::partition_point(v.begin(), v.end(), [&](const char* e) { return compare(e, ikey, mkey) < 0; });
    return static_cast<std::size_t>(it - v.begin());
  }

  const rocksdb::MemTableRep::KeyComparator& cmp_;
  std::shared_ptr<const entries> v_;
  std::size_t i_;
};

class append_rep final : public rocksdb::MemTableRep {
 public:
  append_rep(const KeyComparator& cmp, rocksdb::Allocator* alloc) : MemTableRep(alloc), cmp_(cmp) {
    entries_.reserve(1024);
  }

  void Insert(rocksdb::KeyHandle handle) override {
    std::lock_guard lock(mu_);
    entries_.push_back(static_cast<const char*>(handle));
    ++count_;
  }

  bool Contains(const char* key) const override {
    const auto v = snapshot();
    auto it = std::partition_point(v->begin(), v->end(), [&](const char* e) { return cmp_(e, key) < 0; });
    return it != v->end() && cmp_(*it, key) == 0;
  }

  void MarkReadOnly() override {
    std::lock_guard lock(mu_);
    read_only_ = true;
  }

  // RocksDB requires this not to grow once the memtable is immutable (it subtracts the value from
  // the immutable list's total when the memtable goes): a read-only memtable, once sorted, keeps
  // only the sorted copy, never larger than the insertion-order array it replaces.
  std::size_t ApproximateMemoryUsage() override {
    std::lock_guard lock(mu_);
    return sizeof(*this) + (entries_.capacity() + (sorted_ ? sorted_->capacity() : 0)) * sizeof(const char*);
  }

  Iterator* GetIterator(rocksdb::Arena* /*arena*/) override {
    auto v = snapshot();
    // Not placed in the caller's arena (its type is internal to RocksDB): the rep owns the
    // iterator's memory and frees it with the memtable, which outlives its iterators; `delete`
    // (RocksDB's non-arena mode) only runs the destructor. A few dozen bytes per iterator; this
    // memtable is iterated when a consumer is opened and when it is flushed, nothing else.
    auto block = std::make_unique<iter_block>();
    auto* it = new (block->bytes) sorted_iter(cmp_, std::move(v));
    std::lock_guard lock(mu_);
    blocks_.push_back(std::move(block));
    return it;
  }

 private:
  struct iter_block {
    alignas(sorted_iter) unsigned char bytes[sizeof(sorted_iter)];
  };

  // The entries in key order: the cached order while nothing was inserted since it was computed,
  // else a new sort of a copy (taken under the lock, sorted outside it, so inserts do not wait).
  std::shared_ptr<const entries> snapshot() const {
    entries copy;
    {
      std::lock_guard lock(mu_);
      if (sorted_ && sorted_->size() == count_) return sorted_;
      copy = entries_;
    }
    auto s = sort_entries(copy);
    std::lock_guard lock(mu_);
    if (!sorted_ || sorted_->size() < s->size()) sorted_ = s;
    if (read_only_ && sorted_->size() == count_) entries{}.swap(entries_);  // the sorted copy is all
    return s;
  }

  const KeyComparator& cmp_;
  mutable std::mutex mu_;
  mutable entries entries_;  // insertion order (released once a read-only memtable is sorted)
  std::size_t count_ = 0;    // entries inserted
  bool read_only_ = false;
  mutable std::shared_ptr<const entries> sorted_;  // the first sorted_->size() entries, in key order
  std::vector<std::unique_ptr<iter_block>> blocks_;
};

}  // namespace

rocksdb::MemTableRep* append_memtable_factory::CreateMemTableRep(const rocksdb::MemTableRep::KeyComparator& cmp,
                                                                 rocksdb::Allocator* alloc,
                                                                 const rocksdb::SliceTransform* /*transform*/,
                                                                 rocksdb::Logger* /*logger*/) {
  return new append_rep(cmp, alloc);
}

}  // namespace jb::storage::detail
