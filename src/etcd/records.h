// Decoders for the values etcd 3.4 stores in its buckets
// (etcd-formats.md §2.2-§2.7). Decoded views point into the input bytes.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "util/bytes.h"
#include "util/result.h"

namespace cpr::etcd {

// mvccpb.KeyValue (§2.2). Absent fields are zero/empty.
struct KeyValue {
  Bytes key;
  int64_t create_revision = 0;
  int64_t mod_revision = 0;
  int64_t version = 0;
  Bytes value;
  int64_t lease = 0;
};
Result<KeyValue> DecodeKeyValue(Bytes data);

// Only the user key of a KeyValue: field 1, which etcd writes first. Cheap
// enough for scanning every record of a large file. nullopt if malformed.
std::optional<Bytes> KeyValueUserKey(Bytes data);

// leasepb.Lease (§2.4).
struct Lease {
  int64_t id = 0;
  int64_t ttl = 0;
  int64_t remaining_ttl = 0;
};
Result<Lease> DecodeLease(Bytes data);

// etcdserverpb.AlarmMember (§2.7), the key of an `alarm` bucket entry.
struct Alarm {
  uint64_t member_id = 0;
  int type = 0;  // 0 NONE, 1 NOSPACE, 2 CORRUPT
  std::string TypeName() const;
};
Result<Alarm> DecodeAlarm(Bytes data);

// A member record from the `members` bucket (§2.5): Go JSON.
struct Member {
  uint64_t id = 0;
  std::string name;
  std::vector<std::string> peer_urls;
  std::vector<std::string> client_urls;
  bool is_learner = false;
};
Result<Member> DecodeMember(Bytes json);

// Names from authpb.User / authpb.Role (§2.6): field 1 of each.
Result<std::string> DecodeAuthName(Bytes data);

// Lowercase hex without leading zeros, as etcd names members (§2.5).
std::string MemberIdHex(uint64_t id);

}  // namespace cpr::etcd
