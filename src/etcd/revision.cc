#include "etcd/revision.h"

#include <fmt/format.h>

namespace cpr::etcd {

std::optional<Revision> Revision::Parse(Bytes key) {
  if (key.size() != kRevisionKeySize && key.size() != kTombstoneKeySize) return std::nullopt;
  if (key[8] != '_') return std::nullopt;
  Revision r;
  r.main = static_cast<int64_t>(LoadBe64(key.data()));
  r.sub = static_cast<int64_t>(LoadBe64(key.data() + 9));
  if (key.size() == kTombstoneKeySize) {
    if (key[17] != 't') return std::nullopt;
    r.tombstone = true;
  }
  return r;
}

std::string Revision::Encode() const {
  std::string out(tombstone ? kTombstoneKeySize : kRevisionKeySize, '\0');
  StoreBe64(out.data(), static_cast<uint64_t>(main));
  out[8] = '_';
  StoreBe64(out.data() + 9, static_cast<uint64_t>(sub));
  if (tombstone) out[17] = 't';
  return out;
}

std::string Revision::ToString() const {
  return fmt::format("{}_{}{}", main, sub, tombstone ? " (tombstone)" : "");
}

}  // namespace cpr::etcd
