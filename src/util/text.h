// Text helpers for output and messages: base64, printable keys, sizes.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

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

// True when `s` is well-formed UTF-8 (RFC 3629: no overlong forms, no
// surrogates, nothing above U+10FFFF).
bool IsValidUtf8(Bytes s);

// True when `s` is valid UTF-8 with no control characters other than tab,
// newline and carriage return: something a person can read as text.
bool IsReadableText(Bytes s);

// `s` with every byte that is not part of a well-formed UTF-8 sequence
// replaced by U+FFFD (nlohmann::json refuses to dump invalid UTF-8).
std::string ToValidUtf8(Bytes s);

// `s` as one POSIX shell word: unchanged when it holds only characters no
// shell treats specially, else in single quotes ('it'\''s').
std::string ShellQuote(std::string_view s);

// "a,b,,c" split at `sep` -> {"a", "b", "c"} (empty pieces dropped), and
// back: the comma lists of flags and of journal facts.
std::vector<std::string> SplitList(std::string_view s, char sep = ',');
std::string JoinList(const std::vector<std::string>& items, std::string_view sep = ",");

// A decimal integer, strictly: an optional '-' then digits, nothing else (no
// spaces, no '+', no 0x); nullopt when malformed or outside int64.
std::optional<int64_t> ParseInt64(std::string_view s);

// The candidate nearest to a mistyped `word` (Levenshtein distance, ties to
// the first), or "" when none is within a third of the word's length (at
// least 1): what "did you mean" offers for an unknown command or flag.
std::string Nearest(std::string_view word, const std::vector<std::string>& candidates);

}  // namespace cpr
