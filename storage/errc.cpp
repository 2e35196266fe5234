#include "storage/errc.hpp"

#include <string>

namespace jb::storage {
namespace {

class category final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "jb.storage"; }
  std::string message(int ev) const override {
    switch (static_cast<errc>(ev)) {
      case errc::ok: return "ok";
      case errc::msg_not_found: return "no message found";
      case errc::stream_not_found: return "stream not found";
      case errc::stream_exists: return "stream already exists";
      case errc::consumer_not_found: return "consumer not found";
      case errc::consumer_exists: return "consumer already exists";
      case errc::invalid_argument: return "invalid argument";
      case errc::bad_subject: return "invalid subject";
      case errc::closed: return "store closed";
      case errc::corrupt_record: return "corrupt record in store";
      case errc::store_corrupt: return "store is corrupt";
      case errc::foreign_store: return "store directory holds foreign files";
      case errc::version_mismatch: return "store format version mismatch";
      case errc::io_error: return "storage I/O error";
      case errc::store_in_use: return "store directory in use by another process";
      case errc::not_linked: return "file storage is not linked into this executable";
    }
    return "unknown storage error";
  }
};

}  // namespace

const boost::system::error_category& storage_category() noexcept {
  static const category c;
  return c;
}

}  // namespace jb::storage
