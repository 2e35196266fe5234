// Randomized model test: random operations against a store and a plain reference model, with
// the full state compared after every step; the RocksDB store is also closed and reopened at
// random points and compared again.
#include "tests/unit/storage/store_fixture.hpp"

#include "protocol/subject.hpp"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <set>

namespace jb::storage::test {
namespace {

// The reference: the contract of stream_store.hpp written as directly as possible.
class model {
 public:
  explicit model(storage_type t) : type_(t) {}

  stream_seq append(const append_request& r) {
    const stream_seq seq = ++last_;
    msgs_[seq] = stored_msg{seq, r.ts, r.ttl_ns > 0 ? r.ts + r.ttl_ns : 0, std::string(r.subject),
                            std::string(r.hdr), std::string(r.data)};
    last_ts_ = r.ts;
    if (msgs_.size() == 1) fix();
    return seq;
  }
  bool remove(stream_seq seq) {
    if (!msgs_.erase(seq)) return false;
    fix();
    return true;
  }
  std::uint64_t purge(const purge_request& p) {
    std::vector<stream_seq> doomed;
    const bool all = p.filter.empty() || p.filter == ">";
    if (all && p.keep) {
      std::size_t drop = msgs_.size() > p.keep ? msgs_.size() - p.keep : 0;
      for (auto it = msgs_.begin(); drop; ++it, --drop) doomed.push_back(it->first);
    } else if (p.keep) {
      std::map<std::string, std::vector<stream_seq>> by;
      for (auto& [s, m] : msgs_)
        if (match(p.filter, m.subject)) by[m.subject].push_back(s);
      for (auto& [_, v] : by)
        for (std::size_t i = 0; i + p.keep < v.size(); ++i) doomed.push_back(v[i]);
    } else {
      for (auto& [s, m] : msgs_)
        if (match(p.filter, m.subject) && (!p.up_to || s < p.up_to)) doomed.push_back(s);
    }
    for (auto s : doomed) msgs_.erase(s);
    if (all && p.up_to > last_ + 1) last_ = p.up_to - 1;
    fix();
    return doomed.size();
  }
  template <class Pred>
  std::uint64_t remove_head(Pred pred) {
    std::uint64_t n = 0, bytes = 0;
    while (!msgs_.empty() && pred(msgs_.begin()->second, n, bytes)) {
      bytes += size(msgs_.begin()->second);
      msgs_.erase(msgs_.begin());
      ++n;
    }
    if (n) fix();
    return n;
  }
  std::uint64_t max_msgs(std::uint64_t max) {
    const std::uint64_t drop = msgs_.size() > max ? msgs_.size() - max : 0;
    return remove_head([&](const stored_msg&, std::uint64_t n, std::uint64_t) { return n < drop; });
  }
  std::uint64_t max_bytes(std::uint64_t max) {
    const std::uint64_t b = state().bytes;
    const std::uint64_t excess = b > max ? b - max : 0;
    return remove_head([&](const stored_msg&, std::uint64_t, std::uint64_t rb) { return rb < excess; });
  }
  std::uint64_t expire_before(timestamp_ns cutoff) {
    return remove_head([&](const stored_msg& m, std::uint64_t, std::uint64_t) { return m.ts < cutoff; });
  }
  std::uint64_t per_subject(std::uint64_t max) {
    std::map<std::string, std::vector<stream_seq>> by;
    for (auto& [s, m] : msgs_) by[m.subject].push_back(s);
    std::uint64_t n = 0;
    for (auto& [_, v] : by)
      for (std::size_t i = 0; i + max < v.size(); ++i, ++n) msgs_.erase(v[i]);
    if (n) fix();
    return n;
  }
  std::uint64_t expire_ttl(timestamp_ns now) {
    std::uint64_t n = 0;
    for (auto it = msgs_.begin(); it != msgs_.end();) {
      if (it->second.expires && it->second.expires <= now) { it = msgs_.erase(it); ++n; }
      else ++it;
    }
    if (n) fix();
    return n;
  }
  std::optional<stored_msg> load_next(stream_seq start, filter_set f) const {
    for (auto it = msgs_.lower_bound(start); it != msgs_.end(); ++it)
      if (match_any(f, it->second.subject)) return it->second;
    return std::nullopt;
  }
  std::optional<stored_msg> load_last(const std::string& f) const {
    for (auto it = msgs_.rbegin(); it != msgs_.rend(); ++it)
      if (match(f, it->second.subject)) return it->second;
    return std::nullopt;
  }
  std::uint64_t num_pending(stream_seq start, filter_set f, last_per_subject lps) const {
    std::map<std::string, stream_seq> last;
    std::uint64_t n = 0;
    for (auto& [s, m] : msgs_) {
      if (!match_any(f, m.subject)) continue;
      last[m.subject] = s;
      if (s >= start) ++n;
    }
    if (lps == last_per_subject::no) return n;
    n = 0;
    for (auto& [_, s] : last) n += s >= start;
    return n;
  }
  std::vector<stream_seq> last_seqs(filter_set f) const {
    std::map<std::string, stream_seq> last;
    for (auto& [s, m] : msgs_)
      if (match_any(f, m.subject)) last[m.subject] = s;
    std::vector<stream_seq> out;
    for (auto& [_, s] : last) out.push_back(s);
    std::sort(out.begin(), out.end());
    return out;
  }
  void skip_to(stream_seq last, timestamp_ns now) {
    if (last <= last_) return;
    last_ = last;
    if (!last_ts_) last_ts_ = now;
    if (msgs_.empty()) fix();
  }
  std::map<std::string, std::uint64_t> counts(const std::string& f) const {
    std::map<std::string, std::uint64_t> out;
    for (auto& [_, m] : msgs_)
      if (match(f, m.subject)) ++out[m.subject];
    return out;
  }
  stream_state state() const {
    stream_state st;
    st.msgs = msgs_.size();
    for (auto& [_, m] : msgs_) st.bytes += size(m);
    st.first_seq = first_;
    st.first_ts = first_ts_;
    st.last_seq = last_;
    st.last_ts = last_ts_;
    if (!msgs_.empty()) {
      for (stream_seq s = first_; s <= last_; ++s)
        if (!msgs_.contains(s)) st.deleted.push_back(s);
    }
    st.num_deleted = st.deleted.size();
    st.num_subjects = counts("").size();
    return st;
  }
  const std::map<stream_seq, stored_msg>& msgs() const { return msgs_; }

 private:
  static bool match(const std::string& f, const std::string& s) {
    return f.empty() || f == ">" || protocol::subject_matches(f, s);
  }
  static bool match_any(filter_set fs, const std::string& s) {
    if (fs.empty()) return true;
    for (auto& f : fs)
      if (match(f, s)) return true;
    return false;
  }
  std::uint64_t size(const stored_msg& m) const { return size_for(type_, m.subject, m.hdr, m.data); }
  void fix() {
    if (msgs_.empty()) { first_ = last_ + 1; first_ts_ = 0; }
    else { first_ = msgs_.begin()->first; first_ts_ = msgs_.begin()->second.ts; }
  }
  storage_type type_;
  std::map<stream_seq, stored_msg> msgs_;
  stream_seq first_ = 0, last_ = 0;
  timestamp_ns first_ts_ = 0, last_ts_ = 0;
};

template <class Kind>
class model_test : public ::testing::Test {};
using kinds = ::testing::Types<memory_kind, rocksdb_kind>;
class kind_names {
 public:
  template <class T>
  static std::string GetName(int) {
    return std::is_same_v<T, memory_kind> ? "memory" : "rocksdb";
  }
};
TYPED_TEST_SUITE(model_test, kinds, kind_names);

bool same_msg(const stored_msg& a, const stored_msg& b) {
  return a.seq == b.seq && a.ts == b.ts && a.expires == b.expires && a.subject == b.subject && a.hdr == b.hdr &&
         a.data == b.data;
}

// One randomized run per seed. `repeat` (per cent) is the chance that an appended message takes
// the subject of the one before it: high values make long runs of one subject, which the RocksDB
// store indexes as one entry per run, so removals split, shorten and delete runs.
struct model_params {
  std::vector<std::string> subjects;
  std::vector<std::string> filters;
  unsigned seeds = 6;
  unsigned repeat = 0;
};

template <class Kind>
void run_model(const model_params& mp) {
  const auto& subjects = mp.subjects;
  const auto& filters = mp.filters;
  for (unsigned seed = 1; seed <= mp.seeds; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::mt19937_64 rng(seed * 7919);
    auto rnd = [&](std::uint64_t n) { return n ? rng() % n : 0; };
    env_holder<Kind> h;
    auto s = h.env().create_stream("M", Kind::type, "{}").value();
    model m(Kind::type);
    timestamp_ns clock = 1'000'000;
    std::size_t prev_subject = 0;
    for (int step = 0; step < 700; ++step) {
      SCOPED_TRACE("step " + std::to_string(step));
      const auto op = rnd(100);
      std::string what;
      if (op < 40) {
        const auto n = 1 + rnd(op < 10 ? 40 : 3);
        std::vector<std::string> payloads;
        std::vector<append_request> reqs;
        for (std::uint64_t i = 0; i < n; ++i) payloads.push_back(std::string(rnd(64), char('a' + rnd(26))));
        for (std::uint64_t i = 0; i < n; ++i) {
          clock += static_cast<timestamp_ns>(rnd(1000));
          if (rnd(100) >= mp.repeat) prev_subject = rnd(subjects.size());
          reqs.push_back({subjects[prev_subject], rnd(4) == 0 ? "NATS/1.0\r\nK: v\r\n\r\n" : "",
                          payloads[i], clock, rnd(5) == 0 ? static_cast<std::int64_t>(1 + rnd(20000)) : 0});
        }
        stream_seq first = 0;
        for (auto& r : reqs) {
          auto q = m.append(r);
          if (!first) first = q;
        }
        ASSERT_EQ(s->append_batch(reqs).value(), first);
        what = "append";
      } else if (op < 52) {
        const auto st = m.state();
        const stream_seq q = st.first_seq + rnd(st.last_seq - st.first_seq + 3);
        ASSERT_EQ(s->remove(q).value(), m.remove(q)) << q;
      } else if (op < 60) {
        purge_request p;
        if (rnd(2)) p.filter = filters[rnd(filters.size())];
        const auto kind = rnd(3);
        if (kind == 1) p.up_to = m.state().first_seq + rnd(30);
        if (kind == 2) p.keep = rnd(10);
        if (rnd(20) == 0) p.up_to = m.state().last_seq + 5, p.keep = 0;
        ASSERT_EQ(s->purge(p).value(), m.purge(p)) << "filter '" << p.filter << "' up_to " << p.up_to << " keep " << p.keep;
      } else if (op < 65) {
        const auto max = rnd(4) == 0 ? rnd(3) : rnd(120);  // sometimes (nearly) everything
        ASSERT_EQ(s->enforce_max_msgs(max).value(), m.max_msgs(max));
      } else if (op < 70) {
        const auto max = rnd(8000);
        ASSERT_EQ(s->enforce_max_bytes(max).value(), m.max_bytes(max));
      } else if (op < 75) {
        const timestamp_ns cutoff = clock - static_cast<timestamp_ns>(rnd(60000));
        ASSERT_EQ(s->expire_before(cutoff).value(), m.expire_before(cutoff));
      } else if (op < 79) {
        const auto max = 1 + rnd(15);
        ASSERT_EQ(s->enforce_max_msgs_per_subject(max).value(), m.per_subject(max));
      } else if (op < 84) {
        const timestamp_ns now = clock - static_cast<timestamp_ns>(rnd(20000));
        ASSERT_EQ(s->expire_ttl(now).value(), m.expire_ttl(now));
      } else if (op < 85) {
        if (rnd(2)) {
          const auto to = m.state().last_seq + 1 + rnd(10);
          ASSERT_EQ(s->set_first_seq(to).value(), m.purge({"", to, 0}));
        } else {  // as a mirror does when its origin's sequences jump
          const auto to = m.state().last_seq + rnd(4);
          ASSERT_TRUE(s->skip_to(to, clock));
          m.skip_to(to, clock);
        }
      } else if (op < 95) {
        // Queries.
        const auto st = m.state();
        const stream_seq start = rnd(st.last_seq + 3);
        std::vector<std::string> fs;
        for (auto k = rnd(3); k > 0; --k) fs.push_back(filters[rnd(filters.size())]);
        auto want = m.load_next(start, fs);
        auto got = s->load_next(start, filter_set(fs));
        ASSERT_EQ(got.has_value(), want.has_value()) << "load_next " << start;
        if (want) {
          ASSERT_TRUE(same_msg(*got, *want));
        }
        const auto& f = filters[rnd(filters.size())];
        auto wl = m.load_last(f);
        auto gl = s->load_last(f);
        ASSERT_EQ(gl.has_value(), wl.has_value()) << "load_last " << f;
        if (wl) {
          ASSERT_TRUE(same_msg(*gl, *wl));
        }
        for (auto lps : {last_per_subject::no, last_per_subject::yes}) {
          ASSERT_EQ(s->num_pending(start, fs, lps), m.num_pending(start, fs, lps)) << "start " << start;
        }
        ASSERT_EQ(s->subject_counts(f), m.counts(f));
        ASSERT_EQ(s->last_seqs(filter_set(fs)), m.last_seqs(fs));
        const stream_seq q = st.first_seq + rnd(st.last_seq - st.first_seq + 2);
        auto lm = s->load(q);
        ASSERT_EQ(lm.has_value(), m.msgs().contains(q));
        if (lm) {
          ASSERT_TRUE(same_msg(*lm, m.msgs().at(q)));
        }
      } else if (Kind::persistent && rnd(3) == 0) {
        s.reset();
        h.reopen();
        s = h.env().open_stream("M").value();
      }
      ASSERT_EQ(s->state(state_detail::with_deleted), m.state());
    }
    // Every stored message is intact at the end.
    for (const auto& [q, msg] : m.msgs()) ASSERT_TRUE(same_msg(s->load(q).value(), msg));
  }
}

TYPED_TEST(model_test, random_operations_match_model) {
  run_model<TypeParam>({{"a", "a.b", "a.c", "a.b.c", "b.x.y", "b.z.y", "c", "d.1", "d.2", "d.3"},
                        {"", ">", "a", "a.*", "a.>", "b.*.y", "*", "d.*", "zz", "a.b.c", "*.b"},
                        6,
                        0});
}

// Long runs of one subject (most messages repeat the previous subject) over 80 subjects, enough
// for last_seqs' one-pass scan of the subject index.
TYPED_TEST(model_test, long_subject_runs_match_model) {
  model_params mp;
  for (int i = 0; i < 70; ++i) mp.subjects.push_back("k." + std::to_string(i));
  for (const char* x : {"a", "a.b", "a.c", "b.x.y", "c", "d.1", "d.2", "d.3", "d.4", "d.5"}) mp.subjects.push_back(x);
  mp.filters = {"", ">", "a", "a.*", "k.*", "k.7", "k.>", "d.*", "c", "zz", "*"};
  mp.seeds = 4;
  mp.repeat = 85;
  run_model<TypeParam>(mp);
}

}  // namespace
}  // namespace jb::storage::test
