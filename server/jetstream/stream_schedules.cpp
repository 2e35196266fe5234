// Message schedules (ADR-51) on a stream: the publish checks, the schedule table kept from the
// stored messages, and the timer that generates the scheduled messages. Runs on the JetStream
// strand, as the rest of the stream.
//
// A schedule is a stored message whose `Nats-Schedule` header holds a pattern; there is at most one
// per subject (the server adds `Nats-Rollup: sub`). When it is due the stream stores a new message
// on `Nats-Schedule-Target` with the schedule's body and headers (or those of the last message on
// `Nats-Schedule-Source`), minus the schedule's own headers, plus `Nats-Scheduler: <schedule
// subject>` and `Nats-Schedule-Next: <next time | purge>`. Storing that message moves the schedule
// to its next time, or, for `purge`, removes the schedule message. Nothing else is persisted: the
// table is rebuilt on start by replaying the same store hook over the stream.
#include <algorithm>
#include <cctype>
#include <charconv>

#include "protocol/headers.hpp"
#include "protocol/subject.hpp"
#include "server/jetstream/schedule.hpp"
#include "server/jetstream/stream.hpp"
#include "server/time_util.hpp"

namespace jb::jetstream {

namespace {

constexpr std::int64_t ns_per_s = 1'000'000'000;
// nats-server does not fire more often than this (it would slow ingest down).
constexpr std::chrono::milliseconds min_fire_delay{250};

bool has_value(const std::optional<std::string_view>& v) { return v && !v->empty(); }

std::optional<std::string_view> header(std::string_view hdr, std::string_view name) {
  if (hdr.empty()) return std::nullopt;
  return protocol::find_header(hdr, name);
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// A per-message TTL as nats-server's parseMessageTTL accepts it: "never", a Go duration of at
// least one second, or whole seconds.
bool valid_ttl(std::string_view v) {
  if (lower(v) == "never") return true;
  if (v == "0") return false;  // Go's duration parser takes a bare 0 (then under a second)
  std::string_view d = v;
  if (!d.empty() && d[0] == '+') d.remove_prefix(1);
  if (auto dur = server::parse_go_duration(d)) return *dur >= ns_per_s;
  return !v.empty() && std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// Removes every header line starting with `prefix`; an empty result when no header is left.
std::string remove_prefixed(std::string_view hdr, std::string_view prefix) {
  std::string out;
  std::size_t pos = hdr.find("\r\n");
  if (pos == std::string_view::npos) return std::string(hdr);
  out.append(hdr.substr(0, pos + 2));
  bool kept = false;
  for (pos += 2; pos < hdr.size();) {
    auto eol = hdr.find("\r\n", pos);
    if (eol == std::string_view::npos) eol = hdr.size();
    std::string_view line = hdr.substr(pos, eol - pos);
    if (!line.empty() && !line.starts_with(prefix)) {
      out.append(line).append("\r\n");
      kept = true;
    }
    pos = eol + 2;
  }
  if (!kept) return {};
  out.append("\r\n");
  return out;
}

// Appends `name: value` (a header block is started when there is none).
void append_header(std::string& hdr, std::string_view name, std::string_view value) {
  if (hdr.size() < 4) hdr = std::string(protocol::header_version) + "\r\n\r\n";
  hdr.insert(hdr.size() - 2, std::string(name) + ": " + std::string(value) + "\r\n");
}

}  // namespace

api_error stream::check_schedule_headers(std::string_view& hdr, const std::string& subject, std::int64_t now,
                                         staged_msg& sm) {
  const bool enabled = cfg_.allow_msg_schedules;
  auto pattern = header(hdr, schedule::pattern_header);
  auto tz = header(hdr, schedule::time_zone_header);
  if (pattern || tz) {
    auto ev = schedule::evaluate(pattern, tz, now, now);
    if (ev.st == schedule::status::pattern_invalid || ev.st == schedule::status::time_zone_invalid) {
      if (!enabled) return errors::message_schedules_disabled;
      return ev.st == schedule::status::pattern_invalid ? errors::message_schedules_pattern_invalid
                                                        : errors::message_schedules_time_zone_invalid;
    }
    if (ev.st == schedule::status::ok) {
      if (!enabled) return errors::message_schedules_disabled;
      auto ttl = header(hdr, schedule::ttl_header);
      if (has_value(ttl) && !valid_ttl(*ttl)) return errors::message_schedules_ttl_invalid;
      if (auto r = header(hdr, schedule::rollup_header); has_value(r) && *r != "sub")
        return errors::message_schedules_rollup_invalid;
      if (has_value(ttl) && !cfg_.allow_msg_ttl) return errors::message_ttl_disabled;
      auto target = header(hdr, schedule::target_header);
      if (!has_value(target) || !protocol::is_valid_literal_subject(*target) || *target == subject)
        return errors::message_schedules_target_invalid;
      auto source = header(hdr, schedule::source_header);
      if (has_value(source) &&
          (*source == *target || *source == subject || !protocol::is_valid_literal_subject(*source)))
        return errors::message_schedules_source_invalid;
      auto in_stream = [&](std::string_view s) {
        return std::any_of(cfg_.subjects.begin(), cfg_.subjects.end(),
                           [&](const std::string& f) { return protocol::subjects_overlap(f, s); });
      };
      if (!in_stream(*target)) return errors::message_schedules_target_invalid;
      if (has_value(source) && !in_stream(*source)) return errors::message_schedules_source_invalid;
      // One schedule per subject: a new one replaces the last.
      auto rollup = header(hdr, "Nats-Rollup");
      if (!has_value(rollup)) {
        std::string h = sm.hdr.empty() ? std::string(hdr) : std::move(sm.hdr);
        append_header(h, "Nats-Rollup", "sub");
        sm.hdr = std::move(h);
        hdr = sm.hdr;
      } else if (lower(*rollup) != "sub") {
        return errors::message_schedules_rollup_invalid;
      }
    }
  }
  // Clients may send Nats-Schedule-Next only as `purge` with the schedule's subject in
  // Nats-Scheduler, to cancel it; Nats-Scheduler alone is refused.
  auto scheduler = header(hdr, schedule::scheduler_header);
  if (auto next = header(hdr, schedule::next_header); has_value(next)) {
    if (*next != schedule::next_purge) return errors::message_schedules_scheduler_invalid;
    if (!has_value(scheduler) || *scheduler == subject || !protocol::is_valid_literal_subject(*scheduler))
      return errors::message_schedules_scheduler_invalid;
    if (!enabled) return errors::message_schedules_disabled;
    // The subject must hold a schedule (or nothing at all).
    if (auto last = store_->load_last(*scheduler); last && !has_value(header(last->hdr, schedule::pattern_header)))
      return errors::message_schedules_scheduler_invalid;
  } else if (has_value(scheduler)) {
    return errors::message_schedules_scheduler_invalid;
  }
  return {};
}

void stream::schedules_on_stored(const std::string& subject, std::string_view hdr, std::uint64_t seq, std::int64_t ts) {
  if (hdr.empty()) {
    if (schedules_.erase(subject)) sched_changed_ = true;
    return;
  }
  auto ev = schedule::evaluate(header(hdr, schedule::pattern_header), header(hdr, schedule::time_zone_header), ts,
                               js_.now_ns());
  auto scheduler = header(hdr, schedule::scheduler_header);
  if (ev.st == schedule::status::ok) {
    schedules_[subject] = {seq, ev.next_ns};
    sched_inflight_.erase(subject);
    sched_changed_ = true;
  } else if (!has_value(scheduler)) {
    if (schedules_.erase(subject)) sched_changed_ = true;
  }
  // A generated message carries its schedule's next time.
  auto next = header(hdr, schedule::next_header);
  if (has_value(next) && *next != schedule::next_purge && has_value(scheduler)) {
    auto it = schedules_.find(*scheduler);
    auto t = schedule::parse_rfc3339(*next);
    if (it != schedules_.end() && t) {
      it->second.due = *t;
      sched_inflight_.erase(it->first);
      sched_changed_ = true;
    }
  }
}

void stream::rebuild_schedules() {
  schedules_.clear();
  sched_inflight_.clear();
  auto st = store_->state();
  std::vector<std::string> unfinished;
  for (auto m = store_->load_next(st.first_seq, std::string_view{}); m; m = store_->load_next(m->seq + 1, std::string_view{})) {
    if (m->hdr.empty()) continue;
    schedules_on_stored(m->subject, m->hdr, m->seq, m->ts);
    // A one-off that fired just before a crash, its schedule not yet purged: not again.
    auto next = header(m->hdr, schedule::next_header);
    auto scheduler = header(m->hdr, schedule::scheduler_header);
    if (next && *next == schedule::next_purge && has_value(scheduler))
      if (auto it = schedules_.find(*scheduler); it != schedules_.end() && it->second.seq < m->seq) {
        unfinished.push_back(it->first);
        schedules_.erase(it);
      }
  }
  for (auto& subj : unfinished) {
    storage::purge_request pr;
    pr.filter = std::move(subj);
    storage::ignore_result(store_->purge(pr));
  }
  if (!unfinished.empty()) invalidate_recent();
}

void stream::arm_schedule_timer() {
  sched_changed_ = false;
  std::optional<std::int64_t> earliest;
  for (const auto& [subj, e] : schedules_)
    if (!sched_inflight_.count(subj) && (!earliest || e.due < *earliest)) earliest = e.due;
  if (!earliest) {
    if (sched_armed_) sched_timer_.cancel();
    sched_armed_ = false;
    return;
  }
  auto wait = std::max<std::chrono::nanoseconds>(std::chrono::nanoseconds(*earliest - js_.now_ns()), min_fire_delay);
  const auto deadline = std::chrono::steady_clock::now() + wait;
  // An armed timer that fires sooner stays: re-arming it later on every publish would starve it.
  if (sched_armed_ && sched_deadline_ <= deadline) return;
  sched_armed_ = true;
  sched_deadline_ = deadline;
  sched_timer_.expires_at(deadline);
  sched_timer_.async_wait([this, alive = std::weak_ptr<int>(life_)](boost::system::error_code ec) {
    if (ec || alive.expired()) return;
    sched_armed_ = false;
    fire_schedules();
    arm_schedule_timer();
    js_.end_of_task();
  });
}

void stream::fire_schedules() {
  const std::int64_t now = js_.now_ns();
  std::vector<std::pair<std::uint64_t, std::string>> due;  // by schedule sequence
  for (const auto& [subj, e] : schedules_)
    if (e.due <= now && !sched_inflight_.count(subj)) due.emplace_back(e.seq, subj);
  std::sort(due.begin(), due.end());
  flush();  // what is staged goes first
  for (const auto& [seq, subj] : due) {
    auto it = schedules_.find(subj);
    if (it == schedules_.end()) continue;
    const std::int64_t at = it->second.due;
    auto m = store_->load(seq);
    // Checked again, as at publish: anything no longer valid drops the schedule.
    auto pattern = m ? header(m->hdr, schedule::pattern_header) : std::nullopt;
    schedule::evaluation ev;
    if (has_value(pattern)) ev = schedule::evaluate(pattern, header(m->hdr, schedule::time_zone_header), at, now);
    auto ttl = ev.st == schedule::status::ok ? header(m->hdr, schedule::ttl_header) : std::nullopt;
    auto target = ev.st == schedule::status::ok ? header(m->hdr, schedule::target_header) : std::nullopt;
    if (ev.st != schedule::status::ok || (has_value(ttl) && !valid_ttl(*ttl)) || !has_value(target)) {
      schedules_.erase(it);
      continue;
    }
    std::string hdr = m->hdr, data = m->data;
    if (auto source = header(m->hdr, schedule::source_header); has_value(source)) {
      // The last message on the source subject; the schedule's own when there is none.
      if (auto src = store_->load_last(*source)) {
        hdr = src->hdr;
        data = src->data;
      }
    }
    for (std::string_view p : {"Nats-Schedule", "Nats-Expected-", "Nats-Msg-Id:", "Nats-TTL:", "Nats-Rollup:"})
      if (!hdr.empty()) hdr = remove_prefixed(hdr, p);
    append_header(hdr, schedule::scheduler_header, subj);
    append_header(hdr, schedule::next_header,
                  ev.repeat ? schedule::format_rfc3339(ev.next_ns, *ev.zone) : std::string(schedule::next_purge));
    if (has_value(ttl)) append_header(hdr, "Nats-TTL", *ttl);
    if (auto r = header(m->hdr, schedule::rollup_header); has_value(r)) append_header(hdr, "Nats-Rollup", *r);
    sched_inflight_.insert(subj);
    stage_fired(std::string(*target), std::move(hdr), std::move(data));
  }
  flush();
}

void stream::stage_fired(std::string subject, std::string hdr, std::string data) {
  staged_msg sm;
  sm.ts = js_.now_ns();
  if (auto v = header(hdr, "Nats-TTL")) {
    if (lower(*v) != "never") {
      std::int64_t secs = 0;
      if (auto d = server::parse_go_duration(*v)) secs = *d / ns_per_s;
      else std::from_chars(v->data(), v->data() + v->size(), secs);
      sm.ttl = secs * ns_per_s;
    }
  }
  if (auto v = header(hdr, "Nats-Rollup"); v && (lower(*v) == "sub" || lower(*v) == "all")) sm.rollup = lower(*v);
  sm.subject = std::move(subject);
  sm.hdr = std::move(hdr);
  sm.data = std::move(data);
  const std::uint64_t next_seq = store_->state().last_seq + staged_.size() + 1;
  if (cfg_.republish) sm.prev_subject_seq = last_seq_for_subject(sm.subject);
  staged_subject_last_[sm.subject] = next_seq;
  last_msg_id_.clear();
  const bool rollup = !sm.rollup.empty();
  staged_store_bytes_ += store_size(sm.subject, sm.hdr.size(), sm.data.size());
  staged_.push_back(std::move(sm));
  if (rollup) flush();  // the purge must see this message stored
}

}  // namespace jb::jetstream
