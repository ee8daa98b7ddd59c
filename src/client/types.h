// Plain C++ copies of the etcd v3 API messages CPR uses (etcd 3.4
// etcdserverpb / mvccpb; field meanings as in etcd's rpc.proto). No gRPC or
// protobuf type appears here, so layers above client/ never see them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace cpr::client {

// etcdserverpb.ResponseHeader.
struct Header {
  uint64_t cluster_id = 0;
  uint64_t member_id = 0;
  int64_t revision = 0;
  uint64_t raft_term = 0;
};

// mvccpb.KeyValue.
struct KeyValue {
  std::string key;
  int64_t create_revision = 0;
  int64_t mod_revision = 0;
  int64_t version = 0;
  std::string value;
  int64_t lease = 0;
};

// ---- KV --------------------------------------------------------------------

// The range end of every key starting with `prefix` (clientv3's
// GetPrefixRangeEnd): the prefix with its last byte below 0xff raised by one
// and what follows it dropped; "\0" (every key) when all its bytes are 0xff.
inline std::string PrefixEnd(std::string_view prefix) {
  std::string end(prefix);
  for (size_t i = end.size(); i-- > 0;) {
    if (static_cast<unsigned char>(end[i]) < 0xff) {
      end[i] = static_cast<char>(static_cast<unsigned char>(end[i]) + 1);
      end.resize(i + 1);
      return end;
    }
  }
  return std::string(1, '\0');
}

struct RangeRequest {
  std::string key;
  std::string range_end;  // "" one key; "\0" every key >= key; else [key, range_end)
  int64_t limit = 0;
  int64_t revision = 0;  // 0: latest
  bool serializable = false;
  bool keys_only = false;
  bool count_only = false;
  // etcd's RangeRequest.SortOrder and SortTarget (rpc.proto numbering).
  enum class SortOrder { kNone = 0, kAscend = 1, kDescend = 2 };
  enum class SortTarget { kKey = 0, kVersion = 1, kCreate = 2, kMod = 3, kValue = 4 };
  SortOrder sort_order = SortOrder::kNone;
  SortTarget sort_target = SortTarget::kKey;
};
struct RangeResponse {
  Header header;
  std::vector<KeyValue> kvs;
  bool more = false;
  int64_t count = 0;
};

struct PutRequest {
  std::string key, value;
  int64_t lease = 0;
  bool prev_kv = false;
};
struct PutResponse {
  Header header;
  std::optional<KeyValue> prev_kv;
};

struct DeleteRangeRequest {
  std::string key, range_end;
  bool prev_kv = false;
};
struct DeleteRangeResponse {
  Header header;
  int64_t deleted = 0;
  std::vector<KeyValue> prev_kvs;
};

// etcdserverpb.Compare. The operand type follows the target: VALUE compares
// bytes, the others an integer.
struct Compare {
  enum class Result { kEqual = 0, kGreater = 1, kLess = 2, kNotEqual = 3 };
  enum class Target { kVersion = 0, kCreate = 1, kMod = 2, kValue = 3, kLease = 4 };
  Result result = Result::kEqual;
  Target target = Target::kVersion;
  std::string key, range_end;
  int64_t number = 0;  // version/create/mod/lease
  std::string value;   // value
};
using RequestOp = std::variant<RangeRequest, PutRequest, DeleteRangeRequest>;
using ResponseOp = std::variant<RangeResponse, PutResponse, DeleteRangeResponse>;
struct TxnRequest {
  std::vector<Compare> compare;
  std::vector<RequestOp> success, failure;
};
struct TxnResponse {
  Header header;
  bool succeeded = false;
  std::vector<ResponseOp> responses;
};

// ---- Cluster ---------------------------------------------------------------

struct Member {
  uint64_t id = 0;
  std::string name;  // empty until the member has started
  std::vector<std::string> peer_urls, client_urls;
  bool is_learner = false;
};
// MemberList/Remove/Update/Promote responses.
struct MembersResponse {
  Header header;
  std::vector<Member> members;
};
struct MemberAddResponse {
  Header header;
  Member member;
  std::vector<Member> members;
};

// ---- Maintenance -----------------------------------------------------------

struct StatusResponse {
  Header header;
  std::string version;
  int64_t db_size = 0;
  uint64_t leader = 0;
  uint64_t raft_index = 0;
  uint64_t raft_term = 0;
  uint64_t raft_applied_index = 0;
  std::vector<std::string> errors;
  int64_t db_size_in_use = 0;
  bool is_learner = false;
};

struct HashKVResponse {
  Header header;
  uint32_t hash = 0;
  int64_t compact_revision = 0;
};

enum class AlarmType { kNone = 0, kNoSpace = 1, kCorrupt = 2 };
const char* AlarmTypeName(AlarmType type);  // "NONE", "NOSPACE", "CORRUPT"
struct AlarmMember {
  uint64_t member_id = 0;
  AlarmType alarm = AlarmType::kNone;
};
struct AlarmResponse {
  std::optional<Header> header;  // etcd 3.4 sends none for an empty list
  std::vector<AlarmMember> alarms;
};

}  // namespace cpr::client
