// The file store's factory in executables that link RocksDB (storage/file_env.hpp).
#include "storage/file_env.hpp"

#include "storage/rocksdb_store.hpp"

namespace jb::storage {

bool file_store_linked() noexcept { return true; }

result<std::unique_ptr<store_env>> open_file_env(const rocksdb_env_options& opts, std::string* error_detail) {
  auto r = rocksdb_env::open(opts, error_detail);
  if (!r) return r.error();
  return std::unique_ptr<store_env>(std::move(*r));
}

}  // namespace jb::storage
