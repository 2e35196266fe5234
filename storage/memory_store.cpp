#include "storage/memory_store.hpp"

#include <algorithm>

namespace jb::storage {

using detail::matches_all;

stored_msg memory_stream_store::to_stored(stream_seq seq, const msg& m) const {
  return stored_msg{seq, m.ts, m.expires, m.subject, m.hdr, m.data};
}

result<stream_seq> memory_stream_store::append(const append_request& req) {
  return append_batch(std::span<const append_request>(&req, 1));
}

result<stream_seq> memory_stream_store::append_batch(std::span<const append_request> reqs) {
  if (closed_) return errc::closed;
  if (reqs.empty()) return errc::invalid_argument;
  for (const auto& r : reqs) {
    if (!detail::valid_store_subject(r.subject) || r.subject.size() > 0xffff) return errc::bad_subject;
    if (r.ttl_ns < 0) return errc::invalid_argument;
  }
  const stream_seq first = st_.last_seq + 1;
  for (const auto& r : reqs) {
    const stream_seq seq = ++st_.last_seq;
    const timestamp_ns expires = r.ttl_ns > 0 ? r.ts + r.ttl_ns : 0;
    auto it = msgs_.emplace_hint(msgs_.end(), seq,
                                 msg{r.ts, expires, std::string(r.subject), std::string(r.hdr), std::string(r.data)});
    auto& set = subjects_[it->second.subject];
    set.insert(set.end(), seq);
    if (expires) ttl_.emplace(expires, seq);
    st_.last_ts = r.ts;
    st_.msgs++;
    st_.bytes += memory_store_msg_size(r.subject.size(), r.hdr.size(), r.data.size());
    if (st_.msgs == 1) {
      st_.first_seq = seq;
      st_.first_ts = r.ts;
    }
  }
  return first;
}

result<stored_msg> memory_stream_store::load(stream_seq seq) const {
  if (closed_) return errc::closed;
  auto it = msgs_.find(seq);
  if (it == msgs_.end()) return errc::msg_not_found;
  return to_stored(seq, it->second);
}

std::vector<const std::string*> memory_stream_store::matching_subjects(filter_set filters) const {
  std::vector<const std::string*> out;
  for (const auto& [s, _] : subjects_) {
    if (detail::matches_any(filters, s)) out.push_back(&s);
  }
  return out;
}

result<stored_msg> memory_stream_store::load_next(stream_seq start, filter_set filters) const {
  if (closed_) return errc::closed;
  if (!detail::valid_filters(filters)) return errc::bad_subject;
  if (matches_all(filters)) {
    auto it = msgs_.lower_bound(start);
    if (it == msgs_.end()) return errc::msg_not_found;
    return to_stored(it->first, it->second);
  }
  // Few matching subjects: probe each subject's index; many: scan.
  auto subs = matching_subjects(filters);
  if (subs.size() <= 64) {
    std::optional<stream_seq> best;
    for (const auto* s : subs) {
      const auto& set = subjects_.at(*s);
      auto it = set.lower_bound(start);
      if (it != set.end() && (!best || *it < *best)) best = *it;
    }
    if (!best) return errc::msg_not_found;
    return to_stored(*best, msgs_.at(*best));
  }
  for (auto it = msgs_.lower_bound(start); it != msgs_.end(); ++it) {
    if (detail::matches_any(filters, it->second.subject)) return to_stored(it->first, it->second);
  }
  return errc::msg_not_found;
}

result<stored_msg> memory_stream_store::load_last(std::string_view filter) const {
  if (closed_) return errc::closed;
  if (!detail::valid_filter(filter)) return errc::bad_subject;
  if (matches_all(filter)) {
    if (msgs_.empty()) return errc::msg_not_found;
    auto it = std::prev(msgs_.end());
    return to_stored(it->first, it->second);
  }
  std::optional<stream_seq> best;
  for (const auto& [s, set] : subjects_) {
    if (detail::matches(filter, s) && (!best || *set.rbegin() > *best)) best = *set.rbegin();
  }
  if (!best) return errc::msg_not_found;
  return to_stored(*best, msgs_.at(*best));
}

void memory_stream_store::remove_one(std::map<stream_seq, msg>::iterator it) {
  auto& m = it->second;
  auto sit = subjects_.find(m.subject);
  sit->second.erase(it->first);
  if (sit->second.empty()) subjects_.erase(sit);
  if (m.expires) ttl_.erase({m.expires, it->first});
  st_.msgs--;
  st_.bytes -= memory_store_msg_size(m.subject.size(), m.hdr.size(), m.data.size());
  msgs_.erase(it);
}

void memory_stream_store::fix_first() {
  if (msgs_.empty()) {
    st_.first_seq = st_.last_seq + 1;
    st_.first_ts = 0;
  } else {
    st_.first_seq = msgs_.begin()->first;
    st_.first_ts = msgs_.begin()->second.ts;
  }
}

result<bool> memory_stream_store::remove(stream_seq seq) {
  if (closed_) return errc::closed;
  auto it = msgs_.find(seq);
  if (it == msgs_.end()) return false;
  remove_one(it);
  fix_first();
  return true;
}

result<std::uint64_t> memory_stream_store::purge(const purge_request& req) {
  if (closed_) return errc::closed;
  if (req.up_to && req.keep) return errc::invalid_argument;
  if (!detail::valid_filter(req.filter)) return errc::bad_subject;
  std::uint64_t n = 0;
  if (matches_all(req.filter)) {
    if (req.keep) {
      while (st_.msgs > req.keep) { remove_one(msgs_.begin()); ++n; }
    } else if (req.up_to) {
      while (!msgs_.empty() && msgs_.begin()->first < req.up_to) { remove_one(msgs_.begin()); ++n; }
      if (req.up_to > st_.last_seq + 1) st_.last_seq = req.up_to - 1;
    } else {
      n = msgs_.size();
      msgs_.clear();
      subjects_.clear();
      ttl_.clear();
      st_.msgs = 0;
      st_.bytes = 0;
    }
  } else {
    std::vector<stream_seq> doomed;
    for (const auto& [s, set] : subjects_) {
      if (!detail::matches(req.filter, s)) continue;
      std::size_t take = set.size();
      if (req.keep) take = set.size() > req.keep ? set.size() - req.keep : 0;
      for (auto it = set.begin(); take > 0 && it != set.end(); ++it, --take) {
        if (req.up_to && *it >= req.up_to) break;
        doomed.push_back(*it);
      }
    }
    for (auto seq : doomed) remove_one(msgs_.find(seq));
    n = doomed.size();
  }
  fix_first();
  return n;
}

stream_state memory_stream_store::state(state_detail d) const {
  stream_state s = st_;
  s.num_subjects = subjects_.size();
  s.num_deleted = s.msgs ? s.last_seq - s.first_seq + 1 - s.msgs : 0;
  if (d == state_detail::with_deleted && s.num_deleted) {
    stream_seq expect = s.first_seq;
    for (const auto& [seq, _] : msgs_) {
      for (; expect < seq; ++expect) s.deleted.push_back(expect);
      expect = seq + 1;
    }
    for (; expect <= s.last_seq; ++expect) s.deleted.push_back(expect);  // trailing removed seqs
  }
  return s;
}

std::map<std::string, std::uint64_t> memory_stream_store::subject_counts(std::string_view filter) const {
  std::map<std::string, std::uint64_t> out;
  for (const auto& [s, set] : subjects_) {
    if (detail::matches(filter, s)) out.emplace(s, set.size());
  }
  return out;
}

std::uint64_t memory_stream_store::num_pending(stream_seq start, filter_set filters, last_per_subject lps) const {
  std::uint64_t n = 0;
  if (lps == last_per_subject::yes) {
    for (const auto& [s, set] : subjects_) {
      if (*set.rbegin() >= start && detail::matches_any(filters, s)) ++n;
    }
    return n;
  }
  if (matches_all(filters)) {
    if (start <= st_.first_seq) return st_.msgs;
    return static_cast<std::uint64_t>(std::distance(msgs_.lower_bound(start), msgs_.end()));
  }
  for (const auto& [s, set] : subjects_) {
    if (!detail::matches_any(filters, s)) continue;
    if (start <= *set.begin()) n += set.size();
    else n += static_cast<std::uint64_t>(std::distance(set.lower_bound(start), set.end()));
  }
  return n;
}

result<std::uint64_t> memory_stream_store::enforce_max_msgs(std::uint64_t max) {
  if (closed_) return errc::closed;
  std::uint64_t n = 0;
  while (st_.msgs > max) { remove_one(msgs_.begin()); ++n; }
  if (n) fix_first();
  return n;
}

result<std::uint64_t> memory_stream_store::enforce_max_bytes(std::uint64_t max) {
  if (closed_) return errc::closed;
  std::uint64_t n = 0;
  while (st_.bytes > max && !msgs_.empty()) { remove_one(msgs_.begin()); ++n; }
  if (n) fix_first();
  return n;
}

result<std::uint64_t> memory_stream_store::expire_before(timestamp_ns cutoff) {
  if (closed_) return errc::closed;
  std::uint64_t n = 0;
  while (!msgs_.empty() && msgs_.begin()->second.ts < cutoff) { remove_one(msgs_.begin()); ++n; }
  if (n) fix_first();
  return n;
}

result<std::uint64_t> memory_stream_store::enforce_max_msgs_per_subject(std::uint64_t max,
                                                                       std::optional<std::string_view> subject) {
  if (closed_) return errc::closed;
  std::vector<stream_seq> doomed;
  auto collect = [&](const std::set<stream_seq>& set) {
    auto it = set.begin();
    for (std::size_t k = set.size(); k > max; --k, ++it) doomed.push_back(*it);
  };
  if (subject) {
    if (auto it = subjects_.find(std::string(*subject)); it != subjects_.end()) collect(it->second);
  } else {
    for (const auto& [_, set] : subjects_) collect(set);
  }
  for (auto seq : doomed) remove_one(msgs_.find(seq));
  if (!doomed.empty()) fix_first();
  return doomed.size();
}

result<std::uint64_t> memory_stream_store::expire_ttl(timestamp_ns now) {
  if (closed_) return errc::closed;
  std::uint64_t n = 0;
  while (!ttl_.empty() && ttl_.begin()->first <= now) {
    remove_one(msgs_.find(ttl_.begin()->second));
    ++n;
  }
  if (n) fix_first();
  return n;
}

std::optional<timestamp_ns> memory_stream_store::next_ttl_deadline() const {
  if (ttl_.empty()) return std::nullopt;
  return ttl_.begin()->first;
}

result<std::uint64_t> memory_stream_store::set_first_seq(stream_seq seq) {
  if (closed_) return errc::closed;
  if (seq == 0) return errc::invalid_argument;
  const std::uint64_t n = msgs_.size();
  msgs_.clear();
  subjects_.clear();
  ttl_.clear();
  st_.msgs = 0;
  st_.bytes = 0;
  st_.last_seq = seq - 1;
  fix_first();
  return n;
}

result<void> memory_stream_store::skip_to(stream_seq last, timestamp_ns now) {
  if (closed_) return errc::closed;
  if (last <= st_.last_seq) return {};
  st_.last_seq = last;
  if (st_.last_ts == 0) st_.last_ts = now;
  fix_first();
  return {};
}

// ---------------------------------------------------------------------------------------------

memory_env::~memory_env() {
  for (auto& [_, rec] : streams_) {
    rec.store->mark_closed();
    for (auto& [__, c] : rec.consumers) c->mark_closed();
  }
}

result<std::shared_ptr<stream_store>> memory_env::create_stream(std::string_view name, storage_type type,
                                                                std::string_view config_json) {
  if (!detail::valid_name(name)) return errc::invalid_argument;
  std::lock_guard lk(mu_);
  if (streams_.contains(name)) return errc::stream_exists;
  stream_rec rec{stream_entry{std::string(name), type, std::string(config_json)},
                 std::make_shared<memory_stream_store>(std::string(name)), {}};
  auto store = rec.store;
  streams_.emplace(std::string(name), std::move(rec));
  return std::shared_ptr<stream_store>(store);
}

result<std::shared_ptr<stream_store>> memory_env::open_stream(std::string_view name) {
  std::lock_guard lk(mu_);
  auto it = streams_.find(name);
  if (it == streams_.end()) return errc::stream_not_found;
  return std::shared_ptr<stream_store>(it->second.store);
}

result<void> memory_env::delete_stream(std::string_view name) {
  std::lock_guard lk(mu_);
  auto it = streams_.find(name);
  if (it == streams_.end()) return errc::stream_not_found;
  it->second.store->mark_closed();
  for (auto& [_, c] : it->second.consumers) c->mark_closed();
  streams_.erase(it);
  return {};
}

std::vector<stream_entry> memory_env::streams() const {
  std::lock_guard lk(mu_);
  std::vector<stream_entry> out;
  for (const auto& [_, rec] : streams_) out.push_back(rec.entry);
  return out;
}

result<void> memory_env::put_stream_config(std::string_view name, std::string_view config_json) {
  std::lock_guard lk(mu_);
  auto it = streams_.find(name);
  if (it == streams_.end()) return errc::stream_not_found;
  it->second.entry.config.assign(config_json);
  return {};
}

result<std::string> memory_env::stream_config(std::string_view name) const {
  std::lock_guard lk(mu_);
  auto it = streams_.find(name);
  if (it == streams_.end()) return errc::stream_not_found;
  return it->second.entry.config;
}

result<std::shared_ptr<consumer_store>> memory_env::create_consumer(std::string_view stream, std::string_view name,
                                                                    std::string_view config_json) {
  if (!detail::valid_name(name)) return errc::invalid_argument;
  std::lock_guard lk(mu_);
  auto it = streams_.find(stream);
  if (it == streams_.end()) return errc::stream_not_found;
  if (it->second.consumers.contains(name)) return errc::consumer_exists;
  auto c = std::make_shared<memory_consumer_store>(std::string(name), std::string(config_json));
  it->second.consumers.emplace(std::string(name), c);
  return std::shared_ptr<consumer_store>(c);
}

result<std::shared_ptr<consumer_store>> memory_env::open_consumer(std::string_view stream, std::string_view name) {
  std::lock_guard lk(mu_);
  auto it = streams_.find(stream);
  if (it == streams_.end()) return errc::stream_not_found;
  auto c = it->second.consumers.find(name);
  if (c == it->second.consumers.end()) return errc::consumer_not_found;
  return std::shared_ptr<consumer_store>(c->second);
}

result<void> memory_env::delete_consumer(std::string_view stream, std::string_view name) {
  std::lock_guard lk(mu_);
  auto it = streams_.find(stream);
  if (it == streams_.end()) return errc::stream_not_found;
  auto c = it->second.consumers.find(name);
  if (c == it->second.consumers.end()) return errc::consumer_not_found;
  c->second->mark_closed();
  it->second.consumers.erase(c);
  return {};
}

result<std::vector<std::string>> memory_env::consumer_names(std::string_view stream) const {
  std::lock_guard lk(mu_);
  auto it = streams_.find(stream);
  if (it == streams_.end()) return errc::stream_not_found;
  std::vector<std::string> out;
  for (const auto& [n, _] : it->second.consumers) out.push_back(n);
  return out;
}

}  // namespace jb::storage
