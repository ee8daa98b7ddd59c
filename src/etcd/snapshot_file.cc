#include "etcd/snapshot_file.h"

#include "util/hash.h"

namespace cpr::etcd {

TrailerCheck CheckTrailer(const MappedFile& file) {
  TrailerCheck out;
  out.present = HasHashTrailer(file.size());
  if (!out.present) return out;
  const Bytes all = file.data();
  const uint64_t body = all.size() - kTrailerSize;
  Sha256 sha;
  constexpr uint64_t kChunk = 8ULL << 20;
  for (uint64_t off = 0; off < body; off += kChunk) {
    const uint64_t n = std::min(kChunk, body - off);
    sha.Update(all.substr(off, n));
    file.Touch(n);
  }
  const Sha256Digest digest = sha.Finish();
  out.computed_hex = HexOf(Bytes(reinterpret_cast<const char*>(digest.data()), digest.size()));
  out.stored_hex = HexOf(all.substr(body));
  out.matches = out.computed_hex == out.stored_hex;
  return out;
}

}  // namespace cpr::etcd
