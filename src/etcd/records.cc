#include "etcd/records.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "util/protowire.h"

namespace cpr::etcd {
namespace {

Error Malformed(const char* message, size_t offset) {
  return MakeError(Code::kCorrupt, "", fmt::format("malformed {} at byte {}", message, offset));
}

}  // namespace

Result<KeyValue> DecodeKeyValue(Bytes data) {
  KeyValue kv;
  WireReader r(data);
  WireField f;
  while (r.Next(f)) {
    const auto v = static_cast<int64_t>(f.varint);
    switch (f.number) {
      case 1:
        kv.key = f.bytes;
        break;
      case 2:
        kv.create_revision = v;
        break;
      case 3:
        kv.mod_revision = v;
        break;
      case 4:
        kv.version = v;
        break;
      case 5:
        kv.value = f.bytes;
        break;
      case 6:
        kv.lease = v;
        break;
      default:
        break;
    }
    const bool len_field = f.number == 1 || f.number == 5;
    if (f.number <= 6 && len_field != (f.type == WireType::kLen))
      return MakeError(Code::kCorrupt, "",
                       fmt::format("KeyValue field {} has the wrong wire type", f.number));
  }
  if (r.error()) return Malformed("KeyValue protobuf", r.offset());
  return kv;
}

std::optional<Bytes> KeyValueUserKey(Bytes data) {
  // Fast path: etcd writes field 1 (tag 0x0a) first.
  ByteReader in(data);
  auto tag = in.U8();
  if (!tag || *tag != 0x0a) {
    auto kv = DecodeKeyValue(data);
    if (!kv) return std::nullopt;
    return kv->key;
  }
  auto n = in.Uvarint();
  if (!n) return std::nullopt;
  return in.Take(*n);
}

Result<Lease> DecodeLease(Bytes data) {
  Lease lease;
  WireReader r(data);
  WireField f;
  while (r.Next(f)) {
    if (f.type != WireType::kVarint) continue;
    if (f.number == 1) lease.id = static_cast<int64_t>(f.varint);
    if (f.number == 2) lease.ttl = static_cast<int64_t>(f.varint);
    if (f.number == 3) lease.remaining_ttl = static_cast<int64_t>(f.varint);
  }
  if (r.error()) return Malformed("Lease protobuf", r.offset());
  return lease;
}

std::string Alarm::TypeName() const {
  switch (type) {
    case 0:
      return "NONE";
    case 1:
      return "NOSPACE";
    case 2:
      return "CORRUPT";
    default:
      return fmt::format("ALARM({})", type);
  }
}

Result<Alarm> DecodeAlarm(Bytes data) {
  Alarm alarm;
  WireReader r(data);
  WireField f;
  while (r.Next(f)) {
    if (f.type != WireType::kVarint) continue;
    if (f.number == 1) alarm.member_id = f.varint;
    if (f.number == 2) alarm.type = static_cast<int>(f.varint);
  }
  if (r.error()) return Malformed("AlarmMember protobuf", r.offset());
  return alarm;
}

Result<Member> DecodeMember(Bytes json) {
  auto doc = nlohmann::json::parse(json.begin(), json.end(), nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object())
    return MakeError(Code::kCorrupt, "", "member record is not a JSON object");
  Member m;
  try {
    if (!doc.contains("id") || !doc["id"].is_number_unsigned())
      return MakeError(Code::kCorrupt, "", "member record has no numeric id");
    m.id = doc["id"].get<uint64_t>();
    if (doc.contains("name")) m.name = doc["name"].get<std::string>();
    if (doc.contains("peerURLs")) m.peer_urls = doc["peerURLs"].get<std::vector<std::string>>();
    if (doc.contains("clientURLs"))
      m.client_urls = doc["clientURLs"].get<std::vector<std::string>>();
    if (doc.contains("isLearner")) m.is_learner = doc["isLearner"].get<bool>();
  } catch (const nlohmann::json::exception& e) {
    return MakeError(Code::kCorrupt, "", std::string("member record: ") + e.what());
  }
  return m;
}

Result<std::string> DecodeAuthName(Bytes data) {
  WireReader r(data);
  WireField f;
  std::string name;
  while (r.Next(f))
    if (f.number == 1 && f.type == WireType::kLen) name = std::string(f.bytes);
  if (r.error()) return Malformed("auth protobuf", r.offset());
  return name;
}

std::string MemberIdHex(uint64_t id) { return fmt::format("{:x}", id); }

}  // namespace cpr::etcd
