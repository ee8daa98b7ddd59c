#include "etcd/snapshot_file.h"

#include "util/hash.h"

namespace cpr::etcd {

TrailerCheck CheckTrailer(const MappedFile& file) {
  TrailerCheck out;
  out.present = HasHashTrailer(file.size());
  if (!out.present) return out;
  // Windows mapped apart from the file's mapping: a walker on another
  // thread keeps its mapped pages, and RSS stays bounded.
  const uint64_t body = file.size() - kTrailerSize;
  Sha256 sha;
  if (!file.ForEachWindow(body, [&](Bytes window) { sha.Update(window); }))
    out.computed_hex = "(unreadable)";
  const Sha256Digest digest = sha.DigestSoFar();
  const Bytes trailer = file.data().substr(body);
  sha.Update(trailer);
  const Sha256Digest whole = sha.Finish();
  if (out.computed_hex.empty()) {
    out.computed_hex = HexOf(Bytes(reinterpret_cast<const char*>(digest.data()), digest.size()));
    out.file_hex = HexOf(Bytes(reinterpret_cast<const char*>(whole.data()), whole.size()));
  }
  out.stored_hex = HexOf(trailer);
  out.matches = out.computed_hex == out.stored_hex;
  return out;
}

BackgroundTrailerCheck::BackgroundTrailerCheck(const MappedFile& file) : file_(file) {
  if (HasHashTrailer(file.size())) thread_ = std::thread([this] { result_ = CheckTrailer(file_); });
}

BackgroundTrailerCheck::~BackgroundTrailerCheck() {
  if (thread_.joinable()) thread_.join();
}

Result<void> BackgroundTrailerCheck::Wait() {
  if (!thread_.joinable()) return {};
  thread_.join();
  if (result_.matches) return {};
  return MakeError(Code::kCorrupt, file_.path(),
                   "SHA-256 trailer mismatch: the file changed after it was saved (trailer " +
                       result_.stored_hex + ", content " + result_.computed_hex + ")",
                   "use another backup; --skip-hash-check reads it anyway");
}

}  // namespace cpr::etcd
