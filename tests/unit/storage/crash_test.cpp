// kill -9 crash test: a child process (crash_child.cpp) appends and reports every acknowledged
// sequence through a pipe; the parent kills it with SIGKILL at a random point in the stream of
// reports, reopens the store and verifies every acknowledged append and the consistency of the
// state, subject counts and consumer state. Several rounds on the same store.
#include "tests/unit/storage/store_fixture.hpp"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <random>
#include <set>
#include <sstream>

// Seven consecutive sequences per subject: runs in the subject index that cross batches.
std::string crash_subject(std::uint64_t q) { return "c." + std::to_string(q / 7 % 13); }
std::string crash_payload(std::uint64_t q) {
  std::string s;
  for (std::uint64_t i = 0; i < q % 7 + 1; ++i) s += std::to_string(q) + ";";
  return s;
}

namespace jb::storage::test {
namespace {

class line_reader {
 public:
  explicit line_reader(int fd) : fd_(fd) {}
  // Next line without '\n'; nullopt at EOF.
  std::optional<std::string> next() {
    for (;;) {
      if (auto nl = buf_.find('\n'); nl != std::string::npos) {
        std::string line = buf_.substr(0, nl);
        buf_.erase(0, nl + 1);
        return line;
      }
      char tmp[4096];
      const auto n = ::read(fd_, tmp, sizeof tmp);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return std::nullopt;
      buf_.append(tmp, static_cast<std::size_t>(n));
    }
  }

 private:
  int fd_;
  std::string buf_;
};

TEST(crash_test, kill_9_loses_no_acknowledged_append) {
  const auto dir = make_temp_dir("crash");
  std::mt19937_64 rng(std::random_device{}());
  const auto seed = rng();
  SCOPED_TRACE("seed " + std::to_string(seed));
  rng.seed(seed);
  std::set<stream_seq> acked, maybe_removed;
  stream_seq max_acked = 0, max_cut = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(12);
  int rounds = 0;
  for (; rounds < 40 && std::chrono::steady_clock::now() < deadline; ++rounds) {
    SCOPED_TRACE("round " + std::to_string(rounds));
    const bool sync_always = rounds % 3 == 2;  // fsync per write: fewer batches per round
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::dup2(fds[1], 1);
      ::close(fds[0]);
      ::close(fds[1]);
      const std::string seed_arg = std::to_string(rng());
      ::execl(JB_CRASH_CHILD, JB_CRASH_CHILD, dir.c_str(), seed_arg.c_str(), sync_always ? "1" : "0",
              static_cast<char*>(nullptr));
      ::_exit(127);
    }
    ::close(fds[1]);
    line_reader in(fds[0]);
    const auto kill_after = 1 + rng() % (sync_always ? 8 : 80);  // acknowledged batches before the kill
    std::uint64_t seen = 0;
    bool killed = false;
    auto handle = [&](const std::string& line) {
      std::istringstream is(line);
      char kind = 0;
      is >> kind;
      if (kind == 'A') {
        stream_seq a = 0, b = 0;
        is >> a >> b;
        for (auto q = a; q <= b; ++q) acked.insert(q);
        max_acked = std::max(max_acked, b);
        ++seen;
      } else if (kind == 'r') {
        stream_seq q = 0;
        is >> q;
        maybe_removed.insert(q);
      } else if (kind == 'p') {
        stream_seq q = 0;
        is >> q;
        max_cut = std::max(max_cut, q);
      }
    };
    while (auto line = in.next()) {
      handle(*line);
      if (!killed && seen >= kill_after) {
        ::kill(pid, SIGKILL);
        killed = true;  // keep draining: lines already written were acknowledged too
      }
    }
    ::close(fds[0]);
    int status = 0;
    ::waitpid(pid, &status, 0);
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
        << "child exited on its own, status " << status << " after " << seen << " batches";

    // Reopen and verify.
    rocksdb_env_options o;
    o.dir = dir;
    std::string detail;
    auto env = rocksdb_env::open(o, &detail);
    ASSERT_TRUE(env) << detail;
    auto s = (*env)->open_stream("C");
    ASSERT_TRUE(s);
    auto& st = **s;
    const auto state = st.state();
    ASSERT_GE(state.last_seq, max_acked);
    for (auto q : acked) {
      if (q < max_cut || maybe_removed.contains(q)) continue;
      auto m = st.load(q);
      ASSERT_TRUE(m) << "acknowledged seq " << q << " lost";
      ASSERT_EQ(m->subject, crash_subject(q));
      ASSERT_EQ(m->data, crash_payload(q));
    }
    // Walk everything stored and check the summary agrees with it.
    std::uint64_t msgs = 0, bytes = 0;
    std::map<std::string, std::uint64_t> counts;
    stream_seq first = 0;
    for (auto m = st.load_next(0, ""); m; m = st.load_next(m->seq + 1, "")) {
      if (!first) first = m->seq;
      ASSERT_EQ(m->subject, crash_subject(m->seq));
      ASSERT_EQ(m->data, crash_payload(m->seq));
      ++msgs;
      bytes += file_store_msg_size(m->subject.size(), m->hdr.size(), m->data.size());
      ++counts[m->subject];
    }
    ASSERT_EQ(state.msgs, msgs);
    // The subject index agrees with the messages: per subject, the last message and the count.
    std::map<std::string, stream_seq> last_of;
    for (auto m = st.load_next(0, ""); m; m = st.load_next(m->seq + 1, "")) last_of[m->subject] = m->seq;
    for (const auto& [subj, n] : counts) {
      std::uint64_t walked = 0;  // literal-subject load_next walks the subject index
      for (auto m = st.load_next(0, subj); m; m = st.load_next(m->seq + 1, subj)) {
        ASSERT_EQ(m->subject, subj);
        ++walked;
      }
      ASSERT_EQ(walked, n) << subj;
      ASSERT_EQ(st.load_last(subj).value().seq, last_of[subj]) << subj;
    }
    ASSERT_EQ(state.bytes, bytes);
    ASSERT_EQ(st.subject_counts(""), counts);
    ASSERT_EQ(state.num_subjects, counts.size());
    if (msgs) ASSERT_EQ(state.first_seq, first);
    else ASSERT_EQ(state.first_seq, state.last_seq + 1);
    auto c = (*env)->open_consumer("C", "K");
    ASSERT_TRUE(c);
    const auto& cs = (*c)->state();
    ASSERT_GE(cs.delivered.stream, max_acked);
    ASSERT_LE(cs.ack_floor.stream, cs.delivered.stream);
    for (const auto& [q, p] : cs.pending) {
      ASSERT_LE(q, cs.delivered.stream);
      // Acks of reported batches happened before the report; later ones may be cut by the kill.
      if (acked.contains(q)) {
        ASSERT_NE(q % 3, 0u) << "acked seq " << q << " still pending";
      }
    }
  }
  EXPECT_GE(rounds, 5);
  ::testing::Test::RecordProperty("rounds", rounds);
  std::printf("crash test: %d kill -9 rounds, %zu acknowledged appends verified\n", rounds, acked.size());
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

}  // namespace
}  // namespace jb::storage::test
