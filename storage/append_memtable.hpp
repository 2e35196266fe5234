#pragma once
// The memtable of the consumer column family: an append-only array, sorted when read.
//
// Consumer state is written on every delivery and ack and read only when a consumer is opened
// (and when the memtable is flushed), so inserts must be O(1) and reads may pay for a sort.
// RocksDB's own VectorRep does that, but sorts with the memtable's comparator through pointers into
// the arena (a cache miss and a virtual call per comparison) and sorts again for every iterator over
// the active memtable. After a kill -9 the write-ahead log can hold a few hundred thousand consumer
// records, and each consumer restored from it opened one such iterator: the sort was most of a
// restart with pending acks (docs/storage.md, "Consumer memtable").
//
// This representation:
// - sorts compact records (the first 24 user-key bytes as three big-endian words, the length and the
//   sequence/type tag) instead of pointers, falling back to byte comparison only for longer keys;
// - keeps the sorted order and reuses it for every iterator until something new is inserted, so the
//   consumers restored after a restart share one sort.
//
// It relies on the column family using RocksDB's default bytewise comparator (the cons CF does).
#include <rocksdb/memtablerep.h>

#include <memory>

namespace jb::storage::detail {

class append_memtable_factory final : public rocksdb::MemTableRepFactory {
 public:
  rocksdb::MemTableRep* CreateMemTableRep(const rocksdb::MemTableRep::KeyComparator& cmp, rocksdb::Allocator* alloc,
                                          const rocksdb::SliceTransform* transform, rocksdb::Logger* logger) override;
  const char* Name() const override { return "JetbrokerAppendMemtable"; }
};

}  // namespace jb::storage::detail
