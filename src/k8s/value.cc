// DescribeValue: recognises the stored encodings (k8s-values.md §1) and
// decodes the envelope and ObjectMeta of protobuf values (§2, §3.1) and the
// metadata of JSON ones (§4). Malformed input falls through to text/binary.
#include "k8s/value.h"

#include "k8s/text.h"
#include "k8s/value_internal.h"
#include "util/protowire.h"

namespace cpr::k8s {

namespace internal {

std::optional<Envelope> ParseEnvelope(Bytes value) {
  if (!value.starts_with(kProtobufMagic)) return std::nullopt;
  Envelope e;
  bool seen[5] = {};
  WireReader r(value.substr(kProtobufMagic.size()));
  WireField f;
  while (r.Next(f)) {
    if (f.number < 1 || f.number > 4) continue;  // unknown fields are skipped
    if (f.type != WireType::kLen) return std::nullopt;
    seen[f.number] = true;
    switch (f.number) {
      case 1: {  // typeMeta {1 apiVersion, 2 kind}
        WireReader t(f.bytes);
        WireField tf;
        while (t.Next(tf)) {
          if (tf.number != 1 && tf.number != 2) continue;
          if (tf.type != WireType::kLen) return std::nullopt;
          (tf.number == 1 ? e.api_version : e.kind) = tf.bytes;
        }
        if (t.error()) return std::nullopt;
        break;
      }
      case 2:
        e.raw = f.bytes;
        break;
      case 3:
        e.content_encoding = f.bytes;
        break;
      case 4:
        e.content_type = f.bytes;
        break;
    }
  }
  if (r.error() || !seen[1] || !seen[2] || !seen[3] || !seen[4]) return std::nullopt;
  return e;
}

bool RawIsProtobuf(const Envelope& envelope) {
  return envelope.content_encoding.empty() &&
         (envelope.content_type.empty() ||
          envelope.content_type == "application/vnd.kubernetes.protobuf");
}

std::optional<Bytes> FindObjectMeta(Bytes raw) {
  Bytes meta;
  WireReader r(raw);
  WireField f;
  while (r.Next(f)) {
    if (f.number != 1) continue;
    if (f.type != WireType::kLen) return std::nullopt;
    meta = f.bytes;
  }
  if (r.error()) return std::nullopt;
  return meta;
}

bool DecodeTime(Bytes message, std::string* out) {
  constexpr int64_t kGoZeroTime = -62135596800;  // 0001-01-01T00:00:00Z
  std::optional<int64_t> seconds;
  WireReader r(message);
  WireField f;
  while (r.Next(f)) {
    if (f.number > 2) continue;
    if (f.type != WireType::kVarint) return false;
    // Field 2, nanos, is always 0 since 2017 and JSON drops it anyway (§3.2).
    if (f.number == 1) seconds = static_cast<int64_t>(f.varint);
  }
  if (r.error()) return false;
  if (out != nullptr) *out = (!seconds || *seconds == kGoZeroTime) ? "" : FormatRfc3339(*seconds);
  return true;
}

std::optional<nlohmann::ordered_json> ParseJsonObject(Bytes value) {
  constexpr int kMaxDepth = 512;
  if (value.empty() || value[0] != '{') return std::nullopt;
  // Nesting depth, counted outside strings, before nlohmann sees the bytes.
  int depth = 0;
  bool in_string = false, escaped = false;
  for (char c : value) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      if (++depth > kMaxDepth) return std::nullopt;
    } else if (c == '}' || c == ']') {
      --depth;
    }
  }
  try {
    auto doc = nlohmann::ordered_json::parse(value.begin(), value.end(), nullptr,
                                             /*allow_exceptions=*/false);
    if (!doc.is_object()) return std::nullopt;  // also rejects a discarded (failed) parse
    return doc;
  } catch (const nlohmann::ordered_json::exception&) {
    return std::nullopt;
  }
}

}  // namespace internal

namespace {

using internal::Envelope;

// Reads a length-delimited field as a string (into `out` unless null: the
// field is then only checked). false on the wrong wire type.
bool ReadString(const WireField& f, std::string* out) {
  if (f.type != WireType::kLen) return false;
  if (out != nullptr) *out = ToValidUtf8(f.bytes);
  return true;
}

// A map<string,string> entry {1 key, 2 value} (§3.1, labels and annotations),
// appended to `out` unless null.
bool ReadMapEntry(Bytes entry, std::vector<std::pair<std::string, std::string>>* out) {
  std::string key, value;
  WireReader r(entry);
  WireField f;
  while (r.Next(f)) {
    if (f.number == 1 && !ReadString(f, out ? &key : nullptr)) return false;
    if (f.number == 2 && !ReadString(f, out ? &value : nullptr)) return false;
  }
  if (r.error()) return false;
  if (out != nullptr) out->emplace_back(std::move(key), std::move(value));
  return true;
}

// OwnerReference {1 kind, 3 name, 4 uid, 5 apiVersion, 6 controller} (§3.1),
// appended to `out` unless null.
bool ReadOwnerRef(Bytes message, std::vector<OwnerRef>* out) {
  OwnerRef o;
  WireReader r(message);
  WireField f;
  while (r.Next(f)) {
    bool ok = true;
    switch (f.number) {
      case 1:
        ok = ReadString(f, out ? &o.kind : nullptr);
        break;
      case 3:
        ok = ReadString(f, out ? &o.name : nullptr);
        break;
      case 4:
        ok = ReadString(f, out ? &o.uid : nullptr);
        break;
      case 5:
        ok = ReadString(f, out ? &o.api_version : nullptr);
        break;
      case 6:
        ok = f.type == WireType::kVarint;
        o.controller = f.varint != 0;
        break;
    }
    if (!ok) return false;
  }
  if (r.error()) return false;
  if (out != nullptr) out->push_back(std::move(o));
  return true;
}

// One ObjectMeta field into `o`. false when a known field has the wrong
// wire type or a malformed sub-message. `identity`: only name and
// namespace are kept, the other fields only checked (DescribeIdentity).
bool ReadMetaField(const WireField& f, Object& o, bool identity) {
  std::string scratch;
  auto keep = [&](std::string& field) { return identity ? nullptr : &field; };
  switch (f.number) {
    case 1:
      return ReadString(f, &o.name);
    case 2:
      return ReadString(f, keep(o.generate_name));
    case 3:
      return ReadString(f, &o.namespace_);
    case 5:
      return ReadString(f, keep(o.uid));
    case 6:
      return ReadString(f, keep(o.resource_version));
    case 7:
      o.generation = static_cast<int64_t>(f.varint);
      return f.type == WireType::kVarint;
    case 8:
      return f.type == WireType::kLen && internal::DecodeTime(f.bytes, keep(o.creation_timestamp));
    case 9:
      return f.type == WireType::kLen && internal::DecodeTime(f.bytes, keep(o.deletion_timestamp));
    case 11:
      return f.type == WireType::kLen && ReadMapEntry(f.bytes, identity ? nullptr : &o.labels);
    case 12:
      return f.type == WireType::kLen && ReadMapEntry(f.bytes, identity ? nullptr : &o.annotations);
    case 13:
      return f.type == WireType::kLen &&
             ReadOwnerRef(f.bytes, identity ? nullptr : &o.owner_references);
    case 14: {
      if (!ReadString(f, keep(scratch))) return false;
      if (!identity) o.finalizers.push_back(std::move(scratch));
      return true;
    }
    default:  // selfLink, managedFields, ...
      return true;
  }
}

bool DecodeObjectMeta(Bytes meta, Object& o, bool identity) {
  WireReader r(meta);
  WireField f;
  while (r.Next(f)) {
    if (!ReadMetaField(f, o, identity)) return false;
  }
  return !r.error();
}

// §2 and §3: a `k8s\0` value. nullopt when anything is malformed.
std::optional<Object> DescribeProtobuf(Bytes value, bool identity) {
  std::optional<Envelope> e = internal::ParseEnvelope(value);
  if (!e) return std::nullopt;
  Object o;
  o.encoding = Object::Encoding::kProtobuf;
  o.api_version = ToValidUtf8(e->api_version);
  o.kind = ToValidUtf8(e->kind);
  if (!internal::RawIsProtobuf(*e)) return o;  // never written by the API server
  std::optional<Bytes> meta = internal::FindObjectMeta(e->raw);
  if (!meta || !DecodeObjectMeta(*meta, o, identity)) return std::nullopt;
  return o;
}

// Cuts the next ':'-terminated token of 1..max_len bytes off the front of `rest`.
std::optional<Bytes> TakeToken(Bytes& rest, size_t max_len) {
  size_t colon = rest.substr(0, max_len + 1).find(':');
  if (colon == Bytes::npos || colon == 0) return std::nullopt;
  Bytes token = rest.substr(0, colon);
  rest.remove_prefix(colon + 1);
  return token;
}

bool AllOf(Bytes s, bool (*pred)(char)) {
  for (char c : s) {
    if (!pred(c)) return false;
  }
  return true;
}

// §5: "k8s:enc:<provider>:<version>:<key name>:" + ciphertext.
std::optional<Object> DescribeEncrypted(Bytes value) {
  Bytes rest = value.substr(internal::kEncryptedPrefix.size());
  std::optional<Bytes> provider = TakeToken(rest, 32);
  std::optional<Bytes> version = TakeToken(rest, 8);
  std::optional<Bytes> key = TakeToken(rest, 256);
  if (!provider || !version || !key) return std::nullopt;
  auto lower_or_digit = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  auto digit = [](char c) { return c >= '0' && c <= '9'; };
  auto printable = [](char c) { return static_cast<uint8_t>(c) >= 0x20 && c != 0x7f; };
  if (!AllOf(*provider, lower_or_digit) || version->size() < 2 || (*version)[0] != 'v' ||
      !AllOf(version->substr(1), digit) || !AllOf(*key, printable) || !IsValidUtf8(*key)) {
    return std::nullopt;
  }
  Object o;
  o.encoding = Object::Encoding::kEncrypted;
  o.encryption_provider = std::string(*provider);
  if (*version != "v1") o.encryption_provider += *version;  // kms v2: "kmsv2"
  o.encryption_key_name = std::string(*key);
  return o;
}

std::string StringAt(const nlohmann::ordered_json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::vector<std::pair<std::string, std::string>> PairsAt(const nlohmann::ordered_json& j,
                                                         const char* key) {
  std::vector<std::pair<std::string, std::string>> out;
  auto it = j.find(key);
  if (it == j.end() || !it->is_object()) return out;
  for (const auto& [k, v] : it->items()) {
    if (v.is_string()) out.emplace_back(k, v.get<std::string>());
  }
  return out;
}

std::vector<OwnerRef> OwnerRefsAt(const nlohmann::ordered_json& j) {
  std::vector<OwnerRef> out;
  auto it = j.find("ownerReferences");
  if (it == j.end() || !it->is_array()) return out;
  for (const auto& ref : *it) {
    if (!ref.is_object()) continue;
    auto controller = ref.find("controller");
    out.push_back(
        OwnerRef{StringAt(ref, "apiVersion"), StringAt(ref, "kind"), StringAt(ref, "name"),
                 StringAt(ref, "uid"),
                 controller != ref.end() && controller->is_boolean() && controller->get<bool>()});
  }
  return out;
}

// §4: a JSON object; metadata as the API server's JSON writes it.
Object DescribeJson(const nlohmann::ordered_json& doc) {
  Object o;
  o.encoding = Object::Encoding::kJson;
  o.api_version = StringAt(doc, "apiVersion");
  o.kind = StringAt(doc, "kind");
  auto m = doc.find("metadata");
  if (m == doc.end() || !m->is_object()) return o;
  o.name = StringAt(*m, "name");
  o.generate_name = StringAt(*m, "generateName");
  o.namespace_ = StringAt(*m, "namespace");
  o.uid = StringAt(*m, "uid");
  o.creation_timestamp = StringAt(*m, "creationTimestamp");
  o.deletion_timestamp = StringAt(*m, "deletionTimestamp");
  o.labels = PairsAt(*m, "labels");
  o.annotations = PairsAt(*m, "annotations");
  o.owner_references = OwnerRefsAt(*m);
  if (auto g = m->find("generation"); g != m->end() && g->is_number_integer()) {
    o.generation = g->get<int64_t>();
  }
  if (auto fin = m->find("finalizers"); fin != m->end() && fin->is_array()) {
    for (const auto& s : *fin) {
      if (s.is_string()) o.finalizers.push_back(s.get<std::string>());
    }
  }
  return o;
}

// Not a recognised encoding: text if readable, else binary. A value with the
// `k8s\0` magic that did not parse is always binary (it is a broken object).
Object Unrecognised(Bytes value) {
  Object o;
  bool text = !value.starts_with(internal::kProtobufMagic) && IsReadableText(value);
  o.encoding = text ? Object::Encoding::kText : Object::Encoding::kBinary;
  return o;
}

}  // namespace

const char* EncodingName(Object::Encoding encoding) {
  switch (encoding) {
    case Object::Encoding::kProtobuf:
      return "protobuf";
    case Object::Encoding::kJson:
      return "json";
    case Object::Encoding::kEncrypted:
      return "encrypted";
    case Object::Encoding::kText:
      return "text";
    case Object::Encoding::kBinary:
      return "binary";
  }
  return "binary";
}

Object DescribeValue(Bytes value) { return internal::Describe(value, /*identity=*/false); }

namespace internal {

Object Describe(Bytes value, bool identity) {
  if (value.starts_with(internal::kProtobufMagic)) {
    if (auto o = DescribeProtobuf(value, identity)) return std::move(*o);
  } else if (value.starts_with(internal::kEncryptedPrefix)) {
    if (auto o = DescribeEncrypted(value)) return std::move(*o);
  } else if (auto doc = internal::ParseJsonObject(value)) {
    return DescribeJson(*doc);
  }
  return Unrecognised(value);
}

}  // namespace internal
}  // namespace cpr::k8s
