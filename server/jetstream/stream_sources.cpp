// Mirrors and sources of a stream (see stream_sources.hpp): link setup, starting positions,
// the copy steps, and the STREAM.INFO `mirror` / `sources` objects.
#include "server/jetstream/stream_sources.hpp"

#include <algorithm>
#include <charconv>

#include <boost/asio/post.hpp>
#include <boost/json.hpp>

#include "protocol/headers.hpp"
#include "protocol/subject.hpp"
#include "server/jetstream/stream.hpp"
#include "server/log.hpp"
#include "server/time_util.hpp"

namespace jb::jetstream {

namespace json = boost::json;

namespace {

constexpr std::size_t step_msgs = 1024;                // copied per step, then other strand work runs
constexpr std::int64_t heartbeat_ns = 1'000'000'000;   // nats sourcing consumers' idle heartbeat
constexpr std::uint64_t direct_caught_up = 10;         // nats dgetCaughtUpThresh
constexpr auto blocked_retry = std::chrono::seconds(1);  // retry of a source held back by discard new
constexpr std::string_view stream_source_hdr = "Nats-Stream-Source";

// The header block without `Nats-Expected-*` and `Nats-Batch-*` headers (the origin checked them)
// and, for sources, without an upstream `Nats-Stream-Source`. Empty when nothing is left, as
// nats-server drops a block reduced to its first line.
std::string clean_headers(std::string_view block, bool drop_stream_source) {
  if (block.empty()) return {};
  auto eol = block.find("\r\n");
  if (eol == std::string_view::npos) return std::string(block);
  std::string out(block.substr(0, eol + 2));
  std::size_t pos = eol + 2;
  while (pos < block.size()) {
    auto end = block.find("\r\n", pos);
    if (end == std::string_view::npos) end = block.size();
    std::string_view line = block.substr(pos, end - pos);
    pos = end + 2;
    if (line.empty()) continue;  // the closing empty line
    const bool drop = line.starts_with("Nats-Expected-") || line.starts_with("Nats-Batch-") ||
                      (drop_stream_source && line.starts_with(stream_source_hdr) &&
                       line.size() > stream_source_hdr.size() && line[stream_source_hdr.size()] == ':');
    if (!drop) out.append(line).append("\r\n");
  }
  out.append("\r\n");
  if (out.size() <= protocol::header_version.size() + 4) return {};  // "NATS/1.0\r\n\r\n"
  return out;
}

std::string add_header(std::string block, std::string_view name, std::string_view value) {
  if (block.size() <= 2) block = std::string(protocol::header_version) + "\r\n\r\n";
  block.resize(block.size() - 2);
  block.append(name).append(": ").append(value).append("\r\n\r\n");
  return block;
}

// Nats-Stream-Source "<name> <seq> <filters> <destinations> <subject>" -> (index name, seq).
std::optional<std::pair<std::string, std::uint64_t>> parse_stream_source(std::string_view v) {
  std::vector<std::string_view> f;
  std::size_t start = 0;
  for (;;) {
    auto sp = v.find(' ', start);
    f.push_back(v.substr(start, sp == std::string_view::npos ? std::string_view::npos : sp - start));
    if (sp == std::string_view::npos) break;
    start = sp + 1;
  }
  if (f.size() < 4) return std::nullopt;
  std::uint64_t seq = 0;
  auto [p, ec] = std::from_chars(f[1].data(), f[1].data() + f[1].size(), seq);
  if (ec != std::errc() || p != f[1].data() + f[1].size()) return std::nullopt;
  return std::make_pair(std::string(f[0]) + " " + std::string(f[2]) + " " + std::string(f[3]), seq);
}

// Nats-TTL of a copied message in ns (0: none). The origin already validated it.
std::int64_t copied_ttl(std::string_view hdr) {
  if (hdr.empty()) return 0;
  auto v = protocol::find_header(hdr, "Nats-TTL");
  if (!v || *v == "never") return 0;
  std::uint64_t secs = 0;
  auto [p, ec] = std::from_chars(v->data(), v->data() + v->size(), secs);
  if (ec == std::errc() && p == v->data() + v->size()) return ttl_seconds_ns(secs).value_or(0);
  auto d = server::parse_go_duration(*v);
  return d && *d > 0 ? std::min(*d, max_ttl_ns) : 0;
}

}  // namespace

// ---- source_link --------------------------------------------------------------------------------

source_link source_link::make(const stream_source_cfg& cfg, bool is_mirror) {
  source_link l;
  l.cfg = cfg;
  l.is_mirror = is_mirror;
  l.iname = cfg.index_name();
  auto sp = l.iname.find(' ');
  l.hdr_name = l.iname.substr(0, sp);
  l.hdr_filters = l.iname.substr(sp + 1);
  l.filters = cfg.filters();
  for (const auto& t : cfg.subject_transforms) {
    if (t.dest.empty()) l.transforms.emplace_back(std::nullopt);
    else l.transforms.push_back(subject_transform::make(t.src, t.dest));
  }
  return l;
}

std::string source_link::transform(std::string_view subject) const {
  for (std::size_t i = 0; i < transforms.size(); ++i) {
    const auto& src = cfg.subject_transforms[i].src;
    if (!src.empty() && !protocol::subject_matches(src, subject)) continue;
    if (!transforms[i]) return std::string(subject);  // a filter without destination
    if (auto out = transforms[i]->apply(subject)) return std::move(*out);
  }
  return std::string(subject);
}

// ---- stream: setup ------------------------------------------------------------------------------

bool stream::reads_from(std::string_view origin) const {
  if (mirror_ && mirror_->is_local() && mirror_->cfg.name == origin) return true;
  for (const auto& l : sources_)
    if (l.is_local() && l.cfg.name == origin) return true;
  return false;
}

void stream::init_links(const stream_config* old_cfg) {
  // Keep the progress of links that stay (an update), start the others afresh.
  std::optional<source_link> old_mirror = std::move(mirror_);
  std::vector<source_link> old_sources = std::move(sources_);
  mirror_.reset();
  sources_.clear();
  (void)old_cfg;
  if (cfg_.mirror) {
    if (old_mirror && old_mirror->cfg == *cfg_.mirror) mirror_ = std::move(old_mirror);
    else mirror_ = source_link::make(*cfg_.mirror, true);
  }
  std::vector<std::size_t> fresh;
  for (const auto& src : cfg_.sources) {
    auto it = std::find_if(old_sources.begin(), old_sources.end(),
                           [&](const source_link& l) { return l.iname == src.index_name(); });
    if (it != old_sources.end()) {
      it->cfg = src;
      sources_.push_back(std::move(*it));
      old_sources.erase(it);
    } else {
      sources_.push_back(source_link::make(src, false));
      fresh.push_back(sources_.size() - 1);
    }
  }
  if (!fresh.empty()) {
    std::vector<source_link*> links;
    for (auto i : fresh) links.push_back(&sources_[i]);
    find_source_positions(links);
  }
  update_mirror_direct();
  if (has_links()) schedule_link_sync();
}

// Where each source left off: the newest message of ours carrying its Nats-Stream-Source header
// (nats startingSequenceForSources). Sources with no such message start from their options.
void stream::find_source_positions(const std::vector<source_link*>& links) {
  const auto st = store_->state();
  if (st.msgs == 0) return;
  std::vector<source_link*> todo = links;
  for (std::uint64_t seq = st.last_seq; seq >= st.first_seq && seq > 0 && !todo.empty(); --seq) {
    storage::stored_msg loaded;
    const storage::stored_msg* m = recent(seq);
    if (!m) {
      auto r = store_->load(seq);
      if (!r) continue;
      loaded = std::move(*r);
      m = &loaded;
    }
    if (m->hdr.empty()) continue;
    auto v = protocol::find_header(m->hdr, stream_source_hdr);
    if (!v) continue;
    auto parsed = parse_stream_source(*v);
    if (!parsed) continue;
    auto it = std::find_if(todo.begin(), todo.end(), [&](source_link* l) { return l->iname == parsed->first; });
    if (it == todo.end()) continue;
    (*it)->sseq = parsed->second;
    (*it)->positioned = true;
    todo.erase(it);
  }
}

// The first origin sequence a link copies when it has no progress yet (nats' consumer start
// options for the mirror / source consumer).
void stream::position_link(source_link& l, stream& origin) {
  auto& os = origin.store();
  const auto st = store_->state();
  auto first_at_or_after = [&](std::int64_t t) -> std::uint64_t {
    // Timestamps grow with sequences: binary search over the origin's stored messages.
    const auto ost = os.state();
    if (ost.msgs == 0) return ost.last_seq + 1;
    std::uint64_t lo = ost.first_seq, hi = ost.last_seq + 1;
    while (lo < hi) {
      const std::uint64_t mid = lo + (hi - lo) / 2;
      auto m = os.load_next(mid, std::string_view{});
      if (!m) {
        hi = mid;
      } else if (m->ts < t) {
        lo = m->seq + 1;
      } else {
        hi = mid;
      }
    }
    return lo;
  };
  std::uint64_t start = 1;
  if (l.is_mirror) {
    if (st.msgs == 0 && st.first_seq == 0 && st.last_seq == 0) {
      if (l.cfg.opt_start_seq > 0) start = l.cfg.opt_start_seq;
      else if (l.cfg.opt_start_time) start = first_at_or_after(*l.cfg.opt_start_time);
    } else {
      start = st.last_seq + 1;
    }
  } else if (l.cfg.opt_start_seq > 0) {
    start = l.cfg.opt_start_seq;
  } else if (l.cfg.opt_start_time) {
    start = first_at_or_after(st.last_ts && *l.cfg.opt_start_time < st.last_ts ? st.last_ts : *l.cfg.opt_start_time);
  } else if (st.first_seq > 1 && st.last_ts != 0) {
    // No sourced message left to tell where we were (purged): go by time, as nats-server does.
    start = first_at_or_after(st.last_ts);
  }
  l.sseq = start > 0 ? start - 1 : 0;
  l.positioned = true;
}

void stream::update_mirror_direct() {
  const bool want = mirror_ && mirror_->is_local() && cfg_.mirror_direct && mirror_->set_up && mirror_->lag < direct_caught_up &&
                    mirror_->connected_at != 0;
  if (want == !mirror_direct_subs_.empty()) return;
  if (!want) {
    // Stays subscribed once caught up, as nats-server does, unless the mirror went away.
    if (mirror_ && cfg_.mirror_direct) return;
    for (auto& s : mirror_direct_subs_) js_.unsubscribe(s);
    mirror_direct_subs_.clear();
    return;
  }
  const std::string base = "$JS.API.DIRECT.GET." + mirror_->cfg.name;
  mirror_direct_subs_.push_back(js_.subscribe(base, target::direct_get, cfg_.name, "_sys_"));
  mirror_direct_subs_.push_back(js_.subscribe(base + ".>", target::direct_get, cfg_.name, "_sys_"));
}

// ---- stream: copying ----------------------------------------------------------------------------

bool stream::links_blocked() const noexcept {
  if (mirror_ && mirror_->blocked) return true;
  return std::any_of(sources_.begin(), sources_.end(), [](const source_link& l) { return l.blocked; });
}

void stream::schedule_link_sync() {
  if (link_sync_posted_ || !has_links()) return;
  link_sync_posted_ = true;
  boost::asio::post(js_.executor(), [this, alive = std::weak_ptr<int>(life_)] {
    if (alive.expired()) return;
    link_sync_posted_ = false;
    sync_links();
    js_.end_of_task();
    js_.refresh_usage();
  });
}

void stream::sync_links() {
  std::size_t budget = step_msgs;
  bool more = false;
  if (mirror_) more = sync_link(*mirror_, budget);
  for (auto& l : sources_) more = sync_link(l, budget) || more;
  flush();
  if (mirror_) update_mirror_direct();
  if (more) schedule_link_sync();
  if (links_blocked()) {
    link_retry_timer_.expires_after(blocked_retry);
    link_retry_timer_.async_wait([this, alive = std::weak_ptr<int>(life_)](boost::system::error_code ec) {
      if (ec || alive.expired()) return;
      schedule_link_sync();
    });
  }
}

bool stream::sync_link(source_link& l, std::size_t& budget) {
  l.set_up = true;
  if (!l.is_local()) return false;  // another domain or account: nothing answers here
  stream* origin = js_.find_stream(l.cfg.name);
  const std::int64_t now = js_.now_ns();
  if (!origin) {
    l.error = errors::stream_not_found;
    l.connected_at = 0;
    return false;
  }
  l.error.reset();
  if (l.connected_at == 0) l.connected_at = now;
  l.last_contact = now;
  if (!l.positioned) position_link(l, *origin);
  l.blocked = false;

  auto& os = origin->store();
  const storage::filter_set filters(l.filters);
  bool more = false;
  std::uint64_t copied = 0;
  for (;;) {
    if (budget == 0) {
      more = true;
      break;
    }
    const std::uint64_t want = l.sseq + 1;
    storage::stored_msg loaded;
    const storage::stored_msg* m = l.filters.empty() ? origin->recent(want) : nullptr;
    if (!m) {
      auto r = os.load_next(want, filters);
      if (!r) break;
      loaded = std::move(*r);
      m = &loaded;
    }
    if (l.is_mirror) {
      // Keep the origin's sequences: what the mirror does not copy is skipped over.
      const auto last = store_->state().last_seq + staged_.size();
      if (m->seq <= last) {  // already here (the origin restarted its sequences): wait for it
        l.sseq = m->seq;
        --budget;
        continue;
      }
      if (m->seq > last + 1) {
        flush();
        if (auto r = store_->skip_to(m->seq - 1, now); !r) {
          log::jetstream().error("Mirror {}: skipping to {} failed: {}", cfg_.name, m->seq - 1, r.error().message());
          break;
        }
        invalidate_recent();
      }
    }
    if (!stage_copied(l, *m)) {
      l.blocked = true;
      break;
    }
    l.sseq = m->seq;
    --budget;
    ++copied;
  }
  if (copied) l.last_contact = js_.now_ns();
  const auto ost = os.state();
  l.lag = l.sseq >= ost.last_seq ? 0 : os.num_pending(l.sseq + 1, filters, storage::last_per_subject::no);
  return more;
}

bool stream::stage_copied(const source_link& l, const storage::stored_msg& m) {
  staged_msg sm;
  sm.subject = l.transform(m.subject);
  sm.hdr = clean_headers(m.hdr, !l.is_mirror);
  if (!l.is_mirror) {
    std::string value = l.hdr_name + " " + std::to_string(m.seq) + " " + l.hdr_filters + " " + m.subject;
    sm.hdr = add_header(std::move(sm.hdr), stream_source_hdr, value);
  }
  sm.data = m.data;
  sm.ts = l.is_mirror ? m.ts : js_.now_ns();
  sm.ttl = copied_ttl(sm.hdr);
  if (!sm.hdr.empty()) {
    if (auto v = protocol::find_header(sm.hdr, "Nats-Rollup")) {
      std::string r(*v);
      for (auto& c : r)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
      if (r == "sub" || r == "all") sm.rollup = std::move(r);
    }
    if (!l.is_mirror) {
      // Sources de-duplicate by Nats-Msg-Id within the stream's window (mirrors copy verbatim).
      if (auto id = protocol::find_header(sm.hdr, "Nats-Msg-Id"); id && !id->empty() && cfg_.duplicate_window > 0) {
        prune_dedupe(sm.ts);
        if (dedupe_.count(std::string(*id))) return true;  // a duplicate: passed over
        sm.msg_id = std::string(*id);
      }
    }
  }
  if (cfg_.allow_msg_counter) {
    // Only counter updates count; their increment is recomputed from the upstream total.
    auto v = sm.hdr.empty() ? std::nullopt : protocol::find_header(sm.hdr, counter::incr_header);
    auto incr = v && !v->empty() ? counter::parse_increment(*v) : std::nullopt;
    if (!incr) return true;  // passed over, as nats-server refuses it
    std::string hdr = std::move(sm.hdr);
    sm.hdr.clear();
    if (apply_counter(sm.subject, hdr, m.data, std::move(*incr), sm)) return true;
  }
  if (check_discard_new(sm.subject, sm.hdr.size(), sm.data.size())) return false;
  const std::uint64_t next_seq = store_->state().last_seq + staged_.size() + 1;
  if (cfg_.republish) sm.prev_subject_seq = last_seq_for_subject(sm.subject);
  staged_subject_last_[sm.subject] = next_seq;
  if (!sm.msg_id.empty()) {
    dedupe_[sm.msg_id] = next_seq;
    dedupe_order_.emplace_back(sm.ts, sm.msg_id);
  }
  const bool rollup = !sm.rollup.empty();
  staged_store_bytes_ += store_size(sm.subject, sm.hdr.size(), sm.data.size());
  staged_.push_back(std::move(sm));
  if (rollup) flush();  // the purge must see this message stored
  return true;
}

void stream::on_origin_deleted(std::string_view origin) {
  auto gone = [&](source_link& l) {
    if (!l.is_local() || l.cfg.name != origin) return;
    l.error = errors::stream_not_found;
    l.connected_at = 0;
  };
  if (mirror_) gone(*mirror_);
  for (auto& l : sources_) gone(l);
}

// ---- stream: INFO -------------------------------------------------------------------------------

json::object stream::link_json(const source_link& l) const {
  json::object o;
  o["name"] = l.cfg.name;
  if (l.cfg.external) o["external"] = json::object{{"api", l.cfg.external->api}, {"deliver", l.cfg.external->deliver}};
  o["lag"] = l.lag;
  if (l.last_contact == 0) {
    o["active"] = -1;
  } else {
    const std::int64_t now = js_.now_ns();
    std::int64_t last = l.last_contact;
    if (l.connected_at != 0) {
      // A connected origin "sends" a heartbeat every second, as a nats sourcing consumer does.
      const std::int64_t hb = l.connected_at + (now - l.connected_at) / heartbeat_ns * heartbeat_ns;
      last = std::max(last, hb);
    }
    o["active"] = std::max<std::int64_t>(now - last, 0);
  }
  if (l.error) o["error"] = l.error->to_json();
  // A mirror reports its filter once its first setup ran (nats sets it up with the consumer).
  if (!l.cfg.filter_subject.empty() && (!l.is_mirror || l.set_up)) o["filter_subject"] = l.cfg.filter_subject;
  if (!l.cfg.subject_transforms.empty()) {
    json::array a;
    for (const auto& t : l.cfg.subject_transforms) a.push_back(json::object{{"src", t.src}, {"dest", t.dest}});
    o["subject_transforms"] = std::move(a);
  }
  return o;
}

json::value stream::mirror_info() const {
  if (!mirror_) return nullptr;
  return link_json(*mirror_);
}

json::value stream::sources_info() const {
  if (sources_.empty()) return nullptr;
  json::array a;
  for (const auto& l : sources_) a.push_back(link_json(l));
  return a;
}

}  // namespace jb::jetstream
