// A minimal protobuf wire-format reader: walks the fields of one message.
//
// etcd's records (mvccpb.KeyValue, leasepb.Lease, authpb, walpb, raftpb) and
// Kubernetes' `k8s\0` envelope are protobuf; CPR decodes the few fields it
// needs by number, skipping the rest, without generated code (etcd-formats.md
// §2.8). Every read is bounded by the message's bytes.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "util/bytes.h"

namespace cpr {

enum class WireType : uint8_t { kVarint = 0, kFixed64 = 1, kLen = 2, kFixed32 = 5 };

struct WireField {
  uint32_t number = 0;
  WireType type = WireType::kVarint;
  uint64_t varint = 0;  // kVarint, kFixed64, kFixed32
  Bytes bytes;          // kLen
};

class WireReader {
 public:
  explicit WireReader(Bytes message) : in_(message) {}

  // Reads the next field. Returns false at the end of the message; sets
  // error() and returns false on malformed input (bad tag, truncated field,
  // group wire types, which etcd and Kubernetes never use).
  bool Next(WireField& f) {
    if (in_.done()) return false;
    auto tag = in_.Uvarint();
    if (!tag || (*tag >> 3) == 0 || (*tag >> 3) > 0x1fffffff) return Fail();
    f.number = static_cast<uint32_t>(*tag >> 3);
    switch (*tag & 7) {
      case 0: {
        auto v = in_.Uvarint();
        if (!v) return Fail();
        f.type = WireType::kVarint;
        f.varint = *v;
        return true;
      }
      case 1: {
        auto b = in_.Take(8);
        if (!b) return Fail();
        f.type = WireType::kFixed64;
        f.varint = LoadLe64(b->data());
        return true;
      }
      case 2: {
        auto n = in_.Uvarint();
        if (!n) return Fail();
        auto b = in_.Take(*n);
        if (!b) return Fail();
        f.type = WireType::kLen;
        f.bytes = *b;
        return true;
      }
      case 5: {
        auto b = in_.Take(4);
        if (!b) return Fail();
        f.type = WireType::kFixed32;
        f.varint = LoadLe32(b->data());
        return true;
      }
      default:
        return Fail();
    }
  }

  bool error() const { return error_; }
  size_t offset() const { return in_.offset(); }

 private:
  bool Fail() {
    error_ = true;
    return false;
  }
  ByteReader in_;
  bool error_ = false;
};

}  // namespace cpr

namespace cpr {

// Encoding, for the records CPR writes (WAL, .snap; etcd-formats.md §2.8):
// fields are appended in the order the caller gives, which must be ascending
// field number to match gogoproto's output byte for byte.
inline void AppendVarintField(std::string& out, uint32_t field, uint64_t v) {
  AppendUvarint(out, uint64_t{field} << 3);
  AppendUvarint(out, v);
}

inline void AppendBytesField(std::string& out, uint32_t field, Bytes b) {
  AppendUvarint(out, (uint64_t{field} << 3) | 2);
  AppendUvarint(out, b.size());
  out.append(b);
}

}  // namespace cpr
