// Storage micro-benchmarks (Google Benchmark). Whole binary runs in well under a minute:
//   build/bench/storage/storage_bench [--benchmark_filter=...]
// Recovery is measured after a real kill -9: the binary re-executes itself as a filler child
// (--jb-fill), which appends N messages and is then SIGKILLed before the store is reopened.
#include "storage/memory_store.hpp"
#include "storage/rocksdb_store.hpp"

#include <benchmark/benchmark.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>

namespace {

using namespace jb::storage;
namespace fs = std::filesystem;

std::string self_path;

fs::path temp_dir(const char* tag) {
  const char* base = std::getenv("TMPDIR");
  std::string t = std::string(base && *base ? base : "/tmp") + "/jbbench_" + tag + "_XXXXXX";
  if (!::mkdtemp(t.data())) std::abort();
  return t;
}

struct temp_env {
  explicit temp_env(bool sync_always, const char* tag = "b") : dir(temp_dir(tag)) {
    rocksdb_env_options o;
    o.dir = dir;
    o.sync_always = sync_always;
    env = rocksdb_env::open(o).value();
  }
  ~temp_env() {
    env.reset();
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
  fs::path dir;
  std::unique_ptr<rocksdb_env> env;
};

std::string subject_for(std::uint64_t k) { return "bench." + std::to_string(k % 100) + "." + std::to_string(k / 100); }

// Fills `s` with n messages of `size` bytes over `subjects` subjects, in batches of 1000.
void fill(stream_store& s, std::uint64_t n, std::uint64_t subjects, std::size_t size) {
  std::vector<std::string> names;
  for (std::uint64_t k = 0; k < subjects; ++k) names.push_back(subject_for(k));
  const std::string payload(size, 'p');
  std::vector<append_request> reqs;
  for (std::uint64_t i = 0; i < n;) {
    reqs.clear();
    for (std::uint64_t j = 0; j < 1000 && i < n; ++j, ++i) {
      reqs.push_back({names[i % subjects], {}, payload, static_cast<timestamp_ns>(i + 1), 0});
    }
    if (!s.append_batch(reqs)) std::abort();
  }
}

// ---- appends: Args = {payload bytes, batch size, sync_always, file(1)/memory(0)} ----
void BM_append(benchmark::State& state) {
  const auto size = static_cast<std::size_t>(state.range(0));
  const auto batch = static_cast<std::size_t>(state.range(1));
  const bool sync = state.range(2) != 0;
  const bool file = state.range(3) != 0;
  std::unique_ptr<temp_env> te;
  std::unique_ptr<memory_env> me;
  std::shared_ptr<stream_store> s;
  if (file) {
    te = std::make_unique<temp_env>(sync);
    s = te->env->create_stream("A", storage_type::file, "{}").value();
  } else {
    me = std::make_unique<memory_env>();
    s = me->create_stream("A", storage_type::memory, "{}").value();
  }
  const std::string payload(size, 'x');
  std::vector<append_request> reqs(batch, append_request{"orders.new", {}, payload, 1, 0});
  for (auto _ : state) {
    auto r = s->append_batch(reqs);
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * batch));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * batch * size));
}
#define JB_APPEND(bytes, batch, sync, file, iters)                                                         \
  BENCHMARK(BM_append)                                                                                     \
      ->ArgNames({"bytes", "batch", "sync", "file"})                                                       \
      ->Args({bytes, batch, sync, file})                                                                   \
      ->Iterations(iters)                                                                                  \
      ->UseRealTime()                                                                                      \
      ->Unit(benchmark::kMicrosecond)
JB_APPEND(16, 1, 0, 1, 50000);
JB_APPEND(128, 1, 0, 1, 50000);
JB_APPEND(1024, 1, 0, 1, 20000);
JB_APPEND(16, 500, 0, 1, 400);
JB_APPEND(128, 500, 0, 1, 400);
JB_APPEND(1024, 500, 0, 1, 200);
JB_APPEND(128, 1, 1, 1, 1000);
JB_APPEND(16, 500, 1, 1, 200);
JB_APPEND(128, 500, 1, 1, 200);
JB_APPEND(1024, 500, 1, 1, 100);
JB_APPEND(128, 1, 0, 0, 200000);
JB_APPEND(128, 500, 0, 0, 1000);

// ---- a shared 1,000,000-message stream over 10,000 subjects ----
struct big_stream {
  big_stream() : te(false, "big") {
    s = te.env->create_stream("BIG", storage_type::file, "{}").value();
    fill(*s, n, subjects, 128);
  }
  static big_stream& get() {
    static big_stream b;
    return b;
  }
  static constexpr std::uint64_t n = 1'000'000;
  static constexpr std::uint64_t subjects = 10'000;
  temp_env te;
  std::shared_ptr<stream_store> s;
};

void BM_load_by_seq(benchmark::State& state) {
  auto& b = big_stream::get();
  std::mt19937_64 rng(1);
  for (auto _ : state) {
    auto m = b.s->load(1 + rng() % b.n);
    benchmark::DoNotOptimize(m);
  }
}
BENCHMARK(BM_load_by_seq)->Iterations(200000)->UseRealTime()->Unit(benchmark::kMicrosecond);

// Args: 0 = literal subject (1 in 10,000), 1 = "bench.5.*" (1 in 100), 2 = "bench.*.7" (100 subjects
// together early in the stream), 3 = ">".
void BM_load_next_filter(benchmark::State& state) {
  auto& b = big_stream::get();
  std::mt19937_64 rng(2);
  const char* filters[] = {"bench.5.42", "bench.5.*", "bench.*.7", ">"};
  const std::string f = filters[state.range(0)];
  std::uint64_t found = 0;
  for (auto _ : state) {
    auto m = b.s->load_next(1 + rng() % b.n, f);
    found += m.has_value();
    benchmark::DoNotOptimize(m);
  }
  state.counters["found"] = static_cast<double>(found) / static_cast<double>(state.iterations());
}
BENCHMARK(BM_load_next_filter)->Arg(0)->Arg(1)->Arg(2)->Arg(3)->Iterations(20000)->UseRealTime()->Unit(benchmark::kMicrosecond);

void BM_load_last_subject(benchmark::State& state) {
  auto& b = big_stream::get();
  std::mt19937_64 rng(3);
  for (auto _ : state) {
    auto m = state.range(0) == 0 ? b.s->load_last(subject_for(rng() % b.subjects)) : b.s->load_last("bench.*.99");
    benchmark::DoNotOptimize(m);
  }
}
BENCHMARK(BM_load_last_subject)->Arg(0)->Arg(1)->Iterations(20000)->UseRealTime()->Unit(benchmark::kMicrosecond);

void BM_num_pending_filter(benchmark::State& state) {
  auto& b = big_stream::get();
  std::mt19937_64 rng(4);
  const std::vector<std::string> f{"bench.5.*"};
  for (auto _ : state) {
    auto n = b.s->num_pending(b.n - 1000 + rng() % 1000, f, last_per_subject::no);
    benchmark::DoNotOptimize(n);
  }
}
BENCHMARK(BM_num_pending_filter)->Iterations(2000)->UseRealTime()->Unit(benchmark::kMicrosecond);

// Purge one subject (100 messages of a 200,000-message, 2,000-subject stream) per iteration.
void BM_purge_subject(benchmark::State& state) {
  temp_env te(false, "purge");
  auto s = te.env->create_stream("P", storage_type::file, "{}").value();
  fill(*s, 200'000, 2'000, 128);
  std::uint64_t k = 0;
  for (auto _ : state) {
    auto r = s->purge({subject_for(k++), 0, 0});
    if (!r || *r != 100) state.SkipWithError("purge count");
  }
}
BENCHMARK(BM_purge_subject)->Iterations(1000)->UseRealTime()->Unit(benchmark::kMicrosecond);

// Filler child for the recovery benchmark: append n messages, report, wait to be killed.
int fill_child(const char* dir, std::uint64_t n) {
  rocksdb_env_options o;
  o.dir = dir;
  auto env = rocksdb_env::open(o).value();
  auto s = env->create_stream("R", storage_type::file, "{}").value();
  fill(*s, n, 10'000, 128);
  if (::write(1, "done\n", 5) != 5) return 1;
  for (;;) ::pause();
}

// Recovery after kill -9 holding Args(0) messages: open the env, the stream, read state().
void BM_recovery_after_kill9(benchmark::State& state) {
  const auto n = static_cast<std::uint64_t>(state.range(0));
  const auto dir = temp_dir("recover");
  int fds[2];
  if (::pipe(fds) != 0) std::abort();
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(fds[1], 1);
    ::close(fds[0]);
    const std::string ns = std::to_string(n);
    ::execl(self_path.c_str(), self_path.c_str(), "--jb-fill", dir.c_str(), ns.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(fds[1]);
  char buf[8];
  if (::read(fds[0], buf, 5) != 5) state.SkipWithError("filler failed");
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
  ::close(fds[0]);
  std::uint64_t msgs = 0;
  std::uintmax_t wal_bytes = 0;
  for (auto& e : fs::directory_iterator(dir / "db")) {
    if (e.path().extension() == ".log") wal_bytes += e.file_size();
  }
  for (auto _ : state) {
    rocksdb_env_options o;
    o.dir = dir;
    auto env = rocksdb_env::open(o).value();
    auto s = env->open_stream("R").value();
    msgs = s->state().msgs;
    state.PauseTiming();
    s.reset();
    env.reset();
    state.ResumeTiming();
  }
  if (msgs != n) state.SkipWithError("lost messages");
  state.counters["msgs"] = static_cast<double>(msgs);
  state.counters["wal_MiB"] = static_cast<double>(wal_bytes) / (1 << 20);
  std::error_code ec;
  fs::remove_all(dir, ec);
}
BENCHMARK(BM_recovery_after_kill9)->Arg(1'000'000)->Iterations(5)->UseRealTime()->Unit(benchmark::kMillisecond);

// Consumer ack with 100,000 pending: O(1) writes.
void BM_consumer_ack_100k_pending(benchmark::State& state) {
  temp_env te(false, "ack");
  if (!te.env->create_stream("S", storage_type::file, "{}")) std::abort();
  auto c = te.env->create_consumer("S", "C", "{}").value();
  for (std::uint64_t i = 1; i <= 200'000; ++i) {
    if (!c->update_delivered(i, i, 1, static_cast<timestamp_ns>(i))) std::abort();
  }
  std::uint64_t next = 2;  // ack every other: 100,000 stay pending
  for (auto _ : state) {
    if (!c->update_acks(next, next)) state.SkipWithError("ack");
    next += 2;
  }
  state.counters["pending"] = static_cast<double>(c->state().pending.size());
}
BENCHMARK(BM_consumer_ack_100k_pending)->Iterations(50000)->UseRealTime()->Unit(benchmark::kMicrosecond);

// After purging 900,000 of the 1,000,000 messages (one DeleteRange), reading from the first sequence.
void BM_scan_after_purge(benchmark::State& state) {
  // Runs last: it purges the shared stream.
  auto& s = big_stream::get().s;
  const auto t0 = std::chrono::steady_clock::now();
  if (!s->purge({"", 900'001, 0})) state.SkipWithError("purge");
  state.counters["purge_900k_ms"] =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  for (auto _ : state) {
    auto m = s->load_next(0, "");
    if (!m || m->seq != 900'001) state.SkipWithError("first");
    benchmark::DoNotOptimize(m);
  }
}
BENCHMARK(BM_scan_after_purge)->Iterations(20000)->UseRealTime()->Unit(benchmark::kMicrosecond);

}  // namespace

int main(int argc, char** argv) {
  self_path = fs::canonical("/proc/self/exe").string();
  if (argc == 4 && std::string(argv[1]) == "--jb-fill") return fill_child(argv[2], std::strtoull(argv[3], nullptr, 10));
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
