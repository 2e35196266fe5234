// Child process of the kill -9 crash test (crash_test.cpp). Appends, removes and purges on a
// RocksDB stream forever, reporting on stdout:
//   "A <first> <last>"  after an append batch is acknowledged (append_batch returned)
//   "r <seq>"           before removing seq (it may or may not happen before the kill)
//   "p <cut>"           before purging everything below cut
// Message content is a pure function of the sequence so the parent can verify it.
#include "storage/rocksdb_store.hpp"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>

namespace {

void report(const std::string& line) {
  const char* p = line.data();
  std::size_t left = line.size();
  while (left > 0) {
    const auto n = ::write(1, p, left);
    if (n <= 0) std::_Exit(3);
    p += n;
    left -= static_cast<std::size_t>(n);
  }
}

}  // namespace

// Seven consecutive sequences per subject: runs in the subject index that cross batches.
std::string crash_subject(std::uint64_t q) { return "c." + std::to_string(q / 7 % 13); }
std::string crash_payload(std::uint64_t q) {
  std::string s;
  for (std::uint64_t i = 0; i < q % 7 + 1; ++i) s += std::to_string(q) + ";";
  return s;
}

int main(int argc, char** argv) {
  using namespace jb::storage;
  if (argc != 4) return 2;
  rocksdb_env_options o;
  o.dir = argv[1];
  o.sync_always = std::string(argv[3]) == "1";
  o.write_buffer_size = 256 << 10;  // small memtables: flushes and compactions happen under the kill
  o.max_total_wal_size = 1 << 20;
  std::mt19937_64 rng(std::strtoull(argv[2], nullptr, 10));
  std::string detail;
  auto env = rocksdb_env::open(o, &detail);
  if (!env) {
    std::fprintf(stderr, "child: open failed: %s\n", detail.c_str());
    return 4;
  }
  auto s = (*env)->open_stream("C");
  if (!s) s = (*env)->create_stream("C", storage_type::file, "{}");
  auto c = (*env)->open_consumer("C", "K");
  if (!c) c = (*env)->create_consumer("C", "K", "{}");
  if (!s || !c) return 5;
  auto& st = **s;
  auto& con = **c;
  for (;;) {
    const auto op = rng() % 100;
    const auto state = st.state();
    if (op < 85 || state.msgs == 0) {
      const std::uint64_t n = 1 + rng() % 40;
      std::vector<std::string> subj, data;
      std::vector<append_request> reqs;
      for (std::uint64_t i = 0; i < n; ++i) {
        const auto q = state.last_seq + 1 + i;
        subj.push_back(crash_subject(q));
        data.push_back(crash_payload(q));
      }
      for (std::uint64_t i = 0; i < n; ++i) {
        const auto q = state.last_seq + 1 + i;
        reqs.push_back({subj[i], q % 5 == 0 ? "NATS/1.0\r\n\r\n" : "", data[i], static_cast<timestamp_ns>(q), 0});
      }
      auto first = st.append_batch(reqs);
      if (!first || *first != state.last_seq + 1) return 6;
      for (std::uint64_t q = *first; q < *first + n; ++q) {
        if (!con.update_delivered(q, q, 1, static_cast<timestamp_ns>(q))) return 7;
        if (q % 3 == 0 && !con.update_acks(q, q)) return 8;
      }
      report("A " + std::to_string(*first) + " " + std::to_string(*first + n - 1) + "\n");
    } else if (op < 93) {
      const auto q = state.first_seq + rng() % (state.last_seq - state.first_seq + 1);
      report("r " + std::to_string(q) + "\n");
      if (!st.remove(q)) return 9;
    } else {
      const auto cut = state.first_seq + rng() % 60;
      report("p " + std::to_string(cut) + "\n");
      if (!st.purge({"", cut, 0})) return 10;
    }
  }
}
