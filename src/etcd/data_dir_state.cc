#include "etcd/data_dir_state.h"

#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>

#include "etcd/backend.h"
#include "etcd/wal.h"
#include "util/atomic_file.h"
#include "util/mapped_file.h"
#include "util/protowire.h"

namespace cpr::etcd {
namespace {

std::vector<std::string> FilesEndingWith(const std::string& dir, std::string_view suffix) {
  std::vector<std::string> out;
  if (DIR* d = ::opendir(dir.c_str())) {
    while (dirent* e = ::readdir(d)) {
      const std::string n = e->d_name;
      if (n.size() > suffix.size() &&
          n.compare(n.size() - suffix.size(), suffix.size(), suffix) == 0)
        out.push_back(n);
    }
    ::closedir(d);
  }
  std::sort(out.begin(), out.end());  // %016x names: string order is numeric order
  return out;
}

// The varint fields `numbers` of one protobuf message, 0 when absent.
std::vector<uint64_t> Varints(Bytes message, std::initializer_list<uint32_t> numbers) {
  std::vector<uint64_t> out(numbers.size(), 0);
  WireReader r(message);
  WireField f;
  while (r.Next(f)) {
    size_t i = 0;
    for (uint32_t n : numbers) {
      if (f.number == n && f.type == WireType::kVarint) out[i] = f.varint;
      i++;
    }
  }
  return out;
}

// One WAL record (§5.5.3): metadata (etcdserverpb.Metadata NodeID=1,
// ClusterID=2), entry (raftpb.Entry Term=2 Index=3), state (raftpb.HardState
// Term=1 Commit=3), snapshot (walpb.Snapshot Index=1 Term=2).
void Apply(const WalRecord& rec, DataDirState& s) {
  switch (static_cast<WalRecordType>(rec.type)) {
    case WalRecordType::kMetadata: {
      const auto v = Varints(rec.data, {1, 2});
      s.member_id = v[0];
      s.cluster_id = v[1];
      break;
    }
    case WalRecordType::kEntry: {
      const auto v = Varints(rec.data, {2, 3});
      // A later entry of a lower index replaces a conflicting tail (raft
      // truncates on append): the last record read is the log's end.
      s.last_term = v[0];
      s.last_index = v[1];
      break;
    }
    case WalRecordType::kState: {
      const auto v = Varints(rec.data, {1, 3});
      if (v[0] != 0 || v[1] != 0) {  // an empty HardState carries nothing
        s.hard_term = v[0];
        s.commit = v[1];
      }
      break;
    }
    case WalRecordType::kSnapshot: {
      const auto v = Varints(rec.data, {1, 2});
      if (v[0] > s.last_index) {  // entries start after a snapshot
        s.last_index = v[0];
        s.last_term = v[1];
      }
      break;
    }
    default:
      break;
  }
}

Result<void> ReadWal(const std::string& wal_dir, DataDirState& s) {
  const auto segments = FilesEndingWith(wal_dir, ".wal");
  if (segments.empty()) {
    s.notes.push_back("no WAL segment in " + wal_dir);
    return {};
  }
  s.wal_segments = segments.size();
  for (size_t i = 0; i < segments.size(); i++) {
    const std::string path = wal_dir + "/" + segments[i];
    auto file = CPR_TRY(MappedFile::Open(path));
    std::string tail;
    for (const WalRecord& rec : DecodeWalPrefix(file->data(), &tail)) Apply(rec, s);
    if (!tail.empty()) {
      s.notes.push_back(fmt::format("{}: {}{}", segments[i], tail,
                                    i + 1 == segments.size()
                                        ? " (a torn tail: etcd repairs it at boot)"
                                        : " (not the last segment: the log after it is lost)"));
      if (i + 1 != segments.size()) break;
    }
  }
  return {};
}

void ReadSnapFiles(const std::string& snap_dir, DataDirState& s) {
  const auto snaps = FilesEndingWith(snap_dir, ".snap");
  for (const auto& n : snaps) {
    unsigned long long term = 0, index = 0;
    if (std::sscanf(n.c_str(), "%16llx-%16llx.snap", &term, &index) == 2 && index >= s.snap_index) {
      s.snap_index = index;
      s.snap_term = term;
    }
  }
}

Result<void> ReadDb(const std::string& db, DataDirState& s) {
  auto backend = CPR_TRY(Backend::Open(db));
  const MetaInfo meta = CPR_TRY(backend->Meta());
  s.consistent_index = meta.consistent_index.value_or(0);
  s.compact_revision = meta.finished_compact;
  s.revision = std::max(CPR_TRY(backend->LatestRevision()).main, s.compact_revision);
  const auto members = CPR_TRY(backend->Members());
  s.members = members.size();
  for (const auto& m : members)
    if (m.id == s.member_id) s.member_name = m.name;
  return {};
}

}  // namespace

bool DataDirLockedByEtcd(const std::string& data_dir) {
  const int fd = ::open((data_dir + "/member/snap/db").c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return false;
  const bool locked = ::flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK;
  ::close(fd);
  return locked;
}

Result<DataDirState> ReadDataDirState(const std::string& data_dir) {
  DataDirState s;
  s.data_dir = data_dir;
  const std::string member = data_dir + "/member";
  if (::access(member.c_str(), F_OK) != 0)
    return MakeError(Code::kNotFound, data_dir, "no member/ in the data dir",
                     "is etcd's --data-dir elsewhere on this host?");
  s.etcd_running = DataDirLockedByEtcd(data_dir);
  CPR_RETURN_IF_ERROR(ReadWal(member + "/wal", s));
  ReadSnapFiles(member + "/snap", s);
  if (auto db = ReadDb(member + "/snap/db", s); !db)
    s.notes.push_back("db: " + db.error().ToString());
  return s;
}

bool MoreUpToDate(const DataDirState& a, const DataDirState& b) {
  if (a.last_term != b.last_term) return a.last_term > b.last_term;
  if (a.last_index != b.last_index) return a.last_index > b.last_index;
  return a.consistent_index > b.consistent_index;
}

}  // namespace cpr::etcd
