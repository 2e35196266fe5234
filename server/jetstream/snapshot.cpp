// Stream snapshots and restores: $JS.API.STREAM.SNAPSHOT.<stream> sends the stream (and its
// consumers) to a deliver subject in flow-controlled chunks, $JS.API.STREAM.RESTORE.<stream>
// takes such chunks back and creates the stream from them (`nats stream backup` / `restore`,
// `nats account backup` / `restore`). The wire protocol is nats-server's; the bytes are
// jetbroker's own (snapshot_codec.hpp, docs/storage.md "Snapshots").
#include "server/jetstream/snapshot.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>

#include <boost/json.hpp>

#include "protocol/subject.hpp"
#include "server/jetstream/consumer.hpp"
#include "server/jetstream/pull_priority.hpp"
#include "server/jetstream/stream.hpp"
#include "server/log.hpp"
#include "server/server.hpp"
#include "server/time_util.hpp"

namespace jb::jetstream {

namespace json = boost::json;

json::object state_json(stream& s, const std::string& subjects_filter, bool deleted_details);

namespace {

constexpr const char* type_prefix = "io.nats.jetstream.api.v1.";
constexpr std::string_view snapshot_format = "jetbroker-stream-snapshot";
constexpr int snapshot_version = 1;
constexpr auto flow_timeout = std::chrono::seconds(5);
constexpr std::size_t entry_target = 1u << 20;  // bytes of records per msgs/<n> entry

// nats-server's isEmptyRequest: no body, or a JSON object without members.
bool empty_request(std::string_view body) {
  if (body.empty()) return true;
  boost::system::error_code ec;
  auto v = json::parse(body, ec);
  return !ec && v.is_object() && v.as_object().empty();
}

std::variant<json::object, api_error> parse_object(std::string_view body) {
  boost::system::error_code ec;
  auto v = json::parse(body, ec);
  if (ec) return errors::invalid_json.with(ec.message());
  if (!v.is_object()) return errors::invalid_json.with("json: cannot unmarshal value into Go value of type server.JSApiStreamSnapshotRequest");
  return std::move(v.as_object());
}

std::int64_t int_field(const json::object& o, std::string_view key, std::int64_t dflt = 0) {
  if (auto* v = o.if_contains(key)) {
    if (v->is_int64()) return v->as_int64();
    if (v->is_uint64()) return static_cast<std::int64_t>(std::min<std::uint64_t>(v->as_uint64(), INT64_MAX));
  }
  return dflt;
}

std::string friendly_bytes(std::uint64_t b) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(b);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  char buf[32];
  if (u == 0) std::snprintf(buf, sizeof buf, "%llu B", static_cast<unsigned long long>(b));
  else std::snprintf(buf, sizeof buf, "%.2f %s", v, units[u]);
  return buf;
}

std::string consumer_entry(const consumer& c) {
  const auto& st = c.store().state();
  json::object o;
  o["name"] = c.name();
  o["config"] = c.store().config();  // the stored JSON (with its creation time)
  json::object s;
  s["delivered"] = json::object{{"consumer_seq", st.delivered.consumer}, {"stream_seq", st.delivered.stream}};
  s["ack_floor"] = json::object{{"consumer_seq", st.ack_floor.consumer}, {"stream_seq", st.ack_floor.stream}};
  json::array pending;
  pending.reserve(st.pending.size());
  for (const auto& [sseq, p] : st.pending) pending.emplace_back(json::array{sseq, p.seq, p.ts});
  s["pending"] = std::move(pending);
  json::array redelivered;
  for (const auto& [sseq, n] : st.redelivered) redelivered.emplace_back(json::array{sseq, n});
  s["redelivered"] = std::move(redelivered);
  o["state"] = std::move(s);
  return json::serialize(o);
}

std::optional<storage::consumer_state> parse_consumer_state(const json::object& o) {
  storage::consumer_state st;
  auto pair = [&](std::string_view key, storage::seq_pair& out) {
    auto* v = o.if_contains(key);
    if (!v || !v->is_object()) return false;
    out.consumer = static_cast<std::uint64_t>(int_field(v->as_object(), "consumer_seq"));
    out.stream = static_cast<std::uint64_t>(int_field(v->as_object(), "stream_seq"));
    return true;
  };
  if (!pair("delivered", st.delivered) || !pair("ack_floor", st.ack_floor)) return std::nullopt;
  auto as_u64 = [](const json::value& v) -> std::optional<std::uint64_t> {
    if (v.is_uint64()) return v.as_uint64();
    if (v.is_int64() && v.as_int64() >= 0) return static_cast<std::uint64_t>(v.as_int64());
    return std::nullopt;
  };
  if (auto* p = o.if_contains("pending"); p && p->is_array()) {
    for (const auto& e : p->as_array()) {
      if (!e.is_array() || e.as_array().size() != 3) return std::nullopt;
      auto sseq = as_u64(e.as_array()[0]), dseq = as_u64(e.as_array()[1]), ts = as_u64(e.as_array()[2]);
      if (!sseq || !dseq || !ts) return std::nullopt;
      st.pending[*sseq] = storage::pending_entry{*dseq, static_cast<std::int64_t>(*ts)};
    }
  }
  if (auto* r = o.if_contains("redelivered"); r && r->is_array()) {
    for (const auto& e : r->as_array()) {
      if (!e.is_array() || e.as_array().size() != 2) return std::nullopt;
      auto sseq = as_u64(e.as_array()[0]), n = as_u64(e.as_array()[1]);
      if (!sseq || !n) return std::nullopt;
      st.redelivered[*sseq] = *n;
    }
  }
  return st;
}

}  // namespace

// ---- snapshot -----------------------------------------------------------------------------------

void jetstream::api_stream_snapshot(const inbound_msg& m, std::string_view name) {
  const char* type = "stream_snapshot_response";
  if (empty_request(m.payload())) return respond_error(m.reply(), type, errors::bad_request);
  auto* s = find_stream(name);
  if (!s) return respond_error(m.reply(), type, errors::stream_not_found);
  auto body = parse_object(m.payload());
  if (auto* e = std::get_if<api_error>(&body)) return respond_error(m.reply(), type, *e);
  const auto& req = std::get<json::object>(body);
  std::string deliver;
  if (auto* d = req.if_contains("deliver_subject"); d && d->is_string()) deliver = std::string(d->as_string());
  if (deliver.empty() || !protocol::is_valid_literal_subject(deliver))
    return respond_error(m.reply(), type, errors::snapshot_deliver_subject_invalid);
  if (s->config().storage == storage_kind::memory) {
    log::jetstream().warn("Snapshot of stream '{} > {}' failed: no impl", srv_.js_account().name(), s->config().name);
    return respond_error(m.reply(), type, errors::stream_snapshot.with("no impl"));
  }
  const bool with_consumers = !(req.contains("no_consumers") && req.at("no_consumers").is_bool() && req.at("no_consumers").as_bool());
  log::jetstream().info("Starting snapshot for stream '{} > {}'", srv_.js_account().name(), s->config().name);

  auto ss = std::make_unique<snapshot_session>(strand_);
  ss->id = new_pin_id();
  ss->stream = s->config().name;
  ss->deliver = deliver;
  ss->ack_prefix = "$JS.SNAPSHOT.ACK." + ss->stream + "." + ss->id;
  // nats-server's clamps: chunks of 1 KiB - 1 MiB (128 KiB), a window of 1 KiB - 32 MiB (8 MiB).
  const auto chunk = std::clamp<std::int64_t>(int_field(req, "chunk_size", 128 * 1024), 1024, 1024 * 1024);
  auto window = std::clamp<std::int64_t>(int_field(req, "window_size", 8 * 1024 * 1024), 1024, 32 * 1024 * 1024);
  window = std::max(window, chunk);
  ss->chunk_size = static_cast<std::size_t>(chunk);
  ss->max_inflight = static_cast<std::size_t>(window / chunk);
  ss->start_ns = now_ns();
  const auto st = s->store().state();
  ss->next = st.first_seq;
  ss->last = st.msgs ? st.last_seq : 0;
  if (with_consumers) {
    for (auto& [cn, c] : s->consumers())
      if (c->config().is_durable()) ss->consumers.emplace_back(cn, consumer_entry(*c));
  }

  // The archive's first entry: what the restore checks and rebuilds the stream's sequences from.
  json::object meta;
  meta["format"] = snapshot_format;
  meta["version"] = snapshot_version;
  meta["stream"] = ss->stream;
  meta["created"] = s->created();
  meta["first_seq"] = st.first_seq;
  meta["last_seq"] = st.last_seq;
  meta["messages"] = st.msgs;
  const std::string meta_text = json::serialize(meta);
  const std::int64_t mtime = ss->start_ns / 1'000'000'000;
  ss->out.write(snapshot::tar_header("stream.json", meta_text.size(), mtime));
  ss->out.write(meta_text);
  ss->out.write(snapshot::tar_padding(meta_text.size()));

  json::object r;
  r["type"] = std::string(type_prefix) + type;
  r["config"] = to_json(s->config(), false);
  r["state"] = state_json(*s, {}, false);
  respond(m.reply(), std::move(r), false);
  advisory("$JS.EVENT.ADVISORY.STREAM.SNAPSHOT_CREATE." + ss->stream, "io.nats.jetstream.advisory.v1.snapshot_create",
           json::object{{"stream", ss->stream},
                        {"state", state_json(*s, {}, false)},
                        {"client", json::object{{"acc", srv_.js_account().name()}}}});

  auto* sp = ss.get();
  ss->ack_sub = subscribe(ss->ack_prefix + ".>", target::snapshot, {});
  snapshots_.emplace(ss->id, std::move(ss));
  // jsm.go subscribes to the deliver subject only after this response: like nats-server, wait
  // up to 2 s for a subscription on exactly that subject before sending the first chunk.
  snapshot_await_receiver(sp->id, std::chrono::steady_clock::now() + std::chrono::seconds(2));
}

void jetstream::snapshot_await_receiver(const std::string& id, std::chrono::steady_clock::time_point until) {
  auto it = snapshots_.find(id);
  if (it == snapshots_.end()) return;
  auto& s = *it->second;
  bool exact = false;
  const auto matched = srv_.js_account().subs().match(s.deliver);  // held: the loop reads into it
  for (const auto& sub : matched->plain) exact = exact || sub->subject == s.deliver;
  if (exact || std::chrono::steady_clock::now() >= until) return snapshot_pump(s);
  s.timer.expires_after(std::chrono::milliseconds(2));
  s.timer.async_wait([this, id, until](boost::system::error_code ec) {
    if (ec) return;
    snapshot_await_receiver(id, until);
    end_of_task();
  });
}

// Sends chunks while the window has room, as nats-server does: every full chunk takes a slot
// that its ack gives back, a last partial chunk goes without a reply subject, and the end (204)
// follows it at once (after a last full chunk, it waits for a slot like a chunk would).
void jetstream::snapshot_pump(snapshot_session& s) {
  while (s.inflight < s.max_inflight) {
    if (!find_stream(s.stream)) s.error = "stream deleted";
    while (s.out.ready() < s.chunk_size && !s.produced_all && s.error.empty()) snapshot_produce(s);
    if (!s.error.empty()) return snapshot_end(s.id, "NATS/1.0 500 " + s.error + "\r\n\r\n");
    auto chunk = s.out.take(s.chunk_size);
    if (chunk.size() < s.chunk_size) {
      if (!chunk.empty()) publish(s.deliver, s.deliver, {}, {}, chunk);
      // nats-server's end message carries the 204 only once a full chunk went out.
      return snapshot_end(s.id, s.index ? "NATS/1.0 204\r\n\r\n" : "");
    }
    ++s.index;
    ++s.inflight;
    const std::string reply = s.ack_prefix + "." + std::to_string(chunk.size()) + "." + std::to_string(s.index);
    publish(s.deliver, s.deliver, reply, {}, chunk);
  }
  s.timer.expires_after(flow_timeout);
  s.timer.async_wait([this, id = s.id](boost::system::error_code ec) {
    if (ec) return;
    snapshot_end(id, "NATS/1.0 408 No Flow Response\r\n\r\n");
    end_of_task();
  });
}

// Adds about one entry's worth of archive bytes (or the consumers and the end of the archive).
void jetstream::snapshot_produce(snapshot_session& s) {
  auto* st = find_stream(s.stream);
  if (!st) {
    s.error = "stream deleted";
    return;
  }
  const std::int64_t mtime = s.start_ns / 1'000'000'000;
  auto flush_entry = [&] {
    if (s.entry.empty()) return;
    char name[32];
    std::snprintf(name, sizeof name, "msgs/%08llu", static_cast<unsigned long long>(++s.entries));
    s.out.write(snapshot::tar_header(name, s.entry.size(), mtime));
    s.out.write(s.entry);
    s.out.write(snapshot::tar_padding(s.entry.size()));
    s.raw_bytes += s.entry.size();
    s.entry.clear();
  };
  if (s.last && s.next <= s.last) {
    auto r = st->store().load_range(s.next, {}, 512, entry_target);
    if (!r) {
      s.error = "reading the stream failed: " + r.error().message();
      return;
    }
    if (r->msgs.empty()) {
      s.next = s.last + 1;
    } else {
      for (const auto& msg : r->msgs) {
        if (msg.seq > s.last) {
          s.next = s.last + 1;
          break;
        }
        snapshot::append_record(s.entry, {msg.seq, msg.ts, msg.expires, msg.subject, msg.hdr, msg.data});
        s.next = msg.seq + 1;
      }
      if (r->next > s.next) s.next = r->next;
    }
    if (s.entry.size() >= entry_target || s.next > s.last) flush_entry();
    return;
  }
  flush_entry();
  for (const auto& [cn, text] : s.consumers) {
    const std::string name = "consumers/" + cn + ".json";
    s.out.write(snapshot::tar_header(name, text.size(), mtime));
    s.out.write(text);
    s.out.write(snapshot::tar_padding(text.size()));
  }
  s.consumers.clear();
  s.out.write(snapshot::tar_end());
  s.out.finish();
  s.produced_all = true;
}

void jetstream::snapshot_end(const std::string& id, std::string_view status) {
  auto it = snapshots_.find(id);
  if (it == snapshots_.end()) return;
  auto& s = *it->second;
  s.timer.cancel();
  unsubscribe(s.ack_sub);
  publish(s.deliver, s.deliver, {}, status, {});
  const bool ok = status.empty() || status.find(" 204") != std::string_view::npos;
  const auto elapsed = std::chrono::nanoseconds(now_ns() - s.start_ns);
  if (ok) {
    log::jetstream().info("Completed snapshot of {} for stream '{} > {}' in {}ms", friendly_bytes(s.raw_bytes),
                          srv_.js_account().name(), s.stream,
                          std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count());
    advisory("$JS.EVENT.ADVISORY.STREAM.SNAPSHOT_COMPLETE." + s.stream, "io.nats.jetstream.advisory.v1.snapshot_complete",
             json::object{{"stream", s.stream},
                          {"start", server::rfc3339_ns(s.start_ns)},
                          {"end", server::rfc3339_ns(now_ns())},
                          {"client", json::object{{"acc", srv_.js_account().name()}}}});
  } else {
    log::jetstream().warn("Snapshot of stream '{} > {}' failed: {}", srv_.js_account().name(), s.stream,
                          status.substr(9, status.find('\r') - 9));
  }
  snapshots_.erase(it);
}

void jetstream::handle_snapshot(const inbound_msg& m) {
  // $JS.SNAPSHOT.ACK.<stream>.<id>.<len>.<index> or $JS.SNAPSHOT.RESTORE.<stream>.<id>
  std::vector<std::string_view> t;
  for (std::string_view rest = m.subject();;) {
    auto dot = rest.find('.');
    t.push_back(rest.substr(0, dot));
    if (dot == std::string_view::npos) break;
    rest.remove_prefix(dot + 1);
  }
  if (t.size() >= 5 && t[2] == "ACK") {
    auto it = snapshots_.find(t[4]);
    if (it == snapshots_.end()) return;
    auto& s = *it->second;
    if (s.inflight) --s.inflight;
    return snapshot_pump(s);
  }
  if (t.size() == 5 && t[2] == "RESTORE") {
    auto it = restores_.find(std::string(t[4]));
    if (it != restores_.end()) restore_chunk(*it->second, m);
  }
}

// ---- restore ------------------------------------------------------------------------------------

void jetstream::api_stream_restore(const inbound_msg& m, std::string_view name) {
  // Errors carry an empty deliver_subject, as nats-server's (its field has no omitempty).
  auto respond_error = [this](std::string_view reply, const char* type, const api_error& e) {
    json::object o;
    o["type"] = std::string(type_prefix) + type;
    o["deliver_subject"] = "";
    o["error"] = e.to_json();
    respond(reply, std::move(o), true);
  };
  const char* type = "stream_restore_response";
  if (empty_request(m.payload())) return respond_error(m.reply(), type, errors::bad_request);
  auto body = parse_object(m.payload());
  if (auto* e = std::get_if<api_error>(&body)) return respond_error(m.reply(), type, *e);
  auto& req = std::get<json::object>(body);
  json::object cfg_json;
  if (auto* c = req.if_contains("config"); c && c->is_object()) cfg_json = c->as_object();
  std::string cfg_name;
  if (auto* n = cfg_json.if_contains("name"); n && n->is_string()) cfg_name = std::string(n->as_string());
  if (cfg_name.empty()) cfg_json["name"] = name;
  else if (cfg_name != name) return respond_error(m.reply(), type, errors::stream_mismatch);
  if (name.find_first_of("\\/") != std::string_view::npos)
    return respond_error(m.reply(), type, errors::stream_name_contains_path_separators);
  auto parsed = parse_stream_config(cfg_json, name, false);
  if (auto* e = std::get_if<api_error>(&parsed)) return respond_error(m.reply(), type, *e);
  auto cfg = std::get<stream_config>(std::move(parsed));
  if (auto e = check_stream_limits(cfg, nullptr)) return respond_error(m.reply(), type, e);
  if (find_stream(cfg.name)) return respond_error(m.reply(), type, errors::stream_name_exist_restore_failed);

  log::jetstream().info("Starting restore for stream '{} > {}'", srv_.js_account().name(), cfg.name);
  auto rs = std::make_unique<restore_session>(strand_);
  rs->id = new_pin_id();
  rs->stream = cfg.name;
  rs->subject = "$JS.SNAPSHOT.RESTORE." + cfg.name + "." + rs->id;
  rs->cfg = cfg;
  rs->config = std::move(cfg_json);
  rs->start_ns = now_ns();
  // The data waits in an unlinked file in the store directory (the disk it is restored to), or in
  // the system's temporary directory for an in-memory JetStream.
  if (!opts_.in_memory) {
    const int fd = ::open(store_path_.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd >= 0 && !(rs->tmp = ::fdopen(fd, "w+b"))) ::close(fd);
  }
  if (!rs->tmp) rs->tmp = std::tmpfile();
  if (!rs->tmp) return respond_error(m.reply(), type, errors::stream_restore.with("cannot create a temporary file"));
  advisory("$JS.EVENT.ADVISORY.STREAM.RESTORE_CREATE." + cfg.name, "io.nats.jetstream.advisory.v1.restore_create",
           json::object{{"stream", cfg.name}, {"client", json::object{{"acc", srv_.js_account().name()}}}});
  rs->sub = subscribe(rs->subject, target::snapshot, {});
  auto* rp = rs.get();
  restores_.emplace(rs->id, std::move(rs));
  rp->timer.expires_after(flow_timeout);
  rp->timer.async_wait([this, id = rp->id](boost::system::error_code ec) {
    if (ec) return;
    if (auto it = restores_.find(id); it != restores_.end())
      log::jetstream().warn("restore for stream '{} > {}' is stalled", srv_.js_account().name(), it->second->stream);
    restore_end(id);
    end_of_task();
  });
  json::object r;
  r["type"] = std::string(type_prefix) + type;
  r["deliver_subject"] = rp->subject;
  respond(m.reply(), std::move(r), false);
}

void jetstream::restore_end(const std::string& id) {
  auto it = restores_.find(id);
  if (it == restores_.end()) return;
  it->second->timer.cancel();
  unsubscribe(it->second->sub);
  restores_.erase(it);
}

void jetstream::restore_chunk(restore_session& r, const inbound_msg& m) {
  const std::string id = r.id;
  if (m.reply().empty()) {
    log::jetstream().warn("restore for stream '{} > {}' requires reply subject for each chunk", srv_.js_account().name(), r.stream);
    return restore_end(id);
  }
  const std::string reply(m.reply());
  if (!m.payload().empty()) {
    const std::int64_t room = r.cfg.storage == storage_kind::memory ? max_memory_ : max_storage_;
    if (room > 0 && r.total + m.payload().size() > static_cast<std::uint64_t>(room)) {
      json::object e;
      e["type"] = std::string(type_prefix) + "stream_create_response";
      const auto& why = r.cfg.storage == storage_kind::memory ? errors::memory_resources_exceeded : errors::storage_resources_exceeded;
      e["error"] = errors::stream_restore.with(why.description).to_json();
      respond(reply, std::move(e), true);
      return restore_end(id);
    }
    if (std::fwrite(m.payload().data(), 1, m.payload().size(), r.tmp) != m.payload().size()) {
      json::object e;
      e["type"] = std::string(type_prefix) + "stream_create_response";
      e["error"] = errors::stream_restore.with("writing the received data failed").to_json();
      respond(reply, std::move(e), true);
      return restore_end(id);
    }
    r.total += m.payload().size();
    publish(reply, {});
    r.timer.expires_after(flow_timeout);
    r.timer.async_wait([this, id](boost::system::error_code ec) {
      if (ec) return;
      if (auto it = restores_.find(id); it != restores_.end())
        log::jetstream().warn("restore for stream '{} > {}' is stalled", srv_.js_account().name(), it->second->stream);
      restore_end(id);
      end_of_task();
    });
    return;
  }
  // End of the transfer: build the stream.
  stream* created = nullptr;
  auto err = restore_apply(r, created);
  const auto elapsed = std::chrono::nanoseconds(now_ns() - r.start_ns);
  json::object resp;
  resp["type"] = std::string(type_prefix) + "stream_create_response";
  if (err) {
    log::jetstream().warn("Restore failed for {} for stream '{} > {}' in {}ms", friendly_bytes(r.total),
                          srv_.js_account().name(), r.stream,
                          std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count());
    resp["error"] = err.to_json();
  } else {
    log::jetstream().info("Completed restore of {} for stream '{} > {}' in {}ms", friendly_bytes(r.total),
                          srv_.js_account().name(), r.stream,
                          std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count());
    for (auto& kv : stream_info_json(*created, false)) resp[kv.key()] = kv.value();
  }
  advisory("$JS.EVENT.ADVISORY.STREAM.RESTORE_COMPLETE." + r.stream, "io.nats.jetstream.advisory.v1.restore_complete",
           json::object{{"stream", r.stream},
                        {"start", server::rfc3339_ns(r.start_ns)},
                        {"end", server::rfc3339_ns(now_ns())},
                        {"bytes", r.total},
                        {"client", json::object{{"acc", srv_.js_account().name()}}}});
  respond(reply, std::move(resp), bool(err));
  restore_end(id);
}

// Decodes the received archive and creates the stream, its messages (with their sequences and
// times) and its consumers (with their state). On any error nothing is left behind.
api_error jetstream::restore_apply(restore_session& r, stream*& created) {
  if (find_stream(r.stream)) return errors::stream_name_exist_restore_failed;
  for (auto& [n, s] : streams_)
    for (const auto& a : s->config().subjects)
      for (const auto& b : r.cfg.subjects)
        if (protocol::subjects_overlap(a, b)) return errors::stream_restore.with(errors::stream_subject_overlap.description);
  std::rewind(r.tmp);
  std::shared_ptr<storage::stream_store> store;
  bool have_meta = false;
  std::uint64_t want_last = 0, want_first = 0;
  std::int64_t created_ns = now_ns();
  std::vector<storage::append_request> batch;
  std::vector<std::pair<std::string, json::object>> consumers;
  auto fail = [&](const std::string& why) {
    if (store) storage::ignore_result(env_->delete_stream(r.stream));
    return errors::stream_restore.with(why);
  };
  auto flush = [&]() -> std::optional<std::string> {
    if (batch.empty()) return std::nullopt;
    auto res = store->append_batch(batch);
    batch.clear();
    if (!res) return "storing messages failed: " + res.error().message();
    return std::nullopt;
  };
  snapshot::tar_reader tar([&](std::string_view name, std::string_view data) -> std::optional<std::string> {
    if (!have_meta) {
      if (name != "stream.json") return "not a jetbroker snapshot (a snapshot taken by nats-server?)";
      boost::system::error_code ec;
      auto v = json::parse(data, ec);
      if (ec || !v.is_object()) return "the snapshot's stream.json is unreadable";
      auto& o = v.as_object();
      auto* f = o.if_contains("format");
      if (!f || !f->is_string() || f->as_string() != snapshot_format) return "not a jetbroker snapshot";
      if (int_field(o, "version") != snapshot_version)
        return "snapshot format version " + std::to_string(int_field(o, "version")) + " is not supported";
      want_first = static_cast<std::uint64_t>(int_field(o, "first_seq"));
      want_last = static_cast<std::uint64_t>(int_field(o, "last_seq"));
      created_ns = int_field(o, "created", created_ns);
      auto stored = to_json(r.cfg, false);
      stored["__created"] = created_ns;
      auto st = env_->create_stream(r.cfg.name,
                                    r.cfg.storage == storage_kind::memory ? storage::storage_type::memory
                                                                          : storage::storage_type::file,
                                    json::serialize(stored));
      if (!st) return "creating the stream failed: " + st.error().message();
      store = *st;
      have_meta = true;
      if (want_first > 1) {
        if (auto sk = store->skip_to(want_first - 1, now_ns()); !sk) return "storing messages failed: " + sk.error().message();
      }
      return std::nullopt;
    }
    if (name.starts_with("msgs/")) {
      // The records point into `data`, valid for this call: every batch is stored before it returns.
      std::size_t pos = 0;
      while (pos < data.size()) {
        auto rec = snapshot::read_record(data, pos);
        if (!rec) return "a message record of the snapshot is damaged";
        const auto last = store->state().last_seq + batch.size();
        if (rec->seq <= last) return "the snapshot's messages are out of order";
        if (rec->seq != last + 1) {  // deleted messages: a gap of skipped sequences
          if (auto e = flush()) return e;
          if (auto sk = store->skip_to(rec->seq - 1, now_ns()); !sk) return "storing messages failed: " + sk.error().message();
        }
        storage::append_request a;
        a.subject = rec->subject;
        a.hdr = rec->hdr;
        a.data = rec->data;
        a.ts = rec->ts;
        a.ttl_ns = rec->expires > rec->ts ? rec->expires - rec->ts : 0;
        batch.push_back(a);
        if (batch.size() >= 1000)
          if (auto e = flush()) return e;
      }
      return flush();
    }
    if (name.starts_with("consumers/")) {
      boost::system::error_code ec;
      auto v = json::parse(data, ec);
      if (ec || !v.is_object()) return "a consumer of the snapshot is unreadable";
      auto& o = v.as_object();
      auto* n = o.if_contains("name");
      if (!n || !n->is_string()) return "a consumer of the snapshot has no name";
      consumers.emplace_back(std::string(n->as_string()), std::move(o));
      return std::nullopt;
    }
    return std::nullopt;  // entries of later versions this one does not know are skipped
  });
  snapshot::frame_reader frames;
  std::string decoded;
  char buf[1 << 16];
  for (;;) {
    const std::size_t n = std::fread(buf, 1, sizeof buf, r.tmp);
    if (n == 0) break;
    decoded.clear();
    if (auto e = frames.feed(std::string_view(buf, n), decoded)) return fail(*e);
    if (auto e = tar.feed(decoded)) return fail(*e);
  }
  if (auto e = frames.finish()) return fail(*e);
  if (auto e = tar.finish()) return fail(*e);
  if (!have_meta) return fail("the snapshot is empty");
  if (want_last > store->state().last_seq) {
    if (auto sk = store->skip_to(want_last, now_ns()); !sk) return fail("storing messages failed: " + sk.error().message());
  }

  // Consumers: their stores first, with config and state, then the objects (as on a restart).
  struct restored_consumer {
    consumer_config cfg;
    std::shared_ptr<storage::consumer_store> store;
    std::int64_t created;
  };
  std::vector<restored_consumer> rc;
  for (auto& [cn, o] : consumers) {
    auto* cv = o.if_contains("config");
    if (!cv || !cv->is_string()) return fail("consumer " + cn + " of the snapshot has no config");
    boost::system::error_code ec;
    auto cj = json::parse(cv->as_string(), ec);
    if (ec || !cj.is_object()) return fail("consumer " + cn + " of the snapshot has an unreadable config");
    auto& co = cj.as_object();
    std::int64_t ccreated = now_ns();
    if (auto* c = co.if_contains("__created"); c && c->is_int64()) ccreated = c->as_int64();
    json::object plain = co;
    plain.erase("__created");
    auto cc = parse_consumer_config_json(plain);
    if (auto* e = std::get_if<api_error>(&cc)) return fail("consumer " + cn + ": " + e->description);
    auto* sv = o.if_contains("state");
    auto state = sv && sv->is_object() ? parse_consumer_state(sv->as_object()) : std::nullopt;
    if (!state) return fail("consumer " + cn + " of the snapshot has an unreadable state");
    auto cs = env_->create_consumer(r.cfg.name, cn, json::serialize(co));
    if (!cs) return fail("creating consumer " + cn + " failed: " + cs.error().message());
    if (auto u = (*cs)->update_state(*state); !u) return fail("storing consumer " + cn + " failed: " + u.error().message());
    rc.push_back({std::get<consumer_config>(std::move(cc)), *cs, ccreated});
  }
  commit_consumer_state(true);

  auto s = std::make_unique<stream>(*this, r.cfg, store, created_ns);
  auto* sp = s.get();
  streams_.emplace(r.cfg.name, std::move(s));
  sp->start();
  for (auto& c : rc) {
    auto obj = std::make_unique<consumer>(*this, *sp, c.cfg, c.store, c.created, true);
    auto* cp = obj.get();
    sp->consumers().emplace(c.cfg.name, std::move(obj));
    cp->start();
  }
  refresh_linked();
  on_stream_appended(r.cfg.name);
  stream_advisory(r.cfg.name, "CREATED", "create");
  created = sp;
  return {};
}

}  // namespace jb::jetstream
