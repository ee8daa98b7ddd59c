// Time formatting for decoded Kubernetes values: protobuf timestamps the way
// the API server's JSON prints them (k8s-values.md §3.2). Never fails.
#pragma once

#include <cstdint>
#include <string>

#include "util/text.h"  // UTF-8 and base64 helpers live there

namespace cpr::k8s {

// "2020-02-10T12:00:00Z" for Unix seconds, as metav1.Time marshals to JSON
// (whole seconds, UTC). Years outside 0000..9999, which RFC 3339 cannot
// express, come out as "unix:<seconds>".
std::string FormatRfc3339(int64_t unix_seconds);

}  // namespace cpr::k8s
