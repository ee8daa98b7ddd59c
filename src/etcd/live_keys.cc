#include "etcd/live_keys.h"

#include <functional>
#include <string_view>

namespace cpr::etcd {
namespace {

// A fingerprint's first slot. Not its lowest bits: status hands over
// fingerprints with marks cleared from the low three (status.cc), which
// would start every key on one slot in eight and make long probe runs.
uint64_t Home(uint64_t fingerprint, uint64_t mask) { return (fingerprint >> 3) & mask; }

}  // namespace

void LiveKeyCounter::Grow(uint64_t slots) {
  std::vector<uint64_t> old = std::move(slots_);
  slots_.assign(slots, 0);
  const uint64_t mask = slots_.size() - 1;
  for (uint64_t s : old) {
    if (s == 0) continue;
    uint64_t i = Home(s >> 1, mask);
    while (slots_[i] != 0) i = (i + 1) & mask;
    slots_[i] = s;
  }
}

void LiveKeyCounter::Add(Bytes user_key, bool tombstone) {
  AddFingerprint(std::hash<std::string_view>{}(user_key), tombstone);
}

bool LiveKeyCounter::AddFingerprint(uint64_t hash, bool tombstone) {
  if (gave_up_) return false;
  if ((used_ + 1) * 10 > slots_.size() * 7) {
    if (used_ >= kMaxKeys) {
      gave_up_ = true;
      slots_ = {};
      return false;
    }
    // Starts small (a small file needs no 512 KB table) and doubles.
    Grow(slots_.empty() ? 1 << 10 : slots_.size() * 2);
  }
  uint64_t fp = hash | (1ULL << 63);  // never 0
  fp = (fp << 1) >> 1;
  fp |= 1ULL << 62;
  const uint64_t mask = slots_.size() - 1;
  const uint64_t want = fp << 1;
  for (uint64_t i = Home(fp, mask);; i = (i + 1) & mask) {
    uint64_t& s = slots_[i];
    if (s == 0) {
      s = want | (tombstone ? 0 : 1);
      used_++;
      if (!tombstone) live_++;
      return false;
    }
    if ((s & ~1ULL) == want) {
      const bool was_live = s & 1;
      if (was_live && tombstone) live_--;
      if (!was_live && !tombstone) live_++;
      s = want | (tombstone ? 0 : 1);
      return true;
    }
  }
}

void LiveKeyCounter::Reserve(uint64_t keys) {
  if (gave_up_ || keys > kMaxKeys) return;  // counted as they come, up to the limit
  uint64_t slots = 1 << 10;
  while ((keys + 1) * 10 > slots * 7) slots *= 2;
  if (slots > slots_.size()) Grow(slots);
}

std::optional<uint64_t> LiveKeyCounter::count() const {
  if (gave_up_) return std::nullopt;
  return live_;
}

}  // namespace cpr::etcd
