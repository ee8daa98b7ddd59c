#include "k8s/node.h"

#include "k8s/value.h"
#include "k8s/value_internal.h"
#include "util/protowire.h"
#include "util/text.h"

namespace cpr::k8s {
namespace {

// NodeAddress {1 type, 2 address}.
bool ReadAddress(Bytes message, std::vector<std::pair<std::string, std::string>>& out) {
  std::string type, address;
  WireReader r(message);
  WireField f;
  while (r.Next(f)) {
    if (f.number != 1 && f.number != 2) continue;
    if (f.type != WireType::kLen || !IsValidUtf8(f.bytes)) return false;
    (f.number == 1 ? type : address).assign(f.bytes);
  }
  if (r.error()) return false;
  out.emplace_back(std::move(type), std::move(address));
  return true;
}

}  // namespace

std::optional<NodeAddresses> DecodeNode(Bytes value) {
  const Object meta = DescribeValue(value);
  if (meta.encoding != Object::Encoding::kProtobuf || meta.kind != "Node" || meta.name.empty())
    return std::nullopt;
  auto envelope = internal::ParseEnvelope(value);
  if (!envelope || !internal::RawIsProtobuf(*envelope)) return std::nullopt;
  NodeAddresses out;
  out.name = meta.name;
  WireReader r(envelope->raw);
  WireField f;
  while (r.Next(f)) {
    if (f.number != 3) continue;
    if (f.type != WireType::kLen) return std::nullopt;
    WireReader status(f.bytes);
    WireField s;
    while (status.Next(s))
      if (s.number == 5 && (s.type != WireType::kLen || !ReadAddress(s.bytes, out.addresses)))
        return std::nullopt;
    if (status.error()) return std::nullopt;
  }
  if (r.error()) return std::nullopt;
  return out;
}

std::string EncodeNode(const NodeAddresses& node, const std::string& uid) {
  std::string meta, status, raw, type_meta, unknown;
  AppendBytesField(meta, 1, node.name);
  AppendBytesField(meta, 5, uid);
  for (const auto& [type, address] : node.addresses) {
    std::string a;
    AppendBytesField(a, 1, type);
    AppendBytesField(a, 2, address);
    AppendBytesField(status, 5, a);
  }
  AppendBytesField(raw, 1, meta);
  AppendBytesField(raw, 2, "");
  AppendBytesField(raw, 3, status);
  AppendBytesField(type_meta, 1, "v1");
  AppendBytesField(type_meta, 2, "Node");
  AppendBytesField(unknown, 1, type_meta);
  AppendBytesField(unknown, 2, raw);
  AppendBytesField(unknown, 3, "");
  AppendBytesField(unknown, 4, "");
  return std::string("k8s\0", 4) + unknown;
}

}  // namespace cpr::k8s
