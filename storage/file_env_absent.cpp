// The file store's factory in an executable linked without RocksDB (storage/file_env.hpp). Linked
// as an object into `jetbroker`, it defines the factory before the storage archive is searched,
// so neither storage/file_env.cpp nor RocksDB is pulled in (the ctest lean_executable_has_no_file_store in tests/unit/server/CMakeLists.txt checks that).
#include "storage/file_env.hpp"

namespace jb::storage {

bool file_store_linked() noexcept { return false; }

result<std::unique_ptr<store_env>> open_file_env(const rocksdb_env_options&, std::string* error_detail) {
  if (error_detail) *error_detail = "this executable was linked without the file store";
  return make_error_code(errc::not_linked);
}

}  // namespace jb::storage
