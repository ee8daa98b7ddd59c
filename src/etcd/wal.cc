#include "etcd/wal.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <tuple>

#include "util/atomic_file.h"
#include "util/hash.h"
#include "util/protowire.h"

namespace cpr::etcd {

void WalEncoder::Frame(const std::string& record) {
  // §5.5.2: u64 LE length; when padded, top byte = 0x80 | pad.
  const uint64_t pad = (8 - record.size() % 8) % 8;
  uint64_t len = record.size();
  if (pad) len |= (0x80 | pad) << 56;
  char field[8];
  StoreLe64(field, len);
  out_.append(field, 8);
  out_.append(record);
  out_.append(pad, '\0');
}

void WalEncoder::Record(WalRecordType type, const std::string& data) {
  crc_ = Crc32c(crc_, data);  // §5.5.3: the chain runs over every data field
  std::string rec;
  AppendVarintField(rec, 1, static_cast<uint64_t>(type));
  AppendVarintField(rec, 2, crc_);
  AppendBytesField(rec, 3, data);
  Frame(rec);
}

void WalEncoder::CrcRecord(uint32_t crc) {
  std::string rec;
  AppendVarintField(rec, 1, static_cast<uint64_t>(WalRecordType::kCrc));
  AppendVarintField(rec, 2, crc);
  Frame(rec);
}

std::string RestoreWalRecords(const Membership& m) {
  const uint64_t n = m.members.size();
  WalEncoder w;
  w.CrcRecord(0);
  std::string meta;  // etcdserverpb.Metadata{NodeID, ClusterID}
  AppendVarintField(meta, 1, m.me().id);
  AppendVarintField(meta, 2, m.cluster_id);
  w.Record(WalRecordType::kMetadata, meta);
  std::string snap0;  // walpb.Snapshot{index 0, term 0}
  AppendVarintField(snap0, 1, 0);
  AppendVarintField(snap0, 2, 0);
  w.Record(WalRecordType::kSnapshot, snap0);
  for (uint64_t i = 0; i < n; i++) {
    const ClusterMember& c = m.members[i];
    std::string cc;  // raftpb.ConfChange{ID 0, Type AddNode, NodeID, Context}
    AppendVarintField(cc, 1, 0);
    AppendVarintField(cc, 2, 0);
    AppendVarintField(cc, 3, c.id);
    AppendBytesField(cc, 4, MemberJson(c));
    std::string entry;  // raftpb.Entry{Type ConfChange, Term 1, Index i+1, Data}
    AppendVarintField(entry, 1, 1);
    AppendVarintField(entry, 2, 1);
    AppendVarintField(entry, 3, i + 1);
    AppendBytesField(entry, 4, cc);
    w.Record(WalRecordType::kEntry, entry);
  }
  std::string hs;  // raftpb.HardState{Term 1, Vote smallest ID, Commit N}
  AppendVarintField(hs, 1, 1);
  AppendVarintField(hs, 2, m.members.front().id);
  AppendVarintField(hs, 3, n);
  w.Record(WalRecordType::kState, hs);
  std::string snapn;  // walpb.Snapshot{index N, term 1}
  AppendVarintField(snapn, 1, n);
  AppendVarintField(snapn, 2, 1);
  w.Record(WalRecordType::kSnapshot, snapn);
  return w.bytes();
}

std::vector<WalRecord> DecodeWalPrefix(Bytes segment, std::string* tail, size_t* end) {
  std::vector<WalRecord> out;
  tail->clear();
  uint32_t crc = 0;
  size_t off = 0;
  size_t ignored = 0;
  if (end == nullptr) end = &ignored;
  *end = 0;
  while (off + 8 <= segment.size()) {
    const uint64_t field = LoadLe64(segment.data() + off);
    if (field == 0) break;
    const uint64_t len = field & 0x00FFFFFFFFFFFFFFULL;
    const uint64_t pad = (field >> 63) ? (field >> 56) & 7 : 0;
    const auto stop = [&](const std::string& what) {
      *tail = fmt::format("WAL record at offset {}: {}", off, what);
      return out;
    };
    if (len + pad > segment.size() - off - 8) return stop("runs past the end of the segment");
    WireReader r(segment.substr(off + 8, len));
    WireField f;
    WalRecord rec;
    while (r.Next(f)) {
      if (f.number == 1) rec.type = static_cast<int64_t>(f.varint);
      if (f.number == 2) rec.crc = static_cast<uint32_t>(f.varint);
      if (f.number == 3) rec.data = std::string(f.bytes);
    }
    if (r.error()) return stop("not a walpb.Record");
    if (rec.type == static_cast<int64_t>(WalRecordType::kCrc)) {
      if (crc != 0 && rec.crc != crc) return stop("crc record does not match the chain");
      crc = rec.crc;
    } else {
      crc = Crc32c(crc, rec.data);
      if (rec.crc != crc)
        return stop(fmt::format("CRC mismatch: record {:08x}, chain {:08x}", rec.crc, crc));
    }
    out.push_back(std::move(rec));
    off += 8 + len + pad;
    *end = off;
  }
  return out;
}

Result<uint64_t> CommitLoggedEntries(const std::string& wal_dir) {
  std::vector<std::string> segments;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(wal_dir, ec))
    if (e.path().extension() == ".wal") segments.push_back(e.path().string());
  if (ec || segments.empty()) return MakeError(Code::kNotFound, wal_dir, "no WAL segment");
  std::sort(segments.begin(), segments.end());  // <seq>-<index>.wal: names sort in log order
  // The log's last entry over every segment; the last HardState (§5.5.3:
  // raftpb.HardState Term=1 Vote=2 Commit=3) and the chain's end in the newest.
  uint64_t last_index = 0, last_term = 0, term = 0, vote = 0, commit = 0;
  std::string newest;
  size_t end = 0;
  uint32_t chain = 0;
  for (const auto& path : segments) {
    newest = CPR_TRY(ReadFileLimited(path, 1ULL << 31));
    std::string tail;
    const auto records = DecodeWalPrefix(newest, &tail, &end);
    for (const auto& rec : records) {
      WireReader r(rec.data);
      WireField f;
      if (rec.type == static_cast<int64_t>(WalRecordType::kEntry)) {
        while (r.Next(f)) {
          if (f.number == 2) last_term = f.varint;
          if (f.number == 3) last_index = f.varint;
        }
      } else if (rec.type == static_cast<int64_t>(WalRecordType::kState)) {
        uint64_t t = 0, v = 0, c = 0;
        while (r.Next(f)) {
          if (f.number == 1) t = f.varint;
          if (f.number == 2) v = f.varint;
          if (f.number == 3) c = f.varint;
        }
        if (t != 0 || c != 0) std::tie(term, vote, commit) = std::tie(t, v, c);
      }
    }
    chain = records.empty() ? 0 : records.back().crc;
  }
  if (last_index <= commit) return uint64_t{0};
  std::string hs;
  AppendVarintField(hs, 1, std::max(term, last_term));
  AppendVarintField(hs, 2, vote);
  AppendVarintField(hs, 3, last_index);
  WalEncoder w(chain);
  w.Record(WalRecordType::kState, hs);
  const std::string& path = segments.back();
  if (end + w.bytes().size() + 8 > newest.size())
    return MakeError(Code::kFailedPrecondition, path, "no room left in the newest WAL segment");
  const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return MakeError(Code::kIo, path, std::string("open: ") + std::strerror(errno));
  const bool ok = ::pwrite(fd, w.bytes().data(), w.bytes().size(), static_cast<off_t>(end)) ==
                      static_cast<ssize_t>(w.bytes().size()) &&
                  ::fsync(fd) == 0;
  ::close(fd);
  if (!ok) return MakeError(Code::kIo, path, std::string("write: ") + std::strerror(errno));
  return last_index - commit;
}

Result<std::vector<WalRecord>> DecodeWal(Bytes segment) {
  std::string tail;
  std::vector<WalRecord> out = DecodeWalPrefix(segment, &tail);
  if (!tail.empty())
    return MakeError(Code::kCorrupt, tail.substr(0, tail.find(": ")),
                     tail.substr(tail.find(": ") + 2));
  return out;
}

}  // namespace cpr::etcd
