#pragma once
// Shared fixture: every typed test runs against the memory and the RocksDB implementation.
#include "storage/memory_store.hpp"
#include "storage/rocksdb_store.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <ostream>
#include <string>

namespace jb::storage::test {

inline std::filesystem::path make_temp_dir(const char* tag) {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl = std::string(base && *base ? base : "/tmp") + "/jbstore_" + tag + "_XXXXXX";
  char* p = ::mkdtemp(tmpl.data());
  if (!p) std::abort();
  return std::filesystem::path(p);
}

struct memory_kind {
  static constexpr bool persistent = false;
  static constexpr storage_type type = storage_type::memory;
};
struct rocksdb_kind {
  static constexpr bool persistent = true;
  static constexpr storage_type type = storage_type::file;
};

template <class Kind>
class env_holder {
 public:
  env_holder() {
    if constexpr (Kind::persistent) dir_ = make_temp_dir("t");
    open();
  }
  ~env_holder() {
    env_.reset();
    if (!dir_.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(dir_, ec);
    }
  }
  void open() {
    if constexpr (Kind::persistent) {
      rocksdb_env_options o;
      o.dir = dir_;
      std::string detail;
      auto r = rocksdb_env::open(o, &detail);
      if (!r) {
        ADD_FAILURE() << "open failed: " << detail;
        std::abort();
      }
      env_ = std::move(*r);
    } else {
      env_ = std::make_unique<memory_env>();
    }
  }
  // Closes and reopens the environment (RocksDB); a no-op for memory.
  void reopen() {
    if constexpr (Kind::persistent) {
      env_.reset();
      open();
    }
  }
  store_env& env() { return *env_; }
  const std::filesystem::path& dir() const { return dir_; }

 private:
  std::filesystem::path dir_;
  std::unique_ptr<store_env> env_;
};

inline std::uint64_t size_for(storage_type t, std::string_view subj, std::string_view hdr, std::string_view data) {
  return t == storage_type::file ? file_store_msg_size(subj.size(), hdr.size(), data.size())
                                 : memory_store_msg_size(subj.size(), hdr.size(), data.size());
}

}  // namespace jb::storage::test

namespace jb::storage {
inline void PrintTo(const stream_state& s, std::ostream* os) {
  *os << "{msgs " << s.msgs << " bytes " << s.bytes << " first " << s.first_seq << "@" << s.first_ts << " last "
      << s.last_seq << "@" << s.last_ts << " num_deleted " << s.num_deleted << " num_subjects " << s.num_subjects
      << " deleted [";
  for (auto d : s.deleted) *os << d << " ";
  *os << "]}";
}
}  // namespace jb::storage
