#include "server/jetstream/jetstream.hpp"

#include <sys/statvfs.h>
#include <sys/sysinfo.h>

#include <filesystem>
#include <stdexcept>

#include <boost/asio/post.hpp>
#include <boost/json.hpp>

#include "protocol/subject.hpp"
#include "server/jetstream/consumer.hpp"
#include "server/jetstream/snapshot.hpp"
#include "server/jetstream/stream.hpp"
#include "server/log.hpp"
#include "server/router.hpp"
#include "server/server.hpp"
#include "server/jetstream/pull_priority.hpp"
#include "server/time_util.hpp"
#include "storage/memory_store.hpp"
#include "storage/file_env.hpp"

namespace jb::jetstream {

namespace asio = boost::asio;
namespace json = boost::json;

// ---- js_subscriber ----------------------------------------------------------------------------

bool js_subscriber::deliver(server::subscription&, const server::message_view& m) {
  if (kind_ == target::api_sink) {
    // A forwarder: the answer is whether it counts as interest (see target).
    constexpr std::string_view direct = "$JS.API.DIRECT.GET";
    return !(m.subject.starts_with(direct) && (m.subject.size() == direct.size() || m.subject[direct.size()] == '.'));
  }
  return js_.enqueue(kind_, stream_, m);
}

void js_subscriber::kick() { js_.kick(); }

// ---- jetstream --------------------------------------------------------------------------------

jetstream::jetstream(server::server& srv, jetstream_options opts)
    : srv_(srv), opts_(std::move(opts)), strand_(asio::make_strand(srv.io())), detail_timer_(strand_), state_timer_(strand_) {}

jetstream::~jetstream() = default;

std::int64_t jetstream::now_ns() const {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void jetstream::start() {
  auto& L = log::jetstream();
  L.info("Starting JetStream");
  L.info("    _ ___ _____ ___ _____ ___ ___   _   __  __");
  L.info(" _ | | __|_   _/ __|_   _| _ \\ __| /_\\ |  \\/  |");
  L.info("| || | _|  | | \\__ \\ | | |   / _| / _ \\| |\\/| |");
  L.info(" \\__/|___| |_| |___/ |_| |_|_\\___/_/ \\_\\_|  |_|");
  L.info("");
  L.info("         https://docs.nats.io/jetstream");
  L.info("");
  L.info("---------------- JETSTREAM ----------------");
  {
    // nats-server's defaults: 75% of RAM and 75% of the free space of the store's file system.
    struct sysinfo si {};
    if (::sysinfo(&si) == 0) max_memory_ = static_cast<std::int64_t>(si.totalram) * si.mem_unit / 4 * 3;
  }
  if (opts_.in_memory) {
    env_ = std::make_unique<storage::memory_env>();
    store_path_ = ":memory:";
    L.info("  Store Directory: \":memory:\" (nothing is written to disk)");
  } else {
    std::filesystem::path dir = std::filesystem::path(opts_.store_dir) / "jetstream";
    std::error_code ec;
    if (std::filesystem::exists(opts_.store_dir, ec) && !std::filesystem::is_directory(opts_.store_dir, ec))
      throw std::runtime_error("storage directory is not a directory: \"" + opts_.store_dir + "\"");
    std::filesystem::create_directories(dir, ec);
    if (ec) throw std::runtime_error("could not create storage directory - " + ec.message());
    storage::rocksdb_env_options eo;
    eo.dir = dir;
    eo.sync_always = opts_.sync_always;
    eo.async_append_sync = true;  // PubAcks wait for the sync thread (after_wal_sync)
    eo.sync_interval = opts_.sync_interval;
    auto open_store = [eo]() -> std::pair<std::unique_ptr<storage::store_env>, std::string> {
      std::string detail;
      auto r = storage::open_file_env(eo, &detail);
      if (!r)
        return {nullptr, "could not open store \"" + eo.dir.string() + "\": " + (detail.empty() ? r.error().message() : detail)};
      return {std::move(*r), std::string()};
    };
    if (std::filesystem::is_empty(dir, ec) && !ec) {
      // Nothing to restore: listen at once, open the database beside it (a new store's open is
      // most of a -js start-up). Two servers on one directory: the lock refuses the second one.
      env_pending_ = true;
      opener_ = std::jthread([this, open_store] {
        auto [env, error] = open_store();
        asio::post(strand_, [this, env = std::move(env), error = std::move(error)]() mutable { env_opened(std::move(env), error); });
      });
    } else {
      auto [env, error] = open_store();
      if (!env) throw std::runtime_error(error);
      env_ = std::move(env);
      env_->begin_deferred();
    }
    store_path_ = dir.string();
    struct statvfs vfs {};
    if (::statvfs(store_path_.c_str(), &vfs) == 0)
      max_storage_ = static_cast<std::int64_t>(vfs.f_bavail) * static_cast<std::int64_t>(vfs.f_frsize) / 4 * 3;
    L.info("  Store Directory: \"{}\"", store_path_);
  }
  L.info("  Max Memory:      {:.2f} GB", static_cast<double>(max_memory_) / (1024.0 * 1024 * 1024));
  if (!opts_.in_memory) L.info("  Max Storage:     {:.2f} GB", static_cast<double>(max_storage_) / (1024.0 * 1024 * 1024));
  L.info("  Sync:            {}", opts_.sync_always ? std::string("always") : std::to_string(opts_.sync_interval.count()) + "ms");
  L.info("  API Level:       {}", api_level);
  L.info("-------------------------------------------");

  // Restore streams and consumers and subscribe the API. This runs before the io_context's
  // threads start, so nothing else touches JetStream state yet.
  {
    {
      // (A new store still opening, env_pending_, has nothing to restore.)
      for (const auto& e : env_ ? env_->streams() : std::vector<storage::stream_entry>{}) {
        boost::system::error_code ec;
        auto v = json::parse(e.config, ec);
        if (ec || !v.is_object()) {
          log::jetstream().error("Stream {} has an unreadable config, skipping", e.name);
          continue;
        }
        auto& o = v.as_object();
        std::int64_t created = now_ns();
        if (auto* c = o.if_contains("__created"); c && c->is_int64()) created = c->as_int64();
        o.erase("__created");
        auto parsed = parse_stream_config(o, e.name, true);
        if (auto* err = std::get_if<api_error>(&parsed)) {
          log::jetstream().error("Stream {} config no longer valid: {}", e.name, err->description);
          continue;
        }
        if (e.type == storage::storage_type::memory) {
          // Memory streams do not survive a restart (nats-server forgets them too).
          storage::ignore_result(env_->delete_stream(e.name));
          continue;
        }
        auto store = env_->open_stream(e.name);
        if (!store) {
          log::jetstream().error("Stream {} could not be opened: {}", e.name, store.error().message());
          continue;
        }
        auto s = std::make_unique<stream>(*this, std::get<stream_config>(parsed), *store, created);
        auto* sp = s.get();
        streams_.emplace(e.name, std::move(s));
        sp->start();
        auto names = env_->consumer_names(e.name);
        if (names) {
          for (const auto& cn : *names) {
            auto cs = env_->open_consumer(e.name, cn);
            if (!cs) continue;
            boost::system::error_code cec;
            auto cv = json::parse((*cs)->config(), cec);
            if (cec || !cv.is_object()) continue;
            auto& co = cv.as_object();
            std::int64_t ccreated = now_ns();
            if (auto* c = co.if_contains("__created"); c && c->is_int64()) ccreated = c->as_int64();
            co.erase("__created");
            auto cc = parse_consumer_config_json(co);
            if (std::holds_alternative<api_error>(cc)) continue;
            auto cfg = std::get<consumer_config>(cc);
            if (!cfg.is_durable()) {  // ephemerals do not survive a restart
              (void)env_->delete_consumer(e.name, cn);
              continue;
            }
            auto c = std::make_unique<consumer>(*this, *sp, cfg, *cs, ccreated, true);
            auto* cp = c.get();
            sp->consumers().emplace(cn, std::move(c));
            cp->start();
          }
        }
        auto st = sp->store().state();
        log::jetstream().info("  Restored {} messages for stream '{} > {}'", st.msgs, srv_.js_account().name(), e.name);
      }
      refresh_linked();
      for (const char* subj : {"$JS.API.INFO", "$JS.API.STREAM.>", "$JS.API.CONSUMER.>", "$JS.API.ACCOUNT.>",
                               "$JS.API.META.>", "$JS.API.SERVER.>"})
        api_subs_.push_back(subscribe(subj, target::api, {}));
      api_subs_.push_back(subscribe("$JS.API.>", target::api_sink, {}));
      api_subs_.push_back(subscribe("$JS.ACK.>", target::ack, {}));
      api_subs_.push_back(subscribe("$JS.FC.>", target::flow_control, {}));
    }
  }
  end_of_task();
  refresh_usage();
}

void jetstream::env_opened(std::unique_ptr<storage::store_env> env, const std::string& error) {
  if (!env) {
    srv_.fail(error);
    return;
  }
  env_ = std::move(env);
  env_->begin_deferred();
  env_pending_ = false;
  std::size_t waiting = 0;
  {
    std::lock_guard lk(inbox_mu_);
    waiting = inbox_.size();
  }
  log::jetstream().debug("JetStream store opened, {} API request(s) waited for it", waiting);
  if (!stopped_) drain();  // the requests that waited
}

void jetstream::stop() {
  asio::post(strand_, [this] {
    stopped_ = true;
    flush_ingest();
    for (auto& s : api_subs_) unsubscribe(s);
    api_subs_.clear();
    for (auto& [n, s] : streams_) s->stop();
    while (!snapshots_.empty()) snapshot_end(snapshots_.begin()->first, "NATS/1.0 408 No Interest\r\n\r\n");
    while (!restores_.empty()) restore_end(restores_.begin()->first);
    detail_timer_.cancel();
    state_timer_.cancel();
    end_of_task();
    commit_consumer_state(true);
  });
}

bool jetstream::enqueue(target kind, const std::string& stream, const server::message_view& m) {
  inbound_msg in;
  in.kind = kind;
  in.ts = now_ns();
  if (kind == target::ingest || kind == target::direct_get) in.stream = stream;
  in.buf.reserve(m.subject.size() + m.reply.size() + m.headers.size() + m.payload.size());
  in.buf.append(m.subject).append(m.reply).append(m.headers).append(m.payload);
  in.subject_len = static_cast<std::uint32_t>(m.subject.size());
  in.reply_len = static_cast<std::uint32_t>(m.reply.size());
  in.hdr_len = static_cast<std::uint32_t>(m.headers.size());
  std::lock_guard lk(inbox_mu_);
  inbox_.push_back(std::move(in));
  if (!drain_scheduled_) {
    drain_scheduled_ = true;
    return true;
  }
  return false;
}

void jetstream::kick() {
  asio::post(strand_, [this] { drain(); });
}

void jetstream::drain() {
  if (env_pending_) return;  // env_opened() drains; drain_scheduled_ stays set until then
  for (;;) {
    {
      std::lock_guard lk(inbox_mu_);
      work_.clear();
      work_.swap(inbox_);
      if (work_.empty()) {
        drain_scheduled_ = false;
        break;
      }
    }
    for (auto& m : work_) {
      switch (m.kind) {
        case target::ingest:
          if (auto* s = find_stream(m.stream)) {
            if (!s->has_staged()) ingest_dirty_.push_back(s);
            s->stage(m);
          }
          break;
        case target::api:
          flush_ingest();
          handle_api(m);
          break;
        case target::ack:
          flush_ingest();
          handle_ack(m);
          break;
        case target::flow_control:
          handle_flow_control(m);
          break;
        case target::direct_get:
          flush_ingest();
          handle_direct_get(m);
          break;
        case target::snapshot:
          flush_ingest();
          handle_snapshot(m);
          break;
        case target::api_sink:  // never queued
          break;
      }
    }
    flush_ingest();
    end_of_task();
  }
  refresh_usage();
}

void jetstream::flush_ingest() {
  if (ingest_dirty_.empty()) return;
  auto dirty = std::move(ingest_dirty_);
  ingest_dirty_.clear();
  for (auto* s : dirty) s->flush();
}

void jetstream::flush_kicks() { server::flush_kicks(kicks_); }

void jetstream::after_wal_sync(std::function<void(bool)> then) {
  env_->sync_wal_async([this, then = std::move(then)](storage::result<void> r) mutable {
    asio::post(strand_, [this, then = std::move(then), ok = bool(r)] {
      then(ok);
      end_of_task();
    });
  });
}

void jetstream::end_of_task() {
  // An ack the client waits on (ack_sync), or sync_interval: always, is written before the reply.
  commit_consumer_state(!confirms_.empty() || opts_.sync_always);
  for (const auto& reply : confirms_) publish(reply, {});
  confirms_.clear();
  server::flush_kicks(kicks_);
}

void jetstream::commit_consumer_state(bool now) {
  const auto t = std::chrono::steady_clock::now();
  if (!now && t - last_state_commit_ < consumer_state_window) {
    if (!state_timer_armed_) {
      state_timer_armed_ = true;
      state_timer_.expires_at(last_state_commit_ + consumer_state_window);
      state_timer_.async_wait([this](boost::system::error_code ec) {
        state_timer_armed_ = false;
        if (!ec) commit_consumer_state(true);
      });
    }
    return;
  }
  last_state_commit_ = t;
  if (!env_) return;  // a new store still opening has no consumer state
  if (auto r = env_->commit_deferred(); !r)
    log::jetstream().error("Writing consumer state failed: {}", r.error().message());
}

void jetstream::advisory(std::string_view subject, std::string_view type, boost::json::object fields) {
  if (!has_interest(subject)) return;
  boost::json::object o;
  o["type"] = type;
  o["id"] = new_pin_id();
  o["timestamp"] = server::rfc3339_ns(now_ns());
  for (auto& kv : fields) o[kv.key()] = std::move(kv.value());
  publish(subject, boost::json::serialize(o));
}

void jetstream::publish(std::string_view route_subject, std::string_view subject, std::string_view reply,
                        std::string_view headers, std::string_view payload) {
  auto r = srv_.js_account().subs().match(route_subject);
  server::message_view m{subject, reply, headers, payload};
  auto st = server::route_to(*r, m, 0, true, kicks_);
  auto& c = srv_.counters();
  c.out_msgs.fetch_add(st.to_clients, std::memory_order_relaxed);
  c.out_bytes.fetch_add(st.to_clients * (headers.size() + payload.size()), std::memory_order_relaxed);
}

std::shared_ptr<server::subscription> jetstream::subscribe(const std::string& subject, target kind,
                                                           const std::string& stream, const std::string& queue) {
  auto sub = std::make_shared<server::subscription>();
  sub->subject = subject;
  sub->queue = queue;
  sub->sid = "js";
  sub->owner = std::make_shared<js_subscriber>(*this, kind, stream);
  sub->forwarder = kind == target::api_sink;  // set before the router can see it
  srv_.js_account().subs().insert(sub);
  return sub;
}

void jetstream::unsubscribe(const std::shared_ptr<server::subscription>& sub) {
  if (!sub) return;
  sub->closed.store(true, std::memory_order_relaxed);
  srv_.js_account().subs().remove(sub);
}

bool jetstream::has_interest(std::string_view subject) const { return srv_.js_account().subs().has_interest(subject); }

void jetstream::on_interest(std::string_view subject) {
  asio::post(strand_, [this, s = std::string(subject)] {
    for (auto& [n, st] : streams_)
      for (auto& [cn, c] : st->consumers()) c->on_interest(s);
    end_of_task();
  });
}

void jetstream::on_stream_appended(std::string_view name) {
  for (auto* s : linked_)
    if (s->reads_from(name)) s->schedule_link_sync();
}

void jetstream::refresh_linked() {
  linked_.clear();
  for (auto& [n, s] : streams_)
    if (s->has_links()) linked_.push_back(s.get());
}

stream* jetstream::find_stream(std::string_view name) {
  auto it = streams_.find(name);
  return it == streams_.end() ? nullptr : it->second.get();
}

jetstream::usage jetstream::snapshot_usage() {
  std::lock_guard lk(usage_mu_);
  return usage_;
}

void jetstream::refresh_usage() {
  // Totals after every batch; the per-stream and per-consumer lists (for /metrics) at most every
  // 100 ms, so a busy strand does not walk every consumer per batch.
  const auto now = std::chrono::steady_clock::now();
  const bool detail = now - last_detail_ >= std::chrono::milliseconds(100);
  if (detail) {
    last_detail_ = now;
  } else if (!detail_timer_armed_) {
    // Catch up once the burst is over, so idle servers report current figures.
    detail_timer_armed_ = true;
    detail_timer_.expires_after(std::chrono::milliseconds(100));
    detail_timer_.async_wait([this](boost::system::error_code ec) {
      detail_timer_armed_ = false;
      if (!ec) refresh_usage();
    });
  }
  {
    usage u;
    for (auto& [n, s] : streams_) {
      auto st = s->store().state();
      (s->config().storage == storage_kind::memory ? u.memory : u.storage) += st.bytes;
      u.messages += st.msgs;
      u.bytes += st.bytes;
      u.consumers += s->consumers().size();
      ++u.streams;
      if (detail) {
        u.per_stream.push_back({n, st.msgs, st.bytes});
        for (auto& [cn, c] : s->consumers()) {
          auto m = c->metrics();
          u.per_consumer.push_back({n, cn, m.num_pending, m.num_ack_pending, m.ack_floor});
        }
      }
    }
    u.api_total = api_total_;
    u.api_errors = api_errors_;
    std::lock_guard lk(usage_mu_);
    if (!detail) {
      u.per_stream = std::move(usage_.per_stream);
      u.per_consumer = std::move(usage_.per_consumer);
    }
    usage_ = std::move(u);
  }
}

// ---- acks and flow control ----------------------------------------------------------------------

void jetstream::handle_ack(const inbound_msg& m) {
  // $JS.ACK.<stream>.<consumer>.<dc>.<sseq>.<dseq>.<ts>.<pending> (v1) or
  // $JS.ACK.<domain>.<acchash>.<stream>.<consumer>.<dc>.<sseq>.<dseq>.<ts>.<pending>[.<rand>] (v2)
  std::vector<std::string_view> t;
  for (auto tok : protocol::tokens(m.subject())) t.push_back(tok);
  std::string_view sname, cname;
  if (t.size() == 9) {
    sname = t[2];
    cname = t[3];
  } else if (t.size() >= 11) {
    sname = t[4];
    cname = t[5];
  } else {
    return;
  }
  auto* s = find_stream(sname);
  if (!s) return;
  auto* c = s->find_consumer(cname);
  if (!c) return;
  c->on_ack(m.subject(), m.payload(), m.reply());
}

void jetstream::handle_flow_control(const inbound_msg& m) {
  // $JS.FC.<stream>.<consumer>.<rand>
  std::vector<std::string_view> t;
  for (auto tok : protocol::tokens(m.subject())) t.push_back(tok);
  if (t.size() < 5) return;
  auto* s = find_stream(t[2]);
  if (!s) return;
  if (auto* c = s->find_consumer(t[3])) c->on_flow_control(m.subject());
}

}  // namespace jb::jetstream
