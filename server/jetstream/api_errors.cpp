#include "server/jetstream/api_errors.hpp"

namespace jb::jetstream {

api_error api_error::with(std::string_view value) const {
  api_error e = *this;
  auto open = e.description.find('{');
  auto close = e.description.find('}', open);
  if (open != std::string::npos && close != std::string::npos)
    e.description.replace(open, close - open + 1, value);
  return e;
}

boost::json::object api_error::to_json() const {
  boost::json::object o;
  o["code"] = code;
  o["err_code"] = err_code;
  o["description"] = description;
  return o;
}

}  // namespace jb::jetstream
