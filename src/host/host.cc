#include "host/host.h"

namespace cpr::host {

Host::Host(std::string root) : root_(std::move(root)) {
  while (!root_.empty() && root_.back() == '/') root_.pop_back();
}

std::string Host::Path(std::string_view rel) const {
  while (!rel.empty() && rel.front() == '/') rel.remove_prefix(1);
  return root_ + "/" + std::string(rel);
}

}  // namespace cpr::host
