// The Kubernetes protobuf encoding of a CertificateSigningRequest
// (k8s.io/api/certificates/v1 generated.proto; v1beta1 has the same field
// numbers), inside the `k8s\0` envelope (k8s-values.md §2). ObjectMeta comes
// from the k8s layer's decoder; spec and status are read here by field number.
//   CertificateSigningRequest {1 metadata, 2 spec, 3 status}
//   Spec   {1 request (bytes), 2 username, 3 uid, 4 groups*, 5 usages*,
//           6 extra (map), 7 signerName, 8 expirationSeconds (int32)}
//   Status {1 conditions*, 2 certificate (bytes)}
//   Condition {1 type, 2 reason, 3 message, 4 lastUpdateTime, 5 lastTransitionTime, 6 status}
#include <fmt/format.h>

#include "k8s/value.h"
#include "k8s/value_internal.h"  // the envelope and metav1.Time decoders
#include "recovery/codec.h"
#include "util/protowire.h"
#include "util/text.h"

namespace cpr::recovery {
namespace {

Error Bad(const std::string& where, const std::string& what = "malformed protobuf") {
  return MakeError(Code::kInvalidArgument, "protobuf body: " + where, what);
}

bool Text(const WireField& f, std::string& out) {
  if (f.type != WireType::kLen || !IsValidUtf8(f.bytes)) return false;
  out.assign(f.bytes);
  return true;
}

Result<Condition> DecodeCondition(Bytes message) {
  Condition c;
  WireReader r(message);
  WireField f;
  while (r.Next(f)) {
    bool ok = true;
    switch (f.number) {
      case 1:
        ok = Text(f, c.type);
        break;
      case 2:
        ok = Text(f, c.reason);
        break;
      case 3:
        ok = Text(f, c.message);
        break;
      case 4:
        ok = f.type == WireType::kLen && k8s::internal::DecodeTime(f.bytes, &c.last_update_time);
        break;
      case 5:
        ok =
            f.type == WireType::kLen && k8s::internal::DecodeTime(f.bytes, &c.last_transition_time);
        break;
      case 6:
        ok = Text(f, c.status);
        break;
    }
    if (!ok) return Bad(fmt::format("status.conditions field {}", f.number));
  }
  if (r.error()) return Bad("status.conditions");
  return c;
}

Result<void> DecodeSpec(Bytes message, Csr& c) {
  WireReader r(message);
  WireField f;
  while (r.Next(f)) {
    bool ok = true;
    std::string s;
    switch (f.number) {
      case 1:
        ok = f.type == WireType::kLen;
        c.request.assign(f.bytes);
        break;
      case 2:
        ok = Text(f, c.username);
        break;
      case 3:
        ok = Text(f, c.user_uid);
        break;
      case 4:
        ok = Text(f, s);
        c.groups.push_back(s);
        break;
      case 5:
        ok = Text(f, s);
        c.usages.push_back(s);
        break;
      case 7:
        ok = Text(f, c.signer_name);
        break;
      case 8:
        ok = f.type == WireType::kVarint;
        c.expiration_seconds = static_cast<int32_t>(f.varint);
        break;
      default:  // 6 extra: ignored (set from the caller on create)
        break;
    }
    if (!ok) return Bad(fmt::format("spec field {}", f.number));
  }
  if (r.error()) return Bad("spec");
  return {};
}

Result<void> DecodeStatus(Bytes message, Csr& c) {
  WireReader r(message);
  WireField f;
  while (r.Next(f)) {
    if (f.number == 1) {
      if (f.type != WireType::kLen) return Bad("status.conditions");
      c.conditions.push_back(CPR_TRY(DecodeCondition(f.bytes)));
    } else if (f.number == 2) {
      if (f.type != WireType::kLen) return Bad("status.certificate");
      c.certificate.assign(f.bytes);
    }
  }
  if (r.error()) return Bad("status");
  return {};
}

}  // namespace

Result<Csr> CsrFromProtobuf(Bytes body) {
  auto envelope = k8s::internal::ParseEnvelope(body);
  if (!envelope) return Bad("envelope", "not a `k8s\\0` protobuf envelope, or truncated");
  if (!k8s::internal::RawIsProtobuf(*envelope)) return Bad("envelope", "raw is not protobuf");
  if (envelope->kind != "CertificateSigningRequest")
    return Bad("envelope", fmt::format("kind is '{}', not CertificateSigningRequest",
                                       Printable(envelope->kind.substr(0, 64))));
  const k8s::Object meta = k8s::DescribeValue(body);
  if (meta.encoding != k8s::Object::Encoding::kProtobuf) return Bad("metadata");
  Csr c;
  c.name = meta.name;
  c.generate_name = meta.generate_name;
  c.uid = meta.uid;
  c.creation_timestamp = meta.creation_timestamp;
  for (const auto& [k, v] : meta.labels) c.labels[k] = v;
  for (const auto& [k, v] : meta.annotations) c.annotations[k] = v;
  if (!meta.resource_version.empty()) {
    auto n = ParseInt64(meta.resource_version);
    if (!n || *n < 0) return Bad("metadata.resourceVersion", "not a number");
    c.resource_version = *n;
    c.has_body_resource_version = true;
  }
  WireReader r(envelope->raw);
  WireField f;
  while (r.Next(f)) {
    if (f.number == 2) {
      if (f.type != WireType::kLen) return Bad("spec");
      CPR_RETURN_IF_ERROR(DecodeSpec(f.bytes, c));
    } else if (f.number == 3) {
      if (f.type != WireType::kLen) return Bad("status");
      CPR_RETURN_IF_ERROR(DecodeStatus(f.bytes, c));
    }
  }
  if (r.error()) return Bad("object");
  return c;
}

}  // namespace cpr::recovery
