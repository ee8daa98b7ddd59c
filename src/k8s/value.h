// What a Kubernetes value stored in etcd says about itself.
//
// kube-apiserver stores built-in objects as `k8s\0` + protobuf, custom
// resources (and CRDs, APIServices) as JSON, and, with encryption at rest,
// `k8s:enc:<provider>:v1:<key>:` + ciphertext (docs: k8s-values.md §1). This
// layer tells them apart and decodes the envelope and ObjectMeta, without
// generated code and without knowing the rest of any schema.
//
// Promises: no function here fails, throws or reads out of bounds, whatever
// the bytes; anything not recognised is reported as text or binary. Every
// string in an Object is valid UTF-8 (bad bytes become U+FFFD), so the
// results can always be dumped as JSON.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "util/bytes.h"

namespace cpr::k8s {

struct OwnerRef {
  std::string api_version, kind, name, uid;
  bool controller = false;
};

// What a stored value says about itself (ObjectMeta, k8s-values.md §3.1).
struct Object {
  enum class Encoding {
    kProtobuf,   // `k8s\0` envelope around the object's protobuf (§2)
    kJson,       // a JSON object: custom resources, CRDs, APIServices (§4)
    kEncrypted,  // `k8s:enc:...` (§5); nothing but the provider and key is readable
    kText,       // anything else that is readable UTF-8 (e.g. compact_rev_key's revision)
    kBinary,     // anything else, including a `k8s\0` value that does not parse
  };
  Encoding encoding = Encoding::kBinary;
  std::string api_version, kind;  // empty when unknown (text/binary/encrypted)
  std::string name, namespace_, uid, generate_name;
  std::string resource_version;    // as stored (the API server stores it empty, §3.3)
  std::string creation_timestamp;  // RFC 3339 UTC "2020-02-10T12:00:00Z", empty if zero
  std::string deletion_timestamp;  // same, empty if unset
  std::vector<std::pair<std::string, std::string>> labels, annotations;  // in stored order
  std::vector<OwnerRef> owner_references;
  std::vector<std::string> finalizers;
  int64_t generation = 0;
  // kEncrypted only: the provider as in the prefix ("aescbc", "aesgcm",
  // "secretbox", "kms"; a version other than v1 is appended: "kmsv2"), and
  // the key (or KMS config) name, e.g. "key1".
  std::string encryption_provider, encryption_key_name;
};

// "protobuf", "json", "encrypted", "text" or "binary".
const char* EncodingName(Object::Encoding encoding);

// Decodes a value. Never fails: unknown or malformed input gives kText (when
// readable UTF-8, see IsReadableText) or kBinary. A `k8s\0` value whose
// envelope or ObjectMeta is malformed or truncated is kBinary.
Object DescribeValue(Bytes value);

// What listings print of a value: DescribeValue's encoding, api_version,
// kind, name, namespace_ and encryption fields, the rest left empty. The
// same answer, faster for JSON: a value in a plain subset of JSON (numbers
// without exponents, nothing deeper than 512) is scanned once for those
// fields instead of being built into a document (json_identity.cc).
Object DescribeIdentity(Bytes value);

// The object for `-w json` listings, shaped like the API server's JSON:
//   {"apiVersion","kind","metadata":{"name","generateName","namespace","uid",
//    "resourceVersion","generation","creationTimestamp","deletionTimestamp",
//    "labels","annotations","ownerReferences","finalizers"}}
// in that order, empty fields left out except creationTimestamp (null when
// zero, as Go writes it). resourceVersion is mod_revision as a string (the
// API server stores it empty, §3.3); left out when mod_revision <= 0.
// kEncrypted: {"encrypted":{"provider":..,"keyName":..}}.
// kText, kBinary: {"encoding":"text"} or {"encoding":"binary"}.
nlohmann::ordered_json ObjectJson(const Object& o, int64_t mod_revision);

// The whole value as a document for `get -w yaml|json`:
//   kJson: the stored JSON document, metadata.resourceVersion set from mod_revision;
//   kProtobuf: {"apiVersion","kind","metadata":{...}} with metadata as in
//     ObjectJson plus selfLink, deletionGracePeriodSeconds, clusterName (when
//     set) and managedFields; the object's other fields follow, decoded
//     generically with field numbers as keys (see document.cc);
//   kEncrypted: as ObjectJson;
//   kText: the value as a JSON string; kBinary: the value in base64, as a string.
nlohmann::ordered_json ValueDocument(Bytes value, int64_t mod_revision);

}  // namespace cpr::k8s
