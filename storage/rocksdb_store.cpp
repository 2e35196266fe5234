#include "storage/rocksdb_store.hpp"

#include "storage/append_memtable.hpp"
#include "storage/deferred_sync_fs.hpp"
#include "storage/key_codec.hpp"
#include "storage/logger.hpp"
#include "storage/memory_store.hpp"

#include <rocksdb/db.h>
#include <rocksdb/env.h>
#include <rocksdb/memtablerep.h>
#include <rocksdb/options.h>
#include <rocksdb/table.h>
#include <rocksdb/utilities/table_properties_collectors.h>
#include <rocksdb/write_batch.h>

#include <boost/unordered/unordered_flat_map.hpp>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <fstream>
#include <limits>
#include <stop_token>
#include <thread>
#include <unordered_map>
#include <utility>

namespace jb::storage {

namespace cdc = codec;

namespace detail {

// An exclusive flock(2) on the store directory for the life of the environment: a second process
// on the same directory is refused before it looks at (or repairs) anything in it.
struct dir_lock {
  int fd = -1;
  dir_lock() = default;
  explicit dir_lock(int f) : fd(f) {}
  dir_lock(dir_lock&& o) noexcept : fd(std::exchange(o.fd, -1)) {}
  dir_lock& operator=(dir_lock&& o) noexcept {
    std::swap(fd, o.fd);
    return *this;
  }
  ~dir_lock() {
    if (fd >= 0) ::close(fd);
  }
};

struct db_ctx {
  dir_lock lock;  // first: released after everything else is closed
  // Declared before `db`, so they outlive it.
  std::shared_ptr<deferred_sync_fs> fs;
  std::unique_ptr<rocksdb::Env> env;
  std::unique_ptr<rocksdb::DB> db;
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::ColumnFamilyHandle* meta = nullptr;
  rocksdb::ColumnFamilyHandle* msgs = nullptr;
  rocksdb::ColumnFamilyHandle* subj = nullptr;
  rocksdb::ColumnFamilyHandle* ttl = nullptr;
  rocksdb::ColumnFamilyHandle* cons = nullptr;
  rocksdb::WriteOptions wo;         // per the sync policy
  rocksdb::WriteOptions wo_sync;    // catalog changes: always fsynced
  rocksdb::WriteOptions wo_append;  // appends: wo, or no fsync when the sync thread follows up
  bool async_append_sync = false;
  // The sync thread of the pipelined group commit (sync_wal_async): each round takes every
  // waiting request, fsyncs the WAL once and answers them in order.
  std::mutex ws_mu;
  std::condition_variable_any ws_cv;
  std::vector<std::function<void(result<void>)>> ws_waiting;
  std::jthread ws_thread;
  // Deferred consumer-state writes (see store_env::begin_deferred): the latest operation per
  // consumer record since the last commit, written as one batch. Only touched from the executor
  // that owns the consumer stores. A record put and deleted again before the commit (a pending
  // entry whose message was acked in time) never reaches the database. Records are kept as numbers
  // in a flat table (no allocation per record, which was the top item of an ack-heavy profile) and
  // encoded only when committed: key id(8) tag [seq(8)], value up to four u64s (docs/storage.md).
  struct deferred_key {
    std::uint64_t cid = 0;
    std::uint64_t seq = 0;  // 0 for the tag-only 'a' record
    char tag = 0;
    bool operator==(const deferred_key&) const = default;
  };
  struct deferred_key_hash {
    std::size_t operator()(const deferred_key& k) const noexcept {
      return static_cast<std::size_t>((k.cid * 0x9E3779B97F4A7C15ULL) ^ (k.seq * 0xC2B2AE3D27D4EB4FULL) ^
                                      static_cast<unsigned char>(k.tag));
    }
  };
  struct deferred_op {
    bool del = false;
    bool fresh = false;  // a put of a key the database does not hold: a later delete cancels it
    std::uint8_t n = 0;  // number of values
    std::array<std::uint64_t, 4> v{};
  };
  bool deferring = false;
  boost::unordered_flat_map<deferred_key, deferred_op, deferred_key_hash> deferred;
  std::vector<std::uint64_t> deferred_ranges;  // consumers whose p..r records are range-deleted first

  void defer_put(const deferred_key& key, std::initializer_list<std::uint64_t> values, bool fresh) {
    auto [it, added] = deferred.try_emplace(key);
    // On top of a deferred delete the database may still hold the key: not fresh.
    if (added) it->second.fresh = fresh;
    else if (it->second.del) it->second.fresh = false;
    it->second.del = false;
    it->second.n = static_cast<std::uint8_t>(values.size());
    std::copy(values.begin(), values.end(), it->second.v.begin());
  }
  void defer_delete(const deferred_key& key) {
    auto [it, added] = deferred.try_emplace(key);
    if (!added && it->second.fresh && !it->second.del) {
      deferred.erase(it);
      return;
    }
    it->second = deferred_op{true, false, 0, {}};
  }
  // A full rewrite of a consumer's pending and redelivery records: drop what is deferred for them
  // and delete the range first at the commit.
  void defer_rewrite(std::uint64_t cid) {
    boost::unordered::erase_if(deferred, [&](const auto& e) {
      return e.first.cid == cid && e.first.tag >= 'p' && e.first.tag < 's';
    });
    deferred_ranges.push_back(cid);
  }
  // A deleted consumer's deferred updates must not be written after its deletion.
  void drop_consumer_deferred(std::uint64_t cid) {
    boost::unordered::erase_if(deferred, [&](const auto& e) { return e.first.cid == cid; });
    std::erase(deferred_ranges, cid);
  }
  static std::string_view encode_key(const deferred_key& k, std::array<char, 17>& b) {
    std::size_t n = 0;
    const auto put = [&](std::uint64_t x) {
      for (int i = 7; i >= 0; --i) b[n + static_cast<std::size_t>(i)] = static_cast<char>(x & 0xff), x >>= 8;
      n += 8;
    };
    put(k.cid);
    b[n++] = k.tag;
    if (k.tag != 'a') put(k.seq);
    return {b.data(), n};
  }
  static std::string_view encode_value(const deferred_op& op, std::array<char, 32>& b) {
    for (std::size_t j = 0; j < op.n; ++j) {
      std::uint64_t x = op.v[j];
      for (int i = 7; i >= 0; --i) b[j * 8 + static_cast<std::size_t>(i)] = static_cast<char>(x & 0xff), x >>= 8;
    }
    return {b.data(), std::size_t{op.n} * 8};
  }
  std::mutex sync_mu;
  std::condition_variable_any sync_cv;
  std::jthread syncer;

  ~db_ctx() {
    if (syncer.joinable()) {
      syncer.request_stop();
      syncer.join();
    }
    if (ws_thread.joinable()) {
      ws_thread.request_stop();
      ws_thread.join();  // requests still waiting are dropped unanswered: the server is stopping
    }
    if (db) {
      for (auto* h : handles) ignore_status(db->DestroyColumnFamilyHandle(h));
      ignore_status(db->Close());
    }
  }
  static void ignore_status(const rocksdb::Status&) {}
};

}  // namespace detail

namespace {

constexpr std::string_view marker_name = "JETBROKER_STORE";
// Written first when a store is created; JETBROKER_STORE takes its place once the new database is
// durable (see rocksdb_env::open). Alone next to `db/`, it means a creation was cut short.
constexpr std::string_view creating_name = "JETBROKER_STORE.new";
// Format 2: the subject index holds runs of sequences (format 1: one entry per message, which
// format 2 reads as runs of one, so a format 1 store is upgraded by rewriting its marker).
constexpr std::string_view marker_text = "jetbroker store format 2\n";
constexpr std::string_view marker_text_v1 = "jetbroker store format 1\n";
// The new marker while an upgrade replaces the old one (a leftover is removed on open).
constexpr std::string_view upgrading_name = "JETBROKER_STORE.upgrade";
constexpr std::size_t point_delete_limit = 32;  // above this, removals use DeleteRange
constexpr std::size_t probe_scan_limit = 256;   // wildcard lookups scan this far before probing subjects
constexpr stream_seq max_seq = std::numeric_limits<stream_seq>::max();

errc errc_of(const rocksdb::Status& s) { return s.IsCorruption() ? errc::store_corrupt : errc::io_error; }

result<void> check(const rocksdb::Status& s, std::string_view what) {
  if (s.ok()) return {};
  logger()->error("rocksdb {} failed: {}", what, s.ToString());
  return errc_of(s);
}

// An iterator with its bounds kept alive beside it.
class bounded_iter {
 public:
  bounded_iter(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* cf, std::string lo, std::string hi)
      : lo_(std::move(lo)), hi_(std::move(hi)), slo_(lo_), shi_(hi_) {
    rocksdb::ReadOptions ro;
    ro.iterate_lower_bound = &slo_;
    ro.iterate_upper_bound = &shi_;
    it_.reset(db->NewIterator(ro, cf));
  }
  rocksdb::Iterator* operator->() const { return it_.get(); }
  const std::string& lo() const { return lo_; }

 private:
  std::string lo_, hi_;
  rocksdb::Slice slo_, shi_;
  std::unique_ptr<rocksdb::Iterator> it_;
};

std::string_view sv(const rocksdb::Slice& s) { return {s.data(), s.size()}; }

std::uint64_t msg_size(const cdc::msg_view& m) {
  return file_store_msg_size(m.subject.size(), m.hdr.size(), m.data.size());
}

// Persisted per-stream summary: meta 'T'+id.
struct persisted_state {
  stream_seq floor = 0;  // no stored message has seq < floor
  stream_seq last = 0;
  timestamp_ns last_ts = 0;
  std::uint64_t msgs = 0;
  std::uint64_t bytes = 0;
};

std::string encode_state(const persisted_state& p) {
  std::string v;
  cdc::put_u64(v, p.floor);
  cdc::put_u64(v, p.last);
  cdc::put_u64(v, static_cast<std::uint64_t>(p.last_ts));
  cdc::put_u64(v, p.msgs);
  cdc::put_u64(v, p.bytes);
  return v;
}

bool decode_state(std::string_view v, persisted_state& p) {
  if (v.size() != 40) return false;
  p.floor = cdc::get_u64(v.data());
  p.last = cdc::get_u64(v.data() + 8);
  p.last_ts = static_cast<timestamp_ns>(cdc::get_u64(v.data() + 16));
  p.msgs = cdc::get_u64(v.data() + 24);
  p.bytes = cdc::get_u64(v.data() + 32);
  return true;
}

std::string u64_value(std::uint64_t v) {
  std::string s;
  cdc::put_u64(s, v);
  return s;
}

}  // namespace

// =============================================================================================
// rocksdb_stream_store
// =============================================================================================

class rocksdb_stream_store final : public stream_store {
 public:
  rocksdb_stream_store(detail::db_ctx* ctx, std::string name, std::uint64_t id)
      : ctx_(ctx), name_(std::move(name)), id_(id) {}

  result<void> load();
  void mark_closed() noexcept { closed_ = true; }

  storage_type type() const noexcept override { return storage_type::file; }
  const std::string& name() const noexcept override { return name_; }
  result<stream_seq> append(const append_request& req) override {
    return append_batch(std::span<const append_request>(&req, 1));
  }
  bool appends_await_sync() const noexcept override { return ctx_->async_append_sync; }
  result<stream_seq> append_batch(std::span<const append_request> reqs) override;
  result<stored_msg> load(stream_seq seq) const override;
  using stream_store::load_next;
  result<stored_msg> load_next(stream_seq start, filter_set filters) const override;
  result<stored_msg> load_last(std::string_view filter) const override;
  result<bool> remove(stream_seq seq) override;
  result<std::uint64_t> purge(const purge_request& req) override;
  stream_state state(state_detail d) const override;
  std::map<std::string, std::uint64_t> subject_counts(std::string_view filter) const override;
  std::uint64_t num_pending(stream_seq start, filter_set filters, last_per_subject lps) const override;
  result<std::uint64_t> enforce_max_msgs(std::uint64_t max) override;
  result<std::uint64_t> enforce_max_bytes(std::uint64_t max) override;
  result<std::uint64_t> expire_before(timestamp_ns cutoff) override;
  result<std::uint64_t> enforce_max_msgs_per_subject(std::uint64_t max,
                                                     std::optional<std::string_view> subject) override;
  result<std::uint64_t> expire_ttl(timestamp_ns now) override;
  std::optional<timestamp_ns> next_ttl_deadline() const override;
  result<std::uint64_t> set_first_seq(stream_seq seq) override;
  result<void> skip_to(stream_seq last, timestamp_ns now) override;
  result<range> load_range(stream_seq start, filter_set filters, std::size_t max_msgs,
                           std::size_t max_bytes) const override;
  std::vector<stream_seq> last_seqs(filter_set filters) const override;

 private:
  // A run of consecutive sequences all stored under one subject (one subject index entry).
  struct seq_run {
    stream_seq start = 0, end = 0;
  };
  // A removal being staged into one WriteBatch.
  struct removal {
    rocksdb::WriteBatch wb;
    std::unordered_map<std::string, std::uint64_t> dec;  // subject -> removed messages
    // subject -> removed sequences whose runs in the subject index stage_unindex reshapes
    std::unordered_map<std::string, std::vector<stream_seq>> unindex;
    std::uint64_t msgs = 0;
    std::uint64_t bytes = 0;
    stream_seq floor = 0;
    stream_seq new_last = 0;
    bool first_removed = false;
    bool clear_all = false;
  };

  removal start_removal() const {
    removal r;
    r.floor = floor_;
    r.new_last = st_.last_seq;
    return r;
  }
  // Stages the removal of one message; with `unindex`, commit also takes it out of its subject's run.
  void stage_point(removal& r, stream_seq seq, const cdc::msg_view& m, bool unindex);
  // Splits, shortens or deletes the runs holding r.unindex's sequences.
  result<void> stage_unindex(removal& r);
  result<std::uint64_t> commit(removal& r);
  void refresh_first();
  result<stored_msg> read(stream_seq seq) const;
  result<stored_msg> decode(stream_seq seq, std::string_view v) const;
  // Removes the longest run of oldest messages for which pred(seq, msg, removed_msgs, removed_bytes)
  // holds, with DeleteRange when it is long.
  template <class Pred>
  result<std::uint64_t> remove_head(Pred pred);
  // Removes, for each (subject, count), the `count` oldest messages of that subject, stopping at
  // seq >= up_to when up_to != 0.
  result<std::uint64_t> remove_subject_heads(const std::vector<std::pair<std::string, std::uint64_t>>& todo,
                                             stream_seq up_to);
  result<std::uint64_t> clear_all(stream_seq new_last);
  std::vector<std::string> matching_subjects(filter_set filters) const;
  std::optional<stream_seq> subject_first_at_or_after(bounded_iter& it, const std::string& s, stream_seq start) const;
  std::optional<stream_seq> subject_last(bounded_iter& it, const std::string& s) const;
  std::uint64_t count_keys(rocksdb::ColumnFamilyHandle* cf, std::string lo, std::string hi) const;
  // Messages of subject s with lo <= seq < hi, summed over its runs.
  std::uint64_t count_subject(const std::string& s, stream_seq lo, stream_seq hi) const;

  detail::db_ctx* ctx_;
  std::string name_;
  std::uint64_t id_;
  stream_seq floor_ = 0;
  stream_state st_;
  std::unordered_map<std::string, std::uint64_t> counts_;
  std::uint64_t subjects_epoch_ = 0;  // bumped whenever a subject appears in or leaves counts_
  // Wildcard filter -> matching subjects, reused while the subject set is unchanged (a consumer
  // asks with the same filters again and again).
  struct match_cache {
    std::vector<std::string> filters;
    std::uint64_t epoch = ~std::uint64_t{0};
    std::vector<std::string> subjects;
  };
  mutable match_cache match_cache_;
  bool closed_ = false;
};

result<void> rocksdb_stream_store::load() {
  std::string v;
  auto s = ctx_->db->Get(rocksdb::ReadOptions(), ctx_->meta, cdc::meta_key('T', id_), &v);
  persisted_state p;
  if (s.IsNotFound()) {
    p = {};
  } else if (!s.ok()) {
    return check(s, "read stream state");
  } else if (!decode_state(v, p)) {
    logger()->error("stream '{}': malformed state record ({} bytes)", name_, v.size());
    return errc::corrupt_record;
  }
  floor_ = p.floor;
  st_.last_seq = p.last;
  st_.last_ts = p.last_ts;
  st_.msgs = p.msgs;
  st_.bytes = p.bytes;
  // Per-subject counts: O(subjects), never O(messages).
  const std::string lo = cdc::meta_key('C', id_);
  bounded_iter it(ctx_->db.get(), ctx_->meta, lo, cdc::meta_key('C', id_ + 1));
  std::uint64_t total = 0;
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    if (it->value().size() != 8) return errc::corrupt_record;
    const auto n = cdc::get_u64(it->value().data());
    counts_.emplace(std::string(sv(it->key()).substr(lo.size())), n);
    total += n;
  }
  if (auto r = check(it->status(), "load subject counts"); !r) return r;
  if (total != st_.msgs) {
    logger()->error("stream '{}': subject counts sum to {} but state says {} messages", name_, total, st_.msgs);
    return errc::corrupt_record;
  }
  if (st_.msgs == 0) {
    st_.first_seq = floor_;
    st_.first_ts = 0;
  } else {
    refresh_first();
    if (st_.first_seq > st_.last_seq) return errc::corrupt_record;
  }
  return {};
}

void rocksdb_stream_store::refresh_first() {
  bounded_iter it(ctx_->db.get(), ctx_->msgs, cdc::msg_key(id_, floor_), cdc::msg_key(id_, st_.last_seq + 1));
  it->SeekToFirst();
  cdc::msg_view m;
  if (it->Valid() && cdc::decode_msg(sv(it->value()), m)) {
    st_.first_seq = cdc::get_u64(it->key().data() + 8);
    st_.first_ts = m.ts;
    floor_ = st_.first_seq;
  } else {
    logger()->error("stream '{}': {} messages accounted but none found from seq {}", name_, st_.msgs, floor_);
    st_.first_seq = st_.last_seq + 1;
    st_.first_ts = 0;
  }
}

result<stream_seq> rocksdb_stream_store::append_batch(std::span<const append_request> reqs) {
  if (closed_) return errc::closed;
  if (reqs.empty()) return errc::invalid_argument;
  for (const auto& r : reqs) {
    if (!detail::valid_store_subject(r.subject) || r.subject.size() > 0xffff) return errc::bad_subject;
    if (r.ttl_ns < 0 || r.hdr.size() > 0xffffffffu) return errc::invalid_argument;
  }
  // Reserved up front: growing the batch by doubling copied it about twice over (a 500 x 1 KiB
  // batch is half a megabyte). Per message: the record header, the 16-byte key, the value.
  std::size_t reserve = 64;
  for (const auto& r : reqs) reserve += 32 + cdc::msg_value_fixed + r.subject.size() + r.hdr.size() + r.data.size();
  rocksdb::WriteBatch wb(reserve);
  std::unordered_map<std::string_view, std::uint64_t> added;
  stream_seq seq = st_.last_seq;
  std::uint64_t bytes = 0;
  // Subject index: one entry per run of consecutive messages under one subject within the batch,
  // so a batch of 500 messages on one subject writes one index entry, not 500. (Runs are not
  // extended across batches: a run's key is its end, so that would cost a delete per batch, and
  // a batch of one message would write two index records instead of one.)
  std::string_view run_subject;
  seq_run run;
  std::uint64_t* last_added = nullptr;  // added[last_added_subject]
  std::string_view last_added_subject;
  auto put_run = [&] {
    wb.Put(ctx_->subj, cdc::subj_key(id_, run_subject, run.end), cdc::subj_run_value(run.start, run.end));
  };
  for (const auto& r : reqs) {
    ++seq;
    const timestamp_ns expires = r.ttl_ns > 0 ? r.ts + r.ttl_ns : 0;
    char fixed[cdc::msg_value_fixed];
    cdc::encode_msg_fixed(fixed, r.ts, expires, r.subject.size(), r.hdr.size());
    char key[16];
    cdc::msg_key_to(key, id_, seq);
    const rocksdb::Slice key_part(key, sizeof key);
    const rocksdb::Slice value_parts[] = {{fixed, sizeof fixed}, {r.subject.data(), r.subject.size()},
                                          {r.hdr.data(), r.hdr.size()}, {r.data.data(), r.data.size()}};
    wb.Put(ctx_->msgs, rocksdb::SliceParts(&key_part, 1), rocksdb::SliceParts(value_parts, 4));
    if (run.start && r.subject == run_subject) {
      run.end = seq;
    } else {
      if (run.start) put_run();
      run_subject = r.subject;
      run = {seq, seq};
    }
    if (expires) wb.Put(ctx_->ttl, cdc::ttl_key(id_, expires, seq), rocksdb::Slice());
    // Consecutive messages on one subject (the common batch) count without a hash lookup each.
    if (last_added != nullptr && last_added_subject == r.subject) {
      ++*last_added;
    } else {
      last_added = &++added[r.subject];
      last_added_subject = r.subject;
    }
    bytes += file_store_msg_size(r.subject.size(), r.hdr.size(), r.data.size());
  }
  put_run();
  std::string key;
  for (const auto& [s, n] : added) {
    auto it = counts_.find(std::string(s));
    const std::uint64_t c = (it == counts_.end() ? 0 : it->second) + n;
    wb.Put(ctx_->meta, cdc::meta_key('C', id_, s), u64_value(c));
  }
  const persisted_state p{floor_, seq, reqs.back().ts, st_.msgs + reqs.size(), st_.bytes + bytes};
  wb.Put(ctx_->meta, cdc::meta_key('T', id_), encode_state(p));
  if (auto r = check(ctx_->db->Write(ctx_->wo_append, &wb), "append"); !r) return r.error();
  for (const auto& [s, n] : added) {
    auto [it, inserted] = counts_.try_emplace(std::string(s), 0);
    it->second += n;
    subjects_epoch_ += inserted;
  }
  const stream_seq first = st_.last_seq + 1;
  if (st_.msgs == 0) {
    st_.first_seq = first;
    st_.first_ts = reqs.front().ts;
  }
  st_.last_seq = seq;
  st_.last_ts = p.last_ts;
  st_.msgs = p.msgs;
  st_.bytes = p.bytes;
  return first;
}

result<stored_msg> rocksdb_stream_store::decode(stream_seq seq, std::string_view v) const {
  cdc::msg_view m;
  if (!cdc::decode_msg(v, m)) {
    logger()->error("stream '{}': malformed message record at seq {}", name_, seq);
    return errc::corrupt_record;
  }
  return stored_msg{seq, m.ts, m.expires, std::string(m.subject), std::string(m.hdr), std::string(m.data)};
}

result<stored_msg> rocksdb_stream_store::read(stream_seq seq) const {
  rocksdb::PinnableSlice v;
  auto s = ctx_->db->Get(rocksdb::ReadOptions(), ctx_->msgs, cdc::msg_key(id_, seq), &v);
  if (s.IsNotFound()) return errc::msg_not_found;
  if (auto r = check(s, "load"); !r) return r.error();
  return decode(seq, sv(v));
}

result<stored_msg> rocksdb_stream_store::load(stream_seq seq) const {
  if (closed_) return errc::closed;
  if (st_.msgs == 0 || seq < st_.first_seq || seq > st_.last_seq) return errc::msg_not_found;
  return read(seq);
}

std::vector<std::string> rocksdb_stream_store::matching_subjects(filter_set filters) const {
  std::vector<std::string> out;
  bool all_literal = !filters.empty();
  for (const auto& f : filters) all_literal = all_literal && detail::is_literal(f);
  if (all_literal) {
    for (const auto& f : filters) {
      if (counts_.contains(f) && std::find(out.begin(), out.end(), f) == out.end()) out.push_back(f);
    }
    return out;
  }
  if (match_cache_.epoch == subjects_epoch_ &&
      std::equal(filters.begin(), filters.end(), match_cache_.filters.begin(), match_cache_.filters.end())) {
    return match_cache_.subjects;
  }
  for (const auto& [s, _] : counts_) {
    if (detail::matches_any(filters, s)) out.push_back(s);
  }
  match_cache_.filters.assign(filters.begin(), filters.end());
  match_cache_.epoch = subjects_epoch_;
  match_cache_.subjects = out;
  return out;
}

std::optional<stream_seq> rocksdb_stream_store::subject_first_at_or_after(bounded_iter& it, const std::string& s,
                                                                           stream_seq start) const {
  const std::string prefix = cdc::subj_prefix(id_, s);
  it->Seek(cdc::subj_key(id_, s, start));  // the first run ending at or after start
  if (!it->Valid() || !it->key().starts_with(prefix) || it->key().size() != prefix.size() + 8) return std::nullopt;
  const stream_seq end = cdc::get_u64(it->key().data() + prefix.size());
  return std::max(start, cdc::subj_run_start(end, sv(it->value())));
}

std::optional<stream_seq> rocksdb_stream_store::subject_last(bounded_iter& it, const std::string& s) const {
  const std::string prefix = cdc::subj_prefix(id_, s);
  it->SeekForPrev(cdc::subj_key(id_, s, max_seq));
  if (!it->Valid() || !it->key().starts_with(prefix) || it->key().size() != prefix.size() + 8) return std::nullopt;
  return cdc::get_u64(it->key().data() + prefix.size());
}

result<stream_store::range> rocksdb_stream_store::load_range(stream_seq start, filter_set filters,
                                                             std::size_t max_msgs, std::size_t max_bytes) const {
  if (closed_) return errc::closed;
  if (!detail::valid_filters(filters)) return errc::bad_subject;
  // Filtered reads go through the subject index, message by message (load_next).
  if (!detail::matches_all(filters)) return stream_store::load_range(start, filters, max_msgs, max_bytes);
  range r;
  start = std::max(start, st_.first_seq);
  r.next = start;
  if (st_.msgs == 0 || start > st_.last_seq) {
    r.next = std::max(start, st_.last_seq + 1);
    return r;
  }
  bounded_iter it(ctx_->db.get(), ctx_->msgs, cdc::msg_key(id_, start), cdc::msg_key(id_, st_.last_seq + 1));
  std::size_t bytes = 0;
  for (it->SeekToFirst(); it->Valid() && r.msgs.size() < max_msgs && bytes < max_bytes; it->Next()) {
    const stream_seq seq = cdc::get_u64(it->key().data() + 8);
    auto m = decode(seq, sv(it->value()));
    if (!m) return m.error();
    bytes += m->hdr.size() + m->data.size();
    r.msgs.push_back(std::move(*m));
    r.next = seq + 1;
  }
  if (auto c = check(it->status(), "scan"); !c) return c.error();
  if (!it->Valid()) r.next = st_.last_seq + 1;  // examined everything up to the last sequence
  return r;
}

std::vector<stream_seq> rocksdb_stream_store::last_seqs(filter_set filters) const {
  if (closed_ || !detail::valid_filters(filters)) return {};
  // Few messages per subject (a KV bucket): one pass over the subject index beats a seek per
  // subject. Deep histories: a seek per subject (the generic path).
  if (st_.msgs > 16 * counts_.size() || counts_.size() < 64) return stream_store::last_seqs(filters);
  std::vector<stream_seq> out;
  bounded_iter it(ctx_->db.get(), ctx_->subj, cdc::id_key(id_), cdc::id_key(id_ + 1));
  std::string cur;
  bool cur_matches = false;
  stream_seq last = 0;
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    const auto k = sv(it->key());
    if (k.size() < 8 + 1 + 8) continue;
    const auto subject = k.substr(8, k.size() - 8 - 1 - 8);
    if (last == 0 || subject != cur) {
      if (last != 0 && cur_matches) out.push_back(last);
      cur.assign(subject);
      cur_matches = detail::matches_any(filters, cur);
    }
    last = cdc::get_u64(k.data() + k.size() - 8);
  }
  if (last != 0 && cur_matches) out.push_back(last);
  std::sort(out.begin(), out.end());
  return out;
}

result<stored_msg> rocksdb_stream_store::load_next(stream_seq start, filter_set filters) const {
  if (closed_) return errc::closed;
  if (!detail::valid_filters(filters)) return errc::bad_subject;
  start = std::max(start, st_.first_seq);
  if (st_.msgs == 0 || start > st_.last_seq) return errc::msg_not_found;
  const bool all = detail::matches_all(filters);
  bool all_literal = !all;
  for (const auto& f : filters) all_literal = all_literal && detail::is_literal(f);
  if (!all_literal) {
    // Sequential scan: the answer when every message matches, and usually soon when many do.
    bounded_iter it(ctx_->db.get(), ctx_->msgs, cdc::msg_key(id_, start), cdc::msg_key(id_, st_.last_seq + 1));
    std::size_t scanned = 0;
    for (it->SeekToFirst(); it->Valid() && (all || scanned < probe_scan_limit); it->Next(), ++scanned) {
      cdc::msg_view m;
      if (!cdc::decode_msg(sv(it->value()), m)) return errc::corrupt_record;
      if (all || detail::matches_any(filters, m.subject)) return decode(cdc::get_u64(it->key().data() + 8), sv(it->value()));
    }
    if (auto r = check(it->status(), "scan"); !r) return r.error();
    if (!it->Valid()) return errc::msg_not_found;
  }
  // Probe the subject index of every matching subject.
  bounded_iter it(ctx_->db.get(), ctx_->subj, cdc::id_key(id_), cdc::id_key(id_ + 1));
  std::optional<stream_seq> best;
  for (const auto& s : matching_subjects(filters)) {
    auto seq = subject_first_at_or_after(it, s, start);
    if (seq && (!best || *seq < *best)) best = seq;
  }
  if (auto r = check(it->status(), "subject index"); !r) return r.error();
  if (!best) return errc::msg_not_found;
  return read(*best);
}

result<stored_msg> rocksdb_stream_store::load_last(std::string_view filter) const {
  if (closed_) return errc::closed;
  if (!detail::valid_filter(filter)) return errc::bad_subject;
  if (st_.msgs == 0) return errc::msg_not_found;
  const bool all = detail::matches_all(filter);
  if (all || !detail::is_literal(filter)) {
    bounded_iter it(ctx_->db.get(), ctx_->msgs, cdc::msg_key(id_, st_.first_seq), cdc::msg_key(id_, st_.last_seq + 1));
    std::size_t scanned = 0;
    for (it->SeekToLast(); it->Valid() && (all || scanned < probe_scan_limit); it->Prev(), ++scanned) {
      cdc::msg_view m;
      if (!cdc::decode_msg(sv(it->value()), m)) return errc::corrupt_record;
      if (all || detail::matches(filter, m.subject)) return decode(cdc::get_u64(it->key().data() + 8), sv(it->value()));
    }
    if (auto r = check(it->status(), "scan"); !r) return r.error();
    if (!it->Valid()) return errc::msg_not_found;
  }
  const std::string f(filter);
  bounded_iter it(ctx_->db.get(), ctx_->subj, cdc::id_key(id_), cdc::id_key(id_ + 1));
  std::optional<stream_seq> best;
  for (const auto& s : matching_subjects(filter_set(&f, 1))) {
    auto seq = subject_last(it, s);
    if (seq && (!best || *seq > *best)) best = seq;
  }
  if (auto r = check(it->status(), "subject index"); !r) return r.error();
  if (!best) return errc::msg_not_found;
  return read(*best);
}

void rocksdb_stream_store::stage_point(removal& r, stream_seq seq, const cdc::msg_view& m, bool unindex) {
  r.wb.Delete(ctx_->msgs, cdc::msg_key(id_, seq));
  if (unindex) r.unindex[std::string(m.subject)].push_back(seq);
  if (m.expires) r.wb.Delete(ctx_->ttl, cdc::ttl_key(id_, m.expires, seq));
  ++r.dec[std::string(m.subject)];
  ++r.msgs;
  r.bytes += msg_size(m);
  if (seq == st_.first_seq) {
    r.first_removed = true;
    r.floor = std::max(r.floor, seq + 1);
  }
}

result<void> rocksdb_stream_store::stage_unindex(removal& r) {
  for (auto& [s, seqs] : r.unindex) {
    std::sort(seqs.begin(), seqs.end());
    seqs.erase(std::unique(seqs.begin(), seqs.end()), seqs.end());
    const std::string prefix = cdc::subj_prefix(id_, s);
    bounded_iter it(ctx_->db.get(), ctx_->subj, prefix, cdc::subj_prefix_end(id_, s));
    std::size_t i = 0;
    while (i < seqs.size()) {
      it->Seek(cdc::subj_key(id_, s, seqs[i]));  // the run holding seqs[i]: the first ending at or after it
      if (!it->Valid() || it->key().size() != prefix.size() + 8) break;
      const stream_seq end = cdc::get_u64(it->key().data() + prefix.size());
      const stream_seq start = cdc::subj_run_start(end, sv(it->value()));
      // The run loses seqs[i..j) (those <= end); what is left of it are the pieces between them.
      stream_seq next = start;  // first sequence of the run not yet in a piece or removed
      for (; i < seqs.size() && seqs[i] <= end; ++i) {
        if (seqs[i] < start) continue;  // not indexed (the index never misses a message it holds)
        if (seqs[i] > next) r.wb.Put(ctx_->subj, cdc::subj_key(id_, s, seqs[i] - 1), cdc::subj_run_value(next, seqs[i] - 1));
        next = seqs[i] + 1;
      }
      if (next <= end) {
        r.wb.Put(ctx_->subj, it->key(), cdc::subj_run_value(next, end));  // same key: the run keeps its end
      } else {
        r.wb.Delete(ctx_->subj, it->key());
      }
    }
    if (auto c = check(it->status(), "subject index"); !c) return c;
  }
  return {};
}

result<std::uint64_t> rocksdb_stream_store::commit(removal& r) {
  if (auto c = stage_unindex(r); !c) return c.error();
  const std::uint64_t msgs = st_.msgs - r.msgs;
  const std::uint64_t bytes = st_.bytes - r.bytes;
  for (const auto& [s, d] : r.dec) {
    auto it = counts_.find(s);
    const std::uint64_t c = it == counts_.end() ? 0 : it->second - std::min(it->second, d);
    if (c == 0) r.wb.Delete(ctx_->meta, cdc::meta_key('C', id_, s));
    else r.wb.Put(ctx_->meta, cdc::meta_key('C', id_, s), u64_value(c));
  }
  const stream_seq floor = msgs == 0 ? r.new_last + 1 : r.floor;
  r.wb.Put(ctx_->meta, cdc::meta_key('T', id_), encode_state({floor, r.new_last, st_.last_ts, msgs, bytes}));
  if (auto res = check(ctx_->db->Write(ctx_->wo, &r.wb), "remove"); !res) return res.error();
  ++subjects_epoch_;  // conservatively: removals may drop subjects
  if (r.clear_all) {
    counts_.clear();
  } else {
    for (const auto& [s, d] : r.dec) {
      auto it = counts_.find(s);
      if (it == counts_.end()) continue;
      if (it->second <= d) counts_.erase(it);
      else it->second -= d;
    }
  }
  st_.msgs = msgs;
  st_.bytes = bytes;
  st_.last_seq = r.new_last;
  floor_ = floor;
  if (msgs == 0) {
    st_.first_seq = st_.last_seq + 1;
    st_.first_ts = 0;
  } else if (r.first_removed || floor_ > st_.first_seq) {
    refresh_first();
  }
  return r.msgs;
}

result<bool> rocksdb_stream_store::remove(stream_seq seq) {
  if (closed_) return errc::closed;
  if (st_.msgs == 0 || seq < st_.first_seq || seq > st_.last_seq) return false;
  rocksdb::PinnableSlice v;
  auto s = ctx_->db->Get(rocksdb::ReadOptions(), ctx_->msgs, cdc::msg_key(id_, seq), &v);
  if (s.IsNotFound()) return false;
  if (auto r = check(s, "remove"); !r) return {boost::system::in_place_error, r.error()};
  cdc::msg_view m;
  if (!cdc::decode_msg(sv(v), m)) return {boost::system::in_place_error, make_error_code(errc::corrupt_record)};
  auto r = start_removal();
  stage_point(r, seq, m, true);
  auto n = commit(r);
  if (!n) return {boost::system::in_place_error, n.error()};
  return true;
}

template <class Pred>
result<std::uint64_t> rocksdb_stream_store::remove_head(Pred pred) {
  if (st_.msgs == 0) return 0;
  auto r = start_removal();
  stream_seq cut = st_.last_seq + 1;
  std::string cut_subject;  // the subject of the message at `cut`, the first one kept
  std::string prev_subject;  // the subject of the last message removed
  stream_seq prev_seq = 0;
  bool cut_prev_same_run = false;  // the message before `cut` was removed and shares its subject
  std::vector<std::pair<stream_seq, std::string>> points;  // for short runs
  {
    bounded_iter it(ctx_->db.get(), ctx_->msgs, cdc::msg_key(id_, st_.first_seq), cdc::msg_key(id_, st_.last_seq + 1));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      const stream_seq seq = cdc::get_u64(it->key().data() + 8);
      cdc::msg_view m;
      if (!cdc::decode_msg(sv(it->value()), m)) return errc::corrupt_record;
      if (!pred(seq, m, r.msgs, r.bytes)) {
        cut = seq;
        cut_subject.assign(m.subject);
        cut_prev_same_run = prev_seq + 1 == seq && prev_subject == m.subject;
        break;
      }
      prev_seq = seq;
      prev_subject.assign(m.subject);
      if (m.expires) r.wb.Delete(ctx_->ttl, cdc::ttl_key(id_, m.expires, seq));
      ++r.dec[std::string(m.subject)];
      ++r.msgs;
      r.bytes += msg_size(m);
      if (points.size() <= point_delete_limit) points.emplace_back(seq, std::string(m.subject));
    }
    if (auto res = check(it->status(), "scan"); !res) return res.error();
  }
  if (r.msgs == 0) return 0;
  // Subject index: every run ending below `cut` is gone whole, and its end was one of the removed
  // messages (runs hold only stored messages), so deleting the removed sequences' keys (or the
  // ranges below `cut`) drops exactly those runs.
  if (r.msgs <= point_delete_limit) {
    for (const auto& [seq, subj] : points) {
      r.wb.Delete(ctx_->msgs, cdc::msg_key(id_, seq));
      r.wb.Delete(ctx_->subj, cdc::subj_key(id_, subj, seq));
    }
  } else {
    // One range tombstone for the messages and one per touched subject in the index: scans and
    // seeks after a purge of millions of messages stay as fast as on a fresh store.
    r.wb.DeleteRange(ctx_->msgs, cdc::msg_key(id_, 0), cdc::msg_key(id_, cut));
    for (const auto& [s, _] : r.dec) r.wb.DeleteRange(ctx_->subj, cdc::subj_key(id_, s, 0), cdc::subj_key(id_, s, cut));
  }
  // Only the run holding `cut` can reach below it, and only when the message just before `cut`
  // was removed now and has its subject: that run now starts at `cut`.
  if (cut_prev_same_run) {
    const std::string prefix = cdc::subj_prefix(id_, cut_subject);
    bounded_iter it(ctx_->db.get(), ctx_->subj, prefix, cdc::subj_prefix_end(id_, cut_subject));
    it->Seek(cdc::subj_key(id_, cut_subject, cut));  // the run holding `cut`
    if (it->Valid() && it->key().size() == prefix.size() + 8) {
      const stream_seq end = cdc::get_u64(it->key().data() + prefix.size());
      if (cdc::subj_run_start(end, sv(it->value())) < cut) r.wb.Put(ctx_->subj, it->key(), cdc::subj_run_value(cut, end));
    }
    if (auto res = check(it->status(), "subject index"); !res) return res.error();
  }
  r.first_removed = true;
  r.floor = cut;
  return commit(r);
}

result<std::uint64_t> rocksdb_stream_store::clear_all(stream_seq new_last) {
  auto r = start_removal();
  r.clear_all = true;
  r.wb.DeleteRange(ctx_->msgs, cdc::id_key(id_), cdc::id_key(id_ + 1));
  r.wb.DeleteRange(ctx_->subj, cdc::id_key(id_), cdc::id_key(id_ + 1));
  r.wb.DeleteRange(ctx_->ttl, cdc::id_key(id_), cdc::id_key(id_ + 1));
  r.wb.DeleteRange(ctx_->meta, cdc::meta_key('C', id_), cdc::meta_key('C', id_ + 1));
  r.msgs = st_.msgs;
  r.bytes = st_.bytes;
  r.new_last = new_last;
  r.floor = new_last + 1;
  auto n = commit(r);
  return n;
}

result<std::uint64_t> rocksdb_stream_store::remove_subject_heads(
    const std::vector<std::pair<std::string, std::uint64_t>>& todo, stream_seq up_to) {
  auto r = start_removal();
  for (const auto& [s, count] : todo) {
    if (count == 0) continue;
    const std::string prefix = cdc::subj_prefix(id_, s);
    bounded_iter it(ctx_->db.get(), ctx_->subj, prefix, cdc::subj_prefix_end(id_, s));
    std::uint64_t taken = 0;
    std::vector<std::string> gone;  // keys of the runs removed whole (the subject's first runs)
    stream_seq last_gone_end = 0;
    for (it->SeekToFirst(); it->Valid() && taken < count; it->Next()) {
      if (it->key().size() != prefix.size() + 8) continue;
      const stream_seq end = cdc::get_u64(it->key().data() + prefix.size());
      const stream_seq start = cdc::subj_run_start(end, sv(it->value()));
      stream_seq q = start;
      for (; q <= end && taken < count && !(up_to && q >= up_to); ++q, ++taken) {
        rocksdb::PinnableSlice v;
        auto st = ctx_->db->Get(rocksdb::ReadOptions(), ctx_->msgs, cdc::msg_key(id_, q), &v);
        if (auto res = check(st, "purge read"); !res) return res.error();
        cdc::msg_view m;
        if (!cdc::decode_msg(sv(v), m)) return errc::corrupt_record;
        stage_point(r, q, m, false);
      }
      if (q > end) {
        if (gone.size() <= point_delete_limit) gone.emplace_back(sv(it->key()));
        last_gone_end = end;
        continue;
      }
      if (q > start) {  // the run keeps its newer part
        r.wb.Put(ctx_->subj, it->key(), cdc::subj_run_value(q, end));
      }
      break;
    }
    if (auto res = check(it->status(), "subject index"); !res) return res.error();
    if (gone.size() <= point_delete_limit) {
      for (const auto& k : gone) r.wb.Delete(ctx_->subj, k);
    } else {
      r.wb.DeleteRange(ctx_->subj, cdc::subj_key(id_, s, 0), cdc::subj_key(id_, s, last_gone_end + 1));
    }
  }
  if (r.msgs == 0) return 0;
  return commit(r);
}

result<std::uint64_t> rocksdb_stream_store::purge(const purge_request& req) {
  if (closed_) return errc::closed;
  if (req.up_to && req.keep) return errc::invalid_argument;
  if (!detail::valid_filter(req.filter)) return errc::bad_subject;
  result<std::uint64_t> n = std::uint64_t{0};
  if (detail::matches_all(req.filter)) {
    if (req.keep) {
      const std::uint64_t drop = st_.msgs > req.keep ? st_.msgs - req.keep : 0;
      n = remove_head([drop](stream_seq, const cdc::msg_view&, std::uint64_t removed, std::uint64_t) { return removed < drop; });
    } else if (req.up_to && req.up_to <= st_.last_seq) {
      const stream_seq cut = req.up_to;
      n = remove_head([cut](stream_seq seq, const cdc::msg_view&, std::uint64_t, std::uint64_t) { return seq < cut; });
    } else {
      n = clear_all(req.up_to ? std::max(st_.last_seq, req.up_to - 1) : st_.last_seq);
      return n;
    }
  } else {
    std::vector<std::pair<std::string, std::uint64_t>> todo;
    const filter_set fs(&req.filter, 1);
    for (const auto& [s, c] : counts_) {
      if (!detail::matches_any(fs, s)) continue;
      const std::uint64_t take = req.keep ? (c > req.keep ? c - req.keep : 0) : c;
      if (take) todo.emplace_back(s, take);
    }
    n = remove_subject_heads(todo, req.up_to);
  }
  if (!n) return n;
  if (*n == 0 && st_.msgs == 0 && st_.first_seq != st_.last_seq + 1) {
    // Purging an empty (never written) stream still moves first_seq past last_seq, as nats does.
    auto r = start_removal();
    auto c = commit(r);
    if (!c) return c.error();
  }
  return n;
}

stream_state rocksdb_stream_store::state(state_detail d) const {
  stream_state s = st_;
  s.num_subjects = counts_.size();
  s.num_deleted = s.msgs ? s.last_seq - s.first_seq + 1 - s.msgs : 0;
  if (d == state_detail::with_deleted && s.num_deleted && !closed_) {
    bounded_iter it(ctx_->db.get(), ctx_->msgs, cdc::msg_key(id_, s.first_seq), cdc::msg_key(id_, s.last_seq + 1));
    stream_seq expect = s.first_seq;
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      const stream_seq seq = cdc::get_u64(it->key().data() + 8);
      for (; expect < seq; ++expect) s.deleted.push_back(expect);
      expect = seq + 1;
    }
    for (; expect <= s.last_seq; ++expect) s.deleted.push_back(expect);  // trailing removed seqs
  }
  return s;
}

std::map<std::string, std::uint64_t> rocksdb_stream_store::subject_counts(std::string_view filter) const {
  std::map<std::string, std::uint64_t> out;
  for (const auto& [s, c] : counts_) {
    if (detail::matches(filter, s)) out.emplace(s, c);
  }
  return out;
}

std::uint64_t rocksdb_stream_store::count_keys(rocksdb::ColumnFamilyHandle* cf, std::string lo, std::string hi) const {
  bounded_iter it(ctx_->db.get(), cf, std::move(lo), std::move(hi));
  std::uint64_t n = 0;
  for (it->SeekToFirst(); it->Valid(); it->Next()) ++n;
  return n;
}

std::uint64_t rocksdb_stream_store::count_subject(const std::string& s, stream_seq lo, stream_seq hi) const {
  const std::string prefix = cdc::subj_prefix(id_, s);
  bounded_iter it(ctx_->db.get(), ctx_->subj, cdc::subj_key(id_, s, lo), cdc::subj_prefix_end(id_, s));
  std::uint64_t n = 0;
  for (it->SeekToFirst(); it->Valid(); it->Next()) {  // runs ending at or after lo
    if (it->key().size() != prefix.size() + 8) continue;
    const stream_seq end = cdc::get_u64(it->key().data() + prefix.size());
    const stream_seq start = std::max(lo, cdc::subj_run_start(end, sv(it->value())));
    if (start >= hi) break;
    n += std::min(end, hi - 1) - start + 1;
  }
  return n;
}

std::uint64_t rocksdb_stream_store::num_pending(stream_seq start, filter_set filters, last_per_subject lps) const {
  if (closed_ || st_.msgs == 0 || start > st_.last_seq) return 0;
  if (lps == last_per_subject::yes) {
    const auto subs = matching_subjects(filters);
    if (start <= st_.first_seq) return subs.size();
    bounded_iter it(ctx_->db.get(), ctx_->subj, cdc::id_key(id_), cdc::id_key(id_ + 1));
    std::uint64_t n = 0;
    for (const auto& s : subs) {
      auto last = subject_last(it, s);
      if (last && *last >= start) ++n;
    }
    return n;
  }
  const bool before_mid = start - st_.first_seq < st_.last_seq - start;  // count the shorter side
  if (detail::matches_all(filters)) {
    if (start <= st_.first_seq) return st_.msgs;
    // No interior gaps: every sequence from start to last is a message. (Counting keys read up
    // to half the stream; a consumer restored after a restart asked this of a 1 M-message stream.)
    if (st_.msgs == st_.last_seq - st_.first_seq + 1) return st_.last_seq - start + 1;
    if (before_mid) return st_.msgs - count_keys(ctx_->msgs, cdc::msg_key(id_, st_.first_seq), cdc::msg_key(id_, start));
    return count_keys(ctx_->msgs, cdc::msg_key(id_, start), cdc::msg_key(id_, st_.last_seq + 1));
  }
  std::uint64_t n = 0;
  for (const auto& s : matching_subjects(filters)) {
    const std::uint64_t c = counts_.at(s);
    if (start <= st_.first_seq) n += c;
    else if (before_mid) n += c - std::min(c, count_subject(s, 0, start));
    else n += count_subject(s, start, max_seq);
  }
  return n;
}

result<std::uint64_t> rocksdb_stream_store::enforce_max_msgs(std::uint64_t max) {
  if (closed_) return errc::closed;
  if (st_.msgs <= max) return 0;
  const std::uint64_t drop = st_.msgs - max;
  return remove_head([drop](stream_seq, const cdc::msg_view&, std::uint64_t removed, std::uint64_t) { return removed < drop; });
}

result<std::uint64_t> rocksdb_stream_store::enforce_max_bytes(std::uint64_t max) {
  if (closed_) return errc::closed;
  if (st_.bytes <= max) return 0;
  const std::uint64_t excess = st_.bytes - max;
  return remove_head([excess](stream_seq, const cdc::msg_view&, std::uint64_t, std::uint64_t removed_bytes) {
    return removed_bytes < excess;
  });
}

result<std::uint64_t> rocksdb_stream_store::expire_before(timestamp_ns cutoff) {
  if (closed_) return errc::closed;
  if (st_.msgs == 0 || st_.first_ts >= cutoff) return 0;
  return remove_head([cutoff](stream_seq, const cdc::msg_view& m, std::uint64_t, std::uint64_t) { return m.ts < cutoff; });
}

result<std::uint64_t> rocksdb_stream_store::enforce_max_msgs_per_subject(std::uint64_t max,
                                                                        std::optional<std::string_view> subject) {
  if (closed_) return errc::closed;
  std::vector<std::pair<std::string, std::uint64_t>> todo;
  if (subject) {
    if (auto it = counts_.find(std::string(*subject)); it != counts_.end() && it->second > max) {
      todo.emplace_back(it->first, it->second - max);
    }
  } else {
    for (const auto& [s, c] : counts_) {
      if (c > max) todo.emplace_back(s, c - max);
    }
  }
  if (todo.empty()) return 0;
  return remove_subject_heads(todo, 0);
}

result<std::uint64_t> rocksdb_stream_store::expire_ttl(timestamp_ns now) {
  if (closed_) return errc::closed;
  if (now < 0) return 0;
  auto r = start_removal();
  {
    bounded_iter it(ctx_->db.get(), ctx_->ttl, cdc::id_key(id_), cdc::ttl_key(id_, now, max_seq));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      const stream_seq seq = cdc::get_u64(it->key().data() + 16);
      rocksdb::PinnableSlice v;
      auto st = ctx_->db->Get(rocksdb::ReadOptions(), ctx_->msgs, cdc::msg_key(id_, seq), &v);
      if (st.IsNotFound()) {  // stale index entry: drop it
        r.wb.Delete(ctx_->ttl, it->key());
        continue;
      }
      if (auto res = check(st, "ttl read"); !res) return res.error();
      cdc::msg_view m;
      if (!cdc::decode_msg(sv(v), m)) return errc::corrupt_record;
      stage_point(r, seq, m, true);
    }
    if (auto res = check(it->status(), "ttl index"); !res) return res.error();
  }
  if (r.msgs == 0) return 0;
  return commit(r);
}

std::optional<timestamp_ns> rocksdb_stream_store::next_ttl_deadline() const {
  if (closed_) return std::nullopt;
  bounded_iter it(ctx_->db.get(), ctx_->ttl, cdc::id_key(id_), cdc::id_key(id_ + 1));
  it->SeekToFirst();
  if (!it->Valid()) return std::nullopt;
  return static_cast<timestamp_ns>(cdc::get_u64(it->key().data() + 8));
}

result<std::uint64_t> rocksdb_stream_store::set_first_seq(stream_seq seq) {
  if (closed_) return errc::closed;
  if (seq == 0) return errc::invalid_argument;
  return clear_all(seq - 1);
}

result<void> rocksdb_stream_store::skip_to(stream_seq last, timestamp_ns now) {
  if (closed_) return errc::closed;
  if (last <= st_.last_seq) return {};
  const timestamp_ns last_ts = st_.last_ts ? st_.last_ts : now;
  // Only the state record changes: skipped sequences hold no keys, and an empty stream's floor
  // moves past them.
  const stream_seq floor = st_.msgs == 0 ? last + 1 : floor_;
  rocksdb::WriteBatch wb;
  wb.Put(ctx_->meta, cdc::meta_key('T', id_), encode_state({floor, last, last_ts, st_.msgs, st_.bytes}));
  if (auto r = check(ctx_->db->Write(ctx_->wo, &wb), "skip"); !r) return r.error();
  floor_ = floor;
  st_.last_seq = last;
  st_.last_ts = last_ts;
  if (st_.msgs == 0) {
    st_.first_seq = floor;
    st_.first_ts = 0;
  }
  return {};
}

// =============================================================================================
// rocksdb_consumer_store: cons CF keys cid(8) 'a' -> delivered+ack floor (32 bytes),
// cid(8) 'p' sseq(8) -> consumer seq(8) ts(8), cid(8) 'r' sseq(8) -> redelivery count(8).
// =============================================================================================

class rocksdb_consumer_store final : public detail::consumer_store_base {
 public:
  rocksdb_consumer_store(detail::db_ctx* ctx, std::string name, std::string config, std::uint64_t cid,
                         std::string meta_key)
      : consumer_store_base(std::move(name), std::move(config)), ctx_(ctx), cid_(cid), meta_key_(std::move(meta_key)) {}

  // One pass over the consumer's records, 'a' then 'p' then 'r' in key order. One iterator, not one
  // per record kind: each iterator over the vector memtable sorts it, which took a third of a
  // restart with 50,000 pending acks when it happened three times.
  result<void> load() {
    bounded_iter it(ctx_->db.get(), ctx_->cons, key('a'), key('s'));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      const auto k = it->key();
      const auto v = it->value();
      if (k.size() < 9) return errc::corrupt_record;
      switch (k[8]) {
        case 'a':
          if (k.size() != 9 || v.size() != 32) return errc::corrupt_record;
          state_.delivered = {cdc::get_u64(v.data()), cdc::get_u64(v.data() + 8)};
          state_.ack_floor = {cdc::get_u64(v.data() + 16), cdc::get_u64(v.data() + 24)};
          break;
        case 'p':
          if (k.size() != 17 || v.size() != 16) return errc::corrupt_record;
          state_.pending.emplace_hint(
              state_.pending.end(), cdc::get_u64(k.data() + 9),
              pending_entry{cdc::get_u64(v.data()), static_cast<timestamp_ns>(cdc::get_u64(v.data() + 8))});
          break;
        case 'r':
          if (k.size() != 17 || v.size() != 8) return errc::corrupt_record;
          state_.redelivered.emplace_hint(state_.redelivered.end(), cdc::get_u64(k.data() + 9), cdc::get_u64(v.data()));
          break;
        default:
          break;  // no other record kinds between 'a' and 's'
      }
    }
    return check(it->status(), "consumer state");
  }

 private:
  std::string key(char tag, std::optional<stream_seq> seq = std::nullopt) const {
    std::string k = cdc::id_key(cid_);
    k.push_back(tag);
    if (seq) cdc::put_u64(k, *seq);
    return k;
  }
  std::string seqs_value(const seq_pair& d, const seq_pair& a) const {
    std::string v;
    cdc::put_u64(v, d.consumer);
    cdc::put_u64(v, d.stream);
    cdc::put_u64(v, a.consumer);
    cdc::put_u64(v, a.stream);
    return v;
  }
  static std::string pending_value(const pending_entry& p) {
    std::string v;
    cdc::put_u64(v, p.seq);
    cdc::put_u64(v, static_cast<std::uint64_t>(p.ts));
    return v;
  }
  // persist() runs before the base class applies the delta, so state_ still tells which keys the
  // database (plus the deferred operations) holds: a pending or redelivery entry not in state_ is
  // a fresh key.
  result<void> persist(const detail::consumer_delta& d) override {
    if (ctx_->deferring) {
      using dk = detail::db_ctx::deferred_key;
      ctx_->defer_put(dk{cid_, 0, 'a'}, {d.delivered.consumer, d.delivered.stream, d.ack_floor.consumer, d.ack_floor.stream},
                      false);
      if (d.del_pending) ctx_->defer_delete(dk{cid_, *d.del_pending, 'p'});
      if (d.put_pending) {
        const auto& [seq, p] = *d.put_pending;
        ctx_->defer_put(dk{cid_, seq, 'p'}, {p.seq, static_cast<std::uint64_t>(p.ts)}, !state_.pending.contains(seq));
      }
      if (d.del_redelivered) ctx_->defer_delete(dk{cid_, *d.del_redelivered, 'r'});
      if (d.put_redelivered) {
        const auto& [seq, c] = *d.put_redelivered;
        ctx_->defer_put(dk{cid_, seq, 'r'}, {c}, !state_.redelivered.contains(seq));
      }
      return {};
    }
    rocksdb::WriteBatch wb;
    wb.Put(ctx_->cons, key('a'), seqs_value(d.delivered, d.ack_floor));
    if (d.del_pending) wb.Delete(ctx_->cons, key('p', *d.del_pending));
    if (d.put_pending) wb.Put(ctx_->cons, key('p', d.put_pending->first), pending_value(d.put_pending->second));
    if (d.del_redelivered) wb.Delete(ctx_->cons, key('r', *d.del_redelivered));
    if (d.put_redelivered) wb.Put(ctx_->cons, key('r', d.put_redelivered->first), u64_value(d.put_redelivered->second));
    return check(ctx_->db->Write(ctx_->wo, &wb), "consumer update");
  }
  result<void> persist_full(const consumer_state& st) override {
    if (ctx_->deferring) {
      using dk = detail::db_ctx::deferred_key;
      ctx_->defer_rewrite(cid_);
      ctx_->defer_put(dk{cid_, 0, 'a'}, {st.delivered.consumer, st.delivered.stream, st.ack_floor.consumer, st.ack_floor.stream},
                      false);
      for (const auto& [s, p] : st.pending) ctx_->defer_put(dk{cid_, s, 'p'}, {p.seq, static_cast<std::uint64_t>(p.ts)}, true);
      for (const auto& [s, c] : st.redelivered) ctx_->defer_put(dk{cid_, s, 'r'}, {c}, true);
      return {};
    }
    rocksdb::WriteBatch wb;
    wb.DeleteRange(ctx_->cons, key('p'), key('s'));
    wb.Put(ctx_->cons, key('a'), seqs_value(st.delivered, st.ack_floor));
    for (const auto& [s, p] : st.pending) wb.Put(ctx_->cons, key('p', s), pending_value(p));
    for (const auto& [s, c] : st.redelivered) wb.Put(ctx_->cons, key('r', s), u64_value(c));
    return check(ctx_->db->Write(ctx_->wo, &wb), "consumer state");
  }
  result<void> persist_config(std::string_view cfg) override {
    std::string v = cdc::id_key(cid_);
    v.append(cfg);
    return check(ctx_->db->Put(ctx_->wo_sync, ctx_->meta, meta_key_, v), "consumer config");
  }

  detail::db_ctx* ctx_;
  std::uint64_t cid_;
  std::string meta_key_;
};

// =============================================================================================
// rocksdb_env
// =============================================================================================

namespace {

void set_detail(std::string* out, const std::string& msg) {
  logger()->error("{}", msg);
  if (out) *out = msg;
}

bool write_marker(const std::filesystem::path& p) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << marker_text;
  out.flush();
  return static_cast<bool>(out);
}

// Replaces a format 1 marker with the current one, durably, before anything is written in the
// new format: an older jetbroker then refuses the store instead of misreading its index.
result<void> upgrade_marker(const std::filesystem::path& dir, std::string* detail_out) {
  const auto tmp = dir / upgrading_name;
  const auto marker = dir / marker_name;
  std::error_code ec;
  rocksdb::IOStatus st;
  if (!write_marker(tmp)) st = rocksdb::IOStatus::IOError("cannot write " + tmp.string());
  if (st.ok()) st = detail::fsync_path(tmp);
  if (st.ok()) {
    std::filesystem::rename(tmp, marker, ec);
    if (ec) st = rocksdb::IOStatus::IOError("cannot rename " + tmp.string() + ": " + ec.message());
  }
  if (st.ok()) st = detail::fsync_path(dir);
  if (!st.ok()) {
    std::filesystem::remove(tmp, ec);
    set_detail(detail_out, "cannot upgrade store marker " + marker.string() + " to format 2: " + st.ToString());
    return errc::io_error;
  }
  logger()->info("store {} upgraded from format 1 to format 2", dir.string());
  return {};
}

// Creates the store directory if needed and takes its lock (non-blocking).
result<detail::dir_lock> lock_dir(const std::filesystem::path& dir, std::string* detail_out) {
  std::error_code ec;
  if (!std::filesystem::exists(dir, ec)) {
    std::filesystem::create_directories(dir, ec);
    if (ec) {
      set_detail(detail_out, "cannot create store directory " + dir.string() + ": " + ec.message());
      return errc::io_error;
    }
  }
  detail::dir_lock l(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (l.fd < 0) {
    const int e = errno;
    set_detail(detail_out, "store path " + dir.string() + (e == ENOTDIR ? " is not a directory" : ": " + std::string(std::strerror(e))));
    return e == ENOTDIR ? errc::foreign_store : errc::io_error;
  }
  if (::flock(l.fd, LOCK_EX | LOCK_NB) != 0) {
    const int e = errno;
    if (e == EWOULDBLOCK) {
      set_detail(detail_out, "store directory " + dir.string() + " is in use by another process");
      return errc::store_in_use;
    }
    set_detail(detail_out, "cannot lock store directory " + dir.string() + ": " + std::strerror(e));
    return errc::io_error;
  }
  return l;
}

// Checks (or, when it is new or empty, initialises) a store directory that lock_dir() created or
// found and locked. Returns true when the directory had no store yet.
result<bool> check_dir(const std::filesystem::path& dir, std::string* detail_out) {
  namespace fs = std::filesystem;
  std::error_code ec;
  bool has_marker = false, has_db = false, has_creating = false, has_upgrading = false;
  std::vector<std::string> foreign;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const auto n = e.path().filename().string();
    if (n == marker_name) has_marker = true;
    else if (n == creating_name) has_creating = true;
    else if (n == upgrading_name) has_upgrading = true;
    else if (n == "db" && e.is_directory()) has_db = true;
    else foreign.push_back(n);
  }
  if (ec) {
    set_detail(detail_out, "cannot list store directory " + dir.string() + ": " + ec.message());
    return errc::io_error;
  }
  if (has_upgrading) {
    if (has_marker) {  // an upgrade cut short before its rename: the old marker stands
      std::error_code rec;
      fs::remove(dir / upgrading_name, rec);
    } else {
      foreign.emplace_back(upgrading_name);
    }
  }
  if (!has_marker && has_creating && foreign.empty()) {
    // A creation that did not finish (power loss before the new store was durable): the final
    // marker is written before anything is acknowledged as stored, so there is nothing to lose.
    logger()->warn("store directory {} holds an unfinished new store; creating it again", dir.string());
    fs::remove_all(dir / "db", ec);
    if (ec) {
      set_detail(detail_out, "cannot remove the unfinished store in " + dir.string() + ": " + ec.message());
      return errc::io_error;
    }
    has_db = false;
  }
  if (!has_marker && (has_db || !foreign.empty())) {
    set_detail(detail_out, "store directory " + dir.string() + " is not empty and is not a jetbroker store (no " +
                               std::string(marker_name) + "; found '" + (foreign.empty() ? "db" : foreign.front()) + "')");
    return errc::foreign_store;
  }
  if (!foreign.empty()) {
    set_detail(detail_out, "unexpected file '" + foreign.front() + "' in store directory " + dir.string());
    return errc::foreign_store;
  }
  const auto marker = dir / marker_name;
  if (has_marker) {
    std::ifstream in(marker, std::ios::binary);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (text == marker_text_v1 && has_db) {
      if (auto u = upgrade_marker(dir, detail_out); !u) return {boost::system::in_place_error, u.error()};
      text = marker_text;
    }
    if (text != marker_text) {
      auto shown = text.substr(0, 64);
      while (!shown.empty() && (shown.back() == '\n' || shown.back() == '\r')) shown.pop_back();
      set_detail(detail_out, "store marker " + marker.string() + " holds an unknown format version: '" + shown + "'");
      return errc::version_mismatch;
    }
    if (!has_db) {
      set_detail(detail_out, "store directory " + dir.string() + " has a marker but its database 'db/' is missing");
      return errc::store_corrupt;
    }
    if (has_creating) fs::remove(dir / creating_name, ec);  // its removal was not yet on disk
    return false;
  }
  // Fresh directory: mark the creation; rocksdb_env::open writes the final marker.
  if (!write_marker(dir / creating_name)) {
    set_detail(detail_out, "cannot write store marker " + (dir / creating_name).string());
    return errc::io_error;
  }
  return true;
}

const std::vector<std::string>& cf_names() {
  static const std::vector<std::string> names{rocksdb::kDefaultColumnFamilyName, "meta", "msgs", "subj", "ttl", "cons"};
  return names;
}

}  // namespace

result<std::unique_ptr<rocksdb_env>> rocksdb_env::open(const rocksdb_env_options& opts, std::string* detail_out) {
  auto lock = lock_dir(opts.dir, detail_out);
  if (!lock) return lock.error();
  auto fresh = check_dir(opts.dir, detail_out);
  if (!fresh) return fresh.error();
  const std::string db_path = (opts.dir / "db").string();

  auto ctx = std::make_unique<detail::db_ctx>();
  ctx->lock = std::move(*lock);
  // A new store is created without waiting for its syncs; they run in the background right after
  // (storage/deferred_sync_fs.hpp). An existing one is opened with every sync in place.
  ctx->fs = std::make_shared<detail::deferred_sync_fs>(rocksdb::FileSystem::Default());
  ctx->env = rocksdb::NewCompositeEnv(ctx->fs);
  if (*fresh) ctx->fs->defer();

  rocksdb::DBOptions dbo;
  dbo.env = ctx->env.get();
  dbo.create_if_missing = true;
  dbo.create_missing_column_families = true;
  dbo.max_total_wal_size = opts.max_total_wal_size;
  // Two flush threads and one compaction thread (max_background_jobs = 2 alone gives one of each).
  // A flush is mostly waiting: the table file's fdatasync, the directory's and the MANIFEST's. With
  // one thread, sustained 1 KiB appends filled the three memtables and stalled on it; two overlap
  // those waits: storage_bench 500 x 1 KiB appends 180-226 k -> 230-264 k msgs/s.
  dbo.max_background_flushes = 2;
  dbo.max_background_compactions = 1;
  dbo.avoid_flush_during_recovery = true;  // reopen after kill -9 replays the (short) WAL, no flush
  dbo.keep_log_file_num = 3;
  dbo.max_log_file_size = 4u << 20;
  dbo.paranoid_checks = true;
  // Open fast: no per-file stats/size reads at open; table files open lazily on first read.
  dbo.skip_stats_update_on_db_open = true;
  dbo.skip_checking_sst_file_sizes_on_db_open = true;
  dbo.max_open_files = 512;
  dbo.wal_recovery_mode = rocksdb::WALRecoveryMode::kPointInTimeRecovery;
  // Required by the append memtable of the consumer column family (see cf_opts).
  dbo.allow_concurrent_memtable_write = false;

  rocksdb::BlockBasedTableOptions bto;
  bto.block_cache = rocksdb::NewLRUCache(opts.block_cache_size);
  auto table_factory = std::shared_ptr<rocksdb::TableFactory>(rocksdb::NewBlockBasedTableFactory(bto));

  auto cf_opts = [&](std::string_view name) {
    rocksdb::ColumnFamilyOptions o;
    o.table_factory = table_factory;
    o.write_buffer_size = name == "msgs" ? opts.write_buffer_size : std::max<std::size_t>(opts.write_buffer_size / 4, 1u << 20);
    o.max_write_buffer_number = 3;
    o.compression = rocksdb::kNoCompression;
    if (name == "cons") {
      // Consumer state is written on every delivery and ack but read only when a consumer is
      // opened: an append-only memtable makes each insert O(1) instead of a skip-list insert (it
      // is sorted when flushed or read; storage/append_memtable.hpp).
      o.memtable_factory = std::make_shared<detail::append_memtable_factory>();
      // Sized past the write-ahead log cap, so the cap, not the size, flushes it: after a kill -9
      // the log then never holds more consumer records than one memtable, and reopening replays
      // them without a flush in the middle of recovery (which was half of a restart with 50,000
      // acks pending: docs/storage.md, "Consumer memtable").
      o.write_buffer_size = std::max<std::size_t>(2 * opts.max_total_wal_size, o.write_buffer_size);
    }
    if (name == "msgs" || name == "subj") {
      // Files dense with deletions get compacted first (queue pattern, RocksDB wiki).
      o.table_properties_collector_factories.push_back(rocksdb::NewCompactOnDeletionCollectorFactory(10000, 5000));
    }
    return o;
  };

  // Refuse a RocksDB database that is not ours (unknown column families).
  std::vector<std::string> existing;
  if (auto s = rocksdb::DB::ListColumnFamilies(dbo, db_path, &existing); s.ok()) {
    for (const auto& e : existing) {
      if (std::find(cf_names().begin(), cf_names().end(), e) == cf_names().end()) {
        set_detail(detail_out, "database " + db_path + " has unknown column family '" + e + "'");
        return errc::foreign_store;
      }
    }
  }

  // Open the column families the database has, then create the missing ones (all of them but
  // `default` for a new store) in one call: RocksDB rewrites and re-parses its OPTIONS file once
  // per creation, which made up a fifth of a new store's open when Open created them one by one.
  std::vector<rocksdb::ColumnFamilyDescriptor> open_cfs, missing;
  for (const auto& n : cf_names()) {
    const bool has = n == rocksdb::kDefaultColumnFamilyName || std::find(existing.begin(), existing.end(), n) != existing.end();
    (has ? open_cfs : missing).emplace_back(n, cf_opts(n));
  }
  std::vector<rocksdb::ColumnFamilyHandle*> opened, created;
  rocksdb::DB* raw = nullptr;
  auto s = rocksdb::DB::Open(dbo, db_path, open_cfs, &opened, &raw);
  if (!s.ok()) {
    set_detail(detail_out, "cannot open store database " + db_path + ": " + s.ToString());
    return errc_of(s);
  }
  ctx->db.reset(raw);
  ctx->handles = opened;
  if (!missing.empty()) {
    s = raw->CreateColumnFamilies(missing, &created);
    ctx->handles.insert(ctx->handles.end(), created.begin(), created.end());
    if (!s.ok()) {
      set_detail(detail_out, "cannot create column families in " + db_path + ": " + s.ToString());
      return errc_of(s);
    }
  }
  // Handles in cf_names() order.
  std::vector<rocksdb::ColumnFamilyHandle*> ordered;
  for (const auto& n : cf_names()) {
    auto it = std::find_if(ctx->handles.begin(), ctx->handles.end(), [&](auto* h) { return h->GetName() == n; });
    ordered.push_back(*it);
  }
  ctx->handles = std::move(ordered);
  ctx->meta = ctx->handles[1];
  ctx->msgs = ctx->handles[2];
  ctx->subj = ctx->handles[3];
  ctx->ttl = ctx->handles[4];
  ctx->cons = ctx->handles[5];
  ctx->wo.sync = opts.sync_always;
  ctx->wo_sync.sync = true;
  ctx->async_append_sync = opts.sync_always && opts.async_append_sync;
  ctx->wo_append.sync = opts.sync_always && !opts.async_append_sync;
  if (ctx->async_append_sync) {
    auto* c = ctx.get();
    ctx->ws_thread = std::jthread([c](std::stop_token st) {
      std::vector<std::function<void(result<void>)>> round;
      for (;;) {
        {
          std::unique_lock lk(c->ws_mu);
          c->ws_cv.wait(lk, st, [&] { return !c->ws_waiting.empty(); });
          if (st.stop_requested()) return;
          round.swap(c->ws_waiting);
        }
        // Every request in this round was made after its append returned, so this fsync covers it.
        auto r = check(c->db->SyncWAL(), "sync wal");
        if (!r) logger()->error("fsync of the write-ahead log failed: {}", r.error().message());
        for (auto& done : round) done(r);
        round.clear();
      }
    });
  }
  if (!opts.sync_always && opts.sync_interval.count() > 0) {
    auto* c = ctx.get();
    const auto interval = opts.sync_interval;
    ctx->syncer = std::jthread([c, interval](std::stop_token st) {
      std::unique_lock lk(c->sync_mu);
      while (!st.stop_requested()) {
        c->sync_cv.wait_for(lk, st, interval, [] { return false; });
        if (st.stop_requested()) break;
        lk.unlock();
        if (auto r = c->db->SyncWAL(); !r.ok()) logger()->warn("periodic WAL sync failed: {}", r.ToString());
        lk.lock();
      }
    });
  }
  if (*fresh) {
    // The new database's files and directories are synced first; only then does JETBROKER_STORE
    // (synced too) replace JETBROKER_STORE.new, so a store with the final marker is always whole.
    ctx->fs->sync_in_background(db_path, {opts.dir.parent_path()}, [dir = opts.dir] {
      const auto marker = dir / marker_name;
      if (!write_marker(marker)) return rocksdb::IOStatus::IOError("cannot write store marker " + marker.string());
      auto st = detail::fsync_path(marker);
      if (st.ok()) st = detail::fsync_path(dir);
      std::error_code ec;
      std::filesystem::remove(dir / creating_name, ec);
      return st;
    });
  }
  std::unique_ptr<rocksdb_env> env(new rocksdb_env(std::move(ctx)));
  if (auto r = env->load_catalog(); !r) {
    set_detail(detail_out, "store catalog in " + db_path + " is unreadable: " + r.error().message());
    return r.error();
  }
  return env;
}

rocksdb_env::rocksdb_env(std::unique_ptr<detail::db_ctx> ctx) : ctx_(std::move(ctx)) {}

rocksdb_env::~rocksdb_env() { close_all(); }

void rocksdb_env::close_all() noexcept {
  std::lock_guard lk(mu_);
  for (auto& [_, m] : streams_) {
    if (m.store) {
      if (auto* f = dynamic_cast<rocksdb_stream_store*>(m.store.get())) f->mark_closed();
      if (auto* mem = dynamic_cast<memory_stream_store*>(m.store.get())) mem->mark_closed();
    }
    for (auto& [__, c] : m.consumers) static_cast<detail::consumer_store_base*>(c.get())->mark_closed();
  }
}

// meta 'S' name -> id(8) type(1) config ; meta 'N' -> next id ; meta 'K' sid(8) name -> cid(8) config
result<void> rocksdb_env::load_catalog() {
  std::string v;
  auto s = ctx_->db->Get(rocksdb::ReadOptions(), ctx_->meta, "N", &v);
  if (s.ok()) {
    if (v.size() != 8) return errc::corrupt_record;
    next_id_ = cdc::get_u64(v.data());
  } else if (!s.IsNotFound()) {
    return check(s, "catalog");
  }
  bounded_iter it(ctx_->db.get(), ctx_->meta, "S", "T");
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    const auto val = sv(it->value());
    if (val.size() < 9 || (val[8] != 1 && val[8] != 2)) return errc::corrupt_record;
    stream_meta m;
    m.id = cdc::get_u64(val.data());
    m.type = static_cast<storage_type>(val[8]);
    m.config.assign(val.substr(9));
    if (m.id >= next_id_) return errc::corrupt_record;
    streams_.emplace(std::string(sv(it->key()).substr(1)), std::move(m));
  }
  return check(it->status(), "catalog");
}

result<void> rocksdb_env::write_stream_meta(std::string_view name, const stream_meta& m) {
  std::string v = cdc::id_key(m.id);
  v.push_back(static_cast<char>(m.type));
  v.append(m.config);
  std::string k = "S";
  k.append(name);
  return check(ctx_->db->Put(ctx_->wo_sync, ctx_->meta, k, v), "stream config");
}

result<std::shared_ptr<stream_store>> rocksdb_env::open_locked(const std::string& name, stream_meta& m) {
  if (m.store) return m.store;
  if (m.type == storage_type::memory) {
    m.store = std::make_shared<memory_stream_store>(name);
    return m.store;
  }
  auto st = std::make_shared<rocksdb_stream_store>(ctx_.get(), name, m.id);
  if (auto r = st->load(); !r) {
    logger()->error("cannot open stream '{}': {}", name, r.error().message());
    return r.error();
  }
  m.store = st;
  return m.store;
}

result<std::shared_ptr<stream_store>> rocksdb_env::create_stream(std::string_view name, storage_type type,
                                                                 std::string_view config_json) {
  if (!detail::valid_name(name)) return errc::invalid_argument;
  std::lock_guard lk(mu_);
  if (streams_.contains(name)) return errc::stream_exists;
  stream_meta m;
  m.id = next_id_;
  m.type = type;
  m.config.assign(config_json);
  rocksdb::WriteBatch wb;
  std::string v = cdc::id_key(m.id);
  v.push_back(static_cast<char>(m.type));
  v.append(m.config);
  wb.Put(ctx_->meta, "S" + std::string(name), v);
  wb.Put(ctx_->meta, "N", u64_value(m.id + 1));
  if (auto r = check(ctx_->db->Write(ctx_->wo_sync, &wb), "create stream"); !r) return r.error();
  ++next_id_;
  auto [it, _] = streams_.emplace(std::string(name), std::move(m));
  return open_locked(it->first, it->second);
}

result<std::shared_ptr<stream_store>> rocksdb_env::open_stream(std::string_view name) {
  std::lock_guard lk(mu_);
  auto it = streams_.find(name);
  if (it == streams_.end()) return errc::stream_not_found;
  return open_locked(it->first, it->second);
}

result<void> rocksdb_env::delete_stream(std::string_view name) {
  std::lock_guard lk(mu_);
  auto it = streams_.find(name);
  if (it == streams_.end()) return errc::stream_not_found;
  const auto id = it->second.id;
  rocksdb::WriteBatch wb;
  wb.Delete(ctx_->meta, "S" + std::string(name));
  wb.Delete(ctx_->meta, cdc::meta_key('T', id));
  wb.DeleteRange(ctx_->meta, cdc::meta_key('C', id), cdc::meta_key('C', id + 1));
  wb.DeleteRange(ctx_->msgs, cdc::id_key(id), cdc::id_key(id + 1));
  wb.DeleteRange(ctx_->subj, cdc::id_key(id), cdc::id_key(id + 1));
  wb.DeleteRange(ctx_->ttl, cdc::id_key(id), cdc::id_key(id + 1));
  {
    bounded_iter ci(ctx_->db.get(), ctx_->meta, cdc::meta_key('K', id), cdc::meta_key('K', id + 1));
    for (ci->SeekToFirst(); ci->Valid(); ci->Next()) {
      if (ci->value().size() < 8) continue;
      const auto cid = cdc::get_u64(ci->value().data());
      wb.DeleteRange(ctx_->cons, cdc::id_key(cid), cdc::id_key(cid + 1));
      ctx_->drop_consumer_deferred(cid);
    }
  }
  wb.DeleteRange(ctx_->meta, cdc::meta_key('K', id), cdc::meta_key('K', id + 1));
  if (auto r = check(ctx_->db->Write(ctx_->wo_sync, &wb), "delete stream"); !r) return r;
  if (auto& st = it->second.store) {
    if (auto* f = dynamic_cast<rocksdb_stream_store*>(st.get())) f->mark_closed();
    if (auto* mem = dynamic_cast<memory_stream_store*>(st.get())) mem->mark_closed();
  }
  for (auto& [_, c] : it->second.consumers) static_cast<detail::consumer_store_base*>(c.get())->mark_closed();
  streams_.erase(it);
  return {};
}

std::vector<stream_entry> rocksdb_env::streams() const {
  std::lock_guard lk(mu_);
  std::vector<stream_entry> out;
  for (const auto& [n, m] : streams_) out.push_back({n, m.type, m.config});
  return out;
}

result<void> rocksdb_env::put_stream_config(std::string_view name, std::string_view config_json) {
  std::lock_guard lk(mu_);
  auto it = streams_.find(name);
  if (it == streams_.end()) return errc::stream_not_found;
  stream_meta copy;
  copy.id = it->second.id;
  copy.type = it->second.type;
  copy.config.assign(config_json);
  if (auto r = write_stream_meta(name, copy); !r) return r;
  it->second.config = std::move(copy.config);
  return {};
}

result<std::string> rocksdb_env::stream_config(std::string_view name) const {
  std::lock_guard lk(mu_);
  auto it = streams_.find(name);
  if (it == streams_.end()) return errc::stream_not_found;
  return it->second.config;
}

result<std::shared_ptr<consumer_store>> rocksdb_env::create_consumer(std::string_view stream, std::string_view name,
                                                                     std::string_view config_json) {
  if (!detail::valid_name(name)) return errc::invalid_argument;
  std::lock_guard lk(mu_);
  auto it = streams_.find(stream);
  if (it == streams_.end()) return errc::stream_not_found;
  const std::string key = cdc::meta_key('K', it->second.id, name);
  std::string existing;
  auto s = ctx_->db->Get(rocksdb::ReadOptions(), ctx_->meta, key, &existing);
  if (s.ok()) return errc::consumer_exists;
  if (!s.IsNotFound()) return check(s, "consumer lookup").error();
  const std::uint64_t cid = next_id_;
  rocksdb::WriteBatch wb;
  std::string v = cdc::id_key(cid);
  v.append(config_json);
  wb.Put(ctx_->meta, key, v);
  wb.Put(ctx_->meta, "N", u64_value(cid + 1));
  if (auto r = check(ctx_->db->Write(ctx_->wo_sync, &wb), "create consumer"); !r) return r.error();
  ++next_id_;
  std::shared_ptr<consumer_store> c;
  if (it->second.type == storage_type::memory) {
    auto* ctx = ctx_.get();
    c = std::make_shared<memory_consumer_store>(std::string(name), std::string(config_json),
                                                [ctx, key, cid](std::string_view cfg) -> result<void> {
                                                  std::string val = cdc::id_key(cid);
                                                  val.append(cfg);
                                                  return check(ctx->db->Put(ctx->wo_sync, ctx->meta, key, val), "consumer config");
                                                });
  } else {
    c = std::make_shared<rocksdb_consumer_store>(ctx_.get(), std::string(name), std::string(config_json), cid, key);
  }
  it->second.consumers.emplace(std::string(name), c);
  return c;
}

result<std::shared_ptr<consumer_store>> rocksdb_env::open_consumer(std::string_view stream, std::string_view name) {
  std::lock_guard lk(mu_);
  auto it = streams_.find(stream);
  if (it == streams_.end()) return errc::stream_not_found;
  if (auto c = it->second.consumers.find(name); c != it->second.consumers.end()) return c->second;
  const std::string key = cdc::meta_key('K', it->second.id, name);
  std::string v;
  auto s = ctx_->db->Get(rocksdb::ReadOptions(), ctx_->meta, key, &v);
  if (s.IsNotFound()) return errc::consumer_not_found;
  if (auto r = check(s, "consumer lookup"); !r) return r.error();
  if (v.size() < 8) return errc::corrupt_record;
  const std::uint64_t cid = cdc::get_u64(v.data());
  std::shared_ptr<consumer_store> c;
  if (it->second.type == storage_type::memory) {
    auto* ctx = ctx_.get();
    c = std::make_shared<memory_consumer_store>(std::string(name), v.substr(8),
                                                [ctx, key, cid](std::string_view cfg) -> result<void> {
                                                  std::string val = cdc::id_key(cid);
                                                  val.append(cfg);
                                                  return check(ctx->db->Put(ctx->wo_sync, ctx->meta, key, val), "consumer config");
                                                });
  } else {
    auto rc = std::make_shared<rocksdb_consumer_store>(ctx_.get(), std::string(name), v.substr(8), cid, key);
    if (auto r = rc->load(); !r) return r.error();
    c = rc;
  }
  it->second.consumers.emplace(std::string(name), c);
  return c;
}

result<void> rocksdb_env::delete_consumer(std::string_view stream, std::string_view name) {
  std::lock_guard lk(mu_);
  auto it = streams_.find(stream);
  if (it == streams_.end()) return errc::stream_not_found;
  const std::string key = cdc::meta_key('K', it->second.id, name);
  std::string v;
  auto s = ctx_->db->Get(rocksdb::ReadOptions(), ctx_->meta, key, &v);
  if (s.IsNotFound()) return errc::consumer_not_found;
  if (auto r = check(s, "consumer lookup"); !r) return r;
  if (v.size() < 8) return errc::corrupt_record;
  const std::uint64_t cid = cdc::get_u64(v.data());
  ctx_->drop_consumer_deferred(cid);
  rocksdb::WriteBatch wb;
  wb.Delete(ctx_->meta, key);
  wb.DeleteRange(ctx_->cons, cdc::id_key(cid), cdc::id_key(cid + 1));
  if (auto r = check(ctx_->db->Write(ctx_->wo_sync, &wb), "delete consumer"); !r) return r;
  if (auto c = it->second.consumers.find(name); c != it->second.consumers.end()) {
    static_cast<detail::consumer_store_base*>(c->second.get())->mark_closed();
    it->second.consumers.erase(c);
  }
  return {};
}

result<std::vector<std::string>> rocksdb_env::consumer_names(std::string_view stream) const {
  std::lock_guard lk(mu_);
  auto it = streams_.find(stream);
  if (it == streams_.end()) return errc::stream_not_found;
  const std::string lo = cdc::meta_key('K', it->second.id);
  bounded_iter ci(ctx_->db.get(), ctx_->meta, lo, cdc::meta_key('K', it->second.id + 1));
  std::vector<std::string> out;
  for (ci->SeekToFirst(); ci->Valid(); ci->Next()) out.emplace_back(sv(ci->key()).substr(lo.size()));
  if (auto r = check(ci->status(), "consumer list"); !r) return r.error();
  return out;
}

void rocksdb_env::begin_deferred() { ctx_->deferring = true; }

result<void> rocksdb_env::commit_deferred() {
  if (ctx_->deferred.empty() && ctx_->deferred_ranges.empty()) return {};
  rocksdb::WriteBatch wb;
  for (const auto cid : ctx_->deferred_ranges) {
    std::string lo = cdc::id_key(cid), hi = lo;
    lo.push_back('p');
    hi.push_back('s');
    wb.DeleteRange(ctx_->cons, lo, hi);
  }
  std::array<char, 17> kb;
  std::array<char, 32> vb;
  for (const auto& [k, op] : ctx_->deferred) {
    const auto key = detail::db_ctx::encode_key(k, kb);
    const rocksdb::Slice ks(key.data(), key.size());
    if (op.del) {
      wb.Delete(ctx_->cons, ks);
    } else {
      const auto v = detail::db_ctx::encode_value(op, vb);
      wb.Put(ctx_->cons, ks, rocksdb::Slice(v.data(), v.size()));
    }
  }
  ctx_->deferred.clear();
  ctx_->deferred_ranges.clear();
  return check(ctx_->db->Write(ctx_->wo, &wb), "consumer updates");
}

result<void> rocksdb_env::sync_wal() { return check(ctx_->db->SyncWAL(), "sync wal"); }

void rocksdb_env::sync_wal_async(std::function<void(result<void>)> done) {
  if (!ctx_->async_append_sync) {
    done({});  // appends were durable (per the sync policy) when they returned
    return;
  }
  {
    std::lock_guard lk(ctx_->ws_mu);
    ctx_->ws_waiting.push_back(std::move(done));
  }
  ctx_->ws_cv.notify_one();
}

result<void> rocksdb_env::flush() {
  rocksdb::FlushOptions fo;
  fo.wait = true;
  return check(ctx_->db->Flush(fo, ctx_->handles), "flush");
}

}  // namespace jb::storage
