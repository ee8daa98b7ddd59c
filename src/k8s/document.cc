// ObjectJson and ValueDocument: a decoded value as JSON, for `-w json|yaml`.
//
// Metadata is written in the order and with the omissions of the API server's
// own JSON (Go's ObjectMeta struct, k8s-values.md §3.1); resourceVersion comes
// from the etcd record (§3.3). The rest of a protobuf object has no schema
// here, so it is decoded generically, the way `protoc --decode_raw` does:
// field numbers as keys, a repeated field as an array, and a length-delimited
// field shown as text when it is plainly text, else as a nested message when
// it parses as one, else as {"bytes": "<base64>"}. That guess can be wrong
// (§9 warns about decode_raw's); it never loses bytes.
#include <cstdint>
#include <optional>
#include <string>

#include "k8s/text.h"
#include "k8s/value.h"
#include "k8s/value_internal.h"
#include "util/protowire.h"

namespace cpr::k8s {

namespace {

using Json = nlohmann::ordered_json;

constexpr int kMaxGenericDepth = 32;

// ObjectMeta fields that Object does not carry, for ValueDocument (§3.1).
struct MetaExtras {
  std::string self_link, cluster_name;
  std::optional<int64_t> deletion_grace_period_seconds;
  Json managed_fields = Json::array();
  Json unknown = Json::object();  // fields this decoder has no name for
};

// Appends `v` under `key`; a second value for the same key (a repeated
// field) turns the entry into an array. Decoded values are never arrays
// themselves, so an array always means "repeated".
void AddField(Json& obj, const std::string& key, Json v) {
  auto it = obj.find(key);
  if (it == obj.end()) {
    obj[key] = std::move(v);
    return;
  }
  if (!it->is_array()) {
    Json first = std::move(*it);
    *it = Json::array();
    it->push_back(std::move(first));
  }
  it->push_back(std::move(v));
}

bool IsPlainText(Bytes b) {  // no control characters at all, not even '\n'
  for (char c : b) {
    if (static_cast<uint8_t>(c) < 0x20 || c == 0x7f) return false;
  }
  return IsValidUtf8(b);
}

bool ParsesAsMessage(Bytes b) {
  if (b.empty()) return false;
  WireReader r(b);
  WireField f;
  while (r.Next(f)) {
  }
  return !r.error();
}

Json GenericMessage(Bytes message, int depth);

Json GenericValue(const WireField& f, int depth) {
  switch (f.type) {
    case WireType::kVarint:
    case WireType::kFixed64:
      // Negative int32/int64 are 10-byte two's complement varints (§3.4).
      if (f.varint >> 63) return static_cast<int64_t>(f.varint);
      return f.varint;
    case WireType::kFixed32:
      return static_cast<uint32_t>(f.varint);
    case WireType::kLen:
      break;
  }
  if (IsPlainText(f.bytes)) return std::string(f.bytes);
  if (depth < kMaxGenericDepth && ParsesAsMessage(f.bytes)) {
    return GenericMessage(f.bytes, depth + 1);
  }
  if (IsValidUtf8(f.bytes)) return std::string(f.bytes);
  return Json{{"bytes", Base64Encode(f.bytes)}};
}

// REQUIRES: `message` parses (ParsesAsMessage); a malformed tail is dropped.
Json GenericMessage(Bytes message, int depth) {
  Json out = Json::object();
  WireReader r(message);
  WireField f;
  while (r.Next(f)) AddField(out, std::to_string(f.number), GenericValue(f, depth));
  return out;
}

std::string TimeOrEmpty(Bytes message) {
  std::string t;
  return internal::DecodeTime(message, &t) ? t : std::string();
}

// ManagedFieldsEntry {1 manager, 2 operation, 3 apiVersion, 4 time,
// 6 fieldsType, 7 fieldsV1 {1 raw JSON}, 8 subresource} (§3.1), in Go's
// JSON order.
Json ManagedFieldsEntry(Bytes message) {
  Json out = Json::object();
  WireReader r(message);
  WireField f;
  Json unknown = Json::object();
  while (r.Next(f)) {
    if (f.type != WireType::kLen) {
      AddField(unknown, std::to_string(f.number), GenericValue(f, 1));
      continue;
    }
    switch (f.number) {
      case 1:
        out["manager"] = ToValidUtf8(f.bytes);
        break;
      case 2:
        out["operation"] = ToValidUtf8(f.bytes);
        break;
      case 3:
        out["apiVersion"] = ToValidUtf8(f.bytes);
        break;
      case 4:
        out["time"] = TimeOrEmpty(f.bytes);
        break;
      case 6:
        out["fieldsType"] = ToValidUtf8(f.bytes);
        break;
      case 7: {
        WireReader v1(f.bytes);
        WireField raw;
        while (v1.Next(raw)) {
          if (raw.number != 1 || raw.type != WireType::kLen) continue;
          auto doc = internal::ParseJsonObject(raw.bytes);
          out["fieldsV1"] = doc ? std::move(*doc) : Json(ToValidUtf8(raw.bytes));
        }
        break;
      }
      case 8:
        if (!f.bytes.empty()) out["subresource"] = ToValidUtf8(f.bytes);
        break;
      default:
        AddField(unknown, std::to_string(f.number), GenericValue(f, 1));
    }
  }
  for (auto& [k, v] : unknown.items()) out[k] = std::move(v);
  return out;
}

// Records one ObjectMeta field that Object does not carry. false when the
// field has no name here or an unexpected wire type.
bool ReadExtra(const WireField& f, MetaExtras& x) {
  bool len = f.type == WireType::kLen;
  switch (f.number) {
    case 4:  // selfLink: written before 1.8 only (§3.3)
      if (len) x.self_link = ToValidUtf8(f.bytes);
      return len;
    case 10:  // deletionGracePeriodSeconds
      if (f.type == WireType::kVarint) {
        x.deletion_grace_period_seconds = static_cast<int64_t>(f.varint);
      }
      return f.type == WireType::kVarint;
    case 15:  // clusterName: always "" through 1.24
      if (len) x.cluster_name = ToValidUtf8(f.bytes);
      return len;
    case 17:  // managedFields
      if (len) x.managed_fields.push_back(ManagedFieldsEntry(f.bytes));
      return len;
    default:
      return false;
  }
}

MetaExtras ReadMetaExtras(Bytes meta) {
  // Fields DescribeValue puts in Object; 6, resourceVersion, is stored empty
  // and replaced by mod_revision (§3.3).
  auto in_object = [](uint32_t n) { return (n >= 1 && n <= 9 && n != 4) || (n >= 11 && n <= 14); };
  MetaExtras x;
  WireReader r(meta);
  WireField f;
  while (r.Next(f)) {
    if (in_object(f.number) || ReadExtra(f, x)) continue;
    AddField(x.unknown, std::to_string(f.number), GenericValue(f, 1));
  }
  return x;
}

Json Pairs(const std::vector<std::pair<std::string, std::string>>& pairs) {
  Json out = Json::object();
  for (const auto& [k, v] : pairs) out[k] = v;
  return out;
}

Json OwnerRefsJson(const std::vector<OwnerRef>& refs) {
  Json out = Json::array();
  for (const OwnerRef& r : refs) {
    Json j = {{"apiVersion", r.api_version}, {"kind", r.kind}, {"name", r.name}, {"uid", r.uid}};
    if (r.controller) j["controller"] = true;
    out.push_back(std::move(j));
  }
  return out;
}

// ObjectMeta in Go's field order, empty fields omitted (omitempty) except
// creationTimestamp, which Go writes as null when zero.
Json MetadataJson(const Object& o, int64_t mod_revision, const MetaExtras* x) {
  Json m = Json::object();
  if (!o.name.empty()) m["name"] = o.name;
  if (!o.generate_name.empty()) m["generateName"] = o.generate_name;
  if (!o.namespace_.empty()) m["namespace"] = o.namespace_;
  if (x && !x->self_link.empty()) m["selfLink"] = x->self_link;
  if (!o.uid.empty()) m["uid"] = o.uid;
  if (mod_revision > 0) m["resourceVersion"] = std::to_string(mod_revision);
  if (o.generation != 0) m["generation"] = o.generation;
  m["creationTimestamp"] = o.creation_timestamp.empty() ? Json() : Json(o.creation_timestamp);
  if (!o.deletion_timestamp.empty()) m["deletionTimestamp"] = o.deletion_timestamp;
  if (x && x->deletion_grace_period_seconds) {
    m["deletionGracePeriodSeconds"] = *x->deletion_grace_period_seconds;
  }
  if (!o.labels.empty()) m["labels"] = Pairs(o.labels);
  if (!o.annotations.empty()) m["annotations"] = Pairs(o.annotations);
  if (!o.owner_references.empty()) m["ownerReferences"] = OwnerRefsJson(o.owner_references);
  if (!o.finalizers.empty()) m["finalizers"] = o.finalizers;
  if (x && !x->cluster_name.empty()) m["clusterName"] = x->cluster_name;
  if (x && !x->managed_fields.empty()) m["managedFields"] = x->managed_fields;
  if (x) {
    for (const auto& [k, v] : x->unknown.items()) m[k] = v;
  }
  return m;
}

Json TypedObject(const Object& o, int64_t mod_revision, const MetaExtras* x) {
  Json j = Json::object();
  if (!o.api_version.empty()) j["apiVersion"] = o.api_version;
  if (!o.kind.empty()) j["kind"] = o.kind;
  j["metadata"] = MetadataJson(o, mod_revision, x);
  return j;
}

// §2–§3: metadata decoded by name, the object's other fields generically.
Json ProtobufDocument(Bytes value, const Object& o, int64_t mod_revision) {
  std::optional<internal::Envelope> e = internal::ParseEnvelope(value);
  if (!e || !internal::RawIsProtobuf(*e)) {
    Json j = TypedObject(o, mod_revision, nullptr);
    if (e) {
      j["contentEncoding"] = ToValidUtf8(e->content_encoding);
      j["contentType"] = ToValidUtf8(e->content_type);
      j["raw"] = Base64Encode(e->raw);
    }
    return j;
  }
  std::optional<Bytes> meta = internal::FindObjectMeta(e->raw);
  MetaExtras extras = ReadMetaExtras(meta.value_or(Bytes()));
  Json j = TypedObject(o, mod_revision, &extras);
  WireReader r(e->raw);
  WireField f;
  while (r.Next(f)) {
    if (f.number != 1) AddField(j, std::to_string(f.number), GenericValue(f, 0));
  }
  return j;
}

// §4: the stored document itself, with resourceVersion filled in.
Json JsonDocument(Bytes value, int64_t mod_revision) {
  std::optional<Json> doc = internal::ParseJsonObject(value);
  if (!doc) return Json::object();  // DescribeValue parsed it: not reached
  auto m = doc->find("metadata");
  if (mod_revision > 0 && m != doc->end() && m->is_object()) {
    (*m)["resourceVersion"] = std::to_string(mod_revision);
  }
  return std::move(*doc);
}

}  // namespace

nlohmann::ordered_json ObjectJson(const Object& o, int64_t mod_revision) {
  switch (o.encoding) {
    case Object::Encoding::kProtobuf:
    case Object::Encoding::kJson:
      return TypedObject(o, mod_revision, nullptr);
    case Object::Encoding::kEncrypted: {
      Json enc = {{"provider", o.encryption_provider}, {"keyName", o.encryption_key_name}};
      return Json{{"encrypted", std::move(enc)}};
    }
    case Object::Encoding::kText:
    case Object::Encoding::kBinary:
      break;
  }
  return Json{{"encoding", EncodingName(o.encoding)}};
}

nlohmann::ordered_json ValueDocument(Bytes value, int64_t mod_revision) {
  Object o = DescribeValue(value);
  switch (o.encoding) {
    case Object::Encoding::kProtobuf:
      return ProtobufDocument(value, o, mod_revision);
    case Object::Encoding::kJson:
      return JsonDocument(value, mod_revision);
    case Object::Encoding::kEncrypted:
      return ObjectJson(o, mod_revision);
    case Object::Encoding::kText:
      return std::string(value);
    case Object::Encoding::kBinary:
      break;
  }
  return Base64Encode(value);
}

}  // namespace cpr::k8s
