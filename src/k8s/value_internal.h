// Pieces of value decoding shared by value.cc (DescribeValue) and
// document.cc (ObjectJson, ValueDocument). Not part of the k8s layer's API.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>

#include "k8s/value.h"
#include "util/bytes.h"

namespace cpr::k8s::internal {

inline constexpr Bytes kProtobufMagic{"k8s\0", 4};    // k8s-values.md §2
inline constexpr Bytes kEncryptedPrefix{"k8s:enc:"};  // §5

// The runtime.Unknown message after the magic (§2). Views into the value.
struct Envelope {
  Bytes api_version, kind;  // TypeMeta (runtime's: 1 apiVersion, 2 kind)
  Bytes raw;                // the object's own protobuf
  Bytes content_encoding, content_type;
};

// Parses `value` (magic included). nullopt when the magic is missing, the
// message is malformed, or one of its four fields is absent: the serializer
// always writes all four (§2), so a value cut anywhere fails here.
std::optional<Envelope> ParseEnvelope(Bytes value);

// True when `raw` holds protobuf: no content encoding, and content type empty
// or application/vnd.kubernetes.protobuf (empty is what the API server writes).
bool RawIsProtobuf(const Envelope& envelope);

// Walks the object's protobuf (`raw`) and returns its field 1, ObjectMeta
// (§3); empty when there is no field 1. nullopt when raw is malformed.
std::optional<Bytes> FindObjectMeta(Bytes raw);

// Decodes metav1.Time / Timestamp {1 seconds, 2 nanos} (§3.2) as RFC 3339
// whole seconds, "" for the zero time (an empty message), into `out`
// unless it is null (only checked). false if malformed.
bool DecodeTime(Bytes message, std::string* out);

// Parses a JSON object (the first byte must be '{'), at most 512 levels deep
// so that rendering it cannot exhaust the stack. nullopt otherwise.
std::optional<nlohmann::ordered_json> ParseJsonObject(Bytes value);

// DescribeValue; `identity`: of a protobuf value's ObjectMeta only name and
// namespace are kept (the rest is checked, not copied): DescribeIdentity.
Object Describe(Bytes value, bool identity);

}  // namespace cpr::k8s::internal
