#include "bolt/meta.h"

#include <fmt/format.h>

#include <cstring>

#include "util/hash.h"

namespace cpr::bolt {
namespace {
constexpr size_t kDefaultPageSize = 4096;  // bbolt falls back to the OS page size
}

Meta Meta::Decode(Bytes page) {
  const char* m = page.data() + kMetaOffset;
  Meta out;
  out.magic = LoadLe32(m);
  out.version = LoadLe32(m + 4);
  out.page_size = LoadLe32(m + 8);
  out.flags = LoadLe32(m + 12);
  out.root = LoadLe64(m + 16);
  out.root_sequence = LoadLe64(m + 24);
  out.freelist = LoadLe64(m + 32);
  out.pgid = LoadLe64(m + 40);
  out.txid = LoadLe64(m + 48);
  out.checksum = LoadLe64(m + 56);
  return out;
}

uint64_t Meta::ComputeChecksum(Bytes page) { return Fnv1a64(page.substr(kMetaOffset, 56)); }

void Meta::EncodeInto(char* page, Pgid id) const {
  std::memset(page, 0, kMetaOffset + kMetaSize);
  StoreLe64(page, id);
  StoreLe16(page + 8, kMetaPage);
  char* m = page + kMetaOffset;
  StoreLe32(m, magic);
  StoreLe32(m + 4, version);
  StoreLe32(m + 8, page_size);
  StoreLe32(m + 12, flags);
  StoreLe64(m + 16, root);
  StoreLe64(m + 24, root_sequence);
  StoreLe64(m + 32, freelist);
  StoreLe64(m + 40, pgid);
  StoreLe64(m + 48, txid);
  StoreLe64(m + 56, ComputeChecksum(Bytes(page, kMetaOffset + kMetaSize)));
}

Result<void> Meta::Validate(Bytes page) const {
  if (magic != kMagic) return MakeError(Code::kCorrupt, "", "invalid database (bad magic)");
  if (version != kVersion)
    return MakeError(Code::kCorrupt, "", fmt::format("version mismatch ({}, want 2)", version));
  if (checksum != 0 && checksum != ComputeChecksum(page))
    return MakeError(Code::kCorrupt, "", "checksum error");
  return {};
}

Result<MetaChoice> ChooseMeta(Bytes file, const std::string& name) {
  const auto not_bolt = [&](const std::string& what) {
    return MakeError(Code::kCorrupt, name, what,
                     "not an etcd snapshot or bbolt file, or damaged at its start");
  };
  if (file.size() < kDefaultPageSize)
    return not_bolt(fmt::format("invalid database: {} bytes, shorter than one page", file.size()));
  // §1.4.3 step 1: the page size comes from meta0 when it validates.
  size_t page_size = kDefaultPageSize;
  Meta meta0 = Meta::Decode(file);
  Result<void> valid0 = meta0.Validate(file);
  if (valid0.has_value()) page_size = meta0.page_size;
  if (page_size < 1024 || page_size > (1u << 20) || (page_size & (page_size - 1)) != 0)
    return not_bolt(fmt::format("meta page 0: unusable page size {}", page_size));
  if (file.size() < 2 * page_size)
    return not_bolt(
        fmt::format("file size too small ({} bytes for page size {})", file.size(), page_size));
  Bytes page1 = file.substr(page_size, page_size);
  Meta meta1 = Meta::Decode(page1);
  Result<void> valid1 = meta1.Validate(page1);
  if (!valid0 && !valid1)
    return not_bolt("both meta pages are invalid: page 0: " + valid0.error().what +
                    "; page 1: " + valid1.error().what);
  // Step 4: the larger txid wins; an invalid one loses; ties go to meta0.
  bool use1 = meta1.txid > meta0.txid;
  if (use1 && !valid1) use1 = false;
  if (!use1 && !valid0) use1 = true;
  MetaChoice choice;
  choice.meta = use1 ? meta1 : meta0;
  choice.page = use1 ? 1 : 0;
  if (!valid0) choice.other_fault = "meta page 0: " + valid0.error().what;
  if (!valid1) choice.other_fault = "meta page 1: " + valid1.error().what;
  if (choice.meta.page_size != page_size)
    return not_bolt(fmt::format("meta page {} says page size {}, meta page 0 {}", choice.page,
                                choice.meta.page_size, page_size));
  return choice;
}

}  // namespace cpr::bolt
