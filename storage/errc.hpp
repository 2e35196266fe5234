#pragma once
// Error codes of the storage module. Every fallible function returns boost::system::result<T>
// carrying one of these in the jb::storage category; details (file names, RocksDB status text)
// go to the "storage" logger and, where a function takes one, an std::string* detail out-parameter.
#include <boost/system/error_code.hpp>
#include <boost/system/result.hpp>

#include <type_traits>

namespace jb::storage {

enum class errc {
  ok = 0,
  msg_not_found,       // no message at that sequence / matching that filter
  stream_not_found,    // no stream of that name
  stream_exists,       // create_stream on an existing name
  consumer_not_found,  // no consumer of that name on the stream
  consumer_exists,     // create_consumer on an existing name
  invalid_argument,    // bad name, bad purge request, bad sequence
  bad_subject,         // subject is not a valid NATS subject / filter
  closed,              // the store or environment was closed or deleted
  corrupt_record,      // a stored record could not be decoded
  store_corrupt,       // RocksDB reported corruption while opening or reading
  foreign_store,       // the store directory holds files that are not a jetbroker store
  version_mismatch,    // the store directory was written by an incompatible format version
  io_error,            // RocksDB or the file system failed an I/O operation
  store_in_use,        // another process holds the store directory
  not_linked,          // the executable was linked without the file store (storage/file_env.hpp)
};

[[nodiscard]] const boost::system::error_category& storage_category() noexcept;

[[nodiscard]] inline boost::system::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), storage_category()};
}

template <class T>
using result = boost::system::result<T>;

// Greppable way to drop a result on purpose.
template <class T>
inline void ignore_result(const result<T>&) noexcept {}

}  // namespace jb::storage

namespace boost::system {
template <>
struct is_error_code_enum<jb::storage::errc> : std::true_type {};
}  // namespace boost::system
