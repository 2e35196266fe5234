#include "server/jetstream/stream.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <utility>

#include <boost/json.hpp>

#include "protocol/headers.hpp"
#include "protocol/subject.hpp"
#include "server/jetstream/consumer.hpp"
#include "server/jetstream/schedule.hpp"
#include "server/jetstream/subject_transform.hpp"
#include "server/log.hpp"
#include "server/server.hpp"
#include "server/time_util.hpp"

namespace jb::jetstream {

namespace json = boost::json;

namespace {

std::optional<std::uint64_t> parse_u64(std::string_view s) {
  std::uint64_t v = 0;
  if (s.empty()) return std::nullopt;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

std::string ascii_lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

// Nats-TTL: integer seconds, a Go duration (1h, 90s, 500ms...) or "never". Returns ns, -1 for
// never, nullopt when invalid.
std::optional<std::int64_t> parse_ttl(std::string_view s) {
  if (s.size() == 5 && std::equal(s.begin(), s.end(), "never", [](char a, char b) { return std::tolower(static_cast<unsigned char>(a)) == b; }))
    return -1;  // nats-server compares lower-cased
  if (auto secs = parse_u64(s)) return ttl_seconds_ns(*secs);
  // A duration under 1 s (negative included) is invalid, as in nats-server.
  if (auto d = server::parse_go_duration(s); d && *d > 0) return std::min(*d, max_ttl_ns);
  return std::nullopt;
}

}  // namespace

stream::stream(jetstream& js, stream_config cfg, std::shared_ptr<storage::stream_store> store, std::int64_t created_ns)
    : js_(js), cfg_(std::move(cfg)), store_(std::move(store)), created_(created_ns), age_timer_(js.executor()),
      ttl_timer_(js.executor()), sched_timer_(js.executor()), link_retry_timer_(js.executor()) {}

stream::~stream() = default;

void stream::start() {
  for (const auto& s : cfg_.subjects) subs_.push_back(js_.subscribe(s, target::ingest, cfg_.name));
  if (cfg_.allow_direct) {
    subs_.push_back(js_.subscribe("$JS.API.DIRECT.GET." + cfg_.name, target::direct_get, cfg_.name, "_sys_"));
    subs_.push_back(js_.subscribe("$JS.API.DIRECT.GET." + cfg_.name + ".>", target::direct_get, cfg_.name, "_sys_"));
  }
  auto st = store_->state();
  if (cfg_.first_seq > 0 && st.last_seq == 0 && st.msgs == 0) {
    storage::ignore_result(store_->set_first_seq(cfg_.first_seq));
  }
  arm_age_timer();
  arm_ttl_timer();
  if (cfg_.allow_msg_schedules) {
    rebuild_schedules();
    arm_schedule_timer();
  }
  init_links(nullptr);
}

void stream::stop() {
  for (auto& s : subs_) js_.unsubscribe(s);
  subs_.clear();
  for (auto& s : mirror_direct_subs_) js_.unsubscribe(s);
  mirror_direct_subs_.clear();
  age_timer_.cancel();
  ttl_timer_.cancel();
  sched_timer_.cancel();
  sched_armed_ = false;
  link_retry_timer_.cancel();
  for (auto& [n, c] : consumers_) c->stop();
}

void stream::set_config(stream_config cfg) {
  for (auto& s : subs_) js_.unsubscribe(s);
  subs_.clear();
  const stream_config old = std::exchange(cfg_, std::move(cfg));
  for (const auto& s : cfg_.subjects) subs_.push_back(js_.subscribe(s, target::ingest, cfg_.name));
  if (cfg_.allow_direct) {
    subs_.push_back(js_.subscribe("$JS.API.DIRECT.GET." + cfg_.name, target::direct_get, cfg_.name, "_sys_"));
    subs_.push_back(js_.subscribe("$JS.API.DIRECT.GET." + cfg_.name + ".>", target::direct_get, cfg_.name, "_sys_"));
  }
  enforce_limits_after_append();
  arm_age_timer();
  if (cfg_.allow_msg_schedules && !old.allow_msg_schedules) {
    rebuild_schedules();
    arm_schedule_timer();
  }
  init_links(&old);
  for (auto& [n, c] : consumers_) c->refresh_filters();
  wake_consumers();
}

consumer* stream::find_consumer(std::string_view name) {
  auto it = consumers_.find(name);
  return it == consumers_.end() ? nullptr : it->second.get();
}

void stream::delete_consumer(std::string_view name) {
  auto it = consumers_.find(name);
  if (it == consumers_.end()) return;
  it->second->stop();
  std::string n = it->first;
  consumers_.erase(it);
  storage::ignore_result(js_.env().delete_consumer(cfg_.name, n));
  js_.consumer_advisory(cfg_.name, n, "DELETED", "delete");
  if (cfg_.retention == retention_policy::interest) {
    // Messages only the deleted consumer still wanted go now.
    auto st = store_->state();
    for (auto m = store_->load_next(st.first_seq, std::string_view{}); m; m = store_->load_next(m->seq + 1, std::string_view{}))
      check_retention(m->seq, m->subject);
  }
}

void stream::wake_consumers() {
  for (auto& [n, c] : consumers_) c->signal();
}

void stream::pub_error(std::string_view reply, const api_error& e) {
  if (reply.empty()) return;
  json::object o;
  o["error"] = e.to_json();
  o["stream"] = cfg_.name;
  o["seq"] = 0;
  js_.publish(reply, json::serialize(o));
}

std::uint64_t stream::last_seq_for_subject(std::string_view subject) {
  if (auto it = staged_subject_last_.find(std::string(subject)); it != staged_subject_last_.end()) return it->second;
  auto r = store_->load_last(subject);
  return r ? r->seq : 0;
}

void stream::prune_dedupe(std::int64_t now) {
  while (!dedupe_order_.empty() && dedupe_order_.front().first + cfg_.duplicate_window < now) {
    dedupe_.erase(dedupe_order_.front().second);
    dedupe_order_.pop_front();
  }
}

void stream::stage(const inbound_msg& m) {
  const std::string_view reply = cfg_.no_ack ? std::string_view{} : m.reply();
  if (!m.headers().empty()) {
    if (auto id = protocol::find_header(m.headers(), "Nats-Batch-Id")) return stage_batch(m, reply, *id);
  }
  if (auto e = stage_one(m, reply, false)) pub_error(reply, e);
}

// Atomic batch publish (ADR-50): messages are held until the commit message, then checked and
// stored together, or not at all.
void stream::stage_batch(const inbound_msg& m, std::string_view reply, std::string_view id) {
  if (!cfg_.allow_atomic) return pub_error(reply, errors::atomic_publish_disabled);
  if (id.empty() || id.size() > 64) return pub_error(reply, errors::atomic_publish_invalid_batch_id);
  auto seq_hdr = protocol::find_header(m.headers(), "Nats-Batch-Sequence");
  std::uint64_t seq = 0;
  if (seq_hdr) {
    auto [p, ec] = std::from_chars(seq_hdr->data(), seq_hdr->data() + seq_hdr->size(), seq);
    if (ec != std::errc() || p != seq_hdr->data() + seq_hdr->size()) seq = 0;
  }
  if (seq == 0) return pub_error(reply, errors::atomic_publish_missing_seq);
  const std::string key(id);
  const std::int64_t now = js_.now_ns();
  // Batches idle for 10 s are abandoned.
  for (auto it = batches_.begin(); it != batches_.end();) {
    if (now - it->second.last_ns > 10'000'000'000LL) it = batches_.erase(it);
    else ++it;
  }
  if (seq == 1) {
    if (!batches_.count(key) && batches_.size() >= 50) return pub_error(reply, errors::atomic_publish_too_many_inflight);
    batches_[key] = pending_batch{};
  }
  auto it = batches_.find(key);
  if (it == batches_.end() || seq != it->second.msgs.size() + 1) {
    if (it != batches_.end()) batches_.erase(it);
    return pub_error(reply, errors::atomic_publish_incomplete_batch);
  }
  auto& b = it->second;
  if (b.msgs.size() >= 1000) {
    batches_.erase(it);
    return pub_error(reply, errors::atomic_publish_too_large);
  }
  b.msgs.push_back(m);
  b.last_ns = now;
  auto commit = protocol::find_header(m.headers(), "Nats-Batch-Commit");
  if (!commit) {
    if (!reply.empty()) js_.publish(reply, {});
    return;
  }
  auto msgs = std::move(b.msgs);
  batches_.erase(it);
  flush();  // earlier messages first; the batch then commits as one storage write
  const std::string saved_last_id = last_msg_id_;
  for (const auto& bm : msgs) {
    if (auto e = stage_one(bm, {}, true)) {
      for (const auto& sm : staged_)
        if (!sm.msg_id.empty()) dedupe_.erase(sm.msg_id);
      clear_staged();
      last_msg_id_ = saved_last_id;
      return pub_error(reply, e);
    }
  }
  if (staged_.size() != msgs.size()) {  // a duplicate inside the batch
    clear_staged();
    return pub_error(reply, errors::atomic_publish_incomplete_batch);
  }
  staged_.back().reply = std::string(reply);
  staged_.back().batch_id = key;
  staged_.back().batch_count = msgs.size();
  flush();
}

api_error stream::stage_one(const inbound_msg& m, std::string_view reply, bool in_batch) {
  std::string_view hdr = m.headers();
  // Message too large, sealed, then the header checks in nats-server's order.
  const std::size_t size = hdr.size() + m.payload().size();
  if (cfg_.sealed) return errors::stream_sealed;
  if (cfg_.max_msg_size > 0 && static_cast<std::int64_t>(size) > cfg_.max_msg_size)
    return errors::stream_message_exceeds_maximum;
  if (auto e = js_.check_publish_resources(cfg_.storage, store_size(m.subject(), hdr.size(), m.payload().size()),
                                           staged_store_bytes_))
    return e;

  staged_msg sm;
  sm.ts = m.ts;
  std::string subject(m.subject());
  if (cfg_.subject_transform) {
    if (auto tr = subject_transform::make(cfg_.subject_transform->src, cfg_.subject_transform->dest))
      if (auto out = tr->apply(subject)) subject = std::move(*out);
  }
  std::uint64_t staged_seq_base = store_->state().last_seq;
  const std::uint64_t next_seq = staged_seq_base + staged_.size() + 1;

  // Counter increments (nats-server checks them first): only on counter streams, with an empty
  // payload and none of the headers that assume one stored message per publish.
  std::optional<std::string> incr;
  if (!hdr.empty()) {
    if (auto v = protocol::find_header(hdr, counter::incr_header); v && !v->empty()) {
      incr = counter::parse_increment(*v);
      if (!incr) return errors::message_incr_invalid;
      if (!cfg_.allow_msg_counter) return errors::message_incr_disabled;
      if (!m.payload().empty()) return errors::message_incr_payload;
      for (std::string_view h : {"Nats-Rollup", "Nats-Expected-Stream", "Nats-Expected-Last-Msg-Id",
                                 "Nats-Expected-Last-Subject-Sequence-Subject", "Nats-Expected-Last-Sequence",
                                 "Nats-Expected-Last-Subject-Sequence"})
        if (auto hv = protocol::find_header(hdr, h); hv && !hv->empty()) return errors::message_incr_invalid;
    }
  }
  // A counter stream takes nothing else (a duplicate Nats-Msg-Id is still answered as one).
  if (cfg_.allow_msg_counter && !incr) {
    auto id = hdr.empty() ? std::nullopt : protocol::find_header(hdr, "Nats-Msg-Id");
    bool duplicate = false;
    if (id && !id->empty()) {
      prune_dedupe(m.ts);
      duplicate = dedupe_.count(std::string(*id)) != 0;
    }
    if (!duplicate) return errors::message_incr_missing;
  }

  if (!hdr.empty()) {
    if (auto v = protocol::find_header(hdr, "Nats-Expected-Stream"); v && *v != cfg_.name)
      return errors::stream_not_match;
    if (auto v = protocol::find_header(hdr, "Nats-TTL")) {
      if (!cfg_.allow_msg_ttl) return errors::message_ttl_disabled;
      auto ttl = parse_ttl(*v);
      if (!ttl || (*ttl >= 0 && *ttl < 1'000'000'000)) return errors::message_ttl_invalid;
      sm.ttl = *ttl > 0 ? *ttl : 0;
      if (sm.ttl > 0 && cfg_.subject_delete_marker_ttl > 0 && cfg_.max_msgs_per_subject != 1 &&
          sm.ttl < cfg_.subject_delete_marker_ttl) {
        // A message must not expire before the delete marker that would report it could.
        sm.ttl = cfg_.subject_delete_marker_ttl;
        std::string rewritten = protocol::remove_header(hdr, "Nats-TTL");
        if (rewritten.empty()) rewritten = "NATS/1.0\r\n\r\n";
        rewritten.replace(rewritten.size() - 2, 2,
                          "Nats-TTL: " + std::to_string(sm.ttl / 1'000'000'000) + "\r\n\r\n");
        sm.hdr = std::move(rewritten);
      }
    }
    if (auto v = protocol::find_header(hdr, "Nats-Expected-Last-Subject-Sequence")) {
      auto want = parse_u64(*v);
      {
        std::string check_subject = subject;
        if (auto s2 = protocol::find_header(hdr, "Nats-Expected-Last-Subject-Sequence-Subject")) check_subject = *s2;
        auto have = last_seq_for_subject(check_subject);
        if (!want || have != *want) return errors::stream_wrong_last_sequence.with(std::to_string(have));
      }
    } else if (protocol::find_header(hdr, "Nats-Expected-Last-Subject-Sequence-Subject")) {
      return errors::stream_expected_last_seq_per_subject_invalid;
    }
    if (auto v = protocol::find_header(hdr, "Nats-Expected-Last-Sequence")) {
      auto want = parse_u64(*v);
      if (!want || *want != next_seq - 1)
        return errors::stream_wrong_last_sequence.with(std::to_string(next_seq - 1));
    }
    if (auto e = check_schedule_headers(hdr, subject, js_.now_ns(), sm)) return e;
    if (auto v = protocol::find_header(hdr, "Nats-Msg-Id"); v && !v->empty()) {
      prune_dedupe(m.ts);
      if (auto it = dedupe_.find(std::string(*v)); it != dedupe_.end()) {
        if (!reply.empty()) {
          // nats-server's bytes, space included.
          std::string ack = "{\"stream\":";
          ack.append(json::serialize(json::value(cfg_.name))).append(",\"seq\":").append(std::to_string(it->second));
          ack.append(",\"duplicate\": true}");
          js_.publish(reply, ack);
        }
        return {};
      }
      sm.msg_id = std::string(*v);
    }
    if (auto v = protocol::find_header(hdr, "Nats-Expected-Last-Msg-Id"); v && !v->empty()) {
      if (*v != last_msg_id_) return errors::stream_wrong_last_msg_id.with(last_msg_id_);
    }
    // nats-server reads the value case-insensitively and an empty one as none.
    if (auto v = protocol::find_header(hdr, "Nats-Rollup"); v && !v->empty()) {
      std::string r = ascii_lower(*v);
      if (!cfg_.allow_rollup_hdrs) return errors::stream_rollup_failed.with("rollup not permitted");
      if (r != "sub" && r != "all") return errors::stream_rollup_failed.with("rollup value invalid: \"" + r + "\"");
      if (cfg_.deny_purge) return errors::stream_rollup_failed.with("rollup not permitted");
      sm.rollup = std::move(r);
    }
    // A status line from a client is not stored.
    if (protocol::parse_header_status(hdr).code != 0) {
      auto eol = hdr.find("\r\n");
      sm.hdr = std::string(protocol::header_version) + std::string(hdr.substr(eol));
    }
  }
  if (incr) {
    if (auto e = apply_counter(subject, hdr, m.payload(), std::move(*incr), sm)) return e;
  } else {
    if (sm.hdr.empty()) sm.hdr = std::string(hdr);
    sm.data = std::string(m.payload());
  }
  // Discard new: refuse when the stream is full.
  if (auto e = check_discard_new(subject, sm.hdr.size(), sm.data.size())) return e;
  sm.subject = std::move(subject);
  sm.reply = std::string(reply);
  if (cfg_.republish) sm.prev_subject_seq = last_seq_for_subject(sm.subject);
  staged_subject_last_[sm.subject] = next_seq;
  if (!sm.msg_id.empty()) {
    dedupe_[sm.msg_id] = next_seq;
    dedupe_order_.emplace_back(sm.ts, sm.msg_id);
  }
  last_msg_id_ = sm.msg_id;  // the id of the last stored message, empty when it had none
  const bool rollup = !sm.rollup.empty();
  staged_store_bytes_ += store_size(sm.subject, sm.hdr.size(), sm.data.size());
  staged_.push_back(std::move(sm));
  if (rollup && !in_batch) flush();  // the purge must see this message stored
  return {};
}

// The subject's new total: the running total of what is staged, else the last stored message's.
// A message carrying Nats-Stream-Source is a copy of an upstream counter's total: what is added is
// the difference from the total last seen from that origin (kept in Nats-Counter-Sources), so
// lost or repeated copies never skew the sum.
api_error stream::apply_counter(const std::string& subject, std::string_view hdr, std::string_view body,
                                std::string incr, staged_msg& sm) {
  counter_running cur{"0", {}};
  if (auto it = staged_counters_.find(subject); it != staged_counters_.end()) {
    cur = it->second;
  } else if (auto last = store_->load_last(subject)) {
    auto total = counter::parse_payload(last->data);
    if (!total) return errors::message_counter_broken;
    cur.total = std::move(*total);
    if (auto ncs = protocol::find_header(last->hdr, counter::sources_header); ncs && !ncs->empty()) {
      auto src = counter::parse_sources(*ncs);
      if (!src) return errors::message_counter_broken;
      cur.sources = std::move(*src);
    }
  }
  std::string out_hdr(sm.hdr.empty() ? hdr : std::string_view(sm.hdr));
  if (auto src = protocol::find_header(hdr, "Nats-Stream-Source"); src && !src->empty()) {
    // "<origin> <seq> <filters> <destinations> <original subject>"
    std::vector<std::string_view> f;
    for (std::size_t start = 0;;) {
      auto sp = src->find(' ', start);
      f.push_back(src->substr(start, sp == std::string_view::npos ? std::string_view::npos : sp - start));
      if (sp == std::string_view::npos) break;
      start = sp + 1;
    }
    auto upstream = counter::parse_payload(body);
    if (!upstream) return errors::message_counter_broken;
    auto& seen = cur.sources[std::string(f[0])][std::string(f.size() >= 5 ? f[4] : std::string_view(subject))];
    incr = counter::subtract(*upstream, seen.empty() ? "0" : seen);
    seen = *upstream;
    out_hdr = protocol::set_header(out_hdr, counter::incr_header, incr);
  }
  cur.total = counter::add(cur.total, incr);
  sm.data = counter::payload(cur.total);
  if (!cur.sources.empty())
    out_hdr = protocol::set_header(out_hdr, counter::sources_header, counter::sources_json(cur.sources));
  std::int64_t max_size = js_.options().max_payload;
  if (cfg_.max_msg_size >= 0 && cfg_.max_msg_size < max_size) max_size = cfg_.max_msg_size;
  if (static_cast<std::int64_t>(out_hdr.size()) > max_size ||
      static_cast<std::int64_t>(sm.data.size()) > max_size - static_cast<std::int64_t>(out_hdr.size()))
    return errors::stream_message_exceeds_maximum;
  sm.hdr = std::move(out_hdr);
  sm.counter_value = cur.total;
  staged_counters_[subject] = std::move(cur);
  return {};
}

std::uint64_t stream::store_size(std::string_view subject, std::size_t hdr, std::size_t data) const {
  return cfg_.storage == storage_kind::memory ? storage::memory_store_msg_size(subject.size(), hdr, data)
                                              : storage::file_store_msg_size(subject.size(), hdr, data);
}

void stream::clear_staged() {
  staged_store_bytes_ = 0;
  staged_.clear();
  staged_subject_last_.clear();
  staged_counters_.clear();
  staged_bytes_ = 0;
}

api_error stream::check_discard_new(std::string_view subject, std::size_t hdr_size, std::size_t data_size) {
  if (cfg_.discard != discard_policy::new_msgs) return {};
  auto st = store_->state();
  if (cfg_.max_msgs > 0 && st.msgs + staged_.size() >= static_cast<std::uint64_t>(cfg_.max_msgs))
    return errors::stream_store_failed.with("maximum messages exceeded");
  std::uint64_t msz = cfg_.storage == storage_kind::memory
                          ? storage::memory_store_msg_size(subject.size(), hdr_size, data_size)
                          : storage::file_store_msg_size(subject.size(), hdr_size, data_size);
  if (cfg_.max_bytes > 0 && st.bytes + staged_bytes_ + msz > static_cast<std::uint64_t>(cfg_.max_bytes))
    return errors::stream_store_failed.with("maximum bytes exceeded");
  if (cfg_.discard_new_per_subject && cfg_.max_msgs_per_subject > 0) {
    auto counts = store_->subject_counts(subject);
    std::uint64_t have = counts.empty() ? 0 : counts.begin()->second;
    for (const auto& s : staged_) have += s.subject == subject;
    if (have >= static_cast<std::uint64_t>(cfg_.max_msgs_per_subject))
      return errors::stream_store_failed.with("maximum messages per subject exceeded");
  }
  staged_bytes_ += msz;
  return {};
}

void stream::flush() {
  if (staged_.empty()) return;
  std::vector<storage::append_request> reqs;
  reqs.reserve(staged_.size());
  for (const auto& s : staged_) {
    storage::append_request r;
    r.subject = s.subject;
    r.hdr = s.hdr;
    r.data = s.data;
    r.ts = s.ts;
    r.ttl_ns = std::max<std::int64_t>(s.ttl, 0);  // the store refuses the whole batch for one negative TTL
    reqs.push_back(r);
  }
  auto first = store_->append_batch(reqs);
  if (!first) {
    log::jetstream().error("Stream {}: storing {} messages failed: {}", cfg_.name, staged_.size(), first.error().message());
    for (const auto& s : staged_) {
      if (!s.msg_id.empty()) dedupe_.erase(s.msg_id);
      pub_error(s.reply, errors::stream_store_failed.with(first.error().message()));
    }
  }
  // sync_interval: always with the pipelined group commit: the batch is in the WAL but not yet
  // fsynced. Its PubAcks, consumer deliveries and link copies wait for the sync thread's word
  // (after_wal_sync below) while the next batch is staged and written.
  const bool await_sync = first && store_->appends_await_sync();
  std::vector<std::pair<std::string, std::string>> held_acks;  // (reply, PubAck)
  if (first) {
    // PubAcks: `{"stream":<name>,"seq":` is the same for the whole batch.
    const std::string ack_prefix = "{\"stream\":" + json::serialize(json::value(cfg_.name)) + ",\"seq\":";
    std::string ack;
    for (std::size_t i = 0; i < staged_.size(); ++i) {
      const auto& s = staged_[i];
      const std::uint64_t seq = *first + i;
      if (!s.msg_id.empty()) dedupe_[s.msg_id] = seq;
      if (cfg_.allow_msg_schedules) schedules_on_stored(s.subject, s.hdr, seq, s.ts);
      if (!s.rollup.empty()) {
        storage::purge_request pr;
        pr.filter = s.rollup == "all" ? std::string() : s.subject;
        pr.up_to = seq;
        storage::ignore_result(store_->purge(pr));
        invalidate_recent();
      }
      // `Nats-Schedule-Next: purge` with `Nats-Scheduler: <subject>`: a one-off schedule fired
      // (or a client cancels one); its subject is purged.
      if (cfg_.allow_rollup_hdrs && !cfg_.deny_purge && !s.hdr.empty()) {
        auto next = protocol::find_header(s.hdr, schedule::next_header);
        auto scheduler = next && *next == schedule::next_purge ? protocol::find_header(s.hdr, schedule::scheduler_header)
                                                                : std::nullopt;
        if (scheduler && !scheduler->empty()) {
          storage::purge_request pr;
          pr.filter = std::string(*scheduler);
          storage::ignore_result(store_->purge(pr));
          invalidate_recent();
          if (auto it = schedules_.find(*scheduler); it != schedules_.end() && it->second.seq < seq) {
            sched_inflight_.erase(it->first);
            schedules_.erase(it);
            sched_changed_ = true;
          }
        }
      }
      if (cfg_.republish) republish(s, seq);
      if (!marker_subjects_.empty()) marker_subjects_.erase(s.subject);
      if (!s.reply.empty()) {
        char num[24];
        ack.assign(ack_prefix).append(num, std::to_chars(num, num + sizeof num, seq).ptr);
        if (!s.counter_value.empty()) ack.append(",\"val\":\"").append(s.counter_value).append("\"");
        if (!s.batch_id.empty()) {
          ack.append(",\"batch\":").append(json::serialize(json::value(s.batch_id)));
          ack.append(",\"count\":").append(std::to_string(s.batch_count));
        }
        ack.append("}");
        if (await_sync) held_acks.emplace_back(s.reply, ack);
        else js_.publish(s.reply, ack);
      }
    }
    if (cfg_.allow_msg_ttl) arm_ttl_timer();
    if (sched_changed_) arm_schedule_timer();
    if (!await_sync) js_.on_stream_appended(cfg_.name);
  }
  if (first) {
    // Keep the batch in the recent-message cache (bounded, oldest out first).
    constexpr std::size_t max_recent_bytes = 16u << 20;
    if (!recent_.empty() && recent_.back().seq + 1 != *first) invalidate_recent();
    for (std::size_t i = 0; i < staged_.size(); ++i) {
      auto& sm = staged_[i];
      storage::stored_msg m;
      m.seq = *first + i;
      m.ts = sm.ts;
      m.expires = sm.ttl > 0 ? sm.ts + sm.ttl : 0;
      m.subject = std::move(sm.subject);
      m.hdr = std::move(sm.hdr);
      m.data = std::move(sm.data);
      recent_bytes_ += m.subject.size() + m.hdr.size() + m.data.size() + 64;
      recent_.push_back(std::move(m));
    }
    while (recent_bytes_ > max_recent_bytes && !recent_.empty()) {
      recent_bytes_ -= recent_.front().subject.size() + recent_.front().hdr.size() + recent_.front().data.size() + 64;
      recent_.pop_front();
    }
  }
  const std::size_t n_staged = staged_.size();
  std::vector<std::string> appended;
  if (cfg_.max_msgs_per_subject > 0) {
    appended.reserve(staged_subject_last_.size());
    for (const auto& [subj, seq] : staged_subject_last_) appended.push_back(subj);
  }
  clear_staged();
  enforce_limits_after_append(first ? &appended : nullptr);
  if (cfg_.retention == retention_policy::interest && first) {
    // Messages that no consumer is interested in are not kept.
    auto st = store_->state();
    for (std::uint64_t seq = *first; seq <= st.last_seq; ++seq) {
      auto msg = store_->load(seq);
      if (msg) check_retention(seq, msg->subject);
    }
  }
  if (!await_sync) {
    wake_consumers();
    return;
  }
  const std::uint64_t last = *first + n_staged - 1;
  if (unsynced_from_ == 0) unsynced_from_ = *first;
  ++syncs_in_flight_;
  js_.after_wal_sync([this, alive = std::weak_ptr<int>(life_), acks = std::move(held_acks), last](bool ok) {
    const auto lock = alive.lock();
    for (const auto& [reply, ack] : acks) {
      if (ok) js_.publish(reply, ack);
      else if (lock) pub_error(reply, errors::stream_store_failed.with("write-ahead log fsync failed"));
    }
    if (!lock) return;  // the stream was deleted meanwhile
    unsynced_from_ = --syncs_in_flight_ == 0 ? 0 : last + 1;
    js_.on_stream_appended(cfg_.name);
    wake_consumers();
  });
}

void stream::republish(const staged_msg& m, std::uint64_t seq) {
  auto tr = subject_transform::make(cfg_.republish->src, cfg_.republish->dest);
  if (!tr) return;
  auto dest = tr->apply(m.subject);
  if (!dest) return;
  std::string hdr = m.hdr.empty() ? std::string("NATS/1.0\r\n\r\n") : m.hdr;
  std::string extra = "Nats-Stream: " + cfg_.name + "\r\nNats-Subject: " + m.subject + "\r\nNats-Sequence: " +
                      std::to_string(seq) + "\r\nNats-Time-Stamp: " + server::rfc3339_ns(m.ts) +
                      "\r\nNats-Last-Sequence: " + std::to_string(m.prev_subject_seq) + "\r\n";
  if (cfg_.republish->headers_only) extra += "Nats-Msg-Size: " + std::to_string(m.data.size()) + "\r\n";
  hdr.replace(hdr.size() - 2, 2, extra + "\r\n");
  js_.publish(*dest, *dest, {}, hdr, cfg_.republish->headers_only ? std::string_view{} : std::string_view(m.data));
}

void stream::enforce_limits_after_append(const std::vector<std::string>* appended_subjects) {
  std::uint64_t removed = 0;
  auto add = [&](const storage::result<std::uint64_t>& r) { if (r) removed += *r; };
  if (cfg_.max_msgs_per_subject > 0) {
    // After appends only the subjects just written can be over the limit: check just those
    // (a whole-stream scan per KV put would make puts quadratic in the bucket size).
    if (appended_subjects) {
      for (const auto& subj : *appended_subjects)
        add(store_->enforce_max_msgs_per_subject(cfg_.max_msgs_per_subject, subj));
    } else {
      add(store_->enforce_max_msgs_per_subject(cfg_.max_msgs_per_subject));
    }
  }
  if (cfg_.max_msgs > 0) add(store_->enforce_max_msgs(cfg_.max_msgs));
  if (cfg_.max_bytes > 0) add(store_->enforce_max_bytes(cfg_.max_bytes));
  if (removed) invalidate_recent();
}

std::map<std::string, std::uint64_t> stream::marker_candidates() {
  if (cfg_.subject_delete_marker_ttl <= 0) return {};
  return store_->subject_counts("");
}

void stream::write_delete_markers(const std::map<std::string, std::uint64_t>& before) {
  if (cfg_.subject_delete_marker_ttl <= 0 || before.empty()) return;
  auto after = store_->subject_counts("");
  const std::string hdr = "NATS/1.0\r\nNats-Marker-Reason: MaxAge\r\nNats-TTL: " +
                          server::go_duration(cfg_.subject_delete_marker_ttl) + "\r\nNats-Rollup: sub\r\n\r\n";
  bool wrote = false;
  for (const auto& [subject, n] : before) {
    if (after.count(subject)) continue;
    // A marker expiring does not leave another marker.
    if (marker_subjects_.erase(subject)) continue;
    // The subject's last message expired: leave a marker (itself expiring) for watchers.
    storage::append_request r;
    r.subject = subject;
    r.hdr = hdr;
    r.ts = js_.now_ns();
    r.ttl_ns = cfg_.subject_delete_marker_ttl;
    if (store_->append(r)) {
      wrote = true;
      marker_subjects_.insert(subject);
    }
  }
  if (wrote) {
    arm_ttl_timer();
    wake_consumers();
    js_.on_stream_appended(cfg_.name);
  }
}

void stream::remove_msg(std::uint64_t seq) {
  storage::ignore_result(store_->remove(seq));
  invalidate_recent();
  if (links_blocked()) schedule_link_sync();  // room again for a link held back by discard new
}

void stream::on_purged() {
  invalidate_recent();
  if (links_blocked()) schedule_link_sync();
  for (auto& [n, c] : consumers_) c->on_stream_purged();
}

void stream::check_retention(std::uint64_t seq, const std::string& subject) {
  if (cfg_.retention == retention_policy::limits) return;
  for (auto& [n, c] : consumers_)
    if (c->needs(seq, subject)) return;
  if (cfg_.retention == retention_policy::workqueue && consumers_.empty()) return;
  remove_msg(seq);
}

void stream::arm_age_timer() {
  age_timer_.cancel();
  if (cfg_.max_age <= 0) return;
  auto st = store_->state();
  std::int64_t now = js_.now_ns();
  std::int64_t wait_ns = cfg_.max_age;
  if (st.msgs > 0) {
    wait_ns = st.first_ts + cfg_.max_age - now;
    if (wait_ns < 0) wait_ns = 0;
  }
  wait_ns = std::max<std::int64_t>(wait_ns, 1'000'000);  // at least 1 ms between sweeps
  age_timer_.expires_after(std::chrono::nanoseconds(wait_ns));
  age_timer_.async_wait([this, alive = std::weak_ptr<int>(life_)](boost::system::error_code ec) {
    if (ec || alive.expired()) return;
    auto before = marker_candidates();
    auto removed = store_->expire_before(js_.now_ns() - cfg_.max_age);
    if (removed && *removed > 0) {
      write_delete_markers(before);
      on_purged();
    }
    arm_age_timer();
    js_.end_of_task();
  });
}

void stream::arm_ttl_timer() {
  auto next = store_->next_ttl_deadline();
  ttl_timer_.cancel();
  if (!next) return;
  std::int64_t wait_ns = std::max<std::int64_t>(*next - js_.now_ns(), 1'000'000);
  ttl_timer_.expires_after(std::chrono::nanoseconds(wait_ns));
  ttl_timer_.async_wait([this, alive = std::weak_ptr<int>(life_)](boost::system::error_code ec) {
    if (ec || alive.expired()) return;
    auto before = marker_candidates();
    auto removed = store_->expire_ttl(js_.now_ns());
    if (removed && *removed > 0) {
      write_delete_markers(before);
      on_purged();
    }
    arm_ttl_timer();
    js_.end_of_task();
  });
}

}  // namespace jb::jetstream
