// Text helpers for output and messages: base64, printable keys, sizes.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "util/bytes.h"

namespace cpr {

// Standard alphabet, padded (what etcdctl -w json prints for bytes).
std::string Base64Encode(Bytes data);
std::optional<std::string> Base64Decode(std::string_view text);

// True when every byte is printable ASCII (0x20..0x7e).
bool IsPrintableAscii(Bytes data);
// The bytes as text when printable, else "0x" + hex; for messages.
std::string Printable(Bytes data);

// go-humanize Bytes (SI units), as etcdctl's status table prints sizes:
// 20480 -> "20 kB", 1050 -> "1.1 kB" (etcd-formats.md §4.2).
std::string HumanizeBytes(uint64_t n);

// True when the bytes are valid UTF-8.
bool IsValidUtf8(Bytes data);

}  // namespace cpr
