#include "storage/detail.hpp"

#include "protocol/subject.hpp"

namespace jb::storage::detail {

bool matches_all(std::string_view filter) noexcept { return filter.empty() || filter == ">"; }

bool matches_all(filter_set filters) noexcept {
  if (filters.empty()) return true;
  for (const auto& f : filters) {
    if (matches_all(std::string_view(f))) return true;
  }
  return false;
}

bool matches(std::string_view filter, std::string_view subject) noexcept {
  if (matches_all(filter)) return true;
  return protocol::subject_matches(filter, subject);
}

bool matches_any(filter_set filters, std::string_view subject) noexcept {
  if (filters.empty()) return true;
  for (const auto& f : filters) {
    if (matches(f, subject)) return true;
  }
  return false;
}

bool valid_filter(std::string_view filter) noexcept {
  return filter.empty() || (protocol::is_valid_filter(filter) && filter.find('\0') == std::string_view::npos);
}

bool valid_filters(filter_set filters) noexcept {
  for (const auto& f : filters) {
    if (!valid_filter(f)) return false;
  }
  return true;
}

bool valid_store_subject(std::string_view subject) noexcept {
  return protocol::is_valid_subject(subject) && subject.find('\0') == std::string_view::npos;
}

bool is_literal(std::string_view filter) noexcept { return !filter.empty() && !protocol::has_wildcard(filter); }

bool valid_name(std::string_view name) noexcept {
  return !name.empty() && name.size() <= 255 && name.find('\0') == std::string_view::npos;
}

// ---- consumer state machine (semantics of nats-server consumerFileStore) ----

result<void> consumer_store_base::commit(const consumer_delta& d) {
  if (auto r = persist(d); !r) return r;
  state_.delivered = d.delivered;
  state_.ack_floor = d.ack_floor;
  if (d.del_pending) state_.pending.erase(*d.del_pending);
  if (d.put_pending) state_.pending[d.put_pending->first] = d.put_pending->second;
  if (d.del_redelivered) state_.redelivered.erase(*d.del_redelivered);
  if (d.put_redelivered) state_.redelivered[d.put_redelivered->first] = d.put_redelivered->second;
  return {};
}

result<void> consumer_store_base::update_delivered(consumer_seq dseq, stream_seq sseq, std::uint64_t dc,
                                                   timestamp_ns ts, track_pending tp) {
  if (closed_) return errc::closed;
  if (dc == 0) return errc::invalid_argument;
  consumer_delta d{state_.delivered, state_.ack_floor, {}, {}, {}, {}};
  if (dseq > d.delivered.consumer) d.delivered.consumer = dseq;
  if (dc == 1) {
    if (sseq > d.delivered.stream) d.delivered.stream = sseq;
    if (tp == track_pending::yes) {
      d.put_pending = std::pair{sseq, pending_entry{dseq, ts}};
    } else {
      // AckNone: nothing is pending, the floor follows delivery.
      d.ack_floor = d.delivered;
    }
  } else {
    if (auto it = state_.pending.find(sseq); it != state_.pending.end()) {
      d.put_pending = std::pair{sseq, pending_entry{dseq, ts}};
    }
    d.put_redelivered = std::pair{sseq, dc - 1};
  }
  return commit(d);
}

result<void> consumer_store_base::update_acks(consumer_seq dseq, stream_seq sseq) {
  if (closed_) return errc::closed;
  if (sseq > state_.delivered.stream || dseq > state_.delivered.consumer) return errc::invalid_argument;
  auto it = state_.pending.find(sseq);
  if (it == state_.pending.end()) return {};
  consumer_delta d{state_.delivered, state_.ack_floor, {}, sseq, {}, {}};
  if (state_.redelivered.contains(sseq)) d.del_redelivered = sseq;
  if (state_.pending.size() == 1) {
    d.ack_floor = state_.delivered;
  } else if (dseq == state_.ack_floor.consumer + 1) {
    d.ack_floor = {dseq, sseq};
    auto next = state_.pending.upper_bound(sseq);
    if (next != state_.pending.end() && next->second.seq > 0) {
      d.ack_floor = {next->second.seq - 1, next->first - 1};
    }
  }
  return commit(d);
}

result<void> consumer_store_base::update_state(const consumer_state& st) {
  if (closed_) return errc::closed;
  if (auto r = persist_full(st); !r) return r;
  state_ = st;
  return {};
}

result<void> consumer_store_base::update_config(std::string_view config_json) {
  if (closed_) return errc::closed;
  if (auto r = persist_config(config_json); !r) return r;
  config_.assign(config_json);
  return {};
}

}  // namespace jb::storage::detail

namespace jb::storage {

result<stream_store::range> stream_store::load_range(stream_seq start, filter_set filters, std::size_t max_msgs,
                                                    std::size_t max_bytes) const {
  range r;
  r.next = start;
  std::size_t bytes = 0;
  while (r.msgs.size() < max_msgs && bytes < max_bytes) {
    auto m = load_next(r.next, filters);
    if (!m) {
      if (m.error() != errc::msg_not_found) return m.error();
      r.next = std::max(r.next, state().last_seq + 1);
      break;
    }
    r.next = m->seq + 1;
    bytes += m->hdr.size() + m->data.size();
    r.msgs.push_back(std::move(*m));
  }
  return r;
}

result<stored_msg> stream_store::load_next(stream_seq start, std::string_view filter) const {
  if (detail::matches_all(filter)) return load_next(start, filter_set{});
  const std::string f(filter);
  return load_next(start, filter_set(&f, 1));
}

}  // namespace jb::storage
