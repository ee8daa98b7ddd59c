#include "etcd/backend.h"

#include <fmt/format.h>

#include <charconv>

#include "bolt/cursor.h"
#include "util/text.h"

namespace cpr::etcd {

bool IsDerivableBucket(std::string_view name) {
  return name == kAlarmBucket || name == kClusterBucket || name == kMembersBucket ||
         name == kMembersRemovedBucket;
}

Result<std::unique_ptr<Backend>> Backend::Open(const std::string& path,
                                               const bolt::Reader::Options& options) {
  std::unique_ptr<Backend> b(new Backend());
  b->reader_ = CPR_TRY(bolt::Reader::Open(path, options));
  return b;
}

std::unique_ptr<Backend> Backend::Over(std::unique_ptr<bolt::Reader> reader) {
  std::unique_ptr<Backend> b(new Backend());
  b->reader_ = std::move(reader);
  return b;
}

Result<void> Backend::ForEach(std::string_view bucket,
                              const std::function<Result<bool>(Bytes, Bytes)>& fn) const {
  auto ref = CPR_TRY(reader_->Bucket(bucket));
  if (!ref) return {};
  bolt::Cursor c(*reader_, *ref);
  for (bool ok = CPR_TRY(c.First()); ok; ok = CPR_TRY(c.Next())) {
    if (!CPR_TRY(fn(c.element().key, c.element().value))) break;
  }
  return {};
}

Result<std::optional<Bytes>> Backend::Get(std::string_view bucket, Bytes key) const {
  auto ref = CPR_TRY(reader_->Bucket(bucket));
  if (!ref) return std::optional<Bytes>();
  bolt::Cursor c(*reader_, *ref);
  if (!CPR_TRY(c.Seek(key)) || c.element().key != key) return std::optional<Bytes>();
  return std::optional<Bytes>(c.element().value);
}

namespace {

Result<int64_t> CompactRev(const Backend& b, std::string_view name) {
  auto v = CPR_TRY(b.Get(kMetaBucket, name));
  if (!v) return int64_t{0};
  auto rev = Revision::Parse(*v);
  if (!rev)
    return MakeError(Code::kCorrupt, b.name() + " meta/" + std::string(name),
                     fmt::format("{} bytes, not a revision", v->size()));
  return rev->main;
}

Error BadRecord(const Backend& b, std::string_view bucket, Bytes key, const Error& e) {
  return MakeError(Code::kCorrupt, fmt::format("{} {}/{}", b.name(), bucket, Printable(key)),
                   e.what);
}

}  // namespace

Result<MetaInfo> Backend::Meta() const {
  MetaInfo m;
  auto ci = CPR_TRY(Get(kMetaBucket, "consistent_index"));
  if (ci) {
    if (ci->size() != 8)
      return MakeError(Code::kCorrupt, name() + " meta/consistent_index",
                       fmt::format("{} bytes, want 8", ci->size()));
    m.consistent_index = LoadBe64(ci->data());
  }
  m.finished_compact = CPR_TRY(CompactRev(*this, "finishedCompactRev"));
  m.scheduled_compact = CPR_TRY(CompactRev(*this, "scheduledCompactRev"));
  return m;
}

Result<std::vector<Member>> Backend::Members() const {
  std::vector<Member> out;
  CPR_RETURN_IF_ERROR(ForEach(kMembersBucket, [&](Bytes key, Bytes value) -> Result<bool> {
    auto m = DecodeMember(value);
    if (!m) return BadRecord(*this, kMembersBucket, key, m.error());
    out.push_back(std::move(*m));
    return true;
  }));
  return out;
}

Result<std::vector<uint64_t>> Backend::RemovedMembers() const {
  std::vector<uint64_t> out;
  CPR_RETURN_IF_ERROR(ForEach(kMembersRemovedBucket, [&](Bytes key, Bytes) -> Result<bool> {
    uint64_t id = 0;
    auto [p, ec] = std::from_chars(key.data(), key.data() + key.size(), id, 16);
    if (ec != std::errc() || p != key.data() + key.size())
      return MakeError(Code::kCorrupt, name() + " members_removed",
                       "key '" + Printable(key) + "' is not a hex member ID");
    out.push_back(id);
    return true;
  }));
  return out;
}

Result<std::string> Backend::ClusterVersion() const {
  auto v = CPR_TRY(Get(kClusterBucket, "clusterVersion"));
  return v ? std::string(*v) : std::string();
}

Result<AuthInfo> Backend::Auth() const {
  AuthInfo a;
  if (auto e = CPR_TRY(Get(kAuthBucket, "authEnabled")); e && !e->empty()) a.enabled = (*e)[0] == 1;
  if (auto r = CPR_TRY(Get(kAuthBucket, "authRevision")); r && r->size() == 8)
    a.revision = LoadBe64(r->data());
  for (auto [bucket, list] :
       {std::pair{kAuthUsersBucket, &a.users}, {kAuthRolesBucket, &a.roles}}) {
    CPR_RETURN_IF_ERROR(
        ForEach(bucket, [&, bucket = bucket, list = list](Bytes key, Bytes value) -> Result<bool> {
          auto n = DecodeAuthName(value);
          if (!n) return BadRecord(*this, bucket, key, n.error());
          list->push_back(std::string(key));
          return true;
        }));
  }
  return a;
}

Result<std::vector<Lease>> Backend::Leases() const {
  std::vector<Lease> out;
  CPR_RETURN_IF_ERROR(ForEach(kLeaseBucket, [&](Bytes key, Bytes value) -> Result<bool> {
    auto l = DecodeLease(value);
    if (!l) return BadRecord(*this, kLeaseBucket, key, l.error());
    out.push_back(*l);
    return true;
  }));
  return out;
}

Result<std::vector<Alarm>> Backend::Alarms() const {
  std::vector<Alarm> out;
  CPR_RETURN_IF_ERROR(ForEach(kAlarmBucket, [&](Bytes key, Bytes) -> Result<bool> {
    auto a = DecodeAlarm(key);
    if (!a) return BadRecord(*this, kAlarmBucket, key, a.error());
    out.push_back(*a);
    return true;
  }));
  return out;
}

Result<Revision> Backend::LatestRevision() const {
  auto ref = CPR_TRY(reader_->Bucket(kKeyBucket));
  if (!ref) return Revision{};
  bolt::Cursor c(*reader_, *ref);
  if (!CPR_TRY(c.Last())) return Revision{};
  auto rev = Revision::Parse(c.element().key);
  if (!rev)
    return c.leaf().Corrupt(fmt::format("key bucket element {}: {}-byte key is not a revision",
                                        c.index(), c.element().key.size()));
  return *rev;
}

Result<void> Backend::ScanRevisions(
    int64_t from, const std::function<Result<bool>(const Revision&, Bytes)>& fn) const {
  auto ref = CPR_TRY(reader_->Bucket(kKeyBucket));
  if (!ref) return {};
  bolt::Cursor c(*reader_, *ref);
  const std::string start = Revision{from, 0, false}.Encode();
  for (bool ok = CPR_TRY(from > 0 ? c.Seek(start) : c.First()); ok; ok = CPR_TRY(c.Next())) {
    auto rev = Revision::Parse(c.element().key);
    if (!rev)
      return c.leaf().Corrupt(fmt::format("key bucket element {}: {}-byte key is not a revision",
                                          c.index(), c.element().key.size()));
    if (!CPR_TRY(fn(*rev, c.element().value))) break;
  }
  return {};
}

}  // namespace cpr::etcd
