#include "server/jetstream/consumer.hpp"

#include <algorithm>
#include <charconv>
#include <limits>
#include <random>

#include <boost/asio/post.hpp>
#include <boost/json.hpp>

#include "protocol/headers.hpp"
#include "protocol/subject.hpp"
#include "server/jetstream/json_util.hpp"
#include "server/jetstream/stream.hpp"
#include "server/log.hpp"
#include "server/server.hpp"
#include "server/time_util.hpp"
#include "server/random_seed.hpp"

namespace jb::jetstream {

namespace json = boost::json;
namespace asio = boost::asio;

namespace {

// sample_freq as a percentage: "30%" or "30" -> 30, clamped to 0..100; 0 when unset or malformed.
int sample_percent(std::string_view f) {
  if (!f.empty() && f.back() == '%') f.remove_suffix(1);
  int n = 0;
  auto [p, ec] = std::from_chars(f.data(), f.data() + f.size(), n);
  if (ec != std::errc() || p != f.data() + f.size()) return 0;
  return std::clamp(n, 0, 100);
}

std::int64_t steady_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// now + a client-chosen duration (a NAK delay, ack_wait, expires...), saturating instead of
// overflowing: a delay of 9e18 ns means never, not a deadline in the past.
std::int64_t sat_add(std::int64_t now, std::int64_t d) {
  std::int64_t r;
  if (__builtin_add_overflow(now, d, &r)) return d > 0 ? std::numeric_limits<std::int64_t>::max() : std::numeric_limits<std::int64_t>::min();
  return r;
}


constexpr std::int64_t max_fc_window = 32 * 1024 * 1024;

}  // namespace

consumer::consumer(jetstream& js, stream& s, consumer_config cfg, std::shared_ptr<storage::consumer_store> store,
                   std::int64_t created_ns, bool restored)
    : js_(js), stream_(s), cfg_(std::move(cfg)), store_(std::move(store)), created_(created_ns), timer_(js.executor()) {
  sample_percent_ = sample_percent(cfg_.sample_freq);
  refresh_filters();
  if (restored) {
    const auto& st = store_->state();
    sseq_next_ = st.delivered.stream + 1;
    const std::int64_t now = steady_ns();
    for (const auto& [sseq, pe] : st.pending) set_deadline(sseq, sat_add(now, cfg_.ack_wait));
  } else {
    position_at_start();
  }
  if (cfg_.has_pause_until) pause_until_ = cfg_.pause_until;
  last_active_ = steady_ns();
}

consumer::~consumer() = default;

void consumer::start() {
  if (cfg_.is_push()) was_active_ = js_.has_interest(cfg_.deliver_subject);
  last_delivery_ = steady_ns();
  signal();
  schedule_timer();
}

void consumer::stop() {
  timer_.cancel();
  for (auto& r : waiting_) send_status(r.reply, 409, "Consumer Deleted", true);
  waiting_.clear();
}

void consumer::update_config(consumer_config cfg) {
  cfg_ = std::move(cfg);
  sample_percent_ = sample_percent(cfg_.sample_freq);
  if (cfg_.priority != priority_policy::pinned_client && !pin_id_.empty()) {
    pin_id_.clear();
    pin_ts_ = pin_expires_ = 0;
  }
  refresh_filters();
  json::object stored = to_json(cfg_, false);
  stored["__created"] = created_;
  storage::ignore_result(store_->update_config(json::serialize(stored)));
  signal();
}

void consumer::refresh_filters() {
  filters_ = cfg_.filters();
  // Filters that cover every subject the stream stores select everything: storage then reads and
  // counts without its subject index (a KV watcher on $KV.b.> over a stream on $KV.b.> would
  // otherwise count pending messages subject by subject after every put). Only for streams whose
  // stored subjects are their configured ones: no ingest transform, mirror or sources.
  const auto& sc = stream_.config();
  if (!filters_.empty() && !sc.subjects.empty() && !sc.subject_transform && !sc.mirror && sc.sources.empty() &&
      std::all_of(sc.subjects.begin(), sc.subjects.end(), [&](const std::string& subj) {
        return std::any_of(filters_.begin(), filters_.end(),
                           [&](const std::string& f) { return protocol::subject_is_subset(subj, f); });
      }))
    filters_.clear();
  num_pending_valid_ = false;
  ahead_.clear();  // read with the old filters
  ahead_pos_ = 0;
}

bool consumer::matches(std::string_view subject) const {
  if (filters_.empty()) return true;
  for (const auto& f : filters_)
    if (protocol::subject_matches(f, subject)) return true;
  return false;
}

void consumer::position_at_start() {
  auto& store = stream_.store();
  auto st = store.state();
  std::uint64_t first = std::max<std::uint64_t>(st.first_seq, 1);
  switch (cfg_.deliver) {
    case deliver_policy::all:
      sseq_next_ = first;
      break;
    case deliver_policy::new_only:
      sseq_next_ = st.last_seq + 1;
      break;
    case deliver_policy::by_start_sequence:
      sseq_next_ = std::max<std::uint64_t>(cfg_.opt_start_seq, 1);
      break;
    case deliver_policy::last: {
      if (filters_.empty()) {
        sseq_next_ = st.msgs ? st.last_seq : st.last_seq + 1;
      } else {
        std::uint64_t best = 0;
        for (const auto& f : filters_)
          if (auto m = store.load_last(f)) best = std::max(best, m->seq);
        sseq_next_ = best ? best : st.last_seq + 1;
      }
      break;
    }
    case deliver_policy::by_start_time: {
      sseq_next_ = st.last_seq + 1;
      for (auto m = store.load_next(first, std::string_view{}); m; m = store.load_next(m->seq + 1, std::string_view{})) {
        if (m->ts >= cfg_.opt_start_time) {
          sseq_next_ = m->seq;
          break;
        }
      }
      break;
    }
    case deliver_policy::last_per_subject: {
      const auto seqs = store.last_seqs(filters_);
      lps_seqs_.assign(seqs.begin(), seqs.end());
      sseq_next_ = st.last_seq + 1;
      break;
    }
  }
  // Remember the starting point (so a restart does not go back to the beginning), and report it
  // as nats-server does: delivered and ack floor one before the first message to deliver.
  const std::uint64_t start = lps_seqs_.empty() ? sseq_next_ : lps_seqs_.front();
  if (start > 1) {
    storage::consumer_state cs;
    cs.delivered = {0, start - 1};
    cs.ack_floor = {0, start - 1};
    storage::ignore_result(store_->update_state(cs));
  }
}

bool consumer::paused() const { return pause_until_ != 0 && pause_until_ > js_.now_ns(); }

void consumer::pause(std::int64_t until_ns) {
  pause_until_ = until_ns;
  cfg_.has_pause_until = until_ns != 0;
  cfg_.pause_until = until_ns;
  json::object stored = to_json(cfg_, false);
  stored["__created"] = created_;
  storage::ignore_result(store_->update_config(json::serialize(stored)));
  schedule_timer();
  if (!paused()) signal();
}

bool consumer::push_bound() const { return cfg_.is_push() && js_.has_interest(cfg_.deliver_subject); }

std::uint64_t consumer::pending_count() {
  if (!num_pending_valid_) {
    num_pending_cache_ = stream_.store().num_pending(sseq_next_, filters_, storage::last_per_subject::no) + lps_seqs_.size();
    num_pending_valid_ = true;
  }
  return num_pending_cache_;
}

bool consumer::needs(std::uint64_t seq, std::string_view subject) const {
  if (!matches(subject)) return false;
  const auto& st = store_->state();
  if (seq <= st.ack_floor.stream) return false;
  if (st.pending.count(seq)) return true;
  return seq >= sseq_next_;
}

void consumer::signal() {
  num_pending_valid_ = false;
  deliver_loop();
}

void consumer::on_stream_purged() {
  auto st = stream_.store().state();
  if (sseq_next_ < st.first_seq) sseq_next_ = st.first_seq;
  while (!lps_seqs_.empty() && lps_seqs_.front() < st.first_seq) lps_seqs_.pop_front();
  signal();
}

void consumer::on_interest(std::string_view subject) {
  if (cfg_.is_push() && protocol::subject_matches(subject, cfg_.deliver_subject)) {
    last_active_ = steady_ns();
    deliver_loop();
  }
}

std::int64_t consumer::ack_deadline(std::uint64_t dc, std::int64_t now) const {
  std::int64_t wait = cfg_.ack_wait;
  if (!cfg_.backoff.empty()) {
    std::size_t i = dc == 0 ? 0 : std::min<std::size_t>(dc - 1, cfg_.backoff.size() - 1);
    wait = cfg_.backoff[i];
  }
  return sat_add(now != 0 ? now : steady_ns(), wait);
}

void consumer::set_deadline(std::uint64_t sseq, std::int64_t deadline, bool in_order) {
  deadlines_.set(sseq, deadline, in_order);
  if (timer_at_ == 0 || deadline < timer_at_) schedule_timer();
}

void consumer::clear_deadline(std::uint64_t sseq) {
  deadlines_.clear(sseq);
}

std::optional<consumer::next_msg> consumer::next_message() {
  auto& store = stream_.store();
  while (!redeliver_.empty()) {
    auto sseq = *redeliver_.begin();
    redeliver_.erase(redeliver_.begin());
    const auto& st = store_->state();
    if (!st.pending.count(sseq)) continue;  // acked meanwhile
    auto m = store.load(sseq);
    if (!m) {  // gone from the stream: nothing left to redeliver
      storage::ignore_result(store_->update_acks(st.pending.at(sseq).seq, sseq));
      clear_deadline(sseq);
      continue;
    }
    std::uint64_t dc = 2;
    if (auto it = st.redelivered.find(sseq); it != st.redelivered.end()) dc = it->second + 2;
    return next_msg{std::move(*m), dc, true};
  }
  if (!lps_seqs_.empty()) {
    // A dense last-per-subject set (a KV bucket with little history) is read in ranges, a
    // sparse one message by message; a range read is kept while nothing is removed from the
    // stream (as for the read-ahead below).
    const auto st = store.state();
    const std::uint64_t removals = st.last_seq - st.msgs;
    const bool dense = lps_seqs_.size() * 4 >= lps_seqs_.back() - lps_seqs_.front() + 1;
    if (lps_removals_ != removals) {
      lps_ahead_.clear();
      lps_pos_ = 0;
    }
    while (!lps_seqs_.empty()) {
      const auto sseq = lps_seqs_.front();
      lps_seqs_.pop_front();
      if (dense) {
        while (lps_pos_ < lps_ahead_.size() && lps_ahead_[lps_pos_].seq < sseq) ++lps_pos_;
        if (lps_pos_ == lps_ahead_.size()) {
          lps_ahead_.clear();
          lps_pos_ = 0;
          if (auto r = store.load_range(sseq, {}, 128, 256 * 1024)) lps_ahead_ = std::move(r->msgs);
          lps_removals_ = removals;
        }
        if (lps_pos_ < lps_ahead_.size() && lps_ahead_[lps_pos_].seq == sseq)
          return next_msg{std::move(lps_ahead_[lps_pos_++]), 1, false, true};
      } else if (auto m = store.load(sseq)) {
        return next_msg{std::move(*m), 1, false, true};
      }
      if (num_pending_cache_ > 0) --num_pending_cache_;  // gone from the stream
    }
    lps_ahead_.clear();
    lps_pos_ = 0;
  }
  // The tail of the stream is in the stream's recent-message cache: no storage read. The cache is
  // contiguous up to the last sequence, so a miss inside it means there is nothing to deliver.
  // Nothing past visible_last() (appends still waiting for their fsync) is delivered.
  const std::uint64_t visible = stream_.visible_last();
  if (stream_.recent_covers(sseq_next_)) {
    const std::uint64_t upto = std::min(stream_.recent_last(), visible);
    for (std::uint64_t q = sseq_next_; q <= upto; ++q) {
      const auto* cm = stream_.recent(q);
      if (cm && matches(cm->subject)) {
        sseq_next_ = q + 1;
        return next_msg{*cm, 1, false};
      }
    }
    if (upto >= visible) {
      sseq_next_ = std::max(sseq_next_, upto + 1);
      return std::nullopt;
    }
  }
  // Behind the cache: read ahead with one storage scan per batch instead of a lookup per
  // message. The batch stays valid while the consumer continues where it left off and nothing was
  // removed from the stream (last_seq - msgs grows with every removal, never with an append).
  const auto st = store.state();
  if (sseq_next_ > visible) return std::nullopt;
  const std::uint64_t removals = st.last_seq - st.msgs;
  if (ahead_pos_ == ahead_.size() || ahead_from_ != sseq_next_ || ahead_removals_ != removals) {
    constexpr std::size_t read_ahead_msgs = 128, read_ahead_bytes = 256 * 1024;
    auto r = store.load_range(sseq_next_, filters_, read_ahead_msgs, read_ahead_bytes);
    ahead_.clear();
    ahead_pos_ = 0;
    if (!r) return std::nullopt;
    ahead_ = std::move(r->msgs);
    while (!ahead_.empty() && ahead_.back().seq > visible) ahead_.pop_back();
    r->next = std::min(r->next, visible + 1);
    ahead_removals_ = removals;
    if (ahead_.empty()) {
      sseq_next_ = std::max(sseq_next_, r->next);  // nothing matching up to r->next
      ahead_from_ = sseq_next_;
      return std::nullopt;
    }
  }
  auto& m = ahead_[ahead_pos_++];
  sseq_next_ = m.seq + 1;
  ahead_from_ = sseq_next_;
  next_msg n{std::move(m), 1, false};
  if (ahead_pos_ == ahead_.size()) {
    ahead_.clear();
    ahead_pos_ = 0;
  }
  return n;
}

void consumer::deliver(const next_msg& n, const std::string& route_subject) {
  const auto& st = store_->state();
  const std::uint64_t dseq = st.delivered.consumer + 1;
  const std::uint64_t sseq = n.msg.seq;
  if (!n.redelivery && num_pending_valid_ && num_pending_cache_ > 0) --num_pending_cache_;
  const std::uint64_t pending = pending_count();
  std::string reply;
  {
    const auto& sname = stream_.config().name;
    reply.reserve(8 + sname.size() + cfg_.name.size() + 2 + 5 * 21);
    const auto num = [&reply](auto v, bool dot) {
      char b[24];
      auto [p, ec] = std::to_chars(b, b + sizeof b, v);
      reply.append(b, p);
      if (dot) reply.push_back('.');
    };
    reply.append("$JS.ACK.").append(sname).append(".").append(cfg_.name).append(".");
    num(n.dc, true);
    num(sseq, true);
    num(dseq, true);
    num(n.msg.ts, true);
    num(pending, false);
  }
  std::string_view hdr = n.msg.hdr;
  std::string_view data = n.msg.data;
  std::string hdr_buf;
  if (cfg_.headers_only) {
    hdr_buf = hdr.empty() ? std::string("NATS/1.0\r\n\r\n") : std::string(hdr);
    hdr_buf.replace(hdr_buf.size() - 2, 2, "Nats-Msg-Size: " + std::to_string(n.msg.data.size()) + "\r\n\r\n");
    hdr = hdr_buf;
    data = {};
  }
  if (cfg_.priority == priority_policy::pinned_client && !cfg_.is_push()) {
    // nats-server adds the header for every pull delivery of a pinned_client consumer.
    if (hdr_buf.empty()) hdr_buf = hdr.empty() ? std::string("NATS/1.0\r\n\r\n") : std::string(hdr);
    hdr_buf.insert(hdr_buf.size() - 2, "Nats-Pin-Id: " + pin_id_ + "\r\n");
    hdr = hdr_buf;
  }
  js_.publish(route_subject, n.msg.subject, reply, hdr, data);
  const std::int64_t now_wall = js_.now_ns();
  last_delivered_wall_ = now_wall;
  const bool track = cfg_.ack != ack_policy::none;
  storage::ignore_result(store_->update_delivered(dseq, sseq, n.dc, now_wall,
                                                  track ? storage::track_pending::yes : storage::track_pending::no));
  const std::int64_t now = steady_ns();
  if (track) set_deadline(sseq, ack_deadline(n.dc, now), n.dc == 1 || cfg_.backoff.empty());
  last_delivery_ = now;
  fc_bytes_ += static_cast<std::int64_t>(hdr.size() + data.size());
}

void consumer::send_status(std::string_view reply, int code, std::string_view description, bool pending_headers,
                           std::int64_t pending_msgs, std::int64_t pending_bytes) {
  protocol::header_builder b;
  b.status(code, description);
  if (pending_headers) {
    b.add("Nats-Pending-Messages", std::to_string(pending_msgs));
    b.add("Nats-Pending-Bytes", std::to_string(pending_bytes));
  }
  auto hdr = b.finish();
  js_.publish(reply, reply, {}, hdr, {});
}

void consumer::deliver_loop() {
  if (delivering_) return;
  delivering_ = true;
  const std::int64_t now = steady_ns();
  // The connections written to are woken every few deliveries, not only when the task ends, so a
  // long loop (a flow-control window, a pull batch) is written out while the rest is produced.
  constexpr unsigned kick_every = 32;
  unsigned since_kick = 0;
  for (;;) {
    if (++since_kick == kick_every) {
      since_kick = 0;
      js_.flush_kicks();
    }
    if (paused()) break;
    if (cfg_.is_push()) {
      if (!js_.has_interest(cfg_.deliver_subject)) {
        was_active_ = false;
        break;
      }
      was_active_ = true;
      last_active_ = now;
      if (cfg_.flow_control && fc_bytes_ >= fc_window_) break;  // stalled until the FC reply
    } else {
      // Oldest request first; requests whose requester went away are dropped silently.
      while (!waiting_.empty() && !js_.has_interest(waiting_.front().reply)) waiting_.pop_front();
      if (waiting_.empty()) break;
    }
    if (cfg_.ack != ack_policy::none && cfg_.max_ack_pending > 0 &&
        static_cast<std::int64_t>(store_->state().pending.size()) >= cfg_.max_ack_pending)
      break;
    auto n = next_message();
    if (!n) {
      end_no_wait_requests();
      break;
    }
    if (cfg_.is_push()) {
      deliver(*n, cfg_.deliver_subject);
      if (cfg_.flow_control && fc_pending_.empty() && fc_bytes_ >= fc_window_ / 2) {
        static constexpr char alphabet[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
        std::string rnd;
        for (int i = 0; i < 4; ++i) rnd += alphabet[static_cast<std::size_t>(steady_ns() >> (i * 5)) % 62];
        fc_pending_ = "$JS.FC." + stream_.config().name + "." + cfg_.name + "." + rnd;
        fc_request_bytes_ = fc_bytes_;
        auto hdr = protocol::header_builder().status(100, "FlowControl Request").finish();
        js_.publish(cfg_.deliver_subject, cfg_.deliver_subject, fc_pending_, hdr, {});
      }
    } else {
      bool claimed_pin = false;
      if (cfg_.priority != priority_policy::none && !front_request_for(*n, claimed_pin)) {
        // No request may take it now (overflow thresholds not reached, or only standby clients of
        // a pinned consumer): keep it, and end the no_wait requests as at the end of the stream.
        put_back(std::move(*n));
        end_no_wait_requests();
        break;
      }
      auto& req = waiting_.front();
      const std::int64_t size = static_cast<std::int64_t>(n->msg.hdr.size() + n->msg.data.size() + n->msg.subject.size());
      if (req.max_bytes > 0 && size > req.bytes_left) {
        // Put the message back for the next request.
        put_back(std::move(*n));
        if (claimed_pin) pin_id_.clear(), pin_ts_ = pin_expires_ = 0;
        send_status(req.reply, 409, "Message Size Exceeds MaxBytes", true, req.batch, req.bytes_left);
        waiting_.pop_front();
        continue;
      }
      std::string reply = req.reply;
      deliver(*n, reply);
      req.delivered++;
      req.bytes_left -= size;
      --req.batch;
      if (req.batch > 0 && req.max_bytes > 0 && req.bytes_left <= 0) {
        send_status(req.reply, 409, "Batch Completed", true);
        waiting_.pop_front();
      } else if (cfg_.priority != priority_policy::none) {
        requeue_front(waiting_, cfg_.priority);  // nats pop / popAndRequeue
      } else if (req.batch <= 0) {
        waiting_.pop_front();
      }
    }
  }
  delivering_ = false;
  schedule_timer();
}

void consumer::end_no_wait_requests() {
  // Nothing more to deliver: no_wait requests that are done end with 404.
  for (auto it = waiting_.begin(); it != waiting_.end();) {
    if (it->no_wait && (it->expires_at == 0 || it->delivered > 0)) {
      send_status(it->reply, 404, "No Messages", false);
      it = waiting_.erase(it);
    } else {
      ++it;
    }
  }
}

void consumer::put_back(next_msg n) {
  const std::uint64_t seq = n.msg.seq;
  if (n.redelivery) {
    redeliver_.insert(seq);
  } else if (n.from_lps) {
    if (lps_pos_ > 0 && lps_pos_ <= lps_ahead_.size() && lps_ahead_[lps_pos_ - 1].seq == seq)
      lps_ahead_[--lps_pos_] = std::move(n.msg);
    lps_seqs_.push_front(seq);
  } else {
    sseq_next_ = std::min(sseq_next_, seq);
  }
  num_pending_valid_ = false;
}

bool consumer::front_request_for(const next_msg& n, bool& claimed_pin) {
  claimed_pin = false;
  const bool need_new_pin = pin_id_.empty() && cfg_.priority == priority_policy::pinned_client;
  // nats-server compares min_pending with its pending count before this message was taken.
  const std::uint64_t pending = pending_count() + (n.redelivery ? 1 : 0);
  const std::uint64_t ack_pending = store_->state().pending.size();
  std::size_t cycled = 0;
  auto cycle = [&] {
    waiting_.push_back(std::move(waiting_.front()));
    waiting_.pop_front();
    return ++cycled < waiting_.size();
  };
  while (!waiting_.empty()) {
    auto& r = waiting_.front();
    if (!js_.has_interest(r.reply)) {
      waiting_.pop_front();
      continue;
    }
    if (cfg_.priority == priority_policy::pinned_client) {
      switch (pin_action(r.prio, need_new_pin && !claimed_pin, pin_id_)) {
        case front_action::wrong_pin:
          send_status(r.reply, 423, "Nats-Wrong-Pin-Id", true, r.batch, r.max_bytes > 0 ? r.bytes_left : 0);
          waiting_.pop_front();
          continue;
        case front_action::cycle:
          if (!cycle()) return false;
          continue;
        case front_action::claim_pin:
          pin_id_ = new_pin_id();
          pin_ts_ = js_.now_ns();
          pin_expires_ = sat_add(steady_ns(), cfg_.priority_timeout);
          r.prio.id = pin_id_;
          claimed_pin = true;
          send_pin_advisory(true, "");
          break;
        case front_action::serve:
          break;
      }
    } else if (cfg_.priority == priority_policy::overflow && !overflow_allows(r.prio, pending, ack_pending)) {
      if (!cycle()) return false;
      continue;
    }
    return true;
  }
  return false;
}

void consumer::unpin(const char* reason) {
  if (pin_id_.empty()) return;
  pin_id_.clear();
  pin_ts_ = pin_expires_ = 0;
  send_pin_advisory(false, reason);
  deliver_loop();
}

void consumer::send_pin_advisory(bool pinned, const char* reason) {
  json::object adv;
  adv["type"] = pinned ? "io.nats.jetstream.advisory.v1.consumer_group_pinned"
                       : "io.nats.jetstream.advisory.v1.consumer_group_unpinned";
  adv["id"] = new_pin_id();
  adv["timestamp"] = server::rfc3339_ns(js_.now_ns());
  adv["stream"] = stream_.config().name;
  adv["consumer"] = cfg_.name;
  adv["group"] = cfg_.priority_groups.empty() ? std::string() : cfg_.priority_groups.front();
  if (pinned) adv["pinned_id"] = pin_id_;
  else adv["reason"] = reason;
  js_.publish(std::string("$JS.EVENT.ADVISORY.CONSUMER.") + (pinned ? "PINNED." : "UNPINNED.") +
                  stream_.config().name + "." + cfg_.name,
              json::serialize(adv));
}

void consumer::schedule_timer() {
  std::int64_t next = 0;
  auto consider = [&](std::int64_t t) {
    if (t > 0 && (next == 0 || t < next)) next = t;
  };
  if (auto d = deadlines_.earliest()) consider(*d);
  for (const auto& r : waiting_) {
    consider(r.expires_at);
    if (r.heartbeat > 0) consider(r.next_heartbeat);
  }
  if (cfg_.is_push() && cfg_.idle_heartbeat > 0) consider(last_delivery_ + cfg_.idle_heartbeat);
  if (pause_until_ > 0) {
    std::int64_t rem = pause_until_ - js_.now_ns();
    if (rem > 0) consider(steady_ns() + rem);
  }
  if (cfg_.inactive_threshold > 0) consider(last_active_ + cfg_.inactive_threshold);
  if (!pin_id_.empty()) consider(pin_expires_);
  if (next == 0) return;
  if (timer_at_ != 0 && timer_at_ <= next) return;
  timer_at_ = next;
  std::int64_t wait = std::max<std::int64_t>(next - steady_ns(), 0);
  timer_.expires_after(std::chrono::nanoseconds(wait));
  timer_.async_wait([this, alive = std::weak_ptr<int>(life_)](boost::system::error_code ec) {
    if (ec || alive.expired()) return;
    timer_at_ = 0;
    on_timer();
    js_.end_of_task();
  });
}

void consumer::expire_acks(std::int64_t now) {
  deadlines_.expire(now, [&](std::uint64_t sseq) {
    const auto& st = store_->state();
    auto pit = st.pending.find(sseq);
    if (pit == st.pending.end()) return;
    std::uint64_t dc = 1;
    if (auto it = st.redelivered.find(sseq); it != st.redelivered.end()) dc = it->second + 1;
    if (out_of_deliveries(sseq, dc, pit->second.seq)) return;
    redeliver_.insert(sseq);
  });
}

bool consumer::out_of_deliveries(std::uint64_t sseq, std::uint64_t dc, std::uint64_t dseq) {
  if (cfg_.max_deliver <= 0 || static_cast<std::int64_t>(dc) < cfg_.max_deliver) return false;
  // Out of deliveries: advisory, and the message no longer holds the ack floor back.
  js_.advisory("$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES." + stream_.config().name + "." + cfg_.name,
               "io.nats.jetstream.advisory.v1.max_deliver",
               json::object{{"stream", stream_.config().name}, {"consumer", cfg_.name}, {"stream_seq", sseq},
                            {"deliveries", dc}});
  storage::ignore_result(store_->update_acks(dseq, sseq));
  clear_deadline(sseq);
  redeliver_.erase(sseq);
  return true;
}

void consumer::on_timer() {
  const std::int64_t now = steady_ns();
  expire_acks(now);
  for (auto it = waiting_.begin(); it != waiting_.end();) {
    if (it->expires_at != 0 && it->expires_at <= now) {
      if (!(it->no_wait && it->delivered > 0))
        send_status(it->reply, 408, "Request Timeout", true, it->batch, it->max_bytes > 0 ? it->bytes_left : 0);
      else send_status(it->reply, 404, "No Messages", false);
      it = waiting_.erase(it);
      continue;
    }
    if (it->heartbeat > 0 && it->next_heartbeat <= now) {
      send_status(it->reply, 100, "Idle Heartbeat", false);
      it->next_heartbeat = sat_add(now, it->heartbeat);
    }
    ++it;
  }
  if (cfg_.is_push() && cfg_.idle_heartbeat > 0 && now - last_delivery_ >= cfg_.idle_heartbeat) send_heartbeat(false);
  if (pause_until_ != 0 && pause_until_ <= js_.now_ns()) pause_until_ = 0;
  if (!pin_id_.empty() && pin_expires_ <= now) unpin("timeout");
  deliver_loop();
  check_inactivity(now);  // may delete this consumer: last
}

void consumer::check_inactivity(std::int64_t now) {
  if (cfg_.inactive_threshold <= 0) return;
  bool active = cfg_.is_push() ? js_.has_interest(cfg_.deliver_subject) : !waiting_.empty();
  if (active) {
    last_active_ = now;
    schedule_timer();
    return;
  }
  if (now - last_active_ < cfg_.inactive_threshold) {
    schedule_timer();
    return;
  }
  std::string sname = stream_.config().name, cname = cfg_.name;
  auto& js = js_;
  asio::post(js.executor(), [&js, sname, cname] {
    if (auto* s = js.find_stream(sname)) s->delete_consumer(cname);
    js.end_of_task();
  });
}

void consumer::send_heartbeat(bool force) {
  if (!force && !js_.has_interest(cfg_.deliver_subject)) return;
  const auto& st = store_->state();
  protocol::header_builder b;
  b.status(100, "Idle Heartbeat");
  b.add("Nats-Last-Consumer", std::to_string(st.delivered.consumer));
  b.add("Nats-Last-Stream", std::to_string(st.delivered.stream));
  if (!fc_pending_.empty() && fc_bytes_ >= fc_window_) b.add("Nats-Consumer-Stalled", fc_pending_);
  auto hdr = b.finish();
  js_.publish(cfg_.deliver_subject, cfg_.deliver_subject, {}, hdr, {});
  last_delivery_ = steady_ns();
}

void consumer::on_flow_control(std::string_view subject) {
  if (subject != fc_pending_) return;
  fc_pending_.clear();
  // The reply covers what was sent up to the request, not what followed it (nats-server:
  // pbytes -= fcsz): forgetting those bytes let more than a window be in flight, enough to cut
  // a reader of large messages as a slow consumer.
  fc_bytes_ = std::max<std::int64_t>(0, fc_bytes_ - fc_request_bytes_);
  fc_request_bytes_ = 0;
  fc_window_ = std::min(fc_window_ * 2, max_fc_window);
  deliver_loop();
}

// $JS.EVENT.ADVISORY.CONSUMER.<event>.<stream>.<consumer> for one delivered message (naks, terms).
void consumer::delivery_advisory(std::string_view event, std::string_view type, std::uint64_t sseq,
                                 std::uint64_t dseq, std::uint64_t deliveries, std::string_view reason) {
  json::object o{{"stream", stream_.config().name}, {"consumer", cfg_.name}, {"consumer_seq", dseq},
                 {"stream_seq", sseq}, {"deliveries", deliveries}};
  if (!reason.empty()) o["reason"] = reason;
  js_.advisory("$JS.EVENT.ADVISORY.CONSUMER." + std::string(event) + "." + stream_.config().name + "." + cfg_.name,
               type, std::move(o));
}

// sample_freq ("30%" or "30"): that share of acks publishes a consumer_ack metric with the time
// from delivery to ack.
void consumer::sample_ack(std::uint64_t sseq) {
  const auto& st = store_->state();
  auto it = st.pending.find(sseq);
  if (it == st.pending.end()) return;
  thread_local std::minstd_rand rng{static_cast<std::uint_fast32_t>(jb::server::random_seed())};
  if (sample_percent_ < 100 && static_cast<int>(rng() % 100) >= sample_percent_) return;
  std::uint64_t dc = 1;
  if (auto r = st.redelivered.find(sseq); r != st.redelivered.end()) dc = r->second + 1;
  js_.advisory("$JS.EVENT.METRIC.CONSUMER.ACK." + stream_.config().name + "." + cfg_.name,
               "io.nats.jetstream.metric.v1.consumer_ack",
               json::object{{"stream", stream_.config().name}, {"consumer", cfg_.name}, {"consumer_seq", it->second.seq},
                            {"stream_seq", sseq}, {"ack_time", js_.now_ns() - it->second.ts}, {"deliveries", dc}});
}

void consumer::on_ack(std::string_view subject, std::string_view payload, std::string_view reply) {
  std::vector<std::string_view> t;
  for (auto tok : protocol::tokens(subject)) t.push_back(tok);
  std::size_t base = t.size() == 9 ? 4 : 6;
  if (t.size() < base + 3) return;
  std::uint64_t sseq = 0, dseq = 0;
  std::from_chars(t[base + 1].data(), t[base + 1].data() + t[base + 1].size(), sseq);
  std::from_chars(t[base + 2].data(), t[base + 2].data() + t[base + 2].size(), dseq);
  auto confirm = [&] {
    if (!reply.empty()) js_.confirm_after_commit(reply);
  };
  auto starts = [&](std::string_view p) { return payload.substr(0, p.size()) == p; };
  const auto& st = store_->state();
  if (payload.empty() || payload == "+ACK" || payload == "+OK" || starts("+NXT")) {
    if (sample_percent_ > 0) sample_ack(sseq);
    if (cfg_.ack == ack_policy::all) ack_all_upto(sseq);
    else ack_one(sseq, dseq);
    if (starts("+NXT")) {
      auto rest = payload.substr(4);
      while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
      if (!reply.empty()) on_pull_request(reply, rest);
    } else {
      confirm();
    }
  } else if (starts("-NAK")) {
    if (st.pending.count(sseq)) {
      std::int64_t delay = 0;
      auto rest = payload.substr(4);
      while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
      if (!rest.empty()) {
        if (rest.front() == '{') {
          boost::system::error_code ec;
          auto v = json::parse(rest, ec);
          if (!ec && v.is_object()) {
            // nats-server unmarshals into a time.Duration: anything but an int64 fails and the
            // NAK is a plain one.
            if (auto* d = v.as_object().if_contains("delay"); d && d->is_int64()) delay = d->as_int64();
          }
        } else if (auto d = server::parse_go_duration(rest)) {
          delay = *d;
        }
      }
      std::uint64_t dc = 1;
      if (auto it = st.redelivered.find(sseq); it != st.redelivered.end()) dc = it->second + 1;
      delivery_advisory("MSG_NAKED", "io.nats.jetstream.advisory.v1.nak", sseq, st.pending.at(sseq).seq, dc, {});
      if (out_of_deliveries(sseq, dc, st.pending.at(sseq).seq)) {
        // nothing more to deliver for this message
      } else if (delay > 0) {
        set_deadline(sseq, sat_add(steady_ns(), delay), false);
      } else {
        clear_deadline(sseq);
        redeliver_.insert(sseq);
      }
    }
    confirm();
  } else if (payload == "+WPI") {
    if (st.pending.count(sseq)) {
      std::uint64_t dc = 1;
      if (auto it = st.redelivered.find(sseq); it != st.redelivered.end()) dc = it->second + 1;
      set_deadline(sseq, ack_deadline(dc), dc == 1 || cfg_.backoff.empty());
    }
    confirm();
  } else if (starts("+TERM")) {
    if (auto it = st.pending.find(sseq); it != st.pending.end()) {
      std::uint64_t dc = 1;
      if (auto r = st.redelivered.find(sseq); r != st.redelivered.end()) dc = r->second + 1;
      auto reason = payload.substr(5);
      while (!reason.empty() && reason.front() == ' ') reason.remove_prefix(1);
      delivery_advisory("MSG_TERMINATED", "io.nats.jetstream.advisory.v1.terminated", sseq, it->second.seq, dc, reason);
    }
    ack_one(sseq, dseq);
    confirm();
  } else {
    return;
  }
  deliver_loop();
}

void consumer::ack_one(std::uint64_t sseq, std::uint64_t dseq) {
  if (cfg_.ack == ack_policy::none) return;
  const auto& st = store_->state();
  auto it = st.pending.find(sseq);
  if (it == st.pending.end()) return;
  std::uint64_t pdseq = it->second.seq ? it->second.seq : dseq;
  std::string subject;
  const bool retention = stream_.config().retention != retention_policy::limits;
  if (retention) {
    if (auto m = stream_.store().load(sseq)) subject = m->subject;
  }
  storage::ignore_result(store_->update_acks(pdseq, sseq));
  last_ack_wall_ = js_.now_ns();
  clear_deadline(sseq);
  redeliver_.erase(sseq);
  if (retention) stream_.check_retention(sseq, subject);
}

void consumer::ack_all_upto(std::uint64_t sseq) {
  std::vector<std::pair<std::uint64_t, std::uint64_t>> todo;
  for (const auto& [s, pe] : store_->state().pending) {
    if (s > sseq) break;
    todo.emplace_back(s, pe.seq);
  }
  for (auto [s, d] : todo) ack_one(s, d);
}

void consumer::on_pull_request(std::string_view reply, std::string_view payload) {
  if (cfg_.is_push()) return send_status(reply, 409, "Consumer is push based", false);
  pull_request r;
  r.reply = std::string(reply);
  std::int64_t expires = 0;
  while (!payload.empty() && (payload.front() == ' ' || payload.front() == '\t')) payload.remove_prefix(1);
  if (!payload.empty()) {
    if (payload.front() == '{') {
      boost::system::error_code ec;
      auto v = json::parse(payload, ec);
      if (ec || !v.is_object()) return send_status(reply, 400, "Bad Request", false);
      auto& o = v.as_object();
      const json_util::source_scope source(payload);  // Go's errors quote numbers as written
      std::string err;
      // A field of the wrong type is a 400 with Go's decoder error, as nats-server answers (it
      // used to be ignored, leaving the request waiting with the defaults).
      static constexpr const char* st = "JSApiConsumerGetNextRequest";
      std::string bad;
      auto field = [&](bool ok, const char* key, const char* go_type) {
        if (ok || !bad.empty()) return;
        const bool numeric = std::string_view(go_type) != "bool";
        bad = "json: cannot unmarshal " + json_util::type_name(o.at(key), numeric ? key : "") + " into Go struct field " + st + "." + key +
              " of type " + go_type;
      };
      field(json_util::get_int(o, "batch", r.batch, err, st), "batch", "int");
      field(json_util::get_int(o, "expires", expires, err, st), "expires", "time.Duration");
      field(json_util::get_bool(o, "no_wait", r.no_wait, err, st), "no_wait", "bool");
      field(json_util::get_int(o, "max_bytes", r.max_bytes, err, st), "max_bytes", "int");
      field(json_util::get_int(o, "idle_heartbeat", r.heartbeat, err, st), "idle_heartbeat", "time.Duration");
      if (!bad.empty()) return send_status(reply, 400, "Bad Request - " + bad, false);
      // Priority-group fields (Go: the embedded PriorityGroup struct).
      r.prio.present = true;
      err.clear();
      static constexpr const char* pg = "JSApiConsumerGetNextRequest.PriorityGroup";
      const bool ok = json_util::get_string(o, "group", r.prio.group, err, pg) &&
                      json_util::get_int(o, "min_pending", r.prio.min_pending, err, pg) &&
                      json_util::get_int(o, "min_ack_pending", r.prio.min_ack_pending, err, pg) &&
                      json_util::get_string(o, "id", r.prio.id, err, pg);
      if (!ok) return send_status(reply, 400, "Bad Request - " + err, false);
      if (auto* p = o.if_contains("priority"); p && !p->is_null()) {
        if (!json_util::get_int(o, "priority", r.prio.priority, err, pg) || r.prio.priority < INT32_MIN ||
            r.prio.priority > INT32_MAX)
          return send_status(reply, 400,
                             "Bad Request - json: cannot unmarshal " + json_util::type_name(*p, "priority") +
                                 " into Go struct field " + pg + ".priority of type int",
                             false);
      }
    } else {
      std::int64_t b = 0;
      auto [p, ec] = std::from_chars(payload.data(), payload.data() + payload.size(), b);
      if (ec == std::errc()) r.batch = b;
    }
  }
  if (r.batch <= 0) r.batch = 1;
  if (cfg_.max_batch > 0 && r.batch > cfg_.max_batch)
    return send_status(reply, 409, "Exceeded MaxRequestBatch of " + std::to_string(cfg_.max_batch), false);
  if (cfg_.max_expires > 0 && expires > cfg_.max_expires)
    return send_status(reply, 409, "Exceeded MaxRequestExpires of " + server::go_duration(cfg_.max_expires), false);
  if (cfg_.max_bytes > 0 && r.max_bytes > cfg_.max_bytes)
    return send_status(reply, 409, "Exceeded MaxRequestMaxBytes of " + std::to_string(cfg_.max_bytes), false);
  if (r.heartbeat > 0 && expires > 0 && r.heartbeat * 2 > expires)
    return send_status(reply, 400, "Bad Request - heartbeat value too large", false);
  const std::int64_t now = steady_ns();
  bool renews_pin = false;
  if (auto bad = check_pull_group(cfg_.priority, cfg_.priority_groups, r.prio, pin_id_, renews_pin))
    return send_status(reply, bad->code, bad->description, false);
  if (renews_pin) {
    pin_expires_ = sat_add(now, cfg_.priority_timeout);
    schedule_timer();
  }
  last_active_ = now;
  if (r.no_wait && expires == 0) {
    const bool any = !redeliver_.empty() || pending_count() > 0;
    if (!any) return send_status(reply, 404, "No Messages", false);
  }
  if (static_cast<std::int64_t>(waiting_.size()) >= cfg_.max_waiting) {
    // Requests that expired or lost interest do not count.
    while (!waiting_.empty() && !js_.has_interest(waiting_.front().reply)) waiting_.pop_front();
    if (static_cast<std::int64_t>(waiting_.size()) >= cfg_.max_waiting) {
      if (r.heartbeat == 0) send_status(reply, 409, "Exceeded MaxWaiting", false);
      return;
    }
  }
  r.bytes_left = r.max_bytes;
  if (expires > 0) r.expires_at = sat_add(now, expires);
  if (r.heartbeat > 0) r.next_heartbeat = sat_add(now, r.heartbeat);
  if (cfg_.priority == priority_policy::prioritized) insert_prioritized(waiting_, std::move(r));
  else waiting_.push_back(std::move(r));
  deliver_loop();
}

consumer::metrics_view consumer::metrics() {
  const auto& st = store_->state();
  return {pending_count(), st.pending.size(), st.ack_floor.stream};
}

json::object consumer::info_json(bool with_version_metadata) {
  const auto& st = store_->state();
  json::object o;
  o["stream_name"] = stream_.config().name;
  o["name"] = cfg_.name;
  o["created"] = server::rfc3339_ns(created_);
  o["config"] = to_json(cfg_, with_version_metadata);
  json::object delivered{{"consumer_seq", st.delivered.consumer}, {"stream_seq", st.delivered.stream}};
  if (last_delivered_wall_) delivered["last_active"] = server::rfc3339_ns(last_delivered_wall_);
  o["delivered"] = std::move(delivered);
  json::object floor{{"consumer_seq", st.ack_floor.consumer}, {"stream_seq", st.ack_floor.stream}};
  if (last_ack_wall_) floor["last_active"] = server::rfc3339_ns(last_ack_wall_);
  o["ack_floor"] = std::move(floor);
  o["num_ack_pending"] = st.pending.size();
  std::uint64_t redelivered = 0;
  if (cfg_.max_deliver != 1)
    for (const auto& [s, n] : st.redelivered)
      if (st.pending.count(s)) ++redelivered;
  o["num_redelivered"] = redelivered;
  std::uint64_t waiting = 0;
  for (const auto& r : waiting_) waiting += js_.has_interest(r.reply);
  o["num_waiting"] = waiting;
  o["num_pending"] = pending_count();
  if (push_bound()) o["push_bound"] = true;
  if (paused()) {
    o["paused"] = true;
    o["pause_remaining"] = pause_until_ - js_.now_ns();
  }
  o["ts"] = server::rfc3339_ns(js_.now_ns());
  if (!cfg_.priority_groups.empty()) {
    // nats-server reports the first group only (one pin per consumer).
    json::object g{{"group", cfg_.priority_groups.front()}};
    if (!pin_id_.empty()) g["pinned_client_id"] = pin_id_;
    g["pinned_ts"] = pin_ts_ ? server::rfc3339_ns(pin_ts_) : std::string("0001-01-01T00:00:00Z");
    o["priority_groups"] = json::array{std::move(g)};
  }
  return o;
}

}  // namespace jb::jetstream
