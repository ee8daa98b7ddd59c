#include "cli/live_output.h"

#include <fmt/format.h>

#include <ostream>

#include "util/text.h"

namespace cpr::cli {

Json HeaderJson(const client::Header& h) {
  Json j = Json::object();
  if (h.cluster_id) j["cluster_id"] = h.cluster_id;
  if (h.member_id) j["member_id"] = h.member_id;
  if (h.revision) j["revision"] = h.revision;
  if (h.raft_term) j["raft_term"] = h.raft_term;
  return j;
}

Json MemberJson(const client::Member& m) {
  Json j = Json::object();
  if (m.id) j["ID"] = m.id;
  if (!m.name.empty()) j["name"] = m.name;
  if (!m.peer_urls.empty()) j["peerURLs"] = m.peer_urls;
  if (!m.client_urls.empty()) j["clientURLs"] = m.client_urls;
  if (m.is_learner) j["isLearner"] = true;
  return j;
}

Json MembersJson(const client::Header& h, const std::vector<client::Member>& members) {
  Json j = Json::object();
  j["header"] = HeaderJson(h);
  if (!members.empty()) {
    Json list = Json::array();
    for (const auto& m : members) list.push_back(MemberJson(m));
    j["members"] = list;
  }
  return j;
}

Json KeyValueJson(const client::KeyValue& kv) {
  Json j = Json::object();
  if (!kv.key.empty()) j["key"] = Base64Encode(kv.key);
  if (kv.create_revision) j["create_revision"] = kv.create_revision;
  if (kv.mod_revision) j["mod_revision"] = kv.mod_revision;
  if (kv.version) j["version"] = kv.version;
  if (!kv.value.empty()) j["value"] = Base64Encode(kv.value);
  if (kv.lease) j["lease"] = kv.lease;
  return j;
}

Json RangeJson(const client::RangeResponse& r) {
  Json j = Json::object();
  j["header"] = HeaderJson(r.header);
  if (!r.kvs.empty()) {
    Json kvs = Json::array();
    for (const auto& kv : r.kvs) kvs.push_back(KeyValueJson(kv));
    j["kvs"] = kvs;
  }
  if (r.more) j["more"] = true;
  if (r.count) j["count"] = r.count;
  return j;
}

Json PutJson(const client::PutResponse& r) {
  Json j = Json::object();
  j["header"] = HeaderJson(r.header);
  if (r.prev_kv) j["prev_kv"] = KeyValueJson(*r.prev_kv);
  return j;
}

Json DeleteRangeJson(const client::DeleteRangeResponse& r) {
  Json j = Json::object();
  j["header"] = HeaderJson(r.header);
  if (r.deleted) j["deleted"] = r.deleted;
  if (!r.prev_kvs.empty()) {
    Json kvs = Json::array();
    for (const auto& kv : r.prev_kvs) kvs.push_back(KeyValueJson(kv));
    j["prev_kvs"] = kvs;
  }
  return j;
}

Json TxnJson(const client::TxnResponse& r) {
  Json j = Json::object();
  j["header"] = HeaderJson(r.header);
  if (r.succeeded) j["succeeded"] = true;
  if (!r.responses.empty()) {
    Json list = Json::array();
    for (const auto& op : r.responses) {
      // Go's encoding of a gogoproto oneof (no json tag): {"Response":{"ResponsePut":{...}}}
      Json inner = Json::object();
      if (const auto* g = std::get_if<client::RangeResponse>(&op))
        inner["ResponseRange"] = RangeJson(*g);
      if (const auto* p = std::get_if<client::PutResponse>(&op)) inner["ResponsePut"] = PutJson(*p);
      if (const auto* d = std::get_if<client::DeleteRangeResponse>(&op))
        inner["ResponseDeleteRange"] = DeleteRangeJson(*d);
      list.push_back(Json{{"Response", inner}});
    }
    j["responses"] = list;
  }
  return j;
}

Json StatusJson(const client::StatusResponse& s) {
  Json j = Json::object();
  j["header"] = HeaderJson(s.header);
  if (!s.version.empty()) j["version"] = s.version;
  if (s.db_size) j["dbSize"] = s.db_size;
  if (s.leader) j["leader"] = s.leader;
  if (s.raft_index) j["raftIndex"] = s.raft_index;
  if (s.raft_term) j["raftTerm"] = s.raft_term;
  if (s.raft_applied_index) j["raftAppliedIndex"] = s.raft_applied_index;
  if (!s.errors.empty()) j["errors"] = s.errors;
  if (s.db_size_in_use) j["dbSizeInUse"] = s.db_size_in_use;
  if (s.is_learner) j["isLearner"] = true;
  return j;
}

Json HashKVJson(const client::HashKVResponse& h) {
  Json j = Json::object();
  j["header"] = HeaderJson(h.header);
  if (h.hash) j["hash"] = h.hash;
  if (h.compact_revision) j["compact_revision"] = h.compact_revision;
  return j;
}

Json AlarmJson(const client::AlarmResponse& a) {
  Json j = Json::object();
  if (a.header) j["header"] = HeaderJson(*a.header);
  if (!a.alarms.empty()) {
    Json list = Json::array();
    for (const auto& m : a.alarms) {
      Json e = Json::object();
      if (m.member_id) e["memberID"] = m.member_id;
      if (m.alarm != client::AlarmType::kNone) e["alarm"] = static_cast<int>(m.alarm);
      list.push_back(e);
    }
    j["alarms"] = list;
  }
  return j;
}

std::string Hex(uint64_t id) { return fmt::format("{:x}", id); }
std::string Hex16(uint64_t id) { return fmt::format("{:>16x}", id); }

std::vector<std::string> MemberListHeader() {
  return {"ID", "STATUS", "NAME", "PEER ADDRS", "CLIENT ADDRS", "IS LEARNER"};
}

std::vector<std::string> MemberListRow(const client::Member& m) {
  return {Hex(m.id),
          m.name.empty() ? "unstarted" : "started",
          m.name,
          JoinList(m.peer_urls, ","),
          JoinList(m.client_urls, ","),
          m.is_learner ? "true" : "false"};
}

void PrintRows(std::ostream& out, bool simple, const std::vector<std::string>& header,
               const std::vector<std::vector<std::string>>& rows) {
  if (simple) {
    for (const auto& row : rows) out << JoinList(row, ", ") << '\n';
    return;
  }
  Table t(header, Table::Align::kEtcdctl);
  for (const auto& row : rows) t.Add(row);
  t.Print(out);
}

std::string KvText(const std::string& bytes, bool hex) {
  if (!hex) return bytes;
  std::string out;
  for (unsigned char c : bytes) out += fmt::format("\\x{:02x}", c);
  return out;
}

void PrintKvSimple(std::ostream& out, const client::KeyValue& kv, bool hex) {
  out << KvText(kv.key, hex) << '\n' << KvText(kv.value, hex) << '\n';
}

}  // namespace cpr::cli
