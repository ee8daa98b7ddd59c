// Small text helpers for rendering decoded Kubernetes values.
//
// Everything CPR prints about a value ends up in JSON or YAML, and
// nlohmann::json refuses to dump invalid UTF-8; these helpers decide what is
// text, make any bytes safe to print, and format protobuf timestamps the way
// the API server's JSON does (k8s-values.md §3.2). None of them fails.
#pragma once

#include <cstdint>
#include <string>

#include "util/bytes.h"

namespace cpr::k8s {

// True when `s` is well-formed UTF-8 (RFC 3629: no overlong forms, no
// surrogates, nothing above U+10FFFF).
bool IsValidUtf8(Bytes s);

// True when `s` is valid UTF-8 with no control characters other than tab,
// newline and carriage return: something a person can read as text.
bool IsReadableText(Bytes s);

// `s` with every byte that is not part of a well-formed UTF-8 sequence
// replaced by U+FFFD. Returns `s` unchanged when it is already valid.
std::string ToValidUtf8(Bytes s);

// Standard base64 (RFC 4648 §4, padded), as etcdctl prints keys and values.
std::string Base64(Bytes data);

// "2020-02-10T12:00:00Z" for Unix seconds, as metav1.Time marshals to JSON
// (whole seconds, UTC). Years outside 0000..9999, which RFC 3339 cannot
// express, come out as "unix:<seconds>".
std::string FormatRfc3339(int64_t unix_seconds);

}  // namespace cpr::k8s
