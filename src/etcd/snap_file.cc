#include "etcd/snap_file.h"

#include <fmt/format.h>

#include <algorithm>

#include "etcd/records.h"
#include "util/hash.h"
#include "util/protowire.h"

namespace cpr::etcd {

std::string V2StoreJson(const Membership& m) {
  const size_t n = m.members.size();
  const std::string z = R"("ExpireTime":"0001-01-01T00:00:00Z","Value":"")";
  // Children of /0/members are ordered by hex string (Go sorts map keys);
  // CreatedIndex and events follow ID order (§5.6.2 notes).
  std::vector<std::pair<std::string, size_t>> by_hex;
  for (size_t i = 0; i < n; i++) by_hex.emplace_back(MemberIdHex(m.members[i].id), i);
  std::sort(by_hex.begin(), by_hex.end());
  std::string children;
  for (const auto& [hex, i] : by_hex) {
    const size_t idx = i + 1;
    const std::string key = "/0/members/" + hex + "/raftAttributes";
    if (!children.empty()) children += ",";
    children += fmt::format(
        R"("{0}":{{"Path":"/0/members/{0}","CreatedIndex":{1},"ModifiedIndex":{1},{2},"Children":{{"raftAttributes":{{"Path":{3},"CreatedIndex":{1},"ModifiedIndex":{1},"ExpireTime":"0001-01-01T00:00:00Z","Value":{4},"Children":null}}}}}})",
        hex, idx, z, GoJsonString(key), GoJsonString(RaftAttributesJson(m.members[i])));
  }
  std::string events;
  for (size_t i = 0; i < n; i++) {
    const std::string key = "/0/members/" + MemberIdHex(m.members[i].id) + "/raftAttributes";
    events += fmt::format(
        R"({{"action":"create","node":{{"key":{},"value":{},"modifiedIndex":{},"createdIndex":{}}}}},)",
        GoJsonString(key), GoJsonString(RaftAttributesJson(m.members[i])), i + 1, i + 1);
  }
  for (size_t i = n; i < 1000; i++) events += "null,";
  events.pop_back();
  return fmt::format(
      R"({{"Root":{{"Path":"/","CreatedIndex":0,"ModifiedIndex":0,{0},"Children":{{"0":{{"Path":"/0","CreatedIndex":0,"ModifiedIndex":0,{0},"Children":{{"members":{{"Path":"/0/members","CreatedIndex":1,"ModifiedIndex":1,{0},"Children":{{{1}}}}}}}}},"1":{{"Path":"/1","CreatedIndex":0,"ModifiedIndex":0,{0},"Children":{{}}}}}}}},"WatcherHub":{{"EventHistory":{{"Queue":{{"Events":[{2}],"Size":{3},"Front":0,"Back":{3},"Capacity":1000}},"StartIndex":1,"LastIndex":{3}}}}},"CurrentIndex":{3},"Stats":{{"getsSuccess":0,"getsFail":0,"setsSuccess":0,"setsFail":0,"deleteSuccess":0,"deleteFail":0,"updateSuccess":0,"updateFail":0,"createSuccess":{3},"createFail":0,"compareAndSwapSuccess":0,"compareAndSwapFail":0,"compareAndDeleteSuccess":0,"compareAndDeleteFail":0,"expireCount":0,"watchers":0}},"CurrentVersion":2}})",
      z, children, events, n);
}

std::string RestoreSnapFile(const Membership& m) {
  const uint64_t n = m.members.size();
  std::string conf_state;  // raftpb.ConfState: voters (one tag each), auto_leave
  for (const auto& c : m.members) AppendVarintField(conf_state, 1, c.id);
  AppendVarintField(conf_state, 5, 0);
  std::string metadata;  // raftpb.SnapshotMetadata{conf_state, index N, term 1}
  AppendBytesField(metadata, 1, conf_state);
  AppendVarintField(metadata, 2, n);
  AppendVarintField(metadata, 3, 1);
  std::string snapshot;  // raftpb.Snapshot{data, metadata}
  AppendBytesField(snapshot, 1, V2StoreJson(m));
  AppendBytesField(snapshot, 2, metadata);
  std::string file;  // snappb.snapshot{crc, data}
  AppendVarintField(file, 1, Crc32c(0, snapshot));
  AppendBytesField(file, 2, snapshot);
  return file;
}

std::string RestoreSnapFileName(const Membership& m) {
  return fmt::format("{:016x}-{:016x}.snap", 1, m.members.size());
}

}  // namespace cpr::etcd
