// Sublist micro-benchmarks. The shared index holds 100,000 subscriptions:
//   98,000 literals  svc.<r>.<n>.evt      (r < 100, n < 980)
//    1,500 partial   svc.<r>.*.k<j>       (j < 15)
//      500 full      mon.<m>.>            (m < 500)
// "hit" variants cycle over 512 subjects (all cached), "miss" variants over every literal
// subject (the 1024-entry cache thrashes: walk + fill + eviction), "nocache" is the bare walk.
#include <benchmark/benchmark.h>

#include <memory>
#include <string>
#include <vector>

#include "server/sublist.hpp"

namespace {

using jb::server::subscription;
using jb::server::subscription_ptr;
using jb::server::sublist;

constexpr int literal_subs = 98'000;
constexpr int partial_subs = 1'500;
constexpr int full_subs = 500;

subscription_ptr make_sub(std::string subject, std::string queue = {}) {
  auto s = std::make_shared<subscription>();
  s->subject = std::move(subject);
  s->queue = std::move(queue);
  return s;
}

std::string literal_subject(int i) { return "svc." + std::to_string(i % 100) + "." + std::to_string(i / 100) + ".evt"; }

std::vector<subscription_ptr> make_subs() {
  std::vector<subscription_ptr> subs;
  subs.reserve(literal_subs + partial_subs + full_subs);
  for (int i = 0; i < literal_subs; ++i) subs.push_back(make_sub(literal_subject(i)));
  for (int k = 0; k < partial_subs; ++k)
    subs.push_back(make_sub("svc." + std::to_string(k % 100) + ".*.k" + std::to_string(k / 100)));
  for (int m = 0; m < full_subs; ++m) subs.push_back(make_sub("mon." + std::to_string(m) + ".>"));
  return subs;
}

const std::vector<subscription_ptr>& all_subs() {
  static const auto subs = make_subs();
  return subs;
}

sublist& index_100k(std::size_t cache_capacity) {
  auto build = [](std::size_t cap) {
    auto* sl = new sublist(cap);  // lives for the whole run
    for (const auto& s : all_subs()) sl->insert(s);
    return sl;
  };
  static sublist* cached = build(1024);
  static sublist* uncached = build(0);
  return cache_capacity ? *cached : *uncached;
}

const std::vector<std::string>& literal_subjects() {
  static const auto v = [] {
    std::vector<std::string> out;
    for (int i = 0; i < literal_subs; ++i) out.push_back(literal_subject(i));
    return out;
  }();
  return v;
}

// Subjects only wildcards match: one partial (svc.r.n.kj) and one full (mon.m.x.y) each.
const std::vector<std::string>& wildcard_subjects() {
  static const auto v = [] {
    std::vector<std::string> out;
    for (int i = 0; i < literal_subs; ++i) {
      out.push_back(i % 2 ? "svc." + std::to_string(i % 100) + "." + std::to_string(i / 100) + ".k" + std::to_string(i % 15)
                          : "mon." + std::to_string(i % full_subs) + ".x." + std::to_string(i));
    }
    return out;
  }();
  return v;
}

void run_match(benchmark::State& state, sublist& sl, const std::vector<std::string>& subjects, std::size_t span) {
  std::size_t i = static_cast<std::size_t>(state.thread_index()) * 97;
  for (auto _ : state) {
    auto r = sl.match(subjects[i % span]);
    benchmark::DoNotOptimize(r);
    ++i;
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_match_literal_hit(benchmark::State& state) { run_match(state, index_100k(1024), literal_subjects(), 512); }
void BM_match_literal_miss(benchmark::State& state) {
  run_match(state, index_100k(1024), literal_subjects(), literal_subjects().size());
}
void BM_match_literal_nocache(benchmark::State& state) {
  run_match(state, index_100k(0), literal_subjects(), literal_subjects().size());
}
void BM_match_wildcard_hit(benchmark::State& state) { run_match(state, index_100k(1024), wildcard_subjects(), 512); }
void BM_match_wildcard_miss(benchmark::State& state) {
  run_match(state, index_100k(1024), wildcard_subjects(), wildcard_subjects().size());
}
void BM_match_wildcard_nocache(benchmark::State& state) {
  run_match(state, index_100k(0), wildcard_subjects(), wildcard_subjects().size());
}
void BM_match_concurrent_hit(benchmark::State& state) { run_match(state, index_100k(1024), literal_subjects(), 512); }
void BM_match_concurrent_miss(benchmark::State& state) {
  run_match(state, index_100k(1024), literal_subjects(), literal_subjects().size());
}

void BM_has_interest_miss(benchmark::State& state) {
  auto& sl = index_100k(1024);
  const auto& subjects = literal_subjects();
  std::size_t i = 0;
  for (auto _ : state) benchmark::DoNotOptimize(sl.has_interest(subjects[i++ % subjects.size()]));
  state.SetItemsProcessed(state.iterations());
}

// 100,000 queue subscriptions: 1,000 subjects, 5 groups of 20 members each.
sublist* build_queue_index(std::size_t cache_capacity) {
  static std::vector<subscription_ptr> subs = [] {
    std::vector<subscription_ptr> out;
    for (int subj = 0; subj < 1000; ++subj)
      for (int g = 0; g < 5; ++g)
        for (int m = 0; m < 20; ++m) out.push_back(make_sub("q." + std::to_string(subj), "group" + std::to_string(g)));
    return out;
  }();
  auto* sl = new sublist(cache_capacity);  // lives for the whole run
  for (const auto& s : subs) sl->insert(s);
  return sl;
}

const std::vector<std::string>& queue_subjects() {
  static const auto v = [] {
    std::vector<std::string> out;
    for (int i = 0; i < 1000; ++i) out.push_back("q." + std::to_string(i));
    return out;
  }();
  return v;
}

void BM_match_queue_hit(benchmark::State& state) {
  static sublist* sl = build_queue_index(1024);
  run_match(state, *sl, queue_subjects(), 256);
}
// 1,000 subjects would all fit in the cache, so the miss variant uses a cacheless twin.
void BM_match_queue_nocache(benchmark::State& state) {
  static sublist* sl = build_queue_index(0);
  run_match(state, *sl, queue_subjects(), 1000);
}

// Inserting the 100k mix into an empty index (with an empty cache; see the _warm variant).
void BM_insert_100k(benchmark::State& state) {
  const auto& subs = all_subs();
  for (auto _ : state) {
    auto sl = std::make_unique<sublist>();
    for (const auto& s : subs) sl->insert(s);
    benchmark::DoNotOptimize(sl->count());
    state.PauseTiming();  // destruction is not part of it
    sl.reset();
    state.ResumeTiming();
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(subs.size()));
}

// Inserts with a full cache, so each wildcard insert scans the 1,024 cached subjects.
void BM_insert_100k_warm_cache(benchmark::State& state) {
  const auto& subs = all_subs();
  const auto& subjects = literal_subjects();
  for (auto _ : state) {
    state.PauseTiming();
    auto sl = std::make_unique<sublist>();
    for (std::size_t i = 0; i < 2048; ++i) (void)sl->match(subjects[i * 41 % subjects.size()]);
    state.ResumeTiming();
    for (const auto& s : subs) sl->insert(s);
    benchmark::DoNotOptimize(sl->count());
    state.PauseTiming();
    sl.reset();
    state.ResumeTiming();
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(subs.size()));
}

// Insert + remove of a unique subject (inbox churn) on the 100k index.
void BM_insert_remove_churn(benchmark::State& state) {
  auto& sl = index_100k(1024);
  std::vector<subscription_ptr> inboxes;
  for (int i = 0; i < 4096; ++i) inboxes.push_back(make_sub("_INBOX.abcdefgh." + std::to_string(i)));
  std::size_t i = 0;
  for (auto _ : state) {
    const auto& s = inboxes[i++ & 4095];
    sl.insert(s);
    sl.remove(s);
  }
  state.SetItemsProcessed(state.iterations());
}

// Short minimum times keep the whole binary near 20 s; nanosecond-scale loops still run
// millions of iterations.
constexpr double quick = 0.3;
BENCHMARK(BM_insert_100k)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_insert_100k_warm_cache)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_insert_remove_churn)->MinTime(quick);
BENCHMARK(BM_match_literal_hit)->MinTime(quick);
BENCHMARK(BM_match_literal_miss)->MinTime(quick);
BENCHMARK(BM_match_literal_nocache)->MinTime(quick);
BENCHMARK(BM_match_wildcard_hit)->MinTime(quick);
BENCHMARK(BM_match_wildcard_miss)->MinTime(quick);
BENCHMARK(BM_match_wildcard_nocache)->MinTime(quick);
BENCHMARK(BM_has_interest_miss)->MinTime(quick);
BENCHMARK(BM_match_queue_hit)->MinTime(quick);
BENCHMARK(BM_match_queue_nocache)->MinTime(quick);
BENCHMARK(BM_match_concurrent_hit)->Threads(1)->Threads(2)->UseRealTime()->MinTime(quick);
BENCHMARK(BM_match_concurrent_miss)->Threads(1)->Threads(2)->UseRealTime()->MinTime(quick);

}  // namespace

BENCHMARK_MAIN();
